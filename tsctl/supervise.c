/* tsctl supervise DIR: runs one instance's stage processes and answers tsctl.
 *
 * Each stage's life is the state x event table below (after s6-supervise). Readiness is
 * the stage's own READY message; liveness is its heartbeat. A stage that keeps crashing
 * backs off exponentially (with jitter) and, past a crash budget, is marked failed.
 * Stages die with the supervisor (PR_SET_PDEATHSIG in every stage). */
#include "instance.h"
#include "ts_buf.h"
#include "ts_bus.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_time.h"
#include "tsctl.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SUP_MAX_ARGS 32
#define SUP_MAX_COUNTERS 32
#define SUP_HEALTHY_NS (10ull * 1000000000)  /* a run this long resets the backoff */
#define SUP_WATCHDOG_NS (10ull * 1000000000) /* no heartbeat this long: the stage hangs */
#define SUP_START_NS (30ull * 1000000000)    /* no READY this long after spawn: kill it */
#define SUP_STOP_GRACE_S 5.0                 /* SIGTERM, then SIGKILL */
#define SUP_CRASH_WINDOW_NS (60ull * 1000000000)
#define SUP_CRASH_BUDGET 8                   /* deaths within the window before failed */
#define SUP_BACKOFF_MIN_S 0.5
#define SUP_BACKOFF_MAX_S 30.0
#define SUP_QUICK_RESTART_S 0.1

typedef enum { S_DOWN, S_STARTING, S_READY, S_BACKOFF, S_STOPPING, S_FAILED, S_NSTATES } sstate_t;
typedef enum { E_START, E_READY, E_DIED, E_TIMER, E_HANG, E_STOP, E_RESTART, E_NEVENTS } sevent_t;
typedef enum { A_NONE, A_SPAWN, A_DIED, A_TERM, A_KILL, A_READY, A_RESTART } saction_t;

static const char *state_name[] = { "down", "starting", "ready", "backoff", "stopping", "failed" };

typedef struct {
    saction_t action;
    sstate_t next; /* A_DIED decides between backoff and failed itself */
} trans_t;

#define T(a, s) { a, s }
static const trans_t table[S_NSTATES][E_NEVENTS] = {
    /*              E_START              E_READY              E_DIED                E_TIMER              E_HANG               E_STOP                 E_RESTART */
    [S_DOWN]     = { T(A_SPAWN, S_STARTING), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_SPAWN, S_STARTING) },
    [S_STARTING] = { T(A_NONE, S_STARTING), T(A_READY, S_READY), T(A_DIED, S_BACKOFF), T(A_KILL, S_STARTING), T(A_KILL, S_STARTING), T(A_TERM, S_STOPPING), T(A_RESTART, S_STARTING) },
    [S_READY]    = { T(A_NONE, S_READY), T(A_NONE, S_READY), T(A_DIED, S_BACKOFF), T(A_NONE, S_READY), T(A_KILL, S_READY), T(A_TERM, S_STOPPING), T(A_RESTART, S_READY) },
    [S_BACKOFF]  = { T(A_NONE, S_BACKOFF), T(A_NONE, S_BACKOFF), T(A_NONE, S_BACKOFF), T(A_SPAWN, S_STARTING), T(A_NONE, S_BACKOFF), T(A_NONE, S_DOWN), T(A_SPAWN, S_STARTING) },
    [S_STOPPING] = { T(A_NONE, S_STOPPING), T(A_NONE, S_STOPPING), T(A_NONE, S_DOWN), T(A_KILL, S_STOPPING), T(A_NONE, S_STOPPING), T(A_NONE, S_STOPPING), T(A_NONE, S_STOPPING) },
    [S_FAILED]   = { T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_SPAWN, S_STARTING) },
};
#undef T

typedef struct proc proc_t;
typedef struct sup sup_t;

