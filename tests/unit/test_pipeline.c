/*
 * Unit tests of the event pipeline (server/pipeline/pipeline.c) with everything real but the
 * network: a Lua host loading gateway scripts this test writes into a temporary directory, a
 * plugin set of in-process interceptors (hooks in this file, no dlopen, as test_auth_async.c),
 * the local bus with a fake Redis command so that a handler can wait, and sockets on real
 * connections. Outcomes are read from what the pipeline queued on each connection: acks
 * (Socket.IO ACK and plain JSON raw frames), replies, `exception` events; and what plugins and
 * the fake transport saw (socket hooks, server disconnects). Run under ASan, a socket that left
 * while its handler waited must leave neither a use after free nor a leak.
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

#include "../../server/conn/conn.h"
#include "../../server/pipeline/pipeline.h"
#include "../../server/registry/registry.h"

static const sb_host_api_t *api = &plugin_host_api;

/* ---- the gateways ---- */

static const char main_lua[] =
    "return {\n"
    "  namespace = '/',\n"
    "  interceptors = { 'gate' },\n"
    "  on_connect = function(socket) socket:emit('welcome', socket.protocol) end,\n"
    "  on_disconnect = function(socket, reason)\n"
    "    socket:broadcast():emit('left', reason)\n"
    "  end,\n"
    "  events = {\n"
    "    sum = function(socket, a, b) socket:emit('ran', 'sum'); return a + b end,\n"
    "    echo = function(socket, ...) return ... end,\n"
    "    nothing = function(socket) socket:emit('ran', 'nothing') end,\n"
    "    null = function(socket) return nil end,\n"
    "    sbnull = function(socket) return sb.null end,\n"
    "    obj = function(socket) return { ok = true, n = 7 } end,\n"
    "    replies = function(socket)\n"
    "      return { { event = 'one', data = 1 }, { event = 'secret', data = 2 },\n"
    "               { event = 'swap', args = { 3, 'x' } } }\n"
    "    end,\n"
    "    boom = function(socket) socket:emit('ran', 'boom'); error('kaboom') end,\n"
    "    deny = function(socket) sb.throw('not allowed') end,\n"
    "    conflict = function(socket)\n"
    "      error(sb.exception({ status = 'error', code = 409 }))\n"
    "    end,\n"
    "    wait = function(socket, key) return redis.call('GET', key) end,\n"
    "    wait_nothing = function(socket, key) redis.call('GET', key) end,\n"
    "    wait_reply = function(socket, key)\n"
    "      local v = redis.call('GET', key)\n"
    "      return { event = 'got', data = v }\n"
    "    end,\n"
    "    quit = function(socket)\n"
    "      socket:disconnect()\n"
    "      return { event = 'after', data = 1 }\n"
    "    end,\n"
    "    quit_ack = function(socket) socket:disconnect(); return 'late' end,\n"
    "  },\n"
    "}\n";

static const char refuse_lua[] = "return {\n"
                                 "  namespace = '/refuse',\n"
                                 "  on_connect = function(socket) sb.throw('banned') end,\n"
                                 "  events = { ping = function(socket) return 'pong' end },\n"
                                 "}\n";

/* A namespace with a handler and no interceptors of its own: only the global one. */
static const char plain_lua[] = "return {\n"
                                "  namespace = '/plain',\n"
                                "  on_disconnect = function(socket, reason)\n"
                                "    sb.emit('gone', reason)\n"
                                "  end,\n"
                                "  events = { hi = function(socket) return 'hello' end },\n"
                                "}\n";

/* ---- the interceptors ---- */

/* What a fake interceptor does, and what it saw. */
struct fake {
    sb_verdict_t before;  /* its verdict on every event */
    const char *error;    /* set with event_set_error before a refusal, or NULL */
    const char *set_args; /* event_set_args before going on, or NULL */
    bool rewrite_replies; /* drops `secret`, turns `swap` into `swapped` */
    sb_verdict_t after;   /* its verdict on the other replies */
    int before_calls, after_calls, connected, disconnected;
    char last_event[64];
    char last_gateway[64];
    char reply_seen[256]; /* "event args;" for each reply */
    char reply_of[64];    /* the event name after_reply last saw */
};

static struct fake gate, watch;

