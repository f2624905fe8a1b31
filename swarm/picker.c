/* The piece picker: what to request, from whom, and what each peer's answers are worth
 * (docs/PROTOCOL.md section 5, Picking).
 *
 * Every request is remembered by the peer it went to as (seq, when), so an answer is checked
 * against the seq asked for, not only its index. A peer's delivery record — answers, mean answer
 * time, requests left unanswered in a row — orders the holders of a piece and sets how long a
 * request may wait: for a piece near the playback point, another holder (the broadcaster last) is
 * asked as well once the first is late by its own measure, and at once when the first is not
 * answering at all. A peer that keeps not delivering what it announces is left out of the picker
 * for a while, then disconnected: not banned, since it may be slow rather than evil. */
#include "picker.h"
#include "edge.h"
#include "known.h"
#include "peer.h"
#include "push.h"
#include "ts_log.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#define MS TS_NS_PER_MS

static int active(const peer_t *p) { return peer_alive(p) && p->state == PEER_ACTIVE; }

int pick_snubbed(const peer_t *p, uint64_t now) { return p->snub_until_ns && now < p->snub_until_ns; }

/* Expected time from request to answer: measured, or a prior for a peer not yet heard from. */
static uint64_t expected_ns(const peer_t *p) { return p->answered ? (uint64_t)p->ans_ns : SW_PRIOR_ANSWER_NS; }

/* How long a request to p may wait before a piece near the playback point is asked elsewhere too:
 * not at all once p leaves requests unanswered, about twice its usual answer time otherwise. */
static uint64_t hedge_after_ns(const peer_t *p)
{
    if (p->fails >= 2)
        return 0;
    uint64_t t = 2 * expected_ns(p) + 20 * MS;
    return t > 1000 * MS ? 1000 * MS : t;
}

/* ... and before it is cancelled, counting against p. */
static uint64_t timeout_ns(const peer_t *p)
{
    if (!p->answered)
        return SW_UNPROVEN_TIMEOUT_NS;
    uint64_t t = 4 * (uint64_t)p->ans_ns + 200 * MS;
    if (t < 500 * MS)
        t = 500 * MS;
    return t > SW_REQ_TIMEOUT_NS ? SW_REQ_TIMEOUT_NS : t;
}

static int find_req(const peer_t *p, uint64_t seq)
{
    for (int i = 0; i < p->nreq; i++)
        if (p->req[i].seq == seq)
            return i;
    return -1;
}

static int asked_count(const swarm_t *sw, uint64_t seq)
{
    uint64_t idx = seq % sw->n;
    return sw->req_seq[idx] == seq + 1 ? sw->req_cnt[idx] : 0;
}

static void request(peer_t *p, uint64_t seq, uint64_t now)
{
    swarm_t *sw = p->sw;
    uint64_t idx = seq % sw->n;
    ts_wire_put_request(&p->out, TS_WIRE_REQUEST, (uint32_t)idx, 0, sw->meta.piece_len);
    p->req[p->nreq++] = (struct sw_req){ seq, now, 0 };
    if (seq + 1 > p->asked_max)
        p->asked_max = seq + 1;
    if (sw->req_seq[idx] != seq + 1) {
        sw->req_seq[idx] = seq + 1;
        sw->req_cnt[idx] = 0;
    }
    sw->req_cnt[idx]++;
    push_requested(sw, seq, now);
}

/* Remove p's request i; with `cancel`, tell p and remember it (a piece may already be on its way). */
static void drop_req(peer_t *p, int i, int cancel)
{
    swarm_t *sw = p->sw;
    struct sw_req r = p->req[i];
    uint64_t idx = r.seq % sw->n;
    if (sw->req_seq[idx] == r.seq + 1 && sw->req_cnt[idx] > 0 && --sw->req_cnt[idx] == 0)
        sw->req_seq[idx] = 0;
    p->req[i] = p->req[--p->nreq];
    if (cancel)
        p->forgot_ns = ts_mono_ns();
    if (cancel && peer_alive(p)) {
        ts_wire_put_request(&p->out, TS_WIRE_CANCEL, (uint32_t)idx, 0, sw->meta.piece_len);
        p->cancelled[p->cancelled_pos] = r;
        p->cancelled_pos = (p->cancelled_pos + 1) % SW_CANCELLED;
    }
}

