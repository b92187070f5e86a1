/*
 * tests/test_metrics.c — nn/metrics: ROC AUC, ACC, F1 and confusion matrices against
 * hand-computed cases, an independent O(n^2) pair-counting AUC, and reference values
 * produced by scikit-learn 1.2.1 through MedMNIST's own getAUC / getACC (evaluator.py),
 * plus every error path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/metrics.h"
#include "tests/hq_test.h"

/* ==== reference data (scikit-learn) ================================================== */

static const int32_t bin_y[14] = {0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0};
static const float bin_s[28] = {0.625f, 0.375f, 0.375f, 0.625f, 0.625f, 0.375f, 0.5f,
                                0.5f,   0.125f, 0.875f, 0.125f, 0.875f, 0.875f, 0.125f,
                                0.375f, 0.625f, 0.75f,  0.25f,  0.375f, 0.625f, 0.5f,
                                0.5f,   0.75f,  0.25f,  1.0f,   0.0f,   0.125f, 0.875f};
static const int32_t mc_y[18] = {0, 1, 2, 2, 1, 0, 0, 1, 0, 1, 0, 0, 2, 1, 2, 0, 0, 2};
static const float mc_s[54] = {
    0.25f, 0.5f,  0.5f,  0.5f,  0.5f,  0.25f, 0.5f,  0.25f, 0.0f,  0.75f, 0.0f,  0.5f,  0.5f,  0.5f,
    0.75f, 0.0f,  0.75f, 0.75f, 0.5f,  0.5f,  0.5f,  0.25f, 0.75f, 0.5f,  0.25f, 0.5f,  0.75f, 1.0f,
    0.75f, 0.75f, 0.25f, 0.5f,  0.5f,  0.75f, 0.25f, 0.5f,  0.5f,  1.0f,  0.5f,  0.25f, 0.5f,  0.5f,
    0.5f,  0.25f, 0.5f,  0.5f,  0.75f, 0.5f,  0.25f, 0.5f,  1.0f,  0.5f,  0.75f, 1.0f};
static const int32_t ml_y[48] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
                                 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1,
                                 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1};
static const float ml_s[48] = {
    0.75f,  0.5f,   0.75f,  0.0f,   0.875f, 0.25f,  0.75f,  0.125f, 0.875f, 0.5f,  0.25f,  0.5f,
    0.125f, 0.125f, 0.25f,  0.625f, 1.0f,   0.875f, 0.875f, 0.25f,  0.25f,  0.75f, 0.625f, 0.125f,
    0.625f, 0.875f, 0.0f,   0.25f,  1.0f,   0.5f,   0.625f, 0.625f, 1.0f,   0.25f, 0.625f, 0.75f,
    0.25f,  0.0f,   0.125f, 0.25f,  0.375f, 0.25f,  0.0f,   0.5f,   0.75f,  0.5f,  0.25f,  0.375f};
static const float f1a_s[32] = {0.6f, 0.3f, 0.1f, 0.0f, 0.2f, 0.7f, 0.1f, 0.0f, 0.1f, 0.2f, 0.7f,
                                0.0f, 0.5f, 0.1f, 0.4f, 0.0f, 0.3f, 0.3f, 0.4f, 0.0f, 0.4f, 0.4f,
                                0.2f, 0.0f, 0.9f, 0.0f, 0.1f, 0.0f, 0.2f, 0.5f, 0.3f, 0.0f};
static const int32_t big_y[200] = {
    0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0,
    1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 1,
    1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0,
    1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1,
    0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0};
