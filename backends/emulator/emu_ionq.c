/*
 * backends/emulator/emu_ionq.c — the IonQ v0.3 routes: job bodies in ionq.circuit.v0 (one
 * circuit or several, qis or native gateset) turned into circuits, the job object, results
 * (probabilities keyed by the decimal outcome, bit i = qubit i), cancel, the job list with
 * the filters a client needs to find its job again, backends and characterizations.
 *
 * Request errors: a body that is not a well-formed job (bad JSON, wrong types, unknown
 * target, missing input) gets 400 {"error":"Bad Request","message":..,"statusCode":400}.
 * Circuit problems (unknown gate, qubit out of range, more qubits than the target has) are
 * accepted and the job then fails with failure.code PreflightError / NotEnoughQubits, as
 * IonQ does (QPU_APIS.md §1.2).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/emulator/emu_impl.h"

#define IONQ_MAX_SHOTS   1000000
#define IONQ_MAX_GATES   100000
#define IONQ_META_KEYS   10
#define IONQ_META_KEYLEN 40
#define IONQ_META_VALLEN 400
#define IONQ_TOKEN_KEY   "hqcnn_token"

/* ==== request -> circuits ============================================================= */

typedef struct gate_err {
    char code[32];
    char msg[512];
} gate_err;

static hq_status preflight(gate_err *ge, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hq_status preflight(gate_err *ge, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ge->msg, sizeof ge->msg, fmt, ap);
    va_end(ap);
    snprintf(ge->code, sizeof ge->code, "%s", code);
    return HQ_ERR_INVALID_ARG;
}

static bool is_int(const cJSON *v, double lo, double hi) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

/* Largest qubit index named by any gate of a circuit (-1 if none or malformed). */
static int max_qubit(const cJSON *circ) {
    int m = -1;
    static const char *keys[] = {"target", "control", "targets", "controls"};
    for (const cJSON *g = circ ? circ->child : NULL; g; g = g->next)
        for (size_t k = 0; k < HQ_ARRAY_LEN(keys); k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, keys[k]);
            if (is_int(v, 0, 1e6) && (int)v->valuedouble > m) m = (int)v->valuedouble;
            if (cJSON_IsArray(v))
                for (const cJSON *x = v->child; x; x = x->next)
                    if (is_int(x, 0, 1e6) && (int)x->valuedouble > m) m = (int)x->valuedouble;
        }
    return m;
}

static hq_status get_qubits(const cJSON *g, const char *one, const char *many, int nq, int want,
                            int *q, int *n, int gi, gate_err *ge, bool required) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(g, one);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(g, many);
    *n = 0;
    if (a && b)
        return preflight(ge, "PreflightError", "gate %d: both '%s' and '%s' given", gi, one, many);
    if (a) {
        if (!is_int(a, -1e9, 1e9))
            return preflight(ge, "PreflightError", "gate %d: '%s' must be an integer", gi, one);
        q[(*n)++] = (int)a->valuedouble;
    } else if (b) {
        if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) > 3)
            return preflight(ge, "PreflightError",
                             "gate %d: '%s' must be a list of at most 3 "
                             "qubit indices",
                             gi, many);
        for (const cJSON *x = b->child; x; x = x->next) {
            if (!is_int(x, -1e9, 1e9))
                return preflight(ge, "PreflightError", "gate %d: '%s' entries must be integers", gi,
                                 many);
            q[(*n)++] = (int)x->valuedouble;
        }
    }
    if (required && *n == 0)
        return preflight(ge, "PreflightError", "gate %d: missing '%s'", gi, want > 1 ? many : one);
    if (want > 0 && *n && *n != want)
        return preflight(ge, "PreflightError", "gate %d: expected %d target qubit%s, got %d", gi,
                         want, want > 1 ? "s" : "", *n);
    for (int i = 0; i < *n; i++)
        if (q[i] < 0 || q[i] >= nq)
            return preflight(ge, "PreflightError", "gate %d: qubit %d out of range [0, %d)", gi,
                             q[i], nq);
    return HQ_OK;
}

static hq_status get_num(const cJSON *g, const char *key, bool required, double dflt, double *v,
                         int gi, gate_err *ge) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(g, key);
    if (!x) {
        if (required) return preflight(ge, "PreflightError", "gate %d: missing '%s'", gi, key);
        *v = dflt;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return preflight(ge, "PreflightError", "gate %d: '%s' must be a finite number", gi, key);
    *v = x->valuedouble;
    return HQ_OK;
}

static hq_status add(hq_circuit *c, hq_gate g, const int *q, const double *p, int gi,
                     gate_err *ge) {
    if (hq_circuit_add_gate(c, g, q, p) != HQ_OK)
        return preflight(ge, "PreflightError", "gate %d: %s", gi, hq_last_error());
    return HQ_OK;
}

typedef struct qis_gate {
    const char *name;
    hq_gate base;  /* uncontrolled gate */
    int targets;   /* 1 or 2 */
    bool rotation; /* takes "rotation" (radians) */
    hq_gate ctl1;  /* with one control (HQ_GATE_COUNT: not supported) */
    double ctl1_p; /* parameter of ctl1 if it is CP (S, T, ...) */
} qis_gate;

