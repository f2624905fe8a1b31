#include "outq.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#define OUTQ_IOV 64 /* chunks per writev */

void ts_outq_init(ts_outq_t *q)
{
    q->e = NULL;
    q->cap = q->head = q->n = q->bytes = 0;
}

void ts_outq_clear(ts_outq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        ts_chunk_unref(&q->e[(q->head + i) % q->cap].c);
    free(q->e);
    ts_outq_init(q);
}

int ts_outq_push(ts_outq_t *q, ts_chunk_t *c)
{
    if (c->len == 0)
        return 0;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? 2 * q->cap : 16;
        ts_outq_ent_t *ne = calloc(ncap, sizeof *ne);
        if (!ne)
            return -1;
        /* Unroll the circle into the new array. */
        for (size_t i = 0; i < q->n; i++)
            ne[i] = q->e[(q->head + i) % q->cap];
        free(q->e);
        q->e = ne;
        q->cap = ncap;
        q->head = 0;
    }
    size_t t = (q->head + q->n) % q->cap;
    q->e[t].c = ts_chunk_ref(c);
    q->e[t].off = 0;
    q->n++;
    q->bytes += c->len;
    return 0;
}

ssize_t ts_outq_write(ts_outq_t *q, int fd)
{
    ssize_t total = 0;
    while (q->n) {
        struct iovec iov[OUTQ_IOV];
        int k = 0;
        for (size_t i = 0; i < q->n && k < OUTQ_IOV; i++, k++) {
            size_t j = (q->head + i) % q->cap;
            iov[k].iov_base = q->e[j].c->data + q->e[j].off;
            iov[k].iov_len = q->e[j].c->len - q->e[j].off;
        }
        ssize_t w = writev(fd, iov, k);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return total;
            return -1;
        }
        total += w;
        q->bytes -= (size_t)w;
        size_t left = (size_t)w;
        while (left) {
            size_t j = q->head;
            size_t rest = q->e[j].c->len - q->e[j].off;
            if (left < rest) {
                q->e[j].off += left;
                break;
            }
            left -= rest;
            ts_chunk_unref(&q->e[j].c);
            q->head = (q->head + 1) % q->cap;
            q->n--;
        }
        size_t asked = 0;
        for (int i = 0; i < k; i++)
            asked += iov[i].iov_len;
        if ((size_t)w < asked)
            return total; /* the fd is full for now */
    }
    return total;
}
