/* A source that is a shell command's stdout. The command runs in its own process group; when it
 * exits it is restarted after a backoff delay, and the group is killed when the source stops. */
#ifndef TS_SRC_PIPE_H
#define TS_SRC_PIPE_H
#include "source.h"

typedef struct ts_src_pipe ts_src_pipe_t;

/* Spawns at once (loop must be the default loop). NULL if it cannot (no pipe, no fork). */
ts_src_pipe_t *ts_src_pipe_new(struct ev_loop *loop, const char *cmd, const ts_source_cb_t *cb, void *arg, char *err,
                               size_t errlen);
void ts_src_pipe_stop(ts_src_pipe_t *p);
void ts_src_pipe_destroy(ts_src_pipe_t **self);
#endif
