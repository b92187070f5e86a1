/*
 * orchestrator/plan.c — run plans (see plan.h).
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/statevector.h"
#include "nn/medmnist.h"
#include "nn/model.h"
#include "orchestrator/plan.h"
#include "orchestrator/qexec.h"

#define EVAL_BATCH 256 /* as orchestrator/train.c */

static void add_call(hq_plan_part *p, const hq_backend_caps *caps, int per_job, int64_t circuits,
                     int64_t shots) {
    hq_qexec_estimate e;
    hq_qexec_estimate_jobs(caps, per_job, circuits, shots, &e);
    p->calls++;
    p->circuits += e.circuits;
    p->jobs += e.jobs;
    p->shots += e.shots;
    p->cost_usd += e.cost_usd;
    p->seconds += e.seconds;
}

static void sum_into(hq_plan_part *t, const hq_plan_part *p) {
    t->calls += p->calls;
    t->circuits += p->circuits;
    t->jobs += p->jobs;
    t->shots += p->shots;
    t->cost_usd += p->cost_usd;
    t->seconds += p->seconds;
}

hq_status hq_plan_run(const hq_train_config *cfg, hq_plan *p) {
    memset(p, 0, sizeof *p);
    snprintf(p->backend, sizeof p->backend, "%s", cfg->backend);
    p->shots = cfg->shots;
    p->gradient = cfg->gradient;
    p->epochs = cfg->epochs;
    const hq_medmnist_info *info;
    hq_status st = hq_medmnist_find(cfg->dataset, &info);
    if (st) return st;
    int64_t n_split[3];
    for (int k = 0; k < 3; k++)
        n_split[k] =
            cfg->subset[k] > 0 ? HQ_MIN(cfg->subset[k], info->n_samples[k]) : info->n_samples[k];
    int64_t n_train = n_split[HQ_SPLIT_TRAIN], n_val = n_split[HQ_SPLIT_VAL],
            n_test = n_split[HQ_SPLIT_TEST];
    int64_t spe = (n_train + cfg->batch_size - 1) / cfg->batch_size;
    p->steps = spe * cfg->epochs;
    /* the model (no data needed) tells whether there is a quantum layer, and its template */
    hq_model_opts mo = {.in_channels = info->n_channels,
                        .height = 28,
                        .width = 28,
                        .classes = info->n_classes,
                        .max_batch = HQ_MAX(cfg->batch_size, EVAL_BATCH),
                        .threads = 1};
    hq_model *m = NULL;
    st = hq_model_create(cfg->model_json, &mo, &m);
    if (st) return hq_fail_prefix(NULL, st, "building the model");
    const hq_circuit *tmpl = hq_model_quantum_circuit(m);
    p->quantum = tmpl != NULL;
    p->exact = hq_train_config_exact(cfg);
    if (tmpl) {
        p->n_symbols = hq_circuit_n_symbols(tmpl);
        double *zero = hq_calloc((size_t)(p->n_symbols ? p->n_symbols : 1), sizeof *zero);
        hq_shift_plan sp;
        memset(&sp, 0, sizeof sp);
        st = zero ? hq_sv_shift_plan(tmpl, zero, &sp)
                  : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        p->shift_rows = sp.n_rows;
        hq_sv_shift_plan_free(&sp);
        hq_free(zero);
    }
    hq_model_free(m);
    if (st) return st;
    if (!p->quantum || p->exact) return HQ_OK;
    hq_backend *b;
    st = hq_backend_create(cfg->backend, cfg->backend_options, &b);
    if (st) return hq_fail_prefix(NULL, st, "config: quantum.backend");
    hq_backend_caps caps;
    hq_backend_get_caps(b, &caps);
    if (cfg->price_job > 0) caps.price_per_job = cfg->price_job;
    if (cfg->price_circuit > 0) caps.price_per_circuit = cfg->price_circuit;
    if (cfg->price_shot > 0) caps.price_per_shot = cfg->price_shot;
    int per = caps.max_circuits_per_job;
    if (cfg->max_circuits_per_job > 0 && (per <= 0 || cfg->max_circuits_per_job < per))
        per = cfg->max_circuits_per_job;
    p->max_circuits_per_job = per;
    p->circuits_per_sample = hq_qshots_circuits_per_row(cfg->gradient, p->shift_rows);
    for (int e = 0; e < cfg->epochs; e++) {
        for (int64_t s = 0; s < spe; s++) {
            int64_t bsz = HQ_MIN((int64_t)cfg->batch_size, n_train - s * cfg->batch_size);
            add_call(&p->train, &caps, per, bsz * p->circuits_per_sample, cfg->shots);
        }
        if (!cfg->eval_exact)
            for (int64_t i = 0; i < n_val; i += EVAL_BATCH)
                for (int pass = 0; pass < (cfg->tta_hflip ? 2 : 1); pass++) /* + the mirror pass */
                    add_call(&p->val, &caps, per, 2 * HQ_MIN((int64_t)EVAL_BATCH, n_val - i),
                             cfg->shots);
    }
    if (!cfg->eval_exact)
        for (int64_t i = 0; i < n_test; i += EVAL_BATCH)
            for (int pass = 0; pass < (cfg->tta_hflip ? 2 : 1); pass++)
                add_call(&p->test, &caps, per, 2 * HQ_MIN((int64_t)EVAL_BATCH, n_test - i),
                         cfg->shots);
    sum_into(&p->total, &p->train);
    sum_into(&p->total, &p->val);
    sum_into(&p->total, &p->test);
    hq_backend_free(b);
    return HQ_OK;
}

