/*
 * nn/pool.c — spatial pooling: max (PyTorch MaxPool2d), average (AvgPool2d with
 * count_include_pad) and global average (AdaptiveAvgPool2d(1)).
 *
 * Config: {"type":"maxpool", "kernel":2, "stride":kernel, "padding":0}
 *         {"type":"avgpool", "kernel":2, "stride":kernel, "padding":0}
 *         {"type":"global_avgpool"}                     (n, c, h, w) -> (n, c, 1, 1)
 * Output planes are floor((h + 2*padding - kernel) / stride) + 1 (ceil_mode off); padding
 * is at most kernel/2, as in PyTorch.
 *
 * Max pooling keeps the window position of each maximum (one byte) for backward. Ties go
 * to the first maximum in row-major window order and a NaN wins, as in PyTorch's CPU
 * kernel, so gradients land on the same element.
 */
#include <math.h>

#include "nn/layer_impl.h"

typedef struct pool_ctx {
    int k, s, p; /* kernel, stride, padding */
    int c, h, w; /* input planes */
    int ho, wo;  /* output planes */
    bool is_max; /* max (true) or average */
} pool_ctx;

typedef struct pool_job {
    hq_layer *l;
    float *out;      /* forward y / backward dx */
    const float *in; /* forward x / backward dy */
    uint8_t *arg;    /* (n, c, ho, wo) window positions */
    int n, n_slots;
} pool_job;

static hq_status pool_plan_common(hq_layer *l, const cJSON *cfg, bool is_max) {
    static const char *const keys[] = {"kernel", "stride", "padding", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    pool_ctx *c = hq_calloc(1, sizeof *c);
    if (!c) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = c;
    c->is_max = is_max;
    if ((st = nn_opt_int(l, cfg, "kernel", 2, 1, 15, &c->k)) != HQ_OK ||
        (st = nn_opt_int(l, cfg, "stride", c->k, 1, 15, &c->s)) != HQ_OK ||
        (st = nn_opt_int(l, cfg, "padding", 0, 0, c->k / 2, &c->p)) != HQ_OK)
        return st;
    c->c = l->in.c;
    c->h = l->in.h;
    c->w = l->in.w;
    if (c->h + 2 * c->p < c->k || c->w + 2 * c->p < c->k)
        return nn_failf(l, HQ_ERR_INVALID_ARG, "kernel %d larger than the padded input %dx%d", c->k,
                        c->h + 2 * c->p, c->w + 2 * c->p);
    c->ho = (c->h + 2 * c->p - c->k) / c->s + 1;
    c->wo = (c->w + 2 * c->p - c->k) / c->s + 1;
    l->out = hq_shape4(l->in.n, c->c, c->ho, c->wo);
    if (is_max) l->cache_bytes = (size_t)hq_shape_numel(l->out);
    return HQ_OK;
}

static hq_status maxpool_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    return pool_plan_common(l, cfg, true);
}
static hq_status avgpool_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    return pool_plan_common(l, cfg, false);
}

/* ---- max ----------------------------------------------------------------------------- */

/* One plane, any kernel / stride / padding: PyTorch's scan (first maximum in row-major
 * window order; a NaN replaces the maximum). */
static void maxpool_plane(float *y, uint8_t *a, const float *x, const pool_ctx *c) {
    for (int oh = 0; oh < c->ho; oh++)
        for (int ow = 0; ow < c->wo; ow++) {
            int h0 = oh * c->s - c->p, w0 = ow * c->s - c->p;
            float m = -INFINITY;
            int idx = -1;
            for (int kh = 0; kh < c->k; kh++) {
                int ih = h0 + kh;
                if (ih < 0 || ih >= c->h) continue;
                for (int kw = 0; kw < c->k; kw++) {
                    int iw = w0 + kw;
                    if (iw < 0 || iw >= c->w) continue;
                    float v = x[(int64_t)ih * c->w + iw];
                    if (idx < 0 || v > m || isnan(v)) {
                        m = v;
                        idx = kh * c->k + kw;
                    }
                }
            }
            y[oh * c->wo + ow] = m;
            a[oh * c->wo + ow] = (uint8_t)idx;
        }
}

