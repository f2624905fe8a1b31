/* tsctl supervise DIR: runs one instance's stage processes and answers tsctl.
 *
 * Each stage's life is the state x event table below (after s6-supervise). Readiness is
 * the stage's own READY message; liveness is its heartbeat. A stage that keeps crashing
 * backs off exponentially (with jitter) and, past a crash budget, is marked failed.
 * Each stage runs in a process group of its own and writes its output into a pipe this
 * loop reads and appends to the stage's rotated log file (logfile.c). Stages die with the
 * supervisor (PR_SET_PDEATHSIG); as a child subreaper, the supervisor kills whatever a dead
 * stage left behind.
 *
 * With --foreground (tsctl start/watch/seed --foreground, for systemd) it is the service's main
 * process: it also logs to stderr, speaks sd_notify, registers the instance itself, and a stage
 * that fails for good stops the instance and becomes the exit code, so the service manager sees
 * the failure and applies its own restart policy. */
#include "supervise.h"
#include "sdnotify.h"
#include "health.h"
#include "sup_beat.h"
#include "sup_http.h"
#include "sup_spawn.h"
#include "sup_status.h"
#include "ts_buf.h"
#include "ts_bus.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_time.h"
#include "ts_topology.h"
#include "tsctl.h"
#include <dirent.h>
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

static void dispatch_event(proc_t *p, sevent_t ev);

/* ------------------------------------------------------------------ notify */

static void notify(sup_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(sup_t *s, const char *fmt, ...)
{
    if (s->notify_fd < 0 && !s->foreground)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (s->notify_fd < 0) { /* in the foreground nobody waits on a pipe: errors go to stderr */
        if (strncmp(buf, "error", 5) == 0)
            fprintf(stderr, "tsctl supervise: %s", buf);
        return;
    }
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    ssize_t w = write(s->notify_fd, buf, (size_t)n);
    (void)w;
    close(s->notify_fd);
    s->notify_fd = -1;
}

/* What `systemctl status` shows of a foreground supervisor: how many stages are ready, and the
 * first one that is not, with its reason. */
static void sd_status(sup_t *s)
{
    if (!s->foreground)
        return;
    int ready = 0;
    const proc_t *other = NULL;
    const char *state = "", *why = NULL;
    for (int i = 0; i < s->nprocs; i++) {
        const char *r, *st = sup_status_state(&s->procs[i], &r);
        if (strcmp(st, "ready") == 0)
            ready++;
        else if (!other)
            other = &s->procs[i], state = st, why = r;
    }
    char buf[400];
    snprintf(buf, sizeof buf, "STATUS=%d of %d stages ready%s%s%s%s%s%s", ready, s->nprocs, other ? "; " : "",
             other ? other->name : "", other ? " " : "", state, why ? ": " : "", why ? why : "");
    sdnotify(buf);
}

/* The first time every stage is ready: what the operator needs, in the journal; then READY=1. */
static void announce_ready(sup_t *s)
{
    if (!s->foreground)
        return;
    const char *keys[] = { "tstream", "infohash", "port", "tracker", "magnet", "player_url" };
    ts_log_fields_t f = { 0 };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = inst_get(&s->inst, keys[i]);
        if (v && *v)
            ts_log_field(&f, keys[i], "%s", v);
    }
    ts_log_kv(TS_LOG_INFO, &f, "%s %s ready: every stage runs", inst_get(&s->inst, "role"),
              inst_get(&s->inst, "name"));
    sdnotify("READY=1");
}

/* ------------------------------------------------------------------ logs */

