/* The supervisor's HTTP face and the figures an operator asks for first.
 *
 *   /             the status page (web/status.html): every stage, its state and key figures,
 *                 refreshed each second from /status.json; for a viewer, the stream playing in a
 *                 <video> through mpegts.js (web/node_modules, installed by deploy/setup.sh)
 *   /status.json  this instance as `tsctl status --json` prints it
 *   /metrics      Prometheus text: restarts, state and last heartbeat per stage, stream flow
 *   /livez        the supervisor's loop turns; /readyz: every stage is ready
 *
 * Flow: the highest seq any stage reports (seq, last_seq); "last new piece" is when it last grew.
 * Rates: the swarm's bytes_up/bytes_down over the last few heartbeats. Restarts in the last hour:
 * a ring of restart times per stage. All on the monotonic clock. */
#include "supervise.h"
#include "ts_err.h"
#include "ts_httpd.h"
#include "ts_log.h"
#include "ts_metrics.h"
#include "ts_time.h"
#include "ts_version.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TS_WEB_DIR_DEFAULT
#define TS_WEB_DIR_DEFAULT "web"
#endif
#define RATE_SAMPLES 8           /* heartbeats (about 1 s apart) the rates average over */
#define RESTART_RING 64          /* restart times kept per stage */
#define HOUR_NS (3600ull * 1000000000)
#define WEB_FILE_MAX (8u << 20)  /* the largest file the page may need (mpegts.js is ~0.5 MiB) */


typedef struct {
    sup_t *s;
    proc_t *p;
    sstate_t state;
} state_arg_t;

struct health {
    ts_metrics_t *reg;
    ts_httpd_t *http;
    char url[96], web_dir[512];
    int has_seq;
    uint64_t max_seq, last_new_ns;
    struct {
        uint64_t t, up, down;
    } samp[RATE_SAMPLES];
    int nsamp;
    uint64_t restart_t[4][RESTART_RING];
    int nrestart[4];
    state_arg_t sargs[4][S_NSTATES];
};

static int64_t counter(const proc_t *p, const char *name, int *found)
{
    for (int i = 0; i < p->ncounters; i++)
        if (strcmp(p->cname[i], name) == 0) {
            if (found)
                *found = 1;
            return p->cval[i];
        }
    if (found)
        *found = 0;
    return 0;
}

static proc_t *proc_named(sup_t *s, const char *name)
{
    for (int i = 0; i < s->nprocs; i++)
        if (strcmp(s->procs[i].name, name) == 0)
            return &s->procs[i];
    return NULL;
}

/* ------------------------------------------------------------------ figures */

void health_on_beat(sup_t *s, proc_t *p)
{
    struct health *h = s->health;
    if (!h)
        return;
    uint64_t now = ts_mono_ns();
    static const char *seqs[] = { "seq", "last_seq" };
    for (size_t i = 0; i < 2; i++) {
        int found;
        int64_t v = counter(p, seqs[i], &found);
        if (!found || v <= 0)
            continue;
        if (!h->has_seq) { /* the first figure is a baseline, not a new piece */
            h->has_seq = 1;
            h->max_seq = (uint64_t)v;
        } else if ((uint64_t)v > h->max_seq) {
            h->max_seq = (uint64_t)v;
            h->last_new_ns = now;
        }
    }
    if (strcmp(p->name, "swarm") == 0) {
        uint64_t up = (uint64_t)counter(p, "bytes_up", NULL), down = (uint64_t)counter(p, "bytes_down", NULL);
        /* A restarted swarm counts from 0 again: start the samples afresh. */
        if (h->nsamp && (up < h->samp[h->nsamp - 1].up || down < h->samp[h->nsamp - 1].down))
            h->nsamp = 0;
        if (h->nsamp == RATE_SAMPLES) {
            memmove(&h->samp[0], &h->samp[1], sizeof h->samp[0] * (RATE_SAMPLES - 1));
            h->nsamp--;
        }
        h->samp[h->nsamp].t = now;
        h->samp[h->nsamp].up = up;
        h->samp[h->nsamp].down = down;
        h->nsamp++;
    }
}

void health_on_restart(sup_t *s, proc_t *p)
{
    struct health *h = s->health;
    if (!h)
        return;
    int i = (int)(p - s->procs);
    if (i < 0 || i >= 4)
        return;
    h->restart_t[i][h->nrestart[i] % RESTART_RING] = ts_mono_ns();
    h->nrestart[i]++;
}

