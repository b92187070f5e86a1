/*
 * core/core.h — the public base layer every hqcnn module stands on.
 *
 * What lives here: the status enum and its message table, per-handle error detail,
 * allocation wrappers that tests can make fail, logging with secret redaction, a
 * counter-based RNG (Philox4x32-10), sha256, a growable string buffer, small file
 * helpers and a progress bar. Nothing here knows about circuits, tensors or databases.
 *
 * Error model (curl/SQLite style):
 *   - anything that can fail returns hq_status; results go through out-parameters;
 *   - the detail ("hq_sv_create: 40 qubits need 16 TiB, more than ...") is written by
 *     hq_failf() into the handle's hq_err (if there is one) AND into a thread-local
 *     "last error" buffer, so a caller without the handle (the CLI) can still print it:
 *         if ((st = hq_qasm_parse_file(path, &c)) != HQ_OK)
 *             fprintf(stderr, "error: %s\n", hq_last_error());
 *   - every opaque handle begins with an hq_handle header (magic + hq_err), which lets
 *     hq_errmsg(handle) work on any handle and catches use-after-free (HQ_ERR_MISUSE).
 *
 * Ownership: whoever calls *_create owns the result and calls *_free; *_free(NULL) is a
 * no-op. Strings returned by *_str / hq_errmsg are borrowed.
 */
#ifndef HQ_CORE_H
#define HQ_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== status codes ==================================================================== */

/* Append-only: never renumber or remove a value (they are stored in the job database). */
typedef enum hq_status {
    HQ_OK = 0,
    HQ_ERR_NOMEM,       /* an allocation failed */
    HQ_ERR_INVALID_ARG, /* a caller passed a value outside its valid range */
    HQ_ERR_IO,          /* file system error */
    HQ_ERR_PARSE,       /* malformed input text / JSON / binary format */
    HQ_ERR_NETWORK,     /* transport failure (DNS, connect, reset, TLS) */
    HQ_ERR_HTTP,        /* the server answered with an HTTP error status */
    HQ_ERR_AUTH,        /* missing / rejected credentials */
    HQ_ERR_TIMEOUT,     /* an operation ran out of time */
    HQ_ERR_BACKEND,     /* a quantum backend failed a job */
    HQ_ERR_DB,          /* the job database reported an error */
    HQ_ERR_UNSUPPORTED, /* valid request this build / backend cannot do */
    HQ_ERR_MISUSE,      /* API misuse: freed or uninitialised handle, wrong call order */
    HQ_ERR_INTERNAL,    /* a broken invariant was caught and recovered from */
    HQ_ERR_NOT_FOUND,   /* a named thing (run, file member, dataset) does not exist */
    HQ_ERR_CORRUPT,     /* data failed an integrity check (checksum, md5, CRC) */
    HQ_ERR_BUSY,        /* a resource is locked by someone else; try again later */
    HQ_ERR_BUDGET,      /* continuing would exceed a configured budget (shots, cost) */
    HQ_ERR_CANCELLED,   /* the operation or job was cancelled */
    HQ_ERR_INTERRUPTED, /* stopped by a signal; state is saved and resumable */
    HQ_STATUS_COUNT
} hq_status;

/* Short English description of a status ("out of memory"); never NULL. */
const char *hq_status_str(hq_status s);
/* Stable identifier of a status ("HQ_ERR_NOMEM"); never NULL. */
const char *hq_status_name(hq_status s);

/* ==== error detail ==================================================================== */

#define HQ_ERRMSG_MAX 1024

typedef struct hq_err {
    hq_status status;        /* status of the last failure recorded here */
    char msg[HQ_ERRMSG_MAX]; /* NUL-terminated detail; "" when none */
} hq_err;

/*
 * Record a failure: formats the message into `e` (may be NULL) and into the thread-local
 * last-error buffer, redacting registered secrets. Returns `s` so callers can write
 *     return hq_failf(&h->err, HQ_ERR_INVALID_ARG, "%s: qubit %d out of range [0, %d)", ...);
 */
