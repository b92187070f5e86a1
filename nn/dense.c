/*
 * nn/dense.c — fully connected layer (PyTorch Linear): y = x W^T + b.
 * Config: {"type":"dense", "out":O, "bias":true}; "out" may be the string "classes" (the
 * model's class count). The input (n, c, h, w) is read as n rows of c*h*w features.
 * Parameters: weight (O, I), bias (O); init U(-1/sqrt(I), 1/sqrt(I)) like PyTorch.
 *
 * The dense layers of HQCNN are tiny (at most 128 x 64), so they run as single sgemm
 * calls on the calling thread.
 */
#include <math.h>

#include "nn/layer_impl.h"

typedef struct dense_ctx {
    int in, out; /* features */
    bool bias;
} dense_ctx;

static hq_status dense_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    static const char *const keys[] = {"out", "bias", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    dense_ctx *d = hq_calloc(1, sizeof *d);
    if (!d) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = d;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cfg, "out");
    if (!o) return nn_failf(l, HQ_ERR_INVALID_ARG, "missing option \"out\" (output features)");
    if (cJSON_IsString(o) && strcmp(o->valuestring, "classes") == 0) {
        if (pc->classes < 1)
            return nn_failf(l, HQ_ERR_INVALID_ARG,
                            "\"out\": \"classes\" needs the model's class count (set \"classes\")");
        d->out = pc->classes;
    } else if ((st = nn_opt_int(l, cfg, "out", 0, 1, 1 << 20, &d->out)) != HQ_OK) {
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "option \"out\" must be an integer in [1, 1048576] or \"classes\"");
    }
    if ((st = nn_opt_bool(l, cfg, "bias", true, &d->bias)) != HQ_OK) return st;
    if (hq_shape_sample(l->in) > (1 << 24))
        return nn_failf(l, HQ_ERR_INVALID_ARG, "%lld input features, more than 2^24",
                        (long long)hq_shape_sample(l->in));
    d->in = (int)hq_shape_sample(l->in);
    l->out = hq_shape4(l->in.n, d->out, 1, 1);
    nn_add_param(l, "weight", true, 2, (int64_t[]){d->out, d->in});
    if (d->bias) nn_add_param(l, "bias", true, 1, (int64_t[]){d->out});
    return HQ_OK;
}

static void dense_init(hq_layer *l, uint64_t seed) {
    dense_ctx *d = l->ctx;
    float bound = 1.0f / sqrtf((float)d->in);
    nn_fill_uniform(l->params[0].data, l->params[0].numel, -bound, bound, seed, l->index, 0);
    if (d->bias)
        nn_fill_uniform(l->params[1].data, l->params[1].numel, -bound, bound, seed, l->index, 1);
}

static hq_status dense_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    HQ_UNUSED(pass);
    dense_ctx *d = l->ctx;
    /* y (n, out) = x (n, in) . W^T (in, out) */
    nn_sgemm(false, true, n, d->out, d->in, 1.0f, x, d->in, l->params[0].data, d->in, 0.0f, y,
             d->out);
    if (d->bias) {
        const float *b = l->params[1].data;
        for (int i = 0; i < n; i++)
            for (int o = 0; o < d->out; o++) y[(int64_t)i * d->out + o] += b[o];
    }
    return HQ_OK;
}

static hq_status dense_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                                const float *y, int n) {
    HQ_UNUSED(y);
    dense_ctx *d = l->ctx;
    /* dW (out, in) += dy^T (out, n) . x (n, in) */
    nn_sgemm(true, false, d->out, d->in, n, 1.0f, dy, d->out, x, d->in, 1.0f, l->params[0].grad,
             d->in);
    if (d->bias) {
        float *db = l->params[1].grad;
        for (int o = 0; o < d->out; o++) {
            double acc = 0;
            for (int i = 0; i < n; i++) acc += dy[(int64_t)i * d->out + o];
            db[o] += (float)acc;
        }
    }
    /* dx (n, in) = dy (n, out) . W (out, in) */
    if (dx)
        nn_sgemm(false, false, n, d->in, d->out, 1.0f, dy, d->out, l->params[0].data, d->in, 0.0f,
                 dx, d->in);
    return HQ_OK;
}

const nn_layer_ops nn_dense_ops = {
    .type = "dense",
    .plan = dense_plan,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
};
