/*
 * The pure part of plugins/rate-limit: CONFIG parsing (what is accepted, what is refused and how
 * the message names it), token bucket arithmetic (burst, refill, caps, no overflow), the hash
 * table, and the limiter's per-socket / per-user / per-event state and its bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

/* ---- CONFIG ---- */

static void parse_ok(struct rl_config *cfg, const char *text)
{
    char err[256] = "";
    int rc = rl_config_parse(cfg, text, err, sizeof(err));
    if (rc != 0)
        fail_msg("'%s' refused: %s", text, err);
}

/* Parses `text`, expects a refusal whose message contains `needle`. */
static void parse_bad(const char *text, const char *needle)
{
    struct rl_config cfg;
    char err[256] = "";
    int rc = rl_config_parse(&cfg, text, err, sizeof(err));
    if (rc == 0)
        fail_msg("'%s' was accepted", text ? text : "(null)");
    assert_int_equal(rc, SB_EINVAL);
    if (!strstr(err, needle))
        fail_msg("'%s': message '%s' lacks '%s'", text ? text : "(null)", err, needle);
    assert_null(strchr(err, '\n'));
    assert_int_equal(cfg.n, 0);
}

static void test_config_full_rule(void **unused)
{
    struct rl_config cfg;
    parse_ok(&cfg, "rate=20/s,burst=40,scope=user,per=event,action=disconnect,events=chat.*|ping,"
                   "message=slow down");
    assert_int_equal(cfg.n, 1);
    const struct rl_rule *r = &cfg.rules[0];
    assert_int_equal(r->count, 20);
    assert_int_equal(r->period_ms, 1000);
    assert_int_equal(r->burst, 40);
    assert_int_equal(r->scope, RL_SCOPE_USER);
    assert_int_equal(r->per, RL_PER_EVENT);
    assert_int_equal(r->action, RL_ACTION_DISCONNECT);
    assert_int_equal(r->nevents, 2);
    assert_string_equal(r->events[0], "chat.*");
    assert_string_equal(r->events[1], "ping");
    assert_string_equal(r->message, "slow down");
    assert_true(rl_rule_matches(r, "chat.send"));
    assert_true(rl_rule_matches(r, "ping"));
    assert_false(rl_rule_matches(r, "pong"));
    assert_false(rl_rule_matches(r, "chat"));
    rl_config_free(&cfg);
    assert_int_equal(cfg.n, 0);
}

static void test_config_defaults(void **unused)
{
    struct rl_config cfg;
    parse_ok(&cfg, "rate=5/s");
    const struct rl_rule *r = &cfg.rules[0];
    assert_int_equal(r->burst, 5); /* burst defaults to the count */
    assert_int_equal(r->scope, RL_SCOPE_SOCKET);
    assert_int_equal(r->per, RL_PER_ALL);
    assert_int_equal(r->action, RL_ACTION_EXCEPTION);
    assert_int_equal(r->nevents, 0);
    assert_string_equal(r->message, "rate limit exceeded");
    assert_true(rl_rule_matches(r, "anything"));
    rl_config_free(&cfg);
}

static void test_config_rates_and_rules(void **unused)
{
    static const struct {
        const char *text;
        uint32_t count, period_ms;
    } cases[] = {
        {"rate=20/s", 20, 1000},     {"rate=100/m", 100, 60000},
        {"rate=3/h", 3, 3600000},    {"rate=5/10s", 5, 10000},
        {"rate=1/500ms", 1, 500},    {"rate=1000000/ms", 1000000, 1},
        {"rate=1/24h", 1, 86400000}, {"rate=7/1440m", 7, 86400000},
        {" rate = 2/s ", 2, 1000}, /* blanks around keys and values */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rl_config cfg;
        parse_ok(&cfg, cases[i].text);
        assert_int_equal(cfg.rules[0].count, cases[i].count);
        assert_int_equal(cfg.rules[0].period_ms, cases[i].period_ms);
        rl_config_free(&cfg);
    }

    struct rl_config cfg;
    parse_ok(&cfg, "rate=1/s,per=event ; rate=10/m,scope=user,action=drop;rate=2/s,events=x");
    assert_int_equal(cfg.n, 3);
    assert_int_equal(cfg.rules[0].per, RL_PER_EVENT);
    assert_int_equal(cfg.rules[1].scope, RL_SCOPE_USER);
    assert_int_equal(cfg.rules[1].action, RL_ACTION_DROP);
    assert_int_equal(cfg.rules[2].nevents, 1);
    rl_config_free(&cfg);
}

