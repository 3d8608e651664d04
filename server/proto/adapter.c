/*
 * The socket.io Redis adapter protocol: the msgpack messages that @socket.io/redis-adapter and the
 * emitters publish, read into JSON the way a Node server sees them (notepack.io's decoder followed
 * by JSON.stringify), and written the way notepack.io's encoder writes them.
 *
 * Reading uses a small bounded reader rather than msgpack-c's unpacker: msgpack_unpack_next()
 * refuses containers nested more than 32 deep (MSGPACK_EMBED_STACK_SIZE, fixed when libmsgpackc
 * is built) and allocates a container's elements from its declared count before checking that the
 * bytes exist, so five bytes (a map32 header) make it reserve gigabytes. Writing uses msgpack-c's
 * packer, whose integer forms are already the smallest ones, as notepack.io's are.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

/* The top-level value is at depth 1; a value deeper than this is refused both ways. */
#define MAX_DEPTH 64

/* The args of a broadcast sit at this depth: [uid, {data: [event, arg…]}, opts]. */
#define ARG_DEPTH 4

/* A JavaScript Date holds at most 8.64e15 ms either side of the epoch (ECMA-262 TimeClip). */
#define MAX_TIME_MS 8.64e15

/* Integral numbers up to 2^53 are exact in a double, so JavaScript keeps them as integers. */
#define MAX_SAFE 9007199254740992.0

#define MS_PER_DAY 86400000LL

/* ------------------------------------------------------------------------------- reading */

/* The bins of a message read with adapter_decode_bins(), in the order they were read. */
struct rawbins {
    struct sio_bin *v;
    size_t n, cap;
};

struct reader {
    const unsigned char *p;
    const unsigned char *end;
    /* NULL: a bin becomes {"type":"Buffer","data":[…]}. Else it becomes a placeholder whose num
     * is its index here, renumbered once the whole message is read (see bins_number()). */
    struct rawbins *raw;
};

/* Takes `n` bytes, or returns NULL (and takes nothing) when fewer are left. */
static const unsigned char *take(struct reader *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n)
        return NULL;
    const unsigned char *p = r->p;
    r->p += n;
    return p;
}

