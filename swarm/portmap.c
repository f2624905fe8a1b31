/* Port mapping on the home router: UPnP IGD, else NAT-PMP, on a worker thread.
 *
 * Why a thread: upnpDiscover waits PM_DISCOVER_MS for SSDP answers, the IGD's SOAP calls and the
 * NAT-PMP exchanges block on the router, and getaddrinfo blocks on DNS; none of that may stall
 * the loop that serves peers. The thread shares nothing with the loop but struct portmap (under
 * its mutex): it posts events, the loop applies them to swarm_t on an ev_async. It blocks every
 * signal, so SIGTERM keeps reaching the loop (libev may read signals through a signalfd that
 * only a blocked mask makes work).
 *
 * Why UPnP first, then NAT-PMP, one after the other: routers that speak both (miniupnpd does) need
 * one mapping only, and UPnP shows whether a port is already someone else's (we then try the
 * next); NAT-PMP, where the router chooses the port, covers Apple-style routers without an IGD.
 * Trying them in parallel would save at most PM_DISCOVER_MS once at start, and leave two
 * mappings to renew and remove. */
#include "portmap.h"
#include "announce.h"
#include "reach.h"
#include "tracker.h"
#include "ts_log.h"
#include "ts_time.h"
#include "ts_url.h"
#include <arpa/inet.h>
#include <errno.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <natpmp.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define PM_EVENTS  16
#define PM_RETRY_S 60 /* a failed renewal is tried again this much later */

enum { EV_LOCAL, EV_MAPPED, EV_RENEWED, EV_FAILED, EV_LOST, EV_REMOVED };

typedef struct {
    int kind, method;
    uint32_t ip;    /* EV_LOCAL: our address; EV_MAPPED: the external one */
    uint16_t port;  /* external port */
    uint32_t lease; /* seconds granted, 0 = permanent */
    char why[200];
} pm_event_t;

struct portmap {
    /* set before the thread starts, read-only after */
    struct ev_loop *loop;
    char host[256]; /* towards which our own address is found */
    uint32_t fallback_ip, bind_ip;
    uint16_t port; /* our peer port */
    int no_map;
    pthread_t thread;
    ev_async async;
    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop (to the worker), done (to portmap_stop) */
    int stop, done;
    pm_event_t ev[PM_EVENTS];
    int nev;
    /* the worker's own */
    int method;
    uint16_t ext_port;
    uint32_t lease;
    struct UPNPUrls urls;
    struct IGDdatas igd;
    char lan[64];
    natpmp_t np;
};

const char *portmap_method_name(int method)
{
    return method == PM_UPNP ? "UPnP" : method == PM_NATPMP ? "NAT-PMP" : "none";
}

static const char *ip_str(uint32_t ip, char *s, size_t len)
{
    struct in_addr a = { htonl(ip) };
    return inet_ntop(AF_INET, &a, s, (socklen_t)len) ? s : "?";
}

/* ------------------------------------------------------------------ worker side */

static void post(struct portmap *pm, int kind, uint32_t ip, uint32_t lease, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void post(struct portmap *pm, int kind, uint32_t ip, uint32_t lease, const char *fmt, ...)
{
    pthread_mutex_lock(&pm->mu);
    if (pm->nev < PM_EVENTS) {
        pm_event_t *e = &pm->ev[pm->nev++];
        *e = (pm_event_t){ .kind = kind, .method = pm->method, .ip = ip, .port = pm->ext_port, .lease = lease };
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->why, sizeof e->why, fmt, ap);
        va_end(ap);
    }
    /* Once stopping, the loop may be gone: portmap_stop reads the events itself. */
    if (!pm->stop)
        ev_async_send(pm->loop, &pm->async);
    pthread_mutex_unlock(&pm->mu);
}

static int stopping(struct portmap *pm)
{
    pthread_mutex_lock(&pm->mu);
    int s = pm->stop;
    pthread_mutex_unlock(&pm->mu);
    return s;
}

/* Sleep until secs from now or stop. 1 if stopped. */
static int wait_or_stop(struct portmap *pm, double secs)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t ns = (uint64_t)t.tv_nsec + ts_s_to_ns(secs);
    t.tv_sec += (time_t)(ns / TS_NS_PER_S);
    t.tv_nsec = (long)(ns % TS_NS_PER_S);
    pthread_mutex_lock(&pm->mu);
    while (!pm->stop && pthread_cond_timedwait(&pm->cv, &pm->mu, &t) != ETIMEDOUT)
        ;
    int s = pm->stop;
    pthread_mutex_unlock(&pm->mu);
    return s;
}

