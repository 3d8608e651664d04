/*
 * loadgen: the parent. Parses the options, forks the workers, drives the scenario with commands
 * and deadlines, reads the measured server's RSS and CPU from /proc, and prints one JSON line on
 * stdout (progress goes to stderr). Every wait has a deadline and the whole run is bounded by
 * --max-duration: past it the workers are killed and an error line is printed.
 */
#include "loadgen.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct options opt = {
    .scenario = SC_IDLE,
    .proto = P_SIO,
    .transport = T_WEBSOCKET,
    .label = "",
    .ntargets = 0,
    .conns = 100,
    .procs = 1,
    .src_addrs = 0,
    .concurrency = 200,
    .hold_s = 5,
    .payload = 100,
    .step_s = 5,
    .p99_limit_ms = 50,
    .stop_p99_ms = 500,
    .drain_s = 3,
    .window = 4,
    .rpc_event = "events",
    .users = 100,
    .connect_timeout_s = 30,
    .max_duration_s = 300,
};

static pid_t pids[MAX_PROCS];
static int cmd_fds[MAX_PROCS], rep_fds[MAX_PROCS];
static struct report reps[MAX_PROCS];
static char error_line[256];

static const char *scenario_name(void)
{
    static const char *names[] = {"idle", "fanout", "rpc", "user", "storm", "upgrade"};
    return names[opt.scenario];
}

static void kill_workers(void)
{
    for (int i = 0; i < opt.procs; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGKILL);
}

static void alarm_handler(int sig)
{
    (void)sig;
    kill_workers();
    ssize_t r = write(1, error_line, strlen(error_line));
    (void)r;
    _exit(3);
}

static void fatal(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kill_workers();
    printf("{\"scenario\":\"%s\",\"label\":\"%s\",\"error\":\"%s\"}\n", scenario_name(), opt.label,
           msg);
    fflush(stdout);
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(2);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- the measured server, from /proc ---- */

/* CPU seconds of every thread of every --server-pid: the sum of the threads' schedstat run
 * times (nanoseconds), or utime+stime of /proc/<pid>/stat (clock ticks) where that is missing. */
static double server_cpu_s(void)
{
    double total = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", opt.server_pids[i]);
        DIR *d = opendir(path);
        double sum = 0;
        int got = 0;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                    continue;
                char p2[300];
                snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", opt.server_pids[i],
                         e->d_name);
                FILE *f = fopen(p2, "r");
                if (!f)
                    continue;
                unsigned long long ns;
                if (fscanf(f, "%llu", &ns) == 1) {
                    sum += (double)ns / 1e9;
                    got = 1;
                }
                fclose(f);
            }
            closedir(d);
        }
        if (!got) {
            snprintf(path, sizeof(path), "/proc/%d/stat", opt.server_pids[i]);
            FILE *f = fopen(path, "r");
            if (f) {
                char buf[1024];
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                buf[n] = 0;
                fclose(f);
                char *p = strrchr(buf, ')');
                unsigned long ut = 0, st = 0;
                if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                                &st) == 2)
                    sum = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
            }
        }
        total += sum;
    }
    return total;
}

/* VmRSS of the --server-pid processes, KiB. */
static long server_rss_kib(void)
{
    long total = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", opt.server_pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "VmRSS:", 6) == 0)
                total += atol(line + 6);
        fclose(f);
    }
    return total;
}

/* ---- workers ---- */

static void start_workers(void)
{
    for (int w = 0; w < opt.procs; w++) {
        int cp[2], rp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, cp) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, rp))
            fatal("socketpair: %s", strerror(errno));
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
            fatal("fork: %s", strerror(errno));
        if (pid == 0) {
            for (int j = 0; j < w; j++) {
                close(cmd_fds[j]);
                close(rep_fds[j]);
            }
            close(cp[0]);
            close(rp[0]);
            signal(SIGALRM, SIG_DFL);
            _exit(worker_main(w, cp[1], rp[1]));
        }
        close(cp[1]);
        close(rp[1]);
        pids[w] = pid;
        cmd_fds[w] = cp[0];
        rep_fds[w] = rp[0];
    }
}

