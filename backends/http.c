/*
 * backends/http.c — the HTTP layer on libcurl: URL policy (TLS always verified, plain
 * http only to loopback), one easy handle per client, the retry loop (429 / 5xx /
 * network errors, Retry-After, exponential backoff with jitter), translation of curl and
 * HTTP failures into hq_status + message, provider error-body extraction and redacted
 * debug logging. Provider request shapes live in ionq.c / ibm.c / braket.c.
 */
#include "backends/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/rng.h"

#define HQ_MAGIC_HTTP 0x48545450u /* "HTTP" */

#define DEF_CONNECT_MS  10000L
#define DEF_TIMEOUT_MS  60000L
#define DEF_MAX_BODY    ((size_t)256 << 20)
#define DEF_TRIES       5
#define DEF_BASE_DELAY  1.0
#define DEF_MAX_DELAY   60.0
#define DEF_MAX_RA      120.0
#define DEF_JITTER      0.5
#define MAX_TRIES_LIMIT 20

struct hq_http {
    hq_handle h;
    CURL *curl;
    hq_http_options opt; /* effective options (defaults filled in) */
    char *user_agent;    /* owned copy */
    char *ca_file;       /* owned copy or NULL */
    hq_rng rng;          /* jitter stream */
    char curl_err[CURL_ERROR_SIZE];
};

static const char *const method_names[] = {
    [HQ_HTTP_GET] = "GET",       [HQ_HTTP_POST] = "POST",   [HQ_HTTP_PUT] = "PUT",
    [HQ_HTTP_DELETE] = "DELETE", [HQ_HTTP_PATCH] = "PATCH",
};
_Static_assert(sizeof method_names / sizeof *method_names == HQ_HTTP_METHOD_COUNT,
               "one name per hq_http_method");

const char *hq_http_method_name(hq_http_method m) {
    return (unsigned)m < HQ_HTTP_METHOD_COUNT ? method_names[m] : "?";
}

/* ==== libcurl global init ============================================================== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ==== URL policy ======================================================================= */

typedef struct url_parts {
    char scheme[16];
    char host[256];
    bool has_userinfo;
} url_parts;

static hq_status url_split(const char *url, url_parts *p, char *why, size_t why_cap) {
    memset(p, 0, sizeof *p);
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, why_cap, "out of memory");
        return HQ_ERR_NOMEM;
    }
    hq_status st = HQ_OK;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc != CURLUE_OK) {
        snprintf(why, why_cap, "malformed URL (%s)", curl_url_strerror(rc));
        st = HQ_ERR_INVALID_ARG;
        goto done;
    }
    char *s = NULL;
    if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK && s) {
        snprintf(p->scheme, sizeof p->scheme, "%s", s);
        curl_free(s);
        s = NULL;
    }
    if (curl_url_get(u, CURLUPART_HOST, &s, 0) == CURLUE_OK && s) {
        snprintf(p->host, sizeof p->host, "%s", s);
        curl_free(s);
        s = NULL;
    }
    if (curl_url_get(u, CURLUPART_USER, &s, 0) == CURLUE_OK && s) {
        p->has_userinfo = true;
        curl_free(s);
        s = NULL;
    }
    if (curl_url_get(u, CURLUPART_PASSWORD, &s, 0) == CURLUE_OK && s) {
        p->has_userinfo = true;
        curl_free(s);
    }
done:
    curl_url_cleanup(u);
    return st;
}

static bool host_is_loopback(const char *host) {
    if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost.")) return true;
    if (!strcmp(host, "[::1]") || !strcmp(host, "::1")) return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    return false;
}

bool hq_http_url_is_loopback(const char *url) {
    if (!url) return false;
    url_parts p;
    char why[128];
    if (url_split(url, &p, why, sizeof why) != HQ_OK) return false;
    if (strcasecmp(p.scheme, "http") && strcasecmp(p.scheme, "https")) return false;
    return host_is_loopback(p.host);
}

