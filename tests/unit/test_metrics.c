/* The metrics registry (lib/ts_metrics.c): the exact exposition text of a registry with owned,
 * pointer-backed and callback counters and gauges, escaping, a histogram whose observations hit
 * its bucket edges, constant and per-series labels, build_info; number formatting; and every
 * registration rule, with a failed registration leaving the output as it was. */
#include "check.h"
#include "ts_metrics.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Render into a NUL-terminated string (the caller frees). */
static char *render(const ts_metrics_t *r)
{
    ts_buf_t b;
    ts_buf_init(&b);
    int rc = ts_metrics_render(r, &b);
    ts_buf_putc(&b, 0);
    if (rc < 0 || b.err) {
        ts_buf_free(&b);
        return strdup("(render failed)");
    }
    return (char *)b.data;
}

/* On a mismatch, say where the texts part. */
static void check_text(const char *what, const char *got, const char *want)
{
    size_t i = 0;
    while (got[i] && got[i] == want[i])
        i++;
    size_t line = i;
    while (line > 0 && got[line - 1] != '\n')
        line--;
    CHECK(strcmp(got, want) == 0, "%s: differs at byte %zu, line starting\n  got:  '%.80s'\n  want: '%.80s'", what, i,
          got + line, want + line);
}

static double uptime(void *arg) { return *(double *)arg; }
static uint64_t restarts(void *arg) { return (uint64_t)(uintptr_t)arg; }

static const char WANT_A[] =
    "# HELP ts_pieces_in_total Pieces received from upstream.\n"
    "# TYPE ts_pieces_in_total counter\n"
    "ts_pieces_in_total 42\n"
    "# HELP ts_pieces_out_total Pieces sent downstream.\\nA second line with a \\\\ and a \".\n"
    "# TYPE ts_pieces_out_total counter\n"
    "ts_pieces_out_total 9\n"
    "# HELP ts_signature_failures_total Pieces whose signature did not verify.\n"
    "# TYPE ts_signature_failures_total counter\n"
    "ts_signature_failures_total 0\n"
    "# HELP ts_peers Peers connected.\n"
    "# TYPE ts_peers gauge\n"
    "ts_peers{swarm=\"a\\\\b\\\"c\\nd\",kind=\"caf\xc3\xa9\"} -3\n"
    "ts_peers{swarm=\"plain\",kind=\"x\"} 0.1\n"
    "# HELP ts_uptime_seconds Seconds since start.\n"
    "# TYPE ts_uptime_seconds gauge\n"
    "ts_uptime_seconds 12.5\n"
    "# HELP ts_lag_seconds Lag behind the live edge when a piece reaches the player.\n"
    "# TYPE ts_lag_seconds histogram\n"
    "ts_lag_seconds_bucket{le=\"0.25\"} 3\n"
    "ts_lag_seconds_bucket{le=\"0.5\"} 4\n"
    "ts_lag_seconds_bucket{le=\"1\"} 5\n"
    "ts_lag_seconds_bucket{le=\"2.5\"} 6\n"
    "ts_lag_seconds_bucket{le=\"+Inf\"} 8\n"; /* then _sum and _count */

