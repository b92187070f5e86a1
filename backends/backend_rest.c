/*
 * backends/backend_rest.c — the part every REST QPU backend shares (see rest_impl.h):
 * option tables, the HTTP client and the submission / polling error policy, the result
 * cache, the calibration refresh rule, readout relabelling, run-length lists, test hooks.
 * Provider specifics live in backend_ionq.c, backend_ibm.c and backend_braket.c.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/rest_impl.h"

/* ==== options ========================================================================== */

static void ident_put(hq_sbuf *id, const char *key, const char *val) {
    if (!id) return;
    hq_sbuf_printf(id, "%s=%s;", key, val);
}

static hq_status opt_bad(const char *backend, const rest_opt *o, const cJSON *v) {
    const char *got = cJSON_IsString(v)   ? "a string"
                      : cJSON_IsNumber(v) ? "a number"
                      : cJSON_IsBool(v)   ? "a boolean"
                      : cJSON_IsNull(v)   ? "null"
                      : cJSON_IsArray(v)  ? "an array"
                                          : "an object";
    switch (o->type) {
    case REST_OPT_STR:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: option '%s' must be a string of at most %zu characters (got %s)",
                        backend, o->name, o->cap - 1, got);
    case REST_OPT_NUM:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: option '%s' must be a number in [%g, %g]",
                        backend, o->name, o->lo, o->hi);
    case REST_OPT_INT:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: option '%s' must be an integer in [%.0f, %.0f]", backend, o->name,
                        o->lo, o->hi);
    case REST_OPT_BOOL:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: option '%s' must be true or false (got %s)",
                        backend, o->name, got);
    case REST_OPT_TRI:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: option '%s' must be true, false or null (got %s)", backend, o->name,
                        got);
    case REST_OPT_OBJECT:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: option '%s' must be a JSON object (got %s)",
                        backend, o->name, got);
    case REST_OPT_PRICES:
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: option '%s' must be {\"per_job\": USD, \"per_circuit\": USD, "
                        "\"per_shot\": USD} with values in [0, 1e9]",
                        backend, o->name);
    }
    return HQ_ERR_INVALID_ARG;
}

static hq_status read_opt(const char *backend, const rest_opt *o, const cJSON *v, hq_sbuf *id) {
    char buf[64];
    switch (o->type) {
    case REST_OPT_STR:
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= o->cap) return opt_bad(backend, o, v);
        snprintf((char *)o->dst, o->cap, "%s", v->valuestring);
        if (o->ident) ident_put(id, o->name, v->valuestring);
        return HQ_OK;
    case REST_OPT_NUM:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < o->lo ||
            v->valuedouble > o->hi)
            return opt_bad(backend, o, v);
        *(double *)o->dst = v->valuedouble;
        break;
    case REST_OPT_INT:
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < o->lo || v->valuedouble > o->hi)
            return opt_bad(backend, o, v);
        *(int64_t *)o->dst = (int64_t)v->valuedouble;
        break;
    case REST_OPT_BOOL:
        if (!cJSON_IsBool(v)) return opt_bad(backend, o, v);
        *(bool *)o->dst = cJSON_IsTrue(v);
        break;
    case REST_OPT_TRI:
        if (!cJSON_IsBool(v) && !cJSON_IsNull(v)) return opt_bad(backend, o, v);
        *(int *)o->dst = cJSON_IsNull(v) ? -1 : cJSON_IsTrue(v) ? 1 : 0;
        break;
    case REST_OPT_OBJECT: {
        if (!cJSON_IsObject(v)) return opt_bad(backend, o, v);
        char *t = cJSON_PrintUnformatted(v);
        if (!t) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", backend);
        char **dst = (char **)o->dst;
        hq_free(*dst);
        *dst = hq_strdup(t);
        if (o->ident) ident_put(id, o->name, t);
        cJSON_free(t);
        if (!*dst) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", backend);
        return HQ_OK;
    }
    case REST_OPT_PRICES: {
        if (!cJSON_IsObject(v)) return opt_bad(backend, o, v);
        static const char *const keys[3] = {"per_job", "per_circuit", "per_shot"};
        double *p = (double *)o->dst;
        for (const cJSON *it = v->child; it; it = it->next) {
            int k = 0;
            while (k < 3 && strcmp(it->string, keys[k])) k++;
            if (k == 3)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: option '%s': unknown key '%s' (known: per_job, "
                                "per_circuit, per_shot)",
                                backend, o->name, it->string);
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 1e9))
                return opt_bad(backend, o, v);
            p[k] = it->valuedouble;
        }
        return HQ_OK;
    }
    }
    if (o->ident) {
        snprintf(buf, sizeof buf, "%.17g",
                 cJSON_IsBool(v) ? (double)cJSON_IsTrue(v) : v->valuedouble);
        ident_put(id, o->name, cJSON_IsNull(v) ? "null" : buf);
    }
    return HQ_OK;
}

