/* Hole punching through a peer both sides are connected to: ut_holepunch (BEP 55) carried over
 * TCP simultaneous open. See holepunch.h and docs/PROTOCOL.md ("ut_holepunch"). */
#include "holepunch.h"
#include "known.h"
#include "peer.h"
#include "ts_log.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define alive peer_alive
#define HP_TARGETS 64 /* targets whose rendezvous backoff is remembered */
#define HP_SCAN_NS (200 * TS_NS_PER_MS)

enum { HP_FREE = 0, HP_ASKED, HP_DIALLED };

struct hp_punch {
    uint32_t ip;        /* host order: whom we dial (or asked a relay for) */
    uint16_t port;
    uint64_t relay;     /* serial of the relay asked; 0 = unsolicited (the relay asked us) */
    uint64_t t0_ns, retry_ns;
    int state, tries;
};

struct sw_hp {
    struct hp_punch punch[HP_MAX];
    struct hp_target { uint32_t ip; uint16_t port; uint64_t next_ns; int tries; } tgt[HP_TARGETS];
    uint64_t scan_ns; /* when the known peers were last looked over for targets */
};

static struct sw_hp *hp_get(swarm_t *sw)
{
    if (!sw->hp)
        sw->hp = calloc(1, sizeof *sw->hp);
    return sw->hp;
}

void hp_free(swarm_t *sw)
{
    free(sw->hp);
    sw->hp = NULL;
}

/* Where a connected peer's listening port shows from outside: the port we dialled, or the source
 * port of its connection to us, which a NAT that maps per local endpoint gives every connection
 * from its listening port (it dials from there, ts_sock_connect4_from). */
static uint16_t seen_port(const peer_t *q) { return ntohs(q->addr.sin_port); }

static uint32_t peer_ip(const peer_t *q) { return ntohl(q->addr.sin_addr.s_addr); }

/* A live connection to ip:port (its dialled, seen or announced listening port); active only if asked. */
static peer_t *find_peer(swarm_t *sw, uint32_t ip, uint16_t port, int active)
{
    for (peer_t *q = sw->peers; q; q = q->next)
        if (alive(q) && (!active || q->state == PEER_ACTIVE) && peer_ip(q) == ip &&
            (seen_port(q) == port || q->listen_port == port))
            return q;
    return NULL;
}

static peer_t *by_serial(swarm_t *sw, uint64_t serial)
{
    for (peer_t *q = sw->peers; q; q = q->next)
        if (alive(q) && q->serial == serial)
            return q;
    return NULL;
}

static struct known *known_at(swarm_t *sw, uint32_t ip, uint16_t port)
{
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port)
            return &sw->known[i];
    return NULL;
}

static int is_self(swarm_t *sw, uint32_t ip, uint16_t port)
{
    return (ip == sw->announce_ip || (sw->ext_ip && ip == sw->ext_ip)) &&
           (port == sw->port || (sw->ext_port && port == sw->ext_port));
}

/* The per-peer budget of rendezvous (as relay) and unsolicited connects (as target): HP_RATE a
 * second in bursts of HP_BURST. 1 if one may be spent now. */
static int spend(peer_t *p, uint64_t now)
{
    if (!p->hp_last_ns)
        p->hp_tokens = HP_BURST;
    else
        p->hp_tokens += (double)(now - p->hp_last_ns) / TS_NS_PER_S * HP_RATE;
    if (p->hp_tokens > HP_BURST)
        p->hp_tokens = HP_BURST;
    p->hp_last_ns = now;
    if (p->hp_tokens < 1.0)
        return 0;
    p->hp_tokens -= 1.0;
    return 1;
}

/* Remember that relay told us of k (a small ring: the newest relays win). */
static void add_relay(swarm_t *sw, struct known *k, uint64_t serial)
{
    int slot = -1;
    for (int i = 0; i < SW_KNOWN_RELAYS; i++) {
        if (k->relay[i] == serial)
            return;
        if (slot < 0 && (!k->relay[i] || !by_serial(sw, k->relay[i])))
            slot = i;
    }
    k->relay[slot >= 0 ? slot : (int)(serial % SW_KNOWN_RELAYS)] = serial;
}

