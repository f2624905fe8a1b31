/* One TCP connection to a peer (peer.c): opening it (accepted, dialled, still connecting),
 * reading into its input buffer, writing its send queue once per loop turn, closing and freeing
 * it, and what we know it holds. What the bytes mean is for the owner's input hook
 * (sw->on_input, the wire dispatch); sw->on_closed hears of every close (the picker's requests). */
#ifndef TS_SWARM_PEER_H
#define TS_SWARM_PEER_H
#include "swarm.h"

peer_t *peer_new(swarm_t *sw, int fd, const struct sockaddr_in *addr, int outgoing, int connecting);
void peer_close(peer_t *p, const char *why); /* why NULL: silently; freed later by peer_reap */
/* Close after sending what is queued (our handshake) and discarding what arrived, so the close is a
 * FIN the other end reads after our bytes, not a reset that may discard them. */
void peer_close_gently(peer_t *p, const char *why);
int peer_flush(peer_t *p);                   /* write what we can now; -1 if p was closed */
void peer_flush_all(swarm_t *sw);            /* once per loop turn, before the loop waits */
int peer_kernel_room(peer_t *p);             /* its socket holds little unsent: 1; else 0, woken when it does */
void peer_reap(swarm_t *sw);                 /* free closed peers */
int peer_alive(const peer_t *p);
const char *peer_addr(const peer_t *p, char *buf, size_t len); /* "ip:port" */
int peer_has(const peer_t *p, uint64_t seq);
void peer_mark(peer_t *p, uint64_t seq);     /* p holds seq now */
void peer_mark_sent(peer_t *p, uint64_t seq); /* ... or will once what we queued reaches it */
void peer_send_handshake(peer_t *p);
int peer_count(swarm_t *sw);                 /* peers past the handshake */
#endif
