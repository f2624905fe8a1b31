#include "ts_curve.h"
#include "ts_err.h"
#include "ts_log.h"
#include "ts_time.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define CURVE_MAX_KEYS 64
#define CURVE_NAME_MAX 64
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "tstream"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* draft in zmq.h, present in Debian's libzmq 4.3 */
#endif

typedef struct {
    char name[CURVE_NAME_MAX];
    uint8_t key[32];
} known_t;

/* One stage identity per process, so one set of keys per process. Written by ts_curve_init before
 * the handler thread starts, then only read, so the thread needs no lock. */
static struct {
    int on;
    char dir[512];
    char secret[TS_CURVE_KEY_Z85 + 1], public[TS_CURVE_KEY_Z85 + 1];
    known_t known[CURVE_MAX_KEYS];
    size_t nknown;
    void *zap;
    pthread_t thread;
    uint64_t rejected; /* __atomic: the handler thread counts, anyone reads */
} cv;

/* Read a one-line Z85 key file into out (41 bytes). A secret must be a regular file that only its
 * owner can read: fstat on the open fd, so what is checked is what is read. */
static int read_key(const char *path, int secret, char *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    char buf[128];
    ssize_t n = -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ts_err(err, errlen, "%s: not a regular file", path);
    }
    if (secret && (st.st_mode & 077)) {
        close(fd);
        return ts_err(err, errlen, "%s: mode %04o allows group/other access to a secret key (chmod 600 it)", path,
                      (unsigned)(st.st_mode & 07777));
    }
    if (st.st_size > (off_t)sizeof buf - 1) {
        close(fd);
        return ts_err(err, errlen, "%s: too large for a key file", path);
    }
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    uint8_t bin[32];
    if (n != TS_CURVE_KEY_Z85 || !zmq_z85_decode(bin, buf))
        return ts_err(err, errlen, "%s: not a Z85-encoded CURVE key (40 characters)", path);
    memcpy(out, buf, TS_CURVE_KEY_Z85 + 1);
    return 0;
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CURVE_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(name[i] == '-' || name[i] == '_' || name[i] == '.' || (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9')))
            return 0;
    return 1;
}

static int load_known(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return ts_err(err, errlen, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".pub") != 0 || n - 4 >= CURVE_NAME_MAX)
            continue;
        if (cv.nknown == CURVE_MAX_KEYS) {
            closedir(d);
            return ts_err(err, errlen, "%s: more than %d public keys", dir, CURVE_MAX_KEYS);
        }
        char path[1024], z85[TS_CURVE_KEY_Z85 + 1];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (read_key(path, 0, z85, err, errlen) < 0) {
            closedir(d);
            return -1;
        }
        known_t *k = &cv.known[cv.nknown++];
        memcpy(k->name, e->d_name, n - 4);
        k->name[n - 4] = 0;
        zmq_z85_decode(k->key, z85);
    }
    closedir(d);
    if (!cv.nknown)
        return ts_err(err, errlen, "%s: no *.pub keys (make them with tsctl keygen %s)", dir, dir);
    return 0;
}

