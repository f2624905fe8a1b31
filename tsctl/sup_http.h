/* The supervisor's HTTP face:
 *
 *   /             the status page (web/status.html): every stage, its state and key figures,
 *                 refreshed each second from /status.json; for a viewer, the stream playing in a
 *                 <video> through mpegts.js (web/node_modules, installed by deploy/setup.sh)
 *   /status.json  this instance as `tsctl status --json` prints it (status_render.c)
 *   /metrics      Prometheus text: restarts, state and last heartbeat per stage, stream flow
 *   /livez        the supervisor's loop turns; /readyz: every stage is ready
 *
 * Its address goes into s->status_url and instance.conf (status_http). */
#ifndef TSCTL_SUP_HTTP_H
#define TSCTL_SUP_HTTP_H
#include "supervise.h"
#include <stddef.h>

int sup_http_new(sup_t *s, char *err, size_t errlen);
void sup_http_destroy(sup_t *s);
#endif
