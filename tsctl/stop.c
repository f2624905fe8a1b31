/* tsctl stop NAME | --all, and tsctl restart NAME STAGE. */
#include "instance.h"
#include "ts_exit.h"
#include "ts_msg.h"
#include "tsctl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stop_one(const char *name, const char *dir, void *arg)
{
    int *failed = arg;
    if (inst_stop(dir, 10) < 0) {
        fprintf(stderr, "tsctl stop: %s did not stop\n", name);
        (*failed)++;
        return 0;
    }
    inst_unregister(name);
    printf("stopped %s\n", name);
    return 0;
}

int stop_main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr, "usage: tsctl stop NAME | --all\n%s",
                argc == 2 ? "Exit code: 0 stopped, 5 no instance of that name, 111 it did not stop.\n" : "");
        return argc == 2 ? TS_EXIT_OK : TS_EXIT_USAGE;
    }
    int failed = 0;
    if (strcmp(argv[1], "--all") == 0) {
        inst_each(stop_one, &failed);
        return failed ? TS_EXIT_FAIL : TS_EXIT_OK;
    }
    char dir[512];
    if (inst_lookup(argv[1], dir, sizeof dir) < 0) {
        fprintf(stderr, "tsctl stop: no instance named %s\n", argv[1]);
        return TS_EXIT_NOTFOUND;
    }
    stop_one(argv[1], dir, &failed);
    return failed ? TS_EXIT_FAIL : TS_EXIT_OK;
}

int restart_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tsctl restart NAME STAGE   (STAGE: ingest, signer, swarm, player-bridge)\n");
        return TS_EXIT_USAGE;
    }
    char dir[512], cmd[128];
    if (inst_lookup(argv[1], dir, sizeof dir) < 0 || !inst_supervisor_pid(dir)) {
        fprintf(stderr, "tsctl restart: no running instance named %s\n", argv[1]);
        return TS_EXIT_NOTFOUND;
    }
    snprintf(cmd, sizeof cmd, "restart %s", argv[2]);
    char *reply = NULL;
    int code = 1;
    if (inst_request(dir, TS__MSG_TYPE__MSG_COMMAND, cmd, 3000, &reply, &code) < 0) {
        fprintf(stderr, "tsctl restart: the supervisor of %s does not answer\n", argv[1]);
        return TS_EXIT_FAIL;
    }
    if (code) {
        fprintf(stderr, "tsctl restart: %s: %s\n", argv[2], reply ? reply : "refused");
        free(reply);
        return TS_EXIT_USAGE;
    }
    printf("%s: %s %s\n", argv[1], argv[2], reply);
    free(reply);
    return TS_EXIT_OK;
}
