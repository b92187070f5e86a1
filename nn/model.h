/*
 * nn/model.h — a network assembled from a JSON config: a stack of layers (nn/layer.h)
 * with its parameters, gradients and activations in a few big blocks, forward / loss /
 * backward / optimizer step, and versioned, checksummed weight files.
 *
 * A training step:
 *
 *     hq_model *m;  hq_optim *opt;
 *     hq_model_create_file("configs/hqcnn-default.json", NULL, &m);   // or hq_model_create
 *     hq_model_init(m, seed);                       // PyTorch default initialisation
 *     hq_optim_create("{\"type\":\"adam\",\"lr\":1e-3}", hq_model_n_params(m), &opt);
 *     for (each batch x (n, C, H, W), labels (n)) {
 *         hq_pass pass = {.train = true, .seed = seed, .epoch = e, .step = s};
 *         hq_tensor logits;                           // view (n, classes), borrowed
 *         hq_model_forward(m, &x, &pass, &logits);
 *         double loss;
 *         hq_model_loss(m, labels, class_weights, &loss);  // weights may be NULL
 *         hq_model_zero_grad(m);
 *         hq_model_backward(m);
 *         hq_model_step(m, opt, hq_optim_lr(opt, e, s));
 *     }
 *     hq_model_save(m, opt, "run/ckpt.hqw");      // weights + optimizer state
 *     hq_optim_free(opt);  hq_model_free(m);
 *
 * Evaluation: forward with pass.train = false (batch norm uses running statistics,
 * dropout is off), then hq_softmax_rows (nn/loss.h) for probabilities.
 *
 * Config: a JSON object {"input":[C,H,W], "classes":N, "max_batch":128, "threads":2,
 * "layers":[{"type":...}, ...]}, or a document whose "model" member is that object (a
 * whole training config can be passed). docs/nn.md lists every layer option.
 * A batchnorm directly followed by a relu is fused into one pass (same numbers).
 *
 * Determinism: for a given config, seed and pass coordinates the results are
 * bit-identical across runs and for any thread count (see nn/tensor.h).
 * Threads: the model owns a pool of "threads" threads (0 = all CPUs); one model must not
 * be used from two threads at once.
 * Ownership: hq_model_create's caller frees with hq_model_free (NULL is a no-op). Tensors,
 * layers and arrays handed out are borrowed and valid until the model is freed (logits:
 * until the next forward).
 */
#ifndef HQ_NN_MODEL_H
#define HQ_NN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_model hq_model;

/* Overrides of config values; 0 / false = take the config's value (or the default). */
typedef struct hq_model_opts {
    int in_channels; /* input channels (1 grey, 3 RGB) — config "input"[0] */
    int height;      /* input rows — "input"[1] (default 28) */
    int width;       /* input columns — "input"[2] (default 28) */
    int classes;     /* output classes — "classes" */
    int max_batch;   /* largest batch forward will get — "max_batch" (default 128) */
    int threads;     /* threads — "threads" (default 0 = all CPUs) */
    bool no_fuse;    /* keep batchnorm and relu as separate passes (for tests) */
    bool no_fold;    /* evaluation forwards run conv2d and the batch norm after it as
                      * separate passes instead of one convolution with the batch norm
                      * folded into its weights (for tests and A/B; also
                      * $HQCNN_NN_NO_FOLD=1) */
} hq_model_opts;

/*
 * Build a model from its JSON config (see above). Parameters are zero until
 * hq_model_init or hq_model_load. opts may be NULL.
 * Returns HQ_ERR_PARSE (bad JSON), HQ_ERR_INVALID_ARG (a bad field or layer option —
 * the message names the layer index, type and option), HQ_ERR_UNSUPPORTED, HQ_ERR_NOMEM,
 * HQ_ERR_INTERNAL (threads).
 */
hq_status hq_model_create(const char *config_json, const hq_model_opts *opts, hq_model **out);
/* Same, reading the config from a file (HQ_ERR_NOT_FOUND / HQ_ERR_IO as well). */
hq_status hq_model_create_file(const char *path, const hq_model_opts *opts, hq_model **out);
/* Rebuild the model stored in a weight file (its embedded config) and load its weights;
 * opts may override threads and max_batch only. */
hq_status hq_model_create_from_weights(const char *path, const hq_model_opts *opts, hq_model **out);
void hq_model_free(hq_model *m);

/* PyTorch default initialisation of every layer from seed (layer i draws from the
 * (seed, "init", i, param) streams). */
hq_status hq_model_init(hq_model *m, uint64_t seed);

/*
 * [in] x (n, C, H, W) with 1 <= n <= max_batch (copied; may be reused after the call);
 * [in] pass: train/eval and RNG coordinates; [out] logits: view (n, classes), borrowed,
 * valid until the next forward. Returns HQ_ERR_INVALID_ARG (shape), HQ_ERR_MISUSE, or a
 * layer's error.
 */
hq_status hq_model_forward(hq_model *m, const hq_tensor *x, const hq_pass *pass, hq_tensor *logits);
/*
 * Softmax cross-entropy of the latest forward's logits against labels (n), with optional
 * class weights (classes values, NULL = none): the weighted mean, as PyTorch. Also stores
 * dL/dlogits for hq_model_backward. Errors as hq_loss_softmax_ce, HQ_ERR_MISUSE.
 */
hq_status hq_model_loss(hq_model *m, const int32_t *labels, const float *class_weights,
                        double *loss);
/* hq_model_loss with label smoothing and/or mixup labels (nn/loss.h, hq_ce_opts; NULL =
 * hq_model_loss). Errors as hq_loss_softmax_ce_ex, HQ_ERR_MISUSE. */
