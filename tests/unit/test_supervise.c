/* The supervisor's state x event table (tsctl/sup_table.c): events fed in the order a stage's
 * life produces them, the action and next state each gives; the crash budget; the backoff. */
#include "check.h"
#include "sup_table.h"
#include "ts_exit.h"
#include <string.h>
#include <sys/wait.h>

/* Feed ev to *state as supervise.c does: A_DIED's next state is the caller's verdict. */
static saction_t feed(sstate_t *state, sevent_t ev, sstate_t died_next)
{
    sup_trans_t t = sup_transition(*state, ev);
    *state = t.action == A_DIED ? died_next : t.next;
    return t.action;
}

static void life(void)
{
    sstate_t s = S_DOWN;
    CHECK(feed(&s, E_START, 0) == A_SPAWN && s == S_STARTING, "down + start: spawn, starting");
    CHECK(feed(&s, E_START, 0) == A_NONE && s == S_STARTING, "starting + start: nothing");
    CHECK(feed(&s, E_READY, 0) == A_READY && s == S_READY, "starting + ready: ready");
    CHECK(feed(&s, E_READY, 0) == A_NONE && s == S_READY, "ready + ready: nothing");
    CHECK(feed(&s, E_TIMER, 0) == A_NONE && s == S_READY, "ready + timer: nothing");
    CHECK(feed(&s, E_HANG, 0) == A_KILL && s == S_READY, "ready + hang: kill, its death follows");
    CHECK(feed(&s, E_DIED, S_BACKOFF) == A_DIED && s == S_BACKOFF, "ready + died: backoff");
    CHECK(feed(&s, E_DIED, 0) == A_NONE && s == S_BACKOFF, "backoff + died: nothing");
    CHECK(feed(&s, E_HANG, 0) == A_NONE && s == S_BACKOFF, "backoff + hang: nothing");
    CHECK(feed(&s, E_TIMER, 0) == A_SPAWN && s == S_STARTING, "backoff + timer: spawn");
    CHECK(feed(&s, E_TIMER, 0) == A_KILL && s == S_STARTING, "starting + timer (start timeout): kill");
    CHECK(feed(&s, E_HANG, 0) == A_KILL && s == S_STARTING, "starting + hang: kill");
    CHECK(feed(&s, E_DIED, S_FAILED) == A_DIED && s == S_FAILED, "starting + died past the budget: failed");
    for (int e = 0; e < E_NEVENTS; e++)
        if (e != E_RESTART) {
            sup_trans_t t = sup_transition(S_FAILED, (sevent_t)e);
            CHECK(t.action == A_NONE && t.next == S_FAILED, "failed stays failed on event %d", e);
        }
    CHECK(feed(&s, E_RESTART, 0) == A_SPAWN && s == S_STARTING, "failed + restart: spawn");
    CHECK(feed(&s, E_RESTART, 0) == A_RESTART && s == S_STARTING, "starting + restart: restart");
    CHECK(feed(&s, E_READY, 0) == A_READY && s == S_READY, "then ready");
    CHECK(feed(&s, E_RESTART, 0) == A_RESTART && s == S_READY, "ready + restart: TERM, state kept until it dies");
    CHECK(feed(&s, E_STOP, 0) == A_TERM && s == S_STOPPING, "ready + stop: term, stopping");
    CHECK(feed(&s, E_STOP, 0) == A_NONE && s == S_STOPPING, "stopping + stop: nothing");
    CHECK(feed(&s, E_RESTART, 0) == A_NONE && s == S_STOPPING, "stopping + restart: nothing");
    CHECK(feed(&s, E_TIMER, 0) == A_KILL && s == S_STOPPING, "stopping + timer (grace over): kill");
    CHECK(feed(&s, E_DIED, 0) == A_NONE && s == S_DOWN, "stopping + died: down, no verdict");
    CHECK(feed(&s, E_STOP, 0) == A_NONE && s == S_DOWN, "down + stop: nothing");
    CHECK(feed(&s, E_RESTART, 0) == A_SPAWN && s == S_STARTING, "down + restart: spawn");

    s = S_BACKOFF;
    CHECK(feed(&s, E_STOP, 0) == A_NONE && s == S_DOWN, "backoff + stop: down at once");
    s = S_BACKOFF;
    CHECK(feed(&s, E_RESTART, 0) == A_SPAWN && s == S_STARTING, "backoff + restart: spawn at once");
    s = S_STARTING;
    CHECK(feed(&s, E_STOP, 0) == A_TERM && s == S_STOPPING, "starting + stop: term");

    /* Only a running stage's death asks for a verdict. */
    for (int st = 0; st < S_NSTATES; st++) {
        sup_trans_t t = sup_transition((sstate_t)st, E_DIED);
        CHECK((t.action == A_DIED) == (st == S_STARTING || st == S_READY), "died in %s: action %d",
              sup_state_name[st], t.action);
    }
    CHECK(strcmp(sup_state_name[S_BACKOFF], "backoff") == 0 && strcmp(sup_state_name[S_FAILED], "failed") == 0,
          "state names as tsctl status shows them");
}

