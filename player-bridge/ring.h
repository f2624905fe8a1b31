/* The most recent pieces, so a player that connects can start at the newest random-access point
 * instead of waiting for the next one. Bounded by age (piece timestamps), count and bytes. */
#ifndef TS_RING_H
#define TS_RING_H
#include "chunk.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ts_ring ts_ring_t;

ts_ring_t *ts_ring_new(size_t max_pieces, uint64_t max_age_us, size_t max_bytes);
void ts_ring_destroy(ts_ring_t **self);
/* Append (the ring takes its own reference), then drop what is now too old, too many or too big. */
void ts_ring_push(ts_ring_t *r, ts_chunk_t *c);
size_t ts_ring_count(const ts_ring_t *r);
size_t ts_ring_bytes(const ts_ring_t *r);
/* i-th piece, 0 = oldest. */
ts_chunk_t *ts_ring_at(const ts_ring_t *r, size_t i);
/* Index of the newest piece flagged RAP, or -1 if there is none. */
long ts_ring_newest_rap(const ts_ring_t *r);
/* Bytes held from index i to the newest piece. */
size_t ts_ring_bytes_from(const ts_ring_t *r, size_t i);
#endif
