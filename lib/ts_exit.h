/* Exit codes every tstream program uses; the supervisor reads them. */
#ifndef TS_EXIT_H
#define TS_EXIT_H
#define TS_EXIT_OK      0
#define TS_EXIT_NODATA  3   /* tsctl start: the broadcast runs, but its source sent nothing yet */
/* tsctl status NAME...: as `systemctl is-active`, 0 when every named instance runs and is ready;
 * the worse, the higher: */
#define TS_EXIT_DEGRADED 3  /* running, but a stage is not ready or the stream is stalled */
#define TS_EXIT_DOWN    4   /* a stage failed, or the instance's supervisor is gone */
#define TS_EXIT_NOTFOUND 5  /* tsctl status, stop, restart, logs: no instance of that name */
#define TS_EXIT_USAGE   100 /* bad arguments: restarting will not help */
#define TS_EXIT_CONFIG  101 /* bad key, metainfo, state or source file: do not restart */
#define TS_EXIT_FAIL    111 /* system failure: restart may help */
#define TS_EXIT_UNREADY 112 /* --exit-unready: not ready for too long after being ready; a restart may help */
#endif
