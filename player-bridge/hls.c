#include "hls.h"
#include "dvr.h"
#include "tsframe.h"
#include "ts_piece.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BASE_MAX 700 /* a 200-byte path, every byte percent-encoded */

typedef struct {
    uint64_t off, len, dur_us; /* bytes [off, off + len) of the segment's pieces */
    int indep;
} hls_part_t; /* copied out of the pieces when asked for: a part may end inside a piece, and
               * keeping copies doubled the window's memory (and its allocator churn) */

typedef struct {
    uint64_t msn, pdt_us, dur_us, bytes;
    int discont, indep, on_disk;
    ts_chunk_t **pc; /* in memory while within the memory window, else NULL */
    uint32_t npc, pccap;
    hls_part_t *parts;
    uint32_t nparts, partcap;
    uint64_t part_off, part_ts; /* open segment: where its open part starts, and when */
    int part_indep;
} hls_seg_t;

struct ts_hls {
    char base[BASE_MAX];
    ts_dvr_t *dvr;
    uint64_t dvr_us, window_us;
    hls_seg_t *seg; /* circular, oldest first; the newest is the open segment when `open` */
    size_t cap, head, count;
    int open, pending_disc, has_last, dvr_failed, vpid; /* vpid: the video PID, once seen */
    uint64_t last_seq, last_ts, iv_us; /* iv_us: the last interval between two pieces */
    uint64_t next_msn, disc_seq, mem_bytes, closed_total;
    unsigned target_s;
};

static hls_seg_t *seg_at(const ts_hls_t *h, size_t i) { return &h->seg[(h->head + i) % h->cap]; }
static hls_seg_t *newest(const ts_hls_t *h) { return h->count ? seg_at(h, h->count - 1) : NULL; }
static size_t n_closed(const ts_hls_t *h) { return h->count - (h->open ? 1 : 0); }
/* The MSN of the segment being cut, or of the next one to be. */
static uint64_t open_msn(const ts_hls_t *h) { return h->open ? newest(h)->msn : h->next_msn; }

static int uri_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("-._~/", c));
}

ts_hls_t *ts_hls_new(const char *base, uint64_t dvr_us, const char *dvr_dir, char *err, size_t errlen)
{
    if (strlen(base) * 3 >= BASE_MAX) {
        snprintf(err, errlen, "path too long");
        return NULL;
    }
    ts_hls_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Unreserved characters and '/' as they are, the rest %XX: the URI goes into a quoted attribute. */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)base; *p; p++)
        o += (size_t)snprintf(h->base + o, sizeof h->base - o, uri_plain(*p) ? "%c" : "%%%02X", *p);
    h->target_s = 2;
    h->vpid = -1;
    h->dvr_us = dvr_us;
    h->window_us = dvr_us ? dvr_us : HLS_MEM_WINDOW_US;
    if (dvr_us && !(h->dvr = ts_dvr_open(dvr_dir, err, errlen))) {
        free(h);
        return NULL;
    }
    return h;
}

/* A segment's parts are listed only near the live edge (three target durations, ts_hls_playlist):
 * once it is four behind, its part table goes (a request for one of them is then a 404). */
static void seg_free_parts(hls_seg_t *s)
{
    free(s->parts);
    s->parts = NULL;
    s->nparts = s->partcap = 0;
}

static void seg_free_mem(ts_hls_t *h, hls_seg_t *s)
{
    for (uint32_t i = 0; i < s->npc; i++) {
        h->mem_bytes -= s->pc[i]->len;
        ts_chunk_unref(&s->pc[i]);
    }
    seg_free_parts(s);
    free(s->pc);
    s->pc = NULL;
    s->npc = s->pccap = 0;
}

static void drop_oldest(ts_hls_t *h)
{
    hls_seg_t *s = seg_at(h, 0);
    seg_free_mem(h, s);
    if (s->on_disk)
        ts_dvr_drop(h->dvr, s->msn);
    if (s->discont)
        h->disc_seq++; /* EXT-X-DISCONTINUITY-SEQUENCE counts the ones that left the playlist */
    h->head = (h->head + 1) % h->cap;
    h->count--;
}

void ts_hls_destroy(ts_hls_t **self)
{
    ts_hls_t *h = *self;
    if (!h)
        return;
    while (h->count)
        drop_oldest(h);
    free(h->seg);
    ts_dvr_destroy(&h->dvr);
    free(h);
    *self = NULL;
}

const char *ts_hls_base(const ts_hls_t *h) { return h->base; }

/* URIs in the playlist are relative to it (base's last component): a proxy that serves the
 * playlist under another path (tsctl engine's /watch/INFOHASH/index.m3u8) gets the segment
 * requests under that path too, instead of at the bridge's own absolute ones. */
