#include "src_fd.h"
#include "ts_log.h"
#include "ts_time.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_CHUNK 65536
#define PACE_S 0.01                 /* pacing tick: 2.5 kB at 2 Mbit/s, well under a piece */
#define PACE_BURST_NS 500000000ull  /* after a stall, catch up at most this much at once */
#define READS_PER_WAKEUP 16         /* then let the sockets have the loop */

struct ts_src_fd {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    int fd, is_stdin, done;
    uint64_t bps, t0, consumed;
    ev_io io;
    ev_timer pace;
    uint8_t buf[FD_CHUNK];
};

uint64_t ts_src_fd_budget(uint64_t bps, uint64_t elapsed_ns)
{
    /* Split seconds and nanoseconds so nothing overflows for any run time or bps <= 10 Gbit/s. */
    uint64_t s = elapsed_ns / TS_NS_PER_S, r = elapsed_ns % TS_NS_PER_S;
    return s * (bps / 8) + s * (bps % 8) / 8 + r * bps / (8 * TS_NS_PER_S);
}

static void finish(ts_src_fd_t *s, const char *why)
{
    ev_io_stop(s->loop, &s->io);
    ev_timer_stop(s->loop, &s->pace);
    if (s->fd >= 0 && !s->is_stdin)
        close(s->fd);
    s->fd = -1;
    s->done = 1;
    ts_info("source ended (%s): idle from now on", why);
    s->cb.ended(0, s->arg);
}

/* One read of at most max bytes. Returns bytes read, 0 if none are ready (or the stream ended). */
static size_t read_some(ts_src_fd_t *s, size_t max)
{
    ssize_t n = read(s->fd, s->buf, max < sizeof s->buf ? max : sizeof s->buf);
    if (n > 0) {
        s->cb.data(s->buf, (size_t)n, s->arg);
        return (size_t)n;
    }
    if (n == 0) {
        finish(s, "end of file");
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        char why[128];
        snprintf(why, sizeof why, "read error: %s", strerror(errno));
        finish(s, why);
    }
    return 0;
}

static void on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_fd_t *s = w->data;
    uint64_t budget = ts_src_fd_budget(s->bps, ts_mono_ns() - s->t0);
    uint64_t burst = ts_src_fd_budget(s->bps, PACE_BURST_NS);
    if (budget > s->consumed + burst)
        s->consumed = budget - burst; /* we were stalled: do not flood downstream to catch up */
    for (int i = 0; i < READS_PER_WAKEUP && !s->done && s->consumed < budget; i++) {
        size_t n = read_some(s, (size_t)(budget - s->consumed < FD_CHUNK ? budget - s->consumed : FD_CHUNK));
        if (n == 0)
            break;
        s->consumed += n;
    }
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_src_fd_t *s = w->data;
    for (int i = 0; i < READS_PER_WAKEUP && !s->done; i++)
        if (read_some(s, FD_CHUNK) < FD_CHUNK)
            break;
}

ts_src_fd_t *ts_src_fd_new(struct ev_loop *loop, const char *path, uint64_t bps, uint64_t *offset,
                           const ts_source_cb_t *cb, void *arg, char *err, size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin && bps == 0) {
        snprintf(err, errlen, "a file source needs --bitrate");
        return NULL;
    }
    int fd = is_stdin ? 0 : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    int bad = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (bad) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(bad));
        if (!is_stdin)
            close(fd);
        return NULL;
    }
    if (is_stdin) {
        *offset = 0;
    } else if (*offset) {
        /* A resume: the file may have been replaced by a shorter one; then all of it is new. */
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < *offset) {
            ts_warn("%s has %lld bytes, fewer than the resume offset %llu: reading it from the start", path,
                    (long long)st.st_size, (unsigned long long)*offset);
            *offset = 0;
        } else if (lseek(fd, (off_t)*offset, SEEK_SET) < 0) {
            ts_warn("%s: cannot seek to %llu (%s): reading it from the start", path, (unsigned long long)*offset,
                    strerror(errno));
            *offset = 0;
        }
    }
    ts_src_fd_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        if (!is_stdin)
            close(fd);
        return NULL;
    }
    s->loop = loop;
    s->cb = *cb;
    s->arg = arg;
    s->fd = fd;
    s->is_stdin = is_stdin;
    s->bps = bps;
    s->t0 = ts_mono_ns();
    ev_io_init(&s->io, on_readable, fd, EV_READ);
    ev_timer_init(&s->pace, on_pace, PACE_S, PACE_S);
    s->io.data = s->pace.data = s;
    if (is_stdin) {
        /* Never block the loop on a read; a regular file on stdin is simply always ready. */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        ev_io_start(loop, &s->io);
        ts_info("source: stdin, unpaced");
    } else {
        /* Files are paced by a timer: a regular file is always "readable", so ev_io cannot pace it. */
        ev_timer_start(loop, &s->pace);
        ts_info("source: %s at %llu bit/s from byte %llu", path, (unsigned long long)bps, (unsigned long long)*offset);
    }
    return s;
}

void ts_src_fd_stop(ts_src_fd_t *s)
{
    ev_io_stop(s->loop, &s->io);
    ev_timer_stop(s->loop, &s->pace);
    s->done = 1;
}

void ts_src_fd_destroy(ts_src_fd_t **self)
{
    ts_src_fd_t *s = *self;
    if (!s)
        return;
    ts_src_fd_stop(s);
    if (s->fd >= 0 && !s->is_stdin)
        close(s->fd);
    free(s);
    *self = NULL;
}
