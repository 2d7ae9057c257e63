/*
 * gw_limits — limits shared by every loop: a token bucket per user (messages per second,
 * across all of a user's connections on this gateway) and a connection count per client
 * address. One mutex: each operation is a hash lookup and a few arithmetic steps.
 * Buckets that have refilled completely carry no information and are dropped when the
 * table grows, so memory follows the active users, not all users ever seen.
 */
#include "gw.h"

#include "cs_hash.h"

#include <stdlib.h>
#include <string.h>

#define GW_LIMITS_BUCKETS 16384

typedef struct gw_bucket {
    struct gw_bucket *next;
    gw_tokens_t t;
    char key[];
} gw_bucket_t;

typedef struct gw_ipcount {
    struct gw_ipcount *next;
    int64_t n;
    char ip[64];
} gw_ipcount_t;

struct gw_limits {
    pthread_mutex_t lock;
    double rate;
    double burst;
    int64_t max_per_ip;
    size_t nbuckets;
    gw_bucket_t *users[GW_LIMITS_BUCKETS];
    gw_ipcount_t *ips[GW_LIMITS_BUCKETS];
};

static uint32_t gw_limits_hash(const char *s)
{
    return cs_hash_keyed_str(s) % GW_LIMITS_BUCKETS;
}

struct gw_limits *gw_limits_new(const gw_conf_t *conf)
{
    struct gw_limits *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    l->rate = conf->rate;
    l->burst = (double)conf->burst;
    l->max_per_ip = conf->max_conns_per_ip;
    return l;
}

void gw_limits_destroy(struct gw_limits *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < GW_LIMITS_BUCKETS; i++) {
        for (gw_bucket_t *b = l->users[i], *n; b; b = n) {
            n = b->next;
            free(b);
        }
        for (gw_ipcount_t *c = l->ips[i], *n; c; c = n) {
            n = c->next;
            free(c);
        }
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void gw_tokens_refill(gw_tokens_t *t, double rate, double burst, int64_t now_ms)
{
    t->tokens += (double)(now_ms - t->at_ms) * rate / 1000.0;
    if (t->tokens > burst)
        t->tokens = burst;
    t->at_ms = now_ms;
}

bool gw_tokens_take(gw_tokens_t *t, double rate, double burst, int64_t now_ms,
                    int64_t *retry_ms)
{
    gw_tokens_refill(t, rate, burst, now_ms);
    if (t->tokens >= 1.0) {
        t->tokens -= 1.0;
        return true;
    }
    *retry_ms = (int64_t)((1.0 - t->tokens) * 1000.0 / rate) + 1;
    return false;
}

/* With the lock held: drops full buckets (a full bucket is the same as no bucket). */
static void gw_limits_sweep(struct gw_limits *l, int64_t now_ms)
{
    for (size_t i = 0; i < GW_LIMITS_BUCKETS; i++) {
        gw_bucket_t **pp = &l->users[i];
        while (*pp) {
            gw_bucket_t *b = *pp;
            gw_tokens_refill(&b->t, l->rate, l->burst, now_ms);
            if (b->t.tokens >= l->burst) {
                *pp = b->next;
                free(b);
                l->nbuckets--;
            } else {
                pp = &b->next;
            }
        }
    }
}

bool gw_limits_take(struct gw_limits *l, const char *user, int64_t now_ms, int64_t *retry_ms)
{
    bool ok = false;
    uint32_t h = gw_limits_hash(user);
    pthread_mutex_lock(&l->lock);
    gw_bucket_t *b = l->users[h];
    while (b && strcmp(b->key, user) != 0)
        b = b->next;
    if (!b) {
        if (l->nbuckets >= 4 * GW_LIMITS_BUCKETS)
            gw_limits_sweep(l, now_ms);
        size_t len = strlen(user) + 1;
        b = malloc(sizeof(*b) + len);
        if (!b)
            goto done;
        memcpy(b->key, user, len);
        b->t = (gw_tokens_t){.tokens = l->burst, .at_ms = now_ms};
        b->next = l->users[h];
        l->users[h] = b;
        l->nbuckets++;
    }
    ok = gw_tokens_take(&b->t, l->rate, l->burst, now_ms, retry_ms);
done:
    pthread_mutex_unlock(&l->lock);
    return ok;
}

bool gw_limits_conn_open(struct gw_limits *l, const char *ip)
{
    uint32_t h = gw_limits_hash(ip);
    bool ok = false;
    pthread_mutex_lock(&l->lock);
    gw_ipcount_t *c = l->ips[h];
    while (c && strcmp(c->ip, ip) != 0)
        c = c->next;
    if (!c && (c = calloc(1, sizeof(*c)))) {
        strncpy(c->ip, ip, sizeof(c->ip) - 1);
        c->next = l->ips[h];
        l->ips[h] = c;
    }
    if (c && c->n < l->max_per_ip) {
        c->n++;
        ok = true;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void gw_limits_conn_close(struct gw_limits *l, const char *ip)
{
    uint32_t h = gw_limits_hash(ip);
    pthread_mutex_lock(&l->lock);
    for (gw_ipcount_t **pp = &l->ips[h]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ip, ip) == 0) {
            if (--(*pp)->n == 0) {
                gw_ipcount_t *c = *pp;
                *pp = c->next;
                free(c);
            }
            break;
        }
    }
    pthread_mutex_unlock(&l->lock);
}