static const char *rel_base(const ts_hls_t *h)
{
    const char *slash = strrchr(h->base, '/');
    return slash ? slash + 1 : h->base;
}
unsigned ts_hls_target_s(const ts_hls_t *h) { return h->target_s; }
uint64_t ts_hls_mem_bytes(const ts_hls_t *h) { return h->mem_bytes; }
uint64_t ts_hls_segments(const ts_hls_t *h) { return h->closed_total; }

/* Keep the window: closed segments whose total passes it go (from disk too); pieces older than
 * the memory window, or over the memory budget, leave memory (a segment on disk stays listed). */
static void trim(ts_hls_t *h)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n_closed(h); i++)
        total += seg_at(h, i)->dur_us;
    while (n_closed(h) > 1 && total - seg_at(h, 0)->dur_us >= h->window_us) {
        total -= seg_at(h, 0)->dur_us;
        drop_oldest(h);
    }
    uint64_t newer = total; /* duration of the closed segments after the one looked at */
    for (size_t i = 0; i < n_closed(h); i++) {
        hls_seg_t *s = seg_at(h, i);
        newer -= s->dur_us;
        if (s->pc && (newer > HLS_MEM_WINDOW_US || (h->mem_bytes > HLS_MEM_MAX_BYTES && i + 1 < n_closed(h))))
            seg_free_mem(h, s);
        else if (s->parts && newer > 4ull * h->target_s * 1000000)
            seg_free_parts(s);
    }
    while (n_closed(h) && !seg_at(h, 0)->pc && !seg_at(h, 0)->on_disk)
        drop_oldest(h); /* nowhere to serve it from */
}

static int grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Bytes [off, off + len) of the segment's pieces as one new chunk. */
static ts_chunk_t *copy_range(const hls_seg_t *s, uint64_t off, uint64_t len)
{
    ts_chunk_t *c = ts_chunk_new(0, 0, 0, NULL, (size_t)len);
    uint64_t pos = 0, got = 0;
    for (uint32_t i = 0; c && i < s->npc && got < len; pos += s->pc[i]->len, i++) {
        if (pos + s->pc[i]->len <= off + got)
            continue;
        uint64_t from = off + got - pos, n = s->pc[i]->len - from;
        if (n > len - got)
            n = len - got;
        memcpy(c->data + got, s->pc[i]->data + from, (size_t)n);
        got += n;
    }
    return c;
}

/* The open part ends at byte end_off of the segment, at end_ts; the next starts there. */
static void close_part(ts_hls_t *h, hls_seg_t *s, uint64_t end_off, uint64_t end_ts)
{
    if (end_off <= s->part_off || grow((void **)&s->parts, &s->partcap, s->nparts, sizeof *s->parts) < 0)
        return; /* no memory: the part is not offered, the segment still is */
    (void)h;
    hls_part_t *p = &s->parts[s->nparts];
    s->nparts++;
    p->len = end_off - s->part_off;
    p->off = s->part_off;
    p->dur_us = end_ts > s->part_ts ? end_ts - s->part_ts : 0;
    p->indep = s->part_indep;
    s->part_off = end_off;
    s->part_ts = end_ts;
    s->part_indep = 0;
}

static void close_seg(ts_hls_t *h, uint64_t end_ts)
{
    hls_seg_t *s = newest(h);
    close_part(h, s, s->bytes, end_ts);
    s->dur_us = end_ts > s->pdt_us ? end_ts - s->pdt_us : 0;
    unsigned secs = (unsigned)((s->dur_us + 500000) / 1000000); /* EXTINF rounded must not pass it */
    if (secs > h->target_s)
        h->target_s = secs; /* only ever grows: a playlist's target duration must not change */
    if (s->on_disk)
        ts_dvr_finish(h->dvr, s->msn);
    h->open = 0;
    h->next_msn = s->msn + 1;
    h->closed_total++;
    trim(h);
}

static int add_piece(ts_hls_t *h, hls_seg_t *s, ts_chunk_t *c)
{
    if (grow((void **)&s->pc, &s->pccap, s->npc, sizeof *s->pc) < 0)
        return -1;
    s->pc[s->npc++] = ts_chunk_ref(c);
    s->bytes += c->len;
    h->mem_bytes += c->len;
    if (s->on_disk && ts_dvr_append(h->dvr, s->msn, c->data, c->len) < 0) {
        s->on_disk = 0; /* served from memory while it is there; said once */
        ts_dvr_drop(h->dvr, s->msn); /* its partial file: nothing else would remove it */
        if (!h->dvr_failed)
            fprintf(stderr, "hls: cannot write a DVR segment: keeping only memory's window for it\n");
        h->dvr_failed = 1;
    }
    return 0;
}

