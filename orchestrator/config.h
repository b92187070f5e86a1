/*
 * orchestrator/config.h — the training configuration: one JSON file per dataset x backend
 * (configs/<dataset>-<backend>.json), resolved into one self-contained document that is
 * stored with the run, so `hqcnn resume` needs nothing but the job database.
 *
 *   {
 *     "name": "breastmnist-sv",            run name prefix (a timestamp/seed is appended)
 *     "dataset": "breastmnist",            MedMNIST 2D dataset, 28x28
 *     "data_dir": null,                    extra directory searched first (optional)
 *     "model": "hqcnn-default.json",       model config (nn/model.h): a path relative to
 *                                          this file, or the object itself
 *     "train": {
 *       "epochs": 30, "batch_size": 64, "seed": 0, "threads": 2,
 *       "optimizer": {"type": "adam", "lr": 0.001, "schedule": {...}},  (nn/optim.h)
 *       "class_weights": "none" | "balanced" | [w0, w1, ...],
 *       "augment": {"hflip": 0.5, "shift": 2, "rotate": 10} | null,   (nn/augment.h)
 *       "select": "val_auc" | "val_acc" | "last",   which epoch's weights are kept
 *       "ema": 0.99,                       evaluate (and keep) an exponential moving average
 *                                          of the weights with this decay (0 = off); the
 *                                          decay at optimizer step s is min(ema, (1 + s) /
 *                                          (10 + s)) (warm-up as in TensorFlow's
 *                                          ExponentialMovingAverage), so a run shorter
 *                                          than ~1000 steps never reaches 0.99
 *       "tta": "none" | "hflip",           test-time augmentation: average the scores of
 *                                          each image and its mirror image
 *       "prior_correction": false,         divide the evaluation scores by the class
 *                                          weights and renormalise: a weighted loss learns
 *                                          w_k p(k|x) (normalised), this gives back p(k|x),
 *                                          so ACC's 0.5 threshold / argmax follows the data's
 *                                          class balance; binary AUC is unchanged (nn/loss.h
 *                                          hq_scores_unweight). No effect without weights
 *       "label_smoothing": 0,              eps in [0, 1): train against (1 - eps) onehot +
 *                                          eps / classes, composed with the class weights
 *                                          as PyTorch's label_smoothing (nn/loss.h); 0 = off
 *       "mixup": 0,                        alpha in [0, 100]: mix each batch with a permutation
 *                                          of itself, lambda ~ Beta(alpha, alpha), loss
 *                                          lambda L(y) + (1 - lambda) L(y_perm) (nn/mixup.h);
 *                                          0 = off
 *       "checkpoint_every": 50,            optimizer steps between checkpoints (and at
 *                                          every epoch end)
 *       "keep_checkpoints": 3,             newest checkpoints kept per run
 *       "subset": {"train": 0, "val": 0, "test": 0}   use only the first N images of a
 *                                          split (0 = all): quick checks before paying for
 *                                          hardware, smoke tests
 *     },
 *     "quantum": {
 *       "backend": "sv",                   "sv" (exact, adjoint gradients) or a shot-based
 *                                          backend of backends/backend.h ("sv-shots",
 *                                          "dm-shots", "emulator-ibm", "ibm", ...)
 *       "options": {...},                  that backend's options
 *       "shots": 1000,                     shots per circuit (shot-based backends)
 *       "gradient": "parameter-shift",     or "spsa" (shot-based backends)
 *       "spsa_c": 0.1,                     SPSA perturbation, radians
 *       "eval": "same",                    val/test passes on the same backend, or "sv"
 *       "max_circuits_per_job": 0,         cap below the backend's limit (0 = none)
 *       "poll_initial_s": 0.5, "poll_max_s": 30, "job_timeout_s": 0,
 *       "prices": {"per_job": 0, "per_circuit": 0, "per_shot": 0}   USD, for plans
 *     },
 *     "budget": {"max_shots": 0, "max_cost": 0}      0 = unlimited
 *   }
 *
 * Every key is checked: an unknown key or a value out of range is an error naming the
 * key path ("train.batch_size: 0 is outside [1, 4096]").
 */
#ifndef HQ_CONFIG_H
#define HQ_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "orchestrator/qshots.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_CONFIG_MAX_CLASSES 64

typedef enum hq_select { HQ_SELECT_VAL_AUC = 0, HQ_SELECT_VAL_ACC, HQ_SELECT_LAST } hq_select;
typedef enum hq_cw_mode { HQ_CW_NONE = 0, HQ_CW_BALANCED, HQ_CW_LIST } hq_cw_mode;

typedef struct hq_train_config {
    char name[128];      /* run name prefix */
    char dataset[64];    /* MedMNIST dataset name */
    char data_dir[1024]; /* "" = default lookup */
    char *model_json;    /* the model config (owned) */
    /* train */
    int epochs;                      /* >= 1 */
    int batch_size;                  /* 1..4096 */
    uint64_t seed;                   /* master seed */
    int threads;                     /* 0 = all CPUs */
    char *optim_json;                /* optimizer config (owned) */
    hq_cw_mode cw_mode;              /* class weights */
    float cw[HQ_CONFIG_MAX_CLASSES]; /* HQ_CW_LIST values */
    int n_cw;
    char *augment_json;     /* augmentation config (nn/augment.h), NULL = none (owned) */
    hq_select select;       /* best-epoch criterion */
    double ema;             /* weight EMA decay in [0, 1), 0 = off */
    bool tta_hflip;         /* average scores over the image and its mirror */
    bool prior_correction;  /* evaluation scores divided by the class weights, renormalised
                               (undoes the weighted loss's shift of the posterior) */
    double label_smoothing; /* eps in [0, 1), 0 = off */
    double mixup;           /* Beta(alpha, alpha) parameter alpha, 0 = off */
    int checkpoint_every;   /* steps, >= 1 */
    int keep_checkpoints;   /* >= 1 */
    int64_t subset[3];      /* first N images of train/val/test (0 = all) */
    /* quantum */
    char backend[64];      /* "sv" or a registered shot-based backend */
    char *backend_options; /* JSON text or NULL (owned) */
    int64_t shots;         /* shots per circuit */
    hq_qgrad gradient;     /* shot-based gradient method */
    double spsa_c;         /* SPSA perturbation */
    bool eval_exact;       /* val/test passes on the exact simulator */
    int max_circuits_per_job;
    double poll_initial_s, poll_max_s, job_timeout_s;
    double price_job, price_circuit, price_shot; /* USD */
    /* budget */
    int64_t budget_shots;
    double budget_cost;
} hq_train_config;

/* Defaults of every field (model_json / optim_json NULL). */
void hq_train_config_init(hq_train_config *c);
void hq_train_config_free(hq_train_config *c);

/* Parse a config file (model paths resolved relative to its directory) / JSON text
 * (base_dir for relative model paths, may be NULL = "."). On failure *c is freed. */
hq_status hq_train_config_load(const char *path, hq_train_config *c);
hq_status hq_train_config_parse(const char *json, const char *base_dir, hq_train_config *c);

/* The resolved, self-contained config as JSON (model inline) — what a run stores. */
hq_status hq_train_config_to_json(const hq_train_config *c, hq_sbuf *out);

/* True if the backend is the exact statevector ("sv"). */
bool hq_train_config_exact(const hq_train_config *c);

#ifdef __cplusplus
}
#endif
#endif /* HQ_CONFIG_H */