static hq_status check_url(hq_err *e, const char *fn, const char *url, bool *loopback) {
    if (!url || !*url) return hq_failf(e, HQ_ERR_INVALID_ARG, "%s: URL is NULL or empty", fn);
    url_parts p;
    char why[160];
    hq_status st = url_split(url, &p, why, sizeof why);
    if (st != HQ_OK) return hq_failf(e, st, "%s: %s", fn, why);
    bool https = !strcasecmp(p.scheme, "https");
    bool http = !strcasecmp(p.scheme, "http");
    if (!https && !http)
        return hq_failf(e, HQ_ERR_INVALID_ARG,
                        "%s: unsupported URL scheme '%s' (only https, or http to a loopback "
                        "host)",
                        fn, p.scheme);
    if (p.has_userinfo)
        return hq_failf(e, HQ_ERR_INVALID_ARG,
                        "%s: the URL carries a user name or password; pass credentials in "
                        "headers, never in URLs",
                        fn);
    bool lo = host_is_loopback(p.host);
    if (http && !lo)
        return hq_failf(e, HQ_ERR_INVALID_ARG,
                        "%s: refusing plain http:// to non-loopback host '%s': credentials "
                        "must not cross a network in clear text ---> HINT: use https://, or "
                        "a 127.0.0.1 / ::1 / localhost address for a local emulator",
                        fn, p.host);
    if (loopback) *loopback = lo;
    return HQ_OK;
}

hq_status hq_http_check_url(const char *url) { return check_url(NULL, __func__, url, NULL); }

/* The URL without query and fragment, for messages (a query could carry a signature). */
static void url_for_message(const char *url, char *buf, size_t cap) {
    size_t n = strcspn(url, "?#");
    if (n >= cap) n = cap - 1;
    memcpy(buf, url, n);
    buf[n] = '\0';
}

/* ==== encoding, Retry-After ============================================================ */

void hq_http_url_encode(hq_sbuf *out, const char *s, const char *keep) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (isalnum((int)c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (keep && c && strchr(keep, (int)c))) {
            hq_sbuf_putc(out, (char)c);
        } else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
            hq_sbuf_append(out, t, 3);
        }
    }
}

double hq_http_parse_retry_after(const char *value, double now_s) {
    if (!value) return -1;
    while (*value == ' ' || *value == '\t') value++;
    if (!*value) return -1;
    if (isdigit((unsigned char)*value)) {
        const char *p = value;
        double v = 0;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p - '0');
            if (v > 1e9) return -1; /* absurd; treat as unparsable */
            p++;
        }
        while (*p == ' ' || *p == '\t') p++;
        if (*p) return -1;
        return v;
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1) return -1;
    double d = (double)t - now_s;
    return d > 0 ? d : 0;
}

/* ==== error bodies ===================================================================== */

static void clean_copy(char *dst, size_t cap, const char *src, size_t n) {
    size_t k = 0;
    bool space = false;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == 0) break;
        if (c < 0x20 || c == 0x7f) {
            if (!space && k) {
                dst[k++] = ' ';
                space = true;
            }
            continue;
        }
        space = c == ' ';
        dst[k++] = (char)c;
    }
    while (k && dst[k - 1] == ' ') k--;
    dst[k] = '\0';
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring && *v->valuestring ? v->valuestring : NULL;
}

static bool looks_html(const char *body, size_t n, const char *ctype) {
    if (ctype && strstr(ctype, "html")) return true;
    size_t i = 0;
    while (i < n && isspace((unsigned char)body[i])) i++;
    return i < n && body[i] == '<';
}

#define MSG_MAX 300