static sb_verdict_t before_hook(struct fake *f, sb_event_t *ev)
{
    f->before_calls++;
    snprintf(f->last_event, sizeof(f->last_event), "%s", api->event_name(ev));
    const char *gw = api->event_gateway(ev);
    snprintf(f->last_gateway, sizeof(f->last_gateway), "%s", gw ? gw : "(none)");
    if (f->error)
        api->event_set_error(ev, f->error);
    if (f->set_args)
        assert_int_equal(api->event_set_args(ev, f->set_args), 0);
    return f->before;
}

static sb_verdict_t after_hook(struct fake *f, sb_event_t *ev, sb_reply_t *r)
{
    f->after_calls++;
    snprintf(f->reply_of, sizeof(f->reply_of), "%s", api->event_name(ev));
    size_t n = strlen(f->reply_seen);
    snprintf(f->reply_seen + n, sizeof(f->reply_seen) - n, "%s %s;", api->reply_event(r),
             api->reply_args(r));
    if (!f->rewrite_replies)
        return SB_CONTINUE;
    if (strcmp(api->reply_event(r), "secret") == 0)
        return SB_DROP;
    if (strcmp(api->reply_event(r), "swap") == 0) {
        /* The ABI has no reply setter: a rewrite is the original withheld and another sent. */
        api->socket_emit(api->event_socket(ev), "swapped", api->reply_args(r));
        return SB_REFUSE;
    }
    return f->after;
}

static sb_verdict_t gate_before(void *st, sb_event_t *ev)
{
    return before_hook(&gate, ev);
}
static sb_verdict_t gate_after(void *st, sb_event_t *ev, sb_reply_t *r)
{
    return after_hook(&gate, ev, r);
}
static void gate_connected(void *st, sb_socket_t *s)
{
    gate.connected++;
}
static void gate_disconnected(void *st, sb_socket_t *s)
{
    gate.disconnected++;
}
static sb_verdict_t watch_before(void *st, sb_event_t *ev)
{
    return before_hook(&watch, ev);
}

static const sb_plugin_t gate_desc = {.name = "gate"};
static const sb_plugin_t watch_desc = {.name = "watch"};

/* ---- a Redis command that answers when the test says so ---- */

static struct {
    bus_command_cb cb;
    void *ud;
    char key[64];
    int calls;
} cmd;

static int fake_command(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                        uint32_t timeout_ms, bus_command_cb cb, void *ud)
{
    assert_null(cmd.cb); /* one at a time */
    cmd.cb = cb;
    cmd.ud = ud;
    cmd.calls++;
    snprintf(cmd.key, sizeof(cmd.key), "%s", argc > 1 ? argv[1] : "");
    return 0;
}

static void answer(const char *value)
{
    assert_non_null(cmd.cb);
    bus_command_cb cb = cmd.cb;
    cmd.cb = NULL;
    struct bus_value v = {.type = BUS_VALUE_STRING, .str = value, .len = strlen(value)};
    cb(cmd.ud, &v, 0);
}

/* ---- the fake transport: a server disconnect detaches the socket as net/ does ---- */

static struct pipeline *the_pipe;
static struct registry *the_reg;
static int disconnects;
static char disconnect_reason[64];

static void detach(struct sock *s, const char *reason)
{
    if (!s->connected)
        return;
    pipeline_disconnect(the_pipe, s, reason);
    s->connected = false;
    registry_sock_remove(the_reg, s);
}

static void t_want_write(struct conn *c) {}
static void t_close(struct conn *c, int code, const char *reason, bool flush) {}
/* Unlike net/, the socket stays linked to its connection (freed with it at teardown): a reply
 * the pipeline wrongly sent to it would be found in the queue. */
static void t_sock_disconnect(struct sock *s, const char *reason)
{
    disconnects++;
    snprintf(disconnect_reason, sizeof(disconnect_reason), "%s", reason);
    detach(s, reason);
}

static const struct conn_transport transport = {
    .want_write = t_want_write,
    .close = t_close,
    .sock_disconnect = t_sock_disconnect,
};

/* ---- the fixture ---- */

#define NCONN 4

