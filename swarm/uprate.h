/* Upload pacing without --max-upload (uprate.c): a delay-based controller in the manner of LEDBAT
 * (RFC 6817) that turns the upload cap's rate (sw->up_rate, fanout.c's token bucket) so that our
 * own uplink's queue stays near a small target delay. A viewer on a slow uplink that uploads at
 * line rate fills its home router's queue, and its own requests and ACKs then wait behind it.
 * The pure controller (uprate_ctl_*) is apart from the sampling so that it can be tested alone. */
#ifndef TS_SWARM_UPRATE_H
#define TS_SWARM_UPRATE_H
#include "swarm.h"

#define UPR_TARGET_MS 50.0        /* queueing delay aimed at: live video needs less than file sharing */
#define UPR_CUT_MS (2 * UPR_TARGET_MS) /* above this: multiplicative decrease */
#define UPR_CUT 0.75              /* ... to this share of what we actually sent */
#define UPR_CUT_HOLD_S 1.0        /* at most one cut per this long: the queue needs time to drain */
#define UPR_FLOOR 32768.0         /* B/s: never paced below this */
#define UPR_INC_MIN 16384.0       /* B/s gained per second at most (an empty queue) ... */
#define UPR_INC_SHARE 0.125       /* ... or this share of the rate per second, if more */
#define UPR_SAMPLE_NS (100 * TS_NS_PER_MS) /* TCP_INFO sampling period */
#define UPR_NOISE_SLOTS 10        /* the noise floor: minimum delay over 10 slots ... */
#define UPR_NOISE_SLOT_S 2.0      /* ... of 2 s each (LEDBAT's base-delay history, shorter) */
#define UPR_NOISE_MAX_MS 50.0     /* ... counted as noise at most */

typedef struct uprate_ctl {
    double rate;        /* B/s; 0 = no limit (no congestion seen yet) */
    double q_prev;      /* previous sample's queueing delay, ms; < 0 = none (the current-delay filter) */
    double since_cut;   /* s since the last multiplicative decrease */
    uint64_t cuts;      /* multiplicative decreases */
    double noise[UPR_NOISE_SLOTS]; /* per slot: least delay seen, ms; < 0 = none */
    int slot;
    double slot_s;      /* s into the current slot */
} uprate_ctl_t;
double uprate_ctl_noise(const uprate_ctl_t *c); /* the noise floor now, ms */

void uprate_ctl_init(uprate_ctl_t *c);
/* One step of dt_s seconds: q_ms our uplink's queueing delay now (< 0: no connection carried data,
 * no sample), sent_bps what we actually sent meanwhile (B/s). Returns -1 after a multiplicative
 * decrease, 1 if the rate was set or raised, 0 otherwise. */
int uprate_ctl_step(uprate_ctl_t *c, double q_ms, double sent_bps, double dt_s);

int uprate_init(swarm_t *sw);          /* once, after the options: active if no --max-upload */
void uprate_free(swarm_t *sw);
void uprate_tick(swarm_t *sw, uint64_t now);
int uprate_room(const peer_t *p);      /* fanout.c: may we queue another piece to p now? */
#endif
