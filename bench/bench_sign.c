/* Signing and verification throughput for full 16 KiB pieces: median of 3 runs of 2 s each.
 * ts_signkey_sign includes its verify-after-sign self-check; "raw sign" is plain EVP signing of the
 * same bytes, for comparison.
 *
 * Build: gcc -O2 -Ilib -Isigner bench/bench_sign.c signer/sign.c lib/ts_piece.c lib/ts_buf.c -lcrypto */
#ifndef _GNU_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#endif
#include "sign.h"
#include "ts_piece.h"
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PIECE_LEN 16384u
#define PAYLOAD_LEN (PIECE_LEN - TS_TRAILER_LEN)
#define RUN_SECONDS 2.0
#define RUNS 3

static const uint8_t IH[20] = { 0xb1, 0xe2 };
static ts_signkey_t *key;
static ts_verifier_t *ver;
static EVP_PKEY *raw_key;
static uint8_t *payload, *piece;
static ts_trailer_t tr;
static uint64_t seq;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int op_sign(void)
{
    ts_trailer_t t = { .version = 1, .flags = TS_PIECE_RAP, .payload_len = PAYLOAD_LEN, .seq = seq,
                       .timestamp_us = 1700000000000000ull };
    seq++;
    return ts_signkey_sign(key, IH, &t, payload);
}

static int op_verify(void)
{
    return ts_verifier_check(ver, piece, PIECE_LEN, PIECE_LEN, NULL);
}

/* The same signed bytes through one EVP_DigestSign call, no self-check, no conversion. */
static int op_raw_sign(void)
{
    static EVP_MD_CTX *c;
    static uint8_t *msg;
    if (!c) {
        c = EVP_MD_CTX_new();
        msg = malloc(16 + 20 + 24 + PAYLOAD_LEN);
        memcpy(msg, TS_PIECE_DOMAIN, 16);
        memcpy(msg + 16, IH, 20);
        memset(msg + 36, 0, 24);
        memcpy(msg + 60, payload, PAYLOAD_LEN);
    }
    uint8_t der[128];
    size_t dl = sizeof der;
    EVP_MD_CTX_reset(c);
    return EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, raw_key) == 1 &&
                   EVP_DigestSign(c, der, &dl, msg, 60 + PAYLOAD_LEN) == 1
               ? 0
               : -1;
}

static double rate(int (*op)(void))
{
    uint64_t n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 32; i++) {
            if (op() < 0) {
                fprintf(stderr, "bench: operation failed\n");
                exit(1);
            }
        }
        n += 32;
    } while ((t = now()) - t0 < RUN_SECONDS);
    return (double)n / (t - t0);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(int (*op)(void), double runs[RUNS])
{
    for (int i = 0; i < RUNS; i++)
        runs[i] = rate(op);
    double s[RUNS];
    memcpy(s, runs, sizeof s);
    qsort(s, RUNS, sizeof s[0], cmp);
    return s[RUNS / 2];
}

static void report(const char *name, int (*op)(void))
{
    double runs[RUNS];
    double m = median(op, runs);
    printf("%-12s %9.0f /s  %7.1f MB/s  (runs:", name, m, m * PIECE_LEN / 1e6);
    for (int i = 0; i < RUNS; i++)
        printf(" %.0f", runs[i]);
    printf(")\n");
}

int main(void)
{
    char dir[] = "/tmp/ts_bench_sign.XXXXXX", path[64], err[256];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/key.pem", dir);
    key = ts_signkey_load(path, 1, err, sizeof err);
    unlink(path);
    rmdir(dir);
    if (!key) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    uint8_t *der;
    size_t len;
    if (ts_signkey_pubkey_der(key, &der, &len) < 0 || !(ver = ts_verifier_new(der, len, IH, err, sizeof err))) {
        fprintf(stderr, "bench: verifier: %s\n", err);
        return 1;
    }
    free(der);
    raw_key = EVP_EC_gen("P-256");
    payload = malloc(PAYLOAD_LEN);
    piece = malloc(PIECE_LEN);
    RAND_bytes(payload, PAYLOAD_LEN);
    tr = (ts_trailer_t){ .version = 1, .payload_len = PAYLOAD_LEN, .seq = 42, .timestamp_us = 1 };
    if (!raw_key || ts_signkey_sign(key, IH, &tr, payload) < 0)
        return 1;
    memcpy(piece, payload, PAYLOAD_LEN);
    ts_trailer_encode(&tr, piece + PAYLOAD_LEN);

    printf("16 KiB pieces, ECDSA P-256 / SHA-256, %s; median of %d x %.0f s, one thread\n",
           OpenSSL_version(OPENSSL_VERSION), RUNS, RUN_SECONDS);
    report("sign", op_sign);
    report("verify", op_verify);
    report("raw sign", op_raw_sign);

    EVP_PKEY_free(raw_key);
    ts_verifier_destroy(&ver);
    ts_signkey_destroy(&key);
    free(payload);
    free(piece);
    return 0;
}
