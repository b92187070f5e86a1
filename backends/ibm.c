/*
 * backends/ibm.c — IBM Quantum Runtime bodies and parsers: IAM token exchange and refresh
 * rule, Sampler V2 job and session bodies, job status, results (hex samples per classical
 * register and binding, Qiskit bit order) and the backend list. See ibm.h.
 */
#include "backends/ibm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/qpu_impl.h"

/* ==== IAM ============================================================================== */

hq_status hq_ibm_iam_request_body(const char *api_key, hq_sbuf *out) {
    if (!api_key || !*api_key || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: no API key", __func__);
    hq_sbuf_puts(out, "grant_type=");
    hq_http_url_encode(out, "urn:ibm:params:oauth:grant-type:apikey", NULL);
    hq_sbuf_puts(out, "&apikey=");
    hq_http_url_encode(out, api_key, NULL);
    return out->oom ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__) : HQ_OK;
}

void hq_ibm_token_free(hq_ibm_token *t) {
    if (!t || !t->access_token) return;
    hq_secret_unregister(t->access_token);
    volatile char *v = t->access_token;
    size_t n = strlen(t->access_token);
    for (size_t i = 0; i < n; i++) v[i] = 0;
    hq_free(t->access_token);
    t->access_token = NULL;
    t->expiration = 0;
}

bool hq_ibm_token_needs_refresh(const hq_ibm_token *t, double now) {
    return !t || !t->access_token || now >= t->expiration - HQ_IBM_REFRESH_MARGIN_S;
}

hq_status hq_ibm_parse_iam_token(const char *body, size_t len, double now, hq_ibm_token *out) {
    static const char *fn = "hq_ibm_parse_iam_token";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "IAM token response", body, len, &st);
    if (!j) return st;
    char code[64], msg[300];
    const cJSON *tok = qpu_get(j, "access_token");
    if (!cJSON_IsString(tok) || !*tok->valuestring) {
        if (qpu_get_str(j, "errorCode", code, sizeof code)) {
            qpu_get_str(j, "errorMessage", msg, sizeof msg);
            st = hq_failf(NULL, HQ_ERR_AUTH,
                          "%s: IAM refused the API key: %s %s ---> HINT: check "
                          "IBM_QUANTUM_API_KEY / IBM_CLOUD_API_KEY",
                          fn, code, msg);
        } else {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"access_token\" is %s, expected a string", fn,
                          qpu_type_name(tok));
        }
        goto done;
    }
    int64_t exp = 0, ein = 0;
    double expiration;
    if (qpu_get_i64(j, "expiration", 1, INT64_MAX / 2, &exp))
        expiration = (double)exp;
    else if (qpu_get_i64(j, "expires_in", 1, 100 * 365 * 86400LL, &ein))
        expiration = now + (double)ein;
    else {
        st = hq_failf(NULL, HQ_ERR_PARSE,
                      "%s: the token has neither a usable \"expiration\" nor \"expires_in\"", fn);
        goto done;
    }
    out->access_token = hq_strdup(tok->valuestring);
    if (!out->access_token) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    out->expiration = expiration;
    hq_secret_register(out->access_token);
    st = HQ_OK;
done:
    cJSON_Delete(j);
    return st;
}

hq_status hq_ibm_headers(const hq_ibm_token *t, const char *crn, const char *api_version,
                         hq_http_header hd[HQ_IBM_N_HEADERS], char *auth_buf, size_t auth_cap) {
    if (!t || !t->access_token || !crn || !*crn || !hd || !auth_buf)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: need a token, a service CRN and buffers",
                        __func__);
    int n = snprintf(auth_buf, auth_cap, "Bearer %s", t->access_token);
    if (n < 0 || (size_t)n >= auth_cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the token does not fit in %zu bytes",
                        __func__, auth_cap);
    hd[0] = (hq_http_header){"Authorization", auth_buf};
    hd[1] = (hq_http_header){"Service-CRN", crn};
    hd[2] = (hq_http_header){"IBM-API-Version", api_version ? api_version : HQ_IBM_API_VERSION};
    hd[3] = (hq_http_header){"Content-Type", "application/json"};
    hd[4] = (hq_http_header){"Accept", "application/json"};
    return HQ_OK;
}

