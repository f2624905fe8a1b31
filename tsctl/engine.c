/* tsctl engine [--http ADDR:PORT] [--channels FILE|DIR] [--idle SECONDS] [--max-streams N]
 * [--allow-magnets]: a local service that gives players and IPTV apps streams by URL alone
 * (engine_url.h lists the URLs). The first request for a stream starts its viewer, `tsctl watch`
 * run as a child; every player of that stream is relayed from the one viewer's player-bridge
 * through this port (engine_proxy.c); a viewer nobody has read for --idle seconds is stopped with
 * `tsctl stop`, run as a child too. Runs in the foreground until SIGINT or SIGTERM, and then stops
 * the viewers it started. The page, /engine.json, /playlist.m3u and /metrics: engine_web.c. */
#include "engine.h"
#include "engine_web.h"
#include "instance.h"
#include "ts_err.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_metainfo.h"
#include "ts_time.h"
#include "tsctl.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static double now_s(void) { return ts_ns_to_s(ts_mono_ns()); }

static void reject(engine_t *e, proxy_t *p, reject_t why, int status, const char *headers, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void reject(engine_t *e, proxy_t *p, reject_t why, int status, const char *headers, const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body - 1, fmt, ap);
    va_end(ap);
    strcat(body, "\n");
    e->rejected[why]++;
    proxy_reply(p, status, headers, body);
}

/* ------------------------------------------------------------------ the table of streams */

static stream_t *stream_find(engine_t *e, const uint8_t ih[20])
{
    for (size_t i = 0; i < e->ns; i++)
        if (memcmp(e->s[i]->ch.infohash, ih, 20) == 0)
            return e->s[i];
    return NULL;
}

static stream_t *stream_add(engine_t *e, const chan_t *ch)
{
    stream_t **v = realloc(e->s, (e->ns + 1) * sizeof *v), *s;
    if (!v)
        return NULL;
    e->s = v;
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    s->e = e;
    s->ch = *ch;
    s->out_fd = -1;
    s->http_clients = -1;
    ts_metainfo_hex(ch->infohash, s->ih);
    snprintf(s->inst, sizeof s->inst, "engine-%.16s", s->ih);
    for (size_t i = 0; i < e->ns; i++) /* a magnet made to share a channel's name would stop its viewer */
        if (strcmp(e->s[i]->inst, s->inst) == 0) {
            free(s);
            return errno = EEXIST, NULL;
        }
    e->s[e->ns++] = s;
    return s;
}

static void stream_drop(engine_t *e, stream_t *s)
{
    for (size_t i = 0; i < e->ns; i++)
        if (e->s[i] == s) {
            memmove(&e->s[i], &e->s[i + 1], (e->ns - i - 1) * sizeof *e->s);
            e->ns--;
            break;
        }
    if (s->out_fd >= 0) {
        ev_io_stop(e->loop, &s->out_io);
        close(s->out_fd);
    }
    if (s->status)
        ts_msg_free(s->status);
    free(s);
}

static void inst_dir(const stream_t *s, char *dir, size_t len) { inst_dir_for(s->inst, NULL, dir, len); }

/* ------------------------------------------------------------------ players */

static void on_player_end(proxy_t *p, const char *why, void *arg)
{
    player_t *pl = arg;
    stream_t *s = pl->s;
    engine_t *e = s->e;
    e->bytes += proxy_bytes(p);
    if (strcmp(why, "player too slow") == 0)
        e->dropped++;
    ts_debug("%s: player gone: %s", s->ch.name, why);
    if (pl->prev)
        pl->prev->next = pl->next;
    else
        s->players = pl->next;
    if (pl->next)
        pl->next->prev = pl->prev;
    s->nplayers--;
    e->nplayers--;
    if (s->nplayers == 0)
        s->idle_since = now_s();
    free(pl);
}

