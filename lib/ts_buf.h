/* A growable byte buffer. Allocation failure is sticky in .err; callers check once at the end. */
#ifndef TS_BUF_H
#define TS_BUF_H
#include <stddef.h>
#include <stdint.h>
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int err;
} ts_buf_t;
void ts_buf_init(ts_buf_t *b);
void ts_buf_free(ts_buf_t *b);
int ts_buf_reserve(ts_buf_t *b, size_t extra);
int ts_buf_put(ts_buf_t *b, const void *data, size_t len);
int ts_buf_putc(ts_buf_t *b, uint8_t c);
int ts_buf_printf(ts_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ts_buf_put_u32be(ts_buf_t *b, uint32_t v);
void ts_buf_put_u64be(ts_buf_t *b, uint64_t v);
/* Drop the first n bytes (consumed input). */
void ts_buf_consume(ts_buf_t *b, size_t n);
static inline uint32_t ts_get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ts_get_u64be(const uint8_t *p)
{
    return (uint64_t)ts_get_u32be(p) << 32 | ts_get_u32be(p + 4);
}
static inline void ts_set_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void ts_set_u64be(uint8_t *p, uint64_t v)
{
    ts_set_u32be(p, (uint32_t)(v >> 32));
    ts_set_u32be(p + 4, (uint32_t)v);
}
#endif
