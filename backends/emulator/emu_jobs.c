/*
 * backends/emulator/emu_jobs.c — the job table: acceptance, the wall-clock state machine,
 * persistence (one atomically written JSON file per job in STATE_DIR/jobs), reload at start,
 * and the worker thread that executes circuits on the simulators.
 *
 * A job's life is fixed at acceptance by three wall-clock times: created, t_run (leaves
 * the queue) and t_done (ends). Its state at time now is a pure function of those, the
 * injected job faults, a user cancel and whether results exist (emu_job_state) — nothing
 * advances in the background, so a job continues correctly across a restart.
 *
 * Results are computed by one worker thread as soon as the job is accepted (they do not
 * depend on time) and stored as distributions: exact probabilities (IonQ ideal simulator)
 * or counts. IBM per-shot samples are expanded from the counts when results are served.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "backends/densitymatrix.h"
#include "backends/emulator/emu_impl.h"
#include "backends/statevector.h"
#include "core/rng.h"
#include "core/sha256.h"

/* ==== ids ============================================================================= */

static void random_bytes(uint8_t *b, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
    if (got < n) { /* no entropy source: a time-seeded Philox stream is unique enough */
        static uint64_t ctr;
        hq_rng rng;
        hq_rng_init(&rng, (uint64_t)(hq_time_wall() * 1e6), __atomic_add_fetch(&ctr, 1, 0), 0);
        for (size_t i = got; i < n; i++) b[i] = (uint8_t)hq_rng_u32(&rng);
    }
}

void emu_uuid(char out[40]) {
    uint8_t b[16];
    random_bytes(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void emu_ibm_id(char out[40]) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t b[20];
    random_bytes(b, sizeof b);
    out[0] = alphabet[b[0] % 26]; /* IBM ids start with a letter */
    for (int i = 1; i < 20; i++) out[i] = alphabet[b[i] % 36];
    out[20] = '\0';
}

/* ==== seeds =========================================================================== */

/* Little-endian fixed-width fields of the seed digest. */
static void put_u64(hq_sbuf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    hq_sbuf_append(b, x, sizeof x);
}

/* The bound circuit as bytes: what its canonical text says (qubit and clbit counts,
 * registers, conditions, gates, operands, measurement targets), angles as their exact
 * IEEE-754 bits instead of decimal text — formatting and re-parsing every angle cost as
 * much as simulating the circuit. Equal circuits (same canonical text) give equal bytes
 * and different ones different bytes. */
static void put_circuit(hq_sbuf *b, const hq_circuit *c, const double *angles) {
    put_u64(b, (uint64_t)hq_circuit_n_qubits(c));
    put_u64(b, (uint64_t)hq_circuit_n_clbits(c));
    int nc = hq_circuit_n_cregs(c);
    put_u64(b, (uint64_t)nc);
    for (int i = 0; i < nc; i++) {
        hq_reg r = hq_circuit_creg(c, i);
        hq_sbuf_append(b, r.name, strlen(r.name) + 1);
        put_u64(b, (uint64_t)r.offset);
        put_u64(b, (uint64_t)r.size);
    }
    const hq_op *ops = hq_circuit_ops(c);
    int64_t n = hq_circuit_n_ops(c);
    put_u64(b, (uint64_t)n);
    for (int64_t k = 0; k < n; k++) {
        const hq_op *op = &ops[k];
        put_u64(b, (uint64_t)op->gate | (uint64_t)op->nq << 16 | (uint64_t)op->np << 24 |
                       (uint64_t)(uint32_t)op->cond_creg << 32);
        if (op->cond_creg >= 0) put_u64(b, op->cond_val);
        for (int i = 0; i < op->np; i++) {
            uint64_t bits;
            memcpy(&bits, &angles[op->p[i]], sizeof bits);
            put_u64(b, bits);
        }
        for (int i = 0; i < op->nq; i++) put_u64(b, (uint64_t)(uint32_t)hq_op_qubit(c, op, i));
        if (op->gate == HQ_GATE_MEASURE) put_u64(b, (uint64_t)(uint32_t)op->clbit);
    }
}

hq_status emu_seed_for(uint64_t emu_seed, const char *tag, int64_t shots, const int *layout,
                       int n_layout, const hq_circuit *bound, uint64_t *seed, uint64_t *stream) {
    if (hq_circuit_n_symbols(bound) != 0)
        return hq_failf(NULL, HQ_ERR_INTERNAL, "emulator: sampling seed of an unbound circuit");
    int64_t na = hq_circuit_n_angles(bound);
    double *angles = hq_malloc((size_t)HQ_MAX(na, 1) * sizeof *angles);
    if (!angles) return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: seed: out of memory");
    hq_circuit_eval_angles(bound, NULL, angles);
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b, "hqcnn-emulator-seed 2\n%s\nshots %lld\nlayout", tag, (long long)shots);
    for (int i = 0; i < n_layout; i++) hq_sbuf_printf(&b, " %d", layout ? layout[i] : i);
    hq_sbuf_putc(&b, '\n');
    put_circuit(&b, bound, angles);
    hq_free(angles);
    uint8_t h[HQ_SHA256_LEN];
    hq_status st = hq_sbuf_status(&b);
    if (st == HQ_OK) st = hq_sha256(b.p, b.len, h);
    hq_sbuf_free(&b);
    if (st != HQ_OK) return st;
    uint64_t a = 0, c = 0;
    for (int i = 0; i < 8; i++) {
        a |= (uint64_t)h[i] << (8 * i);
        c |= (uint64_t)h[8 + i] << (8 * i);
    }
    *seed = a ^ hq_mix64(emu_seed ^ 0x656d756c61746f72ull);
    *stream = c;
    return HQ_OK;
}

