/*
 * nn/conv2d.c — 2-D convolution (square kernel, stride, zero padding, optional bias) as
 * im2col + cblas_sgemm, plus the naive direct convolution it is tested against.
 *
 * Config: {"type":"conv2d", "out":C_out, "kernel":3, "stride":1, "padding":0, "bias":true}
 * Parameters: weight (C_out, C_in, k, k), bias (C_out) — PyTorch's Conv2d layout and init.
 *
 * Forward, per slot of the batch (layer_impl.h), in chunks of g images:
 *     col  (K, g*HWo)    = im2col(x[b..b+g))            K = C_in*k*k
 *     y    (C_out, g*HWo) = W (C_out, K) . col            one sgemm per chunk
 * g is chosen from the shapes so that col stays in L2 (one image for the wide early
 * layers, several for the deep 7x7 ones) and written straight into y when g = 1.
 * Backward, per slot and chunk:
 *     dW_slot (C_out, K) += dy (C_out, g*HWo) . col^T     (partials reduced in slot order)
 *     dx: for stride 1 the input gradient is itself a convolution of dy, padded by
 *         k-1-pad, with the kernel flipped and its channel axes swapped:
 *             dx (C_in, g*HW) = Wflip (C_in, C_out*k*k) . im2col(dy)
 *         (a well-shaped gemm, no scatter-add); otherwise the textbook transposed gemm
 *         dcol (K, g*HWo) = W^T . dy and col2im. Both are tested against the direct
 *         reference, which stays here as nn_conv2d_ref_*.
 * 3x3 convolutions with stride 1 and padding 1 skip all of this when the CPU has AVX2 +
 * FMA: the kernels of nn/conv_direct.c work on zero-padded planes, one image at a time
 * (conv_use_direct; the *_direct_task functions).
 */
#include <math.h>
#include <stdlib.h>

#include "nn/conv_direct.h"
#include "nn/layer_impl.h"

/* Budget for one thread's im2col buffer; keeps the gemm operands in the 1 MiB L2. */
#define CONV_COL_BUDGET (448 * 1024)
#define CONV_MAX_CHUNK  16

typedef struct conv_ctx {
    int cin, h, w;       /* input planes */
    int cout, k, stride; /* output channels, kernel size, stride */
    int pad;             /* zero padding on every side */
    int ho, wo;          /* output plane */
    bool bias;           /* has a bias parameter */
    int kk;              /* K = cin*k*k, rows of col */
    int g;               /* images per gemm chunk */
    bool flip;           /* dx by the flipped-kernel convolution (stride 1, pad <= k-1) */
    int64_t ldx;         /* row stride of the im2col(x) buffer: g * HWo */
    int64_t ldy;         /* row stride of the im2col(dy) buffer: g * HW */
    int64_t colx_floats; /* private: im2col(x), K x ldx */
    int64_t coly_floats; /* private: im2col(dy) for the flipped kernel, cout*k*k x ldy */
    int64_t dcol_floats; /* scratch: dcol for col2im, K x g*HWo (when not flip) */
    int64_t tmp_floats;  /* scratch: one chunk of y / dy / dx */
    int64_t part_floats; /* one slot's partial gradient: cout*K + cout */
    bool direct;         /* 3x3 "same" convolution by the kernels of nn/conv_direct.c */
    nn_direct_geom dg;   /* direct: the padded planes */
    int64_t xpad_floats; /* direct, private: x of one image, padded */
    int64_t dpad_floats; /* direct, private: dy of one image, padded */
    int64_t yw_floats;   /* direct, scratch: one image's output (or dx) in padded columns */
    int64_t dyt_floats;  /* direct, scratch: dy of one image, transposed */
    int64_t dwt_floats;  /* direct, scratch: the slot's weight gradient, transposed */
    int64_t apk_floats;  /* direct, shared scratch: packed weights (forward or flipped) */
} conv_ctx;

static inline int ceil4(int v) { return (v + 3) / 4 * 4; }

/* The shared scratch: per-slot partial gradients | a (cout, K) weight copy (flipped for
 * the backward pass, folded for evaluation) | the direct path's packed weights. */
static float *conv_wcopy(const hq_layer *l) {
    const conv_ctx *c = l->ctx;
    return (float *)l->scratch + nn_align((size_t)NN_MAX_SLOTS * (size_t)c->part_floats * 4) / 4;
}
static float *conv_apk(const hq_layer *l) {
    const conv_ctx *c = l->ctx;
    return conv_wcopy(l) + nn_align((size_t)c->kk * c->cout * 4) / 4;
}

/*
 * The direct path (nn/conv_direct.c) takes 3x3 convolutions with stride 1 and padding 1
 * (input and output planes match) on planes at least 4 wide, when the CPU has AVX2 + FMA:
 * all five convolutions of the HQCNN backbone. $HQCNN_NN_DIRECT=0 turns it off (the
 * im2col + sgemm path below, also the one for every other shape); tests compare the two.
 */