static const qis_gate QIS[] = {
    {"x", HQ_GATE_X, 1, false, HQ_GATE_CX, 0},
    {"not", HQ_GATE_X, 1, false, HQ_GATE_CX, 0},
    {"cnot", HQ_GATE_X, 1, false, HQ_GATE_CX, 0},
    {"y", HQ_GATE_Y, 1, false, HQ_GATE_CY, 0},
    {"z", HQ_GATE_Z, 1, false, HQ_GATE_CZ, 0},
    {"h", HQ_GATE_H, 1, false, HQ_GATE_CH, 0},
    {"s", HQ_GATE_S, 1, false, HQ_GATE_CP, M_PI / 2},
    {"si", HQ_GATE_SDG, 1, false, HQ_GATE_CP, -M_PI / 2},
    {"t", HQ_GATE_T, 1, false, HQ_GATE_CP, M_PI / 4},
    {"ti", HQ_GATE_TDG, 1, false, HQ_GATE_CP, -M_PI / 4},
    {"v", HQ_GATE_SX, 1, false, HQ_GATE_CSX, 0},
    {"vi", HQ_GATE_SXDG, 1, false, HQ_GATE_COUNT, 0},
    {"rx", HQ_GATE_RX, 1, true, HQ_GATE_CRX, 0},
    {"ry", HQ_GATE_RY, 1, true, HQ_GATE_CRY, 0},
    {"rz", HQ_GATE_RZ, 1, true, HQ_GATE_CRZ, 0},
    {"swap", HQ_GATE_SWAP, 2, false, HQ_GATE_CSWAP, 0},
    {"xx", HQ_GATE_RXX, 2, true, HQ_GATE_COUNT, 0},
    {"yy", HQ_GATE_RYY, 2, true, HQ_GATE_COUNT, 0},
    {"zz", HQ_GATE_RZZ, 2, true, HQ_GATE_COUNT, 0},
};

static hq_status parse_qis_gate(const cJSON *g, const char *name, int nq, hq_circuit *c, int gi,
                                gate_err *ge) {
    const qis_gate *qg = NULL;
    for (size_t i = 0; i < HQ_ARRAY_LEN(QIS); i++)
        if (!strcmp(name, QIS[i].name)) qg = &QIS[i];
    if (!qg) {
        if (!strcmp(name, "gpi") || !strcmp(name, "gpi2") || !strcmp(name, "ms"))
            return preflight(ge, "PreflightError",
                             "gate %d: '%s' is a native gate; the circuit's gateset is qis", gi,
                             name);
        return preflight(ge, "PreflightError", "gate %d: unknown gate '%s'", gi, name);
    }
    int t[3], nt, ctl[3], nc;
    hq_status st = get_qubits(g, "target", "targets", nq, qg->targets, t, &nt, gi, ge, true);
    if (st == HQ_OK) st = get_qubits(g, "control", "controls", nq, 0, ctl, &nc, gi, ge, false);
    if (st != HQ_OK) return st;
    if (!strcmp(name, "cnot") && nc == 0)
        return preflight(ge, "PreflightError", "gate %d: cnot needs a 'control'", gi);
    double rot = 0;
    if (qg->rotation && (st = get_num(g, "rotation", true, 0, &rot, gi, ge)) != HQ_OK) return st;
    if (nc == 0) return add(c, qg->base, t, qg->rotation ? &rot : NULL, gi, ge);
    if (nc == 1 && qg->ctl1 != HQ_GATE_COUNT) {
        int q[3] = {ctl[0], t[0], qg->targets > 1 ? t[1] : -1};
        if (qg->ctl1 == HQ_GATE_CP) return add(c, HQ_GATE_CP, q, &qg->ctl1_p, gi, ge);
        return add(c, qg->ctl1, q, qg->rotation ? &rot : NULL, gi, ge);
    }
    if (nc == 2 && (qg->base == HQ_GATE_X || qg->base == HQ_GATE_Z) && qg->targets == 1) {
        int q[3] = {ctl[0], ctl[1], t[0]};
        if (qg->base == HQ_GATE_Z && (st = add(c, HQ_GATE_H, &t[0], NULL, gi, ge)) != HQ_OK)
            return st;
        if ((st = add(c, HQ_GATE_CCX, q, NULL, gi, ge)) != HQ_OK) return st;
        if (qg->base == HQ_GATE_Z) return add(c, HQ_GATE_H, &t[0], NULL, gi, ge);
        return HQ_OK;
    }
    return preflight(ge, "PreflightError",
                     "gate %d: '%s' with %d control%s is not supported by the emulator", gi, name,
                     nc, nc > 1 ? "s" : "");
}

