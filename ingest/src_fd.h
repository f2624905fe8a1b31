/* A source read from a file descriptor: a file, paced (ingest/pacer.h) and optionally looped, or
 * stdin unpaced. */
#ifndef TS_SRC_FD_H
#define TS_SRC_FD_H
#include "source.h"

typedef struct ts_src_fd ts_src_fd_t;

/* path "-" is stdin (bps and repeat ignored, *offset set to 0); any other path is opened,
 * positioned at *offset (0 if the file is shorter, and *offset says so) and read at bps bit/s,
 * or by its MPEG-TS PCR when bps is 0. At its end (once every byte has been handed on) the file
 * ends the source, or with repeat starts over from byte 0 as a new run (restarted).
 * NULL with a reason in err if it cannot be opened or is not readable data. */
ts_src_fd_t *ts_src_fd_new(struct ev_loop *loop, const char *path, uint64_t bps, int repeat, uint64_t *offset,
                           const ts_source_cb_t *cb, void *arg, char *err, size_t errlen);
void ts_src_fd_stop(ts_src_fd_t *s);
void ts_src_fd_destroy(ts_src_fd_t **self);
#endif
