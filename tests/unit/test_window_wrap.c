/* The window through thousands of wraparounds of its index space, as a day-long broadcast drives it:
 * sequential and out-of-order arrival, starting at 0, across 2^32, across 2^63 and up to 2^64 - 1,
 * with every put, has, get and check compared at every step against a model of what must be held.
 * Payloads and timestamps carry all 64 bits of seq, so a 32-bit truncation anywhere shows. */
#include "check.h"
#include "ts_piece.h"
#include "ts_window.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL 200u /* piece_len: payloads of 1 .. 112 bytes */


static uint32_t plen_for(uint64_t seq)
{
    return 1 + (uint32_t)((seq ^ seq >> 32 ^ seq >> 61) % (PL - TS_TRAILER_LEN));
}

/* The piece for seq: payload bytes from every byte of seq (and salt, to make an equivocation). */
static size_t mk(uint8_t *out, ts_trailer_t *t, uint64_t seq, uint8_t salt)
{
    uint32_t plen = plen_for(seq);
    memset(t, 0, sizeof *t);
    t->version = TS_PIECE_VERSION;
    t->payload_len = plen;
    t->seq = seq;
    t->timestamp_us = seq ^ 0x5555555555555555ull; /* 64 bits that differ from seq's */
    memset(t->sig, (int)(seq >> 40), TS_SIG_LEN);
    for (uint32_t i = 0; i < plen; i++)
        out[i] = (uint8_t)(seq >> (8 * (i % 8))) ^ (uint8_t)(i * 31) ^ salt;
    ts_trailer_encode(t, out + plen);
    return plen + TS_TRAILER_LEN;
}

static int put(ts_window_t *w, uint64_t seq, uint8_t salt)
{
    uint8_t b[PL];
    ts_trailer_t t;
    size_t len = mk(b, &t, seq, salt);
    return ts_window_put(w, b, len, &t, seq % ts_window_npieces(w));
}

/* get(seq) returns exactly mk(seq, 0), trailer fields included. */
static int holds(const ts_window_t *w, uint64_t seq)
{
    uint8_t b[PL];
    ts_trailer_t t, g;
    size_t len = mk(b, &t, seq, 0), glen = 0;
    const uint8_t *p = ts_window_get(w, seq, &glen, &g);
    return p && ts_window_has(w, seq) && glen == len && memcmp(p, b, len) == 0 && g.seq == seq &&
           g.timestamp_us == t.timestamp_us && g.payload_len == t.payload_len;
}

static int absent(const ts_window_t *w, uint64_t seq)
{
    size_t len = 1;
    return !ts_window_has(w, seq) && ts_window_get(w, seq, &len, NULL) == NULL;
}

/* What must be held: per slot, the seq stored there (a flag, since seq + 1 would wrap at 2^64 - 1). */
typedef struct {
    uint64_t seq;
    int used;
} model_t;

static int model_has(const model_t *m, uint64_t n, uint64_t seq)
{
    return m[seq % n].used && m[seq % n].seq == seq;
}

/* What the rules say for seq, given the model and its highest seq h. */
static int expect_check(const model_t *m, uint64_t n, int any, uint64_t h, uint64_t seq)
{
    if (model_has(m, n, seq))
        return TS_WIN_DUP;
    if (!any)
        return TS_WIN_OK;
    if (seq < h && h - seq >= n / 2)
        return TS_WIN_OLD;
    if (seq > h && seq - h >= n / 2)
        return TS_WIN_FAR;
    return TS_WIN_OK;
}

/* Feed `total` pieces from `first` into a window of n slots. block > 1 delivers each run of `block`
 * consecutive seqs newest first (pieces from several peers); it must stay below n/2 for every one
 * to be acceptable. After every put: the piece reads back exactly, the one it evicted is gone and
 * its replay refused, a resend is a duplicate, every slot agrees with the model (has() at every
 * step, the bytes every 32 steps), and check() gives the model's answer around both edges of the
 * window and at the 32-bit truncation of seq. Returns the wraparounds made. */
