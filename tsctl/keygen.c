/* tsctl keygen DIR [NAME...]: CURVE key pairs for stages linked over tcp:// (lib/ts_curve.h). */
#include "ts_curve.h"
#include "ts_exit.h"
#include "ts_topology.h"
#include "tsctl.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl keygen DIR [NAME...]\n"
               "Makes a CURVE key pair per stage name in DIR (created 0700): NAME.secret (0600) and NAME.pub.\n"
               "Names default to:");
    for (int i = 0; ts_topo_key_names[i]; i++)
        fprintf(f, " %s", ts_topo_key_names[i]);
    fprintf(f, ". Existing keys are never overwritten.\n"
               "Give each stage (container) its own NAME.secret and every *.pub, and run it with --curve DIR;\n"
               "its tcp:// endpoints then accept only those keys.\n");
}

int keygen_main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return TS_EXIT_OK;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "tsctl keygen: %s\n", argc < 2 ? "a DIR is required" : "DIR comes first");
        return tsctl_usage_error("keygen");
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "tsctl keygen: %s: %s\n", dir, strerror(errno));
        return TS_EXIT_CONFIG;
    }
    int n = 0;
    while (ts_topo_key_names[n])
        n++;
    if (argc > 2)
        n = argc - 2;
    for (int i = 0; i < n; i++) {
        const char *name = argc > 2 ? argv[i + 2] : ts_topo_key_names[i];
        char err[512];
        if (ts_curve_keygen(dir, name, err, sizeof err) < 0) {
            fprintf(stderr, "tsctl keygen: %s\n", err);
            return TS_EXIT_CONFIG;
        }
        printf("%s/%s.secret %s/%s.pub\n", dir, name, dir, name);
    }
    return TS_EXIT_OK;
}
