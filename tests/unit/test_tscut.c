/* The piece cutter against real MPEG-TS from ffmpeg and against random bytes: lossless, bounded,
 * cut on packet boundaries, one RAP piece per keyframe starting with the PAT, and the fill timeout.
 * At the end, the small pure helpers ingest cuts with: restart backoff, file pacing budget, and the
 * sequence-number reservation file. */
#include "check.h"
#include "tscut.h"
#include "backoff.h"
#include "seqstore.h"
#include "pacer.h"
#include "ts_buf.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



#define MS 1000000ull

/* ------------------------------------------------------------ collecting pieces */

typedef struct {
    size_t off, len;
    uint32_t flags;
} piece_t;

typedef struct {
    ts_buf_t all; /* concatenated payloads */
    piece_t *p;
    size_t n, cap;
} sink_t;

static void on_piece(const uint8_t *data, size_t len, uint32_t flags, void *arg)
{
    sink_t *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->p = realloc(s->p, s->cap * sizeof *s->p);
        if (!s->p)
            abort();
    }
    s->p[s->n++] = (piece_t){ s->all.len, len, flags };
    ts_buf_put(&s->all, data, len);
}

static void sink_free(sink_t *s)
{
    ts_buf_free(&s->all);
    free(s->p);
    memset(s, 0, sizeof *s);
}

static size_t count_rap(const sink_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += (s->p[i].flags & TS_PIECE_RAP) != 0;
    return n;
}

/* Feed in random chunks of 1..maxchunk bytes, time advancing by 0..step ms per chunk, with ticks
 * whenever the deadline passes. */
static ts_tscut_t *run(const uint8_t *in, size_t len, size_t max, uint64_t fill_ns, size_t maxchunk, unsigned step_ms,
                       unsigned seed, sink_t *s)
{
    char err[128];
    ts_tscut_t *c = ts_tscut_new(max, fill_ns, on_piece, s, err, sizeof err);
    if (!c) {
        printf("ts_tscut_new: %s\n", err);
        abort();
    }
    srand(seed);
    uint64_t now = 1000 * MS;
    for (size_t off = 0; off < len;) {
        size_t n = 1 + (size_t)rand() % maxchunk;
        if (n > len - off)
            n = len - off;
        if (ts_tscut_feed(c, in + off, n, now) < 0)
            abort();
        off += n;
        now += step_ms ? (uint64_t)(rand() % (step_ms + 1)) * MS : 0;
        if (now >= ts_tscut_deadline(c))
            ts_tscut_tick(c, now);
    }
    ts_tscut_flush(c, now);
    return c;
}

/* ------------------------------------------------------------ helpers */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    ts_buf_t b;
    ts_buf_init(&b);
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        ts_buf_put(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return b.data;
}

static long keyframes(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -select_streams v -show_entries packet=flags -of csv=p=0 '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[64];
    long k = 0;
    while (fgets(line, sizeof line, p))
        k += line[0] == 'K';
    return pclose(p) == 0 ? k : -1;
}

static unsigned pid_of(const uint8_t *pkt) { return (unsigned)(pkt[1] & 0x1F) << 8 | pkt[2]; }

/* ------------------------------------------------------------ tests */

static void test_crc(void)
{
    CHECK(ts_tscut_crc32((const uint8_t *)"123456789", 9) == 0x0376E6E7u, "CRC-32/MPEG-2 check value");
}

static void test_args(void)
{
    char err[128] = "";
    sink_t s = { 0 };
    ts_tscut_t *c = ts_tscut_new(187, 0, on_piece, &s, err, sizeof err);
    CHECK(c == NULL && err[0], "payload below one packet rejected");
    c = ts_tscut_new(188, 0, on_piece, &s, err, sizeof err);
    CHECK(c != NULL, "one packet accepted");
    ts_tscut_destroy(&c);
    CHECK(c == NULL, "destroy nulls the pointer");
    ts_tscut_destroy(&c);
}

