/*
 * backends/backend_ibm.c — the "ibm" backend (IBM Quantum, Qiskit Runtime REST API, IBM
 * Cloud channel, Sampler V2) and "emulator-ibm" (the same client pointed at
 * `hqcnn emulator`).
 *
 * Device: the backend's configuration (fetched once) and properties (fetched again when
 * the calibration is due, see calibration()) become an hq_device; every circuit is
 * compiled to the device's ISA with hq_transpile_ibm (noise-aware layout, routing, native
 * gates; symbolic angles stay symbolic) and written as OpenQASM 3 on physical qubits.
 * Compiled circuits are cached per (circuit, calibration).
 *
 * Jobs: one Sampler V2 job per hqcnn job; each entry is one PUB — a templated entry is ONE
 * PUB whose parameter values are the entry's rows (`input float[64]` parameters), so a
 * whole training step's circuits can travel in one job. Tags carry the client token
 * ("hqcnn-token:<token>", found again by GET /jobs?tags=...), the PUB count and the result
 * count, so results are checked and mapped from the provider's record alone.
 *
 * Bit order: the classical registers of a circuit are merged into one register "c" (when
 * it has several), measurements write logical classical bits (the transpiler keeps them),
 * so the samples of register "c" are already in the logical circuit's bit order,
 * whatever the layout.
 *
 * Auth: IAM API-key exchange; the bearer token is refreshed at expiration - 300 s and once
 * on a 401, after which the call fails with HQ_ERR_AUTH. Optional batch session
 * ("mode": "batch"): created at the first submission, closed when the backend is freed.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/credentials.h"
#include "backends/ibm.h"
#include "backends/qasm.h"
#include "backends/rest_impl.h"
#include "core/sha256.h"

#define IBM_URL         "https://quantum.cloud.ibm.com"
#define IBM_IAM_URL     "https://iam.cloud.ibm.com/identity/token"
#define IBM_EMU_URL     "http://127.0.0.1:8765"
#define IBM_EMU_CRN     "crn:v1:bluemix:public:quantum-computing:us-east:a/emulator:emulator::"
#define IBM_EMU_DEVICE  "emu_fake4"
#define IBM_TAG_TOKEN   "hqcnn-token:"
#define IBM_TAG_PUBS    "hqcnn-pubs:"
#define IBM_TAG_RESULTS "hqcnn-results:"
#define IBM_TAG_ROWS    "hqcnn-rows:"
#define IBM_ROWS_MAX    400 /* longest rows tag written */
#define ISA_CACHE_N     64

/* One compiled circuit. */
typedef struct isa_entry {
    char key[65];                /* sha256 of the logical circuit's canonical text, "" = free */
    char calib[HQ_CALIB_ID_MAX]; /* calibration it was compiled for */
    char *qasm;                  /* OpenQASM 3 ISA text (owned) */
    int n_params;                /* input parameters of the ISA circuit */
    char **names;                /* (n_params) their names (owned) */
    int *src;                    /* (n_params) index of each among the logical symbols */
    hq_transpile_stats stats;    /* of the compilation */
    uint64_t age;                /* for eviction */
} isa_entry;

typedef struct ibm_ctx {
    rest_common rc; /* first: hq_rest_get_timing */
    /* options */
    char backend[96]; /* IBM backend name ("ibm_fez") */
    char iam_url[REST_URL_MAX];
    char api_version[32];       /* IBM-API-Version header */
    char mode[16];              /* "job" | "batch" */
    int64_t session_ttl_s;      /* batch session max_ttl */
    char *sampler_options;      /* params.options (JSON object text, owned) */
    int64_t optimization_level; /* transpiler level 0 | 1 */
    int64_t seed_transpiler;    /* routing seed */
    int64_t max_pubs;           /* PUBs per job (0 = configuration max_experiments, else 300) */
    int64_t max_samples;        /* shots x results per job */
    char api_key_env[64];       /* read the API key from this variable ("" = credentials) */
    char credentials[1024];     /* credentials file ("" = default search) */
    char crn_opt[256];          /* emulator: Service-CRN ("" = $IBM_QUANTUM_CRN or default) */
    int64_t port;               /* emulator port (0 = url option) */
    int64_t find_pages;         /* job-list pages find_by_token scans */
    /* state */
    char *key;           /* API key (owned; scrubbed at destroy; registered secret) */
    char crn[512];       /* Service-CRN in use */
    hq_ibm_token tok;    /* bearer token (owned) */
    char auth[4096];     /* "Bearer <token>" header buffer */
    char *conf_text;     /* configuration JSON (owned) */
    char *props_text;    /* properties JSON of the current calibration (owned) */
    hq_device *dev;      /* device (owned) */
    char session_id[96]; /* batch session, "" = none */
    isa_entry isa[ISA_CACHE_N];
    uint64_t isa_clock;
} ibm_ctx;

/* ==== auth ================================================================================= */

static hq_status load_key(ibm_ctx *c) {
    if (c->key) return HQ_OK;
    const char *key = NULL, *crn = NULL;
    hq_credentials *cr = NULL;
    hq_status st = HQ_OK;
    if (c->api_key_env[0]) {
        const char *names[] = {c->api_key_env, NULL};
        key = rest_getenv_first(names);
        if (!key)
            return hq_failf(NULL, HQ_ERR_AUTH,
                            "%s: no IBM Quantum API key: $%s is not set (option api_key_env)",
                            c->rc.name, c->api_key_env);
    } else if (c->rc.emulator) {
        const char *names[] = {"IBM_QUANTUM_API_KEY", "IBM_CLOUD_API_KEY", NULL};
        key = rest_getenv_first(names);
        if (!key)
            return hq_failf(NULL, HQ_ERR_AUTH,
                            "%s: no API key for the emulator: set IBM_QUANTUM_API_KEY (the key "
                            "`hqcnn emulator` was started with) or option api_key_env",
                            c->rc.name);
    } else {
        st = hq_credentials_load(HQ_CRED_IBM, c->credentials[0] ? c->credentials : NULL, &cr);
        if (st) return hq_fail_prefix(NULL, st, "%s", c->rc.name);
        key = hq_credentials_get(cr, "api_key");
        crn = hq_credentials_get(cr, "crn");
    }
    if (c->rc.emulator) {
        const char *names[] = {"IBM_QUANTUM_CRN", NULL};
        crn = c->crn_opt[0] ? c->crn_opt : rest_getenv_first(names);
        if (!crn) crn = IBM_EMU_CRN;
    }
    if (!crn || !*crn) crn = rest_getenv_first((const char *const[]){"IBM_QUANTUM_CRN", NULL});
    if (!crn || !*crn)
        st = hq_failf(NULL, HQ_ERR_AUTH, "%s: no service CRN: set IBM_QUANTUM_CRN", c->rc.name);
    if (st == HQ_OK && (!key || !*key))
        st = hq_failf(NULL, HQ_ERR_AUTH, "%s: empty API key", c->rc.name);
    if (st == HQ_OK) {
        hq_secret_register(key);
        c->key = hq_strdup(key);
        snprintf(c->crn, sizeof c->crn, "%s", crn);
        if (!c->key) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    }
    hq_credentials_free(cr);
    return st;
}

