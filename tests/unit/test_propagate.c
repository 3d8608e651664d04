/*
 * The propagate plugin (plugins/propagate/propagate.c, linked into this test) driven through its
 * descriptor with a fake host: each reply of an identified socket is emitted once to the room
 * user:<id> of the socket's namespace, except the origin socket, with the reply's event and
 * arguments; an anonymous socket's replies are not emitted; the reply is always let through,
 * also when the emit fails; CONFIG is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <switchboard/plugin.h>

extern const sb_plugin_t sb_plugin_entry;

/* ---- the fake host ---- */

struct sb_host {
    char log[4096];
    size_t loglen;
    int emit_rc; /* what emit() answers */
};

struct sb_socket {
    const char *id, *user, *nsp;
};

struct sb_event {
    sb_socket_t *sock;
};

struct sb_reply {
    const char *event, *args;
};

/* What one emit() call was given, copied: the plugin's strings are borrowed for the call. */
struct emitted {
    size_t size;
    char *nsp, *event, *args;
    char *rooms[4], *except[4];
    size_t nrooms, nexcept;
};

static struct sb_host host;
static struct emitted emits[8];
static size_t nemits;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void log_msg(sb_host_t *h, int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    va_list ap;
    if (h->loglen + 512 >= sizeof(h->log))
        h->loglen = 0;
    h->loglen +=
        (size_t)snprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, "[%s] ", names[level & 3]);
    va_start(ap, fmt);
    h->loglen += (size_t)vsnprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, fmt, ap);
    va_end(ap);
    h->loglen += (size_t)snprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, "\n");
}

static const char *fake_strerror(int err)
{
    return err == SB_EINVAL ? "invalid argument" : "error";
}

static int emit(sb_host_t *h, const sb_emit_t *e)
{
    assert_ptr_equal(h, &host);
    assert_true(nemits < sizeof(emits) / sizeof(emits[0]));
    struct emitted *out = &emits[nemits++];
    assert_true(e->nrooms <= 4 && e->nexcept <= 4);
    out->size = e->size;
    out->nsp = dup_or_null(e->nsp);
    out->event = dup_or_null(e->event);
    out->args = dup_or_null(e->args_json);
    out->nrooms = e->nrooms;
    out->nexcept = e->nexcept;
    for (size_t i = 0; i < e->nrooms; i++)
        out->rooms[i] = strdup(e->rooms[i]);
    for (size_t i = 0; i < e->nexcept; i++)
        out->except[i] = strdup(e->except[i]);
    return h->emit_rc;
}

static const char *socket_id(const sb_socket_t *s)
{
    return s->id;
}

static const char *socket_user(const sb_socket_t *s)
{
    return s->user;
}

static const char *socket_nsp(const sb_socket_t *s)
{
    return s->nsp;
}

static sb_socket_t *event_socket(const sb_event_t *ev)
{
    return ev->sock;
}

static const char *reply_event(const sb_reply_t *r)
{
    return r->event;
}

static const char *reply_args(const sb_reply_t *r)
{
    return r->args;
}

static const sb_host_api_t api = {
    .size = sizeof(sb_host_api_t),
    .abi_major = SB_PLUGIN_ABI_MAJOR,
    .abi_minor = SB_PLUGIN_ABI_MINOR,
    .log_msg = log_msg,
    .strerror = fake_strerror,
    .emit = emit,
    .socket_id = socket_id,
    .socket_user = socket_user,
    .socket_nsp = socket_nsp,
    .event_socket = event_socket,
    .reply_event = reply_event,
    .reply_args = reply_args,
};

static int setup(void **state)
{
    memset(&host, 0, sizeof(host));
    char err[256] = "";
    void *st = NULL;
    int rc = sb_plugin_entry.init(&api, &host, NULL, &st, err, sizeof(err));
    if (rc != 0)
        fail_msg("init failed: %s", err);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    sb_plugin_entry.fini(*state);
    for (size_t i = 0; i < nemits; i++) {
        free(emits[i].nsp);
        free(emits[i].event);
        free(emits[i].args);
        for (size_t j = 0; j < emits[i].nrooms; j++)
            free(emits[i].rooms[j]);
        for (size_t j = 0; j < emits[i].nexcept; j++)
            free(emits[i].except[j]);
    }
    memset(emits, 0, sizeof(emits));
    nemits = 0;
    return 0;
}

/* Runs after_reply on one reply of `sock`. */
static sb_verdict_t reply_on(void *state, sb_socket_t *sock, const char *event, const char *args)
{
    sb_event_t ev = {.sock = sock};
    sb_reply_t reply = {.event = event, .args = args};
    return sb_plugin_entry.after_reply(state, &ev, &reply);
}

/* ---- tests ---- */

