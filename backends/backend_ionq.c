/*
 * backends/backend_ionq.c — the "ionq" backend (IonQ Quantum Cloud, API v0.3 or v0.4) and
 * "emulator-ionq" (the same client pointed at `hqcnn emulator`, API v0.3).
 *
 * Submit: every circuit of the job is relabelled so qubit k is the one measured into
 * classical bit k (IonQ measures every qubit at the end and keys outcomes by qubit),
 * compiled with hq_transpile_ionq to the QIS or native gate set and sent as ONE
 * multi-circuit job (ionq.h body). The client token goes into metadata.hqcnn_token and the
 * job name "hqcnn-<token>"; metadata.hqcnn_clbits lists each circuit's classical-bit count
 * (run-length), so the results of any job can be mapped back to logical circuits from the
 * provider's record alone — after a crash, on another machine.
 *
 * Poll: GET /jobs/{id}; once completed the results are downloaded, checked for every
 * circuit (F9: a missing child result makes the job FAILED with the missing circuits
 * named, so a resumed run sends them again) and kept until fetch. Probabilities become
 * counts with hq_qpu_probs_to_counts (F14).
 *
 * find_by_token: GET /jobs?metadata.hqcnn_token=<token> (the emulator filters on it; the
 * client checks metadata and name itself and pages through `next` in case the provider
 * ignores the filter). Calibration: the characterization of a qpu.* target (date), a
 * constant for the simulator.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/credentials.h"
#include "backends/ionq.h"
#include "backends/rest_impl.h"

#define IONQ_URL         "https://api.ionq.co"
#define IONQ_EMU_URL     "http://127.0.0.1:8765"
#define IONQ_CLBITS_KEY  "hqcnn_clbits"
#define IONQ_TAG_KEY     "hqcnn_tag"
#define IONQ_META_VALMAX 400

typedef struct ionq_ctx {
    rest_common rc; /* first: hq_rest_get_timing */
    /* options */
    char target[64];        /* "simulator", "qpu.aria-1", ... */
    char api_s[8];          /* "v0.3" | "v0.4" */
    char gateset_s[8];      /* "qis" | "native" */
    char noise_model[32];   /* simulator noise model, "" = ideal */
    int64_t noise_seed;     /* -1 = provider's choice */
    int debiasing;          /* -1 provider default, 0 off, 1 on */
    char api_key_env[64];   /* read the key from this variable, "" = credentials */
    char credentials[1024]; /* credentials file, "" = default search */
    int64_t port;           /* emulator: http://127.0.0.1:PORT (0 = url option) */
    int64_t find_pages;     /* job-list pages find_by_token scans [5] */
    /* derived */
    hq_ionq_api api;
    hq_ionq_gateset gs;
    char auth[512]; /* "apiKey <key>", "" until loaded */
} ionq_ctx;

/* What a job GET tells about the job's results. */
typedef struct ionq_job {
    hq_qpu_job_status js;
    int n_circuits; /* circuits of the job */
    int qubits;     /* "qubits" (64 if absent) */
    int *clbits;    /* (n_circuits) classical bits of each circuit */
    bool have_clbits;
} ionq_job;

static void ionq_job_free(ionq_job *j) {
    hq_qpu_job_status_free(&j->js);
    HQ_FREE(j->clbits);
}

/* ==== helpers ============================================================================ */

static const char *api_prefix(const ionq_ctx *c) {
    return c->api == HQ_IONQ_V04 ? "/v0.4" : "/v0.3";
}

static hq_status ensure_key(ionq_ctx *c) {
    if (c->auth[0]) return HQ_OK;
    const char *key = NULL;
    hq_credentials *cr = NULL;
    if (c->api_key_env[0]) {
        const char *names[] = {c->api_key_env, NULL};
        key = rest_getenv_first(names);
        if (!key)
            return hq_failf(NULL, HQ_ERR_AUTH,
                            "%s: no IonQ API key: $%s is not set (option api_key_env)", c->rc.name,
                            c->api_key_env);
    } else {
        hq_status st =
            hq_credentials_load(HQ_CRED_IONQ, c->credentials[0] ? c->credentials : NULL, &cr);
        if (st) return hq_fail_prefix(NULL, st, "%s", c->rc.name);
        key = hq_credentials_get(cr, "api_key");
    }
    hq_secret_register(key);
    int n = snprintf(c->auth, sizeof c->auth, "apiKey %s", key ? key : "");
    hq_credentials_free(cr);
    if (n < 0 || (size_t)n >= sizeof c->auth) {
        memset(c->auth, 0, sizeof c->auth);
        return hq_failf(NULL, HQ_ERR_AUTH, "%s: the IonQ API key is longer than %zu characters",
                        c->rc.name, sizeof c->auth - 8);
    }
    return HQ_OK;
}