/* Read what the stage wrote (bounded per turn, so one chatty stage cannot starve the loop). */
static void read_log(proc_t *p, size_t max)
{
    sup_t *s = p->sup;
    size_t got = 0;
    while (got < max) {
        ssize_t n = read(p->logpipe[0], s->logbuf, sizeof s->logbuf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        logfile_feed(p->log, s->logbuf, (size_t)n);
        got += (size_t)n;
    }
}

static void on_log(struct ev_loop *loop, ev_io *w, int revents)
{
    read_log(w->data, SUP_LOG_READ_MAX);
}

/* Everything the stage wrote before it died (a sanitizer report) is in the file before we act. */
static void drain_log(proc_t *p)
{
    read_log(p, 4 * SUP_LOG_PIPE_SIZE); /* all it held, bounded if something still writes */
    logfile_flush(p->log);
}

/* A line from the supervisor in a stage's own log, so `tsctl logs NAME STAGE` tells the story. */
static void stage_note(proc_t *p, int level, const char *msg)
{
    char line[TS_LOG_LINE_MAX];
    size_t n = ts_log_format(line, level, inst_get(&p->sup->inst, "name"), "supervisor", msg, strlen(msg));
    logfile_line(p->log, line, n);
    logfile_flush(p->log);
}

static void own_log(const char *line, size_t len, void *arg)
{
    sup_t *s = arg;
    logfile_line(s->log, line, len);
    logfile_flush(s->log);
    if (s->foreground) /* the journal, or the terminal of whoever runs it by hand */
        sdnotify_stderr(s->journal, line, len);
}

/* ------------------------------------------------------------------ actions */

static void on_child(struct ev_loop *loop, ev_child *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void spawn(proc_t *p)
{
    sup_t *s = p->sup;
    pid_t pid = sup_spawn(p);
    if (pid < 0) {
        ts_error("%s: fork: %s", p->name, strerror(errno));
        p->state = S_BACKOFF;
        ev_timer_set(&p->timer, 1.0, 0);
        ev_timer_start(s->loop, &p->timer);
        return;
    }
    setpgid(pid, pid);
    p->pid = pid;
    p->started_ns = p->last_beat_ns = ts_mono_ns();
    p->ready_ns = 0;
    sup_beat_forget(p);
    p->reason[0] = 0;
    logfile_new_run(p->log);
    p->ok = 0;
    p->why[0] = 0;
    ev_child_set(&p->child, pid, 0);
    ev_child_start(s->loop, &p->child);
    ev_timer_stop(s->loop, &p->timer);
    ev_timer_set(&p->timer, ts_ns_to_s(SUP_START_NS), 0);
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
    if (s->foreground && !s->stopping)
        sdnotify("STOPPING=1\nSTATUS=stopping every stage");
    s->stopping = 1;
    for (int i = s->nprocs - 1; i >= 0; i--)
        dispatch_event(&s->procs[i], E_STOP);
    if (none_running(s))
        ev_break(s->loop, EVBREAK_ALL);
}

/* A stage died: restart it soon if it had been healthy, later and later if it keeps dying, never
 * if it said its configuration is wrong, and not past the crash budget. */
static sstate_t died(proc_t *p, int status)
{
    sup_t *s = p->sup;
    uint64_t now = ts_mono_ns();
    char why[64];
    int code = sup_exit_code(status, why, sizeof why);
    p->last_status = code;
    if (p->pid > 0)
        kill(-p->pid, SIGKILL); /* anything still in its process group */
    p->pid = 0;
    ev_timer_stop(s->loop, &p->timer);
    double ran = ts_ns_to_s(now - p->started_ns);
    int recent = p->restart_now ? 0 : sup_count_crash(p->crashes, &p->ncrashes, now);
    int config = code == TS_EXIT_USAGE || code == TS_EXIT_CONFIG;
    if (sup_died_next(code, recent) == S_FAILED) {
        char last[400], msg[sizeof p->reason + 100];
        /* A usage or configuration error is what it said first (a usage text follows its reason);
         * a crash loop's story ends with its last line. */
        if (config && logfile_first_error(p->log)[0])
            snprintf(last, sizeof last, "%s", logfile_first_error(p->log));
        else
            logfile_last_msg(s->logdir, p->name, last, sizeof last);
        if (config)
            snprintf(p->reason, sizeof p->reason, "%s: configuration or usage error: %s", why, last);
        else
            snprintf(p->reason, sizeof p->reason, "%s, %d crashes within %.0f s; last log line: %s", why, recent,
                     ts_ns_to_s(SUP_CRASH_WINDOW_NS), last);
        if (!s->exit_code)
            s->exit_code = config ? code : TS_EXIT_FAIL;
        if (s->foreground)
            snprintf(msg, sizeof msg, "STAGE FAILED: %s (%s); stopping the instance, exit code %d", p->name,
                     p->reason, s->exit_code);
        else
            snprintf(msg, sizeof msg, "STAGE FAILED: %s (%s); not restarting it until `tsctl restart %s %s`",
                     p->name, p->reason, inst_get(&s->inst, "name"), p->name);
        ts_error("%s", msg);
        stage_note(p, TS_LOG_ERROR, msg);
        /* A stage's own "do not restart me" code is also what `tsctl start` / `watch` exit with. */
        if (!s->foreground) /* there, the line above is on stderr already */
            notify(s, "error %d: stage %s failed (%s): %s\n", config ? code : TS_EXIT_FAIL, p->name, why, last);
        return S_FAILED;
    }
    int quick = p->restart_now || (p->ready_ns && now - p->ready_ns >= SUP_HEALTHY_NS);
    double delay = sup_backoff(&p->delay, quick, quick ? 1 : 0.8 + 0.4 * (double)rand() / RAND_MAX);
    p->restarts++;
    health_on_restart(s, p);
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "target", "%s", p->name);
    ts_log_field(&f, "why", "%s", why);
    ts_log_field(&f, "ran_s", "%.1f", ran);
    ts_log_field(&f, "restarts", "%llu", (unsigned long long)p->restarts);
    ts_log_field(&f, "delay_s", "%.2f", delay);
    if (p->restart_now)
        ts_log_kv(TS_LOG_INFO, &f, "%s stopped for restart (%s); restart %llu in %.2f s", p->name, why,
                  (unsigned long long)p->restarts, delay);
    else
        ts_log_kv(TS_LOG_WARN, &f, "%s died (%s) after %.1f s; restart %llu in %.2f s (crash %d of %d allowed within %.0f s)",
                  p->name, why, ran, (unsigned long long)p->restarts, delay, recent, SUP_CRASH_LIMIT,
                  ts_ns_to_s(SUP_CRASH_WINDOW_NS));
    snprintf(p->reason, sizeof p->reason, "%s after %.1f s; restart %llu in %.2f s", why, ran,
             (unsigned long long)p->restarts, delay);
    p->restart_now = 0;
    ev_timer_set(&p->timer, delay, 0);
    ev_timer_start(s->loop, &p->timer);
    return S_BACKOFF;
}

/* The instance is started (tsctl start / watch return, systemd hears READY=1) once every stage is
 * up and ready by its own account, the one definition of ready that status shows; or, should a
 * stage stay unready (a viewer with no peer yet), SUP_READY_GRACE_S after every stage came up,
 * its reason in the log and in tsctl status. */
static void check_ready(sup_t *s)
{
    int up = 1, ok = 1;
    const proc_t *slow = NULL;
    for (int i = 0; i < s->nprocs; i++) {
        up &= s->procs[i].state == S_READY;
        if (!s->procs[i].ok && !slow)
            slow = &s->procs[i];
        ok &= s->procs[i].ok;
    }
    if (s->stopping || s->was_ready || !up)
        return;
    if (!ok && !s->grace_over) {
        if (!ev_is_active(&s->ready_grace))
            ev_timer_start(s->loop, &s->ready_grace);
        return;
    }
    ev_timer_stop(s->loop, &s->ready_grace);
    if (!ok)
        ts_warn("every stage is up, %s not ready after %.0f s (%s): reporting the instance started", slow->name,
                SUP_READY_GRACE_S, slow->why);
    announce_ready(s);
    s->was_ready = 1;
    notify(s, "ready\n");
}

static void on_ready_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    sup_t *s = w->data;
    s->grace_over = 1;
    check_ready(s);
}

