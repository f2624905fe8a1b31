/* The .tstream file: a bencoded torrent-like metainfo for one live stream.
 *
 * Layout (keys in bencode order):
 *   d 8:announce <str>        (omitted when empty)
 *     7:bitrate  i<bps>e      (omitted when 0)
 *     10:created by 11:tstream 0.1
 *     4:info d 6:length i<npieces * piece_len>e
 *              4:live d 10:authmethod 5:ECDSA 6:pubkey <DER SubjectPublicKeyInfo> e
 *              4:name <str>
 *              12:piece length i<piece_len>e e e
 * The infohash is SHA-1 over info's exact bytes in the file, so announce and bitrate can
 * change without changing the stream's identity. Unknown keys are tolerated on parse. */
#ifndef TS_METAINFO_H
#define TS_METAINFO_H
#include <stddef.h>
#include <stdint.h>
#include "ts_buf.h"

#define TS_NAME_MAX 128
#define TS_PIECE_LEN_MIN 1024u
#define TS_PIECE_LEN_MAX 1048576u
#define TS_NPIECES_MIN 16u
#define TS_NPIECES_MAX 16777216u
#define TS_PUBKEY_MAX 512u
#define TS_METAINFO_FILE_MAX (1024 * 1024)

typedef struct {
    char name[TS_NAME_MAX + 1];   /* info.name: [A-Za-z0-9._-]{1,128}, validated ("." and ".." refused) */
    uint32_t piece_len;           /* info["piece length"]: 1024..1048576 */
    uint64_t npieces;             /* info.length / piece_len (length must be an exact multiple; npieces 16..16777216) */
    char authmethod[16];          /* info.live.authmethod: must be "ECDSA" */
    uint8_t *pubkey; size_t pubkey_len;   /* info.live.pubkey: DER SubjectPublicKeyInfo, 1..512 bytes (malloc'd) */
    char announce[512];           /* top-level "announce" (http:// URL), may be empty string if absent */
    uint64_t bitrate;             /* top-level "bitrate" in bits per second (0 if absent) */
    uint8_t infohash[20];         /* SHA-1 of the exact bencoded bytes of info */
    uint8_t *info; size_t info_len; /* parsed files: those exact bytes (malloc'd), what BEP 9 serves */
} ts_metainfo_t;

/* Validate m's fields and append the whole file to out; sets m->infohash. When m->info is set
 * (m was parsed), info is written as those exact bytes, so a copy of a file keeps its infohash
 * even with keys this version does not know: only the top-level fields (announce, bitrate) come
 * from m then. On failure out is left as it was and err says which field is wrong. */
int ts_metainfo_encode(ts_metainfo_t *m, ts_buf_t *out, char *err, size_t errlen);
/* Parse and validate a whole file. m is overwritten (free an old one first); on failure it is
 * left zeroed. On success free it with ts_metainfo_free. buf need not outlive m. */
int ts_metainfo_parse(const uint8_t *buf, size_t len, ts_metainfo_t *m, char *err, size_t errlen);
/* Read (at most TS_METAINFO_FILE_MAX bytes) and parse path. */
int ts_metainfo_load(const char *path, ts_metainfo_t *m, char *err, size_t errlen);
/* Encode and replace path atomically: a temporary file in the same directory, fsync, rename;
 * mode 0644. Sets m->infohash. */
int ts_metainfo_save(const char *path, ts_metainfo_t *m, char *err, size_t errlen);
/* Write the exact bytes of a whole file to path atomically (as ts_metainfo_save), after checking
 * that they parse. */
int ts_metainfo_write(const char *path, const uint8_t *file, size_t len, char *err, size_t errlen);
/* Build a whole file around info's exact bytes (from BEP 9), with announce as the tracker when
 * it is a usable http:// URL (else none), and parse it into m; out gets the file. The infohash is
 * that of the given bytes, so the caller compares it with the one it asked for. */
int ts_metainfo_wrap(const uint8_t *info, size_t info_len, const char *announce, ts_buf_t *out, ts_metainfo_t *m,
                     char *err, size_t errlen);
/* Free pubkey and info and zero the struct. */
void ts_metainfo_free(ts_metainfo_t *m);
/* Lowercase hex of the infohash, NUL-terminated. */
void ts_metainfo_hex(const uint8_t infohash[20], char out[41]);
#endif
