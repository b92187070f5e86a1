/*
 * orchestrator/qexec.c — the quantum executor (see qexec.h): hashing and deduplication
 * of bound circuits, the evaluation cache, packing into jobs, budgets, and the
 * record-then-submit / poll / fetch / store dispatcher with recovery of open jobs.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "orchestrator/bgstore.h"
#include "orchestrator/qexec.h"

#define HQ_MAGIC_QEXEC 0x51455843u /* "QEXC" */

static const char *const basis_names[HQ_BASIS_COUNT] = {"Z", "X", "Y"};
const char *hq_basis_str(hq_basis b) { return (unsigned)b < HQ_BASIS_COUNT ? basis_names[b] : "?"; }

/* A template with its basis change and measurements appended. */
typedef struct mtemplate {
    char tmpl_hex[65]; /* hash of the unmeasured template */
    hq_basis basis;    /* basis appended */
    hq_circuit *circ;  /* measured template (owned) */
    uint8_t hash[32];  /* its canonical hash */
    char hex[65];      /* same, hex */
    bool stored;       /* its canonical text is in the database */
} mtemplate;

struct hq_qexec {
    hq_handle h;
    hq_backend *b;          /* borrowed */
    hq_jobdb *db;           /* borrowed, may be NULL */
    int64_t run_id;         /* 0 without db */
    hq_qexec_options o;     /* options with defaults filled */
    hq_backend_caps caps;   /* the backend's limits */
    const char *backend_id; /* cache identity of the backend (borrowed from b) */
    mtemplate *mt;          /* measured templates seen so far */
    int n_mt, cap_mt;
    hq_sha256_ctx *sha; /* reused for the binding hashes (one per circuit) */
    int64_t run_shots;  /* shots the run has (maybe) been charged for, all processes */
    double run_cost;    /* estimated cost of those, USD */
    hq_qexec_stats st;
    hq_bgstore *bg; /* the storing worker of in-process backends, opened on first use */
    bool bg_off;    /* none: options, an in-memory database, or it could not start */
};

/* One distinct circuit of a batch. */
typedef struct uniq {
    uint8_t hash[32]; /* binding hash (handed to the database as bytes, never as hex) */
    int64_t row;      /* first row that asked for it */
    int mt;           /* measured template index */
    bool have;        /* result filled */
    hq_counts counts; /* result */
} uniq;

/* One job being dispatched. */
typedef struct jplan {
    int64_t first, count; /* slice of the miss list */
    int64_t db_job;       /* job row (0 without db) */
    char token[HQ_JOBDB_TOKEN_LEN + 1];
    char remote[HQ_REMOTE_ID_MAX];
    bool open, done;
    double next_poll, started; /* next poll and submission (hq_time_now) */
} jplan;

void hq_qexec_options_init(hq_qexec_options *o) {
    memset(o, 0, sizeof *o);
    o->shots = 1000;
    o->poll_initial_s = 0.5;
    o->poll_max_s = 30.0;
    o->submit_retries = 3;
    o->retry_base_s = 1.0;
}

double hq_qexec_poll_interval(double age_s, double initial_s, double max_s) {
    double dt = HQ_QEXEC_POLL_AGE_FRACTION * (age_s > 0 ? age_s : 0);
    if (dt < initial_s) dt = initial_s;
    return dt < max_s ? dt : max_s;
}

static double job_cost(const hq_backend_caps *c, int64_t circuits, int64_t shots) {
    return c->price_per_job + (double)circuits * c->price_per_circuit +
           (double)circuits * (double)shots * c->price_per_shot;
}

/* Circuits per job for n circuits: the backend's limit, the caller's cap, and for an
 * in-process backend HQ_QEXEC_LOCAL_JOB_CIRCUITS. */
static int64_t circuits_per_job(const hq_backend_caps *caps, int max_per_job, int64_t n) {
    int64_t per = caps->max_circuits_per_job > 0 ? caps->max_circuits_per_job : n;
    if (max_per_job > 0 && max_per_job < per) per = max_per_job;
    if (caps->local && per > HQ_QEXEC_LOCAL_JOB_CIRCUITS) per = HQ_QEXEC_LOCAL_JOB_CIRCUITS;
    return per < 1 ? 1 : per;
}

void hq_qexec_estimate_jobs(const hq_backend_caps *caps, int max_per_job, int64_t circuits,
                            int64_t shots, hq_qexec_estimate *out) {
    memset(out, 0, sizeof *out);
    int64_t per = circuits_per_job(caps, max_per_job, circuits);
    out->circuits = circuits;
    out->jobs = circuits > 0 ? (circuits + per - 1) / per : 0;
    out->shots = circuits * shots;
    out->cost_usd = (double)out->jobs * caps->price_per_job +
                    (double)circuits * caps->price_per_circuit +
                    (double)out->shots * caps->price_per_shot;
    out->seconds =
        (double)out->jobs * caps->seconds_per_job + (double)out->shots * caps->seconds_per_shot;
}

/* ==== create / free ==================================================================== */

static hq_status load_run_totals(hq_qexec *q) {
    if (!q->db) return HQ_OK;
    hq_jobdb_job *jobs = NULL;
    int64_t n = 0;
    hq_status st = hq_jobdb_job_list(q->db, q->run_id, HQ_JOB_MASK_ALL, &jobs, &n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        const hq_jobdb_job *j = &jobs[i];
        /* what may have been charged: accepted jobs, and jobs that may have been */
        bool charged = j->remote_id != NULL || (j->state == HQ_JOB_PENDING && j->attempts > 0);
        if (!charged) continue;
        q->run_shots += j->shots * j->n_circuits;
        q->run_cost += job_cost(&q->caps, j->n_circuits, j->shots);
    }
    hq_jobdb_jobs_free(jobs, n);
    return HQ_OK;
}

