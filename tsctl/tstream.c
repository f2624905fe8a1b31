/* tsctl tstream NAME --pubkey HEX --output FILE ...: write a broadcast's .tstream from the signer's
 * public key alone, for deployments where the private key never leaves the signer's container (the
 * signer prints its public key with `ts-signer --init`; this turns it into the metainfo). */
#include "tstream.h"
#include "instance.h"
#include "ts_err.h"
#include "ts_exit.h"
#include "ts_hex.h"
#include "ts_magnet.h"
#include "ts_piece.h"
#include "ts_units.h"
#include "tsctl.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


int tstream_create(ts_metainfo_t *m, const char *name, const char *pubkey_hex, uint32_t piece_len, double window_s,
                   uint64_t bitrate, char *err, size_t errlen)
{
    size_t n = strlen(pubkey_hex);
    if (n < 2 || n % 2 || n / 2 > TS_PUBKEY_MAX)
        return ts_err(err, errlen, "public key: expected 2 to %u hex digits, got %zu characters",
                       2 * TS_PUBKEY_MAX, n);
    for (size_t i = 0; i < n; i++)
        if (ts_hex_val(pubkey_hex[i]) < 0)
            return ts_err(err, errlen, "public key: '%c' at position %zu is not a hex digit",
                          pubkey_hex[i], i);
    if (!(m->pubkey = malloc(n / 2)))
        return ts_err(err, errlen, "out of memory");
    m->pubkey_len = n / 2;
    for (size_t i = 0; i < m->pubkey_len; i++)
        m->pubkey[i] = (uint8_t)(ts_hex_val(pubkey_hex[2 * i]) << 4 | ts_hex_val(pubkey_hex[2 * i + 1]));
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->authmethod, sizeof m->authmethod, "ECDSA");
    m->piece_len = piece_len;
    double pieces = window_s * ((double)bitrate / 8) / (double)(piece_len - TS_TRAILER_LEN);
    m->npieces = pieces < 64 ? 64 : (uint64_t)pieces + 1;
    return 0;
}

int tstream_opts(const char *cmd, const char *bitrate_s, const char *piece_s, const char *tracker, uint64_t *bitrate,
                 uint64_t *piece_len)
{
    *bitrate = 2000000;
    *piece_len = 16384;
    if (bitrate_s && (ts_units_rate(bitrate_s, bitrate) < 0 || *bitrate < 1000)) {
        fprintf(stderr, "tsctl %s: bad --bitrate '%s' (e.g. 2M, 512k)\n", cmd, bitrate_s);
        return -1;
    }
    if (piece_s && (ts_units_size(piece_s, piece_len) < 0 || *piece_len < 1024 || *piece_len > 1048576)) {
        fprintf(stderr, "tsctl %s: bad --piece-size '%s' (1k..1M)\n", cmd, piece_s);
        return -1;
    }
    if (tracker && strncmp(tracker, "http://", 7) != 0) {
        fprintf(stderr, "tsctl %s: --tracker must be an http:// URL\n", cmd);
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsctl tstream NAME --pubkey HEX --output FILE [--bitrate RATE] [--piece-size BYTES]\n"
            "                     [--window SECONDS] (--port PORT [--announce-host IP] | --tracker URL)\n"
            "Writes FILE, the .tstream of broadcast NAME, from the signer's public key alone (the private\n"
            "key stays with the signer: `ts-signer --init --key KEY` makes it and prints HEX).\n"
            "  --pubkey HEX        the public key as ts-signer --init prints it (DER, hex)\n"
            "  --output FILE       the .tstream to write (replaced atomically, mode 0644). If FILE is already\n"
            "                      the .tstream of NAME for this key, it is kept (same infohash: the broadcast\n"
            "                      continues) and only its tracker and bitrate are updated; if it is another\n"
            "                      broadcast's, nothing is written (exit %d).\n"
            "  --bitrate RATE      bits per second, suffixes k M G (default 2M); sizes the window\n"
            "  --piece-size BYTES  wire piece length incl. the %d-byte trailer (default 16k)\n"
            "  --window SECONDS    how much stream the wrapping piece space spans (default 60)\n"
            "  --port PORT         the broadcaster's peer port, where its swarm's embedded tracker answers\n"
            "  --announce-host IP  the address viewers reach the broadcaster at (default 127.0.0.1)\n"
            "  --tracker URL       an external tracker's http:// announce URL instead\n",
            TS_EXIT_CONFIG, TS_TRAILER_LEN);
}

typedef struct {
    const char *pubkey, *output, *bitrate_s, *piece_s, *tracker, *announce_host, *name;
    double window_s;
    uint16_t port;
    uint64_t bitrate, piece_len;
} tstream_args_t;

#define CONTINUE (-1) /* a step's "go on" */

