/* One logfmt line per event on stderr: time, level, instance, stage, msg. */
#ifndef TS_LOG_H
#define TS_LOG_H
#include <stdarg.h>
enum { TS_LOG_DEBUG, TS_LOG_INFO, TS_LOG_WARN, TS_LOG_ERROR };
void ts_log_init(const char *stage, const char *instance);
void ts_log_level(int level);
void ts_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ts_vlog(int level, const char *fmt, va_list ap);
#define ts_debug(...) ts_log(TS_LOG_DEBUG, __VA_ARGS__)
#define ts_info(...)  ts_log(TS_LOG_INFO, __VA_ARGS__)
#define ts_warn(...)  ts_log(TS_LOG_WARN, __VA_ARGS__)
#define ts_error(...) ts_log(TS_LOG_ERROR, __VA_ARGS__)
#endif
