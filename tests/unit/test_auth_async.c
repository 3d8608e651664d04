/*
 * The host's side of asynchronous authentication (server/plugin/host_api.c): the chain of auth
 * plugins stopping at SB_AUTH_PENDING and going on at auth_resume(), the completion callback, and
 * the lifetime contract of a pending request: valid until the plugin's auth_resume() even after
 * the attempt was cancelled (timeout, connection closed), a late resume answered SB_ETIMEOUT /
 * SB_ECLOSED, a repeated or stray one SB_EINVAL, one from inside the hook SB_ESTATE, and requests
 * never resumed freed at unload. Run under AddressSanitizer, any use after free fails the test.
 * The plugins are hooks in this file, in a hand-made plugin set (no dlopen).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/plugin/plugin.h"

static const sb_host_api_t *api = &plugin_host_api;

/* What each fake plugin answers, and what it saw. */
struct fake {
    sb_auth_verdict_t answer;
    const char *user; /* set before ACCEPT */
    int calls;
    sb_auth_req_t *last; /* the request it was given */
    int resume_inside;   /* the result of an auth_resume() tried inside the hook */
    bool try_resume_inside;
};

static struct fake fakes[3];

static sb_auth_verdict_t hook(struct fake *f, sb_auth_req_t *req)
{
    f->calls++;
    f->last = req;
    if (f->try_resume_inside)
        f->resume_inside = api->auth_resume(req, SB_AUTH_ACCEPT);
    if (f->answer == SB_AUTH_ACCEPT && f->user)
        api->auth_set_user(req, f->user, "{\"via\":\"hook\"}");
    return f->answer;
}

static sb_auth_verdict_t hook0(void *state, sb_auth_req_t *req)
{
    return hook(&fakes[0], req);
}

static sb_auth_verdict_t hook1(void *state, sb_auth_req_t *req)
{
    return hook(&fakes[1], req);
}

static sb_auth_verdict_t hook2(void *state, sb_auth_req_t *req)
{
    return hook(&fakes[2], req);
}

static const sb_plugin_t descs[3] = {
    {.name = "first"},
    {.name = "second"},
    {.name = "third"},
};

static struct plugins set;
static struct plugin plugins[3];
static struct plugin *chain[3];

/* A set of `n` auth plugins answering `a0`, `a1`, `a2`. */
static void setup_chain(size_t n, sb_auth_verdict_t a0, sb_auth_verdict_t a1, sb_auth_verdict_t a2)
{
    static const sb_authenticate_fn hooks[3] = {hook0, hook1, hook2};
    const sb_auth_verdict_t answers[3] = {a0, a1, a2};
    memset(&set, 0, sizeof(set));
    memset(fakes, 0, sizeof(fakes));
    for (size_t i = 0; i < 3; i++) {
        plugins[i] = (struct plugin){.desc = &descs[i], .set = &set, .authenticate = hooks[i]};
        plugins[i].host.plugin = &plugins[i];
        chain[i] = &plugins[i];
        fakes[i].answer = answers[i];
    }
    set.auth = chain;
    set.nauth = n;
    set.auth_timeout_ms = 1234;
}

/* The completion callback: records the outcome and takes the identity. */
struct outcome {
    int calls;
    enum auth_outcome outcome;
    char *user;
    char *claims;
    char *message;
};

static void done_cb(void *ud, struct sb_auth_req *req, enum auth_outcome o)
{
    struct outcome *out = ud;
    out->calls++;
    out->outcome = o;
    out->user = req->user;
    req->user = NULL;
    out->claims = req->claims ? json_dumps(req->claims, JSON_COMPACT) : NULL;
    out->message = req->message;
    req->message = NULL;
}

static void outcome_clear(struct outcome *o)
{
    free(o->user);
    free(o->claims);
    free(o->message);
    memset(o, 0, sizeof(*o));
}

static int start(const char *token, const char *nsp, struct outcome *out, struct sb_auth_req **req)
{
    return plugins_auth_start(&set, token, nsp, done_cb, out, req);
}

static void test_synchronous_outcomes(void **unused)
{
    struct outcome out = {0};
    struct sb_auth_req *req;
    setup_chain(2, SB_AUTH_DECLINE, SB_AUTH_ACCEPT, 0);
    fakes[1].user = "bob";
    assert_int_equal(start("tok", "/", &out, &req), AUTH_ACCEPTED);
    assert_string_equal(req->user, "bob");
    plugins_auth_free(req);

    setup_chain(2, SB_AUTH_REFUSE, SB_AUTH_ACCEPT, 0);
    assert_int_equal(start("tok", "/", &out, &req), AUTH_REFUSED);
    assert_int_equal(fakes[1].calls, 0);
    plugins_auth_free(req);

    setup_chain(2, SB_AUTH_DECLINE, SB_AUTH_DECLINE, 0);
    assert_int_equal(start("tok", "/", &out, &req), AUTH_NONE);
    plugins_auth_free(req);
    assert_int_equal(out.calls, 0); /* the callback is only for answers that come later */
}

