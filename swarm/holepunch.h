/* Hole punching (holepunch.c): ut_holepunch (BEP 55) over TCP simultaneous open, as
 * docs/PROTOCOL.md specifies it. As relay: rendezvous in, connect to both sides out (bounded per
 * peer). As initiator: a rendezvous to a connected peer that told us of a target we cannot dial.
 * On a connect: a dial from our listening port at once, retried once. Also what PEX tells of
 * known peers (flags, who told us: the relay candidates). Calls known.c and peer.c; known.c
 * does not call here (run.c ticks it before known_redial). */
#ifndef TS_SWARM_HOLEPUNCH_H
#define TS_SWARM_HOLEPUNCH_H
#include "swarm.h"

#define HP_EXT_ID 4             /* the id under which we accept ut_holepunch messages */
#define HP_RATE 2.0             /* rendezvous, and connects we did not ask for, per second per peer */
#define HP_BURST 4.0            /* ... in bursts of this many */
#define HP_MAX 16               /* punches under way at once (a hostile relay cannot make us dial more) */
#define HP_WAIT_NS (10 * TS_NS_PER_S)      /* a punch not connected by then is over */
#define HP_RETRY_NS (200 * TS_NS_PER_MS)   /* a dial that failed at once is retried this much later */

/* ut_pex "added" from p: learn each address with its flags and p as a relay for it, and dial
 * those that may accept. */
void hp_pex(peer_t *p, const ts_wire_addr_t *a, size_t n);
/* An extended message with our HP_EXT_ID. */
void hp_on_message(peer_t *p, const uint8_t *payload, size_t len);
/* At the handshake: 1 if p is the connection of a punch (then counted in c_punch_ok). */
int hp_connected(peer_t *p);
/* Every tick, before known_redial: rendezvous for targets we cannot dial, retries, expiry. */
void hp_tick(swarm_t *sw, uint64_t now);
void hp_free(swarm_t *sw);
#endif
