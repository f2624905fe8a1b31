#include "ts_link.h"
#include "ts_bus.h"
#include "ts_log.h"
#include "ts_piece.h"
#include "ts_time.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define LINK_MAX_SUBS 64
#define LINK_CREDIT 2048                  /* pieces sent but not acked, per subscriber */
#define LINK_RETRY_S 0.02                 /* retry a blocked subscriber this often */
#define LINK_RESUB_NS (1000 * TS_NS_PER_MS) /* silence after which an inlink re-subscribes */
#define LINK_ACK_S 0.02
#define LINK_RESUB_MIN_NS (100 * TS_NS_PER_MS) /* re-subscribe after a discontinuity at most this often */
#define LINK_KEEPALIVE_NS (1000 * TS_NS_PER_MS) /* repeat an unchanged ack this often: "still here" */

/* ---------------------------------------------------------------- outlink */

typedef struct {
    uint64_t seq;
    uint8_t *data; /* packed envelope, sent as is to every subscriber */
    size_t len;
    int has_off;
    uint64_t off; /* the piece's src_offset */
} entry_t;

typedef struct {
    uint8_t id[256];
    size_t idlen;
    int used, active, has_acked;
    uint64_t pos;   /* next ring position to send */
    uint64_t acked; /* highest seq acked */
    uint64_t heard_ns; /* its last subscribe or ack */
} sub_t;

struct ts_outlink {
    struct ev_loop *loop;
    ts_bus_t *bus;
    entry_t *ring;
    size_t cap;
    uint64_t head; /* next position to fill; positions [tail, head) are held */
    uint64_t low;  /* no position below this is held (raised by a truncation) */
    int has_last;
    uint64_t last_seq;
    sub_t subs[LINK_MAX_SUBS];
    ev_timer retry;
    ts_outlink_start_fn *start;
    ts_outlink_ack_fn *on_ack;
    void *arg;
    ts_outlink_sub_fn *on_sub;
    void *sub_arg;
    uint64_t pieces_out, max_acked;
};

static uint64_t ol_tail(const ts_outlink_t *ol)
{
    uint64_t t = ol->head > ol->cap ? ol->head - ol->cap : 0;
    return t > ol->low ? t : ol->low;
}

