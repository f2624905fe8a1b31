/* tsctl status [NAME...] [--json] [-v]: ask each instance's supervisor for its status message,
 * render them all at once (status_render.c), and exit with the named instances' verdict. */
#include "instance.h"
#include "status_render.h"
#include "ts_exit.h"
#include "tsctl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MAX_INSTANCES 256 /* inst_each lists at most this many */

typedef struct {
    Ts__Status all;
    Ts__InstanceStatus *ptr[STATUS_MAX_INSTANCES];
    Ts__Envelope *reply[STATUS_MAX_INSTANCES];  /* the answers of running supervisors */
    Ts__InstanceStatus down[STATUS_MAX_INSTANCES]; /* the others */
    char names[STATUS_MAX_INSTANCES][2][512];
} status_ctx_t;

static int one(const char *name, const char *dir, void *arg)
{
    status_ctx_t *ctx = arg;
    size_t i = ctx->all.n_instances;
    if (i == STATUS_MAX_INSTANCES)
        return 0;
    Ts__Envelope *r = inst_supervisor_pid(dir) ? inst_status(dir, 3000) : NULL;
    if (r) {
        ctx->reply[i] = r;
        ctx->ptr[i] = r->status;
    } else { /* no supervisor answers: down */
        Ts__InstanceStatus *d = &ctx->down[i];
        ts__instance_status__init(d);
        snprintf(ctx->names[i][0], sizeof ctx->names[i][0], "%s", name);
        snprintf(ctx->names[i][1], sizeof ctx->names[i][1], "%s", dir);
        d->name = ctx->names[i][0];
        d->state_dir = ctx->names[i][1];
        d->state = "down";
        ctx->ptr[i] = d;
    }
    ctx->all.n_instances++;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl status [NAME...] [--json] [-v]\n"
               "Shows each running instance (or the NAMEd ones) and its stages.\n"
               "  --json     the same as JSON (fields: README.md)\n"
               "  -v         every counter of each stage (default: the key ones)\n"
               "Exit code with NAMEs, as `systemctl is-active`: %d every one is running, its stages ready and\n"
               "its stream flowing; %d one is starting, restarting or stalled; %d one failed or is down;\n"
               "%d a NAME that no instance has; %d usage error. Without NAMEs: %d.\n",
            TS_EXIT_OK, TS_EXIT_DEGRADED, TS_EXIT_DOWN, TS_EXIT_NOTFOUND, TS_EXIT_USAGE, TS_EXIT_OK);
}

/* The worst of the named instances' verdicts (their codes grow with how bad it is); a name not
 * found outweighs them. */
static int verdict(const status_ctx_t *ctx, int notfound)
{
    int v = TS_EXIT_OK;
    for (size_t i = 0; i < ctx->all.n_instances; i++) {
        int one_v = status_verdict(ctx->ptr[i]);
        v = one_v > v ? one_v : v;
    }
    return notfound ? TS_EXIT_NOTFOUND : v;
}

int status_main(int argc, char **argv)
{
    int json = 0, all = 0, nnames = 0, notfound = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            all = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return TS_EXIT_OK;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "tsctl status: unknown option '%s'\n", argv[i]);
            return tsctl_usage_error("status");
        } else if (++nnames > STATUS_MAX_INSTANCES) {
            fprintf(stderr, "tsctl status: at most %d NAMEs\n", STATUS_MAX_INSTANCES);
            return tsctl_usage_error("status");
        }
    }
    status_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return TS_EXIT_FAIL;
    ts__status__init(&ctx->all);
    ctx->all.instances = ctx->ptr;
    char dir[512];
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') {
            if (inst_lookup(argv[i], dir, sizeof dir) == 0)
                one(argv[i], dir, ctx);
            else {
                fprintf(stderr, "tsctl status: no instance named %s\n", argv[i]);
                notfound = 1;
            }
        }
    if (!nnames)
        inst_each(one, ctx);
    ts_buf_t b;
    ts_buf_init(&b);
    if (ctx->all.n_instances || !nnames)
        status_render(&ctx->all, json ? STATUS_JSON : all ? STATUS_TEXT_ALL : STATUS_TEXT, &b);
    if (!b.err)
        fwrite(b.data, 1, b.len, stdout);
    ts_buf_free(&b);
    int code = nnames ? verdict(ctx, notfound) : TS_EXIT_OK;
    for (size_t i = 0; i < ctx->all.n_instances; i++)
        ts_msg_free(ctx->reply[i]);
    free(ctx);
    return code;
}
