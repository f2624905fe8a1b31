#include "ts_http.h"
#include <string.h>
#include <strings.h>

/* A byte-at-a-time state machine: every byte is judged when it is seen, so a bad byte (NUL, a
 * control character, a space in the wrong place) is rejected at once, and a valid prefix is always
 * PARTIAL. Strict where RFC 9112 allows it (no obs-fold, no space before ':', single spaces in the
 * request line); lenient where players need it (bare LF line ends, leading empty lines). */

enum {
    S_LEAD,       /* empty lines before the request line (RFC 9112 2.2) */
    S_LEAD_LF,    /* CR seen there */
    S_METHOD,
    S_TARGET0,    /* first byte of the target */
    S_TARGET,
    S_VERSION,    /* "HTTP/1." then one digit */
    S_VERSION_END,/* CR or LF after the version */
    S_LINE_LF,    /* CR seen at the end of a header line or the request line: LF must follow */
    S_HDR0,       /* start of a header line, or the empty line */
    S_HDR_NAME,
    S_HDR_VALUE,
    S_END_LF,     /* CR of the empty line seen */
};

static int is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_vchar(uint8_t c) { return c >= 0x21 && c <= 0x7e; }

static int bad(ts_http_req_t *req, const char *why)
{
    req->error = why;
    return TS_HTTP_BAD;
}

/* The target has ended: check its form and find the path in it. 0, or -1 with req->error. */
static int split_target(ts_http_req_t *req)
{
    const char *t = req->target;
    size_t n = req->target_len;
    if (n == 1 && t[0] == '*') {
        if (req->method != TS_HTTP_M_OPTIONS) {
            req->error = "'*' target outside OPTIONS";
            return -1;
        }
        req->path = t;
        req->path_len = 1;
        return 0;
    }
    size_t start = 0;
    if (t[0] != '/') {
        /* absolute-form, which servers must accept (RFC 9112 3.2.2): drop scheme and authority */
        size_t skip;
        if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
            skip = 7;
        else if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
            skip = 8;
        else {
            req->error = "target is neither a path nor an absolute URL";
            return -1;
        }
        const char *slash = memchr(t + skip, '/', n - skip);
        const char *q = memchr(t + skip, '?', n - skip);
        if (slash && q && q < slash)
            slash = NULL;
        if (!slash) {
            static const char root[] = "/";
            req->path = root; /* "http://host" or "http://host?x" means "/" */
            req->path_len = 1;
            return 0;
        }
        start = (size_t)(slash - t);
    }
    size_t end = start;
    while (end < n && t[end] != '?' && t[end] != '#')
        end++;
    req->path = t + start;
    req->path_len = end - start;
    return 0;
}

static ts_http_method_t classify(const char *m, size_t n)
{
    /* Methods are case-sensitive (RFC 9110 9.1). */
    if (n == 3 && memcmp(m, "GET", 3) == 0)
        return TS_HTTP_M_GET;
    if (n == 4 && memcmp(m, "HEAD", 4) == 0)
        return TS_HTTP_M_HEAD;
    if (n == 7 && memcmp(m, "OPTIONS", 7) == 0)
        return TS_HTTP_M_OPTIONS;
    return TS_HTTP_M_OTHER;
}

