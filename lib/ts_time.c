#include "ts_time.h"
#include <time.h>

uint64_t ts_mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * TS_NS_PER_S + (uint64_t)t.tv_nsec;
}

uint64_t ts_wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * TS_US_PER_S + (uint64_t)t.tv_nsec / TS_NS_PER_US;
}
