/*
 * tests/test_nn_layers.c — every layer type against independent references:
 *   - conv2d (im2col + sgemm, both input-gradient paths) against the naive direct
 *     convolution, over stride / padding / kernel variants;
 *   - every layer's backward (inputs and parameters) against central finite differences
 *     of L = sum(r * y) for a random r (float32 with step and tolerance chosen per layer,
 *     inputs kept away from kinks and ties);
 *   - batch norm statistics and running averages against a double computation by hand,
 *     train and eval; pooling ties and NaN as PyTorch; dropout masks reproducible and
 *     independent of thread count and batch position; PyTorch-style init statistics;
 *   - results bit-identical for 1 and 2 threads; error paths with their messages.
 */
#include <math.h>
#include <stdlib.h>

#include <complex.h>

#include "backends/circuit.h"
#include "backends/sv_ref.h"
#include "core/rng.h"
#include "nn/conv_direct.h"
#include "nn/layer.h"
#include "nn/layer_impl.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================= */

static void fill_uniform(float *p, int64_t n, hq_rng *r, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * hq_rng_uniformf(r);
}

/* values with |v| in [0.1, 1] and random sign: away from the ReLU kink */
static void fill_away_from_zero(float *p, int64_t n, hq_rng *r) {
    for (int64_t i = 0; i < n; i++) {
        float v = 0.1f + 0.9f * hq_rng_uniformf(r);
        p[i] = hq_rng_u32(r) & 1 ? v : -v;
    }
}

/* distinct values on a grid of spacing 1/n (shuffled): pooling windows have no near-ties */
static void fill_distinct(float *p, int64_t n, hq_rng *r) {
    int32_t *idx = hq_malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    hq_rng_shuffle_i32(r, idx, n);
    for (int64_t i = 0; i < n; i++) p[i] = ((float)idx[i] / (float)n) * 2.0f - 1.0f;
    hq_free(idx);
}

static double dot_r(const float *y, const float *r, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

typedef enum { FILL_UNIFORM, FILL_AWAY, FILL_DISTINCT } fill_kind;

/*
 * Finite-difference check of one layer: L = sum(r * y). Compares dL/dx and dL/dparams
 * from backward with central differences at up to max_checks entries each.
 * tol: |fd - analytic| <= tol * (1 + |analytic|).
 */
static void fd_check(const char *json, hq_shape in, bool train, fill_kind fk, double h, double tol,
                     int max_checks) {
    hq_layer *l;
    HQ_REQUIRE_OK(hq_layer_create(json, in, &l));
    HQ_REQUIRE_OK(hq_layer_init(l, 11));
    hq_shape os = hq_layer_out_shape(l);
    hq_tensor x, y, r, dx;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dx, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, os));
    HQ_REQUIRE_OK(hq_tensor_alloc(&r, os));
    hq_rng rng;
    hq_rng_init(&rng, 5, 1, 0);
    int64_t nx = hq_shape_numel(in), ny = hq_shape_numel(os);
    if (fk == FILL_AWAY)
        fill_away_from_zero(x.data, nx, &rng);
    else if (fk == FILL_DISTINCT)
        fill_distinct(x.data, nx, &rng);
    else
        fill_uniform(x.data, nx, &rng, -1, 1);
    fill_uniform(r.data, ny, &rng, -1, 1);
    /* make batch-norm parameters non-trivial */
    for (int i = 0; i < hq_layer_n_params(l); i++) {
        hq_param_info pi;
        HQ_REQUIRE_OK(hq_layer_param(l, i, &pi));
        if (strcmp(hq_layer_type(l), "batchnorm") == 0 && pi.trainable)
            fill_uniform(pi.data, pi.numel, &rng, 0.5f, 1.5f);
    }
    hq_pass pass = {.train = train, .seed = 3, .epoch = 1, .step = 2};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &pass));
    HQ_REQUIRE_OK(hq_layer_zero_grad(l));
    HQ_REQUIRE_OK(hq_layer_backward(l, &dx, &r));
    /* snapshot analytic grads (forwards below change nothing but batch-norm running stats) */
    int np = hq_layer_n_params(l);
    float *grads[8] = {0};
    for (int i = 0; i < np; i++) {
        hq_param_info pi;
        HQ_REQUIRE_OK(hq_layer_param(l, i, &pi));
        if (!pi.trainable) continue;
        grads[i] = hq_malloc((size_t)pi.numel * sizeof(float));
        memcpy(grads[i], pi.grad, (size_t)pi.numel * sizeof(float));
    }
    double worst = 0;
    /* inputs */
    int64_t stride = nx / max_checks > 1 ? nx / max_checks : 1;
    for (int64_t i = (stride > 1 ? 3 : 0) % nx; i < nx; i += stride) {
        float keep = x.data[i];
        x.data[i] = keep + (float)h;
        HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &pass));
        double lp = dot_r(y.data, r.data, ny);
        x.data[i] = keep - (float)h;
        HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &pass));
        double lm = dot_r(y.data, r.data, ny);
        x.data[i] = keep;
        double fd = (lp - lm) / (2 * h), an = dx.data[i];
        double err = fabs(fd - an) / (1 + fabs(an));
        if (err > worst) worst = err;
        HQ_CHECKF(err <= tol, "%s: dx[%lld] analytic %.6g vs finite difference %.6g", json,
                  (long long)i, an, fd);
    }
    /* parameters */
    for (int pi_ = 0; pi_ < np; pi_++) {
        hq_param_info pi;
        HQ_REQUIRE_OK(hq_layer_param(l, pi_, &pi));
        if (!pi.trainable) continue;
        int64_t st = pi.numel / max_checks > 1 ? pi.numel / max_checks : 1;
        for (int64_t i = 0; i < pi.numel; i += st) {
            float keep = pi.data[i];
            pi.data[i] = keep + (float)h;
            HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &pass));
            double lp = dot_r(y.data, r.data, ny);
            pi.data[i] = keep - (float)h;
            HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &pass));
            double lm = dot_r(y.data, r.data, ny);
            pi.data[i] = keep;
            double fd = (lp - lm) / (2 * h), an = grads[pi_][i];
            double err = fabs(fd - an) / (1 + fabs(an));
            if (err > worst) worst = err;
            HQ_CHECKF(err <= tol, "%s: d%s[%lld] analytic %.6g vs finite difference %.6g", json,
                      pi.name, (long long)i, an, fd);
        }
        hq_free(grads[pi_]);
    }
    if (getenv("HQ_TEST_VERBOSE")) fprintf(stderr, "    %s: worst rel err %.3g\n", json, worst);
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_tensor_release(&r);
    hq_tensor_release(&dx);
    hq_layer_free(l);
}

/* ==== conv2d vs the direct reference ================================================== */

typedef struct conv_case {
    int n, cin, h, w, cout, k, stride, pad;
    bool bias;
} conv_case;

/* The conv2d path a layer of this shape should take: the direct 3x3 kernels unless
 * $HQCNN_NN_DIRECT is "0" (mode), the shape is not theirs or the CPU lacks AVX2 + FMA. */
static bool expect_direct(const char *mode, int k, int stride, int pad, int h, int w) {
    return !(mode && !strcmp(mode, "0")) && nn_direct_available() && k == 3 && stride == 1 &&
           pad == 1 && h >= 4 && w >= 4;
}

/* hq_layer_create with $HQCNN_NN_DIRECT set to mode (NULL: unset), unset again after */
static hq_status create_in_mode(const char *json, hq_shape in, const char *mode, hq_layer **l) {
    if (mode)
        setenv("HQCNN_NN_DIRECT", mode, 1);
    else
        unsetenv("HQCNN_NN_DIRECT");
    hq_status st = hq_layer_create(json, in, l);
    unsetenv("HQCNN_NN_DIRECT");
    return st;
}

/* both conv2d paths: direct kernels where eligible (NULL), im2col + sgemm ("0") */
static const char *const conv_modes[] = {NULL, "0"};

