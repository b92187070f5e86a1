/*
 * nn/layer.c — the layer registry (config type -> vtable), planning a layer from JSON,
 * the public single-layer API of nn/layer.h (which owns its memory), and helpers shared
 * by the layer files (option parsing, initialisation fills, error prefixes).
 * The layers themselves are in nn/<type>.c; whole networks in nn/model.c.
 */
#include <math.h>
#include <stdarg.h>

#include "core/rng.h"
#include "nn/layer_impl.h"

/* ==== registry ======================================================================== */

/* Adding a layer type = one file + one row here. */
static const nn_layer_ops *const registry[] = {
    &nn_conv2d_ops,  &nn_batchnorm_ops, &nn_relu_ops,           &nn_tanh_ops,
    &nn_maxpool_ops, &nn_avgpool_ops,   &nn_global_avgpool_ops, &nn_dropout_ops,
    &nn_dense_ops,   &nn_flatten_ops,   &nn_quantum_ops,
};

const nn_layer_ops *nn_layer_find(const char *type) {
    if (!type) return NULL;
    for (size_t i = 0; i < HQ_ARRAY_LEN(registry); i++)
        if (strcmp(registry[i]->type, type) == 0) return registry[i];
    return NULL;
}

const char *nn_layer_types(void) {
    static char buf[256];
    if (!buf[0]) {
        size_t off = 0;
        for (size_t i = 0; i < HQ_ARRAY_LEN(registry) && off < sizeof buf; i++)
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? ", " : "",
                                    registry[i]->type);
    }
    return buf;
}

/* ==== helpers for layer files ========================================================= */

hq_status nn_failf(const hq_layer *l, hq_status s, const char *fmt, ...) {
    char msg[HQ_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hq_failf(l ? (hq_err *)&l->h.err : NULL, s, "layer %d (%s): %s", l ? l->index : -1,
                    l && l->ops ? l->ops->type : "?", msg);
}

int nn_add_param(hq_layer *l, const char *name, bool trainable, int ndim, const int64_t *dims) {
    HQ_ASSERT(l->n_params < NN_MAX_PARAMS && ndim >= 1 && ndim <= HQ_PARAM_MAX_DIMS);
    nn_param *p = &l->params[l->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->dims[i] = dims[i];
        p->numel *= dims[i];
    }
    p->trainable = trainable;
    return l->n_params++;
}

hq_status nn_opt_int(const hq_layer *l, const cJSON *cfg, const char *key, int def, int lo, int hi,
                     int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) {
        *out = def;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return nn_failf(l, HQ_ERR_INVALID_ARG, "option \"%s\" must be an integer in [%d, %d]", key,
                        lo, hi);
    *out = (int)v->valuedouble;
    return HQ_OK;
}

hq_status nn_opt_double(const hq_layer *l, const cJSON *cfg, const char *key, double def, double lo,
                        double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) {
        *out = def;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return nn_failf(l, HQ_ERR_INVALID_ARG, "option \"%s\" must be a number in [%g, %g]", key,
                        lo, hi);
    *out = v->valuedouble;
    return HQ_OK;
}

hq_status nn_opt_bool(const hq_layer *l, const cJSON *cfg, const char *key, bool def, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) {
        *out = def;
        return HQ_OK;
    }
    if (!cJSON_IsBool(v))
        return nn_failf(l, HQ_ERR_INVALID_ARG, "option \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return HQ_OK;
}

hq_status nn_opt_check_keys(const hq_layer *l, const cJSON *cfg, const char *const *allowed) {
    for (const cJSON *it = cfg->child; it; it = it->next) {
        if (!it->string || strcmp(it->string, "type") == 0) continue;
        bool ok = false;
        for (const char *const *a = allowed; a && *a; a++)
            if (strcmp(*a, it->string) == 0) ok = true;
        if (!ok) {
            char list[256] = "";
            size_t off = 0;
            for (const char *const *a = allowed; a && *a && off < sizeof list; a++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s\"%s\"",
                                        a == allowed ? "" : ", ", *a);
            return nn_failf(l, HQ_ERR_INVALID_ARG, "unknown option \"%s\" (valid: %s)", it->string,
                            off ? list : "none");
        }
    }
    return HQ_OK;
}

void nn_fill_uniform(float *p, int64_t n, float lo, float hi, uint64_t seed, int layer, int param) {
    hq_rng r;
    hq_rng_init(&r, seed, hq_rng_stream("init", (uint64_t)layer, (uint64_t)param, 0), 0);
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * (float)hq_rng_uniform(&r);
}

void nn_fill_const(float *p, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) p[i] = v;
}

/* ==== planning ======================================================================== */