hq_status hq_qexec_create(hq_backend *b, hq_jobdb *db, int64_t run_id, const hq_qexec_options *o,
                          hq_qexec **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qexec_create: out is NULL");
    *out = NULL;
    if (!b) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qexec_create: no backend");
    if (db && run_id <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qexec_create: a database needs a run id");
    hq_qexec_options def;
    hq_qexec_options_init(&def);
    if (!o) o = &def;
    if (o->shots < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qexec_create: shots %" PRId64 " must be >= 1",
                        o->shots);
    hq_qexec *q = hq_calloc(1, sizeof *q);
    if (!q) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_qexec_create: out of memory");
    q->h.magic = HQ_MAGIC_QEXEC;
    q->b = b;
    q->db = db;
    q->run_id = db ? run_id : 0;
    q->o = *o;
    if (q->o.poll_initial_s <= 0) q->o.poll_initial_s = def.poll_initial_s;
    if (q->o.poll_max_s < q->o.poll_initial_s)
        q->o.poll_max_s = HQ_MAX(def.poll_max_s, q->o.poll_initial_s);
    if (q->o.submit_retries < 0) q->o.submit_retries = 0;
    if (q->o.retry_base_s < 0) q->o.retry_base_s = 0;
    hq_status st = hq_backend_get_caps(b, &q->caps);
    if (st == HQ_OK && q->caps.max_shots > 0 && o->shots > q->caps.max_shots)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%" PRId64 " shots per circuit is more than %s allows (%" PRId64 ")",
                      o->shots, q->caps.name, q->caps.max_shots);
    q->backend_id = hq_backend_id(b);
    if (o->price_job > 0) q->caps.price_per_job = o->price_job;
    if (o->price_circuit > 0) q->caps.price_per_circuit = o->price_circuit;
    if (o->price_shot > 0) q->caps.price_per_shot = o->price_shot;
    if (st == HQ_OK) st = load_run_totals(q);
    if (st == HQ_OK) st = hq_sha256_begin(&q->sha);
    if (st) {
        hq_qexec_free(q);
        return st;
    }
    *out = q;
    return HQ_OK;
}

void hq_qexec_free(hq_qexec *q) {
    if (!q || q->h.magic != HQ_MAGIC_QEXEC) return;
    hq_bgstore_free(q->bg);
    for (int i = 0; i < q->n_mt; i++) hq_circuit_free(q->mt[i].circ);
    hq_free(q->mt);
    hq_sha256_abort(q->sha);
    q->h.magic = HQ_MAGIC_DEAD;
    hq_free(q);
}

void hq_qexec_get_stats(const hq_qexec *q, hq_qexec_stats *out) {
    if (hq_handle_ok(q, HQ_MAGIC_QEXEC))
        *out = q->st;
    else
        memset(out, 0, sizeof *out);
}

/* ==== measured templates ============================================================== */

static hq_status make_measured(const hq_circuit *t, hq_basis basis, hq_circuit **out) {
    *out = NULL;
    hq_circuit *c;
    hq_status st = hq_circuit_copy(t, &c);
    if (st) return st;
    int n = hq_circuit_n_qubits(c);
    st = hq_circuit_add_creg(c, "meas", n, NULL);
    for (int i = 0; st == HQ_OK && i < n; i++) {
        if (basis == HQ_BASIS_Y) st = hq_circuit_add_gate(c, HQ_GATE_SDG, &i, NULL);
        if (st == HQ_OK && basis != HQ_BASIS_Z) st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
    }
    for (int i = 0; st == HQ_OK && i < n; i++) st = hq_circuit_add_measure(c, i, i);
    if (st) {
        hq_circuit_free(c);
        return st;
    }
    *out = c;
    return HQ_OK;
}

/* Index of the measured template for (template hash, basis), creating it if new. */
static hq_status get_mtemplate(hq_qexec *q, const hq_circuit *t, const char *tmpl_hex,
                               hq_basis basis, int *idx) {
    for (int i = 0; i < q->n_mt; i++)
        if (q->mt[i].basis == basis && !strcmp(q->mt[i].tmpl_hex, tmpl_hex)) {
            *idx = i;
            return HQ_OK;
        }
    if (q->n_mt == q->cap_mt) {
        int cap = q->cap_mt ? 2 * q->cap_mt : 8;
        mtemplate *m = hq_realloc(q->mt, (size_t)cap * sizeof *m);
        if (!m) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        q->mt = m;
        q->cap_mt = cap;
    }
    mtemplate *m = &q->mt[q->n_mt];
    memset(m, 0, sizeof *m);
    snprintf(m->tmpl_hex, sizeof m->tmpl_hex, "%s", tmpl_hex);
    m->basis = basis;
    hq_status st = make_measured(t, basis, &m->circ);
    hq_sbuf text = HQ_SBUF_INIT;
    if (st == HQ_OK) st = hq_circuit_canonical(m->circ, &text);
    if (st == HQ_OK) st = hq_sha256(text.p, text.len, m->hash);
    if (st == HQ_OK) hq_hex_encode(m->hash, 32, m->hex);
    if (st == HQ_OK && q->db) { /* the template's text, so every bound circuit can be rebuilt */
        const char *texts[1] = {text.p};
        st = hq_jobdb_circuit_put(q->db, 1, texts, NULL);
        m->stored = st == HQ_OK;
    }
    hq_sbuf_free(&text);
    if (st) {
        hq_circuit_free(m->circ);
        return st;
    }
    *idx = q->n_mt++;
    return HQ_OK;
}