static hq_status parse_native_gate(const cJSON *g, const char *name, int nq, hq_circuit *c, int gi,
                                   gate_err *ge) {
    int t[3], nt, ctl[3], nc;
    hq_status st = get_qubits(g, "control", "controls", nq, 0, ctl, &nc, gi, ge, false);
    if (st != HQ_OK) return st;
    if (nc) return preflight(ge, "PreflightError", "gate %d: native gates take no controls", gi);
    if (!strcmp(name, "gpi") || !strcmp(name, "gpi2")) {
        double ph = 0;
        if ((st = get_qubits(g, "target", "targets", nq, 1, t, &nt, gi, ge, true)) != HQ_OK ||
            (st = get_num(g, "phase", true, 0, &ph, gi, ge)) != HQ_OK)
            return st;
        return add(c, name[3] ? HQ_GATE_GPI2 : HQ_GATE_GPI, t, &ph, gi, ge);
    }
    if (!strcmp(name, "ms")) {
        if ((st = get_qubits(g, "target", "targets", nq, 2, t, &nt, gi, ge, true)) != HQ_OK)
            return st;
        double p[3] = {0, 0, 0.25};
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(g, "phases");
        if (ph) {
            if (!cJSON_IsArray(ph) || cJSON_GetArraySize(ph) != 2 || !cJSON_IsNumber(ph->child) ||
                !cJSON_IsNumber(ph->child->next) || !isfinite(ph->child->valuedouble) ||
                !isfinite(ph->child->next->valuedouble))
                return preflight(ge, "PreflightError", "gate %d: 'phases' must be two numbers", gi);
            p[0] = ph->child->valuedouble;
            p[1] = ph->child->next->valuedouble;
        }
        if ((st = get_num(g, "angle", false, 0.25, &p[2], gi, ge)) != HQ_OK) return st;
        return add(c, HQ_GATE_MS, t, p, gi, ge);
    }
    if (!strcmp(name, "zz")) {
        double a = 0;
        if ((st = get_qubits(g, "target", "targets", nq, 2, t, &nt, gi, ge, true)) != HQ_OK ||
            (st = get_num(g, "angle", true, 0, &a, gi, ge)) != HQ_OK)
            return st;
        double th = 2 * M_PI * a;
        return add(c, HQ_GATE_RZZ, t, &th, gi, ge);
    }
    return preflight(ge, "PreflightError", "gate %d: '%s' is not a native gate (gpi, gpi2, ms, zz)",
                     gi, name);
}

/* One circuit (JSON gate list) into an hq_circuit of nq qubits. */
static hq_status build_circuit(const cJSON *list, bool native, int nq, hq_circuit **out,
                               gate_err *ge) {
    *out = NULL;
    if (cJSON_GetArraySize(list) > IONQ_MAX_GATES)
        return preflight(ge, "PreflightError", "more than %d gates in a circuit", IONQ_MAX_GATES);
    hq_circuit *c = NULL;
    if (hq_circuit_create(&c) != HQ_OK || hq_circuit_add_qreg(c, "q", nq, NULL) != HQ_OK) {
        hq_circuit_free(c);
        return preflight(ge, "PreflightError", "%s", hq_last_error());
    }
    int gi = 0;
    hq_status st = HQ_OK;
    for (const cJSON *g = list->child; g && st == HQ_OK; g = g->next, gi++) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(g, "gate");
        if (!cJSON_IsObject(g) || !cJSON_IsString(name)) {
            st = preflight(ge, "PreflightError", "gate %d: expected an object with a \"gate\" name",
                           gi);
            break;
        }
        st = native ? parse_native_gate(g, name->valuestring, nq, c, gi, ge)
                    : parse_qis_gate(g, name->valuestring, nq, c, gi, ge);
    }
    if (st != HQ_OK) {
        hq_circuit_free(c);
        return st;
    }
    *out = c;
    return HQ_OK;
}

static const char *ionq_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

#define BAD(...) hq_failf(NULL, HQ_ERR_INVALID_ARG, __VA_ARGS__)

static hq_status check_metadata(const cJSON *md) {
    if (!cJSON_IsObject(md)) return BAD("'metadata' must be an object of string values");
    int n = 0;
    for (const cJSON *m = md->child; m; m = m->next, n++) {
        if (n >= IONQ_META_KEYS) return BAD("'metadata' has more than %d keys", IONQ_META_KEYS);
        if (strlen(m->string) > IONQ_META_KEYLEN)
            return BAD("metadata key '%.60s' is longer than %d characters", m->string,
                       IONQ_META_KEYLEN);
        if (!cJSON_IsString(m)) return BAD("metadata value of '%s' must be a string", m->string);
        if (strlen(m->valuestring) > IONQ_META_VALLEN)
            return BAD("metadata value of '%s' is longer than %d characters", m->string,
                       IONQ_META_VALLEN);
    }
    return HQ_OK;
}