static uint64_t big_endian(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an `n`-byte big-endian unsigned integer. */
static int read_uint(struct reader *r, size_t n, uint64_t *v)
{
    const unsigned char *p = take(r, n);
    if (!p)
        return SB_EPROTO;
    *v = big_endian(p, n);
    return 0;
}

/* Reads a `bytes`-byte two's complement value without the implementation-defined conversion of
 * an unsigned value above INT64_MAX. */
static int64_t to_signed(uint64_t v, size_t bytes)
{
    if (bytes < 8) {
        uint64_t sign = (uint64_t)1 << (bytes * 8 - 1);
        return (v & sign) ? (int64_t)v - (int64_t)(sign << 1) : (int64_t)v;
    }
    return v <= INT64_MAX ? (int64_t)v : -(int64_t)~v - 1;
}

/* Stores a freshly made value; jansson returns NULL only when it runs out of memory. */
static int made(json_t *v, json_t **out)
{
    *out = v;
    return v ? 0 : SB_ENOMEM;
}

/* JSON.stringify writes NaN and the infinities as null. */
static json_t *number_json(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Writes `ms` (within TimeClip's range) as Date.prototype.toISOString() does, with the civil
 * calendar algorithm of Howard Hinnant's "chrono-compatible low-level date algorithms". */
static void iso_format(int64_t ms, char *out, size_t size)
{
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        days--;
        rem += MS_PER_DAY;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1);
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t year = yoe + era * 400 + (month <= 2);
    int h = (int)(rem / 3600000), m = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
    int milli = (int)(rem % 1000);
    /* JavaScript writes years outside 0…9999 with a sign and six digits. */
    char y[16];
    if (year >= 0 && year <= 9999)
        snprintf(y, sizeof(y), "%04d", (int)year);
    else
        snprintf(y, sizeof(y), "%c%06d", year < 0 ? '-' : '+', (int)(year < 0 ? -year : year));
    snprintf(out, size, "%s-%02d-%02dT%02d:%02d:%02d.%03dZ", y, month, day, h, m, s, milli);
}

/* new Date(t) followed by JSON.stringify: the time value is truncated towards zero, and a value
 * beyond TimeClip's range is an Invalid Date, which JSON writes as null. */
static json_t *date_json(double t)
{
    if (!(t >= -MAX_TIME_MS && t <= MAX_TIME_MS)) /* NaN too */
        return json_null();
    char buf[64];
    iso_format((int64_t)t, buf, sizeof(buf));
    return json_string(buf);
}

/*
 * An extension value. notepack.io turns the timestamp extension (type -1) into a Date in exactly
 * three forms: fixext 4 (32-bit seconds), fixext 8 (30 bits of nanoseconds, 34 of seconds) and
 * ext 8 of 12 bytes (32-bit nanoseconds, signed 64-bit seconds); and fixext 8 of type 0 is its
 * old Date encoding (signed 64-bit milliseconds). The arithmetic is done in doubles, as Node does
 * it, so the truncation to milliseconds agrees. Any other extension becomes null.
 */
static int ext_json(unsigned char head, int8_t type, const unsigned char *p, size_t n, json_t **out)
{
    if (type == -1 && head == 0xd6)
        return made(date_json((double)big_endian(p, 4) * 1e3), out);
    if (type == -1 && head == 0xd7) {
        uint64_t hi = big_endian(p, 4), lo = big_endian(p + 4, 4);
        double s = (double)(hi & 3) * 4294967296.0 + (double)lo;
        return made(date_json(s * 1e3 + (double)(hi >> 2) / 1e6), out);
    }
    if (type == -1 && head == 0xc7 && n == 12) {
        double ns = (double)big_endian(p, 4);
        double hi = (double)to_signed(big_endian(p + 4, 4), 4);
        double s = hi * 4294967296.0 + (double)big_endian(p + 8, 4);
        return made(date_json(s * 1e3 + ns / 1e6), out);
    }
    if (type == 0 && head == 0xd7) {
        double hi = (double)to_signed(big_endian(p, 4), 4) * 4294967296.0;
        return made(date_json(hi + (double)big_endian(p + 4, 4)), out);
    }
    return made(json_null(), out);
}

/* A Node Buffer as JSON.stringify writes it: {"type":"Buffer","data":[bytes…]}. */
static int bin_json(const unsigned char *p, size_t n, json_t **out)
{
    json_t *data = json_array();
    json_t *obj = json_object();
    if (!data || !obj)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(data, json_integer(p[i])))
            goto fail;
    }
    if (json_object_set_new(obj, "type", json_string("Buffer")))
        goto fail;
    /* json_object_set_new() takes the reference even when it fails. */
    if (json_object_set_new(obj, "data", data)) {
        json_decref(obj);
        return SB_ENOMEM;
    }
    *out = obj;
    return 0;
fail:
    json_decref(data);
    json_decref(obj);
    return SB_ENOMEM;
}

static int value_json(struct reader *r, int depth, json_t **out);

static int array_json(struct reader *r, uint64_t count, int depth, json_t **out)
{
    /* Every element takes at least a byte: a larger count is a lie, refused before any work. */
    if (count > (uint64_t)(r->end - r->p))
        return SB_EPROTO;
    json_t *arr = json_array();
    if (!arr)
        return SB_ENOMEM;
    for (uint64_t i = 0; i < count; i++) {
        json_t *v;
        int rc = value_json(r, depth + 1, &v);
        if (rc == 0 && json_array_append_new(arr, v))
            rc = SB_ENOMEM;
        if (rc) {
            json_decref(arr);
            return rc;
        }
    }
    *out = arr;
    return 0;
}

/* Reads a map key, which must be a valid UTF-8 string (any fixstr or str 8/16/32). */
static int key_read(struct reader *r, const char **key, size_t *len)
{
    const unsigned char *h = take(r, 1);
    uint64_t n;
    if (!h)
        return SB_EPROTO;
    if (*h >= 0xa0 && *h <= 0xbf)
        n = *h & 0x1f;
    else if (*h >= 0xd9 && *h <= 0xdb) {
        if (read_uint(r, (size_t)1 << (*h - 0xd9), &n))
            return SB_EPROTO;
    } else
        return SB_EPROTO;
    const unsigned char *p = take(r, n);
    if (!p || !proto_utf8_valid((const char *)p, (size_t)n))
        return SB_EPROTO;
    *key = (const char *)p;
    *len = (size_t)n;
    return 0;
}

/* A bin read for adapter_decode_bins(): a placeholder for the bytes, kept in `raw`. */
static int bin_mark(struct rawbins *raw, const unsigned char *p, size_t n, json_t **out)
{
    if (raw->n == raw->cap) {
        size_t cap = raw->cap ? raw->cap * 2 : 4;
        struct sio_bin *v = realloc(raw->v, cap * sizeof(*v));
        if (!v)
            return SB_ENOMEM;
        raw->v = v;
        raw->cap = cap;
    }
    json_t *obj = json_pack("{sbsI}", "_placeholder", 1, "num", (json_int_t)raw->n);
    if (!obj)
        return SB_ENOMEM;
    raw->v[raw->n++] = (struct sio_bin){p, n};
    *out = obj;
    return 0;
}

