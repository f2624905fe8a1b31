#include "logfile.h"
#include "ts_log.h"
#include "ts_units.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOGFILE_PART_MAX 4096 /* a longer raw line is cut into lines this long */
#define LOGFILE_OUT_MAX 16384 /* lines gathered per write */

struct logfile {
    char path[600], stage[32], instance[64];
    int fd, keep, own_stdio;
    uint64_t size, max;
    int failing, need_nl; /* writes fail (errno in err); the file ends mid-line */
    int err;
    uint64_t dropped; /* lines lost since the failure began */
    char first_err[512]; /* the first error line since logfile_new_run */
    size_t partlen, outlen;
    char part[LOGFILE_PART_MAX];
    char out[LOGFILE_OUT_MAX];
};

void logfile_limits(uint64_t *max_bytes, int *keep)
{
    const char *s = getenv("TS_LOG_SIZE"), *k = getenv("TS_LOG_KEEP");
    uint64_t v;
    *max_bytes = LOGFILE_DEFAULT_SIZE;
    *keep = LOGFILE_DEFAULT_KEEP;
    if (s && *s && ts_units_size(s, &v) == 0)
        *max_bytes = v < 4096 ? 4096 : v;
    if (k && *k) {
        int n = atoi(k);
        *keep = n < 1 ? 1 : n > 99 ? 99 : n;
    }
}

