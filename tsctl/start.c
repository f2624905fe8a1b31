/* tsctl start NAME --source SRC ...: create or reuse the broadcast's key and .tstream,
 * then run ingest, signer and swarm under a supervisor until stopped. */
#include "instance.h"
#include "tstream.h"
#include "ts_buf.h"
#include "ts_exit.h"
#include "ts_magnet.h"
#include "ts_metainfo.h"
#include "ts_mpegts.h"
#include "ts_pushurl.h"
#include "ts_sock.h"
#include "ts_stage.h"
#include "ts_topology.h"
#include "ts_time.h"
#include "ts_units.h"
#include "tsctl.h"
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsctl start NAME --source SRC [--bitrate RATE] [--piece-size BYTES] [--window SECONDS]\n"
            "                   [--port PORT] [--tracker URL] [--announce-host HOST] [--max-upload RATE]\n"
            "                   [--state-dir DIR] [--wait-data SECONDS] [--foreground] [--no-port-mapping]\n"
            "                   [--no-holepunch] [--loop] [--metrics ADDR:PORT]\n"
            "Starts broadcast NAME and, once it runs, writes NAME.tstream in the current directory.\n"
            "  --source SRC        a file, pipe:COMMAND, http(s)://URL (files and HTTP are paced),\n"
            "                      testsrc (built-in test pattern, 2 Mbit/s MPEG-TS), or an encoder pushing\n"
            "                      MPEG-TS (live, cut as it comes): srt://:PORT[?passphrase=P&latency=MS]\n"
            "                      (listener), srt://HOST:PORT (caller), udp://@GROUP:PORT[?iface=ADDR],\n"
            "                      udp://[ADDR]:PORT, tcp://[ADDR]:PORT (one encoder connection at a time)\n"
            "  --bitrate RATE      bits per second, suffixes k M G (2M); sizes the window; paces a file\n"
            "                      (without it: by its MPEG-TS PCR, as HTTP always is)\n"
            "  --loop              a file source starts over at its end (else the broadcast's source ends)\n"
            "  --piece-size BYTES  wire piece length incl. the 88-byte trailer (default 16k)\n"
            "  --window SECONDS    how much stream the wrapping piece space spans (default 60)\n"
            "  --port PORT         peer (and embedded tracker) TCP port (default: a free port, kept)\n"
            "  --tracker URL       announce to this tracker instead of the embedded one\n"
            "  --announce-host HOST address or name viewers reach this broadcaster at (default 127.0.0.1);\n"
            "                      a name goes into the tracker URL and must resolve here too\n"
            "  --max-upload RATE   cap on the broadcaster's upload, bits per second (default: none)\n"
            "  --state-dir DIR     key and state directory (default: $XDG_STATE_HOME/tstream/NAME)\n"
            "  --wait-data SECONDS once running, wait this long for the source's first piece (default %d;\n"
            "                      0: do not wait). None: a warning, exit code %d, the broadcast stays up.\n"
            "  --foreground        supervise the stages in this process until SIGTERM, for systemd\n"
            "                      (Type=notify; deploy/systemd); --wait-data does not apply\n"
            "  --no-port-mapping   do not ask the home router (UPnP, NAT-PMP) to forward the peer port\n"
            "  --no-holepunch      take no part in hole punching between peers behind NAT\n"
            "  --metrics ADDR:PORT serve the status page and /metrics (every stage's, one Prometheus\n"
            "                      target) here (default: a loopback port picked once)\n",
            TS_SOURCE_IDLE_WARN_S, TS_EXIT_NODATA);
}

/* Wait until ingest has cut its first piece (it reports it at once), at most secs. 0 if it did. */
static int wait_first_piece(const char *dir, double secs)
{
    uint64_t end = ts_mono_ns() + ts_s_to_ns(secs);
    for (;;) {
        long long pieces;
        if (inst_stage_counter(dir, ts_topo[TS_TOPO_INGEST].name, "pieces_out", &pieces) == 0 && pieces > 0)
            return 0;
        if (ts_mono_ns() >= end)
            return -1;
        struct timespec ts = { 0, 100 * (long)TS_NS_PER_MS };
        nanosleep(&ts, NULL);
    }
}

