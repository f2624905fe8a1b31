/* Pieces: trailer layout, signing and verification, every way a piece or key must be refused,
 * and the signer's key file handling. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "check.h"
#include "sign.h"
#include "ts_buf.h"
#include "ts_piece.h"
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>



#define PIECE_LEN 16384u
#define PAYLOAD_LEN (PIECE_LEN - TS_TRAILER_LEN)

static char dir[64];
static const uint8_t IH[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -1;
    int ok = write(fd, data, len) == (ssize_t)len;
    close(fd);
    chmod(path, mode);
    return ok ? 0 : -1;
}

/* A wire piece: payload || trailer, signed by k. Returns its length. */
static size_t make_piece(ts_signkey_t *k, const uint8_t ih[20], uint8_t *out, const uint8_t *payload, uint32_t plen,
                         uint64_t seq, ts_trailer_t *t)
{
    memset(t, 0, sizeof *t);
    t->version = TS_PIECE_VERSION;
    t->flags = TS_PIECE_RAP;
    t->payload_len = plen;
    t->seq = seq;
    t->timestamp_us = 1700000000123456ull;
    if (ts_signkey_sign(k, ih, t, payload) < 0)
        return 0;
    memcpy(out, payload, plen);
    ts_trailer_encode(t, out + plen);
    return plen + TS_TRAILER_LEN;
}

/* DER SubjectPublicKeyInfo of a fresh key of another kind. */
static uint8_t *other_pubkey(const char *alg, const char *param, size_t *len)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, alg, param);
    if (!pk)
        return NULL;
    int n = i2d_PUBKEY(pk, NULL);
    uint8_t *der = malloc((size_t)n), *p = der;
    i2d_PUBKEY(pk, &p);
    *len = (size_t)n;
    EVP_PKEY_free(pk);
    return der;
}

/* Same, as an unencrypted (or with cipher, encrypted) PKCS#8 PEM private key file. */
static int other_keyfile(const char *path, EVP_PKEY *pk, const EVP_CIPHER *cipher)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    int ok = PEM_write_bio_PKCS8PrivateKey(b, pk, cipher, NULL, 0, NULL, cipher ? "secret" : NULL);
    long n = BIO_get_mem_data(b, &data);
    int rc = ok && n > 0 ? write_file(path, data, (size_t)n, 0600) : -1;
    BIO_free(b);
    return rc;
}

/* Check a signature independently of ts_piece.c: one flat buffer of the signed bytes. */
static int flat_verify(const uint8_t *pub, size_t publen, const uint8_t ih[20], const uint8_t *piece, size_t len)
{
    const unsigned char *p = pub;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)publen);
    size_t plen = len - TS_TRAILER_LEN;
    uint8_t *msg = malloc(16 + 20 + 24 + plen), der[TS_SIG_DER_MAX];
    memcpy(msg, "tstream-piece-v1", 16);
    memcpy(msg + 16, ih, 20);
    memcpy(msg + 36, piece + plen, 24);
    memcpy(msg + 60, piece, plen);
    int dl = ts_piece_sig_to_der(piece + plen + 24, der, sizeof der);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = pk && dl > 0 && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, pk) == 1 &&
             EVP_DigestVerify(c, der, (size_t)dl, msg, 60 + plen) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(pk);
    free(msg);
    return ok;
}

