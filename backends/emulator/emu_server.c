/*
 * backends/emulator/emu_server.c — the emulator's HTTP server (libmicrohttpd, one thread per
 * connection, 127.0.0.1 only): start and stop, request assembly with a body limit, routing
 * to the IonQ / IBM / control handlers, IonQ API-key auth, and the wire-level faults (error
 * replies, delays, dropped connections, truncated or mistyped JSON). Job faults are applied
 * where jobs are accepted (emu_jobs.c).
 *
 * Order of work on one request: count it -> time-driven side effects -> pick the faults
 * (X-Emu-Fault header, then armed ones) -> a reply fault answers at once; otherwise auth,
 * then the route handler -> delivery faults alter the reply -> sleep if asked -> send (or
 * drop the connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backends/emulator/emu_impl.h"
#include "core/sha256.h"

/* ==== options ========================================================================= */

const char *hq_emu_profile_name(hq_emu_profile p) {
    return p == HQ_EMU_PROFILE_IONQ ? "ionq" : p == HQ_EMU_PROFILE_IBM ? "ibm" : "?";
}

hq_status hq_emu_profile_parse(const char *s, hq_emu_profile *out) {
    if (s && out && !strcmp(s, "ionq"))
        *out = HQ_EMU_PROFILE_IONQ;
    else if (s && out && !strcmp(s, "ibm"))
        *out = HQ_EMU_PROFILE_IBM;
    else
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "unknown emulator profile '%s' (ionq, ibm)",
                        s ? s : "(null)");
    return HQ_OK;
}

hq_emulator_options hq_emulator_default_options(hq_emu_profile p) {
    hq_emulator_options o;
    memset(&o, 0, sizeof o);
    o.profile = p;
    o.seed = 1;
    o.queue_delay_ms = 100;
    o.run_delay_ms = 100;
    o.token_ttl_s = 3600;
    o.max_body_bytes = (size_t)16 << 20;
    o.max_connections = 64;
    o.max_qubits_noisy = 10;
    o.max_qubits_exact = 20;
    o.max_samples_per_job = 10000000;
    o.max_circuits_per_job = 1000;
    o.max_jobs = 100000;
    return o;
}

/* Fill zero limits with defaults and check ranges. */
static hq_status check_options(hq_emulator_options *o) {
    hq_emulator_options d = hq_emulator_default_options(o->profile);
#define DEF(f) \
    if (!o->f) o->f = d.f;
    DEF(token_ttl_s)
    DEF(max_body_bytes)
    DEF(max_connections)
    DEF(max_qubits_noisy)
    DEF(max_qubits_exact)
    DEF(max_samples_per_job)
    DEF(max_circuits_per_job)
    DEF(max_jobs)
#undef DEF
    const char *fn = "hq_emulator_start";
    if ((unsigned)o->profile >= HQ_EMU_PROFILE_COUNT)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: profile %d out of range [0, %d)", fn,
                        (int)o->profile, (int)HQ_EMU_PROFILE_COUNT);
    if (o->bind_addr && strcmp(o->bind_addr, "127.0.0.1"))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: bind address '%s' refused: the emulator serves 127.0.0.1 only", fn,
                        o->bind_addr);
    if (o->port < 0 || o->port > 65535)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: port %d out of range [0, 65535]", fn,
                        o->port);
    if (o->queue_delay_ms < 0 || o->queue_delay_ms > 864000000 || o->run_delay_ms < 0 ||
        o->run_delay_ms > 864000000)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: queue / run delay %lld / %lld ms out of range [0, 864000000]", fn,
                        (long long)o->queue_delay_ms, (long long)o->run_delay_ms);
    if (!(o->token_ttl_s > 0 && o->token_ttl_s <= 1e7))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: token_ttl_s %g out of range (0, 1e7]", fn,
                        o->token_ttl_s);
    if (o->max_body_bytes < 1024 || o->max_body_bytes > ((size_t)1 << 30))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: max_body_bytes %zu out of range [1 KiB, 1 GiB]", fn,
                        o->max_body_bytes);
    if (o->max_connections < 1 || o->max_connections > 1024)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: max_connections %d out of range [1, 1024]",
                        fn, o->max_connections);
    if (o->max_qubits_noisy < 1 || o->max_qubits_noisy > 14)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: max_qubits_noisy %d out of range [1, 14]",
                        fn, o->max_qubits_noisy);
    if (o->max_qubits_exact < 1 || o->max_qubits_exact > 26)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: max_qubits_exact %d out of range [1, 26]",
                        fn, o->max_qubits_exact);
    if (o->max_samples_per_job < 1 || o->max_samples_per_job > 100000000)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: max_samples_per_job %lld out of range [1, 1e8]", fn,
                        (long long)o->max_samples_per_job);
    if (o->max_circuits_per_job < 1 || o->max_circuits_per_job > 100000)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: max_circuits_per_job %d out of range [1, 100000]", fn,
                        o->max_circuits_per_job);
    if (o->max_jobs < 1 || o->max_jobs > 10000000)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: max_jobs %lld out of range [1, 1e7]", fn,
                        (long long)o->max_jobs);
    if (o->device_props && !o->device_conf)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: device_props needs device_conf (the configuration JSON)", fn);
    return HQ_OK;
}

