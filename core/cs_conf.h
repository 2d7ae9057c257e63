/*
 * cs_conf — configuration declared once, as tables.
 *
 * Each component declares its options as a table of cs_conf_def_t rows that
 * point into its own config struct. One loader fills every table, in order:
 *
 *   1. the row's default,
 *   2. a file (`--config FILE` or $CHATSTREAM_CONFIG): `key = value` lines, '#' comments,
 *   3. the environment: key "batch.max.records" is $CHATSTREAM_BATCH_MAX_RECORDS,
 *   4. the command line: `-X key=value` or `--key=value`.
 *
 * Keys starting with "kafka." are not in any table: they are passed straight to
 * librdkafka ("kafka.linger.ms=5"), to both clients, or to one of them with
 * "kafka.producer." / "kafka.consumer.". `--help` (and `--help=markdown` for the
 * docs) is generated from the same tables, so the documentation cannot drift.
 */
#ifndef CS_CONF_H
#define CS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CS_CONF_STR,    /* char *, owned by the config, freed by cs_conf_destroy */
    CS_CONF_INT,    /* int64_t, within [min, max] */
    CS_CONF_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
    CS_CONF_DOUBLE, /* double, within [min, max] */
} cs_conf_type_t;

typedef struct cs_conf_def {
    const char *name;    /* dotted key, e.g. "batch.max.records" */
    cs_conf_type_t type;
    size_t offset;       /* offsetof(the section's struct, field) */
    const char *defval;  /* default as text; NULL for an unset string */
    double min, max;     /* bounds for INT and DOUBLE; max length for STR when max > 0 */
    const char *desc;    /* one sentence for --help */
} cs_conf_def_t;

/* Row helpers, so a table reads like a list of options. */
#define CS_CONF_ROW_STR(st, field, key, def, maxlen, desc)                                         \
    {key, CS_CONF_STR, offsetof(st, field), def, 0, maxlen, desc}
#define CS_CONF_ROW_INT(st, field, key, def, lo, hi, desc)                                         \
    {key, CS_CONF_INT, offsetof(st, field), def, lo, hi, desc}
#define CS_CONF_ROW_BOOL(st, field, key, def, desc)                                                \
    {key, CS_CONF_BOOL, offsetof(st, field), def, 0, 1, desc}
#define CS_CONF_ROW_DOUBLE(st, field, key, def, lo, hi, desc)                                      \
    {key, CS_CONF_DOUBLE, offsetof(st, field), def, lo, hi, desc}

typedef struct cs_conf_section {
    const char *title;         /* heading in --help */
    const cs_conf_def_t *defs; /* rows */
    size_t ndefs;
    void *base;                /* the struct the rows' offsets point into */
} cs_conf_section_t;

typedef struct cs_conf_kv {
    char *key;   /* without the "kafka." prefix */
    char *value;
} cs_conf_kv_t;

typedef struct cs_conf cs_conf_t;

/* The result of parsing the command line. */
typedef enum {
    CS_CONF_RUN,     /* configuration loaded; run */
    CS_CONF_EXIT_OK, /* --help or --version printed; exit 0 */
    CS_CONF_ERROR,   /* errstr says what is wrong; exit 2 */
} cs_conf_result_t;

cs_conf_t *cs_conf_new(const char *program, const char *summary);
/* Registers a table; `base` must outlive the config. Call before cs_conf_load. */
void cs_conf_add_section(cs_conf_t *conf, const char *title, const cs_conf_def_t *defs,
                         size_t ndefs, void *base);
/* Like cs_conf_add_section, but the config allocates (zeroed) and frees the struct. */
void *cs_conf_add_owned_section(cs_conf_t *conf, const char *title, const cs_conf_def_t *defs,
                                size_t ndefs, size_t size);
/* Defaults, file, environment, then argv. Positional arguments are an error. */
cs_conf_result_t cs_conf_load(cs_conf_t *conf, int argc, char **argv, char *errstr,
                              size_t errstr_size);
/* Applies one key=value (also used by tests). */
bool cs_conf_set(cs_conf_t *conf, const char *key, const char *value, char *errstr,
                 size_t errstr_size);
/* librdkafka passthrough properties, in the order they were given. */
const cs_conf_kv_t *cs_conf_kafka_props(const cs_conf_t *conf, size_t *count);
/* Writes --help text (or a markdown table when markdown is true) to `out`. */
void cs_conf_print_help(const cs_conf_t *conf, bool markdown, void *out /* FILE * */);
/* Logs the effective configuration at info level (secrets redacted). */
void cs_conf_log(const cs_conf_t *conf);
/* Frees the strings the loader stored in every section, then the config. NULL-safe. */
void cs_conf_destroy(cs_conf_t *conf);

/*
 * Walks a comma-separated value: each call sets *item / *len to the next entry (as written:
 * possibly empty, not trimmed) and returns true; false once the list is done. *cursor starts
 * at the value (NULL or "": no entries); a trailing comma adds no entry.
 *   for (const char *c = list, *it; cs_conf_list_next(&c, &it, &n);) ...
 */
bool cs_conf_list_next(const char **cursor, const char **item, size_t *len);

/* "CHATSTREAM_BATCH_MAX_RECORDS" for "batch.max.records". */
void cs_conf_env_name(const char *key, char *out, size_t out_size);

#endif