/* Receive one frame into buf (truncated to cap; *len is the real size). 0, or -1 (ETERM: stop). */
static int zap_frame(void *s, void *buf, size_t cap, size_t *len, int *more)
{
    int n;
    do
        n = zmq_recv(s, buf, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    *len = (size_t)n;
    int m = 0;
    size_t sz = sizeof m;
    zmq_getsockopt(s, ZMQ_RCVMORE, &m, &sz);
    *more = m;
    return 0;
}

/* ZAP (RFC 27): version, request id, domain, address, routing id, mechanism, credentials. */
static void *zap_main(void *arg)
{
    (void)arg;
    uint64_t last_log = 0, logged = 0;
    for (;;) {
        uint8_t f[7][256];
        size_t len[7] = { 0 };
        int nf = 0, more = 1;
        while (more) {
            uint8_t spill[256];
            size_t l;
            if (zap_frame(cv.zap, nf < 7 ? f[nf] : spill, 256, nf < 7 ? &len[nf] : &l, &more) < 0)
                goto out; /* ETERM: the context is ending; nothing else fails on a bound inproc REP */
            nf++;
        }
        int ok = nf >= 7 && len[0] == 3 && memcmp(f[0], "1.0", 3) == 0 && len[5] == 5 &&
                 memcmp(f[5], "CURVE", 5) == 0 && len[6] == 32;
        const char *who = "";
        if (ok) {
            ok = 0;
            for (size_t i = 0; i < cv.nknown && !ok; i++)
                if (memcmp(cv.known[i].key, f[6], 32) == 0) {
                    ok = 1;
                    who = cv.known[i].name;
                }
        }
        if (!ok) {
            uint64_t r = __atomic_add_fetch(&cv.rejected, 1, __ATOMIC_RELAXED);
            uint64_t now = ts_mono_ns();
            /* At most one line per 5 s, however hard someone knocks. */
            if (!last_log || now - last_log > 5000000000ull) {
                char addr[64] = "?";
                if (nf >= 4) {
                    size_t l = len[3] < sizeof addr - 1 ? len[3] : sizeof addr - 1;
                    memcpy(addr, f[3], l);
                    addr[l] = 0;
                }
                ts_warn("refused a CURVE client from %s: unknown key (%llu refused so far, %llu since the last line)",
                        addr, (unsigned long long)r, (unsigned long long)(r - logged));
                last_log = now;
                logged = r;
            }
        }
        const char *code = ok ? "200" : "400", *text = ok ? "OK" : "unknown client key";
        zmq_send(cv.zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(cv.zap, nf >= 2 ? f[1] : (uint8_t *)"", nf >= 2 && len[1] < 256 ? len[1] : nf >= 2 ? 256 : 0,
                 ZMQ_SNDMORE);
        zmq_send(cv.zap, code, 3, ZMQ_SNDMORE);
        zmq_send(cv.zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(cv.zap, who, strlen(who), ZMQ_SNDMORE);
        zmq_send(cv.zap, "", 0, 0);
    }
out:
    zmq_close(cv.zap);
    cv.zap = NULL;
    return NULL;
}

int ts_curve_init(void *zctx, const char *dir, const char *self, char *err, size_t errlen)
{
    if (cv.on)
        return ts_err(err, errlen, "CURVE keys already loaded");
    if (!zmq_has("curve"))
        return ts_err(err, errlen, "this libzmq was built without CURVE support");
    if (!valid_name(self))
        return ts_err(err, errlen, "bad stage name %s", self);
    memset(&cv, 0, sizeof cv);
    snprintf(cv.dir, sizeof cv.dir, "%s", dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.secret", dir, self);
    if (read_key(path, 1, cv.secret, err, errlen) < 0)
        return -1;
    if (zmq_curve_public(cv.public, cv.secret) < 0)
        return ts_err(err, errlen, "%s: cannot derive the public key", path);
    if (load_known(dir, err, errlen) < 0)
        return -1;
    cv.zap = zmq_socket(zctx, ZMQ_REP);
    int zero = 0;
    if (!cv.zap || zmq_setsockopt(cv.zap, ZMQ_LINGER, &zero, sizeof zero) < 0 || zmq_bind(cv.zap, ZAP_ENDPOINT) < 0) {
        int e = errno;
        if (cv.zap)
            zmq_close(cv.zap);
        return ts_err(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(e));
    }
    /* The thread inherits a full signal mask: signals stay with the loop thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&cv.thread, NULL, zap_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        zmq_close(cv.zap);
        return ts_err(err, errlen, "cannot start the ZAP handler thread");
    }
    cv.on = 1;
    ts_info("CURVE on for tcp:// endpoints: %zu known keys in %s", cv.nknown, dir);
    return 0;
}

void ts_curve_fini(void)
{
    if (!cv.on)
        return;
    pthread_join(cv.thread, NULL);
    memset(&cv, 0, sizeof cv);
}

int ts_curve_apply(void *sock, const char *endpoint, int bind, const char *server, char *err, size_t errlen)
{
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return 0;
    if (!cv.on)
        return ts_err(err, errlen, "%s: a tcp:// endpoint needs CURVE keys (--curve DIR; make them with tsctl keygen DIR)",
                      endpoint);
    int one = 1;
    if (bind) {
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cv.secret, TS_CURVE_KEY_Z85 + 1) < 0 ||
            zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) < 0)
            return ts_err(err, errlen, "%s: cannot make a CURVE server: %s", endpoint, zmq_strerror(errno));
        /* Without it, libzmq lets a client in when the handler cannot be reached. */
        if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) < 0)
            return ts_err(err, errlen, "%s: this libzmq cannot enforce ZAP (ZMQ_ZAP_ENFORCE_DOMAIN)", endpoint);
        return 0;
    }
    if (!server || !valid_name(server))
        return ts_err(err, errlen, "%s: no server name to find its CURVE key", endpoint);
    char path[1024], skey[TS_CURVE_KEY_Z85 + 1];
    snprintf(path, sizeof path, "%s/%s.pub", cv.dir, server);
    if (read_key(path, 0, skey, err, errlen) < 0)
        return -1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, skey, TS_CURVE_KEY_Z85 + 1) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cv.public, TS_CURVE_KEY_Z85 + 1) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cv.secret, TS_CURVE_KEY_Z85 + 1) < 0)
        return ts_err(err, errlen, "%s: cannot make a CURVE client: %s", endpoint, zmq_strerror(errno));
    return 0;
}