static uint64_t run(uint64_t n, uint64_t first, uint64_t total, uint64_t block, const char *what)
{
    ts_window_t *w = ts_window_new(n, PL);
    model_t *m = calloc((size_t)n, sizeof *m);
    if (!w || !m) {
        CHECK(0, "%s: allocation", what);
        free(m);
        ts_window_destroy(&w);
        return 0;
    }
    int ok = 1, any = 0;
    uint64_t h = 0, count = 0, wraps = 0, steps = 0;
    for (uint64_t b = 0; b < total && ok; b += block) {
        uint64_t nb = total - b < block ? total - b : block;
        for (uint64_t j = nb; j-- > 0 && ok; steps++) {
            uint64_t s = first + b + j;
            int want = expect_check(m, n, any, h, s);
            LOOP_CHECK(ok, ts_window_check(w, s, s % n) == want, "%s: check(%llu) != %d", what, (unsigned long long)s, want);
            LOOP_CHECK(ok, ts_window_check(w, s, (s % n + 1) % n) == TS_WIN_INDEX, "%s: wrong index accepted", what);
            int rc = put(w, s, 0);
            LOOP_CHECK(ok, rc == TS_WIN_OK, "%s: put(%llu) -> %d", what, (unsigned long long)s, rc);
            model_t old = m[s % n];
            if (!old.used)
                count++;
            else if (s % n == 0)
                wraps++;
            m[s % n] = (model_t){ s, 1 };
            if (!any || s > h)
                h = s;
            any = 1;
            LOOP_CHECK(ok, holds(w, s), "%s: get(%llu) after put", what, (unsigned long long)s);
            if (old.used) {
                LOOP_CHECK(ok, absent(w, old.seq), "%s: %llu not evicted by %llu", what, (unsigned long long)old.seq,
                     (unsigned long long)s);
                int r2 = put(w, old.seq, 0);
                LOOP_CHECK(ok, r2 == TS_WIN_OLD, "%s: replay of evicted %llu -> %d", what, (unsigned long long)old.seq, r2);
            }
            /* Same seq again: a duplicate; other bytes under it: an equivocation, the first kept. */
            LOOP_CHECK(ok, put(w, s, 0) == TS_WIN_DUP, "%s: resend of %llu", what, (unsigned long long)s);
            if (s % 61 == 0)
                LOOP_CHECK(ok, put(w, s, 0x3c) == TS_WIN_CONFLICT && holds(w, s), "%s: equivocation at %llu", what,
                     (unsigned long long)s);
            LOOP_CHECK(ok, ts_window_highest(w) == h && ts_window_count(w) == count && !ts_window_empty(w),
                 "%s: highest %llu count %llu after %llu", what, (unsigned long long)ts_window_highest(w),
                 (unsigned long long)ts_window_count(w), (unsigned long long)s);
            for (uint64_t i = 0; i < n && ok; i++)
                if (m[i].used)
                    LOOP_CHECK(ok, steps % 32 ? ts_window_has(w, m[i].seq) : holds(w, m[i].seq), "%s: slot %llu lost %llu",
                         what, (unsigned long long)i, (unsigned long long)m[i].seq);
            const uint64_t probes[] = { h + 1, h + n / 2 - 1, h + n / 2, h + n, h - n / 2, h - n / 2 + 1, h - n,
                                        s - n, (uint32_t)s, s + ((uint64_t)1 << 32) };
            for (size_t k = 0; k < sizeof probes / sizeof probes[0] && ok; k++) {
                uint64_t q = probes[k];
                /* Skip probes that fell off either end of the 64-bit space. */
                if ((k < 4 && q < h) || (k >= 4 && k < 8 && q > h) || (k == 9 && q < s))
                    continue;
                int e = expect_check(m, n, any, h, q);
                LOOP_CHECK(ok, ts_window_check(w, q, q % n) == e, "%s: at highest %llu, check(%llu) != %d", what,
                     (unsigned long long)h, (unsigned long long)q, e);
                if (!model_has(m, n, q))
                    LOOP_CHECK(ok, absent(w, q), "%s: %llu reported held", what, (unsigned long long)q);
            }
            /* A HAVE for a held index, read against our own edge, names the seq we hold there. */
            uint64_t i = (s * 7 + 3) % n;
            if (m[i].used && h - m[i].seq < n / 2)
                LOOP_CHECK(ok, ts_window_seq_for_index(w, i, h) == m[i].seq, "%s: seq_for_index(%llu, %llu)", what,
                     (unsigned long long)i, (unsigned long long)h);
        }
    }
    CHECK(ok && wraps + 2 >= total / n, "%s: %llu pieces, %llu wraparounds of %llu slots", what,
          (unsigned long long)total, (unsigned long long)wraps, (unsigned long long)n);
    free(m);
    ts_window_destroy(&w);
    return wraps;
}

int main(void)
{
    const uint64_t p32 = (uint64_t)1 << 32, p63 = (uint64_t)1 << 63;
    /* Slot counts: tsctl's minimum (64), an odd count (61: index = seq mod 61 does not line up with
     * the powers of two crossed below), and the smallest that can advance (4 and 5: with 2 or 3,
     * N/2 = 1 makes the next seq FAR). */
    static const struct {
        uint64_t n, first, total, block;
        const char *what;
    } runs[] = {
        { 64, 0, 120000, 1, "n=64 from 0" },
        { 61, p32 - 60000, 120000, 1, "n=61 across 2^32" },
        { 64, p32 - 64 * 1000, 64 * 2000, 13, "n=64 across 2^32, blocks of 13 newest first" },
        { 61, p63 - 60000, 120000, 1, "n=61 across 2^63" },
        { 64, p63 - 64 * 1000, 64 * 2000, 31, "n=64 across 2^63, blocks of 31 newest first" },
        { 61, UINT64_MAX - 120000 + 1, 120000, 1, "n=61 up to 2^64-1" },
        { 4, p32 - 5000, 10000, 1, "n=4 across 2^32" },
        { 5, UINT64_MAX - 9999, 10000, 1, "n=5 up to 2^64-1" },
    };
    uint64_t wraps = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        wraps += run(runs[i].n, runs[i].first, runs[i].total, runs[i].block, runs[i].what);
    CHECK(wraps >= 10000, "%llu wraparounds in all", (unsigned long long)wraps);

    /* After the top: the highest possible seq is held and nothing wrapped into small numbers. */
    ts_window_t *w = ts_window_new(61, PL);
    for (uint64_t s = UINT64_MAX - 60;; s++) {
        put(w, s, 0);
        if (s == UINT64_MAX)
            break;
    }
    CHECK(ts_window_highest(w) == UINT64_MAX && holds(w, UINT64_MAX) && ts_window_count(w) == 61,
          "the last 61 seqs of the 64-bit space held");
    CHECK(ts_window_check(w, 0, 0) == TS_WIN_OLD && absent(w, 0) && absent(w, (uint32_t)UINT64_MAX),
          "seq 0 and 2^32-1 are OLD and absent, not aliases of 2^64-1");
    ts_window_destroy(&w);
    CHECK_DONE();
}