struct fixture {
    uv_loop_t loop;
    struct registry reg;
    struct bus bus;
    struct bus_engine engine;
    struct plugins ps;
    struct plugin gate_p, watch_p;
    struct plugin *list[2];
    struct plugin *global[1];
    struct lua_host *lh;
    struct pipeline pipe;
    char dir[64];
    struct conn_host host; /* the fake transport's */
    struct conn *conn[NCONN];
    struct sock *s[NCONN];
};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    memset(&gate, 0, sizeof(gate));
    memset(&watch, 0, sizeof(watch));
    memset(&cmd, 0, sizeof(cmd));
    disconnects = 0;
    disconnect_reason[0] = '\0';
    assert_int_equal(uv_loop_init(&f->loop), 0);
    registry_init(&f->reg);
    bus_init_local(&f->bus, &f->reg);
    f->engine = *f->bus.engine; /* the local engine, plus Redis commands */
    f->engine.command = fake_command;
    f->bus.engine = &f->engine;

    f->gate_p = (struct plugin){.desc = &gate_desc,
                                .set = &f->ps,
                                .before_event = gate_before,
                                .after_reply = gate_after,
                                .socket_connected = gate_connected,
                                .socket_disconnected = gate_disconnected,
                                .intercept_priority = 20};
    f->gate_p.host.plugin = &f->gate_p;
    f->watch_p = (struct plugin){
        .desc = &watch_desc, .set = &f->ps, .before_event = watch_before, .intercept_priority = 10};
    f->watch_p.host.plugin = &f->watch_p;
    f->list[0] = &f->gate_p;
    f->list[1] = &f->watch_p;
    f->global[0] = &f->watch_p; /* --interceptor watch */
    f->ps.list = f->list;
    f->ps.n = 2;
    f->ps.global = f->global;
    f->ps.nglobal = 1;
    f->ps.bus = &f->bus;
    f->ps.reg = &f->reg;
    f->ps.loop = &f->loop;

    snprintf(f->dir, sizeof(f->dir), "/tmp/sb-test-pipeline-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    write_file(f->dir, "main.lua", main_lua);
    write_file(f->dir, "refuse.lua", refuse_lua);
    write_file(f->dir, "plain.lua", plain_lua);
    struct lua_limits limits = {.time_ms = 1000, .redis_timeout_ms = 1000};
    assert_int_equal(luah_new(&f->lh, &f->loop, f->dir, &f->bus, &f->ps, &limits), 0);
    assert_int_equal(luah_gateway_count(f->lh), 3);

    f->pipe = (struct pipeline){.lua = f->lh, .plugins = &f->ps, .bus = &f->bus};
    the_pipe = &f->pipe;
    the_reg = &f->reg;
    f->host.transport = &transport;
    f->host.plugins = &f->ps; /* what the plugin host reaches from a socket */
    *state = f;
    return 0;
}

/* Connects a socket on connection i (a new one) to `nsp`, as net/conns.c does: registry,
 * connected, then the pipeline (plugins and on_connect). */
