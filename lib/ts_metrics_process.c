#include "ts_metrics_process.h"
#include "ts_time.h"
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static double cpu_seconds(void *arg)
{
    (void)arg;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* /proc/self/statm: size and resident, in pages. */
static double statm_bytes(int field)
{
    unsigned long v[2] = { 0, 0 };
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return 0;
    int n = fscanf(f, "%lu %lu", &v[0], &v[1]);
    fclose(f);
    return n == 2 ? (double)v[field] * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double virtual_bytes(void *arg) { return (void)arg, statm_bytes(0); }
static double resident_bytes(void *arg) { return (void)arg, statm_bytes(1); }

static double open_fds(void *arg)
{
    (void)arg;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* not the one opendir holds */
}

static double max_fds(void *arg)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return (double)rl.rlim_cur;
}

int ts_metrics_process(ts_metrics_t *r, const char *const *labels)
{
    int ok = ts_metrics_counter_fnf(r, "process_cpu_seconds_total",
                                    "User and system CPU time the process has spent, in seconds.", labels, cpu_seconds,
                                    NULL) != NULL;
    ok &= ts_metrics_gauge_fn(r, "process_resident_memory_bytes", "Resident memory size of the process, in bytes.",
                              labels, resident_bytes, NULL) != NULL;
    ok &= ts_metrics_gauge_fn(r, "process_virtual_memory_bytes", "Virtual memory size of the process, in bytes.", labels,
                              virtual_bytes, NULL) != NULL;
    ok &= ts_metrics_gauge_fn(r, "process_open_fds", "File descriptors the process has open.", labels, open_fds,
                              NULL) != NULL;
    ok &= ts_metrics_gauge_fn(r, "process_max_fds", "Most file descriptors the process may open (its RLIMIT_NOFILE).",
                              labels, max_fds, NULL) != NULL;
    ts_metric_t *start = ts_metrics_gauge(r, "process_start_time_seconds",
                                          "Start time of the process since the Unix epoch, in seconds.", labels);
    /* Registered at start-up: now is the start time, near enough. */
    ts_metrics_gauge_setf(start, (double)ts_wall_us() / TS_US_PER_S_F);
    return ok && start ? 0 : -1;
}
