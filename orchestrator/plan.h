/*
 * orchestrator/plan.h — what a run will send to its quantum backend, computed from the
 * config alone (no data loaded, nothing submitted): `hqcnn plan`, and the plan a run
 * records so `hqcnn show` can compare it with what was really submitted.
 *
 * The count follows the training loop exactly: every step's batch (the last one of an
 * epoch may be smaller) asks for batch x circuits-per-sample circuits in one executor
 * call, every evaluation pass asks for 2 circuits per image in chunks of the evaluation
 * batch, and each call is packed into ceil(circuits / per-job limit) jobs. It assumes no
 * circuit repeats (continuous angles practically never do) and an empty cache: a resumed
 * run, or one sharing the database with an earlier identical run, submits less.
 */
#ifndef HQ_PLAN_H
#define HQ_PLAN_H

#include <stdint.h>

#include "orchestrator/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_plan_part {
    int64_t calls;    /* executor calls (training steps / evaluation chunks) */
    int64_t circuits; /* circuits submitted */
    int64_t jobs;     /* jobs submitted */
    int64_t shots;    /* shots submitted */
    double cost_usd;  /* estimated cost */
    double seconds;   /* estimated provider time */
} hq_plan_part;

typedef struct hq_plan {
    char backend[64];            /* quantum backend */
    bool quantum;                /* the model has a quantum layer */
    bool exact;                  /* exact statevector: nothing is submitted */
    int64_t shots;               /* per circuit */
    hq_qgrad gradient;           /* training gradient method */
    int n_symbols;               /* template symbols (inputs + weights) */
    int64_t shift_rows;          /* parameter-shift circuits per sample and basis */
    int64_t circuits_per_sample; /* per training sample */
    int max_circuits_per_job;    /* effective per-job limit */
    int epochs;
    int64_t steps;      /* optimizer steps */
    hq_plan_part train; /* training steps */
    hq_plan_part val;   /* per-epoch validation passes */
    hq_plan_part test;  /* final test pass */
    hq_plan_part total;
} hq_plan;

hq_status hq_plan_run(const hq_train_config *cfg, hq_plan *out);
/* Compact JSON (stored with the run) / a human-readable table. */
void hq_plan_to_json(const hq_plan *p, hq_sbuf *out);
void hq_plan_format(const hq_plan *p, hq_sbuf *out);
/* Parse what hq_plan_to_json wrote (for `hqcnn show`). */
hq_status hq_plan_from_json(const char *json, hq_plan *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_PLAN_H */
