/* tsctl watch FILE.tstream: join the broadcast's swarm and serve it to players over HTTP,
 * with a swarm and a player-bridge under a supervisor. `--output -` stays in the
 * foreground and copies the stream to stdout (for `| mpv -`).
 * tsctl seed FILE.tstream: the same swarm without a player, to add upload capacity. */
#include "instance.h"
#include "ts_exit.h"
#include "ts_http.h"
#include "ts_magnet.h"
#include "ts_metainfo.h"
#include "ts_sock.h"
#include "ts_time.h"
#include "ts_topology.h"
#include "ts_units.h"
#include "tsctl.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(FILE *f, int seed)
{
    if (seed) {
        fprintf(f, "usage: tsctl seed FILE.tstream|MAGNET [--port PORT] [--bind IP] [--max-upload RATE] [--name NAME]\n"
                   "                  [--state-dir DIR] [--foreground] [--no-port-mapping] [--no-holepunch]\n"
                   "                  [--metrics ADDR:PORT]\n"
                   "Runs a helper seeder: a swarm that fetches, verifies and re-serves the broadcast without a\n"
                   "player, adding upload capacity (run it on machines with spare upload).\n"
                   "  --port PORT        peer TCP port (default: a free port)\n"
                   "  --bind IP          listen for and dial peers from this local address only\n"
                   "  --max-upload RATE  cap on upload, bits per second (2M, 512k; default: none)\n"
                   "  --name NAME        instance name (default STREAM-seedN)\n"
                   "  --foreground       supervise the swarm in this process until SIGTERM (systemd)\n"
                   "  --no-port-mapping  do not ask the home router (UPnP, NAT-PMP) to forward the peer port\n"
                   "  --no-holepunch     take no part in hole punching between peers behind NAT\n"
                   "  --metrics ADDR:PORT  serve the status page and /metrics (one Prometheus target)\n"
                   "                     here (default: a loopback port picked once)\n");
        return;
    }
    fprintf(f, "usage: tsctl watch FILE.tstream|MAGNET [--http ADDR:PORT] [--output FILE|-] [--play] [--port PORT]\n"
               "                   [--bind IP] [--name NAME] [--max-upload RATE] [--stats FILE] [--state-dir DIR] [--foreground]\n"
               "                   [--no-port-mapping] [--no-holepunch] [--metrics ADDR:PORT] [--dvr DURATION]\n"
               "Joins the broadcast and prints the URL a player opens (VLC, mpv, ffplay, a browser).\n"
               "A magnet link (magnet:?xt=urn:btih:...&tr=...) fetches the metainfo from the broadcast's\n"
               "peers first (BEP 9) and checks it against the infohash.\n"
               "  --http ADDR:PORT   where players connect (default 127.0.0.1 and a free port)\n"
               "  --output FILE      also write the verified stream to FILE; '-' streams it to stdout\n"
               "                     in the foreground and stops the viewer when stdout closes\n"
               "  --play             start the first of mpv, vlc or ffplay found on PATH with the URL,\n"
               "                     in the foreground; the viewer stops when the player exits\n"
               "  --port PORT        peer TCP port (default: a free port)\n"
               "  --bind IP          listen for and dial peers from this local address only (peers and\n"
               "                     the tracker see the viewer at IP)\n"
               "  --name NAME        instance name (default STREAM-viewN)\n"
               "  --max-upload RATE  cap on this viewer's upload, bits per second (default: none)\n"
               "  --stats FILE       append one line per piece handed to the player (benchmarks)\n"
               "  --dvr DURATION     keep DURATION (90, 30m, 2h; at most 6h) of the stream on disk for\n"
               "                     the HLS playlist (NAME.m3u8), to pause and seek back\n"
               "  --foreground       supervise the stages in this process until SIGTERM (systemd)\n"
               "  --no-port-mapping  do not ask the home router (UPnP, NAT-PMP) to forward the peer port\n"
               "                     (by default tried when this host's address is private)\n"
               "  --no-holepunch     take no part in hole punching between peers behind NAT\n"
               "  --metrics ADDR:PORT  serve the status page and /metrics (one Prometheus target)\n"
               "                     here (default: a loopback port picked once)\n");
}

