/*
 * nn/loss.c — softmax cross-entropy (class-weighted mean, PyTorch semantics; label smoothing
 * and mixup targets) and softmax.
 */
#include <math.h>

#include "nn/loss.h"

/* Checks labels (n) and their weights; [out] wsum = sum of the labels' weights (> 0). */
static hq_status label_weight_sum(const int32_t *labels, const float *weights, int n, int c,
                                  const char *what, double *wsum) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= c)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_loss_softmax_ce: %s %d of sample %d out of range [0, %d)", what,
                            (int)labels[i], i, c);
        double w = 1.0;
        if (weights) {
            w = weights[labels[i]];
            if (!(w >= 0) || !isfinite(w))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "hq_loss_softmax_ce: class weight %d is %g (must be finite, >= 0)",
                                (int)labels[i], w);
        }
        s += w;
    }
    if (!(s > 0))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_softmax_ce: every %s of the batch has class weight 0", what);
    *wsum = s;
    return HQ_OK;
}

hq_status hq_loss_softmax_ce(double *loss, float *dlogits, const float *logits,
                             const int32_t *labels, const float *weights, int n, int c) {
    return hq_loss_softmax_ce_ex(loss, dlogits, logits, labels, weights, NULL, n, c);
}

/* One label's share of the loss (v = lse - x[y]) or of a gradient entry (v = p - onehot):
 * (1 - eps) w v + s with smoothing, else w v, the exact operations of the plain loss. */
static inline double smoothed(double eps, double w, double v, double s) {
    return eps > 0 ? (1 - eps) * w * v + s : w * v;
}

hq_status hq_loss_softmax_ce_ex(double *loss, float *dlogits, const float *logits,
                                const int32_t *labels, const float *weights, const hq_ce_opts *opts,
                                int n, int c) {
    if (!loss || !logits || !labels || n < 1 || c < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_softmax_ce: NULL argument or empty batch (n %d, classes %d)", n,
                        c);
    const double eps = opts ? opts->label_smoothing : 0.0;
    const int32_t *lab2 = opts ? opts->labels_mix : NULL;
    const double lam = lab2 ? opts->mix_lambda : 1.0;
    if (!(eps >= 0 && eps < 1))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_softmax_ce: label smoothing %g is outside [0, 1)", eps);
    if (!(lam >= 0 && lam <= 1))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_softmax_ce: mixup lambda %g is outside [0, 1]", lam);
    double wsum = 0, wsum2 = 0;
    hq_status st = label_weight_sum(labels, weights, n, c, "label", &wsum);
    if (st == HQ_OK && lab2) st = label_weight_sum(lab2, weights, n, c, "mixup label", &wsum2);
    if (st) return st;
    /* smoothing's class-weight total W = sum_k w[k] */
    double wall = 0;
    for (int k = 0; eps > 0 && k < c; k++) wall += weights ? weights[k] : 1.0;
    double total = 0, total2 = 0;
    for (int i = 0; i < n; i++) {
        const float *x = logits + (int64_t)i * c;
        double mx = x[0];
        bool finite = true;
        for (int k = 0; k < c; k++) {
            mx = fmax(mx, x[k]);
            finite = finite && isfinite(x[k]);
        }
        if (!finite)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_loss_softmax_ce: non-finite logits in sample %d (diverged "
                            "training? lower the learning rate)",
                            i);
        double se = 0;
        for (int k = 0; k < c; k++) se += exp(x[k] - mx);
        double lse = mx + log(se);
        /* the smoothing term (eps / C) sum_k w[k] (lse - x[k]), shared by both label sets */
        double smooth = 0;
        for (int k = 0; eps > 0 && k < c; k++)
            smooth += (weights ? weights[k] : 1.0) * (lse - x[k]);
        smooth *= eps / c;
        double w = weights ? weights[labels[i]] : 1.0;
        total += smoothed(eps, w, lse - x[labels[i]], smooth);
        double w2 = 0;
        if (lab2) {
            w2 = weights ? weights[lab2[i]] : 1.0;
            total2 += smoothed(eps, w2, lse - x[lab2[i]], smooth);
        }
        if (dlogits) {
            float *d = dlogits + (int64_t)i * c;
            for (int k = 0; k < c; k++) {
                double p = exp(x[k] - lse);
                double sk = eps > 0 ? eps / c * (wall * p - (weights ? weights[k] : 1.0)) : 0;
                double g = smoothed(eps, w, p - (k == labels[i]), sk) / wsum;
                if (lab2) {
                    double g2 = smoothed(eps, w2, p - (k == lab2[i]), sk) / wsum2;
                    g = lam * g + (1 - lam) * g2;
                }
                d[k] = (float)g;
            }
        }
    }
    *loss = lab2 ? lam * (total / wsum) + (1 - lam) * (total2 / wsum2) : total / wsum;
    return HQ_OK;
}

void hq_softmax_rows(float *probs, const float *logits, int n, int c) {
    for (int i = 0; i < n; i++) {
        const float *x = logits + (int64_t)i * c;
        float *p = probs + (int64_t)i * c;
        double mx = x[0], se = 0;
        for (int k = 1; k < c; k++) mx = fmax(mx, x[k]);
        for (int k = 0; k < c; k++) se += exp(x[k] - mx);
        for (int k = 0; k < c; k++) p[k] = (float)(exp(x[k] - mx) / se);
    }
}

void hq_scores_unweight(float *probs, const float *weights, int64_t n, int c) {
    for (int64_t i = 0; i < n; i++) {
        float *p = probs + i * c;
        double s = 0;
        for (int k = 0; k < c; k++) s += weights[k] > 0 ? (double)p[k] / weights[k] : 0.0;
        if (!(s > 0)) continue;
        for (int k = 0; k < c; k++)
            p[k] = weights[k] > 0 ? (float)((double)p[k] / weights[k] / s) : 0.0f;
    }
}

hq_status hq_loss_balanced_weights(float *weights, const int32_t *labels, int64_t n, int c) {
    if (!weights || !labels || n < 1 || c < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_balanced_weights: NULL argument or empty (n %lld, classes %d)",
                        (long long)n, c);
    int64_t *count = hq_calloc((size_t)c, sizeof *count);
    if (!count) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_loss_balanced_weights: out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= c) {
            hq_free(count);
            return hq_failf(
                NULL, HQ_ERR_INVALID_ARG,
                "hq_loss_balanced_weights: label %d of sample %lld out of range [0, %d)",
                (int)labels[i], (long long)i, c);
        }
        count[labels[i]]++;
    }
    for (int k = 0; k < c; k++) {
        if (!count[k]) HQ_LOGW("class %d has no training samples: its loss weight is 0", k);
        weights[k] = count[k] ? (float)((double)n / ((double)c * (double)count[k])) : 0.0f;
    }
    hq_free(count);
    return HQ_OK;
}
