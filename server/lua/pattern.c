/*
 * string.find, string.match, string.gmatch and string.gsub, as LuaJIT 2.1 has them (its
 * lib_string.c, itself Lua 5.1's lstrlib.c), with one addition: the work is counted, and every
 * PATTERN_CHECK_STEPS steps the matcher calls limits->check_time, which may raise. LuaJIT's own
 * functions are C code that no count hook interrupts, and a backtracking pattern such as
 * `.-.-.-b` on a few hundred bytes held the loop for over a second.
 *
 * Everything a gateway can observe is LuaJIT's: results, the classes (ASCII only, %g included,
 * and %z), argument conversions, error messages and the order of the checks. tests/unit/
 * test_pattern.c and tests/fuzz/fuzz_pattern.c compare the two on the same inputs.
 *
 * The algorithm and its structure are those of Lua 5.1 (Copyright (C) 1994-2008 Lua.org,
 * PUC-Rio) and LuaJIT 2.1 (Copyright (C) 2005-2022 Mike Pall), both under the MIT licence.
 */
#include "pattern.h"

#include <lauxlib.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define L_ESC '%'

/* LuaJIT's bound on the nesting of match() calls (LJ_MAX_XLEVEL): "pattern too complex" past
 * it. It also bounds the C stack a match uses, to a few tens of KiB. */
#define MAX_DEPTH 200

#define CAP_UNFINISHED (-1)
#define CAP_POSITION   (-2)

#define uchar(c) ((unsigned char)(c))

struct match_state {
    const char *src_init; /* the subject */
    const char *src_end;  /* its end (a NUL follows: Lua strings have one) */
    lua_State *L;
    const struct pattern_limits *lim;
    long left; /* steps until the next check */
    int level; /* captures, finished or not */
    int depth; /* nesting of match() */
    struct {
        const char *init;
        ptrdiff_t len; /* or CAP_UNFINISHED, CAP_POSITION */
    } capture[LUA_MAXCAPTURES];
};

/* ---- the time check ---- */

static void check_now(struct match_state *ms)
{
    ms->left = PATTERN_CHECK_STEPS;
    if (ms->lim->check_time)
        ms->lim->check_time(ms->L);
}

/* Counts `n` steps of work; past the budget of steps, asks whether matching may go on. */
static inline void tick(struct match_state *ms, ptrdiff_t n)
{
    ms->left -= (long)n;
    if (ms->left <= 0)
        check_now(ms);
}

static void state_init(struct match_state *ms, lua_State *L, const struct pattern_limits *lim,
                       const char *s, size_t len)
{
    ms->L = L;
    ms->lim = lim;
    ms->src_init = s;
    ms->src_end = s + len;
    ms->left = PATTERN_CHECK_STEPS;
    ms->level = ms->depth = 0;
}

/* LuaJIT's messages, raised as it raises them: with the position of the calling Lua code. */
static int fail(struct match_state *ms, const char *msg)
{
    return luaL_error(ms->L, "%s", msg);
}

/* ---- character classes: LuaJIT's lj_char table, ASCII only (128-255 are in no class) ---- */

enum {
    C_CNTRL = 0x01,
    C_SPACE = 0x02,
    C_PUNCT = 0x04,
    C_DIGIT = 0x08,
    C_XDIGIT = 0x10,
    C_UPPER = 0x20,
    C_LOWER = 0x40,
    C_ALPHA = C_LOWER | C_UPPER,
    C_ALNUM = C_ALPHA | C_DIGIT,
    C_GRAPH = C_ALNUM | C_PUNCT,
};

