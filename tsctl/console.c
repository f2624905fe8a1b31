/* tsctl console [--listen ADDR:PORT] [--history SECONDS]: one page for every instance on this host
 * (web/console.html). Each instance's state and stages, with the reason of any stage not ready; a
 * short history kept in memory (lag, last-piece age, peers, viewers, rates, restarts); the swarm's
 * peers with their rates; a broadcast's magnet link; a viewer's player. Every CONSOLE_POLL_S it
 * asks each registered instance's supervisor for its status, as `tsctl status` does. Runs in the
 * foreground until SIGINT or SIGTERM: under systemd, or `tsctl console &`. */
#include "instance.h"
#include "status_render.h"
#include "ts_exit.h"
#include "ts_httpd.h"
#include "ts_log.h"
#include "ts_time.h"
#include "tsctl.h"
#include "webfiles.h"
#include <ev.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONSOLE_POLL_S 2.0
#define CONSOLE_LISTEN "127.0.0.1:9470"
#define CONSOLE_HISTORY_S 600
#define CONSOLE_MAX 256            /* instances shown (inst_each lists at most as many) */
#define CONSOLE_ASK_MS 700         /* a supervisor that does not answer in this long shows as down */

/* One poll of one instance. NAN: not known at that time (no stream yet, not a viewer). */
typedef struct {
    double wall_s;
    int verdict; /* status_verdict: TS_EXIT_OK, _DEGRADED, _DOWN */
    double age_s, lag_s, up_bps, down_bps;
    long long peers, viewers, restarts;
} sample_t;

typedef struct {
    char name[64];
    Ts__Envelope *reply;    /* the supervisor's last answer, or NULL: down */
    Ts__InstanceStatus down; /* what is shown while reply is NULL */
    char dir[512];
    sample_t *hist;          /* ring of nhist */
    size_t head, n;
    int seen;                /* listed by the registry in the last poll */
} entry_t;

typedef struct {
    struct ev_loop *loop;
    ts_httpd_t *http;
    ev_timer poll;
    ev_signal sigint, sigterm;
    entry_t *e[CONSOLE_MAX];
    size_t ne, nhist;
    double history_s;
    char host[256];
} console_t;

/* ------------------------------------------------------------------ polling */

static const Ts__StageStatus *stage_of(const Ts__InstanceStatus *in, const char *name)
{
    for (size_t i = 0; i < in->n_stages; i++)
        if (strcmp(in->stages[i]->name, name) == 0)
            return in->stages[i];
    return NULL;
}

static int counter_of(const Ts__StageStatus *s, const char *name, long long *v)
{
    for (size_t c = 0; s && c < s->n_counters; c++)
        if (strcmp(s->counters[c]->name, name) == 0) {
            *v = (long long)s->counters[c]->value;
            return 1;
        }
    return 0;
}

static sample_t sample_of(const Ts__InstanceStatus *in)
{
    sample_t x = { .wall_s = (double)ts_wall_us() / TS_US_PER_S_F, .verdict = status_verdict(in), .age_s = NAN,
                   .lag_s = NAN, .up_bps = NAN, .down_bps = NAN, .peers = -1, .viewers = -1 };
    if (in->has_last_piece_age_s)
        x.age_s = in->last_piece_age_s;
    if (in->has_up_bps && in->has_down_bps)
        x.up_bps = in->up_bps, x.down_bps = in->down_bps;
    if (in->has_peers)
        x.peers = in->peers;
    if (in->has_viewers)
        x.viewers = in->viewers;
    for (size_t i = 0; i < in->n_stages; i++)
        x.restarts += (long long)in->stages[i]->restarts;
    /* The lag of the last piece handed to players, while pieces come: a stalled stream's last
     * lag would read as current (the age says how stale the stream is instead). */
    long long lag_ms;
    if (counter_of(stage_of(in, "player-bridge"), "lag_ms", &lag_ms) && !isnan(x.age_s) && x.age_s < STATUS_STALL_S)
        x.lag_s = (double)lag_ms / 1e3;
    return x;
}

static entry_t *entry_find(console_t *c, const char *name)
{
    for (size_t i = 0; i < c->ne; i++)
        if (strcmp(c->e[i]->name, name) == 0)
            return c->e[i];
    return NULL;
}

static void entry_free(entry_t **pe)
{
    entry_t *e = *pe;
    if (!e)
        return;
    if (e->reply)
        ts_msg_free(e->reply);
    free(e->hist);
    free(e);
    *pe = NULL;
}