static hq_status parse_token_cb(void *user, const char *body, size_t len) {
    hq_ibm_token *t = user;
    hq_ibm_token_free(t);
    return hq_ibm_parse_iam_token(body, len, hq_time_wall(), t);
}

/* A valid bearer token (exchanged or refreshed when force or within 300 s of expiry). */
static hq_status ensure_token(ibm_ctx *c, bool force) {
    hq_status st = load_key(c);
    if (st) return st;
    if (!force && !hq_ibm_token_needs_refresh(&c->tok, hq_time_wall())) return HQ_OK;
    hq_ibm_token_free(&c->tok);
    hq_sbuf body = HQ_SBUF_INIT;
    st = hq_ibm_iam_request_body(c->key, &body);
    hq_http_header hd[2] = {{"Content-Type", "application/x-www-form-urlencoded"},
                            {"Accept", "application/json"}};
    hq_http_response rs;
    memset(&rs, 0, sizeof rs);
    if (st == HQ_OK)
        st = rest_perform(&c->rc, HQ_HTTP_POST, c->iam_url, hd, 2, body.p, body.len, true, 0, &rs);
    if (st == HQ_OK) st = parse_token_cb(&c->tok, rs.body, rs.body_len);
    /* scrub the form body: it holds the key */
    if (body.p) memset(body.p, 0, body.len);
    hq_sbuf_free(&body);
    hq_http_response_free(&rs);
    if (st)
        return hq_fail_prefix(NULL, st,
                              "%s: IAM token exchange failed ---> HINT: check "
                              "IBM_QUANTUM_API_KEY; cause",
                              c->rc.name);
    return HQ_OK;
}

static hq_status auth_headers(ibm_ctx *c, hq_http_header hd[HQ_IBM_N_HEADERS]) {
    return hq_ibm_headers(&c->tok, c->crn, c->api_version[0] ? c->api_version : NULL, hd, c->auth,
                          sizeof c->auth);
}

static bool is_401(const ibm_ctx *c, hq_status st) {
    return st == HQ_ERR_AUTH && c->rc.last_status == 401;
}

static hq_status auth_failed(ibm_ctx *c, hq_status st) {
    if (!is_401(c, st)) return st;
    return hq_fail_prefix(NULL, HQ_ERR_AUTH,
                          "%s: IBM Quantum refused a freshly exchanged access token (401) ---> "
                          "HINT: check IBM_QUANTUM_API_KEY and IBM_QUANTUM_CRN (the service "
                          "instance); cause",
                          c->rc.name);
}

/* A Runtime request; a 401 refreshes the token once and repeats the request. */
static hq_status ibm_perform(ibm_ctx *c, hq_http_method m, const char *url, const void *body,
                             size_t len, bool idempotent, double timeout_s, hq_http_response *rs) {
    hq_status st = HQ_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        st = ensure_token(c, attempt > 0);
        hq_http_header hd[HQ_IBM_N_HEADERS];
        if (st == HQ_OK) st = auth_headers(c, hd);
        if (st) return st;
        st = rest_perform(&c->rc, m, url, hd, HQ_IBM_N_HEADERS, body, len, idempotent, timeout_s,
                          rs);
        if (!is_401(c, st) || attempt) break;
        HQ_LOGI("%s: access token refused (401); exchanging the API key again", c->rc.name);
        hq_http_response_free(rs);
    }
    return auth_failed(c, st);
}

static hq_status ibm_get_parsed(ibm_ctx *c, const char *url, rest_parse_fn parse, void *user) {
    hq_status st = HQ_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        st = ensure_token(c, attempt > 0);
        hq_http_header hd[HQ_IBM_N_HEADERS];
        if (st == HQ_OK) st = auth_headers(c, hd);
        if (st) return st;
        st = rest_get_parsed(&c->rc, url, hd, HQ_IBM_N_HEADERS, parse, user);
        if (!is_401(c, st) || attempt) break;
        HQ_LOGI("%s: access token refused (401); exchanging the API key again", c->rc.name);
    }
    return auth_failed(c, st);
}

static hq_status api_url(const ibm_ctx *c, char *out, size_t cap, const char *fmt_path,
                         const char *id, const char *query) {
    char path[512];
    hq_sbuf enc = HQ_SBUF_INIT;
    if (id) hq_http_url_encode(&enc, id, NULL);
    snprintf(path, sizeof path, fmt_path, id ? (enc.p ? enc.p : "") : "");
    hq_sbuf_free(&enc);
    return rest_url(&c->rc, out, cap, path, query);
}

/* ==== device and calibration ============================================================ */

static hq_status text_cb(void *user, const char *body, size_t len) {
    char **t = user;
    cJSON *o = cJSON_ParseWithLength(body, len);
    bool ok = cJSON_IsObject(o);
    cJSON_Delete(o);
    if (!ok) return hq_failf(NULL, HQ_ERR_PARSE, "IBM backend document: malformed JSON");
    hq_free(*t);
    *t = hq_strndup(body, len);
    return *t ? HQ_OK : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
}

static void isa_clear(isa_entry *e) {
    HQ_FREE(e->qasm);
    for (int k = 0; e->names && k < e->n_params; k++) hq_free(e->names[k]);
    HQ_FREE(e->names);
    HQ_FREE(e->src);
    e->key[0] = '\0';
    e->n_params = 0;
}

/* Fetch the properties (and the configuration the first time) if the calibration is due;
 * rebuild the device when the calibration changed. */
