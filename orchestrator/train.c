/*
 * orchestrator/train.c — the training loop, checkpoints and resume, evaluation passes,
 * and the run directory (see train.h). The quantum layer evaluates exactly on the
 * statevector (nn/quantum_layer.c) or, for shot-based backends, through the quantum
 * executor (orchestrator/qexec.h + qshots.h) hooked into the model.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "backends/backend.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "db/jobdb.h"
#include "nn/augment.h"
#include "nn/loss.h"
#include "nn/medmnist.h"
#include "nn/mixup.h"
#include "nn/model.h"
#include "orchestrator/plan.h"
#include "orchestrator/qexec.h"
#include "orchestrator/qshots.h"
#include "orchestrator/train.h"

#define HQ_CODE_VERSION "0.1.0"
#define EVAL_BATCH      256

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct trainer {
    hq_train_config cfg;
    hq_train_opts o;
    hq_jobdb *db;
    int64_t run_id;
    char run_name[256];
    char out_dir[2048];
    hq_dataset *ds[HQ_SPLIT_COUNT];
    hq_model *m;
    hq_optim *opt;
    hq_augment aug;
    float cw[HQ_CONFIG_MAX_CLASSES];
    const float *cwp;
    hq_scoring scoring; /* how evaluation turns logits into scores */
    /* shot-based quantum backend */
    hq_backend *be;
    hq_qexec *qx;
    bool q_train;    /* the hook is in a training pass (gradients wanted) */
    uint64_t q_step; /* step coordinate of the pass (SPSA streams) */
    /* loop state */
    int64_t spe;  /* steps per epoch */
    int64_t step; /* optimizer steps completed */
    double best_score;
    int best_epoch;
    hq_metrics best_val;
    hq_sbuf history; /* JSON array body: per-epoch records */
    float *xb, *xa;  /* batch images (max_batch, c, h, w): gathered / augmented */
    int32_t *yb;     /* batch labels */
    int32_t *perm;   /* epoch permutation */
    int32_t *mperm;  /* (max_batch) mixup's batch permutation, NULL when off */
    int32_t *ymix;   /* (max_batch) mixup's second labels, NULL when off */
    int max_batch;
    float *ema;      /* (n_params) moving average of the weights, NULL when off */
    float *ema_swap; /* (n_params) the raw weights while the average is swapped in */
    int64_t n_params;
} trainer;

/* ==== the quantum hook ================================================================ */

static hq_status qeval_hook(void *ctx, const hq_circuit *tmpl, int64_t n_rows, const double *sym,
                            bool need_jac, double *expect, double *jac) {
    trainer *t = ctx;
    hq_qshots_opts so = {.grad = need_jac ? t->cfg.gradient : HQ_QGRAD_NONE,
                         .spsa_c = t->cfg.spsa_c,
                         .seed = t->cfg.seed,
                         .step = t->q_step};
    return hq_qshots_eval(t->qx, tmpl, n_rows, sym, &so, expect, need_jac ? jac : NULL);
}

/* ==== setup =========================================================================== */

static void trainer_free(trainer *t) {
    for (int s = 0; s < HQ_SPLIT_COUNT; s++) hq_dataset_free(t->ds[s]);
    hq_model_free(t->m);
    hq_optim_free(t->opt);
    hq_qexec_free(t->qx);
    hq_backend_free(t->be);
    hq_jobdb_close(t->db);
    hq_sbuf_free(&t->history);
    hq_free(t->xb);
    hq_free(t->xa);
    hq_free(t->yb);
    hq_free(t->perm);
    hq_free(t->mperm);
    hq_free(t->ymix);
    hq_free(t->ema);
    hq_free(t->ema_swap);
    hq_train_config_free(&t->cfg);
}

static hq_status load_data(trainer *t) {
    hq_medmnist_opts mo = {
        .data_dir = t->cfg.data_dir[0] ? t->cfg.data_dir : NULL, .path = NULL, .size = 28};
    for (int s = 0; s < HQ_SPLIT_COUNT; s++) {
        hq_status st = hq_medmnist_load(t->cfg.dataset, (hq_split)s, &mo, &t->ds[s]);
        if (st) return st;
        if (t->cfg.subset[s] > 0 && t->cfg.subset[s] < t->ds[s]->n) t->ds[s]->n = t->cfg.subset[s];
    }
    if (t->ds[0]->task == HQ_TASK_MULTILABEL)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s is a multi-label dataset; hqcnn trains single-label tasks (binary, "
                        "multi-class, ordinal)",
                        t->cfg.dataset);
    return HQ_OK;
}

hq_status hq_train_class_weights(const hq_train_config *c, const hq_dataset *train, float *cw,
                                 bool *weighted) {
    int C = train->n_classes;
    *weighted = c->cw_mode != HQ_CW_NONE;
    if (*weighted && C > HQ_CONFIG_MAX_CLASSES)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "too many classes (%d) for class weights", C);
    if (c->cw_mode == HQ_CW_LIST) {
        if (c->n_cw != C)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "config: train.class_weights has %d values, %s has %d classes", c->n_cw,
                            c->dataset, C);
        memcpy(cw, c->cw, (size_t)C * sizeof *cw);
    } else if (c->cw_mode == HQ_CW_BALANCED) {
        int64_t counts[HQ_CONFIG_MAX_CLASSES] = {0};
        hq_status st = hq_dataset_class_counts(train, counts);
        if (st) return st;
        for (int k = 0; k < C; k++)
            cw[k] = counts[k] ? (float)((double)train->n / ((double)C * (double)counts[k])) : 0.0f;
    }
    return HQ_OK;
}

static void scoring_init(hq_scoring *sc, const hq_train_config *c, const float *cw, int C) {
    memset(sc, 0, sizeof *sc);
    sc->tta_hflip = c->tta_hflip;
    sc->unweight = c->prior_correction && cw;
    if (sc->unweight) memcpy(sc->w, cw, (size_t)C * sizeof *cw);
}