int ts_http_parse(const uint8_t *buf, size_t len, ts_http_req_t *req)
{
    static const char version[] = "HTTP/1.";
    memset(req, 0, sizeof *req);
    size_t limit = len < TS_HTTP_MAX_HEAD ? len : TS_HTTP_MAX_HEAD;
    int st = S_LEAD;
    size_t mark = 0, vi = 0;
    for (size_t i = 0; i < limit; i++) {
        uint8_t c = buf[i];
        switch (st) {
        case S_LEAD:
            if (c == '\r')
                st = S_LEAD_LF;
            else if (c == '\n')
                ;
            else if (is_tchar(c)) {
                mark = i;
                st = S_METHOD;
            } else
                return bad(req, "bad byte before the method");
            break;
        case S_LEAD_LF:
            if (c != '\n')
                return bad(req, "CR without LF");
            st = S_LEAD;
            break;
        case S_METHOD:
            if (c == ' ') {
                req->method_str = (const char *)buf + mark;
                req->method_len = i - mark;
                req->method = classify(req->method_str, req->method_len);
                st = S_TARGET0;
            } else if (!is_tchar(c))
                return bad(req, "bad byte in the method");
            else if (i - mark >= TS_HTTP_MAX_METHOD)
                return bad(req, "method too long");
            break;
        case S_TARGET0:
            if (!is_vchar(c))
                return bad(req, "bad request-target");
            mark = i;
            st = S_TARGET;
            break;
        case S_TARGET:
            if (c == ' ') {
                req->target = (const char *)buf + mark;
                req->target_len = i - mark;
                if (split_target(req) < 0)
                    return TS_HTTP_BAD;
                st = S_VERSION;
                vi = 0;
            } else if (!is_vchar(c))
                return bad(req, "bad byte in the request-target");
            break;
        case S_VERSION:
            if (vi < sizeof version - 1) {
                if (c != (uint8_t)version[vi])
                    return bad(req, "not HTTP/1.x");
                vi++;
            } else {
                if (c < '0' || c > '9')
                    return bad(req, "not HTTP/1.x");
                req->version_minor = c - '0';
                st = S_VERSION_END;
            }
            break;
        case S_VERSION_END:
            if (c == '\r')
                st = S_LINE_LF;
            else if (c == '\n')
                st = S_HDR0;
            else
                return bad(req, "junk after the HTTP version");
            req->hdr_off = i + 1 + (c == '\r');
            break;
        case S_LINE_LF:
            if (c != '\n')
                return bad(req, "CR without LF");
            st = S_HDR0;
            break;
        case S_HDR0:
            if (c == '\r')
                st = S_END_LF;
            else if (c == '\n')
                goto done;
            else if (c == ' ' || c == '\t')
                return bad(req, "obsolete header line folding");
            else if (is_tchar(c))
                st = S_HDR_NAME;
            else
                return bad(req, "bad byte in a header name");
            break;
        case S_HDR_NAME:
            if (c == ':') {
                req->nheaders++;
                st = S_HDR_VALUE;
            } else if (!is_tchar(c))
                return bad(req, "bad byte in a header name");
            break;
        case S_HDR_VALUE:
            if (c == '\r')
                st = S_LINE_LF;
            else if (c == '\n')
                st = S_HDR0;
            else if (!(c == ' ' || c == '\t' || is_vchar(c) || c >= 0x80))
                return bad(req, "bad byte in a header value");
            break;
        case S_END_LF:
            if (c != '\n')
                return bad(req, "CR without LF");
            goto done;
        }
        continue;
    done:
        req->head_len = i + 1;
        req->error = NULL;
        return TS_HTTP_DONE;
    }
    if (limit == TS_HTTP_MAX_HEAD)
        return bad(req, "request head too large");
    return TS_HTTP_PARTIAL;
}

/* The first header line in buf[from..to) called name; value trimmed. */
static int find_header(const uint8_t *buf, size_t from, size_t to, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name);
    size_t p = from;
    while (p < to) {
        const uint8_t *lf = memchr(buf + p, '\n', to - p);
        if (!lf)
            break;
        size_t end = (size_t)(lf - buf); /* line is [p, end) without the LF */
        if (end > p && buf[end - 1] == '\r')
            end--;
        const uint8_t *colon = end > p ? memchr(buf + p, ':', end - p) : NULL;
        if (colon && (size_t)(colon - (buf + p)) == nlen && strncasecmp((const char *)buf + p, name, nlen) == 0) {
            size_t a = (size_t)(colon - buf) + 1, b = end;
            while (a < b && (buf[a] == ' ' || buf[a] == '\t'))
                a++;
            while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t'))
                b--;
            *val = (const char *)buf + a;
            *vlen = b - a;
            return 0;
        }
        p = (size_t)(lf - buf) + 1;
    }
    return -1;
}

int ts_http_header(const uint8_t *buf, const ts_http_req_t *req, const char *name, const char **val,
                   size_t *vlen)
{
    return find_header(buf, req->hdr_off, req->head_len, name, val, vlen);
}

/* ------------------------------------------------------------------ responses */

const char *ts_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "";
    }
}

static int resp_bad(ts_http_resp_t *r, const char *why)
{
    r->error = why;
    return TS_HTTP_BAD;
}

static int is_text(uint8_t c) { return c == ' ' || c == '\t' || is_vchar(c) || c >= 0x80; }

