/* ingest's durable numbers (ingest/seqstore.c): sequence numbers never reused and timestamps never
 * going back across a crash between reservation writes, a clean stop, a resume told by the signer,
 * and a damaged state file, which must be refused with a clear error rather than read as a guess. */
#include "check.h"
#include "seqstore.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test_seqstore2.XXXXXX";

static unsigned long long file_value(const char *name)
{
    char path[300];
    unsigned long long v = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%llu", &v) != 1)
        v = ~0ull;
    if (f)
        fclose(f);
    return v;
}

static void write_file(const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static uint64_t take(ts_seqstore_t *s)
{
    char err[256];
    uint64_t v = ~0ull;
    if (!s || ts_seqstore_take(s, &v, err, sizeof err) < 0)
        return ~0ull;
    return v;
}

static void test_crash(void)
{
    char err[256] = "";
    ts_seqstore_t *s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(s != NULL, "opens (%s)", err);
    CHECK(file_value("seq") == TS_SEQSTORE_BLOCK, "first block reserved on disk at open");
    uint64_t last = 0;
    for (int i = 0; i < 100; i++)
        last = take(s);
    CHECK(last == 99, "numbers from 0");
    ts_seqstore_destroy(&s); /* killed between two reservation writes: no clean-stop write */
    s = ts_seqstore_new(dir, err, sizeof err);
    uint64_t next = take(s);
    CHECK(next == TS_SEQSTORE_BLOCK && next > last, "after a crash: the rest of the block is skipped, never reused (%llu)",
          (unsigned long long)next);
    /* A crash right after a reservation write: the next run starts above that block too. */
    for (uint64_t i = next + 1; i <= 2 * TS_SEQSTORE_BLOCK; i++)
        last = take(s);
    CHECK(last == 2 * TS_SEQSTORE_BLOCK && file_value("seq") == 3 * TS_SEQSTORE_BLOCK, "crossing a block reserves the next");
    ts_seqstore_destroy(&s);
    s = ts_seqstore_new(dir, err, sizeof err);
    next = take(s);
    CHECK(next == 3 * TS_SEQSTORE_BLOCK && next > last, "after a crash past a block boundary (%llu)", (unsigned long long)next);
    ts_seqstore_destroy(&s);
}

static void test_clean_stop(void)
{
    char err[256] = "";
    write_file("seq", "1000\n");
    ts_seqstore_t *s = ts_seqstore_new(dir, err, sizeof err);
    uint64_t last = 0;
    for (int i = 0; i < 10; i++)
        last = take(s);
    CHECK(last == 1009, "continues at the stored value");
    CHECK(s && ts_seqstore_close(s, 0, err, sizeof err) == 0, "clean stop (%s)", err);
    CHECK(file_value("seq") == 1010, "clean stop stores the exact next number (%llu)", file_value("seq"));
    ts_seqstore_destroy(&s);
    s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(take(s) == 1010, "after a clean stop: no jump");
    ts_seqstore_destroy(&s);
}

static void test_resume(void)
{
    char err[256] = "";
    write_file("seq", "5000\n");
    ts_seqstore_t *s = ts_seqstore_new(dir, err, sizeof err);
    /* The signer holds 4321 as its newest: continue after it, below the reservation. */
    CHECK(s && ts_seqstore_resume(s, 4322, err, sizeof err) == 0 && take(s) == 4322, "resume below the reservation");
    CHECK(file_value("seq") == 5000 + TS_SEQSTORE_BLOCK, "the reservation on disk is not lowered by a resume");
    /* Above it (state lost or restored from an old backup): reserve from there first. */
    CHECK(ts_seqstore_resume(s, 20000, err, sizeof err) == 0 && take(s) == 20000 &&
              file_value("seq") == 20000 + TS_SEQSTORE_BLOCK,
          "resume above the reservation reserves first (%llu)", file_value("seq"));
    ts_seqstore_destroy(&s);
}

static void test_clock(void)
{
    char err[256] = "";
    char path[300];
    snprintf(path, sizeof path, "%s/clock", dir);
    unlink(path);
    ts_seqstore_t *s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(s && ts_seqstore_clock(s) == 0, "no clock file: no floor");
    const uint64_t t0 = 1700000000000000ull;
    CHECK(ts_seqstore_stamp(s, t0, err, sizeof err) == 0 && file_value("clock") == t0 + TS_SEQSTORE_CLOCK_AHEAD_US,
          "the first stamp persists a floor ahead of it");
    struct stat a, b;
    stat(path, &a);
    int ok = 1;
    for (uint64_t t = t0; t < t0 + TS_SEQSTORE_CLOCK_AHEAD_US; t += 40000)
        ok &= ts_seqstore_stamp(s, t, err, sizeof err) == 0;
    stat(path, &b);
    CHECK(ok && a.st_ino == b.st_ino, "no write while stamps stay below the floor (one fsync per %llu s)",
          TS_SEQSTORE_CLOCK_AHEAD_US / 1000000);
    uint64_t used = t0 + TS_SEQSTORE_CLOCK_AHEAD_US + 7;
    CHECK(ts_seqstore_stamp(s, used, err, sizeof err) == 0 && file_value("clock") > used, "reaching the floor raises it");
    ts_seqstore_destroy(&s); /* crash */
    s = ts_seqstore_new(dir, err, sizeof err);
    uint64_t floor = s ? ts_seqstore_clock(s) : 0;
    CHECK(floor > used, "after a crash the floor is above every timestamp used");
    /* This run stamps from the floor on; a clean stop records exactly where it got to. */
    CHECK(ts_seqstore_stamp(s, floor + 100, err, sizeof err) == 0 &&
              ts_seqstore_close(s, floor + 101, err, sizeof err) == 0 && file_value("clock") == floor + 101,
          "a clean stop stores the exact next timestamp");
    ts_seqstore_destroy(&s);
    s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(s && ts_seqstore_clock(s) == floor + 101, "read back");
    ts_seqstore_destroy(&s);
}

static void test_damaged(void)
{
    /* Written by us as one number and a newline, replaced atomically: anything else is damage. A
     * file cut short ("123" of "1234\n") must not pass for a smaller, reusable number. */
    const char *bad[] = { "", "123", "12a\n", "-5\n", "\n", " 7\n", "99999999999999999999999\n", "1\n2\n" };
    const char *files[] = { "seq", "clock" };
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char err[256] = "";
            write_file("seq", "10\n");
            write_file("clock", "10\n");
            write_file(files[f], bad[i]);
            ts_seqstore_t *s = ts_seqstore_new(dir, err, sizeof err);
            CHECK(s == NULL && strstr(err, "corrupt") && strstr(err, files[f]), "%s %zu (\"%s\") refused: %s", files[f], i,
                  bad[i], err);
            ts_seqstore_destroy(&s);
        }
    }
    char err[256] = "";
    write_file("clock", "10\n");
    write_file("seq", "18446744073709551615\n");
    ts_seqstore_t *s = ts_seqstore_new(dir, err, sizeof err);
    CHECK(s == NULL && strstr(err, "exhausted"), "seq at the 64-bit end refused (%s)", err);
    ts_seqstore_destroy(&s);
    err[0] = 0;
    s = ts_seqstore_new("/proc/no/such/dir", err, sizeof err);
    CHECK(s == NULL && err[0], "unusable directory refused at open (%s)", err);
    ts_seqstore_destroy(&s);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        printf("mkdtemp failed\n");
        return 1;
    }
    test_crash();
    test_clean_stop();
    test_resume();
    test_clock();
    test_damaged();
    const char *names[] = { "seq", "seq.tmp", "clock", "clock.tmp" };
    for (size_t i = 0; i < 4; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    CHECK_DONE();
}