/* ==== job objects ===================================================================== */

void emu_dist_free(emu_dist *d) {
    if (!d) return;
    HQ_FREE(d->outcome);
    HQ_FREE(d->prob);
    HQ_FREE(d->count);
    d->n = 0;
}

void emu_unit_free(emu_unit *u) {
    if (!u) return;
    hq_circuit_free(u->circ);
    u->circ = NULL;
    HQ_FREE(u->layout);
    HQ_FREE(u->values);
    HQ_FREE(u->cregs);
    if (u->res) {
        for (int64_t r = 0; r < u->rows; r++) emu_dist_free(&u->res[r]);
        HQ_FREE(u->res);
    }
}

emu_job *emu_job_new(emu_family fam) {
    emu_job *j = hq_calloc(1, sizeof *j);
    if (j) j->fam = fam;
    return j;
}

void emu_job_free(emu_job *j) {
    if (!j) return;
    cJSON_Delete(j->req);
    hq_free(j->token);
    hq_free(j->err_msg);
    for (int i = 0; i < j->n_units; i++) emu_unit_free(&j->units[i]);
    hq_free(j->units);
    hq_free(j->children);
    hq_free(j);
}

/* ==== state machine =================================================================== */

emu_state emu_job_state(const emu_job *j, double now, const char **code, const char **msg) {
    const char *c = NULL, *m = NULL;
    emu_state s;
    if (j->cancelled_at > 0) {
        s = EMU_S_CANCELLED;
        c = "";
        m = "cancelled by the user";
    } else if (now < j->t_run) {
        s = EMU_S_QUEUED;
    } else if (now < j->t_done) {
        s = EMU_S_RUNNING;
    } else if (j->fail_code[0]) {
        s = EMU_S_FAILED;
        c = j->fail_code;
        m = "job failed (failure injected by the emulator's job_fail fault)";
    } else if (j->provider_cancel) {
        s = EMU_S_CANCELLED;
        c = "1305";
        m = "Job was cancelled by the provider: it ran longer than the maximum execution time";
    } else if (j->err_code[0] && j->executed) {
        s = EMU_S_FAILED;
        c = j->err_code;
        m = j->err_msg ? j->err_msg : "";
    } else if (!j->executed) {
        s = EMU_S_RUNNING;
    } else {
        s = EMU_S_COMPLETED;
    }
    if (code) *code = c;
    if (msg) *msg = m;
    return s;
}

void emu_job_noticed(hq_emulator *e, emu_job *j, double end, double now) {
    if (j->noticed) return;
    j->noticed = true;
    double d = HQ_MAX(now - end, 0.0);
    e->st_noticed++;
    e->st_notice_sum_s += d;
    e->st_notice_max_s = HQ_MAX(e->st_notice_max_s, d);
}

emu_job *emu_jobs_find(hq_emulator *e, const char *id, int *child) {
    if (child) *child = -1;
    if (!id || strlen(id) >= 40) return NULL;
    for (int64_t i = e->n_jobs - 1; i >= 0; i--) {
        emu_job *j = e->jobs[i];
        if (!strcmp(j->id, id)) return j;
        if (j->children && child)
            for (int k = 0; k < j->n_units; k++)
                if (!strcmp(j->children[k], id)) {
                    *child = k;
                    return j;
                }
    }
    return NULL;
}