hq_status hq_model_loss_ex(hq_model *m, const int32_t *labels, const float *class_weights,
                           const hq_ce_opts *opts, double *loss);
/* Backpropagate the stored dL/dlogits of the latest forward (after hq_model_loss or
 * hq_model_set_dlogits): parameter gradients +=. Returns HQ_ERR_MISUSE out of order. */
hq_status hq_model_backward(hq_model *m);
/*
 * Layer ranges, for running part of the network elsewhere — e.g. the quantum layer q on a
 * QPU through the orchestrator:
 *     hq_model_forward_layers(m, 0, q, &images, &pass, &angles);      // backbone
 *     ... expectations (n, 8) from the hardware for these angles ...
 *     hq_model_forward_layers(m, q + 1, L, &expect, &pass, &logits); // head
 *     ... loss, dlogits ...
 *     hq_model_backward_layers(m, q + 1, L, dlogits, dexpect);       // dL/dexpect
 *     ... dL/dangles and dL/dweights of layer q by parameter shift: add the latter to
 *         layer q's gradient (hq_layer_param(hq_model_layer(m, q), 0, &p); p.grad) ...
 *     hq_model_backward_layers(m, 0, q, dangles, NULL);              // backbone grads +=
 * forward_layers runs layers [first, last): [in] in is the input of layer `first` (n, its
 * input dims; the image batch for first = 0), copied; [out] out: view of layer last-1's
 * output, borrowed until the next forward. backward_layers: [in] dy = dL/d(output of layer
 * last-1) of the latest forward's n; [out] dx = dL/d(input of layer first) or NULL; grads
 * +=. Every range of one step uses the same batch size. A range may not split a fused
 * group (batchnorm + relu [+ maxpool]). Returns HQ_ERR_INVALID_ARG (range, shapes) or
 * HQ_ERR_MISUSE (backward before forward), or a layer's error.
 */
hq_status hq_model_forward_layers(hq_model *m, int first, int last, const hq_tensor *in,
                                  const hq_pass *pass, hq_tensor *out);
hq_status hq_model_backward_layers(hq_model *m, int first, int last, const float *dy, float *dx);
/* Use dlogits (n, classes) of the latest forward's n instead of hq_model_loss's. */
hq_status hq_model_set_dlogits(hq_model *m, const float *dlogits);
hq_status hq_model_zero_grad(hq_model *m);
/* One optimizer step on the model's parameters (opt made for hq_model_n_params). */
hq_status hq_model_step(hq_model *m, hq_optim *opt, double lr);

/* ==== inspection ====================================================================== */

int64_t hq_model_n_params(const hq_model *m); /* trainable scalars */
int hq_model_classes(const hq_model *m);
hq_shape hq_model_in_shape(const hq_model *m); /* n = max_batch */
int hq_model_threads(const hq_model *m);
/* The flat parameter and gradient vectors (n_params floats, layer order, borrowed).
 * The gradient vector exists after the first zero_grad/backward (NULL before). */
float *hq_model_params(hq_model *m);
float *hq_model_grads(hq_model *m);
int hq_model_n_layers(const hq_model *m);
/* Layer i (borrowed): inspect with hq_layer_type / hq_layer_param. NULL if out of range. */
hq_layer *hq_model_layer(hq_model *m, int i);
/* Output of layer i of the latest forward: view (n, ...), borrowed until the next one. A
 * relu or maxpool fused into the batchnorm before it shares (and reports) the output of the
 * fused group. */
hq_status hq_model_activation(hq_model *m, int i, hq_tensor *out);
/* The resolved config (input, classes filled in) as compact JSON (borrowed). */
const char *hq_model_config(const hq_model *m);
/* Human-readable table: layer, type, output shape, parameters; appended to out. */
hq_status hq_model_summary(const hq_model *m, hq_sbuf *out);

/* Route every quantum layer through an external evaluator (nn/layer.h
 * hq_layer_quantum_set_eval; fn NULL = back to the exact statevector). HQ_OK when the model
 * has no quantum layer. */
hq_status hq_model_set_qeval(hq_model *m, hq_qeval_fn fn, void *ctx);
/* The circuit template of the first quantum layer (borrowed), NULL if there is none. */
const hq_circuit *hq_model_quantum_circuit(hq_model *m);

/* ==== weight files ==================================================================== */

/*
 * Save parameters, batch-norm buffers, the config and (if opt != NULL) the optimizer
 * state in the hqcnn weight format (docs/nn.md: magic, version, tensor table with names,
 * types and shapes, payload, sha256). The file is replaced atomically.
 * Returns HQ_ERR_IO, HQ_ERR_NOMEM, HQ_ERR_MISUSE.
 */
hq_status hq_model_save(const hq_model *m, const hq_optim *opt, const char *path);
/* Same into memory (for the job database); *data is hq_free()d by the caller. */
hq_status hq_model_save_mem(const hq_model *m, const hq_optim *opt, uint8_t **data, size_t *len);
/*
 * Load a file written by hq_model_save into m (and opt's state, if opt != NULL). Nothing
 * changes unless everything checks out. Returns HQ_ERR_NOT_FOUND / HQ_ERR_IO (file),
 * HQ_ERR_PARSE (not a weight file: wrong magic), HQ_ERR_UNSUPPORTED (newer format
 * version), HQ_ERR_CORRUPT (truncated, checksum mismatch, inconsistent table),
 * HQ_ERR_INVALID_ARG (a tensor missing, extra, or of another shape than the config's;
 * optimizer state missing or of another type).
 */
hq_status hq_model_load(hq_model *m, hq_optim *opt, const char *path);
hq_status hq_model_load_mem(hq_model *m, hq_optim *opt, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_MODEL_H */
