/*
 * The auth-jwt plugin's glue (plugins/auth-jwt/auth_jwt.c, linked into this test) driven through
 * its descriptor with a fake host: CONFIG parsing and its startup errors, the key/algorithm
 * pairing refused at start, key files with kids, the claim options, and the JWKS file re-read
 * when it changes, on a clock the test moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <jansson.h>

#include <switchboard/plugin.h>

extern const sb_plugin_t sb_plugin_entry;

#define SECRET "plugin-test-secret-0123456789abcdef"

/* ---- the fake host ---- */

struct sb_host {
    char log[65536];
    size_t loglen;
    uint64_t now_ms;
};

struct sb_auth_req {
    const char *token;
    char *user, *claims, *message;
    uint64_t expires_ms; /* auth_set_expiry (ABI 1.5); 0 when not called */
};

static struct sb_host host;

static void log_msg(sb_host_t *h, int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    va_list ap;
    size_t start;
    if (h->loglen + 512 >= sizeof(h->log))
        h->loglen = 0;
    start = h->loglen;
    h->loglen +=
        (size_t)snprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, "[%s] ", names[level & 3]);
    va_start(ap, fmt);
    h->loglen += (size_t)vsnprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, fmt, ap);
    va_end(ap);
    h->loglen += (size_t)snprintf(h->log + h->loglen, sizeof(h->log) - h->loglen, "\n");
    if (getenv("SB_TEST_VERBOSE")) /* to read the messages as an operator would */
        fputs(h->log + start, stderr);
}

static const char *fake_strerror(int err)
{
    return "error";
}

static const char *auth_token(const sb_auth_req_t *req)
{
    return req->token;
}

static int auth_set_user(sb_auth_req_t *req, const char *user, const char *claims)
{
    free(req->user);
    free(req->claims);
    req->user = strdup(user);
    req->claims = strdup(claims ? claims : "{}");
    return 0;
}

static int auth_set_message(sb_auth_req_t *req, const char *message)
{
    free(req->message);
    req->message = strdup(message);
    return 0;
}

static int auth_set_expiry(sb_auth_req_t *req, uint64_t unix_ms)
{
    req->expires_ms = unix_ms;
    return 0;
}

static uint64_t now_ms(sb_host_t *h)
{
    return h->now_ms;
}

static const sb_host_api_t api = {
    .size = sizeof(sb_host_api_t),
    .abi_major = SB_PLUGIN_ABI_MAJOR,
    .abi_minor = SB_PLUGIN_ABI_MINOR,
    .log_msg = log_msg,
    .strerror = fake_strerror,
    .auth_token = auth_token,
    .auth_set_user = auth_set_user,
    .auth_set_message = auth_set_message,
    .now_ms = now_ms,
    .auth_set_expiry = auth_set_expiry,
};

static void *start(const char *config)
{
    char err[512] = "";
    void *state = NULL;
    int rc = sb_plugin_entry.init(&api, &host, config, &state, err, sizeof(err));
    if (rc != 0)
        fail_msg("init(%s) failed: %s", config ? config : "(null)", err);
    return state;
}

/* init() refuses `config` with a message containing `why`; returns the message (static). */
static const char *start_fails(const char *config, const char *why)
{
    static char err[512];
    void *state = NULL;
    err[0] = '\0';
    int rc = sb_plugin_entry.init(&api, &host, config, &state, err, sizeof(err));
    if (rc == 0) {
        sb_plugin_entry.fini(state);
        fail_msg("init(%s) succeeded, expected \"%s\"", config, why);
    }
    if (!strstr(err, why))
        fail_msg("init(%s): \"%s\", expected \"%s\"", config, err, why);
    assert_null(state);
    return err;
}