static void send_cmd(int w, int type, int step, double rate, double dur)
{
    struct cmd c = {.type = type, .step = step, .rate = rate, .dur_s = dur};
    if (write(cmd_fds[w], &c, sizeof(c)) != (ssize_t)sizeof(c))
        fatal("worker %d is gone", w);
}

static void recv_rep(int w, double timeout_s)
{
    char *p = (char *)&reps[w];
    size_t got = 0;
    int64_t deadline = now_us() + (int64_t)(timeout_s * 1e6);
    while (got < sizeof(struct report)) {
        int64_t left = deadline - now_us();
        if (left <= 0)
            fatal("worker %d did not answer within %.0f s", w, timeout_s);
        struct pollfd pfd = {.fd = rep_fds[w], .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left / 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t n = read(rep_fds[w], p + got, sizeof(struct report) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fatal("worker %d exited", w);
        got += (size_t)n;
    }
    if (reps[w].magic != REPORT_MAGIC)
        fatal("worker %d sent a bad report", w);
}

static void all_cmd(int type, int step, double rate, double dur, double timeout_s)
{
    for (int w = 0; w < opt.procs; w++)
        send_cmd(w, type, step, rate / opt.procs, dur);
    for (int w = 0; w < opt.procs; w++)
        recv_rep(w, timeout_s);
}

struct sum {
    uint64_t conns, ready, ready_recv, fail_tcp, fail_http, fail_503, fail_sio, fail_timeout;
    uint64_t closed, sent, received, late, errors, in_window;
    int64_t first_start, last_ready;
    double cpu_s;
    struct hist hs, lat;
    uint64_t links_open, polls, upgraded, fail_upgrade;
    struct hist up_probe, up_switch, up_usable;
};

static void summarize(struct sum *s)
{
    memset(s, 0, sizeof(*s));
    for (int w = 0; w < opt.procs; w++) {
        struct report *r = &reps[w];
        s->conns += r->conns;
        s->ready += r->ready;
        s->ready_recv += r->ready_recv;
        s->fail_tcp += r->fail_tcp;
        s->fail_http += r->fail_http;
        s->fail_503 += r->fail_http_503;
        s->fail_sio += r->fail_sio;
        s->fail_timeout += r->fail_timeout;
        s->closed += r->closed;
        s->sent += r->sent;
        s->received += r->received;
        s->late += r->late;
        s->errors += r->errors;
        s->in_window += r->received_in_window;
        if (r->first_start_us && (!s->first_start || r->first_start_us < s->first_start))
            s->first_start = r->first_start_us;
        if (r->last_ready_us > s->last_ready)
            s->last_ready = r->last_ready_us;
        s->cpu_s += r->cpu_s;
        hist_merge(&s->hs, &r->hs);
        hist_merge(&s->lat, &r->lat);
        s->links_open += r->links_open;
        s->polls += r->polls;
        s->upgraded += r->upgraded;
        s->fail_upgrade += r->fail_upgrade;
        hist_merge(&s->up_probe, &r->up_probe);
        hist_merge(&s->up_switch, &r->up_switch);
        hist_merge(&s->up_usable, &r->up_usable);
    }
}

/* ---- JSON output ---- */

static char out[1 << 16];
static size_t outlen;

static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + outlen, sizeof(out) - outlen, fmt, ap);
    va_end(ap);
    if (n > 0)
        outlen += (size_t)n < sizeof(out) - outlen ? (size_t)n : sizeof(out) - outlen - 1;
}

