/*
 * nn/layer_impl.h — private: the layer vtable, the layer struct, the thread pool's task
 * interface and helpers shared by the layer files. Included only by nn/ implementations.
 *
 * Life of a layer:
 *   plan      ops->plan parses the JSON options, checks the input shape, sets the output
 *             shape and declares parameters (name, dims) and memory: cache_bytes (kept
 *             from forward to backward, for the maximum batch), scratch (shared bytes +
 *             bytes per thread, reused by every layer one after another).
 *   bind      the owner (hq_layer_create for a standalone layer, the model for a network)
 *             points params[i].data/.grad, cache and scratch into its big blocks.
 *   init      ops->init writes PyTorch-style initial values.
 *   forward   ops->forward(l, y, x, n, pass)        outputs first, then inputs
 *   backward  ops->backward(l, dx, dy, x, y, n)     dx may be NULL; parameter grads +=
 *
 * Parallel passes are split into "slots": slot s of a batch of n covers samples
 * [s*n/S, (s+1)*n/S) with S = min(n, NN_MAX_SLOTS). Slot boundaries depend only on n, so
 * per-slot partial sums reduced in slot order give bit-identical results for any thread
 * count.
 */
#ifndef HQ_NN_LAYER_IMPL_H
#define HQ_NN_LAYER_IMPL_H

#include <cjson/cJSON.h>
#include <string.h>

#include "core/core.h"
#include "nn/layer.h"

/* ==== thread pool ===================================================================== */

/* A task: fn(arg, task index, thread index in [0, threads)). */
typedef void (*nn_task_fn)(void *arg, int task, int thread);
/* Run tasks 0..n_tasks-1 on the pool (NULL: serially in the caller) and wait for all.
 * Tasks must write disjoint memory (or per-task / per-thread partials). */
void nn_pool_run(hq_nn_pool *p, int n_tasks, nn_task_fn fn, void *arg);
int nn_pool_threads(const hq_nn_pool *p);
/* Make OpenBLAS single-threaded for the duration of a public nn call; returns the previous
 * setting for nn_blas_restore. Our own threads parallelise; see nn/tensor.h. */
int nn_blas_single(void);
void nn_blas_restore(int prev);

#define NN_MAX_SLOTS 16
static inline int nn_n_slots(int n) { return n < NN_MAX_SLOTS ? n : NN_MAX_SLOTS; }
static inline int nn_slot_begin(int n, int n_slots, int s) {
    return (int)((int64_t)n * s / n_slots);
}

/* ==== SIMD ============================================================================ */

/* 8-lane vectors (GCC/Clang vector extensions: AVX with -march=native, two SSE halves
 * otherwise). Used where the compiler will not vectorise on its own (masked selects,
 * reductions in lanes). Vectors never cross a function boundary by value (that would tie
 * the ABI to AVX): loads and stores are macros through memcpy (unaligned). */
typedef float nn_f8 __attribute__((vector_size(32)));
typedef int32_t nn_i8 __attribute__((vector_size(32)));
#define NN_F8_LOAD(v, p)  memcpy(&(v), (p), sizeof(nn_f8))
#define NN_F8_STORE(p, v) memcpy((p), &(v), sizeof(nn_f8))
/* g where y > 0, else +0 (exactly: a NaN in g is dropped where y <= 0) */
#define NN_F8_MASK_POS(g, y) ((nn_f8)((nn_i8)(g) & (nn_i8)((y) > (nn_f8){0})))
/* 4-lane vectors and lane shuffles (GCC >= 12, Clang) for strided patterns */
typedef float nn_f4 __attribute__((vector_size(16)));
typedef int32_t nn_i4 __attribute__((vector_size(16)));
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define NN_HAVE_SHUFFLE 1
/* The four members of the 2x2 windows of output columns ow..ow+3 (stride 2): v[0] / v[1]
 * the even / odd columns of row r0, v[2] / v[3] those of row r1. */
static inline void nn_window2x2_f4(nn_f4 v[4], const float *r0, const float *r1, int ow) {
    nn_f4 a0, a1, b0, b1;
    memcpy(&a0, r0 + 2 * ow, 16);
    memcpy(&a1, r0 + 2 * ow + 4, 16);
    memcpy(&b0, r1 + 2 * ow, 16);
    memcpy(&b1, r1 + 2 * ow + 4, 16);
    v[0] = __builtin_shufflevector(a0, a1, 0, 2, 4, 6);
    v[1] = __builtin_shufflevector(a0, a1, 1, 3, 5, 7);
    v[2] = __builtin_shufflevector(b0, b1, 0, 2, 4, 6);
    v[3] = __builtin_shufflevector(b0, b1, 1, 3, 5, 7);
}
#else
#define NN_HAVE_SHUFFLE 0
#endif
/* horizontal sum in double, lanes in a fixed order */
static inline double nn_f8_hsum(const nn_f8 *v) {
    double s = 0;
    for (int k = 0; k < 8; k++) s += (*v)[k];
    return s;
}

