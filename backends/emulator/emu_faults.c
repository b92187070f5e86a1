/*
 * backends/emulator/emu_faults.c — fault injection: the spec parser (text and JSON forms),
 * the list of armed faults with counts, and the choice of what fires on one request.
 *
 * Text form: items separated by commas, each NAME[:ARG][@COUNT][+SKIP][~ROUTE]. JSON form:
 * a list whose entries are text items or objects {"fault","arg","count","skip","route"}
 * (a single object or a JSON string is accepted too). The wire effects of each fault are
 * applied by emu_server.c (reply and delivery faults) and emu_jobs.c (job faults).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/emulator/emu_impl.h"

/* ==== the table ======================================================================= */

enum { ARG_NONE = 0, ARG_OPT_NUM, ARG_REQ_NUM, ARG_OPT_STR };

typedef struct fault_info {
    const char *name;
    emu_fault_class cls;
    int arg;       /* ARG_* */
    double lo, hi; /* numeric argument range */
    const char *arg_doc;
} fault_info;

static const fault_info FAULTS[] = {
    [EMU_F_AUTH401] = {"auth401", EMU_FC_REPLY, ARG_NONE, 0, 0, ""},
    [EMU_F_AUTH403] = {"auth403", EMU_FC_REPLY, ARG_NONE, 0, 0, ""},
    [EMU_F_RATE429] = {"rate429", EMU_FC_REPLY, ARG_OPT_NUM, 0, 86400, "Retry-After seconds"},
    [EMU_F_ERR500] = {"err500", EMU_FC_REPLY, ARG_OPT_NUM, 500, 599, "HTTP status 500..599"},
    [EMU_F_ERR503_HTML] = {"err503_html", EMU_FC_REPLY, ARG_NONE, 0, 0, ""},
    [EMU_F_DROP] = {"drop", EMU_FC_REPLY, ARG_NONE, 0, 0, ""},
    [EMU_F_TIMEOUT] = {"timeout", EMU_FC_DELIVERY, ARG_REQ_NUM, 0, 600000, "milliseconds"},
    [EMU_F_TRUNCATE] = {"truncate", EMU_FC_DELIVERY, ARG_NONE, 0, 0, ""},
    [EMU_F_BAD_JSON_TYPES] = {"bad_json_types", EMU_FC_DELIVERY, ARG_NONE, 0, 0, ""},
    [EMU_F_JOB_FAIL] = {"job_fail", EMU_FC_JOB, ARG_OPT_STR, 0, 0, "failure code"},
    [EMU_F_PROVIDER_CANCEL] = {"provider_cancel", EMU_FC_JOB, ARG_NONE, 0, 0, ""},
    [EMU_F_PARTIAL] = {"partial", EMU_FC_JOB, ARG_NONE, 0, 0, ""},
    [EMU_F_SLOW_QUEUE] = {"slow_queue", EMU_FC_JOB, ARG_REQ_NUM, 0, 86400, "seconds"},
    [EMU_F_RECALIBRATE_MID_RUN] = {"recalibrate_mid_run", EMU_FC_JOB, ARG_NONE, 0, 0, ""},
    [EMU_F_DUP_SUBMIT] = {"dup_submit", EMU_FC_JOB, ARG_OPT_NUM, 0, 600000, "milliseconds"},
};
_Static_assert(sizeof FAULTS / sizeof FAULTS[0] == EMU_F_COUNT, "fault table size");

const char *emu_fault_name(emu_fault_kind k) {
    return (unsigned)k < EMU_F_COUNT ? FAULTS[k].name : "?";
}

emu_fault_class emu_fault_class_of(emu_fault_kind k) {
    return (unsigned)k < EMU_F_COUNT ? FAULTS[k].cls : EMU_FC_REPLY;
}

static void list_names(char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < EMU_F_COUNT && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? " " : "", FAULTS[i].name);
}

/* ==== parsing ========================================================================= */

static void trim(char **s, char **e) {
    while (*s < *e && isspace((unsigned char)**s)) (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1])) (*e)--;
}