/* A map becomes an object; a repeated key keeps its last value, as in JavaScript. */
static int map_json(struct reader *r, uint64_t count, int depth, json_t **out)
{
    if (count > (uint64_t)(r->end - r->p) / 2)
        return SB_EPROTO;
    json_t *obj = json_object();
    if (!obj)
        return SB_ENOMEM;
    for (uint64_t i = 0; i < count; i++) {
        const char *key;
        size_t klen;
        json_t *v;
        int rc = key_read(r, &key, &klen);
        if (rc == 0)
            rc = value_json(r, depth + 1, &v);
        if (rc == 0 && json_object_setn_new_nocheck(obj, key, klen, v))
            rc = SB_ENOMEM;
        if (rc) {
            json_decref(obj);
            return rc;
        }
    }
    /* With bins read as placeholders, a map that looks like one could not be told from a bin:
     * refused (only a sender that emits socket.io's own placeholder objects makes it). */
    if (r->raw && sio_placeholder_num(obj, SIZE_MAX, NULL) != 0) {
        json_decref(obj);
        return SB_EPROTO;
    }
    *out = obj;
    return 0;
}

/* The payload of a str, bin or ext whose length field is `width` bytes (0: fixed `n`). */
static int payload(struct reader *r, size_t width, uint64_t n, const unsigned char **p, size_t *len)
{
    if (width && read_uint(r, width, &n))
        return SB_EPROTO;
    *p = take(r, n);
    *len = (size_t)n;
    return *p ? 0 : SB_EPROTO;
}

static int str_json(struct reader *r, size_t width, uint64_t n, json_t **out)
{
    const unsigned char *p;
    size_t len;
    if (payload(r, width, n, &p, &len) || !proto_utf8_valid((const char *)p, len))
        return SB_EPROTO;
    return made(json_stringn_nocheck((const char *)p, len), out);
}

/* An ext (`width` > 0: its length field's size) or fixext (`n` bytes) of one type byte. */
static int ext_read(struct reader *r, unsigned char head, size_t width, uint64_t n, json_t **out)
{
    const unsigned char *type, *p;
    size_t len;
    if (width && read_uint(r, width, &n))
        return SB_EPROTO;
    if (!(type = take(r, 1)) || payload(r, 0, n, &p, &len))
        return SB_EPROTO;
    return ext_json(head, (int8_t)to_signed(*type, 1), p, len, out);
}

/* Numbers: integers stay exact integers; a uint 64 above INT64_MAX becomes the nearest double,
 * the value Node reads. */
static int number_read(struct reader *r, unsigned char c, json_t **out)
{
    uint64_t v;
    if (c == 0xca || c == 0xcb) {
        if (read_uint(r, c == 0xca ? 4 : 8, &v))
            return SB_EPROTO;
        if (c == 0xca) {
            float f;
            uint32_t u = (uint32_t)v;
            memcpy(&f, &u, sizeof(f));
            return made(number_json(f), out);
        }
        double d;
        memcpy(&d, &v, sizeof(d));
        return made(number_json(d), out);
    }
    if (c >= 0xcc && c <= 0xcf) {
        if (read_uint(r, (size_t)1 << (c - 0xcc), &v))
            return SB_EPROTO;
        return made(v > INT64_MAX ? json_real((double)v) : json_integer((json_int_t)v), out);
    }
    size_t bytes = (size_t)1 << (c - 0xd0);
    if (read_uint(r, bytes, &v))
        return SB_EPROTO;
    return made(json_integer(to_signed(v, bytes)), out);
}

