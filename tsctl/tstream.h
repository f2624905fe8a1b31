/* A new broadcast's .tstream metainfo, shared by `tsctl start` and `tsctl tstream`. */
#ifndef TSCTL_TSTREAM_H
#define TSCTL_TSTREAM_H
#include "ts_metainfo.h"
#include <stddef.h>
#include <stdint.h>

/* Fill m (zeroed by the caller) for broadcast `name` signed by the key whose public key is
 * pubkey_hex (DER SubjectPublicKeyInfo in hex, as `ts-signer --init` prints it): pieces of
 * piece_len bytes, as many as `window_s` seconds of stream at `bitrate` fill (at least 64).
 * announce and bitrate are left to the caller. 0, or -1 with a reason in err. */
int tstream_create(ts_metainfo_t *m, const char *name, const char *pubkey_hex, uint32_t piece_len, double window_s,
                   uint64_t bitrate, char *err, size_t errlen);
/* The options `tsctl start` and `tsctl tstream` share: --bitrate (default 2M), --piece-size
 * (default 16k) and --tracker (http:// only), each NULL if not given. 0, or -1 after saying on
 * stderr, as "tsctl CMD: ...", which one is bad. */
int tstream_opts(const char *cmd, const char *bitrate_s, const char *piece_s, const char *tracker, uint64_t *bitrate,
                 uint64_t *piece_len);
#endif
