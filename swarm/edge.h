/* Our edge (edge.c): the newest piece and random-access point we hold, the stream's piece rate
 * measured from signed timestamps, and the live edge those make plausible, beyond which no
 * peer's claim (handshake, ts_live, HAVE) is believed. */
#ifndef TS_SWARM_EDGE_H
#define TS_SWARM_EDGE_H
#include "swarm.h"

/* A verified piece was stored: advance our edge and rate. 1 if it is a newer random-access point. */
int edge_note(swarm_t *sw, uint64_t seq, const ts_trailer_t *t);
uint64_t edge_bound(const swarm_t *sw, uint64_t now); /* UINT64_MAX while we hold nothing */
#endif