/* "HTTP/1.x NNN[ reason]" in l[0..n). */
static int status_line(const uint8_t *l, size_t n, ts_http_resp_t *r)
{
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ')
        return resp_bad(r, "bad status line");
    for (int i = 9; i < 12; i++)
        if (l[i] < '0' || l[i] > '9')
            return resp_bad(r, "bad status code");
    r->version_minor = l[7] - '0';
    r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (r->status < 100)
        return resp_bad(r, "bad status code");
    if (n > 12 && l[12] != ' ')
        return resp_bad(r, "bad status line");
    for (size_t i = 13; i < n; i++)
        if (!is_text(l[i]))
            return resp_bad(r, "bad byte in the reason phrase");
    r->reason = (const char *)l + (n > 12 ? 13 : 12);
    r->reason_len = n > 12 ? n - 13 : 0;
    return 0;
}

static int is_token(const uint8_t *v, size_t n, const char *tok)
{
    return n == strlen(tok) && strncasecmp((const char *)v, tok, n) == 0;
}

/* One header line l[0..n) (no line end): "name:value". Content-Length and Transfer-Encoding are
 * what a client needs to find the body's end, so they are judged here. */
static int header_line(const uint8_t *l, size_t n, ts_http_resp_t *r)
{
    if (l[0] == ' ' || l[0] == '\t')
        return resp_bad(r, "obsolete header line folding");
    size_t k = 0;
    while (k < n && is_tchar(l[k]))
        k++;
    if (k == 0 || k == n || l[k] != ':')
        return resp_bad(r, "bad header name");
    for (size_t i = k + 1; i < n; i++)
        if (!is_text(l[i]))
            return resp_bad(r, "bad byte in a header value");
    r->nheaders++;
    const uint8_t *v = l + k + 1, *e = l + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t vl = (size_t)(e - v);
    if (is_token(l, k, "Content-Length")) {
        uint64_t x = 0;
        if (vl == 0 || vl > 18) /* 18 digits: below 2^63, no overflow to think about */
            return resp_bad(r, "bad Content-Length");
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return resp_bad(r, "bad Content-Length");
            x = x * 10 + (uint64_t)(v[i] - '0');
        }
        if (r->has_length && x != r->content_length)
            return resp_bad(r, "conflicting Content-Length");
        r->has_length = 1;
        r->content_length = x;
    } else if (is_token(l, k, "Transfer-Encoding")) {
        /* The last coding decides whether the body is chunked (RFC 9112 6.1). */
        const uint8_t *last = v;
        for (const uint8_t *p = v; p < e; p++)
            if (*p == ',')
                last = p + 1;
        while (last < e && (*last == ' ' || *last == '\t'))
            last++;
        r->has_te = 1;
        r->chunked = is_token(last, (size_t)(e - last), "chunked");
    }
    return 0;
}

int ts_http_resp_parse(const uint8_t *buf, size_t len, ts_http_resp_t *r)
{
    memset(r, 0, sizeof *r);
    size_t limit = len < TS_HTTP_MAX_RESP_HEAD ? len : TS_HTTP_MAX_RESP_HEAD;
    size_t pos = 0;
    for (int line = 0;; line++) {
        const uint8_t *lf = memchr(buf + pos, '\n', limit - pos);
        if (!lf) {
            if (limit == TS_HTTP_MAX_RESP_HEAD)
                return resp_bad(r, "response head too large");
            r->error = NULL;
            return TS_HTTP_PARTIAL;
        }
        size_t end = (size_t)(lf - buf), next = end + 1;
        if (end > pos && buf[end - 1] == '\r')
            end--;
        if (line == 0) {
            if (status_line(buf + pos, end - pos, r) < 0)
                return TS_HTTP_BAD;
            r->hdr_off = next;
        } else if (end == pos) {
            r->head_len = next;
            return TS_HTTP_DONE;
        } else if (header_line(buf + pos, end - pos, r) < 0) {
            return TS_HTTP_BAD;
        }
        pos = next;
    }
}

int ts_http_resp_header(const uint8_t *buf, const ts_http_resp_t *r, const char *name, const char **val,
                        size_t *vlen)
{
    return find_header(buf, r->hdr_off, r->head_len, name, val, vlen);
}
