/*
 * backends/mitigation.c — tensored readout-error mitigation (calibration circuits, fit,
 * inverse / nearest-probability / constrained least squares, <Z> correction), gate
 * inverses, unitary folding and zero-noise extrapolation. Formulas in docs/study.md.
 */
#include "backends/mitigation.h"

#include <math.h>
#include <string.h>

/* ==== readout: calibration ============================================================= */

hq_status hq_readout_calibration_circuits(int n_qubits, const int *qubits, int k,
                                          hq_circuit *out[2]) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    out[0] = out[1] = NULL;
    if (n_qubits < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_qubits = %d; need >= 1", __func__,
                        n_qubits);
    if (k < 1 || k > HQ_READOUT_MAX_BITS || k > n_qubits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: k = %d measured qubits; valid range [1, min(n_qubits = %d, %d)]",
                        __func__, k, n_qubits, HQ_READOUT_MAX_BITS);
    if (!qubits) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: qubits is NULL", __func__);
    for (int j = 0; j < k; j++) {
        if (qubits[j] < 0 || qubits[j] >= n_qubits)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: qubits[%d] = %d outside [0, %d)",
                            __func__, j, qubits[j], n_qubits);
        for (int i = 0; i < j; i++)
            if (qubits[i] == qubits[j])
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: qubit %d is listed twice (qubits[%d] and qubits[%d])",
                                __func__, qubits[j], i, j);
    }
    hq_status st = HQ_OK;
    for (int v = 0; v < 2 && !st; v++) {
        hq_circuit *c = NULL;
        st = hq_circuit_create(&c);
        if (!st) st = hq_circuit_add_qreg(c, "q", n_qubits, NULL);
        if (!st) st = hq_circuit_add_creg(c, "c", k, NULL);
        for (int j = 0; j < k && v == 1 && !st; j++)
            st = hq_circuit_add_gate(c, HQ_GATE_X, &qubits[j], NULL);
        for (int j = 0; j < k && !st; j++) st = hq_circuit_add_measure(c, qubits[j], j);
        out[v] = c;
    }
    if (st) {
        hq_circuit_free(out[0]);
        hq_circuit_free(out[1]);
        out[0] = out[1] = NULL;
    }
    return st;
}

hq_status hq_readout_cal_set(hq_readout_cal *out, int n_bits, const double *p01,
                             const double *p10) {
    if (!out || !p01 || !p10)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out, p01 or p10 is NULL", __func__);
    if (n_bits < 1 || n_bits > HQ_READOUT_MAX_BITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_bits = %d; valid range [1, %d]", __func__,
                        n_bits, HQ_READOUT_MAX_BITS);
    for (int j = 0; j < n_bits; j++)
        if (!(p01[j] >= 0 && p01[j] <= 1) || !(p10[j] >= 0 && p10[j] <= 1))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: bit %d has p01 = %g, p10 = %g; probabilities must lie in [0, 1]",
                            __func__, j, p01[j], p10[j]);
    hq_readout_cal c;
    memset(&c, 0, sizeof c);
    c.n_bits = n_bits;
    for (int j = 0; j < n_bits; j++) c.p01[j] = p01[j], c.p10[j] = p10[j];
    *out = c;
    return HQ_OK;
}

hq_status hq_readout_cal_from_noise(const hq_noise_model *m, const int *phys, int k,
                                    hq_readout_cal *out) {
    if (!m || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: m or out is NULL", __func__);
    if (k < 1 || k > HQ_READOUT_MAX_BITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: k = %d; valid range [1, %d]", __func__, k,
                        HQ_READOUT_MAX_BITS);
    double p01[HQ_READOUT_MAX_BITS], p10[HQ_READOUT_MAX_BITS];
    for (int j = 0; j < k; j++) {
        hq_status st = hq_noise_readout(m, phys ? phys[j] : j, &p01[j], &p10[j]);
        if (st) return hq_fail_prefix(NULL, st, "%s: bit %d: ", __func__, j);
    }
    return hq_readout_cal_set(out, k, p01, p10);
}

static hq_status check_counts_nonempty(const char *fn, const char *name, const hq_counts *c) {
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn, name);
    if (c->n_bits < 1 || c->n_bits > HQ_READOUT_MAX_BITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is %d bits wide; valid range [1, %d]", fn,
                        name, c->n_bits, HQ_READOUT_MAX_BITS);
    if (c->shots <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: %s holds %lld shots; run the calibration circuit with shots > 0", fn,
                        name, (long long)c->shots);
    return HQ_OK;
}

