/*
 * gw_rooms — a loop's rooms: who of its sessions is in each, the room's recent pushes
 * (a rejoin's catch-up), and their lifetime. A room appears with its first member and is
 * freed rooms.linger.ms after its last one left (the sweep below) — at once if nothing was
 * ever pushed to it — so a gateway's memory follows the rooms its clients are in now, not
 * every room they were ever in. While a loop
 * keeps a room it is in the gateway's room set, which the Kafka thread asks before
 * decoding a fan-out record. Loop thread only (the set has its own lock).
 */
#include "gw_session.h"

#include "cs_hash.h"
#include "cs_log.h"
#include "cs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* The sweep runs at most this often: a room is freed within this much after its linger. */
#define GW_ROOMS_SWEEP_MS 1000

/* Rooms freed in one sweep that make it worth returning memory to the system. */
#define GW_ROOMS_TRIM_AFTER 64

_Static_assert(GW_MAX_LOOPS <= GW_ROOMSET_MAX_LOOPS, "a loop is one bit of a room's entry");

gw_room_t *gw_room_find(gw_loop_t *loop, const char *name)
{
    uint32_t b = cs_hash_keyed_str(name) % GW_ROOM_BUCKETS;
    for (gw_room_t *r = loop->rooms[b]; r; r = r->hnext)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

typedef struct gw_room_seed {
    gw_loop_t *loop;
    gw_room_t *room;
    char *arena; /* GW_FANOUT_ARENA bytes, malloc'd: a _Thread_local array would be in
                  * every thread's TLS, librdkafka's many included */
    size_t n;
} gw_room_seed_t;

/* One of the gateway's recent records of the room (gw_recent_each, its lock held). */
static void gw_room_seed_one(void *arg, uint64_t seq, const void *value, size_t len)
{
    gw_room_seed_t *sd = arg;
    cs_envelope_t env;
    char why[200];
    (void)seq;
    /* the Kafka thread refuses (and counts) a bad record of a room it decodes; one of a
     * room nobody kept was never decoded, and is left out here the same way */
    const char *bad = gw_fanout_decode(sd->room->name, strlen(sd->room->name), value, len, &env,
                                       sd->arena, why, sizeof(why));
    if (bad) {
        cs_log(CS_LOG_DEBUG, "rooms", "%s: a recent record left out: %s", sd->room->name, bad);
        return;
    }
    gw_frame_t *f = gw_frame_msg(&env);
    if (f) {
        gw_room_remember(sd->loop, sd->room, f);
        gw_frame_unref(f);
        sd->n++;
    }
}

/* A room starts with what the gateway read of it lately: in the room set first, so what
 * the Kafka thread reads from now on is posted here; the store after, for what came before
 * (gw_recent.h says why nothing falls between the two). */
static void gw_room_seed(gw_loop_t *loop, gw_room_t *r)
{
    gw_t *gw = loop->gw;
    if (gw->conf->recent_per_room == 0)
        return;
    gw_room_seed_t sd = {.loop = loop, .room = r, .arena = malloc(GW_FANOUT_ARENA)};
    if (!sd.arena)
        return; /* the room starts empty (seeded_seq 0: every post counts), as before the store */
    r->seeded_seq = gw_recent_each(gw->recent, r->name, strlen(r->name),
                                   (size_t)gw->conf->recent_per_room, cs_mono_ms(),
                                   gw_room_seed_one, &sd);
    free(sd.arena);
    if (sd.n)
        cs_counter_add(gw->m.recent_seeded, sd.n);
}

static gw_room_t *gw_room_new(gw_loop_t *loop, const char *name)
{
    gw_room_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (!gw_roomset_hold(loop->gw->rooms, r->name, loop->index)) {
        free(r);
        return NULL;
    }
    gw_room_seed(loop, r);
    uint32_t b = cs_hash_keyed_str(r->name) % GW_ROOM_BUCKETS;
    r->hnext = loop->rooms[b];
    loop->rooms[b] = r;
    return r;
}

/* Unlinked already. */
static void gw_room_free(gw_loop_t *loop, gw_room_t *r)
{
    gw_roomset_release(loop->gw->rooms, r->name, loop->index);
    for (size_t k = 0; k < r->recent_n; k++)
        gw_frame_unref(r->recent[k]); /* the ring wraps only when full: all slots used */
    free(r->recent);
    free(r->members);
    free(r);
}

gw_room_t *gw_room_join(gw_loop_t *loop, const char *name, gw_session_t *s)
{
    gw_room_t *r = gw_room_find(loop, name);
    if (!r && !(r = gw_room_new(loop, name)))
        return NULL;
    if (r->nmembers == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        gw_session_t **m = realloc(r->members, cap * sizeof(*m));
        if (!m) {
            if (r->nmembers == 0 && !r->idle_since_ms)
                gw_room_leave(loop, r, NULL); /* empty: freed like any other */
            return NULL;
        }
        r->members = m;
        r->cap = cap;
    }
    r->members[r->nmembers++] = s;
    r->idle_since_ms = 0;
    return r;
}

static void gw_rooms_sweep(lws_sorted_usec_list_t *sul);

static void gw_rooms_arm(gw_loop_t *loop, int64_t wait_ms)
{
    loop->rooms_sweep_armed = true;
    if (wait_ms < GW_ROOMS_SWEEP_MS)
        wait_ms = GW_ROOMS_SWEEP_MS;
    lws_sul_schedule(loop->ctx, 0, &loop->rooms_sul, gw_rooms_sweep, wait_ms * LWS_US_PER_MS);
}

void gw_room_leave(gw_loop_t *loop, gw_room_t *r, gw_session_t *s)
{
    for (size_t i = 0; s && i < r->nmembers; i++)
        if (r->members[i] == s) {
            r->members[i] = r->members[--r->nmembers];
            break;
        }
    if (r->nmembers > 0)
        return;
    if (r->recent_n == 0) {
        /* nothing pushed here: nothing for a rejoin to catch up from memory, so no reason
         * to linger (and joining and leaving made-up rooms costs the gateway nothing) */
        gw_room_t **pp = &loop->rooms[cs_hash_keyed_str(r->name) % GW_ROOM_BUCKETS];
        while (*pp != r)
            pp = &(*pp)->hnext;
        *pp = r->hnext;
        gw_room_free(loop, r);
        return;
    }
    int64_t now = cs_mono_ms();
    r->idle_since_ms = now > 0 ? now : 1;
    /* not while the gateway stops: the context's destruction closes the last sessions, and
     * gw_rooms_free_all frees what is left */
    if (!loop->rooms_sweep_armed && !atomic_load(&loop->gw->stop))
        gw_rooms_arm(loop, loop->gw->conf->rooms_linger_ms);
}

/* Frees the rooms empty for rooms.linger.ms; comes back for the others. */
static void gw_rooms_sweep(lws_sorted_usec_list_t *sul)
{
    gw_loop_t *loop = lws_container_of(sul, gw_loop_t, rooms_sul);
    int64_t linger = loop->gw->conf->rooms_linger_ms, now = cs_mono_ms(), next = -1;
    size_t freed = 0;
    loop->rooms_sweep_armed = false;
    for (size_t b = 0; b < GW_ROOM_BUCKETS; b++)
        for (gw_room_t **pp = &loop->rooms[b], *r; (r = *pp);) {
            if (!r->idle_since_ms || r->nmembers > 0) {
                pp = &r->hnext;
                continue;
            }
            int64_t due = r->idle_since_ms + linger;
            if (due <= now) {
                *pp = r->hnext;
                gw_room_free(loop, r);
                freed++;
                continue;
            }
            if (next < 0 || due < next)
                next = due;
            pp = &r->hnext;
        }
#ifdef __GLIBC__
    /* A room's ring is hundreds of small frames (~100 KB when full); glibc keeps freed small
     * blocks for reuse and the process would stay at its peak. Give them back when many
     * rooms went at once (2,000 rooms with full rings: 210 -> 43 MiB). */
    if (freed >= GW_ROOMS_TRIM_AFTER)
        malloc_trim(0);
#endif
    if (next >= 0)
        gw_rooms_arm(loop, next - now);
}

void gw_room_remember(gw_loop_t *loop, gw_room_t *r, gw_frame_t *f)
{
    size_t cap = (size_t)loop->gw->conf->recent_per_room;
    if (cap == 0)
        return;
    if (!r->recent && !(r->recent = calloc(cap, sizeof(*r->recent))))
        return;
    size_t slot = (r->recent_head + r->recent_n) % cap;
    if (r->recent_n == cap) {
        gw_frame_unref(r->recent[r->recent_head]);
        slot = r->recent_head;
        r->recent_head = (r->recent_head + 1) % cap;
    } else {
        r->recent_n++;
    }
    r->recent[slot] = gw_frame_ref(f);
}

void gw_rooms_free_all(gw_loop_t *loop)
{
    for (size_t b = 0; b < GW_ROOM_BUCKETS; b++) {
        for (gw_room_t *r = loop->rooms[b], *n; r; r = n) {
            n = r->hnext;
            gw_room_free(loop, r);
        }
        loop->rooms[b] = NULL;
    }
}