static void dispatch_event(proc_t *p, sevent_t ev)
{
    sup_t *s = p->sup;
    sup_trans_t t = sup_transition(p->state, ev);
    sstate_t prev = p->state, next = t.next;
    switch (t.action) {
    case A_NONE:
        break;
    case A_SPAWN:
        if (ev == E_RESTART) { /* someone looked at it: a fresh budget */
            ts_info("restarting %s (was %s)", p->name, sup_state_name[p->state]);
            p->ncrashes = 0;
            p->delay = 0;
        }
        spawn(p);
        break;
    case A_DIED:
        next = died(p, p->last_status);
        break;
    case A_READY:
        ev_timer_stop(s->loop, &p->timer);
        p->ready_ns = ts_mono_ns();
        ts_info("%s ready, pid %d, %.3f s after start", p->name, p->pid,
                ts_ns_to_s(p->ready_ns - p->started_ns));
        break;
    case A_TERM:
        kill(-p->pid, SIGTERM);
        ev_timer_stop(s->loop, &p->timer);
        ev_timer_set(&p->timer, SUP_STOP_GRACE_S, 0);
        ev_timer_start(s->loop, &p->timer);
        break;
    case A_KILL: {
        char msg[200];
        if (p->state == S_STOPPING)
            snprintf(msg, sizeof msg, "%s did not stop within %.0f s: killing process group %d", p->name,
                     SUP_STOP_GRACE_S, p->pid);
        else if (p->state == S_STARTING)
            snprintf(msg, sizeof msg, "%s not ready within %.0f s: killing process group %d", p->name,
                     ts_ns_to_s(SUP_START_NS), p->pid);
        else
            snprintf(msg, sizeof msg, "%s hangs: no heartbeat for %.1f s: killing process group %d", p->name,
                     ts_ns_to_s(ts_mono_ns() - p->last_beat_ns), p->pid);
        ts_warn("%s", msg);
        stage_note(p, TS_LOG_WARN, msg);
        if (p->pid > 0)
            kill(-p->pid, SIGKILL);
        p->last_beat_ns = ts_mono_ns(); /* once: its death follows */
        break;
    }
    case A_RESTART:
        p->restart_now = 1;
        if (p->pid > 0)
            kill(-p->pid, SIGTERM);
        break;
    }
    if (ev == E_STOP && p->state == S_BACKOFF)
        ev_timer_stop(s->loop, &p->timer);
    p->state = next;
    if (ev == E_READY)
        check_ready(s);
    if (next != prev && !s->stopping)
        sd_status(s);
    /* A stage that fails before the instance was ever ready fails the start: stop the rest. In the
     * foreground, one that fails later does too: its service manager decides what comes next. */
    if (next == S_FAILED && ((s->notify_fd < 0 && !s->was_ready) || s->foreground) && !s->stopping)
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
    drain_log(p);
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
    sup_kill_orphans(s, SIGKILL);
    if (s->foreground)
        sdnotify_watchdog(); /* our loop turns: systemd's WatchdogSec= watches the watcher */
}

