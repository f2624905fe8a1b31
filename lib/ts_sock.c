#include "ts_sock.h"
#include "ts_err.h"
#include "ts_log.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One connect for both: shared = bind local's port alongside the listener that holds it. */
static int sock_connect(const struct sockaddr *sa, socklen_t salen, const struct sockaddr *local, socklen_t locallen,
                        int shared, int *pending)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (shared && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
                   setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0))
        goto fail;
    if (local && bind(fd, local, locallen) < 0)
        goto fail;
    int rc = connect(fd, sa, salen);
    if (rc < 0 && errno != EINPROGRESS)
        goto fail;
    *pending = rc < 0;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int ts_sock_connect(const struct sockaddr *sa, socklen_t salen, const struct sockaddr *local, socklen_t locallen,
                    int *pending)
{
    return sock_connect(sa, salen, local, locallen, 0, pending);
}

int ts_sock_connect4(uint32_t ip, uint16_t port, uint32_t bind_ip, int *pending)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
    struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(bind_ip) };
    return ts_sock_connect((struct sockaddr *)&a, sizeof a, bind_ip ? (struct sockaddr *)&b : NULL, sizeof b, pending);
}

/* A socket bound to ip:port sharing it with the listener (SO_REUSEADDR + SO_REUSEPORT), then
 * connecting to a; -1 with errno. */
static int connect_shared(const struct sockaddr_in *a, uint32_t ip, uint16_t port, int *pending)
{
    struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
    return sock_connect((const struct sockaddr *)a, sizeof *a, (struct sockaddr *)&b, sizeof b, 1, pending);
}

int ts_sock_connect4_from(uint32_t ip, uint16_t port, uint32_t bind_ip, uint16_t from_port, int *pending,
                          int *from_port_used)
{
    *from_port_used = 0;
    if (from_port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
        int fd = connect_shared(&a, bind_ip, from_port, pending);
        if (fd >= 0 || (errno != EADDRNOTAVAIL && errno != EADDRINUSE)) {
            *from_port_used = fd >= 0;
            return fd;
        }
    }
    return ts_sock_connect4(ip, port, bind_ip, pending);
}

int ts_sock_connect_host(const char *host, uint16_t port, int family, const struct sockaddr *local,
                         socklen_t locallen, int *pending, char *err, size_t errlen)
{
    char serv[8];
    snprintf(serv, sizeof serv, "%u", (unsigned)port);
    struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc != 0)
        return ts_err(err, errlen, "%.200s: %s", host, gai_strerror(rc));
    int fd = -1, e = EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        if (local && local->sa_family != a->ai_family)
            continue; /* a local address of the other family could not be bound */
        if ((fd = ts_sock_connect(a->ai_addr, a->ai_addrlen, local, locallen, pending)) < 0)
            e = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        ts_err(err, errlen, "%.200s: %s", host, strerror(e));
        errno = e;
    }
    return fd;
}

