/*
 * The tokens-file parser and table of plugins/auth-static: what is accepted, what is refused
 * with which file:line, and that lookups find exactly the listed tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tokens.h"

static const char *lookup(const struct tokens *t, const char *token)
{
    return tokens_lookup(t, token, strlen(token));
}

static int parse(struct tokens *t, const char *text, char *err, size_t errlen)
{
    return tokens_parse(t, text, strlen(text), "tokens.txt", err, errlen);
}

static void test_valid_file(void **unused)
{
    struct tokens t;
    char err[256] = "";
    tokens_init(&t);
    assert_int_equal(parse(&t, "tok-alice alice\ntok-bob\tbob\n", err, sizeof(err)), 0);
    assert_int_equal(t.count, 2);
    assert_string_equal(lookup(&t, "tok-alice"), "alice");
    assert_string_equal(lookup(&t, "tok-bob"), "bob");
    assert_string_equal(err, "");
    tokens_free(&t);
    assert_int_equal(t.count, 0);
    assert_null(t.slots);
}

static void test_comments_blank_lines_and_extras(void **unused)
{
    const char *text = "# demo tokens\n"
                       "\n"
                       "   \t \n"
                       "   # an indented comment\n"
                       "  a1   user-1  \n"
                       "a2 user-2 {\"role\":\"admin\"}\n" /* third field ignored */
                       "a3\tuser-3\r\n"                   /* CRLF */
                       "#a4 user-4\n"
                       "a5 user-5"; /* no final newline */
    struct tokens t;
    char err[256] = "";
    tokens_init(&t);
    assert_int_equal(parse(&t, text, err, sizeof(err)), 0);
    assert_int_equal(t.count, 4);
    assert_string_equal(lookup(&t, "a1"), "user-1");
    assert_string_equal(lookup(&t, "a2"), "user-2");
    assert_string_equal(lookup(&t, "a3"), "user-3");
    assert_string_equal(lookup(&t, "a5"), "user-5");
    assert_null(lookup(&t, "#a4"));
    assert_null(lookup(&t, "a3\r"));
    tokens_free(&t);
}

static void test_empty_file(void **unused)
{
    struct tokens t;
    char err[64] = "";
    tokens_init(&t);
    assert_int_equal(tokens_parse(&t, "", 0, "empty", err, sizeof(err)), 0);
    assert_int_equal(parse(&t, "# nothing\n\n", err, sizeof(err)), 0);
    assert_int_equal(t.count, 0);
    assert_null(lookup(&t, "anything"));
    assert_null(lookup(&t, ""));
    tokens_free(&t);
}

/* Parses `text`, expects failure `rc` with exactly `msg`, and that no token leaks into it. */
static void refused(const char *text, int rc, const char *msg, const char *secret)
{
    struct tokens t;
    char err[256] = "";
    tokens_init(&t);
    assert_int_equal(parse(&t, text, err, sizeof(err)), rc);
    assert_string_equal(err, msg);
    if (secret)
        assert_null(strstr(err, secret));
    tokens_free(&t);
}

static void test_malformed_lines(void **unused)
{
    refused("ok-token alice\nsecret-without-user\n", SB_EINVAL,
            "tokens.txt:2: missing user id after the token", "secret-without-user");
    refused("# header\n\nsecret-four a b c\n", SB_EINVAL,
            "tokens.txt:3: too many fields (expected: token user-id [extra])", "secret-four");
    refused("secret-ctl\x01 alice\n", SB_EINVAL, "tokens.txt:1: control character", "secret-ctl");
    refused("a alice\nsecret-del\x7f bob\n", SB_EINVAL, "tokens.txt:2: control character",
            "secret-del");
    refused("a alice\nb bob\r\r\n", SB_EINVAL, "tokens.txt:2: control character", NULL);
}

static void test_nul_byte_refused(void **unused)
{
    struct tokens t;
    char err[128] = "";
    tokens_init(&t);
    assert_int_equal(tokens_parse(&t, "a al\0ice\n", 9, "f", err, sizeof(err)), SB_EINVAL);
    assert_string_equal(err, "f:1: control character");
    tokens_free(&t);
}

