#include "acl.h"

#include <switchboard/plugin.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MESSAGE "forbidden"

static const char *const kind_names[] = {"event", "namespace", "room"};

const char *acl_kind_name(enum acl_kind kind)
{
    return kind <= ACL_ROOM ? kind_names[kind] : "?";
}

void acl_init(struct acl *acl)
{
    memset(acl, 0, sizeof(*acl));
    acl->dflt = ACL_DENY;
}

void acl_free(struct acl *acl)
{
    for (size_t i = 0; i < acl->n; i++) {
        free(acl->rules[i].name);
        free(acl->rules[i].value);
        free(acl->rules[i].pattern);
    }
    free(acl->rules);
    free(acl->rules_path);
    free(acl->claim);
    free(acl->message);
    acl_init(acl);
}

/* ---- CONFIG ---- */

#define ACL_KEYS "(keys: rules, claims, default, message)"

/* Appends the list of keys to the message the splitter or sb_cfg_unknown wrote. */
static int with_keys(char *err, size_t errlen)
{
    if (err && errlen) {
        size_t n = strlen(err);
        if (n < errlen)
            snprintf(err + n, errlen - n, " " ACL_KEYS);
    }
    return SB_EINVAL;
}

static int copy_value(char **dst, const char *value, char *err, size_t errlen)
{
    if (!(*dst = strdup(value)))
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    return 0;
}

struct acl_seen {
    bool rules, claims, message, dflt;
};

static int parse_option(struct acl *acl, const struct sb_cfg *c, const struct sb_cfg_pair *p,
                        struct acl_seen *seen, char *err, size_t errlen)
{
    static const char *const defaults[] = {"allow", "deny", NULL};
    if (strcmp(p->key, "rules") == 0) {
        if (sb_cfg_once(c, p->key, &seen->rules, err, errlen))
            return SB_EINVAL;
        return copy_value(&acl->rules_path, p->value, err, errlen);
    }
    if (strcmp(p->key, "claims") == 0) {
        if (sb_cfg_once(c, p->key, &seen->claims, err, errlen))
            return SB_EINVAL;
        return copy_value(&acl->claim, p->value, err, errlen);
    }
    if (strcmp(p->key, "message") == 0) {
        if (sb_cfg_once(c, p->key, &seen->message, err, errlen))
            return SB_EINVAL;
        if (strlen(p->value) > ACL_MAX_MESSAGE)
            return sb_init_error(err, errlen, SB_EINVAL, "message is longer than %d bytes",
                                 ACL_MAX_MESSAGE);
        for (const char *s = p->value; *s; s++)
            if ((unsigned char)*s < 0x20 || *s == 0x7f)
                return sb_init_error(err, errlen, SB_EINVAL, "message has a control character");
        return copy_value(&acl->message, p->value, err, errlen);
    }
    if (strcmp(p->key, "default") == 0) {
        unsigned effect = 0;
        if (sb_cfg_once(c, p->key, &seen->dflt, err, errlen) ||
            sb_cfg_enum(c, p->key, p->value, defaults, &effect, err, errlen))
            return SB_EINVAL;
        acl->dflt = effect == 0 ? ACL_ALLOW : ACL_DENY;
        return 0;
    }
    sb_cfg_unknown(c, p->key, err, errlen);
    return with_keys(err, errlen);
}

int acl_options_parse(struct acl *acl, const char *config, char *err, size_t errlen)
{
    if (!config || !*config)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "CONFIG is required: the path of a rules file, or "
                             "rules=<path>,claims=<claim>,default=allow|deny,message=<text>");
    int rc = 0;
    if (!strchr(config, '=')) {
        rc = copy_value(&acl->rules_path, config, err, errlen);
    } else {
        struct sb_cfg c;
        struct sb_cfg_pair p;
        struct acl_seen seen = {0};
        int more = 0;
        if (sb_cfg_begin(&c, "acl", config, err, errlen) != 0)
            return SB_ENOMEM;
        while (rc == 0 && (more = sb_cfg_next(&c, &p, err, errlen)) == 1)
            rc = parse_option(acl, &c, &p, &seen, err, errlen);
        sb_cfg_end(&c);
        if (rc == 0 && more < 0)
            rc = with_keys(err, errlen);
        if (rc == 0 && !acl->rules_path && !acl->claim)
            rc = sb_init_error(err, errlen, SB_EINVAL,
                               "give rules=<path>, claims=<claim name>, or both");
    }
    if (rc == 0 && !acl->message && !(acl->message = strdup(DEFAULT_MESSAGE)))
        rc = sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    return rc;
}

/* ---- the rules file ---- */

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a line into at most five fields (the fifth only to notice it exists). */
static size_t fields(const char *s, size_t len, const char *start[5], size_t flen[5])
{
    size_t n = 0, i = 0;
    while (n < 5) {
        while (i < len && blank(s[i]))
            i++;
        if (i == len)
            break;
        start[n] = s + i;
        while (i < len && !blank(s[i]))
            i++;
        flen[n] = (size_t)(s + i - start[n]);
        n++;
    }
    return n;
}

