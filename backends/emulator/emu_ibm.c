/*
 * backends/emulator/emu_ibm.c — the IBM routes: IAM API-key exchange (/identity/token), and
 * the Qiskit Runtime Sampler V2 jobs API (/api/v1): submission with OpenQASM 3 pubs and
 * optional parameter values, the ISA check against the emulated device, job status,
 * results as per-shot hex samples per classical register (c[0] = LSB), cancel, the job list
 * filtered by tags, and the backend documents.
 *
 * IAM tokens are stateless: "emu.<expiration>.<nonce>.<mac>", the MAC keyed by the API key,
 * so a token stays valid across an emulator restart until it expires.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/emulator/emu_impl.h"
#include "backends/qasm.h"
#include "backends/transpile.h"
#include "core/rng.h"
#include "core/sha256.h"

#define IBM_DEFAULT_SHOTS     4096 /* SamplerV2 default_shots */
#define IBM_TAG_TOKEN         "hqcnn-token:"
#define IBM_CODE_VALID        1002
#define IBM_CODE_BACKEND      1007
#define IBM_CODE_NOTFOUND     1404
#define EMU_DYNAMIC_MAX_BYTES (512 << 20) /* worst-case branch memory of a dynamic circuit */

#define BAD(...) hq_failf(NULL, HQ_ERR_INVALID_ARG, __VA_ARGS__)

/* ==== IAM tokens ====================================================================== */

static void token_mac(const hq_emulator *e, const char *exp, const char *nonce, char mac[33]) {
    char hexkey[65];
    hq_hex_encode(e->iam_secret, sizeof e->iam_secret, hexkey);
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b, "%s|%s|%s", hexkey, exp, nonce);
    char h[HQ_SHA256_HEX_LEN] = "";
    if (hq_sbuf_status(&b) != HQ_OK || hq_sha256_hex(b.p, b.len, h) != HQ_OK) h[0] = '\0';
    hq_sbuf_free(&b);
    snprintf(mac, 33, "%.32s", h);
}

/* True if tok is a token this emulator issued and it has not expired. */
static bool token_valid(const hq_emulator *e, const char *tok, double now) {
    if (!e->s_ibm_key || strncmp(tok, "emu.", 4) || strlen(tok) > 200) return false;
    char buf[201];
    snprintf(buf, sizeof buf, "%s", tok + 4);
    char *d1 = strchr(buf, '.');
    if (!d1) return false;
    *d1++ = '\0';
    char *d2 = strchr(d1, '.');
    if (!d2) return false;
    *d2++ = '\0';
    int64_t exp;
    if (hq_parse_i64(buf, 0, INT64_MAX / 2, &exp) != HQ_OK || (double)exp <= now) return false;
    char mac[33];
    token_mac(e, buf, d1, mac);
    return mac[0] && emu_const_eq(mac, d2);
}

