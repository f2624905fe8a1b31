#include "pacer.h"
#include <stdlib.h>
#include <string.h>

#define PKT 188
#define PCR_HZ 27000000ull
#define PCR_MOD (300ull << 33) /* the 33-bit base times 300, plus the 9-bit extension, wraps here */

struct ts_pacer {
    ts_pacer_out_fn *out;
    void *arg;
    uint64_t bps;
    int by_pcr;
    uint8_t *buf; /* queued bytes are buf[head..tail): stream positions out..in */
    size_t cap, head, tail;
    uint64_t in, out_pos;
    int ended, no_pcr;
    /* bitrate */
    int started;
    uint64_t t0, consumed;
    /* PCR: scan is the stream position of the next packet to look at */
    uint64_t scan;
    int pcr_pid; /* -1 until the first PCR */
    int have_last, have_next, reanchor;
    uint64_t last_pos, last_t, last_pcr, next_pos, next_t, next_pcr;
};

uint64_t ts_pacer_budget(uint64_t bps, uint64_t elapsed_ns)
{
    /* Split seconds and nanoseconds so nothing overflows for any run time or bps <= 10 Gbit/s. */
    uint64_t s = elapsed_ns / 1000000000ull, r = elapsed_ns % 1000000000ull;
    return s * (bps / 8) + s * (bps % 8) / 8 + r * bps / 8000000000ull;
}

ts_pacer_t *ts_pacer_new(uint64_t bps, int by_pcr, ts_pacer_out_fn *out, void *arg)
{
    ts_pacer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->out = out;
    p->arg = arg;
    p->bps = bps;
    p->by_pcr = by_pcr || bps == 0;
    p->pcr_pid = -1;
    return p;
}

void ts_pacer_destroy(ts_pacer_t **self)
{
    ts_pacer_t *p = *self;
    if (!p)
        return;
    free(p->buf);
    free(p);
    *self = NULL;
}

int ts_pacer_push(ts_pacer_t *p, const uint8_t *buf, size_t len)
{
    if (p->tail + len > p->cap && p->head) {
        memmove(p->buf, p->buf + p->head, p->tail - p->head);
        p->tail -= p->head;
        p->head = 0;
    }
    if (p->tail + len > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;
        while (cap < p->tail + len)
            cap *= 2;
        uint8_t *nb = realloc(p->buf, cap);
        if (!nb)
            return -1;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->tail, buf, len);
    p->tail += len;
    p->in += len;
    p->ended = 0;
    return 0;
}

size_t ts_pacer_queued(const ts_pacer_t *p) { return (size_t)(p->in - p->out_pos); }

void ts_pacer_end(ts_pacer_t *p) { p->ended = 1; }

void ts_pacer_restart(ts_pacer_t *p)
{
    p->scan = p->in; /* the new run's packet grid starts here */
    p->have_next = 0;
    p->reanchor = 1;
    p->pcr_pid = -1; /* another resource may carry its clock elsewhere */
}

int ts_pacer_no_pcr(const ts_pacer_t *p) { return p->no_pcr; }

static const uint8_t *at(const ts_pacer_t *p, uint64_t pos) { return p->buf + p->head + (pos - p->out_pos); }

static void release(ts_pacer_t *p, uint64_t upto)
{
    if (upto > p->in)
        upto = p->in;
    if (upto <= p->out_pos)
        return;
    size_t n = (size_t)(upto - p->out_pos);
    const uint8_t *b = p->buf + p->head;
    p->head += n;
    p->out_pos = upto;
    if (p->scan < upto)
        p->scan = upto;
    if (p->head == p->tail)
        p->head = p->tail = 0; /* the bytes stay valid until the next push */
    p->out(b, n, p->arg);
}

/* The PCR in the packet at pk, if any: 1 and *pcr, *disc (its discontinuity flag). */
static int packet_pcr(const uint8_t *pk, uint64_t *pcr, int *disc)
{
    if (!(pk[3] & 0x20) || pk[4] < 7 || !(pk[5] & 0x10))
        return 0;
    uint64_t base = (uint64_t)pk[6] << 25 | (uint64_t)pk[7] << 17 | (uint64_t)pk[8] << 9 | (uint64_t)pk[9] << 1 |
                    pk[10] >> 7;
    *pcr = base * 300 + ((uint64_t)(pk[10] & 1) << 8 | pk[11]);
    *disc = (pk[5] & 0x80) != 0;
    return 1;
}

