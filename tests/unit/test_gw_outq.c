/*
 * The gateway's per-session write queue (ingest/gw_outq.c): first in, first out across
 * growth and wrap-around, counts, the storage given back, and a long random run against a
 * plain array model.
 */
#include "cs_test.h"
#include "gw_outq.h"

#include <stdint.h>
#include <stdlib.h>

/* The ring never looks at a frame: numbers stand in for them. */
static struct gw_frame *fake(uintptr_t n)
{
    return (struct gw_frame *)(n * 16 + 16);
}

static void test_empty(void)
{
    gw_outq_t q = {0};
    CHECK(gw_outq_peek(&q) == NULL);
    CHECK(gw_outq_pop(&q) == NULL);
    CHECK_INT(q.len, 0);
    CHECK(q.ring == NULL); /* nothing allocated until the first push */
    gw_outq_free(&q);
}

static void test_fifo_across_growth_and_wrap(void)
{
    gw_outq_t q = {0};
    uintptr_t next_in = 0, next_out = 0;
    /* keep 5 queued while cycling 100 through: the head wraps many times at cap 8 */
    for (int i = 0; i < 5; i++)
        CHECK(gw_outq_push(&q, fake(next_in++)));
    for (int i = 0; i < 100; i++) {
        CHECK(gw_outq_push(&q, fake(next_in++)));
        CHECK(gw_outq_peek(&q) == fake(next_out));
        CHECK(gw_outq_pop(&q) == fake(next_out++));
    }
    CHECK_INT(q.cap, 8);
    CHECK_INT(q.len, 5);
    /* now grow while the oldest sits at the end of the array: order survives the unwrap */
    CHECK(q.head != 0);
    for (int i = 0; i < 40; i++)
        CHECK(gw_outq_push(&q, fake(next_in++)));
    CHECK_INT(q.len, 45);
    CHECK_INT(q.cap, 64);
    while (q.len)
        CHECK(gw_outq_pop(&q) == fake(next_out++));
    CHECK(next_out == next_in);
    CHECK(q.ring != NULL); /* 64 is kept for the next burst */
    gw_outq_free(&q);
    CHECK(q.ring == NULL && q.cap == 0 && q.len == 0);
}

static void test_big_ring_given_back_when_empty(void)
{
    gw_outq_t q = {0};
    for (uintptr_t i = 0; i < 500; i++)
        CHECK(gw_outq_push(&q, fake(i)));
    CHECK_INT(q.cap, 512);
    for (uintptr_t i = 0; i < 499; i++)
        CHECK(gw_outq_pop(&q) == fake(i));
    CHECK(q.ring != NULL); /* not while a frame is left */
    CHECK(gw_outq_pop(&q) == fake(499));
    CHECK(q.ring == NULL && q.cap == 0);
    /* and it works again from nothing */
    CHECK(gw_outq_push(&q, fake(7)));
    CHECK(gw_outq_pop(&q) == fake(7));
    gw_outq_free(&q);
}

static void test_random_against_model(void)
{
    gw_outq_t q = {0};
    enum { MAX = 3000 };
    uintptr_t *model = malloc(200000 * sizeof(*model));
    size_t mhead = 0, mtail = 0;
    uintptr_t next = 0;
    for (int step = 0; step < 200000; step++) {
        /* phases that mostly fill and mostly drain, so the ring grows and shrinks */
        bool filling = (step / 5000) % 2 == 0;
        bool push = mtail - mhead < MAX && (cs_test_rand() % 100) < (filling ? 70u : 30u);
        if (push) {
            CHECK(gw_outq_push(&q, fake(next)));
            model[mtail++] = next++;
        } else {
            struct gw_frame *got = gw_outq_pop(&q);
            if (mhead == mtail) {
                CHECK(got == NULL);
            } else {
                CHECK(got == fake(model[mhead]));
                mhead++;
            }
        }
        CHECK_INT(q.len, mtail - mhead);
        CHECK(q.len <= q.cap);
    }
    free(model);
    while (gw_outq_pop(&q))
        ;
    gw_outq_free(&q);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_fifo_across_growth_and_wrap);
    RUN(test_big_ring_given_back_when_empty);
    RUN(test_random_against_model);
    CS_TEST_DONE();
}
