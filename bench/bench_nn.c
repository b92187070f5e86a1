/*
 * bench/bench_nn.c — training and inference throughput of the HQCNN network (classical
 * ablation, and the quantum model when the build has its backend), printed as JSON lines.
 *
 * Same protocol as ../shared/bench/torch_hqcnn.py --bench: an "epoch" is 546 images
 * (BreastMNIST's training split size) in batches of 128 (four full batches and one of 34);
 * one warm-up epoch, then the best of several timed rounds of 3 epochs. Training = forward,
 * loss, zero_grad, backward, Adam step; inference = evaluation-mode forward.
 *
 *   build/bench/bench_nn [--threads N] [--batch B] [--rounds R] [--layers]
 * --layers adds one line per layer with its forward (training mode), backward and
 * evaluation forward CPU time (all threads) at batch B, and for convolutions the path
 * ("conv": "direct" kernels or "im2col" + sgemm). $HQCNN_NN_NO_FOLD=1 times the
 * evaluation forward without batch-norm folding (the reference path), $HQCNN_NN_DIRECT=0
 * the convolutions on im2col + sgemm.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "nn/layer_impl.h"
#include "nn/model.h"

#define N_TRAIN 546

/* CPU seconds used by the whole process (all threads): with other processes on the
 * machine, images per CPU-second shows the code's efficiency when wall time cannot */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* per-layer times: process CPU time (all threads), robust to other load on the machine */
static double layer_clock(void) { return cpu_now(); }

/* the input of layer i: the model's input for layer 0, else the activation before it */
static hq_tensor layer_input(hq_model *m, hq_tensor x, int i) {
    hq_tensor t = x;
    if (i > 0) hq_model_activation(m, i - 1, &t);
    return t;
}

