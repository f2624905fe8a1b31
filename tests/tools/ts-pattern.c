/* ts-pattern: a deterministic byte stream for soak tests, and its checker.
 *
 *   ts-pattern gen [--bytes N] [--rate RATE] [--key K] [--wait FILE] [--hold] [--follow FILE --lead N]
 *   ts-pattern check [--key K] [--end N] [--progress FILE]
 *
 * Stream byte o lies in the 8-byte word k = o / 8, whose value is fmix64(k ^ key), little-endian.
 * fmix64 (MurmurHash3's finaliser) is a bijection, so any 8 bytes that were one word name their
 * own offset: the checker finds where its input starts in the stream by itself (a viewer hooks in
 * wherever the swarm lets it), and a gap, an overlap or a corruption shows as the first byte that
 * differs, with the offset the bytes found there belong to. Nothing is stored: a day at a high
 * bitrate is checked on the fly. */
#include "ts_exit.h"
#include "ts_time.h"
#include "ts_units.h"
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536         /* bytes per write: one pipe buffer */
#define CATCHUP_NS TS_NS_PER_S /* a generator this far behind its schedule forgets the debt */
#define PROBE 64            /* bytes that must agree before the checker trusts an alignment */
#define PROGRESS_NS (50 * TS_NS_PER_MS) /* often enough for a generator that follows the checkers */
#define MAX_FOLLOW 16
#define FOLLOW_POLL_US 5000

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* Multiplicative inverse mod 2^64 of an odd number (Newton: each step doubles the correct bits). */
static uint64_t inv64(uint64_t a)
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

/* x ^= x >> 33 is its own inverse because 33 >= 32. */
static uint64_t unfmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= inv64(0xc4ceb9fe1a85ec53ull);
    k ^= k >> 33;
    k *= inv64(0xff51afd7ed558ccdull);
    k ^= k >> 33;
    return k;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The stream bytes [off, off + n). */
static void pattern_fill(uint64_t key, uint64_t off, uint8_t *out, size_t n)
{
    uint64_t k = off / 8;
    unsigned skip = (unsigned)(off % 8);
    while (n > 0) {
        uint64_t w = fmix64(k++ ^ key);
        for (unsigned i = skip; i < 8 && n > 0; i++, n--)
            *out++ = (uint8_t)(w >> (8 * i));
        skip = 0;
    }
}

/* The stream offset the 8 bytes at p would have if they were one word; -1 if they cannot be. */
static int word_offset(uint64_t key, const uint8_t *p, uint64_t *off)
{
    uint64_t k = unfmix64(le64(p)) ^ key;
    if (k > UINT64_MAX / 8)
        return -1;
    *off = k * 8;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ts-pattern gen [--bytes N] [--rate RATE] [--key K] [--wait FILE] [--hold]\n"
            "                      [--follow PROGRESS_FILE ... --lead N]\n"
            "       ts-pattern check [--key K] [--end N] [--progress FILE]\n"
            "gen writes the pattern from offset 0 to stdout: N bytes (default: without end), paced at RATE\n"
            "  bit/s (suffixes k M G; default: as fast as stdout takes it), once FILE exists (--wait);\n"
            "  --hold then sleeps until killed (a pipe: source would restart a command that exits).\n"
            "  --follow (repeatable) with --lead: never more than N bytes ahead of the slowest checker\n"
            "  writing that progress file (flow control standing in for the players).\n"
            "check reads stdin, finds where it starts in the pattern and requires every byte to follow\n"
            "  without gap, overlap or corruption, and with --end the input to reach stream offset N and\n"
            "  go no further. --progress FILE is rewritten every 50 ms: start= checked= pos= done= error=.\n"
            "Exit codes: 0 ok, 1 the stream is not the pattern (first error on stdout), %d usage, %d I/O.\n",
            TS_EXIT_USAGE, TS_EXIT_FAIL);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

/* ------------------------------------------------------------------ gen */