/* Run argv, capture the first line of its stdout. */
static int run_capture(char *const argv[], char *out, size_t len)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(111);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    out[strcspn(out, "\n")] = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

typedef struct {
    const char *source, *bitrate_s, *piece_s, *tracker, *state_dir, *announce_host, *name;
    double window_s, wait_data;
    uint64_t max_upload, bitrate, piece_len;
    uint16_t port;
    int supervise_here, no_portmap, no_holepunch, repeat;
    char metrics[80], src[PATH_MAX + 8], dir[512], pub[PATH_MAX + 200], ih[41], magnet[2048], announce[512];
} start_t;

#define CONTINUE (-1) /* an option parser's "go on" */

static int parse_opts(start_t *o, int argc, char **argv)
{
    static const struct option opts[] = {
        { "source", required_argument, 0, 's' },     { "bitrate", required_argument, 0, 'b' },
        { "piece-size", required_argument, 0, 'p' }, { "window", required_argument, 0, 'w' },
        { "port", required_argument, 0, 'P' },       { "tracker", required_argument, 0, 't' },
        { "state-dir", required_argument, 0, 'd' },  { "announce-host", required_argument, 0, 'a' },
        { "max-upload", required_argument, 0, 'u' }, { "wait-data", required_argument, 0, 'W' },
        { "foreground", no_argument, 0, 'F' },       { "help", no_argument, 0, 'h' },
        { "no-port-mapping", no_argument, 0, 'N' },  { "no-holepunch", no_argument, 0, 'H' },
        { "loop", no_argument, 0, 'L' },
        { "metrics", required_argument, 0, 'M' },
        { 0, 0, 0, 0 },
    };
    int c;
    char host[64];
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o->source = optarg; break;
        case 'b': o->bitrate_s = optarg; break;
        case 'p': o->piece_s = optarg; break;
        case 'w':
            o->window_s = atof(optarg);
            if (o->window_s < 2 || o->window_s > 86400) {
                fprintf(stderr, "tsctl start: --window must be 2..86400 seconds\n");
                return TS_EXIT_USAGE;
            }
            break;
        case 'P':
            if (ts_units_hostport(optarg, host, sizeof host, &o->port) < 0) {
                fprintf(stderr, "tsctl start: bad --port '%s'\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 't': o->tracker = optarg; break;
        case 'd': o->state_dir = optarg; break;
        case 'a': o->announce_host = optarg; break;
        case 'u':
            if (ts_units_rate(optarg, &o->max_upload) < 0 || o->max_upload < 8000) {
                fprintf(stderr, "tsctl start: bad --max-upload '%s' (e.g. 6M, at least 8k)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'W': {
            char *end;
            o->wait_data = strtod(optarg, &end);
            if (end == optarg || *end || !(o->wait_data >= 0 && o->wait_data <= 3600)) {
                fprintf(stderr, "tsctl start: bad --wait-data '%s' (seconds, 0..3600)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        }
        case 'F': o->supervise_here = 1; break;
        case 'N': o->no_portmap = 1; break;
        case 'H': o->no_holepunch = 1; break;
        case 'L': o->repeat = 1; break;
        case 'M':
            if (inst_metrics_addr(optarg, o->metrics, sizeof o->metrics) < 0) {
                fprintf(stderr, "tsctl start: bad --metrics '%s' (ADDR:PORT, ADDR an IPv4 address)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return tsctl_usage_error("start");
        }
    }
    return CONTINUE;
}

/* NAME, the shared stream options, the source (a file as an absolute path, there now). */
static int check_opts(start_t *o, int argc, char **argv)
{
    if (optind != argc - 1 || !o->source) {
        fprintf(stderr, "tsctl start: %s\n", optind != argc - 1 ? "expected one broadcast NAME" : "--source is required");
        return tsctl_usage_error("start");
    }
    o->name = argv[optind];
    if (!inst_valid_name(o->name)) {
        fprintf(stderr, "tsctl start: bad NAME '%s' (letters, digits, '.', '_', '-'; at most 64)\n", o->name);
        return TS_EXIT_USAGE;
    }
    if (tstream_opts("start", o->bitrate_s, o->piece_s, o->tracker, &o->bitrate, &o->piece_len) < 0)
        return TS_EXIT_USAGE;
    /* The name goes into the tracker URL as written; the swarm needs its address: refuse now what
     * it could not resolve, before anything is written or started. */
    uint32_t ip;
    char err[320];
    if (ts_sock_resolve4(o->announce_host, &ip, err, sizeof err) < 0) {
        int temporary = errno == EAGAIN;
        fprintf(stderr, "tsctl start: %s --announce-host %s (an IPv4 address, or a name this host resolves)\n",
                temporary ? "cannot resolve" : "bad", err);
        return temporary ? TS_EXIT_FAIL : TS_EXIT_USAGE;
    }
    /* Files are read by a stage in the background: give it an absolute path, and fail now if missing. */
    const char *source = o->source;
    snprintf(o->src, sizeof o->src, "%s", source);
    ts_pushurl_t push;
    if (ts_pushurl_kind(source) != TS_PUSH_NONE && ts_pushurl_parse(source, &push, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl start: bad --source %.*s: %s\n", 200, source, err);
        return TS_EXIT_USAGE;
    }
    int file = strcmp(source, "-") != 0 && strcmp(source, "testsrc") != 0 && strncmp(source, "pipe:", 5) != 0 &&
               strncmp(source, "http://", 7) != 0 && strncmp(source, "https://", 8) != 0 &&
               ts_pushurl_kind(source) == TS_PUSH_NONE;
    if (file) {
        if (!realpath(source, o->src)) {
            fprintf(stderr, "tsctl start: source file %s: %s\n", source, strerror(errno));
            return TS_EXIT_CONFIG;
        }
        /* Without --bitrate ingest paces a file by its PCR: only MPEG-TS has one. */
        if (!o->bitrate_s && ts_mpegts_file(o->src) == 0) {
            fprintf(stderr, "tsctl start: %s is not MPEG-TS (no PCR to pace it by): such a file source needs "
                            "--bitrate\n", source);
            return TS_EXIT_USAGE;
        }
    }
    if (o->repeat && !file) {
        fprintf(stderr, "tsctl start: --loop repeats a file source; %s is not a file\n", source);
        return TS_EXIT_USAGE;
    }
    if (strcmp(source, "-") == 0) {
        fprintf(stderr, "tsctl start: --source - (stdin) is not supported: the stages run in the background; give the "
                        "command that writes the stream as --source 'pipe:COMMAND'\n");
        return TS_EXIT_USAGE;
    }
    return CONTINUE;
}

/* The state directory (not running yet) and the peer port: given, kept from before, or free. */
static int prepare_dir(start_t *o)
{
    inst_dir_for(o->name, o->state_dir, o->dir, sizeof o->dir);
    if (inst_mkdirs(o->dir, 0700) < 0) {
        fprintf(stderr, "tsctl start: cannot create %s: %s\n", o->dir, strerror(errno));
        return TS_EXIT_FAIL;
    }
    chmod(o->dir, 0700);
    char ep[600];
    if (inst_endpoint(o->dir, ts_topo[TS_TOPO_SIGNER].out_ipc, ep, sizeof ep) < 0) {
        fprintf(stderr, "tsctl start: state directory %s is too long for unix sockets (max ~95 bytes)\n", o->dir);
        return TS_EXIT_USAGE;
    }
    if (inst_supervisor_pid(o->dir)) {
        fprintf(stderr, "tsctl start: broadcast %s is already running (tsctl stop %s)\n", o->name, o->name);
        return TS_EXIT_FAIL;
    }
    instance_t old;
    if (!o->port && inst_load(&old, o->dir) == 0 && inst_get(&old, "port"))
        o->port = (uint16_t)atoi(inst_get(&old, "port"));
    if (!o->port && !(o->port = inst_free_port())) {
        fprintf(stderr, "tsctl start: no free port\n");
        return TS_EXIT_FAIL;
    }
    return CONTINUE;
}

/* The key and the .tstream outlive a stop: starting again continues the same broadcast. Writes
 * DIR/stream.tstream and NAME.tstream in the current directory; the magnet link. */
static int make_stream(start_t *o)
{
    ts_metainfo_t m;
    char path[700], err[512];
    memset(&m, 0, sizeof m);
    snprintf(path, sizeof path, "%s/stream.tstream", o->dir);
    if (access(path, F_OK) == 0) {
        if (ts_metainfo_load(path, &m, err, sizeof err) < 0) {
            fprintf(stderr, "tsctl start: %s: %s\n", path, err);
            return TS_EXIT_CONFIG;
        }
        if ((o->piece_s && m.piece_len != o->piece_len) || strcmp(m.name, o->name) != 0)
            fprintf(stderr, "tsctl start: continuing the existing broadcast %s (piece size %u); "
                            "remove %s to start a new one\n", m.name, m.piece_len, o->dir);
    } else {
        char signer[600], key[600], hex[2048];
        inst_binary(ts_topo[TS_TOPO_SIGNER].binary, signer, sizeof signer);
        snprintf(key, sizeof key, "%s/key.pem", o->dir);
        char *args[] = { signer, "--init", "--key", key, NULL };
        if (run_capture(args, hex, sizeof hex) < 0 ||
            tstream_create(&m, o->name, hex, (uint32_t)o->piece_len, o->window_s, o->bitrate, err, sizeof err) < 0) {
            fprintf(stderr, "tsctl start: could not create or read the signing key %s\n", key);
            return TS_EXIT_CONFIG;
        }
    }
    m.bitrate = o->bitrate_s ? o->bitrate : (m.bitrate ? m.bitrate : o->bitrate);
    if (o->tracker)
        snprintf(m.announce, sizeof m.announce, "%s", o->tracker);
    else
        snprintf(m.announce, sizeof m.announce, "http://%s:%u/announce", o->announce_host, o->port);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    snprintf(o->pub, sizeof o->pub, "%s/%s.tstream", cwd, o->name);
    int rc = CONTINUE;
    if (ts_metainfo_save(path, &m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl start: %s: %s\n", path, err);
        rc = TS_EXIT_FAIL;
    }
    ts_metainfo_hex(m.infohash, o->ih);
    if (ts_magnet_format(m.infohash, o->name, m.announce, o->magnet, sizeof o->magnet) < 0)
        o->magnet[0] = '\0';
    o->piece_len = m.piece_len;
    snprintf(o->announce, sizeof o->announce, "%s", m.announce);
    ts_metainfo_free(&m);
    return rc;
}

/* NAME.tstream for viewers: only once the broadcast runs, so that a failed start leaves none (the
 * stages read the state directory's copy). */
static int publish(const start_t *o)
{
    ts_metainfo_t m;
    char path[700], err[512];
    snprintf(path, sizeof path, "%s/stream.tstream", o->dir);
    int rc = ts_metainfo_load(path, &m, err, sizeof err);
    if (rc == 0) {
        rc = ts_metainfo_save(o->pub, &m, err, sizeof err);
        ts_metainfo_free(&m);
    }
    if (rc < 0)
        fprintf(stderr, "tsctl start: %s\n", err);
    return rc;
}

static int write_conf(const start_t *o, instance_t *in)
{
    memset(in, 0, sizeof *in);
    snprintf(in->dir, sizeof in->dir, "%s", o->dir);
    inst_set(in, "name", "%s", o->name);
    inst_set(in, "role", "broadcast");
    inst_set(in, "stream", "%s", o->name);
    inst_set(in, "tstream", "%s", o->pub);
    inst_set(in, "infohash", "%s", o->ih);
    inst_set(in, "port", "%u", o->port);
    inst_set(in, "source", "%s", o->src);
    inst_set(in, "bitrate", "%s", o->bitrate_s ? o->bitrate_s : "");
    inst_set(in, "piece_size", "%u", (unsigned)o->piece_len);
    inst_set(in, "tracker", "%s", o->announce);
    inst_set(in, "embedded_tracker", "%d", o->tracker ? 0 : 1);
    inst_set(in, "announce_host", "%s", o->announce_host);
    inst_set(in, "magnet", "%s", o->magnet);
    inst_set(in, "max_upload", "%llu", (unsigned long long)o->max_upload);
    inst_set(in, "no_port_mapping", "%d", o->no_portmap);
    inst_set(in, "no_holepunch", "%d", o->no_holepunch);
    inst_set(in, "loop", "%d", o->repeat);
    if (o->metrics[0])
        inst_set(in, "metrics", "%s", o->metrics);
    if (inst_save(in) < 0) {
        fprintf(stderr, "tsctl start: cannot write %s/instance.conf: %s\n", o->dir, strerror(errno));
        return TS_EXIT_FAIL;
    }
    return CONTINUE;
}

int start_main(int argc, char **argv)
{
    static start_t o; /* PATH_MAX buffers: not on the stack */
    memset(&o, 0, sizeof o);
    o.announce_host = "127.0.0.1";
    o.window_s = 60;
    o.wait_data = TS_SOURCE_IDLE_WARN_S;
    instance_t in;
    int rc = parse_opts(&o, argc, argv);
    if (rc == CONTINUE)
        rc = check_opts(&o, argc, argv);
    if (rc == CONTINUE)
        rc = prepare_dir(&o);
    if (rc == CONTINUE)
        rc = make_stream(&o);
    if (rc == CONTINUE)
        rc = write_conf(&o, &in);
    if (rc != CONTINUE)
        return rc;
    int code;
    char err[512];
    if (o.supervise_here && publish(&o) < 0) /* this process becomes the supervisor */
        return TS_EXIT_FAIL;
    if (inst_spawn_supervisor(o.dir, o.supervise_here, 30, &code, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl start: %s failed to start: %s\n", o.name, err);
        inst_stop(o.dir, 5);
        return code;
    }
    if (publish(&o) < 0) {
        inst_stop(o.dir, 5);
        return TS_EXIT_FAIL;
    }
    inst_register(o.name, o.dir);
    printf("broadcast %s started\n  tstream:  %s\n  infohash: %s\n  tracker:  %s\n  magnet:   %s\n  state:    %s\n",
           o.name, o.pub, o.ih, inst_get(&in, "tracker"), o.magnet, o.dir);
    fflush(stdout);
    /* Ready stages do not mean a stream: a camera not on yet, a command that writes nothing. The
     * broadcast keeps waiting for it (a live source may come later), but the operator hears now. */
    if (o.wait_data > 0 && wait_first_piece(o.dir, o.wait_data) < 0) {
        char shown[TS_PUSHURL_MAX + 32];
        ts_pushurl_redact(o.src, shown, sizeof shown);
        fprintf(stderr,
                "tsctl start: warning: broadcast %s is running, but its source has sent no data in %g s: %s\n"
                "  It keeps waiting for the source; viewers get the stream once data comes.\n"
                "  See `tsctl logs %s ingest`; stop the broadcast with `tsctl stop %s`.\n",
                o.name, o.wait_data, shown, o.name, o.name);
        return TS_EXIT_NODATA;
    }
    return TS_EXIT_OK;
}
