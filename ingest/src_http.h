/* A source that is an HTTP(S) response body, reconnected forever with backoff. */
#ifndef TS_SRC_HTTP_H
#define TS_SRC_HTTP_H
#include "source.h"

typedef struct ts_src_http ts_src_http_t;

ts_src_http_t *ts_src_http_new(struct ev_loop *loop, const char *url, const ts_source_cb_t *cb, void *arg, char *err,
                               size_t errlen);
void ts_src_http_stop(ts_src_http_t *h);
void ts_src_http_destroy(ts_src_http_t **self);
#endif
