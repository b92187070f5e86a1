/*
 * backends/sigv4.h — AWS Signature Version 4 (header signing) for the Braket and S3 calls.
 *
 *     hq_sigv4_creds cr = {.access_key_id = akid, .secret_access_key = secret,
 *                          .session_token = token_or_NULL};
 *     hq_sigv4_request rq = {.method = "GET", .host = "braket.us-east-1.amazonaws.com",
 *                            .path = "/quantum-task/arn%3Aaws%3Abraket...",
 *                            .region = "us-east-1", .service = "braket"};
 *     hq_sigv4_signed sg;
 *     hq_sigv4_sign(&cr, &rq, &sg);
 *     ... send the request with rq's headers plus sg.headers[0 .. sg.n_headers) ...
 *     hq_sigv4_signed_free(&sg);
 *
 * Rules implemented (AWS General Reference, "Create a canonical request"; checked against
 * the aws-sig-v4 test suite in tests/test_sigv4.c):
 *   - `path` is the path exactly as sent on the wire (already percent-encoded, e.g. an ARN
 *     label as arn%3Aaws%3Abraket...%2F<id>). For every service but S3 the canonical URI
 *     encodes that wire path once more ('%' -> '%25', "double encoding") after removing
 *     "." / ".." segments and empty segments; for S3 (`s3` true) the wire path is used as
 *     is, without normalisation.
 *   - The query is split on '&', each name and value percent-decoded and re-encoded with
 *     the unreserved set, and sorted by name then value.
 *   - Header names are lower-cased, values trimmed with inner runs of spaces collapsed,
 *     repeated names joined with ',', sorted by name. `host` is always signed.
 *   - X-Amz-Date is added (and signed) unless the caller passes X-Amz-Date or Date;
 *     X-Amz-Security-Token is added and signed when a session token is given;
 *     x-amz-content-sha256 is added and signed when `s3` or `content_sha256_header` is set.
 *   - Key chain HMAC-SHA256("AWS4"+secret, date) -> region -> service -> "aws4_request"
 *     (OpenSSL HMAC).
 *
 * Ownership: hq_sigv4_signed owns its strings until hq_sigv4_signed_free. Its
 * canonical_request may contain the session token: never log it.
 */
#ifndef HQ_SIGV4_H
#define HQ_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/http.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_sigv4_creds {
    const char *access_key_id;     /* "AKIDEXAMPLE" */
    const char *secret_access_key; /* secret */
    const char *session_token;     /* temporary credentials' token, NULL if none */
} hq_sigv4_creds;

typedef struct hq_sigv4_request {
    const char *method;            /* "GET", "POST", ... */
    const char *host;              /* Host header value ("braket.us-east-1.amazonaws.com",
                                      with ":port" when not the scheme's default) */
    const char *path;              /* wire path, percent-encoded, starts with '/' */
    const char *query;             /* wire query without '?', NULL or "" if none */
    const hq_http_header *headers; /* other headers that will be sent and signed */
    int n_headers;
    const void *body; /* request body (NULL = empty) */
    size_t body_len;
    const char *region;         /* "us-east-1" */
    const char *service;        /* "braket", "s3" */
    const char *amz_date;       /* "20150830T123600Z"; NULL = current UTC time */
    bool s3;                    /* S3 rules: no double encoding, no normalisation,
                                   x-amz-content-sha256 signed */
    bool content_sha256_header; /* add x-amz-content-sha256 for other services too */
} hq_sigv4_request;

#define HQ_SIGV4_MAX_ADD 4

typedef struct hq_sigv4_signed {
    char amz_date[17];       /* "20150830T123600Z" */
    char content_sha256[65]; /* hex sha256 of the body */
    char signature[65];      /* hex signature */
    char *authorization;     /* Authorization header value (owned) */
    char *canonical_request; /* for tests / diagnosis (owned; may hold the session token) */
    char *string_to_sign;    /* (owned) */
    char *signed_headers;    /* "host;x-amz-date" (owned) */
    hq_http_header headers[HQ_SIGV4_MAX_ADD]; /* headers to add to the request: X-Amz-Date,
                                                 X-Amz-Security-Token, x-amz-content-sha256,
                                                 Authorization (values point into this
                                                 struct or the creds) */
    int n_headers;
} hq_sigv4_signed;

/*
 * Sign a request. Returns HQ_OK, HQ_ERR_INVALID_ARG (missing field, path not starting
 * with '/', malformed amz_date, header with CR/LF), HQ_ERR_AUTH if OpenSSL's HMAC fails
 * (with its error text), HQ_ERR_NOMEM. On failure *out is zeroed and owns nothing.
 */
hq_status hq_sigv4_sign(const hq_sigv4_creds *creds, const hq_sigv4_request *req,
                        hq_sigv4_signed *out);
void hq_sigv4_signed_free(hq_sigv4_signed *s);

/* Current UTC time as "YYYYMMDDTHHMMSSZ". */
void hq_sigv4_now(char out[17]);

#ifdef __cplusplus
}
#endif
#endif /* HQ_SIGV4_H */
