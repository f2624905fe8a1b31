/* The HLS packager: the verified pieces cut into MPEG-TS segments and LL-HLS parts, and the media
 * playlist that lists them. No sockets (server.c answers the requests); with --dvr it writes the
 * closed segments through dvr.c.
 *
 * Segments start at a random-access piece (TS_PIECE_RAP) and close at the first RAP piece at least
 * HLS_SEG_MIN_US after their start, so a segment spans whole RAP intervals; one without a RAP for
 * HLS_SEG_MAX_US or HLS_SEG_MAX_BYTES is cut anyway (not independent). A part closes at the first
 * video frame (tsframe.h) in the first piece HLS_PART_CLOSE_US or more after its start (so inside
 * that piece: parts are byte ranges, copied), or at a RAP piece (which starts an independent part).
 * Durations come from the pieces' signed
 * timestamps (the next unit's first piece minus this one's): the ingest clock, paced by the
 * source's PCR, so no TS parsing here. A seq gap (the swarm skipped pieces) or a piece flagged
 * TS_PIECE_DISCONT ends the segment; the next starts at a RAP piece with EXT-X-DISCONTINUITY.
 * Segment numbers (MSN) start at the first RAP piece's seq, so they keep growing across restarts. */
#ifndef TS_HLS_H
#define TS_HLS_H
#include "chunk.h"
#include "hls_req.h"
#include "ts_buf.h"
#include <stddef.h>
#include <stdint.h>

#define HLS_SEG_MIN_US 1000000ull
#define HLS_SEG_MAX_US 10000000ull
#define HLS_SEG_MAX_BYTES (8u << 20)
#define HLS_PART_CLOSE_US 300000ull
#define HLS_PART_MAX_US 1000000ull
#define HLS_PART_TARGET_MS 500    /* EXT-X-PART-INF; parts close at 0.3 s plus at most a piece */
#define HLS_PART_HOLD_BACK_MS 1500 /* 3 part targets, as RFC 8216bis recommends */
#define HLS_MEM_WINDOW_US (30 * 1000000ull) /* segments kept in memory (the playlist without --dvr) */
#define HLS_MEM_MAX_BYTES (96u << 20)
#define HLS_DVR_MAX_US (6 * 3600 * 1000000ull)

typedef struct ts_hls ts_hls_t;

typedef struct {
    ts_chunk_t **c; /* references of the caller's, released by ts_hls_media_free */
    size_t n, bytes;
} ts_hls_media_t;

/* base: the stream's path without ".ts"; URIs in the playlist are relative to it: base's last
 * component, percent-encoded, plus "/MSN.ts" and "/MSN.PART.ts" (requests come for base + those). dvr_us 0: no DVR (dvr_dir unused), else the DVR window kept in
 * dvr_dir. NULL with a reason in err. */
ts_hls_t *ts_hls_new(const char *base, uint64_t dvr_us, const char *dvr_dir, char *err, size_t errlen);
void ts_hls_destroy(ts_hls_t **self);
/* The URI form of base (what requests use). */
const char *ts_hls_base(const ts_hls_t *h);
/* A piece handed on, in order. 1 if a part or segment was completed (held requests may be
 * answerable now), else 0. */
int ts_hls_piece(ts_hls_t *h, ts_chunk_t *c);
/* Bytes the window holds in memory: its pieces (shared with the bridge's ring while they are in
 * it; parts are copied out of them per request). */
uint64_t ts_hls_mem_bytes(const ts_hls_t *h);
/* The media playlist, with parts (ll) or without. 0, or -1 when memory is short. */
int ts_hls_playlist(const ts_hls_t *h, int ll, ts_buf_t *out);
/* May a playlist request be answered now? Without _HLS_msn: once a segment is complete. With it:
 * 1 yes, 0 not yet (hold it), -1 asks too far ahead (400). */
int ts_hls_ready(const ts_hls_t *h, const ts_hls_req_t *r);
/* A segment's or part's bytes: 1 with m filled, 0 not yet but it is the next part (hold), -1 no
 * such segment or part (404; also when memory is short). */
int ts_hls_media(ts_hls_t *h, const ts_hls_req_t *r, ts_hls_media_t *m);
void ts_hls_media_free(ts_hls_media_t *m);
/* EXT-X-TARGETDURATION in seconds: the hold timeouts derive from it. */
unsigned ts_hls_target_s(const ts_hls_t *h);
uint64_t ts_hls_segments(const ts_hls_t *h); /* segments closed since start, for the heartbeat */
#endif
