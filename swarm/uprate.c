/* Upload pacing without --max-upload: LEDBAT (RFC 6817) over the token bucket of fanout.c.
 *
 * What we measure: every 100 ms, TCP_INFO of the peer connections that carried data meanwhile.
 * For each, srtt - min_rtt is the queueing delay on its path. Our own uplink's queue delays every
 * connection we send on, while a far peer's congested uplink or downlink delays only its own, so
 * our queue is the minimum over the busy connections. The current-delay filter is the minimum of
 * the last two samples (srtt smooths over ~8 ACKs, and a delayed ACK can inflate one sample).
 *
 * What we turn: sw->up_rate. Unlimited (0) until the queue first exceeds twice the target; then
 * 3/4 of what we actually sent, and from there up additively in proportion to how far the delay
 * is under target (down in proportion above it), cut to 3/4 again when over twice the target.
 * A kernel send buffer holding seconds of pieces would hide the queue from the bucket (TCP keeps
 * the uplink full until it drains), so once pacing, peer sockets get TCP_NOTSENT_LOWAT and a peer
 * gets another piece only when its own queue is short: unserved requests stay cancellable, and
 * the requester's timeout asks another holder (picker.c). */
#include "uprate.h"
#include "peer.h"
#include "ts_log.h"
#include "ts_time.h"
#include <linux/tcp.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>

struct uprate {
    uprate_ctl_t ctl;
    uint64_t last_ns, log_ns;
    double sent_bps;        /* bytes sent per second, smoothed */
    uint64_t bytes_up;      /* sw->c_bytes_up at the last sample */
    double logged;          /* rate last logged, B/s */
};

void uprate_ctl_init(uprate_ctl_t *c)
{
    *c = (uprate_ctl_t){ .rate = 0, .q_prev = -1, .since_cut = UPR_CUT_HOLD_S };
    for (int i = 0; i < UPR_NOISE_SLOTS; i++)
        c->noise[i] = -1;
}

/* srtt - min_rtt is never 0 on an idle uplink: the receiver's delayed ACKs (40 ms and more, and
 * paced packets arrive one at a time) and jitter add to srtt but not to min_rtt. The least delay
 * seen over the last 20 s is taken for that noise (at most 50 ms) and left out. */
double uprate_ctl_noise(const uprate_ctl_t *c)
{
    double n = -1;
    for (int i = 0; i < UPR_NOISE_SLOTS; i++)
        if (c->noise[i] >= 0 && (n < 0 || c->noise[i] < n))
            n = c->noise[i];
    return n < 0 ? 0 : n > UPR_NOISE_MAX_MS ? UPR_NOISE_MAX_MS : n;
}

static void note_noise(uprate_ctl_t *c, double q, double dt_s)
{
    if (c->noise[c->slot] < 0 || q < c->noise[c->slot])
        c->noise[c->slot] = q;
    if ((c->slot_s += dt_s) >= UPR_NOISE_SLOT_S) {
        c->slot = (c->slot + 1) % UPR_NOISE_SLOTS;
        c->noise[c->slot] = -1;
        c->slot_s = 0;
    }
}

int uprate_ctl_step(uprate_ctl_t *c, double q_ms, double sent_bps, double dt_s)
{
    c->since_cut += dt_s;
    if (q_ms < 0) {
        c->q_prev = -1; /* nothing sent: nothing learnt, the rate stays */
        return 0;
    }
    double q = c->q_prev >= 0 && c->q_prev < q_ms ? c->q_prev : q_ms;
    c->q_prev = q_ms;
    note_noise(c, q, dt_s);
    q = q > uprate_ctl_noise(c) ? q - uprate_ctl_noise(c) : 0;
    if (q > UPR_CUT_MS) {
        if (c->rate > 0 && c->since_cut < UPR_CUT_HOLD_S)
            return 0;
        double base = c->rate > 0 && c->rate < sent_bps ? c->rate : sent_bps;
        if (base <= 0)
            base = c->rate;
        c->rate = base * UPR_CUT > UPR_FLOOR ? base * UPR_CUT : UPR_FLOOR;
        c->since_cut = 0;
        c->cuts++;
        return -1;
    }
    if (c->rate == 0)
        return 0; /* no congestion seen yet: no limit */
    double gap = (UPR_TARGET_MS - q) / UPR_TARGET_MS; /* 1 with an empty queue, -1 at the cut */
    if (gap > 0 && sent_bps < 0.5 * c->rate)
        return 0; /* we send less than allowed: an empty queue says nothing about more */
    double inc = c->rate * UPR_INC_SHARE > UPR_INC_MIN ? c->rate * UPR_INC_SHARE : UPR_INC_MIN;
    double r = c->rate + inc * gap * dt_s;
    c->rate = r > UPR_FLOOR ? r : UPR_FLOOR;
    return gap > 0;
}

int uprate_init(swarm_t *sw)
{
    const char *off = getenv("TS_UPRATE_OFF"); /* benches: the uplink as without pacing */
    if (sw->up_rate > 0 || (off && off[0] == '1'))
        return 0; /* --max-upload: the operator's cap, exactly */
    if (sw->is_source)
        return 0; /* the root of every piece's tree: paced below demand (as it was when every viewer
                   * joined at once) it delays every viewer's hook-in and so their lag for good;
                   * its operator sets --max-upload */
    if (!(sw->upr = calloc(1, sizeof *sw->upr)))
        return -1;
    uprate_ctl_init(&sw->upr->ctl);
    sw->upr->last_ns = sw->upr->log_ns = ts_mono_ns();
    return 0;
}

