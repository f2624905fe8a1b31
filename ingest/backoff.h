/* Restart delays for a source that keeps failing: min doubling up to max, and back to min once a
 * run lasted at least "healthy" (so a stream that ran for hours restarts at once after a blip). */
#ifndef TS_BACKOFF_H
#define TS_BACKOFF_H
#include <stdint.h>

typedef struct {
    uint64_t min_ns, max_ns, healthy_ns, next_ns;
} ts_backoff_t;

void ts_backoff_init(ts_backoff_t *b, uint64_t min_ns, uint64_t max_ns, uint64_t healthy_ns);
/* A run that lasted ran_ns ended: how long to wait before the next one. */
uint64_t ts_backoff_next(ts_backoff_t *b, uint64_t ran_ns);
#endif