/* ==== Sampler job ====================================================================== */

static void num(hq_sbuf *b, double v) {
    if (v == 0) v = 0;
    hq_sbuf_put_double(b, v);
}

hq_status hq_ibm_build_sampler_job(const hq_ibm_job_spec *sp, hq_sbuf *out) {
    static const char *fn = "hq_ibm_build_sampler_job";
    if (!sp || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!sp->backend || !*sp->backend)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: no backend (\"ibm_fez\", ...)", fn);
    if (sp->n_pubs < 1 || !sp->pubs)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d PUBs (need at least one)", fn,
                        sp->n_pubs);
    if (sp->default_shots < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: default_shots %lld must be >= 0", fn,
                        (long long)sp->default_shots);
    if (sp->n_tags < 0 || (sp->n_tags && !sp->tags))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: bad tags", fn);
    for (int i = 0; i < sp->n_pubs; i++) {
        const hq_ibm_pub *p = &sp->pubs[i];
        if (!p->qasm3 || !*p->qasm3)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: PUB %d has no circuit", fn, i);
        if (p->shots < 0)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: PUB %d: shots %lld must be >= 0", fn, i,
                            (long long)p->shots);
        if (p->n_params < 0 || p->n_bindings < 0 ||
            (p->n_bindings > 0 && (p->n_params < 1 || !p->param_names || !p->param_values)))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: PUB %d: %d bindings of %d parameters need names and values", fn, i,
                            p->n_bindings, p->n_params);
        for (int64_t k = 0; k < (int64_t)p->n_bindings * p->n_params; k++)
            if (!isfinite(p->param_values[k]))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: PUB %d: parameter value %lld is not finite", fn, i,
                                (long long)k);
        for (int k = 0; k < p->n_params && p->n_bindings; k++)
            if (!p->param_names[k] || !*p->param_names[k])
                return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: PUB %d: parameter %d has no name",
                                fn, i, k);
    }
    cJSON *opts = NULL;
    if (sp->options_json) {
        opts = cJSON_Parse(sp->options_json);
        if (!cJSON_IsObject(opts)) {
            cJSON_Delete(opts);
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: options_json is not a JSON object", fn);
        }
    }
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b, "{\"program_id\":\"sampler\",\"backend\":");
    hq_sbuf_put_json_str(&b, sp->backend);
    hq_sbuf_puts(&b, ",\"params\":{\"pubs\":[");
    for (int i = 0; i < sp->n_pubs; i++) {
        const hq_ibm_pub *p = &sp->pubs[i];
        if (i) hq_sbuf_putc(&b, ',');
        hq_sbuf_putc(&b, '[');
        hq_sbuf_put_json_str(&b, p->qasm3);
        if (p->n_bindings == 0 && p->shots == 0) {
            hq_sbuf_putc(&b, ']'); /* [circuit] */
            continue;
        }
        hq_sbuf_putc(&b, ',');
        if (p->n_bindings == 0) {
            hq_sbuf_puts(&b, "null");
        } else {
            hq_sbuf_putc(&b, '{');
            for (int k = 0; k < p->n_params; k++) {
                if (k) hq_sbuf_putc(&b, ',');
                hq_sbuf_put_json_str(&b, p->param_names[k]);
                hq_sbuf_putc(&b, ':');
                if (p->n_bindings == 1) {
                    num(&b, p->param_values[k]);
                } else {
                    hq_sbuf_putc(&b, '[');
                    for (int r = 0; r < p->n_bindings; r++) {
                        if (r) hq_sbuf_putc(&b, ',');
                        num(&b, p->param_values[(int64_t)r * p->n_params + k]);
                    }
                    hq_sbuf_putc(&b, ']');
                }
            }
            hq_sbuf_putc(&b, '}');
        }
        if (p->shots > 0) hq_sbuf_printf(&b, ",%lld", (long long)p->shots);
        hq_sbuf_putc(&b, ']');
    }
    hq_sbuf_putc(&b, ']');
    if (sp->default_shots > 0) hq_sbuf_printf(&b, ",\"shots\":%lld", (long long)sp->default_shots);
    hq_sbuf_puts(&b, ",\"version\":2");
    if (opts) {
        char *o = cJSON_PrintUnformatted(opts);
        if (o) {
            hq_sbuf_puts(&b, ",\"options\":");
            hq_sbuf_puts(&b, o);
            cJSON_free(o);
        } else {
            b.oom = true;
        }
        cJSON_Delete(opts);
    }
    hq_sbuf_putc(&b, '}');
    if (sp->client_token || sp->n_tags) {
        hq_sbuf_puts(&b, ",\"tags\":[");
        bool first = true;
        if (sp->client_token) {
            hq_sbuf b2 = HQ_SBUF_INIT;
            hq_sbuf_printf(&b2, "hqcnn-token:%s", sp->client_token);
            hq_sbuf_put_json_str(&b, b2.p ? b2.p : "");
            b.oom |= b2.oom;
            hq_sbuf_free(&b2);
            first = false;
        }
        for (int i = 0; i < sp->n_tags; i++) {
            if (!first) hq_sbuf_putc(&b, ',');
            first = false;
            hq_sbuf_put_json_str(&b, sp->tags[i] ? sp->tags[i] : "");
        }
        hq_sbuf_putc(&b, ']');
    }
    if (sp->session_id) {
        hq_sbuf_puts(&b, ",\"session_id\":");
        hq_sbuf_put_json_str(&b, sp->session_id);
    }
    hq_sbuf_putc(&b, '}');
    hq_status st = HQ_OK;
    if (b.oom)
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    else {
        hq_sbuf_append(out, b.p, b.len);
        if (out->oom) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    }
    hq_sbuf_free(&b);
    return st;
}