/* The viewer is up: relay this player from its player-bridge. */
static void player_go(player_t *pl)
{
    stream_t *s = pl->s;
    char path[ENG_SUB_MAX + 200];
    if (pl->kind == ENG_SUB && strncmp(pl->sub, "/index.m3u8", 11) == 0)
        snprintf(path, sizeof path, "/%s.m3u8%s", s->bridge_name, pl->sub + 11);
    else if (pl->kind == ENG_SUB)
        snprintf(path, sizeof path, "%s", pl->sub);
    else
        snprintf(path, sizeof path, "/%s.ts", s->bridge_name);
    proxy_relay(pl->p, s->port, path);
}

/* Answer every player still waiting (each reply may end its player at once: step on first). */
static void players_fail(stream_t *s, reject_t why, int status, const char *text)
{
    for (player_t *pl = s->players, *next; pl; pl = next) {
        next = pl->next;
        if (pl->started)
            continue;
        pl->started = 1;
        s->e->rejected[why]++;
        proxy_reply(pl->p, status, NULL, text);
    }
}

static void players_go(stream_t *s)
{
    for (player_t *pl = s->players, *next; pl; pl = next) {
        next = pl->next;
        if (!pl->started) {
            pl->started = 1;
            player_go(pl);
        }
    }
}

static int players_waiting(const stream_t *s)
{
    const player_t *pl = s->players;
    while (pl && pl->started)
        pl = pl->next;
    return pl != NULL;
}

/* ------------------------------------------------------------------ viewers: tsctl watch, tsctl stop */

static void on_child_out(struct ev_loop *loop, ev_io *w, int revents)
{
    stream_t *s = w->data;
    char buf[1024];
    ssize_t r = read(s->out_fd, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        ev_io_stop(loop, w);
        close(s->out_fd);
        s->out_fd = -1;
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        if (buf[i] != '\n' && s->out_len < sizeof s->out_line - 1) {
            s->out_line[s->out_len++] = buf[i] >= 0x20 || buf[i] < 0 ? buf[i] : ' ';
            continue;
        }
        if (buf[i] != '\n')
            continue; /* a line too long: the rest of it is dropped */
        s->out_line[s->out_len] = 0;
        if (s->out_len) {
            ts_info("%s: %s", s->inst, s->out_line);
            memcpy(s->last_line, s->out_line, s->out_len + 1);
        }
        s->out_len = 0;
    }
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents);

/* Run `tsctl ARGS...` for s, its output into the log; 0, or -1. */
static int spawn(stream_t *s, char *const argv[])
{
    engine_t *e = s->e;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0); /* a ^C at the engine's terminal is the engine's to pass on, not the children's */
        dup2(open("/dev/null", O_RDONLY | O_CLOEXEC), 0); /* dup2's copy stays open in the child */
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execv(e->tsctl, argv);
        fprintf(stderr, "cannot run %s: %s\n", e->tsctl, strerror(errno));
        _exit(TS_EXIT_FAIL);
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    if (s->out_fd >= 0) {
        ev_io_stop(e->loop, &s->out_io);
        close(s->out_fd);
    }
    s->out_fd = pfd[0];
    s->out_len = 0;
    s->last_line[0] = 0;
    ev_io_init(&s->out_io, on_child_out, s->out_fd, EV_READ);
    s->out_io.data = s;
    ev_io_start(e->loop, &s->out_io);
    s->child = pid;
    ev_child_init(&s->cw, on_child, pid, 0);
    s->cw.data = s;
    ev_child_start(e->loop, &s->cw);
    return 0;
}

static void stream_start(stream_t *s)
{
    engine_t *e = s->e;
    char *argv[] = { "tsctl", "watch", s->ch.source, "--name", s->inst, NULL };
    ts_info("%s: starting its viewer %s (%s)", s->ch.name, s->inst, s->ch.source);
    s->error[0] = 0;
    if (spawn(s, argv) < 0) {
        snprintf(s->error, sizeof s->error, "cannot start tsctl watch: %s", strerror(errno));
        e->start_failures++;
        players_fail(s, R_START, 502, s->error);
        return;
    }
    s->st = S_STARTING;
    s->starts++;
    e->starts++;
}