static void budget(void)
{
    uint64_t crashes[SUP_CRASH_LIMIT + 1] = { 0 };
    int n = 0, recent = 0;
    uint64_t t = 1000 * TS_NS_PER_S;
    for (int i = 0; i < SUP_CRASH_LIMIT; i++)
        recent = sup_count_crash(crashes, &n, t + (uint64_t)i * TS_NS_PER_S);
    CHECK(recent == SUP_CRASH_LIMIT && sup_died_next(1, recent) == S_BACKOFF, "%d crashes: still restarted",
          recent);
    recent = sup_count_crash(crashes, &n, t + 10 * TS_NS_PER_S);
    CHECK(recent == SUP_CRASH_LIMIT + 1 && sup_died_next(1, recent) == S_FAILED, "one more: failed (%d)", recent);
    CHECK(n == SUP_CRASH_LIMIT + 1, "kept %d crash times", n);
    /* Crashes spread wider than the window never exhaust the budget. */
    n = 0;
    for (int i = 0; i < 50; i++)
        recent = sup_count_crash(crashes, &n, t + (uint64_t)i * (SUP_CRASH_WINDOW_NS / 4));
    CHECK(recent <= 4 && n == SUP_CRASH_LIMIT + 1, "sparse crashes: %d recent", recent);
    CHECK(crashes[n - 1] == t + 49 * (SUP_CRASH_WINDOW_NS / 4) && crashes[0] < crashes[1], "oldest first");
    CHECK(sup_died_next(TS_EXIT_USAGE, 1) == S_FAILED, "usage error: failed at once");
    CHECK(sup_died_next(TS_EXIT_CONFIG, 0) == S_FAILED, "configuration error: failed at once");
    CHECK(sup_died_next(TS_EXIT_FAIL, 1) == S_BACKOFF, "other failure: backoff");
    CHECK(sup_died_next(128 + 9, 1) == S_BACKOFF, "killed: backoff");
}

static void backoff(void)
{
    double delay = 0, d;
    d = sup_backoff(&delay, 0, 1.0);
    CHECK(d == SUP_BACKOFF_MIN_S && delay == SUP_BACKOFF_MIN_S, "first: %.2f", d);
    d = sup_backoff(&delay, 0, 1.0);
    CHECK(d == 2 * SUP_BACKOFF_MIN_S, "doubles: %.2f", d);
    for (int i = 0; i < 20; i++)
        d = sup_backoff(&delay, 0, 1.0);
    CHECK(d == SUP_BACKOFF_MAX_S && delay == SUP_BACKOFF_MAX_S, "capped: %.2f", d);
    d = sup_backoff(&delay, 0, 0.8);
    CHECK(d == 0.8 * SUP_BACKOFF_MAX_S, "jitter scales the delay: %.2f", d);
    d = sup_backoff(&delay, 1, 1.0);
    CHECK(d == SUP_QUICK_RESTART_S && delay == 0, "quick restart, and the backoff starts over");
    d = sup_backoff(&delay, 0, 1.0);
    CHECK(d == SUP_BACKOFF_MIN_S, "from the minimum again: %.2f", d);
}

static void exit_codes(void)
{
    char why[64];
    CHECK(sup_exit_code(TS_EXIT_CONFIG << 8, why, sizeof why) == TS_EXIT_CONFIG && strcmp(why, "exit code 101") == 0,
          "exit: %s", why);
    CHECK(sup_exit_code(9, why, sizeof why) == 137 && strcmp(why, "signal 9") == 0, "signal: %s", why);
}

int main(void)
{
    life();
    budget();
    backoff();
    exit_codes();
    CHECK_DONE();
}