static void emit_lat(const char *prefix, const struct hist *h)
{
    emit(",\"%sp50_ms\":%.3f,\"%sp99_ms\":%.3f,\"%sp999_ms\":%.3f,\"%smax_ms\":%.3f", prefix,
         hist_quantile(h, 0.5) / 1e3, prefix, hist_quantile(h, 0.99) / 1e3, prefix,
         hist_quantile(h, 0.999) / 1e3, prefix, (double)h->max / 1e3);
}

static const char *transport_name(void)
{
    static const char *names[] = {"websocket", "polling", "upgrade"};
    return names[opt.transport];
}

static void emit_head(void)
{
    emit("{\"scenario\":\"%s\",\"label\":\"%s\",\"proto\":\"%s\",\"transport\":\"%s\""
         ",\"procs\":%d,\"src_addrs\":%d",
         scenario_name(), opt.label, opt.proto == P_SIO ? "socket.io" : "json", transport_name(),
         opt.procs, opt.src_addrs);
}

static void emit_connect(const struct sum *s)
{
    double span =
        s->last_ready > s->first_start ? (double)(s->last_ready - s->first_start) / 1e6 : 0;
    emit(",\"connections\":%" PRIu64 ",\"connected\":%" PRIu64 ",\"refused_503\":%" PRIu64
         ",\"refused_http\":%" PRIu64 ",\"refused_sio\":%" PRIu64 ",\"tcp_errors\":%" PRIu64
         ",\"timeouts\":%" PRIu64 ",\"connect_s\":%.3f,\"connect_rate\":%.1f",
         s->conns, s->ready, s->fail_503, s->fail_http, s->fail_sio, s->fail_tcp, s->fail_timeout,
         span, span > 0 ? (double)s->ready / span : 0);
    emit_lat("handshake_", &s->hs);
    if (opt.transport == T_UPGRADE) {
        /* from the start of the WebSocket's TCP connect (the session open and in `/`) */
        emit(",\"upgraded\":%" PRIu64 ",\"upgrade_failed\":%" PRIu64, s->upgraded, s->fail_upgrade);
        emit_lat("upgrade_probe_", &s->up_probe);
        emit_lat("upgrade_", &s->up_switch);
        emit_lat("upgrade_usable_", &s->up_usable);
    }
}

static void finish(void)
{
    emit("}\n");
    fwrite(out, 1, outlen, stdout);
    fflush(stdout);
    for (int w = 0; w < opt.procs; w++) {
        struct cmd c = {.type = CMD_QUIT};
        ssize_t r = write(cmd_fds[w], &c, sizeof(c));
        (void)r;
    }
    /* the workers exit at once; wait for them (bounded), then kill what is left */
    int64_t deadline = now_us() + 10 * 1000000;
    int left = opt.procs;
    while (left > 0 && now_us() < deadline) {
        left = 0;
        for (int w = 0; w < opt.procs; w++) {
            if (pids[w] <= 0)
                continue;
            if (waitpid(pids[w], NULL, WNOHANG) == pids[w])
                pids[w] = 0;
            else
                left++;
        }
        if (left)
            sleep_s(0.02);
    }
    kill_workers();
}

static struct sum connect_all(void)
{
    all_cmd(CMD_CONNECT, 0, 0, 0, opt.connect_timeout_s + 60);
    struct sum s;
    summarize(&s);
    fprintf(stderr, "loadgen %s: %" PRIu64 "/%" PRIu64 " connected\n", scenario_name(), s.ready,
            s.conns);
    return s;
}

/* ---- scenarios ---- */