/* ==== small helpers =================================================================== */

void emu_put_num(hq_sbuf *b, double v) {
    if (!isfinite(v))
        hq_sbuf_puts(b, "null");
    else if (v == floor(v) && fabs(v) < 1e15)
        hq_sbuf_printf(b, "%lld", (long long)v);
    else
        hq_sbuf_put_double(b, v);
}

bool emu_const_eq(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = (unsigned char)(na != nb);
    for (size_t i = 0; i < na && i < nb; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

void emu_sleep_ms(hq_emulator *e, double ms) {
    if (!(ms > 0)) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double s = floor(ms / 1000.0);
    ts.tv_sec += (time_t)s;
    ts.tv_nsec += (long)((ms - s * 1000.0) * 1e6);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->lock);
    while (!e->stopping)
        if (pthread_cond_timedwait(&e->stop_cond, &e->lock, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&e->lock);
}

hq_status emu_parse_delay_header(const char *v, double *queue_ms, double *run_ms, bool *has_run) {
    char a[64] = "", b[64] = "";
    const char *comma = strchr(v, ',');
    size_t na = comma ? (size_t)(comma - v) : strlen(v);
    if (na >= sizeof a || (comma && strlen(comma + 1) >= sizeof b)) return HQ_ERR_PARSE;
    memcpy(a, v, na);
    a[na] = '\0';
    if (comma) snprintf(b, sizeof b, "%s", comma + 1);
    *has_run = comma != NULL;
    if (hq_parse_double(a, queue_ms) != HQ_OK || !(*queue_ms >= 0 && *queue_ms <= 864e6))
        return HQ_ERR_PARSE;
    if (comma && (hq_parse_double(b, run_ms) != HQ_OK || !(*run_ms >= 0 && *run_ms <= 864e6)))
        return HQ_ERR_PARSE;
    return HQ_OK;
}

const char *emu_req_header(const emu_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *emu_req_query(const emu_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct args_ctx {
    void (*fn)(void *, const char *, const char *);
    void *user;
    const char *name;
    void (*fn1)(void *, const char *);
} args_ctx;

static enum MHD_Result args_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
    (void)kind;
    args_ctx *a = cls;
    if (a->fn) a->fn(a->user, key, value);
    if (a->fn1 && key && !strcmp(key, a->name)) a->fn1(a->user, value);
    return MHD_YES;
}

void emu_req_args(const emu_req *r, void (*fn)(void *, const char *, const char *), void *user) {
    args_ctx a = {fn, user, NULL, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, args_iter, &a);
}

void emu_req_query_all(const emu_req *r, const char *name, void (*fn)(void *, const char *),
                       void *user) {
    args_ctx a = {NULL, user, name, fn};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, args_iter, &a);
}

/* ==== replies ========================================================================= */

static const char *reason_phrase(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : "Error";
    }
}

void emu_reply_json(emu_reply *rp, int status) {
    rp->status = status;
    rp->ctype = "application/json";
}

void emu_reply_error(emu_reply *rp, emu_family fam, int status, int ibm_code, const char *fmt,
                     ...) {
    char msg[HQ_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hq_sbuf *b = &rp->body;
    hq_sbuf_reset(b);
    if (fam == EMU_IBM) {
        char trace[40];
        emu_uuid(trace);
        hq_sbuf_printf(b, "{\"errors\":[{\"code\":%d,\"message\":", ibm_code ? ibm_code : 1500);
        hq_sbuf_put_json_str(b, msg);
        hq_sbuf_printf(b,
                       ",\"more_info\":\"https://docs.quantum.ibm.com/errors\"}],\"trace\":\"%s\","
                       "\"status_code\":%d}",
                       trace, status);
    } else if (fam == EMU_IAM) {
        char rid[40];
        emu_uuid(rid);
        hq_sbuf_printf(b, "{\"errorCode\":\"BXNIM%04dE\",\"errorMessage\":", ibm_code);
        hq_sbuf_put_json_str(b, msg);
        hq_sbuf_printf(b, ",\"context\":{\"requestId\":\"%s\"}}", rid);
    } else {
        hq_sbuf_puts(b, "{\"error\":");
        hq_sbuf_put_json_str(b, reason_phrase(status));
        hq_sbuf_puts(b, ",\"message\":");
        hq_sbuf_put_json_str(b, msg);
        hq_sbuf_printf(b, ",\"statusCode\":%d}", status);
    }
    emu_reply_json(rp, status);
}

static const char HTML_503[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>503 Service Temporarily Unavailable</title></head>\n<body>"
    "<h1>Service Temporarily Unavailable</h1><p>The server is temporarily unable to service "
    "your request. Please try again later.</p><hr><p>cloudflare (hqcnn emulator)</p>"
    "</body></html>\n";

static void fault_reply(emu_req *r, emu_reply *rp, const emu_fault *f) {
    emu_family fam = r->fam;
    switch (f->kind) {
    case EMU_F_AUTH401:
        if (fam == EMU_IAM)
            emu_reply_error(rp, fam, 401, 415, "Provided API key could not be found. (injected)");
        else
            emu_reply_error(rp, fam, 401, 1201,
                            "Unauthorized: invalid credentials (injected by "
                            "the emulator's auth401 fault)");
        break;
    case EMU_F_AUTH403:
        emu_reply_error(rp, fam, 403, fam == EMU_IAM ? 403 : 1201,
                        "Forbidden: access denied (injected by the emulator's auth403 fault)");
        break;
    case EMU_F_RATE429:
        emu_reply_error(rp, fam, 429, 1202,
                        "Too many requests (injected by the emulator's "
                        "rate429 fault)");
        if (f->has_arg)
            snprintf(rp->retry_after, sizeof rp->retry_after, "%lld", (long long)f->arg_num);
        break;
    case EMU_F_ERR500: {
        int st = f->has_arg ? (int)f->arg_num : 500;
        emu_reply_error(rp, fam, st, 1500,
                        "Internal error (injected by the emulator's err500 "
                        "fault)");
        break;
    }
    case EMU_F_ERR503_HTML:
        hq_sbuf_reset(&rp->body);
        hq_sbuf_puts(&rp->body, HTML_503);
        rp->status = 503;
        rp->ctype = "text/html; charset=UTF-8";
        break;
    case EMU_F_DROP: rp->drop = true; break;
    default: break;
    }
}

static void numbers_to_strings(cJSON *n) {
    int idx = 0;
    for (cJSON *c = n ? n->child : NULL; c; c = c->next, idx++) {
        if (!cJSON_IsNumber(c)) {
            numbers_to_strings(c);
            continue;
        }
        hq_sbuf t = HQ_SBUF_INIT;
        emu_put_num(&t, c->valuedouble);
        cJSON *s = t.p ? cJSON_CreateString(t.p) : NULL;
        hq_sbuf_free(&t);
        if (!s) continue;
        /* the Replace* calls free c and give s its key (ViaPointer would not) */
        bool ok = cJSON_IsArray(n) ? cJSON_ReplaceItemInArray(n, idx, s)
                                   : cJSON_ReplaceItemInObjectCaseSensitive(n, c->string, s);
        if (!ok) {
            cJSON_Delete(s);
            continue;
        }
        c = s;
    }
}

static void apply_delivery(const emu_req_faults *f, emu_reply *rp) {
    if (f->bad_types && rp->body.len) {
        cJSON *doc = cJSON_ParseWithLength(rp->body.p, rp->body.len);
        if (doc) {
            numbers_to_strings(doc);
            char *t = cJSON_PrintUnformatted(doc);
            if (t) {
                hq_sbuf_reset(&rp->body);
                hq_sbuf_puts(&rp->body, t);
                cJSON_free(t);
            }
            cJSON_Delete(doc);
        }
    }
    if (f->truncate && rp->body.len >= 2) {
        rp->body.len /= 2;
        rp->body.p[rp->body.len] = '\0';
    }
    if (f->timeout) rp->delay_ms += f->timeout_ms;
}

/* ==== routing ========================================================================= */

static bool split_path(emu_req *r) {
    size_t n = strlen(r->path);
    if (n >= sizeof r->segbuf || r->path[0] != '/') return false;
    memcpy(r->segbuf, r->path, n + 1);
    r->nseg = 0;
    char *p = r->segbuf;
    while (*p) {
        while (*p == '/') *p++ = '\0';
        if (!*p) break;
        if (r->nseg == EMU_MAX_SEGS) return false;
        r->seg[r->nseg++] = p;
        while (*p && *p != '/') p++;
    }
    return true;
}

static emu_family family_of(const emu_req *r) {
    if (r->nseg >= 1 && !strcmp(r->seg[0], "v0.3")) return EMU_IONQ;
    if (r->nseg >= 2 && !strcmp(r->seg[0], "api") && !strcmp(r->seg[1], "v1")) return EMU_IBM;
    if (r->nseg >= 1 && !strcmp(r->seg[0], "identity")) return EMU_IAM;
    if (r->nseg >= 1 && !strcmp(r->seg[0], "_emu")) return EMU_CONTROL;
    return EMU_OTHER;
}

static bool is_submit(const emu_req *r) {
    if (strcmp(r->method, "POST")) return false;
    if (r->fam == EMU_IONQ) return r->nseg == 2 && !strcmp(r->seg[1], "jobs");
    if (r->fam == EMU_IBM) return r->nseg == 3 && !strcmp(r->seg[2], "jobs");
    return false;
}

static void stats_json(hq_emulator *e, hq_sbuf *b) {
    hq_sbuf_printf(b,
                   "{\"requests\":{\"total\":%lld,\"ionq\":%lld,\"ibm\":%lld},"
                   "\"jobs\":{\"accepted\":{\"total\":%lld,\"ionq\":%lld,\"ibm\":%lld},"
                   "\"stored\":{\"total\":%lld,\"ionq\":%lld,\"ibm\":%lld},\"executed\":%lld},",
                   (long long)e->st_requests, (long long)e->st_requests_fam[0],
                   (long long)e->st_requests_fam[1],
                   (long long)(e->st_accepted_fam[0] + e->st_accepted_fam[1]),
                   (long long)e->st_accepted_fam[0], (long long)e->st_accepted_fam[1],
                   (long long)e->n_jobs, (long long)e->n_jobs_fam[0], (long long)e->n_jobs_fam[1],
                   (long long)e->st_executed);
    int64_t total = 0;
    for (int k = 0; k < EMU_F_COUNT; k++) total += e->faults.fired[k];
    hq_sbuf_printf(b, "\"faults\":{\"fired\":{\"total\":%lld", (long long)total);
    for (int k = 0; k < EMU_F_COUNT; k++)
        hq_sbuf_printf(b, ",\"%s\":%lld", emu_fault_name((emu_fault_kind)k),
                       (long long)e->faults.fired[k]);
    hq_sbuf_puts(b, "},\"armed\":");
    emu_faults_to_json(&e->faults, b);
    hq_sbuf_puts(b, "},\"calibration\":{\"date\":");
    hq_sbuf_put_json_str(b, e->calib_date);
    hq_sbuf_printf(b, ",\"count\":%lld},\"profile\":\"%s\",\"port\":%d}", (long long)e->calib_count,
                   hq_emu_profile_name(e->opt.profile), e->port);
}

static void handle_control(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    const char *s1 = r->nseg > 1 ? r->seg[1] : "";
    const char *m = r->method;
    if (r->nseg != 2) {
        emu_reply_error(rp, EMU_CONTROL, 404, 0, "no route %s %s", m, r->path);
        return;
    }
    if (!strcmp(s1, "stats") && !strcmp(m, "GET")) {
        pthread_mutex_lock(&e->lock);
        stats_json(e, &rp->body);
        pthread_mutex_unlock(&e->lock);
        emu_reply_json(rp, 200);
    } else if (!strcmp(s1, "faults") &&
               (!strcmp(m, "GET") || !strcmp(m, "POST") || !strcmp(m, "DELETE"))) {
        emu_fault *items = NULL;
        int n = 0;
        if (!strcmp(m, "POST") && emu_faults_parse(r->body, &items, &n) != HQ_OK) {
            emu_reply_error(rp, EMU_CONTROL, 400, 0, "%s", hq_last_error());
            return;
        }
        pthread_mutex_lock(&e->lock);
        hq_status st = HQ_OK;
        if (!strcmp(m, "DELETE")) emu_faults_clear(&e->faults);
        if (n) st = emu_faults_arm(&e->faults, items, n);
        if (st == HQ_OK) {
            hq_sbuf_puts(&rp->body, "{\"armed\":");
            emu_faults_to_json(&e->faults, &rp->body);
            hq_sbuf_putc(&rp->body, '}');
        }
        pthread_mutex_unlock(&e->lock);
        hq_free(items);
        if (st != HQ_OK)
            emu_reply_error(rp, EMU_CONTROL, 400, 0, "%s", hq_last_error());
        else
            emu_reply_json(rp, 200);
    } else if (!strcmp(s1, "recalibrate") && !strcmp(m, "POST")) {
        pthread_mutex_lock(&e->lock);
        emu_calibration_bump(e);
        hq_sbuf_puts(&rp->body, "{\"date\":");
        hq_sbuf_put_json_str(&rp->body, e->calib_date);
        hq_sbuf_printf(&rp->body, ",\"count\":%lld}", (long long)e->calib_count);
        pthread_mutex_unlock(&e->lock);
        emu_reply_json(rp, 200);
    } else if (!strcmp(s1, "health") && !strcmp(m, "GET")) {
        hq_sbuf_printf(&rp->body, "{\"ok\":true,\"port\":%d}", e->port);
        emu_reply_json(rp, 200);
    } else {
        emu_reply_error(rp, EMU_CONTROL, 404, 0,
                        "no route %s %s (control routes: GET /_emu/stats, "
                        "GET|POST|DELETE /_emu/faults, POST /_emu/recalibrate, GET /_emu/health)",
                        m, r->path);
    }
}

static bool ionq_auth_fails(emu_req *r, emu_reply *rp) {
    const char *a = emu_req_header(r, "Authorization");
    const char *key = r->emu->s_ionq_key;
    if (a && key && !strncasecmp(a, "apiKey ", 7) && emu_const_eq(a + 7, key)) return false;
    emu_reply_error(rp, EMU_IONQ, 401, 0,
                    a ? "Invalid API key" : "Missing 'Authorization: apiKey <key>' header");
    return true;
}

static void dispatch(hq_emulator *e, emu_req *r, emu_reply *rp, bool too_big) {
    r->fam = family_of(r);
    if (r->fam == EMU_CONTROL) {
        handle_control(r, rp);
        return;
    }
    emu_req_faults f;
    r->faults = &f;
    r->fault_header = emu_req_header(r, "X-Emu-Fault");
    char *hdr_err = NULL;
    emu_job *save[16];
    pthread_mutex_lock(&e->lock);
    e->st_requests++;
    if (r->fam == EMU_IONQ) e->st_requests_fam[0]++;
    if (r->fam == EMU_IBM || r->fam == EMU_IAM) e->st_requests_fam[1]++;
    int nsave = emu_jobs_advance(e, hq_time_wall(), save, 16);
    emu_faults_select(&e->faults, r->method, r->path, is_submit(r), r->fault_header, &f, &hdr_err);
    pthread_mutex_unlock(&e->lock);
    for (int i = 0; i < nsave; i++) emu_jobs_save(e, save[i]);
    emu_family shape =
        r->fam == EMU_OTHER ? (e->opt.profile == HQ_EMU_PROFILE_IBM ? EMU_IBM : EMU_IONQ) : r->fam;
    if (hdr_err) {
        emu_reply_error(rp, shape, 400, 1002, "X-Emu-Fault: %s", hdr_err);
        hq_free(hdr_err);
        return;
    }
    if (f.reply) {
        emu_family keep = r->fam;
        r->fam = shape;
        fault_reply(r, rp, &f.reply_fault);
        r->fam = keep;
    } else if (too_big) {
        emu_reply_error(rp, shape, 413, 1002, "request body larger than %zu bytes",
                        e->opt.max_body_bytes);
    } else if (r->fam == EMU_IONQ) {
        if (!ionq_auth_fails(r, rp)) emu_ionq_handle(r, rp);
    } else if (r->fam == EMU_IBM) {
        emu_ibm_handle(r, rp);
    } else if (r->fam == EMU_IAM) {
        emu_iam_handle(r, rp);
    } else {
        emu_reply_error(rp, shape, 404, 1404,
                        "no route %s %s (IonQ routes are under /v0.3, IBM "
                        "under /api/v1 and /identity/token)",
                        r->method, r->path);
    }
    apply_delivery(&f, rp);
    if (f.dup_submit) { /* the job is stored; its reply never arrives */
        rp->drop = true;
        rp->delay_ms += f.dup_submit_ms;
    }
}

/* ==== libmicrohttpd glue ============================================================== */

typedef struct conn_ctx {
    hq_sbuf body;
    bool too_big;
} conn_ctx;

static enum MHD_Result send_reply(hq_emulator *e, struct MHD_Connection *c, emu_reply *rp) {
    if (rp->delay_ms > 0) emu_sleep_ms(e, rp->delay_ms);
    if (rp->drop) return MHD_NO;
    struct MHD_Response *resp;
    size_t len = rp->body.len;
    char *data = len ? hq_sbuf_take(&rp->body) : NULL;
    if (data)
        resp = MHD_create_response_from_buffer_with_free_callback(len, data, hq_free);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        hq_free(data);
        return MHD_NO;
    }
    if (rp->ctype) MHD_add_response_header(resp, "Content-Type", rp->ctype);
    if (rp->retry_after[0]) MHD_add_response_header(resp, "Retry-After", rp->retry_after);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)rp->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    hq_emulator *e = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) {
        cc = hq_calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cc->too_big && cc->body.len + *upload_size <= e->opt.max_body_bytes)
            hq_sbuf_append(&cc->body, upload, *upload_size);
        else
            cc->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    emu_req r;
    memset(&r, 0, sizeof r);
    r.emu = e;
    r.conn = c;
    r.method = method;
    r.path = url;
    r.body = cc->body.p ? cc->body.p : "";
    r.body_len = cc->body.len;
    emu_reply rp;
    memset(&rp, 0, sizeof rp);
    rp.status = 500;
    rp.ctype = "application/json";
    if (hq_sbuf_status(&cc->body) != HQ_OK) {
        emu_reply_error(&rp, EMU_IONQ, 500, 1500, "out of memory reading the request body");
    } else if (!split_path(&r)) {
        emu_reply_error(&rp, EMU_IONQ, 404, 1404, "no such route (path too long or too deep)");
    } else {
        dispatch(e, &r, &rp, cc->too_big);
    }
    if (hq_sbuf_status(&rp.body) != HQ_OK) {
        hq_sbuf_free(&rp.body);
        rp.drop = false;
        rp.status = 500;
        rp.ctype = "application/json";
        hq_sbuf_puts(&rp.body, "{\"error\":\"Internal Server Error\",\"message\":\"out of "
                               "memory\",\"statusCode\":500}");
    }
    HQ_LOGD("emulator: %s %s -> %d%s", method, url, rp.status, rp.drop ? " (dropped)" : "");
    enum MHD_Result res = send_reply(e, c, &rp);
    hq_sbuf_free(&rp.body);
    return res;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_ctx *cc = *con_cls;
    if (cc) {
        hq_sbuf_free(&cc->body);
        hq_free(cc);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    HQ_LOGD("emulator (libmicrohttpd): %s", buf);
}

/* ==== start / stop ==================================================================== */

static char *dup_opt(const char *s, bool *oom) {
    if (!s) return NULL;
    char *d = hq_strdup(s);
    if (!d) *oom = true;
    return d;
}

static void destroy(hq_emulator *e) {
    for (int64_t i = 0; i < e->n_jobs; i++) emu_job_free(e->jobs[i]);
    hq_free(e->jobs);
    hq_free(e->queue);
    hq_free(e->sessions);
    emu_faults_free(&e->faults);
    hq_device_free(e->device);
    hq_noise_free(e->ibm_noise);
    hq_noise_free(e->ionq_noise);
    hq_free(e->conf_text);
    hq_free(e->props_text);
    hq_free(e->s_ionq_key);
    hq_free(e->s_ibm_key);
    hq_free(e->s_crn);
    hq_free(e->s_state_dir);
    hq_free(e->s_noise);
    hq_free(e->s_conf);
    hq_free(e->s_props);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->io_lock);
    pthread_cond_destroy(&e->stop_cond);
    pthread_cond_destroy(&e->work_cond);
    e->h.magic = HQ_MAGIC_DEAD;
    hq_free(e);
}

