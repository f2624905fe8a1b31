#include "output.h"
#include "outq.h"
#include "ts_buf.h"
#include "ts_log.h"
#include "ts_piece.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* bridge.pos, big-endian: "TSBP" | u32 version 1 | u64 seq | u64 size | u32 FNV-1a of bytes 0..23 |
 * u32 0. Written whole with one pwrite at offset 0, so a killed process leaves the old record or
 * the new one, never half of each. */
#define POS_MAGIC "TSBP"
#define POS_VERSION 1

struct ts_output {
    struct ev_loop *loop;
    char name[256];  /* for logs */
    int fd, posfd;   /* posfd -1: no resume record (stdout) */
    int async;       /* stdout pipe/tty: non-blocking, through q */
    int dead;        /* stdout failed: ignore further pieces */
    int started;     /* a RAP piece has been written (or we are resuming) */
    int has_last;
    uint64_t last_seq, size;
    uint64_t *bytes;
    ts_outq_t q;
    ev_io wio;
    ts_output_fail_fn *on_fail;
    void *arg;
};

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

void ts_output_pos_encode(uint64_t seq, uint64_t size, uint8_t out[TS_OUTPUT_POS_LEN])
{
    memcpy(out, POS_MAGIC, 4);
    ts_set_u32be(out + 4, POS_VERSION);
    ts_set_u64be(out + 8, seq);
    ts_set_u64be(out + 16, size);
    ts_set_u32be(out + 24, fnv1a(out, 24));
    ts_set_u32be(out + 28, 0);
}

int ts_output_pos_decode(const uint8_t in[TS_OUTPUT_POS_LEN], uint64_t *seq, uint64_t *size)
{
    if (memcmp(in, POS_MAGIC, 4) != 0 || ts_get_u32be(in + 4) != POS_VERSION ||
        ts_get_u32be(in + 24) != fnv1a(in, 24) || ts_get_u32be(in + 28) != 0)
        return -1;
    *seq = ts_get_u64be(in + 8);
    *size = ts_get_u64be(in + 16);
    return 0;
}

/* ------------------------------------------------------------------ stdout */

static void out_fail(ts_output_t *o, int err)
{
    o->dead = 1;
    ev_io_stop(o->loop, &o->wio);
    ts_outq_clear(&o->q);
    if (o->on_fail)
        o->on_fail(err, o->arg);
}

static void on_stdout_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_output_t *o = w->data;
    ssize_t n = ts_outq_write(&o->q, o->fd);
    if (n < 0) {
        out_fail(o, errno);
        return;
    }
    *o->bytes += (uint64_t)n;
    if (!o->q.n)
        ev_io_stop(loop, &o->wio);
}

static int open_stdout(ts_output_t *o, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) < 0) {
        snprintf(err, errlen, "stdout: %s", strerror(errno));
        return -1;
    }
    o->fd = STDOUT_FILENO;
    if (S_ISREG(st.st_mode))
        return 0; /* a file: plain writes never stall for long */
    /* A pipe or terminal: write without blocking, so a slow reader cannot stall the players. A fresh
     * open file description gets O_NONBLOCK without changing the one our parent shares. */
    int fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ts_warn("stdout: cannot reopen non-blocking (%s): writes may block", strerror(errno));
        return 0;
    }
    o->fd = fd;
    o->async = 1;
    ts_outq_init(&o->q);
    ev_io_init(&o->wio, on_stdout_writable, fd, EV_WRITE);
    o->wio.data = o;
    return 0;
}

/* ------------------------------------------------------------------ file */

