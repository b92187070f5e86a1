/*
 * orchestrator/study.c — the noise study (see study.h): model split at its quantum layer,
 * exact references, local noisy simulation of transpiled circuits, remote backends through
 * the executor, readout mitigation and ZNE, metrics, and the report document.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/distance.h"
#include "backends/mitigation.h"
#include "backends/noise.h"
#include "backends/qasm.h"
#include "backends/rest_impl.h"
#include "backends/statevector.h"
#include "backends/transpile.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "db/jobdb.h"
#include "nn/loss.h"
#include "nn/medmnist.h"
#include "nn/metrics.h"
#include "nn/model.h"
#include "orchestrator/qexec.h"
#include "orchestrator/report.h"
#include "orchestrator/study.h"
#include "orchestrator/train.h"

#define MAXQ 6 /* qubits of the quantum layer the study handles (2^MAXQ outcomes) */
#define NF   3 /* ZNE scale factors */
static const int fold_scales[NF] = {1, 3, 5};
#define EVAL_BATCH 256

typedef struct study {
    const hq_study_opts *o;
    hq_model *m;
    int q; /* index of the quantum layer */
    int n_layers;
    hq_dataset *d;
    int64_t n_img;      /* test images evaluated */
    hq_scoring scoring; /* the run's scoring: tta (each image and its mirror, scores
                           averaged) and the prior correction */
    int64_t n;          /* circuit rows: the images, then (tta) their mirrors */
    int nq, K, D, S;    /* qubits, observables (2 nq), outcomes (2^nq), symbols */
    const hq_circuit *tmpl;
    hq_circuit *meas[2]; /* template + basis change (Z, X) + measurements */
    double *sym;         /* (n, S) symbol values of every row */
    double *ideal_exp;   /* (n, K) exact expectations */
    double *ideal_p;     /* (2, n, D) ideal outcome distributions per basis */
    hq_jobdb *db;
    int64_t run_id;
    char run_name[256];
    hq_sbuf results, roc, sweep;
    int n_results, n_roc, n_sweep;
    char *circuit_qasm; /* transpiled circuit for the report (owned) */
    char circuit_title[128];
    int64_t total_jobs, total_circuits, total_shots; /* submitted by this study (all backends) */
    double total_cost;                               /* USD of those jobs */
} study;

/* ==== small helpers =================================================================== */

static double expect_z(const double *p, int D, int bit) {
    double e = 0;
    for (int o = 0; o < D; o++) e += ((o >> bit) & 1) ? -p[o] : p[o];
    return e;
}

/* expectations [Z_i from pz, X_i from px] */
static void expect_from(const double *pz, const double *px, int nq, int D, double *e) {
    for (int i = 0; i < nq; i++) {
        e[i] = expect_z(pz, D, i);
        e[nq + i] = expect_z(px, D, i);
    }
}

static hq_status measured_template(const hq_circuit *t, int basis, hq_circuit **out) {
    hq_circuit *c;
    hq_status st = hq_circuit_copy(t, &c);
    if (st) return st;
    int n = hq_circuit_n_qubits(c);
    st = hq_circuit_add_creg(c, "meas", n, NULL);
    for (int i = 0; st == HQ_OK && basis == 1 && i < n; i++)
        st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
    for (int i = 0; st == HQ_OK && i < n; i++) st = hq_circuit_add_measure(c, i, i);
    if (st)
        hq_circuit_free(c);
    else
        *out = c;
    return st;
}

/* ==== model, data, references ========================================================= */

static hq_status load_model(study *s) {
    const hq_study_opts *o = s->o;
    hq_eval_target tg;
    hq_status st = hq_eval_target_find(o->what, s->db, hq_jobdb_path(s->db), &tg);
    if (st) return st;
    char weights[2300], ds[64];
    snprintf(weights, sizeof weights, "%s", tg.weights);
    snprintf(ds, sizeof ds, "%s", o->dataset ? o->dataset : tg.dataset);
    if (tg.run_id) {
        snprintf(s->run_name, sizeof s->run_name, "study-%s", tg.run_name);
    } else {
        char hex[HQ_SHA256_HEX_LEN];
        snprintf(s->run_name, sizeof s->run_name, "study-%s", o->what);
        if (hq_sha256_hex(o->what, strlen(o->what), hex) == HQ_OK) {
            hex[12] = '\0';
            snprintf(s->run_name, sizeof s->run_name, "study-file-%s", hex);
        }
    }
    /* scored as the run scored its test split: its tta and prior correction */
    if (tg.config_json) st = hq_scoring_of_config(tg.config_json, o->data_dir, -1, &s->scoring);
    hq_eval_target_clear(&tg);
    if (st) return st;
    if (!ds[0])
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "a weight file does not name its dataset: add --dataset NAME");
    hq_model_opts mo = {.max_batch = EVAL_BATCH, .threads = o->threads};
    st = hq_model_create_from_weights(weights, &mo, &s->m);
    if (st) return st;
    s->n_layers = hq_model_n_layers(s->m);
    s->q = -1;
    for (int i = 0; i < s->n_layers; i++)
        if (!strcmp(hq_layer_type(hq_model_layer(s->m, i)), "quantum")) s->q = i;
    if (s->q < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "the model of '%s' has no quantum layer: nothing to study", o->what);
    s->tmpl = hq_model_quantum_circuit(s->m);
    s->nq = hq_circuit_n_qubits(s->tmpl);
    if (s->nq > MAXQ)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "the study handles up to %d qubits (the layer has %d)", MAXQ, s->nq);
    s->K = 2 * s->nq;
    s->D = 1 << s->nq;
    s->S = hq_circuit_n_symbols(s->tmpl);
    hq_medmnist_opts dopt = {.data_dir = o->data_dir, .size = 28};
    st = hq_medmnist_load(ds, HQ_SPLIT_TEST, &dopt, &s->d);
    if (st) return st;
    if (hq_model_classes(s->m) != s->d->n_classes)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "the weights have %d classes, %s has %d",
                        hq_model_classes(s->m), ds, s->d->n_classes);
    if (o->tta && (st = hq_tta_parse(o->tta, &s->scoring.tta_hflip)) != HQ_OK) return st;
    s->n_img = o->subset > 0 && o->subset < s->d->n ? o->subset : s->d->n;
    s->n = s->n_img * (s->scoring.tta_hflip ? 2 : 1);
    for (int b = 0; b < 2 && st == HQ_OK; b++) st = measured_template(s->tmpl, b, &s->meas[b]);
    return st;
}

/* Angles of every test image (backbone forward) and the layer's weights -> symbol rows. */
static hq_status symbol_rows(study *s) {
    s->sym = hq_malloc((size_t)(s->n * s->S) * sizeof *s->sym);
    if (!s->sym) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_param_info w;
    hq_status st = hq_layer_param(hq_model_layer(s->m, s->q), 0, &w);
    if (st) return st;
    if (w.numel != s->S - s->nq)
        return hq_failf(NULL, HQ_ERR_INTERNAL, "quantum layer has %lld weights, its circuit %d",
                        (long long)w.numel, s->S - s->nq);
    const hq_dataset *d = s->d;
    size_t img = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    float *flip = s->scoring.tta_hflip ? hq_malloc((size_t)EVAL_BATCH * img * sizeof *flip) : NULL;
    if (s->scoring.tta_hflip && !flip) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    /* rows [0, n_img): the images; with tta rows [n_img, 2 n_img): their mirrors
     * (left-right, as the training evaluation does) */
    for (int m = 0; m < (s->scoring.tta_hflip ? 2 : 1); m++)
        for (int64_t i = 0; st == HQ_OK && i < s->n_img; i += EVAL_BATCH) {
            int nb = (int)HQ_MIN((int64_t)EVAL_BATCH, s->n_img - i);
            const float *src = d->images + (size_t)i * img;
            if (m == 1) {
                hq_scoring_mirror(flip, src, (int64_t)nb * d->c * d->h, d->w);
                src = flip;
            }
            hq_tensor x = hq_tensor_view((float *)src, hq_shape4(nb, d->c, d->h, d->w)), ang;
            hq_pass pass = {.train = false};
            st = hq_model_forward_layers(s->m, 0, s->q, &x, &pass, &ang);
            for (int r = 0; st == HQ_OK && r < nb; r++) {
                double *row = s->sym + (m * s->n_img + i + r) * s->S;
                for (int k = 0; k < s->nq; k++) row[k] = ang.data[(int64_t)r * s->nq + k];
                for (int k = 0; k < w.numel; k++) row[s->nq + k] = w.data[k];
            }
        }
    hq_free(flip);
    return st;
}

