/* The pacer (ingest/pacer.c): synthetic MPEG-TS with PCRs, released on the PCR's schedule;
 * the 33-bit wrap, jumps and discontinuities, a new run, the end of the stream, a stream without
 * PCRs (unpaced, or at a rate to fall back on), a stalled source, and the bitrate mode. Time is passed in: nothing here sleeps. */
#include "check.h"
#include "pacer.h"
#include <stdlib.h>
#include <string.h>

#define PKT 188
#define MS 1000000ull
#define T0 (1000 * 1000 * MS) /* an arbitrary monotonic start */
#define PCR_MS 27000ull       /* 27 MHz ticks per millisecond */
#define WRAP (300ull << 33)

static uint64_t got;
static uint8_t seen[1 << 21];

static void sink(const uint8_t *buf, size_t len, void *arg)
{
    if (got + len <= sizeof seen)
        memcpy(seen + got, buf, len);
    got += len;
}

/* One TS packet on pid; with a PCR (pcr >= 0) in an adaptation field, disc its discontinuity flag. */
static void packet(uint8_t *pk, int pid, int64_t pcr, int disc, uint8_t fill)
{
    memset(pk, fill, PKT);
    pk[0] = 0x47;
    pk[1] = (uint8_t)(pid >> 8 & 0x1f);
    pk[2] = (uint8_t)pid;
    pk[3] = 0x10;
    if (pcr < 0)
        return;
    uint64_t base = (uint64_t)pcr / 300, ext = (uint64_t)pcr % 300;
    pk[3] = 0x30;
    pk[4] = 7;
    pk[5] = (uint8_t)(0x10 | (disc ? 0x80 : 0));
    pk[6] = (uint8_t)(base >> 25);
    pk[7] = (uint8_t)(base >> 17);
    pk[8] = (uint8_t)(base >> 9);
    pk[9] = (uint8_t)(base >> 1);
    pk[10] = (uint8_t)((base & 1) << 7 | 0x7e | (ext >> 8));
    pk[11] = (uint8_t)ext;
}

/* n groups of 10 packets, the first of each with a PCR step_ms after the previous one (from pcr0),
 * plus a packet of another PID with a bogus PCR that must be ignored. */
static size_t stream(uint8_t *buf, int n, uint64_t pcr0, uint64_t step_ms)
{
    size_t len = 0;
    for (int g = 0; g < n; g++) {
        packet(buf + len, 256, (int64_t)((pcr0 + g * step_ms * PCR_MS) % WRAP), 0, (uint8_t)g);
        len += PKT;
        for (int k = 1; k < 10; k++, len += PKT)
            packet(buf + len, k == 5 ? 257 : 256, k == 5 ? 12345 : -1, 0, (uint8_t)g);
    }
    return len;
}

static uint8_t buf[1 << 21];

static void test_schedule(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(0, 1, sink, NULL);
    size_t len = stream(buf, 10, 5 * PCR_MS, 40);
    CHECK(ts_pacer_push(p, buf, len) == 0, "push");
    ts_pacer_run(p, T0);
    CHECK(got == 0, "first PCR: due now, nothing before it (got %llu)", (unsigned long long)got);
    ts_pacer_run(p, T0 + 20 * MS);
    CHECK(got == 940, "half way to the second PCR: half the bytes between (got %llu)", (unsigned long long)got);
    int ok = 1;
    for (uint64_t k = 1; k < 10; k++) {
        ts_pacer_run(p, T0 + k * 40 * MS);
        LOOP_CHECK(ok, got == k * 1880, "PCR %llu due at %llu ms: %llu bytes out, got %llu", (unsigned long long)k,
                   (unsigned long long)k * 40, (unsigned long long)k * 1880, (unsigned long long)got);
    }
    CHECK(ok, "every PCR's packet goes when its time since the first PCR has passed");
    ts_pacer_run(p, T0 + 3600000 * MS);
    CHECK(got == 9 * 1880, "the tail after the last PCR waits for more (got %llu)", (unsigned long long)got);
    ts_pacer_end(p);
    ts_pacer_run(p, T0 + 3600000 * MS);
    CHECK(got == len && memcmp(seen, buf, len) == 0, "at the end the tail goes; every byte in order");
    CHECK(!ts_pacer_no_pcr(p), "paced");
    ts_pacer_destroy(&p);
    CHECK(p == NULL, "destroy nulls the pointer");
}

static void test_wrap(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(0, 1, sink, NULL);
    size_t len = stream(buf, 10, WRAP - 100 * PCR_MS, 40); /* wraps between the 3rd and the 4th PCR */
    ts_pacer_push(p, buf, len);
    ts_pacer_run(p, T0);
    ts_pacer_run(p, T0 + 119 * MS);
    CHECK(got < 3 * 1880, "before the wrap: paced (got %llu)", (unsigned long long)got);
    ts_pacer_run(p, T0 + 200 * MS);
    CHECK(got == 5 * 1880, "across the 2^33 wrap: still 40 ms a PCR (got %llu)", (unsigned long long)got);
    ts_pacer_destroy(&p);
}