/* Our address on the route towards host (a UDP socket's connect sends nothing). 0 if unknown. */
static uint32_t local_towards(const char *host, uint32_t fallback_ip)
{
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(fallback_ip) };
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *res = NULL;
    if (host[0] && getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
        to.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }
    if (!to.sin_addr.s_addr)
        return 0;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    uint32_t ip = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof to) == 0 &&
        getsockname(fd, (struct sockaddr *)&me, &len) == 0)
        ip = ntohl(me.sin_addr.s_addr);
    if (fd >= 0)
        close(fd);
    return ip;
}

/* --- UPnP IGD */

static int upnp_add(struct portmap *pm, uint16_t ext, char *why, size_t whylen)
{
    char e[8], in[8], lease[16];
    snprintf(e, sizeof e, "%u", ext);
    snprintf(in, sizeof in, "%u", pm->port);
    snprintf(lease, sizeof lease, "%u", PM_LEASE_S);
    const char *ctl = pm->urls.controlURL, *svc = pm->igd.first.servicetype;
    int rc = UPNP_AddPortMapping(ctl, svc, e, in, pm->lan, "tstream", "TCP", NULL, lease);
    pm->lease = PM_LEASE_S;
    if (rc == 725) { /* OnlyPermanentLeasesSupported: an old IGD; renewing then does no harm */
        rc = UPNP_AddPortMapping(ctl, svc, e, in, pm->lan, "tstream", "TCP", NULL, "0");
        pm->lease = 0;
    }
    if (rc != UPNPCOMMAND_SUCCESS)
        snprintf(why, whylen, "AddPortMapping %u: %d %s", ext, rc, strupnperror(rc));
    return rc;
}

/* Is external port ext mapped to someone else (another host, or another port of ours)? */
static int upnp_taken(struct portmap *pm, uint16_t ext)
{
    char e[8], client[64] = "", iport[8] = "", desc[80], enabled[4], lease[16];
    snprintf(e, sizeof e, "%u", ext);
    if (UPNP_GetSpecificPortMappingEntry(pm->urls.controlURL, pm->igd.first.servicetype, e, "TCP", NULL, client, iport,
                                         desc, enabled, lease) != UPNPCOMMAND_SUCCESS)
        return 0;
    return strcmp(client, pm->lan) != 0 || atoi(iport) != pm->port;
}

/* 1 mapped (pm->ext_port, *ext_ip), 0 no IGD found, -1 an IGD refused (why). */
static int upnp_map(struct portmap *pm, uint32_t local, uint32_t *ext_ip, char *why, size_t whylen)
{
    char mif[INET_ADDRSTRLEN], ext[40] = "";
    int err = 0;
    /* upnpDiscover asks for four device types in turn, waiting the full delay for each that no
     * one answers (8 s before NAT-PMP got its turn): two types, the second catching any IGD. */
    static const char *const types[] = { "urn:schemas-upnp-org:device:InternetGatewayDevice:1", "upnp:rootdevice",
                                         NULL };
    struct UPNPDev *devs = upnpDiscoverDevices(types, PM_DISCOVER_MS, ip_str(local, mif, sizeof mif), NULL,
                                               UPNP_LOCAL_PORT_ANY, 0, 2, &err, 0);
    if (!devs)
        return 0;
    int igd = UPNP_GetValidIGD(devs, &pm->urls, &pm->igd, pm->lan, sizeof pm->lan);
    freeUPNPDevlist(devs);
    if (igd != 1 && igd != 2) { /* 2: it says its WAN is down; it may still map */
        if (igd)
            FreeUPNPUrls(&pm->urls);
        return 0;
    }
    struct in_addr a;
    if (UPNP_GetExternalIPAddress(pm->urls.controlURL, pm->igd.first.servicetype, ext) != UPNPCOMMAND_SUCCESS ||
        inet_pton(AF_INET, ext, &a) != 1) {
        snprintf(why, whylen, "UPnP IGD at %s gave no external address", pm->urls.controlURL);
        FreeUPNPUrls(&pm->urls);
        return -1;
    }
    *ext_ip = ntohl(a.s_addr);
    for (int i = 0; i < PM_TRIES && !stopping(pm); i++) {
        uint16_t port = (uint16_t)(pm->port + i) ? (uint16_t)(pm->port + i) : 1024;
        if (upnp_taken(pm, port))
            continue;
        int rc = upnp_add(pm, port, why, whylen);
        if (rc == UPNPCOMMAND_SUCCESS) {
            pm->ext_port = port;
            pm->method = PM_UPNP;
            return 1;
        }
        if (rc != 718) /* ConflictInMappingEntry: the next port; anything else will not change */
            break;
    }
    if (!why[0])
        snprintf(why, whylen, "UPnP: external ports %u-%u all taken", pm->port, pm->port + PM_TRIES - 1);
    FreeUPNPUrls(&pm->urls);
    return -1;
}

