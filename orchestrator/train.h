/*
 * orchestrator/train.h — training and evaluation runs: `hqcnn train`, `hqcnn resume`,
 * `hqcnn eval`.
 *
 * A run trains the model of a config (orchestrator/config.h) on a MedMNIST dataset,
 * evaluates the validation split after every epoch, keeps the weights of the best epoch
 * (by validation AUC unless configured otherwise), and finally reports the test split
 * the way the MedMNIST evaluator does (ACC, AUC, F1, confusion matrix).
 *
 * Every run is recorded in the job database (db/jobdb.h): its resolved config, seed and
 * status, a checkpoint every `checkpoint_every` optimizer steps and at every epoch end
 * (weights + optimizer state + step), and — for shot-based backends — every circuit, job
 * and evaluation. All randomness (initialisation, shuffling, augmentation, dropout, SPSA
 * directions, simulator sampling) is drawn from counter-based streams of (seed, epoch,
 * step, purpose), so `hqcnn resume RUN` replays the remaining steps exactly and ends
 * with weights bit-identical to an uninterrupted run with the same seed (and thread
 * count), and serves every circuit evaluation it already paid for from the database.
 *
 * Files in the run directory (default runs/<run name>/): best.hqw (weights of the best
 * epoch), last.hqw (final weights), metrics.json (test metrics and per-epoch history),
 * config.json (the resolved config).
 */
#ifndef HQ_TRAIN_H
#define HQ_TRAIN_H

#include <stdint.h>

#include "db/jobdb.h"
#include "nn/medmnist.h"
#include "nn/metrics.h"
#include "orchestrator/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_DEFAULT_DB "runs/hqcnn.db"

typedef struct hq_train_opts {
    const char *db_path;     /* job database (NULL = HQ_DEFAULT_DB) */
    const char *out_dir;     /* run directory (NULL = runs/<run name>) */
    const char *run_name;    /* run name (NULL = <config name>-s<seed>-<UTC time>) */
    bool quiet;              /* no progress output (errors still go to stderr) */
    int64_t stop_after_step; /* stop cleanly after this global step, status INTERRUPTED
                                (0 = run to the end); used by tests and `--steps` */
} hq_train_opts;

typedef struct hq_train_result {
    char run_name[256];      /* the run's name in the database */
    int64_t run_id;          /* its id */
    bool finished;           /* false if stopped early (stop_after_step) */
    int64_t steps;           /* optimizer steps taken in total */
    int best_epoch;          /* epoch whose weights were kept (0-based), -1 if none */
    hq_metrics val;          /* validation metrics of that epoch */
    hq_metrics test;         /* test metrics of the kept weights (when finished) */
    double train_seconds;    /* wall time of the training loop in this process */
    double images_per_s;     /* training throughput in this process */
    char weights_sha256[65]; /* sha256 of the final weights + optimizer state */
    char out_dir[2048];      /* run directory */
} hq_train_result;

/* Start a new run of cfg. */
hq_status hq_train_new(const hq_train_config *cfg, const hq_train_opts *o, hq_train_result *res);
/* Continue run `run` (name or numeric id) of the database o->db_path from its last
 * checkpoint. A finished run is reported again without training. */
hq_status hq_train_resume(const char *run, const hq_train_opts *o, hq_train_result *res);

/*
 * The class weights of config c's loss on its training split `train` (already cut to
 * train.subset): cw (train->n_classes) filled and *weighted true when the loss is weighted
 * ("balanced": n / (C count_k), 0 for an absent class; or the config's list).
 */
hq_status hq_train_class_weights(const hq_train_config *c, const hq_dataset *train, float *cw,
                                 bool *weighted);

/* How a run turns logits into the scores its metrics see: the softmax, averaged with the
 * mirror image's (train.tta "hflip"), then divided by the class weights of its loss and
 * renormalised (train.prior_correction with weights; nn/loss.h hq_scores_unweight). */
typedef struct hq_scoring {
    bool tta_hflip;
    bool unweight;
    float w[HQ_CONFIG_MAX_CLASSES]; /* the class weights when unweight */
} hq_scoring;

/* Finish a run's scores (n, c) in place: with tta, the mean with mirror (the softmax
 * scores of the mirror images, same shape); with the prior correction, unweighted. The one
 * definition of that order, for training, hqcnn eval and hqcnn study. */