static int restarts_1h(const struct health *h, int i, uint64_t now)
{
    int n = 0, kept = h->nrestart[i] < RESTART_RING ? h->nrestart[i] : RESTART_RING;
    for (int k = 0; k < kept; k++)
        if (now - h->restart_t[i][k] < HOUR_NS)
            n++;
    return n;
}

/* bits per second over the samples, or -1 if there are too few */
static void rates(const struct health *h, double *up, double *down)
{
    *up = *down = -1;
    if (h->nsamp < 2)
        return;
    double dt = (double)(h->samp[h->nsamp - 1].t - h->samp[0].t) / 1e9;
    if (dt <= 0)
        return;
    *up = (double)(h->samp[h->nsamp - 1].up - h->samp[0].up) * 8 / dt;
    *down = (double)(h->samp[h->nsamp - 1].down - h->samp[0].down) * 8 / dt;
}

static double piece_age(const struct health *h)
{
    return h->last_new_ns ? (double)(ts_mono_ns() - h->last_new_ns) / 1e9 : NAN;
}

void health_json(sup_t *s, ts_buf_t *b)
{
    struct health *h = s->health;
    if (!h)
        return;
    uint64_t now = ts_mono_ns();
    ts_buf_printf(b, "\"status_url\":\"%s\",", h->url);
    double age = piece_age(h);
    if (isnan(age))
        ts_buf_printf(b, "\"last_piece_age_s\":null,");
    else
        ts_buf_printf(b, "\"last_piece_age_s\":%.1f,", age);
    proc_t *sw = proc_named(s, "swarm"), *br = proc_named(s, "player-bridge");
    if (sw) {
        int found;
        ts_buf_printf(b, "\"peers\":%lld,", (long long)counter(sw, "peers", NULL));
        int64_t tp = counter(sw, "tracker_peers", &found);
        const char *role = inst_get(&s->inst, "role");
        if (role && strcmp(role, "broadcast") == 0)
            ts_buf_printf(b, "\"viewers\":%lld,", (long long)(found ? tp : counter(sw, "peers", NULL)));
    }
    if (br)
        ts_buf_printf(b, "\"viewers\":%lld,", (long long)counter(br, "http_clients", NULL));
    double up, down;
    rates(h, &up, &down);
    if (up >= 0)
        ts_buf_printf(b, "\"up_bps\":%.0f,\"down_bps\":%.0f,", up, down);
    int total = 0;
    for (int i = 0; i < s->nprocs; i++)
        total += restarts_1h(h, i, now);
    ts_buf_printf(b, "\"restarts_1h\":%d,", total);
}

void health_stage_json(sup_t *s, proc_t *p, ts_buf_t *b)
{
    struct health *h = s->health;
    if (!h)
        return;
    int found;
    int64_t port = counter(p, "metrics_port", &found);
    if (found && port > 0 && (p->state == S_READY || p->state == S_STARTING))
        ts_buf_printf(b, ",\"metrics_url\":\"http://127.0.0.1:%lld/metrics\"", (long long)port);
    ts_buf_printf(b, ",\"restarts_1h\":%d", restarts_1h(h, (int)(p - s->procs), ts_mono_ns()));
}

/* ------------------------------------------------------------------ metrics */

static double f_state(void *arg)
{
    const state_arg_t *a = arg;
    return a->p->state == a->state ? 1 : 0;
}

static double f_beat(void *arg)
{
    const proc_t *p = arg;
    if (!p->last_beat_ns)
        return 0;
    return (double)ts_wall_us() / 1e6 - (double)(ts_mono_ns() - p->last_beat_ns) / 1e9;
}

static double f_age(void *arg)
{
    sup_t *s = arg;
    return piece_age(s->health);
}

