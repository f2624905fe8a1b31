#include "status_render.h"
#include "ts_exit.h"
#include "ts_stage.h"
#include "ts_utf8.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BITS_PER_MBIT 1e6

/* A swarm's address as others reach it, from its ext_ip and ext_port counters: "" if unknown. */
static const Ts__Counter *find_counter(const Ts__StageStatus *p, const char *name)
{
    for (size_t c = 0; c < p->n_counters; c++)
        if (strcmp(p->counters[c]->name, name) == 0)
            return p->counters[c];
    return NULL;
}

static const char *external(const Ts__StageStatus *p, char *s, size_t len)
{
    const Ts__Counter *ip = find_counter(p, "ext_ip"), *port = find_counter(p, "ext_port");
    s[0] = 0;
    if (ip && ip->value > 0 && ip->value <= 0xffffffffll) {
        uint32_t a = (uint32_t)ip->value;
        int n = snprintf(s, len, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
        if (port && port->value > 0 && n > 0 && (size_t)n < len)
            snprintf(s + n, len - (size_t)n, ":%lld", (long long)port->value);
    }
    return s;
}

/* ------------------------------------------------------------------ JSON */

/* Strings may come from the network (a peer's client): anything not printable UTF-8 is escaped
 * or replaced, so that the JSON stays valid and a terminal shows only text. */
static void json_str(ts_buf_t *b, const char *s)
{
    ts_buf_putc(b, '"');
    for (size_t n = s ? strlen(s) : 0; n;) {
        unsigned char c = (unsigned char)*s;
        size_t len = ts_utf8_printable((const uint8_t *)s, n);
        if (c == '"' || c == '\\')
            ts_buf_printf(b, "\\%c", c);
        else if (len)
            ts_buf_put(b, s, len);
        else if (c < 0x80)
            ts_buf_printf(b, "\\u%04x", c);
        else
            ts_buf_printf(b, "\\ufffd");
        len = len ? len : 1;
        s += len, n -= len;
    }
    ts_buf_putc(b, '"');
}

/* The same for the text form: '?' for anything not printable. */
static void text_str(ts_buf_t *b, const char *s)
{
    for (size_t n = strlen(s); n;) {
        size_t len = ts_utf8_printable((const uint8_t *)s, n);
        if (len)
            ts_buf_put(b, s, len);
        else
            ts_buf_putc(b, '?');
        len = len ? len : 1;
        s += len, n -= len;
    }
}

static void json_stage(const Ts__StageStatus *p, ts_buf_t *b)
{
    ts_buf_printf(b, "{\"name\":");
    json_str(b, p->name);
    ts_buf_printf(b, ",\"pid\":%d,\"state\":", (int)p->pid);
    json_str(b, p->state);
    ts_buf_printf(b, ",\"restarts\":%llu", (unsigned long long)p->restarts);
    if (p->reason) {
        ts_buf_printf(b, ",\"reason\":");
        json_str(b, p->reason);
    }
    if (p->metrics_url) {
        ts_buf_printf(b, ",\"metrics_url\":");
        json_str(b, p->metrics_url);
    }
    if (p->has_restarts_1h)
        ts_buf_printf(b, ",\"restarts_1h\":%d", (int)p->restarts_1h);
    char ext[32];
    if (external(p, ext, sizeof ext)[0]) {
        ts_buf_printf(b, ",\"external\":");
        json_str(b, ext);
    }
    /* Then the counters: every field after uptime_s is one. */
    ts_buf_printf(b, ",\"uptime_s\":%.1f", p->uptime_s);
    for (size_t c = 0; c < p->n_counters; c++) {
        ts_buf_putc(b, ',');
        json_str(b, p->counters[c]->name);
        ts_buf_printf(b, ":%lld", (long long)p->counters[c]->value);
    }
    ts_buf_putc(b, '}');
}

/* A figure of a peer, if present: ",\"key\":value" (JSON has no NaN or infinity). */
static void json_num(ts_buf_t *b, const char *key, int has, double v, int decimals)
{
    if (has && isfinite(v))
        ts_buf_printf(b, ",\"%s\":%.*f", key, decimals, v);
}

static void json_peer(const Ts__PeerStatus *p, ts_buf_t *b)
{
    ts_buf_printf(b, "{\"addr\":");
    json_str(b, p->addr);
    if (p->client) {
        ts_buf_printf(b, ",\"client\":");
        json_str(b, p->client);
    }
    if (p->has_incoming)
        ts_buf_printf(b, ",\"incoming\":%s", p->incoming ? "true" : "false");
    json_num(b, "up_bps", p->has_up_bps, p->up_bps, 0);
    json_num(b, "down_bps", p->has_down_bps, p->down_bps, 0);
    if (p->has_up_bytes)
        ts_buf_printf(b, ",\"up_bytes\":%llu", (unsigned long long)p->up_bytes);
    if (p->has_down_bytes)
        ts_buf_printf(b, ",\"down_bytes\":%llu", (unsigned long long)p->down_bytes);
    json_num(b, "connected_s", p->has_connected_s, p->connected_s, 1);
    if (p->via) {
        ts_buf_printf(b, ",\"via\":");
        json_str(b, p->via);
    }
    if (p->has_source)
        ts_buf_printf(b, ",\"source\":%s", p->source ? "true" : "false");
    ts_buf_putc(b, '}');
}

/* Whether the instance has a swarm: then its peer_list is there, if only empty. */
static int has_swarm(const Ts__InstanceStatus *in)
{
    for (size_t i = 0; i < in->n_stages; i++)
        if (strcmp(in->stages[i]->name, "swarm") == 0)
            return 1;
    return 0;
}

/* Each instance-level field is followed by ',' up to state_dir: the comma rule of the JSON that
 * supervise.c wrote field by field, kept byte for byte. */
static void json_instance(const Ts__InstanceStatus *in, ts_buf_t *b)
{
    const struct {
        const char *key, *val;
    } conf[] = { { "name", in->name },         { "role", in->role },     { "tstream", in->tstream },
                 { "infohash", in->infohash }, { "magnet", in->magnet }, { "player_url", in->player_url },
                 { "output", in->output },     { "source", in->source }, { "tracker", in->tracker },
                 { "hls_url", in->hls_url },   { "dvr", in->dvr } };
    ts_buf_putc(b, '{');
    for (size_t i = 0; i < sizeof conf / sizeof *conf; i++)
        if (conf[i].val) {
            json_str(b, conf[i].key);
            ts_buf_putc(b, ':');
            json_str(b, conf[i].val);
            ts_buf_putc(b, ',');
        }
    if (in->status_url) {
        ts_buf_printf(b, "\"status_url\":");
        json_str(b, in->status_url);
        if (!in->has_last_piece_age_s || isnan(in->last_piece_age_s))
            ts_buf_printf(b, ",\"last_piece_age_s\":null,");
        else
            ts_buf_printf(b, ",\"last_piece_age_s\":%.1f,", in->last_piece_age_s);
        if (in->has_peers)
            ts_buf_printf(b, "\"peers\":%lld,", (long long)in->peers);
        if (in->has_viewers)
            ts_buf_printf(b, "\"viewers\":%lld,", (long long)in->viewers);
        if (in->has_up_bps && in->has_down_bps)
            ts_buf_printf(b, "\"up_bps\":%.0f,\"down_bps\":%.0f,", in->up_bps, in->down_bps);
        ts_buf_printf(b, "\"restarts_1h\":%d,", (int)in->restarts_1h);
    }
    ts_buf_printf(b, "\"state_dir\":");
    json_str(b, in->state_dir);
    if (in->has_supervisor_pid)
        ts_buf_printf(b, ",\"supervisor_pid\":%d", (int)in->supervisor_pid);
    if (in->state) {
        ts_buf_printf(b, ",\"state\":");
        json_str(b, in->state);
    }
    ts_buf_printf(b, ",\"stages\":[");
    for (size_t i = 0; i < in->n_stages; i++) {
        if (i)
            ts_buf_putc(b, ',');
        json_stage(in->stages[i], b);
    }
    ts_buf_putc(b, ']');
    if (has_swarm(in)) {
        ts_buf_printf(b, ",\"peer_list\":[");
        for (size_t i = 0; i < in->n_peer_list; i++) {
            if (i)
                ts_buf_putc(b, ',');
            json_peer(in->peer_list[i], b);
        }
        ts_buf_putc(b, ']');
    }
    ts_buf_putc(b, '}');
}

/* ------------------------------------------------------------------ text */

/* A figure as the JSON shows it, so that the text's thresholds see what --json does. */
static double shown(double v, int decimals)
{
    char s[64];
    snprintf(s, sizeof s, "%.*f", decimals, v);
    return atof(s);
}

/* A swarm: can peers connect to it (reach.c's decision, the mapping's method and address)? */
static void text_reach(const Ts__StageStatus *p, ts_buf_t *b)
{
    const Ts__Counter *r = find_counter(p, "reachable"), *via = find_counter(p, "portmap_via");
    char ext[32];
    if (!r)
        return;
    external(p, ext, sizeof ext);
    switch (r->value) {
    case 3:
        ts_buf_printf(b, "  reachable: yes (%s)", via && via->value == 2 ? "NAT-PMP" : via && via->value == 1 ? "UPnP" : "mapped");
        break;
    case 2: ts_buf_printf(b, "  reachable: yes (direct)"); break;
    case 1: ts_buf_printf(b, "  reachable: no"); break;
    default: ts_buf_printf(b, "  reachable: unknown"); break;
    }
    if (ext[0] && r->value >= 1)
        ts_buf_printf(b, r->value == 1 ? " (peers see it at %s)" : " at %s", ext);
    ts_buf_putc(b, '\n');
}

/* Ingest read its source to the end (a file without --loop). */
static int source_ended(const Ts__InstanceStatus *in)
{
    for (size_t i = 0; i < in->n_stages; i++) {
        const Ts__Counter *c = find_counter(in->stages[i], "source_ended");
        if (c && c->value)
            return 1;
    }
    return 0;
}

/* 0: no piece yet, 1: flowing, 2: stalled. */
static int stream_state(const Ts__InstanceStatus *in)
{
    if (!in->status_url || !in->has_last_piece_age_s || isnan(in->last_piece_age_s))
        return 0;
    return shown(in->last_piece_age_s, 1) < STATUS_STALL_S ? 1 : 2;
}

int status_verdict(const Ts__InstanceStatus *in)
{
    if ((in->state && strcmp(in->state, "down") == 0) || !in->n_stages)
        return TS_EXIT_DOWN;
    int verdict = stream_state(in) == 1 ? TS_EXIT_OK : TS_EXIT_DEGRADED;
    for (size_t i = 0; i < in->n_stages; i++) {
        if (strcmp(in->stages[i]->state, "failed") == 0)
            return TS_EXIT_DOWN;
        if (strcmp(in->stages[i]->state, "ready") != 0)
            verdict = TS_EXIT_DEGRADED;
    }
    return verdict;
}

/* What an operator asks first: is it flowing, how many watch, how fast, how stable. */
static void text_health(const Ts__InstanceStatus *in, ts_buf_t *b)
{
    int fig = in->status_url != NULL, flow = stream_state(in);
    if (flow == 0)
        ts_buf_printf(b, "  stream:   no piece yet");
    else if (flow == 1)
        ts_buf_printf(b, "  stream:   flowing (last new piece %.1f s ago)", in->last_piece_age_s);
    else if (source_ended(in))
        ts_buf_printf(b, "  stream:   ENDED: the source ended, last new piece %.0f s ago", shown(in->last_piece_age_s, 1));
    else
        ts_buf_printf(b, "  stream:   STALLED: no new piece for %.0f s", shown(in->last_piece_age_s, 1));
    if (fig && in->has_peers)
        ts_buf_printf(b, " · peers %lld", (long long)in->peers);
    if (fig && in->has_viewers)
        ts_buf_printf(b, " · viewers %lld", (long long)in->viewers);
    if (fig && in->has_up_bps && in->has_down_bps)
        ts_buf_printf(b, " · up %.2f Mbit/s · down %.2f Mbit/s", shown(in->up_bps, 0) / BITS_PER_MBIT,
                      shown(in->down_bps, 0) / BITS_PER_MBIT);
    if (fig)
        ts_buf_printf(b, " · restarts in the last hour %d", (int)in->restarts_1h);
    ts_buf_printf(b, "\n");
    if (fig)
        ts_buf_printf(b, "  page:     %s\n", in->status_url);
}

/* The counters `tsctl status` shows without -v: progress, and what goes wrong. */
static const struct {
    const char *stage, *names;
} key_counters[] = {
    { "ingest", " seq pieces_out bytes_in source_restarts source_idle_s " },
    { "signer", " seq pieces_signed pieces_rejected " },
    { "swarm", " seq peers pieces_in pieces_up bad_pieces skipped peers_banned " },
    { "player-bridge", " last_seq http_clients gaps clients_dropped " },
};

static int key_counter(const char *stage, const Ts__Counter *c)
{
    char word[48];
    if (strcmp(c->name, "log_dropped") == 0)
        return c->value != 0;
    snprintf(word, sizeof word, " %s ", c->name);
    for (size_t i = 0; i < sizeof key_counters / sizeof *key_counters; i++)
        if (strcmp(stage, key_counters[i].stage) == 0)
            return strstr(key_counters[i].names, word) != NULL;
    return 1; /* a stage this table does not know: all of them */
}

static void text_stage(const Ts__InstanceStatus *in, const Ts__StageStatus *p, int all, ts_buf_t *b)
{
    const char *name = in->name ? in->name : "-";
    char pid[16], restarts[24], up[32];
    snprintf(pid, sizeof pid, "%d", (int)p->pid);
    snprintf(restarts, sizeof restarts, "%llu", (unsigned long long)p->restarts);
    snprintf(up, sizeof up, "%.1f", p->uptime_s);
    ts_buf_printf(b, "  %-14s %8s %-9s %8s %9s  ", p->name, pid, p->state, restarts, up);
    for (size_t c = 0; c < p->n_counters; c++)
        if (strcmp(p->counters[c]->name, "ext_ip") != 0 && /* an address: on the reachable line */
            (all || key_counter(p->name, p->counters[c])))
            ts_buf_printf(b, "%s=%lld ", p->counters[c]->name, (long long)p->counters[c]->value);
    ts_buf_putc(b, '\n');
    text_reach(p, b);
    if (strcmp(p->state, "failed") == 0 && p->reason)
        ts_buf_printf(b, "  !! %s FAILED: %s\n     (tsctl logs %s %s; tsctl restart %s %s)\n", p->name, p->reason,
                      name, p->name, name, p->name);
    else if (strcmp(p->state, "unready") == 0)
        ts_buf_printf(b, "  !! %s not ready: %s\n", p->name, p->reason ? p->reason : "(no reason given)");
    else if (strcmp(p->state, "backoff") == 0 && p->reason)
        ts_buf_printf(b, "  !! %s died: %s\n", p->name, p->reason);
    const Ts__Counter *idle = find_counter(p, "source_idle_s"), *ended = find_counter(p, "source_ended");
    if (ended && ended->value)
        ts_buf_printf(b, "  -- the source ended (a file read to its end): no new pieces, the broadcast stays up "
                         "(tsctl start --loop repeats a file; tsctl stop %s)\n", name);
    else if (idle && idle->value >= TS_SOURCE_IDLE_WARN_S)
        ts_buf_printf(b, "  !! no data from the source for %lld s; ingest keeps waiting for it (tsctl logs %s ingest)\n",
                      (long long)idle->value, name);
}

/* -v: the swarm's peers, one a line, the busiest first (as the heartbeat lists them). */
static void text_peers(const Ts__InstanceStatus *in, ts_buf_t *b)
{
    if (in->n_peer_list)
        ts_buf_printf(b, "  peers:\n");
    for (size_t i = 0; i < in->n_peer_list; i++) {
        const Ts__PeerStatus *p = in->peer_list[i];
        ts_buf_printf(b, "    %-21s", p->addr);
        if (p->has_up_bps && p->has_down_bps)
            ts_buf_printf(b, " ↑%.2f ↓%.2f Mbit/s", p->up_bps / BITS_PER_MBIT, p->down_bps / BITS_PER_MBIT);
        if (p->has_connected_s)
            ts_buf_printf(b, "  %.0f s", p->connected_s);
        if (p->has_incoming)
            ts_buf_printf(b, "  %s", p->incoming ? "in" : "out");
        if (p->via)
            ts_buf_printf(b, " (%s)", p->via);
        if (p->has_source && p->source)
            ts_buf_printf(b, "  broadcaster");
        if (p->client) {
            ts_buf_printf(b, "  ");
            text_str(b, p->client);
        }
        ts_buf_putc(b, '\n');
    }
}

static void text_instance(const Ts__InstanceStatus *in, int all, ts_buf_t *b)
{
    const char *name = in->name ? in->name : "-";
    if (in->state && strcmp(in->state, "down") == 0) {
        ts_buf_printf(b, "%s  down (state in %s)\n", name, in->state_dir);
        return;
    }
    ts_buf_printf(b, "%s  (%s)  infohash %s%s%s\n", name, in->role ? in->role : "-", in->infohash ? in->infohash : "-",
                  in->player_url ? "  player " : "", in->player_url ? in->player_url : "");
    if (in->magnet)
        ts_buf_printf(b, "  magnet:   %s\n", in->magnet);
    text_health(in, b);
    ts_buf_printf(b, "  %-14s %8s %-9s %8s %9s  %s\n", "STAGE", "PID", "STATE", "RESTARTS", "UPTIME_S", "COUNTERS");
    for (size_t i = 0; i < in->n_stages; i++)
        text_stage(in, in->stages[i], all, b);
    if (all)
        text_peers(in, b);
}

/* ------------------------------------------------------------------ */

void status_render(const Ts__Status *st, status_format_t fmt, ts_buf_t *b)
{
    switch (fmt) {
    case STATUS_JSON_ONE:
        if (st->n_instances)
            json_instance(st->instances[0], b);
        else
            ts_buf_printf(b, "{}");
        break;
    case STATUS_JSON:
        ts_buf_printf(b, "{\"instances\":[");
        for (size_t i = 0; i < st->n_instances; i++) {
            ts_buf_printf(b, "%s", i ? ",\n" : "\n");
            json_instance(st->instances[i], b);
        }
        ts_buf_printf(b, "%s]}\n", st->n_instances ? "\n" : "");
        break;
    case STATUS_TEXT:
    case STATUS_TEXT_ALL:
        for (size_t i = 0; i < st->n_instances; i++) {
            if (i)
                ts_buf_putc(b, '\n');
            text_instance(st->instances[i], fmt == STATUS_TEXT_ALL, b);
        }
        if (!st->n_instances)
            ts_buf_printf(b, "no instances\n");
        break;
    }
}