/* Runs first in every loop turn. A turn far longer than our tick means this process did not run
 * (SIGSTOP, a stalled disk): the stages' silence is then ours, so they get a fresh watchdog and
 * start period instead of being killed for it. */
static void on_turn(struct ev_loop *loop, ev_check *w, int revents)
{
    sup_t *s = w->data;
    uint64_t now = ts_mono_ns(), gap = now - s->last_turn_ns;
    s->last_turn_ns = now;
    if (gap < SUP_GAP_NS)
        return;
    ts_warn("supervisor did not run for %.1f s (suspended?): every stage gets a fresh watchdog period",
            ts_ns_to_s(gap));
    for (int i = 0; i < s->nprocs; i++) {
        proc_t *p = &s->procs[i];
        p->last_beat_ns = now;
        if (p->state == S_STARTING || p->state == S_STOPPING) {
            ev_timer_stop(loop, &p->timer); /* also cancels an expiry already queued */
            ev_timer_set(&p->timer, p->state == S_STARTING ? ts_ns_to_s(SUP_START_NS) : SUP_STOP_GRACE_S, 0);
            ev_timer_start(loop, &p->timer);
        }
    }
}

/* ------------------------------------------------------------------ messages */

static proc_t *find_proc(sup_t *s, const char *name)
{
    for (int i = 0; i < s->nprocs; i++)
        if (strcmp(s->procs[i].name, name) == 0)
            return &s->procs[i];
    return NULL;
}

