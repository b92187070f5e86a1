/*
 * nn/batchnorm.c — batch normalisation over the channels of (n, c, h, w) tensors
 * (PyTorch BatchNorm2d; BatchNorm1d for (n, c, 1, 1)), optionally fused with a ReLU.
 *
 * Config: {"type":"batchnorm", "momentum":0.1, "eps":1e-5, "relu":false}
 * Parameters: weight (c) = gamma, bias (c) = beta; buffers running_mean (c), running_var (c).
 *
 * Training: statistics of the batch (sums accumulated in double per slot, reduced in slot
 * order), y = x * (gamma * invstd) + (beta - mean * gamma * invstd) as PyTorch computes it,
 * running_mean/var updated with the momentum (the variance unbiased, n/(n-1), as in
 * PyTorch). Evaluation: the running statistics. "relu": true (set by the model when a relu
 * layer follows) applies max(0, .) in the same pass, and backward masks dy with y > 0.
 *
 * "maxpool": true (implies relu; set by the model for batchnorm, relu, maxpool 2x2 stride 2)
 * also pools in the same pass: the output is (n, c, h/2, w/2) plus one byte per output
 * for the window position of the maximum (PyTorch's tie rule: the first maximum in
 * row-major order). The full-resolution normalised tensor is never written; backward
 * routes dL/dpool to that position (where the pooled value is > 0) inside the batch-norm
 * passes. Same numbers as the three layers (the batch-norm gradient sums run in another
 * order: equal to rounding, not bit for bit).
 */
#include <math.h>

#include "nn/layer_impl.h"

typedef struct bn_ctx {
    int c;           /* channels */
    int h, w;        /* plane */
    int64_t hw;      /* elements per channel plane */
    double momentum; /* running average factor (PyTorch default 0.1) */
    double eps;      /* added to the variance (default 1e-5) */
    bool pool;       /* fused 2x2 max pooling (with relu) */
    int ho, wo;      /* pooled plane (pool) */
} bn_ctx;

/* cache: the statistics used by the latest forward */
typedef struct bn_cache {
    int train_stats;  /* 1: batch statistics, 0: running statistics */
    float mean_inv[]; /* mean (c), then invstd (c) */
} bn_cache;

static hq_status bn_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    static const char *const keys[] = {"momentum", "eps", "relu", "maxpool", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    bn_ctx *b = hq_calloc(1, sizeof *b);
    if (!b) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = b;
    bool relu, pool;
    if ((st = nn_opt_double(l, cfg, "momentum", 0.1, 0.0, 1.0, &b->momentum)) != HQ_OK ||
        (st = nn_opt_double(l, cfg, "eps", 1e-5, 1e-30, 1.0, &b->eps)) != HQ_OK ||
        (st = nn_opt_bool(l, cfg, "relu", false, &relu)) != HQ_OK ||
        (st = nn_opt_bool(l, cfg, "maxpool", false, &pool)) != HQ_OK)
        return st;
    l->fuse_relu = relu;
    b->c = l->in.c;
    b->h = l->in.h;
    b->w = l->in.w;
    b->hw = (int64_t)l->in.h * l->in.w;
    int64_t c = b->c;
    nn_add_param(l, "weight", true, 1, &c);
    nn_add_param(l, "bias", true, 1, &c);
    nn_add_param(l, "running_mean", false, 1, &c);
    nn_add_param(l, "running_var", false, 1, &c);
    l->cache_bytes = sizeof(bn_cache) + 2 * (size_t)c * sizeof(float);
    /* per-slot partials (2 doubles per channel), then per-channel coefficients (3 floats) */
    l->scratch_shared = nn_align((size_t)NN_MAX_SLOTS * 2 * (size_t)c * sizeof(double)) +
                        3 * (size_t)c * sizeof(float);
    return pool ? nn_batchnorm_fuse_maxpool(l) : HQ_OK;
}

