/* Reachability: the evidence of whether others can connect to us, and the decision. */
#include "reach.h"
#include "swarm.h"
#include "ts_log.h"
#include <arpa/inet.h>
#include <stdio.h>

int reach_addr_class(uint32_t ip)
{
    if (ip == 0)
        return REACH_ADDR_NONE;
    if ((ip >> 24) == 127)
        return REACH_ADDR_LOOPBACK;
    if ((ip >> 24) == 10 || (ip >> 20) == (172u << 4 | 1) || (ip >> 16) == (192u << 8 | 168) ||
        (ip >> 22) == (100u << 2 | 1) || (ip >> 16) == (169u << 8 | 254))
        return REACH_ADDR_PRIVATE;
    return REACH_ADDR_PUBLIC;
}

int reach_decide(const reach_ev_t *e)
{
    if (e->mapped)
        return SW_REACH_MAPPED;
    int behind_nat = e->differ > e->agree; /* a liar or two cannot outvote the rest */
    if (e->incoming_public || (e->incoming_private && !behind_nat))
        return SW_REACH_DIRECT;
    if (reach_addr_class(e->local_ip) == REACH_ADDR_PUBLIC && e->agree > 0 && !behind_nat)
        return SW_REACH_DIRECT;
    if (behind_nat)
        return SW_REACH_NO;
    return SW_REACH_UNKNOWN;
}

const char *reach_name(int reach)
{
    switch (reach) {
    case SW_REACH_MAPPED: return "yes (mapped)";
    case SW_REACH_DIRECT: return "yes (direct)";
    case SW_REACH_NO: return "no";
    default: return "unknown";
    }
}

static const char *ip_str(uint32_t ip, char *s, size_t len)
{
    struct in_addr a = { htonl(ip) };
    return inet_ntop(AF_INET, &a, s, (socklen_t)len) ? s : "?";
}

/* Decide again; log a change with what led to it. */
static void update(swarm_t *sw, const char *why)
{
    const reach_ev_t *e = &sw->reach_ev;
    int r = reach_decide(e);
    if (!e->mapped) /* where most peers see us */
        sw->ext_ip = e->differ > e->agree ? e->last_differ : e->agree ? e->local_ip : 0;
    sw->c_ext_ip = sw->ext_ip;
    sw->c_ext_port = sw->ext_port;
    if ((uint64_t)r == sw->reach)
        return;
    sw->reach = (uint64_t)r;
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "reachable", "%s", reach_name(r));
    ts_log_kv(TS_LOG_INFO, &f, "reachable: %s; %s", reach_name(r), why);
}

void reach_note_local(swarm_t *sw, uint32_t local_ip)
{
    char a[INET_ADDRSTRLEN], why[96];
    sw->reach_ev.local_ip = local_ip;
    snprintf(why, sizeof why, "our address is %s", ip_str(local_ip, a, sizeof a));
    update(sw, why);
}

void reach_note_yourip(swarm_t *sw, uint32_t peer_ip, uint32_t yourip)
{
    char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], why[128];
    /* A peer on this host or our LAN sees our local address: it says nothing about the internet. */
    if (!sw->reach_ev.local_ip || reach_addr_class(peer_ip) != REACH_ADDR_PUBLIC ||
        reach_addr_class(yourip) == REACH_ADDR_LOOPBACK || reach_addr_class(yourip) == REACH_ADDR_NONE)
        return;
    if (yourip == sw->reach_ev.local_ip)
        sw->reach_ev.agree++;
    else {
        sw->reach_ev.differ++;
        sw->reach_ev.last_differ = yourip;
    }
    snprintf(why, sizeof why, "peer %s sees us at %s", ip_str(peer_ip, a, sizeof a), ip_str(yourip, b, sizeof b));
    update(sw, why);
}

void reach_note_incoming(swarm_t *sw, uint32_t peer_ip)
{
    char a[INET_ADDRSTRLEN], why[96];
    int c = reach_addr_class(peer_ip);
    if (c == REACH_ADDR_LOOPBACK || c == REACH_ADDR_NONE)
        return;
    sw->c_incoming++;
    sw->reach_ev.incoming_public |= c == REACH_ADDR_PUBLIC;
    sw->reach_ev.incoming_private |= c == REACH_ADDR_PRIVATE;
    snprintf(why, sizeof why, "peer %s connected to us", ip_str(peer_ip, a, sizeof a));
    update(sw, why);
}

void reach_note_mapping(swarm_t *sw, uint32_t ext_ip, uint16_t ext_port, const char *how)
{
    char a[INET_ADDRSTRLEN], why[96];
    sw->reach_ev.mapped = ext_port != 0;
    if (ext_port)
        sw->ext_ip = ext_ip;
    sw->ext_port = ext_port;
    if (ext_port)
        snprintf(why, sizeof why, "%s maps %s:%u to our port %u", how, ip_str(ext_ip, a, sizeof a), ext_port, sw->port);
    else
        snprintf(why, sizeof why, "%s mapping gone", how);
    update(sw, why);
}