static int headers(ionq_ctx *c, hq_http_header hd[3], bool body) {
    hd[0] = (hq_http_header){"Authorization", c->auth};
    hd[1] = (hq_http_header){"Accept", "application/json"};
    if (body) hd[2] = (hq_http_header){"Content-Type", "application/json"};
    return body ? 3 : 2;
}

/* Parse a job object (GET /jobs/{id} or a list entry) into j. */
static hq_status parse_job_obj(const char *body, size_t len, ionq_job *j) {
    memset(j, 0, sizeof *j);
    hq_status st = hq_ionq_parse_job(body, len, &j->js);
    if (st) return st;
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (!o) {
        hq_qpu_job_status_free(&j->js);
        return hq_failf(NULL, HQ_ERR_PARSE, "IonQ job: malformed JSON");
    }
    j->qubits = 64;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "qubits");
    if (!cJSON_IsNumber(q))
        q = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "stats"),
                                             "qubits");
    if (cJSON_IsNumber(q) && q->valuedouble >= 1 && q->valuedouble <= 64)
        j->qubits = (int)q->valuedouble;
    j->n_circuits = j->js.n_children > 0 ? j->js.n_children : 1;
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(o, "circuits");
    if (!cJSON_IsNumber(nc))
        nc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "stats"),
                                              "circuits");
    if (cJSON_IsNumber(nc) && nc->valuedouble >= 1 && nc->valuedouble <= 1e6 &&
        j->js.n_children == 0)
        j->n_circuits = (int)nc->valuedouble;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(md, IONQ_CLBITS_KEY);
    j->clbits = hq_calloc((size_t)j->n_circuits, sizeof *j->clbits);
    if (!j->clbits) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    if (st == HQ_OK && cJSON_IsString(cb)) {
        st = rest_rle_decode(cb->valuestring, j->clbits, j->n_circuits);
        if (st)
            hq_fail_prefix(NULL, HQ_ERR_PARSE, "IonQ job %s: metadata %s", j->js.id,
                           IONQ_CLBITS_KEY);
        j->have_clbits = st == HQ_OK;
    }
    cJSON_Delete(o);
    if (st) ionq_job_free(j);
    return st;
}

static hq_status parse_job_cb(void *user, const char *body, size_t len) {
    return parse_job_obj(body, len, user);
}

static hq_status get_job(ionq_ctx *c, const char *id, ionq_job *j) {
    char url[REST_URL_MAX + 256], path[256];
    hq_sbuf enc = HQ_SBUF_INIT;
    hq_http_url_encode(&enc, id, NULL);
    snprintf(path, sizeof path, "%s/jobs/%s", api_prefix(c), enc.p ? enc.p : "");
    hq_sbuf_free(&enc);
    hq_status st = rest_url(&c->rc, url, sizeof url, path, NULL);
    if (st) return st;
    hq_http_header hd[3];
    int nh = headers(c, hd, false);
    memset(j, 0, sizeof *j);
    return rest_get_parsed(&c->rc, url, hd, nh, parse_job_cb, j);
}

/* ==== results ============================================================================= */

typedef struct results_req {
    const ionq_job *job;
    hq_qpu_results res;
    bool empty; /* the body was an empty object (single circuit without result) */
} results_req;

static hq_status parse_results_cb(void *user, const char *body, size_t len) {
    results_req *r = user;
    hq_qpu_results_free(&r->res);
    r->empty = false;
    cJSON *o = cJSON_ParseWithLength(body, len);
    bool empty = cJSON_IsObject(o) && !o->child;
    cJSON_Delete(o);
    if (empty) {
        r->empty = true;
        return HQ_OK;
    }
    int64_t shots = r->job->js.shots;
    if (shots < 1)
        return hq_failf(NULL, HQ_ERR_PARSE, "IonQ job %s reports no shot count", r->job->js.id);
    return hq_ionq_parse_results(body, len, &r->job->js, r->job->n_circuits, r->job->qubits, shots,
                                 &r->res);
}

/*
 * Download and map the results of a completed job: *out (n) counts in logical bit order.
 * A circuit without a result makes the whole call fail with HQ_ERR_BACKEND naming the
 * missing circuits (reason also copied to `missing`).
 */
