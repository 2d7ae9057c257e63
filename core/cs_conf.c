#include "cs_conf.h"
#include "cs_log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

#define CS_CONF_MAX_SECTIONS 16
#define CS_CONF_MAX_KAFKA 128
#define CS_CONF_LINE_MAX 4096

struct cs_conf {
    void *owned[CS_CONF_MAX_SECTIONS]; /* section structs allocated by the config */
    size_t nowned;
    const char *program;
    const char *summary;
    cs_conf_section_t sections[CS_CONF_MAX_SECTIONS];
    size_t nsections;
    cs_conf_kv_t kafka[CS_CONF_MAX_KAFKA];
    size_t nkafka;
};

void *cs_conf_add_owned_section(cs_conf_t *conf, const char *title, const cs_conf_def_t *defs,
                                size_t ndefs, size_t size)
{
    void *base = calloc(1, size ? size : 1);
    if (!base || conf->nowned >= CS_CONF_MAX_SECTIONS) {
        free(base);
        return NULL;
    }
    conf->owned[conf->nowned++] = base;
    cs_conf_add_section(conf, title, defs, ndefs, base);
    return base;
}

static const char *const cs_conf_type_names[] = {"string", "int", "bool", "double"};

cs_conf_t *cs_conf_new(const char *program, const char *summary)
{
    cs_conf_t *conf = calloc(1, sizeof(*conf));
    if (!conf)
        return NULL;
    conf->program = program;
    conf->summary = summary;
    return conf;
}

void cs_conf_add_section(cs_conf_t *conf, const char *title, const cs_conf_def_t *defs,
                         size_t ndefs, void *base)
{
    if (conf->nsections >= CS_CONF_MAX_SECTIONS)
        abort(); /* a programming error, caught by the first test run */
    conf->sections[conf->nsections++] = (cs_conf_section_t){title, defs, ndefs, base};
}

void cs_conf_env_name(const char *key, char *out, size_t out_size)
{
    size_t n = (size_t)snprintf(out, out_size, "CHATSTREAM_");
    for (const char *p = key; *p && n + 1 < out_size; p++)
        out[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[n < out_size ? n : out_size - 1] = '\0';
}

static const cs_conf_def_t *cs_conf_find(cs_conf_t *conf, const char *key, void **base)
{
    for (size_t s = 0; s < conf->nsections; s++) {
        for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
            if (strcmp(conf->sections[s].defs[i].name, key) == 0) {
                *base = conf->sections[s].base;
                return &conf->sections[s].defs[i];
            }
        }
    }
    return NULL;
}

static bool cs_conf_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return (*out = true), true;
        if (strcasecmp(v, no[i]) == 0)
            return (*out = false), true;
    }
    return false;
}

static bool cs_conf_set_kafka(cs_conf_t *conf, const char *key, const char *value, char *errstr,
                              size_t errstr_size)
{
    const char *prop = key + strlen("kafka.");
    if (!*prop) {
        snprintf(errstr, errstr_size, "'%s': missing librdkafka property name", key);
        return false;
    }
    /* A later setting of the same property replaces the earlier one. */
    for (size_t i = 0; i < conf->nkafka; i++) {
        if (strcmp(conf->kafka[i].key, prop) == 0) {
            char *v = strdup(value);
            if (!v)
                goto oom;
            free(conf->kafka[i].value);
            conf->kafka[i].value = v;
            return true;
        }
    }
    if (conf->nkafka >= CS_CONF_MAX_KAFKA) {
        snprintf(errstr, errstr_size, "too many kafka.* properties (max %d)", CS_CONF_MAX_KAFKA);
        return false;
    }
    char *k = strdup(prop), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        goto oom;
    }
    conf->kafka[conf->nkafka++] = (cs_conf_kv_t){k, v};
    return true;
oom:
    snprintf(errstr, errstr_size, "out of memory");
    return false;
}

