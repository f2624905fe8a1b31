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
};


/* Absent file: 0. The file is ours and short; anything but digits and a newline is corruption,
 * and guessing a number could reuse one. */
static int load(const char *path, uint64_t *out, char *err, size_t errlen)
{
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
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 0 || len > 20)
        return ts_err(err, errlen, "%s is corrupt (%s): fix it by hand, never below a number already used", path,
                    len ? "too long" : "empty");
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9' || v > (UINT64_MAX - (uint64_t)(buf[i] - '0')) / 10)
            return ts_err(err, errlen, "%s is corrupt (not a number): fix it by hand, never below a number already used",
                        path);
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    *out = v;
    return 0;
}

static int persist(ts_seqstore_t *s, uint64_t value, char *err, size_t errlen)
{
    char tmp[4096], path[4096], line[32];
    if (snprintf(tmp, sizeof tmp, "%s/seq.tmp", s->dir) >= (int)sizeof tmp ||
        snprintf(path, sizeof path, "%s/seq", s->dir) >= (int)sizeof path)
        return ts_err(err, errlen, "state directory path too long");
    int len = snprintf(line, sizeof line, "%llu\n", (unsigned long long)value);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ts_err(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    if (write(fd, line, (size_t)len) != len || fsync(fd) < 0) {
        int saved = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return ts_err(err, errlen, "cannot write %s: %s", tmp, strerror(saved));
    }
    if (close(fd) < 0 || rename(tmp, path) < 0)
        return ts_err(err, errlen, "cannot replace %s: %s", path, strerror(errno));
    /* The rename itself must survive a power cut, or the old, lower reservation comes back. */
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int saved = errno;
        if (dfd >= 0)
            close(dfd);
        return ts_err(err, errlen, "cannot sync directory %s: %s", s->dir, strerror(saved));
    }
    close(dfd);
    s->reserved = value;
    return 0;
}

static int reserve(ts_seqstore_t *s, char *err, size_t errlen)
{
    if (s->next > UINT64_MAX - TS_SEQSTORE_BLOCK)
        return ts_err(err, errlen, "sequence numbers exhausted");
    if (!s->dir) {
        s->reserved = s->next + TS_SEQSTORE_BLOCK;
        return 0;
    }
    return persist(s, s->next + TS_SEQSTORE_BLOCK, err, errlen);
}

ts_seqstore_t *ts_seqstore_new(const char *dir, char *err, size_t errlen)
{
    ts_seqstore_t *s = calloc(1, sizeof *s);
    if (!s) {
        ts_err(err, errlen, "out of memory");
        return NULL;
    }
    if (dir && *dir) {
        char path[4096];
        s->dir = strdup(dir);
        if (!s->dir || snprintf(path, sizeof path, "%s/seq", dir) >= (int)sizeof path) {
            ts_err(err, errlen, "bad state directory %s", dir);
            goto bad;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) { /* private, like an instance directory */
            ts_err(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
            goto bad;
        }
        if (load(path, &s->next, err, errlen) < 0)
            goto bad;
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