static hq_status collect(ionq_ctx *c, const char *id, const ionq_job *job, hq_counts **out,
                         char *missing, size_t mcap) {
    *out = NULL;
    if (missing && mcap) missing[0] = '\0';
    if (!job->have_clbits)
        return hq_failf(NULL, HQ_ERR_BACKEND,
                        "%s: job %s carries no %s metadata: it was not submitted by hqcnn, so "
                        "its results cannot be mapped to circuits",
                        c->rc.name, id, IONQ_CLBITS_KEY);
    char url[REST_URL_MAX + 512], path[400];
    hq_sbuf enc = HQ_SBUF_INIT;
    hq_http_url_encode(&enc, id, NULL);
    if (c->api == HQ_IONQ_V04 && job->js.results_url[0] == '/')
        snprintf(path, sizeof path, "%s", job->js.results_url);
    else if (c->api == HQ_IONQ_V04)
        snprintf(path, sizeof path, "/v0.4/jobs/%s/results/probabilities", enc.p ? enc.p : "");
    else
        snprintf(path, sizeof path, "/v0.3/jobs/%s/results", enc.p ? enc.p : "");
    hq_sbuf_free(&enc);
    hq_status st = rest_url(&c->rc, url, sizeof url, path, NULL);
    if (st) return st;
    hq_http_header hd[3];
    int nh = headers(c, hd, false);
    results_req rr = {.job = job};
    st = rest_get_parsed(&c->rc, url, hd, nh, parse_results_cb, &rr);
    if (st) {
        hq_qpu_results_free(&rr.res);
        return hq_fail_prefix(NULL, st, "%s: results of job %s", c->rc.name, id);
    }
    double t0 = hq_time_now();
    int n = job->n_circuits;
    hq_sbuf miss = HQ_SBUF_INIT;
    int n_miss = 0;
    for (int i = 0; i < n; i++) {
        bool ok = !rr.empty && i < rr.res.n && rr.res.r[i].status == HQ_OK;
        if (ok) continue;
        if (n_miss++ < 8)
            hq_sbuf_printf(&miss, "%scircuit %d (%s)", n_miss > 1 ? "; " : "", i,
                           rr.empty               ? "the job returned no distribution"
                           : rr.res.r[i].error[0] ? rr.res.r[i].error
                                                  : "no result");
    }
    if (n_miss) {
        st = hq_failf(NULL, HQ_ERR_BACKEND,
                      "%s: job %s completed with results for %d of %d circuits (F9 partial "
                      "results; nothing is used, the circuits are sent again when the run "
                      "resumes): %s%s",
                      c->rc.name, id, n - n_miss, n, miss.p ? miss.p : "",
                      n_miss > 8 ? "; ..." : "");
        if (missing) snprintf(missing, mcap, "%s", hq_last_error());
    }
    hq_sbuf_free(&miss);
    hq_counts *counts = st ? NULL : hq_calloc((size_t)n, sizeof *counts);
    if (st == HQ_OK && !counts) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    int src[64];
    for (int k = 0; k < 64; k++) src[k] = k;
    for (int i = 0; st == HQ_OK && i < n; i++) {
        int m = job->clbits[i];
        if (m < 1 || m > 64 || m > rr.res.r[i].counts.n_bits) {
            st = hq_failf(NULL, HQ_ERR_PARSE,
                          "%s: job %s: circuit %d has %d classical bits in its metadata but the "
                          "job measures %d qubits",
                          c->rc.name, id, i, m, rr.res.r[i].counts.n_bits);
            break;
        }
        st = hq_qpu_counts_remap(&rr.res.r[i].counts, src, m, &counts[i]);
        if (st == HQ_OK) hq_counts_sort(&counts[i]);
    }
    hq_qpu_results_free(&rr.res);
    if (st && counts) {
        for (int i = 0; i < n; i++) hq_counts_free(&counts[i]);
        HQ_FREE(counts);
    }
    c->rc.t_digest += hq_time_now() - t0;
    *out = counts;
    return st;
}

/* ==== create ============================================================================== */

static int default_qubits(const char *target) {
    if (!strcmp(target, "simulator")) return 29;
    if (!strncmp(target, "qpu.forte", 9)) return 36;
    return 25;
}

