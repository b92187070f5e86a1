/*
 * orchestrator/report.c — validate a study document ("hqcnn-study" v1) and write the report:
 * report.html (tables + inline SVG charts + circuit drawing), CSV files and study.json.
 * Schema and contents: docs/study.md.
 */
#include "orchestrator/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "backends/draw.h"
#include "backends/qasm.h"
#include "orchestrator/svgplot.h"

/* ==== the validated document =========================================================== */

typedef struct row {
    const char *backend, *mitigation;
    int64_t shots;            /* 0 = exact */
    double acc, auc, f1;      /* NAN = null / absent */
    double err_mean, err_sem; /* mean |<O> error| over circuits and its standard error */
    int64_t err_n;            /* circuits behind it (0 = not given) */
    const cJSON *per_circuit; /* borrowed array of numbers, or NULL */
    double tvd, hf;           /* total-variation distance, Hellinger fidelity */
    int64_t jobs;             /* -1 = not given */
    double cost, wall;        /* NAN = not given */
} row;

typedef struct roc {
    const char *backend, *mitigation;
    int n;             /* points */
    double *fpr, *tpr; /* (n) owned */
    double auc;        /* given, or the trapezoid area of the points */
    bool auc_given;
} roc;

typedef struct sweep {
    const char *backend, *mitigation;
    double scale, acc, auc;
} sweep;

typedef struct study {
    cJSON *root;
    const char *title, *dataset, *run, *created, *currency;
    const char *qasm, *circuit_title;
    const cJSON *meta;
    row *rows;
    int nrows;
    roc *rocs;
    int nroc;
    sweep *sw;
    int nsw;
} study;

static void study_free(study *s) {
    for (int i = 0; i < s->nroc; i++) {
        hq_free(s->rocs[i].fpr);
        hq_free(s->rocs[i].tpr);
    }
    hq_free(s->rocs);
    hq_free(s->rows);
    hq_free(s->sw);
    cJSON_Delete(s->root);
    memset(s, 0, sizeof *s);
}

static hq_status bad(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hq_status bad(const char *path, const char *fmt, ...) {
    char m[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_report: %s: %s", path, m);
}

static hq_status check_keys(const cJSON *o, const char *path, const char *const *allowed,
                            size_t n) {
    for (const cJSON *c = o->child; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++) ok = strcmp(c->string, allowed[i]) == 0;
        if (!ok) {
            char list[400] = "";
            size_t len = 0;
            for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                        "%s%s", i ? ", " : "", allowed[i]);
            return bad(path, "unknown field \"%s\" (a typo?); valid fields: %s", c->string, list);
        }
    }
    return HQ_OK;
}

static hq_status get_str(const cJSON *o, const char *key, const char *path, bool required,
                         const char *dflt, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return bad(path, "\"%s\" is required (a string)", key);
        *out = dflt;
        return HQ_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring) return bad(path, "\"%s\" must be a string", key);
    if (required && !*v->valuestring) return bad(path, "\"%s\" must not be empty", key);
    *out = v->valuestring;
    return HQ_OK;
}

/* A number in [lo, hi]; absent or null (when nullable) gives NAN. */
static hq_status get_num(const cJSON *o, const char *key, const char *path, bool required,
                         double lo, double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required && !v) return bad(path, "\"%s\" is required (a number, or null)", key);
        *out = NAN;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(v)) return bad(path, "\"%s\" must be a number or null", key);
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi)) return bad(path, "\"%s\" = %g outside [%g, %g]", key, d, lo, hi);
    *out = d;
    return HQ_OK;
}

static hq_status get_int(const cJSON *o, const char *key, const char *path, bool required,
                         int64_t lo, int64_t hi, int64_t dflt, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return bad(path, "\"%s\" is required (an integer)", key);
        *out = dflt;
        return HQ_OK;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || !(d >= (double)lo && d <= (double)hi))
        return bad(path, "\"%s\" must be an integer in [%lld, %lld]", key, (long long)lo,
                   (long long)hi);
    *out = (int64_t)d;
    return HQ_OK;
}

#define TRY(x)               \
    do {                     \
        hq_status st_ = (x); \
        if (st_) return st_; \
    } while (0)