/* 2x2, stride 2, no padding, branch-free: the maximum, then the first window position
 * holding it (PyTorch's tie rule; -0 and +0 compare equal). Four outputs at a time with
 * lane shuffles separating even and odd columns; the rest scalar. */
int nn_maxpool2_row(float *y, uint8_t *a, const float *r0, const float *r1, int wo) {
    int ow = 0;
    nn_i4 bad = {0};
#if NN_HAVE_SHUFFLE
    for (; ow + 4 <= wo; ow += 4) {
        nn_f4 w4[4];
        nn_window2x2_f4(w4, r0, r1, ow);
        nn_f4 v0 = w4[0], v1 = w4[1], v2 = w4[2], v3 = w4[3];
        nn_i4 t1 = v1 > v0, t2 = v3 > v2;
        nn_f4 m01 = (nn_f4)(((nn_i4)v1 & t1) | ((nn_i4)v0 & ~t1));
        nn_f4 m23 = (nn_f4)(((nn_i4)v3 & t2) | ((nn_i4)v2 & ~t2));
        nn_i4 t3 = m23 > m01;
        nn_f4 m = (nn_f4)(((nn_i4)m23 & t3) | ((nn_i4)m01 & ~t3));
        nn_i4 n0 = -(v0 != m), n1 = -(v1 != m), n2 = -(v2 != m); /* 0 or 1 */
        nn_i4 idx = n0 * (1 + n1 * (1 + n2));
        bad |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
        memcpy(y + ow, &m, 16);
        for (int k = 0; k < 4; k++) a[ow + k] = (uint8_t)idx[k];
    }
#endif
    int nan = bad[0] | bad[1] | bad[2] | bad[3];
    for (; ow < wo; ow++) {
        float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
        float m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
        float m = m23 > m01 ? m23 : m01;
        int n0 = v0 != m, n1 = v1 != m, n2 = v2 != m;
        y[ow] = m;
        a[ow] = (uint8_t)(n0 * (1 + n1 * (1 + n2)));
        nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
    }
    return nan;
}

static int maxpool2_plane(float *y, uint8_t *a, const float *x, const pool_ctx *c) {
    int nan = 0;
    for (int oh = 0; oh < c->ho; oh++) {
        const float *r0 = x + (int64_t)(2 * oh) * c->w;
        nan |= nn_maxpool2_row(y + oh * c->wo, a + oh * c->wo, r0, r0 + c->w, c->wo);
    }
    return nan;
}

static void maxpool_fwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    pool_job *j = arg;
    pool_ctx *c = j->l->ctx;
    int p0 = nn_slot_begin(j->n, j->n_slots, s) * c->c,
        p1 = nn_slot_begin(j->n, j->n_slots, s + 1) * c->c;
    int64_t hw = (int64_t)c->h * c->w, ohw = (int64_t)c->ho * c->wo;
    bool fast = c->k == 2 && c->s == 2 && c->p == 0;
    for (int pl = p0; pl < p1; pl++)
        if (!fast || maxpool2_plane(j->out + pl * ohw, j->arg + pl * ohw, j->in + pl * hw, c))
            maxpool_plane(j->out + pl * ohw, j->arg + pl * ohw, j->in + pl * hw, c);
}

