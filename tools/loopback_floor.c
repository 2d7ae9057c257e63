/*
 * chatstream-loopback-floor — what the kernel alone charges for one delivery over loopback
 * TCP, with no chatstream code in the way: the floor under the capacity benchmark's
 * "server CPU per delivery" and "loadgen CPU per delivery".
 *
 * One thread plays the gateways: every millisecond it writes its share of `rate`
 * deliveries of `size` bytes, round-robin over `connections` sockets, `frames` deliveries
 * per send() (1 = one write per delivery, as a gateway does at the school scenario's rates;
 * more = what a coalescing window buys). Another plays the loadgen: epoll over the other
 * ends, one recv() per ready socket. Each thread's CPU (user + system, getrusage
 * RUSAGE_THREAD) over a measured window, divided by the deliveries in it, is printed per
 * run and as the median of the runs. On loopback the sender's send() also runs the
 * receiving socket's TCP input (softirq in the sender's context), so the "sender" figure
 * is what a gateway is charged on this machine for each delivery it writes.
 *
 *   chatstream-loopback-floor -X connections=2500 -X rate=100000 -X frames=1,2,4 -X runs=5
 */
#include "cs_conf.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct floor_conf {
    int64_t connections;
    int64_t rate;    /* deliveries per second */
    int64_t size;    /* bytes per delivery */
    int64_t seconds; /* measured window per run */
    int64_t runs;
    char *frames_list;
    int frames[8]; /* deliveries per send, one measurement each (from frames_list) */
    int nframes;
} floor_conf_t;

#define FLOOR_MAX_RUNS 99

static const cs_conf_def_t floor_conf_defs[] = {
    CS_CONF_ROW_INT(floor_conf_t, connections, "connections", "2500", 1, 100000,
                    "Loopback TCP connections written round-robin."),
    CS_CONF_ROW_INT(floor_conf_t, rate, "rate", "100000", 1000, 10000000,
                    "Deliveries per second, written in a burst every millisecond."),
    CS_CONF_ROW_INT(floor_conf_t, size, "size", "220", 1, 65536,
                    "Bytes per delivery (a school push frame is ~220)."),
    CS_CONF_ROW_STR(floor_conf_t, frames_list, "frames", "1,2,4", 64,
                    "Deliveries per send(), comma-separated (1..64 each, at most 8): one "
                    "measurement each."),
    CS_CONF_ROW_INT(floor_conf_t, seconds, "seconds", "5", 1, 600, "Measured seconds per run."),
    CS_CONF_ROW_INT(floor_conf_t, runs, "runs", "5", 1, FLOOR_MAX_RUNS,
                    "Runs per frames value; the median is printed."),
};

typedef struct floor_run {
    const floor_conf_t *conf;
    int frames;
    int *wfd, *rfd;        /* the writing and the reading ends */
    atomic_int phase;      /* 0 warm-up, 1 measuring, 2 done */
    atomic_bool stop;
    uint64_t sent, sends, eagain;    /* writer's, over the window */
    uint64_t received_bytes;         /* reader's, over the window */
    double writer_cpu_s, reader_cpu_s;
} floor_run_t;