static hq_status build_model(trainer *t) {
    const hq_dataset *d = t->ds[HQ_SPLIT_TRAIN];
    t->max_batch = HQ_MAX(t->cfg.batch_size, EVAL_BATCH);
    hq_model_opts mo = {.in_channels = d->c,
                        .height = d->h,
                        .width = d->w,
                        .classes = d->n_classes,
                        .max_batch = t->max_batch,
                        .threads = t->cfg.threads};
    hq_status st = hq_model_create(t->cfg.model_json, &mo, &t->m);
    if (st) return hq_fail_prefix(NULL, st, "building the model");
    st = hq_optim_create(t->cfg.optim_json, hq_model_n_params(t->m), &t->opt);
    if (st) return hq_fail_prefix(NULL, st, "config: train.optimizer");
    st = hq_augment_parse(t->cfg.augment_json, &t->aug);
    if (st) return st;
    bool weighted;
    st = hq_train_class_weights(&t->cfg, d, t->cw, &weighted);
    if (st) return st;
    t->cwp = weighted ? t->cw : NULL;
    scoring_init(&t->scoring, &t->cfg, t->cwp, d->n_classes);
    size_t img = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    t->xb = hq_malloc((size_t)t->max_batch * img * sizeof *t->xb);
    t->xa = hq_malloc((size_t)t->max_batch * img * sizeof *t->xa);
    t->yb = hq_malloc((size_t)t->max_batch * sizeof *t->yb);
    t->perm = hq_malloc((size_t)d->n * sizeof *t->perm);
    if (!t->xb || !t->xa || !t->yb || !t->perm)
        return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory for batches");
    if (t->cfg.mixup > 0) {
        t->mperm = hq_malloc((size_t)t->max_batch * sizeof *t->mperm);
        t->ymix = hq_malloc((size_t)t->max_batch * sizeof *t->ymix);
        if (!t->mperm || !t->ymix) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory for mixup");
    }
    t->spe = (d->n + t->cfg.batch_size - 1) / t->cfg.batch_size;
    t->n_params = hq_model_n_params(t->m);
    if (t->cfg.ema > 0) {
        t->ema = hq_malloc((size_t)t->n_params * sizeof *t->ema);
        t->ema_swap = hq_malloc((size_t)t->n_params * sizeof *t->ema_swap);
        if (!t->ema || !t->ema_swap)
            return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory for the weight average");
    }
    return HQ_OK;
}

/* ==== weight average ================================================================== */

/* After optimizer step `step` (0-based): ema = d ema + (1 - d) w with the warm-up
 * d = min(decay, (1 + step) / (10 + step)), as common EMA implementations do. */
static void ema_update(trainer *t) {
    if (!t->ema) return;
    const float *w = hq_model_params(t->m);
    if (t->step == 0) {
        memcpy(t->ema, w, (size_t)t->n_params * sizeof *t->ema);
        return;
    }
    double d = HQ_MIN(t->cfg.ema, (1.0 + (double)t->step) / (10.0 + (double)t->step));
    float a = (float)d, b = (float)(1.0 - d);
    for (int64_t i = 0; i < t->n_params; i++) t->ema[i] = a * t->ema[i] + b * w[i];
}

/* Swap the averaged weights in (in = true) or the raw weights back (in = false). */
static void ema_swap(trainer *t, bool in) {
    if (!t->ema) return;
    float *w = hq_model_params(t->m);
    if (in) {
        memcpy(t->ema_swap, w, (size_t)t->n_params * sizeof *w);
        memcpy(w, t->ema, (size_t)t->n_params * sizeof *w);
    } else {
        memcpy(w, t->ema_swap, (size_t)t->n_params * sizeof *w);
    }
}

static hq_status setup_backend(trainer *t) {
    if (hq_train_config_exact(&t->cfg)) return HQ_OK;
    hq_status st = hq_backend_create(t->cfg.backend, t->cfg.backend_options, &t->be);
    if (st) return hq_fail_prefix(NULL, st, "config: quantum.backend");
    hq_qexec_options qo;
    hq_qexec_options_init(&qo);
    qo.shots = t->cfg.shots;
    qo.seed = t->cfg.seed;
    qo.budget_shots = t->cfg.budget_shots;
    qo.budget_cost = t->cfg.budget_cost;
    qo.max_circuits_per_job = t->cfg.max_circuits_per_job;
    qo.poll_initial_s = t->cfg.poll_initial_s;
    qo.poll_max_s = t->cfg.poll_max_s;
    qo.job_timeout_s = t->cfg.job_timeout_s;
    qo.price_job = t->cfg.price_job;
    qo.price_circuit = t->cfg.price_circuit;
    qo.price_shot = t->cfg.price_shot;
    st = hq_qexec_create(t->be, t->db, t->run_id, &qo, &t->qx);
    if (st == HQ_OK) st = hq_qexec_recover(t->qx);
    if (st == HQ_OK) st = hq_model_set_qeval(t->m, qeval_hook, t);
    return st;
}

/* ==== evaluation ====================================================================== */

/* Scores (n, C) of every image of d under sc: the softmax of the logits of the forward
 * pass `pass`, in batches of at most max_batch; with tta, averaged with the scores of the
 * mirror image (left-right; mirror is scratch for max_batch images); with the prior
 * correction, divided by the class weights (hq_scores_unweight). */
static hq_status model_scores(hq_model *m, const hq_dataset *d, int max_batch, const hq_pass *pass,
                              const hq_scoring *sc, float *mirror, float *scores) {
    int C = d->n_classes;
    size_t img = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    hq_status st = HQ_OK;
    for (int64_t i = 0; st == HQ_OK && i < d->n; i += max_batch) {
        int n = (int)HQ_MIN((int64_t)max_batch, d->n - i);
        const float *src = d->images + (size_t)i * img;
        hq_tensor x = hq_tensor_view((float *)src, hq_shape4(n, d->c, d->h, d->w)), logits;
        st = hq_model_forward(m, &x, pass, &logits);
        float *out = scores + (size_t)i * (size_t)C;
        if (st == HQ_OK) hq_softmax_rows(out, logits.data, n, C);
        if (st == HQ_OK && sc->tta_hflip) {
            hq_scoring_mirror(mirror, src, (int64_t)n * d->c * d->h, d->w);
            hq_tensor xf = hq_tensor_view(mirror, hq_shape4(n, d->c, d->h, d->w));
            st = hq_model_forward(m, &xf, pass, &logits);
            /* the mirror scores, in place of their logits (read by nothing else) */
            if (st == HQ_OK) hq_softmax_rows(logits.data, logits.data, n, C);
        }
        if (st == HQ_OK) hq_scoring_apply(sc, out, sc->tta_hflip ? logits.data : NULL, n, C);
    }
    return st;
}

void hq_scoring_mirror(float *restrict dst, const float *restrict src, int64_t rows, int w) {
    for (int64_t r = 0; r < rows; r++)
        for (int x = 0; x < w; x++) dst[r * w + x] = src[r * w + (w - 1 - x)];
}

void hq_scoring_apply(const hq_scoring *sc, float *scores, const float *mirror, int64_t n, int c) {
    for (int64_t r = 0; sc->tta_hflip && r < n * c; r++) scores[r] = 0.5f * (scores[r] + mirror[r]);
    if (sc->unweight) hq_scores_unweight(scores, sc->w, n, c);
}

