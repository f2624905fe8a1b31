/* Peer wire codec: every message round-trips, every prefix is "incomplete", bad lengths are
 * protocol errors, bitfields are checked, the BEP 10 / ts_live dictionaries round-trip and
 * malformed ones are rejected. */
#include "check.h"
#include "ts_bencode.h"
#include "ts_buf.h"
#include "wire.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



#define MAX_MSG (16384 + 64)

/* The whole of b must parse as exactly one message into *m; every shorter prefix must say "incomplete".
 * Each prefix is copied to its own heap block so ASan catches any read past it. */
static int parse_one(const ts_buf_t *b, ts_wire_msg_t *m, const char *what)
{
    int ok = 1;
    for (size_t i = 0; i < b->len; i++) {
        uint8_t *cp = malloc(i ? i : 1);
        memcpy(cp, b->data, i);
        ts_wire_msg_t mm;
        ssize_t r = ts_wire_parse(cp, i, MAX_MSG, &mm);
        free(cp);
        if (r != 0) {
            CHECK(0, "%s: prefix of %zu/%zu bytes gave %zd, not 0", what, i, b->len, r);
            ok = 0;
            break;
        }
    }
    if (ok)
        CHECK(1, "%s: prefixes incomplete", what);
    ssize_t r = ts_wire_parse(b->data, b->len, MAX_MSG, m);
    CHECK(r == (ssize_t)b->len, "%s: consumed %zd of %zu", what, r, b->len);
    return r == (ssize_t)b->len;
}

static void test_messages(void)
{
    ts_buf_t b;
    ts_wire_msg_t m;
    const uint8_t ids[] = { TS_WIRE_CHOKE, TS_WIRE_UNCHOKE, TS_WIRE_INTERESTED, TS_WIRE_NOT_INTERESTED };
    for (size_t i = 0; i < sizeof ids; i++) {
        ts_buf_init(&b);
        ts_wire_put_simple(&b, ids[i]);
        CHECK(b.len == 5 && memcmp(b.data, "\0\0\0\1", 4) == 0 && b.data[4] == ids[i], "simple %u bytes", ids[i]);
        if (parse_one(&b, &m, "simple"))
            CHECK(m.id == ids[i] && m.data == NULL && m.data_len == 0, "simple id %u", ids[i]);
        ts_buf_free(&b);
    }

    ts_buf_init(&b);
    ts_wire_put_keepalive(&b);
    CHECK(b.len == 4 && memcmp(b.data, "\0\0\0\0", 4) == 0, "keepalive bytes");
    if (parse_one(&b, &m, "keepalive"))
        CHECK(m.id == TS_WIRE_KEEPALIVE, "keepalive id");
    ts_buf_free(&b);

    ts_buf_init(&b);
    ts_wire_put_have(&b, 0xDEADBEEF);
    CHECK(b.len == 9 && memcmp(b.data, "\0\0\0\5\4\xde\xad\xbe\xef", 9) == 0, "have bytes");
    if (parse_one(&b, &m, "have"))
        CHECK(m.id == TS_WIRE_HAVE && m.index == 0xDEADBEEF, "have index");
    ts_buf_free(&b);

    uint8_t bits[3] = { 0xA5, 0x00, 0x80 };
    ts_buf_init(&b);
    ts_wire_put_bitfield(&b, bits, sizeof bits);
    if (parse_one(&b, &m, "bitfield"))
        CHECK(m.id == TS_WIRE_BITFIELD && m.data_len == 3 && memcmp(m.data, bits, 3) == 0, "bitfield bits");
    ts_buf_free(&b);

    ts_buf_init(&b);
    ts_wire_put_bitfield(&b, NULL, 0);
    if (parse_one(&b, &m, "empty bitfield"))
        CHECK(m.id == TS_WIRE_BITFIELD && m.data_len == 0, "empty bitfield");
    ts_buf_free(&b);

    const uint8_t rids[] = { TS_WIRE_REQUEST, TS_WIRE_CANCEL, TS_WIRE_REJECT };
    for (size_t i = 0; i < 3; i++) {
        ts_buf_init(&b);
        ts_wire_put_request(&b, rids[i], 7, 0x4000, 0xFFFFFFFF);
        CHECK(b.len == 17, "request len");
        if (parse_one(&b, &m, "request"))
            CHECK(m.id == rids[i] && m.index == 7 && m.begin == 0x4000 && m.length == 0xFFFFFFFF, "request fields");
        ts_buf_free(&b);
    }

    uint8_t block[1000];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (uint8_t)(i * 7);
    ts_buf_init(&b);
    ts_wire_put_piece(&b, 42, 0, block, sizeof block);
    CHECK(b.len == 13 + sizeof block, "piece len");
    if (parse_one(&b, &m, "piece"))
        CHECK(m.id == TS_WIRE_PIECE && m.index == 42 && m.begin == 0 && m.data_len == sizeof block &&
                  m.data == b.data + 13 && memcmp(m.data, block, sizeof block) == 0,
              "piece fields");
    ts_buf_free(&b);

    ts_buf_init(&b);
    ts_wire_put_piece(&b, 1, 2, NULL, 0);
    if (parse_one(&b, &m, "empty piece"))
        CHECK(m.id == TS_WIRE_PIECE && m.index == 1 && m.begin == 2 && m.data_len == 0, "empty piece");
    ts_buf_free(&b);

    ts_buf_init(&b);
    ts_wire_put_extended(&b, 3, (const uint8_t *)"hello", 5);
    if (parse_one(&b, &m, "extended"))
        CHECK(m.id == TS_WIRE_EXTENDED && m.ext_id == 3 && m.data_len == 5 && memcmp(m.data, "hello", 5) == 0,
              "extended fields");
    ts_buf_free(&b);

    /* Several messages back to back parse one by one. */
    ts_buf_init(&b);
    ts_wire_put_keepalive(&b);
    ts_wire_put_have(&b, 1);
    ts_wire_put_simple(&b, TS_WIRE_UNCHOKE);
    ts_wire_put_piece(&b, 2, 0, block, 10);
    size_t off = 0;
    int count = 0;
    const uint8_t want[] = { TS_WIRE_KEEPALIVE, TS_WIRE_HAVE, TS_WIRE_UNCHOKE, TS_WIRE_PIECE };
    for (;;) {
        ssize_t r = ts_wire_parse(b.data + off, b.len - off, MAX_MSG, &m);
        if (r <= 0)
            break;
        CHECK(count < 4 && m.id == want[count], "stream message %d id %u", count, m.id);
        count++;
        off += (size_t)r;
    }
    CHECK(count == 4 && off == b.len, "stream: %d messages, %zu/%zu bytes", count, off, b.len);
    ts_buf_free(&b);
}

