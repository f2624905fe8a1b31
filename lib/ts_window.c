#include "ts_window.h"
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *buf; /* piece_len bytes once first used; kept when the slot is evicted or reset */
    uint64_t seq;
    uint32_t len; /* 0: slot empty */
    uint8_t digest[32]; /* SHA-256 of the piece minus its signature, to tell a duplicate from an equivocation */
} slot_t;

struct ts_window {
    slot_t *slots;
    uint64_t n, count, highest;
    uint32_t piece_len;
    EVP_MD *sha;
    EVP_MD_CTX *ctx;
};

ts_window_t *ts_window_new(uint64_t npieces, uint32_t piece_len)
{
    /* npieces >= 4: with N/2 = 1 the next piece would already count as "far ahead" (check() refuses
     * seq - highest >= N/2), so the window could never advance. The metainfo requires >= 16. */
    if (npieces < 4 || npieces > SIZE_MAX / sizeof(slot_t) || piece_len <= TS_TRAILER_LEN)
        return NULL;
    ts_window_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->n = npieces;
    w->piece_len = piece_len;
    w->slots = calloc((size_t)npieces, sizeof(slot_t));
    w->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    w->ctx = EVP_MD_CTX_new();
    if (!w->slots || !w->sha || !w->ctx)
        ts_window_destroy(&w);
    return w;
}

void ts_window_destroy(ts_window_t **w)
{
    if (!w || !*w)
        return;
    if ((*w)->slots)
        for (uint64_t i = 0; i < (*w)->n; i++)
            free((*w)->slots[i].buf);
    free((*w)->slots);
    EVP_MD_CTX_free((*w)->ctx);
    EVP_MD_free((*w)->sha);
    free(*w);
    *w = NULL;
}

static const slot_t *held(const ts_window_t *w, uint64_t seq)
{
    const slot_t *s = &w->slots[seq % w->n];
    return s->len && s->seq == seq ? s : NULL;
}

int ts_window_check(const ts_window_t *w, uint64_t seq, uint64_t index)
{
    if (index != seq % w->n)
        return TS_WIN_INDEX;
    if (held(w, seq))
        return TS_WIN_DUP;
    if (!w->count)
        return TS_WIN_OK;
    /* Differences, never sums: seq near 2^64 must not wrap. */
    uint64_t half = w->n / 2;
    if (seq < w->highest && w->highest - seq >= half)
        return TS_WIN_OLD;
    if (seq > w->highest && seq - w->highest >= half)
        return TS_WIN_FAR;
    return TS_WIN_OK;
}

/* Over payload || trailer bytes 0..23: everything signed except the domain and infohash (constant
 * here), and not the signature, which differs between two signings of the same piece. */
static int digest(ts_window_t *w, const uint8_t *piece, size_t len, uint8_t out[32])
{
    unsigned int dlen = 0;
    return EVP_DigestInit_ex(w->ctx, w->sha, NULL) == 1 &&
                   EVP_DigestUpdate(w->ctx, piece, len - TS_SIG_LEN) == 1 &&
                   EVP_DigestFinal_ex(w->ctx, out, &dlen) == 1 && dlen == 32
               ? 0
               : -1;
}

int ts_window_put(ts_window_t *w, const uint8_t *piece, size_t len, const ts_trailer_t *t, uint64_t index)
{
    if (!w || !piece || !t)
        return -1;
    /* get() decodes the trailer from the stored bytes, so they must be exactly what t says. */
    ts_trailer_t pt;
    uint8_t a[TS_TRAILER_LEN], b[TS_TRAILER_LEN];
    if (ts_piece_parse(piece, len, w->piece_len, &pt) < 0)
        return -1;
    ts_trailer_encode(&pt, a);
    ts_trailer_encode(t, b);
    if (memcmp(a, b, TS_TRAILER_LEN) != 0)
        return -1;

    uint64_t seq = t->seq;
    int rc = ts_window_check(w, seq, index);
    uint8_t d[32];
    if (rc == TS_WIN_DUP) {
        /* Same seq, different signed content: only the key holder can do that. Keep the first. */
        if (digest(w, piece, len, d) < 0)
            return -1;
        return memcmp(d, held(w, seq)->digest, 32) ? TS_WIN_CONFLICT : TS_WIN_DUP;
    }
    if (rc != TS_WIN_OK)
        return rc;
    slot_t *s = &w->slots[seq % w->n];
    if (!s->buf && !(s->buf = malloc(w->piece_len)))
        return -1;
    if (digest(w, piece, len, d) < 0)
        return -1;
    /* Whatever s held is older (a newer one would make seq OLD), so eviction never drops the highest. */
    if (!s->len)
        w->count++;
    memcpy(s->buf, piece, len);
    memcpy(s->digest, d, 32);
    s->len = (uint32_t)len;
    s->seq = seq;
    if (w->count == 1 || seq > w->highest)
        w->highest = seq;
    return TS_WIN_OK;
}

int ts_window_has(const ts_window_t *w, uint64_t seq)
{
    return w && held(w, seq) != NULL;
}

int ts_window_same(ts_window_t *w, const uint8_t *piece, size_t len, uint64_t seq)
{
    const slot_t *s = held(w, seq);
    uint8_t d[32];
    if (!s)
        return -1;
    if (len != s->len || len < TS_SIG_LEN)
        return 0;
    if (memcmp(piece, s->buf, len) == 0)
        return 1;
    if (digest(w, piece, len, d) < 0)
        return 0;
    return memcmp(d, s->digest, 32) == 0 ? 2 : 0;
}

uint64_t ts_window_at_index(const ts_window_t *w, uint64_t index)
{
    const slot_t *s = &w->slots[index % w->n];
    return s->len ? s->seq + 1 : 0;
}

const uint8_t *ts_window_get(const ts_window_t *w, uint64_t seq, size_t *len, ts_trailer_t *t)
{
    const slot_t *s = w ? held(w, seq) : NULL;
    if (!s)
        return NULL;
    if (len)
        *len = s->len;
    /* Cannot fail: put() stored only bytes that parse. */
    if (t && ts_piece_parse(s->buf, s->len, w->piece_len, t) < 0)
        return NULL;
    return s->buf;
}

int ts_window_empty(const ts_window_t *w)
{
    return w->count == 0;
}

uint64_t ts_window_highest(const ts_window_t *w)
{
    return w->count ? w->highest : 0;
}

uint64_t ts_window_npieces(const ts_window_t *w)
{
    return w->n;
}

uint64_t ts_window_count(const ts_window_t *w)
{
    return w->count;
}

uint64_t ts_window_seq_for_index(const ts_window_t *w, uint64_t index, uint64_t ref)
{
    uint64_t n = w->n, half = n / 2;
    /* Lowest seq of the range, clamped so the whole range of n seqs lies in [0, 2^64). */
    uint64_t lo = ref >= half ? ref - half + 1 : 0;
    if (lo > UINT64_MAX - (n - 1))
        lo = UINT64_MAX - (n - 1);
    uint64_t r = lo % n, i = index % n;
    return lo + (i >= r ? i - r : i + (n - r));
}

void ts_window_reset(ts_window_t *w)
{
    for (uint64_t i = 0; i < w->n; i++)
        w->slots[i].len = 0;
    w->count = 0;
    w->highest = 0;
}
