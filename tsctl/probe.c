/* tsctl probe URL [--timeout SECONDS]: a container health check that needs nothing but tsctl in the
 * image. GET URL (http:// only); exit 0 if it answers 200, else 1 (what Docker and podman read as
 * healthy / unhealthy; 2 is reserved there, so no other failure code). Prints the status and the
 * first line of the body (a stage's /readyz says why it is not ready), which `docker inspect`
 * keeps in the health log. */
#include "ts_exit.h"
#include "ts_http.h"
#include "ts_sock.h"
#include "ts_time.h"
#include "ts_url.h"
#include "tsctl.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MAX_RESPONSE 8192 /* a health endpoint's answer is a line or two */
#define PROBE_UNHEALTHY 1

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl probe URL [--timeout SECONDS]\n"
               "GETs URL (http://HOST:PORT/PATH, e.g. a stage's http://127.0.0.1:9477/readyz) and exits 0 if it\n"
               "answers 200, 1 otherwise (refused, timed out, any other status), printing the status and the\n"
               "first line of the answer. --timeout: for the whole exchange (default 5 s).\n");
}

static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(deadline->tv_sec - now.tv_sec) * (long)TS_MS_PER_S + (deadline->tv_nsec - now.tv_nsec) / (long)TS_NS_PER_MS;
    return ms > 0 ? (int)ms : 0;
}

/* Wait for events on fd until the deadline. 0, or -1 (timeout or error, errno set). */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        int left = ms_left(deadline);
        if (left == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* A non-blocking connect (lib/ts_sock.h) to each address of host in turn, until the deadline. */
static int connect_to(const char *host, uint16_t port, const struct timespec *deadline, char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%.200s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    snprintf(why, whylen, "no address");
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        int pending;
        fd = ts_sock_connect(a->ai_addr, a->ai_addrlen, NULL, 0, &pending);
        if (fd >= 0 && pending && (wait_fd(fd, POLLOUT, deadline) < 0 || ts_sock_connected(fd) < 0)) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
        if (fd < 0)
            snprintf(why, whylen, "%s", strerror(errno));
    }
    freeaddrinfo(res);
    return fd;
}

#define CONTINUE (-1) /* a step's "go on" */

static int parse_args(int argc, char **argv, const char **url, double *timeout)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return TS_EXIT_OK;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            char *e;
            *timeout = strtod(argv[++i], &e);
            if (*e || e == argv[i] || !(*timeout > 0 && *timeout <= 3600)) {
                fprintf(stderr, "tsctl probe: bad --timeout '%s' (seconds, up to 3600)\n", argv[i]);
                return TS_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !*url) {
            *url = argv[i];
        } else {
            fprintf(stderr, "tsctl probe: unexpected argument '%s'\n", argv[i]);
            return tsctl_usage_error("probe");
        }
    }
    return CONTINUE;
}

static void deadline_in(double secs, struct timespec *deadline)
{
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += (time_t)secs;
    deadline->tv_nsec += (long)((secs - (double)(time_t)secs) * (double)TS_NS_PER_S);
    if (deadline->tv_nsec >= (long)TS_NS_PER_S) {
        deadline->tv_sec++;
        deadline->tv_nsec -= (long)TS_NS_PER_S;
    }
}

/* Send the GET and read the answer (at most PROBE_MAX_RESPONSE bytes) into resp, NUL-terminated. */
static int exchange(int fd, const char *url, const ts_url_t *u, const struct timespec *deadline, double timeout,
                    char *resp, size_t *got)
{
    char req[1024], host[TS_URL_MAX_HOST + 10];
    if (ts_url_authority(u, 0, host, sizeof host) < 0)
        snprintf(host, sizeof host, "%s", u->host);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", u->target, host);
    if (n < 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "tsctl probe: URL too long\n");
        return TS_EXIT_USAGE;
    }
    /* Small enough for one socket buffer: a nonblocking send either takes it whole or fails. */
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        printf("%s: cannot send the request: %s\n", url, strerror(errno));
        return PROBE_UNHEALTHY;
    }
    *got = 0;
    for (;;) {
        ssize_t r = recv(fd, resp + *got, PROBE_MAX_RESPONSE - *got, 0);
        if (r > 0) {
            *got += (size_t)r;
            if (*got == PROBE_MAX_RESPONSE)
                break;
        } else if (r == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            if (wait_fd(fd, POLLIN, deadline) < 0) {
                printf("%s: no complete answer within %g s\n", url, timeout);
                return PROBE_UNHEALTHY;
            }
        } else {
            printf("%s: %s\n", url, strerror(errno));
            return PROBE_UNHEALTHY;
        }
    }
    resp[*got] = 0;
    return CONTINUE;
}

/* The status and the body's first line; healthy on 200. */
static int report(const char *url, char *resp, size_t got)
{
    ts_http_resp_t r;
    if (ts_http_resp_parse((const uint8_t *)resp, got, &r) != TS_HTTP_DONE) {
        printf("%s: not an HTTP answer\n", url);
        return PROBE_UNHEALTHY;
    }
    char *body = resp + r.head_len;
    body[strcspn(body, "\r\n")] = 0;
    printf("%d %s\n", r.status, body);
    return r.status == 200 ? TS_EXIT_OK : PROBE_UNHEALTHY;
}

int probe_main(int argc, char **argv)
{
    const char *url = NULL;
    double timeout = 5;
    int rc = parse_args(argc, argv, &url, &timeout);
    if (rc != CONTINUE)
        return rc;
    static ts_url_t u;
    char err[128];
    if (!url || ts_url_split(url, &u, err, sizeof err) < 0 || strcmp(u.scheme, "http") != 0) {
        fprintf(stderr, "tsctl probe: %s\n", url ? "expected an http://HOST:PORT/PATH URL" : "URL is required");
        return tsctl_usage_error("probe");
    }
    struct timespec deadline;
    deadline_in(timeout, &deadline);
    char why[256];
    int fd = connect_to(u.host, u.port, &deadline, why, sizeof why);
    if (fd < 0) {
        printf("%s: %s\n", url, why);
        return PROBE_UNHEALTHY;
    }
    static char resp[PROBE_MAX_RESPONSE + 1];
    size_t got;
    rc = exchange(fd, url, &u, &deadline, timeout, resp, &got);
    close(fd);
    return rc != CONTINUE ? rc : report(url, resp, got);
}
