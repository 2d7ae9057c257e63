/* cs_time — clocks. Monotonic for intervals, wall clock for timestamps that leave the process. */
#ifndef CS_TIME_H
#define CS_TIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t cs_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t cs_mono_ms(void)
{
    return cs_mono_us() / 1000;
}

static inline int64_t cs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t cs_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
