/*
 * The pure parts of plugins/auth-http: the CONFIG url as libcurl reads it, what may travel in a
 * header (no header injection), what an answer means (redirects refused), and the cache of
 * accepted tokens. The HTTP itself is libcurl's, tested end to end by
 * tests/integration/auth_async.test.mjs and auth_https.test.mjs.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <switchboard/errors.h>

#include "answer.h"
#include "cache.h"
#include "httpc.h"

/* ---- url ---- */

static void url_ok(const char *url, const char *normalized, bool https)
{
    char *norm = NULL;
    bool is_https = !https;
    const char *why = NULL;
    int rc = httpc_url_check(url, &norm, &is_https, &why);
    if (rc)
        fail_msg("%s: %d, %s", url, rc, why ? why : "");
    assert_string_equal(norm, normalized);
    assert_int_equal(is_https, https);
    free(norm);
}

static void test_url_accepted(void **unused)
{
    url_ok("http://127.0.0.1:8080/auth/check?x=1", "http://127.0.0.1:8080/auth/check?x=1", false);
    /* libcurl's spelling: the scheme in lower case, "/" for no path. */
    url_ok("HTTP://localhost", "http://localhost/", false);
    url_ok("http://[::1]:9000/v", "http://[::1]:9000/v", false);
    url_ok("http://10.0.0.1:1?a=b", "http://10.0.0.1:1/?a=b", false);
    /* Names are resolved by libcurl's threaded resolver, off the loop. */
    url_ok("https://auth.example.com/check", "https://auth.example.com/check", true);
    url_ok("https://127.0.0.1:8443/", "https://127.0.0.1:8443/", true);
}