static void hash16(const char *text, size_t len, char out[17]) {
    char h[HQ_SHA256_HEX_LEN] = "";
    if (hq_sha256_hex(text, len, h) != HQ_OK) h[0] = '\0';
    snprintf(out, 17, "%.16s", h);
}

static hq_status load_models(hq_emulator *e) {
    hq_status st;
    if (e->s_conf) {
        size_t len = 0;
        if ((st = hq_file_read(e->s_conf, (size_t)64 << 20, &e->conf_text, &len)) != HQ_OK)
            return st;
        if (e->s_props &&
            (st = hq_file_read(e->s_props, (size_t)64 << 20, &e->props_text, &len)) != HQ_OK)
            return st;
        if ((st = hq_device_from_ibm_json(e->conf_text, e->props_text, &e->device)) != HQ_OK)
            return hq_fail_prefix(NULL, st, "emulator device %s: ", e->s_conf);
        if (hq_device_two_qubit_gate(e->device) == HQ_GATE_COUNT)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "emulator device %s: basis_gates has no two-qubit gate (ecr, cz or cx)",
                            e->s_conf);
    } else if ((st = emu_device_builtin(&e->device)) != HQ_OK) {
        return st;
    }
    char h[17];
    if (e->s_noise && !strcmp(e->s_noise, "ideal")) {
        snprintf(e->noise_tag, sizeof e->noise_tag, "ideal");
    } else if (e->s_noise) {
        char *txt = NULL;
        size_t len = 0;
        if ((st = hq_file_read(e->s_noise, (size_t)64 << 20, &txt, &len)) != HQ_OK) return st;
        hash16(txt, len, h);
        hq_free(txt);
        snprintf(e->noise_tag, sizeof e->noise_tag, "noise:%s", h);
        if ((st = hq_noise_load_json(e->s_noise, &e->ibm_noise)) != HQ_OK) return st;
        if ((st = hq_noise_copy(e->ibm_noise, &e->ionq_noise)) != HQ_OK) return st;
    } else {
        if (e->conf_text) {
            hq_sbuf b = HQ_SBUF_INIT;
            hq_sbuf_puts(&b, e->conf_text);
            if (e->props_text) hq_sbuf_puts(&b, e->props_text);
            if ((st = hq_sbuf_status(&b)) != HQ_OK) return st;
            hash16(b.p, b.len, h);
            hq_sbuf_free(&b);
            snprintf(e->noise_tag, sizeof e->noise_tag, "device:%s", h);
        } else {
            snprintf(e->noise_tag, sizeof e->noise_tag, "builtin-1");
        }
        if ((st = hq_noise_from_device(e->device, &e->ibm_noise)) != HQ_OK) return st;
        if ((st = emu_ionq_noise_model(&e->ionq_noise)) != HQ_OK) return st;
    }
    /* the IAM token key: derived from the API key, so tokens survive restarts */
    hq_sbuf k = HQ_SBUF_INIT;
    hq_sbuf_printf(&k, "hqcnn-emulator-iam|%s", e->s_ibm_key ? e->s_ibm_key : "");
    st = hq_sbuf_status(&k);
    if (st == HQ_OK) st = hq_sha256(k.p, k.len, e->iam_secret);
    if (k.p) memset(k.p, 0, k.len);
    hq_sbuf_free(&k);
    return st;
}

