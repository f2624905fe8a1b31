/* One player's connection to `tsctl engine`, once ts_httpd handed it over: held while its stream's
 * viewer starts, then relayed byte for byte from that viewer's player-bridge (its response head
 * included), or answered with a short response of the engine's own.
 *
 * Memory is bounded per player: at most PROXY_BUF bytes from the bridge are held; while they are
 * not taken, nothing more is read from the bridge, whose own slow-player policy then drops the
 * relay (the player-bridge never queues without bound either). A player that takes no byte for
 * PROXY_STALL_S while bytes wait is dropped here too. Nothing blocks; everything runs on the loop. */
#ifndef TSCTL_ENGINE_PROXY_H
#define TSCTL_ENGINE_PROXY_H
#include <ev.h>
#include <stdint.h>

#define PROXY_BUF       (256 * 1024)
#define PROXY_STALL_S   10.0
#define PROXY_CONNECT_S 5.0 /* the bridge is local: a connect this slow has failed */
#define PROXY_LINGER_S  1.0 /* after a short response, wait this long at most for the player to close */

typedef struct proxy proxy_t;
/* Called once when the connection ends, however; p is freed right after. why: a short reason. */
typedef void proxy_end_fn(proxy_t *p, const char *why, void *arg);

/* Take fd (a player that sent its request head). head_only: it asked with HEAD. */
proxy_t *proxy_new(struct ev_loop *loop, int fd, int head_only, proxy_end_fn *end, void *arg);
void proxy_set_end(proxy_t *p, proxy_end_fn *end, void *arg);
/* Relay 127.0.0.1:port's answer to GET (or HEAD) path. A bridge that cannot be reached gets the
 * player a 502 instead. */
void proxy_relay(proxy_t *p, uint16_t port, const char *path);
/* Answer with status, extra header lines (each ending in \r\n; may be NULL) and a text body, then
 * close. */
void proxy_reply(proxy_t *p, int status, const char *headers, const char *body);
/* End it now (the end callback runs). */
void proxy_close(proxy_t *p, const char *why);
int proxy_relaying(const proxy_t *p);
uint64_t proxy_bytes(const proxy_t *p); /* bytes sent to the player */
void *proxy_arg(const proxy_t *p);
/* Connections taken and not closed yet (waiting, relayed, answered, lingering). */
unsigned proxy_count(void);
#endif