/* Converts one msgpack value to JSON with the rules of adapter_decode(). */
static int value_json(struct reader *r, int depth, json_t **out)
{
    if (depth > MAX_DEPTH)
        return SB_EPROTO;
    const unsigned char *h = take(r, 1);
    if (!h)
        return SB_EPROTO;
    unsigned char c = *h;
    if (c <= 0x7f)
        return made(json_integer(c), out);
    if (c >= 0xe0)
        return made(json_integer((json_int_t)c - 256), out);
    if (c <= 0x8f)
        return map_json(r, c & 0x0f, depth, out);
    if (c <= 0x9f)
        return array_json(r, c & 0x0f, depth, out);
    if (c <= 0xbf)
        return str_json(r, 0, c & 0x1f, out);

    uint64_t n;
    const unsigned char *p;
    size_t len;
    switch (c) {
    case 0xc0:
        return made(json_null(), out);
    case 0xc2:
        return made(json_false(), out);
    case 0xc3:
        return made(json_true(), out);
    case 0xc4:
    case 0xc5:
    case 0xc6:
        if (payload(r, (size_t)1 << (c - 0xc4), 0, &p, &len))
            return SB_EPROTO;
        return r->raw ? bin_mark(r->raw, p, len, out) : bin_json(p, len, out);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        return ext_read(r, c, (size_t)1 << (c - 0xc7), 0, out);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return ext_read(r, c, 0, (uint64_t)1 << (c - 0xd4), out);
    case 0xd9:
    case 0xda:
    case 0xdb:
        return str_json(r, (size_t)1 << (c - 0xd9), 0, out);
    case 0xdc:
    case 0xdd:
        if (read_uint(r, c == 0xdc ? 2 : 4, &n))
            return SB_EPROTO;
        return array_json(r, n, depth, out);
    case 0xde:
    case 0xdf:
        if (read_uint(r, c == 0xde ? 2 : 4, &n))
            return SB_EPROTO;
        return map_json(r, n, depth, out);
    case 0xc1: /* never used */
        return SB_EPROTO;
    default:
        return number_read(r, c, out);
    }
}

/* The whole buffer must be exactly one value: notepack.io refuses trailing bytes too. */
static int parse(const char *buf, size_t len, struct rawbins *raw, json_t **out)
{
    if (!buf)
        return SB_EPROTO;
    struct reader r = {(const unsigned char *)buf, (const unsigned char *)buf + len, raw};
    int rc = value_json(&r, 1, out);
    if (rc == 0 && r.p != r.end) {
        json_decref(*out);
        rc = SB_EPROTO;
    }
    return rc;
}

/* ------------------------------------------------------------------- the broadcast message */

/* Appends `n` copies of `c` at out[*i]. */
static void repeat(char *out, size_t *i, char c, int n)
{
    while (n-- > 0)
        out[(*i)++] = c;
}

/*
 * Writes the finite `v` as JavaScript's String(v) does: the shortest digits that read back as
 * `v`, written plainly for up to 21 integer digits and down to six zeros after the point, and
 * in exponential form beyond (ECMA-262 Number::toString). `out` holds JS_NUMBER_MAX bytes.
 */
#define JS_NUMBER_MAX 48
static void js_number(double v, char *out)
{
    char buf[40], digits[24];
    int k = 0;
    size_t i = 0;
    if (v == 0) { /* -0 too */
        strcpy(out, "0");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* Collect the digits whatever the locale's decimal point is, then the exponent. */
    const char *e = strchr(buf, 'e');
    for (const char *s = buf; s < e; s++) {
        if (*s >= '0' && *s <= '9')
            digits[k++] = *s;
    }
    while (k > 1 && digits[k - 1] == '0')
        k--;
    int n = atoi(e + 1) + 1; /* v = 0.digits × 10^n */
    if (v < 0)
        out[i++] = '-';
    if (k <= n && n <= 21) {
        memcpy(out + i, digits, (size_t)k);
        i += (size_t)k;
        repeat(out, &i, '0', n - k);
    } else if (0 < n && n <= 21) {
        memcpy(out + i, digits, (size_t)n);
        i += (size_t)n;
        out[i++] = '.';
        memcpy(out + i, digits + n, (size_t)(k - n));
        i += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        out[i++] = '0';
        out[i++] = '.';
        repeat(out, &i, '0', -n);
        memcpy(out + i, digits, (size_t)k);
        i += (size_t)k;
    } else {
        out[i++] = digits[0];
        if (k > 1) {
            out[i++] = '.';
            memcpy(out + i, digits + 1, (size_t)(k - 1));
            i += (size_t)(k - 1);
        }
        i += (size_t)snprintf(out + i, JS_NUMBER_MAX - i, "e%c%d", n > 0 ? '+' : '-', abs(n - 1));
    }
    out[i] = '\0';
}

/* A name: a string without NUL bytes (it becomes a C string), or a number as its text. */
static int name_dup(const json_t *v, char **out)
{
    char num[JS_NUMBER_MAX];
    const char *s = num;
    if (json_is_string(v)) {
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
            return SB_EPROTO;
    } else if (json_is_integer(v) && json_integer_value(v) >= -(1LL << 53) &&
               json_integer_value(v) <= (1LL << 53)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_integer(v)) {
        /* Node holds a larger integer as the nearest double, and names it by that. */
        js_number((double)json_integer_value(v), num);
    } else if (json_is_real(v)) {
        js_number(json_real_value(v), num);
    } else {
        return SB_EPROTO;
    }
    return (*out = strdup(s)) ? 0 : SB_ENOMEM;
}

/* rooms / except: absent or nil is an empty list. */
static int names_dup(const json_t *arr, char ***out, size_t *count)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return SB_EPROTO;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    if (!(*out = calloc(n, sizeof(**out))))
        return SB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* Count each name as it is made, so that adapter_msg_clear() frees what exists. */
        int rc = name_dup(json_array_get(arr, i), &(*out)[i]);
        if (rc)
            return rc;
        (*count)++;
    }
    return 0;
}

