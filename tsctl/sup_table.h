/* The supervisor's state x event table (after s6-supervise) and the pure decisions around it:
 * the crash budget and the restart delay. No process, timer or socket here: supervise.c runs the
 * actions; tests/unit/test_supervise.c feeds events and checks states and actions. */
#ifndef TSCTL_SUP_TABLE_H
#define TSCTL_SUP_TABLE_H
#include "ts_time.h"
#include <stddef.h>
#include <stdint.h>

#define SUP_CRASH_WINDOW_NS (120ull * TS_NS_PER_S)
#define SUP_CRASH_LIMIT 5 /* more crashes than this within the window: failed */
#define SUP_BACKOFF_MIN_S 0.5
#define SUP_BACKOFF_MAX_S 30.0
#define SUP_QUICK_RESTART_S 0.1

typedef enum { S_DOWN, S_STARTING, S_READY, S_BACKOFF, S_STOPPING, S_FAILED, S_NSTATES } sstate_t;
typedef enum { E_START, E_READY, E_DIED, E_TIMER, E_HANG, E_STOP, E_RESTART, E_NEVENTS } sevent_t;
typedef enum { A_NONE, A_SPAWN, A_DIED, A_TERM, A_KILL, A_READY, A_RESTART } saction_t;

extern const char *const sup_state_name[S_NSTATES];

typedef struct {
    saction_t action;
    sstate_t next; /* A_DIED decides between backoff and failed itself (sup_died_next) */
} sup_trans_t;

sup_trans_t sup_transition(sstate_t state, sevent_t ev);

/* Record a crash at now in crashes[] (the latest SUP_CRASH_LIMIT + 1, oldest first) and return
 * how many of them fall within SUP_CRASH_WINDOW_NS. */
int sup_count_crash(uint64_t crashes[SUP_CRASH_LIMIT + 1], int *ncrashes, uint64_t now);
/* A_DIED's verdict: S_FAILED for a configuration or usage exit code or past the crash budget,
 * else S_BACKOFF. */
sstate_t sup_died_next(int exit_code, int recent_crashes);
/* Seconds until the restart. quick (a restart asked for, or a stage that had been healthy):
 * SUP_QUICK_RESTART_S and *delay starts over; else *delay doubles from SUP_BACKOFF_MIN_S up to
 * SUP_BACKOFF_MAX_S, times jitter (0.8 .. 1.2). */
double sup_backoff(double *delay, int quick, double jitter);
/* The exit code of a wait status (128 + signal for a signal) and why it ended, in words. */
int sup_exit_code(int status, char *why, size_t len);
#endif
