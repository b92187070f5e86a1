/*
 * nn/loss.h — softmax cross-entropy with optional class weights (PyTorch
 * F.cross_entropy(logits, labels, weight=w), reduction "mean"), and row softmax.
 *
 * With weights, the mean is weighted as in PyTorch:
 *     L = sum_i w[y_i] * (-log softmax(x_i)[y_i]) / sum_i w[y_i]
 *     dL/dx_i = w[y_i] * (softmax(x_i) - onehot(y_i)) / sum_i w[y_i]
 * Without weights every w is 1 (the plain mean). Computed in double, log-sum-exp shifted
 * by the row maximum, so large logits do not overflow.
 *
 * hq_loss_softmax_ce_ex adds label smoothing and mixup targets (hq_ce_opts). Label
 * smoothing eps trains against (1 - eps) onehot(y) + eps / C, composed with class weights
 * as PyTorch's F.cross_entropy(..., weight=w, label_smoothing=eps) does:
 *     L = sum_i [(1 - eps) w[y_i] (-log p_i[y_i]) + (eps / C) sum_k w[k] (-log p_i[k])]
 *         / sum_i w[y_i]
 *     dL/dx_i = [(1 - eps) w[y_i] (p_i - onehot(y_i)) + (eps / C) (W p_i - w)] / sum_i w[y_i]
 * with W = sum_k w[k] (without weights: dL/dx_i = (p_i - target_i) / n). Mixup with a
 * second label set y' and weight lambda: L = lambda L(y) + (1 - lambda) L(y'), each term
 * normalised by its own sum of label weights, and the gradient likewise.
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

/* Options of hq_loss_softmax_ce_ex; all-zero = hq_loss_softmax_ce. */
typedef struct hq_ce_opts {
    double label_smoothing;    /* eps in [0, 1): target (1 - eps) onehot + eps / classes */
    const int32_t *labels_mix; /* (n) mixup's second labels in [0, c), or NULL = no mixup */
    double mix_lambda;         /* weight of `labels` in [0, 1]; labels_mix get 1 - lambda */
} hq_ce_opts;

/*
 * hq_loss_softmax_ce with label smoothing and/or a mixup label pair (formulas above);
 * opts NULL or all-zero gives bit for bit the result of hq_loss_softmax_ce. Returns
 * HQ_ERR_INVALID_ARG as hq_loss_softmax_ce, and for label_smoothing outside [0, 1),
 * mix_lambda outside [0, 1], or a labels_mix entry out of range.
 */
hq_status hq_loss_softmax_ce_ex(double *loss, float *dlogits, const float *logits,
                                const int32_t *labels, const float *weights, const hq_ce_opts *opts,
                                int n, int c);

/*
 * "Balanced" class weights from training labels (sklearn's compute_class_weight):
 * w[k] = n / (c * count_k), so every class carries the same total weight in the loss.
 * [out] weights (c); [in] labels (n) in [0, c). A class absent from the labels gets 0 (and
 * a warning in the log). Returns HQ_ERR_INVALID_ARG for a label out of range.
 */
hq_status hq_loss_balanced_weights(float *weights, const int32_t *labels, int64_t n, int c);

/* probs (n, c) = softmax of each row of logits (n, c); probs may equal logits. */
void hq_softmax_rows(float *probs, const float *logits, int n, int c);

/*
 * Undo class weights in predicted probabilities (the prior correction of Saerens, Latinne
 * and Decaestecker, 2002). A weighted cross-entropy is minimised by q(k|x) proportional to
 * w[k] p(k|x), so each row of probs (n, c) is rewritten in place as
 *     p(k|x) = (q(k|x) / w[k]) / sum_j q(j|x) / w[j]
 * (computed in double). A class of weight 0 (absent from the training labels) gets
 * probability 0; a row left with no mass is not changed. For two classes the positive
 * score stays a strictly increasing function of the old one, so the binary ROC AUC is
 * unchanged and only the 0.5 threshold moves; multi-class AUC and every argmax may change.
 */
void hq_scores_unweight(float *probs, const float *weights, int64_t n, int c);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_LOSS_H */