static void test_render(void)
{
    ts_metrics_t *r = ts_metrics_new(NULL);
    CHECK(r != NULL, "registry without labels");
    char *t = render(r);
    CHECK(strcmp(t, "") == 0, "an empty registry renders nothing");
    free(t);

    ts_metric_t *in = ts_metrics_counter(r, "ts_pieces_in_total", "Pieces received from upstream.", NULL);
    uint64_t pieces_out = 7;
    ts_metric_t *out = ts_metrics_counter_ptr(r, "ts_pieces_out_total",
                                              "Pieces sent downstream.\nA second line with a \\ and a \".", NULL,
                                              &pieces_out);
    ts_metric_t *sig = ts_metrics_counter(r, "ts_signature_failures_total", "Pieces whose signature did not verify.",
                                          NULL);
    ts_metric_t *peers = ts_metrics_gauge(r, "ts_peers", "Peers connected.",
                                          (const char *[]){ "swarm", "a\\b\"c\nd", "kind", "caf\xc3\xa9", NULL });
    ts_metric_t *peers2 =
        ts_metrics_gauge(r, "ts_peers", "Peers connected.", (const char *[]){ "swarm", "plain", "kind", "x", NULL });
    double up = 12.5;
    ts_metric_t *upt = ts_metrics_gauge_fn(r, "ts_uptime_seconds", "Seconds since start.", NULL, uptime, &up);
    static const double lag_buckets[] = { 0.25, 0.5, 1, 2.5 };
    ts_metric_t *lag = ts_metrics_histogram(r, "ts_lag_seconds",
                                            "Lag behind the live edge when a piece reaches the player.", NULL,
                                            lag_buckets, 4);
    CHECK(in && out && sig && peers && peers2 && upt && lag, "all registered (%s)", ts_metrics_error(r));

    ts_metrics_counter_add(in, 40);
    ts_metrics_counter_inc(in);
    ts_metrics_counter_inc(in);
    pieces_out = 9; /* read at render time */
    ts_metrics_gauge_set(peers, 5);
    ts_metrics_gauge_add(peers, -8);
    ts_metrics_gauge_setf(peers2, 0.1);
    /* edges are inclusive (le): 0.25, 0.5, 1 and 2.5 land in their own bucket */
    static const double obs[] = { -1, 0.125, 0.25, 0.5, 1, 2.5, 2.5000001, 100 };
    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++)
        ts_metrics_histogram_observe(lag, obs[i]);
    ts_metrics_histogram_observe(lag, NAN); /* ignored */
    /* wrong kinds are ignored */
    ts_metrics_counter_add(peers, 1);
    ts_metrics_gauge_set(in, 1000);
    ts_metrics_gauge_set(out, 1000);
    ts_metrics_histogram_observe(upt, 1);
    ts_metrics_counter_add(NULL, 1);
    ts_metrics_gauge_setf(NULL, 1);

    /* the sum as the doubles add up: 105.8750001 or its nearest neighbour */
    double sum = 0;
    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++)
        sum += obs[i];
    char want[sizeof WANT_A + 128], num[TS_METRICS_NUM_MAX];
    ts_metrics_format_double(num, sum);
    CHECK(strtod(num, NULL) == sum && strncmp(num, "105.8750001", 11) == 0, "sum %s", num);
    snprintf(want, sizeof want, "%sts_lag_seconds_sum %s\nts_lag_seconds_count 8\n", WANT_A, num);

    t = render(r);
    check_text("registry A", t, want);
    free(t);

    /* render appends */
    ts_buf_t b;
    ts_buf_init(&b);
    ts_buf_printf(&b, "x\n");
    ts_metrics_render(r, &b);
    CHECK(b.len == 2 + strlen(want) && memcmp(b.data, "x\n", 2) == 0, "render appends to the buffer");
    ts_buf_free(&b);
    ts_metrics_destroy(&r);
    CHECK(r == NULL, "destroy clears the pointer");
}