hq_status emu_ionq_prepare(hq_emulator *e, emu_job *j) {
    const cJSON *req = j->req;
    if (!cJSON_IsObject(req)) return BAD("the request body must be a JSON object");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(req, "target");
    if (!cJSON_IsString(tv))
        return BAD(
            "'target' is required and must be a string (\"simulator\", \"qpu.aria-1\", ...)");
    const emu_ionq_target *tg = emu_ionq_target_find(tv->valuestring);
    if (!tg || strcmp(tg->name, tv->valuestring))
        return BAD("unknown target '%.100s' (simulator, qpu.aria-1, qpu.aria-2, qpu.forte-1, "
                   "qpu.forte-enterprise-1)",
                   tv->valuestring);
    int64_t shots = 100;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(req, "shots");
    if (sv) {
        if (!is_int(sv, 1, IONQ_MAX_SHOTS))
            return BAD("'shots' must be an integer in [1, %d]", IONQ_MAX_SHOTS);
        shots = (int64_t)sv->valuedouble;
    }
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(req, "name");
    if (nm && !cJSON_IsString(nm)) return BAD("'name' must be a string");
    if (nm && strlen(nm->valuestring) > 1000) return BAD("'name' is longer than 1000 characters");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(req, "metadata");
    hq_status st;
    if (md && (st = check_metadata(md)) != HQ_OK) return st;
    const char *model = "ideal";
    char seedtxt[32] = "-";
    const cJSON *noise = cJSON_GetObjectItemCaseSensitive(req, "noise");
    if (noise) {
        if (!cJSON_IsObject(noise)) return BAD("'noise' must be an object {\"model\", \"seed\"}");
        const cJSON *mv = cJSON_GetObjectItemCaseSensitive(noise, "model");
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(noise, "seed");
        if (mv && !cJSON_IsString(mv)) return BAD("'noise.model' must be a string");
        if (mv) model = mv->valuestring;
        if (!emu_ionq_noise_model_known(model))
            return BAD("unknown noise model '%.60s' (ideal, harmony, aria-1, aria-2, forte-1, "
                       "forte-enterprise-1)",
                       model);
        if (sd && !is_int(sd, -9e15, 9e15)) return BAD("'noise.seed' must be an integer");
        if (sd) snprintf(seedtxt, sizeof seedtxt, "%lld", (long long)sd->valuedouble);
        if (tg->qpu && strcmp(model, "ideal"))
            return BAD("'noise' is only valid with the simulator target");
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
    if (!cJSON_IsObject(in)) return BAD("'input' is required and must be an object");
    const char *fmt = ionq_str(in, "format");
    if (cJSON_GetObjectItemCaseSensitive(in, "format") && (!fmt || strcmp(fmt, "ionq.circuit.v0")))
        return BAD("input.format must be \"ionq.circuit.v0\" (the emulator takes JSON gate lists)");
    const cJSON *gsv = cJSON_GetObjectItemCaseSensitive(in, "gateset");
    if (gsv && (!cJSON_IsString(gsv) ||
                (strcmp(gsv->valuestring, "qis") && strcmp(gsv->valuestring, "native"))))
        return BAD("input.gateset must be \"qis\" or \"native\"");
    bool native = gsv && !strcmp(gsv->valuestring, "native");
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(in, "circuit");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(in, "circuits");
    if (!!one == !!many) return BAD("input needs exactly one of 'circuit' and 'circuits'");
    if (one && !cJSON_IsArray(one)) return BAD("input.circuit must be a list of gates");
    if (many && (!cJSON_IsArray(many) || cJSON_GetArraySize(many) < 1))
        return BAD("input.circuits must be a non-empty list of {\"circuit\": [...]}");
    int n = many ? cJSON_GetArraySize(many) : 1;
    if (n > e->opt.max_circuits_per_job)
        return BAD("%d circuits in one job; the emulator takes at most %d", n,
                   e->opt.max_circuits_per_job);
    /* check every entry's shape first: a malformed body is a 400 */
    int maxq = -1;
    const cJSON *c = many ? many->child : NULL;
    for (int i = 0; i < n; i++, c = c ? c->next : NULL) {
        const cJSON *list = one;
        if (many) {
            list = cJSON_GetObjectItemCaseSensitive(c, "circuit");
            if (!cJSON_IsObject(c) || !cJSON_IsArray(list))
                return BAD("input.circuits[%d] must be an object with a 'circuit' list", i);
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(c, "gateset");
            if (g && (!cJSON_IsString(g) ||
                      (strcmp(g->valuestring, "qis") && strcmp(g->valuestring, "native"))))
                return BAD("input.circuits[%d].gateset must be \"qis\" or \"native\"", i);
            const cJSON *cn = cJSON_GetObjectItemCaseSensitive(c, "name");
            if (cn && !cJSON_IsString(cn))
                return BAD("input.circuits[%d].name must be a string", i);
        }
        maxq = HQ_MAX(maxq, max_qubit(list));
    }
    const cJSON *qv = cJSON_GetObjectItemCaseSensitive(in, "qubits");
    if (qv && !is_int(qv, 1, 1e6)) return BAD("input.qubits must be a positive integer");
    int nq = qv ? (int)qv->valuedouble : HQ_MAX(maxq + 1, 1);

    bool exact = !tg->qpu && !strcmp(model, "ideal");
    j->units = hq_calloc((size_t)n, sizeof *j->units);
    if (!j->units) return hq_failf(NULL, HQ_ERR_NOMEM, "emulator: out of memory");
    j->n_units = n;
    gate_err ge = {"", ""};
    st = HQ_OK;
    if (nq > tg->qubits)
        st = preflight(&ge, "NotEnoughQubits", "the job needs %d qubits; %s has %d", nq, tg->name,
                       tg->qubits);
    else if (exact && nq > e->opt.max_qubits_exact)
        st = preflight(&ge, "PreflightError",
                       "the emulator's ideal simulator runs at most %d qubits (job: %d)",
                       e->opt.max_qubits_exact, nq);
    else if (!exact && nq > e->opt.max_qubits_noisy)
        st = preflight(&ge, "PreflightError",
                       "the emulator's noisy simulator runs at most %d qubits (job: %d)",
                       e->opt.max_qubits_noisy, nq);
    c = many ? many->child : NULL;
    for (int i = 0; i < n && st == HQ_OK; i++, c = c ? c->next : NULL) {
        const cJSON *list = many ? cJSON_GetObjectItemCaseSensitive(c, "circuit") : one;
        bool nat = native;
        const char *g = many ? ionq_str(c, "gateset") : NULL;
        if (g) nat = !strcmp(g, "native");
        emu_unit *u = &j->units[i];
        st = build_circuit(list, nat, nq, &u->circ, &ge);
        if (st != HQ_OK && n > 1) {
            char m[512];
            snprintf(m, sizeof m, "circuit %d: %s", i, ge.msg);
            snprintf(ge.msg, sizeof ge.msg, "%s", m);
        }
        u->rows = 1;
        u->scalar = true;
        u->shots = shots;
        u->exact = exact;
        u->noise = exact ? NULL : e->ionq_noise;
        snprintf(u->tag, sizeof u->tag, "ionq|%s|%s|%s|%s", tg->name, model, seedtxt, e->noise_tag);
    }
    if (st != HQ_OK) {
        snprintf(j->err_code, sizeof j->err_code, "%s", ge.code);
        hq_free(j->err_msg);
        j->err_msg = hq_strdup(ge.msg);
        for (int i = 0; i < j->n_units; i++) emu_unit_free(&j->units[i]);
        /* keep the unit count (circuits / children) but no circuits */
    }
    /* the client token: our own metadata key, else the job name */
    const char *tok = md ? ionq_str(md, IONQ_TOKEN_KEY) : NULL;
    if (!tok && nm) tok = nm->valuestring;
    hq_free(j->token);
    j->token = tok ? hq_strdup(tok) : NULL;
    return HQ_OK;
}

/* ==== responses ======================================================================= */

static const char *status_name(emu_state s) {
    switch (s) {
    case EMU_S_QUEUED: return "ready";
    case EMU_S_RUNNING: return "running";
    case EMU_S_COMPLETED: return "completed";
    case EMU_S_FAILED: return "failed";
    case EMU_S_CANCELLED: return "canceled";
    }
    return "running";
}

static double end_time(const emu_job *j, emu_state s) {
    if (s == EMU_S_CANCELLED && j->cancelled_at > 0) return j->cancelled_at;
    if (s == EMU_S_COMPLETED) return HQ_MAX(j->t_done, j->t_exec);
    return j->t_done;
}

static int job_qubits(const emu_job *j) {
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j->req, "input");
    const cJSON *qv = cJSON_GetObjectItemCaseSensitive(in, "qubits");
    if (cJSON_IsNumber(qv)) return (int)qv->valuedouble;
    for (int i = 0; i < j->n_units; i++)
        if (j->units[i].circ) return hq_circuit_n_qubits(j->units[i].circ);
    return 0;
}

