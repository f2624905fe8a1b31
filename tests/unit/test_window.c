/* The viewer's window: acceptance rules, equivocation, eviction under wraparound, and 64-bit edges. */
#include "check.h"
#include "ts_piece.h"
#include "ts_window.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>




#define PL 256u /* piece_len */

/* A piece whose payload is derived from (seq, salt). The window does not verify signatures, so the
 * "signature" is arbitrary bytes (sigbyte). */
static size_t mk(uint8_t *out, ts_trailer_t *t, uint64_t seq, uint32_t plen, uint8_t salt, uint8_t sigbyte)
{
    memset(t, 0, sizeof *t);
    t->version = TS_PIECE_VERSION;
    t->flags = seq % 5 == 0 ? TS_PIECE_RAP : 0;
    t->payload_len = plen;
    t->seq = seq;
    t->timestamp_us = seq * 1000 + 17;
    memset(t->sig, sigbyte, TS_SIG_LEN);
    for (uint32_t i = 0; i < plen; i++)
        out[i] = (uint8_t)(seq >> (8 * (i % 8))) ^ (uint8_t)i ^ salt;
    ts_trailer_encode(t, out + plen);
    return plen + TS_TRAILER_LEN;
}

static uint32_t plen_for(uint64_t seq)
{
    return 1 + (uint32_t)(seq % (PL - TS_TRAILER_LEN)); /* variable sizes, 1 .. 168 */
}

static int put(ts_window_t *w, uint64_t seq, uint8_t salt, uint8_t sigbyte)
{
    uint8_t b[PL];
    ts_trailer_t t;
    size_t len = mk(b, &t, seq, plen_for(seq), salt, sigbyte);
    return ts_window_put(w, b, len, &t, seq % ts_window_npieces(w));
}

/* Does the window hold exactly the piece mk(seq, salt) would make (any signature)? */
static int holds(ts_window_t *w, uint64_t seq, uint8_t salt)
{
    uint8_t b[PL];
    ts_trailer_t t, g;
    size_t len = mk(b, &t, seq, plen_for(seq), salt, 0), glen = 0;
    const uint8_t *p = ts_window_get(w, seq, &glen, &g);
    return p && glen == len && memcmp(p, b, len - TS_SIG_LEN) == 0 && g.seq == seq && g.payload_len == t.payload_len &&
           g.timestamp_us == t.timestamp_us && g.flags == t.flags;
}

static void test_new(void)
{
    ts_window_t *w = ts_window_new(1, PL);
    CHECK(w == NULL, "npieces 1 refused");
    CHECK(ts_window_new(0, PL) == NULL, "npieces 0 refused");
    CHECK(ts_window_new(3, PL) == NULL, "npieces 3 refused (N/2 = 1 could never advance)");
    CHECK(ts_window_new(64, TS_TRAILER_LEN) == NULL, "piece_len without room for a payload refused");
    CHECK(ts_window_new(UINT64_MAX, PL) == NULL, "absurd npieces refused");
    w = ts_window_new(64, PL);
    CHECK(w && ts_window_empty(w) && ts_window_count(w) == 0 && ts_window_highest(w) == 0 &&
              ts_window_npieces(w) == 64,
          "fresh window is empty");
    ts_window_destroy(&w);
    CHECK(w == NULL, "destroy nulls the pointer");
    ts_window_destroy(&w);
}