hq_status hq_readout_fit(const hq_counts *all0, const hq_counts *all1, hq_readout_cal *out) {
    hq_status st = check_counts_nonempty(__func__, "all0", all0);
    if (!st) st = check_counts_nonempty(__func__, "all1", all1);
    if (st) return st;
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    if (all0->n_bits != all1->n_bits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: calibration counts have different widths (%d and %d bits)", __func__,
                        all0->n_bits, all1->n_bits);
    int k = all0->n_bits;
    double p01[HQ_READOUT_MAX_BITS], p10[HQ_READOUT_MAX_BITS];
    for (int j = 0; j < k; j++) {
        int64_t ones0 = 0, zeros1 = 0;
        for (int64_t i = 0; i < all0->n; i++)
            if (all0->outcome[i] >> j & 1) ones0 += all0->count[i];
        for (int64_t i = 0; i < all1->n; i++)
            if (!(all1->outcome[i] >> j & 1)) zeros1 += all1->count[i];
        p10[j] = (double)ones0 / (double)all0->shots;
        p01[j] = (double)zeros1 / (double)all1->shots;
    }
    st = hq_readout_cal_set(out, k, p01, p10);
    if (st) return st;
    out->shots0 = all0->shots;
    out->shots1 = all1->shots;
    return HQ_OK;
}

static hq_status check_dense(const char *fn, const char *name, const double *p, int k, bool norm) {
    if (!p) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn, name);
    if (k < 1 || k > HQ_READOUT_MAX_DENSE_BITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: k = %d bits; valid range [1, %d]", fn, k,
                        HQ_READOUT_MAX_DENSE_BITS);
    int64_t dim = (int64_t)1 << k;
    double s = 0;
    for (int64_t i = 0; i < dim; i++) {
        if (!isfinite(p[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s[%lld] = %g is not finite", fn, name,
                            (long long)i, p[i]);
        s += p[i];
    }
    if (norm && fabs(s - 1) > 1e-6)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s sums to %.9g; need 1 within 1e-6", fn,
                        name, s);
    return HQ_OK;
}

hq_status hq_readout_fit_probs(const double *probs0, const double *probs1, int k,
                               hq_readout_cal *out) {
    hq_status st = check_dense(__func__, "probs0", probs0, k, true);
    if (!st) st = check_dense(__func__, "probs1", probs1, k, true);
    if (st) return st;
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    int64_t dim = (int64_t)1 << k;
    double p01[HQ_READOUT_MAX_BITS], p10[HQ_READOUT_MAX_BITS];
    for (int j = 0; j < k; j++) {
        double a = 0, b = 0;
        for (int64_t i = 0; i < dim; i++) {
            if (i >> j & 1)
                a += probs0[i];
            else
                b += probs1[i];
        }
        /* clip rounding below 0 / above 1 */
        p10[j] = HQ_MIN(HQ_MAX(a, 0.0), 1.0);
        p01[j] = HQ_MIN(HQ_MAX(b, 0.0), 1.0);
    }
    return hq_readout_cal_set(out, k, p01, p10);
}

/* ==== readout: dense application ====================================================== */

/* x <- (I (x) ... (x) m (x) ... (x) I) x with m (row-major 2x2) on bit j. */
static void apply_bit(double *x, int k, int j, const double m[4]) {
    int64_t dim = (int64_t)1 << k, s = (int64_t)1 << j;
    for (int64_t base = 0; base < dim; base += 2 * s)
        for (int64_t i = base; i < base + s; i++) {
            double a = x[i], b = x[i + s];
            x[i] = m[0] * a + m[1] * b;
            x[i + s] = m[2] * a + m[3] * b;
        }
}

static void confusion_of(const hq_readout_cal *c, int j, double m[4]) {
    m[0] = 1 - c->p10[j], m[1] = c->p01[j];
    m[2] = c->p10[j], m[3] = 1 - c->p01[j];
}

static hq_status check_cal(const char *fn, const hq_readout_cal *cal, int k, bool invert) {
    if (!cal) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: cal is NULL", fn);
    if (cal->n_bits < 1 || cal->n_bits > HQ_READOUT_MAX_BITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: cal->n_bits = %d; valid range [1, %d] (fit or set it first)", fn,
                        cal->n_bits, HQ_READOUT_MAX_BITS);
    if (k != cal->n_bits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the distribution has %d bits but the calibration describes %d", fn, k,
                        cal->n_bits);
    for (int j = 0; j < cal->n_bits; j++) {
        if (!(cal->p01[j] >= 0 && cal->p01[j] <= 1) || !(cal->p10[j] >= 0 && cal->p10[j] <= 1))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: bit %d has p01 = %g, p10 = %g; probabilities must lie in [0, 1]",
                            fn, j, cal->p01[j], cal->p10[j]);
        double det = 1 - cal->p01[j] - cal->p10[j];
        if (invert && fabs(det) < HQ_READOUT_MIN_DET)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: the confusion matrix of bit %d is singular (p01 + p10 = %.9g, "
                            "determinant %.3g): its readout carries no information and cannot be "
                            "inverted; recalibrate that qubit",
                            fn, j, cal->p01[j] + cal->p10[j], det);
    }
    return HQ_OK;
}