static hq_status refresh_device(ibm_ctx *c, bool force) {
    double now = hq_time_now();
    if (c->dev && !force && !rest_calib_due(&c->rc.calib, now)) return HQ_OK;
    char url[REST_URL_MAX + 256];
    hq_status st = HQ_OK;
    if (!c->conf_text) {
        st = api_url(c, url, sizeof url, "/api/v1/backends/%s/configuration", c->backend, NULL);
        if (st == HQ_OK) st = ibm_get_parsed(c, url, text_cb, &c->conf_text);
        if (st) return hq_fail_prefix(NULL, st, "%s: configuration of %s", c->rc.name, c->backend);
    }
    char *props = NULL;
    st = api_url(c, url, sizeof url, "/api/v1/backends/%s/properties", c->backend, NULL);
    if (st == HQ_OK) st = ibm_get_parsed(c, url, text_cb, &props);
    if (st) return hq_fail_prefix(NULL, st, "%s: properties of %s", c->rc.name, c->backend);
    cJSON *o = cJSON_Parse(props);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "last_update_date");
    char id[HQ_CALIB_ID_MAX];
    snprintf(id, sizeof id, "%s", cJSON_IsString(d) ? d->valuestring : "unknown");
    cJSON_Delete(o);
    if (!c->dev || strcmp(id, c->dev->calibration_id)) {
        hq_device *nd = NULL;
        st = hq_device_from_ibm_json(c->conf_text, props, &nd);
        if (st) {
            hq_free(props);
            return hq_fail_prefix(NULL, st, "%s: device %s", c->rc.name, c->backend);
        }
        if (c->dev && strcmp(c->rc.calib.id, id))
            HQ_LOGI("%s: %s was recalibrated (%s -> %s)", c->rc.name, c->backend,
                    c->dev->calibration_id, id);
        hq_device_free(c->dev);
        c->dev = nd;
        if (!c->dev->calibration_id[0])
            snprintf(c->dev->calibration_id, sizeof c->dev->calibration_id, "%s", id);
        if (c->max_pubs <= 0 && nd->max_experiments > 0) c->max_pubs = nd->max_experiments;
        if (nd->max_shots > 0 && nd->max_shots < c->rc.max_shots) c->rc.max_shots = nd->max_shots;
        if (nd->n_qubits < c->rc.max_qubits) c->rc.max_qubits = nd->n_qubits;
    }
    hq_free(c->props_text);
    c->props_text = props;
    rest_calib_set(&c->rc.calib, id, now);
    return HQ_OK;
}

static hq_status ibm_calibration(void *ctx, char calib_id[HQ_CALIB_ID_MAX], char **json) {
    ibm_ctx *c = ctx;
    hq_status st = refresh_device(c, false);
    if (st != HQ_OK) {
        if (!c->rc.calib.id[0]) snprintf(c->rc.calib.id, sizeof c->rc.calib.id, "unknown");
        HQ_LOGW("%s: cannot read the calibration (%s); keeping '%s'", c->rc.name, hq_last_error(),
                c->rc.calib.id);
    }
    snprintf(calib_id, HQ_CALIB_ID_MAX, "%s", c->rc.calib.id);
    if (json && c->props_text) *json = hq_strdup(c->props_text);
    return HQ_OK;
}

/* ==== compile ============================================================================= */

/* The compiled form of a logical circuit (from the cache or compiled now); borrowed until
 * the cache is next modified. The transpiler keeps final measurements out of routing and
 * places them on the final layout, so a circuit measured at the end stays one (no
 * mid-circuit measurement for the device to support; docs/transpile.md). */
static hq_status compile(ibm_ctx *c, const hq_circuit *lc, const isa_entry **out) {
    const char *fn = c->rc.name;
    char key[65];
    hq_status st = hq_circuit_hash(lc, key);
    if (st) return st;
    for (int i = 0; i < ISA_CACHE_N; i++)
        if (!strcmp(c->isa[i].key, key) && !strcmp(c->isa[i].calib, c->dev->calibration_id)) {
            c->isa[i].age = ++c->isa_clock;
            *out = &c->isa[i];
            return HQ_OK;
        }
    if (hq_circuit_count_gate(lc, HQ_GATE_MEASURE) == 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the circuit measures nothing; IBM Sampler jobs need measurements "
                        "(they define the classical bits the results are read from)",
                        fn);
    hq_circuit *flat = NULL;
    st = rest_flatten_cregs(fn, lc, &flat);
    if (st) return st;
    hq_transpile_options to = hq_transpile_default_options();
    to.optimization_level = (int)c->optimization_level;
    to.seed = (uint64_t)c->seed_transpiler;
    hq_transpile_result tr;
    memset(&tr, 0, sizeof tr);
    st = hq_transpile_ibm(flat ? flat : lc, c->dev, &to, &tr);
    hq_circuit_free(flat);
    if (st == HQ_OK) st = hq_transpile_check_isa(tr.circuit, c->dev);
    hq_sbuf q = HQ_SBUF_INIT;
    if (st == HQ_OK) st = hq_qasm_write(tr.circuit, 3, HQ_QASM_PHYSICAL, &q);
    if (st) {
        hq_transpile_result_free(&tr);
        hq_sbuf_free(&q);
        return hq_fail_prefix(NULL, st, "%s: compiling for %s", fn, c->backend);
    }
    /* slot: free or oldest */
    int slot = 0;
    for (int i = 0; i < ISA_CACHE_N; i++) {
        if (!c->isa[i].key[0]) {
            slot = i;
            break;
        }
        if (c->isa[i].age < c->isa[slot].age) slot = i;
    }
    isa_entry *e = &c->isa[slot];
    isa_clear(e);
    int np = hq_circuit_n_symbols(tr.circuit);
    e->names = np ? hq_calloc((size_t)np, sizeof *e->names) : NULL;
    e->src = np ? hq_calloc((size_t)np, sizeof *e->src) : NULL;
    if (np && (!e->names || !e->src)) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int k = 0; st == HQ_OK && k < np; k++) {
        const char *nm = hq_circuit_symbol_name(tr.circuit, k);
        e->names[k] = hq_strdup(nm);
        e->n_params = k + 1;
        if (!e->names[k]) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        if (st == HQ_OK && hq_circuit_find_symbol(lc, nm, &e->src[k]) != HQ_OK)
            st = hq_failf(NULL, HQ_ERR_INTERNAL,
                          "%s: compiled circuit has an unknown parameter '%s'", fn, nm);
    }
    e->stats = tr.stats;
    hq_transpile_result_free(&tr);
    if (st == HQ_OK) {
        e->qasm = hq_sbuf_take(&q);
        snprintf(e->key, sizeof e->key, "%s", key);
        snprintf(e->calib, sizeof e->calib, "%s", c->dev->calibration_id);
        e->age = ++c->isa_clock;
        *out = e;
    } else {
        isa_clear(e);
    }
    hq_sbuf_free(&q);
    return st;
}