/* Authenticates `token` (freed). Returns the verdict; `user`/`message` hold what was set. */
static char user[256], message[256];
static uint64_t expiry; /* what the last authentication set with auth_set_expiry, or 0 */
static sb_auth_verdict_t auth(void *state, char *token)
{
    struct sb_auth_req req = {.token = token};
    sb_auth_verdict_t v = sb_plugin_entry.authenticate(state, &req);
    expiry = req.expires_ms;
    snprintf(user, sizeof(user), "%s", req.user ? req.user : "");
    snprintf(message, sizeof(message), "%s", req.message ? req.message : "");
    free(req.user);
    free(req.claims);
    free(req.message);
    free(token);
    return v;
}

static void accepted_as(void *state, char *token, const char *who)
{
    sb_auth_verdict_t v = auth(state, token);
    if (v != SB_AUTH_ACCEPT)
        fail_msg("verdict %d: %s", (int)v, message);
    assert_string_equal(user, who);
}

static void refused(void *state, char *token, const char *why)
{
    sb_auth_verdict_t v = auth(state, token);
    if (v != SB_AUTH_REFUSE)
        fail_msg("verdict %d, expected refusal \"%s\"", (int)v, why);
    assert_string_equal(message, why);
}

/* ---- keys, files, tokens ---- */

static EVP_PKEY *rsa, *rsa2, *ec;
static char dir[64];

static int setup(void **unused)
{
    rsa = EVP_RSA_gen(2048);
    rsa2 = EVP_RSA_gen(2048);
    ec = EVP_EC_gen("P-256");
    snprintf(dir, sizeof(dir), "/tmp/test_jwt_plugin_XXXXXX");
    return rsa && rsa2 && ec && mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
    char cmd[128];
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(ec);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_of(const char *name)
{
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Sets the file's mtime to `sec` seconds: a change the plugin notices whatever the clock. */
static void touch(const char *name, time_t sec)
{
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path_of(name), ts, 0), 0);
}

static char *b64url(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static void write_pem(const char *name, EVP_PKEY *pk)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, pk), 1);
    fclose(f);
}

static char *b64_param(EVP_PKEY *pk, const char *name, size_t pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, name, &bn), 1);
    size_t len = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char buf[512];
    assert_int_equal(BN_bn2binpad(bn, buf, (int)len), (int)len);
    BN_free(bn);
    return b64url(buf, len);
}

/* One public JWK as JSON text (static buffer, rotated). */
static const char *jwk(EVP_PKEY *pk, const char *kid)
{
    static char out[4][2048];
    static int i;
    i = (i + 1) % 4;
    if (EVP_PKEY_is_a(pk, "RSA")) {
        char *n = b64_param(pk, OSSL_PKEY_PARAM_RSA_N, 0), *e = b64_param(pk, "e", 0);
        snprintf(out[i], sizeof(out[i]),
                 "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", kid, n, e);
        free(n);
        free(e);
    } else {
        char *x = b64_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        char *y = b64_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        snprintf(out[i], sizeof(out[i]),
                 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", kid,
                 x, y);
        free(x);
        free(y);
    }
    return out[i];
}

static void write_jwks(const char *name, const char *k1, const char *k2)
{
    char text[8192];
    snprintf(text, sizeof(text), "{\"keys\":[%s%s%s]}", k1, k2 ? "," : "", k2 ? k2 : "");
    write_file(name, text);
}

/* A token for `payload` signed with `pk` (RS256 or ES256 by its type) or MACed with `secret`
 * (HS256), with a kid when `kid` is not NULL. The payload gets exp = now + 600. */