static void conv_vs_ref(const conv_case *cc, int threads, const char *mode) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"type\":\"conv2d\",\"out\":%d,\"kernel\":%d,\"stride\":%d,\"padding\":%d,"
             "\"bias\":%s}",
             cc->cout, cc->k, cc->stride, cc->pad, cc->bias ? "true" : "false");
    hq_shape in = hq_shape4(cc->n, cc->cin, cc->h, cc->w);
    hq_layer *l;
    HQ_REQUIRE_OK(create_in_mode(json, in, mode, &l));
    HQ_CHECKF(nn_conv2d_direct(l) == expect_direct(mode, cc->k, cc->stride, cc->pad, cc->h, cc->w),
              "%s on (%d,%d,%d,%d), HQCNN_NN_DIRECT=%s: wrong path", json, cc->n, cc->cin, cc->h,
              cc->w, mode ? mode : "(unset)");
    hq_nn_pool *pool = NULL;
    if (threads > 1) {
        HQ_REQUIRE_OK(hq_nn_pool_create(threads, &pool));
        HQ_REQUIRE_OK(hq_layer_set_pool(l, pool));
    }
    HQ_REQUIRE_OK(hq_layer_init(l, 7));
    hq_shape os = hq_layer_out_shape(l);
    int ho = (cc->h + 2 * cc->pad - cc->k) / cc->stride + 1;
    int wo = (cc->w + 2 * cc->pad - cc->k) / cc->stride + 1;
    HQ_CHECK(os.c == cc->cout && os.h == ho && os.w == wo);
    hq_tensor x, y, dy, dx;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dx, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, os));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dy, os));
    hq_rng rng;
    hq_rng_init(&rng, 99, 0, 0);
    fill_uniform(x.data, hq_shape_numel(in), &rng, -1, 1);
    fill_uniform(dy.data, hq_shape_numel(os), &rng, -1, 1);
    hq_param_info w, b = {0};
    HQ_REQUIRE_OK(hq_layer_param(l, 0, &w));
    if (cc->bias) HQ_REQUIRE_OK(hq_layer_param(l, 1, &b));
    hq_pass pass = {.train = true};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &pass));
    HQ_REQUIRE_OK(hq_layer_zero_grad(l));
    HQ_REQUIRE_OK(hq_layer_backward(l, &dx, &dy));
    int64_t ny = hq_shape_numel(os), nx = hq_shape_numel(in);
    float *ry = hq_malloc((size_t)ny * 4), *rdx = hq_malloc((size_t)nx * 4);
    float *rdw = hq_calloc((size_t)w.numel, 4), *rdb = hq_calloc((size_t)cc->cout, 4);
    nn_conv2d_ref_forward(ry, x.data, w.data, cc->bias ? b.data : NULL, cc->n, cc->cin, cc->h,
                          cc->w, cc->cout, cc->k, cc->stride, cc->pad);
    nn_conv2d_ref_backward(rdx, rdw, cc->bias ? rdb : NULL, dy.data, x.data, w.data, cc->n, cc->cin,
                           cc->h, cc->w, cc->cout, cc->k, cc->stride, cc->pad);
    /* sums of up to K (or n*HWo) products of O(1) terms: float32 error ~ 1e-6 * sqrt(terms) */
    double ey = 0, edx = 0, edw = 0, edb = 0;
    for (int64_t i = 0; i < ny; i++) ey = fmax(ey, fabs(y.data[i] - ry[i]));
    for (int64_t i = 0; i < nx; i++) edx = fmax(edx, fabs(dx.data[i] - rdx[i]));
    for (int64_t i = 0; i < w.numel; i++)
        edw = fmax(edw, fabs(w.grad[i] - rdw[i]) / (1 + fabs(rdw[i])));
    for (int i = 0; cc->bias && i < cc->cout; i++)
        edb = fmax(edb, fabs(b.grad[i] - rdb[i]) / (1 + fabs(rdb[i])));
    HQ_CHECKF(ey < 1e-5 && edx < 1e-5 && edw < 2e-5 && edb < 2e-5,
              "%s on (%d,%d,%d,%d), %d threads, %s: max err y %.3g dx %.3g dw %.3g db %.3g", json,
              cc->n, cc->cin, cc->h, cc->w, threads, nn_conv2d_direct(l) ? "direct" : "im2col", ey,
              edx, edw, edb);
    hq_free(ry);
    hq_free(rdx);
    hq_free(rdw);
    hq_free(rdb);
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_tensor_release(&dx);
    hq_tensor_release(&dy);
    hq_layer_free(l);
    hq_nn_pool_free(pool);
}

HQ_TEST(nn_conv2d_matches_direct_reference) {
    static const conv_case cases[] = {
        /* n cin h  w cout k s p bias */
        {3, 1, 28, 28, 16, 3, 1, 1, true},  /* HQCNN first layer, flipped-kernel dx */
        {5, 16, 14, 14, 32, 3, 1, 1, true}, /* chunks of several images */
        {4, 8, 7, 7, 12, 3, 1, 1, false},   /* no bias */
        {3, 3, 9, 11, 5, 3, 2, 1, true},    /* stride 2: col2im path, non-square */
        {2, 4, 8, 8, 6, 3, 1, 0, true},     /* valid convolution */
        {2, 2, 10, 9, 3, 5, 1, 2, true},    /* 5x5 */
        {2, 3, 6, 6, 4, 1, 1, 0, true},     /* 1x1 */
        {2, 2, 7, 7, 3, 3, 1, 3, true},     /* padding > k-1: col2im path */
        {17, 2, 5, 5, 3, 3, 3, 2, true},    /* stride 3, more samples than slots */
        {1, 5, 4, 6, 2, 2, 2, 0, true},     /* even kernel */
        /* the direct kernels' edges: 4 x 4 planes, channel counts off their tiles of 4
         * (forward) and 16 (weight gradient), an odd count of 3-row kernel blocks (cin 3,
         * 5, 7), more samples than slots; and planes too narrow for them */
        {17, 5, 4, 4, 7, 3, 1, 1, true},
        {3, 3, 5, 9, 20, 3, 1, 1, true},
        {2, 7, 28, 28, 33, 3, 1, 1, false},
        {2, 64, 7, 7, 64, 3, 1, 1, true}, /* the deep 7x7 layer */
        {3, 4, 3, 8, 5, 3, 1, 1, true},
        {2, 4, 9, 2, 5, 3, 1, 1, true},
    };
    for (size_t m = 0; m < HQ_ARRAY_LEN(conv_modes); m++)
        for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
            conv_vs_ref(&cases[i], 1, conv_modes[m]);
            conv_vs_ref(&cases[i], 2, conv_modes[m]);
        }
}

