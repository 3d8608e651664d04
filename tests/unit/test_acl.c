/*
 * The pure part of plugins/acl: CONFIG, rules-file parsing (what is accepted, what is refused
 * with which file:line), and decisions: first match wins, wildcards, users, anonymous and
 * authenticated sockets, claims, the permissions claim, the default, and the room argument.
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

#include "acl.h"

/* ---- helpers ---- */

static void rules_ok(struct acl *acl, const char *text)
{
    char err[256] = "";
    int rc = acl_rules_parse(acl, text, strlen(text), "rules.txt", err, sizeof(err));
    if (rc != 0)
        fail_msg("rules refused: %s", err);
}

static void rules_bad(const char *text, const char *needle)
{
    struct acl acl;
    char err[256] = "";
    acl_init(&acl);
    int rc = acl_rules_parse(&acl, text, strlen(text), "rules.txt", err, sizeof(err));
    if (rc == 0)
        fail_msg("'%s' was accepted", text);
    assert_int_equal(rc, SB_EINVAL);
    if (!strstr(err, needle))
        fail_msg("'%s': message '%s' lacks '%s'", text, err, needle);
    acl_free(&acl);
}

static void options_bad(const char *config, const char *needle)
{
    struct acl acl;
    char err[256] = "";
    acl_init(&acl);
    int rc = acl_options_parse(&acl, config, err, sizeof(err));
    if (rc == 0)
        fail_msg("'%s' was accepted", config ? config : "(null)");
    assert_int_equal(rc, SB_EINVAL);
    if (!strstr(err, needle))
        fail_msg("'%s': message '%s' lacks '%s'", config ? config : "(null)", err, needle);
    acl_free(&acl);
}

/* The decision for a subject given as a user (or NULL) and a claims JSON text (or NULL). */
static enum acl_effect decide(const struct acl *acl, const char *user, const char *claims,
                              enum acl_kind kind, const char *name, unsigned *line)
{
    json_t *c = claims ? json_loads(claims, 0, NULL) : NULL;
    if (claims)
        assert_non_null(c);
    struct acl_subject s = {.user = user, .claims = c};
    struct acl_verdict v = acl_check(acl, &s, kind, name);
    json_decref(c);
    if (line)
        *line = v.line;
    return v.effect;
}

#define ALLOWED(acl, user, claims, kind, name)                                                     \
    assert_int_equal(decide(acl, user, claims, kind, name, NULL), ACL_ALLOW)
#define DENIED(acl, user, claims, kind, name)                                                      \
    assert_int_equal(decide(acl, user, claims, kind, name, NULL), ACL_DENY)

/* ---- CONFIG ---- */

static void test_options(void **unused)
{
    struct acl acl;
    char err[256] = "";

    acl_init(&acl);
    assert_int_equal(acl_options_parse(&acl, "/etc/switchboard/acl.rules", err, sizeof(err)), 0);
    assert_string_equal(acl.rules_path, "/etc/switchboard/acl.rules");
    assert_null(acl.claim);
    assert_int_equal(acl.dflt, ACL_DENY);
    assert_string_equal(acl.message, "forbidden");
    acl_free(&acl);

    acl_init(&acl);
    assert_int_equal(acl_options_parse(&acl,
                                       "rules=a.rules,claims=permissions,default=allow,"
                                       "message=access denied",
                                       err, sizeof(err)),
                     0);
    assert_string_equal(acl.rules_path, "a.rules");
    assert_string_equal(acl.claim, "permissions");
    assert_int_equal(acl.dflt, ACL_ALLOW);
    assert_string_equal(acl.message, "access denied");
    acl_free(&acl);

    acl_init(&acl);
    assert_int_equal(acl_options_parse(&acl, "claims=scope", err, sizeof(err)), 0);
    assert_null(acl.rules_path);
    acl_free(&acl);

    options_bad(NULL, "CONFIG is required");
    options_bad("", "CONFIG is required");
    options_bad("default=allow", "give rules=<path>, claims=<claim name>, or both");
    options_bad("rules=a,color=red", "unknown key 'color'");
    options_bad("rules=a,rules=b", "rules is given twice");
    options_bad("rules=a,default=maybe", "default must be allow or deny");
    options_bad("rules=a,default=deny,default=allow", "default is given twice");
    options_bad("rules=", "rules= needs a value");
    options_bad("rules=a,", "CONFIG item 2 is empty");
    options_bad("rules=a,claims", "CONFIG item 2 is not key=value");
    options_bad("rules=a,message=x\ty", "control character");
}

