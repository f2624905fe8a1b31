#include "ts_log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_stage[32] = "-";
static char log_instance[64] = "-";
static int log_min = TS_LOG_INFO;
static const char *level_name[] = { "debug", "info", "warn", "error" };

void ts_log_init(const char *stage, const char *instance)
{
    snprintf(log_stage, sizeof log_stage, "%s", stage ? stage : "-");
    snprintf(log_instance, sizeof log_instance, "%s", instance ? instance : "-");
    const char *lv = getenv("TS_LOG_LEVEL");
    if (lv && strcmp(lv, "debug") == 0)
        log_min = TS_LOG_DEBUG;
}

void ts_log_level(int level) { log_min = level; }

void ts_vlog(int level, const char *fmt, va_list ap)
{
    if (level < log_min || level < 0 || level > TS_LOG_ERROR)
        return;
    char msg[1024], line[1400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* logfmt quoting: escape quotes and backslashes, flatten newlines. */
    char q[1100];
    size_t j = 0;
    for (size_t i = 0; msg[i] && j + 2 < sizeof q; i++) {
        char c = msg[i];
        if (c == '"' || c == '\\') { q[j++] = '\\'; q[j++] = c; }
        else if (c == '\n' || c == '\r') q[j++] = ' ';
        else q[j++] = c;
    }
    q[j] = 0;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s instance=%s stage=%s msg=\"%s\"\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     t.tv_nsec / 1000000, level_name[level], log_instance, log_stage, q);
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    /* One write per line so lines from several processes never interleave; a failed write is dropped. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void ts_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_vlog(level, fmt, ap);
    va_end(ap);
}
