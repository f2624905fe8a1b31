/* A byte queue toward one non-blocking fd, made of shared chunks (no copy per receiver), written
 * with writev. */
#ifndef TS_OUTQ_H
#define TS_OUTQ_H
#include "chunk.h"
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    ts_chunk_t *c;
    size_t off; /* bytes of c already written */
} ts_outq_ent_t;

typedef struct {
    ts_outq_ent_t *e; /* circular */
    size_t cap, head, n;
    size_t bytes; /* unwritten bytes queued */
} ts_outq_t;

void ts_outq_init(ts_outq_t *q);
/* Drop everything queued. */
void ts_outq_clear(ts_outq_t *q);
/* Queue c (takes a reference of its own). 0, or -1 if memory is short. Empty chunks are ignored. */
int ts_outq_push(ts_outq_t *q, ts_chunk_t *c);
/* Write as much as the fd takes now. Bytes written (0 if it would block), or -1 with errno on error. */
ssize_t ts_outq_write(ts_outq_t *q, int fd);
#endif
