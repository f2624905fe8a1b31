/* BitTorrent peer wire codec (BEP 3 + BEP 10, tstream's ts_live extension): docs/PROTOCOL.md section 4.
 *
 * Pure encode/decode, no sockets: the swarm process owns the connections and feeds bytes in.
 * Every length read from the wire is checked before it is used, so the parsers take hostile input.
 * Encoders append to a ts_buf_t; a message that cannot be represented (a length beyond 2^32, a
 * seq beyond INT64_MAX) is not written and sets the buffer's sticky err instead. */
#ifndef TS_WIRE_H
#define TS_WIRE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ts_buf.h"

#define TS_WIRE_HANDSHAKE_LEN 68
#define TS_WIRE_PSTR "BitTorrent protocol"
#define TS_WIRE_EXT_HANDSHAKE 0 /* extended message id of the BEP 10 handshake */

enum {
    TS_WIRE_CHOKE = 0,
    TS_WIRE_UNCHOKE = 1,
    TS_WIRE_INTERESTED = 2,
    TS_WIRE_NOT_INTERESTED = 3,
    TS_WIRE_HAVE = 4,
    TS_WIRE_BITFIELD = 5,
    TS_WIRE_REQUEST = 6,
    TS_WIRE_PIECE = 7,
    TS_WIRE_CANCEL = 8,
    TS_WIRE_PORT = 9,           /* BEP 5 (DHT) */
    TS_WIRE_SUGGEST = 13,       /* BEP 6 (fast extension), 13..17 */
    TS_WIRE_HAVE_ALL = 14,
    TS_WIRE_HAVE_NONE = 15,
    TS_WIRE_REJECT = 16,
    TS_WIRE_ALLOWED_FAST = 17,
    TS_WIRE_EXTENDED = 20,
    TS_WIRE_KEEPALIVE = 255 /* pseudo id for a zero-length message; a real id 255 is reported as a keep-alive too */
};

typedef struct {
    uint8_t reserved[8];
    uint8_t infohash[20];
    uint8_t peer_id[20];
} ts_handshake_t;

/* 0x13 "BitTorrent protocol" reserved infohash peer_id. */
void ts_wire_handshake_encode(const ts_handshake_t *h, uint8_t out[TS_WIRE_HANDSHAKE_LEN]);
/* 0 ok (h filled from the first 68 bytes), 1 need more bytes, -1 not BitTorrent. A wrong byte in
 * the protocol string is reported as soon as it arrives, so a non-BitTorrent client is dropped early. */
int ts_wire_handshake_decode(const uint8_t *in, size_t len, ts_handshake_t *h);
/* 1 if the peer set the BEP 10 extension-protocol bit (reserved[5] & 0x10). */
int ts_wire_handshake_ext(const ts_handshake_t *h);

typedef struct {
    uint8_t id;                     /* TS_WIRE_*, or an unknown id as received */
    uint32_t index, begin, length;  /* HAVE: index; REQUEST/CANCEL: all three; PIECE: index, begin */
    const uint8_t *data;            /* BITFIELD bits, PIECE block, EXTENDED payload (after the ext id), */
    size_t data_len;                /*   unknown id: its payload; points into the parsed buffer */
    uint8_t ext_id;                 /* EXTENDED */
} ts_wire_msg_t;

/* Parse one message at the start of buf. Returns bytes consumed (> 0), 0 if incomplete, -1 on a
 * protocol error: a length prefix above max_msg (checked as soon as the prefix is in, before the
 * body arrives), a fixed-size message with the wrong length, PIECE shorter than 9 or EXTENDED
 * shorter than 2. An unknown id is not an error: it is returned with id set so the caller can
 * ignore it. m->data points into buf. */
ssize_t ts_wire_parse(const uint8_t *buf, size_t len, size_t max_msg, ts_wire_msg_t *m);

void ts_wire_put_simple(ts_buf_t *b, uint8_t id); /* choke / unchoke / interested / not interested */
void ts_wire_put_keepalive(ts_buf_t *b);
void ts_wire_put_have(ts_buf_t *b, uint32_t index);
void ts_wire_put_bitfield(ts_buf_t *b, const uint8_t *bits, size_t nbytes);
void ts_wire_put_request(ts_buf_t *b, uint8_t id /* REQUEST or CANCEL */, uint32_t index, uint32_t begin,
                         uint32_t length);
void ts_wire_put_piece(ts_buf_t *b, uint32_t index, uint32_t begin, const uint8_t *data, size_t len);
void ts_wire_put_extended(ts_buf_t *b, uint8_t ext_id, const uint8_t *payload, size_t len);