static void test_rules(void)
{
    ts_window_t *w = ts_window_new(64, PL); /* N/2 = 32 */
    CHECK(ts_window_check(w, 1000, 1000 % 64) == TS_WIN_OK, "empty window accepts anything");
    CHECK(ts_window_check(w, 0, 0) == TS_WIN_OK, "empty window accepts seq 0");
    CHECK(ts_window_check(w, UINT64_MAX, UINT64_MAX % 64) == TS_WIN_OK, "empty window accepts seq 2^64-1");
    CHECK(ts_window_check(w, 1000, 1000 % 64 + 1) == TS_WIN_INDEX, "wrong index -> INDEX");
    CHECK(ts_window_check(w, 1000, 1000 % 64 + 64) == TS_WIN_INDEX, "index beyond npieces -> INDEX");
    CHECK(!ts_window_has(w, 1000) && ts_window_get(w, 1000, NULL, NULL) == NULL, "nothing held");

    uint8_t b[PL];
    ts_trailer_t t;
    size_t len = mk(b, &t, 1000, 100, 0, 0xaa);
    CHECK(ts_window_put(w, b, len, &t, 1000 % 64 + 1) == TS_WIN_INDEX && ts_window_empty(w),
          "put under the wrong index -> INDEX, nothing stored");
    CHECK(ts_window_put(w, b, len, &t, 1000 % 64) == TS_WIN_OK, "first piece stored");
    CHECK(!ts_window_empty(w) && ts_window_count(w) == 1 && ts_window_highest(w) == 1000 && ts_window_has(w, 1000),
          "window state after first put");
    size_t glen = 0;
    ts_trailer_t g;
    const uint8_t *p = ts_window_get(w, 1000, &glen, &g);
    CHECK(p && glen == len && memcmp(p, b, len) == 0 && g.seq == 1000 && g.payload_len == 100 &&
              memcmp(g.sig, t.sig, TS_SIG_LEN) == 0,
          "get returns the exact bytes and trailer");
    CHECK(p != b, "a copy is stored");
    CHECK(!ts_window_has(w, 1064) && ts_window_get(w, 1064, NULL, NULL) == NULL,
          "same slot, other seq: not held");

    /* Duplicate and equivocation. */
    CHECK(ts_window_check(w, 1000, 1000 % 64) == TS_WIN_DUP, "check: held seq -> DUP");
    CHECK(ts_window_put(w, b, len, &t, 1000 % 64) == TS_WIN_DUP, "same bytes again -> DUP");
    uint8_t b2[PL];
    ts_trailer_t t2;
    size_t len2 = mk(b2, &t2, 1000, 100, 0, 0xbb);
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_DUP,
          "same piece, another signature (ECDSA is randomised) -> DUP");
    len2 = mk(b2, &t2, 1000, 100, 1, 0xaa);
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_CONFLICT, "other payload, same seq -> CONFLICT");
    len2 = mk(b2, &t2, 1000, 99, 0, 0xaa);
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_CONFLICT, "shorter payload -> CONFLICT");
    len2 = mk(b2, &t2, 1000, 100, 0, 0xaa);
    t2.timestamp_us++;
    ts_trailer_encode(&t2, b2 + 100);
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_CONFLICT, "other timestamp -> CONFLICT");
    t2.timestamp_us--;
    t2.flags ^= TS_PIECE_DISCONT;
    ts_trailer_encode(&t2, b2 + 100);
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_CONFLICT, "other flags -> CONFLICT");
    p = ts_window_get(w, 1000, &glen, &g);
    CHECK(p && glen == len && memcmp(p, b, len) == 0 && ts_window_count(w) == 1, "the first piece is kept");

    /* ts_window_same tells a duplicate (any signature) from another piece without verifying. */
    CHECK(ts_window_same(w, b, len, 1000) == 1, "same: the held bytes exactly -> 1");
    len2 = mk(b2, &t2, 1000, 100, 0, 0xcc);
    CHECK(ts_window_same(w, b2, len2, 1000) == 2, "same: the held piece under another signature -> 2");
    len2 = mk(b2, &t2, 1000, 100, 1, 0xaa);
    CHECK(ts_window_same(w, b2, len2, 1000) == 0, "same: other payload for a held seq -> 0");
    len2 = mk(b2, &t2, 1000, 99, 0, 0xaa);
    CHECK(ts_window_same(w, b2, len2, 1000) == 0, "same: other length for a held seq -> 0");
    CHECK(ts_window_same(w, b, len, 1064) == -1 && ts_window_same(w, b, len, 999) == -1, "same: seq not held -> -1");
    CHECK(ts_window_at_index(w, 1000 % 64) == 1001 && ts_window_at_index(w, 1001 % 64) == 0,
          "at_index: the seq + 1 a slot holds, 0 when empty");

    /* Bytes that disagree with t, or do not parse, are refused outright. */
    len2 = mk(b2, &t2, 1001, 100, 0, 0xaa);
    t2.seq = 1002;
    CHECK(ts_window_put(w, b2, len2, &t2, 1002 % 64) == -1, "t disagreeing with the bytes -> -1");
    t2.seq = 1001;
    CHECK(ts_window_put(w, b2, len2 - 1, &t2, 1001 % 64) == -1, "truncated bytes -> -1");
    uint8_t big[PL + 1];
    memset(big, 0, sizeof big);
    ts_trailer_t tb = t2;
    tb.payload_len = PL + 1 - TS_TRAILER_LEN;
    ts_trailer_encode(&tb, big + tb.payload_len);
    CHECK(ts_window_put(w, big, sizeof big, &tb, 1001 % 64) == -1, "longer than piece_len -> -1");
    CHECK(ts_window_count(w) == 1 && !ts_window_has(w, 1001), "nothing stored by refused puts");

    /* OLD and FAR around highest = 1000. */
    CHECK(ts_window_check(w, 1000 - 32, (1000 - 32) % 64) == TS_WIN_OLD, "seq + N/2 == highest -> OLD");
    CHECK(ts_window_check(w, 1000 - 31, (1000 - 31) % 64) == TS_WIN_OK, "seq + N/2 == highest + 1 -> OK");
    CHECK(ts_window_check(w, 0, 0) == TS_WIN_OLD, "seq 0 -> OLD");
    CHECK(ts_window_check(w, 1000 + 32, (1000 + 32) % 64) == TS_WIN_FAR, "seq == highest + N/2 -> FAR");
    CHECK(ts_window_check(w, 1000 + 31, (1000 + 31) % 64) == TS_WIN_OK, "seq == highest + N/2 - 1 -> OK");
    CHECK(ts_window_check(w, UINT64_MAX, UINT64_MAX % 64) == TS_WIN_FAR, "seq 2^64-1 -> FAR");
    CHECK(ts_window_check(w, 1000 + 32, 1) == TS_WIN_INDEX, "INDEX is reported before FAR");
    CHECK(put(w, 1000 - 32, 0, 0) == TS_WIN_OLD && !ts_window_has(w, 1000 - 32), "put OLD: not stored");
    CHECK(put(w, 1000 + 32, 0, 0) == TS_WIN_FAR && !ts_window_has(w, 1000 + 32), "put FAR: not stored");

    /* Out of order within the window is fine; highest only grows. */
    CHECK(put(w, 990, 0, 0) == TS_WIN_OK && ts_window_highest(w) == 1000, "older piece within window stored");
    CHECK(put(w, 1031, 0, 0) == TS_WIN_OK && ts_window_highest(w) == 1031, "newest piece moves highest");
    CHECK(ts_window_check(w, 1000, 1000 % 64) == TS_WIN_DUP, "1000 still held");
    CHECK(ts_window_check(w, 999, 999 % 64) == TS_WIN_OLD, "window moved: 999 is OLD now");
    CHECK(ts_window_count(w) == 3, "count 3");

    /* A held piece that has fallen behind the acceptance window is still a DUP, and a different piece
     * for it is still an equivocation. */
    for (uint64_t s = 1032; s <= 1060; s++)
        put(w, s, 0, 0);
    CHECK(ts_window_highest(w) == 1060 && ts_window_has(w, 1000), "1000 held while highest is 1060");
    len2 = mk(b2, &t2, 1000, 100, 0, 0x11); /* the piece stored first, signed anew */
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_DUP, "held but old, same piece -> DUP");
    len2 = mk(b2, &t2, 1000, 100, 9, 0x11);
    CHECK(ts_window_put(w, b2, len2, &t2, 1000 % 64) == TS_WIN_CONFLICT, "held but old, other piece -> CONFLICT");

    /* Replay of an evicted piece. */
    for (uint64_t s = 1061; s <= 1100; s++)
        CHECK(put(w, s, 0, 0) == TS_WIN_OK, "sequential %llu", (unsigned long long)s);
    CHECK(!ts_window_has(w, 1000) && ts_window_has(w, 1064) && holds(w, 1064, 0), "1000 evicted by 1064");
    CHECK(put(w, 1000, 0, 0) == TS_WIN_OLD, "replayed old piece -> OLD");
    CHECK(ts_window_count(w) == 64, "count 64 (all slots)");

    ts_window_reset(w);
    CHECK(ts_window_empty(w) && ts_window_count(w) == 0 && ts_window_highest(w) == 0 && !ts_window_has(w, 1100),
          "reset forgets everything");
    CHECK(put(w, 5, 0, 0) == TS_WIN_OK && ts_window_highest(w) == 5 && holds(w, 5, 0), "after reset: any seq");
    CHECK(put(w, 1000000, 0, 0) == TS_WIN_FAR, "and the rules apply again");
    ts_window_destroy(&w);
}