static void run_idle(int storm)
{
    long rss0 = server_rss_kib();
    double cc0 = server_cpu_s();
    start_workers();
    struct sum s = connect_all();
    double cc1 = server_cpu_s();
    emit_head();
    emit_connect(&s);
    emit(",\"server_cpu_us_per_connect\":%.1f", s.ready ? (cc1 - cc0) * 1e6 / (double)s.ready : 0);
    if (storm) {
        emit(",\"time_to_all_ms\":%.1f",
             s.last_ready > s.first_start ? (double)(s.last_ready - s.first_start) / 1e3 : 0);
    }
    sleep_s(storm ? 0.5 : 2);
    long rss1 = server_rss_kib();
    double c0 = server_cpu_s();
    int64_t t0 = now_us();
    sleep_s(opt.hold_s);
    double c1 = server_cpu_s();
    double wall = (double)(now_us() - t0) / 1e6;
    long rss2 = server_rss_kib();
    all_cmd(CMD_REPORT, 0, 0, 0, 30);
    struct sum e;
    summarize(&e);
    long per = e.ready ? (rss2 - rss0) * 1024 / (long)e.ready : 0;
    emit(",\"hold_s\":%.1f,\"open_after_hold\":%" PRIu64 ",\"closed_during_hold\":%" PRIu64
         ",\"rss_before_kib\":%ld,\"rss_connected_kib\":%ld,\"rss_after_hold_kib\":%ld"
         ",\"rss_per_conn_bytes\":%ld,\"server_cpu_pct_idle\":%.2f",
         opt.hold_s, e.ready, e.closed, rss0, rss1, rss2, per,
         wall > 0 ? 100 * (c1 - c0) / wall : 0);
    if (opt.transport != T_WEBSOCKET)
        emit(",\"http_conns_connected\":%" PRIu64 ",\"http_conns_after_hold\":%" PRIu64,
             s.links_open, e.links_open);
    finish();
}

static void run_fanout(void)
{
    start_workers();
    struct sum s = connect_all();
    uint64_t receivers = s.ready_recv;
    if (!receivers || reps[0].ready == reps[0].ready_recv)
        fatal("no receivers or no broadcaster connected (%" PRIu64 " receivers)", receivers);
    /* the server's idle CPU with these connections, subtracted from the steps' */
    double ic0 = server_cpu_s();
    int64_t it0 = now_us();
    sleep_s(opt.step_s < 2 ? opt.step_s : 2);
    double idle_rate = (server_cpu_s() - ic0) / ((double)(now_us() - it0) / 1e6);
    emit_head();
    emit_connect(&s);
    emit(",\"receivers\":%" PRIu64 ",\"payload\":%d,\"step_s\":%.1f,\"p99_limit_ms\":%.1f"
         ",\"server_cpu_pct_idle\":%.2f,\"steps\":[",
         receivers, opt.payload, opt.step_s, opt.p99_limit_ms, 100 * idle_rate);
    double best_rate = 0, best_dps = 0, best_p99 = 0, best_cpu = 0;
    int best = -1;
    for (int k = 0; k < opt.nrates; k++) {
        double rate = opt.rates[k];
        all_cmd(CMD_RESET, k + 1, 0, 0, 30);
        struct sum before;
        summarize(&before);
        uint64_t recv_now = before.ready_recv;
        double c0 = server_cpu_s();
        double lc0 = before.cpu_s;
        int64_t t0 = now_us();
        send_cmd(0, CMD_BLAST, k + 1, rate, opt.step_s);
        recv_rep(0, opt.step_s + 60);
        uint64_t sent = reps[0].sent;
        uint64_t expected = sent * recv_now;
        int64_t send_end = now_us();
        int64_t deadline = send_end + (int64_t)(opt.drain_s * 1e6);
        struct sum r;
        for (;;) {
            all_cmd(CMD_REPORT, 0, 0, 0, 30);
            summarize(&r);
            if (r.received >= expected || now_us() >= deadline)
                break;
            sleep_s(0.05);
        }
        double c1 = server_cpu_s();
        double wall = (double)(now_us() - t0) / 1e6;
        double send_wall = (double)(send_end - t0) / 1e6;
        uint64_t lost = expected > r.received ? expected - r.received : 0;
        double cpu = c1 - c0;
        double per = r.received ? cpu * 1e6 / (double)r.received : 0;
        double net = r.received ? (cpu - idle_rate * wall) * 1e6 / (double)r.received : 0;
        double p99 = hist_quantile(&r.lat, 0.99) / 1e3;
        double dps = send_wall > 0 ? (double)r.received / send_wall : 0;
        int ok = lost == 0 && r.closed == 0 && p99 < opt.p99_limit_ms && r.received > 0;
        emit("%s{\"rate\":%.1f,\"sent\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"received\":%" PRIu64
             ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64 ",\"closed\":%" PRIu64
             ",\"deliveries_per_s\":%.0f",
             k ? "," : "", rate, sent, expected, r.received, lost, r.late, r.closed, dps);
        emit_lat("", &r.lat);
        if (opt.transport == T_POLLING)
            emit(",\"polls\":%" PRIu64 ",\"packets_per_poll\":%.2f", r.polls,
                 r.polls ? (double)r.received / (double)r.polls : 0);
        emit(",\"server_cpu_pct\":%.1f,\"server_cpu_us_per_delivery\":%.4f"
             ",\"server_cpu_us_per_delivery_net\":%.4f,\"client_cpu_pct\":%.1f,\"ok\":%s}",
             100 * cpu / wall, per, net, 100 * (r.cpu_s - lc0) / wall, ok ? "true" : "false");
        fprintf(stderr,
                "loadgen fanout: %.0f/s x %" PRIu64
                " -> %.0f deliveries/s, p99 %.2f ms, lost %" PRIu64 ", %.3f us/delivery %s\n",
                rate, recv_now, dps, p99, lost, per, ok ? "ok" : "FAIL");
        if (ok) {
            best = k;
            best_rate = rate;
            best_dps = dps;
            best_p99 = p99;
            best_cpu = per;
        } else if (!opt.all_steps && (lost || r.closed || !r.received || p99 >= opt.stop_p99_ms)) {
            /* a step that only missed the latency limit is not the end: the next rates show
             * the curve up to the saturation point (a loss, or a p99 past --stop-p99-ms) */
            break;
        }
        sleep_s(0.5);
    }
    emit("]");
    if (best >= 0)
        emit(",\"best\":{\"rate\":%.1f,\"deliveries_per_s\":%.0f,\"p99_ms\":%.3f"
             ",\"server_cpu_us_per_delivery\":%.4f}",
             best_rate, best_dps, best_p99, best_cpu);
    else
        emit(",\"best\":null");
    finish();
}

