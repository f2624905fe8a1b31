/* swarm: speaks the BitTorrent peer wire protocol for one live stream.
 *
 *   broadcaster:  signer --[inlink]--> swarm <== peers        (+ embedded tracker on the same port)
 *   viewer:       peers ==> swarm --[outlink]--> player-bridge
 *
 * Every piece from a peer is verified (signature, index, window) before it is stored,
 * announced, forwarded or delivered. Delivery to the bridge is in sequence order; a piece
 * that stays missing for SW_SKIP_NS while later ones are here is skipped. */
#include "metafetch.h"
#include "run.h"
#include "ts_curve.h"
#include "ts_err.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_sock.h"
#include "ts_stage.h"
#include "ts_units.h"
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ts-swarm --tstream FILE --out ENDPOINT --port PORT [--in ENDPOINT] [--embedded-tracker]\n"
               "                [--bind ADDR] [--announce-host HOST] [--max-peers N] [--max-upload RATE]\n"
               "                [--instance NAME] [--supervisor ENDPOINT] [--curve DIR] [--metrics ADDR:PORT]\n"
               "                [--seeder] [--exit-unready SECONDS] [--no-port-mapping] [--no-holepunch]\n"
               "With --in (broadcaster) it serves the signer's pieces to peers; without (viewer) it fetches\n"
               "verified pieces from peers and delivers them in order on --out to the player-bridge.\n"
               "--embedded-tracker answers HTTP announces on the peer port. --max-upload caps what\n"
               "this peer uploads (bits per second, e.g. 4M). --curve DIR: CURVE keys for tcp://\n"
               "endpoints (DIR/swarm.secret, DIR/*.pub; tsctl keygen). --seeder: a helper seeder, no\n"
               "player-bridge is expected (it is ready with one peer).\n"
               "--no-port-mapping: do not ask the home router (UPnP IGD, NAT-PMP) to forward the peer port\n"
               "(tried by default when our address is private). --no-holepunch: do not take part in hole\n"
               "punching (BEP 55 ut_holepunch) between peers that cannot accept connections.\n"
               "--metrics ADDR:PORT serves /metrics (Prometheus), /livez and /readyz over HTTP on ADDR:PORT\n"
               "(:PORT alone = 127.0.0.1; none without this option; a busy or bad address exits 101).\n"
               "--exit-unready SECONDS: once ready, exit with code %d after SECONDS not ready (for containers,\n"
               "whose restart policy then replaces the process).\n"
               "       ts-swarm --fetch-metainfo MAGNET --tstream FILE [--port PORT] [--timeout SECONDS]\n"
               "fetches the metainfo a magnet link names from its peers (BEP 9), checks it against the\n"
               "link's infohash and writes FILE, then exits (timeout default 30 s).\n",
            TS_EXIT_UNREADY);
}

/* The swarm's own options into sw and o, the shared ones into so. -1 to go on, else the exit
 * code (for --help 0, else a usage error, already said). */
typedef struct {
    swarm_cfg_t cfg;
    const char *announce_host, *magnet;
    double timeout_s;
    int have_port, have_announce;
} opts_t;