static void maxpool_bwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    pool_job *j = arg;
    pool_ctx *c = j->l->ctx;
    int p0 = nn_slot_begin(j->n, j->n_slots, s) * c->c,
        p1 = nn_slot_begin(j->n, j->n_slots, s + 1) * c->c;
    int64_t hw = (int64_t)c->h * c->w, ohw = (int64_t)c->ho * c->wo;
    bool fast = c->k == 2 && c->s == 2 && c->p == 0;
    for (int pl = p0; pl < p1; pl++) {
        float *dx = j->out + pl * hw;
        const float *dy = j->in + pl * ohw;
        const uint8_t *a = j->arg + pl * ohw;
        if (fast) { /* every input of a window written (gradient or 0); odd edges zeroed */
            for (int oh = 0; oh < c->ho; oh++) {
                float *r0 = dx + (int64_t)(2 * oh) * c->w, *r1 = r0 + c->w;
                const float *g = dy + oh * c->wo;
                const uint8_t *ar = a + oh * c->wo;
                for (int ow = 0; ow < c->wo; ow++) {
                    float v = g[ow];
                    int t = ar[ow];
                    r0[2 * ow] = t == 0 ? v : 0.0f;
                    r0[2 * ow + 1] = t == 1 ? v : 0.0f;
                    r1[2 * ow] = t == 2 ? v : 0.0f;
                    r1[2 * ow + 1] = t == 3 ? v : 0.0f;
                }
                if (c->w & 1) r0[c->w - 1] = r1[c->w - 1] = 0.0f;
            }
            if (c->h & 1) memset(dx + (int64_t)(c->h - 1) * c->w, 0, (size_t)c->w * sizeof(float));
            continue;
        }
        memset(dx, 0, (size_t)hw * sizeof(float));
        for (int oh = 0; oh < c->ho; oh++)
            for (int ow = 0; ow < c->wo; ow++) {
                int idx = a[oh * c->wo + ow];
                int ih = oh * c->s - c->p + idx / c->k, iw = ow * c->s - c->p + idx % c->k;
                dx[(int64_t)ih * c->w + iw] += dy[oh * c->wo + ow];
            }
    }
}

/* ---- average ------------------------------------------------------------------------- */

/* PyTorch's divisor with count_include_pad: the window clipped to the padded input. */
static int avg_divisor(const pool_ctx *c, int oh, int ow) {
    int h0 = oh * c->s - c->p, w0 = ow * c->s - c->p;
    int h1 = HQ_MIN(h0 + c->k, c->h + c->p), w1 = HQ_MIN(w0 + c->k, c->w + c->p);
    return (h1 - h0) * (w1 - w0);
}

static void avgpool_fwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    pool_job *j = arg;
    pool_ctx *c = j->l->ctx;
    int p0 = nn_slot_begin(j->n, j->n_slots, s) * c->c,
        p1 = nn_slot_begin(j->n, j->n_slots, s + 1) * c->c;
    int64_t hw = (int64_t)c->h * c->w, ohw = (int64_t)c->ho * c->wo;
    for (int pl = p0; pl < p1; pl++) {
        const float *x = j->in + pl * hw;
        float *y = j->out + pl * ohw;
        for (int oh = 0; oh < c->ho; oh++)
            for (int ow = 0; ow < c->wo; ow++) {
                int h0 = oh * c->s - c->p, w0 = ow * c->s - c->p;
                float acc = 0;
                for (int ih = HQ_MAX(h0, 0); ih < HQ_MIN(h0 + c->k, c->h); ih++)
                    for (int iw = HQ_MAX(w0, 0); iw < HQ_MIN(w0 + c->k, c->w); iw++)
                        acc += x[(int64_t)ih * c->w + iw];
                y[oh * c->wo + ow] = acc / (float)avg_divisor(c, oh, ow);
            }
    }
}

static void avgpool_bwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    pool_job *j = arg;
    pool_ctx *c = j->l->ctx;
    int p0 = nn_slot_begin(j->n, j->n_slots, s) * c->c,
        p1 = nn_slot_begin(j->n, j->n_slots, s + 1) * c->c;
    int64_t hw = (int64_t)c->h * c->w, ohw = (int64_t)c->ho * c->wo;
    for (int pl = p0; pl < p1; pl++) {
        float *dx = j->out + pl * hw;
        const float *dy = j->in + pl * ohw;
        memset(dx, 0, (size_t)hw * sizeof(float));
        for (int oh = 0; oh < c->ho; oh++)
            for (int ow = 0; ow < c->wo; ow++) {
                int h0 = oh * c->s - c->p, w0 = ow * c->s - c->p;
                float g = dy[oh * c->wo + ow] / (float)avg_divisor(c, oh, ow);
                for (int ih = HQ_MAX(h0, 0); ih < HQ_MIN(h0 + c->k, c->h); ih++)
                    for (int iw = HQ_MAX(w0, 0); iw < HQ_MIN(w0 + c->k, c->w); iw++)
                        dx[(int64_t)ih * c->w + iw] += g;
            }
    }
}