/* 1 if nbytes == ceil(npieces / 8) and the spare bits of the last byte are zero, else 0. */
int ts_wire_bitfield_valid(const uint8_t *bits, size_t nbytes, uint64_t npieces);

/* BEP 10 extension handshake (extended id 0), tstream flavour: a bencoded dict
 *   { "m": { "ts_live": <id>, "ut_holepunch": <id>, "ut_metadata": <id>, "ut_pex": <id> },
 *     "metadata_size": <bytes>, "p": <listen port>, "ts_edge": <highest seq held>,
 *     "ts_push": 1, "ts_rap": <newest random-access seq held>, "ts_reject": 1, "ts_src": 1, "v": TS_AGENT,
 *     "yourip": <4 bytes: the receiver's IPv4 address as the sender sees it> }
 * An extension with id 0 is left out of "m"; "metadata_size" is left out when md_size = 0; "p"
 * when port = 0; ts_edge / ts_rap when the sender holds nothing (has_edge = 0); "ts_src" is sent
 * only by the broadcaster's swarm; "ts_push" only by a peer that takes pieces it did not request
 * (PROTOCOL.md); "ts_reject" by a peer that reads a REJECT_REQUEST (id 16, BEP 6's layout) as
 * "not served: ask elsewhere"; "yourip" when has_yourip. A "yourip" of another length than 4 (BEP 10 allows 16,
 * IPv6) is ignored. "v" is always TS_AGENT when we send; parsed, it is client (below). */
#define TS_WIRE_CLIENT_LEN 64 /* bytes of ts_ext_hs_t.client with its NUL */
typedef struct {
    int has_live;
    uint8_t live_id;   /* 1..255 */
    uint16_t port;     /* 0 = not announced */
    int has_edge;
    uint64_t edge, rap;
    int source;        /* sent by the broadcaster: viewers fetch from it only what no one else has */
    uint8_t pex_id;    /* its id for ut_pex (BEP 11) in "m", 0 = none */
    uint8_t md_id;     /* its id for ut_metadata (BEP 9) in "m", 0 = none */
    uint64_t md_size;  /* "metadata_size": bytes of the info dict, 0 = not given */
    uint8_t hp_id;     /* its id for ut_holepunch (BEP 55) in "m", 0 = none */
    int push;          /* "ts_push": it takes pieces pushed to it unrequested */
    int reject;        /* "ts_reject": it understands REJECT_REQUEST for a request we will not serve */
    int has_yourip;
    uint32_t yourip;   /* host order: our address as the sender sees it */
    /* parsed only: its "v" as printable UTF-8 for status and logs ("" if none or not a string):
     * controls and bytes that are not well-formed UTF-8 become '?', cut at a character's end */
    char client[TS_WIRE_CLIENT_LEN];
} ts_ext_hs_t;

/* The whole message: length prefix, id 20, ext id 0, dict. */
void ts_wire_put_ext_handshake(ts_buf_t *b, const ts_ext_hs_t *x);
/* payload = the bytes after the ext id. Unknown keys (other clients' extensions, "reqq", ...) are
 * ignored, and so is a "yourip" or "v" of the wrong type. A ts_live id of 0 means "disabled" (BEP 10) and gives has_live = 0.
 * -1 if malformed: not exactly one bencoded dict, "m" not a dict, ts_live not an int in 0..255,
 * "p" not an int in 0..65535, ts_edge / ts_rap not both present or both absent, negative,
 * or ts_rap > ts_edge, ut_metadata not an int in 0..255, metadata_size not an int in 0..2^31. */
int ts_wire_parse_ext_handshake(const uint8_t *payload, size_t len, ts_ext_hs_t *x);

/* ut_pex (BEP 11), sent with the id the peer announced: bencoded { "added": <6 bytes per peer:
 * IPv4, port, big-endian>, "added.f": <1 flag byte per added peer> }. "dropped" is ignored.
 * "added.f" is sent only when some flag is set; a missing or short "added.f" gives flags 0 to the
 * peers it does not cover (other clients send none, or fewer), a longer one is cut. */
#define TS_WIRE_PEX_MAX 50
#define TS_WIRE_PEX_HOLEPUNCH 0x08   /* added.f: it supports ut_holepunch (BEP 55) */
#define TS_WIRE_PEX_CONNECTABLE 0x10 /* added.f: it accepts incoming connections */
typedef struct { uint32_t ip; uint16_t port; uint8_t flags; } ts_wire_addr_t; /* host byte order */
void ts_wire_put_pex(ts_buf_t *b, uint8_t peer_pex_id, const ts_wire_addr_t *added, size_t n);
/* At most max entries (extra ones ignored), port 0 and 0.0.0.0 skipped. -1 if malformed
 * ("added" not a string of 6-byte entries, "added.f" present but not a string). */
