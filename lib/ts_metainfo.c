/* mkostemp */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ts_metainfo.h"
#include "ts_version.h"
#include "ts_err.h"
#include "ts_bencode.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTHMETHOD "ECDSA"


static int sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) == 1 && n == 20 ? 0 : -1;
}

/* ---------------------------------------------------------------- field checks (shared by encode and parse) */

/* The name ends up in file and directory names, so only a conservative charset, and never a
 * path component with a meaning of its own. */
static int check_name(const uint8_t *s, size_t len, char *err, size_t errlen)
{
    if (len < 1 || len > TS_NAME_MAX)
        return ts_err(err, errlen, "metainfo: info.name is %zu bytes, must be 1..%d", len, TS_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return ts_err(err, errlen, "metainfo: info.name has byte 0x%02x at position %zu; allowed: A-Z a-z 0-9 . _ -",
                        c, i);
    }
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return ts_err(err, errlen, "metainfo: info.name must not be \".\" or \"..\"");
    return 0;
}

static int check_announce(const uint8_t *s, size_t len, char *err, size_t errlen)
{
    static const char scheme[] = "http://";
    if (len >= sizeof ((ts_metainfo_t *)0)->announce)
        return ts_err(err, errlen, "metainfo: announce is %zu bytes, at most %zu allowed", len,
                    sizeof ((ts_metainfo_t *)0)->announce - 1);
    if (len <= strlen(scheme) || memcmp(s, scheme, strlen(scheme)) != 0)
        return ts_err(err, errlen, "metainfo: announce must be an http:// URL");
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return ts_err(err, errlen, "metainfo: announce has byte 0x%02x at position %zu", s[i], i);
    return 0;
}

static int check_sizes(int64_t piece_len, int64_t length, char *err, size_t errlen)
{
    if (piece_len < (int64_t)TS_PIECE_LEN_MIN || piece_len > (int64_t)TS_PIECE_LEN_MAX)
        return ts_err(err, errlen, "metainfo: piece length %lld out of range %u..%u", (long long)piece_len,
                    TS_PIECE_LEN_MIN, TS_PIECE_LEN_MAX);
    if (length <= 0 || length % piece_len != 0)
        return ts_err(err, errlen, "metainfo: info.length %lld is not a positive multiple of piece length %lld",
                    (long long)length, (long long)piece_len);
    int64_t np = length / piece_len;
    if (np < (int64_t)TS_NPIECES_MIN || np > (int64_t)TS_NPIECES_MAX)
        return ts_err(err, errlen, "metainfo: %lld pieces out of range %u..%u", (long long)np, TS_NPIECES_MIN,
                    TS_NPIECES_MAX);
    return 0;
}

static int check_pubkey(size_t len, char *err, size_t errlen)
{
    if (len < 1 || len > TS_PUBKEY_MAX)
        return ts_err(err, errlen, "metainfo: info.live.pubkey is %zu bytes, must be 1..%u", len, TS_PUBKEY_MAX);
    return 0;
}

/* ---------------------------------------------------------------- encode */

static int keep_info(ts_metainfo_t *m, const uint8_t *info, size_t len, char *err, size_t errlen)
{
    uint8_t *copy = malloc(len);
    if (!copy)
        return ts_err(err, errlen, "metainfo: out of memory");
    memcpy(copy, info, len);
    free(m->info);
    m->info = copy;
    m->info_len = len;
    return 0;
}