static void part_json(hq_sbuf *b, const char *name, const hq_plan_part *p) {
    hq_sbuf_printf(b,
                   "\"%s\":{\"calls\":%" PRId64 ",\"circuits\":%" PRId64 ",\"jobs\":%" PRId64
                   ",\"shots\":%" PRId64 ",\"cost_usd\":",
                   name, p->calls, p->circuits, p->jobs, p->shots);
    hq_sbuf_put_double(b, p->cost_usd);
    hq_sbuf_puts(b, ",\"seconds\":");
    hq_sbuf_put_double(b, p->seconds);
    hq_sbuf_putc(b, '}');
}

void hq_plan_to_json(const hq_plan *p, hq_sbuf *b) {
    hq_sbuf_puts(b, "{\"backend\":");
    hq_sbuf_put_json_str(b, p->backend);
    hq_sbuf_printf(b,
                   ",\"quantum\":%s,\"exact\":%s,\"shots\":%" PRId64
                   ",\"gradient\":\"%s\",\"symbols\":%d,"
                   "\"shift_rows\":%" PRId64 ",\"circuits_per_sample\":%" PRId64
                   ",\"max_circuits_per_job\":%d,"
                   "\"epochs\":%d,\"steps\":%" PRId64 ",",
                   p->quantum ? "true" : "false", p->exact ? "true" : "false", p->shots,
                   hq_qgrad_str(p->gradient), p->n_symbols, p->shift_rows, p->circuits_per_sample,
                   p->max_circuits_per_job, p->epochs, p->steps);
    part_json(b, "train", &p->train);
    hq_sbuf_putc(b, ',');
    part_json(b, "val", &p->val);
    hq_sbuf_putc(b, ',');
    part_json(b, "test", &p->test);
    hq_sbuf_putc(b, ',');
    part_json(b, "total", &p->total);
    hq_sbuf_puts(b, "}\n");
}

static void fmt_part(hq_sbuf *b, const char *name, const hq_plan_part *p) {
    hq_sbuf_printf(b,
                   "  %-6s %10" PRId64 " %12" PRId64 " %9" PRId64 " %15" PRId64 " %12.2f %12.1f\n",
                   name, p->calls, p->circuits, p->jobs, p->shots, p->cost_usd, p->seconds);
}

void hq_plan_format(const hq_plan *p, hq_sbuf *b) {
    hq_sbuf_printf(b, "plan: backend %s, %d epochs, %" PRId64 " steps\n", p->backend, p->epochs,
                   p->steps);
    if (!p->quantum) {
        hq_sbuf_puts(b, "the model has no quantum layer: nothing is submitted\n");
        return;
    }
    if (p->exact) {
        hq_sbuf_puts(b, "exact statevector simulation (adjoint gradients): nothing is submitted\n");
        return;
    }
    hq_sbuf_printf(b,
                   "%" PRId64 " shots per circuit; gradient %s: %" PRId64
                   " circuits per training sample (%d symbols, "
                   "%" PRId64 " shifted circuits per basis); at most %d circuits per job\n",
                   p->shots, hq_qgrad_str(p->gradient), p->circuits_per_sample, p->n_symbols,
                   p->shift_rows, p->max_circuits_per_job);
    hq_sbuf_printf(b, "  %-6s %10s %12s %9s %15s %12s %12s\n", "part", "calls", "circuits", "jobs",
                   "shots", "cost USD", "est. s");
    fmt_part(b, "train", &p->train);
    fmt_part(b, "val", &p->val);
    fmt_part(b, "test", &p->test);
    fmt_part(b, "total", &p->total);
}

static void part_from(const cJSON *o, hq_plan_part *p) {
    const cJSON *v;
    if (!o) return;
#define GET(k, f, T) \
    if ((v = cJSON_GetObjectItemCaseSensitive(o, k)) && cJSON_IsNumber(v)) p->f = (T)v->valuedouble
    GET("calls", calls, int64_t);
    GET("circuits", circuits, int64_t);
    GET("jobs", jobs, int64_t);
    GET("shots", shots, int64_t);
    GET("cost_usd", cost_usd, double);
    GET("seconds", seconds, double);
#undef GET
}

hq_status hq_plan_from_json(const char *json, hq_plan *p) {
    memset(p, 0, sizeof *p);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!o) return hq_failf(NULL, HQ_ERR_PARSE, "the stored plan is not valid JSON");
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "backend")) && cJSON_IsString(v))
        snprintf(p->backend, sizeof p->backend, "%s", v->valuestring);
    p->quantum = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "quantum"));
    p->exact = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "exact"));
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "shots")) && cJSON_IsNumber(v))
        p->shots = (int64_t)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "steps")) && cJSON_IsNumber(v))
        p->steps = (int64_t)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "epochs")) && cJSON_IsNumber(v))
        p->epochs = (int)v->valuedouble;
    part_from(cJSON_GetObjectItemCaseSensitive(o, "train"), &p->train);
    part_from(cJSON_GetObjectItemCaseSensitive(o, "val"), &p->val);
    part_from(cJSON_GetObjectItemCaseSensitive(o, "test"), &p->test);
    part_from(cJSON_GetObjectItemCaseSensitive(o, "total"), &p->total);
    cJSON_Delete(o);
    return HQ_OK;
}
