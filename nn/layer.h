/*
 * nn/layer.h — one layer of a network, created from a JSON description, with paired
 * forward/backward passes. Most callers use whole models (nn/model.h); this header is for
 * driving a single layer (tests, experiments, custom loops).
 *
 * Worked example: a 3x3 convolution on a batch of 8 grey 28x28 images.
 *
 *     hq_layer *conv;
 *     hq_status st = hq_layer_create("{\"type\":\"conv2d\",\"out\":16,\"kernel\":3,"
 *                                    "\"padding\":1}", hq_shape4(8, 1, 28, 28), &conv);
 *     if (st != HQ_OK) { fprintf(stderr, "%s\n", hq_last_error()); return st; }
 *     hq_layer_init(conv, 42);                       // PyTorch-style default init
 *     hq_shape os = hq_layer_out_shape(conv);        // (8, 16, 28, 28)
 *     hq_tensor x, y, dy, dx;                        // hq_tensor_alloc(...) each
 *     hq_pass pass = {.train = true, .seed = 42};
 *     hq_layer_forward(conv, &y, &x, &pass);         // y = conv(x); x, y kept for backward
 *     ... fill dy = dL/dy ...
 *     hq_layer_zero_grad(conv);                      // grads accumulate: zero explicitly
 *     hq_layer_backward(conv, &dx, &dy);             // dx = dL/dx; weight grads += ...
 *     hq_param_info w;
 *     hq_layer_param(conv, 0, &w);                   // w.name "weight", w.data, w.grad
 *     hq_layer_free(conv);
 *
 * Conventions: tensors are float32 NCHW (nn/tensor.h). A layer is planned for a maximum
 * batch (the n of the input shape at create); any batch 1..max works afterwards.
 * backward uses the x and y of the latest forward, which the caller must keep unchanged
 * in between; it ADDS into parameter gradients (zero_grad is explicit). Argument order
 * is outputs first, then inputs. Randomness (dropout masks, initialisation) comes from
 * the counter-based RNG keyed by (seed, epoch, step, layer index), so it replays exactly.
 *
 * Layer types (config "type"): conv2d, batchnorm, relu, tanh, maxpool, avgpool,
 * global_avgpool, dropout, dense, flatten, quantum. Options are in docs/nn.md.
 * Ownership: hq_layer_create's caller frees with hq_layer_free (NULL is a no-op).
 */
#ifndef HQ_NN_LAYER_H
#define HQ_NN_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_layer hq_layer;

/* What a forward pass is for: training or evaluation, and the RNG coordinates. */
typedef struct hq_pass {
    bool train;     /* true: batch statistics, dropout active; false: evaluation */
    uint64_t seed;  /* run seed (Philox key) */
    uint64_t epoch; /* epoch index, part of the dropout stream id */
    uint64_t step;  /* step index within the run, part of the dropout stream id */
} hq_pass;

#define HQ_PARAM_NAME_MAX 32
#define HQ_PARAM_MAX_DIMS 4

/* One named parameter or buffer of a layer (a borrowed description). */
typedef struct hq_param_info {
    const char *name;                /* "weight", "bias", "running_mean", ... (borrowed) */
    int ndim;                        /* 1..4 */
    int64_t dims[HQ_PARAM_MAX_DIMS]; /* PyTorch layout, e.g. conv weight (out, in, kh, kw) */
    int64_t numel;                   /* product of dims */
    bool trainable;                  /* false for buffers (batch-norm running statistics) */
    float *data;                     /* numel values (borrowed; valid until the layer is freed) */
    float *grad;                     /* numel gradient values; NULL for buffers */
} hq_param_info;

/*
 * Create a layer from its JSON description (an object with "type" and options) for input
 * shape in (in.n = maximum batch). The layer owns its parameters, gradients and caches.
 * Parameters are zero until hq_layer_init or hq_layer_param writes them.
 * Returns HQ_ERR_PARSE (bad JSON), HQ_ERR_INVALID_ARG (unknown type, bad option or shape,
 * with the valid range in the message), HQ_ERR_UNSUPPORTED, HQ_ERR_NOMEM.
 */
