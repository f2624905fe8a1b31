/* Magnet-link join: fetch a stream's metainfo from its peers (BEP 9 ut_metadata over BEP 10)
 * and keep it only if it hashes to the link's infohash.
 *
 * Peers come from the link's x.pe entries and from announcing to its trackers. Each connection
 * assembles its own copy of the info dict, so a lying peer can spoil only its own copy; the
 * first copy whose SHA-1 is the infohash, and which parses as a tstream, is written out. */
#include "metafetch.h"
#include "announce.h"
#include "ts_buf.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_magnet.h"
#include "ts_metainfo.h"
#include "ts_sock.h"
#include "ts_time.h"
#include "wire.h"
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MF_CONNS 8                  /* connections at once */
#define MF_KNOWN 256                /* distinct peers tried */
#define MF_MD_ID 1                  /* our id for ut_metadata */
#define MF_MSG_MAX (4u << 20)       /* a bitfield of 16 M pieces is 2 MiB; nothing we read is larger */
#define MF_RETRY_NS (1000 * TS_NS_PER_MS)     /* between rounds over peers that all failed */
#define MF_CONN_TIMEOUT_NS (15 * TS_NS_PER_S) /* a peer that has not given the whole dict by then */

typedef struct mf mf_t;

typedef struct {
    mf_t *mf;
    int fd, shaken;           /* shaken: its BitTorrent handshake was right */
    uint32_t ip;
    uint16_t port;
    uint64_t since_ns;
    ev_io io;
    ts_buf_t in, out;
    uint8_t md_id;            /* its id for ut_metadata */
    uint8_t *md;              /* this peer's copy of the info dict */
    size_t md_size, md_pieces, md_have;
    uint8_t *md_got;          /* per 16 KiB piece */
} conn_t;

struct mf {
    struct ev_loop *loop;
    ts_magnet_t mag;
    const char *path;
    uint8_t peer_id[20];
    uint16_t port;
    struct announce *ann[TS_MAGNET_TR_MAX];
    conn_t conns[MF_CONNS];
    struct { uint32_t ip; uint16_t port; int tried; } known[MF_KNOWN];
    int nknown, rc;
    uint64_t retry_ns;        /* when everyone was last made eligible again */
    ev_timer tick, deadline;
    char last_err[256];       /* why the last peer failed: reported if none succeeds */
};

static int active(const conn_t *c) { return c->fd >= 0; }

static void conn_close(conn_t *c, const char *why)
{
    if (!active(c))
        return;
    if (why) {
        struct in_addr a = { htonl(c->ip) };
        snprintf(c->mf->last_err, sizeof c->mf->last_err, "%s:%u: %s", inet_ntoa(a), c->port, why);
        ts_info("metadata: peer %s", c->mf->last_err);
    }
    ev_io_stop(c->mf->loop, &c->io);
    close(c->fd);
    c->fd = -1;
    ts_buf_free(&c->in);
    ts_buf_free(&c->out);
    free(c->md);
    free(c->md_got);
    c->md = c->md_got = NULL;
    c->md_size = c->md_pieces = c->md_have = 0;
}

static void want_write(conn_t *c)
{
    ev_io_stop(c->mf->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ | (c->out.len ? EV_WRITE : 0));
    ev_io_start(c->mf->loop, &c->io);
}

/* All of the dict is here: keep it if it is the one the link names. */
static void md_complete(conn_t *c)
{
    mf_t *mf = c->mf;
    uint8_t h[20];
    SHA1(c->md, c->md_size, h);
    if (memcmp(h, mf->mag.infohash, 20) != 0) {
        conn_close(c, "sent metadata that does not match the infohash");
        return;
    }
    ts_buf_t file;
    ts_buf_init(&file);
    ts_metainfo_t m;
    char err[256];
    const char *tr = mf->mag.ntr ? mf->mag.tr[0] : NULL;
    if (ts_metainfo_wrap(c->md, c->md_size, tr, &file, &m, err, sizeof err) < 0) {
        /* The hash matched, so every peer has this dict: it is not a tstream we can play. */
        ts_error("the metainfo of %s is not a tstream: %s", mf->path, err);
        mf->rc = TS_EXIT_CONFIG;
    } else if (ts_metainfo_write(mf->path, file.data, file.len, err, sizeof err) < 0) {
        ts_error("%s", err);
        mf->rc = TS_EXIT_FAIL;
    } else {
        char ih[41];
        ts_metainfo_hex(m.infohash, ih);
        ts_info("metadata: %zu bytes from %s:%u match infohash %s; stream %s written to %s", c->md_size,
                inet_ntoa((struct in_addr){ htonl(c->ip) }), c->port, ih, m.name, mf->path);
        mf->rc = TS_EXIT_OK;
    }
    ts_metainfo_free(&m);
    ts_buf_free(&file);
    ev_break(mf->loop, EVBREAK_ALL);
}