static hq_status ideal_reference(study *s) {
    s->ideal_exp = hq_malloc((size_t)(s->n * s->K) * sizeof *s->ideal_exp);
    s->ideal_p = hq_malloc((size_t)(2 * s->n * s->D) * sizeof *s->ideal_p);
    if (!s->ideal_exp || !s->ideal_p) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_status st = HQ_OK;
    for (int64_t r = 0; st == HQ_OK && r < s->n; r++) {
        for (int b = 0; st == HQ_OK && b < 2; b++) {
            hq_sv *sv = NULL;
            st = hq_sv_simulate(s->meas[b], s->sym + r * s->S, &sv);
            if (st == HQ_OK)
                st = hq_sv_probabilities(sv, s->ideal_p + ((int64_t)b * s->n + r) * s->D);
            hq_sv_free(sv);
        }
        if (st == HQ_OK)
            expect_from(s->ideal_p + r * s->D, s->ideal_p + (s->n + r) * s->D, s->nq, s->D,
                        s->ideal_exp + r * s->K);
    }
    return st;
}

/* Scores of the head for expectation values (n, K) -> softmax (n, C); metrics; ROC. */
static hq_status head_metrics(study *s, const double *expect, hq_metrics *m, float **scores_out) {
    int C = s->d->n_classes;
    float *e = hq_malloc((size_t)(EVAL_BATCH * s->K) * sizeof *e);
    float *scores = hq_malloc((size_t)(s->n * C) * sizeof *scores);
    hq_status st = (!e || !scores) ? hq_failf(NULL, HQ_ERR_NOMEM, "out of memory") : HQ_OK;
    for (int64_t i = 0; st == HQ_OK && i < s->n; i += EVAL_BATCH) {
        int nb = (int)HQ_MIN((int64_t)EVAL_BATCH, s->n - i);
        for (int64_t k = 0; k < (int64_t)nb * s->K; k++) e[k] = (float)expect[i * s->K + k];
        hq_tensor x = hq_tensor_view(e, hq_shape4(nb, s->K, 1, 1)), logits;
        hq_pass pass = {.train = false};
        st = hq_model_forward_layers(s->m, s->q + 1, s->n_layers, &x, &pass, &logits);
        if (st == HQ_OK) hq_softmax_rows(scores + (size_t)i * (size_t)C, logits.data, nb, C);
    }
    /* rows [n_img, 2 n_img) are the mirrors' scores (tta) */
    if (st == HQ_OK) hq_scoring_apply(&s->scoring, scores, scores + s->n_img * C, s->n_img, C);
    if (st == HQ_OK) st = hq_metrics_evaluate(s->d->task, s->d->labels, scores, s->n_img, C, m);
    hq_free(e);
    if (st == HQ_OK && scores_out)
        *scores_out = scores;
    else
        hq_free(scores);
    return st;
}

/* ROC points of a binary task (positive score = last column) into the roc array. */
static void add_roc(study *s, const char *label, int64_t shots, const char *mit,
                    const float *scores, double auc) {
    if (s->d->task != HQ_TASK_BINARY) return;
    int C = s->d->n_classes;
    int64_t n = s->n_img, pos = 0;
    for (int64_t i = 0; i < n; i++) pos += s->d->labels[i * s->d->n_label_cols] != 0;
    int64_t neg = n - pos;
    if (!pos || !neg) return;
    /* thresholds at every distinct score, descending */
    float *sc = hq_malloc((size_t)n * sizeof *sc);
    if (!sc) return;
    for (int64_t i = 0; i < n; i++) sc[i] = scores[i * C + C - 1];
    hq_sbuf *b = &s->roc;
    if (s->n_roc++) hq_sbuf_putc(b, ',');
    char lab[160];
    if (shots > 0)
        snprintf(lab, sizeof lab, "%s, %" PRId64 " shots", label, shots);
    else
        snprintf(lab, sizeof lab, "%s, exact", label);
    hq_sbuf_puts(b, "{\"backend\":");
    hq_sbuf_put_json_str(b, lab);
    hq_sbuf_puts(b, ",\"mitigation\":");
    hq_sbuf_put_json_str(b, mit);
    hq_sbuf_puts(b, ",\"fpr\":[0");
    hq_sbuf tpr = HQ_SBUF_INIT;
    hq_sbuf_puts(&tpr, "0");
    float last = INFINITY;
    for (;;) {
        float t = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (sc[i] < last && sc[i] > t) t = sc[i];
        if (t == -INFINITY) break;
        int64_t tp = 0, fp = 0;
        for (int64_t i = 0; i < n; i++)
            if (sc[i] >= t) {
                if (s->d->labels[i * s->d->n_label_cols])
                    tp++;
                else
                    fp++;
            }
        hq_sbuf_putc(b, ',');
        hq_sbuf_put_double(b, (double)fp / (double)neg);
        hq_sbuf_putc(&tpr, ',');
        hq_sbuf_put_double(&tpr, (double)tp / (double)pos);
        last = t;
    }
    hq_sbuf_printf(b, "],\"tpr\":[%s]", tpr.p ? tpr.p : "0");
    if (isfinite(auc)) {
        hq_sbuf_puts(b, ",\"auc\":");
        hq_sbuf_put_double(b, auc);
    }
    hq_sbuf_putc(b, '}');
    hq_sbuf_free(&tpr);
    hq_free(sc);
}

static void put_num_or_null(hq_sbuf *b, double v) {
    if (isfinite(v))
        hq_sbuf_put_double(b, v);
    else
        hq_sbuf_puts(b, "null");
}

/* ==== one configuration: distributions -> expectations -> metrics ===================== */

typedef struct outcome_set {
    double *p[NF]; /* (2, n, D) estimated distributions per fold scale (NULL if absent) */
    int n_folds;   /* 1 or NF */
    hq_readout_cal cal[NF][2]; /* readout confusion of the bits of each fold and basis (the
                                  physical qubits they are read from differ with the layout) */
    bool have_cal;
    const char *calib; /* calibration id of the noise model (dm rows), or NULL */
    int64_t jobs;
    double cost, wall;
} outcome_set;

/* ROC curves are kept for one shot count per backend (exact where the backend has it, else
 * the largest), as in the report's bar chart: one curve per backend and mitigation. */
static int64_t roc_shots(const study *s, bool local) {
    int64_t best = -1;
    for (int i = 0; i < s->o->n_shots; i++) {
        int64_t v = s->o->shots[i];
        if (v == 0 && local) return 0;
        if (v > best) best = v;
    }
    return best;
}

