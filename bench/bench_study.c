/*
 * bench/bench_study.c — timings of the noise-study pieces, as JSON lines: readout
 * mitigation (inverse, nearest, least squares) per register width, folding, text / SVG
 * drawing of a large circuit, and the whole report. Best of several runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/draw.h"
#include "backends/mitigation.h"
#include "backends/qasm.h"
#include "core/rng.h"
#include "orchestrator/report.h"

static double best_of(int reps, hq_status (*fn)(void *), void *arg) {
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = hq_time_now();
        if (fn(arg) != HQ_OK) return NAN;
        best = fmin(best, hq_time_now() - t0);
    }
    return best;
}

typedef struct readout_arg {
    int k, method;
    hq_readout_cal cal;
    const double *p;
    double *x;
} readout_arg;

static hq_status run_readout(void *a) {
    readout_arg *r = a;
    memcpy(r->x, r->p, sizeof(double) * ((size_t)1 << r->k));
    if (r->method == 0) return hq_readout_apply_inverse(&r->cal, r->x, r->k);
    if (r->method == 1) return hq_readout_apply_nearest(&r->cal, r->x, r->k);
    return hq_readout_apply_lsq(&r->cal, r->x, r->k);
}

typedef struct circ_arg {
    const hq_circuit *c;
    int what;
} circ_arg;

static hq_status run_circ(void *a) {
    circ_arg *ca = a;
    hq_sbuf b = HQ_SBUF_INIT;
    hq_circuit *f = NULL;
    hq_status st;
    if (ca->what == 0)
        st = hq_zne_fold(ca->c, 5, HQ_FOLD_GLOBAL, HQ_FOLD_BARRIERS, &f);
    else if (ca->what == 1)
        st = hq_draw_text(ca->c, 120, &b);
    else
        st = hq_draw_svg(ca->c, &b);
    hq_circuit_free(f);
    hq_sbuf_free(&b);
    return st;
}

int main(void) {
    static const char *const names[] = {"inverse", "nearest", "lsq"};
    hq_rng rng;
    hq_rng_init(&rng, 1, 1, 0);
    for (int k = 4; k <= 16; k += 4) {
        double p01[16], p10[16];
        for (int j = 0; j < k; j++) p01[j] = 0.02 + 0.05 * hq_rng_uniform(&rng), p10[j] = 0.01;
        readout_arg a = {.k = k};
        hq_readout_cal_set(&a.cal, k, p01, p10);
        size_t dim = (size_t)1 << k;
        double *p = hq_malloc(dim * sizeof *p), *x = hq_malloc(dim * sizeof *x), s = 0;
        if (!p || !x) return 1;
        /* a sparse-ish distribution read through the confusion */
        for (size_t i = 0; i < dim; i++) s += (p[i] = hq_rng_uniform(&rng) < 0.05 ? 1 : 0);
        for (size_t i = 0; i < dim; i++) p[i] = s > 0 ? p[i] / s : 1.0 / (double)dim;
        hq_readout_apply_confusion(&a.cal, p, k);
        a.p = p, a.x = x;
        for (int m = 0; m < 3; m++) {
            a.method = m;
            double t = best_of(k >= 16 ? 2 : 5, run_readout, &a);
            printf("{\"bench\":\"readout_%s\",\"bits\":%d,\"seconds\":%.6f}\n", names[m], k, t);
        }
        hq_free(p);
        hq_free(x);
    }
    const char *shared = getenv("HQCNN_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/qasmbench_small/ising_n10_transpiled.qasm",
             shared && *shared ? shared : "../shared");
    hq_circuit *c;
    if (hq_qasm_parse_file(path, &c) == HQ_OK) {
        static const char *const what[] = {"zne_fold_global_x5", "draw_text_w120", "draw_svg"};
        for (int w = 0; w < 3; w++) {
            circ_arg a = {c, w};
            double t = best_of(5, run_circ, &a);
            printf("{\"bench\":\"%s\",\"circuit\":\"ising_n10_transpiled\",\"ops\":%lld,"
                   "\"seconds\":%.6f}\n",
                   what[w], (long long)hq_circuit_n_ops(c), t);
        }
        hq_circuit_free(c);
    } else {
        printf("{\"bench\":\"draw\",\"error\":\"%s not found\"}\n", path);
    }
    /* the report of a study with 24 results, 4 ROC curves of 200 points, a sweep */
    hq_sbuf j = HQ_SBUF_INIT;
    hq_sbuf_puts(&j, "{\"format\":\"hqcnn-study\",\"results\":[");
    for (int i = 0; i < 24; i++)
        hq_sbuf_printf(&j,
                       "%s{\"backend\":\"b%d\",\"mitigation\":\"%s\",\"shots\":%d,\"acc\":0.8,"
                       "\"auc\":0.9,\"f1\":0.85,\"expect_error\":{\"mean\":%g,\"sem\":0.001},"
                       "\"tvd\":0.1,\"hellinger_fidelity\":0.95,\"jobs\":2,\"cost\":1,"
                       "\"wall_seconds\":10}",
                       i ? "," : "", i % 4, i % 2 ? "readout" : "none", 100 << (i % 6),
                       0.1 / (1 + i % 6));
    hq_sbuf_puts(&j, "],\"roc\":[");
    for (int r = 0; r < 4; r++) {
        hq_sbuf_printf(&j, "%s{\"backend\":\"b%d\",\"fpr\":[", r ? "," : "", r);
        for (int i = 0; i < 200; i++) hq_sbuf_printf(&j, "%s%g", i ? "," : "", i / 199.0);
        hq_sbuf_puts(&j, "],\"tpr\":[");
        for (int i = 0; i < 200; i++)
            hq_sbuf_printf(&j, "%s%g", i ? "," : "", pow(i / 199.0, 0.3 + 0.1 * r));
        hq_sbuf_puts(&j, "]}");
    }
    hq_sbuf_puts(&j, "],\"noise_sweep\":[{\"scale\":0,\"acc\":0.9},{\"scale\":1,\"acc\":0.8}]}");
    double best = INFINITY;
    size_t bytes = 0;
    for (int r = 0; r < 5; r++) {
        hq_sbuf h = HQ_SBUF_INIT;
        double t0 = hq_time_now();
        if (hq_report_html(j.p, &h) != HQ_OK) {
            printf("{\"bench\":\"report_html\",\"error\":\"%s\"}\n", hq_last_error());
            return 1;
        }
        best = fmin(best, hq_time_now() - t0);
        bytes = h.len;
        hq_sbuf_free(&h);
    }
    printf("{\"bench\":\"report_html\",\"results\":24,\"roc_points\":800,\"bytes\":%zu,"
           "\"seconds\":%.6f}\n",
           bytes, best);
    hq_sbuf_free(&j);
    return 0;
}
