#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <switchboard/errors.h>

bool answer_header_safe(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* A copy of at most ANSWER_MAX_MESSAGE bytes of `s`, cut on a UTF-8 character boundary. */
static char *message_copy(const char *s)
{
    size_t n = strlen(s);
    if (n > ANSWER_MAX_MESSAGE) {
        n = ANSWER_MAX_MESSAGE;
        while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    return strndup(s, n);
}

/* The user id of a 200 answer: a non-empty string without NUL, or an integer. */
static char *user_of(const json_t *v)
{
    char num[32];
    if (json_is_string(v)) {
        if (json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v))
            return NULL;
        return strdup(json_string_value(v));
    }
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(num);
    }
    return NULL;
}

static int unavailable(struct answer *out, const char *why)
{
    answer_free(out);
    out->verdict = ANSWER_UNAVAILABLE;
    out->why = why;
    return 0;
}

int answer_parse(int status, const char *body, size_t len, struct answer *out)
{
    memset(out, 0, sizeof(*out));
    if (status == 401 || status == 403) {
        out->verdict = ANSWER_REFUSE;
        json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
        const json_t *m = json_object_get(root, "message");
        if (json_is_string(m) && json_string_length(m) > 0 &&
            strlen(json_string_value(m)) == json_string_length(m))
            out->message = message_copy(json_string_value(m));
        else
            out->message = strdup("not authorized");
        json_decref(root);
        return out->message ? 0 : SB_ENOMEM;
    }
    /* A redirect is never followed: the token would go to an address nobody configured
     * (another host, or http:// from https://). The url should name the final address. */
    if (status >= 300 && status < 400)
        return unavailable(out, "the service answered a redirect, which is refused (give the "
                                "final address as url=)");
    if (status != 200)
        return unavailable(out, status == 404 ? "the service answered 404 (check the url)"
                                              : "the service answered an unexpected status");

    json_error_t err;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return unavailable(out, "the 200 answer is not a JSON object");
    }
    const json_t *claims = json_object_get(root, "claims");
    if (claims && !json_is_null(claims) && !json_is_object(claims)) {
        json_decref(root);
        return unavailable(out, "the 200 answer's \"claims\" is not an object");
    }
    out->user = user_of(json_object_get(root, "user"));
    if (!out->user) {
        json_decref(root);
        return unavailable(out,
                           "the 200 answer has no \"user\" (a non-empty string or an integer)");
    }
    if (json_is_object(claims)) {
        out->claims_json = json_dumps(claims, JSON_COMPACT);
        if (!out->claims_json) {
            json_decref(root);
            answer_free(out);
            return SB_ENOMEM;
        }
    }
    json_decref(root);
    out->verdict = ANSWER_ACCEPT;
    return 0;
}

void answer_free(struct answer *a)
{
    free(a->user);
    free(a->claims_json);
    free(a->message);
    memset(a, 0, sizeof(*a));
}