static void test_trailer_layout(void)
{
    ts_trailer_t t = { .version = TS_PIECE_VERSION, .flags = 3, .payload_len = 0x01020304, .seq = 0x1112131415161718ull,
                       .timestamp_us = 0x2122232425262728ull };
    for (int i = 0; i < TS_SIG_LEN; i++)
        t.sig[i] = (uint8_t)(0x80 + i);
    uint8_t b[TS_TRAILER_LEN];
    memset(b, 0xee, sizeof b);
    ts_trailer_encode(&t, b);
    static const uint8_t head[24] = { 1, 3, 0, 0, 1, 2, 3, 4, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                      0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28 };
    CHECK(memcmp(b, head, 24) == 0, "trailer bytes 0..23 are big-endian at the documented offsets");
    CHECK(memcmp(b + 24, t.sig, 64) == 0, "signature at offset 24");

    /* Round trip through a real piece of the smallest and largest sizes. */
    uint8_t *piece = calloc(1, PIECE_LEN);
    ts_trailer_t r;
    t.payload_len = 1;
    ts_trailer_encode(&t, piece + 1);
    CHECK(ts_piece_parse(piece, 1 + TS_TRAILER_LEN, PIECE_LEN, &r) == 0 && r.payload_len == 1 &&
              r.seq == t.seq && r.timestamp_us == t.timestamp_us && r.flags == 3 && r.version == TS_PIECE_VERSION &&
              memcmp(r.sig, t.sig, 64) == 0,
          "1-byte payload parses back");
    t.payload_len = PAYLOAD_LEN;
    ts_trailer_encode(&t, piece + PAYLOAD_LEN);
    CHECK(ts_piece_parse(piece, PIECE_LEN, PIECE_LEN, &r) == 0 && r.payload_len == PAYLOAD_LEN,
          "full-size piece parses");
    CHECK(ts_piece_parse(piece, PIECE_LEN, PIECE_LEN - 1, &r) < 0, "longer than piece_len refused");
    t.payload_len = 0;
    ts_trailer_encode(&t, piece);
    CHECK(ts_piece_parse(piece, TS_TRAILER_LEN, PIECE_LEN, &r) < 0, "empty payload refused");
    CHECK(ts_piece_parse(piece, TS_TRAILER_LEN - 1, PIECE_LEN, &r) < 0, "shorter than a trailer refused");
    CHECK(ts_piece_parse(NULL, 0, PIECE_LEN, &r) < 0, "NULL refused");
    /* payload_len near 2^32 must not wrap when 88 is added. */
    t.payload_len = UINT32_MAX - 40;
    ts_trailer_encode(&t, piece + 7);
    CHECK(ts_piece_parse(piece, 7 + TS_TRAILER_LEN, PIECE_LEN, &r) < 0, "huge payload_len refused");
    free(piece);
}

static void test_sig_der(void)
{
    uint8_t sig[64], back[64], der[TS_SIG_DER_MAX];
    /* High bits set: both INTEGERs need a leading 0x00, the longest encoding. */
    memset(sig, 0xff, 64);
    int n = ts_piece_sig_to_der(sig, der, sizeof der);
    CHECK(n == 72 && ts_piece_sig_from_der(der, (size_t)n, back) == 0 && memcmp(sig, back, 64) == 0,
          "72-byte DER round trip");
    CHECK(ts_piece_sig_to_der(sig, der, 71) < 0, "too small a buffer refused");
    /* Small values are left-padded. */
    memset(sig, 0, 64);
    sig[31] = 5;
    sig[63] = 7;
    n = ts_piece_sig_to_der(sig, der, sizeof der);
    CHECK(n > 0 && ts_piece_sig_from_der(der, (size_t)n, back) == 0 && memcmp(sig, back, 64) == 0,
          "short integers left-padded");
    CHECK(ts_piece_sig_from_der(der, (size_t)n - 1, back) < 0, "truncated DER refused");
    uint8_t extra[TS_SIG_DER_MAX + 1];
    memcpy(extra, der, (size_t)n);
    extra[n] = 0;
    CHECK(ts_piece_sig_from_der(extra, (size_t)n + 1, back) < 0, "trailing byte refused");
    /* r of 33 significant bytes does not fit r || s. */
    static const uint8_t big[] = { 0x30, 0x26, 0x02, 0x21, 0x01, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1,    1,    1,    1,    1,    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x02, 0x01, 0x01 };
    CHECK(ts_piece_sig_from_der(big, sizeof big, back) < 0, "r >= 2^256 refused");
    static const uint8_t neg[] = { 0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01 };
    CHECK(ts_piece_sig_from_der(neg, sizeof neg, back) < 0, "negative r refused");
}