static void run_rpc(void)
{
    start_workers();
    struct sum s = connect_all();
    if (!s.ready)
        fatal("no connection");
    all_cmd(CMD_RESET, 0, 0, 0, 30);
    double c0 = server_cpu_s();
    int64_t t0 = now_us();
    all_cmd(CMD_RPC, 0, 0, opt.step_s, opt.step_s + opt.drain_s + 60);
    double c1 = server_cpu_s();
    double wall = (double)(now_us() - t0) / 1e6;
    struct sum r;
    summarize(&r);
    emit_head();
    emit_connect(&s);
    emit(",\"event\":\"%s\",\"window\":%d,\"duration_s\":%.1f,\"requests\":%" PRIu64
         ",\"completed\":%" PRIu64 ",\"requests_per_s\":%.0f,\"errors\":%" PRIu64
         ",\"closed\":%" PRIu64,
         opt.rpc_event, opt.window, opt.step_s, r.sent, r.received,
         (double)r.in_window / opt.step_s, r.errors, r.closed);
    emit_lat("", &r.lat);
    emit(",\"server_cpu_pct\":%.1f,\"server_cpu_us_per_request\":%.3f", 100 * (c1 - c0) / wall,
         r.received ? (c1 - c0) * 1e6 / (double)r.received : 0);
    finish();
}

