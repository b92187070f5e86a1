/*
 * backends/backend_local.c — simulators behind the job protocol: "sv-shots" (exact
 * statevector, sampled) and "dm-shots" (noisy density matrix, sampled) share this code.
 *
 * A local backend behaves like a small cloud provider: submit() runs every circuit at
 * once (jobs complete at submit), keeps the results under a job id, and answers poll /
 * fetch / find_by_token. With the "store" option the provider persists every accepted
 * job as a file (DIR/<job id>.job, written atomically), so — exactly like a remote
 * provider — it remembers jobs across a crash of the client: resume finds a job
 * submitted just before a kill by its client token instead of running it again, and
 * submitted_count() counts accepted jobs over the store's lifetime.
 *
 * Memory: a job's results stay in memory until it has been fetched; fetched jobs are then
 * kept up to "keep_results" results in all (the oldest dropped first, never the job just
 * fetched), so a long shot-based training run holds a bounded window instead of every
 * result it ever produced (~0.3 KB per 4-qubit histogram: ~25 MB per BreastMNIST epoch at
 * 1000 shots). A dropped job is gone for poll / fetch unless the store has it.
 *
 * Options (JSON): {"store": "DIR" (optional), "max_circuits": 1000000,
 *                  "max_qubits": 24 (sv-shots) / 12 (dm-shots), "keep_results": 262144}
 * dm-shots also takes the noise: {"noise": FILE.json or a model object (docs/noise.md),
 *   "device": "CONF.json,PROPS.json" (an IBM calibration → noise model), "scale": X,
 *   "layout": [physical qubit of circuit qubit 0, 1, ...]}; no noise = ideal. The model's
 * content is part of the backend's identity, so the cache never mixes noise models.
 * Sampling is reproducible: result i of a job uses (job seed, stream i) — or the spec's
 * per-result stream — so results do not depend on how circuits were packed.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend_impl.h"
#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/noise.h"
#include "backends/statevector.h"
#include "core/sha256.h"

typedef hq_status (*sim_fn)(void *sim_ctx, const hq_circuit *c, const double *sym, int64_t shots,
                            uint64_t seed, uint64_t stream, hq_counts *out);

typedef struct local_job {
    char id[HQ_REMOTE_ID_MAX];
    char token[HQ_REMOTE_ID_MAX];
    int64_t n;         /* results */
    hq_counts *counts; /* (n) */
    bool fetched;      /* delivered at least once: may be dropped (keep_results) */
} local_job;

typedef struct dm_sim {
    hq_noise_model *noise; /* NULL = ideal */
    int layout[64];        /* circuit qubit -> physical qubit */
    int n_layout;          /* 0 = identity */
} dm_sim;

typedef struct local_ctx {
    sim_fn sim;
    void *sim_ctx;
    dm_sim dm;        /* dm-shots only */
    char store[1024]; /* "" = in memory only */
    int max_qubits;
    int max_circuits;
    int64_t keep_results; /* results of fetched jobs kept in memory */
    local_job *jobs;      /* in-memory jobs of this process, oldest first */
    int64_t n_jobs, cap_jobs;
    int64_t accepted; /* in-memory count when there is no store */
} local_ctx;

/* ==== job files ======================================================================= */

static hq_status write_job_file(const local_ctx *lc, const local_job *j) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b, "hqcnn-simjob 1\n%s\n%s\n%" PRId64 "\n", j->id, j->token, j->n);
    for (int64_t i = 0; i < j->n; i++) {
        hq_sbuf_printf(&b, "%d %" PRId64 "\n", j->counts[i].n_bits, j->counts[i].n);
        for (int64_t k = 0; k < j->counts[i].n; k++)
            hq_sbuf_printf(&b, "%" PRIu64 " %" PRId64 "\n", j->counts[i].outcome[k],
                           j->counts[i].count[k]);
    }
    hq_status st = hq_sbuf_status(&b);
    if (st == HQ_OK) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.job", lc->store, j->id);
        st = hq_file_write_atomic(path, b.p, b.len);
    }
    hq_sbuf_free(&b);
    return st;
}