static bool conv_use_direct(const conv_ctx *c) {
    if (c->stride != 1 || c->k != 3 || c->pad != 1 || c->w < 4 || c->h < 4 ||
        !nn_direct_available())
        return false;
    const char *e = getenv("HQCNN_NN_DIRECT");
    return !(e && !strcmp(e, "0"));
}

/* ==== im2col / col2im ================================================================= */

/* col rows (ci, kh, kw), columns oh*wo+ow of one image, row stride ldc. With `kept`, the
 * buffer's padding zeros of the fast path are still there from earlier calls with the same
 * layout (a layer's private buffer): only the valid region and the wrapped columns are
 * written. */
static void im2col(float *restrict col, int64_t ldc, const float *restrict x, int cin, int h, int w,
                   int k, int s, int pad, int ho, int wo, bool kept) {
    int64_t hw = (int64_t)h * w, ohw = (int64_t)ho * wo;
    for (int ci = 0; ci < cin; ci++) {
        const float *xp = x + ci * hw;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                float *row = col + (int64_t)((ci * k + kh) * k + kw) * ldc;
                /* valid ow: 0 <= ow*s - pad + kw < w; valid oh likewise */
                int ow0 = pad - kw > 0 ? (pad - kw + s - 1) / s : 0;
                int ow1 = w - 1 + pad - kw >= 0 ? (w - 1 + pad - kw) / s + 1 : 0;
                int oh0 = pad - kh > 0 ? (pad - kh + s - 1) / s : 0;
                int oh1 = h - 1 + pad - kh >= 0 ? (h - 1 + pad - kh) / s + 1 : 0;
                if (ow1 > wo) ow1 = wo;
                if (oh1 > ho) oh1 = ho;
                if (ow0 > ow1) ow0 = ow1;
                if (oh0 > oh1) oh0 = oh1;
                if (s == 1 && wo == w && oh1 > oh0 && ow1 > ow0) {
                    /* "same" width, stride 1: the valid rows are one contiguous shifted copy of
                     * the plane; then zero the columns that wrapped around, and the rows
                     * outside */
                    int64_t d0 = (int64_t)oh0 * wo + ow0, d1 = (int64_t)(oh1 - 1) * wo + ow1;
                    int64_t shift = (int64_t)(kh - pad) * w + (kw - pad);
                    memcpy(row + d0, xp + d0 + shift, (size_t)(d1 - d0) * sizeof(float));
                    if (!kept) {
                        memset(row, 0, (size_t)d0 * sizeof(float));
                        memset(row + d1, 0, (size_t)(ohw - d1) * sizeof(float));
                    }
                    /* column-major order: strided stores, not a run of tiny memsets */
                    for (int ow = 0; ow < ow0; ow++)
                        for (int oh = oh0; oh < oh1; oh++) row[(int64_t)oh * wo + ow] = 0;
                    for (int ow = ow1; ow < wo; ow++)
                        for (int oh = oh0; oh < oh1; oh++) row[(int64_t)oh * wo + ow] = 0;
                    continue;
                }
                for (int oh = 0; oh < ho; oh++) {
                    float *r = row + (int64_t)oh * wo;
                    if (oh < oh0 || oh >= oh1) {
                        for (int ow = 0; ow < wo; ow++) r[ow] = 0;
                        continue;
                    }
                    const float *xr = xp + (int64_t)(oh * s - pad + kh) * w - pad + kw;
                    for (int ow = 0; ow < ow0; ow++) r[ow] = 0;
                    for (int ow = ow0; ow < ow1; ow++) r[ow] = xr[(int64_t)ow * s];
                    for (int ow = ow1; ow < wo; ow++) r[ow] = 0;
                }
            }
    }
}

/* x (one image, zeroed by the caller) += col2im(col). */
static void col2im_add(float *restrict x, const float *restrict col, int64_t ldc, int cin, int h,
                       int w, int k, int s, int pad, int ho, int wo) {
    for (int ci = 0; ci < cin; ci++) {
        float *xp = x + (int64_t)ci * h * w;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                const float *row = col + (int64_t)((ci * k + kh) * k + kw) * ldc;
                int ow0 = pad - kw > 0 ? (pad - kw + s - 1) / s : 0;
                int ow1 = w - 1 + pad - kw >= 0 ? (w - 1 + pad - kw) / s + 1 : 0;
                if (ow1 > wo) ow1 = wo;
                for (int oh = 0; oh < ho; oh++) {
                    int ih = oh * s - pad + kh;
                    if (ih < 0 || ih >= h) continue;
                    float *xr = xp + (int64_t)ih * w - pad + kw;
                    const float *r = row + (int64_t)oh * wo;
                    for (int ow = ow0; ow < ow1; ow++) xr[(int64_t)ow * s] += r[ow];
                }
            }
    }
}

/* sum of r[0..n) in 8 float lanes, combined in double */
static double row_sum(const float *r, int64_t n) {
    nn_f8 a = {0};
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) {
        nn_f8 v;
        NN_F8_LOAD(v, r + q);
        a += v;
    }
    double s = nn_f8_hsum(&a);
    for (; q < n; q++) s += r[q];
    return s;
}

