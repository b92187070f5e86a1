/*
 * nn/model.c — a network assembled from a JSON config: planning the layer stack, the big
 * memory blocks (parameters + buffers, gradients, activations, caches, scratch), forward,
 * loss, backward, optimizer step, and the weight file format. Layers live in nn/<type>.c;
 * the optimizer in nn/optim.c.
 *
 * Memory (sized once at create; nothing is allocated during a training step):
 *   params   trainable parameters, layer order, then non-trainable buffers (running stats)
 *   grads    n_params floats (allocated at the first zero_grad / backward / loss)
 *   input    (max_batch, C, H, W) copy of the batch (the first layer's backward needs it)
 *   act[i]   output of layer i, (max_batch, ...); alias layers share their input's buffer
 *   dbuf[2]  ping-pong gradient buffers of the largest activation (with grads)
 *   cache    each layer's forward-to-backward cache; scratch: shared by all layers
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "core/sha256.h"
#include "nn/layer_impl.h"
#include "nn/loss.h"
#include "nn/model.h"

#define HQ_MAGIC_MODEL 0x4D4F444Cu /* "MODL" */

struct hq_model {
    hq_handle h;
    int n_layers;
    hq_layer **layers; /* n_layers, owned */
    hq_shape in;       /* input, n = max_batch */
    int classes;       /* width of the last layer's output */
    hq_nn_pool *pool;  /* owned; NULL when single-threaded */
    int threads;
    char *config;      /* resolved config JSON, owned */
    int64_t n_params;  /* trainable floats */
    int64_t n_buffers; /* non-trainable floats */
    float *params;     /* n_params + n_buffers */
    float *grads;      /* n_params, lazily */
    float *input;      /* (max_batch, in) */
    float **act;       /* n_layers pointers into act_block (alias: the input's pointer) */
    float *act_block;
    void *cache_block;
    void *scratch;
    void *priv_block;    /* every layer's per-thread private memory */
    int64_t dbuf_floats; /* floats of each dbuf */
    float *dbuf[2];      /* lazily */
    int fwd_n;           /* batch of the latest forward, 0 = none */
    bool have_dlogits;   /* dbuf[0] holds dL/dlogits of the latest forward */
};

/* ==== create ========================================================================== */

static hq_status cfg_int(const cJSON *o, const char *key, int def, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = def;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_create: \"%s\" must be an integer in [%d, %d]", key, lo, hi);
    *out = (int)v->valuedouble;
    return HQ_OK;
}

static hq_status check_top_keys(const cJSON *o) {
    static const char *const allowed[] = {"name",      "comment", "input",  "classes",
                                          "max_batch", "threads", "layers", NULL};
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (it->string && strcmp(*a, it->string) == 0) ok = true;
        if (!ok)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_model_create: unknown model field \"%s\" (valid: name, comment, "
                            "input, classes, max_batch, threads, layers)",
                            it->string ? it->string : "?");
    }
    return HQ_OK;
}

static void *alloc_aligned_zero(size_t bytes) {
    void *p = hq_aligned_alloc(NN_ALIGN, nn_align(bytes ? bytes : 1));
    if (p) memset(p, 0, nn_align(bytes ? bytes : 1));
    return p;
}

