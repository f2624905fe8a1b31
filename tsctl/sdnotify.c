#include "sdnotify.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addrlen; /* 0: no service manager listens */
static int watchdog;

void sdnotify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET"), *wpid = getenv("WATCHDOG_PID"), *wusec = getenv("WATCHDOG_USEC");
    size_t n = path ? strlen(path) : 0;
    /* A path, or '@' for Linux's abstract namespace; anything else (vsock:) is not for us. */
    if (n > 1 && n < sizeof addr.sun_path && (path[0] == '/' || path[0] == '@')) {
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, path, n);
        if (addr.sun_path[0] == '@')
            addr.sun_path[0] = 0;
        addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    /* The watchdog is ours only if meant for this pid (or for whoever the manager started). */
    watchdog = wusec && atoll(wusec) > 0 && (!wpid || atol(wpid) == (long)getpid());
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
}

int sdnotify(const char *state)
{
    if (!addrlen)
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t len = strlen(state);
    ssize_t w = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&addr, addrlen);
    close(fd);
    return w == (ssize_t)len ? 0 : -1;
}

void sdnotify_watchdog(void)
{
    if (watchdog)
        sdnotify("WATCHDOG=1");
}
