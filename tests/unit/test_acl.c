/*
 * The pure part of plugins/acl: CONFIG, rules-file parsing (what is accepted, what is refused
 * with which file:line), and decisions: first match wins, wildcards, users, anonymous and
 * authenticated sockets, claims, the permissions claim, the default, and the room argument.
 * Then the plugin itself (plugins/acl/acl_plugin.c, linked in) through its descriptor with a
 * fake host: the namespace refused at connect (before_connect), room joins (before_join), the
 * refusal message, events, and a host older than ABI 1.4.
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

#include <switchboard/plugin.h>

extern const sb_plugin_t sb_plugin_entry;

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
    options_bad("rules=a,color=red",
                "acl: unknown key \"color\" (keys: rules, claims, default, message)");
    options_bad("rules=a,rules=b", "acl: \"rules\" is given twice");
    options_bad("rules=a,default=maybe",
                "acl: \"default\" wants one of allow, deny, got \"maybe\"");
    options_bad("rules=a,default=deny,default=allow", "acl: \"default\" is given twice");
    options_bad("rules=", "acl: \"rules\" needs a value");
    options_bad("rules=a,", "acl: CONFIG ends with a ','");
    options_bad("rules=a,claims", "acl: CONFIG item \"claims\" wants key=value (keys: rules");
    options_bad("rules=a,message=x\ty", "control character");
    options_bad("rules=a,,claims=b", "acl: CONFIG item 2 is empty");
    options_bad("rules=a,message=a,message=b", "acl: \"message\" is given twice");
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

/* ---- the plugin, with a fake host ---- */

struct sb_host {
    char log[4096];
    size_t loglen;
};

struct sb_socket {
    const char *id, *user, *nsp, *claims;
    char error[256]; /* what socket_set_error() set */
    int errors;      /* how many times */
};

struct sb_event {
    sb_socket_t *sock;
    const char *name, *args;
    char error[256];
};

static struct sb_host host;

static void fake_log(sb_host_t *h, int level, const char *fmt, ...)
{
    va_list ap;
    if (h->loglen + 256 >= sizeof(h->log))
        h->loglen = 0;
    va_start(ap, fmt);
    h->loglen += (size_t)vsnprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, fmt, ap);
    va_end(ap);
    h->loglen += (size_t)snprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, "\n");
}

static const char *fake_strerror(int err)
{
    return "error";
}

static const char *sock_id(const sb_socket_t *s)
{
    return s->id;
}

static const char *sock_user(const sb_socket_t *s)
{
    return s->user;
}

static const char *sock_nsp(const sb_socket_t *s)
{
    return s->nsp;
}

static const char *sock_claims(const sb_socket_t *s)
{
    return s->claims ? s->claims : "{}";
}

static int sock_set_error(sb_socket_t *s, const char *message)
{
    snprintf(s->error, sizeof(s->error), "%s", message);
    s->errors++;
    return 0;
}

static sb_socket_t *ev_socket(const sb_event_t *ev)
{
    return ev->sock;
}

static const char *ev_name(const sb_event_t *ev)
{
    return ev->name;
}

static const char *ev_args(const sb_event_t *ev)
{
    return ev->args ? ev->args : "[]";
}

static int ev_set_error(sb_event_t *ev, const char *message)
{
    snprintf(ev->error, sizeof(ev->error), "%s", message);
    return 0;
}

static const sb_host_api_t api = {
    .size = sizeof(sb_host_api_t),
    .abi_major = SB_PLUGIN_ABI_MAJOR,
    .abi_minor = SB_PLUGIN_ABI_MINOR,
    .log_msg = fake_log,
    .strerror = fake_strerror,
    .socket_id = sock_id,
    .socket_user = sock_user,
    .socket_nsp = sock_nsp,
    .socket_claims = sock_claims,
    .event_socket = ev_socket,
    .event_name = ev_name,
    .event_args = ev_args,
    .event_set_error = ev_set_error,
    .socket_set_error = sock_set_error,
};

static char rules_path[64];

/* Starts the plugin with `rules` (a rules file's text, or NULL for none) and `options`
 * (CONFIG items after rules=, or the whole CONFIG without rules). */