bool cs_conf_set(cs_conf_t *conf, const char *key, const char *value, char *errstr,
                 size_t errstr_size)
{
    if (strncmp(key, "kafka.", 6) == 0)
        return cs_conf_set_kafka(conf, key, value, errstr, errstr_size);

    void *base = NULL;
    const cs_conf_def_t *def = cs_conf_find(conf, key, &base);
    if (!def) {
        snprintf(errstr, errstr_size, "unknown configuration key '%s' (see --help)", key);
        return false;
    }
    void *field = (char *)base + def->offset;
    switch (def->type) {
    case CS_CONF_STR: {
        size_t len = strlen(value);
        if (def->max > 0 && (double)len > def->max) {
            snprintf(errstr, errstr_size, "'%s': value longer than %.0f bytes", key, def->max);
            return false;
        }
        char *copy = strdup(value);
        if (!copy) {
            snprintf(errstr, errstr_size, "out of memory");
            return false;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return true;
    }
    case CS_CONF_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end != '\0') {
            snprintf(errstr, errstr_size, "'%s': '%s' is not an integer", key, value);
            return false;
        }
        if ((double)v < def->min || (double)v > def->max) {
            snprintf(errstr, errstr_size, "'%s': %lld is outside [%.0f, %.0f]", key, v, def->min,
                     def->max);
            return false;
        }
        *(int64_t *)field = (int64_t)v;
        return true;
    }
    case CS_CONF_BOOL:
        if (!cs_conf_parse_bool(value, (bool *)field)) {
            snprintf(errstr, errstr_size, "'%s': '%s' is not a boolean (true/false)", key, value);
            return false;
        }
        return true;
    case CS_CONF_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end != '\0' || !isfinite(v)) {
            snprintf(errstr, errstr_size, "'%s': '%s' is not a number", key, value);
            return false;
        }
        if (v < def->min || v > def->max) {
            snprintf(errstr, errstr_size, "'%s': %g is outside [%g, %g]", key, v, def->min,
                     def->max);
            return false;
        }
        *(double *)field = v;
        return true;
    }
    }
    return false;
}

static bool cs_conf_defaults(cs_conf_t *conf, char *errstr, size_t errstr_size)
{
    for (size_t s = 0; s < conf->nsections; s++) {
        for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
            const cs_conf_def_t *def = &conf->sections[s].defs[i];
            if (!def->defval)
                continue;
            if (!cs_conf_set(conf, def->name, def->defval, errstr, errstr_size))
                return false; /* a bad default is a bug; the unit tests load every table */
        }
    }
    return true;
}

static char *cs_conf_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static bool cs_conf_load_file(cs_conf_t *conf, const char *path, char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(errstr, errstr_size, "cannot open config file '%s': %s", path, strerror(errno));
        return false;
    }
    char line[CS_CONF_LINE_MAX];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), fp)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(fp)) {
            snprintf(errstr, errstr_size, "%s:%d: line longer than %d bytes", path, lineno,
                     CS_CONF_LINE_MAX - 1);
            ok = false;
            break;
        }
        char *s = cs_conf_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(errstr, errstr_size, "%s:%d: expected 'key = value'", path, lineno);
            ok = false;
            break;
        }
        *eq = '\0';
        char msg[256];
        if (!cs_conf_set(conf, cs_conf_trim(s), cs_conf_trim(eq + 1), msg, sizeof(msg))) {
            snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, msg);
            ok = false;
        }
    }
    fclose(fp);
    return ok;
}

static bool cs_conf_load_env(cs_conf_t *conf, char *errstr, size_t errstr_size)
{
    char env[256];
    for (size_t s = 0; s < conf->nsections; s++) {
        for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
            const cs_conf_def_t *def = &conf->sections[s].defs[i];
            cs_conf_env_name(def->name, env, sizeof(env));
            const char *v = getenv(env);
            char msg[256];
            if (v && !cs_conf_set(conf, def->name, v, msg, sizeof(msg))) {
                snprintf(errstr, errstr_size, "$%s: %s", env, msg);
                return false;
            }
        }
    }
    /* CHATSTREAM_KAFKA_LINGER_MS=5 -> kafka.linger.ms=5 (librdkafka names use dots only). */
    static const char prefix[] = "CHATSTREAM_KAFKA_";
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof(prefix) - 1) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char key[256] = "kafka.";
        size_t n = strlen(key);
        for (const char *p = *e + sizeof(prefix) - 1; p < eq && n + 1 < sizeof(key); p++)
            key[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[n] = '\0';
        if (!cs_conf_set(conf, key, eq + 1, errstr, errstr_size))
            return false;
    }
    return true;
}