/* Resolve the config into m (layers planned, memory allocated). */
static hq_status build(hq_model *m, const cJSON *mo, const hq_model_opts *op) {
    hq_status st = check_top_keys(mo);
    if (st != HQ_OK) return st;
    /* input shape */
    int in_c = 1, in_h = 28, in_w = 28;
    const cJSON *inp = cJSON_GetObjectItemCaseSensitive(mo, "input");
    if (inp) {
        if (!cJSON_IsArray(inp) || cJSON_GetArraySize(inp) != 3)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_model_create: \"input\" must be [channels, height, width]");
        int *dst[3] = {&in_c, &in_h, &in_w};
        for (int i = 0; i < 3; i++) {
            const cJSON *v = cJSON_GetArrayItem(inp, i);
            if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
                v->valuedouble < 1 || v->valuedouble > 4096)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "hq_model_create: \"input\"[%d] must be an integer in [1, 4096]",
                                i);
            *dst[i] = (int)v->valuedouble;
        }
    }
    if (op->in_channels) in_c = op->in_channels;
    if (op->height) in_h = op->height;
    if (op->width) in_w = op->width;
    int classes = 0, max_batch = 128, threads = 0;
    if ((st = cfg_int(mo, "classes", 0, 1, 1 << 20, &classes)) != HQ_OK ||
        (st = cfg_int(mo, "max_batch", 128, 1, 1 << 20, &max_batch)) != HQ_OK ||
        (st = cfg_int(mo, "threads", 0, 0, 64, &threads)) != HQ_OK)
        return st;
    if (op->classes) classes = op->classes;
    if (op->max_batch) max_batch = op->max_batch;
    if (op->threads) threads = op->threads;
    if (in_c < 1 || in_h < 1 || in_w < 1 || max_batch < 1 || classes < 0 || threads < 0 ||
        threads > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_create: option out of range (input %dx%dx%d, classes %d, "
                        "max_batch %d, threads %d)",
                        in_c, in_h, in_w, classes, max_batch, threads);
    m->in = hq_shape4(max_batch, in_c, in_h, in_w);

    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(mo, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_create: \"layers\" must be a non-empty array of layer objects");
    int nl = cJSON_GetArraySize(layers);
    m->layers = hq_calloc((size_t)nl, sizeof *m->layers);
    m->act = hq_calloc((size_t)nl, sizeof *m->act);
    if (!m->layers || !m->act)
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_model_create: out of memory");
    nn_plan_ctx pc = {.classes = classes};
    hq_shape cur = m->in;
    for (int i = 0; i < nl; i++) {
        st = nn_layer_plan(cJSON_GetArrayItem(layers, i), cur, i, &pc, &m->layers[i]);
        if (st != HQ_OK) return st;
        m->n_layers = i + 1;
        cur = m->layers[i]->out;
    }
    if (cur.h != 1 || cur.w != 1) {
        char b[80];
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_create: the last layer outputs %s per batch; a classifier "
                        "needs (n, classes, 1, 1) ---> HINT: end with global_avgpool/flatten "
                        "and a dense layer",
                        hq_shape_str(cur, b, sizeof b));
    }
    if (classes && cur.c != classes)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_create: the last layer has %d outputs but \"classes\" is %d",
                        (int)cur.c, classes);
    m->classes = cur.c;

    /* fuse batchnorm + relu (+ 2x2 maxpool): one pass, the others become aliases of its
     * output (a fused relu then reports the group's output shape) */
    for (int i = 0; i + 1 < m->n_layers && !op->no_fuse; i++)
        if (m->layers[i]->ops == &nn_batchnorm_ops && m->layers[i + 1]->ops == &nn_relu_ops) {
            m->layers[i]->fuse_relu = true;
            m->layers[i + 1]->alias = true;
            if (i + 2 < m->n_layers && nn_maxpool_is_2x2(m->layers[i + 2])) {
                if ((st = nn_batchnorm_fuse_maxpool(m->layers[i])) != HQ_OK) return st;
                m->layers[i + 1]->out = m->layers[i + 2]->out;
                m->layers[i + 2]->alias = true;
            }
        }

    /* evaluation forwards fold each batch norm into the convolution before it (the
     * reference path stays selectable: opts->no_fold or $HQCNN_NN_NO_FOLD=1) */
    const char *nf = getenv("HQCNN_NN_NO_FOLD");
    bool fold = !op->no_fold && !(nf && *nf && strcmp(nf, "0"));
    for (int i = 0; i + 1 < m->n_layers && fold; i++)
        if (m->layers[i]->ops == &nn_conv2d_ops && m->layers[i + 1]->ops == &nn_batchnorm_ops)
            m->layers[i]->fold = m->layers[i + 1];

    /* threads */
    if ((st = hq_nn_pool_create(threads, &m->pool)) != HQ_OK) return st;
    m->threads = hq_nn_pool_threads(m->pool);

    /* parameter block: trainable first, then buffers */
    size_t act_bytes = 0, cache_bytes = 0, scratch_bytes = 0, priv_bytes = 0;
    int64_t maxact = hq_shape_sample(m->in);
    for (int i = 0; i < m->n_layers; i++) {
        hq_layer *l = m->layers[i];
        for (int k = 0; k < l->n_params; k++)
            *(l->params[k].trainable ? &m->n_params : &m->n_buffers) += l->params[k].numel;
        if (!l->alias) act_bytes += nn_align((size_t)hq_shape_numel(l->out) * sizeof(float));
        cache_bytes += nn_align(l->cache_bytes);
        priv_bytes += (size_t)m->threads * nn_align(l->private_thread);
        size_t sb = nn_scratch_bytes(l, m->threads);
        if (sb > scratch_bytes) scratch_bytes = sb;
        if (hq_shape_sample(l->out) > maxact) maxact = hq_shape_sample(l->out);
        l->pool = m->threads > 1 ? m->pool : NULL;
    }
    m->dbuf_floats = maxact * max_batch;
    m->params = alloc_aligned_zero((size_t)(m->n_params + m->n_buffers) * sizeof(float));
    m->input = alloc_aligned_zero((size_t)hq_shape_numel(m->in) * sizeof(float));
    m->act_block = alloc_aligned_zero(act_bytes);
    m->cache_block = alloc_aligned_zero(cache_bytes);
    m->scratch = alloc_aligned_zero(scratch_bytes);
    m->priv_block = alloc_aligned_zero(priv_bytes);
    if (!m->params || !m->input || !m->act_block || !m->cache_block || !m->scratch ||
        !m->priv_block)
        return hq_failf(NULL, HQ_ERR_NOMEM,
                        "hq_model_create: cannot allocate %.1f MB of activations and buffers "
                        "for max_batch %d ---> HINT: lower \"max_batch\"",
                        (double)(act_bytes + cache_bytes + scratch_bytes + priv_bytes) / 1e6,
                        max_batch);
    /* bind */
    float *pt = m->params, *pb = m->params + m->n_params;
    char *ab = (char *)m->act_block, *cb = m->cache_block, *vb = m->priv_block;
    float *prev = m->input;
    for (int i = 0; i < m->n_layers; i++) {
        hq_layer *l = m->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            nn_param *p = &l->params[k];
            if (p->trainable) {
                p->data = pt;
                pt += p->numel;
            } else {
                p->data = pb;
                pb += p->numel;
            }
        }
        l->cache = cb;
        cb += nn_align(l->cache_bytes);
        l->scratch = m->scratch;
        l->priv = vb;
        vb += (size_t)m->threads * nn_align(l->private_thread);
        if (l->alias) {
            m->act[i] = prev;
        } else {
            m->act[i] = (float *)ab;
            ab += nn_align((size_t)hq_shape_numel(l->out) * sizeof(float));
        }
        prev = m->act[i];
    }
    return HQ_OK;
}

/* The resolved config: input and classes filled in, runtime fields dropped. */
static hq_status resolve_config(hq_model *m, const cJSON *mo) {
    cJSON *r = cJSON_CreateObject();
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(mo, "name");
    bool ok = r != NULL;
    if (ok && cJSON_IsString(name))
        ok = cJSON_AddStringToObject(r, "name", name->valuestring) != NULL;
    int dims[3] = {m->in.c, m->in.h, m->in.w};
    cJSON *in = ok ? cJSON_CreateIntArray(dims, 3) : NULL;
    ok = ok && in && cJSON_AddItemToObject(r, "input", in);
    if (!ok) cJSON_Delete(in);
    ok = ok && cJSON_AddNumberToObject(r, "classes", m->classes);
    cJSON *layers = ok ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(mo, "layers"), 1) : NULL;
    ok = ok && layers && cJSON_AddItemToObject(r, "layers", layers);
    if (!ok) cJSON_Delete(layers);
    char *txt = ok ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    m->config = txt ? hq_strdup(txt) : NULL;
    cJSON_free(txt);
    return m->config ? HQ_OK : hq_failf(NULL, HQ_ERR_NOMEM, "hq_model_create: out of memory");
}

