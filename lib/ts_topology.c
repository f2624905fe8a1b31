#include "ts_topology.h"
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* Ring sizes: ingest and signer keep about a minute of 16 KiB pieces at 2 Mbit/s, so a restarted
 * signer or swarm is replayed what it missed; the swarm's link to the bridge only bridges a bridge
 * restart (the swarm's window holds the rest). */
const ts_topo_stage_t ts_topo[TS_TOPO_N] = {
    [TS_TOPO_INGEST] = { "ingest", "ts-ingest", "broadcast", "ingest", -1, NULL, 1024 },
    [TS_TOPO_SIGNER] = { "signer", "ts-signer", "broadcast", "signer", TS_TOPO_INGEST, "signer", 1024 },
    [TS_TOPO_SWARM] = { "swarm", "ts-swarm", "*", "swarm", TS_TOPO_SIGNER, "swarm", 256 },
    [TS_TOPO_BRIDGE] = { "player-bridge", "ts-player-bridge", "viewer", NULL, TS_TOPO_SWARM, "bridge", 0 },
};

const char *const ts_topo_key_names[] = { "ingest", "signer", "swarm", "player-bridge", TS_TOPO_SUP, NULL };

const ts_topo_stage_t *ts_topo_find(const char *name)
{
    for (int i = 0; name && i < TS_TOPO_N; i++)
        if (!strcmp(ts_topo[i].name, name))
            return &ts_topo[i];
    return NULL;
}

int ts_topo_ipc(const char *dir, const char *name, char *out, size_t outlen)
{
    struct sockaddr_un un;
    int n = snprintf(out, outlen, "ipc://%s/%s.ipc", dir, name);
    /* sun_path holds the path and its NUL; one byte more is kept spare, as tsctl always did. */
    if (n < 0 || (size_t)n >= outlen || (size_t)n - strlen("ipc://") + 1 >= sizeof un.sun_path)
        return -1;
    return 0;
}