static void job_free(local_job *j) {
    for (int64_t i = 0; j->counts && i < j->n; i++) hq_counts_free(&j->counts[i]);
    HQ_FREE(j->counts);
}

/* Read a job file; token_only skips the results. */
static hq_status read_job_file(const char *path, local_job *j, bool token_only) {
    memset(j, 0, sizeof *j);
    char *data;
    size_t len;
    hq_status st = hq_file_read(path, 0, &data, &len);
    if (st) return st;
    char *p = data, *save = NULL;
    char *magic = strtok_r(p, "\n", &save); /* lint: allow-strtok (reentrant) */
    char *id = strtok_r(NULL, "\n", &save);
    char *tok = strtok_r(NULL, "\n", &save);
    char *nstr = strtok_r(NULL, "\n", &save);
    if (!magic || strcmp(magic, "hqcnn-simjob 1") || !id || !tok || !nstr) {
        hq_free(data);
        return hq_failf(NULL, HQ_ERR_CORRUPT, "simulator job file '%s' is damaged", path);
    }
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->token, sizeof j->token, "%s", tok);
    j->n = strtoll(nstr, NULL, 10);
    if (!token_only && j->n > 0 && j->n < (1 << 26)) {
        j->counts = hq_calloc((size_t)j->n, sizeof *j->counts);
        if (!j->counts) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory reading '%s'", path);
        for (int64_t i = 0; st == HQ_OK && i < j->n; i++) {
            char *line = strtok_r(NULL, "\n", &save);
            int nb = 0;
            int64_t no = 0;
            if (!line || sscanf(line, "%d %" SCNd64, &nb, &no) != 2 || nb < 1 || nb > 64 ||
                no < 0) {
                st = hq_failf(NULL, HQ_ERR_CORRUPT, "simulator job file '%s' is damaged", path);
                break;
            }
            hq_counts_init(&j->counts[i], nb);
            for (int64_t k = 0; st == HQ_OK && k < no; k++) {
                line = strtok_r(NULL, "\n", &save);
                uint64_t o;
                int64_t c;
                if (!line || sscanf(line, "%" SCNu64 " %" SCNd64, &o, &c) != 2)
                    st = hq_failf(NULL, HQ_ERR_CORRUPT, "simulator job file '%s' is damaged", path);
                else
                    st = hq_counts_add(&j->counts[i], o, c);
            }
        }
    }
    hq_free(data);
    if (st) job_free(j);
    return st;
}

/* Scan the store for a job with this token (or id when by_id). */
static hq_status store_find(const local_ctx *lc, const char *key, bool by_id, local_job *out,
                            bool *found, bool token_only) {
    *found = false;
    if (by_id) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.job", lc->store, key);
        if (!hq_file_exists(path)) return HQ_OK;
        hq_status st = read_job_file(path, out, token_only);
        if (st == HQ_OK) *found = true;
        return st;
    }
    DIR *d = opendir(lc->store);
    if (!d)
        return hq_failf(NULL, HQ_ERR_IO, "cannot open simulator store '%s': %s", lc->store,
                        strerror(errno));
    struct dirent *e;
    hq_status st = HQ_OK;
    while (!*found && st == HQ_OK && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".job")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", lc->store, e->d_name);
        local_job j;
        st = read_job_file(path, &j, true);
        if (st == HQ_OK && !strcmp(j.token, key)) {
            job_free(&j);
            st = read_job_file(path, out, token_only);
            if (st == HQ_OK) *found = true;
        } else if (st == HQ_OK) {
            job_free(&j);
        }
    }
    closedir(d);
    return st;
}

static int64_t store_count(const local_ctx *lc) {
    DIR *d = opendir(lc->store);
    if (!d) return 0;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        n += l > 4 && !strcmp(e->d_name + l - 4, ".job");
    }
    closedir(d);
    return n;
}

