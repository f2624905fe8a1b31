#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include "src_pipe.h"
#include "backoff.h"
#include "ts_log.h"
#include "ts_time.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PIPE_CHUNK 65536
#define READS_PER_WAKEUP 16
#define RESTART_MIN_NS TS_NS_PER_S
#define RESTART_MAX_NS 30000000000ull
#define RESTART_HEALTHY_NS 30000000000ull /* a run this long resets the delay */
#define EOF_GRACE_S 5.0                   /* a command that closed stdout but lingers gets SIGTERM */
#define STOP_GRACE_NS 2000000000ull       /* at exit: SIGTERM, then SIGKILL after this */

extern char **environ;

struct ts_src_pipe {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    char *cmd;
    pid_t pid; /* the child, also its process group id; 0 when none */
    int fd;    /* read end of its stdout, -1 once closed */
    int exited, status, stopped;
    uint64_t started_ns;
    ts_backoff_t backoff;
    ev_io io;
    ev_child child;
    ev_timer restart, linger;
    uint8_t buf[PIPE_CHUNK];
};

static int spawn(ts_src_pipe_t *p, char *err, size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char *argv[] = { "sh", "-c", p->cmd, NULL };
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        if (devnull >= 0)
            close(devnull);
        return -1;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only until exec. Own process group, so the whole
         * pipeline can be signalled at once; die with us if we are killed without cleanup. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        if (fds[1] == 1)
            fcntl(1, F_SETFD, 0);
        else if (dup2(fds[1], 1) < 0)
            _exit(127);
        if (devnull >= 0)
            dup2(devnull, 0);
#ifdef SYS_close_range
        syscall(SYS_close_range, 3u, ~0u, 0u);
#endif
        /* libev blocks signals it watches, and we ignore SIGPIPE: give the command a clean slate. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        for (int sig = 1; sig < NSIG; sig++)
            sigaction(sig, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: killpg must work whichever side runs first */
    close(fds[1]);
    if (devnull >= 0)
        close(devnull);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    p->fd = fds[0];
    p->pid = pid;
    p->exited = 0;
    p->started_ns = ts_mono_ns();
    ev_io_set(&p->io, p->fd, EV_READ);
    ev_io_start(p->loop, &p->io);
    ev_child_set(&p->child, pid, 0);
    ev_child_start(p->loop, &p->child);
    ts_info("source command started (pid %d): %s", (int)pid, p->cmd);
    return 0;
}

static void close_pipe(ts_src_pipe_t *p)
{
    ev_io_stop(p->loop, &p->io);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void schedule(ts_src_pipe_t *p, uint64_t ran_ns)
{
    uint64_t d = ts_backoff_next(&p->backoff, ran_ns);
    ts_info("restarting source command in %.0f s", ts_ns_to_s(d));
    ev_timer_set(&p->restart, ts_ns_to_s(d), 0.);
    ev_timer_start(p->loop, &p->restart);
}

/* Both the process has exited and its stdout is closed: the run is over. */
static void run_over(ts_src_pipe_t *p)
{
    ev_timer_stop(p->loop, &p->linger);
    kill(-p->pid, SIGTERM); /* whatever it left behind in its group */
    uint64_t ran = ts_mono_ns() - p->started_ns;
    char how[64];
    if (WIFEXITED(p->status))
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(p->status));
    else
        snprintf(how, sizeof how, "ended (status 0x%x)", (unsigned)p->status);
    p->pid = 0;
    if (p->stopped)
        return;
    ts_warn("source command %s after %.1f s", how, ts_ns_to_s(ran));
    p->cb.ended(1, p->arg);
    schedule(p, ran);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_src_pipe_t *p = w->data;
    for (int i = 0; i < READS_PER_WAKEUP && p->fd >= 0; i++) {
        ssize_t n = read(p->fd, p->buf, sizeof p->buf);
        if (n > 0) {
            p->cb.data(p->buf, (size_t)n, p->arg);
            if ((size_t)n < sizeof p->buf)
                break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n < 0)
            ts_warn("reading source command output: %s", strerror(errno));
        close_pipe(p);
        if (p->exited)
            run_over(p);
        else
            ev_timer_start(p->loop, &p->linger);
    }
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    ts_src_pipe_t *p = w->data;
    ev_child_stop(loop, w);
    p->exited = 1;
    p->status = w->rstatus;
    if (p->fd >= 0) {
        /* Take what it wrote before exiting; then close, even if a straggler still holds the pipe. */
        for (int i = 0; i < 256; i++) {
            ssize_t n = read(p->fd, p->buf, sizeof p->buf);
            if (n <= 0)
                break;
            p->cb.data(p->buf, (size_t)n, p->arg);
        }
        close_pipe(p);
    }
    run_over(p);
}