static void test_keyfile(void)
{
    char path[128], path2[128], p[128];
    char err[256] = "";
    path_in(path, sizeof path, "key.pem");
    CHECK(ts_signkey_load(path, 0, err, sizeof err) == NULL && err[0], "missing key without create refused: %s",
          err);
    ts_signkey_t *k = ts_signkey_load(path, 1, err, sizeof err);
    CHECK(k != NULL, "create key: %s", err);
    if (!k)
        return;
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "key file mode 0600 (got %o)",
          (unsigned)(st.st_mode & 07777));
    char head[64] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(head, sizeof head, f))
            head[0] = 0;
        fclose(f);
    }
    CHECK(strcmp(head, "-----BEGIN PRIVATE KEY-----\n") == 0, "unencrypted PKCS#8 PEM (got %s)", head);

    uint8_t *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(ts_signkey_pubkey_der(k, &d1, &l1) == 0 && l1 == 91, "P-256 SubjectPublicKeyInfo is 91 bytes");
    ts_signkey_t *k2 = ts_signkey_load(path, 1, err, sizeof err);
    CHECK(k2 && ts_signkey_pubkey_der(k2, &d2, &l2) == 0 && l1 == l2 && memcmp(d1, d2, l1) == 0,
          "reload (create=1 on an existing file) gives the same public key: %s", err);
    ts_signkey_destroy(&k2);
    CHECK(k2 == NULL, "destroy nulls the pointer");
    ts_signkey_destroy(&k2); /* twice is harmless */
    free(d2);

    chmod(path, 0644);
    err[0] = 0;
    CHECK(ts_signkey_load(path, 0, err, sizeof err) == NULL && strstr(err, "mode"), "mode 0644 refused: %s", err);
    chmod(path, 0640);
    CHECK(ts_signkey_load(path, 0, err, sizeof err) == NULL, "mode 0640 refused");
    chmod(path, 0601);
    CHECK(ts_signkey_load(path, 1, err, sizeof err) == NULL, "mode 0601 refused (create does not overwrite)");
    chmod(path, 0400);
    k2 = ts_signkey_load(path, 0, err, sizeof err);
    CHECK(k2 != NULL, "mode 0400 accepted: %s", err);
    ts_signkey_destroy(&k2);
    chmod(path, 0600);

    /* A symlink to the key is followed (deployments mount secrets that way). */
    path_in(p, sizeof p, "link.pem");
    CHECK(symlink("key.pem", p) == 0, "symlink");
    k2 = ts_signkey_load(p, 0, err, sizeof err);
    CHECK(k2 && ts_signkey_pubkey_der(k2, &d2, &l2) == 0 && l2 == l1 && memcmp(d1, d2, l1) == 0,
          "symlinked key loads: %s", err);
    free(d2);
    ts_signkey_destroy(&k2);
    path_in(p, sizeof p, "dangling.pem");
    CHECK(symlink("nowhere.pem", p) == 0, "symlink");
    CHECK(ts_signkey_load(p, 1, err, sizeof err) == NULL, "dangling symlink refused, not written through: %s",
          err);
    path_in(path2, sizeof path2, "nowhere.pem");
    CHECK(access(path2, F_OK) != 0, "nothing created behind a dangling symlink");

    /* Not regular files. */
    path_in(p, sizeof p, "adir");
    mkdir(p, 0700);
    CHECK(ts_signkey_load(p, 1, err, sizeof err) == NULL && strstr(err, "regular"), "directory refused: %s", err);
    path_in(p, sizeof p, "fifo");
    mkfifo(p, 0600);
    CHECK(ts_signkey_load(p, 0, err, sizeof err) == NULL && strstr(err, "regular"),
          "FIFO refused (without blocking): %s", err);

    /* Contents. */
    path_in(p, sizeof p, "garbage.pem");
    write_file(p, "not a key\n", 10, 0600);
    CHECK(ts_signkey_load(p, 0, err, sizeof err) == NULL, "garbage refused: %s", err);
    path_in(p, sizeof p, "empty.pem");
    write_file(p, "", 0, 0600);
    CHECK(ts_signkey_load(p, 1, err, sizeof err) == NULL, "empty file refused (not regenerated): %s", err);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    path_in(p, sizeof p, "p384.pem");
    other_keyfile(p, p384, NULL);
    CHECK(ts_signkey_load(p, 0, err, sizeof err) == NULL && strstr(err, "P-256"), "P-384 key refused: %s", err);
    path_in(p, sizeof p, "ed.pem");
    other_keyfile(p, ed, NULL);
    CHECK(ts_signkey_load(p, 0, err, sizeof err) == NULL && strstr(err, "P-256"), "Ed25519 key refused: %s", err);
    path_in(p, sizeof p, "enc.pem");
    other_keyfile(p, p256, EVP_aes_128_cbc());
    CHECK(ts_signkey_load(p, 0, err, sizeof err) == NULL && strstr(err, "encrypted"),
          "encrypted key refused without prompting: %s", err);
    path_in(p, sizeof p, "other256.pem");
    other_keyfile(p, p256, NULL);
    k2 = ts_signkey_load(p, 0, err, sizeof err);
    CHECK(k2 != NULL, "a P-256 key written by another tool loads: %s", err);
    ts_signkey_destroy(&k2);
    /* A key pair whose public half is someone else's: its signatures never verify. SEC1 DER ends with
     * the public point (65 bytes), so swap in another key's. */
    EVP_PKEY *q256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_PrivateKey(p256, &da), lb = i2d_PrivateKey(q256, &db);
    CHECK(la > 65 && la == lb, "SEC1 encodings");
    if (la > 65 && la == lb) {
        memcpy(da + la - 65, db + lb - 65, 65);
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        PEM_write_bio(bio, "EC PRIVATE KEY", "", da, la);
        long n = BIO_get_mem_data(bio, &data);
        path_in(p, sizeof p, "mismatch.pem");
        write_file(p, data, (size_t)n, 0600);
        BIO_free(bio);
        k2 = ts_signkey_load(p, 0, err, sizeof err);
        CHECK(k2 == NULL && strstr(err, "signature"), "mismatched key pair refused at load: %s", err);
        ts_signkey_destroy(&k2);
    }
    OPENSSL_free(da);
    OPENSSL_free(db);
    EVP_PKEY_free(q256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(p256);

    /* A key file in a directory we cannot create in. */
    CHECK(ts_signkey_load("/nonexistent-dir/key.pem", 1, err, sizeof err) == NULL && err[0],
          "uncreatable path refused: %s", err);
    CHECK(ts_signkey_load("", 1, err, sizeof err) == NULL, "empty path refused");
    free(d1);
    ts_signkey_destroy(&k);
}