static void test_errors(void)
{
    ts_wire_msg_t m;
    /* Length above max: rejected from the prefix alone, without the body. */
    uint8_t big[4] = { 0, 0, 0x40, 0x41 }; /* 16449 > 16448 */
    CHECK(ts_wire_parse(big, 4, MAX_MSG, &m) == -1, "oversized prefix");
    uint8_t huge[5] = { 0xFF, 0xFF, 0xFF, 0xFF, 7 };
    CHECK(ts_wire_parse(huge, 5, MAX_MSG, &m) == -1, "4 GiB prefix");
    uint8_t exact[4] = { 0, 0, 0x40, 0x40 };
    CHECK(ts_wire_parse(exact, 4, MAX_MSG, &m) == 0, "length == max is allowed (incomplete)");

    uint8_t have_short[8] = { 0, 0, 0, 4, 4, 0, 0, 1 };
    CHECK(ts_wire_parse(have_short, sizeof have_short, MAX_MSG, &m) == -1, "have of length 4");
    uint8_t have_long[10] = { 0, 0, 0, 6, 4, 0, 0, 0, 1, 0 };
    CHECK(ts_wire_parse(have_long, sizeof have_long, MAX_MSG, &m) == -1, "have of length 6");
    uint8_t choke_long[6] = { 0, 0, 0, 2, 0, 0 };
    CHECK(ts_wire_parse(choke_long, sizeof choke_long, MAX_MSG, &m) == -1, "choke with payload");
    uint8_t req_short[16] = { 0, 0, 0, 12, 6 };
    CHECK(ts_wire_parse(req_short, sizeof req_short, MAX_MSG, &m) == -1, "request of length 12");
    uint8_t cancel_long[18] = { 0, 0, 0, 14, 8 };
    CHECK(ts_wire_parse(cancel_long, sizeof cancel_long, MAX_MSG, &m) == -1, "cancel of length 14");
    uint8_t piece_short[12] = { 0, 0, 0, 8, 7 };
    CHECK(ts_wire_parse(piece_short, sizeof piece_short, MAX_MSG, &m) == -1, "piece without begin");
    uint8_t ext_empty[5] = { 0, 0, 0, 1, 20 };
    CHECK(ts_wire_parse(ext_empty, sizeof ext_empty, MAX_MSG, &m) == -1, "extended without ext id");

    /* Unknown ids come back for the caller to skip. */
    uint8_t unk[7] = { 0, 0, 0, 3, 9, 0xAB, 0xCD };
    CHECK(ts_wire_parse(unk, sizeof unk, MAX_MSG, &m) == 7 && m.id == 9 && m.data_len == 2 && m.data == unk + 5,
          "unknown id 9 (DHT port) returned");
    uint8_t unk2[5] = { 0, 0, 0, 1, 0x0E };
    CHECK(ts_wire_parse(unk2, sizeof unk2, MAX_MSG, &m) == 5 && m.id == 0x0E && m.data_len == 0,
          "unknown id 14 (fast ext have-all)");
    /* Trailing bytes are left for the next call. */
    uint8_t two[9] = { 0, 0, 0, 1, 1, 0, 0, 0, 1 };
    CHECK(ts_wire_parse(two, sizeof two, MAX_MSG, &m) == 5 && m.id == TS_WIRE_UNCHOKE, "first of two");
    CHECK(ts_wire_parse(two + 5, 4, MAX_MSG, &m) == 0, "second incomplete");

    /* Encoders refuse what they cannot represent. */
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_live(&b, 1, (uint64_t)INT64_MAX + 1, 0);
    CHECK(b.err && b.len == 0, "live seq beyond int64 not written");
    ts_buf_free(&b);
}

