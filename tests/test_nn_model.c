/*
 * tests/test_nn_model.c — whole networks:
 *   - the classical HQCNN ablation config has PyTorch's parameter count (64,638 for 2
 *     classes, torch_hqcnn.py --classical) and the expected layer stack;
 *   - forward logits against an independent naive double-precision interpreter of the
 *     same network (train and eval mode, dropout mask re-derived from the documented rule);
 *   - backward of the whole model against central finite differences of the loss;
 *   - fused batchnorm+relu identical to the unfused pair; 1, 2 and 3 threads
 *     bit-identical; training deterministic for a seed and different across seeds;
 *   - weight files: save -> load bit-exact (with optimizer state), and every corrupt-file
 *     and mismatch error; config errors with their messages.
 */
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "core/sha256.h"
#include "nn/layer_impl.h"
#include "nn/loss.h"
#include "nn/medmnist.h"
#include "nn/model.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================= */

static char *read_config(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "configs/%s", name);
    char *txt = NULL;
    if (hq_file_read(path, 0, &txt, NULL) != HQ_OK) return NULL;
    return txt;
}

static hq_model *make_model(const char *cfg_name, int hw, int max_batch, int threads) {
    char *cfg = read_config(cfg_name);
    if (!cfg) return NULL;
    hq_model_opts o = {.height = hw, .width = hw, .max_batch = max_batch, .threads = threads};
    hq_model *m = NULL;
    hq_status st = hq_model_create(cfg, &o, &m);
    hq_free(cfg);
    if (st != HQ_OK) return NULL;
    hq_model_init(m, 2024);
    return m;
}

static void fill_batch(float *x, int64_t n, int32_t *labels, int nb, int classes, uint64_t seed) {
    hq_rng r;
    hq_rng_init(&r, seed, 9, 0);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(hq_rng_uniform(&r) * 2 - 1);
    for (int i = 0; i < nb; i++) labels[i] = (int32_t)hq_rng_below(&r, (uint64_t)classes);
}

/* forward + loss + zero_grad + backward + optimizer step */
static hq_status train_step(hq_model *m, hq_optim *opt, const hq_tensor *x, const int32_t *labels,
                            uint64_t seed, uint64_t step, double *loss) {
    hq_pass p = {.train = true, .seed = seed, .epoch = 0, .step = step};
    hq_status st = hq_model_forward(m, x, &p, NULL);
    if (st == HQ_OK) st = hq_model_loss(m, labels, NULL, loss);
    if (st == HQ_OK) st = hq_model_zero_grad(m);
    if (st == HQ_OK) st = hq_model_backward(m);
    if (st == HQ_OK && opt) st = hq_model_step(m, opt, hq_optim_lr(opt, 0, (int64_t)step));
    return st;
}

/* ==== structure ======================================================================= */

HQ_TEST(nn_model_classical_structure) {
    hq_model *m = make_model("hqcnn-classical.json", 0, 8, 1);
    HQ_REQUIRE(m);
    /* torch_hqcnn.py --classical reports "params": 64638 */
    HQ_CHECK_EQ_INT(hq_model_n_params(m), 64638);
    HQ_CHECK_EQ_INT(hq_model_n_layers(m), 26);
    HQ_CHECK_EQ_INT(hq_model_classes(m), 2);
    hq_shape in = hq_model_in_shape(m);
    HQ_CHECK(in.n == 8 && in.c == 1 && in.h == 28 && in.w == 28);
    HQ_CHECK_STR(hq_layer_type(hq_model_layer(m, 0)), "conv2d");
    HQ_CHECK(hq_model_layer(m, 26) == NULL);
    hq_shape s = hq_layer_out_shape(hq_model_layer(m, 16)); /* last block's relu */
    HQ_CHECK(s.c == 64 && s.h == 7 && s.w == 7);
    hq_sbuf sb = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_model_summary(m, &sb));
    HQ_CHECK(sb.p && strstr(sb.p, "batchnorm+relu") && strstr(sb.p, "relu (fused)") &&
             strstr(sb.p, "trainable parameters: 64638"));
    hq_sbuf_free(&sb);
    /* the resolved config embeds input and classes */
    HQ_CHECK(strstr(hq_model_config(m), "\"input\":[1,28,28]") != NULL);
    HQ_CHECK(strstr(hq_model_config(m), "\"classes\":2") != NULL);
    hq_model_free(m);
    /* the quantum model: torch_hqcnn.py reports "params": 64634 (4*8+8 dense -> 36 angles) */
    m = make_model("hqcnn-default.json", 0, 8, 1);
    HQ_REQUIRE(m);
    HQ_CHECK_EQ_INT(hq_model_n_params(m), 64634);
    HQ_CHECK_STR(hq_layer_type(hq_model_layer(m, 21)), "quantum");
    HQ_CHECK(hq_layer_out_shape(hq_model_layer(m, 21)).c == 8);
    hq_model_free(m);
    /* RGB input and 5 classes through the overrides */
    char *cfg = read_config("hqcnn-classical.json");
    HQ_REQUIRE(cfg);
    hq_model_opts o = {.in_channels = 3, .classes = 5, .max_batch = 4, .threads = 1};
    HQ_REQUIRE_OK(hq_model_create(cfg, &o, &m));
    /* + 2*16*9 conv weights, + 3*128 head weights and 3 biases */
    HQ_CHECK_EQ_INT(hq_model_n_params(m), 64638 + 2 * 16 * 9 + 3 * 128 + 3);
    hq_model_free(m);
    hq_free(cfg);
}

/* ==== forward against a naive interpreter ============================================= */

typedef struct dten {
    int n, c, h, w;
    double *d;
} dten;

static dten dt_new(int n, int c, int h, int w) {
    dten t = {n, c, h, w, hq_calloc((size_t)n * c * h * w, sizeof(double))};
    return t;
}
#define AT(t, b, ch, y, x) (t).d[((((size_t)(b) * (t).c + (ch)) * (t).h + (y)) * (t).w + (x))]