hq_status hq_ibm_build_session(const char *backend, const char *mode, int64_t max_ttl_s,
                               hq_sbuf *out) {
    if (!backend || !*backend || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: no backend", __func__);
    if (!mode) mode = "batch";
    if (strcmp(mode, "batch") && strcmp(mode, "dedicated"))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: mode '%s' must be \"batch\" or \"dedicated\"", __func__, mode);
    if (max_ttl_s < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: max_ttl %lld must be >= 0 (0 = omit)",
                        __func__, (long long)max_ttl_s);
    hq_sbuf_puts(out, "{\"backend\":");
    hq_sbuf_put_json_str(out, backend);
    hq_sbuf_printf(out, ",\"mode\":\"%s\"", mode);
    if (max_ttl_s > 0) hq_sbuf_printf(out, ",\"max_ttl\":%lld", (long long)max_ttl_s);
    hq_sbuf_putc(out, '}');
    return out->oom ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__) : HQ_OK;
}

void hq_ibm_build_session_close(hq_sbuf *out) { hq_sbuf_puts(out, "{\"accepting_jobs\":false}"); }

/* ==== job ============================================================================== */

hq_status hq_ibm_parse_create(const char *body, size_t len, hq_qpu_job_status *out) {
    static const char *fn = "hq_ibm_parse_create";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    qpu_status_init(out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "create response", body, len, &st);
    if (!j) return st;
    const cJSON *id = qpu_get(j, "id");
    if (!cJSON_IsString(id) || !*id->valuestring) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"id\" is %s, expected a non-empty string", fn,
                      qpu_type_name(id));
    } else {
        snprintf(out->id, sizeof out->id, "%s", id->valuestring);
        qpu_get_str(j, "backend", out->backend, sizeof out->backend);
        out->state = HQ_QPU_PENDING;
    }
    cJSON_Delete(j);
    return st;
}