static const float big_s[200] = {
    0.0f, 0.2f, 1.0f, 0.0f, 0.0f, 0.2f, 0.2f, 1.0f, 0.6f, 0.4f, 0.2f, 1.0f, 0.8f, 1.0f, 0.8f, 0.8f,
    0.4f, 0.4f, 0.0f, 0.2f, 0.6f, 0.8f, 0.4f, 0.8f, 0.8f, 1.0f, 0.8f, 0.2f, 0.6f, 0.8f, 0.4f, 0.4f,
    0.6f, 0.6f, 0.4f, 0.6f, 0.4f, 0.2f, 0.6f, 0.8f, 1.0f, 0.0f, 0.8f, 0.0f, 1.0f, 0.2f, 0.6f, 1.0f,
    0.6f, 0.6f, 0.0f, 0.2f, 0.4f, 0.8f, 0.0f, 0.6f, 0.0f, 0.8f, 0.6f, 0.2f, 0.2f, 0.6f, 0.8f, 0.4f,
    0.6f, 0.8f, 1.0f, 0.8f, 0.4f, 0.4f, 0.6f, 0.4f, 0.0f, 1.0f, 1.0f, 0.6f, 0.2f, 0.2f, 0.0f, 0.6f,
    0.0f, 0.4f, 0.6f, 0.8f, 0.6f, 0.6f, 0.2f, 0.2f, 0.6f, 0.8f, 0.6f, 0.6f, 0.2f, 0.2f, 0.8f, 0.6f,
    0.0f, 0.0f, 0.6f, 0.8f, 0.8f, 1.0f, 0.8f, 0.8f, 1.0f, 0.8f, 0.2f, 1.0f, 0.2f, 0.6f, 0.6f, 1.0f,
    0.6f, 0.2f, 0.4f, 0.4f, 0.2f, 0.8f, 0.2f, 0.0f, 0.8f, 0.4f, 0.8f, 1.0f, 0.6f, 0.2f, 0.4f, 0.8f,
    0.6f, 0.2f, 0.2f, 0.4f, 0.4f, 1.0f, 0.8f, 1.0f, 0.8f, 0.4f, 0.2f, 0.4f, 0.6f, 0.2f, 0.0f, 1.0f,
    0.0f, 0.4f, 0.2f, 0.6f, 0.8f, 0.6f, 1.0f, 0.2f, 0.2f, 0.4f, 0.8f, 0.2f, 0.6f, 0.6f, 1.0f, 0.8f,
    0.8f, 0.4f, 1.0f, 0.2f, 0.8f, 0.4f, 0.6f, 0.4f, 1.0f, 0.6f, 0.2f, 0.0f, 0.0f, 0.8f, 0.4f, 0.4f,
    0.6f, 0.6f, 0.4f, 0.4f, 0.8f, 0.2f, 0.8f, 0.8f, 0.6f, 0.2f, 0.2f, 0.2f, 0.8f, 0.4f, 0.2f, 0.8f,
    1.0f, 0.0f, 0.8f, 0.4f, 0.6f, 0.2f, 0.2f, 0.6f};

/* Independent AUC: P(s+ > s-) + 0.5 P(s+ == s-) by counting every pair. */
static double auc_pairs_ref(const int32_t *y, const float *s, int n, int stride, int col) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (!y[i] || y[j]) continue;
            float a = s[i * stride + col], b = s[j * stride + col];
            num += a > b ? 1.0 : a == b ? 0.5 : 0.0;
            den += 1;
        }
    return num / den;
}

/* ==== hand-computed cases ============================================================ */