hq_status hq_model_create(const char *config_json, const hq_model_opts *opts, hq_model **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_create: out is NULL");
    *out = NULL;
    if (!config_json) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_create: config is NULL");
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(config_json, &end, 1);
    if (!doc) {
        long off = end ? (long)(end - config_json) : 0;
        long line = 1, col = 1;
        for (long i = 0; i < off && config_json[i]; i++) {
            if (config_json[i] == '\n')
                line++, col = 1;
            else
                col++;
        }
        return hq_failf(NULL, HQ_ERR_PARSE, "hq_model_create: invalid JSON at line %ld, column %ld",
                        line, col);
    }
    const cJSON *mo = doc;
    if (cJSON_IsObject(doc) && cJSON_GetObjectItemCaseSensitive(doc, "model") &&
        !cJSON_GetObjectItemCaseSensitive(doc, "layers"))
        mo = cJSON_GetObjectItemCaseSensitive(doc, "model");
    if (!cJSON_IsObject(mo)) {
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_create: the config must be an object with \"layers\" (or a "
                        "\"model\" member holding one)");
    }
    hq_model_opts none = {0};
    hq_model *m = hq_calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_model_create: out of memory");
    }
    m->h.magic = HQ_MAGIC_MODEL;
    hq_status st = build(m, mo, opts ? opts : &none);
    if (st == HQ_OK) st = resolve_config(m, mo);
    cJSON_Delete(doc);
    if (st != HQ_OK) {
        hq_model_free(m);
        return st;
    }
    *out = m;
    return HQ_OK;
}

hq_status hq_model_create_file(const char *path, const hq_model_opts *opts, hq_model **out) {
    if (out) *out = NULL;
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_create_file: path is NULL");
    char *txt;
    hq_status st = hq_file_read(path, 16u << 20, &txt, NULL);
    if (st != HQ_OK) return hq_fail_prefix(NULL, st, "model config '%s'", path);
    st = hq_model_create(txt, opts, out);
    hq_free(txt);
    if (st != HQ_OK) return hq_fail_prefix(NULL, st, "model config '%s'", path);
    return HQ_OK;
}

void hq_model_free(hq_model *m) {
    if (!m || m->h.magic != HQ_MAGIC_MODEL) return;
    for (int i = 0; i < m->n_layers; i++) nn_layer_destroy(m->layers[i]);
    hq_free(m->layers);
    hq_free(m->act);
    hq_nn_pool_free(m->pool);
    hq_free(m->config);
    hq_free(m->params);
    hq_free(m->grads);
    hq_free(m->input);
    hq_free(m->act_block);
    hq_free(m->cache_block);
    hq_free(m->scratch);
    hq_free(m->priv_block);
    hq_free(m->dbuf[0]);
    hq_free(m->dbuf[1]);
    m->h.magic = HQ_MAGIC_DEAD;
    hq_free(m);
}

/* ==== training memory ================================================================= */

static hq_status ensure_train_memory(hq_model *m) {
    if (m->grads && m->dbuf[0]) return HQ_OK;
    if (!m->grads) {
        m->grads = alloc_aligned_zero((size_t)(m->n_params ? m->n_params : 1) * sizeof(float));
        if (!m->grads)
            return hq_failf(&m->h.err, HQ_ERR_NOMEM, "hq_model: cannot allocate gradients");
        float *g = m->grads;
        for (int i = 0; i < m->n_layers; i++)
            for (int k = 0; k < m->layers[i]->n_params; k++) {
                nn_param *p = &m->layers[i]->params[k];
                if (!p->trainable) continue;
                p->grad = g;
                g += p->numel;
            }
    }
    for (int k = 0; k < 2; k++)
        if (!m->dbuf[k]) {
            m->dbuf[k] = alloc_aligned_zero((size_t)m->dbuf_floats * sizeof(float));
            if (!m->dbuf[k])
                return hq_failf(&m->h.err, HQ_ERR_NOMEM,
                                "hq_model: cannot allocate %.1f MB of gradient buffers",
                                (double)m->dbuf_floats * 4 / 1e6);
        }
    return HQ_OK;
}

/* ==== passes ========================================================================== */

hq_status hq_model_init(hq_model *m, uint64_t seed) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->ops->init) m->layers[i]->ops->init(m->layers[i], seed);
    return HQ_OK;
}

/* Layer i is fused into the layer before it (its pass runs there): a range of layers may
 * not start or end between them. */
static bool fused_into_previous(const hq_model *m, int i) {
    return i > 0 && i < m->n_layers && m->layers[i]->alias && m->layers[i]->ops != &nn_flatten_ops;
}

static hq_status check_range(hq_model *m, const char *fn, int first, int last) {
    if (first < 0 || last > m->n_layers || first >= last)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: layer range [%d, %d) invalid (0 <= first < last <= %d)", fn, first,
                        last, m->n_layers);
    int cut = fused_into_previous(m, first) ? first : fused_into_previous(m, last) ? last : -1;
    if (cut >= 0) {
        int g = cut;
        while (fused_into_previous(m, g)) g--;
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: layer %d (%s) runs fused into layer %d (%s); start or end the range "
                        "before layer %d or after the fused group",
                        fn, cut, m->layers[cut]->ops->type, g, m->layers[g]->ops->type, g);
    }
    return HQ_OK;
}

/* layer i reads its input here: the batch copy for i = 0, else layer i-1's output */
static float *layer_input(hq_model *m, int i) { return i == 0 ? m->input : m->act[i - 1]; }

static hq_status forward_range(hq_model *m, int first, int last, int n, const hq_pass *pass) {
    int prev = nn_blas_single();
    hq_status st = HQ_OK;
    for (int i = first; i < last && st == HQ_OK; i++) {
        hq_layer *l = m->layers[i];
        if (l->alias) continue;
        if (l->fold && !pass->train && i + 1 < last) {
            /* conv2d + batch norm in one pass; the batch norm's output is act[i + 1] */
            st = nn_conv2d_forward_folded(l, l->fold, m->act[i + 1], layer_input(m, i), n);
            l->fwd_folded = true;
            i++;
            continue;
        }
        l->fwd_folded = false;
        st = l->ops->forward(l, m->act[i], layer_input(m, i), n, pass);
    }
    nn_blas_restore(prev);
    return st;
}

/* Redo the conv2d + batch-norm pairs in [first, last) whose latest forward ran folded along
 * the reference path (separate passes, evaluation mode), in layer order, so that their
 * outputs and the batch norms' caches exist for backward. The batch norms' outputs are
 * rewritten with the reference path's values (equal to rounding). conv_only: only the
 * convolutions' outputs (for hq_model_activation), the pairs stay marked folded. */