hq_status hq_readout_apply_confusion(const hq_readout_cal *cal, double *probs, int k) {
    hq_status st = check_cal(__func__, cal, k, false);
    if (!st) st = check_dense(__func__, "probs", probs, k, false);
    if (st) return st;
    for (int j = 0; j < k; j++) {
        double m[4];
        confusion_of(cal, j, m);
        apply_bit(probs, k, j, m);
    }
    return HQ_OK;
}

static void inverse_of(const hq_readout_cal *c, int j, double m[4]) {
    double det = 1 - c->p01[j] - c->p10[j];
    m[0] = (1 - c->p01[j]) / det, m[1] = -c->p01[j] / det;
    m[2] = -c->p10[j] / det, m[3] = (1 - c->p10[j]) / det;
}

static void apply_inverse(const hq_readout_cal *cal, double *x, int k) {
    for (int j = 0; j < k; j++) {
        double m[4];
        inverse_of(cal, j, m);
        apply_bit(x, k, j, m);
    }
}

hq_status hq_readout_apply_inverse(const hq_readout_cal *cal, double *probs, int k) {
    hq_status st = check_cal(__func__, cal, k, true);
    if (!st) st = check_dense(__func__, "probs", probs, k, false);
    if (st) return st;
    apply_inverse(cal, probs, k);
    return HQ_OK;
}

/* Euclidean projection of v (n entries) onto {x >= 0, sum x = 1}, in place; tmp has n
 * entries. Michelot's algorithm (J. Optim. Theory Appl. 50, 195, 1986): the threshold
 * theta = (sum of the candidates - 1) / count, dropping candidates <= theta until none is
 * dropped; then x = max(v - theta, 0). Exact, like the sort-based method, and O(n) per pass
 * with a few passes in practice. */
static void project_simplex(double *v, int64_t n, double *tmp) {
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    int64_t m = n;
    double theta;
    for (;;) {
        double sum = 0;
        for (int64_t i = 0; i < m; i++) sum += tmp[i];
        theta = (sum - 1) / (double)m;
        int64_t k = 0;
        for (int64_t i = 0; i < m; i++)
            if (tmp[i] > theta) tmp[k++] = tmp[i];
        if (k == m || k == 0) break;
        m = k;
    }
    for (int64_t i = 0; i < n; i++) v[i] = v[i] > theta ? v[i] - theta : 0;
}

hq_status hq_readout_apply_nearest(const hq_readout_cal *cal, double *probs, int k) {
    hq_status st = check_cal(__func__, cal, k, true);
    if (!st) st = check_dense(__func__, "probs", probs, k, false);
    if (st) return st;
    int64_t dim = (int64_t)1 << k;
    double *tmp = hq_malloc((size_t)dim * sizeof *tmp);
    if (!tmp)
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory (%lld doubles)", __func__,
                        (long long)dim);
    apply_inverse(cal, probs, k);
    project_simplex(probs, dim, tmp);
    hq_free(tmp);
    return HQ_OK;
}

/* Largest singular value of a 2x2 matrix. */
static double smax2(const double m[4]) {
    double s = m[0] * m[0] + m[1] * m[1] + m[2] * m[2] + m[3] * m[3];
    double det = m[0] * m[3] - m[1] * m[2];
    double disc = s * s - 4 * det * det;
    return sqrt(0.5 * (s + sqrt(disc > 0 ? disc : 0)));
}

/* g = A^T (A y - p). */
static void lsq_grad(const hq_readout_cal *cal, int k, const double *y, const double *p,
                     double *g) {
    int64_t dim = (int64_t)1 << k;
    memcpy(g, y, (size_t)dim * sizeof *g);
    for (int j = 0; j < k; j++) {
        double m[4];
        confusion_of(cal, j, m);
        apply_bit(g, k, j, m);
    }
    for (int64_t i = 0; i < dim; i++) g[i] -= p[i];
    for (int j = 0; j < k; j++) {
        double m[4], t[4];
        confusion_of(cal, j, m);
        t[0] = m[0], t[1] = m[2], t[2] = m[1], t[3] = m[3];
        apply_bit(g, k, j, t);
    }
}