hq_status nn_batchnorm_fuse_maxpool(hq_layer *l) {
    bn_ctx *b = l->ctx;
    if (l->in.h < 2 || l->in.w < 2)
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "\"maxpool\" needs planes of at least 2x2, got %dx%d", l->in.h, l->in.w);
    b->pool = true;
    l->fuse_relu = true;
    l->scratch_thread = 2 * (size_t)l->in.w * sizeof(float); /* two rows of v */
    b->ho = l->in.h / 2;
    b->wo = l->in.w / 2;
    l->out = hq_shape4(l->in.n, l->in.c, b->ho, b->wo);
    l->cache_bytes = nn_align(sizeof(bn_cache) + 2 * (size_t)b->c * sizeof(float)) +
                     (size_t)hq_shape_numel(l->out);
    return HQ_OK;
}

void nn_batchnorm_eval_affine(const hq_layer *l, float *scale, float *shift, bool *relu,
                              bool *pool) {
    const bn_ctx *b = l->ctx;
    const float *gamma = l->params[0].data, *beta = l->params[1].data;
    const float *rmean = l->params[2].data, *rvar = l->params[3].data;
    for (int c = 0; c < b->c; c++) { /* the arithmetic of bn_forward's evaluation branch */
        float invstd = (float)(1.0 / sqrt((double)rvar[c] + b->eps)), a = invstd * gamma[c];
        scale[c] = a;
        shift[c] = beta[c] - rmean[c] * a;
    }
    *relu = l->fuse_relu;
    *pool = b->pool;
}

/* argmax bytes of the fused pooling, after the statistics in the cache */
static uint8_t *bn_argmax(const hq_layer *l) {
    const bn_ctx *b = l->ctx;
    return (uint8_t *)l->cache + nn_align(sizeof(bn_cache) + 2 * (size_t)b->c * sizeof(float));
}

static void bn_init(hq_layer *l, uint64_t seed) {
    HQ_UNUSED(seed);
    bn_ctx *b = l->ctx;
    nn_fill_const(l->params[0].data, b->c, 1.0f);
    nn_fill_const(l->params[1].data, b->c, 0.0f);
    nn_fill_const(l->params[2].data, b->c, 0.0f);
    nn_fill_const(l->params[3].data, b->c, 1.0f);
}

typedef struct bn_job {
    hq_layer *l;
    float *out;        /* forward y / backward dx */
    const float *x;    /* (n, c, h, w) */
    const float *dy;   /* backward */
    const float *y;    /* backward (relu mask) */
    double *part;      /* (slots, c, 2) */
    const float *coef; /* (3, c): per-channel coefficients of the elementwise pass */
    const float *mean; /* (c) */
    int n, n_slots;
} bn_job;

/* ---- forward ------------------------------------------------------------------------- */

/* Partial sums run in 8 independent float lanes, flushed to double every BN_FLUSH vectors;
 * the order is fixed, so results do not depend on threads. */
#define BN_FLUSH 256

static void sum_sumsq(const float *restrict r, int64_t n, double *s1, double *s2) {
    double d1 = 0, d2 = 0;
    int64_t q = 0;
    while (q + 8 <= n) {
        nn_f8 a1 = {0}, a2 = {0};
        for (int it = 0; it < BN_FLUSH && q + 8 <= n; it++, q += 8) {
            nn_f8 v;
            NN_F8_LOAD(v, r + q);
            a1 += v;
            a2 += v * v;
        }
        d1 += nn_f8_hsum(&a1);
        d2 += nn_f8_hsum(&a2);
    }
    for (; q < n; q++) {
        d1 += r[q];
        d2 += (double)r[q] * r[q];
    }
    *s1 += d1;
    *s2 += d2;
}

/* sum of g' and of g' * (x - m), g' = g masked by y > 0 when relu */
static void sum_dy_dot(const float *restrict g, const float *restrict x, const float *restrict y,
                       bool relu, float m, int64_t n, double *s1, double *s2) {
    double d1 = 0, d2 = 0;
    int64_t q = 0;
    while (q + 8 <= n) {
        nn_f8 a1 = {0}, a2 = {0};
        for (int it = 0; it < BN_FLUSH && q + 8 <= n; it++, q += 8) {
            nn_f8 d, yv, xv;
            NN_F8_LOAD(d, g + q);
            NN_F8_LOAD(xv, x + q);
            if (relu) {
                NN_F8_LOAD(yv, y + q);
                d = NN_F8_MASK_POS(d, yv);
            }
            a1 += d;
            a2 += d * (xv - m);
        }
        d1 += nn_f8_hsum(&a1);
        d2 += nn_f8_hsum(&a2);
    }
    for (; q < n; q++) {
        float d = relu && !(y[q] > 0.0f) ? 0.0f : g[q];
        d1 += d;
        d2 += (double)(d * (x[q] - m));
    }
    *s1 += d1;
    *s2 += d2;
}

