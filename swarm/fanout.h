/* Announcement fan-out and the upload cap (fanout.c): which peers hear of a new piece at once
 * and which a little later (HAVE, ts_live), and serving peers' queued requests round-robin
 * under the token bucket of --max-upload. */
#ifndef TS_SWARM_FANOUT_H
#define TS_SWARM_FANOUT_H
#include "swarm.h"

void fanout_broadcast(swarm_t *sw, uint64_t seq, int rap_changed); /* we hold a new piece */
void fanout_late_haves(swarm_t *sw, uint64_t now);                 /* announce what is due */
void fanout_serve(swarm_t *sw);                                    /* send queued pieces */
int fanout_admit(peer_t *p, uint32_t index); /* 0: request rejected, its queue wait too long */
int fanout_room(peer_t *p);                  /* may another queued piece go to p's socket now? */
void fanout_tick(swarm_t *sw, uint64_t now); /* sample what the upload drains */
#endif