hq_status rest_parse_options(const char *backend, const char *json, const rest_opt *opt, int n,
                             hq_sbuf *id_extra) {
    if (!json) return HQ_OK;
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: options are not a JSON object: %.80s", backend,
                        json);
    }
    hq_status st = HQ_OK;
    for (const cJSON *it = o->child; it && st == HQ_OK; it = it->next) {
        const rest_opt *r = NULL;
        for (int k = 0; k < n && !r; k++)
            if (!strcmp(opt[k].name, it->string)) r = &opt[k];
        if (!r) {
            hq_sbuf known = HQ_SBUF_INIT;
            for (int k = 0; k < n; k++) hq_sbuf_printf(&known, "%s%s", k ? ", " : "", opt[k].name);
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: unknown option '%s' (known: %s)", backend,
                          it->string, known.p ? known.p : "");
            hq_sbuf_free(&known);
            break;
        }
        st = read_opt(backend, r, it, id_extra);
        if (st == HQ_OK && r->seen) *r->seen = true;
    }
    cJSON_Delete(o);
    return st;
}

/* ==== common ============================================================================ */

void rest_common_init(rest_common *rc, const char *provider, const char *name, const char *url) {
    rc->provider = provider;
    rc->name = name;
    snprintf(rc->url, sizeof rc->url, "%s", url ? url : "");
    rc->timeout_s = 60;
    rc->submit_timeout_s = 120;
    rc->connect_timeout_s = 10;
    rc->max_tries = 5;
    rc->retry_base_s = 1;
    rc->retry_max_s = 60;
    rc->max_retry_after_s = 120;
    rc->max_circuits = 1000;
    rc->max_in_flight = 4;
    rc->max_shots = 100000;
    rc->max_qubits = 32;
    rc->seconds_per_job = 60;
    rc->seconds_per_shot = 1e-3;
    rc->poll_failures_max = 20;
    rc->calib.refresh_s = 600;
}

#define ROW_NUM(N, D, LO, HI) \
    { N, REST_OPT_NUM, D, 0, LO, HI, false, NULL }
#define ROW_INT(N, D, LO, HI) \
    { N, REST_OPT_INT, D, 0, LO, HI, false, NULL }

