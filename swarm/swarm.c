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
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_stage.h"
#include "ts_time.h"
#include "ts_units.h"
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ts-swarm --tstream FILE --out ENDPOINT --port PORT [--in ENDPOINT] [--embedded-tracker]\n"
               "                [--bind ADDR] [--announce-host IP] [--max-peers N] [--max-upload RATE]\n"
               "                [--instance NAME] [--supervisor ENDPOINT] [--curve DIR] [--metrics ADDR:PORT]\n"
               "                [--seeder] [--exit-unready SECONDS]\n"
               "With --in (broadcaster) it serves the signer's pieces to peers; without (viewer) it fetches\n"
               "verified pieces from peers and delivers them in order on --out to the player-bridge.\n"
               "--embedded-tracker answers HTTP announces on the peer port. --max-upload caps what\n"
               "this peer uploads (bits per second, e.g. 4M). --curve DIR: CURVE keys for tcp://\n"
               "endpoints (DIR/swarm.secret, DIR/*.pub; tsctl keygen). --seeder: a helper seeder, no\n"
               "player-bridge is expected (it is ready with one peer).\n"
               "--metrics ADDR:PORT serves /metrics (Prometheus), /livez and /readyz over HTTP on ADDR:PORT\n"
               "(:PORT alone = 127.0.0.1; none without this option; a busy or bad address exits 101).\n"
               "--exit-unready SECONDS: once ready, exit with code %d after SECONDS not ready (for containers,\n"
               "whose restart policy then replaces the process).\n"
               "       ts-swarm --fetch-metainfo MAGNET --tstream FILE [--port PORT] [--timeout SECONDS]\n"
               "fetches the metainfo a magnet link names from its peers (BEP 9), checks it against the\n"
               "link's infohash and writes FILE, then exits (timeout default 30 s).\n",
            TS_EXIT_UNREADY);
}

