/* libFuzzer target for wire pieces: ts_piece_parse and ts_verifier_check on arbitrary bytes.
 * Invariants: a trailer that parses encodes back to the same 88 bytes; a piece that verifies must
 * parse; no input verifies against a key generated here (forgery would be a bug, not luck); a piece
 * that parses is stored by an empty window and read back byte for byte.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_piece.c lib/ts_piece.c
 *        lib/ts_window.c lib/ts_buf.c -lcrypto -o fuzz_piece && ./fuzz_piece tests/fuzz/corpus/piece */
#include "ts_piece.h"
#include "ts_window.h"
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_PIECE_LEN 16384u

static ts_verifier_t *verifier;
static ts_window_t *window;

/* Once: a fresh P-256 key; nothing the fuzzer feeds can carry a valid signature under it. */
static void setup(void)
{
    static const uint8_t ih[20] = { 0x74, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d };
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    int n = pk ? i2d_PUBKEY(pk, NULL) : -1;
    uint8_t *der = n > 0 ? malloc((size_t)n) : NULL, *p = der;
    if (!der || i2d_PUBKEY(pk, &p) != n)
        abort();
    char err[256];
    verifier = ts_verifier_new(der, (size_t)n, ih, err, sizeof err);
    window = ts_window_new(16, FUZZ_PIECE_LEN);
    if (!verifier || !window)
        abort();
    free(der);
    EVP_PKEY_free(pk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!verifier)
        setup();
    ts_trailer_t t, t2;
    int parsed = ts_piece_parse(data, size, FUZZ_PIECE_LEN, &t) == 0;
    /* Without the length cap: only the cap may make the difference. */
    int parsed_nocap = ts_piece_parse(data, size, UINT32_MAX, &t2) == 0;
    if (parsed && !parsed_nocap)
        abort();
    if (parsed_nocap != parsed && size <= FUZZ_PIECE_LEN)
        abort();
    if (parsed) {
        uint8_t enc[TS_TRAILER_LEN];
        ts_trailer_encode(&t, enc);
        if (memcmp(enc, data + size - TS_TRAILER_LEN, TS_TRAILER_LEN) != 0 ||
            (uint64_t)t.payload_len + TS_TRAILER_LEN != size)
            abort();
    }
    if (ts_verifier_check(verifier, data, size, FUZZ_PIECE_LEN, &t2) == 0)
        abort(); /* parse failure or a forged signature */

    /* The signature field as DER, both directions. */
    uint8_t sig[TS_SIG_LEN], sig2[TS_SIG_LEN], der[TS_SIG_DER_MAX];
    if (ts_piece_sig_from_der(data, size, sig) == 0) {
        int n = ts_piece_sig_to_der(sig, der, sizeof der);
        if (n < 0 || ts_piece_sig_from_der(der, (size_t)n, sig2) < 0 || memcmp(sig, sig2, TS_SIG_LEN) != 0)
            abort();
    }

    if (parsed) {
        ts_window_reset(window);
        uint64_t n = ts_window_npieces(window);
        if (ts_window_put(window, data, size, &t, t.seq % n) != TS_WIN_OK)
            abort();
        size_t len = 0;
        const uint8_t *got = ts_window_get(window, t.seq, &len, &t2);
        if (!got || len != size || memcmp(got, data, size) != 0 || t2.seq != t.seq)
            abort();
        if (ts_window_put(window, data, size, &t, t.seq % n) != TS_WIN_DUP)
            abort();
        /* The same bytes a step further on: OK, FAR or INDEX depending on the index, never a crash. */
        int rc = ts_window_check(window, t.seq + n / 2, (t.seq + n / 2) % n);
        if (t.seq <= UINT64_MAX - n / 2 && rc != TS_WIN_FAR)
            abort();
    }
    return 0;
}
