/*
 * backends/sigv4.c — AWS Signature Version 4: canonical request (URI normalisation and
 * double encoding, query sorting, header canonicalisation), string to sign, the
 * HMAC-SHA256 key chain (OpenSSL) and the Authorization header. See sigv4.h.
 */
#include "backends/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/sha256.h"

void hq_sigv4_now(char out[17]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void hq_sigv4_signed_free(hq_sigv4_signed *s) {
    if (!s) return;
    hq_free(s->authorization);
    if (s->canonical_request) {
        volatile char *v = s->canonical_request;
        size_t n = strlen(s->canonical_request);
        for (size_t i = 0; i < n; i++) v[i] = 0;
    }
    hq_free(s->canonical_request);
    hq_free(s->string_to_sign);
    hq_free(s->signed_headers);
    memset(s, 0, sizeof *s);
}

/* ==== encoding ========================================================================= */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode n bytes of s into b ('+' is kept: SigV4 queries use %20 for spaces). */
static void pct_decode(hq_sbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            hq_sbuf_putc(b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            hq_sbuf_putc(b, s[i]);
        }
    }
}

/* ==== canonical URI ==================================================================== */

static void canonical_uri(hq_sbuf *out, const char *path, bool s3) {
    if (s3) {
        hq_http_url_encode(out, path, "/%");
        return;
    }
    /* normalise: drop empty and "." segments, resolve ".." */
    size_t n = strlen(path);
    const char **seg = hq_malloc((n + 1) * sizeof *seg);
    size_t *len = hq_malloc((n + 1) * sizeof *len);
    if (!seg || !len) {
        hq_free(seg);
        hq_free(len);
        out->oom = true;
        return;
    }
    size_t k = 0;
    for (const char *p = path; *p;) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 1 && p[0] == '.') {
            /* skip */
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (k) k--;
        } else {
            seg[k] = p;
            len[k] = l;
            k++;
        }
        p += l;
    }
    hq_sbuf norm = HQ_SBUF_INIT;
    hq_sbuf_putc(&norm, '/');
    for (size_t i = 0; i < k; i++) {
        if (i) hq_sbuf_putc(&norm, '/');
        hq_sbuf_append(&norm, seg[i], len[i]);
    }
    /* a trailing slash survives normalisation (unless the path became "/") */
    if (k && n && path[n - 1] == '/') hq_sbuf_putc(&norm, '/');
    hq_free(seg);
    hq_free(len);
    if (norm.oom) {
        out->oom = true;
    } else {
        hq_http_url_encode(out, norm.p, "/");
    }
    hq_sbuf_free(&norm);
}

/* ==== canonical query ================================================================== */

typedef struct kv {
    char *k; /* encoded name */
    char *v; /* encoded value */
} kv;

static int kv_cmp(const void *a, const void *b) {
    const kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encode_component(const char *s, size_t n) {
    hq_sbuf dec = HQ_SBUF_INIT, enc = HQ_SBUF_INIT;
    pct_decode(&dec, s, n);
    hq_sbuf_putc(&dec, '\0');
    if (!dec.oom) hq_http_url_encode(&enc, dec.p, NULL);
    if (!enc.p && !enc.oom) hq_sbuf_puts(&enc, "");
    bool oom = dec.oom || enc.oom;
    hq_sbuf_free(&dec);
    if (oom) {
        hq_sbuf_free(&enc);
        return NULL;
    }
    char *r = enc.p ? hq_sbuf_take(&enc) : hq_strdup("");
    return r;
}

static hq_status canonical_query(hq_sbuf *out, const char *q) {
    if (!q || !*q) return HQ_OK;
    size_t cap = 1;
    for (const char *p = q; *p; p++) cap += *p == '&';
    kv *a = hq_calloc(cap, sizeof *a);
    if (!a) return HQ_ERR_NOMEM;
    size_t n = 0;
    hq_status st = HQ_OK;
    for (const char *p = q; *p;) {
        const char *e = strchr(p, '&');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l) {
            const char *eq = memchr(p, '=', l);
            size_t kl = eq ? (size_t)(eq - p) : l;
            a[n].k = encode_component(p, kl);
            a[n].v = eq ? encode_component(eq + 1, l - kl - 1) : hq_strdup("");
            n++;
            if (!a[n - 1].k || !a[n - 1].v) {
                st = HQ_ERR_NOMEM;
                break;
            }
        }
        p += l;
        if (*p == '&') p++;
    }
    if (st == HQ_OK) {
        qsort(a, n, sizeof *a, kv_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i) hq_sbuf_putc(out, '&');
            hq_sbuf_puts(out, a[i].k);
            hq_sbuf_putc(out, '=');
            hq_sbuf_puts(out, a[i].v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        hq_free(a[i].k);
        hq_free(a[i].v);
    }
    hq_free(a);
    return st;
}

/* ==== canonical headers ================================================================ */

typedef struct hdr {
    char *name;  /* lower case */
    char *value; /* trimmed, spaces collapsed */
    int order;   /* input order, for a stable sort */
} hdr;

static int hdr_cmp(const void *a, const void *b) {
    const hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static char *lower_dup(const char *s) {
    char *r = hq_strdup(s);
    if (r)
        for (char *p = r; *p; p++) *p = (char)tolower((unsigned char)*p);
    return r;
}

static char *trim_collapse(const char *s) {
    size_t n = strlen(s);
    char *r = hq_malloc(n + 1);
    if (!r) return NULL;
    size_t k = 0;
    bool sp = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t') {
            sp = k > 0;
            continue;
        }
        if (sp) r[k++] = ' ';
        sp = false;
        r[k++] = c;
    }
    r[k] = '\0';
    return r;
}

