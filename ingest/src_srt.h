/* A push source by SRT (libsrt, live mode): a listener (srt://:PORT) that takes one encoder at a
 * time, or a caller (srt://HOST:PORT) that connects to an encoder's listener and reconnects with
 * backoff. With ?passphrase= the stream is AES-encrypted and a caller without that passphrase is
 * refused (logged, counted); ?latency= sets SRT's receive latency in ms.
 *
 * libsrt runs its own threads and has no descriptor for libev to watch: an ev_timer polls its
 * epoll (srt_epoll_uwait with timeout 0) every TS_SRC_SRT_POLL_S, so everything we do happens on
 * the loop's thread. Each SRT message must be whole MPEG-TS packets (encoders send 1316 bytes). */
#ifndef TS_SRC_SRT_H
#define TS_SRC_SRT_H
#include "source.h"
#include "ts_pushurl.h"

#define TS_SRC_SRT_POLL_S 0.01

typedef struct ts_src_srt ts_src_srt_t;

/* Listens (or starts calling) at once. NULL with err if it cannot (the port is taken). */
ts_src_srt_t *ts_src_srt_new(struct ev_loop *loop, const ts_pushurl_t *u, const ts_source_cb_t *cb, void *arg,
                             char *err, size_t errlen);
void ts_src_srt_stop(ts_src_srt_t *s);
void ts_src_srt_destroy(ts_src_srt_t **self);
#endif
