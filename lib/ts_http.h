/* HTTP/1.x request head parser: the request line and header fields of one request, from a byte
 * buffer. Pure (no I/O, no allocation, no state between calls) so it can be unit-tested and fuzzed.
 *
 * Call it again on the whole buffer as more bytes arrive. The answer only moves forward: a prefix
 * that is PARTIAL may become DONE or BAD once more bytes come; DONE and BAD never change. */
#ifndef TS_HTTP_H
#define TS_HTTP_H
#include <stddef.h>
#include <stdint.h>

#define TS_HTTP_MAX_HEAD 8192 /* request line + headers + empty line, in bytes */
#define TS_HTTP_MAX_METHOD 32

enum { TS_HTTP_BAD = -1, TS_HTTP_PARTIAL = 0, TS_HTTP_DONE = 1 };

typedef enum { TS_HTTP_M_OTHER, TS_HTTP_M_GET, TS_HTTP_M_HEAD, TS_HTTP_M_OPTIONS } ts_http_method_t;

typedef struct {
    ts_http_method_t method;
    const char *method_str; /* pointers into the caller's buffer, not NUL-terminated */
    size_t method_len;
    const char *target; /* request-target as sent */
    size_t target_len;
    const char *path; /* target without scheme://authority, ?query and #fragment ("*" stays "*") */
    size_t path_len;
    int version_minor; /* HTTP/1.x */
    size_t head_len;   /* bytes up to and including the empty line (DONE only) */
    size_t hdr_off;    /* where the header lines start */
    size_t nheaders;
    const char *error; /* why, when BAD (static string) */
} ts_http_req_t;

/* Parse buf[0..len). Returns TS_HTTP_DONE (req filled), TS_HTTP_PARTIAL (valid so far, send more)
 * or TS_HTTP_BAD (malformed, or no complete head within TS_HTTP_MAX_HEAD bytes). */
int ts_http_parse(const uint8_t *buf, size_t len, ts_http_req_t *req);

/* After DONE on the same buffer: the first header field called name (case-insensitive), value
 * without surrounding whitespace. 0 with val/vlen set, or -1 if there is none. */
int ts_http_header(const uint8_t *buf, const ts_http_req_t *req, const char *name, const char **val,
                   size_t *vlen);
#endif