hq_status nn_layer_plan(const cJSON *cfg, hq_shape in, int index, const nn_plan_ctx *pc,
                        hq_layer **out) {
    *out = NULL;
    if (!cJSON_IsObject(cfg))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "layer %d: must be a JSON object with \"type\"",
                        index);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "type");
    if (!cJSON_IsString(t))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "layer %d: missing \"type\" (one of: %s)", index,
                        nn_layer_types());
    const nn_layer_ops *ops = nn_layer_find(t->valuestring);
    if (!ops)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "layer %d: unknown type \"%s\" (one of: %s)",
                        index, t->valuestring, nn_layer_types());
    char buf[80];
    if (in.n < 1 || in.c < 1 || in.h < 1 || in.w < 1 || hq_shape_sample(in) > INT32_MAX / 16)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "layer %d (%s): input shape %s invalid (dimensions >= 1, at most 2^27 "
                        "elements per sample)",
                        index, ops->type, hq_shape_str(in, buf, sizeof buf));
    hq_layer *l = hq_calloc(1, sizeof *l);
    if (!l) return hq_failf(NULL, HQ_ERR_NOMEM, "layer %d: out of memory", index);
    l->h.magic = HQ_MAGIC_LAYER;
    l->ops = ops;
    l->index = index;
    l->in = in;
    l->out = in;
    nn_plan_ctx none = {0};
    hq_status st = ops->plan(l, cfg, pc ? pc : &none);
    if (st != HQ_OK) {
        nn_layer_destroy(l);
        return st;
    }
    l->out.n = in.n;
    *out = l;
    return HQ_OK;
}

void nn_layer_destroy(hq_layer *l) {
    if (!l) return;
    if (l->ops && l->ops->destroy)
        l->ops->destroy(l);
    else
        hq_free(l->ctx);
    hq_free(l->own_params);
    hq_free(l->own_cache);
    hq_free(l->own_scratch);
    hq_free(l->own_priv);
    l->h.magic = HQ_MAGIC_DEAD;
    hq_free(l);
}

/* ==== public single-layer API ========================================================= */

hq_status hq_layer_create(const char *json, hq_shape in, hq_layer **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_layer_create: out is NULL");
    *out = NULL;
    if (!json) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_layer_create: json is NULL");
    const char *end = NULL;
    cJSON *cfg = cJSON_ParseWithOpts(json, &end, 1);
    if (!cfg)
        return hq_failf(NULL, HQ_ERR_PARSE, "hq_layer_create: invalid JSON near offset %ld",
                        end ? (long)(end - json) : 0L);
    hq_layer *l;
    hq_status st = nn_layer_plan(cfg, in, 0, NULL, &l);
    cJSON_Delete(cfg);
    if (st != HQ_OK) return st;
    /* one block for params + grads */
    int64_t total = 0;
    for (int i = 0; i < l->n_params; i++)
        total += l->params[i].numel * (l->params[i].trainable ? 2 : 1);
    l->own_params =
        hq_aligned_alloc(NN_ALIGN, nn_align((size_t)(total ? total : 1) * sizeof(float)));
    l->own_cache = hq_aligned_alloc(NN_ALIGN, nn_align(l->cache_bytes ? l->cache_bytes : 1));
    l->own_threads = 1;
    l->own_scratch =
        hq_aligned_alloc(NN_ALIGN, nn_scratch_bytes(l, 1) ? nn_scratch_bytes(l, 1) : NN_ALIGN);
    l->own_priv = hq_calloc(1, nn_align(l->private_thread) ? nn_align(l->private_thread) : 1);
    if (!l->own_params || !l->own_cache || !l->own_scratch || !l->own_priv) {
        nn_layer_destroy(l);
        return hq_failf(NULL, HQ_ERR_NOMEM,
                        "hq_layer_create: out of memory for the layer's buffers");
    }
    memset(l->own_params, 0, (size_t)total * sizeof(float));
    float *p = l->own_params;
    for (int i = 0; i < l->n_params; i++) {
        l->params[i].data = p;
        p += l->params[i].numel;
        if (l->params[i].trainable) {
            l->params[i].grad = p;
            p += l->params[i].numel;
        }
    }
    l->cache = l->own_cache;
    l->scratch = l->own_scratch;
    l->priv = l->own_priv;
    *out = l;
    return HQ_OK;
}

void hq_layer_free(hq_layer *l) {
    if (!l || l->h.magic != HQ_MAGIC_LAYER) return;
    nn_layer_destroy(l);
}

hq_status hq_layer_set_pool(hq_layer *l, hq_nn_pool *pool) {
    HQ_CHECK_HANDLE(l, HQ_MAGIC_LAYER);
    if (!l->own_params)
        return hq_failf(&l->h.err, HQ_ERR_MISUSE,
                        "hq_layer_set_pool: layer %d belongs to a model; set the model's threads",
                        l->index);
    int t = hq_nn_pool_threads(pool);
    if (t > l->own_threads) {
        void *s = hq_aligned_alloc(NN_ALIGN, nn_scratch_bytes(l, t));
        void *pv =
            hq_calloc((size_t)t, nn_align(l->private_thread) ? nn_align(l->private_thread) : 1);
        if (!s || !pv) {
            hq_free(s);
            hq_free(pv);
            return hq_failf(&l->h.err, HQ_ERR_NOMEM,
                            "hq_layer_set_pool: cannot allocate scratch for %d threads", t);
        }
        hq_free(l->own_scratch);
        hq_free(l->own_priv);
        l->own_scratch = l->scratch = s;
        l->own_priv = l->priv = pv;
        l->own_threads = t;
    }
    l->pool = pool;
    return HQ_OK;
}