static hq_status parse_row(const cJSON *o, const char *path, row *r) {
    static const char *const keys[] = {"backend",      "mitigation", "shots",
                                       "acc",          "auc",        "f1",
                                       "expect_error", "tvd",        "hellinger_fidelity",
                                       "jobs",         "cost",       "wall_seconds",
                                       "calibration"};
    if (!cJSON_IsObject(o)) return bad(path, "must be an object");
    TRY(check_keys(o, path, keys, HQ_ARRAY_LEN(keys)));
    memset(r, 0, sizeof *r);
    TRY(get_str(o, "backend", path, true, NULL, &r->backend));
    const char *cal; /* calibration id of a dm backend's noise model: kept in study.json */
    TRY(get_str(o, "calibration", path, false, "", &cal));
    TRY(get_str(o, "mitigation", path, false, "none", &r->mitigation));
    TRY(get_int(o, "shots", path, true, 0, INT64_C(1) << 53, 0, &r->shots));
    TRY(get_num(o, "acc", path, true, 0, 1, &r->acc));
    TRY(get_num(o, "auc", path, false, 0, 1, &r->auc));
    TRY(get_num(o, "f1", path, false, 0, 1, &r->f1));
    TRY(get_num(o, "tvd", path, false, 0, 1, &r->tvd));
    TRY(get_num(o, "hellinger_fidelity", path, false, 0, 1, &r->hf));
    TRY(get_int(o, "jobs", path, false, 0, INT64_C(1) << 53, -1, &r->jobs));
    TRY(get_num(o, "cost", path, false, 0, 1e15, &r->cost));
    TRY(get_num(o, "wall_seconds", path, false, 0, 1e12, &r->wall));
    r->err_mean = r->err_sem = NAN;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "expect_error");
    if (e && !cJSON_IsNull(e)) {
        char p[160];
        snprintf(p, sizeof p, "%s.expect_error", path);
        static const char *const ek[] = {"mean", "sem", "n", "per_circuit"};
        if (!cJSON_IsObject(e)) return bad(p, "must be an object {mean, sem, n, per_circuit}");
        TRY(check_keys(e, p, ek, HQ_ARRAY_LEN(ek)));
        TRY(get_num(e, "mean", p, true, 0, 1e6, &r->err_mean));
        TRY(get_num(e, "sem", p, false, 0, 1e6, &r->err_sem));
        TRY(get_int(e, "n", p, false, 1, INT64_C(1) << 53, 0, &r->err_n));
        const cJSON *pc = cJSON_GetObjectItemCaseSensitive(e, "per_circuit");
        if (pc && !cJSON_IsNull(pc)) {
            if (!cJSON_IsArray(pc)) return bad(p, "\"per_circuit\" must be an array of numbers");
            int i = 0;
            for (const cJSON *x = pc->child; x; x = x->next, i++)
                if (!cJSON_IsNumber(x))
                    return bad(p, "per_circuit[%d] must be a number (a signed error)", i);
            r->per_circuit = pc;
        }
    }
    return HQ_OK;
}

static hq_status parse_roc(const cJSON *o, const char *path, roc *r) {
    static const char *const keys[] = {"backend", "mitigation", "fpr", "tpr", "auc"};
    if (!cJSON_IsObject(o)) return bad(path, "must be an object");
    TRY(check_keys(o, path, keys, HQ_ARRAY_LEN(keys)));
    TRY(get_str(o, "backend", path, true, NULL, &r->backend));
    TRY(get_str(o, "mitigation", path, false, "none", &r->mitigation));
    TRY(get_num(o, "auc", path, false, 0, 1, &r->auc));
    r->auc_given = !isnan(r->auc);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "fpr");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tpr");
    if (!cJSON_IsArray(f) || !cJSON_IsArray(t))
        return bad(path, "\"fpr\" and \"tpr\" are required arrays of numbers in [0, 1]");
    int n = cJSON_GetArraySize(f);
    if (n != cJSON_GetArraySize(t) || n < 2 || n > 10000000)
        return bad(path, "\"fpr\" and \"tpr\" need the same length, >= 2 (got %d and %d)", n,
                   cJSON_GetArraySize(t));
    r->fpr = hq_malloc((size_t)n * sizeof(double));
    r->tpr = hq_malloc((size_t)n * sizeof(double));
    if (!r->fpr || !r->tpr) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
    r->n = n;
    const cJSON *a = f->child, *b = t->child;
    for (int i = 0; i < n; i++, a = a->next, b = b->next) {
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !(a->valuedouble >= 0) ||
            !(a->valuedouble <= 1) || !(b->valuedouble >= 0) || !(b->valuedouble <= 1))
            return bad(path, "point %d: fpr and tpr must be numbers in [0, 1]", i);
        r->fpr[i] = a->valuedouble;
        r->tpr[i] = b->valuedouble;
        if (i && (r->fpr[i] < r->fpr[i - 1] || r->tpr[i] < r->tpr[i - 1]))
            return bad(path, "point %d: an ROC curve is non-decreasing in fpr and tpr", i);
    }
    if (!r->auc_given) {
        double s = 0;
        for (int i = 1; i < n; i++) s += (r->fpr[i] - r->fpr[i - 1]) * (r->tpr[i] + r->tpr[i - 1]);
        r->auc = s / 2;
    }
    return HQ_OK;
}