static hq_status unfold_range(hq_model *m, int first, int last, int n, bool conv_only) {
    hq_pass ev = {.train = false};
    hq_status st = HQ_OK;
    int prev = nn_blas_single();
    for (int i = first; i < last && st == HQ_OK; i++) {
        hq_layer *l = m->layers[i];
        if (!l->fold || !l->fwd_folded) continue;
        st = l->ops->forward(l, m->act[i], layer_input(m, i), n, &ev);
        if (st == HQ_OK && !conv_only && i + 1 < m->n_layers) {
            st = l->fold->ops->forward(l->fold, m->act[i + 1], m->act[i], n, &ev);
            l->fwd_folded = false;
        }
    }
    nn_blas_restore(prev);
    return st;
}

/* dbuf[0] holds dL/d(output of layer last-1); on return *cur indexes the buffer holding
 * dL/d(input of layer first) (not computed if !want_dx and first is a computing layer) */
static hq_status backward_range(hq_model *m, int first, int last, int n, bool want_dx, int *cur) {
    *cur = 0;
    hq_status st = unfold_range(m, first, last, n, false);
    if (st != HQ_OK) return st;
    int prev = nn_blas_single();
    for (int i = last - 1; i >= first && st == HQ_OK; i--) {
        hq_layer *l = m->layers[i];
        if (l->alias) continue;
        float *dx = i == first && !want_dx ? NULL : m->dbuf[1 - *cur];
        st = l->ops->backward(l, dx, m->dbuf[*cur], layer_input(m, i), m->act[i], n);
        *cur = 1 - *cur;
    }
    nn_blas_restore(prev);
    return st;
}

hq_status hq_model_forward(hq_model *m, const hq_tensor *x, const hq_pass *pass,
                           hq_tensor *logits) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!x || !x->data || !pass)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_model_forward: x or pass is NULL");
    char a[80];
    int n = x->shape.n;
    if (n < 1 || n > m->in.n || !hq_shape_same_sample(x->shape, m->in))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_model_forward: input shape %s, expected (n, %d, %d, %d) with 1 <= n "
                        "<= %d (max_batch)%s",
                        hq_shape_str(x->shape, a, sizeof a), m->in.c, m->in.h, m->in.w, m->in.n,
                        x->shape.c != m->in.c ? " ---> HINT: grey vs RGB data? set input "
                                                "channels in the config"
                                              : "");
    m->fwd_n = 0;
    m->have_dlogits = false;
    memcpy(m->input, x->data, (size_t)hq_shape_numel(x->shape) * sizeof(float));
    hq_status st = forward_range(m, 0, m->n_layers, n, pass);
    if (st != HQ_OK) return st;
    m->fwd_n = n;
    if (logits) *logits = hq_tensor_view(m->act[m->n_layers - 1], hq_shape4(n, m->classes, 1, 1));
    return HQ_OK;
}

hq_status hq_model_forward_layers(hq_model *m, int first, int last, const hq_tensor *in,
                                  const hq_pass *pass, hq_tensor *out) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    hq_status st = check_range(m, "hq_model_forward_layers", first, last);
    if (st != HQ_OK) return st;
    if (!in || !in->data || !pass)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_model_forward_layers: in or pass is NULL");
    hq_shape want = m->layers[first]->in;
    char a[80];
    int n = in->shape.n;
    if (n < 1 || n > m->in.n || !hq_shape_same_sample(in->shape, want))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_model_forward_layers: input shape %s, layer %d (%s) takes (n, %d, %d, "
                        "%d) with 1 <= n <= %d",
                        hq_shape_str(in->shape, a, sizeof a), first, m->layers[first]->ops->type,
                        want.c, want.h, want.w, m->in.n);
    float *dst = layer_input(m, first);
    if (dst != in->data) memmove(dst, in->data, (size_t)hq_shape_numel(in->shape) * sizeof(float));
    m->have_dlogits = false;
    st = forward_range(m, first, last, n, pass);
    if (st != HQ_OK) {
        m->fwd_n = 0;
        return st;
    }
    m->fwd_n = n;
    if (out) {
        hq_shape s = m->layers[last - 1]->out;
        s.n = n;
        *out = hq_tensor_view(m->act[last - 1], s);
    }
    return HQ_OK;
}

hq_status hq_model_loss(hq_model *m, const int32_t *labels, const float *class_weights,
                        double *loss) {
    return hq_model_loss_ex(m, labels, class_weights, NULL, loss);
}

hq_status hq_model_loss_ex(hq_model *m, const int32_t *labels, const float *class_weights,
                           const hq_ce_opts *opts, double *loss) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!m->fwd_n)
        return hq_failf(&m->h.err, HQ_ERR_MISUSE, "hq_model_loss: no forward pass before the loss");
    if (!labels || !loss)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_model_loss: labels or loss is NULL");
    hq_status st = ensure_train_memory(m);
    if (st != HQ_OK) return st;
    st = hq_loss_softmax_ce_ex(loss, m->dbuf[0], m->act[m->n_layers - 1], labels, class_weights,
                               opts, m->fwd_n, m->classes);
    if (st != HQ_OK) return hq_fail_prefix(&m->h.err, st, "hq_model_loss");
    m->have_dlogits = true;
    return HQ_OK;
}

hq_status hq_model_set_dlogits(hq_model *m, const float *dlogits) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!m->fwd_n)
        return hq_failf(&m->h.err, HQ_ERR_MISUSE, "hq_model_set_dlogits: no forward pass before");
    if (!dlogits)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_model_set_dlogits: dlogits is NULL");
    hq_status st = ensure_train_memory(m);
    if (st != HQ_OK) return st;
    memcpy(m->dbuf[0], dlogits, (size_t)m->fwd_n * (size_t)m->classes * sizeof(float));
    m->have_dlogits = true;
    return HQ_OK;
}

hq_status hq_model_backward(hq_model *m) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!m->have_dlogits)
        return hq_failf(&m->h.err, HQ_ERR_MISUSE,
                        "hq_model_backward: call hq_model_forward then hq_model_loss (or "
                        "hq_model_set_dlogits) first; backward runs once per forward");
    hq_status st = ensure_train_memory(m);
    if (st != HQ_OK) return st;
    int cur;
    st = backward_range(m, 0, m->n_layers, m->fwd_n, false, &cur);
    m->have_dlogits = false; /* dbuf[0] was overwritten */
    return st;
}