static void test_bitfield(void)
{
    uint8_t bits[3] = { 0xFF, 0xFF, 0xE0 };
    CHECK(ts_wire_bitfield_valid(bits, 3, 19), "19 pieces in 3 bytes, spare zero");
    CHECK(!ts_wire_bitfield_valid(bits, 3, 18), "spare bit set (18 pieces)");
    CHECK(!ts_wire_bitfield_valid(bits, 2, 19), "too short");
    CHECK(!ts_wire_bitfield_valid(bits, 3, 16), "too long");
    CHECK(ts_wire_bitfield_valid(bits, 3, 24), "exact multiple of 8");
    uint8_t one[1] = { 0x80 };
    CHECK(ts_wire_bitfield_valid(one, 1, 1), "1 piece set");
    one[0] = 0x40;
    CHECK(!ts_wire_bitfield_valid(one, 1, 1), "1 piece, spare set");
    CHECK(ts_wire_bitfield_valid(NULL, 0, 0), "0 pieces, 0 bytes");
    CHECK(!ts_wire_bitfield_valid(one, 1, 0), "0 pieces, 1 byte");
    CHECK(!ts_wire_bitfield_valid(bits, 3, UINT64_MAX), "absurd piece count");
}

static void test_handshake(void)
{
    /* As libtorrent sends it: reserved with DHT (byte 7 bit 0), fast (byte 7 bit 2) and BEP 10. */
    static const uint8_t lt[68] = "\x13"
                                  "BitTorrent protocol"
                                  "\x00\x00\x00\x00\x00\x10\x00\x05"
                                  "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78"
                                  "-lt20A0-abcdefghijkl";
    ts_handshake_t h;
    CHECK(ts_wire_handshake_decode(lt, 68, &h) == 0, "libtorrent handshake");
    CHECK(ts_wire_handshake_ext(&h), "BEP 10 bit");
    CHECK(h.reserved[7] == 0x05 && h.infohash[0] == 0x12 && h.infohash[19] == 0x78 &&
              memcmp(h.peer_id, "-lt20A0-abcdefghijkl", 20) == 0,
          "fields");
    for (size_t i = 0; i < 68; i++) {
        uint8_t *cp = malloc(i ? i : 1);
        memcpy(cp, lt, i);
        int r = ts_wire_handshake_decode(cp, i, &h);
        free(cp);
        if (r != 1) {
            CHECK(0, "handshake prefix %zu gave %d", i, r);
            break;
        }
    }
    uint8_t out[68];
    ts_wire_handshake_decode(lt, 68, &h);
    ts_wire_handshake_encode(&h, out);
    CHECK(memcmp(out, lt, 68) == 0, "encode reproduces it");
    /* Longer input: the handshake is the first 68 bytes. */
    uint8_t more[80];
    memcpy(more, lt, 68);
    memset(more + 68, 0xEE, 12);
    CHECK(ts_wire_handshake_decode(more, sizeof more, &h) == 0, "with trailing bytes");

    h.reserved[5] = 0;
    CHECK(!ts_wire_handshake_ext(&h), "no BEP 10 bit");

    CHECK(ts_wire_handshake_decode((const uint8_t *)"GET /announce", 13, &h) == -1, "HTTP is not BitTorrent");
    CHECK(ts_wire_handshake_decode((const uint8_t *)"\x13" "BitTorrent", 11, &h) == 1, "partial pstr ok");
    CHECK(ts_wire_handshake_decode((const uint8_t *)"\x13" "BitTorrenX", 11, &h) == -1, "wrong pstr early");
    uint8_t bad[68];
    memcpy(bad, lt, 68);
    bad[19] = 'L';
    CHECK(ts_wire_handshake_decode(bad, 68, &h) == -1, "wrong last pstr byte");
}

/* Parse the EXTENDED message in b and return its payload span. */
static int ext_payload(const ts_buf_t *b, uint8_t want_ext, const uint8_t **p, size_t *n)
{
    ts_wire_msg_t m;
    if (!parse_one(b, &m, "ext message"))
        return -1;
    if (m.id != TS_WIRE_EXTENDED || m.ext_id != want_ext)
        return -1;
    *p = m.data;
    *n = m.data_len;
    return 0;
}

static int parse_hs_s(const char *s, ts_ext_hs_t *x)
{
    return ts_wire_parse_ext_handshake((const uint8_t *)s, strlen(s), x);
}

static int parse_live_s(const char *s, uint64_t *e, uint64_t *r)
{
    return ts_wire_parse_live((const uint8_t *)s, strlen(s), e, r);
}

