/* libFuzzer target for the engine's channel list (tsctl/channels.c), a file users write by hand.
 * Beyond "no crash": a refusal says why and names a line; what parses has a non-empty name, fields
 * within their bounds and free of '"', a magnet channel its infohash, and no two channels share one. */
#include "channels.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chan_list_t l = { 0 };
    char err[512] = "";
    if (chan_parse((const char *)data, size, "f", &l, err, sizeof err) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            const chan_t *c = &l.v[i];
            if (!c->name[0] || strlen(c->name) > CHAN_FIELD_MAX || strlen(c->group) > CHAN_FIELD_MAX ||
                strlen(c->tvg_id) > CHAN_FIELD_MAX || strchr(c->name, '"') || strchr(c->group, '"') ||
                strchr(c->tvg_id, '"') || !c->source[0] || c->is_magnet != c->has_infohash)
                abort();
            for (size_t j = 0; j < i; j++)
                if (c->has_infohash && l.v[j].has_infohash && memcmp(c->infohash, l.v[j].infohash, 20) == 0)
                    abort();
        }
    } else if (strncmp(err, "f:", 2) != 0 || l.n != 0) {
        abort(); /* every refusal names the file and line, and keeps nothing */
    }
    chan_free(&l);
    return 0;
}