/* ==== plan / init ===================================================================== */

static hq_status conv_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    static const char *const keys[] = {"out", "kernel", "stride", "padding", "bias", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    conv_ctx *c = hq_calloc(1, sizeof *c);
    if (!c) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = c;
    if (!cJSON_GetObjectItemCaseSensitive(cfg, "out"))
        return nn_failf(l, HQ_ERR_INVALID_ARG, "missing option \"out\" (output channels)");
    if ((st = nn_opt_int(l, cfg, "out", 0, 1, 4096, &c->cout)) != HQ_OK ||
        (st = nn_opt_int(l, cfg, "kernel", 3, 1, 15, &c->k)) != HQ_OK ||
        (st = nn_opt_int(l, cfg, "stride", 1, 1, 15, &c->stride)) != HQ_OK ||
        (st = nn_opt_int(l, cfg, "padding", 0, 0, 15, &c->pad)) != HQ_OK ||
        (st = nn_opt_bool(l, cfg, "bias", true, &c->bias)) != HQ_OK)
        return st;
    c->cin = l->in.c;
    c->h = l->in.h;
    c->w = l->in.w;
    if (c->cin > 4096)
        return nn_failf(l, HQ_ERR_INVALID_ARG, "%d input channels, more than 4096", c->cin);
    int eh = c->h + 2 * c->pad - c->k, ew = c->w + 2 * c->pad - c->k;
    if (eh < 0 || ew < 0)
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "kernel %d larger than the padded input %dx%d (padding %d)", c->k,
                        c->h + 2 * c->pad, c->w + 2 * c->pad, c->pad);
    c->ho = eh / c->stride + 1;
    c->wo = ew / c->stride + 1;
    c->kk = c->cin * c->k * c->k;
    c->flip = c->stride == 1 && c->pad <= c->k - 1;
    int64_t hwo = (int64_t)c->ho * c->wo, hwi = (int64_t)c->h * c->w;
    int64_t per_img = (int64_t)c->kk * hwo;
    if (c->flip && (int64_t)c->cout * c->k * c->k * hwi > per_img)
        per_img = (int64_t)c->cout * c->k * c->k * hwi;
    int64_t g = (CONV_COL_BUDGET / 4) / per_img;
    c->g = g < 1 ? 1 : g > CONV_MAX_CHUNK ? CONV_MAX_CHUNK : (int)g;
    if (c->g > l->in.n) c->g = l->in.n;
    c->ldx = c->g * hwo;
    c->ldy = c->g * hwi;
    c->colx_floats = (int64_t)c->kk * c->ldx;
    c->coly_floats = c->flip ? (int64_t)c->cout * c->k * c->k * c->ldy : 0;
    c->dcol_floats = c->flip ? 0 : (int64_t)c->kk * c->ldx;
    int64_t t1 = (int64_t)c->cout * hwo, t2 = (int64_t)c->cin * hwi;
    c->tmp_floats = (t1 > t2 ? t1 : t2) * c->g;
    c->part_floats = (int64_t)c->cout * c->kk + c->cout;
    c->direct = conv_use_direct(c);
    if (c->direct) {
        nn_direct_geom *dg = &c->dg;
        nn_direct_geom_init(dg, c->h, c->w);
        c->g = 1;
        c->colx_floats = c->coly_floats = c->dcol_floats = c->tmp_floats = 0;
        c->xpad_floats = c->cin * dg->plane + dg->slack;
        c->dpad_floats = c->cout * dg->plane + dg->slack;
        c->yw_floats = (int64_t)ceil4(c->cout > c->cin ? c->cout : c->cin) * dg->npad;
        int m16 = nn_direct_m16(c->cout);
        c->dyt_floats = (int64_t)m16 * c->h * c->w;
        c->dwt_floats = (int64_t)nn_direct_dwt_rows(c->cin) * m16;
        int64_t fwd = (int64_t)ceil4(c->cout) * c->kk, bwd = (int64_t)ceil4(c->cin) * c->cout * 9;
        c->apk_floats = fwd > bwd ? fwd : bwd;
    }

    l->out = hq_shape4(l->in.n, c->cout, c->ho, c->wo);
    nn_add_param(l, "weight", true, 4, (int64_t[]){c->cout, c->cin, c->k, c->k});
    if (c->bias) nn_add_param(l, "bias", true, 1, (int64_t[]){c->cout});
    l->cache_bytes = 0;
    l->private_thread = nn_align((size_t)c->colx_floats * 4) +
                        nn_align((size_t)c->coly_floats * 4) +
                        nn_align((size_t)c->xpad_floats * 4) + nn_align((size_t)c->dpad_floats * 4);
    l->scratch_thread = nn_align((size_t)c->dcol_floats * 4) + nn_align((size_t)c->tmp_floats * 4) +
                        nn_align((size_t)c->yw_floats * 4) + nn_align((size_t)c->dyt_floats * 4) +
                        nn_align((size_t)c->dwt_floats * 4);
    l->scratch_shared = nn_align((size_t)NN_MAX_SLOTS * (size_t)c->part_floats * 4) +
                        nn_align((size_t)c->kk * c->cout * 4) + nn_align((size_t)c->apk_floats * 4);
    return HQ_OK;
}

