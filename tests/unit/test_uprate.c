/* Upload pacing (swarm/uprate.c): the delay-based controller alone, against a simulated uplink
 * with a drop-tail queue — what a viewer on a slow uplink gets: its queue stays short and most of
 * its uplink is still used; on a link with room to spare it is never limited. */
#include "check.h"
#include "uprate.h"
#include "ts_log.h"

/* One run of `secs` seconds in 100 ms steps: the swarm would send `demand` B/s, the uplink carries
 * `cap` B/s through a queue of `qmax` bytes. Mean queueing delay (ms) and mean throughput (B/s)
 * over the last half, and the controller's final state. */
static void sim(uprate_ctl_t *c, double demand, double cap, double qmax, double noise_ms, int secs, double *q_mean,
                double *thr)
{
    double queue = 0, dt = 0.1, qsum = 0, sent_sum = 0;
    int steps = secs * 10, n = 0;
    for (int i = 0; i < steps; i++) {
        double in = (c->rate > 0 && c->rate < demand ? c->rate : demand) * dt;
        double out = queue + in < cap * dt ? queue + in : cap * dt;
        queue += in - out;
        if (queue > qmax)
            queue = qmax; /* dropped (TCP resends; the uplink stays full) */
        double q_ms = queue / cap * 1000;
        /* what TCP_INFO shows: the queue plus delayed ACKs and jitter (0..2 × noise_ms) */
        uprate_ctl_step(c, q_ms + noise_ms * (double)(i * 7 % 11) / 5.0, out / dt, dt);
        if (i >= steps / 2) {
            qsum += q_ms;
            sent_sum += out / dt;
            n++;
        }
    }
    *q_mean = qsum / n;
    *thr = sent_sum / n;
}

int main(void)
{
    ts_log_level(TS_LOG_ERROR);
    uprate_ctl_t c;
    double q, thr;

    /* 25 % of W1's viewers: a 1 Mbit/s uplink, 64 KB drop-tail queue, asked for 2 Mbit/s. */
    uprate_ctl_init(&c);
    sim(&c, 250000, 125000, 65536, 0, 60, &q, &thr);
    CHECK(c.rate > 0, "congestion seen: paced");
    CHECK(c.cuts >= 1, "at least one cut");
    CHECK(q < UPR_CUT_MS, "queue kept short: mean %.0f ms", q);
    CHECK(thr > 0.6 * 125000, "most of the uplink still used: %.0f of 125000 B/s", thr);

    /* A 20 Mbit/s uplink asked for 2 Mbit/s: never a queue, never a limit. */
    uprate_ctl_init(&c);
    sim(&c, 250000, 2500000, 250000, 0, 60, &q, &thr);
    CHECK(c.rate == 0 && c.cuts == 0, "no queue: unlimited (rate %.0f)", c.rate);
    uprate_ctl_init(&c);
    sim(&c, 250000, 2500000, 250000, 40, 60, &q, &thr);
    CHECK(c.rate == 0 && c.cuts == 0, "no queue, 40 ms of delayed-ACK noise: unlimited (rate %.0f)", c.rate);

    /* The slow uplink again, seen through 40 ms (mean) of noise: the noise is not taken for a
     * queue, so the uplink is still mostly used. */
    uprate_ctl_init(&c);
    sim(&c, 250000, 125000, 65536, 40, 60, &q, &thr);
    CHECK(c.rate > 0, "noisy: paced");
    CHECK(q < UPR_CUT_MS, "noisy: queue kept short: mean %.0f ms", q);
    CHECK(thr > 0.6 * 125000, "noisy: most of the uplink still used: %.0f of 125000 B/s", thr);

    /* Loopback noise: a single delay spike (a delayed ACK) does not start pacing. */
    uprate_ctl_init(&c);
    uprate_ctl_step(&c, 0, 100000, 0.1);
    uprate_ctl_step(&c, 150, 100000, 0.1);
    uprate_ctl_step(&c, 1, 100000, 0.1);
    CHECK(c.rate == 0, "one spike: still unlimited");
    uprate_ctl_step(&c, 150, 100000, 0.1);
    uprate_ctl_step(&c, 160, 100000, 0.1);
    CHECK(c.rate == 100000 * UPR_CUT, "a lasting queue: 3/4 of what was sent (%.0f)", c.rate);

    /* No connection carried data: nothing learnt, the rate stays. */
    double r = c.rate;
    for (int i = 0; i < 50; i++)
        uprate_ctl_step(&c, -1, 0, 0.1);
    CHECK(c.rate == r, "no samples: rate kept");

    /* One cut per hold time, and never below the floor. */
    uprate_ctl_step(&c, 500, 100000, 0.1);
    uprate_ctl_step(&c, 500, 100000, 0.1);
    uint64_t cuts = c.cuts;
    uprate_ctl_step(&c, 500, 100000, 0.1);
    CHECK(c.cuts == cuts, "no second cut within %.1f s", UPR_CUT_HOLD_S);
    for (int i = 0; i < 300; i++)
        uprate_ctl_step(&c, 500, 1000, 0.1);
    CHECK(c.rate == UPR_FLOOR, "floor: %.0f", c.rate);

    /* Under target: additive increase in proportion to the gap; app-limited: no increase. */
    uprate_ctl_init(&c);
    c.noise[0] = 0;
    c.rate = r = UPR_FLOOR;
    uprate_ctl_step(&c, 0, r, 1.0);
    uprate_ctl_step(&c, 0, r, 1.0);
    double full = c.rate - r;
    CHECK(full > 0, "empty queue: up");
    uprate_ctl_init(&c);
    c.noise[0] = 0;
    c.rate = r;
    uprate_ctl_step(&c, UPR_TARGET_MS / 2, r, 1.0);
    uprate_ctl_step(&c, UPR_TARGET_MS / 2, r, 1.0);
    CHECK(c.rate - r > 0.3 * full && c.rate - r < 0.7 * full, "half the gap: about half the increase");
    c.rate = r;
    uprate_ctl_step(&c, 0, r / 4, 1.0);
    CHECK(c.rate == r, "sending a quarter of the rate: not raised");
    uprate_ctl_init(&c);
    c.noise[0] = 0;
    c.rate = 100000;
    uprate_ctl_step(&c, UPR_TARGET_MS * 1.5, 100000, 1.0);
    uprate_ctl_step(&c, UPR_TARGET_MS * 1.5, 100000, 1.0);
    CHECK(c.rate < 100000, "between target and cut: down gently (%.0f)", c.rate);
    CHECK_DONE();
}