static void test_configure_reads_the_file(void **unused)
{
    char path[] = "/tmp/test_acl_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "allow * event ping\ndeny * event *\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    struct acl acl;
    char err[256] = "", config[300];
    acl_init(&acl);
    snprintf(config, sizeof(config), "rules=%s,default=allow", path);
    assert_int_equal(acl_configure(&acl, config, err, sizeof(err)), 0);
    assert_int_equal(acl.n, 2);
    ALLOWED(&acl, NULL, NULL, ACL_EVENT, "ping");
    DENIED(&acl, NULL, NULL, ACL_EVENT, "pong");
    acl_free(&acl);
    unlink(path);

    acl_init(&acl);
    assert_int_equal(acl_configure(&acl, path, err, sizeof(err)), SB_EIO);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "cannot open"));
    acl_free(&acl);
}

/* ---- the rules file ---- */

static void test_parse_rules(void **unused)
{
    struct acl acl;
    acl_init(&acl);
    rules_ok(&acl, "# comment\n"
                   "\n"
                   "   \t\n"
                   "  # indented comment\n"
                   "allow * event ping\n"
                   "deny\tanonymous  namespace /admin*\r\n"
                   "allow authenticated room lobby\n"
                   "allow user:alice event *\n"
                   "deny claim:role=guest event admin.*\n"
                   "allow claim:url=a=b event x"); /* no final newline; '=' in the value */
    assert_int_equal(acl.n, 6);
    assert_int_equal(acl.rules[0].effect, ACL_ALLOW);
    assert_int_equal(acl.rules[0].who, ACL_WHO_ANY);
    assert_int_equal(acl.rules[0].kind, ACL_EVENT);
    assert_string_equal(acl.rules[0].pattern, "ping");
    assert_int_equal(acl.rules[0].line, 5);
    assert_int_equal(acl.rules[1].effect, ACL_DENY);
    assert_int_equal(acl.rules[1].who, ACL_WHO_ANONYMOUS);
    assert_int_equal(acl.rules[1].kind, ACL_NAMESPACE);
    assert_string_equal(acl.rules[1].pattern, "/admin*");
    assert_int_equal(acl.rules[2].who, ACL_WHO_AUTHENTICATED);
    assert_int_equal(acl.rules[2].kind, ACL_ROOM);
    assert_int_equal(acl.rules[3].who, ACL_WHO_USER);
    assert_string_equal(acl.rules[3].name, "alice");
    assert_int_equal(acl.rules[4].who, ACL_WHO_CLAIM);
    assert_string_equal(acl.rules[4].name, "role");
    assert_string_equal(acl.rules[4].value, "guest");
    assert_string_equal(acl.rules[5].name, "url");
    assert_string_equal(acl.rules[5].value, "a=b");
    assert_int_equal(acl.rules[5].line, 10);
    acl_free(&acl);

    /* An empty file is valid. */
    acl_init(&acl);
    rules_ok(&acl, "");
    rules_ok(&acl, "# nothing\n");
    assert_int_equal(acl.n, 0);
    acl_free(&acl);
}

static void test_parse_errors(void **unused)
{
    rules_bad("allow * event", "rules.txt:1: missing fields");
    rules_bad("# c\nallow * event x y", "rules.txt:2: too many fields");
    rules_bad("permit * event x", "rules.txt:1: the first field must be allow or deny");
    rules_bad("allow everyone event x", "WHO must be *, anonymous, authenticated");
    rules_bad("allow user: event x", "user: needs a user id");
    rules_bad("allow claim:role event x", "expected claim:<name>=<value>");
    rules_bad("allow claim:=x event x", "expected claim:<name>=<value>");
    rules_bad("allow * events x", "WHAT must be event, namespace or room");
    rules_bad("allow * event x\x01", "control character");
    rules_bad("allow * event ok\n\nallow * room", "rules.txt:3: missing fields");
}

/* ---- decisions ---- */

static void test_first_match_wins(void **unused)
{
    struct acl acl;
    acl_init(&acl);
    acl.dflt = ACL_ALLOW;
    rules_ok(&acl, "deny user:mallory event *\n"
                   "allow * event ping\n"
                   "deny * event ping\n"
                   "deny * event admin.*\n");
    unsigned line = 0;
    assert_int_equal(decide(&acl, "mallory", NULL, ACL_EVENT, "ping", &line), ACL_DENY);
    assert_int_equal(line, 1);
    assert_int_equal(decide(&acl, "alice", NULL, ACL_EVENT, "ping", &line), ACL_ALLOW);
    assert_int_equal(line, 2);
    assert_int_equal(decide(&acl, "alice", NULL, ACL_EVENT, "admin.reset", &line), ACL_DENY);
    assert_int_equal(line, 4);
    assert_int_equal(decide(&acl, "alice", NULL, ACL_EVENT, "other", &line), ACL_ALLOW);
    assert_int_equal(line, 0); /* the default */
    /* Rules of one kind never decide another. */
    ALLOWED(&acl, "mallory", NULL, ACL_ROOM, "ping");
    ALLOWED(&acl, "mallory", NULL, ACL_NAMESPACE, "/");
    acl_free(&acl);
}