static struct sock *join(struct fixture *f, int i, enum conn_proto proto, const char *nsp)
{
    assert_null(f->conn[i]);
    f->conn[i] = conn_new(&f->host, proto, 1 << 20);
    assert_non_null(f->conn[i]);
    struct sock *s = f->s[i] = sock_new(f->conn[i]);
    assert_non_null(s);
    struct nsp *n = registry_nsp(&f->reg, nsp, true);
    assert_int_equal(registry_sock_add(&f->reg, n, s), 0);
    s->connected = true;
    pipeline_connect(&f->pipe, s);
    return s;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    assert_null(cmd.cb); /* every wait was answered */
    for (int i = 0; i < NCONN; i++)
        if (f->s[i])
            detach(f->s[i], "server shutting down");
    luah_close(f->lh);
    luah_free(f->lh);
    for (int i = 0; i < NCONN; i++)
        if (f->conn[i])
            conn_free(f->conn[i]);
    conn_reap(&f->host);
    bus_close(&f->bus);
    registry_free(&f->reg);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    remove_file(f->dir, "main.lua");
    remove_file(f->dir, "refuse.lua");
    remove_file(f->dir, "plain.lua");
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The payload of the frame at the head of conn i's queue, popped; NULL when it is empty. */
static char popped[512];
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

/* The next frame of conn i is `want`. */
static void expect(struct fixture *f, int i, const char *want)
{
    const char *got = pop(f, i);
    if (!got || strcmp(got, want) != 0)
        fail_msg("conn %d: expected %s, got %s", i, want, got ? got : "nothing");
}

/* Nothing more is queued on conn i. */
static void expect_nothing(struct fixture *f, int i)
{
    const char *got = pop(f, i);
    if (got)
        fail_msg("conn %d: unexpected frame %s", i, got);
}

/* Runs `event` with the JSON array text `args`. */
static void event(struct fixture *f, int i, const char *name, const char *args, int64_t ack_id)
{
    json_t *a = json_loads(args, 0, NULL);
    assert_non_null(a);
    pipeline_event(&f->pipe, f->s[i], name, a, NULL, ack_id);
    json_decref(a);
}

#define EXC(msg) "42[\"exception\",{\"status\":\"error\",\"message\":\"" msg "\"}]"

/* ---- acks ---- */

static void a_returned_value_is_the_ack(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    expect(f, 0, "42[\"welcome\",\"socket.io\"]");
    event(f, 0, "sum", "[2,3]", 17);
    /* What the handler emitted goes first, then the ack with the client's id. */
    expect(f, 0, "42[\"ran\",\"sum\"]");
    expect(f, 0, "4317[5]");
    expect_nothing(f, 0);
    /* Several return values: an ack with several arguments. */
    event(f, 0, "echo", "[\"a\",{\"b\":null},[1]]", 0);
    expect(f, 0, "430[\"a\",{\"b\":null},[1]]");
    expect_nothing(f, 0);
    /* Both interceptors saw both events, the global one first. */
    assert_int_equal(watch.before_calls, 2);
    assert_int_equal(gate.before_calls, 2);
    assert_string_equal(gate.last_event, "echo");
    assert_string_equal(gate.last_gateway, "main");
}

static void no_value_or_nil_is_still_an_ack(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    /* No value: an ack without arguments, after what the handler emitted (socket.io's
     * callback()). */
    event(f, 0, "nothing", "[]", 5);
    expect(f, 0, "42[\"ran\",\"nothing\"]");
    expect(f, 0, "435[]");
    expect_nothing(f, 0);
    /* A lone nil: one null (callback(null)); also when it is the client's own null echoed. */
    event(f, 0, "null", "[]", 6);
    expect(f, 0, "436[null]");
    event(f, 0, "echo", "[null]", 7);
    expect(f, 0, "437[null]");
    expect_nothing(f, 0);
    /* Without an ack id: nothing. */
    event(f, 0, "nothing", "[]", PIPELINE_NO_ACK);
    expect(f, 0, "42[\"ran\",\"nothing\"]");
    event(f, 0, "null", "[]", PIPELINE_NO_ACK);
    expect_nothing(f, 0);
    /* Plain JSON has no acks: no value and nil send no frame (as NestJS's WsAdapter), sb.null
     * is a value. */
    join(f, 1, CONN_JSON, "/");
    pop(f, 1);
    event(f, 1, "null", "[]", PIPELINE_RAW_ACK);
    event(f, 1, "echo", "[null]", PIPELINE_RAW_ACK);
    event(f, 1, "nothing", "[]", PIPELINE_RAW_ACK);
    expect(f, 1, "{\"event\":\"ran\",\"data\":\"nothing\"}");
    expect_nothing(f, 1);
    event(f, 1, "sbnull", "[]", PIPELINE_RAW_ACK);
    expect(f, 1, "null");
    event(f, 1, "echo", "[[null]]", PIPELINE_RAW_ACK);
    expect(f, 1, "[null]");
    expect_nothing(f, 1);
}

static void without_an_ack_id_the_value_is_dropped(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    event(f, 0, "sum", "[2,3]", PIPELINE_NO_ACK);
    expect(f, 0, "42[\"ran\",\"sum\"]"); /* the handler did run */
    expect_nothing(f, 0);
    /* Whatever the value: a table is not sent as a raw JSON frame either (that is only for
     * PIPELINE_RAW_ACK). */
    event(f, 0, "obj", "[]", PIPELINE_NO_ACK);
    expect_nothing(f, 0);
}

static void plain_json_gets_the_value_as_a_raw_frame(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_JSON, "/");
    expect(f, 0, "{\"event\":\"welcome\",\"data\":\"json\"}");
    event(f, 0, "obj", "[]", PIPELINE_RAW_ACK);
    const char *got = pop(f, 0);
    assert_non_null(got);
    json_t *v = json_loads(got, 0, NULL);
    assert_non_null(v);
    assert_true(json_is_object(v));
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "n")), 7);
    assert_int_equal(json_object_size(v), 2);
    json_decref(v);
    expect_nothing(f, 0);
    /* The first value only; a scalar is a JSON text of its own. */
    event(f, 0, "echo", "[\"first\",2]", PIPELINE_RAW_ACK);
    expect(f, 0, "\"first\"");
    expect_nothing(f, 0);
    event(f, 0, "sum", "[40,2]", PIPELINE_RAW_ACK);
    expect(f, 0, "{\"event\":\"ran\",\"data\":\"sum\"}");
    expect(f, 0, "42");
    expect_nothing(f, 0);
    /* A handler that returns nothing sends nothing. */
    event(f, 0, "nothing", "[]", PIPELINE_RAW_ACK);
    expect(f, 0, "{\"event\":\"ran\",\"data\":\"nothing\"}");
    expect_nothing(f, 0);
}