hq_status hq_model_backward_layers(hq_model *m, int first, int last, const float *dy, float *dx) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    hq_status st = check_range(m, "hq_model_backward_layers", first, last);
    if (st != HQ_OK) return st;
    if (!dy) return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_model_backward_layers: dy is NULL");
    if (!m->fwd_n)
        return hq_failf(&m->h.err, HQ_ERR_MISUSE,
                        "hq_model_backward_layers: no forward pass of these layers before");
    if ((st = ensure_train_memory(m)) != HQ_OK) return st;
    int n = m->fwd_n, cur;
    memcpy(m->dbuf[0], dy, (size_t)(n * hq_shape_sample(m->layers[last - 1]->out)) * sizeof(float));
    m->have_dlogits = false;
    st = backward_range(m, first, last, n, dx != NULL, &cur);
    if (st == HQ_OK && dx)
        memcpy(dx, m->dbuf[cur],
               (size_t)(n * hq_shape_sample(m->layers[first]->in)) * sizeof(float));
    return st;
}

hq_status hq_model_zero_grad(hq_model *m) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    hq_status st = ensure_train_memory(m);
    if (st != HQ_OK) return st;
    memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
    return HQ_OK;
}

hq_status hq_model_step(hq_model *m, hq_optim *opt, double lr) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (hq_optim_n_params(opt) != m->n_params)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_model_step: optimizer made for %lld parameters, the model has %lld",
                        (long long)hq_optim_n_params(opt), (long long)m->n_params);
    hq_status st = ensure_train_memory(m);
    if (st != HQ_OK) return st;
    return hq_optim_step(opt, m->params, m->grads, lr);
}

/* ==== inspection ====================================================================== */

int64_t hq_model_n_params(const hq_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->n_params : 0;
}
int hq_model_classes(const hq_model *m) { return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->classes : 0; }
hq_shape hq_model_in_shape(const hq_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->in : hq_shape4(0, 0, 0, 0);
}
int hq_model_threads(const hq_model *m) { return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->threads : 0; }
float *hq_model_params(hq_model *m) { return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->params : NULL; }
float *hq_model_grads(hq_model *m) { return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->grads : NULL; }
int hq_model_n_layers(const hq_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->n_layers : 0;
}
hq_layer *hq_model_layer(hq_model *m, int i) {
    if (!hq_handle_ok(m, HQ_MAGIC_MODEL) || i < 0 || i >= m->n_layers) return NULL;
    return m->layers[i];
}
const char *hq_model_config(const hq_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_MODEL) ? m->config : "";
}

hq_status hq_model_activation(hq_model *m, int i, hq_tensor *out) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (i < 0 || i >= m->n_layers || !out)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_model_activation: layer %d out of range [0, %d)", i, m->n_layers);
    if (!m->fwd_n)
        return hq_failf(&m->h.err, HQ_ERR_MISUSE, "hq_model_activation: no forward pass yet");
    hq_status st = unfold_range(m, i, i + 1, m->fwd_n, true);
    if (st != HQ_OK) return st;
    hq_shape s = m->layers[i]->out;
    s.n = m->fwd_n;
    *out = hq_tensor_view(m->act[i], s);
    return HQ_OK;
}

hq_status hq_model_summary(const hq_model *m, hq_sbuf *out) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_summary: out is NULL");
    hq_sbuf_printf(out, "%-5s %-15s %-18s %10s\n", "layer", "type", "output (c, h, w)", "params");
    hq_sbuf_printf(out, "%-5s %-15s (%d, %d, %d)%*s\n", "-", "input", m->in.c, m->in.h, m->in.w, 1,
                   "");
    for (int i = 0; i < m->n_layers; i++) {
        const hq_layer *l = m->layers[i];
        int64_t np = 0;
        for (int k = 0; k < l->n_params; k++)
            if (l->params[k].trainable) np += l->params[k].numel;
        char shp[48], ty[40];
        snprintf(shp, sizeof shp, "(%d, %d, %d)", l->out.c, l->out.h, l->out.w);
        snprintf(ty, sizeof ty, "%s%s", l->ops->type,
                 l->fuse_relu                         ? "+relu"
                 : l->alias && l->ops == &nn_relu_ops ? " (fused)"
                                                      : "");
        hq_sbuf_printf(out, "%-5d %-15s %-18s %10lld\n", i, ty, shp, (long long)np);
    }
    hq_sbuf_printf(out, "trainable parameters: %lld, buffers: %lld, threads: %d, max_batch: %d\n",
                   (long long)m->n_params, (long long)m->n_buffers, m->threads, m->in.n);
    return hq_sbuf_status(out);
}

/* ==== weight files ==================================================================== */

/*
 * Layout (all integers little-endian):
 *   header   8  magic "HQCNNWT\0"
 *            4  u32 format version (1)
 *            4  u32 number of tensors
 *            8  u64 table bytes
 *            8  u64 payload bytes
 *   table    per tensor: u16 name length, name (UTF-8, no NUL), u8 dtype (1 f32, 2 i64,
 *            3 u8), u8 ndim (0..4), ndim x u64 dims, u64 payload offset, u64 bytes
 *   payload  tensor data, each starting at a multiple of 8
 *   digest   32 bytes sha256 of everything before it
 * Tensors: "config" (u8: the resolved model config JSON), "layers.<i>.<name>" (f32, the
 * PyTorch-layout shape), and with an optimizer "optim.config" (u8 JSON), "optim.step"
 * (i64 [1]), "optim.<state>" (f32 [n_params]: exp_avg, exp_avg_sq or momentum_buffer).
 */
#define WF_MAGIC       "HQCNNWT"
#define WF_VERSION     1u
#define WF_HEADER      32u
#define WF_DIGEST      32u
#define WF_F32         1u
#define WF_I64         2u
#define WF_U8          3u
#define WF_MAX_ENTRIES 4096u
#define WF_NAME_MAX    255u

typedef struct wf_entry {
    char name[WF_NAME_MAX + 1];
    uint8_t dtype;
    uint8_t ndim;
    uint64_t dims[4];
    uint64_t offset, bytes; /* within the payload */
    const void *data;       /* save: source; load: pointer into the file */
    bool used;              /* load: consumed */
} wf_entry;