char *hq_http_error_message(const char *body, size_t body_len, const char *content_type,
                            long status, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    buf[0] = '\0';
    size_t lim = cap < MSG_MAX + 1 ? cap : MSG_MAX + 1;
    if (!body || body_len == 0) {
        snprintf(buf, cap, "(empty body)");
        return buf;
    }
    if (looks_html(body, body_len, content_type)) {
        snprintf(buf, cap, "the server returned an HTML error page (status %ld)", status);
        return buf;
    }
    cJSON *j = cJSON_ParseWithLength(body, body_len);
    if (j && cJSON_IsObject(j)) {
        char tmp[2 * MSG_MAX];
        tmp[0] = '\0';
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        const char *msg = json_str(j, "message");
        if (!msg) msg = json_str(j, "Message");
        const char *type = json_str(j, "__type");
        if (cJSON_IsArray(errors) && cJSON_GetArraySize(errors) > 0) {
            /* IBM: {"errors":[{"code":1002,"message":"..","more_info":".."}]} */
            const cJSON *e0 = cJSON_GetArrayItem(errors, 0);
            const char *m = cJSON_IsObject(e0) ? json_str(e0, "message") : NULL;
            const cJSON *code = cJSON_IsObject(e0) ? cJSON_GetObjectItem(e0, "code") : NULL;
            if (m && cJSON_IsNumber(code))
                snprintf(tmp, sizeof tmp, "%s (code %.0f)", m, code->valuedouble);
            else if (m)
                snprintf(tmp, sizeof tmp, "%s", m);
            else if (cJSON_IsString(e0))
                snprintf(tmp, sizeof tmp, "%s", e0->valuestring);
        } else if (cJSON_IsObject(err)) {
            /* IonQ: {"error":{"type":..,"message":..}} */
            const char *m = json_str(err, "message");
            const char *t = json_str(err, "type");
            if (m && t)
                snprintf(tmp, sizeof tmp, "%s: %s", t, m);
            else if (m || t)
                snprintf(tmp, sizeof tmp, "%s", m ? m : t);
        } else if (type) {
            /* AWS: {"__type":"com.amazon...#ValidationException","message":".."} */
            const char *hash = strrchr(type, '#');
            const char *t = hash ? hash + 1 : type;
            if (msg)
                snprintf(tmp, sizeof tmp, "%s: %s", t, msg);
            else
                snprintf(tmp, sizeof tmp, "%s", t);
        } else if (msg) {
            /* IonQ {"error":"Bad Request","message":..} or {"code":..,"message":..} */
            const char *e = cJSON_IsString(err) ? err->valuestring : NULL;
            if (e && *e && strcmp(e, msg))
                snprintf(tmp, sizeof tmp, "%s: %s", e, msg);
            else
                snprintf(tmp, sizeof tmp, "%s", msg);
        } else if (cJSON_IsString(err) && err->valuestring) {
            snprintf(tmp, sizeof tmp, "%s", err->valuestring);
        } else {
            const char *d = json_str(j, "detail");
            if (!d) d = json_str(j, "errorMessage");
            if (d) snprintf(tmp, sizeof tmp, "%s", d);
        }
        if (tmp[0]) {
            clean_copy(buf, lim, tmp, strlen(tmp));
            if (strlen(tmp) >= lim - 1 && lim > 4) memcpy(buf + lim - 4, "...", 4);
            cJSON_Delete(j);
            return buf;
        }
    }
    cJSON_Delete(j);
    /* anything else: the first line, cleaned and truncated */
    size_t n = 0;
    while (n < body_len && body[n] != '\r' && body[n] != '\n' && body[n] != '\0') n++;
    clean_copy(buf, lim, body, n);
    if (n >= lim - 1 && lim > 4) memcpy(buf + lim - 4, "...", 4);
    if (!buf[0]) snprintf(buf, cap, "(unreadable body of %zu bytes)", body_len);
    return buf;
}

/* ==== response ========================================================================= */

void hq_http_response_free(hq_http_response *r) {
    if (!r) return;
    HQ_FREE(r->body);
    HQ_FREE(r->headers);
    r->body_len = 0;
}

bool hq_http_response_header(const hq_http_response *r, const char *name, char *buf, size_t cap) {
    if (cap) buf[0] = '\0';
    if (!r || !r->headers || !name) return false;
    size_t nl = strlen(name);
    for (const char *line = r->headers; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vl = (size_t)(ve - v);
            if (cap) {
                if (vl >= cap) vl = cap - 1;
                memcpy(buf, v, vl);
                buf[vl] = '\0';
            }
            return true;
        }
        if (!end) break;
        line = end + 1;
    }
    return false;
}