/* Interpret the model's layer list in double precision, from the documented semantics. */
static dten naive_forward(hq_model *m, const float *x, int n, bool train, const hq_pass *pass) {
    hq_shape in = hq_model_in_shape(m);
    dten cur = dt_new(n, in.c, in.h, in.w);
    for (size_t i = 0; i < (size_t)n * in.c * in.h * in.w; i++) cur.d[i] = x[i];
    for (int li = 0; li < hq_model_n_layers(m); li++) {
        hq_layer *l = hq_model_layer(m, li);
        const char *ty = hq_layer_type(l);
        hq_param_info p0 = {0}, p1 = {0}, p2 = {0}, p3 = {0};
        if (hq_layer_n_params(l) > 0) hq_layer_param(l, 0, &p0);
        if (hq_layer_n_params(l) > 1) hq_layer_param(l, 1, &p1);
        if (hq_layer_n_params(l) > 3) {
            hq_layer_param(l, 2, &p2);
            hq_layer_param(l, 3, &p3);
        }
        dten out;
        if (!strcmp(ty, "conv2d")) { /* 3x3, padding 1, stride 1 in these configs */
            int co = (int)p0.dims[0];
            out = dt_new(n, co, cur.h, cur.w);
            for (int b = 0; b < n; b++)
                for (int o = 0; o < co; o++)
                    for (int y = 0; y < cur.h; y++)
                        for (int xx = 0; xx < cur.w; xx++) {
                            double acc = p1.data ? p1.data[o] : 0;
                            for (int ci = 0; ci < cur.c; ci++)
                                for (int dy = -1; dy <= 1; dy++)
                                    for (int dx = -1; dx <= 1; dx++) {
                                        int yy = y + dy, xq = xx + dx;
                                        if (yy < 0 || yy >= cur.h || xq < 0 || xq >= cur.w)
                                            continue;
                                        acc +=
                                            AT(cur, b, ci, yy, xq) *
                                            p0.data[((o * cur.c + ci) * 3 + dy + 1) * 3 + dx + 1];
                                    }
                            AT(out, b, o, y, xx) = acc;
                        }
        } else if (!strcmp(ty, "batchnorm")) {
            out = dt_new(n, cur.c, cur.h, cur.w);
            int cnt = n * cur.h * cur.w;
            for (int c = 0; c < cur.c; c++) {
                double mean = p2.data[c], var = p3.data[c];
                if (train) {
                    mean = var = 0;
                    for (int b = 0; b < n; b++)
                        for (int q = 0; q < cur.h * cur.w; q++) mean += AT(cur, b, c, 0, q);
                    mean /= cnt;
                    for (int b = 0; b < n; b++)
                        for (int q = 0; q < cur.h * cur.w; q++)
                            var += pow(AT(cur, b, c, 0, q) - mean, 2);
                    var /= cnt;
                }
                for (int b = 0; b < n; b++)
                    for (int q = 0; q < cur.h * cur.w; q++)
                        AT(out, b, c, 0, q) =
                            (AT(cur, b, c, 0, q) - mean) / sqrt(var + 1e-5) * p0.data[c] +
                            p1.data[c];
            }
        } else if (!strcmp(ty, "relu") || !strcmp(ty, "tanh") || !strcmp(ty, "flatten") ||
                   !strcmp(ty, "dropout")) {
            /* shapes from the data, not from the (possibly fused) layer */
            out = !strcmp(ty, "flatten") ? dt_new(n, cur.c * cur.h * cur.w, 1, 1)
                                         : dt_new(n, cur.c, cur.h, cur.w);
            size_t per = (size_t)cur.c * cur.h * cur.w;
            for (int b = 0; b < n; b++) {
                hq_rng r;
                if (!strcmp(ty, "dropout"))
                    hq_rng_init(&r, pass->seed,
                                hq_rng_stream("dropout", pass->epoch, pass->step, (uint64_t)li),
                                (uint64_t)b * ((per + 3) / 4));
                for (size_t q = 0; q < per; q++) {
                    double v = cur.d[b * per + q];
                    if (!strcmp(ty, "relu")) v = v > 0 ? v : 0;
                    if (!strcmp(ty, "tanh")) v = tanh(v);
                    if (!strcmp(ty, "dropout") && train)
                        v = hq_rng_u32(&r) < (uint32_t)(0.2 * 4294967296.0) ? 0 : v / 0.8;
                    out.d[b * per + q] = v;
                }
            }
        } else if (!strcmp(ty, "maxpool")) { /* 2x2 */
            out = dt_new(n, cur.c, cur.h / 2, cur.w / 2);
            for (int b = 0; b < n; b++)
                for (int c = 0; c < cur.c; c++)
                    for (int y = 0; y < out.h; y++)
                        for (int xx = 0; xx < out.w; xx++)
                            AT(out, b, c, y, xx) = fmax(fmax(AT(cur, b, c, 2 * y, 2 * xx),
                                                             AT(cur, b, c, 2 * y, 2 * xx + 1)),
                                                        fmax(AT(cur, b, c, 2 * y + 1, 2 * xx),
                                                             AT(cur, b, c, 2 * y + 1, 2 * xx + 1)));
        } else if (!strcmp(ty, "global_avgpool")) {
            out = dt_new(n, cur.c, 1, 1);
            for (int b = 0; b < n; b++)
                for (int c = 0; c < cur.c; c++) {
                    double s = 0;
                    for (int q = 0; q < cur.h * cur.w; q++) s += AT(cur, b, c, 0, q);
                    AT(out, b, c, 0, 0) = s / (cur.h * cur.w);
                }
        } else { /* dense */
            int o = (int)p0.dims[0], ii = (int)p0.dims[1];
            out = dt_new(n, o, 1, 1);
            for (int b = 0; b < n; b++)
                for (int k = 0; k < o; k++) {
                    double s = p1.data[k];
                    for (int q = 0; q < ii; q++)
                        s += cur.d[(size_t)b * ii + q] * p0.data[(size_t)k * ii + q];
                    out.d[(size_t)b * o + k] = s;
                }
        }
        hq_free(cur.d);
        cur = out;
    }
    return cur;
}

HQ_TEST(nn_model_forward_matches_naive_interpreter) {
    enum { N = 3, HW = 12 };
    hq_model *m = make_model("hqcnn-classical.json", HW, N, 2);
    HQ_REQUIRE(m);
    /* non-trivial batch-norm parameters and running statistics */
    hq_rng r;
    hq_rng_init(&r, 1, 2, 3);
    for (int li = 0; li < hq_model_n_layers(m); li++) {
        hq_layer *l = hq_model_layer(m, li);
        if (strcmp(hq_layer_type(l), "batchnorm")) continue;
        for (int k = 0; k < 4; k++) {
            hq_param_info p;
            hq_layer_param(l, k, &p);
            for (int64_t i = 0; i < p.numel; i++)
                p.data[i] =
                    (float)(k == 1 || k == 2 ? hq_rng_uniform(&r) - 0.5 : 0.5 + hq_rng_uniform(&r));
        }
    }
    float x[N * HW * HW];
    int32_t lab[N];
    fill_batch(x, N * HW * HW, lab, N, 2, 4);
    for (int mode = 0; mode < 2; mode++) {
        hq_pass p = {.train = mode == 1, .seed = 5, .epoch = 1, .step = 7};
        dten ref =
            naive_forward(m, x, N, p.train, &p); /* before: train forward moves the running stats */
        hq_tensor xt = hq_tensor_view(x, hq_shape4(N, 1, HW, HW)), lg;
        HQ_REQUIRE_OK(hq_model_forward(m, &xt, &p, &lg));
        HQ_CHECK(lg.shape.n == N && lg.shape.c == 2);
        for (int i = 0; i < N * 2; i++)
            HQ_CHECKF(fabs(lg.data[i] - ref.d[i]) <= 1e-4 * (1 + fabs(ref.d[i])),
                      "%s logit %d: %.7g vs naive %.7g", p.train ? "train" : "eval", i, lg.data[i],
                      ref.d[i]);
        hq_free(ref.d);
    }
    hq_model_free(m);
}

/* ==== backward of the whole model vs finite differences =============================== */

/*
 * Single gradient entries of the deep layers are ~1e-3 while float32 forward noise in the
 * loss is ~1e-6: a per-entry finite difference cannot resolve them. So every parameter
 * tensor is checked along two unit directions v (the tensor perturbed as a whole):
 * v = sign(analytic gradient)/sqrt(n), where dL/dv = sum|g|/sqrt(n) is large, and a random
 * +-1/sqrt(n) v; the central difference of L along v must match g . v.
 */
static double loss_at(hq_model *m, const hq_tensor *x, const hq_pass *p, const int32_t *lab,
                      const float *cw) {
    double l = NAN;
    if (hq_model_forward(m, x, p, NULL) != HQ_OK || hq_model_loss(m, lab, cw, &l) != HQ_OK)
        return NAN;
    return l;
}

