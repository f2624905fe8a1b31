/* What every stage process shares: logging identity, signals, the supervisor channel
 * (READY once serving, HEARTBEAT with counters every second), parent-death handling, and its
 * metrics: a ts_metrics registry (labels stage, stream) holding every heartbeat counter as a
 * Prometheus series and the process's own figures, served with /livez and /readyz by
 * ts_stage_serve and sent in every heartbeat for the supervisor's /metrics.
 *
 * The skeleton of a stage's main, so that main shows only the stage's own options, sockets and loop:
 *
 *   ts_stage_opts_t so = { 0 };
 *   ... getopt_long with TS_STAGE_LONGOPTS among the stage's options; in the switch's default:
 *       ts_stage_opt(&so, c, optarg, err, sizeof err): 1 taken, -1 bad (say err, exit 100), 0 not ours
 *   ts_stage_t *st = ts_stage_boot(TS_TOPO_SIGNER, &so, &code);   log, zmq ctx, CURVE, supervisor
 *   ... the stage's sockets on ts_stage_loop(st), ts_stage_zctx(st); counters, readiness
 *   code = ts_stage_run(st, code);        --metrics, READY, the loop, exit code (--exit-unready)
 *   ... the stage frees its sockets
 *   return ts_stage_end(&st, code);       stage, zmq ctx and CURVE gone; returns code */
#ifndef TS_STAGE_H
#define TS_STAGE_H
#include "ts_httpd.h"
#include "ts_metrics.h"
#include "ts_msg.h"
#include "ts_topology.h"
#include <stdio.h>
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* A source silent this long is worth telling the operator: ingest warns, `tsctl start` waits this
 * long for a first piece by default, `tsctl status` flags it. */
#define TS_SOURCE_IDLE_WARN_S 10
/* Help of tstream_pieces_in_total, one text for the three stages that export it (the signer
 * registers its own series). */
#define TS_STAGE_HELP_PIECES_IN                                                                                        \
    "Pieces taken in: from ingest (signer; duplicates not counted), verified and stored from the signer or from "     \
    "peers (swarm), from the swarm (player-bridge)."
/* Counters one stage can register (ts_stage_counter); the supervisor keeps as many, plus two. */
#define TS_STAGE_MAX_COUNTERS 48

typedef struct ts_stage ts_stage_t;

/* sup_endpoint may be NULL (stage run by hand): then READY/HEARTBEAT go nowhere. */
ts_stage_t *ts_stage_new(struct ev_loop *loop, void *zctx, const char *stage, const char *instance,
                         const char *sup_endpoint);
void ts_stage_destroy(ts_stage_t **self);
/* Report *value under name in every heartbeat, and on /metrics as the series lib/ts_stage.c's
 * table names for (stage, name) — the gauge tstream_<name> if it names none. The pointer must outlive
 * the stage. */
void ts_stage_counter(ts_stage_t *st, const char *name, const uint64_t *value);
void ts_stage_ready(ts_stage_t *st);
/* Send a heartbeat now rather than at the next second: a counter someone waits on has moved. */
void ts_stage_beat(ts_stage_t *st);
/* Called while each HEARTBEAT (not READY) is built, to add fields of the stage's own (the swarm's
 * peers): what it points hb at must stay valid until the next call or ts_stage_destroy. Optional. */
typedef void ts_stage_beat_fn(Ts__Heartbeat *hb, void *arg);
void ts_stage_on_beat(ts_stage_t *st, ts_stage_beat_fn *fn, void *arg);
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

/* ------------------------------------------------------------------ the skeleton */

/* The options every stage takes. */
typedef struct {
    const char *instance;   /* --instance NAME: in logs, heartbeats and metrics labels */
    const char *supervisor; /* --supervisor ENDPOINT: where READY and heartbeats go (NULL: nowhere) */
    const char *curve;      /* --curve DIR: CURVE keys for tcp:// endpoints */
    const char *metrics;    /* --metrics ADDR:PORT: serve /metrics, /livez, /readyz */
    double exit_unready;    /* --exit-unready SECONDS; 0: off */
} ts_stage_opts_t;

/* getopt_long values of the shared options (above any character a stage uses). */
enum {
    TS_STAGE_OPT_INSTANCE = 0x1000,
    TS_STAGE_OPT_SUPERVISOR,
    TS_STAGE_OPT_CURVE,
    TS_STAGE_OPT_METRICS,
    TS_STAGE_OPT_EXIT_UNREADY,
};
/* Put these among a stage's struct option entries (before the terminating zero entry). */
#define TS_STAGE_LONGOPTS                                                                                              \
    { "instance", required_argument, 0, TS_STAGE_OPT_INSTANCE },                                                      \
        { "supervisor", required_argument, 0, TS_STAGE_OPT_SUPERVISOR },                                              \
        { "curve", required_argument, 0, TS_STAGE_OPT_CURVE }, { "metrics", required_argument, 0, TS_STAGE_OPT_METRICS }, \
        { "exit-unready", required_argument, 0, TS_STAGE_OPT_EXIT_UNREADY }

/* Take option c (getopt_long's answer) with argument arg if it is a shared one: 1 taken, 0 not a
 * shared option, -1 a bad argument with the reason in err ("bad --exit-unready 'x' (seconds,
 * 1..86400)"); the stage prints it its way and exits TS_EXIT_USAGE. */
int ts_stage_opt(ts_stage_opts_t *o, int c, const char *arg, char *err, size_t errlen);
/* The shared options' lines of a usage text, in the two-column layout ("  --curve DIR  ...", the
 * description from column 22), naming stage's own key file; the exit code of --exit-unready in it. */
void ts_stage_usage(FILE *f, ts_topo_id_t stage);

/* Boot a stage: log identity, the default loop, a ZeroMQ context, CURVE keys (--curve), the
 * supervisor channel, signals, metrics registry, --exit-unready. NULL with *code TS_EXIT_CONFIG
 * (CURVE keys unusable) or TS_EXIT_FAIL (anything else), already logged. */
ts_stage_t *ts_stage_boot(ts_topo_id_t stage, const ts_stage_opts_t *o, int *code);
struct ev_loop *ts_stage_loop(const ts_stage_t *st);
void *ts_stage_zctx(const ts_stage_t *st);
const ts_stage_opts_t *ts_stage_opts(const ts_stage_t *st);
/* Serve --metrics now, for a stage that logs something between that and READY (ts_stage_run does
 * it otherwise). 0 (also without --metrics), or -1 logged ("--metrics ADDR: reason"). */
int ts_stage_listen(ts_stage_t *st);
/* Serve --metrics (unless ts_stage_listen or ts_stage_serve already did), say READY, run the loop until a signal,
 * ts_stage_stop or --exit-unready ends it. Returns the exit code: TS_EXIT_UNREADY if the stage gave
 * up for --exit-unready, else the code given to ts_stage_stop, else code; TS_EXIT_CONFIG without
 * running if --metrics cannot be served ("--metrics ADDR: reason" logged). */
int ts_stage_run(ts_stage_t *st, int code);
/* Stop the loop and make ts_stage_run return code (the first code given wins). */
void ts_stage_stop(ts_stage_t *st, int code);
/* Teardown after the stage freed its own sockets: the stage, the ZeroMQ context, CURVE. Returns
 * code, for `return ts_stage_end(&st, code);`. *self may be NULL (boot failed). */
int ts_stage_end(ts_stage_t **self, int code);
#endif