hq_status hq_readout_apply_lsq(const hq_readout_cal *cal, double *probs, int k) {
    hq_status st = check_cal(__func__, cal, k, true);
    if (!st) st = check_dense(__func__, "probs", probs, k, false);
    if (st) return st;
    int64_t dim = (int64_t)1 << k;
    double *buf = hq_malloc((size_t)dim * 5 * sizeof *buf);
    if (!buf)
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory (%lld doubles)", __func__,
                        (long long)dim * 5);
    double *p = buf, *x = buf + dim, *y = buf + 2 * dim, *g = buf + 3 * dim, *tmp = buf + 4 * dim;
    memcpy(p, probs, (size_t)dim * sizeof *p);
    /* start: the nearest probability vector to A^-1 p */
    memcpy(x, p, (size_t)dim * sizeof *x);
    apply_inverse(cal, x, k);
    project_simplex(x, dim, tmp);
    memcpy(y, x, (size_t)dim * sizeof *y);
    /* Lipschitz constant of the gradient: sigma_max(A)^2 = prod_j sigma_max(A_j)^2 */
    double lip = 1;
    for (int j = 0; j < k; j++) {
        double m[4];
        confusion_of(cal, j, m);
        double s = smax2(m);
        lip *= s * s;
    }
    double t = 1;
    for (int it = 0; it < 20000; it++) {
        lsq_grad(cal, k, y, p, g);
        /* g <- projection of y - g / L (the new x) */
        for (int64_t i = 0; i < dim; i++) g[i] = y[i] - g[i] / lip;
        project_simplex(g, dim, tmp);
        double dx = 0, restart = 0;
        for (int64_t i = 0; i < dim; i++) {
            double d = g[i] - x[i];
            if (fabs(d) > dx) dx = fabs(d);
            restart += (y[i] - g[i]) * d; /* gradient restart test (O'Donoghue, Candes) */
        }
        double tn = 0.5 * (1 + sqrt(1 + 4 * t * t)), beta = (t - 1) / tn;
        if (restart > 0) tn = 1, beta = 0;
        for (int64_t i = 0; i < dim; i++) {
            y[i] = g[i] + beta * (g[i] - x[i]);
            x[i] = g[i];
        }
        t = tn;
        if (dx < 1e-13) break;
    }
    memcpy(probs, x, (size_t)dim * sizeof *probs);
    hq_free(buf);
    return HQ_OK;
}

/* ==== readout: expectation values ====================================================== */

hq_status hq_readout_expect_z(const hq_readout_cal *cal, const hq_counts *counts, uint64_t mask,
                              double *value, double *stderr_out) {
    if (!counts || !value)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: counts or value is NULL", __func__);
    hq_status st = check_cal(__func__, cal, counts->n_bits, true);
    if (st) return st;
    if (counts->shots <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the counts hold %lld shots; need > 0",
                        __func__, (long long)counts->shots);
    int k = cal->n_bits;
    if (mask == 0 || (k < 64 && (mask >> k) != 0))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: mask 0x%llx must select at least one of the %d calibrated bits",
                        __func__, (unsigned long long)mask, k);
    double w0[HQ_READOUT_MAX_BITS], w1[HQ_READOUT_MAX_BITS];
    for (int j = 0; j < k; j++) {
        double det = 1 - cal->p01[j] - cal->p10[j];
        w0[j] = (1 - cal->p01[j] + cal->p10[j]) / det;
        w1[j] = -(1 + cal->p01[j] - cal->p10[j]) / det;
    }
    double s1 = 0, s2 = 0, n = (double)counts->shots;
    for (int64_t i = 0; i < counts->n; i++) {
        double w = 1;
        for (int j = 0; j < k; j++)
            if (mask >> j & 1) w *= (counts->outcome[i] >> j & 1) ? w1[j] : w0[j];
        double c = (double)counts->count[i];
        s1 += c * w;
        s2 += c * w * w;
    }
    double mean = s1 / n;
    *value = mean;
    if (stderr_out) {
        double var = counts->shots > 1 ? (s2 - n * mean * mean) / (n - 1) : 0;
        *stderr_out = var > 0 ? sqrt(var / n) : 0;
    }
    return HQ_OK;
}

hq_status hq_readout_correct_z(const hq_readout_cal *cal, int bit, double z_meas, double *z) {
    if (!cal || !z) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: cal or z is NULL", __func__);
    if (bit < 0 || bit >= cal->n_bits || cal->n_bits > HQ_READOUT_MAX_BITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: bit %d outside [0, %d)", __func__, bit,
                        cal->n_bits);
    if (!(z_meas >= -1 && z_meas <= 1))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: z_meas = %g outside [-1, 1]", __func__,
                        z_meas);
    double p01 = cal->p01[bit], p10 = cal->p10[bit], det = 1 - p01 - p10;
    if (!(p01 >= 0 && p01 <= 1 && p10 >= 0 && p10 <= 1) || fabs(det) < HQ_READOUT_MIN_DET)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the confusion matrix of bit %d is singular or invalid (p01 = %g, "
                        "p10 = %g)",
                        __func__, bit, p01, p10);
    *z = (z_meas - (p01 - p10)) / det;
    return HQ_OK;
}