static void test_config_errors(void **unused)
{
    parse_bad(NULL, "CONFIG is required");
    parse_bad("", "CONFIG is required");
    parse_bad("burst=3", "rule 1: rate= is required");
    parse_bad(
        "rate=5/s,colour=red",
        "rule 1: unknown key \"colour\" (keys: rate, burst, scope, per, action, events, message)");
    parse_bad("rate=5/s,rate=6/s", "rule 1: \"rate\" is given twice");
    parse_bad("rate=5/s,burst", "rule 1: CONFIG item \"burst\" wants key=value (keys: rate");
    parse_bad("rate=5/s,", "rule 1: CONFIG ends with a ','");
    parse_bad("rate=5/s,burst=", "rule 1: \"burst\" needs a value");
    parse_bad("rate=5/s;", "rule 2 is empty");
    parse_bad("rate=5/s;;rate=1/s", "rule 2 is empty");
    parse_bad("rate=5/s;rate=1/s,scope=team",
              "rule 2: \"scope\" wants one of socket, user, got \"team\"");
    parse_bad("rate=5/s,per=second", "rule 1: \"per\" wants one of all, event, got \"second\"");
    parse_bad("rate=5/s,action=ban",
              "rule 1: \"action\" wants one of exception, disconnect, drop, got \"ban\"");
    parse_bad("rate=5/s,events=a||b", "empty name");
    parse_bad("rate=5/s,events=a|", "empty name");
    parse_bad("rate=5/s,burst=0",
              "rule 1: \"burst\" wants an integer from 1 to 1000000, got \"0\"");
    parse_bad("rate=5/s,burst=1000001", "\"burst\" wants an integer from 1 to 1000000");
    parse_bad("rate=5/s,burst=-1", "\"burst\" wants an integer from 1 to 1000000");
    parse_bad("rate=5/s,burst=1e3", "\"burst\" wants an integer from 1 to 1000000");
    parse_bad("rate=5/s,message=a\tb", "control character");
    parse_bad("rate=5/s, ,burst=2", "rule 1: CONFIG item 2 is empty");
    parse_bad("rate=5/s ; rate=1/s , burst = ", "rule 2: \"burst\" needs a value");
    const char *bad_rates[] = {"0/s",  "5",      "5/",    "/s",   "5/x",
                               "5/0s", "5/25h",  "-1/s",  "+1/s", "1000001/s",
                               "5/ s", "5/1.5s", "5/s/s", "5/sm", "99999999999/s"};
    for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "rate=%s", bad_rates[i]);
        parse_bad(text, "rule 1: rate must be");
    }
    char many[1024] = "";
    for (int i = 0; i <= RL_MAX_RULES; i++)
        strcat(many, i ? ";rate=1/s" : "rate=1/s");
    parse_bad(many, "more than 16 rules");
    char msg[300];
    snprintf(msg, sizeof(msg), "rate=1/s,message=%0*d", RL_MAX_MESSAGE + 1, 0);
    parse_bad(msg, "message is longer than");
}