void uprate_free(swarm_t *sw)
{
    free(sw->upr);
    sw->upr = NULL;
}

int uprate_room(const peer_t *p)
{
    const swarm_t *sw = p->sw;
    return !sw->upr || sw->upr->ctl.rate == 0 || p->out.len < 2 * ((size_t)sw->meta.piece_len + 13);
}

/* Our uplink's queueing delay now (ms, < 0 = no connection carried enough to tell). */
static double sample(swarm_t *sw, double pace)
{
    int pacing = pace > 0;
    double q = -1;
    uint64_t busy = sw->meta.piece_len / 2 > 8192 ? sw->meta.piece_len / 2 : 8192;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!peer_alive(p) || p->state != PEER_ACTIVE)
            continue;
        /* The bucket meters pieces; TCP would still put each piece on the wire at once and fill
         * the router's queue for a piece's time. The kernel's own pacing (no fq qdisc needed)
         * spreads each connection's packets at our rate. */
        if (pacing && (p->upr_pace == 0 || fabs((double)p->upr_pace - pace) > 0.05 * pace)) {
            unsigned int r = (unsigned int)pace;
            setsockopt(p->fd, SOL_SOCKET, SO_MAX_PACING_RATE, &r, sizeof r);
            p->upr_pace = r;
        }
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(p->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
            len < offsetof(struct tcp_info, tcpi_min_rtt) + sizeof ti.tcpi_min_rtt)
            continue; /* a kernel before 4.6: no min_rtt, no pacing */
        /* a sample once its srtt has taken in enough new ACKs (a paced slow uplink sends less
         * than that per connection in one period) */
        if (p->upr_acked == 0 || ti.tcpi_bytes_acked < p->upr_acked)
            p->upr_acked = ti.tcpi_bytes_acked;
        if (ti.tcpi_bytes_acked - p->upr_acked < busy || ti.tcpi_rtt == 0 || ti.tcpi_min_rtt == 0)
            continue;
        p->upr_acked = ti.tcpi_bytes_acked;
        double qp = ti.tcpi_rtt > ti.tcpi_min_rtt ? (ti.tcpi_rtt - ti.tcpi_min_rtt) / 1000.0 : 0;
        if (q < 0 || qp < q)
            q = qp;
    }
    return q;
}

static void set_rate(swarm_t *sw, double rate)
{
    int was = sw->up_rate > 0;
    sw->up_rate = rate;
    /* as run.c for --max-upload: 50 ms at the rate or two pieces */
    sw->up_burst = rate * 0.05 > 2.0 * sw->meta.piece_len ? rate * 0.05 : 2.0 * sw->meta.piece_len;
    if (!was)
        sw->up_tokens = sw->up_burst;
    if (sw->up_tokens > sw->up_burst)
        sw->up_tokens = sw->up_burst;
    if (!sw->is_source && sw->meta.bitrate > 0) {
        int f = (int)(rate * 8 / (double)sw->meta.bitrate); /* copies we can send per piece time */
        sw->fanout = f < SW_FANOUT_MIN ? SW_FANOUT_MIN : f > SW_FANOUT_MAX ? SW_FANOUT_MAX : f;
    }
    sw->c_up_rate_auto = (uint64_t)(rate * 8);
}

void uprate_tick(swarm_t *sw, uint64_t now)
{
    struct uprate *u = sw->upr;
    if (!u || now - u->last_ns < UPR_SAMPLE_NS)
        return;
    double dt = (double)(now - u->last_ns) / TS_NS_PER_S_F;
    u->last_ns = now;
    double q = sample(sw, u->ctl.rate);
    /* written to the kernel: once paced (NOTSENT_LOWAT), about what left */
    double sent = (double)(sw->c_bytes_up - u->bytes_up) / dt;
    u->bytes_up = sw->c_bytes_up;
    u->sent_bps = u->sent_bps > 0 ? 0.7 * u->sent_bps + 0.3 * sent : sent; /* ~0.3 s */
    double before = u->ctl.rate;
    int r = uprate_ctl_step(&u->ctl, q, u->sent_bps, dt);
    if (u->ctl.rate == before)
        return;
    set_rate(sw, u->ctl.rate);
    sw->c_up_decreases = u->ctl.cuts;
    if (r < 0 && before == 0) {
        ts_info("upload paced: our uplink queue reached %.0f ms at %.0f kbit/s sent; rate %.0f kbit/s", q,
                u->sent_bps * 8 / 1000, u->ctl.rate * 8 / 1000);
        u->logged = u->ctl.rate;
        u->log_ns = now;
        return;
    }
    if (now - u->log_ns < 5 * TS_NS_PER_S)
        return;
    double change = u->logged > 0 ? u->ctl.rate / u->logged : 2;
    ts_log(change > 1.25 || change < 0.8 ? TS_LOG_INFO : TS_LOG_DEBUG,
           "upload pace %.0f kbit/s (delay %.0f ms, noise %.0f ms, sent %.0f kbit/s, %llu cuts)",
           u->ctl.rate * 8 / 1000, q, uprate_ctl_noise(&u->ctl), u->sent_bps * 8 / 1000, (unsigned long long)u->ctl.cuts);
    u->logged = u->ctl.rate;
    u->log_ns = now;
}
