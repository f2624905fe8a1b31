#include "ts_log.h"
#include "ts_time.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_stage[32] = "-";
static char log_instance[64] = "-";
static int log_min = TS_LOG_INFO;
static const char *level_name[] = { "debug", "info", "warn", "error" };
static void (*log_sink)(const char *, size_t, void *);
static void *log_sink_arg;
static uint64_t log_dropped, log_reported;

void ts_log_init(const char *stage, const char *instance)
{
    snprintf(log_stage, sizeof log_stage, "%s", stage ? stage : "-");
    snprintf(log_instance, sizeof log_instance, "%s", instance ? instance : "-");
    const char *lv = getenv("TS_LOG_LEVEL");
    if (lv && strcmp(lv, "debug") == 0)
        log_min = TS_LOG_DEBUG;
}

void ts_log_level(int level) { log_min = level; }

void ts_log_sink(void (*fn)(const char *line, size_t len, void *arg), void *arg)
{
    log_sink = fn;
    log_sink_arg = arg;
}

const uint64_t *ts_log_dropped(void) { return &log_dropped; }

size_t ts_log_format(char *out, int level, const char *instance, const char *stage, const char *msg, size_t msglen)
{
    return ts_log_format_kv(out, level, instance, stage, msg, msglen, NULL);
}

void ts_log_field(ts_log_fields_t *f, const char *key, const char *fmt, ...)
{
    char v[256], q[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    /* logfmt: a value with a space, quote, '=' or nothing at all is quoted; control characters go */
    int quote = !v[0];
    size_t j = 0;
    for (size_t i = 0; v[i] && j + 2 < sizeof q; i++) {
        char c = v[i];
        if (c == ' ' || c == '=' || c == '"' || c == '\\')
            quote = 1;
        if (c == '"' || c == '\\')
            q[j++] = '\\';
        q[j++] = (unsigned char)c < 0x20 || c == 0x7f ? ' ' : c;
    }
    q[j] = 0;
    int n = snprintf(f->s + f->n, sizeof f->s - f->n, "%s%s=%s%s%s", f->n ? " " : "", key, quote ? "\"" : "", q,
                     quote ? "\"" : "");
    if (n > 0 && f->n + (size_t)n < sizeof f->s)
        f->n += (size_t)n;
    else
        f->s[f->n] = 0; /* does not fit: dropped whole, the line stays well-formed */
}

size_t ts_log_format_kv(char *out, int level, const char *instance, const char *stage, const char *msg, size_t msglen,
                        const char *fields)
{
    /* logfmt quoting: escape quotes and backslashes, flatten control characters. */
    char q[1100];
    size_t j = 0;
    for (size_t i = 0; i < msglen && msg[i] && j + 2 < sizeof q; i++) {
        char c = msg[i];
        if (c == '"' || c == '\\') {
            q[j++] = '\\';
            q[j++] = c;
        } else if ((unsigned char)c < 0x20 || c == 0x7f)
            q[j++] = ' ';
        else
            q[j++] = c;
    }
    q[j] = 0;
    if (level < TS_LOG_DEBUG || level > TS_LOG_ERROR)
        level = TS_LOG_ERROR;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    int n = snprintf(out, TS_LOG_LINE_MAX,
                     "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s instance=%s stage=%s msg=\"%s\"%s%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     t.tv_nsec / (long)TS_NS_PER_MS, level_name[level], instance, stage, q, fields && *fields ? " " : "",
                     fields ? fields : "");
    if (n < 0)
        return 0;
    if (n > TS_LOG_LINE_MAX - 1) { /* cut, but keep the line a line */
        n = TS_LOG_LINE_MAX - 1;
        out[n - 1] = '\n';
    }
    return (size_t)n;
}

/* One write per line: a pipe write of at most PIPE_BUF bytes is atomic, so lines from several
 * processes never interleave and a full non-blocking pipe refuses a line whole (EAGAIN). */
static int emit(const char *line, size_t len)
{
    if (log_sink) {
        log_sink(line, len, log_sink_arg);
        return 0;
    }
    ssize_t w;
    do
        w = write(STDERR_FILENO, line, len);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)len ? 0 : -1;
}

static void vlog_kv(int level, const char *fields, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

void ts_vlog(int level, const char *fmt, va_list ap) { vlog_kv(level, NULL, fmt, ap); }

void ts_log_kv(int level, const ts_log_fields_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_kv(level, f ? f->s : NULL, fmt, ap);
    va_end(ap);
}

static void vlog_kv(int level, const char *fields, const char *fmt, va_list ap)
{
    if (level < log_min || level < 0 || level > TS_LOG_ERROR)
        return;
    char msg[1024], line[TS_LOG_LINE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* The CURVE ZAP thread logs too: the counter is touched atomically. */
    uint64_t dropped = __atomic_load_n(&log_dropped, __ATOMIC_RELAXED);
    if (dropped > log_reported) {
        char note[96];
        int k = snprintf(note, sizeof note, "%llu log lines dropped: the log pipe was full",
                         (unsigned long long)(dropped - log_reported));
        size_t n = ts_log_format(line, TS_LOG_WARN, log_instance, log_stage, note, (size_t)k);
        if (emit(line, n) < 0) {
            __atomic_add_fetch(&log_dropped, 1, __ATOMIC_RELAXED);
            return;
        }
        log_reported = dropped;
    }
    size_t n = ts_log_format_kv(line, level, log_instance, log_stage, msg, strlen(msg), fields);
    if (emit(line, n) < 0)
        __atomic_add_fetch(&log_dropped, 1, __ATOMIC_RELAXED);
}

void ts_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_vlog(level, fmt, ap);
    va_end(ap);
}

void ts_log_limited(ts_log_limit_t *l, int level, const char *fmt, ...)
{
    uint64_t now = ts_mono_ns();
    if (now < l->next_ns) {
        l->held++;
        return;
    }
    char msg[TS_LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->held)
        ts_log(level, "%s (%llu more like it held back since the last such line)", msg,
               (unsigned long long)l->held);
    else
        ts_log(level, "%s", msg);
    l->held = 0;
    l->next_ns = now + (uint64_t)TS_LOG_LIMIT_S * TS_NS_PER_S;
}
