/* Clocks: monotonic nanoseconds for intervals, wall-clock microseconds for piece timestamps; and
 * the unit conversions, named, so that no literal 1000000000 or 1e6 has to be read twice. */
#ifndef TS_TIME_H
#define TS_TIME_H
#include <stdint.h>

#define TS_NS_PER_S 1000000000ull
#define TS_NS_PER_MS 1000000ull
#define TS_NS_PER_US 1000ull
#define TS_US_PER_S 1000000ull
#define TS_US_PER_MS 1000ull
#define TS_MS_PER_S 1000ull
/* The same as doubles, for seconds kept in floating point (libev timers, log lines). */
#define TS_NS_PER_S_F 1e9
#define TS_US_PER_S_F 1e6
#define TS_MS_PER_S_F 1e3

uint64_t ts_mono_ns(void);
uint64_t ts_wall_us(void);
/* Nanoseconds as seconds (for libev timers and log lines). */
static inline double ts_ns_to_s(uint64_t ns) { return (double)ns / TS_NS_PER_S_F; }
/* Seconds (>= 0) as nanoseconds. */
static inline uint64_t ts_s_to_ns(double s) { return s > 0 ? (uint64_t)(s * TS_NS_PER_S_F) : 0; }
#endif