int ts_metainfo_encode(ts_metainfo_t *m, ts_buf_t *out, char *err, size_t errlen)
{
    /* The char arrays come from callers: make sure each is terminated before strlen. */
    if (!memchr(m->name, '\0', sizeof m->name))
        return ts_err(err, errlen, "metainfo: name is not NUL-terminated");
    if (!memchr(m->authmethod, '\0', sizeof m->authmethod) || strcmp(m->authmethod, AUTHMETHOD) != 0)
        return ts_err(err, errlen, "metainfo: authmethod must be \"%s\"", AUTHMETHOD);
    if (!memchr(m->announce, '\0', sizeof m->announce))
        return ts_err(err, errlen, "metainfo: announce is not NUL-terminated");
    size_t namelen = strlen(m->name), annlen = strlen(m->announce);
    if (check_name((const uint8_t *)m->name, namelen, err, errlen) < 0)
        return -1;
    if (annlen && check_announce((const uint8_t *)m->announce, annlen, err, errlen) < 0)
        return -1;
    if (m->npieces < TS_NPIECES_MIN || m->npieces > TS_NPIECES_MAX)
        return ts_err(err, errlen, "metainfo: %llu pieces out of range %u..%u", (unsigned long long)m->npieces,
                    TS_NPIECES_MIN, TS_NPIECES_MAX);
    /* Both bounded above, so the product fits easily (at most 2^44). */
    int64_t length = (int64_t)m->npieces * (int64_t)m->piece_len;
    if (check_sizes(m->piece_len, length, err, errlen) < 0)
        return -1;
    if (!m->pubkey)
        return ts_err(err, errlen, "metainfo: pubkey missing");
    if (check_pubkey(m->pubkey_len, err, errlen) < 0)
        return -1;
    if (m->bitrate > (uint64_t)INT64_MAX)
        return ts_err(err, errlen, "metainfo: bitrate %llu too large", (unsigned long long)m->bitrate);

    size_t start = out->len;
    ts_ben_put_dict(out);
    if (annlen) {
        ts_ben_put_cstr(out, "announce");
        ts_ben_put_str(out, m->announce, annlen);
    }
    if (m->bitrate) {
        ts_ben_put_cstr(out, "bitrate");
        ts_ben_put_int(out, (int64_t)m->bitrate);
    }
    ts_ben_put_cstr(out, "created by");
    ts_ben_put_cstr(out, TS_AGENT);
    ts_ben_put_cstr(out, "info");
    size_t istart = out->len;
    if (m->info) {
        /* A parsed file's own bytes: keys we do not know survive, and so does the infohash. */
        ts_buf_put(out, m->info, m->info_len);
        goto info_done;
    }
    ts_ben_put_dict(out);
    ts_ben_put_cstr(out, "length");
    ts_ben_put_int(out, length);
    ts_ben_put_cstr(out, "live");
    ts_ben_put_dict(out);
    ts_ben_put_cstr(out, "authmethod");
    ts_ben_put_cstr(out, AUTHMETHOD);
    ts_ben_put_cstr(out, "pubkey");
    ts_ben_put_str(out, m->pubkey, m->pubkey_len);
    ts_ben_put_end(out);
    ts_ben_put_cstr(out, "name");
    ts_ben_put_str(out, m->name, namelen);
    ts_ben_put_cstr(out, "piece length");
    ts_ben_put_int(out, m->piece_len);
    ts_ben_put_end(out);
info_done:;
    size_t iend = out->len;
    ts_ben_put_end(out);
    if (out->err) {
        if (out->len > start)
            out->len = start;
        return ts_err(err, errlen, "metainfo: out of memory");
    }
    if (sha1(out->data + istart, iend - istart, m->infohash) < 0) {
        out->len = start;
        return ts_err(err, errlen, "metainfo: SHA-1 failed");
    }
    return 0;
}

/* ---------------------------------------------------------------- parse */

static int parse_tree(const ts_ben_t *root, ts_metainfo_t *m, char *err, size_t errlen)
{
    if (root->type != TS_BEN_DICT)
        return ts_err(err, errlen, "metainfo: top level is not a dict");

    const ts_ben_t *v = ts_ben_dict_get(root, "announce");
    if (v) {
        if (v->type != TS_BEN_STR)
            return ts_err(err, errlen, "metainfo: announce is not a string");
        if (v->len && check_announce(v->s, v->len, err, errlen) < 0)
            return -1;
        memcpy(m->announce, v->s, v->len);
        m->announce[v->len] = '\0';
    }
    v = ts_ben_dict_get(root, "bitrate");
    if (v) {
        if (v->type != TS_BEN_INT || v->i < 0)
            return ts_err(err, errlen, "metainfo: bitrate is not a non-negative integer");
        m->bitrate = (uint64_t)v->i;
    }

    const ts_ben_t *info = ts_ben_dict_get(root, "info");
    if (!info || info->type != TS_BEN_DICT)
        return ts_err(err, errlen, "metainfo: info missing or not a dict");
    int64_t length, piece_len;
    if (ts_ben_get_int(info, "length", &length) < 0)
        return ts_err(err, errlen, "metainfo: info.length missing or not an integer");
    if (ts_ben_get_int(info, "piece length", &piece_len) < 0)
        return ts_err(err, errlen, "metainfo: info[\"piece length\"] missing or not an integer");
    if (check_sizes(piece_len, length, err, errlen) < 0)
        return -1;
    m->piece_len = (uint32_t)piece_len;
    m->npieces = (uint64_t)(length / piece_len);

    size_t len;
    const uint8_t *s = ts_ben_get_str(info, "name", &len);
    if (!s)
        return ts_err(err, errlen, "metainfo: info.name missing or not a string");
    if (check_name(s, len, err, errlen) < 0)
        return -1;
    memcpy(m->name, s, len);
    m->name[len] = '\0';

    const ts_ben_t *live = ts_ben_get_dict(info, "live");
    if (!live)
        return ts_err(err, errlen, "metainfo: info.live missing or not a dict");
    s = ts_ben_get_str(live, "authmethod", &len);
    if (!s)
        return ts_err(err, errlen, "metainfo: info.live.authmethod missing or not a string");
    if (len != strlen(AUTHMETHOD) || memcmp(s, AUTHMETHOD, len) != 0)
        return ts_err(err, errlen, "metainfo: info.live.authmethod is not \"%s\"", AUTHMETHOD);
    memcpy(m->authmethod, AUTHMETHOD, sizeof AUTHMETHOD);

    s = ts_ben_get_str(live, "pubkey", &len);
    if (!s)
        return ts_err(err, errlen, "metainfo: info.live.pubkey missing or not a string");
    if (check_pubkey(len, err, errlen) < 0)
        return -1;
    m->pubkey = malloc(len);
    if (!m->pubkey)
        return ts_err(err, errlen, "metainfo: out of memory");
    memcpy(m->pubkey, s, len);
    m->pubkey_len = len;

    /* The hash is over info's bytes as they stand in the file, unknown keys included. */
    if (sha1(info->raw, info->rawlen, m->infohash) < 0)
        return ts_err(err, errlen, "metainfo: SHA-1 failed");
    return keep_info(m, info->raw, info->rawlen, err, errlen);
}