static int start_seg(ts_hls_t *h, ts_chunk_t *c)
{
    if (h->count == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        hls_seg_t *n = calloc(nc, sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < h->count; i++)
            n[i] = *seg_at(h, i);
        free(h->seg);
        h->seg = n;
        h->cap = nc;
        h->head = 0;
    }
    if (!h->closed_total && !h->count)
        h->next_msn = c->seq; /* see hls.h: numbers that only grow, across restarts too */
    hls_seg_t *s = &h->seg[(h->head + h->count) % h->cap];
    memset(s, 0, sizeof *s);
    s->msn = h->next_msn;
    s->pdt_us = s->part_ts = c->timestamp_us;
    s->discont = h->pending_disc;
    s->indep = s->part_indep = (c->flags & TS_PIECE_RAP) != 0;
    s->on_disk = h->dvr != NULL;
    h->count++;
    h->open = 1;
    h->pending_disc = 0;
    return add_piece(h, s, c);
}

int ts_hls_piece(ts_hls_t *h, ts_chunk_t *c)
{
    int gap = h->has_last && c->seq != h->last_seq + 1, changed = 0;
    if (h->has_last && c->seq == h->last_seq + 1 && c->timestamp_us > h->last_ts)
        h->iv_us = c->timestamp_us - h->last_ts;
    uint64_t prev_ts = h->last_ts;
    h->has_last = 1;
    h->last_seq = c->seq;
    h->last_ts = c->timestamp_us;
    if (gap || (c->flags & TS_PIECE_DISCONT)) {
        if (h->open) {
            /* What followed the last piece is lost: guess its end from the piece rate. */
            close_seg(h, gap ? prev_ts + h->iv_us : c->timestamp_us);
            changed = 1;
        }
        if (h->closed_total || h->count)
            h->pending_disc = 1;
    }
    int rap = (c->flags & TS_PIECE_RAP) != 0;
    if (!h->open) {
        if (!rap)
            return changed; /* nothing can start here: wait for a random-access point */
        start_seg(h, c);
        return changed;
    }
    hls_seg_t *s = newest(h);
    uint64_t age = c->timestamp_us > s->pdt_us ? c->timestamp_us - s->pdt_us : 0;
    if ((rap && age >= HLS_SEG_MIN_US) || age >= HLS_SEG_MAX_US || s->bytes + c->len > HLS_SEG_MAX_BYTES) {
        close_seg(h, c->timestamp_us);
        start_seg(h, c);
        return 1;
    }
    uint64_t before = s->bytes;
    if (add_piece(h, s, c) < 0)
        return changed;
    if (rap) {
        close_part(h, s, before, c->timestamp_us); /* a RAP starts a part, so that part is independent */
        s->part_indep = 1;
        ts_tsframe_find(c->data, c->len, &h->vpid); /* learns the video PID */
        return 1;
    }
    if (c->timestamp_us < s->part_ts + HLS_PART_CLOSE_US)
        return changed;
    /* Time for a new part: at the first video frame starting in this piece (see tsframe.h), else
     * at this piece for a stream without video, or one whose frames are rarer than a second. */
    long k = ts_tsframe_find(c->data, c->len, &h->vpid);
    if (k < 0 && h->vpid >= 0 && c->timestamp_us < s->part_ts + HLS_PART_MAX_US)
        return changed;
    uint64_t at = k > 0 ? (uint64_t)k : 0;
    close_part(h, s, before + at, c->timestamp_us + (c->len ? h->iv_us * at / c->len : 0));
    return 1;
}

/* ------------------------------------------------------------------ playlist */

static void put_pdt(ts_buf_t *b, uint64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    ts_buf_printf(b, "#EXT-X-PROGRAM-DATE-TIME:%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\n", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(us % 1000000 / 1000));
}

static void put_parts(const ts_hls_t *h, const hls_seg_t *s, ts_buf_t *b)
{
    for (uint32_t i = 0; i < s->nparts; i++)
        ts_buf_printf(b, "#EXT-X-PART:DURATION=%.3f,URI=\"%s/%llu.%u.ts\"%s\n", s->parts[i].dur_us / 1e6, rel_base(h),
                      (unsigned long long)s->msn, i, s->parts[i].indep ? ",INDEPENDENT=YES" : "");
}

