/* The piece cutter: turns a source byte stream into piece payloads, losslessly.
 *
 * Pure code (no I/O, no clock): the caller passes "now" (monotonic ns) with every call.
 * A piece closes when the next bytes would not fit, when max_fill_ns has passed since its
 * first byte (ts_tscut_tick), or, for MPEG-TS, at a random-access point (RAP) of a video
 * stream. MPEG-TS is recognised by 0x47 sync bytes every 188 bytes; then pieces end only
 * on packet boundaries, and a RAP piece starts with the PAT (and PMT) that precede the
 * keyframe, so a player can start decoding at its first byte. */
#ifndef TS_TSCUT_H
#define TS_TSCUT_H
#include <stddef.h>
#include <stdint.h>

#if defined(__has_include)
#if __has_include("ts_piece.h")
#include "ts_piece.h"
#endif
#endif
#ifndef TS_TRAILER_LEN
#define TS_TRAILER_LEN 88
#endif
#ifndef TS_PIECE_RAP
#define TS_PIECE_RAP 0x01
#endif
#ifndef TS_PIECE_DISCONT
#define TS_PIECE_DISCONT 0x02
#endif

#define TS_TSCUT_PKT 188

typedef struct ts_tscut ts_tscut_t;

/* A closed piece. data is valid only during the call; the callback must not call into the cutter. */
typedef void ts_tscut_emit_fn(const uint8_t *data, size_t len, uint32_t flags, void *arg);

/* max_payload: at least one TS packet (188). max_fill_ns: 0 disables the fill timeout.
 * NULL with a reason in err on bad arguments or no memory. */
ts_tscut_t *ts_tscut_new(size_t max_payload, uint64_t max_fill_ns, ts_tscut_emit_fn *fn, void *arg,
                         char *err, size_t errlen);
void ts_tscut_destroy(ts_tscut_t **self);

/* Append source bytes and emit every piece they close. 0, or -1 when out of memory. */
int ts_tscut_feed(ts_tscut_t *c, const uint8_t *data, size_t len, uint64_t now_ns);
/* Close the current piece if its fill time is up (call at ts_tscut_deadline). */
void ts_tscut_tick(ts_tscut_t *c, uint64_t now_ns);
/* Monotonic ns at which ts_tscut_tick has work, or UINT64_MAX when nothing is pending. */
uint64_t ts_tscut_deadline(const ts_tscut_t *c);
/* The stream ended (EOF): emit everything pending, partial packets too. */
void ts_tscut_flush(ts_tscut_t *c, uint64_t now_ns);
/* The source restarted: flush, forget what was learnt about the stream, and flag the next
 * piece TS_PIECE_DISCONT (unless no byte was ever sent: then there is nothing it breaks from). */
void ts_tscut_restart(ts_tscut_t *c, uint64_t now_ns);

/* 1 once the current stream has been recognised as MPEG-TS. */
int ts_tscut_is_ts(const ts_tscut_t *c);
/* Times TS sync was lost and searched for again. */
uint64_t ts_tscut_resyncs(const ts_tscut_t *c);

/* CRC-32/MPEG-2 as PSI sections use it (exposed for tests). */
uint32_t ts_tscut_crc32(const uint8_t *p, size_t len);
#endif