static int upnp_unmap(struct portmap *pm)
{
    char e[8];
    snprintf(e, sizeof e, "%u", pm->ext_port);
    int rc = UPNP_DeletePortMapping(pm->urls.controlURL, pm->igd.first.servicetype, e, "TCP", NULL);
    return rc == UPNPCOMMAND_SUCCESS ? 0 : rc;
}

/* --- NAT-PMP */

/* One request's answer, retries included (libnatpmp resends at 250 ms, 500 ms, ...), within ms. */
static int natpmp_answer(struct portmap *pm, natpmpresp_t *r, int ms)
{
    uint64_t end = ts_mono_ns() + (uint64_t)ms * TS_NS_PER_MS;
    int rc;
    do {
        struct timeval tv;
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(pm->np.s, &fds);
        if (getnatpmprequesttimeout(&pm->np, &tv) < 0)
            tv = (struct timeval){ 0, 250000 };
        uint64_t now = ts_mono_ns(), left = now < end ? end - now : 0;
        if ((uint64_t)tv.tv_sec * TS_NS_PER_S + (uint64_t)tv.tv_usec * 1000 > left)
            tv = (struct timeval){ (time_t)(left / TS_NS_PER_S), (suseconds_t)(left % TS_NS_PER_S / 1000) };
        if (tv.tv_sec < 0 || tv.tv_usec < 0)
            tv = (struct timeval){ 0, 0 };
        select(pm->np.s + 1, &fds, NULL, NULL, &tv);
        rc = readnatpmpresponseorretry(&pm->np, r);
    } while (rc == NATPMP_TRYAGAIN && ts_mono_ns() < end);
    return rc;
}

/* Map (or renew) our port; 0 with pm->ext_port and pm->lease, else the libnatpmp error. */
static int natpmp_request(struct portmap *pm, uint16_t want, uint32_t lifetime)
{
    natpmpresp_t r;
    if (sendnewportmappingrequest(&pm->np, NATPMP_PROTOCOL_TCP, pm->port, want, lifetime) < 0)
        return NATPMP_ERR_SENDERR;
    int rc = natpmp_answer(pm, &r, PM_NATPMP_MS);
    if (rc == 0 && r.type == NATPMP_RESPTYPE_TCPPORTMAPPING) {
        pm->ext_port = r.pnu.newportmapping.mappedpublicport;
        pm->lease = r.pnu.newportmapping.lifetime;
    }
    return rc;
}

/* 1 mapped, 0 no NAT-PMP gateway answered, -1 it refused (why). */
static int natpmp_map(struct portmap *pm, uint32_t *ext_ip, char *why, size_t whylen)
{
    natpmpresp_t r;
    if (initnatpmp(&pm->np, 0, 0) < 0)
        return 0;
    if (sendpublicaddressrequest(&pm->np) < 0 || natpmp_answer(pm, &r, PM_NATPMP_MS) != 0 ||
        r.type != NATPMP_RESPTYPE_PUBLICADDRESS) {
        closenatpmp(&pm->np);
        return 0;
    }
    *ext_ip = ntohl(r.pnu.publicaddress.addr.s_addr);
    int rc = natpmp_request(pm, pm->port, PM_LEASE_S);
    if (rc == 0 && pm->ext_port) { /* the gateway picks another port if ours is taken */
        pm->method = PM_NATPMP;
        return 1;
    }
    snprintf(why, whylen, "NAT-PMP mapping refused: error %d", rc);
    closenatpmp(&pm->np);
    return -1;
}