static void bn_stats_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    double *p = j->part + (int64_t)s * 2 * b->c;
    memset(p, 0, 2 * (size_t)b->c * sizeof(double));
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++)
            sum_sumsq(j->x + ((int64_t)i * b->c + c) * b->hw, b->hw, &p[2 * c], &p[2 * c + 1]);
}

static void bn_apply_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    const float *scale = j->coef, *shift = j->coef + b->c;
    bool relu = j->l->fuse_relu;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++) {
            int64_t off = ((int64_t)i * b->c + c) * b->hw;
            const float *r = j->x + off;
            float *o = j->out + off, a = scale[c], d = shift[c];
            if (relu)
                for (int64_t q = 0; q < b->hw; q++) {
                    float v = r[q] * a + d;
                    o[q] = v < 0.0f ? 0.0f : v; /* NaN passes, as in torch.relu */
                }
            else
                for (int64_t q = 0; q < b->hw; q++) o[q] = r[q] * a + d;
        }
}

/* One plane: v = relu(x * a + d) into the thread's L1-sized row buffer (two rows at a
 * time, vectorised), then pooled 2x2 (nn_maxpool2_row: PyTorch's tie rule); a plane with
 * a NaN is redone with PyTorch's sequential scan. */
static void bn_pool_plane(float *restrict y, uint8_t *restrict arg, const float *restrict x,
                          float *restrict tmp, const bn_ctx *b, float a, float d) {
    int nan = 0;
    for (int oh = 0; oh < b->ho; oh++) {
        const float *r = x + (int64_t)(2 * oh) * b->w;
        for (int q = 0; q < 2 * b->w; q++) {
            float v = r[q] * a + d;
            tmp[q] = v < 0.0f ? 0.0f : v;
        }
        nan |= nn_maxpool2_row(y + (int64_t)oh * b->wo, arg + (int64_t)oh * b->wo, tmp, tmp + b->w,
                               b->wo);
    }
    if (!nan) return;
    for (int oh = 0; oh < b->ho; oh++)
        for (int ow = 0; ow < b->wo; ow++) {
            float m = 0;
            int idx = -1;
            for (int q = 0; q < 4; q++) {
                float v = x[(int64_t)(2 * oh + q / 2) * b->w + 2 * ow + q % 2] * a + d;
                v = v < 0.0f ? 0.0f : v;
                if (idx < 0 || v > m || isnan(v)) m = v, idx = q;
            }
            y[(int64_t)oh * b->wo + ow] = m;
            arg[(int64_t)oh * b->wo + ow] = (uint8_t)idx;
        }
}

static void bn_apply_pool_task(void *arg, int s, int thread) {
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    const float *scale = j->coef, *shift = j->coef + b->c;
    uint8_t *am = bn_argmax(j->l);
    int64_t ohw = (int64_t)b->ho * b->wo;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++) {
            int64_t pl = (int64_t)i * b->c + c;
            bn_pool_plane(j->out + pl * ohw, am + pl * ohw, j->x + pl * b->hw,
                          nn_scratch_thread(j->l, thread), b, scale[c], shift[c]);
        }
}

