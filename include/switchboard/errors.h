/*
 * switchboard error codes: one table gives both the enum and the message.
 *
 * Every function of the server and of the plugin ABI that can fail returns 0 on success or one
 * of these negative codes. The numbers are part of the ABI: a code keeps its number forever and
 * new codes are only appended.
 */
#ifndef SWITCHBOARD_ERRORS_H
#define SWITCHBOARD_ERRORS_H

#define SB_ERRNO_MAP(XX)                                                                           \
    XX(NOMEM, 1, "out of memory")                                                                  \
    XX(INVAL, 2, "invalid argument")                                                               \
    XX(NOTFOUND, 3, "not found")                                                                   \
    XX(EXISTS, 4, "already exists")                                                                \
    XX(TOOBIG, 5, "message too big")                                                               \
    XX(PROTO, 6, "protocol error")                                                                 \
    XX(JSON, 7, "invalid JSON")                                                                    \
    XX(ABI, 8, "plugin ABI mismatch")                                                              \
    XX(IO, 9, "input/output error")                                                                \
    XX(CLOSED, 10, "socket is closed")                                                             \
    XX(FULL, 11, "queue full")                                                                     \
    XX(UNSUPPORTED, 12, "not supported")                                                           \
    XX(LUA, 13, "Lua error")                                                                       \
    XX(AUTH, 14, "not authorized")                                                                 \
    XX(TIMEOUT, 15, "operation has timed out")                                                     \
    XX(LIMIT, 16, "limit reached")                                                                 \
    XX(STATE, 17, "invalid state")

typedef enum sb_err {
    SB_OK = 0,
#define SB_ERR_ENUM_(name, num, msg) SB_E##name = -(num),
    SB_ERRNO_MAP(SB_ERR_ENUM_)
#undef SB_ERR_ENUM_
} sb_err_t;

/* Returns a static, human-readable message for an error code (never NULL). Defined here, so a
 * plugin can use it without linking against the server (which exports nothing). */
static inline const char *sb_strerror(int err)
{
    switch (err) {
    case SB_OK:
        return "success";
#define SB_ERR_MSG_(name, num, msg)                                                                \
    case SB_E##name:                                                                               \
        return msg;
        SB_ERRNO_MAP(SB_ERR_MSG_)
#undef SB_ERR_MSG_
    default:
        return "unknown error";
    }
}

/* Returns the symbolic name ("SB_ENOMEM") of an error code (never NULL). */
static inline const char *sb_err_name(int err)
{
    switch (err) {
    case SB_OK:
        return "SB_OK";
#define SB_ERR_NAME_(name, num, msg)                                                               \
    case SB_E##name:                                                                               \
        return "SB_E" #name;
        SB_ERRNO_MAP(SB_ERR_NAME_)
#undef SB_ERR_NAME_
    default:
        return "SB_EUNKNOWN";
    }
}

#endif
