/* Budgets that bound what strangers can make this peer spend (docs/SECURITY.md, "verification
 * cost"): new peer connections per /24 prefix and overall, and signature checks that fail.
 *
 * Bans are per address, so an attacker with many addresses could otherwise make us run one
 * failing ECDSA verification (~76 us) per connection. Each budget is a token bucket; a piece from
 * a peer that has not yet delivered a good one on this connection is verified only while both its
 * prefix's and the overall failure budgets have tokens, else it is dropped unverified and the
 * connection closed (not banned: it proved nothing either way). Peers that delivered a good piece
 * are always verified. 127.0.0.1 (this host's own processes) has no per-prefix budget. */
#include "guard.h"
#include <arpa/inet.h>
#include <string.h>

static int local(uint32_t ip) { return ip == 0x7f000001; }

/* Refill both of a bucket's budgets for the time since it was last used. */
static void top_up(struct sw_bucket *b, double admit_rate, double vfail_rate, uint64_t now)
{
    double dt = b->last_ns ? (double)(now - b->last_ns) / TS_NS_PER_S_F : 1e9;
    b->last_ns = now;
    b->admit += dt * admit_rate;
    if (b->admit > 2 * admit_rate)
        b->admit = 2 * admit_rate;
    b->vfail += dt * vfail_rate;
    if (b->vfail > 2 * vfail_rate)
        b->vfail = 2 * vfail_rate;
}

/* The bucket of ip's /24, taking over the least recently used one when it has none. */
static struct sw_bucket *prefix_bucket(swarm_t *sw, uint32_t ip, uint64_t now)
{
    uint32_t prefix = ip & 0xffffff00u;
    struct sw_bucket *lru = &sw->guard[0];
    for (int i = 0; i < SW_GUARD_PREFIXES; i++) {
        struct sw_bucket *b = &sw->guard[i];
        if (b->last_ns && b->prefix == prefix) {
            top_up(b, SW_ADMIT_PREFIX_RATE, SW_VFAIL_PREFIX_RATE, now);
            return b;
        }
        if (b->last_ns < lru->last_ns)
            lru = b;
    }
    memset(lru, 0, sizeof *lru);
    lru->prefix = prefix;
    top_up(lru, SW_ADMIT_PREFIX_RATE, SW_VFAIL_PREFIX_RATE, now);
    return lru;
}

int guard_admit(swarm_t *sw, uint32_t ip, uint64_t now)
{
    top_up(&sw->guard_all, SW_ADMIT_RATE, SW_VFAIL_RATE, now);
    if (sw->guard_all.admit < 1)
        return -1;
    struct sw_bucket *b = local(ip) ? NULL : prefix_bucket(sw, ip, now);
    if (b && b->admit < 1)
        return 0;
    sw->guard_all.admit -= 1;
    if (b)
        b->admit -= 1;
    return 1;
}

int guard_may_verify(const peer_t *p, uint64_t now)
{
    if (p->good_pieces > 0)
        return 1;
    swarm_t *sw = p->sw;
    uint32_t ip = ntohl(p->addr.sin_addr.s_addr);
    top_up(&sw->guard_all, SW_ADMIT_RATE, SW_VFAIL_RATE, now);
    struct sw_bucket *b = local(ip) ? NULL : prefix_bucket(sw, ip, now);
    return sw->guard_all.vfail >= 1 && (!b || b->vfail >= 1);
}

void guard_verify_failed(peer_t *p, uint64_t now)
{
    swarm_t *sw = p->sw;
    uint32_t ip = ntohl(p->addr.sin_addr.s_addr);
    top_up(&sw->guard_all, SW_ADMIT_RATE, SW_VFAIL_RATE, now);
    sw->guard_all.vfail -= 1;
    if (!local(ip))
        prefix_bucket(sw, ip, now)->vfail -= 1;
}