static hq_status finish_config(study *s, const char *label, int64_t shots, const char *mit,
                               outcome_set *os, bool want_roc) {
    bool use_ro = strstr(mit, "readout") != NULL, use_zne = strstr(mit, "zne") != NULL;
    int n = (int)s->n, D = s->D, K = s->K, nq = s->nq;
    double *E = hq_calloc((size_t)n * (size_t)K, sizeof *E);
    double *pz = hq_malloc((size_t)D * sizeof *pz), *px = hq_malloc((size_t)D * sizeof *px);
    hq_status st = (!E || !pz || !px) ? hq_failf(NULL, HQ_ERR_NOMEM, "out of memory") : HQ_OK;
    double tvd_sum = 0, hf_sum = 0;
    int64_t n_dist = 0;
    for (int r = 0; st == HQ_OK && r < n; r++) {
        double ef[NF][2 * MAXQ];
        int nf = use_zne ? os->n_folds : 1;
        for (int f = 0; st == HQ_OK && f < nf; f++) {
            memcpy(pz, os->p[f] + ((int64_t)0 * n + r) * D, (size_t)D * sizeof *pz);
            memcpy(px, os->p[f] + ((int64_t)1 * n + r) * D, (size_t)D * sizeof *px);
            if (use_ro) {
                if (!os->have_cal)
                    st =
                        hq_failf(NULL, HQ_ERR_INTERNAL, "readout mitigation without a calibration");
                if (st == HQ_OK) st = hq_readout_apply_inverse(&os->cal[f][0], pz, nq);
                if (st == HQ_OK) st = hq_readout_apply_inverse(&os->cal[f][1], px, nq);
            }
            if (st) break;
            expect_from(pz, px, nq, D, ef[f]);
            if (f == 0 && !use_zne) {
                /* distribution distances of the (mitigated) estimate vs the ideal one */
                for (int b = 0; b < 2; b++) {
                    double *p = b ? px : pz;
                    double tv, hf;
                    const double *ideal = s->ideal_p + ((int64_t)b * n + r) * D;
                    /* mitigated quasi-probabilities are projected to the simplex first */
                    if (use_ro) {
                        double sum = 0;
                        for (int o = 0; o < D; o++) p[o] = p[o] < 0 ? 0 : p[o], sum += p[o];
                        for (int o = 0; o < D && sum > 0; o++) p[o] /= sum;
                    }
                    if (hq_tvd(p, ideal, D, &tv) == HQ_OK &&
                        hq_hellinger_fidelity(p, ideal, D, &hf) == HQ_OK) {
                        tvd_sum += tv;
                        hf_sum += hf;
                        n_dist++;
                    }
                }
            }
        }
        for (int k = 0; st == HQ_OK && k < K; k++) {
            if (!use_zne) {
                E[(int64_t)r * K + k] = ef[0][k];
                continue;
            }
            double sc[NF], v[NF];
            for (int f = 0; f < nf; f++) sc[f] = fold_scales[f], v[f] = ef[f][k];
            double out;
            st = hq_zne_extrapolate(HQ_ZNE_RICHARDSON, sc, v, NULL, nf, &out, NULL, NULL);
            /* an extrapolated expectation outside [-1, 1] is clipped: the head saw only those */
            E[(int64_t)r * K + k] = out > 1 ? 1 : (out < -1 ? -1 : out);
        }
    }
    hq_metrics m;
    float *scores = NULL;
    if (st == HQ_OK) st = head_metrics(s, E, &m, &scores);
    double *err = st ? NULL : hq_malloc((size_t)n * (size_t)K * sizeof *err);
    hq_error_stats es;
    memset(&es, 0, sizeof es);
    if (st == HQ_OK && !err) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    if (st == HQ_OK) st = hq_expect_error_stats(E, s->ideal_exp, (int64_t)n * K, &es);
    char tvd_txt[32] = "-";
    if (n_dist) snprintf(tvd_txt, sizeof tvd_txt, "%.4f", tvd_sum / (double)n_dist);
    if (st == HQ_OK) {
        hq_sbuf *b = &s->results;
        if (s->n_results++) hq_sbuf_putc(b, ',');
        hq_sbuf_puts(b, "{\"backend\":");
        hq_sbuf_put_json_str(b, label);
        hq_sbuf_puts(b, ",\"mitigation\":");
        hq_sbuf_put_json_str(b, mit);
        if (os->calib && *os->calib) {
            hq_sbuf_puts(b, ",\"calibration\":");
            hq_sbuf_put_json_str(b, os->calib);
        }
        hq_sbuf_printf(b, ",\"shots\":%" PRId64 ",\"acc\":", shots);
        put_num_or_null(b, m.acc);
        hq_sbuf_puts(b, ",\"auc\":");
        put_num_or_null(b, m.auc);
        hq_sbuf_puts(b, ",\"f1\":");
        put_num_or_null(b, m.f1);
        hq_sbuf_puts(b, ",\"expect_error\":{\"mean\":");
        put_num_or_null(b, es.mean_abs);
        hq_sbuf_puts(b, ",\"sem\":");
        put_num_or_null(b, es.sem_abs);
        hq_sbuf_printf(b, ",\"n\":%" PRId64 ",\"per_circuit\":[", (int64_t)n * K);
        /* every expectation value: entry r * K + k = circuit row r (image, then mirror),
         * observable k (Z_0 .. Z_{q-1}, X_0 .. X_{q-1}) */
        for (int64_t i = 0; i < (int64_t)n * K; i++) {
            if (i) hq_sbuf_putc(b, ',');
            hq_sbuf_put_double(b, E[i] - s->ideal_exp[i]);
        }
        hq_sbuf_puts(b, "]},\"tvd\":");
        put_num_or_null(b, n_dist ? tvd_sum / (double)n_dist : NAN);
        hq_sbuf_puts(b, ",\"hellinger_fidelity\":");
        put_num_or_null(b, n_dist ? hf_sum / (double)n_dist : NAN);
        hq_sbuf_printf(b, ",\"jobs\":%" PRId64 ",\"cost\":", os->jobs);
        hq_sbuf_put_double(b, os->cost);
        hq_sbuf_puts(b, ",\"wall_seconds\":");
        hq_sbuf_put_double(b, os->wall);
        hq_sbuf_putc(b, '}');
        if (want_roc) add_roc(s, label, shots, mit, scores, m.auc);
        if (!s->o->quiet)
            fprintf(stderr,
                    "  %-16s shots %-6" PRId64 " %-12s ACC %.4f  AUC %.4f  |dE| %.4f  TVD %s\n",
                    label, shots, mit, m.acc, m.auc, es.mean_abs, tvd_txt);
    }
    hq_free(err);
    hq_free(scores);
    hq_free(E);
    hq_free(pz);
    hq_free(px);
    return st;
}

/* Draw `shots` samples of distribution p (D entries) into an empirical distribution. */
static void sample_into(const double *p, int D, int64_t shots, hq_rng *rng, double *out) {
    double cdf[1 << MAXQ];
    double acc = 0;
    for (int o = 0; o < D; o++) cdf[o] = (acc += p[o]);
    for (int o = 0; o < D; o++) out[o] = 0;
    for (int64_t k = 0; k < shots; k++) {
        double u = hq_rng_uniform(rng) * acc;
        int lo = 0, hi = D - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        out[lo] += 1;
    }
    for (int o = 0; o < D; o++) out[o] /= (double)shots;
}

/* ==== local backends: sv and dm:DEVICE ================================================ */

typedef struct local_be {
    char label[96];
    bool noisy;                  /* dm */
    char calib[HQ_CALIB_ID_MAX]; /* calibration id of the noise model ("" for sv) */
    hq_backend *remote;          /* dm:@NAME: the backend that reported the calibration */
    hq_device *dev;              /* owned (files) or borrowed from remote (dm:@NAME) */
    hq_noise_model *noise;
    hq_circuit *compact[NF][2];     /* transpiled, compacted circuits per fold and basis */
    int layout[NF][2][64];          /* compact qubit -> physical qubit */
    int measured_phys[NF][2][MAXQ]; /* compact index measured into clbit j */
    int *symmap[NF][2];             /* compact circuit symbol -> template symbol */
} local_be;