void emu_job_timeline(hq_emulator *e, emu_job *j, const emu_req *r, const emu_req_faults *jf) {
    double q = (double)e->opt.queue_delay_ms, run = (double)e->opt.run_delay_ms;
    const char *h = r ? emu_req_header(r, "X-Emu-Delay-Ms") : NULL;
    if (h) {
        double hq_ms, hr_ms;
        bool has_run;
        if (emu_parse_delay_header(h, &hq_ms, &hr_ms, &has_run) == HQ_OK) {
            q = hq_ms;
            if (has_run) run = hr_ms;
        }
    }
    if (jf && jf->slow_queue) q = jf->slow_queue_s * 1000.0;
    j->created = hq_time_wall();
    if (j->err_code[0]) { /* a preflight failure is known at once */
        j->t_run = j->t_done = j->created;
    } else {
        j->t_run = j->created + q / 1000.0;
        j->t_done = j->t_run + run / 1000.0;
    }
    if (jf && jf->job_fail)
        snprintf(j->fail_code, sizeof j->fail_code, "%s",
                 jf->job_fail_code[0] ? jf->job_fail_code
                                      : (j->fam == EMU_IONQ ? "InternalError" : "1500"));
    if (jf && jf->provider_cancel) j->provider_cancel = true;
    if (jf && jf->partial) j->partial = true;
    if (jf && jf->recalibrate) j->recalibrate = true;
}

int emu_jobs_advance(hq_emulator *e, double now, emu_job **save, int cap) {
    int n = 0;
    if (e->n_recal_pending <= 0) return 0;
    for (int64_t i = 0; i < e->n_jobs; i++) {
        emu_job *j = e->jobs[i];
        if (!j->recalibrate || j->recalibrated || now < j->t_run || j->cancelled_at > 0) continue;
        emu_calibration_bump(e);
        j->recalibrated = true;
        j->version++;
        e->n_recal_pending--;
        if (n < cap) save[n++] = j;
    }
    return n;
}

/* ==== persistence ===================================================================== */

static void put_dist(hq_sbuf *b, const emu_dist *d) {
    hq_sbuf_printf(
        b, "{\"n_bits\":%d,\"exact\":%s,\"shots\":%lld,\"seed\":\"%llu\",\"stream\":\"%llu\"",
        d->n_bits, d->exact ? "true" : "false", (long long)d->shots, (unsigned long long)d->seed,
        (unsigned long long)d->stream);
    hq_sbuf_puts(b, ",\"outcomes\":[");
    for (int64_t i = 0; i < d->n; i++)
        hq_sbuf_printf(b, "%s\"%llu\"", i ? "," : "", (unsigned long long)d->outcome[i]);
    hq_sbuf_puts(b, "],\"values\":[");
    for (int64_t i = 0; i < d->n; i++) {
        if (i) hq_sbuf_putc(b, ',');
        if (d->exact)
            hq_sbuf_put_double(b, d->prob[i]);
        else
            hq_sbuf_printf(b, "%lld", (long long)d->count[i]);
    }
    hq_sbuf_puts(b, "]}");
}

static void put_opt_str(hq_sbuf *b, const char *key, const char *v) {
    hq_sbuf_printf(b, ",\"%s\":", key);
    if (v)
        hq_sbuf_put_json_str(b, v);
    else
        hq_sbuf_puts(b, "null");
}

/* A JSON value with every number written exactly (shortest round-trip text). cJSON's own
 * printer keeps 15 significant digits whenever they compare equal within a relative
 * epsilon, which loses the last bits of parameter values: a job executed again after a
 * restart would then bind different angles and draw different samples. */
static void put_json_exact(hq_sbuf *b, const cJSON *v) {
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v);
        hq_sbuf_putc(b, obj ? '{' : '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child) hq_sbuf_putc(b, ',');
            if (obj) {
                hq_sbuf_put_json_str(b, c->string ? c->string : "");
                hq_sbuf_putc(b, ':');
            }
            put_json_exact(b, c);
        }
        hq_sbuf_putc(b, obj ? '}' : ']');
    } else if (cJSON_IsString(v)) {
        hq_sbuf_put_json_str(b, v->valuestring);
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        hq_sbuf_put_double(b, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        hq_sbuf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    } else {
        hq_sbuf_puts(b, "null");
    }
}