/* Finds "--config FILE" / "--config=FILE" without applying anything else yet. */
static const char *cs_conf_file_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return getenv("CHATSTREAM_CONFIG");
}

static bool cs_conf_apply_kv(cs_conf_t *conf, const char *kv, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        snprintf(errstr, errstr_size, "expected key=value, got '%s'", kv);
        return false;
    }
    char key[256];
    size_t klen = (size_t)(eq - kv);
    if (klen >= sizeof(key)) {
        snprintf(errstr, errstr_size, "configuration key too long");
        return false;
    }
    memcpy(key, kv, klen);
    key[klen] = '\0';
    return cs_conf_set(conf, key, eq + 1, errstr, errstr_size);
}

cs_conf_result_t cs_conf_load(cs_conf_t *conf, int argc, char **argv, char *errstr,
                              size_t errstr_size)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cs_conf_print_help(conf, false, stdout);
            return CS_CONF_EXIT_OK;
        }
        if (strcmp(argv[i], "--help=markdown") == 0) {
            cs_conf_print_help(conf, true, stdout);
            return CS_CONF_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", conf->program, CS_VERSION);
            return CS_CONF_EXIT_OK;
        }
    }
    if (!cs_conf_defaults(conf, errstr, errstr_size))
        return CS_CONF_ERROR;
    const char *file = cs_conf_file_arg(argc, argv);
    if (file && !cs_conf_load_file(conf, file, errstr, errstr_size))
        return CS_CONF_ERROR;
    if (!cs_conf_load_env(conf, errstr, errstr_size))
        return CS_CONF_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
        } else if (strncmp(a, "--config=", 9) == 0) {
            continue;
        } else if (strcmp(a, "-X") == 0) {
            if (i + 1 >= argc) {
                snprintf(errstr, errstr_size, "-X needs key=value");
                return CS_CONF_ERROR;
            }
            if (!cs_conf_apply_kv(conf, argv[++i], errstr, errstr_size))
                return CS_CONF_ERROR;
        } else if (strncmp(a, "-X", 2) == 0) {
            if (!cs_conf_apply_kv(conf, a + 2, errstr, errstr_size))
                return CS_CONF_ERROR;
        } else if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) {
            if (!cs_conf_apply_kv(conf, a + 2, errstr, errstr_size))
                return CS_CONF_ERROR;
        } else {
            snprintf(errstr, errstr_size, "unexpected argument '%s' (see --help)", a);
            return CS_CONF_ERROR;
        }
    }
    return CS_CONF_RUN;
}

const cs_conf_kv_t *cs_conf_kafka_props(const cs_conf_t *conf, size_t *count)
{
    *count = conf->nkafka;
    return conf->kafka;
}

static void cs_conf_format_value(const cs_conf_def_t *def, const void *base, char *out,
                                 size_t out_size)
{
    const void *field = (const char *)base + def->offset;
    switch (def->type) {
    case CS_CONF_STR: {
        const char *s = *(char *const *)field;
        snprintf(out, out_size, "%s", s ? s : "");
        break;
    }
    case CS_CONF_INT:
        snprintf(out, out_size, "%lld", (long long)*(const int64_t *)field);
        break;
    case CS_CONF_BOOL:
        snprintf(out, out_size, "%s", *(const bool *)field ? "true" : "false");
        break;
    case CS_CONF_DOUBLE:
        snprintf(out, out_size, "%g", *(const double *)field);
        break;
    }
}

static bool cs_conf_is_secret(const char *key)
{
    static const char *const words[] = {"password", "secret", "token", "api.key", "credentials"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(key, words[i]))
            return true;
    return false;
}

