/* A push source on TCP (tcp://[ADDR]:PORT): a listener that takes one encoder connection at a time.
 * A connection must open with MPEG-TS (else it is closed and counted); a second one while an
 * encoder is connected is refused (closed at once, logged, counted); when the encoder drops, or
 * sends nothing for TS_SRC_TCP_IDLE_S, the next connection is a new run. */
#ifndef TS_SRC_TCP_H
#define TS_SRC_TCP_H
#include "source.h"
#include "ts_pushurl.h"

#define TS_SRC_TCP_IDLE_S 15.0 /* a live encoder is never silent this long: it is gone without a FIN */

typedef struct ts_src_tcp ts_src_tcp_t;

/* Listens at once. NULL with err if the address cannot be bound. */
ts_src_tcp_t *ts_src_tcp_new(struct ev_loop *loop, const ts_pushurl_t *u, const ts_source_cb_t *cb, void *arg,
                             char *err, size_t errlen);
void ts_src_tcp_stop(ts_src_tcp_t *t);
void ts_src_tcp_destroy(ts_src_tcp_t **self);
#endif
