/* Errors go back as -1 plus a message in a caller-supplied buffer (err may be NULL). */
#ifndef TS_ERR_H
#define TS_ERR_H
#include <stddef.h>
/* Format into err (if any); always returns -1 so callers can `return ts_err(...)`. */
int ts_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