static void stream_stop(stream_t *s, const char *why)
{
    char *argv[] = { "tsctl", "stop", s->inst, NULL };
    ts_info("%s: stopping its viewer %s: %s", s->ch.name, s->inst, why);
    if (spawn(s, argv) < 0) {
        ts_warn("%s: cannot run tsctl stop: %s", s->inst, strerror(errno));
        return; /* tried again next tick */
    }
    s->st = S_STOPPING;
}

/* The viewer's bridge from its instance.conf: player_url http://127.0.0.1:PORT/NAME.ts. */
static int read_bridge(stream_t *s)
{
    char dir[512];
    instance_t in;
    inst_dir(s, dir, sizeof dir);
    const char *url = inst_load(&in, dir) == 0 ? inst_get(&in, "player_url") : NULL;
    unsigned port;
    int at = 0;
    if (!url || sscanf(url, "http://%*[^:]:%u/%n", &port, &at) != 1 || !at || !port || port > 65535)
        return -1;
    const char *name = url + at, *dot = strrchr(name, '.');
    if (!dot || strcmp(dot, ".ts") != 0 || (size_t)(dot - name) >= sizeof s->bridge_name)
        return -1;
    snprintf(s->bridge_name, sizeof s->bridge_name, "%.*s", (int)(dot - name), name);
    s->port = (uint16_t)port;
    return 0;
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    stream_t *s = w->data;
    engine_t *e = s->e;
    ev_child_stop(loop, w);
    s->child = 0;
    int code = WIFEXITED(w->rstatus) ? WEXITSTATUS(w->rstatus) : 128 + WTERMSIG(w->rstatus);
    on_child_out(loop, &s->out_io, 0); /* its last words, if still in the pipe */
    if (s->st == S_STARTING) {
        if (code == 0 && read_bridge(s) == 0) {
            s->st = S_RUNNING;
            s->idle_since = now_s();
            s->last_poll = 0;
            ts_info("%s: viewer %s up, player-bridge on 127.0.0.1:%u", s->ch.name, s->inst, s->port);
            players_go(s);
            return;
        }
        snprintf(s->error, sizeof s->error, "the viewer did not start (tsctl watch exited %d)%s%.200s", code,
                 s->last_line[0] ? ": " : "", s->last_line);
        ts_warn("%s: %s", s->ch.name, s->error);
        e->start_failures++;
        s->st = S_IDLE;
        char dir[512];
        inst_dir(s, dir, sizeof dir);
        if (inst_supervisor_pid(dir)) /* it did start, but could not be read: stop it */
            stream_stop(s, "its player URL is unreadable");
        players_fail(s, R_START, 502, s->error);
    } else if (s->st == S_STOPPING) {
        if (code != 0)
            ts_warn("%s: tsctl stop %s exited %d", s->ch.name, s->inst, code);
        s->st = S_IDLE;
        if (s->status)
            ts_msg_free(s->status);
        s->status = NULL;
        s->http_clients = -1;
        if (players_waiting(s)) /* asked for again while it stopped */
            stream_start(s);
    }
}

/* The player-bridge's http_clients in a status answer, or -1. */
static long long http_clients(const Ts__Envelope *st)
{
    for (size_t i = 0; st && st->status && i < st->status->n_stages; i++) {
        const Ts__StageStatus *g = st->status->stages[i];
        for (size_t c = 0; strcmp(g->name, "player-bridge") == 0 && c < g->n_counters; c++)
            if (strcmp(g->counters[c]->name, "http_clients") == 0)
                return (long long)g->counters[c]->value;
    }
    return -1;
}