static int write_all(const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sleep_until(uint64_t mono_ns)
{
    struct timespec t = { .tv_sec = (time_t)(mono_ns / TS_NS_PER_S), .tv_nsec = (long)(mono_ns % TS_NS_PER_S) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

typedef struct {
    const char *files[MAX_FOLLOW];
    int n;
    uint64_t lead;
} follow_t;

/* The lowest stream position (pos=) the followed checkers report; 0 for one that has not yet. */
static uint64_t slowest_pos(const follow_t *f)
{
    uint64_t min = UINT64_MAX;
    for (int i = 0; i < f->n; i++) {
        char line[512];
        uint64_t pos = 0;
        FILE *fp = fopen(f->files[i], "r");
        if (fp) {
            const char *p;
            if (fgets(line, sizeof line, fp) && (p = strstr(line, "pos=")))
                pos = strtoull(p + 4, NULL, 10);
            fclose(fp);
        }
        if (pos < min)
            min = pos;
    }
    return min;
}

static int gen_main(uint64_t key, uint64_t bytes, uint64_t rate_bps, const char *wait_file, int hold,
                    const follow_t *follow)
{
    static uint8_t buf[CHUNK];
    while (wait_file && access(wait_file, F_OK) != 0)
        usleep(20000);
    uint64_t t0 = ts_mono_ns(), sent = 0, forgiven_ns = 0, held_ns = 0;
    double ns_per_byte = rate_bps ? 8e9 / (double)rate_bps : 0;
    while (sent < bytes) {
        size_t n = bytes - sent < CHUNK ? (size_t)(bytes - sent) : CHUNK;
        if (follow->n && sent + n > slowest_pos(follow) + follow->lead) {
            /* Time spent here is not owed to the schedule: the pace resumes from now. */
            uint64_t t = ts_mono_ns();
            while (sent + n > slowest_pos(follow) + follow->lead)
                usleep(FOLLOW_POLL_US);
            held_ns += ts_mono_ns() - t;
        }
        if (rate_bps) {
            /* The schedule is absolute, so sleep overshoot does not accumulate; a long stall
             * (stdout blocked) is not made up in one burst, which would only flood the reader. */
            uint64_t due = t0 + held_ns + forgiven_ns + (uint64_t)((double)sent * ns_per_byte), now = ts_mono_ns();
            if (now > due + CATCHUP_NS)
                forgiven_ns += now - due;
            else if (now < due)
                sleep_until(due);
        }
        pattern_fill(key, sent, buf, n);
        if (write_all(buf, n) < 0) {
            fprintf(stderr, "ts-pattern gen: write at offset %llu: %s\n", (unsigned long long)sent, strerror(errno));
            return TS_EXIT_FAIL;
        }
        sent += n;
    }
    double s = ts_ns_to_s(ts_mono_ns() - t0);
    fprintf(stderr, "ts-pattern gen: %llu bytes in %.1f s (%.1f Mbit/s); %.1f s held back by --lead, "
                    "%.1f s behind schedule forgiven\n",
            (unsigned long long)sent, s, s > 0 ? (double)sent * 8 / s / 1e6 /* Mbit */ : 0, ts_ns_to_s(held_ns),
            ts_ns_to_s(forgiven_ns));
    while (hold)
        pause();
    return TS_EXIT_OK;
}

/* ------------------------------------------------------------------ check */

typedef struct {
    uint64_t key, end;
    int has_end, aligned, done, done_told, error;
    uint64_t start, pos; /* stream offset of the first byte, and of the next byte expected */
    const char *progress;
    uint64_t progress_ns;
} check_t;

static void progress(check_t *c, int force)
{
    uint64_t now = ts_mono_ns();
    if (!c->progress || (!force && now - c->progress_ns < PROGRESS_NS))
        return;
    c->progress_ns = now;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->progress);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "start=%llu checked=%llu pos=%llu done=%d error=%d\n", (unsigned long long)c->start,
            (unsigned long long)(c->aligned ? c->pos - c->start : 0), (unsigned long long)c->pos, c->done, c->error);
    if (fclose(f) == 0)
        rename(tmp, c->progress);
}

/* Report the first byte of in[0..n) that is not the stream at c->pos + i, and what it is instead. */
static void report_mismatch(check_t *c, const uint8_t *in, size_t n, size_t i)
{
    uint64_t at = c->pos + i, out = c->pos - c->start + i;
    for (unsigned q = 0; q < 8 && i + q + 8 <= n; q++) {
        uint64_t off;
        if (word_offset(c->key, in + i + q, &off) == 0 && off >= q) {
            uint8_t probe[64];
            size_t m = n - i < sizeof probe ? n - i : sizeof probe;
            pattern_fill(c->key, off - q, probe, m);
            if (memcmp(probe, in + i, m) != 0)
                continue; /* a chance decode */
            uint64_t found = off - q;
            printf("ts-pattern check: FAIL at output byte %llu: expected stream offset %llu, got the bytes of offset %llu "
                   "(%s of %llu bytes)\n",
                   (unsigned long long)out, (unsigned long long)at, (unsigned long long)found,
                   found > at ? "a gap" : "an overlap", (unsigned long long)(found > at ? found - at : at - found));
            return;
        }
    }
    printf("ts-pattern check: FAIL at output byte %llu: expected stream offset %llu, got bytes that are not the "
           "pattern (corruption): %02x %02x %02x %02x\n",
           (unsigned long long)out, (unsigned long long)at, in[i], i + 1 < n ? in[i + 1] : 0, i + 2 < n ? in[i + 2] : 0,
           i + 3 < n ? in[i + 3] : 0);
}

/* Where in the stream do the first bytes lie? 0 and c->start set, or -1. */
static int find_start(check_t *c, const uint8_t *in, size_t n)
{
    uint8_t want[PROBE];
    size_t m = n < PROBE ? n : PROBE;
    for (unsigned p = 0; p < 8 && p + 8 <= n; p++) {
        uint64_t off;
        if (word_offset(c->key, in + p, &off) < 0 || off < p)
            continue;
        pattern_fill(c->key, off - p, want, m);
        if (memcmp(want, in, m) == 0) {
            c->start = c->pos = off - p;
            c->aligned = 1;
            return 0;
        }
    }
    return -1;
}

/* Check in[0..n) against the stream at c->pos. 0 ok, -1 on the first error (reported). */
static int check_bytes(check_t *c, const uint8_t *in, size_t n)
{
    static uint8_t want[CHUNK];
    while (n > 0) {
        if (c->has_end && c->pos >= c->end) {
            printf("ts-pattern check: FAIL: %zu or more bytes beyond the end of the stream (offset %llu)\n", n,
                   (unsigned long long)c->end);
            return -1;
        }
        size_t m = n < CHUNK ? n : CHUNK;
        if (c->has_end && c->end - c->pos < m)
            m = (size_t)(c->end - c->pos);
        pattern_fill(c->key, c->pos, want, m);
        if (memcmp(want, in, m) != 0) {
            size_t i = 0;
            while (want[i] == in[i])
                i++;
            report_mismatch(c, in, n, i);
            c->pos += i; /* for the count of bytes that were right */
            return -1;
        }
        c->pos += m;
        in += m;
        n -= m;
        if (c->has_end && c->pos == c->end)
            c->done = 1;
    }
    return 0;
}

static int check_main(check_t *c)
{
    static uint8_t buf[1 << 20];
    size_t have = 0; /* bytes buffered before the alignment is known */
    int rc = TS_EXIT_OK;
    for (;;) {
        ssize_t r = read(0, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            printf("ts-pattern check: FAIL: reading stdin: %s\n", strerror(errno));
            rc = TS_EXIT_FAIL;
            break;
        }
        if (!c->aligned) {
            have += (size_t)r;
            if (have < PROBE && r > 0)
                continue;
            if (have < 16) {
                printf("ts-pattern check: FAIL: input ended after %zu bytes, too few to place\n", have);
                rc = 1;
                break;
            }
            if (find_start(c, buf, have) < 0) {
                printf("ts-pattern check: FAIL: the input does not start with bytes of the pattern "
                       "(%02x %02x %02x %02x ...)\n", buf[0], buf[1], buf[2], buf[3]);
                rc = 1;
                break;
            }
            if (check_bytes(c, buf, have) < 0) {
                rc = 1;
                break;
            }
            have = 0;
        } else if (r > 0 && check_bytes(c, buf, (size_t)r) < 0) {
            rc = 1;
            break;
        }
        progress(c, c->done && !c->done_told); /* the end is news at once: nothing more may come */
        c->done_told = c->done;
        if (r == 0)
            break;
    }
    if (rc == TS_EXIT_OK && c->has_end && c->pos != c->end) {
        printf("ts-pattern check: FAIL: input ended at stream offset %llu, before the end %llu\n",
               (unsigned long long)c->pos, (unsigned long long)c->end);
        rc = 1;
    }
    if (rc == TS_EXIT_OK)
        printf("ts-pattern check: ok: %llu bytes, stream offsets %llu..%llu, no gap, overlap or corruption\n",
               (unsigned long long)(c->pos - c->start), (unsigned long long)c->start, (unsigned long long)c->pos);
    else
        printf("ts-pattern check: %llu bytes checked from stream offset %llu before that\n",
               (unsigned long long)(c->aligned ? c->pos - c->start : 0), (unsigned long long)c->start);
    c->error = rc != TS_EXIT_OK;
    progress(c, 1);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "gen") && strcmp(argv[1], "check"))) {
        usage(argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr);
        return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? TS_EXIT_OK : TS_EXIT_USAGE;
    }
    int gen = strcmp(argv[1], "gen") == 0;
    static const struct option opts[] = {
        { "bytes", required_argument, 0, 'b' }, { "rate", required_argument, 0, 'r' },
        { "key", required_argument, 0, 'k' },   { "wait", required_argument, 0, 'w' },
        { "hold", no_argument, 0, 'H' },        { "end", required_argument, 0, 'e' },
        { "progress", required_argument, 0, 'p' }, { "follow", required_argument, 0, 'f' },
        { "lead", required_argument, 0, 'l' },     { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    uint64_t key = 0x7473747265616dull /* "tstream" */, bytes = UINT64_MAX, rate = 0;
    const char *wait_file = NULL;
    int hold = 0, c;
    follow_t follow;
    memset(&follow, 0, sizeof follow);
    check_t ck;
    memset(&ck, 0, sizeof ck);
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'b': bad = !gen || parse_u64(optarg, &bytes) < 0; break;
        case 'r': bad = !gen || ts_units_rate(optarg, &rate) < 0; break;
        case 'k': bad = parse_u64(optarg, &key) < 0; break;
        case 'w': bad = !gen; wait_file = optarg; break;
        case 'H': bad = !gen; hold = 1; break;
        case 'e': bad = gen || parse_u64(optarg, &ck.end) < 0; ck.has_end = 1; break;
        case 'p': bad = gen; ck.progress = optarg; break;
        case 'f':
            bad = !gen || follow.n == MAX_FOLLOW;
            if (!bad)
                follow.files[follow.n++] = optarg;
            break;
        case 'l': bad = !gen || parse_u64(optarg, &follow.lead) < 0; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: bad = 1;
        }
        if (bad) {
            usage(stderr);
            return TS_EXIT_USAGE;
        }
    }
    if (optind != argc || (follow.n > 0) != (follow.lead > 0)) {
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    if (gen) {
        signal(SIGPIPE, SIG_DFL); /* a reader that went away ends us */
        return gen_main(key, bytes, rate, wait_file, hold, &follow);
    }
    ck.key = key;
    return check_main(&ck);
}
