/* The .tstream file: encode/parse round trip, the infohash, rejections, and save/load on disk. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, mkdtemp */
#endif
#include "check.h"
#include "ts_bencode.h"
#include "ts_buf.h"
#include "ts_metainfo.h"
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>



/* Any bytes do for the key here; include 'e', ':' and NUL to catch sloppy framing. */
static uint8_t test_key[91];

static void sample(ts_metainfo_t *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->name, "test-stream_1.0");
    m->piece_len = 16384;
    m->npieces = 1024;
    strcpy(m->authmethod, "ECDSA");
    for (size_t i = 0; i < sizeof test_key; i++)
        test_key[i] = (uint8_t)(i * 37 + 1);
    test_key[0] = 0x30;
    test_key[5] = 'e';
    test_key[6] = ':';
    test_key[7] = 0;
    m->pubkey = test_key; /* borrowed: never ts_metainfo_free a sample */
    m->pubkey_len = sizeof test_key;
    strcpy(m->announce, "http://127.0.0.1:6969/announce");
    m->bitrate = 2000000;
}

static int encode(ts_metainfo_t *m, ts_buf_t *b)
{
    char err[256] = "";
    ts_buf_init(b);
    int rc = ts_metainfo_encode(m, b, err, sizeof err);
    if (rc < 0)
        printf("encode: %s\n", err);
    return rc;
}

static void sha1(const uint8_t *p, size_t len, uint8_t out[20])
{
    unsigned int n = 0;
    EVP_Digest(p, len, out, &n, EVP_sha1(), NULL);
}

/* info is the last top-level key, so its bytes run from after "4:info" to the final 'e'. */
static int info_hash_independent(const uint8_t *doc, size_t len, uint8_t out[20])
{
    const uint8_t *k = memmem(doc, len, "4:info", 6);
    if (!k)
        return -1;
    const uint8_t *start = k + 6;
    sha1(start, (size_t)(doc + len - 1 - start), out);
    return 0;
}

static void test_round_trip(void)
{
    ts_metainfo_t m, p;
    sample(&m);
    ts_buf_t b;
    CHECK(encode(&m, &b) == 0, "encode sample");
    char err[256] = "";
    CHECK(ts_metainfo_parse(b.data, b.len, &p, err, sizeof err) == 0, "parse: %s", err);
    CHECK(strcmp(p.name, m.name) == 0, "name");
    CHECK(p.piece_len == m.piece_len, "piece_len");
    CHECK(p.npieces == m.npieces, "npieces");
    CHECK(strcmp(p.authmethod, "ECDSA") == 0, "authmethod");
    CHECK(p.pubkey_len == m.pubkey_len && p.pubkey != m.pubkey && memcmp(p.pubkey, m.pubkey, m.pubkey_len) == 0,
          "pubkey copied");
    CHECK(strcmp(p.announce, m.announce) == 0, "announce");
    CHECK(p.bitrate == m.bitrate, "bitrate");
    CHECK(memcmp(p.infohash, m.infohash, 20) == 0, "infohash equal after round trip");

    uint8_t ih[20];
    CHECK(info_hash_independent(b.data, b.len, ih) == 0 && memcmp(ih, m.infohash, 20) == 0,
          "infohash is SHA-1 of the info span");

    /* The same struct encodes to the same bytes. */
    ts_buf_t b2;
    CHECK(encode(&p, &b2) == 0 && b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0, "re-encode identical");
    ts_buf_free(&b2);
    ts_metainfo_free(&p);
    CHECK(p.pubkey == NULL && p.name[0] == 0 && p.npieces == 0, "free zeroes");
    ts_metainfo_free(&p);

    /* Every proper prefix is rejected with a message. */
    int all = 1;
    for (size_t n = 0; n < b.len; n++) {
        err[0] = 0;
        if (ts_metainfo_parse(b.data, n, &p, err, sizeof err) == 0 || !err[0])
            all = 0;
        ts_metainfo_free(&p);
    }
    CHECK(all, "every truncation rejected");
    CHECK(ts_metainfo_parse(b.data, b.len - 1, &p, err, sizeof err) < 0 && strstr(err, "truncated"),
          "truncation message: %s", err);
    CHECK(p.pubkey == NULL, "failed parse leaves m zeroed");

    /* Appending to a non-empty buffer leaves the earlier bytes alone. */
    ts_buf_t b3;
    ts_buf_init(&b3);
    ts_buf_put(&b3, "XY", 2);
    CHECK(ts_metainfo_encode(&m, &b3, err, sizeof err) == 0 && b3.len == b.len + 2 && memcmp(b3.data, "XY", 2) == 0 &&
              memcmp(b3.data + 2, b.data, b.len) == 0,
          "encode appends");
    ts_buf_free(&b3);
    ts_buf_free(&b);
}

