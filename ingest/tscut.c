#include "tscut.h"
#include "ts_buf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PKT TS_TSCUT_PKT
#define SYNC 0x47
#define PID_NULL 0x1FFF
#define TABLE_MAX 32 /* PMT and video PIDs remembered; more is hostile or exotic, and only costs detection */

typedef struct {
    uint16_t pmt, pid; /* a video elementary stream and the PMT that announced it */
} vpid_t;

struct ts_tscut {
    size_t max;
    uint64_t max_fill_ns;
    ts_tscut_emit_fn *fn;
    void *arg;
    /* buf.data[head..buf.len) holds the stream bytes [base, end) that are not emitted yet.
     * [base, scan) is the current piece; [scan, end) is not classified yet (a partial packet,
     * or a possible sync byte whose followers have not arrived). */
    ts_buf_t buf;
    size_t head;
    uint64_t base, scan, end;
    uint64_t stream0;  /* where the current stream (since start or restart) began */
    uint64_t first_ns; /* when the current piece's first byte arrived */
    int synced, is_ts;
    uint64_t grid0; /* start of the current run of sync'd packets */
    int cur_rap, first_piece, discont;
    int detect_waited; /* the fill timeout already waited once for the TS decision */
    int pat_version; /* -1: none seen */
    uint16_t pmt[TABLE_MAX];
    size_t npmt;
    vpid_t video[TABLE_MAX];
    size_t nvideo;
    vpid_t audio[TABLE_MAX]; /* used only when no PMT announces video */
    size_t naudio;
    int has_astart;
    uint64_t astart; /* the last audio PES start in the current piece (audio-only streams) */
    uint64_t astart_ns; /* when it arrived */
    uint64_t resyncs;
};

uint32_t ts_tscut_crc32(const uint8_t *p, size_t len)
{
    /* Bitwise is enough: PSI sections are a few dozen bytes a few times a second. */
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
    }
    return crc;
}

static inline const uint8_t *at(const ts_tscut_t *c, uint64_t pos)
{
    return c->buf.data + c->head + (size_t)(pos - c->base);
}

static inline unsigned pkt_pid(const uint8_t *p) { return (unsigned)(p[1] & 0x1F) << 8 | p[2]; }

static int is_pmt(const ts_tscut_t *c, unsigned pid)
{
    for (size_t i = 0; i < c->npmt; i++)
        if (c->pmt[i] == pid)
            return 1;
    return 0;
}

static int is_video(const ts_tscut_t *c, unsigned pid)
{
    for (size_t i = 0; i < c->nvideo; i++)
        if (c->video[i].pid == pid)
            return 1;
    return 0;
}

static int video_type(unsigned t)
{
    return t == 0x01 || t == 0x02 || t == 0x10 || t == 0x1B || t == 0x24;
}

/* MPEG-1/2 audio, AAC (ADTS, LATM), AC-3: every frame decodes on its own. */
static int audio_type(unsigned t)
{
    return t == 0x03 || t == 0x04 || t == 0x0F || t == 0x11 || t == 0x81;
}

