/*
 * auth-jwt: accepts JSON Web Tokens signed with HMAC (HS256/384/512), RSA (RS256/384/512), ECDSA
 * (ES256/384) or Ed25519 (EdDSA), with keys from a shared secret, PEM files and a JWKS file.
 *
 * CONFIG (items separated by commas; docs/plugins/auth-jwt.md has the full story):
 *   secret=<text> | secret_env=<VAR> | secret_file=<path>   an HMAC secret; without any of these
 *                                                and without key_file/jwks_file:
 * $SWITCHBOARD_JWT_SECRET key_file=[<kid>:]<path>     a PEM public key or certificate (repeatable,
 * at most 16) jwks_file=<path>            a JSON Web Key Set, re-read when it changes
 *   jwks_hmac=true|false        accept "oct" keys from the JWKS (default false)
 *   algs=<ALG>|<ALG>...         accepted algorithms (default: HS256 for the secret, every
 *                               algorithm of its type for a public key)
 *   iss=<issuer>  aud=<audience>  user_claim=<claim> (default sub)  required_claims=<c>|<c>...
 *   leeway=<seconds>            0..60, default 30
 *   refresh=true|false          give the identity the token's `exp` as its expiry (ABI 1.5), so
 *                               that the server asks for a new token then (default false: the
 *                               token is checked at connect only)
 *
 * A token that is not shaped like a JWT is declined, so another auth plugin may know it; a JWT
 * that fails any check is refused with the reason; a valid one becomes the user named by the user
 * claim, with the payload as claims. Neither the token, the secret nor key material is ever
 * written to the log or to an error message: messages name options by position, variables and
 * files by name, keys by kid.
 *
 * Reload: on SIGHUP (the reload hook, ABI 1.3) the JWKS file is looked at at once; besides, it
 * is checked for a change (device, inode, size, mtime) at most once a second, on the next
 * authentication, so a rotation is picked up even without a signal. It is re-read when it
 * changed; a file that fails to load leaves the previous keys in place and the reason in the
 * log.
 */
#include "jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <switchboard/plugin.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

#define DEFAULT_SECRET_ENV "SWITCHBOARD_JWT_SECRET"
#define MIN_SECRET_LEN     32 /* RFC 7518 §3.2: an HS256 key should have at least 256 bits */
#define MAX_SECRET_FILE    65536
#define MAX_KEY_FILES      16
#define MAX_KEY_FILE       (1 << 20)
#define MAX_JWKS_FILE      (1 << 20)
#define JWKS_CHECK_MS      1000 /* how often, at most, the JWKS file is looked at */

#define CONFIG_KEYS                                                                                \
    "secret, secret_env, secret_file, key_file, jwks_file, jwks_hmac, algs, iss, aud, "            \
    "user_claim, required_claims, leeway, refresh"

enum source { SRC_DEFAULT, SRC_TEXT, SRC_ENV, SRC_FILE };

struct key_file {
    const char *kid; /* borrowed from the CONFIG copy; NULL when none */
    const char *path;
};

/* CONFIG as parsed. Every string is borrowed from the splitter's copy, valid during init only. */
struct options {
    enum source source;
    const char *value; /* the secret's text, variable name or path */
    int leeway;
    bool has_leeway;
    unsigned algs;
    bool has_algs;
    struct key_file key_files[MAX_KEY_FILES];
    size_t nkey_files;
    const char *jwks_file;
    bool jwks_hmac, has_jwks_hmac;
    bool refresh, has_refresh;
    bool has_jwks_file;
    const char *iss, *aud, *user_claim;
    bool has_iss, has_aud, has_user_claim;
    const char *required[JWT_MAX_REQUIRED];
    size_t nrequired;
    bool has_required;
};

