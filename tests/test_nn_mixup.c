/*
 * tests/test_nn_mixup.c — label smoothing and mixup: the extended softmax cross-entropy
 * (nn/loss.h, hq_loss_softmax_ce_ex) against hand-computed values, central finite
 * differences and a reference copy of the plain loss (bit for bit with the options off);
 * the Beta sampler's moments against the analytic ones; mixup's draws (reproducible,
 * a permutation) and its mixing against hand values; every error path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/loss.h"
#include "nn/mixup.h"
#include "tests/hq_test.h"

/* The plain class-weighted loss as it was before the options existed (PyTorch semantics),
 * kept as the reference the options-off path must reproduce bit for bit. */
static double ref_plain_ce(float *d, const float *logits, const int32_t *lab, const float *w, int n,
                           int c) {
    double wsum = 0, total = 0;
    for (int i = 0; i < n; i++) wsum += w ? w[lab[i]] : 1.0;
    for (int i = 0; i < n; i++) {
        const float *x = logits + (int64_t)i * c;
        double mx = x[0];
        for (int k = 0; k < c; k++) mx = fmax(mx, x[k]);
        double se = 0;
        for (int k = 0; k < c; k++) se += exp(x[k] - mx);
        double lse = mx + log(se);
        double wi = w ? w[lab[i]] : 1.0;
        total += wi * (lse - x[lab[i]]);
        for (int k = 0; k < c; k++) {
            double p = exp(x[k] - lse);
            d[(int64_t)i * c + k] = (float)(wi * (p - (k == lab[i])) / wsum);
        }
    }
    return total / wsum;
}

/* The smoothed, weighted loss written directly from its definition, as the cross-entropy
 * of the target distribution with per-class weights (no shared code with nn/loss.c):
 * sum_i sum_k w[k] q_ik (-log p_ik) / sum_i w[y_i], q_i = (1 - eps) onehot(y_i) + eps / C. */
static double ref_smooth_ce(const float *logits, const int32_t *lab, const float *w, double eps,
                            int n, int c) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        den += w ? w[lab[i]] : 1.0;
        double z = 0;
        for (int k = 0; k < c; k++) z += exp((double)logits[i * c + k]);
        for (int k = 0; k < c; k++) {
            double q = (k == lab[i] ? 1 - eps : 0) + eps / c;
            num += (w ? w[k] : 1.0) * q * -(logits[i * c + k] - log(z));
        }
    }
    return num / den;
}

HQ_TEST(nn_loss_label_smoothing_hand_values) {
    /* logits (0, log 3): p = (1/4, 3/4); label 0, eps = 0.1, C = 2: q = (0.95, 0.05) */
    const float x[2] = {0.0f, logf(3.0f)};
    const int32_t y[1] = {0};
    hq_ce_opts o = {.label_smoothing = 0.1};
    double loss;
    float d[2];
    HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &o, 1, 2));
    HQ_CHECK_NEAR(loss, 0.95 * log(4.0) + 0.05 * log(4.0 / 3.0), 1e-7);
    HQ_CHECK_NEAR(d[0], 0.25 - 0.95, 1e-7); /* p - q */
    HQ_CHECK_NEAR(d[1], 0.75 - 0.05, 1e-7);
    /* class weights (2, 1): L = [0.9 * 2 log 4 + 0.05 (2 log 4 + log 4/3)] / 2 and
     * dL/dx = [1.8 (p - e0) + 0.05 (3 p - w)] / 2 = (-0.70625, 0.70625) */
    const float w[2] = {2.0f, 1.0f};
    HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, w, &o, 1, 2));
    HQ_CHECK_NEAR(loss, (1.8 * log(4.0) + 0.05 * (2 * log(4.0) + log(4.0 / 3.0))) / 2, 1e-7);
    HQ_CHECK_NEAR(d[0], -0.70625, 1e-7);
    HQ_CHECK_NEAR(d[1], 0.70625, 1e-7);
    /* mixup of labels 0 and 1 with lambda 0.25 (no smoothing): -0.25 log(1/4) - 0.75 log(3/4)
     * and gradient p - (0.25, 0.75) = (0, 0) */
    const int32_t y2[1] = {1};
    hq_ce_opts m = {.labels_mix = y2, .mix_lambda = 0.25};
    HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &m, 1, 2));
    HQ_CHECK_NEAR(loss, 0.25 * log(4.0) + 0.75 * log(4.0 / 3.0), 1e-7);
    HQ_CHECK_NEAR(d[0], 0.0, 1e-7);
    HQ_CHECK_NEAR(d[1], 0.0, 1e-7);
}