HQ_TEST(nn_conv2d_reused_buffers_stay_valid) {
    /* im2col keeps padding zeros in per-layer buffers between calls: alternate batch sizes
     * (different chunk counts, partial chunks) and strides, compare with the reference
     * after each call */
    static const int cfg[][4] = {{16, 1, 1, 3}, {8, 3, 1, 3}, {4, 3, 2, 3}, {16, 2, 0, 3}};
    for (size_t mc = 0; mc < 2 * HQ_ARRAY_LEN(cfg); mc++) {
        size_t c = mc % HQ_ARRAY_LEN(cfg);
        const char *mode = conv_modes[mc / HQ_ARRAY_LEN(cfg)];
        int cin = cfg[c][0] / 4, cout = 5, k = cfg[c][3], pad = cfg[c][2], stride = c == 2 ? 2 : 1;
        char json[160];
        snprintf(json, sizeof json,
                 "{\"type\":\"conv2d\",\"out\":%d,\"kernel\":%d,\"stride\":%d,"
                 "\"padding\":%d}",
                 cout, k, stride, pad);
        hq_layer *l;
        HQ_REQUIRE_OK(create_in_mode(json, hq_shape4(19, cin, 7, 7), mode, &l));
        HQ_CHECK(nn_conv2d_direct(l) == expect_direct(mode, k, stride, pad, 7, 7));
        HQ_REQUIRE_OK(hq_layer_init(l, 3));
        hq_shape os = hq_layer_out_shape(l);
        hq_tensor x, y, dy, dx;
        HQ_REQUIRE_OK(hq_tensor_alloc(&x, hq_shape4(19, cin, 7, 7)));
        HQ_REQUIRE_OK(hq_tensor_alloc(&dx, hq_shape4(19, cin, 7, 7)));
        HQ_REQUIRE_OK(hq_tensor_alloc(&y, os));
        HQ_REQUIRE_OK(hq_tensor_alloc(&dy, os));
        hq_param_info w, b;
        HQ_REQUIRE_OK(hq_layer_param(l, 0, &w));
        HQ_REQUIRE_OK(hq_layer_param(l, 1, &b));
        hq_rng rng;
        hq_rng_init(&rng, 7, c, 0);
        static const int ns[] = {19, 3, 17, 1, 19};
        for (size_t t = 0; t < HQ_ARRAY_LEN(ns); t++) {
            int n = ns[t];
            hq_tensor xv = hq_tensor_view(x.data, hq_shape4(n, cin, 7, 7));
            hq_tensor yv = hq_tensor_view(y.data, hq_shape4(n, os.c, os.h, os.w));
            hq_tensor dyv = hq_tensor_view(dy.data, hq_shape4(n, os.c, os.h, os.w));
            hq_tensor dxv = hq_tensor_view(dx.data, hq_shape4(n, cin, 7, 7));
            fill_uniform(x.data, hq_shape_numel(xv.shape), &rng, -1, 1);
            fill_uniform(dy.data, hq_shape_numel(dyv.shape), &rng, -1, 1);
            hq_pass p = {.train = true};
            HQ_REQUIRE_OK(hq_layer_forward(l, &yv, &xv, &p));
            HQ_REQUIRE_OK(hq_layer_zero_grad(l));
            HQ_REQUIRE_OK(hq_layer_backward(l, &dxv, &dyv));
            int64_t ny = hq_shape_numel(yv.shape), nx = hq_shape_numel(xv.shape);
            float *ry = hq_malloc((size_t)ny * 4), *rdx = hq_malloc((size_t)nx * 4);
            float *rdw = hq_calloc((size_t)w.numel, 4), *rdb = hq_calloc((size_t)cout, 4);
            nn_conv2d_ref_forward(ry, x.data, w.data, b.data, n, cin, 7, 7, cout, k, stride, pad);
            nn_conv2d_ref_backward(rdx, rdw, rdb, dy.data, x.data, w.data, n, cin, 7, 7, cout, k,
                                   stride, pad);
            double e = 0;
            for (int64_t i = 0; i < ny; i++) e = fmax(e, fabs(y.data[i] - ry[i]));
            for (int64_t i = 0; i < nx; i++) e = fmax(e, fabs(dx.data[i] - rdx[i]));
            for (int64_t i = 0; i < w.numel; i++)
                e = fmax(e, fabs(w.grad[i] - rdw[i]) / (1 + fabs(rdw[i])));
            HQ_CHECKF(e < 2e-5, "%s, %s, call %zu (batch %d): max error %.3g", json,
                      nn_conv2d_direct(l) ? "direct" : "im2col", t, n, e);
            hq_free(ry);
            hq_free(rdx);
            hq_free(rdw);
            hq_free(rdb);
        }
        hq_tensor_release(&x);
        hq_tensor_release(&y);
        hq_tensor_release(&dx);
        hq_tensor_release(&dy);
        hq_layer_free(l);
    }
}

/* ==== conv2d with the batch norm folded in (evaluation) =============================== */

typedef struct fold_case {
    int n, cin, h, w, cout, k, s, p;
    int mode; /* 0: batch norm alone, 1: + relu, 2: + relu + 2x2 max pool */
    bool nan; /* one input pixel is NaN */
} fold_case;

/*
 * nn_conv2d_forward_folded against a double-precision direct computation of
 * maxpool(relu(bn_eval(conv(x)))). Bound: each pre-activation is a sum of K = cin*k*k
 * products plus the bias; any float32 summation order is within gamma_K * S of the exact
 * value (Higham, Accuracy and Stability, 3.1), S = sum of |terms|, gamma_K ~ K u,
 * u = 2^-24. The fold adds a few roundings (the scale a = gamma/sqrt(var + eps) and shift d,
 * w*a, b*a + d): tolerance (K + 8) u S' with S' = |a| (sum |w x| + |b| + |mean|) + |beta|.
 * ReLU and max are 1-Lipschitz, so the bound carries to the pooled output.
 */
static void fold_vs_ref(const fold_case *fc, int threads, const char *mode) {
    char cj[160], bj[80];
    snprintf(cj, sizeof cj,
             "{\"type\":\"conv2d\",\"out\":%d,\"kernel\":%d,\"stride\":%d,\"padding\":%d}",
             fc->cout, fc->k, fc->s, fc->p);
    snprintf(bj, sizeof bj, "{\"type\":\"batchnorm\"%s}",
             fc->mode == 2   ? ",\"maxpool\":true"
             : fc->mode == 1 ? ",\"relu\":true"
                             : "");
    hq_layer *conv, *bn;
    HQ_REQUIRE_OK(create_in_mode(cj, hq_shape4(fc->n, fc->cin, fc->h, fc->w), mode, &conv));
    HQ_CHECK(nn_conv2d_direct(conv) == expect_direct(mode, fc->k, fc->s, fc->p, fc->h, fc->w));
    hq_shape cs = hq_layer_out_shape(conv);
    HQ_REQUIRE_OK(hq_layer_create(bj, cs, &bn));
    hq_nn_pool *pool = NULL;
    if (threads > 1) {
        HQ_REQUIRE_OK(hq_nn_pool_create(threads, &pool));
        HQ_REQUIRE_OK(hq_layer_set_pool(conv, pool));
        HQ_REQUIRE_OK(hq_layer_set_pool(bn, pool));
    }
    hq_rng r;
    hq_rng_init(&r, 11, (uint64_t)fc->cin * 100 + fc->cout, (uint64_t)fc->mode);
    hq_param_info w, b, pr[4];
    HQ_REQUIRE_OK(hq_layer_param(conv, 0, &w));
    HQ_REQUIRE_OK(hq_layer_param(conv, 1, &b));
    fill_uniform(w.data, w.numel, &r, -0.5f, 0.5f);
    fill_uniform(b.data, b.numel, &r, -0.5f, 0.5f);
    for (int k = 0; k < 4; k++) { /* gamma, beta, running mean, running var */
        HQ_REQUIRE_OK(hq_layer_param(bn, k, &pr[k]));
        fill_uniform(pr[k].data, fc->cout, &r, k == 1 || k == 2 ? -1.0f : 0.2f, 2.0f);
    }
    int64_t nx = (int64_t)fc->n * fc->cin * fc->h * fc->w;
    float *x = hq_malloc((size_t)nx * 4);
    fill_uniform(x, nx, &r, -1, 1);
    if (fc->nan) x[nx / 2 + 3] = NAN;
    hq_shape os = hq_layer_out_shape(bn);
    int64_t ny = hq_shape_numel(os), plane = (int64_t)os.h * os.w;
    float *y = hq_malloc((size_t)ny * 4);
    for (int64_t i = 0; i < ny; i++) y[i] = 12345.0f; /* every output must be written */
    HQ_REQUIRE_OK(nn_conv2d_forward_folded(conv, bn, y, x, fc->n));

    /* reference: pre-activation v and its bound per conv output, in double */
    int ho = cs.h, wo = cs.w, kk = fc->cin * fc->k * fc->k;
    int64_t nv = (int64_t)fc->n * fc->cout * ho * wo;
    double *v = hq_malloc((size_t)nv * 8), *bound = hq_malloc((size_t)nv * 8);
    const double u = ldexp(1.0, -24);
    for (int bi = 0; bi < fc->n; bi++)
        for (int o = 0; o < fc->cout; o++) {
            double g = pr[0].data[o], beta = pr[1].data[o], mean = pr[2].data[o];
            double a = g / sqrt((double)pr[3].data[o] + 1e-5);
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double acc = b.data[o], mag = fabs(b.data[o]);
                    for (int ci = 0; ci < fc->cin; ci++)
                        for (int kh = 0; kh < fc->k; kh++)
                            for (int kw = 0; kw < fc->k; kw++) {
                                int ih = oh * fc->s - fc->p + kh, iw = ow * fc->s - fc->p + kw;
                                if (ih < 0 || ih >= fc->h || iw < 0 || iw >= fc->w) continue;
                                double t =
                                    (double)x[(((int64_t)bi * fc->cin + ci) * fc->h + ih) * fc->w +
                                              iw] *
                                    w.data[((o * fc->cin + ci) * fc->k + kh) * fc->k + kw];
                                acc += t;
                                mag += fabs(t);
                            }
                    int64_t at = (((int64_t)bi * fc->cout + o) * ho + oh) * wo + ow;
                    v[at] = (acc - mean) * a + beta;
                    if (fc->mode >= 1 && v[at] < 0) v[at] = 0;
                    bound[at] = (kk + 8) * u * (fabs(a) * (mag + fabs(mean)) + fabs(beta)) + 1e-30;
                }
        }
    double worst = 0; /* largest error / bound */
    int64_t bad_nan = 0;
    for (int64_t i = 0; i < ny; i++) {
        int64_t pl = i / plane, q = i % plane;
        double ref, bd;
        if (fc->mode == 2) { /* NaN-propagating max over the window */
            int oh = (int)(q / os.w), ow = (int)(q % os.w);
            ref = -INFINITY;
            bd = 0;
            for (int t = 0; t < 4; t++) {
                int64_t at = pl * ho * wo + (int64_t)(2 * oh + t / 2) * wo + 2 * ow + t % 2;
                if (isnan(v[at]) || v[at] > ref) ref = isnan(ref) ? ref : v[at];
                bd = fmax(bd, bound[at]);
            }
        } else {
            ref = v[i];
            bd = bound[i];
        }
        if (isnan(ref) || isnan(y[i])) {
            bad_nan += isnan(ref) != isnan(y[i]);
            continue;
        }
        worst = fmax(worst, fabs(y[i] - ref) / bd);
    }
    HQ_CHECKF(worst <= 1.0 && bad_nan == 0,
              "folded %s + %s on (%d,%d,%d,%d), %d threads, %s: error %.3g of the bound, %lld NaN "
              "mismatches",
              cj, bj, fc->n, fc->cin, fc->h, fc->w, threads,
              nn_conv2d_direct(conv) ? "direct" : "im2col", worst, (long long)bad_nan);
    if (fc->nan) { /* the NaN reached the output (or the test would not test it) */
        int64_t nn = 0;
        for (int64_t i = 0; i < ny; i++) nn += isnan(y[i]);
        HQ_CHECK(nn > 0);
    }
    hq_free(v);
    hq_free(bound);
    hq_free(x);
    hq_free(y);
    hq_layer_free(conv);
    hq_layer_free(bn);
    hq_nn_pool_free(pool);
}

