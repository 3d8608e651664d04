/*
 * Unit tests of the bus front (server/bus/bus.c) with the local engine: bus_emit delivers to
 * the matching sockets of this instance, encodes once per codec, refuses bad event names, and
 * hands the message to the engine unless it is local. A fake engine records what the front
 * passes to it (publish, room changes, close, commands with a struct bus_value reply).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/bus/bus.h"
#include "../../server/conn/conn.h"

struct fixture {
    struct registry reg;
    struct bus bus;
    struct nsp *root, *chat;
    struct conn *conn[4]; /* 0, 1: Socket.IO on "/"; 2: plain JSON on "/"; 3: Socket.IO on /chat */
    struct sock *s[4];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    registry_init(&f->reg);
    bus_init_local(&f->bus, &f->reg);
    f->root = registry_nsp(&f->reg, "/", true);
    f->chat = registry_nsp(&f->reg, "/chat", true);
    for (int i = 0; i < 4; i++) {
        f->conn[i] = conn_new(NULL, i == 2 ? CONN_JSON : CONN_SIO, 1 << 20);
        f->s[i] = sock_new(f->conn[i]);
        assert_int_equal(registry_sock_add(&f->reg, i == 3 ? f->chat : f->root, f->s[i]), 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bus_close(&f->bus);
    for (int i = 0; i < 4; i++) {
        registry_sock_remove(&f->reg, f->s[i]);
        conn_free(f->conn[i]);
    }
    registry_free(&f->reg);
    free(f);
    return 0;
}

/* The payload of the frame at the head of conn i's queue, or NULL; pops it. */
static char popped[256];
static const char *pop(struct fixture *f, int i)
{
    struct frame *fr = conn_queue_peek(f->conn[i]);
    if (!fr)
        return NULL;
    size_t n = fr->len < sizeof(popped) - 1 ? fr->len : sizeof(popped) - 1;
    memcpy(popped, frame_payload(fr), n);
    popped[n] = '\0';
    conn_queue_pop(f->conn[i]);
    return popped;
}

static void assert_queue(struct fixture *f, int i, const char *want)
{
    const char *got = pop(f, i);
    if (!want && got)
        fail_msg("conn %d: unexpected frame %s", i, got);
    if (want && (!got || strcmp(got, want) != 0))
        fail_msg("conn %d: expected %s, got %s", i, want, got ? got : "nothing");
    if (want && conn_queue_peek(f->conn[i]))
        fail_msg("conn %d: more than one frame", i);
}

static void emit_reaches_every_socket_of_the_namespace_in_its_codec(void **state)
{
    struct fixture *f = *state;
    json_t *args = json_pack("[i,s]", 1, "two");
    struct bus_msg m = {.event = "ev", .args = args};
    assert_int_equal(bus_emit(&f->bus, &m), 3);
    /* One frame per codec, shared by the connections of that codec. */
    assert_ptr_equal(conn_queue_peek(f->conn[0]), conn_queue_peek(f->conn[1]));
    assert_ptr_not_equal(conn_queue_peek(f->conn[0]), conn_queue_peek(f->conn[2]));
    assert_queue(f, 0, "42[\"ev\",1,\"two\"]");
    assert_queue(f, 1, "42[\"ev\",1,\"two\"]");
    assert_queue(f, 2, "{\"event\":\"ev\",\"data\":1}");
    assert_queue(f, 3, NULL); /* another namespace */

    m.nsp = "/chat";
    assert_int_equal(bus_emit(&f->bus, &m), 1);
    assert_queue(f, 3, "42/chat,[\"ev\",1,\"two\"]");
    assert_queue(f, 0, NULL);

    /* No arguments; a namespace nobody serves reaches no one. */
    struct bus_msg bare = {.event = "ping"};
    assert_int_equal(bus_emit(&f->bus, &bare), 3);
    assert_queue(f, 0, "42[\"ping\"]");
    assert_queue(f, 1, "42[\"ping\"]");
    pop(f, 2);
    bare.nsp = "/nobody";
    assert_int_equal(bus_emit(&f->bus, &bare), 0);
    assert_null(registry_nsp(&f->reg, "/nobody", false)); /* not created by the emit */
    json_decref(args);
}

static void rooms_and_excepts(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(registry_join(&f->reg, f->s[0], "r"), 0);
    assert_int_equal(registry_join(&f->reg, f->s[2], "r"), 0);
    const char *rooms[] = {"r"};
    struct bus_msg m = {.event = "e", .rooms = rooms, .nrooms = 1};
    assert_int_equal(bus_emit(&f->bus, &m), 2);
    assert_queue(f, 0, "42[\"e\"]");
    assert_queue(f, 1, NULL);
    assert_queue(f, 2, "{\"event\":\"e\",\"data\":null}");

    const char *except[] = {f->s[0]->id};
    m.except = except;
    m.nexcept = 1;
    assert_int_equal(bus_emit(&f->bus, &m), 1);
    assert_queue(f, 0, NULL);
    assert_queue(f, 2, "{\"event\":\"e\",\"data\":null}");

    /* Everyone but a room. */
    struct bus_msg all = {.event = "e", .except = rooms, .nexcept = 1};
    assert_int_equal(bus_emit(&f->bus, &all), 1);
    assert_queue(f, 1, "42[\"e\"]");
    assert_queue(f, 0, NULL);
    assert_queue(f, 2, NULL);

    /* A room nobody is in. */
    const char *empty[] = {"none"};
    struct bus_msg none = {.event = "e", .rooms = empty, .nrooms = 1};
    assert_int_equal(bus_emit(&f->bus, &none), 0);
}

static void bad_event_names_are_refused(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {NULL,
                         "",
                         "connect",
                         "disconnect",
                         "connect_error",
                         "disconnecting",
                         "newListener",
                         "removeListener"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bus_msg m = {.event = bad[i]};
        assert_int_equal(bus_emit(&f->bus, &m), SB_EINVAL);
        for (int c = 0; c < 4; c++)
            assert_queue(f, c, NULL);
    }
}

/* ---- a fake engine ------------------------------------------------------------------------ */

static struct {
    int published, closed, room_events;
    bool last_exists;
    char last_room[64], last_nsp[64], last_event[64];
    bool ready;
    int publish_rc;
} fake;

static int fake_publish(struct bus *b, const struct bus_msg *m)
{
    (void)b;
    fake.published++;
    snprintf(fake.last_event, sizeof(fake.last_event), "%s", m->event);
    return fake.publish_rc;
}

static void fake_room_changed(struct bus *b, const char *nsp, const char *room, bool exists)
{
    (void)b;
    fake.room_events++;
    fake.last_exists = exists;
    snprintf(fake.last_nsp, sizeof(fake.last_nsp), "%s", nsp);
    snprintf(fake.last_room, sizeof(fake.last_room), "%s", room);
}

static bool fake_ready(const struct bus *b)
{
    (void)b;
    return fake.ready;
}

static void fake_close(struct bus *b)
{
    (void)b;
    fake.closed++;
}

static int fake_command(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                        uint32_t timeout_ms, bus_command_cb cb, void *ud)
{
    (void)b;
    (void)argvlen;
    assert_int_equal(argc, 2);
    assert_string_equal(argv[0], "GET");
    assert_int_equal(timeout_ms, 250);
    struct bus_value elems[2] = {
        {.type = BUS_VALUE_STRING, .str = "a\0b", .len = 3},
        {.type = BUS_VALUE_INTEGER, .integer = -7},
    };
    struct bus_value reply = {.type = BUS_VALUE_ARRAY, .elements = elems, .nelements = 2};
    cb(ud, &reply, 0);
    return 0;
}

static const struct bus_engine fake_engine = {
    .name = "fake",
    .publish = fake_publish,
    .room_changed = fake_room_changed,
    .ready = fake_ready,
    .close = fake_close,
    .command = fake_command,
};

static void the_local_engine_is_ready_and_has_no_commands(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(f->bus.engine->name, "local");
    assert_true(bus_ready(&f->bus));
    const char *argv[] = {"GET", "k"};
    size_t lens[] = {3, 1};
    assert_int_equal(bus_command(&f->bus, 2, argv, lens, 250, NULL, NULL), SB_EUNSUPPORTED);
    /* Room changes go nowhere, and that is fine. */
    assert_int_equal(registry_join(&f->reg, f->s[0], "r"), 0);
    assert_int_equal(registry_leave(&f->reg, f->s[0], "r"), 0);
}

static void emit_publishes_through_the_engine_unless_local(void **state)
{
    struct fixture *f = *state;
    memset(&fake, 0, sizeof(fake));
    f->bus.engine = &fake_engine;
    uint64_t published = metrics.bus_published, dropped = metrics.bus_dropped;

    struct bus_msg m = {.event = "ev"};
    assert_int_equal(bus_emit(&f->bus, &m), 3);
    assert_int_equal(fake.published, 1);
    assert_string_equal(fake.last_event, "ev");
    assert_int_equal(metrics.bus_published, published + 1);
    assert_int_equal(metrics.bus_dropped, dropped);

    m.local = true;
    assert_int_equal(bus_emit(&f->bus, &m), 3);
    assert_int_equal(fake.published, 1);
    assert_int_equal(metrics.bus_published, published + 1);

    /* A refused event is neither delivered nor published. */
    struct bus_msg bad = {.event = "connect"};
    assert_int_equal(bus_emit(&f->bus, &bad), SB_EINVAL);
    assert_int_equal(fake.published, 1);

    /* An engine that fails counts a drop; local delivery still happened. */
    fake.publish_rc = SB_EIO;
    m.local = false;
    assert_int_equal(bus_emit(&f->bus, &m), 3);
    assert_int_equal(fake.published, 2);
    assert_int_equal(metrics.bus_dropped, dropped + 1);

    /* bus_deliver_local never publishes. */
    assert_int_equal(bus_deliver_local(&f->bus, &m), 3);
    assert_int_equal(fake.published, 2);
    for (int c = 0; c < 3; c++)
        assert_int_equal(f->conn[c]->q_len, 4);
}

struct got {
    int calls, err;
    enum bus_value_type type;
    size_t n, len0;
    char str0[8];
    long long int1;
};

static void command_cb(void *ud, const struct bus_value *reply, int err)
{
    struct got *g = ud;
    g->calls++;
    g->err = err;
    g->type = reply->type;
    g->n = reply->nelements;
    g->len0 = reply->elements[0].len;
    memcpy(g->str0, reply->elements[0].str,
           reply->elements[0].len < 8 ? reply->elements[0].len : 8);
    g->int1 = reply->elements[1].integer;
}

static void room_changes_readiness_commands_and_close_reach_the_engine(void **state)
{
    struct fixture *f = *state;
    memset(&fake, 0, sizeof(fake));
    f->bus.engine = &fake_engine;

    assert_int_equal(registry_join(&f->reg, f->s[3], "lobby"), 0);
    assert_int_equal(fake.room_events, 1);
    assert_true(fake.last_exists);
    assert_string_equal(fake.last_nsp, "/chat");
    assert_string_equal(fake.last_room, "lobby");
    assert_int_equal(registry_leave(&f->reg, f->s[3], "lobby"), 0);
    assert_int_equal(fake.room_events, 2);
    assert_false(fake.last_exists);

    assert_false(bus_ready(&f->bus));
    fake.ready = true;
    assert_true(bus_ready(&f->bus));

    struct got got = {0};
    const char *argv[] = {"GET", "k"};
    size_t lens[] = {3, 1};
    assert_int_equal(bus_command(&f->bus, 2, argv, lens, 250, command_cb, &got), 0);
    assert_int_equal(got.calls, 1);
    assert_int_equal(got.err, 0);
    assert_int_equal(got.type, BUS_VALUE_ARRAY);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.len0, 3);
    assert_memory_equal(got.str0, "a\0b", 3);
    assert_int_equal(got.int1, -7);

    bus_close(&f->bus);
    assert_int_equal(fake.closed, 1);
    assert_string_equal(f->bus.engine->name, "local");
    bus_close(&f->bus); /* the local engine has no close: nothing more */
    assert_int_equal(fake.closed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(emit_reaches_every_socket_of_the_namespace_in_its_codec,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rooms_and_excepts, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_event_names_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(the_local_engine_is_ready_and_has_no_commands, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(emit_publishes_through_the_engine_unless_local, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(room_changes_readiness_commands_and_close_reach_the_engine,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
