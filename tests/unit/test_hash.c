/*
 * cs_hash_keyed (core/cs_hash.c), the hash of the gateway's tables keyed by client-chosen
 * names: stable within a process, keyed per process (another process hashes the same
 * names differently, so collisions found against one gateway say nothing about the
 * next), and spreading similar names evenly.
 */
#include "cs_hash.h"
#include "cs_test.h"

#include <sys/wait.h>
#include <unistd.h>

static void test_stable(void)
{
    CHECK(cs_hash_keyed("math", 4) == cs_hash_keyed_str("math"));
    CHECK(cs_hash_keyed("math", 4) == cs_hash_keyed("math", 4));
    CHECK(cs_hash_keyed("math", 4) != cs_hash_keyed("math", 3)); /* length counts */
    CHECK(cs_hash_keyed("m\0th", 4) != cs_hash_keyed("m\0tH", 4)); /* bytes past a NUL too */
}

/* A child process hashes the same names: with a key per process, all differ. */
static void test_keyed_per_process(void)
{
    static const char *names[] = {"math", "art", "room-1", "", "a-much-longer-room-name-42"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    uint32_t mine[N], theirs[N];
    for (int i = 0; i < N; i++)
        mine[i] = cs_hash_keyed_str(names[i]);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* a fresh process would draw its own key at its first hash; a forked child has
         * the parent's drawn already, so exec ourselves to be a fresh process */
        char fd[16];
        snprintf(fd, sizeof(fd), "%d", fds[1]);
        execl("/proc/self/exe", "test_hash", "--child", fd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(theirs) && (n = read(fds[0], (char *)theirs + got, sizeof(theirs) - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(got, sizeof(theirs));
    int same = 0;
    for (int i = 0; i < N; i++)
        same += mine[i] == theirs[i];
    CHECK_INT(same, 0);
}

/* 100,000 names that differ in a digit or two, over 4,096 buckets (a gateway thread's room
 * table): no bucket far above the mean of 24.4 (a Poisson tail this long has p < 1e-9). */
static void test_spread(void)
{
    static unsigned counts[4096];
    for (int i = 0; i < 100000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "room-%d", i);
        counts[cs_hash_keyed_str(name) % 4096]++;
    }
    unsigned max = 0, empty = 0;
    for (int b = 0; b < 4096; b++) {
        max = counts[b] > max ? counts[b] : max;
        empty += counts[b] == 0;
    }
    CHECK(max < 60);
    CHECK_INT(empty, 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        static const char *names[] = {"math", "art", "room-1", "", "a-much-longer-room-name-42"};
        uint32_t h[5];
        for (int i = 0; i < 5; i++)
            h[i] = cs_hash_keyed_str(names[i]);
        return write(atoi(argv[2]), h, sizeof(h)) == (ssize_t)sizeof(h) ? 0 : 1;
    }
    RUN(test_stable);
    RUN(test_keyed_per_process);
    RUN(test_spread);
    CS_TEST_DONE();
}
