/*
 * nn/flatten.c — (n, c, h, w) -> (n, c*h*w, 1, 1). The data does not move: the model runs
 * it as an alias (y is x, dx is dy); standalone it copies.
 * Config: {"type":"flatten"}.
 */
#include "nn/layer_impl.h"

static hq_status flatten_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    hq_status st = nn_opt_check_keys(l, cfg, NULL);
    if (st != HQ_OK) return st;
    l->out = hq_shape4(l->in.n, (int32_t)hq_shape_sample(l->in), 1, 1);
    l->alias = true;
    return HQ_OK;
}

static hq_status flatten_forward(hq_layer *l, float *y, const float *x, int n,
                                 const hq_pass *pass) {
    HQ_UNUSED(pass);
    if (y != x) memmove(y, x, (size_t)n * (size_t)hq_shape_sample(l->in) * sizeof(float));
    return HQ_OK;
}

static hq_status flatten_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                                  const float *y, int n) {
    HQ_UNUSED(x);
    HQ_UNUSED(y);
    if (dx && dx != dy) memmove(dx, dy, (size_t)n * (size_t)hq_shape_sample(l->in) * sizeof(float));
    return HQ_OK;
}

const nn_layer_ops nn_flatten_ops = {
    .type = "flatten",
    .plan = flatten_plan,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