static hq_status pool_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    HQ_UNUSED(pass);
    pool_ctx *c = l->ctx;
    pool_job j = {l, y, x, l->cache, n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, c->is_max ? maxpool_fwd_task : avgpool_fwd_task, &j);
    return HQ_OK;
}

static hq_status pool_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                               const float *y, int n) {
    HQ_UNUSED(x);
    HQ_UNUSED(y);
    if (!dx) return HQ_OK;
    pool_ctx *c = l->ctx;
    pool_job j = {l, dx, dy, l->cache, n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, c->is_max ? maxpool_bwd_task : avgpool_bwd_task, &j);
    return HQ_OK;
}

bool nn_maxpool_is_2x2(const hq_layer *l) {
    const pool_ctx *c = l->ctx;
    return l->ops == &nn_maxpool_ops && c->k == 2 && c->s == 2 && c->p == 0;
}

const nn_layer_ops nn_maxpool_ops = {
    .type = "maxpool",
    .plan = maxpool_plan,
    .forward = pool_forward,
    .backward = pool_backward,
};

const nn_layer_ops nn_avgpool_ops = {
    .type = "avgpool",
    .plan = avgpool_plan,
    .forward = pool_forward,
    .backward = pool_backward,
};

/* ---- global average ------------------------------------------------------------------ */

typedef struct gap_job {
    float *out;
    const float *in;
    int64_t hw;
    int c, n, n_slots;
} gap_job;

static hq_status gap_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    hq_status st = nn_opt_check_keys(l, cfg, NULL);
    if (st != HQ_OK) return st;
    l->out = hq_shape4(l->in.n, l->in.c, 1, 1);
    return HQ_OK;
}

static void gap_fwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    gap_job *j = arg;
    int p0 = nn_slot_begin(j->n, j->n_slots, s) * j->c,
        p1 = nn_slot_begin(j->n, j->n_slots, s + 1) * j->c;
    for (int pl = p0; pl < p1; pl++) {
        const float *x = j->in + pl * j->hw;
        double acc = 0;
        for (int64_t q = 0; q < j->hw; q++) acc += x[q];
        j->out[pl] = (float)(acc / (double)j->hw);
    }
}

static void gap_bwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    gap_job *j = arg;
    int p0 = nn_slot_begin(j->n, j->n_slots, s) * j->c,
        p1 = nn_slot_begin(j->n, j->n_slots, s + 1) * j->c;
    for (int pl = p0; pl < p1; pl++) {
        float g = j->in[pl] / (float)j->hw, *dx = j->out + pl * j->hw;
        for (int64_t q = 0; q < j->hw; q++) dx[q] = g;
    }
}

static hq_status gap_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    HQ_UNUSED(pass);
    gap_job j = {y, x, (int64_t)l->in.h * l->in.w, l->in.c, n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, gap_fwd_task, &j);
    return HQ_OK;
}

static hq_status gap_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                              const float *y, int n) {
    HQ_UNUSED(x);
    HQ_UNUSED(y);
    if (!dx) return HQ_OK;
    gap_job j = {dx, dy, (int64_t)l->in.h * l->in.w, l->in.c, n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, gap_bwd_task, &j);
    return HQ_OK;
}

const nn_layer_ops nn_global_avgpool_ops = {
    .type = "global_avgpool",
    .plan = gap_plan,
    .forward = gap_forward,
    .backward = gap_backward,
};
