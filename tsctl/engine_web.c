#include "engine_web.h"
#include "status_render.h"
#include "ts_err.h"
#include "ts_metrics_process.h"
#include "ts_version.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const engine_reject_names[R_N] = { "bad_request",    "unknown_stream", "max_streams", "max_players",
                                               "magnet_refused", "start_failed",   "method",      "max_connections" };

const char *engine_state_name(sstate_t st)
{
    static const char *const names[] = { "idle", "starting", "running", "stopping" };
    return names[st];
}

unsigned engine_running(const engine_t *e)
{
    unsigned n = 0;
    for (size_t i = 0; i < e->ns; i++)
        n += e->s[i]->st != S_IDLE;
    return n;
}

/* The viewer's health as `tsctl status` judges it: running, degraded, down; "" while not running. */
static const char *health(const stream_t *s)
{
    if (s->st != S_RUNNING)
        return "";
    if (!s->status || !s->status->status)
        return "down";
    int v = status_verdict(s->status->status);
    return v == 0 ? "running" : v == 3 ? "degraded" : "down";
}

/* The host players should use: the request's Host header if it is a plain host[:port], else
 * the address served on. */
static void host_of(const engine_t *e, const ts_http_req_t *req, const uint8_t *head, char *out, size_t len)
{
    const char *v;
    size_t n;
    if (ts_http_header(head, req, "Host", &v, &n) == 0 && n > 0 && n < len && n < 256 &&
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") >= n) {
        snprintf(out, len, "%.*s", (int)n, v);
        return;
    }
    if (strncmp(e->listen, "0.0.0.0:", 8) == 0)
        snprintf(out, len, "127.0.0.1:%u", ts_httpd_port(e->http));
    else
        snprintf(out, len, "%.*s:%u", (int)strcspn(e->listen, ":"), e->listen, ts_httpd_port(e->http));
}

static void json_str(ts_buf_t *b, const char *s)
{
    ts_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            ts_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            ts_buf_printf(b, "\\u%04x", c);
        else
            ts_buf_putc(b, c);
    }
    ts_buf_putc(b, '"');
}

static void html_str(ts_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': ts_buf_printf(b, "&lt;"); break;
        case '>': ts_buf_printf(b, "&gt;"); break;
        case '&': ts_buf_printf(b, "&amp;"); break;
        case '"': ts_buf_printf(b, "&quot;"); break;
        default: ts_buf_putc(b, (uint8_t)*s);
        }
    }
}

static void on_json(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    const engine_t *e = arg;
    ts_buf_t *b = &r->body;
    ts_buf_printf(b, "{\"max_streams\":%u,\"idle_s\":%.0f,\"running\":%u,\"players\":%zu,\"streams\":[", e->max_streams,
                  e->idle_s, engine_running(e), e->nplayers);
    for (size_t i = 0; i < e->ns; i++) {
        const stream_t *s = e->s[i];
        const Ts__InstanceStatus *in = s->status ? s->status->status : NULL;
        ts_buf_printf(b, "%s\n{\"name\":", i ? "," : "");
        json_str(b, s->ch.name);
        ts_buf_printf(b, ",\"group\":");
        json_str(b, s->ch.group);
        ts_buf_printf(b, ",\"tvg_id\":");
        json_str(b, s->ch.tvg_id);
        ts_buf_printf(b,
                      ",\"infohash\":\"%s\",\"url\":\"/watch/%s.ts\",\"source\":\"%s\",\"state\":\"%s\","
                      "\"instance\":\"%s\",\"players\":%zu,\"http_clients\":%lld,\"health\":\"%s\",\"starts\":%llu",
                      s->ih, s->ih, s->ch.is_magnet ? "magnet" : "tstream", engine_state_name(s->st), s->inst,
                      s->nplayers, s->http_clients, health(s), (unsigned long long)s->starts);
        if (in && in->has_last_piece_age_s && isfinite(in->last_piece_age_s)) /* none yet: +Inf */
            ts_buf_printf(b, ",\"last_piece_age_s\":%.1f", in->last_piece_age_s);
        if (in && in->has_peers)
            ts_buf_printf(b, ",\"peers\":%lld", (long long)in->peers);
        ts_buf_printf(b, ",\"error\":");
        json_str(b, s->error);
        ts_buf_putc(b, '}');
    }
    ts_buf_printf(b, "%s]}\n", e->ns ? "\n" : "");
    r->content_type = "application/json";
}

static void on_playlist(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    const engine_t *e = arg;
    char host[300];
    host_of(e, req, head, host, sizeof host);
    ts_buf_printf(&r->body, "#EXTM3U\n");
    for (size_t i = 0; i < e->ns; i++) {
        const stream_t *s = e->s[i];
        /* Fields hold no '"' nor line ends (channels.c, and a magnet's dn is tamed when added). */
        ts_buf_printf(&r->body,
                      "#EXTINF:-1 tvg-id=\"%s\" tvg-name=\"%s\" group-title=\"%s\",%s\nhttp://%s/watch/%s.ts\n",
                      s->ch.tvg_id, s->ch.name, s->ch.group, s->ch.name, host, s->ih);
    }
    r->content_type = "audio/x-mpegurl; charset=utf-8";
}