/* ==== curl callbacks =================================================================== */

typedef struct xfer {
    hq_sbuf body;
    hq_sbuf headers;
    size_t max_body;
    bool too_big;
} xfer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->body.len + n > x->max_body) {
        x->too_big = true;
        return 0; /* abort the transfer */
    }
    hq_sbuf_append(&x->body, ptr, n);
    return x->body.oom ? 0 : n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    /* a new status line starts a new header block (100 Continue, proxies) */
    if (n >= 5 && !memcmp(ptr, "HTTP/", 5)) hq_sbuf_reset(&x->headers);
    if (x->headers.len + n < 256 * 1024) hq_sbuf_append(&x->headers, ptr, n);
    return n;
}

/* Header names whose values never reach a log. */
static bool header_is_sensitive(const char *line, size_t len) {
    static const char *const names[] = {
        "authorization",        "proxy-authorization", "cookie",         "set-cookie",
        "x-amz-security-token", "x-api-key",           "x-access-token", "apikey",
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(names); i++) {
        size_t nl = strlen(names[i]);
        if (len > nl && !strncasecmp(line, names[i], nl) && line[nl] == ':') return true;
    }
    return false;
}

static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *ud) {
    (void)c;
    (void)ud;
    switch (type) {
    case CURLINFO_TEXT: {
        char line[512];
        clean_copy(line, sizeof line, data, size);
        if (line[0]) HQ_LOGD("http: * %s", line);
        break;
    }
    case CURLINFO_HEADER_IN:
    case CURLINFO_HEADER_OUT: {
        const char *dir = type == CURLINFO_HEADER_IN ? "<" : ">";
        size_t i = 0;
        while (i < size) {
            size_t j = i;
            while (j < size && data[j] != '\n') j++;
            size_t len = j - i;
            char line[512];
            if (header_is_sensitive(data + i, len)) {
                size_t colon = (size_t)((const char *)memchr(data + i, ':', len) - (data + i));
                clean_copy(line, sizeof line, data + i, colon);
                HQ_LOGD("http: %s %s: [redacted]", dir, line);
            } else {
                clean_copy(line, sizeof line, data + i, len);
                if (line[0]) HQ_LOGD("http: %s %s", dir, line);
            }
            i = j + 1;
        }
        break;
    }
    case CURLINFO_DATA_IN:
    case CURLINFO_DATA_OUT:
        HQ_LOGD("http: %s [%zu bytes of body]", type == CURLINFO_DATA_IN ? "<" : ">", size);
        break;
    default: break;
    }
    return 0;
}

/* ==== client =========================================================================== */