/* ==== vtable ========================================================================== */

static hq_status parse_options(const char *json, local_ctx *lc, hq_sbuf *id_extra) {
    lc->max_qubits = lc->sim_ctx ? 12 : 24;
    lc->max_circuits = 1000000;
    lc->keep_results = (int64_t)1 << 18;
    if (!json) return HQ_OK;
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return hq_failf(NULL, HQ_ERR_PARSE, "options are not a JSON object: %.80s", json);
    }
    hq_status st = HQ_OK;
    for (cJSON *it = o->child; it && st == HQ_OK; it = it->next) {
        if (!strcmp(it->string, "store")) {
            if (!cJSON_IsString(it) || !*it->valuestring)
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "option 'store' must be a directory path");
            else
                snprintf(lc->store, sizeof lc->store, "%s", it->valuestring);
        } else if (!strcmp(it->string, "max_qubits") || !strcmp(it->string, "max_circuits")) {
            if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e9)
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "option '%s' must be a positive integer",
                              it->string);
            else if (it->string[4] == 'q')
                lc->max_qubits = (int)it->valuedouble;
            else
                lc->max_circuits = (int)it->valuedouble;
        } else if (!strcmp(it->string, "keep_results")) {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1e12 ||
                it->valuedouble != (double)(int64_t)it->valuedouble)
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                              "option 'keep_results' must be an integer >= 0 (results of fetched "
                              "jobs kept in memory)");
            else
                lc->keep_results = (int64_t)it->valuedouble;
        } else if (lc->sim_ctx && (!strcmp(it->string, "noise") || !strcmp(it->string, "device") ||
                                   !strcmp(it->string, "scale") || !strcmp(it->string, "layout"))) {
            /* the density-matrix noise options, read by dm_options */
        } else {
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "unknown option '%s' (known: store, max_qubits, max_circuits, "
                          "keep_results%s)",
                          it->string, lc->sim_ctx ? ", noise, device, scale, layout" : "");
        }
    }
    cJSON_Delete(o);
    (void)id_extra; /* the store does not change results */
    if (st == HQ_OK && lc->store[0]) st = hq_mkdir_p(lc->store, 0755);
    return st;
}

static hq_status sv_sim(void *sim_ctx, const hq_circuit *c, const double *sym, int64_t shots,
                        uint64_t seed, uint64_t stream, hq_counts *out) {
    (void)sim_ctx;
    return hq_sv_run(c, sym, shots, seed, stream, out);
}

static hq_status sv_shots_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    local_ctx *lc = hq_calloc(1, sizeof *lc);
    if (!lc) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    lc->sim = sv_sim;
    hq_status st = parse_options(json, lc, id_extra);
    if (st) {
        hq_free(lc);
        return st;
    }
    *ctx = lc;
    return HQ_OK;
}

static hq_status dm_run_sim(void *sim_ctx, const hq_circuit *c, const double *sym, int64_t shots,
                            uint64_t seed, uint64_t stream, hq_counts *out) {
    dm_sim *d = sim_ctx;
    int n = hq_circuit_n_qubits(c);
    if (d->n_layout && n > d->n_layout)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "the circuit has %d qubits but the layout names %d", n, d->n_layout);
    return hq_dm_run(c, sym, d->noise, d->n_layout ? d->layout : NULL, shots, seed, stream, out);
}