/* sha256("hqcnn-bound 1\0" | template hash | n | n little-endian IEEE doubles, -0 as 0). */
static hq_status binding_hash(hq_sha256_ctx *sha, const uint8_t tmpl_hash[32], const double *v,
                              int n, uint8_t out[32]) {
    uint8_t buf[14 + 32 + 4 + 8 * 64];
    uint8_t *heap = NULL, *p = buf;
    size_t need = 14 + 32 + 4 + 8 * (size_t)n;
    if (need > sizeof buf) {
        heap = hq_malloc(need);
        if (!heap) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        p = heap;
    }
    memcpy(p, "hqcnn-bound 1", 14); /* includes the NUL */
    memcpy(p + 14, tmpl_hash, 32);
    uint32_t nn = (uint32_t)n;
    for (int k = 0; k < 4; k++) p[46 + k] = (uint8_t)(nn >> (8 * k));
    for (int i = 0; i < n; i++) {
        double d = v[i] == 0 ? 0.0 : v[i];
        uint64_t bits;
        memcpy(&bits, &d, 8);
        for (int k = 0; k < 8; k++) p[50 + 8 * i + k] = (uint8_t)(bits >> (8 * k));
    }
    hq_status st = hq_sha256_again(sha, p, need, out);
    hq_free(heap);
    return st;
}

/* ==== hash set for deduplication ====================================================== */

typedef struct hset {
    int64_t *slot; /* unique index + 1, 0 = empty */
    int64_t mask;
} hset;

static hq_status hset_init(hset *s, int64_t n) {
    int64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    s->slot = hq_calloc((size_t)cap, sizeof *s->slot);
    s->mask = cap - 1;
    return s->slot ? HQ_OK : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
}

/* Find hash among u[]; insert `candidate` if absent. Returns the unique index. */
static int64_t hset_get(hset *s, const uniq *u, const uint8_t hash[32], int64_t candidate) {
    uint64_t h;
    memcpy(&h, hash, 8);
    for (int64_t i = (int64_t)(h & (uint64_t)s->mask);; i = (i + 1) & s->mask) {
        if (!s->slot[i]) {
            s->slot[i] = candidate + 1;
            return candidate;
        }
        if (!memcmp(u[s->slot[i] - 1].hash, hash, 32)) return s->slot[i] - 1;
    }
}

/* ==== dispatch ========================================================================= */

typedef struct digest_key {
    uint64_t prefix; /* first 8 bytes of the hash, big-endian: orders like memcmp */
    int64_t i;
} digest_key;

static int digest_key_cmp(const void *a, const void *b) {
    const digest_key *x = a, *y = b;
    if (x->prefix != y->prefix) return x->prefix < y->prefix ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i); /* equal prefixes: the order of the batch */
}

/* Reorder miss (indices into u) by the circuits' digests. */
static hq_status sort_by_digest(const uniq *u, int64_t *miss, int64_t n) {
    digest_key *k = hq_malloc((size_t)n * sizeof *k);
    if (!k) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < n; j++) {
        uint64_t p = 0;
        for (int b = 0; b < 8; b++) p = p << 8 | u[miss[j]].hash[b];
        k[j] = (digest_key){p, miss[j]};
    }
    qsort(k, (size_t)n, sizeof *k, digest_key_cmp);
    for (int64_t j = 0; j < n; j++) miss[j] = k[j].i;
    hq_free(k);
    return HQ_OK;
}

static bool transient(hq_status st) { return st == HQ_ERR_NETWORK || st == HQ_ERR_TIMEOUT; }

static uint64_t stream_of(const uint8_t hash[32]) {
    uint64_t s = 0;
    for (int k = 0; k < 8; k++) s |= (uint64_t)hash[k] << (8 * k);
    return s;
}

/* A fetched job whose results are still to be stored. */
typedef struct unstored {
    int64_t job, n;
    hq_jobdb_result *res; /* (n) pointing into the batch's uniq; NULL = nothing held */
    char calib[HQ_CALIB_ID_MAX];
    bool handed; /* to the worker, not yet collected */
} unstored;

typedef struct dispatch {
    hq_qexec *q;
    const hq_qbatch *batch;
    uniq *u;
    int64_t *miss; /* (n_miss) unique indices in job order */
    int64_t n_miss;
    bool overlap;               /* store job k (worker) while job k + 1 is submitted (simulated) */
    unstored held;              /* overlap: the last fetched job, stored during the next submit */
    hq_status bg_st;            /* overlap: the first failure of the worker... */
    char bg_msg[HQ_ERRMSG_MAX]; /* ...and its message */
} dispatch;

/* overlap: hand the held job to the worker (right before a submit) */
static void held_hand_over(dispatch *d) {
    unstored *h = &d->held;
    if (!h->res || h->handed || d->bg_st) return;
    d->bg_st = hq_bgstore_start(d->q->bg, h->job, h->calib, h->n, h->res);
    if (d->bg_st) snprintf(d->bg_msg, sizeof d->bg_msg, "%s", hq_last_error());
    h->handed = d->bg_st == HQ_OK;
}

/* Store the held job: collect the worker's task, or store it here if it was not handed
 * over. A failure is kept in d->bg_st / bg_msg; the caller's own status and message stay
 * as they were. */
