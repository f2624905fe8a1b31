/* Known peers (known.c): who may connect and whom we dial. Bans of offenders, the per-address
 * connection limit, the listening socket and its accept loop (with guard.c's admission budget),
 * addresses learnt from the tracker, handshakes and peer exchange (PEX), redialled with backoff. */
#ifndef TS_SWARM_KNOWN_H
#define TS_SWARM_KNOWN_H
#include "swarm.h"

#define KNOWN_REDIAL_FAILS_MAX 6
uint64_t known_redial_delay_ns(int fails);  /* backoff after `fails` failed dials */

void known_ban(swarm_t *sw, uint32_t ip, uint64_t now);
int known_admit(swarm_t *sw, uint32_t ip, uint64_t now); /* banned or too many from ip: 0 */
void known_misbehaved(peer_t *p, const char *why);      /* log, ban its address, close */
void known_junk(peer_t *p, const char *what);           /* a useless message: too many, misbehaved */
void known_learn(swarm_t *sw, uint32_t ip, uint16_t port);
void known_later(swarm_t *sw, uint32_t ip, uint16_t port, uint64_t delay_ns);
/* A dial to ip:port reached peer `id`, already connected by another address: not dialled again
 * while that peer stays connected, then with the longest backoff. */
void known_alias(swarm_t *sw, uint32_t ip, uint16_t port, const uint8_t id[20]);
void known_connect(swarm_t *sw, uint32_t ip, uint16_t port);
void known_redial(swarm_t *sw, uint64_t now);
void known_pex_send(swarm_t *sw, uint64_t now);
/* Listen on bind_addr:sw->port (port 0: any; sw->port is set to the one bound) and accept peers
 * on sw->loop. -1 after logging why. */
int known_listen(swarm_t *sw, const char *bind_addr);
#endif
