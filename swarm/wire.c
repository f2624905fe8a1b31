/* BitTorrent peer wire codec: see wire.h and docs/PROTOCOL.md section 4. */
#include "wire.h"
#include "ts_bencode.h"
#include "ts_utf8.h"
#include "ts_version.h"
#include <limits.h>
#include <string.h>

#define PSTRLEN 19

/* ---------------------------------------------------------------- handshake */

void ts_wire_handshake_encode(const ts_handshake_t *h, uint8_t out[TS_WIRE_HANDSHAKE_LEN])
{
    out[0] = PSTRLEN;
    memcpy(out + 1, TS_WIRE_PSTR, PSTRLEN);
    memcpy(out + 20, h->reserved, 8);
    memcpy(out + 28, h->infohash, 20);
    memcpy(out + 48, h->peer_id, 20);
}

int ts_wire_handshake_decode(const uint8_t *in, size_t len, ts_handshake_t *h)
{
    if (len == 0)
        return 1;
    if (in[0] != PSTRLEN)
        return -1;
    /* Check the part of the protocol string we have now: a stranger is rejected without waiting. */
    size_t have = len - 1 < PSTRLEN ? len - 1 : PSTRLEN;
    if (memcmp(in + 1, TS_WIRE_PSTR, have) != 0)
        return -1;
    if (len < TS_WIRE_HANDSHAKE_LEN)
        return 1;
    memcpy(h->reserved, in + 20, 8);
    memcpy(h->infohash, in + 28, 20);
    memcpy(h->peer_id, in + 48, 20);
    return 0;
}

int ts_wire_handshake_ext(const ts_handshake_t *h) { return (h->reserved[5] & 0x10) != 0; }

/* ---------------------------------------------------------------- messages */

ssize_t ts_wire_parse(const uint8_t *buf, size_t len, size_t max_msg, ts_wire_msg_t *m)
{
    memset(m, 0, sizeof *m);
    if (len < 4)
        return 0;
    uint32_t n = ts_get_u32be(buf);
    if (n == 0) {
        m->id = TS_WIRE_KEEPALIVE;
        return 4;
    }
    /* Judge the prefix before waiting for the body, so a huge length never makes the caller buffer it.
     * The SSIZE_MAX bound only matters where size_t is 32 bits. */
    if (n > max_msg || (uint64_t)n + 4 > (uint64_t)SSIZE_MAX)
        return -1;
    if (len - 4 < n)
        return 0;
    const uint8_t *p = buf + 5; /* after the id */
    size_t plen = n - 1;
    m->id = buf[4];
    switch (m->id) {
    case TS_WIRE_CHOKE:
    case TS_WIRE_UNCHOKE:
    case TS_WIRE_INTERESTED:
    case TS_WIRE_NOT_INTERESTED:
        if (plen != 0)
            return -1;
        break;
    case TS_WIRE_HAVE:
        if (plen != 4)
            return -1;
        m->index = ts_get_u32be(p);
        break;
    case TS_WIRE_REQUEST:
    case TS_WIRE_CANCEL:
    case TS_WIRE_REJECT:
        if (plen != 12)
            return -1;
        m->index = ts_get_u32be(p);
        m->begin = ts_get_u32be(p + 4);
        m->length = ts_get_u32be(p + 8);
        break;
    case TS_WIRE_PIECE:
        if (plen < 8)
            return -1;
        m->index = ts_get_u32be(p);
        m->begin = ts_get_u32be(p + 4);
        m->data = p + 8;
        m->data_len = plen - 8;
        break;
    case TS_WIRE_EXTENDED:
        if (plen < 1)
            return -1;
        m->ext_id = p[0];
        m->data = p + 1;
        m->data_len = plen - 1;
        break;
    case TS_WIRE_KEEPALIVE:
        /* A real id 255 would read as our keep-alive pseudo id; it is unknown anyway, so ignoring it is right. */
    case TS_WIRE_BITFIELD:
    default:
        m->data = p;
        m->data_len = plen;
        break;
    }
    return (ssize_t)(4 + (size_t)n);
}

/* Write the prefix and id of a message whose payload (after the id) is plen bytes; -1 (buffer
 * poisoned) if the length does not fit the 32-bit prefix. */