static hq_status ionq_create_common(const char *json, void **ctx, hq_sbuf *id_extra, bool emu) {
    ionq_ctx *c = hq_calloc(1, sizeof *c);
    if (!c) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    const char *name = emu ? "emulator-ionq" : "ionq";
    rest_common_init(&c->rc, "IonQ", name, emu ? IONQ_EMU_URL : IONQ_URL);
    c->rc.emulator = emu;
    snprintf(c->target, sizeof c->target, "simulator");
    snprintf(c->api_s, sizeof c->api_s, "%s", emu ? "v0.3" : "v0.4");
    snprintf(c->gateset_s, sizeof c->gateset_s, "qis");
    c->noise_seed = -1;
    c->debiasing = -1;
    c->find_pages = 5;
    c->rc.max_circuits = 1000;
    c->rc.max_shots = 1000000;
    if (emu) {
        c->rc.seconds_per_job = 0.5;
        c->rc.seconds_per_shot = 1e-6;
        c->rc.calib.refresh_s = 0;
    }
    bool seen_qubits = false, seen_prices = false, seen_url = false;
    rest_opt tab[REST_COMMON_OPTS + 16];
    int n = rest_common_options(&c->rc, tab);
    for (int i = 0; i < n; i++) {
        if (!strcmp(tab[i].name, "max_qubits")) tab[i].seen = &seen_qubits;
        if (!strcmp(tab[i].name, "prices")) tab[i].seen = &seen_prices;
        if (!strcmp(tab[i].name, "url")) tab[i].seen = &seen_url;
    }
    tab[n++] = (rest_opt){"target", REST_OPT_STR, c->target, sizeof c->target, 0, 0, true, NULL};
    tab[n++] = (rest_opt){"api", REST_OPT_STR, c->api_s, sizeof c->api_s, 0, 0, false, NULL};
    tab[n++] =
        (rest_opt){"gateset", REST_OPT_STR, c->gateset_s, sizeof c->gateset_s, 0, 0, true, NULL};
    tab[n++] = (rest_opt){"noise_model", REST_OPT_STR, c->noise_model, sizeof c->noise_model, 0, 0,
                          true,          NULL};
    tab[n++] =
        (rest_opt){"noise_seed", REST_OPT_INT, &c->noise_seed, 0, -1, 2147483647, true, NULL};
    tab[n++] = (rest_opt){"debiasing", REST_OPT_TRI, &c->debiasing, 0, 0, 0, true, NULL};
    tab[n++] = (rest_opt){"api_key_env", REST_OPT_STR, c->api_key_env, sizeof c->api_key_env, 0, 0,
                          false,         NULL};
    tab[n++] = (rest_opt){"credentials", REST_OPT_STR, c->credentials, sizeof c->credentials, 0, 0,
                          false,         NULL};
    tab[n++] = (rest_opt){"find_pages", REST_OPT_INT, &c->find_pages, 0, 1, 1000, false, NULL};
    if (emu) tab[n++] = (rest_opt){"port", REST_OPT_INT, &c->port, 0, 1, 65535, false, NULL};
    hq_status st = rest_parse_options(name, json, tab, n, id_extra);
    if (st == HQ_OK) {
        if (!strcmp(c->api_s, "v0.3"))
            c->api = HQ_IONQ_V03;
        else if (!strcmp(c->api_s, "v0.4"))
            c->api = HQ_IONQ_V04;
        else
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "%s: option 'api' is \"%s\"; expected \"v0.3\" or \"v0.4\"", name,
                          c->api_s);
    }
    if (st == HQ_OK) {
        if (!strcmp(c->gateset_s, "qis"))
            c->gs = HQ_IONQ_QIS;
        else if (!strcmp(c->gateset_s, "native"))
            c->gs = HQ_IONQ_NATIVE;
        else
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "%s: option 'gateset' is \"%s\"; expected \"qis\" or \"native\"", name,
                          c->gateset_s);
    }
    if (st == HQ_OK && !c->target[0])
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: option 'target' is empty (\"simulator\", \"qpu.aria-1\", ...)", name);
    if (st == HQ_OK && c->noise_model[0] && strcmp(c->noise_model, "ideal") &&
        strcmp(c->target, "simulator"))
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: option 'noise_model' applies to the \"simulator\" target only (target "
                      "is \"%s\")",
                      name, c->target);
    if (st == HQ_OK && emu && c->api != HQ_IONQ_V03)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: the emulator serves IonQ API v0.3 only (option 'api')", name);
    if (st == HQ_OK && emu && c->port) {
        if (seen_url)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: give either 'port' or 'url', not both",
                          name);
        else
            snprintf(c->rc.url, sizeof c->rc.url, "http://127.0.0.1:%d", (int)c->port);
    } else if (st == HQ_OK && emu && !seen_url) {
        const char *env[] = {"HQCNN_EMULATOR_URL", NULL};
        const char *u = rest_getenv_first(env);
        if (u) snprintf(c->rc.url, sizeof c->rc.url, "%s", u);
    }
    if (st == HQ_OK) st = rest_common_check(&c->rc);
    if (st == HQ_OK && !seen_qubits) c->rc.max_qubits = default_qubits(c->target);
    if (st == HQ_OK && !seen_prices && !emu && !strncmp(c->target, "qpu.", 4)) {
        /* public per-task / per-shot prices of IonQ devices (Amazon Braket list prices); an
         * estimate for `hqcnn plan` — set "prices" for your contract */
        c->rc.prices[1] = 0.30;
        c->rc.prices[2] = !strncmp(c->target, "qpu.forte", 9) ? 0.08 : 0.03;
    }
    if (st == HQ_OK && !emu && !strncmp(c->target, "qpu.", 4) && c->rc.seconds_per_job == 60)
        c->rc.seconds_per_job = 3600; /* QPU queues are long */
    if (st) {
        rest_common_free(&c->rc);
        hq_free(c);
        return st;
    }
    *ctx = c;
    return HQ_OK;
}