hq_status hq_rest_ibm_compile(hq_backend *b, const hq_circuit *lc, hq_sbuf *qasm,
                              hq_transpile_stats *stats) {
    const hq_backend_ops *ops = NULL;
    ibm_ctx *c = hq_backend_impl_ctx(b, &ops);
    if (!c || (ops != &hq_backend_ibm_ops && ops != &hq_backend_emulator_ibm_ops) || !lc || !qasm)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_rest_ibm_compile: needs an ibm / emulator-ibm backend, a circuit and "
                        "an output buffer");
    hq_status st = refresh_device(c, false);
    const isa_entry *e = NULL;
    if (st == HQ_OK) st = compile(c, lc, &e);
    if (st) return st;
    hq_sbuf_puts(qasm, e->qasm);
    if (stats) *stats = e->stats;
    return hq_sbuf_status(qasm);
}

/* ==== create / destroy ==================================================================== */

static hq_status ibm_create_common(const char *json, void **ctx, hq_sbuf *id_extra, bool emu) {
    ibm_ctx *c = hq_calloc(1, sizeof *c);
    if (!c) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    const char *name = emu ? "emulator-ibm" : "ibm";
    rest_common_init(&c->rc, "IBM Quantum", name, emu ? IBM_EMU_URL : IBM_URL);
    c->rc.emulator = emu;
    c->rc.max_circuits = 10000;
    c->rc.max_qubits = 156;
    c->rc.max_in_flight = 3;
    c->session_ttl_s = 28800;
    c->optimization_level = 1;
    c->max_samples = 10000000;
    c->find_pages = 5;
    snprintf(c->mode, sizeof c->mode, "job");
    if (emu) {
        snprintf(c->backend, sizeof c->backend, IBM_EMU_DEVICE);
        c->rc.seconds_per_job = 0.5;
        c->rc.seconds_per_shot = 1e-6;
        c->rc.calib.refresh_s = 0;
    } else {
        snprintf(c->iam_url, sizeof c->iam_url, IBM_IAM_URL);
        /* pay-as-you-go: USD 1.60 per second of QPU time; a Sampler job costs about 2 s of
         * overhead, and a shot of a small circuit about 0.25 ms (an estimate for plans) */
        c->rc.prices[0] = 3.2;
        c->rc.prices[2] = 0.0004;
        c->rc.seconds_per_job = 600;
        c->rc.seconds_per_shot = 2.5e-4;
    }
    bool seen_url = false, seen_iam = false;
    rest_opt tab[REST_COMMON_OPTS + 20];
    int n = rest_common_options(&c->rc, tab);
    for (int i = 0; i < n; i++)
        if (!strcmp(tab[i].name, "url")) tab[i].seen = &seen_url;
    tab[n++] = (rest_opt){"backend", REST_OPT_STR, c->backend, sizeof c->backend, 0, 0, true, NULL};
    tab[n++] =
        (rest_opt){"iam_url", REST_OPT_STR, c->iam_url, sizeof c->iam_url, 0, 0, false, &seen_iam};
    tab[n++] = (rest_opt){"api_version", REST_OPT_STR, c->api_version, sizeof c->api_version, 0, 0,
                          false,         NULL};
    tab[n++] = (rest_opt){"mode", REST_OPT_STR, c->mode, sizeof c->mode, 0, 0, false, NULL};
    tab[n++] =
        (rest_opt){"session_ttl_s", REST_OPT_INT, &c->session_ttl_s, 0, 60, 86400 * 7, false, NULL};
    tab[n++] =
        (rest_opt){"sampler_options", REST_OPT_OBJECT, &c->sampler_options, 0, 0, 0, true, NULL};
    tab[n++] =
        (rest_opt){"optimization_level", REST_OPT_INT, &c->optimization_level, 0, 0, 1, true, NULL};
    tab[n++] = (rest_opt){
        "seed_transpiler", REST_OPT_INT, &c->seed_transpiler, 0, 0, 9007199254740991.0, true, NULL};
    tab[n++] = (rest_opt){"max_pubs", REST_OPT_INT, &c->max_pubs, 0, 1, 100000, false, NULL};
    tab[n++] = (rest_opt){"max_samples", REST_OPT_INT, &c->max_samples, 0, 1, 1e12, false, NULL};
    tab[n++] = (rest_opt){"api_key_env", REST_OPT_STR, c->api_key_env, sizeof c->api_key_env, 0, 0,
                          false,         NULL};
    tab[n++] = (rest_opt){"credentials", REST_OPT_STR, c->credentials, sizeof c->credentials, 0, 0,
                          false,         NULL};
    tab[n++] = (rest_opt){"find_pages", REST_OPT_INT, &c->find_pages, 0, 1, 1000, false, NULL};
    if (emu) {
        tab[n++] = (rest_opt){"port", REST_OPT_INT, &c->port, 0, 1, 65535, false, NULL};
        tab[n++] =
            (rest_opt){"crn", REST_OPT_STR, c->crn_opt, sizeof c->crn_opt, 0, 0, false, NULL};
    }
    hq_status st = rest_parse_options(name, json, tab, n, id_extra);
    if (st == HQ_OK && !c->backend[0])
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: option 'backend' is required: the IBM Quantum backend to run on "
                      "(\"ibm_fez\", \"ibm_torino\", ...)",
                      name);
    if (st == HQ_OK && strcmp(c->mode, "job") && strcmp(c->mode, "batch"))
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: option 'mode' is \"%s\"; expected \"job\" or \"batch\"", name, c->mode);
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
    if (st == HQ_OK && emu && !seen_iam)
        snprintf(c->iam_url, sizeof c->iam_url, "%s/identity/token", c->rc.url);
    if (st == HQ_OK && hq_http_check_url(c->iam_url) != HQ_OK)
        st = hq_fail_prefix(NULL, HQ_ERR_INVALID_ARG, "%s: option 'iam_url'", name);
    if (st) {
        hq_free(c->sampler_options);
        rest_common_free(&c->rc);
        hq_free(c);
        return st;
    }
    *ctx = c;
    return HQ_OK;
}

static hq_status ibm_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    return ibm_create_common(json, ctx, id_extra, false);
}
static hq_status emu_ibm_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    return ibm_create_common(json, ctx, id_extra, true);
}

