/* Known peers: bans, admission, dialling and redialling, peer exchange. */
#include "known.h"
#include "guard.h"
#include "peer.h"
#include "ts_log.h"
#include "ts_time.h"
#include "ts_topology.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define alive peer_alive

/* This host's own processes (tests, benchmarks run many peers on 127.0.0.1): exempt from the
 * per-address connection limit, whose job the overall limits do for them, but not from bans. */
static int exempt(uint32_t ip) { return ip == 0x7f000001; }

/* Keep an address out for SW_BAN_NS: new connections from it are refused and it is not dialled. */
void known_ban(swarm_t *sw, uint32_t ip, uint64_t now)
{
    int slot = 0;
    for (int i = 0; i < SW_MAX_BANS; i++) {
        if (sw->bans[i].ip == ip || sw->bans[i].until_ns < sw->bans[slot].until_ns) {
            slot = i;
            if (sw->bans[i].ip == ip)
                break;
        }
    }
    sw->bans[slot] = (struct ban){ ip, now + SW_BAN_NS };
    sw->c_banned++;
}

/* May a connection from (or to) ip go ahead? Not when banned, nor beyond SW_MAX_PER_IP. */
int known_admit(swarm_t *sw, uint32_t ip, uint64_t now)
{
    for (int i = 0; i < SW_MAX_BANS; i++)
        if (sw->bans[i].ip == ip && sw->bans[i].until_ns > now)
            return 0;
    if (exempt(ip))
        return 1;
    int n = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        n += alive(p) && ntohl(p->addr.sin_addr.s_addr) == ip;
    return n < SW_MAX_PER_IP;
}

/* A peer broke the protocol or sent a bad piece: drop it and keep its address out a while. */
void known_misbehaved(peer_t *p, const char *why)
{
    char a[64];
    if (!alive(p))
        return;
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "peer", "%s", peer_addr(p, a, sizeof a));
    ts_log_field(&f, "reason", "%s", why);
    ts_log_field(&f, "ban_s", "%llu", (unsigned long long)(SW_BAN_NS / TS_NS_PER_S));
    ts_log_kv(TS_LOG_WARN, &f, "peer %s misbehaved (%s): disconnected and banned for %llu s", a, why,
              (unsigned long long)(SW_BAN_NS / TS_NS_PER_S));
    known_ban(p->sw, ntohl(p->addr.sin_addr.s_addr), ts_mono_ns());
    peer_close(p, NULL);
}

/* A message that is allowed but useless (a cancel race can cause a few): past SW_JUNK_MAX of
 * them the peer is flooding. */
void known_junk(peer_t *p, const char *what)
{
    if (++p->junk > SW_JUNK_MAX)
        known_misbehaved(p, what);
}

/* Redial backoff of a known address after `fails` failures: 0.5 s, 1 s, ... 16 s. */
uint64_t known_redial_delay_ns(int fails) { return 250 * TS_NS_PER_MS << fails; }

/* Redial a known address only after `delay_ns` (and then with the longest backoff): it leads to
 * a peer we are already connected to by another address, or to one we dropped. */
void known_later(swarm_t *sw, uint32_t ip, uint16_t port, uint64_t delay_ns)
{
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port) {
            sw->known[i].fails = KNOWN_REDIAL_FAILS_MAX;
            sw->known[i].next_ns = ts_mono_ns() + delay_ns;
        }
}

void known_alias(swarm_t *sw, uint32_t ip, uint16_t port, const uint8_t id[20])
{
    known_learn(sw, ip, port);
    known_later(sw, ip, port, known_redial_delay_ns(KNOWN_REDIAL_FAILS_MAX));
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port) {
            memcpy(sw->known[i].alias_of, id, 20);
            sw->known[i].is_alias = 1;
        }
}

