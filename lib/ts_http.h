/* HTTP/1.x message heads: the request head parser (servers: ts_httpd, player-bridge) and the
 * response head parser (clients: tracker announces, magnet fetch, tsctl probe and watch). Pure (no
 * I/O, no allocation, no state between calls) so they can be unit-tested and fuzzed.
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

/* ------------------------------------------------------------------ responses */

/* The reason phrase servers send with status ("Not Found"), or "" for one not listed. */
const char *ts_http_reason(int status);

#define TS_HTTP_MAX_RESP_HEAD 16384 /* status line + headers + empty line, in bytes */

typedef struct {
    int status;        /* 100..999 */
    int version_minor; /* HTTP/1.x */
    const char *reason; /* reason phrase, into the caller's buffer, not NUL-terminated (may be empty) */
    size_t reason_len;
    size_t head_len;   /* bytes up to and including the empty line (DONE only): the body starts here */
    size_t hdr_off;    /* where the header lines start */
    size_t nheaders;
    int has_length;    /* Content-Length given (every copy the same value, else BAD) */
    uint64_t content_length;
    int has_te;        /* Transfer-Encoding given (a client that asked with HTTP/1.0 may refuse it) */
    int chunked;       /* ... and its last coding is chunked: the body is chunked, Content-Length void */
    const char *error; /* why, when BAD (static string) */
} ts_http_resp_t;

/* Parse a response head from buf[0..len): "HTTP/1.x NNN [reason]" then header lines, each ended
 * by CRLF or a bare LF, then an empty line. Same answers as ts_http_parse: TS_HTTP_DONE (r filled),
 * TS_HTTP_PARTIAL (no empty line yet; the lines so far are valid) or TS_HTTP_BAD (a malformed
 * line, obs-fold, a bad or conflicting Content-Length, or no end within TS_HTTP_MAX_RESP_HEAD). A
 * line is judged once its LF has come; DONE and BAD never change as more bytes arrive. */
int ts_http_resp_parse(const uint8_t *buf, size_t len, ts_http_resp_t *r);
/* After DONE on the same buffer: the first header field called name, as ts_http_header. */
int ts_http_resp_header(const uint8_t *buf, const ts_http_resp_t *r, const char *name, const char **val,
                        size_t *vlen);
#endif
