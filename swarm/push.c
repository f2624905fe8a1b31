/* Push (PROTOCOL.md "ts_push"). With real delays a hop of the announce tree costs HAVE → REQUEST →
 * PIECE, one and a half round trips; a piece sent unrequested to the peers that would hear of it
 * first costs half of one. Only those peers get pushes (fanout_broadcast's choice, the broadcaster's
 * first recipient), only fresh pieces, through the same upload-capped queue as requests. */
#include "push.h"
#include "g2g.h"
#include "peer.h"
#include "ts_time.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define MS TS_NS_PER_MS

static void on_push_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    ((swarm_t *)w->data)->pick_pending = 1; /* picked before the loop waits again */
}

int push_init(swarm_t *sw)
{
    const char *off = getenv("TS_PUSH_OFF"), *dir = getenv("TS_HOP_LOG");
    /* "push": no push, the measured announcement timing kept; anything else: neither */
    sw->push_off = !off || !*off || strcmp(off, "0") == 0 ? 0 : strcmp(off, "push") == 0 ? 2 : 1;
    if (!(sw->seen = calloc(sw->n, sizeof *sw->seen)))
        return -1;
    ev_timer_init(&sw->push_timer, on_push_timer, 0, 0);
    sw->push_timer.data = sw;
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/hops-%ld.log", dir, (long)getpid());
        sw->hop_log = fopen(path, "a");
    }
    return 0;
}

void push_free(swarm_t *sw)
{
    if (sw->hop_log)
        fclose(sw->hop_log);
    sw->hop_log = NULL;
    free(sw->seen);
    sw->seen = NULL;
}

static struct sw_seen *seen_of(swarm_t *sw, uint64_t seq)
{
    if (!sw->seen)
        return NULL;
    struct sw_seen *s = &sw->seen[seq % sw->n];
    if (s->seq1 != seq + 1)
        *s = (struct sw_seen){ .seq1 = seq + 1 };
    return s;
}

/* A child near the live edge, that takes pushes, lacks seq as far as we know and has room in its
 * queue: seq is queued to it like a request (the upload cap and the round-robin hold) and it gets
 * no HAVE of it. A piece far below our edge (filled in late) is announced, not pushed. */
int push_to(peer_t *p, uint64_t seq, uint64_t now)
{
    swarm_t *sw = p->sw;
    if (sw->push_off || !p->push || p->source || !p->has_edge || !p->told || p->rq_len >= SW_RQ_MAX / 2)
        return 0; /* the rest of its queue stays free for its own requests */
    /* A viewer pushes only what it got from the broadcaster: the top of the tree, where a piece
     * has one holder and a push cannot be a copy the child gets from someone else too. Below it,
     * every holder pushing made about one copy per holder per piece, half of them duplicates,
     * and filled capped uplinks (loopback: 20 viewers at 2 streams of upload ran away). */
    const struct sw_seen *from = sw->seen ? &sw->seen[seq % sw->n] : NULL;
    if (!sw->is_source && (!from || from->seq1 != seq + 1 || !from->from_src))
        return 0;
    if (seq + SW_PUSH_FRESH <= sw->edge || p->edge + SW_PUSH_AHEAD < seq || p->edge >= seq)
        return 0; /* (a child at or past seq has it or is filling it in: a HAVE is enough) */
    /* Under an upload cap, only while nothing waits for it: a push may be a copy the child gets
     * from another parent too, and on a busy uplink that copy would delay requested pieces. */
    if (sw->up_rate > 0 && !sw->is_source) /* (the broadcaster's push is the piece's first copy) */
        for (const peer_t *q = sw->peers; q; q = q->next)
            if (peer_alive(q) && q->state == PEER_ACTIVE && q->rq_len > 0)
                return 0;
    p->told[seq % sw->n] = seq + 1;
    /* ahead of its requests (a fresh piece first), behind earlier pushes (in order: a burst of new
     * pieces sent newest first would show the child a piece seconds newer than its playback point,
     * and it would skip ahead to it) */
    int at = 0;
    while (at < p->rq_len && (p->rq[(p->rq_head + at) % SW_RQ_MAX] & SW_RQ_PUSH))
        at++;
    for (int k = p->rq_len; k > at; k--)
        p->rq[(p->rq_head + k) % SW_RQ_MAX] = p->rq[(p->rq_head + k - 1) % SW_RQ_MAX];
    p->rq[(p->rq_head + at) % SW_RQ_MAX] = (uint32_t)(seq % sw->n) | SW_RQ_PUSH;
    p->rq_len++;
    if (sw->is_source)
        g2g_progress(p, seq, now, 0); /* as if it had asked: it will have it once our queue sends it */
    return 1;
}