/* text (COMMAND_REP: the answer; STATUS_REP: empty) and, for STATUS_REP, the status message */
static void reply(sup_t *s, const uint8_t *peer, size_t peer_len, int type, const char *text, int code,
                  Ts__InstanceStatus *status)
{
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Text t = TS__TEXT__INIT;
    e.version = TS_MSG_VERSION;
    e.type = (Ts__MsgType)type;
    e.text = &t;
    e.status = status;
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
        int was_ok = p->ok;
        char was_why[sizeof p->why];
        memcpy(was_why, p->why, sizeof was_why);
        p->ok = !m->heartbeat->has_ready || m->heartbeat->ready;
        snprintf(p->why, sizeof p->why, "%s", m->heartbeat->why ? m->heartbeat->why : "");
        sup_beat_keep(p, m->type, m->heartbeat);
        health_on_beat(s, p);
        if (m->heartbeat->metrics)
            sup_http_stage_metrics(s, p, m->heartbeat->metrics);
        if (m->type == TS__MSG_TYPE__MSG_READY && p->state == S_STARTING)
            dispatch_event(p, E_READY);
        else if (p->state == S_READY && (p->ok != was_ok || strcmp(p->why, was_why) != 0)) {
            if (p->ok != was_ok) /* the moment readiness changed, in the log, with the reason */
                ts_log(p->ok ? TS_LOG_INFO : TS_LOG_WARN, "%s %s%s%s", p->name, p->ok ? "now ready" : "not ready",
                       p->why[0] ? ": " : "", p->why);
            check_ready(s);
            sd_status(s);
        }
        break;
    }
    case TS__MSG_TYPE__MSG_STATUS_REQ: {
        sup_status_t st;
        sup_status_fill(s, &st);
        reply(s, peer, peer_len, TS__MSG_TYPE__MSG_STATUS_REP, "", 0, &st.in);
        break;
    }
    case TS__MSG_TYPE__MSG_COMMAND: {
        const char *cmd = m->text->text;
        if (strcmp(cmd, "stop") == 0) {
            reply(s, peer, peer_len, TS__MSG_TYPE__MSG_COMMAND_REP, "stopping", 0, NULL);
            ts_info("stop requested");
            stop_all(s);
        } else if (strncmp(cmd, "restart ", 8) == 0 && find_proc(s, cmd + 8)) {
            proc_t *p = find_proc(s, cmd + 8);
            ts_info("restart of %s requested", p->name);
            dispatch_event(p, E_RESTART);
            reply(s, peer, peer_len, TS__MSG_TYPE__MSG_COMMAND_REP, "restarting", 0, NULL);
        } else {
            reply(s, peer, peer_len, TS__MSG_TYPE__MSG_COMMAND_REP, "unknown command or stage", 1, NULL);
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

/* The instance's configuration, our logs, the supervisor socket's address. NULL after telling
 * why (through notify), with the exit code in *code. */
static sup_t *sup_open(int argc, char **argv, int *code)
{
    sup_t *s = calloc(1, sizeof *s);
    *code = TS_EXIT_FAIL;
    if (!s)
        return NULL;
    s->notify_fd = -1;
    if (argc >= 4 && strcmp(argv[2], "--notify-fd") == 0)
        s->notify_fd = atoi(argv[3]);
    if (argc >= 3 && strcmp(argv[2], "--foreground") == 0) {
        s->foreground = 1;
        sdnotify_init();
        s->journal = sdnotify_journal_fd(2);
    }
    if (s->notify_fd >= 0)
        fcntl(s->notify_fd, F_SETFD, FD_CLOEXEC); /* else a stage would hold `tsctl start` open */
    *code = TS_EXIT_CONFIG;
    if (inst_load(&s->inst, argv[1]) < 0) {
        notify(s, "error: cannot read %s/instance.conf\n", argv[1]);
        return NULL;
    }
    const char *name = inst_get(&s->inst, "name");
    ts_log_init("supervisor", name);
    snprintf(s->logdir, sizeof s->logdir, "%s/log", s->inst.dir);
    inst_mkdirs(s->logdir, 0700);
    if ((s->log = logfile_new(s->logdir, "supervisor", name))) {
        if (!s->foreground) /* in the foreground, stderr stays the service manager's */
            logfile_own_stdio(s->log);
        ts_log_sink(own_log, s);
    }
    srand((unsigned)(getpid() ^ ts_mono_ns()));
    if (inst_endpoint(s->inst.dir, TS_TOPO_SUP, s->ep_sup, sizeof s->ep_sup) < 0) {
        notify(s, "error: state directory path too long for a unix socket: %s\n", s->inst.dir);
        return NULL;
    }
    if (!inst_get(&s->inst, "role")) {
        notify(s, "error: instance.conf has no role\n");
        return NULL;
    }
    return s;
}

/* Each stage: its arguments, its log pipe and file, its watchers. 0, or -1 after notify. */
static int open_procs(sup_t *s)
{
    sup_procs_build(s, inst_get(&s->inst, "role"));
    for (int i = 0; i < s->nprocs; i++) {
        proc_t *p = &s->procs[i];
        /* One pipe per stage for the supervisor's lifetime: its successive processes (and
         * whatever they leave behind) all write into it; we keep both ends. */
        if (pipe2(p->logpipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
            !(p->log = logfile_new(s->logdir, p->name, inst_get(&s->inst, "name")))) {
            notify(s, "error: cannot set up the log of %s: %s\n", p->name, strerror(errno));
            return -1;
        }
        fcntl(p->logpipe[1], F_SETPIPE_SZ, SUP_LOG_PIPE_SIZE); /* best effort: the default is 64 KiB */
        ev_io_init(&p->logio, on_log, p->logpipe[0], EV_READ);
        ev_init(&p->child, on_child);
        ev_init(&p->timer, on_timer);
        p->child.data = p->timer.data = p->logio.data = p;
        ev_io_start(s->loop, &p->logio);
    }
    return 0;
}

/* The status page, the watchdog tick, the suspension check, SIGTERM and SIGINT. */
static void start_watchers(sup_t *s)
{
    char herr[512] = "out of memory";
    if (health_new(s) < 0 || sup_http_new(s, herr, sizeof herr) < 0)
        ts_warn("%s: running without the status page and supervisor metrics", herr); /* the stream matters more */
    ev_timer_init(&s->watchdog, on_watchdog, SUP_TICK_S, SUP_TICK_S);
    s->watchdog.data = s;
    ev_timer_start(s->loop, &s->watchdog);
    ev_timer_init(&s->ready_grace, on_ready_grace, SUP_READY_GRACE_S, 0);
    s->ready_grace.data = s;
    ev_check_init(&s->turn, on_turn);
    ev_set_priority(&s->turn, EV_MAXPRI); /* before the timers that would act on a stale clock */
    s->turn.data = s;
    s->last_turn_ns = ts_mono_ns();
    ev_check_start(s->loop, &s->turn);
    ev_signal_init(&s->sigterm, on_signal, SIGTERM);
    ev_signal_init(&s->sigint, on_signal, SIGINT);
    s->sigterm.data = s->sigint.data = s;
    ev_signal_start(s->loop, &s->sigterm);
    ev_signal_start(s->loop, &s->sigint);
    signal(SIGPIPE, SIG_IGN);
}

/* Stages that ignored SIGTERM and SIGKILL timers still running: make sure nothing outlives us,
 * then whatever they left behind, until we have no child at all; then their last lines. */
static void reap_all(sup_t *s)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i].pid > 0)
            kill(-s->procs[i].pid, SIGKILL);
    for (int i = 0; i < s->nprocs; i++)
        s->procs[i].pid = 0;
    for (int tries = 0; tries < 100; tries++) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (!sup_kill_orphans(s, SIGKILL) && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
            break;
        usleep(20 * TS_US_PER_MS);
    }
    for (int i = 0; i < s->nprocs; i++) {
        drain_log(&s->procs[i]);
        logfile_destroy(&s->procs[i].log);
    }
}