static void answered(peer_t *p, uint64_t age)
{
    p->ans_ns = p->answered ? 0.8 * p->ans_ns + 0.2 * (double)age : (double)age;
    p->answered++;
    p->fails = 0;
    p->snubs = 0;
}

/* p left a request unanswered (timed out, or others delivered while it was overdue). */
static void failed(peer_t *p, uint64_t now)
{
    /* A peer stating it is the broadcaster is never left out: when it is only slow (its upload
     * capped below demand) it is still the one holder of what nobody else has. Among several
     * that say so, the cost below prefers the one that answers. */
    if (++p->fails < SW_SNUB_FAILS || pick_snubbed(p, now) || p->source)
        return;
    char a[64];
    peer_addr(p, a, sizeof a);
    if (++p->snubs >= 2) {
        p->sw->c_peers_dropped++;
        pick_remember_dropped(p->sw, ntohl(p->addr.sin_addr.s_addr), now);
        if (p->listen_port) /* and not dialled again while it is remembered */
            known_later(p->sw, ntohl(p->addr.sin_addr.s_addr), p->listen_port, SW_DROPPED_NS);
        peer_close(p, "does not deliver what it announces");
        return;
    }
    ts_info("peer %s left %u requests unanswered: not asked for %llu s", a, p->fails,
            (unsigned long long)(SW_SNUB_NS / TS_NS_PER_S));
    p->snub_until_ns = now + SW_SNUB_NS;
    p->fails = SW_SNUB_FAILS - 1; /* on probation afterwards: one more miss ends it */
    while (p->nreq > 0)
        drop_req(p, p->nreq - 1, 1);
}

int pick_answer(peer_t *p, uint64_t seq, uint64_t now)
{
    int i = find_req(p, seq);
    if (i >= 0) {
        answered(p, now - p->req[i].sent_ns);
        drop_req(p, i, 0);
        return PICK_ASKED;
    }
    for (int k = 0; k < SW_CANCELLED; k++)
        if (p->cancelled[k].sent_ns && p->cancelled[k].seq == seq) {
            answered(p, now - p->cancelled[k].sent_ns); /* slow, but it answers */
            p->cancelled[k].sent_ns = 0;
            return PICK_LATE;
        }
    for (int k = 0; k < p->nreq; k++)
        if (p->req[k].seq % p->sw->n == seq % p->sw->n) {
            if (seq < p->req[k].seq)
                return PICK_WRONG;
            /* A newer seq under the index we asked for: the server sends the newest it holds
             * there, so what we asked for left its window before our request arrived (it lagged
             * its HAVE of the newer one). Ours is gone from it: no miss, but no answer's credit
             * either (a peer answering so always would otherwise look fast). The caller judges
             * whether the newer seq is plausible (pick_wrong if not). */
            drop_req(p, k, 0);
            return PICK_NEWER;
        }
    return PICK_UNASKED;
}

/* p rejected our request for index (its upload queue is full): ask another holder, and p not
 * again for a while. No miss: it told us at once. A rejection of nothing we asked for is junk
 * (but one that crossed our cancel). */
void pick_rejected(peer_t *p, uint32_t index, uint64_t now)
{
    swarm_t *sw = p->sw;
    for (int k = p->nreq - 1; k >= 0; k--)
        if (p->req[k].seq % sw->n == index) {
            drop_req(p, k, 0);
            p->reject_until_ns = now + SW_REJECT_BACKOFF_NS;
            sw->c_rejects_in++;
            sw->pick_pending = 1;
            return;
        }
    for (int k = 0; k < SW_CANCELLED; k++)
        if (p->cancelled[k].sent_ns && p->cancelled[k].seq % sw->n == index) {
            p->cancelled[k].sent_ns = 0;
            return;
        }
    known_junk(p, "rejects of nothing requested");
}

void pick_wrong(peer_t *p, uint64_t seq, uint64_t now)
{
    swarm_t *sw = p->sw;
    p->wrong++;
    sw->c_wrong_pieces++;
    /* the request it answered with another seq will not be answered right */
    for (int k = p->nreq - 1; k >= 0; k--)
        if (p->req[k].seq % sw->n == seq % sw->n)
            drop_req(p, k, 0);
    failed(p, now);
}