static void test_exact_layout(void)
{
    ts_metainfo_t m;
    sample(&m);
    static const uint8_t key[] = { 'a', 'b', 'c' };
    m.pubkey = (uint8_t *)key;
    m.pubkey_len = 3;
    m.announce[0] = 0;
    m.bitrate = 0;
    m.npieces = 16;
    m.piece_len = 1024;
    strcpy(m.name, "x");
    ts_buf_t b;
    CHECK(encode(&m, &b) == 0, "encode minimal");
    const char *want = "d10:created by11:tstream 0.14:infod6:lengthi16384e4:lived10:authmethod5:ECDSA6:pubkey3:abce"
                       "4:name1:x12:piece lengthi1024eee";
    CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "exact layout without announce/bitrate: %.*s",
          (int)b.len, (const char *)b.data);
    ts_buf_free(&b);

    strcpy(m.announce, "http://t/a");
    m.bitrate = 5;
    CHECK(encode(&m, &b) == 0, "encode with announce");
    const char *want2 = "d8:announce10:http://t/a7:bitratei5e10:created by11:tstream 0.14:infod6:lengthi16384e"
                        "4:lived10:authmethod5:ECDSA6:pubkey3:abce4:name1:x12:piece lengthi1024eee";
    CHECK(b.len == strlen(want2) && memcmp(b.data, want2, b.len) == 0, "exact layout with announce/bitrate");
    ts_buf_free(&b);
}

