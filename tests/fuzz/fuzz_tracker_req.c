/* libFuzzer target for the embedded tracker's request handler.
 * The input is split: the first 2 bytes pick the time step and requester, the rest is one HTTP
 * request. State persists across inputs (one tracker per process), so sequences of announces,
 * stops and expiry are explored too. Every answer must be a well-formed HTTP response that the
 * client parser accepts, with at most 200 distinct peers. */
#include "tracker.h"
#include "ts_buf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ts_tracker_t *T;
static uint64_t now = 1;

/* info_hash = 01 02 .. 14, so %-escaped seeds can hit the allowed swarm. */
static const uint8_t IH[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!T) {
        T = ts_tracker_new(64, 100);
        ts_tracker_allow(T, IH);
        ts_tracker_add(T, IH, (ts_peer_addr_t){ 0x7f000001, 9000 }, 0);
    }
    if (size < 2)
        return 0;
    now += data[0];
    uint32_t ip = 0x0a000000u | data[1];
    /* A heap copy of exactly the request, so ASan sees any read past its end. */
    size_t len = size - 2;
    char *req = malloc(len ? len : 1);
    memcpy(req, data + 2, len);
    ts_buf_t out;
    ts_buf_init(&out);
    int st = ts_tracker_handle(T, req, len, ip, now, 15, &out);
    free(req);
    if (st != 200 && st != 400 && st != 404)
        abort();
    ts_announce_resp_t r;
    char err[128];
    if (ts_tracker_parse_response(out.data, out.len, &r, err, sizeof err) != 0) {
        fprintf(stderr, "own response rejected: %s\n", err);
        abort();
    }
    if (st != 200 && !r.failure[0])
        abort();
    if (r.npeers > TS_TRACKER_NUMWANT_MAX)
        abort();
    for (size_t i = 0; i < r.npeers; i++)
        for (size_t j = i + 1; j < r.npeers; j++)
            if (r.peers[i].ip == r.peers[j].ip && r.peers[i].port == r.peers[j].port)
                abort();
    ts_announce_resp_free(&r);
    ts_buf_free(&out);
    if (ts_tracker_count(T, IH) > 64 + 1)
        abort();
    return 0;
}