void hq_scoring_apply(const hq_scoring *sc, float *scores, const float *mirror, int64_t n, int c);

/* The mirror images tta scores: dst = src with each of its `rows` rows of w pixels
 * reversed (left-right; rows = images x channels x height). */
void hq_scoring_mirror(float *restrict dst, const float *restrict src, int64_t rows, int w);

/* An evaluation's --tta override: "none" or "hflip" into *hflip; anything else is
 * HQ_ERR_INVALID_ARG naming the two. */
hq_status hq_tta_parse(const char *tta, bool *hflip);

/*
 * The scoring of a run's resolved config (JSON text, as a run stores it). prior: -1 the
 * config's train.prior_correction, 0 off, 1 on (an error for a run without class
 * weights). When the correction needs "balanced" weights, the config's training split is
 * loaded (data_dir, if not NULL, searched first) to count its classes.
 */
hq_status hq_scoring_of_config(const char *config_json, const char *data_dir, int prior,
                               hq_scoring *out);

/* What `hqcnn eval` and `hqcnn study` evaluate: a weight file (`what` names a regular
 * file; the config.json of its run directory, if there is one, is the run's config) or
 * the best weights of a run of the database (by name or id). */
typedef struct hq_eval_target {
    char weights[2300]; /* the weight file */
    char *config_json;  /* the run's resolved config (owned), NULL if unknown */
    char dataset[64];   /* the run's dataset, "" if unknown */
    int64_t run_id;     /* 0 for a weight file */
    char run_name[256]; /* "" for a weight file */
} hq_eval_target;

/* Find `what`; db may be NULL only when what is a file (db_path names it in messages).
 * On failure *t is left empty; on success release it with hq_eval_target_clear. A weight
 * file's config.json that is not a JSON object is an error (HQ_ERR_PARSE) naming it. */
hq_status hq_eval_target_find(const char *what, hq_jobdb *db, const char *db_path,
                              hq_eval_target *t);
void hq_eval_target_clear(hq_eval_target *t);

/* Options of hq_eval_run. */
typedef struct hq_eval_opts {
    const char *db_path;  /* database for run lookups and shot-based caching (NULL = default) */
    const char *dataset;  /* dataset name (NULL = the run's; required for a bare weight file) */
    const char *data_dir; /* extra data directory, or NULL */
    const char *backend;  /* NULL/"sv" exact, or a shot-based backend */
    const char *backend_options; /* its JSON options, or NULL */
    int64_t shots;               /* shots per circuit for a shot-based backend */
    int threads;                 /* 0 = all CPUs */
    const char *tta;             /* "none" / "hflip" / NULL = the run's train.tta */
    const char *prior;           /* "on" / "off" / NULL = the run's train.prior_correction */
} hq_eval_opts;

/*
 * Evaluate a weight file (`what` names a regular file) or the best weights of run `what`
 * (name or id) on one split, scored as the run scored its own splits (hq_scoring_of_config
 * of its config; o->tta and o->prior override).
 *   [out] out        the metrics
 *   [out] confusion  hq_metrics_confusion_len entries (<= 1024), or NULL; *n_confusion
 *                    receives the count
 *   [out] dataset    the dataset evaluated (cap bytes)
 */
hq_status hq_eval_run(const char *what, hq_split split, const hq_eval_opts *o, hq_metrics *out,
                      int64_t *confusion, int64_t *n_confusion, char *dataset, size_t cap);

/* The most members hq_eval_ensemble takes. */
#define HQ_EVAL_MAX_MEMBERS 16

/*
 * Evaluate the ensemble of n_what (1..HQ_EVAL_MAX_MEMBERS) weight files or runs: each member
 * is scored as hq_eval_run scores it (its own run's tta and prior correction, o's overrides
 * applied to all), and the metrics are those of the mean of the members' class scores. The
 * members must be for one dataset (o->dataset overrides it). One member is hq_eval_run.
 */
hq_status hq_eval_ensemble(const char *const *what, int n_what, hq_split split,
                           const hq_eval_opts *o, hq_metrics *out, int64_t *confusion,
                           int64_t *n_confusion, char *dataset, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_TRAIN_H */
