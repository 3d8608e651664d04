/* Unit tests of a connection's outbound queue: the ring in the connection itself, its growth
 * into an allocated array and back, order across wrap-arounds, and the slow-consumer limit; and
 * of the host a connection reaches its transport through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/conn/conn.h"

static struct frame *numbered(int i)
{
    char text[16];
    int len = snprintf(text, sizeof(text), "%d", i);
    return frame_new(text, (size_t)len, 16, FRAME_TEXT);
}

/* Queues `n` frames numbered from `first`, dropping this test's own references. */
static void queue(struct conn *c, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        struct frame *f = numbered(i);
        assert_int_equal(conn_send(c, f), 0);
        frame_unref(f);
    }
}

/* Pops `n` frames and checks they are numbered from `first`, in order. */
static void drain(struct conn *c, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        struct frame *f = conn_queue_peek(c);
        assert_non_null(f);
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(frame_payload(f), want);
        conn_queue_pop(c);
    }
}

static void a_short_queue_stays_in_the_connection(void **state)
{
    (void)state;
    struct conn *c = conn_new(NULL, CONN_JSON, 1 << 20);
    assert_ptr_equal(c->q, c->q_inline);
    /* Around the inline ring several times: never an allocation, always in order. */
    for (int round = 0; round < 5; round++) {
        queue(c, round * 10, 3);
        assert_ptr_equal(c->q, c->q_inline);
        drain(c, round * 10, 3);
    }
    queue(c, 100, CONN_QUEUE_INLINE);
    assert_ptr_equal(c->q, c->q_inline);
    assert_int_equal(c->q_len, CONN_QUEUE_INLINE);
    drain(c, 100, CONN_QUEUE_INLINE);
    assert_null(conn_queue_peek(c));
    conn_free(c);
}

static void a_burst_grows_the_ring_and_gives_it_back(void **state)
{
    (void)state;
    struct conn *c = conn_new(NULL, CONN_SIO, 1 << 20);
    /* Start the burst mid-ring so the copy into the array has to unwrap it. */
    queue(c, 0, 3);
    drain(c, 0, 2);
    queue(c, 3, 100); /* frame 2 and 3..102 */
    assert_ptr_not_equal(c->q, c->q_inline);
    assert_true(c->q_cap >= 101);
    assert_int_equal(c->q_len, 101);
    drain(c, 2, 101);
    /* Empty after a burst: the array is freed, the inline ring is used again. */
    assert_ptr_equal(c->q, c->q_inline);
    assert_int_equal(c->q_cap, CONN_QUEUE_INLINE);
    assert_int_equal(c->q_bytes, 0);
    queue(c, 200, 2);
    drain(c, 200, 2);
    /* A grown queue left non-empty is released by conn_free() (ASan checks the leak). */
    queue(c, 300, 40);
    conn_free(c);
}

static void over_max_queue_the_connection_is_closed(void **state)
{
    (void)state;
    /* 10 bytes of backlog allowed behind the frame being written: "0".."9" are one byte
     * each ("0" is the head, 9 bytes behind it), and "10" would make it 11. */
    struct conn *c = conn_new(NULL, CONN_JSON, 10);
    queue(c, 0, 10);
    assert_int_equal(c->q_bytes, 10);
    struct frame *f = numbered(10);
    assert_int_equal(conn_send(c, f), SB_EFULL);
    frame_unref(f);
    assert_true(c->closing);
    assert_int_equal(c->q_len, 0);
    assert_int_equal(c->q_bytes, 0);
    f = numbered(11);
    assert_int_equal(conn_send(c, f), SB_ECLOSED);
    frame_unref(f);
    conn_free(c);
}

/* max_queue bounds a backlog, not a message: a frame larger than it that finds the queue
 * empty goes out, and so do the frames behind it while they fit. */
