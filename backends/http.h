/*
 * backends/http.h — the one HTTP layer every REST client (IonQ, IBM Quantum, Amazon Braket)
 * stands on: libcurl underneath, our status codes and messages on top.
 *
 *     hq_http *h;
 *     hq_http_create(NULL, &h);                       // default policy and timeouts
 *     hq_http_header hd[] = {{"Authorization", auth}, {"Content-Type", "application/json"}};
 *     hq_http_request rq = {.method = HQ_HTTP_GET, .url = url, .headers = hd, .n_headers = 2};
 *     hq_http_response rs;
 *     if (hq_http_perform(h, &rq, &rs) != HQ_OK)
 *         fprintf(stderr, "%s\n", hq_errmsg(h));      // "GET https://...: HTTP 404: ..."
 *     ... rs.status, rs.body ...
 *     hq_http_response_free(&rs);
 *     hq_http_free(h);
 *
 * What it guarantees:
 *   - TLS peer and host verification are always on for https; no option turns them off.
 *   - Plain http:// is refused unless the host is a loopback address (127.0.0.0/8, ::1,
 *     localhost): credentials never cross a network in clear text. Redirects are never
 *     followed (an Authorization header must not be replayed to another host), and
 *     loopback requests bypass any configured proxy.
 *   - Retries follow one policy (see hq_http_policy): 429 and connection failures (nothing
 *     was sent) are retried for every method; 5xx, timeouts and broken connections only
 *     for idempotent requests (GET, PUT, DELETE, or a POST/PATCH marked idempotent, e.g.
 *     one carrying a client token). Retry-After (delta seconds or HTTP-date) is honoured,
 *     otherwise exponential backoff with jitter, capped.
 *   - Final failures are translated: transport errors -> HQ_ERR_NETWORK (curl's text),
 *     timeouts -> HQ_ERR_TIMEOUT, 401/403 -> HQ_ERR_AUTH, other HTTP >= 400 -> HQ_ERR_HTTP,
 *     each with the provider's own message extracted from the error body (IonQ, IBM,
 *     AWS shapes; HTML pages are named as such, never dumped).
 *   - Bodies and header values are never logged above debug level; Authorization-like
 *     header values are never logged at all, and registered secrets are redacted from
 *     every message (core hq_secret_register).
 *
 * Threads: a client (hq_http) is used by one thread at a time; create one per thread.
 * Different clients are independent. hq_http_create initialises libcurl once, thread-safely.
 *
 * Ownership: hq_http_create's caller frees with hq_http_free (NULL is a no-op). A response
 * filled by hq_http_perform owns its body and headers until hq_http_response_free.
 */
#ifndef HQ_HTTP_H
#define HQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_http hq_http;

typedef enum hq_http_method {
    HQ_HTTP_GET = 0,
    HQ_HTTP_POST,
    HQ_HTTP_PUT,
    HQ_HTTP_DELETE,
    HQ_HTTP_PATCH,
    HQ_HTTP_METHOD_COUNT
} hq_http_method;

/* "GET", "POST", ... ("?" if out of range). */
const char *hq_http_method_name(hq_http_method m);

typedef struct hq_http_header {
    const char *name;  /* "Content-Type" (borrowed) */
    const char *value; /* "application/json" (borrowed) */
} hq_http_header;

/* Retry policy. Zero-initialised fields take the defaults in brackets. */
typedef struct hq_http_policy {
    int max_tries;            /* attempts in total, first included, 1..20 [5] */
    double base_delay_s;      /* backoff before the 2nd attempt, seconds [1] */
    double max_delay_s;       /* cap of one backoff sleep, seconds [60] */
    double max_retry_after_s; /* a Retry-After longer than this is not waited for: the
                                 request fails with HQ_ERR_HTTP status 429/503 and the
                                 caller can reschedule [120] */
    double jitter;            /* 0..1: each backoff is scaled by (1 - jitter*u), u uniform
                                 in [0,1) [0.5]; negative = no jitter */
    bool retry_409_get;       /* also retry 409 on GET (IonQ's Cloudflare DNS error 1001) */
} hq_http_policy;

/* Test and instrumentation hooks. All optional (NULL = real behaviour). */
typedef struct hq_http_attempt {
    int attempt;           /* 1-based attempt number */
    const char *method;    /* "GET" */
    long status;           /* HTTP status, 0 if no response */
    hq_status transport;   /* HQ_OK, or HQ_ERR_NETWORK / HQ_ERR_TIMEOUT for transport errors */
    bool will_retry;       /* another attempt follows */
    double delay_s;        /* sleep before the next attempt (0 if none) */
    bool from_retry_after; /* delay came from a Retry-After header */
} hq_http_attempt;

typedef struct hq_http_hooks {
    /* Replaces the real sleep between attempts (tests make it virtual). */
    void (*sleep)(void *user, double seconds);
    /* Replaces the wall clock (Unix seconds) used to turn a Retry-After HTTP-date into a
     * delay. */
    double (*wall_now)(void *user);
    /* Called after every attempt with its outcome and the decision taken. */
    void (*on_attempt)(void *user, const hq_http_attempt *a);
    void *user;
} hq_http_hooks;