/* softmax scores (n, C) of a split; hooks the exact simulator if eval_exact */
static hq_status scores_of(trainer *t, const hq_dataset *d, float *scores) {
    bool swap = t->qx && t->cfg.eval_exact;
    if (swap) hq_model_set_qeval(t->m, NULL, NULL);
    t->q_train = false;
    t->q_step = (uint64_t)t->step;
    hq_pass pass = {.train = false, .seed = t->cfg.seed, .epoch = 0, .step = (uint64_t)t->step};
    hq_status st = model_scores(t->m, d, t->max_batch, &pass, &t->scoring, t->xa, scores);
    if (swap) hq_model_set_qeval(t->m, qeval_hook, t);
    return st;
}

static hq_status evaluate(trainer *t, hq_split s, hq_metrics *out, int64_t *confusion) {
    const hq_dataset *d = t->ds[s];
    float *scores = hq_malloc((size_t)d->n * (size_t)d->n_classes * sizeof *scores);
    if (!scores) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_status st = scores_of(t, d, scores);
    if (st == HQ_OK) st = hq_metrics_evaluate(d->task, d->labels, scores, d->n, d->n_classes, out);
    if (st == HQ_OK && confusion)
        st = hq_metrics_confusion(d->task, d->labels, scores, d->n, d->n_classes, confusion);
    hq_free(scores);
    return st;
}

static double select_score(const trainer *t, const hq_metrics *m) {
    switch (t->cfg.select) {
    case HQ_SELECT_VAL_AUC: return isnan(m->auc) ? m->acc : m->auc;
    case HQ_SELECT_VAL_ACC: return m->acc + (isnan(m->auc) ? 0 : 1e-6 * m->auc);
    case HQ_SELECT_LAST: return (double)t->step;
    }
    return 0;
}

/* ==== checkpoints ===================================================================== */

static void metrics_json(hq_sbuf *b, const hq_metrics *m) {
    hq_sbuf_printf(b, "{\"n\":%" PRId64 ",\"acc\":", m->n);
    hq_sbuf_put_double(b, m->acc);
    hq_sbuf_puts(b, ",\"auc\":");
    if (isnan(m->auc))
        hq_sbuf_puts(b, "null");
    else
        hq_sbuf_put_double(b, m->auc);
    hq_sbuf_puts(b, ",\"f1\":");
    hq_sbuf_put_double(b, m->f1);
    hq_sbuf_putc(b, '}');
}

static hq_status save_checkpoint(trainer *t) {
    uint8_t *blob = NULL;
    size_t len = 0;
    hq_status st = hq_model_save_mem(t->m, t->opt, &blob, &len);
    if (st) return st;
    hq_sbuf meta = HQ_SBUF_INIT;
    hq_sbuf_puts(&meta, "{\"best_score\":");
    hq_sbuf_put_double(&meta, isfinite(t->best_score) ? t->best_score : -1e300);
    hq_sbuf_printf(&meta, ",\"best_epoch\":%d,\"best_val\":", t->best_epoch);
    metrics_json(&meta, &t->best_val);
    hq_sbuf_printf(&meta, ",\"history\":[%s]}", t->history.p ? t->history.p : "");
    char rng[96];
    snprintf(rng, sizeof rng, "seed=%llu step=%" PRId64, (unsigned long long)t->cfg.seed, t->step);
    hq_jobdb_checkpoint ck = {.run_id = t->run_id,
                              .step = t->step,
                              .epoch = t->step / t->spe,
                              .weights = blob,
                              .weights_len = len,
                              .optimizer = t->ema,
                              .optimizer_len = t->ema ? (size_t)t->n_params * sizeof *t->ema : 0,
                              .rng = rng,
                              .rng_len = strlen(rng),
                              .meta_json = meta.p};
    st = hq_sbuf_status(&meta);
    if (st == HQ_OK) st = hq_jobdb_checkpoint_put(t->db, &ck, NULL);
    hq_sbuf_free(&meta);
    hq_free(blob);
    return st;
}

static hq_status restore_checkpoint(trainer *t) {
    hq_jobdb_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    hq_status st = hq_jobdb_checkpoint_latest(t->db, t->run_id, &ck);
    if (st == HQ_ERR_NOT_FOUND) {
        hq_clear_error();
        return hq_model_init(t->m, t->cfg.seed); /* crashed before the first checkpoint */
    }
    if (st) return st;
    st = hq_model_load_mem(t->m, t->opt, ck.weights, ck.weights_len);
    if (st == HQ_OK && t->ema) {
        if (ck.optimizer_len != (size_t)t->n_params * sizeof *t->ema)
            st = hq_failf(NULL, HQ_ERR_CORRUPT,
                          "checkpoint at step %lld lacks the weight average the config asks for",
                          (long long)ck.step);
        else
            memcpy(t->ema, ck.optimizer, ck.optimizer_len);
    }
    if (st == HQ_OK) {
        t->step = ck.step;
        cJSON *meta = ck.meta_json ? cJSON_Parse(ck.meta_json) : NULL;
        const cJSON *v;
        if (meta && (v = cJSON_GetObjectItemCaseSensitive(meta, "best_score")) && cJSON_IsNumber(v))
            t->best_score = v->valuedouble <= -1e299 ? -INFINITY : v->valuedouble;
        if (meta && (v = cJSON_GetObjectItemCaseSensitive(meta, "best_epoch")) && cJSON_IsNumber(v))
            t->best_epoch = (int)v->valuedouble;
        const cJSON *bv = meta ? cJSON_GetObjectItemCaseSensitive(meta, "best_val") : NULL;
        if (bv) {
            if ((v = cJSON_GetObjectItemCaseSensitive(bv, "n")) && cJSON_IsNumber(v))
                t->best_val.n = (int64_t)v->valuedouble;
            if ((v = cJSON_GetObjectItemCaseSensitive(bv, "acc")) && cJSON_IsNumber(v))
                t->best_val.acc = v->valuedouble;
            v = cJSON_GetObjectItemCaseSensitive(bv, "auc");
            t->best_val.auc = v && cJSON_IsNumber(v) ? v->valuedouble : NAN;
            if ((v = cJSON_GetObjectItemCaseSensitive(bv, "f1")) && cJSON_IsNumber(v))
                t->best_val.f1 = v->valuedouble;
        }
        const cJSON *h = meta ? cJSON_GetObjectItemCaseSensitive(meta, "history") : NULL;
        for (const cJSON *e = h ? h->child : NULL; e; e = e->next) {
            char *s = cJSON_PrintUnformatted(e);
            if (s) {
                if (t->history.len) hq_sbuf_putc(&t->history, ',');
                hq_sbuf_puts(&t->history, s);
                cJSON_free(s);
            }
        }
        cJSON_Delete(meta);
        if (!hq_optim_steps(t->opt)) hq_optim_set_steps(t->opt, t->step);
    }
    hq_jobdb_checkpoint_clear(&ck);
    return st;
}

