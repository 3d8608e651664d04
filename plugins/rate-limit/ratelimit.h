/*
 * The pure part of plugins/rate-limit: CONFIG parsing, token buckets, and the tables that hold
 * them per socket and per user. No I/O, no clock: the caller passes the time in milliseconds,
 * so tests/unit/test_rate_limit.c drives it directly.
 *
 * A bucket holds at most `burst` tokens and gains `count` tokens every `period_ms`; an event
 * takes one. The arithmetic is exact integers: one token is `period_ms` units and each
 * millisecond adds `count` units, so no rounding drifts and a huge idle time cannot overflow
 * (the refill is capped at "full" before it is multiplied).
 */
#ifndef SB_PLUGIN_RATELIMIT_H
#define SB_PLUGIN_RATELIMIT_H

#include <stdbool.h>

#include "../common/glob.h"
#include <stddef.h>
#include <stdint.h>

#include <switchboard/errors.h>

#define RL_MAX_RULES       16        /* rules in one CONFIG */
#define RL_MAX_COUNT       1000000u  /* tokens per period, and burst */
#define RL_MAX_PERIOD_MS   86400000u /* one day */
#define RL_MAX_EVENTS      64        /* event names tracked per socket or user; more share one */
#define RL_MAX_RULE_EVENTS 256       /* names in one rule's events= list */
#define RL_MAX_NAME        128       /* longer event names share the overflow bucket too */
#define RL_MAX_MESSAGE     200       /* bytes of a custom exception message */

enum rl_scope { RL_SCOPE_SOCKET = 0, RL_SCOPE_USER = 1 };
enum rl_per { RL_PER_ALL = 0, RL_PER_EVENT = 1 };
enum rl_action { RL_ACTION_EXCEPTION = 0, RL_ACTION_DISCONNECT = 1, RL_ACTION_DROP = 2 };

struct rl_rule {
    uint32_t count;     /* tokens added every period_ms, 1..RL_MAX_COUNT */
    uint32_t period_ms; /* 1..RL_MAX_PERIOD_MS */
    uint32_t burst;     /* bucket capacity in tokens, 1..RL_MAX_COUNT */
    enum rl_scope scope;
    enum rl_per per;
    enum rl_action action;
    char **events; /* owned: name patterns ('*' matches any run of characters); none = all */
    size_t nevents;
    char *message; /* owned: the exception message */
};

struct rl_config {
    struct rl_rule rules[RL_MAX_RULES];
    size_t n;
};

/* One token bucket. `level` is in units (see above); `last_ms` is when it was last refilled. */
struct rl_bucket {
    uint64_t level;
    uint64_t last_ms;
};

/*
 * Parses CONFIG (ratelimit_config.c; see docs/plugins/rate-limit.md): rules separated by ';',
 * each a list of key=value items separated by ','. On failure writes a one-line reason naming
 * the rule and the key into `err`, frees what was parsed and returns SB_EINVAL or SB_ENOMEM.
 */
int rl_config_parse(struct rl_config *cfg, const char *text, char *err, size_t errlen);
void rl_config_free(struct rl_config *cfg);
/* True when `rule` applies to `event`. */
bool rl_rule_matches(const struct rl_rule *rule, const char *event);

/* A full bucket as of `now`. */
void rl_bucket_init(struct rl_bucket *b, const struct rl_rule *rule, uint64_t now);
/* Adds the tokens earned since the last refill (a clock that went back adds none). */
void rl_bucket_refill(struct rl_bucket *b, const struct rl_rule *rule, uint64_t now);
/* Whole tokens in the bucket (after rl_bucket_refill). */
uint64_t rl_bucket_tokens(const struct rl_bucket *b, const struct rl_rule *rule);
/* Refills, then takes one token if there is one. Returns true when it took one. */
bool rl_bucket_take(struct rl_bucket *b, const struct rl_rule *rule, uint64_t now);

/*
 * The limiter: per-socket and per-user state for a configuration.
 *
 * A socket's state is created at its first event and freed by rl_limiter_forget(). A user's
 * state is shared by that user's sockets; when the last one is forgotten it stays until its
 * buckets would be full again (so that reconnecting does not reset a user's limit), then it is
 * freed by the sweep every call does.
 */
struct rl_limiter;

/* Takes ownership of `cfg` (which is emptied). Returns NULL when out of memory. */
struct rl_limiter *rl_limiter_new(struct rl_config *cfg);
void rl_limiter_free(struct rl_limiter *lim);
const struct rl_config *rl_limiter_config(const struct rl_limiter *lim);

/*
 * Counts one event `event` of socket `sock_id` (of user `user`, NULL when anonymous) at `now`.
 * Returns -1 when it is within every limit (a token was taken from each bucket that applies),
 * the index of the first rule it exceeds (nothing was taken), or SB_ENOMEM.
 */
int rl_limiter_hit(struct rl_limiter *lim, const char *sock_id, const char *user, const char *event,
                   uint64_t now);
/* Forgets a socket (it disconnected) at `now`. Unknown ids are ignored. */
void rl_limiter_forget(struct rl_limiter *lim, const char *sock_id, uint64_t now);

/* Counters for tests and logs: sockets tracked, users tracked (connected or idle), idle users,
 * and the number of event names tracked for socket `sock_id` (user == false) or user `sock_id`
 * (user == true), 0 when it is unknown. */
size_t rl_limiter_nsockets(const struct rl_limiter *lim);
size_t rl_limiter_nusers(const struct rl_limiter *lim);
size_t rl_limiter_nidle(const struct rl_limiter *lim);
size_t rl_limiter_nevents(const struct rl_limiter *lim, const char *key, bool user);

#endif