void cs_conf_log(const cs_conf_t *conf)
{
    for (size_t s = 0; s < conf->nsections; s++) {
        for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
            const cs_conf_def_t *def = &conf->sections[s].defs[i];
            char v[512];
            cs_conf_format_value(def, conf->sections[s].base, v, sizeof(v));
            cs_log(CS_LOG_DEBUG, "conf", "%s = %s", def->name,
                   cs_conf_is_secret(def->name) && *v ? "(redacted)" : v);
        }
    }
    for (size_t i = 0; i < conf->nkafka; i++)
        cs_log(CS_LOG_DEBUG, "conf", "kafka.%s = %s", conf->kafka[i].key,
               cs_conf_is_secret(conf->kafka[i].key) ? "(redacted)" : conf->kafka[i].value);
}

static void cs_conf_range(const cs_conf_def_t *def, char *out, size_t out_size)
{
    out[0] = '\0';
    if (def->type == CS_CONF_INT)
        snprintf(out, out_size, "%.0f..%.0f", def->min, def->max);
    else if (def->type == CS_CONF_DOUBLE)
        snprintf(out, out_size, "%g..%g", def->min, def->max);
    else if (def->type == CS_CONF_STR && def->max > 0)
        snprintf(out, out_size, "max %.0f bytes", def->max);
}

void cs_conf_print_help(const cs_conf_t *conf, bool markdown, void *out)
{
    FILE *fp = out;
    char env[256], range[64];
    if (markdown) {
        for (size_t s = 0; s < conf->nsections; s++) {
            fprintf(fp, "\n#### %s\n\n| key | type | default | range | description |\n"
                        "|---|---|---|---|---|\n",
                    conf->sections[s].title);
            for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
                const cs_conf_def_t *def = &conf->sections[s].defs[i];
                cs_conf_range(def, range, sizeof(range));
                fprintf(fp, "| `%s` | %s | `%s` | %s | %s |\n", def->name,
                        cs_conf_type_names[def->type], def->defval ? def->defval : "", range,
                        def->desc);
            }
        }
        return;
    }
    fprintf(fp,
            "Usage: %s [--config FILE] [-X key=value]... [--key=value]...\n\n%s\n\n"
            "Every key can also be set in the environment (shown under each key) or in a\n"
            "config file of 'key = value' lines. Keys starting with 'kafka.' are passed to\n"
            "librdkafka ('kafka.producer.' / 'kafka.consumer.' for one client only).\n",
            conf->program, conf->summary);
    for (size_t s = 0; s < conf->nsections; s++) {
        fprintf(fp, "\n%s:\n", conf->sections[s].title);
        for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
            const cs_conf_def_t *def = &conf->sections[s].defs[i];
            cs_conf_env_name(def->name, env, sizeof(env));
            cs_conf_range(def, range, sizeof(range));
            fprintf(fp, "  %s (%s%s%s, default '%s')\n      %s\n      env: %s\n", def->name,
                    cs_conf_type_names[def->type], *range ? ", " : "", range,
                    def->defval ? def->defval : "", def->desc, env);
        }
    }
}

void cs_conf_destroy(cs_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t s = 0; s < conf->nsections; s++) {
        for (size_t i = 0; i < conf->sections[s].ndefs; i++) {
            const cs_conf_def_t *def = &conf->sections[s].defs[i];
            if (def->type == CS_CONF_STR) {
                char **field = (char **)((char *)conf->sections[s].base + def->offset);
                free(*field);
                *field = NULL;
            }
        }
    }
    for (size_t i = 0; i < conf->nkafka; i++) {
        free(conf->kafka[i].key);
        free(conf->kafka[i].value);
    }
    for (size_t i = 0; i < conf->nowned; i++)
        free(conf->owned[i]);
    free(conf);
}

bool cs_conf_list_next(const char **cursor, const char **item, size_t *len)
{
    const char *p = *cursor;
    if (!p || !*p)
        return false;
    const char *end = strchr(p, ',');
    *item = p;
    *len = end ? (size_t)(end - p) : strlen(p);
    *cursor = end ? end + 1 : p + *len;
    return true;
}