static hq_status parse_route(const char *item, const char *r, emu_fault *f) {
    while (*r == ' ') r++;
    size_t m = 0;
    while (r[m] >= 'A' && r[m] <= 'Z') m++;
    if (m >= sizeof f->method)
        return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': method in the route is too long", item);
    memcpy(f->method, r, m);
    f->method[m] = '\0';
    r += m;
    while (*r == ' ') r++;
    if (*r != '/')
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "fault '%s': route must be [METHOD]/path/prefix (e.g. "
                        "~POST/v0.3/jobs), got '%s'",
                        item, r);
    if (strlen(r) >= sizeof f->prefix)
        return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': route prefix longer than %zu bytes", item,
                        sizeof f->prefix - 1);
    snprintf(f->prefix, sizeof f->prefix, "%s", r);
    return HQ_OK;
}

static hq_status parse_int_part(const char *item, const char *what, const char *s, int64_t lo,
                                int64_t *out) {
    if (hq_parse_i64(s, lo, INT64_MAX / 4, out) != HQ_OK)
        return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': %s '%s' is not an integer >= %lld", item,
                        what, s, (long long)lo);
    return HQ_OK;
}

static hq_status set_arg(const char *item, emu_fault *f, const char *arg) {
    const fault_info *fi = &FAULTS[f->kind];
    if (!arg) {
        if (fi->arg == ARG_REQ_NUM)
            return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': %s needs an argument (%s:<%s>)", item,
                            fi->name, fi->name, fi->arg_doc);
        return HQ_OK;
    }
    if (fi->arg == ARG_NONE)
        return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': %s takes no argument", item, fi->name);
    f->has_arg = true;
    if (fi->arg == ARG_OPT_STR) {
        size_t n = strlen(arg);
        if (n == 0 || n >= sizeof f->arg_str)
            return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': %s must be 1..%zu characters", item,
                            fi->arg_doc, sizeof f->arg_str - 1);
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)arg[i]) && !strchr("_-.", arg[i]))
                return hq_failf(NULL, HQ_ERR_PARSE,
                                "fault '%s': %s may hold letters, digits and _-. only", item,
                                fi->arg_doc);
        snprintf(f->arg_str, sizeof f->arg_str, "%s", arg);
        return HQ_OK;
    }
    double v;
    if (hq_parse_double(arg, &v) != HQ_OK || !(v >= fi->lo && v <= fi->hi))
        return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': %s '%s' must be a number in [%g, %g]",
                        item, fi->arg_doc, arg, fi->lo, fi->hi);
    if ((f->kind == EMU_F_RATE429 || f->kind == EMU_F_ERR500) && v != floor(v))
        return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': %s must be an integer", item, fi->arg_doc);
    f->arg_num = v;
    snprintf(f->arg_str, sizeof f->arg_str, "%s", arg);
    return HQ_OK;
}

static hq_status find_kind(const char *item, const char *name, emu_fault_kind *k) {
    for (int i = 0; i < EMU_F_COUNT; i++)
        if (!strcmp(name, FAULTS[i].name)) {
            *k = (emu_fault_kind)i;
            return HQ_OK;
        }
    char names[512];
    list_names(names, sizeof names);
    return hq_failf(NULL, HQ_ERR_PARSE, "fault '%s': unknown fault '%s' (known: %s)", item, name,
                    names);
}