HQ_TEST(metrics_roc_auc_hand_cases) {
    double auc = -1;
    /* the classic 4-sample example: 3 of the 4 (pos, neg) pairs are ordered correctly */
    const int32_t y1[] = {0, 0, 1, 1};
    const float s1[] = {0.1f, 0.4f, 0.35f, 0.8f};
    HQ_CHECK_OK(hq_metrics_roc_auc(y1, s1, 4, &auc));
    HQ_CHECK_NEAR(auc, 0.75, 1e-15);
    /* ties across classes count one half: pairs (.5>.2) 1, (.5=.5) .5, (.9>.2) 1, (.9>.5) 1 */
    const float s2[] = {0.2f, 0.5f, 0.5f, 0.9f};
    HQ_CHECK_OK(hq_metrics_roc_auc(y1, s2, 4, &auc));
    HQ_CHECK_NEAR(auc, 3.5 / 4, 1e-15);
    /* all scores equal: 0.5 */
    const int32_t y3[] = {0, 1, 0, 1, 1};
    const float s3[] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    HQ_CHECK_OK(hq_metrics_roc_auc(y3, s3, 5, &auc));
    HQ_CHECK_NEAR(auc, 0.5, 1e-15);
    /* perfect and inverted classifiers */
    const int32_t y4[] = {1, 0, 1, 0, 0, 1};
    const float perfect[] = {0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.7f};
    const float inverted[] = {0.1f, 0.9f, 0.2f, 0.8f, 0.7f, 0.3f};
    HQ_CHECK_OK(hq_metrics_roc_auc(y4, perfect, 6, &auc));
    HQ_CHECK_NEAR(auc, 1.0, 0);
    HQ_CHECK_OK(hq_metrics_roc_auc(y4, inverted, 6, &auc));
    HQ_CHECK_NEAR(auc, 0.0, 0);
    /* -0.0 and 0.0 are the same score (a tie) */
    const int32_t y5[] = {0, 1};
    const float s5[] = {0.0f, -0.0f};
    HQ_CHECK_OK(hq_metrics_roc_auc(y5, s5, 2, &auc));
    HQ_CHECK_NEAR(auc, 0.5, 0);
    /* labels other than 0 count as positive */
    const int32_t y6[] = {0, 7, 0, 3};
    const float s6[] = {0.1f, 0.2f, 0.3f, 0.4f};
    HQ_CHECK_OK(hq_metrics_roc_auc(y6, s6, 4, &auc));
    HQ_CHECK_NEAR(auc, 0.75, 1e-15);
}

HQ_TEST(metrics_roc_auc_matches_pair_counting) {
    /* random data with heavy ties, against the independent O(n^2) definition */
    hq_rng rng;
    hq_rng_init(&rng, 1234, 0, 0);
    enum { N = 600 };
    static int32_t y[N];
    static float s[N];
    for (int trial = 0; trial < 20; trial++) {
        int n = 2 + (int)(hq_rng_uniform(&rng) * (N - 2));
        int levels = 1 + trial % 7 * 3; /* 1 level = everything tied */
        for (int i = 0; i < n; i++) {
            y[i] = hq_rng_uniform(&rng) < 0.3 + 0.02 * trial;
            s[i] = (float)floor(hq_rng_uniform(&rng) * levels) / (float)levels;
        }
        y[0] = 0;
        y[1] = 1;
        double auc = -1;
        HQ_CHECK_OK(hq_metrics_roc_auc(y, s, n, &auc));
        HQ_CHECK_NEAR(auc, auc_pairs_ref(y, s, n, 1, 0), 1e-12);
    }
}

HQ_TEST(metrics_sklearn_reference_binary) {
    double v = -1;
    HQ_CHECK_OK(hq_metrics_auc(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &v));
    HQ_CHECK_NEAR(v, 0.53125, 1e-15);
    HQ_CHECK_OK(hq_metrics_acc(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &v));
    HQ_CHECK_NEAR(v, 0.5714285714285714, 1e-15);
    HQ_CHECK_OK(hq_metrics_f1(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &v));
    HQ_CHECK_NEAR(v, 0.5, 1e-15);
    int64_t cm[4];
    HQ_CHECK_EQ_INT(hq_metrics_confusion_len(HQ_TASK_BINARY, 2), 4);
    HQ_CHECK_OK(hq_metrics_confusion(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, cm));
    const int64_t want[4] = {5, 3, 3, 3};
    for (int i = 0; i < 4; i++) HQ_CHECK_EQ_INT(cm[i], want[i]);
    /* the positive score is the last column: one column of P(1) gives the same numbers */
    float p1[14];
    for (int i = 0; i < 14; i++) p1[i] = bin_s[2 * i + 1];
    HQ_CHECK_OK(hq_metrics_auc(HQ_TASK_BINARY, bin_y, p1, 14, 1, &v));
    HQ_CHECK_NEAR(v, 0.53125, 1e-15);
    HQ_CHECK_OK(hq_metrics_acc(HQ_TASK_BINARY, bin_y, p1, 14, 1, &v));
    HQ_CHECK_NEAR(v, 0.5714285714285714, 1e-15);
    hq_metrics m;
    HQ_CHECK_OK(hq_metrics_evaluate(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &m));
    HQ_CHECK_EQ_INT(m.n, 14);
    HQ_CHECK_NEAR(m.auc, 0.53125, 1e-15);
    HQ_CHECK_NEAR(m.acc, 0.5714285714285714, 1e-15);
    HQ_CHECK_NEAR(m.f1, 0.5, 1e-15);
}