#define RELAY_MAX_FAILURES 50   /* connections to the bridge in a row that brought nothing */
#define RELAY_RETRY_US (200 * TS_US_PER_MS)
#define RELAY_CONNECT_MS 2000  /* the bridge is local: a connect this slow has failed */

static volatile sig_atomic_t stop_flag;
static void on_stop_signal(int sig) { stop_flag = sig; }

/* A blocking socket connected to ip:port (lib/ts_sock.h's connect, waited for), or -1. */
static int dial(uint32_t ip, uint16_t port)
{
    int pending, fd = ts_sock_connect4(ip, port, 0, &pending);
    if (fd < 0)
        return -1;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    if (pending && (poll(&p, 1, RELAY_CONNECT_MS) != 1 || ts_sock_connected(fd) < 0)) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* the relay waits on the bridge */
    return fd;
}

/* Copy the answer's body (after a head lib/ts_http.h parses) to stdout. 1 if stdout closed (the
 * player went away), -1 on a write error, 0 when the connection ends. */
static int copy_body(int fd, int *failures)
{
    static uint8_t buf[65536];
    size_t hdr = 0;
    int in_body = 0;
    ssize_t r;
    while (!stop_flag && (r = read(fd, buf + (in_body ? 0 : hdr), in_body ? sizeof buf : sizeof buf - hdr)) > 0) {
        size_t off = 0, len = (size_t)r;
        if (!in_body) {
            hdr += (size_t)r;
            ts_http_resp_t head;
            int st = ts_http_resp_parse(buf, hdr, &head);
            if (st == TS_HTTP_BAD || (st == TS_HTTP_PARTIAL && hdr >= sizeof buf))
                break;
            if (st == TS_HTTP_PARTIAL)
                continue;
            in_body = 1;
            off = head.head_len;
            len = hdr - off;
        }
        while (len > 0) {
            ssize_t w = write(1, buf + off, len);
            if (w <= 0)
                return errno == EPIPE ? 1 : -1;
            off += (size_t)w;
            len -= (size_t)w;
        }
        *failures = 0;
    }
    return 0;
}

/* Foreground copy of the player URL to stdout; reconnects if the bridge restarts. */
static int relay(const char *addr, uint16_t port, const char *path)
{
    struct sigaction sa = { .sa_handler = on_stop_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct in_addr ia = { 0 };
    inet_pton(AF_INET, addr, &ia);
    int failures = 0;
    while (!stop_flag && failures < RELAY_MAX_FAILURES) {
        int fd = dial(ntohl(ia.s_addr), port);
        if (fd < 0) {
            failures++;
            usleep(RELAY_RETRY_US);
            continue;
        }
        char req[512];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n\r\n", path, addr, port);
        if (write(fd, req, (size_t)n) != n) {
            close(fd);
            failures++;
            continue;
        }
        int rc = copy_body(fd, &failures);
        close(fd);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
        failures++;
        usleep(RELAY_RETRY_US);
    }
    return 0;
}

/* The players --play knows, in order of preference: each takes the URL as its one argument. */
static const char *players[] = { "mpv", "vlc", "ffplay" };

/* Full path of the first player on PATH, or -1. */
static int find_player(char *out, size_t len)
{
    const char *path = getenv("PATH");
    for (size_t i = 0; i < sizeof players / sizeof *players; i++) {
        const char *p = path && *path ? path : "/usr/bin:/bin";
        while (*p) {
            const char *end = strchr(p, ':');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            if (n > 0 && snprintf(out, len, "%.*s/%s", (int)n, p, players[i]) < (int)len && access(out, X_OK) == 0)
                return 0;
            p += n + (end ? 1 : 0);
        }
    }
    return -1;
}

/* Run the player in the foreground until it ends. ^C at the terminal reaches it too (same process
 * group); SIGTERM or SIGHUP to us goes on to it as SIGTERM. Closing it is no failure, however it
 * exits then (mpv exits 4 on ^C, ffplay 123): 0 if it exited 0 or was closed by one of these
 * signals, else its exit status (128 + signal if another killed it). The handlers stay: the caller
 * stops the viewer next, and a second ^C must not cut that short. */
static int play(const char *player, const char *url)
{
    struct sigaction sa = { .sa_handler = on_stop_signal }; /* exec resets them in the child */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    stop_flag = 0;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(player, player, url, (char *)NULL);
        fprintf(stderr, "tsctl watch: cannot run %s: %s\n", player, strerror(errno));
        _exit(127);
    }
    int st = 0, passed_on = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
        if (stop_flag && stop_flag != SIGINT && !passed_on++) /* ^C: the terminal told it already */
            kill(pid, SIGTERM);
    }
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    if ((WIFEXITED(st) && WEXITSTATUS(st) == 0) || stop_flag || sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
        return 0;
    return sig ? 128 + sig : WEXITSTATUS(st);
}