static hq_status ionq_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    return ionq_create_common(json, ctx, id_extra, false);
}
static hq_status emu_ionq_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    return ionq_create_common(json, ctx, id_extra, true);
}

static void ionq_destroy(void *ctx) {
    ionq_ctx *c = ctx;
    memset(c->auth, 0, sizeof c->auth); /* the key stays registered for redaction */
    rest_common_free(&c->rc);
    hq_free(c);
}

static void ionq_caps(void *ctx, hq_backend_caps *out) {
    ionq_ctx *c = ctx;
    rest_common_caps(&c->rc, out);
    out->max_rows_per_entry = 0; /* IonQ has no parameter binding: circuits come bound */
}

/* ==== submit ============================================================================== */

static hq_status ionq_submit(void *ctx, const hq_job_spec *job, char remote_id[HQ_REMOTE_ID_MAX]) {
    ionq_ctx *c = ctx;
    const char *fn = c->rc.name;
    hq_status st = ensure_key(c);
    if (st) return st;
    double t0 = hq_time_now();
    int n = job->n_entries;
    hq_transpile_result *tr = hq_calloc((size_t)n, sizeof *tr);
    const hq_circuit **circs = hq_calloc((size_t)n, sizeof *circs);
    int *clbits = hq_calloc((size_t)n, sizeof *clbits);
    if (!tr || !circs || !clbits) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    for (int i = 0; st == HQ_OK && i < n; i++) {
        hq_circuit *rel = NULL;
        st = rest_readout_relabel(fn, job->entries[i].circuit, &rel, &clbits[i]);
        if (st == HQ_OK)
            st = hq_transpile_ionq(rel ? rel : job->entries[i].circuit, c->gs,
                                   (int)c->rc.max_qubits, NULL, &tr[i]);
        hq_circuit_free(rel);
        if (st)
            hq_fail_prefix(NULL, st, "%s: circuit %d of the job", fn, i);
        else
            circs[i] = tr[i].circuit;
    }
    hq_sbuf meta_v = HQ_SBUF_INIT, body = HQ_SBUF_INIT;
    if (st == HQ_OK) {
        rest_rle_encode(clbits, n, &meta_v);
        st = hq_sbuf_status(&meta_v);
        if (st == HQ_OK && meta_v.len > IONQ_META_VALMAX)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "%s: the circuits' classical-bit counts do not fit in one metadata value "
                          "(%zu > %d characters) ---> HINT: lower max_circuits_per_job",
                          fn, meta_v.len, IONQ_META_VALMAX);
    }
    if (st == HQ_OK) {
        hq_ionq_meta meta[2] = {{IONQ_CLBITS_KEY, meta_v.p}, {IONQ_TAG_KEY, job->tag}};
        int n_meta = job->tag && *job->tag && strlen(job->tag) <= IONQ_META_VALMAX ? 2 : 1;
        bool noisy = c->noise_model[0] && strcmp(c->noise_model, "ideal");
        hq_ionq_job_spec sp = {.api = c->api,
                               .target = c->target,
                               .gateset = c->gs,
                               .shots = job->shots,
                               .client_token = job->client_token,
                               .metadata = meta,
                               .n_metadata = n_meta,
                               .noise_model = noisy ? c->noise_model : NULL,
                               .noise_seed = c->noise_seed,
                               .debiasing = c->debiasing};
        st = hq_ionq_build_job(&sp, circs, n, &body);
    }
    for (int i = 0; tr && i < n; i++) hq_transpile_result_free(&tr[i]);
    hq_free(tr);
    hq_free(circs);
    hq_free(clbits);
    hq_sbuf_free(&meta_v);
    c->rc.t_build += hq_time_now() - t0;
    char url[REST_URL_MAX + 64], path[32];
    snprintf(path, sizeof path, "%s/jobs", api_prefix(c));
    if (st == HQ_OK) st = rest_url(&c->rc, url, sizeof url, path, NULL);
    if (st) {
        hq_sbuf_free(&body);
        return st;
    }
    hq_http_header hd[3];
    int nh = headers(c, hd, true);
    hq_http_response rs;
    st = rest_perform(&c->rc, HQ_HTTP_POST, url, hd, nh, body.p, body.len, false,
                      c->rc.submit_timeout_s, &rs);
    hq_sbuf_free(&body);
    if (st == HQ_OK) {
        hq_qpu_job_status js;
        st = hq_ionq_parse_create(rs.body, rs.body_len, &js);
        if (st == HQ_OK) {
            snprintf(remote_id, HQ_REMOTE_ID_MAX, "%s", js.id);
            hq_qpu_job_status_free(&js);
        }
    }
    hq_http_response_free(&rs);
    st = rest_submit_outcome(&c->rc, st);
    if (st == HQ_OK) c->rc.accepted++;
    return st;
}