/* One text item [s, e). */
static hq_status parse_text_item(const char *s, const char *e, emu_fault *f) {
    char item[256];
    size_t n = (size_t)(e - s);
    if (n >= sizeof item) return hq_failf(NULL, HQ_ERR_PARSE, "fault item longer than 255 bytes");
    memcpy(item, s, n);
    item[n] = '\0';
    memset(f, 0, sizeof *f);
    f->count = 1;
    snprintf(f->text, sizeof f->text, "%s", item);
    char work[256];
    snprintf(work, sizeof work, "%s", item);
    char *route = strchr(work, '~');
    if (route) *route++ = '\0';
    char *skip = strchr(work, '+');
    if (skip) *skip++ = '\0';
    char *count = strchr(work, '@');
    if (count) *count++ = '\0';
    char *arg = strchr(work, ':');
    if (arg) *arg++ = '\0';
    hq_status st = find_kind(item, work, &f->kind);
    if (st != HQ_OK) return st;
    if ((st = set_arg(item, f, arg)) != HQ_OK) return st;
    if (count) {
        f->count_given = true;
        if (!strcmp(count, "*"))
            f->count = -1;
        else if ((st = parse_int_part(item, "count", count, 1, &f->count)) != HQ_OK)
            return st;
    }
    if (skip && (st = parse_int_part(item, "skip", skip, 0, &f->skip)) != HQ_OK) return st;
    if (route && (st = parse_route(item, route, f)) != HQ_OK) return st;
    return HQ_OK;
}

static hq_status parse_json_item(const cJSON *it, int idx, emu_fault *f) {
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        return parse_text_item(s, s + strlen(s), f);
    }
    if (!cJSON_IsObject(it))
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "faults[%d]: expected a string or an object {\"fault\":..}", idx);
    memset(f, 0, sizeof *f);
    f->count = 1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "fault");
    if (!cJSON_IsString(name))
        return hq_failf(NULL, HQ_ERR_PARSE, "faults[%d].fault: missing or not a string", idx);
    char item[64];
    snprintf(item, sizeof item, "faults[%d]", idx);
    for (const cJSON *c = it->child; c; c = c->next)
        if (strcmp(c->string, "fault") && strcmp(c->string, "arg") && strcmp(c->string, "count") &&
            strcmp(c->string, "skip") && strcmp(c->string, "route"))
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "faults[%d]: unknown field '%s' (fields: fault, arg, count, skip, "
                            "route)",
                            idx, c->string);
    hq_status st = find_kind(item, name->valuestring, &f->kind);
    if (st != HQ_OK) return st;
    const cJSON *arg = cJSON_GetObjectItemCaseSensitive(it, "arg");
    char argbuf[64];
    const char *a = NULL;
    if (cJSON_IsString(arg)) {
        a = arg->valuestring;
    } else if (cJSON_IsNumber(arg)) {
        snprintf(argbuf, sizeof argbuf, "%.17g", arg->valuedouble);
        a = argbuf;
    } else if (arg && !cJSON_IsNull(arg)) {
        return hq_failf(NULL, HQ_ERR_PARSE, "faults[%d].arg: must be a string or a number", idx);
    }
    if ((st = set_arg(item, f, a)) != HQ_OK) return st;
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(it, "count");
    if (count) {
        f->count_given = true;
        if (cJSON_IsString(count) && !strcmp(count->valuestring, "*"))
            f->count = -1;
        else if (cJSON_IsNumber(count) && count->valuedouble >= 1 && count->valuedouble <= 1e15 &&
                 count->valuedouble == floor(count->valuedouble))
            f->count = (int64_t)count->valuedouble;
        else
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "faults[%d].count: must be an integer >= 1 or \"*\"", idx);
    }
    const cJSON *skip = cJSON_GetObjectItemCaseSensitive(it, "skip");
    if (skip) {
        if (!cJSON_IsNumber(skip) || skip->valuedouble < 0 || skip->valuedouble > 1e15 ||
            skip->valuedouble != floor(skip->valuedouble))
            return hq_failf(NULL, HQ_ERR_PARSE, "faults[%d].skip: must be an integer >= 0", idx);
        f->skip = (int64_t)skip->valuedouble;
    }
    const cJSON *route = cJSON_GetObjectItemCaseSensitive(it, "route");
    if (route) {
        if (!cJSON_IsString(route))
            return hq_failf(NULL, HQ_ERR_PARSE, "faults[%d].route: must be a string", idx);
        if ((st = parse_route(item, route->valuestring, f)) != HQ_OK) return st;
    }
    snprintf(f->text, sizeof f->text, "%s%s%s", FAULTS[f->kind].name, f->has_arg ? ":" : "",
             f->has_arg ? f->arg_str : "");
    return HQ_OK;
}