/* One real TS file through many chunkings and piece sizes. */
static void check_ts(const char *what, const uint8_t *in, size_t len, long kf, size_t skip)
{
    static const size_t maxes[] = { 16384 - TS_TRAILER_LEN, 65536 - TS_TRAILER_LEN, 188 * 7, 188 * 2 + 100, 188 };
    static const size_t chunks[] = { 1, 7, 188, 1500, 65536 };
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            sink_t s = { 0 };
            ts_buf_init(&s.all);
            size_t max = maxes[m];
            /* Odd runs let the fill timeout fire often; time per chunk stays plausible for TS. */
            unsigned step = (k % 2) ? (chunks[k] >= 1500 ? 150 : 2) : 0;
            ts_tscut_t *c = run(in, len, max, 200 * MS, chunks[k], step, (unsigned)(m * 31 + k), &s);
            char tag[160];
            snprintf(tag, sizeof tag, "%s max=%zu chunk<=%zu step=%u", what, max, chunks[k], step);
            CHECK(s.all.len == len && memcmp(s.all.data, in, len) == 0, "%s: pieces reassemble the input", tag);
            CHECK(ts_tscut_is_ts(c), "%s: recognised as TS", tag);
            size_t bad_len = 0, bad_align = 0, bad_rap = 0;
            for (size_t i = 0; i < s.n; i++) {
                const piece_t *p = &s.p[i];
                bad_len += p->len == 0 || p->len > max;
                /* Only the first piece may carry bytes from before the first packet. */
                size_t start = p->off >= skip ? p->off - skip : 0;
                bad_align += i > 0 && (start % 188 != 0 || (p->off + p->len - skip) % 188 != 0);
                /* A piece too small for tables + keyframe packet cannot start with the PAT. */
                if ((p->flags & TS_PIECE_RAP) && max >= 188 * 7)
                    bad_rap += s.all.data[p->off] != 0x47 || pid_of(s.all.data + p->off) != 0;
            }
            CHECK(bad_len == 0, "%s: %zu pieces empty or over %zu bytes", tag, bad_len, max);
            CHECK(bad_align == 0, "%s: %zu pieces off the packet grid", tag, bad_align);
            CHECK(bad_rap == 0, "%s: %zu RAP pieces do not start with a PAT packet", tag, bad_rap);
            CHECK((long)count_rap(&s) == kf, "%s: %zu RAP pieces, %ld keyframes", tag, count_rap(&s), kf);
            for (size_t i = 0; i < s.n; i++)
                if (s.p[i].flags & TS_PIECE_DISCONT) {
                    CHECK(0, "%s: DISCONT without a restart", tag);
                    break;
                }
            ts_tscut_destroy(&c);
            sink_free(&s);
        }
    }
}

static int make_ts(const char *path, int cbr)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=320x180:rate=25 "
             "-f lavfi -i sine=frequency=1000:sample_rate=48000 -c:v libx264 -preset veryfast -g 25 "
             "-pix_fmt yuv420p -c:a mp2 -b:a 64k %s -t 4 -f mpegts '%s' </dev/null",
             cbr ? "-b:v 400k -minrate 400k -maxrate 400k -bufsize 200k -x264-params nal-hrd=cbr -muxrate 600k" : "",
             path);
    return system(cmd);
}