/* ==== find_by_token ======================================================================= */

typedef struct find_req {
    const char *token;
    char name[128]; /* "hqcnn-<token>" */
    char found[HQ_REMOTE_ID_MAX];
    char next[128];
} find_req;

static hq_status parse_list_cb(void *user, const char *body, size_t len) {
    find_req *f = user;
    f->next[0] = '\0';
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    if (!cJSON_IsArray(jobs)) {
        cJSON_Delete(o);
        return hq_failf(NULL, HQ_ERR_PARSE, "IonQ job list: no \"jobs\" array");
    }
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(md, HQ_IONQ_TOKEN_KEY);
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "name");
        bool match = (cJSON_IsString(tok) && !strcmp(tok->valuestring, f->token)) ||
                     (cJSON_IsString(nm) && !strcmp(nm->valuestring, f->name));
        if (match && cJSON_IsString(id) && *id->valuestring &&
            strlen(id->valuestring) < HQ_REMOTE_ID_MAX) {
            snprintf(f->found, sizeof f->found, "%s", id->valuestring);
            break;
        }
    }
    const cJSON *nx = cJSON_GetObjectItemCaseSensitive(o, "next");
    if (cJSON_IsString(nx) && strlen(nx->valuestring) < sizeof f->next)
        snprintf(f->next, sizeof f->next, "%s", nx->valuestring);
    cJSON_Delete(o);
    return HQ_OK;
}

static hq_status ionq_find_by_token(void *ctx, const char *token, char remote_id[HQ_REMOTE_ID_MAX],
                                    bool *found) {
    ionq_ctx *c = ctx;
    hq_status st = ensure_key(c);
    if (st) return st;
    find_req f = {.token = token};
    snprintf(f.name, sizeof f.name, "hqcnn-%s", token);
    hq_sbuf tok = HQ_SBUF_INIT;
    hq_http_url_encode(&tok, token, NULL);
    bool filter = true;
    char next[128] = "";
    for (int64_t page = 0; page < c->find_pages; page++) {
        hq_sbuf q = HQ_SBUF_INIT;
        hq_sbuf_puts(&q, "limit=100");
        if (filter) hq_sbuf_printf(&q, "&metadata." HQ_IONQ_TOKEN_KEY "=%s", tok.p ? tok.p : "");
        if (next[0]) {
            hq_sbuf nx = HQ_SBUF_INIT;
            hq_http_url_encode(&nx, next, NULL);
            hq_sbuf_printf(&q, "&next=%s", nx.p ? nx.p : "");
            hq_sbuf_free(&nx);
        }
        char url[REST_URL_MAX + 512], path[32];
        snprintf(path, sizeof path, "%s/jobs", api_prefix(c));
        st = hq_sbuf_status(&q);
        if (st == HQ_OK) st = rest_url(&c->rc, url, sizeof url, path, q.p);
        hq_sbuf_free(&q);
        if (st) break;
        hq_http_header hd[3];
        int nh = headers(c, hd, false);
        st = rest_get_parsed(&c->rc, url, hd, nh, parse_list_cb, &f);
        if (st == HQ_ERR_HTTP && filter && page == 0) {
            /* a provider that rejects the metadata filter: list without it */
            HQ_LOGW("%s: the job list refused the metadata filter (%s); scanning the list",
                    c->rc.name, hq_last_error());
            filter = false;
            page = -1;
            st = HQ_OK;
            continue;
        }
        if (st || f.found[0] || !f.next[0]) break;
        snprintf(next, sizeof next, "%s", f.next);
    }
    hq_sbuf_free(&tok);
    if (st)
        return hq_fail_prefix(NULL, st, "%s: looking job %s up by its client token", c->rc.name,
                              token);
    *found = f.found[0] != '\0';
    if (*found) snprintf(remote_id, HQ_REMOTE_ID_MAX, "%s", f.found);
    return HQ_OK;
}

