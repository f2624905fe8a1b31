/* Reachability (reach.c): can peers on the internet connect to us? The evidence — our own address,
 * the "yourip" peers report in their extension handshakes, unsolicited incoming connections, a port
 * mapping — and the decision drawn from it, sw->reach (SW_REACH_*, swarm.h). The classification and
 * the decision are pure functions (tests/unit/test_reach.c); the reach_note_* calls record evidence
 * in sw->reach_ev, set sw->reach / sw->ext_ip and log each change. */
#ifndef TS_SWARM_REACH_H
#define TS_SWARM_REACH_H
#include <stdint.h>

struct swarm;

/* An IPv4 address's kind (host order). PRIVATE: RFC 1918, 100.64/10 (carrier-grade NAT), 169.254/16
 * (link-local): an address a NAT sits in front of. Everything else routable counts as PUBLIC. */
enum { REACH_ADDR_NONE, REACH_ADDR_LOOPBACK, REACH_ADDR_PRIVATE, REACH_ADDR_PUBLIC };
int reach_addr_class(uint32_t ip);

typedef struct {
    uint32_t local_ip;      /* our own address (host order), 0 = not known yet */
    uint32_t agree, differ; /* yourip reports equal to / different from local_ip */
    uint32_t last_differ;   /* the last differing yourip: where NAT shows us */
    int incoming_public;    /* an unsolicited connection arrived from a public address */
    int incoming_private;   /* ... from a private one (a LAN neighbour: proves less) */
    int mapped;             /* a port mapping exists (portmap.c) */
} reach_ev_t;

/* SW_REACH_* from the evidence: MAPPED once mapped; DIRECT when our own address is public and the
 * peers' yourip agrees, or an unsolicited connection came in (from a private address only counts
 * when nothing says we are behind NAT); NO when peers see us at another address than our own and
 * nothing came in; else UNKNOWN. */
int reach_decide(const reach_ev_t *e);
const char *reach_name(int reach); /* "yes (mapped)", "yes (direct)", "no", "unknown" */

/* Evidence, from the loop: */
void reach_note_local(struct swarm *sw, uint32_t local_ip);
void reach_note_yourip(struct swarm *sw, uint32_t peer_ip, uint32_t yourip);
void reach_note_incoming(struct swarm *sw, uint32_t peer_ip); /* counts c_incoming (not loopback) */
/* A mapping made (ext_ip, ext_port; how: "UPnP" / "NAT-PMP") or lost (ext_port 0). */
void reach_note_mapping(struct swarm *sw, uint32_t ext_ip, uint16_t ext_port, const char *how);
#endif