int rest_common_options(rest_common *rc, rest_opt *tab) {
    rest_opt rows[] = {
        {"url", REST_OPT_STR, rc->url, sizeof rc->url, 0, 0, false, NULL},
        ROW_NUM("timeout_s", &rc->timeout_s, 0.05, 3600),
        ROW_NUM("submit_timeout_s", &rc->submit_timeout_s, 0.05, 3600),
        ROW_NUM("connect_timeout_s", &rc->connect_timeout_s, 0.05, 600),
        ROW_INT("max_tries", &rc->max_tries, 1, 20),
        ROW_NUM("retry_base_s", &rc->retry_base_s, 0, 600),
        ROW_NUM("retry_max_s", &rc->retry_max_s, 0, 3600),
        ROW_NUM("max_retry_after_s", &rc->max_retry_after_s, 0, 86400),
        {"ca_file", REST_OPT_STR, rc->ca_file, sizeof rc->ca_file, 0, 0, false, NULL},
        {"prices", REST_OPT_PRICES, rc->prices, 0, 0, 0, false, NULL},
        ROW_INT("max_circuits", &rc->max_circuits, 1, 1000000),
        ROW_INT("max_in_flight", &rc->max_in_flight, 1, 1000),
        ROW_INT("max_shots", &rc->max_shots, 1, 1000000000),
        ROW_INT("max_qubits", &rc->max_qubits, 1, 64),
        ROW_NUM("seconds_per_job", &rc->seconds_per_job, 0, 1e9),
        ROW_NUM("seconds_per_shot", &rc->seconds_per_shot, 0, 1e6),
        ROW_NUM("calibration_refresh_s", &rc->calib.refresh_s, 0, 1e9),
        ROW_INT("poll_failures_max", &rc->poll_failures_max, 1, 1000000),
    };
    _Static_assert(sizeof rows / sizeof *rows <= REST_COMMON_OPTS, "REST_COMMON_OPTS too small");
    memcpy(tab, rows, sizeof rows);
    return (int)HQ_ARRAY_LEN(rows);
}

hq_status rest_common_check(rest_common *rc) {
    size_t n = strlen(rc->url);
    while (n > 0 && rc->url[n - 1] == '/') rc->url[--n] = '\0';
    if (!n) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: option 'url' is empty", rc->name);
    hq_status st = hq_http_check_url(rc->url);
    if (st) return hq_fail_prefix(NULL, st, "%s: option 'url'", rc->name);
    if (rc->retry_max_s < rc->retry_base_s) rc->retry_max_s = rc->retry_base_s;
    return HQ_OK;
}

void rest_common_free(rest_common *rc) {
    hq_http_free(rc->http);
    rc->http = NULL;
    for (int i = 0; i < REST_CACHE_N; i++) {
        for (int64_t k = 0; rc->cache[i].counts && k < rc->cache[i].n; k++)
            hq_counts_free(&rc->cache[i].counts[k]);
        HQ_FREE(rc->cache[i].counts);
        rc->cache[i].id[0] = '\0';
    }
}

void rest_common_caps(const rest_common *rc, hq_backend_caps *out) {
    out->max_qubits = (int)rc->max_qubits;
    out->sampled = true;
    out->max_circuits_per_job = (int)rc->max_circuits;
    out->max_shots = rc->max_shots;
    out->find_by_token = true;
    out->max_jobs_in_flight = (int)rc->max_in_flight;
    out->price_per_job = rc->prices[0];
    out->price_per_circuit = rc->prices[1];
    out->price_per_shot = rc->prices[2];
    out->seconds_per_job = rc->seconds_per_job;
    out->seconds_per_shot = rc->seconds_per_shot;
}

/* ==== HTTP =============================================================================== */

static hq_http_hooks g_hooks;
static bool g_have_hooks;

void hq_rest_set_test_hooks(const hq_http_hooks *hooks) {
    g_have_hooks = hooks != NULL;
    if (hooks)
        g_hooks = *hooks;
    else
        memset(&g_hooks, 0, sizeof g_hooks);
}