/* ==== poll / fetch / cancel ================================================================ */

static hq_status ionq_poll(void *ctx, const char *remote_id, hq_job_state *state, char *reason,
                           size_t cap) {
    ionq_ctx *c = ctx;
    hq_status st = ensure_key(c);
    if (st) return st;
    ionq_job j;
    st = get_job(c, remote_id, &j);
    if (st) return rest_poll_outcome(&c->rc, st, remote_id);
    if (j.js.unknown_status)
        HQ_LOGD("%s: job %s has status '%s', treated as pending", c->rc.name, remote_id,
                j.js.raw_status);
    *state = hq_qpu_state_to_job(j.js.state);
    if (*state == HQ_JOB_FAILED || *state == HQ_JOB_CANCELLED) {
        if (reason && cap)
            snprintf(reason, cap, "IonQ %s%s%s%s", j.js.raw_status,
                     j.js.failure_code[0] ? " (" : "", j.js.failure_code,
                     j.js.failure_code[0] ? ")" : "");
        if (reason && cap && j.js.failure_msg[0]) {
            size_t l = strlen(reason);
            snprintf(reason + l, cap - l, ": %s", j.js.failure_msg);
        }
    } else if (*state == HQ_JOB_COMPLETED) {
        c->rc.calib.stale = true;
        hq_counts *counts = NULL;
        char missing[HQ_ERRMSG_MAX];
        st = collect(c, remote_id, &j, &counts, missing, sizeof missing);
        if (st == HQ_OK) {
            rest_cache_put(&c->rc, remote_id, j.n_circuits, counts);
        } else if (st == HQ_ERR_BACKEND && missing[0]) {
            *state = HQ_JOB_FAILED; /* partial: the circuits are sent again on resume */
            if (reason && cap) snprintf(reason, cap, "%s", missing);
            st = HQ_OK;
        } else {
            ionq_job_free(&j);
            return rest_poll_outcome(&c->rc, st, remote_id);
        }
    }
    ionq_job_free(&j);
    rest_poll_ok(&c->rc);
    return HQ_OK;
}

static hq_status ionq_fetch(void *ctx, const char *remote_id, int64_t n, hq_counts *counts) {
    ionq_ctx *c = ctx;
    if (rest_cache_take(&c->rc, remote_id, n, counts)) return HQ_OK;
    hq_status st = ensure_key(c);
    if (st) return st;
    ionq_job j;
    st = get_job(c, remote_id, &j);
    if (st) return hq_fail_prefix(NULL, st, "%s: job %s", c->rc.name, remote_id);
    if (j.js.state != HQ_QPU_COMPLETED) {
        st = hq_failf(NULL, HQ_ERR_MISUSE, "%s: job %s is %s, not completed: poll it first",
                      c->rc.name, remote_id, hq_qpu_state_name(j.js.state));
    } else if (j.n_circuits != n) {
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: job %s has %d circuits, %" PRId64 " were asked for", c->rc.name,
                      remote_id, j.n_circuits, n);
    }
    hq_counts *got = NULL;
    if (st == HQ_OK) st = collect(c, remote_id, &j, &got, NULL, 0);
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        hq_counts_free(&counts[i]);
        counts[i] = got[i];
    }
    hq_free(got);
    ionq_job_free(&j);
    return st;
}

static hq_status ionq_cancel(void *ctx, const char *remote_id) {
    ionq_ctx *c = ctx;
    hq_status st = ensure_key(c);
    if (st) return st;
    char url[REST_URL_MAX + 256], path[256];
    hq_sbuf enc = HQ_SBUF_INIT;
    hq_http_url_encode(&enc, remote_id, NULL);
    snprintf(path, sizeof path, "%s/jobs/%s/status/cancel", api_prefix(c), enc.p ? enc.p : "");
    hq_sbuf_free(&enc);
    st = rest_url(&c->rc, url, sizeof url, path, NULL);
    if (st) return st;
    hq_http_header hd[3];
    int nh = headers(c, hd, false);
    hq_http_response rs;
    st = rest_perform(&c->rc, HQ_HTTP_PUT, url, hd, nh, NULL, 0, true, 0, &rs);
    hq_http_response_free(&rs);
    return st ? hq_fail_prefix(NULL, st, "%s: cancelling job %s", c->rc.name, remote_id) : HQ_OK;
}