static void test_sign_verify(void)
{
    char path[128], err[256] = "";
    path_in(path, sizeof path, "key.pem");
    ts_signkey_t *k = ts_signkey_load(path, 0, err, sizeof err);
    path_in(path, sizeof path, "key2.pem");
    ts_signkey_t *k2 = ts_signkey_load(path, 1, err, sizeof err);
    CHECK(k && k2, "keys: %s", err);
    if (!k || !k2)
        return;
    uint8_t *pub, *pub2;
    size_t publen, publen2;
    ts_signkey_pubkey_der(k, &pub, &publen);
    ts_signkey_pubkey_der(k2, &pub2, &publen2);
    CHECK(publen != publen2 || memcmp(pub, pub2, publen) != 0, "two generated keys differ");

    ts_verifier_t *v = ts_verifier_new(pub, publen, IH, err, sizeof err);
    CHECK(v != NULL, "verifier: %s", err);
    if (!v)
        return;

    uint8_t *payload = malloc(PAYLOAD_LEN), *piece = malloc(PIECE_LEN), *bad = malloc(PIECE_LEN);
    RAND_bytes(payload, PAYLOAD_LEN);
    ts_trailer_t t, r;
    size_t len = make_piece(k, IH, piece, payload, PAYLOAD_LEN, 123456789012345ull, &t);
    CHECK(len == PIECE_LEN, "sign");
    memset(&r, 0, sizeof r);
    CHECK(ts_verifier_check(v, piece, len, PIECE_LEN, &r) == 0, "valid piece accepted");
    CHECK(r.seq == t.seq && r.timestamp_us == t.timestamp_us && r.flags == TS_PIECE_RAP &&
              r.payload_len == PAYLOAD_LEN && memcmp(r.sig, t.sig, 64) == 0,
          "trailer filled");
    CHECK(ts_verifier_check(v, piece, len, PIECE_LEN, NULL) == 0, "t may be NULL");
    CHECK(ts_verifier_check_parts(v, &t, payload) == 0, "check_parts accepts");
    CHECK(flat_verify(pub, publen, IH, piece, len), "signature checks over the documented byte string");

    /* Every signed field matters. */
#define MUTATE(what, stmt)                                                                                             \
    do {                                                                                                               \
        memcpy(bad, piece, len);                                                                                       \
        uint8_t *tr = bad + len - TS_TRAILER_LEN;                                                                      \
        (void)tr;                                                                                                      \
        stmt;                                                                                                          \
        CHECK(ts_verifier_check(v, bad, len, PIECE_LEN, &r) < 0, "rejected: %s", what);                                \
    } while (0)
    MUTATE("flipped payload bit (first byte)", bad[0] ^= 0x01);
    MUTATE("flipped payload bit (last byte)", bad[PAYLOAD_LEN - 1] ^= 0x80);
    MUTATE("changed seq", tr[15] ^= 1);
    MUTATE("changed seq (high byte)", tr[8] ^= 0x80);
    MUTATE("changed timestamp", tr[23] ^= 1);
    MUTATE("changed flags (RAP cleared)", tr[1] = 0);
    MUTATE("changed flags (DISCONT set)", tr[1] |= TS_PIECE_DISCONT);
    MUTATE("unknown flag bit", tr[1] |= 0x04);
    MUTATE("version 2", tr[0] = 2);
    MUTATE("version 0", tr[0] = 0);
    MUTATE("reserved byte 2 non-zero", tr[2] = 1);
    MUTATE("reserved byte 3 non-zero", tr[3] = 0x80);
    MUTATE("payload_len field changed", tr[7] ^= 1);
    MUTATE("signature zeroed", memset(tr + 24, 0, 64));
    MUTATE("signature r zeroed", memset(tr + 24, 0, 32));
    MUTATE("signature all ones (r, s >= n)", memset(tr + 24, 0xff, 64));
    MUTATE("signature s flipped", tr[87] ^= 1);
    MUTATE("signature r flipped", tr[24] ^= 0x40);
    MUTATE("r and s swapped", {
        uint8_t tmp[32];
        memcpy(tmp, tr + 24, 32);
        memmove(tr + 24, tr + 56, 32);
        memcpy(tr + 56, tmp, 32);
    });
    /* s -> n - s is the other valid-looking ECDSA signature; OpenSSL accepts it, and so do we: pieces are
     * never identified by signature bytes (PROTOCOL.md 2), so malleability is harmless here. */

    /* payload_len consistent with a shortened piece: parses, but the signature no longer matches. */
    memcpy(bad, piece + 1, PAYLOAD_LEN - 1);
    ts_trailer_t s = t;
    s.payload_len = PAYLOAD_LEN - 1;
    ts_trailer_encode(&s, bad + PAYLOAD_LEN - 1);
    CHECK(ts_piece_parse(bad, len - 1, PIECE_LEN, &r) == 0, "shortened piece parses");
    CHECK(ts_verifier_check(v, bad, len - 1, PIECE_LEN, &r) < 0, "rejected: payload_len changed");
    CHECK(ts_verifier_check(v, piece, len - 1, PIECE_LEN, &r) < 0, "rejected: truncated piece");
    CHECK(ts_verifier_check(v, piece + 1, len - 1, PIECE_LEN, &r) < 0, "rejected: first byte dropped");
    CHECK(ts_verifier_check(v, piece, len, PIECE_LEN - 1, &r) < 0, "rejected: longer than piece_len");
    CHECK(ts_verifier_check(v, piece, 0, PIECE_LEN, &r) < 0, "rejected: empty");

    /* Wrong context. */
    uint8_t ih2[20];
    memcpy(ih2, IH, 20);
    ih2[19] ^= 1;
    ts_verifier_t *v_ih = ts_verifier_new(pub, publen, ih2, err, sizeof err);
    CHECK(v_ih && ts_verifier_check(v_ih, piece, len, PIECE_LEN, &r) < 0, "rejected: wrong infohash");
    ts_verifier_t *v_k2 = ts_verifier_new(pub2, publen2, IH, err, sizeof err);
    CHECK(v_k2 && ts_verifier_check(v_k2, piece, len, PIECE_LEN, &r) < 0, "rejected: wrong key");
    size_t len2 = make_piece(k2, IH, bad, payload, PAYLOAD_LEN, t.seq, &s);
    CHECK(len2 == len && ts_verifier_check(v, bad, len2, PIECE_LEN, &r) < 0, "rejected: signed by another key");
    CHECK(ts_verifier_check(v_k2, bad, len2, PIECE_LEN, &r) == 0, "accepted by the other key's verifier");
    len2 = make_piece(k, ih2, bad, payload, PAYLOAD_LEN, t.seq, &s);
    CHECK(ts_verifier_check(v, bad, len2, PIECE_LEN, &r) < 0 && ts_verifier_check(v_ih, bad, len2, PIECE_LEN, &r) == 0,
          "piece signed for another stream only verifies there");
    ts_verifier_destroy(&v_ih);
    ts_verifier_destroy(&v_k2);
    CHECK(v_ih == NULL, "verifier destroy nulls the pointer");

    /* Randomised signatures: both valid, different bytes. */
    size_t la = make_piece(k, IH, piece, payload, PAYLOAD_LEN, 7, &t);
    size_t lb = make_piece(k, IH, bad, payload, PAYLOAD_LEN, 7, &s);
    CHECK(la == lb && memcmp(t.sig, s.sig, 64) != 0, "two signatures of the same data differ");
    CHECK(ts_verifier_check(v, piece, la, PIECE_LEN, &r) == 0 && ts_verifier_check(v, bad, lb, PIECE_LEN, &r) == 0,
          "both verify");
    CHECK(memcmp(piece, bad, la - TS_SIG_LEN) == 0, "and differ only in the signature");

    /* The smallest piece; all flag combinations; seq and timestamp extremes. */
    for (unsigned fl = 0; fl < 4; fl++) {
        ts_trailer_t u = { .version = TS_PIECE_VERSION, .flags = (uint8_t)fl, .payload_len = 1, .seq = UINT64_MAX - fl,
                           .timestamp_us = UINT64_MAX };
        CHECK(ts_signkey_sign(k, IH, &u, payload) == 0, "sign 1-byte piece");
        memcpy(piece, payload, 1);
        ts_trailer_encode(&u, piece + 1);
        CHECK(ts_verifier_check(v, piece, 1 + TS_TRAILER_LEN, 1024, &r) == 0 && r.flags == fl &&
                  r.seq == UINT64_MAX - fl,
              "1-byte piece with flags %u verifies", fl);
    }
    CHECK(ts_signkey_sign(k, IH, &t, NULL) < 0, "sign with NULL payload refused");
    ts_trailer_t inv = t;
    inv.version = 2;
    CHECK(ts_signkey_sign(k, IH, &inv, payload) < 0, "sign version 2 refused");
    inv = t;
    inv.flags = 0x80;
    CHECK(ts_signkey_sign(k, IH, &inv, payload) < 0, "sign unknown flag refused");
    inv = t;
    inv.payload_len = 0;
    CHECK(ts_signkey_sign(k, IH, &inv, payload) < 0, "sign empty payload refused");
    CHECK(ts_verifier_check_parts(v, &t, NULL) < 0, "check_parts with NULL payload refused");
    CHECK(ts_verifier_check(NULL, piece, la, PIECE_LEN, &r) < 0, "NULL verifier refused");

    ts_verifier_destroy(&v);
    free(pub);
    free(pub2);
    free(payload);
    free(piece);
    free(bad);
    ts_signkey_destroy(&k);
    ts_signkey_destroy(&k2);
}