static bool has_header(const hq_sigv4_request *rq, const char *name) {
    for (int i = 0; i < rq->n_headers; i++)
        if (!strcasecmp(rq->headers[i].name, name)) return true;
    return false;
}

/* ==== HMAC ============================================================================= */

static hq_status hmac(const void *key, size_t klen, const void *msg, size_t mlen,
                      unsigned char out[32]) {
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) || olen != 32) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        return hq_failf(NULL, HQ_ERR_AUTH, "hq_sigv4_sign: OpenSSL HMAC-SHA256 failed: %s", e);
    }
    return HQ_OK;
}

static bool valid_amz_date(const char *d) {
    if (strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z') return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)d[i])) return false;
    return true;
}

/* ==== sign ============================================================================= */

hq_status hq_sigv4_sign(const hq_sigv4_creds *creds, const hq_sigv4_request *rq,
                        hq_sigv4_signed *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    memset(out, 0, sizeof *out);
    if (!creds || !creds->access_key_id || !*creds->access_key_id || !creds->secret_access_key ||
        !*creds->secret_access_key)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: credentials need an access key id and a secret access key", __func__);
    if (!rq || !rq->method || !*rq->method || !rq->host || !*rq->host || !rq->path || !rq->region ||
        !*rq->region || !rq->service || !*rq->service)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: request needs method, host, path, region and service", __func__);
    if (rq->path[0] != '/')
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: path '%s' must start with '/'", __func__,
                        rq->path);
    if (rq->n_headers < 0 || (rq->n_headers && !rq->headers))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_headers %d with headers %s", __func__,
                        rq->n_headers, rq->headers ? "set" : "NULL");
    for (int i = 0; i < rq->n_headers; i++) {
        const hq_http_header *h = &rq->headers[i];
        if (!h->name || !*h->name || !h->value || strpbrk(h->name, "\r\n: ") ||
            strpbrk(h->value, "\r\n"))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: header %d ('%s') is invalid", __func__,
                            i, h->name ? h->name : "(null)");
    }
    if (rq->amz_date) {
        if (!valid_amz_date(rq->amz_date))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: amz_date '%s' is not of the form YYYYMMDDTHHMMSSZ", __func__,
                            rq->amz_date);
        memcpy(out->amz_date, rq->amz_date, 17);
    } else {
        hq_sigv4_now(out->amz_date);
    }
    hq_sha256_hex(rq->body ? rq->body : "", rq->body ? rq->body_len : 0, out->content_sha256);

    bool add_date = !has_header(rq, "x-amz-date") && !has_header(rq, "date");
    bool add_token =
        creds->session_token && *creds->session_token && !has_header(rq, "x-amz-security-token");
    bool add_sha = (rq->s3 || rq->content_sha256_header) && !has_header(rq, "x-amz-content-sha256");
    bool add_host = !has_header(rq, "host");

    int nh = rq->n_headers + 4;
    hdr *hs = hq_calloc((size_t)nh, sizeof *hs);
    hq_sbuf cr = HQ_SBUF_INIT, sh = HQ_SBUF_INIT, sts = HQ_SBUF_INIT, auth = HQ_SBUF_INIT;
    hq_status st = HQ_OK;
    if (!hs) {
        st = HQ_ERR_NOMEM;
        goto done;
    }
    int k = 0;
    for (int i = 0; i < rq->n_headers; i++, k++) {
        hs[k].name = lower_dup(rq->headers[i].name);
        hs[k].value = trim_collapse(rq->headers[i].value);
        hs[k].order = k;
    }
    struct {
        bool on;
        const char *n, *v;
    } extra[4] = {{add_host, "host", rq->host},
                  {add_date, "x-amz-date", out->amz_date},
                  {add_token, "x-amz-security-token", creds->session_token},
                  {add_sha, "x-amz-content-sha256", out->content_sha256}};
    for (int i = 0; i < 4; i++) {
        if (!extra[i].on) continue;
        hs[k].name = hq_strdup(extra[i].n);
        hs[k].value = trim_collapse(extra[i].v);
        hs[k].order = k;
        k++;
    }
    for (int i = 0; i < k; i++)
        if (!hs[i].name || !hs[i].value) st = HQ_ERR_NOMEM;
    if (st != HQ_OK) goto done;
    qsort(hs, (size_t)k, sizeof *hs, hdr_cmp);

    /* canonical request */
    hq_sbuf_puts(&cr, rq->method);
    hq_sbuf_putc(&cr, '\n');
    canonical_uri(&cr, rq->path, rq->s3);
    hq_sbuf_putc(&cr, '\n');
    if (canonical_query(&cr, rq->query) != HQ_OK) {
        st = HQ_ERR_NOMEM;
        goto done;
    }
    hq_sbuf_putc(&cr, '\n');
    for (int i = 0; i < k; i++) {
        bool same = i > 0 && !strcmp(hs[i].name, hs[i - 1].name);
        if (same) {
            hq_sbuf_putc(&cr, ',');
        } else {
            if (i) hq_sbuf_putc(&cr, '\n');
            hq_sbuf_puts(&cr, hs[i].name);
            hq_sbuf_putc(&cr, ':');
            if (sh.len) hq_sbuf_putc(&sh, ';');
            hq_sbuf_puts(&sh, hs[i].name);
        }
        hq_sbuf_puts(&cr, hs[i].value);
    }
    hq_sbuf_puts(&cr, "\n\n");
    hq_sbuf_puts(&cr, sh.p ? sh.p : "");
    hq_sbuf_putc(&cr, '\n');
    hq_sbuf_puts(&cr, out->content_sha256);
    if (cr.oom || sh.oom) {
        st = HQ_ERR_NOMEM;
        goto done;
    }

    /* string to sign */
    char date8[9];
    memcpy(date8, out->amz_date, 8);
    date8[8] = '\0';
    char crhash[65];
    hq_sha256_hex(cr.p, cr.len, crhash);
    hq_sbuf scope = HQ_SBUF_INIT;
    hq_sbuf_printf(&scope, "%s/%s/%s/aws4_request", date8, rq->region, rq->service);
    hq_sbuf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", out->amz_date, scope.p ? scope.p : "",
                   crhash);

    /* key chain */
    unsigned char kd[32], kr[32], ks[32], kk[32], sig[32];
    size_t sl = strlen(creds->secret_access_key);
    char *k0 = hq_malloc(sl + 5);
    if (!k0 || sts.oom || scope.oom) {
        hq_free(k0);
        hq_sbuf_free(&scope);
        st = HQ_ERR_NOMEM;
        goto done;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, creds->secret_access_key, sl + 1);
    st = hmac(k0, sl + 4, date8, 8, kd);
    {
        volatile char *v = k0;
        for (size_t i = 0; i < sl + 4; i++) v[i] = 0;
    }
    hq_free(k0);
    if (st == HQ_OK) st = hmac(kd, 32, rq->region, strlen(rq->region), kr);
    if (st == HQ_OK) st = hmac(kr, 32, rq->service, strlen(rq->service), ks);
    if (st == HQ_OK) st = hmac(ks, 32, "aws4_request", 12, kk);
    if (st == HQ_OK) st = hmac(kk, 32, sts.p, sts.len, sig);
    {
        volatile unsigned char *v[4] = {kd, kr, ks, kk};
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 32; i++) v[j][i] = 0;
    }
    if (st != HQ_OK) {
        hq_sbuf_free(&scope);
        goto done_keep_msg;
    }
    hq_hex_encode(sig, 32, out->signature);
    hq_sbuf_printf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                   creds->access_key_id, scope.p, sh.p ? sh.p : "", out->signature);
    hq_sbuf_free(&scope);
    if (auth.oom) {
        st = HQ_ERR_NOMEM;
        goto done;
    }
    out->authorization = hq_sbuf_take(&auth);
    out->canonical_request = hq_sbuf_take(&cr);
    out->string_to_sign = hq_sbuf_take(&sts);
    out->signed_headers = sh.p ? hq_sbuf_take(&sh) : hq_strdup("");
    if (!out->authorization || !out->canonical_request || !out->string_to_sign ||
        !out->signed_headers) {
        st = HQ_ERR_NOMEM;
        goto done;
    }
    int a = 0;
    if (add_date) out->headers[a++] = (hq_http_header){"X-Amz-Date", out->amz_date};
    if (add_token)
        out->headers[a++] = (hq_http_header){"X-Amz-Security-Token", creds->session_token};
    if (add_sha) out->headers[a++] = (hq_http_header){"x-amz-content-sha256", out->content_sha256};
    out->headers[a++] = (hq_http_header){"Authorization", out->authorization};
    out->n_headers = a;

done:
    if (st == HQ_ERR_NOMEM) hq_failf(NULL, st, "%s: out of memory", __func__);
done_keep_msg:
    if (hs)
        for (int i = 0; i < nh; i++) {
            hq_free(hs[i].name);
            hq_free(hs[i].value);
        }
    hq_free(hs);
    if (cr.p) {
        volatile char *v = cr.p;
        for (size_t i = 0; i < cr.len; i++) v[i] = 0;
    }
    hq_sbuf_free(&cr);
    hq_sbuf_free(&sh);
    hq_sbuf_free(&sts);
    hq_sbuf_free(&auth);
    if (st != HQ_OK) hq_sigv4_signed_free(out);
    return st;
}
