/* Clocks: monotonic nanoseconds for intervals, wall-clock microseconds for piece timestamps. */
#ifndef TS_TIME_H
#define TS_TIME_H
#include <stdint.h>
uint64_t ts_mono_ns(void);
uint64_t ts_wall_us(void);
#endif