/* smooth: relu -> tanh and maxpool -> avgpool, where the difference converges cleanly */
static void model_fd(const char *cfg_name, bool smooth, double fd_h, double tol) {
    enum { N = 4, HW = 8 };
    char *cfg = read_config(cfg_name);
    HQ_REQUIRE(cfg);
    if (smooth) {
        for (char *p = strstr(cfg, "\"relu\""); p; p = strstr(p, "\"relu\""))
            memcpy(p, "\"tanh\"", 6);
        for (char *p = strstr(cfg, "\"maxpool\""); p; p = strstr(p, "\"maxpool\""))
            memcpy(p, "\"avgpool\"", 9);
    }
    hq_model_opts o = {.height = HW, .width = HW, .max_batch = N, .threads = 2};
    hq_model *m;
    HQ_REQUIRE_OK(hq_model_create(cfg, &o, &m));
    hq_free(cfg);
    HQ_REQUIRE_OK(hq_model_init(m, 2024));
    float x[N * HW * HW];
    int32_t lab[N];
    fill_batch(x, N * HW * HW, lab, N, 2, 8);
    hq_tensor xt = hq_tensor_view(x, hq_shape4(N, 1, HW, HW));
    hq_pass p = {.train = true, .seed = 3, .step = 1};
    const float cw[2] = {0.7f, 1.6f};
    double loss;
    HQ_REQUIRE_OK(hq_model_forward(m, &xt, &p, NULL));
    HQ_REQUIRE_OK(hq_model_loss(m, lab, cw, &loss));
    HQ_REQUIRE_OK(hq_model_zero_grad(m));
    HQ_REQUIRE_OK(hq_model_backward(m));
    int64_t np = hq_model_n_params(m);
    float *grads = hq_malloc((size_t)np * sizeof(float));
    memcpy(grads, hq_model_grads(m), (size_t)np * sizeof(float));
    float *keep = hq_malloc((size_t)np * sizeof(float));
    hq_rng r;
    hq_rng_init(&r, 12, 0, 0);
    int checked = 0;
    double worst = 0;
    int64_t off = 0;
    for (int li = 0; li < hq_model_n_layers(m); li++) {
        hq_layer *l = hq_model_layer(m, li);
        for (int k = 0; k < hq_layer_n_params(l); k++) {
            hq_param_info pi;
            hq_layer_param(l, k, &pi);
            if (!pi.trainable) continue;
            const float *g = grads + off;
            for (int dir = 0; dir < 2; dir++) {
                /* unit-norm direction: the step moves the tensor by fd_h in total */
                float *v = hq_malloc((size_t)pi.numel * sizeof(float));
                float u = 1.0f / sqrtf((float)pi.numel);
                double gv = 0;
                for (int64_t i = 0; i < pi.numel; i++) {
                    v[i] = dir == 0 ? (g[i] >= 0 ? u : -u) : (hq_rng_u32(&r) & 1 ? u : -u);
                    gv += (double)g[i] * v[i];
                }
                memcpy(keep, pi.data, (size_t)pi.numel * sizeof(float));
                for (int64_t i = 0; i < pi.numel; i++) pi.data[i] = keep[i] + (float)fd_h * v[i];
                double lp = loss_at(m, &xt, &p, lab, cw);
                for (int64_t i = 0; i < pi.numel; i++) pi.data[i] = keep[i] - (float)fd_h * v[i];
                double lm = loss_at(m, &xt, &p, lab, cw);
                memcpy(pi.data, keep, (size_t)pi.numel * sizeof(float));
                double fd = (lp - lm) / (2 * fd_h);
                /* relative to sum |g| / sqrt(n) (the scale of g . v for either direction) */
                double scale = 0;
                for (int64_t i = 0; i < pi.numel; i++) scale += fabs(g[i]) * u;
                double err = fabs(fd - gv) / (scale + 1e-3);
                worst = fmax(worst, err);
                checked++;
                HQ_CHECKF(err < tol,
                          "layer %d %s along %s: g.v %.6g vs finite difference %.6g (scale %.3g)",
                          li, pi.name, dir == 0 ? "sign(g)" : "random", gv, fd, scale);
                hq_free(v);
            }
            off += pi.numel;
        }
    }
    if (getenv("HQ_TEST_VERBOSE"))
        fprintf(stderr, "    %s, %s: %d checks, worst %.3g\n", cfg_name,
                smooth ? "smooth" : "relu/maxpool", checked, worst);
    /* weight and bias of 5 conv, 5 batchnorm, 4 dense (classical) / 3 dense + quantum */
    HQ_CHECK_EQ_INT(checked, strstr(cfg_name, "classical") ? 2 * 28 : 2 * 27);
    HQ_CHECK_EQ_INT(off, np);
    hq_free(keep);
    hq_free(grads);
    hq_model_free(m);
}

HQ_TEST(nn_model_backward_finite_differences) {
    /* smooth variant: errors ~1e-3 at this step (float32 noise); the real model's kinks
     * (ReLU, max pooling) add a few 1e-2 */
    model_fd("hqcnn-classical.json", true, 8e-3, 5e-3);
    model_fd("hqcnn-classical.json", false, 2e-3, 3e-2);
    model_fd("hqcnn-default.json", true, 8e-3, 5e-3); /* through the quantum layer */
}

/* ==== fusion, threads, determinism ==================================================== */

/* logits, grads and weights after `steps` Adam steps */
static void run_steps(const char *cfg_name, int threads, bool no_fuse, uint64_t seed, int steps,
                      float *logits, float *grads, float *params, int64_t *np_out) {
    enum { N = 20, HW = 12 };
    char *cfg = read_config(cfg_name);
    HQ_REQUIRE(cfg);
    hq_model_opts o = {
        .height = HW, .width = HW, .max_batch = N, .threads = threads, .no_fuse = no_fuse};
    hq_model *m;
    HQ_REQUIRE_OK(hq_model_create(cfg, &o, &m));
    hq_free(cfg);
    HQ_REQUIRE_OK(hq_model_init(m, seed));
    hq_optim *opt;
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adam\",\"lr\":0.01}", hq_model_n_params(m), &opt));
    static float x[N * HW * HW];
    int32_t lab[N];
    for (int s = 0; s < steps; s++) {
        fill_batch(x, N * HW * HW, lab, N, 2, 100 + (uint64_t)s);
        int n = s % 2 ? N - 3 : N; /* a short batch too */
        hq_tensor xt = hq_tensor_view(x, hq_shape4(n, 1, HW, HW));
        double loss;
        HQ_REQUIRE_OK(train_step(m, opt, &xt, lab, seed, (uint64_t)s, &loss));
    }
    hq_tensor xt = hq_tensor_view(x, hq_shape4(N, 1, HW, HW)), lg;
    hq_pass ev = {.train = false};
    HQ_REQUIRE_OK(hq_model_forward(m, &xt, &ev, &lg));
    memcpy(logits, lg.data, N * 2 * sizeof(float));
    *np_out = hq_model_n_params(m);
    memcpy(grads, hq_model_grads(m), (size_t)*np_out * sizeof(float));
    memcpy(params, hq_model_params(m), (size_t)*np_out * sizeof(float));
    hq_optim_free(opt);
    hq_model_free(m);
}