int supervise_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tsctl supervise DIR [--notify-fd N | --foreground]\n");
        return TS_EXIT_USAGE;
    }
    int code;
    sup_t *s = sup_open(argc, argv, &code);
    if (!s)
        return code;
    const char *name = inst_get(&s->inst, "name");
    /* Orphans of our stages' children become ours, so nothing a stage started outlives a stop. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    s->loop = EV_DEFAULT;
    void *zctx = zmq_ctx_new();
    s->bus = ts_bus_new(s->loop, zctx, ZMQ_ROUTER, s->ep_sup, TS_BUS_BIND, NULL, NULL, dispatch_msg, s);
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
    if (s->foreground) /* nobody else will: tsctl start has become this process */
        inst_register(name, s->inst.dir);
    if (open_procs(s) < 0)
        return TS_EXIT_FAIL;
    start_watchers(s);
    ts_info("supervising %s (%s), %d stages", name, inst_get(&s->inst, "role"), s->nprocs);
    dispatch_event(&s->procs[0], E_START);
    ev_run(s->loop, 0);
    reap_all(s);
    unlink(pidpath);
    if (s->foreground)
        inst_unregister(name);
    sup_http_destroy(s);
    health_destroy(s);
    ts_bus_destroy(&s->bus);
    zmq_ctx_term(zctx);
    ts_info("stopped");
    ts_log_sink(NULL, NULL);
    logfile_destroy(&s->log);
    /* Only a foreground supervisor's exit status has a reader: the service manager. */
    return s->foreground ? s->exit_code : TS_EXIT_OK;
}
