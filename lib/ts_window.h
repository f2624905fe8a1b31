/* A viewer's sliding window of verified pieces (docs/PROTOCOL.md section 3, rules 3-5).
 *
 * npieces slots, reused cyclically: seq lives in slot seq % npieces. With h = the highest seq held and
 * N = npieces, a piece is acceptable while h - N/2 < seq < h + N/2; storing evicts the (always older)
 * piece that held the slot. Slot buffers (piece_len bytes each) are allocated on first use and kept, so
 * memory is at most npieces * piece_len plus ~64 bytes of metadata per slot. Not thread-safe. */
#ifndef TS_WINDOW_H
#define TS_WINDOW_H
#include "ts_piece.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ts_window ts_window_t;

enum { TS_WIN_OK = 0, TS_WIN_DUP = 1, TS_WIN_OLD = 2, TS_WIN_FAR = 3, TS_WIN_INDEX = 4, TS_WIN_CONFLICT = 5 };

/* NULL if npieces < 2, piece_len <= TS_TRAILER_LEN, or out of memory. */
ts_window_t *ts_window_new(uint64_t npieces, uint32_t piece_len);
void ts_window_destroy(ts_window_t **w);

/* May a verified piece with this seq, received under wire index `index`, be stored? First match wins:
 *   INDEX  index != seq % npieces
 *   DUP    this seq is already held
 *   OLD    window non-empty and seq + npieces/2 <= highest (a replay, or too late to matter)
 *   FAR    window non-empty and seq >= highest + npieces/2 (absurdly far ahead)
 *   OK     otherwise; an empty window accepts any seq. */
int ts_window_check(const ts_window_t *w, uint64_t seq, uint64_t index);

/* Store a copy of a wire piece whose trailer t the caller parsed (and whose signature it verified).
 * Returns the check code and stores only on OK, except that when this seq is already held with a
 * different SHA-256 over the piece minus its signature bytes, it returns TS_WIN_CONFLICT (equivocation)
 * and keeps the first. -1 (nothing stored) if the bytes do not parse under piece_len, disagree with t,
 * or memory runs out. */
int ts_window_put(ts_window_t *w, const uint8_t *piece, size_t len, const ts_trailer_t *t, uint64_t index);

int ts_window_has(const ts_window_t *w, uint64_t seq);
/* Is this wire piece (for seq) the one held? 1 if seq is held with exactly these bytes (a
 * duplicate: no need to verify it), 2 if held with the same bytes but another signature (the
 * same piece signed again, or a forged signature: verify it), 0 if held with other content,
 * -1 if seq is not held. */
int ts_window_same(ts_window_t *w, const uint8_t *piece, size_t len, uint64_t seq);
/* The seq held in the slot of `index` (seq + 1), 0 if the slot is empty. */
uint64_t ts_window_at_index(const ts_window_t *w, uint64_t index);
/* The held wire piece (valid until the next put or reset) and its trailer in t (may be NULL);
 * NULL if seq is not held. */
const uint8_t *ts_window_get(const ts_window_t *w, uint64_t seq, size_t *len, ts_trailer_t *t);
int ts_window_empty(const ts_window_t *w);
uint64_t ts_window_highest(const ts_window_t *w); /* highest seq held (0 if empty) */
uint64_t ts_window_npieces(const ts_window_t *w);
uint64_t ts_window_count(const ts_window_t *w); /* pieces held */

/* The unique seq = index (mod npieces) in (ref - npieces/2, ref + npieces - npieces/2], for reading a
 * HAVE relative to the sender's edge ref. The range is clamped to [0, 2^64): near 0 it becomes
 * [0, npieces), near 2^64 it becomes the top npieces values, so the answer never wraps. */
uint64_t ts_window_seq_for_index(const ts_window_t *w, uint64_t index, uint64_t ref);

/* Forget every piece (the viewer jumps to the live edge); buffers are kept for reuse. */
void ts_window_reset(ts_window_t *w);
#endif
