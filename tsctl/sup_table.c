#include "sup_table.h"
#include "ts_exit.h"
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

const char *const sup_state_name[S_NSTATES] = { "down", "starting", "ready", "backoff", "stopping", "failed" };

#define T(a, s) { a, s }
static const sup_trans_t table[S_NSTATES][E_NEVENTS] = {
    /*              E_START              E_READY              E_DIED                E_TIMER              E_HANG               E_STOP                 E_RESTART */
    [S_DOWN]     = { T(A_SPAWN, S_STARTING), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_NONE, S_DOWN), T(A_SPAWN, S_STARTING) },
    [S_STARTING] = { T(A_NONE, S_STARTING), T(A_READY, S_READY), T(A_DIED, S_BACKOFF), T(A_KILL, S_STARTING), T(A_KILL, S_STARTING), T(A_TERM, S_STOPPING), T(A_RESTART, S_STARTING) },
    [S_READY]    = { T(A_NONE, S_READY), T(A_NONE, S_READY), T(A_DIED, S_BACKOFF), T(A_NONE, S_READY), T(A_KILL, S_READY), T(A_TERM, S_STOPPING), T(A_RESTART, S_READY) },
    [S_BACKOFF]  = { T(A_NONE, S_BACKOFF), T(A_NONE, S_BACKOFF), T(A_NONE, S_BACKOFF), T(A_SPAWN, S_STARTING), T(A_NONE, S_BACKOFF), T(A_NONE, S_DOWN), T(A_SPAWN, S_STARTING) },
    [S_STOPPING] = { T(A_NONE, S_STOPPING), T(A_NONE, S_STOPPING), T(A_NONE, S_DOWN), T(A_KILL, S_STOPPING), T(A_NONE, S_STOPPING), T(A_NONE, S_STOPPING), T(A_NONE, S_STOPPING) },
    [S_FAILED]   = { T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_NONE, S_FAILED), T(A_SPAWN, S_STARTING) },
};
#undef T

sup_trans_t sup_transition(sstate_t state, sevent_t ev) { return table[state][ev]; }

int sup_count_crash(uint64_t crashes[SUP_CRASH_LIMIT + 1], int *ncrashes, uint64_t now)
{
    if (*ncrashes == SUP_CRASH_LIMIT + 1) {
        memmove(crashes, crashes + 1, SUP_CRASH_LIMIT * sizeof *crashes);
        (*ncrashes)--;
    }
    crashes[(*ncrashes)++] = now;
    int recent = 0;
    for (int i = 0; i < *ncrashes; i++)
        recent += now - crashes[i] < SUP_CRASH_WINDOW_NS;
    return recent;
}

sstate_t sup_died_next(int exit_code, int recent_crashes)
{
    int config = exit_code == TS_EXIT_USAGE || exit_code == TS_EXIT_CONFIG;
    return config || recent_crashes > SUP_CRASH_LIMIT ? S_FAILED : S_BACKOFF;
}

double sup_backoff(double *delay, int quick, double jitter)
{
    if (quick) {
        *delay = 0;
        return SUP_QUICK_RESTART_S;
    }
    *delay = *delay < SUP_BACKOFF_MIN_S ? SUP_BACKOFF_MIN_S : *delay * 2;
    if (*delay > SUP_BACKOFF_MAX_S)
        *delay = SUP_BACKOFF_MAX_S;
    return *delay * jitter;
}

int sup_exit_code(int status, char *why, size_t len)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (WIFEXITED(status))
        snprintf(why, len, "exit code %d", code);
    else
        snprintf(why, len, "signal %d", WTERMSIG(status));
    return code;
}