static void local_be_free(local_be *lb) {
    for (int f = 0; f < NF; f++)
        for (int b = 0; b < 2; b++) {
            hq_circuit_free(lb->compact[f][b]);
            hq_free(lb->symmap[f][b]);
        }
    hq_noise_free(lb->noise);
    if (!lb->remote) hq_device_free(lb->dev);
    hq_backend_free(lb->remote);
}

/* Compact a transpiled circuit to the physical qubits its gates and measurements use
 * (barriers keep their used qubits only). layout[i] = physical qubit of compact qubit i. */
static hq_status compact(const hq_circuit *c, int *layout, int *n_used, hq_circuit **out) {
    int n = hq_circuit_n_qubits(c);
    int *map = hq_malloc((size_t)n * sizeof *map);
    if (!map) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) map[i] = -1;
    const hq_op *ops = hq_circuit_ops(c);
    int64_t n_ops = hq_circuit_n_ops(c);
    int u = 0;
    hq_status st = HQ_OK;
    for (int64_t k = 0; st == HQ_OK && k < n_ops; k++) {
        if (ops[k].gate == HQ_GATE_BARRIER) continue;
        for (int j = 0; j < ops[k].nq; j++) {
            int q = ops[k].q[j];
            if (map[q] >= 0) continue;
            if (u >= 12) {
                st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                              "the transpiled circuit uses more than 12 qubits");
                break;
            }
            layout[u] = q;
            map[q] = u++;
        }
    }
    hq_circuit *d = NULL;
    if (st == HQ_OK) st = hq_circuit_create(&d);
    if (st == HQ_OK) st = hq_circuit_add_qreg(d, "q", u, NULL);
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_cregs(c); i++) {
        hq_reg r = hq_circuit_creg(c, i);
        st = hq_circuit_add_creg(d, r.name, r.size, NULL);
    }
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_symbols(c); i++)
        st = hq_circuit_add_symbol(d, hq_circuit_symbol_name(c, i), hq_circuit_symbol_kind(c, i),
                                   NULL);
    for (int64_t k = 0; st == HQ_OK && k < n_ops; k++) {
        const hq_op *op = &ops[k];
        int q[256], nqo = 0;
        for (int j = 0; j < op->nq; j++) {
            int p = hq_op_qubit(c, op, j);
            if (map[p] >= 0) q[nqo++] = map[p];
        }
        if (op->gate == HQ_GATE_BARRIER) {
            if (nqo) st = hq_circuit_add_barrier(d, q, nqo);
            continue;
        }
        if (op->gate == HQ_GATE_MEASURE)
            st = hq_circuit_add_measure(d, q[0], op->clbit);
        else if (op->gate == HQ_GATE_RESET)
            st = hq_circuit_add_reset(d, q[0]);
        else {
            hq_angle a[HQ_GATE_MAX_PARAMS];
            for (int j = 0; j < op->np; j++) a[j] = hq_circuit_angle(c, op->p[j]);
            st = hq_circuit_add_gate_sym(d, (hq_gate)op->gate, q, a);
        }
        if (st == HQ_OK && op->cond_creg >= 0)
            st = hq_circuit_set_condition(d, op->cond_creg, op->cond_val);
    }
    hq_free(map);
    if (st) {
        hq_circuit_free(d);
        return st;
    }
    *n_used = u;
    *out = d;
    return HQ_OK;
}

/* dm:@NAME: create backend NAME with its --options, ask it for its current calibration and
 * take the device it built from it (configuration + properties as it fetched them). The
 * device is borrowed from the backend, which lb keeps until it is freed. */
static hq_status remote_device(local_be *lb, const char *spec, const char *options) {
    const char *name = spec + 4;
    if (!*name)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "no backend after '@': write dm:@emulator-ibm or dm:@ibm (the backend "
                        "whose reported calibration builds the noise model)");
    hq_status st = hq_backend_create(name, options, &lb->remote);
    if (st) {
        lb->remote = NULL;
        return hq_fail_prefix(
            NULL, st, "creating backend '%s' (its options go in --options '%s=JSON')", name, spec);
    }
    hq_clear_error();
    st = hq_backend_calibration(lb->remote, lb->calib, NULL);
    hq_backend_caps caps;
    memset(&caps, 0, sizeof caps);
    if (st == HQ_OK) st = hq_backend_get_caps(lb->remote, &caps);
    if (st) return hq_fail_prefix(NULL, st, "reading the calibration of %s", name);
    if (!caps.device) {
        /* the REST clients keep going without a calibration (logged), so the reason is the
         * last error recorded, if any */
        const char *why = hq_last_error();
        bool emu = !strncmp(name, "emulator-", 9);
        return hq_failf(NULL, HQ_ERR_BACKEND, "%s reported no device calibration%s%s%s; %s%s%s",
                        name, why && *why ? " (" : "", why && *why ? why : "",
                        why && *why ? ")" : "",
                        emu ? "start the emulator (`hqcnn emulator`) and point --options '" : "",
                        emu ? spec : "",
                        emu ? "={\"port\":PORT,\"backend\":\"DEVICE\"}' at it"
                            : "only IBM-like backends (ibm, emulator-ibm) report a device; use "
                              "dm:DEVICE with calibration files for the others");
    }
    if (strcmp(caps.device->calibration_id, lb->calib))
        return hq_failf(NULL, HQ_ERR_BACKEND,
                        "%s reported calibration '%s' but its device is calibrated '%s'; run the "
                        "study again",
                        name, lb->calib, caps.device->calibration_id);
    lb->dev = (hq_device *)caps.device;
    hq_clear_error();
    return HQ_OK;
}

