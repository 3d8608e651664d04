/*
 * Handshake query strings, decoded the way Node's querystring module does it: '&' separates
 * pairs, the first '=' separates key from value, '+' is a space, a malformed escape stays
 * literal and bytes that are not UTF-8 become U+FFFD. Every key and value comes out as a valid
 * UTF-8 C string, so the Lua layer and jansson can take them without checking again.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into `dst` (room for len bytes) and returns the decoded length. A
 * "%00" stays literal, because a NUL would silently cut the C string short (a token "a%00b"
 * must not compare equal to "a"). */
static size_t unescape(const char *s, size_t len, char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len) {
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
                c = (char)(hi << 4 | lo);
                i += 2;
            }
        }
        dst[n++] = c;
    }
    return n;
}

/* Returns a new NUL-terminated copy of s[0..len) with every invalid UTF-8 subpart replaced
 * by U+FFFD, or NULL on allocation failure. */
static char *utf8_copy(const char *s, size_t len)
{
    /* One replacement is at most three bytes for at least one byte of input. */
    char *dst = malloc(len * 3 + 1);
    if (!dst)
        return NULL;
    size_t n = 0, i = 0;
    while (i < len) {
        size_t bad = 0;
        size_t k = proto_utf8_seq((const unsigned char *)s + i, len - i, &bad);
        if (k) {
            memcpy(dst + n, s + i, k);
            n += k;
            i += k;
        } else {
            memcpy(dst + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i += bad;
        }
    }
    dst[n] = '\0';
    return dst;
}

/* Decodes one key or value into a new string. */
static char *decode(const char *s, size_t len)
{
    char *tmp = malloc(len + 1);
    if (!tmp)
        return NULL;
    size_t n = unescape(s, len, tmp);
    char *res = utf8_copy(tmp, n);
    free(tmp);
    return res;
}

int query_parse(const char *qs, size_t len, struct query *out)
{
    out->pairs = NULL;
    out->count = 0;
    /* A raw NUL cannot come from a URL; treat it as the end, as a C string would. */
    const char *nul = len ? memchr(qs, '\0', len) : NULL;
    if (nul)
        len = (size_t)(nul - qs);

    /* Count first, so the limit is enforced before anything is allocated. Empty pieces ("a&&b",
     * a trailing '&') are skipped, as Node does. */
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - qs) : len;
        if (end > i)
            count++;
        i = end + 1;
    }
    if (count > QUERY_MAX_PAIRS)
        return SB_ETOOBIG;
    if (count == 0)
        return 0;

    struct query_pair *pairs = calloc(count, sizeof(*pairs));
    if (!pairs)
        return SB_ENOMEM;
    out->pairs = pairs;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - qs) : len;
        if (end > i) {
            const char *eq = memchr(qs + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (qs + i)) : end - i;
            struct query_pair *p = &pairs[out->count++];
            p->key = decode(qs + i, klen);
            p->value = eq ? decode(eq + 1, end - i - klen - 1) : decode("", 0);
            if (!p->key || !p->value) {
                query_free(out);
                return SB_ENOMEM;
            }
        }
        i = end + 1;
    }
    return 0;
}

const char *query_get(const struct query *q, const char *key)
{
    for (size_t i = 0; i < q->count; i++) {
        if (strcmp(q->pairs[i].key, key) == 0)
            return q->pairs[i].value;
    }
    return NULL;
}

int pairs_append(struct sbuf *b, const char *key, const char *value, size_t value_len)
{
    const char *nul = memchr(value, '\0', value_len);
    if (nul)
        value_len = (size_t)(nul - value);
    sbuf_append(b, key, strlen(key) + 1);
    sbuf_append(b, value, value_len);
    return sbuf_append_char(b, '\0');
}

char *pairs_finish(struct sbuf *b)
{
    char *out = NULL;
    if (b->len && !b->failed && (out = malloc(b->len + 1))) {
        memcpy(out, sbuf_data(b), b->len);
        out[b->len] = '\0';
    }
    sbuf_free(b);
    return out;
}

char *pairs_from_query(const struct query *q, const char *skip)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    for (size_t i = 0; i < q->count; i++)
        if (!skip || strcmp(q->pairs[i].key, skip) != 0)
            pairs_append(&b, q->pairs[i].key, q->pairs[i].value, strlen(q->pairs[i].value));
    return pairs_finish(&b);
}

json_t *pairs_to_json(const char *packed)
{
    json_t *obj = json_object();
    for (const char *k = packed; obj && k && *k;) {
        const char *v = k + strlen(k) + 1;
        json_t *str = json_string(v);
        if (!str || json_object_set_new(obj, k, str) != 0) {
            json_decref(obj);
            return NULL;
        }
        k = v + strlen(v) + 1;
    }
    return obj;
}

void query_free(struct query *q)
{
    for (size_t i = 0; i < q->count; i++) {
        free(q->pairs[i].key);
        free(q->pairs[i].value);
    }
    free(q->pairs);
    q->pairs = NULL;
    q->count = 0;
}
