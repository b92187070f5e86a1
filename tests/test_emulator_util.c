/*
 * tests/test_emulator_util.c — the helpers of test_emulator_util.h (no tests here).
 */
#include "tests/test_emulator_util.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

typedef struct sink {
    hq_sbuf b;
    et_resp *r;
} sink;

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
    sink *s = u;
    hq_sbuf_append(&s->b, p, sz * n);
    return sz * n;
}

static void copy_hdr(const char *line, size_t n, const char *name, char *dst, size_t cap) {
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return;
    const char *v = line + k + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n')) end--;
    size_t m = (size_t)(end - v);
    if (m >= cap) m = cap - 1;
    memcpy(dst, v, m);
    dst[m] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *u) {
    sink *s = u;
    copy_hdr(p, sz * n, "Content-Type", s->r->ctype, sizeof s->r->ctype);
    copy_hdr(p, sz * n, "Retry-After", s->r->retry_after, sizeof s->r->retry_after);
    return sz * n;
}

int et_http(const char *method, const char *url, const char *const *headers, const char *body,
            long timeout_ms, et_resp *out) {
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    sink s = {HQ_SBUF_INIT, out};
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    double t0 = hq_time_now();
    CURLcode rc = curl_easy_perform(c);
    out->seconds = hq_time_now() - t0;
    out->curl_code = (int)rc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    hq_sbuf_putc(&s.b, '\0');
    out->len = s.b.len ? s.b.len - 1 : 0;
    out->body = hq_sbuf_take(&s.b);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return (int)rc;
}

void et_resp_free(et_resp *r) {
    if (r) HQ_FREE(r->body);
}

cJSON *et_json(const et_resp *r) { return r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL; }

hq_emulator_options et_options(hq_emu_profile p) {
    hq_emulator_options o = hq_emulator_default_options(p);
    o.ionq_api_key = ET_KEY;
    o.ibm_api_key = ET_KEY;
    o.ibm_crn = ET_CRN;
    o.seed = 7;
    o.queue_delay_ms = 0;
    o.run_delay_ms = 0;
    return o;
}

hq_emulator *et_start(const hq_emulator_options *o) {
    hq_emulator *e = NULL;
    if (hq_emulator_start(o, &e) != HQ_OK) {
        fprintf(stderr, "et_start: %s\n", hq_last_error());
        return NULL;
    }
    return e;
}

const char *et_url(hq_emulator *e, const char *path) {
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s%s", hq_emulator_url(e), path);
    return b;
}

int et_ionq(hq_emulator *e, const char *method, const char *path, const char *body,
            const char *const *extra, et_resp *out) {
    const char *h[16] = {"Authorization: apiKey " ET_KEY, "Content-Type: application/json"};
    int n = 2;
    for (int i = 0; extra && extra[i] && n < 15; i++) h[n++] = extra[i];
    h[n] = NULL;
    return et_http(method, et_url(e, path), h, body, 0, out);
}

bool et_ibm_token(hq_emulator *e, char *tok, size_t cap) {
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    et_resp r;
    et_http("POST", et_url(e, "/identity/token"), h,
            "grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=" ET_KEY, 0, &r);
    cJSON *j = et_json(&r);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    bool ok = r.status == 200 && cJSON_IsString(t) && strlen(t->valuestring) < cap;
    if (ok) snprintf(tok, cap, "%s", t->valuestring);
    cJSON_Delete(j);
    et_resp_free(&r);
    return ok;
}

int et_ibm(hq_emulator *e, const char *tok, const char *method, const char *path, const char *body,
           const char *const *extra, et_resp *out) {
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *h[16] = {auth, "Service-CRN: " ET_CRN, "Content-Type: application/json",
                         "IBM-API-Version: 2025-05-01"};
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 15; i++) h[n++] = extra[i];
    h[n] = NULL;
    return et_http(method, et_url(e, path), h, body, 0, out);
}

static bool take_id(et_resp *r, char *id) {
    cJSON *j = et_json(r);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "id");
    bool ok = r->status == 200 && cJSON_IsString(v) && strlen(v->valuestring) < 64;
    if (ok)
        snprintf(id, 64, "%s", v->valuestring);
    else
        fprintf(stderr, "submit failed: HTTP %ld: %s\n", r->status, r->body ? r->body : "");
    cJSON_Delete(j);
    et_resp_free(r);
    return ok;
}