static hq_status local_prepare(study *s, local_be *lb, const char *spec, const char *options,
                               bool want_zne) {
    memset(lb, 0, sizeof *lb);
    snprintf(lb->label, sizeof lb->label, "%s", spec);
    if (!strcmp(spec, "sv")) return HQ_OK;
    lb->noisy = true;
    const char *dev = spec + 3;
    char conf[2048], props[2048];
    const char *plus = strchr(dev, '+');
    hq_status st = HQ_OK;
    if (*dev == '@') {
        st = remote_device(lb, spec, options);
        if (st == HQ_OK && !s->o->quiet)
            fprintf(stderr, "  %-16s noise model from %s's calibration %s (device %s, %d qubits)\n",
                    spec, dev + 1, lb->calib, lb->dev->name, lb->dev->n_qubits);
    } else if (plus) {
        snprintf(conf, sizeof conf, "%.*s", (int)(plus - dev), dev);
        snprintf(props, sizeof props, "%s", plus + 1);
    } else {
        snprintf(conf, sizeof conf, "data/ibm_backends/conf_%s.json", dev);
        snprintf(props, sizeof props, "data/ibm_backends/props_%s.json", dev);
        if (!hq_file_exists(conf))
            return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                            "unknown device '%s' in '%s': use manila, nairobi, sherbrooke, fez "
                            "(data/ibm_backends) or "
                            "dm:CONF.json+PROPS.json",
                            dev, spec);
    }
    if (*dev != '@') {
        st = hq_device_load_ibm(conf, props, &lb->dev);
        if (st == HQ_OK) snprintf(lb->calib, sizeof lb->calib, "%s", lb->dev->calibration_id);
    }
    if (st == HQ_OK) st = hq_noise_from_device(lb->dev, &lb->noise);
    for (int f = 0; st == HQ_OK && f < (want_zne ? NF : 1); f++)
        for (int b = 0; st == HQ_OK && b < 2; b++) {
            hq_circuit *folded = NULL;
            st = hq_zne_fold(s->meas[b], fold_scales[f], HQ_FOLD_GLOBAL, HQ_FOLD_BARRIERS, &folded);
            hq_transpile_result tr;
            memset(&tr, 0, sizeof tr);
            hq_transpile_options to = hq_transpile_default_options();
            to.seed = s->o->seed;
            if (st == HQ_OK) st = hq_transpile_ibm(folded, lb->dev, &to, &tr);
            int used = 0;
            if (st == HQ_OK) st = compact(tr.circuit, lb->layout[f][b], &used, &lb->compact[f][b]);
            if (st == HQ_OK && f == 0 && b == 0 && !s->circuit_qasm) {
                hq_sbuf q = HQ_SBUF_INIT;
                if (hq_qasm_write(tr.circuit, 3, HQ_QASM_PHYSICAL, &q) == HQ_OK)
                    s->circuit_qasm = hq_sbuf_take(&q);
                hq_sbuf_free(&q);
                snprintf(s->circuit_title, sizeof s->circuit_title,
                         "HQCNN circuit (Z basis) transpiled for %s: %" PRId64
                         " ops, depth %" PRId64,
                         lb->dev->name, tr.stats.ops_out, tr.stats.depth_out);
            }
            if (st == HQ_OK && !s->o->quiet) {
                char phys[256] = "";
                size_t at = 0;
                for (int u = 0; u < used && at < sizeof phys - 8; u++)
                    at += (size_t)snprintf(phys + at, sizeof phys - at, "%s%d", u ? "," : "",
                                           lb->layout[f][b][u]);
                fprintf(stderr,
                        "  %-16s fold %d, %c basis: %" PRId64 " ops, %" PRId64
                        " two-qubit, depth %" PRId64 "; simulated on %d of %d qubits (%s)\n",
                        spec, fold_scales[f], b ? 'X' : 'Z', tr.stats.ops_out, tr.stats.twoq_out,
                        tr.stats.depth_out, used, lb->dev->n_qubits, phys);
            }
            /* physical qubit measured into clbit j -> compact index */
            for (int j = 0; st == HQ_OK && j < s->nq; j++) {
                int phys = tr.clbit_physical ? tr.clbit_physical[j] : -1, ci = -1;
                for (int u = 0; u < used; u++)
                    if (lb->layout[f][b][u] == phys) ci = u;
                lb->measured_phys[f][b][j] = ci;
            }
            int ns = st == HQ_OK ? hq_circuit_n_symbols(lb->compact[f][b]) : 0;
            lb->symmap[f][b] = st == HQ_OK ? hq_malloc((size_t)(ns ? ns : 1) * sizeof(int)) : NULL;
            if (st == HQ_OK && !lb->symmap[f][b])
                st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            for (int k = 0; st == HQ_OK && k < ns; k++) {
                int idx;
                st = hq_circuit_find_symbol(s->tmpl, hq_circuit_symbol_name(lb->compact[f][b], k),
                                            &idx);
                lb->symmap[f][b][k] = idx;
            }
            hq_transpile_result_free(&tr);
            hq_circuit_free(folded);
        }
    return st;
}

/* Exact outcome distributions of one local backend: p (2, n, D) for fold f, noise model nm
 * (NULL = ideal). */
static hq_status local_probs(study *s, local_be *lb, int f, const hq_noise_model *nm, double *p) {
    int n = (int)s->n, D = s->D;
    if (!lb->noisy) {
        memcpy(p, s->ideal_p, (size_t)(2 * n * D) * sizeof *p);
        return HQ_OK;
    }
    hq_status st = HQ_OK;
    double symv[512];
    for (int b = 0; st == HQ_OK && b < 2; b++) {
        const hq_circuit *c = lb->compact[f][b];
        int ns = hq_circuit_n_symbols(c);
        if (ns > 512) return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "too many symbols");
        for (int r = 0; st == HQ_OK && r < n; r++) {
            for (int k = 0; k < ns; k++) symv[k] = s->sym[(int64_t)r * s->S + lb->symmap[f][b][k]];
            hq_dm_dist dist;
            st = hq_dm_run_probs(c, symv, nm, lb->layout[f][b], &dist);
            if (st) break;
            double *out = p + ((int64_t)b * n + r) * D;
            for (int o = 0; o < D; o++) out[o] = 0;
            for (int64_t i = 0; i < dist.n; i++)
                out[dist.outcome[i] & (uint64_t)(D - 1)] += dist.prob[i];
            hq_dm_dist_free(&dist);
        }
    }
    return st;
}

/* Readout calibration of a local noisy backend for the circuits of fold f and basis b: exact
 * from the calibration circuits on the physical qubits those circuits measure (the layout
 * and routing of each fold and basis may put the clbits on different qubits), sampled with
 * `shots` if > 0. */
static hq_status local_calibration(study *s, local_be *lb, int f, int b, int64_t shots,
                                   hq_readout_cal *cal) {
    if (!lb->noisy) {
        double z[MAXQ] = {0};
        return hq_readout_cal_set(cal, s->nq, z, z);
    }
    int used = hq_circuit_n_qubits(lb->compact[f][b]);
    int qubits[MAXQ];
    for (int j = 0; j < s->nq; j++) qubits[j] = lb->measured_phys[f][b][j];
    hq_circuit *cc[2] = {NULL, NULL};
    hq_status st = hq_readout_calibration_circuits(used, qubits, s->nq, cc);
    double probs[2][1 << MAXQ];
    for (int k = 0; st == HQ_OK && k < 2; k++) {
        hq_dm_dist dist;
        st = hq_dm_run_probs(cc[k], NULL, lb->noise, lb->layout[f][b], &dist);
        if (st) break;
        for (int o = 0; o < s->D; o++) probs[k][o] = 0;
        for (int64_t i = 0; i < dist.n; i++)
            probs[k][dist.outcome[i] & (uint64_t)(s->D - 1)] += dist.prob[i];
        hq_dm_dist_free(&dist);
        if (shots > 0) {
            hq_rng rng;
            hq_rng_init(
                &rng, s->o->seed,
                hq_rng_stream("study-cal", (uint64_t)k, (uint64_t)shots, (uint64_t)(f * 2 + b)), 0);
            double tmp[1 << MAXQ];
            sample_into(probs[k], s->D, shots, &rng, tmp);
            memcpy(probs[k], tmp, sizeof tmp);
        }
    }
    if (st == HQ_OK) st = hq_readout_fit_probs(probs[0], probs[1], s->nq, cal);
    hq_circuit_free(cc[0]);
    hq_circuit_free(cc[1]);
    return st;
}

/* ==== remote backends through the executor ============================================ */

/* Physical qubit each classical bit of circuit c is read from on the ibm / emulator-ibm
 * backend be: the ISA circuit the backend sends for c (same device, compile path and cache
 * as submit) measures `REG[j] = measure $p;`. phys[j] = -1 for a bit it does not measure. */
static hq_status ibm_clbit_qubits(hq_backend *be, const hq_circuit *c, int n_bits, int *phys) {
    hq_sbuf q = HQ_SBUF_INIT;
    hq_status st = hq_rest_ibm_compile(be, c, &q, NULL);
    for (int j = 0; j < n_bits; j++) phys[j] = -1;
    for (const char *l = q.p; st == HQ_OK && l && *l;) {
        char reg[64];
        int j, p;
        if (sscanf(l, " %63[A-Za-z0-9_][%d] = measure $%d", reg, &j, &p) == 3 && j >= 0 &&
            j < n_bits)
            phys[j] = p;
        l = strchr(l, '\n');
        if (l) l++;
    }
    hq_sbuf_free(&q);
    return st;
}

