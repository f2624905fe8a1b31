/* tsctl start NAME --source SRC ...: create or reuse the broadcast's key and .tstream,
 * then run ingest, signer and swarm under a supervisor until stopped. */
#include "instance.h"
#include "tstream.h"
#include "ts_buf.h"
#include "ts_exit.h"
#include "ts_magnet.h"
#include "ts_metainfo.h"
#include "ts_stage.h"
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
            "                   [--port PORT] [--tracker URL] [--announce-host IP] [--max-upload RATE]\n"
            "                   [--state-dir DIR] [--wait-data SECONDS] [--foreground]\n"
            "Starts broadcast NAME and writes NAME.tstream in the current directory.\n"
            "  --source SRC        a file (paced at --bitrate), - (stdin), pipe:COMMAND, http(s)://URL,\n"
            "                      or testsrc (built-in test pattern, 2 Mbit/s MPEG-TS)\n"
            "  --bitrate RATE      bits per second, suffixes k M G (2M); sizes the window; paces files\n"
            "  --piece-size BYTES  wire piece length incl. the 88-byte trailer (default 16k)\n"
            "  --window SECONDS    how much stream the wrapping piece space spans (default 60)\n"
            "  --port PORT         peer (and embedded tracker) TCP port (default: a free port, kept)\n"
            "  --tracker URL       announce to this tracker instead of the embedded one\n"
            "  --announce-host IP  address viewers reach this broadcaster at (default 127.0.0.1)\n"
            "  --max-upload RATE   cap on the broadcaster's upload, bits per second (default: none)\n"
            "  --state-dir DIR     key and state directory (default: $XDG_STATE_HOME/tstream/NAME)\n"
            "  --wait-data SECONDS once running, wait this long for the source's first piece (default %d;\n"
            "                      0: do not wait). None: a warning, exit code %d, the broadcast stays up.\n"
            "  --foreground        supervise the stages in this process until SIGTERM, for systemd\n"
            "                      (Type=notify; deploy/systemd); --wait-data does not apply\n",
            TS_SOURCE_IDLE_WARN_S, TS_EXIT_NODATA);
}

