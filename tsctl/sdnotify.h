/* The service manager's readiness protocol (sd_notify(3), Type=notify) without libsystemd: a
 * foreground supervisor tells systemd when every stage is ready, what it is doing, and that its
 * loop still turns (WatchdogSec=). Outside a Type=notify service every call does nothing. */
#ifndef TSCTL_SDNOTIFY_H
#define TSCTL_SDNOTIFY_H
#include <stddef.h>

/* Take $NOTIFY_SOCKET and the watchdog settings from the environment and remove them, so that
 * stages and their source commands do not inherit them. */
void sdnotify_init(void);
/* Send one state string ("READY=1", "STATUS=…", "STOPPING=1"). 0 sent or nothing to do, -1 failed. */
int sdnotify(const char *state);
/* "WATCHDOG=1" if the service has WatchdogSec= set for this process; else nothing. */
void sdnotify_watchdog(void);
/* 1 if fd is the journal's stream ($JOURNAL_STREAM names its device and inode): its lines then
 * carry a syslog priority prefix, "<3>" for errors … "<7>" for debug (sd-daemon(3)). */
int sdnotify_journal_fd(int fd);
/* That prefix for a tstream log line, by its level= field: 3 error, 4 warn, 6 info, 7 debug. */
int sdnotify_priority(const char *line, size_t len);
/* A log line to stderr in one write, with that prefix if stderr is the journal. */
void sdnotify_stderr(int journal, const char *line, size_t len);
#endif