static char *token(EVP_PKEY *pk, const char *secret, const char *kid, const char *payload)
{
    const char *alg = secret ? "HS256" : EVP_PKEY_is_a(pk, "RSA") ? "RS256" : "ES256";
    char header[128], body[512];
    if (kid)
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", alg);
    snprintf(body, sizeof(body), "{%s%s\"exp\":%lld}", payload, *payload ? "," : "",
             (long long)time(NULL) + 600);
    char *h = b64url(header, strlen(header)), *p = b64url(body, strlen(body));
    char input[2048];
    snprintf(input, sizeof(input), "%s.%s", h, p);
    free(h);
    free(p);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    if (secret) {
        unsigned int n = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input, strlen(input), sig,
             &n);
        siglen = n;
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pk), 1);
        assert_int_equal(EVP_DigestSign(m, sig, &siglen, (unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(m);
        if (!EVP_PKEY_is_a(pk, "RSA")) { /* DER to r||s */
            const unsigned char *q = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
            assert_non_null(es);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            ECDSA_SIG_free(es);
            siglen = 64;
        }
    }
    char *s = b64url(sig, siglen);
    size_t n = strlen(input) + strlen(s) + 2;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", input, s);
    free(s);
    return t;
}

/* ---- tests ---- */

static void test_default_secret_from_environment(void **unused)
{
    setenv("SWITCHBOARD_JWT_SECRET", SECRET, 1);
    void *st = start(NULL);
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"alice\""), "alice");
    refused(st, token(NULL, "another-secret-0123456789abcdefghij", NULL, "\"sub\":\"alice\""),
            "bad signature");
    /* Not a JWT: declined, for another plugin. */
    assert_int_equal(auth(st, strdup("opaque-token")), SB_AUTH_DECLINE);
    sb_plugin_entry.fini(st);
    unsetenv("SWITCHBOARD_JWT_SECRET");
    start_fails(NULL, "environment variable SWITCHBOARD_JWT_SECRET is not set");
    start_fails("leeway=10", "environment variable SWITCHBOARD_JWT_SECRET is not set");
}

static void test_existing_config_forms_still_work(void **unused)
{
    void *st = start("secret=" SECRET ",leeway=0");
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"a\""), "a");
    /* Only HS256 for the secret, as before. */
    refused(st, token(rsa, NULL, NULL, "\"sub\":\"a\""), "algorithm not allowed");
    sb_plugin_entry.fini(st);
    write_file("secret", SECRET "\n");
    char config[256];
    snprintf(config, sizeof(config), "secret_file=%s", path_of("secret"));
    st = start(config);
    accepted_as(st, token(NULL, SECRET, "any-kid", "\"sub\":\"b\""), "b");
    sb_plugin_entry.fini(st);
    setenv("MY_JWT_SECRET", SECRET, 1);
    st = start("secret_env=MY_JWT_SECRET");
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"c\""), "c");
    sb_plugin_entry.fini(st);
    unsetenv("MY_JWT_SECRET");
}

static void test_key_files(void **unused)
{
    char config[512];
    write_pem("rsa.pem", rsa);
    write_pem("ec.pem", ec);
    mkdir(path_of("odd:dir"), 0700);
    write_pem("odd:dir/rsa2.pem", rsa2);
    snprintf(config, sizeof(config), "key_file=main:%s,key_file=%s,key_file=%s", path_of("rsa.pem"),
             path_of("ec.pem"), path_of("odd:dir/rsa2.pem"));
    void *st = start(config);
    accepted_as(st, token(rsa, NULL, "main", "\"sub\":\"r\""), "r");
    accepted_as(st, token(ec, NULL, NULL, "\"sub\":\"e\""), "e");
    /* rsa2.pem has no kid: an unknown kid falls back to it. */
    accepted_as(st, token(rsa2, NULL, "whatever", "\"sub\":\"r2\""), "r2");
    refused(st, token(rsa, NULL, "whatever", "\"sub\":\"r\""), "bad signature");
    refused(st, token(rsa2, NULL, "main", "\"sub\":\"r\""), "bad signature");
    /* No secret was configured: HS256 is not accepted, even with the default variable set. */
    setenv("SWITCHBOARD_JWT_SECRET", SECRET, 1);
    refused(st, token(NULL, SECRET, NULL, "\"sub\":\"h\""), "algorithm not allowed");
    sb_plugin_entry.fini(st);
    st = start(config);
    refused(st, token(NULL, SECRET, NULL, "\"sub\":\"h\""), "algorithm not allowed");
    sb_plugin_entry.fini(st);
    unsetenv("SWITCHBOARD_JWT_SECRET");
    assert_null(strstr(host.log, "BEGIN"));
}

