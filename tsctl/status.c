/* tsctl status [NAME] [--json]: ask each instance's supervisor for its stages. */
#include "instance.h"
#include "ts_exit.h"
#include "ts_msg.h"
#include "ts_stage.h"
#include "tsctl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int json, count;
} status_ctx_t;

static double num(const char *json, const char *key, int *ok)
{
    char v[64];
    const char *s = strstr(json, "\"stages\":[");
    const char *at = inst_json_find(json, key, v, sizeof v);
    *ok = at && (!s || at < s) && strcmp(v, "null") != 0; /* instance-level only */
    return *ok ? atof(v) : 0;
}

/* What an operator asks first: is it flowing, how many watch, how fast, how stable. */
static void print_health(const char *json)
{
    int ok;
    double age = num(json, "last_piece_age_s", &ok);
    if (!ok)
        printf("  stream:   no piece yet");
    else if (age < 5)
        printf("  stream:   flowing (last new piece %.1f s ago)", age);
    else
        printf("  stream:   STALLED: no new piece for %.0f s", age);
    double peers = num(json, "peers", &ok);
    if (ok)
        printf(" · peers %.0f", peers);
    double viewers = num(json, "viewers", &ok);
    if (ok)
        printf(" · viewers %.0f", viewers);
    double up = num(json, "up_bps", &ok), down = num(json, "down_bps", &ok);
    if (ok)
        printf(" · up %.2f Mbit/s · down %.2f Mbit/s", up / 1e6, down / 1e6);
    double r = num(json, "restarts_1h", &ok);
    if (ok)
        printf(" · restarts in the last hour %.0f", r);
    char url[128];
    inst_json_find(json, "status_url", url, sizeof url);
    printf("\n%s%s%s", strcmp(url, "-") ? "  page:     " : "", strcmp(url, "-") ? url : "", strcmp(url, "-") ? "\n" : "");
}

static void print_table(const char *name, const char *json)
{
    char role[32], ih[64], url[256];
    inst_json_find(json, "role", role, sizeof role);
    inst_json_find(json, "infohash", ih, sizeof ih);
    inst_json_find(json, "player_url", url, sizeof url);
    printf("%s  (%s)  infohash %s%s%s\n", name, role, ih, strcmp(url, "-") ? "  player " : "", strcmp(url, "-") ? url : "");
    char magnet[2100];
    inst_json_find(json, "magnet", magnet, sizeof magnet);
    if (strcmp(magnet, "-") != 0)
        printf("  magnet:   %s\n", magnet);
    print_health(json);
    printf("  %-14s %8s %-9s %8s %9s  %s\n", "STAGE", "PID", "STATE", "RESTARTS", "UPTIME_S", "COUNTERS");
    const char *p = strstr(json, "\"stages\":[");
    while (p && (p = strstr(p, "{\"name\":"))) {
        const char *end = inst_json_obj_end(p);
        if (!end)
            break;
        char stage[64], pid[16], state[16], restarts[16], up[16], reason[700];
        inst_json_find(p, "name", stage, sizeof stage);
        inst_json_find(p, "pid", pid, sizeof pid);
        inst_json_find(p, "state", state, sizeof state);
        inst_json_find(p, "restarts", restarts, sizeof restarts);
        inst_json_find(p, "uptime_s", up, sizeof up);
        printf("  %-14s %8s %-9s %8s %9s  ", stage, pid, state, restarts, up);
        /* Everything after uptime_s is the stage's own counters. */
        const char *c = strstr(p, "\"uptime_s\":");
        c = c ? strchr(c, ',') : NULL;
        while (c && c < end) {
            c++;
            const char *q = strchr(c, ',');
            if (!q || q > end)
                q = end;
            for (const char *x = c; x < q; x++)
                if (*x != '"')
                    putchar(*x == ':' ? '=' : *x);
            putchar(' ');
            c = q < end ? q : NULL;
        }
        putchar('\n');
        const char *r = strstr(p, "\"reason\":");
        if (strcmp(state, "failed") == 0 && r && r < end) {
            inst_json_find(r, "reason", reason, sizeof reason);
            printf("  !! %s FAILED: %s\n     (tsctl logs %s %s; tsctl restart %s %s)\n", stage, reason, name, stage,
                   name, stage);
        }
        const char *idle = strstr(p, "\"source_idle_s\":");
        long long idle_s = idle && idle < end ? atoll(strchr(idle, ':') + 1) : 0;
        if (idle_s >= TS_SOURCE_IDLE_WARN_S)
            printf("  !! no data from the source for %lld s; ingest keeps waiting for it (tsctl logs %s ingest)\n",
                   idle_s, name);
        p = end;
    }
}

static int one(const char *name, const char *dir, void *arg)
{
    status_ctx_t *ctx = arg;
    char *reply = NULL;
    int up = inst_supervisor_pid(dir) && inst_request(dir, TS__MSG_TYPE__MSG_STATUS_REQ, NULL, 3000, &reply, NULL) == 0;
    if (ctx->json) {
        printf("%s", ctx->count ? ",\n" : "\n");
        if (up)
            printf("%s", reply);
        else
            printf("{\"name\":\"%s\",\"state_dir\":\"%s\",\"state\":\"down\",\"stages\":[]}", name, dir);
    } else {
        if (ctx->count)
            printf("\n");
        if (up)
            print_table(name, reply);
        else
            printf("%s  down (state in %s)\n", name, dir);
    }
    ctx->count++;
    free(reply);
    return 0;
}

int status_main(int argc, char **argv)
{
    status_ctx_t ctx = { 0 };
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            ctx.json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tsctl status [NAME] [--json]\n");
            return TS_EXIT_OK;
        } else if (argv[i][0] == '-' || name) {
            fprintf(stderr, "usage: tsctl status [NAME] [--json]\n");
            return TS_EXIT_USAGE;
        } else
            name = argv[i];
    }
    char dir[512];
    if (name && inst_lookup(name, dir, sizeof dir) < 0) {
        fprintf(stderr, "tsctl status: no instance named %s\n", name);
        return TS_EXIT_USAGE;
    }
    if (ctx.json)
        printf("{\"instances\":[");
    if (name)
        one(name, dir, &ctx);
    else
        inst_each(one, &ctx);
    if (ctx.json)
        printf("%s]}\n", ctx.count ? "\n" : "");
    else if (!ctx.count)
        printf("no instances\n");
    return TS_EXIT_OK;
}