int ts_metainfo_parse(const uint8_t *buf, size_t len, ts_metainfo_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (len > TS_METAINFO_FILE_MAX)
        return ts_err(err, errlen, "metainfo: %zu bytes, more than the %d allowed", len, TS_METAINFO_FILE_MAX);
    char berr[200];
    ts_ben_t *root = ts_ben_parse(buf, len, NULL, berr, sizeof berr);
    if (!root)
        return ts_err(err, errlen, "metainfo: %s", berr);
    int rc = parse_tree(root, m, err, errlen);
    ts_ben_free(&root);
    if (rc < 0)
        ts_metainfo_free(m);
    return rc;
}

/* ---------------------------------------------------------------- files */

int ts_metainfo_load(const char *path, ts_metainfo_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ts_err(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return ts_err(err, errlen, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ts_err(err, errlen, "%s: not a regular file", path);
    }
    if (st.st_size > TS_METAINFO_FILE_MAX) {
        close(fd);
        return ts_err(err, errlen, "%s: %lld bytes, more than the %d allowed", path, (long long)st.st_size,
                    TS_METAINFO_FILE_MAX);
    }
    /* One spare byte tells a file that grew after fstat from one that did not. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ts_err(err, errlen, "%s: out of memory", path);
    }
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ts_err(err, errlen, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n == cap) {
        free(buf);
        return ts_err(err, errlen, "%s: file changed while being read", path);
    }
    char perr[256];
    int rc = ts_metainfo_parse(buf, n, m, perr, sizeof perr);
    free(buf);
    if (rc < 0)
        return ts_err(err, errlen, "%s: %s", path, perr);
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Make the rename itself durable. Best effort: some filesystems refuse fsync on a directory,
 * and by now the new file is complete and in place either way. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int ts_metainfo_write(const char *path, const uint8_t *file, size_t len, char *err, size_t errlen)
{
    ts_metainfo_t check;
    char perr[256];
    if (ts_metainfo_parse(file, len, &check, perr, sizeof perr) < 0)
        return ts_err(err, errlen, "%s: not written: %s", path, perr);
    ts_metainfo_free(&check);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    if (!tmp)
        return ts_err(err, errlen, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return ts_err(err, errlen, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    const char *what = NULL;
    /* mkstemp makes it 0600; the file is public metadata. */
    if (fchmod(fd, 0644) < 0)
        what = "chmod";
    else if (write_all(fd, file, len) < 0)
        what = "write";
    else if (fsync(fd) < 0)
        what = "fsync";
    int e = errno;
    if (close(fd) < 0 && !what) {
        what = "close";
        e = errno;
    }
    if (!what && rename(tmp, path) < 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        free(tmp);
        return ts_err(err, errlen, "%s: %s failed: %s", path, what, strerror(e));
    }
    free(tmp);
    sync_dir(path);
    return 0;
}

int ts_metainfo_save(const char *path, ts_metainfo_t *m, char *err, size_t errlen)
{
    ts_buf_t b;
    ts_buf_init(&b);
    char eerr[256];
    int rc = ts_metainfo_encode(m, &b, eerr, sizeof eerr);
    if (rc < 0)
        ts_err(err, errlen, "%s: %s", path, eerr);
    else
        rc = ts_metainfo_write(path, b.data, b.len, err, errlen);
    ts_buf_free(&b);
    return rc;
}

int ts_metainfo_wrap(const uint8_t *info, size_t info_len, const char *announce, ts_buf_t *out, ts_metainfo_t *m,
                     char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    size_t start = out->len;
    ts_ben_put_dict(out); /* keys in byte order: announce, info */
    if (announce && check_announce((const uint8_t *)announce, strlen(announce), NULL, 0) == 0) {
        ts_ben_put_cstr(out, "announce");
        ts_ben_put_cstr(out, announce);
    }
    ts_ben_put_cstr(out, "info");
    ts_buf_put(out, info, info_len);
    ts_ben_put_end(out);
    if (out->err) {
        out->len = start;
        return ts_err(err, errlen, "metainfo: out of memory");
    }
    if (ts_metainfo_parse(out->data + start, out->len - start, m, err, errlen) < 0) {
        out->len = start;
        return -1;
    }
    return 0;
}

void ts_metainfo_free(ts_metainfo_t *m)
{
    if (!m)
        return;
    free(m->pubkey);
    free(m->info);
    memset(m, 0, sizeof *m);
}

void ts_metainfo_hex(const uint8_t infohash[20], char out[41])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        out[2 * i] = hex[infohash[i] >> 4];
        out[2 * i + 1] = hex[infohash[i] & 15];
    }
    out[40] = '\0';
}