static hq_status parse_study(const char *json, study *s) {
    memset(s, 0, sizeof *s);
    if (!json) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_report: the JSON text is NULL");
    const char *end = NULL;
    s->root = cJSON_ParseWithOpts(json, &end, 1);
    if (!s->root) {
        size_t off = end ? (size_t)(end - json) : 0;
        return hq_failf(NULL, HQ_ERR_PARSE, "hq_report: the study is not valid JSON (at byte %zu)",
                        off);
    }
    const cJSON *r = s->root;
    if (!cJSON_IsObject(r)) return bad("(top level)", "must be an object");
    static const char *const keys[] = {"format",  "version", "title",    "dataset",
                                       "run",     "created", "currency", "meta",
                                       "circuit", "results", "roc",      "noise_sweep"};
    TRY(check_keys(r, "(top level)", keys, HQ_ARRAY_LEN(keys)));
    const char *fmt;
    TRY(get_str(r, "format", "(top level)", true, NULL, &fmt));
    if (strcmp(fmt, "hqcnn-study") != 0)
        return bad("format", "is \"%s\"; expected \"hqcnn-study\"", fmt);
    int64_t ver;
    TRY(get_int(r, "version", "(top level)", false, 1, 1, 1, &ver));
    TRY(get_str(r, "title", "(top level)", false, "hqcnn noise study", &s->title));
    TRY(get_str(r, "dataset", "(top level)", false, NULL, &s->dataset));
    TRY(get_str(r, "run", "(top level)", false, NULL, &s->run));
    TRY(get_str(r, "created", "(top level)", false, NULL, &s->created));
    TRY(get_str(r, "currency", "(top level)", false, "USD", &s->currency));
    s->meta = cJSON_GetObjectItemCaseSensitive(r, "meta");
    if (s->meta && !cJSON_IsObject(s->meta)) return bad("meta", "must be an object");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "circuit");
    if (c && !cJSON_IsNull(c)) {
        static const char *const ck[] = {"qasm", "title"};
        if (!cJSON_IsObject(c)) return bad("circuit", "must be an object {qasm, title}");
        TRY(check_keys(c, "circuit", ck, 2));
        TRY(get_str(c, "qasm", "circuit", true, NULL, &s->qasm));
        TRY(get_str(c, "title", "circuit", false, "Transpiled circuit", &s->circuit_title));
    }
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "results");
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) < 1)
        return bad("results", "is required: a non-empty array of result objects");
    int n = cJSON_GetArraySize(res);
    s->rows = hq_calloc((size_t)n, sizeof *s->rows);
    if (!s->rows) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
    int i = 0;
    for (const cJSON *x = res->child; x; x = x->next, i++) {
        char p[64];
        snprintf(p, sizeof p, "results[%d]", i);
        TRY(parse_row(x, p, &s->rows[i]));
        s->nrows = i + 1;
    }
    const cJSON *ro = cJSON_GetObjectItemCaseSensitive(r, "roc");
    if (ro && !cJSON_IsNull(ro)) {
        if (!cJSON_IsArray(ro)) return bad("roc", "must be an array");
        n = cJSON_GetArraySize(ro);
        s->rocs = hq_calloc((size_t)HQ_MAX(n, 1), sizeof *s->rocs);
        if (!s->rocs) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
        i = 0;
        for (const cJSON *x = ro->child; x; x = x->next, i++) {
            char p[64];
            snprintf(p, sizeof p, "roc[%d]", i);
            s->nroc = i + 1;
            TRY(parse_roc(x, p, &s->rocs[i]));
        }
    }
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(r, "noise_sweep");
    if (sw && !cJSON_IsNull(sw)) {
        if (!cJSON_IsArray(sw)) return bad("noise_sweep", "must be an array");
        n = cJSON_GetArraySize(sw);
        s->sw = hq_calloc((size_t)HQ_MAX(n, 1), sizeof *s->sw);
        if (!s->sw) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
        i = 0;
        static const char *const sk[] = {"backend", "mitigation", "scale",
                                         "acc",     "auc",        "calibration"};
        for (const cJSON *x = sw->child; x; x = x->next, i++) {
            char p[64];
            snprintf(p, sizeof p, "noise_sweep[%d]", i);
            if (!cJSON_IsObject(x)) return bad(p, "must be an object");
            TRY(check_keys(x, p, sk, HQ_ARRAY_LEN(sk)));
            sweep *w = &s->sw[i];
            TRY(get_str(x, "backend", p, false, "dm", &w->backend));
            TRY(get_str(x, "mitigation", p, false, "none", &w->mitigation));
            const char *cal;
            TRY(get_str(x, "calibration", p, false, "", &cal));
            TRY(get_num(x, "scale", p, true, 0, 1e6, &w->scale));
            if (isnan(w->scale)) return bad(p, "\"scale\" must be a number >= 0");
            TRY(get_num(x, "acc", p, false, 0, 1, &w->acc));
            TRY(get_num(x, "auc", p, false, 0, 1, &w->auc));
            s->nsw = i + 1;
        }
    }
    return HQ_OK;
}

/* ==== formatting helpers =============================================================== */

static void put_num_attr(hq_sbuf *b, const char *field, double v) {
    hq_sbuf_printf(b, "<td data-field=\"%s\" data-value=\"", field);
    if (isnan(v))
        hq_sbuf_puts(b, "null");
    else
        hq_sbuf_put_double(b, v);
    hq_sbuf_puts(b, "\">");
}

/* <td data-field data-value>display</td>; fmt is a printf format for one double. */
static void td_num(hq_sbuf *b, const char *field, double v, const char *fmt) {
    put_num_attr(b, field, v);
    if (isnan(v))
        hq_sbuf_puts(b, "—");
    else
        hq_sbuf_printf(b, fmt, v);
    hq_sbuf_puts(b, "</td>");
}

static void td_str(hq_sbuf *b, const char *field, const char *s) {
    hq_sbuf_printf(b, "<td data-field=\"%s\">", field);
    hq_xml_escape(b, s);
    hq_sbuf_puts(b, "</td>");
}

static void csv_str(hq_sbuf *b, const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        hq_sbuf_puts(b, s);
        return;
    }
    hq_sbuf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') hq_sbuf_putc(b, '"');
        hq_sbuf_putc(b, *s);
    }
    hq_sbuf_putc(b, '"');
}

static void csv_num(hq_sbuf *b, double v) {
    if (!isnan(v)) hq_sbuf_put_double(b, v);
}

static void csv_int(hq_sbuf *b, int64_t v) {
    if (v >= 0) hq_sbuf_printf(b, "%lld", (long long)v);
}

/* "backend" or "backend · mitigation" */
static void series_name(char *buf, size_t cap, const char *backend, const char *mit) {
    if (!mit || !strcmp(mit, "none"))
        snprintf(buf, cap, "%s", backend);
    else
        snprintf(buf, cap, "%s · %s", backend, mit);
}