static void on_md(conn_t *c, const ts_wire_msg_t *w)
{
    ts_wire_md_t md;
    if (ts_wire_parse_metadata(w->data, w->data_len, &md) < 0) {
        conn_close(c, "malformed ut_metadata message");
        return;
    }
    if (md.type == TS_WIRE_MD_REQUEST) {
        if (c->md_id) /* we have nothing to give yet */
            ts_wire_put_metadata(&c->out, c->md_id, TS_WIRE_MD_REJECT, md.piece, 0, NULL, 0);
        return;
    }
    if (md.type == TS_WIRE_MD_REJECT) {
        conn_close(c, "rejected our metadata request");
        return;
    }
    if (md.type != TS_WIRE_MD_DATA)
        return; /* BEP 9: unknown types are ignored */
    size_t want = md.piece + 1 == c->md_pieces ? c->md_size - (size_t)md.piece * TS_WIRE_MD_PIECE : TS_WIRE_MD_PIECE;
    if (!c->md || md.total_size != c->md_size || md.piece >= c->md_pieces || md.data_len != want) {
        conn_close(c, "metadata piece of the wrong size or position");
        return;
    }
    if (c->md_got[md.piece])
        return;
    memcpy(c->md + (size_t)md.piece * TS_WIRE_MD_PIECE, md.data, md.data_len);
    c->md_got[md.piece] = 1;
    if (++c->md_have == c->md_pieces)
        md_complete(c);
}

static void on_ext_handshake(conn_t *c, const ts_wire_msg_t *w)
{
    ts_ext_hs_t x;
    if (ts_wire_parse_ext_handshake(w->data, w->data_len, &x) < 0) {
        conn_close(c, "malformed extension handshake");
        return;
    }
    if (c->md)
        return; /* a repeated handshake: the first one's size stands */
    if (!x.md_id || !x.md_size) {
        conn_close(c, "does not offer the metadata (ut_metadata)");
        return;
    }
    if (x.md_size > TS_METAINFO_FILE_MAX) {
        conn_close(c, "offers metadata larger than a .tstream may be");
        return;
    }
    c->md_id = x.md_id;
    c->md_size = x.md_size;
    c->md_pieces = (c->md_size + TS_WIRE_MD_PIECE - 1) / TS_WIRE_MD_PIECE;
    c->md = malloc(c->md_size);
    c->md_got = calloc(c->md_pieces, 1);
    if (!c->md || !c->md_got) {
        conn_close(c, "out of memory");
        return;
    }
    for (size_t i = 0; i < c->md_pieces; i++)
        ts_wire_put_metadata(&c->out, c->md_id, TS_WIRE_MD_REQUEST, (uint32_t)i, 0, NULL, 0);
}

