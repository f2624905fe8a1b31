/* Push sources as users write them: srt://, udp://, tcp:// (an encoder sends to us, or SRT we call).
 * Pure (no I/O, no name lookup), shared by `tsctl start` (to refuse a bad form at once) and ingest,
 * and fuzzed: the text comes from a command line or an instance file.
 *
 *   srt://:PORT[?passphrase=P&latency=MS]       listener           srt://HOST:PORT[?…]  caller
 *   udp://@GROUP:PORT[?iface=ADDR]              multicast join     udp://[ADDR]:PORT    unicast
 *   tcp://[ADDR]:PORT                           listener, one encoder connection at a time
 *
 * Addresses are dotted IPv4; only an SRT caller's HOST may be a name. Query keys other than those
 * above, a path, a port outside 1..65535 or a GROUP outside 224.0.0.0/4 are errors. */
#ifndef TS_PUSHURL_H
#define TS_PUSHURL_H
#include <stddef.h>
#include <stdint.h>

typedef enum { TS_PUSH_NONE, TS_PUSH_SRT, TS_PUSH_UDP, TS_PUSH_TCP } ts_push_kind_t;

#define TS_PUSHURL_MAX 1024
#define TS_PUSH_PASS_MIN 10 /* libsrt's PBKDF2 passphrase bounds */
#define TS_PUSH_PASS_MAX 79

typedef struct {
    ts_push_kind_t kind;
    int listen;             /* srt, tcp: wait for the encoder (srt: no HOST) */
    int multicast;          /* udp://@GROUP */
    char host[256];         /* bind address (tcp, udp), group (udp @), or the SRT caller's HOST; "" = any */
    uint16_t port;
    char iface[16];         /* udp @: the local interface address to join on, "" = the kernel's choice */
    char passphrase[TS_PUSH_PASS_MAX + 1]; /* srt: "" = no encryption */
    int latency_ms;         /* srt: -1 = libsrt's default */
} ts_pushurl_t;

/* Which push scheme spec starts with, TS_PUSH_NONE if none. */
ts_push_kind_t ts_pushurl_kind(const char *spec);
/* Parse spec. 0, or -1 with err saying what is wrong in one line. */
int ts_pushurl_parse(const char *spec, ts_pushurl_t *u, char *err, size_t errlen);
/* spec with a passphrase's value replaced by "***", for logs and status (always NUL-terminated). */
void ts_pushurl_redact(const char *spec, char *out, size_t outlen);
/* 1 if buf holds whole MPEG-TS packets only (a non-zero multiple of 188 bytes, each starting with
 * the 0x47 sync byte): what a datagram or an SRT message of a pushed stream must be. */
int ts_push_packets(const uint8_t *buf, size_t len);
#endif
