/* lib/ts_topology.c: the process table as the supervisor, the stages and keygen read it; and the
 * shared stage options of lib/ts_stage.c's skeleton (ts_stage_opt). */
#include "check.h"
#include "ts_stage.h"
#include "ts_topology.h"
#include <getopt.h>
#include <string.h>

int main(void)
{
    CHECK(!strcmp(ts_topo[TS_TOPO_INGEST].name, "ingest") && !strcmp(ts_topo[TS_TOPO_BRIDGE].name, "player-bridge"),
          "names");
    CHECK(ts_topo_find("swarm") == &ts_topo[TS_TOPO_SWARM] && !ts_topo_find("sup") && !ts_topo_find(NULL), "find");
    /* the chain: each stage's upstream binds the ipc its inlink connects to */
    for (int i = 0; i < TS_TOPO_N; i++) {
        const ts_topo_stage_t *s = &ts_topo[i];
        CHECK(!strncmp(s->binary, "ts-", 3) && !strcmp(s->binary + 3, s->name), "%s: binary %s", s->name, s->binary);
        CHECK((s->upstream < 0) == (s->link_id == NULL), "%s: link id iff upstream", s->name);
        CHECK(s->upstream < 0 || ts_topo[s->upstream].out_ipc, "%s: upstream has an outlink", s->name);
        CHECK((s->out_ipc == NULL) == (s->out_ring == 0), "%s: ring iff outlink", s->name);
    }
    CHECK(!strcmp(ts_topo[TS_TOPO_BRIDGE].link_id, "bridge") && ts_topo[TS_TOPO_SWARM].out_ring == 256,
          "routing ids and rings as the stages always used");
    int nkeys = 0;
    while (ts_topo_key_names[nkeys])
        nkeys++;
    CHECK(nkeys == TS_TOPO_N + 1 && !strcmp(ts_topo_key_names[TS_TOPO_N], TS_TOPO_SUP), "key names");

    char ep[200];
    CHECK(ts_topo_ipc("/run/ts/x", "signer", ep, sizeof ep) == 0 && !strcmp(ep, "ipc:///run/ts/x/signer.ipc"), "%s",
          ep);
    char dir[120];
    memset(dir, 'd', sizeof dir);
    dir[0] = '/';
    dir[96] = 0; /* 96 + "/signer.ipc" (11) = 107: one byte over tsctl's limit */
    CHECK(ts_topo_ipc(dir, "signer", ep, sizeof ep) < 0, "too long for a unix socket");
    dir[95] = 0;
    CHECK(ts_topo_ipc(dir, "signer", ep, sizeof ep) == 0, "106 bytes fit");
    CHECK(ts_topo_ipc("/x", "signer", ep, 10) < 0, "does not fit the buffer");

    ts_stage_opts_t o = { 0 };
    char err[128] = "";
    CHECK(ts_stage_opt(&o, TS_STAGE_OPT_INSTANCE, "a", err, sizeof err) == 1 && !strcmp(o.instance, "a"), "instance");
    CHECK(ts_stage_opt(&o, TS_STAGE_OPT_METRICS, ":0", err, sizeof err) == 1 && !strcmp(o.metrics, ":0"), "metrics");
    CHECK(ts_stage_opt(&o, TS_STAGE_OPT_EXIT_UNREADY, "30", err, sizeof err) == 1 && o.exit_unready == 30, "unready");
    CHECK(ts_stage_opt(&o, TS_STAGE_OPT_EXIT_UNREADY, "soon", err, sizeof err) == -1 && strstr(err, "exit-unready"),
          "bad unready: %s", err);
    CHECK(ts_stage_opt(&o, 'x', "y", err, sizeof err) == 0, "not ours");
    static const struct option opts[] = { TS_STAGE_LONGOPTS, { 0, 0, 0, 0 } };
    CHECK(!strcmp(opts[4].name, "exit-unready") && opts[5].name == NULL, "long options");
    CHECK_DONE();
}