static void *start_with(const sb_host_api_t *a, const char *rules, const char *options)
{
    char config[512], err[256] = "";
    void *state = NULL;
    if (rules) {
        snprintf(rules_path, sizeof(rules_path), "/tmp/test_acl_plugin_XXXXXX");
        int fd = mkstemp(rules_path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, rules, strlen(rules)), (ssize_t)strlen(rules));
        close(fd);
        snprintf(config, sizeof(config), "rules=%s%s%s", rules_path, options ? "," : "",
                 options ? options : "");
    } else {
        snprintf(config, sizeof(config), "%s", options);
    }
    host.loglen = 0;
    host.log[0] = '\0';
    int rc = sb_plugin_entry.init(a, &host, config, &state, err, sizeof(err));
    if (rules)
        unlink(rules_path);
    if (rc != 0)
        fail_msg("init(%s) failed: %s", config, err);
    return state;
}

static void *start(const char *rules, const char *options)
{
    return start_with(&api, rules, options);
}

/* before_connect for a socket of `user` (or NULL) with `claims` (or NULL) in `nsp`. On a refusal
 * `message` is what the socket was told (NULL: expect no socket_set_error at all). */
static sb_verdict_t connect_as(void *state, const char *user, const char *claims, const char *nsp,
                               char *message)
{
    sb_socket_t s = {.id = "s1", .user = user, .nsp = nsp, .claims = claims};
    sb_verdict_t v = sb_plugin_entry.before_connect(state, &s);
    if (v == SB_CONTINUE)
        assert_int_equal(s.errors, 0);
    if (message)
        snprintf(message, 256, "%s", s.error);
    return v;
}

static sb_verdict_t join_as(void *state, const char *user, const char *claims, const char *room,
                            char *message)
{
    sb_socket_t s = {.id = "s1", .user = user, .nsp = "/", .claims = claims};
    sb_verdict_t v = sb_plugin_entry.before_join(state, &s, room);
    if (v == SB_CONTINUE)
        assert_int_equal(s.errors, 0);
    if (message)
        snprintf(message, 256, "%s", s.error);
    return v;
}

static void test_plugin_descriptor(void **unused)
{
    assert_int_equal(sb_plugin_entry.magic, SB_PLUGIN_MAGIC);
    assert_true(sb_plugin_entry.abi_minor >= 4); /* before_connect and before_join are ABI 1.4 */
    assert_int_equal(sb_plugin_entry.size, sizeof(sb_plugin_t));
    assert_string_equal(sb_plugin_entry.name, "acl");
    assert_non_null(sb_plugin_entry.before_event);
    assert_non_null(sb_plugin_entry.before_connect);
    assert_non_null(sb_plugin_entry.before_join);
    assert_null(sb_plugin_entry.authenticate);
}