/* ==== CSV and JSON ===================================================================== */

static void write_results_csv(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "backend,mitigation,shots,acc,auc,f1,expect_error_mean,expect_error_sem,"
                    "expect_error_n,tvd,hellinger_fidelity,jobs,cost,wall_seconds\r\n");
    for (int i = 0; i < s->nrows; i++) {
        const row *r = &s->rows[i];
        csv_str(b, r->backend);
        hq_sbuf_putc(b, ',');
        csv_str(b, r->mitigation);
        hq_sbuf_printf(b, ",%lld,", (long long)r->shots);
        csv_num(b, r->acc);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->auc);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->f1);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->err_mean);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->err_sem);
        hq_sbuf_putc(b, ',');
        if (r->err_n > 0) csv_int(b, r->err_n);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->tvd);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->hf);
        hq_sbuf_putc(b, ',');
        csv_int(b, r->jobs);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->cost);
        hq_sbuf_putc(b, ',');
        csv_num(b, r->wall);
        hq_sbuf_puts(b, "\r\n");
    }
}

static void write_roc_csv(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "backend,mitigation,point,fpr,tpr\r\n");
    for (int i = 0; i < s->nroc; i++)
        for (int k = 0; k < s->rocs[i].n; k++) {
            csv_str(b, s->rocs[i].backend);
            hq_sbuf_putc(b, ',');
            csv_str(b, s->rocs[i].mitigation);
            hq_sbuf_printf(b, ",%d,", k);
            csv_num(b, s->rocs[i].fpr[k]);
            hq_sbuf_putc(b, ',');
            csv_num(b, s->rocs[i].tpr[k]);
            hq_sbuf_puts(b, "\r\n");
        }
}

static void write_sweep_csv(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "backend,mitigation,scale,acc,auc\r\n");
    for (int i = 0; i < s->nsw; i++) {
        csv_str(b, s->sw[i].backend);
        hq_sbuf_putc(b, ',');
        csv_str(b, s->sw[i].mitigation);
        hq_sbuf_putc(b, ',');
        csv_num(b, s->sw[i].scale);
        hq_sbuf_putc(b, ',');
        csv_num(b, s->sw[i].acc);
        hq_sbuf_putc(b, ',');
        csv_num(b, s->sw[i].auc);
        hq_sbuf_puts(b, "\r\n");
    }
}

static void write_errors_csv(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "backend,mitigation,shots,circuit,error\r\n");
    for (int i = 0; i < s->nrows; i++) {
        const row *r = &s->rows[i];
        if (!r->per_circuit) continue;
        int k = 0;
        for (const cJSON *x = r->per_circuit->child; x; x = x->next, k++) {
            csv_str(b, r->backend);
            hq_sbuf_putc(b, ',');
            csv_str(b, r->mitigation);
            hq_sbuf_printf(b, ",%lld,%d,", (long long)r->shots, k);
            csv_num(b, x->valuedouble);
            hq_sbuf_puts(b, "\r\n");
        }
    }
}

/* ==== charts =========================================================================== */

/* Distinct (backend, mitigation) pairs of the results, in order of first appearance. */
typedef struct pair {
    const char *backend, *mitigation;
} pair;

static int pairs_of_rows(const study *s, pair *out) {
    int n = 0;
    for (int i = 0; i < s->nrows; i++) {
        int k = 0;
        while (k < n && (strcmp(out[k].backend, s->rows[i].backend) ||
                         strcmp(out[k].mitigation, s->rows[i].mitigation)))
            k++;
        if (k == n) out[n++] = (pair){s->rows[i].backend, s->rows[i].mitigation};
    }
    return n;
}

/* The row shown for a pair in the bar chart: exact (shots 0) first, else the most shots. */
static const row *best_row(const study *s, pair p) {
    const row *best = NULL;
    for (int i = 0; i < s->nrows; i++) {
        const row *r = &s->rows[i];
        if (strcmp(r->backend, p.backend) || strcmp(r->mitigation, p.mitigation)) continue;
        if (!best || (best->shots != 0 && (r->shots == 0 || r->shots > best->shots))) best = r;
    }
    return best;
}

static hq_status chart_bars(const study *s, hq_sbuf *b) {
    pair *pr = hq_malloc((size_t)s->nrows * sizeof *pr);
    char(*names)[160] = hq_malloc((size_t)s->nrows * sizeof *names);
    const char **gl = hq_malloc((size_t)s->nrows * sizeof *gl);
    double *v = hq_malloc((size_t)s->nrows * 3 * sizeof *v);
    hq_status st;
    if (!pr || !names || !gl || !v) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
        goto done;
    }
    int n = pairs_of_rows(s, pr);
    if (n > 256) n = 256;
    for (int g = 0; g < n; g++) {
        const row *r = best_row(s, pr[g]);
        series_name(names[g], sizeof names[g], pr[g].backend, pr[g].mitigation);
        gl[g] = names[g];
        v[3 * g] = r->acc, v[3 * g + 1] = r->auc, v[3 * g + 2] = r->f1;
    }
    static const char *const series[] = {"ACC", "AUC", "F1"};
    hq_bars bars = {.id = "plot-acc-auc",
                    .title = "Accuracy, AUC and F1 per backend",
                    .ylabel = "score",
                    .width = 760,
                    .height = 400,
                    .n_groups = n,
                    .groups = gl,
                    .n_series = 3,
                    .series = series,
                    .values = v,
                    .ymin = 0,
                    .ymax = 1,
                    .value_labels = true};
    st = hq_svgplot_bars(&bars, b);
