/* The one rendering of a Ts__Status (proto/tstream.proto): the text of `tsctl status`, its
 * --json (fields as README.md documents them) and one instance's /status.json on the status page.
 * The supervisor fills the message (sup_status.c); nothing reads the JSON back. */
#ifndef TSCTL_STATUS_RENDER_H
#define TSCTL_STATUS_RENDER_H
#include "ts_buf.h"
#include "ts_msg.h"

typedef enum {
    STATUS_TEXT,     /* tsctl status: each stage's key counters */
    STATUS_TEXT_ALL, /* tsctl status -v: every counter */
    STATUS_JSON,     /* tsctl status --json: {"instances":[...]} */
    STATUS_JSON_ONE, /* /status.json: the first instance's object alone */
} status_format_t;

void status_render(const Ts__Status *st, status_format_t fmt, ts_buf_t *b);
/* One instance as `tsctl status NAME` exits for it (lib/ts_exit.h): TS_EXIT_OK when every stage
 * is ready and the stream flows, TS_EXIT_DEGRADED when a stage is not ready (starting, restarting)
 * or no new piece came for STATUS_STALL_S, TS_EXIT_DOWN when a stage failed or the supervisor is
 * gone. The text's "flowing" / "STALLED" say the same. */
int status_verdict(const Ts__InstanceStatus *in);
#define STATUS_STALL_S 5.0
#endif
