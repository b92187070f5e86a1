/*
 * orchestrator/qshots.c — shot-based expectations and Jacobians (see qshots.h).
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "backends/statevector.h"
#include "core/rng.h"
#include "orchestrator/qshots.h"

const char *hq_qgrad_str(hq_qgrad g) {
    switch (g) {
    case HQ_QGRAD_NONE: return "none";
    case HQ_QGRAD_PARAMSHIFT: return "parameter-shift";
    case HQ_QGRAD_SPSA: return "spsa";
    }
    return "?";
}

hq_status hq_qgrad_parse(const char *s, hq_qgrad *out) {
    if (s && !strcmp(s, "none"))
        *out = HQ_QGRAD_NONE;
    else if (s && (!strcmp(s, "parameter-shift") || !strcmp(s, "ps")))
        *out = HQ_QGRAD_PARAMSHIFT;
    else if (s && !strcmp(s, "spsa"))
        *out = HQ_QGRAD_SPSA;
    else
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "unknown gradient method '%s' (expected parameter-shift, spsa or none)",
                        s ? s : "(null)");
    return HQ_OK;
}

int64_t hq_qshots_circuits_per_row(hq_qgrad g, int64_t shift_rows) {
    switch (g) {
    case HQ_QGRAD_NONE: return 2;
    case HQ_QGRAD_PARAMSHIFT: return 2 * (1 + shift_rows);
    case HQ_QGRAD_SPSA: return 6;
    }
    return 2;
}

/* expectations [Z_i (from zc), X_i (from xc)] */
static void expect_from(const hq_counts *zc, const hq_counts *xc, int n, double *e) {
    for (int i = 0; i < n; i++) {
        e[i] = hq_counts_expect_z(zc, 1ull << i);
        e[n + i] = hq_counts_expect_z(xc, 1ull << i);
    }
}