bool et_ionq_submit(hq_emulator *e, const char *body, const char *const *extra, char *id) {
    et_resp r;
    et_ionq(e, "POST", "/v0.3/jobs", body, extra, &r);
    return take_id(&r, id);
}

bool et_ibm_submit(hq_emulator *e, const char *tok, const char *body, const char *const *extra,
                   char *id) {
    et_resp r;
    et_ibm(e, tok, "POST", "/api/v1/jobs", body, extra, &r);
    return take_id(&r, id);
}

bool et_ionq_wait(hq_emulator *e, const char *id, double timeout_s, char *st, size_t cap) {
    char path[256];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    double t0 = hq_time_now();
    for (;;) {
        et_resp r;
        et_ionq(e, "GET", path, NULL, NULL, &r);
        cJSON *j = et_json(&r);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
        bool done = false;
        if (cJSON_IsString(s)) {
            snprintf(st, cap, "%s", s->valuestring);
            done = !strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "canceled");
        }
        cJSON_Delete(j);
        et_resp_free(&r);
        if (done) return true;
        if (hq_time_now() - t0 > timeout_s) return false;
        hq_sleep_ms(10);
    }
}

bool et_ibm_wait(hq_emulator *e, const char *tok, const char *id, double timeout_s, char *st,
                 size_t cap) {
    char path[256];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    double t0 = hq_time_now();
    for (;;) {
        et_resp r;
        et_ibm(e, tok, "GET", path, NULL, NULL, &r);
        cJSON *j = et_json(&r);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "state"), "status");
        bool done = false;
        if (cJSON_IsString(s)) {
            snprintf(st, cap, "%s", s->valuestring);
            done = !strcmp(st, "Completed") || !strcmp(st, "Failed") || !strcmp(st, "Cancelled");
        }
        cJSON_Delete(j);
        et_resp_free(&r);
        if (done) return true;
        if (hq_time_now() - t0 > timeout_s) return false;
        hq_sleep_ms(10);
    }
}

long et_ibm_samples(const cJSON *res, int pub, const char *creg, int row, unsigned long long *vals,
                    long cap) {
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "results"), pub);
    const cJSON *d =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "data"), creg);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "samples");
    if (row >= 0) s = cJSON_GetArrayItem(s, row);
    if (!cJSON_IsArray(s)) return -1;
    long n = 0;
    for (const cJSON *x = s->child; x; x = x->next) {
        if (!cJSON_IsString(x) || strncmp(x->valuestring, "0x", 2) || n >= cap) return -1;
        vals[n++] = strtoull(x->valuestring + 2, NULL, 16);
    }
    return n;
}

long et_stats_accepted(hq_emulator *e) {
    et_resp r;
    et_http("GET", et_url(e, "/_emu/stats"), NULL, NULL, 0, &r);
    cJSON *j = et_json(&r);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "jobs"), "accepted"),
        "total");
    long n = cJSON_IsNumber(a) ? (long)a->valuedouble : -1;
    cJSON_Delete(j);
    et_resp_free(&r);
    return n;
}

double et_chi2(const long *counts, const double *p, int n_outcomes, long shots, int *dof) {
    double chi = 0, rest_e = 0;
    long rest_o = 0;
    int bins = 0;
    for (int i = 0; i < n_outcomes; i++) {
        double ex = p[i] * (double)shots;
        if (ex < 5) {
            rest_e += ex;
            rest_o += counts[i];
            continue;
        }
        chi += (counts[i] - ex) * (counts[i] - ex) / ex;
        bins++;
    }
    if (rest_e >= 1e-9) {
        chi += (rest_o - rest_e) * (rest_o - rest_e) / rest_e;
        bins++;
    }
    *dof = bins > 1 ? bins - 1 : 1;
    return chi;
}

double et_chi2_crit(int dof) {
    /* Wilson-Hilferty: chi2_q ~ k (1 - 2/(9k) + z sqrt(2/(9k)))^3, z(0.999) = 3.0902 */
    double k = dof, z = 3.0902;
    double t = 1 - 2 / (9 * k) + z * sqrt(2 / (9 * k));
    return k * t * t * t;
}