static void conv_init(hq_layer *l, uint64_t seed) {
    conv_ctx *c = l->ctx;
    float bound = 1.0f / sqrtf((float)c->kk);
    nn_fill_uniform(l->params[0].data, l->params[0].numel, -bound, bound, seed, l->index, 0);
    if (c->bias)
        nn_fill_uniform(l->params[1].data, l->params[1].numel, -bound, bound, seed, l->index, 1);
}

/* ==== forward ========================================================================= */

typedef struct conv_job {
    hq_layer *l;
    float *y;        /* (n, cout, ho, wo) */
    const float *x;  /* (n, cin, h, w) */
    const float *dy; /* backward: (n, cout, ho, wo) */
    float *dx;       /* backward: (n, cin, h, w) or NULL */
    float *part;     /* backward: per-slot partial grads */
    const float *wf; /* backward: flipped kernel (cin, cout*k*k); direct path: packed */
    int n, n_slots;
} conv_job;

static void conv_fwd_task(void *arg, int s, int thread) {
    conv_job *j = arg;
    hq_layer *l = j->l;
    conv_ctx *c = l->ctx;
    float *colx = nn_private(l, thread);
    float *tmp = (float *)nn_scratch_thread(l, thread) + nn_align((size_t)c->dcol_floats * 4) / 4;
    const float *wt = l->params[0].data;
    const float *bias = c->bias ? l->params[1].data : NULL;
    int64_t hwo = (int64_t)c->ho * c->wo, in_s = (int64_t)c->cin * c->h * c->w,
            out_s = (int64_t)c->cout * hwo;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int b = nn_slot_begin(j->n, j->n_slots, s); b < b1; b += c->g) {
        int gn = b1 - b < c->g ? b1 - b : c->g;
        int64_t nc = gn * hwo;
        for (int i = 0; i < gn; i++)
            im2col(colx + i * hwo, c->ldx, j->x + (b + i) * in_s, c->cin, c->h, c->w, c->k,
                   c->stride, c->pad, c->ho, c->wo, true);
        /* C starts as the bias and the gemm accumulates (beta = 1): no separate zeroing
         * pass inside OpenBLAS and no bias pass after */
        float *dst = gn == 1 ? j->y + b * out_s : tmp;
        for (int o = 0; o < c->cout; o++) {
            float *r = dst + o * nc, bo = bias ? bias[o] : 0.0f;
            for (int64_t p = 0; p < nc; p++) r[p] = bo;
        }
        nn_sgemm(false, false, c->cout, (int)nc, c->kk, 1.0f, wt, c->kk, colx, (int)c->ldx, 1.0f,
                 dst, (int)nc);
        if (gn > 1)
            for (int i = 0; i < gn; i++)
                for (int o = 0; o < c->cout; o++)
                    memcpy(j->y + (b + i) * out_s + o * hwo, tmp + o * nc + i * hwo,
                           (size_t)hwo * sizeof(float));
    }
}

/* The direct path's forward (defined with the folded evaluation below): y = the
 * convolution with weights w (cout, K) and bias (may be NULL), then relu / 2x2 pool. */
static void conv_direct_forward(hq_layer *l, float *y, const float *x, int n, const float *w,
                                const float *bias, bool relu, bool pool);

static hq_status conv_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    HQ_UNUSED(pass);
    conv_ctx *c = l->ctx;
    if (c->direct) {
        conv_direct_forward(l, y, x, n, l->params[0].data, c->bias ? l->params[1].data : NULL,
                            false, false);
        return HQ_OK;
    }
    conv_job j = {.l = l, .y = y, .x = x, .n = n, .n_slots = nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, conv_fwd_task, &j);
    return HQ_OK;
}

/* ==== evaluation forward with the batch norm folded in ================================ */

/*
 * In evaluation the batch norm after a convolution is the per-channel affine map
 * v -> a v + d (a = gamma / sqrt(running_var + eps), d = beta - running_mean a), so
 *     bn(conv(x)) = (a W) . col + (a b + d):
 * one gemm with scaled weights and bias, then the ReLU (and the 2x2 max pooling) applied to
 * each chunk while it is still in L2. Neither the convolution's output nor the batch
 * norm's input pass is written. The folded weights are recomputed on every call (cout*K
 * products, under 0.1 % of the chunk gemms even at batch 1), so they can never be stale
 * after a weight or running-statistics change.
 */
typedef struct conv_fold_job {
    hq_layer *l;
    float *y;        /* (n, cout, ho, wo), or (n, cout, ho/2, wo/2) when pooled */
    const float *x;  /* (n, cin, h, w) */
    const float *wf; /* folded weights (cout, K); direct path: packed, maybe unfolded */
    const float *bf; /* folded bias (cout); direct path: the conv's bias or NULL */
    bool relu, pool;
    int n, n_slots;
} conv_fold_job;

