/* tsctl logs NAME [STAGE] [-f] [-n LINES]: an instance's logs, every stage interleaved by time
 * (or one stage), rotated files first; -f follows them across rotation. */
#include "instance.h"
#include "ts_exit.h"
#include "tsctl.h"
#include "ts_time.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOGS_MAX_STREAMS 16
#define LOGS_MAX_ROTATED 99
#define LOGS_KEY_LEN 24 /* "2024-01-02T03:04:05.678Z" */
#define LOGS_POLL_MS 200

typedef struct {
    char path[700];
    /* the dump: files oldest first (rotated ones, then the current one) */
    char *files[LOGS_MAX_ROTATED + 1];
    int nfiles, at;
    FILE *f;
    char *line; /* current line of the merge (in buf), NULL at the end */
    char *buf;
    size_t cap;
    char key[LOGS_KEY_LEN + 1];
    /* following: the current file from where the dump stopped */
    int fd;
    ino_t ino;
    off_t off;
    char *pend;
    size_t plen, pcap;
} stream_t;

typedef struct {
    char key[LOGS_KEY_LEN + 1];
    int stream;
    char *text;
} fline_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: tsctl logs NAME [STAGE] [-f] [-n LINES] [--state-dir DIR]\n"
               "Prints an instance's logs: the supervisor's and every stage's interleaved by time, or\n"
               "only STAGE's (supervisor, ingest, signer, swarm, player-bridge); rotated files first.\n"
               "  -f, --follow       keep printing new lines (across rotation) until interrupted\n"
               "  -n, --lines LINES  start with only the last LINES lines\n"
               "  --state-dir DIR    the instance's directory, if it is not under the state root\n");
}

/* The time of a logfmt line, or the previous line's for anything else (keeps a stream in order). */
static void line_key(const char *line, char *key)
{
    if (strncmp(line, "time=", 5) == 0 && strlen(line) >= 5 + LOGS_KEY_LEN) {
        memcpy(key, line + 5, LOGS_KEY_LEN);
        key[LOGS_KEY_LEN] = 0;
    }
}

static int add_stream(stream_t *st, int *n, const char *logdir, const char *file)
{
    if (*n >= LOGS_MAX_STREAMS)
        return -1;
    stream_t *s = &st[(*n)++];
    memset(s, 0, sizeof *s);
    s->fd = -1;
    snprintf(s->path, sizeof s->path, "%s/%s", logdir, file);
    for (int k = LOGS_MAX_ROTATED; k >= 1; k--) {
        char p[720];
        snprintf(p, sizeof p, "%s.%d", s->path, k);
        if (access(p, R_OK) == 0)
            s->files[s->nfiles++] = strdup(p);
    }
    s->files[s->nfiles++] = strdup(s->path);
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* supervisor.log first, then every other STAGE.log in name order. */
static int all_streams(stream_t *st, int *n, const char *logdir)
{
    DIR *d = opendir(logdir);
    if (!d)
        return -1;
    char *names[LOGS_MAX_STREAMS];
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < LOGS_MAX_STREAMS) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0 && strcmp(e->d_name, "supervisor.log") != 0)
            names[k++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)k, sizeof *names, cmp_name);
    add_stream(st, n, logdir, "supervisor.log");
    for (int i = 0; i < k; i++) {
        add_stream(st, n, logdir, names[i]);
        free(names[i]);
    }
    return 0;
}

/* Next complete line of a stream's dump into s->line; NULL at its end. The current file's
 * unfinished last line is left for following. */
