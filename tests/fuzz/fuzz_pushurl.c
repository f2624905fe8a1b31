/* libFuzzer target for the push source forms (lib/ts_pushurl.c: srt://, udp://, tcp:// from a
 * command line or an instance file) and the datagram check every UDP datagram and SRT message
 * passes. Beyond "no crash": what parses has a port, a known kind, a passphrase within libsrt's
 * bounds, a multicast group only in 224/4; redaction leaves no passphrase value in the text. */
#include "ts_pushurl.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)ts_push_packets(data, size);
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    ts_pushurl_t u;
    char err[256], shown[TS_PUSHURL_MAX + 32];
    if (ts_pushurl_parse(s, &u, err, sizeof err) == 0) {
        size_t pl = strlen(u.passphrase);
        if (u.kind == TS_PUSH_NONE || u.port == 0 || (pl && (pl < TS_PUSH_PASS_MIN || pl > TS_PUSH_PASS_MAX)))
            abort();
        if (u.multicast && (u.kind != TS_PUSH_UDP || strtoul(u.host, NULL, 10) < 224 || strtoul(u.host, NULL, 10) > 239))
            abort();
        ts_pushurl_redact(s, shown, sizeof shown);
        for (const char *p = strstr(shown, "passphrase="); p; p = strstr(p + 1, "passphrase="))
            if ((p[-1] == '?' || p[-1] == '&') && strncmp(p + 11, "***", 3) != 0)
                abort();
    } else if (!err[0]) {
        abort();
    }
    ts_pushurl_redact(s, shown, sizeof shown);
    if (strlen(shown) >= sizeof shown)
        abort();
    free(s);
    return 0;
}
