#include "source.h"
#include "src_fd.h"
#include "src_http.h"
#include "src_pipe.h"
#include "src_srt.h"
#include "src_tcp.h"
#include "src_udp.h"
#include "ts_exit.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The brief's CBR test stream: 640x360 H.264 at 1.8 Mbit/s + MP2, muxed at 2 Mbit/s, real time. */
static const char testsrc_cmd[] =
    "exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=640x360:rate=25 "
    "-f lavfi -i sine=frequency=1000:sample_rate=48000 -c:v libx264 -preset veryfast -tune zerolatency "
    "-b:v 1800k -minrate 1800k -maxrate 1800k -bufsize 900k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p "
    "-c:a mp2 -b:a 128k -f mpegts -muxrate 2000k pipe:1";

struct ts_source {
    ts_source_kind_t kind;
    ts_src_fd_t *fd;
    ts_src_pipe_t *pipe;
    ts_src_http_t *http;
    ts_src_srt_t *srt;
    ts_src_udp_t *udp;
    ts_src_tcp_t *tcp;
};

const char *ts_source_testsrc_cmd(void) { return testsrc_cmd; }

ts_source_kind_t ts_source_kind(const char *spec)
{
    if (strcmp(spec, "-") == 0)
        return TS_SOURCE_STDIN;
    if (strcmp(spec, "testsrc") == 0)
        return TS_SOURCE_TESTSRC;
    if (strncmp(spec, "pipe:", 5) == 0)
        return TS_SOURCE_PIPE;
    if (ts_pushurl_kind(spec) != TS_PUSH_NONE)
        return TS_SOURCE_PUSH;
    if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0)
        return TS_SOURCE_HTTP;
    return TS_SOURCE_FILE;
}

/* A missing file whose directory is missing or empty: most likely a volume or bind mount that
 * holds nothing (compose's TS_SOURCE_DIR absent on the host: the engine makes it, empty). */
static void missing_file(const char *spec, char *err, size_t errlen)
{
    char dir[4096];
    const char *slash = strrchr(spec, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash == spec ? 1 : slash - spec) : 1, slash ? spec : ".");
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "no such file, and its directory %s does not exist either", dir);
        return;
    }
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    if (!entries)
        snprintf(err, errlen,
                 "no such file; its directory %s is empty (a volume or bind mount with nothing "
                 "in it? put the source file there)",
                 dir);
    else
        snprintf(err, errlen, "no such file");
}

int ts_source_check(const char *spec, int *code, char *err, size_t errlen)
{
    ts_source_kind_t kind = ts_source_kind(spec);
    if (kind == TS_SOURCE_PIPE && !spec[5]) {
        snprintf(err, errlen, "pipe: needs a command");
        *code = TS_EXIT_USAGE;
        return -1;
    }
    ts_pushurl_t u;
    if (kind == TS_SOURCE_PUSH && ts_pushurl_parse(spec, &u, err, errlen) < 0) {
        *code = TS_EXIT_USAGE;
        return -1;
    }
    if (kind != TS_SOURCE_FILE)
        return 0;
    /* A missing or unreadable file will not appear by restarting: a configuration error. */
    *code = TS_EXIT_CONFIG;
    int fd = open(spec, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        missing_file(spec, err, errlen);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", spec, strerror(errno));
        return -1;
    }
    struct stat st;
    int bad = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    close(fd);
    if (bad) {
        snprintf(err, errlen, "cannot read %s: %s", spec, strerror(bad));
        return -1;
    }
    /* A regular file is all the stream there will be: empty, it would broadcast nothing forever.
     * (A FIFO or device is a live source and may be empty for now.) */
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        snprintf(err, errlen, "the file is empty, nothing to broadcast");
        return -1;
    }
    return 0;
}

/* An encoder sends to us: a port taken or a group not joinable will not change by restarting. */
static void push_new(ts_source_t *s, struct ev_loop *loop, const char *spec, const ts_source_cb_t *cb, void *arg,
                     int *code, char *err, size_t errlen)
{
    ts_pushurl_t u;
    if (ts_pushurl_parse(spec, &u, err, errlen) < 0) {
        *code = TS_EXIT_USAGE;
        return;
    }
    *code = TS_EXIT_CONFIG;
    if (u.kind == TS_PUSH_SRT)
        s->srt = ts_src_srt_new(loop, &u, cb, arg, err, errlen);
    else if (u.kind == TS_PUSH_UDP)
        s->udp = ts_src_udp_new(loop, &u, cb, arg, err, errlen);
    else
        s->tcp = ts_src_tcp_new(loop, &u, cb, arg, err, errlen);
}

ts_source_t *ts_source_new(struct ev_loop *loop, const char *spec, uint64_t bps, int repeat, uint64_t *offset,
                           const ts_source_cb_t *cb, void *arg, int *code, char *err, size_t errlen)
{
    ts_source_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        *code = TS_EXIT_FAIL;
        return NULL;
    }
    s->kind = ts_source_kind(spec);
    *code = TS_EXIT_FAIL;
    if (s->kind != TS_SOURCE_FILE && s->kind != TS_SOURCE_HTTP)
        *offset = 0;
    switch (s->kind) {
    case TS_SOURCE_FILE:
        *code = TS_EXIT_CONFIG; /* a missing or unreadable file will not appear by restarting */
        /* fall through */
    case TS_SOURCE_STDIN:
        s->fd = ts_src_fd_new(loop, spec, bps, repeat, offset, cb, arg, err, errlen);
        break;
    case TS_SOURCE_PIPE:
        if (!spec[5]) {
            snprintf(err, errlen, "pipe: needs a command");
            *code = TS_EXIT_USAGE;
            break;
        }
        s->pipe = ts_src_pipe_new(loop, spec + 5, cb, arg, err, errlen);
        break;
    case TS_SOURCE_TESTSRC:
        s->pipe = ts_src_pipe_new(loop, testsrc_cmd, cb, arg, err, errlen);
        break;
    case TS_SOURCE_HTTP:
        s->http = ts_src_http_new(loop, spec, bps, *offset, cb, arg, err, errlen);
        break;
    case TS_SOURCE_PUSH:
        push_new(s, loop, spec, cb, arg, code, err, errlen);
        break;
    }
    if (!s->fd && !s->pipe && !s->http && !s->srt && !s->udp && !s->tcp) {
        free(s);
        return NULL;
    }
    *code = TS_EXIT_OK;
    return s;
}

void ts_source_stop(ts_source_t *s)
{
    if (s->fd)
        ts_src_fd_stop(s->fd);
    if (s->pipe)
        ts_src_pipe_stop(s->pipe);
    if (s->http)
        ts_src_http_stop(s->http);
    if (s->srt)
        ts_src_srt_stop(s->srt);
    if (s->udp)
        ts_src_udp_stop(s->udp);
    if (s->tcp)
        ts_src_tcp_stop(s->tcp);
}

void ts_source_destroy(ts_source_t **self)
{
    ts_source_t *s = *self;
    if (!s)
        return;
    ts_src_fd_destroy(&s->fd);
    ts_src_pipe_destroy(&s->pipe);
    ts_src_http_destroy(&s->http);
    ts_src_srt_destroy(&s->srt);
    ts_src_udp_destroy(&s->udp);
    ts_src_tcp_destroy(&s->tcp);
    free(s);
    *self = NULL;
}