static void put_copy(hq_sbuf *b, const char *key, const cJSON *v) {
    if (!v) return;
    char *t = cJSON_PrintUnformatted(v);
    if (!t) return;
    hq_sbuf_printf(b, ",\"%s\":", key);
    hq_sbuf_puts(b, t);
    cJSON_free(t);
}

static int64_t job_shots(const emu_job *j) {
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(j->req, "shots");
    return cJSON_IsNumber(sv) ? (int64_t)sv->valuedouble : 100;
}

/* The job object (lock held). child >= 0 renders that child of a multi-circuit job. */
static void render_job(const emu_job *j, int child, double now, hq_sbuf *b) {
    const char *code, *msg;
    emu_state s = emu_job_state(j, now, &code, &msg);
    bool missing = child >= 0 && j->partial && child == j->n_units - 1 && s == EMU_S_COMPLETED;
    if (missing) {
        s = EMU_S_FAILED;
        code = "InternalError";
        msg = "this circuit was not executed (partial results injected by the emulator)";
    }
    hq_sbuf_puts(b, "{\"id\":");
    hq_sbuf_put_json_str(b, child >= 0 ? j->children[child] : j->id);
    hq_sbuf_printf(b, ",\"type\":\"circuit\",\"status\":\"%s\"", status_name(s));
    hq_sbuf_puts(b, ",\"target\":");
    hq_sbuf_put_json_str(b, ionq_str(j->req, "target"));
    if (child >= 0) {
        hq_sbuf_puts(b, ",\"parent\":");
        hq_sbuf_put_json_str(b, j->id);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(j->req, "input");
        const cJSON *cs =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(in, "circuits"), child);
        const char *cn = ionq_str(cs, "name");
        if (cn) {
            hq_sbuf_puts(b, ",\"name\":");
            hq_sbuf_put_json_str(b, cn);
        }
    } else {
        put_copy(b, "name", cJSON_GetObjectItemCaseSensitive(j->req, "name"));
        put_copy(b, "metadata", cJSON_GetObjectItemCaseSensitive(j->req, "metadata"));
        put_copy(b, "noise", cJSON_GetObjectItemCaseSensitive(j->req, "noise"));
        put_copy(b, "error_mitigation",
                 cJSON_GetObjectItemCaseSensitive(j->req, "error_mitigation"));
    }
    hq_sbuf_printf(b, ",\"qubits\":%d,\"circuits\":%d,\"shots\":%lld", job_qubits(j),
                   child >= 0 ? 1 : j->n_units, (long long)job_shots(j));
    if (child < 0 && j->children) {
        hq_sbuf_puts(b, ",\"children\":[");
        for (int k = 0; k < j->n_units; k++) {
            if (k) hq_sbuf_putc(b, ',');
            hq_sbuf_put_json_str(b, j->children[k]);
        }
        hq_sbuf_putc(b, ']');
    }
    hq_sbuf_printf(b, ",\"request\":%lld", (long long)floor(j->created));
    if (s != EMU_S_QUEUED &&
        !(s == EMU_S_CANCELLED && j->cancelled_at > 0 && j->cancelled_at < j->t_run))
        hq_sbuf_printf(b, ",\"start\":%lld", (long long)floor(j->t_run));
    if (s == EMU_S_COMPLETED || s == EMU_S_FAILED || s == EMU_S_CANCELLED)
        hq_sbuf_printf(b, ",\"response\":%lld", (long long)floor(end_time(j, s)));
    if (s == EMU_S_COMPLETED)
        hq_sbuf_printf(b, ",\"execution_time\":%lld",
                       (long long)llround((j->t_done - j->t_run) * 1000.0));
    hq_sbuf_printf(b, ",\"predicted_execution_time\":%lld",
                   (long long)llround((j->t_done - j->t_run) * 1000.0));
    if (s == EMU_S_FAILED) {
        hq_sbuf_puts(b, ",\"failure\":{\"code\":");
        hq_sbuf_put_json_str(b, code ? code : "InternalError");
        hq_sbuf_puts(b, ",\"error\":");
        hq_sbuf_put_json_str(b, msg ? msg : "");
        hq_sbuf_putc(b, '}');
    }
    hq_sbuf_putc(b, '}');
}

