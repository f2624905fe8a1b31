#include "sup_http.h"
#include "health.h"
#include "status_render.h"
#include "sup_status.h"
#include "ts_err.h"
#include "ts_httpd.h"
#include "ts_log.h"
#include "ts_metrics.h"
#include "ts_metrics_merge.h"
#include "ts_metrics_process.h"
#include "ts_time.h"
#include "ts_version.h"
#include "webfiles.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


typedef struct {
    proc_t *p;
    const char *state; /* as sup_status_state names it */
} state_arg_t;

struct sup_http {
    ts_metrics_t *reg;
    ts_httpd_t *http;
    state_arg_t sargs[SUP_MAX_PROCS][S_NSTATES + 1]; /* the table's states and "unready" */
    char *stage_text[SUP_MAX_PROCS]; /* each stage's /metrics, from its last heartbeat */
    char file_sd[600];               /* the Prometheus target file we wrote, "" if none */
};

/* ------------------------------------------------------------------ metrics */

static double f_state(void *arg)
{
    const state_arg_t *a = arg;
    const char *reason;
    return strcmp(sup_status_state(a->p, &reason), a->state) == 0 ? 1 : 0;
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
    const char *labels[] = { "stream", inst_get(&s->inst, "name"), NULL };
    if (!(h->reg = ts_metrics_new(labels)))
        return -1;
    ts_metrics_build_info(h->reg, TS_VERSION, ts_version_commit());
    if (ts_metrics_process(h->reg, (const char *[]){ "stage", "supervisor", NULL }) < 0)
        ts_warn("supervisor process metrics: %s", ts_metrics_error(h->reg));
    ts_metrics_gauge_fn(h->reg, "tstream_last_piece_age_seconds",
                        "Seconds since the highest sequence number any stage reports last grew (NaN: none yet).",
                        NULL, f_age, s);
    for (int i = 0; i < s->nprocs; i++) {
        proc_t *p = &s->procs[i];
        const char *sl[] = { "stage", p->name, NULL };
        ts_metrics_counter_ptr(h->reg, "tstream_stage_restarts_total",
                               "Restarts of the stage since the supervisor started.", sl, &p->restarts);
        ts_metrics_gauge_fn(h->reg, "tstream_stage_last_heartbeat_timestamp_seconds",
                            "Wall-clock time of the stage's last heartbeat (0: none yet).", sl, f_beat, p);
        for (int st = 0; st <= S_NSTATES; st++) {
            state_arg_t *a = &h->sargs[i][st];
            a->p = p;
            a->state = st < S_NSTATES ? sup_state_name[st] : SUP_STATE_UNREADY;
            const char *ll[] = { "stage", p->name, "state", a->state, NULL };
            ts_metrics_gauge_fn(h->reg, "tstream_stage_state", "1 for the state the stage is in, 0 for the others.", ll,
                                f_state, a);
        }
    }
    if (ts_metrics_error(h->reg)) {
        ts_error("supervisor metrics: %s", ts_metrics_error(h->reg));
        return -1;
    }
    return 0;
}

/* Our own series, then every stage's from its last heartbeat, merged: the instance's one scrape
 * target, at a port kept across restarts (instance.conf). A stage being restarted keeps its last
 * series meanwhile, so a restart loses none; a failed or stopped one has none (tstream_stage_state
 * says which). */
static void on_metrics(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    sup_t *s = arg;
    struct sup_http *h = s->http;
    const char *texts[SUP_MAX_PROCS + 1];
    size_t n = 0;
    ts_buf_t own;
    ts_buf_init(&own);
    ts_metrics_render(h->reg, &own);
    ts_buf_putc(&own, 0);
    if (!own.err)
        texts[n++] = (const char *)own.data;
    for (int i = 0; i < s->nprocs; i++)
        if (h->stage_text[i] && s->procs[i].state != S_FAILED && s->procs[i].state != S_DOWN)
            texts[n++] = h->stage_text[i];
    if (ts_metrics_merge(texts, n, &r->body) < 0) {
        r->status = 500;
        ts_buf_printf(&r->body, "out of memory\n");
    } else {
        r->content_type = TS_METRICS_CONTENT_TYPE;
    }
    ts_buf_free(&own);
}

void sup_http_stage_metrics(sup_t *s, const proc_t *p, const char *text)
{
    struct sup_http *h = s->http;
    int i = (int)(p - s->procs);
    char *copy;
    if (!h || i < 0 || i >= s->nprocs || !(copy = strdup(text)))
        return;
    free(h->stage_text[i]);
    h->stage_text[i] = copy;
}

