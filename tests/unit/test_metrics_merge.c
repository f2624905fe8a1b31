/* The supervisor's one /metrics out of several processes' (lib/ts_metrics_merge.c): each family
 * once, with its HELP and TYPE from its first appearance and the samples of every input together
 * (the text format's rule; promtool rejects a second HELP or TYPE), histograms whole, foreign or
 * conflicting lines dropped; and the process figures every stage adds (lib/ts_metrics_process.c). */
#include "check.h"
#include "ts_metrics.h"
#include "ts_metrics_merge.h"
#include "ts_metrics_process.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *merge(const char *const *texts, size_t n)
{
    ts_buf_t b;
    ts_buf_init(&b);
    int rc = ts_metrics_merge(texts, n, &b);
    ts_buf_putc(&b, 0);
    if (rc < 0 || b.err) {
        ts_buf_free(&b);
        return strdup("(merge failed)");
    }
    return (char *)b.data;
}

static char *render(const ts_metrics_t *r)
{
    ts_buf_t b;
    ts_buf_init(&b);
    ts_metrics_render(r, &b);
    ts_buf_putc(&b, 0);
    return (char *)b.data;
}

static void check_text(const char *what, const char *got, const char *want)
{
    CHECK(strcmp(got, want) == 0, "%s:\n--- got\n%s--- want\n%s", what, got, want);
}

/* Two stages' registries as the supervisor receives them, and its own. */
static void test_stages(void)
{
    ts_metrics_t *sup = ts_metrics_new((const char *[]){ "stream", "demo", NULL });
    ts_metrics_t *sig = ts_metrics_new((const char *[]){ "stage", "signer", "stream", "demo", NULL });
    ts_metrics_t *brg = ts_metrics_new((const char *[]){ "stage", "player-bridge", "stream", "demo", NULL });
    ts_metrics_counter_add(ts_metrics_counter(sup, "tstream_stage_restarts_total", "Restarts.",
                                              (const char *[]){ "stage", "signer", NULL }),
                           2);
    ts_metrics_counter_add(ts_metrics_counter(sig, "tstream_pieces_in_total", "Pieces in.", NULL), 5);
    ts_metrics_gauge_set(ts_metrics_gauge(sig, "tstream_last_seq", "Last seq.", NULL), 4);
    ts_metrics_counter_add(ts_metrics_counter(brg, "tstream_pieces_in_total", "Pieces in.", NULL), 3);
    static const double b[] = { 0.5, 1 };
    ts_metrics_histogram_observe(ts_metrics_histogram(brg, "tstream_lag_seconds", "Lag.", NULL, b, 2), 0.7);
    ts_metrics_gauge_set(ts_metrics_gauge(brg, "tstream_last_seq", "Last seq.", NULL), 3);
    char *t[3] = { render(sup), render(sig), render(brg) };
    char *m = merge((const char *const *)t, 3);
    check_text("supervisor + signer + bridge", m,
               "# HELP tstream_stage_restarts_total Restarts.\n"
               "# TYPE tstream_stage_restarts_total counter\n"
               "tstream_stage_restarts_total{stream=\"demo\",stage=\"signer\"} 2\n"
               "# HELP tstream_pieces_in_total Pieces in.\n"
               "# TYPE tstream_pieces_in_total counter\n"
               "tstream_pieces_in_total{stage=\"signer\",stream=\"demo\"} 5\n"
               "tstream_pieces_in_total{stage=\"player-bridge\",stream=\"demo\"} 3\n"
               "# HELP tstream_last_seq Last seq.\n"
               "# TYPE tstream_last_seq gauge\n"
               "tstream_last_seq{stage=\"signer\",stream=\"demo\"} 4\n"
               "tstream_last_seq{stage=\"player-bridge\",stream=\"demo\"} 3\n"
               "# HELP tstream_lag_seconds Lag.\n"
               "# TYPE tstream_lag_seconds histogram\n"
               "tstream_lag_seconds_bucket{stage=\"player-bridge\",stream=\"demo\",le=\"0.5\"} 0\n"
               "tstream_lag_seconds_bucket{stage=\"player-bridge\",stream=\"demo\",le=\"1\"} 1\n"
               "tstream_lag_seconds_bucket{stage=\"player-bridge\",stream=\"demo\",le=\"+Inf\"} 1\n"
               "tstream_lag_seconds_sum{stage=\"player-bridge\",stream=\"demo\"} 0.7\n"
               "tstream_lag_seconds_count{stage=\"player-bridge\",stream=\"demo\"} 1\n");
    free(m);
    /* One input alone comes out as it went in. */
    m = merge((const char *const *)&t[2], 1);
    check_text("one input", m, t[2]);
    free(m);
    for (int i = 0; i < 3; i++)
        free(t[i]);
    ts_metrics_destroy(&sup);
    ts_metrics_destroy(&sig);
    ts_metrics_destroy(&brg);
}

