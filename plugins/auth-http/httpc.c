/*
 * libcurl's multi-socket API on a libuv loop, the shape of curl's "multi-uv" example: libcurl
 * says through socket_cb which sockets it wants watched and for what (a uv_poll_t each), and
 * through timer_cb when it wants to be called back (one uv_timer_t); both call
 * curl_multi_socket_action(), after which finished transfers are collected with
 * curl_multi_info_read(). The plugin's callbacks run from there, outside every libcurl call,
 * so that they may start a new question.
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <switchboard/errors.h>

/* CURLOPT_PROTOCOLS_STR: the older CURLOPT_PROTOCOLS is deprecated (a warning, so an error). */
#if LIBCURL_VERSION_NUM < 0x075500
#error "auth-http needs libcurl 7.85 or later"
#endif

struct httpc {
    uv_loop_t *loop;        /* borrowed */
    CURLM *multi;           /* owned */
    uv_timer_t *timer;      /* owned, open only while libcurl wants a timeout; NULL otherwise */
    struct poll *polls;     /* the sockets watched */
    struct httpc_req *reqs; /* in flight */
    unsigned open;          /* libuv handles not closed yet, those closing included */
    bool freed;             /* httpc_free ran while handles were open: the last close frees */
    char *ca_file;          /* owned, NULL for the system's CAs */
    char *user_agent;       /* owned */
    uint32_t timeout_ms;
};

/* A socket libcurl wants watched. The handle comes first: its close callback frees it. */
struct poll {
    uv_poll_t h; /* h.data: the struct httpc */
    curl_socket_t fd;
    struct poll *prev, *next;
};

/* One question. */
struct httpc_req {
    struct httpc_req *prev, *next;
    struct httpc *c;
    CURL *easy;                 /* owned */
    struct curl_slist *headers; /* owned */
    char *body;                 /* owned: the answer's body so far */
    size_t len, cap;
    bool too_big;
    httpc_done_cb cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- the url ---- */

static int bad(const char **why, int rc, const char *reason)
{
    if (why)
        *why = reason;
    return rc;
}

/* True when libcurl's `host` (an [IPv6] address keeps its brackets) is an IP address. */
static bool host_is_ip(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (host[0] == '[')
        return true;
    return inet_pton(AF_INET, host, addr) == 1;
}

int httpc_url_check(const char *url, char **normalized, bool *https, const char **why)
{
    *normalized = NULL;
    CURLU *u = curl_url();
    if (!u)
        return SB_ENOMEM;
    char *scheme = NULL, *host = NULL, *port = NULL, *part = NULL, *norm = NULL;
    int rc = 0;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OUT_OF_MEMORY) {
        rc = SB_ENOMEM;
        goto out;
    }
    if (uc) {
        rc = bad(why, SB_EINVAL,
                 "not a valid url (http://HOST[:PORT][/PATH] or https://…, no spaces or control "
                 "characters)");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        rc = bad(why, SB_EINVAL, "the url must start with http:// or https://");
        goto out;
    }
    *https = strcmp(scheme, "https") == 0;
    if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) != CURLUE_NO_PASSWORD) {
        rc = bad(why, SB_EINVAL, "user info (user@) is not supported in the url");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) != CURLUE_NO_FRAGMENT) {
        rc = bad(why, SB_EINVAL, "a fragment (#) is not allowed in the url");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host) {
        rc = bad(why, SB_EINVAL, "the url has no host");
        goto out;
    }
    if (!curl_url_get(u, CURLUPART_PORT, &port, 0) && strcmp(port, "0") == 0) {
        rc = bad(why, SB_EINVAL, "the port of the url must be a number from 1 to 65535");
        goto out;
    }
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (*https && !(v->features & CURL_VERSION_SSL)) {
        rc = bad(why, SB_EUNSUPPORTED, "this libcurl has no TLS: https is not available");
        goto out;
    }
    if (!host_is_ip(host) && !(v->features & CURL_VERSION_ASYNCHDNS)) {
        rc = bad(why, SB_EUNSUPPORTED,
                 "this libcurl resolves host names synchronously (it would block the server): "
                 "give an IP address");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, &norm, 0) || !(*normalized = strdup(norm)))
        rc = SB_ENOMEM;
out:
    curl_free(part);
    curl_free(norm);
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

/* scheme://host[:port] of an absolute url, into `out`; "" when it does not parse. */
static void origin_of(const char *url, char *out, size_t size)
{
    out[0] = '\0';
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
        !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
        !curl_url_get(u, CURLUPART_HOST, &host, 0)) {
        bool has_port = !curl_url_get(u, CURLUPART_PORT, &port, 0);
        snprintf(out, size, "%s://%s%s%s", scheme, host, has_port ? ":" : "", has_port ? port : "");
    }
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
}

/* ---- libuv handles ---- */

static void closed_cb(uv_handle_t *h)
{
    struct httpc *c = h->data;
    free(h); /* a struct poll or a bare uv_timer_t: the handle is first in both */
    if (--c->open == 0 && c->freed)
        free(c);
}

static void timer_close(struct httpc *c)
{
    if (!c->timer)
        return;
    uv_close((uv_handle_t *)c->timer, closed_cb);
    c->timer = NULL;
}

