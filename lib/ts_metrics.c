#include "ts_metrics.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_COUNTER, T_GAUGE, T_HISTOGRAM } mtype_t;
static const char *const type_name[] = { "counter", "gauge", "histogram" };

typedef enum {
    V_U64,    /* owned counter */
    V_I64,    /* owned gauge, last set as an integer */
    V_F64,    /* owned gauge, last set as a double */
    V_PTR,    /* *ptr at render time */
    V_FN_U64, /* fn_u(arg) at render time */
    V_FN_F64, /* fn_f(arg) at render time */
    V_HIST,   /* owned histogram */
} vkind_t;

typedef struct family family_t;

struct ts_metric {
    ts_metric_t *next; /* in its family */
    family_t *fam;
    vkind_t kind;
    size_t nlabels;
    char **lname, **lvalue; /* as registered, for the duplicate check */
    char *ltext;            /* rendered: name="escaped",… (no braces), "" without labels */
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;
    const uint64_t *ptr;
    ts_metrics_u64_fn *fn_u;
    ts_metrics_f64_fn *fn_f;
    void *arg;
    uint64_t *counts; /* histogram: per bucket, not cumulative; [nbounds] is the +Inf bucket */
    uint64_t count;
    double sum;
};

struct family {
    family_t *next;
    char *name;
    char *help;
    mtype_t type;
    double *bounds;
    size_t nbounds;
    char (*le)[TS_METRICS_NUM_MAX]; /* bounds formatted for the le label */
    ts_metric_t *first, *last;
};

struct ts_metrics {
    family_t *first, *last;
    char *ltext; /* the constant labels, rendered */
    size_t nlabels;
    char **lname;
    const char *error;
};

/* ------------------------------------------------------------------ checks */

