/* Wire dispatch (dispatch.c): what a peer's bytes mean. Sniffs BitTorrent from a tracker's HTTP
 * request, checks the handshake (infohash, self, duplicates, limits, admission), then parses and
 * acts on each message: pieces (checked cheap-first, then verified), requests, HAVEs, bitfields,
 * extensions (ts_live, ut_pex, ut_metadata). Also each peer's timeouts and keep-alives. */
#ifndef TS_SWARM_DISPATCH_H
#define TS_SWARM_DISPATCH_H
#include "swarm.h"

void dispatch_input(peer_t *p);               /* sw->on_input: new bytes in p->in */
void dispatch_tick(swarm_t *sw, uint64_t now); /* idle, handshake and message timeouts */
#endif
