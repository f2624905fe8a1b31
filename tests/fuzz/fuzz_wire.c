/* libFuzzer target for the peer wire codec: the message loop the swarm runs on a connection,
 * the handshake, and the BEP 10 / ts_live / ut_metadata dictionaries.
 * Beyond "no crash": consumed counts stay inside the input, data spans stay inside the message,
 * and whatever parses re-encodes to the very same bytes (the encoders and parser agree). */
#include "ts_buf.h"
#include "wire.h"
#include <stdlib.h>
#include <string.h>

#define MAX_MSG (16384 + 64)

static void check_reencode(const ts_wire_msg_t *m, const uint8_t *msg, size_t n)
{
    ts_buf_t b;
    ts_buf_init(&b);
    switch (m->id) {
    case TS_WIRE_KEEPALIVE:
        if (n == 4) /* else a real id 255, which has no encoder */
            ts_wire_put_keepalive(&b);
        break;
    case TS_WIRE_CHOKE:
    case TS_WIRE_UNCHOKE:
    case TS_WIRE_INTERESTED:
    case TS_WIRE_NOT_INTERESTED:
        ts_wire_put_simple(&b, m->id);
        break;
    case TS_WIRE_HAVE:
        ts_wire_put_have(&b, m->index);
        break;
    case TS_WIRE_BITFIELD:
        ts_wire_put_bitfield(&b, m->data, m->data_len);
        break;
    case TS_WIRE_REQUEST:
    case TS_WIRE_CANCEL:
        ts_wire_put_request(&b, m->id, m->index, m->begin, m->length);
        break;
    case TS_WIRE_PIECE:
        ts_wire_put_piece(&b, m->index, m->begin, m->data, m->data_len);
        break;
    case TS_WIRE_EXTENDED:
        ts_wire_put_extended(&b, m->ext_id, m->data, m->data_len);
        break;
    default:
        break;
    }
    if (b.err || (b.len && (b.len != n || memcmp(b.data, msg, n) != 0)))
        abort();
    ts_buf_free(&b);
}

static void ext(const uint8_t *p, size_t n)
{
    ts_ext_hs_t x;
    if (ts_wire_parse_ext_handshake(p, n, &x) == 0) {
        if (x.has_edge && x.rap > x.edge)
            abort();
        if (x.has_live && x.live_id == 0)
            abort();
        /* What we accepted, we can send back, and it parses to the same thing. */
        ts_buf_t b;
        ts_buf_init(&b);
        ts_wire_put_ext_handshake(&b, &x);
        ts_wire_msg_t m;
        ts_ext_hs_t y;
        if (b.err || ts_wire_parse(b.data, b.len, SIZE_MAX, &m) != (ssize_t)b.len || m.id != TS_WIRE_EXTENDED ||
            m.ext_id != 0 || ts_wire_parse_ext_handshake(m.data, m.data_len, &y) != 0 || memcmp(&x, &y, sizeof x) != 0)
            abort();
        ts_buf_free(&b);
    }
    ts_wire_addr_t a[TS_WIRE_PEX_MAX];
    size_t na;
    if (ts_wire_parse_pex(p, n, a, TS_WIRE_PEX_MAX, &na) == 0) {
        for (size_t i = 0; i < na; i++)
            if (!a[i].ip || !a[i].port)
                abort();
    }
    ts_wire_md_t md;
    if (ts_wire_parse_metadata(p, n, &md) == 0) {
        if (md.data && (md.data < p || md.data + md.data_len != p + n || md.data_len > TS_WIRE_MD_PIECE))
            abort();
        if (md.type >= 0 && md.type <= TS_WIRE_MD_REJECT) {
            /* What we accepted, we can send, and it parses to the same fields. */
            ts_buf_t b;
            ts_buf_init(&b);
            ts_wire_put_metadata(&b, 3, (int)md.type, md.piece, md.total_size, md.data, md.data_len);
            ts_wire_msg_t m;
            ts_wire_md_t md2;
            if (b.err || ts_wire_parse(b.data, b.len, SIZE_MAX, &m) != (ssize_t)b.len ||
                ts_wire_parse_metadata(m.data, m.data_len, &md2) != 0 || md2.type != md.type ||
                md2.piece != md.piece || md2.total_size != md.total_size || md2.data_len != md.data_len ||
                (md.data_len && memcmp(md2.data, md.data, md.data_len) != 0))
                abort();
            ts_buf_free(&b);
        }
    } else if (md.type || md.data || md.data_len) {
        abort(); /* a refusal leaves nothing behind */
    }
    uint64_t e, r;
    if (ts_wire_parse_live(p, n, &e, &r) == 0) {
        if (r > e || e > INT64_MAX)
            abort();
        ts_buf_t b;
        ts_buf_init(&b);
        ts_wire_put_live(&b, 1, e, r);
        ts_wire_msg_t m;
        uint64_t e2, r2;
        if (b.err || ts_wire_parse(b.data, b.len, SIZE_MAX, &m) != (ssize_t)b.len ||
            ts_wire_parse_live(m.data, m.data_len, &e2, &r2) != 0 || e2 != e || r2 != r)
            abort();
        ts_buf_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Handshake on the raw input, as the first bytes of a connection. */
    ts_handshake_t h;
    int hr = ts_wire_handshake_decode(data, size, &h);
    if (hr == 0) {
        uint8_t out[TS_WIRE_HANDSHAKE_LEN];
        ts_wire_handshake_encode(&h, out);
        if (memcmp(out, data, TS_WIRE_HANDSHAKE_LEN) != 0)
            abort();
        (void)ts_wire_handshake_ext(&h);
    } else if (hr != 1 && hr != -1) {
        abort();
    }

    /* The BEP 10 / ts_live parsers on the raw input too: the message framing would otherwise keep
     * most mutations away from them. */
    ext(data, size);

    /* Message loop; the max length comes from the first byte so both sides of it get explored. */
    size_t max = size ? (size_t)data[0] * 64 : MAX_MSG;
    size_t off = size ? 1 : 0;
    while (off < size) {
        ts_wire_msg_t m;
        ssize_t n = ts_wire_parse(data + off, size - off, max, &m);
        if (n < 0)
            break;
        if (n == 0) {
            if (size - off >= 4 && ts_get_u32be(data + off) + (uint64_t)4 <= size - off)
                abort(); /* complete message reported as incomplete */
            break;
        }
        if ((size_t)n > size - off || n < 4)
            abort();
        if (m.data && (m.data < data + off || m.data + m.data_len > data + off + (size_t)n))
            abort();
        check_reencode(&m, data + off, (size_t)n);
        if (m.id == TS_WIRE_BITFIELD)
            (void)ts_wire_bitfield_valid(m.data, m.data_len, (uint64_t)m.data_len * 8 - (m.data_len ? data[0] % 8 : 0));
        if (m.id == TS_WIRE_EXTENDED)
            ext(m.data, m.data_len);
        off += (size_t)n;
    }
    return 0;
}
