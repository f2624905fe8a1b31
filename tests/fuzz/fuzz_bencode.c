/* libFuzzer target for the bencode parser.
 * Beyond "no crash, no leak": the parser is strict, so every accepted value is canonical and
 * re-encoding the tree must reproduce its raw span byte for byte. */
#include "ts_bencode.h"
#include "ts_buf.h"
#include <stdlib.h>
#include <string.h>

/* Recursion is bounded by the parser's depth limit. */
static void reencode(const ts_ben_t *t, ts_buf_t *b)
{
    switch (t->type) {
    case TS_BEN_INT:
        ts_ben_put_int(b, t->i);
        break;
    case TS_BEN_STR:
        ts_ben_put_str(b, t->s, t->len);
        break;
    case TS_BEN_LIST:
    case TS_BEN_DICT:
        ts_buf_putc(b, t->type == TS_BEN_LIST ? 'l' : 'd');
        for (size_t i = 0; i < t->n; i++) {
            if (t->type == TS_BEN_DICT) {
                reencode(t->keys[i], b);
                /* Every key must be found again by the lookup (it is NUL-free). */
                if (!memchr(t->keys[i]->s, 0, t->keys[i]->len)) {
                    char k[64];
                    if (t->keys[i]->len < sizeof k) {
                        memcpy(k, t->keys[i]->s, t->keys[i]->len);
                        k[t->keys[i]->len] = 0;
                        if (ts_ben_dict_get(t, k) != t->items[i])
                            abort();
                    }
                }
            }
            reencode(t->items[i], b);
        }
        ts_buf_putc(b, 'e');
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    ts_ben_t *t = ts_ben_parse(data, size, NULL, err, sizeof err);
    if (t) {
        if (t->raw != data || t->rawlen != size)
            abort();
        ts_buf_t b;
        ts_buf_init(&b);
        reencode(t, &b);
        if (b.err || b.len != size || memcmp(b.data, data, size) != 0)
            abort();
        ts_buf_free(&b);
        (void)ts_ben_dict_get(t, "info");
        ts_ben_free(&t);
    } else if (!err[0]) {
        abort(); /* every rejection must say why */
    }

    /* Prefix mode: whatever was consumed must parse again as exactly one value. */
    size_t consumed = 0;
    t = ts_ben_parse(data, size, &consumed, err, sizeof err);
    if (t) {
        if (consumed == 0 || consumed > size || t->rawlen != consumed)
            abort();
        ts_ben_t *again = ts_ben_parse(data, consumed, NULL, err, sizeof err);
        if (!again)
            abort();
        ts_ben_free(&again);
        ts_ben_free(&t);
    }
    return 0;
}