static int char_bits(int c)
{
    if (c >= 'a' && c <= 'z')
        return C_LOWER | (c <= 'f' ? C_XDIGIT : 0);
    if (c >= 'A' && c <= 'Z')
        return C_UPPER | (c <= 'F' ? C_XDIGIT : 0);
    if (c >= '0' && c <= '9')
        return C_DIGIT | C_XDIGIT;
    if (c == ' ')
        return C_SPACE;
    if (c >= '\t' && c <= '\r')
        return C_CNTRL | C_SPACE;
    if (c < ' ' || c == 127)
        return C_CNTRL;
    if (c < 127)
        return C_PUNCT;
    return 0;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* The class letter `cl` (after %) as LuaJIT maps it; 0 for a letter that names no class. */
static int class_bits(int cl)
{
    switch (cl | 0x20) {
    case 'a':
        return C_ALPHA;
    case 'c':
        return C_CNTRL;
    case 'd':
        return C_DIGIT;
    case 'g':
        return C_GRAPH;
    case 'l':
        return C_LOWER;
    case 'p':
        return C_PUNCT;
    case 's':
        return C_SPACE;
    case 'u':
        return C_UPPER;
    case 'w':
        return C_ALNUM;
    case 'x':
        return C_XDIGIT;
    default:
        return 0;
    }
}

/* Does `c` match %cl? Upper case is the complement; %z is NUL; anything else is itself. */
static int match_class(int c, int cl)
{
    if ((cl & 0xc0) == 0x40) {
        int t = class_bits(cl);
        if (t) {
            t = char_bits(c) & t;
            return (cl & 0x20) ? t : !t;
        }
        if (cl == 'z')
            return c == 0;
        if (cl == 'Z')
            return c != 0;
    }
    return cl == c;
}

/* ---- the matcher ---- */

static const char *match(struct match_state *ms, const char *s, const char *p);

static int check_capture(struct match_state *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
        return fail(ms, "invalid capture index");
    return l;
}

static int capture_to_close(struct match_state *ms)
{
    int level = ms->level;
    for (level--; level >= 0; level--)
        if (ms->capture[level].len == CAP_UNFINISHED)
            return level;
    return fail(ms, "invalid pattern capture");
}

/* The end of the single-character class at `p`. */
static const char *classend(struct match_state *ms, const char *p)
{
    switch (*p++) {
    case L_ESC:
        if (*p == '\0')
            fail(ms, "malformed pattern (ends with '%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do { /* look for the ']' */
            if (*p == '\0')
                fail(ms, "malformed pattern (missing ']')");
            if (*(p++) == L_ESC && *p != '\0')
                p++; /* skip escapes (e.g. '%]') */
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

/* `p` is the '[' of a set, `ec` its ']'. */
static int matchbracketclass(int c, const char *p, const char *ec)
{
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == L_ESC) {
            p++;
            if (match_class(c, uchar(*p)))
                return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if (uchar(*(p - 2)) <= c && c <= uchar(*p))
                return sig;
        } else if (uchar(*p) == c) {
            return sig;
        }
    }
    return !sig;
}

static int singlematch(int c, const char *p, const char *ep)
{
    switch (*p) {
    case '.':
        return 1;
    case L_ESC:
        return match_class(c, uchar(*(p + 1)));
    case '[':
        return matchbracketclass(c, p, ep - 1);
    default:
        return uchar(*p) == c;
    }
}

static const char *matchbalance(struct match_state *ms, const char *s, const char *p)
{
    if (*p == 0 || *(p + 1) == 0)
        fail(ms, "unbalanced pattern");
    if (*s != *p)
        return NULL;
    int b = *p, e = *(p + 1), cont = 1;
    const char *ticked = s; /* counted up to here */
    while (++s < ms->src_end) {
        if (*s == e) {
            if (--cont == 0) {
                tick(ms, s - ticked);
                return s + 1;
            }
        } else if (*s == b) {
            cont++;
        }
        if (s - ticked >= PATTERN_CHECK_STEPS) { /* a long scan is checked as it goes */
            tick(ms, s - ticked);
            ticked = s;
        }
    }
    tick(ms, s - ticked);
    return NULL; /* the string ends out of balance */
}

static const char *max_expand(struct match_state *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0, ticked = 0; /* the most repetitions the item matches; those counted */
    while (s + i < ms->src_end && singlematch(uchar(*(s + i)), p, ep)) {
        if (++i - ticked >= PATTERN_CHECK_STEPS) { /* a long scan is checked as it goes */
            tick(ms, i - ticked);
            ticked = i;
        }
    }
    tick(ms, i - ticked);
    /* Tries the rest with as many repetitions as possible, then one fewer each time. */
    while (i >= 0) {
        const char *res = match(ms, s + i, ep + 1);
        if (res)
            return res;
        i--;
    }
    return NULL;
}

static const char *min_expand(struct match_state *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = match(ms, s, ep + 1);
        if (res != NULL)
            return res;
        else if (s < ms->src_end && singlematch(uchar(*s), p, ep))
            s++; /* one more repetition */
        else
            return NULL;
    }
}

static const char *start_capture(struct match_state *ms, const char *s, const char *p, int what)
{
    int level = ms->level;
    if (level >= LUA_MAXCAPTURES)
        fail(ms, "too many captures");
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = level + 1;
    const char *res = match(ms, s, p);
    if (res == NULL)
        ms->level--; /* undo the capture */
    return res;
}

static const char *end_capture(struct match_state *ms, const char *s, const char *p)
{
    int l = capture_to_close(ms);
    ms->capture[l].len = s - ms->capture[l].init; /* close it */
    const char *res = match(ms, s, p);
    if (res == NULL)
        ms->capture[l].len = CAP_UNFINISHED; /* undo */
    return res;
}

static const char *match_capture(struct match_state *ms, const char *s, int l)
{
    l = check_capture(ms, l);
    size_t len = (size_t)ms->capture[l].len; /* a position capture: huge, never matches */
    if ((size_t)(ms->src_end - s) < len)
        return NULL;
    tick(ms, (ptrdiff_t)(len >> 4));
    return memcmp(ms->capture[l].init, s, len) == 0 ? s + len : NULL;
}

static const char *match(struct match_state *ms, const char *s, const char *p)
{
    if (++ms->depth > MAX_DEPTH)
        fail(ms, "pattern too complex");
init: /* goto instead of the tail calls */
    tick(ms, 1);
    switch (*p) {
    case '(':
        if (*(p + 1) == ')') /* position capture */
            s = start_capture(ms, s, p + 2, CAP_POSITION);
        else
            s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
        break;
    case ')':
        s = end_capture(ms, s, p + 1);
        break;
    case L_ESC:
        switch (*(p + 1)) {
        case 'b': /* balanced string */
            s = matchbalance(ms, s, p + 2);
            if (s == NULL)
                break;
            p += 4;
            goto init;
        case 'f': { /* frontier */
            p += 2;
            if (*p != '[')
                fail(ms, "missing '[' after '%f' in pattern");
            const char *ep = classend(ms, p);
            char previous = (s == ms->src_init) ? '\0' : *(s - 1);
            if (matchbracketclass(uchar(previous), p, ep - 1) ||
                !matchbracketclass(uchar(*s), p, ep - 1)) {
                s = NULL;
                break;
            }
            p = ep;
            goto init;
        }
        default:
            if (is_digit(uchar(*(p + 1)))) { /* back reference %0-%9 */
                s = match_capture(ms, s, uchar(*(p + 1)));
                if (s == NULL)
                    break;
                p += 2;
                goto init;
            }
            goto dflt;
        }
        break;
    case '\0': /* end of the pattern: a match */
        break;
    case '$':
        if (*(p + 1) != '\0') /* not last: an ordinary character */
            goto dflt;
        if (s != ms->src_end)
            s = NULL;
        break;
    default:
    dflt : { /* a single-character class, maybe repeated */
        const char *ep = classend(ms, p);
        int m = s < ms->src_end && singlematch(uchar(*s), p, ep);
        switch (*ep) {
        case '?': {
            const char *res;
            if (m && ((res = match(ms, s + 1, ep + 1)) != NULL)) {
                s = res;
                break;
            }
            p = ep + 1;
            goto init;
        }
        case '*':
            s = max_expand(ms, s, p, ep);
            break;
        case '+':
            s = m ? max_expand(ms, s + 1, p, ep) : NULL;
            break;
        case '-':
            s = min_expand(ms, s, p, ep);
            break;
        default:
            if (m) {
                s++;
                p = ep;
                goto init;
            }
            s = NULL;
            break;
        }
        break;
    }
    }
    ms->depth--;
    return s;
}

/* ---- results ---- */

static void push_onecapture(struct match_state *ms, int i, const char *s, const char *e)
{
    if (i >= ms->level) {
        if (i == 0) /* no captures: the whole match */
            lua_pushlstring(ms->L, s, (size_t)(e - s));
        else
            fail(ms, "invalid capture index");
        return;
    }
    ptrdiff_t l = ms->capture[i].len;
    if (l == CAP_UNFINISHED)
        fail(ms, "unfinished capture");
    if (l == CAP_POSITION)
        lua_pushinteger(ms->L, ms->capture[i].init - ms->src_init + 1);
    else
        lua_pushlstring(ms->L, ms->capture[i].init, (size_t)l);
}

static int push_captures(struct match_state *ms, const char *s, const char *e)
{
    int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, nlevels, "too many captures");
    for (int i = 0; i < nlevels; i++)
        push_onecapture(ms, i, s, e);
    return nlevels;
}