static void test_plugin_connect(void **unused)
{
    char msg[256];
    void *st = start("allow * namespace /\n"
                     "allow claim:role=admin namespace /admin\n"
                     "deny user:mallory namespace *\n"
                     "allow authenticated namespace /chat*\n",
                     NULL);
    assert_int_equal(connect_as(st, NULL, NULL, "/", NULL), SB_CONTINUE);
    assert_int_equal(connect_as(st, NULL, NULL, "/admin", msg), SB_REFUSE);
    assert_string_equal(msg, "forbidden");
    assert_int_equal(connect_as(st, "bob", "{}", "/admin", NULL), SB_REFUSE);
    assert_int_equal(connect_as(st, "root", "{\"role\":\"admin\"}", "/admin", NULL), SB_CONTINUE);
    /* First match wins: "/" is allowed to everyone before mallory's deny. */
    assert_int_equal(connect_as(st, "mallory", NULL, "/", NULL), SB_CONTINUE);
    assert_int_equal(connect_as(st, "mallory", NULL, "/chat", NULL), SB_REFUSE);
    assert_int_equal(connect_as(st, "bob", NULL, "/chat/eu", NULL), SB_CONTINUE);
    assert_int_equal(connect_as(st, NULL, NULL, "/chat", NULL), SB_REFUSE);
    /* The decision is logged (debug) with the rule's line, never with the claims. */
    assert_int_equal(connect_as(st, "mallory", "{\"secret\":\"s3cr3t\"}", "/chat", NULL),
                     SB_REFUSE);
    char needle[128];
    snprintf(needle, sizeof(needle), "namespace '/chat' denied by %s:3", rules_path);
    assert_non_null(strstr(host.log, needle));
    assert_null(strstr(host.log, "s3cr3t"));
    /* Claims that cannot be read are refused (claim: rules could not be checked). */
    assert_int_equal(connect_as(st, "root", "not json", "/", msg), SB_REFUSE);
    assert_string_equal(msg, "forbidden");
    sb_plugin_entry.fini(st);

    /* The configured message; grants from the permissions claim. */
    st = start(NULL, "claims=permissions,message=access denied");
    const char *perms = "{\"permissions\":[\"namespace:/\",\"namespace:/team-*\"]}";
    assert_int_equal(connect_as(st, "u", perms, "/", NULL), SB_CONTINUE);
    assert_int_equal(connect_as(st, "u", perms, "/team-a", NULL), SB_CONTINUE);
    assert_int_equal(connect_as(st, "u", perms, "/admin", msg), SB_REFUSE);
    assert_string_equal(msg, "access denied");
    assert_int_equal(connect_as(st, NULL, NULL, "/", msg), SB_REFUSE);
    assert_string_equal(msg, "access denied");
    sb_plugin_entry.fini(st);

    /* default=allow: only a deny refuses. */
    st = start("deny anonymous namespace /private\n", "default=allow");
    assert_int_equal(connect_as(st, NULL, NULL, "/", NULL), SB_CONTINUE);
    assert_int_equal(connect_as(st, NULL, NULL, "/private", NULL), SB_REFUSE);
    assert_int_equal(connect_as(st, "bob", NULL, "/private", NULL), SB_CONTINUE);
    sb_plugin_entry.fini(st);
}

static void test_plugin_join(void **unused)
{
    char msg[256];
    /* tests/fixtures/acl/rules.txt's room rules. */
    void *st = start("allow * namespace /\n"
                     "allow user:alice room vip\n"
                     "deny * room vip\n"
                     "allow claim:team=* room team:*\n"
                     "deny * room team:*\n"
                     "allow * room *\n",
                     "message=no entry");
    assert_int_equal(join_as(st, "alice", NULL, "vip", NULL), SB_CONTINUE);
    assert_int_equal(join_as(st, "bob", NULL, "vip", msg), SB_REFUSE);
    assert_string_equal(msg, "no entry");
    assert_int_equal(join_as(st, NULL, NULL, "vip", NULL), SB_REFUSE);
    assert_int_equal(join_as(st, "bob", NULL, "lobby", NULL), SB_CONTINUE);
    assert_int_equal(join_as(st, "bob", "{\"team\":\"red\"}", "team:red", NULL), SB_CONTINUE);
    assert_int_equal(join_as(st, "bob", "{}", "team:red", NULL), SB_REFUSE);
    /* A room name is matched whole: "vip2" is not "vip". */
    assert_int_equal(join_as(st, "bob", NULL, "vip2", NULL), SB_CONTINUE);
    assert_int_equal(join_as(st, "bob", NULL, "", NULL), SB_CONTINUE);
    /* Claims that are not an object. */
    assert_int_equal(join_as(st, "bob", "[1]", "lobby", NULL), SB_REFUSE);
    sb_plugin_entry.fini(st);

    /* Default deny: a room needs an allow, from the rules or the permissions claim. */
    st = start("allow * namespace /\n", "claims=permissions");
    const char *grants = "{\"permissions\":\"room:lobby room:chat:*\"}";
    assert_int_equal(join_as(st, "u", grants, "lobby", NULL), SB_CONTINUE);
    assert_int_equal(join_as(st, "u", grants, "chat:eu", NULL), SB_CONTINUE);
    assert_int_equal(join_as(st, "u", "{\"permissions\":\"room:lobby\"}", "vip", msg), SB_REFUSE);
    assert_string_equal(msg, "forbidden");
    assert_int_equal(join_as(st, "u", "{\"permissions\":\"event:vip\"}", "vip", NULL), SB_REFUSE);
    sb_plugin_entry.fini(st);

    /* default=allow and no deny room rule: no room can be refused. */
    st = start("deny * event *\ndeny * namespace /x\n", "default=allow");
    assert_int_equal(join_as(st, NULL, "not json", "anything", NULL), SB_CONTINUE);
    sb_plugin_entry.fini(st);
}