HQ_TEST(nn_conv2d_folded_batchnorm_matches_direct_reference) {
    static const fold_case cases[] = {
        /* n cin h  w cout k s p mode nan */
        {1, 1, 28, 28, 16, 3, 1, 1, 2, false},  /* HQCNN first layer, batch 1, pooled */
        {5, 3, 9, 11, 13, 3, 1, 1, 1, false},   /* odd plane, 13 channels, relu */
        {3, 5, 7, 7, 7, 3, 1, 1, 2, false},     /* odd plane pooled: the last row/col drop */
        {4, 16, 14, 14, 32, 3, 1, 1, 2, false}, /* chunks of several images */
        {17, 2, 6, 5, 3, 3, 2, 1, 0, false},    /* stride 2, more samples than slots */
        {2, 6, 9, 9, 10, 5, 1, 2, 1, false},    /* 5x5 */
        {2, 32, 7, 7, 64, 3, 1, 1, 1, false},   /* the deep 7x7 layer */
        {3, 2, 10, 10, 5, 3, 1, 1, 2, true},    /* NaN through relu + pool */
        {2, 3, 6, 6, 4, 1, 1, 0, 0, true},      /* 1x1, NaN without relu */
        /* deep inputs (K = 9 cin up to 576) with odd planes and channel counts */
        {1, 24, 9, 11, 13, 3, 1, 1, 2, false},  /* batch 1, odd plane pooled */
        {5, 25, 7, 5, 7, 3, 1, 1, 1, true},     /* odd channels, NaN */
        {19, 32, 6, 6, 10, 3, 1, 1, 2, false},  /* more samples than slots, chunks */
        {3, 64, 14, 14, 64, 3, 1, 1, 2, false}, /* 64 input channels, chunks */
        {2, 40, 1, 1, 3, 3, 1, 1, 0, false},    /* 1x1 plane: all but the centre is padding */
        {2, 30, 3, 2, 9, 3, 1, 1, 0, true},     /* tiny plane, NaN without relu */
        {3, 3, 4, 4, 33, 3, 1, 1, 2, true},     /* direct: 4 x 4, 33 channels, NaN pooled */
    };
    for (size_t m = 0; m < HQ_ARRAY_LEN(conv_modes); m++)
        for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
            fold_vs_ref(&cases[i], 1, conv_modes[m]);
            fold_vs_ref(&cases[i], 2, conv_modes[m]);
        }
}

/* ==== finite differences for every layer ============================================== */

HQ_TEST(nn_fd_conv2d) {
    fd_check("{\"type\":\"conv2d\",\"out\":4,\"kernel\":3,\"padding\":1}", hq_shape4(2, 3, 6, 5),
             true, FILL_UNIFORM, 1e-2, 2e-3, 40);
    fd_check("{\"type\":\"conv2d\",\"out\":3,\"kernel\":3,\"stride\":2,\"padding\":1}",
             hq_shape4(2, 2, 7, 7), true, FILL_UNIFORM, 1e-2, 2e-3, 40);
}

HQ_TEST(nn_fd_batchnorm) {
    /* train: gradients through the batch statistics; eval: through running statistics */
    fd_check("{\"type\":\"batchnorm\"}", hq_shape4(4, 3, 3, 3), true, FILL_UNIFORM, 1e-2, 3e-3, 40);
    fd_check("{\"type\":\"batchnorm\"}", hq_shape4(4, 3, 3, 3), false, FILL_UNIFORM, 1e-2, 2e-3,
             40);
    fd_check("{\"type\":\"batchnorm\"}", hq_shape4(6, 5, 1, 1), true, FILL_UNIFORM, 1e-2, 3e-3, 40);
}

HQ_TEST(nn_fd_batchnorm_relu_fused) {
    /* |x| >= 0.1 does not keep BN outputs off zero; use a small step and check loosely */
    fd_check("{\"type\":\"batchnorm\",\"relu\":true}", hq_shape4(4, 2, 3, 3), true, FILL_DISTINCT,
             1e-3, 1e-2, 40);
    /* fused 2x2 max pooling; odd planes leave a row and a column out of every window */
    fd_check("{\"type\":\"batchnorm\",\"maxpool\":true}", hq_shape4(3, 2, 4, 6), true,
             FILL_DISTINCT, 1e-3, 1e-2, 40);
    fd_check("{\"type\":\"batchnorm\",\"maxpool\":true}", hq_shape4(3, 2, 5, 5), true,
             FILL_DISTINCT, 1e-3, 1e-2, 40);
    fd_check("{\"type\":\"batchnorm\",\"maxpool\":true}", hq_shape4(3, 2, 4, 4), false,
             FILL_DISTINCT, 1e-3, 1e-2, 40);
}

HQ_TEST(nn_fd_elementwise) {
    fd_check("{\"type\":\"relu\"}", hq_shape4(3, 2, 4, 4), true, FILL_AWAY, 1e-2, 1e-3, 50);
    fd_check("{\"type\":\"tanh\"}", hq_shape4(3, 5, 1, 1), true, FILL_UNIFORM, 1e-2, 1e-3, 50);
    fd_check("{\"type\":\"tanh\",\"scale\":\"pi\"}", hq_shape4(3, 4, 1, 1), true, FILL_UNIFORM,
             1e-2, 2e-3, 50);
    fd_check("{\"type\":\"dropout\",\"p\":0.3}", hq_shape4(4, 3, 2, 2), true, FILL_UNIFORM, 1e-2,
             1e-3, 50);
    fd_check("{\"type\":\"dropout\",\"p\":0.3}", hq_shape4(4, 3, 2, 2), false, FILL_UNIFORM, 1e-2,
             1e-3, 50);
    fd_check("{\"type\":\"flatten\"}", hq_shape4(2, 3, 2, 2), true, FILL_UNIFORM, 1e-2, 1e-3, 50);
}

HQ_TEST(nn_fd_pooling) {
    fd_check("{\"type\":\"maxpool\",\"kernel\":2}", hq_shape4(2, 3, 6, 6), true, FILL_DISTINCT,
             1e-3, 2e-3, 60);
    fd_check("{\"type\":\"maxpool\",\"kernel\":2}", hq_shape4(2, 2, 7, 7), true, FILL_DISTINCT,
             1e-3, 2e-3, 60);
    fd_check("{\"type\":\"maxpool\",\"kernel\":3,\"stride\":2,\"padding\":1}",
             hq_shape4(2, 2, 7, 6), true, FILL_DISTINCT, 1e-3, 2e-3, 60);
    fd_check("{\"type\":\"avgpool\",\"kernel\":3,\"stride\":2,\"padding\":1}",
             hq_shape4(2, 2, 7, 6), true, FILL_UNIFORM, 1e-2, 1e-3, 60);
    fd_check("{\"type\":\"avgpool\",\"kernel\":2}", hq_shape4(2, 2, 4, 4), true, FILL_UNIFORM, 1e-2,
             1e-3, 60);
    fd_check("{\"type\":\"global_avgpool\"}", hq_shape4(3, 4, 5, 5), true, FILL_UNIFORM, 1e-2, 1e-3,
             60);
}

