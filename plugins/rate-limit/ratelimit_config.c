/*
 * rate-limit's CONFIG: rules separated by ';', each a `key=value,…` list read with the SDK's
 * splitter (switchboard/config.h). The limiter (ratelimit.c) only sees the parsed rules.
 */
#include "ratelimit.h"

#include <switchboard/plugin.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MESSAGE "rate limit exceeded"

#define RATE_SYNTAX                                                                                \
    "rate must be N/s, N/m, N/h, N/ms or N/<k><unit> (e.g. 20/s, 5/10s), N in 1..%u, the period "  \
    "at most 24h"

/* "N/[K]unit": N tokens every K units (ms, s, m, h). */
static bool parse_rate(const struct sb_cfg *c, const char *s, struct rl_rule *r)
{
    const char *slash = strchr(s, '/');
    uint64_t count = 0, k = 1, ms;
    if (!slash || sb_cfg_u64n(c, "rate", s, (size_t)(slash - s), 1, RL_MAX_COUNT, &count, NULL, 0))
        return false;
    const char *p = slash + 1;
    size_t digits = 0;
    while (p[digits] >= '0' && p[digits] <= '9')
        digits++;
    if (digits && sb_cfg_u64n(c, "rate", p, digits, 1, RL_MAX_PERIOD_MS, &k, NULL, 0))
        return false;
    const char *unit = p + digits;
    if (strcmp(unit, "ms") == 0)
        ms = 1;
    else if (strcmp(unit, "s") == 0)
        ms = 1000;
    else if (strcmp(unit, "m") == 0)
        ms = 60000;
    else if (strcmp(unit, "h") == 0)
        ms = 3600000;
    else
        return false;
    if (k * ms > RL_MAX_PERIOD_MS)
        return false;
    r->count = (uint32_t)count;
    r->period_ms = (uint32_t)(k * ms);
    return true;
}

enum { K_RATE, K_BURST, K_SCOPE, K_PER, K_ACTION, K_EVENTS, K_MESSAGE, K_COUNT };
static const char *const keys[K_COUNT + 1] = {"rate",   "burst",  "scope",   "per",
                                              "action", "events", "message", NULL};
#define KEY_LIST "rate, burst, scope, per, action, events, message"

/* Appends the list of keys to the message in `err`. */
static int with_keys(char *err, size_t errlen)
{
    size_t n = err ? strlen(err) : 0;
    if (err && n < errlen)
        snprintf(err + n, errlen - n, " (keys: " KEY_LIST ")");
    return SB_EINVAL;
}

static int parse_item(struct rl_rule *r, const struct sb_cfg *c, const struct sb_cfg_pair *p,
                      size_t rule, bool seen[K_COUNT], char *err, size_t errlen)
{
    static const char *const scopes[] = {"socket", "user", NULL}; /* enum rl_scope */
    static const char *const pers[] = {"all", "event", NULL};     /* enum rl_per */
    static const char *const actions[] = {"exception", "disconnect", "drop", NULL}; /* rl_action */
    unsigned k = 0, v = 0;
    uint64_t n = 0;
    while (k < K_COUNT && strcmp(p->key, keys[k]) != 0)
        k++;
    if (k == K_COUNT) {
        sb_cfg_unknown(c, p->key, err, errlen);
        return with_keys(err, errlen);
    }
    if (sb_cfg_once(c, p->key, &seen[k], err, errlen))
        return SB_EINVAL;

    switch (k) {
    case K_RATE:
        if (!parse_rate(c, p->value, r))
            return sb_init_error(err, errlen, SB_EINVAL, "rule %zu: " RATE_SYNTAX, rule,
                                 RL_MAX_COUNT);
        return 0;
    case K_BURST:
        if (sb_cfg_u64(c, p->key, p->value, 1, RL_MAX_COUNT, &n, err, errlen))
            return SB_EINVAL;
        r->burst = (uint32_t)n;
        return 0;
    case K_SCOPE:
        if (sb_cfg_enum(c, p->key, p->value, scopes, &v, err, errlen))
            return SB_EINVAL;
        r->scope = (enum rl_scope)v;
        return 0;
    case K_PER:
        if (sb_cfg_enum(c, p->key, p->value, pers, &v, err, errlen))
            return SB_EINVAL;
        r->per = (enum rl_per)v;
        return 0;
    case K_ACTION:
        if (sb_cfg_enum(c, p->key, p->value, actions, &v, err, errlen))
            return SB_EINVAL;
        r->action = (enum rl_action)v;
        return 0;
    case K_EVENTS:
        sb_cfg_strlist_free(r->events, r->nevents);
        r->events = NULL;
        r->nevents = 0;
        if (sb_cfg_strlist(c, p->key, p->value, RL_MAX_RULE_EVENTS, &r->events, &r->nevents, err,
                           errlen)) {
            /* The rule's number in front of what the SDK says after its "<plugin>: ". */
            char said[256];
            snprintf(said, sizeof(said), "%s", err ? err : "");
            const char *what = strstr(said, ": ");
            return sb_init_error(err, errlen, SB_EINVAL, "rule %zu: %s", rule,
                                 what ? what + 2 : said);
        }
        return 0;
    default: /* K_MESSAGE */
        if (strlen(p->value) > RL_MAX_MESSAGE)
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "rule %zu: message is longer than %d bytes", rule, RL_MAX_MESSAGE);
        for (const char *s = p->value; *s; s++)
            if ((unsigned char)*s < 0x20 || *s == 0x7f)
                return sb_init_error(err, errlen, SB_EINVAL,
                                     "rule %zu: message has a control character", rule);
        free(r->message);
        if (!(r->message = strdup(p->value)))
            return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
        return 0;
    }
}

