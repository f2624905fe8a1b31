/* Which HLS resource a request names: the playlist (with its delivery directives), a segment or a
 * part. Pure (no I/O, no allocation): the path and query come straight from a client, so every
 * length and number is bounded here, and tests/fuzz/fuzz_hls_req.c feeds it anything.
 *
 *   BASE.m3u8[?_HLS_msn=N[&_HLS_part=M]][&_HLS_skip=YES|v2][&ll=0]   the playlist
 *   BASE/N.ts          segment N            BASE/N.M.ts    part M of segment N
 * BASE is the stream's path without ".ts" ("/foo" for "/foo.ts"). Other query keys are ignored;
 * a directive given twice, a number with a sign, leading junk, more than 15 digits (msn) or
 * 4 digits (part), or _HLS_part without _HLS_msn is a bad request (400). */
#ifndef TS_HLS_REQ_H
#define TS_HLS_REQ_H
#include <stddef.h>
#include <stdint.h>

#define TS_HLS_MAX_QUERY 512   /* longer query strings are refused */
#define TS_HLS_MAX_MSN 999999999999999ull
#define TS_HLS_MAX_PART 9999u

typedef enum { TS_HLS_NONE, TS_HLS_PLAYLIST, TS_HLS_SEGMENT, TS_HLS_PART } ts_hls_kind_t;

typedef struct {
    ts_hls_kind_t kind;
    int has_msn, has_part, skip, no_ll; /* no_ll: ll=0, the playlist without parts (classic HLS) */
    uint64_t msn;                      /* segment (SEGMENT, PART) or _HLS_msn (PLAYLIST) */
    uint32_t part;                     /* part (PART) or _HLS_part (PLAYLIST) */
} ts_hls_req_t;

/* path[0..path_len) is the request path, query[0..qlen) what follows '?' (qlen 0: none). 0 with
 * r->kind set (TS_HLS_NONE: not an HLS path of this base), or -1 when it is one but malformed,
 * *why saying how (static string): r->kind PLAYLIST then means a bad query (400), SEGMENT a name
 * under BASE/ that cannot be a segment (404). */
int ts_hls_req_parse(const char *base, const char *path, size_t path_len, const char *query, size_t qlen,
                     ts_hls_req_t *r, const char **why);
#endif
