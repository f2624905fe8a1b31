#include "tsframe.h"

long ts_tsframe_find(const uint8_t *p, size_t len, int *vpid)
{
    for (size_t off = 0; off + TS_TSFRAME_PKT <= len; off += TS_TSFRAME_PKT) {
        const uint8_t *k = p + off;
        if (k[0] != 0x47)
            return -1;
        if (!(k[1] & 0x40) || !(k[3] & 0x10)) /* no PES start here, or no payload */
            continue;
        int pid = ((k[1] & 0x1f) << 8) | k[2];
        size_t pay = 4;
        if (k[3] & 0x20)
            pay += 1u + k[4]; /* adaptation field */
        if (pay + 4 > TS_TSFRAME_PKT)
            continue;
        const uint8_t *e = k + pay;
        int video = e[0] == 0 && e[1] == 0 && e[2] == 1 && (e[3] & 0xf0) == 0xe0;
        if (*vpid < 0 && video)
            *vpid = pid;
        if (pid == *vpid && video)
            return (long)off;
    }
    return -1;
}
