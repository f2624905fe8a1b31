/* libFuzzer target for the HLS request parser (player-bridge/hls_req.c): the path and query of any
 * request to the bridge. Beyond "no crash, no out-of-bounds read": what it accepts is in range
 * (msn, part within their limits; a part only with an msn), and an accepted query no longer than
 * TS_HLS_MAX_QUERY. The first input byte splits the rest into path and query. */
#include "hls_req.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % size;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1, pl = split < n ? split : n;
    ts_hls_req_t r;
    const char *why = NULL;
    int rc = ts_hls_req_parse("/s", rest, pl, rest + pl, n - pl, &r, &why);
    if (!why)
        abort();
    if (rc == 0 && r.kind == TS_HLS_PLAYLIST) {
        if (n - pl > TS_HLS_MAX_QUERY || (r.has_part && !r.has_msn) || r.msn > TS_HLS_MAX_MSN || r.part > TS_HLS_MAX_PART)
            abort();
    }
    if (rc == 0 && (r.kind == TS_HLS_SEGMENT || r.kind == TS_HLS_PART) && (r.msn > TS_HLS_MAX_MSN || r.part > TS_HLS_MAX_PART))
        abort();
    if (rc < 0 && (r.kind == TS_HLS_NONE || !why[0]))
        abort();
    return 0;
}