HQ_TEST(metrics_sklearn_reference_multiclass) {
    double v = -1;
    HQ_CHECK_OK(hq_metrics_auc(HQ_TASK_MULTICLASS, mc_y, mc_s, 18, 3, &v));
    HQ_CHECK_NEAR(v, 0.434775641025641, 1e-15);
    HQ_CHECK_OK(hq_metrics_acc(HQ_TASK_MULTICLASS, mc_y, mc_s, 18, 3, &v));
    HQ_CHECK_NEAR(v, 0.2777777777777778, 1e-15);
    HQ_CHECK_OK(hq_metrics_f1(HQ_TASK_MULTICLASS, mc_y, mc_s, 18, 3, &v));
    HQ_CHECK_NEAR(v, 0.2740740740740741, 1e-15);
    int64_t cm[9];
    HQ_CHECK_EQ_INT(hq_metrics_confusion_len(HQ_TASK_MULTICLASS, 3), 9);
    HQ_CHECK_OK(hq_metrics_confusion(HQ_TASK_MULTICLASS, mc_y, mc_s, 18, 3, cm));
    const int64_t want[9] = {2, 4, 2, 2, 2, 1, 3, 1, 1};
    for (int i = 0; i < 9; i++) HQ_CHECK_EQ_INT(cm[i], want[i]);
    /* ordinal regression (RetinaMNIST) is scored exactly as multi-class */
    HQ_CHECK_OK(hq_metrics_auc(HQ_TASK_ORDINAL, mc_y, mc_s, 18, 3, &v));
    HQ_CHECK_NEAR(v, 0.434775641025641, 1e-15);
    HQ_CHECK_OK(hq_metrics_acc(HQ_TASK_ORDINAL, mc_y, mc_s, 18, 3, &v));
    HQ_CHECK_NEAR(v, 0.2777777777777778, 1e-15);
    /* each one-vs-rest AUC agrees with pair counting */
    double sum = 0;
    for (int k = 0; k < 3; k++) {
        int32_t yk[18];
        for (int i = 0; i < 18; i++) yk[i] = mc_y[i] == k;
        sum += auc_pairs_ref(yk, mc_s, 18, 3, k);
    }
    HQ_CHECK_NEAR(sum / 3, 0.434775641025641, 1e-15);
}

HQ_TEST(metrics_sklearn_reference_multilabel) {
    double v = -1;
    HQ_CHECK_OK(hq_metrics_auc(HQ_TASK_MULTILABEL, ml_y, ml_s, 12, 4, &v));
    HQ_CHECK_NEAR(v, 0.40512152777777777, 1e-15);
    HQ_CHECK_OK(hq_metrics_acc(HQ_TASK_MULTILABEL, ml_y, ml_s, 12, 4, &v));
    HQ_CHECK_NEAR(v, 0.4166666666666667, 1e-15);
    HQ_CHECK_OK(hq_metrics_f1(HQ_TASK_MULTILABEL, ml_y, ml_s, 12, 4, &v));
    HQ_CHECK_NEAR(v, 0.3844155844155844, 1e-15);
    int64_t cm[16];
    HQ_CHECK_EQ_INT(hq_metrics_confusion_len(HQ_TASK_MULTILABEL, 4), 16);
    HQ_CHECK_OK(hq_metrics_confusion(HQ_TASK_MULTILABEL, ml_y, ml_s, 12, 4, cm));
    const int64_t want[16] = {1, 5, 3, 3, 4, 0, 5, 3, 3, 4, 3, 2, 3, 2, 6, 1};
    for (int i = 0; i < 16; i++) HQ_CHECK_EQ_INT(cm[i], want[i]);
}

