#include "channels.h"
#include "ts_err.h"
#include "ts_metainfo.h"
#include "ts_utf8.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int blank(char c) { return c == ' ' || c == '\t'; }

/* s[0..n) without the blanks around it. */
static void trim(const char **s, size_t *n)
{
    while (*n && blank(**s))
        (*s)++, (*n)--;
    while (*n && blank((*s)[*n - 1]))
        (*n)--;
}

/* A NAME, GROUP or TVG-ID: printable UTF-8, no '"' (they end up inside M3U attribute values). */
static const char *field_bad(const char *s, size_t n, int required)
{
    if (required && n == 0)
        return "is empty";
    if (n > CHAN_FIELD_MAX)
        return "is longer than 127 bytes";
    for (size_t i = 0; i < n;) {
        if (s[i] == '"')
            return "contains '\"'";
        size_t k = ts_utf8_printable((const uint8_t *)s + i, n - i);
        if (!k)
            return "is not printable UTF-8 (a control character or a malformed byte)";
        i += k;
    }
    return NULL;
}

static int grow(chan_list_t *l)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 16;
    chan_t *v = realloc(l->v, cap * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    l->cap = cap;
    return 0;
}

static int dup_of(const chan_list_t *l, size_t upto, const chan_t *c)
{
    for (size_t i = 0; i < upto; i++)
        if (l->v[i].has_infohash && memcmp(l->v[i].infohash, c->infohash, 20) == 0)
            return (int)i;
    return -1;
}

/* One non-blank, non-comment line into c. NULL, or why not. */
static const char *parse_line(const char *s, size_t n, chan_t *c, char *why, size_t whylen)
{
    const char *f[4];
    size_t fl[4], nf = 0;
    const char *p = s, *end = s + n;
    for (;;) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        if (nf == 4) {
            snprintf(why, whylen, "more than 4 fields (NAME | GROUP | TVG-ID | SOURCE; '|' cannot appear in a field)");
            return why;
        }
        f[nf] = p;
        fl[nf] = (size_t)((bar ? bar : end) - p);
        trim(&f[nf], &fl[nf]);
        nf++;
        if (!bar)
            break;
        p = bar + 1;
    }
    if (nf != 4) {
        snprintf(why, whylen, "%zu field%s, expected 4: NAME | GROUP | TVG-ID | SOURCE", nf, nf == 1 ? "" : "s");
        return why;
    }
    static const char *const what[3] = { "NAME", "GROUP", "TVG-ID" };
    char *dst[3] = { c->name, c->group, c->tvg_id };
    for (int i = 0; i < 3; i++) {
        const char *bad = field_bad(f[i], fl[i], i == 0);
        if (bad) {
            snprintf(why, whylen, "%s %s", what[i], bad);
            return why;
        }
        memcpy(dst[i], f[i], fl[i]);
        dst[i][fl[i]] = 0;
    }
    if (fl[3] == 0)
        return "SOURCE is empty (a .tstream path or a magnet link)";
    if (fl[3] > TS_MAGNET_MAX)
        return "SOURCE is too long";
    for (size_t i = 0; i < fl[3]; i++)
        if ((unsigned char)f[3][i] < 0x20 || f[3][i] == 0x7f)
            return "SOURCE contains a control character";
    memcpy(c->source, f[3], fl[3]);
    c->source[fl[3]] = 0;
    if (strncasecmp(c->source, "magnet:", 7) == 0) {
        char err[256];
        ts_magnet_t *m = malloc(sizeof *m);
        if (!m)
            return "out of memory";
        int rc = ts_magnet_parse(c->source, m, err, sizeof err);
        if (rc == 0)
            memcpy(c->infohash, m->infohash, 20);
        free(m);
        if (rc < 0) {
            snprintf(why, whylen, "bad magnet link: %s", err);
            return why;
        }
        c->is_magnet = c->has_infohash = 1;
    } else if (fl[3] < 9 || strcmp(c->source + fl[3] - 8, ".tstream") != 0) {
        return "SOURCE is neither a magnet link (magnet:?xt=urn:btih:...) nor a path ending in .tstream";
    }
    return NULL;
}

