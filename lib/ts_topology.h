/* The process topology of an instance, as data: which stages there are, what each is called where,
 * how they are wired. Every place that spells a stage's name, binary, ipc endpoint, ZeroMQ routing
 * id or ring size takes it from here (supervisor, the four stages, keygen).
 *
 *   ingest --[ingest.ipc]--> signer --[signer.ipc]--> swarm --[swarm.ipc]--> player-bridge
 *   (each arrow: the upstream's outlink, a ROUTER bound on ipc://DIR/NAME.ipc, which the
 *   downstream's inlink, a DEALER, connects to under its routing id)
 *   every stage --DEALER "stage:<name>"--> [sup.ipc] the supervisor (tsctl)
 *
 * A stage's name is at once its log identity, its heartbeat and metrics label, its CURVE key file
 * name (DIR/<name>.secret, DIR/<name>.pub) and the suffix of its supervisor routing id. */
#ifndef TS_TOPOLOGY_H
#define TS_TOPOLOGY_H
#include <stddef.h>

typedef enum { TS_TOPO_INGEST, TS_TOPO_SIGNER, TS_TOPO_SWARM, TS_TOPO_BRIDGE, TS_TOPO_N } ts_topo_id_t;

typedef struct {
    const char *name;    /* "ingest", "signer", "swarm", "player-bridge" */
    const char *binary;  /* "ts-ingest", ... (in the directory of tsctl) */
    const char *role;    /* instance role that runs it: "broadcast", "viewer", or "*" for every role */
    const char *out_ipc; /* NAME in ipc://DIR/NAME.ipc where its outlink binds; NULL: it has none */
    int upstream;        /* ts_topo_id_t its inlink subscribes to; -1: none (ingest reads a source) */
    const char *link_id; /* ZeroMQ routing id of its inlink at the upstream's outlink; NULL: none */
    size_t out_ring;     /* pieces its outlink keeps for replay to a restarted downstream; 0: none */
} ts_topo_stage_t;

/* In start order (ingest first); indexed by ts_topo_id_t. */
extern const ts_topo_stage_t ts_topo[TS_TOPO_N];

/* The supervisor: its ipc endpoint NAME and CURVE key name, and the routing-id prefix of stages. */
#define TS_TOPO_SUP "sup"
#define TS_TOPO_SUP_ID_PREFIX "stage:"

/* The stage called name, or NULL. */
const ts_topo_stage_t *ts_topo_find(const char *name);
/* "ipc://DIR/NAME.ipc" in out. 0, or -1 if it does not fit or is too long for a unix socket path. */
int ts_topo_ipc(const char *dir, const char *name, char *out, size_t outlen);
/* Names of every CURVE key an instance needs (the four stages, then the supervisor), NULL-ended. */
extern const char *const ts_topo_key_names[];
#endif
