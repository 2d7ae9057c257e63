/* cs_rand — a fast per-thread PRNG (xoshiro256**) seeded from getrandom(2). Not for secrets. */
#ifndef CS_RAND_H
#define CS_RAND_H

#include <stdint.h>

uint64_t cs_rand_u64(void);
/* Uniform in [0, n) for n > 0. */
uint64_t cs_rand_below(uint64_t n);
/* Uniform in [0, 1). */
double cs_rand_double(void);

#endif