/* ---- exceptions ---- */

static void an_event_without_handler_gets_an_exception(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    event(f, 0, "nope", "[1]", 3);
    expect(f, 0, EXC("no handler for event 'nope'"));
    expect_nothing(f, 0);
    /* The global interceptor saw it, with no gateway; the gateway's own did not. */
    assert_int_equal(watch.before_calls, 1);
    assert_string_equal(watch.last_event, "nope");
    assert_string_equal(watch.last_gateway, "(none)");
    assert_int_equal(gate.before_calls, 0);
    /* A global interceptor that refuses it: its refusal, not "no handler". */
    watch.before = SB_REFUSE;
    watch.error = "slow down";
    event(f, 0, "nope", "[]", 4);
    expect(f, 0, EXC("slow down"));
    expect_nothing(f, 0);
    /* One that drops it: nothing at all. */
    watch.before = SB_DROP;
    watch.error = NULL;
    event(f, 0, "nope", "[]", 5);
    expect_nothing(f, 0);
}

static void a_refusing_interceptor_stops_the_event(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    /* Refused without a message: the default names the plugin; the handler never ran. */
    gate.before = SB_REFUSE;
    event(f, 0, "sum", "[1,2]", 1);
    expect(f, 0, EXC("event refused by gate"));
    expect_nothing(f, 0);
    assert_int_equal(gate.before_calls, 1);
    /* With its own message. */
    gate.error = "forbidden here";
    event(f, 0, "sum", "[1,2]", 2);
    expect(f, 0, EXC("forbidden here"));
    expect_nothing(f, 0);
    /* Dropped: silently, and the handler did not run. */
    gate.before = SB_DROP;
    gate.error = NULL;
    event(f, 0, "sum", "[1,2]", 3);
    expect_nothing(f, 0);
    /* A verdict outside the enum fails closed. */
    gate.before = (sb_verdict_t)7;
    event(f, 0, "sum", "[1,2]", 4);
    expect(f, 0, EXC("event refused by gate"));
    expect_nothing(f, 0);
    /* The global one (priority 10) refusing: the gateway's (20) is not asked. */
    gate.before = SB_CONTINUE;
    gate.before_calls = 0;
    watch.before = SB_REFUSE;
    event(f, 0, "sum", "[1,2]", 5);
    expect(f, 0, EXC("event refused by watch"));
    expect_nothing(f, 0);
    assert_int_equal(gate.before_calls, 0);
    assert_int_equal(gate.after_calls, 0);
}

static void an_interceptor_may_rewrite_the_arguments(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    gate.set_args = "[\"rewritten\",2]";
    event(f, 0, "echo", "[\"original\"]", 9);
    expect(f, 0, "439[\"rewritten\",2]");
    expect_nothing(f, 0);
}

static void after_interceptors_see_rewrite_and_drop_replies(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    /* Passing everything: the three replies, in order, and no ack. */
    event(f, 0, "replies", "[]", 6);
    expect(f, 0, "42[\"one\",1]");
    expect(f, 0, "42[\"secret\",2]");
    expect(f, 0, "42[\"swap\",3,\"x\"]");
    expect_nothing(f, 0);
    assert_int_equal(gate.after_calls, 3);
    assert_string_equal(gate.reply_seen, "one [1];secret [2];swap [3,\"x\"];");
    /* Dropping `secret`, replacing `swap`. */
    gate.rewrite_replies = true;
    event(f, 0, "replies", "[]", PIPELINE_NO_ACK);
    expect(f, 0, "42[\"one\",1]");
    expect(f, 0, "42[\"swapped\",3,\"x\"]");
    expect_nothing(f, 0);
    /* A verdict outside the enum withholds the reply. */
    gate.after = (sb_verdict_t)9;
    event(f, 0, "replies", "[]", PIPELINE_NO_ACK);
    expect(f, 0, "42[\"swapped\",3,\"x\"]");
    expect_nothing(f, 0);
    gate.after = SB_CONTINUE;
    /* The ack is not a reply: after-interceptors do not see it. */
    gate.after_calls = 0;
    event(f, 0, "sum", "[1,1]", 8);
    expect(f, 0, "42[\"ran\",\"sum\"]");
    expect(f, 0, "438[2]");
    expect_nothing(f, 0);
    assert_int_equal(gate.after_calls, 0);
}