/* highest stays correct when the first piece is older than what follows, and at seq 0. */
static void test_highest(void)
{
    ts_window_t *w = ts_window_new(16, PL);
    CHECK(put(w, 0, 0, 0) == TS_WIN_OK && ts_window_highest(w) == 0 && !ts_window_empty(w), "seq 0 stored");
    CHECK(ts_window_check(w, 8, 8) == TS_WIN_FAR && ts_window_check(w, 7, 7) == TS_WIN_OK, "N=16: FAR at 8");
    CHECK(put(w, 7, 0, 0) == TS_WIN_OK && ts_window_highest(w) == 7, "highest 7");
    CHECK(put(w, 3, 0, 0) == TS_WIN_OK && ts_window_highest(w) == 7, "older does not lower highest");
    CHECK(put(w, 0, 0, 0) == TS_WIN_DUP, "0 still held");
    CHECK(ts_window_check(w, 14, 14) == TS_WIN_OK && ts_window_check(w, 15, 15) == TS_WIN_FAR, "FAR moves");
    ts_window_destroy(&w);

    /* Odd N: N/2 rounds down. */
    w = ts_window_new(17, PL);
    put(w, 100, 0, 0);
    CHECK(ts_window_check(w, 92, 92 % 17) == TS_WIN_OLD && ts_window_check(w, 93, 93 % 17) == TS_WIN_OK &&
              ts_window_check(w, 108, 108 % 17) == TS_WIN_FAR && ts_window_check(w, 107, 107 % 17) == TS_WIN_OK,
          "N=17: OLD at highest-8, FAR at highest+8");
    ts_window_destroy(&w);
}