static void test_infohash_stability(void)
{
    ts_metainfo_t m;
    sample(&m);
    ts_buf_t b;
    encode(&m, &b);
    ts_buf_free(&b);
    uint8_t h0[20];
    memcpy(h0, m.infohash, 20);

    strcpy(m.announce, "http://tracker.example/announce");
    encode(&m, &b);
    ts_buf_free(&b);
    CHECK(memcmp(h0, m.infohash, 20) == 0, "announce change keeps infohash");

    m.announce[0] = 0;
    m.bitrate = 0;
    encode(&m, &b);
    CHECK(!memmem(b.data, b.len, "announce", 8) && !memmem(b.data, b.len, "bitrate", 7), "empty fields omitted");
    ts_buf_free(&b);
    CHECK(memcmp(h0, m.infohash, 20) == 0, "bitrate change keeps infohash");

    strcpy(m.name, "other");
    encode(&m, &b);
    ts_buf_free(&b);
    CHECK(memcmp(h0, m.infohash, 20) != 0, "name change changes infohash");

    sample(&m);
    m.npieces = 2048;
    encode(&m, &b);
    ts_buf_free(&b);
    CHECK(memcmp(h0, m.infohash, 20) != 0, "length change changes infohash");

    char hex[41];
    uint8_t empty[20];
    sha1((const uint8_t *)"", 0, empty);
    ts_metainfo_hex(empty, hex);
    CHECK(strcmp(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0, "hex: %s", hex);
}

/* A hand-built file, to reach what the encoder refuses to write. */
typedef struct {
    const char *name, *authmethod, *extra_info_key;
    int64_t length, piece_len;
    int no_live, no_pubkey, bitrate_str;
} raw_t;

static void build(const raw_t *r, ts_buf_t *b)
{
    ts_buf_init(b);
    ts_ben_put_dict(b);
    ts_ben_put_cstr(b, "announce");
    ts_ben_put_cstr(b, "http://127.0.0.1/announce");
    ts_ben_put_cstr(b, "bitrate");
    if (r->bitrate_str)
        ts_ben_put_cstr(b, "fast");
    else
        ts_ben_put_int(b, 1000);
    ts_ben_put_cstr(b, "info");
    ts_ben_put_dict(b);
    ts_ben_put_cstr(b, "length");
    ts_ben_put_int(b, r->length);
    if (!r->no_live) {
        ts_ben_put_cstr(b, "live");
        ts_ben_put_dict(b);
        ts_ben_put_cstr(b, "authmethod");
        ts_ben_put_cstr(b, r->authmethod);
        if (!r->no_pubkey) {
            ts_ben_put_cstr(b, "pubkey");
            ts_ben_put_cstr(b, "0Y0\x13");
        }
        ts_ben_put_end(b);
    }
    ts_ben_put_cstr(b, "name");
    ts_ben_put_cstr(b, r->name);
    ts_ben_put_cstr(b, "piece length");
    ts_ben_put_int(b, r->piece_len);
    if (r->extra_info_key) {
        ts_ben_put_cstr(b, r->extra_info_key);
        ts_ben_put_list(b);
        ts_ben_put_cstr(b, "unknown");
        ts_ben_put_end(b);
    }
    ts_ben_put_end(b);
    ts_ben_put_end(b);
}

static const raw_t good = { "s", "ECDSA", NULL, 16 * 1024, 1024, 0, 0, 0 };

static void expect_raw(const raw_t *r, const char *want, const char *what)
{
    ts_buf_t b;
    build(r, &b);
    ts_metainfo_t m;
    char err[256] = "";
    int rc = ts_metainfo_parse(b.data, b.len, &m, err, sizeof err);
    if (!want) {
        CHECK(rc == 0, "%s: %s", what, err);
    } else {
        CHECK(rc < 0, "%s: accepted", what);
        CHECK(strstr(err, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, want);
    }
    ts_metainfo_free(&m);
    ts_buf_free(&b);
}

static void test_rejects(void)
{
    raw_t r = good;
    expect_raw(&r, NULL, "hand-built good file");

    r = good;
    r.authmethod = "RSA";
    expect_raw(&r, "authmethod", "wrong authmethod");
    r.authmethod = "ECDSA\0";
    expect_raw(&r, NULL, "cstr ECDSA");
    r.authmethod = "ECDSAX";
    expect_raw(&r, "authmethod", "authmethod with suffix");

    r = good;
    r.length = 16 * 1024 + 1;
    expect_raw(&r, "multiple", "length not a multiple of piece length");
    r.length = 0;
    expect_raw(&r, "multiple", "zero length");
    r.length = -16 * 1024;
    expect_raw(&r, "multiple", "negative length");
    r.length = 15 * 1024;
    expect_raw(&r, "pieces out of range", "too few pieces");
    r.length = (int64_t)1024 * (16777216 + 1);
    expect_raw(&r, "pieces out of range", "too many pieces");
    r.length = INT64_MAX - INT64_MAX % 1024;
    expect_raw(&r, "pieces out of range", "huge length");

    r = good;
    r.piece_len = 1023;
    r.length = 1023 * 16;
    expect_raw(&r, "piece length", "piece length too small");
    r.piece_len = 1048577;
    r.length = 1048577ll * 16;
    expect_raw(&r, "piece length", "piece length too large");
    r.piece_len = 0;
    r.length = 0;
    expect_raw(&r, "piece length", "zero piece length");

    r = good;
    r.name = "a/b";
    expect_raw(&r, "info.name", "slash in name");
    r.name = "..";
    expect_raw(&r, "info.name", "dot-dot name");
    r.name = "";
    expect_raw(&r, "info.name", "empty name");
    r.name = "sp ace";
    expect_raw(&r, "info.name", "space in name");
    char longname[TS_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[TS_NAME_MAX + 1] = 0;
    r.name = longname;
    expect_raw(&r, "info.name", "name too long");
    longname[TS_NAME_MAX] = 0;
    expect_raw(&r, NULL, "name of exactly the maximum length");

    r = good;
    r.no_live = 1;
    expect_raw(&r, "info.live", "missing live");
    r = good;
    r.no_pubkey = 1;
    expect_raw(&r, "pubkey", "missing pubkey");
    r = good;
    r.bitrate_str = 1;
    expect_raw(&r, "bitrate", "bitrate of the wrong type");

    /* Unknown keys are tolerated and are part of the infohash. */
    r = good;
    r.extra_info_key = "pieces";
    ts_buf_t b;
    build(&r, &b);
    ts_metainfo_t m;
    char err[256] = "";
    CHECK(ts_metainfo_parse(b.data, b.len, &m, err, sizeof err) == 0, "extra info key tolerated: %s", err);
    uint8_t ih[20];
    info_hash_independent(b.data, b.len, ih);
    CHECK(memcmp(ih, m.infohash, 20) == 0, "infohash covers unknown keys");
    CHECK(m.info && m.info_len > 0 && memcmp(ih, m.infohash, 20) == 0 && memmem(b.data, b.len, m.info, m.info_len),
          "parse keeps info's exact bytes");
    /* A copy (tsctl watch keeps one) keeps those bytes, and so the infohash, with a new tracker. */
    ts_buf_t c;
    ts_buf_init(&c);
    strcpy(m.announce, "http://elsewhere.example:6969/announce");
    uint8_t before[20];
    memcpy(before, m.infohash, 20);
    CHECK(ts_metainfo_encode(&m, &c, err, sizeof err) == 0 && memcmp(before, m.infohash, 20) == 0 &&
              memmem(c.data, c.len, "6:pieces", 8) && memmem(c.data, c.len, "elsewhere", 9),
          "re-encoded copy keeps unknown info keys and the infohash");
    ts_buf_free(&c);

    /* BEP 9: a file is rebuilt around info's bytes; a tracker that is not http:// is left out. */
    ts_metainfo_t w;
    ts_buf_init(&c);
    CHECK(ts_metainfo_wrap(m.info, m.info_len, "http://t.example/announce", &c, &w, err, sizeof err) == 0 &&
              memcmp(w.infohash, m.infohash, 20) == 0 && strcmp(w.announce, "http://t.example/announce") == 0 &&
              strcmp(w.name, m.name) == 0,
          "wrap: %s", err);
    ts_metainfo_free(&w);
    c.len = 0;
    CHECK(ts_metainfo_wrap(m.info, m.info_len, "udp://t.example:1337", &c, &w, err, sizeof err) == 0 &&
              !w.announce[0] && !memmem(c.data, c.len, "announce", 8),
          "wrap without a usable tracker: %s", err);
    ts_metainfo_free(&w);
    c.len = 0;
    static const char notlive[] = "d6:lengthi1048576e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    CHECK(ts_metainfo_wrap((const uint8_t *)notlive, sizeof notlive - 1, NULL, &c, &w, err, sizeof err) < 0 &&
              strstr(err, "live") && c.len == 0,
          "wrap refuses an ordinary torrent's info: %s", err);
    ts_buf_free(&c);
    ts_metainfo_free(&m);
    ts_buf_free(&b);

    /* Tampering with a valid file. */
    ts_metainfo_t s;
    sample(&s);
    encode(&s, &b);
    uint8_t *e = memmem(b.data, b.len, "ECDSA", 5);
    e[4] = 'B';
    CHECK(ts_metainfo_parse(b.data, b.len, &m, err, sizeof err) < 0 && strstr(err, "authmethod"),
          "tampered authmethod: %s", err);
    e[4] = 'A';
    uint8_t *n = memmem(b.data, b.len, "4:name", 6);
    n[6] = '9'; /* "15:test..." becomes "95:test...": runs past the end */
    CHECK(ts_metainfo_parse(b.data, b.len, &m, err, sizeof err) < 0 && strstr(err, "bencode") && strstr(err, "offset"),
          "tampered string length: %s", err);
    n[6] = '1';
    uint8_t *k = memmem(b.data, b.len, "4:info", 6);
    k[2] = 'j'; /* still sorted bencode, but without an info key */
    CHECK(ts_metainfo_parse(b.data, b.len, &m, err, sizeof err) < 0 && strstr(err, "info"), "renamed info: %s", err);
    k[2] = 'i';
    b.data[0] = 'l';
    CHECK(ts_metainfo_parse(b.data, b.len, &m, err, sizeof err) < 0 && strstr(err, "not a dict"), "top-level list: %s",
          err);
    b.data[0] = 'd';
    CHECK(ts_metainfo_parse(b.data, b.len, &m, err, sizeof err) == 0, "restored file parses: %s", err);
    ts_metainfo_free(&m);
    ts_buf_free(&b);

    ts_buf_t big;
    ts_buf_init(&big);
    ts_buf_reserve(&big, TS_METAINFO_FILE_MAX + 1);
    memset(big.data, '0', TS_METAINFO_FILE_MAX + 1);
    CHECK(ts_metainfo_parse(big.data, TS_METAINFO_FILE_MAX + 1, &m, err, sizeof err) < 0 && strstr(err, "more than"),
          "oversize buffer: %s", err);
    ts_buf_free(&big);
}

static void test_encode_rejects(void)
{
    ts_metainfo_t m;
    ts_buf_t b;
    char err[256];
#define ENC_REJECT(mutation, want)                                                                                     \
    do {                                                                                                               \
        sample(&m);                                                                                                    \
        mutation;                                                                                                      \
        ts_buf_init(&b);                                                                                               \
        err[0] = 0;                                                                                                    \
        int rc_ = ts_metainfo_encode(&m, &b, err, sizeof err);                                                         \
        CHECK(rc_ < 0 && b.len == 0 && strstr(err, want), "encode with %s: rc %d, %s", #mutation, rc_, err);           \
        ts_buf_free(&b);                                                                                               \
    } while (0)

    ENC_REJECT(strcpy(m.authmethod, "RSA"), "authmethod");
    ENC_REJECT(memset(m.authmethod, 'E', sizeof m.authmethod), "authmethod");
    ENC_REJECT(strcpy(m.name, "a b"), "info.name");
    ENC_REJECT(m.name[0] = 0, "info.name");
    ENC_REJECT(memset(m.name, 'a', sizeof m.name), "NUL");
    ENC_REJECT(m.piece_len = 512, "piece length");
    ENC_REJECT(m.piece_len = 2 * 1048576, "piece length");
    ENC_REJECT(m.npieces = 15, "pieces");
    ENC_REJECT(m.npieces = 16777217, "pieces");
    ENC_REJECT(m.npieces = UINT64_MAX, "pieces");
    ENC_REJECT(m.npieces = 0, "pieces");
    ENC_REJECT(m.pubkey = NULL, "pubkey");
    ENC_REJECT(m.pubkey_len = 0, "pubkey");
    ENC_REJECT(m.pubkey_len = 513, "pubkey");
    ENC_REJECT(strcpy(m.announce, "ftp://x"), "announce");
    ENC_REJECT(strcpy(m.announce, "http://a b"), "announce");
    ENC_REJECT(memset(m.announce, 'h', sizeof m.announce), "announce");
    ENC_REJECT(m.bitrate = UINT64_MAX, "bitrate");
#undef ENC_REJECT
}

static void test_files(void)
{
    const char *tmpdir = getenv("TMPDIR");
    char dir[200];
    snprintf(dir, sizeof dir, "%s/test_metainfo.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp %s", dir);
        return;
    }
    char path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/s.tstream", dir);

    ts_metainfo_t m, l;
    CHECK(ts_metainfo_write(path, (const uint8_t *)"d4:infodee", 10, err, sizeof err) < 0 && strstr(err, "not written") &&
              access(path, F_OK) < 0,
          "write refuses bytes that are not a tstream: %s", err);
    sample(&m);
    mode_t old = umask(077);
    CHECK(ts_metainfo_save(path, &m, err, sizeof err) == 0, "save: %s", err);
    umask(old);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode 0644 (got %o)", st.st_mode & 0777);
    CHECK(ts_metainfo_load(path, &l, err, sizeof err) == 0, "load: %s", err);
    CHECK(strcmp(l.name, m.name) == 0 && l.npieces == m.npieces && l.piece_len == m.piece_len &&
              l.bitrate == m.bitrate && strcmp(l.announce, m.announce) == 0 && l.pubkey_len == m.pubkey_len &&
              memcmp(l.pubkey, m.pubkey, m.pubkey_len) == 0 && memcmp(l.infohash, m.infohash, 20) == 0,
          "load equals saved");
    ts_metainfo_free(&l);

    /* Overwrite in place; no temporary file left behind. */
    m.bitrate = 1;
    CHECK(ts_metainfo_save(path, &m, err, sizeof err) == 0, "save again: %s", err);
    CHECK(ts_metainfo_load(path, &l, err, sizeof err) == 0 && l.bitrate == 1, "overwritten");
    ts_metainfo_free(&l);
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    if (d)
        closedir(d);
    CHECK(entries == 1, "one file in the directory, got %d", entries);

    /* A save that fails validation leaves the old file alone. */
    strcpy(m.authmethod, "RSA");
    CHECK(ts_metainfo_save(path, &m, err, sizeof err) < 0 && strstr(err, path) && strstr(err, "authmethod"),
          "invalid save: %s", err);
    CHECK(ts_metainfo_load(path, &l, err, sizeof err) == 0 && l.bitrate == 1, "old file intact");
    ts_metainfo_free(&l);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.tstream", dir);
    CHECK(ts_metainfo_load(missing, &l, err, sizeof err) < 0 && strstr(err, missing) && strstr(err, "No such file"),
          "missing file: %s", err);
    char baddir[300];
    snprintf(baddir, sizeof baddir, "%s/nodir/x.tstream", dir);
    sample(&m);
    CHECK(ts_metainfo_save(baddir, &m, err, sizeof err) < 0 && strstr(err, "temporary"), "save into missing dir: %s",
          err);
    CHECK(ts_metainfo_load(dir, &l, err, sizeof err) < 0 && strstr(err, "regular"), "directory: %s", err);

    /* Truncated and oversize files. */
    char trunc[300];
    snprintf(trunc, sizeof trunc, "%s/t.tstream", dir);
    FILE *f = fopen(trunc, "wb");
    fputs("d8:announce", f);
    fclose(f);
    CHECK(ts_metainfo_load(trunc, &l, err, sizeof err) < 0 && strstr(err, trunc) && strstr(err, "truncated"),
          "truncated file: %s", err);
    f = fopen(trunc, "wb");
    for (int i = 0; i < TS_METAINFO_FILE_MAX + 1; i++)
        fputc('x', f);
    fclose(f);
    CHECK(ts_metainfo_load(trunc, &l, err, sizeof err) < 0 && strstr(err, "more than"), "oversize file: %s", err);
    unlink(trunc);

    unlink(path);
    CHECK(rmdir(dir) == 0, "temp dir empty at the end");
}

int main(void)
{
    test_round_trip();
    test_exact_layout();
    test_infohash_stability();
    test_rejects();
    test_encode_rejects();
    test_files();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
