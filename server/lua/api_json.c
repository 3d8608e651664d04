/*
 * JSON <-> Lua. JSON null is the light userdata sb.null inside tables (a nil would make holes
 * in arrays) and a plain nil for a handler's top-level arguments. A Lua table is an array when
 * its keys are exactly 1..n, an object otherwise; an empty table is an object unless it carries
 * the sb.array marker (setmetatable(t, sb.array_mt) or sb.array{}).
 *
 * Binary (a socket.io client's Buffer or ArrayBuffer, a Node server's Buffer through Redis) is
 * a full userdata, sb.binary: `sb.is_binary(v)` tells it from a string, `tostring(v)` gives its
 * bytes as a Lua string, `#v` their number, and `sb.binary(s)` makes one from a string. In the
 * JSON trees the rest of the server carries it is a placeholder {"_placeholder":true,"num":i}
 * beside a struct sio_bins, the form socket.io's parser uses (proto.h).
 */
#include "api.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../proto/proto.h"

#define MAX_DEPTH 100
#define ARRAY_MT  "sb.array"
#define BINARY_MT "sb.binary"

/* The bytes of an sb.binary userdata. */
struct lbin {
    size_t len;
    unsigned char data[];
};

static void push_binary(lua_State *L, const void *data, size_t len)
{
    struct lbin *b = lua_newuserdata(L, sizeof(*b) + len);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    luaL_getmetatable(L, BINARY_MT);
    lua_setmetatable(L, -2);
}

/* The sb.binary at `idx`, or NULL. */
static struct lbin *to_binary(lua_State *L, int idx)
{
    struct lbin *b = lua_touserdata(L, idx);
    if (!b || lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, BINARY_MT);
    bool eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq ? b : NULL;
}

void json_push(lua_State *L, const json_t *v, bool top, const struct sio_bins *bins)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t num;
        if (bins && sio_placeholder_num(v, bins->n, &num) == 1) {
            push_binary(L, bins->bin[num].data, bins->bin[num].len);
            return;
        }
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            lua_pushstring(L, k);
            json_push(L, item, false, bins);
            lua_rawset(L, -3);
        }
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            json_push(L, json_array_get(v, i), false, bins);
            lua_rawseti(L, -2, (int)i + 1);
        }
        /* Keep the array-ness of an empty array across a round trip. */
        if (n == 0) {
            luaL_getmetatable(L, ARRAY_MT);
            lua_setmetatable(L, -2);
        }
        return;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        lua_pushnumber(L, (lua_Number)json_integer_value(v));
        return;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        return;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        return;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        return;
    case JSON_NULL:
    default:
        if (top)
            lua_pushnil(L);
        else
            lua_pushlightuserdata(L, NULL);
        return;
    }
}

static bool is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* Returns n when the table's keys are exactly 1..n (n may be 0), or -1. */
static long array_length(lua_State *L, int idx)
{
    long n = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_pop(L, 1);
            return -1;
        }
        lua_Number k = lua_tonumber(L, -1);
        if (k < 1 || k != floor(k) || k > 1e9) {
            lua_pop(L, 1);
            return -1;
        }
        if ((long)k > max)
            max = (long)k;
        n++;
    }
    return n == max ? n : -1;
}

static bool has_array_mt(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, ARRAY_MT);
    bool eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

/* The binary values met while converting one message, in order: placeholder i is bin[i],
 * whose bytes are borrowed from the userdata (alive on the stack while the conversion runs).
 * NULL where binary cannot go. */
struct bins_builder {
    struct sio_bin bin[SIO_MAX_ATTACHMENTS];
    size_t n;
};

static json_t *convert(lua_State *L, int idx, int depth, struct bins_builder *bb, char *err,
                       size_t errlen);

