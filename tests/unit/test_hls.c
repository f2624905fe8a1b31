/* player-bridge/hls.c and hls_req.c: segments cut at random-access pieces, parts whose bytes add up
 * to their segment's, the playlist's tags, blocking-reload answers, a seq gap as a discontinuity,
 * segments served from the DVR directory once they left memory, and the request parser's limits. */
#include "check.h"
#include "chunk.h"
#include "hls.h"
#include "hls_req.h"
#include "ts_piece.h"
#include "tsframe.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IV_US 66666ull /* 15 pieces a second */
#define T0 1700000000000000ull

static void feed(ts_hls_t *h, uint64_t seq, uint32_t flags)
{
    uint8_t data[100];
    memset(data, (int)(seq & 0xff), sizeof data);
    ts_chunk_t *c = ts_chunk_new(seq, T0 + seq * IV_US, flags, data, sizeof data);
    ts_hls_piece(h, c);
    ts_chunk_unref(&c);
}

static int has(const char *pl, const char *s) { return strstr(pl, s) != NULL; }

static void test_segments(void)
{
    char err[256];
    ts_hls_t *h = ts_hls_new("/x y", 0, NULL, err, sizeof err);
    CHECK(h != NULL, "new: %s", err);
    ts_hls_req_t r = { .kind = TS_HLS_PLAYLIST };
    CHECK(ts_hls_ready(h, &r) == 0, "no segment yet: hold the playlist");
    for (uint64_t s = 5; s < 5 + 200; s++) /* starts before a RAP: those pieces are skipped */
        feed(h, s, s % 30 == 0 ? TS_PIECE_RAP : 0);
    CHECK(ts_hls_ready(h, &r) == 1, "segments: playlist ready");
    ts_buf_t b;
    ts_buf_init(&b);
    ts_hls_playlist(h, 1, &b);
    ts_buf_putc(&b, 0);
    const char *pl = (const char *)b.data;
    CHECK(has(pl, "#EXT-X-MEDIA-SEQUENCE:30\n"), "first MSN is the first RAP's seq:\n%s", pl);
    CHECK(has(pl, "#EXT-X-TARGETDURATION:2\n") && has(pl, "#EXTINF:2.000,\nx%20y/30.ts\n"), "2 s segments:\n%s", pl);
    CHECK(has(pl, "#EXT-X-PART-INF:PART-TARGET=0.500") && has(pl, "CAN-BLOCK-RELOAD=YES"), "LL tags");
    CHECK(has(pl, "#EXT-X-PART:DURATION=0.333,URI=\"x%20y/34.0.ts\",INDEPENDENT=YES\n"), "parts:\n%s", pl);
    CHECK(has(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"x%20y/35.4.ts\""), "hint:\n%s", pl);
    CHECK(has(pl, "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:21.999Z"), "PDT of seq 30:\n%s", pl);
    ts_buf_free(&b);
    ts_buf_init(&b);
    ts_hls_playlist(h, 0, &b);
    ts_buf_putc(&b, 0);
    CHECK(!has((char *)b.data, "PART") && has((char *)b.data, "\nx%20y/34.ts\n"), "ll=0: no parts");
    ts_buf_free(&b);

    /* Each segment's parts add up to the segment, byte for byte. */
    for (uint64_t msn = 30; msn <= 34; msn++) {
        ts_hls_req_t q = { .kind = TS_HLS_SEGMENT, .msn = msn };
        ts_hls_media_t seg, part;
        CHECK(ts_hls_media(h, &q, &seg) == 1 && seg.bytes == 3000, "segment %llu: %zu bytes", (unsigned long long)msn,
              seg.bytes);
        uint8_t whole[3000];
        size_t off = 0;
        int same = 1;
        for (size_t i = 0; i < seg.n; off += seg.c[i]->len, i++)
            memcpy(whole + off, seg.c[i]->data, seg.c[i]->len);
        off = 0;
        for (q.kind = TS_HLS_PART, q.part = 0; ts_hls_media(h, &q, &part) == 1; q.part++) {
            for (size_t i = 0; i < part.n; off += part.c[i]->len, i++)
                same &= off + part.c[i]->len <= sizeof whole && memcmp(whole + off, part.c[i]->data, part.c[i]->len) == 0;
            ts_hls_media_free(&part);
        }
        CHECK(same && off == seg.bytes && q.part == 6, "segment %llu: %u parts, same bytes", (unsigned long long)msn,
              q.part);
        ts_hls_media_free(&seg);
    }
    ts_hls_req_t q = { .kind = TS_HLS_SEGMENT, .msn = 35 };
    ts_hls_media_t m;
    CHECK(ts_hls_media(h, &q, &m) == -1, "the open segment is not served");
    q = (ts_hls_req_t){ .kind = TS_HLS_PART, .msn = 35, .part = 4 };
    CHECK(ts_hls_media(h, &q, &m) == 0, "the hinted part: hold");
    q.part = 5;
    CHECK(ts_hls_media(h, &q, &m) == -1, "past the hint: 404");
    q = (ts_hls_req_t){ .kind = TS_HLS_SEGMENT, .msn = 29 };
    CHECK(ts_hls_media(h, &q, &m) == -1, "before the first: 404");

    /* Blocking reload. */
    ts_hls_req_t br = { .kind = TS_HLS_PLAYLIST, .has_msn = 1, .msn = 34 };
    CHECK(ts_hls_ready(h, &br) == 1, "msn 34 complete");
    br.msn = 35;
    CHECK(ts_hls_ready(h, &br) == 0, "msn 35 open: hold");
    br.has_part = 1, br.part = 3;
    CHECK(ts_hls_ready(h, &br) == 1, "35.3 exists");
    br.part = 4;
    CHECK(ts_hls_ready(h, &br) == 0, "35.4: hold");
    br.msn = 34, br.part = 99;
    CHECK(ts_hls_ready(h, &br) == 1, "past 34's last part = 35.0, which exists");
    br.msn = 40, br.has_part = 0;
    CHECK(ts_hls_ready(h, &br) == -1, "far ahead: 400");
    feed(h, 205, 0);
    feed(h, 206, 0); /* 35.4 closes */
    br = (ts_hls_req_t){ .kind = TS_HLS_PLAYLIST, .has_msn = 1, .msn = 35, .has_part = 1, .part = 4 };
    CHECK(ts_hls_ready(h, &br) == 1, "35.4 now exists");

    /* A gap: the segment ends, the next starts at a RAP with a discontinuity. */
    for (uint64_t s = 230; s < 300; s++)
        feed(h, s, s % 30 == 0 ? TS_PIECE_RAP : 0);
    ts_buf_init(&b);
    ts_hls_playlist(h, 0, &b);
    ts_buf_putc(&b, 0);
    pl = (const char *)b.data;
    CHECK(has(pl, "#EXTINF:1.800,\nx%20y/35.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"), "gap:\n%s", pl);
    CHECK(has(pl, "\nx%20y/36.ts"), "MSN goes on by one after a gap:\n%s", pl);
    ts_buf_free(&b);
    ts_hls_destroy(&h);
    CHECK(h == NULL, "destroy nulls");
}