static void render_dist(const emu_dist *d, hq_sbuf *b) {
    hq_sbuf_putc(b, '{');
    for (int64_t i = 0; i < d->n; i++) {
        hq_sbuf_printf(b, "%s\"%llu\":", i ? "," : "", (unsigned long long)d->outcome[i]);
        hq_sbuf_put_double(b, d->exact ? d->prob[i] : (double)d->count[i] / (double)d->shots);
    }
    hq_sbuf_putc(b, '}');
}

/* ==== handlers ======================================================================== */

static void reply_job_not_found(emu_reply *rp, const char *id) {
    emu_reply_error(rp, EMU_IONQ, 404, 0, "job '%.64s' not found", id);
}

static void handle_create(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    cJSON *doc = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        emu_reply_error(rp, EMU_IONQ, 400, 0, "the request body is not a JSON object");
        return;
    }
    emu_job *j = emu_job_new(EMU_IONQ);
    if (!j) {
        cJSON_Delete(doc);
        emu_reply_error(rp, EMU_IONQ, 500, 0, "out of memory");
        return;
    }
    j->req = doc;
    emu_uuid(j->id);
    hq_status st = emu_ionq_prepare(e, j);
    if (st != HQ_OK) {
        emu_reply_error(rp, EMU_IONQ, st == HQ_ERR_NOMEM ? 500 : 400, 0, "%s", hq_last_error());
        emu_job_free(j);
        return;
    }
    if (j->n_units > 1) {
        j->children = hq_calloc((size_t)j->n_units, sizeof *j->children);
        if (!j->children) {
            emu_job_free(j);
            emu_reply_error(rp, EMU_IONQ, 500, 0, "out of memory");
            return;
        }
        for (int k = 0; k < j->n_units; k++) emu_uuid(j->children[k]);
    }
    if (j->err_code[0]) j->executed = true; /* preflight failure: nothing to run */
    char id[40];
    snprintf(id, sizeof id, "%s", j->id);
    st = emu_jobs_add(e, j, r);
    if (st != HQ_OK) {
        emu_reply_error(rp, EMU_IONQ, st == HQ_ERR_BUSY ? 503 : 500, 0, "%s", hq_last_error());
        return;
    }
    hq_sbuf_puts(&rp->body, "{\"id\":");
    hq_sbuf_put_json_str(&rp->body, id);
    hq_sbuf_puts(&rp->body, ",\"status\":\"ready\"}");
    emu_reply_json(rp, 200);
}

static void handle_get(emu_req *r, emu_reply *rp, const char *id) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    int child;
    emu_job *j = emu_jobs_find(e, id, &child);
    if (j && j->fam == EMU_IONQ) {
        render_job(j, child, hq_time_wall(), &rp->body);
        emu_reply_json(rp, 200);
    }
    pthread_mutex_unlock(&e->lock);
    if (!j || j->fam != EMU_IONQ) reply_job_not_found(rp, id);
}