HQ_TEST(metrics_sklearn_reference_ties_and_absent_class) {
    double v = -1;
    HQ_CHECK_OK(hq_metrics_roc_auc(big_y, big_s, 200, &v));
    HQ_CHECK_NEAR(v, 0.5474342171589878, 1e-15);
    /* macro F1 averages over classes present in labels or predictions only (class 3 of 4
     * appears in neither) */
    const int32_t y[8] = {0, 1, 2, 2, 1, 0, 0, 2};
    HQ_CHECK_OK(hq_metrics_f1(HQ_TASK_MULTICLASS, y, f1a_s, 8, 4, &v));
    HQ_CHECK_NEAR(v, 0.5857142857142857, 1e-15);
    int32_t pred[8];
    const int32_t want[8] = {0, 1, 2, 0, 2, 0, 0, 1};
    HQ_CHECK_OK(hq_metrics_predict(HQ_TASK_MULTICLASS, f1a_s, 8, 4, pred));
    for (int i = 0; i < 8; i++) HQ_CHECK_EQ_INT(pred[i], want[i]);
}

HQ_TEST(metrics_thresholds_and_argmax_ties) {
    /* binary: a score of exactly 0.5 predicts class 0 (score > 0.5, as MedMNIST) */
    const int32_t y[4] = {0, 1, 1, 0};
    const float s[8] = {0.5f, 0.5f, 0.4f, 0.6f, 0.49f, 0.51f, 0.2f, 0.8f};
    int32_t pred[4];
    HQ_CHECK_OK(hq_metrics_predict(HQ_TASK_BINARY, s, 4, 2, pred));
    HQ_CHECK_EQ_INT(pred[0], 0);
    HQ_CHECK_EQ_INT(pred[1], 1);
    HQ_CHECK_EQ_INT(pred[2], 1);
    HQ_CHECK_EQ_INT(pred[3], 1);
    double acc = -1, f1 = -1;
    HQ_CHECK_OK(hq_metrics_acc(HQ_TASK_BINARY, y, s, 4, 2, &acc));
    /* samples 0, 1, 2 are right, sample 3 (true 0, predicted 1) is wrong */
    HQ_CHECK_NEAR(acc, 0.75, 0);
    HQ_CHECK_OK(hq_metrics_f1(HQ_TASK_BINARY, y, s, 4, 2, &f1));
    HQ_CHECK_NEAR(f1, 2.0 * 2 / (2 * 2 + 1 + 0), 1e-15);
    /* multi-class argmax takes the first maximum */
    const float t[6] = {0.4f, 0.4f, 0.2f, 0.1f, 0.45f, 0.45f};
    HQ_CHECK_OK(hq_metrics_predict(HQ_TASK_MULTICLASS, t, 2, 3, pred));
    HQ_CHECK_EQ_INT(pred[0], 0);
    HQ_CHECK_EQ_INT(pred[1], 1);
    /* multi-label thresholds each label */
    const float u[4] = {0.5f, 0.50001f, 0.9f, 0.1f};
    HQ_CHECK_OK(hq_metrics_predict(HQ_TASK_MULTILABEL, u, 2, 2, pred));
    HQ_CHECK(pred[0] == 0 && pred[1] == 1 && pred[2] == 1 && pred[3] == 0);
}

HQ_TEST(metrics_perfect_and_inverted) {
    const int32_t y[6] = {0, 1, 2, 2, 1, 0};
    float good[18], bad[18];
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 3; k++) {
            good[i * 3 + k] = k == y[i] ? 0.8f : 0.1f;
            bad[i * 3 + k] = k == y[i] ? 0.0f : 0.5f;
        }
    hq_metrics m;
    HQ_CHECK_OK(hq_metrics_evaluate(HQ_TASK_MULTICLASS, y, good, 6, 3, &m));
    HQ_CHECK_NEAR(m.acc, 1, 0);
    HQ_CHECK_NEAR(m.auc, 1, 0);
    HQ_CHECK_NEAR(m.f1, 1, 0);
    HQ_CHECK_OK(hq_metrics_evaluate(HQ_TASK_MULTICLASS, y, bad, 6, 3, &m));
    HQ_CHECK_NEAR(m.acc, 0, 0);
    HQ_CHECK_NEAR(m.auc, 0, 0);
    HQ_CHECK_NEAR(m.f1, 0, 0);
    const int32_t yb[4] = {1, 0, 0, 1};
    const float sb[4] = {0.9f, 0.2f, 0.3f, 0.7f};
    HQ_CHECK_OK(hq_metrics_evaluate(HQ_TASK_BINARY, yb, sb, 4, 1, &m));
    HQ_CHECK(m.acc == 1 && m.auc == 1 && m.f1 == 1);
    int64_t cm[4];
    HQ_CHECK_OK(hq_metrics_confusion(HQ_TASK_BINARY, yb, sb, 4, 1, cm));
    HQ_CHECK(cm[0] == 2 && cm[1] == 0 && cm[2] == 0 && cm[3] == 2);
}