static void test_real_ts(void)
{
    if (system("command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1") != 0) {
        printf("SKIP real TS tests: ffmpeg/ffprobe not installed\n");
        return;
    }
    char dir[] = "/tmp/test_tscut.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    for (int cbr = 0; cbr < 2; cbr++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.ts", dir, cbr ? "cbr" : "vbr");
        int rc = make_ts(path, cbr);
        CHECK(rc == 0, "ffmpeg made %s", path);
        size_t len = 0;
        uint8_t *in = rc == 0 ? slurp(path, &len) : NULL;
        long kf = keyframes(path);
        CHECK(in && len > 50000 && len % 188 == 0, "%s: %zu bytes of whole packets", path, len);
        CHECK(kf >= 4, "%s: ffprobe counted %ld keyframes", path, kf);
        if (!in || kf < 4) {
            free(in);
            continue;
        }
        printf("%s: %zu bytes, %ld keyframes\n", cbr ? "cbr" : "vbr", len, kf);
        check_ts(cbr ? "cbr" : "vbr", in, len, kf, 0);

        /* Joined 100 bytes into a packet: found by a run of sync bytes, nothing lost. */
        check_ts(cbr ? "cbr+100" : "vbr+100", in + 100, len - 100, kf, 88);

        /* Garbage between two packets mid-stream: sync is lost, found again, bytes kept. */
        {
            size_t at = (len / 188 / 2) * 188, junk = 77;
            uint8_t *j = malloc(len + junk);
            memcpy(j, in, at);
            for (size_t i = 0; i < junk; i++)
                j[at + i] = (uint8_t)(i * 37 + 1);
            memcpy(j + at + junk, in + at, len - at);
            sink_t s = { 0 };
            ts_tscut_t *c = run(j, len + junk, 16384 - TS_TRAILER_LEN, 200 * MS, 4000, 30, 7, &s);
            CHECK(s.all.len == len + junk && memcmp(s.all.data, j, len + junk) == 0, "junk: lossless");
            CHECK(ts_tscut_resyncs(c) >= 1, "junk: resync counted");
            CHECK((long)count_rap(&s) == kf, "junk: %zu RAP pieces, %ld keyframes", count_rap(&s), kf);
            ts_tscut_destroy(&c);
            sink_free(&s);
            free(j);
        }

        /* A restart mid-stream: the next piece says DISCONT, and TS is recognised again. */
        {
            sink_t s = { 0 };
            char err[128];
            ts_tscut_t *c = ts_tscut_new(16384 - TS_TRAILER_LEN, 200 * MS, on_piece, &s, err, sizeof err);
            size_t half = len / 2 + 55; /* cut inside a packet: the fragment is flushed as is */
            ts_tscut_feed(c, in, half, 0);
            size_t before = s.n;
            ts_tscut_restart(c, 1 * MS);
            CHECK(s.all.len == half, "restart flushes everything before it");
            size_t mark = s.n;
            ts_tscut_feed(c, in, len, 2 * MS);
            ts_tscut_flush(c, 3 * MS);
            CHECK(s.all.len == half + len && memcmp(s.all.data + half, in, len) == 0, "restart: lossless");
            CHECK(s.n > mark && (s.p[mark].flags & TS_PIECE_DISCONT), "first piece after restart has DISCONT");
            size_t d = 0;
            for (size_t i = 0; i < s.n; i++)
                d += (s.p[i].flags & TS_PIECE_DISCONT) != 0;
            CHECK(d == 1, "exactly one DISCONT piece (%zu)", d);
            CHECK(ts_tscut_is_ts(c), "TS again after restart");
            size_t raps = 0;
            for (size_t i = mark; i < s.n; i++)
                raps += (s.p[i].flags & TS_PIECE_RAP) != 0;
            CHECK((long)raps == kf, "after restart: %zu RAP pieces, %ld keyframes", raps, kf);
            (void)before;
            ts_tscut_destroy(&c);
            sink_free(&s);
        }

        /* Fill timeout on TS: only whole packets leave; the fragment waits. */
        {
            sink_t s = { 0 };
            char err[128];
            ts_tscut_t *c = ts_tscut_new(16384 - TS_TRAILER_LEN, 200 * MS, on_piece, &s, err, sizeof err);
            /* Start past the first keyframe so no RAP cut interferes: 40 packets from a packet inside. */
            size_t from = (len / 188 / 3) * 188, n = 188 * 40 + 100;
            ts_tscut_feed(c, in + from, n, 10 * MS);
            CHECK(ts_tscut_deadline(c) == 210 * MS, "deadline = first byte + fill (%llu)",
                  (unsigned long long)ts_tscut_deadline(c));
            size_t n0 = s.n, l0 = s.all.len;
            ts_tscut_tick(c, 209 * MS);
            CHECK(s.n == n0, "no piece before the deadline");
            ts_tscut_tick(c, 210 * MS);
            CHECK(s.n > n0, "piece at the deadline");
            CHECK((s.all.len - l0) % 188 == 0 && s.all.len < from + n - from, "timeout cut on the grid (%zu)",
                  s.all.len - l0);
            CHECK(ts_tscut_deadline(c) == 410 * MS, "fragment gets a fresh fill period");
            ts_tscut_flush(c, 500 * MS);
            CHECK(s.all.len == n && memcmp(s.all.data, in + from, n) == 0, "timeout: lossless");
            ts_tscut_destroy(&c);
            sink_free(&s);
        }
        free(in);
        unlink(path);
    }
    rmdir(dir);
}