/* A copy of a piece we hold, unrequested: invited when we take pushes and it is recent (two
 * parents may push the same piece, one pushes what another delivered a moment before, or a
 * parent that lags behind us pushes what is fresh to it);
 * anything older is junk as before, so a flood of old pieces still ends in a ban. */
int push_dup_ok(peer_t *p, uint64_t seq)
{
    swarm_t *sw = p->sw;
    if (sw->push_off || ts_window_empty(sw->win) || seq + SW_PUSH_AHEAD <= ts_window_highest(sw->win))
        return 0;
    sw->c_push_dup++;
    return 1;
}

void push_seen(swarm_t *sw, uint64_t seq, uint64_t now)
{
    struct sw_seen *s = seen_of(sw, seq);
    if (s && !s->have_ns)
        s->have_ns = now;
}

void push_requested(swarm_t *sw, uint64_t seq, uint64_t now)
{
    struct sw_seen *s = seen_of(sw, seq);
    if (s && !s->req_ns)
        s->req_ns = now;
}

static uint64_t grace_ns(const swarm_t *sw)
{
    uint64_t g = (uint64_t)(1.5 * sw->push_late_ns) + 5 * MS;
    return g > SW_PUSH_GRACE_MAX_NS ? SW_PUSH_GRACE_MAX_NS : g;
}

void push_got(peer_t *p, uint64_t seq, int asked, uint64_t timestamp_us, uint64_t now)
{
    swarm_t *sw = p->sw;
    struct sw_seen *s = seen_of(sw, seq);
    if (s)
        s->from_src = p->source;
    if (!sw->push_off && (!sw->has_edge || seq > sw->edge)) /* not yet stored: edge_note comes after */
        sw->push_share = 0.95 * sw->push_share + 0.05 * (asked ? 0.0 : 1.0);
    if (!asked && !sw->push_off) {
        sw->c_pushed_in++;
        sw->push_in_ns = now;
        /* how long after the first HAVE of a piece its push arrives: the grace (push_wait) */
        double late = s && s->have_ns && s->have_ns < now ? (double)(now - s->have_ns) : 0;
        sw->push_late_ns = sw->push_late_ns > 0 ? 0.9 * sw->push_late_ns + 0.1 * late : late;
    }
    if (!sw->hop_log || !s)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t age = (int64_t)((uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec) - (int64_t)timestamp_us;
    /* seq, P(ushed)/R(equested), HAVE → request, request → piece, HAVE → piece, source time → here
     * (µs; -1 = no such step), 1 if from the broadcaster */
    long long h2r = s->have_ns && s->req_ns >= s->have_ns ? (long long)(s->req_ns - s->have_ns) / 1000 : -1;
    long long r2p = asked && s->req_ns ? (long long)(now - s->req_ns) / 1000 : -1;
    long long h2p = s->have_ns ? (long long)(now - s->have_ns) / 1000 : -1;
    fprintf(sw->hop_log, "%llu %c %lld %lld %lld %lld %d\n", (unsigned long long)seq, asked ? 'R' : 'P', h2r, r2p,
            h2p, (long long)age, p->source);
    fflush(sw->hop_log);
}

/* A new piece (past everything we hold) first heard of moments ago, while most new pieces reach
 * us by push: wait
 * the grace for the push before asking a HAVE's sender, which would cost it (and the parent that
 * pushes anyway) an upload. The grace is measured: how late pushes come after the first HAVE. */
int push_wait(swarm_t *sw, uint64_t seq, uint64_t now)
{
    if (sw->push_off || !sw->push_in_ns || now - sw->push_in_ns > SW_PUSH_EXPECT_NS || sw->push_share < 0.5)
        return 0; /* only a peer most new pieces reach by push waits for one (a top-of-tree child) */
    if (sw->has_edge && seq <= sw->edge)
        return 0;
    const struct sw_seen *s = sw->seen ? &sw->seen[seq % sw->n] : NULL;
    if (!s || s->seq1 != seq + 1 || !s->have_ns)
        return 0;
    uint64_t until = s->have_ns + grace_ns(sw);
    if (now >= until)
        return 0;
    double in = (double)(until - now) / TS_NS_PER_S_F;
    if (!ev_is_active(&sw->push_timer) || ev_timer_remaining(sw->loop, &sw->push_timer) > in) {
        ev_timer_stop(sw->loop, &sw->push_timer);
        ev_timer_set(&sw->push_timer, in, 0);
        ev_timer_start(sw->loop, &sw->push_timer);
    }
    return 1;
}