/* A magnet link: ts-swarm fetches the metainfo from the link's peers and checks it against the
 * infohash (BEP 9); it lands in the state root as magnet-INFOHASH.tstream. */
static int fetch_magnet(const char *link, uint16_t port, char *out, size_t outlen, int seed)
{
    const char *cmd = seed ? "seed" : "watch";
    ts_magnet_t mag;
    char err[256], root[512], swarm[600], ih[41], portarg[8];
    if (ts_magnet_parse(link, &mag, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl %s: %s\n", cmd, err);
        return TS_EXIT_USAGE;
    }
    ts_metainfo_hex(mag.infohash, ih);
    inst_root(root, sizeof root);
    if (inst_mkdirs(root, 0700) < 0) {
        fprintf(stderr, "tsctl %s: cannot create %s: %s\n", cmd, root, strerror(errno));
        return TS_EXIT_FAIL;
    }
    snprintf(out, outlen, "%s/magnet-%s.tstream", root, ih);
    snprintf(portarg, sizeof portarg, "%u", port);
    inst_binary(ts_topo[TS_TOPO_SWARM].binary, swarm, sizeof swarm);
    fprintf(stderr, "tsctl %s: fetching the metainfo of %s from its peers\n", cmd, ih);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tsctl %s: fork: %s\n", cmd, strerror(errno));
        return TS_EXIT_FAIL;
    }
    if (pid == 0) {
        execl(swarm, swarm, "--fetch-metainfo", link, "--tstream", out, "--port", portarg, (char *)NULL);
        fprintf(stderr, "tsctl %s: cannot run %s: %s\n", cmd, swarm, strerror(errno));
        _exit(TS_EXIT_FAIL);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : TS_EXIT_FAIL;
    if (rc != TS_EXIT_OK) {
        fprintf(stderr, "tsctl %s: could not get the metainfo for the magnet link (see above)\n", cmd);
        return rc;
    }
    printf("metainfo of %s fetched from peers and checked against the infohash: %s\n", ih, out);
    return TS_EXIT_OK;
}

typedef struct {
    int seed, play_it, supervise_here, foreground; /* foreground: --output - */
    int no_portmap, no_holepunch;
    const char *http, *output, *name, *state_dir, *stats, *bind_ip, *file, *dvr;
    uint64_t max_upload;
    uint16_t port, http_port;
    char http_addr[64], metrics[80], player[PATH_MAX], fetched[PATH_MAX], autoname[160], outabs[PATH_MAX];
} viewer_t;

#define CONTINUE (-1) /* an option parser's "go on" */

static int parse_opts(viewer_t *v, int argc, char **argv)
{
    char host[64];
    static const struct option opts[] = {
        { "http", required_argument, 0, 'H' }, { "output", required_argument, 0, 'o' },
        { "port", required_argument, 0, 'p' }, { "name", required_argument, 0, 'n' },
        { "state-dir", required_argument, 0, 'd' }, { "help", no_argument, 0, 'h' },
        { "max-upload", required_argument, 0, 'u' }, { "stats", required_argument, 0, 'S' },
        { "play", no_argument, 0, 'P' },       { "foreground", no_argument, 0, 'F' },
        { "bind", required_argument, 0, 'b' },  { "no-port-mapping", no_argument, 0, 'N' },
        { "no-holepunch", no_argument, 0, 'O' }, { "metrics", required_argument, 0, 'M' },
        { "dvr", required_argument, 0, 'D' },
        { 0, 0, 0, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            v->http = optarg;
            if (ts_units_hostport(optarg, v->http_addr, sizeof v->http_addr, &v->http_port) < 0) {
                fprintf(stderr, "tsctl watch: bad --http '%s' (ADDR:PORT)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'o': v->output = optarg; break;
        case 'p':
            if (ts_units_hostport(optarg, host, sizeof host, &v->port) < 0) {
                fprintf(stderr, "tsctl watch: bad --port '%s'\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'n': v->name = optarg; break;
        case 'd': v->state_dir = optarg; break;
        case 'S': v->stats = optarg; break;
        case 'D': {
            uint64_t us;
            if (ts_units_duration(optarg, &us) < 0 || !us || us > 6 * 3600 * TS_US_PER_S) {
                fprintf(stderr, "tsctl watch: bad --dvr '%s' (90, 30m, 2h; at most 6h)\n", optarg);
                return TS_EXIT_USAGE;
            }
            v->dvr = optarg;
            break;
        }
        case 'b': {
            struct in_addr ia;
            if (inet_pton(AF_INET, optarg, &ia) != 1) {
                fprintf(stderr, "tsctl %s: bad --bind '%s' (an IPv4 address)\n", v->seed ? "seed" : "watch", optarg);
                return TS_EXIT_USAGE;
            }
            v->bind_ip = optarg;
            break;
        }
        case 'P': v->play_it = 1; break;
        case 'F': v->supervise_here = 1; break;
        case 'N': v->no_portmap = 1; break;
        case 'O': v->no_holepunch = 1; break;
        case 'u':
            if (ts_units_rate(optarg, &v->max_upload) < 0 || v->max_upload < 8000) {
                fprintf(stderr, "tsctl: bad --max-upload '%s' (e.g. 4M, at least 8k)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'M':
            if (inst_metrics_addr(optarg, v->metrics, sizeof v->metrics) < 0) {
                fprintf(stderr, "tsctl %s: bad --metrics '%s' (ADDR:PORT, ADDR an IPv4 address)\n",
                        v->seed ? "seed" : "watch", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout, v->seed); return TS_EXIT_OK;
        default: return tsctl_usage_error(v->seed ? "seed" : "watch");
        }
    }
    v->foreground = v->output && strcmp(v->output, "-") == 0;
    return CONTINUE;
}

/* Options that exclude each other, the player, the one stream argument. */
static int check_opts(viewer_t *v, int argc, char **argv)
{
    if (v->seed && (v->http || v->output || v->stats || v->play_it || v->dvr)) {
        fprintf(stderr, "tsctl seed: a seeder has no player: --http, --output, --play, --stats and --dvr are for tsctl watch\n");
        return TS_EXIT_USAGE;
    }
    if (v->play_it && v->foreground) {
        fprintf(stderr, "tsctl watch: --play and --output - both take the foreground: choose one\n");
        return TS_EXIT_USAGE;
    }
    if (v->supervise_here && (v->play_it || v->foreground)) {
        fprintf(stderr, "tsctl watch: --foreground and %s both take the foreground: choose one\n",
                v->play_it ? "--play" : "--output -");
        return TS_EXIT_USAGE;
    }
    if (v->play_it && find_player(v->player, sizeof v->player) < 0) {
        fprintf(stderr, "tsctl watch: --play found none of mpv, vlc, ffplay on PATH; install one "
                        "(apt-get install mpv, or vlc, or ffmpeg for ffplay), or open the player URL yourself\n");
        return TS_EXIT_CONFIG;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "tsctl %s: expected one FILE.tstream or magnet link\n", v->seed ? "seed" : "watch");
        return tsctl_usage_error(v->seed ? "seed" : "watch");
    }
    v->file = argv[optind];
    return CONTINUE;
}

/* The metainfo: from the file, or fetched from the peers of a magnet link. */
static int load_stream(viewer_t *v, ts_metainfo_t *m)
{
    if (strncasecmp(v->file, "magnet:", 7) == 0) {
        if (!v->port)
            v->port = inst_free_port(); /* announced while fetching, then the swarm's */
        int rc = fetch_magnet(v->file, v->port, v->fetched, sizeof v->fetched, v->seed);
        if (rc != TS_EXIT_OK)
            return rc;
        v->file = v->fetched;
    }
    char err[512];
    if (ts_metainfo_load(v->file, m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl watch: %s: %s\n", v->file, err);
        return TS_EXIT_CONFIG;
    }
    if (!m->announce[0]) {
        fprintf(stderr, "tsctl watch: %s names no tracker (announce)\n", v->file);
        ts_metainfo_free(m);
        return TS_EXIT_CONFIG;
    }
    return CONTINUE;
}

/* The instance's name and directory (not running yet), its copy of the metainfo, its ports. */
static int prepare_dir(viewer_t *v, ts_metainfo_t *m, char *dir, size_t dirlen)
{
    if (v->name && !inst_valid_name(v->name)) {
        fprintf(stderr, "tsctl watch: bad --name '%s'\n", v->name);
        return TS_EXIT_USAGE;
    }
    if (!v->name) {
        for (int i = 1; i < 1000; i++) {
            char d[512];
            snprintf(v->autoname, sizeof v->autoname, "%s-%s%d", m->name, v->seed ? "seed" : "view", i);
            if (inst_lookup(v->autoname, d, sizeof d) == 0 && inst_supervisor_pid(d))
                continue;
            break;
        }
        v->name = v->autoname;
    }
    inst_dir_for(v->name, v->state_dir, dir, dirlen);
    if (inst_mkdirs(dir, 0700) < 0) {
        fprintf(stderr, "tsctl watch: cannot create %s: %s\n", dir, strerror(errno));
        return TS_EXIT_FAIL;
    }
    char ep[600], err[512], path[700];
    if (inst_endpoint(dir, ts_topo[TS_TOPO_BRIDGE].name, ep, sizeof ep) < 0) {
        fprintf(stderr, "tsctl watch: state directory %s is too long for unix sockets\n", dir);
        return TS_EXIT_USAGE;
    }
    if (inst_supervisor_pid(dir)) {
        fprintf(stderr, "tsctl watch: viewer %s is already running (tsctl stop %s)\n", v->name, v->name);
        return TS_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/stream.tstream", dir);
    if (ts_metainfo_save(path, m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl watch: %s: %s\n", path, err);
        return TS_EXIT_FAIL;
    }
    if (!v->port)
        v->port = inst_free_port();
    if (!v->http_port)
        v->http_port = inst_free_port();
    return CONTINUE;
}

/* --output as an absolute path, created empty: a new watch session writes a new file. */
static int prepare_output(viewer_t *v, const char *dir)
{
    if (v->output && !v->foreground) {
        if (v->output[0] == '/')
            snprintf(v->outabs, sizeof v->outabs, "%s", v->output);
        else {
            char cwd[PATH_MAX - 256];
            if (!getcwd(cwd, sizeof cwd))
                return TS_EXIT_FAIL;
            snprintf(v->outabs, sizeof v->outabs, "%s/%s", cwd, v->output);
        }
    }
    /* The resume record only serves restarts within one session. */
    char pos[700];
    snprintf(pos, sizeof pos, "%s/bridge.pos", dir);
    unlink(pos);
    if (v->outabs[0]) {
        int fd = open(v->outabs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "tsctl watch: cannot write %s: %s\n", v->outabs, strerror(errno));
            return TS_EXIT_CONFIG;
        }
        close(fd);
    }
    return CONTINUE;
}

static int write_conf(const viewer_t *v, const ts_metainfo_t *m, const char *dir, instance_t *in)
{
    char ih[41];
    ts_metainfo_hex(m->infohash, ih);
    memset(in, 0, sizeof *in);
    snprintf(in->dir, sizeof in->dir, "%s", dir);
    inst_set(in, "name", "%s", v->name);
    inst_set(in, "role", v->seed ? "seed" : "viewer");
    inst_set(in, "stream", "%s", m->name);
    inst_set(in, "tstream", "%s", v->file);
    inst_set(in, "infohash", "%s", ih);
    inst_set(in, "port", "%u", v->port);
    if (!v->seed) {
        inst_set(in, "http", "%s:%u", v->http_addr, v->http_port);
        const char *host = strcmp(v->http_addr, "0.0.0.0") == 0 ? "127.0.0.1" : v->http_addr;
        inst_set(in, "player_url", "http://%s:%u/%s.ts", host, v->http_port, m->name);
        inst_set(in, "hls_url", "http://%s:%u/%s.m3u8", host, v->http_port, m->name);
        if (v->dvr)
            inst_set(in, "dvr", "%s", v->dvr);
    }
    inst_set(in, "output", "%s", v->outabs);
    if (v->metrics[0])
        inst_set(in, "metrics", "%s", v->metrics);
    inst_set(in, "max_upload", "%llu", (unsigned long long)v->max_upload);
    inst_set(in, "no_port_mapping", "%d", v->no_portmap);
    inst_set(in, "no_holepunch", "%d", v->no_holepunch);
    if (v->bind_ip)
        inst_set(in, "bind", "%s", v->bind_ip);
    if (v->stats) {
        char sabs[PATH_MAX];
        if (v->stats[0] == '/' || !getcwd(sabs, sizeof sabs - strlen(v->stats) - 2))
            snprintf(sabs, sizeof sabs, "%s", v->stats);
        else
            snprintf(sabs + strlen(sabs), sizeof sabs - strlen(sabs), "/%s", v->stats);
        inst_set(in, "stats", "%s", sabs);
    }
    inst_set(in, "tracker", "%s", m->announce);
    if (inst_save(in) < 0) {
        fprintf(stderr, "tsctl watch: cannot write %s/instance.conf\n", dir);
        return TS_EXIT_FAIL;
    }
    return CONTINUE;
}

/* Started: say where to watch, then hand over to the player or the stdout relay, if any. */
static int run_viewer(const viewer_t *v, const char *dir, const instance_t *in, const char *spath)
{
    if (v->seed) {
        printf("seeder %s started on port %u\n", v->name, v->port);
        return TS_EXIT_OK;
    }
    if (!v->foreground) {
        printf("viewer %s started\n  player URL: %s\n  HLS:        %s%s%s%s\n", v->name, inst_get(in, "player_url"),
               inst_get(in, "hls_url"), v->dvr ? " (DVR window " : "", v->dvr ? v->dvr : "", v->dvr ? ")" : "");
        if (v->outabs[0])
            printf("  output:     %s\n", v->outabs);
        if (!v->play_it)
            return TS_EXIT_OK;
        printf("  playing in: %s (the viewer stops when it exits)\n", v->player);
        fflush(stdout);
        int rc = play(v->player, inst_get(in, "player_url"));
        inst_stop(dir, 10);
        inst_unregister(v->name);
        if (rc != 0)
            fprintf(stderr, "tsctl watch: %s failed (exit status %d); viewer %s stopped\n", v->player, rc, v->name);
        return rc == 0 ? TS_EXIT_OK : TS_EXIT_FAIL;
    }
    fprintf(stderr, "tsctl watch: viewer %s streaming to stdout (player URL %s)\n", v->name, inst_get(in, "player_url"));
    relay(strcmp(v->http_addr, "0.0.0.0") == 0 ? "127.0.0.1" : v->http_addr, v->http_port, spath);
    inst_stop(dir, 10);
    inst_unregister(v->name);
    return TS_EXIT_OK;
}

static int viewer_main(int argc, char **argv, int seed)
{
    static viewer_t v; /* PATH_MAX buffers: not on the stack */
    memset(&v, 0, sizeof v);
    v.seed = seed;
    snprintf(v.http_addr, sizeof v.http_addr, "127.0.0.1");
    int rc = parse_opts(&v, argc, argv);
    if (rc == CONTINUE)
        rc = check_opts(&v, argc, argv);
    if (rc != CONTINUE)
        return rc;
    ts_metainfo_t m;
    if ((rc = load_stream(&v, &m)) != CONTINUE)
        return rc;
    char dir[512], spath[200];
    instance_t in;
    if ((rc = prepare_dir(&v, &m, dir, sizeof dir)) == CONTINUE && (rc = prepare_output(&v, dir)) == CONTINUE)
        rc = write_conf(&v, &m, dir, &in);
    snprintf(spath, sizeof spath, "/%s.ts", m.name);
    ts_metainfo_free(&m);
    if (rc != CONTINUE)
        return rc;
    int code;
    char err[512];
    if (inst_spawn_supervisor(dir, v.supervise_here, 30, &code, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl watch: viewer %s failed to start: %s\n", v.name, err);
        inst_stop(dir, 5);
        return code;
    }
    inst_register(v.name, dir);
    return run_viewer(&v, dir, &in, spath);
}

int watch_main(int argc, char **argv) { return viewer_main(argc, argv, 0); }

int seed_main(int argc, char **argv) { return viewer_main(argc, argv, 1); }
