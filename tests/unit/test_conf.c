/* Configuration tables: defaults, file, environment, -X, ranges, errors, help. */
#include "cs_conf.h"
#include "cs_test.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct {
    char *name;
    int64_t count;
    bool flag;
    double ratio;
} demo_conf_t;

static const cs_conf_def_t demo_defs[] = {
    CS_CONF_ROW_STR(demo_conf_t, name, "demo.name", "alpha", 8, "A name."),
    CS_CONF_ROW_INT(demo_conf_t, count, "demo.count", "10", 1, 100, "A count."),
    CS_CONF_ROW_BOOL(demo_conf_t, flag, "demo.flag", "false", "A flag."),
    CS_CONF_ROW_DOUBLE(demo_conf_t, ratio, "demo.ratio", "0.5", 0, 1, "A ratio."),
};

static cs_conf_t *make(demo_conf_t *d)
{
    memset(d, 0, sizeof(*d));
    cs_conf_t *conf = cs_conf_new("demo", "a demo");
    cs_conf_add_section(conf, "Demo", demo_defs, sizeof(demo_defs) / sizeof(demo_defs[0]), d);
    return conf;
}

static void test_defaults_and_overrides(void)
{
    demo_conf_t d;
    char err[256];
    cs_conf_t *conf = make(&d);
    char *argv[] = {"demo", "-X", "demo.count=42", "--demo.flag=yes", "-Xkafka.linger.ms=7", NULL};
    setenv("CHATSTREAM_DEMO_RATIO", "0.25", 1);
    setenv("CHATSTREAM_KAFKA_SOCKET_KEEPALIVE_ENABLE", "true", 1);
    CHECK_INT(cs_conf_load(conf, 5, argv, err, sizeof(err)), CS_CONF_RUN);
    CHECK_STR(d.name, "alpha");
    CHECK_INT(d.count, 42);
    CHECK(d.flag);
    CHECK(d.ratio == 0.25);
    size_t n;
    const cs_conf_kv_t *kv = cs_conf_kafka_props(conf, &n);
    CHECK_INT(n, 2);
    bool linger = false, keepalive = false;
    for (size_t i = 0; i < n; i++) {
        linger |= strcmp(kv[i].key, "linger.ms") == 0 && strcmp(kv[i].value, "7") == 0;
        keepalive |= strcmp(kv[i].key, "socket.keepalive.enable") == 0;
    }
    CHECK(linger);
    CHECK(keepalive);
    unsetenv("CHATSTREAM_DEMO_RATIO");
    unsetenv("CHATSTREAM_KAFKA_SOCKET_KEEPALIVE_ENABLE");
    cs_conf_destroy(conf);
}

static void test_file_then_env_then_args(void)
{
    char path[] = "/tmp/cs_conf_test_XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# comment\n  demo.name = beta \n\ndemo.count=5\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    demo_conf_t d;
    char err[256];
    cs_conf_t *conf = make(&d);
    setenv("CHATSTREAM_DEMO_COUNT", "6", 1);
    char *argv[] = {"demo", "--config", path, NULL};
    CHECK_INT(cs_conf_load(conf, 3, argv, err, sizeof(err)), CS_CONF_RUN);
    CHECK_STR(d.name, "beta");   /* from the file, trimmed */
    CHECK_INT(d.count, 6);       /* the environment wins over the file */
    cs_conf_destroy(conf);

    conf = make(&d);
    char *argv2[] = {"demo", "--config", path, "-X", "demo.count=7", NULL};
    CHECK_INT(cs_conf_load(conf, 5, argv2, err, sizeof(err)), CS_CONF_RUN);
    CHECK_INT(d.count, 7);       /* and the command line over both */
    unsetenv("CHATSTREAM_DEMO_COUNT");
    cs_conf_destroy(conf);
    unlink(path);
}

static void expect_error(char **argv, int argc, const char *needle)
{
    demo_conf_t d;
    char err[256] = "";
    cs_conf_t *conf = make(&d);
    CHECK_INT(cs_conf_load(conf, argc, argv, err, sizeof(err)), CS_CONF_ERROR);
    CHECK_CONTAINS(err, needle);
    cs_conf_destroy(conf);
}

static void test_errors_are_clear(void)
{
    expect_error((char *[]){"demo", "-X", "demo.count=101", NULL}, 3, "outside [1, 100]");
    expect_error((char *[]){"demo", "-X", "demo.count=12abc", NULL}, 3, "not an integer");
    expect_error((char *[]){"demo", "-X", "demo.flag=maybe", NULL}, 3, "not a boolean");
    expect_error((char *[]){"demo", "-X", "demo.ratio=nan", NULL}, 3, "not a number");
    expect_error((char *[]){"demo", "-X", "demo.name=toolongname", NULL}, 3, "longer than 8");
    expect_error((char *[]){"demo", "-X", "demo.nope=1", NULL}, 3, "unknown configuration key");
    expect_error((char *[]){"demo", "stray", NULL}, 2, "unexpected argument");
    expect_error((char *[]){"demo", "-X", "=1", NULL}, 3, "expected key=value");
    expect_error((char *[]){"demo", "--config", "/nonexistent/x.conf", NULL}, 3, "cannot open");
    setenv("CHATSTREAM_DEMO_COUNT", "0", 1);
    expect_error((char *[]){"demo", NULL}, 1, "$CHATSTREAM_DEMO_COUNT");
    unsetenv("CHATSTREAM_DEMO_COUNT");
}

static void test_help_comes_from_the_table(void)
{
    demo_conf_t d;
    cs_conf_t *conf = make(&d);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cs_conf_print_help(conf, false, fp);
    fclose(fp);
    CHECK_CONTAINS(buf, "demo.count (int, 1..100, default '10')");
    CHECK_CONTAINS(buf, "env: CHATSTREAM_DEMO_COUNT");
    free(buf);
    fp = open_memstream(&buf, &len);
    cs_conf_print_help(conf, true, fp);
    fclose(fp);
    CHECK_CONTAINS(buf, "| `demo.ratio` | double | `0.5` | 0..1 | A ratio. |");
    free(buf);
    cs_conf_destroy(conf);
}

/* Every entry as written, empty ones included; a trailing comma adds none. */
static void test_list_next(void)
{
    static const struct { const char *list, *joined; int n; } cases[] = {
        {NULL, "", 0}, {"", "", 0}, {"a", "[a]", 1}, {"a,bc", "[a][bc]", 2},
        {"a,,b", "[a][][b]", 3}, {",a", "[][a]", 2}, {"a,", "[a]", 1}, {" x ,y", "[ x ][y]", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char joined[64] = "";
        int n = 0;
        size_t len;
        for (const char *cur = cases[i].list, *it; cs_conf_list_next(&cur, &it, &len); n++)
            snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "[%.*s]", (int)len,
                     it);
        CHECK_INT(n, cases[i].n);
        CHECK_STR(joined, cases[i].joined);
    }
}

int main(void)
{
    RUN(test_list_next);
    RUN(test_defaults_and_overrides);
    RUN(test_file_then_env_then_args);
    RUN(test_errors_are_clear);
    RUN(test_help_comes_from_the_table);
    CS_TEST_DONE();
}