static hq_status ensure_http(rest_common *rc) {
    if (rc->http) return HQ_OK;
    hq_http_options o;
    memset(&o, 0, sizeof o);
    o.connect_timeout_ms = (long)(rc->connect_timeout_s * 1000);
    o.timeout_ms = (long)(rc->timeout_s * 1000);
    o.ca_file = rc->ca_file[0] ? rc->ca_file : NULL;
    o.jitter_seed = (uint64_t)(hq_time_wall() * 1e6);
    o.policy.max_tries = (int)rc->max_tries;
    o.policy.base_delay_s = rc->retry_base_s > 0 ? rc->retry_base_s : 1e-3;
    o.policy.max_delay_s = rc->retry_max_s > 0 ? rc->retry_max_s : 1e-3;
    o.policy.max_retry_after_s = rc->max_retry_after_s > 0 ? rc->max_retry_after_s : 1e-3;
    o.policy.retry_409_get = true;
    if (g_have_hooks) o.hooks = g_hooks;
    hq_status st = hq_http_create(&o, &rc->http);
    if (st) return hq_fail_prefix(NULL, st, "%s", rc->name);
    return HQ_OK;
}

hq_status rest_perform(rest_common *rc, hq_http_method m, const char *url, const hq_http_header *hd,
                       int n_hd, const void *body, size_t body_len, bool idempotent,
                       double timeout_s, hq_http_response *rs) {
    memset(rs, 0, sizeof *rs);
    rs->retry_after_s = -1;
    hq_status st = ensure_http(rc);
    if (st) return st;
    hq_http_request rq = {.method = m,
                          .url = url,
                          .headers = hd,
                          .n_headers = n_hd,
                          .body = body,
                          .body_len = body_len,
                          .idempotent = idempotent,
                          .timeout_ms = timeout_s > 0 ? (long)(timeout_s * 1000) : 0,
                          .max_tries = rc->next_max_tries};
    rc->next_max_tries = 0;
    double t0 = hq_time_now();
    st = hq_http_perform(rc->http, &rq, rs);
    rc->last_status = rs->status;
    rc->t_http += hq_time_now() - t0;
    rc->n_requests++;
    if (st == HQ_OK) return HQ_OK;
    const char *hint = "";
    if (rc->emulator && rs->status == 0 && st == HQ_ERR_NETWORK)
        hint =
            " ---> HINT: is the emulator running there (`hqcnn emulator --profile ... --port N`)? "
            "Set the backend option \"port\" or \"url\" to its address";
    return hq_fail_prefix(NULL, st, "%s%s", rc->provider, hint);
}

hq_status rest_get_parsed(rest_common *rc, const char *url, const hq_http_header *hd, int n_hd,
                          rest_parse_fn parse, void *user) {
    hq_status st = HQ_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        hq_http_response rs;
        st = rest_perform(rc, HQ_HTTP_GET, url, hd, n_hd, NULL, 0, true, 0, &rs);
        if (st == HQ_OK) {
            double t0 = hq_time_now();
            st = parse(user, rs.body, rs.body_len);
            rc->t_digest += hq_time_now() - t0;
        }
        hq_http_response_free(&rs);
        if (st != HQ_ERR_PARSE) return st;
        HQ_LOGW("%s: malformed reply (%s); fetching it again", rc->provider, hq_last_error());
        if (attempt < 2) {
            double d = rc->retry_base_s * 0.25 * (attempt + 1);
            if (g_have_hooks && g_hooks.sleep)
                g_hooks.sleep(g_hooks.user, d);
            else
                hq_sleep_ms((long)(d * 1000));
        }
    }
    return st;
}

static bool unknown_fate(hq_status st, long status) {
    if (st == HQ_ERR_NETWORK || st == HQ_ERR_TIMEOUT || st == HQ_ERR_PARSE) return true;
    if (st == HQ_ERR_HTTP) return status == 0 || status == 408 || status == 429 || status >= 500;
    return false;
}

hq_status rest_submit_outcome(rest_common *rc, hq_status st) {
    long status = rc->last_status;
    if (st == HQ_OK || !unknown_fate(st, status)) return st;
    hq_status out = st == HQ_ERR_TIMEOUT ? HQ_ERR_TIMEOUT : HQ_ERR_NETWORK;
    const char *why = status == 429        ? "it was rate-limited; "
                      : status >= 500      ? "the provider answered with a server error; "
                      : st == HQ_ERR_PARSE ? "its reply could not be read; "
                                           : "";
    return hq_fail_prefix(NULL, out,
                          "%s: the job may or may not have been accepted (%sit will be looked up "
                          "by its client token before it is sent again)",
                          rc->name, why);
}

