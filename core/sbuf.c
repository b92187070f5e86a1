/*
 * core/sbuf.c — growable string buffer (hq_sbuf) with sticky out-of-memory state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static bool reserve(hq_sbuf *b, size_t extra) {
    if (b->oom) return false;
    size_t need = b->len + extra + 1;
    if (need < b->len) { /* overflow */
        b->oom = true;
        return false;
    }
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = hq_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void hq_sbuf_append(hq_sbuf *b, const void *data, size_t n) {
    if (!reserve(b, n)) return;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void hq_sbuf_puts(hq_sbuf *b, const char *s) { hq_sbuf_append(b, s, strlen(s)); }
void hq_sbuf_putc(hq_sbuf *b, char c) { hq_sbuf_append(b, &c, 1); }

void hq_sbuf_printf(hq_sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        hq_sbuf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void hq_sbuf_reset(hq_sbuf *b) {
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

void hq_sbuf_free(hq_sbuf *b) {
    HQ_FREE(b->p);
    b->len = b->cap = 0;
    b->oom = false;
}

hq_status hq_sbuf_status(const hq_sbuf *b) { return b->oom ? HQ_ERR_NOMEM : HQ_OK; }

char *hq_sbuf_take(hq_sbuf *b) {
    if (b->oom) {
        hq_sbuf_free(b);
        return NULL;
    }
    if (!b->p && !reserve(b, 0)) return NULL;
    if (b->p && b->len == 0) b->p[0] = '\0';
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void hq_sbuf_put_double(hq_sbuf *b, double v) {
    char tmp[40];
    if (isnan(v)) {
        hq_sbuf_puts(b, "nan");
        return;
    }
    if (isinf(v)) {
        hq_sbuf_puts(b, v > 0 ? "inf" : "-inf");
        return;
    }
    /* shortest of %.15g..%.17g that round-trips */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    hq_sbuf_puts(b, tmp);
}

void hq_sbuf_put_json_str(hq_sbuf *b, const char *s) {
    hq_sbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': hq_sbuf_puts(b, "\\\""); break;
        case '\\': hq_sbuf_puts(b, "\\\\"); break;
        case '\n': hq_sbuf_puts(b, "\\n"); break;
        case '\r': hq_sbuf_puts(b, "\\r"); break;
        case '\t': hq_sbuf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20)
                hq_sbuf_printf(b, "\\u%04x", *p);
            else
                hq_sbuf_putc(b, (char)*p);
        }
    }
    hq_sbuf_putc(b, '"');
}