static void test_wraparound(void)
{
    const uint64_t n = 64, total = 200000;
    ts_window_t *w = ts_window_new(n, PL);
    int ok = 1;
    for (uint64_t s = 0; s < total; s++) {
        int rc = put(w, s, (uint8_t)(s * 7), (uint8_t)s);
        LOOP_CHECK(ok, rc == TS_WIN_OK, "put %llu -> %d", (unsigned long long)s, rc);
        LOOP_CHECK(ok, ts_window_highest(w) == s, "highest after %llu", (unsigned long long)s);
        LOOP_CHECK(ok, ts_window_count(w) == (s + 1 < n ? s + 1 : n), "count after %llu", (unsigned long long)s);
        LOOP_CHECK(ok, holds(w, s, (uint8_t)(s * 7)), "get %llu right after put", (unsigned long long)s);
        if (s >= n) {
            LOOP_CHECK(ok, !ts_window_has(w, s - n) && ts_window_get(w, s - n, NULL, NULL) == NULL,
                       "%llu evicted", (unsigned long long)(s - n));
            LOOP_CHECK(ok, holds(w, s - n + 1, (uint8_t)((s - n + 1) * 7)), "%llu still held",
                       (unsigned long long)(s - n + 1));
        }
        /* Every so often, replays of evicted and held pieces. */
        if (s % 997 == 0 && s >= 2 * n) {
            LOOP_CHECK(ok, put(w, s - n, (uint8_t)((s - n) * 7), 0) == TS_WIN_OLD, "replay of evicted -> OLD");
            LOOP_CHECK(ok, put(w, s - 1, (uint8_t)((s - 1) * 7), 0) == TS_WIN_DUP, "re-send of held -> DUP");
            LOOP_CHECK(ok, put(w, s - 1, 0x5a ^ (uint8_t)((s - 1) * 7), 0) == TS_WIN_CONFLICT, "equivocation");
        }
    }
    CHECK(ok, "200,000 sequential pieces through 64 slots");
    int last = 1;
    for (uint64_t s = total - n; s < total; s++)
        last &= holds(w, s, (uint8_t)(s * 7));
    for (uint64_t s = total - 3 * n; s < total - n; s++)
        last &= !ts_window_has(w, s);
    CHECK(last && ts_window_count(w) == n, "exactly the last 64 pieces are held at the end");
    ts_window_destroy(&w);
}

