/* libFuzzer target for player-bridge/tsframe.c (where a video frame starts in a piece's packets):
 * no crash, no read out of bounds, and what it returns is a packet boundary inside the input that
 * holds a PES start of the PID it learnt. */
#include "tsframe.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int vpid = -1;
    long off = ts_tsframe_find(data, size, &vpid);
    if (off >= 0) {
        const uint8_t *k = data + off;
        if ((size_t)off % 188 || (size_t)off + 188 > size || vpid < 0 || k[0] != 0x47 || !(k[1] & 0x40) ||
            (((k[1] & 0x1f) << 8) | k[2]) != vpid)
            abort();
    }
    return 0;
}
