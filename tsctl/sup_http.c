#include "sup_http.h"
#include "health.h"
#include "status_render.h"
#include "sup_status.h"
#include "ts_err.h"
#include "ts_httpd.h"
#include "ts_log.h"
#include "ts_metrics.h"
#include "ts_time.h"
#include "ts_version.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TS_WEB_DIR_DEFAULT
#define TS_WEB_DIR_DEFAULT "web"
#endif
#define WEB_FILE_MAX (8u << 20) /* the largest file the page may need (mpegts.js is ~0.5 MiB) */

typedef struct {
    proc_t *p;
    sstate_t state;
} state_arg_t;

struct sup_http {
    ts_metrics_t *reg;
    ts_httpd_t *http;
    char web_dir[512];
    state_arg_t sargs[SUP_MAX_PROCS][S_NSTATES];
};

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
    return (double)ts_wall_us() / TS_US_PER_S_F - ts_ns_to_s(ts_mono_ns() - p->last_beat_ns);
}

static double f_age(void *arg) { return health_piece_age(arg); }

static int add_metrics(sup_t *s, struct sup_http *h)
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

static void serve_file(struct sup_http *h, const char *rel, const char *type, ts_httpd_resp_t *r)
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
    serve_file(((sup_t *)arg)->http, "status.html", "text/html; charset=utf-8", r);
}

static void on_js(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    serve_file(((sup_t *)arg)->http, "node_modules/mpegts.js/dist/mpegts.js", "text/javascript; charset=utf-8", r);
}

static void on_json(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    sup_status_t st;
    sup_status_fill(arg, &st);
    Ts__InstanceStatus *one = &st.in;
    Ts__Status all = TS__STATUS__INIT;
    all.n_instances = 1;
    all.instances = &one;
    status_render(&all, STATUS_JSON_ONE, &r->body);
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

int sup_http_new(sup_t *s, char *err, size_t errlen)
{
    struct sup_http *h = calloc(1, sizeof *h);
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
        snprintf(s->status_url, sizeof s->status_url, "http://%s/", addr);
    else
        snprintf(s->status_url, sizeof s->status_url, "http://127.0.0.1:%u/", ts_httpd_port(h->http));
    ts_httpd_route(h->http, "/", on_page, s);
    ts_httpd_route(h->http, "/status.html", on_page, s);
    ts_httpd_route(h->http, "/mpegts.js", on_js, s);
    ts_httpd_route(h->http, "/status.json", on_json, s);
    ts_httpd_route_metrics(h->http, "/metrics", h->reg);
    ts_httpd_route_livez(h->http, "/livez");
    ts_httpd_route_readyz(h->http, "/readyz", all_ready, s);
    s->http = h;
    ts_info("status page %s (metrics %smetrics)", s->status_url, s->status_url);
    return 0;
}

void sup_http_destroy(sup_t *s)
{
    struct sup_http *h = s->http;
    if (!h)
        return;
    ts_httpd_destroy(&h->http);
    ts_metrics_destroy(&h->reg);
    free(h);
    s->http = NULL;
    s->status_url[0] = 0;
}