static void test_random(void)
{
    size_t len = 3 * 1024 * 1024;
    uint8_t *in = malloc(len);
    srand(12345);
    for (size_t i = 0; i < len; i++)
        in[i] = (uint8_t)(rand() >> 7);
    const size_t max = 16384 - TS_TRAILER_LEN;
    {
        sink_t s = { 0 };
        ts_tscut_t *c = run(in, len, max, 0, 40000, 0, 3, &s);
        CHECK(s.all.len == len && memcmp(s.all.data, in, len) == 0, "random: lossless");
        CHECK(!ts_tscut_is_ts(c), "random: not TS");
        size_t short_ = 0;
        for (size_t i = 0; i + 1 < s.n; i++)
            short_ += s.p[i].len != max;
        CHECK(short_ == 0, "random: %zu pieces short of max without a timeout", short_);
        CHECK(s.n > 0 && (s.p[0].flags & TS_PIECE_RAP), "random: first piece is RAP");
        CHECK(count_rap(&s) == 1, "random: only the first piece is RAP (%zu)", count_rap(&s));
        ts_tscut_destroy(&c);
        sink_free(&s);
    }
    {
        /* Byte-sized chunks and a fill timeout. */
        sink_t s = { 0 };
        ts_tscut_t *c = run(in, 200000, 1000, 50 * MS, 300, 20, 4, &s);
        CHECK(s.all.len == 200000 && memcmp(s.all.data, in, 200000) == 0, "random+timeout: lossless");
        size_t bad = 0;
        for (size_t i = 0; i < s.n; i++)
            bad += s.p[i].len == 0 || s.p[i].len > 1000;
        CHECK(bad == 0, "random+timeout: sizes within bounds");
        CHECK(count_rap(&s) == 1, "random+timeout: one RAP");
        ts_tscut_destroy(&c);
        sink_free(&s);
    }
    {
        /* Fill timeout with injected time: nothing early, everything at the deadline. */
        sink_t s = { 0 };
        char err[128];
        ts_tscut_t *c = ts_tscut_new(max, 200 * MS, on_piece, &s, err, sizeof err);
        CHECK(ts_tscut_deadline(c) == UINT64_MAX, "empty cutter has no deadline");
        uint8_t x[100];
        memset(x, 0xAA, sizeof x);
        /* The first 188 bytes wait one extra fill period for the TS decision. */
        ts_tscut_feed(c, x, 60, 5 * MS);
        ts_tscut_tick(c, 300 * MS);
        CHECK(s.n == 0, "first bytes wait for the TS decision");
        ts_tscut_feed(c, x, 100, 350 * MS);
        ts_tscut_feed(c, x, 40, 450 * MS);
        CHECK(ts_tscut_deadline(c) == 500 * MS, "deadline counts from the first byte (%llu)",
              (unsigned long long)ts_tscut_deadline(c));
        ts_tscut_tick(c, 499 * MS);
        CHECK(s.n == 0, "nothing before the deadline");
        ts_tscut_tick(c, 500 * MS);
        CHECK(s.n == 1 && s.p[0].len == 200 && (s.p[0].flags & TS_PIECE_RAP), "one 200-byte RAP piece at deadline");
        CHECK(ts_tscut_deadline(c) == UINT64_MAX, "no deadline once empty");
        ts_tscut_feed(c, x, 10, 1000 * MS);
        CHECK(ts_tscut_deadline(c) == 1200 * MS, "new piece, new deadline");
        ts_tscut_tick(c, 1300 * MS);
        CHECK(s.n == 2 && s.p[1].len == 10 && s.p[1].flags == 0, "second piece plain");
        /* ...but only once: a slow non-TS stream is not held back for good. */
        {
            sink_t s2 = { 0 };
            ts_tscut_t *c2 = ts_tscut_new(max, 200 * MS, on_piece, &s2, err, sizeof err);
            ts_tscut_feed(c2, x, 20, 0);
            ts_tscut_tick(c2, 200 * MS);
            CHECK(s2.n == 0, "slow start: first deadline waits");
            ts_tscut_tick(c2, 400 * MS);
            CHECK(s2.n == 1 && s2.p[0].len == 20 && s2.p[0].flags == TS_PIECE_RAP, "slow start: second deadline sends");
            ts_tscut_destroy(&c2);
            sink_free(&s2);
        }
        /* A 0x47 near the end waits for its followers only until the deadline. */
        x[0] = 0x47;
        ts_tscut_feed(c, x, 50, 2000 * MS);
        ts_tscut_tick(c, 2200 * MS);
        CHECK(s.n == 3 && s.p[2].len == 50, "pending sync byte released by the timeout");
        ts_tscut_destroy(&c);
        sink_free(&s);
    }
    free(in);
}

