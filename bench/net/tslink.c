/* ts-netlink: a user-space link emulator for the network testbed (issue 15), in the design of
 * mahimahi's mm-delay / mm-loss / mm-link: this kernel has no netem, so delay, jitter and loss
 * come from here. Each emulated link is a pair of TUN devices living in two network namespaces;
 * every IP packet read from one side is written to the other at its due time:
 *
 *   tun A ──read──> [loss] ─> [rate: drop-tail queue, serialised at R bit/s] ─> [delay ± jitter] ──write──> tun B
 *   tun A <──write── ... the same, with its own rate, for B -> A
 *
 * One process carries every link of a scenario in one libev loop; one timerfd (ns precision, libev's
 * epoll timeout is whole milliseconds) is armed for the earliest due packet of all directions.
 *
 *   ts-netlink [--seed N] [--stats FILE] [--rt PRIO] CONFIG
 *
 * CONFIG has one link per line (blank lines and #-comments ignored):
 *   NAME NS_A DEV_A NS_B DEV_B RATE_AB RATE_BA DELAY_MS JITTER_PCT LOSS_PCT [QUEUE_AB QUEUE_BA]
 * RATE in bit/s (0 = no cap), DELAY_MS one way in each direction, JITTER_PCT ± per packet (of the
 * delay), LOSS_PCT random loss in each direction, QUEUE in bytes (default max(64 KB, 100 ms at the rate)).
 * It prints "ready" on stdout once every TUN exists (the caller then gives them addresses), and
 * the per-link statistics as JSON on SIGUSR1 and at exit (to FILE, or stdout). --rt PRIO runs it
 * SCHED_FIFO: the network must not queue behind the peers it carries when they fill the machine
 * (measured: idle-pair RTT p90 +13 ms at a load average of 9 without it). */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINKS 512
#define PKT_MAX 2048      /* TUN MTU is 1500; no GSO (no IFF_VNET_HDR), so nothing larger comes */
#define READ_BATCH 32     /* packets read from one fd per wake-up, for fairness among links */

typedef struct pkt {
    struct pkt *next;
    int64_t due;          /* ns, CLOCK_MONOTONIC */
    uint32_t len;
    unsigned char data[];
} pkt_t;

typedef struct {
    int64_t rate;         /* bit/s, 0 = unlimited */
    int64_t qlimit;       /* bytes waiting for the serialiser, drop-tail beyond */
    int64_t busy_until;   /* ns: when the serialiser has sent everything accepted so far */
    int64_t last_due;     /* ns: jitter never lets a packet overtake the one before */
    pkt_t *head, *tail;   /* delay line, in due order */
    uint64_t pkts, bytes, qdrops, ldrops, in_pkts, werrs;
    int out_fd;
} dir_t;

typedef struct {
    char name[64];
    double delay_ms, jitter_pct, loss_pct;
    uint64_t rng;
    int fd[2];            /* side A, side B */
    ev_io io[2];
    dir_t dir[2];         /* [0] A->B, [1] B->A */
} link_t;