hq_status hq_http_create(const hq_http_options *opt, hq_http **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    *out = NULL;
    hq_http_options o = {0};
    if (opt) o = *opt;
    if (o.connect_timeout_ms < 0 || o.timeout_ms < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: timeouts must be >= 0 ms (0 = default), got connect %ld, "
                        "transfer %ld",
                        __func__, o.connect_timeout_ms, o.timeout_ms);
    hq_http_policy *p = &o.policy;
    if (p->max_tries < 0 || p->max_tries > MAX_TRIES_LIMIT)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: policy.max_tries %d out of range [0, %d] (0 = default %d)", __func__,
                        p->max_tries, MAX_TRIES_LIMIT, DEF_TRIES);
    if (!(p->base_delay_s >= 0) || !(p->max_delay_s >= 0) || !(p->max_retry_after_s >= 0) ||
        !isfinite(p->base_delay_s) || !isfinite(p->max_delay_s) || !isfinite(p->max_retry_after_s))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: policy delays must be finite and >= 0 seconds (0 = default)",
                        __func__);
    if (!(p->jitter <= 1) || !isfinite(p->jitter))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: policy.jitter %g out of range [-1, 1] (negative = none)", __func__,
                        p->jitter);
    if (!o.connect_timeout_ms) o.connect_timeout_ms = DEF_CONNECT_MS;
    if (!o.timeout_ms) o.timeout_ms = DEF_TIMEOUT_MS;
    if (!o.max_body_bytes) o.max_body_bytes = DEF_MAX_BODY;
    if (!p->max_tries) p->max_tries = DEF_TRIES;
    if (p->base_delay_s == 0) p->base_delay_s = DEF_BASE_DELAY;
    if (p->max_delay_s == 0) p->max_delay_s = DEF_MAX_DELAY;
    if (p->max_retry_after_s == 0) p->max_retry_after_s = DEF_MAX_RA;
    if (p->jitter == 0) p->jitter = DEF_JITTER;
    if (p->jitter < 0) p->jitter = 0;

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return hq_failf(NULL, HQ_ERR_NETWORK, "%s: libcurl initialisation failed: %s", __func__,
                        curl_easy_strerror(curl_init_rc));
    hq_http *h = hq_calloc(1, sizeof *h);
    if (!h) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
    h->h.magic = HQ_MAGIC_HTTP;
    h->opt = o;
    h->user_agent = hq_strdup(o.user_agent ? o.user_agent : "hqcnn/0.1");
    h->ca_file = o.ca_file ? hq_strdup(o.ca_file) : NULL;
    h->curl = curl_easy_init();
    if (!h->user_agent || (o.ca_file && !h->ca_file) || !h->curl) {
        bool curl_failed = h->user_agent && (!o.ca_file || h->ca_file) && !h->curl;
        hq_http_free(h);
        return curl_failed ? hq_failf(NULL, HQ_ERR_NETWORK, "%s: curl_easy_init failed", __func__)
                           : hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
    }
    h->opt.user_agent = h->user_agent;
    h->opt.ca_file = h->ca_file;
    hq_rng_init(&h->rng, o.jitter_seed, hq_rng_stream("http-jitter", 0, 0, 0), 0);
    *out = h;
    return HQ_OK;
}

void hq_http_free(hq_http *h) {
    if (!h || h->h.magic != HQ_MAGIC_HTTP) return;
    if (h->curl) curl_easy_cleanup(h->curl);
    hq_free(h->user_agent);
    hq_free(h->ca_file);
    h->h.magic = HQ_MAGIC_DEAD;
    hq_free(h);
}

/* ==== one attempt ====================================================================== */

typedef enum outcome {
    OUT_DONE = 0,    /* a response to return (success or final HTTP error) */
    OUT_RETRY_ANY,   /* retriable for every method (429, nothing sent) */
    OUT_RETRY_IDEM,  /* retriable only for idempotent requests */
    OUT_FINAL_ERROR, /* transport error, not retriable */
} outcome;

typedef struct attempt_result {
    CURLcode rc;
    long status;
    bool too_big;
    bool sent; /* some request bytes reached the wire */
    char curl_msg[CURL_ERROR_SIZE + 64];
} attempt_result;

static bool valid_header_text(const char *s) {
    for (; *s; s++)
        if (*s == '\r' || *s == '\n') return false;
    return true;
}

static hq_status build_headers(hq_http *h, const hq_http_request *req, struct curl_slist **out) {
    struct curl_slist *list = NULL;
    hq_sbuf line = HQ_SBUF_INIT;
    for (int i = 0; i < req->n_headers; i++) {
        const hq_http_header *hd = &req->headers[i];
        if (!hd->name || !*hd->name || !hd->value || strchr(hd->name, ':') ||
            strchr(hd->name, ' ') || !valid_header_text(hd->name) ||
            !valid_header_text(hd->value)) {
            curl_slist_free_all(list);
            hq_sbuf_free(&line);
            return hq_failf(&h->h.err, HQ_ERR_INVALID_ARG,
                            "hq_http_perform: header %d ('%s') is invalid: names must be "
                            "non-empty without ':' or spaces, values non-NULL without CR/LF",
                            i, hd->name ? hd->name : "(null)");
        }
        hq_sbuf_reset(&line);
        hq_sbuf_printf(&line, "%s: %s", hd->name, hd->value);
        struct curl_slist *nl = line.oom ? NULL : curl_slist_append(list, line.p);
        if (!nl) {
            curl_slist_free_all(list);
            hq_sbuf_free(&line);
            return hq_failf(&h->h.err, HQ_ERR_NOMEM, "hq_http_perform: out of memory");
        }
        list = nl;
    }
    /* no "Expect: 100-continue" round trip for large bodies */
    struct curl_slist *nl = curl_slist_append(list, "Expect:");
    if (nl) list = nl;
    /* scrub the formatted line: it may have held an Authorization value */
    if (line.p) {
        volatile char *v = line.p;
        for (size_t k = 0; k < line.cap; k++) v[k] = 0;
    }
    hq_sbuf_free(&line);
    if (!nl) {
        curl_slist_free_all(list);
        return hq_failf(&h->h.err, HQ_ERR_NOMEM, "hq_http_perform: out of memory");
    }
    *out = list;
    return HQ_OK;
}

