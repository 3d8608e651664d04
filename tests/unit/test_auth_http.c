/*
 * The pure part of plugins/auth-http: the CONFIG url, the request text (no header injection),
 * the HTTP/1.1 answer parser (lengths, chunks, close-delimited bodies, interim answers, bytes
 * arriving one at a time, the size limit, malformed answers), what an answer means, and the
 * cache of accepted tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <switchboard/errors.h>

#include "answer.h"
#include "cache.h"
#include "httpc.h"

/* ---- url ---- */

static void test_url_ipv4_localhost_ipv6(void **unused)
{
    struct httpc_url u;
    const char *why = NULL;
    assert_int_equal(httpc_url_parse("http://127.0.0.1:8080/auth/check?x=1", &u, &why), 0);
    assert_string_equal(u.host, "127.0.0.1:8080");
    assert_string_equal(u.path, "/auth/check?x=1");
    const struct sockaddr_in *a = (const struct sockaddr_in *)&u.addr;
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohs(a->sin_port), 8080);
    assert_int_equal(ntohl(a->sin_addr.s_addr), 0x7f000001);
    httpc_url_free(&u);

    /* localhost is 127.0.0.1 (no resolver: it would block); the default port is 80 and the
     * default path "/". */
    assert_int_equal(httpc_url_parse("HTTP://localhost", &u, &why), 0);
    assert_string_equal(u.host, "localhost:80");
    assert_string_equal(u.path, "/");
    a = (const struct sockaddr_in *)&u.addr;
    assert_int_equal(ntohs(a->sin_port), 80);
    assert_int_equal(ntohl(a->sin_addr.s_addr), 0x7f000001);
    httpc_url_free(&u);

    assert_int_equal(httpc_url_parse("http://[::1]:9000/v", &u, &why), 0);
    assert_string_equal(u.host, "[::1]:9000");
    assert_string_equal(u.path, "/v");
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&u.addr;
    assert_int_equal(a6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(a6->sin6_port), 9000);
    assert_int_equal(u.addrlen, sizeof(struct sockaddr_in6));
    httpc_url_free(&u);

    /* A query without a path. */
    assert_int_equal(httpc_url_parse("http://10.0.0.1:1?a=b", &u, &why), 0);
    assert_string_equal(u.path, "/?a=b");
    httpc_url_free(&u);
}