static int add_metrics(sup_t *s, struct health *h)
{
    const char *labels[] = { "instance", inst_get(&s->inst, "name"), NULL };
    if (!(h->reg = ts_metrics_new(labels)))
        return -1;
    ts_metrics_build_info(h->reg, TS_VERSION, ts_version_commit());
    ts_metrics_gauge_fn(h->reg, "ts_last_piece_age_seconds",
                        "Seconds since the highest sequence number any stage reports last grew (NaN: none yet).",
                        NULL, f_age, s);
    for (int i = 0; i < s->nprocs; i++) {
        proc_t *p = &s->procs[i];
        const char *sl[] = { "stage", p->name, NULL };
        ts_metrics_counter_ptr(h->reg, "ts_stage_restarts_total", "Restarts of the stage since the supervisor started.",
                               sl, &p->restarts);
        ts_metrics_gauge_fn(h->reg, "ts_stage_last_heartbeat_timestamp_seconds",
                            "Wall-clock time of the stage's last heartbeat (0: none yet).", sl, f_beat, p);
        for (int st = 0; st < S_NSTATES; st++) {
            state_arg_t *a = &h->sargs[i][st];
            a->s = s;
            a->p = p;
            a->state = (sstate_t)st;
            const char *ll[] = { "stage", p->name, "state", sup_state_name[st], NULL };
            ts_metrics_gauge_fn(h->reg, "ts_stage_state", "1 for the state the stage is in, 0 for the others.", ll,
                                f_state, a);
        }
    }
    if (ts_metrics_error(h->reg)) {
        ts_error("supervisor metrics: %s", ts_metrics_error(h->reg));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ HTTP */

static void serve_file(struct health *h, const char *rel, const char *type, ts_httpd_resp_t *r)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", h->web_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)WEB_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        r->status = 404;
        ts_buf_printf(&r->body, "%s: not installed (deploy/setup.sh installs it; TS_WEB_DIR moves it)\n", path);
        return;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ts_buf_put(&r->body, buf, (size_t)n);
    close(fd);
    r->content_type = type;
}

static void on_page(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    serve_file(((sup_t *)arg)->health, "status.html", "text/html; charset=utf-8", r);
}

static void on_js(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    serve_file(((sup_t *)arg)->health, "node_modules/mpegts.js/dist/mpegts.js", "text/javascript; charset=utf-8", r);
}

static void on_json(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    sup_status_json(arg, &r->body);
    r->content_type = "application/json";
}

static int all_ready(void *arg, char *why, size_t whylen)
{
    sup_t *s = arg;
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i].state != S_READY) {
            snprintf(why, whylen, "%s is %s", s->procs[i].name, sup_state_name[s->procs[i].state]);
            return 0;
        }
    return 1;
}

int health_new(sup_t *s, char *err, size_t errlen)
{
    struct health *h = calloc(1, sizeof *h);
    if (!h)
        return ts_err(err, errlen, "out of memory");
    const char *wd = getenv("TS_WEB_DIR");
    snprintf(h->web_dir, sizeof h->web_dir, "%s", wd && *wd ? wd : TS_WEB_DIR_DEFAULT);
    /* The port is kept in instance.conf so a restarted supervisor serves where it did; the
     * first time (or if another process took it since) the kernel picks one: binding port 0 is
     * atomic, where probing for a free port and binding it later races other processes. */
    const char *addr = inst_get(&s->inst, "status_http");
    char e[256];
    if (add_metrics(s, h) < 0) {
        ts_metrics_destroy(&h->reg);
        free(h);
        return ts_err(err, errlen, "supervisor metrics");
    }
    if (!addr || !(h->http = ts_httpd_new(s->loop, addr, e, sizeof e))) {
        if (addr)
            ts_warn("status page: %s: %s; taking another port", addr, e);
        if (!(h->http = ts_httpd_new(s->loop, "127.0.0.1:0", e, sizeof e))) {
            ts_metrics_destroy(&h->reg);
            free(h);
            return ts_err(err, errlen, "status page: %s", e);
        }
        inst_set(&s->inst, "status_http", "127.0.0.1:%u", ts_httpd_port(h->http));
        if (inst_save(&s->inst) < 0)
            ts_warn("cannot record the status page's port in %s/instance.conf", s->inst.dir);
        addr = NULL;
    }
    if (addr && strncmp(addr, "127.0.0.1:", 10) != 0 && strncmp(addr, "0.0.0.0:", 8) != 0 && addr[0] != ':')
        snprintf(h->url, sizeof h->url, "http://%s/", addr);
    else
        snprintf(h->url, sizeof h->url, "http://127.0.0.1:%u/", ts_httpd_port(h->http));
    ts_httpd_route(h->http, "/", on_page, s);
    ts_httpd_route(h->http, "/status.html", on_page, s);
    ts_httpd_route(h->http, "/mpegts.js", on_js, s);
    ts_httpd_route(h->http, "/status.json", on_json, s);
    ts_httpd_route_metrics(h->http, "/metrics", h->reg);
    ts_httpd_route_livez(h->http, "/livez");
    ts_httpd_route_readyz(h->http, "/readyz", all_ready, s);
    s->health = h;
    ts_info("status page %s (metrics %smetrics)", h->url, h->url);
    return 0;
}

void health_destroy(sup_t *s)
{
    struct health *h = s->health;
    if (!h)
        return;
    ts_httpd_destroy(&h->http);
    ts_metrics_destroy(&h->reg);
    free(h);
    s->health = NULL;
}
