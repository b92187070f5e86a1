/*
 * nn/tanh.c — y = scale * tanh(x); dx = dy * (scale - y^2 / scale).
 * Config: {"type":"tanh", "scale":1}; "scale" is a number or the string "pi" (the HQCNN
 * angle encoding x = pi * tanh(f) before the quantum layer).
 */
#include <math.h>

#include "nn/layer_impl.h"

typedef struct tanh_ctx {
    float scale; /* output range (-scale, scale) */
} tanh_ctx;

typedef struct tanh_job {
    float *out;
    const float *a, *b; /* forward: x; backward: dy, y */
    float scale;
    int64_t per;
    int n, n_slots;
} tanh_job;

static hq_status tanh_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    static const char *const keys[] = {"scale", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    tanh_ctx *t = hq_calloc(1, sizeof *t);
    if (!t) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = t;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "scale");
    double s = 1.0;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "pi") == 0)
        s = M_PI;
    else if ((st = nn_opt_double(l, cfg, "scale", 1.0, 1e-6, 1e6, &s)) != HQ_OK)
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "option \"scale\" must be a number in [1e-06, 1e+06] or \"pi\"");
    t->scale = (float)s;
    return HQ_OK;
}

static void tanh_fwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    tanh_job *j = arg;
    int64_t i0 = nn_slot_begin(j->n, j->n_slots, s) * j->per,
            i1 = nn_slot_begin(j->n, j->n_slots, s + 1) * j->per;
    for (int64_t i = i0; i < i1; i++) j->out[i] = j->scale * tanhf(j->a[i]);
}

static void tanh_bwd_task(void *arg, int s, int thread) {
    HQ_UNUSED(thread);
    tanh_job *j = arg;
    int64_t i0 = nn_slot_begin(j->n, j->n_slots, s) * j->per,
            i1 = nn_slot_begin(j->n, j->n_slots, s + 1) * j->per;
    for (int64_t i = i0; i < i1; i++) {
        float t = j->b[i] / j->scale;
        j->out[i] = j->a[i] * j->scale * (1.0f - t * t);
    }
}

static hq_status tanh_forward(hq_layer *l, float *y, const float *x, int n, const hq_pass *pass) {
    HQ_UNUSED(pass);
    tanh_ctx *t = l->ctx;
    tanh_job j = {y, x, NULL, t->scale, hq_shape_sample(l->in), n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, tanh_fwd_task, &j);
    return HQ_OK;
}

static hq_status tanh_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                               const float *y, int n) {
    HQ_UNUSED(x);
    if (!dx) return HQ_OK;
    tanh_ctx *t = l->ctx;
    tanh_job j = {dx, dy, y, t->scale, hq_shape_sample(l->in), n, nn_n_slots(n)};
    nn_pool_run(l->pool, j.n_slots, tanh_bwd_task, &j);
    return HQ_OK;
}

const nn_layer_ops nn_tanh_ops = {
    .type = "tanh",
    .plan = tanh_plan,
    .forward = tanh_forward,
    .backward = tanh_backward,
};