static int put_head(ts_buf_t *b, uint8_t id, size_t plen)
{
    if (plen > UINT32_MAX - 1) {
        b->err = 1;
        return -1;
    }
    ts_buf_put_u32be(b, (uint32_t)(plen + 1));
    ts_buf_putc(b, id);
    return b->err ? -1 : 0;
}

void ts_wire_put_simple(ts_buf_t *b, uint8_t id) { put_head(b, id, 0); }

void ts_wire_put_keepalive(ts_buf_t *b) { ts_buf_put_u32be(b, 0); }

void ts_wire_put_have(ts_buf_t *b, uint32_t index)
{
    if (put_head(b, TS_WIRE_HAVE, 4) == 0)
        ts_buf_put_u32be(b, index);
}

void ts_wire_put_bitfield(ts_buf_t *b, const uint8_t *bits, size_t nbytes)
{
    if (put_head(b, TS_WIRE_BITFIELD, nbytes) == 0)
        ts_buf_put(b, bits, nbytes);
}

void ts_wire_put_request(ts_buf_t *b, uint8_t id, uint32_t index, uint32_t begin, uint32_t length)
{
    if (put_head(b, id, 12) < 0)
        return;
    ts_buf_put_u32be(b, index);
    ts_buf_put_u32be(b, begin);
    ts_buf_put_u32be(b, length);
}

void ts_wire_put_piece(ts_buf_t *b, uint32_t index, uint32_t begin, const uint8_t *data, size_t len)
{
    if (len > UINT32_MAX - 9) {
        b->err = 1;
        return;
    }
    if (put_head(b, TS_WIRE_PIECE, 8 + len) < 0)
        return;
    ts_buf_put_u32be(b, index);
    ts_buf_put_u32be(b, begin);
    ts_buf_put(b, data, len);
}

void ts_wire_put_extended(ts_buf_t *b, uint8_t ext_id, const uint8_t *payload, size_t len)
{
    if (len > UINT32_MAX - 2) {
        b->err = 1;
        return;
    }
    if (put_head(b, TS_WIRE_EXTENDED, 1 + len) < 0)
        return;
    ts_buf_putc(b, ext_id);
    ts_buf_put(b, payload, len);
}

int ts_wire_bitfield_valid(const uint8_t *bits, size_t nbytes, uint64_t npieces)
{
    /* ceil without the overflow of (n + 7) / 8 */
    uint64_t want = npieces / 8 + (npieces % 8 != 0);
    if ((uint64_t)nbytes != want)
        return 0;
    unsigned spare = (unsigned)(npieces % 8);
    if (spare && (bits[nbytes - 1] & (0xFFu >> spare)))
        return 0;
    return 1;
}

/* ---------------------------------------------------------------- BEP 10 / ts_live */

/* Start an extended message whose length is known only at the end: returns the offset of its prefix. */
static size_t ext_begin(ts_buf_t *b, uint8_t ext_id)
{
    size_t at = b->len;
    ts_buf_put_u32be(b, 0); /* patched by ext_end */
    ts_buf_putc(b, TS_WIRE_EXTENDED);
    ts_buf_putc(b, ext_id);
    return at;
}

static void ext_end(ts_buf_t *b, size_t at)
{
    if (b->err)
        return;
    size_t n = b->len - at - 4;
    if (n > UINT32_MAX) {
        b->err = 1;
        return;
    }
    ts_set_u32be(b->data + at, (uint32_t)n);
}

