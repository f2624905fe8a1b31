#include "ts_buf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ts_buf_init(ts_buf_t *b) { memset(b, 0, sizeof *b); }

void ts_buf_free(ts_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int ts_buf_reserve(ts_buf_t *b, size_t extra)
{
    if (b->err)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->err = 1;
        return -1;
    }
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->err = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int ts_buf_put(ts_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return b->err ? -1 : 0;
    if (ts_buf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int ts_buf_putc(ts_buf_t *b, uint8_t c) { return ts_buf_put(b, &c, 1); }

int ts_buf_printf(ts_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ts_buf_reserve(b, (size_t)n + 1) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void ts_buf_put_u32be(ts_buf_t *b, uint32_t v)
{
    uint8_t p[4];
    ts_set_u32be(p, v);
    ts_buf_put(b, p, 4);
}

void ts_buf_put_u64be(ts_buf_t *b, uint64_t v)
{
    uint8_t p[8];
    ts_set_u64be(p, v);
    ts_buf_put(b, p, 8);
}

void ts_buf_consume(ts_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