static void a_large_frame_on_an_empty_queue_is_sent(void **state)
{
    (void)state;
    struct conn *c = conn_new(NULL, CONN_JSON, 10);
    char big[100];
    memset(big, 'x', sizeof(big));
    struct frame *f = frame_new(big, sizeof(big), 0, FRAME_TEXT);
    assert_non_null(f);
    assert_int_equal(conn_send(c, f), 0);
    frame_unref(f);
    queue(c, 0, 10); /* 10 bytes behind the big one */
    assert_false(c->closing);
    f = numbered(10);
    assert_int_equal(conn_send(c, f), SB_EFULL); /* the 11th byte of backlog */
    frame_unref(f);
    assert_true(c->closing);
    conn_free(c);
    /* Written out, the big frame leaves the rest in the queue: the bound is theirs again. */
    c = conn_new(NULL, CONN_JSON, 10);
    f = frame_new(big, sizeof(big), 0, FRAME_TEXT);
    assert_int_equal(conn_send(c, f), 0);
    frame_unref(f);
    queue(c, 0, 5);
    conn_queue_pop(c);
    queue(c, 5, 5); /* "0" is now the head: 9 bytes behind it */
    assert_false(c->closing);
    f = numbered(11); /* two more bytes: 11 behind the head */
    assert_int_equal(conn_send(c, f), SB_EFULL);
    frame_unref(f);
    conn_free(c);
}

static int writes_asked, closes_asked, disconnects_asked;

static void want_write(struct conn *c)
{
    (void)c;
    writes_asked++;
}

static void close_cb(struct conn *c, int code, const char *reason, bool flush)
{
    (void)c, (void)code, (void)reason, (void)flush;
    closes_asked++;
}

static void sock_disconnect_cb(struct sock *s, const char *reason)
{
    (void)s, (void)reason;
    disconnects_asked++;
}

/* A connection reaches its transport through its own host, not through a process-wide table:
 * two hosts keep their calls and their released sockets apart. */
static void each_host_gets_its_own_calls_and_released_sockets(void **state)
{
    (void)state;
    static const struct conn_transport t = {want_write, close_cb, sock_disconnect_cb};
    struct conn_host a = {.transport = &t}, b = {.transport = NULL};
    writes_asked = closes_asked = disconnects_asked = 0;
    struct conn *ca = conn_new(&a, CONN_SIO, 1 << 20), *cb = conn_new(&b, CONN_SIO, 1 << 20);
    assert_ptr_equal(ca->host, &a);
    queue(ca, 0, 2); /* only the first frame finds the queue empty */
    queue(cb, 0, 2);
    assert_int_equal(writes_asked, 1);

    struct sock *sa = sock_new(ca), *sb = sock_new(cb);
    sa->connected = sb->connected = true;
    sock_disconnect(sa, "server namespace disconnect");
    sock_disconnect(sb, "server namespace disconnect");
    assert_int_equal(disconnects_asked, 1);

    /* Released sockets wait on their own host until it is reaped. */
    sock_release(sa);
    sock_release(sb);
    assert_null(ca->socks);
    assert_ptr_equal(a.zombies, sa);
    assert_null(sa->conn);
    assert_ptr_equal(b.zombies, sb);
    conn_reap(&b);
    assert_null(b.zombies);
    assert_ptr_equal(a.zombies, sa);
    conn_reap(&a);
    assert_null(a.zombies);

    conn_close(ca, MC_SERVER_DISCONNECT, CLOSE_NORMAL, "bye", true);
    conn_close(cb, MC_SERVER_DISCONNECT, CLOSE_NORMAL, "bye", true);
    assert_int_equal(closes_asked, 1);
    conn_free(ca);
    conn_free(cb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_short_queue_stays_in_the_connection),
        cmocka_unit_test(a_burst_grows_the_ring_and_gives_it_back),
        cmocka_unit_test(over_max_queue_the_connection_is_closed),
        cmocka_unit_test(a_large_frame_on_an_empty_queue_is_sent),
        cmocka_unit_test(each_host_gets_its_own_calls_and_released_sockets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