/* ==== the loop ======================================================================== */

static hq_status write_file_text(const char *dir, const char *name, const char *text) {
    char path[2300];
    hq_status st = hq_path_join(path, sizeof path, dir, name);
    return st ? st : hq_file_write_atomic(path, text, strlen(text));
}

static hq_status train_step(trainer *t, int64_t epoch, int64_t b, double *loss) {
    const hq_dataset *d = t->ds[HQ_SPLIT_TRAIN];
    size_t img = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    int64_t first = b * t->cfg.batch_size;
    int n = (int)HQ_MIN((int64_t)t->cfg.batch_size, d->n - first);
    for (int i = 0; i < n; i++) {
        int32_t k = t->perm[first + i];
        memcpy(t->xb + (size_t)i * img, d->images + (size_t)k * img, img * sizeof *t->xb);
        t->yb[i] = d->labels[(size_t)k * (size_t)d->n_label_cols];
    }
    hq_shape shp = hq_shape4(n, d->c, d->h, d->w);
    float *x = t->xb;
    hq_status st = HQ_OK;
    if (!hq_augment_is_identity(&t->aug)) {
        st = hq_augment_apply(&t->aug, t->xa, t->xb, shp, t->cfg.seed, (uint64_t)epoch,
                              (uint64_t)t->step);
        x = t->xa;
    }
    hq_ce_opts ce = {.label_smoothing = t->cfg.label_smoothing};
    if (st == HQ_OK && t->cfg.mixup > 0) {
        /* mix the (augmented) batch into the other buffer: xb is free once xa holds it */
        double lambda = 1;
        float *out = x == t->xa ? t->xb : t->xa;
        st = hq_mixup_draw(t->cfg.seed, (uint64_t)epoch, (uint64_t)t->step, t->cfg.mixup, n,
                           &lambda, t->mperm);
        if (st == HQ_OK) st = hq_mixup_apply(out, x, t->mperm, lambda, n, (int64_t)img);
        for (int i = 0; st == HQ_OK && i < n; i++) t->ymix[i] = t->yb[t->mperm[i]];
        x = out;
        ce.labels_mix = t->ymix;
        ce.mix_lambda = lambda;
    }
    hq_tensor xt = hq_tensor_view(x, shp), logits;
    hq_pass pass = {
        .train = true, .seed = t->cfg.seed, .epoch = (uint64_t)epoch, .step = (uint64_t)t->step};
    t->q_train = true;
    t->q_step = (uint64_t)t->step;
    if (st == HQ_OK) st = hq_model_forward(t->m, &xt, &pass, &logits);
    if (st == HQ_OK) st = hq_model_loss_ex(t->m, t->yb, t->cwp, &ce, loss);
    if (st == HQ_OK) st = hq_model_zero_grad(t->m);
    if (st == HQ_OK) st = hq_model_backward(t->m);
    if (st == HQ_OK) st = hq_model_step(t->m, t->opt, hq_optim_lr(t->opt, epoch, t->step));
    if (st == HQ_OK) ema_update(t);
    return st;
}

static hq_status end_of_epoch(trainer *t, int64_t epoch, double loss, double img_s) {
    hq_metrics val;
    ema_swap(t, true);
    hq_status st = evaluate(t, HQ_SPLIT_VAL, &val, NULL);
    if (st) {
        ema_swap(t, false);
        return hq_fail_prefix(NULL, st, "evaluating the validation split");
    }
    double score = select_score(t, &val);
    bool best = t->best_epoch < 0 || score > t->best_score;
    if (best) {
        t->best_score = score;
        t->best_epoch = (int)epoch;
        t->best_val = val;
        char path[2300];
        st = hq_path_join(path, sizeof path, t->out_dir, "best.hqw");
        if (st == HQ_OK) st = hq_model_save(t->m, NULL, path);
    }
    ema_swap(t, false);
    if (st) return st;
    if (t->history.len) hq_sbuf_putc(&t->history, ',');
    hq_sbuf_printf(&t->history, "{\"epoch\":%" PRId64 ",\"step\":%" PRId64 ",\"loss\":", epoch,
                   t->step);
    hq_sbuf_put_double(&t->history, loss);
    hq_sbuf_puts(&t->history, ",\"val\":");
    metrics_json(&t->history, &val);
    hq_sbuf_putc(&t->history, '}');
    if (!t->o.quiet)
        fprintf(stderr, "epoch %3" PRId64 "/%d  loss %.4f  val acc %.4f auc %.4f%s  %.0f img/s\n",
                epoch + 1, t->cfg.epochs, loss, val.acc, val.auc, best ? "  (best)" : "", img_s);
    return hq_sbuf_status(&t->history);
}

static hq_status finish(trainer *t, hq_train_result *r) {
    /* final weights, then the kept epoch's on the test split */
    uint8_t *blob = NULL;
    size_t len = 0;
    char path[2300];
    hq_status st = hq_model_save_mem(t->m, t->opt, &blob, &len);
    if (st == HQ_OK) st = hq_sha256_hex(blob, len, r->weights_sha256);
    hq_free(blob);
    if (st == HQ_OK) st = hq_path_join(path, sizeof path, t->out_dir, "last.hqw");
    if (st == HQ_OK) st = hq_model_save(t->m, t->opt, path);
    if (st == HQ_OK && t->best_epoch >= 0) {
        /* the kept epoch's weights (the average, when on): best.hqw */
        st = hq_path_join(path, sizeof path, t->out_dir, "best.hqw");
        if (st == HQ_OK) st = hq_model_load(t->m, NULL, path);
    }
    const hq_dataset *d = t->ds[HQ_SPLIT_TEST];
    int64_t cm_len = hq_metrics_confusion_len(d->task, d->n_classes);
    int64_t *cm = hq_calloc((size_t)(cm_len > 0 ? cm_len : 1), sizeof *cm);
    if (st == HQ_OK && !cm) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    if (st == HQ_OK) st = evaluate(t, HQ_SPLIT_TEST, &r->test, cm);
    if (st) {
        hq_free(cm);
        return hq_fail_prefix(NULL, st, "evaluating the test split");
    }
    r->val = t->best_val;
    r->best_epoch = t->best_epoch;
    hq_sbuf j = HQ_SBUF_INIT;
    hq_sbuf_puts(&j, "{\"run\":");
    hq_sbuf_put_json_str(&j, t->run_name);
    hq_sbuf_puts(&j, ",\"dataset\":");
    hq_sbuf_put_json_str(&j, t->cfg.dataset);
    hq_sbuf_puts(&j, ",\"backend\":");
    hq_sbuf_put_json_str(&j, t->cfg.backend);
    hq_sbuf_printf(&j,
                   ",\"seed\":%llu,\"epochs\":%d,\"steps\":%" PRId64 ",\"best_epoch\":%d,\"val\":",
                   (unsigned long long)t->cfg.seed, t->cfg.epochs, t->step, t->best_epoch);
    metrics_json(&j, &t->best_val);
    hq_sbuf_puts(&j, ",\"test\":");
    metrics_json(&j, &r->test);
    hq_sbuf_puts(&j, ",\"confusion\":[");
    for (int64_t i = 0; i < cm_len; i++) hq_sbuf_printf(&j, "%s%" PRId64, i ? "," : "", cm[i]);
    hq_sbuf_printf(&j, "],\"weights_sha256\":\"%s\",\"history\":[%s]}\n", r->weights_sha256,
                   t->history.p ? t->history.p : "");
    hq_free(cm);
    st = hq_sbuf_status(&j);
    if (st == HQ_OK) st = write_file_text(t->out_dir, "metrics.json", j.p);
    hq_sbuf_free(&j);
    if (st == HQ_OK) st = hq_jobdb_run_set_status(t->db, t->run_id, HQ_RUN_COMPLETED);
    return st;
}