/* ==== layer =========================================================================== */

#define NN_MAX_PARAMS 4
#define NN_ALIGN      64
static inline size_t nn_align(size_t b) { return (b + NN_ALIGN - 1) & ~(size_t)(NN_ALIGN - 1); }

typedef struct nn_param {
    char name[HQ_PARAM_NAME_MAX]; /* "weight", "bias", "running_mean", ... */
    int ndim;                     /* 1..4 */
    int64_t dims[HQ_PARAM_MAX_DIMS];
    int64_t numel;  /* product of dims */
    bool trainable; /* false: buffer, saved but not optimised and without grad */
    float *data;    /* numel values, bound by the owner */
    float *grad;    /* numel values, bound by the owner; NULL for buffers */
} nn_param;

/* Options a plan may need from its surroundings. */
typedef struct nn_plan_ctx {
    int classes; /* value of "out": "classes" in dense layers; 0 = not available */
} nn_plan_ctx;

typedef struct nn_layer_ops {
    const char *type; /* config name */
    /* Parse cfg (the JSON object), validate l->in, fill l->out, params, memory sizes,
     * l->ctx. Errors name the layer ("layer 3 (conv2d): ..."), see nn_failf. */
    hq_status (*plan)(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc);
    /* Default initialisation (NULL: parameters stay as bound, zero). */
    void (*init)(hq_layer *l, uint64_t seed);
    /* y: (n, out); x: (n, in). */
    hq_status (*forward)(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass);
    /* dx: (n, in) or NULL; dy: (n, out); x, y: the latest forward's. Grads +=. */
    hq_status (*backward)(hq_layer *l, float *dx, const float *dy, const float *x, const float *y,
                          int n);
    /* Free l->ctx's contents (NULL: hq_free(l->ctx) is enough). */
    void (*destroy)(hq_layer *l);
} nn_layer_ops;

#define HQ_MAGIC_LAYER 0x4C415952u /* "LAYR" */

struct hq_layer {
    hq_handle h;
    const nn_layer_ops *ops;
    int index;    /* position in the model (parameter names, RNG streams); 0 standalone */
    hq_shape in;  /* input shape, n = maximum batch */
    hq_shape out; /* output shape, n = maximum batch */
    int n_params; /* entries used in params */
    nn_param params[NN_MAX_PARAMS];
    size_t cache_bytes;    /* bytes kept from forward to backward (maximum batch) */
    size_t scratch_shared; /* scratch bytes used by all threads together */
    size_t scratch_thread; /* scratch bytes per thread (after the shared part) */
    size_t private_thread; /* bytes per thread owned by this layer alone (zeroed once) */
    void *cache;           /* bound: cache_bytes, 64-byte aligned */
    void *scratch;         /* bound: scratch_shared + threads * scratch_thread (each aligned) */
    void *priv;            /* bound: threads * private_thread (each aligned), zeroed at bind */
    hq_nn_pool *pool;      /* borrowed; NULL = serial */
    bool alias;            /* the model runs this layer as y = x / dx = dy (flatten, fused relu) */
    bool fuse_relu;        /* batch norm only: apply ReLU to the output (relu after it fused) */
    struct hq_layer *fold; /* conv2d only: the batch norm after it, folded into evaluation
                            * forwards by the model (NULL: none) */
    bool fwd_folded;       /* conv2d with fold: the latest forward ran folded, so neither its
                            * output nor the batch norm's cache was written */
    void *ctx;             /* layer-private options and state */
    /* latest forward (for hq_layer_backward) */
    const float *fwd_x; /* (fwd_n, in) */
    const float *fwd_y; /* (fwd_n, out) */
    int fwd_n;          /* 0 until a forward ran */
    /* standalone ownership (hq_layer_create) */
    float *own_params; /* params block (data, then grads) */
    void *own_cache;   /* cache block */
    void *own_scratch; /* scratch block for own_threads */
    void *own_priv;    /* private block for own_threads */
    int own_threads;   /* threads own_scratch was sized for */
};

/* Size of the scratch a layer needs with `threads` threads. */
static inline size_t nn_scratch_bytes(const hq_layer *l, int threads) {
    return nn_align(l->scratch_shared) + (size_t)threads * nn_align(l->scratch_thread);
}
static inline void *nn_private(const hq_layer *l, int thread) {
    return (char *)l->priv + (size_t)thread * nn_align(l->private_thread);
}
static inline void *nn_scratch_thread(const hq_layer *l, int thread) {
    return (char *)l->scratch + nn_align(l->scratch_shared) +
           (size_t)thread * nn_align(l->scratch_thread);
}

