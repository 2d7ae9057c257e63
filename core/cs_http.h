/*
 * cs_http — the admin endpoint every processor serves:
 *
 *   GET /metrics  Prometheus text from the process's registry
 *   GET /healthz  200 while the owner's main loop is making progress (liveness)
 *   GET /readyz   200 when the owner's readiness callback says so, else 503 + reason
 *
 * It runs on its own thread and serves one short request at a time: it is for
 * Prometheus and the orchestrator's probes, not for traffic. (The gateway serves
 * the same routes on its own libwebsockets port instead.)
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include "cs_metrics.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cs_http cs_http_t;

/* Readiness: return true when ready; otherwise write a short reason. Called on the
 * HTTP thread, so it must only read state that is safe to read concurrently. */
typedef bool (*cs_http_ready_fn)(void *arg, char *reason, size_t reason_size);

/* Binds host:port (port 0 picks a free one) and starts the thread. NULL + errstr on failure. */
cs_http_t *cs_http_new(const char *host, int port, cs_metrics_t *metrics, cs_http_ready_fn ready,
                       void *ready_arg, char *errstr, size_t errstr_size);
/* The bound port (useful with port 0). */
int cs_http_port(const cs_http_t *http);
/* Liveness: the owner calls this from its main loop; /healthz fails after `stall_ms` without it. */
void cs_http_heartbeat(cs_http_t *http);
void cs_http_set_stall_ms(cs_http_t *http, int64_t stall_ms);
/* Stops the thread and closes the socket. NULL-safe. */
void cs_http_destroy(cs_http_t *http);

#endif
