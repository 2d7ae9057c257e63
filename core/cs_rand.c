#include "cs_rand.h"

#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local uint64_t cs_rand_s[4];
static _Thread_local bool cs_rand_seeded;

static uint64_t cs_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void cs_rand_seed(void)
{
    if (getrandom(cs_rand_s, sizeof(cs_rand_s), 0) != (ssize_t)sizeof(cs_rand_s)) {
        /* getrandom cannot fail on Linux >= 3.17 for 32 bytes; keep a sane fallback. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec;
        for (int i = 0; i < 4; i++) {
            x += 0x9e3779b97f4a7c15ull; /* splitmix64 */
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            cs_rand_s[i] = z ^ (z >> 31);
        }
    }
    cs_rand_seeded = true;
}

uint64_t cs_rand_u64(void)
{
    if (!cs_rand_seeded)
        cs_rand_seed();
    uint64_t *s = cs_rand_s;
    uint64_t result = cs_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = cs_rotl(s[3], 45);
    return result;
}

uint64_t cs_rand_below(uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant for jitter and test data. */
    return (uint64_t)(((unsigned __int128)cs_rand_u64() * n) >> 64);
}

double cs_rand_double(void)
{
    return (double)(cs_rand_u64() >> 11) * (1.0 / 9007199254740992.0);
}