static void run_user(void)
{
    start_workers();
    struct sum s = connect_all();
    if (!s.ready)
        fatal("no connection");
    double rate = opt.nrates ? opt.rates[0] : 1000;
    all_cmd(CMD_RESET, 0, 0, 0, 30);
    double c0 = server_cpu_s();
    int64_t t0 = now_us();
    all_cmd(CMD_USER, 0, rate, opt.step_s, opt.step_s + 60);
    int64_t deadline = now_us() + (int64_t)(opt.drain_s * 1e6);
    struct sum r;
    for (;;) {
        all_cmd(CMD_REPORT, 0, 0, 0, 30);
        summarize(&r);
        if (r.received >= r.sent || now_us() >= deadline)
            break;
        sleep_s(0.05);
    }
    double c1 = server_cpu_s();
    double wall = (double)(now_us() - t0) / 1e6;
    emit_head();
    emit_connect(&s);
    emit(",\"instances\":%d,\"users\":%d,\"rate\":%.1f,\"duration_s\":%.1f,\"sent\":%" PRIu64
         ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"errors\":%" PRIu64
         ",\"messages_per_s\":%.0f",
         opt.ntargets, opt.users, rate, opt.step_s, r.sent, r.received,
         r.sent > r.received ? r.sent - r.received : 0, r.errors, (double)r.received / opt.step_s);
    emit_lat("", &r.lat);
    emit(",\"server_cpu_pct\":%.1f,\"server_cpu_us_per_msg\":%.3f", 100 * (c1 - c0) / wall,
         r.received ? (c1 - c0) * 1e6 / (double)r.received : 0);
    finish();
}

/* ---- options ---- */

static void usage(int code)
{
    fprintf(
        code ? stderr : stdout,
        "usage: loadgen SCENARIO [options]   (SCENARIO: idle fanout rpc user storm upgrade)\n"
        "  (upgrade: idle with --transport upgrade, and the upgrade's times)\n"
        "  --target HOST:PORT      server (repeatable; user: one per instance) [127.0.0.1:3000]\n"
        "  --proto sio|json        Socket.IO v5 or plain JSON WebSocket [sio]\n"
        "  --transport T           websocket, polling (Engine.IO long-polling), or upgrade\n"
        "                          (polling, then the upgrade to WebSocket); Socket.IO only; a\n"
        "                          fanout's broadcaster always uses WebSocket [websocket]\n"
        "  --path PATH             request path [/socket.io/?EIO=4&transport=websocket or /]\n"
        "  --conns N               connections (fanout: receivers) [100]\n"
        "  --procs N               worker processes [1]\n"
        "  --src-addrs N           bind to 127.0.0.2 .. 127.0.0.(N+1) [0: no bind]\n"
        "  --token-prefix P        token of connection i is P<i> (auth-static) [anonymous]\n"
        "  --concurrency N         connects in flight per worker (not storm) [200]\n"
        "  --server-pid PID        the measured server (repeatable)\n"
        "  --hold S                idle: how long to hold the connections [5]\n"
        "  --payload B             fanout, user: JSON payload bytes [100]\n"
        "  --rates R1,R2,...       fanout: broadcasts/s per step; user: messages/s\n"
        "  --duration S            fanout: seconds per step; rpc, user: run time [5]\n"
        "  --p99-limit-ms MS       fanout: a step passes with p99 below this [50]\n"
        "  --drain S               wait for late messages [3]\n"
        "  --all-steps             fanout: go on after a failed step\n"
        "  --stop-p99-ms MS        fanout: stop after a step with p99 over this, or a loss [500]\n"
        "  --all-steps             fanout: go on after any failed step\n"
        "  --rpc-event events|echo rpc: `events` (replies 1,2,3) or `echo` (an ack) [events]\n"
        "  --users N               user: users, each with one socket on two instances [100]\n"
        "  --label TEXT            copied into the output\n"
        "  --connect-timeout S     [30]   --max-duration S   [300]\n");
    exit(code);
}

static void parse_rates(const char *s)
{
    opt.nrates = 0;
    while (*s && opt.nrates < MAX_RATES) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v <= 0)
            usage(2);
        opt.rates[opt.nrates++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            usage(2);
    }
}

