/*
 * floor: what the kernel alone costs for a fan-out on this machine. N loopback TCP connections;
 * a child process (on --reader-cpu) drains them; this process writes one BYTES-byte frame to each
 * of the N sockets, ROUNDS times, and reports its CPU time per write; then the same with 8 frames
 * in one write, per message. One JSON line on stdout. --gap-ms G pauses G ms between rounds (not
 * counted), the pace of a fan-out at one broadcast a second, where both sides start cold.
 *
 *   floor [--conns N] [--rounds R] [--bytes B] [--batch K] [--reader-cpu C] [--gap-ms G]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child: connect N sockets, then read everything until the parent closes them. */
static int reader(int port, int n, int ready_fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            return 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    if (write(ready_fd, "r", 1) != 1)
        return 1;
    static char buf[65536];
    struct epoll_event evs[256];
    int open = n;
    alarm(600); /* bounded even if the parent hangs */
    while (open > 0) {
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < k; i++) {
            ssize_t r = read(evs[i].data.fd, buf, sizeof(buf));
            if (r <= 0) {
                close(evs[i].data.fd);
                open--;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = 10000, rounds = 20, bytes = 100, batch = 8, reader_cpu = -1, gap_ms = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--conns"))
            n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bytes"))
            bytes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reader-cpu"))
            reader_cpu = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gap-ms"))
            gap_ms = atoi(argv[i + 1]);
        else
            return fprintf(stderr, "floor: unknown option %s\n", argv[i]), 2;
    }
    if (n < 1 || rounds < 1 || bytes < 1 || bytes > 4096 || batch < 1 || batch > 64 || gap_ms < 0 ||
        gap_ms > 5000)
        return fprintf(stderr, "floor: bad option value\n"), 2;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4096) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0)
        return perror("floor: listen"), 1;
    int pp[2];
    if (pipe(pp) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        if (reader_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(reader_cpu, &set);
            sched_setaffinity(0, sizeof(set), &set);
        }
        close(ls);
        _exit(reader(ntohs(a.sin_port), n, pp[1]));
    }
    int *fds = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        fds[i] = accept(ls, NULL, NULL);
        if (fds[i] < 0)
            return perror("floor: accept"), kill(pid, SIGKILL), 1;
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    char c;
    if (read(pp[0], &c, 1) != 1)
        return kill(pid, SIGKILL), 1;
    char *frame = malloc((size_t)bytes * (size_t)batch);
    memset(frame, 'x', (size_t)bytes * (size_t)batch);
    double res[2];
    long errors = 0;
    for (int mode = 0; mode < 2; mode++) {
        size_t len = (size_t)bytes * (mode ? (size_t)batch : 1);
        for (int i = 0; i < n; i++) /* warm-up round */
            errors += write(fds[i], frame, len) != (ssize_t)len;
        usleep(200000);
        double dt = 0;
        for (int r = 0; r < rounds; r++) {
            if (gap_ms && r)
                usleep((useconds_t)gap_ms * 1000);
            double t0 = cpu_now();
            for (int i = 0; i < n; i++)
                errors += write(fds[i], frame, len) != (ssize_t)len;
            dt += cpu_now() - t0;
        }
        res[mode] = dt * 1e6 / ((double)n * rounds * (mode ? batch : 1));
        usleep(200000);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    free(frame);
    waitpid(pid, NULL, 0);
    printf("{\"scenario\":\"floor\",\"conns\":%d,\"rounds\":%d,\"frame_bytes\":%d,"
           "\"write1_us\":%.3f,\"batch\":%d,\"batch_us_per_msg\":%.3f,\"errors\":%ld}\n",
           n, rounds, bytes, res[0], batch, res[1], errors);
    return errors ? 1 : 0;
}