/* a if a >= b or a is NaN, else b */
static inline float max_nan(float a, float b) { return a >= b || isnan(a) ? a : b; }

/* y (h/2, w/2) = relu(2x2 max of v (h, w), row stride ldv); a NaN in a window gives NaN
 * (as PyTorch's max pool); relu after max = max after relu. Odd last rows / columns are
 * dropped. */
static void relu_pool_plane(float *restrict y, const float *restrict v, int h, int w, int64_t ldv) {
    int ph = h / 2, pw = w / 2;
    for (int oh = 0; oh < ph; oh++) {
        const float *r0 = v + (2 * oh) * ldv, *r1 = r0 + ldv;
        float *yr = y + (int64_t)oh * pw;
        int ow = 0;
#if NN_HAVE_SHUFFLE
        for (; ow + 4 <= pw; ow += 4) {
            nn_f4 w4[4];
            nn_window2x2_f4(w4, r0, r1, ow);
            nn_f4 v0 = w4[0], v1 = w4[1], v2 = w4[2], v3 = w4[3];
            /* keep a where a >= b or a is NaN, else b: the larger, a NaN wins, ties keep
             * the first (as the reference's "v > m" scan) */
            nn_i4 k1 = (v0 >= v1) | (v0 != v0), k2 = (v2 >= v3) | (v2 != v2);
            nn_f4 m01 = (nn_f4)(((nn_i4)v0 & k1) | ((nn_i4)v1 & ~k1));
            nn_f4 m23 = (nn_f4)(((nn_i4)v2 & k2) | ((nn_i4)v3 & ~k2));
            nn_i4 k3 = (m01 >= m23) | (m01 != m01);
            nn_f4 m = (nn_f4)(((nn_i4)m01 & k3) | ((nn_i4)m23 & ~k3));
            m = (nn_f4)((nn_i4)m & ~(m < (nn_f4){0})); /* relu; NaN passes */
            memcpy(yr + ow, &m, 16);
        }
#endif
        for (; ow < pw; ow++) {
            float m01 = max_nan(r0[2 * ow], r0[2 * ow + 1]);
            float m = max_nan(m01, max_nan(r1[2 * ow], r1[2 * ow + 1]));
            yr[ow] = m < 0.0f ? 0.0f : m; /* NaN passes */
        }
    }
}

/* one output plane of the fold: relu (+ pool) or a copy of v (ho x wo, row stride ldv) */
static void fold_store(const conv_fold_job *j, float *restrict yo, const float *restrict v,
                       int64_t ldv) {
    const conv_ctx *c = j->l->ctx;
    if (j->pool) {
        relu_pool_plane(yo, v, c->ho, c->wo, ldv);
        return;
    }
    for (int r = 0; r < c->ho; r++, yo += c->wo, v += ldv) {
        if (j->relu)
            for (int q = 0; q < c->wo; q++)
                yo[q] = v[q] < 0.0f ? 0.0f : v[q]; /* NaN passes, as in torch.relu */
        else
            memcpy(yo, v, (size_t)c->wo * sizeof(float));
    }
}

static void conv_fold_task(void *arg, int s, int thread) {
    conv_fold_job *j = arg;
    hq_layer *l = j->l;
    conv_ctx *c = l->ctx;
    float *colx = nn_private(l, thread);
    float *tmp = (float *)nn_scratch_thread(l, thread) + nn_align((size_t)c->dcol_floats * 4) / 4;
    int64_t hwo = (int64_t)c->ho * c->wo, in_s = (int64_t)c->cin * c->h * c->w;
    int64_t plane = j->pool ? (int64_t)(c->ho / 2) * (c->wo / 2) : hwo;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int b = nn_slot_begin(j->n, j->n_slots, s); b < b1; b += c->g) {
        int gn = b1 - b < c->g ? b1 - b : c->g;
        int64_t nc = gn * hwo;
        for (int i = 0; i < gn; i++)
            im2col(colx + i * hwo, c->ldx, j->x + (b + i) * in_s, c->cin, c->h, c->w, c->k,
                   c->stride, c->pad, c->ho, c->wo, true);
        for (int o = 0; o < c->cout; o++) {
            float *r = tmp + o * nc, bo = j->bf[o];
            for (int64_t p = 0; p < nc; p++) r[p] = bo;
        }
        nn_sgemm(false, false, c->cout, (int)nc, c->kk, 1.0f, j->wf, c->kk, colx, (int)c->ldx, 1.0f,
                 tmp, (int)nc);
        for (int i = 0; i < gn; i++)
            for (int o = 0; o < c->cout; o++)
                fold_store(j, j->y + ((int64_t)(b + i) * c->cout + o) * plane,
                           tmp + o * nc + i * hwo, c->wo);
    }
}

/* the direct path, training forward or folded evaluation: one image at a time, padded,
 * convolved into (ceil4(cout), npad) and stored without the padding columns (fold_store:
 * a plain copy without relu and pool) */