/* inst_each's visit: ask one supervisor, keep its answer and a sample. */
static int poll_one(const char *name, const char *dir, void *arg)
{
    console_t *c = arg;
    entry_t *e = entry_find(c, name);
    if (!e) {
        if (c->ne == CONSOLE_MAX || !(e = calloc(1, sizeof *e)) || !(e->hist = calloc(c->nhist, sizeof *e->hist))) {
            if (e)
                free(e);
            return 0; /* shown once there is room */
        }
        snprintf(e->name, sizeof e->name, "%s", name);
        c->e[c->ne++] = e;
    }
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    e->seen = 1;
    if (e->reply)
        ts_msg_free(e->reply);
    e->reply = inst_supervisor_pid(dir) ? inst_status(dir, CONSOLE_ASK_MS) : NULL;
    ts__instance_status__init(&e->down);
    e->down.name = e->name;
    e->down.state_dir = e->dir;
    e->down.state = "down";
    e->hist[e->head] = sample_of(e->reply ? e->reply->status : &e->down);
    e->head = (e->head + 1) % c->nhist;
    if (e->n < c->nhist)
        e->n++;
    return 0;
}

static void poll_all(console_t *c)
{
    for (size_t i = 0; i < c->ne; i++)
        c->e[i]->seen = 0;
    inst_each(poll_one, c);
    /* Instances gone from the registry (tsctl stop) go from the page, and their history with them. */
    size_t k = 0;
    for (size_t i = 0; i < c->ne; i++) {
        if (c->e[i]->seen)
            c->e[k++] = c->e[i];
        else
            entry_free(&c->e[i]);
    }
    c->ne = k;
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    poll_all(w->data);
}

/* ------------------------------------------------------------------ JSON */

static void json_num(ts_buf_t *b, double v, int decimals)
{
    if (isnan(v) || isinf(v))
        ts_buf_printf(b, "null");
    else
        ts_buf_printf(b, "%.*f", decimals, v);
}

typedef enum { H_T, H_VERDICT, H_AGE, H_LAG, H_UP, H_DOWN, H_PEERS, H_VIEWERS, H_RESTARTS, H_N } hkey_t;
static const char *const hname[H_N] = { "t", "verdict", "age_s", "lag_s", "up_bps", "down_bps", "peers", "viewers",
                                        "restarts" };

static double hval(const sample_t *x, hkey_t k, double now)
{
    switch (k) {
    case H_T:
        return x->wall_s - now;
    case H_VERDICT:
        return x->verdict;
    case H_AGE:
        return x->age_s;
    case H_LAG:
        return x->lag_s;
    case H_UP:
        return x->up_bps;
    case H_DOWN:
        return x->down_bps;
    case H_PEERS:
        return x->peers < 0 ? NAN : (double)x->peers;
    case H_VIEWERS:
        return x->viewers < 0 ? NAN : (double)x->viewers;
    default:
        return (double)x->restarts;
    }
}

/* {"t":[...], "lag_s":[...], ...}: one array per figure, oldest first, t in seconds before now. */
static void json_history(const console_t *c, const entry_t *e, double now, ts_buf_t *b)
{
    ts_buf_putc(b, '{');
    for (int k = 0; k < H_N; k++) {
        ts_buf_printf(b, "%s\"%s\":[", k ? "," : "", hname[k]);
        for (size_t i = 0; i < e->n; i++) {
            const sample_t *x = &e->hist[(e->head + c->nhist - e->n + i) % c->nhist];
            if (i)
                ts_buf_putc(b, ',');
            json_num(b, hval(x, (hkey_t)k, now), k == H_T || k == H_AGE || k == H_LAG ? 2 : 0);
        }
        ts_buf_putc(b, ']');
    }
    ts_buf_putc(b, '}');
}

