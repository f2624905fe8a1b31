/* Sequence numbers that are never reused, and piece timestamps that never go back, across
 * restarts, crashes and power cuts.
 *
 * DIR/seq holds a reservation: every number below it may have been used. On start we continue
 * from it; before handing out the reserved value we write reserved + TS_SEQSTORE_BLOCK (write
 * seq.tmp, fsync, rename, fsync the directory). So one fsync per block, and a crash only skips
 * the unused rest of a block. A clean stop writes the exact next number: no skip at all.
 * DIR/clock holds a timestamp floor the same way: no piece was stamped at or above it, and it is
 * raised TS_SEQSTORE_CLOCK_AHEAD_US at a time (one fsync per 5 s of stream).
 * Both files are one decimal number and a newline; anything else (a truncated or damaged file) is
 * refused with a clear error rather than guessed at. Without a directory, all lives in memory. */
#ifndef TS_SEQSTORE_H
#define TS_SEQSTORE_H
#include <stddef.h>
#include <stdint.h>

#define TS_SEQSTORE_BLOCK 4096
#define TS_SEQSTORE_CLOCK_AHEAD_US 5000000ull

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
/* Continue at next instead: the caller knows that no number from next on was ever published
 * (the signer told it the newest it holds). -1 if a reservation beyond next failed. */
int ts_seqstore_resume(ts_seqstore_t *s, uint64_t next, char *err, size_t errlen);
/* The timestamp floor found at start (0: none): stamp this run's pieces at or above it. */
uint64_t ts_seqstore_clock(const ts_seqstore_t *s);
/* A piece is about to be stamped ts_us: raise the persisted floor first if ts_us reaches it. */
int ts_seqstore_stamp(ts_seqstore_t *s, uint64_t ts_us, char *err, size_t errlen);
/* Clean stop: persist the exact next number and next_ts_us (above every timestamp used). */
int ts_seqstore_close(ts_seqstore_t *s, uint64_t next_ts_us, char *err, size_t errlen);
#endif
