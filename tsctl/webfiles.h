/* The files of the web pages (status.html, console.html, mpegts.js and hls.js from deploy/setup.sh), served
 * from TS_WEB_DIR, else the source tree's web/ (TS_WEB_DIR_DEFAULT): the supervisor's status page
 * and tsctl console serve the same way. */
#ifndef TSCTL_WEBFILES_H
#define TSCTL_WEBFILES_H
#include "ts_httpd.h"

/* rel (relative to the web directory) into r's body with content type type; a file that is
 * missing, not regular or larger than 8 MiB is a 404 that says how to install it. */
void web_serve(ts_httpd_resp_t *r, const char *rel, const char *type);
/* Route /mpegts.js and /hls.js (the MPEG-TS and HLS player libraries) and /player.js (ours, on top
 * of them) on h. */
void web_route_player(ts_httpd_t *h);
#endif
