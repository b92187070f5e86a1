/*
 * nn/loss.h — softmax cross-entropy with optional class weights (PyTorch
 * F.cross_entropy(logits, labels, weight=w), reduction "mean"), and row softmax.
 *
 * With weights, the mean is weighted as in PyTorch:
 *     L = sum_i w[y_i] * (-log softmax(x_i)[y_i]) / sum_i w[y_i]
 *     dL/dx_i = w[y_i] * (softmax(x_i) - onehot(y_i)) / sum_i w[y_i]
 * Without weights every w is 1 (the plain mean). Computed in double, log-sum-exp shifted
 * by the row maximum, so large logits do not overflow.
 */
#ifndef HQ_NN_LOSS_H
#define HQ_NN_LOSS_H

#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * [out] loss: the (weighted) mean loss; [out] dlogits (n, c): dL/dlogits, or NULL to skip;
 * [in] logits (n, c) row-major; labels (n) in [0, c); weights (c) >= 0 or NULL.
 * Returns HQ_ERR_INVALID_ARG for a label out of range, a negative or non-finite weight,
 * a batch whose labels all have weight 0, or non-finite logits.
 */
hq_status hq_loss_softmax_ce(double *loss, float *dlogits, const float *logits,
                             const int32_t *labels, const float *weights, int n, int c);

/*
 * "Balanced" class weights from training labels (sklearn's compute_class_weight):
 * w[k] = n / (c * count_k), so every class carries the same total weight in the loss.
 * [out] weights (c); [in] labels (n) in [0, c). A class absent from the labels gets 0 (and
 * a warning in the log). Returns HQ_ERR_INVALID_ARG for a label out of range.
 */
hq_status hq_loss_balanced_weights(float *weights, const int32_t *labels, int64_t n, int c);

/* probs (n, c) = softmax of each row of logits (n, c); probs may equal logits. */
void hq_softmax_rows(float *probs, const float *logits, int n, int c);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_LOSS_H */