static void test_pending_then_accept(void **unused)
{
    struct outcome out = {0};
    struct sb_auth_req *req;
    setup_chain(2, SB_AUTH_PENDING, SB_AUTH_ACCEPT, 0);
    char token[] = "secret-token", nsp[] = "/admin";
    assert_int_equal(start(token, nsp, &out, &req), AUTH_PENDING);
    assert_ptr_equal(fakes[0].last, req);
    assert_int_equal(fakes[1].calls, 0); /* the chain stopped */
    /* The request keeps its own copies: the caller's buffers may go. */
    memset(token, 'x', sizeof(token) - 1);
    memset(nsp, 'y', sizeof(nsp) - 1);
    assert_string_equal(api->auth_token(req), "secret-token");
    assert_string_equal(api->auth_nsp(req), "/admin");

    assert_int_equal(api->auth_set_user(req, "alice", "{\"a\":1}"), 0);
    assert_int_equal(api->auth_resume(req, SB_AUTH_ACCEPT), 0);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.outcome, AUTH_ACCEPTED);
    assert_string_equal(out.user, "alice");
    assert_string_equal(out.claims, "{\"a\":1}");
    assert_int_equal(fakes[1].calls, 0);
    /* The request is gone: a second resume is refused without touching it. */
    assert_int_equal(api->auth_resume(req, SB_AUTH_ACCEPT), SB_EINVAL);
    assert_int_equal(out.calls, 1);
    outcome_clear(&out);
}

static void test_pending_then_refuse(void **unused)
{
    struct outcome out = {0};
    struct sb_auth_req *req;
    setup_chain(1, SB_AUTH_PENDING, 0, 0);
    assert_int_equal(start("t", "/", &out, &req), AUTH_PENDING);
    api->auth_set_message(req, "suspended");
    assert_int_equal(api->auth_resume(req, SB_AUTH_REFUSE), 0);
    assert_int_equal(out.outcome, AUTH_REFUSED);
    assert_string_equal(out.message, "suspended");
    outcome_clear(&out);

    /* Accepting without a user is refused. */
    assert_int_equal(start("t", "/", &out, &req), AUTH_PENDING);
    assert_int_equal(api->auth_resume(req, SB_AUTH_ACCEPT), 0);
    assert_int_equal(out.outcome, AUTH_REFUSED);
    assert_null(out.user);
    outcome_clear(&out);
}

static void test_decline_goes_on_and_may_pend_again(void **unused)
{
    struct outcome out = {0};
    struct sb_auth_req *req;
    setup_chain(3, SB_AUTH_PENDING, SB_AUTH_PENDING, SB_AUTH_ACCEPT);
    fakes[2].user = "carol";
    assert_int_equal(start("t", "/", &out, &req), AUTH_PENDING);
    /* A user set before declining is forgotten. */
    api->auth_set_user(req, "not-me", NULL);
    assert_int_equal(api->auth_resume(req, SB_AUTH_DECLINE), 0);
    assert_int_equal(fakes[1].calls, 1); /* asked, and pending in turn */
    assert_int_equal(out.calls, 0);
    assert_null(req->user);
    /* The first plugin no longer owns it. */
    assert_int_equal(api->auth_resume(req, SB_AUTH_DECLINE), 0);
    assert_int_equal(fakes[2].calls, 1);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.outcome, AUTH_ACCEPTED);
    assert_string_equal(out.user, "carol");
    outcome_clear(&out);

    /* Every plugin declines in the end: AUTH_NONE (the server refuses "invalid token"). */
    setup_chain(2, SB_AUTH_PENDING, SB_AUTH_DECLINE, 0);
    assert_int_equal(start("t", "/", &out, &req), AUTH_PENDING);
    assert_int_equal(api->auth_resume(req, SB_AUTH_DECLINE), 0);
    assert_int_equal(out.outcome, AUTH_NONE);
    outcome_clear(&out);
}

static void test_late_resume_after_cancel(void **unused)
{
    static const int whys[] = {SB_ETIMEOUT, SB_ECLOSED};
    for (size_t i = 0; i < 2; i++) {
        struct outcome out = {0};
        struct sb_auth_req *req;
        setup_chain(2, SB_AUTH_PENDING, SB_AUTH_ACCEPT, 0);
        fakes[1].user = "never";
        assert_int_equal(start("t", "/", &out, &req), AUTH_PENDING);
        plugins_auth_cancel(req, whys[i]);
        /* Still valid for the plugin: every accessor works (ASan would see a freed one). */
        assert_string_equal(api->auth_token(req), "t");
        assert_int_equal(api->auth_set_user(req, "late", NULL), 0);
        assert_int_equal(api->auth_set_message(req, "late"), 0);
        assert_int_equal(api->auth_resume(req, SB_AUTH_ACCEPT), whys[i]);
        assert_int_equal(out.calls, 0);
        assert_int_equal(fakes[1].calls, 0);
        /* Now it is gone. */
        assert_int_equal(api->auth_resume(req, SB_AUTH_ACCEPT), SB_EINVAL);
    }
}

