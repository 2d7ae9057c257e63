/*
 * Unit tests of cs_ftoa: every float written reads back (strtof) as the same float, is a
 * JSON number, and is as short as the shortest "%.{p}g" that reads back (printf's
 * correctly rounded digits, the reference); fixed cases for the edges of binary32.
 */
#include "cs_test.h"
#include "cs_ftoa.h"

#include <ctype.h>
#include <float.h>
#include <math.h>

/* RFC 8259's number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */
static int is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (isdigit((unsigned char)*s))
            s++;
    else
        return 0;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* Significant digits of a decimal (leading zeros and the exponent not counted). */
static int significant_digits(const char *s)
{
    int n = 0, started = 0, trailing = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (!isdigit((unsigned char)*s))
            continue;
        if (*s != '0')
            started = 1;
        if (!started)
            continue;
        n++;
        trailing = *s == '0' ? trailing + 1 : 0;
    }
    return n - trailing;
}

/* The fewest digits p for which printf's "%.{p}g" reads back as f. */
static int shortest_printf_digits(float f)
{
    char s[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(s, sizeof(s), "%.*g", p, (double)f);
        if (strtof(s, NULL) == f)
            return significant_digits(s);
    }
    return 99; /* not reached: 9 digits always read back */
}

static int longer = 0, shorter = 0, wrong = 0;

static void check_one(float f)
{
    char s[CS_FTOA_MAX];
    size_t n = cs_ftoa(f, s);
    float back = strtof(s, NULL);
    if (n != strlen(s) || memcmp(&back, &f, sizeof(f)) != 0 || !is_json_number(s)) {
        if (wrong++ < 5)
            fprintf(stderr, "  %.9g (bits %08x) written as \"%s\"\n", (double)f,
                    (unsigned)((union { float f; uint32_t u; }){f}).u, s);
        return;
    }
    int ref = shortest_printf_digits(f), ours = significant_digits(s);
    if (ours > ref && longer++ < 5)
        fprintf(stderr, "  %.9g: \"%s\" has %d digits, printf needs %d\n", (double)f, s, ours, ref);
    if (ours < ref)
        shorter++; /* impossible: fewer digits than any correctly rounded candidate */
}

static void test_edges(void)
{
    static const struct {
        float f;
        const char *want;
    } cases[] = {
        {0.0f, "0"},
        {-0.0f, "-0"},
        {1.0f, "1"},
        {-2.0f, "-2"},
        {0.5f, "0.5"},
        {0.1f, "0.1"},
        {-0.3f, "-0.3"},
        {0.0001f, "0.0001"},
        {0.00001f, "1e-5"},
        {1.5e-7f, "1.5e-7"},
        {100.0f, "100"},
        {123456.0f, "123456"},
        {16777216.0f, "16777216"},
        {100000000.0f, "100000000"},
        {1e9f, "1e9"},
        {1e10f, "1e10"},
        {FLT_MAX, "3.4028235e38"},
        {-FLT_MAX, "-3.4028235e38"},
        {FLT_MIN, "1.1754944e-38"},
        {1.4e-45f, "1e-45"},  /* the smallest subnormal */
        {2.8e-45f, "3e-45"},  /* its double */
        {0.33333334f, "0.33333334"},
        {0.70710677f, "0.70710677"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char s[CS_FTOA_MAX];
        size_t n = cs_ftoa(cases[i].f, s);
        CHECK_STR(s, cases[i].want);
        CHECK_INT(n, strlen(cases[i].want));
    }
    char s[CS_FTOA_MAX];
    CHECK_INT(cs_ftoa(NAN, s), 4);
    CHECK_STR(s, "null");
    CHECK_INT(cs_ftoa(-INFINITY, s), 4);
    CHECK_STR(s, "null");
}

/* Every float around the edges: each power of two and of ten with its neighbours, all
 * subnormals near the bottom, the largest floats. */
static void test_boundaries(void)
{
    wrong = longer = shorter = 0;
    for (int e = -149; e <= 127; e++) {
        float f = ldexpf(1.0f, e), g = f;
        for (int k = 0; k < 4; k++) {
            check_one(g);
            check_one(-g);
            g = nextafterf(g, INFINITY);
        }
        g = f;
        for (int k = 0; k < 4; k++) {
            g = nextafterf(g, 0.0f);
            check_one(g);
        }
    }
    for (int e = -45; e <= 38; e++) {
        char t[16];
        snprintf(t, sizeof(t), "1e%d", e);
        float f = strtof(t, NULL);
        for (int k = -3; k <= 3; k++) {
            float g = f;
            for (int j = 0; j < (k < 0 ? -k : k); j++)
                g = nextafterf(g, k < 0 ? 0.0f : INFINITY);
            if (isfinite(g) && g > 0)
                check_one(g);
        }
    }
    for (uint32_t bits = 1; bits < 20000; bits++) /* the lowest subnormals */
        check_one(((union { uint32_t u; float f; }){bits}).f);
    for (uint32_t bits = 0x7f7fffffu; bits > 0x7f7fffffu - 20000; bits--) /* the largest */
        check_one(((union { uint32_t u; float f; }){bits}).f);
    CHECK_INT(wrong, 0);
    CHECK_INT(longer, 0);
    CHECK_INT(shorter, 0);
}

/* Random bit patterns (every exponent alike) and random embedding-like components. */
static void test_random(void)
{
    wrong = longer = shorter = 0;
    for (int i = 0; i < 300000; i++) {
        uint32_t bits = (uint32_t)cs_test_rand();
        float f = ((union { uint32_t u; float f; }){bits}).f;
        if (isfinite(f))
            check_one(f);
    }
    for (int i = 0; i < 300000; i++) {
        float f = (float)((double)(cs_test_rand() >> 11) / (double)(1ull << 53) * 2 - 1) / 16;
        check_one(f);
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(longer, 0);
    CHECK_INT(shorter, 0);
}

int main(void)
{
    RUN(test_edges);
    RUN(test_boundaries);
    RUN(test_random);
    CS_TEST_DONE();
}
