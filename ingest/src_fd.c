#include "src_fd.h"
#include "pacer.h"
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
#define PACE_S 0.01        /* pacing tick: 2.5 kB at 2 Mbit/s, well under a piece */
#define READS_PER_WAKEUP 16 /* then let the sockets have the loop */

struct ts_src_fd {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    int fd, is_stdin, done, repeat;
    int eof;          /* read to the end: what the pacer holds is the rest of this run */
    char why[128];    /* why reading stopped, for the log */
    uint64_t runs;
    ts_pacer_t *pacer;
    ev_io io;
    ev_timer pace;
    uint8_t buf[FD_CHUNK];
};

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

/* stdin: one read of at most max bytes, handed on at once. Bytes read, 0 if none are ready (or the end). */
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

static void on_paced(const uint8_t *buf, size_t len, void *arg)
{
    ts_src_fd_t *s = arg;
    s->cb.data(buf, len, s->arg);
}

/* Every byte of the file has been handed on: end, or with --loop start over as a new run. */
static void at_end(ts_src_fd_t *s)
{
    if (!s->repeat || strcmp(s->why, "end of file") != 0) {
        finish(s, s->why);
        return;
    }
    if (lseek(s->fd, 0, SEEK_SET) < 0) {
        snprintf(s->why, sizeof s->why, "cannot seek back to the start to loop: %s", strerror(errno));
        finish(s, s->why);
        return;
    }
    s->eof = 0;
    s->runs++;
    ts_info("end of the file: looping to its start (pass %llu)", (unsigned long long)s->runs + 1);
    ts_pacer_restart(s->pacer);
    s->cb.restarted(s->arg); /* new offsets from byte 0, a DISCONT piece; numbering goes on */
}

/* Read ahead into the pacer (up to its cap), then hand on what is due. */
static void on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_fd_t *s = w->data;
    for (int i = 0; i < READS_PER_WAKEUP && !s->eof && ts_pacer_queued(s->pacer) < TS_PACER_CAP; i++) {
        size_t room = TS_PACER_CAP - ts_pacer_queued(s->pacer);
        ssize_t n = read(s->fd, s->buf, room < sizeof s->buf ? room : sizeof s->buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n > 0 && ts_pacer_push(s->pacer, s->buf, (size_t)n) == 0)
            continue;
        if (n == 0)
            snprintf(s->why, sizeof s->why, "end of file");
        else
            snprintf(s->why, sizeof s->why, "%s: %s", n < 0 ? "read error" : "out of memory",
                     strerror(n < 0 ? errno : ENOMEM));
        s->eof = 1;
        ts_pacer_end(s->pacer);
    }
    int no_pcr = ts_pacer_no_pcr(s->pacer);
    ts_pacer_run(s->pacer, ts_mono_ns());
    if (!no_pcr && ts_pacer_no_pcr(s->pacer))
        ts_warn("no MPEG-TS PCR in %d bytes of the file: it goes unpaced; give --bitrate to pace it", TS_PACER_CAP);
    if (s->eof && !s->done && ts_pacer_queued(s->pacer) == 0)
        at_end(s);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_src_fd_t *s = w->data;
    for (int i = 0; i < READS_PER_WAKEUP && !s->done; i++)
        if (read_some(s, FD_CHUNK) < FD_CHUNK)
            break;
}

ts_src_fd_t *ts_src_fd_new(struct ev_loop *loop, const char *path, uint64_t bps, int repeat, uint64_t *offset,
                           const ts_source_cb_t *cb, void *arg, char *err, size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
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
    if (!s || !(s->pacer = ts_pacer_new(bps, bps == 0, on_paced, s))) {
        free(s);
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
    s->repeat = repeat && !is_stdin;
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
        char pace[64];
        if (bps)
            snprintf(pace, sizeof pace, "at %llu bit/s", (unsigned long long)bps);
        else
            snprintf(pace, sizeof pace, "paced by its PCR");
        ts_info("source: %s %s from byte %llu%s", path, pace, (unsigned long long)*offset,
                s->repeat ? ", looped at its end" : "");
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
    ts_pacer_destroy(&s->pacer);
    free(s);
    *self = NULL;
}