/* ==== calibration ========================================================================= */

typedef struct calib_req {
    hq_ionq_calibration cal;
    char *text;
} calib_req;

static hq_status parse_calib_cb(void *user, const char *body, size_t len) {
    calib_req *r = user;
    hq_ionq_calibration_free(&r->cal);
    hq_status st = hq_ionq_parse_characterization(body, len, &r->cal);
    if (st == HQ_OK) {
        HQ_FREE(r->text);
        r->text = hq_strndup(body, len);
    }
    return st;
}

static hq_status ionq_calibration(void *ctx, char calib_id[HQ_CALIB_ID_MAX], char **json) {
    ionq_ctx *c = ctx;
    if (strncmp(c->target, "qpu.", 4)) {
        bool noisy = c->noise_model[0] && strcmp(c->noise_model, "ideal");
        snprintf(calib_id, HQ_CALIB_ID_MAX, "%s:%s", c->target, noisy ? c->noise_model : "ideal");
        return HQ_OK;
    }
    double now = hq_time_now();
    if (!rest_calib_due(&c->rc.calib, now) && !json) {
        snprintf(calib_id, HQ_CALIB_ID_MAX, "%s", c->rc.calib.id);
        return HQ_OK;
    }
    hq_status st = ensure_key(c);
    char url[REST_URL_MAX + 256], path[256];
    if (c->api == HQ_IONQ_V04)
        snprintf(path, sizeof path, "/v0.4/backends/%s/characterizations", c->target);
    else
        snprintf(path, sizeof path, "/v0.3/characterizations/backends/%s/current", c->target + 4);
    if (st == HQ_OK) st = rest_url(&c->rc, url, sizeof url, path, NULL);
    calib_req r;
    memset(&r, 0, sizeof r);
    if (st == HQ_OK) {
        hq_http_header hd[3];
        int nh = headers(c, hd, false);
        st = rest_get_parsed(&c->rc, url, hd, nh, parse_calib_cb, &r);
    }
    if (st == HQ_OK) {
        char id[HQ_CALIB_ID_MAX];
        snprintf(id, sizeof id, "%s", r.cal.date[0] ? r.cal.date : r.cal.id);
        rest_calib_set(&c->rc.calib, id, now);
        if (json) {
            *json = r.text;
            r.text = NULL;
        }
    } else if (c->rc.calib.id[0]) {
        HQ_LOGW("%s: cannot refresh the characterization (%s); keeping %s", c->rc.name,
                hq_last_error(), c->rc.calib.id);
        st = HQ_OK;
    } else {
        HQ_LOGW("%s: cannot read the characterization (%s)", c->rc.name, hq_last_error());
        snprintf(c->rc.calib.id, sizeof c->rc.calib.id, "unknown");
        st = HQ_OK;
    }
    snprintf(calib_id, HQ_CALIB_ID_MAX, "%s", c->rc.calib.id);
    hq_ionq_calibration_free(&r.cal);
    hq_free(r.text);
    return st;
}

/* ==== submitted count ===================================================================== */

static hq_status ionq_count(void *ctx, int64_t *n) {
    ionq_ctx *c = ctx;
    if (c->rc.emulator) return rest_emulator_stored(&c->rc, "ionq", n);
    *n = c->rc.accepted;
    return HQ_OK;
}

const hq_backend_ops hq_backend_ionq_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "ionq",
    .description = "IonQ Quantum Cloud (API v0.4 or v0.3; simulator or qpu.* targets; QIS or "
                   "native gates; multi-circuit jobs)",
    .create = ionq_create,
    .destroy = ionq_destroy,
    .caps = ionq_caps,
    .submit = ionq_submit,
    .find_by_token = ionq_find_by_token,
    .poll = ionq_poll,
    .fetch = ionq_fetch,
    .cancel = ionq_cancel,
    .calibration = ionq_calibration,
    .submitted_count = ionq_count,
};

const hq_backend_ops hq_backend_emulator_ionq_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "emulator-ionq",
    .description = "the IonQ client against the local QPU emulator (`hqcnn emulator`, API v0.3, "
                   "default http://127.0.0.1:8765)",
    .create = emu_ionq_create,
    .destroy = ionq_destroy,
    .caps = ionq_caps,
    .submit = ionq_submit,
    .find_by_token = ionq_find_by_token,
    .poll = ionq_poll,
    .fetch = ionq_fetch,
    .cancel = ionq_cancel,
    .calibration = ionq_calibration,
    .submitted_count = ionq_count,
};
