/* Sequence numbers that are never reused, across restarts, crashes and power cuts.
 *
 * DIR/seq holds a reservation: every number below it may have been used. On start we continue
 * from it; before handing out the reserved value we write reserved + TS_SEQSTORE_BLOCK (write
 * seq.tmp, fsync, rename, fsync the directory). So one fsync per block, and a crash only skips
 * the unused rest of a block. Without a directory, numbers start at 0 and live in memory. */
#ifndef TS_SEQSTORE_H
#define TS_SEQSTORE_H
#include <stddef.h>
#include <stdint.h>

#define TS_SEQSTORE_BLOCK 4096

typedef struct ts_seqstore ts_seqstore_t;

/* dir may be NULL. Creates dir (one level) if missing and reserves the first block at once, so an
 * unusable directory fails here rather than at the first piece. NULL with a reason in err. */
ts_seqstore_t *ts_seqstore_new(const char *dir, char *err, size_t errlen);
void ts_seqstore_destroy(ts_seqstore_t **self);
/* The next number, reserving the next block on disk first when needed. -1 if that failed (the
 * number is then not handed out). */
int ts_seqstore_take(ts_seqstore_t *s, uint64_t *seq, char *err, size_t errlen);
/* The number the next take returns. */
uint64_t ts_seqstore_next(const ts_seqstore_t *s);
#endif