static void test_verifier_keys(void)
{
    char err[256];
    size_t len;
    uint8_t *der;
    static const uint8_t garbage[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
    err[0] = 0;
    CHECK(ts_verifier_new(garbage, sizeof garbage, IH, err, sizeof err) == NULL && err[0],
          "DER garbage refused: %s", err);
    CHECK(ts_verifier_new((const uint8_t *)"hello", 5, IH, err, sizeof err) == NULL, "non-DER refused");
    CHECK(ts_verifier_new(garbage, 0, IH, err, sizeof err) == NULL, "empty key refused");
    CHECK(ts_verifier_new(NULL, 5, IH, err, sizeof err) == NULL, "NULL key refused");

    der = other_pubkey("EC", "P-384", &len);
    err[0] = 0;
    CHECK(der && ts_verifier_new(der, len, IH, err, sizeof err) == NULL && strstr(err, "secp384r1"),
          "P-384 refused: %s", err);
    free(der);
    der = other_pubkey("ED25519", NULL, &len);
    CHECK(der && ts_verifier_new(der, len, IH, err, sizeof err) == NULL && strstr(err, "ED25519"),
          "Ed25519 refused: %s", err);
    free(der);
    der = other_pubkey("EC", "secp256k1", &len);
    CHECK(der && ts_verifier_new(der, len, IH, err, sizeof err) == NULL, "secp256k1 (same size) refused: %s", err);
    free(der);

    der = other_pubkey("EC", "P-256", &len);
    ts_verifier_t *v = ts_verifier_new(der, len, IH, err, sizeof err);
    CHECK(v != NULL, "P-256 accepted: %s", err);
    ts_verifier_destroy(&v);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    CHECK(ts_verifier_new(longer, len + 1, IH, err, sizeof err) == NULL, "trailing byte after the key refused");
    CHECK(ts_verifier_new(der, len - 1, IH, err, sizeof err) == NULL, "truncated key refused");
    /* Point not on the curve: flip a bit of the public point's y. */
    memcpy(longer, der, len);
    longer[len - 1] ^= 1;
    CHECK(ts_verifier_new(longer, len, IH, err, sizeof err) == NULL, "point off the curve refused");
    free(longer);
    free(der);
}

int main(void)
{
    umask(022); /* the key file must be 0600 by itself, not thanks to a strict umask */
    strcpy(dir, "/tmp/ts_test_piece.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_trailer_layout();
    test_sig_der();
    test_verifier_keys();
    test_keyfile();
    test_sign_verify();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
