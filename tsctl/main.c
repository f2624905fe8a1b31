/* tsctl: the command line of tstream and the supervisor of its stage processes. */
#include "tsctl.h"
#include "ts_exit.h"
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "start", start_main, "start a broadcast: tsctl start NAME --source SRC [options]" },
    { "watch", watch_main, "watch a broadcast: tsctl watch FILE.tstream [options]" },
    { "seed", seed_main, "add upload capacity to a broadcast: tsctl seed FILE.tstream [options]" },
    { "status", status_main, "show instances and their stages: tsctl status [NAME] [--json]" },
    { "stop", stop_main, "stop an instance: tsctl stop NAME | --all" },
    { "restart", restart_main, "restart one stage: tsctl restart NAME STAGE" },
    { "logs", logs_main, "show an instance's logs: tsctl logs NAME [STAGE] [-f] [-n LINES]" },
    { "keygen", keygen_main, "make CURVE keys for stages linked over tcp://: tsctl keygen DIR [NAME...]" },
    { "tstream", tstream_main, "write a .tstream from the signer's public key: tsctl tstream NAME --pubkey HEX ..." },
    { "probe", probe_main, "health check: exit 0 if URL answers 200: tsctl probe URL [--timeout SECONDS]" },
    { "supervise", supervise_main, NULL }, /* internal: run by start and watch */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl COMMAND [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (commands[i].help)
            fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'tsctl COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tsctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return TS_EXIT_USAGE;
}