static void a_handler_error_is_an_exception(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    /* A bug: the generic message, after what the handler emitted; no ack. */
    event(f, 0, "boom", "[]", 11);
    expect(f, 0, "42[\"ran\",\"boom\"]");
    expect(f, 0, EXC("Internal server error"));
    expect_nothing(f, 0);
    /* sb.throw: its message. */
    event(f, 0, "deny", "[]", 12);
    expect(f, 0, EXC("not allowed"));
    expect_nothing(f, 0);
    /* An exception raised with a table: the table is the payload. */
    event(f, 0, "conflict", "[]", 13);
    const char *got = pop(f, 0);
    assert_non_null(got);
    assert_int_equal(strncmp(got, "42[\"exception\",", 15), 0);
    json_t *v = json_loads(got + 2, 0, NULL);
    assert_non_null(v);
    json_t *payload = json_array_get(v, 1);
    assert_int_equal(json_integer_value(json_object_get(payload, "code")), 409);
    assert_string_equal(json_string_value(json_object_get(payload, "status")), "error");
    json_decref(v);
    expect_nothing(f, 0);
    /* Over plain JSON the exception is an event too, never a raw frame. */
    join(f, 1, CONN_JSON, "/");
    pop(f, 1);
    event(f, 1, "deny", "[]", PIPELINE_RAW_ACK);
    expect(f, 1,
           "{\"event\":\"exception\",\"data\":{\"status\":\"error\",\"message\":\"not allowed\"}}");
    expect_nothing(f, 1);
}

/* ---- connect and disconnect ---- */

static void connect_runs_the_hooks_and_a_raising_one_refuses(void **state)
{
    struct fixture *f = *state;
    /* Plugins are told, on_connect ran (its emit is the first frame). */
    join(f, 0, CONN_SIO, "/");
    assert_int_equal(gate.connected, 1);
    expect(f, 0, "42[\"welcome\",\"socket.io\"]");
    expect_nothing(f, 0);
    assert_int_equal(disconnects, 0);
    assert_true(f->s[0]->connected);

    /* on_connect raises: the exception, then a server disconnect; the socket is gone. */
    struct sock *s = join(f, 1, CONN_SIO, "/refuse");
    expect(f, 1, "42/refuse,[\"exception\",{\"status\":\"error\",\"message\":\"banned\"}]");
    expect_nothing(f, 1);
    assert_int_equal(disconnects, 1);
    assert_string_equal(disconnect_reason, "server namespace disconnect");
    assert_false(s->connected);
    assert_null(registry_sock_find(registry_nsp(&f->reg, "/refuse", false), s->id));
    /* The plugins were told it came and went. */
    assert_int_equal(gate.connected, 2);
    assert_int_equal(gate.disconnected, 1);
    /* The other socket saw nothing of it. */
    expect_nothing(f, 0);
}

static void disconnect_passes_the_reason(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    join(f, 1, CONN_JSON, "/");
    pop(f, 0);
    pop(f, 1);
    detach(f->s[1], "client namespace disconnect");
    assert_int_equal(gate.disconnected, 1);
    /* on_disconnect broadcast the reason to the others (not to the one leaving). */
    expect(f, 0, "42[\"left\",\"client namespace disconnect\"]");
    expect_nothing(f, 0);
    expect_nothing(f, 1);
    /* Another reason, another namespace. */
    join(f, 2, CONN_SIO, "/plain");
    join(f, 3, CONN_SIO, "/plain");
    detach(f->s[3], "ping timeout");
    expect(f, 2, "42/plain,[\"gone\",\"ping timeout\"]");
    expect_nothing(f, 2);
    assert_int_equal(gate.disconnected, 2);
}

/* ---- sockets that leave ---- */

