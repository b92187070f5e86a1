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
#include <sched.h>
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

/*
 * Hand-out: one 64-bit ticket word = (run generation << 32) | next task index. A thread
 * takes a task with a compare-and-swap that also checks the generation, so a worker that
 * wakes up late can never take a task of a later run. The caller waits until `done`
 * counts all tasks of the run — not for every worker to check in — so a worker thread
 * descheduled by another process on the machine never holds the caller up: the caller
 * simply runs the remaining tasks itself.
 */
#define HQ_MAGIC_POOL 0x504F4F4Cu /* "POOL" */
#define POOL_SPIN     4000        /* pause iterations before an idle worker sleeps */

struct hq_nn_pool {
    hq_handle h;
    int n;              /* threads, the caller included */
    int started;        /* worker threads actually running */
    pthread_t *th;      /* n - 1 workers */
    pthread_mutex_t mu; /* protects sleeping and stop */
    pthread_cond_t wake;
    bool stop;            /* under mu */
    atomic_ullong ticket; /* (generation << 32) | next task */
    atomic_int done;      /* tasks finished in the current run */
    uint32_t gen;         /* generation of the current run (caller only) */
    nn_task_fn fn;        /* current run: valid while its tasks are not all done */
    void *arg;
    atomic_int n_tasks; /* read before the hand-out CAS, possibly of a later run */
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

static void run_tasks(hq_nn_pool *p, uint32_t gen, int thread) {
    for (;;) {
        unsigned long long w = atomic_load(&p->ticket);
        if ((uint32_t)(w >> 32) != gen) return; /* a later run: not ours */
        int t = (int)(uint32_t)w;
        if (t >= atomic_load_explicit(&p->n_tasks, memory_order_relaxed)) return; /* all out */
        if (!atomic_compare_exchange_weak(&p->ticket, &w, w + 1)) continue;
        p->fn(p->arg, t, thread);
        atomic_fetch_add(&p->done, 1);
    }
}

static void *worker_main(void *varg) {
    worker_arg *wa = varg;
    hq_nn_pool *p = wa->p;
    int id = wa->id;
    hq_free(wa);
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = (uint32_t)(atomic_load(&p->ticket) >> 32);
        for (int i = 0; i < POOL_SPIN && g == seen; i++) {
            cpu_relax();
            g = (uint32_t)(atomic_load(&p->ticket) >> 32);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = (uint32_t)(atomic_load(&p->ticket) >> 32)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        pthread_mutex_lock(&p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        seen = g;
        run_tasks(p, g, id);
    }
    return NULL;
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
    atomic_init(&p->ticket, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->n_tasks, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
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
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    atomic_store(&p->ticket, (unsigned long long)(++p->gen) << 32);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    hq_free(p->th);
    p->h.magic = HQ_MAGIC_DEAD;
    hq_free(p);
}

int hq_nn_pool_threads(const hq_nn_pool *p) { return p ? p->n : 1; }
int nn_pool_threads(const hq_nn_pool *p) { return p ? p->n : 1; }

void nn_pool_run(hq_nn_pool *p, int n_tasks, nn_task_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->started == 0 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->n_tasks, n_tasks, memory_order_relaxed);
    atomic_store(&p->done, 0);
    uint32_t gen = ++p->gen;
    if (gen == 0) gen = ++p->gen; /* 0 is the workers' initial "seen" */
    atomic_store(&p->ticket, (unsigned long long)gen << 32);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, gen, 0);
    /* the remaining tasks are running on other threads: wait for them (spin, then let
     * other processes have the core while a descheduled worker finishes) */
    for (long i = 0; atomic_load(&p->done) < n_tasks; i++) {
        if (i < POOL_SPIN)
            cpu_relax();
        else
            sched_yield();
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
