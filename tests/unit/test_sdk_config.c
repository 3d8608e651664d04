/*
 * The SDK's CONFIG splitter (include/switchboard/config.h): pairs come out in order; every
 * malformed CONFIG (empty item, trailing comma, missing '=', empty key, empty value) and every
 * bad value (not digits, a sign, spaces, overflow, out of range, bad unit, bad bool, bad enum,
 * duplicate, unknown key) fails with a message naming the plugin, the key and what was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

static char err[256];

/* Splits `config` and returns the result of the first failing call, or the number of pairs. */
static int split(const char *config, struct sb_cfg_pair *pairs, int max)
{
    struct sb_cfg c;
    err[0] = '\0';
    assert_int_equal(sb_cfg_begin(&c, "demo", config, err, sizeof err), 0);
    int n = 0, rc;
    static char keep[8][64];
    while ((rc = sb_cfg_next(&c, &pairs[n], err, sizeof err)) == 1) {
        assert_true(n < max);
        snprintf(keep[n], sizeof keep[n], "%s=%s", pairs[n].key, pairs[n].value);
        n++;
    }
    sb_cfg_end(&c);
    sb_cfg_end(&c);
    if (rc < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(keep[i], '=');
        *eq = '\0';
        pairs[i].key = keep[i];
        pairs[i].value = eq + 1;
    }
    return n;
}

static void pairs_in_order(void **state)
{
    (void)state;
    struct sb_cfg_pair p[8];
    assert_int_equal(split("a=1,b=x=y,c=z", p, 8), 3);
    assert_string_equal(p[0].key, "a");
    assert_string_equal(p[0].value, "1");
    assert_string_equal(p[1].key, "b");
    assert_string_equal(p[1].value, "x=y");
    assert_string_equal(p[2].key, "c");
    assert_int_equal(split("", p, 8), 0);
    assert_int_equal(split(NULL, p, 8), 0);
}

static void malformed(void **state)
{
    (void)state;
    struct sb_cfg_pair p[8];
    assert_int_equal(split("a=1,", p, 8), -1);
    assert_string_equal(err, "demo: CONFIG ends with a ','");
    assert_int_equal(split("a=1,,b=2", p, 8), -1);
    assert_string_equal(err, "demo: CONFIG item 2 is empty");
    assert_int_equal(split(",a=1", p, 8), -1);
    assert_string_equal(err, "demo: CONFIG item 1 is empty");
    assert_int_equal(split("a=1,b", p, 8), -1);
    assert_string_equal(err, "demo: CONFIG item \"b\" wants key=value");
    assert_int_equal(split("=1", p, 8), -1);
    assert_string_equal(err, "demo: CONFIG item 1 has no key before '='");
    assert_int_equal(split("a=", p, 8), -1);
    assert_string_equal(err, "demo: \"a\" needs a value");
}

/* SB_CFG_QUIET: items and unknown keys are named by position, never quoted; the copy is wiped. */
static void quiet(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"s3cr3t", "demo: CONFIG item 1 is not key=value"},
        {"a=1,s3cr3t=", "demo: CONFIG item 2 needs a value"},
        {"a=1,,s3cr3t", "demo: CONFIG item 2 is empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sb_cfg c;
        struct sb_cfg_pair p;
        int rc;
        assert_int_equal(sb_cfg_begin_flags(&c, "demo", bad[i][0], SB_CFG_QUIET, err, sizeof err),
                         0);
        while ((rc = sb_cfg_next(&c, &p, err, sizeof err)) == 1)
            ;
        sb_cfg_end(&c);
        assert_int_equal(rc, -1);
        assert_string_equal(err, bad[i][1]);
    }
    struct sb_cfg c;
    struct sb_cfg_pair p;
    assert_int_equal(sb_cfg_begin_flags(&c, "demo", "a=1,s3cr3t=x", SB_CFG_QUIET, err, sizeof err),
                     0);
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_int_equal(sb_cfg_unknown(&c, p.key, err, sizeof err), -1);
    assert_string_equal(err, "demo: CONFIG item 2 has an unknown key");
    /* The value may be cut in place; sb_cfg_end wipes the copy and forgets it. */
    p.value[0] = '\0';
    sb_cfg_end(&c);
    assert_null(c.buf);
    assert_int_equal(c.len, 0);
}

