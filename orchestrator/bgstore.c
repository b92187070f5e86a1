/*
 * orchestrator/bgstore.c — the job-completion worker (orchestrator/bgstore.h).
 *
 * One mutex and one condition variable: the caller sets `task` and signals; the worker
 * clears it when the commit is done and signals back. The worker's hq_last_error lives in
 * its own thread, so its message is copied into the handle and re-raised by the waiter.
 */
#include "orchestrator/bgstore.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "backends/backend.h"

struct hq_bgstore {
    hq_jobdb *db; /* the worker's connection */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool task;    /* a task handed over and not yet finished (worker clears) */
    bool pending; /* handed over and not yet collected by hq_bgstore_wait */
    bool stop;
    /* the task */
    int64_t job, n;
    const hq_jobdb_result *results;
    char calibration[HQ_CALIB_ID_MAX];
    bool has_calibration;
    /* its outcome */
    hq_status status;
    char msg[HQ_ERRMSG_MAX];
};

static void *worker_main(void *arg) {
    hq_bgstore *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->task && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->task) break; /* stop, nothing left to do */
        pthread_mutex_unlock(&s->mu);
        hq_status st = hq_jobdb_job_complete(
            s->db, s->job, NULL, 0, s->has_calibration ? s->calibration : NULL, s->n, s->results);
        pthread_mutex_lock(&s->mu);
        s->status = st;
        if (st) snprintf(s->msg, sizeof s->msg, "%s", hq_last_error());
        s->task = false;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

hq_status hq_bgstore_create(const hq_jobdb *db, hq_bgstore **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_bgstore_create: out is NULL");
    *out = NULL;
    hq_bgstore *s = hq_calloc(1, sizeof *s);
    if (!s) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_bgstore_create: out of memory");
    hq_status st = hq_jobdb_open_again(db, &s->db);
    if (st) {
        hq_free(s);
        return st;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int e = pthread_create(&s->thread, NULL, worker_main, s);
    if (e) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        hq_jobdb_close(s->db);
        hq_free(s);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_bgstore_create: cannot start a thread (%s)",
                        strerror(e));
    }
    *out = s;
    return HQ_OK;
}

hq_status hq_bgstore_start(hq_bgstore *s, int64_t job, const char *calibration, int64_t n,
                           const hq_jobdb_result *results) {
    if (!s) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_bgstore_start: NULL handle");
    if (calibration && strlen(calibration) >= sizeof s->calibration)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_bgstore_start: calibration id longer than %d characters",
                        HQ_CALIB_ID_MAX - 1);
    pthread_mutex_lock(&s->mu);
    if (s->pending) {
        pthread_mutex_unlock(&s->mu);
        return hq_failf(NULL, HQ_ERR_MISUSE,
                        "hq_bgstore_start: the previous task was not collected with "
                        "hq_bgstore_wait");
    }
    s->job = job;
    s->n = n;
    s->results = results;
    s->has_calibration = calibration != NULL;
    snprintf(s->calibration, sizeof s->calibration, "%s", calibration ? calibration : "");
    s->status = HQ_OK;
    s->msg[0] = '\0';
    s->task = s->pending = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return HQ_OK;
}

hq_status hq_bgstore_wait(hq_bgstore *s) {
    if (!s) return HQ_OK;
    pthread_mutex_lock(&s->mu);
    while (s->task) pthread_cond_wait(&s->cv, &s->mu);
    bool collected = s->pending;
    s->pending = false;
    hq_status st = collected ? s->status : HQ_OK;
    int64_t job = s->job;
    char msg[HQ_ERRMSG_MAX];
    memcpy(msg, s->msg, sizeof msg);
    pthread_mutex_unlock(&s->mu);
    if (st) return hq_failf(NULL, st, "storing the results of job %" PRId64 ": %s", job, msg);
    return HQ_OK;
}

void hq_bgstore_free(hq_bgstore *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL); /* finishes a task in progress first */
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    hq_jobdb_close(s->db);
    hq_free(s);
}