/* logits, labels, mixup labels and weights of a random 6 x 4 case */
static void random_case(uint64_t seed, float *x, int32_t *y, int32_t *y2, float *w) {
    hq_rng r;
    hq_rng_init(&r, seed, 1, 0);
    for (int i = 0; i < 24; i++) x[i] = (float)(3.0 * hq_rng_normal(&r));
    for (int i = 0; i < 6; i++) y[i] = (int32_t)hq_rng_below(&r, 4);
    for (int i = 0; i < 6; i++) y2[i] = y[(i + 2) % 6]; /* a permutation of y, as mixup's */
    for (int k = 0; k < 4; k++) w[k] = (float)(0.2 + 2.0 * hq_rng_uniform(&r));
}

HQ_TEST(nn_loss_smoothing_mixup_match_definition_and_finite_differences) {
    float x[24], w[4], d[24];
    int32_t y[6], y2[6];
    int checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        random_case(seed, x, y, y2, w);
        for (int mode = 0; mode < 8; mode++) {
            const float *wp = mode & 1 ? w : NULL;
            hq_ce_opts o = {.label_smoothing = mode & 2 ? 0.15 : 0.0,
                            .labels_mix = mode & 4 ? y2 : NULL,
                            .mix_lambda = 0.3};
            double loss;
            HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, wp, &o, 6, 4));
            /* the value: the definition, mixed by hand */
            double want = ref_smooth_ce(x, y, wp, o.label_smoothing, 6, 4);
            if (o.labels_mix)
                want = 0.3 * want + 0.7 * ref_smooth_ce(x, y2, wp, o.label_smoothing, 6, 4);
            HQ_CHECKF(fabs(loss - want) < 1e-9, "seed %d mode %d: loss %.12g, definition %.12g",
                      (int)seed, mode, loss, want);
            /* the gradient: central differences of the loss in each logit */
            for (int j = 0; j < 24; j++) {
                float xs = x[j], xp = xs + 1e-3f, xm = xs - 1e-3f;
                double lp, lm;
                x[j] = xp;
                HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&lp, NULL, x, y, wp, &o, 6, 4));
                x[j] = xm;
                HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&lm, NULL, x, y, wp, &o, 6, 4));
                x[j] = xs;
                double fd = (lp - lm) / ((double)xp - (double)xm);
                HQ_CHECKF(fabs(fd - d[j]) < 2e-6, "seed %d mode %d logit %d: %.9g vs fd %.9g",
                          (int)seed, mode, j, (double)d[j], fd);
                checked++;
            }
        }
    }
    HQ_CHECK_EQ_INT(checked, 3 * 8 * 24);
}

HQ_TEST(nn_loss_options_off_bit_identical_to_plain) {
    float x[24], w[4], d[24], dr[24];
    int32_t y[6], y2[6];
    random_case(9, x, y, y2, w);
    for (int weighted = 0; weighted < 2; weighted++) {
        const float *wp = weighted ? w : NULL;
        double want = ref_plain_ce(dr, x, y, wp, 6, 4), loss;
        /* the plain entry point, NULL options and all-zero options */
        HQ_REQUIRE_OK(hq_loss_softmax_ce(&loss, d, x, y, wp, 6, 4));
        HQ_CHECK(loss == want && !memcmp(d, dr, sizeof d));
        hq_ce_opts zero = {0};
        HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, wp, &zero, 6, 4));
        HQ_CHECK(loss == want && !memcmp(d, dr, sizeof d));
        HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, wp, NULL, 6, 4));
        HQ_CHECK(loss == want && !memcmp(d, dr, sizeof d));
        /* mixup with lambda 1 is the plain loss too */
        hq_ce_opts one = {.labels_mix = y2, .mix_lambda = 1.0};
        HQ_REQUIRE_OK(hq_loss_softmax_ce_ex(&loss, d, x, y, wp, &one, 6, 4));
        HQ_CHECK(loss == want && !memcmp(d, dr, sizeof d));
    }
}

