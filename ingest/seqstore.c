#include "seqstore.h"
#include "ts_err.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ts_seqstore {
    char *dir; /* NULL: in memory */
    uint64_t next, reserved;
    uint64_t clock0, clock; /* floor found at start; floor persisted now */
};

/* DIR/name as one decimal number and a newline; absent file: 0. The file is ours and short;
 * anything else is corruption (a missing newline: cut short), and guessing could reuse a number. */
static int load(const char *dir, const char *name, uint64_t *out, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return ts_err(err, errlen, "state directory path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *out = 0;
            return 0;
        }
        return ts_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
    }
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf);
    int saved = errno;
    close(fd);
    if (n < 0)
        return ts_err(err, errlen, "cannot read %s: %s", path, strerror(saved));
    size_t len = (size_t)n;
    const char *why = len == 0 ? "empty" : len > 21 ? "too long" : buf[len - 1] != '\n' ? "cut short" : NULL;
    if (why)
        return ts_err(err, errlen, "%s is corrupt (%s): fix it by hand, never below a number already used", path, why);
    len--;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9' || v > (UINT64_MAX - (uint64_t)(buf[i] - '0')) / 10)
            return ts_err(err, errlen, "%s is corrupt (not a number): fix it by hand, never below a number already used",
                          path);
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    if (len == 0)
        return ts_err(err, errlen, "%s is corrupt (no number): fix it by hand, never below a number already used", path);
    *out = v;
    return 0;
}

/* Replace DIR/name atomically and durably: write name.tmp, fsync, rename, fsync the directory. */
static int persist(const char *dir, const char *name, uint64_t value, char *err, size_t errlen)
{
    char tmp[4096], path[4096], line[32];
    if (snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= (int)sizeof tmp ||
        snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return ts_err(err, errlen, "state directory path too long");
    int len = snprintf(line, sizeof line, "%llu\n", (unsigned long long)value);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ts_err(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    errno = 0;
    if (write(fd, line, (size_t)len) != len || fsync(fd) < 0) {
        int saved = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return ts_err(err, errlen, "cannot write %s: %s", tmp, strerror(saved));
    }
    if (close(fd) < 0 || rename(tmp, path) < 0)
        return ts_err(err, errlen, "cannot replace %s: %s", path, strerror(errno));
    /* The rename itself must survive a power cut, or the old, lower value comes back. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int saved = errno;
        if (dfd >= 0)
            close(dfd);
        return ts_err(err, errlen, "cannot sync directory %s: %s", dir, strerror(saved));
    }
    close(dfd);
    return 0;
}

static int set_reserved(ts_seqstore_t *s, uint64_t value, char *err, size_t errlen)
{
    if (s->dir && persist(s->dir, "seq", value, err, errlen) < 0)
        return -1;
    s->reserved = value;
    return 0;
}

static int reserve(ts_seqstore_t *s, char *err, size_t errlen)
{
    if (s->next > UINT64_MAX - TS_SEQSTORE_BLOCK)
        return ts_err(err, errlen, "sequence numbers exhausted");
    return set_reserved(s, s->next + TS_SEQSTORE_BLOCK, err, errlen);
}

ts_seqstore_t *ts_seqstore_new(const char *dir, char *err, size_t errlen)
{
    ts_seqstore_t *s = calloc(1, sizeof *s);
    if (!s) {
        ts_err(err, errlen, "out of memory");
        return NULL;
    }
    if (dir && *dir) {
        if (!(s->dir = strdup(dir))) {
            ts_err(err, errlen, "out of memory");
            goto bad;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) { /* private, like an instance directory */
            ts_err(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
            goto bad;
        }
        if (load(dir, "seq", &s->next, err, errlen) < 0 || load(dir, "clock", &s->clock0, err, errlen) < 0)
            goto bad;
        s->clock = s->clock0;
    }
    if (reserve(s, err, errlen) < 0)
        goto bad;
    return s;
bad:
    ts_seqstore_destroy(&s);
    return NULL;
}

void ts_seqstore_destroy(ts_seqstore_t **self)
{
    ts_seqstore_t *s = *self;
    if (!s)
        return;
    free(s->dir);
    free(s);
    *self = NULL;
}

int ts_seqstore_take(ts_seqstore_t *s, uint64_t *seq, char *err, size_t errlen)
{
    if (s->next >= s->reserved && reserve(s, err, errlen) < 0)
        return -1;
    *seq = s->next++;
    return 0;
}

uint64_t ts_seqstore_next(const ts_seqstore_t *s) { return s->next; }

int ts_seqstore_resume(ts_seqstore_t *s, uint64_t next, char *err, size_t errlen)
{
    uint64_t was = s->next;
    s->next = next;
    /* Below the reservation: already covered. Above it (state lost?): reserve from there. */
    if (next >= s->reserved && reserve(s, err, errlen) < 0) {
        s->next = was;
        return -1;
    }
    return 0;
}

uint64_t ts_seqstore_clock(const ts_seqstore_t *s) { return s->clock0; }

int ts_seqstore_stamp(ts_seqstore_t *s, uint64_t ts_us, char *err, size_t errlen)
{
    if (ts_us < s->clock)
        return 0;
    uint64_t v = ts_us > UINT64_MAX - TS_SEQSTORE_CLOCK_AHEAD_US ? UINT64_MAX : ts_us + TS_SEQSTORE_CLOCK_AHEAD_US;
    if (s->dir && persist(s->dir, "clock", v, err, errlen) < 0)
        return -1;
    s->clock = v;
    return 0;
}

int ts_seqstore_close(ts_seqstore_t *s, uint64_t next_ts_us, char *err, size_t errlen)
{
    /* Lowering the reservation to the exact next number is safe: nothing at or above it was used. */
    if (set_reserved(s, s->next, err, errlen) < 0)
        return -1;
    uint64_t v = next_ts_us > s->clock0 ? next_ts_us : s->clock0;
    if (v != s->clock && s->dir && persist(s->dir, "clock", v, err, errlen) < 0)
        return -1;
    s->clock = v;
    return 0;
}
