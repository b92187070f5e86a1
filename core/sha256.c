/*
 * core/sha256.c — SHA-256 and MD5 via OpenSSL EVP. OpenSSL failures become HQ_ERR_IO
 * (or HQ_ERR_NOMEM) with the OpenSSL error text.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "core/sha256.h"

struct hq_sha256_ctx {
    EVP_MD_CTX *md;
};

static hq_status ossl_fail(const char *what) {
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    return hq_failf(NULL, HQ_ERR_IO, "%s failed: %s", what, e ? buf : "unknown OpenSSL error");
}

void hq_hex_encode(const uint8_t *bytes, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The SHA-256 implementation, fetched once: EVP_sha256() makes every digest look the
 * provider up again, which costs as much as hashing a few hundred bytes. Kept for the
 * life of the process (EVP_sha256() if the fetch fails). */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void) { sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }
static const EVP_MD *sha256_md(void) {
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_fetched ? sha256_fetched : EVP_sha256();
}

hq_status hq_sha256(const void *data, size_t n, uint8_t out[HQ_SHA256_LEN]) {
    unsigned int len = 0;
    if (!EVP_Digest(data, n, out, &len, sha256_md(), NULL)) return ossl_fail("SHA-256");
    return HQ_OK;
}

hq_status hq_sha256_hex(const void *data, size_t n, char out[HQ_SHA256_HEX_LEN]) {
    uint8_t d[HQ_SHA256_LEN];
    hq_status st = hq_sha256(data, n, d);
    if (st != HQ_OK) return st;
    hq_hex_encode(d, HQ_SHA256_LEN, out);
    return HQ_OK;
}

hq_status hq_sha256_begin(hq_sha256_ctx **ctx) {
    *ctx = NULL;
    hq_sha256_ctx *c = hq_calloc(1, sizeof *c);
    if (!c) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_sha256_begin: out of memory");
    c->md = EVP_MD_CTX_new();
    if (!c->md || !EVP_DigestInit_ex(c->md, sha256_md(), NULL)) {
        EVP_MD_CTX_free(c->md);
        hq_free(c);
        return ossl_fail("SHA-256 init");
    }
    *ctx = c;
    return HQ_OK;
}

hq_status hq_sha256_update(hq_sha256_ctx *ctx, const void *data, size_t n) {
    if (!EVP_DigestUpdate(ctx->md, data, n)) return ossl_fail("SHA-256 update");
    return HQ_OK;
}

hq_status hq_sha256_end(hq_sha256_ctx *ctx, uint8_t out[HQ_SHA256_LEN]) {
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(ctx->md, out, &len);
    EVP_MD_CTX_free(ctx->md);
    hq_free(ctx);
    return ok ? HQ_OK : ossl_fail("SHA-256 final");
}

void hq_sha256_abort(hq_sha256_ctx *ctx) {
    if (!ctx) return;
    EVP_MD_CTX_free(ctx->md);
    hq_free(ctx);
}

hq_status hq_sha256_again(hq_sha256_ctx *ctx, const void *data, size_t n,
                          uint8_t out[HQ_SHA256_LEN]) {
    unsigned int len = 0;
    if (!EVP_DigestInit_ex(ctx->md, sha256_md(), NULL) || !EVP_DigestUpdate(ctx->md, data, n) ||
        !EVP_DigestFinal_ex(ctx->md, out, &len))
        return ossl_fail("SHA-256");
    return HQ_OK;
}

hq_status hq_md5_file_hex(const char *path, char out[33]) {
    FILE *f = fopen(path, "rb");
    if (!f) return hq_failf(NULL, HQ_ERR_IO, "cannot open '%s' for md5", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(md);
        fclose(f);
        return ossl_fail("MD5 init");
    }
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(md, buf, n);
    int err = ferror(f);
    fclose(f);
    unsigned char d[16];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, d, &len);
    EVP_MD_CTX_free(md);
    if (err) return hq_failf(NULL, HQ_ERR_IO, "read error while hashing '%s'", path);
    hq_hex_encode(d, 16, out);
    return HQ_OK;
}