static int hexval(int c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Value of `key` in an application/x-www-form-urlencoded body, decoded into out. */
static bool form_value(const char *body, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    const char *p = body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t o = 0;
            for (const char *s = p + kl + 1; s < end && o + 1 < cap; s++) {
                if (*s == '+') {
                    out[o++] = ' ';
                } else if (*s == '%' && s + 2 < end && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                    out[o++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
                    s += 2;
                } else {
                    out[o++] = *s;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

void emu_iam_handle(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    if (r->nseg != 2 || strcmp(r->seg[1], "token")) {
        emu_reply_error(rp, EMU_IAM, 404, 0, "no route %s %s", r->method, r->path);
        return;
    }
    if (strcmp(r->method, "POST")) {
        emu_reply_error(rp, EMU_IAM, 405, 0, "method %s not allowed on %s", r->method, r->path);
        return;
    }
    char grant[128] = "", key[1024] = "";
    if (!form_value(r->body, "grant_type", grant, sizeof grant) ||
        strcmp(grant, "urn:ibm:params:oauth:grant-type:apikey")) {
        emu_reply_error(rp, EMU_IAM, 400, 109,
                        "Property 'grant_type' is missing or is not "
                        "urn:ibm:params:oauth:grant-type:apikey");
        return;
    }
    if (!form_value(r->body, "apikey", key, sizeof key) || !e->s_ibm_key ||
        !emu_const_eq(key, e->s_ibm_key)) {
        emu_reply_error(rp, EMU_IAM, 400, 415, "Provided API key could not be found.");
        return;
    }
    double now = hq_time_wall();
    char exp[32], nonce[17], mac[33];
    snprintf(exp, sizeof exp, "%lld", (long long)floor(now + e->opt.token_ttl_s));
    char id[40];
    emu_uuid(id);
    snprintf(nonce, sizeof nonce, "%.8s%.8s", id, id + 9);
    token_mac(e, exp, nonce, mac);
    hq_sbuf *b = &rp->body;
    hq_sbuf_printf(b,
                   "{\"access_token\":\"emu.%s.%s.%s\",\"refresh_token\":\"not_supported\","
                   "\"ims_user_id\":1,\"token_type\":\"Bearer\",\"expires_in\":%lld,"
                   "\"expiration\":%s,\"scope\":\"ibm_openid\"}",
                   exp, nonce, mac, (long long)llround(e->opt.token_ttl_s), exp);
    emu_reply_json(rp, 200);
}

/* 401/403 for a Runtime call without a valid bearer token or Service-CRN; false if OK. */
static bool ibm_auth_fails(emu_req *r, emu_reply *rp) {
    const char *a = emu_req_header(r, "Authorization");
    if (!a || strncmp(a, "Bearer ", 7) || !token_valid(r->emu, a + 7, hq_time_wall())) {
        emu_reply_error(rp, EMU_IBM, 401, 1201,
                        "Invalid or expired access token: send 'Authorization: Bearer <token>' "
                        "with a token from /identity/token");
        return true;
    }
    const char *crn = emu_req_header(r, "Service-CRN");
    const char *want = r->emu->s_crn;
    if (!crn || (want ? strcmp(crn, want) : strncmp(crn, "crn:", 4))) {
        emu_reply_error(rp, EMU_IBM, 403, 1201,
                        crn ? "The Service-CRN header names an instance you cannot access"
                            : "The Service-CRN header is required");
        return true;
    }
    return false;
}

/* ==== submission ====================================================================== */

static bool is_int(const cJSON *v, double lo, double hi) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

/* Only the built-in include files: the emulator never reads files a request names. */
static hq_status check_includes(const char *src, int pub) {
    for (const char *p = strstr(src, "include"); p; p = strstr(p + 7, "include")) {
        if (p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
        const char *q = p + 7;
        while (*q == ' ' || *q == '\t') q++;
        if (*q != '"') continue;
        if (strncmp(q, "\"stdgates.inc\"", 14) && strncmp(q, "\"qelib1.inc\"", 12))
            return BAD("pub %d: only stdgates.inc and qelib1.inc may be included", pub);
    }
    return HQ_OK;
}

typedef struct sym_sort {
    const hq_circuit *c;
    int idx;
} sym_sort;

static int cmp_sym(const void *a, const void *b) {
    const sym_sort *x = a, *y = b;
    return strcmp(hq_circuit_symbol_name(x->c, x->idx), hq_circuit_symbol_name(y->c, y->idx));
}

/* Parameter values of a pub -> u->values (rows x nsym, circuit symbol order), u->rows,
 * u->scalar. Forms: null; {name: v | [v..]}; [v..] (0-d, symbols sorted by name);
 * [[v..], ..] (1-d). */
static hq_status parse_values(const hq_circuit *c, const cJSON *pv, int pub, emu_unit *u) {
    int ns = hq_circuit_n_symbols(c);
    u->rows = 1;
    u->scalar = true;
    if (!pv || cJSON_IsNull(pv) || (cJSON_IsArray(pv) && !pv->child && ns == 0) ||
        (cJSON_IsObject(pv) && !pv->child && ns == 0)) {
        if (ns > 0)
            return BAD("pub %d: the circuit has %d parameter%s (%s%s) but the pub gives no values",
                       pub, ns, ns > 1 ? "s" : "", hq_circuit_symbol_name(c, 0),
                       ns > 1 ? ", ..." : "");
        return HQ_OK;
    }
    if (ns == 0) return BAD("pub %d: parameter values given for a circuit without parameters", pub);
    if (cJSON_IsObject(pv)) {
        int64_t k = -1;
        for (const cJSON *it = pv->child; it; it = it->next) {
            int idx;
            if (hq_circuit_find_symbol(c, it->string, &idx) != HQ_OK) {
                hq_clear_error();
                return BAD("pub %d: parameter '%.60s' is not an input of the circuit", pub,
                           it->string);
            }
            if (cJSON_IsArray(it)) {
                int64_t len = cJSON_GetArraySize(it);
                if (len < 1) return BAD("pub %d: parameter '%.60s' has no values", pub, it->string);
                if (k >= 0 && len != k)
                    return BAD("pub %d: parameter value arrays have different lengths (%lld, %lld)",
                               pub, (long long)k, (long long)len);
                k = len;
            } else if (!cJSON_IsNumber(it)) {
                return BAD("pub %d: parameter '%.60s' must be a number or a list of numbers "
                           "(only 0-d and 1-d values are supported)",
                           pub, it->string);
            }
        }
        if (cJSON_GetArraySize(pv) != ns)
            return BAD("pub %d: %d parameter values given, the circuit has %d inputs", pub,
                       cJSON_GetArraySize(pv), ns);
        u->rows = k < 0 ? 1 : k;
        u->scalar = k < 0;
        u->values = hq_malloc((size_t)(u->rows * ns) * sizeof *u->values);
        if (!u->values) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        for (const cJSON *it = pv->child; it; it = it->next) {
            int idx = 0;
            hq_circuit_find_symbol(c, it->string, &idx);
            for (int64_t r = 0; r < u->rows; r++) {
                const cJSON *v = cJSON_IsArray(it) ? cJSON_GetArrayItem(it, (int)r) : it;
                if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                    return BAD("pub %d: parameter '%.60s' values must be finite numbers (only 0-d "
                               "and 1-d values are supported)",
                               pub, it->string);
                u->values[r * ns + idx] = v->valuedouble;
            }
        }
        return HQ_OK;
    }
    if (!cJSON_IsArray(pv))
        return BAD("pub %d: parameter values must be null, an object or a list", pub);
    /* list form: symbols in name order (what Qiskit's circuit.parameters uses) */
    sym_sort order[256];
    if (ns > 256) return BAD("pub %d: more than 256 parameters", pub);
    for (int i = 0; i < ns; i++) order[i] = (sym_sort){c, i};
    qsort(order, (size_t)ns, sizeof *order, cmp_sym);
    bool nested = cJSON_IsArray(pv->child);
    u->rows = nested ? cJSON_GetArraySize(pv) : 1;
    u->scalar = !nested;
    u->values = hq_malloc((size_t)(u->rows * ns) * sizeof *u->values);
    if (!u->values) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    int64_t r = 0;
    for (const cJSON *row = nested ? pv->child : pv; row; row = nested ? row->next : NULL, r++) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != ns)
            return BAD("pub %d: each row of parameter values needs %d numbers (0-d or 1-d lists "
                       "only)",
                       pub, ns);
        int i = 0;
        for (const cJSON *v = row->child; v; v = v->next, i++) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return BAD("pub %d: parameter values must be finite numbers", pub);
            u->values[r * ns + order[i].idx] = v->valuedouble;
        }
    }
    return HQ_OK;
}

/* The circuit restricted to the qubits it uses (barriers dropped), and their physical
 * indices. */
static hq_status compact(const hq_circuit *c, int pub, int max_q, emu_unit *u) {
    int n = hq_circuit_n_qubits(c);
    int *map = hq_malloc((size_t)HQ_MAX(n, 1) * sizeof *map);
    if (!map) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) map[i] = -1;
    const hq_op *ops = hq_circuit_ops(c);
    int64_t nops = hq_circuit_n_ops(c);
    int k = 0;
    for (int64_t i = 0; i < nops; i++) {
        if (ops[i].gate == HQ_GATE_BARRIER) continue;
        for (int j = 0; j < ops[i].nq; j++)
            if (map[ops[i].q[j]] < 0) map[ops[i].q[j]] = k++;
    }
    hq_status st = HQ_OK;
    if (k == 0) st = BAD("pub %d: the circuit acts on no qubit", pub);
    if (st == HQ_OK && k > max_q)
        st = BAD("pub %d: the circuit acts on %d qubits; the emulator simulates at most %d", pub, k,
                 max_q);
    hq_circuit *cc = NULL;
    if (st == HQ_OK) {
        u->layout = hq_malloc((size_t)k * sizeof *u->layout);
        if (!u->layout) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        for (int i = 0; st == HQ_OK && i < n; i++)
            if (map[i] >= 0) u->layout[map[i]] = i;
    }
    if (st == HQ_OK) st = hq_circuit_create(&cc);
    if (st == HQ_OK) st = hq_circuit_add_qreg(cc, "q", k, NULL);
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_cregs(c); i++) {
        hq_reg r = hq_circuit_creg(c, i);
        st = hq_circuit_add_creg(cc, r.name, r.size, NULL);
    }
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_symbols(c); i++)
        st = hq_circuit_add_symbol(cc, hq_circuit_symbol_name(c, i), hq_circuit_symbol_kind(c, i),
                                   NULL);
    for (int64_t i = 0; st == HQ_OK && i < nops; i++) {
        const hq_op *o = &ops[i];
        int q[3] = {0, 0, 0};
        if (o->gate == HQ_GATE_BARRIER) continue;
        for (int j = 0; j < o->nq; j++) q[j] = map[o->q[j]];
        if (o->gate == HQ_GATE_MEASURE) {
            st = hq_circuit_add_measure(cc, q[0], o->clbit);
        } else if (o->gate == HQ_GATE_RESET) {
            st = hq_circuit_add_reset(cc, q[0]);
        } else {
            hq_angle a[HQ_GATE_MAX_PARAMS];
            for (int j = 0; j < o->np; j++) a[j] = hq_circuit_angle(c, o->p[j]);
            st = hq_circuit_add_gate_sym(cc, (hq_gate)o->gate, q, a);
        }
        if (st == HQ_OK && o->cond_creg >= 0)
            st = hq_circuit_set_condition(cc, o->cond_creg, o->cond_val);
    }
    hq_free(map);
    if (st != HQ_OK) {
        hq_circuit_free(cc);
        return st;
    }
    u->circ = cc;
    return HQ_OK;
}