void pick_got(swarm_t *sw, peer_t *from, uint64_t seq, uint64_t now)
{
    if (!asked_count(sw, seq))
        return;
    for (peer_t *q = sw->peers; q; q = q->next) {
        if (q == from || !peer_alive(q))
            continue;
        int i = find_req(q, seq);
        if (i < 0)
            continue;
        uint64_t age = now - q->req[i].sent_ns;
        drop_req(q, i, 1);
        /* Late by its own measure when another delivered: a miss. A peer that has answered
         * before is given more rope (half its timeout) than one that never has. */
        if (age > (q->answered ? timeout_ns(q) / 2 : hedge_after_ns(q)))
            failed(q, now);
    }
}

void pick_clear_peer(peer_t *p)
{
    if (p->nreq > 0)
        p->forgot_ns = ts_mono_ns(); /* (choked: what it had queued for us may still come) */
    while (p->nreq > 0)
        drop_req(p, p->nreq - 1, 0);
}

void pick_cancel_before(swarm_t *sw, uint64_t seq)
{
    for (peer_t *p = sw->peers; p; p = p->next)
        for (int i = p->nreq - 1; i >= 0; i--)
            if (p->req[i].seq < seq)
                drop_req(p, i, 1);
}

/* An address whose peer was dropped for not delivering comes back on probation for a minute:
 * hedged at once, and dropped again at its first miss. */
void pick_remember_dropped(swarm_t *sw, uint32_t ip, uint64_t now)
{
    int slot = 0;
    for (int i = 0; i < SW_MAX_DROPPED; i++) {
        if (sw->dropped[i].ip == ip) {
            slot = i;
            break;
        }
        if (sw->dropped[i].until_ns < sw->dropped[slot].until_ns)
            slot = i;
    }
    sw->dropped[slot].ip = ip;
    sw->dropped[slot].until_ns = now + SW_DROPPED_NS;
}

void pick_new_peer(peer_t *p, uint64_t now)
{
    uint32_t ip = ntohl(p->addr.sin_addr.s_addr);
    for (int i = 0; i < SW_MAX_DROPPED; i++)
        if (p->sw->dropped[i].ip == ip && p->sw->dropped[i].until_ns > now) {
            p->fails = SW_SNUB_FAILS - 1;
            p->snubs = 1;
        }
}

void pick_forget_all(swarm_t *sw)
{
    for (peer_t *p = sw->peers; p; p = p->next) {
        pick_clear_peer(p);
        for (int k = 0; k < SW_CANCELLED; k++)
            if (p->cancelled[k].sent_ns) {
                p->cancelled[k].sent_ns = 0;
                p->forgot_ns = ts_mono_ns();
            }
    }
}

/* A piece from p that we did not ask for as far as our records go, but may have: p was asked for
 * it or later pieces, and we dropped requests to p unanswered lately (a re-tune forgets them all,
 * a wave of cancels overflows p->cancelled). Its answer was on the way: late, not a replay.
 * Likewise anything p sent (answer or push) while our loop stood still: we stopped reading, the
 * piece sat in the socket buffers and went stale there. */
int pick_forgotten(const peer_t *p, uint64_t seq, uint64_t now)
{
    if (p->stalled_ns && now - p->stalled_ns < SW_FORGOT_GRACE_NS)
        return 1;
    return seq < p->asked_max && p->forgot_ns && now - p->forgot_ns < SW_FORGOT_GRACE_NS;
}

/* Requests that waited too long are cancelled and count against their peer. */
void pick_tick(swarm_t *sw, uint64_t now)
{
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!active(p))
            continue;
        for (int i = p->nreq - 1; i >= 0 && peer_alive(p); i--) {
            if (i >= p->nreq || now - p->req[i].sent_ns <= timeout_ns(p))
                continue;
            /* The broadcaster is not left out for misses (failed()); cancelling its request and
             * asking again would only put the piece at the back of its queue — unless it has
             * waited so long that no queue of the broadcaster's can still hold it: lost (a
             * crossing we did not foresee), and asked again, the only way left to that piece. */
            if (p->req[i].timed_out) {
                if (now - p->req[i].sent_ns > SW_SRC_RESEND_NS)
                    drop_req(p, i, 1);
                continue;
            }
            p->timeouts++;
            sw->c_req_timeouts++;
            if (p->source) {
                p->req[i].timed_out = 1;
                p->fails++;
                continue;
            }
            drop_req(p, i, 1);
            failed(p, now);
        }
        if (p->snub_until_ns && now >= p->snub_until_ns)
            p->snub_until_ns = 0;
    }
}