/* ---- the functions ---- */

/* lj_num2int as x86-64 computes it (cvttsd2si): out of range and NaN give INT32_MIN; arm64's
 * fcvtzs saturates instead, NaN giving 0. A plain cast would be undefined behaviour. */
static int32_t num2int(lua_Number n)
{
    if (n > -2147483649.0 && n < 2147483648.0)
        return (int32_t)n;
#if defined(__aarch64__)
    return n != n ? 0 : n > 0 ? INT32_MAX : INT32_MIN;
#else
    return INT32_MIN;
#endif
}

/* Whether the pattern has a character that makes it one (LuaJIT's lj_str_haspattern). */
static int has_specials(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (p[i]) {
        case '^':
        case '$':
        case '*':
        case '+':
        case '?':
        case '.':
        case '(':
        case '[':
        case '%':
        case '-':
            return 1;
        }
    }
    return 0;
}

/* LuaJIT's lj_str_find: `p` in `s`, each candidate position counted. */
static const char *plain_find(struct match_state *ms, const char *s, const char *p, size_t slen,
                              size_t plen)
{
    if (plen > slen)
        return NULL;
    if (plen == 0)
        return s;
    int c = *(const unsigned char *)p++;
    plen--;
    slen -= plen;
    while (slen) {
        const char *q = memchr(s, c, slen);
        if (!q)
            break;
        tick(ms, 1 + (ptrdiff_t)(plen >> 4));
        if (memcmp(q + 1, p, plen) == 0)
            return q;
        q++;
        slen -= (size_t)(q - s);
        s = q;
    }
    return NULL;
}