/* Wait until ingest has cut its first piece (it reports it at once), at most secs. 0 if it did. */
static int wait_first_piece(const char *dir, double secs)
{
    uint64_t end = ts_mono_ns() + (uint64_t)(secs * 1e9);
    for (;;) {
        long long pieces;
        if (inst_stage_counter(dir, "ingest", "pieces_out", &pieces) == 0 && pieces > 0)
            return 0;
        if (ts_mono_ns() >= end)
            return -1;
        struct timespec ts = { 0, 100 * 1000000 };
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

int start_main(int argc, char **argv)
{
    const char *source = NULL, *bitrate_s = NULL, *piece_s = NULL, *tracker = NULL, *state_dir = NULL;
    const char *announce_host = "127.0.0.1";
    double window_s = 60, wait_data = TS_SOURCE_IDLE_WARN_S;
    uint64_t max_upload = 0;
    uint16_t port = 0;
    static const struct option opts[] = {
        { "source", required_argument, 0, 's' },     { "bitrate", required_argument, 0, 'b' },
        { "piece-size", required_argument, 0, 'p' }, { "window", required_argument, 0, 'w' },
        { "port", required_argument, 0, 'P' },       { "tracker", required_argument, 0, 't' },
        { "state-dir", required_argument, 0, 'd' },  { "announce-host", required_argument, 0, 'a' },
        { "max-upload", required_argument, 0, 'u' }, { "wait-data", required_argument, 0, 'W' },
        { "foreground", no_argument, 0, 'F' },       { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, supervise_here = 0;
    char host[64];
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': source = optarg; break;
        case 'b': bitrate_s = optarg; break;
        case 'p': piece_s = optarg; break;
        case 'w':
            window_s = atof(optarg);
            if (window_s < 2 || window_s > 86400) {
                fprintf(stderr, "tsctl start: --window must be 2..86400 seconds\n");
                return TS_EXIT_USAGE;
            }
            break;
        case 'P':
            if (ts_units_hostport(optarg, host, sizeof host, &port) < 0) {
                fprintf(stderr, "tsctl start: bad --port '%s'\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 't': tracker = optarg; break;
        case 'd': state_dir = optarg; break;
        case 'a': announce_host = optarg; break;
        case 'u':
            if (ts_units_rate(optarg, &max_upload) < 0 || max_upload < 8000) {
                fprintf(stderr, "tsctl start: bad --max-upload '%s' (e.g. 6M, at least 8k)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'W': {
            char *end;
            wait_data = strtod(optarg, &end);
            if (end == optarg || *end || !(wait_data >= 0 && wait_data <= 3600)) {
                fprintf(stderr, "tsctl start: bad --wait-data '%s' (seconds, 0..3600)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        }
        case 'F': supervise_here = 1; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: usage(stderr); return TS_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !source) {
        fprintf(stderr, "tsctl start: %s\n", optind != argc - 1 ? "expected one broadcast NAME" : "--source is required");
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (!inst_valid_name(name)) {
        fprintf(stderr, "tsctl start: bad NAME '%s' (letters, digits, '.', '_', '-'; at most 64)\n", name);
        return TS_EXIT_USAGE;
    }
    uint64_t bitrate, piece_len;
    if (tstream_opts("start", bitrate_s, piece_s, tracker, &bitrate, &piece_len) < 0)
        return TS_EXIT_USAGE;
    /* Files are read by a stage in the background: give it an absolute path, and fail now if missing. */
    char src[PATH_MAX + 8];
    snprintf(src, sizeof src, "%s", source);
    if (strcmp(source, "-") != 0 && strcmp(source, "testsrc") != 0 && strncmp(source, "pipe:", 5) != 0 &&
        strncmp(source, "http://", 7) != 0 && strncmp(source, "https://", 8) != 0) {
        if (!realpath(source, src)) {
            fprintf(stderr, "tsctl start: source file %s: %s\n", source, strerror(errno));
            return TS_EXIT_CONFIG;
        }
        if (!bitrate_s) {
            fprintf(stderr, "tsctl start: a file source needs --bitrate to be paced\n");
            return TS_EXIT_USAGE;
        }
    }
    if (strcmp(source, "-") == 0) {
        fprintf(stderr, "tsctl start: --source - (stdin) needs a foreground process; run ts-ingest by hand, or use pipe:cat\n");
        return TS_EXIT_USAGE;
    }

    char dir[512], path[700], err[512];
    inst_dir_for(name, state_dir, dir, sizeof dir);
    if (inst_mkdirs(dir, 0700) < 0) {
        fprintf(stderr, "tsctl start: cannot create %s: %s\n", dir, strerror(errno));
        return TS_EXIT_FAIL;
    }
    chmod(dir, 0700);
    char ep[600];
    if (inst_endpoint(dir, "signer", ep, sizeof ep) < 0) {
        fprintf(stderr, "tsctl start: state directory %s is too long for unix sockets (max ~95 bytes)\n", dir);
        return TS_EXIT_USAGE;
    }
    if (inst_supervisor_pid(dir)) {
        fprintf(stderr, "tsctl start: broadcast %s is already running (tsctl stop %s)\n", name, name);
        return TS_EXIT_FAIL;
    }
    instance_t old, in;
    int had_conf = inst_load(&old, dir) == 0;
    memset(&in, 0, sizeof in);
    snprintf(in.dir, sizeof in.dir, "%s", dir);
    if (!port && had_conf && inst_get(&old, "port"))
        port = (uint16_t)atoi(inst_get(&old, "port"));
    if (!port && !(port = inst_free_port())) {
        fprintf(stderr, "tsctl start: no free port\n");
        return TS_EXIT_FAIL;
    }

    /* The key and the .tstream outlive a stop: starting again continues the same broadcast. */
    ts_metainfo_t m;
    memset(&m, 0, sizeof m);
    snprintf(path, sizeof path, "%s/stream.tstream", dir);
    if (access(path, F_OK) == 0) {
        if (ts_metainfo_load(path, &m, err, sizeof err) < 0) {
            fprintf(stderr, "tsctl start: %s: %s\n", path, err);
            return TS_EXIT_CONFIG;
        }
        if ((piece_s && m.piece_len != piece_len) || strcmp(m.name, name) != 0)
            fprintf(stderr, "tsctl start: continuing the existing broadcast %s (piece size %u); "
                            "remove %s to start a new one\n", m.name, m.piece_len, dir);
    } else {
        char signer[600], key[600], hex[2048];
        inst_binary("ts-signer", signer, sizeof signer);
        snprintf(key, sizeof key, "%s/key.pem", dir);
        char *args[] = { signer, "--init", "--key", key, NULL };
        if (run_capture(args, hex, sizeof hex) < 0 ||
            tstream_create(&m, name, hex, (uint32_t)piece_len, window_s, bitrate, err, sizeof err) < 0) {
            fprintf(stderr, "tsctl start: could not create or read the signing key %s\n", key);
            return TS_EXIT_CONFIG;
        }
    }
    m.bitrate = bitrate_s ? bitrate : (m.bitrate ? m.bitrate : bitrate);
    if (tracker)
        snprintf(m.announce, sizeof m.announce, "%s", tracker);
    else
        snprintf(m.announce, sizeof m.announce, "http://%s:%u/announce", announce_host, port);
    if (ts_metainfo_save(path, &m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl start: %s: %s\n", path, err);
        return TS_EXIT_FAIL;
    }
    char pub[PATH_MAX + 200], cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    snprintf(pub, sizeof pub, "%s/%s.tstream", cwd, name);
    if (ts_metainfo_save(pub, &m, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl start: %s: %s\n", pub, err);
        return TS_EXIT_FAIL;
    }
    char ih[41];
    uint8_t m_ih[20];
    ts_metainfo_hex(m.infohash, ih);
    memcpy(m_ih, m.infohash, 20);

    inst_set(&in, "name", "%s", name);
    inst_set(&in, "role", "broadcast");
    inst_set(&in, "stream", "%s", name);
    inst_set(&in, "tstream", "%s", pub);
    inst_set(&in, "infohash", "%s", ih);
    inst_set(&in, "port", "%u", port);
    inst_set(&in, "source", "%s", src);
    inst_set(&in, "bitrate", "%s", bitrate_s ? bitrate_s : "");
    inst_set(&in, "piece_size", "%u", m.piece_len);
    inst_set(&in, "tracker", "%s", m.announce);
    inst_set(&in, "embedded_tracker", "%d", tracker ? 0 : 1);
    inst_set(&in, "announce_host", "%s", announce_host);
    char magnet[2048];
    if (ts_magnet_format(m_ih, name, m.announce, magnet, sizeof magnet) < 0)
        magnet[0] = '\0';
    inst_set(&in, "magnet", "%s", magnet);
    inst_set(&in, "max_upload", "%llu", (unsigned long long)max_upload);
    if (inst_save(&in) < 0) {
        fprintf(stderr, "tsctl start: cannot write %s/instance.conf: %s\n", dir, strerror(errno));
        return TS_EXIT_FAIL;
    }
    ts_metainfo_free(&m);
    int code;
    if (inst_spawn_supervisor(dir, supervise_here, 30, &code, err, sizeof err) < 0) {
        fprintf(stderr, "tsctl start: %s failed to start: %s\n", name, err);
        inst_stop(dir, 5);
        return code;
    }
    inst_register(name, dir);
    printf("broadcast %s started\n  tstream:  %s\n  infohash: %s\n  tracker:  %s\n  magnet:   %s\n  state:    %s\n", name,
           pub, ih, inst_get(&in, "tracker"), magnet, dir);
    fflush(stdout);
    /* Ready stages do not mean a stream: a camera not on yet, a command that writes nothing. The
     * broadcast keeps waiting for it (a live source may come later), but the operator hears now. */
    if (wait_data > 0 && wait_first_piece(dir, wait_data) < 0) {
        fprintf(stderr,
                "tsctl start: warning: broadcast %s is running, but its source has sent no data in %g s: %s\n"
                "  It keeps waiting for the source; viewers get the stream once data comes.\n"
                "  See `tsctl logs %s ingest`; stop the broadcast with `tsctl stop %s`.\n",
                name, wait_data, src, name, name);
        return TS_EXIT_NODATA;
    }
    return TS_EXIT_OK;
}