static int packet_read(json_t *packet, struct adapter_msg *m)
{
    if (!json_is_object(packet))
        return SB_EPROTO;
    const json_t *type = json_object_get(packet, "type");
    if (!json_is_integer(type) || json_integer_value(type) < INT32_MIN ||
        json_integer_value(type) > INT32_MAX)
        return SB_EPROTO;
    m->type = (int)json_integer_value(type);

    /* The Node adapter reads a packet without "nsp" as the main namespace. */
    const json_t *nsp = json_object_get(packet, "nsp");
    int rc;
    if (!nsp)
        rc = (m->nsp = strdup("/")) ? 0 : SB_ENOMEM;
    else
        rc = json_is_string(nsp) ? name_dup(nsp, &m->nsp) : SB_EPROTO;
    if (rc)
        return rc;

    json_t *data = json_object_get(packet, "data");
    if (!json_is_array(data) || json_array_size(data) == 0)
        return SB_EPROTO;
    if ((rc = name_dup(json_array_get(data, 0), &m->event)))
        return rc;
    /* The rest of `data` is the args: drop the event and keep the array. */
    if (json_array_remove(data, 0))
        return SB_ENOMEM;
    m->args = json_incref(data);
    return 0;
}

static int opts_read(json_t *opts, struct adapter_msg *m)
{
    json_t *flags = NULL;
    if (json_is_object(opts)) {
        int rc = names_dup(json_object_get(opts, "rooms"), &m->rooms, &m->nrooms);
        if (rc == 0)
            rc = names_dup(json_object_get(opts, "except"), &m->except, &m->nexcept);
        if (rc)
            return rc;
        flags = json_object_get(opts, "flags");
    } else if (!json_is_null(opts)) {
        return SB_EPROTO;
    }
    if (flags && json_is_object(flags))
        m->flags = json_incref(flags);
    else if (!flags || json_is_null(flags))
        m->flags = json_object();
    else
        return SB_EPROTO;
    return m->flags ? 0 : SB_ENOMEM;
}

static int msg_read(json_t *root, struct adapter_msg *m)
{
    /* Node destructures [uid, packet, opts] and ignores anything after. */
    if (!json_is_array(root) || json_array_size(root) < 3)
        return SB_EPROTO;
    const json_t *uid = json_array_get(root, 0);
    if (!json_is_string(uid))
        return SB_EPROTO;
    int rc = name_dup(uid, &m->uid);
    if (rc == 0)
        rc = packet_read(json_array_get(root, 1), m);
    if (rc == 0)
        rc = opts_read(json_array_get(root, 2), m);
    return rc;
}

int adapter_peek_uid(const char *buf, size_t len, const char **uid, size_t *uid_len)
{
    if (!buf)
        return SB_EPROTO;
    struct reader r = {(const unsigned char *)buf, (const unsigned char *)buf + len, NULL};
    const unsigned char *h = take(&r, 1);
    uint64_t n;
    if (!h)
        return SB_EPROTO;
    if (*h >= 0x90 && *h <= 0x9f)
        n = *h & 0x0f;
    else if (*h == 0xdc || *h == 0xdd) {
        if (read_uint(&r, *h == 0xdc ? 2 : 4, &n))
            return SB_EPROTO;
    } else
        return SB_EPROTO;
    if (n < 3)
        return SB_EPROTO;
    /* The uid is read as a map key is: a UTF-8 string of any str form. */
    return key_read(&r, uid, uid_len);
}

int adapter_decode(const char *buf, size_t len, struct adapter_msg *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root;
    int rc = parse(buf, len, NULL, &root);
    if (rc)
        return rc;
    rc = msg_read(root, out);
    json_decref(root);
    if (rc)
        adapter_msg_clear(out);
    return rc;
}

/*
 * A key JavaScript treats as an array index (a canonical decimal below 2^32 - 1): an object
 * lists those first, in ascending order, then the other keys in insertion order
 * (OrdinaryOwnPropertyKeys), and deconstructPacket() numbers buffers in that order.
 */