static void test_big_seqs(void)
{
    ts_window_t *w = ts_window_new(64, PL);
    const uint64_t h63 = (uint64_t)1 << 63;
    int ok = 1;
    for (uint64_t s = h63 - 200; s != h63 + 200; s++)
        LOOP_CHECK(ok, put(w, s, 0, 0) == TS_WIN_OK && holds(w, s, 0), "put across 2^63 at %llu",
                   (unsigned long long)s);
    CHECK(ok && ts_window_highest(w) == h63 + 199 && !ts_window_has(w, h63 + 199 - 64), "across 2^63");
    CHECK(put(w, h63 + 199 - 40, 0, 0) == TS_WIN_DUP && put(w, h63 + 199 - 64, 0, 0) == TS_WIN_OLD, "OLD near 2^63");
    CHECK(ts_window_check(w, h63 + 199 + 32, (h63 + 199 + 32) % 64) == TS_WIN_FAR, "FAR near 2^63");

    /* The very top: no sum may wrap. */
    ts_window_reset(w);
    ok = 1;
    for (uint64_t s = UINT64_MAX - 100;; s++) {
        LOOP_CHECK(ok, put(w, s, 0, 0) == TS_WIN_OK, "put %llu", (unsigned long long)s);
        if (s == UINT64_MAX)
            break;
    }
    CHECK(ok && ts_window_highest(w) == UINT64_MAX && holds(w, UINT64_MAX, 0), "up to 2^64-1");
    CHECK(ts_window_check(w, UINT64_MAX - 31, (UINT64_MAX - 31) % 64) == TS_WIN_DUP, "held near the top");
    CHECK(ts_window_check(w, UINT64_MAX - 100, (UINT64_MAX - 100) % 64) == TS_WIN_OLD, "OLD near the top");
    CHECK(ts_window_check(w, 5, 5) == TS_WIN_OLD, "small seq is OLD, not wrapped into FAR");
    ts_window_reset(w);
    put(w, UINT64_MAX - 40, 0, 0);
    CHECK(ts_window_check(w, UINT64_MAX, UINT64_MAX % 64) == TS_WIN_FAR, "FAR near the top");
    CHECK(ts_window_check(w, UINT64_MAX - 9, (UINT64_MAX - 9) % 64) == TS_WIN_OK, "OK near the top");
    ts_window_reset(w);
    put(w, 3, 0, 0);
    CHECK(ts_window_check(w, 0, 0) == TS_WIN_OK, "near 0: seq below highest - N/2 would underflow; OK");
    CHECK(ts_window_check(w, UINT64_MAX - 10, (UINT64_MAX - 10) % 64) == TS_WIN_FAR, "near 0: huge seq is FAR");
    ts_window_destroy(&w);
}

