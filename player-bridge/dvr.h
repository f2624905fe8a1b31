/* --dvr: closed HLS segments kept on disk, one file per segment (DIR/MSN.ts), so a viewer can seek
 * back further than the bridge keeps in memory. The segmenter (hls.c) owns the index (durations,
 * times) and says what to drop; this file only writes, reads and unlinks. A new store empties DIR:
 * a restarted bridge starts with an empty DVR window (its old segments' numbers and times are gone
 * with the process). */
#ifndef TS_DVR_H
#define TS_DVR_H
#include "chunk.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ts_dvr ts_dvr_t;

/* Create DIR if needed and remove the *.ts files a previous run left. NULL with a reason in err. */
ts_dvr_t *ts_dvr_open(const char *dir, char *err, size_t errlen);
void ts_dvr_destroy(ts_dvr_t **self);
/* Append bytes to segment msn's file (a new msn finishes the previous one). 0, or -1 with errno. */
int ts_dvr_append(ts_dvr_t *d, uint64_t msn, const void *data, size_t len);
/* Segment msn is complete: close its file. */
void ts_dvr_finish(ts_dvr_t *d, uint64_t msn);
void ts_dvr_drop(ts_dvr_t *d, uint64_t msn);
/* Segment msn's bytes, exactly len of them, as one chunk; NULL if the file is missing or short. */
ts_chunk_t *ts_dvr_read(ts_dvr_t *d, uint64_t msn, size_t len);
#endif
