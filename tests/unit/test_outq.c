/* player-bridge/outq.c: the queue of shared chunks each player's bytes go out from — everything out
 * in order over a small pipe, references held and released, EPIPE once the reader is gone. */
#include "check.h"
#include "chunk.h"
#include "outq.h"
#include "ts_time.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ts_chunk_t *mk(uint64_t seq, uint64_t ts_s, uint32_t flags, size_t len)
{
    uint8_t data[512];
    memset(data, (int)seq, sizeof data);
    return ts_chunk_new(seq, ts_s * TS_US_PER_S, flags, data, len);
}

static void test_outq(void)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK) < 0) {
        CHECK(0, "pipe: %s", strerror(errno));
        return;
    }
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    ts_outq_t q;
    ts_outq_init(&q);
    enum { N = 300, L = 200 };
    ts_chunk_t *shared = NULL;
    for (int i = 0; i < N; i++) {
        uint8_t d[L];
        for (int j = 0; j < L; j++)
            d[j] = (uint8_t)(i * 7 + j);
        ts_chunk_t *c = ts_chunk_new((uint64_t)i, 0, 0, d, L);
        ts_outq_push(&q, c);
        if (i == 5)
            shared = ts_chunk_ref(c);
        ts_chunk_unref(&c);
    }
    CHECK(q.bytes == N * L && q.n == N, "queued %zu bytes in %zu chunks", q.bytes, q.n);
    CHECK(shared->refs == 2, "queue holds its own reference");
    uint8_t *got = malloc(N * L);
    size_t have = 0;
    int rounds = 0, order_ok = 1;
    while ((q.n || have < N * L) && rounds < 10000) {
        rounds++;
        ssize_t w = ts_outq_write(&q, p[1]);
        if (w < 0)
            break;
        ssize_t r;
        while ((r = read(p[0], got + have, N * L - have)) > 0)
            have += (size_t)r;
    }
    for (size_t k = 0; k < have && order_ok; k++)
        order_ok = got[k] == (uint8_t)((k / L) * 7 + k % L);
    CHECK(have == N * L && order_ok && q.bytes == 0 && q.n == 0, "all bytes out in order over a small pipe (%zu, %d rounds)",
          have, rounds);
    CHECK(shared->refs == 1, "written chunks released");
    ts_chunk_unref(&shared);
    /* Clear drops references; a closed reader gives -1 EPIPE. */
    ts_chunk_t *c = mk(1, 0, 0, 100);
    ts_outq_push(&q, c);
    ts_outq_clear(&q);
    CHECK(c->refs == 1 && q.n == 0 && q.bytes == 0, "clear releases");
    ts_outq_push(&q, c);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    CHECK(ts_outq_write(&q, p[1]) == -1 && errno == EPIPE, "EPIPE once the reader is gone");
    ts_outq_clear(&q);
    ts_chunk_unref(&c);
    close(p[1]);
    free(got);
}

int main(void)
{
    test_outq();
    CHECK_DONE();
}