int chan_parse(const char *text, size_t len, const char *file, chan_list_t *out, char *err, size_t errlen)
{
    size_t n0 = out->n, line = 0;
    const char *p = text, *end = text + len;
    if (len > CHAN_FILE_MAX)
        return ts_err(err, errlen, "%s: longer than %d bytes", file, CHAN_FILE_MAX);
    const char *nul = memchr(text, 0, len);
    if (nul) {
        size_t at = 1;
        for (const char *q = text; q < nul; q++)
            at += *q == '\n';
        return ts_err(err, errlen, "%s:%zu: a NUL byte (not a text file?)", file, at);
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        const char *s = p;
        line++;
        p = nl ? nl + 1 : end;
        if (n && s[n - 1] == '\r')
            n--;
        if (n > CHAN_LINE_MAX) {
            out->n = n0;
            return ts_err(err, errlen, "%s:%zu: line longer than %d bytes", file, line, CHAN_LINE_MAX);
        }
        trim(&s, &n);
        if (n == 0 || s[0] == '#')
            continue;
        if (out->n - n0 >= CHAN_MAX || out->n >= CHAN_MAX || grow(out) < 0) {
            out->n = n0;
            return ts_err(err, errlen, "%s:%zu: more than %d channels", file, line, CHAN_MAX);
        }
        chan_t *c = &out->v[out->n];
        memset(c, 0, sizeof *c);
        char why[400];
        const char *bad = parse_line(s, n, c, why, sizeof why);
        if (bad) {
            out->n = n0;
            return ts_err(err, errlen, "%s:%zu: %s", file, line, bad);
        }
        snprintf(c->where, sizeof c->where, "%.280s:%zu", file, line);
        int d = c->has_infohash ? dup_of(out, out->n, c) : -1;
        if (d >= 0) {
            out->n = n0;
            return ts_err(err, errlen, "%s:%zu: the same stream (infohash) as %s", file, line, out->v[d].where);
        }
        out->n++;
    }
    return 0;
}

/* Read one file and parse it; relative .tstream paths are taken from its directory. */
static int load_file(const char *path, chan_list_t *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    char *buf = malloc(CHAN_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, CHAN_FILE_MAX + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (!buf || rerr) {
        free(buf);
        return ts_err(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
    }
    size_t n0 = out->n;
    int rc = chan_parse(buf, len, path, out, err, errlen);
    free(buf);
    if (rc < 0)
        return -1;
    /* The file's directory, absolute: viewers are started from elsewhere. */
    char real[PATH_MAX];
    if (!realpath(path, real))
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    const char *slash = strrchr(real, '/');
    int dirlen = (int)(slash - real);
    const char *dir = real;
    for (size_t i = n0; i < out->n; i++) {
        chan_t *c = &out->v[i];
        if (c->is_magnet || c->source[0] == '/')
            continue;
        char abs[sizeof c->source];
        if (snprintf(abs, sizeof abs, "%.*s/%s", dirlen, dir, c->source) >= (int)sizeof abs)
            return ts_err(err, errlen, "%s: path too long", c->where);
        memcpy(c->source, abs, sizeof abs);
    }
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int channels_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 9 && strcmp(d->d_name + n - 9, ".channels") == 0;
}

int chan_load(const char *path, chan_list_t *out, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    size_t n0 = out->n;
    if (S_ISDIR(st.st_mode)) {
        struct dirent **ents;
        int n = scandir(path, &ents, channels_file, by_name), rc = 0;
        if (n < 0)
            return ts_err(err, errlen, "%s: %s", path, strerror(errno));
        for (int i = 0; i < n; i++) {
            char f[1024];
            snprintf(f, sizeof f, "%s/%s", path, ents[i]->d_name);
            if (rc == 0)
                rc = load_file(f, out, err, errlen);
            free(ents[i]);
        }
        free(ents);
        if (rc < 0)
            return -1;
        if (n == 0)
            return ts_err(err, errlen, "%s: no *.channels file in this directory", path);
    } else if (load_file(path, out, err, errlen) < 0) {
        return -1;
    }
    for (size_t i = n0; i < out->n; i++) {
        chan_t *c = &out->v[i];
        if (!c->is_magnet) {
            ts_metainfo_t m;
            char why[256];
            if (ts_metainfo_load(c->source, &m, why, sizeof why) < 0) {
                out->n = n0;
                return ts_err(err, errlen, "%s: %s: %s", c->where, c->source, why);
            }
            memcpy(c->infohash, m.infohash, 20);
            c->has_infohash = 1;
            ts_metainfo_free(&m);
        }
        int d = dup_of(out, i, c);
        if (d >= 0) {
            int r = ts_err(err, errlen, "%s: the same stream (infohash) as %s", c->where, out->v[d].where);
            out->n = n0;
            return r;
        }
    }
    return 0;
}

void chan_free(chan_list_t *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}