static void on_page(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    const engine_t *e = arg;
    ts_buf_t *b = &r->body;
    ts_buf_printf(b,
                  "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">"
                  "<title>tstream engine</title><style>body{font-family:sans-serif;margin:1.5em}"
                  "table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ccc;text-align:left}"
                  ".running{color:#070}.degraded{color:#a60}.down{color:#b00}</style></head><body>"
                  "<h1>tstream engine</h1><p>%u of at most %u streams running · %zu players · idle stop after %.0f s · "
                  "<a href=\"/playlist.m3u\">playlist.m3u</a> · <a href=\"/engine.json\">engine.json</a> · "
                  "<a href=\"/metrics\">metrics</a></p><table><tr><th>channel</th><th>group</th><th>state</th>"
                  "<th>viewer</th><th>players</th><th>health</th><th>last piece</th><th>peers</th><th>note</th></tr>",
                  engine_running(e), e->max_streams, e->nplayers, e->idle_s);
    for (size_t i = 0; i < e->ns; i++) {
        const stream_t *s = e->s[i];
        const Ts__InstanceStatus *in = s->status ? s->status->status : NULL;
        ts_buf_printf(b, "<tr><td><a href=\"/watch/%s.ts\">", s->ih);
        html_str(b, s->ch.name);
        ts_buf_printf(b, "</a></td><td>");
        html_str(b, s->ch.group);
        ts_buf_printf(b, "</td><td>%s</td><td>%s</td><td>%zu</td><td class=\"%s\">%s</td><td>",
                      engine_state_name(s->st), s->st == S_IDLE ? "" : s->inst, s->nplayers, health(s), health(s));
        if (s->st == S_RUNNING && in && in->has_last_piece_age_s && isfinite(in->last_piece_age_s))
            ts_buf_printf(b, "%.1f s ago", in->last_piece_age_s);
        ts_buf_printf(b, "</td><td>");
        if (s->st == S_RUNNING && in && in->has_peers)
            ts_buf_printf(b, "%lld", (long long)in->peers);
        ts_buf_printf(b, "</td><td>");
        html_str(b, s->error);
        ts_buf_printf(b, "</td></tr>");
    }
    ts_buf_printf(b, "</table></body></html>\n");
    r->content_type = "text/html; charset=utf-8";
}

static double m_running(void *arg) { return engine_running(arg); }
static double m_known(void *arg) { return (double)((engine_t *)arg)->ns; }
static double m_players(void *arg) { return (double)((engine_t *)arg)->nplayers; }

int engine_web_setup(engine_t *e, char *err, size_t errlen)
{
    ts_metrics_t *m = e->metrics = ts_metrics_new(NULL);
    if (!m)
        return ts_err(err, errlen, "out of memory");
    int ok = ts_metrics_build_info(m, TS_VERSION, ts_version_commit()) == 0 && ts_metrics_process(m, NULL) == 0;
    ok = ok && ts_metrics_gauge_fn(m, "tstream_engine_streams_running",
                                   "viewers up or on their way (starting, running, stopping); at most --max-streams",
                                   NULL, m_running, e);
    ok = ok && ts_metrics_gauge_fn(m, "tstream_engine_streams_known",
                                   "streams known: the channel list and magnets started", NULL, m_known, e);
    ok = ok &&
         ts_metrics_gauge_fn(m, "tstream_engine_players", "player connections, waiting or relayed", NULL, m_players, e);
    ok = ok && ts_metrics_counter_ptr(m, "tstream_engine_starts_total", "viewers started", NULL, &e->starts);
    ok = ok && ts_metrics_counter_ptr(m, "tstream_engine_start_failures_total", "viewers that failed to start", NULL,
                                      &e->start_failures);
    ok = ok && ts_metrics_counter_ptr(m, "tstream_engine_idle_stops_total",
                                      "viewers stopped after --idle seconds unwatched", NULL, &e->idle_stops);
    ok = ok && ts_metrics_counter_ptr(m, "tstream_engine_players_dropped_total",
                                      "players dropped for not taking the stream", NULL, &e->dropped);
    ok = ok && ts_metrics_counter_ptr(m, "tstream_engine_player_bytes_total",
                                      "bytes relayed to players whose connection ended", NULL, &e->bytes);
    for (int i = 0; ok && i < R_N; i++)
        ok =
            ts_metrics_counter_ptr(m, "tstream_engine_requests_rejected_total", "requests refused, by reason",
                                   (const char *[]){ "reason", engine_reject_names[i], NULL }, &e->rejected[i]) != NULL;
    if (!ok)
        return ts_err(err, errlen, "metrics: %s", ts_metrics_error(m));
    if (ts_httpd_route(e->http, "/", on_page, e) < 0 || ts_httpd_route(e->http, "/engine.json", on_json, e) < 0 ||
        ts_httpd_route(e->http, "/playlist.m3u", on_playlist, e) < 0 ||
        ts_httpd_route_metrics(e->http, "/metrics", m) < 0 || ts_httpd_route_livez(e->http, "/livez") < 0)
        return ts_err(err, errlen, "routes");
    return 0;
}