static bool index_key(const char *key, size_t len, uint32_t *idx)
{
    if (len == 0 || len > 10 || (key[0] == '0' && len > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < '0' || key[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    if (v >= UINT32_MAX)
        return false;
    *idx = (uint32_t)v;
    return true;
}

struct indexed {
    uint32_t idx;
    json_t *value;
};

static int indexed_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct indexed *)a)->idx, y = ((const struct indexed *)b)->idx;
    return x < y ? -1 : x > y;
}

struct numbering {
    const struct rawbins *raw;
    struct sio_bin *bins; /* raw->n entries: a bin is numbered at most once */
    size_t n;
};

static int bins_number(json_t *v, struct numbering *nb);

/* Numbers the bins under an object's values, array-index keys first as JavaScript lists them. */
static int object_number(json_t *obj, struct numbering *nb)
{
    const char *key;
    size_t klen, nidx = 0;
    json_t *item;
    uint32_t idx;
    int rc;
    json_object_keylen_foreach(obj, key, klen, item)
    {
        if (index_key(key, klen, &idx))
            nidx++;
    }
    if (nidx) {
        struct indexed *keys = malloc(nidx * sizeof(*keys));
        size_t k = 0;
        if (!keys)
            return SB_ENOMEM;
        json_object_keylen_foreach(obj, key, klen, item)
        {
            if (index_key(key, klen, &idx))
                keys[k++] = (struct indexed){idx, item};
        }
        qsort(keys, nidx, sizeof(*keys), indexed_cmp);
        for (k = 0, rc = 0; k < nidx && rc == 0; k++)
            rc = bins_number(keys[k].value, nb);
        free(keys);
        if (rc)
            return rc;
    }
    json_object_keylen_foreach(obj, key, klen, item)
    {
        if (!index_key(key, klen, &idx) && (rc = bins_number(item, nb)))
            return rc;
    }
    return 0;
}

/*
 * Gives the placeholders of `v` their final nums in the order of deconstructPacket()'s
 * depth-first walk, and collects their bytes in that order. A bin that a repeated map key
 * replaced is not in the tree any more, so it gets no num, as Node never sees it. Every
 * placeholder here was made by bin_mark() (map_json() refuses look-alikes), and the tree is no
 * deeper than the reader allows.
 */
static int bins_number(json_t *v, struct numbering *nb)
{
    size_t raw;
    int rc;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if ((rc = bins_number(json_array_get(v, i), nb)))
                return rc;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    if (sio_placeholder_num(v, nb->raw->n, &raw) != 1)
        return object_number(v, nb);
    nb->bins[nb->n] = nb->raw->v[raw];
    if (json_object_set_new(v, "num", json_integer((json_int_t)nb->n)))
        return SB_ENOMEM;
    nb->n++;
    return 0;
}

/* The {"type":"Buffer","data":[…]} of adapter_decode() for `v` when it is a placeholder of
 * `raw`: 1 with `*buf` set, 0 when it is not one, or SB_ENOMEM. */
static int bin_restored(const json_t *v, const struct rawbins *raw, json_t **buf)
{
    size_t k;
    if (sio_placeholder_num(v, raw->n, &k) != 1)
        return 0;
    int rc = bin_json(raw->v[k].data, raw->v[k].len, buf);
    return rc ? rc : 1;
}

/* Outside packet.data (the subtree `skip`) a bin keeps adapter_decode()'s form, so that the two
 * decoders read the rest of a message alike. */
static int bins_restore(json_t *v, const struct rawbins *raw, const json_t *skip)
{
    json_t *buf;
    int rc;
    if (v == skip)
        return 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *item = json_array_get(v, i);
            if ((rc = bin_restored(item, raw, &buf)) < 0)
                return rc;
            if (rc == 1 && json_array_set_new(v, i, buf))
                return SB_ENOMEM;
            if (rc == 0 && (rc = bins_restore(item, raw, skip)))
                return rc;
        }
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            json_t *item = json_object_iter_value(it);
            if ((rc = bin_restored(item, raw, &buf)) < 0)
                return rc;
            if (rc == 1 && json_object_iter_set_new(v, it, buf))
                return SB_ENOMEM;
            if (rc == 0 && (rc = bins_restore(item, raw, skip)))
                return rc;
        }
    }
    return 0;
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int adapter_decode_bins(const char *buf, size_t len, struct adapter_msg *out)
{
    memset(out, 0, sizeof(*out));
    struct rawbins raw = {0};
    json_t *root;
    int rc = parse(buf, len, &raw, &root);
    if (rc) {
        free(raw.v);
        return rc;
    }
    /* msg_read() checks the shape; packet.data, if it is there, is the tree to number. */
    json_t *packet = json_array_get(root, 1);
    const json_t *data = json_is_object(packet) ? json_object_get(packet, "data") : NULL;
    rc = bins_restore(root, &raw, data);
    if (rc == 0)
        rc = msg_read(root, out);
    if (rc == 0 && raw.n) {
        struct numbering nb = {&raw, calloc(raw.n, sizeof(*nb.bins)), 0};
        if (!nb.bins)
            rc = SB_ENOMEM;
        else if ((rc = bins_number(out->args, &nb)) == 0 && nb.n == 0) {
            free(nb.bins);
            nb.bins = NULL;
        }
        out->bins = nb.bins;
        out->nbins = nb.n;
    }
    json_decref(root);
    free(raw.v);
    if (rc)
        adapter_msg_clear(out);
    return rc;
}