static void ibm_destroy(void *ctx) {
    ibm_ctx *c = ctx;
    if (c->session_id[0] && c->tok.access_token) {
        /* stop the batch session from accepting jobs (best effort, one quick try) */
        char url[REST_URL_MAX + 256];
        hq_sbuf body = HQ_SBUF_INIT;
        hq_ibm_build_session_close(&body);
        hq_http_response rs;
        hq_http_header hd[HQ_IBM_N_HEADERS];
        if (api_url(c, url, sizeof url, "/api/v1/sessions/%s", c->session_id, NULL) == HQ_OK &&
            auth_headers(c, hd) == HQ_OK && body.p) {
            c->rc.next_max_tries = 1;
            if (rest_perform(&c->rc, HQ_HTTP_PATCH, url, hd, HQ_IBM_N_HEADERS, body.p, body.len,
                             true, 5, &rs) != HQ_OK)
                HQ_LOGW("%s: could not close session %s: %s", c->rc.name, c->session_id,
                        hq_last_error());
            hq_http_response_free(&rs);
        }
        hq_sbuf_free(&body);
    }
    for (int i = 0; i < ISA_CACHE_N; i++) isa_clear(&c->isa[i]);
    hq_ibm_token_free(&c->tok);
    memset(c->auth, 0, sizeof c->auth);
    if (c->key) {
        volatile char *v = c->key;
        for (size_t i = 0; c->key[i]; i++) v[i] = 0;
        hq_free(c->key);
    }
    hq_free(c->conf_text);
    hq_free(c->props_text);
    hq_free(c->sampler_options);
    hq_device_free(c->dev);
    rest_common_free(&c->rc);
    hq_free(c);
}

static void ibm_caps(void *ctx, hq_backend_caps *out) {
    ibm_ctx *c = ctx;
    rest_common_caps(&c->rc, out);
    out->max_rows_per_entry = c->rc.max_circuits; /* one PUB carries a parameter matrix */
    out->device = c->dev;
}

/* ==== submit ============================================================================== */

static hq_status parse_session_cb(void *user, const char *body, size_t len) {
    hq_qpu_job_status js;
    hq_status st = hq_ibm_parse_create(body, len, &js);
    if (st == HQ_OK) snprintf((char *)user, 96, "%s", js.id);
    hq_qpu_job_status_free(&js);
    return st;
}

static hq_status ensure_session(ibm_ctx *c) {
    if (strcmp(c->mode, "batch") || c->session_id[0]) return HQ_OK;
    hq_sbuf body = HQ_SBUF_INIT;
    hq_status st = hq_ibm_build_session(c->backend, "batch", c->session_ttl_s, &body);
    char url[REST_URL_MAX + 64];
    if (st == HQ_OK) st = rest_url(&c->rc, url, sizeof url, "/api/v1/sessions", NULL);
    hq_http_response rs;
    memset(&rs, 0, sizeof rs);
    if (st == HQ_OK) st = ibm_perform(c, HQ_HTTP_POST, url, body.p, body.len, false, 0, &rs);
    if (st == HQ_OK) st = parse_session_cb(c->session_id, rs.body, rs.body_len);
    hq_http_response_free(&rs);
    hq_sbuf_free(&body);
    if (st) return hq_fail_prefix(NULL, st, "%s: creating a batch session", c->rc.name);
    HQ_LOGI("%s: batch session %s opened on %s", c->rc.name, c->session_id, c->backend);
    return HQ_OK;
}