int ts_sock_resolve4(const char *host, uint32_t *ip, char *err, size_t errlen)
{
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1) {
        *ip = ntohl(a.s_addr);
        return 0;
    }
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        ts_err(err, errlen, "%.200s: %s", host, gai_strerror(rc));
        errno = rc == EAI_AGAIN ? EAGAIN : ENOENT;
        return -1;
    }
    *ip = ntohl(((const struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(res);
    return 0;
}

int ts_sock_connected(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

struct ts_acceptor {
    struct ev_loop *loop;
    int lfd;
    ev_io io;
    ev_timer pause;
    char what[32];
    ts_acceptor_fn *fn;
    void *arg;
    uint64_t pauses, pauses_logged;
    ev_tstamp last_log;
};

void ts_acceptor_pause(ts_acceptor_t *a, double secs)
{
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->pause);
    ev_timer_set(&a->pause, secs, 0);
    ev_timer_start(a->loop, &a->pause);
}

static void on_pause_end(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_acceptor_t *a = w->data;
    ev_io_start(loop, &a->io);
}

/* Out of descriptors or memory: say so now and then (a flood would otherwise write ten lines a
 * second), and rest. */
static void starved(ts_acceptor_t *a, int e)
{
    a->pauses++;
    ev_tstamp now = ev_now(a->loop);
    if (a->pauses_logged == 0 || now - a->last_log >= TS_ACCEPT_LOG_S) {
        ts_warn("%s: accept: %s: pausing for %.1f s (%llu pauses)", a->what, strerror(e), TS_ACCEPT_PAUSE_S,
                (unsigned long long)a->pauses);
        a->pauses_logged = a->pauses;
        a->last_log = now;
    }
    ts_acceptor_pause(a, TS_ACCEPT_PAUSE_S);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_acceptor_t *a = w->data;
    for (int i = 0; i < TS_ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(a->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                starved(a, errno);
            return; /* EAGAIN, or a connection that died in the queue */
        }
        if (a->fn(fd, (struct sockaddr *)&ss, sl, a->arg) < 0) {
            ts_acceptor_pause(a, TS_ACCEPT_PAUSE_S);
            return;
        }
    }
}

ts_acceptor_t *ts_acceptor_new(struct ev_loop *loop, int lfd, const char *what, ts_acceptor_fn *fn, void *arg)
{
    ts_acceptor_t *a = calloc(1, sizeof *a);
    if (!a) {
        close(lfd);
        return NULL;
    }
    a->loop = loop;
    a->lfd = lfd;
    a->fn = fn;
    a->arg = arg;
    snprintf(a->what, sizeof a->what, "%s", what ? what : "listener");
    ev_io_init(&a->io, on_accept, lfd, EV_READ);
    ev_timer_init(&a->pause, on_pause_end, TS_ACCEPT_PAUSE_S, 0);
    a->io.data = a->pause.data = a;
    ev_io_start(loop, &a->io);
    return a;
}

void ts_acceptor_destroy(ts_acceptor_t **self)
{
    ts_acceptor_t *a = *self;
    if (!a)
        return;
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->pause);
    close(a->lfd);
    free(a);
    *self = NULL;
}

uint64_t ts_acceptor_pauses(const ts_acceptor_t *a) { return a->pauses; }

int ts_acceptor_fd(const ts_acceptor_t *a) { return a->lfd; }

static int listen_opt(const char *addr, uint16_t port, int backlog, int shared, uint16_t *bound, int *err_no,
                      char *err, size_t errlen);

int ts_sock_listen(const char *addr, uint16_t port, int backlog, uint16_t *bound, int *err_no, char *err,
                   size_t errlen)
{
    return listen_opt(addr, port, backlog, 0, bound, err_no, err, errlen);
}

int ts_sock_listen_shared(const char *addr, uint16_t port, int backlog, uint16_t *bound, int *err_no, char *err,
                          size_t errlen)
{
    return listen_opt(addr, port, backlog, 1, bound, err_no, err, errlen);
}

static int listen_opt(const char *addr, uint16_t port, int backlog, int shared, uint16_t *bound, int *err_no,
                      char *err, size_t errlen)
{
    char host[256], serv[8];
    size_t alen = strlen(addr);
    if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']')
        snprintf(host, sizeof host, "%.*s", (int)(alen - 2), addr + 1);
    else
        snprintf(host, sizeof host, "%s", addr);
    snprintf(serv, sizeof serv, "%u", port);
    *err_no = 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    int gai = getaddrinfo(host, serv, &hints, &res);
    if (gai != 0)
        return ts_err(err, errlen, "%s: %s", host, gai_strerror(gai));
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart while old sockets sit in TIME_WAIT */
        /* shared: bound first without SO_REUSEPORT (a port in use fails here, as unshared), then
         * given it (Linux accepts it on a bound socket before listen) for our dialers to join */
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            (!shared || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0) && listen(fd, backlog) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *err_no = e ? e : EINVAL;
        return ts_err(err, errlen, "cannot listen on %s port %u: %s", host, port, strerror(*err_no));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}