/* Serialise a job (lock held). */
static hq_status job_to_json(const emu_job *j, hq_sbuf *b) {
    hq_sbuf_puts(b, "{\"format\":\"hqcnn-emulator-job\",\"version\":1,\"id\":");
    hq_sbuf_put_json_str(b, j->id);
    hq_sbuf_printf(b, ",\"family\":\"%s\"", j->fam == EMU_IONQ ? "ionq" : "ibm");
    put_opt_str(b, "token", j->token);
#define PUT_T(name, v)                 \
    hq_sbuf_puts(b, ",\"" name "\":"); \
    hq_sbuf_put_double(b, v);
    PUT_T("created", j->created)
    PUT_T("t_run", j->t_run)
    PUT_T("t_done", j->t_done)
    PUT_T("t_exec", j->t_exec)
    PUT_T("cancelled_at", j->cancelled_at)
#undef PUT_T
    put_opt_str(b, "fail_code", j->fail_code[0] ? j->fail_code : NULL);
    hq_sbuf_printf(b,
                   ",\"provider_cancel\":%s,\"partial\":%s,\"recalibrate\":%s,\"recalibrated\":%s",
                   j->provider_cancel ? "true" : "false", j->partial ? "true" : "false",
                   j->recalibrate ? "true" : "false", j->recalibrated ? "true" : "false");
    put_opt_str(b, "err_code", j->err_code[0] ? j->err_code : NULL);
    put_opt_str(b, "err_msg", j->err_msg);
    hq_sbuf_puts(b, ",\"children\":");
    if (j->children) {
        hq_sbuf_putc(b, '[');
        for (int k = 0; k < j->n_units; k++) {
            if (k) hq_sbuf_putc(b, ',');
            hq_sbuf_put_json_str(b, j->children[k]);
        }
        hq_sbuf_putc(b, ']');
    } else {
        hq_sbuf_puts(b, "null");
    }
    hq_sbuf_puts(b, ",\"request\":");
    put_json_exact(b, j->req);
    hq_sbuf_puts(b, ",\"results\":");
    bool have = j->executed && !j->err_code[0];
    if (have) {
        hq_sbuf_putc(b, '[');
        for (int u = 0; u < j->n_units; u++) {
            hq_sbuf_puts(b, u ? ",[" : "[");
            for (int64_t r = 0; r < j->units[u].rows; r++) {
                if (r) hq_sbuf_putc(b, ',');
                put_dist(b, &j->units[u].res[r]);
            }
            hq_sbuf_putc(b, ']');
        }
        hq_sbuf_putc(b, ']');
    } else {
        hq_sbuf_puts(b, "null");
    }
    hq_sbuf_puts(b, ",\"executed\":");
    hq_sbuf_puts(b, j->executed ? "true}\n" : "false}\n");
    return hq_sbuf_status(b);
}

static hq_status job_path(const hq_emulator *e, const char *id, char *path, size_t cap) {
    char name[64];
    snprintf(name, sizeof name, "jobs/%s.json", id);
    return hq_path_join(path, cap, e->s_state_dir, name);
}

/* Write the job's current version if newer than what is on disk. Lock NOT held. */
static hq_status job_save(hq_emulator *e, emu_job *j) {
    if (!e->s_state_dir) return HQ_OK;
    hq_sbuf b = HQ_SBUF_INIT;
    pthread_mutex_lock(&e->lock);
    uint64_t v = j->version;
    hq_status st = job_to_json(j, &b);
    pthread_mutex_unlock(&e->lock);
    char path[4096];
    if (st == HQ_OK) st = job_path(e, j->id, path, sizeof path);
    pthread_mutex_lock(&e->io_lock);
    if (st == HQ_OK && v > j->saved_version) {
        st = hq_file_write_atomic(path, b.p, b.len);
        if (st == HQ_OK) j->saved_version = v;
    }
    pthread_mutex_unlock(&e->io_lock);
    hq_sbuf_free(&b);
    return st;
}

void emu_jobs_save(hq_emulator *e, emu_job *j) {
    if (job_save(e, j) != HQ_OK)
        HQ_LOGW("emulator: cannot save job %s: %s", j->id, hq_last_error());
}

static hq_status table_push(hq_emulator *e, emu_job *j) {
    if (e->n_jobs == e->cap_jobs) {
        int64_t cap = HQ_MAX(64, e->cap_jobs * 2);
        emu_job **a = hq_realloc(e->jobs, (size_t)cap * sizeof *a);
        if (!a) return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: job table: out of memory");
        e->jobs = a;
        e->cap_jobs = cap;
    }
    e->jobs[e->n_jobs++] = j;
    e->n_jobs_fam[j->fam == EMU_IBM]++;
    if (j->recalibrate && !j->recalibrated && j->cancelled_at <= 0) e->n_recal_pending++;
    return HQ_OK;
}

static hq_status queue_push(hq_emulator *e, emu_job *j) {
    if (e->queue_n == e->queue_cap) {
        /* compact, then grow */
        int64_t live = e->queue_n - e->queue_head;
        if (live > 0) memmove(e->queue, e->queue + e->queue_head, (size_t)live * sizeof *e->queue);
        e->queue_head = 0;
        e->queue_n = live;
        if (e->queue_n == e->queue_cap) {
            int64_t cap = HQ_MAX(64, e->queue_cap * 2);
            emu_job **a = hq_realloc(e->queue, (size_t)cap * sizeof *a);
            if (!a) return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: work queue: out of memory");
            e->queue = a;
            e->queue_cap = cap;
        }
    }
    e->queue[e->queue_n++] = j;
    j->queued = true;
    pthread_cond_signal(&e->work_cond);
    return HQ_OK;
}

