#include "ring.h"
#include "ts_time.h"
#include "ts_piece.h"
#include <stdlib.h>

#define RING_SKEW_US TS_US_PER_S /* timestamps may step back this much without counting as a new clock */

struct ts_ring {
    ts_chunk_t **slot;
    size_t cap, head, count, bytes, max_bytes;
    uint64_t max_age_us;
};

ts_ring_t *ts_ring_new(size_t max_pieces, uint64_t max_age_us, size_t max_bytes)
{
    ts_ring_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cap = max_pieces ? max_pieces : 1;
    r->max_age_us = max_age_us;
    r->max_bytes = max_bytes;
    r->slot = calloc(r->cap, sizeof *r->slot);
    if (!r->slot) {
        free(r);
        return NULL;
    }
    return r;
}

static void drop_oldest(ts_ring_t *r)
{
    ts_chunk_t **s = &r->slot[r->head];
    r->bytes -= (*s)->len;
    ts_chunk_unref(s);
    r->head = (r->head + 1) % r->cap;
    r->count--;
}

void ts_ring_destroy(ts_ring_t **self)
{
    ts_ring_t *r = *self;
    if (!r)
        return;
    while (r->count)
        drop_oldest(r);
    free(r->slot);
    free(r);
    *self = NULL;
}

void ts_ring_push(ts_ring_t *r, ts_chunk_t *c)
{
    if (r->count == r->cap)
        drop_oldest(r);
    r->slot[(r->head + r->count) % r->cap] = ts_chunk_ref(c);
    r->count++;
    r->bytes += c->len;
    /* Keep the newest piece whatever its size. An older piece stamped well after the newest one
     * comes from before a backward clock step or a source restart: its age is unknown, so it goes. */
    while (r->count > 1) {
        const ts_chunk_t *old = r->slot[r->head];
        int too_old = old->timestamp_us > c->timestamp_us ? old->timestamp_us - c->timestamp_us > RING_SKEW_US
                                                          : c->timestamp_us - old->timestamp_us > r->max_age_us;
        if (!too_old && r->bytes <= r->max_bytes)
            break;
        drop_oldest(r);
    }
}

size_t ts_ring_count(const ts_ring_t *r) { return r->count; }
size_t ts_ring_bytes(const ts_ring_t *r) { return r->bytes; }

ts_chunk_t *ts_ring_at(const ts_ring_t *r, size_t i) { return i < r->count ? r->slot[(r->head + i) % r->cap] : NULL; }

long ts_ring_newest_rap(const ts_ring_t *r)
{
    for (size_t i = r->count; i-- > 0;)
        if (r->slot[(r->head + i) % r->cap]->flags & TS_PIECE_RAP)
            return (long)i;
    return -1;
}

size_t ts_ring_bytes_from(const ts_ring_t *r, size_t i)
{
    size_t n = 0;
    for (; i < r->count; i++)
        n += r->slot[(r->head + i) % r->cap]->len;
    return n;
}
