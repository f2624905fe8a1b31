/* A ZeroMQ socket driven by a libev loop, carrying ts envelopes.
 *
 * ZMQ_FD is edge-triggered, so the bus drains in an ev_check after every loop
 * turn while ZMQ_EVENTS says POLLIN (bounded per turn), and keeps an idle
 * watcher running while work is pending so the loop never sleeps on it. */
#ifndef TS_BUS_H
#define TS_BUS_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "ts_msg.h"

typedef struct ts_bus ts_bus_t;
/* For ROUTER sockets, peer/peer_len is the sender's routing id; for DEALER sockets peer is NULL.
 * The callback owns msg only for the call: the bus frees it afterwards. */
typedef void ts_bus_fn(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, Ts__Envelope *msg, void *arg);

enum { TS_BUS_BIND = 1, TS_BUS_CONNECT = 0 };

/* type is ZMQ_ROUTER or ZMQ_DEALER. identity (may be NULL) sets ZMQ_ROUTING_ID on a DEALER so the
 * ROUTER on the other side recognises the same stage after it restarts. server names the stage a
 * connecting socket talks to, whose CURVE key a tcp:// endpoint needs (lib/ts_curve.h). */
ts_bus_t *ts_bus_new(struct ev_loop *loop, void *zctx, int type, const char *endpoint, int bind,
                     const char *identity, const char *server, ts_bus_fn *fn, void *arg);
void ts_bus_destroy(ts_bus_t **self);
/* Send without blocking. 0 on success; -1 with errno EAGAIN (peer's queue full), EHOSTUNREACH
 * (ROUTER: no such peer) or another error. */
int ts_bus_send(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, const Ts__Envelope *msg);
/* Send an already packed envelope (ts_msg_pack), e.g. one piece fanned out to many peers. */
int ts_bus_send_raw(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, const uint8_t *data, size_t len);
/* Number of malformed messages dropped so far. */
uint64_t ts_bus_rejected(const ts_bus_t *bus);
void *ts_bus_socket(ts_bus_t *bus);
#endif
