/* libFuzzer target for the piece cutter (ingest/tscut.c).
 * Input: 4 header bytes (piece size, chunking seed, mode), then the stream. Beyond "no crash, no
 * leak": the pieces must reassemble the stream exactly, and none may be empty or over the size.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
 *     -Iingest -Ilib tests/fuzz/fuzz_tscut.c ingest/tscut.c lib/ts_buf.c -o fuzz_tscut
 *   ./fuzz_tscut -max_len=70000 CORPUS tests/fuzz/corpus/tscut
 * (the macro skips the PSI CRC check, so mutated tables reach the PAT/PMT parsers) */
#include "tscut.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *out;
    size_t len, cap, max;
    int rap_seen_raw;
} sink_t;

static void on_piece(const uint8_t *data, size_t len, uint32_t flags, void *arg)
{
    sink_t *s = arg;
    if (len == 0 || len > s->max || s->len + len > s->cap)
        abort();
    if (flags & ~(uint32_t)(TS_PIECE_RAP | TS_PIECE_DISCONT))
        abort();
    memcpy(s->out + s->len, data, len);
    s->len += len;
}

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t max = 188 + ((size_t)data[0] << 8 | data[1]) % 20000;
    uint32_t x = 0x9E3779B9u ^ data[2];
    uint8_t mode = data[3];
    data += 4;
    size -= 4;
    sink_t s = { .out = malloc(size + 1), .cap = size, .max = max };
    char err[64];
    ts_tscut_t *c = ts_tscut_new(max, (mode & 1) ? 200000000ull : 0, on_piece, &s, err, sizeof err);
    if (!c || !s.out)
        abort();
    uint64_t now = 0;
    size_t maxchunk = (mode & 2) ? 7 : (mode & 4) ? 400 : 5000;
    for (size_t off = 0; off < size;) {
        size_t n = 1 + rnd(&x) % maxchunk;
        if (n > size - off)
            n = size - off;
        if (ts_tscut_feed(c, data + off, n, now) < 0)
            abort();
        off += n;
        now += (uint64_t)(rnd(&x) % 120) * 1000000ull;
        if (now >= ts_tscut_deadline(c))
            ts_tscut_tick(c, now);
        if ((mode & 8) && rnd(&x) % 64 == 0)
            ts_tscut_restart(c, now);
    }
    ts_tscut_flush(c, now);
    if (s.len != size || (size && memcmp(s.out, data, size) != 0))
        abort();
    if (ts_tscut_deadline(c) != UINT64_MAX)
        abort(); /* flushed: nothing pending */
    ts_tscut_destroy(&c);
    free(s.out);
    return 0;
}
