/* The supervisor's process table and state, shared by supervise.c (the state machine, logs,
 * commands), sup_beat.c (counters and peers from heartbeats), sup_spawn.c (stage arguments, fork
 * and exec), health.c (flow, rates, restarts), sup_status.c (the status message) and sup_http.c
 * (status page, status.json, /metrics). */
#ifndef TSCTL_SUPERVISE_H
#define TSCTL_SUPERVISE_H
#include "instance.h"
#include "logfile.h"
#include "sup_table.h"
#include "ts_buf.h"
#include "ts_bus.h"
#include "ts_stage.h"
#include <ev.h>
#include <stdint.h>
#include <sys/types.h>

#define SUP_MAX_ARGS 32
#define SUP_MAX_PROCS 4
#define SUP_MAX_COUNTERS (TS_STAGE_MAX_COUNTERS + 2) /* a stage's own, log_dropped and metrics_port */
#define SUP_HEALTHY_NS (10ull * TS_NS_PER_S)  /* ready this long: the next crash restarts at once */
#define SUP_WATCHDOG_NS (10ull * TS_NS_PER_S) /* no heartbeat this long: the stage hangs */
#define SUP_START_NS (30ull * TS_NS_PER_S)    /* no READY this long after spawn: kill it */
#define SUP_TICK_S 1.0                        /* watchdog period */
#define SUP_GAP_NS (3ull * TS_NS_PER_S)       /* a loop turn this long: we were suspended */
#define SUP_STOP_GRACE_S 5.0                  /* SIGTERM, then SIGKILL */
#define SUP_READY_GRACE_S 5.0                 /* every stage up, not all ready: report started anyway */
#define SUP_LOG_PIPE_SIZE (1 << 20)           /* room for a sanitizer report while we are busy */
#define SUP_LOG_READ_MAX (1 << 20)            /* bytes read from one stage per loop turn */

typedef struct proc proc_t;
typedef struct sup sup_t;

struct proc {
    sup_t *sup;
    const char *name;
    char *argv[SUP_MAX_ARGS + 1];
    int argc;
    char *env; /* "NAME=VALUE" put into the stage's environment, or NULL (a secret kept off argv) */
    sstate_t state;
    pid_t pid;
    ev_child child;
    ev_timer timer;
    uint64_t started_ns, ready_ns, last_beat_ns;
    uint64_t restarts;
    double delay;
    uint64_t crashes[SUP_CRASH_LIMIT + 1]; /* times of the latest crashes, oldest first */
    int ncrashes, last_status, restart_now;
    char reason[600]; /* why it failed, or why it waits to restart */
    int ok;           /* its own readiness, as its last heartbeat said (and its /readyz answers) */
    char why[256];    /* the reason it gave: why not ready, or a note ("source idle 12 s") */
    int logpipe[2];   /* the stage's stdout and stderr; we read [0] */
    ev_io logio;
    logfile_t *log;
    int ncounters;
    char cname[SUP_MAX_COUNTERS][32];
    int64_t cval[SUP_MAX_COUNTERS];
    int npeers; /* its peer list from its last HEARTBEAT (sup_beat.c), the strings in peer_text */
    Ts__PeerStatus peer[TS_MSG_MAX_PEERS], *peerp[TS_MSG_MAX_PEERS];
    char peer_text[TS_MSG_MAX_PEERS][3][TS_MSG_PEER_TEXT]; /* addr, client, via */
};

struct sup {
    struct ev_loop *loop;
    instance_t inst;
    proc_t procs[SUP_MAX_PROCS];
    int nprocs;
    ts_bus_t *bus;
    int notify_fd, stopping, was_ready;
    int foreground; /* run by a service manager (tsctl start --foreground): see supervise.c */
    int journal;    /* and our stderr is the journal's stream: lines carry a priority prefix */
    int exit_code;  /* of the first stage that failed for good; 0 if none */
    ev_timer watchdog;
    ev_timer ready_grace; /* started once every stage is up: see check_ready in supervise.c */
    int grace_over;
    ev_check turn;
    uint64_t last_turn_ns;
    ev_signal sigterm, sigint;
    char ep_sup[600], logdir[600];
    logfile_t *log; /* our own */
    char logbuf[16384];
    struct health *health;   /* health.c */
    struct sup_http *http;   /* sup_http.c */
    char status_url[96];     /* the status page, "" without one */
};

#endif
