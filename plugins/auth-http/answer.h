/*
 * What the service's answer means for a token: a pure function of the status and the body, no
 * I/O and no globals, so that tests/unit/test_auth_http.c tests the very code the plugin runs.
 * Also the check that a value may travel in a request header.
 */
#ifndef SB_AUTH_HTTP_ANSWER_H
#define SB_AUTH_HTTP_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

/* The longest refusal message passed on to a client (cut on a UTF-8 character boundary). */
#define ANSWER_MAX_MESSAGE 200

/* True when `s` can travel in a header value: no control character (CR and LF would let a
 * client inject headers), not empty. */
bool answer_header_safe(const char *s);

enum answer_verdict {
    ANSWER_ACCEPT,      /* 200 with {"user": …, "claims": {…}?} */
    ANSWER_REFUSE,      /* 401 or 403 */
    ANSWER_UNAVAILABLE, /* anything else (a redirect too): the service is broken or misconfigured */
};

struct answer {
    enum answer_verdict verdict;
    char *user;        /* owned: ANSWER_ACCEPT */
    char *claims_json; /* owned: ANSWER_ACCEPT, NULL when the answer has no claims */
    char *message;     /* owned: ANSWER_REFUSE, the body's "message" or "not authorized" */
    const char *why;   /* ANSWER_UNAVAILABLE: a static reason for the log (never the body) */
};

/* Classifies a complete answer: `status` and the `len` bytes of `body` (borrowed, may be NULL
 * when `len` is 0). Returns 0 or SB_ENOMEM. */
int answer_parse(int status, const char *body, size_t len, struct answer *out);
void answer_free(struct answer *a);

#endif
