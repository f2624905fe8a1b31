/* Give-to-get, broadcaster only (g2g.c): the first recipient of each new piece, whether what it
 * gets first is seen spreading (credits, misses, "poor" forwarders left out of the first turn),
 * and from that how long the broadcaster waits before it tells every peer of a piece. */
#ifndef TS_SWARM_G2G_H
#define TS_SWARM_G2G_H
#include "swarm.h"

void g2g_first(peer_t *r, uint64_t seq, uint64_t now); /* r is told of seq before anyone else */
int g2g_is_poor(const peer_t *r);
/* q sent a HAVE for seq (request 0) or requested it (request 1). */
void g2g_note(peer_t *q, uint64_t seq, uint64_t now, int request);
/* r asked us for seq (served 0), or we sent it to r (served 1). */
void g2g_progress(peer_t *r, uint64_t seq, uint64_t now, int served);
uint64_t g2g_early_ns(const swarm_t *sw);
uint64_t g2g_late_ns(const swarm_t *sw); /* ... and tells the rest of a piece seen spreading */
/* When to tell everyone of seq, told to its first recipient; max_ns at the latest; 0 = now. */
uint64_t g2g_due_ns(const swarm_t *sw, uint64_t seq, uint64_t max_ns);
#endif
