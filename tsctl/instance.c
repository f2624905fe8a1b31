#include "instance.h"
#include "ts_time.h"
#include "ts_exit.h"
#include "ts_msg.h"
#include "ts_topology.h"
#include "ts_units.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

void inst_root(char *out, size_t len)
{
    const char *h = getenv("TSTREAM_HOME");
    if (h && *h) {
        snprintf(out, len, "%s", h);
        return;
    }
    const char *x = getenv("XDG_STATE_HOME");
    if (x && *x) {
        snprintf(out, len, "%s/tstream", x);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, len, "%s/.local/state/tstream", home && *home ? home : "/tmp");
}

int inst_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

void inst_dir_for(const char *name, const char *state_dir, char *out, size_t len)
{
    if (state_dir) {
        char abs[PATH_MAX];
        if (state_dir[0] != '/' && getcwd(abs, sizeof abs))
            snprintf(out, len, "%s/%s", abs, state_dir);
        else
            snprintf(out, len, "%s", state_dir);
        return;
    }
    char root[400];
    inst_root(root, sizeof root);
    snprintf(out, len, "%s/%s", root, name);
}

int inst_mkdirs(const char *path, int mode)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

const char *inst_get(const instance_t *in, const char *key)
{
    for (int i = 0; i < in->n; i++)
        if (strcmp(in->key[i], key) == 0)
            return in->val[i];
    return NULL;
}

void inst_set(instance_t *in, const char *key, const char *fmt, ...)
{
    int i;
    for (i = 0; i < in->n && strcmp(in->key[i], key) != 0; i++)
        ;
    if (i == in->n) {
        if (in->n == INST_KEYS)
            return;
        in->n++;
        snprintf(in->key[i], sizeof in->key[i], "%s", key);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->val[i], sizeof in->val[i], fmt, ap);
    va_end(ap);
}

int inst_load(instance_t *in, const char *dir)
{
    memset(in, 0, sizeof *in);
    snprintf(in->dir, sizeof in->dir, "%s", dir);
    char path[600];
    snprintf(path, sizeof path, "%s/instance.conf", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[600];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        *eq = 0;
        inst_set(in, line, "%s", eq + 1);
    }
    fclose(f);
    return 0;
}

int inst_save(const instance_t *in)
{
    char path[600], tmp[620];
    snprintf(path, sizeof path, "%s/instance.conf", in->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "# written by tsctl; read by its supervisor\n");
    for (int i = 0; i < in->n; i++)
        fprintf(f, "%s=%s\n", in->key[i], in->val[i]);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return rename(tmp, path);
}

int inst_endpoint(const char *dir, const char *name, char *out, size_t len)
{
    return ts_topo_ipc(dir, name, out, len);
}

void inst_binary(const char *name, char *out, size_t len)
{
    const char *lx = getenv("TS_LIBEXEC");
    char self[PATH_MAX];
    if (lx && *lx) {
        snprintf(out, len, "%s/%s", lx, name);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, len, "%s", name);
        return;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(out, len, "%s/%s", self, name);
}

/* Can a listener bind port on every address (as the stages do)? */
static int port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A port for a stage to listen on later. Picked at random BELOW the kernel's ephemeral range:
 * a port the kernel handed out (bind to port 0) is one it may next give to some outgoing
 * connection, which then holds it when the stage binds (seen as a failed start under load). */
