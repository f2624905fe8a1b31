#include "ts_metrics_merge.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    char *head; /* its "# HELP …\n# TYPE …\n" lines, as first seen */
    char *type;
    ts_buf_t samples;
} mfam_t;

typedef struct {
    mfam_t *f;
    size_t n, cap;
    int oom;
} merge_t;

static size_t name_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == '_' || s[i] == ':' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                       (i > 0 && s[i] >= '0' && s[i] <= '9')))
        i++;
    return i;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static mfam_t *fam_find(merge_t *m, const char *name, size_t nl)
{
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->f[i].name) == nl && memcmp(m->f[i].name, name, nl) == 0)
            return &m->f[i];
    return NULL;
}

/* A TYPE line for name: the family to add samples to, or NULL (its type conflicts, or no memory). */
static mfam_t *fam_open(merge_t *m, const char *name, size_t nl, const char *type, size_t tl, const char *help,
                        size_t hl)
{
    mfam_t *f = fam_find(m, name, nl);
    if (f)
        return strlen(f->type) == tl && memcmp(f->type, type, tl) == 0 ? f : NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        mfam_t *nf = realloc(m->f, cap * sizeof *nf);
        if (!nf)
            return m->oom = 1, NULL;
        m->f = nf, m->cap = cap;
    }
    f = &m->f[m->n];
    memset(f, 0, sizeof *f);
    ts_buf_init(&f->samples);
    f->name = dup_n(name, nl);
    f->type = dup_n(type, tl);
    ts_buf_t h;
    ts_buf_init(&h);
    if (hl)
        ts_buf_put(&h, help, hl), ts_buf_putc(&h, '\n');
    ts_buf_printf(&h, "# TYPE %s %s\n", f->name ? f->name : "", f->type ? f->type : "");
    ts_buf_putc(&h, 0);
    f->head = h.err ? NULL : (char *)h.data;
    if (!f->name || !f->type || !f->head) {
        free(f->name), free(f->type), free(f->head);
        if (!f->head)
            ts_buf_free(&h);
        return m->oom = 1, NULL;
    }
    m->n++;
    return f;
}

/* A sample line belongs to f if its name is f's, or for a histogram f's _bucket, _sum, _count. */
static int belongs(const mfam_t *f, const char *line, size_t nl)
{
    size_t fl = strlen(f->name);
    if (nl < fl || memcmp(line, f->name, fl) != 0)
        return 0;
    if (nl == fl)
        return 1;
    if (strcmp(f->type, "histogram") != 0)
        return 0;
    const char *suf = line + fl;
    size_t sl = nl - fl;
    return (sl == 7 && !memcmp(suf, "_bucket", 7)) || (sl == 4 && !memcmp(suf, "_sum", 4)) ||
           (sl == 6 && !memcmp(suf, "_count", 6));
}

static int type_ok(const char *t, size_t tl)
{
    static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i]) == tl && !memcmp(types[i], t, tl))
            return 1;
    return 0;
}

static void merge_one(merge_t *m, const char *text)
{
    mfam_t *cur = NULL;
    const char *help = NULL, *help_name = NULL;
    size_t hl = 0, help_nl = 0;
    for (const char *p = text; *p && !m->oom;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *next = eol ? eol + 1 : p + len;
        if (len > 7 && !memcmp(p, "# HELP ", 7)) {
            help = p, hl = len, help_name = p + 7, help_nl = name_len(p + 7, len - 7);
            cur = NULL; /* samples wait for the TYPE line */
        } else if (len > 7 && !memcmp(p, "# TYPE ", 7)) {
            const char *name = p + 7;
            size_t nl = name_len(name, len - 7);
            const char *type = name + nl + 1;
            cur = NULL;
            if (nl && nl + 8 < len && name[nl] == ' ' && type_ok(type, len - 8 - nl)) {
                int same = help && help_nl == nl && !memcmp(help_name, name, nl);
                cur = fam_open(m, name, nl, type, len - 8 - nl, same ? help : NULL, same ? hl : 0);
            }
            help = NULL;
        } else if (len && p[0] != '#' && cur) {
            size_t nl = name_len(p, len);
            if (nl && nl < len && (p[nl] == ' ' || p[nl] == '{') && belongs(cur, p, nl)) {
                ts_buf_put(&cur->samples, p, len);
                ts_buf_putc(&cur->samples, '\n');
                m->oom |= cur->samples.err;
            }
        }
        p = next;
    }
}

int ts_metrics_merge(const char *const *texts, size_t n, ts_buf_t *out)
{
    merge_t m = { 0 };
    for (size_t i = 0; i < n; i++)
        if (texts[i])
            merge_one(&m, texts[i]);
    for (size_t i = 0; i < m.n; i++) {
        mfam_t *f = &m.f[i];
        if (!m.oom) {
            ts_buf_put(out, f->head, strlen(f->head));
            ts_buf_put(out, f->samples.data, f->samples.len);
        }
        free(f->name), free(f->type), free(f->head);
        ts_buf_free(&f->samples);
    }
    free(m.f);
    return m.oom || out->err ? -1 : 0;
}