/* ==== gate inverses ==================================================================== */

static hq_angle ang_neg(hq_angle a) {
    a.c = -a.c;
    for (int i = 0; i < a.n; i++) a.coef[i] = -a.coef[i];
    return a;
}

static hq_angle ang_add(hq_angle a, double c) {
    a.c += c;
    return a;
}

/* Set gate i of inv to g on the identity operand order, with params. */
static void inv_put(hq_gate_inv *inv, int i, hq_gate g, const int8_t *operand, const hq_angle *p) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    inv->op[i].gate = g;
    for (int k = 0; k < HQ_GATE_MAX_QUBITS; k++)
        inv->op[i].operand[k] = (int8_t)(operand ? operand[k] : (k < gi->nq ? k : 0));
    for (int k = 0; k < HQ_GATE_MAX_PARAMS; k++)
        inv->op[i].param[k] = (p && k < gi->np) ? p[k] : hq_angle_const(0);
    if (inv->n < i + 1) inv->n = i + 1;
}

hq_status hq_gate_inverse(hq_gate g, const hq_angle *params, unsigned flags, hq_gate_inv *out) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    if (!gi || gi->kind != HQ_KIND_UNITARY)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: '%s' is not a unitary gate and has no inverse", __func__,
                        gi ? gi->name : "(out of range)");
    if (gi->np && !params)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: '%s' needs %d parameter(s)", __func__,
                        gi->name, gi->np);
    memset(out, 0, sizeof *out);
    hq_angle p[HQ_GATE_MAX_PARAMS];
    for (int i = 0; i < gi->np; i++) p[i] = params[i];
    const hq_angle pi = hq_angle_const(M_PI);
    switch (g) {
    case HQ_GATE_S: inv_put(out, 0, HQ_GATE_SDG, NULL, NULL); break;
    case HQ_GATE_SDG: inv_put(out, 0, HQ_GATE_S, NULL, NULL); break;
    case HQ_GATE_T: inv_put(out, 0, HQ_GATE_TDG, NULL, NULL); break;
    case HQ_GATE_TDG: inv_put(out, 0, HQ_GATE_T, NULL, NULL); break;
    case HQ_GATE_SX:
        if (flags & HQ_INV_ISA) {
            inv_put(out, 0, HQ_GATE_RZ, NULL, &pi);
            inv_put(out, 1, HQ_GATE_SX, NULL, NULL);
            inv_put(out, 2, HQ_GATE_RZ, NULL, &pi);
        } else {
            inv_put(out, 0, HQ_GATE_SXDG, NULL, NULL);
        }
        break;
    case HQ_GATE_SXDG: inv_put(out, 0, HQ_GATE_SX, NULL, NULL); break;
    case HQ_GATE_RX:
    case HQ_GATE_RY:
    case HQ_GATE_RZ:
    case HQ_GATE_P:
    case HQ_GATE_U1:
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
    case HQ_GATE_CRX:
    case HQ_GATE_CRY:
    case HQ_GATE_CRZ:
    case HQ_GATE_RXX:
    case HQ_GATE_RYY:
    case HQ_GATE_RZZ: {
        hq_angle a = ang_neg(p[0]);
        inv_put(out, 0, g, NULL, &a);
        break;
    }
    case HQ_GATE_U2: {
        hq_angle a[3] = {hq_angle_const(-M_PI / 2), ang_neg(p[1]), ang_neg(p[0])};
        inv_put(out, 0, HQ_GATE_U3, NULL, a);
        break;
    }
    case HQ_GATE_U3:
    case HQ_GATE_U:
    case HQ_GATE_CU3: {
        hq_angle a[3] = {ang_neg(p[0]), ang_neg(p[2]), ang_neg(p[1])};
        inv_put(out, 0, g, NULL, a);
        break;
    }
    case HQ_GATE_CU: {
        hq_angle a[4] = {ang_neg(p[0]), ang_neg(p[2]), ang_neg(p[1]), ang_neg(p[3])};
        inv_put(out, 0, g, NULL, a);
        break;
    }
    case HQ_GATE_GPI2: {
        hq_angle a = ang_add(p[0], 0.5);
        inv_put(out, 0, g, NULL, &a);
        break;
    }
    case HQ_GATE_MS: {
        hq_angle a[3] = {ang_add(p[0], 0.5), p[1], p[2]};
        inv_put(out, 0, g, NULL, a);
        break;
    }
    case HQ_GATE_CSX: {
        hq_angle a[4] = {hq_angle_const(-M_PI / 2), hq_angle_const(-M_PI / 2),
                         hq_angle_const(M_PI / 2), hq_angle_const(-M_PI / 4)};
        inv_put(out, 0, HQ_GATE_CU, NULL, a);
        break;
    }
    case HQ_GATE_ISWAP: {
        static const int8_t o0[3] = {0, 0, 0}, o1[3] = {1, 0, 0};
        inv_put(out, 0, HQ_GATE_Z, o0, NULL);
        inv_put(out, 1, HQ_GATE_Z, o1, NULL);
        inv_put(out, 2, HQ_GATE_ISWAP, NULL, NULL);
        break;
    }
    case HQ_GATE_GPI:
    default:
        /* self-inverse: id x y z h cx cy cz ch swap ecr ccx cswap gpi */
        if (!gi->self_inverse && g != HQ_GATE_GPI)
            return hq_failf(NULL, HQ_ERR_INTERNAL, "%s: no inverse rule for '%s'", __func__,
                            gi->name);
        inv_put(out, 0, g, NULL, p);
        break;
    }
    return HQ_OK;
}

