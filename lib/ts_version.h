/* What build this is: the release version, and the git commit it was configured from. */
#ifndef TS_VERSION_H
#define TS_VERSION_H
#define TS_VERSION "0.6.0"
/* How tstream names itself to other programs: metainfo "created by", the extension handshake's "v"
 * (swarm/wire.c), the tracker request's User-Agent. That is the protocol's version
 * (docs/PROTOCOL.md), not the release's: it moves only when the wire format does. */
#define TS_PROTO_VERSION "0.1"
#define TS_AGENT "tstream " TS_PROTO_VERSION      /* "created by", handshake "v" */
#define TS_USER_AGENT "tstream/" TS_PROTO_VERSION /* HTTP User-Agent */
/* Short hash of the commit at CMake configure time, or "unknown" (no git, not a checkout). */
const char *ts_version_commit(void);
#endif
