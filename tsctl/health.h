/* The supervisor's figures (health.c): stream flow, rates, restarts in the last hour, peers and
 * viewers, from its stages' heartbeats; they go into the status message with the status page. */
#ifndef TSCTL_HEALTH_H
#define TSCTL_HEALTH_H
#include "supervise.h"
#include "ts_msg.h"

int health_new(sup_t *s); /* 0, or -1 out of memory (then no figures) */
void health_destroy(sup_t *s);
void health_on_beat(sup_t *s, proc_t *p);    /* after a heartbeat updated p's counters */
void health_on_restart(sup_t *s, proc_t *p); /* a restart was scheduled */
/* Seconds since the highest seq any stage reports last grew; NaN: none yet. */
double health_piece_age(const sup_t *s);
/* The instance-level figures into in, the stage's into st (url: room for its metrics_url). */
void health_fill(sup_t *s, Ts__InstanceStatus *in);
void health_fill_stage(sup_t *s, proc_t *p, Ts__StageStatus *st, char *url, size_t urllen);
/* A counter from p's last heartbeat (0 and *found 0 if it sent none by that name). */
int64_t sup_counter(const proc_t *p, const char *name, int *found);
#endif