void ts_wire_put_ext_handshake(ts_buf_t *b, const ts_ext_hs_t *x)
{
    /* bencode ints are signed 64-bit: larger seqs cannot be sent. */
    if (x->has_edge && (x->edge > INT64_MAX || x->rap > INT64_MAX)) {
        b->err = 1;
        return;
    }
    size_t at = ext_begin(b, 0);
    ts_ben_put_dict(b); /* keys in byte order */
    ts_ben_put_cstr(b, "m");
    ts_ben_put_dict(b);
    if (x->has_live) {
        ts_ben_put_cstr(b, "ts_live");
        ts_ben_put_int(b, x->live_id);
    }
    if (x->hp_id) {
        ts_ben_put_cstr(b, "ut_holepunch");
        ts_ben_put_int(b, x->hp_id);
    }
    if (x->md_id) {
        ts_ben_put_cstr(b, "ut_metadata");
        ts_ben_put_int(b, x->md_id);
    }
    if (x->pex_id) {
        ts_ben_put_cstr(b, "ut_pex");
        ts_ben_put_int(b, x->pex_id);
    }
    ts_ben_put_end(b);
    if (x->md_size) {
        ts_ben_put_cstr(b, "metadata_size");
        ts_ben_put_int(b, (int64_t)x->md_size);
    }
    if (x->port) {
        ts_ben_put_cstr(b, "p");
        ts_ben_put_int(b, x->port);
    }
    if (x->has_edge) {
        ts_ben_put_cstr(b, "ts_edge");
        ts_ben_put_int(b, (int64_t)x->edge);
    }
    if (x->push) {
        ts_ben_put_cstr(b, "ts_push");
        ts_ben_put_int(b, 1);
    }
    if (x->has_edge) {
        ts_ben_put_cstr(b, "ts_rap");
        ts_ben_put_int(b, (int64_t)x->rap);
    }
    if (x->reject) {
        ts_ben_put_cstr(b, "ts_reject");
        ts_ben_put_int(b, 1);
    }
    if (x->source) {
        ts_ben_put_cstr(b, "ts_src");
        ts_ben_put_int(b, 1);
    }
    ts_ben_put_cstr(b, "v");
    ts_ben_put_cstr(b, TS_AGENT);
    if (x->has_yourip) {
        uint8_t ip[4] = { (uint8_t)(x->yourip >> 24), (uint8_t)(x->yourip >> 16), (uint8_t)(x->yourip >> 8),
                          (uint8_t)x->yourip };
        ts_ben_put_cstr(b, "yourip");
        ts_ben_put_str(b, ip, sizeof ip);
    }
    ts_ben_put_end(b);
    ext_end(b, at);
}

/* A non-negative int under key: 1 found (*out set), 0 absent, -1 present but not a non-negative int. */
static int get_seq(const ts_ben_t *d, const char *key, uint64_t *out)
{
    const ts_ben_t *v = ts_ben_dict_get(d, key);
    if (!v)
        return 0;
    if (v->type != TS_BEN_INT || v->i < 0)
        return -1;
    *out = (uint64_t)v->i;
    return 1;
}

/* A peer's client string, for status pages and logs that show it as text. */
static void client_text(char *dst, size_t cap, const uint8_t *s, size_t n)
{
    size_t o = 0;
    while (n) {
        size_t c = ts_utf8_printable(s, n), w = c ? c : 1; /* an unprintable byte: one '?' */
        if (o + w >= cap)
            break;
        if (c)
            memcpy(dst + o, s, c);
        else
            dst[o] = '?';
        o += w, s += w, n -= w;
    }
    dst[o] = 0;
}

int ts_wire_parse_ext_handshake(const uint8_t *payload, size_t len, ts_ext_hs_t *x)
{
    memset(x, 0, sizeof *x);
    ts_ben_t *t = ts_ben_parse(payload, len, NULL, NULL, 0);
    int rc = -1;
    if (!t || t->type != TS_BEN_DICT)
        goto out;
    const ts_ben_t *m = ts_ben_dict_get(t, "m");
    if (m) {
        if (m->type != TS_BEN_DICT)
            goto out;
        const ts_ben_t *id = ts_ben_dict_get(m, "ts_live");
        if (id) {
            if (id->type != TS_BEN_INT || id->i < 0 || id->i > 255)
                goto out;
            x->live_id = (uint8_t)id->i;
            x->has_live = id->i != 0; /* 0 = the peer disabled the extension (BEP 10) */
        }
        const ts_ben_t *pex = ts_ben_dict_get(m, "ut_pex");
        if (pex) {
            if (pex->type != TS_BEN_INT || pex->i < 0 || pex->i > 255)
                goto out;
            x->pex_id = (uint8_t)pex->i;
        }
        const ts_ben_t *md = ts_ben_dict_get(m, "ut_metadata");
        if (md) {
            if (md->type != TS_BEN_INT || md->i < 0 || md->i > 255)
                goto out;
            x->md_id = (uint8_t)md->i;
        }
        const ts_ben_t *hp = ts_ben_dict_get(m, "ut_holepunch");
        if (hp) {
            if (hp->type != TS_BEN_INT || hp->i < 0 || hp->i > 255)
                goto out;
            x->hp_id = (uint8_t)hp->i;
        }
    }
    if (get_seq(t, "metadata_size", &x->md_size) < 0 || x->md_size > INT32_MAX)
        goto out;
    const ts_ben_t *p = ts_ben_dict_get(t, "p");
    if (p) {
        if (p->type != TS_BEN_INT || p->i < 0 || p->i > 65535)
            goto out;
        x->port = (uint16_t)p->i;
    }
    int he = get_seq(t, "ts_edge", &x->edge), hr = get_seq(t, "ts_rap", &x->rap);
    if (he < 0 || hr < 0 || he != hr)
        goto out;
    if (he) {
        if (x->rap > x->edge)
            goto out;
        x->has_edge = 1;
    }
    uint64_t src = 0;
    if (get_seq(t, "ts_src", &src) < 0 || src > 1)
        goto out;
    x->source = (int)src;
    uint64_t push = 0;
    if (get_seq(t, "ts_push", &push) < 0 || push > 1)
        goto out;
    x->push = (int)push;
    uint64_t reject = 0;
    if (get_seq(t, "ts_reject", &reject) < 0 || reject > 1)
        goto out;
    x->reject = (int)reject;
    const ts_ben_t *yi = ts_ben_dict_get(t, "yourip");
    if (yi && yi->type == TS_BEN_STR && yi->len == 4) {
        const uint8_t *q = yi->s;
        x->has_yourip = 1;
        x->yourip = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
    }
    const ts_ben_t *v = ts_ben_dict_get(t, "v");
    if (v && v->type == TS_BEN_STR)
        client_text(x->client, sizeof x->client, v->s, v->len);
    rc = 0;
out:
    ts_ben_free(&t);
    if (rc < 0)
        memset(x, 0, sizeof *x);
    return rc;
}

