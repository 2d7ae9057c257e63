/*
 * chatstream-gateway — holds clients' WebSockets, authenticates them, publishes their
 * messages to Kafka (acking once durable) and pushes each room's messages from the
 * fan-out topic to the members connected here. See gw.h for the threads.
 */
#include "gw_session.h"

#include "cs_log.h"
#include "cs_time.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static volatile sig_atomic_t gw_signal;
static void gw_on_signal(int sig)
{
    gw_signal = sig;
}

bool gw_ready(gw_t *gw, char *reason, size_t reason_size)
{
    if (atomic_load(&gw->draining)) {
        snprintf(reason, reason_size, "shutting down\n");
        return false;
    }
    if (!atomic_load(&gw->consumer_kctx.broker_up)) {
        snprintf(reason, reason_size, "no Kafka broker reachable\n");
        return false;
    }
    if (!atomic_load(&gw->fanout_assigned)) {
        snprintf(reason, reason_size, "not yet reading %s\n", gw->topic_fanout);
        return false;
    }
    /* a room started before the backfill is through would miss its later part; a backfill
     * held up (an open transaction at the end of a partition) stops holding after a while */
    int64_t until = atomic_load(&gw->backfill_until_ms);
    if (until && cs_mono_ms() < until) {
        snprintf(reason, reason_size, "reading the last fanout.recent.ms of %s\n",
                 gw->topic_fanout);
        return false;
    }
    return true;
}