static void test_glob(void **unused)
{
    assert_true(glob_match("*", ""));
    assert_true(glob_match("*", "anything"));
    assert_true(glob_match("chat.*", "chat."));
    assert_true(glob_match("chat.*", "chat.send"));
    assert_false(glob_match("chat.*", "chat"));
    assert_true(glob_match("*.send", "chat.send"));
    assert_true(glob_match("a*b*c", "aXbYc"));
    assert_true(glob_match("a*b*c", "abbbc"));
    assert_false(glob_match("a*b*c", "acb"));
    assert_true(glob_match("a**", "a"));
    assert_false(glob_match("abc", "abcd"));
    assert_false(glob_match("", "a"));
    assert_true(glob_match("", ""));
}

/* ---- buckets ---- */

static struct rl_rule rule(uint32_t count, uint32_t period_ms, uint32_t burst)
{
    return (struct rl_rule){.count = count, .period_ms = period_ms, .burst = burst};
}

static void test_bucket_burst_then_empty(void **unused)
{
    struct rl_rule r = rule(5, 1000, 3);
    struct rl_bucket b;
    rl_bucket_init(&b, &r, 1000);
    assert_int_equal(rl_bucket_tokens(&b, &r), 3);
    for (int i = 0; i < 3; i++)
        assert_true(rl_bucket_take(&b, &r, 1000));
    assert_false(rl_bucket_take(&b, &r, 1000));
    assert_false(rl_bucket_take(&b, &r, 1000)); /* a refusal takes nothing */
    assert_int_equal(rl_bucket_tokens(&b, &r), 0);
}

static void test_bucket_refill(void **unused)
{
    struct rl_rule r = rule(5, 1000, 2); /* one token every 200 ms */
    struct rl_bucket b;
    rl_bucket_init(&b, &r, 0);
    assert_true(rl_bucket_take(&b, &r, 0));
    assert_true(rl_bucket_take(&b, &r, 0));
    assert_false(rl_bucket_take(&b, &r, 199));
    assert_true(rl_bucket_take(&b, &r, 200));
    assert_false(rl_bucket_take(&b, &r, 200));
    /* Long idle: the bucket holds at most `burst`. */
    rl_bucket_refill(&b, &r, 100000);
    assert_int_equal(rl_bucket_tokens(&b, &r), 2);
    assert_true(rl_bucket_take(&b, &r, 100000));
    assert_true(rl_bucket_take(&b, &r, 100000));
    assert_false(rl_bucket_take(&b, &r, 100000));
}

static void test_bucket_fractions_are_exact(void **unused)
{
    struct rl_rule r = rule(3, 1000, 3); /* a token every 333.3 ms */
    struct rl_bucket b;
    rl_bucket_init(&b, &r, 0);
    for (int i = 0; i < 3; i++)
        assert_true(rl_bucket_take(&b, &r, 0));
    rl_bucket_refill(&b, &r, 333);
    assert_int_equal(rl_bucket_tokens(&b, &r), 0);
    rl_bucket_refill(&b, &r, 334);
    assert_int_equal(rl_bucket_tokens(&b, &r), 1);
    rl_bucket_refill(&b, &r, 1000);
    assert_int_equal(rl_bucket_tokens(&b, &r), 3);
    /* One millisecond at a time for ten seconds: no rounding loss. */
    for (int i = 0; i < 3; i++)
        assert_true(rl_bucket_take(&b, &r, 1000));
    int got = 0;
    for (uint64_t t = 1001; t <= 11000; t++)
        got += rl_bucket_take(&b, &r, t);
    assert_int_equal(got, 30);
}

