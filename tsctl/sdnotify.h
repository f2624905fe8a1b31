/* The service manager's readiness protocol (sd_notify(3), Type=notify) without libsystemd: a
 * foreground supervisor tells systemd when every stage is ready, what it is doing, and that its
 * loop still turns (WatchdogSec=). Outside a Type=notify service every call does nothing. */
#ifndef TSCTL_SDNOTIFY_H
#define TSCTL_SDNOTIFY_H

/* Take $NOTIFY_SOCKET and the watchdog settings from the environment and remove them, so that
 * stages and their source commands do not inherit them. */
void sdnotify_init(void);
/* Send one state string ("READY=1", "STATUS=…", "STOPPING=1"). 0 sent or nothing to do, -1 failed. */
int sdnotify(const char *state);
/* "WATCHDOG=1" if the service has WatchdogSec= set for this process; else nothing. */
void sdnotify_watchdog(void);
#endif