/* Tell p whether it holds something we want from the playback point up. */
static void update_interest(peer_t *p)
{
    swarm_t *sw = p->sw;
    int want = 0;
    if (!sw->is_source && sw->hooked && p->has_edge && p->edge >= sw->play_seq) {
        uint64_t lo = sw->play_seq, hi = p->edge;
        if (hi - lo >= sw->n)
            lo = hi - sw->n + 1;
        for (uint64_t s = lo; s <= hi && !want; s++)
            want = peer_has(p, s) && !ts_window_has(sw->win, s);
    }
    if (want != p->am_interested) {
        p->am_interested = want;
        ts_wire_put_simple(&p->out, want ? TS_WIRE_INTERESTED : TS_WIRE_NOT_INTERESTED);
    }
}

/* Lower is better: expected answer time, times the queue it already has from us, doubled for
 * each request it left unanswered in a row; random tie-break so a new piece's requesters spread. */
static uint64_t cost(const peer_t *p)
{
    uint32_t f = p->fails > 8 ? 8 : p->fails;
    return ((expected_ns(p) / TS_NS_PER_US + 1) * (uint64_t)(1 + p->nreq) << f) * 4096 + (uint64_t)(rand() & 4095);
}

static int usable(const peer_t *p, uint64_t seq, uint64_t now)
{
    return active(p) && !p->peer_choking && !pick_snubbed(p, now) && peer_has(p, seq) && find_req(p, seq) < 0 &&
           now >= p->reject_until_ns; /* it rejected a request lately: its queue is full */
}

/* Every asked holder of seq is past the time it should have answered in. */
static int all_overdue(const swarm_t *sw, uint64_t seq, uint64_t now)
{
    for (const peer_t *q = sw->peers; q; q = q->next) {
        if (!peer_alive(q))
            continue;
        int i = find_req(q, seq);
        if (i >= 0 && now - q->req[i].sent_ns < hedge_after_ns(q))
            return 0;
    }
    return 1;
}

/* Request every missing piece from the playback point up, deadline first. Each goes to the
 * cheapest holder (cost above); pieces near the playback point get further holders while the
 * asked ones are overdue. The broadcaster is asked only for what no other working peer has, when
 * the others are overdue on a piece near the playback point, or when playout has been blocked on
 * a piece too long: that keeps its upload near one copy. */
