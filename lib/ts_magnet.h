/* Magnet links (BEP 9): magnet:?xt=urn:btih:<infohash>&dn=<name>&tr=<tracker>[&x.pe=<ip:port>].
 *
 * A viewer holding only a link fetches the metainfo from peers (ut_metadata) and checks it
 * against the infohash here. The link is untrusted input (pasted, clicked), so every part is
 * length-checked and percent-decoded into bounded fields. */
#ifndef TS_MAGNET_H
#define TS_MAGNET_H
#include <stddef.h>
#include <stdint.h>

#define TS_MAGNET_MAX 4096     /* longer links are refused */
#define TS_MAGNET_TR_MAX 8     /* trackers kept (further ones ignored) */
#define TS_MAGNET_PE_MAX 8     /* x.pe peers kept (further ones ignored) */
#define TS_MAGNET_STR_MAX 511  /* a decoded dn or tr longer than this is refused */

typedef struct {
    uint8_t infohash[20];
    char name[TS_MAGNET_STR_MAX + 1];               /* dn, decoded; empty if absent */
    char tr[TS_MAGNET_TR_MAX][TS_MAGNET_STR_MAX + 1]; /* decoded tracker URLs, in link order */
    int ntr;
    struct { uint32_t ip; uint16_t port; } pe[TS_MAGNET_PE_MAX]; /* x.pe: IPv4, host order */
    int npe;
} ts_magnet_t;

/* Parse a link. Needs exactly one xt=urn:btih: with 40 hex digits or 32 base32 characters
 * (either case); other parameters (xl, ws, kt, ...) are ignored. -1 with err saying why on: no
 * "magnet:?" prefix, no or two btih, a bad hash, bad percent-escapes, a NUL byte or a control
 * character in a value, an over-long value, an x.pe that is not IPv4:port (1..65535). */
int ts_magnet_parse(const char *uri, ts_magnet_t *m, char *err, size_t errlen);
/* Format a link: infohash in lowercase hex, dn and tr percent-encoded (RFC 3986 unreserved bytes
 * kept). tracker or name may be NULL or empty (left out). -1 if it does not fit in out. */
int ts_magnet_format(const uint8_t infohash[20], const char *name, const char *tracker, char *out, size_t outlen);
#endif
