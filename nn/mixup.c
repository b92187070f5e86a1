/*
 * nn/mixup.c — Beta draws from the counter-based RNG and the mixing of a batch (mixup.h).
 */
#include <math.h>

#include "nn/mixup.h"

/* log of one Gamma(shape, 1) draw, shape > 0 (Marsaglia & Tsang, ACM TOMS 26(3), 2000). */
static double log_gamma_draw(hq_rng *r, double shape) {
    double boost = 0;
    if (shape < 1) {
        /* Gamma(s) = Gamma(s + 1) U^(1/s); u in (0, 1] so the log is finite */
        boost = log(1.0 - hq_rng_uniform(r)) / shape;
        shape += 1;
    }
    const double d = shape - 1.0 / 3.0, cc = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = hq_rng_normal(r), v = 1 + cc * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = 1.0 - hq_rng_uniform(r); /* (0, 1] */
        if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)))
            return log(d * v) + boost;
    }
}

double hq_mixup_beta(hq_rng *r, double a, double b) {
    double lx = log_gamma_draw(r, a), ly = log_gamma_draw(r, b);
    /* X / (X + Y) = 1 / (1 + exp(log Y - log X)); exp overflow to inf gives 0 */
    return 1.0 / (1.0 + exp(ly - lx));
}

hq_status hq_mixup_draw(uint64_t seed, uint64_t epoch, uint64_t step, double alpha, int n,
                        double *lambda, int32_t *perm) {
    if (!lambda || !perm || n < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_mixup_draw: NULL argument or empty batch (n %d)", n);
    if (!(alpha > 0) || !isfinite(alpha))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_mixup_draw: alpha %g must be a finite number > 0", alpha);
    hq_rng r;
    hq_rng_init(&r, seed, hq_rng_stream("mixup", epoch, step, 0), 0);
    *lambda = hq_mixup_beta(&r, alpha, alpha);
    for (int i = 0; i < n; i++) perm[i] = i;
    hq_rng_shuffle_i32(&r, perm, n);
    return HQ_OK;
}

hq_status hq_mixup_apply(float *out, const float *in, const int32_t *perm, double lambda, int n,
                         int64_t sample_len) {
    if (!out || !in || !perm || n < 1 || sample_len < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_mixup_apply: NULL argument or empty batch (n %d, sample length %lld)",
                        n, (long long)sample_len);
    if (!(lambda >= 0 && lambda <= 1))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_mixup_apply: lambda %g is outside [0, 1]",
                        lambda);
    for (int i = 0; i < n; i++)
        if (perm[i] < 0 || perm[i] >= n)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_mixup_apply: perm[%d] = %d is outside [0, %d)", i, (int)perm[i], n);
    const float a = (float)lambda, b = (float)(1.0 - lambda);
    for (int i = 0; i < n; i++) {
        const float *x = in + (int64_t)i * sample_len, *y = in + (int64_t)perm[i] * sample_len;
        float *o = out + (int64_t)i * sample_len;
        for (int64_t j = 0; j < sample_len; j++) o[j] = a * x[j] + b * y[j];
    }
    return HQ_OK;
}
