/*
 * nn/metrics.c — MedMNIST ACC / AUC, F1 and confusion matrices; see nn/metrics.h.
 *
 * The ROC AUC is the Mann-Whitney U statistic with average ranks for ties: sort
 * (score, label) pairs by score, give every group of equal scores the mean of its ranks,
 * and sum the ranks of the positives. Twice every average rank is an integer, so the sum
 * is exact in int64 and the only rounding is the final division.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/metrics.h"

/* ==== tasks =========================================================================== */

static const char *const task_names[] = {
    [HQ_TASK_BINARY] = "binary-class",
    [HQ_TASK_MULTICLASS] = "multi-class",
    [HQ_TASK_MULTILABEL] = "multi-label, binary-class",
    [HQ_TASK_ORDINAL] = "ordinal-regression",
};
_Static_assert(sizeof task_names / sizeof *task_names == HQ_TASK_COUNT,
               "task_names[] needs one row per hq_task");

const char *hq_task_str(hq_task t) { return (unsigned)t < HQ_TASK_COUNT ? task_names[t] : "?"; }

hq_status hq_task_from_str(const char *s, hq_task *out) {
    static const struct {
        const char *name;
        hq_task t;
    } alias[] = {{"binary", HQ_TASK_BINARY},
                 {"multi-label", HQ_TASK_MULTILABEL},
                 {"ordinal", HQ_TASK_ORDINAL}};
    if (!s || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_task_from_str: NULL argument");
    for (int t = 0; t < HQ_TASK_COUNT; t++)
        if (!strcmp(s, task_names[t])) {
            *out = (hq_task)t;
            return HQ_OK;
        }
    for (size_t i = 0; i < HQ_ARRAY_LEN(alias); i++)
        if (!strcmp(s, alias[i].name)) {
            *out = alias[i].t;
            return HQ_OK;
        }
    return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                    "unknown task '%s' (valid: binary-class, multi-class, multi-label, "
                    "binary-class, ordinal-regression)",
                    s);
}

/* ==== validation ====================================================================== */

/* Check the arguments of a metric; labels are checked against the task when with_labels. */
static hq_status check_args(const char *fn, hq_task task, const int32_t *labels,
                            const float *scores, int64_t n, int c, const void *out,
                            bool with_labels) {
    if (!scores || !out || (!labels && with_labels))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL %s", fn,
                        !scores ? "scores"
                        : !out  ? "output"
                                : "labels");
    if ((unsigned)task >= HQ_TASK_COUNT)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: task %d out of range [0, %d)", fn, (int)task,
                        HQ_TASK_COUNT);
    if (n < 1 || n > INT32_MAX)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %lld samples, out of range [1, %d]", fn,
                        (long long)n, INT32_MAX);
    if (c < 1 || c > HQ_METRICS_MAX_CLASSES)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d score columns, out of range [1, %d]", fn,
                        c, HQ_METRICS_MAX_CLASSES);
    for (int64_t i = 0; i < n * c; i++)
        if (!isfinite(scores[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: score of sample %lld, column %lld is %g (scores must be finite)",
                            fn, (long long)(i / c), (long long)(i % c), (double)scores[i]);
    if (!with_labels) return HQ_OK;
    if (task == HQ_TASK_MULTILABEL) {
        for (int64_t i = 0; i < n * c; i++)
            if (labels[i] != 0 && labels[i] != 1)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: label of sample %lld, column %lld is %d (multi-label labels "
                                "must be 0 or 1)",
                                fn, (long long)(i / c), (long long)(i % c), labels[i]);
    } else {
        int32_t hi = task == HQ_TASK_BINARY ? 2 : c;
        for (int64_t i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= hi)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: label of sample %lld is %d, out of range [0, %d) for a %s "
                                "task with %d score column%s",
                                fn, (long long)i, labels[i], hi, task_names[task], c,
                                c == 1 ? "" : "s");
    }
    return HQ_OK;
}

/* ==== ROC AUC ========================================================================= */

typedef struct score_pair {
    float s;     /* score */
    int32_t pos; /* 1 if positive */
} score_pair;

static int cmp_pair(const void *a, const void *b) {
    float x = ((const score_pair *)a)->s, y = ((const score_pair *)b)->s;
    return (x > y) - (x < y);
}

