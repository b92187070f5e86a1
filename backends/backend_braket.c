/*
 * backends/backend_braket.c — the "braket" backend (Amazon Braket: CreateQuantumTask /
 * GetQuantumTask / CancelQuantumTask with SigV4, results.json from S3 with a SigV4-signed
 * GET).
 *
 * Braket runs one circuit per quantum task, so an hqcnn job is a GROUP of tasks. The group
 * lives in a local record, STATE_DIR/<client token>.json (written atomically before the
 * first task is created and after each one), holding every task's OpenQASM source,
 * classical-bit count and — once created — its ARN. The job's remote id is
 * "bkg-<client token>". Each task is created with the client token "<token>-<k>", which
 * Braket treats as an idempotency key: a creation repeated after a timeout or a crash
 * returns the task created the first time. find_by_token therefore reads the group record
 * and finishes creating its tasks (safely, with the same tokens); a job whose record does
 * not exist was never sent.
 *
 * Circuits: relabelled so qubit k is measured into classical bit k, lowered to the
 * QIS-style gate set with hq_transpile_ionq, and written as OpenQASM 3 with Braket's gate
 * names (cnot, si, ti, v, vi, phaseshift, cphaseshift, xx, yy, zz, ccnot; ch, crx, cry, crz
 * decomposed), so the device's compiler maps them to its native gates. Results: the
 * measurement columns of results.json are matched to classical bits through
 * measuredQubits.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/braket.h"
#include "backends/credentials.h"
#include "backends/rest_impl.h"
#include "backends/sigv4.h"
#include "core/sha256.h"

#define GROUP_PREFIX "bkg-"

typedef struct braket_ctx {
    rest_common rc; /* first: hq_rest_get_timing */
    /* options */
    char device_arn[256];      /* "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1" */
    char region[32];           /* AWS region of the device and the bucket */
    char s3_bucket[128];       /* output bucket ("amazon-braket-<...>") */
    char s3_prefix[256];       /* key prefix of the results */
    char s3_url[REST_URL_MAX]; /* S3 endpoint override, path-style ("" = AWS virtual-hosted) */
    char state_dir[1024];      /* group records */
    char *device_parameters;   /* deviceParameters JSON object (owned) */
    char credentials[1024];    /* credentials file ("" = default search) */
    /* state */
    hq_credentials *cred; /* loaded on first use */
    char host[256];       /* Host of the Braket endpoint (signed) */
} braket_ctx;

/* One task of a group. */
typedef struct gtask {
    char arn[256]; /* "" until created */
    int clbits;    /* classical bits of the circuit */
    char *source;  /* OpenQASM 3 program (owned) */
    bool done;     /* seen COMPLETED */
} gtask;

typedef struct group {
    char token[80];
    int64_t shots;
    int n;
    gtask *t; /* (n) */
} group;

static void group_free(group *g) {
    for (int i = 0; g->t && i < g->n; i++) hq_free(g->t[i].source);
    HQ_FREE(g->t);
    g->n = 0;
}

/* ==== group records ======================================================================== */

static hq_status group_path(const braket_ctx *c, const char *token, char *out, size_t cap) {
    for (const char *p = token; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "braket: client token '%.40s' has characters other than letters, "
                            "digits, '-' and '_'",
                            token);
    int n = snprintf(out, cap, "%s/%s.json", c->state_dir, token);
    return n > 0 && (size_t)n < cap
               ? HQ_OK
               : hq_failf(NULL, HQ_ERR_INVALID_ARG, "braket: state_dir path too long");
}

static hq_status group_save(const braket_ctx *c, const group *g) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b, "{\"hqcnn_braket_group\":1,\"token\":");
    hq_sbuf_put_json_str(&b, g->token);
    hq_sbuf_puts(&b, ",\"device\":");
    hq_sbuf_put_json_str(&b, c->device_arn);
    hq_sbuf_printf(&b, ",\"shots\":%" PRId64 ",\"tasks\":[", g->shots);
    for (int i = 0; i < g->n; i++) {
        hq_sbuf_puts(&b, i ? ",{\"arn\":" : "{\"arn\":");
        if (g->t[i].arn[0])
            hq_sbuf_put_json_str(&b, g->t[i].arn);
        else
            hq_sbuf_puts(&b, "null");
        hq_sbuf_printf(&b, ",\"clbits\":%d,\"done\":%s,\"source\":", g->t[i].clbits,
                       g->t[i].done ? "true" : "false");
        hq_sbuf_put_json_str(&b, g->t[i].source ? g->t[i].source : "");
        hq_sbuf_putc(&b, '}');
    }
    hq_sbuf_puts(&b, "]}\n");
    hq_status st = hq_sbuf_status(&b);
    char path[1200];
    if (st == HQ_OK) st = group_path(c, g->token, path, sizeof path);
    if (st == HQ_OK) st = hq_file_write_atomic(path, b.p, b.len);
    hq_sbuf_free(&b);
    return st ? hq_fail_prefix(NULL, st, "braket: saving the task group of job %s", g->token)
              : HQ_OK;
}

