/* What every stage process shares: logging identity, signals, the supervisor channel
 * (READY once serving, HEARTBEAT with counters every second), and parent-death handling. */
#ifndef TS_STAGE_H
#define TS_STAGE_H
#include <ev.h>
#include <stdint.h>

/* A source silent this long is worth telling the operator: ingest warns, `tsctl start` waits this
 * long for a first piece by default, `tsctl status` flags it. */
#define TS_SOURCE_IDLE_WARN_S 10

typedef struct ts_stage ts_stage_t;

/* sup_endpoint may be NULL (stage run by hand): then READY/HEARTBEAT go nowhere. */
ts_stage_t *ts_stage_new(struct ev_loop *loop, void *zctx, const char *stage, const char *instance,
                         const char *sup_endpoint);
void ts_stage_destroy(ts_stage_t **self);
/* Report *value under name in every heartbeat (the pointer must outlive the stage). */
void ts_stage_counter(ts_stage_t *st, const char *name, const uint64_t *value);
void ts_stage_ready(ts_stage_t *st);
/* Send a heartbeat now rather than at the next second: a counter someone waits on has moved. */
void ts_stage_beat(ts_stage_t *st);
/* Called on SIGTERM/SIGINT before the loop breaks (optional). */
void ts_stage_on_stop(ts_stage_t *st, void (*fn)(void *arg), void *arg);
#endif