static void test_ext(void)
{
    ts_buf_t b;
    const uint8_t *p;
    size_t n;
    ts_ext_hs_t x = { .has_live = 1, .live_id = 1, .port = 6881, .has_edge = 1, .edge = 123456789012ull,
                      .rap = 123456789000ull };
    ts_ext_hs_t y;
    ts_buf_init(&b);
    ts_wire_put_ext_handshake(&b, &x);
    CHECK(!b.err, "ext hs encode");
    if (ext_payload(&b, 0, &p, &n) == 0) {
        static const char want[] = "d1:md7:ts_livei1ee1:pi6881e7:ts_edgei123456789012e6:ts_rapi123456789000e"
                                   "1:v11:tstream 0.1e";
        CHECK(n == strlen(want) && memcmp(p, want, n) == 0, "ext hs bytes: %.*s", (int)n, p);
        CHECK(ts_wire_parse_ext_handshake(p, n, &y) == 0, "ext hs parse");
        CHECK(y.has_live && y.live_id == 1 && y.port == 6881 && y.has_edge && y.edge == x.edge && y.rap == x.rap,
              "ext hs round trip");
    } else {
        CHECK(0, "ext hs message");
    }
    ts_buf_free(&b);

    /* Holding nothing, no live extension, no port. */
    x = (ts_ext_hs_t){ 0 };
    ts_buf_init(&b);
    ts_wire_put_ext_handshake(&b, &x);
    if (ext_payload(&b, 0, &p, &n) == 0) {
        CHECK(n == strlen("d1:mde1:v11:tstream 0.1e") && memcmp(p, "d1:mde1:v11:tstream 0.1e", n) == 0,
              "minimal ext hs bytes: %.*s", (int)n, p);
        CHECK(ts_wire_parse_ext_handshake(p, n, &y) == 0 && !y.has_live && !y.port && !y.has_edge,
              "minimal ext hs round trip");
    } else {
        CHECK(0, "minimal ext hs message");
    }
    ts_buf_free(&b);

    /* A libtorrent handshake: other extensions and keys, no ts_live. */
    static const char lt[] = "d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e"
                             "12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei5000e1:pi6881e"
                             "4:reqqi500e11:upload_onlyi1e1:v16:libtorrent 2.0.96:yourip4:\x7f\0\0\1e";
    CHECK(ts_wire_parse_ext_handshake((const uint8_t *)lt, sizeof lt - 1, &y) == 0 &&
              !y.has_live && y.port == 6881 && !y.has_edge,
          "libtorrent ext handshake accepted");
    CHECK(ts_wire_parse_ext_handshake((const uint8_t *)lt, sizeof lt - 1, &y) == 0 && y.hp_id == 4 &&
              y.has_yourip && y.yourip == 0x7f000001,
          "libtorrent ut_holepunch id and yourip read");
    CHECK(parse_hs_s("d6:yourip16:0123456789abcdefe", &y) == 0 && !y.has_yourip, "IPv6 yourip ignored");
    CHECK(ts_wire_parse_ext_handshake((const uint8_t *)lt, sizeof lt - 1, &y) == 0 && strcmp(y.client, "libtorrent 2.0.9") == 0,
          "its client string: %s", y.client);
    /* "v" is hostile text: controls, DEL, a C1 control, a stray continuation byte, an overlong '/',
     * a surrogate each become '?'; µ and a 4-byte character stay; too long is cut at a character. */
    CHECK(parse_hs_s("d1:v23:a\x1b[2J\x7f\xc2\x85\x80\xc0\xaf\xed\xa0\x80\xc2\xb5\xf0\x9f\x8e\xa5z\xe2\x82" "e", &y) == 0 &&
              strcmp(y.client, "a?[2J?????????\xc2\xb5\xf0\x9f\x8e\xa5z??") == 0,
          "client string made printable: %s", y.client);
    CHECK(parse_hs_s("d1:vi1ee", &y) == 0 && !y.client[0], "a client that is no string: none");
    char longv[200];
    snprintf(longv, sizeof longv, "d1:v64:%062d\xc2\xb5" "e", 0);
    CHECK(parse_hs_s(longv, &y) == 0 && strlen(y.client) == 62, "a long client cut before a character: %zu", strlen(y.client));
    CHECK(parse_hs_s("d1:md12:ut_holepunchi256eee", &y) == -1, "ut_holepunch id too large");
    CHECK(parse_hs_s("d7:ts_pushi2ee", &y) == -1, "ts_push not 0 or 1");

    /* The new keys, in byte order, round trip. */
    CHECK(parse_hs_s("d9:ts_rejecti2ee", &y) == -1, "ts_reject not 0 or 1");
    x = (ts_ext_hs_t){ .has_live = 1, .live_id = 1, .hp_id = 3, .pex_id = 2, .push = 1, .has_edge = 1, .edge = 9,
                       .rap = 8, .reject = 1, .has_yourip = 1, .yourip = 0x0b000102 };
    ts_buf_init(&b);
    ts_wire_put_ext_handshake(&b, &x);
    if (ext_payload(&b, 0, &p, &n) == 0) {
        static const char want[] = "d1:md7:ts_livei1e12:ut_holepunchi3e6:ut_pexi2ee7:ts_edgei9e7:ts_pushi1e"
                                   "6:ts_rapi8e9:ts_rejecti1e1:v11:tstream 0.16:yourip4:\x0b\x00\x01\x02" "e";
        CHECK(n == sizeof want - 1 && memcmp(p, want, n) == 0, "ext hs with holepunch, push, yourip: %.*s", (int)n, p);
        CHECK(ts_wire_parse_ext_handshake(p, n, &y) == 0 && y.hp_id == 3 && y.push && y.reject && y.has_yourip &&
                  y.yourip == 0x0b000102 && y.pex_id == 2,
              "ext hs with holepunch, push, yourip round trip");
    } else {
        CHECK(0, "ext hs with holepunch message");
    }
    ts_buf_free(&b);
    CHECK(parse_hs_s("d1:md7:ts_livei255eee", &y) == 0 && y.has_live && y.live_id == 255, "live id 255");
    CHECK(parse_hs_s("d1:md7:ts_livei0eee", &y) == 0 && !y.has_live, "live id 0 = disabled");
    CHECK(parse_hs_s("de", &y) == 0 && !y.has_live && !y.has_edge, "empty dict");
    CHECK(parse_hs_s("d7:ts_edgei5e6:ts_rapi5ee", &y) == 0 && y.has_edge && y.edge == 5 && y.rap == 5, "edge == rap");

    const char *bad_hs[] = {
        "",                                  /* empty */
        "le",                                /* not a dict */
        "d1:mi1ee",                          /* m not a dict */
        "d1:md7:ts_livei256eee",             /* id too large */
        "d1:md7:ts_livei-1eee",              /* negative id */
        "d1:md7:ts_live1:xee",               /* id not an int */
        "d1:pi65536ee",                      /* port too large */
        "d1:pi-1ee",                         /* negative port */
        "d1:p4:6881e",                       /* port not an int */
        "d7:ts_edgei5ee",                    /* edge without rap */
        "d6:ts_rapi5ee",                     /* rap without edge */
        "d7:ts_edgei-1e6:ts_rapi0ee",        /* negative edge */
        "d7:ts_edgei5e6:ts_rapi-5ee",        /* negative rap */
        "d7:ts_edgei5e6:ts_rapi6ee",         /* rap beyond edge */
        "d7:ts_edge1:56:ts_rapi5ee",         /* edge not an int */
        "d1:md7:ts_livei1ee",                /* truncated: the outer dict is not closed */
        "d1:md7:ts_livei1eeex",              /* trailing byte */
        "d1:v1:x1:mdee",                     /* keys out of order */
        "d1:md7:ts_livei01eee",              /* leading zero */
    };
    for (size_t i = 0; i < sizeof bad_hs / sizeof *bad_hs; i++) {
        y.has_live = 7;
        CHECK(parse_hs_s(bad_hs[i], &y) == -1, "malformed ext hs accepted: %s", bad_hs[i]);
    }
    /* Hand-picked truncations of a valid handshake are all rejected. */
    static const char good[] = "d1:md7:ts_livei1ee1:pi6881e7:ts_edgei9e6:ts_rapi8e1:v11:tstream 0.1e";
    for (size_t i = 0; i < strlen(good); i++)
        if (ts_wire_parse_ext_handshake((const uint8_t *)good, i, &y) != -1) {
            CHECK(0, "truncated ext hs of %zu bytes accepted", i);
            break;
        }

    /* ts_live */
    ts_buf_init(&b);
    ts_wire_put_live(&b, 7, 1000, 990);
    if (ext_payload(&b, 7, &p, &n) == 0) {
        CHECK(n == strlen("d4:edgei1000e3:rapi990ee") && memcmp(p, "d4:edgei1000e3:rapi990ee", n) == 0,
              "live bytes: %.*s", (int)n, p);
        uint64_t e = 0, r = 0;
        CHECK(ts_wire_parse_live(p, n, &e, &r) == 0 && e == 1000 && r == 990, "live round trip");
    } else {
        CHECK(0, "live message");
    }
    ts_buf_free(&b);
    ts_buf_init(&b);
    ts_wire_put_live(&b, 1, INT64_MAX, 0);
    if (ext_payload(&b, 1, &p, &n) == 0) {
        uint64_t e = 0, r = 1;
        CHECK(ts_wire_parse_live(p, n, &e, &r) == 0 && e == INT64_MAX && r == 0, "live at INT64_MAX");
    }
    ts_buf_free(&b);

    uint64_t e = 77, r = 77;
    CHECK(parse_live_s("d4:edgei3e3:rapi0e3:zzzi1ee", &e, &r) == 0 && e == 3 && r == 0, "extra key ignored");
    const char *bad_live[] = {
        "", "de", "d4:edgei3ee", "d3:rapi3ee", "d4:edgei-1e3:rapi0ee", "d4:edgei3e3:rapi-1ee",
        "d4:edgei3e3:rapi4ee", "d4:edge1:33:rapi0ee", "li3ei0ee", "d4:edgei3e3:rapi0e", "d4:edgei3e3:rapi0eee",
        "d4:edgei99999999999999999999e3:rapi0ee",
    };
    for (size_t i = 0; i < sizeof bad_live / sizeof *bad_live; i++) {
        e = r = 77;
        CHECK(parse_live_s(bad_live[i], &e, &r) == -1 && e == 77 && r == 77, "malformed live accepted: %s",
              bad_live[i]);
    }
}

