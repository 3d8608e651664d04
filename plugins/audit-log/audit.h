/*
 * The pure part of plugins/audit-log: CONFIG, the event filter and the formatting of one line.
 * No I/O and no clock (the caller passes the time): tests/unit/test_audit_log.c drives it.
 */
#ifndef SB_PLUGIN_AUDIT_H
#define SB_PLUGIN_AUDIT_H

#include <stdbool.h>

#include "../common/glob.h"
#include <stddef.h>
#include <stdint.h>

#include <switchboard/errors.h>

struct audit_opts {
    char *file;    /* owned: the log file; NULL writes to stderr */
    char **events; /* owned: event name patterns ('*' wildcards); none = every event */
    size_t nevents;
    bool data;    /* include the arguments (default false: they may hold personal data) */
    bool replies; /* also one line per reply a handler returns (default false) */
};

/*
 * Parses CONFIG: items separated by ',': `stderr`, `file=<path>`, `events=a|b`,
 * `data=true|false`, `replies=true|false`. NULL or "" means stderr and the defaults. Returns 0 or
 * SB_EINVAL / SB_ENOMEM with a one-line reason in `err` (what was parsed is freed).
 */
int audit_opts_parse(struct audit_opts *o, const char *config, char *err, size_t errlen);
void audit_opts_free(struct audit_opts *o);
/* True when `event` is to be logged. */
bool audit_wants(const struct audit_opts *o, const char *event);

/* One line. Strings are borrowed; NULL gateway / user are written as null. */
struct audit_entry {
    int64_t ts_ms;       /* wall clock, milliseconds since the Unix epoch */
    const char *type;    /* "event" or "reply" */
    const char *gateway; /* the handler's gateway, NULL for an event without handler */
    const char *nsp;
    const char *socket;
    const char *user; /* NULL for an anonymous socket */
    const char *event;
    const char *reply; /* the reply's event name (type "reply"), else NULL: omitted */
    const char *args;  /* a JSON array text, written as is; NULL: omitted */
};

/* Writes `ts_ms` as ISO 8601 UTC with milliseconds, "2024-05-01T12:34:56.789Z", into `out`
 * (at least 32 bytes). Returns 0, or SB_EINVAL for a time gmtime cannot represent. */
int audit_format_ts(int64_t ts_ms, char *out, size_t size);

/*
 * Formats one JSON object, keys in the order of struct audit_entry, followed by '\n'. Every
 * string is escaped by jansson; a string that is not valid UTF-8 has its bytes >= 0x80 written as
 * '?'. Returns a new string (free() it) and its length in `*len`, or NULL when out of memory.
 */
char *audit_format(const struct audit_entry *e, size_t *len);

#endif