/* Each second: ask running viewers for their status now and then; stop the idle ones. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    engine_t *e = w->data;
    double now = now_s();
    for (size_t i = e->nchannels; i < e->ns;) {
        stream_t *s = e->s[i];
        if (s->from_magnet && s->st == S_IDLE && !s->nplayers && !s->child)
            stream_drop(e, s); /* a magnet's stream is known while its viewer runs */
        else
            i++;
    }
    for (size_t i = 0; i < e->ns; i++) {
        stream_t *s = e->s[i];
        if (s->st != S_RUNNING || s->child)
            continue;
        if (now - s->last_poll >= ENGINE_POLL_S) {
            char dir[512];
            inst_dir(s, dir, sizeof dir);
            s->last_poll = now;
            if (s->status)
                ts_msg_free(s->status);
            s->status = inst_supervisor_pid(dir) ? inst_status(dir, ENGINE_ASK_MS) : NULL;
            s->http_clients = http_clients(s->status);
            if (!inst_supervisor_pid(dir)) {
                ts_warn("%s: viewer %s is gone (stopped from outside?)", s->ch.name, s->inst);
                stream_stop(s, "its supervisor is gone"); /* unregisters it */
                continue;
            }
        }
        if (s->nplayers > 0 || s->http_clients > 0)
            s->idle_since = now;
        else if (now - s->idle_since >= e->idle_s) {
            e->idle_stops++;
            stream_stop(s, "no player for --idle seconds");
        }
    }
}

/* ------------------------------------------------------------------ requests */

static int loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* A stream for a magnet link not in the table: known from now until its viewer stops. */
static stream_t *magnet_stream(engine_t *e, const eng_req_t *r)
{
    chan_t ch;
    memset(&ch, 0, sizeof ch);
    ts_magnet_t *m = malloc(sizeof *m);
    char err[256];
    if (!m || ts_magnet_parse(r->magnet, m, err, sizeof err) < 0) {
        free(m);
        return errno = EINVAL, NULL;
    }
    char ih[41];
    ts_metainfo_hex(r->infohash, ih);
    snprintf(ch.name, sizeof ch.name, "%.127s", m->name[0] ? m->name : ih);
    for (char *c = ch.name; *c; c++) /* dn is shown in the page and the playlist: keep it tame */
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '<' || *c == '>' || *c == '&')
            *c = '_';
    free(m);
    snprintf(ch.source, sizeof ch.source, "%s", r->magnet);
    snprintf(ch.where, sizeof ch.where, "a request");
    ch.is_magnet = ch.has_infohash = 1;
    memcpy(ch.infohash, r->infohash, 20);
    stream_t *s = stream_add(e, &ch);
    if (s)
        s->from_magnet = 1;
    return s;
}