/* Find the sync byte again: a 0x47 with another one a packet later. 0 if the data does not tell yet. */
static int resync(ts_pacer_t *p)
{
    for (uint64_t pos = p->scan; pos + PKT < p->in; pos++)
        if (*at(p, pos) == 0x47 && *at(p, pos + PKT) == 0x47) {
            p->scan = pos;
            return 1;
        }
    if (p->in - p->scan > PKT)
        p->scan = p->in - PKT;
    return 0;
}

/* When the PCR found now is due: the first one now, later ones by their distance from the last. */
static uint64_t pcr_due(ts_pacer_t *p, uint64_t pcr, int disc, uint64_t now)
{
    if (!p->have_last)
        return now;
    uint64_t d = (pcr + PCR_MOD - p->last_pcr) % PCR_MOD; /* a wrap is just a small step */
    uint64_t t = p->last_t;
    if (!disc && !p->reanchor && d <= TS_PACER_JUMP_NS * PCR_HZ / 1000000000ull)
        t += d * 1000 / 27; /* 27 MHz ticks to ns */
    p->reanchor = 0;
    if (t + TS_PACER_BURST_NS < now)
        t = now - TS_PACER_BURST_NS; /* the source stalled: do not flood to catch up */
    return t;
}

/* Scan to the next packet of the PCR PID that has a PCR. 1 and next_* set, or 0 (need more data). */
static int find_next(ts_pacer_t *p, uint64_t now)
{
    while (p->scan + PKT <= p->in) {
        if (*at(p, p->scan) != 0x47 && !resync(p))
            return 0;
        const uint8_t *pk = at(p, p->scan);
        uint64_t pcr;
        int disc, pid = (pk[1] & 0x1f) << 8 | pk[2];
        uint64_t pos = p->scan;
        p->scan += PKT;
        if ((p->pcr_pid >= 0 && pid != p->pcr_pid) || !packet_pcr(pk, &pcr, &disc))
            continue;
        p->pcr_pid = pid;
        p->next_pos = pos;
        p->next_pcr = pcr;
        p->next_t = pcr_due(p, pcr, disc, now);
        p->have_next = 1;
        return 1;
    }
    return 0;
}

static void run_pcr(ts_pacer_t *p, uint64_t now)
{
    for (;;) {
        if (!p->have_next && !find_next(p, now))
            break;
        if (now < p->next_t)
            break;
        p->have_last = 1; /* the next PCR is due: it becomes the last */
        p->have_next = 0;
        p->last_pos = p->next_pos;
        p->last_t = p->next_t;
        p->last_pcr = p->next_pcr;
    }
    uint64_t upto = p->out_pos;
    if (p->have_next && p->have_last && p->next_t > p->last_t)
        upto = p->last_pos + (p->next_pos - p->last_pos) * (now - p->last_t) / (p->next_t - p->last_t);
    else if (p->have_last)
        upto = p->ended ? p->in : p->last_pos; /* past the last PCR: wait for the next, or the end */
    else if (p->ended)
        upto = p->in;
    if (upto <= p->out_pos && !p->have_next && p->in - p->out_pos >= TS_PACER_CAP) {
        p->no_pcr = 1; /* a full queue and no PCR to go by: at bps from now on, or unpaced */
        p->by_pcr = 0;
        if (!p->bps)
            upto = p->in;
    }
    release(p, upto);
}

static void run_bps(ts_pacer_t *p, uint64_t now_ns)
{
    if (!p->bps) {
        release(p, p->in);
        return;
    }
    if (!p->started) {
        p->started = 1;
        p->t0 = now_ns;
    }
    uint64_t budget = ts_pacer_budget(p->bps, now_ns - p->t0);
    uint64_t burst = ts_pacer_budget(p->bps, TS_PACER_BURST_NS);
    if (budget > p->consumed + burst)
        p->consumed = budget - burst; /* we were stalled: do not flood downstream to catch up */
    uint64_t n = budget - p->consumed, q = p->in - p->out_pos;
    if (n > q)
        n = q;
    p->consumed += n;
    release(p, p->out_pos + n);
}

void ts_pacer_run(ts_pacer_t *p, uint64_t now_ns)
{
    if (p->by_pcr)
        run_pcr(p, now_ns);
    if (!p->by_pcr)
        run_bps(p, now_ns);
}
