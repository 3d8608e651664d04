/*
 * The server's copy of the SDK map (switchboard/map.h): SipHash-1-3 keyed with a random key
 * drawn when the process starts, so room names, user ids and event names chosen by clients
 * cannot be made to collide.
 */
#define SB_MAP_IMPLEMENTATION
#include <switchboard/map.h>