/* ts_httpd handed over a request under /watch or /ace/. */
static void on_take(int fd, const ts_http_req_t *req, const uint8_t *head, void *arg)
{
    engine_t *e = arg;
    proxy_t *p = proxy_count() < ENGINE_MAX_CONNS ? proxy_new(e->loop, fd, req->method == TS_HTTP_M_HEAD, NULL, NULL) : NULL;
    if (!p) { /* answered ones linger up to PROXY_STALL_S: a client reconnecting fast must not pile them up */
        e->rejected[R_MAX_CONNS]++;
        close(fd);
        return;
    }
    if (req->method != TS_HTTP_M_GET && req->method != TS_HTTP_M_HEAD) {
        reject(e, p, R_METHOD, 405, "Allow: GET, HEAD\r\n", "method not allowed");
        return;
    }
    const char *q = memchr(req->target, '?', req->target_len);
    size_t qlen = q ? req->target_len - (size_t)(q - req->target) - 1 : 0;
    const char *hash = q ? memchr(q + 1, '#', qlen) : NULL;
    if (hash)
        qlen = (size_t)(hash - q - 1);
    eng_req_t *r = malloc(sizeof *r);
    if (!r) {
        proxy_close(p, "out of memory");
        return;
    }
    eng_url_parse(req->path, req->path_len, q ? q + 1 : "", qlen, r);
    stream_t *s = r->kind >= ENG_TS ? stream_find(e, r->infohash) : NULL;
    char ih[41];
    ts_metainfo_hex(r->infohash, ih);
    if (r->kind == ENG_NONE)
        reject(e, p, R_UNKNOWN, 404, NULL,
               "not found: this engine serves /watch/INFOHASH.ts, /watch/INFOHASH.m3u8, "
               "/watch?magnet=LINK, /ace/getstream?infohash=INFOHASH, /playlist.m3u");
    else if (r->kind == ENG_BAD)
        reject(e, p, R_BAD, 400, NULL, "bad request: %s", r->why);
    else if (!s && r->kind == ENG_MAGNET && !e->allow_magnets && !loopback(fd))
        reject(e, p, R_MAGNET, 403, NULL, "magnet links are taken from this host only (tsctl engine --allow-magnets)");
    else if (!s && r->kind != ENG_MAGNET)
        reject(e, p, R_UNKNOWN, 404, NULL,
               "unknown stream %s: not in the channel list, and not started by a magnet link", ih);
    else if (r->kind == ENG_M3U8) {
        char loc[200];
        snprintf(loc, sizeof loc, "Location: /watch/%s/index.m3u8\r\n", ih);
        proxy_reply(p, 302, loc, "see /watch/INFOHASH/index.m3u8\n");
        /* Not a player yet: the playlist's own request, next, starts the viewer. */
    } else {
        int fresh = !s || s->st == S_IDLE;
        if (e->nplayers >= ENGINE_MAX_PLAYERS)
            reject(e, p, R_MAX_PLAYERS, 503, "Retry-After: 30\r\n", "too many players (%d)", ENGINE_MAX_PLAYERS);
        else if (fresh && engine_running(e) >= e->max_streams)
            reject(e, p, R_MAX_STREAMS, 503, "Retry-After: 30\r\n",
                   "%u streams are running, the most this engine runs at once (--max-streams); try again later",
                   e->max_streams);
        else if (!s && !(s = magnet_stream(e, r)))
            reject(e, p, R_BAD, errno == EEXIST ? 409 : 400, NULL, "%s", errno == EEXIST ? "another stream has this one's name ("
                   "engine- and 16 hex digits of the infohash)" : "bad magnet link");
        else {
            player_t *pl = calloc(1, sizeof *pl);
            if (!pl) {
                proxy_close(p, "out of memory");
                free(r);
                return;
            }
            pl->s = s;
            pl->p = p;
            pl->kind = r->kind == ENG_MAGNET ? ENG_TS : r->kind;
            snprintf(pl->sub, sizeof pl->sub, "%s", r->sub);
            proxy_set_end(p, on_player_end, pl);
            pl->next = s->players;
            if (s->players)
                s->players->prev = pl;
            s->players = pl;
            s->nplayers++;
            e->nplayers++;
            if (s->st == S_IDLE)
                stream_start(s);
            else if (s->st == S_RUNNING) {
                pl->started = 1;
                player_go(pl);
            } /* STARTING: relayed once up; STOPPING: started again once stopped */
        }
    }
    free(r);
}

/* ------------------------------------------------------------------ start and end */

/* Viewers an engine left running (it was killed): stopped, so none runs unwatched. */
static int stop_leftover(const char *name, const char *dir, void *arg)
{
    if (strncmp(name, "engine-", 7) != 0)
        return 0;
    ts_info("stopping %s, left by an earlier engine", name);
    if (inst_stop(dir, 10) == 0)
        inst_unregister(name);
    return 0;
}