static hq_status prepare_pub(hq_emulator *e, const cJSON *pub, int i, int64_t default_shots,
                             emu_unit *u) {
    const cJSON *qv = pub, *pv = NULL, *sv = NULL;
    if (cJSON_IsArray(pub)) {
        int n = cJSON_GetArraySize(pub);
        if (n < 1 || n > 3)
            return BAD("pub %d: expected [circuit, parameter_values?, shots?], got %d items", i, n);
        qv = pub->child;
        pv = n > 1 ? qv->next : NULL;
        sv = n > 2 ? pv->next : NULL;
    }
    if (!cJSON_IsString(qv)) return BAD("pub %d: the circuit must be an OpenQASM 3 string", i);
    u->shots = default_shots;
    if (sv && !cJSON_IsNull(sv)) {
        if (!is_int(sv, 1, 1e15)) return BAD("pub %d: shots must be a positive integer", i);
        u->shots = (int64_t)sv->valuedouble;
    }
    if (e->device->max_shots > 0 && u->shots > e->device->max_shots)
        return BAD("pub %d: %lld shots exceed max_shots %d of %s", i, (long long)u->shots,
                   e->device->max_shots, e->device->name);
    const char *src = qv->valuestring;
    hq_status st = check_includes(src, i);
    if (st != HQ_OK) return st;
    hq_qasm_options qo = {0};
    qo.include_dir = "/nonexistent/hqcnn-emulator"; /* never read request-named files */
    qo.max_ops = 1000000;
    qo.max_qubits = HQ_MAX(e->device->n_qubits, 64);
    char fname[32];
    snprintf(fname, sizeof fname, "pub[%d]", i);
    hq_circuit *c = NULL;
    if ((st = hq_qasm_parse(src, strlen(src), fname, &qo, &c)) != HQ_OK)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "pub %d: invalid OpenQASM 3: %s", i,
                        hq_last_error());
    if (hq_circuit_count_gate(c, HQ_GATE_MEASURE) == 0) {
        hq_circuit_free(c);
        return BAD("pub %d: the circuit has no measurements (Sampler needs at least one)", i);
    }
    if (hq_circuit_n_clbits(c) > 64) {
        hq_circuit_free(c);
        return BAD("pub %d: %d classical bits; the emulator returns at most 64", i,
                   hq_circuit_n_clbits(c));
    }
    if ((st = hq_transpile_check_isa(c, e->device)) != HQ_OK) {
        char msg[HQ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", hq_last_error());
        hq_circuit_free(c);
        const char *m = strstr(msg, ": ");
        return BAD("pub %d: the circuit does not match the target definition of %s (only ISA "
                   "circuits are accepted: basis gates and coupling map of the backend "
                   "configuration): %s",
                   i, e->device->name,
                   m && !strncmp(msg, "hq_transpile_check_isa", 22) ? m + 2 : msg);
    }
    st = parse_values(c, pv, i, u);
    if (st == HQ_OK) {
        u->n_cregs = hq_circuit_n_cregs(c);
        u->cregs = hq_calloc((size_t)HQ_MAX(u->n_cregs, 1), sizeof *u->cregs);
        if (!u->cregs) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        for (int k = 0; st == HQ_OK && k < u->n_cregs; k++) {
            hq_reg r = hq_circuit_creg(c, k);
            snprintf(u->cregs[k].name, sizeof u->cregs[k].name, "%s", r.name);
            u->cregs[k].offset = r.offset;
            u->cregs[k].size = r.size;
        }
    }
    if (st == HQ_OK) st = compact(c, i, e->opt.max_qubits_noisy, u);
    hq_circuit_free(c);
    if (st != HQ_OK) return st;
    /* a dynamic circuit is simulated exactly as branches, one density matrix per register
     * value: bound the worst case (2^measurements branches) to keep memory bounded */
    if (hq_circuit_is_dynamic(u->circ)) {
        int nq = hq_circuit_n_qubits(u->circ);
        int64_t m = hq_circuit_count_gate(u->circ, HQ_GATE_MEASURE);
        int bits = (int)HQ_MIN(m, (int64_t)hq_circuit_n_clbits(u->circ));
        double bytes = 16.0 * pow(4.0, nq) * pow(2.0, bits);
        if (bytes > EMU_DYNAMIC_MAX_BYTES)
            return BAD("pub %d: a dynamic circuit on %d qubits with %lld measurements may need "
                       "%.0f MiB of density matrices; the emulator allows %d MiB",
                       i, nq, (long long)m, bytes / 1048576.0, EMU_DYNAMIC_MAX_BYTES >> 20);
    }
    u->exact = false;
    u->noise = e->ibm_noise;
    snprintf(u->tag, sizeof u->tag, "ibm|%s|%s", e->device->name, e->noise_tag);
    return HQ_OK;
}