static hq_status ibm_submit(void *ctx, const hq_job_spec *job, char remote_id[HQ_REMOTE_ID_MAX]) {
    ibm_ctx *c = ctx;
    const char *fn = c->rc.name;
    hq_status st = ensure_token(c, false);
    if (st == HQ_OK) st = refresh_device(c, false);
    if (st) return st;
    int n = job->n_entries;
    int64_t results = hq_job_spec_results(job);
    int64_t max_pubs = c->max_pubs > 0 ? c->max_pubs : 300;
    if (n > max_pubs)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: %d PUBs in one job, more than %s accepts (%" PRId64
                        ") ---> HINT: lower max_circuits_per_job",
                        fn, n, c->backend, max_pubs);
    if ((double)results * (double)job->shots > (double)c->max_samples)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: %" PRId64 " results x %" PRId64 " shots = %.0f executions in one job, "
                        "more than %" PRId64 " ---> HINT: lower max_circuits_per_job",
                        fn, results, job->shots, (double)results * (double)job->shots,
                        c->max_samples);
    double t0 = hq_time_now();
    hq_ibm_pub *pubs = hq_calloc((size_t)n, sizeof *pubs);
    double **vals = hq_calloc((size_t)n, sizeof *vals);
    if (!pubs || !vals) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    /* the ISA texts are copied: compiling a later entry may evict an earlier one */
    char **texts = st ? NULL : hq_calloc((size_t)n, sizeof *texts);
    char ***names = st ? NULL : hq_calloc((size_t)n, sizeof *names);
    int *nnames = st ? NULL : hq_calloc((size_t)n, sizeof *nnames);
    if (st == HQ_OK && (!texts || !names || !nnames))
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    for (int i = 0; st == HQ_OK && i < n; i++) {
        const hq_job_entry *en = &job->entries[i];
        const isa_entry *e = NULL;
        st = compile(c, en->circuit, &e);
        if (st) {
            hq_fail_prefix(NULL, st, "%s: circuit %d of the job", fn, i);
            break;
        }
        texts[i] = hq_strdup(e->qasm);
        if (!texts[i]) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        pubs[i].qasm3 = texts[i];
        if (st == HQ_OK && en->n_rows > 0 && e->n_params > 0) {
            int ns = hq_circuit_n_symbols(en->circuit);
            names[i] = hq_calloc((size_t)e->n_params, sizeof **names);
            vals[i] = hq_malloc((size_t)en->n_rows * (size_t)e->n_params * sizeof **vals);
            if (!names[i] || !vals[i]) {
                st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
                break;
            }
            for (int k = 0; k < e->n_params; k++) {
                names[i][k] = hq_strdup(e->names[k]);
                nnames[i] = k + 1;
                if (!names[i][k]) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            }
            for (int64_t r = 0; r < en->n_rows; r++)
                for (int k = 0; k < e->n_params; k++)
                    vals[i][r * e->n_params + k] = en->rows[r * ns + e->src[k]];
            pubs[i].param_names = (const char *const *)names[i];
            pubs[i].n_params = e->n_params;
            pubs[i].param_values = vals[i];
            pubs[i].n_bindings = (int)en->n_rows;
        } else if (st == HQ_OK && en->n_rows > 0) {
            st = hq_failf(NULL, HQ_ERR_INTERNAL,
                          "%s: entry %d has %" PRId64 " parameter rows but its compiled circuit "
                          "has no parameters",
                          fn, i, en->n_rows);
        }
    }
    if (st == HQ_OK) st = ensure_session(c);
    hq_sbuf body = HQ_SBUF_INIT;
    hq_sbuf t_rows = HQ_SBUF_INIT;
    if (st == HQ_OK) {
        char t_pubs[48], t_res[48];
        snprintf(t_pubs, sizeof t_pubs, IBM_TAG_PUBS "%d", n);
        snprintf(t_res, sizeof t_res, IBM_TAG_RESULTS "%" PRId64, results);
        /* rows per PUB (run-length), so results are checked PUB by PUB */
        int *rows = hq_malloc((size_t)n * sizeof *rows);
        if (rows) {
            for (int i = 0; i < n; i++)
                rows[i] = job->entries[i].n_rows > 0 ? (int)job->entries[i].n_rows : 1;
            hq_sbuf_puts(&t_rows, IBM_TAG_ROWS);
            rest_rle_encode(rows, n, &t_rows);
            hq_free(rows);
        }
        bool with_rows = rows && t_rows.p && t_rows.len <= IBM_ROWS_MAX;
        const char *tags[4] = {t_pubs, t_res, with_rows ? t_rows.p : job->tag, job->tag};
        int n_tags = 2 + with_rows + (job->tag && *job->tag);
        hq_ibm_job_spec sp = {.backend = c->backend,
                              .pubs = pubs,
                              .n_pubs = n,
                              .default_shots = job->shots,
                              .options_json = c->sampler_options,
                              .session_id = c->session_id[0] ? c->session_id : NULL,
                              .client_token = job->client_token,
                              .tags = tags,
                              .n_tags = n_tags};
        st = hq_ibm_build_sampler_job(&sp, &body);
    }
    hq_sbuf_free(&t_rows);
    for (int i = 0; i < n; i++) {
        if (texts) hq_free(texts[i]);
        if (vals) hq_free(vals[i]);
        for (int k = 0; names && names[i] && k < nnames[i]; k++) hq_free(names[i][k]);
        if (names) hq_free(names[i]);
    }
    hq_free(texts);
    hq_free(names);
    hq_free(nnames);
    hq_free(vals);
    hq_free(pubs);
    c->rc.t_build += hq_time_now() - t0;
    char url[REST_URL_MAX + 64];
    if (st == HQ_OK) st = rest_url(&c->rc, url, sizeof url, "/api/v1/jobs", NULL);
    if (st) {
        hq_sbuf_free(&body);
        return st;
    }
    hq_http_response rs;
    st = ibm_perform(c, HQ_HTTP_POST, url, body.p, body.len, false, c->rc.submit_timeout_s, &rs);
    hq_sbuf_free(&body);
    if (st == HQ_OK) {
        hq_qpu_job_status js;
        st = hq_ibm_parse_create(rs.body, rs.body_len, &js);
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

/* ==== jobs ================================================================================= */

typedef struct ibm_job {
    hq_qpu_job_status js;
    int n_pubs;                  /* from the tags, 0 if absent */
    int64_t n_results;           /* from the tags, 0 if absent */
    char rows[IBM_ROWS_MAX + 1]; /* rows-per-PUB list from the tags, "" if absent */
    bool has_token;              /* tags carry `token` (find_by_token) */
} ibm_job;

static void read_tags(const cJSON *j, ibm_job *out, const char *token) {
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "tags");
    const cJSON *t;
    const cJSON *list = cJSON_IsArray(tags) ? tags : NULL;
    cJSON_ArrayForEach(t, list) {
        if (!cJSON_IsString(t)) continue;
        const char *s = t->valuestring;
        int64_t v;
        if (!strncmp(s, IBM_TAG_PUBS, strlen(IBM_TAG_PUBS)) &&
            hq_parse_i64(s + strlen(IBM_TAG_PUBS), 1, 1000000, &v) == HQ_OK)
            out->n_pubs = (int)v;
        if (!strncmp(s, IBM_TAG_RESULTS, strlen(IBM_TAG_RESULTS)) &&
            hq_parse_i64(s + strlen(IBM_TAG_RESULTS), 1, INT64_MAX / 2, &v) == HQ_OK)
            out->n_results = v;
        if (!strncmp(s, IBM_TAG_ROWS, strlen(IBM_TAG_ROWS)))
            snprintf(out->rows, sizeof out->rows, "%s", s + strlen(IBM_TAG_ROWS));
        if (token && !strncmp(s, IBM_TAG_TOKEN, strlen(IBM_TAG_TOKEN)) &&
            !strcmp(s + strlen(IBM_TAG_TOKEN), token))
            out->has_token = true;
    }
}

static hq_status parse_job_cb(void *user, const char *body, size_t len) {
    ibm_job *j = user;
    hq_qpu_job_status_free(&j->js);
    memset(j, 0, sizeof *j);
    hq_status st = hq_ibm_parse_job(body, len, &j->js);
    if (st) return st;
    cJSON *o = cJSON_ParseWithLength(body, len);
    read_tags(o, j, NULL);
    cJSON_Delete(o);
    return HQ_OK;
}

static hq_status get_job(ibm_ctx *c, const char *id, ibm_job *j) {
    char url[REST_URL_MAX + 256];
    memset(j, 0, sizeof *j);
    hq_status st = api_url(c, url, sizeof url, "/api/v1/jobs/%s", id, NULL);
    if (st == HQ_OK) st = ibm_get_parsed(c, url, parse_job_cb, j);
    return st;
}

typedef struct results_req {
    int n_pubs;
    hq_ibm_results res;
} results_req;

static hq_status parse_results_cb(void *user, const char *body, size_t len) {
    results_req *r = user;
    hq_ibm_results_free(&r->res);
    return hq_ibm_parse_results(body, len, r->n_pubs, &r->res);
}

/*
 * Download the results of a completed job and map them: *out (*n_out) counts, one per
 * parameter row in submission order. Missing PUBs fail the call with HQ_ERR_BACKEND naming
 * them (and the result indices they held), copied into `missing`.
 */