static hq_qpu_state map_ibm(const char *s, bool *unknown) {
    *unknown = false;
    if (qpu_streq_ci(s, "queued")) return HQ_QPU_QUEUED;
    if (qpu_streq_ci(s, "running")) return HQ_QPU_RUNNING;
    if (qpu_streq_ci(s, "completed")) return HQ_QPU_COMPLETED;
    if (qpu_streq_ci(s, "failed")) return HQ_QPU_FAILED;
    if (qpu_streq_ci(s, "cancelled") || qpu_streq_ci(s, "canceled")) return HQ_QPU_CANCELLED;
    if (s && !strncasecmp(s, "cancelled", 9)) return HQ_QPU_CANCELLED; /* "Cancelled - Ran.." */
    *unknown = true;
    return HQ_QPU_PENDING;
}

hq_status hq_ibm_parse_job(const char *body, size_t len, hq_qpu_job_status *out) {
    static const char *fn = "hq_ibm_parse_job";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    qpu_status_init(out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "job", body, len, &st);
    if (!j) return st;
    if (!cJSON_IsObject(j)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: expected a JSON object, got %s", fn,
                      qpu_type_name(j));
        goto done;
    }
    if (!qpu_get_str(j, "id", out->id, sizeof out->id) || !out->id[0]) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"id\" is %s, expected a non-empty string", fn,
                      qpu_type_name(qpu_get(j, "id")));
        goto done;
    }
    const cJSON *state = qpu_get(j, "state");
    const cJSON *stv = qpu_get(state, "status");
    if (!cJSON_IsString(stv)) stv = qpu_get(j, "status");
    if (!cJSON_IsString(stv)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: job %s has no status (state.status or status is %s)",
                      fn, out->id, qpu_type_name(stv));
        goto done;
    }
    snprintf(out->raw_status, sizeof out->raw_status, "%s", stv->valuestring);
    out->state = map_ibm(stv->valuestring, &out->unknown_status);
    if (out->unknown_status)
        HQ_LOGW("ibm: job %s has unknown status '%s'; treating it as pending", out->id,
                out->raw_status);
    qpu_get_str(j, "backend", out->backend, sizeof out->backend);
    qpu_get_str(j, "session_id", out->session_id, sizeof out->session_id);
    qpu_get_str(state, "reason", out->failure_msg, sizeof out->failure_msg);
    const cJSON *rc = qpu_get(state, "reason_code");
    if (!rc) rc = qpu_get(state, "reasonCode");
    if (cJSON_IsNumber(rc))
        snprintf(out->failure_code, sizeof out->failure_code, "%.0f", rc->valuedouble);
    else if (cJSON_IsString(rc))
        snprintf(out->failure_code, sizeof out->failure_code, "%s", rc->valuestring);
    if (!strcmp(out->failure_code, "1305") && !out->failure_msg[0])
        snprintf(out->failure_msg, sizeof out->failure_msg,
                 "the job ran longer than the maximum execution time");
    if (out->state == HQ_QPU_FAILED && !out->failure_msg[0] && !out->failure_code[0])
        snprintf(out->failure_msg, sizeof out->failure_msg, "(IBM gave no failure reason)");
    st = HQ_OK;
done:
    cJSON_Delete(j);
    return st;
}

/* ==== results ========================================================================== */

void hq_ibm_results_free(hq_ibm_results *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        for (int k = 0; k < r->pubs[i].n_cregs; k++) hq_free(r->pubs[i].cregs[k].samples);
        hq_free(r->pubs[i].cregs);
    }
    hq_free(r->pubs);
    r->pubs = NULL;
    r->n = 0;
}

static bool has_type_key(const cJSON *o) { return cJSON_IsObject(o) && qpu_get(o, "__type__"); }

