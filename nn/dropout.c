/*
 * nn/dropout.c — inverted dropout: in training y = x * m / (1 - p) with m ~ Bernoulli(1 - p)
 * per element; in evaluation y = x.
 * Config: {"type":"dropout", "p":0.5}
 *
 * The mask of sample i is drawn from the Philox stream (seed, "dropout", epoch, step,
 * layer index) starting at block i * ceil(elements/4), one 32-bit word per element
 * (dropped when the word is below p * 2^32). It is therefore a pure function of the run
 * seed, the step coordinates and the sample's position in the batch: the same for any
 * thread count, and replayed exactly when a step is re-run.
 */
#include <math.h>

#include "core/rng.h"
#include "nn/layer_impl.h"

typedef struct dropout_ctx {
    double p;        /* drop probability in [0, 1) */
    uint32_t thr;    /* drop when the 32-bit draw < thr */
    float scale;     /* 1 / (1 - p) */
    bool last_train; /* the latest forward dropped (backward applies the mask) */
} dropout_ctx;

typedef struct dropout_job {
    hq_layer *l;
    float *out;
    const float *in;
    uint8_t *mask; /* (n, per) */
    uint64_t seed, stream;
    int64_t per;
    int n, n_slots;
} dropout_job;

static hq_status dropout_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    static const char *const keys[] = {"p", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    dropout_ctx *d = hq_calloc(1, sizeof *d);
    if (!d) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = d;
    if ((st = nn_opt_double(l, cfg, "p", 0.5, 0.0, 1.0, &d->p)) != HQ_OK) return st;
    if (d->p >= 1.0)
        return nn_failf(l, HQ_ERR_INVALID_ARG, "option \"p\" must be in [0, 1), got %g", d->p);
    double t = floor(d->p * 4294967296.0);
    d->thr = t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t;
    d->scale = (float)(1.0 / (1.0 - d->p));
    l->cache_bytes = (size_t)hq_shape_numel(l->in);
    return HQ_OK;
}

/* Mask of samples [i0, i1): 1 keep, 0 drop. Exposed to the tests through the layer. */
static void dropout_fwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    dropout_job *j = arg;
    dropout_ctx *d = j->l->ctx;
    int64_t blocks = (j->per + 3) / 4;
    int b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    for (int i = nn_slot_begin(j->n, j->n_slots, s); i < b1; i++) {
        hq_rng r;
        hq_rng_init(&r, j->seed, j->stream, (uint64_t)i * (uint64_t)blocks);
        const float *x = j->in + i * j->per;
        float *y = j->out + i * j->per;
        uint8_t *m = j->mask + i * j->per;
        for (int64_t q = 0; q < j->per; q++) {
            uint8_t keep = hq_rng_u32(&r) >= d->thr;
            m[q] = keep;
            y[q] = keep ? x[q] * d->scale : 0.0f;
        }
    }
}

static hq_status dropout_forward(hq_layer *l, float *y, const float *x, int n,
                                 const hq_pass *pass) {
    dropout_ctx *d = l->ctx;
    int64_t per = hq_shape_sample(l->in);
    d->last_train = pass->train && d->p > 0;
    if (!d->last_train) {
        if (y != x) memmove(y, x, (size_t)n * (size_t)per * sizeof(float));
        return HQ_OK;
    }
    dropout_job j = {
        l,        y,          x,
        l->cache, pass->seed, hq_rng_stream("dropout", pass->epoch, pass->step, (uint64_t)l->index),
        per,      n,          nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, dropout_fwd_task, &j);
    return HQ_OK;
}

static hq_status dropout_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                                  const float *y, int n) {
    HQ_UNUSED(x);
    HQ_UNUSED(y);
    if (!dx) return HQ_OK;
    dropout_ctx *d = l->ctx;
    int64_t cnt = (int64_t)n * hq_shape_sample(l->in);
    if (!d->last_train) {
        if (dx != dy) memmove(dx, dy, (size_t)cnt * sizeof(float));
        return HQ_OK;
    }
    const uint8_t *m = l->cache;
    for (int64_t i = 0; i < cnt; i++) dx[i] = m[i] ? dy[i] * d->scale : 0.0f;
    return HQ_OK;
}

const nn_layer_ops nn_dropout_ops = {
    .type = "dropout",
    .plan = dropout_plan,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