hq_status hq_qshots_eval(hq_qexec *q, const hq_circuit *tmpl, int64_t n_rows, const double *sym,
                         const hq_qshots_opts *o, double *expect, double *jac) {
    if (!q || !tmpl || n_rows < 1 || !o || !expect)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qshots_eval: bad arguments");
    if (o->grad != HQ_QGRAD_NONE && !jac)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qshots_eval: a gradient method needs a Jacobian buffer");
    int n = hq_circuit_n_qubits(tmpl), S = hq_circuit_n_symbols(tmpl), K = 2 * n;
    if (n < 1 || n > 63) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qshots_eval: %d qubits", n);
    if (o->grad == HQ_QGRAD_SPSA && !(o->spsa_c > 0))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qshots_eval: SPSA needs a perturbation c > 0 (got %g)", o->spsa_c);
    hq_status st = HQ_OK;
    /* evaluation points: per row, point 0 is the forward point, then the method's points */
    hq_shift_plan *plans = NULL;
    int64_t *first = hq_malloc((size_t)(n_rows + 1) * sizeof *first); /* first point of each row */
    if (!first) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    int64_t n_pts = 0;
    if (o->grad == HQ_QGRAD_PARAMSHIFT) {
        plans = hq_calloc((size_t)n_rows, sizeof *plans);
        if (!plans) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        for (int64_t r = 0; st == HQ_OK && r < n_rows; r++) {
            st = hq_sv_shift_plan(tmpl, sym + r * S, &plans[r]);
            if (st == HQ_OK && plans[r].circuit != tmpl)
                st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                              "parameter shift on hardware needs every symbol to appear in one "
                              "gate parameter "
                              "only; this template shares a symbol between gates");
        }
    }
    double *delta = NULL;
    for (int64_t r = 0; st == HQ_OK && r < n_rows; r++) {
        first[r] = n_pts;
        n_pts += 1;
        if (o->grad == HQ_QGRAD_PARAMSHIFT) n_pts += plans[r].n_rows;
        if (o->grad == HQ_QGRAD_SPSA) n_pts += 2;
    }
    first[n_rows] = n_pts;
    double *pts = NULL;
    uint8_t *basis = NULL;
    hq_counts *counts = NULL;
    if (st == HQ_OK) {
        pts = hq_malloc((size_t)(2 * n_pts) * (size_t)(S ? S : 1) * sizeof *pts);
        basis = hq_malloc((size_t)(2 * n_pts));
        counts = hq_calloc((size_t)(2 * n_pts), sizeof *counts);
        if (o->grad == HQ_QGRAD_SPSA)
            delta = hq_malloc((size_t)n_rows * (size_t)(S ? S : 1) * sizeof *delta);
        if (!pts || !basis || !counts || (o->grad == HQ_QGRAD_SPSA && !delta))
            st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory for %" PRId64 " circuits", 2 * n_pts);
    }
    /* fill points: the Z copy of point p is 2p, the X copy 2p+1 */
    for (int64_t r = 0; st == HQ_OK && r < n_rows; r++) {
        const double *th = sym + r * S;
        int64_t p = first[r];
        memcpy(pts + 2 * p * S, th, (size_t)S * sizeof *pts);
        if (o->grad == HQ_QGRAD_PARAMSHIFT) {
            for (int64_t k = 0; k < plans[r].n_rows; k++)
                memcpy(pts + 2 * (p + 1 + k) * S, plans[r].rows + k * plans[r].n_symbols,
                       (size_t)S * sizeof *pts);
        } else if (o->grad == HQ_QGRAD_SPSA) {
            hq_rng rng;
            hq_rng_init(&rng, o->seed, hq_rng_stream("spsa", o->step, (uint64_t)r, 0), 0);
            double *d = delta + r * S;
            for (int s = 0; s < S; s++) {
                d[s] = (hq_rng_u32(&rng) & 1) ? 1.0 : -1.0;
                pts[2 * (p + 1) * S + s] = th[s] + o->spsa_c * d[s];
                pts[2 * (p + 2) * S + s] = th[s] - o->spsa_c * d[s];
            }
        }
        for (int64_t k = p; k < first[r + 1]; k++) {
            memcpy(pts + (2 * k + 1) * S, pts + 2 * k * S, (size_t)S * sizeof *pts);
            basis[2 * k] = HQ_BASIS_Z;
            basis[2 * k + 1] = HQ_BASIS_X;
        }
    }
    if (st == HQ_OK) {
        hq_qbatch b = {tmpl, 2 * n_pts, S ? pts : NULL, basis};
        st = hq_qexec_run(q, &b, counts);
    }
    /* expectations of every point, then the row's forward values and Jacobian */
    double *f = st ? NULL : hq_malloc((size_t)n_pts * (size_t)K * sizeof *f);
    if (st == HQ_OK && !f) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int64_t p = 0; st == HQ_OK && p < n_pts; p++)
        expect_from(&counts[2 * p], &counts[2 * p + 1], n, f + p * K);
    for (int64_t r = 0; st == HQ_OK && r < n_rows; r++) {
        int64_t p = first[r];
        memcpy(expect + r * K, f + p * K, (size_t)K * sizeof *expect);
        if (o->grad == HQ_QGRAD_NONE) continue;
        double *J = jac + r * K * S;
        memset(J, 0, (size_t)K * (size_t)S * sizeof *J);
        if (o->grad == HQ_QGRAD_PARAMSHIFT) {
            for (int64_t t = 0; t < plans[r].n_terms; t++) {
                const hq_shift_term *tm = &plans[r].terms[t];
                const double *fv = f + (p + 1 + tm->row) * K;
                for (int k = 0; k < K; k++) J[k * S + tm->sym] += tm->coef * fv[k];
            }
        } else {
            const double *fp = f + (p + 1) * K, *fm = f + (p + 2) * K, *d = delta + r * S;
            for (int k = 0; k < K; k++)
                for (int s = 0; s < S; s++) J[k * S + s] = (fp[k] - fm[k]) / (2 * o->spsa_c * d[s]);
        }
    }
    for (int64_t i = 0; counts && i < 2 * n_pts; i++) hq_counts_free(&counts[i]);
    for (int64_t r = 0; plans && r < n_rows; r++) hq_sv_shift_plan_free(&plans[r]);
    hq_free(plans);
    hq_free(first);
    hq_free(pts);
    hq_free(basis);
    hq_free(counts);
    hq_free(delta);
    hq_free(f);
    return st;
}
