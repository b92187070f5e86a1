/*
 * backends/distance.c — total-variation distance, Hellinger distance / fidelity between
 * outcome distributions (dense or as counts), and expectation-error statistics.
 */
#include "backends/distance.h"

#include <math.h>

/* ==== validation ======================================================================= */

/* Sum of v (n >= 1 finite entries); neg = allow negative entries. */
static hq_status check_vec(const char *fn, const char *name, const double *v, int64_t n, bool neg,
                           double *sum) {
    if (!v) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn, name);
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s[%lld] = %g is not finite", fn, name,
                            (long long)i, v[i]);
        if (!neg && v[i] < 0)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: %s[%lld] = %g is negative (a quasi-probability); project it "
                            "first (hq_readout_apply_nearest or hq_readout_apply_lsq)",
                            fn, name, (long long)i, v[i]);
        s += v[i];
    }
    if (!(s > 0))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s sums to %g; need a positive sum", fn,
                        name, s);
    *sum = s;
    return HQ_OK;
}

static hq_status check_pair(const char *fn, const double *p, const double *q, int64_t n, bool neg,
                            double *sp, double *sq, double *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    if (n < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n = %lld outcomes; need n >= 1", fn,
                        (long long)n);
    hq_status st = check_vec(fn, "p", p, n, neg, sp);
    if (st) return st;
    return check_vec(fn, "q", q, n, neg, sq);
}

/* ==== dense ============================================================================ */

hq_status hq_tvd(const double *p, const double *q, int64_t n, double *out) {
    double sp, sq;
    hq_status st = check_pair(__func__, p, q, n, true, &sp, &sq, out);
    if (st) return st;
    double d = 0;
    for (int64_t i = 0; i < n; i++) d += fabs(p[i] / sp - q[i] / sq);
    *out = 0.5 * d;
    return HQ_OK;
}

/* Bhattacharyya coefficient sum sqrt(p q) of the normalised vectors, clipped to [0, 1]. */
static double bhattacharyya(const double *p, const double *q, int64_t n, double sp, double sq) {
    double b = 0;
    for (int64_t i = 0; i < n; i++) b += sqrt(p[i] * q[i]);
    b /= sqrt(sp * sq);
    return b > 1 ? 1 : b;
}

hq_status hq_hellinger_distance(const double *p, const double *q, int64_t n, double *out) {
    double sp, sq;
    hq_status st = check_pair(__func__, p, q, n, false, &sp, &sq, out);
    if (st) return st;
    *out = sqrt(1 - bhattacharyya(p, q, n, sp, sq));
    return HQ_OK;
}

hq_status hq_hellinger_fidelity(const double *p, const double *q, int64_t n, double *out) {
    double sp, sq;
    hq_status st = check_pair(__func__, p, q, n, false, &sp, &sq, out);
    if (st) return st;
    double b = bhattacharyya(p, q, n, sp, sq);
    *out = b * b;
    return HQ_OK;
}

/* ==== counts =========================================================================== */

hq_status hq_counts_to_probs(const hq_counts *c, double *probs, int k) {
    if (!c || !probs)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: counts or probs is NULL", __func__);
    if (k < 1 || k > 30)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: k = %d bits; valid range [1, 30]", __func__,
                        k);
    if (c->shots <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the counts hold %lld shots; need > 0",
                        __func__, (long long)c->shots);
    int64_t dim = (int64_t)1 << k;
    for (int64_t i = 0; i < c->n; i++) {
        if (c->outcome[i] >= (uint64_t)dim)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: outcome %llu does not fit k = %d bits (counts are %d bits "
                            "wide); pass k >= the measured width",
                            __func__, (unsigned long long)c->outcome[i], k, c->n_bits);
        if (c->count[i] < 0)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: negative count %lld", __func__,
                            (long long)c->count[i]);
    }
    for (int64_t i = 0; i < dim; i++) probs[i] = 0;
    for (int64_t i = 0; i < c->n; i++) probs[c->outcome[i]] += (double)c->count[i];
    for (int64_t i = 0; i < dim; i++) probs[i] /= (double)c->shots;
    return HQ_OK;
}

static hq_status check_counts(const char *fn, const char *name, const hq_counts *c) {
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn, name);
    if (c->shots <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s holds %lld shots; need > 0", fn, name,
                        (long long)c->shots);
    for (int64_t i = 1; i < c->n; i++)
        if (c->outcome[i] <= c->outcome[i - 1])
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: %s is not sorted or has duplicate outcomes; call hq_counts_sort "
                            "first",
                            fn, name);
    return HQ_OK;
}

/* Walk the union of outcomes of a and b (sorted): accumulate TVD and Bhattacharyya sums. */
static hq_status counts_merge(const char *fn, const hq_counts *a, const hq_counts *b, double *tvd,
                              double *bc) {
    hq_status st = check_counts(fn, "a", a);
    if (!st) st = check_counts(fn, "b", b);
    if (st) return st;
    if (a->n_bits != b->n_bits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: counts of different widths (%d and %d bits) compare different "
                        "registers",
                        fn, a->n_bits, b->n_bits);
    double na = (double)a->shots, nb = (double)b->shots, t = 0, s = 0;
    int64_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        double pa = 0, pb = 0;
        if (j >= b->n || (i < a->n && a->outcome[i] < b->outcome[j])) {
            pa = (double)a->count[i++] / na;
        } else if (i >= a->n || b->outcome[j] < a->outcome[i]) {
            pb = (double)b->count[j++] / nb;
        } else {
            pa = (double)a->count[i++] / na;
            pb = (double)b->count[j++] / nb;
        }
        t += fabs(pa - pb);
        s += sqrt(pa * pb);
    }
    *tvd = 0.5 * t;
    *bc = s > 1 ? 1 : s;
    return HQ_OK;
}

hq_status hq_counts_tvd(const hq_counts *a, const hq_counts *b, double *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    double t, s;
    hq_status st = counts_merge(__func__, a, b, &t, &s);
    if (st) return st;
    *out = t;
    return HQ_OK;
}

hq_status hq_counts_hellinger_fidelity(const hq_counts *a, const hq_counts *b, double *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    double t, s;
    hq_status st = counts_merge(__func__, a, b, &t, &s);
    if (st) return st;
    *out = s * s;
    return HQ_OK;
}

/* ==== expectation errors =============================================================== */

hq_status hq_expect_error_stats(const double *est, const double *exact, int64_t n,
                                hq_error_stats *out) {
    if (!est || !exact || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: est, exact or out is NULL", __func__);
    if (n < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n = %lld values; need n >= 1", __func__,
                        (long long)n);
    double sum_abs = 0, sum_sq = 0, sum = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(est[i]) || !isfinite(exact[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: value %lld is not finite (est %g, exact %g)", __func__,
                            (long long)i, est[i], exact[i]);
        double e = est[i] - exact[i];
        sum += e;
        sum_abs += fabs(e);
        sum_sq += e * e;
        if (fabs(e) > mx) mx = fabs(e);
    }
    double mean_abs = sum_abs / (double)n, var = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(est[i] - exact[i]) - mean_abs;
        var += d * d;
    }
    out->n = n;
    out->mean_abs = mean_abs;
    out->sem_abs = n > 1 ? sqrt(var / (double)(n - 1)) / sqrt((double)n) : 0;
    out->rmse = sqrt(sum_sq / (double)n);
    out->max_abs = mx;
    out->bias = sum / (double)n;
    return HQ_OK;
}
