/* libFuzzer target for the merge of several processes' /metrics texts (lib/ts_metrics_merge.c:
 * the supervisor merges what its stages send in heartbeats). The input is up to four texts
 * separated by NUL bytes. Beyond "no crash, no out-of-bounds read": the output is well formed
 * (lines end in \n, none empty, each family's HELP and TYPE at most once and before its samples,
 * every sample of the family the last TYPE opened), and merging it again gives it back. */
#include "ts_metrics_merge.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t name_len(const char *s)
{
    size_t i = 0;
    while (s[i] == '_' || s[i] == ':' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (i > 0 && s[i] >= '0' && s[i] <= '9'))
        i++;
    return i;
}

/* The same name as a TYPE line's "# TYPE NAME " seen so far in out[0..end)? */
static int seen_type(const char *out, const char *end, const char *name, size_t nl)
{
    for (const char *p = out; p < end; p = strchr(p, '\n') + 1)
        if (!strncmp(p, "# TYPE ", 7) && name_len(p + 7) == nl && !memcmp(p + 7, name, nl))
            return 1;
    return 0;
}

static void check(const char *out)
{
    const char *fam = NULL;
    size_t fl = 0;
    for (const char *p = out; *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol || eol == p)
            abort(); /* unterminated or empty line */
        if (!strncmp(p, "# TYPE ", 7)) {
            size_t nl = name_len(p + 7);
            if (!nl || seen_type(out, p, p + 7, nl))
                abort(); /* a family twice */
            fam = p + 7, fl = nl;
        } else if (strncmp(p, "# HELP ", 7) != 0) {
            size_t nl = name_len(p);
            if (!fam || nl < fl || memcmp(p, fam, fl) != 0)
                abort(); /* a sample outside its family */
        }
        p = eol + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *texts[4];
    size_t n = 0;
    for (const char *p = buf; n < 4 && p <= buf + size; p += strlen(p) + 1)
        texts[n++] = p;
    ts_buf_t a, b;
    ts_buf_init(&a);
    ts_buf_init(&b);
    if (ts_metrics_merge(texts, n, &a) == 0 && ts_buf_putc(&a, 0) == 0) {
        check((const char *)a.data);
        const char *one = (const char *)a.data;
        if (ts_metrics_merge(&one, 1, &b) == 0 && ts_buf_putc(&b, 0) == 0 && strcmp(one, (const char *)b.data) != 0)
            abort(); /* merging a merged text changed it */
    }
    ts_buf_free(&a);
    ts_buf_free(&b);
    free(buf);
    return 0;
}
