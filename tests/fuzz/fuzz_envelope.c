/* libFuzzer target: the inter-stage envelope (ts_msg_unpack), which every stage runs on every
 * ZeroMQ frame it receives. Anything accepted must re-pack and unpack to the same type. */
#include "ts_msg.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    Ts__Envelope *e = ts_msg_unpack(data, size, err, sizeof err);
    if (!e)
        return 0;
    uint8_t *out;
    size_t len;
    if (ts_msg_pack(e, &out, &len) == 0) {
        Ts__Envelope *again = ts_msg_unpack(out, len, err, sizeof err);
        if (!again || again->type != e->type)
            abort();
        ts_msg_free(again);
        free(out);
    }
    ts_msg_free(e);
    return 0;
}