static void test_duplicate_token(void **unused)
{
    refused("# users\nsecret-dup alice\nother bob\n\nsecret-dup carol\n", SB_EEXISTS,
            "tokens.txt:5: duplicate token (first defined on line 2)", "secret-dup");
    /* The same user under two tokens is fine. */
    struct tokens t;
    char err[128] = "";
    tokens_init(&t);
    assert_int_equal(parse(&t, "t1 alice\nt2 alice\n", err, sizeof(err)), 0);
    assert_int_equal(t.count, 2);
    tokens_free(&t);
}

static void test_lookup_hit_and_miss(void **unused)
{
    struct tokens t;
    char err[128] = "";
    tokens_init(&t);
    assert_int_equal(parse(&t, "s3cret-token-0001 alice\n", err, sizeof(err)), 0);
    assert_string_equal(lookup(&t, "s3cret-token-0001"), "alice");
    /* Prefixes, extensions and near misses all miss. */
    assert_null(lookup(&t, "s3cret-token-000"));
    assert_null(lookup(&t, "s3cret-token-00011"));
    assert_null(lookup(&t, "s3cret-token-0002"));
    assert_null(lookup(&t, "S3cret-token-0001"));
    assert_null(lookup(&t, ""));
    /* The length given is what counts, not a NUL. */
    assert_string_equal(tokens_lookup(&t, "s3cret-token-0001-and-more", 17), "alice");
    tokens_free(&t);
}

static void test_many_tokens(void **unused)
{
    /* Enough entries to grow the table several times. */
    struct tokens t;
    char err[128] = "", line[64];
    tokens_init(&t);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof(line), "token-%d user-%d\n", i, i);
        assert_int_equal(tokens_parse(&t, line, (size_t)n, "gen", err, sizeof(err)), 0);
    }
    assert_int_equal(t.count, 1000);
    for (int i = 0; i < 1000; i++) {
        char tok[32], user[32];
        snprintf(tok, sizeof(tok), "token-%d", i);
        snprintf(user, sizeof(user), "user-%d", i);
        assert_string_equal(lookup(&t, tok), user);
    }
    assert_null(lookup(&t, "token-1000"));
    tokens_free(&t);
}

static void test_load_file(void **unused)
{
    char path[] = "/tmp/sb-test-tokens-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# demo\nfile-token-1 alice\nfile-token-2 bob\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    struct tokens t;
    char err[512] = "";
    tokens_init(&t);
    assert_int_equal(tokens_load(&t, path, err, sizeof(err)), 0);
    assert_string_equal(lookup(&t, "file-token-2"), "bob");
    tokens_free(&t);

    /* A bad line is reported against the path given. */
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("file-token-1 carol\n", f);
    fclose(f);
    char expected[600];
    snprintf(expected, sizeof(expected), "%s:4: duplicate token (first defined on line 2)", path);
    tokens_init(&t);
    assert_int_equal(tokens_load(&t, path, err, sizeof(err)), SB_EEXISTS);
    assert_string_equal(err, expected);
    tokens_free(&t);
    unlink(path);
}

static void test_unreadable_file(void **unused)
{
    struct tokens t;
    char err[512] = "";
    tokens_init(&t);
    assert_int_equal(tokens_load(&t, "/nonexistent/sb-tokens.txt", err, sizeof(err)), SB_EIO);
    assert_string_equal(err, "/nonexistent/sb-tokens.txt: cannot open: No such file or directory");
    /* A directory opens but cannot be read. */
    assert_int_equal(tokens_load(&t, "/", err, sizeof(err)), SB_EIO);
    assert_non_null(strstr(err, "/: cannot "));
    assert_int_equal(t.count, 0);
    tokens_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_comments_blank_lines_and_extras),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_nul_byte_refused),
        cmocka_unit_test(test_duplicate_token),
        cmocka_unit_test(test_lookup_hit_and_miss),
        cmocka_unit_test(test_many_tokens),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_unreadable_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