static void test_bucket_no_overflow(void **unused)
{
    /* The largest bucket: a million tokens, one a day. */
    struct rl_rule big = rule(1, RL_MAX_PERIOD_MS, RL_MAX_COUNT);
    struct rl_bucket b;
    rl_bucket_init(&b, &big, 0);
    assert_int_equal(rl_bucket_tokens(&b, &big), RL_MAX_COUNT);
    assert_true(rl_bucket_take(&b, &big, 0));
    rl_bucket_refill(&b, &big, UINT64_MAX);
    assert_int_equal(rl_bucket_tokens(&b, &big), RL_MAX_COUNT);

    /* The fastest: a million tokens a millisecond, after a huge idle time. */
    struct rl_rule fast = rule(RL_MAX_COUNT, 1, RL_MAX_COUNT);
    rl_bucket_init(&b, &fast, 5);
    for (int i = 0; i < 10; i++)
        assert_true(rl_bucket_take(&b, &fast, 5));
    rl_bucket_refill(&b, &fast, UINT64_MAX - 1);
    assert_int_equal(rl_bucket_tokens(&b, &fast), RL_MAX_COUNT);

    /* An empty bucket idle for 2^63 ms is full, not wrapped around. */
    struct rl_rule r = rule(7, 1000, 10);
    rl_bucket_init(&b, &r, 0);
    for (int i = 0; i < 10; i++)
        assert_true(rl_bucket_take(&b, &r, 0));
    rl_bucket_refill(&b, &r, UINT64_C(1) << 63);
    assert_int_equal(rl_bucket_tokens(&b, &r), 10);
}

static void test_bucket_clock_going_back(void **unused)
{
    struct rl_rule r = rule(1, 1000, 1);
    struct rl_bucket b;
    rl_bucket_init(&b, &r, 5000);
    assert_true(rl_bucket_take(&b, &r, 5000));
    assert_false(rl_bucket_take(&b, &r, 10)); /* earlier: no refill, no wrap-around */
    assert_false(rl_bucket_take(&b, &r, 5999));
    assert_true(rl_bucket_take(&b, &r, 6000));
}

/* ---- the limiter ---- */

static struct rl_limiter *limiter(const char *config)
{
    struct rl_config cfg;
    parse_ok(&cfg, config);
    struct rl_limiter *lim = rl_limiter_new(&cfg);
    assert_non_null(lim);
    assert_int_equal(cfg.n, 0); /* taken over */
    return lim;
}

/* How many of `n` events at `now` pass. */
static int pass(struct rl_limiter *lim, const char *sock, const char *user, const char *event,
                int n, uint64_t now)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int rc = rl_limiter_hit(lim, sock, user, event, now);
        assert_true(rc >= -1);
        ok += rc == -1;
    }
    return ok;
}

static void test_limiter_per_socket(void **unused)
{
    struct rl_limiter *lim = limiter("rate=1/s,burst=3");
    assert_int_equal(pass(lim, "s1", "alice", "a", 5, 0), 3);
    assert_int_equal(rl_limiter_hit(lim, "s1", "alice", "b", 0), 0); /* rule 0 refuses */
    /* Another socket of the same user has its own bucket. */
    assert_int_equal(pass(lim, "s2", "alice", "a", 5, 0), 3);
    assert_int_equal(rl_limiter_nsockets(lim), 2);
    assert_int_equal(rl_limiter_nusers(lim), 0); /* no user rule: no user state */
    assert_int_equal(pass(lim, "s1", "alice", "a", 2, 1000), 1);
    rl_limiter_forget(lim, "s1", 1000);
    rl_limiter_forget(lim, "s1", 1000); /* twice is harmless */
    rl_limiter_forget(lim, "never-seen", 1000);
    assert_int_equal(rl_limiter_nsockets(lim), 1);
    rl_limiter_free(lim);
}