static void test_who(void **unused)
{
    struct acl acl;
    acl_init(&acl);
    rules_ok(&acl, "allow anonymous event anon.*\n"
                   "allow authenticated event auth.*\n"
                   "allow user:alice event alice.*\n"
                   "allow user:svc-* event svc.*\n"
                   "allow * event any.*\n");
    ALLOWED(&acl, NULL, NULL, ACL_EVENT, "anon.x");
    DENIED(&acl, "bob", NULL, ACL_EVENT, "anon.x");
    DENIED(&acl, NULL, NULL, ACL_EVENT, "auth.x");
    ALLOWED(&acl, "bob", NULL, ACL_EVENT, "auth.x");
    ALLOWED(&acl, "alice", NULL, ACL_EVENT, "alice.x");
    DENIED(&acl, "bob", NULL, ACL_EVENT, "alice.x");
    DENIED(&acl, "alice2", NULL, ACL_EVENT, "alice.x");
    DENIED(&acl, NULL, NULL, ACL_EVENT, "alice.x");
    ALLOWED(&acl, "svc-mailer", NULL, ACL_EVENT, "svc.send");
    DENIED(&acl, "mailer", NULL, ACL_EVENT, "svc.send");
    ALLOWED(&acl, NULL, NULL, ACL_EVENT, "any.x");
    ALLOWED(&acl, "bob", NULL, ACL_EVENT, "any.x");
    DENIED(&acl, "bob", NULL, ACL_EVENT, "nothing");
    acl_free(&acl);
}

static void test_claims_rules(void **unused)
{
    struct acl acl;
    acl_init(&acl);
    rules_ok(&acl, "deny claim:banned=true event *\n"
                   "allow claim:role=admin event admin.*\n"
                   "allow claim:groups=ops event ops.*\n"
                   "allow claim:level=4* event level\n"
                   "allow claim:team=* event team\n");
    const char *admin = "{\"role\":\"admin\"}";
    ALLOWED(&acl, "a", admin, ACL_EVENT, "admin.reset");
    DENIED(&acl, "a", "{\"role\":\"user\"}", ACL_EVENT, "admin.reset");
    DENIED(&acl, "a", "{}", ACL_EVENT, "admin.reset");
    DENIED(&acl, "a", NULL, ACL_EVENT, "admin.reset");
    DENIED(&acl, "a", "{\"role\":\"admin\",\"banned\":true}", ACL_EVENT, "admin.reset");
    ALLOWED(&acl, "a", "{\"role\":[\"user\",\"admin\"]}", ACL_EVENT, "admin.reset");
    DENIED(&acl, "a", admin, ACL_EVENT, "x"); /* no rule: the default */
    /* An array holds the value; nested objects never match. */
    ALLOWED(&acl, "a", "{\"groups\":[\"dev\",\"ops\"]}", ACL_EVENT, "ops.restart");
    DENIED(&acl, "a", "{\"groups\":[\"dev\"]}", ACL_EVENT, "ops.restart");
    DENIED(&acl, "a", "{\"groups\":{\"ops\":true}}", ACL_EVENT, "ops.restart");
    /* Numbers compare as their JSON text, with wildcards. */
    ALLOWED(&acl, "a", "{\"level\":42}", ACL_EVENT, "level");
    ALLOWED(&acl, "a", "{\"level\":\"4\"}", ACL_EVENT, "level");
    DENIED(&acl, "a", "{\"level\":5}", ACL_EVENT, "level");
    /* "*" as a value: the claim exists (and is not null or an object). */
    ALLOWED(&acl, "a", "{\"team\":\"\"}", ACL_EVENT, "team");
    DENIED(&acl, "a", "{\"team\":null}", ACL_EVENT, "team");
    DENIED(&acl, "a", "{}", ACL_EVENT, "team");
    assert_true(acl_uses_claims(&acl));
    acl_free(&acl);
}