struct proc {
    sup_t *sup;
    const char *name;
    char *argv[SUP_MAX_ARGS + 1];
    int argc;
    sstate_t state;
    pid_t pid;
    ev_child child;
    ev_timer timer;
    uint64_t started_ns, last_beat_ns;
    uint64_t restarts;
    double delay;
    uint64_t deaths[SUP_CRASH_BUDGET];
    int ndeaths, last_status, restart_now;
    int ncounters;
    char cname[SUP_MAX_COUNTERS][32];
    int64_t cval[SUP_MAX_COUNTERS];
};

struct sup {
    struct ev_loop *loop;
    instance_t inst;
    proc_t procs[4];
    int nprocs;
    ts_bus_t *bus;
    int notify_fd, stopping, was_ready;
    ev_timer watchdog;
    ev_signal sigterm, sigint;
    char ep_sup[600];
};

static void dispatch_event(proc_t *p, sevent_t ev);

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
}

static void build_ingest(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir, *br = inst_get(&s->inst, "bitrate");
    arg(p, "--source"); arg(p, "%s", inst_get(&s->inst, "source"));
    arg(p, "--out"); arg(p, "ipc://%s/ingest.ipc", d);
    arg(p, "--piece-size"); arg(p, "%s", inst_get(&s->inst, "piece_size"));
    if (br && *br) { arg(p, "--bitrate"); arg(p, "%s", br); }
    arg(p, "--state-dir"); arg(p, "%s", d);
}

static void build_signer(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir;
    arg(p, "--key"); arg(p, "%s/key.pem", d);
    arg(p, "--tstream"); arg(p, "%s/stream.tstream", d);
    arg(p, "--in"); arg(p, "ipc://%s/ingest.ipc", d);
    arg(p, "--out"); arg(p, "ipc://%s/signer.ipc", d);
}

static void build_swarm(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir, *role = inst_get(&s->inst, "role"), *emb = inst_get(&s->inst, "embedded_tracker");
    arg(p, "--tstream"); arg(p, "%s/stream.tstream", d);
    arg(p, "--out"); arg(p, "ipc://%s/swarm.ipc", d);
    arg(p, "--port"); arg(p, "%s", inst_get(&s->inst, "port"));
    if (strcmp(role, "broadcast") == 0) { arg(p, "--in"); arg(p, "ipc://%s/signer.ipc", d); }
    if (emb && strcmp(emb, "1") == 0) arg(p, "--embedded-tracker");
    const char *ah = inst_get(&s->inst, "announce_host"), *up = inst_get(&s->inst, "max_upload");
    if (ah && *ah) { arg(p, "--announce-host"); arg(p, "%s", ah); }
    if (up && strcmp(up, "0") != 0) { arg(p, "--max-upload"); arg(p, "%s", up); }
}

static void build_bridge(sup_t *s, proc_t *p)
{
    const char *d = s->inst.dir, *out = inst_get(&s->inst, "output");
    arg(p, "--in"); arg(p, "ipc://%s/swarm.ipc", d);
    arg(p, "--http"); arg(p, "%s", inst_get(&s->inst, "http"));
    arg(p, "--path"); arg(p, "/%s.ts", inst_get(&s->inst, "stream"));
    const char *stats = inst_get(&s->inst, "stats");
    if (out && *out) { arg(p, "--output"); arg(p, "%s", out); }
    if (stats && *stats) { arg(p, "--stats"); arg(p, "%s", stats); }
    arg(p, "--state-dir"); arg(p, "%s", d);
}

/* Which stages an instance runs, in start order. */
static const struct {
    const char *name, *binary, *role;
    void (*build)(sup_t *, proc_t *);
} proc_table[] = {
    { "ingest", "ts-ingest", "broadcast", build_ingest },
    { "signer", "ts-signer", "broadcast", build_signer },
    { "swarm", "ts-swarm", "*", build_swarm },
    { "player-bridge", "ts-player-bridge", "viewer", build_bridge },
};

/* ------------------------------------------------------------------ actions */

