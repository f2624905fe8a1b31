/* A stage's rotated log (tsctl/logfile.c): lines whole in the file, non-logfmt lines wrapped,
 * partial lines kept until their end, rotation by size into STAGE.log.1 .. .KEEP, the oldest
 * falling off; the last message read back for "STAGE FAILED" reports, and a run's first error. */
#include "check.h"
#include "logfile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static long fsize(const char *name)
{
    char path[200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static char *slurp(const char *name)
{
    char path[200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

static int lines_whole(const char *text)
{
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        if (!strchr(l, '\n') || strncmp(l, "time=", 5) != 0)
            return 0;
    }
    return 1;
}

static void limits(void)
{
    uint64_t max;
    int keep;
    unsetenv("TS_LOG_SIZE");
    unsetenv("TS_LOG_KEEP");
    logfile_limits(&max, &keep);
    CHECK(max == LOGFILE_DEFAULT_SIZE && keep == LOGFILE_DEFAULT_KEEP, "defaults: %llu %d", (unsigned long long)max,
          keep);
    setenv("TS_LOG_SIZE", "8k", 1);
    setenv("TS_LOG_KEEP", "2", 1);
    logfile_limits(&max, &keep);
    CHECK(max == 8192 && keep == 2, "8k, 2: %llu %d", (unsigned long long)max, keep);
    setenv("TS_LOG_SIZE", "10", 1);
    setenv("TS_LOG_KEEP", "1000", 1);
    logfile_limits(&max, &keep);
    CHECK(max == 4096 && keep == 99, "bounded: %llu %d", (unsigned long long)max, keep);
}

static void lines(void)
{
    setenv("TS_LOG_SIZE", "1M", 1);
    logfile_t *lf = logfile_new(dir, "ingest", "demo");
    CHECK(lf != NULL, "new");
    const char *in = "time=2026-01-01T00:00:00.000Z level=info instance=demo stage=ingest msg=\"hello\"\n"
                     "plain text from ffmpeg\r"
                     "partial ";
    logfile_feed(lf, in, strlen(in));
    char *t = slurp("ingest.log");
    CHECK(strstr(t, "msg=\"hello\"\n") != NULL, "a logfmt line passes as it is: %s", t);
    CHECK(strstr(t, "stage=ingest msg=\"plain text from ffmpeg\"\n") != NULL, "a plain line is wrapped: %s", t);
    CHECK(strstr(t, "partial") == NULL, "a partial line waits");
    free(t);
    logfile_feed(lf, "line\n", 5);
    t = slurp("ingest.log");
    CHECK(strstr(t, "msg=\"partial line\"\n") != NULL, "then goes out whole: %s", t);
    CHECK(lines_whole(t), "every line whole and logfmt");
    free(t);
    logfile_feed(lf, "no end", 6);
    logfile_flush(lf);
    t = slurp("ingest.log");
    CHECK(strstr(t, "msg=\"no end\"\n") != NULL, "flush writes a partial line: %s", t);
    free(t);
    char last[200];
    logfile_last_msg(dir, "ingest", last, sizeof last);
    CHECK(strcmp(last, "no end") == 0, "last message: %s", last);
    logfile_destroy(&lf);
    CHECK(lf == NULL, "destroy clears the pointer");
}

static void rotation(void)
{
    setenv("TS_LOG_SIZE", "4096", 1);
    setenv("TS_LOG_KEEP", "2", 1);
    logfile_t *lf = logfile_new(dir, "swarm", "demo");
    char line[128];
    /* 400 lines of 100 bytes: about 40 kB through files of 4 kB, two old ones kept. */
    for (int i = 0; i < 400; i++) {
        int n = snprintf(line, sizeof line, "time=x level=info instance=demo stage=swarm msg=\"line %04d\" pad=%-30s\n",
                         i, "x");
        logfile_line(lf, line, (size_t)n);
        logfile_flush(lf);
    }
    logfile_destroy(&lf);
    CHECK(fsize("swarm.log") > 0 && fsize("swarm.log") <= 4096, "current file within the size: %ld",
          fsize("swarm.log"));
    CHECK(fsize("swarm.log.1") > 4096 - 128 && fsize("swarm.log.1") <= 4096, "swarm.log.1 full: %ld",
          fsize("swarm.log.1"));
    CHECK(fsize("swarm.log.2") > 4096 - 128 && fsize("swarm.log.2") <= 4096, "swarm.log.2 full: %ld",
          fsize("swarm.log.2"));
    CHECK(fsize("swarm.log.3") == -1, "no swarm.log.3 with TS_LOG_KEEP=2");
    char *cur = slurp("swarm.log"), *one = slurp("swarm.log.1"), *two = slurp("swarm.log.2");
    CHECK(strstr(cur, "line 0399") != NULL, "the newest line in swarm.log");
    CHECK(strstr(two, "line 0000") == NULL && strstr(one, "line 0000") == NULL, "the oldest lines fell off");
    /* .2 is older than .1, which is older than the current file; files end on whole lines. */
    CHECK(strcmp(strstr(two, "msg=\"line "), strstr(one, "msg=\"line ")) < 0 &&
              strcmp(strstr(one, "msg=\"line "), strstr(cur, "msg=\"line ")) < 0,
          "rotation order");
    CHECK(lines_whole(cur) && lines_whole(one) && lines_whole(two), "every file holds whole lines");
    /* Just rotated: the last message comes from STAGE.log.1. */
    char path[200], last[100];
    snprintf(path, sizeof path, "%s/swarm.log", dir);
    CHECK(truncate(path, 0) == 0, "truncate %s", path);
    logfile_last_msg(dir, "swarm", last, sizeof last);
    CHECK(strncmp(last, "line ", 5) == 0, "last message after a rotation: %s", last);
    free(cur), free(one), free(two);
}

/* A usage error is reported by its first line (the reason), not the usage text's last; a new run
 * starts afresh; info lines are no error, logfmt error lines are. */
static void first_error(void)
{
    logfile_t *lf = logfile_new(dir, "signer", "demo");
    CHECK(lf && logfile_first_error(lf)[0] == 0, "no error before any line");
    const char *info = "time=2026-01-01T00:00:00.000Z level=info instance=demo stage=signer msg=\"starting\"\n";
    logfile_feed(lf, info, strlen(info));
    CHECK(logfile_first_error(lf)[0] == 0, "an info line is no error: %s", logfile_first_error(lf));
    const char *usage = "ts-signer: --key is required\nusage: ts-signer --key FILE ...\n"
                        "       the rest of the usage, then exits.\n";
    logfile_feed(lf, usage, strlen(usage));
    CHECK(strcmp(logfile_first_error(lf), "ts-signer: --key is required") == 0, "first raw line: %s",
          logfile_first_error(lf));
    logfile_new_run(lf);
    CHECK(logfile_first_error(lf)[0] == 0, "a new run forgets the old error");
    const char *err = "time=2026-01-01T00:00:01.000Z level=warn instance=demo stage=signer msg=\"slow\"\n"
                      "time=2026-01-01T00:00:01.000Z level=error instance=demo stage=signer "
                      "msg=\"cannot bind \\\"x\\\"\"\n"
                      "time=2026-01-01T00:00:01.000Z level=error instance=demo stage=signer msg=\"exiting\"\n";
    logfile_feed(lf, err, strlen(err));
    CHECK(strcmp(logfile_first_error(lf), "cannot bind \"x\"") == 0, "first logfmt error, unquoted: %s",
          logfile_first_error(lf));
    logfile_destroy(&lf);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_logfile.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    limits();
    lines();
    rotation();
    first_error();
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", dir);
    CHECK_DONE();
}