void adapter_msg_clear(struct adapter_msg *m)
{
    free(m->bins);
    free(m->uid);
    free(m->nsp);
    free(m->event);
    json_decref(m->args);
    names_free(m->rooms, m->nrooms);
    names_free(m->except, m->nexcept);
    json_decref(m->flags);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------------- writing */

static int write_cb(void *data, const char *buf, size_t len)
{
    return sbuf_append(data, buf, len) ? -1 : 0;
}

/* A string the decoder reads back: valid UTF-8 and within str 32. */
static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    if (len > UINT32_MAX || !proto_utf8_valid(s, len))
        return SB_EINVAL;
    if (msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, s, len))
        return SB_ENOMEM;
    return 0;
}

/* Numbers as notepack.io writes them: integral values as the smallest integer form, the rest
 * as float 64. A JSON real is a plain number in JavaScript, so an integral one within 2^53 is
 * written as an integer too; a larger one stays a float, where notepack.io would wrap it. */
static int pack_number(msgpack_packer *pk, const json_t *v)
{
    int rc;
    if (json_is_integer(v)) {
        rc = msgpack_pack_int64(pk, json_integer_value(v));
    } else {
        double d = json_real_value(v);
        /* The range test comes first so that the conversion is defined (sbproto does not link
         * libm, hence no floor()). */
        if (d >= -MAX_SAFE && d <= MAX_SAFE && d == (double)(int64_t)d)
            rc = msgpack_pack_int64(pk, (int64_t)d);
        else
            rc = msgpack_pack_double(pk, d);
    }
    return rc ? SB_ENOMEM : 0;
}

/* The attachments of adapter_encode_bins(); NULL where placeholders are ordinary maps. */
struct packbins {
    const struct sio_bin *v;
    size_t n;
};

/* A placeholder as the bin of its attachment, which a Node server reads as a Buffer. */
static int pack_bin(msgpack_packer *pk, const struct sio_bin *b)
{
    if (b->len > UINT32_MAX || (b->len && !b->data))
        return SB_EINVAL;
    if (msgpack_pack_bin(pk, b->len) || msgpack_pack_bin_body(pk, b->data, b->len))
        return SB_ENOMEM;
    return 0;
}

static int pack_value(msgpack_packer *pk, const json_t *v, int depth, const struct packbins *bins)
{
    if (depth > MAX_DEPTH)
        return SB_EINVAL;
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *item;
        size_t num;
        if (bins && (rc = sio_placeholder_num(v, bins->n, &num)) != 0)
            return rc < 0 ? SB_EINVAL : pack_bin(pk, &bins->v[num]);
        if (json_object_size(v) > UINT32_MAX)
            return SB_EINVAL;
        if (msgpack_pack_map(pk, json_object_size(v)))
            return SB_ENOMEM;
        json_object_keylen_foreach((json_t *)v, key, klen, item)
        {
            if ((rc = pack_str(pk, key, klen)) || (rc = pack_value(pk, item, depth + 1, bins)))
                return rc;
        }
        return 0;
    }
    case JSON_ARRAY:
        if (json_array_size(v) > UINT32_MAX)
            return SB_EINVAL;
        if (msgpack_pack_array(pk, json_array_size(v)))
            return SB_ENOMEM;
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++)
            rc = pack_value(pk, json_array_get(v, i), depth + 1, bins);
        return rc;
    case JSON_STRING:
        return pack_str(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL:
        return pack_number(pk, v);
    case JSON_TRUE:
        return msgpack_pack_true(pk) ? SB_ENOMEM : 0;
    case JSON_FALSE:
        return msgpack_pack_false(pk) ? SB_ENOMEM : 0;
    case JSON_NULL:
        return msgpack_pack_nil(pk) ? SB_ENOMEM : 0;
    }
    return SB_EINVAL;
}