HQ_TEST(nn_model_bit_identical_threads_fusion_and_seed) {
    enum { NP = 70000 };
    float lg[5][40], *gr[5], *pa[5];
    int64_t np[5] = {0};
    for (int k = 0; k < 5; k++) {
        gr[k] = hq_malloc(NP * sizeof(float));
        pa[k] = hq_malloc(NP * sizeof(float));
    }
    run_steps("hqcnn-classical.json", 1, false, 42, 3, lg[0], gr[0], pa[0], &np[0]);
    run_steps("hqcnn-classical.json", 2, false, 42, 3, lg[1], gr[1], pa[1], &np[1]);
    run_steps("hqcnn-classical.json", 3, true, 42, 3, lg[2], gr[2], pa[2], &np[2]);
    run_steps("hqcnn-classical.json", 1, true, 42, 3, lg[3], gr[3], pa[3], &np[3]);
    run_steps("hqcnn-classical.json", 2, false, 43, 3, lg[4], gr[4], pa[4], &np[4]);
    HQ_REQUIRE(np[0] == 64638 && np[1] == np[0] && np[2] == np[0] && np[3] == np[0] &&
               np[4] == np[0]);
    /* any thread count: bit-identical (fused and unfused) */
    for (int k = 1; k < 4; k += 2) {
        HQ_CHECKF(memcmp(lg[k - 1], lg[k], sizeof lg[0]) == 0, "logits of run %d differ", k);
        HQ_CHECKF(memcmp(gr[k - 1], gr[k], (size_t)np[0] * 4) == 0, "grads of run %d differ", k);
        HQ_CHECKF(memcmp(pa[k - 1], pa[k], (size_t)np[0] * 4) == 0, "weights of run %d differ", k);
    }
    HQ_CHECK(memcmp(lg[2], lg[3], sizeof lg[0]) == 0 &&
             memcmp(pa[2], pa[3], (size_t)np[0] * 4) == 0);
    /* fused (batchnorm+relu+maxpool in one pass) vs the separate layers: the same to
     * rounding (the gradient sums run in another order). Compared after one step: Adam
     * turns the rounding noise of the conv biases' zero gradients (batch norm removes
     * them) into +-lr steps. */
    float l1[2][40], *g1[2], *p1[2];
    int64_t n1[2];
    for (int k = 0; k < 2; k++) {
        g1[k] = hq_malloc(NP * sizeof(float));
        p1[k] = hq_malloc(NP * sizeof(float));
        run_steps("hqcnn-classical.json", 2, k == 1, 42, 1, l1[k], g1[k], p1[k], &n1[k]);
    }
    double el = 0, eg = 0, gmax = 0;
    for (int i = 0; i < 40; i++) el = fmax(el, fabs(l1[0][i] - l1[1][i]));
    for (int64_t i = 0; i < n1[0]; i++) {
        eg = fmax(eg, fabs(g1[0][i] - g1[1][i]));
        gmax = fmax(gmax, fabs(g1[0][i]));
    }
    HQ_CHECKF(el < 1e-5 && eg < 1e-5 * gmax,
              "fused vs unfused: logits %.3g, grads %.3g apart (max %.3g)", el, eg, gmax);
    for (int k = 0; k < 2; k++) {
        hq_free(g1[k]);
        hq_free(p1[k]);
    }
    /* another seed: other initial weights and dropout masks */
    HQ_CHECK(memcmp(pa[0], pa[4], (size_t)np[0] * 4) != 0);
    HQ_CHECK(memcmp(lg[0], lg[4], sizeof lg[0]) != 0);
    for (int k = 0; k < 5; k++) {
        hq_free(gr[k]);
        hq_free(pa[k]);
    }
    /* the quantum model too (its layer runs one simulator handle per thread) */
    float ql[2][40], *qg[2], *qp[2];
    int64_t qn[2];
    for (int k = 0; k < 2; k++) {
        qg[k] = hq_malloc(NP * sizeof(float));
        qp[k] = hq_malloc(NP * sizeof(float));
        run_steps("hqcnn-default.json", k + 1, false, 42, 3, ql[k], qg[k], qp[k], &qn[k]);
    }
    HQ_CHECK(qn[0] == 64634 && qn[1] == qn[0]);
    HQ_CHECK(memcmp(ql[0], ql[1], sizeof ql[0]) == 0);
    HQ_CHECK(memcmp(qg[0], qg[1], (size_t)qn[0] * 4) == 0);
    HQ_CHECK(memcmp(qp[0], qp[1], (size_t)qn[0] * 4) == 0);
    for (int k = 0; k < 2; k++) {
        hq_free(qg[k]);
        hq_free(qp[k]);
    }
}

/* softmax scores of the test images, in batches of up to 128 */
static void eval_scores(hq_model *m, const hq_dataset *d, float *scores) {
    int64_t per = (int64_t)d->c * d->h * d->w;
    for (int64_t b = 0; b < d->n; b += 128) {
        int n = (int)(d->n - b < 128 ? d->n - b : 128);
        hq_tensor xt = hq_tensor_view(d->images + b * per, hq_shape4(n, d->c, d->h, d->w)), lg;
        hq_pass ev = {.train = false};
        HQ_REQUIRE_OK(hq_model_forward(m, &xt, &ev, &lg));
        for (int i = 0; i < n; i++) {
            const float *z = lg.data + (int64_t)i * d->n_classes;
            double mx = z[0], sum = 0;
            for (int k = 1; k < d->n_classes; k++) mx = fmax(mx, z[k]);
            for (int k = 0; k < d->n_classes; k++) sum += exp(z[k] - mx);
            for (int k = 0; k < d->n_classes; k++)
                scores[(b + i) * d->n_classes + k] = (float)(exp(z[k] - mx) / sum);
        }
    }
}

/* max |a - b| over n values; *bmax = max |b| (the scale the difference is judged against) */
static double max_abs_diff(const float *a, const float *b, int64_t n, double *bmax) {
    double e = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    *bmax = m;
    return e;
}

static int argmax_row(const float *r, int n) {
    int k = 0;
    for (int i = 1; i < n; i++)
        if (r[i] > r[k]) k = i;
    return k;
}