/* Hand-made TS: PAT/PMT parsing details a short clip from ffmpeg does not exercise. */
static void put_pkt(ts_buf_t *b, unsigned pid, int pusi, int rai, const uint8_t *pl, size_t n)
{
    uint8_t p[188];
    memset(p, 0xFF, sizeof p);
    p[0] = 0x47;
    p[1] = (uint8_t)((pusi ? 0x40 : 0) | (pid >> 8));
    p[2] = (uint8_t)pid;
    if (rai) {
        p[3] = 0x30;
        p[4] = 1;
        p[5] = 0x40;
        memcpy(p + 6, pl, n < 182 ? n : 182);
    } else {
        p[3] = 0x10;
        memcpy(p + 4, pl, n < 184 ? n : 184);
    }
    ts_buf_put(b, p, sizeof p);
}

static size_t section(uint8_t *out, uint8_t table, unsigned ext, const uint8_t *body, size_t n)
{
    out[0] = 0; /* pointer_field */
    uint8_t *s = out + 1;
    size_t slen = 5 + n + 4;
    s[0] = table;
    s[1] = (uint8_t)(0xB0 | (slen >> 8));
    s[2] = (uint8_t)slen;
    s[3] = (uint8_t)(ext >> 8);
    s[4] = (uint8_t)ext;
    s[5] = 0xC1; /* version 0, current */
    s[6] = s[7] = 0;
    memcpy(s + 8, body, n);
    uint32_t crc = ts_tscut_crc32(s, 8 + n);
    s[8 + n] = (uint8_t)(crc >> 24);
    s[9 + n] = (uint8_t)(crc >> 16);
    s[10 + n] = (uint8_t)(crc >> 8);
    s[11 + n] = (uint8_t)crc;
    return 13 + n; /* pointer_field + header + body + CRC */
}