hq_status emu_ibm_prepare(hq_emulator *e, emu_job *j, int *http_status, int *ibm_code) {
    *http_status = 400;
    *ibm_code = IBM_CODE_VALID;
    const cJSON *req = j->req;
    if (!cJSON_IsObject(req)) return BAD("the request body must be a JSON object");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(req, "program_id");
    if (!cJSON_IsString(pid) || strcmp(pid->valuestring, "sampler"))
        return BAD("program_id must be \"sampler\" (the emulator runs Sampler V2 jobs only)");
    const cJSON *bk = cJSON_GetObjectItemCaseSensitive(req, "backend");
    if (!cJSON_IsString(bk)) return BAD("'backend' is required and must be a string");
    if (strcmp(bk->valuestring, e->device->name)) {
        *http_status = 404;
        *ibm_code = IBM_CODE_BACKEND;
        return BAD("backend '%.80s' not found (this emulator serves '%s')", bk->valuestring,
                   e->device->name);
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(req, "tags");
    if (tags) {
        if (!cJSON_IsArray(tags) || cJSON_GetArraySize(tags) > 100)
            return BAD("'tags' must be a list of at most 100 strings");
        for (const cJSON *t = tags->child; t; t = t->next)
            if (!cJSON_IsString(t) || strlen(t->valuestring) > 512)
                return BAD("'tags' entries must be strings of at most 512 characters");
    }
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(req, "session_id");
    if (sid && !cJSON_IsNull(sid) && !cJSON_IsString(sid))
        return BAD("'session_id' must be a string or null");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    if (!cJSON_IsObject(params)) return BAD("'params' is required and must be an object");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(params, "version");
    if (ver && !(is_int(ver, 2, 2))) return BAD("params.version must be 2 (Sampler V2)");
    int64_t shots = IBM_DEFAULT_SHOTS;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(params, "shots");
    if (sv && !cJSON_IsNull(sv)) {
        if (!is_int(sv, 1, 1e15)) return BAD("params.shots must be a positive integer");
        shots = (int64_t)sv->valuedouble;
    }
    const cJSON *pubs = cJSON_GetObjectItemCaseSensitive(params, "pubs");
    if (!cJSON_IsArray(pubs) || cJSON_GetArraySize(pubs) < 1)
        return BAD("params.pubs must be a non-empty list of pubs");
    int n = cJSON_GetArraySize(pubs);
    int maxe = e->device->max_experiments > 0 ? e->device->max_experiments : 300;
    if (n > maxe) return BAD("%d pubs exceed max_experiments %d of %s", n, maxe, e->device->name);
    j->units = hq_calloc((size_t)n, sizeof *j->units);
    if (!j->units) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    j->n_units = n;
    int i = 0;
    int64_t samples = 0;
    for (const cJSON *p = pubs->child; p; p = p->next, i++) {
        hq_status st = prepare_pub(e, p, i, shots, &j->units[i]);
        if (st != HQ_OK) return st;
        samples += j->units[i].shots * j->units[i].rows;
        if (samples > e->opt.max_samples_per_job)
            return BAD("the job asks for more than %lld samples (shots x parameter rows summed "
                       "over pubs); split it",
                       (long long)e->opt.max_samples_per_job);
    }
    const char *tok = NULL;
    for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next)
        if (!strncmp(t->valuestring, IBM_TAG_TOKEN, strlen(IBM_TAG_TOKEN)))
            tok = t->valuestring + strlen(IBM_TAG_TOKEN);
    hq_free(j->token);
    j->token = tok ? hq_strdup(tok) : NULL;
    return HQ_OK;
}

/* ==== responses ======================================================================= */

static const char *status_name(emu_state s) {
    switch (s) {
    case EMU_S_QUEUED: return "Queued";
    case EMU_S_RUNNING: return "Running";
    case EMU_S_COMPLETED: return "Completed";
    case EMU_S_FAILED: return "Failed";
    case EMU_S_CANCELLED: return "Cancelled";
    }
    return "Running";
}