static void test_hmac_with_public_key_refused_at_start(void **unused)
{
    char config[512], pem[128];
    snprintf(pem, sizeof(pem), "%s", path_of("rsa.pem"));
    write_pem("rsa.pem", rsa);
    snprintf(config, sizeof(config), "key_file=%s,algs=HS256", pem);
    const char *err = start_fails(config, "an RSA key cannot be used with HS256");
    assert_non_null(strstr(err, "key_file "));
    snprintf(config, sizeof(config), "key_file=%s,algs=RS256|HS256", pem);
    start_fails(config, "algs= lists HS256, but no configured key can verify it (an HMAC "
                        "algorithm needs a secret");
    snprintf(config, sizeof(config), "key_file=%s,algs=ES256", pem);
    start_fails(config, "an RSA key cannot be used with ES256");
    write_pem("ec.pem", ec);
    snprintf(config, sizeof(config), "key_file=%s,algs=RS256|RS384", path_of("ec.pem"));
    start_fails(config, "an EC key cannot be used with RS256|RS384");
    err = start_fails("secret=" SECRET ",algs=RS256", "the secret: an HMAC key cannot be used "
                                                      "with RS256");
    assert_null(strstr(err, SECRET));
    start_fails("algs=RS256", "algs= names public-key algorithms only");
    /* In a JWKS: an alg of the wrong family, an oct key without jwks_hmac. */
    write_file("bad.json", "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"HS256\",\"n\":\"AQAB\",\"e\":"
                           "\"AQAB\"}]}");
    snprintf(config, sizeof(config), "jwks_file=%s", path_of("bad.json"));
    start_fails(config, "its alg HS256 cannot be used with an RSA key");
    write_file("oct.json", "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":"
                           "\"cGx1Z2luLXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY\"}]}");
    snprintf(config, sizeof(config), "jwks_file=%s", path_of("oct.json"));
    err = start_fails(config, "(jwks_hmac=true)");
    assert_null(strstr(err, "cGx1Z2lu"));
    /* With a JWKS, HS256 is refused the same way unless oct keys are enabled. */
    write_jwks("rsa.json", jwk(rsa, "a"), NULL);
    snprintf(config, sizeof(config), "jwks_file=%s,algs=RS256|HS256", path_of("rsa.json"));
    start_fails(config, "algs= lists HS256, but no configured key can verify it");
    snprintf(config, sizeof(config), "key_file=%s,algs=RS256|ES256|EdDSA", pem);
    start_fails(config, "algs= lists ES256|EdDSA, but no configured key can verify them");
    /* A JWKS may bring an ES256 key later: a warning only. */
    host.loglen = 0;
    snprintf(config, sizeof(config), "jwks_file=%s,algs=RS256|ES256", path_of("rsa.json"));
    void *st = start(config);
    sb_plugin_entry.fini(st);
    assert_non_null(strstr(host.log, "[warn] algs= lists ES256, but no key of jwks_file "));
    snprintf(config, sizeof(config), "jwks_file=%s,jwks_hmac=true,algs=RS256|HS256",
             path_of("rsa.json"));
    st = start(config);
    sb_plugin_entry.fini(st);
    /* Mixed, but each key with its own family: fine. */
    snprintf(config, sizeof(config), "secret=%s,key_file=%s,algs=HS256|RS256", SECRET, pem);
    st = start(config);
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"h\""), "h");
    accepted_as(st, token(rsa, NULL, NULL, "\"sub\":\"r\""), "r");
    sb_plugin_entry.fini(st);
    /* jwks_hmac=true: the oct key verifies HS256 tokens. */
    snprintf(config, sizeof(config), "jwks_file=%s,jwks_hmac=true", path_of("oct.json"));
    st = start(config);
    accepted_as(st, token(NULL, SECRET, "h", "\"sub\":\"o\""), "o");
    sb_plugin_entry.fini(st);
}

