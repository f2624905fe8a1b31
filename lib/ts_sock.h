/* TCP sockets on a libev loop: a listener, a non-blocking connect (optionally from a given local
 * address) and an acceptor that survives running out of descriptors.
 *
 * Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM), accept fails while the
 * connection stays queued and the listener stays readable: a plain accept loop would spin at full
 * CPU. The acceptor instead stops watching the listener for TS_ACCEPT_PAUSE_S, counts the pause,
 * and tries again; the queued connections wait in the kernel's backlog meanwhile. */
#ifndef TS_SOCK_H
#define TS_SOCK_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TS_ACCEPT_BATCH 32    /* connections accepted per loop turn, so one listener cannot starve the loop */
#define TS_ACCEPT_PAUSE_S 0.1 /* out of descriptors: stop accepting this long */
#define TS_ACCEPT_LOG_S 10.0  /* at most one warning about pausing this often (with the count since) */

/* Listen on host (an address as ts_units_hostport leaves it, "[::1]" included; "0.0.0.0" = every
 * IPv4 address) and port (0: the kernel picks one), SO_REUSEADDR, non-blocking, close-on-exec. The
 * socket, with the port it got in *bound; or -1 with "cannot listen on HOST port N: reason" in err
 * and the failing errno in *err_no (0 for a bad host). */
int ts_sock_listen(const char *host, uint16_t port, int backlog, uint16_t *bound, int *err_no, char *err,
                   size_t errlen);
/* ts_sock_listen, but the port may also be bound by this process's dialling sockets
 * (ts_sock_connect4_from): SO_REUSEADDR and SO_REUSEPORT, which Linux needs on the listener and
 * on every dialer for them to share a port. The port is first probed without SO_REUSEPORT so that
 * another listener on it still makes this fail with EADDRINUSE (SO_REUSEPORT alone would let a
 * second process of the same user share the port and steal half its connections). */
int ts_sock_listen_shared(const char *host, uint16_t port, int backlog, uint16_t *bound, int *err_no, char *err,
                          size_t errlen);
/* Connect to sa without blocking; local (may be NULL) is bound first, so the peer sees that
 * address. The socket is non-blocking and close-on-exec. Returns it with *pending 1 while the
 * connect is under way (wait for EV_WRITE, then ts_sock_connected) or 0 if already connected;
 * or -1 with errno set (the socket is closed). */
int ts_sock_connect(const struct sockaddr *sa, socklen_t salen, const struct sockaddr *local, socklen_t locallen,
                    int *pending);
/* IPv4 shorthand: ip and bind_ip in host byte order; bind_ip 0 = no bind. */
int ts_sock_connect4(uint32_t ip, uint16_t port, uint32_t bind_ip, int *pending);
/* ts_sock_connect4 from local port from_port (0: any) of bind_ip, the listening port of
 * ts_sock_listen_shared: behind a NAT that keeps a mapping per local endpoint, every connection
 * then leaves through the same external port, the one others know (and TCP hole punching needs
 * the dial to come from the port the other side dials). If that port cannot be used for this
 * remote (EADDRNOTAVAIL: a connection from it to the same address and port exists or sits in
 * TIME_WAIT; EADDRINUSE), the dial goes from an ephemeral port instead; *from_port_used says
 * which (1: from from_port). */
int ts_sock_connect4_from(uint32_t ip, uint16_t port, uint32_t bind_ip, uint16_t from_port, int *pending,
                          int *from_port_used);
/* Resolve host (a name, an IPv4 or an IPv6 address without brackets; getaddrinfo, which blocks for
 * a name) for family (AF_INET, AF_INET6 or AF_UNSPEC) and ts_sock_connect to the first address
 * whose connect starts. The socket as ts_sock_connect, or -1 with err ("host: reason"). */
int ts_sock_connect_host(const char *host, uint16_t port, int family, const struct sockaddr *local,
                         socklen_t locallen, int *pending, char *err, size_t errlen);
/* host as one IPv4 address (host byte order) in *ip: an address as written, else a name through
 * getaddrinfo (blocks; its first IPv4 answer). 0, or -1 with err ("host: reason") and errno EAGAIN
 * if the failure is temporary (no answer from DNS: trying later may help), else ENOENT. */
int ts_sock_resolve4(const char *host, uint32_t *ip, char *err, size_t errlen);
/* After the socket turned writable: 0 if the connect succeeded, else -1 with errno the reason. */
int ts_sock_connected(int fd);

typedef struct ts_acceptor ts_acceptor_t;
/* A new connection: fd (non-blocking, close-on-exec) is the callee's to keep or close; sa its
 * peer's address. Return 0 to go on accepting, or -1 to pause the acceptor for TS_ACCEPT_PAUSE_S
 * (a budget is spent: let the backlog hold the rest). */
typedef int ts_acceptor_fn(int fd, const struct sockaddr *sa, socklen_t salen, void *arg);

/* Accept on the listening socket lfd (non-blocking; see ts_sock_listen), which the acceptor then
 * owns and closes. what names the server in warnings ("http", "swarm"). NULL if out of memory
 * (lfd is then closed too). */
ts_acceptor_t *ts_acceptor_new(struct ev_loop *loop, int lfd, const char *what, ts_acceptor_fn *fn, void *arg);
void ts_acceptor_destroy(ts_acceptor_t **self);
/* Stop accepting for secs (the listener's backlog holds new connections meanwhile). */
void ts_acceptor_pause(ts_acceptor_t *a, double secs);
/* Pauses so far for lack of descriptors or memory (not those asked for by the callback). */
uint64_t ts_acceptor_pauses(const ts_acceptor_t *a);
int ts_acceptor_fd(const ts_acceptor_t *a);
#endif