/* The noise options of dm-shots; the model's JSON goes into the backend identity. */
static hq_status dm_options(const char *json, dm_sim *d, hq_sbuf *id_extra) {
    if (!json) {
        hq_sbuf_puts(id_extra, "ideal");
        return HQ_OK;
    }
    cJSON *o = cJSON_Parse(json);
    if (!o) return hq_failf(NULL, HQ_ERR_PARSE, "options are not JSON");
    hq_status st = HQ_OK;
    const cJSON *nz = cJSON_GetObjectItemCaseSensitive(o, "noise");
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(o, "device");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scale");
    const cJSON *ly = cJSON_GetObjectItemCaseSensitive(o, "layout");
    if (nz && dv) st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "give 'noise' or 'device', not both");
    if (st == HQ_OK && nz && cJSON_IsString(nz)) {
        st = hq_noise_load_json(nz->valuestring, &d->noise);
    } else if (st == HQ_OK && nz && cJSON_IsObject(nz)) {
        char *text = cJSON_PrintUnformatted(nz);
        st = text ? hq_noise_from_json(text, &d->noise)
                  : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        cJSON_free(text);
    } else if (st == HQ_OK && nz && !cJSON_IsNull(nz)) {
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "option 'noise' must be a file name or a noise-model object");
    }
    if (st == HQ_OK && dv) {
        if (!cJSON_IsString(dv))
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "option 'device' must be \"CONF.json,PROPS.json\"");
        else {
            char conf[2048] = "", props[2048] = "";
            const char *comma = strchr(dv->valuestring, ',');
            if (!comma)
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                              "option 'device' must be \"CONF.json,PROPS.json\"");
            else {
                snprintf(conf, sizeof conf, "%.*s", (int)(comma - dv->valuestring),
                         dv->valuestring);
                snprintf(props, sizeof props, "%s", comma + 1);
                hq_device *dev = NULL;
                st = hq_device_load_ibm(conf, props, &dev);
                if (st == HQ_OK) st = hq_noise_from_device(dev, &d->noise);
                hq_device_free(dev);
            }
        }
    }
    if (st == HQ_OK && sc && !cJSON_IsNull(sc)) {
        if (!cJSON_IsNumber(sc) || sc->valuedouble < 0)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "option 'scale' must be >= 0");
        else if (!d->noise)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "option 'scale' needs a noise model");
        else
            st = hq_noise_set_scale(d->noise, sc->valuedouble);
    }
    if (st == HQ_OK && ly && !cJSON_IsNull(ly)) {
        if (!cJSON_IsArray(ly) || cJSON_GetArraySize(ly) < 1 || cJSON_GetArraySize(ly) > 64)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "option 'layout' must be a list of physical qubits");
        for (const cJSON *e = ly ? ly->child : NULL; st == HQ_OK && e; e = e->next) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 100000)
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "option 'layout' must hold qubit numbers");
            else
                d->layout[d->n_layout++] = (int)e->valuedouble;
        }
    }
    cJSON_Delete(o);
    if (st == HQ_OK) {
        if (d->noise)
            st = hq_noise_to_json(d->noise, id_extra);
        else
            hq_sbuf_puts(id_extra, "ideal");
        for (int i = 0; i < d->n_layout; i++) hq_sbuf_printf(id_extra, ",%d", d->layout[i]);
    }
    return st;
}

static hq_status dm_shots_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    local_ctx *lc = hq_calloc(1, sizeof *lc);
    if (!lc) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    lc->sim = dm_run_sim;
    lc->sim_ctx = &lc->dm;
    hq_status st = parse_options(json, lc, id_extra);
    if (st == HQ_OK) st = dm_options(json, &lc->dm, id_extra);
    if (st) {
        hq_noise_free(lc->dm.noise);
        hq_free(lc);
        return st;
    }
    *ctx = lc;
    return HQ_OK;
}

static void local_destroy(void *ctx) {
    local_ctx *lc = ctx;
    for (int64_t i = 0; i < lc->n_jobs; i++) job_free(&lc->jobs[i]);
    hq_free(lc->jobs);
    hq_noise_free(lc->dm.noise);
    hq_free(lc);
}