done:
    hq_free(pr);
    hq_free(names);
    hq_free(gl);
    hq_free(v);
    return st;
}

static hq_status chart_errors(const study *s, hq_sbuf *b) {
    pair *pr = hq_malloc((size_t)s->nrows * sizeof *pr);
    hq_plot_series *ser = hq_calloc((size_t)s->nrows, sizeof *ser);
    char(*names)[160] = hq_malloc((size_t)s->nrows * sizeof *names);
    double *buf = hq_malloc((size_t)s->nrows * 4 * sizeof *buf);
    hq_status st = HQ_ERR_NOMEM;
    if (!pr || !ser || !names || !buf) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
        goto done;
    }
    /* every row belongs to one pair: series g takes the slice [used, used + k) of x, y,
     * lo, hi (nrows entries each) */
    int n = pairs_of_rows(s, pr), ns = 0, used = 0, N = s->nrows;
    for (int g = 0; g < n && ns < HQ_PLOT_MAX_SERIES; g++) {
        double *x = buf + used, *y = buf + N + used, *lo = buf + 2 * N + used,
               *hi = buf + 3 * N + used;
        int k = 0;
        /* rows of this pair with shots > 0 and an error, ascending shots (insertion) */
        for (int i = 0; i < N; i++) {
            const row *r = &s->rows[i];
            if (strcmp(r->backend, pr[g].backend) || strcmp(r->mitigation, pr[g].mitigation) ||
                r->shots <= 0 || isnan(r->err_mean))
                continue;
            int j = k++;
            while (j > 0 && x[j - 1] > (double)r->shots) {
                x[j] = x[j - 1], y[j] = y[j - 1], lo[j] = lo[j - 1], hi[j] = hi[j - 1];
                j--;
            }
            double sem = isnan(r->err_sem) ? 0 : r->err_sem;
            x[j] = (double)r->shots, y[j] = r->err_mean, lo[j] = r->err_mean - sem,
            hi[j] = r->err_mean + sem;
        }
        if (!k) continue;
        series_name(names[ns], sizeof names[ns], pr[g].backend, pr[g].mitigation);
        ser[ns] = (hq_plot_series){.name = names[ns],
                                   .n = k,
                                   .x = x,
                                   .y = y,
                                   .ylo = lo,
                                   .yhi = hi,
                                   .line = true,
                                   .markers = true,
                                   .dashed = strcmp(pr[g].mitigation, "none") != 0};
        ns++;
        used += k;
    }
    hq_plot p = hq_plot_defaults();
    p.id = "plot-expect-error";
    p.title = "Expectation-value error vs shots";
    p.xlabel = "shots";
    p.ylabel = "mean |error| of <O> (± s.e.)";
    p.width = 760;
    p.xlog = p.ylog = true;
    p.series = ser;
    p.n_series = ns;
    st = hq_svgplot_lines(&p, b);
done:
    hq_free(pr);
    hq_free(ser);
    hq_free(names);
    hq_free(buf);
    return st;
}

static hq_status chart_roc(const study *s, hq_sbuf *b) {
    int n = HQ_MIN(s->nroc, HQ_PLOT_MAX_SERIES);
    hq_plot_series *ser = hq_calloc((size_t)HQ_MAX(n, 1), sizeof *ser);
    char(*names)[200] = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *names);
    if (!ser || !names) {
        hq_free(ser);
        hq_free(names);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
    }
    for (int i = 0; i < n; i++) {
        char nm[160];
        series_name(nm, sizeof nm, s->rocs[i].backend, s->rocs[i].mitigation);
        snprintf(names[i], sizeof names[i], "%s (AUC %.3f)", nm, s->rocs[i].auc);
        ser[i] = (hq_plot_series){.name = names[i],
                                  .n = s->rocs[i].n,
                                  .x = s->rocs[i].fpr,
                                  .y = s->rocs[i].tpr,
                                  .line = true};
    }
    hq_plot p = hq_plot_defaults();
    p.id = "plot-roc";
    p.title = "ROC curves";
    p.xlabel = "false positive rate";
    p.ylabel = "true positive rate";
    p.width = 600;
    p.height = 440;
    p.xmin = p.ymin = 0;
    p.xmax = p.ymax = 1;
    p.diagonal = true;
    p.series = ser;
    p.n_series = n;
    hq_status st = hq_svgplot_lines(&p, b);
    hq_free(ser);
    hq_free(names);
    return st;
}