static bool field_is(const char *f, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(f, word, len) == 0;
}

static bool has_prefix(const char *f, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(f, prefix, n) == 0;
}

#define RULE_SYNTAX "expected: allow|deny WHO WHAT PATTERN"

static int parse_who(struct acl_rule *r, const char *f, size_t len, const char *name, unsigned line,
                     char *err, size_t errlen)
{
    if (field_is(f, len, "*")) {
        r->who = ACL_WHO_ANY;
    } else if (field_is(f, len, "anonymous")) {
        r->who = ACL_WHO_ANONYMOUS;
    } else if (field_is(f, len, "authenticated")) {
        r->who = ACL_WHO_AUTHENTICATED;
    } else if (has_prefix(f, len, "user:")) {
        if (len == 5)
            return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: user: needs a user id", name,
                                 line);
        r->who = ACL_WHO_USER;
        if (!(r->name = strndup(f + 5, len - 5)))
            return SB_ENOMEM;
    } else if (has_prefix(f, len, "claim:")) {
        const char *eq = memchr(f, '=', len);
        if (!eq || eq == f + 6)
            return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: expected claim:<name>=<value>",
                                 name, line);
        r->who = ACL_WHO_CLAIM;
        if (!(r->name = strndup(f + 6, (size_t)(eq - f - 6))) ||
            !(r->value = strndup(eq + 1, len - (size_t)(eq + 1 - f))))
            return SB_ENOMEM;
    } else {
        return sb_init_error(err, errlen, SB_EINVAL,
                             "%s:%u: WHO must be *, anonymous, authenticated, user:<id> or "
                             "claim:<name>=<value>",
                             name, line);
    }
    return 0;
}

static int add_rule(struct acl *acl, struct acl_rule *r)
{
    if (acl->n == acl->cap) {
        size_t cap = acl->cap ? acl->cap * 2 : 16;
        struct acl_rule *rules = realloc(acl->rules, cap * sizeof(*rules));
        if (!rules)
            return SB_ENOMEM;
        acl->rules = rules;
        acl->cap = cap;
    }
    acl->rules[acl->n++] = *r;
    return 0;
}

static int parse_line(struct acl *acl, const char *s, size_t len, const char *name, unsigned line,
                      char *err, size_t errlen)
{
    const char *f[5];
    size_t flen[5];
    if (len > 0 && s[len - 1] == '\r')
        len--;
    size_t lead = 0;
    while (lead < len && blank(s[lead]))
        lead++;
    if (lead == len || s[lead] == '#')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f || c == 0)
            return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: control character", name, line);
    }
    size_t n = fields(s, len, f, flen);
    if (n != 4)
        return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: %s fields (" RULE_SYNTAX ")", name,
                             line, n < 4 ? "missing" : "too many");

    struct acl_rule r = {.line = line};
    int rc = 0;
    if (field_is(f[0], flen[0], "allow"))
        r.effect = ACL_ALLOW;
    else if (field_is(f[0], flen[0], "deny"))
        r.effect = ACL_DENY;
    else
        return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: the first field must be allow or deny",
                             name, line);
    if (field_is(f[2], flen[2], "event"))
        r.kind = ACL_EVENT;
    else if (field_is(f[2], flen[2], "namespace"))
        r.kind = ACL_NAMESPACE;
    else if (field_is(f[2], flen[2], "room"))
        r.kind = ACL_ROOM;
    else
        return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: WHAT must be event, namespace or room",
                             name, line);
    if ((rc = parse_who(&r, f[1], flen[1], name, line, err, errlen)) == 0 &&
        !(r.pattern = strndup(f[3], flen[3])))
        rc = SB_ENOMEM;
    if (rc == 0)
        rc = add_rule(acl, &r);
    if (rc < 0) {
        free(r.name);
        free(r.value);
        free(r.pattern);
        if (rc == SB_ENOMEM)
            return sb_init_error(err, errlen, rc, "%s:%u: out of memory", name, line);
    }
    return rc;
}

int acl_rules_parse(struct acl *acl, const char *text, size_t len, const char *name, char *err,
                    size_t errlen)
{
    unsigned line = 1;
    for (size_t i = 0; i < len; line++) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        int rc = parse_line(acl, text + i, end - i, name, line, err, errlen);
        if (rc < 0)
            return rc;
        i = end + 1;
    }
    return 0;
}

