/*
 * core/status.c — status strings, error detail buffers, secret redaction, assertions.
 * Allocation lives in alloc.c, logging in log.c.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* ==== status table ==================================================================== */

static const char *const status_str[] = {
    [HQ_OK] = "success",
    [HQ_ERR_NOMEM] = "out of memory",
    [HQ_ERR_INVALID_ARG] = "invalid argument",
    [HQ_ERR_IO] = "input/output error",
    [HQ_ERR_PARSE] = "parse error",
    [HQ_ERR_NETWORK] = "network error",
    [HQ_ERR_HTTP] = "HTTP error",
    [HQ_ERR_AUTH] = "authentication error",
    [HQ_ERR_TIMEOUT] = "timed out",
    [HQ_ERR_BACKEND] = "backend error",
    [HQ_ERR_DB] = "database error",
    [HQ_ERR_UNSUPPORTED] = "unsupported",
    [HQ_ERR_MISUSE] = "API misuse",
    [HQ_ERR_INTERNAL] = "internal error",
    [HQ_ERR_NOT_FOUND] = "not found",
    [HQ_ERR_CORRUPT] = "data corrupt",
    [HQ_ERR_BUSY] = "resource busy",
    [HQ_ERR_BUDGET] = "budget exceeded",
    [HQ_ERR_CANCELLED] = "cancelled",
    [HQ_ERR_INTERRUPTED] = "interrupted",
};
static_assert(sizeof status_str / sizeof *status_str == HQ_STATUS_COUNT,
              "status_str must have one entry per hq_status");

static const char *const status_name[] = {
    [HQ_OK] = "HQ_OK",
    [HQ_ERR_NOMEM] = "HQ_ERR_NOMEM",
    [HQ_ERR_INVALID_ARG] = "HQ_ERR_INVALID_ARG",
    [HQ_ERR_IO] = "HQ_ERR_IO",
    [HQ_ERR_PARSE] = "HQ_ERR_PARSE",
    [HQ_ERR_NETWORK] = "HQ_ERR_NETWORK",
    [HQ_ERR_HTTP] = "HQ_ERR_HTTP",
    [HQ_ERR_AUTH] = "HQ_ERR_AUTH",
    [HQ_ERR_TIMEOUT] = "HQ_ERR_TIMEOUT",
    [HQ_ERR_BACKEND] = "HQ_ERR_BACKEND",
    [HQ_ERR_DB] = "HQ_ERR_DB",
    [HQ_ERR_UNSUPPORTED] = "HQ_ERR_UNSUPPORTED",
    [HQ_ERR_MISUSE] = "HQ_ERR_MISUSE",
    [HQ_ERR_INTERNAL] = "HQ_ERR_INTERNAL",
    [HQ_ERR_NOT_FOUND] = "HQ_ERR_NOT_FOUND",
    [HQ_ERR_CORRUPT] = "HQ_ERR_CORRUPT",
    [HQ_ERR_BUSY] = "HQ_ERR_BUSY",
    [HQ_ERR_BUDGET] = "HQ_ERR_BUDGET",
    [HQ_ERR_CANCELLED] = "HQ_ERR_CANCELLED",
    [HQ_ERR_INTERRUPTED] = "HQ_ERR_INTERRUPTED",
};
static_assert(sizeof status_name / sizeof *status_name == HQ_STATUS_COUNT,
              "status_name must have one entry per hq_status");

const char *hq_status_str(hq_status s) {
    if ((unsigned)s >= HQ_STATUS_COUNT) return "unknown status";
    return status_str[s];
}

const char *hq_status_name(hq_status s) {
    if ((unsigned)s >= HQ_STATUS_COUNT) return "HQ_STATUS_UNKNOWN";
    return status_name[s];
}

/* ==== secrets ========================================================================= */

#define MAX_SECRETS 16
static char *secrets[MAX_SECRETS];
static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;

