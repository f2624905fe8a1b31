/* Push (push.c): pieces sent unrequested to the peers that hear of them first — the fanout
 * children and the broadcaster's first recipient — when they announced "ts_push", which saves a
 * HAVE → REQUEST round trip per hop; what a receiver takes as a push; the short grace before it
 * requests a new piece a push is expected for; and the per-hop record behind TS_HOP_LOG. */
#ifndef TS_SWARM_PUSH_H
#define TS_SWARM_PUSH_H
#include "swarm.h"

int push_init(swarm_t *sw);                         /* tables, TS_PUSH_OFF, TS_HOP_LOG; 0 or -1 */
void push_free(swarm_t *sw);
int push_to(peer_t *p, uint64_t seq, uint64_t now); /* 1: seq queued to p as a push (else tell it) */
/* An unrequested piece seq from p that we already hold: 1 if it is a push we invited (no junk). */
int push_dup_ok(peer_t *p, uint64_t seq);
void push_seen(swarm_t *sw, uint64_t seq, uint64_t now);      /* a HAVE of seq arrived */
void push_requested(swarm_t *sw, uint64_t seq, uint64_t now); /* we requested seq */
/* seq was stored, from p (asked: we requested it); timestamp_us is its signed source time. */
void push_got(peer_t *p, uint64_t seq, int asked, uint64_t timestamp_us, uint64_t now);
int push_wait(swarm_t *sw, uint64_t seq, uint64_t now);       /* 1: do not request seq yet */
#endif