static hq_status collect(ibm_ctx *c, const char *id, const ibm_job *j, int64_t n_expected,
                         hq_counts **out, int64_t *n_out, char *missing, size_t mcap) {
    *out = NULL;
    *n_out = 0;
    if (missing && mcap) missing[0] = '\0';
    if (n_expected <= 0) n_expected = j->n_results;
    results_req rr = {.n_pubs = j->n_pubs};
    char url[REST_URL_MAX + 256];
    hq_status st = api_url(c, url, sizeof url, "/api/v1/jobs/%s/results", id, NULL);
    if (st) return st;
    if (rr.n_pubs <= 0) {
        /* a job without our tags: take the PUB count from the results themselves */
        rr.n_pubs = 1000000;
    }
    st = ibm_get_parsed(c, url, parse_results_cb, &rr);
    if (st) {
        hq_ibm_results_free(&rr.res);
        return hq_fail_prefix(NULL, st, "%s: results of job %s", c->rc.name, id);
    }
    double t0 = hq_time_now();
    int np = rr.res.n;
    if (j->n_pubs <= 0) {
        while (np > 0 && rr.res.pubs[np - 1].status != HQ_OK) np--;
    }
    int *want = NULL; /* rows of each PUB, from the tags */
    if (j->rows[0] && j->n_pubs > 0 && (want = hq_malloc((size_t)j->n_pubs * sizeof *want)) &&
        rest_rle_decode(j->rows, want, j->n_pubs) != HQ_OK)
        HQ_FREE(want);
    int64_t total = 0;
    hq_sbuf miss = HQ_SBUF_INIT;
    int n_miss = 0;
    int64_t first_missing = -1;
    for (int p = 0; p < np; p++) {
        const hq_ibm_pub_result *pr = &rr.res.pubs[p];
        if (pr->status == HQ_OK && pr->n_cregs > 0 && want && pr->cregs[0].n_bindings != want[p]) {
            /* positional results that do not line up: a PUB before this one is missing */
            st = hq_failf(NULL, HQ_ERR_BACKEND,
                          "%s: job %s returned results that do not line up with its PUBs (PUB %d "
                          "has %d rows, %d were submitted): some PUB's result is missing (F9 "
                          "partial results; nothing is used, the circuits are sent again when the "
                          "run resumes)",
                          c->rc.name, id, p, pr->cregs[0].n_bindings, want[p]);
            if (missing) snprintf(missing, mcap, "%s", hq_last_error());
            break;
        }
        if (pr->status == HQ_OK && pr->n_cregs > 0) {
            total += pr->cregs[0].n_bindings;
            continue;
        }
        if (first_missing < 0) first_missing = total;
        if (n_miss++ < 8)
            hq_sbuf_printf(&miss, "%sPUB %d (%s)", n_miss > 1 ? "; " : "", p,
                           pr->error[0] ? pr->error : "no result");
    }
    hq_free(want);
    if (st) {
        /* already reported */
    } else if (n_miss) {
        char where[160] = "";
        if (n_expected > 0 && n_miss == 1)
            snprintf(where, sizeof where, ", i.e. results %" PRId64 "..%" PRId64 " of %" PRId64,
                     first_missing, first_missing + (n_expected - total) - 1, n_expected);
        else if (n_expected > 0)
            snprintf(where, sizeof where, ", from result %" PRId64 " of %" PRId64 " on",
                     first_missing, n_expected);
        st = hq_failf(NULL, HQ_ERR_BACKEND,
                      "%s: job %s completed with results for %d of %d PUBs (F9 partial results; "
                      "nothing is used, the circuits are sent again when the run resumes): "
                      "missing %s%s%s",
                      c->rc.name, id, np - n_miss, np, miss.p ? miss.p : "",
                      n_miss > 8 ? "; ..." : "", where);
        if (missing) snprintf(missing, mcap, "%s", hq_last_error());
    } else if (n_expected > 0 && total != n_expected) {
        st = hq_failf(NULL, HQ_ERR_BACKEND,
                      "%s: job %s returned %" PRId64 " results, %" PRId64 " were submitted",
                      c->rc.name, id, total, n_expected);
        if (missing) snprintf(missing, mcap, "%s", hq_last_error());
    }
    hq_sbuf_free(&miss);
    hq_counts *counts = st || !total ? NULL : hq_calloc((size_t)total, sizeof *counts);
    if (st == HQ_OK && !counts)
        st = total
                 ? hq_failf(NULL, HQ_ERR_NOMEM, "out of memory")
                 : hq_failf(NULL, HQ_ERR_BACKEND, "%s: job %s returned no results", c->rc.name, id);
    int64_t k = 0;
    for (int p = 0; st == HQ_OK && p < np; p++) {
        const hq_ibm_pub_result *pr = &rr.res.pubs[p];
        for (int b = 0; st == HQ_OK && b < pr->cregs[0].n_bindings; b++, k++)
            st = hq_ibm_pub_counts(pr, NULL, 0, b, &counts[k]);
    }
    if (st && counts) {
        for (int64_t i = 0; i < total; i++) hq_counts_free(&counts[i]);
        HQ_FREE(counts);
    }
    hq_ibm_results_free(&rr.res);
    c->rc.t_digest += hq_time_now() - t0;
    *out = counts;
    *n_out = st ? 0 : total;
    return st;
}

static hq_status ibm_poll(void *ctx, const char *remote_id, hq_job_state *state, char *reason,
                          size_t cap) {
    ibm_ctx *c = ctx;
    ibm_job j;
    hq_status st = get_job(c, remote_id, &j);
    if (st) {
        hq_qpu_job_status_free(&j.js);
        return rest_poll_outcome(&c->rc, st, remote_id);
    }
    *state = hq_qpu_state_to_job(j.js.state);
    if (*state == HQ_JOB_FAILED || *state == HQ_JOB_CANCELLED) {
        if (reason && cap)
            snprintf(reason, cap, "IBM Quantum %s%s%s%s%s%s", j.js.raw_status,
                     j.js.failure_code[0] ? " (code " : "", j.js.failure_code,
                     j.js.failure_code[0] ? ")" : "", j.js.failure_msg[0] ? ": " : "",
                     j.js.failure_msg);
    } else if (*state == HQ_JOB_COMPLETED) {
        c->rc.calib.stale = true;
        hq_counts *counts = NULL;
        int64_t n = 0;
        char missing[HQ_ERRMSG_MAX];
        st = collect(c, remote_id, &j, 0, &counts, &n, missing, sizeof missing);
        if (st == HQ_OK) {
            rest_cache_put(&c->rc, remote_id, n, counts);
        } else if (st == HQ_ERR_BACKEND && missing[0]) {
            *state = HQ_JOB_FAILED;
            if (reason && cap) snprintf(reason, cap, "%s", missing);
            st = HQ_OK;
        } else {
            hq_qpu_job_status_free(&j.js);
            return rest_poll_outcome(&c->rc, st, remote_id);
        }
    }
    hq_qpu_job_status_free(&j.js);
    rest_poll_ok(&c->rc);
    return HQ_OK;
}