static int is_audio(const ts_tscut_t *c, unsigned pid)
{
    for (size_t i = 0; i < c->naudio; i++)
        if (c->audio[i].pid == pid)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ PSI */

static void parse_pat(ts_tscut_t *c, int version, const uint8_t *b, const uint8_t *e)
{
    if (version != c->pat_version) {
        /* A new PAT may move everything: learn the programs again. */
        c->npmt = c->nvideo = c->naudio = 0;
        c->pat_version = version;
    }
    for (; e - b >= 4; b += 4) {
        unsigned prog = (unsigned)b[0] << 8 | b[1];
        unsigned pid = (unsigned)(b[2] & 0x1F) << 8 | b[3];
        if (prog == 0 || pid < 0x10 || pid == PID_NULL || is_pmt(c, pid))
            continue; /* program 0 is the network PID, not a PMT */
        if (c->npmt < TABLE_MAX)
            c->pmt[c->npmt++] = (uint16_t)pid;
    }
}

static void parse_pmt(ts_tscut_t *c, unsigned pmt_pid, const uint8_t *b, const uint8_t *e)
{
    if (e - b < 4)
        return;
    size_t pil = (size_t)(b[2] & 0x0F) << 8 | b[3];
    if ((size_t)(e - b) < 4 + pil)
        return;
    b += 4 + pil;
    size_t n = 0; /* this PMT replaces what it said before */
    for (size_t i = 0; i < c->nvideo; i++)
        if (c->video[i].pmt != pmt_pid)
            c->video[n++] = c->video[i];
    c->nvideo = n;
    n = 0;
    for (size_t i = 0; i < c->naudio; i++)
        if (c->audio[i].pmt != pmt_pid)
            c->audio[n++] = c->audio[i];
    c->naudio = n;
    while (e - b >= 5) {
        unsigned type = b[0];
        unsigned pid = (unsigned)(b[1] & 0x1F) << 8 | b[2];
        size_t eil = (size_t)(b[3] & 0x0F) << 8 | b[4];
        if ((size_t)(e - b) < 5 + eil)
            break;
        if (video_type(type) && pid >= 0x10 && pid != PID_NULL && !is_video(c, pid) && c->nvideo < TABLE_MAX)
            c->video[c->nvideo++] = (vpid_t){ (uint16_t)pmt_pid, (uint16_t)pid };
        if (audio_type(type) && pid >= 0x10 && pid != PID_NULL && !is_audio(c, pid) && c->naudio < TABLE_MAX)
            c->audio[c->naudio++] = (vpid_t){ (uint16_t)pmt_pid, (uint16_t)pid };
        b += 5 + eil;
    }
}

/* A section that starts in this packet's payload. Sections continued in later packets are not
 * followed: a PMT that large is rare, and missing it only means its RAPs go undetected. */
static void parse_psi(ts_tscut_t *c, unsigned pid, const uint8_t *pl, size_t n)
{
    size_t ptr = pl[0];
    if (1 + ptr + 3 > n)
        return;
    const uint8_t *s = pl + 1 + ptr;
    size_t avail = n - 1 - ptr;
    size_t slen = (size_t)(s[1] & 0x0F) << 8 | s[2];
    if (!(s[1] & 0x80) || slen < 9 || slen > 1021 || 3 + slen > avail)
        return;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* let the fuzzer past the CRC into the parsers */
    if (ts_tscut_crc32(s, 3 + slen) != 0)
        return; /* damaged or not a section at all */
#endif
    if (!(s[5] & 0x01))
        return; /* current_next_indicator 0: not in force yet */
    const uint8_t *body = s + 8, *stop = s + 3 + slen - 4;
    if (pid == 0 && s[0] == 0x00)
        parse_pat(c, (s[5] >> 1) & 0x1F, body, stop);
    else if (pid != 0 && s[0] == 0x02)
        parse_pmt(c, pid, body, stop);
}

/* Learn from one 188-byte packet; 1 if it starts a video access unit flagged random-access,
 * 2 if the stream has no video and it starts an audio PES (where an audio decoder can begin). */
static int parse_packet(ts_tscut_t *c, const uint8_t *p)
{
    if (p[1] & 0x80)
        return 0; /* transport_error_indicator: trust nothing in it */
    int pusi = (p[1] & 0x40) != 0;
    unsigned pid = pkt_pid(p);
    unsigned afc = (p[3] >> 4) & 3;
    size_t off = 4;
    int rai = 0;
    if (afc & 2) {
        size_t al = p[4];
        if (al > 183)
            return 0;
        if (al > 0)
            rai = (p[5] & 0x40) != 0;
        off = 5 + al;
    }
    if (!(afc & 1) || off >= PKT || !pusi)
        return 0;
    if (pid == 0 || is_pmt(c, pid)) {
        parse_psi(c, pid, p + off, PKT - off);
        return 0;
    }
    if (c->nvideo == 0 && is_audio(c, pid))
        return 2;
    return rai && is_video(c, pid);
}

/* Audio-only: end the piece at the last audio PES start (with its tables) so the next piece
 * starts where a decoder can, and say so. 1 if it did. */
static int audio_cut(ts_tscut_t *c, uint64_t now);

/* Packets that may sit between a keyframe and the tables written just before it: tables, null
 * packets, and packets without payload (ffmpeg's PCR-only packets in CBR mode). */
static int lead_in(const ts_tscut_t *c, const uint8_t *p)
{
    unsigned pid = pkt_pid(p);
    unsigned afc = (p[3] >> 4) & 3;
    if (pid == 0 || pid == PID_NULL || is_pmt(c, pid))
        return 1;
    if (afc == 2)
        return 1;
    return pid < 0x20 && !is_video(c, pid);
}

/* Where a piece ending at pos should end so that the tables right before pos go with what follows:
 * the earliest PAT in the run of lead-in packets that ends at pos, or pos itself. */
static uint64_t holdback(const ts_tscut_t *c, uint64_t pos)
{
    if (!c->synced)
        return pos;
    uint64_t lo = c->base > c->grid0 ? c->base : c->grid0;
    uint64_t best = pos;
    for (uint64_t q = pos; q >= lo + PKT;) {
        q -= PKT;
        const uint8_t *p = at(c, q);
        if (p[0] != SYNC || !lead_in(c, p))
            break;
        if (pkt_pid(p) == 0)
            best = q;
    }
    return best;
}

/* ------------------------------------------------------------ cutting */

static void emit(ts_tscut_t *c, uint64_t cut, uint64_t now)
{
    size_t len = (size_t)(cut - c->base);
    if (len == 0)
        return;
    uint32_t flags = 0;
    /* A non-TS stream has no random-access points we can see, but its first piece after a
     * (re)start is where any player has to begin, so it is the one RAP we can promise. */
    if (c->cur_rap || (c->first_piece && !c->is_ts))
        flags |= TS_PIECE_RAP;
    if (c->discont)
        flags |= TS_PIECE_DISCONT;
    c->fn(at(c, c->base), len, flags, c->arg);
    c->head += len;
    c->base = cut;
    c->cur_rap = c->first_piece = c->discont = 0;
    c->has_astart = 0;
    /* What stays (tables held back for a keyframe, a partial packet) restarts the fill clock:
     * otherwise it would go out at once as a tiny table-only piece. */
    c->first_ns = now;
}

/* The next packet (at pos) does not fit: close the piece, keeping trailing tables back if that
 * leaves both a non-empty piece and room for the packet. */
static void close_full(ts_tscut_t *c, uint64_t pos, uint64_t now)
{
    if (audio_cut(c, now))
        return;
    uint64_t cut = holdback(c, pos);
    if (cut == c->base || pos + PKT - cut > c->max)
        cut = pos;
    emit(c, cut, now);
}

static void add_junk(ts_tscut_t *c, uint64_t upto, uint64_t now)
{
    while (c->scan < upto) {
        if (c->scan - c->base >= c->max)
            emit(c, c->scan, now);
        uint64_t room = c->max - (c->scan - c->base);
        uint64_t n = upto - c->scan;
        c->scan += n < room ? n : room;
    }
    if (c->scan - c->base >= c->max)
        emit(c, c->scan, now);
}

static int audio_cut(ts_tscut_t *c, uint64_t now)
{
    if (c->nvideo || !c->has_astart)
        return 0;
    uint64_t cut = holdback(c, c->astart), since = c->astart_ns;
    if (cut <= c->base)
        return 0;
    emit(c, cut, now);
    c->cur_rap = 1;
    c->first_ns = since; /* what stays arrived from then on: its fill clock started then */
    return 1;
}

static void add_packet(ts_tscut_t *c, uint64_t p, uint64_t now)
{
    if (p + PKT - c->base > c->max)
        close_full(c, p, now);
    int kind = parse_packet(c, at(c, p));
    if (kind == 1) {
        uint64_t b = holdback(c, p);
        if (b > c->base)
            emit(c, b, now);
        c->cur_rap = 1;
    } else if (kind == 2) {
        if (holdback(c, p) == c->base)
            c->cur_rap = 1; /* the piece starts here (after its tables) */
        else {
            c->has_astart = 1;
            c->astart = p;
            c->astart_ns = now;
        }
    }
    c->scan = p + PKT;
    if (c->scan + PKT - c->base > c->max)
        close_full(c, c->scan, now); /* no further packet fits: close now, not one packet late */
}

/* Is there a run of k sync bytes 188 apart at q? 1 yes, 0 no, -1 not enough data yet. */
static int sync_run(const ts_tscut_t *c, uint64_t q, int k)
{
    for (int i = 1; i < k; i++) {
        uint64_t pos = q + (uint64_t)i * PKT;
        if (pos >= c->end)
            return -1;
        if (*at(c, pos) != SYNC)
            return 0;
    }
    return 1;
}

/* Classify what can be classified. force: bytes waiting on a sync decision become plain bytes. */
static void process(ts_tscut_t *c, uint64_t now, int force)
{
    while (c->scan < c->end) {
        if (c->synced) {
            if (c->end - c->scan < PKT)
                break;
            if (*at(c, c->scan) != SYNC) {
                c->synced = 0;
                c->resyncs++;
                continue;
            }
            add_packet(c, c->scan, now);
            continue;
        }
        const uint8_t *s = at(c, c->scan);
        const uint8_t *hit = memchr(s, SYNC, (size_t)(c->end - c->scan));
        uint64_t q = hit ? c->scan + (uint64_t)(hit - s) : c->end;
        add_junk(c, q, now);
        if (!hit)
            break;
        /* Three packets prove TS at the very start or once the stream is known to be TS; elsewhere
         * ask for five, so random data (a false run about once in 2^40 bytes) does not pass for TS. */
        int r = sync_run(c, q, (c->is_ts || q == c->stream0) ? 3 : 5);
        if (r < 0)
            break;
        if (r == 0) {
            add_junk(c, q + 1, now);
            continue;
        }
        c->synced = c->is_ts = 1;
        c->grid0 = q;
    }
    if (force && !c->synced && c->scan < c->end)
        add_junk(c, c->end, now);
}

static void compact(ts_tscut_t *c)
{
    if (c->head) {
        ts_buf_consume(&c->buf, c->head);
        c->head = 0;
    }
}

/* ------------------------------------------------------------ API */

ts_tscut_t *ts_tscut_new(size_t max_payload, uint64_t max_fill_ns, ts_tscut_emit_fn *fn, void *arg,
                         char *err, size_t errlen)
{
    if (max_payload < PKT || !fn) {
        if (err && errlen)
            snprintf(err, errlen, "piece payload must hold at least one %d-byte TS packet", PKT);
        return NULL;
    }
    ts_tscut_t *c = calloc(1, sizeof *c);
    if (!c) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->max = max_payload;
    c->max_fill_ns = max_fill_ns;
    c->fn = fn;
    c->arg = arg;
    ts_buf_init(&c->buf);
    c->first_piece = 1;
    c->pat_version = -1;
    return c;
}

void ts_tscut_destroy(ts_tscut_t **self)
{
    ts_tscut_t *c = *self;
    if (!c)
        return;
    ts_buf_free(&c->buf);
    free(c);
    *self = NULL;
}

int ts_tscut_feed(ts_tscut_t *c, const uint8_t *data, size_t len, uint64_t now_ns)
{
    if (len == 0)
        return 0;
    if (c->end == c->base)
        c->first_ns = now_ns;
    if (ts_buf_put(&c->buf, data, len) < 0)
        return -1;
    c->end += len;
    process(c, now_ns, 0);
    compact(c);
    return 0;
}

uint64_t ts_tscut_deadline(const ts_tscut_t *c)
{
    if (c->end == c->base || c->max_fill_ns == 0)
        return UINT64_MAX;
    return c->first_ns > UINT64_MAX - c->max_fill_ns ? UINT64_MAX : c->first_ns + c->max_fill_ns;
}

void ts_tscut_tick(ts_tscut_t *c, uint64_t now_ns)
{
    if (now_ns < ts_tscut_deadline(c))
        return;
    if (!c->is_ts && c->scan - c->stream0 < PKT && !c->detect_waited) {
        /* Still deciding whether the stream is TS (a sync byte within its first 188 bytes waits
         * for up to five packets): a forced cut now could split the first tables from the first
         * keyframe, or flag junk before the first packet as the stream's RAP. Wait one more fill
         * period for that (enough for TS from about 15 kbit/s), not forever. */
        c->detect_waited = 1;
        c->first_ns = now_ns;
        return;
    }
    if (!c->synced)
        process(c, now_ns, 1);
    /* Tables at the end stay for a keyframe that may follow. If the piece is nothing but tables
     * and padding, nothing a player needs is late: keep it (it goes out when full at worst). */
    if (audio_cut(c, now_ns)) {
        compact(c);
        return;
    }
    uint64_t cut = holdback(c, c->scan);
    if (cut > c->base)
        emit(c, cut, now_ns);
    else
        c->first_ns = now_ns; /* nothing to send yet: give it another fill period */
    compact(c);
}

void ts_tscut_flush(ts_tscut_t *c, uint64_t now_ns)
{
    process(c, now_ns, 1);
    if (c->end - c->base > c->max)
        emit(c, c->scan, now_ns); /* whole packets first; only the trailing fragment is cut short */
    while (c->end > c->base) {
        uint64_t cut = c->end - c->base > c->max ? c->base + c->max : c->end;
        emit(c, cut, now_ns);
    }
    c->scan = c->end;
    c->synced = 0; /* the packet grid, if any, ended with the stream */
    compact(c);
}

void ts_tscut_restart(ts_tscut_t *c, uint64_t now_ns)
{
    ts_tscut_flush(c, now_ns);
    c->is_ts = 0;
    c->stream0 = c->end;
    c->pat_version = -1;
    c->npmt = c->nvideo = c->naudio = 0;
    c->has_astart = 0;
    c->cur_rap = c->detect_waited = 0;
    c->first_piece = 1;
    c->discont = c->end > 0; /* nothing sent yet: nothing to be discontinuous with */
}

int ts_tscut_is_ts(const ts_tscut_t *c) { return c->is_ts; }

uint64_t ts_tscut_resyncs(const ts_tscut_t *c) { return c->resyncs; }
