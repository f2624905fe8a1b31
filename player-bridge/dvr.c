#include "dvr.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ts_dvr {
    int dirfd;
    int fd; /* the segment being written, or -1 */
    uint64_t fd_msn;
};

static void seg_name(uint64_t msn, char *out, size_t len) { snprintf(out, len, "%llu.ts", (unsigned long long)msn); }

ts_dvr_t *ts_dvr_open(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dfd2 = dfd >= 0 ? fcntl(dfd, F_DUPFD_CLOEXEC, 0) : -1; /* closedir closes it */
    DIR *dp = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
    if (!dp) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        if (dfd2 >= 0)
            close(dfd2);
        if (dfd >= 0)
            close(dfd);
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t n = strlen(e->d_name);
        if (n > 3 && strcmp(e->d_name + n - 3, ".ts") == 0)
            unlinkat(dfd, e->d_name, 0);
    }
    closedir(dp);
    ts_dvr_t *d = calloc(1, sizeof *d);
    if (!d) {
        close(dfd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->dirfd = dfd;
    d->fd = -1;
    return d;
}

void ts_dvr_destroy(ts_dvr_t **self)
{
    ts_dvr_t *d = *self;
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    close(d->dirfd);
    free(d);
    *self = NULL;
}

void ts_dvr_finish(ts_dvr_t *d, uint64_t msn)
{
    if (d->fd >= 0 && d->fd_msn == msn) {
        close(d->fd);
        d->fd = -1;
    }
}

int ts_dvr_append(ts_dvr_t *d, uint64_t msn, const void *data, size_t len)
{
    char name[32];
    if (d->fd >= 0 && d->fd_msn != msn)
        ts_dvr_finish(d, d->fd_msn);
    if (d->fd < 0) {
        seg_name(msn, name, sizeof name);
        d->fd = openat(d->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (d->fd < 0)
            return -1;
        d->fd_msn = msn;
    }
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(d->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void ts_dvr_drop(ts_dvr_t *d, uint64_t msn)
{
    char name[32];
    ts_dvr_finish(d, msn);
    seg_name(msn, name, sizeof name);
    unlinkat(d->dirfd, name, 0);
}

ts_chunk_t *ts_dvr_read(ts_dvr_t *d, uint64_t msn, size_t len)
{
    char name[32];
    seg_name(msn, name, sizeof name);
    int fd = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ts_chunk_t *big = ts_chunk_new(msn, 0, 0, NULL, len);
    if (!big) {
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, big->data + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len)
        ts_chunk_unref(&big);
    return big;
}