int ts_curve_missing(const char *dir, char *err, size_t errlen, ...)
{
    va_list ap;
    va_start(ap, errlen);
    const char *ep;
    int missing = 0;
    while ((ep = va_arg(ap, const char *)) != TS_CURVE_END)
        if (!missing && !dir && ep && strncmp(ep, "tcp://", 6) == 0) {
            missing = 1;
            ts_err(err, errlen, "%s: tcp:// endpoints need CURVE keys: --curve DIR (make them with tsctl keygen DIR)",
                   ep);
        }
    va_end(ap);
    return missing;
}

uint64_t ts_curve_rejected(void) { return __atomic_load_n(&cv.rejected, __ATOMIC_RELAXED); }

static int write_file(const char *path, const char *line, mode_t mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    size_t n = strlen(line);
    ssize_t w = write(fd, line, n);
    if (w != (ssize_t)n || fsync(fd) < 0 || close(fd) < 0) {
        unlink(path);
        return ts_err(err, errlen, "%s: cannot write", path);
    }
    return 0;
}

int ts_curve_keygen(const char *dir, const char *name, char *err, size_t errlen)
{
    if (!valid_name(name))
        return ts_err(err, errlen, "bad key name %s (letters, digits, - _ .)", name);
    char pub[TS_CURVE_KEY_Z85 + 1], sec[TS_CURVE_KEY_Z85 + 1];
    if (zmq_curve_keypair(pub, sec) < 0)
        return ts_err(err, errlen, "cannot make a CURVE key pair: %s", zmq_strerror(errno));
    char ppath[1024], spath[1024], line[TS_CURVE_KEY_Z85 + 2];
    snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name);
    snprintf(spath, sizeof spath, "%s/%s.secret", dir, name);
    snprintf(line, sizeof line, "%s\n", sec);
    if (write_file(spath, line, 0600, err, errlen) < 0)
        return -1;
    snprintf(line, sizeof line, "%s\n", pub);
    if (write_file(ppath, line, 0644, err, errlen) < 0) {
        unlink(spath);
        return -1;
    }
    return 0;
}