static void process(conn_t *c)
{
    if (!c->shaken) {
        ts_handshake_t h;
        int rc = ts_wire_handshake_decode(c->in.data, c->in.len, &h);
        if (rc == 1)
            return;
        if (rc < 0) {
            conn_close(c, "not a BitTorrent peer");
            return;
        }
        if (memcmp(h.infohash, c->mf->mag.infohash, 20) != 0) {
            conn_close(c, "answered for another infohash");
            return;
        }
        if (!ts_wire_handshake_ext(&h)) {
            conn_close(c, "does not speak the extension protocol (BEP 10)");
            return;
        }
        c->shaken = 1;
        ts_buf_consume(&c->in, TS_WIRE_HANDSHAKE_LEN);
    }
    size_t off = 0;
    while (active(c)) {
        ts_wire_msg_t w;
        ssize_t n = ts_wire_parse(c->in.data + off, c->in.len - off, MF_MSG_MAX, &w);
        if (n < 0) {
            conn_close(c, "protocol error");
            return;
        }
        if (n == 0)
            break;
        off += (size_t)n;
        if (w.id == TS_WIRE_EXTENDED && w.ext_id == 0)
            on_ext_handshake(c, &w);
        else if (w.id == TS_WIRE_EXTENDED && w.ext_id == MF_MD_ID)
            on_md(c, &w);
        /* HAVEs, bitfields, chokes, ts_live: we want only the dict. */
    }
    if (active(c))
        ts_buf_consume(&c->in, off);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    conn_t *c = w->data;
    if (revents & EV_WRITE) {
        if (ts_sock_connected(c->fd) < 0) {
            conn_close(c, strerror(errno));
            return;
        }
        while (c->out.len) {
            ssize_t n = write(c->fd, c->out.data, c->out.len);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n < 0) {
                conn_close(c, strerror(errno));
                return;
            }
            ts_buf_consume(&c->out, (size_t)n);
        }
    }
    if (revents & EV_READ) {
        /* process() consumes every whole message and ts_wire_parse refuses a length above
         * MF_MSG_MAX, so the buffer stays under one message plus one read. */
        if (ts_buf_reserve(&c->in, 65536) < 0) {
            conn_close(c, "out of memory");
            return;
        }
        ssize_t n = read(c->fd, c->in.data + c->in.len, 65536);
        if (n == 0) {
            conn_close(c, "closed the connection");
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn_close(c, strerror(errno));
            return;
        }
        c->in.len += (size_t)n;
        process(c);
    }
    if (active(c))
        want_write(c);
}

static void dial(mf_t *mf, conn_t *c, uint32_t ip, uint16_t port)
{
    memset(c, 0, sizeof *c);
    c->mf = mf;
    c->ip = ip;
    c->port = port;
    int pending;
    c->fd = ts_sock_connect4(ip, port, 0, &pending);
    if (c->fd < 0) {
        struct in_addr in = { .s_addr = htonl(ip) };
        snprintf(mf->last_err, sizeof mf->last_err, "%s:%u: %s", inet_ntoa(in), port, strerror(errno));
        return;
    }
    c->since_ns = ts_mono_ns();
    ts_buf_init(&c->in);
    ts_buf_init(&c->out);
    ts_handshake_t h;
    memset(&h, 0, sizeof h);
    h.reserved[5] |= 0x10; /* BEP 10 */
    memcpy(h.infohash, mf->mag.infohash, 20);
    memcpy(h.peer_id, mf->peer_id, 20);
    uint8_t hs[TS_WIRE_HANDSHAKE_LEN];
    ts_wire_handshake_encode(&h, hs);
    ts_buf_put(&c->out, hs, sizeof hs);
    ts_ext_hs_t x = { .md_id = MF_MD_ID };
    ts_wire_put_ext_handshake(&c->out, &x);
    ev_io_init(&c->io, on_io, c->fd, EV_READ | EV_WRITE);
    c->io.data = c;
    ev_io_start(mf->loop, &c->io);
}

static void learn(void *arg, uint32_t ip, uint16_t port)
{
    mf_t *mf = arg;
    for (int i = 0; i < mf->nknown; i++)
        if (mf->known[i].ip == ip && mf->known[i].port == port)
            return;
    if (mf->nknown < MF_KNOWN && ip && port) {
        mf->known[mf->nknown].ip = ip;
        mf->known[mf->nknown].port = port;
        mf->known[mf->nknown++].tried = 0;
    }
}

static int count_conns(void *arg)
{
    mf_t *mf = arg;
    int n = 0;
    for (int i = 0; i < MF_CONNS; i++)
        n += active(&mf->conns[i]);
    return n;
}

