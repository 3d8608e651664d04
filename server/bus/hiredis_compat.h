/*
 * What hiredis 0.14 (Debian 12's libhiredis0.14) lacks or gets wrong, worked around in one
 * place. The rest of bus/ uses hiredis's documented API only.
 *
 * hiredis_uv_attach() replaces hiredis's own libuv adapter (<hiredis/adapters/libuv.h>), which
 * has two defects in 0.14:
 *   - it ignores a poll event that carries an error status, so a refused connection is never
 *     reported and the link hangs until the watchdog gives up on it;
 *   - it restarts the poll on every read and write request, which costs libuv two or three
 *     epoll_ctl calls per message.
 * Two other 0.14 limits shape the code that meets them, with a comment naming the version:
 * no reconnect and no timers (redis_link.c runs the life cycle itself), and a PING in
 * subscribed mode answered to the wrong callback (redis.c, sub_probe()).
 */
#ifndef SB_HIREDIS_COMPAT_H
#define SB_HIREDIS_COMPAT_H

#include <hiredis/async.h>
#include <uv.h>

/* Drives `ac` from `loop`. Returns REDIS_OK, or REDIS_ERR when out of memory or when libuv
 * refuses the socket. The glue is owned by the context: hiredis's cleanup hook (when it frees
 * the context) closes the two handles and frees it after their close callbacks. */
int hiredis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