/* What identifies one version of a file without reading it. */
struct file_id {
    bool valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    struct jwt_verifier verifier;
    struct jwt_keyset *static_keys; /* the secret and the key files: loaded once */
    struct jwt_keyset *keys;        /* what tokens are verified with: static_keys + the JWKS */
    /* The JWKS file, when there is one. */
    char *jwks_path;
    unsigned jwks_algs, jwks_flags;
    struct file_id jwks_loaded; /* the version `keys` came from */
    struct file_id jwks_failed; /* the last version that failed to load: not retried */
    bool jwks_missing;          /* the file could not be stat()ed: said once */
    uint64_t jwks_next_check;   /* ms, on now_ms()'s clock */
    bool refresh;               /* refresh=true: `exp` becomes the identity's expiry */
};

/* A claim name: printable ASCII without spaces, as the verifier wants it (it appears in refusal
 * messages). */
static bool good_claim_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return false;
    return n > 0 && n <= JWT_MAX_CLAIM_NAME;
}

static bool good_claim_value(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            return false;
    return n > 0 && n <= JWT_MAX_CLAIM_VALUE;
}

/* key_file=[kid:]path: a colon before the first '/' ends the kid, so "/a:b.pem" and "./a:b.pem"
 * are plain paths and "main:/etc/jwt/rsa.pem" is the key "main". */
static int parse_key_file(char *value, struct options *o, char *err, size_t errlen)
{
    if (o->nkey_files == MAX_KEY_FILES)
        return sb_init_error(err, errlen, SB_EINVAL, "at most %d key_file= items", MAX_KEY_FILES);
    struct key_file *kf = &o->key_files[o->nkey_files];
    char *colon = strchr(value, ':'), *slash = strchr(value, '/');
    kf->kid = NULL;
    kf->path = value;
    if (colon && (!slash || colon < slash)) {
        *colon = '\0';
        kf->kid = value;
        kf->path = colon + 1;
        if (!*kf->kid)
            return sb_init_error(err, errlen, SB_EINVAL, "key_file %u: the kid before ':' is empty",
                                 (unsigned)o->nkey_files + 1);
    }
    if (!*kf->path)
        return sb_init_error(err, errlen, SB_EINVAL, "key_file %u: the path is empty",
                             (unsigned)o->nkey_files + 1);
    o->nkey_files++;
    return 0;
}

static int parse_required(char *value, struct options *o, char *err, size_t errlen)
{
    const char *cursor = value, *item;
    size_t len;
    int rc;
    while ((rc = sb_cfg_list_next(&cursor, &item, &len)) == 1) {
        char *name = value + (item - value);
        name[len] = '\0'; /* the value is ours to cut: the splitter's copy */
        if (!good_claim_name(name))
            break;
        if (o->nrequired == JWT_MAX_REQUIRED)
            return sb_init_error(err, errlen, SB_EINVAL, "required_claims= names more than %d",
                                 JWT_MAX_REQUIRED);
        o->required[o->nrequired++] = name;
    }
    if (rc == 0)
        return 0;
    return sb_init_error(err, errlen, SB_EINVAL,
                         "required_claims= must be claim names separated by '|'");
}

/* Parses one pair of CONFIG. A secret's value is never echoed, and neither is an item or an
 * unknown key (the splitter is SB_CFG_QUIET): a secret given without its `secret=` prefix must
 * not end up in the server's startup error. */