uint16_t inst_free_port(void)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    unsigned base = 10000, top = lo > base + 1000 ? lo - 1 : 0;
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)ts_mono_ns();
    for (int i = 0; top && i < 64; i++) {
        uint16_t port = (uint16_t)(base + rand_r(&seed) % (top - base + 1));
        if (port_free(port))
            return port;
    }
    /* No room below the ephemeral range (a tuned kernel): let the kernel choose. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int inst_metrics_addr(const char *arg, char *out, size_t len)
{
    char host[64];
    uint16_t port;
    struct in_addr a;
    if (ts_units_hostport(arg, host, sizeof host, &port) < 0 || port == 0 || inet_pton(AF_INET, host, &a) != 1)
        return -1;
    return snprintf(out, len, "%s:%u", host, port) < (int)len ? 0 : -1;
}

static void registry_path(const char *name, char *out, size_t len)
{
    char root[400];
    inst_root(root, sizeof root);
    snprintf(out, len, "%s/instances/%s", root, name);
}

int inst_register(const char *name, const char *dir)
{
    char root[400], reg[512], link[600];
    inst_root(root, sizeof root);
    snprintf(reg, sizeof reg, "%s/instances", root);
    if (inst_mkdirs(reg, 0700) < 0)
        return -1;
    registry_path(name, link, sizeof link);
    unlink(link);
    return symlink(dir, link);
}

void inst_unregister(const char *name)
{
    char link[600];
    registry_path(name, link, sizeof link);
    unlink(link);
}

int inst_lookup(const char *name, char *dir, size_t len)
{
    char link[600];
    if (!inst_valid_name(name))
        return -1;
    registry_path(name, link, sizeof link);
    ssize_t n = readlink(link, dir, len - 1);
    if (n <= 0)
        return -1;
    dir[n] = 0;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int inst_each(int (*fn)(const char *name, const char *dir, void *arg), void *arg)
{
    char root[400], reg[512];
    inst_root(root, sizeof root);
    snprintf(reg, sizeof reg, "%s/instances", root);
    DIR *d = opendir(reg);
    if (!d)
        return 0;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char dir[512];
        if (rc == 0 && inst_lookup(names[i], dir, sizeof dir) == 0)
            rc = fn(names[i], dir, arg);
        free(names[i]);
    }
    return rc;
}

pid_t inst_supervisor_pid(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/supervisor.pid", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid <= 1 || kill((pid_t)pid, 0) < 0)
        return 0;
    /* A recycled pid would not hold our socket's directory as its cwd-free marker; check the name. */
    char comm[600], buf[64] = "";
    snprintf(comm, sizeof comm, "/proc/%ld/comm", pid);
    FILE *c = fopen(comm, "r");
    if (c) {
        if (!fgets(buf, sizeof buf, c))
            buf[0] = 0;
        fclose(c);
    }
    return strncmp(buf, "tsctl", 5) == 0 ? (pid_t)pid : 0;
}

int inst_spawn_supervisor(const char *dir, int foreground, int timeout_s, int *code, char *err, size_t errlen)
{
    *code = TS_EXIT_FAIL;
    char self[PATH_MAX], logdir[600], logpath[700], fdarg[16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(err, errlen, "cannot find own executable");
        return -1;
    }
    self[n] = 0;
    if (foreground) { /* same pid: the one a service manager started and watches */
        fflush(NULL);
        execl(self, "tsctl", "supervise", dir, "--foreground", (char *)NULL);
        snprintf(err, errlen, "cannot run %s: %s", self, strerror(errno));
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    inst_mkdirs(logdir, 0700);
    snprintf(logpath, sizeof logpath, "%s/supervisor.log", logdir);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Detach fully: own session, no inherited stdio, so `tsctl start` in a pipe returns. */
        setsid();
        if (fork() > 0)
            _exit(0);
        int devnull = open("/dev/null", O_RDWR);
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        dup2(devnull, 0);
        dup2(log >= 0 ? log : devnull, 1);
        dup2(log >= 0 ? log : devnull, 2);
        int wfd = dup(fds[1]); /* without O_CLOEXEC */
        snprintf(fdarg, sizeof fdarg, "%d", wfd);
        execl(self, "tsctl", "supervise", dir, "--notify-fd", fdarg, (char *)NULL);
        _exit(111);
    }
    close(fds[1]);
    waitpid(pid, NULL, 0);
    /* The supervisor writes "ready\n", "error: ...\n" or "error CODE: ...\n" (a stage's exit code
     * 100 or 101), then closes. */
    char buf[1024], *p;
    size_t got = 0;
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    time_t end = time(NULL) + timeout_s;
    while (got < sizeof buf - 1) {
        int left = (int)(end - time(NULL));
        if (left <= 0 || poll(&pfd, 1, left * (int)TS_MS_PER_S) <= 0)
            break;
        ssize_t r = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(buf, '\n', got))
            break;
    }
    close(fds[0]);
    buf[got] = 0;
    if (strncmp(buf, "ready", 5) == 0)
        return 0;
    buf[strcspn(buf, "\n")] = 0;
    if (got == 0)
        snprintf(err, errlen, "the supervisor did not report ready within %d s (see %s)", timeout_s, logdir);
    else if (strncmp(buf, "error", 5) == 0 && (p = strstr(buf, ": "))) {
        int c = atoi(buf + 5);
        if (c == TS_EXIT_USAGE || c == TS_EXIT_CONFIG)
            *code = c;
        snprintf(err, errlen, "%s", p + 2);
    } else
        snprintf(err, errlen, "%s", buf);
    return -1;
}