static void test_synthetic(void)
{
    uint8_t pat[64], pmt[64], bad[64];
    /* Two programs: 1 → PMT 0x100 (H.264 on 0x101, audio 0x102), 2 → PMT 0x200 (HEVC on 0x201). */
    const uint8_t patb[] = { 0, 0, 0xE0, 0x10, 0, 1, 0xE1, 0x00, 0, 2, 0xE2, 0x00 };
    size_t patn = section(pat, 0x00, 1, patb, sizeof patb);
    const uint8_t pmt1b[] = { 0xE1, 0x01, 0xF0, 0x00, 0x1B, 0xE1, 0x01, 0xF0, 0x00, 0x03, 0xE1, 0x02, 0xF0, 0x00 };
    size_t pmt1n = section(pmt, 0x02, 1, pmt1b, sizeof pmt1b);
    uint8_t pmt2[64];
    const uint8_t pmt2b[] = { 0xE2, 0x01, 0xF0, 0x02, 0x05, 0x00, 0x24, 0xE2, 0x01, 0xF0, 0x03, 1, 2, 3 };
    size_t pmt2n = section(pmt2, 0x02, 2, pmt2b, sizeof pmt2b);
    /* A PMT whose ES_info_length runs past the section: parsed up to there, no crash. */
    const uint8_t badb[] = { 0xE1, 0x01, 0xF0, 0x00, 0x1B, 0xE1, 0x01, 0xFF, 0xFF };
    size_t badn = section(bad, 0x02, 1, badb, sizeof badb);
    uint8_t es[184];
    memset(es, 0x11, sizeof es);

    ts_buf_t b;
    ts_buf_init(&b);
    for (int i = 0; i < 5; i++)
        put_pkt(&b, 0x101, 0, 0, es, sizeof es);
    put_pkt(&b, 0x101, 1, 1, es, sizeof es); /* RAP before any PAT: cannot be known */
    put_pkt(&b, 0x11, 1, 0, es, sizeof es);  /* SDT stays in front of the PAT */
    put_pkt(&b, 0, 1, 0, pat, patn);
    put_pkt(&b, 0x100, 1, 0, pmt, pmt1n);
    put_pkt(&b, 0x200, 1, 0, pmt2, pmt2n);
    put_pkt(&b, 0x1FFF, 0, 0, es, sizeof es);
    put_pkt(&b, 0x101, 1, 1, es, sizeof es); /* RAP #1 (H.264) */
    put_pkt(&b, 0x102, 1, 1, es, sizeof es); /* audio with RAI: not a RAP */
    put_pkt(&b, 0x101, 0, 0, es, sizeof es);
    put_pkt(&b, 0x201, 1, 1, es, sizeof es); /* RAP #2 (HEVC, program 2), no tables in front */
    put_pkt(&b, 0x101, 0, 0, es, sizeof es);
    put_pkt(&b, 0x100, 1, 0, bad, badn);     /* program 1 now has no usable video */
    put_pkt(&b, 0x101, 1, 1, es, sizeof es); /* not a RAP any more */
    put_pkt(&b, 0x101, 0, 0, es, sizeof es);

    sink_t s = { 0 };
    char err[128];
    ts_tscut_t *c = ts_tscut_new(16384 - TS_TRAILER_LEN, 0, on_piece, &s, err, sizeof err);
    ts_tscut_feed(c, b.data, b.len, 0);
    ts_tscut_flush(c, 0);
    CHECK(s.all.len == b.len && memcmp(s.all.data, b.data, b.len) == 0, "synthetic: lossless");
    CHECK(s.n == 3, "synthetic: 3 pieces (%zu)", s.n);
    if (s.n == 3) {
        CHECK(s.p[0].len == 7 * 188 && s.p[0].flags == 0, "synthetic: piece 0 ends before the PAT (%zu)", s.p[0].len);
        CHECK(s.p[1].len == 7 * 188 && s.p[1].flags == TS_PIECE_RAP, "synthetic: piece 1 = PAT..RAP #1 (%zu)",
              s.p[1].len);
        CHECK(s.p[2].len == 5 * 188 && s.p[2].flags == TS_PIECE_RAP, "synthetic: piece 2 starts at RAP #2");
        CHECK(pid_of(s.all.data + s.p[1].off) == 0, "synthetic: RAP piece starts with PAT");
    }
    ts_tscut_destroy(&c);
    sink_free(&s);

    /* A PAT with a broken CRC teaches nothing. */
    pat[patn - 1] ^= 1;
    ts_buf_t b2;
    ts_buf_init(&b2);
    put_pkt(&b2, 0, 1, 0, pat, patn);
    put_pkt(&b2, 0x100, 1, 0, pmt, pmt1n);
    put_pkt(&b2, 0x101, 1, 1, es, sizeof es);
    put_pkt(&b2, 0x101, 0, 0, es, sizeof es);
    memset(&s, 0, sizeof s);
    c = ts_tscut_new(16384 - TS_TRAILER_LEN, 0, on_piece, &s, err, sizeof err);
    ts_tscut_feed(c, b2.data, b2.len, 0);
    ts_tscut_flush(c, 0);
    CHECK(s.n == 1 && s.p[0].flags == 0, "bad CRC: no RAP");
    ts_tscut_destroy(&c);
    sink_free(&s);
    ts_buf_free(&b);
    ts_buf_free(&b2);
}

static void test_restart_flags(void)
{
    sink_t s = { 0 };
    char err[128];
    ts_tscut_t *c = ts_tscut_new(1000, 0, on_piece, &s, err, sizeof err);
    uint8_t x[300];
    memset(x, 0x11, sizeof x);
    ts_tscut_restart(c, 0); /* a source that failed before sending anything */
    ts_tscut_restart(c, 0);
    ts_tscut_feed(c, x, sizeof x, 0);
    ts_tscut_flush(c, 0);
    CHECK(s.n == 1 && s.p[0].flags == TS_PIECE_RAP, "restart before any data: no DISCONT (flags %u)",
          s.n ? s.p[0].flags : 0);
    ts_tscut_restart(c, 0);
    ts_tscut_restart(c, 0); /* a failed run in between keeps the flag pending */
    ts_tscut_feed(c, x, sizeof x, 0);
    ts_tscut_flush(c, 0);
    CHECK(s.n == 2 && s.p[1].flags == (TS_PIECE_RAP | TS_PIECE_DISCONT), "restart after data: RAP|DISCONT");
    ts_tscut_destroy(&c);
    sink_free(&s);
}

