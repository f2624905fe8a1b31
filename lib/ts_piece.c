#include "ts_piece.h"
#include "ts_err.h"
#include "ts_buf.h"
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ts_verifier {
    EVP_PKEY *pkey;
    EVP_MD *md;      /* fetched once: implicit fetches per call are slow in OpenSSL 3 */
    EVP_MD_CTX *ctx; /* reused (reset) for every piece */
    EVP_PKEY_CTX *pctx; /* initialised for verification once: a per-piece DigestVerifyInit
                         * costs a provider lookup, a third of the verification time */
    uint8_t infohash[20];
};


void ts_trailer_encode(const ts_trailer_t *t, uint8_t out[TS_TRAILER_LEN])
{
    out[0] = t->version;
    out[1] = t->flags;
    out[2] = out[3] = 0;
    ts_set_u32be(out + 4, t->payload_len);
    ts_set_u64be(out + 8, t->seq);
    ts_set_u64be(out + 16, t->timestamp_us);
    memcpy(out + TS_TRAILER_SIGNED_LEN, t->sig, TS_SIG_LEN);
}

int ts_piece_parse(const uint8_t *piece, size_t len, uint32_t piece_len, ts_trailer_t *t)
{
    if (!piece || len < TS_TRAILER_LEN || len > piece_len)
        return -1;
    const uint8_t *p = piece + len - TS_TRAILER_LEN;
    if (p[0] != TS_PIECE_VERSION || (p[1] & ~(TS_PIECE_RAP | TS_PIECE_DISCONT)) || p[2] || p[3])
        return -1;
    uint32_t plen = ts_get_u32be(p + 4);
    /* 64-bit sum: plen + 88 cannot wrap. An empty piece carries nothing and is refused (PROTOCOL.md 2). */
    if (plen == 0 || (uint64_t)plen + TS_TRAILER_LEN != len)
        return -1;
    t->version = p[0];
    t->flags = p[1];
    t->payload_len = plen;
    t->seq = ts_get_u64be(p + 8);
    t->timestamp_us = ts_get_u64be(p + 16);
    memcpy(t->sig, p + TS_TRAILER_SIGNED_LEN, TS_SIG_LEN);
    return 0;
}

int ts_piece_sig_to_der(const uint8_t sig[TS_SIG_LEN], uint8_t *der, size_t cap)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    int rc = -1;
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    /* es owns r and s now. */
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > cap)
        goto out;
    unsigned char *p = der;
    rc = i2d_ECDSA_SIG(es, &p);
out:
    ECDSA_SIG_free(es);
    return rc;
}

int ts_piece_sig_from_der(const uint8_t *der, size_t len, uint8_t sig[TS_SIG_LEN])
{
    const unsigned char *p = der;
    if (len > TS_SIG_DER_MAX)
        return -1;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!es)
        return -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    /* bn2binpad fails when the value needs more than 32 bytes: such a signature is not a P-256 one. */
    int ok = p == der + len && !BN_is_negative(r) && !BN_is_negative(s) && BN_bn2binpad(r, sig, 32) == 32 &&
             BN_bn2binpad(s, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    return ok ? 0 : -1;
}

/* P-256 only: the signature field is sized for it, and the protocol names it. */
static int key_is_p256(const EVP_PKEY *pk, char *err, size_t errlen)
{
    if (!EVP_PKEY_is_a(pk, "EC")) {
        const char *type = EVP_PKEY_get0_type_name(pk);
        ts_err(err, errlen, "public key is %s, not an EC P-256 key", type ? type : "of an unknown type");
        return -1;
    }
    char name[80];
    size_t n = 0;
    if (!EVP_PKEY_get_group_name(pk, name, sizeof name, &n)) {
        ts_err(err, errlen, "EC public key without a named curve (P-256 required)");
        return -1;
    }
    if (OBJ_txt2nid(name) != NID_X9_62_prime256v1) {
        ts_err(err, errlen, "EC public key on curve %s, not P-256", name);
        return -1;
    }
    return 0;
}

ts_verifier_t *ts_verifier_new(const uint8_t *pubkey_der, size_t len, const uint8_t infohash[20], char *err,
                               size_t errlen)
{
    if (!pubkey_der || !len || len > 65536 || !infohash) {
        ts_err(err, errlen, "verifier: missing or oversized public key");
        return NULL;
    }
    ts_verifier_t *v = calloc(1, sizeof *v);
    if (!v) {
        ts_err(err, errlen, "verifier: out of memory");
        return NULL;
    }
    const unsigned char *p = pubkey_der;
    v->pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (!v->pkey || p != pubkey_der + len) {
        /* Trailing bytes too: the metainfo's pubkey must be exactly one key. */
        ts_err(err, errlen, "verifier: public key is not a DER SubjectPublicKeyInfo");
        goto fail;
    }
    if (key_is_p256(v->pkey, err, errlen) < 0)
        goto fail;
    v->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    v->ctx = EVP_MD_CTX_new();
    v->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, v->pkey, NULL);
    if (!v->md || !v->ctx || !v->pctx || EVP_PKEY_verify_init(v->pctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(v->pctx, v->md) != 1) {
        ts_err(err, errlen, "verifier: cannot set up SHA-256");
        goto fail;
    }
    memcpy(v->infohash, infohash, 20);
    return v;
fail:
    ERR_clear_error();
    ts_verifier_destroy(&v);
    return NULL;
}

void ts_verifier_destroy(ts_verifier_t **v)
{
    if (!v || !*v)
        return;
    EVP_MD_CTX_free((*v)->ctx);
    EVP_PKEY_CTX_free((*v)->pctx);
    EVP_MD_free((*v)->md);
    EVP_PKEY_free((*v)->pkey);
    free(*v);
    *v = NULL;
}

int ts_verifier_check_parts(ts_verifier_t *v, const ts_trailer_t *t, const uint8_t *payload)
{
    if (!v || !t || (!payload && t->payload_len))
        return -1;
    uint8_t der[TS_SIG_DER_MAX], tr[TS_TRAILER_LEN];
    int derlen = ts_piece_sig_to_der(t->sig, der, sizeof der);
    if (derlen < 0)
        return -1;
    ts_trailer_encode(t, tr);
    uint8_t digest[32];
    unsigned int dlen = 0;
    int ok = EVP_DigestInit_ex2(v->ctx, v->md, NULL) == 1 && EVP_DigestUpdate(v->ctx, TS_PIECE_DOMAIN, 16) == 1 &&
             EVP_DigestUpdate(v->ctx, v->infohash, 20) == 1 &&
             EVP_DigestUpdate(v->ctx, tr, TS_TRAILER_SIGNED_LEN) == 1 &&
             EVP_DigestUpdate(v->ctx, payload, t->payload_len) == 1 && EVP_DigestFinal_ex(v->ctx, digest, &dlen) == 1 &&
             dlen == sizeof digest && EVP_PKEY_verify(v->pctx, der, (size_t)derlen, digest, sizeof digest) == 1;
    if (!ok)
        ERR_clear_error(); /* bad pieces are routine (hostile peers): don't let them pile up in the queue */
    return ok ? 0 : -1;
}

int ts_verifier_check(ts_verifier_t *v, const uint8_t *piece, size_t len, uint32_t piece_len, ts_trailer_t *t)
{
    ts_trailer_t tmp;
    if (!t)
        t = &tmp;
    if (!v || ts_piece_parse(piece, len, piece_len, t) < 0)
        return -1;
    return ts_verifier_check_parts(v, t, piece);
}