static hq_status ibm_fetch(void *ctx, const char *remote_id, int64_t n, hq_counts *counts) {
    ibm_ctx *c = ctx;
    if (rest_cache_take(&c->rc, remote_id, n, counts)) return HQ_OK;
    ibm_job j;
    hq_status st = get_job(c, remote_id, &j);
    if (st == HQ_OK && j.js.state != HQ_QPU_COMPLETED)
        st = hq_failf(NULL, HQ_ERR_MISUSE, "%s: job %s is %s, not completed: poll it first",
                      c->rc.name, remote_id, hq_qpu_state_name(j.js.state));
    if (st == HQ_OK && j.n_results > 0 && j.n_results != n)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "%s: job %s has %" PRId64 " results, %" PRId64 " were asked for", c->rc.name,
                      remote_id, j.n_results, n);
    hq_counts *got = NULL;
    int64_t ng = 0;
    if (st == HQ_OK) st = collect(c, remote_id, &j, n, &got, &ng, NULL, 0);
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        hq_counts_free(&counts[i]);
        counts[i] = got[i];
    }
    hq_free(got);
    hq_qpu_job_status_free(&j.js);
    return st;
}

static hq_status ibm_cancel(void *ctx, const char *remote_id) {
    ibm_ctx *c = ctx;
    char url[REST_URL_MAX + 256];
    hq_status st = api_url(c, url, sizeof url, "/api/v1/jobs/%s/cancel", remote_id, NULL);
    hq_http_response rs;
    memset(&rs, 0, sizeof rs);
    if (st == HQ_OK) st = ibm_perform(c, HQ_HTTP_POST, url, NULL, 0, true, 0, &rs);
    hq_http_response_free(&rs);
    return st ? hq_fail_prefix(NULL, st, "%s: cancelling job %s", c->rc.name, remote_id) : HQ_OK;
}

/* ==== find_by_token ======================================================================== */

typedef struct find_req {
    const char *token;
    char found[HQ_REMOTE_ID_MAX];
    int64_t count; /* "count" of the list (all matching jobs), -1 if absent */
    int n_page;    /* entries on this page */
} find_req;

static hq_status parse_list_cb(void *user, const char *body, size_t len) {
    find_req *f = user;
    f->n_page = 0;
    f->count = -1;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    if (!cJSON_IsArray(jobs)) {
        cJSON_Delete(o);
        return hq_failf(NULL, HQ_ERR_PARSE, "IBM job list: no \"jobs\" array");
    }
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs) {
        f->n_page++;
        ibm_job info;
        memset(&info, 0, sizeof info);
        read_tags(j, &info, f->token);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if (info.has_token && !f->found[0] && cJSON_IsString(id) && *id->valuestring &&
            strlen(id->valuestring) < HQ_REMOTE_ID_MAX)
            snprintf(f->found, sizeof f->found, "%s", id->valuestring);
    }
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(o, "count");
    if (cJSON_IsNumber(cnt)) f->count = (int64_t)cnt->valuedouble;
    cJSON_Delete(o);
    return HQ_OK;
}

static hq_status ibm_find_by_token(void *ctx, const char *token, char remote_id[HQ_REMOTE_ID_MAX],
                                   bool *found) {
    ibm_ctx *c = ctx;
    find_req f = {.token = token};
    hq_sbuf tag = HQ_SBUF_INIT, be = HQ_SBUF_INIT;
    hq_sbuf_puts(&tag, IBM_TAG_TOKEN);
    hq_sbuf_puts(&tag, token);
    hq_sbuf enc = HQ_SBUF_INIT;
    hq_http_url_encode(&enc, tag.p ? tag.p : "", NULL);
    hq_http_url_encode(&be, c->backend, NULL);
    hq_status st = hq_sbuf_status(&enc);
    const int64_t limit = 50;
    for (int64_t page = 0; st == HQ_OK && page < c->find_pages; page++) {
        char q[1024], url[REST_URL_MAX + 1200];
        snprintf(q, sizeof q, "tags=%s&backend=%s&limit=%" PRId64 "&offset=%" PRId64, enc.p,
                 be.p ? be.p : "", limit, page * limit);
        st = rest_url(&c->rc, url, sizeof url, "/api/v1/jobs", q);
        if (st == HQ_OK) st = ibm_get_parsed(c, url, parse_list_cb, &f);
        if (st || f.found[0] || f.n_page < limit) break;
        if (f.count >= 0 && (page + 1) * limit >= f.count) break;
    }
    hq_sbuf_free(&tag);
    hq_sbuf_free(&be);
    hq_sbuf_free(&enc);
    if (st)
        return hq_fail_prefix(NULL, st, "%s: looking job %s up by its client token", c->rc.name,
                              token);
    *found = f.found[0] != '\0';
    if (*found) snprintf(remote_id, HQ_REMOTE_ID_MAX, "%s", f.found);
    return HQ_OK;
}

static hq_status ibm_count(void *ctx, int64_t *n) {
    ibm_ctx *c = ctx;
    if (c->rc.emulator) return rest_emulator_stored(&c->rc, "ibm", n);
    *n = c->rc.accepted;
    return HQ_OK;
}

const hq_backend_ops hq_backend_ibm_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "ibm",
    .description = "IBM Quantum (Qiskit Runtime REST API, Sampler V2; ISA circuits compiled for "
                   "the device; one PUB per parameter matrix)",
    .create = ibm_create,
    .destroy = ibm_destroy,
    .caps = ibm_caps,
    .submit = ibm_submit,
    .find_by_token = ibm_find_by_token,
    .poll = ibm_poll,
    .fetch = ibm_fetch,
    .cancel = ibm_cancel,
    .calibration = ibm_calibration,
    .submitted_count = ibm_count,
};

const hq_backend_ops hq_backend_emulator_ibm_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "emulator-ibm",
    .description = "the IBM Quantum client against the local QPU emulator (`hqcnn emulator`, "
                   "device emu_fake4, default http://127.0.0.1:8765)",
    .create = emu_ibm_create,
    .destroy = ibm_destroy,
    .caps = ibm_caps,
    .submit = ibm_submit,
    .find_by_token = ibm_find_by_token,
    .poll = ibm_poll,
    .fetch = ibm_fetch,
    .cancel = ibm_cancel,
    .calibration = ibm_calibration,
    .submitted_count = ibm_count,
};
