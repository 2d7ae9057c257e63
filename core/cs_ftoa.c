/*
 * cs_ftoa — the shortest decimal (≤ 9 significant digits) that reads back as the same
 * binary32, without printf.
 *
 * Why it is right: strtof returns the float nearest its input, so a decimal D reads back
 * as f exactly when D lies strictly between the midpoints from f to its two neighbours
 * (a tie would go to the even one). Those midpoints are exact in double (two adjacent
 * floats add without rounding in 53 bits). D itself is computed as m · 10^q in double,
 * with a relative error under 3e-16; a candidate is kept only when it clears both
 * midpoints by 1e-14 · |f|, so an error of the computation cannot make a wrong candidate
 * pass (a float's midpoints are at least 2^-26 ≈ 1.5e-8 · |f| away). A candidate that is
 * right but within the margin is just not taken, and a longer one is. Where D is an
 * integer below 2^53 it is exact in double, so it is compared exactly and a tie is kept
 * when it reads back (f's last bit even: 67108850 is 67108848's). Nine digits always
 * pass: rounding to 9 digits moves at most 5e-9 · |f|. The fewest digits are found by
 * bisection over 1..9 (see cs_ftoa), among nearest-rounded candidates: the nearest p-digit
 * decimal is the best p-digit chance.
 */
#include "cs_ftoa.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The doubles nearest 10^-54 .. 10^54 (a C compiler rounds decimal literals correctly):
 * enough for the digits of the smallest subnormal (10^-45) at 9 digits and of FLT_MAX. */
static const double pow10_tab[] = {
    1e-54, 1e-53, 1e-52, 1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45,
    1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37, 1e-36, 1e-35,
    1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25,
    1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15,
    1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5,
    1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5,
    1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25,
    1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35,
    1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45,
    1e46, 1e47, 1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54,
};
#define POW10_MIN (-54)
#define POW10_MAX 54

static double pow10_of(int k)
{
    if (k < POW10_MIN)
        k = POW10_MIN; /* not reached for a finite float; clamped so a bug cannot read out of bounds */
    if (k > POW10_MAX)
        k = POW10_MAX;
    return pow10_tab[k - POW10_MIN];
}

/* Writes m (decimal digits, m > 0) · 10^q at p: fixed notation for decimal exponents -4..8
 * (as %g would), otherwise d.ddde±x with the fewest exponent digits JSON allows. */
static char *put_decimal(char *p, uint64_t m, int q)
{
    char d[24] = ""; /* (initialised: gcc cannot see the digit loop always writes d[0]) */
    int nd = 0;
    if (m == 0) { /* not reached (m > 0 for any nonzero float); written as 0 if it were */
        *p++ = '0';
        return p;
    }
    while (m % 10 == 0) { /* trailing zeros belong to the exponent */
        m /= 10;
        q++;
    }
    for (uint64_t t = m; t; t /= 10)
        nd++;
    for (int i = nd - 1; i >= 0; i--, m /= 10)
        d[i] = (char)('0' + m % 10);
    int e = q + nd - 1; /* the exponent of the leading digit */
    if (e >= -4 && e <= 8) {
        if (e < 0) {
            *p++ = '0';
            *p++ = '.';
            for (int i = e + 1; i < 0; i++)
                *p++ = '0';
            memcpy(p, d, (size_t)nd);
            return p + nd;
        }
        if (nd <= e + 1) { /* an integer: the digits, then zeros */
            memcpy(p, d, (size_t)nd);
            p += nd;
            for (int i = nd; i <= e; i++)
                *p++ = '0';
            return p;
        }
        memcpy(p, d, (size_t)e + 1);
        p += e + 1;
        *p++ = '.';
        memcpy(p, d + e + 1, (size_t)(nd - e - 1));
        return p + nd - e - 1;
    }
    *p++ = d[0];
    if (nd > 1) {
        *p++ = '.';
        memcpy(p, d + 1, (size_t)nd - 1);
        p += nd - 1;
    }
    *p++ = 'e';
    if (e < 0) {
        *p++ = '-';
        e = -e;
    }
    if (e >= 10)
        *p++ = (char)('0' + e / 10);
    *p++ = (char)('0' + e % 10);
    return p;
}

/* The nearest decimal of `digits` significant digits to x (leading digit at 10^e10), as
 * m · 10^*q; true when it reads back as the float whose rounding interval is (lo, hi). */
static bool candidate(double x, int e10, int digits, double lo, double hi, double margin,
                      bool even, uint64_t *m, int *q)
{
    *q = e10 - digits + 1;
    *m = (uint64_t)(x * pow10_of(-*q) + 0.5); /* x > 0: rounds half up, no libm call */
    if (*m == 0)
        return false;
    double d = (double)*m * pow10_of(*q);
    if (*q >= 0 && *q <= 15 && *m <= (UINT64_C(1) << 53) / (uint64_t)pow10_of(*q))
        /* an integer below 2^53: d is exact, and so is the comparison, ties included */
        return (d > lo && d < hi) || ((d == lo || d == hi) && even);
    return d > lo + margin && d < hi - margin;
}

size_t cs_ftoa(float f, char s[CS_FTOA_MAX])
{
    if (!isfinite(f)) {
        memcpy(s, "null", 5);
        return 4;
    }
    char *p = s;
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    if (bits >> 31)
        *p++ = '-';
    bits &= 0x7fffffffu;
    if (bits == 0) {
        *p++ = '0';
        *p = '\0';
        return (size_t)(p - s);
    }
    /* the float, its neighbours (bit patterns of positive floats count up with the value)
     * and the interval of decimals strtof reads back as it */
    float af, below_f, above_f;
    uint32_t below_bits = bits - 1, above_bits = bits + 1;
    memcpy(&af, &bits, sizeof(af));
    memcpy(&below_f, &below_bits, sizeof(below_f));
    memcpy(&above_f, &above_bits, sizeof(above_f));
    double x = af, below = below_f, above = above_f;
    double lo = (x + below) / 2;
    double hi = isinf(above_f) ? x + (x - below) / 2 : (x + above) / 2;
    double margin = x * 1e-14;
    bool even = (bits & 1) == 0; /* a decimal exactly halfway reads back as the even one */

    /* e10 = floor(log10(x)): estimated from the binary exponent (78913 / 2^18 ~ log10 2),
     * then corrected against the table */
    int e2 = (int)(bits >> 23) - 127;
    if (e2 == -127)
        e2 = -149 + 31 - __builtin_clz(bits); /* subnormal: the top set bit */
    int e10 = (e2 * 78913) >> 18;
    while (e10 < 39 && x >= pow10_of(e10 + 1))
        e10++;
    while (e10 > -46 && x < pow10_of(e10))
        e10--;

    /* Whether the nearest p-digit decimal reads back only gets truer as p grows (every
     * p-digit decimal is a (p+1)-digit one), so the fewest digits are found by bisection;
     * 9 always do (see the top of the file). */
    uint64_t m, kept_m = 0;
    int q, kept_q = 0, fewest = 1, most = 9;
    while (fewest < most) {
        int mid = (fewest + most) / 2;
        if (candidate(x, e10, mid, lo, hi, margin, even, &m, &q)) {
            most = mid;
            kept_m = m; /* the last kept is the fewest digits: no second computation */
            kept_q = q;
        } else {
            fewest = mid + 1;
        }
    }
    if (kept_m == 0) /* nothing shorter read back: 9 digits, which always do */
        (void)candidate(x, e10, 9, lo, hi, margin, even, &kept_m, &kept_q);
    p = put_decimal(p, kept_m, kept_q);
    *p = '\0';
    return (size_t)(p - s);
}