/* Two streams back to back, the second's PCRs far from the first's. */
static void jump(uint64_t pcr1, int disc, const char *what)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(0, 1, sink, NULL);
    size_t a = stream(buf, 5, 1000 * PCR_MS, 40), b = stream(buf + a, 5, pcr1, 40);
    if (disc)
        buf[a + 5] |= 0x80;
    ts_pacer_push(p, buf, a + b);
    ts_pacer_run(p, T0);
    ts_pacer_run(p, T0 + 160 * MS);
    CHECK(got == a, "%s: the first stream is out at its last PCR (got %llu of %zu)", what, (unsigned long long)got, a);
    ts_pacer_run(p, T0 + 200 * MS);
    CHECK(got == a + 1880, "%s: re-anchored, the second stream's first PCR continues at once and the next 40 ms "
                           "later (got %llu, want %zu)", what, (unsigned long long)got, a + 1880);
    ts_pacer_run(p, T0 + 320 * MS);
    CHECK(got == a + 4 * 1880, "%s: then paced again (got %llu, want %zu)", what, (unsigned long long)got,
          a + 4 * 1880);
    ts_pacer_destroy(&p);
}

static void test_restart(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(0, 1, sink, NULL);
    size_t a = stream(buf, 5, 1000 * PCR_MS, 40);
    ts_pacer_push(p, buf, a + 100); /* a run that ends off the packet grid */
    ts_pacer_run(p, T0);
    ts_pacer_end(p);
    ts_pacer_run(p, T0 + 160 * MS);
    CHECK(got == a + 100, "a run's tail goes at its end");
    ts_pacer_restart(p);
    ts_pacer_push(p, buf, a); /* the file again from its start: the same PCRs, 200 ms back */
    ts_pacer_run(p, T0 + 160 * MS);
    ts_pacer_run(p, T0 + 240 * MS);
    CHECK(got == a + 100 + 2 * 1880, "a new run: the grid and the clock start over, paced (got %llu, want %zu)",
          (unsigned long long)got, a + 100 + 2 * 1880);
    ts_pacer_destroy(&p);
}

static void test_stall(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(0, 1, sink, NULL);
    size_t a = stream(buf, 200, 0, 40); /* 8 s of stream */
    ts_pacer_push(p, buf, 1880);        /* the first PCR, then the source stalls for 5 s */
    ts_pacer_run(p, T0);
    ts_pacer_push(p, buf + 1880, a - 1880);
    ts_pacer_run(p, T0 + 5000 * MS);
    CHECK(got <= 1880 + 1880 * 500 / 40 + 1880, "after a stall at most %llu ms catch up at once (got %llu bytes)",
          TS_PACER_BURST_NS / MS, (unsigned long long)got);
    CHECK(got >= 1880 * 500 / 40, "but it does catch up that much (got %llu)", (unsigned long long)got);
    ts_pacer_destroy(&p);
}

static void test_no_pcr(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(0, 1, sink, NULL);
    memset(buf, 'x', TS_PACER_CAP - 1);
    ts_pacer_push(p, buf, TS_PACER_CAP - 1);
    ts_pacer_run(p, T0);
    CHECK(got == 0 && !ts_pacer_no_pcr(p), "no PCR yet: waiting for one");
    ts_pacer_push(p, buf, 1);
    ts_pacer_run(p, T0);
    CHECK(got == TS_PACER_CAP && ts_pacer_no_pcr(p), "a full queue without a PCR goes unpaced, and says so");
    ts_pacer_destroy(&p);
}

/* By PCR first (an HTTP source), with a rate to fall back on: a stream without PCRs goes at it. */
static void test_no_pcr_rate(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(2000000, 1, sink, NULL);
    memset(buf, 'x', TS_PACER_CAP);
    ts_pacer_push(p, buf, TS_PACER_CAP);
    ts_pacer_run(p, T0);
    CHECK(got == 0 && ts_pacer_no_pcr(p), "no PCR in a full queue: not dumped when there is a rate to go at");
    for (uint64_t t = 10; t <= 1000; t += 10)
        ts_pacer_run(p, T0 + t * MS);
    CHECK(got == 250000, "then at the rate: 250 kB in a second at 2 Mbit/s (got %llu)", (unsigned long long)got);
    ts_pacer_destroy(&p);
}

static void test_bitrate(void)
{
    got = 0;
    ts_pacer_t *p = ts_pacer_new(2000000, 0, sink, NULL);
    memset(buf, 'y', 600000);
    ts_pacer_push(p, buf, 600000);
    ts_pacer_run(p, T0);
    CHECK(got == 0, "bitrate: nothing at the start");
    for (uint64_t t = 10; t <= 1000; t += 10) /* the source's 10 ms tick */
        ts_pacer_run(p, T0 + t * MS);
    CHECK(got == 250000, "bitrate: 2 Mbit/s is 250 kB after a second (got %llu)", (unsigned long long)got);
    ts_pacer_run(p, T0 + 60000 * MS);
    CHECK(got == 250000 + ts_pacer_budget(2000000, TS_PACER_BURST_NS),
          "bitrate: after a stall only the burst catches up (got %llu)", (unsigned long long)got);
    CHECK(ts_pacer_budget(2000000, 10 * MS) == 2500, "budget: 2500 B per 10 ms");
    ts_pacer_destroy(&p);
}

int main(void)
{
    test_schedule();
    test_wrap();
    jump(1000 * PCR_MS + 3600000 * PCR_MS, 0, "a jump forward by an hour");
    jump(10 * PCR_MS, 0, "a jump back");
    jump(1000 * PCR_MS + 400 * PCR_MS, 1, "a discontinuity flag");
    test_restart();
    test_stall();
    test_no_pcr();
    test_no_pcr_rate();
    test_bitrate();
    CHECK_DONE();
}