hq_status hq_emulator_check_faults(const char *spec) {
    emu_fault *items = NULL;
    int n = 0;
    hq_status st = emu_faults_parse(spec, &items, &n);
    hq_free(items);
    return st;
}

hq_status hq_emulator_start(const hq_emulator_options *opt_in, hq_emulator **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_emulator_start: out is NULL");
    *out = NULL;
    if (!opt_in) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_emulator_start: options are NULL");
    hq_emulator_options opt = *opt_in;
    hq_status st = check_options(&opt);
    if (st != HQ_OK) return st;
    emu_fault *items = NULL;
    int n_items = 0;
    if ((st = emu_faults_parse(opt.faults, &items, &n_items)) != HQ_OK)
        return hq_fail_prefix(NULL, HQ_ERR_INVALID_ARG, "hq_emulator_start: faults: ");
    hq_emulator *e = hq_calloc(1, sizeof *e);
    if (!e) {
        hq_free(items);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_emulator_start: out of memory");
    }
    e->h.magic = EMU_MAGIC;
    e->opt = opt;
    bool oom = false;
    e->s_ionq_key = dup_opt(opt.ionq_api_key, &oom);
    e->s_ibm_key = dup_opt(opt.ibm_api_key, &oom);
    e->s_crn = dup_opt(opt.ibm_crn, &oom);
    e->s_state_dir = dup_opt(opt.state_dir, &oom);
    e->s_noise = dup_opt(opt.noise_path, &oom);
    e->s_conf = dup_opt(opt.device_conf, &oom);
    e->s_props = dup_opt(opt.device_props, &oom);
    /* the copy must not keep borrowed pointers */
    e->opt.ionq_api_key = e->opt.ibm_api_key = e->opt.ibm_crn = e->opt.state_dir = NULL;
    e->opt.noise_path = e->opt.device_conf = e->opt.device_props = e->opt.faults = NULL;
    e->opt.bind_addr = NULL;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->io_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&e->work_cond, NULL);
    if (oom) st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_emulator_start: out of memory");
    if (st == HQ_OK) st = load_models(e);
    if (st == HQ_OK && e->s_state_dir) st = hq_mkdir_p(e->s_state_dir, 0755);
    if (st == HQ_OK) st = emu_calibration_load(e);
    if (st == HQ_OK) st = emu_jobs_load(e);
    if (st == HQ_OK) st = emu_faults_arm(&e->faults, items, n_items);
    hq_free(items);
    if (st == HQ_OK) st = emu_worker_start(e);
    if (st == HQ_OK) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)opt.port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        e->mhd = MHD_start_daemon(
            MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
            NULL, NULL, on_request, e, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
            e, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)opt.max_connections, MHD_OPTION_END);
        if (!e->mhd) {
            st = hq_failf(NULL, HQ_ERR_NETWORK,
                          "hq_emulator_start: cannot listen on 127.0.0.1:%d (port in use?)",
                          opt.port);
        } else {
            const union MHD_DaemonInfo *di = MHD_get_daemon_info(e->mhd, MHD_DAEMON_INFO_BIND_PORT);
            e->port = di ? di->port : opt.port;
            snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", e->port);
        }
    }
    if (st != HQ_OK) {
        emu_worker_stop(e);
        destroy(e);
        return st;
    }
    HQ_LOGD("emulator: serving %s (profile %s, device %s, %lld jobs stored)", e->url,
            hq_emu_profile_name(opt.profile), e->device->name, (long long)e->n_jobs);
    *out = e;
    return HQ_OK;
}