/* "0x1f" -> value; false on anything else */
static bool parse_hex(const char *s, uint64_t *v) {
    if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2]) return false;
    uint64_t x = 0;
    int nd = 0;
    for (const char *p = s + 2; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return false;
        if (x == 0 && d == 0) continue; /* leading zeros */
        if (++nd > 16) return false;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return true;
}

/* Parse one register {"samples":[..] | [[..],..], "num_bits":n}. */
static hq_status parse_creg(const char *fn, int pub, const char *name, const cJSON *reg,
                            hq_ibm_creg *cr, char *err, size_t ecap) {
    memset(cr, 0, sizeof *cr);
    snprintf(cr->name, sizeof cr->name, "%s", name);
    if (has_type_key(reg)) {
        snprintf(err, ecap,
                 "%s: PUB %d register '%s' is in Qiskit's typed (__type__) encoding, which this "
                 "client does not decode",
                 fn, pub, name);
        return HQ_ERR_UNSUPPORTED;
    }
    int64_t nb;
    if (!qpu_get_i64(reg, "num_bits", 1, 64, &nb)) {
        snprintf(err, ecap, "%s: PUB %d register '%s': num_bits is %s, expected 1..64", fn, pub,
                 name, qpu_type_name(qpu_get(reg, "num_bits")));
        return HQ_ERR_PARSE;
    }
    cr->num_bits = (int)nb;
    const cJSON *s = qpu_get(reg, "samples");
    if (!cJSON_IsArray(s)) {
        snprintf(err, ecap, "%s: PUB %d register '%s': samples is %s, expected an array", fn, pub,
                 name, qpu_type_name(s));
        return HQ_ERR_PARSE;
    }
    int outer = cJSON_GetArraySize(s);
    bool nested = outer > 0 && cJSON_IsArray(cJSON_GetArrayItem(s, 0));
    int nbind = nested ? outer : 1;
    int64_t nshots = nested ? cJSON_GetArraySize(cJSON_GetArrayItem(s, 0)) : outer;
    cr->n_bindings = nbind;
    cr->n_shots = nshots;
    size_t total;
    if (!hq_mul_ok((size_t)nbind, (size_t)(nshots > 0 ? nshots : 1), &total) ||
        !(cr->samples = hq_malloc(total * sizeof *cr->samples))) {
        snprintf(err, ecap, "%s: out of memory", fn);
        return HQ_ERR_NOMEM;
    }
    for (int b = 0; b < nbind; b++) {
        const cJSON *row = nested ? cJSON_GetArrayItem(s, b) : s;
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != nshots) {
            snprintf(err, ecap,
                     "%s: PUB %d register '%s': binding %d has %s samples, expected %lld "
                     "(ragged or mixed arrays)",
                     fn, pub, name, b, cJSON_IsArray(row) ? "a different number of" : "no",
                     (long long)nshots);
            return HQ_ERR_PARSE;
        }
        int64_t k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, row) {
            uint64_t v;
            if (!cJSON_IsString(e) || !parse_hex(e->valuestring, &v)) {
                snprintf(err, ecap,
                         "%s: PUB %d register '%s': sample %lld is not a hex string like "
                         "\"0x3\"",
                         fn, pub, name, (long long)k);
                return HQ_ERR_PARSE;
            }
            if (nb < 64 && (v >> nb)) {
                snprintf(err, ecap, "%s: PUB %d register '%s': sample %s does not fit in %d bits",
                         fn, pub, name, e->valuestring, (int)nb);
                return HQ_ERR_PARSE;
            }
            cr->samples[(int64_t)b * nshots + k++] = v;
        }
    }
    return HQ_OK;
}