int main(int argc, char **argv)
{
    const char *tstream = NULL, *in_ep = NULL, *out_ep = NULL, *instance = NULL, *sup = NULL;
    const char *bind_addr = "0.0.0.0", *announce_host = "127.0.0.1", *curve = NULL, *metrics = NULL;
    const char *magnet = NULL;
    double timeout_s = 30;
    int embedded = 0, have_port = 0, seeder = 0, have_announce = 0;
    double exit_unready = 0;
    static swarm_t the_swarm; /* one per process */
    swarm_t *sw = &the_swarm;
    sw->max_peers = SW_MAX_PEERS_DEFAULT;
    static const struct option opts[] = {
        { "tstream", required_argument, 0, 't' },  { "in", required_argument, 0, 'i' },
        { "out", required_argument, 0, 'o' },      { "port", required_argument, 0, 'p' },
        { "bind", required_argument, 0, 'b' },     { "announce-host", required_argument, 0, 'a' },
        { "max-peers", required_argument, 0, 'm' }, { "embedded-tracker", no_argument, 0, 'e' },
        { "instance", required_argument, 0, 'n' }, { "supervisor", required_argument, 0, 's' },
        { "max-upload", required_argument, 0, 'u' }, { "help", no_argument, 0, 'h' },
        { "curve", required_argument, 0, 'C' },      { "seeder", no_argument, 0, 'D' },    { "metrics", required_argument, 0, 'M' },
        { "fetch-metainfo", required_argument, 0, 'F' }, { "timeout", required_argument, 0, 'T' },
        { "exit-unready", required_argument, 0, 'U' },
        { 0, 0, 0, 0 },
    };
    int c;
    uint16_t port;
    char host[64];
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tstream = optarg; break;
        case 'i': in_ep = optarg; break;
        case 'o': out_ep = optarg; break;
        case 'p':
            if (ts_units_hostport(optarg, host, sizeof host, &port) < 0) {
                fprintf(stderr, "ts-swarm: bad --port %s\n", optarg);
                return TS_EXIT_USAGE;
            }
            sw->port = port;
            have_port = 1;
            break;
        case 'b':
            bind_addr = optarg;
            if (!have_announce && strcmp(optarg, "0.0.0.0") != 0)
                announce_host = optarg; /* how others reach us, unless told otherwise */
            break;
        case 'a': announce_host = optarg; have_announce = 1; break;
        case 'm': sw->max_peers = atoi(optarg); break;
        case 'e': embedded = 1; break;
        case 'C': curve = optarg; break;
        case 'D': seeder = 1; break;
        case 'M': metrics = optarg; break;
        case 'F': magnet = optarg; break;
        case 'T': {
            char *end;
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0 && timeout_s <= 86400)) {
                fprintf(stderr, "ts-swarm: bad --timeout %s (seconds, 0 < T <= 86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        }
        case 'U':
            if (ts_stage_unready_arg(optarg, &exit_unready) < 0) {
                fprintf(stderr, "ts-swarm: bad --exit-unready %s (seconds, 1..86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'u': {
            uint64_t bps;
            if (ts_units_rate(optarg, &bps) < 0 || bps < 8000) {
                fprintf(stderr, "ts-swarm: bad --max-upload %s\n", optarg);
                return TS_EXIT_USAGE;
            }
            sw->up_rate = (double)bps / 8;
            break;
        }
        case 'n': instance = optarg; break;
        case 's': sup = optarg; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: usage(stderr); return TS_EXIT_USAGE;
        }
    }
    if (magnet) {
        if (optind != argc || !tstream) {
            usage(stderr);
            return TS_EXIT_USAGE;
        }
        ts_log_init("swarm", instance);
        return metafetch_run(magnet, tstream, sw->port, timeout_s);
    }
    struct in_addr ann, bnd;
    if (optind != argc || !tstream || !out_ep || !have_port || sw->max_peers < 1 ||
        inet_pton(AF_INET, announce_host, &ann) != 1 || inet_pton(AF_INET, bind_addr, &bnd) != 1) {
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    char cerr[512];
    if (ts_curve_missing(curve, cerr, sizeof cerr, in_ep, out_ep, sup, TS_CURVE_END)) {
        fprintf(stderr, "ts-swarm: %s\n", cerr);
        return TS_EXIT_USAGE;
    }
    sw->announce_ip = ntohl(ann.s_addr);
    sw->bind_ip = ntohl(bnd.s_addr);
    sw->is_source = in_ep != NULL;
    sw->seeder = seeder;
    ts_log_init("swarm", instance);
    swarm_cfg_t cfg = { .tstream = tstream, .in_ep = in_ep, .out_ep = out_ep, .bind_addr = bind_addr,
                        .embedded = embedded };
    int code = swarm_load(sw, &cfg);
    if (code != TS_EXIT_OK)
        return code;

    char err[256];
    sw->loop = EV_DEFAULT;
    void *zctx = zmq_ctx_new();
    if (curve && ts_curve_init(zctx, curve, "swarm", err, sizeof err) < 0) {
        ts_error("%s", err);
        return TS_EXIT_CONFIG;
    }
    ts_stage_t *st = ts_stage_new(sw->loop, zctx, "swarm", instance, sup);
    if (!st)
        return TS_EXIT_FAIL;
    if ((code = swarm_open(sw, &cfg, zctx, st)) != TS_EXIT_OK)
        return code;
    ts_stage_exit_unready(st, exit_unready);
    if (metrics && ts_stage_serve(st, metrics, err, sizeof err) < 0) {
        ts_error("--metrics %s: %s", metrics, err);
        code = TS_EXIT_CONFIG;
    } else {
        ts_info("%s on port %u, %llu pieces of %u bytes in the window", sw->is_source ? "broadcasting" : "viewing",
                sw->port, (unsigned long long)sw->n, sw->meta.piece_len);
        ts_stage_ready(st);
        ev_run(sw->loop, 0);
        code = ts_stage_exit_code(st, code);
    }
    swarm_close(sw);
    ts_stage_destroy(&st);
    zmq_ctx_term(zctx);
    ts_curve_fini();
    swarm_free(sw);
    return code;
}
