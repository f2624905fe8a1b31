/* A push source on UDP: MPEG-TS in datagrams of whole packets (188 × N bytes), sent to a unicast
 * port (udp://[ADDR]:PORT) or a multicast group we join (udp://@GROUP:PORT[?iface=ADDR]).
 *
 * Anything else is dropped and counted, as are datagrams from a second sender while the first is
 * sending (two streams must not interleave). A sender silent for TS_SRC_UDP_GONE_S is gone: its run
 * ends, and the next datagram, from it or another sender, starts a new run. */
#ifndef TS_SRC_UDP_H
#define TS_SRC_UDP_H
#include "source.h"
#include "ts_pushurl.h"

#define TS_SRC_UDP_GONE_S 3.0

typedef struct ts_src_udp ts_src_udp_t;

/* Binds (and joins) at once. NULL with err if it cannot. */
ts_src_udp_t *ts_src_udp_new(struct ev_loop *loop, const ts_pushurl_t *u, const ts_source_cb_t *cb, void *arg,
                             char *err, size_t errlen);
void ts_src_udp_stop(ts_src_udp_t *s);
void ts_src_udp_destroy(ts_src_udp_t **self);
#endif