static hq_status bn_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    bn_ctx *b = l->ctx;
    bn_cache *cache = l->cache;
    float *mean = cache->mean_inv, *invstd = cache->mean_inv + b->c;
    double *part = l->scratch;
    float *coef = (float *)((char *)l->scratch +
                            nn_align((size_t)NN_MAX_SLOTS * 2 * (size_t)b->c * sizeof(double)));
    float *gamma = l->params[0].data, *beta = l->params[1].data;
    float *rmean = l->params[2].data, *rvar = l->params[3].data;
    bn_job j = {
        .l = l, .out = y, .x = x, .part = part, .coef = coef, .n = n, .n_slots = nn_n_slots(n)};
    if (pass->train) {
        int64_t cnt = (int64_t)n * b->hw;
        if (cnt < 2)
            return nn_failf(l, HQ_ERR_INVALID_ARG,
                            "training needs more than 1 value per channel (batch %d of %dx%d "
                            "planes)",
                            n, l->in.h, l->in.w);
        nn_pool_run(l->pool, j.n_slots, bn_stats_task, &j);
        for (int c = 0; c < b->c; c++) {
            double s1 = 0, s2 = 0;
            for (int s = 0; s < j.n_slots; s++) {
                s1 += part[(int64_t)s * 2 * b->c + 2 * c];
                s2 += part[(int64_t)s * 2 * b->c + 2 * c + 1];
            }
            double m = s1 / (double)cnt, v = s2 / (double)cnt - m * m;
            if (v < 0) v = 0;
            mean[c] = (float)m;
            invstd[c] = (float)(1.0 / sqrt(v + b->eps));
            rmean[c] = (float)((1.0 - b->momentum) * rmean[c] + b->momentum * m);
            rvar[c] = (float)((1.0 - b->momentum) * rvar[c] +
                              b->momentum * v * (double)cnt / (double)(cnt - 1));
        }
        cache->train_stats = 1;
    } else {
        for (int c = 0; c < b->c; c++) {
            mean[c] = rmean[c];
            invstd[c] = (float)(1.0 / sqrt((double)rvar[c] + b->eps));
        }
        cache->train_stats = 0;
    }
    for (int c = 0; c < b->c; c++) {
        float a = invstd[c] * gamma[c];
        coef[c] = a;
        coef[b->c + c] = beta[c] - mean[c] * a;
    }
    nn_pool_run(l->pool, j.n_slots, b->pool ? bn_apply_pool_task : bn_apply_task, &j);
    return HQ_OK;
}

/* ---- backward ------------------------------------------------------------------------ */

static void bn_bstats_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    double *p = j->part + (int64_t)s * 2 * b->c;
    memset(p, 0, 2 * (size_t)b->c * sizeof(double));
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++) {
            int64_t off = ((int64_t)i * b->c + c) * b->hw;
            sum_dy_dot(j->dy + off, j->x + off, j->y + off, j->l->fuse_relu, j->mean[c], b->hw,
                       &p[2 * c], &p[2 * c + 1]);
        }
}

/* Fused pooling: dy' (the gradient at full resolution) is dL/dpool at the window's argmax
 * where the pooled value is > 0, else 0. */
static void bn_bstats_pool_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    double *p = j->part + (int64_t)s * 2 * b->c;
    memset(p, 0, 2 * (size_t)b->c * sizeof(double));
    const uint8_t *am = bn_argmax(j->l);
    int64_t ohw = (int64_t)b->ho * b->wo;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++) {
            int64_t pl = (int64_t)i * b->c + c;
            const float *g = j->dy + pl * ohw, *y = j->y + pl * ohw, *x = j->x + pl * b->hw;
            const uint8_t *a = am + pl * ohw;
            float m = j->mean[c], s1 = 0, s2 = 0;
            for (int oh = 0; oh < b->ho; oh++)
                for (int ow = 0; ow < b->wo; ow++) {
                    int64_t o = (int64_t)oh * b->wo + ow;
                    int q = a[o];
                    float d = y[o] > 0.0f ? g[o] : 0.0f;
                    float xv = x[(int64_t)(2 * oh + (q >> 1)) * b->w + 2 * ow + (q & 1)];
                    s1 += d;
                    s2 += d * (xv - m);
                }
            p[2 * c] += s1;
            p[2 * c + 1] += s2;
        }
}