static hq_status loop(trainer *t, hq_train_result *r) {
    const hq_dataset *d = t->ds[HQ_SPLIT_TRAIN];
    int64_t total = (int64_t)t->cfg.epochs * t->spe;
    double t0 = hq_time_now();
    int64_t images = 0;
    hq_status st = hq_jobdb_run_set_status(t->db, t->run_id, HQ_RUN_RUNNING);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    stop_requested = 0;
    bool stopped = false;
    while (st == HQ_OK && t->step < total && !stopped) {
        int64_t epoch = t->step / t->spe, b0 = t->step % t->spe;
        for (int32_t i = 0; i < (int32_t)d->n; i++) t->perm[i] = i;
        hq_rng rng;
        hq_rng_init(&rng, t->cfg.seed, hq_rng_stream("shuffle", (uint64_t)epoch, 0, 0), 0);
        hq_rng_shuffle_i32(&rng, t->perm, d->n);
        hq_progress pb;
        char label[64];
        snprintf(label, sizeof label, "epoch %" PRId64 "/%d", epoch + 1, t->cfg.epochs);
        hq_progress_begin(&pb, t->o.quiet ? NULL : stderr, label, t->spe);
        if (t->o.quiet) pb.out = NULL;
        double loss_sum = 0, loss = 0;
        int64_t loss_n = 0;
        double te = hq_time_now();
        int64_t img_epoch = 0;
        for (int64_t b = b0; st == HQ_OK && b < t->spe; b++) {
            st = train_step(t, epoch, b, &loss);
            if (st) break;
            int64_t n = HQ_MIN((int64_t)t->cfg.batch_size, d->n - b * t->cfg.batch_size);
            images += n;
            img_epoch += n;
            loss_sum += loss;
            loss_n++;
            t->step++;
            char extra[96];
            snprintf(extra, sizeof extra, "loss %.4f %.0f img/s", loss_sum / (double)loss_n,
                     (double)img_epoch / fmax(hq_time_now() - te, 1e-9));
            hq_progress_update(&pb, b + 1, extra);
            bool epoch_end = t->step % t->spe == 0;
            if (epoch_end) {
                hq_progress_end(&pb, extra);
                st = end_of_epoch(t, epoch, loss_sum / (double)loss_n,
                                  (double)img_epoch / fmax(hq_time_now() - te, 1e-9));
            }
            bool stop_now =
                stop_requested || (t->o.stop_after_step > 0 && t->step >= t->o.stop_after_step);
            if (st == HQ_OK && (epoch_end || t->step % t->cfg.checkpoint_every == 0 || stop_now))
                st = save_checkpoint(t);
            if (stop_now) {
                stopped = true;
                break;
            }
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    r->train_seconds = hq_time_now() - t0;
    r->images_per_s = (double)images / fmax(r->train_seconds, 1e-9);
    r->steps = t->step;
    if (st == HQ_OK && stopped) {
        hq_jobdb_run_set_status(t->db, t->run_id, HQ_RUN_INTERRUPTED);
        if (!t->o.quiet)
            fprintf(stderr, "stopped after step %" PRId64 "; continue with: hqcnn resume %s\n",
                    t->step, t->run_name);
        return stop_requested
                   ? hq_failf(NULL, HQ_ERR_INTERRUPTED,
                              "interrupted at step %" PRId64 "; resume with 'hqcnn resume %s'",
                              t->step, t->run_name)
                   : HQ_OK;
    }
    if (st) {
        hq_status keep = st;
        char msg[HQ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", hq_last_error());
        hq_jobdb_run_set_status(t->db, t->run_id, HQ_RUN_INTERRUPTED);
        return hq_failf(NULL, keep,
                        "%s (run %s is saved at step %" PRId64 "; continue with 'hqcnn resume %s')",
                        msg, t->run_name, t->step, t->run_name);
    }
    st = finish(t, r);
    r->finished = st == HQ_OK;
    return st;
}

/* ==== entry points ==================================================================== */

static hq_status open_db(trainer *t) {
    const char *path = t->o.db_path ? t->o.db_path : HQ_DEFAULT_DB;
    char dir[2048];
    hq_path_dirname(dir, sizeof dir, path);
    hq_status st = hq_mkdir_p(dir, 0755);
    if (st) return st;
    hq_jobdb_options dbo;
    hq_jobdb_options_init(&dbo);
    dbo.checkpoint_keep_last = t->cfg.keep_checkpoints;
    return hq_jobdb_open(path, &dbo, &t->db);
}

static void fill_result(const trainer *t, hq_train_result *r) {
    snprintf(r->run_name, sizeof r->run_name, "%s", t->run_name);
    snprintf(r->out_dir, sizeof r->out_dir, "%s", t->out_dir);
    r->run_id = t->run_id;
}

hq_status hq_train_new(const hq_train_config *cfg, const hq_train_opts *o, hq_train_result *r) {
    memset(r, 0, sizeof *r);
    r->best_epoch = -1;
    trainer t;
    memset(&t, 0, sizeof t);
    t.best_epoch = -1;
    t.best_score = -INFINITY;
    t.o = o ? *o : (hq_train_opts){0};
    /* a private copy of the config (owned strings duplicated) */
    t.cfg = *cfg;
    t.cfg.model_json = hq_strdup(cfg->model_json);
    t.cfg.optim_json = hq_strdup(cfg->optim_json);
    t.cfg.backend_options = cfg->backend_options ? hq_strdup(cfg->backend_options) : NULL;
    t.cfg.augment_json = cfg->augment_json ? hq_strdup(cfg->augment_json) : NULL;
    hq_status st = (!t.cfg.model_json || !t.cfg.optim_json)
                       ? hq_failf(NULL, HQ_ERR_NOMEM, "out of memory")
                       : HQ_OK;
    if (st == HQ_OK && t.o.run_name)
        snprintf(t.run_name, sizeof t.run_name, "%s", t.o.run_name);
    else if (st == HQ_OK) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
        snprintf(t.run_name, sizeof t.run_name, "%s-s%llu-%s", t.cfg.name,
                 (unsigned long long)t.cfg.seed, ts);
    }
    if (st == HQ_OK) {
        if (t.o.out_dir)
            snprintf(t.out_dir, sizeof t.out_dir, "%s", t.o.out_dir);
        else
            snprintf(t.out_dir, sizeof t.out_dir, "runs/%s", t.run_name);
        st = hq_mkdir_p(t.out_dir, 0755);
    }
    if (st == HQ_OK) st = load_data(&t);
    if (st == HQ_OK) st = build_model(&t);
    if (st == HQ_OK) st = hq_model_init(t.m, t.cfg.seed);
    if (st == HQ_OK) st = open_db(&t);
    hq_sbuf cj = HQ_SBUF_INIT;
    if (st == HQ_OK) st = hq_train_config_to_json(&t.cfg, &cj);
    if (st == HQ_OK) {
        /* the run directory is part of the stored config so eval/resume find it */
        hq_sbuf full = HQ_SBUF_INIT;
        hq_sbuf_append(&full, cj.p, cj.len - 1);
        hq_sbuf_puts(&full, ",\"out_dir\":");
        hq_sbuf_put_json_str(&full, t.out_dir);
        hq_sbuf_putc(&full, '}');
        hq_jobdb_run spec = {.name = t.run_name,
                             .seed = t.cfg.seed,
                             .code_version = HQ_CODE_VERSION,
                             .backend = t.cfg.backend,
                             .config_json = full.p};
        st = hq_sbuf_status(&full);
        if (st == HQ_OK) st = hq_jobdb_run_create(t.db, &spec, &t.run_id);
        if (st == HQ_OK) st = write_file_text(t.out_dir, "config.json", full.p);
        hq_sbuf_free(&full);
    }
    hq_sbuf_free(&cj);
    if (st == HQ_OK && !hq_train_config_exact(&t.cfg)) {
        hq_plan plan;
        st = hq_plan_run(&t.cfg, &plan);
        hq_sbuf pj = HQ_SBUF_INIT;
        if (st == HQ_OK) hq_plan_to_json(&plan, &pj);
        if (st == HQ_OK) st = hq_sbuf_status(&pj);
        if (st == HQ_OK) st = hq_jobdb_run_set_plan(t.db, t.run_id, pj.p);
        hq_sbuf_free(&pj);
    }
    if (st == HQ_OK) st = setup_backend(&t);
    if (st == HQ_OK) {
        fill_result(&t, r);
        if (!t.o.quiet) {
            fprintf(stderr,
                    "run %s: %s, %" PRId64 " training images, %d epochs x %" PRId64
                    " steps, backend %s\n",
                    t.run_name, t.cfg.dataset, t.ds[0]->n, t.cfg.epochs, t.spe, t.cfg.backend);
        }
        st = loop(&t, r);
    }
    trainer_free(&t);
    return st;
}

hq_status hq_train_resume(const char *run, const hq_train_opts *o, hq_train_result *r) {
    memset(r, 0, sizeof *r);
    r->best_epoch = -1;
    trainer t;
    memset(&t, 0, sizeof t);
    t.best_epoch = -1;
    t.best_score = -INFINITY;
    t.o = o ? *o : (hq_train_opts){0};
    hq_train_config_init(&t.cfg);
    hq_status st = open_db(&t);
    hq_jobdb_run jr;
    memset(&jr, 0, sizeof jr);
    if (st == HQ_OK) {
        int64_t id;
        if (hq_parse_i64(run, 1, INT64_MAX, &id) == HQ_OK)
            st = hq_jobdb_run_get(t.db, id, &jr);
        else
            st = hq_jobdb_run_find(t.db, run, &jr);
        if (st == HQ_ERR_NOT_FOUND)
            st = hq_failf(NULL, st, "no run '%s' in %s (list them with 'hqcnn runs')", run,
                          hq_jobdb_path(t.db));
    }
    if (st == HQ_OK) {
        t.run_id = jr.id;
        snprintf(t.run_name, sizeof t.run_name, "%s", jr.name);
        st = hq_train_config_parse(jr.config_json, ".", &t.cfg);
        cJSON *c = cJSON_Parse(jr.config_json);
        const cJSON *od = c ? cJSON_GetObjectItemCaseSensitive(c, "out_dir") : NULL;
        snprintf(t.out_dir, sizeof t.out_dir, "%s",
                 od && cJSON_IsString(od) ? od->valuestring : "runs/resumed");
        cJSON_Delete(c);
        if (st) st = hq_fail_prefix(NULL, st, "the stored config of run %s", jr.name);
    }
    if (st == HQ_OK && t.o.out_dir) snprintf(t.out_dir, sizeof t.out_dir, "%s", t.o.out_dir);
    if (st == HQ_OK) st = hq_mkdir_p(t.out_dir, 0755);
    if (st == HQ_OK) st = load_data(&t);
    if (st == HQ_OK) st = build_model(&t);
    if (st == HQ_OK) st = restore_checkpoint(&t);
    if (st == HQ_OK) st = setup_backend(&t);
    if (st == HQ_OK) {
        fill_result(&t, r);
        if (!t.o.quiet)
            fprintf(stderr, "resuming run %s at step %" PRId64 " of %" PRId64 " (status was %s)\n",
                    t.run_name, t.step, (int64_t)t.cfg.epochs * t.spe,
                    hq_run_status_name(jr.status));
        st = loop(&t, r);
    }
    hq_jobdb_run_clear(&jr);
    trainer_free(&t);
    return st;
}

/* ==== evaluation of stored weights ===================================================== */

typedef struct evalctx {
    hq_qexec *qx;
} evalctx;

static hq_status eval_hook(void *ctx, const hq_circuit *tmpl, int64_t n_rows, const double *sym,
                           bool need_jac, double *expect, double *jac) {
    evalctx *e = ctx;
    hq_qshots_opts so = {.grad = HQ_QGRAD_NONE};
    (void)need_jac, (void)jac;
    return hq_qshots_eval(e->qx, tmpl, n_rows, sym, &so, expect, NULL);
}

void hq_eval_target_clear(hq_eval_target *t) {
    hq_free(t->config_json);
    memset(t, 0, sizeof *t);
}

/* Adopt a run's resolved config: its dataset and, for a run of the database (run_dir),
 * the best weights of its run directory. `where` names the config in messages. */
static hq_status target_config(hq_eval_target *t, const char *json, const char *where,
                               bool run_dir) {
    cJSON *c = cJSON_Parse(json);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return hq_failf(NULL, HQ_ERR_PARSE, "%s is not a JSON object: fix it or move it away",
                        where);
    }
    const cJSON *dn = cJSON_GetObjectItemCaseSensitive(c, "dataset");
    const cJSON *od = cJSON_GetObjectItemCaseSensitive(c, "out_dir");
    if (cJSON_IsString(dn)) snprintf(t->dataset, sizeof t->dataset, "%s", dn->valuestring);
    if (run_dir && cJSON_IsString(od))
        snprintf(t->weights, sizeof t->weights, "%s/best.hqw", od->valuestring);
    cJSON_Delete(c);
    t->config_json = hq_strdup(json);
    return t->config_json ? HQ_OK : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
}

hq_status hq_eval_target_find(const char *what, hq_jobdb *db, const char *db_path,
                              hq_eval_target *t) {
    memset(t, 0, sizeof *t);
    if (hq_is_regular_file(what)) {
        snprintf(t->weights, sizeof t->weights, "%s", what);
        /* a run directory's config.json is the run's resolved config */
        char cfg[2400], *text = NULL;
        size_t len;
        hq_path_dirname(cfg, sizeof cfg, what);
        snprintf(cfg + strlen(cfg), sizeof cfg - strlen(cfg), "/config.json");
        if (!hq_is_regular_file(cfg)) return HQ_OK;
        hq_status st = hq_file_read(cfg, 1 << 22, &text, &len);
        if (st == HQ_OK) st = target_config(t, text, cfg, false);
        hq_free(text);
        if (st) hq_eval_target_clear(t);
        return st;
    }
    if (!db)
        return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                        "'%s' is neither a weight file nor a run (no job database at %s)", what,
                        db_path);
    hq_jobdb_run jr;
    memset(&jr, 0, sizeof jr);
    int64_t id;
    hq_status st = hq_parse_i64(what, 1, INT64_MAX, &id) == HQ_OK
                       ? hq_jobdb_run_get(db, id, &jr)
                       : hq_jobdb_run_find(db, what, &jr);
    if (st == HQ_ERR_NOT_FOUND)
        return hq_failf(NULL, st,
                        "'%s' is neither a weight file nor a run of %s (see 'hqcnn runs')", what,
                        db_path);
    if (st) return st;
    t->run_id = jr.id;
    snprintf(t->run_name, sizeof t->run_name, "%s", jr.name);
    st = target_config(t, jr.config_json, "the run's stored config", true);
    if (st == HQ_OK && (!t->weights[0] || !hq_file_exists(t->weights)))
        st = hq_failf(NULL, HQ_ERR_NOT_FOUND,
                      "run %s has no best weights yet (%s); it has not finished an epoch", jr.name,
                      t->weights[0] ? t->weights : "no run directory recorded");
    hq_jobdb_run_clear(&jr);
    if (st) hq_eval_target_clear(t);
    return st;
}

