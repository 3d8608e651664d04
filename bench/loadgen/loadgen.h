/*
 * loadgen: the benchmark load generator of switchboard (bench/README in bench/RESULTS.md).
 *
 * A parent process forks worker processes; each worker runs a libuv loop with its share of the
 * connections (a minimal WebSocket client that masks its frames, speaking Socket.IO v5 or plain
 * JSON) and answers the parent's commands (connect, reset, report, blast, rpc, user) with a
 * fixed-size report. The parent is a plain sequential program: it sends a command, waits for
 * the reports (with deadlines), reads the server's RSS and CPU from /proc, and prints one JSON
 * line per scenario.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "hist.h"

#define MAX_TARGETS 16
#define MAX_PIDS    16
#define MAX_RATES   32
#define MAX_PROCS   64

enum scenario { SC_IDLE, SC_FANOUT, SC_RPC, SC_USER, SC_STORM, SC_UPGRADE };
enum proto { P_SIO, P_JSON };
/* How a Socket.IO connection reaches the server: a WebSocket from the start, Engine.IO HTTP
 * long-polling only, or long-polling and then the upgrade to WebSocket. */
enum transport { T_WEBSOCKET, T_POLLING, T_UPGRADE };

struct options {
    enum scenario scenario;
    enum proto proto;
    enum transport transport; /* of the measured connections; a fanout's broadcaster: WebSocket */
    const char *label;
    char target_host[MAX_TARGETS][64];
    int target_port[MAX_TARGETS];
    int ntargets;
    const char *path; /* request path; NULL: the protocol's default */
    int conns;        /* idle, fanout, rpc, storm: connections (fanout: receivers) */
    int procs;
    int src_addrs;            /* 0: no bind; M: 127.0.0.2 .. 127.0.0.(M+1) */
    const char *token_prefix; /* token of index i: prefix + i; NULL: anonymous */
    int concurrency;          /* connects in flight per worker (storm: unlimited) */
    double hold_s;            /* idle */
    int server_pids[MAX_PIDS];
    int npids;
    int payload;             /* fanout, user: bytes of the JSON payload */
    double rates[MAX_RATES]; /* fanout: broadcasts/s; user: messages/s */
    int nrates;
    double step_s;         /* fanout: seconds per step; rpc, user: run time */
    double p99_limit_ms;   /* fanout: a step passes with p99 under this and no loss */
    double stop_p99_ms;    /* fanout: no further step after a p99 over this, or a loss */
    double drain_s;        /* how long to wait for late messages after a step */
    int window;            /* rpc: requests in flight per connection */
    const char *rpc_event; /* rpc: "events" (3 replies) or "echo" (an ack) */
    int users;             /* user: users (each has one socket on two instances) */
    double connect_timeout_s;
    double max_duration_s;
    int all_steps; /* fanout: run every step even after one failed */
};

extern struct options opt;

/* Commands from the parent (fixed size, one write each). */
enum cmd_type { CMD_CONNECT = 1, CMD_RESET, CMD_REPORT, CMD_BLAST, CMD_RPC, CMD_USER, CMD_QUIT };

struct cmd {
    int32_t type;
    int32_t step;
    double rate; /* per second, for this worker */
    double dur_s;
};

/* A worker's report (fixed size); counters are since the last CMD_RESET unless noted. */
struct report {
    uint32_t magic;
    int32_t worker;
    uint64_t conns;      /* connections of this worker (not reset) */
    uint64_t ready;      /* open and joined now (not reset) */
    uint64_t ready_recv; /* of which receivers (not reset) */
    uint64_t fail_tcp, fail_http, fail_http_503, fail_sio, fail_timeout; /* not reset */
    uint64_t closed;                                                     /* after ready */
    uint64_t sent, received, late, errors;
    uint64_t received_in_window;           /* rpc: completions before the end of the run */
    int64_t first_start_us, last_ready_us; /* monotonic µs (not reset) */
    double cpu_s;                          /* this worker's user+system CPU (not reset) */
    struct hist hs;                        /* handshake times (not reset) */
    struct hist lat;                       /* message latency */
    /* polling and upgrade (not reset but `polls`) */
    uint64_t links_open;   /* HTTP connections of polling sessions open now */
    uint64_t polls;        /* polling GETs answered with packets */
    uint64_t upgraded;     /* sessions that upgraded to WebSocket */
    uint64_t fail_upgrade; /* sessions whose upgrade failed (counted in fail_* too) */
    struct hist up_probe;  /* upgrade: WebSocket connect -> `3probe` */
    struct hist up_switch; /* upgrade: WebSocket connect -> `5` sent (polling paused) */
    struct hist up_usable; /* upgrade: WebSocket connect -> the ack of a first event over it */
};

#define REPORT_MAGIC 0x4c47454eu

int64_t now_us(void);

/* worker.c */
int worker_main(int index, int cmd_fd, int rep_fd);

#endif