/* Readout calibration of a remote IBM-like backend that lays circuits out itself: the
 * confusion of every physical qubit the study's circuits (each fold f and basis b) are read
 * from, measured with the two calibration circuits on enough qubits that the backend's
 * layout of them covers those qubits, and assembled per circuit into cal[f][b] (bit j of
 * that circuit = the qubit it is read from). Calibrating on the logical qubits instead
 * would pair bits with other physical qubits' confusion. */
static hq_status remote_calibration_ibm(study *s, hq_backend *be, hq_qexec *qx, int n_folds,
                                        hq_readout_cal cal[NF][2]) {
    int need[NF][2][MAXQ];
    hq_status st = HQ_OK;
    for (int f = 0; st == HQ_OK && f < n_folds; f++)
        for (int b = 0; st == HQ_OK && b < 2; b++) {
            hq_circuit *folded = NULL, *m = NULL;
            st = hq_zne_fold(s->tmpl, fold_scales[f], HQ_FOLD_GLOBAL, HQ_FOLD_BARRIERS, &folded);
            if (st == HQ_OK) st = measured_template(folded, b, &m);
            if (st == HQ_OK) st = ibm_clbit_qubits(be, m, s->nq, need[f][b]);
            for (int j = 0; st == HQ_OK && j < s->nq; j++)
                if (need[f][b][j] < 0)
                    st =
                        hq_failf(NULL, HQ_ERR_INTERNAL,
                                 "the compiled circuit (fold %d, basis %c) does not measure bit %d",
                                 fold_scales[f], b ? 'X' : 'Z', j);
            hq_circuit_free(m);
            hq_circuit_free(folded);
        }
    /* calibration circuits on w logical qubits, widened until their layout covers `need` */
    hq_circuit *t[2] = {NULL, NULL};
    int at[2][HQ_READOUT_MAX_BITS], w;
    bool covered = false;
    for (w = s->nq; st == HQ_OK && !covered && w <= HQ_READOUT_MAX_BITS; w++) {
        for (int k = 0; k < 2; k++) hq_circuit_free(t[k]), t[k] = NULL;
        for (int k = 0; st == HQ_OK && k < 2; k++) {
            st = hq_circuit_create(&t[k]);
            if (st == HQ_OK) st = hq_circuit_add_qreg(t[k], "q", w, NULL);
            for (int i = 0; st == HQ_OK && k == 1 && i < w; i++)
                st = hq_circuit_add_gate(t[k], HQ_GATE_X, &i, NULL);
            hq_circuit *m = NULL;
            if (st == HQ_OK) st = measured_template(t[k], 0, &m);
            if (st == HQ_OK) st = ibm_clbit_qubits(be, m, w, at[k]);
            hq_circuit_free(m);
        }
        if (st != HQ_OK && w > s->nq) { /* wider than the device: stop widening */
            hq_clear_error();
            st = HQ_OK;
            break;
        }
        covered = st == HQ_OK;
        for (int f = 0; covered && f < n_folds; f++)
            for (int b = 0; covered && b < 2; b++)
                for (int j = 0; covered && j < s->nq; j++)
                    for (int k = 0; k < 2; k++) {
                        bool found = false;
                        for (int i = 0; i < w; i++) found |= at[k][i] == need[f][b][j];
                        covered &= found;
                    }
        if (covered) break;
    }
    if (st == HQ_OK && !covered)
        st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                      "readout calibration: the backend lays the calibration circuits out on "
                      "other qubits than the study's circuits (up to %d qubits tried); use "
                      "--mitigation none or zne on this backend",
                      w - 1);
    hq_counts cc[2];
    memset(cc, 0, sizeof cc);
    for (int k = 0; st == HQ_OK && k < 2; k++) {
        hq_qbatch qb = {t[k], 1, NULL, NULL};
        st = hq_qexec_run(qx, &qb, &cc[k]);
    }
    /* per bit i of calibration k: P(read 1 | |0>) from k = 0, P(read 0 | |1>) from k = 1 */
    double frac[2][HQ_READOUT_MAX_BITS];
    for (int k = 0; st == HQ_OK && k < 2; k++) {
        if (cc[k].shots <= 0) {
            st = hq_failf(NULL, HQ_ERR_BACKEND, "readout calibration returned no shots");
            break;
        }
        for (int i = 0; i < w; i++) {
            int64_t ones = 0;
            for (int64_t e = 0; e < cc[k].n; e++)
                if ((cc[k].outcome[e] >> i) & 1) ones += cc[k].count[e];
            double f1 = (double)ones / (double)cc[k].shots;
            frac[k][i] = k ? 1 - f1 : f1;
        }
    }
    for (int f = 0; st == HQ_OK && f < n_folds; f++)
        for (int b = 0; st == HQ_OK && b < 2; b++) {
            double p01[MAXQ], p10[MAXQ];
            for (int j = 0; j < s->nq; j++)
                for (int i = 0; i < w; i++) {
                    if (at[0][i] == need[f][b][j]) p10[j] = frac[0][i];
                    if (at[1][i] == need[f][b][j]) p01[j] = frac[1][i];
                }
            st = hq_readout_cal_set(&cal[f][b], s->nq, p01, p10);
            if (st == HQ_OK) cal[f][b].shots0 = cc[0].shots, cal[f][b].shots1 = cc[1].shots;
        }
    for (int k = 0; k < 2; k++) hq_counts_free(&cc[k]), hq_circuit_free(t[k]);
    return st;
}

static hq_status remote_config(study *s, const char *name, const char *options, int64_t shots,
                               bool want_zne, bool want_ro, outcome_set *os) {
    hq_backend *be = NULL;
    hq_qexec *qx = NULL;
    hq_status st = hq_backend_create(name, options, &be);
    hq_qexec_options qo;
    hq_qexec_options_init(&qo);
    qo.shots = shots;
    qo.seed = s->o->seed;
    if (st == HQ_OK) st = hq_qexec_create(be, s->db, s->run_id, &qo, &qx);
    if (st == HQ_OK) st = hq_qexec_recover(qx);
    int n = (int)s->n, D = s->D;
    double t0 = hq_time_now();
    uint8_t *basis = hq_malloc((size_t)(2 * n));
    double *rows = hq_malloc((size_t)(2 * n * s->S) * sizeof *rows);
    hq_counts *counts = hq_calloc((size_t)(2 * n), sizeof *counts);
    if (st == HQ_OK && (!basis || !rows || !counts))
        st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int r = 0; st == HQ_OK && r < n; r++)
        for (int b = 0; b < 2; b++) {
            basis[2 * r + b] = (uint8_t)(b ? HQ_BASIS_X : HQ_BASIS_Z);
            memcpy(rows + (2 * r + b) * s->S, s->sym + (int64_t)r * s->S,
                   (size_t)s->S * sizeof *rows);
        }
    os->n_folds = want_zne ? NF : 1;
    for (int f = 0; st == HQ_OK && f < os->n_folds; f++) {
        hq_circuit *folded = NULL;
        st = hq_zne_fold(s->tmpl, fold_scales[f], HQ_FOLD_GLOBAL, HQ_FOLD_BARRIERS, &folded);
        hq_qbatch qb = {folded, 2 * n, rows, basis};
        if (st == HQ_OK) st = hq_qexec_run(qx, &qb, counts);
        if (st == HQ_OK && !(os->p[f] = hq_malloc((size_t)(2 * n * D) * sizeof(double))))
            st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        for (int r = 0; st == HQ_OK && r < n; r++)
            for (int b = 0; b < 2; b++)
                st = st ? st
                        : hq_counts_to_probs(&counts[2 * r + b],
                                             os->p[f] + ((int64_t)b * n + r) * D, s->nq);
        for (int i = 0; i < 2 * n; i++) hq_counts_free(&counts[i]);
        hq_circuit_free(folded);
    }
    bool ibm_like =
        !strcmp(hq_backend_name(be), "ibm") || !strcmp(hq_backend_name(be), "emulator-ibm");
    if (st == HQ_OK && want_ro && ibm_like) {
        st = remote_calibration_ibm(s, be, qx, os->n_folds, os->cal);
        os->have_cal = st == HQ_OK;
    } else if (st == HQ_OK && want_ro) {
        /* the backend keeps logical qubit i on qubit i: the two calibration circuits, as
         * templates the executor measures in Z */
        hq_circuit *t[2] = {NULL, NULL};
        hq_counts cc[2];
        memset(cc, 0, sizeof cc);
        for (int k = 0; st == HQ_OK && k < 2; k++) {
            st = hq_circuit_create(&t[k]);
            if (st == HQ_OK) st = hq_circuit_add_qreg(t[k], "q", s->nq, NULL);
            for (int i = 0; st == HQ_OK && k == 1 && i < s->nq; i++)
                st = hq_circuit_add_gate(t[k], HQ_GATE_X, &i, NULL);
            hq_qbatch qb = {t[k], 1, NULL, NULL};
            if (st == HQ_OK) st = hq_qexec_run(qx, &qb, &cc[k]);
        }
        if (st == HQ_OK) st = hq_readout_fit(&cc[0], &cc[1], &os->cal[0][0]);
        for (int f = 0; st == HQ_OK && f < NF; f++)
            for (int b = 0; b < 2; b++) os->cal[f][b] = os->cal[0][0];
        os->have_cal = st == HQ_OK;
        for (int k = 0; k < 2; k++) hq_counts_free(&cc[k]), hq_circuit_free(t[k]);
    }
    hq_qexec_stats qs;
    hq_qexec_get_stats(qx, &qs);
    os->jobs = qs.jobs_submitted;
    s->total_jobs += qs.jobs_submitted;
    s->total_circuits += qs.circuits_run;
    s->total_shots += qs.shots_submitted;
    s->total_cost += qs.cost;
    os->cost = qs.cost;
    os->wall = hq_time_now() - t0;
    hq_free(basis);
    hq_free(rows);
    hq_free(counts);
    hq_qexec_free(qx);
    hq_backend_free(be);
    return st;
}

