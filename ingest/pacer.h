/* The pacer: hands a source's bytes on no faster than real time; shared by file and HTTP sources
 * (a file, or a server sending a file, delivers as fast as the disk or the network goes).
 *
 * Pure code (no I/O, no clock): the caller passes "now" (monotonic ns) and pushes bytes in;
 * ts_pacer_run hands on, through the callback, those that are due.
 *   by_pcr = 0: at most bps bit/s since the first run;
 *   by_pcr = 1: by the stream's own clock, the PCR of MPEG-TS. The first PID seen carrying PCRs is
 *            the PCR PID; the packet with a PCR is due when the time since the first PCR reaches
 *            the PCR's distance from it, bytes between two PCRs go at a steady rate. The 33-bit
 *            clock wraps (2^33 * 300 ticks of 27 MHz); a discontinuity flag, a jump of more than a
 *            second either way, or a new run (ts_pacer_restart) re-anchors: the clock continues
 *            from the previous PCR. A stream without PCRs cannot be paced so: once TS_PACER_CAP
 *            bytes wait with no PCR to go by, it goes at bps from then on, or unpaced if bps is 0
 *            (ts_pacer_no_pcr says so).
 * Either way, a source that stalled catches up at most TS_PACER_BURST_NS at once. */
#ifndef TS_PACER_H
#define TS_PACER_H
#include <stddef.h>
#include <stdint.h>

#define TS_PACER_CAP (1024 * 1024)          /* push no more while this much waits (> 100 ms of 80 Mbit/s) */
#define TS_PACER_BURST_NS 500000000ull      /* after a stall, catch up at most this much at once */
#define TS_PACER_JUMP_NS 1000000000ull      /* PCRs further apart than this: a jump, re-anchor */

typedef struct ts_pacer ts_pacer_t;
/* Bytes that are due, in order. The callback must not call into the pacer. */
typedef void ts_pacer_out_fn(const uint8_t *buf, size_t len, void *arg);

ts_pacer_t *ts_pacer_new(uint64_t bps, int by_pcr, ts_pacer_out_fn *out, void *arg);
void ts_pacer_destroy(ts_pacer_t **self);
/* Queue bytes (any amount; callers stop pushing at TS_PACER_CAP). 0, or -1 out of memory. */
int ts_pacer_push(ts_pacer_t *p, const uint8_t *buf, size_t len);
/* Hand on what is due at now_ns. */
void ts_pacer_run(ts_pacer_t *p, uint64_t now_ns);
/* Bytes pushed and not yet handed on. */
size_t ts_pacer_queued(const ts_pacer_t *p);
/* No more bytes for now (the source ended): the tail after the last PCR may go once that is due. */
void ts_pacer_end(ts_pacer_t *p);
/* What is pushed next starts a new run (a file looped, another HTTP resource): its clock does
 * not continue the old one's. Call with nothing queued. */
void ts_pacer_restart(ts_pacer_t *p);
/* 1 once PCR pacing had to give up (no PCR within TS_PACER_CAP bytes). */
int ts_pacer_no_pcr(const ts_pacer_t *p);
/* Bytes a source at bps bit/s may have delivered after elapsed_ns (bps up to 10 Gbit/s). */
uint64_t ts_pacer_budget(uint64_t bps, uint64_t elapsed_ns);
#endif
