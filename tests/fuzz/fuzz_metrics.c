/* libFuzzer target for the metrics exposition (lib/ts_metrics.c). Names, help, label pairs and
 * values come from the input (label values may one day carry operator-chosen instance names).
 * Whatever registration accepts must render to text a strict 0.0.4 reader takes back exactly:
 * help and label values unescape to the registered bytes, every value reads back to the same
 * double, histogram buckets are cumulative and end in _count. A refusal must give a reason. */
#include "ts_metrics.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NF 8

/* Unescape src[0..n) (escapes: \\ \n, and \" when quoted) into dst; the length, or -1. */
static long unescape(const char *src, size_t n, char *dst, int quoted)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '\n' || (quoted && c == '"'))
            return -1;
        if (c == '\\') {
            if (++i == n)
                return -1;
            c = src[i] == 'n' ? '\n' : src[i] == '\\' ? '\\' : quoted && src[i] == '"' ? '"' : 0;
            if (!c)
                return -1;
        }
        dst[o++] = c;
    }
    dst[o] = 0;
    return (long)o;
}

/* Read `name{l="v",...} value` at p: labels unescaped into lv[] (up to 8). The end of the line, or
 * NULL. */
static const char *sample(const char *p, const char *name, const char *suffix, char lv[][1100], int *nl, double *v)
{
    size_t nn = strlen(name), sl = strlen(suffix);
    if (strncmp(p, name, nn) != 0 || strncmp(p + nn, suffix, sl) != 0)
        return NULL;
    p += nn + sl;
    *nl = 0;
    if (*p == '{') {
        p++;
        for (;;) {
            const char *eq = strchr(p, '=');
            if (!eq || eq[1] != '"' || *nl >= 20)
                return NULL;
            const char *q = eq + 2;
            while (*q && *q != '"' && *q != '\n')
                q += *q == '\\' && q[1] ? 2 : 1;
            size_t len = (size_t)(q - (eq + 2));
            if (*q != '"' || len > 2 * TS_METRICS_MAX_TEXT || unescape(eq + 2, len, lv[*nl], 1) < 0)
                return NULL;
            (*nl)++;
            p = q + 1;
            if (*p == '}')
                break;
            if (*p++ != ',')
                return NULL;
        }
        p++;
    }
    if (*p++ != ' ')
        return NULL;
    const char *eol = strchr(p, '\n');
    if (!eol)
        return NULL;
    if (eol - p == 3 && !strncmp(p, "NaN", 3))
        *v = NAN;
    else if (eol - p == 4 && !strncmp(p, "+Inf", 4))
        *v = INFINITY;
    else if (eol - p == 4 && !strncmp(p, "-Inf", 4))
        *v = -INFINITY;
    else {
        char *end;
        *v = strtod(p, &end);
        if (end != eol || isinf(*v) || isnan(*v))
            return NULL;
    }
    return eol + 1;
}

static int same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    double value;
    memcpy(&value, data, 8);
    /* fields split at NUL bytes: name, help, then label name/value pairs */
    char *copy = malloc(size - 8 + 1);
    memcpy(copy, data + 8, size - 8);
    copy[size - 8] = 0;
    const char *f[NF + 1] = { 0 };
    int n = 0;
    for (char *p = copy; n < NF && p <= copy + (size - 8); p += strlen(p) + 1)
        f[n++] = p;
    if (n < 2) {
        free(copy);
        return 0;
    }
    const char *labels[NF];
    int nl = 0;
    for (int i = 2; i + 1 < n; i += 2)
        labels[nl++] = f[i], labels[nl++] = f[i + 1];
    labels[nl] = NULL;

    ts_metrics_t *r = ts_metrics_new((const char *[]){ "stream", "fuzz", NULL });
    ts_metric_t *g = ts_metrics_gauge(r, f[0], f[1], labels);
    if (!g && !ts_metrics_error(r))
        abort();
    ts_metrics_gauge_setf(g, value);
    double bounds[3] = { value, value + 1, value * 2 + 3 };
    ts_metric_t *h = ts_metrics_histogram(r, "ts_fuzz_seconds", "F.", labels, bounds, 3);
    if (!h && !ts_metrics_error(r))
        abort();
    ts_metrics_histogram_observe(h, value);
    ts_metrics_histogram_observe(h, value + 0.5);
    ts_buf_t b;
    ts_buf_init(&b);
    ts_metrics_render(r, &b);
    ts_buf_putc(&b, 0);
    const char *p = (const char *)b.data;
    static char lv[20][1100];
    static char help[2 * TS_METRICS_MAX_TEXT + 2];
    int k;
    double v;
    if (g) {
        /* # HELP name help / # TYPE name gauge / name{stream="fuzz",labels} value */
        size_t nn = strlen(f[0]);
        if (strncmp(p, "# HELP ", 7) || strncmp(p + 7, f[0], nn) || p[7 + nn] != ' ')
            abort();
        const char *eol = strchr(p, '\n');
        const char *hs = p + 8 + nn;
        if (!eol || (size_t)(eol - hs) >= sizeof help || unescape(hs, (size_t)(eol - hs), help, 0) < 0 ||
            strcmp(help, f[1]))
            abort();
        p = eol + 1;
        if (strncmp(p, "# TYPE ", 7) || strncmp(p + 7, f[0], nn) || strncmp(p + 7 + nn, " gauge\n", 7))
            abort();
        p += 7 + nn + 7;
        p = sample(p, f[0], "", lv, &k, &v);
        if (!p || k != 1 + nl / 2 || strcmp(lv[0], "fuzz") || !same(v, value))
            abort();
        for (int i = 0; i < nl / 2; i++)
            if (strcmp(lv[1 + i], labels[2 * i + 1]))
                abort();
    }
    if (h) {
        static const char hist_head[] = "# HELP ts_fuzz_seconds F.\n# TYPE ts_fuzz_seconds histogram\n";
        if (strncmp(p, hist_head, sizeof hist_head - 1))
            abort();
        p += sizeof hist_head - 1;
        double last = 0, le;
        for (int i = 0; i < 4; i++) {
            p = sample(p, "ts_fuzz_seconds", "_bucket", lv, &k, &v);
            if (!p || k != 2 + nl / 2 || v < last)
                abort();
            le = i < 3 ? strtod(lv[k - 1], NULL) : INFINITY;
            if ((i < 3 && le != bounds[i]) || (i == 3 && strcmp(lv[k - 1], "+Inf")))
                abort();
            last = v;
        }
        double sum;
        p = sample(p, "ts_fuzz_seconds", "_sum", lv, &k, &sum);
        if (!p || !same(sum, value + (value + 0.5)))
            abort();
        p = sample(p, "ts_fuzz_seconds", "_count", lv, &k, &v);
        if (!p || v != last || v != 2)
            abort();
    }
    if (*p)
        abort(); /* nothing else */
    ts_buf_free(&b);
    ts_metrics_destroy(&r);
    free(copy);
    return 0;
}