typedef struct wf_list {
    wf_entry *e;
    uint32_t n, cap;
} wf_list;

static void put_u16(hq_sbuf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    hq_sbuf_append(b, x, 2);
}
static void put_u32(hq_sbuf *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
    hq_sbuf_append(b, x, 4);
}
static void put_u64(hq_sbuf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    hq_sbuf_append(b, x, 8);
}
static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static hq_status wf_add(wf_list *l, const char *name, uint8_t dtype, int ndim, const int64_t *dims,
                        const void *data) {
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? 2 * l->cap : 32;
        wf_entry *e = hq_realloc(l->e, cap * sizeof *e);
        if (!e) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_model_save: out of memory");
        l->e = e;
        l->cap = cap;
    }
    wf_entry *e = &l->e[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->ndim = (uint8_t)ndim;
    uint64_t cnt = 1;
    for (int i = 0; i < ndim; i++) cnt *= (uint64_t)(e->dims[i] = (uint64_t)dims[i]);
    e->bytes = cnt * (dtype == WF_F32 ? 4u : dtype == WF_I64 ? 8u : 1u);
    e->data = data;
    return HQ_OK;
}

static hq_status wf_collect(const hq_model *m, const hq_optim *opt, wf_list *l, int64_t *step_val) {
    hq_status st =
        wf_add(l, "config", WF_U8, 1, (int64_t[]){(int64_t)strlen(m->config)}, m->config);
    for (int i = 0; i < m->n_layers && st == HQ_OK; i++) {
        const hq_layer *ly = m->layers[i];
        for (int k = 0; k < ly->n_params && st == HQ_OK; k++) {
            char name[96];
            snprintf(name, sizeof name, "layers.%d.%s", i, ly->params[k].name);
            st =
                wf_add(l, name, WF_F32, ly->params[k].ndim, ly->params[k].dims, ly->params[k].data);
        }
    }
    if (opt && st == HQ_OK) {
        const char *oc = hq_optim_config(opt);
        *step_val = hq_optim_steps(opt);
        st = wf_add(l, "optim.config", WF_U8, 1, (int64_t[]){(int64_t)strlen(oc)}, oc);
        if (st == HQ_OK) st = wf_add(l, "optim.step", WF_I64, 1, (int64_t[]){1}, step_val);
        for (int i = 0; i < hq_optim_n_state(opt) && st == HQ_OK; i++) {
            const char *sn;
            float *sd;
            hq_optim_state((hq_optim *)opt, i, &sn, &sd);
            char name[96];
            snprintf(name, sizeof name, "optim.%s", sn);
            st = wf_add(l, name, WF_F32, 1, (int64_t[]){m->n_params}, sd);
        }
    }
    return st;
}

hq_status hq_model_save_mem(const hq_model *m, const hq_optim *opt, uint8_t **data, size_t *len) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!data || !len) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_save: NULL output");
    *data = NULL;
    *len = 0;
    if (opt && hq_optim_n_params(opt) == 0)
        return hq_failf(NULL, HQ_ERR_MISUSE, "hq_model_save: invalid optimizer handle");
    if (opt && hq_optim_n_params(opt) != m->n_params)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_model_save: optimizer made for %lld parameters, the model has %lld",
                        (long long)hq_optim_n_params(opt), (long long)m->n_params);
    wf_list l = {0};
    int64_t step_val = 0;
    hq_status st = wf_collect(m, opt, &l, &step_val);
    if (st != HQ_OK) {
        hq_free(l.e);
        return st;
    }
    uint64_t payload = 0, table = 0;
    for (uint32_t i = 0; i < l.n; i++) {
        l.e[i].offset = payload;
        payload += (l.e[i].bytes + 7) & ~(uint64_t)7;
        table += 2 + strlen(l.e[i].name) + 2 + 8u * l.e[i].ndim + 16;
    }
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_append(&b, WF_MAGIC, 8); /* includes the NUL */
    put_u32(&b, WF_VERSION);
    put_u32(&b, l.n);
    put_u64(&b, table);
    put_u64(&b, payload);
    for (uint32_t i = 0; i < l.n; i++) {
        const wf_entry *e = &l.e[i];
        put_u16(&b, (uint16_t)strlen(e->name));
        hq_sbuf_append(&b, e->name, strlen(e->name));
        hq_sbuf_putc(&b, (char)e->dtype);
        hq_sbuf_putc(&b, (char)e->ndim);
        for (int d = 0; d < e->ndim; d++) put_u64(&b, e->dims[d]);
        put_u64(&b, e->offset);
        put_u64(&b, e->bytes);
    }
    static const uint8_t zeros[8] = {0};
    for (uint32_t i = 0; i < l.n; i++) {
        const wf_entry *e = &l.e[i];
        if (e->dtype == WF_F32 || e->dtype == WF_I64) { /* little-endian values */
            size_t w = e->dtype == WF_F32 ? 4 : 8;
            for (uint64_t k = 0; k < e->bytes / w; k++) {
                if (w == 4) {
                    uint32_t u;
                    memcpy(&u, (const uint8_t *)e->data + 4 * k, 4);
                    put_u32(&b, u);
                } else {
                    uint64_t u;
                    memcpy(&u, (const uint8_t *)e->data + 8 * k, 8);
                    put_u64(&b, u);
                }
            }
        } else {
            hq_sbuf_append(&b, e->data, (size_t)e->bytes);
        }
        hq_sbuf_append(&b, zeros, (size_t)(((e->bytes + 7) & ~(uint64_t)7) - e->bytes));
    }
    hq_free(l.e);
    if ((st = hq_sbuf_status(&b)) != HQ_OK) {
        hq_sbuf_free(&b);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_model_save: out of memory");
    }
    uint8_t dig[HQ_SHA256_LEN];
    if ((st = hq_sha256(b.p, b.len, dig)) != HQ_OK) {
        hq_sbuf_free(&b);
        return st;
    }
    hq_sbuf_append(&b, dig, sizeof dig);
    if (hq_sbuf_status(&b) != HQ_OK) {
        hq_sbuf_free(&b);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_model_save: out of memory");
    }
    *len = b.len;
    *data = (uint8_t *)hq_sbuf_take(&b);
    return HQ_OK;
}