static void test_limiter_per_user(void **unused)
{
    struct rl_limiter *lim = limiter("rate=1/s,burst=4,scope=user");
    /* Two sockets of alice share one bucket; bob and an anonymous socket are unaffected. */
    assert_int_equal(pass(lim, "a1", "alice", "x", 3, 0), 3);
    assert_int_equal(pass(lim, "a2", "alice", "x", 3, 0), 1);
    assert_int_equal(pass(lim, "b1", "bob", "x", 4, 0), 4);
    assert_int_equal(pass(lim, "anon1", NULL, "x", 5, 0), 4); /* its own socket bucket */
    assert_int_equal(pass(lim, "anon2", NULL, "x", 5, 0), 4);
    assert_int_equal(rl_limiter_nusers(lim), 2);

    /* alice leaves with an empty bucket and comes back at once: still limited. */
    rl_limiter_forget(lim, "a1", 0);
    assert_int_equal(rl_limiter_nidle(lim), 0);
    rl_limiter_forget(lim, "a2", 0);
    assert_int_equal(rl_limiter_nidle(lim), 1);
    assert_int_equal(rl_limiter_nusers(lim), 2);
    assert_int_equal(pass(lim, "a3", "alice", "x", 2, 0), 0);
    assert_int_equal(rl_limiter_nidle(lim), 0);
    rl_limiter_forget(lim, "a3", 1000);
    assert_int_equal(rl_limiter_nidle(lim), 1);
    /* Once her bucket would be full again (4 tokens, one a second) she is forgotten. */
    assert_int_equal(pass(lim, "b1", "bob", "x", 1, 4999), 1);
    assert_int_equal(rl_limiter_nusers(lim), 2);
    assert_int_equal(pass(lim, "b1", "bob", "x", 1, 5000), 1);
    assert_int_equal(rl_limiter_nusers(lim), 1);
    assert_int_equal(rl_limiter_nidle(lim), 0);

    /* bob leaves with a full bucket: freed at once. */
    rl_limiter_forget(lim, "b1", 100000);
    assert_int_equal(rl_limiter_nusers(lim), 0);
    assert_int_equal(rl_limiter_nidle(lim), 0);
    rl_limiter_free(lim);
}

static void test_limiter_per_event(void **unused)
{
    struct rl_limiter *lim = limiter("rate=1/m,burst=3,per=event");
    assert_int_equal(pass(lim, "s", NULL, "a", 4, 0), 3);
    assert_int_equal(pass(lim, "s", NULL, "b", 4, 0), 3);
    assert_int_equal(rl_limiter_nevents(lim, "s", false), 2);
    rl_limiter_free(lim);

    /* Per event and overall together: the overall rule caps the sum. */
    lim = limiter("rate=1/m,burst=3,per=event;rate=1/m,burst=5");
    assert_int_equal(pass(lim, "s", NULL, "a", 3, 0), 3);
    assert_int_equal(rl_limiter_hit(lim, "s", NULL, "b", 0), -1);
    assert_int_equal(rl_limiter_hit(lim, "s", NULL, "b", 0), -1);
    assert_int_equal(rl_limiter_hit(lim, "s", NULL, "b", 0), 1); /* the second rule refuses */
    assert_int_equal(rl_limiter_hit(lim, "s", NULL, "a", 0), 0); /* the first rule refuses */
    rl_limiter_free(lim);
}

static void test_limiter_refusal_costs_nothing(void **unused)
{
    /* "a" is limited to 1, everything to 3: refused "a"s must not eat the overall tokens. */
    struct rl_limiter *lim = limiter("rate=1/m,burst=1,events=a;rate=1/m,burst=3");
    assert_int_equal(pass(lim, "s", NULL, "a", 10, 0), 1);
    assert_int_equal(pass(lim, "s", NULL, "b", 10, 0), 2);
    rl_limiter_free(lim);
}

static void test_limiter_events_filter(void **unused)
{
    struct rl_limiter *lim = limiter("rate=1/m,burst=1,events=chat.*,action=drop");
    assert_int_equal(pass(lim, "s", NULL, "chat.send", 3, 0), 1);
    assert_int_equal(pass(lim, "s", NULL, "chat.edit", 3, 0), 0); /* shares the per=all bucket */
    assert_int_equal(pass(lim, "s", NULL, "ping", 100, 0), 100);  /* not limited at all */
    assert_int_equal(rl_limiter_config(lim)->rules[0].action, RL_ACTION_DROP);
    rl_limiter_free(lim);
}