static void render_job(const emu_job *j, double now, hq_sbuf *b) {
    const char *code, *msg;
    emu_state s = emu_job_state(j, now, &code, &msg);
    char t[40];
    hq_sbuf_puts(b, "{\"id\":");
    hq_sbuf_put_json_str(b, j->id);
    hq_sbuf_puts(b, ",\"backend\":");
    const cJSON *bk = cJSON_GetObjectItemCaseSensitive(j->req, "backend");
    hq_sbuf_put_json_str(b, cJSON_IsString(bk) ? bk->valuestring : "");
    emu_iso_time(j->created, true, t);
    hq_sbuf_printf(b,
                   ",\"program\":{\"id\":\"sampler\"},\"created\":\"%s\",\"status\":\"%s\","
                   "\"state\":{\"status\":\"%s\"",
                   t, status_name(s), status_name(s));
    if (s == EMU_S_FAILED || s == EMU_S_CANCELLED) {
        char *end = NULL;
        long long num = code && *code ? strtoll(code, &end, 10) : 0;
        bool numeric = code && *code && end && !*end;
        hq_sbuf_puts(b, ",\"reason\":");
        if (numeric || !code || !*code) {
            hq_sbuf_put_json_str(b, msg ? msg : "");
        } else {
            hq_sbuf rs = HQ_SBUF_INIT;
            hq_sbuf_printf(&rs, "%s: %s", code, msg ? msg : "");
            hq_sbuf_put_json_str(b, rs.p ? rs.p : "");
            hq_sbuf_free(&rs);
        }
        if (numeric) hq_sbuf_printf(b, ",\"reason_code\":%lld", num);
    }
    hq_sbuf_putc(b, '}');
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j->req, "session_id");
    hq_sbuf_puts(b, ",\"session_id\":");
    if (cJSON_IsString(sid))
        hq_sbuf_put_json_str(b, sid->valuestring);
    else
        hq_sbuf_puts(b, "null");
    hq_sbuf_puts(b, ",\"tags\":[");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j->req, "tags");
    int k = 0;
    for (const cJSON *tg = cJSON_IsArray(tags) ? tags->child : NULL; tg; tg = tg->next)
        if (cJSON_IsString(tg)) {
            if (k++) hq_sbuf_putc(b, ',');
            hq_sbuf_put_json_str(b, tg->valuestring);
        }
    hq_sbuf_puts(b, "],\"private\":false");
    if (s == EMU_S_COMPLETED || s == EMU_S_FAILED || s == EMU_S_CANCELLED) {
        double end = s == EMU_S_CANCELLED && j->cancelled_at > 0
                         ? j->cancelled_at
                         : (s == EMU_S_COMPLETED ? HQ_MAX(j->t_done, j->t_exec) : j->t_done);
        emu_iso_time(end, true, t);
        hq_sbuf_printf(b, ",\"end_time\":\"%s\"", t);
    }
    if (s == EMU_S_COMPLETED) {
        double secs = j->t_done - j->t_run;
        hq_sbuf_puts(b, ",\"usage\":{\"quantum_seconds\":");
        emu_put_num(b, secs);
        hq_sbuf_puts(b, ",\"seconds\":");
        emu_put_num(b, secs);
        hq_sbuf_putc(b, '}');
    }
    hq_sbuf_putc(b, '}');
}

/* Per-shot outcomes of one row in a deterministic shuffled order (caller frees). */
static uint64_t *expand_shots(const emu_dist *d) {
    uint64_t *s = hq_malloc((size_t)HQ_MAX(d->shots, 1) * sizeof *s);
    if (!s) return NULL;
    int64_t k = 0;
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t c = 0; c < d->count[i]; c++) s[k++] = d->outcome[i];
    hq_rng rng;
    hq_rng_init(&rng, d->seed, d->stream ^ 0x73687566666c65ull /* "shuffle" */, 0);
    for (int64_t i = k - 1; i > 0; i--) {
        int64_t r = (int64_t)hq_rng_below(&rng, (uint64_t)(i + 1));
        uint64_t t = s[i];
        s[i] = s[r];
        s[r] = t;
    }
    return s;
}

/* ,"0x1f" — the hot loop of a results reply (no printf per shot). */
static void put_hex_sample(hq_sbuf *b, bool comma, uint64_t v) {
    char tmp[24];
    int n = sizeof tmp;
    tmp[--n] = '"';
    do {
        tmp[--n] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    tmp[--n] = 'x';
    tmp[--n] = '0';
    tmp[--n] = '"';
    if (comma) tmp[--n] = ',';
    hq_sbuf_append(b, tmp + n, sizeof tmp - (size_t)n);
}

static hq_status render_pub(const emu_unit *u, hq_sbuf *b) {
    uint64_t **shots = hq_calloc((size_t)u->rows, sizeof *shots);
    if (!shots) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_status st = HQ_OK;
    for (int64_t r = 0; r < u->rows && st == HQ_OK; r++)
        if (!(shots[r] = expand_shots(&u->res[r])))
            st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_sbuf_puts(b, "{\"data\":{");
    for (int k = 0; st == HQ_OK && k < u->n_cregs; k++) {
        const emu_creg *cr = &u->cregs[k];
        uint64_t mask = cr->size >= 64 ? ~0ull : ((1ull << cr->size) - 1);
        if (k) hq_sbuf_putc(b, ',');
        hq_sbuf_put_json_str(b, cr->name);
        hq_sbuf_puts(b, ":{\"samples\":[");
        for (int64_t r = 0; r < u->rows; r++) {
            if (!u->scalar) hq_sbuf_puts(b, r ? ",[" : "[");
            for (int64_t s = 0; s < u->res[r].shots; s++)
                put_hex_sample(b, s > 0, (shots[r][s] >> cr->offset) & mask);
            if (!u->scalar) hq_sbuf_putc(b, ']');
        }
        hq_sbuf_printf(b, "],\"num_bits\":%d}", cr->size);
    }
    hq_sbuf_puts(b, "},\"metadata\":{\"circuit_metadata\":{}}}");
    for (int64_t r = 0; r < u->rows; r++) hq_free(shots[r]);
    hq_free(shots);
    return st == HQ_OK ? hq_sbuf_status(b) : st;
}

/* ==== handlers ======================================================================== */

static emu_session *find_session(hq_emulator *e, const char *id);

static void not_found(emu_reply *rp, const char *id) {
    emu_reply_error(rp, EMU_IBM, 404, IBM_CODE_NOTFOUND, "Job '%.64s' not found", id);
}

static void handle_create(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    cJSON *doc = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        emu_reply_error(rp, EMU_IBM, 400, IBM_CODE_VALID, "the request body is not a JSON object");
        return;
    }
    emu_job *j = emu_job_new(EMU_IBM);
    if (!j) {
        cJSON_Delete(doc);
        emu_reply_error(rp, EMU_IBM, 500, 1500, "out of memory");
        return;
    }
    j->req = doc;
    emu_ibm_id(j->id);
    int http = 400, code = IBM_CODE_VALID;
    hq_status st = emu_ibm_prepare(e, j, &http, &code);
    if (st != HQ_OK) {
        emu_reply_error(rp, EMU_IBM, st == HQ_ERR_NOMEM ? 500 : http, code, "%s", hq_last_error());
        emu_job_free(j);
        return;
    }
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j->req, "session_id");
    if (cJSON_IsString(sid)) {
        pthread_mutex_lock(&e->lock);
        emu_session *s = find_session(e, sid->valuestring);
        bool refused = s && (s->closed || !s->accepting_jobs);
        pthread_mutex_unlock(&e->lock);
        if (refused) {
            emu_reply_error(rp, EMU_IBM, 400, IBM_CODE_VALID,
                            "session '%.64s' is closed or not accepting jobs", sid->valuestring);
            emu_job_free(j);
            return;
        }
    }
    char id[40];
    snprintf(id, sizeof id, "%s", j->id);
    st = emu_jobs_add(e, j, r);
    if (st != HQ_OK) {
        emu_reply_error(rp, EMU_IBM, st == HQ_ERR_BUSY ? 503 : 500, 1500, "%s", hq_last_error());
        return;
    }
    hq_sbuf_puts(&rp->body, "{\"id\":");
    hq_sbuf_put_json_str(&rp->body, id);
    hq_sbuf_puts(&rp->body, ",\"backend\":");
    hq_sbuf_put_json_str(&rp->body, e->device->name);
    hq_sbuf_puts(&rp->body, "}");
    emu_reply_json(rp, 200);
}

