/* The supervisor's processes: which stages an instance runs and with which arguments, starting
 * one (fork + exec into its own process group, output into its log pipe), and killing what a
 * dead stage left behind. Timers, child watchers and states stay in supervise.c. */
#ifndef TSCTL_SUP_SPAWN_H
#define TSCTL_SUP_SPAWN_H
#include "supervise.h"

/* Fill s->procs with the stages of the instance's role, in start order, each with its argv.
 * Returns how many. */
int sup_procs_build(sup_t *s, const char *role);
/* Fork and exec p; the child dies with the supervisor. Its pid, or -1 (errno from fork). */
pid_t sup_spawn(proc_t *p);
/* Send sig to every child that is not a current stage (we are a child subreaper: orphans of a
 * stage's children become ours). How many there were. */
int sup_kill_orphans(sup_t *s, int sig);
#endif