static void local_caps(void *ctx, hq_backend_caps *out) {
    local_ctx *lc = ctx;
    out->max_qubits = lc->max_qubits;
    out->sampled = true;
    out->max_circuits_per_job = lc->max_circuits;
    out->max_shots = (int64_t)1 << 30;
    out->max_rows_per_entry = 1 << 20;
    out->find_by_token = true;
    out->local = true;
    out->max_jobs_in_flight = 4;
    out->seconds_per_job = 0.0;
    out->seconds_per_shot = 2e-8;
}

static hq_status local_submit(void *ctx, const hq_job_spec *job, char remote_id[HQ_REMOTE_ID_MAX]) {
    local_ctx *lc = ctx;
    local_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.token, sizeof j.token, "%s", job->client_token);
    int64_t seq = lc->store[0] ? store_count(lc) : lc->accepted;
    char buf[256], hex[HQ_SHA256_HEX_LEN];
    snprintf(buf, sizeof buf, "%s:%" PRId64, job->client_token, seq);
    hq_status st = hq_sha256_hex(buf, strlen(buf), hex);
    if (st) return st;
    hex[20] = '\0';
    snprintf(j.id, sizeof j.id, "sim-%s", hex);
    j.n = hq_job_spec_results(job);
    j.counts = hq_calloc((size_t)j.n, sizeof *j.counts);
    if (!j.counts)
        return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory for %" PRId64 " results", j.n);
    int64_t r = 0;
    for (int e = 0; e < job->n_entries && st == HQ_OK; e++) {
        const hq_job_entry *en = &job->entries[e];
        int nsym = hq_circuit_n_symbols(en->circuit);
        int64_t rows = en->n_rows > 0 ? en->n_rows : 1;
        for (int64_t k = 0; k < rows && st == HQ_OK; k++, r++) {
            uint64_t stream = job->streams ? job->streams[r] : (uint64_t)r;
            const double *sym = en->n_rows > 0 ? en->rows + k * nsym : NULL;
            st =
                lc->sim(lc->sim_ctx, en->circuit, sym, job->shots, job->seed, stream, &j.counts[r]);
            if (st) hq_fail_prefix(NULL, st, "circuit %" PRId64 " of the job", r);
        }
    }
    if (st == HQ_OK && lc->store[0]) st = write_job_file(lc, &j);
    if (st == HQ_OK && lc->n_jobs == lc->cap_jobs) {
        int64_t cap = lc->cap_jobs ? 2 * lc->cap_jobs : 16;
        local_job *nj = hq_realloc(lc->jobs, (size_t)cap * sizeof *nj);
        if (!nj)
            st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        else
            lc->jobs = nj, lc->cap_jobs = cap;
    }
    if (st) {
        job_free(&j);
        return st;
    }
    lc->jobs[lc->n_jobs++] = j;
    lc->accepted++;
    snprintf(remote_id, HQ_REMOTE_ID_MAX, "%s", j.id);
    return HQ_OK;
}

/* Drop the oldest fetched jobs while the fetched ones hold more than keep_results results;
 * `keep` (the job just fetched) stays. */
static void drop_fetched(local_ctx *lc, const local_job *keep) {
    int64_t held = 0;
    for (int64_t i = 0; i < lc->n_jobs; i++)
        if (lc->jobs[i].fetched) held += lc->jobs[i].n;
    int64_t w = 0;
    for (int64_t i = 0; i < lc->n_jobs; i++) {
        local_job *j = &lc->jobs[i];
        if (held > lc->keep_results && j->fetched && j != keep) {
            held -= j->n;
            job_free(j);
            continue;
        }
        lc->jobs[w++] = *j;
    }
    lc->n_jobs = w;
}

static hq_status no_job(const local_ctx *lc, const char *remote_id) {
    if (lc->store[0])
        return hq_failf(NULL, HQ_ERR_NOT_FOUND, "the simulator has no job '%s' (store %s)",
                        remote_id, lc->store);
    return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                    "the simulator has no job '%s': it holds the jobs of this process only, and of "
                    "those already fetched the newest %" PRId64 " results (option keep_results)"
                    "\n---> HINT: the option \"store\": \"DIR\" keeps every job, across "
                    "processes too",
                    remote_id, lc->keep_results);
}

