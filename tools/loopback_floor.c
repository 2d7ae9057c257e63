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
 */
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
    int connections;
    int rate;    /* deliveries per second */
    int size;    /* bytes per delivery */
    int seconds; /* measured window per run */
    int runs;
    int frames[8]; /* deliveries per send, one measurement each */
    int nframes;
} floor_conf_t;

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
            next = (next + 1) % c->connections;
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
    for (int i = 0; i < c->connections; i++) {
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

static int parse_int(const char *s, int lo, int hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "chatstream-loopback-floor: %s must be %d..%d, got '%s'\n", what, lo,
                hi, s);
        exit(2);
    }
    return (int)v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: chatstream-loopback-floor [-c connections (2500)] [-r deliveries/s (100000)]\n"
            "         [-s bytes per delivery (220)] [-k frames per send, comma list (1,2,4)]\n"
            "         [-t seconds per run (5)] [-n runs (5)]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    floor_conf_t c = {.connections = 2500, .rate = 100000, .size = 220, .seconds = 5, .runs = 5,
                      .frames = {1, 2, 4}, .nframes = 3};
    int opt;
    while ((opt = getopt(argc, argv, "c:r:s:k:t:n:h")) != -1) {
        switch (opt) {
        case 'c': c.connections = parse_int(optarg, 1, 100000, "-c"); break;
        case 'r': c.rate = parse_int(optarg, 1000, 10000000, "-r"); break;
        case 's': c.size = parse_int(optarg, 1, 65536, "-s"); break;
        case 't': c.seconds = parse_int(optarg, 1, 600, "-t"); break;
        case 'n': c.runs = parse_int(optarg, 1, 99, "-n"); break;
        case 'k': {
            c.nframes = 0;
            char *save = NULL, *list = strdup(optarg);
            for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (c.nframes == 8)
                    usage();
                c.frames[c.nframes++] = parse_int(tok, 1, 64, "-k");
            }
            free(list);
            if (!c.nframes)
                usage();
            break;
        }
        default: usage();
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)c.connections * 2 + 64;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = need <= rl.rlim_max ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < need) {
            fprintf(stderr, "chatstream-loopback-floor: %d connections need %llu descriptors, "
                    "the limit is %llu\n", c.connections, (unsigned long long)need,
                    (unsigned long long)rl.rlim_max);
            return 2;
        }
    }
    int *wfd = calloc((size_t)c.connections, sizeof(int));
    int *rfd = calloc((size_t)c.connections, sizeof(int));
    if (!wfd || !rfd)
        die("calloc");
    floor_connect(c.connections, wfd, rfd);
    printf("loopback floor: %d connections, %d deliveries/s of %d bytes, %d run(s) x %d s, "
           "CPU per delivery (user + system, µs)\n",
           c.connections, c.rate, c.size, c.runs, c.seconds);
    printf("%-16s %-10s %-22s %-22s %s\n", "frames per send", "run", "sender (gateway's role)",
           "receiver (loadgen's)", "both");
    int rc = 0;
    for (int f = 0; f < c.nframes; f++) {
        double ws[99], rs[99];
        for (int run = 0; run < c.runs; run++) {
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
        double both[99];
        for (int i = 0; i < c.runs; i++)
            both[i] = ws[i] + rs[i];
        double mb = median(both, c.runs), mw = median(ws, c.runs), mr = median(rs, c.runs);
        printf("%-16d %-10s %-22.2f %-22.2f %.2f\n", c.frames[f], "median", mw, mr, mb);
    }
    for (int i = 0; i < c.connections; i++) {
        close(wfd[i]);
        close(rfd[i]);
    }
    free(wfd);
    free(rfd);
    return rc;
}