/* Is ip:port an address of a peer we are connected to by another one? */
static int alias_connected(swarm_t *sw, uint32_t ip, uint16_t port)
{
    for (int i = 0; i < sw->nknown; i++) {
        const struct known *k = &sw->known[i];
        if (k->ip != ip || k->port != port || !k->is_alias)
            continue;
        for (peer_t *p = sw->peers; p; p = p->next)
            if (alive(p) && p->state == PEER_ACTIVE && memcmp(p->id, k->alias_of, 20) == 0)
                return 1;
    }
    return 0;
}

/* Remember a listening peer so that a lost connection (its restart, ours) is dialled again. */
void known_learn(swarm_t *sw, uint32_t ip, uint16_t port)
{
    if (ip == sw->announce_ip && port == sw->port)
        return;
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port)
            return;
    int i = sw->nknown < SW_MAX_KNOWN ? sw->nknown++ : (int)(ts_mono_ns() % SW_MAX_KNOWN);
    sw->known[i] = (struct known){ .ip = ip, .port = port };
}

/* Dial known peers we are not connected to, backing off from those that do not answer. */
void known_redial(swarm_t *sw, uint64_t now)
{
    for (int i = 0; i < sw->nknown; i++) {
        struct known *k = &sw->known[i];
        int connected = 0, pending = 0;
        for (peer_t *p = sw->peers; p && !connected; p = p->next)
            if (alive(p) && p->addr.sin_addr.s_addr == htonl(k->ip) &&
                (p->listen_port == k->port || (p->outgoing && ntohs(p->addr.sin_port) == k->port))) {
                connected = p->state == PEER_ACTIVE;
                pending = 1;
            }
        if (connected) {
            k->fails = 0;
            k->next_ns = 0;
            continue;
        }
        /* A dial still in its handshake neither proves the address good nor needs another one
         * (resetting the backoff here made a dial that ends as a duplicate repeat every tick); an
         * alias of a connected peer needs none either (redialling it every 16 s was a duplicate
         * connection every 16 s, for ever). */
        if (pending || now < k->next_ns || alias_connected(sw, k->ip, k->port))
            continue;
        k->fails = k->fails < KNOWN_REDIAL_FAILS_MAX ? k->fails + 1 : KNOWN_REDIAL_FAILS_MAX;
        k->next_ns = now + known_redial_delay_ns(k->fails);
        known_connect(sw, k->ip, k->port);
    }
}

void known_connect(swarm_t *sw, uint32_t ip, uint16_t port)
{
    if (ip == sw->announce_ip && port == sw->port)
        return;
    int n = 0;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p))
            continue;
        n++;
        if (p->addr.sin_addr.s_addr == htonl(ip) && (p->addr.sin_port == htons(port) || p->listen_port == port))
            return;
    }
    if (alias_connected(sw, ip, port)) /* a tracker reply or PEX naming it again */
        return;
    uint64_t now = ts_mono_ns();
    /* A peer nobody can dial has only the connections it makes: it dials more (PROTOCOL.md,
     * "Topology"); the peers that accept leave their accept slots to it by dialling few. */
    int target = sw->reach == SW_REACH_NO ? SW_OUT_TARGET_UNREACHABLE : SW_OUT_TARGET;
    if (n >= (sw->max_peers < target ? sw->max_peers : target) || !known_admit(sw, ip, now))
        return;
    for (int i = 0; i < SW_MAX_DROPPED; i++)
        if (sw->dropped[i].ip == ip && sw->dropped[i].until_ns > now)
            return; /* dropped for not delivering: it may come to us, we do not go to it */
    /* From our listening address and port: peers see us where we accept, and a NAT that maps
     * per local endpoint shows every connection of ours at the one external port others know
     * (two such dials crossing are a hole punch: --no-holepunch dials from any port). */
    int pending, from_listen;
    int fd = ts_sock_connect4_from(ip, port, sw->bind_ip, sw->no_holepunch ? 0 : sw->port, &pending, &from_listen);
    if (fd < 0)
        return;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
    peer_new(sw, fd, &a, 1, pending);
}

