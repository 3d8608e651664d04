#include "tokens.h"

#include <switchboard/plugin.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void tokens_init(struct tokens *t)
{
    memset(t, 0, sizeof(*t));
}

void tokens_free(struct tokens *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].user);
    if (t->slots)
        OPENSSL_cleanse(t->slots, t->cap * sizeof(*t->slots));
    free(t->slots);
    tokens_init(t);
}

static int digest(const void *data, size_t len, unsigned char out[TOKENS_DIGEST_LEN])
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != TOKENS_DIGEST_LEN)
        return SB_ENOMEM;
    return 0;
}

/* The digest is uniformly distributed, so its first bytes are already a good slot index. */
static size_t home(const unsigned char *d, size_t cap)
{
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | d[i];
    return (size_t)(h & (cap - 1));
}

static struct token_entry *find(const struct tokens *t, const unsigned char *d)
{
    if (!t->count)
        return NULL;
    for (size_t i = home(d, t->cap);; i = (i + 1) & (t->cap - 1)) {
        struct token_entry *e = &t->slots[i];
        if (!e->user)
            return NULL;
        if (CRYPTO_memcmp(e->digest, d, TOKENS_DIGEST_LEN) == 0)
            return e;
    }
}

static int grow(struct tokens *t)
{
    size_t cap = t->cap ? t->cap * 2 : 16;
    struct token_entry *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return SB_ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].user)
            continue;
        size_t j = home(t->slots[i].digest, cap);
        while (slots[j].user)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    if (t->slots)
        OPENSSL_cleanse(t->slots, t->cap * sizeof(*t->slots));
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Adds a digest; `*dup` is the entry already holding it, if any. */
static int add(struct tokens *t, const unsigned char *d, const char *user, size_t ulen,
               unsigned line, const struct token_entry **dup)
{
    if ((*dup = find(t, d)) != NULL)
        return SB_EEXISTS;
    /* Keep the load factor at or below 1/2 so that misses stay short. */
    if ((t->count + 1) * 2 > t->cap && grow(t))
        return SB_ENOMEM;
    size_t i = home(d, t->cap);
    while (t->slots[i].user)
        i = (i + 1) & (t->cap - 1);
    char *u = strndup(user, ulen);
    if (!u)
        return SB_ENOMEM;
    memcpy(t->slots[i].digest, d, TOKENS_DIGEST_LEN);
    t->slots[i].user = u;
    t->slots[i].line = line;
    t->count++;
    return 0;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a line into at most four fields (the fourth only to notice it exists). */
static size_t fields(const char *s, size_t len, const char *start[4], size_t flen[4])
{
    size_t n = 0, i = 0;
    while (n < 4) {
        while (i < len && blank(s[i]))
            i++;
        if (i == len)
            break;
        start[n] = s + i;
        while (i < len && !blank(s[i]))
            i++;
        flen[n] = (size_t)(s + i - start[n]);
        n++;
    }
    return n;
}

static int parse_line(struct tokens *t, const char *s, size_t len, const char *name, unsigned line,
                      char *err, size_t errlen)
{
    const char *f[4];
    size_t flen[4];
    const struct token_entry *dup = NULL;
    unsigned char d[TOKENS_DIGEST_LEN];

    if (len > 0 && s[len - 1] == '\r')
        len--;
    size_t lead = 0;
    while (lead < len && blank(s[lead]))
        lead++;
    if (lead == len || s[lead] == '#')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: control character", name, line);
    }
    size_t n = fields(s, len, f, flen);
    if (n == 1)
        return sb_init_error(err, errlen, SB_EINVAL, "%s:%u: missing user id after the token", name,
                             line);
    if (n > 3)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "%s:%u: too many fields (expected: token user-id [extra])", name,
                             line);
    if (digest(f[0], flen[0], d))
        return sb_init_error(err, errlen, SB_ENOMEM, "%s:%u: cannot hash the token", name, line);
    int rc = add(t, d, f[1], flen[1], line, &dup);
    OPENSSL_cleanse(d, sizeof(d));
    if (rc == SB_EEXISTS)
        return sb_init_error(err, errlen, rc, "%s:%u: duplicate token (first defined on line %u)",
                             name, line, dup->line);
    if (rc < 0)
        return sb_init_error(err, errlen, rc, "%s:%u: out of memory", name, line);
    return 0;
}

int tokens_parse(struct tokens *t, const char *text, size_t len, const char *name, char *err,
                 size_t errlen)
{
    unsigned line = 1;
    for (size_t i = 0; i < len; line++) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        int rc = parse_line(t, text + i, end - i, name, line, err, errlen);
        if (rc < 0)
            return rc;
        i = end + 1;
    }
    return 0;
}

static int read_file(FILE *f, char **out, size_t *outlen)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f) || n > TOKENS_MAX_FILE)
            break;
        if (n < cap) {
            *out = buf;
            *outlen = n;
            return 0;
        }
        /* Grow by hand rather than realloc() so that no copy of the tokens is left behind in
         * freed memory. */
        char *bigger = malloc(cap * 2);
        if (bigger)
            memcpy(bigger, buf, n);
        OPENSSL_cleanse(buf, cap);
        free(buf);
        buf = bigger;
        cap *= 2;
    }
    int rc = !buf ? SB_ENOMEM : ferror(f) ? SB_EIO : SB_ETOOBIG;
    if (buf)
        OPENSSL_cleanse(buf, cap);
    free(buf);
    return rc;
}

int tokens_load(struct tokens *t, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_init_error(err, errlen, SB_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_file(f, &text, &len);
    int saved = errno;
    fclose(f);
    if (rc == SB_EIO)
        return sb_init_error(err, errlen, rc, "%s: cannot read: %s", path, strerror(saved));
    if (rc == SB_ETOOBIG)
        return sb_init_error(err, errlen, rc, "%s: larger than %u bytes", path, TOKENS_MAX_FILE);
    if (rc < 0)
        return sb_init_error(err, errlen, rc, "%s: out of memory", path);
    rc = tokens_parse(t, text, len, path, err, errlen);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

const char *tokens_lookup(const struct tokens *t, const char *token, size_t len)
{
    unsigned char d[TOKENS_DIGEST_LEN];
    if (digest(token, len, d))
        return NULL;
    const struct token_entry *e = find(t, d);
    return e ? e->user : NULL;
}
