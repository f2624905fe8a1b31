/* Exit codes every tstream program uses; the supervisor reads them. */
#ifndef TS_EXIT_H
#define TS_EXIT_H
#define TS_EXIT_OK      0
#define TS_EXIT_NODATA  3   /* tsctl start: the broadcast runs, but its source sent nothing yet */
#define TS_EXIT_USAGE   100 /* bad arguments: restarting will not help */
#define TS_EXIT_CONFIG  101 /* bad key, metainfo, state or source file: do not restart */
#define TS_EXIT_FAIL    111 /* system failure: restart may help */
#define TS_EXIT_UNREADY 112 /* --exit-unready: not ready for too long after being ready; a restart may help */
#endif
