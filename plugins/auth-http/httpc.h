/*
 * auth-http's HTTP client: one GET per question, through libcurl's multi-socket API on the
 * server's libuv loop, so that no question blocks it (names are resolved by libcurl's threaded
 * resolver, TLS runs non-blocking). What it promises the plugin:
 *
 *   - http:// and https:// only, certificates and host names verified (against a CA file, or
 *     the system's CAs), TLS 1.2 or later;
 *   - redirects are never followed: a 3xx is an answer like any other, with where it pointed;
 *   - no proxy from the environment, no cookies, no connection kept between questions;
 *   - a whole question (resolving, connecting, TLS, the answer) within its timeout, and an
 *     answer of at most HTTPC_MAX_ANSWER bytes of body;
 *   - every httpc_get() that returned 0 ends with exactly one call of its callback, from a
 *     libuv callback (never inside httpc_get), or from httpc_free().
 *
 * The libuv handles it opens (a poll per socket libcurl watches, one timer) are open only
 * while a question is in flight and are all active then, so the loop never stops with one of
 * them open, and a plugin's fini() finds none (plugin.h, the host's `loop`).
 */
#ifndef SB_AUTH_HTTP_HTTPC_H
#define SB_AUTH_HTTP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* The largest answer body kept: a bigger one is an error. */
#define HTTPC_MAX_ANSWER ((size_t)64 * 1024)

/*
 * Checks a CONFIG url: `http://` or `https://`, a host (an IP address, an [IPv6] address or a
 * name), an optional port, path and query; no user info, no fragment, no spaces or control
 * characters. Sets `*normalized` to a new string (free() it) with libcurl's spelling of the url
 * and `*https` to whether it is one. Returns 0, SB_ENOMEM, or SB_EINVAL / SB_UNSUPPORTED (this
 * libcurl has no TLS, or would resolve names synchronously) with `*why` set to a static reason.
 */
int httpc_url_check(const char *url, char **normalized, bool *https, const char **why);

struct httpc_options {
    const char *ca_file;    /* borrowed, copied: the CA certificates, NULL for the system's */
    uint32_t timeout_ms;    /* a whole question, from 1 ms */
    const char *user_agent; /* borrowed, copied */
};

/* How a question ended. Everything is borrowed until the callback returns. */
struct httpc_result {
    int error;        /* 0: the service answered (status and body); else an SB_E* code */
    const char *why;  /* error: what went wrong, for the log (never a header, never the body) */
    int status;       /* the HTTP status */
    const char *body; /* the body, NUL-terminated ("" when none) */
    size_t body_len;
    const char *redirect; /* a 3xx with a Location: its scheme://host[:port] only (the rest may
                             carry the token back), else NULL */
};

/* Called once per question; `ud` is httpc_get's. */
typedef void (*httpc_done_cb)(void *ud, const struct httpc_result *res);

struct httpc; /* opaque: libcurl's multi handle and the libuv handles it drives */

/*
 * A client on `loop` (borrowed; it must outlive the client). Initialises libcurl
 * (curl_global_init, counted: httpc_free undoes it). Returns 0 with `*out` set, or SB_ENOMEM /
 * SB_IO with a reason in `err`.
 */
int httpc_new(uv_loop_t *loop, const struct httpc_options *o, struct httpc **out, char *err,
              size_t errlen);

/*
 * Starts `GET url` (borrowed, copied; checked by httpc_url_check) with `headers`, a
 * NULL-terminated list of borrowed "Name: value" lines (copied; the caller checks that the
 * values are header-safe). Returns 0, after which `cb` is called exactly once, later; or
 * SB_ENOMEM / SB_IO, and `cb` is never called.
 */
int httpc_get(struct httpc *c, const char *url, const char *const *headers, httpc_done_cb cb,
              void *ud);

/*
 * Ends every question still in flight (each callback is called with SB_ECLOSED, "the server is
 * shutting down"), closes the libuv handles and cleans libcurl up. Returns the number of libuv
 * handles that were still open (0 unless questions were in flight): their memory is freed by
 * their close callbacks if the loop runs again, and stays allocated otherwise.
 */
unsigned httpc_free(struct httpc *c);

#endif