static void notify(sup_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(sup_t *s, const char *fmt, ...)
{
    if (s->notify_fd < 0)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    ssize_t w = write(s->notify_fd, buf, (size_t)n);
    (void)w;
    close(s->notify_fd);
    s->notify_fd = -1;
}

static void last_log_line(const char *dir, const char *name, char *out, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/log/%s.log", dir, name);
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[400];
    while (fgets(line, sizeof line, f))
        if (line[0] != '\n')
            snprintf(out, len, "%s", line);
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void spawn(proc_t *p)
{
    sup_t *s = p->sup;
    char logpath[700];
    snprintf(logpath, sizeof logpath, "%s/log/%s.log", s->inst.dir, p->name);
    pid_t pid = fork();
    if (pid < 0) {
        ts_error("%s: fork: %s", p->name, strerror(errno));
        p->state = S_BACKOFF;
        ev_timer_set(&p->timer, 1.0, 0);
        ev_timer_start(s->loop, &p->timer);
        return;
    }
    if (pid == 0) {
        setpgid(0, 0); /* own process group: stop signals the whole group */
        int devnull = open("/dev/null", O_RDONLY);
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(p->argv[0], p->argv);
        fprintf(stderr, "cannot run %s: %s\n", p->argv[0], strerror(errno));
        _exit(TS_EXIT_CONFIG);
    }
    setpgid(pid, pid);
    p->pid = pid;
    p->started_ns = p->last_beat_ns = ts_mono_ns();
    p->ncounters = 0;
    ev_child_set(&p->child, pid, 0);
    ev_child_start(s->loop, &p->child);
    ev_timer_stop(s->loop, &p->timer);
    ev_timer_set(&p->timer, (double)SUP_START_NS / 1e9, 0);
    ev_timer_start(s->loop, &p->timer);
    ts_info("%s started, pid %d", p->name, pid);
}

static int none_running(sup_t *s)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i].state != S_DOWN && s->procs[i].state != S_FAILED)
            return 0;
    return 1;
}

static void stop_all(sup_t *s)
{
    s->stopping = 1;
    for (int i = s->nprocs - 1; i >= 0; i--)
        dispatch_event(&s->procs[i], E_STOP);
    if (none_running(s))
        ev_break(s->loop, EVBREAK_ALL);
}

/* A stage died: restart it soon if it was healthy, later and later if it keeps dying, never
 * if it said its configuration is wrong, and not past the crash budget. */
static sstate_t died(proc_t *p, int status)
{
    sup_t *s = p->sup;
    uint64_t now = ts_mono_ns();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char why[64];
    if (WIFEXITED(status))
        snprintf(why, sizeof why, "exit code %d", code);
    else
        snprintf(why, sizeof why, "signal %d", WTERMSIG(status));
    p->last_status = code;
    p->pid = 0;
    int recent = 0;
    for (int i = 0; i < p->ndeaths; i++)
        recent += now - p->deaths[i] < SUP_CRASH_WINDOW_NS;
    if (p->ndeaths < SUP_CRASH_BUDGET)
        p->deaths[p->ndeaths++] = now;
    else {
        memmove(p->deaths, p->deaths + 1, (SUP_CRASH_BUDGET - 1) * sizeof *p->deaths);
        p->deaths[SUP_CRASH_BUDGET - 1] = now;
    }
    char last[512];
    if (code == TS_EXIT_USAGE || code == TS_EXIT_CONFIG || recent + 1 >= SUP_CRASH_BUDGET) {
        last_log_line(s->inst.dir, p->name, last, sizeof last);
        ts_error("STAGE FAILED: %s (%s%s); not restarting. Last log line: %s", p->name, why,
                 recent + 1 >= SUP_CRASH_BUDGET ? ", crashing repeatedly" : "", last);
        notify(s, "error: stage %s failed (%s): %s\n", p->name, why, last);
        ev_timer_stop(s->loop, &p->timer);
        return S_FAILED;
    }
    double delay;
    if (p->restart_now || now - p->started_ns >= SUP_HEALTHY_NS) {
        delay = SUP_QUICK_RESTART_S;
        p->delay = 0;
    } else {
        p->delay = p->delay < SUP_BACKOFF_MIN_S ? SUP_BACKOFF_MIN_S : p->delay * 2;
        if (p->delay > SUP_BACKOFF_MAX_S)
            p->delay = SUP_BACKOFF_MAX_S;
        delay = p->delay * (0.8 + 0.4 * (double)rand() / RAND_MAX); /* jitter */
    }
    p->restart_now = 0;
    p->restarts++;
    ts_warn("%s died (%s); restart %llu in %.2f s", p->name, why, (unsigned long long)p->restarts, delay);
    ev_timer_stop(s->loop, &p->timer);
    ev_timer_set(&p->timer, delay, 0);
    ev_timer_start(s->loop, &p->timer);
    return S_BACKOFF;
}

