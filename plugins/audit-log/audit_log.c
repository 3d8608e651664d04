/*
 * audit-log: one JSON line per event (and optionally per reply) to a file or to stderr.
 *
 * CONFIG (docs/plugins/audit-log.md): `stderr` (the default) or `file=<path>`, `events=a|b`,
 * `data=true|false` (default false), `replies=true|false` (default false). A line names the
 * gateway, namespace, socket, user (null when anonymous) and event; the arguments only with
 * data=true. No token ever reaches a plugin's event hooks, so none can be logged.
 *
 * Each line is one write(2) on a descriptor opened with O_APPEND: lines of several processes
 * appending to the same file do not interleave, and nothing waits in a buffer if the server
 * dies. The pure part (CONFIG, formatting) is audit.c.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <switchboard/plugin.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    struct audit_opts opts;
    int fd;       /* the log; STDERR_FILENO when opts.file is NULL */
    bool failing; /* the last write failed: said once, said again when it works again */
};

static int audit_init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                      char *err, size_t errlen)
{
    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, event_gateway))
        return sb_init_error(err, errlen, SB_EABI,
                             "needs a host with plugin ABI 1.1 (event_gateway); this one speaks "
                             "%u.%u",
                             (unsigned)api->abi_major, (unsigned)api->abi_minor);
    struct state *st = calloc(1, sizeof(*st));
    if (!st)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    st->api = api;
    st->host = host;
    st->fd = STDERR_FILENO;
    int rc = audit_opts_parse(&st->opts, config, err, errlen);
    if (rc < 0) {
        free(st);
        return rc;
    }
    if (st->opts.file) {
        /* 0600: the lines name users and, with data=true, carry what they sent. */
        st->fd = open(st->opts.file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (st->fd < 0) {
            rc = sb_init_error(err, errlen, SB_EIO, "%s: cannot open: %s", st->opts.file,
                               strerror(errno));
            audit_opts_free(&st->opts);
            free(st);
            return rc;
        }
    }
    api->log_msg(host, SB_LOG_INFO, "writing to %s%s%s", st->opts.file ? st->opts.file : "stderr",
                 st->opts.data ? ", with data" : "", st->opts.replies ? ", with replies" : "");
    *state = st;
    return 0;
}

static void audit_fini(void *state)
{
    struct state *st = state;
    if (!st)
        return;
    if (st->opts.file && st->fd >= 0)
        close(st->fd);
    audit_opts_free(&st->opts);
    free(st);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_line(struct state *st, const struct audit_entry *e)
{
    size_t len = 0;
    char *line = audit_format(e, &len);
    if (!line) {
        st->api->log_msg(st->host, SB_LOG_ERROR, "out of memory: event '%.64s' not audited",
                         e->event);
        return;
    }
    size_t done = 0;
    int saved = 0;
    while (done < len) {
        ssize_t n = write(st->fd, line + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            saved = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    free(line);
    if (done < len && !st->failing) {
        st->failing = true;
        st->api->log_msg(st->host, SB_LOG_ERROR, "cannot write to %s: %s; lines are lost",
                         st->opts.file ? st->opts.file : "stderr", strerror(saved));
    } else if (done == len && st->failing) {
        st->failing = false;
        st->api->log_msg(st->host, SB_LOG_WARN, "writing to %s again",
                         st->opts.file ? st->opts.file : "stderr");
    }
}

static sb_verdict_t audit_before_event(void *state, sb_event_t *ev)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    const char *event = api->event_name(ev);
    if (!event || !audit_wants(&st->opts, event))
        return SB_CONTINUE;
    sb_socket_t *sock = api->event_socket(ev);
    struct audit_entry e = {
        .ts_ms = wall_ms(),
        .type = "event",
        .gateway = api->event_gateway(ev),
        .nsp = api->socket_nsp(sock),
        .socket = api->socket_id(sock),
        .user = api->socket_user(sock),
        .event = event,
        .args = st->opts.data ? api->event_args(ev) : NULL,
    };
    write_line(st, &e);
    return SB_CONTINUE;
}

static sb_verdict_t audit_after_reply(void *state, sb_event_t *ev, sb_reply_t *reply)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    const char *event = api->event_name(ev);
    if (!st->opts.replies || !event || !audit_wants(&st->opts, event))
        return SB_CONTINUE;
    sb_socket_t *sock = api->event_socket(ev);
    struct audit_entry e = {
        .ts_ms = wall_ms(),
        .type = "reply",
        .gateway = api->event_gateway(ev),
        .nsp = api->socket_nsp(sock),
        .socket = api->socket_id(sock),
        .user = api->socket_user(sock),
        .event = event,
        .reply = api->reply_event(reply),
        .args = st->opts.data ? api->reply_args(reply) : NULL,
    };
    write_line(st, &e);
    return SB_CONTINUE;
}

/* After rate-limit (10), so that a flood is not written to disk; before acl (30), so that
 * attempts acl refuses are recorded too. */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "audit-log",
    .version = SB_VERSION,
    .init = audit_init,
    .fini = audit_fini,
    .intercept_priority = 20,
    .before_event = audit_before_event,
    .after_reply = audit_after_reply,
};