static int parse_item(const struct sb_cfg *c, const struct sb_cfg_pair *p, struct options *o,
                      char *err, size_t errlen)
{
    static const struct {
        const char *key;
        enum source source;
    } sources[] = {{"secret", SRC_TEXT}, {"secret_env", SRC_ENV}, {"secret_file", SRC_FILE}};
    static const char *const booleans[] = {"false", "true", NULL};
    const char *key = p->key;
    char *value = p->value;

    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (strcmp(key, sources[i].key) != 0)
            continue;
        if (o->source != SRC_DEFAULT)
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "give only one of secret=, secret_env= and secret_file=");
        o->source = sources[i].source;
        o->value = value;
        return 0;
    }
    /* Every other key names no secret: its value may be named in a message. */
    if (strcmp(key, "leeway") == 0) {
        uint64_t v = 0;
        if (sb_cfg_once(c, key, &o->has_leeway, err, errlen) ||
            sb_cfg_u64(c, key, value, 0, JWT_MAX_LEEWAY, &v, err, errlen))
            return SB_EINVAL;
        o->leeway = (int)v;
        return 0;
    }
    if (strcmp(key, "algs") == 0) {
        if (sb_cfg_once(c, key, &o->has_algs, err, errlen))
            return SB_EINVAL;
        if (jwt_algs_parse(value, &o->algs) < 0)
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "algs= must list, separated by '|', some of HS256, HS384, HS512, "
                                 "RS256, RS384, RS512, ES256, ES384, EdDSA, each once");
        return 0;
    }
    if (strcmp(key, "key_file") == 0)
        return parse_key_file(value, o, err, errlen);
    if (strcmp(key, "jwks_file") == 0) {
        if (sb_cfg_once(c, key, &o->has_jwks_file, err, errlen))
            return SB_EINVAL;
        o->jwks_file = value;
        return 0;
    }
    if (strcmp(key, "jwks_hmac") == 0) {
        unsigned v = 0;
        if (sb_cfg_once(c, key, &o->has_jwks_hmac, err, errlen) ||
            sb_cfg_enum(c, key, value, booleans, &v, err, errlen))
            return SB_EINVAL;
        o->jwks_hmac = v == 1;
        return 0;
    }
    if (strcmp(key, "refresh") == 0) {
        unsigned v = 0;
        if (sb_cfg_once(c, key, &o->has_refresh, err, errlen) ||
            sb_cfg_enum(c, key, value, booleans, &v, err, errlen))
            return SB_EINVAL;
        o->refresh = v == 1;
        return 0;
    }
    if (strcmp(key, "iss") == 0 || strcmp(key, "aud") == 0) {
        bool *seen = key[0] == 'i' ? &o->has_iss : &o->has_aud;
        if (sb_cfg_once(c, key, seen, err, errlen))
            return SB_EINVAL;
        if (!good_claim_value(value))
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "%s= must be at most %d bytes without control characters", key,
                                 JWT_MAX_CLAIM_VALUE);
        *(key[0] == 'i' ? &o->iss : &o->aud) = value;
        return 0;
    }
    if (strcmp(key, "user_claim") == 0) {
        if (sb_cfg_once(c, key, &o->has_user_claim, err, errlen))
            return SB_EINVAL;
        if (!good_claim_name(value))
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "user_claim= must be a claim name: printable ASCII without "
                                 "spaces, at most %d bytes",
                                 JWT_MAX_CLAIM_NAME);
        o->user_claim = value;
        return 0;
    }
    if (strcmp(key, "required_claims") == 0) {
        if (sb_cfg_once(c, key, &o->has_required, err, errlen))
            return SB_EINVAL;
        return parse_required(value, o, err, errlen);
    }
    sb_cfg_unknown(c, key, err, errlen);
    size_t n = err ? strlen(err) : 0;
    if (err && n < errlen)
        snprintf(err + n, errlen - n, " (keys: " CONFIG_KEYS ")");
    return SB_EINVAL;
}

/* Parses CONFIG, which `c` holds (`o` points into it, so it must live as long as `o`). */
static int parse_config(struct sb_cfg *c, struct options *o, char *err, size_t errlen)
{
    struct sb_cfg_pair p;
    int more;
    while ((more = sb_cfg_next(c, &p, err, errlen)) == 1) {
        int rc = parse_item(c, &p, o, err, errlen);
        if (rc < 0)
            return rc;
    }
    return more < 0 ? SB_EINVAL : 0;
}

static int copy_secret(const void *data, size_t len, unsigned char **secret, size_t *secret_len)
{
    *secret = malloc(len ? len : 1);
    if (!*secret)
        return SB_ENOMEM;
    memcpy(*secret, data, len);
    *secret_len = len;
    return 0;
}

