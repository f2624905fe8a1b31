#include "chunk.h"
#include <stdlib.h>
#include <string.h>

ts_chunk_t *ts_chunk_new(uint64_t seq, uint64_t timestamp_us, uint32_t flags, const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(ts_chunk_t))
        return NULL;
    ts_chunk_t *c = malloc(sizeof *c + len);
    if (!c)
        return NULL;
    c->refs = 1;
    c->seq = seq;
    c->timestamp_us = timestamp_us;
    c->flags = flags;
    c->len = len;
    if (len && data)
        memcpy(c->data, data, len);
    return c;
}

ts_chunk_t *ts_chunk_ref(ts_chunk_t *c)
{
    c->refs++;
    return c;
}

void ts_chunk_unref(ts_chunk_t **c)
{
    if (!*c)
        return;
    if (--(*c)->refs == 0)
        free(*c);
    *c = NULL;
}