HQ_TEST(nn_model_folded_eval_matches_reference_path) {
    /* The evaluation forward folds every batch norm into the convolution before it; the
     * reference path (no_fold) runs them as separate passes. On the BreastMNIST test split,
     * after a few training steps (running statistics and affine parameters away from
     * their initial values), the scores agree to 1e-4 with identical predictions; the
     * folded path is bit-identical for 1 and 2 threads; a backward after a folded
     * evaluation forward gives the reference path's gradients. */
    hq_medmnist_opts mo = {.path = hq_test_shared("data/medmnist/breastmnist.npz")};
    hq_dataset *tr, *te;
    HQ_REQUIRE_OK(hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, &mo, &tr));
    HQ_REQUIRE_OK(hq_medmnist_load("breastmnist", HQ_SPLIT_TEST, &mo, &te));
    hq_model *a = make_model("hqcnn-default.json", 28, 128, 2);
    HQ_REQUIRE(a);
    hq_optim *opt;
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adam\",\"lr\":0.01}", hq_model_n_params(a), &opt));
    for (int s = 0; s < 4; s++) {
        hq_tensor xt = hq_tensor_view(tr->images + (int64_t)s * 64 * 784, hq_shape4(64, 1, 28, 28));
        double loss;
        HQ_REQUIRE_OK(train_step(a, opt, &xt, tr->labels + s * 64, 3, (uint64_t)s, &loss));
    }
    uint8_t *blob;
    size_t len;
    HQ_REQUIRE_OK(hq_model_save_mem(a, NULL, &blob, &len));
    char *cfg = read_config("hqcnn-default.json");
    HQ_REQUIRE(cfg);
    hq_model_opts ob = {.max_batch = 128, .threads = 2, .no_fold = true},
                  oc = {.max_batch = 128, .threads = 1};
    hq_model *b, *c;
    HQ_REQUIRE_OK(hq_model_create(cfg, &ob, &b));
    HQ_REQUIRE_OK(hq_model_create(cfg, &oc, &c));
    hq_free(cfg);
    HQ_REQUIRE_OK(hq_model_load_mem(b, NULL, blob, len));
    HQ_REQUIRE_OK(hq_model_load_mem(c, NULL, blob, len));
    hq_free(blob);

    int64_t ns = te->n * te->n_classes;
    float *sa = hq_malloc((size_t)ns * 4), *sb = hq_malloc((size_t)ns * 4),
          *sc = hq_malloc((size_t)ns * 4);
    eval_scores(a, te, sa);
    HQ_CHECK(hq_model_layer(a, 0)->fwd_folded && hq_model_layer(a, 14)->fwd_folded);
    eval_scores(b, te, sb);
    HQ_CHECK(!hq_model_layer(b, 0)->fold && !hq_model_layer(b, 0)->fwd_folded);
    eval_scores(c, te, sc);
    /* the backbone's 4 features of the last batch (before tanh, which squashes the
     * difference: the scores can come out identical) */
    hq_tensor fa, fb;
    HQ_REQUIRE_OK(hq_model_activation(a, 19, &fa));
    HQ_REQUIRE_OK(hq_model_activation(b, 19, &fb));
    double fmx, ef = max_abs_diff(fa.data, fb.data, hq_shape_numel(fb.shape), &fmx);
    HQ_CHECKF(fmx > 0 && ef <= 1e-5 * fmx, "features: %.3g apart (max %.3g)", ef, fmx);
    double e = 0;
    int differ = 0, ties = 0;
    for (int64_t i = 0; i < ns; i++) e = fmax(e, fabs(sa[i] - sb[i]));
    for (int64_t i = 0; i < te->n; i++) {
        differ += argmax_row(sa + i * te->n_classes, te->n_classes) !=
                  argmax_row(sb + i * te->n_classes, te->n_classes);
        ties += fabs(sb[i * te->n_classes] - 0.5) < 1e-3; /* binary: a near-tie would be luck */
    }
    HQ_CHECKF(e <= 1e-4 && differ == 0 && ties == 0,
              "folded vs reference on %lld test images: scores %.3g apart, %d predictions "
              "differ, %d near-ties",
              (long long)te->n, e, differ, ties);
    HQ_CHECK(memcmp(sa, sc, (size_t)ns * 4) == 0);

    /* backward after an evaluation forward: the folded pairs are recomputed first */
    hq_tensor xt = hq_tensor_view(te->images, hq_shape4(32, 1, 28, 28)), act_a, act_b;
    hq_model *mm[2] = {a, b};
    float *g[2];
    int64_t np = hq_model_n_params(a);
    for (int k = 0; k < 2; k++) {
        hq_pass ev = {.train = false};
        double loss;
        HQ_REQUIRE_OK(hq_model_forward(mm[k], &xt, &ev, NULL));
        HQ_REQUIRE_OK(hq_model_loss(mm[k], te->labels, NULL, &loss));
        HQ_REQUIRE_OK(hq_model_zero_grad(mm[k]));
        HQ_REQUIRE_OK(hq_model_backward(mm[k]));
        g[k] = hq_malloc((size_t)np * 4);
        memcpy(g[k], hq_model_grads(mm[k]), (size_t)np * 4);
    }
    double gmax, eg = max_abs_diff(g[0], g[1], np, &gmax);
    HQ_CHECKF(gmax > 0 && eg <= 1e-4 * gmax,
              "gradients after a folded eval forward: %.3g apart "
              "(max %.3g)",
              eg, gmax);
    /* a convolution's activation after a folded forward is computed on request */
    HQ_REQUIRE_OK(hq_model_forward(a, &xt, &(hq_pass){.train = false}, NULL));
    HQ_REQUIRE_OK(hq_model_activation(a, 3, &act_a));
    HQ_REQUIRE_OK(hq_model_activation(b, 3, &act_b));
    double amax, ea = max_abs_diff(act_a.data, act_b.data, hq_shape_numel(act_b.shape), &amax);
    HQ_CHECKF(amax > 0 && ea <= 1e-5 * amax, "conv activation: %.3g apart (max %.3g)", ea, amax);

    /* $HQCNN_NN_NO_FOLD=1 selects the reference path too */
    setenv("HQCNN_NN_NO_FOLD", "1", 1);
    hq_model *d = make_model("hqcnn-classical.json", 8, 2, 1);
    unsetenv("HQCNN_NN_NO_FOLD");
    HQ_REQUIRE(d);
    HQ_CHECK(hq_model_layer(d, 0)->fold == NULL && hq_model_layer(a, 0)->fold != NULL);
    hq_model_free(d);
    for (int k = 0; k < 2; k++) hq_free(g[k]);
    hq_free(sa);
    hq_free(sb);
    hq_free(sc);
    hq_optim_free(opt);
    hq_model_free(a);
    hq_model_free(b);
    hq_model_free(c);
    hq_dataset_free(tr);
    hq_dataset_free(te);
}

