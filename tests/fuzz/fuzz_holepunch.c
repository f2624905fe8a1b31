/* libFuzzer target for the ut_holepunch (BEP 55) payload and the ut_pex flags (BEP 11 added.f).
 * Beyond "no crash": a payload is accepted only at its exact length, an accepted IPv4 message
 * re-encodes to the very same bytes, and PEX flags come back for usable entries only. */
#include "ts_buf.h"
#include "wire.h"
#include <stdlib.h>
#include <string.h>

static void holepunch(const uint8_t *p, size_t n)
{
    ts_wire_hp_t h;
    if (ts_wire_parse_holepunch(p, n, &h) < 0)
        return;
    if (h.addr_type > 1 || n != (h.addr_type ? TS_WIRE_HP_LEN6 : TS_WIRE_HP_LEN4))
        abort();
    if (h.addr_type != 0)
        return; /* we encode IPv4 only */
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_holepunch(&b, 7, h.type, h.ip, h.port, h.err);
    ts_wire_msg_t m;
    if (b.err || ts_wire_parse(b.data, b.len, SIZE_MAX, &m) != (ssize_t)b.len || m.id != TS_WIRE_EXTENDED ||
        m.ext_id != 7 || m.data_len != n || memcmp(m.data, p, n) != 0)
        abort();
    ts_buf_free(&b);
}

static void pex(const uint8_t *p, size_t n)
{
    ts_wire_addr_t a[TS_WIRE_PEX_MAX];
    size_t na;
    if (ts_wire_parse_pex(p, n, a, TS_WIRE_PEX_MAX, &na) < 0)
        return;
    if (na > TS_WIRE_PEX_MAX)
        abort();
    for (size_t i = 0; i < na; i++)
        if (!a[i].ip || !a[i].port)
            abort();
    /* What we accepted, we can send, and it parses to the same entries and flags. */
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_pex(&b, 2, a, na);
    ts_wire_msg_t m;
    ts_wire_addr_t c[TS_WIRE_PEX_MAX];
    size_t nc;
    if (b.err || ts_wire_parse(b.data, b.len, SIZE_MAX, &m) != (ssize_t)b.len ||
        ts_wire_parse_pex(m.data, m.data_len, c, TS_WIRE_PEX_MAX, &nc) != 0 || nc != na)
        abort();
    for (size_t i = 0; i < na; i++)
        if (c[i].ip != a[i].ip || c[i].port != a[i].port || c[i].flags != a[i].flags)
            abort();
    ts_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    holepunch(data, size);
    pex(data, size);
    return 0;
}