static sb_verdict_t event_as(void *state, const char *user, const char *nsp, const char *name,
                             const char *args, char *message)
{
    sb_socket_t s = {.id = "s1", .user = user, .nsp = nsp};
    sb_event_t ev = {.sock = &s, .name = name, .args = args};
    sb_verdict_t v = sb_plugin_entry.before_event(state, &ev);
    if (message)
        snprintf(message, 256, "%s", ev.error);
    return v;
}

static void test_plugin_events(void **unused)
{
    char msg[256];
    void *st = start("allow claim:x=y namespace /admin\n"
                     "allow * namespace /\n"
                     "allow * event ping\n"
                     "allow * event join\n"
                     "allow user:alice room vip\n"
                     "deny * room vip\n"
                     "allow * room *\n",
                     NULL);
    assert_int_equal(event_as(st, NULL, "/", "ping", NULL, NULL), SB_CONTINUE);
    assert_int_equal(event_as(st, NULL, "/", "pong", NULL, msg), SB_REFUSE);
    assert_string_equal(msg, "forbidden");
    /* A socket in a denied namespace (it connected before acl guarded it) is still refused. */
    assert_int_equal(event_as(st, NULL, "/admin", "ping", NULL, NULL), SB_REFUSE);
    /* The room an event's first argument names. */
    assert_int_equal(event_as(st, "alice", "/", "join", "[{\"room\":\"vip\"}]", NULL), SB_CONTINUE);
    assert_int_equal(event_as(st, "bob", "/", "join", "[{\"room\":\"vip\"}]", NULL), SB_REFUSE);
    assert_int_equal(event_as(st, "bob", "/", "join", "[\"vip\"]", NULL), SB_CONTINUE);
    sb_plugin_entry.fini(st);
}

/* A host of ABI 1.3 has no socket_set_error (and never calls the 1.4 hooks): acl still loads,
 * says what it cannot do, and its hooks do not call past the host's table. */
static void test_plugin_older_host(void **unused)
{
    sb_host_api_t old = api;
    old.size = (uint32_t)offsetof(sb_host_api_t, socket_set_error);
    old.abi_minor = 3;
    old.socket_set_error = NULL; /* a call would crash */
    void *st = start_with(&old, "allow * namespace /\n", NULL);
    assert_non_null(strstr(host.log, "host ABI 1.3 has no connect or join hooks"));
    char msg[256];
    assert_int_equal(connect_as(st, NULL, NULL, "/admin", msg), SB_REFUSE);
    assert_string_equal(msg, "");
    assert_int_equal(event_as(st, NULL, "/admin", "x", NULL, msg), SB_REFUSE);
    assert_string_equal(msg, "forbidden");
    sb_plugin_entry.fini(st);

    /* A 1.4 host does not warn. */
    st = start("allow * namespace /\n", NULL);
    assert_null(strstr(host.log, "no connect or join hooks"));
    sb_plugin_entry.fini(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),          cmocka_unit_test(test_configure_reads_the_file),
        cmocka_unit_test(test_parse_rules),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_first_match_wins), cmocka_unit_test(test_who),
        cmocka_unit_test(test_claims_rules),     cmocka_unit_test(test_permissions_claim),
        cmocka_unit_test(test_default),          cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_room_of),          cmocka_unit_test(test_plugin_descriptor),
        cmocka_unit_test(test_plugin_connect),   cmocka_unit_test(test_plugin_join),
        cmocka_unit_test(test_plugin_events),    cmocka_unit_test(test_plugin_older_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