static int parse_opts(tstream_args_t *o, int argc, char **argv)
{
    static const struct option opts[] = {
        { "pubkey", required_argument, 0, 'k' },     { "output", required_argument, 0, 'o' },
        { "bitrate", required_argument, 0, 'b' },    { "piece-size", required_argument, 0, 'p' },
        { "window", required_argument, 0, 'w' },     { "port", required_argument, 0, 'P' },
        { "announce-host", required_argument, 0, 'a' }, { "tracker", required_argument, 0, 't' },
        { "help", no_argument, 0, 'h' },             { 0, 0, 0, 0 },
    };
    int c;
    char host[64];
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': o->pubkey = optarg; break;
        case 'o': o->output = optarg; break;
        case 'b': o->bitrate_s = optarg; break;
        case 'p': o->piece_s = optarg; break;
        case 'w': {
            char *end;
            o->window_s = strtod(optarg, &end);
            if (end == optarg || *end || !(o->window_s >= 2 && o->window_s <= 86400)) {
                fprintf(stderr, "tsctl tstream: bad --window '%s' (seconds, 2..86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        }
        case 'P':
            if (ts_units_hostport(optarg, host, sizeof host, &o->port) < 0 || o->port == 0) {
                fprintf(stderr, "tsctl tstream: bad --port '%s' (1..65535)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'a': o->announce_host = optarg; break;
        case 't': o->tracker = optarg; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return tsctl_usage_error("tstream");
        }
    }
    return CONTINUE;
}

static int check_opts(tstream_args_t *o, int argc, char **argv)
{
    const char *problem = optind != argc - 1         ? "expected one broadcast NAME"
                          : !o->pubkey               ? "--pubkey is required"
                          : !o->output               ? "--output is required"
                          : !o->tracker && !o->port  ? "--port (the embedded tracker's) or --tracker is required"
                          : o->tracker && o->port    ? "--tracker and --port exclude each other"
                                                     : NULL;
    if (problem) {
        fprintf(stderr, "tsctl tstream: %s\n", problem);
        return tsctl_usage_error("tstream");
    }
    o->name = argv[optind];
    if (!inst_valid_name(o->name)) {
        fprintf(stderr, "tsctl tstream: bad NAME '%s' (letters, digits, '.', '_', '-'; at most 64)\n", o->name);
        return TS_EXIT_USAGE;
    }
    if (tstream_opts("tstream", o->bitrate_s, o->piece_s, o->tracker, &o->bitrate, &o->piece_len) < 0)
        return TS_EXIT_USAGE;
    return CONTINUE;
}

/* A restarted signer container runs this again: the same broadcast must keep its infohash. So m
 * is --output as it is if it is this broadcast (same name and key), else fresh. */
static int keep_or_fresh(const tstream_args_t *o, ts_metainfo_t *m, ts_metainfo_t *fresh)
{
    char err[512];
    if (access(o->output, F_OK) != 0) {
        *m = *fresh;
        return CONTINUE;
    }
    int rc = CONTINUE;
    if (ts_metainfo_load(o->output, m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl tstream: %s: %s (remove it to start a new broadcast)\n", o->output, err);
        ts_metainfo_free(fresh);
        return TS_EXIT_CONFIG;
    }
    if (strcmp(m->name, o->name) != 0 || m->pubkey_len != fresh->pubkey_len ||
        memcmp(m->pubkey, fresh->pubkey, m->pubkey_len) != 0) {
        if (strcmp(m->name, o->name) != 0)
            fprintf(stderr, "tsctl tstream: %s is broadcast %s, not %s: left as it is\n", o->output, m->name, o->name);
        else
            fprintf(stderr, "tsctl tstream: %s is broadcast %s signed by another key: left as it is (remove it "
                            "to start a new broadcast with this key)\n", o->output, o->name);
        ts_metainfo_free(m);
        rc = TS_EXIT_CONFIG;
    } else if ((o->piece_s && m->piece_len != o->piece_len) || fresh->npieces != m->npieces)
        fprintf(stderr, "tsctl tstream: continuing the existing broadcast %s (piece size %u, %llu pieces); "
                        "remove %s to start a new one\n",
                m->name, m->piece_len, (unsigned long long)m->npieces, o->output);
    ts_metainfo_free(fresh);
    return rc;
}

int tstream_main(int argc, char **argv)
{
    tstream_args_t o = { .announce_host = "127.0.0.1", .window_s = 60 };
    int rc = parse_opts(&o, argc, argv);
    if (rc == CONTINUE)
        rc = check_opts(&o, argc, argv);
    if (rc != CONTINUE)
        return rc;
    ts_metainfo_t m, fresh;
    memset(&m, 0, sizeof m);
    memset(&fresh, 0, sizeof fresh);
    char err[512];
    if (tstream_create(&fresh, o.name, o.pubkey, (uint32_t)o.piece_len, o.window_s, o.bitrate, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl tstream: --pubkey: %s\n", err);
        return TS_EXIT_CONFIG;
    }
    if ((rc = keep_or_fresh(&o, &m, &fresh)) != CONTINUE)
        return rc;
    if (o.bitrate_s || !m.bitrate)
        m.bitrate = o.bitrate;
    if (o.tracker)
        snprintf(m.announce, sizeof m.announce, "%s", o.tracker);
    else
        snprintf(m.announce, sizeof m.announce, "http://%s:%u/announce", o.announce_host, o.port);
    if (ts_metainfo_save(o.output, &m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl tstream: %s\n", err);
        ts_metainfo_free(&m);
        /* encode checks the fields before anything is written: "metainfo: …" is a bad option value */
        return strstr(err, "metainfo:") ? TS_EXIT_USAGE : TS_EXIT_FAIL;
    }
    char ih[41], magnet[2048];
    ts_metainfo_hex(m.infohash, ih);
    if (ts_magnet_format(m.infohash, m.name, m.announce, magnet, sizeof magnet) < 0)
        magnet[0] = '\0';
    printf("tstream:  %s\ninfohash: %s\ntracker:  %s\nmagnet:   %s\n", o.output, ih, m.announce, magnet);
    ts_metainfo_free(&m);
    return TS_EXIT_OK;
}
