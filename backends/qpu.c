/*
 * backends/qpu.c — shared pieces of the REST clients: job states, status and result
 * structs, the probability-to-counts conversion (round-half-even + largest remainder),
 * outcome bit remapping and the JSON helpers of qpu_impl.h.
 */
#include "backends/qpu.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/qpu_impl.h"

static const char *const state_names[] = {
    [HQ_QPU_PENDING] = "pending",     [HQ_QPU_QUEUED] = "queued",
    [HQ_QPU_RUNNING] = "running",     [HQ_QPU_CANCELLING] = "cancelling",
    [HQ_QPU_COMPLETED] = "completed", [HQ_QPU_FAILED] = "failed",
    [HQ_QPU_CANCELLED] = "cancelled",
};
_Static_assert(sizeof state_names / sizeof *state_names == HQ_QPU_STATE_COUNT,
               "one name per hq_qpu_state");

const char *hq_qpu_state_name(hq_qpu_state s) {
    return (unsigned)s < HQ_QPU_STATE_COUNT ? state_names[s] : "?";
}

bool hq_qpu_state_terminal(hq_qpu_state s) {
    return s == HQ_QPU_COMPLETED || s == HQ_QPU_FAILED || s == HQ_QPU_CANCELLED;
}

hq_job_state hq_qpu_state_to_job(hq_qpu_state s) {
    switch (s) {
    case HQ_QPU_RUNNING:
    case HQ_QPU_CANCELLING: return HQ_JOB_RUNNING;
    case HQ_QPU_COMPLETED: return HQ_JOB_COMPLETED;
    case HQ_QPU_FAILED: return HQ_JOB_FAILED;
    case HQ_QPU_CANCELLED: return HQ_JOB_CANCELLED;
    default: return HQ_JOB_QUEUED;
    }
}

/* ==== status / results ================================================================= */

void qpu_status_init(hq_qpu_job_status *s) {
    memset(s, 0, sizeof *s);
    s->shots = -1;
}

void hq_qpu_job_status_free(hq_qpu_job_status *s) {
    if (!s) return;
    for (int i = 0; i < s->n_children; i++) hq_free(s->children[i]);
    hq_free(s->children);
    s->children = NULL;
    s->n_children = 0;
}

hq_status qpu_status_add_child(hq_qpu_job_status *s, const char *id) {
    char **c = hq_realloc(s->children, (size_t)(s->n_children + 1) * sizeof *c);
    if (!c) return HQ_ERR_NOMEM;
    s->children = c;
    c[s->n_children] = hq_strdup(id);
    if (!c[s->n_children]) return HQ_ERR_NOMEM;
    s->n_children++;
    return HQ_OK;
}

hq_status qpu_results_alloc(hq_qpu_results *r, int n) {
    memset(r, 0, sizeof *r);
    if (n <= 0) return HQ_OK;
    r->r = hq_calloc((size_t)n, sizeof *r->r);
    if (!r->r) return HQ_ERR_NOMEM;
    r->n = n;
    for (int i = 0; i < n; i++) {
        hq_counts_init(&r->r[i].counts, 1);
        r->r[i].status = HQ_ERR_NOT_FOUND;
        snprintf(r->r[i].error, sizeof r->r[i].error, "no result");
    }
    return HQ_OK;
}

void hq_qpu_results_free(hq_qpu_results *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        hq_counts_free(&r->r[i].counts);
        hq_free(r->r[i].prob_outcome);
        hq_free(r->r[i].prob);
    }
    hq_free(r->r);
    r->r = NULL;
    r->n = 0;
}

int hq_qpu_results_n_ok(const hq_qpu_results *r) {
    int k = 0;
    for (int i = 0; r && i < r->n; i++) k += r->r[i].status == HQ_OK;
    return k;
}

/* ==== probabilities -> counts ========================================================== */

typedef struct rem {
    double frac;  /* x - c */
    uint64_t out; /* outcome, for tie-breaking */
    int64_t i;    /* index */
} rem;