hq_status hq_tta_parse(const char *tta, bool *hflip) {
    if (strcmp(tta, "none") && strcmp(tta, "hflip"))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "unknown tta '%s' (none, hflip)", tta);
    *hflip = !strcmp(tta, "hflip");
    return HQ_OK;
}

hq_status hq_scoring_of_config(const char *config_json, const char *data_dir, int prior,
                               hq_scoring *out) {
    memset(out, 0, sizeof *out);
    hq_train_config c;
    hq_status st = hq_train_config_parse(config_json, ".", &c);
    if (st) return hq_fail_prefix(NULL, st, "the run's stored config");
    out->tta_hflip = c.tta_hflip;
    if (prior >= 0) c.prior_correction = prior > 0;
    if (prior > 0 && c.cw_mode == HQ_CW_NONE)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "the prior correction undoes class weights, and this run trained without "
                      "them (train.class_weights \"none\"): nothing to correct");
    if (st == HQ_OK && c.prior_correction && c.cw_mode != HQ_CW_NONE) {
        /* the weights of the run's loss: its training split (and subset) */
        if (data_dir) snprintf(c.data_dir, sizeof c.data_dir, "%s", data_dir);
        hq_medmnist_opts mo = {.data_dir = c.data_dir[0] ? c.data_dir : NULL, .size = 28};
        hq_dataset *tr = NULL;
        st = hq_medmnist_load(c.dataset, HQ_SPLIT_TRAIN, &mo, &tr);
        if (st == HQ_OK && c.subset[HQ_SPLIT_TRAIN] > 0 && c.subset[HQ_SPLIT_TRAIN] < tr->n)
            tr->n = c.subset[HQ_SPLIT_TRAIN];
        if (st == HQ_OK) st = hq_train_class_weights(&c, tr, out->w, &out->unweight);
        hq_dataset_free(tr);
    }
    hq_train_config_free(&c);
    return st;
}