const char *hq_layer_type(const hq_layer *l) {
    return hq_handle_ok(l, HQ_MAGIC_LAYER) ? l->ops->type : "(invalid layer)";
}
hq_shape hq_layer_out_shape(const hq_layer *l) {
    return hq_handle_ok(l, HQ_MAGIC_LAYER) ? l->out : hq_shape4(0, 0, 0, 0);
}
hq_shape hq_layer_in_shape(const hq_layer *l) {
    return hq_handle_ok(l, HQ_MAGIC_LAYER) ? l->in : hq_shape4(0, 0, 0, 0);
}
int hq_layer_n_params(const hq_layer *l) {
    return hq_handle_ok(l, HQ_MAGIC_LAYER) ? l->n_params : 0;
}

hq_status hq_layer_param(const hq_layer *l, int i, hq_param_info *out) {
    HQ_CHECK_HANDLE(l, HQ_MAGIC_LAYER);
    if (!out || i < 0 || i >= l->n_params)
        return hq_failf((hq_err *)&l->h.err, HQ_ERR_INVALID_ARG,
                        "hq_layer_param: index %d out of range [0, %d)", i, l->n_params);
    const nn_param *p = &l->params[i];
    memset(out, 0, sizeof *out);
    out->name = p->name;
    out->ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++) out->dims[d] = p->dims[d];
    out->numel = p->numel;
    out->trainable = p->trainable;
    out->data = p->data;
    out->grad = p->grad;
    return HQ_OK;
}

hq_status hq_layer_init(hq_layer *l, uint64_t seed) {
    HQ_CHECK_HANDLE(l, HQ_MAGIC_LAYER);
    if (l->ops->init) l->ops->init(l, seed);
    return HQ_OK;
}

static hq_status check_tensor(hq_layer *l, const char *fn, const char *what, const hq_tensor *t,
                              hq_shape want, int n) {
    char a[80], b[80];
    if (!t || !t->data) return hq_failf(&l->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn, what);
    if (t->shape.n != n || !hq_shape_same_sample(t->shape, want))
        return hq_failf(&l->h.err, HQ_ERR_INVALID_ARG, "%s: %s has shape %s, expected %s", fn, what,
                        hq_shape_str(t->shape, a, sizeof a),
                        hq_shape_str(hq_shape4(n, want.c, want.h, want.w), b, sizeof b));
    return HQ_OK;
}

hq_status hq_layer_forward(hq_layer *l, hq_tensor *y, const hq_tensor *x, const hq_pass *pass) {
    HQ_CHECK_HANDLE(l, HQ_MAGIC_LAYER);
    if (!x || !pass)
        return hq_failf(&l->h.err, HQ_ERR_INVALID_ARG, "hq_layer_forward: x or pass is NULL");
    int n = x->shape.n;
    if (n < 1 || n > l->in.n)
        return hq_failf(&l->h.err, HQ_ERR_INVALID_ARG,
                        "hq_layer_forward: batch %d out of range [1, %d] (the maximum batch "
                        "given at create)",
                        n, l->in.n);
    hq_status st = check_tensor(l, "hq_layer_forward", "x", x, l->in, n);
    if (st == HQ_OK) st = check_tensor(l, "hq_layer_forward", "y", y, l->out, n);
    if (st != HQ_OK) return st;
    int prev = nn_blas_single();
    st = l->ops->forward(l, y->data, x->data, n, pass);
    nn_blas_restore(prev);
    l->fwd_x = x->data;
    l->fwd_y = y->data;
    l->fwd_n = st == HQ_OK ? n : 0;
    return st;
}

hq_status hq_layer_backward(hq_layer *l, hq_tensor *dx, const hq_tensor *dy) {
    HQ_CHECK_HANDLE(l, HQ_MAGIC_LAYER);
    if (!l->fwd_n)
        return hq_failf(&l->h.err, HQ_ERR_MISUSE,
                        "hq_layer_backward: no successful forward pass before backward");
    hq_status st = check_tensor(l, "hq_layer_backward", "dy", dy, l->out, l->fwd_n);
    if (st == HQ_OK && dx) st = check_tensor(l, "hq_layer_backward", "dx", dx, l->in, l->fwd_n);
    if (st != HQ_OK) return st;
    int prev = nn_blas_single();
    st = l->ops->backward(l, dx ? dx->data : NULL, dy->data, l->fwd_x, l->fwd_y, l->fwd_n);
    nn_blas_restore(prev);
    return st;
}

hq_status hq_layer_zero_grad(hq_layer *l) {
    HQ_CHECK_HANDLE(l, HQ_MAGIC_LAYER);
    for (int i = 0; i < l->n_params; i++)
        if (l->params[i].grad)
            memset(l->params[i].grad, 0, (size_t)l->params[i].numel * sizeof(float));
    return HQ_OK;
}