/* A known peer to punch: it supports ut_holepunch and nobody has seen it accept, or our dials
 * to it failed; a connected peer told us of it and speaks ut_holepunch. That relay, or NULL. */
static peer_t *punchable(swarm_t *sw, const struct known *k)
{
    if (sw->no_holepunch || !(k->flags & TS_WIRE_PEX_HOLEPUNCH) || ((k->flags & TS_WIRE_PEX_CONNECTABLE) && k->fails < 2))
        return NULL;
    for (int i = 0; i < SW_KNOWN_RELAYS; i++) {
        peer_t *r = k->relay[i] ? by_serial(sw, k->relay[i]) : NULL;
        if (r && r->state == PEER_ACTIVE && r->hp_id)
            return r;
    }
    return NULL;
}

void hp_pex(peer_t *p, const ts_wire_addr_t *a, size_t n)
{
    swarm_t *sw = p->sw;
    for (size_t i = 0; i < n; i++) {
        known_learn(sw, a[i].ip, a[i].port);
        struct known *k = known_at(sw, a[i].ip, a[i].port);
        if (k) {
            k->flags |= a[i].flags;
            add_relay(sw, k, p->serial);
        }
        /* One that nobody has seen accept is punched (hp_tick, within 200 ms) rather than dialled:
         * its NAT would drop our SYN, and the punch dials it at the right moment anyway. */
        if (!k || !punchable(sw, k))
            known_connect(sw, a[i].ip, a[i].port);
        else if (k->next_ns < ts_mono_ns() + HP_WAIT_NS)
            k->next_ns = ts_mono_ns() + HP_WAIT_NS; /* nor redialled (known_redial) meanwhile */
    }
}

static struct hp_punch *slot_for(struct sw_hp *h, uint32_t ip)
{
    for (int i = 0; i < HP_MAX; i++)
        if (h->punch[i].state != HP_FREE && h->punch[i].ip == ip)
            return &h->punch[i];
    for (int i = 0; i < HP_MAX; i++)
        if (h->punch[i].state == HP_FREE)
            return &h->punch[i];
    return NULL;
}

/* Dial the address of a connect message from our listening port (TCP simultaneous open). */
static void dial(swarm_t *sw, struct hp_punch *r, uint64_t now)
{
    char a[64];
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->port), .sin_addr.s_addr = htonl(r->ip) };
    inet_ntop(AF_INET, &sa.sin_addr, a, sizeof a);
    if (is_self(sw, r->ip, r->port) || !known_admit(sw, r->ip, now)) {
        r->state = HP_FREE;
        return;
    }
    peer_t *q = find_peer(sw, r->ip, r->port, 0);
    if (q) { /* a dial of ours still under way is the punch's socket: its SYN opened our NAT */
        if (q->state == PEER_ACTIVE) {
            r->state = HP_FREE;
            return;
        }
        q->punch = 1;
        if (r->state != HP_DIALLED)
            sw->c_punch_attempts++;
        r->state = HP_DIALLED;
        r->tries = 2; /* no retry: that socket keeps sending its SYN */
        return;
    }
    if (peer_count(sw) >= sw->max_peers) {
        r->state = HP_FREE;
        return;
    }
    if (r->state != HP_DIALLED)
        sw->c_punch_attempts++;
    r->state = HP_DIALLED;
    r->tries++;
    r->retry_ns = now + HP_RETRY_NS;
    int pending, from_listen;
    int fd = ts_sock_connect4_from(r->ip, r->port, sw->bind_ip, sw->port, &pending, &from_listen);
    ts_info("hole punch: dialling %s:%u (try %d, from %s port, %s)", a, r->port, r->tries,
            fd < 0 ? "no" : from_listen ? "the listening" : "an ephemeral", r->relay ? "asked for" : "relayed to us");
    if (fd < 0)
        return; /* retried by hp_tick */
    q = peer_new(sw, fd, &sa, 1, pending);
    if (q)
        q->punch = 1;
}