static int secret_from_env(const char *var, unsigned char **secret, size_t *len, char *err,
                           size_t errlen)
{
    const char *v = getenv(var);
    if (!v)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "environment variable %s is not set (it must hold the JWT secret)",
                             var);
    if (!*v)
        return sb_init_error(err, errlen, SB_EINVAL, "environment variable %s is empty", var);
    return copy_secret(v, strlen(v), secret, len);
}

static int secret_from_file(const char *path, unsigned char **secret, size_t *len, char *err,
                            size_t errlen)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_init_error(err, errlen, SB_EIO, "cannot read secret file %s: %s", path,
                             strerror(errno));
    buf = malloc(MAX_SECRET_FILE + 1);
    if (!buf) {
        rc = SB_ENOMEM;
        goto out;
    }
    n = fread(buf, 1, MAX_SECRET_FILE + 1, f);
    if (ferror(f)) {
        rc = sb_init_error(err, errlen, SB_EIO, "cannot read secret file %s: %s", path,
                           strerror(errno));
        goto out;
    }
    if (n > MAX_SECRET_FILE) {
        rc = sb_init_error(err, errlen, SB_ETOOBIG, "secret file %s is larger than %d bytes", path,
                           MAX_SECRET_FILE);
        goto out;
    }
    /* Files written by editors, `echo` and secret stores end with a newline that is not part of
     * the secret. */
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0) {
        rc = sb_init_error(err, errlen, SB_EINVAL, "secret file %s is empty", path);
        goto out;
    }
    rc = copy_secret(buf, n, secret, len);
out:
    if (buf) {
        OPENSSL_cleanse(buf, MAX_SECRET_FILE + 1);
        free(buf);
    }
    fclose(f);
    return rc;
}

static int load_secret(const struct options *o, unsigned char **secret, size_t *len, char *err,
                       size_t errlen)
{
    switch (o->source) {
    case SRC_TEXT:
        return copy_secret(o->value, strlen(o->value), secret, len);
    case SRC_ENV:
        return secret_from_env(o->value, secret, len, err, errlen);
    case SRC_FILE:
        return secret_from_file(o->value, secret, len, err, errlen);
    case SRC_DEFAULT:
        break;
    }
    return secret_from_env(DEFAULT_SECRET_ENV, secret, len, err, errlen);
}

/* ---- files ---- */

static void text_free(char *text, size_t len)
{
    if (text) {
        OPENSSL_cleanse(text, len); /* a JWKS may hold HMAC keys */
        free(text);
    }
}

static void file_id_of(const struct stat *sb, struct file_id *id)
{
    id->valid = true;
    id->dev = sb->st_dev;
    id->ino = sb->st_ino;
    id->size = sb->st_size;
    id->mtime = sb->st_mtim;
}