static void conv_direct_fwd_task(void *arg, int s, int thread) {
    conv_fold_job *j = arg;
    hq_layer *l = j->l;
    conv_ctx *c = l->ctx;
    const nn_direct_geom *dg = &c->dg;
    float *xpad = nn_private(l, thread), *yw = nn_scratch_thread(l, thread);
    int64_t in_s = (int64_t)c->cin * c->h * c->w;
    int64_t plane = j->pool ? (int64_t)(c->ho / 2) * (c->wo / 2) : (int64_t)c->ho * c->wo;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int b = nn_slot_begin(j->n, j->n_slots, s); b < b1; b++) {
        nn_direct_pad(xpad, j->x + b * in_s, c->cin, dg);
        nn_direct_conv(yw, dg->npad, xpad, c->cin, dg, j->wf, j->bf, c->cout);
        for (int o = 0; o < c->cout; o++)
            fold_store(j, j->y + ((int64_t)b * c->cout + o) * plane, yw + o * dg->npad, dg->wp);
    }
}

static void conv_direct_forward(hq_layer *l, float *y, const float *x, int n, const float *w,
                                const float *bias, bool relu, bool pool) {
    conv_ctx *c = l->ctx;
    conv_fold_job j = {.l = l,
                       .y = y,
                       .x = x,
                       .wf = conv_apk(l),
                       .bf = bias,
                       .relu = relu,
                       .pool = pool,
                       .n = n,
                       .n_slots = nn_n_slots(n)};
    nn_direct_pack(conv_apk(l), w, c->cout, c->kk);
    nn_pool_run(l->pool, j.n_slots, conv_direct_fwd_task, &j);
}

hq_status nn_conv2d_forward_folded(hq_layer *l, const hq_layer *bn, float *y, const float *x,
                                   int n) {
    conv_ctx *c = l->ctx;
    /* the shared scratch of the backward pass: per-slot partials (>= 2 cout floats) and the
     * weight copy (cout*K floats) */
    float *bf = l->scratch, *wf = conv_wcopy(l);
    float *scale = bf + c->cout;
    bool relu, pool;
    nn_batchnorm_eval_affine(bn, scale, bf, &relu, &pool);
    const float *w = l->params[0].data, *bias = c->bias ? l->params[1].data : NULL;
    for (int o = 0; o < c->cout; o++) {
        float a = scale[o];
        for (int q = 0; q < c->kk; q++) wf[(int64_t)o * c->kk + q] = w[(int64_t)o * c->kk + q] * a;
        bf[o] = (bias ? bias[o] : 0.0f) * a + bf[o];
    }
    if (c->direct) {
        conv_direct_forward(l, y, x, n, wf, bf, relu, pool);
        return HQ_OK;
    }
    conv_fold_job j = {.l = l,
                       .y = y,
                       .x = x,
                       .wf = wf,
                       .bf = bf,
                       .relu = relu,
                       .pool = pool,
                       .n = n,
                       .n_slots = nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, conv_fold_task, &j);
    return HQ_OK;
}

/* ==== backward ======================================================================== */