static int load_file(struct acl *acl, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_init_error(err, errlen, SB_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *text = malloc(ACL_MAX_FILE + 1);
    if (!text) {
        fclose(f);
        return sb_init_error(err, errlen, SB_ENOMEM, "%s: out of memory", path);
    }
    size_t len = fread(text, 1, ACL_MAX_FILE + 1, f);
    int bad = ferror(f), saved = errno;
    fclose(f);
    int rc;
    if (bad)
        rc = sb_init_error(err, errlen, SB_EIO, "%s: cannot read: %s", path, strerror(saved));
    else if (len > ACL_MAX_FILE)
        rc = sb_init_error(err, errlen, SB_ETOOBIG, "%s: larger than %u bytes", path, ACL_MAX_FILE);
    else
        rc = acl_rules_parse(acl, text, len, path, err, errlen);
    free(text);
    return rc;
}

int acl_configure(struct acl *acl, const char *config, char *err, size_t errlen)
{
    int rc = acl_options_parse(acl, config, err, errlen);
    if (rc == 0 && acl->rules_path)
        rc = load_file(acl, acl->rules_path, err, errlen);
    return rc;
}

/* ---- decisions ---- */

/* A claim value against a pattern: strings as they are, numbers and booleans as JSON text. */
static bool scalar_matches(const json_t *v, const char *pattern)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return glob_match(pattern, json_string_value(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return glob_match(pattern, buf);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        return glob_match(pattern, buf);
    case JSON_TRUE:
        return glob_match(pattern, "true");
    case JSON_FALSE:
        return glob_match(pattern, "false");
    default:
        return false;
    }
}

static bool claim_matches(const json_t *claims, const char *name, const char *pattern)
{
    const json_t *v = json_is_object(claims) ? json_object_get(claims, name) : NULL;
    if (!v)
        return false;
    if (!json_is_array(v))
        return scalar_matches(v, pattern);
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        if (scalar_matches(item, pattern))
            return true;
    }
    return false;
}

static bool who_matches(const struct acl_rule *r, const struct acl_subject *s)
{
    switch (r->who) {
    case ACL_WHO_ANY:
        return true;
    case ACL_WHO_ANONYMOUS:
        return !s->user;
    case ACL_WHO_AUTHENTICATED:
        return s->user != NULL;
    case ACL_WHO_USER:
        return s->user && glob_match(r->name, s->user);
    default: /* ACL_WHO_CLAIM */
        return claim_matches(s->claims, r->name, r->value);
    }
}

/* One permission "kind:pattern" (of a claim) against a request. */
static bool grant_matches(const char *grant, size_t len, enum acl_kind kind, const char *name)
{
    const char *k = kind_names[kind];
    size_t klen = strlen(k);
    if (len <= klen || memcmp(grant, k, klen) != 0 || grant[klen] != ':')
        return false;
    char pattern[512];
    if (len - klen - 1 >= sizeof(pattern))
        return false;
    memcpy(pattern, grant + klen + 1, len - klen - 1);
    pattern[len - klen - 1] = '\0';
    return glob_match(pattern, name);
}

/* A string of grants separated by spaces (an OAuth "scope") or one grant. */
static bool grants_match(const char *s, enum acl_kind kind, const char *name)
{
    while (*s) {
        while (*s == ' ')
            s++;
        size_t len = strcspn(s, " ");
        if (len && grant_matches(s, len, kind, name))
            return true;
        s += len;
    }
    return false;
}

static bool claim_grants(const struct acl *acl, const json_t *claims, enum acl_kind kind,
                         const char *name)
{
    const json_t *v =
        acl->claim && json_is_object(claims) ? json_object_get(claims, acl->claim) : NULL;
    if (json_is_string(v))
        return grants_match(json_string_value(v), kind, name);
    if (!json_is_array(v))
        return false;
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        if (json_is_string(item) && grants_match(json_string_value(item), kind, name))
            return true;
    }
    return false;
}

struct acl_verdict acl_check(const struct acl *acl, const struct acl_subject *subject,
                             enum acl_kind kind, const char *name)
{
    for (size_t i = 0; i < acl->n; i++) {
        const struct acl_rule *r = &acl->rules[i];
        if (r->kind == kind && glob_match(r->pattern, name) && who_matches(r, subject))
            return (struct acl_verdict){.effect = r->effect, .by = ACL_BY_RULE, .line = r->line};
    }
    if (claim_grants(acl, subject->claims, kind, name))
        return (struct acl_verdict){.effect = ACL_ALLOW, .by = ACL_BY_CLAIM};
    return (struct acl_verdict){.effect = acl->dflt, .by = ACL_BY_DEFAULT};
}

bool acl_uses_claims(const struct acl *acl)
{
    if (acl->claim)
        return true;
    for (size_t i = 0; i < acl->n; i++)
        if (acl->rules[i].who == ACL_WHO_CLAIM)
            return true;
    return false;
}

bool acl_checks_rooms(const struct acl *acl)
{
    /* The permissions claim only ever allows: it cannot make a room refusable. */
    if (acl->dflt == ACL_DENY)
        return true;
    for (size_t i = 0; i < acl->n; i++)
        if (acl->rules[i].kind == ACL_ROOM && acl->rules[i].effect == ACL_DENY)
            return true;
    return false;
}

int acl_room_of(const json_t *args, const char **room)
{
    const json_t *v = json_object_get(json_array_get(args, 0), "room");
    *room = NULL;
    if (!json_is_string(v))
        return 0;
    /* "vip\u0000x" must not be checked as "vip" and then used as something else. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return SB_EINVAL;
    *room = json_string_value(v);
    return 1;
}