/* Load the group of a token; *found false (HQ_OK) if there is no record. */
static hq_status group_load(const braket_ctx *c, const char *token, group *g, bool *found) {
    memset(g, 0, sizeof *g);
    *found = false;
    char path[1200];
    hq_status st = group_path(c, token, path, sizeof path);
    if (st) return st;
    if (!hq_file_exists(path)) return HQ_OK;
    char *text = NULL;
    size_t len = 0;
    st = hq_file_read(path, 64u << 20, &text, &len);
    if (st) return st;
    cJSON *o = cJSON_ParseWithLength(text, len);
    hq_free(text);
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(o, "tasks");
    const cJSON *shots = cJSON_GetObjectItemCaseSensitive(o, "shots");
    int n = cJSON_GetArraySize(tasks);
    if (!cJSON_IsObject(o) || !cJSON_IsArray(tasks) || n < 1 || !cJSON_IsNumber(shots)) {
        cJSON_Delete(o);
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "braket: task group record '%s' is damaged ---> HINT: check the tasks "
                        "of job %s in the Braket console before removing it",
                        path, token);
    }
    snprintf(g->token, sizeof g->token, "%s", token);
    g->shots = (int64_t)shots->valuedouble;
    g->t = hq_calloc((size_t)n, sizeof *g->t);
    if (!g->t) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    g->n = g->t ? n : 0;
    int i = 0;
    const cJSON *t;
    const cJSON *list = g->t ? tasks : NULL;
    cJSON_ArrayForEach(t, list) {
        const cJSON *arn = cJSON_GetObjectItemCaseSensitive(t, "arn");
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(t, "clbits");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(t, "source");
        if (cJSON_IsString(arn)) snprintf(g->t[i].arn, sizeof g->t[i].arn, "%s", arn->valuestring);
        g->t[i].clbits = cJSON_IsNumber(cb) ? (int)cb->valuedouble : 0;
        g->t[i].done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "done"));
        g->t[i].source = cJSON_IsString(src) ? hq_strdup(src->valuestring) : NULL;
        if (!g->t[i].source || g->t[i].clbits < 1 || g->t[i].clbits > 64)
            st = hq_failf(NULL, HQ_ERR_CORRUPT,
                          "braket: task group record '%s' is damaged (task %d)", path, i);
        i++;
    }
    cJSON_Delete(o);
    if (st) {
        group_free(g);
        return st;
    }
    *found = true;
    return HQ_OK;
}

/* ==== OpenQASM with Braket's gate names ==================================================== */

static void gate1(hq_sbuf *b, const char *g, const double *a, int na, int q) {
    hq_sbuf_puts(b, g);
    if (na) {
        hq_sbuf_putc(b, '(');
        for (int k = 0; k < na; k++) {
            if (k) hq_sbuf_puts(b, ", ");
            hq_sbuf_put_double(b, a[k]);
        }
        hq_sbuf_putc(b, ')');
    }
    hq_sbuf_printf(b, " q[%d];\n", q);
}

static void gate2(hq_sbuf *b, const char *g, const double *a, int na, int q0, int q1) {
    hq_sbuf_puts(b, g);
    if (na) {
        hq_sbuf_putc(b, '(');
        hq_sbuf_put_double(b, a[0]);
        hq_sbuf_putc(b, ')');
    }
    hq_sbuf_printf(b, " q[%d], q[%d];\n", q0, q1);
}

/*
 * Write a bound circuit (no symbols, measurements into clbit k from qubit k) as Braket
 * OpenQASM 3. Gates outside Braket's set are decomposed (exactly, up to global phase):
 * ch = ry(-pi/4) t; cz c,t; ry(pi/4) t; crz(a) = rz(a/2) t; cnot; rz(-a/2) t; cnot;
 * cry likewise with ry; crx(a) = h t; crz(a); h t; u3(th, ph, la) = rz(la); ry(th); rz(ph).
 */