static int options(int argc, char **argv, swarm_t *sw, opts_t *o, ts_stage_opts_t *so)
{
    static const struct option opts[] = {
        { "tstream", required_argument, 0, 't' },  { "in", required_argument, 0, 'i' },
        { "out", required_argument, 0, 'o' },      { "port", required_argument, 0, 'p' },
        { "bind", required_argument, 0, 'b' },     { "announce-host", required_argument, 0, 'a' },
        { "max-peers", required_argument, 0, 'm' }, { "embedded-tracker", no_argument, 0, 'e' },
        { "max-upload", required_argument, 0, 'u' }, { "help", no_argument, 0, 'h' },
        { "seeder", no_argument, 0, 'D' },           { "fetch-metainfo", required_argument, 0, 'F' },
        { "timeout", required_argument, 0, 'T' },    { "no-port-mapping", no_argument, 0, 'N' },
        { "no-holepunch", no_argument, 0, 'H' },     TS_STAGE_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    int c;
    uint16_t port;
    uint64_t bps;
    char host[64], err[256], *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': o->cfg.tstream = optarg; break;
        case 'i': o->cfg.in_ep = optarg; break;
        case 'o': o->cfg.out_ep = optarg; break;
        case 'p':
            if (ts_units_hostport(optarg, host, sizeof host, &port) < 0) {
                fprintf(stderr, "ts-swarm: bad --port %s\n", optarg);
                return TS_EXIT_USAGE;
            }
            sw->port = port;
            o->have_port = 1;
            break;
        case 'b':
            o->cfg.bind_addr = optarg;
            if (!o->have_announce && strcmp(optarg, "0.0.0.0") != 0)
                o->announce_host = optarg; /* how others reach us, unless told otherwise */
            break;
        case 'a': o->announce_host = optarg; o->have_announce = 1; break;
        case 'm': sw->max_peers = atoi(optarg); break;
        case 'e': o->cfg.embedded = 1; break;
        case 'D': sw->seeder = 1; break;
        case 'N': sw->no_portmap = 1; break;
        case 'H': sw->no_holepunch = 1; break;
        case 'F': o->magnet = optarg; break;
        case 'T':
            o->timeout_s = strtod(optarg, &end);
            if (*end || !(o->timeout_s > 0 && o->timeout_s <= 86400)) {
                fprintf(stderr, "ts-swarm: bad --timeout %s (seconds, 0 < T <= 86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'u':
            if (ts_units_rate(optarg, &bps) < 0 || bps < 8000) {
                fprintf(stderr, "ts-swarm: bad --max-upload %s\n", optarg);
                return TS_EXIT_USAGE;
            }
            sw->up_rate = (double)bps / 8;
            break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default:
            switch (ts_stage_opt(so, c, optarg, err, sizeof err)) {
            case 1: break;
            case -1: fprintf(stderr, "ts-swarm: %s\n", err); return TS_EXIT_USAGE;
            default: usage(stderr); return TS_EXIT_USAGE;
            }
        }
    }
    return -1;
}

/* A viewer's or broadcaster's required options; the bind and announce addresses (host order).
 * 0, or the exit code with what is wrong in err: a usage error, or a failure for a name DNS did
 * not answer for (a restart may find it). */
static int check_args(const swarm_t *sw, const opts_t *o, int extra, uint32_t *bnd, uint32_t *ann, char *err,
                      size_t errlen)
{
    char rerr[300];
    struct in_addr b;
    const char *need = !o->cfg.tstream ? "tstream" : !o->cfg.out_ep ? "out" : !o->have_port ? "port" : NULL;
    if (extra || need || sw->max_peers < 1) {
        if (need && !extra)
            ts_err(err, errlen, "--%s is required", need);
        else
            ts_err(err, errlen, "%s", extra ? "unexpected argument" : "--max-peers must be at least 1");
        return TS_EXIT_USAGE;
    }
    if (inet_pton(AF_INET, o->cfg.bind_addr, &b) != 1) {
        ts_err(err, errlen, "bad --bind %s (an IPv4 address)", o->cfg.bind_addr);
        return TS_EXIT_USAGE;
    }
    *bnd = ntohl(b.s_addr);
    if (ts_sock_resolve4(o->announce_host, ann, rerr, sizeof rerr) < 0) {
        int code = errno == EAGAIN ? TS_EXIT_FAIL : TS_EXIT_USAGE;
        ts_err(err, errlen, "%s --announce-host %s", code == TS_EXIT_FAIL ? "cannot resolve" : "bad", rerr);
        return code;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static swarm_t the_swarm; /* one per process */
    swarm_t *sw = &the_swarm;
    sw->max_peers = SW_MAX_PEERS_DEFAULT;
    opts_t o = { .cfg.bind_addr = "0.0.0.0", .announce_host = "127.0.0.1", .timeout_s = 30 };
    ts_stage_opts_t so = { 0 };
    int code = options(argc, argv, sw, &o, &so);
    if (code >= 0)
        return code;
    const ts_topo_stage_t *me = &ts_topo[TS_TOPO_SWARM];
    if (o.magnet) {
        if (optind != argc || !o.cfg.tstream) {
            fprintf(stderr, "ts-swarm: --fetch-metainfo needs --tstream FILE%s\n",
                    optind != argc ? " and no other argument" : "");
            usage(stderr);
            return TS_EXIT_USAGE;
        }
        ts_log_init(me->name, so.instance);
        return metafetch_run(o.magnet, o.cfg.tstream, sw->port, o.timeout_s);
    }
    uint32_t bnd = 0, ann = 0;
    char bad[320];
    if ((code = check_args(sw, &o, optind != argc, &bnd, &ann, bad, sizeof bad)) != 0) {
        fprintf(stderr, "ts-swarm: %s\n", bad); /* first, on one line: a supervisor reports it */
        if (code == TS_EXIT_USAGE)
            usage(stderr);
        return code;
    }
    char cerr[512];
    if (ts_curve_missing(so.curve, cerr, sizeof cerr, o.cfg.in_ep, o.cfg.out_ep, so.supervisor, TS_CURVE_END)) {
        fprintf(stderr, "ts-swarm: %s\n", cerr);
        return TS_EXIT_USAGE;
    }
    sw->announce_ip = ann;
    sw->bind_ip = bnd;
    sw->is_source = o.cfg.in_ep != NULL;

    ts_stage_t *st = ts_stage_boot(TS_TOPO_SWARM, &so, &code);
    if (!st)
        return code;
    sw->loop = ts_stage_loop(st);
    if ((code = swarm_load(sw, &o.cfg)) == TS_EXIT_OK &&
        (code = swarm_open(sw, &o.cfg, ts_stage_zctx(st), st)) == TS_EXIT_OK) {
        ts_info("%s on port %u, %llu pieces of %u bytes in the window", sw->is_source ? "broadcasting" : "viewing",
                sw->port, (unsigned long long)sw->n, sw->meta.piece_len);
        code = ts_stage_run(st, TS_EXIT_OK);
    }
    swarm_close(sw);
    code = ts_stage_end(&st, code);
    swarm_free(sw);
    return code;
}