/* ==== the study ======================================================================= */

static void outcome_set_free(outcome_set *os) {
    for (int f = 0; f < NF; f++) HQ_FREE(os->p[f]);
}

static hq_status run_local(study *s, const char *spec, const char *options, bool any_zne) {
    local_be lb;
    hq_status st = local_prepare(s, &lb, spec, options, any_zne);
    /* the exact distributions of every fold, once: each shot count samples from them */
    int n_folds = any_zne ? NF : 1;
    size_t bytes = (size_t)(2 * s->n * s->D) * sizeof(double);
    double *exact_p[NF] = {NULL};
    double t_exact = hq_time_now();
    for (int f = 0; st == HQ_OK && f < n_folds; f++) {
        exact_p[f] = hq_malloc(bytes);
        st = exact_p[f] ? local_probs(s, &lb, f, lb.noise, exact_p[f])
                        : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    }
    t_exact = hq_time_now() - t_exact;
    for (int si = 0; st == HQ_OK && si < s->o->n_shots; si++) {
        int64_t shots = s->o->shots[si];
        outcome_set exact;
        memset(&exact, 0, sizeof exact);
        double t0 = hq_time_now();
        exact.n_folds = n_folds;
        exact.calib = lb.calib;
        for (int f = 0; st == HQ_OK && f < exact.n_folds; f++) {
            exact.p[f] = hq_malloc(bytes);
            if (exact.p[f])
                memcpy(exact.p[f], exact_p[f], bytes);
            else
                st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        }
        if (st == HQ_OK && shots > 0) {
            double tmp[1 << MAXQ];
            for (int f = 0; f < exact.n_folds; f++)
                for (int64_t i = 0; i < 2 * s->n; i++) {
                    hq_rng rng;
                    hq_rng_init(&rng, s->o->seed,
                                hq_rng_stream("study", (uint64_t)i, (uint64_t)f, (uint64_t)shots),
                                0);
                    sample_into(exact.p[f] + i * s->D, s->D, shots, &rng, tmp);
                    memcpy(exact.p[f] + i * s->D, tmp, (size_t)s->D * sizeof *tmp);
                }
        }
        for (int f = 0; st == HQ_OK && f < exact.n_folds; f++)
            for (int b = 0; st == HQ_OK && b < 2; b++)
                st = local_calibration(s, &lb, f, b, shots, &exact.cal[f][b]);
        exact.have_cal = st == HQ_OK;
        /* the shared exact simulation is counted in every shot count's time */
        exact.wall = t_exact + (hq_time_now() - t0);
        for (int mi = 0; st == HQ_OK && mi < s->o->n_mitigation; mi++) {
            const char *mit = s->o->mitigation[mi];
            if (!lb.noisy && strcmp(mit, "none"))
                continue; /* nothing to mitigate on the ideal simulator */
            st = finish_config(s, lb.label, shots, mit, &exact, shots == roc_shots(s, true));
        }
        outcome_set_free(&exact);
    }
    /* the noise sweep, exact */
    for (int k = 0; st == HQ_OK && lb.noisy && k < s->o->n_scales; k++) {
        hq_noise_model *scaled = NULL;
        st = hq_noise_copy(lb.noise, &scaled);
        if (st == HQ_OK) st = hq_noise_set_scale(scaled, s->o->scales[k]);
        double *p = st ? NULL : hq_malloc((size_t)(2 * s->n * s->D) * sizeof *p);
        double *E = st ? NULL : hq_malloc((size_t)(s->n * s->K) * sizeof *E);
        if (st == HQ_OK && (!p || !E)) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        if (st == HQ_OK && s->o->scales[k] == 1.0)
            memcpy(p, exact_p[0], bytes); /* the unscaled model: already simulated */
        else if (st == HQ_OK)
            st = local_probs(s, &lb, 0, scaled, p);
        for (int64_t r = 0; st == HQ_OK && r < s->n; r++)
            expect_from(p + r * s->D, p + (s->n + r) * s->D, s->nq, s->D, E + r * s->K);
        hq_metrics m;
        if (st == HQ_OK) st = head_metrics(s, E, &m, NULL);
        if (st == HQ_OK) {
            hq_sbuf *b = &s->sweep;
            if (s->n_sweep++) hq_sbuf_putc(b, ',');
            hq_sbuf_puts(b, "{\"backend\":");
            hq_sbuf_put_json_str(b, lb.label);
            if (lb.calib[0]) {
                hq_sbuf_puts(b, ",\"calibration\":");
                hq_sbuf_put_json_str(b, lb.calib);
            }
            hq_sbuf_puts(b, ",\"mitigation\":\"none\",\"scale\":");
            hq_sbuf_put_double(b, s->o->scales[k]);
            hq_sbuf_puts(b, ",\"acc\":");
            put_num_or_null(b, m.acc);
            hq_sbuf_puts(b, ",\"auc\":");
            put_num_or_null(b, m.auc);
            hq_sbuf_putc(b, '}');
            if (!s->o->quiet)
                fprintf(stderr, "  %-16s noise x%-5g exact              ACC %.4f  AUC %.4f\n",
                        lb.label, s->o->scales[k], m.acc, m.auc);
        }
        hq_free(p);
        hq_free(E);
        hq_noise_free(scaled);
    }
    for (int f = 0; f < NF; f++) hq_free(exact_p[f]);
    local_be_free(&lb);
    return st;
}

