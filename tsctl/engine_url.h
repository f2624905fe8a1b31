/* What a request to `tsctl engine` asks for, from its request-target alone (docs/PROTOCOL.md §12).
 * Pure, and given hostile input: every length is bounded, a value percent-decoded at most once.
 *
 *   /watch/INFOHASH.ts                     the stream as MPEG-TS             ENG_TS
 *   /watch/INFOHASH.m3u8                   its HLS playlist                  ENG_M3U8
 *   /watch/INFOHASH/PATH                   a file of its HLS (segments)      ENG_SUB
 *   /watch?magnet=LINK                     a stream by magnet link           ENG_MAGNET
 *   /ace/getstream?infohash=INFOHASH       (or id=) as /watch/INFOHASH.ts    ENG_TS
 *   /ace/manifest.m3u8?infohash=INFOHASH   (or id=) as /watch/INFOHASH.m3u8 ENG_M3U8
 *
 * INFOHASH is 40 hex digits, either case. Anything malformed under /watch or /ace/getstream,
 * /ace/manifest.m3u8 is ENG_BAD with why; other paths ENG_NONE. */
#ifndef TSCTL_ENGINE_URL_H
#define TSCTL_ENGINE_URL_H
#include "ts_magnet.h"
#include <stddef.h>
#include <stdint.h>

#define ENG_SUB_MAX 200 /* bytes of PATH (and its query) forwarded to the player-bridge */

typedef enum { ENG_NONE, ENG_BAD, ENG_TS, ENG_M3U8, ENG_SUB, ENG_MAGNET } eng_kind_t;

typedef struct {
    eng_kind_t kind;
    uint8_t infohash[20];           /* every kind but NONE and BAD */
    char sub[ENG_SUB_MAX + 2];      /* ENG_SUB: "/PATH[?QUERY]" as sent */
    char magnet[TS_MAGNET_MAX + 1]; /* ENG_MAGNET: the link, decoded */
    char why[300];                  /* ENG_BAD: for the 400's body */
} eng_req_t;

/* path, query: the request's path and its query (without '?'; may be empty), not NUL-terminated. */
void eng_url_parse(const char *path, size_t plen, const char *query, size_t qlen, eng_req_t *r);
#endif