hq_status emu_faults_parse(const char *spec, emu_fault **items, int *n) {
    *items = NULL;
    *n = 0;
    if (!spec) return HQ_OK;
    const char *p = spec;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return HQ_OK;
    emu_fault *v = NULL;
    int nv = 0;
    hq_status st = HQ_OK;
    if (*p == '[' || *p == '{' || *p == '"') {
        cJSON *doc = cJSON_Parse(p);
        if (!doc)
            return hq_failf(NULL, HQ_ERR_PARSE, "fault spec: invalid JSON near byte %ld",
                            cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - p) : 0L);
        int cnt = cJSON_IsArray(doc) ? cJSON_GetArraySize(doc) : 1;
        if (cnt > 1024) {
            cJSON_Delete(doc);
            return hq_failf(NULL, HQ_ERR_PARSE, "fault spec: %d items, at most 1024", cnt);
        }
        v = hq_calloc((size_t)HQ_MAX(cnt, 1), sizeof *v);
        if (!v) {
            cJSON_Delete(doc);
            return hq_failf(NULL, HQ_ERR_NOMEM, "fault spec: out of memory");
        }
        if (cJSON_IsArray(doc)) {
            int i = 0;
            for (const cJSON *it = doc->child; it && st == HQ_OK; it = it->next, i++)
                st = parse_json_item(it, i, &v[nv++]);
        } else {
            st = parse_json_item(doc, 0, &v[nv++]);
        }
        cJSON_Delete(doc);
    } else {
        int cnt = 1;
        for (const char *q = p; *q; q++) cnt += *q == ',';
        if (cnt > 1024) return hq_failf(NULL, HQ_ERR_PARSE, "fault spec: more than 1024 items");
        v = hq_calloc((size_t)cnt, sizeof *v);
        if (!v) return hq_failf(NULL, HQ_ERR_NOMEM, "fault spec: out of memory");
        const char *s = p;
        while (st == HQ_OK) {
            const char *e = strchr(s, ',');
            if (!e) e = s + strlen(s);
            char *ts = (char *)s, *te = (char *)e;
            trim(&ts, &te);
            if (ts == te)
                st = hq_failf(NULL, HQ_ERR_PARSE, "fault spec '%.200s': empty item", spec);
            else
                st = parse_text_item(ts, te, &v[nv++]);
            if (!*e) break;
            s = e + 1;
        }
    }
    if (st != HQ_OK) {
        hq_free(v);
        return st;
    }
    *items = v;
    *n = nv;
    return HQ_OK;
}

/* ==== the armed list ================================================================== */

hq_status emu_faults_arm(emu_faults *f, const emu_fault *items, int n) {
    if (n <= 0) return HQ_OK;
    if (f->n + n > 4096)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "arming %d faults would exceed 4096 armed faults; clear them first", n);
    if (f->n + n > f->cap) {
        int cap = HQ_MAX(16, HQ_MAX(f->cap * 2, f->n + n));
        emu_fault *a = hq_realloc(f->armed, (size_t)cap * sizeof *a);
        if (!a) return hq_failf(NULL, HQ_ERR_NOMEM, "arming faults: out of memory");
        f->armed = a;
        f->cap = cap;
    }
    memcpy(f->armed + f->n, items, (size_t)n * sizeof *items);
    f->n += n;
    return HQ_OK;
}

void emu_faults_clear(emu_faults *f) { f->n = 0; }

void emu_faults_free(emu_faults *f) {
    HQ_FREE(f->armed);
    f->n = f->cap = 0;
}

int64_t emu_faults_armed_count(const emu_faults *f) {
    int64_t n = 0;
    for (int i = 0; i < f->n; i++) {
        if (f->armed[i].count < 0) return -1; /* unlimited */
        n += f->armed[i].count;
    }
    return n;
}