static void next_line(stream_t *s)
{
    for (;;) {
        if (!s->f) {
            if (s->at >= s->nfiles) {
                s->line = NULL;
                return;
            }
            s->f = fopen(s->files[s->at], "r");
            if (!s->f) {
                s->at++;
                continue;
            }
            if (s->at == s->nfiles - 1) {
                struct stat sb;
                if (fstat(fileno(s->f), &sb) == 0)
                    s->ino = sb.st_ino;
            }
        }
        int current = s->at == s->nfiles - 1;
        off_t before = ftello(s->f);
        ssize_t n = getline(&s->buf, &s->cap, s->f);
        if (n > 0 && (s->buf[n - 1] == '\n' || !current)) {
            if (current)
                s->off = ftello(s->f);
            s->line = s->buf;
            line_key(s->line, s->key);
            return;
        }
        if (current) {
            s->off = n > 0 ? before : ftello(s->f);
            s->fd = dup(fileno(s->f));
        }
        fclose(s->f);
        s->f = NULL;
        s->at++;
    }
}

/* k-way merge of the streams' dumps by time; with tail > 0 only the last tail lines. */
static void dump(stream_t *st, int n, long tail)
{
    char **ring = tail > 0 ? calloc((size_t)tail, sizeof *ring) : NULL;
    long count = 0;
    for (int i = 0; i < n; i++)
        next_line(&st[i]);
    for (;;) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (st[i].line && (best < 0 || strcmp(st[i].key, st[best].key) < 0))
                best = i;
        if (best < 0)
            break;
        const char *l = st[best].line;
        if (ring) {
            free(ring[count % tail]);
            ring[count % tail] = strdup(l);
        } else {
            fputs(l, stdout);
            if (l[strlen(l) - 1] != '\n')
                putchar('\n');
        }
        count++;
        next_line(&st[best]);
    }
    if (ring) {
        for (long i = count > tail ? count - tail : 0; i < count; i++) {
            char *l = ring[i % tail];
            fputs(l, stdout);
            if (l[strlen(l) - 1] != '\n')
                putchar('\n');
        }
        for (long i = 0; i < tail; i++)
            free(ring[i]);
        free(ring);
    }
    for (int i = 0; i < n; i++) {
        free(st[i].buf);
        st[i].buf = st[i].line = NULL;
        for (int k = 0; k < st[i].nfiles; k++)
            free(st[i].files[k]);
    }
    fflush(stdout);
}

/* Read what is new in fd from s->off into the pending buffer. */
static void read_new(stream_t *s)
{
    char buf[65536];
    ssize_t r;
    while ((r = pread(s->fd, buf, sizeof buf, s->off)) > 0) {
        if (s->plen + (size_t)r > s->pcap) {
            size_t cap = (s->plen + (size_t)r) * 2;
            char *p = realloc(s->pend, cap);
            if (!p)
                return;
            s->pend = p;
            s->pcap = cap;
        }
        memcpy(s->pend + s->plen, buf, (size_t)r);
        s->plen += (size_t)r;
        s->off += r;
    }
}

/* Complete lines of the pending buffer go to out[]; the unfinished rest stays. */
static void take_lines(stream_t *s, int idx, fline_t **out, size_t *nout, size_t *cap, int all)
{
    size_t start = 0;
    for (size_t i = 0; i < s->plen; i++) {
        if (s->pend[i] != '\n' && !(all && i == s->plen - 1))
            continue;
        size_t len = i + 1 - start;
        if (*nout == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *out = realloc(*out, *cap * sizeof **out);
        }
        fline_t *l = &(*out)[(*nout)++];
        l->text = strndup(s->pend + start, len);
        l->stream = idx;
        line_key(l->text, s->key);
        memcpy(l->key, s->key, sizeof l->key);
        start = i + 1;
    }
    if (start) {
        memmove(s->pend, s->pend + start, s->plen - start);
        s->plen -= start;
    }
}