hq_status rest_poll_outcome(rest_common *rc, hq_status st, const char *remote_id) {
    long status = rc->last_status;
    if (st == HQ_OK) return HQ_OK;
    if (!unknown_fate(st, status)) return st;
    rc->poll_failures++;
    if (rc->poll_failures >= rc->poll_failures_max)
        return hq_fail_prefix(NULL, HQ_ERR_BACKEND,
                              "%s: %d polls of job %s failed in a row; the run is saved — resume "
                              "it when %s answers again; last failure",
                              rc->name, rc->poll_failures, remote_id, rc->provider);
    return hq_fail_prefix(NULL, st == HQ_ERR_TIMEOUT ? HQ_ERR_TIMEOUT : HQ_ERR_NETWORK,
                          "%s: polling job %s failed (%d in a row; polling again later)", rc->name,
                          remote_id, rc->poll_failures);
}

void rest_poll_ok(rest_common *rc) { rc->poll_failures = 0; }

hq_status rest_url(const rest_common *rc, char *out, size_t cap, const char *path,
                   const char *query) {
    int n = snprintf(out, cap, "%s%s%s%s", rc->url, path, query ? "?" : "", query ? query : "");
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: URL too long (%d bytes, limit %zu)",
                        rc->name, n, cap - 1);
    return HQ_OK;
}

/* ==== result cache, calibration ========================================================= */

static void cache_clear(rest_cached *e) {
    for (int64_t k = 0; e->counts && k < e->n; k++) hq_counts_free(&e->counts[k]);
    HQ_FREE(e->counts);
    e->id[0] = '\0';
    e->n = 0;
}

void rest_cache_put(rest_common *rc, const char *id, int64_t n, hq_counts *counts) {
    int slot = -1;
    for (int i = 0; i < REST_CACHE_N; i++)
        if (!strcmp(rc->cache[i].id, id)) slot = i;
    for (int i = 0; i < REST_CACHE_N && slot < 0; i++)
        if (!rc->cache[i].id[0]) slot = i;
    if (slot < 0) {
        slot = 0;
        for (int i = 1; i < REST_CACHE_N; i++)
            if (rc->cache[i].age < rc->cache[slot].age) slot = i;
    }
    cache_clear(&rc->cache[slot]);
    rest_cached *e = &rc->cache[slot];
    snprintf(e->id, sizeof e->id, "%s", id);
    e->n = n;
    e->counts = counts;
    e->age = ++rc->cache_clock;
}

bool rest_cache_take(rest_common *rc, const char *id, int64_t n, hq_counts *out) {
    for (int i = 0; i < REST_CACHE_N; i++) {
        rest_cached *e = &rc->cache[i];
        if (!e->id[0] || strcmp(e->id, id)) continue;
        if (e->n != n) return false;
        for (int64_t k = 0; k < n; k++) {
            hq_counts_free(&out[k]);
            out[k] = e->counts[k]; /* move */
            memset(&e->counts[k], 0, sizeof e->counts[k]);
        }
        e->n = 0;
        cache_clear(e);
        return true;
    }
    return false;
}

bool rest_calib_due(const rest_calib *c, double now) {
    return !c->id[0] || c->stale || now - c->fetched_at >= c->refresh_s;
}

void rest_calib_set(rest_calib *c, const char *id, double now) {
    snprintf(c->id, sizeof c->id, "%s", id && *id ? id : "unknown");
    c->fetched_at = now;
    c->stale = false;
}

/* ==== circuits =========================================================================== */

/* An empty circuit with one qreg of n qubits, c's classical registers (or one register "c"
 * of all bits when flat) and c's symbols in order. */
