/* State shared by the swarm process's files: the tunables, one peer_t per connection and the
 * swarm_t of the process. Which file owns what (each header says more; calls go only downwards,
 * the two hooks below are set by run.c):
 *   swarm.c main: options           run.c: assembly, timers, the tick
 *   dispatch.c: wire messages       playout.c: hook-in, delivery to the bridge; source.c: signer in
 *   fanout.c: HAVEs, upload cap     picker.c: requests, delivery records    g2g.c: give-to-get
 *   known.c: bans, listen, dial, PEX  guard.c: admission budgets    edge.c: our edge, plausible edge
 *   peer.c: one connection          wire.c: codec   tracker.c / announce.c: tracker server / client
 *   metafetch.c: magnet-link join (ts-swarm --fetch-metainfo)
 *   portmap.c: port mapping on the home router (a worker thread)   reach.c: reachability
 *   holepunch.c: ut_holepunch (BEP 55) relay and punches, PEX flags of known peers
 *   uprate.c: upload pacing by our uplink's queueing delay when no --max-upload was given
 *   peerlist.c: each connected peer with its rates, for the heartbeat */
#ifndef TS_SWARM_H
#define TS_SWARM_H
#include <ev.h>
#include <netinet/in.h>
#include <stdint.h>
#include "ts_buf.h"
#include "ts_link.h"
#include "ts_metainfo.h"
#include "ts_piece.h"
#include "ts_sock.h"
#include "ts_time.h"
#include "ts_window.h"
#include "announce.h"
#include "reach.h"
#include "tracker.h"
#include "wire.h"

#define SW_MAX_PEERS_DEFAULT 24            /* connections accepted */
#define SW_OUT_TARGET 8                    /* connections we dial: a sparse mesh keeps HAVE traffic small */
#define SW_PIPELINE 8                    /* requests outstanding per peer */
#define SW_REQ_TIMEOUT_NS (3000 * TS_NS_PER_MS) /* longest a request waits (a proven but slow peer) */
#define SW_SRC_RESEND_NS (10 * TS_NS_PER_S) /* a request to the broadcaster unanswered this long: asked again */
#define SW_UNPROVEN_TIMEOUT_NS (1000 * TS_NS_PER_MS) /* ... to a peer that has answered nothing yet */
#define SW_PRIOR_ANSWER_NS (50 * TS_NS_PER_MS) /* answer time assumed of a peer not yet heard from */
#define SW_HEDGE_SPAN 16                   /* pieces past the playback point that get another holder
                                            * asked too when the first one is late */
#define SW_MAX_ASKED 3                     /* holders asked for one piece at once */
#define SW_SNUB_FAILS 4                    /* requests unanswered in a row: left out of the picker */
#define SW_SNUB_NS (5000 * TS_NS_PER_MS)     /* ... this long; failing again after that: disconnected */
#define SW_EXPLAIN_NS (5000 * TS_NS_PER_MS)  /* playout waiting this long on a piece a peer has: logged why */
#define SW_MAX_DROPPED 64                  /* addresses dropped for not delivering, remembered ... */
#define SW_DROPPED_NS (60 * TS_NS_PER_S) /* ... this long: they come back on probation */
#define SW_CANCELLED 64                    /* cancelled requests remembered per peer (late answers) */
#define SW_RQ_MAX 64                       /* requests queued from one peer */
#define SW_SENT_MAX 32                     /* broadcaster: pieces per peer awaiting its TCP ack */
#define SW_SRC_FANOUT 1                    /* viewers the broadcaster first tells of a new piece */
#define SW_SRC_HAVE_DELAY_NS (1000 * TS_NS_PER_MS) /* then everyone, in case it did not spread */
#define SW_SRC_EARLY_NS (100 * TS_NS_PER_MS) /* ... or everyone at once if nobody else announced it by
                                            * then (until the spread delay is measured) */
#define SW_SRC_EARLY_MIN_NS (100 * TS_NS_PER_MS)
#define SW_G2G_TRIALS 8                    /* first-recipient turns before a peer can count as a
                                            * free-rider (nothing it got first ever spread) */