static void dispatch_event(proc_t *p, sevent_t ev)
{
    sup_t *s = p->sup;
    const trans_t *t = &table[p->state][ev];
    sstate_t next = t->next;
    switch (t->action) {
    case A_NONE:
        break;
    case A_SPAWN:
        spawn(p);
        break;
    case A_DIED:
        next = died(p, p->last_status);
        break;
    case A_READY:
        ev_timer_stop(s->loop, &p->timer);
        ts_info("%s ready", p->name);
        break;
    case A_TERM:
        kill(-p->pid, SIGTERM);
        ev_timer_stop(s->loop, &p->timer);
        ev_timer_set(&p->timer, SUP_STOP_GRACE_S, 0);
        ev_timer_start(s->loop, &p->timer);
        break;
    case A_KILL:
        ts_warn("%s: %s: killing process group %d", p->name,
                p->state == S_STOPPING ? "did not stop in time" : p->state == S_STARTING ? "not ready in time" : "no heartbeat",
                p->pid);
        if (p->pid > 0)
            kill(-p->pid, SIGKILL);
        break;
    case A_RESTART:
        p->restart_now = 1;
        if (p->pid > 0)
            kill(-p->pid, SIGTERM);
        break;
    }
    if (ev == E_STOP && p->state == S_BACKOFF)
        ev_timer_stop(s->loop, &p->timer);
    p->state = next;
    if (!s->stopping && ev == E_READY) {
        int ready = 1;
        for (int i = 0; i < s->nprocs; i++)
            ready &= s->procs[i].state == S_READY;
        if (ready) {
            s->was_ready = 1;
            notify(s, "ready\n");
        }
    }
    /* A stage that fails before the instance was ever ready fails the start: stop the rest. */
    if (next == S_FAILED && s->notify_fd < 0 && !s->was_ready && !s->stopping)
        stop_all(s);
    if (s->stopping && none_running(s))
        ev_break(s->loop, EVBREAK_ALL);
    /* Start stages in table order: the next one once this one is ready. */
    if (!s->stopping && ev == E_READY)
        for (int i = 0; i < s->nprocs; i++)
            if (s->procs[i].state == S_DOWN) {
                dispatch_event(&s->procs[i], E_START);
                break;
            }
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    proc_t *p = w->data;
    ev_child_stop(loop, w);
    p->last_status = w->rstatus;
    dispatch_event(p, E_DIED);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    proc_t *p = w->data;
    dispatch_event(p, p->state == S_STARTING ? E_HANG : E_TIMER);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    sup_t *s = w->data;
    uint64_t now = ts_mono_ns();
    for (int i = 0; i < s->nprocs; i++) {
        proc_t *p = &s->procs[i];
        if (p->state == S_READY && now - p->last_beat_ns > SUP_WATCHDOG_NS)
            dispatch_event(p, E_HANG);
    }
}

/* ------------------------------------------------------------------ status */

static void json_str(ts_buf_t *b, const char *s)
{
    ts_buf_putc(b, '"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            ts_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            ts_buf_printf(b, "\\u%04x", c);
        else
            ts_buf_putc(b, c);
    }
    ts_buf_putc(b, '"');
}

