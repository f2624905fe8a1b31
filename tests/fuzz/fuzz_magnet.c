/* libFuzzer target for magnet links (pasted by users, so untrusted). Beyond "no crash": what
 * parses has an infohash, bounded fields and usable x.pe peers, and formatting it again gives a
 * link that parses to the same infohash, name and first tracker. */
#include "ts_magnet.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    ts_magnet_t m, again;
    char err[256];
    if (ts_magnet_parse(s, &m, err, sizeof err) == 0) {
        if (m.ntr < 0 || m.ntr > TS_MAGNET_TR_MAX || m.npe < 0 || m.npe > TS_MAGNET_PE_MAX)
            abort();
        for (int i = 0; i < m.npe; i++)
            if (!m.pe[i].port)
                abort();
        char link[8192];
        if (ts_magnet_format(m.infohash, m.name, m.ntr ? m.tr[0] : NULL, link, sizeof link) < 0)
            abort(); /* bounded fields always fit */
        if (ts_magnet_parse(link, &again, err, sizeof err) < 0 || memcmp(again.infohash, m.infohash, 20) != 0 ||
            strcmp(again.name, m.name) != 0 || again.ntr != (m.ntr ? 1 : 0) ||
            (m.ntr && strcmp(again.tr[0], m.tr[0]) != 0))
            abort();
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    free(s);
    return 0;
}