void hq_secret_register(const char *secret) {
    if (!secret || strlen(secret) < 4) return;
    pthread_mutex_lock(&secret_lock);
    for (int i = 0; i < MAX_SECRETS; i++) {
        if (secrets[i] && strcmp(secrets[i], secret) == 0) break;
        if (!secrets[i]) {
            /* plain malloc: secrets outlive any test's allocation accounting */
            size_t n = strlen(secret) + 1;
            char *copy = malloc(n); /* lint: allow-malloc */
            if (copy) memcpy(copy, secret, n);
            secrets[i] = copy;
            break;
        }
    }
    pthread_mutex_unlock(&secret_lock);
}

void hq_secret_unregister(const char *secret) {
    if (!secret) return;
    pthread_mutex_lock(&secret_lock);
    for (int i = 0; i < MAX_SECRETS; i++) {
        if (secrets[i] && strcmp(secrets[i], secret) == 0) {
            size_t n = strlen(secrets[i]);
            volatile char *v = secrets[i];
            for (size_t k = 0; k < n; k++) v[k] = 0;
            free(secrets[i]); /* lint: allow-malloc */
            secrets[i] = NULL;
        }
    }
    pthread_mutex_unlock(&secret_lock);
}

void hq_secret_clear_all(void) {
    pthread_mutex_lock(&secret_lock);
    for (int i = 0; i < MAX_SECRETS; i++) {
        if (secrets[i]) {
            size_t n = strlen(secrets[i]);
            volatile char *v = secrets[i];
            for (size_t k = 0; k < n; k++) v[k] = 0;
            free(secrets[i]); /* lint: allow-malloc */
            secrets[i] = NULL;
        }
    }
    pthread_mutex_unlock(&secret_lock);
}

void hq_redact(char *buf) {
    if (!buf) return;
    pthread_mutex_lock(&secret_lock);
    for (int i = 0; i < MAX_SECRETS; i++) {
        const char *s = secrets[i];
        if (!s) continue;
        size_t sl = strlen(s);
        char *hit;
        while ((hit = strstr(buf, s)) != NULL) {
            /* replace with "***" and close the gap */
            size_t tail = strlen(hit + sl);
            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + sl, tail + 1);
        }
    }
    pthread_mutex_unlock(&secret_lock);
}

/* ==== error detail ==================================================================== */

static _Thread_local hq_err last_err;

hq_status hq_vfailf(hq_err *e, hq_status s, const char *fmt, va_list ap) {
    char tmp[HQ_ERRMSG_MAX];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    hq_redact(tmp);
    last_err.status = s;
    memcpy(last_err.msg, tmp, sizeof tmp);
    if (e && e != &last_err) {
        e->status = s;
        memcpy(e->msg, tmp, sizeof tmp);
    }
    return s;
}

hq_status hq_failf(hq_err *e, hq_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hq_vfailf(e, s, fmt, ap);
    va_end(ap);
    return s;
}

hq_status hq_fail_prefix(hq_err *e, hq_status s, const char *fmt, ...) {
    char prefix[HQ_ERRMSG_MAX / 2];
    char old[HQ_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_err.msg, sizeof old);
    return hq_failf(e, s, "%s: %s", prefix, old);
}

const char *hq_last_error(void) {
    return last_err.msg[0] ? last_err.msg : hq_status_str(last_err.status);
}
hq_status hq_last_status(void) { return last_err.status; }
void hq_clear_error(void) {
    last_err.status = HQ_OK;
    last_err.msg[0] = '\0';
}

bool hq_handle_ok(const void *h, uint32_t magic) {
    return h && ((const hq_handle *)h)->magic == magic;
}

const char *hq_errmsg(const void *h) {
    if (!h) return hq_last_error();
    const hq_handle *hd = h;
    if (hd->magic == HQ_MAGIC_DEAD) return "handle was freed";
    return hd->err.msg[0] ? hd->err.msg : hq_status_str(hd->err.status);
}

/* ==== assertions ====================================================================== */

void hq_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr,
            "hqcnn: internal assertion failed: %s (%s:%d)\n"
            "---> this is a bug in hqcnn; please report it with the command you ran\n",
            expr, file, line);
    fflush(stderr);
    abort();
}
