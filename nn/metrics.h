/*
 * nn/metrics.h — evaluation metrics exactly as the MedMNIST evaluator defines them
 * (medmnist/evaluator.py getAUC / getACC, which call scikit-learn), plus F1 and the
 * confusion matrix.
 *
 * Inputs everywhere:
 *   labels  int32, (n) for single-label tasks, (n, c) for HQ_TASK_MULTILABEL
 *   scores  float32 (n, c), row-major: the model's softmax probabilities (sigmoid
 *           probabilities per label for multi-label). Non-finite scores are rejected.
 *
 * Definitions per task (what MedMNIST does, reproduced bit for bit where it matters):
 *   binary       the positive score is the LAST column, scores[:, c-1] (c is 1 or 2 in
 *                practice). AUC = ROC AUC of that score; ACC = mean(score > 0.5 == label);
 *                F1 = F1 of class 1 with the same 0.5 threshold.
 *   multi-class  AUC = mean over the c columns of one-vs-rest ROC AUC (labels == i vs
 *                scores[:, i]); ACC = mean(argmax(scores) == label) (argmax: first maximum,
 *                as NumPy); F1 = macro average over the classes present in labels or
 *                predictions (scikit-learn's default label set).
 *   multi-label  AUC = mean over the c labels of the per-label ROC AUC; ACC = mean over the
 *                labels of the per-label accuracy of (score > 0.5); F1 = macro average of
 *                the per-label F1 over all c labels.
 *   ordinal      (RetinaMNIST) evaluated as multi-class.
 * ROC AUC equals scikit-learn's roc_auc_score including ties: it is the Mann-Whitney U
 * statistic with average ranks, computed in exact integer arithmetic (twice the rank sum)
 * and divided once at the end.
 * An F1 with no true positives, false positives or false negatives (0/0) is 0, as
 * scikit-learn's zero_division default.
 *
 * Degenerate data: the ROC AUC is undefined when a column's labels are all one class
 * (scikit-learn raises "Only one class present in y_true"). hq_metrics_auc and
 * hq_metrics_roc_auc then fail with HQ_ERR_INVALID_ARG and a message naming the class;
 * hq_metrics_evaluate instead reports auc = NaN and still fills acc and f1, so a training
 * loop can log a small validation split without failing.
 *
 * All functions return HQ_OK or HQ_ERR_INVALID_ARG (NULL pointers, n < 1, n > INT32_MAX,
 * c out of range, a label outside its task's range, a non-finite score, undefined AUC),
 * or HQ_ERR_NOMEM (AUC sorts a copy of a score column).
 */
#ifndef HQ_METRICS_H
#define HQ_METRICS_H

#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MedMNIST task types. Append-only. */
typedef enum hq_task {
    HQ_TASK_BINARY = 0, /* "binary-class": labels (n) in {0, 1} */
    HQ_TASK_MULTICLASS, /* "multi-class": labels (n) in [0, c) */
    HQ_TASK_MULTILABEL, /* "multi-label, binary-class": labels (n, c) in {0, 1} */
    HQ_TASK_ORDINAL,    /* "ordinal-regression": labels (n) in [0, c), scored as multi-class */
    HQ_TASK_COUNT
} hq_task;

#define HQ_METRICS_MAX_CLASSES 1024 /* c must lie in [1, this] */

/* MedMNIST's name of a task ("multi-label, binary-class"); "?" if invalid. Never NULL. */
const char *hq_task_str(hq_task t);
/* Parse MedMNIST's task name (also the short forms "binary", "multi-class", "multi-label",
 * "ordinal"). HQ_ERR_INVALID_ARG with the valid names if unknown. */
hq_status hq_task_from_str(const char *s, hq_task *out);

/*
 * ROC AUC of one score vector (scikit-learn roc_auc_score for binary y).
 * [in]  y      (n) labels, 0 = negative, anything else = positive
 * [in]  score  (n) scores, finite
 * [in]  n      samples, [1, INT32_MAX]
 * [out] auc    in [0, 1]
 * HQ_ERR_INVALID_ARG if only one class is present (AUC undefined) or on bad input.
 */
hq_status hq_metrics_roc_auc(const int32_t *y, const float *score, int64_t n, double *auc);

/* MedMNIST getAUC. c = score columns (1..HQ_METRICS_MAX_CLASSES). */
hq_status hq_metrics_auc(hq_task task, const int32_t *labels, const float *scores, int64_t n, int c,
                         double *auc);
/* MedMNIST getACC (threshold 0.5 for binary and multi-label). */
hq_status hq_metrics_acc(hq_task task, const int32_t *labels, const float *scores, int64_t n, int c,
                         double *acc);
/* F1: binary F1 of class 1; macro F1 for multi-class / ordinal / multi-label. */
hq_status hq_metrics_f1(hq_task task, const int32_t *labels, const float *scores, int64_t n, int c,
                        double *f1);

/*
 * Predicted labels with the rules above: binary (n) in {0,1} from scores[:, c-1] > 0.5;
 * multi-class / ordinal (n) argmax; multi-label (n, c) of score > 0.5.
 * [out] pred  (n) or (n, c) int32, caller-allocated
 */
hq_status hq_metrics_predict(hq_task task, const float *scores, int64_t n, int c, int32_t *pred);

/* Entries of the confusion matrix for a task: 4 (binary), c*c (multi-class, ordinal),
 * 4*c (multi-label); 0 if task or c is invalid. */
int64_t hq_metrics_confusion_len(hq_task task, int c);

/*
 * Confusion matrix of hq_metrics_predict against labels, counts as int64.
 * binary: cm[2*t + p] for true t, predicted p in {0,1};
 * multi-class / ordinal: cm[c*t + p];
 * multi-label: per label k, cm[4*k + 2*t + p] (scikit-learn's multilabel_confusion_matrix
 * order: [[tn, fp], [fn, tp]]).
 * [out] cm  hq_metrics_confusion_len(task, c) entries, caller-allocated, overwritten
 */
hq_status hq_metrics_confusion(hq_task task, const int32_t *labels, const float *scores, int64_t n,
                               int c, int64_t *cm);

/* The usual summary of a split. */
typedef struct hq_metrics {
    int64_t n;  /* samples evaluated */
    double acc; /* MedMNIST ACC in [0, 1] */
    double auc; /* MedMNIST AUC in [0, 1]; NaN when undefined (a class absent) */
    double f1;  /* F1 (binary) or macro F1 in [0, 1] */
} hq_metrics;

/* ACC, AUC and F1 at once. An undefined AUC gives auc = NaN and HQ_OK (see above); every
 * other problem fails as the individual functions do. */
hq_status hq_metrics_evaluate(hq_task task, const int32_t *labels, const float *scores, int64_t n,
                              int c, hq_metrics *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_METRICS_H */