static void on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_pipe_t *p = w->data;
    if (p->pid && !p->exited) {
        ts_warn("source command closed its output but did not exit: stopping it");
        kill(-p->pid, SIGTERM);
    }
}

static void on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_pipe_t *p = w->data;
    char err[128];
    if (spawn(p, err, sizeof err) < 0) {
        ts_error("cannot start source command: %s", err);
        schedule(p, 0);
        return;
    }
    p->cb.restarted(p->arg);
}

ts_src_pipe_t *ts_src_pipe_new(struct ev_loop *loop, const char *cmd, const ts_source_cb_t *cb, void *arg, char *err,
                               size_t errlen)
{
    if (!ev_is_default_loop(loop)) {
        snprintf(err, errlen, "a command source needs the default loop (ev_child)");
        return NULL;
    }
    ts_src_pipe_t *p = calloc(1, sizeof *p);
    if (!p || !(p->cmd = strdup(cmd))) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->cb = *cb;
    p->arg = arg;
    p->fd = -1;
    ts_backoff_init(&p->backoff, RESTART_MIN_NS, RESTART_MAX_NS, RESTART_HEALTHY_NS);
    ev_init(&p->io, on_readable);
    ev_init(&p->child, on_child);
    ev_init(&p->restart, on_restart);
    ev_timer_init(&p->linger, on_linger, EOF_GRACE_S, 0.);
    p->io.data = p->child.data = p->restart.data = p->linger.data = p;
    if (spawn(p, err, errlen) < 0) {
        ts_src_pipe_destroy(&p);
        return NULL;
    }
    return p;
}

void ts_src_pipe_stop(ts_src_pipe_t *p)
{
    p->stopped = 1;
    ev_timer_stop(p->loop, &p->restart);
    ev_timer_stop(p->loop, &p->linger);
    ev_io_stop(p->loop, &p->io); /* the pipe stays open until destroy, so its last writes do not fail */
    if (p->pid && !p->exited)
        kill(-p->pid, SIGTERM);
}

void ts_src_pipe_destroy(ts_src_pipe_t **self)
{
    ts_src_pipe_t *p = *self;
    if (!p)
        return;
    ts_src_pipe_stop(p);
    ev_child_stop(p->loop, &p->child);
    if (p->pid) {
        /* Give the group a moment to exit cleanly (ffmpeg finishes its output), then make sure. */
        uint64_t until = ts_mono_ns() + STOP_GRACE_NS;
        int reaped = p->exited, gone = 0;
        while (!gone && ts_mono_ns() < until) {
            if (!reaped && waitpid(p->pid, NULL, WNOHANG) != 0)
                reaped = 1;
            gone = reaped && kill(-p->pid, 0) < 0 && errno == ESRCH;
            if (!gone)
                usleep(20000);
        }
        if (!gone) {
            ts_warn("source command group %d ignored SIGTERM: killing it", (int)p->pid);
            kill(-p->pid, SIGKILL);
            if (!reaped)
                waitpid(p->pid, NULL, 0);
        }
    }
    close_pipe(p);
    free(p->cmd);
    free(p);
    *self = NULL;
}
