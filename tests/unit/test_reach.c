/* Reachability (swarm/reach.c): which addresses count as behind NAT, and what a peer concludes
 * about whether others can connect to it from its own address, the "yourip" peers report,
 * incoming connections and a port mapping — as `tsctl status` then shows it. */
#include "check.h"
#include "reach.h"
#include "swarm.h"
#include "ts_log.h"
#include <string.h>

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

int main(void)
{
    ts_log_level(TS_LOG_ERROR);
    /* Addresses a NAT sits in front of: RFC 1918, carrier-grade NAT, link-local. */
    CHECK(reach_addr_class(IP(10, 1, 2, 3)) == REACH_ADDR_PRIVATE, "10/8");
    CHECK(reach_addr_class(IP(172, 16, 0, 1)) == REACH_ADDR_PRIVATE, "172.16/12 low end");
    CHECK(reach_addr_class(IP(172, 31, 255, 1)) == REACH_ADDR_PRIVATE, "172.16/12 high end");
    CHECK(reach_addr_class(IP(172, 32, 0, 1)) == REACH_ADDR_PUBLIC, "172.32 is public");
    CHECK(reach_addr_class(IP(172, 15, 0, 1)) == REACH_ADDR_PUBLIC, "172.15 is public");
    CHECK(reach_addr_class(IP(192, 168, 1, 2)) == REACH_ADDR_PRIVATE, "192.168/16");
    CHECK(reach_addr_class(IP(192, 169, 1, 2)) == REACH_ADDR_PUBLIC, "192.169 is public");
    CHECK(reach_addr_class(IP(100, 64, 0, 1)) == REACH_ADDR_PRIVATE, "100.64/10 low end (CGN)");
    CHECK(reach_addr_class(IP(100, 127, 255, 254)) == REACH_ADDR_PRIVATE, "100.64/10 high end");
    CHECK(reach_addr_class(IP(100, 128, 0, 1)) == REACH_ADDR_PUBLIC, "100.128 is public");
    CHECK(reach_addr_class(IP(169, 254, 3, 4)) == REACH_ADDR_PRIVATE, "link-local");
    CHECK(reach_addr_class(IP(127, 0, 0, 1)) == REACH_ADDR_LOOPBACK, "loopback");
    CHECK(reach_addr_class(IP(127, 0, 0, 2)) == REACH_ADDR_LOOPBACK, "127/8");
    CHECK(reach_addr_class(0) == REACH_ADDR_NONE, "0.0.0.0");
    CHECK(reach_addr_class(IP(11, 0, 0, 1)) == REACH_ADDR_PUBLIC, "the testbed's internet");

    /* The decision from evidence. */
    reach_ev_t e = { 0 };
    CHECK(reach_decide(&e) == SW_REACH_UNKNOWN, "no evidence: unknown");
    e.local_ip = IP(11, 0, 0, 5);
    CHECK(reach_decide(&e) == SW_REACH_UNKNOWN, "a public address alone proves nothing (a firewall)");
    e.agree = 1;
    CHECK(reach_decide(&e) == SW_REACH_DIRECT, "public, and peers see us there: direct");
    e = (reach_ev_t){ .local_ip = IP(192, 168, 1, 2), .agree = 0, .differ = 1, .last_differ = IP(11, 0, 1, 1) };
    CHECK(reach_decide(&e) == SW_REACH_NO, "peers see another address: behind NAT, not reachable");
    e.mapped = 1;
    CHECK(reach_decide(&e) == SW_REACH_MAPPED, "a mapping makes it reachable");
    e.mapped = 0;
    e.incoming_private = 1;
    CHECK(reach_decide(&e) == SW_REACH_NO, "behind NAT, a LAN neighbour's connection proves nothing");
    e.incoming_public = 1;
    CHECK(reach_decide(&e) == SW_REACH_DIRECT, "a connection from the internet: direct (a forwarded port)");
    e = (reach_ev_t){ .local_ip = IP(10, 0, 0, 2), .incoming_private = 1 };
    CHECK(reach_decide(&e) == SW_REACH_DIRECT, "a private network without NAT evidence: its peers reach us");
    e = (reach_ev_t){ .local_ip = IP(11, 0, 0, 5), .agree = 3, .differ = 1 };
    CHECK(reach_decide(&e) == SW_REACH_DIRECT, "one liar does not outvote three honest peers");
    e = (reach_ev_t){ .local_ip = IP(11, 0, 0, 5), .agree = 1, .differ = 2 };
    CHECK(reach_decide(&e) == SW_REACH_NO, "most peers see another address: NAT");

    /* Through the swarm: evidence as dispatch.c and portmap.c record it. */
    static swarm_t sw;
    sw.port = 6881;
    reach_note_local(&sw, IP(192, 168, 1, 2));
    CHECK(sw.reach == SW_REACH_UNKNOWN, "a private address alone: unknown");
    reach_note_yourip(&sw, IP(127, 0, 0, 1), IP(127, 0, 0, 1));
    reach_note_yourip(&sw, IP(192, 168, 1, 7), IP(192, 168, 1, 2));
    CHECK(sw.reach == SW_REACH_UNKNOWN, "peers on this host or the LAN say nothing about the internet");
    reach_note_yourip(&sw, IP(11, 0, 0, 1), IP(11, 0, 1, 1));
    CHECK(sw.reach == SW_REACH_NO && sw.ext_ip == IP(11, 0, 1, 1), "a public peer sees us at the router: no");
    reach_note_incoming(&sw, IP(127, 0, 0, 1));
    CHECK(sw.c_incoming == 0, "loopback connections are not counted");
    reach_note_mapping(&sw, IP(11, 0, 1, 1), 40001, "UPnP");
    CHECK(sw.reach == SW_REACH_MAPPED && sw.ext_ip == IP(11, 0, 1, 1) && sw.ext_port == 40001 &&
              sw.c_ext_port == 40001 && sw.c_ext_ip == IP(11, 0, 1, 1),
          "mapped: reachable at the mapped address");
    reach_note_incoming(&sw, IP(11, 0, 0, 9));
    CHECK(sw.c_incoming == 1 && sw.reach == SW_REACH_MAPPED, "an incoming connection through the mapping");
    reach_note_mapping(&sw, 0, 0, "UPnP");
    CHECK(sw.reach == SW_REACH_DIRECT && sw.ext_port == 0, "mapping gone, but the internet did connect: direct");
    CHECK(sw.ext_ip == IP(11, 0, 1, 1), "unmapped: ext_ip is where peers see us");
    static swarm_t pub;
    reach_note_local(&pub, IP(11, 0, 0, 5));
    reach_note_yourip(&pub, IP(11, 0, 0, 1), IP(11, 0, 0, 5));
    CHECK(pub.reach == SW_REACH_DIRECT && pub.ext_ip == IP(11, 0, 0, 5), "a public peer seen where it is: direct");
    CHECK(strcmp(reach_name(SW_REACH_NO), "no") == 0, "names");
    CHECK_DONE();
}