static void relay(peer_t *p, const ts_wire_hp_t *h, uint64_t now)
{
    swarm_t *sw = p->sw;
    if (!p->hp_id) { /* it did not announce ut_holepunch: we could not even answer it */
        known_junk(p, "ut_holepunch without announcing it");
        return;
    }
    if (!spend(p, now)) {
        known_junk(p, "rendezvous flood");
        return;
    }
    peer_t *q = NULL;
    uint32_t err = 0;
    if (is_self(sw, h->ip, h->port))
        err = TS_WIRE_HP_NO_SELF;
    else if (!(q = find_peer(sw, h->ip, h->port, 1)))
        err = TS_WIRE_HP_NOT_CONNECTED;
    else if (q == p)
        err = TS_WIRE_HP_NO_SUCH_PEER;
    else if (!q->hp_id)
        err = TS_WIRE_HP_NO_SUPPORT;
    if (err) {
        ts_wire_put_holepunch(&p->out, p->hp_id, TS_WIRE_HP_ERROR, h->ip, h->port, err);
        return;
    }
    /* Back to back, the target first (it has no dial under way yet): the two SYNs then cross
     * within the difference of the relay's delays to each side. */
    ts_wire_put_holepunch(&q->out, q->hp_id, TS_WIRE_HP_CONNECT, peer_ip(p), seen_port(p), 0);
    ts_wire_put_holepunch(&p->out, p->hp_id, TS_WIRE_HP_CONNECT, peer_ip(q), seen_port(q), 0);
    peer_flush(q);
    peer_flush(p);
    sw->c_punch_relayed++;
    char a[64], b[64];
    ts_info("hole punch: relayed between %s and %s", peer_addr(p, a, sizeof a), peer_addr(q, b, sizeof b));
}

/* A connect: solicited if it answers our rendezvous to this relay; otherwise we are the target,
 * and a relay could name any address, so such dials come out of the relay's budget (HP_RATE),
 * of HP_MAX punches at once, and of the usual bans and per-address limits. */
static void on_connect(peer_t *p, const ts_wire_hp_t *h, uint64_t now)
{
    swarm_t *sw = p->sw;
    struct sw_hp *hp = hp_get(sw);
    if (!hp || !h->ip || !h->port)
        return;
    struct hp_punch *r = NULL;
    for (int i = 0; i < HP_MAX && !r; i++)
        if (hp->punch[i].state == HP_ASKED && hp->punch[i].ip == h->ip && hp->punch[i].relay == p->serial)
            r = &hp->punch[i];
    if (!r) {
        if (!p->hp_id || !spend(p, now)) {
            known_junk(p, "unsolicited connect flood");
            return;
        }
        if (!(r = slot_for(hp, h->ip)) || r->state == HP_DIALLED)
            return; /* full, or a punch to it is under way */
        *r = (struct hp_punch){ .ip = h->ip, .relay = 0, .t0_ns = now };
        /* the initiator can be punched again later through the same relay */
        known_learn(sw, h->ip, h->port);
        struct known *k = known_at(sw, h->ip, h->port);
        if (k) {
            k->flags |= TS_WIRE_PEX_HOLEPUNCH;
            add_relay(sw, k, p->serial);
        }
    }
    r->port = h->port; /* where the relay sees it, which may differ from the port PEX told */
    dial(sw, r, now);
}

static void on_error(peer_t *p, const ts_wire_hp_t *h)
{
    swarm_t *sw = p->sw;
    char a[64];
    ts_debug("hole punch: relay %s cannot reach the target (error %u)", peer_addr(p, a, sizeof a), (unsigned)h->err);
    for (int i = 0; sw->hp && i < HP_MAX; i++)
        if (sw->hp->punch[i].state == HP_ASKED && sw->hp->punch[i].ip == h->ip && sw->hp->punch[i].relay == p->serial)
            sw->hp->punch[i].state = HP_FREE;
    struct known *k = known_at(sw, h->ip, h->port);
    for (int i = 0; k && i < SW_KNOWN_RELAYS; i++)
        if (k->relay[i] == p->serial)
            k->relay[i] = 0; /* not a relay for it (any more) */
}

