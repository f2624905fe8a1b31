/* The swarm process assembled (run.c): state from the metainfo, the peer port, the links to the
 * signer and player-bridge, the tracker (embedded or client), the timers with the tick that
 * drives every part, the hooks that let lower files call up, and the counters reported. */
#ifndef TS_SWARM_RUN_H
#define TS_SWARM_RUN_H
#include "swarm.h"
#include "ts_stage.h"

typedef struct {
    const char *tstream, *in_ep, *out_ep, *bind_addr;
    int embedded; /* answer tracker announces on the peer port */
} swarm_cfg_t;

/* Load the metainfo and size everything from it (sw->port, max_peers, up_rate, announce_ip,
 * bind_ip, is_source and seeder are set by the caller). 0, or an exit code after logging why. */
int swarm_load(swarm_t *sw, const swarm_cfg_t *cfg);
/* Sockets, links, tracker, timers and counters on sw->loop. 0, or an exit code after logging. */
int swarm_open(swarm_t *sw, const swarm_cfg_t *cfg, void *zctx, ts_stage_t *st);
void swarm_close(swarm_t *sw); /* peers, tracker and links: before the ZeroMQ context goes */
void swarm_free(swarm_t *sw);  /* the rest */
#endif
