/* HTTP tracker (BEP 3, compact peers BEP 23): the broadcaster's embedded tracker state and the
 * announce request/response codecs of the client side. docs/PROTOCOL.md section 6.
 *
 * No sockets: the swarm process hands in complete requests and sends the responses, so all of
 * this takes hostile bytes and is fuzzed. */
#ifndef TS_TRACKER_H
#define TS_TRACKER_H
#include <stddef.h>
#include <stdint.h>
#include "ts_buf.h"

#define TS_TRACKER_REQ_MAX 8192       /* larger HTTP requests are refused */
#define TS_TRACKER_NUMWANT_DEFAULT 50
#define TS_TRACKER_NUMWANT_MAX 200
#define TS_TRACKER_RESP_PEERS_MAX 1000 /* client side: peers kept from one response */

typedef struct {
    uint32_t ip;   /* IPv4, host byte order */
    uint16_t port;
} ts_peer_addr_t;

/* ---------------------------------------------------------------- server */

typedef struct ts_tracker ts_tracker_t;

/* max_peers_per_swarm bounds memory: when a swarm is full the peer seen longest ago gives way to a
 * new one. A peer not heard from for peer_ttl_ns is dropped. NULL on allocation failure. */
ts_tracker_t *ts_tracker_new(size_t max_peers_per_swarm, uint64_t peer_ttl_ns);
void ts_tracker_destroy(ts_tracker_t **t);
/* Only allowed infohashes are tracked; anything else gets a failure reason. */
void ts_tracker_allow(ts_tracker_t *t, const uint8_t infohash[20]);

/* Handle one complete HTTP request (the bytes up to and including the blank line); remote_ip is
 * the TCP peer's address (host order) and is the address recorded: an "ip" parameter is ignored,
 * so nobody can register someone else. Appends a complete HTTP/1.0 response to out:
 *   GET /announce?info_hash=..&peer_id=..&port=..[&uploaded&downloaded&left&event&compact&numwant]
 *   -> 200, bencoded {"complete": n, "incomplete": 0, "interval": interval_s, "min interval": 5,
 *      "peers": 6-byte compact entries}, without the requester itself (same ip and port), at most
 *      numwant (default 50, capped at 200), a random choice when there are more.
 * event=stopped removes the peer (and lists nobody). Peers are expired here, against now_ns
 * (monotonic). Unknown infohash or a malformed query: 200 with {"failure reason": "..."}.
 * Non-GET, a bad request line or a request over TS_TRACKER_REQ_MAX: 400. A path other than
 * /announce: 404. Returns the HTTP status written, or -1 if out could not grow (out->err). */
int ts_tracker_handle(ts_tracker_t *t, const char *req, size_t len, uint32_t remote_ip, uint64_t now_ns,
                      int interval_s, ts_buf_t *out);
/* Register a peer directly (the broadcaster registers itself). Such a peer is permanent: it does
 * not expire, is never evicted, and an announce with event=stopped does not remove it. Ignored
 * for an infohash not allowed. */
void ts_tracker_add(ts_tracker_t *t, const uint8_t infohash[20], ts_peer_addr_t a, uint64_t now_ns);
/* Peers currently held for infohash (expired ones leave at the next announce). */
size_t ts_tracker_count(ts_tracker_t *t, const uint8_t infohash[20]);

/* ---------------------------------------------------------------- client */

/* From an http:// announce URL ("http://host[:port][/path][?query]", host a name, an IPv4
 * address or a bracketed IPv6 address) build the full HTTP/1.0 GET request, appended to request:
 *   path?[query&]info_hash=%xx..&peer_id=..&port=..&uploaded=..&downloaded=..&left=0&compact=1&numwant=50[&event=E]
 * with a Host header. host (without brackets) and *tport get where to connect (default port 80).
 * -1 if the URL is not http://, malformed, has user info, or contains bytes that do not belong in
 * a request line (the URL comes from a .tstream file, so it is not trusted; split by lib/ts_url);
 * request is then left as it was. event: NULL, "started", "stopped" or "completed". */
int ts_tracker_request(const char *announce_url, const uint8_t infohash[20], const uint8_t peer_id[20], uint16_t port,
                       uint64_t uploaded, uint64_t downloaded, const char *event, char *host, size_t hostlen,
                       uint16_t *tport, ts_buf_t *request);

typedef struct {
    int interval;           /* seconds; 0 if the tracker gave none */
    ts_peer_addr_t *peers;  /* malloc'd, npeers entries */
    size_t npeers;
    char failure[256];      /* "failure reason", printable ASCII, truncated; empty if none */
} ts_announce_resp_t;

/* Parse a full HTTP response (head by lib/ts_http's response parser; Content-Length honoured when
 * present, otherwise the body runs to the end; a chunked or other coded body is refused). Accepts compact peers (a string of 6-byte entries) and the
 * dictionary model (a list of dicts with "ip" as a dotted IPv4 string and "port"); entries that
 * are not usable IPv4 peers are skipped. At most TS_TRACKER_RESP_PEERS_MAX peers are kept.
 * A "failure reason" sets failure and returns 0 (also with a non-200 status). -1 if malformed,
 * with err saying why and r left empty (nothing to free). r is always initialised. */
int ts_tracker_parse_response(const uint8_t *resp, size_t len, ts_announce_resp_t *r, char *err, size_t errlen);
void ts_announce_resp_free(ts_announce_resp_t *r);
#endif