static void test_resume_misuse(void **unused)
{
    struct outcome out = {0};
    struct sb_auth_req *req;
    setup_chain(1, SB_AUTH_PENDING, 0, 0);
    /* From inside the hook, before it returned SB_AUTH_PENDING. */
    fakes[0].try_resume_inside = true;
    assert_int_equal(start("t", "/", &out, &req), AUTH_PENDING);
    assert_int_equal(fakes[0].resume_inside, SB_ESTATE);
    /* Not a verdict. */
    assert_int_equal(api->auth_resume(req, SB_AUTH_PENDING), SB_EINVAL);
    assert_int_equal(api->auth_resume(req, (sb_auth_verdict_t)99), SB_EINVAL);
    assert_int_equal(api->auth_resume(NULL, SB_AUTH_REFUSE), SB_EINVAL);
    /* A pointer that is no request at all. */
    int junk = 0;
    assert_int_equal(api->auth_resume((sb_auth_req_t *)(void *)&junk, SB_AUTH_REFUSE), SB_EINVAL);
    /* Still waiting: a proper answer works. */
    assert_int_equal(api->auth_resume(req, SB_AUTH_REFUSE), 0);
    assert_int_equal(out.outcome, AUTH_REFUSED);
    outcome_clear(&out);

    /* A request that finished synchronously was never pending. */
    setup_chain(1, SB_AUTH_REFUSE, 0, 0);
    assert_int_equal(start("t", "/", &out, &req), AUTH_REFUSED);
    assert_int_equal(api->auth_resume(req, SB_AUTH_ACCEPT), SB_ESTATE);
    plugins_auth_free(req);
}

static void test_synchronous_form_refuses_pending(void **unused)
{
    setup_chain(2, SB_AUTH_PENDING, SB_AUTH_ACCEPT, 0);
    struct sb_auth_req req = {.token = "t", .nsp = "/"};
    assert_int_equal(plugins_authenticate(&set, &req), AUTH_REFUSED);
    assert_int_equal(fakes[1].calls, 0);
    /* The plugin thinks it owes an answer: the stack request is not a live one. */
    assert_int_equal(api->auth_resume(&req, SB_AUTH_ACCEPT), SB_EINVAL);
    auth_req_clear(&req);
}

static void test_never_resumed_freed_at_unload(void **unused)
{
    struct outcome out = {0};
    struct sb_auth_req *a, *b;
    setup_chain(1, SB_AUTH_PENDING, 0, 0);
    assert_int_equal(start("t1", "/", &out, &a), AUTH_PENDING);
    assert_int_equal(start("t2", "/", &out, &b), AUTH_PENDING);
    api->auth_set_user(a, "leak-check", "{}");
    plugins_auth_cancel(b, SB_ECLOSED);
    /* Neither is resumed: LeakSanitizer fails the test if unload does not free both. */
    plugins_auth_abandoned();
    assert_int_equal(api->auth_resume(a, SB_AUTH_ACCEPT), SB_EINVAL);
    assert_int_equal(out.calls, 0);
}

static void test_host_functions_of_abi_1_2(void **unused)
{
    setup_chain(1, SB_AUTH_DECLINE, 0, 0);
    assert_int_equal(api->abi_major, 1);
    assert_true(api->abi_minor >= 2);
    assert_true(SB_HOST_HAS(api, loop));
    assert_true(SB_HOST_HAS(api, auth_timeout_ms));
    uv_loop_t loop;
    set.loop = &loop;
    assert_ptr_equal(api->loop(&plugins[0].host), &loop);
    assert_int_equal(api->auth_timeout_ms(&plugins[0].host), 1234);
    assert_null(api->loop(NULL));
    assert_int_equal(api->auth_timeout_ms(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synchronous_outcomes),
        cmocka_unit_test(test_pending_then_accept),
        cmocka_unit_test(test_pending_then_refuse),
        cmocka_unit_test(test_decline_goes_on_and_may_pend_again),
        cmocka_unit_test(test_late_resume_after_cancel),
        cmocka_unit_test(test_resume_misuse),
        cmocka_unit_test(test_synchronous_form_refuses_pending),
        cmocka_unit_test(test_never_resumed_freed_at_unload),
        cmocka_unit_test(test_host_functions_of_abi_1_2),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    plugins_auth_abandoned();
    return rc;
}