static int bench_model(const char *name, const char *cfg_path, int threads, int batch, int rounds,
                       bool layers) {
    hq_model_opts o = {.threads = threads, .max_batch = batch};
    hq_model *m;
    if (hq_model_create_file(cfg_path, &o, &m) != HQ_OK) {
        printf("{\"bench\":\"nn_%s\",\"skipped\":\"%s\"}\n", name, hq_last_error());
        return 0;
    }
    hq_model_init(m, 1);
    hq_optim *opt;
    if (hq_optim_create("{\"type\":\"adam\",\"lr\":1e-3}", hq_model_n_params(m), &opt) != HQ_OK) {
        fprintf(stderr, "%s\n", hq_last_error());
        return 1;
    }
    hq_shape in = hq_model_in_shape(m);
    int64_t per = hq_shape_sample(in);
    float *data = hq_malloc((size_t)(N_TRAIN * per) * sizeof(float));
    int32_t *labels = hq_malloc(N_TRAIN * sizeof(int32_t));
    hq_rng r;
    hq_rng_init(&r, 5, 0, 0);
    for (int64_t i = 0; i < N_TRAIN * per; i++)
        data[i] = (float)(hq_rng_u32(&r) % 256) / 127.5f - 1;
    for (int i = 0; i < N_TRAIN; i++)
        labels[i] = (int32_t)(hq_rng_u32(&r) % (uint32_t)hq_model_classes(m));
    int64_t step = 0;
    double best_train = 1e30, best_infer = 1e30, cpu_train = 1e30, cpu_infer = 1e30;
    for (int round = 0; round <= rounds; round++) { /* round 0 = warm-up */
        double t0 = hq_time_now(), c0 = cpu_now();
        for (int ep = 0; ep < (round ? 3 : 1); ep++)
            for (int b = 0; b < N_TRAIN; b += batch) {
                int n = N_TRAIN - b < batch ? N_TRAIN - b : batch;
                hq_tensor x = hq_tensor_view(data + b * per, hq_shape4(n, in.c, in.h, in.w));
                hq_pass p = {
                    .train = true, .seed = 1, .epoch = (uint64_t)ep, .step = (uint64_t)step++};
                double loss;
                if (hq_model_forward(m, &x, &p, NULL) != HQ_OK ||
                    hq_model_loss(m, labels + b, NULL, &loss) != HQ_OK ||
                    hq_model_zero_grad(m) != HQ_OK || hq_model_backward(m) != HQ_OK ||
                    hq_model_step(m, opt, 1e-3) != HQ_OK) {
                    fprintf(stderr, "bench_nn: %s\n", hq_last_error());
                    return 1;
                }
            }
        double t = hq_time_now() - t0, c = cpu_now() - c0;
        if (round && t < best_train) best_train = t;
        if (round && c < cpu_train) cpu_train = c;
        t0 = hq_time_now();
        c0 = cpu_now();
        for (int ep = 0; ep < (round ? 3 : 1); ep++)
            for (int b = 0; b < N_TRAIN; b += batch) {
                int n = N_TRAIN - b < batch ? N_TRAIN - b : batch;
                hq_tensor x = hq_tensor_view(data + b * per, hq_shape4(n, in.c, in.h, in.w));
                hq_pass p = {.train = false};
                if (hq_model_forward(m, &x, &p, NULL) != HQ_OK) {
                    fprintf(stderr, "bench_nn: %s\n", hq_last_error());
                    return 1;
                }
            }
        t = hq_time_now() - t0;
        c = cpu_now() - c0;
        if (round && t < best_infer) best_infer = t;
        if (round && c < cpu_infer) cpu_infer = c;
    }
    printf("{\"bench\":\"nn_%s\",\"threads\":%d,\"batch\":%d,\"n_train\":%d,\"params\":%lld,"
           "\"train_images_per_s\":%.1f,\"infer_images_per_s\":%.1f,"
           "\"train_images_per_cpu_s\":%.1f,\"infer_images_per_cpu_s\":%.1f}\n",
           name, hq_model_threads(m), batch, N_TRAIN, (long long)hq_model_n_params(m),
           3 * N_TRAIN / best_train, 3 * N_TRAIN / best_infer, 3 * N_TRAIN / cpu_train,
           3 * N_TRAIN / cpu_infer);
    if (layers) {
        /* per-layer times at a full batch: forward (train mode) and backward */
        hq_tensor x =
            hq_tensor_view(data, hq_shape4(batch <= N_TRAIN ? batch : N_TRAIN, in.c, in.h, in.w));
        int n = x.shape.n, nl = hq_model_n_layers(m);
        double *tf = hq_calloc((size_t)nl, sizeof(double)),
               *tb = hq_calloc((size_t)nl, sizeof(double)),
               *te = hq_calloc((size_t)nl, sizeof(double));
        hq_pass p = {.train = true, .seed = 1};
        double loss;
        hq_model_forward(m, &x, &p, NULL);
        hq_model_loss(m, labels, NULL, &loss);
        hq_model_backward(m);
        int reps = 10;
        int prev = nn_blas_single();
        int64_t maxel = hq_shape_numel(in);
        for (int i = 0; i < nl; i++) {
            hq_shape os = hq_layer_out_shape(hq_model_layer(m, i));
            if (hq_shape_numel(os) > maxel) maxel = hq_shape_numel(os);
        }
        float *dx = hq_malloc((size_t)maxel * 4), *dy = hq_malloc((size_t)maxel * 4);
        for (int rep = 0; rep < reps; rep++) {
            hq_tensor a;
            for (int i = 0; i < nl; i++) {
                hq_layer *l = hq_model_layer(m, i);
                if (l->alias) continue;
                hq_tensor in_t = layer_input(m, x, i);
                hq_model_activation(m, i, &a);
                double t0 = layer_clock();
                l->ops->forward(l, a.data, in_t.data, n, &p);
                tf[i] += layer_clock() - t0;
                /* dy = y itself (the values do not matter for timing) */
                memcpy(dy, a.data, (size_t)hq_shape_numel(a.shape) * 4);
                t0 = layer_clock();
                l->ops->backward(l, i == 0 ? NULL : dx, dy, in_t.data, a.data, n);
                tb[i] += layer_clock() - t0;
            }
            /* evaluation forward, as the model runs it: a convolution with a folded batch
             * norm writes the batch norm's output in one pass (the batch norm costs 0) */
            hq_pass ev = {.train = false};
            for (int i = 0; i < nl; i++) {
                hq_layer *l = hq_model_layer(m, i);
                if (l->alias) continue;
                hq_tensor in_t = layer_input(m, x, i);
                if (l->fold) {
                    hq_model_activation(m, i + 1, &a);
                    double t0 = layer_clock();
                    nn_conv2d_forward_folded(l, l->fold, a.data, in_t.data, n);
                    te[i] += layer_clock() - t0;
                    i++;
                    continue;
                }
                hq_model_activation(m, i, &a);
                double t0 = layer_clock();
                l->ops->forward(l, a.data, in_t.data, n, &ev);
                te[i] += layer_clock() - t0;
            }
        }
        hq_free(dx);
        hq_free(dy);
        nn_blas_restore(prev);
        for (int i = 0; i < nl; i++) {
            hq_layer *l = hq_model_layer(m, i);
            if (l->alias) continue;
            bool conv = !strcmp(hq_layer_type(l), "conv2d");
            printf("{\"bench\":\"nn_%s_layer\",\"layer\":%d,\"type\":\"%s%s\",\"batch\":%d,"
                   "\"forward_cpu_ms\":%.3f,\"backward_cpu_ms\":%.3f,"
                   "\"eval_forward_cpu_ms\":%.3f%s%s}\n",
                   name, i, hq_layer_type(l), l->fuse_relu ? "+relu" : "", n, 1e3 * tf[i] / reps,
                   1e3 * tb[i] / reps, 1e3 * te[i] / reps,
                   l->fold ? ",\"eval\":\"batch norm folded in\"" : "",
                   !conv                 ? ""
                   : nn_conv2d_direct(l) ? ",\"conv\":\"direct\""
                                         : ",\"conv\":\"im2col\"");
        }
        hq_free(tf);
        hq_free(tb);
        hq_free(te);
    }
    hq_free(data);
    hq_free(labels);
    hq_optim_free(opt);
    hq_model_free(m);
    return 0;
}