int ts_hls_playlist(const ts_hls_t *h, int ll, ts_buf_t *b)
{
    size_t nc = n_closed(h);
    ts_buf_printf(b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%u\n", h->target_s);
    if (ll)
        ts_buf_printf(b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n"
                         "#EXT-X-PART-INF:PART-TARGET=%.3f\n",
                      HLS_PART_HOLD_BACK_MS / 1e3, HLS_PART_TARGET_MS / 1e3);
    ts_buf_printf(b, "#EXT-X-MEDIA-SEQUENCE:%llu\n#EXT-X-DISCONTINUITY-SEQUENCE:%llu\n",
                  (unsigned long long)(h->count ? seg_at(h, 0)->msn : h->next_msn), (unsigned long long)h->disc_seq);
    /* Parts only near the live edge: for the segments within three target durations of the end. */
    size_t parts_from = nc;
    uint64_t tail = 0;
    while (parts_from > 0 && tail < 3ull * h->target_s * 1000000) {
        parts_from--;
        tail += seg_at(h, parts_from)->dur_us;
    }
    for (size_t i = 0; i < h->count; i++) {
        const hls_seg_t *s = seg_at(h, i);
        int is_open = i == nc;
        if (is_open && (!ll || !s->nparts))
            break;
        if (s->discont)
            ts_buf_printf(b, "#EXT-X-DISCONTINUITY\n");
        put_pdt(b, s->pdt_us);
        if (ll && i >= parts_from)
            put_parts(h, s, b);
        if (!is_open)
            ts_buf_printf(b, "#EXTINF:%.3f,\n%s/%llu.ts\n", s->dur_us / 1e6, rel_base(h), (unsigned long long)s->msn);
    }
    if (ll) {
        const hls_seg_t *o = h->open ? newest(h) : NULL;
        ts_buf_printf(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s/%llu.%u.ts\"\n", rel_base(h),
                      (unsigned long long)open_msn(h), o ? o->nparts : 0);
    }
    return b->len && b->data ? 0 : -1;
}

/* ------------------------------------------------------------------ lookups */

static hls_seg_t *find(const ts_hls_t *h, uint64_t msn)
{
    if (!h->count || msn < seg_at(h, 0)->msn || msn - seg_at(h, 0)->msn >= h->count)
        return NULL;
    return seg_at(h, (size_t)(msn - seg_at(h, 0)->msn));
}

/* Does the playlist hold part `part` of segment msn? A part past a closed segment's last is the
 * next segment's first (RFC 8216bis, blocking reload). */
static int has_part(const ts_hls_t *h, uint64_t msn, uint32_t part)
{
    uint64_t om = open_msn(h);
    if (msn < om) {
        const hls_seg_t *s = find(h, msn);
        if (!s || part < s->nparts || msn + 1 < om)
            return 1;
        msn++, part = 0;
    }
    return msn == om && h->open && part < newest(h)->nparts;
}

int ts_hls_ready(const ts_hls_t *h, const ts_hls_req_t *r)
{
    if (!r->has_msn)
        return n_closed(h) > 0;
    uint64_t om = open_msn(h);
    if (!h->closed_total || r->msn > om + 1)
        return h->closed_total ? -1 : 0; /* before the first segment, any number is a wait */
    if (!r->has_part)
        return r->msn < om && n_closed(h) > 0;
    return has_part(h, r->msn, r->part);
}

static int media_add(ts_hls_media_t *m, ts_chunk_t *c)
{
    ts_chunk_t **n = realloc(m->c, (m->n + 1) * sizeof *n);
    if (!n)
        return -1;
    m->c = n;
    m->c[m->n++] = ts_chunk_ref(c);
    m->bytes += c->len;
    return 0;
}

int ts_hls_media(ts_hls_t *h, const ts_hls_req_t *r, ts_hls_media_t *m)
{
    memset(m, 0, sizeof *m);
    uint64_t om = open_msn(h);
    hls_seg_t *s = find(h, r->msn);
    if (r->kind == TS_HLS_PART) {
        uint32_t have = s ? s->nparts : 0;
        if (r->msn == om && r->part == have && (h->open || r->part == 0))
            return 0; /* the preload hint's part */
        if (!s || r->part >= s->nparts || !s->pc)
            return -1;
        ts_chunk_t *c = copy_range(s, s->parts[r->part].off, s->parts[r->part].len);
        int rc = c ? media_add(m, c) : -1;
        ts_chunk_unref(&c);
        if (rc < 0)
            goto fail;
        return 1;
    }
    if (!s || (h->open && s == newest(h)))
        return -1;
    if (s->pc) {
        for (uint32_t i = 0; i < s->npc; i++)
            if (media_add(m, s->pc[i]) < 0)
                goto fail;
        return 1;
    }
    ts_chunk_t *c = s->on_disk ? ts_dvr_read(h->dvr, s->msn, (size_t)s->bytes) : NULL;
    if (!c)
        return -1;
    int rc = media_add(m, c);
    ts_chunk_unref(&c);
    if (rc == 0)
        return 1;
fail:
    ts_hls_media_free(m);
    return -1;
}

void ts_hls_media_free(ts_hls_media_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        ts_chunk_unref(&m->c[i]);
    free(m->c);
    memset(m, 0, sizeof *m);
}