/* ==== folding ========================================================================== */

/* A new circuit with c's registers and symbols (same indices), no operations. */
static hq_status skeleton(const hq_circuit *c, hq_circuit **out) {
    hq_circuit *o;
    hq_status st = hq_circuit_create(&o);
    if (st) return st;
    for (int i = 0; i < hq_circuit_n_qregs(c) && !st; i++) {
        hq_reg r = hq_circuit_qreg(c, i);
        st = hq_circuit_add_qreg(o, r.name, r.size, NULL);
    }
    for (int i = 0; i < hq_circuit_n_cregs(c) && !st; i++) {
        hq_reg r = hq_circuit_creg(c, i);
        st = hq_circuit_add_creg(o, r.name, r.size, NULL);
    }
    for (int i = 0; i < hq_circuit_n_symbols(c) && !st; i++)
        st = hq_circuit_add_symbol(o, hq_circuit_symbol_name(c, i), hq_circuit_symbol_kind(c, i),
                                   NULL);
    if (st) {
        hq_circuit_free(o);
        return st;
    }
    *out = o;
    return HQ_OK;
}

/* Append op of c (forward) to o, with its condition. */
static hq_status emit(hq_circuit *o, const hq_circuit *c, const hq_op *op) {
    int q[256];
    for (int i = 0; i < op->nq; i++) q[i] = hq_op_qubit(c, op, i);
    hq_status st;
    switch (op->gate) {
    case HQ_GATE_MEASURE: st = hq_circuit_add_measure(o, q[0], op->clbit); break;
    case HQ_GATE_RESET: st = hq_circuit_add_reset(o, q[0]); break;
    case HQ_GATE_BARRIER: st = hq_circuit_add_barrier(o, q, op->nq); break;
    default: {
        hq_angle a[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < op->np; i++) a[i] = hq_circuit_angle(c, op->p[i]);
        st = hq_circuit_add_gate_sym(o, (hq_gate)op->gate, q, a);
    }
    }
    if (!st && op->cond_creg >= 0) st = hq_circuit_set_condition(o, op->cond_creg, op->cond_val);
    return st;
}

/* Append the inverse of op (a unitary gate or barrier) to o, with its condition. */
static hq_status emit_inverse(hq_circuit *o, const hq_circuit *c, const hq_op *op,
                              unsigned inv_flags) {
    if (op->gate == HQ_GATE_BARRIER) return emit(o, c, op);
    hq_angle a[HQ_GATE_MAX_PARAMS];
    for (int i = 0; i < op->np; i++) a[i] = hq_circuit_angle(c, op->p[i]);
    hq_gate_inv inv;
    hq_status st = hq_gate_inverse((hq_gate)op->gate, a, inv_flags, &inv);
    for (int k = 0; k < inv.n && !st; k++) {
        int q[HQ_GATE_MAX_QUBITS];
        const hq_gate_info *gi = hq_gate_get_info(inv.op[k].gate);
        for (int i = 0; i < gi->nq; i++) q[i] = op->q[inv.op[k].operand[i]];
        st = hq_circuit_add_gate_sym(o, inv.op[k].gate, q, inv.op[k].param);
        if (!st && op->cond_creg >= 0)
            st = hq_circuit_set_condition(o, op->cond_creg, op->cond_val);
    }
    return st;
}

/* A barrier over the given qubits (split in chunks of 255). */
static hq_status emit_barrier(hq_circuit *o, const int *q, int n) {
    hq_status st = HQ_OK;
    for (int i = 0; i < n && !st; i += 255)
        st = hq_circuit_add_barrier(o, q + i, HQ_MIN(255, n - i));
    return st;
}

