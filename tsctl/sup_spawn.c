#include "sup_spawn.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_topology.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the process table */

static void arg(proc_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(proc_t *p, const char *fmt, ...)
{
    if (p->argc >= SUP_MAX_ARGS)
        return;
    char buf[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->argv[p->argc++] = strdup(buf);
    p->argv[p->argc] = NULL;
}

static void common_args(sup_t *s, proc_t *p)
{
    arg(p, "--instance");
    arg(p, "%s", inst_get(&s->inst, "name"));
    arg(p, "--supervisor");
    arg(p, "%s", s->ep_sup);
    /* Port 0: the kernel picks a free one atomically; the stage reports it in its heartbeats. */
    arg(p, "--metrics");
    arg(p, "127.0.0.1:0");
}

/* --out: where stage id's outlink binds; --in: where its upstream's does (lib/ts_topology.h). */
static void arg_out(sup_t *s, proc_t *p, ts_topo_id_t id)
{
    arg(p, "--out");
    arg(p, "ipc://%s/%s.ipc", s->inst.dir, ts_topo[id].out_ipc);
}

static void arg_in(sup_t *s, proc_t *p, ts_topo_id_t id)
{
    arg(p, "--in");
    arg(p, "ipc://%s/%s.ipc", s->inst.dir, ts_topo[ts_topo[id].upstream].out_ipc);
}

static void build_ingest(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir, *br = inst_get(&s->inst, "bitrate");
    const char *src = inst_get(&s->inst, "source");
    if (src && strstr(src, "passphrase=")) { /* off the command line, which any local user reads */
        free(p->env);
        if (asprintf(&p->env, "TS_INGEST_SOURCE=%s", src) < 0)
            p->env = NULL;
        arg(p, "--source-env"); arg(p, "TS_INGEST_SOURCE");
    } else {
        arg(p, "--source"); arg(p, "%s", src);
    }
    arg_out(s, p, TS_TOPO_INGEST);
    arg(p, "--piece-size"); arg(p, "%s", inst_get(&s->inst, "piece_size"));
    if (br && *br) { arg(p, "--bitrate"); arg(p, "%s", br); }
    const char *rep = inst_get(&s->inst, "loop");
    if (rep && strcmp(rep, "1") == 0) arg(p, "--loop");
    arg(p, "--state-dir"); arg(p, "%s", d);
}

static void build_signer(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir;
    arg(p, "--key"); arg(p, "%s/key.pem", d);
    arg(p, "--tstream"); arg(p, "%s/stream.tstream", d);
    arg_in(s, p, TS_TOPO_SIGNER);
    arg_out(s, p, TS_TOPO_SIGNER);
}

static void build_swarm(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir, *role = inst_get(&s->inst, "role"), *emb = inst_get(&s->inst, "embedded_tracker");
    arg(p, "--tstream"); arg(p, "%s/stream.tstream", d);
    arg_out(s, p, TS_TOPO_SWARM);
    arg(p, "--port"); arg(p, "%s", inst_get(&s->inst, "port"));
    if (strcmp(role, "broadcast") == 0) arg_in(s, p, TS_TOPO_SWARM); /* a viewer's swarm has peers instead */
    if (emb && strcmp(emb, "1") == 0) arg(p, "--embedded-tracker");
    if (strcmp(role, "seed") == 0) arg(p, "--seeder");
    const char *ah = inst_get(&s->inst, "announce_host"), *up = inst_get(&s->inst, "max_upload");
    if (ah && *ah) { arg(p, "--announce-host"); arg(p, "%s", ah); }
    if (up && strcmp(up, "0") != 0) { arg(p, "--max-upload"); arg(p, "%s", up); }
    const char *bind = inst_get(&s->inst, "bind");
    if (bind && *bind) { arg(p, "--bind"); arg(p, "%s", bind); }
    const char *npm = inst_get(&s->inst, "no_port_mapping"), *nhp = inst_get(&s->inst, "no_holepunch");
    if (npm && strcmp(npm, "1") == 0) arg(p, "--no-port-mapping");
    if (nhp && strcmp(nhp, "1") == 0) arg(p, "--no-holepunch");
}

static void build_bridge(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir, *out = inst_get(&s->inst, "output");
    arg_in(s, p, TS_TOPO_BRIDGE);
    arg(p, "--http"); arg(p, "%s", inst_get(&s->inst, "http"));
    arg(p, "--path"); arg(p, "/%s.ts", inst_get(&s->inst, "stream"));
    const char *stats = inst_get(&s->inst, "stats");
    if (out && *out) { arg(p, "--output"); arg(p, "%s", out); }
    if (stats && *stats) { arg(p, "--stats"); arg(p, "%s", stats); }
    const char *dvr = inst_get(&s->inst, "dvr");
    if (dvr && *dvr) { arg(p, "--dvr"); arg(p, "%s", dvr); }
    arg(p, "--state-dir"); arg(p, "%s", d);
}

/* Each stage's own options; which stages run, in which order, comes from ts_topo. */
static void (*const build[TS_TOPO_N])(sup_t *, proc_t *) = {
    [TS_TOPO_INGEST] = build_ingest,
    [TS_TOPO_SIGNER] = build_signer,
    [TS_TOPO_SWARM] = build_swarm,
    [TS_TOPO_BRIDGE] = build_bridge,
};

int sup_procs_build(sup_t *s, const char *role)
{
    for (int i = 0; i < TS_TOPO_N && s->nprocs < SUP_MAX_PROCS; i++) {
        if (strcmp(ts_topo[i].role, "*") != 0 && strcmp(ts_topo[i].role, role) != 0)
            continue;
        proc_t *p = &s->procs[s->nprocs++];
        p->sup = s;
        p->name = ts_topo[i].name;
        char bin[600];
        inst_binary(ts_topo[i].binary, bin, sizeof bin);
        arg(p, "%s", bin);
        build[i](s, p);
        common_args(s, p);
    }
    return s->nprocs;
}

/* ------------------------------------------------------------------ spawning */

pid_t sup_spawn(proc_t *p)
{
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0); /* own process group: stop signals the whole group */
    /* Die with the supervisor; if it died before this line, nobody would tell us. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != self)
        _exit(TS_EXIT_FAIL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    /* The log pipe is non-blocking: a stage drops log lines rather than wait for us. */
    dup2(p->logpipe[1], 1);
    dup2(p->logpipe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (p->env)
        putenv(p->env);
    execv(p->argv[0], p->argv);
    fprintf(stderr, "cannot run %s: %s\n", p->argv[0], strerror(errno));
    _exit(TS_EXIT_CONFIG);
}

/* ------------------------------------------------------------------ orphans */

static int is_stage(sup_t *s, pid_t pid)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i].pid == pid)
            return 1;
    return 0;
}

/* We are a child subreaper: what a dead stage left running (a source command's ffmpeg whose
 * shell died) becomes our child. Any child that is not a current stage is such an orphan. */
int sup_kill_orphans(sup_t *s, int sig)
{
    int found = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1) {
            if (pid <= 1 || is_stage(s, (pid_t)pid))
                continue;
            if (kill((pid_t)pid, sig) == 0)
                ts_info("killing pid %ld, left behind by a stage (signal %d)", pid, sig);
            found++;
        }
        fclose(f);
    }
    closedir(d);
    return found;
}
