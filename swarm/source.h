/* The broadcaster's intake (source.c): signed pieces from the signer over the inlink into the
 * window, and acks back for those safe to lose here (a peer has them, or they are 5 s old). */
#ifndef TS_SWARM_SOURCE_H
#define TS_SWARM_SOURCE_H
#include "swarm.h"

int source_open(swarm_t *sw, void *zctx, const char *in_ep); /* the inlink from the signer; -1 */
void source_ack(swarm_t *sw);                                /* each tick */
void source_confirm_sent(swarm_t *sw); /* pieces sent whose bytes a peer's kernel acknowledged: safe */
#endif