static void status_json(sup_t *s, ts_buf_t *b)
{
    uint64_t now = ts_mono_ns();
    const char *keys[] = { "name", "role", "tstream", "infohash", "player_url", "output", "source", "tracker" };
    ts_buf_printf(b, "{");
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = inst_get(&s->inst, keys[i]);
        if (!v)
            continue;
        json_str(b, keys[i]);
        ts_buf_putc(b, ':');
        json_str(b, v);
        ts_buf_putc(b, ',');
    }
    ts_buf_printf(b, "\"state_dir\":");
    json_str(b, s->inst.dir);
    ts_buf_printf(b, ",\"supervisor_pid\":%d,\"stages\":[", (int)getpid());
    for (int i = 0; i < s->nprocs; i++) {
        proc_t *p = &s->procs[i];
        int running = p->state == S_STARTING || p->state == S_READY || p->state == S_STOPPING;
        ts_buf_printf(b, "%s{\"name\":", i ? "," : "");
        json_str(b, p->name);
        ts_buf_printf(b, ",\"pid\":%d,\"state\":\"%s\",\"restarts\":%llu,\"uptime_s\":%.1f", running ? p->pid : 0,
                      state_name[p->state], (unsigned long long)p->restarts,
                      running ? (double)(now - p->started_ns) / 1e9 : 0.0);
        for (int c = 0; c < p->ncounters; c++) {
            ts_buf_putc(b, ',');
            json_str(b, p->cname[c]);
            ts_buf_printf(b, ":%lld", (long long)p->cval[c]);
        }
        ts_buf_putc(b, '}');
    }
    ts_buf_printf(b, "]}");
}

/* ------------------------------------------------------------------ messages */

static proc_t *find_proc(sup_t *s, const char *name)
{
    for (int i = 0; i < s->nprocs; i++)
        if (strcmp(s->procs[i].name, name) == 0)
            return &s->procs[i];
    return NULL;
}

static void reply(sup_t *s, const uint8_t *peer, size_t peer_len, int type, const char *text, int code)
{
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Text t = TS__TEXT__INIT;
    e.version = TS_MSG_VERSION;
    e.type = (Ts__MsgType)type;
    e.text = &t;
    t.text = (char *)text;
    t.has_code = 1;
    t.code = code;
    ts_bus_send(s->bus, peer, peer_len, &e);
}