HQ_TEST(nn_model_layer_ranges_compose) {
    /* backbone | quantum | head, run as ranges, equals the whole model bit for bit; the
     * quantum part can come from elsewhere (here: a standalone layer with the weights) */
    enum { N = 6, HW = 12 };
    hq_model *m = make_model("hqcnn-default.json", HW, N, 2);
    HQ_REQUIRE(m);
    const int q = 21, L = hq_model_n_layers(m);
    HQ_REQUIRE(!strcmp(hq_layer_type(hq_model_layer(m, q)), "quantum"));
    static float x[N * HW * HW];
    int32_t lab[N];
    fill_batch(x, N * HW * HW, lab, N, 2, 31);
    hq_tensor xt = hq_tensor_view(x, hq_shape4(N, 1, HW, HW)), lg, ang, ex, lg2;
    hq_pass p = {.train = true, .seed = 4, .step = 9};
    double loss;
    HQ_REQUIRE_OK(hq_model_forward(m, &xt, &p, &lg));
    float full_logits[N * 2];
    memcpy(full_logits, lg.data, sizeof full_logits);
    HQ_REQUIRE_OK(hq_model_loss(m, lab, NULL, &loss));
    HQ_REQUIRE_OK(hq_model_zero_grad(m));
    HQ_REQUIRE_OK(hq_model_backward(m));
    int64_t np = hq_model_n_params(m);
    float *g_full = hq_malloc((size_t)np * 4);
    memcpy(g_full, hq_model_grads(m), (size_t)np * 4);

    /* the same step in three ranges, the quantum layer outside the model */
    HQ_REQUIRE_OK(hq_model_forward_layers(m, 0, q, &xt, &p, &ang));
    HQ_CHECK(ang.shape.n == N && ang.shape.c == 4);
    hq_layer *ql;
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"quantum\"}", hq_shape4(N, 4, 1, 1), &ql));
    hq_param_info mw, qw;
    HQ_REQUIRE_OK(hq_layer_param(hq_model_layer(m, q), 0, &mw));
    HQ_REQUIRE_OK(hq_layer_param(ql, 0, &qw));
    memcpy(qw.data, mw.data, (size_t)mw.numel * 4);
    float angles[N * 4], expect[N * 8], dexp[N * 8], dang[N * 4];
    memcpy(angles, ang.data, sizeof angles);
    hq_tensor at = hq_tensor_view(angles, hq_shape4(N, 4, 1, 1));
    ex = hq_tensor_view(expect, hq_shape4(N, 8, 1, 1));
    HQ_REQUIRE_OK(hq_layer_forward(ql, &ex, &at, &p));
    HQ_REQUIRE_OK(hq_model_forward_layers(m, q + 1, L, &ex, &p, &lg2));
    HQ_CHECK(memcmp(lg2.data, full_logits, sizeof full_logits) == 0);
    float dlogits[N * 2];
    HQ_REQUIRE_OK(hq_loss_softmax_ce(&loss, dlogits, lg2.data, lab, NULL, N, 2));
    HQ_REQUIRE_OK(hq_model_zero_grad(m));
    HQ_REQUIRE_OK(hq_model_backward_layers(m, q + 1, L, dlogits, dexp));
    hq_tensor dexp_t = hq_tensor_view(dexp, hq_shape4(N, 8, 1, 1));
    hq_tensor dang_t = hq_tensor_view(dang, hq_shape4(N, 4, 1, 1));
    HQ_REQUIRE_OK(hq_layer_zero_grad(ql));
    HQ_REQUIRE_OK(hq_layer_backward(ql, &dang_t, &dexp_t));
    for (int64_t i = 0; i < mw.numel; i++) mw.grad[i] += qw.grad[i];
    HQ_REQUIRE_OK(hq_model_backward_layers(m, 0, q, dang, NULL));
    HQ_CHECK(memcmp(g_full, hq_model_grads(m), (size_t)np * 4) == 0);

    /* errors: ranges, fused groups, shapes, order */
    HQ_CHECK_FAILS(hq_model_forward_layers(m, 3, 3, &xt, &p, NULL), HQ_ERR_INVALID_ARG,
                   "layer range [3, 3) invalid");
    HQ_CHECK_FAILS(hq_model_forward_layers(m, 0, 2, &xt, &p, NULL), HQ_ERR_INVALID_ARG,
                   "layer 2 (relu) runs fused into layer 1 (batchnorm)");
    HQ_CHECK_FAILS(hq_model_forward_layers(m, 6, 9, &xt, &p, NULL), HQ_ERR_INVALID_ARG,
                   "layer 6 (maxpool) runs fused into layer 4 (batchnorm)");
    HQ_CHECK_FAILS(hq_model_forward_layers(m, q + 1, L, &at, &p, NULL), HQ_ERR_INVALID_ARG,
                   "layer 22 (dense) takes (n, 8, 1, 1)");
    HQ_CHECK_FAILS(hq_model_backward_layers(m, 0, q, NULL, NULL), HQ_ERR_INVALID_ARG, "dy is NULL");
    hq_free(g_full);
    hq_layer_free(ql);
    hq_model_free(m);
}

HQ_TEST(nn_model_training_reduces_loss) {
    /* class 1 = bright left half; a few Adam steps must fit it */
    enum { N = 32, HW = 8 };
    hq_model *m = make_model("hqcnn-classical.json", HW, N, 2);
    HQ_REQUIRE(m);
    hq_optim *opt;
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adam\",\"lr\":0.01}", hq_model_n_params(m), &opt));
    static float x[N * HW * HW];
    int32_t lab[N];
    hq_rng r;
    hq_rng_init(&r, 3, 3, 3);
    for (int i = 0; i < N; i++) {
        lab[i] = i % 2;
        for (int q = 0; q < HW * HW; q++)
            x[i * HW * HW + q] =
                (float)(hq_rng_uniform(&r) * 0.5 + ((q % HW < HW / 2) == lab[i] ? 0.5 : 0));
    }
    hq_tensor xt = hq_tensor_view(x, hq_shape4(N, 1, HW, HW));
    double first = 0, loss = 0;
    for (int s = 0; s < 40; s++) {
        HQ_REQUIRE_OK(train_step(m, opt, &xt, lab, 1, (uint64_t)s, &loss));
        if (s == 0) first = loss;
    }
    HQ_CHECKF(loss < 0.5 * first && loss < 0.35, "loss %.4f after 40 steps (first %.4f)", loss,
              first);
    hq_optim_free(opt);
    hq_model_free(m);
}

/* ==== weight files ==================================================================== */

static hq_model *trained_model(const char *cfg, hq_optim **opt, const char *opt_json) {
    hq_model *m = make_model(cfg, 8, 6, 1);
    if (!m) return NULL;
    if (hq_optim_create(opt_json, hq_model_n_params(m), opt) != HQ_OK) return NULL;
    float x[6 * 64];
    int32_t lab[6];
    fill_batch(x, 6 * 64, lab, 6, 2, 1);
    hq_tensor xt = hq_tensor_view(x, hq_shape4(6, 1, 8, 8));
    double loss;
    for (int s = 0; s < 2; s++)
        if (train_step(m, *opt, &xt, lab, 1, (uint64_t)s, &loss) != HQ_OK) return NULL;
    return m;
}

static void all_values(hq_model *m, float *out, int64_t *n) {
    *n = 0;
    for (int li = 0; li < hq_model_n_layers(m); li++) {
        hq_layer *l = hq_model_layer(m, li);
        for (int k = 0; k < hq_layer_n_params(l); k++) {
            hq_param_info p;
            hq_layer_param(l, k, &p);
            memcpy(out + *n, p.data, (size_t)p.numel * sizeof(float));
            *n += p.numel;
        }
    }
}

HQ_TEST(nn_model_save_load_roundtrip) {
    hq_optim *oa, *ob;
    hq_model *a = trained_model("hqcnn-classical.json", &oa, "{\"type\":\"adamw\",\"lr\":0.01}");
    HQ_REQUIRE(a);
    const char *path = hq_test_tmpfile("a.hqw");
    HQ_REQUIRE_OK(hq_model_save(a, oa, path));
    hq_model *b = make_model("hqcnn-classical.json", 8, 6, 2);
    HQ_REQUIRE(b);
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adamw\",\"lr\":0.01}", hq_model_n_params(b), &ob));
    HQ_REQUIRE_OK(hq_model_load(b, ob, path));
    static float va[70000], vb[70000];
    int64_t na, nb;
    all_values(a, va, &na);
    all_values(b, vb, &nb);
    HQ_CHECK(na == nb && na > 64638); /* parameters and running statistics */
    HQ_CHECK(memcmp(va, vb, (size_t)na * sizeof(float)) == 0);
    HQ_CHECK_EQ_INT(hq_optim_steps(ob), 2);
    for (int i = 0; i < hq_optim_n_state(oa); i++) {
        const char *n1, *n2;
        float *s1, *s2;
        hq_optim_state(oa, i, &n1, &s1);
        hq_optim_state(ob, i, &n2, &s2);
        HQ_CHECK_STR(n1, n2);
        HQ_CHECK(memcmp(s1, s2, (size_t)hq_model_n_params(a) * sizeof(float)) == 0);
    }
    /* the next step is identical too */
    float x[6 * 64];
    int32_t lab[6];
    fill_batch(x, 6 * 64, lab, 6, 2, 77);
    hq_tensor xt = hq_tensor_view(x, hq_shape4(6, 1, 8, 8));
    double la, lb;
    HQ_REQUIRE_OK(train_step(a, oa, &xt, lab, 1, 2, &la));
    HQ_REQUIRE_OK(train_step(b, ob, &xt, lab, 1, 2, &lb));
    HQ_CHECK(la == lb);
    HQ_CHECK(memcmp(hq_model_params(a), hq_model_params(b), (size_t)hq_model_n_params(a) * 4) == 0);
    /* memory round trip and a model rebuilt from the file alone */
    uint8_t *d1;
    size_t l1;
    HQ_REQUIRE_OK(hq_model_save_mem(a, NULL, &d1, &l1));
    const char *p2 = hq_test_write_file("b.hqw", d1, l1);
    hq_model *c;
    hq_model_opts o = {.threads = 1, .max_batch = 6};
    HQ_REQUIRE_OK(hq_model_create_from_weights(p2, &o, &c));
    HQ_CHECK_STR(hq_model_config(c), hq_model_config(a));
    hq_tensor l_a, l_c;
    hq_pass ev = {.train = false};
    HQ_REQUIRE_OK(hq_model_forward(a, &xt, &ev, &l_a));
    HQ_REQUIRE_OK(hq_model_forward(c, &xt, &ev, &l_c));
    HQ_CHECK(memcmp(l_a.data, l_c.data, 12 * sizeof(float)) == 0);
    /* saving twice gives the same bytes */
    uint8_t *d2;
    size_t l2;
    HQ_REQUIRE_OK(hq_model_save_mem(c, NULL, &d2, &l2));
    HQ_CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
    hq_free(d1);
    hq_free(d2);
    hq_model_free(c);
    hq_optim_free(oa);
    hq_optim_free(ob);
    hq_model_free(a);
    hq_model_free(b);
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* rewrite the trailing sha256 so that only the deliberate damage remains */
static void reseal(uint8_t *d, size_t len) { hq_sha256(d, len - 32, d + len - 32); }