#define SW_FANOUT_MIN 2                    /* viewers: peers told of a new piece at once ... */
#define SW_FANOUT_MAX 4
#define SW_HAVE_DELAY_NS (200 * TS_NS_PER_MS) /* ... and the rest once our upload is idle, at most this later */
#define SW_HAVE_MIN_NS (5 * TS_NS_PER_MS)     /* ... but not before the first ones could ask */
#define SW_SRC_URGENT_NS (500 * TS_NS_PER_MS) /* playout blocked this long: fetch from the source too */
#define SW_SKIP_NS (2000 * TS_NS_PER_MS)   /* a missing piece blocks playout at most this long */
#define SW_BEHIND_US (8000000ull)        /* playout this far behind the newest piece held ... */
#define SW_BEHIND_HOLD_NS (4000 * TS_NS_PER_MS) /* ... for this long on end: re-tune */
#define SW_GAP_NS (3000 * TS_NS_PER_MS)    /* our loop stood still this long (SIGSTOP, suspend): re-tune */
#define SW_GAP_SETTLE_NS (300 * TS_NS_PER_MS) /* ... once the backlog on our sockets has been read */
#define SW_HOOK_STUCK_NS (5000 * TS_NS_PER_MS) /* hooked this long, nothing played, verified pieces only
                                              * below the hook point: the claim we hooked on was false */
#define SW_NOTSENT_LOWAT 4096              /* unsent bytes below which a peer socket takes more */
#define SW_OUT_SMALL 1024                  /* a peer's send queue holds no piece: room for one */
#define SW_FORGOT_GRACE_NS (30 * TS_NS_PER_S) /* a piece we asked for and then forgot may come this late */
#define SW_OUTBUF_HARD (16u << 20)       /* a peer that reads nothing: closed */
#define SW_MAX_KNOWN 256
#define SW_KNOWN_RELAYS 4                  /* peers remembered per known address as having told us of it */
#define SW_OUT_TARGET_UNREACHABLE 16       /* dial target of a peer nobody can dial (sw->reach NO) */
#define SW_BAN_NS (300 * TS_NS_PER_S)    /* an offender's address is kept out this long */
#define SW_MAX_BANS 256
#define SW_MAX_PER_IP 8                    /* connections from one address (127.0.0.1 exempt) */
#define SW_ADMIT_PREFIX_RATE 10.0          /* new peer connections per second from one /24 ... */
#define SW_ADMIT_RATE 50.0                 /* ... and from everywhere (bursts of twice that) */
#define SW_VFAIL_PREFIX_RATE 5.0           /* failed signature checks per second from one /24 ... */
#define SW_VFAIL_RATE 20.0                 /* ... and from everywhere, before untried peers' pieces
                                            * are dropped unverified (bursts of twice that) */
#define SW_GUARD_PREFIXES 256              /* /24 prefixes whose budgets are tracked */
#define SW_HANDSHAKE_NS (10 * TS_NS_PER_S) /* to send a whole handshake */
#define SW_PARTIAL_NS (20 * TS_NS_PER_S) /* for a started message to arrive whole */
#define SW_JUNK_MAX 64                     /* useless messages tolerated per peer (see peer_junk) */
#define SW_PEX_NS (30 * TS_NS_PER_S)     /* peer exchange period */
#define SW_DUP_SETTLED_NS (2 * TS_NS_PER_S) /* a connection this old is kept over a second one */
#define SW_IDLE_NS (120 * TS_NS_PER_S)
/* push (push.c, PROTOCOL.md "ts_push") */
#define SW_QUEUE_MAX_NS (250 * TS_NS_PER_MS) /* a capped server rejects a request that would wait
                                             * longer in its upload queue (fanout_admit) */
#define SW_REJECT_BACKOFF_NS (200 * TS_NS_PER_MS) /* a peer that rejected a request is not asked
                                                   * again this long (but when playout waits) */
#define SW_RQ_PUSH 0x80000000u             /* an rq entry we push unrequested, not one it asked for */
#define SW_PUSH_PER_PIECE 1                /* children a holder pushes a piece to (the rest: HAVE), and
                                            * only a piece it got from the broadcaster (push.c) */
#define SW_PUSH_FRESH 8                    /* pushed: only pieces this close to our edge ... */
#define SW_PUSH_AHEAD 64                   /* ... to a child whose edge is at most this far behind */
#define SW_PUSH_GRACE_MAX_NS (100 * TS_NS_PER_MS) /* longest a new piece waits for an expected push */
#define SW_PUSH_EXPECT_NS (2000 * TS_NS_PER_MS) /* pushes are expected while one came this recently */
#define SW_SRC_LATE_MIN_NS (250 * TS_NS_PER_MS) /* the broadcaster's late HAVEs: measured, this floor */

typedef struct swarm swarm_t;
typedef struct peer peer_t;

enum { PEER_SNIFF, PEER_HANDSHAKE, PEER_ACTIVE, PEER_HTTP, PEER_CONNECTING };

