/* Time units for tsctl: lib/ts_time.h's named constants; the fallbacks go once lib has them all. */
#ifndef TSCTL_TIME_H
#define TSCTL_TIME_H
#include "ts_time.h"
#ifndef TS_NS_PER_S
#define TS_NS_PER_S 1000000000ull
#endif
#ifndef TS_NS_PER_MS
#define TS_NS_PER_MS 1000000ull
#endif
#ifndef TS_US_PER_S
#define TS_US_PER_S 1000000ull
#endif
#ifndef TS_MS_PER_S
#define TS_MS_PER_S 1000ull
#endif
#endif
