/* Parsing of user-facing numbers: rates ("2M" = 2,000,000 bit/s), sizes ("16k" = 16384 bytes) and
 * durations ("30m"). */
#ifndef TS_UNITS_H
#define TS_UNITS_H
#include <stdint.h>
/* bits per second; suffixes k, M, G are powers of 1000. 0 on success. */
int ts_units_rate(const char *s, uint64_t *bps);
/* bytes; suffixes k, M are powers of 1024. 0 on success. */
int ts_units_size(const char *s, uint64_t *bytes);
/* A duration: a whole number with s (the default), m or h ("90", "30m", "2h"), at most a week.
 * Microseconds; 0 on success. */
int ts_units_duration(const char *s, uint64_t *us);
/* "ADDR:PORT" or ":PORT" or "PORT" → addr (default 127.0.0.1) and port. 0 on success. */
int ts_units_hostport(const char *s, char *addr, unsigned addrlen, uint16_t *port);
#endif
