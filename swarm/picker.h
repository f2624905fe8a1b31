/* The piece picker (picker.c): which missing piece to request from which holder, hedging near
 * the playback point, request timeouts, and each peer's delivery record (answers, answer time,
 * misses) that orders holders, leaves non-deliverers out for a while and then drops them. */
#ifndef TS_SWARM_PICKER_H
#define TS_SWARM_PICKER_H
#include "swarm.h"

enum { PICK_ASKED, PICK_LATE, PICK_WRONG, PICK_UNASKED, PICK_NEWER };
void pick_all(swarm_t *sw);                                /* request what is missing */
void pick_tick(swarm_t *sw, uint64_t now);                 /* time out overdue requests */
int pick_answer(peer_t *p, uint64_t seq, uint64_t now);    /* a piece came from p: PICK_* */
void pick_got(swarm_t *sw, peer_t *from, uint64_t seq, uint64_t now); /* stored: cancel the other askers */
void pick_wrong(peer_t *p, uint64_t seq, uint64_t now);    /* p answered a request with another seq */
void pick_clear_peer(peer_t *p);                           /* choked or closed: forget its requests */
void pick_cancel_before(swarm_t *sw, uint64_t seq);
void pick_forget_all(swarm_t *sw);
int pick_forgotten(const peer_t *p, uint64_t seq, uint64_t now); /* a late answer to a forgotten request? */
void pick_remember_dropped(swarm_t *sw, uint32_t ip, uint64_t now);
void pick_new_peer(peer_t *p, uint64_t now);              /* a peer completed its handshake */
int pick_snubbed(const peer_t *p, uint64_t now);
void pick_explain(swarm_t *sw, uint64_t now);              /* log why playout waits, when it has long */
void pick_rejected(peer_t *p, uint32_t index, uint64_t now); /* p will not serve our request */
#endif