static void conv_bwd_task(void *arg, int s, int thread) {
    conv_job *j = arg;
    hq_layer *l = j->l;
    conv_ctx *c = l->ctx;
    float *colx = nn_private(l, thread);
    float *coly = colx + nn_align((size_t)c->colx_floats * 4) / 4;
    float *dcol = nn_scratch_thread(l, thread);
    float *tmp = dcol + nn_align((size_t)c->dcol_floats * 4) / 4;
    const float *wt = l->params[0].data;
    int64_t hwo = (int64_t)c->ho * c->wo, hwi = (int64_t)c->h * c->w;
    int64_t in_s = (int64_t)c->cin * hwi, out_s = (int64_t)c->cout * hwo;
    float *dw = j->part + (int64_t)s * c->part_floats; /* (cout, K) */
    float *db = dw + (int64_t)c->cout * c->kk;         /* (cout) */
    bool first = true;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int b = nn_slot_begin(j->n, j->n_slots, s); b < b1; b += c->g) {
        int gn = b1 - b < c->g ? b1 - b : c->g;
        int64_t nc = gn * hwo, nci = gn * hwi;
        /* dy of the chunk as (cout, gn*hwo) */
        const float *dyc;
        if (gn == 1) {
            dyc = j->dy + b * out_s;
        } else {
            for (int i = 0; i < gn; i++)
                for (int o = 0; o < c->cout; o++)
                    memcpy(tmp + o * nc + i * hwo, j->dy + (b + i) * out_s + o * hwo,
                           (size_t)hwo * sizeof(float));
            dyc = tmp;
        }
        for (int i = 0; i < gn; i++)
            im2col(colx + i * hwo, c->ldx, j->x + (b + i) * in_s, c->cin, c->h, c->w, c->k,
                   c->stride, c->pad, c->ho, c->wo, true);
        nn_sgemm(false, true, c->cout, c->kk, (int)nc, 1.0f, dyc, (int)nc, colx, (int)c->ldx,
                 first ? 0.0f : 1.0f, dw, c->kk);
        if (c->bias)
            for (int o = 0; o < c->cout; o++) {
                float acc = (float)row_sum(dyc + o * nc, nc);
                db[o] = first ? acc : db[o] + acc;
            }
        first = false;
        if (!j->dx) continue;
        if (c->flip) {
            int bp = c->k - 1 - c->pad, kc = c->cout * c->k * c->k;
            for (int i = 0; i < gn; i++)
                im2col(coly + i * hwi, c->ldy, j->dy + (b + i) * out_s, c->cout, c->ho, c->wo, c->k,
                       1, bp, c->h, c->w, true);
            if (gn == 1) {
                nn_sgemm(false, false, c->cin, (int)hwi, kc, 1.0f, j->wf, kc, coly, (int)c->ldy,
                         0.0f, j->dx + b * in_s, (int)hwi);
            } else {
                nn_sgemm(false, false, c->cin, (int)nci, kc, 1.0f, j->wf, kc, coly, (int)c->ldy,
                         0.0f, tmp, (int)nci);
                for (int i = 0; i < gn; i++)
                    for (int ci = 0; ci < c->cin; ci++)
                        memcpy(j->dx + (b + i) * in_s + ci * hwi, tmp + ci * nci + i * hwi,
                               (size_t)hwi * sizeof(float));
            }
        } else {
            /* dcol (K, gn*hwo) = W^T dy, then col2im */
            nn_sgemm(true, false, c->kk, (int)nc, c->cout, 1.0f, wt, c->kk, dyc, (int)nc, 0.0f,
                     dcol, (int)nc);
            for (int i = 0; i < gn; i++) {
                float *dxi = j->dx + (b + i) * in_s;
                memset(dxi, 0, (size_t)in_s * sizeof(float));
                col2im_add(dxi, dcol + i * hwo, nc, c->cin, c->h, c->w, c->k, c->stride, c->pad,
                           c->ho, c->wo);
            }
        }
    }
}

/* the direct path, per image: the weight gradient accumulates transposed over the slot
 * (nn_direct_dwt) and is added to the slot's partial at its end; dx is the flipped
 * kernel's convolution of the padded dy (a same convolution: padding k-1-pad = pad) */
static void conv_bwd_direct_task(void *arg, int s, int thread) {
    conv_job *j = arg;
    hq_layer *l = j->l;
    conv_ctx *c = l->ctx;
    const nn_direct_geom *dg = &c->dg;
    float *xpad = nn_private(l, thread);
    float *dpad = xpad + nn_align((size_t)c->xpad_floats * 4) / 4;
    float *yw = nn_scratch_thread(l, thread);
    float *dyt = yw + nn_align((size_t)c->yw_floats * 4) / 4;
    float *dwt = dyt + nn_align((size_t)c->dyt_floats * 4) / 4;
    int64_t hw = (int64_t)c->h * c->w, in_s = c->cin * hw, out_s = c->cout * hw;
    float *dw = j->part + (int64_t)s * c->part_floats; /* (cout, K) */
    float *db = dw + (int64_t)c->cout * c->kk;         /* (cout) */
    memset(dw, 0, (size_t)c->part_floats * sizeof(float));
    memset(dwt, 0, (size_t)c->dwt_floats * sizeof(float));
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int b = nn_slot_begin(j->n, j->n_slots, s); b < b1; b++) {
        const float *dyb = j->dy + b * out_s;
        nn_direct_pad(xpad, j->x + b * in_s, c->cin, dg);
        nn_direct_transpose_dy(dyt, dyb, c->cout, dg);
        nn_direct_dwt(dwt, dyt, c->cout, xpad, c->cin, dg);
        if (c->bias)
            for (int o = 0; o < c->cout; o++) db[o] += (float)row_sum(dyb + o * hw, hw);
        if (!j->dx) continue;
        nn_direct_pad(dpad, dyb, c->cout, dg);
        nn_direct_conv(yw, dg->npad, dpad, c->cout, dg, j->wf, NULL, c->cin);
        nn_direct_unpad(j->dx + b * in_s, yw, dg->npad, c->cin, dg);
    }
    nn_direct_dwt_add(dw, dwt, c->cout, c->kk);
}

typedef struct reduce_job {
    float *dst;        /* += sum of parts */
    const float *part; /* n_parts x stride */
    int64_t count, stride;
    int n_parts;
} reduce_job;

#define REDUCE_CHUNK 4096

static void reduce_task(void *arg, int t, int thread) {
    HQ_UNUSED(thread);
    reduce_job *r = arg;
    int64_t i0 = (int64_t)t * REDUCE_CHUNK, i1 = i0 + REDUCE_CHUNK;
    if (i1 > r->count) i1 = r->count;
    for (int64_t i = i0; i < i1; i++) {
        float acc = r->part[i];
        for (int p = 1; p < r->n_parts; p++) acc += r->part[p * r->stride + i];
        r->dst[i] += acc;
    }
}