void pick_all(swarm_t *sw)
{
    if (sw->is_source || !sw->hooked)
        return;
    uint64_t now = ts_mono_ns(), hi = 0;
    int any = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        if (active(p) && p->has_edge && p->edge >= sw->play_seq) {
            update_interest(p);
            if (pick_snubbed(p, now))
                continue;
            if (!any || p->edge > hi)
                hi = p->edge;
            any = 1;
        }
    if (!any)
        return;
    /* From the playback point, at most half a window ahead, and never past the live edge we
     * can believe in (a peer claiming more must not make us chase pieces that do not exist). */
    uint64_t lo = sw->play_seq, bound = edge_bound(sw, now);
    if (hi - lo >= sw->n / 2)
        hi = lo + sw->n / 2 - 1;
    if (hi > bound)
        hi = bound;
    int urgent_ok = sw->blocked_since_ns && now - sw->blocked_since_ns > SW_SRC_URGENT_NS;
    for (uint64_t s = lo; s <= hi; s++) {
        if (ts_window_has(sw->win, s))
            continue;
        int asked = asked_count(sw, s), near = s < sw->play_seq + SW_HEDGE_SPAN;
        int urgent = s == sw->play_seq && urgent_ok; /* playout has waited on it too long */
        if (asked && !urgent && (!near || !all_overdue(sw, s, now)))
            continue;
        peer_t *best = NULL, *proven = NULL, *src = NULL;
        uint64_t best_cost = UINT64_MAX, proven_cost = UINT64_MAX, src_cost = UINT64_MAX;
        int working = 0; /* holders other than the broadcaster that answer (busy ones too) */
        for (peer_t *p = sw->peers; p; p = p->next) {
            if (!usable(p, s, now))
                continue;
            uint64_t c = p->nreq < SW_PIPELINE ? cost(p) : UINT64_MAX;
            if (p->source) {
                if (c < src_cost || !src) {
                    src_cost = c;
                    src = p;
                }
                continue;
            }
            working += p->fails < 2;
            if (c == UINT64_MAX)
                continue;
            if (c < best_cost) {
                best_cost = c;
                best = p;
            }
            if (p->answered && p->fails < 2 && c < proven_cost) {
                proven_cost = c;
                proven = p;
            }
        }
        int src_ok = src && src->nreq < SW_PIPELINE;
        if (!asked) {
            if (!urgent && push_wait(sw, s, now))
                continue; /* a parent is about to push it */
            if (best && best->fails < 2)
                request(best, s, now);
            else if (src_ok && (!working || urgent))
                request(src, s, now); /* only the broadcaster has it among peers that answer */
            else if (best)
                request(best, s, now); /* nothing better: a peer that has been missing may answer yet */
            continue;
        }
        /* Hedging a piece near the playback point whose askers are all overdue (or one playout
         * waits on): a peer that has answered before, else the broadcaster, else a new peer;
         * beyond SW_MAX_ASKED only the broadcaster. */
        if (asked < SW_MAX_ASKED && proven)
            request(proven, s, now);
        else if (src_ok)
            request(src, s, now);
        else if (asked < SW_MAX_ASKED && best && best->fails < 2)
            request(best, s, now);
    }
}

/* Playout has waited SW_EXPLAIN_NS on the next piece while a peer says it is there: say, every
 * SW_EXPLAIN_NS, what each peer's part is (an operator's first question about a stuck viewer). */
void pick_explain(swarm_t *sw, uint64_t now)
{
    if (sw->is_source || !sw->hooked || ts_window_has(sw->win, sw->play_seq)) {
        sw->wait_since_ns = 0;
        return;
    }
    if (!sw->wait_since_ns || sw->wait_seq != sw->play_seq) {
        sw->wait_seq = sw->play_seq;
        sw->wait_since_ns = sw->wait_logged_ns = now;
        return;
    }
    if (now - sw->wait_logged_ns < SW_EXPLAIN_NS)
        return;
    sw->wait_logged_ns = now;
    uint64_t s = sw->play_seq;
    char line[1024];
    size_t n = 0;
    /* (each peer's part is under 256 bytes: a peer that would not fit ends the line) */
    for (peer_t *p = sw->peers; p && n < sizeof line - 256; p = p->next) {
        if (!active(p) || !p->has_edge || p->edge < s)
            continue;
        char a[64];
        int i = find_req(p, s);
        n += (size_t)snprintf(line + n, sizeof line - n, "; %s%s: edge %llu, %s%s%s%s", peer_addr(p, a, sizeof a),
                              p->source ? " (broadcaster)" : "", (unsigned long long)p->edge,
                              peer_has(p, s) ? "has it" : "not known to have it", p->peer_choking ? ", choking us" : "",
                              pick_snubbed(p, now) ? ", left out" : "", now < p->reject_until_ns ? ", rejected lately" : "");
        if (i >= 0)
            n += (size_t)snprintf(line + n, sizeof line - n, ", asked %.1f s ago%s",
                                  (double)(now - p->req[i].sent_ns) / TS_NS_PER_S_F,
                                  p->req[i].timed_out ? " (timed out)" : "");
        n += (size_t)snprintf(line + n, sizeof line - n, ", %d requests out", p->nreq);
        if (n >= sizeof line) /* cannot happen (see above), but never past the end */
            n = sizeof line - 1;
    }
    if (n)
        ts_info("playout has waited %.0f s for seq %llu%s", (double)(now - sw->wait_since_ns) / TS_NS_PER_S_F,
                (unsigned long long)s, line);
}