static void dispatch_msg(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, Ts__Envelope *m, void *arg)
{
    sup_t *s = arg;
    switch (m->type) {
    case TS__MSG_TYPE__MSG_READY:
    case TS__MSG_TYPE__MSG_HEARTBEAT: {
        proc_t *p = find_proc(s, m->heartbeat->stage);
        /* Only the process we started may speak for a stage. */
        if (!p || (int)m->heartbeat->pid != p->pid)
            return;
        p->last_beat_ns = ts_mono_ns();
        p->ncounters = 0;
        for (size_t i = 0; i < m->heartbeat->n_counters && i < SUP_MAX_COUNTERS; i++) {
            snprintf(p->cname[i], sizeof p->cname[i], "%s", m->heartbeat->counters[i]->name);
            p->cval[i] = m->heartbeat->counters[i]->value;
            p->ncounters++;
        }
        if (m->type == TS__MSG_TYPE__MSG_READY && p->state == S_STARTING)
            dispatch_event(p, E_READY);
        break;
    }
    case TS__MSG_TYPE__MSG_STATUS_REQ: {
        ts_buf_t b;
        ts_buf_init(&b);
        status_json(s, &b);
        ts_buf_putc(&b, 0);
        reply(s, peer, peer_len, TS__MSG_TYPE__MSG_STATUS_REP, b.err ? "{}" : (char *)b.data, 0);
        ts_buf_free(&b);
        break;
    }
    case TS__MSG_TYPE__MSG_COMMAND: {
        const char *cmd = m->text->text;
        if (strcmp(cmd, "stop") == 0) {
            reply(s, peer, peer_len, TS__MSG_TYPE__MSG_COMMAND_REP, "stopping", 0);
            ts_info("stop requested");
            stop_all(s);
        } else if (strncmp(cmd, "restart ", 8) == 0 && find_proc(s, cmd + 8)) {
            proc_t *p = find_proc(s, cmd + 8);
            ts_info("restart of %s requested", p->name);
            dispatch_event(p, E_RESTART);
            reply(s, peer, peer_len, TS__MSG_TYPE__MSG_COMMAND_REP, "restarting", 0);
        } else {
            reply(s, peer, peer_len, TS__MSG_TYPE__MSG_COMMAND_REP, "unknown command or stage", 1);
        }
        break;
    }
    default:
        break;
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    sup_t *s = w->data;
    ts_info("signal %d: stopping all stages", w->signum);
    stop_all(s);
}

int supervise_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tsctl supervise DIR [--notify-fd N]\n");
        return TS_EXIT_USAGE;
    }
    sup_t *s = calloc(1, sizeof *s);
    s->notify_fd = -1;
    if (argc >= 4 && strcmp(argv[2], "--notify-fd") == 0)
        s->notify_fd = atoi(argv[3]);
    if (inst_load(&s->inst, argv[1]) < 0) {
        notify(s, "error: cannot read %s/instance.conf\n", argv[1]);
        return TS_EXIT_CONFIG;
    }
    ts_log_init("supervisor", inst_get(&s->inst, "name"));
    srand((unsigned)(getpid() ^ ts_mono_ns()));
    if (inst_endpoint(s->inst.dir, "sup", s->ep_sup, sizeof s->ep_sup) < 0) {
        notify(s, "error: state directory path too long for a unix socket: %s\n", s->inst.dir);
        return TS_EXIT_CONFIG;
    }
    const char *role = inst_get(&s->inst, "role");
    if (!role) {
        notify(s, "error: instance.conf has no role\n");
        return TS_EXIT_CONFIG;
    }
    s->loop = EV_DEFAULT;
    void *zctx = zmq_ctx_new();
    s->bus = ts_bus_new(s->loop, zctx, ZMQ_ROUTER, s->ep_sup, TS_BUS_BIND, NULL, dispatch_msg, s);
    if (!s->bus) {
        notify(s, "error: cannot bind %s (another supervisor running?)\n", s->ep_sup);
        return TS_EXIT_FAIL;
    }
    char pidpath[600];
    snprintf(pidpath, sizeof pidpath, "%s/supervisor.pid", s->inst.dir);
    FILE *pf = fopen(pidpath, "w");
    if (pf) {
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }
    for (size_t i = 0; i < sizeof proc_table / sizeof *proc_table; i++) {
        if (strcmp(proc_table[i].role, "*") != 0 && strcmp(proc_table[i].role, role) != 0)
            continue;
        proc_t *p = &s->procs[s->nprocs++];
        p->sup = s;
        p->name = proc_table[i].name;
        char bin[600];
        inst_binary(proc_table[i].binary, bin, sizeof bin);
        arg(p, "%s", bin);
        proc_table[i].build(s, p);
        common_args(s, p);
        ev_init(&p->child, on_child);
        ev_init(&p->timer, on_timer);
        p->child.data = p->timer.data = p;
    }
    ev_timer_init(&s->watchdog, on_watchdog, 1.0, 1.0);
    s->watchdog.data = s;
    ev_timer_start(s->loop, &s->watchdog);
    ev_signal_init(&s->sigterm, on_signal, SIGTERM);
    ev_signal_init(&s->sigint, on_signal, SIGINT);
    s->sigterm.data = s->sigint.data = s;
    ev_signal_start(s->loop, &s->sigterm);
    ev_signal_start(s->loop, &s->sigint);
    signal(SIGPIPE, SIG_IGN);
    ts_info("supervising %s (%s), %d stages", inst_get(&s->inst, "name"), role, s->nprocs);
    dispatch_event(&s->procs[0], E_START);
    ev_run(s->loop, 0);
    /* Stages that ignored SIGTERM and SIGKILL timers still running: make sure nothing outlives us. */
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i].pid > 0)
            kill(-s->procs[i].pid, SIGKILL);
    unlink(pidpath);
    ts_bus_destroy(&s->bus);
    zmq_ctx_term(zctx);
    ts_info("stopped");
    return 0;
}