static const struct pattern_limits *limits_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int find_aux(lua_State *L, int find)
{
    size_t slen, plen;
    const char *s = luaL_checklstring(L, 1, &slen);
    const char *p = luaL_checklstring(L, 2, &plen);
    int32_t start = lua_isnoneornil(L, 3) ? 1 : num2int(luaL_checknumber(L, 3));
    struct match_state ms;
    state_init(&ms, L, limits_of(L), s, slen);
    if (start < 0)
        start += (int32_t)slen;
    else
        start--;
    if (start < 0)
        start = 0;
    size_t st = (size_t)start;
    if (st > slen)
        st = slen;
    if (find && ((lua_gettop(L) >= 4 && lua_toboolean(L, 4)) || !has_specials(p, plen))) {
        const char *q = plain_find(&ms, s + st, p, slen - st, plen);
        if (q) {
            lua_pushinteger(L, (lua_Integer)(q - s) + 1);
            lua_pushinteger(L, (lua_Integer)(q - s) + (lua_Integer)plen);
            return 2;
        }
    } else {
        const char *sstr = s + st;
        int anchor = 0;
        if (*p == '^') {
            p++;
            anchor = 1;
        }
        do { /* try the pattern at each position */
            ms.level = ms.depth = 0;
            const char *q = match(&ms, sstr, p);
            if (q) {
                if (find) {
                    lua_pushinteger(L, (lua_Integer)(sstr - s) + 1);
                    lua_pushinteger(L, (lua_Integer)(q - s));
                    return push_captures(&ms, NULL, NULL) + 2;
                }
                return push_captures(&ms, sstr, q);
            }
        } while (sstr++ < ms.src_end && !anchor);
    }
    lua_pushnil(L);
    return 1;
}