static hq_status chart_sweep(const study *s, hq_sbuf *b) {
    /* per (backend, mitigation): an ACC series and an AUC series (dashed) */
    int cap = 2 * s->nsw;
    hq_plot_series *ser = hq_calloc((size_t)HQ_MAX(cap, 1), sizeof *ser);
    char(*names)[200] = hq_malloc((size_t)HQ_MAX(cap, 1) * sizeof *names);
    double *buf = hq_malloc((size_t)HQ_MAX(cap, 1) * 2 * sizeof *buf); /* x, y: cap each */
    pair *pr = hq_malloc((size_t)HQ_MAX(s->nsw, 1) * sizeof *pr);
    hq_status st;
    if (!ser || !names || !buf || !pr) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory");
        goto done;
    }
    int np = 0, ns = 0, used = 0;
    for (int i = 0; i < s->nsw; i++) {
        int k = 0;
        while (k < np && (strcmp(pr[k].backend, s->sw[i].backend) ||
                          strcmp(pr[k].mitigation, s->sw[i].mitigation)))
            k++;
        if (k == np) pr[np++] = (pair){s->sw[i].backend, s->sw[i].mitigation};
    }
    for (int g = 0; g < np && ns + 2 <= HQ_PLOT_MAX_SERIES; g++) {
        for (int m = 0; m < 2; m++) {
            double *x = buf + used, *y = buf + cap + used;
            int k = 0;
            for (int i = 0; i < s->nsw; i++) {
                const sweep *w = &s->sw[i];
                if (strcmp(w->backend, pr[g].backend) || strcmp(w->mitigation, pr[g].mitigation))
                    continue;
                int j = k++;
                double val = m ? w->auc : w->acc;
                while (j > 0 && x[j - 1] > w->scale) x[j] = x[j - 1], y[j] = y[j - 1], j--;
                x[j] = w->scale, y[j] = val;
            }
            char nm[160];
            series_name(nm, sizeof nm, pr[g].backend, pr[g].mitigation);
            snprintf(names[ns], sizeof names[ns], "%s %s", m ? "AUC" : "ACC", nm);
            ser[ns] = (hq_plot_series){.name = names[ns],
                                       .n = k,
                                       .x = x,
                                       .y = y,
                                       .line = true,
                                       .markers = true,
                                       .dashed = m == 1};
            ns++;
            used += k;
        }
    }
    hq_plot p = hq_plot_defaults();
    p.id = "plot-noise-sweep";
    p.title = "Noise-scale sweep";
    p.xlabel = "noise scale (x device noise)";
    p.ylabel = "score";
    p.width = 760;
    p.ymin = 0;
    p.ymax = 1;
    p.series = ser;
    p.n_series = ns;
    st = hq_svgplot_lines(&p, b);
done:
    hq_free(ser);
    hq_free(names);
    hq_free(buf);
    hq_free(pr);
    return st;
}

/* ==== HTML ============================================================================= */

static const char css[] =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;"
    "color:#222;padding:0 16px}"
    "h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px "
    "solid #ddd;padding-bottom:4px}.meta{color:#555;margin-top:0}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th{background:#f3f5f8}td[data-field=backend],td[data-field=mitigation]{text-align:left}"
    "figure{margin:16px 0;overflow-x:auto}figcaption{font-size:12px;color:#555}"
    "pre{font-size:12px;line-height:1.25;overflow-x:auto;background:#fafafa;padding:8px}"
    ".note{font-size:12px;color:#555}";

static void html_head(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<meta name=\"generator\" content=\"hqcnn\">\n<title>");
    hq_xml_escape(b, s->title);
    hq_sbuf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1 id=\"title\">", css);
    hq_xml_escape(b, s->title);
    hq_sbuf_puts(b, "</h1>\n<p class=\"meta\">");
    const char *lab[] = {"dataset", "run", "created"};
    const char *val[] = {s->dataset, s->run, s->created};
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (!val[i]) continue;
        hq_sbuf_printf(b, "%s%s: <span id=\"meta-%s\">", first ? "" : " · ", lab[i], lab[i]);
        hq_xml_escape(b, val[i]);
        hq_sbuf_puts(b, "</span>");
        first = false;
    }
    if (s->meta)
        for (const cJSON *m = s->meta->child; m; m = m->next) {
            if (!cJSON_IsString(m) && !cJSON_IsNumber(m)) continue;
            hq_sbuf_puts(b, first ? "" : " · ");
            hq_xml_escape(b, m->string);
            hq_sbuf_puts(b, ": ");
            if (cJSON_IsString(m))
                hq_xml_escape(b, m->valuestring);
            else
                hq_sbuf_put_double(b, m->valuedouble);
            first = false;
        }
    hq_sbuf_puts(b, "</p>\n");
}

static void html_results(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(
        b, "<section id=\"summary\">\n<h2>Results</h2>\n<table id=\"results\">\n<thead><tr>"
           "<th>backend</th><th>mitigation</th><th>shots</th><th>ACC</th><th>AUC</th><th>F1</th>"
           "<th>|⟨O⟩ error| mean</th><th>± s.e.</th><th>TVD</th><th>Hellinger fidelity</th>"
           "<th>jobs</th>");
    hq_sbuf_puts(b, "<th>cost (");
    hq_xml_escape(b, s->currency);
    hq_sbuf_puts(b, ")</th><th>wall time (s)</th></tr></thead>\n<tbody>\n");
    for (int i = 0; i < s->nrows; i++) {
        const row *r = &s->rows[i];
        hq_sbuf_printf(b, "<tr id=\"result-%d\" data-row=\"%d\">", i, i);
        td_str(b, "backend", r->backend);
        td_str(b, "mitigation", r->mitigation);
        put_num_attr(b, "shots", (double)r->shots);
        if (r->shots == 0)
            hq_sbuf_puts(b, "exact</td>");
        else
            hq_sbuf_printf(b, "%lld</td>", (long long)r->shots);
        td_num(b, "acc", r->acc, "%.4f");
        td_num(b, "auc", r->auc, "%.4f");
        td_num(b, "f1", r->f1, "%.4f");
        td_num(b, "expect_error.mean", r->err_mean, "%.4g");
        td_num(b, "expect_error.sem", r->err_sem, "%.2g");
        td_num(b, "tvd", r->tvd, "%.4f");
        td_num(b, "hellinger_fidelity", r->hf, "%.4f");
        td_num(b, "jobs", r->jobs < 0 ? NAN : (double)r->jobs, "%.0f");
        td_num(b, "cost", r->cost, "%.2f");
        td_num(b, "wall_seconds", r->wall, "%.1f");
        hq_sbuf_puts(b, "</tr>\n");
    }
    hq_sbuf_puts(b, "</tbody>\n</table>\n<p class=\"note\">shots “exact”: exact probabilities "
                    "(no sampling). Expectation error: mean over circuits of |estimate − exact "
                    "value| with its standard error. TVD and Hellinger fidelity against the "
                    "ideal distribution. — : not measured.</p>\n</section>\n");
}