static int rem_desc(const void *a, const void *b) {
    const rem *x = a, *y = b;
    if (x->frac != y->frac) return x->frac > y->frac ? -1 : 1;
    return (x->out > y->out) - (x->out < y->out);
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

hq_status hq_qpu_probs_to_counts(const uint64_t *outcome, const double *p, int64_t n, int64_t shots,
                                 int n_bits, hq_counts *out) {
    static const char *fn = "hq_qpu_probs_to_counts";
    hq_counts_init(out, n_bits >= 1 && n_bits <= 64 ? n_bits : 1);
    if (shots <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: shots %lld must be > 0", fn,
                        (long long)shots);
    if (n_bits < 1 || n_bits > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_bits %d out of range [1, 64]", fn, n_bits);
    if (n < 0 || (n > 0 && (!outcome || !p)))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: bad arrays (n = %lld)", fn, (long long)n);
    if (n == 0) return hq_failf(NULL, HQ_ERR_PARSE, "%s: empty probability distribution", fn);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(p[i]) || p[i] < -1e-9)
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "%s: probability of outcome %llu is %g (must be a finite number "
                            ">= 0)",
                            fn, (unsigned long long)outcome[i], p[i]);
        if (n_bits < 64 && outcome[i] >> n_bits)
            return hq_failf(NULL, HQ_ERR_PARSE, "%s: outcome %llu does not fit in %d bits", fn,
                            (unsigned long long)outcome[i], n_bits);
        sum += p[i] > 0 ? p[i] : 0;
    }
    if (!(fabs(sum - 1.0) <= 1e-3))
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "%s: probabilities sum to %.9g, expected 1 (tolerance 1e-3)", fn, sum);
    uint64_t *sorted = hq_malloc((size_t)n * sizeof *sorted);
    rem *r = hq_malloc((size_t)n * sizeof *r);
    int64_t *c = hq_malloc((size_t)n * sizeof *c);
    hq_status st = HQ_OK;
    if (!sorted || !r || !c) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    memcpy(sorted, outcome, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, u64_cmp);
    for (int64_t i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: outcome %llu appears twice", fn,
                          (unsigned long long)sorted[i]);
            goto done;
        }
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = (p[i] > 0 ? p[i] : 0) / sum * (double)shots;
        c[i] = (int64_t)nearbyint(x); /* default rounding mode: half to even */
        r[i] = (rem){x - (double)c[i], outcome[i], i};
        total += c[i];
    }
    int64_t diff = shots - total;
    qsort(r, (size_t)n, sizeof *r, rem_desc);
    /* diff > 0: round up the largest remainders; diff < 0: round down the smallest */
    for (int64_t k = 0; diff > 0 && k < n; k++, diff--) c[r[k].i]++;
    for (int64_t k = n - 1; diff < 0 && k >= 0; k--)
        if (c[r[k].i] > 0) {
            c[r[k].i]--;
            diff++;
        }
    if (HQ_NEVER(diff != 0)) {
        st = hq_failf(NULL, HQ_ERR_INTERNAL, "%s: could not settle the shot total", fn);
        goto done;
    }
    for (int64_t i = 0; i < n && st == HQ_OK; i++)
        if (c[i] > 0) st = hq_counts_add(out, outcome[i], c[i]);
    if (st != HQ_OK) {
        st = hq_failf(NULL, st, "%s: out of memory", fn);
        goto done;
    }
    hq_counts_sort(out);
done:
    hq_free(sorted);
    hq_free(r);
    hq_free(c);
    if (st != HQ_OK) {
        hq_counts_free(out);
        hq_counts_init(out, n_bits >= 1 && n_bits <= 64 ? n_bits : 1);
    }
    return st;
}

hq_status hq_qpu_counts_remap(const hq_counts *in, const int *src, int n_dst, hq_counts *out) {
    hq_counts_init(out, n_dst >= 1 && n_dst <= 64 ? n_dst : 1);
    if (!in || !src || n_dst < 1 || n_dst > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qpu_counts_remap: need counts, a map and 1..64 output bits (got %d)",
                        n_dst);
    for (int j = 0; j < n_dst; j++)
        if (src[j] >= 64)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_qpu_counts_remap: source bit %d of output bit %d out of range "
                            "[0, 64)",
                            src[j], j);
    for (int64_t i = 0; i < in->n; i++) {
        uint64_t o = 0;
        for (int j = 0; j < n_dst; j++)
            if (src[j] >= 0 && (in->outcome[i] >> src[j] & 1)) o |= (uint64_t)1 << j;
        if (hq_counts_add(out, o, in->count[i]) != HQ_OK) {
            hq_counts_free(out);
            return hq_failf(NULL, HQ_ERR_NOMEM, "hq_qpu_counts_remap: out of memory");
        }
    }
    hq_counts_sort(out);
    return HQ_OK;
}

/* ==== JSON helpers ===================================================================== */

/* True if the text ends inside a string or an unclosed object/array: a cut-off body. */
static bool json_unterminated(const char *s, size_t n) {
    long depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return in_str || depth > 0;
}

cJSON *qpu_json_parse(const char *fn, const char *what, const char *body, size_t len,
                      hq_status *st) {
    *st = HQ_OK;
    if (!body) {
        *st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s body is NULL", fn, what);
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (j) return j;
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i])) i++;
    if (i < len && body[i] == '<') {
        *st = hq_failf(NULL, HQ_ERR_PARSE,
                       "%s: the %s body is an HTML page, not JSON (a proxy or an outage page?)", fn,
                       what);
        return NULL;
    }
    size_t pos = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
    if (len == 0)
        *st = hq_failf(NULL, HQ_ERR_PARSE, "%s: the %s body is empty (expected JSON)", fn, what);
    else if (pos + 1 >= len || json_unterminated(body, len))
        *st = hq_failf(NULL, HQ_ERR_PARSE,
                       "%s: the %s body is truncated JSON (ends after %zu bytes)", fn, what, len);
    else
        *st = hq_failf(NULL, HQ_ERR_PARSE, "%s: the %s body is malformed JSON at byte %zu of %zu",
                       fn, what, pos, len);
    return NULL;
}

const cJSON *qpu_get(const cJSON *o, const char *key) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

bool qpu_get_str(const cJSON *o, const char *key, char *dst, size_t cap) {
    if (cap) dst[0] = '\0';
    const cJSON *v = qpu_get(o, key);
    if (!cJSON_IsString(v) || !v->valuestring) return false;
    snprintf(dst, cap, "%s", v->valuestring);
    return true;
}

bool qpu_get_i64(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const cJSON *v = qpu_get(o, key);
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) return false;
    *out = (int64_t)d;
    return true;
}

const char *qpu_type_name(const cJSON *v) {
    if (!v) return "missing";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

bool qpu_streq_ci(const char *a, const char *b) { return a && b && !strcasecmp(a, b); }
