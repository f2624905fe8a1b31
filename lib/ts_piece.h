/* Wire pieces: payload || 88-byte trailer, every piece ECDSA-signed (docs/PROTOCOL.md section 2).
 *
 * Trailer, integers big-endian:
 *   0  u8   version = 1
 *   1  u8   flags (TS_PIECE_RAP, TS_PIECE_DISCONT; other bits 0)
 *   2  u16  reserved, 0
 *   4  u32  payload_len
 *   8  u64  seq
 *   16 u64  timestamp_us
 *   24 64   signature: ECDSA P-256 / SHA-256 as r || s (32 bytes each, left-padded)
 * Signed bytes: "tstream-piece-v1" || infohash (20) || trailer bytes 0..23 || payload. */
#ifndef TS_PIECE_H
#define TS_PIECE_H
#include <stddef.h>
#include <stdint.h>

#define TS_TRAILER_LEN 88
#define TS_TRAILER_SIGNED_LEN 24 /* trailer bytes covered by the signature */
#define TS_SIG_LEN 64
#define TS_PIECE_VERSION 1
#define TS_PIECE_RAP 0x01
#define TS_PIECE_DISCONT 0x02
#define TS_PIECE_DOMAIN "tstream-piece-v1" /* 16 bytes, signed without its NUL */

typedef struct {
    uint8_t version, flags;
    uint32_t payload_len;
    uint64_t seq, timestamp_us;
    uint8_t sig[TS_SIG_LEN];
} ts_trailer_t;

/* Serialise t (reserved bytes written as 0). No validation: encode what you were given. */
void ts_trailer_encode(const ts_trailer_t *t, uint8_t out[TS_TRAILER_LEN]);

/* Parse the trailer at the end of a wire piece. Checks version == 1, no unknown flags, reserved == 0,
 * payload_len >= 1, payload_len + 88 == len and len <= piece_len. 0 with t filled, or -1 (t undefined). */
int ts_piece_parse(const uint8_t *piece, size_t len, uint32_t piece_len, ts_trailer_t *t);

/* Verifier: holds the stream's public key (DER SubjectPublicKeyInfo from the metainfo) and infohash.
 * Not thread-safe (it reuses one digest context); use one per thread. */
typedef struct ts_verifier ts_verifier_t;

/* NULL with a reason in err unless pubkey_der is exactly one DER SubjectPublicKeyInfo of a P-256 EC key. */
ts_verifier_t *ts_verifier_new(const uint8_t *pubkey_der, size_t len, const uint8_t infohash[20], char *err,
                               size_t errlen);
void ts_verifier_destroy(ts_verifier_t **v);

/* Parse and verify a whole wire piece: 0 if it parses and its signature is valid, -1 otherwise.
 * t is filled whenever the parse succeeded (even if the signature then failed). */
int ts_verifier_check(ts_verifier_t *v, const uint8_t *piece, size_t len, uint32_t piece_len, ts_trailer_t *t);

/* Lower level (also used by the signer to check its own signatures): verify t->sig over t's fields and
 * payload (t->payload_len bytes). Does not validate t's fields beyond what the signature covers. */
int ts_verifier_check_parts(ts_verifier_t *v, const ts_trailer_t *t, const uint8_t *payload);

/* DER ECDSA-Sig-Value <-> fixed 64-byte r || s. -1 if malformed or r/s do not fit 32 bytes. */
int ts_piece_sig_from_der(const uint8_t *der, size_t len, uint8_t sig[TS_SIG_LEN]);
#define TS_SIG_DER_MAX 72 /* SEQUENCE of two 33-byte INTEGERs */
/* Writes the DER form of sig to der (cap bytes available); returns its length or -1. */
int ts_piece_sig_to_der(const uint8_t sig[TS_SIG_LEN], uint8_t *der, size_t cap);
#endif