void hq_emulator_stop(hq_emulator *e) {
    if (!hq_handle_ok(e, EMU_MAGIC)) return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->stop_cond);
    pthread_cond_broadcast(&e->work_cond);
    pthread_mutex_unlock(&e->lock);
    if (e->mhd) MHD_stop_daemon(e->mhd);
    e->mhd = NULL;
    emu_worker_stop(e);
    destroy(e);
}

int hq_emulator_port(const hq_emulator *e) { return hq_handle_ok(e, EMU_MAGIC) ? e->port : 0; }

const char *hq_emulator_url(const hq_emulator *e) {
    return hq_handle_ok(e, EMU_MAGIC) ? e->url : "";
}

hq_status hq_emulator_arm_faults(hq_emulator *e, const char *spec) {
    HQ_CHECK_HANDLE(e, EMU_MAGIC);
    if (!spec) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_emulator_arm_faults: spec is NULL");
    emu_fault *items = NULL;
    int n = 0;
    hq_status st = emu_faults_parse(spec, &items, &n);
    if (st != HQ_OK) return st;
    pthread_mutex_lock(&e->lock);
    st = emu_faults_arm(&e->faults, items, n);
    pthread_mutex_unlock(&e->lock);
    hq_free(items);
    return st;
}

hq_status hq_emulator_clear_faults(hq_emulator *e) {
    HQ_CHECK_HANDLE(e, EMU_MAGIC);
    pthread_mutex_lock(&e->lock);
    emu_faults_clear(&e->faults);
    pthread_mutex_unlock(&e->lock);
    return HQ_OK;
}

