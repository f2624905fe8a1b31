#ifndef _GNU_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#endif
#include "sign.h"
#include "ts_err.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAX 65536 /* a PEM P-256 key is ~240 bytes; anything huge is not ours */

struct ts_signkey {
    EVP_PKEY *pkey;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    uint8_t *pub; /* DER SubjectPublicKeyInfo */
    size_t publen;
    ts_verifier_t *ver; /* checks every signature we make, for the infohash in ver_ih */
    uint8_t ver_ih[20];
};


/* Never prompt on a terminal for a passphrase: the signer runs unattended. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Read and parse the key from an open fd, after checking what the fd is. */
static EVP_PKEY *read_key(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ts_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* fstat on the open fd, not stat on the path: what we check is what we read. */
    if (!S_ISREG(st.st_mode)) {
        ts_err(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_mode & 077) {
        ts_err(err, errlen, "%s: mode %04o allows group/other access to the private key (chmod 600 it)", path,
               (unsigned)(st.st_mode & 07777));
        return NULL;
    }
    if (st.st_size <= 0 || st.st_size > KEYFILE_MAX) {
        ts_err(err, errlen, "%s: %s", path, st.st_size <= 0 ? "empty key file" : "too large for a key file");
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size);
    if (!buf) {
        ts_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    EVP_PKEY *pk = NULL;
    if (n != (size_t)st.st_size) {
        ts_err(err, errlen, "%s: short read", path);
    } else {
        BIO *bio = BIO_new_mem_buf(buf, (int)n);
        pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
        BIO_free(bio);
        if (!pk)
            ts_err(err, errlen, "%s: %s", path,
                   memmem(buf, n, "ENCRYPTED", 9) ? "encrypted private keys are not supported"
                                                  : "no PEM private key in the file");
    }
    OPENSSL_cleanse(buf, n);
    free(buf);
    ERR_clear_error();
    return pk;
}

/* Best effort: make the new directory entry durable too. */
static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(copy);
}

/* Generate a P-256 key and write it to path, which must not exist. *exists is set if it did. */
static EVP_PKEY *generate(const char *path, int *exists, char *err, size_t errlen)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    BIO *mem = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pemlen = 0;
    int fd = -1, ok = 0;
    if (!pk || !mem || !PEM_write_bio_PKCS8PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL) ||
        (pemlen = BIO_get_mem_data(mem, &pem)) <= 0) {
        ts_err(err, errlen, "%s: cannot generate a P-256 key", path);
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *exists = errno == EEXIST;
        ts_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    size_t n = 0;
    errno = 0;
    while (n < (size_t)pemlen) {
        ssize_t w = write(fd, pem + n, (size_t)pemlen - n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        n += (size_t)w;
    }
    if (n != (size_t)pemlen || fsync(fd) < 0) {
        ts_err(err, errlen, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
        goto out;
    }
    ok = 1;
out:
    if (fd >= 0 && close(fd) < 0 && ok) {
        ts_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        ok = 0;
    }
    if (fd >= 0 && !ok)
        unlink(path); /* no half-written key left behind to trip the next start */
    if (ok)
        fsync_dir_of(path);
    if (pem)
        OPENSSL_cleanse(pem, (size_t)pemlen);
    BIO_free(mem);
    if (!ok) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    ERR_clear_error();
    return pk;
}

/* (Re)build the self-check verifier for infohash. */
static int set_verifier(ts_signkey_t *k, const uint8_t infohash[20], char *err, size_t errlen)
{
    if (k->ver && memcmp(k->ver_ih, infohash, 20) == 0)
        return 0;
    ts_verifier_destroy(&k->ver);
    k->ver = ts_verifier_new(k->pub, k->publen, infohash, err, errlen);
    if (!k->ver)
        return -1;
    memcpy(k->ver_ih, infohash, 20);
    return 0;
}

/* Take ownership of pk: check it and set up signing. */
static ts_signkey_t *wrap(EVP_PKEY *pk, const char *path, char *err, size_t errlen)
{
    ts_signkey_t *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pk);
        ts_err(err, errlen, "out of memory");
        return NULL;
    }
    k->pkey = pk;
    int n = i2d_PUBKEY(pk, NULL);
    unsigned char *p = n > 0 ? malloc((size_t)n) : NULL;
    k->pub = p;
    if (!p || i2d_PUBKEY(pk, &p) != n) {
        ts_err(err, errlen, "%s: cannot encode the public key", path);
        goto fail;
    }
    k->publen = (size_t)n;
    /* The verifier refuses anything but P-256, so building it is the curve check. */
    char verr[200] = "";
    static const uint8_t zero_ih[20];
    if (set_verifier(k, zero_ih, verr, sizeof verr) < 0) {
        ts_err(err, errlen, "%s: %s", path, verr);
        goto fail;
    }
    k->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    k->ctx = EVP_MD_CTX_new();
    if (!k->md || !k->ctx) {
        ts_err(err, errlen, "cannot set up SHA-256");
        goto fail;
    }
    /* One test signature: a private key that does not match its public half fails here, not on air. */
    static const uint8_t probe[1] = { 0 };
    ts_trailer_t t = { .version = TS_PIECE_VERSION, .payload_len = 1 };
    if (ts_signkey_sign(k, zero_ih, &t, probe) < 0) {
        ts_err(err, errlen, "%s: the key cannot produce a valid signature (corrupt key pair?)", path);
        goto fail;
    }
    return k;
fail:
    ERR_clear_error();
    ts_signkey_destroy(&k);
    return NULL;
}