static void test_url_refused(void **unused)
{
    static const struct {
        const char *url, *why;
    } cases[] = {
        {"https://127.0.0.1/", "https is not supported"},
        {"ftp://127.0.0.1/", "must start with http://"},
        {"127.0.0.1:80/", "must start with http://"},
        {"http://auth.example.com/check", "must be an IP address or localhost"},
        {"http://user:pw@127.0.0.1/", "user info"},
        {"http://127.0.0.1/#frag", "fragment"},
        {"http://127.0.0.1:0/", "port"},
        {"http://127.0.0.1:65536/", "port"},
        {"http://127.0.0.1:80x/", "port"},
        {"http://127.0.0.1:/", "empty port"},
        {"http:///path", "no host"},
        {"http://[::1/", "unterminated"},
        {"http://[nope]:80/", "IPv6"},
        {"http://[::1]x/", "after the [IPv6]"},
        {"http://127.0.0.1/a b", "spaces"},
        {"http://127.0.0.1/a\r\nX: y", "control"},
        {"http://256.1.1.1/", "IP address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct httpc_url u;
        const char *why = NULL;
        assert_int_equal(httpc_url_parse(cases[i].url, &u, &why), SB_EINVAL);
        assert_non_null(why);
        if (!strstr(why, cases[i].why))
            fail_msg("%s: '%s' does not say '%s'", cases[i].url, why, cases[i].why);
        httpc_url_free(&u);
    }
}

/* ---- request ---- */

static void test_request_text(void **unused)
{
    struct httpc_url u;
    assert_int_equal(httpc_url_parse("http://127.0.0.1:8080/check", &u, NULL), 0);
    size_t len = 0;
    char *r = httpc_request(&u, "Authorization", "t0k.en", "/admin", "ua/1", &len);
    assert_non_null(r);
    assert_string_equal(r, "GET /check HTTP/1.1\r\n"
                           "Host: 127.0.0.1:8080\r\n"
                           "Authorization: Bearer t0k.en\r\n"
                           "X-Switchboard-Namespace: /admin\r\n"
                           "Accept: application/json\r\n"
                           "User-Agent: ua/1\r\n"
                           "Connection: close\r\n"
                           "\r\n");
    assert_int_equal(len, strlen(r));
    free(r);
    r = httpc_request(&u, "X-Token", "abc", "/", "ua/1", &len);
    assert_non_null(strstr(r, "\r\nX-Token: abc\r\n"));
    assert_null(strstr(r, "Bearer"));
    free(r);
    httpc_url_free(&u);
}

static void test_request_refuses_injection(void **unused)
{
    struct httpc_url u;
    assert_int_equal(httpc_url_parse("http://127.0.0.1:8080/check", &u, NULL), 0);
    size_t len;
    assert_null(httpc_request(&u, "Authorization", "a\r\nX-Admin: 1", "/", "ua", &len));
    assert_null(httpc_request(&u, "Authorization", "a\nb", "/", "ua", &len));
    assert_null(httpc_request(&u, "Authorization", "tab\there", "/", "ua", &len));
    assert_null(httpc_request(&u, "Authorization", "del\x7f", "/", "ua", &len));
    assert_null(httpc_request(&u, "Authorization", "", "/", "ua", &len));
    assert_null(httpc_request(&u, "Authorization", "ok", "/x\r\nY: z", "ua", &len));
    assert_true(answer_header_safe("e\xc3\xa9t\xc3\xa9 spaces ok"));
    assert_false(answer_header_safe(NULL));
    httpc_url_free(&u);
}

/* ---- answer parsing ---- */

/* Feeds `text` in pieces of `step` bytes (0: all at once); returns the last result. */
static int feed(struct httpc_response *r, const char *text, size_t step)
{
    size_t len = strlen(text);
    if (!step)
        return httpc_response_feed(r, text, len);
    int rc = HTTPC_MORE;
    for (size_t i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        rc = httpc_response_feed(r, text + i, n);
        if (rc != HTTPC_MORE && i + n < len)
            fail_msg("finished early at byte %zu of %zu", i + n, len);
    }
    return rc;
}

static void expect(const char *text, int status, const char *body)
{
    for (size_t step = 0; step <= 3; step++) {
        struct httpc_response r;
        httpc_response_init(&r);
        int rc = feed(&r, text, step);
        if (rc != HTTPC_DONE)
            fail_msg("step %zu: %d instead of HTTPC_DONE for %s", step, rc, text);
        assert_int_equal(r.status, status);
        assert_int_equal(r.body_len, strlen(body));
        assert_string_equal(r.body, body);
        httpc_response_free(&r);
    }
}

static void test_content_length(void **unused)
{
    expect("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
           "{\"user\":\"a\"}\n",
           200, "{\"user\":\"a\"}\n");
    /* Bare LF line ends, no reason phrase, header case and spaces. */
    expect("HTTP/1.0 401\ncontent-LENGTH:   2  \n\nno", 401, "no");
    /* Empty body. */
    expect("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 403, "");
    /* A repeated, equal Content-Length is fine. */
    expect("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 200, "{}");
    /* 204 has no body whatever the headers say. */
    expect("HTTP/1.1 204 No Content\r\n\r\n", 204, "");
}

static void test_chunked(void **unused)
{
    expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           "7\r\n{\"user\"\r\n"
           "b;ext=1\r\n:\"bob\",\"x\":\r\n"
           "2\r\n1}\r\n"
           "0\r\nX-Trailer: t\r\n\r\n",
           200, "{\"user\":\"bob\",\"x\":1}");
    /* Transfer-Encoding wins over Content-Length. */
    expect("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n"
           "2\r\n{}\r\n0\r\n\r\n",
           200, "{}");
}

static void test_interim_answer_skipped(void **unused)
{
    expect("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200,
           "{}");
}

static void test_close_delimited(void **unused)
{
    struct httpc_response r;
    httpc_response_init(&r);
    assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\n\r\n{\"us", 0), HTTPC_MORE);
    assert_int_equal(feed(&r, "er\":1}", 0), HTTPC_MORE);
    assert_int_equal(httpc_response_eof(&r), HTTPC_DONE);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"user\":1}");
    httpc_response_free(&r);
}

static void test_cut_short(void **unused)
{
    static const char *const cut[] = {
        "",
        "HTTP/1.1 200 OK\r\nContent-Le",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\"",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n",
    };
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct httpc_response r;
        httpc_response_init(&r);
        if (*cut[i])
            assert_int_equal(feed(&r, cut[i], 0), HTTPC_MORE);
        assert_int_equal(httpc_response_eof(&r), SB_EPROTO);
        httpc_response_free(&r);
    }
}

static void test_malformed(void **unused)
{
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct httpc_response r;
        httpc_response_init(&r);
        int rc = feed(&r, bad[i], 0);
        if (rc != SB_EPROTO)
            fail_msg("%d instead of SB_EPROTO for %s", rc, bad[i]);
        httpc_response_free(&r);
    }
}

static void test_size_limit(void **unused)
{
    struct httpc_response r;
    httpc_response_init(&r);
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n";
    assert_int_equal(feed(&r, head, 0), HTTPC_MORE);
    char *chunk = malloc(4096);
    memset(chunk, 'x', 4096);
    int rc = HTTPC_MORE;
    size_t sent = strlen(head);
    while (rc == HTTPC_MORE && sent < 2 * HTTPC_MAX_RESPONSE) {
        rc = httpc_response_feed(&r, chunk, 4096);
        sent += 4096;
    }
    assert_int_equal(rc, SB_ETOOBIG);
    assert_true(sent <= HTTPC_MAX_RESPONSE + 4096);
    free(chunk);
    httpc_response_free(&r);
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
        {302, "", "unexpected status"},
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
        cmocka_unit_test(test_url_ipv4_localhost_ipv6),
        cmocka_unit_test(test_url_refused),
        cmocka_unit_test(test_request_text),
        cmocka_unit_test(test_request_refuses_injection),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_interim_answer_skipped),
        cmocka_unit_test(test_close_delimited),
        cmocka_unit_test(test_cut_short),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_answer_accept),
        cmocka_unit_test(test_answer_refuse),
        cmocka_unit_test(test_answer_unavailable),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