static bool file_id_same(const struct file_id *a, const struct file_id *b)
{
    return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Reads a whole regular file of at most `max` bytes into `*text` (NUL-terminated, owned) and
 * tells which version of it was read. Writes the reason into `why` on failure. */
static int read_file(const char *path, size_t max, char **text, size_t *len, struct file_id *id,
                     char *why, size_t whylen)
{
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sb_init_error(why, whylen, SB_EIO, "cannot open it: %s", strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = sb_init_error(why, whylen, SB_EIO, "not a regular file");
        goto out;
    }
    if ((size_t)sb.st_size > max) {
        rc = sb_init_error(why, whylen, SB_ETOOBIG, "larger than %zu bytes", max);
        goto out;
    }
    if (!(buf = malloc(max + 1))) {
        rc = sb_init_error(why, whylen, SB_ENOMEM, "out of memory");
        goto out;
    }
    /* Up to one byte more than allowed, to notice a file that grew after fstat(). */
    while (n <= max) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = sb_init_error(why, whylen, SB_EIO, "cannot read it: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        rc = sb_init_error(why, whylen, SB_ETOOBIG, "larger than %zu bytes", max);
        goto out;
    }
    buf[n] = '\0';
    file_id_of(&sb, id);
    *text = buf;
    *len = n;
    buf = NULL;
out:
    text_free(buf, max + 1);
    close(fd);
    return rc;
}

/* ---- keys ---- */

static void jwks_warn_cb(void *ctx, const char *msg)
{
    struct state *st = ctx;
    st->api->log_msg(st->host, SB_LOG_WARN, "jwks_file %s: %s", st->jwks_path, msg);
}

/* Builds a key set of the static keys plus the JWKS in `text`. Writes the reason into `why`. */
static int keys_with_jwks(struct state *st, const char *text, size_t len, struct jwt_keyset **out,
                          char *why, size_t whylen)
{
    struct jwt_keyset *ks = jwt_keyset_new();
    int rc = ks ? jwt_keyset_append(ks, st->static_keys) : SB_ENOMEM;
    if (rc == SB_EEXISTS || rc == SB_ELIMIT) /* not possible: static_keys is itself a set */
        rc = sb_init_error(why, whylen, rc, "cannot copy the static keys");
    else if (rc < 0)
        rc = sb_init_error(why, whylen, rc, "out of memory");
    if (rc == 0)
        rc = jwt_keyset_add_jwks(ks, text, len, st->jwks_algs, st->jwks_flags, jwks_warn_cb, st,
                                 why, whylen);
    if (rc < 0) {
        jwt_keyset_free(ks);
        return rc;
    }
    *out = ks;
    return 0;
}

static uint64_t now_ms(const struct state *st)
{
    if (SB_HOST_HAS(st->api, now_ms))
        return st->api->now_ms(st->host);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_keys(const struct state *st, int level, const char *what)
{
    char names[96];
    st->api->log_msg(st->host, level, "%s: %zu key(s), algorithms %s", what,
                     jwt_keyset_count(st->keys),
                     jwt_algs_format(jwt_keyset_algs(st->keys), names, sizeof(names)));
    for (size_t i = 0; i < jwt_keyset_count(st->keys); i++) {
        const char *kid = NULL;
        unsigned algs = 0;
        jwt_keyset_key_info(st->keys, i, &kid, &algs);
        st->api->log_msg(st->host, SB_LOG_DEBUG, "key %zu: kid %s, %s", i + 1, kid ? kid : "(none)",
                         jwt_algs_format(algs, names, sizeof(names)));
    }
}

/* Re-reads the JWKS file if it changed since it was last looked at (at most once a second). A
 * version that fails to load is logged once and the keys stay as they were. */
static void jwks_maybe_reload(struct state *st, bool force)
{
    struct stat sb;
    struct file_id id = {0};
    char why[512];
    char *text = NULL;
    size_t len = 0;
    struct jwt_keyset *fresh = NULL;

    if (!st->jwks_path)
        return;
    uint64_t now = now_ms(st);
    if (now < st->jwks_next_check && !force)
        return;
    st->jwks_next_check = now + JWKS_CHECK_MS;
    if (stat(st->jwks_path, &sb) != 0) {
        if (!st->jwks_missing)
            st->api->log_msg(st->host, SB_LOG_WARN,
                             "jwks_file %s: cannot be read (%s); keeping the %zu keys loaded "
                             "before",
                             st->jwks_path, strerror(errno), jwt_keyset_count(st->keys));
        st->jwks_missing = true;
        return;
    }
    st->jwks_missing = false;
    file_id_of(&sb, &id);
    if (file_id_same(&id, &st->jwks_loaded) || file_id_same(&id, &st->jwks_failed))
        return;

    int rc = read_file(st->jwks_path, MAX_JWKS_FILE, &text, &len, &id, why, sizeof(why));
    if (rc == 0)
        rc = keys_with_jwks(st, text, len, &fresh, why, sizeof(why));
    text_free(text, len);
    if (rc < 0) {
        st->jwks_failed = id;
        st->api->log_msg(st->host, SB_LOG_ERROR,
                         "jwks_file %s: not reloaded: %s; keeping the %zu keys loaded before",
                         st->jwks_path, why, jwt_keyset_count(st->keys));
        return;
    }
    jwt_keyset_free(st->keys);
    st->keys = fresh;
    st->jwks_loaded = id;
    st->jwks_failed.valid = false;
    log_keys(st, SB_LOG_INFO, "jwks_file reloaded");
}

static void state_free(struct state *st)
{
    if (!st)
        return;
    jwt_verifier_free(&st->verifier);
    jwt_keyset_free(st->keys);
    jwt_keyset_free(st->static_keys);
    free(st->jwks_path);
    free(st);
}

/* The HMAC secret, if CONFIG names one or names no key at all (the default variable). */
static int load_static_secret(struct state *st, const struct options *o, char *err, size_t errlen)
{
    bool key_sources = o->nkey_files > 0 || o->jwks_file;
    unsigned char *secret = NULL;
    size_t len = 0;
    char why[256];
    int rc;

    if (o->source == SRC_DEFAULT && key_sources)
        return 0;
    if (o->source == SRC_DEFAULT && o->has_algs && !(o->algs & JWT_ALGS_HMAC))
        return sb_init_error(err, errlen, SB_EINVAL,
                             "algs= names public-key algorithms only: give key_file= or "
                             "jwks_file=");
    if ((rc = load_secret(o, &secret, &len, err, errlen)) < 0) {
        if (rc == SB_ENOMEM)
            sb_init_error(err, errlen, rc, "out of memory");
        return rc;
    }
    /* Without algs= the secret keeps the one algorithm it always had. */
    unsigned algs = o->has_algs ? o->algs : JWT_ALG_BIT(JWT_HS256);
    rc = jwt_keyset_add_secret(st->static_keys, NULL, secret, len, algs, why, sizeof(why));
    if (rc < 0)
        sb_init_error(err, errlen, rc, "the secret: %s", why);
    else {
        int want = (algs & JWT_ALG_BIT(JWT_HS512))   ? 64
                   : (algs & JWT_ALG_BIT(JWT_HS384)) ? 48
                                                     : MIN_SECRET_LEN;
        if (len < (size_t)want)
            st->api->log_msg(st->host, SB_LOG_WARN,
                             "the JWT secret is shorter than %d bytes: HMAC with %s wants at "
                             "least %d random bytes",
                             want,
                             want == 64   ? "SHA-512"
                             : want == 48 ? "SHA-384"
                                          : "SHA-256",
                             want);
    }
    OPENSSL_cleanse(secret, len);
    free(secret);
    return rc;
}

static int load_key_files(struct state *st, const struct options *o, unsigned algs, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < o->nkey_files; i++) {
        const struct key_file *kf = &o->key_files[i];
        struct file_id id;
        char why[256], *text = NULL;
        size_t len = 0;
        int rc = read_file(kf->path, MAX_KEY_FILE, &text, &len, &id, why, sizeof(why));
        if (rc == 0)
            rc = jwt_keyset_add_pem(st->static_keys, kf->kid, text, len, algs, why, sizeof(why));
        text_free(text, len);
        if (rc < 0)
            return sb_init_error(err, errlen, rc, "key_file %s: %s", kf->path, why);
    }
    return 0;
}

static int load_jwks(struct state *st, const struct options *o, unsigned algs, char *err,
                     size_t errlen)
{
    char why[512], *text = NULL;
    size_t len = 0;
    int rc;
    st->jwks_algs = algs;
    st->jwks_flags = o->jwks_hmac ? JWT_JWKS_ALLOW_HMAC : 0;
    if (!(st->jwks_path = strdup(o->jwks_file)))
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    rc = read_file(st->jwks_path, MAX_JWKS_FILE, &text, &len, &st->jwks_loaded, why, sizeof(why));
    if (rc == 0)
        rc = keys_with_jwks(st, text, len, &st->keys, why, sizeof(why));
    text_free(text, len);
    if (rc < 0)
        return sb_init_error(err, errlen, rc, "jwks_file %s: %s", st->jwks_path, why);
    st->jwks_next_check = now_ms(st) + JWKS_CHECK_MS;
    return 0;
}

/* The keys, from the secret, the key files and the JWKS file, checked against algs=. */
static int load_keys(struct state *st, const struct options *o, char *err, size_t errlen)
{
    unsigned algs = o->has_algs ? o->algs : JWT_ALGS_ALL;
    int rc;
    if (o->has_jwks_hmac && !o->jwks_file)
        return sb_init_error(err, errlen, SB_EINVAL, "jwks_hmac= needs jwks_file=");
    if (!(st->static_keys = jwt_keyset_new()))
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    if ((rc = load_static_secret(st, o, err, errlen)) < 0 ||
        (rc = load_key_files(st, o, algs, err, errlen)) < 0)
        return rc;
    if (o->jwks_file) {
        if ((rc = load_jwks(st, o, algs, err, errlen)) < 0)
            return rc;
    } else {
        if (!(st->keys = jwt_keyset_new()) || jwt_keyset_append(st->keys, st->static_keys) < 0)
            return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    }
    /* Every algorithm algs= names needs a key of its family. "algs=HS256" with only public keys
     * is the configuration of the key-confusion attack, and is refused; so is any algorithm that
     * no key can ever verify. A JWKS may bring a key later (a rotation to a new key type): then
     * only a warning. */
    unsigned missing = o->has_algs ? o->algs & ~jwt_keyset_algs(st->keys) : 0;
    unsigned fatal = o->jwks_file ? missing & (o->jwks_hmac ? 0 : JWT_ALGS_HMAC) : missing;
    char names[96];
    if (fatal)
        return sb_init_error(
            err, errlen, SB_EINVAL, "algs= lists %s, but no configured key can verify %s%s",
            jwt_algs_format(fatal, names, sizeof(names)), (fatal & (fatal - 1)) ? "them" : "it",
            (fatal & JWT_ALGS_HMAC)
                ? " (an HMAC algorithm needs a secret: secret=, secret_env=, secret_file=, or an "
                  "oct key with jwks_hmac=true; never a public key)"
                : "");
    if (missing)
        st->api->log_msg(st->host, SB_LOG_WARN,
                         "algs= lists %s, but no key of jwks_file %s can verify %s yet",
                         jwt_algs_format(missing, names, sizeof(names)), o->jwks_file,
                         (missing & (missing - 1)) ? "them" : "it");
    return 0;
}

static int jwt_init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                    char *err, size_t errlen)
{
    struct options o = {.source = SRC_DEFAULT, .leeway = JWT_DEFAULT_LEEWAY};
    struct state *st = NULL;
    struct sb_cfg c = {0};
    int rc;

    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, log_msg) || !SB_HOST_HAS(api, strerror) ||
        !SB_HOST_HAS(api, auth_token) || !SB_HOST_HAS(api, auth_set_user) ||
        !SB_HOST_HAS(api, auth_set_message))
        return sb_init_error(err, errlen, SB_EABI,
                             "the host API lacks the authentication functions");

    st = calloc(1, sizeof(*st));
    if (!st || sb_cfg_begin_flags(&c, "auth-jwt", config, SB_CFG_QUIET, err, errlen) != 0) {
        rc = sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
        goto fail;
    }
    st->api = api;
    st->host = host;
    if ((rc = parse_config(&c, &o, err, errlen)) < 0 || (rc = load_keys(st, &o, err, errlen)) < 0)
        goto fail;
    if (o.refresh && !SB_HOST_HAS(api, auth_set_expiry)) {
        rc = sb_init_error(err, errlen, SB_EABI,
                           "refresh=true needs a host of plugin ABI 1.5 (this one is %u.%u)",
                           (unsigned)api->abi_major, (unsigned)api->abi_minor);
        goto fail;
    }
    st->refresh = o.refresh;
    struct jwt_options vo = {
        .algs = o.has_algs ? o.algs : JWT_ALGS_ALL,
        .leeway = o.leeway,
        .iss = o.iss,
        .aud = o.aud,
        .user_claim = o.user_claim,
        .required = o.required,
        .nrequired = o.nrequired,
    };
    if ((rc = jwt_verifier_init(&st->verifier, &vo)) < 0) {
        rc = sb_init_error(err, errlen, rc, "%s",
                           rc == SB_ENOMEM ? "out of memory" : "invalid claim options");
        goto fail;
    }
    log_keys(st, SB_LOG_INFO, "JWT keys loaded");
    sb_cfg_end(&c); /* CONFIG may hold the secret itself: this wipes the copy */
    *state = st;
    return 0;