HQ_TEST(nn_fd_dense) {
    fd_check("{\"type\":\"dense\",\"out\":5}", hq_shape4(3, 7, 1, 1), true, FILL_UNIFORM, 1e-2,
             1e-3, 40);
    fd_check("{\"type\":\"dense\",\"out\":3,\"bias\":false}", hq_shape4(2, 2, 2, 2), true,
             FILL_UNIFORM, 1e-2, 1e-3, 40);
}

/* ==== batch norm against a hand computation =========================================== */

HQ_TEST(nn_batchnorm_statistics) {
    hq_layer *l;
    hq_shape in = hq_shape4(3, 2, 2, 2);
    HQ_REQUIRE_OK(
        hq_layer_create("{\"type\":\"batchnorm\",\"momentum\":0.1,\"eps\":1e-5}", in, &l));
    HQ_REQUIRE_OK(hq_layer_init(l, 0));
    hq_param_info g, b, rm, rv;
    HQ_REQUIRE_OK(hq_layer_param(l, 0, &g));
    HQ_REQUIRE_OK(hq_layer_param(l, 1, &b));
    HQ_REQUIRE_OK(hq_layer_param(l, 2, &rm));
    HQ_REQUIRE_OK(hq_layer_param(l, 3, &rv));
    HQ_CHECK_STR(rm.name, "running_mean");
    HQ_CHECK(!rm.trainable && rm.grad == NULL && g.trainable);
    HQ_CHECK(g.data[0] == 1 && b.data[1] == 0 && rm.data[0] == 0 && rv.data[1] == 1);
    g.data[0] = 2.0f, g.data[1] = 0.5f, b.data[0] = 0.25f, b.data[1] = -1.0f;
    hq_tensor x, y;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, in));
    for (int i = 0; i < 24; i++) x.data[i] = (float)((i * 7) % 11) * 0.3f - 1.0f + (i % 3);
    hq_pass tr = {.train = true};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &tr));
    for (int c = 0; c < 2; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < 3; n++)
            for (int q = 0; q < 4; q++) s += x.data[(n * 2 + c) * 4 + q];
        double m = s / 12;
        for (int n = 0; n < 3; n++)
            for (int q = 0; q < 4; q++) ss += pow(x.data[(n * 2 + c) * 4 + q] - m, 2);
        double var = ss / 12, inv = 1 / sqrt(var + 1e-5);
        for (int n = 0; n < 3; n++)
            for (int q = 0; q < 4; q++) {
                int i = (n * 2 + c) * 4 + q;
                HQ_CHECK_NEAR(y.data[i], g.data[c] * (x.data[i] - m) * inv + b.data[c], 2e-6);
            }
        HQ_CHECK_NEAR(rm.data[c], 0.1 * m, 1e-7);
        HQ_CHECK_NEAR(rv.data[c], 0.9 + 0.1 * ss / 11, 1e-6); /* unbiased */
    }
    /* eval uses the running statistics */
    hq_pass ev = {.train = false};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &ev));
    for (int i = 0; i < 24; i++) {
        int c = (i / 4) % 2;
        double want = g.data[c] * (x.data[i] - rm.data[c]) / sqrt(rv.data[c] + 1e-5) + b.data[c];
        HQ_CHECK_NEAR(y.data[i], want, 2e-6);
    }
    /* a single value per channel cannot be normalised in training */
    hq_tensor x1 = hq_tensor_view(x.data, hq_shape4(1, 2, 1, 1));
    hq_layer *l1;
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"batchnorm\"}", hq_shape4(4, 2, 1, 1), &l1));
    hq_tensor y1 = hq_tensor_view(y.data, hq_shape4(1, 2, 1, 1));
    HQ_CHECK_FAILS(hq_layer_forward(l1, &y1, &x1, &tr), HQ_ERR_INVALID_ARG,
                   "more than 1 value per channel");
    HQ_CHECK_OK(hq_layer_forward(l1, &y1, &x1, &ev));
    hq_layer_free(l1);
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_layer_free(l);
}

/* ==== pooling ties and NaN ============================================================ */

HQ_TEST(nn_maxpool_ties_and_nan) {
    hq_layer *l;
    HQ_REQUIRE_OK(
        hq_layer_create("{\"type\":\"maxpool\",\"kernel\":2}", hq_shape4(1, 1, 2, 4), &l));
    hq_tensor x, dx, ybuf, dybuf;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, hq_shape4(1, 1, 2, 4)));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dx, hq_shape4(1, 1, 2, 4)));
    HQ_REQUIRE_OK(hq_tensor_alloc(&ybuf, hq_shape4(1, 1, 1, 3)));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dybuf, hq_shape4(1, 1, 1, 3)));
    hq_tensor y = hq_tensor_view(ybuf.data, hq_shape4(1, 1, 1, 2));
    hq_tensor dy = hq_tensor_view(dybuf.data, hq_shape4(1, 1, 1, 2));
    /* window 0: all equal (tie -> first element); window 1: NaN at position 2 wins */
    float v[8] = {1, 1, 5, 3, 1, 1, NAN, 4};
    memcpy(x.data, v, sizeof v);
    hq_pass p = {.train = true};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &p));
    HQ_CHECK(y.data[0] == 1.0f && isnan(y.data[1]));
    dy.data[0] = 10, dy.data[1] = 20;
    HQ_REQUIRE_OK(hq_layer_backward(l, &dx, &dy));
    float want[8] = {10, 0, 0, 0, 0, 0, 20, 0};
    for (int i = 0; i < 8; i++)
        HQ_CHECKF(dx.data[i] == want[i], "dx[%d] = %g, want %g", i, dx.data[i], want[i]);
    hq_tensor y2 = hq_tensor_view(y.data, hq_shape4(1, 1, 1, 1));
    HQ_CHECK_FAILS(hq_layer_forward(l, &y2, &x, &p), HQ_ERR_INVALID_ARG, "has shape");
    hq_layer_free(l);
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"maxpool\",\"kernel\":3,\"stride\":1}",
                                   hq_shape4(1, 1, 2, 4), &l),
                   HQ_ERR_INVALID_ARG, "kernel 3 larger than the padded input 2x4");
    /* generic path (2x2 stride 1) with plateaus: first maximum in row-major window order */
    float v2[8] = {0, 2, 2, 0, 2, 0, 0, 2};
    memcpy(x.data, v2, sizeof v2);
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"maxpool\",\"kernel\":2,\"stride\":1}",
                                  hq_shape4(1, 1, 2, 4), &l));
    hq_tensor y3 = hq_tensor_view(y.data, hq_shape4(1, 1, 1, 3));
    hq_tensor dy3 = hq_tensor_view(dy.data, hq_shape4(1, 1, 1, 3));
    HQ_REQUIRE_OK(hq_layer_forward(l, &y3, &x, &p));
    HQ_CHECK(y3.data[0] == 2 && y3.data[1] == 2 && y3.data[2] == 2);
    dy3.data[0] = 1, dy3.data[1] = 10, dy3.data[2] = 100;
    HQ_REQUIRE_OK(hq_layer_backward(l, &dx, &dy3));
    /* windows: {0,2,2,0}->idx1 (x[1]); {2,2,0,0}->x[1]; {2,0,0,2}->x[2] */
    float want2[8] = {0, 11, 100, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        HQ_CHECKF(dx.data[i] == want2[i], "dx[%d] = %g, want %g", i, dx.data[i], want2[i]);
    hq_layer_free(l);
    hq_tensor_release(&x);
    hq_tensor_release(&ybuf);
    hq_tensor_release(&dx);
    hq_tensor_release(&dybuf);
}

