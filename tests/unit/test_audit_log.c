/*
 * The pure part of plugins/audit-log: CONFIG (defaults, every key, refusals), the event filter,
 * timestamps, and lines: valid JSON with the fields in order, escaping of hostile strings,
 * invalid UTF-8 replaced, null for a missing user or gateway, and no arguments unless asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

#define TS INT64_C(1714566896789) /* 2024-05-01T12:34:56.789Z */

/* ---- CONFIG ---- */

static void opts_bad(const char *config, const char *needle)
{
    struct audit_opts o;
    char err[256] = "";
    int rc = audit_opts_parse(&o, config, err, sizeof(err));
    if (rc == 0)
        fail_msg("'%s' was accepted", config);
    assert_int_equal(rc, SB_EINVAL);
    if (!strstr(err, needle))
        fail_msg("'%s': message '%s' lacks '%s'", config, err, needle);
    assert_null(o.file);
    assert_null(o.events);
}

static void test_opts_defaults(void **unused)
{
    struct audit_opts o;
    char err[256] = "";
    const char *configs[] = {NULL, "", "stderr"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(audit_opts_parse(&o, configs[i], err, sizeof(err)), 0);
        assert_null(o.file);
        assert_int_equal(o.nevents, 0);
        assert_false(o.data); /* arguments may hold personal data: off unless asked */
        assert_false(o.replies);
        assert_true(audit_wants(&o, "anything"));
        audit_opts_free(&o);
    }
}

static void test_opts_all_keys(void **unused)
{
    struct audit_opts o;
    char err[256] = "";
    assert_int_equal(audit_opts_parse(&o,
                                      "file=/var/log/sb/audit.log,events=chat.*|login,"
                                      "data=true,replies=true",
                                      err, sizeof(err)),
                     0);
    assert_string_equal(o.file, "/var/log/sb/audit.log");
    assert_int_equal(o.nevents, 2);
    assert_true(o.data);
    assert_true(o.replies);
    assert_true(audit_wants(&o, "chat.send"));
    assert_true(audit_wants(&o, "login"));
    assert_false(audit_wants(&o, "logout"));
    assert_false(audit_wants(&o, "chat"));
    audit_opts_free(&o);

    assert_int_equal(audit_opts_parse(&o, "stderr,data=false", err, sizeof(err)), 0);
    assert_null(o.file);
    assert_false(o.data);
    audit_opts_free(&o);
}

static void test_opts_errors(void **unused)
{
    opts_bad("file=a,format=csv",
             "audit-log: unknown key \"format\" (keys: stderr, file, events, data, replies)");
    opts_bad("verbose", "audit-log: unknown key \"verbose\"");
    opts_bad("file=a,file=b", "audit-log: \"file\" is given twice");
    opts_bad("file=a,stderr", "give file= or stderr, not both");
    opts_bad("stderr=yes", "audit-log: \"stderr\" takes no value");
    opts_bad("file=", "audit-log: \"file\" needs a value");
    opts_bad("file", "audit-log: \"file\" needs a value");
    opts_bad("data=yes", "audit-log: \"data\" wants one of false, true, got \"yes\"");
    opts_bad("replies=1", "audit-log: \"replies\" wants one of false, true, got \"1\"");
    opts_bad("events=a||b", "empty name");
    opts_bad("stderr,,data=true", "audit-log: CONFIG item 2 is empty");
    opts_bad("stderr,stderr", "audit-log: \"stderr\" is given twice");
    opts_bad("file=a,", "audit-log: CONFIG ends with a ','");
    opts_bad("file=a,events=x|y,data=maybe",
             "audit-log: \"data\" wants one of false, true, got \"maybe\"");
}

/* ---- timestamps ---- */

static void test_timestamps(void **unused)
{
    char ts[32];
    assert_int_equal(audit_format_ts(TS, ts, sizeof(ts)), 0);
    assert_string_equal(ts, "2024-05-01T12:34:56.789Z");
    assert_int_equal(audit_format_ts(0, ts, sizeof(ts)), 0);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    assert_int_equal(audit_format_ts(1005, ts, sizeof(ts)), 0);
    assert_string_equal(ts, "1970-01-01T00:00:01.005Z");
    assert_int_equal(audit_format_ts(-1, ts, sizeof(ts)), 0);
    assert_string_equal(ts, "1969-12-31T23:59:59.999Z");
    assert_int_equal(audit_format_ts(TS, ts, 16), SB_EINVAL);
    assert_int_equal(audit_format_ts(INT64_MAX, ts, sizeof(ts)), SB_EINVAL);
}