static void handle_results(emu_req *r, emu_reply *rp, const char *id) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    int child;
    emu_job *j = emu_jobs_find(e, id, &child);
    emu_state s = EMU_S_QUEUED;
    if (j && j->fam == EMU_IONQ) s = emu_job_state(j, hq_time_wall(), NULL, NULL);
    pthread_mutex_unlock(&e->lock);
    if (!j || j->fam != EMU_IONQ) {
        reply_job_not_found(rp, id);
        return;
    }
    if (s != EMU_S_COMPLETED) {
        emu_reply_error(rp, EMU_IONQ, 400, 0, "job '%s' has no results: its status is %s", id,
                        status_name(s));
        return;
    }
    /* completed: results are immutable from here on */
    int missing = j->partial ? j->n_units - 1 : -1;
    hq_sbuf *b = &rp->body;
    if (child >= 0) {
        if (child == missing) {
            emu_reply_error(rp, EMU_IONQ, 400, 0, "job '%s' has no results: its status is failed",
                            id);
            return;
        }
        render_dist(&j->units[child].res[0], b);
    } else if (!j->children) {
        if (missing == 0)
            hq_sbuf_puts(b, "{}");
        else
            render_dist(&j->units[0].res[0], b);
    } else {
        hq_sbuf_putc(b, '{');
        bool first = true;
        for (int k = 0; k < j->n_units; k++) {
            if (k == missing) continue;
            if (!first) hq_sbuf_putc(b, ',');
            first = false;
            hq_sbuf_put_json_str(b, j->children[k]);
            hq_sbuf_putc(b, ':');
            render_dist(&j->units[k].res[0], b);
        }
        hq_sbuf_putc(b, '}');
    }
    emu_reply_json(rp, 200);
}

static void handle_cancel(emu_req *r, emu_reply *rp, const char *id) {
    hq_emulator *e = r->emu;
    pthread_mutex_lock(&e->lock);
    int child;
    emu_job *j = emu_jobs_find(e, id, &child);
    emu_state s = EMU_S_QUEUED;
    bool changed = false;
    if (j && j->fam == EMU_IONQ && child < 0) {
        double now = hq_time_wall();
        s = emu_job_state(j, now, NULL, NULL);
        if (s == EMU_S_QUEUED || s == EMU_S_RUNNING) {
            j->cancelled_at = now;
            if (j->recalibrate && !j->recalibrated) e->n_recal_pending--;
            j->version++;
            changed = true;
            s = EMU_S_CANCELLED;
        }
    }
    pthread_mutex_unlock(&e->lock);
    if (!j || j->fam != EMU_IONQ) {
        reply_job_not_found(rp, id);
        return;
    }
    if (child >= 0) {
        emu_reply_error(rp, EMU_IONQ, 400, 0, "'%s' is a child of job '%s'; cancel the parent job",
                        id, j->id);
        return;
    }
    if (changed) emu_jobs_save(e, j);
    hq_sbuf_puts(&rp->body, "{\"id\":");
    hq_sbuf_put_json_str(&rp->body, id);
    hq_sbuf_printf(&rp->body, ",\"status\":\"%s\"}", status_name(s));
    emu_reply_json(rp, 200);
}

/* GET /v0.3/jobs: newest first; filters status, target, name, metadata.KEY; paging limit
 * and next (the id of the last job of the previous page). */
typedef struct list_filter {
    const char *keys[16];
    const char *vals[16];
    int n;
} list_filter;

static void collect_meta(void *user, const char *key, const char *val) {
    list_filter *f = user;
    if (!strncmp(key, "metadata.", 9) && f->n < 16) {
        f->keys[f->n] = key + 9;
        f->vals[f->n++] = val ? val : "";
    }
}

static void handle_list(emu_req *r, emu_reply *rp) {
    hq_emulator *e = r->emu;
    const char *st_f = emu_req_query(r, "status"), *tg_f = emu_req_query(r, "target");
    const char *nm_f = emu_req_query(r, "name"), *next = emu_req_query(r, "next");
    const char *lim_s = emu_req_query(r, "limit");
    int64_t limit = 25;
    if (lim_s && hq_parse_i64(lim_s, 1, 1000, &limit) != HQ_OK) {
        emu_reply_error(rp, EMU_IONQ, 400, 0, "limit must be an integer in [1, 1000]");
        return;
    }
    list_filter mf = {{0}, {0}, 0};
    emu_req_args(r, collect_meta, &mf);
    hq_sbuf *b = &rp->body;
    hq_sbuf_puts(b, "{\"jobs\":[");
    pthread_mutex_lock(&e->lock);
    double now = hq_time_wall();
    int64_t start = e->n_jobs - 1;
    if (next) {
        start = -1;
        for (int64_t i = e->n_jobs - 1; i >= 0; i--)
            if (!strcmp(e->jobs[i]->id, next)) {
                start = i - 1;
                break;
            }
    }
    int64_t n = 0;
    const char *last = NULL;
    bool more = false;
    for (int64_t i = start; i >= 0; i--) {
        const emu_job *j = e->jobs[i];
        if (j->fam != EMU_IONQ) continue;
        if (st_f && strcmp(st_f, status_name(emu_job_state(j, now, NULL, NULL)))) continue;
        if (tg_f && strcmp(tg_f, ionq_str(j->req, "target"))) continue;
        const char *nm = ionq_str(j->req, "name");
        if (nm_f && (!nm || strcmp(nm_f, nm))) continue;
        bool ok = true;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(j->req, "metadata");
        for (int k = 0; k < mf.n && ok; k++) {
            const char *v = ionq_str(md, mf.keys[k]);
            ok = v && !strcmp(v, mf.vals[k]);
        }
        if (!ok) continue;
        if (n == limit) {
            more = true;
            break;
        }
        if (n++) hq_sbuf_putc(b, ',');
        render_job(j, -1, now, b);
        last = j->id;
    }
    hq_sbuf_putc(b, ']');
    if (more && last) {
        hq_sbuf_puts(b, ",\"next\":");
        hq_sbuf_put_json_str(b, last);
    }
    pthread_mutex_unlock(&e->lock);
    hq_sbuf_putc(b, '}');
    emu_reply_json(rp, 200);
}

