/* --exit-unready in the shared stage code (lib/ts_stage.c): a stage that was ready and then stays
 * not ready for the limit stops its loop, runs its stop hook and reports TS_EXIT_UNREADY; one that
 * stays ready, one never ready since it started, and one not ready for less than the limit keep
 * running. Each case runs a real libev loop; an outer timer ends the cases that must not exit, and
 * a generous one guards the case that must (no assertion on how long anything took). Then the
 * skeleton: boot, run until ts_stage_stop, the code it gave (the first one), teardown; an unusable
 * --metrics address ends the run before the loop with TS_EXIT_CONFIG. */
#include "check.h"
#include "ts_exit.h"
#include "ts_stage.h"
#include <ev.h>
#include <stdio.h>
#include <string.h>

static int ready_now, stopped, ended_by_timer;

static int readiness(void *arg, char *why, size_t whylen)
{
    if (!ready_now)
        snprintf(why, whylen, "upstream not heard from for 5 s");
    return ready_now;
}

static void on_stop(void *arg) { stopped++; }

static void on_end(struct ev_loop *loop, ev_timer *w, int revents)
{
    ended_by_timer = 1;
    ev_break(loop, EVBREAK_ALL);
}

static void on_flip(struct ev_loop *loop, ev_timer *w, int revents) { ready_now = (int)(intptr_t)w->data; }

/* Run a stage with --exit-unready `limit`, ready from the start or not; flip readiness to flip_to
 * at `at1` and back at `at2` (0: never); end the loop at `end` unless the stage ends it first.
 * Returns the code main would return. */
static int run(double limit, int ready0, double at1, double at2, double end)
{
    struct ev_loop *loop = EV_DEFAULT;
    ready_now = ready0;
    stopped = ended_by_timer = 0;
    ts_stage_t *st = ts_stage_new(loop, NULL, "signer", "unit", NULL);
    if (!st)
        return -1;
    ts_stage_readiness(st, readiness, NULL);
    ts_stage_on_stop(st, on_stop, NULL);
    ts_stage_exit_unready(st, limit);
    ts_stage_ready(st);
    ev_timer t_end, t1, t2;
    ev_timer_init(&t_end, on_end, end, 0);
    ev_timer_start(loop, &t_end);
    ev_timer_init(&t1, on_flip, at1, 0);
    ev_timer_init(&t2, on_flip, at2, 0);
    t1.data = (void *)(intptr_t)!ready0;
    t2.data = (void *)(intptr_t)ready0;
    if (at1 > 0)
        ev_timer_start(loop, &t1);
    if (at2 > 0)
        ev_timer_start(loop, &t2);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t_end);
    ev_timer_stop(loop, &t1);
    ev_timer_stop(loop, &t2);
    int code = ts_stage_exit_code(st, TS_EXIT_OK);
    ts_stage_destroy(&st);
    return code;
}

static void on_stop_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_stage_stop(w->data, 42);
    ts_stage_stop(w->data, 43); /* the first code wins */
}

static void test_skeleton(void)
{
    ts_stage_opts_t o = { .instance = "unit", .metrics = "127.0.0.1:0" };
    int code = -1;
    ts_stage_t *st = ts_stage_boot(TS_TOPO_SIGNER, &o, &code);
    CHECK(st && ts_stage_loop(st) && ts_stage_zctx(st) && ts_stage_opts(st)->metrics, "boot");
    if (!st)
        return;
    ev_timer t;
    ev_timer_init(&t, on_stop_timer, 0.05, 0);
    t.data = st;
    ev_timer_start(ts_stage_loop(st), &t);
    code = ts_stage_run(st, TS_EXIT_OK);
    CHECK(code == 42, "run returns the code given to ts_stage_stop: %d", code);
    CHECK(ts_stage_end(&st, code) == 42 && st == NULL, "end returns the code and clears the stage");

    o.metrics = "256.1.1.1:1";
    st = ts_stage_boot(TS_TOPO_INGEST, &o, &code);
    CHECK(st && ts_stage_run(st, TS_EXIT_OK) == TS_EXIT_CONFIG, "unusable --metrics: TS_EXIT_CONFIG");
    ts_stage_end(&st, 0);
    CHECK(ts_stage_end(&st, 7) == 7, "end of no stage passes the code through");
}

int main(void)
{
    double v = 0;
    CHECK(ts_stage_unready_arg("30", &v) == 0 && v == 30, "30 s accepted (%g)", v);
    CHECK(ts_stage_unready_arg("2.5", &v) == 0 && v == 2.5, "2.5 s accepted (%g)", v);
    CHECK(ts_stage_unready_arg("0", &v) < 0, "0 refused");
    CHECK(ts_stage_unready_arg("-5", &v) < 0, "-5 refused");
    CHECK(ts_stage_unready_arg("86401", &v) < 0, "over a day refused");
    CHECK(ts_stage_unready_arg("10s", &v) < 0, "trailing junk refused");
    CHECK(ts_stage_unready_arg("", &v) < 0, "empty refused");
    CHECK(ts_stage_exit_code(NULL, 7) == 7, "no stage: code passes through");

    /* Healthy throughout, for well over the limit: keeps running. */
    int code = run(1, 1, 0, 0, 4);
    CHECK(code == TS_EXIT_OK && ended_by_timer && !stopped, "healthy stage: code %d, ended by timer %d, stop hook %d",
          code, ended_by_timer, stopped);

    /* Never ready since it started (its upstream not there yet): waits, a restart would not help. */
    code = run(1, 0, 0, 0, 4);
    CHECK(code == TS_EXIT_OK && ended_by_timer && !stopped, "never-ready stage: code %d, ended by timer %d", code,
          ended_by_timer);

    /* Ready, then its upstream goes away for good: it exits by itself, through its stop hook. */
    code = run(1, 1, 1.5, 0, 120);
    CHECK(code == TS_EXIT_UNREADY && !ended_by_timer && stopped == 1,
          "stage left not ready: code %d (want %d), ended by timer %d, stop hook %d", code, TS_EXIT_UNREADY,
          ended_by_timer, stopped);

    /* A blip far shorter than the limit: keeps running. */
    code = run(60, 1, 1.5, 3.5, 6);
    CHECK(code == TS_EXIT_OK && ended_by_timer && !stopped, "short blip: code %d, ended by timer %d", code,
          ended_by_timer);

    /* Option off: never exits for readiness. */
    code = run(0, 1, 1, 0, 4);
    CHECK(code == TS_EXIT_OK && ended_by_timer, "option off: code %d, ended by timer %d", code, ended_by_timer);
    test_skeleton();
    CHECK_DONE();
}