static hq_status fold_global(const hq_circuit *c, int k, unsigned flags, hq_circuit *o) {
    const hq_op *ops = hq_circuit_ops(c);
    int64_t n = hq_circuit_n_ops(c);
    int nq = hq_circuit_n_qubits(c);
    unsigned inv_flags = (flags & HQ_FOLD_ISA) ? HQ_INV_ISA : 0;
    int *all = hq_malloc((size_t)HQ_MAX(nq, 1) * sizeof *all);
    if (!all) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_zne_fold: out of memory");
    for (int i = 0; i < nq; i++) all[i] = i;
    hq_status st = HQ_OK;
    for (int rep = 0; rep < 2 * k + 1 && !st; rep++) {
        if (rep > 0 && (flags & HQ_FOLD_BARRIERS) && nq > 0) st = emit_barrier(o, all, nq);
        if (rep % 2 == 0) {
            for (int64_t i = 0; i < n && !st; i++)
                if (ops[i].gate != HQ_GATE_MEASURE) st = emit(o, c, &ops[i]);
        } else {
            for (int64_t i = n - 1; i >= 0 && !st; i--)
                if (ops[i].gate != HQ_GATE_MEASURE) st = emit_inverse(o, c, &ops[i], inv_flags);
        }
    }
    if (!st && k > 0 && (flags & HQ_FOLD_BARRIERS) && nq > 0) st = emit_barrier(o, all, nq);
    for (int64_t i = 0; i < n && !st; i++)
        if (ops[i].gate == HQ_GATE_MEASURE) st = emit(o, c, &ops[i]);
    hq_free(all);
    return st;
}

static hq_status fold_local(const hq_circuit *c, int k, unsigned flags, hq_circuit *o) {
    const hq_op *ops = hq_circuit_ops(c);
    int64_t n = hq_circuit_n_ops(c);
    unsigned inv_flags = (flags & HQ_FOLD_ISA) ? HQ_INV_ISA : 0;
    hq_status st = HQ_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        const hq_op *op = &ops[i];
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)op->gate);
        st = emit(o, c, op);
        if (gi->kind != HQ_KIND_UNITARY || k == 0) continue;
        int q[HQ_GATE_MAX_QUBITS];
        for (int j = 0; j < op->nq; j++) q[j] = op->q[j];
        for (int r = 0; r < k && !st; r++) {
            if (flags & HQ_FOLD_BARRIERS) st = emit_barrier(o, q, op->nq);
            if (!st) st = emit_inverse(o, c, op, inv_flags);
            if (!st && (flags & HQ_FOLD_BARRIERS)) st = emit_barrier(o, q, op->nq);
            if (!st) st = emit(o, c, op);
        }
    }
    return st;
}

/* HQ_OK if every measurement of c is terminal and c has no reset / condition. */
static hq_status check_global(const hq_circuit *c) {
    const hq_op *ops = hq_circuit_ops(c);
    int64_t n = hq_circuit_n_ops(c);
    for (int64_t i = 0; i < n; i++) {
        if (ops[i].gate == HQ_GATE_RESET || ops[i].cond_creg >= 0)
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "hq_zne_fold: global folding needs a unitary followed by "
                            "measurements, but operation %lld is a %s; use HQ_FOLD_LOCAL",
                            (long long)i,
                            ops[i].gate == HQ_GATE_RESET ? "reset" : "conditional operation");
    }
    /* a gate after a measurement of its qubit (scan backwards: gates seen so far are later) */
    int nq = hq_circuit_n_qubits(c);
    bool *later = hq_calloc((size_t)HQ_MAX(nq, 1), sizeof *later);
    if (!later) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_zne_fold: out of memory");
    for (int64_t i = n - 1; i >= 0; i--) {
        const hq_op *op = &ops[i];
        if (op->gate == HQ_GATE_MEASURE) {
            if (later[op->q[0]]) {
                hq_free(later);
                return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                                "hq_zne_fold: global folding needs terminal measurements, but "
                                "qubit %d is used after it was measured (operation %lld); use "
                                "HQ_FOLD_LOCAL",
                                op->q[0], (long long)i);
            }
        } else if (op->gate != HQ_GATE_BARRIER) {
            for (int k = 0; k < op->nq; k++) later[op->q[k]] = true;
        }
    }
    hq_free(later);
    return HQ_OK;
}