int inst_exchange(const char *dir, int type, const char *text, int timeout_ms, Ts__Envelope **reply)
{
    char ep[600];
    *reply = NULL;
    if (inst_endpoint(dir, TS_TOPO_SUP, ep, sizeof ep) < 0)
        return -1;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    int64_t maxmsg = TS_MSG_MAX;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Text t = TS__TEXT__INIT;
    e.version = TS_MSG_VERSION;
    e.type = (Ts__MsgType)type;
    if (text) {
        t.text = (char *)text;
        e.text = &t;
    }
    uint8_t *data;
    size_t len;
    if (zmq_connect(s, ep) == 0 && ts_msg_pack(&e, &data, &len) == 0) {
        if (zmq_send(s, data, len, 0) == (int)len) {
            zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
            if (zmq_poll(&it, 1, timeout_ms) == 1) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, s, 0) >= 0)
                    *reply = ts_msg_unpack(zmq_msg_data(&m), zmq_msg_size(&m), NULL, 0);
                zmq_msg_close(&m);
            }
        }
        free(data);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return *reply ? 0 : -1;
}

int inst_request(const char *dir, int type, const char *text, int timeout_ms, char **reply, int *code)
{
    Ts__Envelope *r;
    if (inst_exchange(dir, type, text, timeout_ms, &r) < 0)
        return -1;
    int rc = -1;
    if (r->text) {
        if (reply)
            *reply = strdup(r->text->text);
        if (code)
            *code = r->text->has_code ? r->text->code : 0;
        rc = 0;
    }
    ts_msg_free(r);
    return rc;
}

static int wait_gone(pid_t pid, int ms)
{
    for (int i = 0; i < ms / 50; i++) {
        if (kill(pid, 0) < 0)
            return 0;
        struct timespec ts = { 0, 50 * (long)TS_NS_PER_MS };
        nanosleep(&ts, NULL);
    }
    return kill(pid, 0) < 0 ? 0 : -1;
}

int inst_stop(const char *dir, int timeout_s)
{
    pid_t pid = inst_supervisor_pid(dir);
    if (!pid)
        return 0;
    if (inst_request(dir, TS__MSG_TYPE__MSG_COMMAND, "stop", 2000, NULL, NULL) == 0 &&
        wait_gone(pid, timeout_s * (int)TS_MS_PER_S) == 0)
        return 0;
    kill(pid, SIGTERM);
    if (wait_gone(pid, timeout_s * (int)TS_MS_PER_S) == 0)
        return 0;
    kill(pid, SIGKILL);
    return wait_gone(pid, 2000);
}

/* ------------------------------------------------------------------ status */

Ts__Envelope *inst_status(const char *dir, int timeout_ms)
{
    Ts__Envelope *r;
    if (inst_exchange(dir, TS__MSG_TYPE__MSG_STATUS_REQ, NULL, timeout_ms, &r) < 0)
        return NULL;
    if (r->type != TS__MSG_TYPE__MSG_STATUS_REP || !r->status || !r->status->state_dir) {
        ts_msg_free(r);
        return NULL;
    }
    return r;
}

int inst_stage_counter(const char *dir, const char *stage, const char *name, long long *value)
{
    Ts__Envelope *r = inst_status(dir, 1000);
    if (!r)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < r->status->n_stages; i++) {
        const Ts__StageStatus *st = r->status->stages[i];
        if (strcmp(st->name, stage) != 0)
            continue;
        for (size_t c = 0; c < st->n_counters && rc < 0; c++)
            if (strcmp(st->counters[c]->name, name) == 0) {
                *value = st->counters[c]->value;
                rc = 0;
            }
        break;
    }
    ts_msg_free(r);
    return rc;
}
