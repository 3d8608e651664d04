/*
 * The pure part of plugins/acl: CONFIG, the rules file, the permissions claim, and the decision
 * for one (subject, kind, name). No I/O but acl_configure() reading the rules file, no host
 * calls: tests/unit/test_acl.c drives it directly.
 *
 * A rules file has one rule per line, `EFFECT WHO WHAT PATTERN`:
 *   EFFECT   allow | deny
 *   WHO      *                   every socket
 *            anonymous           a socket without a user
 *            authenticated       a socket with a user
 *            user:<id>           that user ('*' wildcards allowed in <id>)
 *            claim:<name>=<value> a socket whose claim <name> (top level) is <value>, or is an
 *                                array holding it ('*' wildcards allowed in <value>); numbers
 *                                and booleans compare as their JSON text
 *   WHAT     event | namespace | room
 *   PATTERN  the event name, the namespace ("/admin") or the room; '*' matches any run of
 *            characters, including none
 * Blank lines and lines starting with '#' are ignored. For each check the first rule whose
 * WHO and PATTERN match decides; then the permissions claim (if configured) may allow; then the
 * default decides.
 */
#ifndef SB_PLUGIN_ACL_H
#define SB_PLUGIN_ACL_H

#include <stdbool.h>

#include "../common/glob.h"
#include <stddef.h>

#include <jansson.h>
#include <switchboard/errors.h>

#define ACL_MAX_FILE    (1024u * 1024) /* bytes of a rules file */
#define ACL_MAX_MESSAGE 200            /* bytes of a custom refusal message */

enum acl_effect { ACL_DENY = 0, ACL_ALLOW = 1 };
enum acl_kind { ACL_EVENT = 0, ACL_NAMESPACE = 1, ACL_ROOM = 2 };
enum acl_who { ACL_WHO_ANY, ACL_WHO_ANONYMOUS, ACL_WHO_AUTHENTICATED, ACL_WHO_USER, ACL_WHO_CLAIM };
enum acl_by { ACL_BY_RULE, ACL_BY_CLAIM, ACL_BY_DEFAULT };

struct acl_rule {
    enum acl_effect effect;
    enum acl_who who;
    char *name;  /* owned: the user id pattern, or the claim name; NULL otherwise */
    char *value; /* owned: the claim value pattern; NULL otherwise */
    enum acl_kind kind;
    char *pattern; /* owned */
    unsigned line; /* in the rules file */
};

struct acl {
    struct acl_rule *rules; /* owned, in file order */
    size_t n, cap;
    enum acl_effect dflt; /* when nothing matched; ACL_DENY unless default=allow */
    char *rules_path;     /* owned: the rules file, NULL when none */
    char *claim;          /* owned: the claim holding permissions, NULL when none */
    char *message;        /* owned: what a refused client gets ("forbidden") */
};

/* Who is asking. Both borrowed; `user` NULL for an anonymous socket, `claims` NULL or an
 * object. */
struct acl_subject {
    const char *user;
    const json_t *claims;
};

struct acl_verdict {
    enum acl_effect effect;
    enum acl_by by;
    unsigned line; /* the deciding rule's line (ACL_BY_RULE), else 0 */
};

void acl_init(struct acl *acl);
void acl_free(struct acl *acl);

/*
 * Parses CONFIG into `acl` (options only: it does not read the rules file). CONFIG is either a
 * path (no '=' in it), or items `rules=<path>`, `claims=<claim name>`, `default=allow|deny`,
 * `message=<text>` separated by ','. At least one of rules= and claims= is required. Returns 0
 * or SB_EINVAL / SB_ENOMEM with a one-line reason in `err`.
 */
int acl_options_parse(struct acl *acl, const char *config, char *err, size_t errlen);

/*
 * Appends the rules of a rules file whose content is `text` (`len` bytes); `name` (borrowed)
 * names it in error messages. Returns 0 or SB_EINVAL ("<name>:<line>: <reason>") / SB_ENOMEM.
 */
int acl_rules_parse(struct acl *acl, const char *text, size_t len, const char *name, char *err,
                    size_t errlen);

/* acl_options_parse(), then reads and parses the rules file if there is one. */
int acl_configure(struct acl *acl, const char *config, char *err, size_t errlen);

/* The decision for `subject` using `name` as a `kind` (an event name, a namespace, a room). */
struct acl_verdict acl_check(const struct acl *acl, const struct acl_subject *subject,
                             enum acl_kind kind, const char *name);

/* True when a decision may depend on the socket's claims (claim: rules or claims=). */
bool acl_uses_claims(const struct acl *acl);
/* True when a room can be refused at all (a deny room rule, or default=deny): when false
 * neither an event's arguments nor a join need checking. */
bool acl_checks_rooms(const struct acl *acl);

/* The room an event's arguments name: the first argument's "room" member when it is a string.
 * `args` is the arguments array (borrowed); so is `*room`. Returns 1 (a room), 0 (none: `*room`
 * is NULL) or SB_EINVAL (a string holding "\u0000", which must be refused). */
int acl_room_of(const json_t *args, const char **room);

const char *acl_kind_name(enum acl_kind kind);

#endif