static int open_file(ts_output_t *o, const char *path, const char *state_dir, int *has_from, uint64_t *from,
                     char *err, size_t errlen)
{
    char pospath[4096];
    if ((size_t)snprintf(pospath, sizeof pospath, "%s/%s", state_dir, TS_OUTPUT_POS_FILE) >= sizeof pospath) {
        snprintf(err, errlen, "state directory path too long");
        return -1;
    }
    o->posfd = open(pospath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (o->posfd < 0) {
        snprintf(err, errlen, "%s: %s", pospath, strerror(errno));
        return -1;
    }
    uint8_t rec[TS_OUTPUT_POS_LEN];
    uint64_t rseq = 0, rsize = 0;
    ssize_t rn = pread(o->posfd, rec, sizeof rec, 0);
    int have_rec = rn == (ssize_t)sizeof rec && ts_output_pos_decode(rec, &rseq, &rsize) == 0;
    if (rn > 0 && !have_rec)
        ts_warn("%s: not a valid record: ignored", pospath);

    int existed = 1;
    o->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (o->fd < 0 && errno == ENOENT) {
        existed = 0;
        o->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    struct stat st;
    if (o->fd < 0 || fstat(o->fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    *has_from = 0;
    o->size = (uint64_t)st.st_size;
    if (have_rec && existed && o->size >= rsize) {
        if (o->size > rsize && ftruncate(o->fd, (off_t)rsize) < 0) {
            snprintf(err, errlen, "%s: truncate: %s", path, strerror(errno));
            return -1;
        }
        ts_info("output %s: resuming after seq %llu at byte %llu (%llu bytes of an unrecorded write dropped)",
                path, (unsigned long long)rseq, (unsigned long long)rsize, (unsigned long long)(o->size - rsize));
        o->size = rsize;
        o->started = 1;
        o->has_last = 1;
        o->last_seq = rseq;
        *has_from = 1;
        *from = rseq + 1;
    } else if (have_rec && existed) {
        /* Shorter than recorded: data lost under us (power cut without fsync, someone else
         * truncated it). The right seq for its end is unknown, so start over at the next RAP. */
        ts_warn("output %s is %llu bytes, shorter than the %llu recorded: appending from the next RAP", path,
                (unsigned long long)o->size, (unsigned long long)rsize);
    } else if (have_rec) {
        ts_info("output %s is new: the old resume record is ignored", path);
    } else if (o->size) {
        ts_info("output %s: appending after its %llu bytes", path, (unsigned long long)o->size);
    }
    return 0;
}

ts_output_t *ts_output_open(struct ev_loop *loop, const char *path, const char *state_dir, int *has_from,
                            uint64_t *from, uint64_t *bytes, ts_output_fail_fn *on_fail, void *arg, char *err,
                            size_t errlen)
{
    ts_output_t *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->loop = loop;
    o->fd = o->posfd = -1;
    o->bytes = bytes;
    o->on_fail = on_fail;
    o->arg = arg;
    *has_from = 0;
    *from = 0;
    int rc = -1;
    if (strcmp(path, "-") == 0) {
        snprintf(o->name, sizeof o->name, "stdout");
        rc = open_stdout(o, err, errlen);
    } else if (!state_dir) {
        snprintf(err, errlen, "--output FILE needs --state-dir");
    } else {
        snprintf(o->name, sizeof o->name, "%.*s", (int)sizeof o->name - 1, path);
        rc = open_file(o, path, state_dir, has_from, from, err, errlen);
    }
    if (rc < 0) {
        ts_output_destroy(&o);
        return NULL;
    }
    return o;
}

static int write_all(int fd, const uint8_t *p, size_t n, int positional, uint64_t off)
{
    while (n) {
        ssize_t w = positional ? pwrite(fd, p, n, (off_t)off) : write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int ts_output_piece(ts_output_t *o, ts_chunk_t *c)
{
    if (o->dead || (o->has_last && c->seq <= o->last_seq))
        return 0;
    if (!o->started) {
        if (!(c->flags & TS_PIECE_RAP))
            return 0; /* a file must start where a player can decode it */
        o->started = 1;
        ts_info("output %s: starting at seq %llu", o->name, (unsigned long long)c->seq);
    }
    o->has_last = 1;
    o->last_seq = c->seq;
    if (o->async) {
        if (o->q.bytes + c->len > TS_OUTPUT_STDOUT_MAX) {
            ts_error("stdout reader is %zu bytes behind: closing the output", o->q.bytes);
            out_fail(o, ENOBUFS);
            return 0;
        }
        if (ts_outq_push(&o->q, c) < 0) {
            errno = ENOMEM;
            return -1;
        }
        ev_io_start(o->loop, &o->wio);
        return 0;
    }
    if (write_all(o->fd, c->data, c->len, o->posfd >= 0, o->size) < 0)
        return -1;
    o->size += c->len;
    *o->bytes += c->len;
    if (o->posfd < 0)
        return 0;
    uint8_t rec[TS_OUTPUT_POS_LEN];
    ts_output_pos_encode(c->seq, o->size, rec);
    ssize_t w = pwrite(o->posfd, rec, sizeof rec, 0);
    if (w != (ssize_t)sizeof rec) {
        if (w >= 0)
            errno = EIO;
        return -1;
    }
    return 0;
}

void ts_output_destroy(ts_output_t **self)
{
    ts_output_t *o = *self;
    if (!o)
        return;
    if (o->async) {
        if (!o->dead && o->q.n) {
            ssize_t n = ts_outq_write(&o->q, o->fd); /* last chance, without blocking */
            if (n > 0)
                *o->bytes += (uint64_t)n;
        }
        ev_io_stop(o->loop, &o->wio);
        ts_outq_clear(&o->q);
    }
    if (o->fd >= 0 && o->fd != STDOUT_FILENO)
        close(o->fd);
    if (o->posfd >= 0)
        close(o->posfd);
    free(o);
    *self = NULL;
}