HQ_TEST(nn_loss_options_errors) {
    const float x[4] = {0, 1, 2, 0};
    const int32_t y[2] = {1, 0};
    double loss;
    float d[4];
    hq_ce_opts o = {.label_smoothing = 1.0};
    HQ_CHECK_FAILS(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &o, 2, 2), HQ_ERR_INVALID_ARG,
                   "label smoothing 1 is outside [0, 1)");
    o.label_smoothing = -0.1;
    HQ_CHECK_FAILS(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &o, 2, 2), HQ_ERR_INVALID_ARG,
                   "label smoothing -0.1 is outside [0, 1)");
    o.label_smoothing = NAN;
    HQ_CHECK_FAILS(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &o, 2, 2), HQ_ERR_INVALID_ARG,
                   "label smoothing");
    hq_ce_opts m = {.labels_mix = (int32_t[]){0, 5}, .mix_lambda = 0.5};
    HQ_CHECK_FAILS(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &m, 2, 2), HQ_ERR_INVALID_ARG,
                   "mixup label 5 of sample 1 out of range [0, 2)");
    m.labels_mix = (int32_t[]){0, 0};
    HQ_CHECK_FAILS(hq_loss_softmax_ce_ex(&loss, d, x, y, (float[]){0, 1}, &m, 2, 2),
                   HQ_ERR_INVALID_ARG, "every mixup label of the batch has class weight 0");
    m.mix_lambda = 1.5;
    HQ_CHECK_FAILS(hq_loss_softmax_ce_ex(&loss, d, x, y, NULL, &m, 2, 2), HQ_ERR_INVALID_ARG,
                   "mixup lambda 1.5 is outside [0, 1]");
}

/* E[X^k] of Beta(a, b): prod_{r < k} (a + r) / (a + b + r) */
static double beta_raw_moment(double a, double b, int k) {
    double m = 1;
    for (int r = 0; r < k; r++) m *= (a + r) / (a + b + r);
    return m;
}

HQ_TEST(nn_mixup_beta_moments_match_analytic) {
    /* shapes below 1 (the boosted branch, mixup's usual alpha), at 1 and above */
    static const double shapes[][2] = {{0.2, 0.2}, {0.4, 0.4}, {1.0, 1.0}, {2.0, 5.0}, {0.5, 3.0}};
    const int n = 200000;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double a = shapes[s][0], b = shapes[s][1];
        hq_rng r;
        hq_rng_init(&r, 12345, hq_rng_stream("beta-test", s, 0, 0), 0);
        double sum = 0, sum2 = 0;
        bool in_range = true;
        for (int i = 0; i < n; i++) {
            double v = hq_mixup_beta(&r, a, b);
            in_range = in_range && v >= 0 && v <= 1;
            sum += v;
            sum2 += v * v;
        }
        double mean = sum / n, var = (sum2 - n * mean * mean) / (n - 1);
        double m1 = beta_raw_moment(a, b, 1), m2 = beta_raw_moment(a, b, 2);
        double m3 = beta_raw_moment(a, b, 3), m4 = beta_raw_moment(a, b, 4);
        double var_a = m2 - m1 * m1;
        double mu4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1 * m1 * m1 * m1;
        /* standard errors of the sample mean and (large n) of the sample variance */
        double se_mean = sqrt(var_a / n), se_var = sqrt((mu4 - var_a * var_a) / n);
        HQ_CHECKF(in_range, "Beta(%g, %g): a draw outside [0, 1]", a, b);
        HQ_CHECKF(fabs(mean - m1) < 5 * se_mean,
                  "Beta(%g, %g): mean %.5f, analytic %.5f (5 SE %.5f)", a, b, mean, m1,
                  5 * se_mean);
        HQ_CHECKF(fabs(var - var_a) < 5 * se_var,
                  "Beta(%g, %g): variance %.5f, analytic %.5f (5 SE %.5f)", a, b, var, var_a,
                  5 * se_var);
    }
}

