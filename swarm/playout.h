/* Playout (playout.c): where a viewer hooks into the stream (peers' vouched claims, the
 * player-bridge's resume point), in-order delivery of verified pieces to the player-bridge over
 * the outlink, skipping holes past their deadline, and re-tuning after a stall or a jump. Also
 * the path every newly stored piece takes: our edge, announcing it, delivering, picking on. */
#ifndef TS_SWARM_PLAYOUT_H
#define TS_SWARM_PLAYOUT_H
#include "swarm.h"

int playout_open(swarm_t *sw, void *zctx, const char *out_ep); /* the outlink to the bridge; -1 */
void playout_piece_stored(swarm_t *sw, uint64_t seq, const ts_trailer_t *t);
int playout_jumped(swarm_t *sw, const ts_trailer_t *t); /* a verified piece far ahead: 1 if re-tuned */
void playout_consider_hook(swarm_t *sw);
void playout_deliver(swarm_t *sw);
void playout_stall_check(swarm_t *sw, uint64_t now); /* each tick: re-tune after the loop stood still */
#endif
