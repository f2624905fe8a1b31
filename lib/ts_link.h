/* The piece link between two stages: the upstream stage binds a ROUTER "outlink",
 * the downstream stage connects a DEALER "inlink" under a fixed identity.
 *
 * The downstream subscribes (from a sequence number, or "where I was") and acks
 * what it has handled; the upstream keeps recent pieces in a ring and replays
 * from there. So either side may restart: a restarted downstream resumes after
 * its last ack, and a downstream that hears nothing re-subscribes, which a
 * restarted upstream answers from its ring. Receivers drop duplicates by seq.
 *
 * Every subscribe also says which piece the subscriber holds newest (seq, src_offset,
 * timestamp), so a restarted ingest continues right after it (docs/PROTOCOL.md section 7).
 *
 * Liveness: the upstream answers every subscribe (an idle downstream sends one every 0.25 s) with
 * an ACK naming its newest seq, even with no piece to send; the downstream repeats its newest ack
 * every second while it has one. So each end knows when it last heard from the other, idle or
 * not, and readiness checks can ask (ts_inlink_alive, ts_outlink_alive_subscribers). */
#ifndef TS_LINK_H
#define TS_LINK_H
#include <ev.h>
#include "ts_time.h"
#include <stdint.h>
#include "ts_msg.h"

/* The window stages judge their links by ("connected" = heard from within it). */
#define TS_LINK_ALIVE_NS (5 * TS_NS_PER_S)

typedef struct ts_outlink ts_outlink_t;
/* Where a subscriber that names no start and is not known should start (a seq). */
typedef uint64_t ts_outlink_start_fn(void *arg);
/* A subscriber acked seq. */
typedef void ts_outlink_ack_fn(const char *subscriber, uint64_t seq, void *arg);
/* A subscriber subscribed; called before it is positioned, so the callee may truncate. */
typedef void ts_outlink_sub_fn(const char *subscriber, const Ts__Subscribe *sub, void *arg);

ts_outlink_t *ts_outlink_new(struct ev_loop *loop, void *zctx, const char *endpoint, size_t capacity,
                             ts_outlink_start_fn *start, ts_outlink_ack_fn *on_ack, void *arg);
void ts_outlink_destroy(ts_outlink_t **self);
/* Append a piece (seq must grow) and send it to subscribers that are caught up. 0, or -1 if out of order. */
int ts_outlink_publish(ts_outlink_t *ol, const Ts__Piece *p);
uint64_t ts_outlink_pieces_out(const ts_outlink_t *ol);
uint64_t ts_outlink_subscribers(const ts_outlink_t *ol);
/* Subscribers heard from (a subscribe or an ack) within the last within_ns. */
uint64_t ts_outlink_alive_subscribers(const ts_outlink_t *ol, uint64_t within_ns);
/* Highest seq any subscriber acked (0 if none). */
uint64_t ts_outlink_max_acked(const ts_outlink_t *ol);
void ts_outlink_on_subscribe(ts_outlink_t *ol, ts_outlink_sub_fn *fn, void *arg);
/* Is seq held? 1 and its src_offset in *off (*has_off 0 if it had none), else 0. */
int ts_outlink_lookup(const ts_outlink_t *ol, uint64_t seq, int *has_off, uint64_t *off);
/* Forget every held piece above seq; the next publish must be above seq (a rewind). */
void ts_outlink_truncate(ts_outlink_t *ol, uint64_t seq);

typedef struct ts_inlink ts_inlink_t;
typedef void ts_inlink_piece_fn(const Ts__Piece *p, void *arg);

/* has_from = 0: let the upstream choose (resume after our last ack, or its default start).
 * upstream names the stage we connect to (its CURVE key, for a tcp:// endpoint).
 * The first subscribe goes out on the next loop turn, so setters called right after apply. */
ts_inlink_t *ts_inlink_new(struct ev_loop *loop, void *zctx, const char *endpoint, const char *identity,
                           const char *upstream, int has_from, uint64_t from, ts_inlink_piece_fn *fn, void *arg);
void ts_inlink_destroy(ts_inlink_t **self);
/* Everything up to seq is handled; sent to the upstream within a few milliseconds. */
void ts_inlink_ack(ts_inlink_t *il, uint64_t seq);
uint64_t ts_inlink_pieces_in(const ts_inlink_t *il);
/* 1 if the upstream was heard from (a piece, or the reply to a subscribe) within the last
 * within_ns, else 0 (also before it ever answered). */
int ts_inlink_alive(const ts_inlink_t *il, uint64_t within_ns);
/* A stage below us holds seq (ending at src offset off if has_off, stamped ts_us): if that is newer
 * than what we received, take it as our newest (older pieces are then duplicates) and subscribe
 * again at once, so the upstream learns it. */
void ts_inlink_hint(ts_inlink_t *il, uint64_t seq, int has_off, uint64_t off, uint64_t ts_us);
/* Require each piece to start where the previous one ended (src_offset - payload length), unless it
 * is flagged DISCONT: a piece that does not is dropped and we subscribe again, telling the upstream
 * what we hold, so it can rewind (an ingest restarted while an older piece was still in flight). */
void ts_inlink_check_offsets(ts_inlink_t *il, int on);
/* Pieces dropped by that check. */
uint64_t ts_inlink_discontinuities(const ts_inlink_t *il);
#endif