static void bn_dx_pool_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    const float *c1 = j->coef, *c2 = j->coef + b->c, *c3 = j->coef + 2 * b->c;
    const uint8_t *am = bn_argmax(j->l);
    int64_t ohw = (int64_t)b->ho * b->wo;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++) {
            int64_t pl = (int64_t)i * b->c + c;
            const float *g = j->dy + pl * ohw, *y = j->y + pl * ohw, *x = j->x + pl * b->hw;
            const uint8_t *a = am + pl * ohw;
            float *o = j->out + pl * b->hw, a1 = c1[c], a2 = c2[c], a3 = c3[c];
            /* dx = a2 x + a3 everywhere, plus a1 dy' at the maxima */
            for (int64_t q = 0; q < b->hw; q++) o[q] = a2 * x[q] + a3;
            for (int oh = 0; oh < b->ho; oh++)
                for (int ow = 0; ow < b->wo; ow++) {
                    int64_t k = (int64_t)oh * b->wo + ow;
                    int q = a[k];
                    float d = y[k] > 0.0f ? g[k] : 0.0f;
                    int64_t at = (int64_t)(2 * oh + (q >> 1)) * b->w + 2 * ow + (q & 1);
                    o[at] = a1 * d + a2 * x[at] + a3;
                }
        }
}

static void bn_dx_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    bn_job *j = arg;
    bn_ctx *b = j->l->ctx;
    const float *c1 = j->coef, *c2 = j->coef + b->c, *c3 = j->coef + 2 * b->c;
    bool relu = j->l->fuse_relu;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++)
        for (int c = 0; c < b->c; c++) {
            int64_t off = ((int64_t)i * b->c + c) * b->hw;
            const float *g = j->dy + off, *xr = j->x + off, *yr = j->y + off;
            float *o = j->out + off, a1 = c1[c], a2 = c2[c], a3 = c3[c];
            if (relu)
                for (int64_t q = 0; q < b->hw; q++) {
                    float d = yr[q] > 0.0f ? g[q] : 0.0f;
                    o[q] = a1 * d + a2 * xr[q] + a3;
                }
            else
                for (int64_t q = 0; q < b->hw; q++) o[q] = a1 * g[q] + a2 * xr[q] + a3;
        }
}

static hq_status bn_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                             const float *y, int n) {
    bn_ctx *b = l->ctx;
    bn_cache *cache = l->cache;
    float *mean = cache->mean_inv, *invstd = cache->mean_inv + b->c;
    double *part = l->scratch;
    float *coef = (float *)((char *)l->scratch +
                            nn_align((size_t)NN_MAX_SLOTS * 2 * (size_t)b->c * sizeof(double)));
    const float *gamma = l->params[0].data;
    float *dgamma = l->params[0].grad, *dbeta = l->params[1].grad;
    bn_job j = {.l = l,
                .out = dx,
                .x = x,
                .dy = dy,
                .y = y,
                .part = part,
                .coef = coef,
                .mean = mean,
                .n = n,
                .n_slots = nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, b->pool ? bn_bstats_pool_task : bn_bstats_task, &j);
    double cnt = (double)n * (double)b->hw;
    for (int c = 0; c < b->c; c++) {
        double sdy = 0, dot = 0;
        for (int s = 0; s < j.n_slots; s++) {
            sdy += part[(int64_t)s * 2 * b->c + 2 * c];
            dot += part[(int64_t)s * 2 * b->c + 2 * c + 1];
        }
        double is = invstd[c];
        dgamma[c] += (float)(dot * is);
        dbeta[c] += (float)sdy;
        /* dx = a*(dy - (x - mean)*k - sdy/cnt), a = gamma*invstd, k = dot*invstd^2/cnt;
         * with running statistics (evaluation mode) the statistics do not depend on x:
         * dx = a*dy */
        double a = (double)gamma[c] * is;
        double k = cache->train_stats ? dot * is * is / cnt : 0.0;
        double gm = cache->train_stats ? sdy / cnt : 0.0;
        coef[c] = (float)a;
        coef[b->c + c] = (float)(-a * k);
        coef[2 * b->c + c] = (float)(a * (k * mean[c] - gm));
    }
    if (dx) nn_pool_run(l->pool, j.n_slots, b->pool ? bn_dx_pool_task : bn_dx_task, &j);
    return HQ_OK;
}

const nn_layer_ops nn_batchnorm_ops = {
    .type = "batchnorm",
    .plan = bn_plan,
    .init = bn_init,
    .forward = bn_forward,
    .backward = bn_backward,
};