HQ_TEST(nn_maxpool_fast_path_matches_pytorch_rule) {
    /* the branch-free 2x2 path against PyTorch's sequential scan, on data full of ties
     * (values in {0, 1, 2}, zeros of both signs as after a ReLU) */
    hq_layer *l;
    hq_shape in = hq_shape4(3, 4, 6, 8);
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"maxpool\",\"kernel\":2}", in, &l));
    hq_tensor x, y, dy, dx;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dx, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, hq_shape4(3, 4, 3, 4)));
    HQ_REQUIRE_OK(hq_tensor_alloc(&dy, hq_shape4(3, 4, 3, 4)));
    hq_rng r;
    hq_rng_init(&r, 8, 8, 8);
    for (int64_t i = 0; i < hq_shape_numel(in); i++) {
        uint32_t u = hq_rng_u32(&r) % 4;
        x.data[i] = u == 3 ? -0.0f : (float)u;
    }
    for (int i = 0; i < 3 * 4 * 12; i++) dy.data[i] = (float)(i + 1);
    hq_pass p = {.train = true};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &p));
    HQ_REQUIRE_OK(hq_layer_backward(l, &dx, &dy));
    for (int pl = 0; pl < 12; pl++)
        for (int oh = 0; oh < 3; oh++)
            for (int ow = 0; ow < 4; ow++) {
                const float *xp = x.data + pl * 48;
                float m = -INFINITY;
                int best = -1;
                for (int q = 0; q < 4; q++) {
                    int ih = 2 * oh + q / 2, iw = 2 * ow + q % 2;
                    float v = xp[ih * 8 + iw];
                    if (best < 0 || v > m || isnan(v)) m = v, best = ih * 8 + iw;
                }
                int o = pl * 12 + oh * 4 + ow;
                HQ_CHECK(y.data[o] == m);
                HQ_CHECKF(dx.data[pl * 48 + best] == dy.data[o], "plane %d window (%d,%d)", pl, oh,
                          ow);
            }
    double sdx = 0, sdy = 0;
    for (int i = 0; i < 576; i++) sdx += dx.data[i];
    for (int i = 0; i < 144; i++) sdy += dy.data[i];
    HQ_CHECK(sdx == sdy); /* nothing else received gradient */
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_tensor_release(&dx);
    hq_tensor_release(&dy);
    hq_layer_free(l);
}

/* ==== dropout ========================================================================= */

static void dropout_run(int threads, int n, uint64_t step, int layer_index, float *y_out) {
    hq_layer *l;
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"dropout\",\"p\":0.25}", hq_shape4(n, 40, 1, 1), &l));
    l->index = layer_index;
    hq_nn_pool *pool = NULL;
    if (threads > 1) {
        HQ_REQUIRE_OK(hq_nn_pool_create(threads, &pool));
        HQ_REQUIRE_OK(hq_layer_set_pool(l, pool));
    }
    hq_tensor x, y;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, hq_shape4(n, 40, 1, 1)));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, hq_shape4(n, 40, 1, 1)));
    for (int64_t i = 0; i < n * 40; i++) x.data[i] = 1.0f;
    hq_pass p = {.train = true, .seed = 77, .epoch = 2, .step = step};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &p));
    memcpy(y_out, y.data, (size_t)n * 40 * sizeof(float));
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_layer_free(l);
    hq_nn_pool_free(pool);
}

HQ_TEST(nn_dropout_masks_reproducible) {
    enum { N = 64, E = N * 40 };
    float *a = hq_malloc(E * 4), *b = hq_malloc(E * 4), *c = hq_malloc(E * 4),
          *d = hq_malloc(E * 4), *e = hq_malloc(E * 4);
    dropout_run(1, N, 5, 3, a);
    dropout_run(2, N, 5, 3, b);  /* other thread count: same mask */
    dropout_run(1, N, 6, 3, c);  /* other step: different */
    dropout_run(1, N, 5, 4, d);  /* other layer: different */
    dropout_run(1, 10, 5, 3, e); /* smaller batch: sample i keeps its mask */
    HQ_CHECK(memcmp(a, b, E * 4) == 0);
    HQ_CHECK(memcmp(a, c, E * 4) != 0);
    HQ_CHECK(memcmp(a, d, E * 4) != 0);
    HQ_CHECK(memcmp(a, e, 10 * 40 * 4) == 0);
    int dropped = 0;
    for (int i = 0; i < E; i++) {
        HQ_CHECK(a[i] == 0.0f || fabsf(a[i] - 1.0f / 0.75f) < 1e-6f);
        dropped += a[i] == 0.0f;
    }
    /* binomial(2560, 0.25): mean 640, sd 21.9 -> 5 sd */
    HQ_CHECKF(abs(dropped - 640) < 110, "dropped %d of %d", dropped, E);
    hq_free(a);
    hq_free(b);
    hq_free(c);
    hq_free(d);
    hq_free(e);
}

/* ==== initialisation ================================================================== */

HQ_TEST(nn_init_matches_pytorch_defaults) {
    hq_layer *l;
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"conv2d\",\"out\":64,\"kernel\":3}",
                                  hq_shape4(1, 32, 5, 5), &l));
    HQ_REQUIRE_OK(hq_layer_init(l, 1234));
    hq_param_info w, b;
    HQ_REQUIRE_OK(hq_layer_param(l, 0, &w));
    HQ_REQUIRE_OK(hq_layer_param(l, 1, &b));
    HQ_CHECK(w.ndim == 4 && w.dims[0] == 64 && w.dims[1] == 32 && w.dims[2] == 3 && w.dims[3] == 3);
    HQ_CHECK_STR(w.name, "weight");
    HQ_CHECK_STR(b.name, "bias");
    /* kaiming_uniform(a = sqrt 5): bound = sqrt(6 / ((1 + 5) fan_in)) = 1/sqrt(fan_in) */
    double bound = 1.0 / sqrt(32 * 9), s = 0, ss = 0, mx = 0;
    for (int64_t i = 0; i < w.numel; i++) {
        s += w.data[i];
        ss += (double)w.data[i] * w.data[i];
        mx = fmax(mx, fabs(w.data[i]));
    }
    double mean = s / w.numel, var = ss / w.numel - mean * mean;
    HQ_CHECK(mx <= bound && mx > 0.99 * bound);
    HQ_CHECK_NEAR(mean, 0, 4 * bound / sqrt(3.0 * w.numel));
    HQ_CHECK_NEAR(var, bound * bound / 3, 0.05 * bound * bound / 3);
    for (int i = 0; i < 64; i++) HQ_CHECK(fabs(b.data[i]) <= bound);
    /* same seed same values, other seed other values */
    float w0 = w.data[5];
    HQ_REQUIRE_OK(hq_layer_init(l, 1234));
    HQ_CHECK(w.data[5] == w0);
    HQ_REQUIRE_OK(hq_layer_init(l, 1235));
    HQ_CHECK(w.data[5] != w0);
    hq_layer_free(l);
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"dense\",\"out\":128}", hq_shape4(1, 8, 1, 1), &l));
    HQ_REQUIRE_OK(hq_layer_init(l, 1));
    HQ_REQUIRE_OK(hq_layer_param(l, 0, &w));
    HQ_CHECK(w.ndim == 2 && w.dims[0] == 128 && w.dims[1] == 8);
    mx = 0;
    for (int64_t i = 0; i < w.numel; i++) mx = fmax(mx, fabs(w.data[i]));
    HQ_CHECK(mx <= 1 / sqrt(8.0) && mx > 0.95 / sqrt(8.0));
    hq_layer_free(l);
}

/* ==== errors ========================================================================== */

