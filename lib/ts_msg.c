#include "ts_msg.h"
#include "ts_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ts_msg_pack(const Ts__Envelope *e, uint8_t **out, size_t *len)
{
    size_t n = ts__envelope__get_packed_size(e);
    if (n > TS_MSG_MAX)
        return -1;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    *len = ts__envelope__pack(e, b);
    *out = b;
    return 0;
}


static int unknown(const ProtobufCMessage *m) { return m && m->n_unknown_fields > 0; }

/* A peer list (Heartbeat.peers, InstanceStatus.peer_list): bounded, strings that fit the
 * supervisor's arrays (longer would be cut inside a UTF-8 sequence). */
static int check_peers(Ts__PeerStatus *const *v, size_t n, char *err, size_t errlen)
{
    if (n > TS_MSG_MAX_PEERS)
        return ts_err(err, errlen, "too many peers");
    for (size_t i = 0; i < n; i++) {
        if (unknown(&v[i]->base))
            return ts_err(err, errlen, "unknown fields in envelope");
        if (strlen(v[i]->addr) >= TS_MSG_PEER_TEXT || (v[i]->client && strlen(v[i]->client) >= TS_MSG_PEER_TEXT) ||
            (v[i]->via && strlen(v[i]->via) >= TS_MSG_PEER_TEXT))
            return ts_err(err, errlen, "peer text too long");
    }
    return 0;
}

/* An instance's status: bounded like a heartbeat (a stage's counters) times the stages. */
static int check_status(const Ts__InstanceStatus *st, char *err, size_t errlen)
{
    if (unknown(&st->base))
        return ts_err(err, errlen, "unknown fields in envelope");
    if (st->n_stages > 64)
        return ts_err(err, errlen, "too many stages");
    for (size_t i = 0; i < st->n_stages; i++) {
        const Ts__StageStatus *sg = st->stages[i];
        if (unknown(&sg->base))
            return ts_err(err, errlen, "unknown fields in envelope");
        if (sg->n_counters > 256)
            return ts_err(err, errlen, "too many counters");
        for (size_t j = 0; j < sg->n_counters; j++)
            if (unknown((const ProtobufCMessage *)sg->counters[j]))
                return ts_err(err, errlen, "unknown fields in envelope");
    }
    return check_peers(st->peer_list, st->n_peer_list, err, errlen);
}

static int check(const Ts__Envelope *e, char *err, size_t errlen)
{
    if (e->version != TS_MSG_VERSION)
        return ts_err(err, errlen, "unsupported envelope version");
    /* Both ends are ours and versioned: a field we do not know is a malformed message. */
    if (unknown(&e->base) || unknown((const ProtobufCMessage *)e->piece) ||
        unknown((const ProtobufCMessage *)e->subscribe) || unknown((const ProtobufCMessage *)e->ack) ||
        unknown((const ProtobufCMessage *)e->heartbeat) || unknown((const ProtobufCMessage *)e->text))
        return ts_err(err, errlen, "unknown fields in envelope");
    if (e->heartbeat)
        for (size_t i = 0; i < e->heartbeat->n_counters; i++)
            if (unknown((const ProtobufCMessage *)e->heartbeat->counters[i]))
                return ts_err(err, errlen, "unknown fields in envelope");
    if (e->heartbeat && check_peers(e->heartbeat->peers, e->heartbeat->n_peers, err, errlen) < 0)
        return -1;
    if (e->status && check_status(e->status, err, errlen) < 0)
        return -1;
    switch (e->type) {
    case TS__MSG_TYPE__MSG_PIECE:
        if (!e->piece)
            return ts_err(err, errlen, "piece message without piece");
        if (e->piece->payload.len > TS_PAYLOAD_MAX)
            return ts_err(err, errlen, "piece payload too large");
        if (e->piece->has_signature && e->piece->signature.len != 64)
            return ts_err(err, errlen, "signature is not 64 bytes");
        return 0;
    case TS__MSG_TYPE__MSG_SUBSCRIBE:
        return e->subscribe ? 0 : ts_err(err, errlen, "subscribe without body");
    case TS__MSG_TYPE__MSG_ACK:
        return e->ack ? 0 : ts_err(err, errlen, "ack without body");
    case TS__MSG_TYPE__MSG_READY:
    case TS__MSG_TYPE__MSG_HEARTBEAT:
        if (!e->heartbeat)
            return ts_err(err, errlen, "heartbeat without body");
        if (e->heartbeat->n_counters > 256)
            return ts_err(err, errlen, "too many counters");
        return 0;
    case TS__MSG_TYPE__MSG_STATUS_REQ:
        return 0;
    case TS__MSG_TYPE__MSG_STATUS_REP:
        return e->status ? 0 : ts_err(err, errlen, "status reply without status");
    case TS__MSG_TYPE__MSG_COMMAND:
    case TS__MSG_TYPE__MSG_COMMAND_REP:
        return e->text ? 0 : ts_err(err, errlen, "text message without text");
    default:
        return ts_err(err, errlen, "unknown message type");
    }
}

Ts__Envelope *ts_msg_unpack(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    /* protobuf-c's unpack has no size limit of its own: bound it first. */
    if (len == 0 || len > TS_MSG_MAX) {
        ts_err(err, errlen, "envelope size out of bounds");
        return NULL;
    }
    Ts__Envelope *e = ts__envelope__unpack(NULL, len, buf);
    if (!e) {
        ts_err(err, errlen, "malformed envelope");
        return NULL;
    }
    if (check(e, err, errlen) < 0) {
        ts__envelope__free_unpacked(e, NULL);
        return NULL;
    }
    return e;
}

void ts_msg_free(Ts__Envelope *e)
{
    if (e)
        ts__envelope__free_unpacked(e, NULL);
}

const char *ts_msg_type_name(int type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&ts__msg_type__descriptor, type);
    return v ? v->name : "unknown";
}
