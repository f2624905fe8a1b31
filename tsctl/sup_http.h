/* The supervisor's HTTP face:
 *
 *   /             the status page (web/status.html): every stage, its state and key figures,
 *                 refreshed each second from /status.json; for a viewer, the stream playing in a
 *                 <video> through web/player.js and mpegts.js (web/node_modules, installed by
 *                 deploy/setup.sh)
 *   /status.json  this instance as `tsctl status --json` prints it (status_render.c)
 *   /metrics      Prometheus text: restarts, state and last heartbeat per stage, stream flow,
 *                 the supervisor's process figures, and every stage's own /metrics (from its
 *                 heartbeats) merged in: the instance's one stable scrape target
 *   /livez        the supervisor's loop turns; /readyz: every stage is ready
 *
 * It listens where instance.conf's "metrics" says (tsctl start/watch/seed --metrics), else at
 * status_http (a loopback port picked once). Its address goes into s->status_url and
 * instance.conf (status_http), and into a Prometheus
 * file_sd target file, ROOT/prometheus/NAME.json, while the supervisor runs. */
#ifndef TSCTL_SUP_HTTP_H
#define TSCTL_SUP_HTTP_H
#include "supervise.h"
#include <stddef.h>

int sup_http_new(sup_t *s, char *err, size_t errlen);
void sup_http_destroy(sup_t *s);
/* A heartbeat brought stage p's /metrics text: keep a copy for our /metrics. */
void sup_http_stage_metrics(sup_t *s, const proc_t *p, const char *text);
#endif
