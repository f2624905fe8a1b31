/* What every stage process shares: logging identity, signals, the supervisor channel
 * (READY once serving, HEARTBEAT with counters every second), parent-death handling, and its
 * metrics: a ts_metrics registry (labels stage, instance) holding every heartbeat counter as a
 * Prometheus series, served with /livez and /readyz by ts_stage_serve. */
#ifndef TS_STAGE_H
#define TS_STAGE_H
#include "ts_httpd.h"
#include "ts_metrics.h"
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* A source silent this long is worth telling the operator: ingest warns, `tsctl start` waits this
 * long for a first piece by default, `tsctl status` flags it. */
#define TS_SOURCE_IDLE_WARN_S 10

typedef struct ts_stage ts_stage_t;

/* sup_endpoint may be NULL (stage run by hand): then READY/HEARTBEAT go nowhere. */
ts_stage_t *ts_stage_new(struct ev_loop *loop, void *zctx, const char *stage, const char *instance,
                         const char *sup_endpoint);
void ts_stage_destroy(ts_stage_t **self);
/* Report *value under name in every heartbeat, and on /metrics as the series lib/ts_stage.c's
 * table names for (stage, name) — the gauge ts_<name> if it names none. The pointer must outlive
 * the stage. */
void ts_stage_counter(ts_stage_t *st, const char *name, const uint64_t *value);
void ts_stage_ready(ts_stage_t *st);
/* Send a heartbeat now rather than at the next second: a counter someone waits on has moved. */
void ts_stage_beat(ts_stage_t *st);
/* Called on SIGTERM/SIGINT before the loop breaks (optional). */
void ts_stage_on_stop(ts_stage_t *st, void (*fn)(void *arg), void *arg);

/* The registry, for a stage's own series (NULL only if out of memory; ts_metrics_* accept it). */
ts_metrics_t *ts_stage_metrics(ts_stage_t *st);
/* What "ready" means for this stage (its upstream and downstream connected), for /readyz and the
 * ts_ready gauge; asked only once the stage has called ts_stage_ready. Without it: ready from
 * ts_stage_ready on. */
void ts_stage_readiness(ts_stage_t *st, ts_httpd_ready_fn *fn, void *arg);
/* Serve /metrics, /livez and /readyz on addr ("ADDR:PORT", ":PORT" or "PORT" = 127.0.0.1, as
 * ts_httpd_new) from the stage's loop. 0, or -1 with a reason in err (address taken, bad address). */
int ts_stage_serve(ts_stage_t *st, const char *addr, char *err, size_t errlen);

/* --exit-unready SECONDS: a container runtime marks an unhealthy process but never replaces it, so
 * a stage that has been ready and then stays not ready for `secs` logs why and stops its loop (as on
 * SIGTERM); main then returns ts_stage_exit_code(), TS_EXIT_UNREADY, and the restart policy starts a
 * fresh process. A stage never ready since it started waits on (its restart would not help). 0: off. */
void ts_stage_exit_unready(ts_stage_t *st, double secs);
/* Parse the option's argument: seconds, 1..86400. 0, or -1 if bad. */
int ts_stage_unready_arg(const char *arg, double *secs);
/* The code main returns: TS_EXIT_UNREADY if the stage gave up for --exit-unready, else code. */
int ts_stage_exit_code(const ts_stage_t *st, int code);
#endif