static double thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "chatstream-loopback-floor: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void *floor_writer(void *arg)
{
    floor_run_t *r = arg;
    const floor_conf_t *c = r->conf;
    size_t chunk = (size_t)c->size * (size_t)r->frames;
    char *buf = malloc(chunk);
    if (!buf)
        die("malloc");
    memset(buf, 'x', chunk);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double per_ms = (double)c->rate / 1000.0 / r->frames, owed = 0;
    int next = 0, phase = 0;
    uint64_t sent = 0, sends = 0, eagain = 0;
    double cpu0 = 0;
    while (!atomic_load(&r->stop)) {
        int p = atomic_load(&r->phase);
        if (p != phase) { /* the window opens or closes: reset or keep the counts */
            if (p == 1) {
                sent = sends = eagain = 0;
                cpu0 = thread_cpu_s();
            } else {
                r->writer_cpu_s = thread_cpu_s() - cpu0;
                r->sent = sent, r->sends = sends, r->eagain = eagain;
            }
            phase = p;
        }
        for (owed += per_ms; owed >= 1; owed--) {
            ssize_t n = send(r->wfd[next], buf, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
            next = (next + 1) % (int)c->connections;
            sends++;
            if (n == (ssize_t)chunk)
                sent += (uint64_t)r->frames;
            else
                eagain++;
        }
        t.tv_nsec += 1000000;
        if (t.tv_nsec >= 1000000000) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    }
    free(buf);
    return NULL;
}

static void *floor_reader(void *arg)
{
    floor_run_t *r = arg;
    const floor_conf_t *c = r->conf;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    for (int i = 0; i < (int)c->connections; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = r->rfd[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, r->rfd[i], &ev) < 0)
            die("epoll_ctl");
    }
    static char buf[65536];
    struct epoll_event evs[1024];
    int phase = 0;
    uint64_t bytes = 0;
    double cpu0 = 0;
    while (!atomic_load(&r->stop)) {
        int p = atomic_load(&r->phase);
        if (p != phase) {
            if (p == 1) {
                bytes = 0;
                cpu0 = thread_cpu_s();
            } else {
                r->reader_cpu_s = thread_cpu_s() - cpu0;
                r->received_bytes = bytes;
            }
            phase = p;
        }
        int n = epoll_wait(ep, evs, 1024, 50);
        for (int i = 0; i < n; i++) {
            ssize_t got = recv(evs[i].data.fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (got > 0)
                bytes += (uint64_t)got;
        }
    }
    close(ep);
    return NULL;
}

/* connections pairs of loopback TCP sockets: wfd[i] (accepted) and rfd[i] (connected) */
static void floor_connect(int connections, int *wfd, int *rfd)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4096) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) < 0)
        die("listen on 127.0.0.1");
    int one = 1;
    for (int i = 0; i < connections; i++) {
        rfd[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (rfd[i] < 0 || connect(rfd[i], (struct sockaddr *)&a, sizeof(a)) < 0)
            die("connect");
        wfd[i] = accept(ls, NULL, NULL);
        if (wfd[i] < 0)
            die("accept");
        /* as lws sets on the gateway's client sockets */
        setsockopt(wfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    close(ls);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* frames_list ("1,2,4") into c->frames; false with errstr on anything else */
static bool floor_parse_frames(floor_conf_t *c, char *errstr, size_t errstr_size)
{
    c->nframes = 0;
    for (const char *p = c->frames_list; *p;) {
        char *end;
        errno = 0;
        long k = strtol(p, &end, 10);
        if (errno || end == p || k < 1 || k > 64 || (*end && *end != ',') || c->nframes == 8) {
            snprintf(errstr, errstr_size, "frames: expected up to 8 comma-separated numbers "
                     "1..64, got '%s'", c->frames_list);
            return false;
        }
        c->frames[c->nframes++] = (int)k;
        p = *end ? end + 1 : end;
    }
    if (!c->nframes)
        snprintf(errstr, errstr_size, "frames: empty");
    return c->nframes > 0;
}

int main(int argc, char **argv)
{
    floor_conf_t c;
    memset(&c, 0, sizeof(c));
    char errstr[512];
    cs_conf_t *conf = cs_conf_new("chatstream-loopback-floor",
                                  "What the kernel alone charges per delivery over loopback TCP.");
    cs_conf_add_section(conf, "Options", floor_conf_defs,
                        sizeof(floor_conf_defs) / sizeof(floor_conf_defs[0]), &c);
    cs_conf_result_t loaded = cs_conf_load(conf, argc, argv, errstr, sizeof(errstr));
    if (loaded != CS_CONF_RUN || !floor_parse_frames(&c, errstr, sizeof(errstr))) {
        if (loaded != CS_CONF_EXIT_OK)
            fprintf(stderr, "chatstream-loopback-floor: %s\n", errstr);
        cs_conf_destroy(conf);
        return loaded == CS_CONF_EXIT_OK ? 0 : 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)c.connections * 2 + 64;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = need <= rl.rlim_max ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < need) {
            fprintf(stderr, "chatstream-loopback-floor: %d connections need %llu descriptors, "
                    "the limit is %llu\n", (int)c.connections, (unsigned long long)need,
                    (unsigned long long)rl.rlim_max);
            cs_conf_destroy(conf);
            return 2;
        }
    }
    int *wfd = calloc((size_t)c.connections, sizeof(int));
    int *rfd = calloc((size_t)c.connections, sizeof(int));
    if (!wfd || !rfd)
        die("calloc");
    floor_connect((int)c.connections, wfd, rfd);
    printf("loopback floor: %d connections, %d deliveries/s of %d bytes, %d run(s) x %d s, "
           "CPU per delivery (user + system, µs)\n",
           (int)c.connections, (int)c.rate, (int)c.size, (int)c.runs, (int)c.seconds);
    printf("%-16s %-10s %-22s %-22s %s\n", "frames per send", "run", "sender (gateway's role)",
           "receiver (loadgen's)", "both");
    int rc = 0;
    for (int f = 0; f < c.nframes; f++) {
        double ws[FLOOR_MAX_RUNS], rs[FLOOR_MAX_RUNS];
        for (int run = 0; run < (int)c.runs; run++) {
            floor_run_t r = {.conf = &c, .frames = c.frames[f], .wfd = wfd, .rfd = rfd};
            pthread_t tw, tr;
            if (pthread_create(&tr, NULL, floor_reader, &r) || pthread_create(&tw, NULL, floor_writer, &r))
                die("pthread_create");
            sleep(1); /* warm-up: the sockets' buffers and the threads' caches */
            atomic_store(&r.phase, 1);
            sleep((unsigned)c.seconds);
            atomic_store(&r.phase, 2);
            usleep(200000);
            atomic_store(&r.stop, true);
            pthread_join(tw, NULL);
            pthread_join(tr, NULL);
            if (!r.sent || r.eagain) {
                fprintf(stderr, "chatstream-loopback-floor: %llu of %llu sends did not fit "
                        "the socket (the reader falls behind: lower -r)\n",
                        (unsigned long long)r.eagain, (unsigned long long)r.sends);
                rc = 1;
            }
            double deliveries = (double)r.received_bytes / c.size; /* what the reader got */
            ws[run] = r.writer_cpu_s * 1e6 / (double)r.sent;
            rs[run] = r.reader_cpu_s * 1e6 / (deliveries > 0 ? deliveries : 1);
            printf("%-16d %-10d %-22.2f %-22.2f %.2f\n", c.frames[f], run + 1, ws[run], rs[run],
                   ws[run] + rs[run]);
            fflush(stdout);
        }
        double both[FLOOR_MAX_RUNS];
        for (int i = 0; i < (int)c.runs; i++)
            both[i] = ws[i] + rs[i];
        double mb = median(both, (int)c.runs), mw = median(ws, (int)c.runs), mr = median(rs, (int)c.runs);
        printf("%-16d %-10s %-22.2f %-22.2f %.2f\n", c.frames[f], "median", mw, mr, mb);
    }
    for (int i = 0; i < (int)c.connections; i++) {
        close(wfd[i]);
        close(rfd[i]);
    }
    free(wfd);
    free(rfd);
    cs_conf_destroy(conf);
    return rc;
}
