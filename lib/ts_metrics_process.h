/* The process's own figures, as Prometheus client libraries name them, read from /proc/self at
 * render time: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds.
 * Every stage and the supervisor register them, so a dashboard shows CPU and memory per stage. */
#ifndef TS_METRICS_PROCESS_H
#define TS_METRICS_PROCESS_H
#include "ts_metrics.h"

/* Register them in r with labels (as ts_metrics_counter's, may be NULL). 0, or -1 (see
 * ts_metrics_error). */
int ts_metrics_process(ts_metrics_t *r, const char *const *labels);
#endif