static void *worker(void *arg)
{
    struct portmap *pm = arg;
    char why[160] = "", a[INET_ADDRSTRLEN];
    uint32_t local = pm->bind_ip ? pm->bind_ip : local_towards(pm->host, pm->fallback_ip), ext_ip = 0;
    post(pm, EV_LOCAL, local, 0, "our address %s", ip_str(local, a, sizeof a));
    if (pm->no_map || reach_addr_class(local) != REACH_ADDR_PRIVATE)
        goto done;
    uint64_t t0 = ts_mono_ns();
    int rc = upnp_map(pm, local, &ext_ip, why, sizeof why);
    if (rc <= 0 && !stopping(pm)) { /* no IGD, or one that refused: NAT-PMP may still do */
        char why2[160] = "";
        int rc2 = natpmp_map(pm, &ext_ip, why2, sizeof why2);
        if (rc2 != 0) { /* a NAT-PMP gateway answered: its outcome counts */
            rc = rc2;
            memcpy(why, why2, sizeof why);
        }
    }
    double took = ts_ns_to_s(ts_mono_ns() - t0);
    if (rc <= 0) {
        post(pm, EV_FAILED, 0, 0, "%s (after %.1f s)", rc == 0 ? "no UPnP IGD or NAT-PMP gateway answered" : why, took);
        goto done;
    }
    post(pm, EV_MAPPED, ext_ip, pm->lease, "found and mapped in %.1f s", took);
    /* Renew at half the lease; a failed renewal is retried; past the lease the mapping is lost. */
    uint64_t expires = pm->lease ? ts_mono_ns() + (uint64_t)pm->lease * TS_NS_PER_S : UINT64_MAX;
    double next = (pm->lease ? pm->lease : PM_LEASE_S) / 2.0;
    while (!wait_or_stop(pm, next)) {
        uint16_t before = pm->ext_port;
        why[0] = 0;
        rc = pm->method == PM_UPNP ? upnp_add(pm, pm->ext_port, why, sizeof why)
                                   : natpmp_request(pm, pm->ext_port, PM_LEASE_S);
        if (rc == 0 && pm->ext_port == before) {
            expires = pm->lease ? ts_mono_ns() + (uint64_t)pm->lease * TS_NS_PER_S : UINT64_MAX;
            next = (pm->lease ? pm->lease : PM_LEASE_S) / 2.0;
            post(pm, EV_RENEWED, ext_ip, pm->lease, "renewed");
            continue;
        }
        if (rc == 0) { /* NAT-PMP moved us to another external port */
            post(pm, EV_MAPPED, ext_ip, pm->lease, "the gateway moved the mapping from port %u", before);
            continue;
        }
        post(pm, EV_FAILED, 0, 0, "renewal failed: %s", why[0] ? why : "no answer from the gateway");
        next = PM_RETRY_S;
        if (ts_mono_ns() >= expires) {
            post(pm, EV_LOST, ext_ip, 0, "the lease ended unrenewed");
            goto release;
        }
    }
    /* Stopping: remove it, bounded by miniupnpc's socket timeouts or PM_NATPMP_MS. */
    uint16_t mapped = pm->ext_port; /* a NAT-PMP answer to the removal says port 0 */
    rc = pm->method == PM_UPNP ? upnp_unmap(pm) : natpmp_request(pm, 0, 0);
    pm->ext_port = mapped;
    if (rc == 0)
        post(pm, EV_REMOVED, ext_ip, 0, "removed on stop");
    else
        post(pm, EV_FAILED, ext_ip, 0, "removal failed: error %d", rc);
release:
    if (pm->method == PM_UPNP)
        FreeUPNPUrls(&pm->urls);
    else
        closenatpmp(&pm->np);
done:
    pthread_mutex_lock(&pm->mu);
    pm->done = 1;
    pthread_cond_broadcast(&pm->cv);
    pthread_mutex_unlock(&pm->mu);
    return NULL;
}

/* ------------------------------------------------------------------ loop side */