hq_status hq_layer_create(const char *json, hq_shape in, hq_layer **out);
void hq_layer_free(hq_layer *l);

/* Run the layer's passes on `pool` (borrowed; valid until replaced or the layer is freed;
 * NULL = the calling thread only). Returns HQ_ERR_MISUSE or HQ_ERR_NOMEM. */
hq_status hq_layer_set_pool(hq_layer *l, hq_nn_pool *pool);

/* The config type ("conv2d"); the planned output shape (n = maximum batch). */
const char *hq_layer_type(const hq_layer *l);
hq_shape hq_layer_out_shape(const hq_layer *l);
hq_shape hq_layer_in_shape(const hq_layer *l);

/* Number of parameters + buffers, and the description of entry i (0 <= i < count).
 * Returns HQ_ERR_MISUSE or HQ_ERR_INVALID_ARG. */
int hq_layer_n_params(const hq_layer *l);
hq_status hq_layer_param(const hq_layer *l, int i, hq_param_info *out);

/* Initialise parameters and buffers the way PyTorch does by default (conv/dense weights
 * and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), batch norm gamma 1, beta 0, running
 * mean 0, var 1, quantum weights U[0, 2 pi)), drawing from (seed, "init", layer index). */
hq_status hq_layer_init(hq_layer *l, uint64_t seed);

/*
 * [out] y (shape: n = x->shape.n, per-sample dims = hq_layer_out_shape); [in] x (per-sample
 * dims = the input shape, 1 <= n <= maximum batch); pass: mode and RNG coordinates.
 * Returns HQ_ERR_INVALID_ARG on shape mismatch, HQ_ERR_MISUSE, or a layer's error
 * (the quantum layer's backend).
 */
hq_status hq_layer_forward(hq_layer *l, hq_tensor *y, const hq_tensor *x, const hq_pass *pass);
/*
 * [out] dx = dL/dx (NULL to skip, e.g. for the first layer); [in] dy = dL/dy with the
 * shape of the latest forward's y. Adds dL/dparams into the gradients.
 * Returns HQ_ERR_MISUSE (no forward before), HQ_ERR_INVALID_ARG (shape mismatch).
 */
hq_status hq_layer_backward(hq_layer *l, hq_tensor *dx, const hq_tensor *dy);
/* Zero the parameter gradients. */
hq_status hq_layer_zero_grad(hq_layer *l);

/* ==== quantum layer: external evaluation ============================================== */

typedef struct hq_circuit hq_circuit;

/*
 * An external evaluator of the quantum layer's circuit, for shot-based backends (the
 * orchestrator's planner + dispatcher, orchestrator/qshots.h): bind the layer's template
 * to n_rows rows of symbol values sym (n_rows x n_symbols, symbols in the template's
 * order: inputs x0.. then weights w0..), return expect (n_rows x n_obs, observables
 * [Z_0..Z_{q-1}, X_0..X_{q-1}]) and, when need_jac, jac (n_rows x n_obs x n_symbols) =
 * d expect / d symbol. need_jac is true in training passes.
 */
typedef hq_status (*hq_qeval_fn)(void *ctx, const hq_circuit *tmpl, int64_t n_rows,
                                 const double *sym, bool need_jac, double *expect, double *jac);

/* Route a quantum layer's passes through fn (NULL = back to the exact statevector).
 * Forward then calls fn once per batch; backward contracts dL/dy with the Jacobian of the
 * latest training forward. Returns HQ_ERR_INVALID_ARG if l is not a quantum layer,
 * HQ_ERR_UNSUPPORTED if its readout is not [Z, X], HQ_ERR_NOMEM. ctx is borrowed. */
hq_status hq_layer_quantum_set_eval(hq_layer *l, hq_qeval_fn fn, void *ctx);
/* The template of a quantum layer (borrowed; valid while the layer lives), NULL for
 * other layers. */
const hq_circuit *hq_layer_quantum_circuit(const hq_layer *l);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_LAYER_H */