static void handle_backends(emu_req *r, emu_reply *rp) {
    hq_sbuf *b = &rp->body;
    pthread_mutex_lock(&r->emu->lock);
    int64_t queued = 0;
    double now = hq_time_wall();
    for (int64_t i = 0; i < r->emu->n_jobs; i++)
        if (r->emu->jobs[i]->fam == EMU_IONQ &&
            emu_job_state(r->emu->jobs[i], now, NULL, NULL) <= EMU_S_RUNNING)
            queued++;
    double calib = r->emu->calib_epoch;
    pthread_mutex_unlock(&r->emu->lock);
    hq_sbuf_putc(b, '[');
    for (int i = 0; i < emu_ionq_target_count(); i++) {
        const emu_ionq_target *t = emu_ionq_target_at(i);
        hq_sbuf_puts(b, i ? ",{\"backend\":" : "{\"backend\":");
        hq_sbuf_put_json_str(b, t->name);
        hq_sbuf_printf(b,
                       ",\"status\":\"available\",\"qubits\":%d,\"average_queue_time\":%lld,"
                       "\"last_updated\":%lld,\"degraded\":false",
                       t->qubits, (long long)(r->emu->opt.queue_delay_ms * (queued + 1)),
                       (long long)(calib > 0 ? calib : hq_time_wall()));
        if (t->qpu)
            hq_sbuf_printf(b,
                           ",\"characterization_url\":\"/characterizations/backends/%s/current\"",
                           t->short_name);
        hq_sbuf_puts(b, ",\"has_access\":true}");
    }
    hq_sbuf_putc(b, ']');
    emu_reply_json(rp, 200);
}

static void handle_characterization(emu_req *r, emu_reply *rp, const char *name) {
    const emu_ionq_target *t = emu_ionq_target_find(name);
    if (!t || !t->qpu) {
        emu_reply_error(rp, EMU_IONQ, 404, 0, "no characterization for backend '%.64s'", name);
        return;
    }
    pthread_mutex_lock(&r->emu->lock);
    emu_ionq_characterization_json(r->emu, t, &rp->body);
    pthread_mutex_unlock(&r->emu->lock);
    emu_reply_json(rp, 200);
}

void emu_ionq_handle(emu_req *r, emu_reply *rp) {
    const char *m = r->method;
    int n = r->nseg; /* seg[0] = "v0.3" */
    const char *s1 = n > 1 ? r->seg[1] : "";
    bool get = !strcmp(m, "GET");
    bool known = true, allowed = false;
    if (!strcmp(s1, "jobs") && n == 2) {
        if ((allowed = !strcmp(m, "POST")))
            handle_create(r, rp);
        else if ((allowed = get))
            handle_list(r, rp);
    } else if (!strcmp(s1, "jobs") && n == 3) {
        if ((allowed = get)) handle_get(r, rp, r->seg[2]);
    } else if (!strcmp(s1, "jobs") && n == 4 && !strcmp(r->seg[3], "results")) {
        if ((allowed = get)) handle_results(r, rp, r->seg[2]);
    } else if (!strcmp(s1, "jobs") && n == 5 && !strcmp(r->seg[3], "status") &&
               !strcmp(r->seg[4], "cancel")) {
        if ((allowed = !strcmp(m, "PUT"))) handle_cancel(r, rp, r->seg[2]);
    } else if (!strcmp(s1, "backends") && n == 2) {
        if ((allowed = get)) handle_backends(r, rp);
    } else if (!strcmp(s1, "characterizations") && n == 5 && !strcmp(r->seg[2], "backends") &&
               !strcmp(r->seg[4], "current")) {
        if ((allowed = get)) handle_characterization(r, rp, r->seg[3]);
    } else {
        known = false;
    }
    if (!known)
        emu_reply_error(rp, EMU_IONQ, 404, 0, "no route %s %s", m, r->path);
    else if (!allowed)
        emu_reply_error(rp, EMU_IONQ, 405, 0, "method %s not allowed on %s", m, r->path);
}