/* The supervisor's shape: constant labels on every line, per-stage series under one family. */
static void test_labels(void)
{
    ts_metrics_t *r = ts_metrics_new((const char *[]){ "stream", "foo \"1\"", NULL });
    CHECK(r != NULL, "registry with constant labels");
    CHECK(ts_metrics_build_info(r, "0.3.0", "abc123") == 0, "build_info");
    CHECK(ts_metrics_build_info(r, "0.3.0", "abc123") == -1, "build_info twice is a duplicate series");
    static const char *stages[] = { "ingest", "signer", "swarm" };
    for (int i = 0; i < 3; i++) {
        const char *l[] = { "stage", stages[i], NULL };
        CHECK(ts_metrics_counter_fn(r, "ts_stage_restarts_total", "Restarts of the stage.", l, restarts,
                                    (void *)(uintptr_t)(i * 2)) != NULL,
              "restarts %s", stages[i]);
        ts_metric_t *st = ts_metrics_gauge(r, "ts_stage_state", "1 for the state the stage is in.",
                                           (const char *[]){ "stage", stages[i], "state", "ready", NULL });
        ts_metrics_gauge_set(st, i != 1);
    }
    static const double b[] = { 1, 10, INFINITY };
    ts_metric_t *h = ts_metrics_histogram(r, "ts_turn_seconds", "Loop turns.", (const char *[]){ "loop", "main", NULL },
                                          b, 3);
    CHECK(h != NULL, "a trailing +Inf bound is accepted (%s)", ts_metrics_error(r));
    ts_metric_t *h2 = ts_metrics_histogram(r, "ts_turn_seconds", "Loop turns.", (const char *[]){ "loop", "io", NULL },
                                           b, 2);
    CHECK(h2 != NULL, "... and equals the bounds without it (%s)", ts_metrics_error(r));
    ts_metrics_histogram_observe(h, 10);
    ts_metrics_histogram_observe(h, 1e300);
    ts_metrics_histogram_observe(h2, 0.5);
    char *t = render(r);
    check_text("registry B", t,
               "# HELP tstream_build_info Build information: version and commit. Always 1.\n"
               "# TYPE tstream_build_info gauge\n"
               "tstream_build_info{stream=\"foo \\\"1\\\"\",version=\"0.3.0\",commit=\"abc123\"} 1\n"
               "# HELP ts_stage_restarts_total Restarts of the stage.\n"
               "# TYPE ts_stage_restarts_total counter\n"
               "ts_stage_restarts_total{stream=\"foo \\\"1\\\"\",stage=\"ingest\"} 0\n"
               "ts_stage_restarts_total{stream=\"foo \\\"1\\\"\",stage=\"signer\"} 2\n"
               "ts_stage_restarts_total{stream=\"foo \\\"1\\\"\",stage=\"swarm\"} 4\n"
               "# HELP ts_stage_state 1 for the state the stage is in.\n"
               "# TYPE ts_stage_state gauge\n"
               "ts_stage_state{stream=\"foo \\\"1\\\"\",stage=\"ingest\",state=\"ready\"} 1\n"
               "ts_stage_state{stream=\"foo \\\"1\\\"\",stage=\"signer\",state=\"ready\"} 0\n"
               "ts_stage_state{stream=\"foo \\\"1\\\"\",stage=\"swarm\",state=\"ready\"} 1\n"
               "# HELP ts_turn_seconds Loop turns.\n"
               "# TYPE ts_turn_seconds histogram\n"
               "ts_turn_seconds_bucket{stream=\"foo \\\"1\\\"\",loop=\"main\",le=\"1\"} 0\n"
               "ts_turn_seconds_bucket{stream=\"foo \\\"1\\\"\",loop=\"main\",le=\"10\"} 1\n"
               "ts_turn_seconds_bucket{stream=\"foo \\\"1\\\"\",loop=\"main\",le=\"+Inf\"} 2\n"
               "ts_turn_seconds_sum{stream=\"foo \\\"1\\\"\",loop=\"main\"} 1e+300\n"
               "ts_turn_seconds_count{stream=\"foo \\\"1\\\"\",loop=\"main\"} 2\n"
               "ts_turn_seconds_bucket{stream=\"foo \\\"1\\\"\",loop=\"io\",le=\"1\"} 1\n"
               "ts_turn_seconds_bucket{stream=\"foo \\\"1\\\"\",loop=\"io\",le=\"10\"} 1\n"
               "ts_turn_seconds_bucket{stream=\"foo \\\"1\\\"\",loop=\"io\",le=\"+Inf\"} 1\n"
               "ts_turn_seconds_sum{stream=\"foo \\\"1\\\"\",loop=\"io\"} 0.5\n"
               "ts_turn_seconds_count{stream=\"foo \\\"1\\\"\",loop=\"io\"} 1\n");
    free(t);
    ts_metrics_destroy(&r);

    /* A histogram without buckets has only +Inf. */
    r = ts_metrics_new(NULL);
    h = ts_metrics_histogram(r, "ts_x_seconds", "X.", NULL, NULL, 0);
    ts_metrics_histogram_observe(h, 3);
    t = render(r);
    check_text("bucketless histogram", t,
               "# HELP ts_x_seconds X.\n# TYPE ts_x_seconds histogram\nts_x_seconds_bucket{le=\"+Inf\"} 1\n"
               "ts_x_seconds_sum 3\nts_x_seconds_count 1\n");
    free(t);
    ts_metrics_destroy(&r);
}

