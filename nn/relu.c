/*
 * nn/relu.c — y = max(0, x) (NaN passes through, as torch.relu); dx = dy where y > 0.
 * Config: {"type":"relu"}. When a relu directly follows a batch norm, the model fuses it
 * into that layer's pass (batchnorm "relu") and runs this one as an alias (y = x).
 */
#include "nn/layer_impl.h"

typedef struct relu_job {
    float *out;
    const float *a, *b; /* forward: x; backward: dy, y */
    int64_t per;        /* elements per sample */
    int n, n_slots;
} relu_job;

static hq_status relu_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    return nn_opt_check_keys(l, cfg, NULL);
}

static void relu_fwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    relu_job *j = arg;
    int64_t i0 = nn_slot_begin(j->n, j->n_slots, s) * j->per,
            i1 = nn_slot_begin(j->n, j->n_slots, s + 1) * j->per;
    for (int64_t i = i0; i < i1; i++) j->out[i] = j->a[i] < 0.0f ? 0.0f : j->a[i];
}

static void relu_bwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    relu_job *j = arg;
    int64_t i0 = nn_slot_begin(j->n, j->n_slots, s) * j->per,
            i1 = nn_slot_begin(j->n, j->n_slots, s + 1) * j->per;
    for (int64_t i = i0; i < i1; i++) j->out[i] = j->b[i] > 0.0f ? j->a[i] : 0.0f;
}

static hq_status relu_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    HQ_UNUSED(pass);
    relu_job j = {y, x, NULL, hq_shape_sample(l->in), n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, relu_fwd_task, &j);
    return HQ_OK;
}

static hq_status relu_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                               const float *y, int n) {
    HQ_UNUSED(x);
    if (!dx) return HQ_OK;
    relu_job j = {dx, dy, y, hq_shape_sample(l->in), n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, relu_bwd_task, &j);
    return HQ_OK;
}

const nn_layer_ops nn_relu_ops = {
    .type = "relu",
    .plan = relu_plan,
    .forward = relu_forward,
    .backward = relu_backward,
};