static int buf_has(const ts_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, s, n) == 0)
            return 1;
    return 0;
}

static void test_pex(void)
{
    ts_wire_addr_t in[3] = { { 0x7f000001, 6881, 0 }, { 0x0a000002, 1, 0 }, { 0xc0a80001, 65535, 0 } }, out[TS_WIRE_PEX_MAX];
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_pex(&b, 2, in, 3);
    ts_wire_msg_t m;
    size_t n = 0;
    CHECK(ts_wire_parse(b.data, b.len, 1 << 20, &m) == (ssize_t)b.len && m.id == TS_WIRE_EXTENDED && m.ext_id == 2,
          "pex message framing");
    CHECK(ts_wire_parse_pex(m.data, m.data_len, out, TS_WIRE_PEX_MAX, &n) == 0 && n == 3 && out[0].ip == 0x7f000001 &&
              out[0].port == 6881 && out[2].port == 65535,
          "pex round trip (%zu)", n);
    CHECK(ts_wire_parse_pex(m.data, m.data_len, out, 2, &n) == 0 && n == 2, "pex capped at max");
    ts_buf_free(&b);
    const char *bad[] = { "d5:added5:abcdee", "d5:addedi3ee", "l5:added6:abcdefe", "d5:added6:abcdef" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(ts_wire_parse_pex((const uint8_t *)bad[i], strlen(bad[i]), out, TS_WIRE_PEX_MAX, &n) == -1,
              "malformed pex accepted: %s", bad[i]);
    static const char zero[] = "d5:added12:\0\0\0\0\x1a\xe1\x7f\0\0\x01\0\0e"; /* 0.0.0.0, port 0: skipped */
    CHECK(ts_wire_parse_pex((const uint8_t *)zero, sizeof zero - 1, out, TS_WIRE_PEX_MAX, &n) == 0 && n == 0,
          "unusable entries skipped (%zu)", n);
    /* flags: sent as added.f, one byte per peer, and read back by position */
    in[0].flags = TS_WIRE_PEX_CONNECTABLE | TS_WIRE_PEX_HOLEPUNCH;
    in[2].flags = TS_WIRE_PEX_HOLEPUNCH;
    ts_buf_init(&b);
    ts_wire_put_pex(&b, 2, in, 3);
    CHECK(buf_has(&b, "added.f"), "added.f sent when a flag is set");
    ts_wire_parse(b.data, b.len, 1 << 20, &m);
    CHECK(ts_wire_parse_pex(m.data, m.data_len, out, TS_WIRE_PEX_MAX, &n) == 0 && n == 3 && out[0].flags == 0x18 &&
              out[1].flags == 0 && out[2].flags == 0x08,
          "pex flags round trip");
    ts_buf_free(&b);
    /* a short added.f (another client's) leaves the rest at 0; a skipped entry shifts no flag */
    static const char shortf[] = "d5:added12:\x0b\0\0\x01\x1a\xe1\x0b\0\0\x02\x1a\xe1" "7:added.f1:\x10" "e";
    CHECK(ts_wire_parse_pex((const uint8_t *)shortf, sizeof shortf - 1, out, TS_WIRE_PEX_MAX, &n) == 0 && n == 2 &&
              out[0].flags == 0x10 && out[1].flags == 0,
          "short added.f tolerated");
    static const char skipf[] = "d5:added12:\0\0\0\0\x1a\xe1\x0b\0\0\x02\x1a\xe1" "7:added.f2:\x10\x08" "e";
    CHECK(ts_wire_parse_pex((const uint8_t *)skipf, sizeof skipf - 1, out, TS_WIRE_PEX_MAX, &n) == 0 && n == 1 &&
              out[0].ip == 0x0b000002 && out[0].flags == 0x08,
          "flags kept by position past a skipped entry");
    static const char badf[] = "d5:added6:\x0b\0\0\x01\x1a\xe1" "7:added.fi16ee";
    CHECK(ts_wire_parse_pex((const uint8_t *)badf, sizeof badf - 1, out, TS_WIRE_PEX_MAX, &n) == -1,
          "added.f not a string: malformed");
    ts_ext_hs_t x = { .has_live = 1, .live_id = 1, .port = 7000, .pex_id = 2, .source = 1 }, y;
    ts_buf_init(&b);
    ts_wire_put_ext_handshake(&b, &x);
    ts_wire_parse(b.data, b.len, 1 << 20, &m);
    CHECK(ts_wire_parse_ext_handshake(m.data, m.data_len, &y) == 0 && y.pex_id == 2 && y.source == 1,
          "ext handshake carries ut_pex and ts_src");
    ts_buf_free(&b);
}

/* ut_holepunch (BEP 55): the exact bytes of a connect, round trips, and every wrong length. */
static void test_holepunch(void)
{
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_holepunch(&b, 9, TS_WIRE_HP_CONNECT, 0x0b000102, 6881, 0);
    static const uint8_t want[] = { 0, 0, 0, 14, 20, 9, 1, 0, 11, 0, 1, 2, 0x1a, 0xe1, 0, 0, 0, 0 };
    CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0, "connect bytes");
    ts_wire_msg_t m;
    ts_wire_hp_t h;
    ts_wire_parse(b.data, b.len, 1 << 20, &m);
    CHECK(ts_wire_parse_holepunch(m.data, m.data_len, &h) == 0 && h.type == TS_WIRE_HP_CONNECT && h.addr_type == 0 &&
              h.ip == 0x0b000102 && h.port == 6881 && h.err == 0,
          "connect round trip");
    ts_buf_free(&b);
    ts_buf_init(&b);
    ts_wire_put_holepunch(&b, 9, TS_WIRE_HP_ERROR, 0xc0a80001, 1, TS_WIRE_HP_NO_SELF);
    ts_wire_parse(b.data, b.len, 1 << 20, &m);
    CHECK(ts_wire_parse_holepunch(m.data, m.data_len, &h) == 0 && h.type == TS_WIRE_HP_ERROR && h.err == 4 &&
              h.ip == 0xc0a80001 && h.port == 1,
          "error round trip");
    ts_buf_free(&b);
    uint8_t v6[TS_WIRE_HP_LEN6] = { 0, 1, 0x20, 1, 0xd, 0xb8 };
    v6[18] = 0x1a, v6[19] = 0xe1, v6[23] = 2;
    CHECK(ts_wire_parse_holepunch(v6, sizeof v6, &h) == 0 && h.addr_type == 1 && h.ip6[0] == 0x20 && h.port == 6881 &&
              h.err == 2 && h.ip == 0,
          "IPv6 parsed (for the caller to drop)");
    uint8_t v4[TS_WIRE_HP_LEN4 + 1] = { 7 };
    CHECK(ts_wire_parse_holepunch(v4, TS_WIRE_HP_LEN4, &h) == 0 && h.type == 7, "newer msg_type parsed, for the caller to ignore");
    for (size_t n = 0; n <= sizeof v4; n++)
        if (n != TS_WIRE_HP_LEN4)
            CHECK(ts_wire_parse_holepunch(v4, n, &h) == -1, "IPv4 of length %zu accepted", n);
    for (size_t n = 0; n < sizeof v6; n++)
        CHECK(ts_wire_parse_holepunch(v6, n, &h) == -1, "IPv6 of length %zu accepted", n);
    v4[1] = 2;
    CHECK(ts_wire_parse_holepunch(v4, TS_WIRE_HP_LEN4, &h) == -1, "addr_type 2 accepted");
    ts_ext_hs_t x = { .has_live = 1, .live_id = 1, .hp_id = 4 }, y;
    ts_buf_init(&b);
    ts_wire_put_ext_handshake(&b, &x);
    ts_wire_parse(b.data, b.len, 1 << 20, &m);
    CHECK(ts_wire_parse_ext_handshake(m.data, m.data_len, &y) == 0 && y.hp_id == 4, "ext handshake carries ut_holepunch");
    ts_buf_free(&b);
}