void hp_on_message(peer_t *p, const uint8_t *payload, size_t len)
{
    ts_wire_hp_t h;
    if (p->sw->no_holepunch) { /* we announced no id for it */
        known_junk(p, "ut_holepunch we did not offer");
        return;
    }
    if (ts_wire_parse_holepunch(payload, len, &h) < 0) {
        known_misbehaved(p, "malformed ut_holepunch message");
        return;
    }
    if (h.addr_type != 0)
        return; /* IPv6: we have no IPv6 peers, so no rendezvous, connect or error can be about one */
    uint64_t now = ts_mono_ns();
    if (h.type == TS_WIRE_HP_RENDEZVOUS)
        relay(p, &h, now);
    else if (h.type == TS_WIRE_HP_CONNECT)
        on_connect(p, &h, now);
    else if (h.type == TS_WIRE_HP_ERROR)
        on_error(p, &h);
    /* newer message types are ignored */
}

int hp_connected(peer_t *p)
{
    swarm_t *sw = p->sw;
    uint32_t ip = peer_ip(p);
    int direct = p->outgoing && !p->punch; /* our own dial answered: no punch needed */
    for (int i = 0; sw->hp && i < HP_MAX; i++) {
        struct hp_punch *r = &sw->hp->punch[i];
        if (r->state != HP_FREE && r->ip == ip && (r->port == seen_port(p) || r->port == p->listen_port)) {
            r->state = HP_FREE;
            p->punch |= !direct;
        }
    }
    for (int i = 0; sw->hp && i < HP_TARGETS; i++)
        if (sw->hp->tgt[i].ip == ip)
            sw->hp->tgt[i].tries = 0;
    if (p->punch)
        sw->c_punch_ok++;
    return p->punch;
}

static struct hp_target *target(struct sw_hp *h, uint32_t ip, uint16_t port)
{
    struct hp_target *t = &h->tgt[0];
    for (int i = 0; i < HP_TARGETS; i++) {
        if (h->tgt[i].ip == ip && h->tgt[i].port == port)
            return &h->tgt[i];
        if (h->tgt[i].next_ns < t->next_ns)
            t = &h->tgt[i]; /* the one due longest ago (or never used) is replaced */
    }
    *t = (struct hp_target){ .ip = ip, .port = port };
    return t;
}

void hp_tick(swarm_t *sw, uint64_t now)
{
    if (sw->no_holepunch)
        return;
    struct sw_hp *h = sw->hp;
    for (int i = 0; h && i < HP_MAX; i++) {
        struct hp_punch *r = &h->punch[i];
        if (r->state != HP_FREE && now - r->t0_ns > HP_WAIT_NS)
            r->state = HP_FREE;
        else if (r->state == HP_DIALLED && r->tries < 2 && now >= r->retry_ns && !find_peer(sw, r->ip, r->port, 0))
            dial(sw, r, now); /* the first dial failed at once (a reset): once more, an RTT or so later */
    }
    /* the known table is looked over 5 times a second, not every tick: a rendezvous waits for
     * the next one at most 200 ms, small against the seconds between a target's attempts */
    if (peer_count(sw) >= sw->max_peers || !(h = hp_get(sw)) || now - h->scan_ns < HP_SCAN_NS)
        return;
    h->scan_ns = now;
    for (int i = 0; i < sw->nknown; i++) {
        struct known *k = &sw->known[i];
        peer_t *r = punchable(sw, k);
        if (!r || find_peer(sw, k->ip, k->port, 1))
            continue;
        struct hp_target *t = target(h, k->ip, k->port);
        struct hp_punch *s;
        if (now < t->next_ns || !(s = slot_for(h, k->ip)) || s->state != HP_FREE)
            continue;
        t->next_ns = now + (2 * TS_NS_PER_S << (t->tries < 5 ? t->tries : 5)); /* 2 s, 4 s, ... 64 s */
        t->tries++;
        *s = (struct hp_punch){ .ip = k->ip, .port = k->port, .relay = r->serial, .t0_ns = now, .state = HP_ASKED };
        ts_wire_put_holepunch(&r->out, r->hp_id, TS_WIRE_HP_RENDEZVOUS, k->ip, k->port, 0);
        if (k->next_ns < now + HP_WAIT_NS)
            k->next_ns = now + HP_WAIT_NS; /* the punch dials it: no direct dial meanwhile */
        char a[64];
        ts_debug("hole punch: rendezvous for %u.%u.%u.%u:%u through %s", k->ip >> 24, (k->ip >> 16) & 255,
                 (k->ip >> 8) & 255, k->ip & 255, k->port, peer_addr(r, a, sizeof a));
    }
}