/* SB_CFG_TRIM: blanks around items, keys and values go; blanks inside a value stay. */
static void trimmed(void **state)
{
    (void)state;
    struct sb_cfg c;
    struct sb_cfg_pair p;
    assert_int_equal(
        sb_cfg_begin_flags(&c, "demo", " a = 1 ,\tb=x y\t, c=2", SB_CFG_TRIM, err, sizeof err), 0);
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_string_equal(p.key, "a");
    assert_string_equal(p.value, "1");
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_string_equal(p.key, "b");
    assert_string_equal(p.value, "x y");
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_string_equal(p.key, "c");
    assert_string_equal(p.value, "2");
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 0);
    sb_cfg_end(&c);
    static const char *const bad[][2] = {
        {"a=1, ", "demo: CONFIG ends with a ','"},
        {"a=1, ,b=2", "demo: CONFIG item 2 is empty"},
        {"a= ", "demo: \"a\" needs a value"},
        {" =1", "demo: CONFIG item 1 has no key before '='"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        assert_int_equal(sb_cfg_begin_flags(&c, "demo", bad[i][0], SB_CFG_TRIM, err, sizeof err),
                         0);
        while ((rc = sb_cfg_next(&c, &p, err, sizeof err)) == 1)
            ;
        sb_cfg_end(&c);
        assert_int_equal(rc, -1);
        assert_string_equal(err, bad[i][1]);
    }
}

/* SB_CFG_BARE: an item without '=' is a key with a NULL value; "k=" still needs a value. */
static void bare_keys(void **state)
{
    (void)state;
    struct sb_cfg c;
    struct sb_cfg_pair p;
    assert_int_equal(sb_cfg_begin_flags(&c, "demo", "stderr,a=1,x", SB_CFG_BARE, err, sizeof err),
                     0);
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_string_equal(p.key, "stderr");
    assert_null(p.value);
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_string_equal(p.key, "a");
    assert_string_equal(p.value, "1");
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 1);
    assert_string_equal(p.key, "x");
    assert_null(p.value);
    assert_int_equal(sb_cfg_next(&c, &p, err, sizeof err), 0);
    sb_cfg_end(&c);
    static const char *const bad[][2] = {
        {"stderr,", "demo: CONFIG ends with a ','"},
        {"stderr,,a=1", "demo: CONFIG item 2 is empty"},
        {"a=", "demo: \"a\" needs a value"},
        {"=1", "demo: CONFIG item 1 has no key before '='"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        assert_int_equal(sb_cfg_begin_flags(&c, "demo", bad[i][0], SB_CFG_BARE, err, sizeof err),
                         0);
        while ((rc = sb_cfg_next(&c, &p, err, sizeof err)) == 1)
            ;
        sb_cfg_end(&c);
        assert_int_equal(rc, -1);
        assert_string_equal(err, bad[i][1]);
    }
}

/* sb_cfg_u64n: the number is the `len` bytes given, the rest of the string is not looked at. */
static void integers_by_length(void **state)
{
    (void)state;
    struct sb_cfg c = {.plugin = "rate-limit"};
    uint64_t v = 7;
    assert_int_equal(sb_cfg_u64n(&c, "rate", "20/s", 2, 1, 1000000, &v, err, sizeof err), 0);
    assert_int_equal(v, 20);
    assert_int_equal(
        sb_cfg_u64n(&c, "n", "18446744073709551615x", 20, 0, UINT64_MAX, &v, err, sizeof err), 0);
    assert_true(v == UINT64_MAX);
    const char *bad[] = {"/s",   "-1/s", "+1/s",      " 1/s",
                         "1x/s", "0/s",  "1000001/s", "18446744073709551616/s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        size_t len = (size_t)(strchr(bad[i], '/') - bad[i]);
        assert_int_equal(sb_cfg_u64n(&c, "rate", bad[i], len, 1, 1000000, &v, err, sizeof err), -1);
        assert_int_equal(v, 7);
        char want[128];
        snprintf(want, sizeof want,
                 "rate-limit: \"rate\" wants an integer from 1 to 1000000, got \"%.*s\"", (int)len,
                 bad[i]);
        assert_string_equal(err, want);
    }
}