static void test_backoff(void)
{
    ts_backoff_t b;
    const uint64_t S = 1000000000ull;
    ts_backoff_init(&b, 1 * S, 30 * S, 30 * S);
    const uint64_t want[] = { 1, 2, 4, 8, 16, 30, 30 };
    int ok = 1;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ok &= ts_backoff_next(&b, 2 * S) == want[i] * S;
    CHECK(ok, "backoff: 1, 2, 4, 8, 16, 30, 30 s while failing fast");
    CHECK(ts_backoff_next(&b, 30 * S) == 1 * S, "backoff: back to 1 s after a 30 s run");
    CHECK(ts_backoff_next(&b, 0) == 2 * S, "backoff: then doubling again");
}

static void test_budget(void)
{
    CHECK(ts_pacer_budget(2000000, 1000000000ull) == 250000, "pacing: 2 Mbit/s = 250 kB per second");
    CHECK(ts_pacer_budget(2000000, 10000000ull) == 2500, "pacing: 2500 B per 10 ms");
    CHECK(ts_pacer_budget(7, 8000000000ull) == 7, "pacing: odd rates stay exact");
    uint64_t year = 365ull * 86400 * 1000000000ull;
    CHECK(ts_pacer_budget(10000000000ull, 10 * year + 999999999) ==
              10 * 365ull * 86400 * 1250000000ull + 1249999998ull, /* 999999999 ns = 1249999998.75 B */
          "pacing: no overflow at 10 Gbit/s over 10 years");
}

static void test_seqstore(void)
{
    char dir[] = "/tmp/test_seqstore.XXXXXX", path[300], err[256] = "";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/seq", dir);
    ts_seqstore_t *s = ts_seqstore_new(NULL, err, sizeof err);
    uint64_t v = 99;
    CHECK(s && ts_seqstore_take(s, &v, err, sizeof err) == 0 && v == 0, "memory: starts at 0");
    ts_seqstore_destroy(&s);

    s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(s != NULL, "dir: opens (%s)", err);
    FILE *f = fopen(path, "r");
    unsigned long long r = 0;
    CHECK(f && fscanf(f, "%llu", &r) == 1 && r == TS_SEQSTORE_BLOCK, "dir: block reserved at open (%llu)", r);
    if (f)
        fclose(f);
    uint64_t last = 0;
    int ok = 1;
    for (uint64_t i = 0; i < TS_SEQSTORE_BLOCK + 10 && s; i++)
        ok &= ts_seqstore_take(s, &last, err, sizeof err) == 0 && last == i;
    CHECK(ok, "dir: consecutive numbers across a block boundary");
    ts_seqstore_destroy(&s); /* as if killed: no clean-shutdown write */
    s = ts_seqstore_new(dir, err, sizeof err);
    uint64_t next = 0;
    CHECK(s && ts_seqstore_take(s, &next, err, sizeof err) == 0 && next > last && next == 2 * TS_SEQSTORE_BLOCK,
          "dir: after a restart numbers continue above every used one (%llu > %llu)", (unsigned long long)next,
          (unsigned long long)last);
    ts_seqstore_destroy(&s);

    const char *corrupt[] = { "", "12a\n", "-5\n", "99999999999999999999999\n" };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        f = fopen(path, "w");
        fputs(corrupt[i], f);
        fclose(f);
        err[0] = 0;
        s = ts_seqstore_new(dir, err, sizeof err);
        CHECK(s == NULL && strstr(err, "corrupt"), "corrupt seq file %zu rejected (%s)", i, err);
        ts_seqstore_destroy(&s);
    }
    f = fopen(path, "w");
    fputs("18446744073709551615\n", f);
    fclose(f);
    s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(s == NULL && strstr(err, "exhausted"), "seq at the 64-bit end rejected (%s)", err);
    ts_seqstore_destroy(&s);
    unlink(path);
    snprintf(path, sizeof path, "%s/seq.tmp", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_crc();
    test_args();
    test_synthetic();
    test_random();
    test_real_ts();
    test_restart_flags();
    test_backoff();
    test_budget();
    test_seqstore();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