/* Dial untried peers into free slots; give up on slow ones. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    mf_t *mf = w->data;
    uint64_t now = ts_mono_ns();
    int k = 0;
    for (int i = 0; i < MF_CONNS; i++) {
        conn_t *c = &mf->conns[i];
        if (active(c) && now - c->since_ns > MF_CONN_TIMEOUT_NS)
            conn_close(c, "did not send the metadata in time");
        if (active(c))
            continue;
        while (k < mf->nknown && mf->known[k].tried)
            k++;
        if (k == mf->nknown)
            continue;
        mf->known[k].tried = 1;
        dial(mf, c, mf->known[k].ip, mf->known[k].port);
    }
    /* Everyone tried and gone: try them again a little later (a broadcaster may have been
     * restarting), without hammering a peer that keeps closing on us. */
    if (k == mf->nknown && count_conns(mf) == 0 && now - mf->retry_ns >= MF_RETRY_NS) {
        mf->retry_ns = now;
        for (int i = 0; i < mf->nknown; i++)
            mf->known[i].tried = 0;
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    mf_t *mf = w->data;
    if (mf->nknown == 0)
        ts_error("no peers found for the magnet link in time (%d trackers, %d x.pe peers)", mf->mag.ntr,
                 mf->mag.npe);
    else
        ts_error("no peer gave the metadata in time (%d peers tried); last: %s", mf->nknown,
                 mf->last_err[0] ? mf->last_err : "no answer");
    mf->rc = TS_EXIT_FAIL;
    ev_break(loop, EVBREAK_ALL);
}

int metafetch_run(const char *magnet, const char *path, uint16_t port, double timeout_s)
{
    static mf_t the_mf; /* one per process */
    mf_t *mf = &the_mf;
    char err[256];
    if (ts_magnet_parse(magnet, &mf->mag, err, sizeof err) < 0) {
        fprintf(stderr, "ts-swarm: %s\n", err);
        return TS_EXIT_USAGE;
    }
    if (mf->mag.ntr == 0 && mf->mag.npe == 0) {
        fprintf(stderr, "ts-swarm: the magnet link names no tracker (tr=) and no peer (x.pe=): nowhere to ask\n");
        return TS_EXIT_USAGE;
    }
    mf->path = path;
    mf->port = port;
    mf->rc = TS_EXIT_FAIL;
    memcpy(mf->peer_id, "-TS0001-", 8);
    RAND_bytes(mf->peer_id + 8, 12);
    mf->loop = EV_DEFAULT;
    for (int i = 0; i < MF_CONNS; i++)
        mf->conns[i].fd = -1;
    for (int i = 0; i < mf->mag.npe; i++)
        learn(mf, mf->mag.pe[i].ip, mf->mag.pe[i].port);
    announce_cfg_t ac = { .infohash = mf->mag.infohash, .peer_id = mf->peer_id, .port = port ? port : 6881,
                          .on_peer = learn, .npeers = count_conns, .arg = mf };
    for (int i = 0; i < mf->mag.ntr; i++) {
        if (strncmp(mf->mag.tr[i], "http://", 7) != 0) {
            ts_warn("magnet link: tracker %s skipped (http:// trackers only)", mf->mag.tr[i]);
            continue;
        }
        mf->ann[i] = announce_new(mf->loop, &ac, mf->mag.tr[i]);
    }
    ev_timer_init(&mf->tick, on_tick, 0, 0.1);
    mf->tick.data = mf;
    ev_timer_start(mf->loop, &mf->tick);
    ev_timer_init(&mf->deadline, on_deadline, timeout_s, 0);
    mf->deadline.data = mf;
    ev_timer_start(mf->loop, &mf->deadline);
    ts_info("fetching the metainfo for %s from peers (BEP 9)", magnet);
    ev_run(mf->loop, 0);
    for (int i = 0; i < MF_CONNS; i++)
        conn_close(&mf->conns[i], NULL);
    for (int i = 0; i < TS_MAGNET_TR_MAX; i++)
        announce_destroy(&mf->ann[i]);
    ev_timer_stop(mf->loop, &mf->tick);
    ev_timer_stop(mf->loop, &mf->deadline);
    return mf->rc;
}