static void held_store(dispatch *d) {
    unstored *h = &d->held;
    if (!h->res) return;
    hq_status caller_st = hq_last_status();
    char caller_msg[HQ_ERRMSG_MAX];
    snprintf(caller_msg, sizeof caller_msg, "%s", hq_last_error());
    hq_status st = h->handed
                       ? hq_bgstore_wait(d->q->bg)
                       : hq_jobdb_job_complete(d->q->db, h->job, NULL, 0, h->calib, h->n, h->res);
    if (st == HQ_OK && h->handed) d->q->st.jobs_by_worker++;
    if (st) {
        if (!d->bg_st) {
            d->bg_st = st;
            snprintf(d->bg_msg, sizeof d->bg_msg, "%s", hq_last_error());
        }
        if (caller_st)
            hq_failf(NULL, caller_st, "%s", caller_msg);
        else
            hq_clear_error();
    }
    hq_free(h->res);
    memset(h, 0, sizeof *h);
}

static hq_status submit_job(dispatch *d, jplan *jp) {
    hq_qexec *q = d->q;
    int nsym = hq_circuit_n_symbols(d->batch->tmpl);
    int64_t n = jp->count;
    hq_status st = HQ_OK;
    /* entries: one per run of equal measured templates, rows bound by the backend when it
     * can, otherwise one concrete circuit per result */
    bool bind_remote = q->caps.max_rows_per_entry > 0;
    hq_job_entry *entries = hq_calloc((size_t)n, sizeof *entries);
    double *rows = nsym ? hq_malloc((size_t)n * (size_t)nsym * sizeof *rows) : NULL;
    uint64_t *streams = hq_malloc((size_t)n * sizeof *streams);
    hq_circuit **bound = bind_remote ? NULL : hq_calloc((size_t)n, sizeof *bound);
    uint8_t *digests = hq_malloc((size_t)n * 32);
    const char **bases = hq_malloc((size_t)n * sizeof *bases);
    if (!entries || (nsym && !rows) || !streams || (!bind_remote && !bound) || !digests || !bases)
        st =
            hq_failf(NULL, HQ_ERR_NOMEM, "out of memory building a job of %" PRId64 " circuits", n);
    int n_entries = 0;
    for (int64_t k = 0; st == HQ_OK && k < n; k++) {
        const uniq *u = &d->u[d->miss[jp->first + k]];
        const double *row = nsym ? d->batch->rows + u->row * nsym : NULL;
        if (nsym) memcpy(rows + k * nsym, row, (size_t)nsym * sizeof *rows);
        streams[k] = stream_of(u->hash);
        memcpy(digests + 32 * k, u->hash, 32);
        bases[k] = hq_basis_str(q->mt[u->mt].basis);
        const hq_circuit *mc = q->mt[u->mt].circ;
        if (!bind_remote) {
            st = hq_circuit_bind(mc, row, &bound[k]);
            entries[n_entries++] = (hq_job_entry){bound[k], 0, NULL};
        } else if (n_entries > 0 && entries[n_entries - 1].circuit == mc && nsym &&
                   entries[n_entries - 1].n_rows < q->caps.max_rows_per_entry) {
            entries[n_entries - 1].n_rows++;
        } else {
            entries[n_entries++] = (hq_job_entry){mc, nsym ? 1 : 0, nsym ? rows + k * nsym : NULL};
        }
    }
    char calib[HQ_CALIB_ID_MAX] = "";
    bool restore_durable = false, was_durable = true;
    if (st == HQ_OK) st = hq_backend_calibration(q->b, calib, NULL);
    if (st == HQ_OK && q->db) {
        hq_jobdb_job_spec js = {.run_id = q->run_id,
                                .backend = q->backend_id,
                                .shots = q->o.shots,
                                .n_circuits = n,
                                .digests = digests,
                                .bases = bases,
                                .calibration = calib};
        /* an in-process simulator needs no fsync before its "request": a crash of this
         * process keeps the commit, and what a power loss could lose is free to redo */
        if (q->caps.local) {
            was_durable = hq_jobdb_set_jobs_durable(q->db, false);
            restore_durable = true;
        }
        st = hq_jobdb_job_create(q->db, &js, &jp->db_job, jp->token);
    } else if (st == HQ_OK) {
        st = hq_jobdb_new_token(jp->token);
    }
    hq_job_spec spec = {.entries = entries,
                        .n_entries = n_entries,
                        .shots = q->o.shots,
                        .client_token = jp->token,
                        .seed = q->o.seed,
                        .streams = streams,
                        .tag = NULL};
    /* seconds_backend counts the provider's calls and the back-off waits only: the
     * database writes between them are the executor's own time */
    for (int attempt = 0; st == HQ_OK; attempt++) {
        if (q->db) st = hq_jobdb_job_begin_attempt(q->db, jp->db_job);
        if (st) break;
        if (d->overlap) held_hand_over(d); /* stored while the backend simulates */
        double t0 = hq_time_now();
        st = hq_backend_submit(q->b, &spec, jp->remote);
        q->st.seconds_backend += hq_time_now() - t0;
        if (d->overlap) held_store(d); /* collected before this thread writes again */
        if (st == HQ_OK || !transient(st)) break;
        /* maybe accepted: ask the provider before sending it again */
        char msg[HQ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", hq_last_error());
        if (q->db) hq_jobdb_job_note_error(q->db, jp->db_job, msg);
        bool found = false;
        t0 = hq_time_now();
        hq_status fs = hq_backend_find_by_token(q->b, jp->token, jp->remote, &found);
        q->st.seconds_backend += hq_time_now() - t0;
        if (fs == HQ_OK && found) {
            st = HQ_OK;
            break;
        }
        if (attempt >= q->o.submit_retries) {
            st = hq_failf(NULL, st, "submitting job %s to %s failed %d times; last error: %s",
                          jp->token, q->caps.name, attempt + 1, msg);
            break;
        }
        HQ_LOGW("submitting job %s failed (%s); retrying", jp->token, msg);
        t0 = hq_time_now();
        hq_sleep_ms((long)(1000.0 * q->o.retry_base_s * (double)(1L << HQ_MIN(attempt, 10))));
        q->st.seconds_backend += hq_time_now() - t0;
        st = HQ_OK;
    }
    if (restore_durable) hq_jobdb_set_jobs_durable(q->db, was_durable);
    if (st == HQ_OK) {
        if (q->db) st = hq_jobdb_job_submitted(q->db, jp->db_job, jp->remote, calib);
        q->st.jobs_submitted++;
        q->st.shots_submitted += n * q->o.shots;
        double cost = job_cost(&q->caps, n, q->o.shots);
        q->st.cost += cost;
        q->run_cost += cost;
        q->run_shots += n * q->o.shots;
        jp->open = true;
        jp->next_poll = hq_time_now(); /* local simulators are already done */
        jp->started = hq_time_now();
    } else if (q->db && jp->db_job) {
        char msg[HQ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", hq_last_error());
        /* a job that may have reached the provider stays PENDING for recovery; one that was
         * refused (4xx, validation) is marked failed */
        if (!transient(st)) hq_jobdb_job_set_state(q->db, jp->db_job, HQ_JOB_FAILED, msg);
        hq_failf(NULL, st, "%s", msg);
    }
    for (int64_t k = 0; bound && k < n; k++) hq_circuit_free(bound[k]);
    hq_free(bound);
    hq_free(entries);
    hq_free(rows);
    hq_free(streams);
    hq_free(digests);
    hq_free(bases);
    return st;
}

/* Fetch a completed job's n results into counts (timed as the backend's). */
static hq_status fetch_job(hq_qexec *q, const char *remote, int64_t n, hq_counts *counts) {
    double t0 = hq_time_now();
    hq_status st = hq_backend_fetch(q->b, remote, n, counts);
    q->st.seconds_backend += hq_time_now() - t0;
    if (st) return hq_fail_prefix(NULL, st, "fetching the results of job %s", remote);
    return HQ_OK;
}

/* Store job's n results as its evaluations (one transaction), under the backend's
 * calibration now. */
static hq_status complete_job(hq_qexec *q, int64_t job, int64_t n, const hq_jobdb_result *res) {
    char calib[HQ_CALIB_ID_MAX] = "";
    hq_backend_calibration(q->b, calib, NULL);
    return hq_jobdb_job_complete(q->db, job, NULL, 0, calib, n, res);
}

/* Store a fetched job's results (now in the batch's uniq) as evaluations, in one
 * transaction: here, or with overlap held until the next submit hands it to the worker. */
static hq_status store_job(dispatch *d, const jplan *jp) {
    hq_qexec *q = d->q;
    hq_jobdb_result *res = hq_malloc((size_t)jp->count * sizeof *res);
    if (!res) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < jp->count; k++)
        res[k] = (hq_jobdb_result){&d->u[d->miss[jp->first + k]].counts, NULL, 0};
    if (d->overlap) {
        held_store(d); /* not reached with one job in flight; keeps the order if it is */
        d->held = (unstored){.job = jp->db_job, .n = jp->count, .res = res};
        hq_backend_calibration(q->b, d->held.calib, NULL);
        return HQ_OK;
    }
    hq_status st = complete_job(q, jp->db_job, jp->count, res);
    hq_free(res);
    return st;
}

/* Poll one open job; on completion fetch and hand results to the batch. */
static hq_status poll_job(dispatch *d, jplan *jp) {
    hq_qexec *q = d->q;
    hq_job_state js;
    char reason[512];
    double t0 = hq_time_now();
    hq_status st = hq_backend_poll(q->b, jp->remote, &js, reason, sizeof reason);
    q->st.seconds_backend += hq_time_now() - t0;
    if (st) {
        if (!transient(st)) return hq_fail_prefix(NULL, st, "polling job %s", jp->remote);
        if (q->db) hq_jobdb_job_note_error(q->db, jp->db_job, hq_last_error());
        js = HQ_JOB_QUEUED; /* try again later */
    }
    if (js == HQ_JOB_RUNNING && q->db)
        hq_jobdb_job_set_state(q->db, jp->db_job, HQ_JOB_RUNNING, NULL);
    if (js == HQ_JOB_FAILED || js == HQ_JOB_CANCELLED) {
        if (q->db) hq_jobdb_job_set_state(q->db, jp->db_job, js, reason);
        return hq_failf(NULL, HQ_ERR_BACKEND,
                        "job %s on %s %s: %s — the run is saved; fix the cause and resume it",
                        jp->remote, q->caps.name, js == HQ_JOB_FAILED ? "failed" : "was cancelled",
                        reason[0] ? reason : "no reason given");
    }
    if (js != HQ_JOB_COMPLETED) {
        if (q->o.job_timeout_s > 0 && hq_time_now() - jp->started > q->o.job_timeout_s)
            return hq_failf(NULL, HQ_ERR_TIMEOUT,
                            "job %s on %s still %s after %.0f s — the run is saved; resume it "
                            "later to keep waiting",
                            jp->remote, q->caps.name, hq_job_state_str(js), q->o.job_timeout_s);
        double now = hq_time_now();
        jp->next_poll =
            now + hq_qexec_poll_interval(now - jp->started, q->o.poll_initial_s, q->o.poll_max_s);
        return HQ_OK;
    }
    hq_counts *counts = hq_calloc((size_t)jp->count, sizeof *counts);
    if (!counts) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    st = fetch_job(q, jp->remote, jp->count, counts);
    for (int64_t k = 0; k < jp->count; k++) {
        uniq *u = &d->u[d->miss[jp->first + k]];
        if (st == HQ_OK) {
            u->counts = counts[k]; /* move */
            u->have = true;
        } else {
            hq_counts_free(&counts[k]);
        }
    }
    hq_free(counts);
    if (st == HQ_OK && q->db) st = store_job(d, jp);
    if (st == HQ_OK) {
        jp->open = false;
        jp->done = true;
    }
    return st;
}

/* Whether this dispatch stores with overlap; starts the worker on first use. */
static bool overlap_ready(hq_qexec *q, int64_t n_jobs) {
    if (!q->db || !q->caps.local || n_jobs < 2 || q->o.store_inline || q->bg_off) return false;
    if (q->bg) return true;
    if (hq_bgstore_create(q->db, &q->bg) != HQ_OK) {
        q->bg_off = true; /* an in-memory database has no second connection */
        if (hq_last_status() != HQ_ERR_UNSUPPORTED)
            HQ_LOGW("storing results on the calling thread: %s", hq_last_error());
        return false;
    }
    return true;
}

static hq_status dispatch_all(dispatch *d) {
    hq_qexec *q = d->q;
    int64_t per = circuits_per_job(&q->caps, q->o.max_circuits_per_job, d->n_miss);
    int64_t n_jobs = (d->n_miss + per - 1) / per;
    jplan *jp = hq_calloc((size_t)(n_jobs ? n_jobs : 1), sizeof *jp);
    if (!jp) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < n_jobs; j++) {
        jp[j].first = j * per;
        jp[j].count = HQ_MIN(per, d->n_miss - j * per);
    }
    int limit = q->o.max_in_flight > 0 ? q->o.max_in_flight : q->caps.max_jobs_in_flight;
    d->overlap = overlap_ready(q, n_jobs);
    if (limit < 1 || d->overlap) limit = 1; /* in-process jobs finish at submit anyway */
    hq_status st = HQ_OK;
    int64_t next = 0, done = 0;
    int open = 0;
    while (st == HQ_OK && !d->bg_st && done < n_jobs) {
        while (st == HQ_OK && open < limit && next < n_jobs) {
            st = submit_job(d, &jp[next++]);
            if (st == HQ_OK) open++;
        }
        double now = hq_time_now(), wake = INFINITY;
        bool polled = false;
        for (int64_t j = 0; st == HQ_OK && j < next; j++) {
            if (!jp[j].open) continue;
            if (jp[j].next_poll <= now) {
                st = poll_job(d, &jp[j]);
                polled = true;
                if (jp[j].done) open--, done++;
            }
            if (st == HQ_OK && jp[j].open) wake = fmin(wake, jp[j].next_poll);
        }
        if (st == HQ_OK && !polled && isfinite(wake)) {
            double wait = wake - hq_time_now();
            if (wait > 0) {
                double t0 = hq_time_now();
                hq_sleep_ms((long)(wait * 1000.0) + 1);
                q->st.seconds_backend += hq_time_now() - t0;
            }
        }
    }
    held_store(d); /* the last fetched job, also after a failure: what was paid for is kept */
    if (st == HQ_OK && d->bg_st) st = hq_failf(NULL, d->bg_st, "%s", d->bg_msg);
    hq_free(jp);
    return st;
}

