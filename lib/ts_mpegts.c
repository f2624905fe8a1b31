#include "ts_mpegts.h"
#include <fcntl.h>
#include <unistd.h>

#define PKT 188

int ts_mpegts_looks(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < PKT && i + 2 * PKT < len; i++)
        if (buf[i] == 0x47 && buf[i + PKT] == 0x47 && buf[i + 2 * PKT] == 0x47)
            return 1;
    return 0;
}

int ts_mpegts_file(const char *path)
{
    uint8_t buf[4 * PKT];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n < 0 ? -1 : ts_mpegts_looks(buf, (size_t)n);
}
