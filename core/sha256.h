/*
 * core/sha256.h — SHA-256 through OpenSSL's EVP interface (one-shot and streaming).
 * Used to hash canonical circuits for the job database and to check file integrity.
 */
#ifndef HQ_SHA256_H
#define HQ_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_SHA256_LEN     32
#define HQ_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

hq_status hq_sha256(const void *data, size_t n, uint8_t out[HQ_SHA256_LEN]);
/* Lowercase hex digest into out (65 bytes including NUL). */
hq_status hq_sha256_hex(const void *data, size_t n, char out[HQ_SHA256_HEX_LEN]);
void hq_hex_encode(const uint8_t *bytes, size_t n, char *out /* 2n+1 */);

typedef struct hq_sha256_ctx hq_sha256_ctx;
hq_status hq_sha256_begin(hq_sha256_ctx **ctx);
hq_status hq_sha256_update(hq_sha256_ctx *ctx, const void *data, size_t n);
/* Writes the digest and frees ctx. */
hq_status hq_sha256_end(hq_sha256_ctx *ctx, uint8_t out[HQ_SHA256_LEN]);
/* Frees ctx without a digest (on error paths); NULL is a no-op. */
void hq_sha256_abort(hq_sha256_ctx *ctx);
/* One-shot digest of data that reuses ctx (from hq_sha256_begin; anything fed to it so far
 * is discarded) instead of allocating an OpenSSL context per call: for loops hashing many
 * short messages. ctx stays valid; free it with hq_sha256_abort (or finish a digest with
 * hq_sha256_update + hq_sha256_end). HQ_ERR_IO on an OpenSSL failure. */
hq_status hq_sha256_again(hq_sha256_ctx *ctx, const void *data, size_t n,
                          uint8_t out[HQ_SHA256_LEN]);

/* MD5 (for MedMNIST's published checksums only; not for security). */
hq_status hq_md5_file_hex(const char *path, char out[33]);

#ifdef __cplusplus
}
#endif
#endif /* HQ_SHA256_H */
