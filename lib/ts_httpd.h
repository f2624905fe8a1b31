/* A tiny HTTP/1.1 server on a libev loop for a process's own endpoints (/metrics, /livez,
 * /readyz): one request per connection, answered from memory by a handler; or, under a prefix
 * route, handed over to its owner once its head is read (tsctl engine's streams).
 *
 *   GET, HEAD  a registered path (query ignored): the handler's status, Content-Type and body
 *              (HEAD: the same headers, no body).
 *   unknown path 404 · other methods on a known path 405 · malformed request, or a head over
 *   TS_HTTP_MAX_HEAD bytes 400 · over TS_HTTPD_MAX_CONNS open connections 503.
 * Every response has Content-Length and Connection: close. A connection gets `timeout` seconds
 * (default 5) to send its request head and as long again to take the response, then it is closed;
 * nothing is ever written blocking, so a client that does not read costs the loop nothing. Request
 * bodies are not read, only drained after the response (never more than TS_HTTP_MAX_HEAD bytes are
 * kept per connection). */
#ifndef TS_HTTPD_H
#define TS_HTTPD_H
#include "ts_buf.h"
#include "ts_http.h"
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#define TS_HTTPD_MAX_CONNS 32       /* open connections; one more is answered 503 and closed */
#define TS_HTTPD_TIMEOUT 5.0        /* seconds to send the request head; as long to take the response */
#define TS_HTTPD_MAX_ROUTES 16
#define TS_HTTPD_LIVEZ_STALL 2.0    /* /livez fails after a loop turn this long ... */
#define TS_HTTPD_LIVEZ_WINDOW 10.0  /* ... within about this many seconds */

typedef struct ts_httpd ts_httpd_t;

typedef struct {
    int status;               /* 200 unless set; 200-599 but not 204 or 304, else the client gets 500 */
    const char *content_type; /* "text/plain; charset=utf-8" unless set; must outlive the call */
    ts_buf_t body;            /* append to it; dropped for HEAD */
} ts_httpd_resp_t;

/* req: the parsed head (method GET or HEAD, path, ...); head: its bytes, for ts_http_header. */
typedef void ts_httpd_fn(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg);

/* addr: "ADDR:PORT", ":PORT" or "PORT" (address 127.0.0.1), "[v6]:PORT"; NULL = "127.0.0.1:0".
 * Port 0 takes a free port (ts_httpd_port says which). NULL with a reason in err. */
ts_httpd_t *ts_httpd_new(struct ev_loop *loop, const char *addr, char *err, size_t errlen);
/* Closes every connection. Not from inside a handler. */
void ts_httpd_destroy(ts_httpd_t **self);
uint16_t ts_httpd_port(const ts_httpd_t *h);
/* Serve path (exact, starting with '/') with fn. 0, or -1 (bad or taken path, table full). */
int ts_httpd_route(ts_httpd_t *h, const char *path, ts_httpd_fn *fn, void *arg);
/* A request whose path starts with prefix and that no exact route serves is handed over, whatever
 * its method: fn owns fd from then on (non-blocking, close-on-exec; the server forgets it and it no
 * longer counts toward TS_HTTPD_MAX_CONNS) and answers it itself, for as long as it likes (a stream
 * relayed to a player). req points into head, valid during the call only; bytes the client sent
 * after the head are dropped. 0, or -1 (bad prefix, table full). */
typedef void ts_httpd_take_fn(int fd, const ts_http_req_t *req, const uint8_t *head, void *arg);
int ts_httpd_route_take(ts_httpd_t *h, const char *prefix, ts_httpd_take_fn *fn, void *arg);
/* Seconds for the request head, and again for the response (tests use a short one). */
void ts_httpd_set_timeout(ts_httpd_t *h, double seconds);
void ts_httpd_set_max_conns(ts_httpd_t *h, size_t n);

/* Liveness: 200 "ok" while the loop turns promptly; 503 "loop stalled …" if one turn of the loop
 * (the time from poll returning to the next poll, i.e. callbacks running back to back) took over
 * `stall` seconds within the last `window` to 2 x `window` seconds, the current turn included.
 * Served by the same loop, so a loop that is stuck does not answer at all (the prober's timeout
 * is then the failure); one that was stuck and recovered answers 503 for a while after. Measured
 * with an ev_check at EV_MAXPRI (turn start) and an ev_prepare (turn end) on the monotonic clock,
 * both unref'd so they keep no loop running. Time the process spent stopped (SIGSTOP) inside a
 * callback counts as a stall; time the machine spent suspended does not. */
int ts_httpd_route_livez(ts_httpd_t *h, const char *path);
void ts_httpd_set_livez(ts_httpd_t *h, double stall, double window);
/* Longest loop turn seen in the livez window, in seconds (what /livez judges). */
double ts_httpd_loop_stall(const ts_httpd_t *h);

/* Readiness: fn says 1 (ready) or 0 and may put a short reason in why (why[0] is 0 on entry);
 * 200 "ok[: why]" or 503 "not ready[: why]". A stage is ready when its upstream and downstream
 * are connected; what that means is the stage's to say. */
typedef int ts_httpd_ready_fn(void *arg, char *why, size_t whylen);
int ts_httpd_route_readyz(ts_httpd_t *h, const char *path, ts_httpd_ready_fn *fn, void *arg);

/* /metrics: ts_metrics_render of reg, as TS_METRICS_CONTENT_TYPE. */
struct ts_metrics;
int ts_httpd_route_metrics(ts_httpd_t *h, const char *path, const struct ts_metrics *reg);

typedef struct {
    uint64_t requests;  /* answered, any status */
    uint64_t rejected;  /* 503 over the connection limit */
    uint64_t bad;       /* 400 */
    uint64_t timeouts;  /* closed for not sending a request, or not taking the response, in time */
    uint64_t conns;     /* open now */
} ts_httpd_stats_t;
const ts_httpd_stats_t *ts_httpd_stats(const ts_httpd_t *h);
#endif