HQ_TEST(nn_model_weight_file_errors) {
    hq_optim *opt;
    hq_model *m = trained_model("hqcnn-classical.json", &opt, "{\"type\":\"adam\"}");
    HQ_REQUIRE(m);
    uint8_t *good;
    size_t len;
    HQ_REQUIRE_OK(hq_model_save_mem(m, opt, &good, &len));
    uint8_t *d = hq_malloc(len + 16);
    float before[70000], after[70000];
    int64_t nv, nv2;
    all_values(m, before, &nv);

    /* truncation: anywhere */
    size_t cuts[] = {len - 1, len - 33, len / 2, 40, 31, 8};
    for (size_t i = 0; i < HQ_ARRAY_LEN(cuts); i++)
        HQ_CHECK_FAILS(hq_model_load_mem(m, opt, good, cuts[i]), HQ_ERR_CORRUPT, "truncated");
    HQ_CHECK_FAILS(hq_model_load_mem(m, opt, good, 7), HQ_ERR_PARSE, "not an hqcnn weight file");
    /* wrong magic */
    memcpy(d, good, len);
    d[1] ^= 0x20;
    HQ_CHECK_FAILS(hq_model_load_mem(m, opt, d, len), HQ_ERR_PARSE, "not an hqcnn weight file");
    /* newer version */
    memcpy(d, good, len);
    put32(d + 8, 2);
    HQ_CHECK_FAILS(hq_model_load_mem(m, opt, d, len), HQ_ERR_UNSUPPORTED,
                   "format version 2 is newer than this build reads (1)");
    /* a flipped bit in the payload */
    memcpy(d, good, len);
    d[len - 100] ^= 1;
    HQ_CHECK_FAILS(hq_model_load_mem(m, opt, d, len), HQ_ERR_CORRUPT, "checksum mismatch");
    /* trailing garbage */
    memcpy(d, good, len);
    memset(d + len, 0, 16);
    HQ_CHECK_FAILS(hq_model_load_mem(m, opt, d, len + 16), HQ_ERR_CORRUPT,
                   "does not match its header");
    /* a table entry pointing outside the payload, with a valid checksum */
    memcpy(d, good, len);
    /* first entry: u16 name length 6 "config", dtype, ndim 1, dim, offset (8 bytes at 32+2+6+2+8)
     */
    HQ_REQUIRE(d[32] == 6 && memcmp(d + 34, "config", 6) == 0);
    put32(d + 32 + 2 + 6 + 2 + 8, 0x7fffffff);
    reseal(d, len);
    HQ_CHECK_FAILS(hq_model_load_mem(m, opt, d, len), HQ_ERR_CORRUPT, "table is inconsistent");
    all_values(m, after, &nv2);
    HQ_CHECK(nv == nv2 && memcmp(before, after, (size_t)nv * 4) == 0); /* nothing changed */

    /* shape mismatch: a 3-class model */
    char *cfg = read_config("hqcnn-classical.json");
    HQ_REQUIRE(cfg);
    hq_model *m3;
    hq_model_opts o3 = {.classes = 3, .height = 8, .width = 8, .max_batch = 2, .threads = 1};
    HQ_REQUIRE_OK(hq_model_create(cfg, &o3, &m3));
    HQ_CHECK_FAILS(
        hq_model_load_mem(m3, NULL, good, len), HQ_ERR_INVALID_ARG,
        "tensor 'layers.25.weight' has shape [2, 128], the model's config needs [3, 128]");
    hq_model_free(m3);
    /* a model with one layer fewer (no dropout -> head indices shift) */
    char *cut = strstr(cfg, "    {\"type\": \"dropout\", \"p\": 0.2},\n");
    HQ_REQUIRE(cut);
    memmove(cut, cut + strlen("    {\"type\": \"dropout\", \"p\": 0.2},\n"),
            strlen(cut + strlen("    {\"type\": \"dropout\", \"p\": 0.2},\n")) + 1);
    hq_model *m4;
    hq_model_opts o4 = {.height = 8, .width = 8, .max_batch = 2, .threads = 1};
    HQ_REQUIRE_OK(hq_model_create(cfg, &o4, &m4));
    HQ_CHECK_FAILS(hq_model_load_mem(m4, NULL, good, len), HQ_ERR_INVALID_ARG,
                   "weight file has no tensor 'layers.24.weight' (layer 24, dense)");
    uint8_t *small;
    size_t slen;
    HQ_REQUIRE_OK(hq_model_save_mem(m4, NULL, &small, &slen));
    HQ_CHECK_FAILS(hq_model_load_mem(m, NULL, small, slen), HQ_ERR_INVALID_ARG,
                   "weight file has no tensor 'layers.25.weight'");
    /* a model without the first conv's bias: the file has a tensor the model lacks */
    char *b0 = read_config("hqcnn-classical.json");
    HQ_REQUIRE(b0);
    char *first = strstr(b0, "\"padding\": 1}");
    HQ_REQUIRE(first);
    char cfg5[4096];
    snprintf(cfg5, sizeof cfg5, "%.*s\"padding\": 1, \"bias\": false}%s", (int)(first - b0), b0,
             first + strlen("\"padding\": 1}"));
    hq_model *m5;
    HQ_REQUIRE_OK(hq_model_create(cfg5, &o4, &m5));
    HQ_CHECK_FAILS(hq_model_load_mem(m5, NULL, good, len), HQ_ERR_INVALID_ARG,
                   "weight file has tensor 'layers.0.bias', which the model does not have");
    hq_model_free(m5);
    hq_free(b0);
    /* optimizer state: absent, or of another type, or for another size */
    HQ_CHECK_FAILS(hq_model_load_mem(m4, opt, small, slen), HQ_ERR_INVALID_ARG,
                   "no optimizer state");
    hq_optim *sgd, *tiny;
    HQ_REQUIRE_OK(
        hq_optim_create("{\"type\":\"sgd\",\"momentum\":0.9}", hq_model_n_params(m), &sgd));
    HQ_CHECK_FAILS(hq_model_load_mem(m, sgd, good, len), HQ_ERR_INVALID_ARG,
                   "holds adam optimizer state, the optimizer is sgd");
    HQ_CHECK_OK(hq_model_load_mem(m, NULL, good, len)); /* weights only is fine */
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adam\"}", 5, &tiny));
    uint8_t *none = NULL;
    size_t nlen = 0;
    HQ_CHECK_FAILS(hq_model_save_mem(m, tiny, &none, &nlen), HQ_ERR_INVALID_ARG,
                   "optimizer made for 5 parameters, the model has 64638");
    hq_optim_free(tiny);
    /* files */
    HQ_CHECK_FAILS(hq_model_load(m, NULL, hq_test_tmpfile("missing.hqw")), HQ_ERR_NOT_FOUND,
                   "missing.hqw");
    hq_model *mx;
    HQ_CHECK_FAILS(
        hq_model_create_from_weights(hq_test_write_file("bad.hqw", "HQCNNWT", 7), NULL, &mx),
        HQ_ERR_PARSE, "not an hqcnn weight file");
    HQ_CHECK_FAILS(hq_model_save(m, NULL, "/nonexistent-dir/x.hqw"), HQ_ERR_IO, "nonexistent-dir");
    hq_free(small);
    hq_optim_free(sgd);
    hq_model_free(m4);
    hq_free(cfg);
    hq_free(d);
    hq_free(good);
    hq_optim_free(opt);
    hq_model_free(m);
}

