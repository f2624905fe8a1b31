/* tsctl status [NAME] [--json]: ask each instance's supervisor for its status message and render
 * them all at once (status_render.c). */
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

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: tsctl status [NAME] [--json]\n");
    return code;
}

int status_main(int argc, char **argv)
{
    int json = 0;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, TS_EXIT_OK);
        else if (argv[i][0] == '-' || name)
            return usage(stderr, TS_EXIT_USAGE);
        else
            name = argv[i];
    }
    char dir[512];
    if (name && inst_lookup(name, dir, sizeof dir) < 0) {
        fprintf(stderr, "tsctl status: no instance named %s\n", name);
        return TS_EXIT_USAGE;
    }
    status_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return TS_EXIT_FAIL;
    ts__status__init(&ctx->all);
    ctx->all.instances = ctx->ptr;
    if (name)
        one(name, dir, ctx);
    else
        inst_each(one, ctx);
    ts_buf_t b;
    ts_buf_init(&b);
    status_render(&ctx->all, json ? STATUS_JSON : STATUS_TEXT, &b);
    if (!b.err)
        fwrite(b.data, 1, b.len, stdout);
    ts_buf_free(&b);
    for (size_t i = 0; i < ctx->all.n_instances; i++)
        ts_msg_free(ctx->reply[i]);
    free(ctx);
    return TS_EXIT_OK;
}