static void descriptor_is_an_after_interceptor(void **state)
{
    assert_string_equal(sb_plugin_entry.name, "propagate");
    assert_int_equal(sb_plugin_entry.magic, SB_PLUGIN_MAGIC);
    assert_int_equal(sb_plugin_entry.abi_major, SB_PLUGIN_ABI_MAJOR);
    assert_non_null(sb_plugin_entry.after_reply);
    assert_null(sb_plugin_entry.before_event);
    assert_null(sb_plugin_entry.authenticate);
}

static void emits_to_the_user_room_except_the_origin(void **state)
{
    sb_socket_t alice = {.id = "sid-origin", .user = "alice", .nsp = "/chat"};
    assert_int_equal(reply_on(*state, &alice, "message", "[{\"text\":\"hi\"},2]"), SB_CONTINUE);

    assert_int_equal(nemits, 1);
    const struct emitted *e = &emits[0];
    assert_int_equal(e->size, sizeof(sb_emit_t));
    assert_string_equal(e->nsp, "/chat");
    assert_int_equal(e->nrooms, 1);
    assert_string_equal(e->rooms[0], "user:alice");
    assert_int_equal(e->nexcept, 1);
    assert_string_equal(e->except[0], "sid-origin");
    assert_string_equal(e->event, "message");
    assert_string_equal(e->args, "[{\"text\":\"hi\"},2]");
    assert_int_equal(host.loglen, 0);
}

static void each_reply_is_emitted_once(void **state)
{
    sb_socket_t bob = {.id = "sid-b1", .user = "bob", .nsp = "/"};
    sb_socket_t carol = {.id = "sid-c1", .user = "carol", .nsp = "/"};
    assert_int_equal(reply_on(*state, &bob, "one", "[1]"), SB_CONTINUE);
    assert_int_equal(reply_on(*state, &carol, "two", "[]"), SB_CONTINUE);
    assert_int_equal(reply_on(*state, &bob, "three", "[3]"), SB_CONTINUE);

    assert_int_equal(nemits, 3);
    assert_string_equal(emits[0].rooms[0], "user:bob");
    assert_string_equal(emits[0].event, "one");
    assert_string_equal(emits[1].rooms[0], "user:carol");
    assert_string_equal(emits[1].except[0], "sid-c1");
    assert_string_equal(emits[1].args, "[]");
    assert_string_equal(emits[2].rooms[0], "user:bob");
    assert_string_equal(emits[2].except[0], "sid-b1");
    assert_string_equal(emits[2].event, "three");
}

static void a_long_user_id_makes_the_whole_room_name(void **state)
{
    char user[1024];
    memset(user, 'u', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    sb_socket_t s = {.id = "sid-long", .user = user, .nsp = "/"};
    assert_int_equal(reply_on(*state, &s, "x", "[]"), SB_CONTINUE);
    assert_int_equal(nemits, 1);
    assert_int_equal(strlen(emits[0].rooms[0]), 5 + strlen(user));
    assert_memory_equal(emits[0].rooms[0], "user:", 5);
    assert_string_equal(emits[0].rooms[0] + 5, user);
}

static void anonymous_sockets_propagate_nothing(void **state)
{
    sb_socket_t anon = {.id = "sid-anon", .user = NULL, .nsp = "/"};
    assert_int_equal(reply_on(*state, &anon, "message", "[1]"), SB_CONTINUE);
    assert_int_equal(reply_on(*state, &anon, "other", "[]"), SB_CONTINUE);
    assert_int_equal(nemits, 0);
    assert_int_equal(host.loglen, 0);
}

static void a_failed_emit_is_logged_and_the_reply_still_goes(void **state)
{
    host.emit_rc = SB_EINVAL;
    sb_socket_t s = {.id = "sid-1", .user = "dave", .nsp = "/"};
    assert_int_equal(reply_on(*state, &s, "message", "[1]"), SB_CONTINUE);
    assert_int_equal(nemits, 1);
    assert_non_null(strstr(host.log, "[warn] reply 'message' not propagated: invalid argument"));
}

static void config_is_refused(void **state)
{
    char err[256] = "";
    void *st = NULL;
    int rc = sb_plugin_entry.init(&api, &host, "something", &st, err, sizeof(err));
    assert_int_equal(rc, SB_EINVAL);
    assert_string_equal(err, "propagate takes no CONFIG");
    assert_null(st);
    /* An empty CONFIG (`--plugin propagate=`) is no CONFIG. */
    rc = sb_plugin_entry.init(&api, &host, "", &st, err, sizeof(err));
    assert_int_equal(rc, 0);
    sb_plugin_entry.fini(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptor_is_an_after_interceptor),
        cmocka_unit_test_setup_teardown(emits_to_the_user_room_except_the_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(each_reply_is_emitted_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_long_user_id_makes_the_whole_room_name, setup, teardown),
        cmocka_unit_test_setup_teardown(anonymous_sockets_propagate_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_emit_is_logged_and_the_reply_still_goes, setup,
                                        teardown),
        cmocka_unit_test(config_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
