/* Port mapping (portmap.c): at start, the swarm's own address is found (bind address, or the
 * source address of a route towards the tracker); if it is private and --no-port-mapping is not
 * given, the peer port is mapped on the home router with UPnP IGD (libminiupnpc) or, when no IGD
 * answers or it refuses, NAT-PMP (libnatpmp), renewed at half its lease and removed on stop. All
 * of it blocks (SSDP discovery waits seconds, SOAP and NAT-PMP wait for the router), so it runs on a worker
 * thread — the swarm's only one — that reports to the loop through an ev_async; the loop alone
 * touches swarm_t (reach.c records the results, the announce takes the mapped port). */
#ifndef TS_SWARM_PORTMAP_H
#define TS_SWARM_PORTMAP_H
#include "swarm.h"

#ifndef PM_LEASE_S
#define PM_LEASE_S 3600 /* asked of the router; renewed at half of what it grants */
#endif
#define PM_TRIES       16   /* external ports tried (wanted, wanted + 1, ...) when one is taken */
#define PM_DISCOVER_MS 1000 /* SSDP: how long to wait for an IGD to answer, per search (2) */
#define PM_NATPMP_MS   2000 /* one NAT-PMP exchange, retries included */
#define PM_STOP_S      3.0  /* stop waits this long for the mapping's removal (SIGKILL comes at 5 s) */

enum { PM_NONE = 0, PM_UPNP = 1, PM_NATPMP = 2 }; /* sw->c_portmap_via */
const char *portmap_method_name(int method);      /* "UPnP", "NAT-PMP", "none" */

/* Start the worker (it also runs with sw->no_portmap, only to find our address). tracker_url: the
 * announce URL, whose host decides the route, or NULL/"" to use sw->announce_ip. -1 if no thread. */
int portmap_start(swarm_t *sw, const char *tracker_url);
/* Stop the worker: the mapping is removed and the result logged, waiting at most PM_STOP_S; after
 * that the process goes on without it (the router drops the mapping when its lease ends). */
void portmap_stop(swarm_t *sw);
#endif