hq_status hq_emulator_recalibrate(hq_emulator *e) {
    HQ_CHECK_HANDLE(e, EMU_MAGIC);
    pthread_mutex_lock(&e->lock);
    emu_calibration_bump(e);
    pthread_mutex_unlock(&e->lock);
    return HQ_OK;
}

hq_status hq_emulator_get_stats(hq_emulator *e, hq_emulator_stats *out) {
    HQ_CHECK_HANDLE(e, EMU_MAGIC);
    if (!out) return hq_failf(NULL, HQ_ERR_MISUSE, "hq_emulator_get_stats: out is NULL");
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    out->requests = e->st_requests;
    out->requests_ionq = e->st_requests_fam[0];
    out->requests_ibm = e->st_requests_fam[1];
    out->jobs_accepted_ionq = e->st_accepted_fam[0];
    out->jobs_accepted_ibm = e->st_accepted_fam[1];
    out->jobs_accepted = out->jobs_accepted_ionq + out->jobs_accepted_ibm;
    out->jobs_stored = e->n_jobs;
    out->jobs_executed = e->st_executed;
    out->exec_busy_s = e->st_exec_busy_s;
    out->jobs_noticed = e->st_noticed;
    out->notice_delay_sum_s = e->st_notice_sum_s;
    out->notice_delay_max_s = e->st_notice_max_s;
    for (int k = 0; k < EMU_F_COUNT; k++) out->faults_fired += e->faults.fired[k];
    out->faults_armed = emu_faults_armed_count(&e->faults);
    out->calibration_count = e->calib_count;
    snprintf(out->calibration_date, sizeof out->calibration_date, "%s", e->calib_date);
    pthread_mutex_unlock(&e->lock);
    return HQ_OK;
}

int64_t hq_emulator_fault_count(hq_emulator *e, const char *name) {
    if (!hq_handle_ok(e, EMU_MAGIC) || !name) return -1;
    for (int k = 0; k < EMU_F_COUNT; k++)
        if (!strcmp(name, emu_fault_name((emu_fault_kind)k))) {
            pthread_mutex_lock(&e->lock);
            int64_t n = e->faults.fired[k];
            pthread_mutex_unlock(&e->lock);
            return n;
        }
    return -1;
}