static void html_roc_table(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "<table id=\"roc\">\n<thead><tr><th>backend</th><th>mitigation</th>"
                    "<th>points</th><th>AUC</th></tr></thead>\n<tbody>\n");
    for (int i = 0; i < s->nroc; i++) {
        hq_sbuf_printf(b, "<tr data-row=\"%d\">", i);
        td_str(b, "backend", s->rocs[i].backend);
        td_str(b, "mitigation", s->rocs[i].mitigation);
        td_num(b, "points", s->rocs[i].n, "%.0f");
        td_num(b, s->rocs[i].auc_given ? "auc" : "auc_trapezoid", s->rocs[i].auc, "%.4f");
        hq_sbuf_puts(b, "</tr>\n");
    }
    hq_sbuf_puts(b, "</tbody>\n</table>\n");
}

static void html_sweep_table(const study *s, hq_sbuf *b) {
    hq_sbuf_puts(b, "<table id=\"sweep\">\n<thead><tr><th>backend</th><th>mitigation</th>"
                    "<th>noise scale</th><th>ACC</th><th>AUC</th></tr></thead>\n<tbody>\n");
    for (int i = 0; i < s->nsw; i++) {
        hq_sbuf_printf(b, "<tr data-row=\"%d\">", i);
        td_str(b, "backend", s->sw[i].backend);
        td_str(b, "mitigation", s->sw[i].mitigation);
        td_num(b, "scale", s->sw[i].scale, "×%g");
        td_num(b, "acc", s->sw[i].acc, "%.4f");
        td_num(b, "auc", s->sw[i].auc, "%.4f");
        hq_sbuf_puts(b, "</tr>\n");
    }
    hq_sbuf_puts(b, "</tbody>\n</table>\n");
}

static hq_status html_circuit(const study *s, hq_sbuf *b) {
    hq_circuit *c = NULL;
    hq_status st = hq_qasm_parse_string(s->qasm, strlen(s->qasm), "circuit.qasm", NULL, &c);
    if (st) return hq_fail_prefix(NULL, st, "hq_report: circuit.qasm: ");
    hq_sbuf_puts(b, "<section id=\"circuit\">\n<h2>");
    hq_xml_escape(b, s->circuit_title);
    hq_sbuf_printf(
        b,
        "</h2>\n<p class=\"note\">%d qubits, %lld operations, depth %lld, %lld "
        "two-qubit gates.</p>\n<figure id=\"fig-circuit\">",
        hq_circuit_n_qubits(c), (long long)hq_circuit_n_ops(c), (long long)hq_circuit_depth(c),
        (long long)(hq_circuit_count_gate(c, HQ_GATE_CX) + hq_circuit_count_gate(c, HQ_GATE_ECR) +
                    hq_circuit_count_gate(c, HQ_GATE_CZ) + hq_circuit_count_gate(c, HQ_GATE_MS)));
    st = hq_draw_svg(c, b);
    if (!st) {
        hq_sbuf_puts(b, "</figure>\n<details><summary>Text drawing and OpenQASM</summary>\n<pre "
                        "id=\"circuit-text\">");
        hq_sbuf t = HQ_SBUF_INIT;
        st = hq_draw_text(c, 0, &t);
        if (!st) hq_xml_escape(b, t.p);
        hq_sbuf_free(&t);
        hq_sbuf_puts(b, "</pre>\n<pre id=\"circuit-qasm\">");
        hq_xml_escape(b, s->qasm);
        hq_sbuf_puts(b, "</pre>\n</details>\n</section>\n");
    }
    hq_circuit_free(c);
    return st;
}

static hq_status render_html(const study *s, hq_sbuf *b) {
    html_head(s, b);
    html_results(s, b);
    hq_sbuf_puts(b, "<section id=\"plots\">\n<h2>Plots</h2>\n<figure id=\"fig-acc-auc\">");
    TRY(chart_bars(s, b));
    hq_sbuf_puts(b, "<figcaption>ACC, AUC and F1 per backend and mitigation (exact "
                    "evaluation where available, else the largest shot count).</figcaption>"
                    "</figure>\n<figure id=\"fig-expect-error\">");
    TRY(chart_errors(s, b));
    hq_sbuf_puts(b, "<figcaption>Mean absolute expectation-value error against exact values "
                    "vs shots (log–log), error bars ± one standard error; dashed: with "
                    "mitigation.</figcaption></figure>\n");
    if (s->nroc) {
        hq_sbuf_puts(b, "<figure id=\"fig-roc\">");
        TRY(chart_roc(s, b));
        hq_sbuf_puts(b, "<figcaption>ROC curves on the test split per backend.</figcaption>"
                        "</figure>\n");
        html_roc_table(s, b);
    }
    if (s->nsw) {
        hq_sbuf_puts(b, "<figure id=\"fig-noise-sweep\">");
        TRY(chart_sweep(s, b));
        hq_sbuf_puts(b, "<figcaption>ACC (solid) and AUC (dashed) as the device noise is "
                        "scaled (×0 = ideal).</figcaption></figure>\n");
        html_sweep_table(s, b);
    }
    hq_sbuf_puts(b, "</section>\n");
    if (s->qasm) TRY(html_circuit(s, b));
    hq_sbuf_puts(b, "<footer class=\"note\"><p>The same numbers: " HQ_REPORT_RESULTS_CSV
                    ", " HQ_REPORT_ROC_CSV ", " HQ_REPORT_SWEEP_CSV ", " HQ_REPORT_ERRORS_CSV
                    " and " HQ_REPORT_JSON " beside this file. Generated by hqcnn.</p></footer>\n"
                    "</body>\n</html>\n");
    return hq_sbuf_status(b) ? hq_failf(NULL, HQ_ERR_NOMEM, "hq_report: out of memory") : HQ_OK;
}