static void open_file(logfile_t *lf)
{
    lf->fd = open(lf->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct stat st;
    lf->size = lf->fd >= 0 && fstat(lf->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (lf->fd >= 0 && lf->own_stdio) {
        dup2(lf->fd, 1);
        dup2(lf->fd, 2);
    }
}

logfile_t *logfile_new(const char *logdir, const char *stage, const char *instance)
{
    logfile_t *lf = calloc(1, sizeof *lf);
    if (!lf)
        return NULL;
    snprintf(lf->path, sizeof lf->path, "%s/%s.log", logdir, stage);
    snprintf(lf->stage, sizeof lf->stage, "%s", stage);
    snprintf(lf->instance, sizeof lf->instance, "%s", instance ? instance : "-");
    logfile_limits(&lf->max, &lf->keep);
    open_file(lf);
    return lf;
}

void logfile_own_stdio(logfile_t *lf) { lf->own_stdio = 1; }

/* STAGE.log -> .1 -> .2 … -> .KEEP (the oldest falls off). */
static void rotate(logfile_t *lf)
{
    char from[620], to[620];
    if (lf->fd >= 0)
        close(lf->fd);
    for (int k = lf->keep; k >= 2; k--) {
        snprintf(from, sizeof from, "%s.%d", lf->path, k - 1);
        snprintf(to, sizeof to, "%s.%d", lf->path, k);
        rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", lf->path);
    rename(lf->path, to);
    lf->need_nl = 0;
    open_file(lf);
}

static void out_flush(logfile_t *lf)
{
    if (!lf->outlen)
        return;
    size_t done = 0;
    int e = EBADF;
    if (lf->fd < 0) {
        open_file(lf); /* it could not be opened or created before: try again */
        e = errno;
    }
    if (lf->fd >= 0) {
        if (lf->need_nl && write(lf->fd, "\n", 1) == 1) {
            lf->need_nl = 0;
            lf->size++;
        }
        while (done < lf->outlen) { /* a short write is followed by the one that says why */
            ssize_t w = write(lf->fd, lf->out + done, lf->outlen - done);
            if (w > 0)
                done += (size_t)w;
            else if (w < 0 && errno == EINTR)
                continue;
            else {
                e = w < 0 ? errno : EIO;
                break;
            }
        }
    }
    lf->size += done;
    if (done == lf->outlen) {
        lf->outlen = 0;
        if (lf->failing) {
            /* Writable again (space was freed): say what was lost, in the file itself. */
            char msg[200], line[TS_LOG_LINE_MAX];
            int n = snprintf(msg, sizeof msg, "%llu log lines of %s lost: %s", (unsigned long long)lf->dropped,
                             lf->stage, strerror(lf->err));
            size_t len = ts_log_format(line, TS_LOG_WARN, lf->instance, "supervisor", msg, (size_t)n);
            if (write(lf->fd, line, len) == (ssize_t)len)
                lf->size += len;
            lf->failing = 0;
            lf->dropped = 0;
        }
        return;
    }
    if (done > 0)
        lf->need_nl = lf->out[done - 1] != '\n';
    for (size_t i = done; i < lf->outlen; i++)
        lf->dropped += lf->out[i] == '\n';
    lf->outlen = 0;
    if (!lf->failing) {
        lf->failing = 1;
        lf->err = e;
        /* Once per failure, in the supervisor's log (not when that is the file failing). */
        if (!lf->own_stdio)
            ts_error("log %s: %s: dropping its lines until it can be written", lf->path, strerror(e));
    }
}

void logfile_line(logfile_t *lf, const char *line, size_t len)
{
    if (len > sizeof lf->out)
        len = sizeof lf->out;
    if (lf->outlen + len > sizeof lf->out)
        out_flush(lf);
    /* Rotate before a line that would take the file past its size, so files end on lines. */
    if (lf->size > 0 && lf->size + lf->outlen + len > lf->max) {
        out_flush(lf);
        rotate(lf);
    }
    memcpy(lf->out + lf->outlen, line, len);
    lf->outlen += len;
}

/* The message of a logfmt line, unquoted; any other line as it is. */
static void line_msg(const char *line, char *out, size_t len)
{
    const char *m = strstr(line, " msg=\"");
    size_t j = 0;
    if (!m) {
        for (; line[j] && j + 1 < len; j++)
            out[j] = line[j];
        out[j] = 0;
        return;
    }
    for (m += 6; *m && *m != '"' && j + 1 < len; m++) {
        if (*m == '\\' && m[1])
            m++;
        out[j++] = *m;
    }
    out[j] = 0;
}

/* One line from the stage, without its newline: logfmt lines pass, anything else is wrapped.
 * The first error of a run is kept: a logfmt line at level error, or a raw line (what a stage
 * writes before its log is set up: a usage error's reason). */
static void stage_line(logfile_t *lf, const char *s, size_t len)
{
    while (len && (s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (!len)
        return;
    char line[TS_LOG_LINE_MAX];
    int logfmt = len < sizeof line - 1 && strncmp(s, "time=", 5) == 0;
    if (!lf->first_err[0] && len < sizeof line) {
        memcpy(line, s, len);
        line[len] = 0;
        if (!logfmt || strstr(line, " level=error "))
            line_msg(line, lf->first_err, sizeof lf->first_err);
    }
    if (logfmt) {
        memcpy(line, s, len);
        line[len++] = '\n';
        logfile_line(lf, line, len);
        return;
    }
    size_t n = ts_log_format(line, TS_LOG_INFO, lf->instance, lf->stage, s, len);
    logfile_line(lf, line, n);
}

/* A line ends at \n, or at \r: progress lines (ffmpeg -stats) are rewritten in place with \r. */
static const char *eol(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || data[i] == '\r')
            return data + i;
    return NULL;
}

void logfile_feed(logfile_t *lf, const char *data, size_t len)
{
    while (len) {
        const char *nl = eol(data, len);
        size_t take = nl ? (size_t)(nl - data) + 1 : len;
        if (!lf->partlen && nl) {
            stage_line(lf, data, take);
        } else {
            size_t room = sizeof lf->part - lf->partlen;
            if (take > room)
                take = room;
            memcpy(lf->part + lf->partlen, data, take);
            lf->partlen += take;
            char last = lf->part[lf->partlen - 1];
            if (last == '\n' || last == '\r' || lf->partlen == sizeof lf->part) {
                stage_line(lf, lf->part, lf->partlen);
                lf->partlen = 0;
            }
        }
        data += take;
        len -= take;
    }
    out_flush(lf);
}

void logfile_flush(logfile_t *lf)
{
    if (lf->partlen)
        stage_line(lf, lf->part, lf->partlen);
    lf->partlen = 0;
    out_flush(lf);
}

void logfile_destroy(logfile_t **self)
{
    logfile_t *lf = *self;
    if (!lf)
        return;
    logfile_flush(lf);
    if (lf->fd >= 0)
        close(lf->fd);
    free(lf);
    *self = NULL;
}

/* Last non-empty line of one file (its last 8 KiB), or "" */
static void last_line(const char *path, char *out, size_t len)
{
    char buf[8192];
    out[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    off_t from = fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof buf - 1 ? st.st_size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    char *start = strrchr(buf, '\n');
    snprintf(out, len, "%s", start ? start + 1 : buf);
}

void logfile_last_msg(const char *logdir, const char *stage, char *out, size_t len)
{
    char path[620], line[8192];
    snprintf(path, sizeof path, "%s/%s.log", logdir, stage);
    last_line(path, line, sizeof line);
    if (!line[0]) { /* just rotated */
        snprintf(path, sizeof path, "%s/%s.log.1", logdir, stage);
        last_line(path, line, sizeof line);
    }
    line_msg(line, out, len);
}

void logfile_new_run(logfile_t *lf) { lf->first_err[0] = 0; }

const char *logfile_first_error(const logfile_t *lf) { return lf->first_err; }
