/* The HTTP side of the bridge: a non-blocking listener and the players connected to it.
 *
 *   GET  PATH  200, video/mp2t, no length: the newest RAP piece in the ring onward, then each new
 *              piece as it arrives, until the player closes. No RAP yet: wait for the next one.
 *   HEAD PATH  the same headers, no body.      GET/HEAD /   a short text/plain index.
 *   GET  BASE.m3u8, BASE/MSN.ts, BASE/MSN.PART.ts   HLS (BASE: PATH without ".ts"; hls.c, hls_req.h):
 *              the playlist, a segment, a part. A blocking reload (_HLS_msn, _HLS_part) or the
 *              preload hint's part is held until it exists, at most three target durations (and
 *              SERVER_HOLD_MAX s), then 503; more than SERVER_MAX_HELD held at once: 503 at once.
 *              Unknown segments and parts 404, a malformed query 400.
 *   OPTIONS    204 with CORS headers.          other paths 404, other methods 405.
 *   malformed or over TS_HTTP_MAX_HEAD  400.   more than SERVER_MAX_STREAMS players  503.
 * Every response says Connection: close and Access-Control-Allow-Origin: *.
 *
 * A player whose queue passes 16 MiB is dropped (its connection reset, so the kernel keeps nothing
 * for it either); a connection that has not sent a whole request after 10 s is closed; so one bad
 * client costs the others nothing. */
#ifndef TS_SERVER_H
#define TS_SERVER_H
#include "chunk.h"
#include "hls.h"
#include "ring.h"
#include <ev.h>
#include <stdint.h>

#define SERVER_MAX_STREAMS 64                 /* players receiving the stream */
#define SERVER_MAX_OTHERS 64                  /* connections still sending a request or being answered */
#define SERVER_MAX_QUEUE (16u * 1024 * 1024)  /* bytes queued toward one player */
#define SERVER_REQUEST_TIMEOUT 10.0           /* seconds to send a complete request */
#define SERVER_MAX_HELD 32                    /* HLS requests held (blocking reload) */
#define SERVER_HOLD_MAX 12.0                  /* seconds, at most, an HLS request is held */

typedef struct {
    uint64_t bytes_out;       /* written to HTTP clients, headers included */
    uint64_t clients;         /* players receiving the stream now */
    uint64_t clients_dropped; /* players dropped for not keeping up */
    uint64_t hls_requests;    /* HLS playlist, segment and part requests */
    uint64_t hls_held;        /* HLS requests held now */
    uint64_t hls_refused;     /* held ones that timed out, and ones refused for too many held */
} ts_server_stats_t;

typedef struct ts_server ts_server_t;

/* Listen on addr (numeric IPv4/IPv6 or a host name) and port (0 = any free port); serve the stream
 * at path from ring. NULL with a reason in err; *fatal_config set when retrying cannot help. */
ts_server_t *ts_server_new(struct ev_loop *loop, const char *addr, uint16_t port, const char *path,
                           const ts_ring_t *ring, int *fatal_config, char *err, size_t errlen);
/* Closes every connection. */
void ts_server_destroy(ts_server_t **self);
uint16_t ts_server_port(const ts_server_t *s);
/* c was just appended to the ring: queue it to every player. */
void ts_server_piece(ts_server_t *s, ts_chunk_t *c);
const ts_server_stats_t *ts_server_stats(const ts_server_t *s);
/* Serve HLS from hls too (it stays the caller's). */
void ts_server_set_hls(ts_server_t *s, ts_hls_t *hls);
/* hls completed a part or segment: answer the held requests that can be now. */
void ts_server_hls_changed(ts_server_t *s);
#endif