/* The quantum layer alone (4 qubits, 2 layers, Z and X readout): forward + backward. */
static int bench_quantum_layer(int threads, int batch, int rounds) {
    hq_layer *l;
    if (hq_layer_create("{\"type\":\"quantum\"}", hq_shape4(batch, 4, 1, 1), &l) != HQ_OK) {
        printf("{\"bench\":\"nn_quantum_layer_only\",\"skipped\":\"%s\"}\n", hq_last_error());
        return 0;
    }
    hq_nn_pool *pool = NULL;
    if (hq_nn_pool_create(threads, &pool) != HQ_OK || hq_layer_set_pool(l, pool) != HQ_OK) {
        fprintf(stderr, "%s\n", hq_last_error());
        return 1;
    }
    hq_layer_init(l, 3);
    hq_tensor x, y, dx, dy;
    hq_tensor_alloc(&x, hq_shape4(batch, 4, 1, 1));
    hq_tensor_alloc(&dx, hq_shape4(batch, 4, 1, 1));
    hq_tensor_alloc(&y, hq_shape4(batch, 8, 1, 1));
    hq_tensor_alloc(&dy, hq_shape4(batch, 8, 1, 1));
    for (int i = 0; i < batch * 4; i++) x.data[i] = (float)(3.0 * sin(0.37 * i));
    for (int i = 0; i < batch * 8; i++) dy.data[i] = (float)cos(0.21 * i);
    hq_pass p = {.train = true};
    double best = 1e30, best_cpu = 1e30;
    int reps = 200;
    for (int r = 0; r <= rounds; r++) {
        double t0 = hq_time_now(), c0 = cpu_now();
        for (int k = 0; k < reps; k++)
            if (hq_layer_forward(l, &y, &x, &p) != HQ_OK ||
                hq_layer_backward(l, &dx, &dy) != HQ_OK) {
                fprintf(stderr, "%s\n", hq_last_error());
                return 1;
            }
        double t = hq_time_now() - t0, c = cpu_now() - c0;
        if (r && t < best) best = t;
        if (r && c < best_cpu) best_cpu = c;
    }
    printf("{\"bench\":\"nn_quantum_layer_only\",\"threads\":%d,\"batch\":%d,"
           "\"fwd_bwd_samples_per_s\":%.0f,\"fwd_bwd_samples_per_cpu_s\":%.0f}\n",
           hq_nn_pool_threads(pool), batch, reps * batch / best, reps * batch / best_cpu);
    hq_tensor_release(&x);
    hq_tensor_release(&y);
    hq_tensor_release(&dx);
    hq_tensor_release(&dy);
    hq_layer_free(l);
    hq_nn_pool_free(pool);
    return 0;
}

int main(int argc, char **argv) {
    int threads = 2, batch = 128, rounds = 5;
    bool layers = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--layers"))
            layers = true;
        else {
            fprintf(stderr, "usage: bench_nn [--threads N] [--batch B] [--rounds R] [--layers]\n");
            return 2;
        }
    }
    const char *root = getenv("HQCNN_ROOT");
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/configs/hqcnn-classical.json", root ? root : ".");
    snprintf(p2, sizeof p2, "%s/configs/hqcnn-default.json", root ? root : ".");
    int rc = bench_model("classical", p1, threads, batch, rounds, layers);
    if (!rc) rc = bench_model("quantum", p2, threads, batch, rounds, layers);
    if (!rc) rc = bench_quantum_layer(threads, batch, rounds);
    return rc;
}
