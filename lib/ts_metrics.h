/* A process's metrics, rendered in the Prometheus text exposition format 0.0.4 (what /metrics
 * serves). One registry per process, no global state, not thread-safe (one loop owns it).
 *
 * A family is a name, a help text and a type; a series is one labelled value of a family,
 * registered with its own label pairs (the supervisor's {stage="signer"}, {stage="swarm"} …) on
 * top of the registry's constant pairs (stage="swarm", stream="foo"), which every line carries.
 * Registering a name again with the same type and help adds a series to that family.
 *
 * A series' value is owned (ts_metrics_counter_add, _gauge_set, _histogram_observe), read at render
 * time through a pointer to a uint64_t the stage already keeps (the ones it gives ts_stage_counter;
 * the pointer must outlive the registry), or returned by a callback at render time.
 *
 * Registration is strict, so a bad name fails at start-up rather than breaking every scrape:
 * metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, neither starts
 * with "__"; counters end in "_total"; "le" is not a label name (histograms use it); label values
 * and help are UTF-8; no two series of a family have the same label set; a histogram's generated
 * names (NAME_bucket, NAME_sum, NAME_count) collide with no other family. A failed registration
 * returns NULL (or -1) and changes nothing; ts_metrics_error says why.
 *
 * Project conventions (not enforced here; tests/e2e/scrape.sh runs promtool's linter on every
 * endpoint): a tstream_ prefix (process_* for the process's own figures, ts_metrics_process.h),
 * base units spelled out in the name (_seconds, _bytes), no "instance" label (Prometheus sets it
 * from the target; the stream's name goes in "stream"), counters start at 0 (owned ones do), and
 * a tstream_build_info gauge. */
#ifndef TS_METRICS_H
#define TS_METRICS_H
#include "ts_buf.h"
#include <stddef.h>
#include <stdint.h>

#define TS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TS_METRICS_MAX_LABELS 16   /* label pairs per series, and in the registry's constant set */
#define TS_METRICS_MAX_BUCKETS 64  /* histogram bounds, +Inf not counted */
#define TS_METRICS_MAX_NAME 200    /* bytes in a metric or label name */
#define TS_METRICS_MAX_TEXT 1024   /* bytes in a help text or a label value */

typedef struct ts_metrics ts_metrics_t;
typedef struct ts_metric ts_metric_t; /* one series */
typedef uint64_t ts_metrics_u64_fn(void *arg);
typedef double ts_metrics_f64_fn(void *arg);

/* labels: NULL, or a NULL-terminated list of name, value pairs put on every series, e.g.
 * (const char *[]){ "stage", "swarm", "stream", "foo", NULL }. Strings are copied.
 * NULL if a label is invalid (or out of memory). */
ts_metrics_t *ts_metrics_new(const char *const *labels);
void ts_metrics_destroy(ts_metrics_t **self);
/* Why the last registration failed (a static string), or NULL. */
const char *ts_metrics_error(const ts_metrics_t *r);

/* Register one series. labels as for ts_metrics_new, this series only. NULL on failure. */
ts_metric_t *ts_metrics_counter(ts_metrics_t *r, const char *name, const char *help, const char *const *labels);
ts_metric_t *ts_metrics_counter_ptr(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                    const uint64_t *value);
ts_metric_t *ts_metrics_counter_fn(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                   ts_metrics_u64_fn *fn, void *arg);
/* A counter whose value is fractional (CPU seconds). */
ts_metric_t *ts_metrics_counter_fnf(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                    ts_metrics_f64_fn *fn, void *arg);
ts_metric_t *ts_metrics_gauge(ts_metrics_t *r, const char *name, const char *help, const char *const *labels);
ts_metric_t *ts_metrics_gauge_ptr(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                  const uint64_t *value);
ts_metric_t *ts_metrics_gauge_fn(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                 ts_metrics_f64_fn *fn, void *arg);
/* bounds: the buckets' upper bounds (inclusive, "le"), finite and strictly increasing; the +Inf
 * bucket is implicit (a trailing +Inf in bounds is accepted and ignored). A second series of the
 * family must give the same bounds. */
ts_metric_t *ts_metrics_histogram(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                  const double *bounds, size_t nbounds);

/* Owned values. Each does nothing when m is NULL or of another kind, so a stage may ignore a
 * failed registration. */
void ts_metrics_counter_add(ts_metric_t *m, uint64_t n);
void ts_metrics_counter_inc(ts_metric_t *m);
void ts_metrics_gauge_set(ts_metric_t *m, int64_t v);
void ts_metrics_gauge_setf(ts_metric_t *m, double v);
void ts_metrics_gauge_add(ts_metric_t *m, int64_t delta);
/* NaN is ignored (it would make _sum NaN forever). */
void ts_metrics_histogram_observe(ts_metric_t *m, double v);

/* The gauge tstream_build_info{version="…",commit="…"} 1. 0, or -1. */
int ts_metrics_build_info(ts_metrics_t *r, const char *version, const char *commit);

/* Append the exposition text to out: families in registration order, each with its # HELP and
 * # TYPE lines and then its series in registration order. 0, or -1 if out ran out of memory. */
int ts_metrics_render(const ts_metrics_t *r, ts_buf_t *out);

/* The syntax checks registration applies: 1 if valid. */
int ts_metrics_name_ok(const char *name);
int ts_metrics_label_ok(const char *name);
/* A sample value as Prometheus parses it: integers exactly, others with the fewest digits that
 * read back to the same double, "+Inf", "-Inf", "NaN". out needs TS_METRICS_NUM_MAX bytes. */
#define TS_METRICS_NUM_MAX 32
void ts_metrics_format_double(char *out, double v);
#endif
