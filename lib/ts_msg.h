/* The inter-stage envelope (proto/tstream.proto): pack, and unpack with every check done once here. */
#ifndef TS_MSG_H
#define TS_MSG_H
#include <stddef.h>
#include <stdint.h>
#include "tstream.pb-c.h"

#define TS_MSG_VERSION 1
/* Largest envelope any stage accepts: a piece (≤ 1 MiB payload) plus headroom. Set as ZMQ_MAXMSGSIZE too. */
#define TS_MSG_MAX (1100 * 1024)
#define TS_PAYLOAD_MAX (1024 * 1024)
/* Peers one heartbeat or status lists (PeerStatus), and the bytes of each of its strings with the
 * NUL: a heartbeat stays small, and the supervisor keeps them in fixed arrays. */
#define TS_MSG_MAX_PEERS 64
#define TS_MSG_PEER_TEXT 64

/* Pack into a malloc'd buffer. Returns 0, or -1 when the message is too large or memory is short. */
int ts_msg_pack(const Ts__Envelope *e, uint8_t **out, size_t *len);
/* Unpack and validate: size bound, version, the body the type needs present, field sizes.
 * NULL (with a reason in err) on any failure. Free with ts_msg_free. */
Ts__Envelope *ts_msg_unpack(const uint8_t *buf, size_t len, char *err, size_t errlen);
void ts_msg_free(Ts__Envelope *e);
const char *ts_msg_type_name(int type);
#endif