static bool blank_only(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return !*s;
}

static int parse_rule(struct rl_rule *r, const char *text, size_t rule, char *err, size_t errlen)
{
    bool seen[K_COUNT] = {false};
    char name[32]; /* "rule N", what the splitter's messages start with */
    struct sb_cfg c;
    struct sb_cfg_pair p;
    int rc = 0, more = 0;
    if (blank_only(text))
        return sb_init_error(err, errlen, SB_EINVAL, "rule %zu is empty", rule);
    snprintf(name, sizeof(name), "rule %zu", rule);
    if (sb_cfg_begin_flags(&c, name, text, SB_CFG_TRIM, err, errlen) != 0)
        return SB_ENOMEM;
    while (rc == 0 && (more = sb_cfg_next(&c, &p, err, errlen)) == 1)
        rc = parse_item(r, &c, &p, rule, seen, err, errlen);
    sb_cfg_end(&c);
    if (rc < 0)
        return rc;
    if (more < 0)
        return with_keys(err, errlen);
    if (!seen[K_RATE])
        return sb_init_error(err, errlen, SB_EINVAL, "rule %zu: rate= is required (e.g. rate=20/s)",
                             rule);
    if (!seen[K_BURST])
        r->burst = r->count;
    if (!r->message && !(r->message = strdup(DEFAULT_MESSAGE)))
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    return 0;
}

static void rule_free(struct rl_rule *r)
{
    for (size_t i = 0; i < r->nevents; i++)
        free(r->events[i]);
    free(r->events);
    free(r->message);
    memset(r, 0, sizeof(*r));
}

void rl_config_free(struct rl_config *cfg)
{
    for (size_t i = 0; i < cfg->n; i++)
        rule_free(&cfg->rules[i]);
    memset(cfg, 0, sizeof(*cfg));
}

int rl_config_parse(struct rl_config *cfg, const char *text, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!text || !*text)
        return sb_init_error(
            err, errlen, SB_EINVAL,
            "CONFIG is required: rules like rate=20/s,burst=40,scope=socket,per=all,"
            "action=exception, separated by ';'");
    char *copy = strdup(text);
    if (!copy)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    int rc = 0;
    for (char *rule = copy;;) {
        char *semi = strchr(rule, ';');
        if (semi)
            *semi = '\0';
        if (cfg->n == RL_MAX_RULES) {
            rc = sb_init_error(err, errlen, SB_EINVAL, "more than %d rules", RL_MAX_RULES);
            break;
        }
        /* The rule counts as parsed even when it fails, so that its allocations are freed. */
        rc = parse_rule(&cfg->rules[cfg->n], rule, cfg->n + 1, err, errlen);
        cfg->n++;
        if (rc < 0 || !semi)
            break;
        rule = semi + 1;
    }
    free(copy);
    if (rc < 0)
        rl_config_free(cfg);
    return rc;
}