HQ_TEST(nn_layer_errors) {
    hq_layer *l = NULL;
    hq_shape in = hq_shape4(2, 1, 8, 8);
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":", in, &l), HQ_ERR_PARSE, "invalid JSON");
    HQ_CHECK_FAILS(hq_layer_create("[1]", in, &l), HQ_ERR_INVALID_ARG, "must be a JSON object");
    HQ_CHECK_FAILS(hq_layer_create("{}", in, &l), HQ_ERR_INVALID_ARG, "missing \"type\"");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"conv3d\"}", in, &l), HQ_ERR_INVALID_ARG,
                   "unknown type \"conv3d\" (one of: conv2d, batchnorm");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"conv2d\"}", in, &l), HQ_ERR_INVALID_ARG,
                   "missing option \"out\"");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"conv2d\",\"out\":4,\"kernal\":3}", in, &l),
                   HQ_ERR_INVALID_ARG, "unknown option \"kernal\"");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"conv2d\",\"out\":0}", in, &l), HQ_ERR_INVALID_ARG,
                   "layer 0 (conv2d): option \"out\" must be an integer in [1, 4096]");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"conv2d\",\"out\":2,\"kernel\":9}", in, &l),
                   HQ_ERR_INVALID_ARG, "kernel 9 larger than the padded input 8x8");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"conv2d\",\"out\":2,\"bias\":1}", in, &l),
                   HQ_ERR_INVALID_ARG, "option \"bias\" must be true or false");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"dropout\",\"p\":1}", in, &l), HQ_ERR_INVALID_ARG,
                   "must be in [0, 1)");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"dense\",\"out\":\"classes\"}", in, &l),
                   HQ_ERR_INVALID_ARG, "needs the model's class count");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"tanh\",\"scale\":\"tau\"}", in, &l),
                   HQ_ERR_INVALID_ARG, "or \"pi\"");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"maxpool\",\"kernel\":2,\"padding\":2}", in, &l),
                   HQ_ERR_INVALID_ARG, "option \"padding\" must be an integer in [0, 1]");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"relu\"}", hq_shape4(0, 1, 1, 1), &l),
                   HQ_ERR_INVALID_ARG, "input shape (0, 1, 1, 1) invalid");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\"}", in, &l), HQ_ERR_INVALID_ARG,
                   "takes one angle per qubit: 4 qubits but 64 input features");
    HQ_CHECK_FAILS(hq_layer_create(NULL, in, &l), HQ_ERR_INVALID_ARG, "json is NULL");
    HQ_CHECK(l == NULL);

    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"relu\"}", in, &l));
    hq_tensor x, y, big;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, in));
    HQ_REQUIRE_OK(hq_tensor_alloc(&big, hq_shape4(3, 1, 8, 8)));
    hq_pass p = {.train = true};
    HQ_CHECK_FAILS(hq_layer_backward(l, &x, &y), HQ_ERR_MISUSE, "no successful forward");
    HQ_CHECK_FAILS(hq_layer_forward(l, &big, &big, &p), HQ_ERR_INVALID_ARG,
                   "batch 3 out of range [1, 2]");
    hq_tensor wrong = hq_tensor_view(y.data, hq_shape4(2, 1, 8, 7));
    HQ_CHECK_FAILS(hq_layer_forward(l, &wrong, &x, &p), HQ_ERR_INVALID_ARG,
                   "y has shape (2, 1, 8, 7), expected (2, 1, 8, 8)");
    HQ_CHECK_OK(hq_layer_forward(l, &y, &x, &p));
    HQ_CHECK_FAILS(hq_layer_backward(l, &x, &wrong), HQ_ERR_INVALID_ARG, "dy has shape");
    hq_param_info pi;
    HQ_CHECK_FAILS(hq_layer_param(l, 0, &pi), HQ_ERR_INVALID_ARG, "index 0 out of range [0, 0)");
    HQ_CHECK_FAILS(hq_layer_forward(NULL, &y, &x, &p), HQ_ERR_MISUSE, "invalid handle");
    hq_layer_free(l);
    hq_layer_free(NULL);
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_tensor_release(&big);
    hq_tensor t;
    HQ_CHECK_FAILS(hq_tensor_alloc(&t, hq_shape4(1, 0, 2, 2)), HQ_ERR_INVALID_ARG,
                   "shape (1, 0, 2, 2) invalid");
    hq_nn_pool *pool;
    HQ_CHECK_FAILS(hq_nn_pool_create(65, &pool), HQ_ERR_INVALID_ARG, "65 threads out of range");
}

HQ_TEST(nn_layer_create_out_of_memory) {
    /* every allocation of hq_layer_create fails in turn: clean error, no leak */
    for (int k = 1; k < 20; k++) {
        hq_layer *l = NULL;
        hq_alloc_fail_after(k);
        hq_status st = hq_layer_create("{\"type\":\"conv2d\",\"out\":4,\"padding\":1}",
                                       hq_shape4(2, 2, 6, 6), &l);
        bool fired = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!fired) {
            HQ_CHECK_OK(st);
            hq_layer_free(l);
            break;
        }
        HQ_CHECK(st == HQ_ERR_NOMEM && l == NULL);
    }
}

/* ==== quantum layer =================================================================== */

/*
 * An independent dense simulation of the HQCNN circuit written from torch_hqcnn.py's
 * formulation (basis permutations for CX/CCX, phase masks for CP, 2x2 matrices on bit q).
 */
typedef double _Complex cd;

static void ref_1q(cd *st, int q, cd u00, cd u01, cd u10, cd u11) {
    for (int k = 0; k < 16; k++)
        if (!(k >> q & 1)) {
            cd a = st[k], b = st[k | 1 << q];
            st[k] = u00 * a + u01 * b;
            st[k | 1 << q] = u10 * a + u11 * b;
        }
}

static void ref_perm(cd *st, int c1, int c2, int t) { /* c2 < 0: CX */
    cd o[16];
    memcpy(o, st, sizeof o);
    for (int k = 0; k < 16; k++)
        st[k] = (k >> c1 & 1) && (c2 < 0 || (k >> c2 & 1)) ? o[k ^ (1 << t)] : o[k];
}

static void hqcnn_ref(const double *x, const double *w, double *out) {
    cd st[16] = {1};
    const double r2 = 1 / sqrt(2.0);
    for (int q = 0; q < 4; q++) {
        ref_1q(st, q, r2, r2, r2, -r2);
        double c = cos(x[q] / 2), s = sin(x[q] / 2);
        ref_1q(st, q, c, -s, s, c);
    }
    int k = 0;
    for (int l = 0; l < 2; l++) {
        for (int q = 0; q < 4; q++, k += 3) {
            double th = w[k], ph = w[k + 1], la = w[k + 2], c = cos(th / 2), s = sin(th / 2);
            ref_1q(st, q, c, -cexp(I * la) * s, cexp(I * ph) * s, cexp(I * (ph + la)) * c);
        }
        for (int i = 0; i < 4; i++) ref_perm(st, i, -1, (i + 1) % 4);
        for (int i = 0; i < 4; i++) ref_perm(st, (i + 3) % 4, (i + 1) % 4, i);
        for (int i = 0; i < 4; i++) {
            ref_1q(st, i, r2, r2, r2, -r2);
            for (int j = i + 1; j < 4; j++, k++)
                for (int b = 0; b < 16; b++)
                    if ((b >> i & 1) && (b >> j & 1)) st[b] *= cexp(I * w[k]);
        }
    }
    for (int q = 0; q < 4; q++) {
        double z = 0, xx = 0;
        for (int b = 0; b < 16; b++) {
            z += (b >> q & 1 ? -1 : 1) * creal(conj(st[b]) * st[b]);
            xx += creal(conj(st[b]) * st[b ^ (1 << q)]);
        }
        out[q] = z;
        out[4 + q] = xx;
    }
}

HQ_TEST(nn_quantum_matches_independent_simulation) {
    hq_layer *l;
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"quantum\",\"qubits\":4,\"layers\":2}",
                                  hq_shape4(5, 4, 1, 1), &l));
    HQ_CHECK(hq_layer_out_shape(l).c == 8);
    hq_param_info w;
    HQ_REQUIRE_OK(hq_layer_param(l, 0, &w));
    HQ_CHECK(w.numel == 36 && !strcmp(w.name, "weights"));
    /* init: U[0, 2 pi) */
    HQ_REQUIRE_OK(hq_layer_init(l, 9));
    double mean = 0;
    for (int i = 0; i < 36; i++) {
        HQ_CHECK(w.data[i] >= 0 && w.data[i] < 2 * M_PI);
        mean += w.data[i] / 36;
    }
    HQ_CHECK_NEAR(mean, M_PI, 1.0);
    hq_tensor x, y;
    HQ_REQUIRE_OK(hq_tensor_alloc(&x, hq_shape4(5, 4, 1, 1)));
    HQ_REQUIRE_OK(hq_tensor_alloc(&y, hq_shape4(5, 8, 1, 1)));
    for (int i = 0; i < 20; i++) x.data[i] = (float)(M_PI * sin(0.7 * i + 0.3));
    hq_pass p = {.train = true};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &p));
    double wd[36], xd[4], ref[8];
    for (int i = 0; i < 36; i++) wd[i] = w.data[i];
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < 4; i++) xd[i] = x.data[r * 4 + i];
        hqcnn_ref(xd, wd, ref);
        for (int k = 0; k < 8; k++)
            HQ_CHECKF(fabs(y.data[r * 8 + k] - ref[k]) < 2e-6, "row %d obs %d: %.8g vs %.8g", r, k,
                      y.data[r * 8 + k], ref[k]);
    }
    /* and the numpy reference values of tests/test_sv.c (x_i = pi sin(0.9 i + 1.3 s + 0.2),
     * w_j = 2 cos(0.37 j (s + 1) + 0.5 s)), one row per weight set */
    static const double npref[3][8] = {
        {0.3324768794996843, 0.32083062057919265, -0.041342970174730688, 0.14566188676774111,
         -0.37229893492133748, 0.039666634915120957, 0.3801771102559906, 0.43040678421520984},
        {-0.031871416325602309, 0.27795165412709466, 0.10842628345360378, -0.063080443027480559,
         0.057042907211125177, 0.46723917956778138, 0.44621386209729541, -0.15800727840535495},
        {0.38981827881368453, -0.022327110638429931, -0.15637950444135743, -0.093003129073992247,
         -0.28527223635847632, -0.20916553101673946, -0.23670298018532177, 0.0053832398668314796}};
    hq_tensor x1 = hq_tensor_view(x.data, hq_shape4(1, 4, 1, 1));
    hq_tensor y1 = hq_tensor_view(y.data, hq_shape4(1, 8, 1, 1));
    for (int s2 = 0; s2 < 3; s2++) {
        for (int i = 0; i < 4; i++) x.data[i] = (float)(sin(0.9 * i + 1.3 * s2 + 0.2) * M_PI);
        for (int j = 0; j < 36; j++) w.data[j] = (float)(2 * cos(0.37 * j * (s2 + 1) + 0.5 * s2));
        HQ_REQUIRE_OK(hq_layer_forward(l, &y1, &x1, &p));
        /* inputs and weights rounded to float32: agreement to ~1e-6 */
        for (int k = 0; k < 8; k++)
            HQ_CHECKF(fabs(y.data[k] - npref[s2][k]) < 3e-6, "set %d obs %d: %.8g vs numpy %.8g",
                      s2, k, y.data[k], npref[s2][k]);
    }
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_layer_free(l);
}