static void test_config_errors(void **unused)
{
    start_fails("secret=" SECRET ",bogus=1",
                "auth-jwt: CONFIG item 2 has an unknown key (keys: secret, "
                "secret_env, secret_file, key_file, jwks_file");
    start_fails("secret=" SECRET ",algs=RS256|RS256", "algs= must list");
    start_fails("secret=" SECRET ",algs=none", "algs= must list");
    start_fails("secret=" SECRET ",algs=", "auth-jwt: CONFIG item 2 needs a value");
    start_fails("secret=" SECRET ",algs=HS256,algs=HS256", "auth-jwt: \"algs\" is given twice");
    start_fails("key_file=:/x.pem", "key_file 1: the kid before ':' is empty");
    start_fails("key_file=kid:", "key_file 1: the path is empty");
    start_fails("key_file=/nonexistent/k.pem", "key_file /nonexistent/k.pem: cannot open it");
    start_fails("jwks_file=/nonexistent/k.json", "jwks_file /nonexistent/k.json: cannot open it");
    start_fails("jwks_file=/a,jwks_file=/b", "auth-jwt: \"jwks_file\" is given twice");
    start_fails("secret=" SECRET ",jwks_hmac=true", "jwks_hmac= needs jwks_file=");
    start_fails("secret=" SECRET ",jwks_hmac=yes",
                "auth-jwt: \"jwks_hmac\" wants one of false, true, got \"yes\"");
    start_fails("secret=" SECRET ",user_claim=a b", "user_claim= must be a claim name");
    start_fails("secret=" SECRET ",user_claim=a,user_claim=b",
                "auth-jwt: \"user_claim\" is given twice");
    start_fails("secret=" SECRET ",iss=a,iss=b", "auth-jwt: \"iss\" is given twice");
    start_fails("secret=" SECRET ",aud=", "auth-jwt: CONFIG item 2 needs a value");
    start_fails("secret=" SECRET ",required_claims=exp||iat", "required_claims= must be claim");
    start_fails("secret=" SECRET ",required_claims=a|b|c|d|e|f|g|h|i",
                "required_claims= names more than 8");
    start_fails("secret=" SECRET ",leeway=61",
                "auth-jwt: \"leeway\" wants an integer from 0 to 60, got \"61\"");
    write_file("notpem", "hello");
    char config[256];
    snprintf(config, sizeof(config), "key_file=%s", path_of("notpem"));
    start_fails(config, "not a PEM file");
    snprintf(config, sizeof(config), "key_file=%s", dir);
    start_fails(config, "not a regular file");
    /* A secret typed without its key is never echoed. */
    const char *err = start_fails(SECRET, "auth-jwt: CONFIG item 1 is not key=value");
    assert_null(strstr(err, SECRET));
    err = start_fails("leeway=1," SECRET "=", "auth-jwt: CONFIG item 2 needs a value");
    assert_null(strstr(err, SECRET));
    err = start_fails("leeway=1," SECRET "=x", "auth-jwt: CONFIG item 2 has an unknown key");
    assert_null(strstr(err, SECRET));
    start_fails("secret=" SECRET ",leeway=1,leeway=2", "auth-jwt: \"leeway\" is given twice");
    start_fails("secret=" SECRET ",leeway=-1", "auth-jwt: \"leeway\" wants an integer");
}

/* refresh=true hands the token's exp (in ms) to the host; by default nothing is set, and a host
 * older than ABI 1.5 cannot take refresh=true. */
