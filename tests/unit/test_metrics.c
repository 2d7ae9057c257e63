/* Metrics: the Prometheus text format, histograms, labels, concurrency. */
#include "cs_metrics.h"
#include "cs_test.h"

#include <pthread.h>

static double answer(void *arg)
{
    return *(double *)arg;
}

static void test_text_format(void)
{
    cs_metrics_t *m = cs_metrics_new();
    cs_counter_t *c = cs_metrics_counter(m, "chatstream_things_total", "kind=\"a\"", "Things.");
    cs_counter_add(c, 3);
    cs_counter_inc(cs_metrics_counter(m, "chatstream_things_total", "kind=\"b\"", "Things."));
    /* registering again returns the same series */
    CHECK(cs_metrics_counter(m, "chatstream_things_total", "kind=\"a\"", "Things.") == c);
    /* the same name with another type is refused */
    CHECK(cs_metrics_gauge(m, "chatstream_things_total", NULL, "x") == NULL);
    cs_gauge_t *g = cs_metrics_gauge(m, "chatstream_level", NULL, "Level.");
    cs_gauge_set(g, 2.5);
    cs_gauge_add(g, -1);
    double v = 7;
    cs_metrics_gauge_fn(m, "chatstream_computed", NULL, "Computed.", answer, &v);
    const double b[] = {0.25, 1};
    cs_histogram_t *h = cs_metrics_histogram(m, "chatstream_seconds", "op=\"x\"", "Time.", b, 2);
    cs_histogram_observe(h, 0.125);
    cs_histogram_observe(h, 0.5);
    cs_histogram_observe(h, 4);
    cs_histogram_observe(h, 0.25); /* on a bound: counted in that bucket (le) */

    cs_buf_t out = CS_BUF_INIT;
    cs_metrics_render(m, &out);
    const char *expected =
        "# HELP chatstream_things_total Things.\n"
        "# TYPE chatstream_things_total counter\n"
        "chatstream_things_total{kind=\"a\"} 3\n"
        "chatstream_things_total{kind=\"b\"} 1\n"
        "# HELP chatstream_level Level.\n"
        "# TYPE chatstream_level gauge\n"
        "chatstream_level 1.5\n"
        "# HELP chatstream_computed Computed.\n"
        "# TYPE chatstream_computed gauge\n"
        "chatstream_computed 7\n"
        "# HELP chatstream_seconds Time.\n"
        "# TYPE chatstream_seconds histogram\n"
        "chatstream_seconds_bucket{op=\"x\",le=\"0.25\"} 2\n"
        "chatstream_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
        "chatstream_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
        "chatstream_seconds_sum{op=\"x\"} 4.875\n"
        "chatstream_seconds_count{op=\"x\"} 4\n";
    CHECK_STR(out.data, expected);
    cs_buf_free(&out);

    /* a removed series disappears, and its family's header with it */
    cs_metrics_remove(m, g);
    cs_metrics_render(m, &out);
    CHECK(strstr(out.data, "chatstream_level") == NULL);
    cs_buf_free(&out);
    /* NULL series are harmless no-ops */
    cs_counter_inc(NULL);
    cs_gauge_set(NULL, 1);
    cs_histogram_observe(NULL, 1);
    cs_metrics_destroy(m);
}

static cs_counter_t *shared_counter;
static cs_histogram_t *shared_hist;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        cs_counter_inc(shared_counter);
        cs_histogram_observe(shared_hist, 0.001);
    }
    return NULL;
}

static void test_concurrent_updates_are_not_lost(void)
{
    cs_metrics_t *m = cs_metrics_new();
    shared_counter = cs_metrics_counter(m, "chatstream_c_total", NULL, "c");
    shared_hist = cs_metrics_histogram(m, "chatstream_h_seconds", NULL, "h",
                                       cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(cs_counter_value(shared_counter), 400000);
    CHECK_INT(cs_histogram_count(shared_hist), 400000);
    cs_metrics_destroy(m);
}

int main(void)
{
    RUN(test_text_format);
    RUN(test_concurrent_updates_are_not_lost);
    CS_TEST_DONE();
}