/* Scores (d->n, C) of one evaluated model, tg (named `what` in messages), scored as its run
 * did unless o (already checked) overrides it. A shot-based backend caches its circuits
 * under the run of tg in db. mirror is scratch for EVAL_BATCH images. */
static hq_status eval_member(const hq_eval_target *tg, const char *what, const hq_eval_opts *o,
                             hq_jobdb *db, const hq_dataset *d, float *mirror, float *scores) {
    hq_scoring sc = {0};
    int prior = o->prior ? !strcmp(o->prior, "on") : -1;
    hq_status st = HQ_OK;
    if (tg->config_json)
        st = hq_scoring_of_config(tg->config_json, o->data_dir, prior, &sc);
    else if (prior > 0)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "it needs the class weights of the run's loss, and the weight file %s has "
                      "no run config.json beside it",
                      what);
    if (st && prior > 0) st = hq_fail_prefix(NULL, st, "--prior-correction on");
    if (st == HQ_OK && o->tta) st = hq_tta_parse(o->tta, &sc.tta_hflip);
    hq_model *m = NULL;
    hq_model_opts mopts = {.max_batch = EVAL_BATCH, .threads = o->threads};
    if (st == HQ_OK) st = hq_model_create_from_weights(tg->weights, &mopts, &m);
    if (st == HQ_OK && hq_model_classes(m) != d->n_classes)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "the weights have %d output classes, %s has %d",
                      hq_model_classes(m), d->info->name, d->n_classes);
    hq_backend *be = NULL;
    evalctx ec = {NULL};
    if (st == HQ_OK && o->backend && strcmp(o->backend, "sv") != 0) {
        st = hq_backend_create(o->backend, o->backend_options, &be);
        hq_qexec_options qo;
        hq_qexec_options_init(&qo);
        qo.shots = o->shots > 0 ? o->shots : 1000;
        if (st == HQ_OK) st = hq_qexec_create(be, tg->run_id ? db : NULL, tg->run_id, &qo, &ec.qx);
        if (st == HQ_OK) st = hq_model_set_qeval(m, eval_hook, &ec);
    }
    hq_pass pass = {.train = false};
    if (st == HQ_OK) st = model_scores(m, d, EVAL_BATCH, &pass, &sc, mirror, scores);
    hq_qexec_free(ec.qx);
    hq_backend_free(be);
    hq_model_free(m);
    return st;
}

