/* A source that is an HTTP(S) response body, reconnected forever with backoff. A resumed source
 * (offset > 0) asks for "Range: bytes=offset-" once; a server that answers with anything but 206
 * gives the whole resource or its live edge, and restarted is called before those bytes. A
 * connection that drops later reconnects without a Range: a new run, as for a live stream. */
#ifndef TS_SRC_HTTP_H
#define TS_SRC_HTTP_H
#include "source.h"

typedef struct ts_src_http ts_src_http_t;

ts_src_http_t *ts_src_http_new(struct ev_loop *loop, const char *url, uint64_t offset, const ts_source_cb_t *cb,
                               void *arg, char *err, size_t errlen);
void ts_src_http_stop(ts_src_http_t *h);
void ts_src_http_destroy(ts_src_http_t **self);
#endif