static void poll_stream(stream_t *s, int idx, fline_t **out, size_t *nout, size_t *cap)
{
    struct stat now;
    int exists = stat(s->path, &now) == 0;
    if (s->fd >= 0) {
        struct stat mine;
        if (fstat(s->fd, &mine) == 0 && mine.st_size < s->off)
            s->off = 0; /* truncated */
        read_new(s);
        if (exists && now.st_ino == s->ino) {
            take_lines(s, idx, out, nout, cap, 0);
            return;
        }
        /* Rotated: the old file is complete; go on with the new one from its start. */
        take_lines(s, idx, out, nout, cap, 1);
        close(s->fd);
        s->fd = -1;
    }
    if (!exists)
        return;
    s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return;
    struct stat sb;
    s->ino = fstat(s->fd, &sb) == 0 ? sb.st_ino : 0;
    s->off = 0;
    read_new(s);
    take_lines(s, idx, out, nout, cap, 0);
}

static int cmp_fline(const void *a, const void *b)
{
    const fline_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->stream - y->stream;
}

static void follow(stream_t *st, int n)
{
    fline_t *lines = NULL;
    size_t cap = 0;
    for (;;) {
        size_t nl = 0;
        for (int i = 0; i < n; i++)
            poll_stream(&st[i], i, &lines, &nl, &cap);
        /* Within a stream lines are in order already; sorting by (time, stream) keeps that. */
        if (nl)
            qsort(lines, nl, sizeof *lines, cmp_fline);
        for (size_t i = 0; i < nl; i++) {
            fputs(lines[i].text, stdout);
            if (lines[i].text[strlen(lines[i].text) - 1] != '\n')
                putchar('\n');
            free(lines[i].text);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            free(lines);
            return;
        }
        struct timespec ts = { 0, LOGS_POLL_MS * (long)TS_NS_PER_MS };
        nanosleep(&ts, NULL);
    }
}

int logs_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "follow", no_argument, 0, 'f' },
        { "lines", required_argument, 0, 'n' },
        { "state-dir", required_argument, 0, 'd' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, fol = 0;
    long tail = 0;
    const char *state_dir = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': fol = 1; break;
        case 'n': {
            char *end;
            tail = strtol(optarg, &end, 10);
            if (*end || tail < 1 || tail > 10000000) {
                fprintf(stderr, "tsctl logs: bad --lines '%s'\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        }
        case 'd': state_dir = optarg; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return tsctl_usage_error("logs");
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fprintf(stderr, "tsctl logs: %s\n", optind >= argc ? "a NAME is required" : "NAME and one STAGE at most");
        return tsctl_usage_error("logs");
    }
    const char *name = argv[optind], *stage = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (!inst_valid_name(name) || (stage && !inst_valid_name(stage))) {
        fprintf(stderr, "tsctl logs: bad name '%s'\n", stage && inst_valid_name(name) ? stage : name);
        return TS_EXIT_USAGE;
    }
    char dir[512], logdir[600];
    /* A stopped instance is no longer registered, but its logs stay in its directory. */
    if (state_dir || inst_lookup(name, dir, sizeof dir) < 0)
        inst_dir_for(name, state_dir, dir, sizeof dir);
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    stream_t *st = calloc(LOGS_MAX_STREAMS, sizeof *st);
    int n = 0;
    if (stage) {
        char file[80], path[700];
        snprintf(file, sizeof file, "%s.log", stage);
        snprintf(path, sizeof path, "%s/%s", logdir, file);
        if (access(path, F_OK) < 0 && !fol) {
            fprintf(stderr, "tsctl logs: no log for stage %s of %s (%s)\n", stage, name, path);
            free(st);
            return TS_EXIT_USAGE;
        }
        add_stream(st, &n, logdir, file);
    } else if (all_streams(st, &n, logdir) < 0) {
        fprintf(stderr, "tsctl logs: no logs for %s in %s: %s\n", name, logdir, strerror(errno));
        free(st);
        return TS_EXIT_NOTFOUND;
    }
    dump(st, n, tail);
    if (fol)
        follow(st, n);
    for (int i = 0; i < n; i++) {
        if (st[i].fd >= 0)
            close(st[i].fd);
        free(st[i].pend);
    }
    free(st);
    return TS_EXIT_OK;
}