static void test_numbers(void)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        { 0, "0" },
        { -0.0, "0" },
        { 1, "1" },
        { -3, "-3" },
        { 0.1, "0.1" },
        { 2.5, "2.5" },
        { 1e-7, "1e-07" },
        { 123456789, "123456789" },
        { 9007199254740993.0, "9007199254740992" }, /* 2^53 + 1 is not a double: its neighbour */
        { 1e18, "1000000000000000000" },
        { 1e21, "1e+21" },
        { 1.0 / 3, "0.3333333333333333" },
        { 5e-324, "5e-324" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { INFINITY, "+Inf" },
        { -INFINITY, "-Inf" },
        { NAN, "NaN" },
    };
    char out[TS_METRICS_NUM_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ts_metrics_format_double(out, cases[i].v);
        CHECK(strcmp(out, cases[i].want) == 0, "format %.17g: '%s', want '%s'", cases[i].v, out, cases[i].want);
    }
    /* Round trip over many values: the shortest text still reads back exactly. */
    int ok = 1;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000 && ok; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (isnan(v))
            continue;
        ts_metrics_format_double(out, v);
        LOOP_CHECK(ok, strtod(out, NULL) == v && strlen(out) < TS_METRICS_NUM_MAX, "round trip of %a: '%s'", v, out);
    }
    CHECK(ok, "100000 random doubles read back exactly");
}

/* Registration must fail, and ts_metrics_error must say why (contain why). */
#define REFUSE(call, why, what)                                                                                        \
    do {                                                                                                               \
        ts_metric_t *m_ = (call);                                                                                      \
        const char *e_ = ts_metrics_error(r);                                                                          \
        CHECK(!m_ && e_ && strstr(e_, why), "%s: refused (%s)", what, e_ ? e_ : "no error");                           \
    } while (0)
#define ACCEPT(call, what) CHECK((call) != NULL, "%s: accepted (%s)", what, ts_metrics_error(r))