/* ==== config errors =================================================================== */

HQ_TEST(nn_model_config_errors) {
    hq_model *m = NULL;
    HQ_CHECK_FAILS(hq_model_create("{\"layers\": [\n  {\"type\": \"relu\"},,]}", NULL, &m),
                   HQ_ERR_PARSE, "invalid JSON at line 2, column 20");
    HQ_CHECK_FAILS(hq_model_create("[]", NULL, &m), HQ_ERR_INVALID_ARG, "must be an object");
    HQ_CHECK_FAILS(hq_model_create("{\"layers\":[]}", NULL, &m), HQ_ERR_INVALID_ARG,
                   "\"layers\" must be a non-empty array");
    HQ_CHECK_FAILS(hq_model_create("{\"layer\":[]}", NULL, &m), HQ_ERR_INVALID_ARG,
                   "unknown model field \"layer\"");
    HQ_CHECK_FAILS(
        hq_model_create("{\"input\":[1,28],\"layers\":[{\"type\":\"flatten\"}]}", NULL, &m),
        HQ_ERR_INVALID_ARG, "\"input\" must be [channels, height, width]");
    HQ_CHECK_FAILS(hq_model_create("{\"layers\":[{\"type\":\"relu\"}]}", NULL, &m),
                   HQ_ERR_INVALID_ARG, "a classifier needs (n, classes, 1, 1)");
    HQ_CHECK_FAILS(
        hq_model_create("{\"classes\":3,\"layers\":[{\"type\":\"dense\",\"out\":2}]}", NULL, &m),
        HQ_ERR_INVALID_ARG, "the last layer has 2 outputs but \"classes\" is 3");
    HQ_CHECK_FAILS(
        hq_model_create("{\"layers\":[{\"type\":\"flatten\"},{\"type\":\"dense\",\"out\":"
                        "\"classes\"}]}",
                        NULL, &m),
        HQ_ERR_INVALID_ARG, "layer 1 (dense): \"out\": \"classes\" needs");
    HQ_CHECK_FAILS(
        hq_model_create("{\"layers\":[{\"type\":\"conv2d\",\"out\":4,\"stride\":0}]}", NULL, &m),
        HQ_ERR_INVALID_ARG, "layer 0 (conv2d): option \"stride\" must be an integer in [1, 15]");
    HQ_CHECK_FAILS(
        hq_model_create("{\"max_batch\":0,\"layers\":[{\"type\":\"dense\",\"out\":2}]}", NULL, &m),
        HQ_ERR_INVALID_ARG, "\"max_batch\" must be an integer in [1, 1048576]");
    HQ_CHECK_FAILS(hq_model_create_file("configs/none.json", NULL, &m), HQ_ERR_NOT_FOUND,
                   "model config 'configs/none.json'");
    HQ_CHECK(m == NULL);
    /* a training config holding the model under "model" */
    HQ_CHECK_OK(hq_model_create("{\"model\":{\"input\":[1,4,4],\"layers\":[{\"type\":\"dense\","
                                "\"out\":3}]},\"optimizer\":{}}",
                                NULL, &m));
    HQ_CHECK_EQ_INT(hq_model_classes(m), 3);
    /* misuse */
    HQ_CHECK_FAILS(hq_model_backward(m), HQ_ERR_MISUSE, "call hq_model_forward then hq_model_loss");
    int32_t lab[2] = {0, 1};
    double loss;
    HQ_CHECK_FAILS(hq_model_loss(m, lab, NULL, &loss), HQ_ERR_MISUSE, "no forward pass");
    float x[2 * 16] = {0};
    hq_tensor xt = hq_tensor_view(x, hq_shape4(2, 2, 4, 2));
    hq_pass p = {.train = true};
    HQ_CHECK_FAILS(hq_model_forward(m, &xt, &p, NULL), HQ_ERR_INVALID_ARG,
                   "input shape (2, 2, 4, 2), expected (n, 1, 4, 4)");
    xt = hq_tensor_view(x, hq_shape4(2, 1, 4, 4));
    HQ_CHECK_OK(hq_model_forward(m, &xt, &p, NULL));
    lab[1] = 3;
    HQ_CHECK_FAILS(hq_model_loss(m, lab, NULL, &loss), HQ_ERR_INVALID_ARG,
                   "label 3 of sample 1 out of range [0, 3)");
    hq_optim *o;
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"sgd\"}", 5, &o));
    HQ_CHECK_FAILS(hq_model_step(m, o, 0.1), HQ_ERR_INVALID_ARG, "optimizer made for 5 parameters");
    hq_optim_free(o);
    hq_model_free(m);
    hq_handle dead = {.magic = HQ_MAGIC_DEAD}; /* what a freed model's header holds */
    HQ_CHECK_FAILS(hq_model_forward((hq_model *)&dead, &xt, &p, NULL), HQ_ERR_MISUSE,
                   "invalid handle");
    hq_model_free(NULL);
}

HQ_TEST(nn_model_create_out_of_memory) {
    char *cfg = read_config("hqcnn-classical.json");
    HQ_REQUIRE(cfg);
    hq_model_opts o = {.height = 8, .width = 8, .max_batch = 4, .threads = 2};
    int k;
    for (k = 1; k < 400; k++) {
        hq_model *m = NULL;
        hq_alloc_fail_after(k);
        hq_status st = hq_model_create(cfg, &o, &m);
        bool fired = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!fired) {
            HQ_CHECK_OK(st);
            hq_model_free(m);
            break;
        }
        HQ_CHECKF(st == HQ_ERR_NOMEM && m == NULL, "allocation %d: %s", k, hq_status_name(st));
    }
    HQ_CHECK(k > 20 && k < 400);
    hq_free(cfg);
}