static hq_status parse_pub(const char *fn, int i, const cJSON *pr, hq_ibm_pub_result *out) {
    out->status = HQ_OK;
    out->error[0] = '\0';
    if (has_type_key(pr)) {
        snprintf(out->error, sizeof out->error,
                 "%s: PUB %d result is in Qiskit's typed (__type__) encoding, which this client "
                 "does not decode",
                 fn, i);
        return out->status = HQ_ERR_UNSUPPORTED;
    }
    const cJSON *data = qpu_get(pr, "data");
    if (!cJSON_IsObject(data)) {
        snprintf(out->error, sizeof out->error, "%s: PUB %d: data is %s, expected an object", fn, i,
                 qpu_type_name(data));
        return out->status = HQ_ERR_PARSE;
    }
    if (has_type_key(data)) {
        snprintf(out->error, sizeof out->error,
                 "%s: PUB %d data is in Qiskit's typed (__type__) encoding, which this client "
                 "does not decode",
                 fn, i);
        return out->status = HQ_ERR_UNSUPPORTED;
    }
    int n = cJSON_GetArraySize(data);
    if (n == 0) {
        snprintf(out->error, sizeof out->error,
                 "%s: PUB %d has no classical registers (the circuit must measure)", fn, i);
        return out->status = HQ_ERR_PARSE;
    }
    out->cregs = hq_calloc((size_t)n, sizeof *out->cregs);
    if (!out->cregs) {
        snprintf(out->error, sizeof out->error, "%s: out of memory", fn);
        return out->status = HQ_ERR_NOMEM;
    }
    const cJSON *reg;
    cJSON_ArrayForEach(reg, data) {
        hq_ibm_creg *cr = &out->cregs[out->n_cregs++];
        hq_status st = parse_creg(fn, i, reg->string ? reg->string : "", reg, cr, out->error,
                                  sizeof out->error);
        if (st != HQ_OK) return out->status = st;
        if (cr->n_bindings != out->cregs[0].n_bindings || cr->n_shots != out->cregs[0].n_shots) {
            snprintf(out->error, sizeof out->error,
                     "%s: PUB %d: registers '%s' and '%s' have different sample shapes", fn, i,
                     out->cregs[0].name, cr->name);
            return out->status = HQ_ERR_PARSE;
        }
    }
    return HQ_OK;
}

hq_status hq_ibm_parse_results(const char *body, size_t len, int n_pubs_expected,
                               hq_ibm_results *out) {
    static const char *fn = "hq_ibm_parse_results";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (n_pubs_expected < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_pubs_expected %d must be >= 1", fn,
                        n_pubs_expected);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "results", body, len, &st);
    if (!j) return st;
    if (has_type_key(j)) {
        st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                      "%s: the results are in Qiskit's typed (__type__ / __value__) encoding; "
                      "this client reads the plain JSON form (data.<register>.samples) "
                      "---> HINT: check the IBM-API-Version / Accept headers",
                      fn);
        goto done;
    }
    const cJSON *res = qpu_get(j, "results");
    if (!cJSON_IsArray(res)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"results\" is %s, expected an array", fn,
                      qpu_type_name(res));
        goto done;
    }
    int got = cJSON_GetArraySize(res);
    if (got > n_pubs_expected) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: %d results for %d PUBs", fn, got, n_pubs_expected);
        goto done;
    }
    out->pubs = hq_calloc((size_t)n_pubs_expected, sizeof *out->pubs);
    if (!out->pubs) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    out->n = n_pubs_expected;
    int i = 0;
    const cJSON *pr;
    cJSON_ArrayForEach(pr, res) {
        parse_pub(fn, i, pr, &out->pubs[i]);
        i++;
    }
    for (; i < n_pubs_expected; i++) {
        out->pubs[i].status = HQ_ERR_BACKEND;
        snprintf(out->pubs[i].error, sizeof out->pubs[i].error,
                 "no result for PUB %d (the job returned %d results for %d PUBs)", i, got,
                 n_pubs_expected);
    }
    st = HQ_OK;
    int ok = 0;
    for (i = 0; i < out->n; i++) ok += out->pubs[i].status == HQ_OK;
    if (!ok) {
        st = out->pubs[0].status;
        hq_failf(NULL, st, "%s", out->pubs[0].error);
    }