/* ==== public =========================================================================== */

hq_status hq_report_html(const char *json_text, hq_sbuf *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_report_html: out is NULL");
    study s;
    hq_status st = parse_study(json_text, &s);
    if (!st) st = render_html(&s, out);
    study_free(&s);
    return st;
}

static hq_status write_file(const char *dir, const char *name, const hq_sbuf *b) {
    char path[4096];
    hq_status st = hq_path_join(path, sizeof path, dir, name);
    if (!st) st = hq_file_write_atomic(path, b->p ? b->p : "", b->len);
    return st;
}

/* JSON text of v, indented by `depth` tabs, every number as the shortest decimal that reads
 * back to the same double (cJSON_Print accepts a 15-digit form within a relative epsilon,
 * which can change the last bit). */
static void put_json(hq_sbuf *b, const cJSON *v, int depth) {
    if (cJSON_IsNumber(v)) {
        hq_sbuf_put_double(b, v->valuedouble);
    } else if (cJSON_IsString(v)) {
        hq_sbuf_put_json_str(b, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        hq_sbuf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        bool obj = cJSON_IsObject(v);
        hq_sbuf_putc(b, obj ? '{' : '[');
        /* arrays of numbers stay on one line; objects and other arrays one item a line */
        bool flat = !obj;
        for (const cJSON *c = v->child; c && flat; c = c->next) flat = cJSON_IsNumber(c);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (flat) {
                if (c != v->child) hq_sbuf_puts(b, ", ");
            } else {
                hq_sbuf_puts(b, c == v->child ? "\n" : ",\n");
                for (int i = 0; i <= depth; i++) hq_sbuf_putc(b, '\t');
            }
            if (obj) {
                hq_sbuf_put_json_str(b, c->string);
                hq_sbuf_puts(b, ": ");
            }
            put_json(b, c, depth + 1);
        }
        if (!flat && v->child) {
            hq_sbuf_putc(b, '\n');
            for (int i = 0; i < depth; i++) hq_sbuf_putc(b, '\t');
        }
        hq_sbuf_putc(b, obj ? '}' : ']');
    } else {
        hq_sbuf_puts(b, "null");
    }
}

hq_status hq_report_write(const char *json_text, const char *out_dir) {
    if (!out_dir || !*out_dir)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_report_write: out_dir is NULL or empty");
    study s;
    hq_status st = parse_study(json_text, &s);
    if (st) {
        study_free(&s);
        return st;
    }
    hq_sbuf b = HQ_SBUF_INIT;
    st = hq_mkdir_p(out_dir, 0755);
    /* the document itself, re-printed (validated; numbers keep their exact values) */
    if (!st) {
        put_json(&b, s.root, 0);
        hq_sbuf_putc(&b, '\n');
        st = hq_sbuf_status(&b) ? hq_failf(NULL, HQ_ERR_NOMEM, "hq_report_write: out of memory")
                                : write_file(out_dir, HQ_REPORT_JSON, &b);
    }
    void (*csv[])(const study *, hq_sbuf *) = {write_results_csv, write_roc_csv, write_sweep_csv,
                                               write_errors_csv};
    const char *names[] = {HQ_REPORT_RESULTS_CSV, HQ_REPORT_ROC_CSV, HQ_REPORT_SWEEP_CSV,
                           HQ_REPORT_ERRORS_CSV};
    for (size_t i = 0; i < HQ_ARRAY_LEN(csv) && !st; i++) {
        hq_sbuf_reset(&b);
        csv[i](&s, &b);
        st = hq_sbuf_status(&b) ? hq_failf(NULL, HQ_ERR_NOMEM, "hq_report_write: out of memory")
                                : write_file(out_dir, names[i], &b);
    }
    if (!st) {
        hq_sbuf_reset(&b);
        st = render_html(&s, &b);
        if (!st) st = write_file(out_dir, HQ_REPORT_HTML, &b);
    }
    hq_sbuf_free(&b);
    study_free(&s);
    return st;
}

hq_status hq_report_write_file(const char *json_path, const char *out_dir) {
    if (!json_path)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_report_write_file: json_path is NULL");
    char *data = NULL;
    size_t len;
    hq_status st = hq_file_read(json_path, (size_t)256 << 20, &data, &len);
    if (st) return st;
    st = hq_report_write(data, out_dir);
    if (st) hq_fail_prefix(NULL, st, "%s: ", json_path);
    hq_free(data);
    return st;
}