hq_status hq_braket_write_qasm(const hq_circuit *c, hq_sbuf *out) {
    static const char *fn = "hq_braket_write_qasm";
    if (hq_circuit_is_symbolic(c))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the circuit has unbound symbols", fn);
    int64_t na = hq_circuit_n_angles(c);
    double *ang = na ? hq_malloc((size_t)na * sizeof *ang) : NULL;
    if (na && !ang) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    if (na) hq_circuit_eval_angles(c, NULL, ang);
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b, "OPENQASM 3.0;\nbit[%d] c;\nqubit[%d] q;\n", hq_circuit_n_clbits(c),
                   hq_circuit_n_qubits(c));
    const hq_op *ops = hq_circuit_ops(c);
    hq_status st = HQ_OK;
    for (int64_t i = 0; st == HQ_OK && i < hq_circuit_n_ops(c); i++) {
        const hq_op *op = &ops[i];
        double a[4] = {0, 0, 0, 0};
        for (int k = 0; k < op->np && k < 4; k++) a[k] = ang[op->p[k]];
        const int *q = op->q;
        if (op->cond_creg >= 0) {
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED, "%s: classical conditions are not supported",
                          fn);
            break;
        }
        double h[1];
        switch ((hq_gate)op->gate) {
        case HQ_GATE_ID:
        case HQ_GATE_BARRIER: break;
        case HQ_GATE_X: gate1(&b, "x", a, 0, q[0]); break;
        case HQ_GATE_Y: gate1(&b, "y", a, 0, q[0]); break;
        case HQ_GATE_Z: gate1(&b, "z", a, 0, q[0]); break;
        case HQ_GATE_H: gate1(&b, "h", a, 0, q[0]); break;
        case HQ_GATE_S: gate1(&b, "s", a, 0, q[0]); break;
        case HQ_GATE_SDG: gate1(&b, "si", a, 0, q[0]); break;
        case HQ_GATE_T: gate1(&b, "t", a, 0, q[0]); break;
        case HQ_GATE_TDG: gate1(&b, "ti", a, 0, q[0]); break;
        case HQ_GATE_SX: gate1(&b, "v", a, 0, q[0]); break;
        case HQ_GATE_SXDG: gate1(&b, "vi", a, 0, q[0]); break;
        case HQ_GATE_RX: gate1(&b, "rx", a, 1, q[0]); break;
        case HQ_GATE_RY: gate1(&b, "ry", a, 1, q[0]); break;
        case HQ_GATE_RZ: gate1(&b, "rz", a, 1, q[0]); break;
        case HQ_GATE_P:
        case HQ_GATE_U1: gate1(&b, "phaseshift", a, 1, q[0]); break;
        case HQ_GATE_U2:
        case HQ_GATE_U3:
        case HQ_GATE_U: {
            double th = op->gate == HQ_GATE_U2 ? M_PI / 2 : a[0];
            double ph = op->gate == HQ_GATE_U2 ? a[0] : a[1];
            double la = op->gate == HQ_GATE_U2 ? a[1] : a[2];
            gate1(&b, "rz", &la, 1, q[0]);
            gate1(&b, "ry", &th, 1, q[0]);
            gate1(&b, "rz", &ph, 1, q[0]);
            break;
        }
        case HQ_GATE_CX: gate2(&b, "cnot", a, 0, q[0], q[1]); break;
        case HQ_GATE_CY: gate2(&b, "cy", a, 0, q[0], q[1]); break;
        case HQ_GATE_CZ: gate2(&b, "cz", a, 0, q[0], q[1]); break;
        case HQ_GATE_SWAP: gate2(&b, "swap", a, 0, q[0], q[1]); break;
        case HQ_GATE_ISWAP: gate2(&b, "iswap", a, 0, q[0], q[1]); break;
        case HQ_GATE_ECR: gate2(&b, "ecr", a, 0, q[0], q[1]); break;
        case HQ_GATE_CP:
        case HQ_GATE_CU1: gate2(&b, "cphaseshift", a, 1, q[0], q[1]); break;
        case HQ_GATE_RXX: gate2(&b, "xx", a, 1, q[0], q[1]); break;
        case HQ_GATE_RYY: gate2(&b, "yy", a, 1, q[0], q[1]); break;
        case HQ_GATE_RZZ: gate2(&b, "zz", a, 1, q[0], q[1]); break;
        case HQ_GATE_CH:
            h[0] = -M_PI / 4;
            gate1(&b, "ry", h, 1, q[1]);
            gate2(&b, "cz", a, 0, q[0], q[1]);
            h[0] = M_PI / 4;
            gate1(&b, "ry", h, 1, q[1]);
            break;
        case HQ_GATE_CRX:
        case HQ_GATE_CRY:
        case HQ_GATE_CRZ: {
            const char *r = op->gate == HQ_GATE_CRY ? "ry" : "rz";
            if (op->gate == HQ_GATE_CRX) gate1(&b, "h", a, 0, q[1]);
            h[0] = a[0] / 2;
            gate1(&b, r, h, 1, q[1]);
            gate2(&b, "cnot", a, 0, q[0], q[1]);
            h[0] = -a[0] / 2;
            gate1(&b, r, h, 1, q[1]);
            gate2(&b, "cnot", a, 0, q[0], q[1]);
            if (op->gate == HQ_GATE_CRX) gate1(&b, "h", a, 0, q[1]);
            break;
        }
        case HQ_GATE_CCX:
            hq_sbuf_printf(&b, "ccnot q[%d], q[%d], q[%d];\n", q[0], q[1], q[2]);
            break;
        case HQ_GATE_CSWAP:
            hq_sbuf_printf(&b, "cswap q[%d], q[%d], q[%d];\n", q[0], q[1], q[2]);
            break;
        case HQ_GATE_MEASURE:
            hq_sbuf_printf(&b, "c[%d] = measure q[%d];\n", op->clbit, q[0]);
            break;
        default:
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: gate '%s' (operation %" PRId64 ") has no Braket equivalent here", fn,
                          hq_gate_get_info((hq_gate)op->gate)->name, i);
        }
    }
    hq_free(ang);
    if (st == HQ_OK) st = hq_sbuf_status(&b);
    if (st == HQ_OK) {
        hq_sbuf_append(out, b.p, b.len);
        st = hq_sbuf_status(out);
    }
    hq_sbuf_free(&b);
    return st;
}

/* ==== signing ============================================================================== */

static hq_status ensure_cred(braket_ctx *c) {
    if (c->cred) return HQ_OK;
    hq_status st =
        hq_credentials_load(HQ_CRED_AWS, c->credentials[0] ? c->credentials : NULL, &c->cred);
    return st ? hq_fail_prefix(NULL, st, "braket") : HQ_OK;
}

/* host[:port] of an http(s) URL */
static void url_host(const char *url, char *host, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    snprintf(host, cap, "%.*s", (int)n, p);
}

