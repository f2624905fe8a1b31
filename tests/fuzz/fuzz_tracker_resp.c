/* libFuzzer target for the tracker client's response parser.
 * Beyond "no crash, no leak": a rejection says why and leaves nothing allocated, an acceptance
 * keeps at most TS_TRACKER_RESP_PEERS_MAX usable peers, a failure string that is printable. */
#include "tracker.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_announce_resp_t r;
    char err[256];
    int rc = ts_tracker_parse_response(data, size, &r, err, sizeof err);
    if (rc < 0) {
        if (!err[0] || r.peers || r.npeers || r.failure[0])
            abort();
        return 0;
    }
    if (rc != 0 || r.npeers > TS_TRACKER_RESP_PEERS_MAX || (r.npeers && !r.peers))
        abort();
    if (r.interval < 0 || r.interval > 86400)
        abort();
    for (size_t i = 0; i < r.npeers; i++)
        if (r.peers[i].ip == 0 || r.peers[i].port == 0)
            abort();
    size_t fl = strnlen(r.failure, sizeof r.failure);
    if (fl == sizeof r.failure)
        abort();
    for (size_t i = 0; i < fl; i++)
        if (r.failure[i] < 0x20 || r.failure[i] > 0x7E)
            abort();
    if (fl && r.npeers)
        abort();
    ts_announce_resp_free(&r);
    return 0;
}
