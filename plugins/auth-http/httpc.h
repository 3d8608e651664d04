/*
 * The pure part of auth-http: its CONFIG URL, the request it sends, the HTTP/1.1 answer it
 * parses, what the answer means, and its cache of accepted tokens. No I/O and no globals, so
 * that tests/unit/test_auth_http.c tests the very code the plugin runs.
 */
#ifndef SB_AUTH_HTTP_HTTPC_H
#define SB_AUTH_HTTP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* The largest answer read (status line, headers and body): a bigger one is an error. */
#define HTTPC_MAX_RESPONSE ((size_t)64 * 1024)
/* The longest refusal message passed on to a client (cut on a UTF-8 character boundary). */
#define HTTPC_MAX_MESSAGE 200

/* ---- the service's URL ---- */

struct httpc_url {
    struct sockaddr_storage addr; /* the IP address and port to connect to */
    socklen_t addrlen;
    char host[64]; /* the Host header: "127.0.0.1:8080", "[::1]:8080" */
    char *path;    /* owned: the request target, "/" when the URL has none */
};

/*
 * Parses `http://HOST[:PORT][/PATH[?QUERY]]` where HOST is an IPv4 address, an IPv6 address in
 * brackets, or `localhost` (127.0.0.1). No name resolution (it would block), no TLS, no user
 * info, no fragment. PORT defaults to 80. Returns 0, or SB_EINVAL with `*why` set to a static
 * reason.
 */
int httpc_url_parse(const char *url, struct httpc_url *out, const char **why);
void httpc_url_free(struct httpc_url *u);

/* ---- the request ---- */

/* True when `s` can travel in a header value: no control character (CR and LF would let a
 * client inject headers), not empty. */
bool httpc_header_safe(const char *s);

/*
 * Builds `GET <path> HTTP/1.1` with Host, the token (`Authorization: Bearer <token>` when
 * `header` is "Authorization", `<header>: <token>` otherwise), `X-Switchboard-Namespace: <nsp>`,
 * Accept, User-Agent and `Connection: close`. Returns a new string (its length in *len), or NULL
 * when out of memory or when the token or the namespace is not httpc_header_safe().
 */
char *httpc_request(const struct httpc_url *u, const char *header, const char *token,
                    const char *nsp, const char *user_agent, size_t *len);

/* ---- the answer ---- */

enum { HTTPC_MORE = 0, HTTPC_DONE = 1 };

struct httpc_response {
    char *buf; /* owned: every byte received */
    size_t len, cap;
    /* Once complete: */
    int status;
    char *body; /* owned, NUL-terminated (the chunked coding removed) */
    size_t body_len;
};

void httpc_response_init(struct httpc_response *r);
void httpc_response_free(struct httpc_response *r);
/* Adds received bytes. Returns HTTPC_MORE, HTTPC_DONE (status and body are set), or SB_EPROTO
 * (not a valid HTTP/1.x answer) / SB_ETOOBIG (over HTTPC_MAX_RESPONSE) / SB_ENOMEM. */
int httpc_response_feed(struct httpc_response *r, const char *data, size_t len);
/* The server closed the connection: an answer delimited by the close is complete. Returns
 * HTTPC_DONE or SB_EPROTO (cut short). */
int httpc_response_eof(struct httpc_response *r);

/* ---- what the answer means ---- */

enum httpc_verdict {
    HTTPC_ACCEPT,      /* 200 with {"user": …, "claims": {…}?} */
    HTTPC_REFUSE,      /* 401 or 403 */
    HTTPC_UNAVAILABLE, /* anything else: the service is broken or misconfigured */
};

struct httpc_answer {
    enum httpc_verdict verdict;
    char *user;        /* owned: HTTPC_ACCEPT */
    char *claims_json; /* owned: HTTPC_ACCEPT, NULL when the answer has no claims */
    char *message;     /* owned: HTTPC_REFUSE, the body's "message" or "not authorized" */
    const char *why;   /* HTTPC_UNAVAILABLE: a static reason for the log (never the body) */
};

/* Classifies a complete answer. Returns 0 or SB_ENOMEM. */
int httpc_answer(int status, const char *body, size_t len, struct httpc_answer *out);
void httpc_answer_free(struct httpc_answer *a);

/* ---- the cache of accepted tokens ---- */

#define HTTPC_CACHE_SLOTS 4096 /* direct-mapped: a newer token may evict an older one */
#define HTTPC_DIGEST_LEN  32

struct httpc_cache_entry {
    unsigned char key[HTTPC_DIGEST_LEN]; /* SHA-256 of token, NUL, namespace */
    uint64_t expires;                    /* loop time in ms; 0 = empty */
    char *user;                          /* owned */
    char *claims_json;                   /* owned, NULL when none */
};

struct httpc_cache {
    struct httpc_cache_entry *slots; /* owned, HTTPC_CACHE_SLOTS of them, NULL when off */
    uint64_t ttl_ms;
};

/* A cache keeping accepted tokens `ttl_ms` (0 = off: every call does nothing). Returns 0 or
 * SB_ENOMEM. */
int httpc_cache_init(struct httpc_cache *c, uint64_t ttl_ms);
void httpc_cache_free(struct httpc_cache *c);
/* The digest a token is cached under (the token itself is never kept). Returns 0 or SB_ENOMEM. */
int httpc_cache_key(const char *token, const char *nsp, unsigned char key[HTTPC_DIGEST_LEN]);
/* The entry of `key` if it has not expired at `now`, or NULL (borrowed). */
const struct httpc_cache_entry *httpc_cache_get(const struct httpc_cache *c,
                                                const unsigned char key[HTTPC_DIGEST_LEN],
                                                uint64_t now);
/* Keeps an accepted identity (copied) until now + ttl. Returns 0 or SB_ENOMEM. */
int httpc_cache_put(struct httpc_cache *c, const unsigned char key[HTTPC_DIGEST_LEN],
                    const char *user, const char *claims_json, uint64_t now);

#endif