static void parse_args(int argc, char **argv)
{
    enum {
        OPT_TARGET = 256,
        OPT_PROTO,
        OPT_TRANSPORT,
        OPT_PATH,
        OPT_CONNS,
        OPT_PROCS,
        OPT_SRC,
        OPT_TOKEN,
        OPT_CONC,
        OPT_PID,
        OPT_HOLD,
        OPT_PAYLOAD,
        OPT_RATES,
        OPT_DURATION,
        OPT_P99,
        OPT_STOP,
        OPT_DRAIN,
        OPT_ALL,
        OPT_WINDOW,
        OPT_RPCEV,
        OPT_USERS,
        OPT_LABEL,
        OPT_CTIMEOUT,
        OPT_MAXDUR,
        OPT_HELP
    };
    static const struct option longopts[] = {
        {"target", 1, 0, OPT_TARGET},
        {"proto", 1, 0, OPT_PROTO},
        {"transport", 1, 0, OPT_TRANSPORT},
        {"path", 1, 0, OPT_PATH},
        {"conns", 1, 0, OPT_CONNS},
        {"procs", 1, 0, OPT_PROCS},
        {"src-addrs", 1, 0, OPT_SRC},
        {"token-prefix", 1, 0, OPT_TOKEN},
        {"concurrency", 1, 0, OPT_CONC},
        {"server-pid", 1, 0, OPT_PID},
        {"hold", 1, 0, OPT_HOLD},
        {"payload", 1, 0, OPT_PAYLOAD},
        {"rates", 1, 0, OPT_RATES},
        {"rate", 1, 0, OPT_RATES},
        {"duration", 1, 0, OPT_DURATION},
        {"p99-limit-ms", 1, 0, OPT_P99},
        {"stop-p99-ms", 1, 0, OPT_STOP},
        {"drain", 1, 0, OPT_DRAIN},
        {"all-steps", 0, 0, OPT_ALL},
        {"window", 1, 0, OPT_WINDOW},
        {"rpc-event", 1, 0, OPT_RPCEV},
        {"users", 1, 0, OPT_USERS},
        {"label", 1, 0, OPT_LABEL},
        {"connect-timeout", 1, 0, OPT_CTIMEOUT},
        {"max-duration", 1, 0, OPT_MAXDUR},
        {"help", 0, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    if (argc < 2)
        usage(2);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        usage(0);
    const char *sc = argv[1];
    if (strcmp(sc, "idle") == 0)
        opt.scenario = SC_IDLE;
    else if (strcmp(sc, "fanout") == 0)
        opt.scenario = SC_FANOUT;
    else if (strcmp(sc, "rpc") == 0)
        opt.scenario = SC_RPC;
    else if (strcmp(sc, "user") == 0)
        opt.scenario = SC_USER;
    else if (strcmp(sc, "storm") == 0)
        opt.scenario = SC_STORM;
    else if (strcmp(sc, "upgrade") == 0)
        opt.scenario = SC_UPGRADE;
    else
        usage(2);
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TARGET: {
            if (opt.ntargets >= MAX_TARGETS)
                usage(2);
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof(opt.target_host[0]))
                usage(2);
            memcpy(opt.target_host[opt.ntargets], optarg, (size_t)(colon - optarg));
            opt.target_host[opt.ntargets][colon - optarg] = 0;
            opt.target_port[opt.ntargets] = atoi(colon + 1);
            if (opt.target_port[opt.ntargets] <= 0)
                usage(2);
            opt.ntargets++;
            break;
        }
        case OPT_PROTO:
            if (strcmp(optarg, "sio") == 0 || strcmp(optarg, "socket.io") == 0)
                opt.proto = P_SIO;
            else if (strcmp(optarg, "json") == 0)
                opt.proto = P_JSON;
            else
                usage(2);
            break;
        case OPT_TRANSPORT:
            if (strcmp(optarg, "websocket") == 0)
                opt.transport = T_WEBSOCKET;
            else if (strcmp(optarg, "polling") == 0)
                opt.transport = T_POLLING;
            else if (strcmp(optarg, "upgrade") == 0)
                opt.transport = T_UPGRADE;
            else
                usage(2);
            break;
        case OPT_PATH:
            opt.path = optarg;
            break;
        case OPT_CONNS:
            opt.conns = atoi(optarg);
            break;
        case OPT_PROCS:
            opt.procs = atoi(optarg);
            break;
        case OPT_SRC:
            opt.src_addrs = atoi(optarg);
            break;
        case OPT_TOKEN:
            opt.token_prefix = optarg;
            break;
        case OPT_CONC:
            opt.concurrency = atoi(optarg);
            break;
        case OPT_PID:
            if (opt.npids >= MAX_PIDS)
                usage(2);
            opt.server_pids[opt.npids++] = atoi(optarg);
            break;
        case OPT_HOLD:
            opt.hold_s = atof(optarg);
            break;
        case OPT_PAYLOAD:
            opt.payload = atoi(optarg);
            break;
        case OPT_RATES:
            parse_rates(optarg);
            break;
        case OPT_DURATION:
            opt.step_s = atof(optarg);
            break;
        case OPT_P99:
            opt.p99_limit_ms = atof(optarg);
            break;
        case OPT_STOP:
            opt.stop_p99_ms = atof(optarg);
            break;
        case OPT_DRAIN:
            opt.drain_s = atof(optarg);
            break;
        case OPT_ALL:
            opt.all_steps = 1;
            break;
        case OPT_WINDOW:
            opt.window = atoi(optarg);
            break;
        case OPT_RPCEV:
            if (strcmp(optarg, "events") && strcmp(optarg, "echo"))
                usage(2);
            opt.rpc_event = optarg;
            break;
        case OPT_USERS:
            opt.users = atoi(optarg);
            break;
        case OPT_LABEL:
            opt.label = optarg;
            break;
        case OPT_CTIMEOUT:
            opt.connect_timeout_s = atof(optarg);
            break;
        case OPT_MAXDUR:
            opt.max_duration_s = atof(optarg);
            break;
        case OPT_HELP:
            usage(0);
            break;
        default:
            usage(2);
        }
    }
    if (optind != argc)
        usage(2);
    if (!opt.ntargets) {
        strcpy(opt.target_host[0], "127.0.0.1");
        opt.target_port[0] = 3000;
        opt.ntargets = 1;
    }
    if (opt.procs < 1 || opt.procs > MAX_PROCS || opt.conns < 1 || opt.users < 1 ||
        opt.window < 1 || opt.window > 1000 || opt.payload < 0 || opt.payload > 60000 ||
        opt.step_s <= 0 || opt.max_duration_s <= 0 || opt.src_addrs < 0 || opt.src_addrs > 250)
        usage(2);
    if (opt.label && (strchr(opt.label, '"') || strchr(opt.label, '\\')))
        usage(2);
    if (opt.scenario == SC_UPGRADE)
        opt.transport = T_UPGRADE;
    if (opt.transport != T_WEBSOCKET && opt.proto != P_SIO)
        usage(2);
    if (opt.scenario == SC_FANOUT && !opt.nrates)
        parse_rates("1,10,100");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    snprintf(
        error_line, sizeof(error_line),
        "{\"scenario\":\"%s\",\"label\":\"%s\",\"error\":\"max duration (%.0f s) exceeded\"}\n",
        scenario_name(), opt.label, opt.max_duration_s);
    signal(SIGALRM, alarm_handler);
    alarm((unsigned)opt.max_duration_s);
    switch (opt.scenario) {
    case SC_IDLE:
    case SC_UPGRADE:
        run_idle(0);
        break;
    case SC_STORM:
        run_idle(1);
        break;
    case SC_FANOUT:
        run_fanout();
        break;
    case SC_RPC:
        run_rpc();
        break;
    case SC_USER:
        run_user();
        break;
    }
    return 0;
}