static bool route_matches(const emu_fault *a, const char *method, const char *path) {
    if (a->method[0] && strcmp(a->method, method)) return false;
    if (a->prefix[0] && strncmp(path, a->prefix, strlen(a->prefix))) return false;
    return true;
}

static void apply(const emu_fault *a, emu_req_faults *o) {
    o->fired[a->kind]++;
    switch (a->kind) {
    case EMU_F_AUTH401:
    case EMU_F_AUTH403:
    case EMU_F_RATE429:
    case EMU_F_ERR500:
    case EMU_F_ERR503_HTML:
    case EMU_F_DROP:
        o->reply = true;
        o->reply_fault = *a;
        break;
    case EMU_F_TIMEOUT:
        o->timeout = true;
        o->timeout_ms = a->arg_num;
        break;
    case EMU_F_TRUNCATE: o->truncate = true; break;
    case EMU_F_BAD_JSON_TYPES: o->bad_types = true; break;
    case EMU_F_JOB_FAIL:
        o->job_fail = true;
        snprintf(o->job_fail_code, sizeof o->job_fail_code, "%s", a->has_arg ? a->arg_str : "");
        break;
    case EMU_F_PROVIDER_CANCEL: o->provider_cancel = true; break;
    case EMU_F_PARTIAL: o->partial = true; break;
    case EMU_F_SLOW_QUEUE:
        o->slow_queue = true;
        o->slow_queue_s = a->arg_num;
        break;
    case EMU_F_RECALIBRATE_MID_RUN: o->recalibrate = true; break;
    case EMU_F_DUP_SUBMIT:
        o->dup_submit = true;
        o->dup_submit_ms = a->has_arg ? a->arg_num : 0;
        break;
    case EMU_F_COUNT: break;
    }
}

static bool slot_taken(const emu_req_faults *o, emu_fault_kind k) {
    switch (emu_fault_class_of(k)) {
    case EMU_FC_REPLY: return o->reply;
    case EMU_FC_DELIVERY:
        return (k == EMU_F_TIMEOUT && o->timeout) || (k == EMU_F_TRUNCATE && o->truncate) ||
               (k == EMU_F_BAD_JSON_TYPES && o->bad_types);
    case EMU_FC_JOB: return o->fired[k] > 0;
    }
    return false;
}

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

/* Header items with @COUNT or +SKIP keep per-signature state: the n-th request carrying the
 * same item on the same method and path. Returns true if the item fires now. */
static bool header_item_fires(emu_faults *f, const emu_fault *it, const char *method,
                              const char *path) {
    if (!it->count_given && it->skip == 0) return true;
    uint64_t sig = fnv(fnv(fnv(1469598103934665603ull, method), path), it->text);
    emu_hdr_sig *slot = NULL, *lru = &f->sigs[0];
    for (int i = 0; i < EMU_HDR_SIGS; i++) {
        if (f->sigs[i].used && f->sigs[i].sig == sig) {
            slot = &f->sigs[i];
            break;
        }
        if (f->sigs[i].used < lru->used) lru = &f->sigs[i];
    }
    if (!slot) {
        slot = lru;
        slot->sig = sig;
        slot->seen = 0;
    }
    slot->used = ++f->clock;
    int64_t k = slot->seen++;
    if (k < it->skip) return false;
    return it->count < 0 || !it->count_given || k - it->skip < it->count;
}

static void drop_exhausted(emu_faults *f) {
    int w = 0;
    for (int i = 0; i < f->n; i++)
        if (f->armed[i].count != 0) f->armed[w++] = f->armed[i];
    f->n = w;
}

static void add_fired(emu_faults *f, const emu_req_faults *before, const emu_req_faults *o) {
    for (int k = 0; k < EMU_F_COUNT; k++) f->fired[k] += o->fired[k] - before->fired[k];
}