static link_t links[MAX_LINKS];
static int nlinks;
static int tfd = -1;
static int64_t armed = -1;
static const char *stats_path;
static ev_io tio;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: a seeded per-link stream, so a run's losses and jitter repeat with its seed. */
static double rnd(link_t *l)
{
    l->rng ^= l->rng >> 12;
    l->rng ^= l->rng << 25;
    l->rng ^= l->rng >> 27;
    return (double)((l->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void arm(int64_t due)
{
    if (due == armed)
        return;
    struct itimerspec it = {0};
    if (due >= 0) {
        if (due <= 0)
            due = 1;
        it.it_value.tv_sec = due / 1000000000;
        it.it_value.tv_nsec = due % 1000000000;
    }
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
    armed = due;
}

static int64_t earliest(void)
{
    int64_t e = -1;
    for (int i = 0; i < nlinks; i++)
        for (int d = 0; d < 2; d++)
            if (links[i].dir[d].head && (e < 0 || links[i].dir[d].head->due < e))
                e = links[i].dir[d].head->due;
    return e;
}

/* A packet arrives on one side: lose it, queue it at the rate, or put it on the delay line. */
static void admit(link_t *l, dir_t *d, const unsigned char *buf, size_t len, int64_t now)
{
    d->in_pkts++;
    if (l->loss_pct > 0 && rnd(l) * 100.0 < l->loss_pct) {
        d->ldrops++;
        return;
    }
    int64_t start = d->busy_until > now ? d->busy_until : now;
    if (d->rate > 0) {
        /* bytes still ahead in the serialiser = its backlog in time, at the rate */
        double backlog = (double)(start - now) * (double)d->rate / 8e9;
        if (backlog + (double)len > (double)d->qlimit) {
            d->qdrops++;
            return;
        }
        start += (int64_t)((double)len * 8e9 / (double)d->rate);
        d->busy_until = start;
    }
    double delay = l->delay_ms * 1e6;
    if (l->jitter_pct > 0)
        delay *= 1.0 + l->jitter_pct / 100.0 * (2.0 * rnd(l) - 1.0);
    int64_t due = start + (int64_t)delay;
    if (due < d->last_due)
        due = d->last_due;
    d->last_due = due;
    pkt_t *p = malloc(sizeof(*p) + len);
    if (!p) {
        d->qdrops++;
        return;
    }
    p->next = NULL;
    p->due = due;
    p->len = (uint32_t)len;
    memcpy(p->data, buf, len);
    if (d->tail)
        d->tail->next = p;
    else
        d->head = p;
    d->tail = p;
    if (armed < 0 || due < armed)
        arm(due);
}

static void on_tun(struct ev_loop *loop, ev_io *w, int revents)
{
    link_t *l = w->data;
    int side = w == &l->io[0] ? 0 : 1;
    unsigned char buf[PKT_MAX];
    int64_t now = now_ns();
    for (int i = 0; i < READ_BATCH; i++) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        admit(l, &l->dir[side], buf, (size_t)n, now);
    }
}

/* Release every packet whose time has come (within 20 µs: one wake-up for a burst), re-arm. */
static void on_timer(struct ev_loop *loop, ev_io *w, int revents)
{
    uint64_t exp;
    if (read(tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
        return;
    armed = -1;
    int64_t now = now_ns() + 20000;
    for (int i = 0; i < nlinks; i++)
        for (int k = 0; k < 2; k++) {
            dir_t *d = &links[i].dir[k];
            while (d->head && d->head->due <= now) {
                pkt_t *p = d->head;
                d->head = p->next;
                if (!d->head)
                    d->tail = NULL;
                if (write(d->out_fd, p->data, p->len) == (ssize_t)p->len) {
                    d->pkts++;
                    d->bytes += p->len;
                } else {
                    d->werrs++;    /* the far side's TUN is not up yet, or full */
                }
                free(p);
            }
        }
    arm(earliest());
}

static void dump_stats(void)
{
    char tmp[4096];
    FILE *f = stdout;
    if (stats_path) {
        snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
        if (!(f = fopen(tmp, "w")))
            return;
    }
    fprintf(f, "{\"links\": [");
    for (int i = 0; i < nlinks; i++) {
        link_t *l = &links[i];
        fprintf(f, "%s\n {\"name\": \"%s\"", i ? "," : "", l->name);
        static const char *dn[2] = {"ab", "ba"};
        for (int k = 0; k < 2; k++) {
            dir_t *d = &l->dir[k];
            fprintf(f, ", \"%s\": {\"in_packets\": %llu, \"packets\": %llu, \"bytes\": %llu, "
                    "\"queue_drops\": %llu, \"loss_drops\": %llu, \"write_errors\": %llu, "
                    "\"rate_bps\": %lld, \"queue_bytes\": %lld}",
                    dn[k], (unsigned long long)d->in_pkts, (unsigned long long)d->pkts,
                    (unsigned long long)d->bytes, (unsigned long long)d->qdrops,
                    (unsigned long long)d->ldrops, (unsigned long long)d->werrs, (long long)d->rate, (long long)d->qlimit);
        }
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
    if (stats_path) {
        fclose(f);
        rename(tmp, stats_path);
    } else {
        fflush(f);
    }
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
    dump_stats();
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* A TUN device named DEV inside namespace NS; the fd stays valid after we return to our own. */
static int tun_in(const char *ns, const char *dev, int home)
{
    char path[512];
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "ts-netlink: namespace %s: %s\n", ns, strerror(errno));
        if (nsfd >= 0)
            close(nsfd);
        return -1;
    }
    close(nsfd);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "ts-netlink: tun %s in %s: %s\n", dev, ns, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (setns(home, CLONE_NEWNET) < 0) {
        fprintf(stderr, "ts-netlink: back to our namespace: %s\n", strerror(errno));
        exit(111);
    }
    return fd;
}

/* Drop-tail queue: a home router's buffer. 100 ms at the rate lets one TCP flow fill the link at
 * the RTTs of the scenarios; the 64 KB floor is what even a small router holds (~44 full packets),
 * which at 1 Mbit/s is half a second of bufferbloat, as seen on real slow uplinks. */
static int64_t default_queue(int64_t rate)
{
    int64_t q = rate / 8 / 10;
    return q > 65536 ? q : 65536;
}

static int parse_config(const char *path, uint64_t seed, int home)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ts-netlink: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char name[64], nsa[256], deva[IFNAMSIZ], nsb[256], devb[IFNAMSIZ];
        long long rab, rba, qab = -1, qba = -1;
        double dl, jt, ls;
        int n = sscanf(line, "%63s %255s %15s %255s %15s %lld %lld %lf %lf %lf %lld %lld", name, nsa, deva,
                       nsb, devb, &rab, &rba, &dl, &jt, &ls, &qab, &qba);
        if (n <= 0)
            continue;
        if ((n != 10 && n != 12) || rab < 0 || rba < 0 || dl < 0 || jt < 0 || jt > 100 || ls < 0 || ls > 100) {
            fprintf(stderr, "ts-netlink: %s:%d: bad link line\n", path, lineno);
            goto bad;
        }
        if (nlinks == MAX_LINKS) {
            fprintf(stderr, "ts-netlink: more than %d links\n", MAX_LINKS);
            goto bad;
        }
        link_t *l = &links[nlinks];
        snprintf(l->name, sizeof(l->name), "%s", name);
        l->delay_ms = dl;
        l->jitter_pct = jt;
        l->loss_pct = ls;
        l->rng = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(nlinks + 1) * 0xD1B54A32D192ED03ULL;
        if (!l->rng)
            l->rng = 1;
        l->dir[0].rate = rab;
        l->dir[1].rate = rba;
        l->dir[0].qlimit = qab > 0 ? qab : default_queue(rab);
        l->dir[1].qlimit = qba > 0 ? qba : default_queue(rba);
        if ((l->fd[0] = tun_in(nsa, deva, home)) < 0 || (l->fd[1] = tun_in(nsb, devb, home)) < 0)
            goto bad;
        l->dir[0].out_fd = l->fd[1];
        l->dir[1].out_fd = l->fd[0];
        nlinks++;
    }
    fclose(f);
    return nlinks > 0 ? 0 : -1;
bad:
    fclose(f);
    return -1;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    int i = 1, rt = 0;
    for (; i < argc - 1; i += 2) {
        if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--stats"))
            stats_path = argv[i + 1];
        else if (!strcmp(argv[i], "--rt"))
            rt = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: ts-netlink [--seed N] [--stats FILE] [--rt PRIO] CONFIG\n");
        return 100;
    }
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0 || parse_config(argv[i], seed, home) < 0)
        return 111;
    close(home);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL);   /* release packets within µs, not the default 50 µs slack */
    struct sched_param sp = {.sched_priority = rt};
    if (rt > 0 && sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
        fprintf(stderr, "ts-netlink: SCHED_FIFO %d: %s (running without)\n", rt, strerror(errno));
    struct ev_loop *loop = EV_DEFAULT;
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0)
        return 111;
    ev_io_init(&tio, on_timer, tfd, EV_READ);
    ev_io_start(loop, &tio);
    for (int k = 0; k < nlinks; k++)
        for (int s = 0; s < 2; s++) {
            ev_io_init(&links[k].io[s], on_tun, links[k].fd[s], EV_READ);
            links[k].io[s].data = &links[k];
            ev_io_start(loop, &links[k].io[s]);
        }
    ev_signal usr1, term, intr;
    ev_signal_init(&usr1, on_usr1, SIGUSR1);
    ev_signal_init(&term, on_term, SIGTERM);
    ev_signal_init(&intr, on_term, SIGINT);
    ev_signal_start(loop, &usr1);
    ev_signal_start(loop, &term);
    ev_signal_start(loop, &intr);
    printf("ready %d links\n", nlinks);
    fflush(stdout);
    ev_run(loop, 0);
    dump_stats();
    for (int k = 0; k < nlinks; k++)
        for (int s = 0; s < 2; s++) {
            for (pkt_t *p = links[k].dir[s].head, *q; p; p = q) {
                q = p->next;
                free(p);
            }
            close(links[k].fd[s]);
        }
    close(tfd);
    ev_loop_destroy(loop);
    return 0;
}