hq_status hq_model_save(const hq_model *m, const hq_optim *opt, const char *path) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_save: path is NULL");
    uint8_t *data;
    size_t len;
    hq_status st = hq_model_save_mem(m, opt, &data, &len);
    if (st != HQ_OK) return st;
    st = hq_file_write_atomic(path, data, len);
    hq_free(data);
    if (st != HQ_OK) return hq_fail_prefix(NULL, st, "hq_model_save");
    return HQ_OK;
}

/* Validate the container and parse the table (entries point into data). */
static hq_status wf_parse(const uint8_t *data, size_t len, wf_list *l) {
    memset(l, 0, sizeof *l);
    if (len < 8 || memcmp(data, WF_MAGIC, 8) != 0)
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "not an hqcnn weight file (the first 8 bytes are not \"HQCNNWT\\0\")");
    if (len < WF_HEADER + WF_DIGEST)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "weight file truncated: %zu bytes, a valid one has "
                        "at least %u",
                        len, WF_HEADER + WF_DIGEST);
    uint32_t ver = (uint32_t)get_le(data + 8, 4), n = (uint32_t)get_le(data + 12, 4);
    uint64_t table = get_le(data + 16, 8), payload = get_le(data + 24, 8);
    if (ver > WF_VERSION)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "weight file format version %u is newer than this build reads (%u) "
                        "---> HINT: update hqcnn",
                        ver, WF_VERSION);
    if (ver == 0) return hq_failf(NULL, HQ_ERR_CORRUPT, "weight file has format version 0");
    if (table > ((uint64_t)1 << 48) || payload > ((uint64_t)1 << 48))
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "weight file header is damaged (table %llu, payload %llu bytes)",
                        (unsigned long long)table, (unsigned long long)payload);
    uint64_t total = WF_HEADER + table + payload + WF_DIGEST;
    if (total > len)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "weight file truncated: %zu bytes, the header announces %llu", len,
                        (unsigned long long)total);
    if (total < len)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "weight file size %zu does not match its header (%llu bytes announced)",
                        len, (unsigned long long)total);
    uint8_t dig[HQ_SHA256_LEN];
    hq_status st = hq_sha256(data, len - WF_DIGEST, dig);
    if (st != HQ_OK) return st;
    if (memcmp(dig, data + len - WF_DIGEST, WF_DIGEST) != 0)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "weight file checksum mismatch: the file is damaged (sha256 of the "
                        "content differs from the stored one)");
    if (n > WF_MAX_ENTRIES)
        return hq_failf(NULL, HQ_ERR_CORRUPT, "weight file lists %u tensors (at most %u)", n,
                        WF_MAX_ENTRIES);
    l->e = hq_calloc(n ? n : 1, sizeof *l->e);
    if (!l->e) return hq_failf(NULL, HQ_ERR_NOMEM, "weight file: out of memory");
    l->n = l->cap = n;
    const uint8_t *p = data + WF_HEADER, *tend = p + table, *pay = tend;
    for (uint32_t i = 0; i < n; i++) {
        wf_entry *e = &l->e[i];
        if (tend - p < 2) goto bad;
        uint64_t nl = get_le(p, 2);
        p += 2;
        if (nl == 0 || nl > WF_NAME_MAX || (uint64_t)(tend - p) < nl + 2) goto bad;
        memcpy(e->name, p, nl);
        e->name[nl] = 0;
        p += nl;
        e->dtype = p[0];
        e->ndim = p[1];
        p += 2;
        if (e->ndim > 4 || (e->dtype != WF_F32 && e->dtype != WF_I64 && e->dtype != WF_U8) ||
            (uint64_t)(tend - p) < 8u * e->ndim + 16)
            goto bad;
        uint64_t cnt = 1;
        for (int d = 0; d < e->ndim; d++, p += 8) {
            e->dims[d] = get_le(p, 8);
            if (e->dims[d] > len || (e->dims[d] && cnt > len / e->dims[d])) goto bad;
            cnt *= e->dims[d];
        }
        e->offset = get_le(p, 8);
        e->bytes = get_le(p + 8, 8);
        p += 16;
        uint64_t w = e->dtype == WF_F32 ? 4 : e->dtype == WF_I64 ? 8 : 1;
        if (cnt > len || e->bytes != cnt * w || e->offset > payload ||
            e->bytes > payload - e->offset)
            goto bad;
        e->data = pay + e->offset;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(l->e[j].name, e->name) == 0) goto bad;
    }
    if (p != tend) goto bad;
    return HQ_OK;
bad:
    hq_free(l->e);
    memset(l, 0, sizeof *l);
    return hq_failf(NULL, HQ_ERR_CORRUPT,
                    "weight file table is inconsistent (bad name, type, shape or offset)");
}

static wf_entry *wf_find(wf_list *l, const char *name) {
    for (uint32_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0) return &l->e[i];
    return NULL;
}

