/* A source that is an HTTP(S) response body, paced by its MPEG-TS PCR (ingest/pacer.h; bps only
 * for a stream without PCRs: the --bitrate of a deployment is a nominal figure that sizes the
 * window, and pacing a live VBR stream at it would let ingest fall behind a stream above it) and
 * reconnected forever with backoff.
 *
 * A reconnect never sends bytes twice. Whenever bytes of the current run were sent (by us, or
 * before a restart: offset), it asks for "Range: bytes=SENT-":
 *   - 206: the rest of the same resource, continued;
 *   - 416: nothing past SENT yet (a file at its end): asked again later, as a live source that
 *     paused; if the 416 says the resource is now shorter, the next request asks for all of it;
 *   - 200 (the server ignores ranges, or a live stream): its first bytes are compared with the
 *     run's first 64 KiB; the same resource is skipped up to SENT and continued after it; a
 *     different one (or one shorter than SENT by its Content-Length) is a new run: restarted,
 *     then all of it. With nothing to compare (a restarted ingest), a response whose
 *     Content-Length reaches SENT is taken to be the same resource, one without a length (a
 *     live stream) a new run. */
#ifndef TS_SRC_HTTP_H
#define TS_SRC_HTTP_H
#include "source.h"

typedef struct ts_src_http ts_src_http_t;

ts_src_http_t *ts_src_http_new(struct ev_loop *loop, const char *url, uint64_t bps, uint64_t offset,
                               const ts_source_cb_t *cb, void *arg, char *err, size_t errlen);
void ts_src_http_stop(ts_src_http_t *h);
void ts_src_http_destroy(ts_src_http_t **self);
#endif