static void handle_get(emu_req *r, emu_reply *rp, const char *id) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    emu_job *j = emu_jobs_find(e, id, NULL);
    if (j && j->fam == EMU_IBM) {
        double now = hq_time_wall();
        render_job(j, now, &rp->body);
        emu_reply_json(rp, 200);
        emu_state s = emu_job_state(j, now, NULL, NULL);
        if (s == EMU_S_COMPLETED)
            emu_job_noticed(e, j, HQ_MAX(j->t_done, j->t_exec), now);
        else if (s == EMU_S_FAILED)
            emu_job_noticed(e, j, j->t_done, now);
    }
    pthread_mutex_unlock(&e->lock);
    if (!j || j->fam != EMU_IBM) not_found(rp, id);
}

static void handle_results(emu_req *r, emu_reply *rp, const char *id) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    emu_job *j = emu_jobs_find(e, id, NULL);
    emu_state s = EMU_S_QUEUED;
    if (j && j->fam == EMU_IBM) s = emu_job_state(j, hq_time_wall(), NULL, NULL);
    pthread_mutex_unlock(&e->lock);
    if (!j || j->fam != EMU_IBM) {
        not_found(rp, id);
        return;
    }
    if (s != EMU_S_COMPLETED) {
        emu_reply_error(rp, EMU_IBM, 404, IBM_CODE_NOTFOUND,
                        "Job '%s' has no results: its status is %s", id, status_name(s));
        return;
    }
    int n = j->partial ? j->n_units - 1 : j->n_units;
    hq_sbuf *b = &rp->body;
    hq_sbuf_puts(b, "{\"results\":[");
    hq_status st = HQ_OK;
    for (int u = 0; u < n && st == HQ_OK; u++) {
        if (u) hq_sbuf_putc(b, ',');
        st = render_pub(&j->units[u], b);
    }
    char t0[40], t1[40];
    emu_iso_time(j->t_run, true, t0);
    emu_iso_time(j->t_done, true, t1);
    hq_sbuf_printf(b,
                   "],\"metadata\":{\"execution\":{\"execution_spans\":[{\"start\":\"%s\","
                   "\"stop\":\"%s\"}]},\"version\":2}}",
                   t0, t1);
    if (st != HQ_OK || hq_sbuf_status(b) != HQ_OK) {
        hq_sbuf_reset(b);
        emu_reply_error(rp, EMU_IBM, 500, 1500, "cannot render the results: out of memory");
        return;
    }
    emu_reply_json(rp, 200);
}

static void handle_cancel(emu_req *r, emu_reply *rp, const char *id) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    emu_job *j = emu_jobs_find(e, id, NULL);
    bool changed = false;
    if (j && j->fam == EMU_IBM) {
        double now = hq_time_wall();
        emu_state s = emu_job_state(j, now, NULL, NULL);
        if (s == EMU_S_QUEUED || s == EMU_S_RUNNING) {
            j->cancelled_at = now;
            if (j->recalibrate && !j->recalibrated) e->n_recal_pending--;
            j->version++;
            changed = true;
        }
    }
    pthread_mutex_unlock(&e->lock);
    if (!j || j->fam != EMU_IBM) {
        not_found(rp, id);
        return;
    }
    if (changed) emu_jobs_save(e, j);
    rp->status = 204;
    rp->ctype = NULL;
}

typedef struct tag_list {
    const char *v[32];
    int n;
} tag_list;

static void collect_tag(void *user, const char *v) {
    tag_list *t = user;
    if (t->n < 32 && v) t->v[t->n++] = v;
}

static bool has_tag(const emu_job *j, const char *tag) {
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j->req, "tags");
    for (const cJSON *t = cJSON_IsArray(tags) ? tags->child : NULL; t; t = t->next)
        if (cJSON_IsString(t) && !strcmp(t->valuestring, tag)) return true;
    return false;
}

