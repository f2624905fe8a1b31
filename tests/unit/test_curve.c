/* CURVE on tcp:// links (lib/ts_curve.c): a tcp:// endpoint without keys is refused; a secret key
 * others can read is refused; with keys, a trusted inlink gets every piece, while a client with
 * an unknown key and a client without CURVE never get through (the ZAP handler counts the first). */
#include "check.h"
#include "ts_curve.h"
#include "ts_link.h"
#include "ts_msg.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    int n, bad;
} sink_t;

static void on_piece(const Ts__Piece *p, void *arg)
{
    sink_t *s = arg;
    if (p->seq != (uint64_t)s->n)
        s->bad++;
    s->n++;
}

static void spin(struct ev_loop *loop, double secs, const int *until, int want)
{
    uint64_t end = ts_mono_ns() + (uint64_t)(secs * 1e9);
    while (ts_mono_ns() < end && !(until && *until >= want))
        ev_run(loop, EVRUN_NOWAIT), usleep(1000);
}

static void publish(ts_outlink_t *ol, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s < to; s++) {
        Ts__Piece p = TS__PIECE__INIT;
        p.seq = s;
        p.timestamp_us = ts_wall_us();
        p.payload.data = (uint8_t *)&s;
        p.payload.len = sizeof s;
        ts_outlink_publish(ol, &p);
    }
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int read_line(const char *path, char *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%40s", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

/* A raw DEALER that subscribes; with keys = NULL it speaks no CURVE at all. */
static void *stranger(void *zctx, const char *ep, const char *server_pub, const char *pub, const char *sec)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (pub) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 41);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 41);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 41);
    }
    zmq_connect(s, ep);
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Subscribe sub = TS__SUBSCRIBE__INIT;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_SUBSCRIBE;
    e.subscribe = &sub;
    uint8_t *data;
    size_t len;
    if (ts_msg_pack(&e, &data, &len) == 0) {
        zmq_send(s, data, len, ZMQ_DONTWAIT);
        free(data);
    }
    return s;
}

static int received(void *s)
{
    char buf[256];
    int n = 0;
    while (zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        n++;
    return n;
}

int main(void)
{
    char dir[] = "/tmp/tscurveXXXXXX", other[] = "/tmp/tscurveoXXXXXX", path[256], ep[64], err[512];
    if (!mkdtemp(dir) || !mkdtemp(other)) {
        CHECK(0, "mkdtemp");
        CHECK_DONE();
    }
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", free_port());
    struct ev_loop *loop = ev_loop_new(0);
    void *zctx = zmq_ctx_new();

    /* Key files: one pair each for up and down, never overwritten; a stranger's pair elsewhere. */
    CHECK(ts_curve_keygen(dir, "up", err, sizeof err) == 0, "keygen up: %s", err);
    CHECK(ts_curve_keygen(dir, "down", err, sizeof err) == 0, "keygen down: %s", err);
    CHECK(ts_curve_keygen(dir, "up", err, sizeof err) < 0, "keygen must not overwrite");
    CHECK(ts_curve_keygen(dir, "../x", err, sizeof err) < 0, "keygen must refuse a path as a name");
    CHECK(ts_curve_keygen(other, "stranger", err, sizeof err) == 0, "keygen stranger: %s", err);
    struct stat st;
    snprintf(path, sizeof path, "%s/up.secret", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "secret is 0600");

    /* Without keys, tcp:// is refused (fail closed); ipc:// is not affected. */
    CHECK(ts_outlink_new(loop, zctx, ep, 64, NULL, NULL, NULL) == NULL, "tcp:// without keys must be refused");
    char msg[512];
    CHECK(ts_curve_apply(NULL, ep, 1, NULL, msg, sizeof msg) < 0 && strstr(msg, "--curve"), "message: %s", msg);

    /* A secret that group or others can read is refused, and says how to fix it. */
    chmod(path, 0640);
    CHECK(ts_curve_init(zctx, dir, "up", err, sizeof err) < 0 && strstr(err, "chmod 600"), "0640 secret: %s", err);
    chmod(path, 0600);
    CHECK(ts_curve_init(zctx, dir, "nobody", err, sizeof err) < 0, "missing secret must be refused");
    CHECK(ts_curve_init(zctx, dir, "up", err, sizeof err) == 0, "init: %s", err);

    /* Trusted: the inlink (key "up" is in the directory) gets every piece, in order. */
    ts_outlink_t *ol = ts_outlink_new(loop, zctx, ep, 1024, NULL, NULL, NULL);
    CHECK(ol != NULL, "outlink on %s", ep);
    sink_t a = { 0 };
    ts_inlink_t *il = ts_inlink_new(loop, zctx, ep, "down", "up", 1, 0, on_piece, &a);
    CHECK(il != NULL, "inlink");
    uint64_t subs_before = 0;
    for (int i = 0; i < 3000 && ts_outlink_subscribers(ol) == 0; i++)
        spin(loop, 0.001, NULL, 0);
    subs_before = ts_outlink_subscribers(ol);
    CHECK(subs_before == 1, "the trusted inlink subscribed (%llu)", (unsigned long long)subs_before);
    publish(ol, 0, 200);
    spin(loop, 10, &a.n, 200);
    CHECK(a.n == 200 && a.bad == 0, "trusted inlink got %d pieces, %d out of order", a.n, a.bad);

    /* Untrusted: a valid CURVE client with an unknown key, and a client without CURVE. */
    char up_pub[41], s_pub[41], s_sec[41];
    snprintf(path, sizeof path, "%s/up.pub", dir);
    read_line(path, up_pub);
    snprintf(path, sizeof path, "%s/stranger.pub", other);
    read_line(path, s_pub);
    snprintf(path, sizeof path, "%s/stranger.secret", other);
    read_line(path, s_sec);
    void *x = stranger(zctx, ep, up_pub, s_pub, s_sec);
    void *y = stranger(zctx, ep, NULL, NULL, NULL);
    for (int i = 0; i < 5000 && ts_curve_rejected() == 0; i++)
        spin(loop, 0.001, NULL, 0);
    spin(loop, 1.0, NULL, 0); /* room for anything that would wrongly get through */
    CHECK(ts_curve_rejected() >= 1, "the ZAP handler refused the unknown key (%llu)",
          (unsigned long long)ts_curve_rejected());
    CHECK(ts_outlink_subscribers(ol) == 1, "only the trusted subscriber is known (%llu)",
          (unsigned long long)ts_outlink_subscribers(ol));
    /* Publish more: the strangers must see none of it. */
    publish(ol, 200, 300);
    spin(loop, 10, &a.n, 300);
    CHECK(a.n == 300 && a.bad == 0, "trusted inlink got %d pieces", a.n);
    CHECK(received(x) == 0, "the unknown key received nothing");
    CHECK(received(y) == 0, "the plain client received nothing");

    zmq_close(x);
    zmq_close(y);
    ts_inlink_destroy(&il);
    ts_outlink_destroy(&ol);
    zmq_ctx_term(zctx);
    ts_curve_fini();
    ev_loop_destroy(loop);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, other);
    CHECK(system(cmd) == 0, "cleanup");
    CHECK_DONE();
}