/* Perform a SigV4-signed request to host (url = scheme://host + path [+ ? query]). */
static hq_status signed_request(braket_ctx *c, hq_http_method m, const char *base_url,
                                const char *host, const char *path, const char *query,
                                const char *body, size_t len, const char *service, bool s3,
                                bool idempotent, double timeout_s, hq_http_response *rs) {
    hq_status st = ensure_cred(c);
    if (st) {
        memset(rs, 0, sizeof *rs);
        return st;
    }
    hq_http_header extra[1] = {{"Content-Type", "application/json"}};
    int n_extra = body ? 1 : 0;
    hq_sigv4_creds cr = {.access_key_id = hq_credentials_get(c->cred, "access_key_id"),
                         .secret_access_key = hq_credentials_get(c->cred, "secret_access_key"),
                         .session_token = hq_credentials_get(c->cred, "session_token")};
    hq_sigv4_request rq = {.method = hq_http_method_name(m),
                           .host = host,
                           .path = path,
                           .query = query,
                           .headers = extra,
                           .n_headers = n_extra,
                           .body = body,
                           .body_len = len,
                           .region = c->region,
                           .service = service,
                           .s3 = s3};
    hq_sigv4_signed sg;
    st = hq_sigv4_sign(&cr, &rq, &sg);
    if (st) {
        memset(rs, 0, sizeof *rs);
        return hq_fail_prefix(NULL, st, "braket: signing %s %s", rq.method, path);
    }
    hq_http_header hd[1 + HQ_SIGV4_MAX_ADD + 1];
    int nh = 0;
    if (n_extra) hd[nh++] = extra[0];
    for (int k = 0; k < sg.n_headers; k++) hd[nh++] = sg.headers[k];
    hd[nh++] = (hq_http_header){"Accept", "application/json"};
    hq_sbuf url = HQ_SBUF_INIT;
    hq_sbuf_printf(&url, "%s%s%s%s", base_url, path, query && *query ? "?" : "",
                   query && *query ? query : "");
    st = hq_sbuf_status(&url);
    if (st == HQ_OK)
        st = rest_perform(&c->rc, m, url.p, hd, nh, body, len, idempotent, timeout_s, rs);
    else
        memset(rs, 0, sizeof *rs);
    hq_sbuf_free(&url);
    hq_sigv4_signed_free(&sg);
    return st;
}

static hq_status braket_call(braket_ctx *c, hq_http_method m, const char *path, const char *body,
                             size_t len, bool idempotent, double timeout_s, hq_http_response *rs) {
    return signed_request(c, m, c->rc.url, c->host, path, NULL, body, len, "braket", false,
                          idempotent, timeout_s, rs);
}

/* ==== create ============================================================================== */

static hq_status braket_create(const char *json, void **ctx, hq_sbuf *id_extra) {
    braket_ctx *c = hq_calloc(1, sizeof *c);
    if (!c) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    rest_common_init(&c->rc, "Amazon Braket", "braket", "");
    c->rc.max_circuits = 100;
    c->rc.max_in_flight = 2;
    c->rc.max_shots = 100000;
    c->rc.max_qubits = 25;
    c->rc.seconds_per_job = 3600;
    c->rc.seconds_per_shot = 1e-3;
    snprintf(c->s3_prefix, sizeof c->s3_prefix, "hqcnn");
    snprintf(c->state_dir, sizeof c->state_dir, "runs/braket");
    bool seen_prices = false;
    rest_opt tab[REST_COMMON_OPTS + 12];
    int n = rest_common_options(&c->rc, tab);
    for (int i = 0; i < n; i++)
        if (!strcmp(tab[i].name, "prices")) tab[i].seen = &seen_prices;
    tab[n++] = (rest_opt){"device_arn", REST_OPT_STR, c->device_arn, sizeof c->device_arn, 0, 0,
                          true,         NULL};
    tab[n++] = (rest_opt){"region", REST_OPT_STR, c->region, sizeof c->region, 0, 0, false, NULL};
    tab[n++] =
        (rest_opt){"s3_bucket", REST_OPT_STR, c->s3_bucket, sizeof c->s3_bucket, 0, 0, false, NULL};
    tab[n++] =
        (rest_opt){"s3_prefix", REST_OPT_STR, c->s3_prefix, sizeof c->s3_prefix, 0, 0, false, NULL};
    tab[n++] = (rest_opt){"s3_url", REST_OPT_STR, c->s3_url, sizeof c->s3_url, 0, 0, false, NULL};
    tab[n++] =
        (rest_opt){"state_dir", REST_OPT_STR, c->state_dir, sizeof c->state_dir, 0, 0, false, NULL};
    tab[n++] = (rest_opt){
        "device_parameters", REST_OPT_OBJECT, &c->device_parameters, 0, 0, 0, true, NULL};
    tab[n++] = (rest_opt){"credentials", REST_OPT_STR, c->credentials, sizeof c->credentials, 0, 0,
                          false,         NULL};
    hq_status st = rest_parse_options("braket", json, tab, n, id_extra);
    if (st == HQ_OK && strncmp(c->device_arn, "arn:aws:braket:", 15))
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "braket: option 'device_arn' is required and must be a Braket device ARN "
                      "(\"arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1\", ...), got \"%s\"",
                      c->device_arn);
    if (st == HQ_OK && !c->s3_bucket[0])
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "braket: option 's3_bucket' is required: the S3 bucket Braket writes "
                      "results to (\"amazon-braket-<account>-<region>\")");
    if (st == HQ_OK && (!c->s3_prefix[0] || !c->state_dir[0]))
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "braket: options 's3_prefix' and 'state_dir' "
                      "must not be empty");
    if (st == HQ_OK && !c->region[0]) {
        /* the region of the ARN (arn:aws:braket:<region>::...), else AWS_REGION */
        const char *r = c->device_arn + 15;
        size_t rl = strcspn(r, ":");
        if (rl > 0 && rl < sizeof c->region) {
            snprintf(c->region, sizeof c->region, "%.*s", (int)rl, r);
        } else {
            const char *env[] = {"AWS_REGION", "AWS_DEFAULT_REGION", NULL};
            const char *e = rest_getenv_first(env);
            snprintf(c->region, sizeof c->region, "%s", e ? e : "us-east-1");
        }
    }
    if (st == HQ_OK && !c->rc.url[0]) {
        char host[128];
        st = hq_braket_endpoint(c->region, host, sizeof host);
        if (st == HQ_OK) snprintf(c->rc.url, sizeof c->rc.url, "https://%s", host);
    }
    if (st == HQ_OK) st = rest_common_check(&c->rc);
    if (st == HQ_OK) {
        url_host(c->rc.url, c->host, sizeof c->host);
        const char *path = strstr(c->rc.url, "://");
        if (path && strchr(path + 3, '/'))
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "braket: option 'url' must be scheme://host[:port]"
                          " without a path");
    }
    if (st == HQ_OK && c->s3_url[0]) {
        size_t l = strlen(c->s3_url);
        while (l && c->s3_url[l - 1] == '/') c->s3_url[--l] = '\0';
        st = hq_http_check_url(c->s3_url);
        if (st) hq_fail_prefix(NULL, st, "braket: option 's3_url'");
    }
    if (st == HQ_OK && !seen_prices) {
        /* Amazon Braket list prices (USD): every task costs 0.30, plus per shot by device */
        c->rc.prices[1] = 0.30;
        const char *d = c->device_arn;
        c->rc.prices[2] = strstr(d, "quantum-simulator") ? 0
                          : strstr(d, "/ionq/Forte")     ? 0.08
                          : strstr(d, "/ionq/")          ? 0.03
                          : strstr(d, "/iqm/")           ? 0.00145
                          : strstr(d, "/rigetti/")       ? 0.0009
                                                         : 0.01;
        if (strstr(d, "quantum-simulator")) c->rc.prices[1] = 0; /* simulators bill minutes */
    }
    if (st) {
        hq_free(c->device_parameters);
        rest_common_free(&c->rc);
        hq_free(c);
        return st;
    }
    *ctx = c;
    return HQ_OK;
}