static void test_url_refused(void **unused)
{
    static const struct {
        const char *url, *why;
    } cases[] = {
        {"ftp://127.0.0.1/", "must start with http:// or https://"},
        {"file:///etc/passwd", "must start with http:// or https://"},
        {"127.0.0.1:80/", "not a valid url"},
        {"", "not a valid url"},
        {"http://user:pw@127.0.0.1/", "user info"},
        {"https://user@127.0.0.1/", "user info"},
        {"http://127.0.0.1/#frag", "fragment"},
        {"http://127.0.0.1:65536/", "not a valid url"},
        {"http://127.0.0.1:80x/", "not a valid url"},
        {"http://127.0.0.1:0/", "port"},
        {"http://[::1/", "not a valid url"},
        {"http://127.0.0.1/a b", "not a valid url"},
        {"http://127.0.0.1/a\r\nX: y", "not a valid url"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *norm = NULL;
        bool https;
        const char *why = NULL;
        int rc = httpc_url_check(cases[i].url, &norm, &https, &why);
        if (rc != SB_EINVAL || !why || !strstr(why, cases[i].why))
            fail_msg("%s: %d, '%s' does not say '%s'", cases[i].url, rc, why ? why : "",
                     cases[i].why);
        assert_null(norm);
    }
}

/* ---- what may travel in a header ---- */

static void test_header_safe(void **unused)
{
    assert_true(answer_header_safe("t0k.en"));
    assert_true(answer_header_safe("e\xc3\xa9t\xc3\xa9 spaces ok"));
    assert_false(answer_header_safe("a\r\nX-Admin: 1"));
    assert_false(answer_header_safe("a\nb"));
    assert_false(answer_header_safe("tab\there"));
    assert_false(answer_header_safe("del\x7f"));
    assert_false(answer_header_safe(""));
    assert_false(answer_header_safe(NULL));
}

/* ---- what an answer means ---- */

static void answer(int status, const char *body, struct answer *a)
{
    assert_int_equal(answer_parse(status, body, strlen(body), a), 0);
}

static void test_answer_accept(void **unused)
{
    struct answer a;
    answer(200, "{\"user\":\"alice\",\"claims\":{\"role\":\"admin\",\"n\":[1,2]}}", &a);
    assert_int_equal(a.verdict, ANSWER_ACCEPT);
    assert_string_equal(a.user, "alice");
    assert_string_equal(a.claims_json, "{\"role\":\"admin\",\"n\":[1,2]}");
    answer_free(&a);

    answer(200, "{\"user\":42}", &a);
    assert_int_equal(a.verdict, ANSWER_ACCEPT);
    assert_string_equal(a.user, "42");
    assert_null(a.claims_json);
    answer_free(&a);

    answer(200, "{\"user\":\"u\",\"claims\":null,\"other\":true}", &a);
    assert_int_equal(a.verdict, ANSWER_ACCEPT);
    assert_null(a.claims_json);
    answer_free(&a);
}

static void test_answer_refuse(void **unused)
{
    struct answer a;
    answer(401, "{\"message\":\"account suspended\"}", &a);
    assert_int_equal(a.verdict, ANSWER_REFUSE);
    assert_string_equal(a.message, "account suspended");
    answer_free(&a);

    static const char *const plain[] = {"", "nope", "{\"message\":5}", "{\"message\":\"\"}",
                                        "[\"message\"]"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        answer(i % 2 ? 403 : 401, plain[i], &a);
        assert_int_equal(a.verdict, ANSWER_REFUSE);
        assert_string_equal(a.message, "not authorized");
        answer_free(&a);
    }

    /* A long message is cut on a character boundary: 'é' is two bytes. */
    char body[1024] = "{\"message\":\"";
    for (int i = 0; i < 150; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}");
    answer(401, body, &a);
    assert_int_equal(strlen(a.message), ANSWER_MAX_MESSAGE);
    answer_free(&a);
    memmove(body + 13, body + 12, strlen(body + 12) + 1);
    body[12] = 'x'; /* now the 200th byte is the first half of an 'é' */
    answer(401, body, &a);
    assert_int_equal(strlen(a.message), ANSWER_MAX_MESSAGE - 1);
    answer_free(&a);
}

static void test_answer_unavailable(void **unused)
{
    static const struct {
        int status;
        const char *body, *why;
    } cases[] = {
        {500, "{\"user\":\"a\"}", "unexpected status"},
        {201, "{\"user\":\"a\"}", "unexpected status"},
        {301, "", "redirect, which is refused"},
        {302, "", "redirect, which is refused"},
        {307, "{\"user\":\"a\"}", "redirect, which is refused"},
        {304, "", "redirect, which is refused"},
        {404, "", "404"},
        {200, "", "not a JSON object"},
        {200, "{not json", "not a JSON object"},
        {200, "[1]", "not a JSON object"},
        {200, "{\"user\":\"a\",\"user\":\"b\"}", "not a JSON object"}, /* duplicate key */
        {200, "{}", "no \"user\""},
        {200, "{\"user\":\"\"}", "no \"user\""},
        {200, "{\"user\":null}", "no \"user\""},
        {200, "{\"user\":1.5}", "no \"user\""},
        {200, "{\"user\":true}", "no \"user\""},
        {200, "{\"user\":\"a\\u0000b\"}", "not a JSON object"}, /* NUL refused */
        {200, "{\"user\":\"a\",\"claims\":[1]}", "\"claims\" is not an object"},
        {200, "{\"user\":\"a\",\"claims\":\"x\"}", "\"claims\" is not an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct answer a;
        answer(cases[i].status, cases[i].body, &a);
        if (a.verdict != ANSWER_UNAVAILABLE || !a.why || !strstr(a.why, cases[i].why))
            fail_msg("%d %s: verdict %d, why '%s'", cases[i].status, cases[i].body, a.verdict,
                     a.why ? a.why : "");
        assert_null(a.user);
        assert_null(a.message);
        answer_free(&a);
    }
}

/* ---- the client: ending questions in flight ---- */

struct ended {
    int calls, error;
    char why[128];
};

static void ended_cb(void *ud, const struct httpc_result *res)
{
    struct ended *e = ud;
    e->calls++;
    e->error = res->error;
    snprintf(e->why, sizeof(e->why), "%s", res->why ? res->why : "");
}

/* A loopback port that accepts connections (the kernel does, into the backlog) and never
 * answers. Returns the listening socket; its port in *port. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* httpc_free with questions in flight answers each one (SB_ECLOSED) and leaves only handles
 * whose close the loop finishes: afterwards the loop closes with nothing open, and
 * LeakSanitizer finds nothing. */
static void test_client_free_in_flight(void **unused)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int port, lfd = silent_listener(&port);
    char url[64], err[128] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/check", port);

    struct httpc *c = NULL;
    struct httpc_options o = {.timeout_ms = 10000, .user_agent = "test"};
    assert_int_equal(httpc_new(&loop, &o, &c, err, sizeof(err)), 0);
    struct ended e1 = {0}, e2 = {0};
    const char *headers[] = {"Authorization: Bearer t", "Accept: application/json", NULL};
    assert_int_equal(httpc_get(c, url, headers, ended_cb, &e1), 0);
    assert_int_equal(httpc_get(c, url, headers, ended_cb, &e2), 0);
    /* Never inside httpc_get. */
    assert_int_equal(e1.calls + e2.calls, 0);
    /* Let the connections be made and the requests sent (the listener never answers). */
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(e1.calls + e2.calls, 0);

    unsigned open = httpc_free(c);
    assert_true(open > 0); /* the sockets' polls and the timer, closing */
    assert_int_equal(e1.calls, 1);
    assert_int_equal(e2.calls, 1);
    assert_int_equal(e1.error, SB_ECLOSED);
    assert_string_equal(e1.why, "the server is shutting down");
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(lfd);
}

/* An idle client holds no libuv handle: the loop has nothing to wait for. */
static void test_client_idle_holds_nothing(void **unused)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct httpc *c = NULL;
    char err[128] = "";
    struct httpc_options o = {.timeout_ms = 300, .user_agent = "test"};
    assert_int_equal(httpc_new(&loop, &o, &c, err, sizeof(err)), 0);
    assert_int_equal(uv_loop_alive(&loop), 0);
    /* A question to a closed port ends (connection refused), and then nothing is left open. */
    int port, lfd = silent_listener(&port);
    close(lfd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    struct ended e = {0};
    assert_int_equal(httpc_get(c, url, NULL, ended_cb, &e), 0);
    assert_int_not_equal(uv_loop_alive(&loop), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once nothing is open */
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.error, SB_EIO);
    assert_non_null(strstr(e.why, "cannot connect"));
    assert_int_equal(httpc_free(c), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- cache ---- */

static void test_cache(void **unused)
{
    struct cache c;
    unsigned char k1[CACHE_DIGEST_LEN], k2[CACHE_DIGEST_LEN], k3[CACHE_DIGEST_LEN];
    assert_int_equal(cache_key("token-1", "/", k1), 0);
    assert_int_equal(cache_key("token-1", "/admin", k2), 0);
    assert_int_equal(cache_key("token-1/", "", k3), 0);
    assert_memory_not_equal(k1, k2, CACHE_DIGEST_LEN);
    assert_memory_not_equal(k1, k3, CACHE_DIGEST_LEN); /* the NUL separates token and nsp */

    /* Off: nothing is kept. */
    assert_int_equal(cache_init(&c, 0), 0);
    assert_int_equal(cache_put(&c, k1, "alice", NULL, 0), 0);
    assert_null(cache_get(&c, k1, 0));
    cache_free(&c);

    assert_int_equal(cache_init(&c, 1000), 0);
    assert_null(cache_get(&c, k1, 5));
    assert_int_equal(cache_put(&c, k1, "alice", "{\"r\":1}", 100), 0);
    const struct cache_entry *e = cache_get(&c, k1, 500);
    assert_non_null(e);
    assert_string_equal(e->user, "alice");
    assert_string_equal(e->claims_json, "{\"r\":1}");
    assert_null(cache_get(&c, k2, 500)); /* another namespace */
    assert_non_null(cache_get(&c, k1, 1099));
    assert_null(cache_get(&c, k1, 1100)); /* expired */
    /* Replaced in place. */
    assert_int_equal(cache_put(&c, k1, "bob", NULL, 2000), 0);
    e = cache_get(&c, k1, 2001);
    assert_string_equal(e->user, "bob");
    assert_null(e->claims_json);
    /* Many tokens: the table stays bounded, the newest is always found. */
    for (int i = 0; i < 3 * CACHE_SLOTS; i++) {
        char tok[32];
        unsigned char k[CACHE_DIGEST_LEN];
        snprintf(tok, sizeof(tok), "t-%d", i);
        assert_int_equal(cache_key(tok, "/", k), 0);
        assert_int_equal(cache_put(&c, k, tok, NULL, 3000), 0);
        e = cache_get(&c, k, 3000);
        assert_non_null(e);
        assert_string_equal(e->user, tok);
    }
    cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_accepted),
        cmocka_unit_test(test_url_refused),
        cmocka_unit_test(test_header_safe),
        cmocka_unit_test(test_answer_accept),
        cmocka_unit_test(test_answer_refuse),
        cmocka_unit_test(test_answer_unavailable),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_client_free_in_flight),
        cmocka_unit_test(test_client_idle_holds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