static void test_permissions_claim(void **unused)
{
    struct acl acl;
    char err[256] = "";
    acl_init(&acl);
    assert_int_equal(acl_options_parse(&acl, "claims=permissions", err, sizeof(err)), 0);
    assert_true(acl_uses_claims(&acl));
    const char *perms =
        "{\"permissions\":[\"event:chat.*\",\"namespace:/\",\"room:lobby\",\"bogus\",7]}";
    ALLOWED(&acl, "u", perms, ACL_EVENT, "chat.send");
    DENIED(&acl, "u", perms, ACL_EVENT, "admin.reset");
    ALLOWED(&acl, "u", perms, ACL_NAMESPACE, "/");
    DENIED(&acl, "u", perms, ACL_NAMESPACE, "/admin");
    ALLOWED(&acl, "u", perms, ACL_ROOM, "lobby");
    DENIED(&acl, "u", perms, ACL_ROOM, "vip");
    /* A grant of one kind does not grant another. */
    DENIED(&acl, "u", "{\"permissions\":[\"event:lobby\"]}", ACL_ROOM, "lobby");
    /* An OAuth-style space-separated string works too. */
    const char *scope = "{\"permissions\":\"namespace:/ event:ping  room:*\"}";
    ALLOWED(&acl, "u", scope, ACL_EVENT, "ping");
    ALLOWED(&acl, "u", scope, ACL_ROOM, "anything");
    DENIED(&acl, "u", scope, ACL_EVENT, "pong");
    /* No claim, another claim, a claim of the wrong type. */
    DENIED(&acl, "u", "{}", ACL_EVENT, "chat.send");
    DENIED(&acl, NULL, NULL, ACL_EVENT, "chat.send");
    DENIED(&acl, "u", "{\"scope\":[\"event:chat.*\"]}", ACL_EVENT, "chat.send");
    DENIED(&acl, "u", "{\"permissions\":{\"event:chat.*\":true}}", ACL_EVENT, "chat.send");

    /* File rules come first: a deny rule beats a grant; a grant beats the default. */
    rules_ok(&acl, "deny user:mallory event *\n");
    DENIED(&acl, "mallory", perms, ACL_EVENT, "chat.send");
    ALLOWED(&acl, "alice", perms, ACL_EVENT, "chat.send");
    acl_free(&acl);
}

static void test_default(void **unused)
{
    struct acl acl;
    acl_init(&acl);
    rules_ok(&acl, "allow * event ping\n");
    DENIED(&acl, "u", NULL, ACL_EVENT, "pong");
    DENIED(&acl, "u", NULL, ACL_NAMESPACE, "/");
    DENIED(&acl, "u", NULL, ACL_ROOM, "lobby");
    assert_true(acl_checks_rooms(&acl));
    assert_false(acl_uses_claims(&acl));
    acl.dflt = ACL_ALLOW;
    ALLOWED(&acl, "u", NULL, ACL_EVENT, "pong");
    ALLOWED(&acl, "u", NULL, ACL_ROOM, "lobby");
    /* With default allow and no deny room rule no room can be refused. */
    assert_false(acl_checks_rooms(&acl));
    rules_ok(&acl, "deny * room vip\n");
    assert_true(acl_checks_rooms(&acl));
    acl_free(&acl);
}

static void test_wildcards(void **unused)
{
    assert_true(glob_match("*", ""));
    assert_true(glob_match("/admin*", "/admin"));
    assert_true(glob_match("/admin*", "/admin/x"));
    assert_false(glob_match("/admin*", "/adm"));
    assert_true(glob_match("chat.*.send", "chat.room.send"));
    assert_false(glob_match("chat.*.send", "chat.room.sent"));
    assert_true(glob_match("*a*a*a", "aaaa"));
    assert_false(glob_match("*a*a*a", "aab"));
    assert_false(glob_match("exact", "exactly"));
    assert_false(glob_match("exact", "Exact")); /* case matters */
}

static void test_room_of(void **unused)
{
    const char *room = NULL;
    json_t *args = json_loads("[{\"room\":\"lobby\",\"text\":\"hi\"}, 2]", 0, NULL);
    assert_int_equal(acl_room_of(args, &room), 1);
    assert_string_equal(room, "lobby");
    json_decref(args);

    const char *none[] = {"[]",
                          "[\"lobby\"]",
                          "[{\"room\":5}]",
                          "[{\"rooms\":\"x\"}]",
                          "[1, {\"room\":\"x\"}]",
                          "[{\"room\":null}]"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        args = json_loads(none[i], 0, NULL);
        assert_non_null(args);
        room = "set";
        assert_int_equal(acl_room_of(args, &room), 0);
        assert_null(room);
        json_decref(args);
    }
    assert_int_equal(acl_room_of(NULL, &room), 0);

    args = json_loads("[{\"room\":\"vip\\u0000x\"}]", JSON_ALLOW_NUL, NULL);
    assert_non_null(args);
    assert_int_equal(acl_room_of(args, &room), SB_EINVAL);
    json_decref(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),          cmocka_unit_test(test_configure_reads_the_file),
        cmocka_unit_test(test_parse_rules),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_first_match_wins), cmocka_unit_test(test_who),
        cmocka_unit_test(test_claims_rules),     cmocka_unit_test(test_permissions_claim),
        cmocka_unit_test(test_default),          cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_room_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