static void braket_destroy(void *ctx) {
    braket_ctx *c = ctx;
    hq_credentials_free(c->cred);
    hq_free(c->device_parameters);
    rest_common_free(&c->rc);
    hq_free(c);
}

static void braket_caps(void *ctx, hq_backend_caps *out) {
    braket_ctx *c = ctx;
    rest_common_caps(&c->rc, out);
    out->max_rows_per_entry = 0;
}

/* ==== submit ============================================================================== */

static hq_status parse_create_cb(void *user, const char *body, size_t len) {
    hq_qpu_job_status js;
    hq_status st = hq_braket_parse_create(body, len, &js);
    if (st == HQ_OK) snprintf((char *)user, 256, "%s", js.id);
    hq_qpu_job_status_free(&js);
    return st;
}

/* Create task k of a group (idempotent: same client token, same body). */
static hq_status create_task(braket_ctx *c, group *g, int k) {
    char tok[96];
    snprintf(tok, sizeof tok, "%s-%d", g->token, k);
    hq_braket_task_spec ts = {.device_arn = c->device_arn,
                              .qasm3 = g->t[k].source,
                              .shots = g->shots,
                              .client_token = tok,
                              .s3_bucket = c->s3_bucket,
                              .s3_prefix = c->s3_prefix,
                              .device_parameters_json = c->device_parameters};
    hq_sbuf body = HQ_SBUF_INIT;
    hq_status st = hq_braket_build_create_task(&ts, &body);
    if (st) return st;
    hq_http_response rs;
    st = braket_call(c, HQ_HTTP_POST, "/quantum-task", body.p, body.len, true,
                     c->rc.submit_timeout_s, &rs);
    hq_sbuf_free(&body);
    if (st == HQ_OK) st = parse_create_cb(g->t[k].arn, rs.body, rs.body_len);
    hq_http_response_free(&rs);
    if (st) {
        g->t[k].arn[0] = '\0';
        return hq_fail_prefix(NULL, st, "braket: creating task %d of job %s", k, g->token);
    }
    return group_save(c, g);
}

/* Create every task of g that has no ARN yet. */
static hq_status complete_group(braket_ctx *c, group *g) {
    for (int k = 0; k < g->n; k++) {
        if (g->t[k].arn[0]) continue;
        hq_status st = create_task(c, g, k);
        if (st) return st;
    }
    return HQ_OK;
}

static void cancel_tasks(braket_ctx *c, const group *g, int skip);