struct peer {
    swarm_t *sw;
    int fd, state, outgoing;
    struct sockaddr_in addr;
    ev_io rio, wio;
    ts_buf_t in, out;
    uint8_t id[20];
    int ext;                 /* peer speaks BEP 10 */
    uint8_t live_id;         /* its id for our ts_live message, 0 = none */
    uint8_t pex_id;          /* its id for ut_pex, 0 = none */
    uint8_t md_id;           /* its id for ut_metadata, 0 = none */
    uint64_t md_served;      /* metadata pieces sent to it */
    uint64_t pex_ns;         /* when we last sent it our peers */
    int am_choking, am_interested, peer_choking, peer_interested;
    int has_edge, has_rap;   /* has_rap: it told us its newest random-access point (handshake, ts_live) */
    int told_edge;           /* we told it our edge (handshake or ts_live): it can place our HAVEs */
    uint64_t edge, rap;      /* newest seq and newest random-access seq it holds */
    uint64_t *has;           /* per index: seq + 1 of the piece it holds there, 0 = none */
    struct sw_req { uint64_t seq, sent_ns; int timed_out; } req[SW_PIPELINE]; /* our requests outstanding to it */
    int nreq;
    struct sw_req cancelled[SW_CANCELLED]; /* requests we cancelled: a piece for one is a late answer */
    int cancelled_pos;
    uint64_t asked_max;      /* highest seq + 1 we ever asked it for */
    uint64_t forgot_ns;      /* when we last dropped a request to it unanswered (cancel, re-tune) */
    uint64_t stalled_ns;     /* when our loop resumed after standing still with it connected */
    uint64_t *told;          /* per index: seq + 1 of the piece we announced to it (no repeats) */
    /* delivery record (picker.c): what its answers are worth */
    uint64_t answered, timeouts, wrong, good_pieces;
    double ans_ns;           /* mean answer time (EWMA), valid once answered > 0 */
    uint32_t fails;          /* requests unanswered in a row */
    uint32_t snubs;          /* times left out of the picker with no answer since */
    uint64_t snub_until_ns;  /* left out of the picker until then */
    /* broadcaster: does what it gets first spread? (give-to-get) */
    uint64_t g2g_first, g2g_credit, g2g_miss;
    uint64_t g2g_reports;    /* times it showed it got a piece from another peer first */
    int g2g_poor;
    uint64_t serial;         /* unique per connection in this process */
    int admitted;            /* counted against the admission budget when accepted */
    int announced;           /* "connected" logged at info: its close is too (else at debug) */
    int source;              /* it is the broadcaster */
    uint32_t rq[SW_RQ_MAX];  /* its requests to us, served in order under the upload cap */
    int rq_head, rq_len;
    uint16_t listen_port;    /* where it accepts connections: dialled port, or "p" of its ext handshake */
    uint64_t connected_ns, last_rx_ns, last_tx_ns, bytes_up, bytes_down;
    uint64_t partial_since_ns; /* a message has been arriving since then; 0 = none pending */
    uint64_t junk;             /* repeated HAVEs, unrequested duplicates, requests we cannot serve */
    int push;                  /* it announced "ts_push": 1 (takes pieces unrequested) */
    int reject;                /* it announced "ts_reject": 1 (reads REJECT_REQUEST) */
    uint64_t reject_until_ns;  /* it rejected a request of ours: not asked again before this */
    uint64_t rejected[16];     /* seq + 1 of its last requests we rejected: asked again, served */
    int rejected_pos;
    uint64_t decay_ns;         /* junk and give-to-get counts are halved every 10 s */
    uint8_t hp_id;             /* its id for ut_holepunch (BEP 55), 0 = none */
    int punch;                 /* the connection came from a hole punch (holepunch.c) */
    double hp_tokens;          /* rendezvous / unsolicited connects it may still ask of us (holepunch.c) */
    uint64_t hp_last_ns;
    /* broadcaster: pieces sent to it, safe to ack once its kernel has acknowledged their bytes
     * (source.c); end = bytes_up once the piece is written, a ring of the newest SW_SENT_MAX */
    struct sw_sent { uint64_t seq, end; } sent[SW_SENT_MAX];
    int sent_head, sent_len;
    uint64_t upr_acked;        /* its TCP_INFO bytes_acked when last taken as a sample (uprate.c) */
    uint32_t upr_pace;         /* SO_MAX_PACING_RATE set on its socket, B/s; 0 = not paced (uprate.c) */
    char client[TS_WIRE_CLIENT_LEN]; /* its BEP 10 "v", printable ("" = none) */
    uint64_t pl_ns, pl_up, pl_down; /* the last rate sample: when (0 = none), bytes_up, bytes_down (peerlist.c) */
    double up_bps, down_bps;   /* bit/s over the last sample's interval (peerlist.c) */
    peer_t *next;
};