static void test_refresh_sets_the_expiry(void **unused)
{
    void *st = start("secret=" SECRET);
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"a\""), "a");
    assert_int_equal(expiry, 0);
    sb_plugin_entry.fini(st);

    st = start("secret=" SECRET ",refresh=true");
    uint64_t before = (uint64_t)time(NULL) + 600;
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"a\""), "a");
    uint64_t after = (uint64_t)time(NULL) + 600;
    assert_true(expiry >= before * 1000 && expiry <= after * 1000);
    assert_int_equal(expiry % 1000, 0);
    /* A refused token sets nothing. */
    refused(st, token(NULL, "another-secret-0123456789abcdefghijkl", NULL, "\"sub\":\"a\""),
            "bad signature");
    assert_int_equal(expiry, 0);
    sb_plugin_entry.fini(st);

    st = start("secret=" SECRET ",refresh=false");
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"a\""), "a");
    assert_int_equal(expiry, 0);
    sb_plugin_entry.fini(st);

    start_fails("secret=" SECRET ",refresh=yes", "refresh");
    start_fails("secret=" SECRET ",refresh=true,refresh=true", "refresh");

    sb_host_api_t old = api;
    old.size = (uint32_t)offsetof(sb_host_api_t, auth_set_expiry);
    old.abi_minor = 4;
    char err[512] = "";
    void *state = NULL;
    assert_int_equal(sb_plugin_entry.init(&old, &host, "secret=" SECRET ",refresh=true", &state,
                                          err, sizeof(err)),
                     SB_EABI);
    assert_non_null(strstr(err, "ABI 1.5"));
    assert_null(state);
    /* Without refresh=true the plugin does not need it. */
    assert_int_equal(sb_plugin_entry.init(&old, &host, "secret=" SECRET, &state, err, sizeof(err)),
                     0);
    sb_plugin_entry.fini(state);
}

static void test_claim_options(void **unused)
{
    char config[512];
    write_pem("ec.pem", ec);
    snprintf(config, sizeof(config),
             "key_file=%s,iss=https://issuer.example,aud=switchboard,user_claim=email,"
             "required_claims=exp|jti",
             path_of("ec.pem"));
    void *st = start(config);
    const char *ok = "\"iss\":\"https://issuer.example\",\"aud\":[\"x\",\"switchboard\"],"
                     "\"email\":\"a@example.com\",\"jti\":\"1\"";
    accepted_as(st, token(ec, NULL, NULL, ok), "a@example.com");
    refused(st,
            token(ec, NULL, NULL,
                  "\"iss\":\"https://other.example\",\"aud\":\"switchboard\",\"email\":\"a\","
                  "\"jti\":\"1\""),
            "issuer not accepted");
    refused(st,
            token(ec, NULL, NULL,
                  "\"iss\":\"https://issuer.example\",\"aud\":\"other\",\"email\":\"a\","
                  "\"jti\":\"1\""),
            "audience not accepted");
    refused(st,
            token(ec, NULL, NULL,
                  "\"iss\":\"https://issuer.example\",\"aud\":\"switchboard\",\"sub\":\"a\","
                  "\"jti\":\"1\""),
            "missing email claim");
    refused(st,
            token(ec, NULL, NULL,
                  "\"iss\":\"https://issuer.example\",\"aud\":\"switchboard\",\"email\":\"a\""),
            "missing jti claim");
    sb_plugin_entry.fini(st);
}