void emu_faults_select(emu_faults *f, const char *method, const char *path, bool is_submit,
                       const char *header, emu_req_faults *out, char **hdr_err) {
    HQ_UNUSED(is_submit);
    memset(out, 0, sizeof *out);
    *hdr_err = NULL;
    emu_req_faults before = *out;
    emu_fault *hv = NULL;
    int hn = 0;
    if (header && *header) {
        if (emu_faults_parse(header, &hv, &hn) != HQ_OK) {
            *hdr_err = hq_strdup(hq_last_error());
            return;
        }
        /* reply faults first, then delivery faults; job faults are taken at acceptance */
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < hn; i++) {
                emu_fault_class c = emu_fault_class_of(hv[i].kind);
                if ((pass == 0) != (c == EMU_FC_REPLY) || c == EMU_FC_JOB) continue;
                if (!route_matches(&hv[i], method, path) || slot_taken(out, hv[i].kind)) continue;
                if (header_item_fires(f, &hv[i], method, path)) apply(&hv[i], out);
            }
        hq_free(hv);
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && out->reply) break; /* armed delivery faults wait for a real reply */
        for (int i = 0; i < f->n; i++) {
            emu_fault *a = &f->armed[i];
            emu_fault_class c = emu_fault_class_of(a->kind);
            if (a->count == 0 || c == EMU_FC_JOB || (pass == 0) != (c == EMU_FC_REPLY)) continue;
            if (!route_matches(a, method, path) || slot_taken(out, a->kind)) continue;
            if (a->skip > 0) {
                a->skip--;
                continue;
            }
            apply(a, out);
            if (a->count > 0) a->count--;
        }
    }
    drop_exhausted(f);
    add_fired(f, &before, out);
}

void emu_faults_take_job(emu_faults *f, const char *method, const char *path, const char *header,
                         emu_req_faults *out) {
    emu_req_faults before = *out;
    if (header && *header) {
        emu_fault *hv = NULL;
        int hn = 0;
        if (emu_faults_parse(header, &hv, &hn) == HQ_OK) {
            for (int i = 0; i < hn; i++) {
                if (emu_fault_class_of(hv[i].kind) != EMU_FC_JOB) continue;
                if (!route_matches(&hv[i], method, path) || slot_taken(out, hv[i].kind)) continue;
                if (header_item_fires(f, &hv[i], method, path)) apply(&hv[i], out);
            }
            hq_free(hv);
        }
    }
    for (int i = 0; i < f->n; i++) {
        emu_fault *a = &f->armed[i];
        if (a->count == 0 || emu_fault_class_of(a->kind) != EMU_FC_JOB) continue;
        if (!route_matches(a, method, path) || slot_taken(out, a->kind)) continue;
        if (a->skip > 0) {
            a->skip--;
            continue;
        }
        apply(a, out);
        if (a->count > 0) a->count--;
    }
    drop_exhausted(f);
    add_fired(f, &before, out);
}

void emu_faults_to_json(const emu_faults *f, hq_sbuf *out) {
    hq_sbuf_putc(out, '[');
    for (int i = 0; i < f->n; i++) {
        const emu_fault *a = &f->armed[i];
        hq_sbuf_puts(out, i ? ",{\"fault\":" : "{\"fault\":");
        hq_sbuf_put_json_str(out, emu_fault_name(a->kind));
        if (a->has_arg) {
            hq_sbuf_puts(out, ",\"arg\":");
            hq_sbuf_put_json_str(out, a->arg_str);
        }
        if (a->count < 0)
            hq_sbuf_puts(out, ",\"count\":\"*\"");
        else
            hq_sbuf_printf(out, ",\"count\":%lld", (long long)a->count);
        hq_sbuf_printf(out, ",\"skip\":%lld", (long long)a->skip);
        if (a->method[0] || a->prefix[0]) {
            char route[160];
            snprintf(route, sizeof route, "%s%s%s", a->method, a->method[0] ? " " : "",
                     a->prefix[0] ? a->prefix : "/");
            hq_sbuf_puts(out, ",\"route\":");
            hq_sbuf_put_json_str(out, route);
        }
        hq_sbuf_putc(out, '}');
    }
    hq_sbuf_putc(out, ']');
}