static void test_rules(void)
{
    static const char *good[] = { "ts_a", "a:b", "_x", "A9", ":x", "ts_build_info" };
    static const char *bad[] = { "", "9a", "a-b", "__x", "a b", "caf\xc3\xa9", "a.b", "a\n" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(ts_metrics_name_ok(good[i]), "metric name '%s' valid", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!ts_metrics_name_ok(bad[i]), "metric name '%s' invalid", bad[i]);
    CHECK(ts_metrics_label_ok("a") && ts_metrics_label_ok("_a") && ts_metrics_label_ok("stage_2"), "label names valid");
    CHECK(!ts_metrics_label_ok("a:b") && !ts_metrics_label_ok("__a") && !ts_metrics_label_ok("1a") &&
              !ts_metrics_label_ok("") && !ts_metrics_label_ok(NULL),
          "label names invalid");
    char longname[TS_METRICS_MAX_NAME + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(!ts_metrics_name_ok(longname), "a %zu-byte name is too long", sizeof longname - 1);

    CHECK(ts_metrics_new((const char *[]){ "a", NULL }) == NULL, "constant label without a value");
    CHECK(ts_metrics_new((const char *[]){ "a-b", "x", NULL }) == NULL, "bad constant label name");
    CHECK(ts_metrics_new((const char *[]){ "le", "x", NULL }) == NULL, "constant label le");
    CHECK(ts_metrics_new((const char *[]){ "a", "1", "a", "2", NULL }) == NULL, "constant label twice");
    CHECK(ts_metrics_new((const char *[]){ "a", "\xff", NULL }) == NULL, "constant label value not UTF-8");

    ts_metrics_t *r = ts_metrics_new((const char *[]){ "instance", "foo", NULL });
    ts_metric_t *g = ts_metrics_gauge(r, "ts_g", "G.", (const char *[]){ "a", "1", "b", "2", NULL });
    static const double lb[] = { 1, 2 };
    ts_metric_t *h = ts_metrics_histogram(r, "ts_h_seconds", "H.", NULL, lb, 2);
    uint64_t v = 0;
    CHECK(g && h && ts_metrics_counter_ptr(r, "ts_c_total", "C.", NULL, &v), "setup (%s)", ts_metrics_error(r));
    char *before = render(r);

    REFUSE(ts_metrics_counter(r, "ts_pieces", "P.", NULL), "_total", "counter without _total");
    REFUSE(ts_metrics_counter(r, "total", "P.", NULL), "_total", "counter called total");
    REFUSE(ts_metrics_counter_ptr(r, "ts_x", "P.", NULL, &v), "_total", "pointer counter without _total");
    REFUSE(ts_metrics_counter_fn(r, "ts_x", "P.", NULL, restarts, NULL), "_total", "callback counter without _total");
    REFUSE(ts_metrics_gauge(r, "ts-x", "X.", NULL), "name", "bad metric name");
    REFUSE(ts_metrics_gauge(r, "__ts_x", "X.", NULL), "name", "reserved metric name");
    REFUSE(ts_metrics_gauge(r, "ts_x", "", NULL), "help", "empty help");
    REFUSE(ts_metrics_gauge(r, "ts_x", NULL, NULL), "help", "no help");
    REFUSE(ts_metrics_gauge(r, "ts_x", "bad \xe2\x82", NULL), "UTF-8", "help cut mid-character");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a:b", "1", NULL }), "label name", "bad label name");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "__a", "1", NULL }), "label name", "reserved label");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "le", "1", NULL }), "le", "label le");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a", NULL }), "value", "label without value");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a", "1", "a", "2", NULL }), "twice", "label twice");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "instance", "2", NULL }), "registry",
           "constant label again");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a", "\xc0\xaf", NULL }), "UTF-8", "overlong UTF-8");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a", "\xed\xa0\x80", NULL }), "UTF-8", "surrogate");
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a", "\xf4\x90\x80\x80", NULL }), "UTF-8",
           "above U+10FFFF");
    REFUSE(ts_metrics_gauge(r, "ts_g", "G.", (const char *[]){ "b", "2", "a", "1", NULL }), "exists",
           "same label set in another order");
    REFUSE(ts_metrics_gauge(r, "ts_g", "Other help.", (const char *[]){ "a", "3", NULL }), "help",
           "same name, other help");
    REFUSE(ts_metrics_counter(r, "ts_c_total", "C.", NULL), "exists", "same series, owned this time");
    REFUSE(ts_metrics_gauge(r, "ts_c_total", "C.", (const char *[]){ "a", "3", NULL }), "type",
           "same name, other type");
    REFUSE(ts_metrics_gauge_ptr(r, "ts_p", "P.", NULL, NULL), "pointer", "no pointer");
    REFUSE(ts_metrics_gauge_fn(r, "ts_p", "P.", NULL, NULL, NULL), "callback", "no callback");
    REFUSE(ts_metrics_histogram(r, "ts_h2", "H.", NULL, (const double[]){ 1, 1 }, 2), "increasing", "equal bounds");
    REFUSE(ts_metrics_histogram(r, "ts_h2", "H.", NULL, (const double[]){ 2, 1 }, 2), "increasing",
           "decreasing bounds");
    REFUSE(ts_metrics_histogram(r, "ts_h2", "H.", NULL, (const double[]){ NAN }, 1), "finite", "NaN bound");
    REFUSE(ts_metrics_histogram(r, "ts_h2", "H.", NULL, (const double[]){ -INFINITY, 1 }, 2), "finite", "-Inf bound");
    REFUSE(ts_metrics_histogram(r, "ts_h2", "H.", NULL, NULL, 2), "bounds", "no bounds");
    REFUSE(ts_metrics_histogram(r, "ts_h_seconds", "H.", (const char *[]){ "a", "1", NULL }, (const double[]){ 1, 3 },
                                2),
           "buckets", "other bounds for the family");
    REFUSE(ts_metrics_histogram(r, "ts_h_seconds", "H.", (const char *[]){ "le", "1", NULL }, lb, 2), "le",
           "histogram label le");
    REFUSE(ts_metrics_gauge(r, "ts_h_seconds_sum", "S.", NULL), "collides", "a histogram's _sum");
    REFUSE(ts_metrics_gauge(r, "ts_h_seconds_count", "S.", NULL), "collides", "a histogram's _count");
    REFUSE(ts_metrics_histogram(r, "ts_g", "H.", NULL, lb, 2), "type", "a gauge's name for a histogram");
    /* size limits */
    static char names[TS_METRICS_MAX_LABELS + 1][8];
    const char *many[2 * (TS_METRICS_MAX_LABELS + 1) + 1];
    for (int i = 0; i <= TS_METRICS_MAX_LABELS; i++) {
        snprintf(names[i], sizeof names[i], "l%d", i);
        many[2 * i] = names[i];
        many[2 * i + 1] = "v";
    }
    many[2 * (TS_METRICS_MAX_LABELS + 1)] = NULL;
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", many), "too many", "17 label pairs");
    many[2 * TS_METRICS_MAX_LABELS] = NULL;
    ACCEPT(ts_metrics_gauge(r, "ts_many", "X.", many), "16 label pairs");
    char longval[TS_METRICS_MAX_TEXT + 2];
    memset(longval, 'v', sizeof longval - 1);
    longval[sizeof longval - 1] = 0;
    REFUSE(ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "a", longval, NULL }), "too long", "1025-byte value");
    REFUSE(ts_metrics_gauge(r, "ts_x", longval, NULL), "too long", "1025-byte help");
    longval[sizeof longval - 2] = 0;
    ACCEPT(ts_metrics_gauge(r, "ts_long", "X.", (const char *[]){ "a", longval, NULL }), "1024-byte value");
    double bnd[TS_METRICS_MAX_BUCKETS + 1];
    for (int i = 0; i <= TS_METRICS_MAX_BUCKETS; i++)
        bnd[i] = i;
    REFUSE(ts_metrics_histogram(r, "ts_x", "X.", NULL, bnd, TS_METRICS_MAX_BUCKETS + 1), "too many", "65 buckets");
    ACCEPT(ts_metrics_histogram(r, "ts_hmax", "X.", NULL, bnd, TS_METRICS_MAX_BUCKETS), "64 buckets");
    ACCEPT(ts_metrics_counter(r, "ts_h_seconds_bucket_total", "S.", NULL), "ts_h_seconds_bucket_total");
    ACCEPT(ts_metrics_histogram(r, "ts_g_sum", "H.", NULL, lb, 2), "histogram ts_g_sum beside gauge ts_g");
    ACCEPT(ts_metrics_histogram(r, "ts_c", "H.", NULL, lb, 2), "histogram ts_c beside counter ts_c_total");
    ACCEPT(ts_metrics_gauge(r, "ts_k_count", "K.", NULL), "gauge ts_k_count");
    REFUSE(ts_metrics_histogram(r, "ts_k", "H.", NULL, lb, 2), "collides", "histogram ts_k beside gauge ts_k_count");
    CHECK(ts_metrics_counter(r, "ts_pieces", "P.", NULL) == NULL && strstr(ts_metrics_error(r), "_total"),
          "error names _total (%s)", ts_metrics_error(r));
    CHECK(ts_metrics_gauge(r, "ts_g", "G.", (const char *[]){ "b", "2", "a", "1", NULL }) == NULL &&
              strstr(ts_metrics_error(r), "exists"),
          "error names the duplicate (%s)", ts_metrics_error(r));
    CHECK(ts_metrics_gauge(r, "ts_h_seconds_sum", "S.", NULL) == NULL && strstr(ts_metrics_error(r), "collides"),
          "error names the collision (%s)", ts_metrics_error(r));
    CHECK(ts_metrics_gauge(r, "ts_ok", "O.", NULL) != NULL && ts_metrics_error(r) == NULL,
          "a success clears the error");
    ts_metrics_destroy(&r);

    /* Failed registrations change nothing. */
    r = ts_metrics_new((const char *[]){ "instance", "foo", NULL });
    g = ts_metrics_gauge(r, "ts_g", "G.", (const char *[]){ "a", "1", "b", "2", NULL });
    h = ts_metrics_histogram(r, "ts_h_seconds", "H.", NULL, lb, 2);
    ts_metrics_counter_ptr(r, "ts_c_total", "C.", NULL, &v);
    char *again = render(r);
    CHECK(strcmp(before, again) == 0, "same registrations, same text");
    free(again);
    ts_metrics_counter(r, "ts_pieces", "P.", NULL);
    ts_metrics_gauge(r, "ts_g", "Other.", NULL);
    ts_metrics_gauge(r, "ts_g", "G.", (const char *[]){ "b", "2", "a", "1", NULL });
    ts_metrics_histogram(r, "ts_h_seconds", "H.", NULL, (const double[]){ 1, 3 }, 2);
    ts_metrics_gauge(r, "ts_h_seconds_count", "S.", NULL);
    ts_metrics_gauge(r, "ts_x", "X.", (const char *[]){ "instance", "2", NULL });
    again = render(r);
    CHECK(strcmp(before, again) == 0, "failed registrations leave the text as it was");
    free(again);
    free(before);
    ts_metrics_destroy(&r);
    ts_metrics_destroy(&r); /* twice is harmless */
}

int main(void)
{
    test_render();
    test_labels();
    test_numbers();
    test_rules();
    CHECK_DONE();
}