ts_signkey_t *ts_signkey_load(const char *path, int create, char *err, size_t errlen)
{
    if (!path || !*path) {
        ts_err(err, errlen, "no key file given");
        return NULL;
    }
    /* Twice at most: if another process creates the file between our open and our O_EXCL, load theirs. */
    for (int attempt = 0; attempt < 2; attempt++) {
        /* O_NONBLOCK so a FIFO planted at path cannot hang us before the regular-file check. */
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT || !create) {
                ts_err(err, errlen, "%s: %s", path, strerror(errno));
                return NULL;
            }
            int exists = 0;
            EVP_PKEY *pk = generate(path, &exists, err, errlen);
            if (pk)
                return wrap(pk, path, err, errlen);
            if (exists)
                continue;
            return NULL;
        }
        EVP_PKEY *pk = read_key(fd, path, err, errlen);
        close(fd);
        return pk ? wrap(pk, path, err, errlen) : NULL;
    }
    ts_err(err, errlen, "%s: exists but cannot be opened (dangling symlink?)", path);
    return NULL;
}

void ts_signkey_destroy(ts_signkey_t **k)
{
    if (!k || !*k)
        return;
    ts_verifier_destroy(&(*k)->ver);
    EVP_MD_CTX_free((*k)->ctx);
    EVP_MD_free((*k)->md);
    EVP_PKEY_free((*k)->pkey); /* OpenSSL clears the private scalar */
    free((*k)->pub);
    free(*k);
    *k = NULL;
}

int ts_signkey_pubkey_der(ts_signkey_t *k, uint8_t **der, size_t *len)
{
    if (!k || !der || !len)
        return -1;
    *der = malloc(k->publen);
    if (!*der)
        return -1;
    memcpy(*der, k->pub, k->publen);
    *len = k->publen;
    return 0;
}

int ts_signkey_sign(ts_signkey_t *k, const uint8_t infohash[20], ts_trailer_t *t, const uint8_t *payload)
{
    if (!k || !infohash || !t || !payload)
        return -1;
    /* A signature over a trailer no viewer would parse is useless; refuse to make one. */
    if (t->version != TS_PIECE_VERSION || (t->flags & ~(TS_PIECE_RAP | TS_PIECE_DISCONT)) || !t->payload_len)
        return -1;
    if (set_verifier(k, infohash, NULL, 0) < 0)
        return -1;
    uint8_t tr[TS_TRAILER_LEN], der[256];
    size_t derlen = sizeof der;
    ts_trailer_encode(t, tr);
    EVP_MD_CTX_reset(k->ctx);
    int ok = EVP_DigestSignInit(k->ctx, NULL, k->md, NULL, k->pkey) == 1 &&
             EVP_DigestSignUpdate(k->ctx, TS_PIECE_DOMAIN, 16) == 1 &&
             EVP_DigestSignUpdate(k->ctx, infohash, 20) == 1 &&
             EVP_DigestSignUpdate(k->ctx, tr, TS_TRAILER_SIGNED_LEN) == 1 &&
             EVP_DigestSignUpdate(k->ctx, payload, t->payload_len) == 1 &&
             EVP_DigestSignFinal(k->ctx, der, &derlen) == 1 &&
             ts_piece_sig_from_der(der, derlen, t->sig) == 0 &&
             /* Check before it leaves: viewers would drop a bad one, and faulty signatures can leak key bits. */
             ts_verifier_check_parts(k->ver, t, payload) == 0;
    if (!ok) {
        memset(t->sig, 0, TS_SIG_LEN);
        ERR_clear_error();
    }
    return ok ? 0 : -1;
}
