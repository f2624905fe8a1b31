#include "webfiles.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TS_WEB_DIR_DEFAULT
#define TS_WEB_DIR_DEFAULT "web"
#endif
#define WEB_FILE_MAX (8u << 20) /* the largest file a page may need (mpegts.js is ~0.5 MiB) */

void web_serve(ts_httpd_resp_t *r, const char *rel, const char *type)
{
    const char *dir = getenv("TS_WEB_DIR");
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : TS_WEB_DIR_DEFAULT, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)WEB_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        r->status = 404;
        ts_buf_printf(&r->body, "%s: not installed (deploy/setup.sh installs it; TS_WEB_DIR moves it)\n", path);
        return;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ts_buf_put(&r->body, buf, (size_t)n);
    close(fd);
    r->content_type = type;
}

static void on_mpegts(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head, (void)arg;
    web_serve(r, "node_modules/mpegts.js/dist/mpegts.js", "text/javascript; charset=utf-8");
}

static void on_hlsjs(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head, (void)arg;
    web_serve(r, "node_modules/hls.js/dist/hls.min.js", "text/javascript; charset=utf-8");
}

static void on_player(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *r, void *arg)
{
    (void)req, (void)head, (void)arg;
    web_serve(r, "player.js", "text/javascript; charset=utf-8");
}

void web_route_player(ts_httpd_t *h)
{
    ts_httpd_route(h, "/mpegts.js", on_mpegts, NULL);
    ts_httpd_route(h, "/hls.js", on_hlsjs, NULL);
    ts_httpd_route(h, "/player.js", on_player, NULL);
}