fail:
    sb_cfg_end(&c);
    state_free(st);
    return rc;
}

static void jwt_fini(void *state)
{
    state_free(state);
}

static sb_auth_verdict_t refuse(struct state *st, sb_auth_req_t *req, const char *why)
{
    st->api->auth_set_message(req, why);
    st->api->log_msg(st->host, SB_LOG_DEBUG, "JWT refused: %s", why);
    return SB_AUTH_REFUSE;
}

/* The expiry of a verified token (Unix ms) from its `exp` claim, or 0 when it has none: a
 * token without `exp` never expires, at connect as here. An `exp` past year 9999 is "never"
 * too, so that the milliseconds cannot overflow. */
static uint64_t expiry_ms(const json_t *claims)
{
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_number(exp))
        return 0;
    double v = json_number_value(exp);
    if (!(v > 0) || v >= 253402300800.0)
        return 0;
    return (uint64_t)(v * 1000.0);
}

static sb_auth_verdict_t jwt_authenticate(void *state, sb_auth_req_t *req)
{
    struct state *st = state;
    struct jwt_identity id = {0};
    const char *reason = NULL;
    const char *token = st->api->auth_token(req);
    if (!token)
        return SB_AUTH_DECLINE;
    size_t len = strlen(token);
    if (!jwt_is_compact(token, len))
        return SB_AUTH_DECLINE;

    jwks_maybe_reload(st, false);
    int rc = jwt_verify(&st->verifier, st->keys, token, len, (int64_t)time(NULL), &id, &reason);
    if (rc < 0)
        return refuse(st, req, reason ? reason : "not authorized");

    sb_auth_verdict_t verdict = SB_AUTH_ACCEPT;
    char *claims = json_dumps(id.claims, JSON_COMPACT);
    rc = claims ? st->api->auth_set_user(req, id.user, claims) : SB_ENOMEM;
    if (rc == 0 && st->refresh)
        rc = st->api->auth_set_expiry(req, expiry_ms(id.claims));
    if (rc < 0) {
        st->api->log_msg(st->host, SB_LOG_ERROR, "cannot set the identity of a valid JWT: %s",
                         st->api->strerror(rc));
        verdict = refuse(st, req, "internal error");
    }
    free(claims);
    jwt_identity_free(&id);
    return verdict;
}

/* After auth-static (10): an opaque static token that happens to contain two dots is looked up
 * there before it could be mistaken for a malformed JWT here. */
/* SIGHUP (ABI 1.3): look at the JWKS file now, without waiting for the next token. */
static void jwt_reload(void *state)
{
    jwks_maybe_reload(state, true);
}

SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "auth-jwt",
    .version = SB_VERSION,
    .init = jwt_init,
    .fini = jwt_fini,
    .auth_priority = 20,
    .authenticate = jwt_authenticate,
    .reload = jwt_reload,
};