static hq_status braket_submit(void *ctx, const hq_job_spec *job,
                               char remote_id[HQ_REMOTE_ID_MAX]) {
    braket_ctx *c = ctx;
    hq_status st = ensure_cred(c);
    if (st) return st;
    if (strlen(job->client_token) > 40)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "braket: client token longer than 40 characters");
    double t0 = hq_time_now();
    group g;
    memset(&g, 0, sizeof g);
    snprintf(g.token, sizeof g.token, "%s", job->client_token);
    g.shots = job->shots;
    g.n = job->n_entries;
    g.t = hq_calloc((size_t)g.n, sizeof *g.t);
    if (!g.t) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    for (int i = 0; st == HQ_OK && i < g.n; i++) {
        hq_circuit *rel = NULL;
        hq_transpile_result tr;
        memset(&tr, 0, sizeof tr);
        st = rest_readout_relabel("braket", job->entries[i].circuit, &rel, &g.t[i].clbits);
        if (st == HQ_OK)
            st = hq_transpile_ionq(rel ? rel : job->entries[i].circuit, HQ_IONQ_QIS,
                                   (int)c->rc.max_qubits, NULL, &tr);
        hq_sbuf src = HQ_SBUF_INIT;
        if (st == HQ_OK) st = hq_braket_write_qasm(tr.circuit, &src);
        if (st == HQ_OK) g.t[i].source = hq_sbuf_take(&src);
        hq_sbuf_free(&src);
        hq_transpile_result_free(&tr);
        hq_circuit_free(rel);
        if (st) hq_fail_prefix(NULL, st, "braket: circuit %d of the job", i);
    }
    if (st == HQ_OK) st = hq_mkdir_p(c->state_dir, 0700);
    if (st == HQ_OK) st = group_save(c, &g); /* recorded before anything is sent */
    c->rc.t_build += hq_time_now() - t0;
    if (st == HQ_OK) {
        st = complete_group(c, &g);
        if (st &&
            !(st == HQ_ERR_NETWORK || st == HQ_ERR_TIMEOUT || st == HQ_ERR_PARSE ||
              (st == HQ_ERR_HTTP && (c->rc.last_status >= 500 || c->rc.last_status == 429)))) {
            /* refused for good (validation, auth): withdraw the tasks already created */
            char msg[HQ_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", hq_last_error());
            cancel_tasks(c, &g, -1);
            char path[1200];
            if (group_path(c, g.token, path, sizeof path) == HQ_OK) remove(path);
            hq_failf(NULL, st, "%s", msg);
        } else if (st) {
            st = rest_submit_outcome(&c->rc, st);
        }
    }
    if (st == HQ_OK) {
        snprintf(remote_id, HQ_REMOTE_ID_MAX, GROUP_PREFIX "%s", g.token);
        c->rc.accepted++;
    }
    group_free(&g);
    return st;
}

static hq_status braket_find_by_token(void *ctx, const char *token,
                                      char remote_id[HQ_REMOTE_ID_MAX], bool *found) {
    braket_ctx *c = ctx;
    group g;
    bool have = false;
    hq_status st = group_load(c, token, &g, &have);
    if (st || !have) return st;
    /* the job was recorded and maybe partly sent: finish it with the same task tokens */
    st = complete_group(c, &g);
    group_free(&g);
    if (st) return hq_fail_prefix(NULL, st, "braket: completing the task group of job %s", token);
    *found = true;
    snprintf(remote_id, HQ_REMOTE_ID_MAX, GROUP_PREFIX "%s", token);
    return HQ_OK;
}

/* ==== poll / fetch ========================================================================= */

static hq_status parse_task_cb(void *user, const char *body, size_t len) {
    hq_qpu_job_status *js = user;
    hq_qpu_job_status_free(js);
    return hq_braket_parse_task(body, len, js);
}

static hq_status get_task(braket_ctx *c, const char *arn, hq_qpu_job_status *js) {
    hq_sbuf path = HQ_SBUF_INIT;
    hq_status st = hq_braket_task_path(arn, NULL, &path);
    memset(js, 0, sizeof *js);
    for (int attempt = 0; st == HQ_OK && attempt < 3; attempt++) {
        hq_http_response rs;
        st = braket_call(c, HQ_HTTP_GET, path.p, NULL, 0, true, 0, &rs);
        if (st == HQ_OK) st = parse_task_cb(js, rs.body, rs.body_len);
        hq_http_response_free(&rs);
        if (st != HQ_ERR_PARSE) break;
        if (attempt < 2) st = HQ_OK;
    }
    hq_sbuf_free(&path);
    return st;
}

static void cancel_tasks(braket_ctx *c, const group *g, int skip) {
    for (int k = 0; k < g->n; k++) {
        if (k == skip || !g->t[k].arn[0] || g->t[k].done) continue;
        hq_sbuf path = HQ_SBUF_INIT, body = HQ_SBUF_INIT;
        char tok[100];
        snprintf(tok, sizeof tok, "%s-%d-cancel", g->token, k);
        hq_http_response rs;
        if (hq_braket_task_path(g->t[k].arn, "/cancel", &path) == HQ_OK &&
            hq_braket_build_cancel(tok, &body) == HQ_OK &&
            braket_call(c, HQ_HTTP_PUT, path.p, body.p, body.len, true, 0, &rs) != HQ_OK)
            HQ_LOGW("braket: could not cancel task %s: %s", g->t[k].arn, hq_last_error());
        else
            hq_http_response_free(&rs);
        hq_sbuf_free(&path);
        hq_sbuf_free(&body);
    }
}

/* results.json of one completed task, mapped to its logical classical bits */
typedef struct res_req {
    int64_t shots;
    int clbits;
    hq_counts out;
} res_req;

static hq_status parse_res_cb(void *user, const char *body, size_t len) {
    res_req *r = user;
    hq_qpu_results res;
    int mq[64], nmq = 0;
    hq_status st = hq_braket_parse_results(body, len, r->shots, &res, mq, 64, &nmq);
    if (st) return st;
    int src[64];
    for (int k = 0; k < r->clbits; k++) {
        src[k] = -1;
        for (int col = 0; col < nmq; col++)
            if (mq[col] == k) src[k] = col;
    }
    hq_counts_free(&r->out);
    st = hq_qpu_counts_remap(&res.r[0].counts, src, r->clbits, &r->out);
    if (st == HQ_OK) hq_counts_sort(&r->out);
    hq_qpu_results_free(&res);
    return st;
}