static hq_status shell_like(const hq_circuit *c, int n_qubits, bool flat, hq_circuit **out) {
    hq_circuit *d;
    hq_status st = hq_circuit_create(&d);
    if (st) return st;
    st = hq_circuit_add_qreg(d, "q", n_qubits, NULL);
    if (flat) {
        if (st == HQ_OK && hq_circuit_n_clbits(c) > 0)
            st = hq_circuit_add_creg(d, "c", hq_circuit_n_clbits(c), NULL);
    } else {
        for (int i = 0; st == HQ_OK && i < hq_circuit_n_cregs(c); i++) {
            hq_reg r = hq_circuit_creg(c, i);
            st = hq_circuit_add_creg(d, r.name, r.size, NULL);
        }
    }
    for (int s = 0; st == HQ_OK && s < hq_circuit_n_symbols(c); s++)
        st = hq_circuit_add_symbol(d, hq_circuit_symbol_name(c, s), hq_circuit_symbol_kind(c, s),
                                   NULL);
    if (st) {
        hq_circuit_free(d);
        return st;
    }
    *out = d;
    return HQ_OK;
}

static bool has_conditions(const hq_circuit *c) {
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++)
        if (ops[i].cond_creg >= 0) return true;
    return false;
}

hq_status rest_readout_relabel(const char *fn, const hq_circuit *c, hq_circuit **out,
                               int *n_clbits) {
    *out = NULL;
    *n_clbits = 0;
    int nq = hq_circuit_n_qubits(c), m = hq_circuit_n_clbits(c);
    if (m < 1 || hq_circuit_count_gate(c, HQ_GATE_MEASURE) == 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the circuit measures nothing; add measurements (they define the "
                        "classical bits the results are read from)",
                        fn);
    if (m > 64)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "%s: %d classical bits, more than 64", fn, m);
    if (has_conditions(c))
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: classical conditions (if) are not supported by this provider", fn);
    int *qof = hq_malloc((size_t)m * sizeof *qof);    /* qubit measured into clbit k */
    int *perm = hq_malloc((size_t)nq * sizeof *perm); /* new index of old qubit q */
    int *cof = hq_malloc((size_t)nq * sizeof *cof);   /* clbit qubit q is measured into */
    if (!qof || !perm || !cof) {
        hq_free(qof), hq_free(perm), hq_free(cof);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (int k = 0; k < m; k++) qof[k] = -1;
    for (int q = 0; q < nq; q++) cof[q] = -1;
    hq_status st = HQ_OK;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; st == HQ_OK && i < hq_circuit_n_ops(c); i++) {
        if (ops[i].gate != HQ_GATE_MEASURE) continue;
        int q = ops[i].q[0], k = ops[i].clbit;
        if (cof[q] >= 0)
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: qubit %d is measured twice (operation %" PRId64
                          "); this provider measures each qubit once, at the end",
                          fn, q, i);
        else if (qof[k] >= 0)
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: classical bit %d is written by two measurements (operation %" PRId64
                          ")",
                          fn, k, i);
        else
            cof[q] = k, qof[k] = q;
    }
    int fresh = 0;
    for (int k = 0; k < m; k++) fresh += qof[k] < 0;
    bool identity = fresh == 0;
    for (int q = 0; q < nq && identity; q++) identity = cof[q] == q || (cof[q] < 0 && q >= m);
    if (st == HQ_OK && !identity) {
        int next = m;
        for (int q = 0; q < nq; q++) perm[q] = cof[q] >= 0 ? cof[q] : next++;
        hq_circuit *d = NULL;
        st = shell_like(c, nq + fresh, false, &d);
        if (st == HQ_OK) st = hq_circuit_append(d, c, perm, NULL);
        if (st == HQ_OK)
            *out = d;
        else
            hq_circuit_free(d);
    }
    hq_free(qof), hq_free(perm), hq_free(cof);
    if (st == HQ_OK) *n_clbits = m;
    return st;
}

