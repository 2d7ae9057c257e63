/* gw_conf — the gateway's options, declared once (--help and the README come from here). */
#include "gw.h"

#define R_STR(f, k, d, n, h) CS_CONF_ROW_STR(gw_conf_t, f, k, d, n, h)
#define R_INT(f, k, d, lo, hi, h) CS_CONF_ROW_INT(gw_conf_t, f, k, d, lo, hi, h)

const cs_conf_def_t gw_conf_defs[] = {
    R_STR(host, "listen.host", "127.0.0.1", 255, "Address to listen on (WebSocket + HTTP)."),
    R_INT(port, "listen.port", "8080", 1, 65535, "Port for WebSocket (/v1/ws) and HTTP."),
    R_INT(threads, "threads", "2", 1, GW_MAX_LOOPS,
          "Service threads, each a libwebsockets context on the shared port (SO_REUSEPORT)."),
    R_STR(brokers, "brokers", "127.0.0.1:9092", 4096, "Kafka bootstrap servers."),
    R_STR(topic_prefix, "topic.prefix", "", 64, "Prefix of every topic name."),
    R_STR(auth_mode, "auth.mode", "jwt", 8,
          "jwt (HS256 tokens) or dev (anyone may claim any user id: demos only)."),
    R_INT(auth_timeout_ms, "auth.timeout.ms", "10000", 100, 600000,
          "A connection must authenticate within this time (else close 4401)."),
    R_STR(origins, "origins", "", 4096,
          "Comma-separated Origin allowlist for WebSockets (empty: any origin)."),
    R_INT(max_frame, "ws.max.frame.bytes", "8192", 256, 1048576,
          "Largest client frame; larger closes the connection with 1009 without buffering it."),
    R_INT(max_text, "message.max.bytes", "4096", 1, 4096,
          "Largest message text (bytes of UTF-8); larger gets error too_large."),
    CS_CONF_ROW_DOUBLE(gw_conf_t, rate, "rate.per.user", "5", 0.01, 100000,
                       "Messages per second per user (token bucket refill)."),
    R_INT(burst, "rate.burst", "10", 1, 100000, "Token bucket size (messages in a burst)."),
    R_INT(max_rooms, "rooms.max", "50", 1, 10000, "Rooms one connection may join."),
    CS_CONF_ROW_DOUBLE(gw_conf_t, joins_rate, "rooms.joins.per.sec", "2", 0.01, 10000,
                       "Joins per second per connection once it has used rooms.max of them "
                       "(it may join all its rooms at once): a join of a room with traffic "
                       "starts it on the thread (its recent records, kept rooms.linger.ms "
                       "after), so churning through rooms is paced. Past it: rate_limited "
                       "with retry_after_ms."),
    R_INT(max_conns_per_ip, "connections.per.ip", "100000", 1, 10000000,
          "Concurrent connections from one address (close 4429 past it)."),
    R_INT(max_inflight, "inflight.max", "64", 1, 100000,
          "Unacknowledged sends per connection before reading from it pauses."),
    R_INT(idle_timeout_ms, "idle.timeout.ms", "60000", 200, 3600000,
          "Close (4408) a connection silent this long; a ping goes out at half of it."),
    R_INT(outq_max_bytes, "outq.max.bytes", "1048576", 1024, 1073741824,
          "Bytes queued to one client before it counts as a slow reader (close 4508)."),
    R_INT(sndbuf, "socket.sndbuf.bytes", "0", 0, 16777216,
          "Kernel send buffer per client socket (0: the kernel's autotuning). Smaller caps "
          "memory per connection and finds slow readers sooner."),
    R_INT(coalesce_ms, "ws.coalesce.ms", "50", 0, 1000,
          "A client socket written less than this long ago gets its next frames this much "
          "after that write, together in one send (0: every frame as soon as it is ready). "
          "Saves sends (the gateway's main CPU cost) when clients receive frames faster than "
          "one per window, at up to this much added latency; the first frame after a quiet "
          "spell is never held. With ws.coalesce.lag.us, the most the window grows to."),
    R_INT(coalesce_lag_us, "ws.coalesce.lag.us", "1000", 0, 1000000,
          "Open the window only when CPU is short: a service thread whose mean event-loop "
          "delay (chatstream_gateway_loop_lag_seconds) is under a quarter of this holds "
          "nothing, at this or more it holds ws.coalesce.ms, in proportion between; "
          "re-sized every 250 ms. 0: always ws.coalesce.ms."),
    R_INT(produce_timeout_ms, "produce.timeout.ms", "10000", 100, 300000,
          "How long a message may wait for Kafka before the client gets unavailable."),
    R_INT(retry_after_ms, "retry.after.ms", "1000", 10, 60000,
          "retry_after_ms told to clients when Kafka cannot take a message."),
    R_INT(history_limit, "history.limit", "500", 1, 10000,
          "Most messages one catch-up or one history page returns."),
    R_INT(recent_per_room, "recent.per.room", "256", 0, 100000,
          "Recent pushes kept per room for catch-up of what PostgreSQL does not have yet."),
    R_INT(rooms_linger_ms, "rooms.linger.ms", "60000", 0, 86400000,
          "How long a service thread keeps a room after its last client there left (its "
          "recent pushes, for a rejoin's catch-up) before freeing it; freed within a second "
          "after. Fan-out records of rooms no thread keeps are skipped undecoded."),
    R_INT(recent_ms, "fanout.recent.ms", "10000", 0, 600000,
          "Fan-out records of every room kept this long (fanout.recent.bytes at most), so a "
          "service thread that starts keeping a room (a join, a rejoin after rooms.linger.ms) "
          "starts it with the room's recent pushes, and a catch-up has what PostgreSQL does "
          "not have yet. A gateway reads this far back at start too, into these records only "
          "(not ready until through, 5 s at most). Keep it above persist's delay. 0: off "
          "(such a catch-up can then miss a message pushed just before the join)."),
    R_INT(recent_bytes, "fanout.recent.bytes", "67108864", 65536, 17179869184LL,
          "Most bytes those records take (each ~40 bytes more than its key and value); past "
          "it the oldest go before fanout.recent.ms, which is logged and lowers "
          "chatstream_gateway_recent_window_seconds."),
    R_STR(fanout_remote, "fanout.remote.topics", "", 4096,
          "Other regions' fan-out topics mirrored into this cluster (comma-separated full "
          "names, e.g. b.chat.fanout with MirrorMaker 2's default policy): their messages are "
          "delivered too."),
    R_INT(dedupe_ids, "fanout.dedupe.ids", "250000", 0, 10000000,
          "Message ids remembered so a record seen again (a crashed at-least-once fan-out's "
          "copies, MirrorMaker's repeats) is not pushed twice: keep it above the message "
          "rate x 11 s (~40 bytes each). 0: off."),
    R_INT(shutdown_grace_ms, "shutdown.grace.ms", "3000", 0, 60000,
          "On SIGTERM: time for pending acks and the 1001 closes to reach clients."),
    R_STR(pg_dsn, "pg.dsn", "host=127.0.0.1 port=5432 dbname=chatstream", 4096,
          "PostgreSQL (libpq connection string) for history."),
    R_INT(pg_connections, "pg.connections", "2", 1, 8, "History worker connections."),
    R_STR(event_lib, "event.lib", "uv", 8,
          "Event loop under each service thread: uv (libuv, epoll: an idle connection costs "
          "nothing per wake-up) or poll (poll(2) over every connection of the thread at every "
          "wake-up)."),
    R_STR(log_level, "log.level", "info", 16, "error, warn, info or debug."),
    R_STR(web_root, "web.root", "", 4096,
          "Directory of the web client's files (empty: ingest/web of the source tree it was "
          "built from)."),
};
const size_t gw_conf_ndefs = sizeof(gw_conf_defs) / sizeof(gw_conf_defs[0]);
