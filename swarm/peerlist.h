/* The heartbeat's list of connected peers (proto PeerStatus): who, which client, which way, how
 * long, and the rates each way, the busiest first. For tsctl status and the status page. */
#ifndef TS_SWARM_PEERLIST_H
#define TS_SWARM_PEERLIST_H
#include "swarm.h"
#include "ts_msg.h"

/* ts_stage_on_beat's callback (arg: the swarm_t): fills hb->peers, which stays valid until the next
 * call or peerlist_free. */
void peerlist_beat(Ts__Heartbeat *hb, void *arg);
void peerlist_free(swarm_t *sw);
#endif
