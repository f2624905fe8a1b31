/* --output: the stream appended to a file (or stdout), from the first RAP piece on, and the
 * crash-safe resume record DIR/bridge.pos (last seq written, file size after it).
 *
 * A restarted bridge truncates the file to the recorded size (dropping a half-written piece) and
 * asks for the pieces after the recorded seq, so the file continues with no duplicate and no gap. */
#ifndef TS_OUTPUT_H
#define TS_OUTPUT_H
#include "chunk.h"
#include <ev.h>
#include <stdint.h>

#define TS_OUTPUT_POS_FILE "bridge.pos"
#define TS_OUTPUT_POS_LEN 32
#define TS_OUTPUT_STDOUT_MAX (64u * 1024 * 1024) /* bytes queued toward a slow stdout reader */

typedef struct ts_output ts_output_t;
/* stdout only (writes are asynchronous there): the reader went away (err = EPIPE) or fell too far
 * behind; the output is closed. */
typedef void ts_output_fail_fn(int err, void *arg);

/* path "-" is stdout (state_dir ignored); otherwise state_dir is required. *has_from / *from say where
 * to subscribe: after the recorded seq when resuming, else has_from = 0. *bytes counts bytes written.
 * NULL with a reason in err on failure. */
ts_output_t *ts_output_open(struct ev_loop *loop, const char *path, const char *state_dir, int *has_from,
                            uint64_t *from, uint64_t *bytes, ts_output_fail_fn *on_fail, void *arg, char *err,
                            size_t errlen);
/* Append a piece, unless it comes before the first RAP (fresh start) or was written already.
 * 0, or -1 with errno set (the file is then in a state a restart resumes from). */
int ts_output_piece(ts_output_t *o, ts_chunk_t *c);
/* Flushes what stdout takes without blocking. */
void ts_output_destroy(ts_output_t **self);

/* The resume record: encode, and decode (0, or -1 if it is not a valid record). */
void ts_output_pos_encode(uint64_t seq, uint64_t size, uint8_t out[TS_OUTPUT_POS_LEN]);
int ts_output_pos_decode(const uint8_t in[TS_OUTPUT_POS_LEN], uint64_t *seq, uint64_t *size);
#endif