static void apply(swarm_t *sw, const pm_event_t *e)
{
    char a[INET_ADDRSTRLEN], l[INET_ADDRSTRLEN];
    const char *how = portmap_method_name(e->method);
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "method", "%s", how);
    switch (e->kind) {
    case EV_LOCAL: reach_note_local(sw, e->ip); return;
    case EV_MAPPED:
    case EV_RENEWED:
        sw->c_portmap_ok++;
        sw->c_portmap_via = (uint64_t)e->method;
        ts_log_field(&f, "external", "%s:%u", ip_str(e->ip, a, sizeof a), e->port);
        ts_log_kv(TS_LOG_INFO, &f, "port mapping %s: %s maps %s:%u to %s:%u, lease %u s (%s)",
                  e->kind == EV_MAPPED ? "made" : "renewed", how, a, e->port,
                  ip_str(sw->reach_ev.local_ip, l, sizeof l), sw->port, e->lease, e->why);
        if (e->kind == EV_MAPPED) {
            reach_note_mapping(sw, e->ip, e->port, how);
            announce_set_port(sw->ann, e->port); /* the tracker hands out the mapped port */
            if (sw->tracker)                     /* a broadcaster at home: its embedded tracker lists the mapping too */
                ts_tracker_add(sw->tracker, sw->meta.infohash, (ts_peer_addr_t){ e->ip, e->port }, ts_mono_ns());
        }
        return;
    case EV_FAILED:
        sw->c_portmap_fail++;
        ts_log_kv(TS_LOG_WARN, &f, "port mapping failed: %s", e->why);
        return;
    case EV_LOST:
    case EV_REMOVED:
        ts_log_kv(e->kind == EV_LOST ? TS_LOG_WARN : TS_LOG_INFO, &f, "port mapping %s: %s:%u (%s)",
                  e->kind == EV_LOST ? "lost" : "removed", ip_str(e->ip, a, sizeof a), e->port, e->why);
        sw->c_portmap_via = PM_NONE;
        reach_note_mapping(sw, 0, 0, how);
        if (e->kind == EV_LOST)
            announce_set_port(sw->ann, sw->port);
        return;
    }
}

/* Apply what the worker posted, in order. */
static void drain(swarm_t *sw)
{
    struct portmap *pm = sw->pm;
    pm_event_t ev[PM_EVENTS];
    pthread_mutex_lock(&pm->mu);
    int n = pm->nev;
    memcpy(ev, pm->ev, (size_t)n * sizeof *ev);
    pm->nev = 0;
    pthread_mutex_unlock(&pm->mu);
    for (int i = 0; i < n; i++)
        apply(sw, &ev[i]);
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents) { drain(w->data); }

int portmap_start(swarm_t *sw, const char *tracker_url)
{
    struct portmap *pm = calloc(1, sizeof *pm);
    if (!pm)
        return -1;
    ts_url_t u;
    if (tracker_url && tracker_url[0] && ts_url_split(tracker_url, &u, NULL, 0) == 0)
        snprintf(pm->host, sizeof pm->host, "%s", u.host);
    pm->loop = sw->loop;
    pm->fallback_ip = sw->announce_ip;
    pm->bind_ip = sw->bind_ip;
    pm->port = sw->port;
    pm->no_map = sw->no_portmap;
    pthread_mutex_init(&pm->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pm->cv, &ca);
    pthread_condattr_destroy(&ca);
    ev_async_init(&pm->async, on_async);
    pm->async.data = sw;
    ev_async_start(sw->loop, &pm->async);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&pm->thread, NULL, worker, pm);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ts_warn("port mapping: no thread: %s", strerror(rc));
        ev_async_stop(sw->loop, &pm->async);
        pthread_cond_destroy(&pm->cv);
        pthread_mutex_destroy(&pm->mu);
        free(pm);
        return -1;
    }
    sw->pm = pm;
    return 0;
}

void portmap_stop(swarm_t *sw)
{
    struct portmap *pm = sw->pm;
    if (!pm)
        return;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t ns = (uint64_t)t.tv_nsec + ts_s_to_ns(PM_STOP_S);
    t.tv_sec += (time_t)(ns / TS_NS_PER_S);
    t.tv_nsec = (long)(ns % TS_NS_PER_S);
    pthread_mutex_lock(&pm->mu);
    pm->stop = 1; /* from now on the worker does not touch the loop */
    pthread_cond_broadcast(&pm->cv);
    pthread_mutex_unlock(&pm->mu);
    ev_async_stop(sw->loop, &pm->async);
    pthread_mutex_lock(&pm->mu);
    while (!pm->done && pthread_cond_timedwait(&pm->cv, &pm->mu, &t) != ETIMEDOUT)
        ;
    int done = pm->done;
    pthread_mutex_unlock(&pm->mu);
    sw->pm = NULL;
    if (!done) {
        /* Still discovering or talking to a silent router: leave it; exit ends it. */
        ts_warn("port mapping: the router did not answer within %.0f s of stopping; a mapping made expires "
                "with its lease",
                PM_STOP_S);
        pthread_detach(pm->thread);
        return;
    }
    pthread_join(pm->thread, NULL);
    sw->pm = pm; /* drain reads it */
    drain(sw);
    sw->pm = NULL;
    pthread_cond_destroy(&pm->cv);
    pthread_mutex_destroy(&pm->mu);
    free(pm);
}
