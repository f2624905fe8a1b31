/* Several processes' Prometheus text expositions (format 0.0.4) as one, for the supervisor's
 * /metrics: one stable scrape target for every stage of an instance, whatever ports the stages
 * listen on and however often they restart.
 *
 * The format wants each family once (one HELP, one TYPE) with all its samples together, so the
 * merge groups by family: families in order of first appearance, each with the HELP and TYPE it
 * first came with, then its samples from every input in input order. The inputs come from other
 * processes: a line that is not a HELP, a TYPE or a sample of the family its TYPE line opened is
 * dropped, and so is a family whose TYPE differs from the one it first came with. Samples are
 * copied as they are: the inputs' label sets must differ (each stage has its own stage="…"). */
#ifndef TS_METRICS_MERGE_H
#define TS_METRICS_MERGE_H
#include "ts_buf.h"
#include <stddef.h>

/* Append the merge of texts[0..n) (NUL-terminated; NULL entries skipped) to out. 0, or -1 out of
 * memory. */
int ts_metrics_merge(const char *const *texts, size_t n, ts_buf_t *out);
#endif