static void handle_list(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    int64_t limit = 10, offset = 0;
    const char *ls = emu_req_query(r, "limit"), *os = emu_req_query(r, "offset");
    const char *pend = emu_req_query(r, "pending"), *bk = emu_req_query(r, "backend");
    if ((ls && hq_parse_i64(ls, 1, 200, &limit) != HQ_OK) ||
        (os && hq_parse_i64(os, 0, INT64_MAX / 2, &offset) != HQ_OK)) {
        emu_reply_error(rp, EMU_IBM, 400, IBM_CODE_VALID,
                        "limit must be in [1, 200] and offset a non-negative integer");
        return;
    }
    if (pend && strcmp(pend, "true") && strcmp(pend, "false")) {
        emu_reply_error(rp, EMU_IBM, 400, IBM_CODE_VALID, "pending must be true or false");
        return;
    }
    tag_list tl = {{0}, 0};
    emu_req_query_all(r, "tags", collect_tag, &tl);
    hq_sbuf *b = &rp->body;
    hq_sbuf_puts(b, "{\"jobs\":[");
    pthread_mutex_lock(&e->lock);
    double now = hq_time_wall();
    int64_t count = 0, shown = 0;
    for (int64_t i = e->n_jobs - 1; i >= 0; i--) {
        const emu_job *j = e->jobs[i];
        if (j->fam != EMU_IBM) continue;
        emu_state s = emu_job_state(j, now, NULL, NULL);
        bool pending = s == EMU_S_QUEUED || s == EMU_S_RUNNING;
        if (pend && pending != !strcmp(pend, "true")) continue;
        const cJSON *jb = cJSON_GetObjectItemCaseSensitive(j->req, "backend");
        if (bk && (!cJSON_IsString(jb) || strcmp(bk, jb->valuestring))) continue;
        bool ok = true;
        for (int k = 0; k < tl.n && ok; k++) ok = has_tag(j, tl.v[k]);
        if (!ok) continue;
        if (count++ < offset || shown >= limit) continue;
        if (shown++) hq_sbuf_putc(b, ',');
        render_job(j, now, b);
    }
    pthread_mutex_unlock(&e->lock);
    hq_sbuf_printf(b, "],\"count\":%lld,\"limit\":%lld,\"offset\":%lld}", (long long)count,
                   (long long)limit, (long long)offset);
    emu_reply_json(rp, 200);
}

static int64_t pending_jobs(hq_emulator *e) {
    int64_t q = 0;
    double now = hq_time_wall();
    for (int64_t i = 0; i < e->n_jobs; i++)
        if (e->jobs[i]->fam == EMU_IBM &&
            emu_job_state(e->jobs[i], now, NULL, NULL) <= EMU_S_RUNNING)
            q++;
    return q;
}

static void handle_backends(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    int64_t q = pending_jobs(e);
    pthread_mutex_unlock(&e->lock);
    hq_sbuf *b = &rp->body;
    hq_sbuf_puts(b, "{\"devices\":[{\"name\":");
    hq_sbuf_put_json_str(b, e->device->name);
    hq_sbuf_printf(b,
                   ",\"status\":{\"name\":\"online\",\"reason\":\"available\"},\"qubits\":%d,"
                   "\"processor_type\":{\"family\":\"Emulator\",\"revision\":\"1\"},"
                   "\"queue_length\":%lld,\"is_simulator\":false}]}",
                   e->device->n_qubits, (long long)q);
    emu_reply_json(rp, 200);
}

static void handle_backend_doc(emu_req *r, emu_reply *rp, const char *name, const char *what) {
    hq_emulator *e = r->emu;
    if (strcmp(name, e->device->name)) {
        emu_reply_error(rp, EMU_IBM, 404, IBM_CODE_BACKEND, "backend '%.80s' not found", name);
        return;
    }
    hq_status st = HQ_OK;
    if (!strcmp(what, "configuration")) {
        st = emu_device_conf_json(e, &rp->body);
    } else if (!strcmp(what, "properties")) {
        pthread_mutex_lock(&e->lock);
        st = emu_device_props_json(e, &rp->body);
        pthread_mutex_unlock(&e->lock);
    } else {
        pthread_mutex_lock(&e->lock);
        int64_t q = pending_jobs(e);
        pthread_mutex_unlock(&e->lock);
        hq_sbuf_printf(
            &rp->body,
            "{\"state\":true,\"status\":\"active\",\"message\":\"\",\"length_queue\":%lld,"
            "\"backend_version\":",
            (long long)q);
        hq_sbuf_put_json_str(&rp->body, e->device->version);
        hq_sbuf_putc(&rp->body, '}');
    }
    if (st != HQ_OK) {
        hq_sbuf_reset(&rp->body);
        emu_reply_error(rp, EMU_IBM, 500, 1500, "%s", hq_last_error());
        return;
    }
    emu_reply_json(rp, 200);
}

/* ==== sessions (batch / dedicated; memory only) ====================================== */

static void render_session(const hq_emulator *e, const emu_session *s, hq_sbuf *b) {
    char t[40];
    emu_iso_time(s->created, true, t);
    hq_sbuf_puts(b, "{\"id\":");
    hq_sbuf_put_json_str(b, s->id);
    hq_sbuf_puts(b, ",\"backend_name\":");
    hq_sbuf_put_json_str(b, e->device->name);
    hq_sbuf_printf(
        b, ",\"mode\":\"%s\",\"state\":\"%s\",\"accepting_jobs\":%s,\"max_ttl\":", s->mode,
        s->closed ? "closed" : "open", s->accepting_jobs && !s->closed ? "true" : "false");
    emu_put_num(b, s->max_ttl);
    hq_sbuf_printf(b, ",\"created\":\"%s\"}", t);
}

static emu_session *find_session(hq_emulator *e, const char *id) {
    for (int64_t i = 0; i < e->n_sessions; i++)
        if (!strcmp(e->sessions[i].id, id)) return &e->sessions[i];
    return NULL;
}