static void slist_scrub_free(struct curl_slist *l) {
    for (struct curl_slist *p = l; p; p = p->next) {
        volatile char *v = p->data;
        size_t n = strlen(p->data);
        for (size_t k = 0; k < n; k++) v[k] = 0;
    }
    curl_slist_free_all(l);
}

static void run_attempt(hq_http *h, const hq_http_request *req, struct curl_slist *hdrs,
                        bool loopback, bool idempotent, xfer *x, attempt_result *ar) {
    CURL *c = h->curl;
    memset(ar, 0, sizeof *ar);
    hq_sbuf_reset(&x->body);
    hq_sbuf_reset(&x->headers);
    x->too_big = false;
    h->curl_err[0] = '\0';
    curl_easy_reset(c); /* keeps live connections */
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    if (loopback) curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    /* libcurl silently re-sends a request once when a reused connection turns out to be
     * dead; a non-idempotent request therefore always gets a fresh connection, so it is
     * sent at most once per attempt we decide on */
    if (!idempotent) curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->opt.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : h->opt.timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err);
    if (hq_log_get_level() >= HQ_LOG_DEBUG) {
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
        curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    }
    const char *body = req->body ? (const char *)req->body : "";
    curl_off_t blen = req->body ? (curl_off_t)req->body_len : 0;
    switch (req->method) {
    case HQ_HTTP_GET: curl_easy_setopt(c, CURLOPT_HTTPGET, 1L); break;
    case HQ_HTTP_POST:
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, blen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        break;
    case HQ_HTTP_PUT:
    case HQ_HTTP_PATCH:
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, hq_http_method_name(req->method));
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, blen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        break;
    case HQ_HTTP_DELETE:
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        if (req->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, blen);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        break;
    default: break;
    }
    ar->rc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    ar->status = st;
    long reqsize = 0;
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &reqsize);
    ar->sent = reqsize > 0;
    ar->too_big = x->too_big;
    if (ar->rc != CURLE_OK) {
        const char *detail = h->curl_err[0] ? h->curl_err : "";
        snprintf(ar->curl_msg, sizeof ar->curl_msg, "%s%s%s", curl_easy_strerror(ar->rc),
                 detail[0] ? ": " : "", detail);
        /* the error buffer ends with a newline sometimes */
        size_t n = strlen(ar->curl_msg);
        while (n && (ar->curl_msg[n - 1] == '\n' || ar->curl_msg[n - 1] == '\r'))
            ar->curl_msg[--n] = '\0';
    }
}

static bool status_retriable_5xx(long s) { return s >= 500 && s <= 599 && s != 501 && s != 505; }

static outcome classify(const hq_http *h, const hq_http_request *req, const attempt_result *ar,
                        hq_status *transport) {
    *transport = HQ_OK;
    if (ar->rc != CURLE_OK) {
        if (ar->too_big) return OUT_FINAL_ERROR;
        switch (ar->rc) {
        case CURLE_OPERATION_TIMEDOUT:
            *transport = HQ_ERR_TIMEOUT;
            return ar->sent ? OUT_RETRY_IDEM : OUT_RETRY_ANY;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT: *transport = HQ_ERR_NETWORK; return OUT_RETRY_ANY;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
            *transport = HQ_ERR_NETWORK;
            return ar->sent ? OUT_RETRY_IDEM : OUT_RETRY_ANY;
        default: *transport = HQ_ERR_NETWORK; return OUT_FINAL_ERROR;
        }
    }
    long s = ar->status;
    if (s == 429) return OUT_RETRY_ANY;
    if (status_retriable_5xx(s)) return OUT_RETRY_IDEM;
    if (s == 409 && req->method == HQ_HTTP_GET && h->opt.policy.retry_409_get)
        return OUT_RETRY_IDEM;
    return OUT_DONE;
}

