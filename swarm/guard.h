/* Admission and verification budgets (guard.c): token buckets per /24 prefix and overall that
 * bound what strangers can make this peer spend (new connections, failing signature checks). */
#ifndef TS_SWARM_GUARD_H
#define TS_SWARM_GUARD_H
#include "swarm.h"

/* May a new peer connection from ip go on? 1 yes; 0 no, its /24's budget is spent; -1 no, the
 * overall budget is spent (stop accepting for a moment). */
int guard_admit(swarm_t *sw, uint32_t ip, uint64_t now);
int guard_may_verify(const peer_t *p, uint64_t now);       /* verify p's piece, or drop it unverified */
void guard_verify_failed(peer_t *p, uint64_t now);
#endif