HQ_TEST(nn_quantum_backward_finite_differences) {
    fd_check("{\"type\":\"quantum\"}", hq_shape4(5, 4, 1, 1), true, FILL_UNIFORM, 1e-2, 2e-3, 40);
    fd_check("{\"type\":\"quantum\",\"qubits\":3,\"readout\":[\"Y\",\"Z\"],\"circuit\":["
             "{\"type\":\"encode\",\"gate\":\"rx\",\"hadamard\":false},"
             "{\"type\":\"rotations\",\"gate\":\"ry\"},"
             "{\"type\":\"entangle\",\"gate\":\"cz\",\"pattern\":\"chain\"},"
             "{\"type\":\"qft_ladder\"}]}",
             hq_shape4(3, 3, 1, 1), true, FILL_UNIFORM, 1e-2, 2e-3, 40);
}

HQ_TEST(nn_quantum_custom_blocks_match_hand_built_circuit) {
    const char *json = "{\"type\":\"quantum\",\"qubits\":3,\"readout\":[\"Y\"],\"circuit\":["
                       "{\"type\":\"encode\",\"gate\":\"rx\",\"hadamard\":false},"
                       "{\"type\":\"repeat\",\"times\":2,\"blocks\":["
                       "{\"type\":\"rotations\",\"gate\":\"ry\"},"
                       "{\"type\":\"entangle\",\"gate\":\"cz\",\"pattern\":\"chain\"}]},"
                       "{\"type\":\"qft_ladder\"}]}";
    hq_layer *l;
    HQ_REQUIRE_OK(hq_layer_create(json, hq_shape4(1, 3, 1, 1), &l));
    HQ_REQUIRE_OK(hq_layer_init(l, 4));
    hq_param_info w;
    HQ_REQUIRE_OK(hq_layer_param(l, 0, &w));
    HQ_REQUIRE(w.numel == 9); /* 2 x 3 ry + 3 cp */
    float xv[3] = {0.3f, -1.1f, 2.0f}, yv[3];
    hq_tensor x = hq_tensor_view(xv, hq_shape4(1, 3, 1, 1)),
              y = hq_tensor_view(yv, hq_shape4(1, 3, 1, 1));
    hq_pass p = {.train = false};
    HQ_REQUIRE_OK(hq_layer_forward(l, &y, &x, &p));
    /* the same circuit by hand, constant angles, on the reference simulator */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
    for (int i = 0; i < 3; i++) hq_circuit_add_gate(c, HQ_GATE_RX, &i, (double[]){xv[i]});
    int k = 0;
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 3; i++) hq_circuit_add_gate(c, HQ_GATE_RY, &i, (double[]){w.data[k++]});
        for (int i = 0; i < 2; i++) hq_circuit_add_gate(c, HQ_GATE_CZ, (int[]){i, i + 1}, NULL);
    }
    for (int i = 0; i < 3; i++) {
        hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
        for (int j = i + 1; j < 3; j++)
            hq_circuit_add_gate(c, HQ_GATE_CP, (int[]){j, i}, (double[]){w.data[k++]});
    }
    hq_cplx st[8];
    HQ_REQUIRE_OK(hq_ref_simulate(c, NULL, false, st));
    for (int q = 0; q < 3; q++) {
        /* <Y_q> = sum_b conj(psi_b) (Y psi)_b, Y|0> = i|1>, Y|1> = -i|0> */
        double yq = 0;
        for (int b = 0; b < 8; b++) {
            hq_cplx ypsi = (b >> q & 1) ? I * st[b ^ (1 << q)] : -I * st[b ^ (1 << q)];
            yq += creal(conj(st[b]) * ypsi);
        }
        HQ_CHECKF(fabs(yv[q] - yq) < 2e-6, "<Y%d> %.8g vs reference %.8g", q, yv[q], yq);
    }
    hq_circuit_free(c);
    hq_layer_free(l);
}

HQ_TEST(nn_quantum_errors) {
    hq_layer *l = NULL;
    hq_shape in = hq_shape4(2, 4, 1, 1);
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"backend\":\"ibm\"}", in, &l),
                   HQ_ERR_UNSUPPORTED, "\"backend\" must be \"sv\"");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"qubits\":11}", in, &l),
                   HQ_ERR_INVALID_ARG, "\"qubits\" must be an integer in [1, 10]");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"readout\":[\"W\"]}", in, &l),
                   HQ_ERR_INVALID_ARG, "\"readout\" entries must be");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"circuit\":\"qaoa\"}", in, &l),
                   HQ_ERR_INVALID_ARG, "\"circuit\" must be \"hqcnn\" or a list of blocks");
    HQ_CHECK_FAILS(
        hq_layer_create("{\"type\":\"quantum\",\"circuit\":[{\"type\":\"swap\"}]}", in, &l),
        HQ_ERR_INVALID_ARG, "layer 0 (quantum): unknown circuit block type \"swap\"");
    HQ_CHECK_FAILS(
        hq_layer_create("{\"type\":\"quantum\",\"circuit\":[{\"type\":\"encode\"}]}", in, &l),
        HQ_ERR_INVALID_ARG, "no trainable weights");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"circuit\":[{\"type\":\"rotations\","
                                   "\"gate\":\"h\"}]}",
                                   in, &l),
                   HQ_ERR_INVALID_ARG, "\"gate\" must be one of: u3, rx, ry, rz");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"qubits\":2,\"circuit\":[{\"type\":"
                                   "\"toffoli_attention\"}]}",
                                   hq_shape4(2, 2, 1, 1), &l),
                   HQ_ERR_INVALID_ARG, "toffoli_attention needs at least 3 qubits");
    HQ_CHECK_FAILS(hq_layer_create("{\"type\":\"quantum\",\"circuit\":[{\"type\":\"repeat\","
                                   "\"times\":0,\"blocks\":[]}]}",
                                   in, &l),
                   HQ_ERR_INVALID_ARG, "repeat \"times\" must be an integer in [1, 1000]");
    HQ_CHECK(l == NULL);
    /* a non-finite angle is refused with a hint */
    HQ_REQUIRE_OK(hq_layer_create("{\"type\":\"quantum\"}", in, &l));
    float xv[8] = {0, 0, NAN, 0, 0, 0, 0, 0}, yv[16];
    hq_tensor x = hq_tensor_view(xv, in), y = hq_tensor_view(yv, hq_shape4(2, 8, 1, 1));
    hq_pass p = {.train = true};
    HQ_CHECK_FAILS(hq_layer_forward(l, &y, &x, &p), HQ_ERR_INVALID_ARG,
                   "input angle 2 is not finite");
    hq_layer_free(l);
}
