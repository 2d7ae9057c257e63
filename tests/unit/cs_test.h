/*
 * cs_test — the smallest test harness that does the job: CHECK macros that
 * report file:line and keep going, and a main that runs each test and exits
 * non-zero if any check failed. One executable per test file, registered with
 * ctest under the `unit` label.
 */
#ifndef CS_TEST_H
#define CS_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cs_test_failures;
static int cs_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        cs_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            cs_test_failures++;                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long cs_a_ = (long long)(a), cs_b_ = (long long)(b);                                  \
        cs_test_checks++;                                                                          \
        if (cs_a_ != cs_b_) {                                                                      \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    cs_a_, #b, cs_b_);                                                             \
            cs_test_failures++;                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *cs_a_ = (a), *cs_b_ = (b);                                                     \
        cs_test_checks++;                                                                          \
        if (!cs_a_ || !cs_b_ || strcmp(cs_a_, cs_b_) != 0) {                                       \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    cs_a_ ? cs_a_ : "(null)", cs_b_ ? cs_b_ : "(null)");                           \
            cs_test_failures++;                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *cs_h_ = (hay);                                                                 \
        cs_test_checks++;                                                                          \
        if (!cs_h_ || !strstr(cs_h_, (needle))) {                                                  \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    cs_h_ ? cs_h_ : "(null)", (needle));                                           \
            cs_test_failures++;                                                                    \
        }                                                                                          \
    } while (0)

/* The whole of tests/vectors/<name> (the directory from $CS_VECTORS, which ctest sets),
 * NUL-terminated, or NULL; the caller frees it. For the vector files shared with the
 * JSON Schemas (tests/vectors/check_schema.py). */
static inline char *cs_test_read_vectors(const char *name)
{
    const char *dir = getenv("CS_VECTORS");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/vectors", name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *all = NULL;
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (size >= 0 && fseek(fp, 0, SEEK_SET) == 0 && (all = malloc((size_t)size + 1)) != NULL) {
        if (fread(all, 1, (size_t)size, fp) == (size_t)size) {
            all[size] = '\0';
        } else {
            free(all);
            all = NULL;
        }
    }
    fclose(fp);
    return all;
}

#define RUN(test)                                                                                  \
    do {                                                                                           \
        int cs_before_ = cs_test_failures;                                                         \
        test();                                                                                    \
        fprintf(stderr, "%s %s\n", cs_test_failures == cs_before_ ? "ok  " : "FAIL", #test);       \
    } while (0)

/* A fixed-seed xorshift64: "random" inputs that are the same on every run, so a failure
 * reproduces. */
static inline uint64_t cs_test_rand(void)
{
    static uint64_t s = 88172645463325252ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

#define CS_TEST_DONE()                                                                             \
    do {                                                                                           \
        fprintf(stderr, "%d checks, %d failed\n", cs_test_checks, cs_test_failures);               \
        return cs_test_failures ? 1 : 0;                                                           \
    } while (0)

#endif