/* ==== run ============================================================================== */

hq_status hq_qexec_run(hq_qexec *q, const hq_qbatch *batch, hq_counts *out) {
    HQ_CHECK_HANDLE(q, HQ_MAGIC_QEXEC);
    if (!batch || !batch->tmpl || batch->n_rows < 0 || !out)
        return hq_failf(&q->h.err, HQ_ERR_INVALID_ARG, "hq_qexec_run: bad batch");
    int n_qubits = hq_circuit_n_qubits(batch->tmpl);
    int nsym = hq_circuit_n_symbols(batch->tmpl);
    for (int64_t r = 0; r < batch->n_rows; r++)
        hq_counts_init(&out[r], n_qubits > 0 ? n_qubits : 1);
    if (batch->n_rows == 0) return HQ_OK;
    if (hq_circuit_n_clbits(batch->tmpl) != 0 ||
        hq_circuit_count_gate(batch->tmpl, HQ_GATE_MEASURE) != 0)
        return hq_failf(
            &q->h.err, HQ_ERR_INVALID_ARG,
            "hq_qexec_run: the template must have no classical bits or measurements (the executor "
            "adds the basis change and measures every qubit)");
    if (nsym && !batch->rows)
        return hq_failf(&q->h.err, HQ_ERR_INVALID_ARG,
                        "hq_qexec_run: the template has %d symbols but no rows", nsym);
    double t_start = hq_time_now();
    hq_status st = HQ_OK;
    char tmpl_hex[65];
    st = hq_circuit_hash(batch->tmpl, tmpl_hex);
    uniq *u = st ? NULL : hq_calloc((size_t)batch->n_rows, sizeof *u);
    int64_t *row_u = st ? NULL : hq_malloc((size_t)batch->n_rows * sizeof *row_u);
    hset set = {0};
    if (st == HQ_OK && (!u || !row_u))
        st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory for %" PRId64 " rows", batch->n_rows);
    if (st == HQ_OK) st = hset_init(&set, batch->n_rows);
    int64_t n_u = 0;
    /* 1-2. bind, hash, deduplicate */
    for (int64_t r = 0; st == HQ_OK && r < batch->n_rows; r++) {
        hq_basis b = batch->basis ? (hq_basis)batch->basis[r] : HQ_BASIS_Z;
        if ((unsigned)b >= HQ_BASIS_COUNT) {
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qexec_run: row %" PRId64 " has basis %d", r,
                          (int)b);
            break;
        }
        const double *row = nsym ? batch->rows + r * nsym : NULL;
        for (int s = 0; s < nsym; s++)
            if (!isfinite(row[s]))
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                              "hq_qexec_run: row %" PRId64 " symbol %d is not finite", r, s);
        int mt = 0;
        if (st == HQ_OK) st = get_mtemplate(q, batch->tmpl, tmpl_hex, b, &mt);
        uint8_t h[32];
        if (st == HQ_OK) st = binding_hash(q->sha, q->mt[mt].hash, row, nsym, h);
        if (st) break;
        memcpy(u[n_u].hash, h, 32);
        int64_t k = hset_get(&set, u, h, n_u);
        if (k == n_u) {
            u[n_u].row = r;
            u[n_u].mt = mt;
            n_u++;
        }
        row_u[r] = k;
    }
    hq_free(set.slot);
    q->st.requested += batch->n_rows;
    q->st.unique += n_u;
    /* 3. the cache */
    int64_t *miss = st ? NULL : hq_malloc((size_t)(n_u ? n_u : 1) * sizeof *miss);
    int64_t n_miss = 0;
    if (st == HQ_OK && !miss) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    if (st == HQ_OK && q->db) {
        /* any calibration, newest first; a backend without calibrations stores every result
         * under HQ_CALIB_NONE, so its lookups are exact (a point probe, not a range scan
         * taking the newest row) */
        const char *calib = q->caps.calibrated ? NULL : HQ_CALIB_NONE;
        hq_jobdb_eval_key *keys = hq_malloc((size_t)n_u * sizeof *keys);
        hq_jobdb_eval *ev = hq_calloc((size_t)n_u, sizeof *ev);
        bool *found = hq_calloc((size_t)n_u, sizeof *found);
        if (!keys || !ev || !found) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; st == HQ_OK && i < n_u; i++)
            keys[i] = (hq_jobdb_eval_key){.digest = u[i].hash,
                                          .backend = q->backend_id,
                                          .shots = q->o.shots,
                                          .basis = hq_basis_str(q->mt[u[i].mt].basis),
                                          .mitigation = "",
                                          .calibration = calib};
        if (st == HQ_OK) st = hq_jobdb_eval_lookup(q->db, q->run_id, n_u, keys, ev, found, NULL);
        for (int64_t i = 0; st == HQ_OK && i < n_u; i++) {
            if (found[i] && ev[i].has_counts) {
                u[i].counts = ev[i].counts; /* move */
                memset(&ev[i].counts, 0, sizeof ev[i].counts);
                u[i].have = true;
                q->st.cache_hits++;
            }
        }
        for (int64_t i = 0; ev && i < n_u; i++) hq_jobdb_eval_clear(&ev[i]);
        hq_free(keys);
        hq_free(ev);
        hq_free(found);
    }
    /* misses grouped by measured template, so jobs carry long parameter-row entries; an
     * in-process backend takes them in digest order instead (it simulates row by row), so
     * each job's results fill one range of the evaluations table */
    for (int m = 0; st == HQ_OK && m < q->n_mt; m++)
        for (int64_t i = 0; i < n_u; i++)
            if (!u[i].have && u[i].mt == m) miss[n_miss++] = i;
    if (st == HQ_OK && q->caps.local && q->db && n_miss > 1) st = sort_by_digest(u, miss, n_miss);
    /* 4. budgets */
    if (st == HQ_OK && n_miss > 0) {
        int64_t add = n_miss * q->o.shots;
        hq_qexec_estimate est;
        hq_qexec_estimate_jobs(&q->caps, q->o.max_circuits_per_job, n_miss, q->o.shots, &est);
        if (q->o.budget_shots > 0 && q->run_shots + add > q->o.budget_shots)
            st = hq_failf(NULL, HQ_ERR_BUDGET,
                          "the next batch needs %" PRId64 " shots; with %" PRId64
                          " already used the run would exceed "
                          "its shot budget of %" PRId64
                          " — raise budget.max_shots in the config and resume the run",
                          add, q->run_shots, q->o.budget_shots);
        else if (q->o.budget_cost > 0 && q->run_cost + est.cost_usd > q->o.budget_cost)
            st =
                hq_failf(NULL, HQ_ERR_BUDGET,
                         "the next batch costs about $%.2f; with $%.2f already spent the run would "
                         "exceed its cost "
                         "budget of $%.2f — raise budget.max_cost in the config and resume the run",
                         est.cost_usd, q->run_cost, q->o.budget_cost);
    }
    /* 5. dispatch */
    if (st == HQ_OK && n_miss > 0) {
        dispatch d = {.q = q, .batch = batch, .u = u, .miss = miss, .n_miss = n_miss};
        st = dispatch_all(&d);
        q->st.circuits_run += n_miss;
    }
    /* results: each distinct histogram sorted once, then copied to the rows that asked */
    for (int64_t i = 0; st == HQ_OK && i < n_u; i++) {
        if (!u[i].have) {
            st = hq_failf(NULL, HQ_ERR_INTERNAL, "hq_qexec_run: no result for row %" PRId64,
                          u[i].row);
            break;
        }
        hq_counts_sort(&u[i].counts); /* a check only: backends and the cache sort already */
    }
    /* the first row that asked for a circuit takes its histogram, the others get copies */
    for (int64_t r = 0; st == HQ_OK && r < batch->n_rows; r++) {
        uniq *ur = &u[row_u[r]];
        if (ur->row != r) st = hq_counts_copy(&out[r], &ur->counts);
    }
    for (int64_t i = 0; st == HQ_OK && i < n_u; i++) {
        out[u[i].row] = u[i].counts; /* move */
        memset(&u[i].counts, 0, sizeof u[i].counts);
    }
    if (st)
        for (int64_t r = 0; r < batch->n_rows; r++) hq_counts_free(&out[r]);
    for (int64_t i = 0; u && i < n_u; i++) hq_counts_free(&u[i].counts);
    hq_free(u);
    hq_free(row_u);
    hq_free(miss);
    q->st.seconds_total += hq_time_now() - t_start;
    if (st) hq_failf(&q->h.err, st, "%s", hq_last_error());
    return st;
}

