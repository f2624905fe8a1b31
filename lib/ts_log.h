/* One logfmt line per event on stderr: time, level, instance, stage, msg.
 *
 * Under a supervisor stderr is a non-blocking pipe: a line that does not fit is dropped and
 * counted (a stage never waits for its log), and the next line that fits says how many went. */
#ifndef TS_LOG_H
#define TS_LOG_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
enum { TS_LOG_DEBUG, TS_LOG_INFO, TS_LOG_WARN, TS_LOG_ERROR };
#define TS_LOG_LINE_MAX 1400 /* a formatted line, newline included; below PIPE_BUF, so one write is atomic */
void ts_log_init(const char *stage, const char *instance);
void ts_log_level(int level);
void ts_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ts_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Format one line (newline included) into out, at most TS_LOG_LINE_MAX bytes; returns its length.
 * The supervisor uses it to wrap a stage's raw output (a sanitizer report, ffmpeg) in logfmt. */
size_t ts_log_format(char *out, int level, const char *instance, const char *stage, const char *msg, size_t msglen);
/* Send every line to fn instead of stderr (the supervisor writes its own log itself). */
void ts_log_sink(void (*fn)(const char *line, size_t len, void *arg), void *arg);
/* Fields after msg, for events a machine reads (peer=, stage=, restarts=…): build them with
 * ts_log_field, which quotes a value that needs it, and log them with ts_log_kv. */
typedef struct {
    char s[480];
    size_t n;
} ts_log_fields_t;
void ts_log_field(ts_log_fields_t *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ts_log_kv(int level, const ts_log_fields_t *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ts_log_format with fields (NULL: none) appended after msg. */
size_t ts_log_format_kv(char *out, int level, const char *instance, const char *stage, const char *msg, size_t msglen,
                        const char *fields);
/* A warning hostile input can provoke (a flood of bad datagrams): at most one line per
 * TS_LOG_LIMIT_S per limiter; the next line that goes out says how many were held back. */
#define TS_LOG_LIMIT_S 5
typedef struct {
    uint64_t next_ns, held;
} ts_log_limit_t;
void ts_log_limited(ts_log_limit_t *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Lines dropped because stderr was full; the pointer suits ts_stage_counter. */
const uint64_t *ts_log_dropped(void);
#define ts_debug(...) ts_log(TS_LOG_DEBUG, __VA_ARGS__)
#define ts_info(...)  ts_log(TS_LOG_INFO, __VA_ARGS__)
#define ts_warn(...)  ts_log(TS_LOG_WARN, __VA_ARGS__)
#define ts_error(...) ts_log(TS_LOG_ERROR, __VA_ARGS__)
#endif