static hq_status run_remote(study *s, const char *name, const char *options, bool any_zne) {
    hq_status st = HQ_OK;
    bool any_ro = false;
    for (int mi = 0; mi < s->o->n_mitigation; mi++)
        any_ro |= strstr(s->o->mitigation[mi], "readout") != NULL;
    for (int si = 0; st == HQ_OK && si < s->o->n_shots; si++) {
        int64_t shots = s->o->shots[si];
        if (shots <= 0) continue; /* exact results only exist for simulators */
        outcome_set os;
        memset(&os, 0, sizeof os);
        st = remote_config(s, name, options, shots, any_zne, any_ro, &os);
        for (int mi = 0; st == HQ_OK && mi < s->o->n_mitigation; mi++)
            st = finish_config(s, name, shots, s->o->mitigation[mi], &os,
                               shots == roc_shots(s, false));
        outcome_set_free(&os);
    }
    return st;
}

static hq_status open_study_run(study *s) {
    hq_jobdb_run r;
    memset(&r, 0, sizeof r);
    hq_status st = hq_jobdb_run_find(s->db, s->run_name, &r);
    if (st == HQ_OK) {
        s->run_id = r.id;
        hq_jobdb_run_clear(&r);
        return HQ_OK;
    }
    if (st != HQ_ERR_NOT_FOUND) return st;
    hq_clear_error();
    hq_sbuf cfg = HQ_SBUF_INIT;
    hq_sbuf_puts(&cfg, "{\"study\":");
    hq_sbuf_put_json_str(&cfg, s->o->what);
    hq_sbuf_putc(&cfg, '}');
    hq_jobdb_run spec = {.name = s->run_name,
                         .seed = s->o->seed,
                         .code_version = "0.1.0",
                         .backend = "study",
                         .config_json = cfg.p};
    st = hq_sbuf_status(&cfg);
    if (st == HQ_OK) st = hq_jobdb_run_create(s->db, &spec, &s->run_id);
    hq_sbuf_free(&cfg);
    return st;
}

hq_status hq_study_run(const hq_study_opts *o, char *report_path, size_t cap) {
    if (!o || !o->what || o->n_backends < 1 || o->n_shots < 1 || o->n_mitigation < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_study_run: a run, backends, shots and mitigation are required");
    for (int i = 0; i < o->n_mitigation; i++)
        if (strcmp(o->mitigation[i], "none") && strcmp(o->mitigation[i], "readout") &&
            strcmp(o->mitigation[i], "zne") && strcmp(o->mitigation[i], "readout+zne"))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "unknown mitigation '%s' (none, readout, zne, readout+zne)",
                            o->mitigation[i]);
    study s;
    memset(&s, 0, sizeof s);
    s.o = o;
    bool any_zne = false;
    for (int i = 0; i < o->n_mitigation; i++) any_zne |= strstr(o->mitigation[i], "zne") != NULL;
    double t_start = hq_time_now();
    const char *dbp = o->db_path ? o->db_path : HQ_DEFAULT_DB;
    char dir[2048];
    hq_path_dirname(dir, sizeof dir, dbp);
    hq_status st = hq_mkdir_p(dir, 0755);
    if (st == HQ_OK) st = hq_jobdb_open(dbp, NULL, &s.db);
    if (st == HQ_OK) st = load_model(&s);
    if (st == HQ_OK) st = open_study_run(&s);
    if (st == HQ_OK) st = symbol_rows(&s);
    if (st == HQ_OK) st = ideal_reference(&s);
    if (st == HQ_OK && !o->quiet)
        fprintf(stderr, "study of %s: %s test split, %" PRId64 " images%s, %d-qubit layer\n",
                o->what, s.d->info->name, s.n_img,
                s.scoring.tta_hflip ? " and their mirrors (tta hflip)" : "", s.nq);
    for (int i = 0; st == HQ_OK && i < o->n_backends; i++) {
        const char *spec = o->backends[i];
        if (!strcmp(spec, "sv") || !strncmp(spec, "dm:", 3))
            st = run_local(&s, spec, o->backend_options[i], any_zne);
        else
            st = run_remote(&s, spec, o->backend_options[i], any_zne);
        if (st) st = hq_fail_prefix(NULL, st, "backend %s", spec);
    }
    if (st == HQ_OK && s.n_results == 0)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "no result: exact (shots 0) applies to sv and dm:DEVICE only; add --shots N");
    /* the document */
    hq_sbuf doc = HQ_SBUF_INIT;
    if (st == HQ_OK) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        hq_sbuf_puts(&doc, "{\"format\":\"hqcnn-study\",\"version\":1,\"title\":");
        char title[512];
        snprintf(title, sizeof title, "%s noise study of %s", s.d->info->title, o->what);
        hq_sbuf_put_json_str(&doc, title);
        hq_sbuf_puts(&doc, ",\"dataset\":");
        hq_sbuf_put_json_str(&doc, s.d->info->name);
        hq_sbuf_puts(&doc, ",\"run\":");
        hq_sbuf_put_json_str(&doc, o->what);
        hq_sbuf_printf(&doc,
                       ",\"created\":\"%s\",\"currency\":\"USD\",\"meta\":{\"tta\":\"%s\","
                       "\"circuit_rows\":%" PRId64 ",\"images\":%" PRId64 ",\"qubits\":%d,"
                       "\"seed\":%llu,\"jobs_submitted\":%" PRId64
                       ",\"circuits_submitted\":%" PRId64 ",\"shots_submitted\":%" PRId64
                       ",\"cost_usd\":",
                       ts, s.scoring.tta_hflip ? "hflip" : "none", s.n, s.n_img, s.nq,
                       (unsigned long long)o->seed, s.total_jobs, s.total_circuits, s.total_shots);
        hq_sbuf_put_double(&doc, s.total_cost);
        hq_sbuf_printf(&doc, ",\"wall_seconds\":%.1f", hq_time_now() - t_start);
        hq_sbuf_putc(&doc, '}');
        if (s.circuit_qasm) {
            hq_sbuf_puts(&doc, ",\"circuit\":{\"title\":");
            hq_sbuf_put_json_str(&doc, s.circuit_title);
            hq_sbuf_puts(&doc, ",\"qasm\":");
            hq_sbuf_put_json_str(&doc, s.circuit_qasm);
            hq_sbuf_putc(&doc, '}');
        }
        hq_sbuf_printf(&doc, ",\"results\":[%s]", s.results.p ? s.results.p : "");
        if (s.n_roc) hq_sbuf_printf(&doc, ",\"roc\":[%s]", s.roc.p);
        if (s.n_sweep) hq_sbuf_printf(&doc, ",\"noise_sweep\":[%s]", s.sweep.p);
        hq_sbuf_puts(&doc, "}\n");
        st = hq_sbuf_status(&doc);
    }
    char out[2300];
    if (o->out_dir)
        snprintf(out, sizeof out, "%s", o->out_dir);
    else
        snprintf(out, sizeof out, "runs/%s", s.run_name);
    if (st == HQ_OK) st = hq_report_write(doc.p, out);
    if (st == HQ_OK && report_path) snprintf(report_path, cap, "%s/report.html", out);
    if (st == HQ_OK && !o->quiet)
        fprintf(stderr,
                "study: %.1f s, %" PRId64 " jobs (%" PRId64 " circuits, %" PRId64
                " shots) submitted, cost %.2f USD\n",
                hq_time_now() - t_start, s.total_jobs, s.total_circuits, s.total_shots,
                s.total_cost);
    hq_sbuf_free(&doc);
    hq_sbuf_free(&s.results);
    hq_sbuf_free(&s.roc);
    hq_sbuf_free(&s.sweep);
    for (int b = 0; b < 2; b++) hq_circuit_free(s.meas[b]);
    hq_free(s.circuit_qasm);
    hq_free(s.sym);
    hq_free(s.ideal_exp);
    hq_free(s.ideal_p);
    hq_dataset_free(s.d);
    hq_model_free(s.m);
    hq_jobdb_close(s.db);
    return st;
}