/* Record a failure prefixed with the layer ("layer 3 (conv2d): ..."). */
hq_status nn_failf(const hq_layer *l, hq_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Declare a parameter (trainable) or buffer; returns its index. dims: ndim values. */
int nn_add_param(hq_layer *l, const char *name, bool trainable, int ndim, const int64_t *dims);

/* JSON option readers: absent -> *out = def; present but wrong type or outside [lo, hi]
 * -> HQ_ERR_INVALID_ARG naming the option and the range. */
hq_status nn_opt_int(const hq_layer *l, const cJSON *cfg, const char *key, int def, int lo, int hi,
                     int *out);
hq_status nn_opt_double(const hq_layer *l, const cJSON *cfg, const char *key, double def, double lo,
                        double hi, double *out);
hq_status nn_opt_bool(const hq_layer *l, const cJSON *cfg, const char *key, bool def, bool *out);
/* Reject keys of cfg not in the NULL-terminated list (catches typos like "kernal"). */
hq_status nn_opt_check_keys(const hq_layer *l, const cJSON *cfg, const char *const *allowed);

/* U(lo, hi) fill from the (seed, "init", layer, param) stream. */
void nn_fill_uniform(float *p, int64_t n, float lo, float hi, uint64_t seed, int layer, int param);
void nn_fill_const(float *p, int64_t n, float v);

/* Row-major sgemm: C (m x n) = alpha op(A) op(B) + beta C. */
void nn_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* The layer types (one file each). */
extern const nn_layer_ops nn_conv2d_ops;
extern const nn_layer_ops nn_batchnorm_ops;
extern const nn_layer_ops nn_relu_ops;
extern const nn_layer_ops nn_tanh_ops;
extern const nn_layer_ops nn_maxpool_ops;
extern const nn_layer_ops nn_avgpool_ops;
extern const nn_layer_ops nn_global_avgpool_ops;
extern const nn_layer_ops nn_dropout_ops;
extern const nn_layer_ops nn_dense_ops;
extern const nn_layer_ops nn_flatten_ops;
extern const nn_layer_ops nn_quantum_ops;

/* Fusion hooks used by the model: turn a batch norm into batchnorm + relu + 2x2 max pool
 * (its output shape becomes the pooled one); tell a maxpool that is 2x2, stride 2, no
 * padding. */
hq_status nn_batchnorm_fuse_maxpool(hq_layer *l);
bool nn_maxpool_is_2x2(const hq_layer *l);
/* Evaluation-mode batch norm as the affine map v -> scale v + shift per channel (c
 * values each, computed as its evaluation forward does), and whether its pass also
 * applies ReLU and 2x2 max pooling. */
void nn_batchnorm_eval_affine(const hq_layer *l, float *scale, float *shift, bool *relu,
                              bool *pool);
/* Evaluation forward of conv2d l followed by batch norm bn (its input: l's output) with the
 * batch norm folded into the convolution's weights and bias: y is bn's output (pooled when
 * bn fuses the pooling). Writes neither l's output nor bn's cache. */
hq_status nn_conv2d_forward_folded(hq_layer *l, const hq_layer *bn, float *y, const float *x,
                                   int n);
/* One output row of 2x2 max pooling from input rows r0, r1 (2*wo values each): y (wo) the
 * maxima, a (wo) the window position of the first maximum in row-major order (PyTorch's
 * tie rule). Returns nonzero if a NaN was seen (then y and a are not PyTorch's: the caller
 * redoes the plane with the sequential scan). */
int nn_maxpool2_row(float *y, uint8_t *a, const float *r0, const float *r1, int wo);

/* Look a type up in the registry; NULL if unknown. */
const nn_layer_ops *nn_layer_find(const char *type);
/* Comma-separated list of known types (static). */
const char *nn_layer_types(void);

/*
 * Plan a layer from a parsed config (used by the model and by hq_layer_create). *out is a
 * planned but unbound layer (params have NULL pointers). index names the layer in errors.
 */
hq_status nn_layer_plan(const cJSON *cfg, hq_shape in, int index, const nn_plan_ctx *pc,
                        hq_layer **out);
/* Free a layer made by nn_layer_plan / hq_layer_create. */
void nn_layer_destroy(hq_layer *l);

/* True when conv2d layer l runs on the direct 3x3 kernels of nn/conv_direct.c (tests). */
bool nn_conv2d_direct(const hq_layer *l);
/* Reference (naive, direct) kernels kept beside the optimized ones: tests compare. */
void nn_conv2d_ref_forward(float *y, const float *x, const float *w, const float *b, int n, int cin,
                           int h, int wd, int cout, int k, int stride, int pad);
void nn_conv2d_ref_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int n, int cin, int h, int wd, int cout, int k,
                            int stride, int pad);

#endif /* HQ_NN_LAYER_IMPL_H */