HQ_TEST(metrics_degenerate_single_class) {
    /* only one class in the labels: AUC undefined (scikit-learn raises); evaluate → NaN */
    const int32_t y[4] = {1, 1, 1, 1};
    const float s[4] = {0.9f, 0.2f, 0.6f, 0.7f};
    double auc = 0.25;
    HQ_CHECK_FAILS(hq_metrics_roc_auc(y, s, 4, &auc), HQ_ERR_INVALID_ARG, "only one class");
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_BINARY, y, s, 4, 1, &auc), HQ_ERR_INVALID_ARG,
                   "all 4 samples are positive");
    HQ_CHECK_NEAR(auc, 0.25, 0); /* untouched */
    hq_metrics m;
    HQ_CHECK_OK(hq_metrics_evaluate(HQ_TASK_BINARY, y, s, 4, 1, &m));
    HQ_CHECK(isnan(m.auc));
    HQ_CHECK_NEAR(m.acc, 0.75, 0);
    HQ_CHECK_NEAR(m.f1, 2.0 * 3 / (2 * 3 + 0 + 1), 1e-15);
    /* multi-class: class 2 never occurs */
    const int32_t yc[4] = {0, 1, 0, 1};
    const float sc[12] = {.5f, .3f, .2f, .1f, .8f, .1f, .6f, .2f, .2f, .3f, .3f, .4f};
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_MULTICLASS, yc, sc, 4, 3, &auc), HQ_ERR_INVALID_ARG,
                   "class 2: all 4 samples are negative");
    /* multi-label: label 1 always on */
    const int32_t yl[4] = {0, 1, 1, 1};
    const float sl[4] = {.2f, .3f, .7f, .9f};
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_MULTILABEL, yl, sl, 2, 2, &auc), HQ_ERR_INVALID_ARG,
                   "label 1");
    /* a single sample */
    HQ_CHECK_FAILS(hq_metrics_roc_auc(y, s, 1, &auc), HQ_ERR_INVALID_ARG, "only one class");
}