hq_status hq_failf(hq_err *e, hq_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
hq_status hq_vfailf(hq_err *e, hq_status s, const char *fmt, va_list ap);
/* Prefix the current last error with more context ("loading run 7: <old message>"). */
hq_status hq_fail_prefix(hq_err *e, hq_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The thread's last recorded error message (borrowed; valid until the next failure). */
const char *hq_last_error(void);
hq_status hq_last_status(void);
void hq_clear_error(void);

/* Every opaque handle struct starts with this header. */
typedef struct hq_handle {
    uint32_t magic; /* HQ_MAGIC_* while alive, HQ_MAGIC_DEAD after free */
    hq_err err;     /* detail of the handle's last failure */
} hq_handle;

#define HQ_MAGIC_DEAD 0xDEADDEADu
/* Detail message of the handle's last failure, or of the thread's if h is NULL. */
const char *hq_errmsg(const void *h);
/* True if h is non-NULL and carries `magic`. */
bool hq_handle_ok(const void *h, uint32_t magic);

/* Validate a handle at API entry: returns HQ_ERR_MISUSE with a message if it is bad. */
#define HQ_CHECK_HANDLE(h, MAGIC)                                     \
    do {                                                              \
        if (!hq_handle_ok((h), (MAGIC)))                              \
            return hq_failf(NULL, HQ_ERR_MISUSE,                      \
                            "%s: invalid handle (NULL, freed or not " \
                            "created by the matching *_create)",      \
                            __func__);                                \
    } while (0)

/* ==== secrets ========================================================================= */

/* Register a credential so that hq_failf, hq_log and hq_redact mask it as "***". The
 * string is copied; at most 16 secrets are kept. Secrets shorter than 4 bytes are ignored. */
void hq_secret_register(const char *secret);
/* Forget one registered secret (e.g. an expired access token), freeing its slot. */
void hq_secret_unregister(const char *secret);
void hq_secret_clear_all(void);
/* Mask every registered secret in buf (NUL-terminated) in place. */
void hq_redact(char *buf);

/* ==== assertions ====================================================================== */

void hq_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
/* For broken internal invariants only, never for user input. */
#define HQ_ASSERT(x) ((x) ? (void)0 : hq_assert_fail(#x, __FILE__, __LINE__))
/* "Can't happen, but recover": true/false as written, but loud in debug builds. */
#ifdef HQ_DEBUG
#define HQ_ALWAYS(x) ((x) ? 1 : (hq_assert_fail(#x, __FILE__, __LINE__), 0))
#define HQ_NEVER(x)  ((x) ? (hq_assert_fail(#x, __FILE__, __LINE__), 1) : 0)
#else
#define HQ_ALWAYS(x) (x)
#define HQ_NEVER(x)  (x)
#endif

#define HQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HQ_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define HQ_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define HQ_UNUSED(x)    ((void)(x))

/* ==== allocation ====================================================================== */

/*
 * All project allocations go through these (make lint enforces it). hq_free(NULL) is a
 * no-op; memory from hq_aligned_alloc is released with hq_free as well.
 * Test hook: hq_alloc_fail_after(n) makes the n-th allocation from now (n >= 1) return
 * NULL, and every allocation after it succeed again; n <= 0 disables injection.
 */
void *hq_malloc(size_t n);
void *hq_calloc(size_t count, size_t size);
void *hq_realloc(void *p, size_t n);
void *hq_aligned_alloc(size_t align, size_t n); /* align: power of two >= sizeof(void*) */
void hq_free(void *p);
char *hq_strdup(const char *s);
char *hq_strndup(const char *s, size_t n);
#define HQ_FREE(p)  \
    do {            \
        hq_free(p); \
        (p) = NULL; \
    } while (0)

void hq_alloc_fail_after(long n);
long hq_alloc_count(void);    /* allocations made so far by this process */
bool hq_alloc_injected(void); /* true once an injected failure has fired (then reset by
                                 hq_alloc_fail_after) */

/* Multiply with overflow check: false if a*b overflows size_t. */
static inline bool hq_mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

/* ==== logging ========================================================================= */

typedef enum hq_log_level {
    HQ_LOG_ERROR = 0,
    HQ_LOG_WARN,
    HQ_LOG_INFO,
    HQ_LOG_DEBUG,
} hq_log_level;

/* Messages at or below the level are written to stderr (default INFO, or $HQCNN_LOG =
 * error|warn|info|debug). Registered secrets are redacted. Thread-safe. */
void hq_log(hq_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hq_log_set_level(hq_log_level lvl);
hq_log_level hq_log_get_level(void);
/* Redirect log output (NULL = stderr). Borrowed; valid until reset. */
void hq_log_set_file(FILE *f);

#define HQ_LOGE(...) hq_log(HQ_LOG_ERROR, __VA_ARGS__)
#define HQ_LOGW(...) hq_log(HQ_LOG_WARN, __VA_ARGS__)
#define HQ_LOGI(...) hq_log(HQ_LOG_INFO, __VA_ARGS__)
#define HQ_LOGD(...) hq_log(HQ_LOG_DEBUG, __VA_ARGS__)

/* ==== string buffer =================================================================== */

/* Growable NUL-terminated byte buffer. On allocation failure `oom` is set, further appends
 * are ignored and hq_sbuf_status() returns HQ_ERR_NOMEM: check once at the end. */
typedef struct hq_sbuf {
    char *p;    /* data, always NUL-terminated when non-NULL */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed */
} hq_sbuf;

#define HQ_SBUF_INIT \
    { NULL, 0, 0, false }
void hq_sbuf_append(hq_sbuf *b, const void *data, size_t n);
void hq_sbuf_puts(hq_sbuf *b, const char *s);
void hq_sbuf_putc(hq_sbuf *b, char c);
void hq_sbuf_printf(hq_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hq_sbuf_reset(hq_sbuf *b); /* len = 0, keeps memory */
void hq_sbuf_free(hq_sbuf *b);
hq_status hq_sbuf_status(const hq_sbuf *b);
/* Takes ownership of the bytes (caller hq_free()s them); b is left empty. Never NULL
 * unless oom. */
char *hq_sbuf_take(hq_sbuf *b);
/* Append a double with the shortest text that parses back to the same value. */
void hq_sbuf_put_double(hq_sbuf *b, double v);
/* Append s as a JSON string literal (quotes and escapes included). */
void hq_sbuf_put_json_str(hq_sbuf *b, const char *s);

/* ==== files =========================================================================== */

/* Read a whole file; *data is NUL-terminated (not counted in *len); caller hq_free()s.
 * max_bytes > 0 rejects larger files with HQ_ERR_INVALID_ARG. */
hq_status hq_file_read(const char *path, size_t max_bytes, char **data, size_t *len);
/* Write via a temporary file in the same directory + fsync + rename (atomic replace). */
hq_status hq_file_write_atomic(const char *path, const void *data, size_t len);
bool hq_file_exists(const char *path);
/* True for a regular file (or a link to one); false for a directory or nothing. */
bool hq_is_regular_file(const char *path);
/* mkdir -p; mode for created directories. */
hq_status hq_mkdir_p(const char *path, unsigned mode);
/* Join dir and name into out (size cap); HQ_ERR_INVALID_ARG if too long. */
hq_status hq_path_join(char *out, size_t cap, const char *dir, const char *name);
/* Directory part of path (everything before the last '/'), "." if none. */
void hq_path_dirname(char *out, size_t cap, const char *path);

/* Monotonic clock in seconds; wall clock (Unix epoch) in seconds. */
double hq_time_now(void);
double hq_time_wall(void);
void hq_sleep_ms(long ms);

/* ==== parsing helpers ================================================================= */

/* Strict integer / double parsing of a whole string (no trailing junk, range checked). */
hq_status hq_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
hq_status hq_parse_double(const char *s, double *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_CORE_H */