static hq_status conv_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                               const float *y, int n) {
    HQ_UNUSED(y);
    conv_ctx *c = l->ctx;
    float *part = l->scratch, *wf = conv_wcopy(l);
    if (dx && (c->flip || c->direct)) {
        /* wf[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw] */
        const float *w = l->params[0].data;
        int k = c->k, kk2 = k * k;
        for (int co = 0; co < c->cout; co++)
            for (int ci = 0; ci < c->cin; ci++)
                for (int q = 0; q < kk2; q++)
                    wf[((int64_t)ci * c->cout + co) * kk2 + q] =
                        w[((int64_t)co * c->cin + ci) * kk2 + (kk2 - 1 - q)];
    }
    conv_job j = {.l = l,
                  .x = x,
                  .dy = dy,
                  .dx = dx,
                  .part = part,
                  .wf = wf,
                  .n = n,
                  .n_slots = nn_n_slots(n)};
    if (dx && c->direct) {
        j.wf = conv_apk(l);
        nn_direct_pack(conv_apk(l), wf, c->cin, c->cout * 9);
    }
    nn_pool_run(l->pool, j.n_slots, c->direct ? conv_bwd_direct_task : conv_bwd_task, &j);
    /* weight grads (cout*K) then bias grads (cout) are contiguous in each part, and the
     * params are bound separately: reduce each */
    reduce_job r = {.dst = l->params[0].grad,
                    .part = part,
                    .count = (int64_t)c->cout * c->kk,
                    .stride = c->part_floats,
                    .n_parts = j.n_slots};
    nn_pool_run(l->pool, (int)((r.count + REDUCE_CHUNK - 1) / REDUCE_CHUNK), reduce_task, &r);
    if (c->bias) {
        reduce_job rb = {.dst = l->params[1].grad,
                         .part = part + (int64_t)c->cout * c->kk,
                         .count = c->cout,
                         .stride = c->part_floats,
                         .n_parts = j.n_slots};
        reduce_task(&rb, 0, 0);
    }
    return HQ_OK;
}

bool nn_conv2d_direct(const hq_layer *l) { return ((const conv_ctx *)l->ctx)->direct; }

const nn_layer_ops nn_conv2d_ops = {
    .type = "conv2d",
    .plan = conv_plan,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
};

/* ==== naive reference ================================================================= */

void nn_conv2d_ref_forward(float *y, const float *x, const float *w, const float *b, int n, int cin,
                           int h, int wd, int cout, int k, int stride, int pad) {
    int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
    for (int bi = 0; bi < n; bi++)
        for (int o = 0; o < cout; o++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double acc = b ? b[o] : 0.0;
                    for (int ci = 0; ci < cin; ci++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                acc += (double)x[(((int64_t)bi * cin + ci) * h + ih) * wd + iw] *
                                       w[(((int64_t)o * cin + ci) * k + kh) * k + kw];
                            }
                    y[(((int64_t)bi * cout + o) * ho + oh) * wo + ow] = (float)acc;
                }
}

void nn_conv2d_ref_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int n, int cin, int h, int wd, int cout, int k,
                            int stride, int pad) {
    int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
    for (int o = 0; o < cout; o++) {
        if (db) {
            double acc = 0;
            for (int bi = 0; bi < n; bi++)
                for (int p = 0; p < ho * wo; p++) acc += dy[((int64_t)bi * cout + o) * ho * wo + p];
            db[o] += (float)acc;
        }
        for (int ci = 0; ci < cin; ci++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    double acc = 0;
                    for (int bi = 0; bi < n; bi++)
                        for (int oh = 0; oh < ho; oh++)
                            for (int ow = 0; ow < wo; ow++) {
                                int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                acc += (double)dy[(((int64_t)bi * cout + o) * ho + oh) * wo + ow] *
                                       x[(((int64_t)bi * cin + ci) * h + ih) * wd + iw];
                            }
                    dw[(((int64_t)o * cin + ci) * k + kh) * k + kw] += (float)acc;
                }
    }
    if (!dx) return;
    /* dx[ih][iw] = sum over (o, kh, kw) with ih = oh*stride - pad + kh for an integer oh */
    for (int bi = 0; bi < n; bi++)
        for (int ci = 0; ci < cin; ci++)
            for (int ih = 0; ih < h; ih++)
                for (int iw = 0; iw < wd; iw++) {
                    double acc = 0;
                    for (int o = 0; o < cout; o++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int th = ih + pad - kh, tw = iw + pad - kw;
                                if (th < 0 || tw < 0 || th % stride || tw % stride) continue;
                                int oh = th / stride, ow = tw / stride;
                                if (oh >= ho || ow >= wo) continue;
                                acc += (double)dy[(((int64_t)bi * cout + o) * ho + oh) * wo + ow] *
                                       w[(((int64_t)o * cin + ci) * k + kh) * k + kw];
                            }
                    dx[(((int64_t)bi * cin + ci) * h + ih) * wd + iw] = (float)acc;
                }
}
