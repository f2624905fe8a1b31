/* Give-to-get (broadcaster only): does what a first recipient gets spread? */
#include "g2g.h"
#include "peer.h"
#include "ts_log.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define alive peer_alive

/* The broadcaster told r of a new piece before anyone else. */
void g2g_first(peer_t *r, uint64_t seq, uint64_t now)
{
    swarm_t *sw = r->sw;
    /* the round trip to the peers the pieces start from, as the kernel measures it: a piece
     * cannot show it spreads sooner than about two of them */
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    if (sw->push_off != 1 && getsockopt(r->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_rtt > 0) {
        double d = (double)ti.tcpi_rtt * 1000.0;
        sw->first_rtt_ns = sw->first_rtt_ns > 0 ? 0.9 * sw->first_rtt_ns + 0.1 * d : d;
    }
    sw->first[seq % sw->n] = (struct sw_first){ .seq1 = seq + 1, .serial = r->serial, .t0_ns = now };
    r->g2g_first++;
}

int g2g_is_poor(const peer_t *r)
{
    return r->g2g_miss >= SW_G2G_TRIALS && r->g2g_credit * 4 < r->g2g_miss;
}

static peer_t *by_serial(swarm_t *sw, uint64_t serial)
{
    for (peer_t *r = sw->peers; r; r = r->next)
        if (r->serial == serial && alive(r))
            return r;
    return NULL;
}

/* q sent a HAVE for seq, or requested it (`request`).
 * - A HAVE before we told q of it: q got it from another peer, so the piece's first recipient
 *   passed it on. Its credit, and a sample of how long spreading takes. Not from the recipient's
 *   own address (but 127.0.0.1, where tests run every peer): a free-rider with a second
 *   connection would credit itself, and we would then wait the full second for it. A request
 *   before we told q proves nothing (it may be that second connection, guessing).
 * - A request after we told q (the early or late announcement): q did not get it from the first
 *   recipient. That counts against the recipient only if q is a peer that has shown it gets
 *   pieces from others (a witness): a lone viewer next to a free-rider cannot prove it forwards
 *   — the free-rider would ask us anyway — and is not blamed for that. */
void g2g_note(peer_t *q, uint64_t seq, uint64_t now, int request)
{
    swarm_t *sw = q->sw;
    if (!sw->first || !q->told)
        return;
    struct sw_first *f = &sw->first[seq % sw->n];
    if (f->seq1 != seq + 1 || f->credited || f->missed || f->serial == q->serial)
        return;
    peer_t *r = by_serial(sw, f->serial);
    if (q->told[seq % sw->n] != seq + 1) {
        uint32_t qip = ntohl(q->addr.sin_addr.s_addr);
        if (request || (r && qip == ntohl(r->addr.sin_addr.s_addr) && qip != 0x7f000001))
            return;
        q->g2g_reports++;
        f->credited = 1;
        double d = (double)(now - (f->served_ns ? f->served_ns : f->t0_ns));
        sw->spread_ns = sw->spread_ns > 0 ? 0.9 * sw->spread_ns + 0.1 * d : d;
        if (r) {
            r->g2g_credit++;
            r->g2g_poor = g2g_is_poor(r);
        }
        return;
    }
    /* not when the recipient asked for it but our own upload had not sent it yet */
    if (!request || !q->g2g_reports || !r || (f->req_ns && !f->served_ns))
        return;
    f->missed = 1;
    r->g2g_miss++;
    if (!r->g2g_poor && g2g_is_poor(r)) {
        char a[64];
        ts_log_fields_t lf = { 0 };
        ts_log_field(&lf, "peer", "%s", peer_addr(r, a, sizeof a));
        ts_log_kv(TS_LOG_INFO, &lf, "peer %s forwards nothing: no longer a first recipient (%llu of %llu spread)", a,
                  (unsigned long long)r->g2g_credit, (unsigned long long)(r->g2g_credit + r->g2g_miss));
    }
    r->g2g_poor = g2g_is_poor(r);
}

/* The first recipient asked us for seq, or we sent it to it: when it had it, it could pass it on. */
void g2g_progress(peer_t *r, uint64_t seq, uint64_t now, int served)
{
    swarm_t *sw = r->sw;
    struct sw_first *f = sw->first ? &sw->first[seq % sw->n] : NULL;
    if (!f || f->seq1 != seq + 1 || f->serial != r->serial)
        return;
    if (!served && !f->req_ns)
        f->req_ns = now;
    if (served && !f->served_ns)
        f->served_ns = now;
}

/* How long the broadcaster waits for a sign that a piece is spreading before it tells everyone,
 * counted from when its first recipient had it: about twice the measured spread delay
 * (SW_SRC_EARLY_NS until measured). */
uint64_t g2g_early_ns(const swarm_t *sw)
{
    /* never before a sign could have come back: three round trips to the first recipients */
    uint64_t floor = SW_SRC_EARLY_MIN_NS, rtt3 = (uint64_t)(3 * sw->first_rtt_ns);
    if (rtt3 > floor)
        floor = rtt3;
    if (sw->spread_ns <= 0)
        return SW_SRC_EARLY_NS > floor ? SW_SRC_EARLY_NS : floor;
    uint64_t d = (uint64_t)(2 * sw->spread_ns) + 20 * TS_NS_PER_MS;
    if (d < floor)
        d = floor;
    return d > SW_SRC_HAVE_DELAY_NS ? SW_SRC_HAVE_DELAY_NS : d;
}

/* When the broadcaster tells everyone of seq: once its first recipient has had it the early
 * deadline long with no sign of it spreading, or has not even asked for it by then; when a sign
 * came, or the recipient still waits in our own upload queue, at max_ns. */
uint64_t g2g_due_ns(const swarm_t *sw, uint64_t seq, uint64_t max_ns)
{
    const struct sw_first *f = &sw->first[seq % sw->n];
    if (f->seq1 != seq + 1)
        return 0;
    if (f->credited)
        return max_ns;
    if (f->served_ns)
        return f->served_ns + g2g_early_ns(sw);
    if (!f->req_ns)
        return f->t0_ns + g2g_early_ns(sw);
    return max_ns;
}

/* When the broadcaster tells the rest of its peers of a piece it saw spreading: a few times the
 * measured spread delay, within [SW_SRC_LATE_MIN_NS, SW_SRC_HAVE_DELAY_NS]. By then a piece that
 * spreads has reached nearly everyone (their HAVEs tell us so: no late HAVE to them), and the few
 * it missed — a tree cut by a slow or departed parent — wait that long, not a fixed second. */
uint64_t g2g_late_ns(const swarm_t *sw)
{
    if (sw->push_off == 1 || sw->spread_ns <= 0)
        return SW_SRC_HAVE_DELAY_NS;
    uint64_t d = (uint64_t)(4 * sw->spread_ns) + 50 * TS_NS_PER_MS;
    if (d < SW_SRC_LATE_MIN_NS)
        d = SW_SRC_LATE_MIN_NS;
    return d > SW_SRC_HAVE_DELAY_NS ? SW_SRC_HAVE_DELAY_NS : d;
}
