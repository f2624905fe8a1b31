/* Instance files (tsctl/instance.c): instance.conf written and read back, the registry of
 * running instances, the supervisor's pid file (alive, stale, recycled), the ipc endpoint limit,
 * and the free port chosen for a stage (below the kernel's ephemeral range, bindable). */
#include "check.h"
#include "instance.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char home[64];

static void conf(void)
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/demo", home);
    CHECK(inst_mkdirs(dir, 0700) == 0, "mkdirs %s", dir);
    instance_t in = { 0 };
    snprintf(in.dir, sizeof in.dir, "%s", dir);
    inst_set(&in, "name", "%s", "demo");
    inst_set(&in, "port", "%u", 6881u);
    inst_set(&in, "source", "%s", "pipe:ffmpeg -i x -f mpegts -");
    inst_set(&in, "port", "%u", 7000u); /* replaces */
    CHECK(in.n == 3, "three keys: %d", in.n);
    CHECK(inst_save(&in) == 0, "save");
    instance_t back;
    CHECK(inst_load(&back, dir) == 0, "load");
    CHECK(back.n == 3 && strcmp(inst_get(&back, "port"), "7000") == 0 &&
              strcmp(inst_get(&back, "source"), "pipe:ffmpeg -i x -f mpegts -") == 0,
          "read back as written");
    CHECK(inst_get(&back, "tracker") == NULL, "absent key: NULL");
    CHECK(strcmp(back.dir, dir) == 0, "dir kept");
    char path[300];
    snprintf(path, sizeof path, "%s/instance.conf.tmp", dir);
    CHECK(access(path, F_OK) != 0, "no temporary file left");
    CHECK(inst_load(&back, "/nonexistent/x") < 0, "no instance.conf: -1");
    for (int i = 0; i < INST_KEYS + 5; i++)
        inst_set(&in, i < 10 ? "k0" : "kk", "%d", i); /* bounded, never past INST_KEYS */
    char key[8];
    for (int i = 0; i < INST_KEYS + 5; i++) {
        snprintf(key, sizeof key, "x%d", i);
        inst_set(&in, key, "1");
    }
    CHECK(in.n == INST_KEYS, "at most %d keys: %d", INST_KEYS, in.n);
}

static void names(void)
{
    CHECK(inst_valid_name("demo") && inst_valid_name("a.b_c-1"), "valid names");
    CHECK(!inst_valid_name("") && !inst_valid_name(".x") && !inst_valid_name("-x") && !inst_valid_name("a/b") &&
              !inst_valid_name("a b"),
          "invalid names");
    char out[600];
    CHECK(inst_endpoint("/tmp/x", "sup", out, sizeof out) == 0 && strcmp(out, "ipc:///tmp/x/sup.ipc") == 0, "endpoint %s",
          out);
    char longdir[200];
    memset(longdir, 'd', 110);
    longdir[0] = '/';
    longdir[110] = 0;
    CHECK(inst_endpoint(longdir, "sup", out, sizeof out) < 0, "a path too long for a unix socket: -1");
    inst_dir_for("demo", NULL, out, sizeof out);
    char want[300];
    snprintf(want, sizeof want, "%s/demo", home);
    CHECK(strcmp(out, want) == 0, "dir under $TSTREAM_HOME: %s", out);
    inst_dir_for("demo", "/srv/x", out, sizeof out);
    CHECK(strcmp(out, "/srv/x") == 0, "explicit state dir: %s", out);
    inst_dir_for("demo", "rel", out, sizeof out);
    CHECK(out[0] == '/' && strstr(out, "/rel") != NULL, "relative state dir made absolute: %s", out);
}

static int collect(const char *name, const char *dir, void *arg)
{
    char *acc = arg;
    strcat(acc, name);
    strcat(acc, ";");
    return 0;
}

static void registry(void)
{
    char dir[300], got[300];
    snprintf(dir, sizeof dir, "%s/demo", home);
    CHECK(inst_register("zeta", "/tmp/zeta") == 0 && inst_register("demo", dir) == 0, "register");
    CHECK(inst_lookup("demo", got, sizeof got) == 0 && strcmp(got, dir) == 0, "lookup: %s", got);
    CHECK(inst_lookup("nobody", got, sizeof got) < 0, "lookup of an unknown name: -1");
    CHECK(inst_lookup("../x", got, sizeof got) < 0, "lookup of an invalid name: -1");
    char acc[200] = "";
    inst_each(collect, acc);
    CHECK(strcmp(acc, "demo;zeta;") == 0, "each, in name order: %s", acc);
    inst_unregister("zeta");
    acc[0] = 0;
    inst_each(collect, acc);
    CHECK(strcmp(acc, "demo;") == 0, "unregistered: %s", acc);
}

static void write_pid(const char *dir, long pid)
{
    char path[300];
    snprintf(path, sizeof path, "%s/supervisor.pid", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%ld\n", pid);
    fclose(f);
}

static void pidfile(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/demo", home);
    CHECK(inst_supervisor_pid(dir) == 0, "no pid file: 0");
    /* A live process called tsctl: the supervisor. */
    int fds[2];
    if (pipe(fds) < 0)
        return;
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_NAME, "tsctl");
        char c;
        close(fds[1]);
        if (write(fds[0], "", 0) < 0 || read(fds[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[0]);
    for (int i = 0; i < 100; i++) { /* until the child has renamed itself */
        char comm[64], buf[32] = "";
        snprintf(comm, sizeof comm, "/proc/%d/comm", (int)child);
        FILE *f = fopen(comm, "r");
        if (f) {
            if (!fgets(buf, sizeof buf, f))
                buf[0] = 0;
            fclose(f);
        }
        if (strncmp(buf, "tsctl", 5) == 0)
            break;
        usleep(10000);
    }
    write_pid(dir, child);
    CHECK(inst_supervisor_pid(dir) == child, "a live supervisor: its pid");
    close(fds[1]);
    waitpid(child, NULL, 0);
    CHECK(inst_supervisor_pid(dir) == 0, "stale pid file (process gone): 0");
    write_pid(dir, getpid());
    CHECK(inst_supervisor_pid(dir) == 0, "pid recycled by another program: 0");
    write_pid(dir, 1);
    CHECK(inst_supervisor_pid(dir) == 0, "pid 1: 0");
}

static void free_port(void)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    int ok = 1;
    for (int i = 0; i < 20; i++) {
        uint16_t port = inst_free_port();
        LOOP_CHECK(ok, port != 0, "a port");
        if (lo > 11000)
            LOOP_CHECK(ok, port >= 10000 && port < lo, "port %u below the ephemeral range (from %u)", port, lo);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
        LOOP_CHECK(ok, bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "port %u bindable", port);
        close(fd);
    }
    CHECK(ok, "20 free ports");
}

int main(void)
{
    snprintf(home, sizeof home, "/tmp/test_instance.XXXXXX");
    if (!mkdtemp(home))
        return 1;
    setenv("TSTREAM_HOME", home, 1);
    conf();
    names();
    registry();
    pidfile();
    free_port();
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    if (system(cmd) != 0)
        printf("could not remove %s\n", home);
    CHECK_DONE();
}