/* ---- lines ---- */

/* Formats `e`, checks the line ends with exactly one newline and parses it. */
static json_t *line_of(const struct audit_entry *e, char **text)
{
    size_t len = 0;
    char *line = audit_format(e, &len);
    assert_non_null(line);
    assert_int_equal(strlen(line), len);
    assert_true(len > 2);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* one line, whatever the strings held */
    json_error_t jerr;
    json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        fail_msg("not JSON (%s): %s", jerr.text, line);
    assert_true(json_is_object(v));
    if (text)
        *text = line;
    else
        free(line);
    return v;
}

static void test_line_fields(void **unused)
{
    struct audit_entry e = {
        .ts_ms = TS,
        .type = "event",
        .gateway = "chat",
        .nsp = "/",
        .socket = "sock-1",
        .user = "alice",
        .event = "message",
        .args = "[{\"room\":\"lobby\",\"text\":\"hi\"}]",
    };
    char *text = NULL;
    json_t *v = line_of(&e, &text);
    assert_string_equal(text, "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"type\":\"event\","
                              "\"gateway\":\"chat\",\"nsp\":\"/\",\"socket\":\"sock-1\","
                              "\"user\":\"alice\",\"event\":\"message\","
                              "\"args\":[{\"room\":\"lobby\",\"text\":\"hi\"}]}\n");
    free(text);
    json_decref(v);
}

static void test_line_without_data(void **unused)
{
    /* Anonymous, no gateway (a global interceptor saw an event without handler), no args. */
    struct audit_entry e = {.ts_ms = TS, .nsp = "/admin", .socket = "s", .event = "nope"};
    json_t *v = line_of(&e, NULL);
    assert_true(json_is_null(json_object_get(v, "user")));
    assert_true(json_is_null(json_object_get(v, "gateway")));
    assert_string_equal(json_string_value(json_object_get(v, "type")), "event");
    assert_string_equal(json_string_value(json_object_get(v, "nsp")), "/admin");
    assert_null(json_object_get(v, "args"));
    assert_null(json_object_get(v, "reply"));
    assert_int_equal(json_object_size(v), 7);
    json_decref(v);
}

static void test_line_reply(void **unused)
{
    struct audit_entry e = {.ts_ms = TS,
                            .type = "reply",
                            .gateway = "events",
                            .nsp = "/",
                            .socket = "s",
                            .user = "bob",
                            .event = "events",
                            .reply = "events",
                            .args = "[3]"};
    json_t *v = line_of(&e, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "reply");
    assert_string_equal(json_string_value(json_object_get(v, "reply")), "events");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(v, "args"), 0)), 3);
    json_decref(v);
}

static void test_line_escaping(void **unused)
{
    /* Every string a client or a token issuer controls, made as hostile as possible. */
    const char *evil = "a\"b\\c\nd\re\tf\x01g</script>\xe2\x82\xac";
    struct audit_entry e = {.ts_ms = TS,
                            .gateway = "gw",
                            .nsp = "/n\"s",
                            .socket = "s",
                            .user = evil,
                            .event = evil,
                            .args = "[\"x\\n\\\"y\"]"};
    char *text = NULL;
    json_t *v = line_of(&e, &text);
    assert_string_equal(json_string_value(json_object_get(v, "user")), evil);
    assert_string_equal(json_string_value(json_object_get(v, "event")), evil);
    assert_string_equal(json_string_value(json_object_get(v, "nsp")), "/n\"s");
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "args"), 0)), "x\n\"y");
    /* A user id cannot smuggle in a field. */
    e.user = "x\",\"user\":\"admin";
    json_decref(v);
    free(text);
    v = line_of(&e, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "user")), "x\",\"user\":\"admin");
    json_decref(v);
}

static void test_line_invalid_utf8(void **unused)
{
    struct audit_entry e = {.ts_ms = TS,
                            .nsp = "/",
                            .socket = "s",
                            .user = "b\xff\xfe"
                                    "d",
                            .event = "e\xc3"};
    json_t *v = line_of(&e, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "user")), "b??d");
    assert_string_equal(json_string_value(json_object_get(v, "event")), "e?");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_defaults),     cmocka_unit_test(test_opts_all_keys),
        cmocka_unit_test(test_opts_errors),       cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_line_fields),       cmocka_unit_test(test_line_without_data),
        cmocka_unit_test(test_line_reply),        cmocka_unit_test(test_line_escaping),
        cmocka_unit_test(test_line_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