done:
    cJSON_Delete(j);
    if (st != HQ_OK) hq_ibm_results_free(out);
    return st;
}

hq_status hq_ibm_pub_counts(const hq_ibm_pub_result *p, const char *const *names, int n_names,
                            int binding, hq_counts *out) {
    static const char *fn = "hq_ibm_pub_counts";
    hq_counts_init(out, 1);
    if (!p || p->status != HQ_OK || p->n_cregs < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the PUB has no result%s%s", fn,
                        p && p->error[0] ? ": " : "", p ? p->error : "");
    int n = names ? n_names : p->n_cregs;
    const hq_ibm_creg *sel[64];
    if (n < 1 || n > 64) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d registers", fn, n);
    int bits = 0;
    for (int k = 0; k < n; k++) {
        sel[k] = NULL;
        if (!names) {
            sel[k] = &p->cregs[k];
        } else {
            for (int m = 0; m < p->n_cregs; m++)
                if (names[k] && !strcmp(names[k], p->cregs[m].name)) sel[k] = &p->cregs[m];
            if (!sel[k])
                return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                                "%s: no classical register '%s' in the "
                                "result",
                                fn, names[k] ? names[k] : "(null)");
        }
        bits += sel[k]->num_bits;
    }
    if (bits > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d bits in total, more than 64", fn, bits);
    if (binding < 0 || binding >= sel[0]->n_bindings)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: binding %d out of range [0, %d)", fn,
                        binding, sel[0]->n_bindings);
    hq_counts_init(out, bits);
    int64_t ns = sel[0]->n_shots;
    for (int64_t s = 0; s < ns; s++) {
        uint64_t v = 0;
        int shift = 0;
        for (int k = 0; k < n; k++) {
            v |= sel[k]->samples[(int64_t)binding * ns + s] << shift;
            shift += sel[k]->num_bits;
        }
        if (hq_counts_add(out, v, 1) != HQ_OK) {
            hq_counts_free(out);
            return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        }
        if ((s & 4095) == 4095) hq_counts_sort(out); /* keep the table compact */
    }
    hq_counts_sort(out);
    return HQ_OK;
}

/* ==== backends ========================================================================= */

hq_status hq_ibm_parse_backends(const char *body, size_t len, hq_qpu_backend_info **out, int *n) {
    static const char *fn = "hq_ibm_parse_backends";
    if (!out || !n) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", fn);
    *out = NULL;
    *n = 0;
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "backend list", body, len, &st);
    if (!j) return st;
    const cJSON *dev = qpu_get(j, "devices");
    if (!cJSON_IsArray(dev)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"devices\" is %s, expected an array", fn,
                      qpu_type_name(dev));
        goto done;
    }
    int cnt = cJSON_GetArraySize(dev);
    hq_qpu_backend_info *b = hq_calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *b);
    if (!b) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, dev) {
        if (!qpu_get_str(e, "name", b[k].name, sizeof b[k].name)) {
            hq_free(b);
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: device %d has no \"name\"", fn, k);
            goto done;
        }
        const cJSON *s = qpu_get(e, "status");
        if (!qpu_get_str(s, "name", b[k].status, sizeof b[k].status))
            qpu_get_str(e, "status", b[k].status, sizeof b[k].status);
        b[k].available = qpu_streq_ci(b[k].status, "online");
        int64_t v;
        if (qpu_get_i64(e, "qubits", 0, 1 << 20, &v)) b[k].qubits = (int)v;
        b[k].queue_length = qpu_get_i64(e, "queue_length", 0, INT64_MAX / 2, &v) ? v : -1;
        b[k].queue_time_s = NAN;
        k++;
    }
    *out = b;
    *n = k;
    st = HQ_OK;
done:
    cJSON_Delete(j);
    return st;
}