static int name_ok(const char *s, int metric)
{
    if (!s || !*s || strlen(s) > TS_METRICS_MAX_NAME || (s[0] == '_' && s[1] == '_'))
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

int ts_metrics_name_ok(const char *name) { return name_ok(name, 1); }
int ts_metrics_label_ok(const char *name) { return name_ok(name, 0); }

/* Well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF): Prometheus rejects the
 * whole scrape otherwise. */
static int utf8_ok(const char *str)
{
    const uint8_t *s = (const uint8_t *)str;
    while (*s) {
        uint8_t c = *s;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[k] & 0xc0) != 0x80)
                return 0; /* also stops at the NUL */
            cp = cp << 6 | (s[k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

static int text_ok(const char *s) { return s && strlen(s) <= TS_METRICS_MAX_TEXT && utf8_ok(s); }

static int help_ok(const char *s) { return s && *s && text_ok(s); }

/* ------------------------------------------------------------------ formatting */

void ts_metrics_format_double(char *out, double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
    } else if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        strcpy(out, "0"); /* and not "-0" */
    } else if (v == trunc(v) && fabs(v) < 9.2e18) {
        snprintf(out, TS_METRICS_NUM_MAX, "%.0f", v); /* exact */
    } else {
        for (int prec = 1; prec <= 17; prec++) { /* 17 always reads back */
            snprintf(out, TS_METRICS_NUM_MAX, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* Label values escape backslash, double quote and newline; help texts backslash and newline. */
static void put_escaped(ts_buf_t *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            ts_buf_put(b, "\\\\", 2);
        else if (*s == '\n')
            ts_buf_put(b, "\\n", 2);
        else if (*s == '"' && quote)
            ts_buf_put(b, "\\\"", 2);
        else
            ts_buf_putc(b, (uint8_t)*s);
    }
}

static char *buf_str(ts_buf_t *b)
{
    ts_buf_putc(b, 0);
    if (b->err) {
        ts_buf_free(b);
        return NULL;
    }
    return (char *)b->data; /* the caller frees */
}

/* ------------------------------------------------------------------ labels */

/* Names in the list; a last name without a value counts (labels_check refuses it) and ends it. */
static size_t count_pairs(const char *const *labels)
{
    size_t n = 0;
    while (labels && labels[2 * n]) {
        n++;
        if (!labels[2 * n - 1])
            break;
    }
    return n;
}

/* Check a label list (given as name, value, …, NULL) against the rules and against the names in
 * taken[0..ntaken). NULL, or why not. */
static const char *labels_check(const char *const *labels, char *const *taken, size_t ntaken)
{
    size_t n = count_pairs(labels);
    if (n > TS_METRICS_MAX_LABELS)
        return "too many labels";
    for (size_t i = 0; i < n; i++) {
        const char *name = labels[2 * i], *value = labels[2 * i + 1];
        if (!value)
            return "label without a value";
        if (!ts_metrics_label_ok(name))
            return "invalid label name";
        if (strcmp(name, "le") == 0)
            return "label name \"le\" is reserved for histograms";
        if (!text_ok(value))
            return "label value too long or not UTF-8";
        for (size_t k = 0; k < i; k++)
            if (strcmp(labels[2 * k], name) == 0)
                return "label name given twice";
        for (size_t k = 0; k < ntaken; k++)
            if (strcmp(taken[k], name) == 0)
                return "label name already among the registry's labels";
    }
    return NULL;
}

static char *labels_text(const char *const *labels, size_t n)
{
    ts_buf_t b;
    ts_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        ts_buf_printf(&b, "%s%s=\"", i ? "," : "", labels[2 * i]);
        put_escaped(&b, labels[2 * i + 1], 1);
        ts_buf_putc(&b, '"');
    }
    return buf_str(&b);
}

static char **strv_dup(const char *const *labels, size_t n, size_t off)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(labels[2 * i + off]))) {
            while (i--)
                free(v[i]);
            free(v);
            return NULL;
        }
    return v;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* ------------------------------------------------------------------ registry */

ts_metrics_t *ts_metrics_new(const char *const *labels)
{
    if (labels_check(labels, NULL, 0))
        return NULL;
    ts_metrics_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->nlabels = count_pairs(labels);
    r->lname = strv_dup(labels, r->nlabels, 0);
    r->ltext = labels_text(labels, r->nlabels);
    if (!r->lname || !r->ltext) {
        ts_metrics_destroy(&r);
        return NULL;
    }
    return r;
}

static void series_free(ts_metric_t *m)
{
    strv_free(m->lname, m->nlabels);
    strv_free(m->lvalue, m->nlabels);
    free(m->ltext);
    free(m->counts);
    free(m);
}

static void family_free(family_t *f)
{
    ts_metric_t *next;
    for (ts_metric_t *m = f->first; m; m = next) {
        next = m->next;
        series_free(m);
    }
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f->le);
    free(f);
}

void ts_metrics_destroy(ts_metrics_t **self)
{
    ts_metrics_t *r = *self;
    if (!r)
        return;
    family_t *next;
    for (family_t *f = r->first; f; f = next) {
        next = f->next;
        family_free(f);
    }
    strv_free(r->lname, r->nlabels);
    free(r->ltext);
    free(r);
    *self = NULL;
}

const char *ts_metrics_error(const ts_metrics_t *r) { return r ? r->error : "no registry"; }