int ts_wire_parse_pex(const uint8_t *payload, size_t len, ts_wire_addr_t *out, size_t max, size_t *n);

/* ut_holepunch (BEP 55), sent with the id the peer announced: a binary payload, not bencoded:
 *   msg_type u8 | addr_type u8 (0 IPv4, 1 IPv6) | addr 4 or 16 bytes | port u16 BE | err_code u32 BE
 * rendezvous (initiator -> relay): addr = the target; connect (relay -> both): addr = whom to dial;
 * error (relay -> initiator): addr = the target, err_code why. docs/PROTOCOL.md section on ut_holepunch. */
enum { TS_WIRE_HP_RENDEZVOUS = 0, TS_WIRE_HP_CONNECT = 1, TS_WIRE_HP_ERROR = 2 };
enum { TS_WIRE_HP_NO_SUCH_PEER = 1, TS_WIRE_HP_NOT_CONNECTED = 2, TS_WIRE_HP_NO_SUPPORT = 3, TS_WIRE_HP_NO_SELF = 4 };
#define TS_WIRE_HP_LEN4 12 /* payload bytes with an IPv4 address ... */
#define TS_WIRE_HP_LEN6 24 /* ... and with an IPv6 one */
typedef struct {
    uint8_t type;      /* TS_WIRE_HP_*, or a newer type as received (for the caller to ignore) */
    uint8_t addr_type; /* 0 IPv4 (ip), 1 IPv6 (ip6) */
    uint32_t ip;       /* host order */
    uint8_t ip6[16];
    uint16_t port;
    uint32_t err;      /* 0 unless type is error */
} ts_wire_hp_t;
/* IPv4 only (addr_type is taken as 0): we have no IPv6 peers to name. */
void ts_wire_put_holepunch(ts_buf_t *b, uint8_t peer_hp_id, uint8_t type, uint32_t ip, uint16_t port, uint32_t err);
/* payload = the bytes after the ext id. 0 ok (an IPv6 address is parsed into ip6: the caller, IPv4
 * only, drops it); -1 if malformed: an addr_type other than 0 or 1, or a length other than exactly
 * TS_WIRE_HP_LEN4 / TS_WIRE_HP_LEN6 for it. */
int ts_wire_parse_holepunch(const uint8_t *payload, size_t len, ts_wire_hp_t *h);

/* ts_live message, sent with the id the PEER announced: bencoded { "edge": seq, "rap": seq }. */
void ts_wire_put_live(ts_buf_t *b, uint8_t peer_live_id, uint64_t edge, uint64_t rap);
/* payload = the bytes after the ext id. -1 unless exactly one dict with non-negative int "edge"
 * and "rap", rap <= edge (other keys ignored). */
int ts_wire_parse_live(const uint8_t *payload, size_t len, uint64_t *edge, uint64_t *rap);

/* ut_metadata (BEP 9): the info dict in 16 KiB pieces, sent with the id the peer announced.
 * A bencoded { "msg_type": 0 request | 1 data | 2 reject, "piece": i[, "total_size": bytes] },
 * for data followed by the piece's raw bytes. */
#define TS_WIRE_MD_PIECE 16384
enum { TS_WIRE_MD_REQUEST = 0, TS_WIRE_MD_DATA = 1, TS_WIRE_MD_REJECT = 2 };
typedef struct {
    int64_t type;           /* msg_type as received: unknown types are for the caller to ignore (BEP 9) */
    uint32_t piece;
    uint64_t total_size;    /* data only */
    const uint8_t *data;    /* data only: the bytes after the dict; points into the payload */
    size_t data_len;
} ts_wire_md_t;
/* total_size and data are used for TS_WIRE_MD_DATA only. */
void ts_wire_put_metadata(ts_buf_t *b, uint8_t peer_md_id, int type, uint32_t piece, uint64_t total_size,
                          const uint8_t *data, size_t len);
/* payload = the bytes after the ext id. -1 unless a dict with a non-negative int msg_type and, for
 * types 0..2, an int piece in 0..2^31; data needs total_size in 1..2^31 and may carry at most
 * TS_WIRE_MD_PIECE bytes after the dict; requests and rejects carry none. */
int ts_wire_parse_metadata(const uint8_t *payload, size_t len, ts_wire_md_t *m);
#endif