static void test_limiter_caps_event_names(void **unused)
{
    struct rl_limiter *lim = limiter("rate=1/m,burst=2,per=event,scope=user");
    char name[32];
    /* Every new name gets its own bucket up to RL_MAX_EVENTS, ... */
    for (int i = 0; i < RL_MAX_EVENTS; i++) {
        snprintf(name, sizeof(name), "e%d", i);
        assert_int_equal(pass(lim, "s", "u", name, 3, 0), 2);
    }
    assert_int_equal(rl_limiter_nevents(lim, "u", true), RL_MAX_EVENTS);
    /* ... then the rest share one. */
    assert_int_equal(pass(lim, "s", "u", "late1", 1, 0), 1);
    assert_int_equal(pass(lim, "s", "u", "late2", 1, 0), 1);
    assert_int_equal(pass(lim, "s", "u", "late3", 1, 0), 0);
    assert_int_equal(rl_limiter_nevents(lim, "u", true), RL_MAX_EVENTS);
    /* Known names keep their own bucket. */
    assert_int_equal(pass(lim, "s", "u", "e0", 1, 60000), 1);
    rl_limiter_free(lim);

    /* A million events with invented names stay within the bound. */
    lim = limiter("rate=1000000/s,per=event");
    for (int i = 0; i < 1000000; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        rl_limiter_hit(lim, "flooder", NULL, name, (uint64_t)i);
    }
    assert_int_equal(rl_limiter_nevents(lim, "flooder", false), RL_MAX_EVENTS);

    /* An overlong name is not copied: it goes to the shared bucket. */
    char *longname = malloc(RL_MAX_NAME + 2);
    memset(longname, 'x', RL_MAX_NAME + 1);
    longname[RL_MAX_NAME + 1] = '\0';
    assert_int_equal(rl_limiter_hit(lim, "fresh", NULL, longname, 0), -1);
    assert_int_equal(rl_limiter_nevents(lim, "fresh", false), 0);
    free(longname);
    rl_limiter_free(lim);
}

static void test_limiter_many_sockets_come_and_go(void **unused)
{
    struct rl_limiter *lim = limiter("rate=10/s,scope=user;rate=5/s,per=event");
    char id[32], user[32];
    for (int round = 0; round < 3; round++) {
        int ok = 0;
        for (int i = 0; i < 20000; i++) {
            snprintf(id, sizeof(id), "s%d-%d", round, i);
            snprintf(user, sizeof(user), "u%d", i % 1000);
            ok += rl_limiter_hit(lim, id, user, "ev", 0) == -1;
        }
        /* 20 sockets per user, 10 tokens per user: half pass, then the users are empty (and
         * stay so across rounds: they were kept while idle). */
        assert_int_equal(ok, round == 0 ? 10000 : 0);
        assert_int_equal(rl_limiter_nsockets(lim), 20000);
        for (int i = 0; i < 20000; i++) {
            snprintf(id, sizeof(id), "s%d-%d", round, i);
            rl_limiter_forget(lim, id, 0);
        }
        assert_int_equal(rl_limiter_nsockets(lim), 0);
    }
    /* Every user spent tokens: they wait, idle, for their refill (1 s), then go. */
    assert_int_equal(rl_limiter_nusers(lim), 1000);
    rl_limiter_forget(lim, "nobody", 1000);
    assert_int_equal(rl_limiter_nusers(lim), 0);
    assert_int_equal(rl_limiter_nidle(lim), 0);
    rl_limiter_free(lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_full_rule),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_rates_and_rules),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_bucket_burst_then_empty),
        cmocka_unit_test(test_bucket_refill),
        cmocka_unit_test(test_bucket_fractions_are_exact),
        cmocka_unit_test(test_bucket_no_overflow),
        cmocka_unit_test(test_bucket_clock_going_back),
        cmocka_unit_test(test_limiter_per_socket),
        cmocka_unit_test(test_limiter_per_user),
        cmocka_unit_test(test_limiter_per_event),
        cmocka_unit_test(test_limiter_refusal_costs_nothing),
        cmocka_unit_test(test_limiter_events_filter),
        cmocka_unit_test(test_limiter_caps_event_names),
        cmocka_unit_test(test_limiter_many_sockets_come_and_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
