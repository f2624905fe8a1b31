/* What the supervisor keeps of a stage's heartbeat for `tsctl status` (supervise.c decides on its
 * readiness): its counters and its peer list, copied out of the message, which is freed after. */
#ifndef TSCTL_SUP_BEAT_H
#define TSCTL_SUP_BEAT_H
#include "supervise.h"

/* Counters from every READY and HEARTBEAT; the peer list from a HEARTBEAT (READY carries none). */
void sup_beat_keep(proc_t *p, Ts__MsgType type, const Ts__Heartbeat *hb);
/* A new process of the stage: nothing of the old one's is shown. */
void sup_beat_forget(proc_t *p);
/* The peer list to show: the last heartbeat's while the stage runs, else none. */
size_t sup_beat_peers(proc_t *p, Ts__PeerStatus ***peers);
#endif