/* First held position whose seq is >= seq (head if none). Seqs grow along the ring. */
static uint64_t ol_find(const ts_outlink_t *ol, uint64_t seq)
{
    uint64_t lo = ol_tail(ol), hi = ol->head;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ol->ring[mid % ol->cap].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static sub_t *ol_sub(ts_outlink_t *ol, const uint8_t *id, size_t idlen, int create)
{
    sub_t *free_slot = NULL;
    for (int i = 0; i < LINK_MAX_SUBS; i++) {
        sub_t *s = &ol->subs[i];
        if (s->used && s->idlen == idlen && memcmp(s->id, id, idlen) == 0)
            return s;
        if (!s->used && !free_slot)
            free_slot = s;
    }
    if (!create)
        return NULL;
    if (!free_slot) {
        /* Full: recycle an inactive record rather than refuse a live subscriber. */
        for (int i = 0; i < LINK_MAX_SUBS && !free_slot; i++)
            if (!ol->subs[i].active)
                free_slot = &ol->subs[i];
        if (!free_slot)
            return NULL;
    }
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = 1;
    free_slot->idlen = idlen < sizeof free_slot->id ? idlen : sizeof free_slot->id;
    memcpy(free_slot->id, id, free_slot->idlen);
    return free_slot;
}

/* Send what the subscriber has not had yet. Returns 1 if it is blocked (retry later). */
static int ol_pump(ts_outlink_t *ol, sub_t *s)
{
    if (!s->active)
        return 0;
    if (s->pos < ol_tail(ol)) {
        ts_warn("subscriber %.*s fell behind the ring: skipping %llu pieces", (int)s->idlen, s->id,
                (unsigned long long)(ol_tail(ol) - s->pos));
        s->pos = ol_tail(ol);
    }
    while (s->pos < ol->head) {
        entry_t *e = &ol->ring[s->pos % ol->cap];
        if (s->has_acked && e->seq > s->acked + LINK_CREDIT)
            return 1;
        if (ts_bus_send_raw(ol->bus, s->id, s->idlen, e->data, e->len) < 0) {
            if (errno == EAGAIN)
                return 1;
            /* EHOSTUNREACH: gone. It comes back with a subscribe or an ack. */
            s->active = 0;
            return 0;
        }
        s->pos++;
        ol->pieces_out++;
    }
    return 0;
}

static void ol_pump_all(ts_outlink_t *ol)
{
    int blocked = 0;
    for (int i = 0; i < LINK_MAX_SUBS; i++)
        if (ol->subs[i].used)
            blocked |= ol_pump(ol, &ol->subs[i]);
    if (blocked && !ev_is_active(&ol->retry))
        ev_timer_start(ol->loop, &ol->retry);
    else if (!blocked && ev_is_active(&ol->retry))
        ev_timer_stop(ol->loop, &ol->retry);
}

static void ol_on_retry(struct ev_loop *loop, ev_timer *w, int revents) { ol_pump_all(w->data); }

/* Answer a subscribe even when there is no piece to send, so an idle downstream can tell a live
 * upstream from a dead one: an ACK naming the newest seq held (0 if none). The inlink takes it as
 * a sign of life only. A full queue drops it; the next subscribe asks again. */
static void ol_reply_alive(ts_outlink_t *ol, const sub_t *s)
{
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Ack a = TS__ACK__INIT;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_ACK;
    e.ack = &a;
    a.seq = ol->has_last ? ol->last_seq : 0;
    ts_bus_send(ol->bus, s->id, s->idlen, &e);
}

static void ol_on_msg(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, Ts__Envelope *m, void *arg)
{
    ts_outlink_t *ol = arg;
    if (m->type == TS__MSG_TYPE__MSG_SUBSCRIBE) {
        sub_t *s = ol_sub(ol, peer, peer_len, 1);
        if (!s) {
            ts_warn("too many subscribers: ignoring one");
            return;
        }
        if (ol->on_sub)
            ol->on_sub((const char *)s->id, m->subscribe, ol->sub_arg);
        uint64_t from;
        if (m->subscribe->has_from_seq)
            from = m->subscribe->from_seq;
        else if (s->has_acked)
            from = s->acked + 1;
        else
            from = ol->start ? ol->start(ol->arg) : (ol->head > ol_tail(ol) ? ol->ring[ol_tail(ol) % ol->cap].seq : 0);
        s->pos = ol_find(ol, from);
        if (!s->active)
            ts_info("subscriber %.*s from seq %llu", (int)s->idlen, s->id, (unsigned long long)from);
        s->active = 1;
        s->heard_ns = ts_mono_ns();
        ol_reply_alive(ol, s);
    } else if (m->type == TS__MSG_TYPE__MSG_ACK) {
        sub_t *s = ol_sub(ol, peer, peer_len, 1);
        if (!s)
            return;
        s->heard_ns = ts_mono_ns();
        if (!s->has_acked || m->ack->seq > s->acked) {
            s->acked = m->ack->seq;
            s->has_acked = 1;
        }
        if (s->acked > ol->max_acked)
            ol->max_acked = s->acked;
        if (ol->on_ack)
            ol->on_ack((const char *)s->id, s->acked, ol->arg);
    } else {
        ts_warn("unexpected %s on outlink", ts_msg_type_name(m->type));
        return;
    }
    ol_pump_all(ol);
}

ts_outlink_t *ts_outlink_new(struct ev_loop *loop, void *zctx, const char *endpoint, size_t capacity,
                             ts_outlink_start_fn *start, ts_outlink_ack_fn *on_ack, void *arg)
{
    ts_outlink_t *ol = calloc(1, sizeof *ol);
    if (!ol)
        return NULL;
    ol->loop = loop;
    ol->cap = capacity ? capacity : 1;
    ol->ring = calloc(ol->cap, sizeof *ol->ring);
    ol->start = start;
    ol->on_ack = on_ack;
    ol->arg = arg;
    ol->bus = ts_bus_new(loop, zctx, ZMQ_ROUTER, endpoint, TS_BUS_BIND, NULL, NULL, ol_on_msg, ol);
    if (!ol->ring || !ol->bus) {
        ts_outlink_destroy(&ol);
        return NULL;
    }
    ev_timer_init(&ol->retry, ol_on_retry, LINK_RETRY_S, LINK_RETRY_S);
    ol->retry.data = ol;
    return ol;
}

void ts_outlink_destroy(ts_outlink_t **self)
{
    ts_outlink_t *ol = *self;
    if (!ol)
        return;
    if (ol->ring) {
        ev_timer_stop(ol->loop, &ol->retry);
        for (size_t i = 0; i < ol->cap; i++)
            free(ol->ring[i].data);
        free(ol->ring);
    }
    ts_bus_destroy(&ol->bus);
    free(ol);
    *self = NULL;
}

int ts_outlink_publish(ts_outlink_t *ol, const Ts__Piece *p)
{
    if (ol->has_last && p->seq <= ol->last_seq)
        return -1;
    Ts__Envelope e = TS__ENVELOPE__INIT;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_PIECE;
    e.piece = (Ts__Piece *)p;
    uint8_t *data;
    size_t len;
    if (ts_msg_pack(&e, &data, &len) < 0)
        return -1;
    entry_t *slot = &ol->ring[ol->head % ol->cap];
    free(slot->data);
    slot->data = data;
    slot->len = len;
    slot->seq = p->seq;
    slot->has_off = p->has_src_offset;
    slot->off = p->src_offset;
    ol->head++;
    ol->has_last = 1;
    ol->last_seq = p->seq;
    ol_pump_all(ol);
    return 0;
}

uint64_t ts_outlink_pieces_out(const ts_outlink_t *ol) { return ol->pieces_out; }

uint64_t ts_outlink_subscribers(const ts_outlink_t *ol)
{
    uint64_t n = 0;
    for (int i = 0; i < LINK_MAX_SUBS; i++)
        n += ol->subs[i].used && ol->subs[i].active;
    return n;
}

uint64_t ts_outlink_alive_subscribers(const ts_outlink_t *ol, uint64_t within_ns)
{
    uint64_t n = 0, now = ts_mono_ns();
    for (int i = 0; i < LINK_MAX_SUBS; i++)
        n += ol->subs[i].used && ol->subs[i].heard_ns && now - ol->subs[i].heard_ns <= within_ns;
    return n;
}

uint64_t ts_outlink_max_acked(const ts_outlink_t *ol) { return ol->max_acked; }

void ts_outlink_on_subscribe(ts_outlink_t *ol, ts_outlink_sub_fn *fn, void *arg)
{
    ol->on_sub = fn;
    ol->sub_arg = arg;
}

int ts_outlink_lookup(const ts_outlink_t *ol, uint64_t seq, int *has_off, uint64_t *off)
{
    uint64_t pos = ol_find(ol, seq);
    if (pos >= ol->head || ol->ring[pos % ol->cap].seq != seq)
        return 0;
    *has_off = ol->ring[pos % ol->cap].has_off;
    *off = ol->ring[pos % ol->cap].off;
    return 1;
}

void ts_outlink_truncate(ts_outlink_t *ol, uint64_t seq)
{
    ol->low = ol_tail(ol); /* the slots below were overwritten long ago: never hold them again */
    while (ol->head > ol_tail(ol) && ol->ring[(ol->head - 1) % ol->cap].seq > seq) {
        entry_t *e = &ol->ring[(ol->head - 1) % ol->cap];
        free(e->data);
        memset(e, 0, sizeof *e);
        ol->head--;
    }
    for (int i = 0; i < LINK_MAX_SUBS; i++)
        if (ol->subs[i].used && ol->subs[i].pos > ol->head)
            ol->subs[i].pos = ol->head;
    if (ol->has_last && ol->last_seq > seq)
        ol->last_seq = seq;
}

/* ---------------------------------------------------------------- inlink */

struct ts_inlink {
    struct ev_loop *loop;
    ts_bus_t *bus;
    ts_inlink_piece_fn *fn;
    void *arg;
    int has_from;
    uint64_t from;
    int has_last, last_has_off, subscribed, check_off;
    uint64_t last; /* highest seq received (or hinted from below) */
    uint64_t last_off, last_ts; /* its src_offset and timestamp */
    uint64_t last_rx_ns, resub_ns; /* last piece received, last subscribe sent */
    uint64_t alive_ns;             /* last word from the upstream: a piece or a subscribe's reply */
    uint64_t ack_sent_ns;
    int has_ack, ack_dirty;
    uint64_t ack;
    ev_timer resub, acker;
    uint64_t pieces_in, discontinuities;
};

static void il_subscribe(ts_inlink_t *il)
{
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Subscribe s = TS__SUBSCRIBE__INIT;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_SUBSCRIBE;
    e.subscribe = &s;
    if (il->has_last) {
        s.has_from_seq = 1;
        s.from_seq = il->last + 1;
        s.has_have_seq = s.has_have_timestamp_us = 1;
        s.have_seq = il->last;
        s.have_timestamp_us = il->last_ts;
        s.has_have_src_offset = il->last_has_off;
        s.have_src_offset = il->last_off;
    } else if (il->has_from) {
        s.has_from_seq = 1;
        s.from_seq = il->from;
    }
    il->subscribed = 1;
    il->resub_ns = ts_mono_ns();
    ts_bus_send(il->bus, NULL, 0, &e);
}

static void il_on_resub(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_inlink_t *il = w->data;
    /* Silence may mean an upstream that restarted and forgot us: ask again, from where we are. */
    if (!il->subscribed || ts_mono_ns() - il->last_rx_ns >= LINK_RESUB_NS)
        il_subscribe(il);
}

static void il_send_ack(ts_inlink_t *il)
{
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Ack a = TS__ACK__INIT;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_ACK;
    e.ack = &a;
    a.seq = il->ack;
    if (ts_bus_send(il->bus, NULL, 0, &e) == 0) {
        il->ack_dirty = 0;
        il->ack_sent_ns = ts_mono_ns();
    }
}

static void il_on_acker(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_inlink_t *il = w->data;
    /* An unchanged ack is repeated now and then: while pieces flow we do not re-subscribe, and a
     * stage below us that stopped acking must not make us look gone to the upstream. */
    if (il->ack_dirty || (il->has_ack && ts_mono_ns() - il->ack_sent_ns >= LINK_KEEPALIVE_NS))
        il_send_ack(il);
}

static void il_on_msg(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, Ts__Envelope *m, void *arg)
{
    ts_inlink_t *il = arg;
    if (m->type == TS__MSG_TYPE__MSG_ACK) {
        /* The reply to a subscribe: the upstream is alive. Not a piece: the re-subscribe timer
         * (last_rx_ns) runs on as if it had not come. */
        il->alive_ns = ts_mono_ns();
        return;
    }
    if (m->type != TS__MSG_TYPE__MSG_PIECE) {
        ts_warn("unexpected %s on inlink", ts_msg_type_name(m->type));
        return;
    }
    const Ts__Piece *p = m->piece;
    il->alive_ns = il->last_rx_ns = ts_mono_ns();
    if (il->has_last && p->seq <= il->last)
        return; /* replayed after a re-subscribe */
    if (il->check_off && p->has_src_offset && !(p->flags & TS_PIECE_DISCONT) &&
        (p->src_offset < p->payload.len || (il->has_last && il->last_has_off && p->src_offset - p->payload.len != il->last_off))) {
        /* Not the continuation of what we hold: the upstream numbered it from another idea of
         * where we are. Tell it (rate-limited: a burst of such pieces may be in flight). */
        if (il->discontinuities++ == 0 || il->last_rx_ns - il->resub_ns >= LINK_RESUB_MIN_NS) {
            ts_warn("piece %llu covers source bytes from %lld, we hold up to %llu: dropped, asking again",
                    (unsigned long long)p->seq, (long long)(p->src_offset - p->payload.len),
                    (unsigned long long)il->last_off);
            il_subscribe(il);
        }
        return;
    }
    il->has_last = 1;
    il->last = p->seq;
    il->last_has_off = p->has_src_offset;
    il->last_off = p->src_offset;
    il->last_ts = p->timestamp_us;
    il->pieces_in++;
    il->fn(m->piece, il->arg);
}

ts_inlink_t *ts_inlink_new(struct ev_loop *loop, void *zctx, const char *endpoint, const char *identity,
                           const char *upstream, int has_from, uint64_t from, ts_inlink_piece_fn *fn, void *arg)
{
    ts_inlink_t *il = calloc(1, sizeof *il);
    if (!il)
        return NULL;
    il->loop = loop;
    il->fn = fn;
    il->arg = arg;
    il->has_from = has_from;
    il->from = from;
    il->bus = ts_bus_new(loop, zctx, ZMQ_DEALER, endpoint, TS_BUS_CONNECT, identity, upstream, il_on_msg, il);
    if (!il->bus) {
        free(il);
        return NULL;
    }
    ev_timer_init(&il->resub, il_on_resub, 0., 0.25); /* first subscribe on the next loop turn */
    ev_timer_init(&il->acker, il_on_acker, LINK_ACK_S, LINK_ACK_S);
    il->resub.data = il->acker.data = il;
    ev_timer_start(loop, &il->resub);
    ev_timer_start(loop, &il->acker);
    return il;
}

void ts_inlink_destroy(ts_inlink_t **self)
{
    ts_inlink_t *il = *self;
    if (!il)
        return;
    ev_timer_stop(il->loop, &il->resub);
    ev_timer_stop(il->loop, &il->acker);
    ts_bus_destroy(&il->bus);
    free(il);
    *self = NULL;
}

void ts_inlink_ack(ts_inlink_t *il, uint64_t seq)
{
    if (!il->has_ack || seq > il->ack) {
        il->ack = seq;
        il->has_ack = 1;
        il->ack_dirty = 1;
    }
}

uint64_t ts_inlink_pieces_in(const ts_inlink_t *il) { return il->pieces_in; }

int ts_inlink_alive(const ts_inlink_t *il, uint64_t within_ns)
{
    return il->alive_ns && ts_mono_ns() - il->alive_ns <= within_ns;
}

void ts_inlink_hint(ts_inlink_t *il, uint64_t seq, int has_off, uint64_t off, uint64_t ts_us)
{
    if (il->has_last && seq <= il->last)
        return;
    il->has_last = 1;
    il->last = seq;
    il->last_has_off = has_off;
    il->last_off = off;
    il->last_ts = ts_us;
    if (il->subscribed)
        il_subscribe(il);
}

void ts_inlink_check_offsets(ts_inlink_t *il, int on) { il->check_off = on; }

uint64_t ts_inlink_discontinuities(const ts_inlink_t *il) { return il->discontinuities; }