hq_status emu_jobs_add(hq_emulator *e, emu_job *j, emu_req *r) {
    pthread_mutex_lock(&e->lock);
    if (e->n_jobs >= e->opt.max_jobs) {
        pthread_mutex_unlock(&e->lock);
        emu_job_free(j);
        return hq_failf(NULL, HQ_ERR_BUSY,
                        "the emulator stores at most %lld jobs ---> HINT: restart it with a "
                        "fresh --state-dir",
                        (long long)e->opt.max_jobs);
    }
    emu_faults_take_job(&e->faults, r->method, r->path, r->fault_header, r->faults);
    emu_job_timeline(e, j, r, r->faults);
    j->version = 1;
    pthread_mutex_unlock(&e->lock);
    /* durable before anyone can see it, and before the reply */
    hq_status st = job_save(e, j);
    if (st != HQ_OK) {
        emu_job_free(j);
        return hq_fail_prefix(NULL, HQ_ERR_IO, "the emulator cannot store the job: ");
    }
    pthread_mutex_lock(&e->lock);
    st = table_push(e, j);
    if (st == HQ_OK) {
        e->st_accepted_fam[j->fam == EMU_IBM]++;
        if (!j->executed) st = queue_push(e, j);
        if (st != HQ_OK) { /* cannot run it: fail the job rather than lose it */
            snprintf(j->err_code, sizeof j->err_code, "%s",
                     j->fam == EMU_IONQ ? "InternalError" : "1500");
            j->executed = true;
            j->version++;
        }
        st = HQ_OK;
    }
    pthread_mutex_unlock(&e->lock);
    if (st != HQ_OK) emu_job_free(j);
    return st;
}

/* ==== reload ========================================================================== */

static double num_or(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
static bool bool_of(const cJSON *o, const char *k) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}
static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static hq_status parse_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsString(v)) return HQ_ERR_PARSE;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v->valuestring, &end, 10);
    if (errno || !end || *end || end == v->valuestring) return HQ_ERR_PARSE;
    *out = x;
    return HQ_OK;
}

static hq_status load_dist(const cJSON *o, emu_dist *d) {
    memset(d, 0, sizeof *d);
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(o, "outcomes");
    const cJSON *va = cJSON_GetObjectItemCaseSensitive(o, "values");
    if (!cJSON_IsArray(oc) || !cJSON_IsArray(va) ||
        cJSON_GetArraySize(oc) != cJSON_GetArraySize(va))
        return HQ_ERR_PARSE;
    d->n_bits = (int)num_or(o, "n_bits", 0);
    d->exact = bool_of(o, "exact");
    d->shots = (int64_t)num_or(o, "shots", 0);
    if (parse_u64(cJSON_GetObjectItemCaseSensitive(o, "seed"), &d->seed) != HQ_OK ||
        parse_u64(cJSON_GetObjectItemCaseSensitive(o, "stream"), &d->stream) != HQ_OK ||
        d->n_bits < 1 || d->n_bits > 64)
        return HQ_ERR_PARSE;
    int64_t n = cJSON_GetArraySize(oc);
    d->outcome = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *d->outcome);
    if (d->exact)
        d->prob = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *d->prob);
    else
        d->count = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *d->count);
    if (!d->outcome || (!d->prob && !d->count)) return HQ_ERR_NOMEM;
    int64_t i = 0, total = 0;
    const cJSON *a = oc->child, *b = va->child;
    for (; a && b; a = a->next, b = b->next, i++) {
        if (parse_u64(a, &d->outcome[i]) != HQ_OK || !cJSON_IsNumber(b)) return HQ_ERR_PARSE;
        if (d->exact) {
            d->prob[i] = b->valuedouble;
        } else {
            d->count[i] = (int64_t)b->valuedouble;
            total += d->count[i];
        }
    }
    d->n = n;
    if (!d->exact && total != d->shots) return HQ_ERR_PARSE;
    return HQ_OK;
}