/* ==== recovery ========================================================================= */

static hq_status settle_job(hq_qexec *q, const hq_jobdb_job *j) {
    hq_status st = HQ_OK;
    char remote[HQ_REMOTE_ID_MAX] = "";
    if (j->state == HQ_JOB_PENDING) {
        if (j->attempts == 0)
            return hq_jobdb_job_set_state(q->db, j->id, HQ_JOB_CANCELLED,
                                          "never sent; superseded when the run resumed");
        bool found = false;
        st = hq_backend_find_by_token(q->b, j->token, remote, &found);
        if (st == HQ_ERR_UNSUPPORTED)
            return hq_failf(
                NULL, HQ_ERR_BACKEND,
                "job %" PRId64
                " (token %s) may have reached %s, which cannot look jobs up by token; check "
                "the provider's dashboard before resuming",
                j->id, j->token, q->caps.name);
        if (st) return st;
        if (!found)
            return hq_jobdb_job_set_state(
                q->db, j->id, HQ_JOB_CANCELLED,
                "not accepted by the provider; superseded when the run resumed");
        char calib[HQ_CALIB_ID_MAX] = "";
        hq_backend_calibration(q->b, calib, NULL);
        st = hq_jobdb_job_submitted(q->db, j->id, remote, calib);
        if (st) return st;
        HQ_LOGI("job %" PRId64
                " was accepted by %s before the crash (remote id %s); waiting for it",
                j->id, q->caps.name, remote);
    } else {
        snprintf(remote, sizeof remote, "%s", j->remote_id ? j->remote_id : "");
    }
    if (!remote[0])
        return hq_failf(NULL, HQ_ERR_INTERNAL, "job %" PRId64 " is %s without a remote id", j->id,
                        hq_job_state_str(j->state));
    double started = hq_time_now();
    for (;;) {
        hq_job_state js;
        char reason[512];
        st = hq_backend_poll(q->b, remote, &js, reason, sizeof reason);
        if (st && !transient(st)) return hq_fail_prefix(NULL, st, "polling job %s", remote);
        if (st == HQ_OK && (js == HQ_JOB_FAILED || js == HQ_JOB_CANCELLED))
            return hq_jobdb_job_set_state(q->db, j->id, js, reason);
        if (st == HQ_OK && js == HQ_JOB_COMPLETED) break;
        if (q->o.job_timeout_s > 0 && hq_time_now() - started > q->o.job_timeout_s)
            return hq_failf(NULL, HQ_ERR_TIMEOUT,
                            "job %s on %s is still not finished after %.0f s; resume later", remote,
                            q->caps.name, q->o.job_timeout_s);
        double interval =
            hq_qexec_poll_interval(hq_time_now() - started, q->o.poll_initial_s, q->o.poll_max_s);
        hq_sleep_ms((long)(interval * 1000));
    }
    hq_counts *counts = hq_calloc((size_t)j->n_circuits, sizeof *counts);
    if (!counts) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_jobdb_result *res = hq_malloc((size_t)j->n_circuits * sizeof *res);
    st = res ? fetch_job(q, remote, j->n_circuits, counts)
             : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; st == HQ_OK && k < j->n_circuits; k++)
        res[k] = (hq_jobdb_result){&counts[k], NULL, 0};
    if (st == HQ_OK) st = complete_job(q, j->id, j->n_circuits, res);
    for (int64_t k = 0; k < j->n_circuits; k++) hq_counts_free(&counts[k]);
    hq_free(counts);
    hq_free(res);
    return st;
}

hq_status hq_qexec_recover(hq_qexec *q) {
    HQ_CHECK_HANDLE(q, HQ_MAGIC_QEXEC);
    if (!q->db) return HQ_OK;
    hq_jobdb_job *jobs = NULL;
    int64_t n = 0;
    hq_status st = hq_jobdb_job_list(q->db, q->run_id, HQ_JOB_MASK_ACTIVE, &jobs, &n);
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        if (strcmp(jobs[i].backend, q->backend_id) != 0) continue; /* another backend's job */
        st = settle_job(q, &jobs[i]);
        if (st == HQ_OK) q->st.jobs_recovered++;
    }
    hq_jobdb_jobs_free(jobs, n);
    if (st) hq_failf(&q->h.err, st, "%s", hq_last_error());
    return st;
}