static hq_status task_results(braket_ctx *c, const group *g, int k, hq_counts *out) {
    hq_qpu_job_status js;
    hq_status st = get_task(c, g->t[k].arn, &js);
    if (st == HQ_OK && js.state != HQ_QPU_COMPLETED)
        st = hq_failf(NULL, HQ_ERR_MISUSE, "braket: task %s is %s, not completed", g->t[k].arn,
                      hq_qpu_state_name(js.state));
    char host[300], base[REST_URL_MAX + 64];
    hq_sbuf path = HQ_SBUF_INIT, full = HQ_SBUF_INIT;
    if (st == HQ_OK) st = hq_braket_results_location(&js, c->region, host, sizeof host, &path);
    if (st == HQ_OK && c->s3_url[0]) {
        /* path-style on the configured endpoint */
        hq_sbuf_putc(&full, '/');
        hq_http_url_encode(&full, js.s3_bucket, NULL);
        hq_sbuf_append(&full, path.p, path.len);
        url_host(c->s3_url, host, sizeof host);
        snprintf(base, sizeof base, "%s", c->s3_url);
    } else if (st == HQ_OK) {
        hq_sbuf_append(&full, path.p, path.len);
        snprintf(base, sizeof base, "https://%s", host);
    }
    if (st == HQ_OK) st = hq_sbuf_status(&full);
    res_req rr = {.shots = g->shots, .clbits = g->t[k].clbits};
    hq_counts_init(&rr.out, 1);
    for (int attempt = 0; st == HQ_OK && attempt < 3; attempt++) {
        hq_http_response rs;
        st = signed_request(c, HQ_HTTP_GET, base, host, full.p, NULL, NULL, 0, "s3", true, true, 0,
                            &rs);
        if (st == HQ_OK) {
            double t0 = hq_time_now();
            st = parse_res_cb(&rr, rs.body, rs.body_len);
            c->rc.t_digest += hq_time_now() - t0;
        }
        hq_http_response_free(&rs);
        if (st != HQ_ERR_PARSE) break;
        if (attempt < 2) st = HQ_OK;
    }
    hq_sbuf_free(&path);
    hq_sbuf_free(&full);
    hq_qpu_job_status_free(&js);
    if (st == HQ_OK) {
        hq_counts_free(out);
        *out = rr.out;
    } else {
        hq_counts_free(&rr.out);
        hq_fail_prefix(NULL, st, "braket: results of task %d (%s)", k, g->t[k].arn);
    }
    return st;
}

static hq_status load_group_of(braket_ctx *c, const char *remote_id, group *g) {
    if (strncmp(remote_id, GROUP_PREFIX, strlen(GROUP_PREFIX)))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "braket: '%s' is not a task-group id (expected " GROUP_PREFIX "<token>)",
                        remote_id);
    bool found = false;
    hq_status st = group_load(c, remote_id + strlen(GROUP_PREFIX), g, &found);
    if (st == HQ_OK && !found)
        st = hq_failf(NULL, HQ_ERR_NOT_FOUND,
                      "braket: no record of task group %s in %s ---> HINT: the option "
                      "'state_dir' must be the same as when the job was submitted",
                      remote_id, c->state_dir);
    return st;
}

static hq_status gather(braket_ctx *c, const char *remote_id, const group *g, hq_counts **out) {
    hq_counts *counts = hq_calloc((size_t)g->n, sizeof *counts);
    if (!counts) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    hq_status st = HQ_OK;
    for (int k = 0; k < g->n; k++) hq_counts_init(&counts[k], 1);
    for (int k = 0; st == HQ_OK && k < g->n; k++) st = task_results(c, g, k, &counts[k]);
    if (st) {
        for (int k = 0; k < g->n; k++) hq_counts_free(&counts[k]);
        hq_free(counts);
        return hq_fail_prefix(NULL, st, "braket: job %s", remote_id);
    }
    *out = counts;
    return HQ_OK;
}

