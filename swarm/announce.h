/* HTTP tracker client on a libev loop (announce.c). The owner says who it is and receives the
 * peers each announce returns; counters, when given, are read for uploaded/downloaded and
 * incremented (bytes, successful announces). */
#ifndef TS_ANNOUNCE_H
#define TS_ANNOUNCE_H
#include <ev.h>
#include <stdint.h>

typedef struct {
    const uint8_t *infohash, *peer_id; /* 20 bytes each, outliving the client */
    uint16_t port;                     /* where we accept peers */
    uint32_t bind_ip;                  /* host order; nonzero: connect from this local address */
    void (*on_peer)(void *arg, uint32_t ip, uint16_t port); /* host order */
    int (*npeers)(void *arg);          /* few: announce again sooner */
    void *arg;
    uint64_t *bytes_up, *bytes_down, *announces; /* may be NULL */
} announce_cfg_t;

struct announce *announce_new(struct ev_loop *loop, const announce_cfg_t *cfg, const char *url);
void announce_destroy(struct announce **a);
/* Announce port from now on (a port mapping made or lost), at once. a may be NULL. */
void announce_set_port(struct announce *a, uint16_t port);
#endif
