#include "ts_net.h"
#include "ts_err.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ts_net_listen(const char *addr, uint16_t port, int backlog, uint16_t *bound, int *err_no, char *err,
                  size_t errlen)
{
    char host[256], serv[8];
    size_t alen = strlen(addr);
    if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']')
        snprintf(host, sizeof host, "%.*s", (int)(alen - 2), addr + 1);
    else
        snprintf(host, sizeof host, "%s", addr);
    snprintf(serv, sizeof serv, "%u", port);
    *err_no = 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    int gai = getaddrinfo(host, serv, &hints, &res);
    if (gai != 0)
        return ts_err(err, errlen, "%s: %s", host, gai_strerror(gai));
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart while old sockets sit in TIME_WAIT */
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *err_no = e ? e : EINVAL;
        return ts_err(err, errlen, "cannot listen on %s port %u: %s", host, port, strerror(*err_no));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}
