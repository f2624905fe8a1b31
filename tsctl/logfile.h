/* A stage's log file, written by the supervisor (after s6-log): the stage writes lines into a
 * pipe, the supervisor reads them in its loop and appends them here, rotating by size:
 * DIR/log/STAGE.log, then STAGE.log.1 … STAGE.log.KEEP (oldest). Lines that are not logfmt (a
 * sanitizer report, a source command's stderr) are wrapped in one, so every line has a time.
 * A write that fails (a full disk) drops lines and says so once, never blocks or retries.
 *
 * TS_LOG_SIZE (bytes, k/M suffixes; default 10M) and TS_LOG_KEEP (default 3) tune rotation. */
#ifndef TSCTL_LOGFILE_H
#define TSCTL_LOGFILE_H
#include <stddef.h>
#include <stdint.h>

typedef struct logfile logfile_t;

#define LOGFILE_DEFAULT_SIZE (10ull << 20)
#define LOGFILE_DEFAULT_KEEP 3

logfile_t *logfile_new(const char *logdir, const char *stage, const char *instance);
void logfile_destroy(logfile_t **self);
/* After each rotation, make fds 1 and 2 the new file (the supervisor's own log). */
void logfile_own_stdio(logfile_t *lf);
/* Bytes from the stage's pipe: whole lines go out now, a partial one waits for its end. */
void logfile_feed(logfile_t *lf, const char *data, size_t len);
/* The writer is gone: a partial line goes out as it is. */
void logfile_flush(logfile_t *lf);
/* One complete line (newline included), written as it is. */
void logfile_line(logfile_t *lf, const char *line, size_t len);
/* The last line's message, for "STAGE FAILED" reports ("" if none). */
void logfile_last_msg(const char *logdir, const char *stage, char *out, size_t len);
/* A new run of the stage begins (it was just spawned). */
void logfile_new_run(logfile_t *lf);
/* The message of the run's first error line ("" if none): a logfmt line at level error, or a line
 * the stage wrote raw (before its log was set up: a usage error's reason). Usage and configuration
 * errors are reported with it; a usage text's last line says nothing. */
const char *logfile_first_error(const logfile_t *lf);
/* Rotation settings from the environment. */
void logfile_limits(uint64_t *max_bytes, int *keep);
#endif
