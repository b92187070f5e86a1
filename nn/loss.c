/*
 * nn/loss.c — softmax cross-entropy (class-weighted mean, PyTorch semantics) and softmax.
 */
#include <math.h>

#include "nn/loss.h"

hq_status hq_loss_softmax_ce(double *loss, float *dlogits, const float *logits,
                             const int32_t *labels, const float *weights, int n, int c) {
    if (!loss || !logits || !labels || n < 1 || c < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_softmax_ce: NULL argument or empty batch (n %d, classes %d)", n,
                        c);
    double wsum = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= c)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_loss_softmax_ce: label %d of sample %d out of range [0, %d)",
                            (int)labels[i], i, c);
        double w = 1.0;
        if (weights) {
            w = weights[labels[i]];
            if (!(w >= 0) || !isfinite(w))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "hq_loss_softmax_ce: class weight %d is %g (must be finite, >= 0)",
                                (int)labels[i], w);
        }
        wsum += w;
    }
    if (!(wsum > 0))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_loss_softmax_ce: every label of the batch has class weight 0");
    double total = 0;
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
        double w = weights ? weights[labels[i]] : 1.0;
        total += w * (lse - x[labels[i]]);
        if (dlogits) {
            float *d = dlogits + (int64_t)i * c;
            for (int k = 0; k < c; k++) {
                double p = exp(x[k] - lse);
                d[k] = (float)(w * (p - (k == labels[i])) / wsum);
            }
        }
    }
    *loss = total / wsum;
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