hq_status rest_flatten_cregs(const char *fn, const hq_circuit *c, hq_circuit **out) {
    *out = NULL;
    if (hq_circuit_n_cregs(c) <= 1) return HQ_OK;
    if (has_conditions(c))
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: a circuit with classical conditions must have a single classical "
                        "register (it has %d)",
                        fn, hq_circuit_n_cregs(c));
    hq_circuit *d = NULL;
    hq_status st = shell_like(c, hq_circuit_n_qubits(c), true, &d);
    if (st == HQ_OK) st = hq_circuit_append(d, c, NULL, NULL);
    if (st) {
        hq_circuit_free(d);
        return st;
    }
    *out = d;
    return HQ_OK;
}

void rest_rle_encode(const int *v, int n, hq_sbuf *out) {
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && v[j] == v[i]) j++;
        if (i) hq_sbuf_putc(out, ',');
        if (j - i == 1)
            hq_sbuf_printf(out, "%d", v[i]);
        else
            hq_sbuf_printf(out, "%d*%d", v[i], j - i);
        i = j;
    }
}

hq_status rest_rle_decode(const char *s, int *v, int n) {
    int k = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        long val = strtol(p, &end, 10);
        if (end == p || val < 0 || val > 1000000) break;
        long rep = 1;
        p = end;
        if (*p == '*') {
            rep = strtol(p + 1, &end, 10);
            if (end == p + 1 || rep < 1) break;
            p = end;
        }
        if (k + rep > n) break;
        for (long r = 0; r < rep; r++) v[k++] = (int)val;
        if (*p == ',')
            p++;
        else if (*p)
            break;
        else
            return k == n ? HQ_OK
                          : hq_failf(NULL, HQ_ERR_PARSE,
                                     "run-length list '%.60s' has %d values, "
                                     "expected %d",
                                     s, k, n);
    }
    return hq_failf(NULL, HQ_ERR_PARSE,
                    "malformed run-length list '%.60s' (expected e.g. \"4*12,3\" with %d values)",
                    s ? s : "(null)", n);
}

typedef struct stats_req {
    int64_t n;
    const char *family;
} stats_req;

static hq_status parse_stats_cb(void *user, const char *body, size_t len) {
    stats_req *r = user;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "jobs"), "stored"),
        r->family);
    hq_status st = HQ_OK;
    if (cJSON_IsNumber(v))
        r->n = (int64_t)v->valuedouble;
    else
        st = hq_failf(NULL, HQ_ERR_PARSE, "emulator stats: no jobs.stored.%s", r->family);
    cJSON_Delete(o);
    return st;
}

hq_status rest_emulator_stored(rest_common *rc, const char *family, int64_t *n) {
    char url[REST_URL_MAX + 32];
    hq_status st = rest_url(rc, url, sizeof url, "/_emu/stats", NULL);
    stats_req r = {0, family};
    if (st == HQ_OK) st = rest_get_parsed(rc, url, NULL, 0, parse_stats_cb, &r);
    if (st == HQ_OK) *n = r.n;
    return st;
}

const char *rest_getenv_first(const char *const *names) {
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return v;
    }
    return NULL;
}

hq_status hq_rest_get_timing(hq_backend *b, hq_rest_timing *out) {
    const hq_backend_ops *ops = NULL;
    void *ctx = hq_backend_impl_ctx(b, &ops);
    if (!ctx || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_rest_get_timing: bad argument");
    if (ops != &hq_backend_ionq_ops && ops != &hq_backend_emulator_ionq_ops &&
        ops != &hq_backend_ibm_ops && ops != &hq_backend_emulator_ibm_ops &&
        ops != &hq_backend_braket_ops)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "hq_rest_get_timing: %s is not a REST backend",
                        ops ? ops->name : "?");
    const rest_common *rc = ctx;
    out->build_s = rc->t_build;
    out->digest_s = rc->t_digest;
    out->http_s = rc->t_http;
    out->requests = rc->n_requests;
    return HQ_OK;
}