hq_status hq_zne_fold(const hq_circuit *c, int scale, hq_fold_method method, unsigned flags,
                      hq_circuit **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    *out = NULL;
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (scale < 1 || scale > HQ_ZNE_MAX_SCALE || scale % 2 == 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: scale factor %d is not an odd integer in [1, %d] (unitary folding "
                        "multiplies the circuit by 1, 3, 5, ...)",
                        __func__, scale, HQ_ZNE_MAX_SCALE);
    if (method != HQ_FOLD_GLOBAL && method != HQ_FOLD_LOCAL)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: method %d is not HQ_FOLD_GLOBAL (0) or HQ_FOLD_LOCAL (1)", __func__,
                        (int)method);
    if (flags & ~(HQ_FOLD_BARRIERS | HQ_FOLD_ISA))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: unknown flags 0x%x", __func__,
                        flags & ~(HQ_FOLD_BARRIERS | HQ_FOLD_ISA));
    if (method == HQ_FOLD_GLOBAL) {
        hq_status st = check_global(c);
        if (st) return st;
    }
    hq_circuit *o;
    hq_status st = skeleton(c, &o);
    if (st) return st;
    int k = (scale - 1) / 2;
    st = method == HQ_FOLD_GLOBAL ? fold_global(c, k, flags, o) : fold_local(c, k, flags, o);
    if (st) {
        hq_circuit_free(o);
        return hq_fail_prefix(NULL, st, "%s: ", __func__);
    }
    *out = o;
    return HQ_OK;
}

hq_status hq_zne_fold_scales(const hq_circuit *c, const int *scales, int n, hq_fold_method method,
                             unsigned flags, hq_circuit **out) {
    if (!out || !scales)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: scales or out is NULL", __func__);
    if (n < 1 || n > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n = %d scale factors; valid range [1, 64]",
                        __func__, n);
    for (int i = 0; i < n; i++) out[i] = NULL;
    for (int i = 1; i < n; i++)
        if (scales[i] <= scales[i - 1])
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: scale factors must be strictly increasing, but scales[%d] = %d "
                            "follows %d",
                            __func__, i, scales[i], scales[i - 1]);
    for (int i = 0; i < n; i++) {
        hq_status st = hq_zne_fold(c, scales[i], method, flags, &out[i]);
        if (st) {
            for (int j = 0; j < i; j++) {
                hq_circuit_free(out[j]);
                out[j] = NULL;
            }
            return st;
        }
    }
    return HQ_OK;
}

/* ==== extrapolation ==================================================================== */

hq_status hq_zne_extrapolate(hq_zne_method method, const double *scales, const double *values,
                             const double *sigmas, int n, double *value, double *sigma,
                             double *gamma) {
    if (!scales || !values || !value)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: scales, values or value is NULL", __func__);
    if (method != HQ_ZNE_RICHARDSON && method != HQ_ZNE_LINEAR)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: method %d is not HQ_ZNE_RICHARDSON (0) or HQ_ZNE_LINEAR (1)", __func__,
                        (int)method);
    if (n < 2 || n > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: n = %d points; extrapolation needs [2, 64] scale factors", __func__,
                        n);
    for (int i = 0; i < n; i++) {
        if (!isfinite(scales[i]) || !(scales[i] > 0))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: scales[%d] = %g; scale factors must be finite and > 0", __func__,
                            i, scales[i]);
        if (i > 0 && !(scales[i] > scales[i - 1]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: scale factors must be strictly increasing, but scales[%d] = %g "
                            "follows %g",
                            __func__, i, scales[i], scales[i - 1]);
        if (!isfinite(values[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: values[%d] = %g is not finite", __func__,
                            i, values[i]);
        if (sigmas && !(sigmas[i] >= 0 && isfinite(sigmas[i])))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: sigmas[%d] = %g; standard errors must be finite and >= 0",
                            __func__, i, sigmas[i]);
    }
    double g[64];
    if (method == HQ_ZNE_RICHARDSON) {
        for (int i = 0; i < n; i++) {
            double w = 1;
            for (int j = 0; j < n; j++)
                if (j != i) w *= scales[j] / (scales[j] - scales[i]);
            g[i] = w;
        }
    } else {
        double ms = 0;
        for (int i = 0; i < n; i++) ms += scales[i];
        ms /= n;
        double sxx = 0;
        for (int i = 0; i < n; i++) sxx += (scales[i] - ms) * (scales[i] - ms);
        /* a = mean(y) - b mean(s), b = sum (s_i - ms) y_i / sxx */
        for (int i = 0; i < n; i++) g[i] = 1.0 / n - ms * (scales[i] - ms) / sxx;
    }
    double v = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        v += g[i] * values[i];
        if (sigmas) s2 += g[i] * g[i] * sigmas[i] * sigmas[i];
        if (gamma) gamma[i] = g[i];
    }
    *value = v;
    if (sigma) *sigma = sqrt(s2);
    return HQ_OK;
}
