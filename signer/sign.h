/* The broadcast's private key. Only the signer process links this. */
#ifndef TS_SIGN_H
#define TS_SIGN_H
#include "ts_piece.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ts_signkey ts_signkey_t;

/* Load the PEM private key at path (PKCS#8 or traditional, unencrypted). If the file does not exist and
 * create != 0, generate a P-256 key and write it as unencrypted PKCS#8 PEM, created with O_CREAT|O_EXCL
 * mode 0600 and fsync'd (file and directory). Refused (NULL, reason in err): a file that is not a regular
 * file, whose mode allows any group/other access, that holds no readable private key (encrypted keys
 * included), or whose key is not P-256. Symlinks are followed; the checks apply to the file they lead to.
 * The key is test-signed once, so a corrupt key pair is refused here rather than at the first piece. */
ts_signkey_t *ts_signkey_load(const char *path, int create, char *err, size_t errlen);
/* Frees; OpenSSL wipes the key material. Nulls *k. */
void ts_signkey_destroy(ts_signkey_t **k);
/* *der: malloc'd DER SubjectPublicKeyInfo (free() it), *len its size. 0 or -1. */
int ts_signkey_pubkey_der(ts_signkey_t *k, uint8_t **der, size_t *len);
/* Fill t->sig (fixed r || s) over t's other fields and the payload (t->payload_len bytes), which the
 * caller has set. 0, or -1 if t would not parse (version != 1, unknown flags, payload_len 0) or signing
 * failed. The new signature is verified before returning, so a faulty one never leaves. */
int ts_signkey_sign(ts_signkey_t *k, const uint8_t infohash[20], ts_trailer_t *t, const uint8_t *payload);
#endif
