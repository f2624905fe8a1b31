/* tsctl engine's own pages, on its ts_httpd: `/` (a page of the streams, their viewers' health
 * and players), `/engine.json` (the same as data), `/playlist.m3u` (an M3U tuner list for IPTV
 * apps: one entry per known stream), `/metrics` (tstream_engine_* series) and `/livez`. */
#ifndef TSCTL_ENGINE_WEB_H
#define TSCTL_ENGINE_WEB_H
#include "engine.h"
#include <stddef.h>

/* The metrics registry and the routes. 0, or -1 with err. */
int engine_web_setup(engine_t *e, char *err, size_t errlen);
#endif