typedef struct hq_http_options {
    long connect_timeout_ms; /* per attempt [10000] */
    long timeout_ms;         /* whole transfer per attempt [60000] */
    size_t max_body_bytes;   /* larger responses fail with HQ_ERR_HTTP [256 MiB] */
    const char *user_agent;  /* [hqcnn/<version>] */
    const char *ca_file;     /* extra CA bundle (PEM) for https, NULL = system store */
    uint64_t jitter_seed;    /* seed of the backoff jitter stream [0] */
    hq_http_policy policy;   /* retry policy (zero = defaults) */
    hq_http_hooks hooks;     /* optional hooks */
} hq_http_options;

typedef struct hq_http_request {
    hq_http_method method;
    const char *url;               /* absolute http(s) URL, already percent-encoded */
    const hq_http_header *headers; /* extra request headers (n_headers), borrowed */
    int n_headers;
    const void *body; /* request body (POST/PUT/PATCH), may be NULL */
    size_t body_len;  /* bytes of body */
    bool idempotent;  /* POST/PATCH only: safe to repeat (e.g. carries a client token);
                         GET/PUT/DELETE are always idempotent */
    long timeout_ms;  /* overrides the client's transfer timeout if > 0 */
    int max_tries;    /* overrides policy.max_tries if > 0 (1 = no retry) */
} hq_http_request;

typedef struct hq_http_response {
    long status;          /* HTTP status of the last attempt, 0 if none arrived */
    char *body;           /* NUL-terminated body (may contain NULs; see body_len), owned */
    size_t body_len;      /* bytes of body */
    char *headers;        /* raw header block of the final response ("Name: value\r\n"...) */
    int attempts;         /* attempts made */
    double retry_after_s; /* Retry-After of the last response in seconds, -1 if none */
} hq_http_response;

/* ==== client =========================================================================== */

/*
 * Create a client (one libcurl easy handle; connections are reused across requests).
 * opt may be NULL (all defaults); it is copied (strings duplicated).
 * Returns HQ_ERR_INVALID_ARG for out-of-range options, HQ_ERR_NOMEM, HQ_ERR_NETWORK if
 * libcurl cannot be initialised.
 */
hq_status hq_http_create(const hq_http_options *opt, hq_http **out);
void hq_http_free(hq_http *h);

/*
 * Perform a request with the client's retry policy. On return *resp is always
 * initialised (free it with hq_http_response_free, also on failure); if a response
 * arrived, status/body/headers are those of the last attempt.
 * Returns HQ_OK for 1xx-3xx (redirects are not followed: a 3xx is returned as is),
 * HQ_ERR_AUTH for 401/403, HQ_ERR_HTTP for other statuses >= 400 (message: method, URL,
 * status, the provider's message), HQ_ERR_NETWORK / HQ_ERR_TIMEOUT for transport
 * failures, HQ_ERR_INVALID_ARG for a bad request (unsupported scheme, http:// to a
 * non-loopback host, NULL URL, header with CR/LF), HQ_ERR_MISUSE for a bad handle.
 * The message never contains header values or the body beyond the extracted message.
 */
hq_status hq_http_perform(hq_http *h, const hq_http_request *req, hq_http_response *resp);

void hq_http_response_free(hq_http_response *r);

/* Value of response header `name` (case-insensitive) copied into buf (cap bytes,
 * truncated, NUL-terminated). Returns false (buf = "") if absent. */
bool hq_http_response_header(const hq_http_response *r, const char *name, char *buf, size_t cap);

/* ==== helpers (pure functions, used by the clients and their tests) ==================== */

/* True if the URL's scheme is http(s) and its host is a loopback name or address. */
bool hq_http_url_is_loopback(const char *url);

/* Check a URL against the transport rules above without sending anything:
 * HQ_OK, or HQ_ERR_INVALID_ARG with the reason. */
hq_status hq_http_check_url(const char *url);

/*
 * Parse a Retry-After value: delta seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
 * 07:28:00 GMT", also RFC 850 and asctime forms), relative to wall time now_s.
 * Returns the delay in seconds (>= 0; a date in the past gives 0), or -1 if unparsable.
 */
double hq_http_parse_retry_after(const char *value, double now_s);

/*
 * The provider's error message from an error response body, into buf (cap bytes):
 *   IonQ   {"error":"Bad Request","message":"...","statusCode":400}, {"code":..,"message":..},
 *          {"error":{"type":..,"message":..}}, {"error":"..."}
 *   IBM    {"errors":[{"code":1002,"message":"...","more_info":".."}]}, {"detail": "..."}
 *   AWS    {"__type":"...#ValidationException","message":"..."} (also "Message")
 *   HTML   "the server returned an HTML error page (status 503)"
 *   other  the body's first line, truncated, control characters removed
 * Never copies more than ~300 characters of the body. Returns buf.
 */
char *hq_http_error_message(const char *body, size_t body_len, const char *content_type,
                            long status, char *buf, size_t cap);

/* Percent-encode s into out: every byte except unreserved ALPHA / DIGIT / "-._~" (RFC 3986)
 * and the bytes listed in `keep` (e.g. "/" for paths) becomes %XX (upper-case hex). */
void hq_http_url_encode(hq_sbuf *out, const char *s, const char *keep);

#ifdef __cplusplus
}
#endif
#endif /* HQ_HTTP_H */
