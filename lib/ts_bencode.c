#include "ts_bencode.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- parser */

typedef struct {
    const uint8_t *buf;
    size_t len;
    char *err;
    size_t errlen;
} ctx_t;

/* An open list or dict: its node, its item capacity, and for a dict a key still waiting for its value. */
typedef struct {
    ts_ben_t *node;
    size_t cap;
    ts_ben_t *key;
} frame_t;

static void __attribute__((format(printf, 2, 3))) fail(ctx_t *c, const char *fmt, ...)
{
    if (!c->err || !c->errlen)
        return;
    int n = snprintf(c->err, c->errlen, "bencode: ");
    if (n < 0 || (size_t)n >= c->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* "i<digits>e" at *pos. */
static int parse_int(ctx_t *c, size_t *pos, int64_t *out)
{
    const uint8_t *b = c->buf;
    size_t start = *pos, p = start + 1;
    int neg = 0;
    if (p < c->len && b[p] == '-') {
        neg = 1;
        p++;
    }
    size_t first = p;
    /* Accumulate the magnitude unsigned so INT64_MIN is representable. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    while (p < c->len && is_digit(b[p])) {
        unsigned d = (unsigned)(b[p] - '0');
        if (v > (limit - d) / 10) {
            fail(c, "integer at offset %zu overflows int64", start);
            return -1;
        }
        v = v * 10 + d;
        p++;
    }
    if (p >= c->len) {
        fail(c, "truncated integer at offset %zu", start);
        return -1;
    }
    if (b[p] != 'e') {
        fail(c, "unexpected byte 0x%02x at offset %zu in integer starting at offset %zu", b[p], p, start);
        return -1;
    }
    if (p == first) {
        fail(c, "empty integer at offset %zu", start);
        return -1;
    }
    if (b[first] == '0' && p - first > 1) {
        fail(c, "integer with leading zero at offset %zu", start);
        return -1;
    }
    if (neg && v == 0) {
        fail(c, "negative zero integer at offset %zu", start);
        return -1;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    *pos = p + 1;
    return 0;
}

/* "<len>:<bytes>" at *pos. */
static int parse_str(ctx_t *c, size_t *pos, const uint8_t **s, size_t *slen)
{
    const uint8_t *b = c->buf;
    size_t start = *pos, p = start;
    /* No string can be longer than what is left, so bounding by that also rules out overflow. */
    size_t limit = c->len - start, v = 0;
    if (b[p] == '0' && p + 1 < c->len && is_digit(b[p + 1])) {
        fail(c, "string length with leading zero at offset %zu", start);
        return -1;
    }
    while (p < c->len && is_digit(b[p])) {
        size_t d = (size_t)(b[p] - '0');
        if (v > limit / 10 || d > limit - v * 10) {
            fail(c, "string length at offset %zu is larger than the whole remaining input (%zu bytes)",
                 start, limit);
            return -1;
        }
        v = v * 10 + d;
        p++;
    }
    if (p >= c->len) {
        fail(c, "truncated string length at offset %zu", start);
        return -1;
    }
    if (b[p] != ':') {
        fail(c, "expected ':' at offset %zu after string length at offset %zu, got 0x%02x", p, start, b[p]);
        return -1;
    }
    p++;
    if (v > c->len - p) {
        fail(c, "string at offset %zu declares %zu bytes but only %zu remain", start, v, c->len - p);
        return -1;
    }
    *s = b + p;
    *slen = v;
    *pos = p + v;
    return 0;
}

/* Bytewise order, a proper prefix sorting first. */
static int key_cmp(const ts_ben_t *a, const ts_ben_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->s, b->s, n) : 0;
    if (r)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int append(ctx_t *c, frame_t *f, ts_ben_t *key, ts_ben_t *val)
{
    ts_ben_t *node = f->node;
    if (node->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(ts_ben_t *)) {
            fail(c, "out of memory");
            return -1;
        }
        ts_ben_t **items = realloc(node->items, cap * sizeof *items);
        if (!items) {
            fail(c, "out of memory");
            return -1;
        }
        node->items = items;
        if (node->type == TS_BEN_DICT) {
            ts_ben_t **keys = realloc(node->keys, cap * sizeof *keys);
            if (!keys) {
                fail(c, "out of memory");
                return -1;
            }
            node->keys = keys;
        }
        f->cap = cap;
    }
    if (node->type == TS_BEN_DICT)
        node->keys[node->n] = key;
    node->items[node->n++] = val;
    return 0;
}

static void free_node(ts_ben_t *n)
{
    if (!n)
        return;
    /* Recursion depth is the tree's depth, which the parser bounds by TS_BEN_MAX_DEPTH. */
    if (n->type == TS_BEN_LIST || n->type == TS_BEN_DICT) {
        for (size_t i = 0; i < n->n; i++) {
            free_node(n->items[i]);
            if (n->keys)
                free_node(n->keys[i]);
        }
    }
    free(n->items);
    free(n->keys);
    free(n);
}

void ts_ben_free(ts_ben_t **node)
{
    if (!node || !*node)
        return;
    free_node(*node);
    *node = NULL;
}

ts_ben_t *ts_ben_parse(const uint8_t *buf, size_t len, size_t *consumed, char *err, size_t errlen)
{
    ctx_t c = { buf, len, err, errlen };
    frame_t st[TS_BEN_MAX_DEPTH];
    size_t depth = 0, nodes = 0, p = 0;
    ts_ben_t *root = NULL, *node = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (len == 0) {
        fail(&c, "empty input");
        return NULL;
    }
    if (!buf) {
        fail(&c, "no input buffer");
        return NULL;
    }
    for (;;) {
        if (p >= len) {
            if (depth)
                fail(&c, "truncated input at offset %zu: %s opened at offset %zu is not closed", p,
                     st[depth - 1].node->type == TS_BEN_DICT ? "dict" : "list",
                     (size_t)(st[depth - 1].node->raw - buf));
            else
                fail(&c, "truncated input at offset %zu", p);
            goto bad;
        }
        uint8_t ch = buf[p];
        if (ch == 'e' && depth) {
            frame_t *f = &st[depth - 1];
            if (f->key) {
                fail(&c, "dict key at offset %zu has no value (end at offset %zu)",
                     (size_t)(f->key->raw - buf), p);
                goto bad;
            }
            p++;
            f->node->rawlen = (size_t)(buf + p - f->node->raw);
            depth--;
            if (!depth)
                break;
            continue;
        }
        if (++nodes > TS_BEN_MAX_NODES) {
            fail(&c, "more than %d values (at offset %zu)", TS_BEN_MAX_NODES, p);
            goto bad;
        }
        node = calloc(1, sizeof *node);
        if (!node) {
            fail(&c, "out of memory");
            goto bad;
        }
        node->raw = buf + p;
        if (ch == 'i') {
            node->type = TS_BEN_INT;
            if (parse_int(&c, &p, &node->i) < 0)
                goto bad;
            node->rawlen = (size_t)(buf + p - node->raw);
        } else if (is_digit(ch)) {
            node->type = TS_BEN_STR;
            if (parse_str(&c, &p, &node->s, &node->len) < 0)
                goto bad;
            node->rawlen = (size_t)(buf + p - node->raw);
        } else if (ch == 'l' || ch == 'd') {
            if (depth >= TS_BEN_MAX_DEPTH) {
                fail(&c, "nesting deeper than %d at offset %zu", TS_BEN_MAX_DEPTH, p);
                goto bad;
            }
            node->type = ch == 'l' ? TS_BEN_LIST : TS_BEN_DICT;
            p++;
        } else {
            fail(&c, "unexpected byte 0x%02x at offset %zu", ch, p);
            goto bad;
        }

        /* Attach at once, so that on error everything is reachable from root or a frame's key. */
        if (!depth) {
            root = node;
        } else {
            frame_t *f = &st[depth - 1];
            if (f->node->type == TS_BEN_DICT && !f->key) {
                size_t at = (size_t)(node->raw - buf);
                if (node->type != TS_BEN_STR) {
                    fail(&c, "dict key at offset %zu is not a string", at);
                    goto bad;
                }
                if (f->node->n) {
                    int r = key_cmp(f->node->keys[f->node->n - 1], node);
                    if (r == 0) {
                        fail(&c, "duplicate dict key at offset %zu", at);
                        goto bad;
                    }
                    if (r > 0) {
                        fail(&c, "dict key at offset %zu is out of order", at);
                        goto bad;
                    }
                }
                f->key = node;
                node = NULL;
                continue;
            }
            if (append(&c, f, f->key, node) < 0)
                goto bad;
            f->key = NULL;
        }
        if (node->type == TS_BEN_LIST || node->type == TS_BEN_DICT) {
            st[depth++] = (frame_t){ node, 0, NULL };
            node = NULL;
            continue;
        }
        node = NULL;
        if (!depth)
            break;
    }
    if (!consumed && p != len) {
        fail(&c, "%zu trailing bytes at offset %zu after the value", len - p, p);
        goto bad;
    }
    if (consumed)
        *consumed = p;
    return root;

bad:
    /* node is set only while it is not yet attached to the tree. */
    if (node && node != root)
        free_node(node);
    for (size_t i = 0; i < depth; i++)
        free_node(st[i].key);
    free_node(root);
    return NULL;
}

/* ---------------------------------------------------------------- lookup */

const ts_ben_t *ts_ben_dict_get(const ts_ben_t *dict, const char *key)
{
    if (!dict || dict->type != TS_BEN_DICT || !key)
        return NULL;
    ts_ben_t k = { .type = TS_BEN_STR, .s = (const uint8_t *)key, .len = strlen(key) };
    size_t lo = 0, hi = dict->n;
    /* Keys are sorted: the parser enforces it. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = key_cmp(dict->keys[mid], &k);
        if (r == 0)
            return dict->items[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int ts_ben_get_int(const ts_ben_t *dict, const char *key, int64_t *out)
{
    const ts_ben_t *v = ts_ben_dict_get(dict, key);
    if (!v || v->type != TS_BEN_INT)
        return -1;
    if (out)
        *out = v->i;
    return 0;
}

const uint8_t *ts_ben_get_str(const ts_ben_t *dict, const char *key, size_t *len)
{
    const ts_ben_t *v = ts_ben_dict_get(dict, key);
    if (!v || v->type != TS_BEN_STR)
        return NULL;
    if (len)
        *len = v->len;
    return v->s;
}

const ts_ben_t *ts_ben_get_dict(const ts_ben_t *dict, const char *key)
{
    const ts_ben_t *v = ts_ben_dict_get(dict, key);
    return v && v->type == TS_BEN_DICT ? v : NULL;
}

const ts_ben_t *ts_ben_get_list(const ts_ben_t *dict, const char *key)
{
    const ts_ben_t *v = ts_ben_dict_get(dict, key);
    return v && v->type == TS_BEN_LIST ? v : NULL;
}

/* ---------------------------------------------------------------- encoder */

void ts_ben_put_int(ts_buf_t *b, int64_t v) { ts_buf_printf(b, "i%" PRId64 "e", v); }

void ts_ben_put_str(ts_buf_t *b, const void *s, size_t len)
{
    ts_buf_printf(b, "%zu:", len);
    ts_buf_put(b, s, len);
}

void ts_ben_put_cstr(ts_buf_t *b, const char *s) { ts_ben_put_str(b, s, strlen(s)); }
void ts_ben_put_dict(ts_buf_t *b) { ts_buf_putc(b, 'd'); }
void ts_ben_put_list(ts_buf_t *b) { ts_buf_putc(b, 'l'); }
void ts_ben_put_end(ts_buf_t *b) { ts_buf_putc(b, 'e'); }
