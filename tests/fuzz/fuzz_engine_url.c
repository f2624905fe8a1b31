/* libFuzzer target for the engine's request targets (tsctl/engine_url.c), sent by any client.
 * The input is split at its first '?' into path and query. Beyond "no crash": a refusal says why;
 * a forwarded sub-path starts with '/', stays within its bound and holds no ".."; a magnet request
 * carries a link that parses to the same infohash. */
#include "engine_url.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *q = memchr(s, '?', size);
    size_t plen = q ? (size_t)(q - s) : size;
    static eng_req_t r;
    eng_url_parse(s, plen, q ? q + 1 : "", q ? size - plen - 1 : 0, &r);
    if (r.kind == ENG_BAD && !r.why[0])
        abort();
    if (r.kind == ENG_SUB && (r.sub[0] != '/' || strlen(r.sub) > ENG_SUB_MAX || strstr(r.sub, "..")))
        abort();
    if (r.kind == ENG_MAGNET) {
        ts_magnet_t m;
        char err[256];
        if (ts_magnet_parse(r.magnet, &m, err, sizeof err) < 0 || memcmp(m.infohash, r.infohash, 20) != 0)
            abort();
    }
    return 0;
}