static json_t *convert_table(lua_State *L, int idx, int depth, struct bins_builder *bb, char *err,
                             size_t errlen)
{
    if (depth > MAX_DEPTH) {
        snprintf(err, errlen, "table nested more than %d levels (a cycle?)", MAX_DEPTH);
        return NULL;
    }
    luaL_checkstack(L, 4, "json");
    long n = array_length(L, idx);
    if (n > 0 || (n == 0 && has_array_mt(L, idx))) {
        json_t *a = json_array();
        for (long i = 1; a && i <= n; i++) {
            lua_rawgeti(L, idx, (int)i);
            json_t *item = convert(L, lua_gettop(L), depth + 1, bb, err, errlen);
            lua_pop(L, 1);
            if (!item || json_array_append_new(a, item)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx)) {
        const char *key;
        char numkey[32];
        if (lua_type(L, -2) == LUA_TSTRING) {
            key = lua_tostring(L, -2);
        } else if (lua_type(L, -2) == LUA_TNUMBER) {
            /* Sparse arrays and numeric keys become object keys, as JSON.stringify does. */
            lua_Number k = lua_tonumber(L, -2);
            if (k == floor(k) && fabs(k) < 1e15)
                snprintf(numkey, sizeof(numkey), "%lld", (long long)k);
            else
                snprintf(numkey, sizeof(numkey), "%.17g", k);
            key = numkey;
        } else {
            snprintf(err, errlen, "cannot encode a table key of type %s", luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(o);
            return NULL;
        }
        json_t *item = convert(L, lua_gettop(L), depth + 1, bb, err, errlen);
        lua_pop(L, 1);
        if (!item) {
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
        if (json_object_set_new(o, key, item)) {
            snprintf(err, errlen, "table key is not valid UTF-8");
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* A placeholder for the sb.binary `b`, which joins the message's attachments. */
static json_t *placeholder(struct lbin *b, struct bins_builder *bb, char *err, size_t errlen)
{
    if (!bb) {
        snprintf(err, errlen, "binary values cannot be sent here");
        return NULL;
    }
    if (bb->n == SIO_MAX_ATTACHMENTS) {
        snprintf(err, errlen,
                 "more than %d binary values in one message (socket.io clients "
                 "refuse more)",
                 SIO_MAX_ATTACHMENTS);
        return NULL;
    }
    bb->bin[bb->n] = (struct sio_bin){.data = b->data, .len = b->len};
    json_t *v = json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)bb->n);
    if (v)
        bb->n++;
    else
        snprintf(err, errlen, "out of memory");
    return v;
}

static json_t *convert(lua_State *L, int idx, int depth, struct bins_builder *bb, char *err,
                       size_t errlen)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        lua_Number d = lua_tonumber(L, idx);
        if (isnan(d) || isinf(d)) {
            snprintf(err, errlen, "cannot encode NaN or infinity");
            return NULL;
        }
        if (d == floor(d) && fabs(d) <= 9007199254740992.0)
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *v = json_stringn(s, len);
        if (!v)
            snprintf(err, errlen, "string is not valid UTF-8");
        return v;
    }
    case LUA_TTABLE:
        return convert_table(L, idx, depth, bb, err, errlen);
    case LUA_TLIGHTUSERDATA:
        if (is_null(L, idx))
            return json_null();
        break;
    case LUA_TUSERDATA: {
        struct lbin *b = to_binary(L, idx);
        if (b)
            return placeholder(b, bb, err, errlen);
        break;
    }
    default:
        break;
    }
    snprintf(err, errlen, "cannot encode a value of type %s", luaL_typename(L, idx));
    return NULL;
}

/* The attachments of a finished conversion into *bins (NULL when there were none). Returns 0,
 * or -1 with `err` set. */
static int finish_bins(struct bins_builder *bb, struct sio_bins **bins, char *err, size_t errlen)
{
    *bins = NULL;
    if (!bb->n)
        return 0;
    if (!(*bins = sio_bins_new(bb->bin, bb->n))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

json_t *json_from_lua(lua_State *L, int idx, struct sio_bins **bins, char *err, size_t errlen)
{
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    struct bins_builder bb = {.n = 0};
    json_t *v = convert(L, idx, 0, bins ? &bb : NULL, err, errlen);
    if (v && bins && finish_bins(&bb, bins, err, errlen)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *json_array_from_lua(lua_State *L, int from, int to, struct sio_bins **bins, char *err,
                            size_t errlen)
{
    struct bins_builder bb = {.n = 0};
    json_t *a = json_array();
    for (int i = from; a && i <= to; i++) {
        json_t *v = convert(L, i, 0, bins ? &bb : NULL, err, errlen);
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    if (a && bins && finish_bins(&bb, bins, err, errlen)) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    char err[128];
    json_t *v = json_from_lua(L, 1, NULL, err, sizeof(err));
    if (!v)
        return luaL_error(L, "sb.json.encode: %s", err);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s)
        return luaL_error(L, "sb.json.encode: out of memory");
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    json_error_t e;
    json_t *v = proto_json_load(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) {
        lua_pushnil(L);
        lua_pushfstring(L, "invalid JSON at position %d: %s", e.position, e.text);
        return 2;
    }
    json_push(L, v, false, NULL);
    json_decref(v);
    return 1;
}

static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_getmetatable(L, ARRAY_MT);
    lua_setmetatable(L, 1);
    return 1;
}

/* sb.binary(s): the bytes of string `s` as a binary value. */
static int l_binary(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    push_binary(L, s, len);
    return 1;
}

static int l_is_binary(lua_State *L)
{
    lua_pushboolean(L, to_binary(L, 1) != NULL);
    return 1;
}

static int bin_tostring(lua_State *L)
{
    struct lbin *b = to_binary(L, 1);
    if (!b)
        return luaL_argerror(L, 1, "sb.binary expected");
    lua_pushlstring(L, (const char *)b->data, b->len);
    return 1;
}

static int bin_len(lua_State *L)
{
    struct lbin *b = to_binary(L, 1);
    if (!b)
        return luaL_argerror(L, 1, "sb.binary expected");
    lua_pushinteger(L, (lua_Integer)b->len);
    return 1;
}

static int bin_eq(lua_State *L)
{
    struct lbin *a = to_binary(L, 1), *b = to_binary(L, 2);
    lua_pushboolean(L, a && b && a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
    return 1;
}

void api_json_open(lua_State *L)
{
    luaL_newmetatable(L, BINARY_MT);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, bin_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, bin_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, bin_eq);
    lua_setfield(L, -2, "__eq");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_binary);
    lua_setfield(L, -2, "binary");
    lua_pushcfunction(L, l_is_binary);
    lua_setfield(L, -2, "is_binary");

    /* Locked: it is one table for every gateway (lua_setmetatable from C ignores the lock). */
    luaL_newmetatable(L, ARRAY_MT);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_decode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");

    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_pushcfunction(L, l_array);
    lua_setfield(L, -2, "array");
}