/* AUC of n pairs (reordered in place); `what` names the column for messages. */
static hq_status auc_pairs(const char *fn, const char *what, score_pair *p, int64_t n,
                           double *auc) {
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) npos += p[i].pos;
    if (npos == 0 || npos == n)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: ROC AUC is undefined for %s: all %lld samples are %s (only one "
                        "class present)",
                        fn, what, (long long)n, npos ? "positive" : "negative");
    qsort(p, (size_t)n, sizeof *p, cmp_pair);
    int64_t rank2 = 0; /* sum over positives of 2 * (average 1-based rank) */
    for (int64_t i = 0; i < n;) {
        int64_t j = i, gp = 0;
        while (j < n && p[j].s == p[i].s) gp += p[j++].pos;
        rank2 += gp * (i + 1 + j); /* ranks i+1..j, mean (i+1+j)/2 */
        i = j;
    }
    int64_t nneg = n - npos;
    int64_t u2 = rank2 - npos * (npos + 1); /* 2U */
    *auc = (double)u2 / (2.0 * (double)npos * (double)nneg);
    return HQ_OK;
}

hq_status hq_metrics_roc_auc(const int32_t *y, const float *score, int64_t n, double *auc) {
    hq_status st = check_args(__func__, HQ_TASK_BINARY, NULL, score, n, 1, auc, false);
    if (st != HQ_OK) return st;
    if (!y) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL labels", __func__);
    score_pair *p = hq_malloc((size_t)n * sizeof *p);
    if (!p)
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory for %lld samples", __func__,
                        (long long)n);
    for (int64_t i = 0; i < n; i++) p[i] = (score_pair){score[i], y[i] != 0};
    st = auc_pairs(__func__, "the labels", p, n, auc);
    hq_free(p);
    return st;
}

hq_status hq_metrics_auc(hq_task task, const int32_t *labels, const float *scores, int64_t n, int c,
                         double *auc) {
    hq_status st = check_args(__func__, task, labels, scores, n, c, auc, true);
    if (st != HQ_OK) return st;
    score_pair *p = hq_malloc((size_t)n * sizeof *p);
    if (!p)
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory for %lld samples", __func__,
                        (long long)n);
    char what[64];
    if (task == HQ_TASK_BINARY) {
        for (int64_t i = 0; i < n; i++) p[i] = (score_pair){scores[i * c + c - 1], labels[i]};
        st = auc_pairs(__func__, "the binary labels", p, n, auc);
    } else {
        double sum = 0;
        for (int k = 0; k < c && st == HQ_OK; k++) {
            for (int64_t i = 0; i < n; i++)
                p[i] =
                    (score_pair){scores[i * c + k],
                                 task == HQ_TASK_MULTILABEL ? labels[i * c + k] : labels[i] == k};
            snprintf(what, sizeof what, "%s %d", task == HQ_TASK_MULTILABEL ? "label" : "class", k);
            double a = 0;
            st = auc_pairs(__func__, what, p, n, &a);
            sum += a;
        }
        if (st == HQ_OK) *auc = sum / c;
    }
    hq_free(p);
    return st;
}

/* ==== predictions, ACC, F1, confusion ================================================= */

static int32_t argmax_row(const float *row, int c) {
    int32_t best = 0;
    for (int k = 1; k < c; k++)
        if (row[k] > row[best]) best = k;
    return best;
}

static void predict(hq_task task, const float *scores, int64_t n, int c, int32_t *pred) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = scores + i * c;
        if (task == HQ_TASK_BINARY)
            pred[i] = row[c - 1] > 0.5f;
        else if (task == HQ_TASK_MULTILABEL)
            for (int k = 0; k < c; k++) pred[i * c + k] = row[k] > 0.5f;
        else
            pred[i] = argmax_row(row, c);
    }
}

hq_status hq_metrics_predict(hq_task task, const float *scores, int64_t n, int c, int32_t *pred) {
    hq_status st = check_args(__func__, task, NULL, scores, n, c, pred, false);
    if (st != HQ_OK) return st;
    predict(task, scores, n, c, pred);
    return HQ_OK;
}

int64_t hq_metrics_confusion_len(hq_task task, int c) {
    if (c < 1 || c > HQ_METRICS_MAX_CLASSES) return 0;
    switch (task) {
    case HQ_TASK_BINARY: return 4;
    case HQ_TASK_MULTICLASS:
    case HQ_TASK_ORDINAL: return (int64_t)c * c;
    case HQ_TASK_MULTILABEL: return 4 * (int64_t)c;
    default: return 0;
    }
}