static void poll_close(struct httpc *c, struct poll *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        c->polls = p->next;
    if (p->next)
        p->next->prev = p->prev;
    uv_close((uv_handle_t *)&p->h, closed_cb);
}

/* ---- finished questions ---- */

static void req_unlink(struct httpc_req *r)
{
    struct httpc *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else if (c->reqs == r)
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* What went wrong, in words for the log: ours first, then libcurl's own (`errbuf`, which names
 * hosts and certificate problems, never a header). */
static const char *describe(const struct httpc_req *r, CURLcode code, char *out, size_t size)
{
    long os = 0;
    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os);
    /* libuv's error codes are negated errno values: uv_strerror words them like the old
     * client did ("connection refused"). */
    const char *oserr = os > 0 ? uv_strerror((int)-os) : NULL;
    const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, size, "no answer within %u ms", r->c->timeout_ms);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, size, "cannot resolve the host (%s)", detail);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(out, size, "cannot connect: %s", oserr ? oserr : detail);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(out, size, "the service's certificate is not trusted (%s)", detail);
        break;
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(out, size, "cannot use the CA file %s (%s)", r->c->ca_file ? r->c->ca_file : "",
                 detail);
        break;
    case CURLE_SSL_CONNECT_ERROR:
        snprintf(out, size, "the TLS handshake failed (%s)", detail);
        break;
    case CURLE_SEND_ERROR:
        snprintf(out, size, "sending the request: %s", oserr ? oserr : detail);
        break;
    case CURLE_RECV_ERROR:
        snprintf(out, size, "reading the answer: %s", oserr ? oserr : detail);
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        snprintf(out, size, "the connection closed before a complete answer (%s)", detail);
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (r->too_big || code == CURLE_FILESIZE_EXCEEDED) {
            snprintf(out, size, "the answer is over %zu bytes", HTTPC_MAX_ANSWER);
            break;
        }
        snprintf(out, size, "out of memory");
        break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        snprintf(out, size, "not a valid HTTP answer (%s)", detail);
        break;
    case CURLE_OUT_OF_MEMORY:
        snprintf(out, size, "out of memory");
        break;
    default:
        snprintf(out, size, "%s", detail);
        break;
    }
    return out;
}

static int error_of(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return SB_ETIMEOUT;
    case CURLE_OUT_OF_MEMORY:
        return SB_ENOMEM;
    case CURLE_FILESIZE_EXCEEDED:
        return SB_ETOOBIG;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return SB_EPROTO;
    default:
        return SB_EIO;
    }
}

/* Ends a question: takes it out of libcurl, tells the caller, frees it. `why` (NULL: from
 * `code`) overrides libcurl's verdict, for questions ended by httpc_free. */
static void req_end(struct httpc_req *r, CURLcode code, int error, const char *why)
{
    struct httpc *c = r->c;
    struct httpc_result res = {.error = error, .why = why, .body = r->body ? r->body : ""};
    char text[CURL_ERROR_SIZE + 128], origin[256] = "";
    if (!why && code == CURLE_WRITE_ERROR && r->too_big)
        code = CURLE_FILESIZE_EXCEEDED;
    if (!why && code != CURLE_OK) {
        res.error = error_of(code);
        res.why = describe(r, code, text, sizeof(text));
    } else if (!why) {
        long status = 0;
        const char *location = NULL;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        res.status = (int)status;
        res.body_len = r->len;
        if (status >= 300 && status < 400 &&
            curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location) {
            origin_of(location, origin, sizeof(origin));
            res.redirect = origin[0] ? origin : NULL;
        }
    }
    req_unlink(r);
    curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    r->cb(r->ud, &res);
    free(r->body);
    free(r);
}

/* Collects the questions libcurl has finished. */
static void check_done(struct httpc *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        /* `m` does not survive curl_multi_remove_handle: copy what is needed first. */
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        req_end((struct httpc_req *)priv, code, 0, NULL);
    }
    /* Nothing in flight: no handle may stay open, however libcurl left its timer. */
    if (!c->reqs)
        timer_close(c);
}

/* ---- libcurl's callbacks, and libuv's that drive it ---- */

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct httpc *c = h->data;
    struct poll *p = (struct poll *)h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(c->multi, p->fd, flags, &running);
    check_done(c);
}

/* CURLMOPT_SOCKETFUNCTION. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct httpc *c = userp;
    struct poll *p = socketp;
    if (what == CURL_POLL_REMOVE) {
        /* Told before libcurl closes the socket, so the number is not reused meanwhile. */
        if (p)
            poll_close(c, p);
        return 0;
    }
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return -1;
        if (uv_poll_init_socket(c->loop, &p->h, fd) != 0) {
            free(p);
            return -1;
        }
        p->h.data = c;
        p->fd = fd;
        p->next = c->polls;
        if (c->polls)
            c->polls->prev = p;
        c->polls = p;
        c->open++;
        curl_multi_assign(c->multi, fd, p);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&p->h, events, poll_cb);
    return 0;
}