static double backoff_delay(hq_http *h, int attempt) {
    const hq_http_policy *p = &h->opt.policy;
    double d = p->base_delay_s * ldexp(1.0, attempt - 1 > 30 ? 30 : attempt - 1);
    if (d > p->max_delay_s) d = p->max_delay_s;
    double u = hq_rng_uniform(&h->rng);
    return d * (1.0 - p->jitter * u);
}

/* ==== perform ========================================================================== */

hq_status hq_http_perform(hq_http *h, const hq_http_request *req, hq_http_response *resp) {
    if (resp) memset(resp, 0, sizeof *resp);
    if (resp) resp->retry_after_s = -1;
    HQ_CHECK_HANDLE(h, HQ_MAGIC_HTTP);
    if (!req || !resp)
        return hq_failf(&h->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", __func__,
                        !req ? "req" : "resp");
    if ((unsigned)req->method >= HQ_HTTP_METHOD_COUNT)
        return hq_failf(&h->h.err, HQ_ERR_INVALID_ARG, "%s: method %d out of range [0, %d)",
                        __func__, (int)req->method, HQ_HTTP_METHOD_COUNT);
    if (req->n_headers < 0 || (req->n_headers > 0 && !req->headers))
        return hq_failf(&h->h.err, HQ_ERR_INVALID_ARG, "%s: n_headers %d with headers %s", __func__,
                        req->n_headers, req->headers ? "set" : "NULL");
    bool loopback = false;
    hq_status st = check_url(&h->h.err, __func__, req->url, &loopback);
    if (st != HQ_OK) return st;
    struct curl_slist *hdrs = NULL;
    st = build_headers(h, req, &hdrs);
    if (st != HQ_OK) return st;

    const char *mname = hq_http_method_name(req->method);
    bool idempotent = req->idempotent || req->method == HQ_HTTP_GET || req->method == HQ_HTTP_PUT ||
                      req->method == HQ_HTTP_DELETE;
    int max_tries = req->max_tries > 0 ? req->max_tries : h->opt.policy.max_tries;
    char url_msg[512];
    url_for_message(req->url, url_msg, sizeof url_msg);

    xfer x = {.body = HQ_SBUF_INIT, .headers = HQ_SBUF_INIT, .max_body = h->opt.max_body_bytes};
    attempt_result ar;
    hq_status transport = HQ_OK;
    outcome oc = OUT_DONE;
    int attempt = 0;
    bool ra_too_long = false;
    double ra = -1;
    for (;;) {
        attempt++;
        run_attempt(h, req, hdrs, loopback, idempotent, &x, &ar);
        oc = classify(h, req, &ar, &transport);
        ra = -1;
        if (ar.rc == CURLE_OK) {
            char v[128];
            hq_http_response tmp = {.headers = x.headers.p};
            if (hq_http_response_header(&tmp, "Retry-After", v, sizeof v)) {
                double now = h->opt.hooks.wall_now ? h->opt.hooks.wall_now(h->opt.hooks.user)
                                                   : hq_time_wall();
                ra = hq_http_parse_retry_after(v, now);
            }
        }
        bool retriable = oc == OUT_RETRY_ANY || (oc == OUT_RETRY_IDEM && idempotent);
        bool will_retry = retriable && attempt < max_tries;
        double delay = 0;
        bool from_ra = false;
        ra_too_long = false;
        if (will_retry) {
            if (ra >= 0) {
                if (ra > h->opt.policy.max_retry_after_s) {
                    will_retry = false;
                    ra_too_long = true;
                } else {
                    delay = ra;
                    from_ra = true;
                }
            } else {
                delay = backoff_delay(h, attempt);
            }
        }
        if (h->opt.hooks.on_attempt) {
            hq_http_attempt a = {.attempt = attempt,
                                 .method = mname,
                                 .status = ar.rc == CURLE_OK ? ar.status : 0,
                                 .transport = transport,
                                 .will_retry = will_retry,
                                 .delay_s = delay,
                                 .from_retry_after = from_ra};
            h->opt.hooks.on_attempt(h->opt.hooks.user, &a);
        }
        if (!will_retry) break;
        if (ar.rc == CURLE_OK)
            HQ_LOGI("http: %s %s: HTTP %ld, retrying in %.1f s (attempt %d of %d)", mname, url_msg,
                    ar.status, delay, attempt + 1, max_tries);
        else
            HQ_LOGI("http: %s %s: %s, retrying in %.1f s (attempt %d of %d)", mname, url_msg,
                    ar.curl_msg, delay, attempt + 1, max_tries);
        if (h->opt.hooks.sleep)
            h->opt.hooks.sleep(h->opt.hooks.user, delay);
        else
            hq_sleep_ms((long)(delay * 1000.0 + 0.5));
    }
    slist_scrub_free(hdrs);

    /* hand the last response to the caller */
    resp->attempts = attempt;
    resp->status = ar.rc == CURLE_OK ? ar.status : 0;
    resp->retry_after_s = ra;
    if (x.body.oom || x.headers.oom) {
        hq_sbuf_free(&x.body);
        hq_sbuf_free(&x.headers);
        return hq_failf(&h->h.err, HQ_ERR_NOMEM, "%s: out of memory reading the response",
                        __func__);
    }
    resp->body_len = x.body.len;
    resp->body = x.body.p ? hq_sbuf_take(&x.body) : hq_strdup("");
    resp->headers = hq_sbuf_take(&x.headers);
    if (!resp->body) {
        hq_http_response_free(resp);
        return hq_failf(&h->h.err, HQ_ERR_NOMEM, "%s: out of memory", __func__);
    }

    char after[64] = "";
    if (attempt > 1) snprintf(after, sizeof after, " (after %d attempts)", attempt);
    if (ar.rc != CURLE_OK) {
        if (ar.too_big)
            return hq_failf(&h->h.err, HQ_ERR_HTTP,
                            "%s %s: response body larger than the limit of %zu bytes", mname,
                            url_msg, h->opt.max_body_bytes);
        const char *maybe = "";
        if (ar.sent && !idempotent)
            maybe = "; the server may have received the request ---> HINT: look the job up "
                    "by its client token before submitting it again";
        return hq_failf(&h->h.err, transport == HQ_OK ? HQ_ERR_NETWORK : transport, "%s %s: %s%s%s",
                        mname, url_msg, ar.curl_msg, after, maybe);
    }
    long s = ar.status;
    if (s < 400) return HQ_OK;
    char ctype[128];
    hq_http_response_header(resp, "Content-Type", ctype, sizeof ctype);
    char pm[MSG_MAX + 8];
    hq_http_error_message(resp->body, resp->body_len, ctype, s, pm, sizeof pm);
    char extra[160] = "";
    if (ra_too_long)
        snprintf(extra, sizeof extra,
                 "; the server asked to retry after %.0f s, more than the %.0f s this client "
                 "waits",
                 ra, h->opt.policy.max_retry_after_s);
    else if ((oc == OUT_RETRY_IDEM) && !idempotent)
        snprintf(extra, sizeof extra,
                 "; not retried: %s is not idempotent (the server may have acted on it)", mname);
    hq_status code = (s == 401 || s == 403) ? HQ_ERR_AUTH : HQ_ERR_HTTP;
    const char *hint = "";
    if (code == HQ_ERR_AUTH)
        hint = " ---> HINT: check the API key / token (environment variable or credentials "
               "file) and its permissions";
    return hq_failf(&h->h.err, code, "%s %s: HTTP %ld: %s%s%s%s", mname, url_msg, s, pm, after,
                    extra, hint);
}