static void integers(void **state)
{
    (void)state;
    struct sb_cfg c = {.plugin = "rate-limit"};
    uint64_t v = 7;
    assert_int_equal(sb_cfg_u64(&c, "burst", "42", 1, 1000000, &v, err, sizeof err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(
        sb_cfg_u64(&c, "n", "18446744073709551615", 0, UINT64_MAX, &v, err, sizeof err), 0);
    assert_true(v == UINT64_MAX);
    const char *bad[] = {"abc",
                         "",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "1x",
                         "0x10",
                         "18446744073709551616",
                         "99999999999999999999999",
                         "0",
                         "1000001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_int_equal(sb_cfg_u64(&c, "burst", bad[i], 1, 1000000, &v, err, sizeof err), -1);
        assert_int_equal(v, 7);
        char want[128];
        snprintf(want, sizeof want,
                 "rate-limit: \"burst\" wants an integer from 1 to 1000000, got \"%s\"", bad[i]);
        assert_string_equal(err, want);
    }
}

static void durations(void **state)
{
    (void)state;
    struct sb_cfg c = {.plugin = "demo"};
    uint64_t v = 0;
    assert_int_equal(sb_cfg_ms(&c, "t", "250", 1, 600000, &v, err, sizeof err), 0);
    assert_int_equal(v, 250);
    assert_int_equal(sb_cfg_ms(&c, "t", "250ms", 1, 600000, &v, err, sizeof err), 0);
    assert_int_equal(v, 250);
    assert_int_equal(sb_cfg_ms(&c, "t", "3s", 1, 600000, &v, err, sizeof err), 0);
    assert_int_equal(v, 3000);
    assert_int_equal(sb_cfg_ms(&c, "t", "2m", 1, 600000, &v, err, sizeof err), 0);
    assert_int_equal(v, 120000);
    const char *bad[] = {"", "s", "1h", "1 s", "-1", "11m", "0", "18446744073709551615m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sb_cfg_ms(&c, "t", bad[i], 1, 600000, &v, err, sizeof err), -1);
        assert_non_null(strstr(err, "demo: \"t\" wants a duration from 1 to 600000 ms"));
    }
}

static void bools_enums_once_unknown(void **state)
{
    (void)state;
    struct sb_cfg c = {.plugin = "demo"};
    bool b = false;
    assert_int_equal(sb_cfg_bool(&c, "on", "yes", &b, err, sizeof err), 0);
    assert_true(b);
    assert_int_equal(sb_cfg_bool(&c, "on", "0", &b, err, sizeof err), 0);
    assert_false(b);
    assert_int_equal(sb_cfg_bool(&c, "on", "maybe", &b, err, sizeof err), -1);
    assert_string_equal(err, "demo: \"on\" wants true or false, got \"maybe\"");

    static const char *const modes[] = {"allow", "deny", NULL};
    unsigned m = 9;
    assert_int_equal(sb_cfg_enum(&c, "mode", "deny", modes, &m, err, sizeof err), 0);
    assert_int_equal(m, 1);
    assert_int_equal(sb_cfg_enum(&c, "mode", "Deny", modes, &m, err, sizeof err), -1);
    assert_string_equal(err, "demo: \"mode\" wants one of allow, deny, got \"Deny\"");

    bool seen = false;
    assert_int_equal(sb_cfg_once(&c, "mode", &seen, err, sizeof err), 0);
    assert_int_equal(sb_cfg_once(&c, "mode", &seen, err, sizeof err), -1);
    assert_string_equal(err, "demo: \"mode\" is given twice");

    assert_int_equal(sb_cfg_unknown(&c, "colour", err, sizeof err), -1);
    assert_string_equal(err, "demo: unknown key \"colour\"");

    /* A short buffer is cut, never overrun. */
    char tiny[8];
    assert_int_equal(sb_cfg_unknown(&c, "colour", tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "demo: u");
}

static void lists(void **state)
{
    (void)state;
    /* The iterator: items by length, in order, without copies. */
    const char *cursor = "chat|join|x", *item;
    size_t len;
    const char *want[] = {"chat", "join", "x"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sb_cfg_list_next(&cursor, &item, &len), 1);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(item, want[i], len);
    }
    assert_int_equal(sb_cfg_list_next(&cursor, &item, &len), 0);
    assert_int_equal(sb_cfg_list_next(&cursor, &item, &len), 0);
    /* An empty item anywhere, or an empty value, is -1 where it is met. */
    static const char *const bad[] = {"", "|a", "a|", "a||b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc;
        cursor = bad[i];
        while ((rc = sb_cfg_list_next(&cursor, &item, &len)) == 1)
            ;
        assert_int_equal(rc, -1);
    }

    /* The allocating form, bounded, with messages naming the key. */
    struct sb_cfg c = {.plugin = "demo"};
    char **v;
    size_t n;
    assert_int_equal(sb_cfg_strlist(&c, "events", "a|bb|ccc", 3, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "bb");
    assert_string_equal(v[2], "ccc");
    sb_cfg_strlist_free(v, n);
    assert_int_equal(sb_cfg_strlist(&c, "events", "one", 1, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "one");
    sb_cfg_strlist_free(v, n);
    assert_int_equal(sb_cfg_strlist(&c, "events", "a|b|c|d", 3, &v, &n, err, sizeof err), -1);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_string_equal(err, "demo: \"events\" lists at most 3 items separated by '|'");
    assert_int_equal(sb_cfg_strlist(&c, "events", "a||b", 9, &v, &n, err, sizeof err), -1);
    assert_null(v);
    assert_string_equal(
        err, "demo: \"events\" has an empty name in \"a||b\" (names are separated by '|')");
    sb_cfg_strlist_free(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairs_in_order),
        cmocka_unit_test(malformed),
        cmocka_unit_test(quiet),
        cmocka_unit_test(trimmed),
        cmocka_unit_test(bare_keys),
        cmocka_unit_test(integers_by_length),
        cmocka_unit_test(integers),
        cmocka_unit_test(durations),
        cmocka_unit_test(bools_enums_once_unknown),
        cmocka_unit_test(lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