void ts_wire_put_live(ts_buf_t *b, uint8_t peer_live_id, uint64_t edge, uint64_t rap)
{
    if (edge > INT64_MAX || rap > INT64_MAX) {
        b->err = 1;
        return;
    }
    size_t at = ext_begin(b, peer_live_id);
    ts_ben_put_dict(b);
    ts_ben_put_cstr(b, "edge");
    ts_ben_put_int(b, (int64_t)edge);
    ts_ben_put_cstr(b, "rap");
    ts_ben_put_int(b, (int64_t)rap);
    ts_ben_put_end(b);
    ext_end(b, at);
}

int ts_wire_parse_live(const uint8_t *payload, size_t len, uint64_t *edge, uint64_t *rap)
{
    ts_ben_t *t = ts_ben_parse(payload, len, NULL, NULL, 0);
    uint64_t e = 0, r = 0;
    int rc = -1;
    if (t && t->type == TS_BEN_DICT && get_seq(t, "edge", &e) == 1 && get_seq(t, "rap", &r) == 1 && r <= e) {
        *edge = e;
        *rap = r;
        rc = 0;
    }
    ts_ben_free(&t);
    return rc;
}

void ts_wire_put_pex(ts_buf_t *b, uint8_t peer_pex_id, const ts_wire_addr_t *added, size_t n)
{
    if (n > TS_WIRE_PEX_MAX)
        n = TS_WIRE_PEX_MAX;
    uint8_t compact[TS_WIRE_PEX_MAX * 6];
    for (size_t i = 0; i < n; i++) {
        ts_set_u32be(compact + 6 * i, added[i].ip);
        compact[6 * i + 4] = (uint8_t)(added[i].port >> 8);
        compact[6 * i + 5] = (uint8_t)added[i].port;
    }
    uint8_t flags[TS_WIRE_PEX_MAX], any = 0;
    for (size_t i = 0; i < n; i++)
        any |= flags[i] = added[i].flags;
    size_t at = ext_begin(b, peer_pex_id);
    ts_ben_put_dict(b); /* keys in byte order: "added" < "added.f" */
    ts_ben_put_cstr(b, "added");
    ts_ben_put_str(b, compact, 6 * n);
    if (any) {
        ts_ben_put_cstr(b, "added.f");
        ts_ben_put_str(b, flags, n);
    }
    ts_ben_put_end(b);
    ext_end(b, at);
}