static hq_status braket_poll(void *ctx, const char *remote_id, hq_job_state *state, char *reason,
                             size_t cap) {
    braket_ctx *c = ctx;
    group g;
    hq_status st = load_group_of(c, remote_id, &g);
    if (st) return st;
    int queued = 0, running = 0, done = 0, failed = -1, cancelled = -1;
    char why[600] = "";
    bool changed = false;
    for (int k = 0; st == HQ_OK && k < g.n; k++) {
        if (g.t[k].done) {
            done++;
            continue;
        }
        if (!g.t[k].arn[0]) {
            st = hq_failf(NULL, HQ_ERR_INTERNAL,
                          "braket: task %d of job %s was never created (resume the run: the "
                          "group is completed first)",
                          k, remote_id);
            break;
        }
        hq_qpu_job_status js;
        st = get_task(c, g.t[k].arn, &js);
        if (st == HQ_OK) {
            hq_job_state s = hq_qpu_state_to_job(js.state);
            if (s == HQ_JOB_COMPLETED) {
                done++;
                g.t[k].done = changed = true;
            } else if (s == HQ_JOB_FAILED && failed < 0) {
                failed = k;
                snprintf(why, sizeof why, "task %d (%s) failed: %s", k, g.t[k].arn, js.failure_msg);
            } else if (s == HQ_JOB_CANCELLED && cancelled < 0) {
                cancelled = k;
                snprintf(why, sizeof why, "task %d (%s) was cancelled%s%s", k, g.t[k].arn,
                         js.failure_msg[0] ? ": " : "", js.failure_msg);
            } else if (s == HQ_JOB_RUNNING) {
                running++;
            } else {
                queued++;
            }
        }
        hq_qpu_job_status_free(&js);
    }
    if (changed) group_save(c, &g);
    if (st) {
        group_free(&g);
        return rest_poll_outcome(&c->rc, st, remote_id);
    }
    if (failed >= 0 || cancelled >= 0) {
        *state = failed >= 0 ? HQ_JOB_FAILED : HQ_JOB_CANCELLED;
        if (reason && cap) snprintf(reason, cap, "Amazon Braket %s", why);
        cancel_tasks(c, &g, failed >= 0 ? failed : cancelled); /* the rest would be wasted */
    } else if (done == g.n) {
        *state = HQ_JOB_COMPLETED;
        c->rc.calib.stale = true;
        hq_counts *counts = NULL;
        st = gather(c, remote_id, &g, &counts);
        if (st) {
            group_free(&g);
            return rest_poll_outcome(&c->rc, st, remote_id);
        }
        rest_cache_put(&c->rc, remote_id, g.n, counts);
    } else {
        *state = running || done ? HQ_JOB_RUNNING : HQ_JOB_QUEUED;
    }
    group_free(&g);
    rest_poll_ok(&c->rc);
    return HQ_OK;
}

static hq_status braket_fetch(void *ctx, const char *remote_id, int64_t n, hq_counts *counts) {
    braket_ctx *c = ctx;
    if (rest_cache_take(&c->rc, remote_id, n, counts)) return HQ_OK;
    group g;
    hq_status st = load_group_of(c, remote_id, &g);
    if (st) return st;
    if (g.n != n)
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "braket: job %s has %d tasks, %" PRId64 " results "
                      "were asked for",
                      remote_id, g.n, n);
    hq_counts *got = NULL;
    if (st == HQ_OK) st = gather(c, remote_id, &g, &got);
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        hq_counts_free(&counts[i]);
        counts[i] = got[i];
    }
    hq_free(got);
    group_free(&g);
    return st;
}

static hq_status braket_cancel(void *ctx, const char *remote_id) {
    braket_ctx *c = ctx;
    group g;
    hq_status st = load_group_of(c, remote_id, &g);
    if (st) return st;
    cancel_tasks(c, &g, -1);
    group_free(&g);
    return HQ_OK;
}

/* ==== calibration ========================================================================= */

static hq_status parse_device_cb(void *user, const char *body, size_t len) {
    char *id = user;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(o, "deviceCapabilities");
    hq_status st = HQ_OK;
    if (!cJSON_IsString(caps)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "braket: GetDevice reply without deviceCapabilities");
    } else {
        /* the capabilities document holds the calibration (fidelities, dates): its hash
         * changes whenever they do */
        char hex[HQ_SHA256_HEX_LEN];
        st = hq_sha256_hex(caps->valuestring, strlen(caps->valuestring), hex);
        if (st == HQ_OK) snprintf(id, HQ_CALIB_ID_MAX, "capabilities-%.16s", hex);
    }
    cJSON_Delete(o);
    return st;
}

static hq_status braket_calibration(void *ctx, char calib_id[HQ_CALIB_ID_MAX], char **json) {
    braket_ctx *c = ctx;
    (void)json;
    double now = hq_time_now();
    if (rest_calib_due(&c->rc.calib, now)) {
        hq_sbuf path = HQ_SBUF_INIT;
        hq_sbuf_puts(&path, "/device/");
        hq_http_url_encode(&path, c->device_arn, NULL);
        char id[HQ_CALIB_ID_MAX] = "";
        hq_status st = hq_sbuf_status(&path);
        hq_http_response rs;
        memset(&rs, 0, sizeof rs);
        if (st == HQ_OK) st = braket_call(c, HQ_HTTP_GET, path.p, NULL, 0, true, 0, &rs);
        if (st == HQ_OK) st = parse_device_cb(id, rs.body, rs.body_len);
        hq_http_response_free(&rs);
        hq_sbuf_free(&path);
        if (st == HQ_OK) {
            rest_calib_set(&c->rc.calib, id, now);
        } else {
            HQ_LOGW("braket: cannot read the device's capabilities (%s)", hq_last_error());
            if (!c->rc.calib.id[0]) snprintf(c->rc.calib.id, sizeof c->rc.calib.id, "unknown");
        }
    }
    snprintf(calib_id, HQ_CALIB_ID_MAX, "%s", c->rc.calib.id);
    return HQ_OK;
}

static hq_status braket_count(void *ctx, int64_t *n) {
    *n = ((braket_ctx *)ctx)->rc.accepted;
    return HQ_OK;
}

const hq_backend_ops hq_backend_braket_ops = {
    .abi_version = HQ_BACKEND_ABI_VERSION,
    .name = "braket",
    .description = "Amazon Braket (SigV4; one quantum task per circuit, a job is a task group "
                   "recorded in state_dir; results from S3)",
    .create = braket_create,
    .destroy = braket_destroy,
    .caps = braket_caps,
    .submit = braket_submit,
    .find_by_token = braket_find_by_token,
    .poll = braket_poll,
    .fetch = braket_fetch,
    .cancel = braket_cancel,
    .calibration = braket_calibration,
    .submitted_count = braket_count,
};