/* The dataset an evaluation is for: --dataset, else the members' common one. */
static hq_status eval_dataset(const hq_eval_target *tg, const char *const *what, int n,
                              const char *dataset, char ds[64]) {
    int first = -1; /* the first member that names its dataset */
    for (int i = 0; !dataset && i < n; i++) {
        if (!tg[i].dataset[0]) continue;
        if (first < 0)
            first = i;
        else if (strcmp(tg[first].dataset, tg[i].dataset) != 0)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "an ensemble's members must be for one dataset: %s is for %s, %s "
                            "for %s",
                            what[first], tg[first].dataset, what[i], tg[i].dataset);
    }
    snprintf(ds, 64, "%s", dataset ? dataset : first >= 0 ? tg[first].dataset : "");
    if (!ds[0])
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "a weight file does not say which dataset it is for: add --dataset NAME");
    return HQ_OK;
}

hq_status hq_eval_ensemble(const char *const *what, int n_what, hq_split split,
                           const hq_eval_opts *o, hq_metrics *out, int64_t *confusion,
                           int64_t *n_confusion, char *dataset, size_t cap) {
    hq_eval_opts def = {0};
    if (!o) o = &def;
    memset(out, 0, sizeof *out);
    if (n_confusion) *n_confusion = 0;
    if (n_what < 1 || n_what > HQ_EVAL_MAX_MEMBERS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "an evaluation takes 1 to %d weight files or runs, not %d",
                        HQ_EVAL_MAX_MEMBERS, n_what);
    bool tta_hflip = false; /* checked here, applied per member */
    hq_status st = o->tta ? hq_tta_parse(o->tta, &tta_hflip) : HQ_OK;
    if (st) return st;
    if (o->prior && strcmp(o->prior, "on") && strcmp(o->prior, "off"))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "prior correction '%s' must be on or off",
                        o->prior);
    const char *path = o->db_path ? o->db_path : HQ_DEFAULT_DB;
    hq_jobdb *db = NULL;
    bool runs = false;
    for (int i = 0; i < n_what; i++) runs |= !hq_is_regular_file(what[i]);
    if (runs) {
        hq_jobdb_options dbo;
        hq_jobdb_options_init(&dbo);
        dbo.no_create = true;
        st = hq_jobdb_open(path, &dbo, &db);
        if (st == HQ_ERR_NOT_FOUND) { /* hq_eval_target_find names what is missing */
            hq_clear_error();
            st = HQ_OK;
            db = NULL;
        }
    }
    hq_eval_target *tg = hq_calloc((size_t)n_what, sizeof *tg);
    if (st == HQ_OK && !tg) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int i = 0; st == HQ_OK && i < n_what; i++)
        st = hq_eval_target_find(what[i], db, path, &tg[i]);
    char ds_name[64] = "";
    if (st == HQ_OK) st = eval_dataset(tg, what, n_what, o->dataset, ds_name);
    hq_dataset *d = NULL;
    hq_medmnist_opts mo = {.data_dir = o->data_dir, .path = NULL, .size = 28};
    if (st == HQ_OK) st = hq_medmnist_load(ds_name, split, &mo, &d);
    /* the ensemble's scores: the mean of its members' */
    size_t len = d ? (size_t)d->n * (size_t)d->n_classes : 0;
    float *scores = NULL, *member = NULL, *mirror = NULL;
    if (st == HQ_OK) {
        scores = hq_malloc(len * sizeof *scores);
        member = n_what > 1 ? hq_malloc(len * sizeof *member) : scores;
        mirror = hq_malloc((size_t)EVAL_BATCH * (size_t)d->c * (size_t)d->h * (size_t)d->w *
                           sizeof *mirror);
        if (!scores || !member || !mirror) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == HQ_OK && i < n_what; i++) {
        float *dst = i ? member : scores;
        st = eval_member(&tg[i], what[i], o, db, d, mirror, dst);
        if (st && n_what > 1) st = hq_fail_prefix(NULL, st, "ensemble member %s", what[i]);
        for (size_t k = 0; st == HQ_OK && i && k < len; k++) scores[k] += member[k];
    }
    for (size_t k = 0; st == HQ_OK && n_what > 1 && k < len; k++) scores[k] *= 1.0f / (float)n_what;
    if (st == HQ_OK) st = hq_metrics_evaluate(d->task, d->labels, scores, d->n, d->n_classes, out);
    if (st == HQ_OK && confusion) {
        int64_t nc = hq_metrics_confusion_len(d->task, d->n_classes);
        if (nc > 1024) nc = 0;
        if (nc)
            st = hq_metrics_confusion(d->task, d->labels, scores, d->n, d->n_classes, confusion);
        if (n_confusion) *n_confusion = nc;
    }
    if (dataset) snprintf(dataset, cap, "%s", ds_name);
    if (member != scores) hq_free(member);
    hq_free(scores);
    hq_free(mirror);
    hq_dataset_free(d);
    for (int i = 0; tg && i < n_what; i++) hq_eval_target_clear(&tg[i]);
    hq_free(tg);
    hq_jobdb_close(db);
    return st;
}

hq_status hq_eval_run(const char *what, hq_split split, const hq_eval_opts *o, hq_metrics *out,
                      int64_t *confusion, int64_t *n_confusion, char *dataset, size_t cap) {
    return hq_eval_ensemble(&what, 1, split, o, out, confusion, n_confusion, dataset, cap);
}