HQ_TEST(nn_mixup_draw_reproducible_permutation) {
    int32_t p1[37], p2[37];
    double l1, l2;
    HQ_REQUIRE_OK(hq_mixup_draw(7, 3, 120, 0.2, 37, &l1, p1));
    HQ_REQUIRE_OK(hq_mixup_draw(7, 3, 120, 0.2, 37, &l2, p2));
    HQ_CHECK(l1 == l2 && !memcmp(p1, p2, sizeof p1));
    HQ_CHECK(l1 >= 0 && l1 <= 1);
    int seen[37] = {0};
    for (int i = 0; i < 37; i++)
        if (p1[i] >= 0 && p1[i] < 37) seen[p1[i]]++;
    for (int i = 0; i < 37; i++) HQ_CHECKF(seen[i] == 1, "index %d appears %d times", i, seen[i]);
    /* another step, epoch or seed draws differently */
    int differ = 0;
    static const uint64_t coords[3][3] = {{7, 3, 121}, {7, 4, 120}, {8, 3, 120}};
    for (int c = 0; c < 3; c++) {
        HQ_REQUIRE_OK(hq_mixup_draw(coords[c][0], coords[c][1], coords[c][2], 0.2, 37, &l2, p2));
        differ += l1 != l2 && memcmp(p1, p2, sizeof p1) != 0;
    }
    HQ_CHECK_EQ_INT(differ, 3);
}

HQ_TEST(nn_mixup_apply_exact_and_errors) {
    /* three samples of two values; perm (2, 0, 1), lambda 0.25 */
    const float in[6] = {1, 2, 10, 20, 100, 200};
    const int32_t perm[3] = {2, 0, 1};
    float out[6];
    HQ_REQUIRE_OK(hq_mixup_apply(out, in, perm, 0.25, 3, 2));
    const float want[6] = {0.25f * 1 + 0.75f * 100,  0.25f * 2 + 0.75f * 200,
                           0.25f * 10 + 0.75f * 1,   0.25f * 20 + 0.75f * 2,
                           0.25f * 100 + 0.75f * 10, 0.25f * 200 + 0.75f * 20};
    for (int i = 0; i < 6; i++) HQ_CHECK_NEAR(out[i], want[i], 1e-4);
    double lam;
    int32_t p[3];
    HQ_CHECK_FAILS(hq_mixup_draw(1, 0, 0, 0.0, 3, &lam, p), HQ_ERR_INVALID_ARG,
                   "alpha 0 must be a finite number > 0");
    HQ_CHECK_FAILS(hq_mixup_draw(1, 0, 0, NAN, 3, &lam, p), HQ_ERR_INVALID_ARG, "alpha nan");
    HQ_CHECK_FAILS(hq_mixup_draw(1, 0, 0, 0.2, 0, &lam, p), HQ_ERR_INVALID_ARG, "empty batch");
    HQ_CHECK_FAILS(hq_mixup_apply(out, in, perm, 1.5, 3, 2), HQ_ERR_INVALID_ARG,
                   "lambda 1.5 is outside [0, 1]");
    HQ_CHECK_FAILS(hq_mixup_apply(out, in, (int32_t[]){0, 3, 1}, 0.5, 3, 2), HQ_ERR_INVALID_ARG,
                   "perm[1] = 3 is outside [0, 3)");
    HQ_CHECK_FAILS(hq_mixup_apply(out, NULL, perm, 0.5, 3, 2), HQ_ERR_INVALID_ARG, "NULL");
}