static void a_waiting_handler_answers_later(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    event(f, 0, "wait", "[\"k1\"]", 21);
    assert_int_equal(cmd.calls, 1);
    assert_string_equal(cmd.key, "k1");
    expect_nothing(f, 0); /* waiting */
    answer("v1");
    expect(f, 0, "4321[\"v1\"]");
    expect_nothing(f, 0);
    /* Replies after a wait go through the after-interceptors of the gateway too, which see
     * the event's name although the caller's copy of it is gone by then. */
    gate.rewrite_replies = true;
    char name[] = "wait_reply";
    json_t *args = json_pack("[s]", "k2");
    pipeline_event(&f->pipe, f->s[0], name, args, NULL, PIPELINE_NO_ACK);
    json_decref(args);
    memset(name, 'x', sizeof(name) - 1);
    answer("v2");
    expect(f, 0, "42[\"got\",\"v2\"]");
    expect_nothing(f, 0);
    assert_string_equal(gate.reply_seen, "got [\"v2\"];");
    assert_string_equal(gate.reply_of, "wait_reply");
    /* A handler that waited and then returns nothing acks once it ends, once. */
    event(f, 0, "wait_nothing", "[\"k3\"]", 23);
    expect_nothing(f, 0);
    answer("v3");
    expect(f, 0, "4323[]");
    expect_nothing(f, 0);
}

static void replies_to_a_socket_that_left_are_dropped(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    join(f, 1, CONN_SIO, "/");
    pop(f, 0);
    pop(f, 1);
    /* The handler waits, the socket leaves its namespace (its connection stays open), the
     * answer comes: nothing is sent, nothing leaks (ASan). */
    event(f, 0, "wait", "[\"k\"]", 31);
    detach(f->s[0], "client namespace disconnect");
    expect(f, 1, "42[\"left\",\"client namespace disconnect\"]");
    answer("late");
    expect_nothing(f, 0);
    expect_nothing(f, 1);

    /* The same with a reply: the after-interceptors are not asked about a socket that left. */
    event(f, 1, "wait_reply", "[\"k\"]", 32);
    detach(f->s[1], "transport close");
    gate.after_calls = 0;
    answer("late");
    expect_nothing(f, 1);
    assert_int_equal(gate.after_calls, 0);

    /* The client went away altogether: socket and connection freed, as net/ does, before the
     * answer (ASan sees any use of them). */
    join(f, 2, CONN_JSON, "/");
    pop(f, 2);
    event(f, 2, "wait_reply", "[\"k\"]", PIPELINE_RAW_ACK);
    detach(f->s[2], "transport close");
    sock_release(f->s[2]);
    conn_free(f->conn[2]);
    conn_reap(&f->host);
    f->s[2] = NULL;
    f->conn[2] = NULL;
    answer("late");
    assert_int_equal(gate.after_calls, 0);
}

static void a_handler_that_disconnects_its_socket_sends_it_nothing(void **state)
{
    struct fixture *f = *state;
    join(f, 0, CONN_SIO, "/");
    pop(f, 0);
    /* The socket is disconnected while its own handler runs: its reply is not sent. */
    event(f, 0, "quit", "[]", PIPELINE_NO_ACK);
    assert_int_equal(disconnects, 1);
    assert_false(f->s[0]->connected);
    expect_nothing(f, 0);
    assert_int_equal(gate.after_calls, 0);
    /* Nor its ack. */
    join(f, 1, CONN_SIO, "/");
    pop(f, 1);
    event(f, 1, "quit_ack", "[]", 41);
    assert_int_equal(disconnects, 2);
    expect_nothing(f, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_returned_value_is_the_ack),
        T(no_value_or_nil_is_still_an_ack),
        T(without_an_ack_id_the_value_is_dropped),
        T(plain_json_gets_the_value_as_a_raw_frame),
        T(an_event_without_handler_gets_an_exception),
        T(a_refusing_interceptor_stops_the_event),
        T(an_interceptor_may_rewrite_the_arguments),
        T(after_interceptors_see_rewrite_and_drop_replies),
        T(a_handler_error_is_an_exception),
        T(connect_runs_the_hooks_and_a_raising_one_refuses),
        T(disconnect_passes_the_reason),
        T(a_waiting_handler_answers_later),
        T(replies_to_a_socket_that_left_are_dropped),
        T(a_handler_that_disconnects_its_socket_sends_it_nothing),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