/* ROOT/prometheus/NAME.json, a Prometheus file_sd target list naming our /metrics: Prometheus
 * finds every instance there (file_sd_configs, docs/OPERATIONS.md) and follows a port change. The
 * target's instance label is HOST/NAME, not the address, so its series stay the same series if
 * the port changes. Written atomically; removed when the supervisor stops. */
static void write_file_sd(sup_t *s, struct sup_http *h)
{
    char root[512], dir[560], tmp[620], host[256] = "localhost";
    const char *url = s->status_url + strlen("http://"), *name = inst_get(&s->inst, "name");
    inst_root(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/prometheus", root);
    if (!name || strncmp(s->status_url, "http://", 7) != 0 || inst_mkdirs(dir, 0755) < 0)
        return;
    gethostname(host, sizeof host - 1);
    snprintf(h->file_sd, sizeof h->file_sd, "%s/%s.json", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", h->file_sd);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "[{\"targets\":[\"%.*s\"],\"labels\":{\"instance\":\"%s/%s\"}}]\n",
                          (int)strcspn(url, "/"), url, host, name) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, h->file_sd) < 0) {
        ts_warn("cannot write %s: %s", h->file_sd, strerror(errno));
        unlink(tmp);
        h->file_sd[0] = 0;
    }
}

/* ------------------------------------------------------------------ HTTP */

static void on_page(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head;
    (void)arg;
    web_serve(r, "status.html", "text/html; charset=utf-8");
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

/* Every stage shown ready: the same judgement as tsctl status makes of each. */
static int all_ready(void *arg, char *why, size_t whylen)
{
    sup_t *s = arg;
    for (int i = 0; i < s->nprocs; i++) {
        const char *reason, *st = sup_status_state(&s->procs[i], &reason);
        if (strcmp(st, "ready") != 0) {
            snprintf(why, whylen, "%s is %s%s%s", s->procs[i].name, st, reason ? ": " : "", reason ? reason : "");
            return 0;
        }
    }
    return 1;
}

int sup_http_new(sup_t *s, char *err, size_t errlen)
{
    struct sup_http *h = calloc(1, sizeof *h);
    if (!h)
        return ts_err(err, errlen, "out of memory");
    /* The port is kept in instance.conf so a restarted supervisor serves where it did; the
     * first time (or if another process took it since) the kernel picks one: binding port 0 is
     * atomic, where probing for a free port and binding it later races other processes. */
    const char *fixed = inst_get(&s->inst, "metrics"), *addr = fixed ? fixed : inst_get(&s->inst, "status_http");
    char e[256];
    if (add_metrics(s, h) < 0) {
        ts_metrics_destroy(&h->reg);
        free(h);
        return ts_err(err, errlen, "supervisor metrics");
    }
    if (!addr || !(h->http = ts_httpd_new(s->loop, addr, e, sizeof e))) {
        if (addr)
            ts_warn("status page: %s%s: %s; taking another port", fixed ? "--metrics " : "", addr, e);
        if (!(h->http = ts_httpd_new(s->loop, "127.0.0.1:0", e, sizeof e))) {
            ts_metrics_destroy(&h->reg);
            free(h);
            return ts_err(err, errlen, "status page: %s", e);
        }
        /* The port chosen by --metrics stays the one to try at the next start. */
        inst_set(&s->inst, "status_http", "127.0.0.1:%u", ts_httpd_port(h->http));
        if (!fixed && inst_save(&s->inst) < 0)
            ts_warn("cannot record the status page's port in %s/instance.conf", s->inst.dir);
        addr = NULL;
    }
    if (addr && strncmp(addr, "127.0.0.1:", 10) != 0 && strncmp(addr, "0.0.0.0:", 8) != 0 && addr[0] != ':')
        snprintf(s->status_url, sizeof s->status_url, "http://%s/", addr);
    else
        snprintf(s->status_url, sizeof s->status_url, "http://127.0.0.1:%u/", ts_httpd_port(h->http));
    ts_httpd_route(h->http, "/", on_page, s);
    ts_httpd_route(h->http, "/status.html", on_page, s);
    web_route_player(h->http);
    ts_httpd_route(h->http, "/status.json", on_json, s);
    ts_httpd_route(h->http, "/metrics", on_metrics, s);
    ts_httpd_route_livez(h->http, "/livez");
    ts_httpd_route_readyz(h->http, "/readyz", all_ready, s);
    s->http = h;
    write_file_sd(s, h);
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
    for (int i = 0; i < SUP_MAX_PROCS; i++)
        free(h->stage_text[i]);
    if (h->file_sd[0])
        unlink(h->file_sd);
    free(h);
    s->http = NULL;
    s->status_url[0] = 0;
}