HQ_TEST(metrics_bad_input) {
    const int32_t y[3] = {0, 1, 0};
    const float s[3] = {0.1f, 0.9f, 0.4f};
    double v;
    int64_t cm[4];
    int32_t pred[3];
    hq_metrics m;
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_BINARY, NULL, s, 3, 1, &v), HQ_ERR_INVALID_ARG,
                   "NULL labels");
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_BINARY, y, NULL, 3, 1, &v), HQ_ERR_INVALID_ARG,
                   "NULL scores");
    HQ_CHECK_FAILS(hq_metrics_acc(HQ_TASK_BINARY, y, s, 3, 1, NULL), HQ_ERR_INVALID_ARG,
                   "NULL output");
    HQ_CHECK_FAILS(hq_metrics_roc_auc(NULL, s, 3, &v), HQ_ERR_INVALID_ARG, "NULL labels");
    HQ_CHECK_FAILS(hq_metrics_f1(HQ_TASK_BINARY, y, s, 0, 1, &v), HQ_ERR_INVALID_ARG,
                   "0 samples, out of range [1,");
    HQ_CHECK_FAILS(hq_metrics_acc(HQ_TASK_BINARY, y, s, 3, 0, &v), HQ_ERR_INVALID_ARG,
                   "0 score columns");
    HQ_CHECK_FAILS(hq_metrics_acc((hq_task)9, y, s, 3, 1, &v), HQ_ERR_INVALID_ARG,
                   "task 9 out of range");
    HQ_CHECK_FAILS(hq_metrics_predict((hq_task)9, s, 3, 1, pred), HQ_ERR_INVALID_ARG, "task 9");
    const float nan_s[3] = {0.1f, NAN, 0.3f};
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_BINARY, y, nan_s, 3, 1, &v), HQ_ERR_INVALID_ARG,
                   "sample 1, column 0 is nan");
    const float inf_s[3] = {0.1f, 0.2f, INFINITY};
    HQ_CHECK_FAILS(hq_metrics_evaluate(HQ_TASK_BINARY, y, inf_s, 3, 1, &m), HQ_ERR_INVALID_ARG,
                   "must be finite");
    const int32_t y2[3] = {0, 2, 1};
    HQ_CHECK_FAILS(hq_metrics_confusion(HQ_TASK_BINARY, y2, s, 3, 1, cm), HQ_ERR_INVALID_ARG,
                   "label of sample 1 is 2, out of range [0, 2)");
    const int32_t y5[2] = {0, 3};
    const float s5[6] = {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f};
    HQ_CHECK_FAILS(hq_metrics_acc(HQ_TASK_MULTICLASS, y5, s5, 2, 3, &v), HQ_ERR_INVALID_ARG,
                   "label of sample 1 is 3, out of range [0, 3)");
    const int32_t y3[3] = {0, -1, 1};
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_MULTICLASS, y3, s, 3, 1, &v), HQ_ERR_INVALID_ARG,
                   "label of sample 1 is -1");
    const int32_t y4[4] = {0, 1, 2, 0};
    const float s4[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_MULTILABEL, y4, s4, 2, 2, &v), HQ_ERR_INVALID_ARG,
                   "multi-label labels must be 0 or 1");
    HQ_CHECK_FAILS(hq_metrics_evaluate(HQ_TASK_BINARY, y, s, 3, 1, NULL), HQ_ERR_INVALID_ARG,
                   "NULL output");
    HQ_CHECK_EQ_INT(hq_metrics_confusion_len(HQ_TASK_BINARY, 0), 0);
    HQ_CHECK_EQ_INT(hq_metrics_confusion_len((hq_task)7, 2), 0);
}

HQ_TEST(metrics_task_names) {
    for (int t = 0; t < HQ_TASK_COUNT; t++) {
        hq_task back;
        HQ_CHECK_OK(hq_task_from_str(hq_task_str((hq_task)t), &back));
        HQ_CHECK_EQ_INT(back, t);
    }
    HQ_CHECK_STR(hq_task_str(HQ_TASK_MULTILABEL), "multi-label, binary-class");
    HQ_CHECK_STR(hq_task_str((hq_task)42), "?");
    hq_task t;
    HQ_CHECK_OK(hq_task_from_str("ordinal", &t));
    HQ_CHECK_EQ_INT(t, HQ_TASK_ORDINAL);
    HQ_CHECK_FAILS(hq_task_from_str("regression", &t), HQ_ERR_INVALID_ARG,
                   "unknown task 'regression'");
    HQ_CHECK_FAILS(hq_task_from_str(NULL, &t), HQ_ERR_INVALID_ARG, "NULL");
}

HQ_TEST(metrics_alloc_failure) {
    double v;
    hq_alloc_fail_after(1);
    HQ_CHECK_FAILS(hq_metrics_auc(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &v), HQ_ERR_NOMEM,
                   "out of memory");
    hq_alloc_fail_after(1);
    HQ_CHECK_FAILS(hq_metrics_acc(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &v), HQ_ERR_NOMEM,
                   "out of memory");
    hq_alloc_fail_after(2);
    HQ_CHECK_FAILS(hq_metrics_f1(HQ_TASK_BINARY, bin_y, bin_s, 14, 2, &v), HQ_ERR_NOMEM,
                   "out of memory");
    hq_alloc_fail_after(1);
    HQ_CHECK_FAILS(hq_metrics_roc_auc(bin_y, bin_s, 14, &v), HQ_ERR_NOMEM, "out of memory");
    hq_alloc_fail_after(0);
}
