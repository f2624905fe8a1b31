/* The one rendering of a Ts__Status (proto/tstream.proto): the text of `tsctl status`, its
 * --json (fields as README.md documents them) and one instance's /status.json on the status page.
 * The supervisor fills the message (sup_status.c); nothing reads the JSON back. */
#ifndef TSCTL_STATUS_RENDER_H
#define TSCTL_STATUS_RENDER_H
#include "ts_buf.h"
#include "ts_msg.h"

typedef enum {
    STATUS_TEXT,     /* tsctl status */
    STATUS_JSON,     /* tsctl status --json: {"instances":[...]} */
    STATUS_JSON_ONE, /* /status.json: the first instance's object alone */
} status_format_t;

void status_render(const Ts__Status *st, status_format_t fmt, ts_buf_t *b);
#endif