/* Stop what this engine runs: players first, then each viewer (waiting for it, as tsctl stop). */
static void engine_end(engine_t *e)
{
    for (size_t i = 0; i < e->ns; i++)
        while (e->s[i]->players)
            proxy_close(e->s[i]->players->p, "engine stopping");
    for (size_t i = 0; i < e->ns; i++) {
        stream_t *s = e->s[i];
        if (s->child) {
            ev_child_stop(e->loop, &s->cw);
            if (s->st == S_STARTING)
                kill(s->child, SIGTERM); /* a watch still waiting for its viewer */
            while (waitpid(s->child, NULL, 0) < 0 && errno == EINTR)
                ;
            s->child = 0;
        }
        char dir[512];
        inst_dir(s, dir, sizeof dir);
        if (s->st != S_IDLE && inst_supervisor_pid(dir)) {
            ts_info("%s: stopping its viewer %s", s->ch.name, s->inst);
            inst_stop(dir, 10);
        }
        if (s->st != S_IDLE)
            inst_unregister(s->inst);
        s->st = S_IDLE;
    }
    while (e->ns)
        stream_drop(e, e->s[e->ns - 1]);
    free(e->s);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    ts_info("signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsctl engine [--http ADDR:PORT] [--channels FILE|DIR] [--idle SECONDS] [--max-streams N]\n"
            "                    [--allow-magnets]\n"
            "Serves streams to players and IPTV apps by URL alone, starting a viewer on a stream's first\n"
            "request and stopping it when nobody has watched for --idle seconds, until SIGINT or SIGTERM:\n"
            "  /watch/INFOHASH.ts  /watch/INFOHASH.m3u8  /watch?magnet=LINK  /playlist.m3u  /engine.json\n"
            "  /ace/getstream?infohash=INFOHASH  /ace/manifest.m3u8?infohash=INFOHASH  /metrics  /\n"
            "  --http ADDR:PORT    where players connect (default %s; :PORT = 127.0.0.1)\n"
            "  --channels FILE|DIR the known streams: NAME | GROUP | TVG-ID | SOURCE lines (README.md);\n"
            "                      a directory: its *.channels files\n"
            "  --idle SECONDS      stop a viewer nobody has read for this long (default %d, 1..86400)\n"
            "  --max-streams N     viewers running at once (default %d, 1..64); beyond: 503\n"
            "  --allow-magnets     start streams from magnet links for any client (default: only for\n"
            "                      clients on this host)\n",
            ENGINE_HTTP, ENGINE_IDLE_S, ENGINE_MAX_STREAMS);
}

/* Options into e and ch. -1 to go on, else the exit code. */
static int parse_opts(engine_t *e, chan_list_t *ch, int argc, char **argv)
{
    static const struct option opts[] = { { "http", required_argument, 0, 'H' },
                                          { "channels", required_argument, 0, 'c' },
                                          { "idle", required_argument, 0, 'i' },
                                          { "max-streams", required_argument, 0, 'm' },
                                          { "allow-magnets", no_argument, 0, 'a' },
                                          { "help", no_argument, 0, 'h' },
                                          { 0, 0, 0, 0 } };
    char err[512], *end;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (inst_metrics_addr(optarg, e->listen, sizeof e->listen) < 0) {
                fprintf(stderr, "tsctl engine: bad --http '%s' (ADDR:PORT or :PORT, ADDR an IPv4 address)\n", optarg);
                return tsctl_usage_error("engine");
            }
            break;
        case 'c':
            if (chan_load(optarg, ch, err, sizeof err) < 0) {
                fprintf(stderr, "tsctl engine: --channels: %s\n", err);
                return TS_EXIT_CONFIG;
            }
            break;
        case 'i':
            e->idle_s = strtod(optarg, &end);
            if (end == optarg || *end || !(e->idle_s >= 1 && e->idle_s <= 86400)) {
                fprintf(stderr, "tsctl engine: bad --idle '%s' (seconds, 1..86400)\n", optarg);
                return tsctl_usage_error("engine");
            }
            break;
        case 'm': {
            long n = strtol(optarg, &end, 10);
            if (end == optarg || *end || n < 1 || n > 64) {
                fprintf(stderr, "tsctl engine: bad --max-streams '%s' (1..64)\n", optarg);
                return tsctl_usage_error("engine");
            }
            e->max_streams = (unsigned)n;
            break;
        }
        case 'a': e->allow_magnets = 1; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default:
            fprintf(stderr, "tsctl engine: unknown option '%s'\n", argv[optind - 1]);
            return tsctl_usage_error("engine");
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tsctl engine: unexpected argument '%s'\n", argv[optind]);
        return tsctl_usage_error("engine");
    }
    return -1;
}