static void gw_metrics_init(gw_t *gw)
{
    cs_metrics_t *m = gw->metrics;
    gw->m.connections = cs_metrics_gauge(m, "chatstream_gateway_connections", NULL,
                                         "Open WebSocket connections.");
    gw->m.connects = cs_metrics_counter(m, "chatstream_gateway_connects_total", NULL,
                                        "WebSocket connections accepted.");
    gw->m.received = cs_metrics_counter(m, "chatstream_gateway_messages_received_total", NULL,
                                        "Messages accepted from clients and handed to Kafka.");
    gw->m.sent_ok = cs_metrics_counter(m, "chatstream_gateway_messages_acked_total", NULL,
                                       "Messages acknowledged to their senders (durable).");
    gw->m.delivered = cs_metrics_counter(m, "chatstream_gateway_delivered_total", NULL,
                                         "Room messages queued to connected members.");
    gw->m.writes = cs_metrics_counter(m, "chatstream_gateway_writes_total", NULL,
                                      "Socket writes of queued frames to WebSocket clients.");
    gw->m.frames_written = cs_metrics_counter(m, "chatstream_gateway_frames_written_total", NULL,
                                              "Frames in those writes (per write: what "
                                              "ws.coalesce.ms buys; a send costs the same "
                                              "with 1 frame or 4).");
    gw->m.coalesced = cs_metrics_counter(m, "chatstream_gateway_coalesced_total", NULL,
                                         "Flushes held back because the socket was written "
                                         "less than ws.coalesce.ms ago.");
    gw->m.unavailable = cs_metrics_counter(m, "chatstream_gateway_unavailable_total", NULL,
                                           "Sends answered `unavailable` (Kafka could not take "
                                           "them).");
    gw->m.slow_readers = cs_metrics_counter(m, "chatstream_gateway_slow_readers_total", NULL,
                                            "Clients disconnected for not reading.");
    gw->m.auth_failures = cs_metrics_counter(m, "chatstream_gateway_auth_failures_total", NULL,
                                             "Tokens refused.");
    gw->m.fanout_local = cs_metrics_counter(m, "chatstream_gateway_fanout_records_total",
                                            "source=\"local\"",
                                            "Fan-out records read, from this region's topic or "
                                            "from other regions' mirrored topics.");
    gw->m.fanout_remote = cs_metrics_counter(m, "chatstream_gateway_fanout_records_total",
                                             "source=\"remote\"",
                                             "Fan-out records read, from this region's topic or "
                                             "from other regions' mirrored topics.");
    gw->m.fanout_repeats = cs_metrics_counter(m, "chatstream_gateway_fanout_repeats_total", NULL,
                                              "Fan-out records dropped because their message "
                                              "id was pushed already (mirror repeats).");
    gw->m.fanout_skipped = cs_metrics_counter(m, "chatstream_gateway_fanout_skipped_total", NULL,
                                              "Fan-out records skipped undecoded: no client of "
                                              "this gateway is in their room (by the record's "
                                              "key).");
    gw->m.fanout_backfilled = cs_metrics_counter(
        m, "chatstream_gateway_fanout_backfilled_total", NULL,
        "Fan-out records from before the gateway read its partitions (the last "
        "fanout.recent.ms of them, read at start): kept for rooms it starts, pushed to nobody.");
    gw->m.rooms = cs_metrics_gauge(m, "chatstream_gateway_rooms", NULL,
                                   "Rooms this gateway keeps: joined by one of its clients, or "
                                   "left less than rooms.linger.ms ago.");
    gw->m.recent_bytes = cs_metrics_gauge(m, "chatstream_gateway_recent_bytes", NULL,
                                          "Bytes of the recent fan-out records (every room's) "
                                          "kept to start rooms with (fanout.recent.bytes).");
    gw->m.recent_window_s = cs_metrics_gauge(
        m, "chatstream_gateway_recent_window_seconds", NULL,
        "How far back those records reach (fanout.recent.ms, less when fanout.recent.bytes "
        "is full): a catch-up on a room this gateway starts covers persist's delay up to it.");
    gw->m.recent_cut = cs_metrics_counter(
        m, "chatstream_gateway_recent_cut_total", NULL,
        "Recent fan-out records dropped before fanout.recent.ms because fanout.recent.bytes "
        "was full: catch-ups on rooms started here cover less of persist's delay.");
    gw->m.recent_seeded = cs_metrics_counter(m, "chatstream_gateway_recent_seeded_total", NULL,
                                             "Recent fan-out records a service thread started "
                                             "a room with (for the catch-up of its joiners).");
    gw->m.dedupe_window_s = cs_metrics_gauge(
        m, "chatstream_gateway_dedupe_window_seconds", NULL,
        "How far back, by message time, the ids of pushed messages are remembered "
        "(fanout.dedupe.ids of them at most); an older repeat would be pushed twice.");
    gw->m.ack_seconds = cs_metrics_histogram(m, "chatstream_gateway_ack_seconds", NULL,
                                             "Send accepted → durable in Kafka (the ack).",
                                             cs_metrics_latency_buckets,
                                             cs_metrics_latency_nbuckets);
    gw->m.loop_lag_seconds = cs_metrics_histogram(
        m, "chatstream_gateway_loop_lag_seconds", NULL,
        "Event-loop delay: an event posted to a service thread (a delivery, an ack) → the "
        "thread starts on it. Grows when the gateway or the machine runs out of CPU.",
        cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
    char l[64];
    for (int t = 0; t < gw->conf->threads && t < GW_MAX_LOOPS; t++) {
        snprintf(l, sizeof(l), "thread=\"%d\"", t);
        gw->m.coalesce_window_s[t] = cs_metrics_gauge(
            m, "chatstream_gateway_coalesce_window_seconds", l,
            "The coalescing window a service thread applies now (ws.coalesce.ms, opened by "
            "its event-loop delay when ws.coalesce.lag.us is set).");
    }
    for (int r = 0; r < GW_REJ__COUNT; r++) {
        snprintf(l, sizeof(l), "reason=\"%s\"", gw_reject_code((gw_reject_t)r));
        gw->m.rejected[r] = cs_metrics_counter(m, "chatstream_gateway_rejected_total", l,
                                               "Requests refused, by error code.");
    }
    for (int c = 0; c < GW_CLOSE__COUNT; c++) {
        snprintf(l, sizeof(l), "reason=\"%s\"", gw_close_name((gw_close_t)c));
        gw->m.closed[c] = cs_metrics_counter(m, "chatstream_gateway_closed_total", l,
                                             "Connections closed by the server, by reason.");
    }
}

/* SIGTERM: stop accepting (connections and sends), let the last sends' acks out, then
 * close every WebSocket with 1001 so clients reconnect elsewhere at once — all within
 * grace_ms, which the deployment's terminationGracePeriodSeconds must exceed. */
static void gw_drain(gw_t *gw, int64_t grace_ms)
{
    int64_t deadline = cs_mono_ms() + grace_ms;
    atomic_store(&gw->draining, true);
    gw_acceptor_stop(gw);
    gw_kafka_drain(gw, grace_ms / 2);
    for (int i = 0; i < gw->nloops; i++) {
        gw_event_t *ev = calloc(1, sizeof(*ev));
        if (ev) {
            ev->kind = GW_EV_SHUTDOWN;
            gw_loop_post(gw->loops[i], ev);
        }
    }
    while (cs_gauge_value(gw->m.connections) > 0 && cs_mono_ms() < deadline)
        usleep(20 * 1000);
    double left = cs_gauge_value(gw->m.connections);
    if (left > 0)
        cs_log(CS_LOG_WARN, "shutdown", "%.0f connection(s) still open after %lld ms; dropping "
               "them", left, (long long)grace_ms);
}

static bool gw_load_secret(gw_t *gw, char *errstr, size_t errstr_size)
{
    const gw_conf_t *c = gw->conf;
    if (strcmp(c->auth_mode, "dev") == 0) {
        cs_log(CS_LOG_WARN, "auth", "DEV MODE: clients choose their own user id; never expose "
                                    "this gateway");
        if (!cs_jwt_conf_has_secret(&c->jwt))
            return true; /* dev mode with a secret verifies tokens too */
    } else if (strcmp(c->auth_mode, "jwt") != 0) {
        snprintf(errstr, errstr_size, "auth.mode must be jwt or dev");
        return false;
    }
    return cs_jwt_verifier_load(&c->jwt, gw->secret, &gw->verifier, errstr, errstr_size) ==
           CS_ERR_OK;
}

int main(int argc, char **argv)
{
    static gw_t gw_static;
    static gw_conf_t conf;
    gw_t *gw = &gw_static;
    char errstr[512];
    int status = 1;
    cs_log_set_app("gateway");
    gw->conf = &conf;
    gw->listen_fd = -1;
    gw->cs_conf = cs_conf_new("chatstream-gateway",
                              "WebSocket + HTTP gateway: authenticates clients, publishes their "
                              "messages to Kafka, pushes rooms' messages to them.");
    cs_conf_add_section(gw->cs_conf, "Gateway", gw_conf_defs, gw_conf_ndefs, &conf);
    cs_conf_add_section(gw->cs_conf, "JWT", cs_jwt_conf_defs, cs_jwt_conf_ndefs, &conf.jwt);
    switch (cs_conf_load(gw->cs_conf, argc, argv, errstr, sizeof(errstr))) {
    case CS_CONF_EXIT_OK:
        cs_conf_destroy(gw->cs_conf);
        return 0;
    case CS_CONF_ERROR:
        fprintf(stderr, "chatstream-gateway: %s\n", errstr);
        cs_conf_destroy(gw->cs_conf);
        return 2;
    case CS_CONF_RUN:
        break;
    }
    if (!cs_log_level_parse(conf.log_level, &cs_log_threshold)) {
        fprintf(stderr, "chatstream-gateway: log.level %s: use error, warn, info or debug\n",
                conf.log_level);
        cs_conf_destroy(gw->cs_conf);
        return 2;
    }
    if (strcmp(conf.event_lib, "uv") != 0 && strcmp(conf.event_lib, "poll") != 0) {
        fprintf(stderr, "chatstream-gateway: event.lib %s: use uv or poll\n", conf.event_lib);
        cs_conf_destroy(gw->cs_conf);
        return 2;
    }
    cs_conf_log(gw->cs_conf);
    static char web_root_default[] = CS_GW_WEB_ROOT;
    char *web_root_loaded = conf.web_root; /* the loader's, to give back before it frees */
    if (!conf.web_root || !*conf.web_root)
        conf.web_root = web_root_default;
    /* many connections need many descriptors: take what the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, gw_on_signal);
    signal(SIGINT, gw_on_signal);
    lws_set_log_level(LLL_ERR, NULL);
    gw->metrics = cs_metrics_new();
    gw_metrics_init(gw);
    cs_kafka_topic_name(conf.topic_prefix, "chat.messages", gw->topic_messages,
                        sizeof(gw->topic_messages));
    cs_kafka_topic_name(conf.topic_prefix, "chat.fanout", gw->topic_fanout,
                        sizeof(gw->topic_fanout));
    if (!gw_load_secret(gw, errstr, sizeof(errstr)))
        goto fail;
    if (!(gw->rooms = gw_roomset_new(gw->m.rooms)) ||
        !(gw->recent = gw_recent_new(conf.recent_ms, (size_t)conf.recent_bytes))) {
        snprintf(errstr, sizeof(errstr), "out of memory");
        goto fail;
    }
    if (!(gw->limits = gw_limits_new(&conf)) ||
        !(gw->history = gw_history_new(gw, errstr, sizeof(errstr))))
        goto fail;
    for (int i = 0; i < conf.threads; i++) {
        if (!(gw->loops[i] = gw_loop_new(gw, i, errstr, sizeof(errstr))))
            goto fail;
        gw->nloops++;
    }
    if (!gw_kafka_start(gw, errstr, sizeof(errstr)))
        goto fail;
    for (int i = 0; i < gw->nloops; i++)
        gw_loop_start(gw->loops[i]);
    if (!gw_acceptor_start(gw, errstr, sizeof(errstr)))
        goto fail;
    cs_log(CS_LOG_INFO, "setup", "listening on %s:%lld with %d thread(s), auth %s; %s → %s",
           conf.host, (long long)conf.port, gw->nloops, conf.auth_mode, gw->topic_messages,
           gw->topic_fanout);
    while (!gw_signal)
        usleep(100 * 1000);
    cs_log(CS_LOG_INFO, "shutdown", "signal %d: closing connections", (int)gw_signal);
    gw_drain(gw, conf.shutdown_grace_ms);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "chatstream-gateway: %s\n", errstr);
    cs_log(CS_LOG_ERROR, "setup", "%s", errstr);
out:
    atomic_store(&gw->stop, true);
    gw_acceptor_stop(gw);
    for (int i = 0; i < gw->nloops; i++)
        gw_loop_stop(gw->loops[i]);
    gw_kafka_stop(gw);
    gw_history_destroy(gw->history);
    for (int i = 0; i < gw->nloops; i++)
        gw_loop_destroy(gw->loops[i]);
    gw_limits_destroy(gw->limits);
    gw_roomset_destroy(gw->rooms);
    gw_recent_destroy(gw->recent);
    cs_metrics_destroy(gw->metrics);
    conf.web_root = web_root_loaded;
    cs_conf_destroy(gw->cs_conf);
    cs_log(CS_LOG_INFO, "shutdown", "clean exit");
    return status;
}