static int str_find(lua_State *L)
{
    return find_aux(L, 1);
}

static int str_match(lua_State *L)
{
    return find_aux(L, 0);
}

/* What a gmatch iterator keeps: its upvalue 1 (2 and 3 are the subject and the pattern, which
 * keep the strings alive; LuaJIT's collector does not move them). */
struct gmatch_state {
    const struct pattern_limits *lim;
    const char *s, *p;
    size_t len;
    size_t pos; /* the offset to go on from */
};

static int gmatch_aux(lua_State *L)
{
    struct gmatch_state *g = lua_touserdata(L, lua_upvalueindex(1));
    struct match_state ms;
    state_init(&ms, L, g->lim, g->s, g->len);
    for (const char *src = g->s + g->pos; src <= ms.src_end; src++) {
        ms.level = ms.depth = 0;
        const char *e = match(&ms, src, g->p);
        if (e != NULL) {
            g->pos = (size_t)(e - g->s);
            if (e == src)
                g->pos++; /* an empty match: go on one further */
            return push_captures(&ms, src, e);
        }
    }
    return 0;
}

static int str_gmatch(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *p = luaL_checkstring(L, 2);
    lua_settop(L, 2);
    struct gmatch_state *g = lua_newuserdata(L, sizeof(*g));
    *g = (struct gmatch_state){.lim = limits_of(L), .s = s, .p = p, .len = len, .pos = 0};
    lua_insert(L, 1);
    lua_pushcclosure(L, gmatch_aux, 3);
    return 1;
}

static void add_s(struct match_state *ms, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l;
    const char *news = lua_tolstring(ms->L, 3, &l);
    for (size_t i = 0; i < l; i++) {
        if (news[i] != L_ESC) {
            luaL_addchar(b, news[i]);
            continue;
        }
        i++; /* skip the % (a last one adds the NUL after it, as LuaJIT does) */
        if (!is_digit(uchar(news[i]))) {
            luaL_addchar(b, news[i]);
        } else if (news[i] == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else {
            push_onecapture(ms, news[i] - '1', s, e);
            luaL_addvalue(b);
        }
    }
}

static void add_value(struct match_state *ms, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = ms->L;
    switch (lua_type(L, 3)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
        add_s(ms, b, s, e);
        return;
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_onecapture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the original text */
        lua_pop(L, 1);
        lua_pushlstring(L, s, (size_t)(e - s));
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(b);
}

static int str_gsub(lua_State *L)
{
    size_t srcl;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checkstring(L, 2);
    int tr = lua_type(L, 3);
    int max_s = luaL_optint(L, 4, (int)(srcl + 1));
    int anchor = (*p == '^') ? (p++, 1) : 0;
    int n = 0;
    const struct pattern_limits *lim = limits_of(L);
    if (!(tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE))
        luaL_argerror(L, 3, "string/function/table expected");
    if ((tr == LUA_TFUNCTION || tr == LUA_TTABLE) && lim->check_cstack)
        lim->check_cstack(L);
    struct match_state ms;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    state_init(&ms, L, lim, src, srcl);
    while (n < max_s) {
        ms.level = ms.depth = 0;
        const char *e = match(&ms, src, p);
        if (e) {
            n++;
            add_value(&ms, &b, src, e);
        }
        if (e && e > src) /* a non-empty match: go on after it */
            src = e;
        else if (src < ms.src_end)
            luaL_addchar(&b, *src++);
        else
            break;
        if (anchor)
            break;
    }
    luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

void luah_pattern_open(lua_State *L, const struct pattern_limits *limits)
{
    static const luaL_Reg fns[] = {
        {"find", str_find}, {"match", str_match}, {"gmatch", str_gmatch},
        {"gsub", str_gsub}, {NULL, NULL},
    };
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, (void *)limits);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
}