/* The loop, the server and its routes, the streams of the channel list. 0, or -1 with err. */
static int engine_boot(engine_t *e, const chan_list_t *ch, char *err, size_t errlen)
{
    ssize_t n = readlink("/proc/self/exe", e->tsctl, sizeof e->tsctl - 1);
    if (n <= 0)
        return ts_err(err, errlen, "cannot find the tsctl binary (/proc/self/exe): %s", strerror(errno));
    e->tsctl[n] = 0;
    e->loop = ev_default_loop(EVFLAG_AUTO);
    for (size_t i = 0; i < ch->n; i++)
        if (!stream_add(e, &ch->v[i]))
            return ts_err(err, errlen, errno == EEXIST ? "channel %s: another channel's infohash starts with the same 16 hex digits"
                                                       : "out of memory", ch->v[i].name);
    e->nchannels = e->ns;
    if (!(e->http = ts_httpd_new(e->loop, e->listen, err, errlen)))
        return -1;
    if (engine_web_setup(e, err, errlen) < 0 || ts_httpd_route_take(e->http, "/watch", on_take, e) < 0 ||
        ts_httpd_route_take(e->http, "/ace/", on_take, e) < 0)
        return -1;
    ev_timer_init(&e->tick, on_tick, 1., 1.);
    e->tick.data = e;
    ev_timer_start(e->loop, &e->tick);
    ev_signal_init(&e->sigint, on_signal, SIGINT);
    ev_signal_init(&e->sigterm, on_signal, SIGTERM);
    ev_signal_start(e->loop, &e->sigint);
    ev_signal_start(e->loop, &e->sigterm);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int engine_main(int argc, char **argv)
{
    static engine_t eng; /* PATH_MAX-sized parts: not on the stack */
    engine_t *e = &eng;
    memset(e, 0, sizeof *e);
    snprintf(e->listen, sizeof e->listen, "%s", ENGINE_HTTP);
    e->idle_s = ENGINE_IDLE_S;
    e->max_streams = ENGINE_MAX_STREAMS;
    chan_list_t ch = { 0 };
    int rc = parse_opts(e, &ch, argc, argv);
    if (rc >= 0) {
        chan_free(&ch);
        return rc;
    }
    ts_log_init("engine", "-");
    char err[512];
    rc = engine_boot(e, &ch, err, sizeof err);
    chan_free(&ch);
    if (rc < 0) {
        fprintf(stderr, "tsctl engine: cannot serve on %s: %s\n", e->listen, err);
        ts_httpd_destroy(&e->http);
        ts_metrics_destroy(&e->metrics);
        engine_end(e);
        return TS_EXIT_FAIL;
    }
    inst_each(stop_leftover, NULL); /* once the port is ours: not another engine's viewers */
    ts_info("engine http://%.*s:%u/ with %zu channels, at most %u streams, idle stop after %.0f s",
            (int)strcspn(e->listen, ":"), e->listen, ts_httpd_port(e->http), e->nchannels, e->max_streams, e->idle_s);
    ev_run(e->loop, 0);
    ts_httpd_destroy(&e->http);
    engine_end(e);
    ts_metrics_destroy(&e->metrics);
    return TS_EXIT_OK;
}
