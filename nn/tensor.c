/*
 * nn/tensor.c — tensor allocation and the thread pool the layers split their passes over.
 *
 * The pool keeps n-1 worker threads parked on a condition variable (after a short spin,
 * since passes follow each other within microseconds during a training step); the caller
 * is thread 0 and takes tasks too. Tasks are handed out through an atomic counter, so a
 * thread slowed down by another process does not hold the others up; which thread runs a
 * task never changes a result (tasks write disjoint memory, see layer_impl.h).
 */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "nn/layer_impl.h"
#include "nn/tensor.h"

/* ==== tensors ========================================================================= */

hq_status hq_tensor_alloc(hq_tensor *t, hq_shape s) {
    if (!t) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_tensor_alloc: tensor is NULL");
    t->data = NULL;
    t->shape = s;
    char buf[80];
    if (s.n < 1 || s.c < 1 || s.h < 1 || s.w < 1 || hq_shape_sample(s) > INT32_MAX)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_tensor_alloc: shape %s invalid (every dimension >= 1, at most "
                        "2^31-1 elements per sample)",
                        hq_shape_str(s, buf, sizeof buf));
    size_t bytes;
    if (!hq_mul_ok((size_t)hq_shape_numel(s), sizeof(float), &bytes))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_tensor_alloc: shape %s overflows memory",
                        hq_shape_str(s, buf, sizeof buf));
    t->data = hq_aligned_alloc(64, nn_align(bytes));
    if (!t->data)
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_tensor_alloc: cannot allocate %zu bytes for %s",
                        bytes, hq_shape_str(s, buf, sizeof buf));
    memset(t->data, 0, bytes);
    return HQ_OK;
}

void hq_tensor_release(hq_tensor *t) {
    if (!t) return;
    hq_free(t->data);
    t->data = NULL;
    memset(&t->shape, 0, sizeof t->shape);
}

const char *hq_shape_str(hq_shape s, char *buf, size_t cap) {
    snprintf(buf, cap, "(%d, %d, %d, %d)", (int)s.n, (int)s.c, (int)s.h, (int)s.w);
    return buf;
}

/* ==== thread pool ===================================================================== */

#define HQ_MAGIC_POOL 0x504F4F4Cu /* "POOL" */
#define POOL_SPIN     4000        /* pause iterations before a worker sleeps (~50-100 us) */

struct hq_nn_pool {
    hq_handle h;
    int n;              /* threads, the caller included */
    int started;        /* worker threads actually running */
    pthread_t *th;      /* n - 1 workers */
    pthread_mutex_t mu; /* protects the sleeping hand-shake */
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_ullong gen; /* bumped for every run (and at stop) */
    bool stop;         /* under mu */
    nn_task_fn fn;     /* current run */
    void *arg;
    int n_tasks;
    atomic_int next; /* next task index to hand out */
    atomic_int busy; /* workers not yet finished with the current run */
};

typedef struct worker_arg {
    hq_nn_pool *p;
    int id;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_tasks(hq_nn_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->arg, t, thread);
    }
}

static void *worker_main(void *varg) {
    worker_arg *wa = varg;
    hq_nn_pool *p = wa->p;
    int id = wa->id;
    hq_free(wa);
    unsigned long long seen = 0;
    for (;;) {
        for (int i = 0; i < POOL_SPIN && atomic_load(&p->gen) == seen; i++) cpu_relax();
        if (atomic_load(&p->gen) == seen) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = atomic_load(&p->gen);
        pthread_mutex_lock(&p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        run_tasks(p, id);
        if (atomic_fetch_sub(&p->busy, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static void pool_stop(hq_nn_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->th[i], NULL);
    p->started = 0;
}

hq_status hq_nn_pool_create(int n_threads, hq_nn_pool **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_nn_pool_create: out is NULL");
    *out = NULL;
    if (n_threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c < 1 ? 1 : c > 64 ? 64 : (int)c;
    }
    if (n_threads < 1 || n_threads > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_nn_pool_create: %d threads out of range [1, 64] (0 = all CPUs)",
                        n_threads);
    hq_nn_pool *p = hq_calloc(1, sizeof *p);
    if (!p) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_nn_pool_create: out of memory");
    p->h.magic = HQ_MAGIC_POOL;
    p->n = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->busy, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->th = hq_calloc((size_t)n_threads - 1, sizeof *p->th);
        if (!p->th) {
            hq_nn_pool_free(p);
            return hq_failf(NULL, HQ_ERR_NOMEM, "hq_nn_pool_create: out of memory");
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = hq_malloc(sizeof *wa);
            if (!wa) {
                hq_nn_pool_free(p);
                return hq_failf(NULL, HQ_ERR_NOMEM, "hq_nn_pool_create: out of memory");
            }
            wa->p = p;
            wa->id = i;
            int e = pthread_create(&p->th[i - 1], NULL, worker_main, wa);
            if (e != 0) {
                hq_free(wa);
                hq_nn_pool_free(p);
                return hq_failf(NULL, HQ_ERR_INTERNAL,
                                "hq_nn_pool_create: cannot start thread %d: %s", i, strerror(e));
            }
            p->started++;
        }
    }
    *out = p;
    return HQ_OK;
}

void hq_nn_pool_free(hq_nn_pool *p) {
    if (!p || p->h.magic != HQ_MAGIC_POOL) return;
    pool_stop(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    hq_free(p->th);
    p->h.magic = HQ_MAGIC_DEAD;
    hq_free(p);
}

int hq_nn_pool_threads(const hq_nn_pool *p) { return p ? p->n : 1; }
int nn_pool_threads(const hq_nn_pool *p) { return p ? p->n : 1; }

void nn_pool_run(hq_nn_pool *p, int n_tasks, nn_task_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->started);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    for (int i = 0; i < POOL_SPIN && atomic_load(&p->busy) > 0; i++) cpu_relax();
    if (atomic_load(&p->busy) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

/* ==== OpenBLAS threads ================================================================ */

int nn_blas_single(void) {
    int prev = openblas_get_num_threads();
    if (prev != 1) openblas_set_num_threads(1);
    return prev;
}

void nn_blas_restore(int prev) {
    if (prev > 1) openblas_set_num_threads(prev);
}

void nn_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
}