static void on_json(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    console_t *c = arg;
    double now = (double)ts_wall_us() / TS_US_PER_S_F;
    ts_buf_printf(&r->body, "{\"host\":\"");
    for (const char *p = c->host; *p; p++) /* a host name has no quotes to escape, but make sure */
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            ts_buf_putc(&r->body, *p);
    ts_buf_printf(&r->body, "\",\"poll_s\":%.1f,\"history_s\":%.0f,\"instances\":[", CONSOLE_POLL_S, c->history_s);
    for (size_t i = 0; i < c->ne; i++) {
        entry_t *e = c->e[i];
        Ts__InstanceStatus *in = e->reply ? e->reply->status : &e->down;
        Ts__Status one = TS__STATUS__INIT;
        one.n_instances = 1;
        one.instances = &in;
        ts_buf_printf(&r->body, "%s\n{\"status\":", i ? "," : "");
        status_render(&one, STATUS_JSON_ONE, &r->body);
        ts_buf_printf(&r->body, ",\"history\":");
        json_history(c, e, now, &r->body);
        ts_buf_putc(&r->body, '}');
    }
    ts_buf_printf(&r->body, "%s]}\n", c->ne ? "\n" : "");
    r->content_type = "application/json";
}

static void on_page(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head, (void)arg;
    web_serve(r, "console.html", "text/html; charset=utf-8");
}

/* ------------------------------------------------------------------ main */

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    ts_info("signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl console [--listen ADDR:PORT] [--history SECONDS]\n"
               "Serves one page for every instance on this host (tsctl status's, with history, peers,\n"
               "magnet links and players) until SIGINT or SIGTERM.\n"
               "  --listen ADDR:PORT  where to serve it (default %s; :PORT = 127.0.0.1)\n"
               "  --history SECONDS   how much history to keep in memory per instance (default %d, 60..86400)\n",
            CONSOLE_LISTEN, CONSOLE_HISTORY_S);
}

int console_main(int argc, char **argv)
{
    static const struct option opts[] = { { "listen", required_argument, 0, 'l' },
                                           { "history", required_argument, 0, 'H' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    const char *listen = CONSOLE_LISTEN;
    double history_s = CONSOLE_HISTORY_S;
    char listen_buf[300];
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'l':
            if (inst_metrics_addr(optarg, listen_buf, sizeof listen_buf) < 0) {
                fprintf(stderr, "tsctl console: bad --listen '%s' (ADDR:PORT or :PORT, port 1..65535)\n", optarg);
                return tsctl_usage_error("console");
            }
            listen = listen_buf;
            break;
        case 'H':
            history_s = strtod(optarg, &end);
            if (end == optarg || *end || !(history_s >= 60 && history_s <= 86400)) {
                fprintf(stderr, "tsctl console: bad --history '%s' (seconds, 60..86400)\n", optarg);
                return tsctl_usage_error("console");
            }
            break;
        case 'h':
            usage(stdout);
            return TS_EXIT_OK;
        default:
            fprintf(stderr, "tsctl console: unknown option '%s'\n", argv[optind - 1]);
            return tsctl_usage_error("console");
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tsctl console: unexpected argument '%s'\n", argv[optind]);
        return tsctl_usage_error("console");
    }
    ts_log_init("console", "-");
    console_t *c = calloc(1, sizeof *c);
    if (!c)
        return TS_EXIT_FAIL;
    c->loop = ev_default_loop(EVFLAG_AUTO);
    c->history_s = history_s;
    c->nhist = (size_t)(history_s / CONSOLE_POLL_S) + 1;
    gethostname(c->host, sizeof c->host - 1);
    char err[256];
    if (!(c->http = ts_httpd_new(c->loop, listen, err, sizeof err))) {
        fprintf(stderr, "tsctl console: cannot serve on %s: %s\n", listen, err);
        free(c);
        return TS_EXIT_FAIL;
    }
    ts_httpd_route(c->http, "/", on_page, c);
    ts_httpd_route(c->http, "/console.html", on_page, c);
    web_route_player(c->http);
    ts_httpd_route(c->http, "/console.json", on_json, c);
    ts_httpd_route_livez(c->http, "/livez");
    ev_timer_init(&c->poll, on_poll, 0., CONSOLE_POLL_S);
    c->poll.data = c;
    ev_timer_start(c->loop, &c->poll);
    ev_signal_init(&c->sigint, on_signal, SIGINT);
    ev_signal_init(&c->sigterm, on_signal, SIGTERM);
    ev_signal_start(c->loop, &c->sigint);
    ev_signal_start(c->loop, &c->sigterm);
    char root[512];
    inst_root(root, sizeof root);
    ts_info("console http://%.*s:%u/ for the instances under %s", (int)strcspn(listen, ":"), listen,
            ts_httpd_port(c->http), root);
    ev_run(c->loop, 0);
    ts_httpd_destroy(&c->http);
    for (size_t i = 0; i < c->ne; i++)
        entry_free(&c->e[i]);
    free(c);
    return TS_EXIT_OK;
}