/* BEP 11 added.f of connected peer q. Connectable only on evidence: our own dial to it was
 * answered (not a punch), or a peer told us so (from its own dial); a peer that dialled us may
 * well be behind a NAT that lets nobody in. */
static uint8_t pex_flags(swarm_t *sw, const peer_t *q)
{
    uint8_t f = q->hp_id ? TS_WIRE_PEX_HOLEPUNCH : 0;
    if (q->outgoing && !q->punch)
        return f | TS_WIRE_PEX_CONNECTABLE;
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ntohl(q->addr.sin_addr.s_addr) && sw->known[i].port == q->listen_port)
            return f | (sw->known[i].flags & TS_WIRE_PEX_CONNECTABLE);
    return f;
}

/* Tell each peer where our other peers listen: 1 s after the handshake, then every 30 s. */
void known_pex_send(swarm_t *sw, uint64_t now)
{
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p) || p->state != PEER_ACTIVE || !p->pex_id)
            continue;
        if (p->pex_ns ? now - p->pex_ns < SW_PEX_NS : now - p->connected_ns < TS_NS_PER_S)
            continue;
        p->pex_ns = now;
        ts_wire_addr_t a[TS_WIRE_PEX_MAX];
        size_t n = 0;
        for (peer_t *q = sw->peers; q && n < TS_WIRE_PEX_MAX; q = q->next)
            if (q != p && alive(q) && q->state == PEER_ACTIVE && q->listen_port)
                a[n++] = (ts_wire_addr_t){ ntohl(q->addr.sin_addr.s_addr), q->listen_port, pex_flags(sw, q) };
        if (n > 0)
            ts_wire_put_pex(&p->out, p->pex_id, a, n);
    }
}

/* ------------------------------------------------------------------ listening */

/* A new connection on the peer port: a peer to be, closed, or -1 to rest the acceptor a moment. */
static int on_accept(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
    swarm_t *sw = arg;
    struct sockaddr_in a;
    if (sa->sa_family != AF_INET || salen < sizeof a) {
        close(fd);
        return 0;
    }
    memcpy(&a, sa, sizeof a);
    /* Whether it is a peer or a tracker client is known only from its first bytes, so the
     * peer limit is applied at the handshake; this bounds sockets that never say anything. */
    int open_conns = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        open_conns += p->fd >= 0;
    uint64_t now = ts_mono_ns();
    uint32_t ip = ntohl(a.sin_addr.s_addr);
    if (open_conns >= sw->max_peers + 64 || !known_admit(sw, ip, now)) {
        close(fd);
        return 0;
    }
    /* A viewer's port serves only peers: the admission budget applies at once, before any
     * memory is spent (the broadcaster's also answers tracker announces, so it waits for the
     * handshake). When the overall budget is spent the listener rests a moment: a flood of
     * connections from many addresses then costs the kernel's backlog, not our CPU. */
    int adm = sw->tracker ? 1 : guard_admit(sw, ip, now);
    if (adm <= 0) {
        close(fd);
        return adm < 0 ? -1 : 0;
    }
    peer_t *p = peer_new(sw, fd, &a, 0, 0);
    if (p)
        p->admitted = !sw->tracker;
    return 0;
}

int known_listen(swarm_t *sw, const char *bind_addr)
{
    char err[256];
    int e;
    uint16_t bound;
    int fd = ts_sock_listen_shared(bind_addr, sw->port, 128, &bound, &e, err, sizeof err); /* our dials share it */
    if (fd < 0) {
        ts_error("%s", err);
        return -1;
    }
    sw->port = bound;
    /* out of descriptors, accept would fail at once and again: the acceptor rests instead */
    sw->acceptor = ts_acceptor_new(sw->loop, fd, ts_topo[TS_TOPO_SWARM].name, on_accept, sw);
    return sw->acceptor ? 0 : -1;
}

