/*
 * nn/tensor.h — float32 NCHW tensors: a shape value type and a borrowed-data view.
 *
 * A tensor is a small public value: a data pointer and a shape (n, c, h, w), stored
 * row-major (NCHW: w fastest). Feature vectors are (n, c, 1, 1). A tensor never owns its
 * memory unless it was made by hq_tensor_alloc (then the caller releases it with
 * hq_tensor_release); the model hands out views into its big activation blocks (see
 * nn/model.h), which are borrowed and valid until the model is freed.
 *
 * Also here: the thread pool the layers run on (an opaque hq_nn_pool, created by the
 * model or by a caller that drives layers itself).
 */
#ifndef HQ_NN_TENSOR_H
#define HQ_NN_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shape of an NCHW tensor. n is the batch size (or the maximum batch, in layer plans). */
typedef struct hq_shape {
    int32_t n; /* samples */
    int32_t c; /* channels (features, for (n, c, 1, 1) tensors) */
    int32_t h; /* rows */
    int32_t w; /* columns */
} hq_shape;

/* A float32 NCHW view. */
typedef struct hq_tensor {
    float *data;    /* (n, c, h, w) row-major; borrowed unless from hq_tensor_alloc */
    hq_shape shape; /* dimensions */
} hq_tensor;

static inline hq_shape hq_shape4(int32_t n, int32_t c, int32_t h, int32_t w) {
    hq_shape s = {n, c, h, w};
    return s;
}
/* Elements of one sample: c*h*w. */
static inline int64_t hq_shape_sample(hq_shape s) { return (int64_t)s.c * s.h * s.w; }
/* All elements: n*c*h*w. */
static inline int64_t hq_shape_numel(hq_shape s) { return (int64_t)s.n * hq_shape_sample(s); }
/* Same per-sample dimensions (n may differ). */
static inline bool hq_shape_same_sample(hq_shape a, hq_shape b) {
    return a.c == b.c && a.h == b.h && a.w == b.w;
}
static inline hq_tensor hq_tensor_view(float *data, hq_shape s) {
    hq_tensor t = {data, s};
    return t;
}

/*
 * Allocate a zeroed, 64-byte aligned tensor of shape s (all dimensions >= 1, at most
 * 2^31 elements per sample). [out] t owns the memory: release it with hq_tensor_release.
 * Returns HQ_ERR_INVALID_ARG (bad shape) or HQ_ERR_NOMEM.
 */
hq_status hq_tensor_alloc(hq_tensor *t, hq_shape s);
/* Free memory from hq_tensor_alloc and zero the struct; NULL or an empty tensor is a no-op. */
void hq_tensor_release(hq_tensor *t);

/* Text "(n, c, h, w)" into buf (cap bytes, at least 64 recommended). Returns buf. */
const char *hq_shape_str(hq_shape s, char *buf, size_t cap);

/* ==== thread pool ===================================================================== */

/*
 * A fixed pool of worker threads that the layers split their passes over. A pass is cut
 * into tasks whose boundaries depend only on the problem (batch size, shapes), never on
 * the number of threads, and reductions run in task order, so results are bit-identical
 * for any thread count. While a pool runs tasks, OpenBLAS is set to one thread (each of
 * our threads calls it on its own slice); the previous setting is restored after.
 */
typedef struct hq_nn_pool hq_nn_pool;

/* Create a pool of n_threads (1..64; 0 = number of online CPUs). The calling thread is
 * one of them, so n_threads = 1 starts no thread. Caller frees with hq_nn_pool_free.
 * Returns HQ_ERR_INVALID_ARG, HQ_ERR_NOMEM, or HQ_ERR_INTERNAL if a thread cannot start. */
hq_status hq_nn_pool_create(int n_threads, hq_nn_pool **out);
/* Stop and join the workers. NULL is a no-op. */
void hq_nn_pool_free(hq_nn_pool *p);
/* Threads of the pool (1 for NULL). */
int hq_nn_pool_threads(const hq_nn_pool *p);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_TENSOR_H */