static void test_dvr(void)
{
    char dir[] = "/tmp/test_hls.XXXXXX", err[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    ts_hls_t *h = ts_hls_new("/d", 40 * 1000000ull, dir, err, sizeof err);
    CHECK(h != NULL, "dvr new: %s", err);
    for (uint64_t s = 0; s < 15 * 80; s++) /* 80 s: 40 in the DVR window, 30 of them in memory */
        feed(h, s, s % 30 == 0 ? TS_PIECE_RAP : 0);
    ts_buf_t b;
    ts_buf_init(&b);
    ts_hls_playlist(h, 0, &b);
    ts_buf_putc(&b, 0);
    const char *pl = (const char *)b.data;
    const char *ms = strstr(pl, "#EXT-X-MEDIA-SEQUENCE:");
    unsigned long first = ms ? strtoul(ms + 22, NULL, 10) : 0;
    CHECK(first >= 17 && first <= 20, "about 20 segments of 2 s in the window, first %lu:\n%s", first, pl);
    ts_buf_free(&b);
    ts_hls_req_t q = { .kind = TS_HLS_SEGMENT, .msn = first };
    ts_hls_media_t m;
    CHECK(ts_hls_media(h, &q, &m) == 1 && m.n == 1 && m.bytes == 3000, "oldest from disk, whole");
    uint8_t want[100];
    memset(want, (int)((first * 30) & 0xff), sizeof want);
    CHECK(m.n == 1 && memcmp(m.c[0]->data, want, 100) == 0, "its first piece's bytes");
    ts_hls_media_free(&m);
    q.msn = first - 1;
    CHECK(ts_hls_media(h, &q, &m) == -1, "before the window: 404");
    char path[300];
    snprintf(path, sizeof path, "%s/%lu.ts", dir, first - 1);
    CHECK(access(path, F_OK) != 0, "dropped from disk too");
    ts_hls_destroy(&h);
    h = ts_hls_new("/d", 40 * 1000000ull, dir, err, sizeof err);
    snprintf(path, sizeof path, "%s/%lu.ts", dir, first);
    CHECK(h && access(path, F_OK) != 0, "a new store starts empty");
    ts_hls_destroy(&h);
    rmdir(dir);
}

static void test_req(void)
{
    ts_hls_req_t r;
    const char *why;
#define P(path, q) ts_hls_req_parse("/s", path, strlen(path), q, strlen(q), &r, &why)
    CHECK(P("/s.m3u8", "") == 0 && r.kind == TS_HLS_PLAYLIST && !r.has_msn, "playlist");
    CHECK(P("/s.m3u8", "_HLS_msn=12&_HLS_part=3&x=y") == 0 && r.msn == 12 && r.part == 3 && r.has_part, "directives");
    CHECK(P("/s.m3u8", "ll=0&_HLS_skip=YES") == 0 && r.no_ll && r.skip, "ll=0, skip");
    CHECK(P("/s.m3u8", "_HLS_part=1") == -1 && r.kind == TS_HLS_PLAYLIST, "part without msn: 400");
    CHECK(P("/s.m3u8", "_HLS_msn=-1") == -1 && P("/s.m3u8", "_HLS_msn=1&_HLS_msn=2") == -1, "bad msn");
    CHECK(P("/s.m3u8", "_HLS_msn=1234567890123456") == -1, "16 digits: 400");
    CHECK(P("/s.m3u8", "_HLS_msn=1&_HLS_part=10000") == -1, "part too big");
    CHECK(P("/s/7.ts", "") == 0 && r.kind == TS_HLS_SEGMENT && r.msn == 7, "segment");
    CHECK(P("/s/7.2.ts", "") == 0 && r.kind == TS_HLS_PART && r.msn == 7 && r.part == 2, "part");
    CHECK(P("/s/x.ts", "") == -1 && r.kind == TS_HLS_SEGMENT, "junk under base: 404");
    CHECK(P("/s/7.2.3.ts", "") == -1 && P("/s/.ts", "") == -1 && P("/s/7", "") == -1, "malformed names");
    CHECK(P("/s.ts", "") == 0 && r.kind == TS_HLS_NONE && P("/sx.m3u8", "") == 0 && r.kind == TS_HLS_NONE, "not ours");
    char big[TS_HLS_MAX_QUERY + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(P("/s.m3u8", big) == -1, "query too long");
#undef P
}

static void test_tsframe(void)
{
    uint8_t p[188 * 3] = { 0 };
    for (int i = 0; i < 3; i++)
        p[i * 188] = 0x47, p[i * 188 + 3] = 0x10;
    p[1] = 0x41, p[2] = 0x00, p[4] = 0, p[5] = 0, p[6] = 1, p[7] = 0xc0;             /* audio PES start, PID 256 */
    p[188 + 1] = 0x01, p[188 + 2] = 0x01;                                            /* PID 257, no start */
    p[376 + 1] = 0x41, p[376 + 2] = 0x01, p[376 + 6] = 1, p[376 + 7] = 0xe0;         /* video PES start, PID 257 */
    int vpid = -1;
    CHECK(ts_tsframe_find(p, sizeof p, &vpid) == 376 && vpid == 257, "the video PES start, PID learnt");
    CHECK(ts_tsframe_find(p, 376, &vpid) == -1, "none before it");
    p[0] = 0;
    vpid = -1;
    CHECK(ts_tsframe_find(p, sizeof p, &vpid) == -1, "no sync: nothing");
}

int main(void)
{
    test_tsframe();
    test_segments();
    test_dvr();
    test_req();
    CHECK_DONE();
}
