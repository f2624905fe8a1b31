/* The supervisor's status message: its instance and stages as a Ts__InstanceStatus, answered to
 * `tsctl status` (MSG_STATUS_REP) and rendered for /status.json. Strings point into the
 * supervisor's state: use it before the loop turns again. */
#ifndef TSCTL_SUP_STATUS_H
#define TSCTL_SUP_STATUS_H
#include "supervise.h"
#include "ts_msg.h"

typedef struct {
    Ts__InstanceStatus in;
    Ts__StageStatus st[SUP_MAX_PROCS], *stp[SUP_MAX_PROCS];
    Ts__Counter c[SUP_MAX_PROCS][SUP_MAX_COUNTERS], *cp[SUP_MAX_PROCS][SUP_MAX_COUNTERS];
    char metrics_url[SUP_MAX_PROCS][64];
    char source[1100]; /* the source as shown: an SRT passphrase masked */
} sup_status_t;

void sup_status_fill(sup_t *s, sup_status_t *out);
/* The state a stage is shown in, everywhere (tsctl status, --json, the page, the supervisor's
 * /metrics and /readyz): the table's state, except that a running stage whose own readiness says
 * no (its /readyz answers 503) is "unready". *reason: why (unready, failed, backoff) or a note
 * of a ready stage ("source idle 12 s"); NULL if none. */
const char *sup_status_state(const proc_t *p, const char **reason);
#define SUP_STATE_UNREADY "unready"
#endif
