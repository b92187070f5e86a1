/*
 * nn/optim.h — optimizers with PyTorch semantics (Adam, AdamW, SGD with momentum and
 * weight decay) and learning-rate schedules (constant, step, cosine), over one flat
 * float32 parameter vector (the model's parameter block, nn/model.h).
 *
 * Config (JSON object):
 *   {"type":"adam",  "lr":1e-3, "betas":[0.9,0.999], "eps":1e-8, "weight_decay":0}
 *   {"type":"adamw", "lr":1e-3, "betas":[0.9,0.999], "eps":1e-8, "weight_decay":0.01}
 *   {"type":"sgd",   "lr":0.01, "momentum":0, "dampening":0, "nesterov":false,
 *                    "weight_decay":0}
 * plus an optional schedule, evaluated in epochs or in optimizer steps:
 *   "schedule": {"type":"constant"}
 *   "schedule": {"type":"step",   "step_size":10, "gamma":0.1, "unit":"epoch"}
 *   "schedule": {"type":"cosine", "t_max":10, "eta_min":0, "unit":"epoch"}
 * Defaults are PyTorch's. The arithmetic follows torch.optim (1.13, single-tensor path)
 * operation by operation in float32, so a step matches PyTorch to rounding.
 *
 * Usage (see nn/model.h for the model side):
 *     hq_optim *opt;
 *     hq_optim_create("{\"type\":\"adam\",\"lr\":1e-3}", hq_model_n_params(m), &opt);
 *     for each step: ... hq_model_backward(m);
 *                    hq_model_step(m, opt, hq_optim_lr(opt, epoch, step));
 *     hq_optim_free(opt);
 * Ownership: the creator frees with hq_optim_free (NULL is a no-op).
 */
#ifndef HQ_NN_OPTIM_H
#define HQ_NN_OPTIM_H

#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_optim hq_optim;

/* Create for a parameter vector of n_params floats (state zeroed, step count 0).
 * Returns HQ_ERR_PARSE (bad JSON), HQ_ERR_INVALID_ARG (unknown type or option, value out
 * of range — named in the message), HQ_ERR_NOMEM. */
hq_status hq_optim_create(const char *json, int64_t n_params, hq_optim **out);
void hq_optim_free(hq_optim *o);

/* Learning rate of the schedule at (epoch, step): a pure function, so a resumed run gets
 * the same rates. step counts optimizer steps from 0 over the whole run. */
double hq_optim_lr(const hq_optim *o, int64_t epoch, int64_t step);

/* One update of params (n_params) from grads (n_params) with learning rate lr > 0.
 * Returns HQ_ERR_INVALID_ARG (NULL arrays, lr not finite and >= 0), HQ_ERR_MISUSE. */
hq_status hq_optim_step(hq_optim *o, float *params, const float *grads, double lr);

/* "adam", "adamw" or "sgd"; steps taken so far; the canonical config text (borrowed). */
const char *hq_optim_type(const hq_optim *o);
int64_t hq_optim_steps(const hq_optim *o);
const char *hq_optim_config(const hq_optim *o);
int64_t hq_optim_n_params(const hq_optim *o);

/* State vectors for checkpoints: Adam/AdamW "exp_avg", "exp_avg_sq"; SGD with momentum
 * "momentum_buffer"; plain SGD none. Each has n_params floats (borrowed, writable). */
int hq_optim_n_state(const hq_optim *o);
hq_status hq_optim_state(hq_optim *o, int i, const char **name, float **data);
/* Restore the step count (from a checkpoint); steps >= 0. */
hq_status hq_optim_set_steps(hq_optim *o, int64_t steps);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_OPTIM_H */