static hq_status load_results(emu_job *j, const cJSON *res) {
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) != j->n_units) return HQ_ERR_PARSE;
    int u = 0;
    for (const cJSON *ur = res->child; ur; ur = ur->next, u++) {
        emu_unit *un = &j->units[u];
        if (!cJSON_IsArray(ur) || cJSON_GetArraySize(ur) != un->rows) return HQ_ERR_PARSE;
        un->res = hq_calloc((size_t)un->rows, sizeof *un->res);
        if (!un->res) return HQ_ERR_NOMEM;
        int64_t r = 0;
        for (const cJSON *dr = ur->child; dr; dr = dr->next, r++) {
            hq_status st = load_dist(dr, &un->res[r]);
            if (st != HQ_OK) return st;
        }
    }
    return HQ_OK;
}

static hq_status load_one(hq_emulator *e, const char *path, emu_job **out) {
    *out = NULL;
    char *txt = NULL;
    size_t len = 0;
    hq_status st = hq_file_read(path, (size_t)1 << 31, &txt, &len);
    if (st != HQ_OK) return st;
    cJSON *doc = cJSON_ParseWithLength(txt, len);
    hq_free(txt);
    const char *fmt = str_of(doc, "format"), *id = str_of(doc, "id"), *fam = str_of(doc, "family");
    cJSON *req = cJSON_DetachItemFromObjectCaseSensitive(doc, "request");
    if (!doc || !fmt || strcmp(fmt, "hqcnn-emulator-job") || !id || strlen(id) >= 40 || !fam ||
        (strcmp(fam, "ionq") && strcmp(fam, "ibm")) || !cJSON_IsObject(req)) {
        cJSON_Delete(req);
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: not an emulator job file", path);
    }
    emu_job *j = emu_job_new(strcmp(fam, "ionq") ? EMU_IBM : EMU_IONQ);
    if (!j) {
        cJSON_Delete(req);
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(j->id, sizeof j->id, "%s", id);
    j->req = req;
    const char *tok = str_of(doc, "token");
    j->token = tok ? hq_strdup(tok) : NULL;
    j->created = num_or(doc, "created", 0);
    j->t_run = num_or(doc, "t_run", 0);
    j->t_done = num_or(doc, "t_done", 0);
    j->t_exec = num_or(doc, "t_exec", 0);
    j->cancelled_at = num_or(doc, "cancelled_at", 0);
    const char *fc = str_of(doc, "fail_code");
    snprintf(j->fail_code, sizeof j->fail_code, "%s", fc ? fc : "");
    j->provider_cancel = bool_of(doc, "provider_cancel");
    j->partial = bool_of(doc, "partial");
    j->recalibrate = bool_of(doc, "recalibrate");
    j->recalibrated = bool_of(doc, "recalibrated");
    /* rebuild the units from the request (same code as at submission) */
    int http = 0, code = 0;
    st = j->fam == EMU_IONQ ? emu_ionq_prepare(e, j) : emu_ibm_prepare(e, j, &http, &code);
    const char *ec = str_of(doc, "err_code"), *em = str_of(doc, "err_msg");
    bool executed = bool_of(doc, "executed");
    if (st == HQ_OK && executed && ec) {
        snprintf(j->err_code, sizeof j->err_code, "%s", ec);
        hq_free(j->err_msg);
        j->err_msg = em ? hq_strdup(em) : NULL;
        j->executed = true;
    } else if (st == HQ_OK && executed && !j->err_code[0]) {
        st = load_results(j, cJSON_GetObjectItemCaseSensitive(doc, "results"));
        if (st != HQ_OK) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: results do not match the request", path);
        } else {
            j->executed = true;
        }
    } else if (st != HQ_OK) {
        /* the request no longer prepares (e.g. another device): keep the job, failed */
        char msg[HQ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "cannot re-run the job after the emulator restarted: %s",
                 hq_last_error());
        for (int i = 0; i < j->n_units; i++) emu_unit_free(&j->units[i]);
        j->n_units = 0;
        snprintf(j->err_code, sizeof j->err_code, "%s",
                 j->fam == EMU_IONQ ? "InternalError" : "1500");
        hq_free(j->err_msg);
        j->err_msg = hq_strdup(msg);
        j->executed = true;
        st = HQ_OK;
    }
    if (st != HQ_OK) {
        cJSON_Delete(doc);
        emu_job_free(j);
        return st;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(doc, "children");
    if (j->fam == EMU_IONQ && j->n_units > 1) {
        j->children = hq_calloc((size_t)j->n_units, sizeof *j->children);
        if (!j->children || !cJSON_IsArray(ch) || cJSON_GetArraySize(ch) != j->n_units) {
            cJSON_Delete(doc);
            emu_job_free(j);
            return hq_failf(NULL, HQ_ERR_PARSE, "%s: children do not match the circuits", path);
        }
        int k = 0;
        for (const cJSON *c = ch->child; c; c = c->next, k++)
            snprintf(j->children[k], sizeof j->children[k], "%s",
                     cJSON_IsString(c) ? c->valuestring : "?");
    }
    cJSON_Delete(doc);
    j->version = 1;
    j->saved_version = 1;
    *out = j;
    return HQ_OK;
}

static int cmp_created(const void *a, const void *b) {
    const emu_job *x = *(emu_job *const *)a, *y = *(emu_job *const *)b;
    return x->created < y->created ? -1 : x->created > y->created ? 1 : strcmp(x->id, y->id);
}

hq_status emu_jobs_load(hq_emulator *e) {
    if (!e->s_state_dir) return HQ_OK;
    char dir[4096];
    hq_status st = hq_path_join(dir, sizeof dir, e->s_state_dir, "jobs");
    if (st == HQ_OK) st = hq_mkdir_p(dir, 0755);
    if (st != HQ_OK) return st;
    DIR *d = opendir(dir);
    if (!d)
        return hq_failf(NULL, HQ_ERR_IO, "cannot open state directory '%s': %s", dir,
                        strerror(errno));
    struct dirent *de;
    int64_t bad = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json")) continue; /* temp files too */
        char path[4096];
        if (hq_path_join(path, sizeof path, dir, de->d_name) != HQ_OK) continue;
        emu_job *j = NULL;
        if (load_one(e, path, &j) != HQ_OK) {
            HQ_LOGW("emulator: skipping a job file: %s", hq_last_error());
            bad++;
            continue;
        }
        if (table_push(e, j) != HQ_OK) {
            emu_job_free(j);
            closedir(d);
            return HQ_ERR_NOMEM;
        }
    }
    closedir(d);
    if (e->n_jobs > 1) qsort(e->jobs, (size_t)e->n_jobs, sizeof *e->jobs, cmp_created);
    for (int64_t i = 0; i < e->n_jobs; i++)
        if (!e->jobs[i]->executed && (st = queue_push(e, e->jobs[i])) != HQ_OK) return st;
    if (e->n_jobs || bad)
        HQ_LOGD("emulator: reloaded %lld jobs from %s (%lld unreadable files skipped)",
                (long long)e->n_jobs, dir, (long long)bad);
    return HQ_OK;
}

