/* libFuzzer target for the .tstream parser.
 * Whatever parses must encode again (parse is never laxer than encode) and the encoding must
 * parse back to the same fields. */
#include "ts_buf.h"
#include "ts_metainfo.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    ts_metainfo_t m;
    if (ts_metainfo_parse(data, size, &m, err, sizeof err) < 0) {
        if (!err[0] || m.pubkey)
            abort();
        return 0;
    }
    uint8_t ih[20];
    memcpy(ih, m.infohash, 20);
    ts_buf_t b;
    ts_buf_init(&b);
    if (ts_metainfo_encode(&m, &b, err, sizeof err) < 0)
        abort();
    ts_metainfo_t r;
    if (ts_metainfo_parse(b.data, b.len, &r, err, sizeof err) < 0)
        abort();
    if (strcmp(r.name, m.name) || r.piece_len != m.piece_len || r.npieces != m.npieces ||
        strcmp(r.authmethod, m.authmethod) || r.pubkey_len != m.pubkey_len ||
        memcmp(r.pubkey, m.pubkey, m.pubkey_len) || strcmp(r.announce, m.announce) || r.bitrate != m.bitrate ||
        memcmp(r.infohash, m.infohash, 20))
        abort();
    /* Input exactly as the encoder writes it must keep its infohash. */
    if (b.len == size && memcmp(b.data, data, size) == 0 && memcmp(ih, m.infohash, 20))
        abort();
    ts_metainfo_free(&r);
    ts_metainfo_free(&m);
    ts_buf_free(&b);
    return 0;
}