static local_job *mem_find(local_ctx *lc, const char *key, bool by_id) {
    for (int64_t i = lc->n_jobs - 1; i >= 0; i--)
        if (!strcmp(by_id ? lc->jobs[i].id : lc->jobs[i].token, key)) return &lc->jobs[i];
    return NULL;
}

static hq_status local_find_by_token(void *ctx, const char *token, char remote_id[HQ_REMOTE_ID_MAX],
                                     bool *found) {
    local_ctx *lc = ctx;
    local_job *m = mem_find(lc, token, false);
    if (m) {
        *found = true;
        snprintf(remote_id, HQ_REMOTE_ID_MAX, "%s", m->id);
        return HQ_OK;
    }
    if (!lc->store[0]) return HQ_OK;
    local_job j;
    hq_status st = store_find(lc, token, false, &j, found, true);
    if (st == HQ_OK && *found) {
        snprintf(remote_id, HQ_REMOTE_ID_MAX, "%s", j.id);
        job_free(&j);
    }
    return st;
}

static hq_status local_poll(void *ctx, const char *remote_id, hq_job_state *state, char *reason,
                            size_t cap) {
    local_ctx *lc = ctx;
    (void)reason, (void)cap;
    if (mem_find(lc, remote_id, true)) {
        *state = HQ_JOB_COMPLETED;
        return HQ_OK;
    }
    if (lc->store[0]) {
        local_job j;
        bool found;
        hq_status st = store_find(lc, remote_id, true, &j, &found, true);
        if (st) return st;
        job_free(&j);
        if (found) {
            *state = HQ_JOB_COMPLETED;
            return HQ_OK;
        }
    }
    return no_job(lc, remote_id);
}

static hq_status local_fetch(void *ctx, const char *remote_id, int64_t n, hq_counts *counts) {
    local_ctx *lc = ctx;
    local_job disk;
    memset(&disk, 0, sizeof disk);
    local_job *j = mem_find(lc, remote_id, true);
    if (!j && lc->store[0]) {
        bool found;
        hq_status st = store_find(lc, remote_id, true, &disk, &found, false);
        if (st) return st;
        if (found) j = &disk;
    }
    if (!j) return no_job(lc, remote_id);
    hq_status st = HQ_OK;
    if (j->n != n)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "job '%s' has %" PRId64 " results, %" PRId64 " were asked for", remote_id,
                      j->n, n);
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        hq_counts_free(&counts[i]);
        st = hq_counts_copy(&counts[i], &j->counts[i]);
        hq_counts_sort(&counts[i]);
    }
    if (st == HQ_OK && j != &disk) {
        j->fetched = true;
        drop_fetched(lc, j);
    }
    job_free(&disk);
    return st;
}

static hq_status local_count(void *ctx, int64_t *n) {
    local_ctx *lc = ctx;
    *n = lc->store[0] ? store_count(lc) : lc->accepted;
    return HQ_OK;
}

const hq_backend_ops hq_backend_sv_shots_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "sv-shots",
    .description = "exact statevector simulator, sampled with shots (local provider, optional "
                   "persistent store)",
    .create = sv_shots_create,
    .destroy = local_destroy,
    .caps = local_caps,
    .submit = local_submit,
    .find_by_token = local_find_by_token,
    .poll = local_poll,
    .fetch = local_fetch,
    .submitted_count = local_count,
};

const hq_backend_ops hq_backend_dm_shots_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "dm-shots",
    .description = "noisy density-matrix simulator, sampled with shots (noise model or IBM "
                   "calibration; local provider)",
    .create = dm_shots_create,
    .destroy = local_destroy,
    .caps = local_caps,
    .submit = local_submit,
    .find_by_token = local_find_by_token,
    .poll = local_poll,
    .fetch = local_fetch,
    .submitted_count = local_count,
};