/* ==== execution ======================================================================= */

static hq_status exec_exact(const hq_circuit *c, emu_dist *d) {
    hq_sv *sv = NULL;
    hq_status st = hq_sv_simulate(c, NULL, &sv);
    if (st != HQ_OK) return st;
    int64_t dim = hq_sv_dim(sv);
    double *p = hq_malloc((size_t)dim * sizeof *p);
    if (!p) {
        hq_sv_free(sv);
        return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: probabilities: out of memory");
    }
    st = hq_sv_probabilities(sv, p);
    hq_sv_free(sv);
    int64_t n = 0;
    for (int64_t i = 0; st == HQ_OK && i < dim; i++) n += p[i] > 1e-12;
    d->exact = true;
    d->n_bits = hq_circuit_n_qubits(c);
    d->outcome = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *d->outcome);
    d->prob = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *d->prob);
    if (st == HQ_OK && (!d->outcome || !d->prob))
        st = hq_failf(NULL, HQ_ERR_NOMEM, "emulator: probabilities: out of memory");
    if (st == HQ_OK) {
        /* drop numerical dust, renormalise what is kept */
        double sum = 0;
        for (int64_t i = 0; i < dim; i++)
            if (p[i] > 1e-12) {
                d->outcome[d->n] = (uint64_t)i;
                d->prob[d->n++] = p[i];
                sum += p[i];
            }
        for (int64_t i = 0; i < d->n; i++) d->prob[i] /= sum;
    }
    hq_free(p);
    return st;
}

static hq_status exec_sampled(const emu_unit *u, const hq_circuit *bound, uint64_t emu_seed,
                              emu_dist *d) {
    int nq = hq_circuit_n_qubits(bound);
    hq_status st =
        emu_seed_for(emu_seed, u->tag, u->shots, u->layout, nq, bound, &d->seed, &d->stream);
    if (st != HQ_OK) return st;
    hq_counts c;
    st = hq_dm_run(bound, NULL, u->noise, u->layout, u->shots, d->seed, d->stream, &c);
    if (st != HQ_OK) return st;
    d->exact = false;
    d->shots = u->shots;
    d->n_bits = c.n_bits;
    d->n = c.n;
    d->outcome = hq_malloc((size_t)HQ_MAX(c.n, 1) * sizeof *d->outcome);
    d->count = hq_malloc((size_t)HQ_MAX(c.n, 1) * sizeof *d->count);
    if (!d->outcome || !d->count) {
        hq_counts_free(&c);
        return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: counts: out of memory");
    }
    memcpy(d->outcome, c.outcome, (size_t)c.n * sizeof *d->outcome);
    memcpy(d->count, c.count, (size_t)c.n * sizeof *d->count);
    hq_counts_free(&c);
    return HQ_OK;
}

