#include <switchboard/errors.h>

const char *sb_strerror(int err)
{
    switch (err) {
    case SB_OK:
        return "success";
#define XX(name, num, msg)                                                                         \
    case SB_E##name:                                                                               \
        return msg;
        SB_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *sb_err_name(int err)
{
    switch (err) {
    case SB_OK:
        return "SB_OK";
#define XX(name, num, msg)                                                                         \
    case SB_E##name:                                                                               \
        return "SB_E" #name;
        SB_ERRNO_MAP(XX)
#undef XX
    default:
        return "SB_EUNKNOWN";
    }
}