/* What another process might send: junk, a type conflict, samples of the wrong family, no
 * trailing newline, a family without HELP. */
static void test_hostile(void)
{
    const char *a = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 1\n"
                    "# HELP g G.\n# TYPE g gauge\ng 1\n";
    const char *b = "garbage line\n"
                    "# HELP x_total Another help.\n# TYPE x_total counter\nx_total{a=\"2\"} 2\n"
                    "y_total 7\n"                         /* not of the family its TYPE opened */
                    "# TYPE g counter\ng{b=\"2\"} 9\n"    /* g is a gauge: dropped */
                    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 2\nh_other 3\n"
                    "# TYPE bad nonsense\nbad 1\n"         /* no such type */
                    "# TYPE\n# HELP\n#\n\n"
                    "x_total{a=\"3\"} 3";                 /* after h: not x_total's */
    const char *texts[] = { a, NULL, b, "" };
    char *m = merge(texts, 4);
    check_text("hostile input", m,
               "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 1\nx_total{a=\"2\"} 2\n"
               "# HELP g G.\n# TYPE g gauge\ng 1\n"
               "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 2\n");
    free(m);
    m = merge(NULL, 0);
    check_text("nothing", m, "");
    free(m);
}

static double sample(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s{", name);
    const char *p = strstr(text, key);
    if (!p || !(p = strchr(p, '}')))
        return NAN;
    return strtod(p + 2, NULL);
}

static void test_process(void)
{
    ts_metrics_t *r = ts_metrics_new((const char *[]){ "stream", "demo", NULL });
    CHECK(ts_metrics_process(r, (const char *[]){ "stage", "supervisor", NULL }) == 0, "process metrics registered (%s)",
          ts_metrics_error(r));
    CHECK(ts_metrics_process(r, (const char *[]){ "stage", "supervisor", NULL }) == -1, "twice: duplicate series");
    volatile double x = 0;
    for (int i = 0; i < 2000000; i++)
        x += i; /* some CPU time to report */
    char *t = render(r);
    CHECK(strstr(t, "# TYPE process_cpu_seconds_total counter\n") != NULL, "process_cpu_seconds_total is a counter");
    CHECK(sample(t, "process_cpu_seconds_total") >= 0, "cpu seconds: %g", sample(t, "process_cpu_seconds_total"));
    CHECK(sample(t, "process_resident_memory_bytes") > 4096, "rss: %g", sample(t, "process_resident_memory_bytes"));
    CHECK(sample(t, "process_virtual_memory_bytes") >= sample(t, "process_resident_memory_bytes"), "vsz >= rss");
    CHECK(sample(t, "process_open_fds") >= 3, "open fds: %g", sample(t, "process_open_fds"));
    CHECK(sample(t, "process_max_fds") >= sample(t, "process_open_fds"), "max fds: %g", sample(t, "process_max_fds"));
    CHECK(sample(t, "process_start_time_seconds") > 1.5e9, "start time: %g", sample(t, "process_start_time_seconds"));
    CHECK(strstr(t, "process_open_fds{stream=\"demo\",stage=\"supervisor\"} ") != NULL, "labels:\n%s", t);
    free(t);
    ts_metrics_destroy(&r);
}

int main(void)
{
    test_stages();
    test_hostile();
    test_process();
    CHECK_DONE();
}