static hq_status exec_row(const emu_unit *u, int64_t row, uint64_t emu_seed, emu_dist *d) {
    int ns = hq_circuit_n_symbols(u->circ);
    hq_circuit *bound = NULL;
    hq_status st = HQ_OK;
    const hq_circuit *c = u->circ;
    if (ns > 0) {
        st = hq_circuit_bind(u->circ, u->values + row * ns, &bound);
        c = bound;
    }
    if (st == HQ_OK) st = u->exact ? exec_exact(c, d) : exec_sampled(u, c, emu_seed, d);
    hq_circuit_free(bound);
    return st;
}

static bool stop_requested(hq_emulator *e) {
    pthread_mutex_lock(&e->lock);
    bool s = e->stopping;
    pthread_mutex_unlock(&e->lock);
    return s;
}

/* Run every unit of j. Returns HQ_OK with results in res (n_units arrays of rows),
 * HQ_ERR_INTERRUPTED at stop, or the execution error. */
static hq_status execute(hq_emulator *e, emu_job *j, emu_dist **res) {
    for (int u = 0; u < j->n_units; u++) {
        const emu_unit *un = &j->units[u];
        res[u] = hq_calloc((size_t)un->rows, sizeof **res);
        if (!res[u]) return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: results: out of memory");
        for (int64_t r = 0; r < un->rows; r++) {
            if (stop_requested(e)) return HQ_ERR_INTERRUPTED;
            hq_status st = exec_row(un, r, e->opt.seed, &res[u][r]);
            if (st != HQ_OK) {
                if (j->fam == EMU_IBM)
                    return hq_fail_prefix(NULL, st, "pub %d, binding %lld: ", u, (long long)r);
                return hq_fail_prefix(NULL, st, "circuit %d: ", u);
            }
        }
    }
    return HQ_OK;
}

static void *worker_main(void *arg) {
    hq_emulator *e = arg;
    pthread_mutex_lock(&e->lock);
    while (!e->stopping) {
        if (e->queue_head == e->queue_n) {
            pthread_cond_wait(&e->work_cond, &e->lock);
            continue;
        }
        emu_job *j = e->queue[e->queue_head++];
        pthread_mutex_unlock(&e->lock);
        double t0 = hq_time_now();
        emu_dist **res = hq_calloc((size_t)HQ_MAX(j->n_units, 1), sizeof *res);
        hq_status st = res ? execute(e, j, res)
                           : hq_failf(NULL, HQ_ERR_NOMEM, "emulator: results: out of memory");
        double busy = hq_time_now() - t0;
        char msg[HQ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", st != HQ_OK ? hq_last_error() : "");
        pthread_mutex_lock(&e->lock);
        e->st_exec_busy_s += busy;
        j->queued = false;
        if (st == HQ_ERR_INTERRUPTED) {
            /* not executed: the job runs again after the next start */
        } else {
            if (st == HQ_OK) {
                for (int u = 0; u < j->n_units; u++) {
                    j->units[u].res = res[u];
                    res[u] = NULL;
                }
            } else {
                snprintf(j->err_code, sizeof j->err_code, "%s",
                         j->fam == EMU_IONQ ? "SimulationError" : "1500");
                hq_free(j->err_msg);
                j->err_msg = hq_strdup(msg);
                HQ_LOGW("emulator: job %s failed: %s", j->id, msg);
            }
            j->executed = true;
            j->t_exec = hq_time_wall();
            j->version++;
            e->st_executed++;
        }
        pthread_mutex_unlock(&e->lock);
        if (res) {
            for (int u = 0; u < j->n_units; u++) {
                if (!res[u]) continue;
                for (int64_t r = 0; r < j->units[u].rows; r++) emu_dist_free(&res[u][r]);
                hq_free(res[u]);
            }
            hq_free(res);
        }
        if (st != HQ_ERR_INTERRUPTED) emu_jobs_save(e, j);
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

hq_status emu_worker_start(hq_emulator *e) {
    if (pthread_create(&e->worker, NULL, worker_main, e) != 0)
        return hq_failf(NULL, HQ_ERR_INTERNAL, "emulator: cannot start the worker thread");
    e->worker_running = true;
    return HQ_OK;
}

void emu_worker_stop(hq_emulator *e) {
    if (!e->worker_running) return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->work_cond);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->worker, NULL);
    e->worker_running = false;
}