int ts_wire_parse_pex(const uint8_t *payload, size_t len, ts_wire_addr_t *out, size_t max, size_t *n)
{
    *n = 0;
    ts_ben_t *t = ts_ben_parse(payload, len, NULL, NULL, 0);
    int rc = -1;
    if (!t || t->type != TS_BEN_DICT)
        goto done;
    const ts_ben_t *a = ts_ben_dict_get(t, "added");
    if (a && (a->type != TS_BEN_STR || a->len % 6 != 0))
        goto done;
    const ts_ben_t *f = ts_ben_dict_get(t, "added.f");
    if (f && f->type != TS_BEN_STR)
        goto done;
    for (size_t i = 0; a && i < a->len / 6 && *n < max; i++) {
        const uint8_t *e = a->s + 6 * i;
        uint32_t ip = ts_get_u32be(e);
        uint16_t port = (uint16_t)(e[4] << 8 | e[5]);
        if (ip && port) /* flags by the entry's own position, so a skipped entry shifts none */
            out[(*n)++] = (ts_wire_addr_t){ ip, port, f && i < f->len ? f->s[i] : 0 };
    }
    rc = 0;
done:
    ts_ben_free(&t);
    return rc;
}

void ts_wire_put_holepunch(ts_buf_t *b, uint8_t peer_hp_id, uint8_t type, uint32_t ip, uint16_t port, uint32_t err)
{
    uint8_t m[TS_WIRE_HP_LEN4];
    m[0] = type;
    m[1] = 0; /* IPv4 */
    ts_set_u32be(m + 2, ip);
    m[6] = (uint8_t)(port >> 8);
    m[7] = (uint8_t)port;
    ts_set_u32be(m + 8, err);
    ts_wire_put_extended(b, peer_hp_id, m, sizeof m);
}

int ts_wire_parse_holepunch(const uint8_t *payload, size_t len, ts_wire_hp_t *h)
{
    memset(h, 0, sizeof *h);
    if (len < 2 || payload[1] > 1 || len != (payload[1] ? TS_WIRE_HP_LEN6 : TS_WIRE_HP_LEN4))
        return -1;
    h->type = payload[0];
    h->addr_type = payload[1];
    const uint8_t *q = payload + 2;
    if (h->addr_type == 0) {
        h->ip = ts_get_u32be(q);
        q += 4;
    } else {
        memcpy(h->ip6, q, 16);
        q += 16;
    }
    h->port = (uint16_t)(q[0] << 8 | q[1]);
    h->err = ts_get_u32be(q + 2);
    return 0;
}

void ts_wire_put_metadata(ts_buf_t *b, uint8_t peer_md_id, int type, uint32_t piece, uint64_t total_size,
                          const uint8_t *data, size_t len)
{
    size_t at = ext_begin(b, peer_md_id);
    ts_ben_put_dict(b); /* keys in byte order: msg_type, piece, total_size */
    ts_ben_put_cstr(b, "msg_type");
    ts_ben_put_int(b, type);
    ts_ben_put_cstr(b, "piece");
    ts_ben_put_int(b, piece);
    if (type == TS_WIRE_MD_DATA) {
        ts_ben_put_cstr(b, "total_size");
        ts_ben_put_int(b, (int64_t)total_size);
    }
    ts_ben_put_end(b);
    if (type == TS_WIRE_MD_DATA)
        ts_buf_put(b, data, len);
    ext_end(b, at);
}

int ts_wire_parse_metadata(const uint8_t *payload, size_t len, ts_wire_md_t *m)
{
    memset(m, 0, sizeof *m);
    size_t used = 0;
    ts_ben_t *t = ts_ben_parse(payload, len, &used, NULL, 0);
    int rc = -1;
    const ts_ben_t *v;
    if (!t || t->type != TS_BEN_DICT || !(v = ts_ben_dict_get(t, "msg_type")) || v->type != TS_BEN_INT || v->i < 0)
        goto out;
    m->type = v->i;
    if (m->type > TS_WIRE_MD_REJECT) {
        rc = 0; /* a newer message type: the caller ignores it */
        goto out;
    }
    uint64_t piece, total;
    if (get_seq(t, "piece", &piece) != 1 || piece > INT32_MAX)
        goto out;
    m->piece = (uint32_t)piece;
    if (m->type == TS_WIRE_MD_DATA) {
        if (get_seq(t, "total_size", &total) != 1 || total == 0 || total > INT32_MAX ||
            len - used > TS_WIRE_MD_PIECE)
            goto out;
        m->total_size = total;
        m->data = payload + used;
        m->data_len = len - used;
    } else if (used != len) {
        goto out;
    }
    rc = 0;
out:
    ts_ben_free(&t);
    if (rc < 0)
        memset(m, 0, sizeof *m);
    return rc;
}