static family_t *family_find(const ts_metrics_t *r, const char *name)
{
    for (family_t *f = r->first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* name is a histogram's generated NAME_bucket, NAME_sum or NAME_count for hist. */
static int derived_from(const char *name, const char *hist)
{
    size_t hl = strlen(hist);
    if (strncmp(name, hist, hl) != 0)
        return 0;
    return !strcmp(name + hl, "_bucket") || !strcmp(name + hl, "_sum") || !strcmp(name + hl, "_count");
}

/* A new family called name of type t: does any line it writes share a name with another family's? */
static int family_collides(const ts_metrics_t *r, const char *name, mtype_t t)
{
    for (family_t *f = r->first; f; f = f->next) {
        if (f->type == T_HISTOGRAM && derived_from(name, f->name))
            return 1;
        if (t == T_HISTOGRAM && derived_from(f->name, name))
            return 1;
    }
    return 0;
}

static int same_labels(const ts_metric_t *m, const char *const *labels, size_t n)
{
    if (m->nlabels != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n && strcmp(m->lname[k], labels[2 * i]) != 0)
            k++;
        if (k == n || strcmp(m->lvalue[k], labels[2 * i + 1]) != 0)
            return 0;
    }
    return 1;
}

static ts_metric_t *fail(ts_metrics_t *r, const char *why)
{
    if (r)
        r->error = why;
    return NULL;
}

static family_t *family_new(const char *name, const char *help, mtype_t t, const double *bounds, size_t nb)
{
    family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->type = t;
    f->name = strdup(name);
    f->help = strdup(help);
    if (t == T_HISTOGRAM) {
        f->nbounds = nb;
        f->bounds = malloc((nb ? nb : 1) * sizeof *f->bounds);
        f->le = malloc((nb ? nb : 1) * sizeof *f->le);
        if (f->bounds && f->le)
            for (size_t i = 0; i < nb; i++) {
                f->bounds[i] = bounds[i];
                ts_metrics_format_double(f->le[i], bounds[i]);
            }
    }
    if (!f->name || !f->help || (t == T_HISTOGRAM && (!f->bounds || !f->le))) {
        family_free(f);
        return NULL;
    }
    return f;
}

/* Every registration comes here: check everything, then allocate, then link (so a failure leaves
 * the registry as it was). */
static ts_metric_t *add(ts_metrics_t *r, mtype_t t, vkind_t kind, const char *name, const char *help,
                        const char *const *labels, const double *bounds, size_t nb)
{
    if (!r)
        return NULL;
    r->error = NULL;
    if (!ts_metrics_name_ok(name))
        return fail(r, "invalid metric name");
    size_t nl = strlen(name);
    if (t == T_COUNTER && (nl < 6 || strcmp(name + nl - 6, "_total") != 0))
        return fail(r, "a counter's name must end in _total");
    if (!help_ok(help))
        return fail(r, "help empty, too long or not UTF-8");
    const char *why = labels_check(labels, r->lname, r->nlabels);
    if (why)
        return fail(r, why);
    if (t == T_HISTOGRAM) {
        if (nb > 0 && isinf(bounds[nb - 1]) && bounds[nb - 1] > 0)
            nb--; /* the +Inf bucket is always there */
        if (nb > TS_METRICS_MAX_BUCKETS)
            return fail(r, "too many buckets");
        for (size_t i = 0; i < nb; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                return fail(r, "bucket bounds must be finite and strictly increasing");
    }
    size_t n = count_pairs(labels);
    family_t *f = family_find(r, name);
    if (f) {
        if (f->type != t)
            return fail(r, "name already registered with another type");
        if (strcmp(help, f->help) != 0)
            return fail(r, "name already registered with another help text");
        int same_bounds = nb == f->nbounds;
        for (size_t i = 0; same_bounds && i < nb; i++)
            same_bounds = bounds[i] == f->bounds[i];
        if (!same_bounds)
            return fail(r, "histogram already registered with other buckets");
        for (ts_metric_t *m = f->first; m; m = m->next)
            if (same_labels(m, labels, n))
                return fail(r, "a series with these labels exists");
    } else if (family_collides(r, name, t)) {
        return fail(r, "name collides with a histogram's _bucket, _sum or _count");
    }

    ts_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        return fail(r, "out of memory");
    m->kind = kind;
    m->nlabels = n;
    m->lname = strv_dup(labels, n, 0);
    m->lvalue = strv_dup(labels, n, 1);
    m->ltext = labels_text(labels, n);
    if (t == T_HISTOGRAM)
        m->counts = calloc(nb + 1, sizeof *m->counts);
    family_t *nf = f ? NULL : family_new(name, help, t, bounds, nb);
    if (!m->lname || !m->lvalue || !m->ltext || (t == T_HISTOGRAM && !m->counts) || (!f && !nf)) {
        series_free(m);
        return fail(r, "out of memory");
    }
    if (nf) {
        f = nf;
        if (r->last)
            r->last->next = f;
        else
            r->first = f;
        r->last = f;
    }
    m->fam = f;
    if (f->last)
        f->last->next = m;
    else
        f->first = m;
    f->last = m;
    return m;
}

ts_metric_t *ts_metrics_counter(ts_metrics_t *r, const char *name, const char *help, const char *const *labels)
{
    return add(r, T_COUNTER, V_U64, name, help, labels, NULL, 0);
}

ts_metric_t *ts_metrics_counter_ptr(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                    const uint64_t *value)
{
    if (!value)
        return fail(r, "no value pointer");
    ts_metric_t *m = add(r, T_COUNTER, V_PTR, name, help, labels, NULL, 0);
    if (m)
        m->ptr = value;
    return m;
}

ts_metric_t *ts_metrics_counter_fn(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                   ts_metrics_u64_fn *fn, void *arg)
{
    if (!fn)
        return fail(r, "no callback");
    ts_metric_t *m = add(r, T_COUNTER, V_FN_U64, name, help, labels, NULL, 0);
    if (m)
        m->fn_u = fn, m->arg = arg;
    return m;
}

ts_metric_t *ts_metrics_counter_fnf(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                    ts_metrics_f64_fn *fn, void *arg)
{
    if (!fn)
        return fail(r, "no callback");
    ts_metric_t *m = add(r, T_COUNTER, V_FN_F64, name, help, labels, NULL, 0);
    if (m)
        m->fn_f = fn, m->arg = arg;
    return m;
}

ts_metric_t *ts_metrics_gauge(ts_metrics_t *r, const char *name, const char *help, const char *const *labels)
{
    return add(r, T_GAUGE, V_I64, name, help, labels, NULL, 0);
}

ts_metric_t *ts_metrics_gauge_ptr(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                  const uint64_t *value)
{
    if (!value)
        return fail(r, "no value pointer");
    ts_metric_t *m = add(r, T_GAUGE, V_PTR, name, help, labels, NULL, 0);
    if (m)
        m->ptr = value;
    return m;
}

ts_metric_t *ts_metrics_gauge_fn(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                 ts_metrics_f64_fn *fn, void *arg)
{
    if (!fn)
        return fail(r, "no callback");
    ts_metric_t *m = add(r, T_GAUGE, V_FN_F64, name, help, labels, NULL, 0);
    if (m)
        m->fn_f = fn, m->arg = arg;
    return m;
}

ts_metric_t *ts_metrics_histogram(ts_metrics_t *r, const char *name, const char *help, const char *const *labels,
                                  const double *bounds, size_t nbounds)
{
    if (!bounds && nbounds)
        return fail(r, "no bounds");
    return add(r, T_HISTOGRAM, V_HIST, name, help, labels, bounds, nbounds);
}

int ts_metrics_build_info(ts_metrics_t *r, const char *version, const char *commit)
{
    const char *labels[] = { "version", version ? version : "", "commit", commit ? commit : "", NULL };
    ts_metric_t *m =
        ts_metrics_gauge(r, "tstream_build_info", "Build information: version and commit. Always 1.", labels);
    if (!m)
        return -1;
    ts_metrics_gauge_set(m, 1);
    return 0;
}

/* ------------------------------------------------------------------ values */

void ts_metrics_counter_add(ts_metric_t *m, uint64_t n)
{
    if (m && m->kind == V_U64)
        m->v.u += n;
}

void ts_metrics_counter_inc(ts_metric_t *m) { ts_metrics_counter_add(m, 1); }

void ts_metrics_gauge_set(ts_metric_t *m, int64_t v)
{
    if (m && (m->kind == V_I64 || m->kind == V_F64))
        m->kind = V_I64, m->v.i = v;
}

void ts_metrics_gauge_setf(ts_metric_t *m, double v)
{
    if (m && (m->kind == V_I64 || m->kind == V_F64))
        m->kind = V_F64, m->v.f = v;
}

void ts_metrics_gauge_add(ts_metric_t *m, int64_t delta)
{
    if (m && m->kind == V_I64)
        m->v.i = (int64_t)((uint64_t)m->v.i + (uint64_t)delta); /* wraps instead of overflowing */
    else if (m && m->kind == V_F64)
        m->v.f += (double)delta;
}

void ts_metrics_histogram_observe(ts_metric_t *m, double v)
{
    if (!m || m->kind != V_HIST || isnan(v))
        return;
    const family_t *f = m->fam;
    size_t lo = 0, hi = f->nbounds; /* first bound >= v, else the +Inf bucket */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->bounds[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    m->counts[lo]++;
    m->count++;
    m->sum += v;
}

/* ------------------------------------------------------------------ render */

/* name{constant,series,extra} — each part may be empty. */
static void put_series(ts_buf_t *b, const ts_metrics_t *r, const char *name, const char *suffix, const ts_metric_t *m,
                       const char *extra)
{
    const char *parts[3] = { r->ltext, m->ltext, extra };
    ts_buf_printf(b, "%s%s", name, suffix);
    int open = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        ts_buf_putc(b, open ? ',' : '{');
        ts_buf_put(b, parts[i], strlen(parts[i]));
        open = 1;
    }
    if (open)
        ts_buf_putc(b, '}');
    ts_buf_putc(b, ' ');
}

static void put_f64(ts_buf_t *b, double v)
{
    char num[TS_METRICS_NUM_MAX];
    ts_metrics_format_double(num, v);
    ts_buf_printf(b, "%s\n", num);
}

int ts_metrics_render(const ts_metrics_t *r, ts_buf_t *out)
{
    for (const family_t *f = r->first; f; f = f->next) {
        ts_buf_printf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, 0);
        ts_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name[f->type]);
        for (const ts_metric_t *m = f->first; m; m = m->next) {
            if (m->kind == V_HIST) {
                uint64_t cum = 0;
                char le[TS_METRICS_NUM_MAX + 8];
                for (size_t i = 0; i <= f->nbounds; i++) {
                    cum += m->counts[i];
                    snprintf(le, sizeof le, "le=\"%s\"", i < f->nbounds ? f->le[i] : "+Inf");
                    put_series(out, r, f->name, "_bucket", m, le);
                    ts_buf_printf(out, "%llu\n", (unsigned long long)cum);
                }
                put_series(out, r, f->name, "_sum", m, NULL);
                put_f64(out, m->sum);
                put_series(out, r, f->name, "_count", m, NULL);
                ts_buf_printf(out, "%llu\n", (unsigned long long)m->count);
                continue;
            }
            put_series(out, r, f->name, "", m, NULL);
            switch (m->kind) {
            case V_U64:
                ts_buf_printf(out, "%llu\n", (unsigned long long)m->v.u);
                break;
            case V_I64:
                ts_buf_printf(out, "%lld\n", (long long)m->v.i);
                break;
            case V_F64:
                put_f64(out, m->v.f);
                break;
            case V_PTR:
                ts_buf_printf(out, "%llu\n", (unsigned long long)*m->ptr);
                break;
            case V_FN_U64:
                ts_buf_printf(out, "%llu\n", (unsigned long long)m->fn_u(m->arg));
                break;
            case V_FN_F64:
                put_f64(out, m->fn_f(m->arg));
                break;
            case V_HIST:
                break;
            }
        }
    }
    return out->err ? -1 : 0;
}
