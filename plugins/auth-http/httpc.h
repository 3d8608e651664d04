/*
 * The pure part of auth-http's HTTP client: its CONFIG URL, the request it sends and the
 * HTTP/1.1 answer it parses. No I/O and no globals, so that tests/unit/test_auth_http.c tests
 * the very code the plugin runs.
 */
#ifndef SB_AUTH_HTTP_HTTPC_H
#define SB_AUTH_HTTP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* The largest answer read (status line, headers and body): a bigger one is an error. */
#define HTTPC_MAX_RESPONSE ((size_t)64 * 1024)

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

/*
 * Builds `GET <path> HTTP/1.1` with Host, the token (`Authorization: Bearer <token>` when
 * `header` is "Authorization", `<header>: <token>` otherwise), `X-Switchboard-Namespace: <nsp>`,
 * Accept, User-Agent and `Connection: close`. Returns a new string (its length in *len), or NULL
 * when out of memory or when the token or the namespace is not answer_header_safe().
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

#endif