/* Brute force: seq_for_index against the definition, clamped to [0, 2^64). */
static int sfi_ok(ts_window_t *w, uint64_t index, uint64_t ref)
{
    uint64_t n = ts_window_npieces(w), half = n / 2;
    uint64_t s = ts_window_seq_for_index(w, index, ref);
    if (s % n != index % n)
        return 0;
    /* Unclamped range (ref - half, ref + n - half]; clamped at the ends. */
    if (ref >= half && ref <= UINT64_MAX - (n - half))
        return s > ref - half && s <= ref + (n - half);
    if (ref < half)
        return s < n;
    return s >= UINT64_MAX - (n - 1);
}

static void test_seq_for_index(void)
{
    static const uint64_t sizes[] = { 4, 5, 16, 17, 64, 1000 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint64_t n = sizes[k];
        ts_window_t *w = ts_window_new(n, PL);
        const uint64_t h63 = (uint64_t)1 << 63;
        const uint64_t refs[] = { 0, 1, n / 2 - 1, n / 2, n / 2 + 1, n - 1, n, n + 1, 5 * n + 3, 123456789,
                                  h63 - n - 1, h63 - 1, h63, h63 + 1, h63 + n / 2, UINT64_MAX - n, UINT64_MAX - n + 1,
                                  UINT64_MAX - n / 2, UINT64_MAX - 1, UINT64_MAX };
        int ok = 1;
        for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++)
            for (uint64_t i = 0; i < n; i++)
                LOOP_CHECK(ok, sfi_ok(w, i, refs[r]), "n=%llu ref=%llu index=%llu -> %llu", (unsigned long long)n,
                           (unsigned long long)refs[r], (unsigned long long)i,
                           (unsigned long long)ts_window_seq_for_index(w, i, refs[r]));
        CHECK(ok, "seq_for_index n=%llu", (unsigned long long)n);
        /* Each index maps to a distinct seq (n indices, n seqs). */
        uint64_t ref = 5 * n + 3, seen = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t s = ts_window_seq_for_index(w, i, ref);
            seen += s >= ref + 1 - n / 2 && s <= ref + n - n / 2;
        }
        CHECK(seen == n, "n=%llu: every index lands in the range once", (unsigned long long)n);
        ts_window_destroy(&w);
    }
    /* Spot values, N = 64: range (ref-32, ref+32]. */
    ts_window_t *w = ts_window_new(64, PL);
    CHECK(ts_window_seq_for_index(w, 1000 % 64, 1000) == 1000, "ref's own index is ref");
    CHECK(ts_window_seq_for_index(w, 969 % 64, 1000) == 969, "lowest: ref - 31");
    CHECK(ts_window_seq_for_index(w, 968 % 64, 1000) == 1032, "ref - 32 is excluded: ref + 32");
    CHECK(ts_window_seq_for_index(w, 1032 % 64, 1000) == 1032, "highest: ref + 32");
    CHECK(ts_window_seq_for_index(w, 63, 0) == 63, "near 0: never below 0");
    CHECK(ts_window_seq_for_index(w, 0, 0) == 0, "ref 0 index 0");
    CHECK(ts_window_seq_for_index(w, 40, 10) == 40, "near 0: clamped to [0, 64)");
    CHECK(ts_window_seq_for_index(w, 0, 32) == 64, "ref 32: range (0, 64]");
    CHECK(ts_window_seq_for_index(w, 0, UINT64_MAX) == UINT64_MAX - 63, "top: clamped");
    CHECK(ts_window_seq_for_index(w, 63, UINT64_MAX) == UINT64_MAX, "top: 2^64-1");
    CHECK(ts_window_seq_for_index(w, 64 + 5, 1000) == ts_window_seq_for_index(w, 5, 1000), "index taken mod N");
    ts_window_destroy(&w);
}

int main(void)
{
    test_new();
    test_rules();
    test_highest();
    test_wraparound();
    test_big_seqs();
    test_seq_for_index();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
