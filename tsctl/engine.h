/* tsctl engine: the state engine.c keeps and engine_web.c shows (the page, /engine.json,
 * /playlist.m3u, /metrics). One process, one libev loop; a stream's viewer is a `tsctl watch`
 * instance named engine-<first 16 hex digits of the infohash>, started and stopped by running the
 * tsctl binary as a child, so the loop never waits for a viewer. */
#ifndef TSCTL_ENGINE_H
#define TSCTL_ENGINE_H
#include "channels.h"
#include "engine_proxy.h"
#include "engine_url.h"
#include "ts_httpd.h"
#include "ts_metrics.h"
#include "ts_msg.h"
#include <ev.h>
#include <sys/types.h>

#define ENGINE_HTTP          "127.0.0.1:6878"
#define ENGINE_IDLE_S        60
#define ENGINE_MAX_STREAMS   4
#define ENGINE_MAX_PLAYERS   100 /* player connections at once, waiting or relayed (each holds up to PROXY_BUF) */
#define ENGINE_MAX_CONNS     200 /* connections taken at once, players and short answers alike; past it, closed */
#define ENGINE_POLL_S        2.0 /* how often each viewer's supervisor is asked for its status */
#define ENGINE_ASK_MS        500 /* ... and how long its answer may take */
#define ENGINE_RETRY_AFTER_S 30  /* Retry-After of a 503 */

typedef enum { S_IDLE, S_STARTING, S_RUNNING, S_STOPPING } sstate_t;

/* Why requests were refused: the label of tstream_engine_requests_rejected_total. */
typedef enum { R_BAD, R_UNKNOWN, R_MAX_STREAMS, R_MAX_PLAYERS, R_MAGNET, R_START, R_METHOD, R_MAX_CONNS, R_N } reject_t;

typedef struct stream stream_t;
typedef struct engine engine_t;

typedef struct player {
    struct player *prev, *next;
    stream_t *s;
    proxy_t *p;
    eng_kind_t kind;
    int started; /* relayed, or answered: no longer waiting for the viewer */
    char sub[ENG_SUB_MAX + 2];
} player_t;

struct stream {
    engine_t *e;
    chan_t ch;             /* from the channels file, or made from a magnet link */
    int from_magnet;       /* added by /watch?magnet=: forgotten once its viewer stops */
    char ih[41], inst[32]; /* infohash in hex; the viewer's instance name */
    sstate_t st;
    pid_t child; /* the tsctl watch or tsctl stop running for it, or 0 */
    ev_child cw;
    int out_fd; /* the child's stdout and stderr, read into its log lines */
    ev_io out_io;
    char out_line[256], last_line[256];
    size_t out_len;
    player_t *players; /* waiting or relayed */
    size_t nplayers;
    uint16_t port;                /* the running viewer's player-bridge, on 127.0.0.1 */
    char bridge_name[160];        /* its stream name: /NAME.ts, /NAME.m3u8 */
    double idle_since, last_poll; /* monotonic seconds */
    Ts__Envelope *status;         /* the supervisor's last answer, or NULL */
    long long http_clients;       /* the player-bridge's counter in it, or -1 */
    char error[300];              /* why the last start failed */
    uint64_t starts;
};

struct engine {
    struct ev_loop *loop;
    ts_httpd_t *http;
    ts_metrics_t *metrics;
    char listen[300], tsctl[4096];
    double idle_s;
    unsigned max_streams;
    int allow_magnets;
    stream_t **s;
    size_t ns, nchannels; /* the first nchannels are the channels file's */
    size_t nplayers;
    ev_timer tick;
    ev_signal sigint, sigterm;
    uint64_t starts, start_failures, idle_stops, dropped, bytes, rejected[R_N];
};

extern const char *const engine_reject_names[R_N];
unsigned engine_running(const engine_t *e); /* streams whose viewer is up or on its way */
const char *engine_state_name(sstate_t st);
#endif