static void timer_fire_cb(uv_timer_t *t)
{
    struct httpc *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants curl_multi_socket_action(CURL_SOCKET_TIMEOUT) in
 * `timeout_ms` (0: as soon as possible, never from inside this callback), or no timer (-1). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *c = userp;
    if (timeout_ms < 0) {
        timer_close(c);
        return 0;
    }
    if (!c->timer) {
        c->timer = malloc(sizeof(*c->timer));
        if (!c->timer)
            return -1;
        uv_timer_init(c->loop, c->timer);
        c->timer->data = c;
        c->open++;
    }
    uv_timer_start(c->timer, timer_fire_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

/* CURLOPT_WRITEFUNCTION: the body, up to HTTPC_MAX_ANSWER bytes. */
static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
    struct httpc_req *r = ud;
    size_t len = size * n;
    if (len > HTTPC_MAX_ANSWER - r->len) {
        r->too_big = true;
        return 0;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *body = realloc(r->body, cap);
        if (!body)
            return 0;
        r->body = body;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* ---- the client ---- */

int httpc_new(uv_loop_t *loop, const struct httpc_options *o, struct httpc **out, char *err,
              size_t errlen)
{
    /* Counted, and thread-safe since 7.84: a second client (or another library of the process
     * using libcurl) is fine. */
    CURLcode gc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (gc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(gc));
        return SB_EIO;
    }
    struct httpc *c = calloc(1, sizeof(*c));
    if (!c)
        goto nomem;
    c->loop = loop;
    c->timeout_ms = o->timeout_ms;
    c->user_agent = strdup(o->user_agent);
    c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    c->multi = curl_multi_init();
    if (!c->user_agent || (o->ca_file && !c->ca_file) || !c->multi)
        goto nomem;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c))
        goto nomem;
    *out = c;
    return 0;
nomem:
    if (c) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c->ca_file);
        free(c);
    }
    curl_global_cleanup();
    snprintf(err, errlen, "out of memory");
    return SB_ENOMEM;
}

/* The options of one question; false when libcurl refused one (out of memory, or an option
 * this libcurl lacks). */
static bool req_setup(struct httpc_req *r, const char *url)
{
    struct httpc *c = r->c;
    CURL *e = r->easy;
    bool ok = !curl_easy_setopt(e, CURLOPT_URL, url) && !curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) &&
              !curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) &&
              !curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) &&
              !curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") &&
              /* A 3xx is the answer: the plugin refuses it, naming where it pointed. */
              !curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) &&
              !curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) &&
              !curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) &&
              !curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) &&
              (!c->ca_file || !curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file)) &&
#if LIBCURL_VERSION_NUM >= 0x075700
              /* The parsed certificates are kept for the multi handle's transfers (parsing a
               * system bundle on the loop for each question would cost milliseconds), an hour
               * instead of libcurl's day, so that a renewed file is read again soon enough. */
              !curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 3600L) &&
#endif
              /* The server handles its own signals; the threaded resolver needs no alarm. */
              !curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) &&
              !curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms) &&
              !curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms) &&
              /* The service is named by the url alone: no http_proxy from the environment. */
              !curl_easy_setopt(e, CURLOPT_PROXY, "") &&
              /* One question, one connection: a pool would keep sockets of idle connections
               * on the server's loop, and their handles would outlive the questions. */
              !curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) &&
              /* With a new connection each time, HTTP/2 would gain nothing. */
              !curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) &&
              !curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTPC_MAX_ANSWER) &&
              !curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) &&
              !curl_easy_setopt(e, CURLOPT_WRITEDATA, r) &&
              !curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) &&
              !curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    return ok;
}

int httpc_get(struct httpc *c, const char *url, const char *const *headers, httpc_done_cb cb,
              void *ud)
{
    struct httpc_req *r = calloc(1, sizeof(*r));
    if (!r)
        return SB_ENOMEM;
    r->c = c;
    r->cb = cb;
    r->ud = ud;
    int rc = SB_ENOMEM;
    r->easy = curl_easy_init();
    if (!r->easy)
        goto fail;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(r->headers, headers[i]);
        if (!l)
            goto fail;
        r->headers = l;
    }
    if (!req_setup(r, url))
        goto fail;
    /* Sets a timeout of 0 through timer_cb: the transfer starts from the loop, later. */
    CURLMcode mc = curl_multi_add_handle(c->multi, r->easy);
    if (mc != CURLM_OK) {
        rc = mc == CURLM_OUT_OF_MEMORY ? SB_ENOMEM : SB_EIO;
        goto fail;
    }
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    return 0;
fail:
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r);
    return rc;
}

unsigned httpc_free(struct httpc *c)
{
    if (!c)
        return 0;
    while (c->reqs)
        req_end(c->reqs, CURLE_OK, SB_ECLOSED, "the server is shutting down");
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->polls)
        poll_close(c, c->polls);
    timer_close(c);
    curl_global_cleanup();
    free(c->ca_file);
    free(c->user_agent);
    c->ca_file = c->user_agent = NULL;
    unsigned open = c->open;
    if (open)
        c->freed = true;
    else
        free(c);
    return open;
}
