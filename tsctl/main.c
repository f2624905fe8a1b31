/* tsctl: the command line of tstream and the supervisor of its stage processes. */
#include "tsctl.h"
#include "ts_exit.h"
#include "ts_version.h"
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
    { "status", status_main, "show instances and their stages: tsctl status [NAME...] [--json] [-v]" },
    { "stop", stop_main, "stop an instance: tsctl stop NAME | --all" },
    { "restart", restart_main, "restart one stage: tsctl restart NAME STAGE" },
    { "console", console_main, "one page for every instance on this host: tsctl console [--listen ADDR:PORT] [--history SECONDS]" },
    { "engine", engine_main, "serve streams by URL, starting viewers on demand: tsctl engine [--http ADDR:PORT] [--channels FILE|DIR] [--idle SECONDS] [--max-streams N] [--allow-magnets]" },
    { "logs", logs_main, "show an instance's logs: tsctl logs NAME [STAGE] [-f] [-n LINES]" },
    { "keygen", keygen_main, "make CURVE keys for stages linked over tcp://: tsctl keygen DIR [NAME...]" },
    { "tstream", tstream_main, "write a .tstream from the signer's public key: tsctl tstream NAME --pubkey HEX ..." },
    { "probe", probe_main, "health check: exit 0 if URL answers 200: tsctl probe URL [--timeout SECONDS]" },
    { "help", help_main, "describe a command and its options: tsctl help [COMMAND]" },
    { "supervise", supervise_main, NULL }, /* internal: run by start and watch */
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static int find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0)
            return (int)i;
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl COMMAND [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].help)
            fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'tsctl help COMMAND' (or 'tsctl COMMAND --help') describes a command's options;\n"
               "'tsctl --version' says which build this is. Exit codes: README.md, CLI.\n");
}

/* A usage error in a few lines: what the caller said is wrong comes before this. */
int tsctl_usage_error(const char *cmd)
{
    int i = cmd ? find(cmd) : -1;
    const char *synopsis = i >= 0 && commands[i].help ? strstr(commands[i].help, ": tsctl ") : NULL;
    if (synopsis)
        fprintf(stderr, "usage: %s\n", synopsis + 2);
    else
        fprintf(stderr, "usage: tsctl COMMAND [ARGS]   (commands: start watch seed status stop restart console engine logs "
                        "keygen tstream probe)\n");
    fprintf(stderr, "Run 'tsctl help%s%s' for more.\n", i >= 0 ? " " : "", i >= 0 ? cmd : "");
    return TS_EXIT_USAGE;
}

int help_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return TS_EXIT_OK;
    }
    int i = find(argv[1]);
    if (argc > 2 || i < 0 || !commands[i].help) {
        if (argc > 2)
            fprintf(stderr, "tsctl help: one COMMAND at most\n");
        else
            fprintf(stderr, "tsctl help: unknown command '%s'\n", argv[1]);
        return tsctl_usage_error(NULL);
    }
    if (strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TS_EXIT_OK;
    }
    char *args[] = { argv[1], "--help", NULL };
    return commands[i].fn(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "tsctl: a COMMAND is required\n");
        return tsctl_usage_error(NULL);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return help_main(1, argv);
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("tsctl %s (commit %s, protocol %s)\n", TS_VERSION, ts_version_commit(), TS_PROTO_VERSION);
        return TS_EXIT_OK;
    }
    int i = find(argv[1]);
    if (i >= 0)
        return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tsctl: unknown command '%s'\n", argv[1]);
    return tsctl_usage_error(NULL);
}
