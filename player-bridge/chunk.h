/* A piece's payload (or any block of bytes to send), reference-counted so the ring and every
 * client queue share one copy. Single-threaded: plain counter. */
#ifndef TS_CHUNK_H
#define TS_CHUNK_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned refs;
    uint64_t seq, timestamp_us;
    uint32_t flags;
    size_t len;
    uint8_t data[];
} ts_chunk_t;

/* Copy len bytes into a new chunk holding one reference (data NULL: room for len bytes, left for
 * the caller to fill). NULL if memory is short. */
ts_chunk_t *ts_chunk_new(uint64_t seq, uint64_t timestamp_us, uint32_t flags, const void *data, size_t len);
ts_chunk_t *ts_chunk_ref(ts_chunk_t *c);
/* Drop one reference (freed at zero) and set *c to NULL. */
void ts_chunk_unref(ts_chunk_t **c);
#endif
