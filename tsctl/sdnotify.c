#include "sdnotify.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

int sdnotify_journal_fd(int fd)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int sdnotify_priority(const char *line, size_t len)
{
    static const struct { const char *level; int prio; } map[] = {
        { "error", 3 }, { "warn", 4 }, { "info", 6 }, { "debug", 7 },
    };
    for (size_t i = 0; i + 6 < len; i++) {
        if (memcmp(line + i, "level=", 6) != 0 || (i > 0 && line[i - 1] != ' '))
            continue;
        for (size_t k = 0; k < sizeof map / sizeof *map; k++) {
            size_t n = strlen(map[k].level);
            if (i + 6 + n < len && memcmp(line + i + 6, map[k].level, n) == 0 && line[i + 6 + n] == ' ')
                return map[k].prio;
        }
        break;
    }
    return 6; /* notice-level info: a line without a level we know */
}

void sdnotify_stderr(int journal, const char *line, size_t len)
{
    char buf[4096];
    size_t n = 0;
    if (journal) /* so that journalctl -p err, and its colours, know an error from the rest */
        n = (size_t)snprintf(buf, sizeof buf, "<%d>", sdnotify_priority(line, len));
    if (len > sizeof buf - n)
        len = sizeof buf - n;
    memcpy(buf + n, line, len);
    ssize_t w = write(2, buf, n + len); /* one write: a line is never split */
    (void)w;
}