static void handle_session_create(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    cJSON *doc = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *bk = cJSON_GetObjectItemCaseSensitive(doc, "backend");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(doc, "mode");
    const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(doc, "max_ttl");
    if (!cJSON_IsObject(doc) || !cJSON_IsString(bk) ||
        (mode && (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "batch") &&
                                            strcmp(mode->valuestring, "dedicated")))) ||
        (ttl && !is_int(ttl, 1, 1e7))) {
        cJSON_Delete(doc);
        emu_reply_error(rp, EMU_IBM, 400, IBM_CODE_VALID,
                        "session body must be {\"backend\", \"mode\": \"batch\"|\"dedicated\", "
                        "\"max_ttl\": seconds}");
        return;
    }
    if (strcmp(bk->valuestring, e->device->name)) {
        emu_reply_error(rp, EMU_IBM, 404, IBM_CODE_BACKEND, "backend '%.80s' not found",
                        bk->valuestring);
        cJSON_Delete(doc);
        return;
    }
    emu_session s;
    memset(&s, 0, sizeof s);
    emu_ibm_id(s.id);
    snprintf(s.mode, sizeof s.mode, "%s", mode ? mode->valuestring : "batch");
    s.created = hq_time_wall();
    s.max_ttl = ttl ? ttl->valuedouble : 28800;
    s.accepting_jobs = true;
    cJSON_Delete(doc);
    pthread_mutex_lock(&e->lock);
    bool ok = e->n_sessions < 100000;
    if (ok && e->n_sessions == e->cap_sessions) {
        int64_t cap = HQ_MAX(16, e->cap_sessions * 2);
        emu_session *a = hq_realloc(e->sessions, (size_t)cap * sizeof *a);
        ok = a != NULL;
        if (ok) {
            e->sessions = a;
            e->cap_sessions = cap;
        }
    }
    if (ok) {
        e->sessions[e->n_sessions++] = s;
        render_session(e, &s, &rp->body);
    }
    pthread_mutex_unlock(&e->lock);
    if (!ok) {
        emu_reply_error(rp, EMU_IBM, 503, 1500, "too many sessions");
        return;
    }
    emu_reply_json(rp, 200);
}

static void handle_session(emu_req *r, emu_reply *rp, const char *id, bool close) {
    hq_emulator *e = r->emu;
    cJSON *doc = NULL;
    if (!strcmp(r->method, "PATCH")) {
        doc = cJSON_ParseWithLength(r->body, r->body_len);
        if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(doc, "accepting_jobs"))) {
            cJSON_Delete(doc);
            emu_reply_error(rp, EMU_IBM, 400, IBM_CODE_VALID,
                            "PATCH body must be {\"accepting_jobs\": false}");
            return;
        }
    }
    pthread_mutex_lock(&e->lock);
    emu_session *s = find_session(e, id);
    if (s) {
        if (close) {
            s->closed = true;
            s->accepting_jobs = false;
        } else if (doc) {
            s->accepting_jobs =
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "accepting_jobs"));
        } else {
            render_session(e, s, &rp->body);
        }
    }
    bool get = s && !close && !doc;
    pthread_mutex_unlock(&e->lock);
    cJSON_Delete(doc);
    if (!s) {
        emu_reply_error(rp, EMU_IBM, 404, IBM_CODE_NOTFOUND, "session '%.64s' not found", id);
    } else if (get) {
        emu_reply_json(rp, 200);
    } else {
        rp->status = 204;
        rp->ctype = NULL;
    }
}

void emu_ibm_handle(emu_req *r, emu_reply *rp) {
    /* seg[0] = "api", seg[1] = "v1" */
    if (ibm_auth_fails(r, rp)) return;
    const char *m = r->method;
    int n = r->nseg;
    const char *s2 = n > 2 ? r->seg[2] : "";
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    bool known = true, allowed = false;
    if (!strcmp(s2, "jobs") && n == 3) {
        if ((allowed = post))
            handle_create(r, rp);
        else if ((allowed = get))
            handle_list(r, rp);
    } else if (!strcmp(s2, "jobs") && n == 4) {
        if ((allowed = get)) handle_get(r, rp, r->seg[3]);
    } else if (!strcmp(s2, "jobs") && n == 5 && !strcmp(r->seg[4], "results")) {
        if ((allowed = get)) handle_results(r, rp, r->seg[3]);
    } else if (!strcmp(s2, "jobs") && n == 5 && !strcmp(r->seg[4], "cancel")) {
        if ((allowed = post)) handle_cancel(r, rp, r->seg[3]);
    } else if (!strcmp(s2, "sessions") && n == 3) {
        if ((allowed = post)) handle_session_create(r, rp);
    } else if (!strcmp(s2, "sessions") && n == 4) {
        if ((allowed = get || !strcmp(m, "PATCH"))) handle_session(r, rp, r->seg[3], false);
    } else if (!strcmp(s2, "sessions") && n == 5 && !strcmp(r->seg[4], "close")) {
        if ((allowed = !strcmp(m, "DELETE"))) handle_session(r, rp, r->seg[3], true);
    } else if (!strcmp(s2, "backends") && n == 3) {
        if ((allowed = get)) handle_backends(r, rp);
    } else if (!strcmp(s2, "backends") && n == 5 &&
               (!strcmp(r->seg[4], "configuration") || !strcmp(r->seg[4], "properties") ||
                !strcmp(r->seg[4], "status"))) {
        if ((allowed = get)) handle_backend_doc(r, rp, r->seg[3], r->seg[4]);
    } else {
        known = false;
    }
    if (!known)
        emu_reply_error(rp, EMU_IBM, 404, IBM_CODE_NOTFOUND, "no route %s %s", m, r->path);
    else if (!allowed)
        emu_reply_error(rp, EMU_IBM, 405, IBM_CODE_VALID, "method %s not allowed on %s", m,
                        r->path);
}