/* ut_metadata (BEP 9): the three messages round-trip; the exact bytes of a data message are
 * BEP 9's example; malformed ones are refused; the extension handshake carries the id and size. */
static void test_metadata(void)
{
    ts_buf_t b;
    ts_wire_msg_t m;
    ts_wire_md_t md;
    const uint8_t blob[5] = { 'a', 'b', 'c', 0, 0xff };
    ts_buf_init(&b);
    ts_wire_put_metadata(&b, 3, TS_WIRE_MD_DATA, 1, 16389, blob, sizeof blob);
    CHECK(parse_one(&b, &m, "md data") && m.id == TS_WIRE_EXTENDED && m.ext_id == 3, "md data framing");
    static const char want[] = "d8:msg_typei1e5:piecei1e10:total_sizei16389ee";
    CHECK(m.data_len == strlen(want) + 5 && memcmp(m.data, want, strlen(want)) == 0 &&
              memcmp(m.data + strlen(want), blob, 5) == 0,
          "md data bytes: %.*s", (int)m.data_len, m.data);
    CHECK(ts_wire_parse_metadata(m.data, m.data_len, &md) == 0 && md.type == TS_WIRE_MD_DATA && md.piece == 1 &&
              md.total_size == 16389 && md.data_len == 5 && memcmp(md.data, blob, 5) == 0,
          "md data round trip");
    b.len = 0;
    ts_wire_put_metadata(&b, 7, TS_WIRE_MD_REQUEST, 0, 0, NULL, 0);
    CHECK(parse_one(&b, &m, "md request") && m.ext_id == 7 && m.data_len == strlen("d8:msg_typei0e5:piecei0ee") &&
              memcmp(m.data, "d8:msg_typei0e5:piecei0ee", m.data_len) == 0,
          "md request bytes");
    CHECK(ts_wire_parse_metadata(m.data, m.data_len, &md) == 0 && md.type == TS_WIRE_MD_REQUEST && md.piece == 0 &&
              md.data_len == 0,
          "md request round trip");
    b.len = 0;
    ts_wire_put_metadata(&b, 7, TS_WIRE_MD_REJECT, 4, 0, NULL, 0);
    CHECK(parse_one(&b, &m, "md reject") && ts_wire_parse_metadata(m.data, m.data_len, &md) == 0 &&
              md.type == TS_WIRE_MD_REJECT && md.piece == 4,
          "md reject round trip");
    ts_buf_free(&b);
    /* A future message type parses (for the caller to ignore), without a piece. */
    CHECK(ts_wire_parse_metadata((const uint8_t *)"d8:msg_typei9ee", 15, &md) == 0 && md.type == 9,
          "unknown md type passed up");
    static const char *bad[] = {
        "d5:piecei0ee",                                  /* no msg_type */
        "d8:msg_typei0ee",                               /* request without a piece */
        "d8:msg_typei-1e5:piecei0ee",                    /* negative type */
        "d8:msg_typei0e5:piecei-1ee",                    /* negative piece */
        "d8:msg_typei0e5:piecei4294967296ee",            /* piece beyond 2^31 */
        "d8:msg_typei1e5:piecei0ee",                     /* data without total_size */
        "d8:msg_typei1e5:piecei0e10:total_sizei0ee",     /* total_size 0 */
        "d8:msg_typei0e5:piecei0eeX",                    /* trailing bytes after a request */
        "l8:msg_typei0ee",                               /* not a dict */
        "d8:msg_typei0e5:piecei0e",                      /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(ts_wire_parse_metadata((const uint8_t *)bad[i], strlen(bad[i]), &md) == -1, "malformed md accepted: %s",
              bad[i]);
    /* A data message may carry at most one 16 KiB piece. */
    ts_buf_init(&b);
    static const char hdr[] = "d8:msg_typei1e5:piecei0e10:total_sizei99999ee";
    ts_buf_put(&b, hdr, strlen(hdr));
    size_t base = b.len;
    ts_buf_reserve(&b, TS_WIRE_MD_PIECE + 1);
    memset(b.data + base, 'x', TS_WIRE_MD_PIECE + 1);
    CHECK(ts_wire_parse_metadata(b.data, base + TS_WIRE_MD_PIECE, &md) == 0 && md.data_len == TS_WIRE_MD_PIECE,
          "a full 16 KiB piece");
    CHECK(ts_wire_parse_metadata(b.data, base + TS_WIRE_MD_PIECE + 1, &md) == -1, "a piece over 16 KiB refused");
    ts_buf_free(&b);

    ts_ext_hs_t x = { .has_live = 1, .live_id = 1, .pex_id = 2, .md_id = 3, .md_size = 183 }, y;
    ts_buf_init(&b);
    ts_wire_put_ext_handshake(&b, &x);
    const uint8_t *p;
    size_t n;
    if (ext_payload(&b, 0, &p, &n) == 0) {
        static const char hs[] = "d1:md7:ts_livei1e11:ut_metadatai3e6:ut_pexi2ee13:metadata_sizei183e1:v11:tstream 0.1e";
        CHECK(n == strlen(hs) && memcmp(p, hs, n) == 0, "ext hs with ut_metadata: %.*s", (int)n, p);
        CHECK(ts_wire_parse_ext_handshake(p, n, &y) == 0 && y.md_id == 3 && y.md_size == 183 && y.pex_id == 2,
              "ext hs ut_metadata round trip");
    } else {
        CHECK(0, "ext hs message");
    }
    ts_buf_free(&b);
    static const char *badhs[] = { "d1:md11:ut_metadatai256eee", "d1:md11:ut_metadata1:xee",
                                   "d13:metadata_sizei-1ee", "d13:metadata_sizei2147483648ee" };
    for (size_t i = 0; i < sizeof badhs / sizeof *badhs; i++)
        CHECK(ts_wire_parse_ext_handshake((const uint8_t *)badhs[i], strlen(badhs[i]), &y) == -1,
              "malformed ut_metadata handshake accepted: %s", badhs[i]);
}

int main(void)
{
    test_metadata();
    test_pex();
    test_holepunch();
    test_messages();
    test_errors();
    test_bitfield();
    test_handshake();
    test_ext();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