/* Confusion counts without argument checks (callers validated). */
static hq_status confusion(hq_task task, const int32_t *labels, const float *scores, int64_t n,
                           int c, int64_t *cm) {
    int64_t len = hq_metrics_confusion_len(task, c);
    int64_t per = task == HQ_TASK_MULTILABEL ? (int64_t)n * c : n;
    int32_t *pred = hq_malloc((size_t)per * sizeof *pred);
    if (!pred)
        return hq_failf(NULL, HQ_ERR_NOMEM, "metrics: out of memory for %lld predictions",
                        (long long)per);
    predict(task, scores, n, c, pred);
    memset(cm, 0, (size_t)len * sizeof *cm);
    if (task == HQ_TASK_MULTILABEL) {
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < c; k++) cm[4 * k + 2 * labels[i * c + k] + pred[i * c + k]]++;
    } else {
        int64_t K = task == HQ_TASK_BINARY ? 2 : c;
        for (int64_t i = 0; i < n; i++) cm[K * labels[i] + pred[i]]++;
    }
    hq_free(pred);
    return HQ_OK;
}

hq_status hq_metrics_confusion(hq_task task, const int32_t *labels, const float *scores, int64_t n,
                               int c, int64_t *cm) {
    hq_status st = check_args(__func__, task, labels, scores, n, c, cm, true);
    if (st != HQ_OK) return st;
    return confusion(task, labels, scores, n, c, cm);
}

/* ACC and F1 from the confusion matrix, MedMNIST / scikit-learn style. */
static void acc_f1_from_cm(hq_task task, const int64_t *cm, int64_t n, int c, double *acc,
                           double *f1) {
    if (task == HQ_TASK_BINARY) {
        int64_t tp = cm[3], fp = cm[1], fn = cm[2], tn = cm[0];
        *acc = (double)(tp + tn) / (double)n;
        int64_t den = 2 * tp + fp + fn;
        *f1 = den ? 2.0 * (double)tp / (double)den : 0.0;
    } else if (task == HQ_TASK_MULTILABEL) {
        double a = 0, f = 0;
        for (int k = 0; k < c; k++) {
            const int64_t *m = cm + 4 * k;
            a += (double)(m[0] + m[3]) / (double)n;
            int64_t den = 2 * m[3] + m[1] + m[2];
            f += den ? 2.0 * (double)m[3] / (double)den : 0.0;
        }
        *acc = a / c;
        *f1 = f / c;
    } else {
        int64_t correct = 0, present = 0;
        double f = 0;
        for (int k = 0; k < c; k++) {
            int64_t tp = cm[(int64_t)k * c + k], row = 0, col = 0;
            correct += tp;
            for (int j = 0; j < c; j++) {
                row += cm[(int64_t)k * c + j];
                col += cm[(int64_t)j * c + k];
            }
            if (row == 0 && col == 0) continue; /* class in neither labels nor predictions */
            present++;
            int64_t fn = row - tp, fp = col - tp, den = 2 * tp + fp + fn;
            f += den ? 2.0 * (double)tp / (double)den : 0.0;
        }
        *acc = (double)correct / (double)n;
        *f1 = present ? f / (double)present : 0.0;
    }
}

static hq_status acc_f1(const char *fn, hq_task task, const int32_t *labels, const float *scores,
                        int64_t n, int c, double *acc, double *f1, const void *out) {
    hq_status st = check_args(fn, task, labels, scores, n, c, out, true);
    if (st != HQ_OK) return st;
    int64_t *cm = hq_malloc((size_t)hq_metrics_confusion_len(task, c) * sizeof *cm);
    if (!cm) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    st = confusion(task, labels, scores, n, c, cm);
    if (st == HQ_OK) acc_f1_from_cm(task, cm, n, c, acc, f1);
    hq_free(cm);
    return st;
}

hq_status hq_metrics_acc(hq_task task, const int32_t *labels, const float *scores, int64_t n, int c,
                         double *acc) {
    double a = 0, f = 0;
    hq_status st = acc_f1(__func__, task, labels, scores, n, c, &a, &f, acc);
    if (st == HQ_OK) *acc = a;
    return st;
}

hq_status hq_metrics_f1(hq_task task, const int32_t *labels, const float *scores, int64_t n, int c,
                        double *f1) {
    double a = 0, f = 0;
    hq_status st = acc_f1(__func__, task, labels, scores, n, c, &a, &f, f1);
    if (st == HQ_OK) *f1 = f;
    return st;
}

hq_status hq_metrics_evaluate(hq_task task, const int32_t *labels, const float *scores, int64_t n,
                              int c, hq_metrics *out) {
    hq_metrics m = {n, 0, NAN, 0};
    hq_status st = acc_f1(__func__, task, labels, scores, n, c, &m.acc, &m.f1, out);
    if (st != HQ_OK) return st;
    st = hq_metrics_auc(task, labels, scores, n, c, &m.auc);
    if (st == HQ_ERR_INVALID_ARG && strstr(hq_last_error(), "undefined")) {
        m.auc = NAN;
        hq_clear_error();
    } else if (st != HQ_OK) {
        return st;
    }
    *out = m;
    return HQ_OK;
}