static void test_jwks_reloaded_when_it_changes(void **unused)
{
    char config[512];
    write_jwks("keys.json", jwk(rsa, "a"), NULL);
    touch("keys.json", 1000000);
    snprintf(config, sizeof(config), "jwks_file=%s,secret=%s,algs=RS256|ES256|HS256",
             path_of("keys.json"), SECRET);
    host.now_ms = 5000;
    host.loglen = 0;
    void *st = start(config);
    accepted_as(st, token(rsa, NULL, "a", "\"sub\":\"a\""), "a");
    refused(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "unknown key id");

    /* Rotate: key b (and an EC key c) replace key a. */
    write_jwks("keys.json", jwk(rsa2, "b"), jwk(ec, "c"));
    touch("keys.json", 1000001);
    /* Less than a second after the last look: not looked at yet. */
    host.now_ms += 500;
    refused(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "unknown key id");
    host.now_ms += 600;
    accepted_as(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "b");
    accepted_as(st, token(ec, NULL, "c", "\"sub\":\"c\""), "c");
    refused(st, token(rsa, NULL, "a", "\"sub\":\"a\""), "unknown key id");
    /* The secret is not part of the JWKS: it stays. */
    accepted_as(st, token(NULL, SECRET, NULL, "\"sub\":\"h\""), "h");
    assert_non_null(strstr(host.log, "[info] jwks_file reloaded: 3 key(s)"));

    /* A broken file: the keys stay, the reason is logged once. */
    host.loglen = 0;
    host.log[0] = '\0';
    write_file("keys.json", "{\"keys\":[{\"kty\":\"RSA\"");
    touch("keys.json", 1000002);
    host.now_ms += 1000;
    accepted_as(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "b");
    assert_non_null(strstr(host.log, "[error] jwks_file "));
    assert_non_null(strstr(host.log, "not reloaded: the JWKS is not valid JSON (line 1, column"));
    assert_non_null(strstr(host.log, "keeping the 3 keys loaded before"));
    char *first = strstr(host.log, "not reloaded");
    host.now_ms += 1000;
    accepted_as(st, token(ec, NULL, "c", "\"sub\":\"c\""), "c");
    assert_null(strstr(first + 1, "not reloaded"));

    /* A set that breaks the pairing rules is not loaded either. */
    write_file("keys.json", "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"HS256\",\"n\":\"AQAB\",\"e\":"
                            "\"AQAB\"}]}");
    touch("keys.json", 1000003);
    host.now_ms += 1000;
    accepted_as(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "b");
    assert_non_null(strstr(host.log, "its alg HS256 cannot be used with an RSA key"));

    /* A removed file: said once, keys kept. */
    host.loglen = 0;
    host.log[0] = '\0';
    unlink(path_of("keys.json"));
    host.now_ms += 1000;
    accepted_as(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "b");
    host.now_ms += 1000;
    accepted_as(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "b");
    first = strstr(host.log, "cannot be read");
    assert_non_null(first);
    assert_null(strstr(first + 1, "cannot be read"));

    /* Back, with key a (and an old mtime: any change counts, not only a newer one). */
    write_jwks("keys.json", jwk(rsa, "a"), NULL);
    touch("keys.json", 1000000);
    host.now_ms += 1000;
    accepted_as(st, token(rsa, NULL, "a", "\"sub\":\"a\""), "a");
    refused(st, token(rsa2, NULL, "b", "\"sub\":\"b\""), "unknown key id");
    sb_plugin_entry.fini(st);
}

static void test_nothing_secret_in_the_log(void **unused)
{
    char config[512];
    host.loglen = 0;
    host.log[0] = '\0';
    write_jwks("keys.json", jwk(rsa, "a"), NULL);
    snprintf(config, sizeof(config), "jwks_file=%s,secret=%s,algs=RS256|HS256",
             path_of("keys.json"), SECRET);
    void *st = start(config);
    char *t1 = token(rsa, NULL, "a", "\"sub\":\"a\""),
         *t2 = token(rsa2, NULL, "a", "\"sub\":\"a\"");
    char *c1 = strdup(t1), *c2 = strdup(t2);
    accepted_as(st, t1, "a");
    refused(st, t2, "bad signature");
    sb_plugin_entry.fini(st);
    assert_non_null(strstr(host.log, "[debug] JWT refused: bad signature"));
    assert_null(strstr(host.log, SECRET));
    assert_null(strstr(host.log, c1));
    assert_null(strstr(host.log, c2));
    /* The key's modulus neither. */
    char *n = b64_param(rsa, OSSL_PKEY_PARAM_RSA_N, 0);
    n[40] = '\0';
    assert_null(strstr(host.log, n));
    free(n);
    free(c1);
    free(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_secret_from_environment),
        cmocka_unit_test(test_existing_config_forms_still_work),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_hmac_with_public_key_refused_at_start),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_claim_options),
        cmocka_unit_test(test_refresh_sets_the_expiry),
        cmocka_unit_test(test_jwks_reloaded_when_it_changes),
        cmocka_unit_test(test_nothing_secret_in_the_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
