/* lib/ts_sock.c: a non-blocking connect (plain, bound to a local address, by name) reaches a listener; the
 * acceptor hands connections to its callback, pauses when the callback asks, and, out of
 * descriptors (RLIMIT_NOFILE lowered), pauses and counts instead of spinning, then goes on once
 * descriptors are free again; ts_sock_resolve4 turns --announce-host into an address. */
#include "check.h"
#include "ts_sock.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
    int accepted, pause_after;
    int fds[64];
    uint32_t last_ip;
    struct ev_loop *loop;
} acc_t;

static int on_conn(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
    acc_t *a = arg;
    if (sa->sa_family == AF_INET)
        a->last_ip = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    if (a->accepted < 64)
        a->fds[a->accepted] = fd;
    else
        close(fd);
    a->accepted++;
    return a->pause_after && a->accepted >= a->pause_after ? -1 : 0;
}

static void run_for(struct ev_loop *loop, double secs)
{
    ev_tstamp end = ev_time() + secs;
    while (ev_time() < end)
        ev_run(loop, EVRUN_NOWAIT), usleep(2000);
}

static int connect_wait(uint16_t port, uint32_t bind_ip)
{
    int pending = -1;
    int fd = ts_sock_connect4(0x7f000001, port, bind_ip, &pending);
    if (fd < 0)
        return -1;
    if (pending) {
        fd_set w;
        FD_ZERO(&w);
        FD_SET(fd, &w);
        struct timeval tv = { 2, 0 };
        if (select(fd + 1, NULL, &w, NULL, &tv) != 1 || ts_sock_connected(fd) < 0) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* A shared listener: a second listener on its port still fails; our dials leave from its port,
 * and a second dial to the same remote (its 4-tuple taken) falls back to an ephemeral port. */
static void test_shared(void)
{
    char err[256];
    int e, pending, used, fds[2];
    uint16_t port, other, again;
    int lfd = ts_sock_listen_shared("127.0.0.1", 0, 8, &port, &e, err, sizeof err);
    int tfd = ts_sock_listen("127.0.0.1", 0, 8, &other, &e, err, sizeof err);
    CHECK(lfd >= 0 && tfd >= 0, "shared listen: %s", err);
    CHECK(ts_sock_listen("127.0.0.1", port, 8, &again, &e, err, sizeof err) < 0 && e == EADDRINUSE,
          "another listener on a shared port: EADDRINUSE");
    CHECK(ts_sock_listen_shared("127.0.0.1", port, 8, &again, &e, err, sizeof err) < 0 && e == EADDRINUSE,
          "another shared listener on it: EADDRINUSE too");
    for (int i = 0; i < 2; i++) {
        fds[i] = ts_sock_connect4_from(0x7f000001, other, 0x7f000001, port, &pending, &used);
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        getsockname(fds[i], (struct sockaddr *)&a, &al);
        CHECK(fds[i] >= 0 && used == (i == 0) && (ntohs(a.sin_port) == port) == (i == 0),
              "dial %d: from the listening port %s (local port %u)", i, i ? "no (taken for this remote)" : "yes",
              ntohs(a.sin_port));
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    close(tfd);
    close(lfd);
}

/* --announce-host: an address as written, a name through the resolver, a name that does not
 * resolve refused with the host in the reason. */
static void test_resolve4(void)
{
    uint32_t ip = 0;
    char err[300] = "";
    CHECK(ts_sock_resolve4("10.1.2.3", &ip, err, sizeof err) == 0 && ip == 0x0a010203, "address: %08x", ip);
    ip = 0;
    CHECK(ts_sock_resolve4("localhost", &ip, err, sizeof err) == 0 && ip >> 24 == 127, "localhost: %08x %s", ip, err);
    errno = 0;
    CHECK(ts_sock_resolve4("no-such-host.invalid", &ip, err, sizeof err) < 0 && strstr(err, "no-such-host.invalid") &&
              (errno == ENOENT || errno == EAGAIN),
          "unresolvable: %s (errno %d)", err, errno);
}

int main(void)
{
    test_shared();
    struct ev_loop *loop = ev_loop_new(0);
    char err[256];
    int e;
    uint16_t port;
    int lfd = ts_sock_listen("127.0.0.1", 0, 64, &port, &e, err, sizeof err);
    CHECK(lfd >= 0, "listen: %s", err);
    acc_t a = { 0 };
    a.loop = loop;
    ts_acceptor_t *acc = ts_acceptor_new(loop, lfd, "test", on_conn, &a);
    CHECK(acc && ts_acceptor_fd(acc) == lfd, "acceptor");

    /* connect, plain and from a bound local address */
    int c1 = connect_wait(port, 0);
    CHECK(c1 >= 0, "connect: %s", strerror(errno));
    run_for(loop, 0.05);
    CHECK(a.accepted == 1 && a.last_ip == 0x7f000001, "accepted %d", a.accepted);
    int c2 = connect_wait(port, 0x7f000002);
    CHECK(c2 >= 0, "bound connect: %s", strerror(errno));
    run_for(loop, 0.05);
    CHECK(a.accepted == 2 && a.last_ip == 0x7f000002, "bound connect seen from 127.0.0.2 (%08x)", a.last_ip);

    /* by name, and with a local address of the wrong family for every address (nothing to try) */
    int pend = -1;
    int c4 = ts_sock_connect_host("localhost", port, AF_INET, NULL, 0, &pend, err, sizeof err);
    CHECK(c4 >= 0 && (pend == 0 || pend == 1), "connect to localhost: %s", err);
    close(c4);
    run_for(loop, 0.05);
    CHECK(a.accepted == 3, "connection by name accepted: %d", a.accepted);
    close(a.fds[2]);
    a.accepted = 2;
    struct sockaddr_in6 l6 = { .sin6_family = AF_INET6 };
    CHECK(ts_sock_connect_host("127.0.0.1", port, AF_UNSPEC, (struct sockaddr *)&l6, sizeof l6, &pend, err,
                               sizeof err) < 0 && err[0],
          "no address of the local address's family: %s", err);

    /* refused: the connect fails at once or reports it once writable */
    uint16_t dead;
    int dfd = ts_sock_listen("127.0.0.1", 0, 1, &dead, &e, err, sizeof err);
    close(dfd);
    CHECK(connect_wait(dead, 0) < 0 && errno == ECONNREFUSED, "refused: %s", strerror(errno));
    int pending;
    struct sockaddr_in bad = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
    struct sockaddr_in6 badlocal = { .sin6_family = AF_INET6 };
    CHECK(ts_sock_connect((struct sockaddr *)&bad, sizeof bad, (struct sockaddr *)&badlocal, sizeof badlocal,
                          &pending) < 0,
          "a local address of the wrong family fails");

    /* the callback asks for a pause: the rest waits in the backlog, then comes */
    a.pause_after = 3;
    int more[3];
    for (int i = 0; i < 3; i++)
        more[i] = connect_wait(port, 0);
    run_for(loop, 0.02);
    CHECK(a.accepted == 3, "paused after the third: %d", a.accepted);
    a.pause_after = 0;
    run_for(loop, TS_ACCEPT_PAUSE_S + 0.1);
    CHECK(a.accepted == 5, "the rest after the pause: %d", a.accepted);
    CHECK(ts_acceptor_pauses(acc) == 0, "pauses asked for are not counted");

    /* out of descriptors: lower the limit to what is open now, connect, and count pauses */
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int probe = dup(0);
    low = old;
    low.rlim_cur = (rlim_t)probe + 2; /* room for the client socket below, none for the accept */
    close(probe);
    int c3 = -1;
    if (setrlimit(RLIMIT_NOFILE, &low) == 0) {
        c3 = connect_wait(port, 0);
        int filler = dup(0);
        CHECK(c3 >= 0, "client socket under the low limit");
        ev_tstamp t0 = ev_time();
        int turns = 0;
        while (ev_time() - t0 < 0.35) {
            turns += ev_run(loop, EVRUN_ONCE) >= 0;
        }
        uint64_t p = ts_acceptor_pauses(acc);
        /* 0.35 s at 0.1 s pauses: 3 or 4 pauses, and a loop that mostly slept (no spin) */
        CHECK(p >= 2 && p <= 5, "pauses: %llu", (unsigned long long)p);
        CHECK(turns < 50, "loop turns while starved: %d (spinning?)", turns);
        CHECK(a.accepted == 5, "nothing accepted while starved");
        if (filler >= 0)
            close(filler);
        setrlimit(RLIMIT_NOFILE, &old);
        run_for(loop, TS_ACCEPT_PAUSE_S + 0.1);
        CHECK(a.accepted == 6, "accepted once descriptors are free: %d", a.accepted);
    } else {
        printf("skip: cannot lower RLIMIT_NOFILE\n");
    }

    for (int i = 0; i < a.accepted && i < 64; i++)
        close(a.fds[i]);
    close(c1), close(c2), close(c3);
    for (int i = 0; i < 3; i++)
        close(more[i]);
    ts_acceptor_destroy(&acc);
    CHECK(acc == NULL, "destroyed");
    ev_loop_destroy(loop);
    test_resolve4();
    CHECK_DONE();
}