/* A C string, refused when NULL. */
static int pack_cstr(msgpack_packer *pk, const char *s)
{
    return s ? pack_str(pk, s, strlen(s)) : SB_EINVAL;
}

static int pack_names(msgpack_packer *pk, const char *key, const char *const *names, size_t n)
{
    int rc;
    if (n > UINT32_MAX || (n && !names))
        return SB_EINVAL;
    if ((rc = pack_cstr(pk, key)))
        return rc;
    if (msgpack_pack_array(pk, n))
        return SB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((rc = pack_cstr(pk, names[i])))
            return rc;
    }
    return 0;
}

static int pack_message(msgpack_packer *pk, const char *uid, const char *nsp, const char *event,
                        const json_t *args, const struct packbins *bins, const char *const *rooms,
                        size_t nrooms, const char *const *except, size_t nexcept)
{
    size_t nargs = args ? json_array_size(args) : 0;
    int rc;
    if ((args && !json_is_array(args)) || nargs >= UINT32_MAX)
        return SB_EINVAL;
    if (msgpack_pack_array(pk, 3))
        return SB_ENOMEM;
    if ((rc = pack_cstr(pk, uid)))
        return rc;

    /* {type: 2, data: [event, ...args], nsp}: the key order socket.io's packet has. */
    if (msgpack_pack_map(pk, 3))
        return SB_ENOMEM;
    if ((rc = pack_cstr(pk, "type")))
        return rc;
    if (msgpack_pack_int(pk, SIO_EVENT))
        return SB_ENOMEM;
    if ((rc = pack_cstr(pk, "data")))
        return rc;
    if (msgpack_pack_array(pk, nargs + 1))
        return SB_ENOMEM;
    if ((rc = pack_cstr(pk, event)))
        return rc;
    for (size_t i = 0; i < nargs; i++) {
        if ((rc = pack_value(pk, json_array_get(args, i), ARG_DEPTH, bins)))
            return rc;
    }
    if ((rc = pack_cstr(pk, "nsp")) || (rc = pack_cstr(pk, nsp ? nsp : "/")))
        return rc;

    /* {rooms, except, flags}: the Node adapter's order (the emitters put flags second). */
    if (msgpack_pack_map(pk, 3))
        return SB_ENOMEM;
    if ((rc = pack_names(pk, "rooms", rooms, nrooms)) ||
        (rc = pack_names(pk, "except", except, nexcept)) || (rc = pack_cstr(pk, "flags")))
        return rc;
    return msgpack_pack_map(pk, 0) ? SB_ENOMEM : 0;
}

int adapter_encode(struct sbuf *out, const char *uid, const char *nsp, const char *event,
                   const json_t *args, const char *const *rooms, size_t nrooms,
                   const char *const *except, size_t nexcept)
{
    msgpack_packer pk;
    size_t start = out->len;
    msgpack_packer_init(&pk, out, write_cb);
    int rc = pack_message(&pk, uid, nsp, event, args, NULL, rooms, nrooms, except, nexcept);
    return sbuf_finish(out, start, rc);
}

int adapter_encode_bins(struct sbuf *out, const char *uid, const char *nsp, const char *event,
                        const json_t *args, const struct sio_bin *bins, size_t nbins,
                        const char *const *rooms, size_t nrooms, const char *const *except,
                        size_t nexcept)
{
    if (nbins && !bins)
        return SB_EINVAL;
    msgpack_packer pk;
    size_t start = out->len;
    struct packbins pb = {bins, nbins};
    msgpack_packer_init(&pk, out, write_cb);
    int rc = pack_message(&pk, uid, nsp, event, args, &pb, rooms, nrooms, except, nexcept);
    return sbuf_finish(out, start, rc);
}

int adapter_pack_json(struct sbuf *out, const json_t *value)
{
    msgpack_packer pk;
    size_t start = out->len;
    if (!value)
        return SB_EINVAL;
    msgpack_packer_init(&pk, out, write_cb);
    return sbuf_finish(out, start, pack_value(&pk, value, 1, NULL));
}

/* ------------------------------------------------------------------------------ requests */

json_t *adapter_request_decode(const char *buf, size_t len)
{
    if (!buf || len == 0)
        return NULL;
    /* The adapter sends most requests as JSON.stringify() text; a msgpack map never starts with
     * '{' (0x7b is the fixint 123). */
    if (buf[0] == '{')
        return proto_json_load(buf, len, PROTO_JSON_FLAGS, NULL);
    json_t *v;
    return parse(buf, len, NULL, &v) == 0 ? v : NULL;
}