static void dims_str(char *buf, size_t cap, int ndim, const uint64_t *d) {
    size_t off = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%llu", i ? ", " : "",
                                (unsigned long long)d[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
}

static void copy_f32(float *dst, const void *src, uint64_t count) {
    const uint8_t *s = src;
    for (uint64_t k = 0; k < count; k++) {
        uint32_t u = (uint32_t)get_le(s + 4 * k, 4);
        memcpy(dst + k, &u, 4);
    }
}

hq_status hq_model_load_mem(hq_model *m, hq_optim *opt, const uint8_t *data, size_t len) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!data) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_load: data is NULL");
    if (opt && hq_optim_n_params(opt) == 0)
        return hq_failf(NULL, HQ_ERR_MISUSE, "hq_model_load: invalid optimizer handle");
    wf_list l;
    hq_status st = wf_parse(data, len, &l);
    if (st != HQ_OK) return st;
    char want[96], got[96];
    /* validate everything first */
    for (int i = 0; i < m->n_layers && st == HQ_OK; i++) {
        const hq_layer *ly = m->layers[i];
        for (int k = 0; k < ly->n_params && st == HQ_OK; k++) {
            const nn_param *p = &ly->params[k];
            char name[96];
            snprintf(name, sizeof name, "layers.%d.%s", i, p->name);
            wf_entry *e = wf_find(&l, name);
            if (!e) {
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                              "weight file has no tensor '%s' (layer %d, %s): it was saved from "
                              "another model config",
                              name, i, ly->ops->type);
                break;
            }
            uint64_t pd[4];
            for (int d = 0; d < p->ndim; d++) pd[d] = (uint64_t)p->dims[d];
            bool same = e->dtype == WF_F32 && e->ndim == p->ndim;
            for (int d = 0; same && d < p->ndim; d++) same = e->dims[d] == pd[d];
            if (!same) {
                dims_str(got, sizeof got, e->ndim, e->dims);
                dims_str(want, sizeof want, p->ndim, pd);
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                              "weight file tensor '%s' has shape %s%s, the model's config "
                              "needs %s",
                              name, got, e->dtype == WF_F32 ? "" : " (not float32)", want);
            }
            e->used = true;
        }
    }
    wf_entry *ostep = NULL, *ostate[2] = {NULL, NULL};
    if (st == HQ_OK && opt) {
        wf_entry *oc = wf_find(&l, "optim.config");
        ostep = wf_find(&l, "optim.step");
        if (!oc || !ostep || ostep->dtype != WF_I64 || ostep->bytes != 8) {
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "weight file has no optimizer state (saved without one); load it "
                          "without an optimizer");
        } else {
            /* the optimizer type must match */
            char ty[16] = "";
            cJSON *oj = cJSON_ParseWithLength(oc->data, (size_t)oc->bytes);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(oj, "type");
            if (cJSON_IsString(t)) snprintf(ty, sizeof ty, "%s", t->valuestring);
            cJSON_Delete(oj);
            if (strcmp(ty, hq_optim_type(opt)) != 0)
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                              "weight file holds %s optimizer state, the optimizer is %s",
                              ty[0] ? ty : "unknown", hq_optim_type(opt));
            for (int i = 0; st == HQ_OK && i < hq_optim_n_state(opt); i++) {
                const char *sn;
                float *sd;
                hq_optim_state(opt, i, &sn, &sd);
                char name[96];
                snprintf(name, sizeof name, "optim.%s", sn);
                ostate[i] = wf_find(&l, name);
                if (!ostate[i] || ostate[i]->dtype != WF_F32 || ostate[i]->ndim != 1 ||
                    ostate[i]->dims[0] != (uint64_t)m->n_params)
                    st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                  "weight file optimizer state '%s' missing or not [%lld] floats",
                                  name, (long long)m->n_params);
            }
        }
    }
    for (uint32_t i = 0; st == HQ_OK && i < l.n; i++)
        if (!l.e[i].used && strncmp(l.e[i].name, "layers.", 7) == 0)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "weight file has tensor '%s', which the model does not have: it was "
                          "saved from another model config",
                          l.e[i].name);
    if (st != HQ_OK) {
        hq_free(l.e);
        return st;
    }
    /* apply */
    for (int i = 0; i < m->n_layers; i++) {
        const hq_layer *ly = m->layers[i];
        for (int k = 0; k < ly->n_params; k++) {
            char name[96];
            snprintf(name, sizeof name, "layers.%d.%s", i, ly->params[k].name);
            copy_f32(ly->params[k].data, wf_find(&l, name)->data, (uint64_t)ly->params[k].numel);
        }
    }
    if (opt) {
        int64_t steps = (int64_t)get_le(ostep->data, 8);
        hq_optim_set_steps(opt, steps < 0 ? 0 : steps);
        for (int i = 0; i < hq_optim_n_state(opt); i++) {
            const char *sn;
            float *sd;
            hq_optim_state(opt, i, &sn, &sd);
            copy_f32(sd, ostate[i]->data, (uint64_t)m->n_params);
        }
    }
    hq_free(l.e);
    return HQ_OK;
}

hq_status hq_model_load(hq_model *m, hq_optim *opt, const char *path) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_MODEL);
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_load: path is NULL");
    char *data;
    size_t len;
    hq_status st = hq_file_read(path, 0, &data, &len);
    if (st == HQ_OK) st = hq_model_load_mem(m, opt, (const uint8_t *)data, len);
    hq_free(data);
    if (st != HQ_OK) return hq_fail_prefix(NULL, st, "loading weights '%s'", path);
    return HQ_OK;
}

hq_status hq_model_create_from_weights(const char *path, const hq_model_opts *opts,
                                       hq_model **out) {
    if (!out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_create_from_weights: out is NULL");
    *out = NULL;
    if (!path)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_model_create_from_weights: path is NULL");
    char *data;
    size_t len;
    hq_status st = hq_file_read(path, 0, &data, &len);
    if (st != HQ_OK) return hq_fail_prefix(NULL, st, "loading weights '%s'", path);
    wf_list l;
    st = wf_parse((const uint8_t *)data, len, &l);
    char *cfg = NULL;
    if (st == HQ_OK) {
        wf_entry *e = wf_find(&l, "config");
        if (!e || e->dtype != WF_U8)
            st = hq_failf(NULL, HQ_ERR_CORRUPT, "weight file has no model config");
        else if (!(cfg = hq_strndup(e->data, (size_t)e->bytes)))
            st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        hq_free(l.e);
    }
    hq_model_opts o = {0};
    if (opts) {
        o.threads = opts->threads;
        o.max_batch = opts->max_batch;
        o.no_fold = opts->no_fold;
    }
    hq_model *m = NULL;
    if (st == HQ_OK) st = hq_model_create(cfg, &o, &m);
    if (st == HQ_OK) st = hq_model_load_mem(m, NULL, (const uint8_t *)data, len);
    hq_free(cfg);
    hq_free(data);
    if (st != HQ_OK) {
        hq_model_free(m);
        return hq_fail_prefix(NULL, st, "loading weights '%s'", path);
    }
    *out = m;
    return HQ_OK;
}

/* ==== external quantum evaluation ===================================================== */

hq_status hq_model_set_qeval(hq_model *m, hq_qeval_fn fn, void *ctx) {
    for (int i = 0; m && i < m->n_layers; i++) {
        if (strcmp(hq_layer_type(m->layers[i]), "quantum") != 0) continue;
        hq_status st = hq_layer_quantum_set_eval(m->layers[i], fn, ctx);
        if (st != HQ_OK) return st;
    }
    return HQ_OK;
}

const hq_circuit *hq_model_quantum_circuit(hq_model *m) {
    for (int i = 0; m && i < m->n_layers; i++) {
        const hq_circuit *c = hq_layer_quantum_circuit(m->layers[i]);
        if (c) return c;
    }
    return NULL;
}
