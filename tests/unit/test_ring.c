/* player-bridge/ring.c: the short ring a new player starts from — bounded by count, age and bytes,
 * the newest random-access point found, a clock stepping back handled. */
#include "check.h"
#include "chunk.h"
#include "ring.h"
#include "ts_piece.h"
#include "ts_time.h"
#include <string.h>

static ts_chunk_t *mk(uint64_t seq, uint64_t ts_s, uint32_t flags, size_t len)
{
    uint8_t data[512];
    memset(data, (int)seq, sizeof data);
    return ts_chunk_new(seq, ts_s * TS_US_PER_S, flags, data, len);
}

static void test_ring(void)
{
    ts_ring_t *r = ts_ring_new(4, 8000000, 1000);
    CHECK(ts_ring_newest_rap(r) == -1, "empty ring: no RAP");
    for (uint64_t s = 1; s <= 6; s++) {
        ts_chunk_t *c = mk(s, s, s == 2 || s == 4 ? TS_PIECE_RAP : 0, 10);
        ts_ring_push(r, c);
        ts_chunk_unref(&c);
    }
    CHECK(ts_ring_count(r) == 4 && ts_ring_at(r, 0)->seq == 3, "count bound: 4 kept, oldest seq 3");
    CHECK(ts_ring_newest_rap(r) == 1 && ts_ring_at(r, 1)->seq == 4, "newest RAP is seq 4");
    CHECK(ts_ring_bytes_from(r, 1) == 30, "bytes from the RAP");
    ts_chunk_t *c = mk(7, 20, 0, 10); /* 14 s after seq 6: everything older than 8 s goes */
    ts_ring_push(r, c);
    ts_chunk_unref(&c);
    CHECK(ts_ring_count(r) == 1 && ts_ring_newest_rap(r) == -1, "age bound: only the newest left");
    c = mk(8, 5, TS_PIECE_RAP, 10); /* clock stepped back 15 s: the older piece's age is unknown */
    ts_ring_push(r, c);
    ts_chunk_unref(&c);
    CHECK(ts_ring_count(r) == 1 && ts_ring_at(r, 0)->seq == 8, "backward step: old pieces dropped");
    c = mk(9, 5, 0, 300);
    ts_ring_push(r, c);
    ts_chunk_unref(&c);
    CHECK(ts_ring_count(r) == 2, "same timestamp kept");
    for (uint64_t s = 10; s < 14; s++) {
        c = mk(s, 5, 0, 300);
        ts_ring_push(r, c);
        ts_chunk_unref(&c);
    }
    CHECK(ts_ring_bytes(r) == 900 && ts_ring_count(r) == 3 && ts_ring_at(r, 0)->seq == 11, "byte bound (%zu bytes)",
          ts_ring_bytes(r));
    ts_ring_destroy(&r);
    CHECK(r == NULL, "destroy clears the pointer");
}

int main(void)
{
    test_ring();
    CHECK_DONE();
}