struct swarm {
    struct ev_loop *loop;
    ts_metainfo_t meta;
    uint64_t n;               /* pieces in the index space */
    ts_verifier_t *verifier;
    ts_window_t *win;
    int is_source, seeder; /* seeder: a viewer without a player-bridge (tsctl seed) */
    uint8_t peer_id[20];
    uint16_t port;
    uint32_t announce_ip;     /* host order; how others reach us */
    uint32_t bind_ip;         /* host order; nonzero: listen on and dial from this address */
    uint64_t next_serial;
    int max_peers;
    ts_acceptor_t *acceptor;  /* the peer port; rests while out of descriptors or while the overall
                               * admission budget refills */
    ev_timer tick;
    peer_t *peers;
    /* peers we know to listen somewhere (tracker, handshakes): redialled when not connected */
    struct known { uint32_t ip; uint16_t port; uint64_t next_ns; int fails;
        uint8_t flags;                     /* PEX added.f as peers told us (TS_WIRE_PEX_*), ORed */
        uint64_t relay[SW_KNOWN_RELAYS];   /* serials of peers that told us of it (punch relays) */
        uint8_t alias_of[20];              /* a dial here reached this peer id by another address */
        int is_alias;                      /* (alias_of valid): not dialled while it is connected */
    } known[SW_MAX_KNOWN];
    int nknown;
    struct ban { uint32_t ip; uint64_t until_ns; } bans[SW_MAX_BANS], dropped[SW_MAX_DROPPED]; /* host order */
    /* budgets per /24 and overall (guard.c) */
    struct sw_bucket { uint32_t prefix; double admit, vfail; uint64_t last_ns; } guard[SW_GUARD_PREFIXES];
    struct sw_bucket guard_all;
    int pick_pending;         /* run the picker before the loop waits (coalesces HAVE bursts) */
    void (*on_input)(peer_t *p);  /* bytes arrived in p->in (the wire dispatch) */
    void (*on_closed)(peer_t *p); /* p is being closed (the picker forgets its requests) */
    int (*has_room)(peer_t *p);   /* another queued piece may go to p's socket (fanout_room) */
    void (*serve)(swarm_t *sw);   /* send queued pieces (fanout_serve) */
    ts_tracker_t *tracker;    /* embedded tracker (broadcaster) */
    struct announce *ann;     /* tracker client */
    ts_inlink_t *in;          /* broadcaster: signed pieces from the signer */
    uint64_t *src_safe;       /* broadcaster, per index: seq + 1 once a peer has that piece */
    uint64_t ack_next;        /* broadcaster: first seq not yet acked to the signer */
    ts_outlink_t *out;        /* verified pieces, in order, to the player-bridge */
    /* requests in flight, per index: for seq req_seq - 1, to req_cnt peers (their req lists say whom) */
    uint64_t *req_seq;
    uint8_t *req_cnt;
    /* what we hold */
    int has_edge, has_rap;
    uint64_t edge, rap;
    uint64_t edge_ns;         /* when our edge last advanced */
    uint64_t edge_ts_us;      /* the signed timestamp of our edge piece */
    uint64_t rate_seq, rate_ts; /* anchor for measuring the piece rate from signed timestamps */
    double rate_pps;          /* pieces per second of stream time, 0 = not measured yet */
    /* broadcaster: the first recipient of each new piece, per index (give-to-get) */
    struct sw_first { uint64_t seq1, serial, t0_ns, req_ns, served_ns; int credited, missed; } *first;
    double spread_ns;         /* mean delay until another peer shows it got a piece from the first recipient */
    /* playout */
    int hooked, hook_voted;  /* hook_voted: on peers' claims (hook_target), not yet confirmed by a piece */
    uint64_t play_seq, hook_seq, blocked_since_ns;
    uint64_t wait_seq, wait_since_ns, wait_logged_ns; /* the piece playout waits on (pick_explain) */
    uint64_t behind_since_ns; /* playout first seen SW_BEHIND_US behind the newest piece held; 0 = not */
    uint64_t last_tick_ns, retune_at_ns; /* loop-gap detection; retune_at_ns 0 = none pending */
    uint64_t hooked_ns, hook_delivered;  /* when we last hooked in, and c_delivered then */
    uint64_t start_ns;
    int has_want;
    uint64_t want_seq;        /* where the player-bridge left off (a restarted swarm resumes there) */
    /* upload cap (token bucket over piece messages); rate 0 = none */
    double up_rate, up_tokens, up_burst;
    uint64_t up_last_ns;
    ev_timer up_timer;
    peer_t *serve_next;       /* round-robin position */
    /* what our upload actually drains while requests wait (fanout_tick): the queue's speed */
    double drain_bps;         /* B/s, 0 = not yet seen backlogged */
    uint64_t drain_last_ns, drain_bytes;
    int drain_backlog;        /* requests were waiting at the last sample */
    /* new pieces not yet announced to every peer */
    struct { uint64_t seq, min_ns, max_ns; } pending_have[64]; /* unordered */
    int npending_have;
    ev_timer have_timer;      /* fires at the earliest pending_have's min_ns */
    ev_prepare flush_prep;    /* writes what was queued to peers, once per loop turn */
    int fanout;               /* peers told of a new piece at once */
    /* counters (reported to the supervisor) */
    uint64_t c_payload_up, c_payload_down, c_seq, c_pieces_in, c_pieces_up, c_bytes_up, c_bytes_down, c_peers, c_bad_pieces,
        c_delivered, c_skipped, c_announces, c_banned;
    uint64_t c_req_timeouts, c_wrong_pieces, c_answers_gone, c_peers_dropped, c_verify_shed;
    uint64_t c_accept_pauses; /* the acceptor rested for lack of descriptors or memory */
    uint64_t c_verify_failed; /* on /metrics only: pieces failing ts_verifier_check */
    uint64_t c_md_served;     /* on /metrics only: ut_metadata pieces sent (magnet-link joins) */
    /* off the loopback (issue 15): whether others can reach us, port mapping, hole punching */
    uint64_t reach;           /* SW_REACH_*: a gauge, reported as "reachable" */
    uint32_t ext_ip;          /* host order: our address as others see it (mapping or yourip), 0 = unknown */
    uint16_t ext_port;        /* where others reach our peer port from outside (mapped), 0 = sw->port */
    int no_portmap, no_holepunch; /* --no-port-mapping, --no-holepunch */
    uint64_t c_incoming;      /* connections accepted from a non-loopback address */
    uint64_t c_portmap_ok, c_portmap_fail; /* port mappings made or renewed, attempts that failed */
    uint64_t c_punch_attempts, c_punch_ok, c_punch_relayed; /* hole punches begun, connected, relayed for others */
    struct sw_hp *hp;         /* hole punches under way (holepunch.c), NULL until the first */
    uint64_t c_rejects_up, c_rejects_in; /* requests we rejected (queue too long), rejections we got */
    uint64_t c_pushed_up, c_pushed_in; /* pieces pushed unrequested to children, taken from parents */
    reach_ev_t reach_ev;      /* what reach.c decides sw->reach from */
    struct portmap *pm;       /* the port-mapping worker (portmap.c), NULL = none */
    uint64_t c_portmap_via, c_ext_ip, c_ext_port; /* heartbeat copies: PM_* method, ext_ip, ext_port */
    /* push and the per-hop record (push.c) */
    int push_off;             /* TS_PUSH_OFF in the environment (benches): 1 neither push nor take pushes, nor
                               * the measured announcement timing (the behaviour before); 2 ("push"): no push */
    struct sw_seen { uint64_t seq1, have_ns, req_ns; int from_src; } *seen; /* per index: first HAVE,
                              * first request, whether the piece came to us from the broadcaster */
    double push_late_ns;      /* mean time a push arrives after the first HAVE of its piece */
    double push_share;        /* share of the new pieces we store that came pushed (EWMA) */
    uint64_t push_in_ns;      /* when a push last arrived */
    ev_timer push_timer;      /* re-picks once the grace for an expected push is over */
    void *hop_log;            /* TS_HOP_LOG=DIR: a line per piece received (FILE *) */
    double first_rtt_ns;      /* broadcaster: mean TCP round trip (TCP_INFO) to its first recipients */
    uint64_t c_push_dup;      /* pushes of pieces we already held */
    uint64_t c_dup_conns;     /* connections closed as a second one to a peer already connected */
    /* upload pacing by queueing delay (uprate.c), NULL = off (--max-upload given) */
    struct uprate *upr;
    uint64_t c_up_rate_auto;  /* gauge: the paced rate, bit/s, 0 = unlimited */
    uint64_t c_up_decreases;  /* multiplicative decreases of it */
    struct peerlist *plist;   /* the heartbeat's peer list (peerlist.c), NULL until the first */
};

/* sw->reach */
enum { SW_REACH_UNKNOWN = 0, SW_REACH_NO = 1, SW_REACH_DIRECT = 2, SW_REACH_MAPPED = 3 };

#endif
