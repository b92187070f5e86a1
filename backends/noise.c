/*
 * backends/noise.c — the noise model: construction, validation, lookup of an op's entry
 * and the channel parameters the density-matrix simulator applies (see noise.h). JSON
 * load/save is in noise_json.c, the device conversion in noise_device.c.
 */
#include <math.h>
#include <string.h>

#include "backends/noise_impl.h"

/* ==== create, free ====================================================================== */

hq_noise_qubit hq_noise_qubit_unset(void) {
    hq_noise_qubit v = {NAN, NAN, NAN, NAN, NAN};
    return v;
}

hq_status hq_noise_create(int n_qubits, hq_noise_model **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_create: out is NULL");
    *out = NULL;
    if (n_qubits < 0 || n_qubits > HQ_NOISE_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_noise_create: n_qubits = %d out of range [0, %d]", n_qubits,
                        HQ_NOISE_MAX_QUBITS);
    hq_noise_model *m = hq_calloc(1, sizeof *m);
    if (!m) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_noise_create: out of memory");
    if (n_qubits) {
        m->qubits = hq_malloc((size_t)n_qubits * sizeof *m->qubits);
        if (!m->qubits) {
            hq_free(m);
            return hq_failf(NULL, HQ_ERR_NOMEM, "hq_noise_create: out of memory");
        }
        for (int q = 0; q < n_qubits; q++) m->qubits[q] = hq_noise_qubit_unset();
    }
    m->h.magic = HQ_MAGIC_NOISE;
    m->n_qubits = n_qubits;
    m->scale = 1;
    m->def_qubit = hq_noise_qubit_unset();
    *out = m;
    return HQ_OK;
}

void hq_noise_free(hq_noise_model *m) {
    if (!m || m->h.magic != HQ_MAGIC_NOISE) return;
    hq_free(m->qubits);
    hq_free(m->gates);
    m->h.magic = HQ_MAGIC_DEAD;
    hq_free(m);
}

hq_status hq_noise_copy(const hq_noise_model *m, hq_noise_model **out) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_copy: out is NULL");
    hq_noise_model *c;
    hq_status st = hq_noise_create(m->n_qubits, &c);
    if (st) return st;
    if (m->n_gates) {
        c->gates = hq_malloc((size_t)m->n_gates * sizeof *c->gates);
        if (!c->gates) {
            hq_noise_free(c);
            return hq_failf(NULL, HQ_ERR_NOMEM, "hq_noise_copy: out of memory");
        }
        memcpy(c->gates, m->gates, (size_t)m->n_gates * sizeof *c->gates);
        c->n_gates = c->cap_gates = m->n_gates;
    }
    if (m->n_qubits) memcpy(c->qubits, m->qubits, (size_t)m->n_qubits * sizeof *c->qubits);
    memcpy(c->name, m->name, sizeof c->name);
    c->scale = m->scale;
    c->def_qubit = m->def_qubit;
    memcpy(c->has_def_gate, m->has_def_gate, sizeof c->has_def_gate);
    memcpy(c->def_gate, m->def_gate, sizeof c->def_gate);
    *out = c;
    return HQ_OK;
}

int hq_noise_n_qubits(const hq_noise_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_NOISE) ? m->n_qubits : 0;
}

hq_status hq_noise_set_name(hq_noise_model *m, const char *name) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!name) return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_noise_set_name: name is NULL");
    size_t len = strlen(name);
    if (len >= sizeof m->name)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_noise_set_name: name is %zu bytes long, at most %zu allowed", len,
                        sizeof m->name - 1);
    memcpy(m->name, name, len + 1);
    return HQ_OK;
}

const char *hq_noise_name(const hq_noise_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_NOISE) ? m->name : "";
}

hq_status hq_noise_set_scale(hq_noise_model *m, double s) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!(s >= 0 && s <= 1e6))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_noise_set_scale: scale = %g out of range [0, 1e6]", s);
    m->scale = s;
    return HQ_OK;
}

double hq_noise_scale(const hq_noise_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_NOISE) ? m->scale : NAN;
}

/* ==== qubits ============================================================================ */

/* Resolve one qubit's fields against the default. */
static hq_noise_qubit resolve(const hq_noise_qubit *q, const hq_noise_qubit *def) {
    hq_noise_qubit r;
    r.t1_us = !isnan(q->t1_us) ? q->t1_us : !isnan(def->t1_us) ? def->t1_us : INFINITY;
    r.t2_us = !isnan(q->t2_us) ? q->t2_us : !isnan(def->t2_us) ? def->t2_us : 2 * r.t1_us;
    r.excited_population = !isnan(q->excited_population)     ? q->excited_population
                           : !isnan(def->excited_population) ? def->excited_population
                                                             : 0;
    r.prob_meas0_prep1 = !isnan(q->prob_meas0_prep1)     ? q->prob_meas0_prep1
                         : !isnan(def->prob_meas0_prep1) ? def->prob_meas0_prep1
                                                         : 0;
    r.prob_meas1_prep0 = !isnan(q->prob_meas1_prep0)     ? q->prob_meas1_prep0
                         : !isnan(def->prob_meas1_prep0) ? def->prob_meas1_prep0
                                                         : 0;
    return r;
}

/* Field ranges (NAN = unset is fine). */
static hq_status check_qubit_fields(hq_noise_model *m, const hq_noise_qubit *v, const char *who,
                                    const char *prefix) {
    if (!isnan(v->t1_us) && !(v->t1_us > 0))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %st1_us = %g must be > 0 (microseconds; infinite = no relaxation)",
                        who, prefix, v->t1_us);
    if (!isnan(v->t2_us) && !(v->t2_us > 0))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %st2_us = %g must be > 0 (microseconds; infinite = no dephasing)", who,
                        prefix, v->t2_us);
    struct {
        const char *name;
        double v;
    } p[3] = {{"excited_population", v->excited_population},
              {"prob_meas0_prep1", v->prob_meas0_prep1},
              {"prob_meas1_prep0", v->prob_meas1_prep0}};
    for (int i = 0; i < 3; i++)
        if (!isnan(p[i].v) && !(p[i].v >= 0 && p[i].v <= 1))
            return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "%s: %s%s = %g out of range [0, 1]", who,
                            prefix, p[i].name, p[i].v);
    return HQ_OK;
}

static hq_status check_t2(hq_noise_model *m, const hq_noise_qubit *eff, const char *who,
                          const char *prefix) {
    if (!(eff->t2_us <= 2 * eff->t1_us * (1 + 1e-12)))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %st2_us = %g exceeds 2*T1 = %g us (T2 <= 2*T1 for a physical "
                        "qubit; T1 and T2 may come from the defaults)",
                        who, prefix, eff->t2_us, 2 * eff->t1_us);
    return HQ_OK;
}

hq_status noise_set_qubit_ctx(hq_noise_model *m, int q, const hq_noise_qubit *v, const char *who,
                              const char *prefix) {
    hq_status st = check_qubit_fields(m, v, who, prefix);
    if (st) return st;
    hq_noise_qubit eff = resolve(v, &m->def_qubit);
    st = check_t2(m, &eff, who, prefix);
    if (st) return st;
    m->qubits[q] = *v;
    return HQ_OK;
}

hq_status hq_noise_set_qubit(hq_noise_model *m, int q, const hq_noise_qubit *v) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!v) return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_noise_set_qubit: v is NULL");
    if (q < 0 || q >= m->n_qubits)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_noise_set_qubit: qubit %d out of range [0, %d)%s", q, m->n_qubits,
                        m->n_qubits ? "" : " (a generic model has only the default qubit)");
    return noise_set_qubit_ctx(m, q, v, "hq_noise_set_qubit", "");
}

hq_status noise_set_default_qubit_ctx(hq_noise_model *m, const hq_noise_qubit *v, const char *who,
                                      const char *prefix) {
    hq_status st = check_qubit_fields(m, v, who, prefix);
    if (st) return st;
    hq_noise_qubit unset = hq_noise_qubit_unset();
    hq_noise_qubit eff = resolve(&unset, v);
    st = check_t2(m, &eff, who, prefix);
    if (st) return st;
    for (int q = 0; q < m->n_qubits; q++) {
        eff = resolve(&m->qubits[q], v);
        if (!(eff.t2_us <= 2 * eff.t1_us * (1 + 1e-12)))
            return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                            "%s: with this default qubit, qubit %d would have T2 = %g us > 2*T1 = "
                            "%g us",
                            who, q, eff.t2_us, 2 * eff.t1_us);
    }
    m->def_qubit = *v;
    return HQ_OK;
}

hq_status hq_noise_set_default_qubit(hq_noise_model *m, const hq_noise_qubit *v) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!v) return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_noise_set_default_qubit: v is NULL");
    return noise_set_default_qubit_ctx(m, v, "hq_noise_set_default_qubit", "");
}

static hq_status check_phys(const hq_noise_model *m, const char *who, int q) {
    if (q < 0 || (m->n_qubits > 0 && q >= m->n_qubits))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: physical qubit %d out of range [0, %d)", who,
                        q, m->n_qubits > 0 ? m->n_qubits : HQ_NOISE_MAX_QUBITS);
    return HQ_OK;
}

static hq_noise_qubit qubit_eff(const hq_noise_model *m, int q) {
    if (m->n_qubits == 0) {
        hq_noise_qubit unset = hq_noise_qubit_unset();
        return resolve(&unset, &m->def_qubit);
    }
    return resolve(&m->qubits[q], &m->def_qubit);
}

hq_status hq_noise_get_qubit(const hq_noise_model *m, int q, hq_noise_qubit *out) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_get_qubit: out is NULL");
    hq_status st = check_phys(m, "hq_noise_get_qubit", q);
    if (st) return st;
    *out = qubit_eff(m, q);
    return HQ_OK;
}

/* ==== gates ============================================================================= */

static const char *gate_label(hq_gate g) {
    if (g == HQ_NOISE_ANY_GATE) return "*";
    const hq_gate_info *gi = hq_gate_get_info(g);
    return gi ? gi->name : "?";
}

/* Arity of a gate that may carry noise, 0 if it may not. */
static int noisy_arity(hq_gate g) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi) return 0;
    if (gi->kind == HQ_KIND_UNITARY) return gi->nq;
    if (gi->kind == HQ_KIND_RESET) return 1;
    return 0;
}

static hq_status check_error_duration(hq_noise_model *m, int k, double error, double duration,
                                      const char *who, const char *prefix, const char *gname) {
    double emax = noise_max_error(k);
    if (!(error >= 0 && error <= emax))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %serror = %g out of range [0, %.4g] for %d-qubit gate '%s' (average "
                        "gate infidelity; d/(d+1) is fully depolarizing)",
                        who, prefix, error, emax, k, gname);
    if (!(duration >= 0 && isfinite(duration)))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %sduration_ns = %g must be finite and >= 0 (nanoseconds)", who, prefix,
                        duration);
    return HQ_OK;
}

hq_status noise_set_gate_ctx(hq_noise_model *m, const hq_noise_gate *e, const char *who,
                             const char *prefix) {
    int k;
    if (e->gate == HQ_NOISE_ANY_GATE) {
        if (e->nq < 1 || e->nq > 3)
            return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                            "%s: %squbits: a '*' entry needs 1 to 3 qubits, got %d "
                            "(use the defaults for every qubit)",
                            who, prefix, e->nq);
        k = e->nq;
    } else {
        k = noisy_arity(e->gate);
        if (!k) {
            const hq_gate_info *gi = hq_gate_get_info(e->gate);
            return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                            "%s: %sgate '%s' cannot carry gate noise (unitary gates and reset "
                            "can; readout errors are per qubit: prob_meas0_prep1, "
                            "prob_meas1_prep0)",
                            who, prefix, gi ? gi->name : "?");
        }
        if (e->nq != 0 && e->nq != k)
            return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                            "%s: %squbits: '%s' acts on %d qubit(s), got %d", who, prefix,
                            gate_label(e->gate), k, e->nq);
    }
    for (int j = 0; j < e->nq; j++) {
        if (e->q[j] < 0 || (m->n_qubits > 0 && e->q[j] >= m->n_qubits))
            return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                            "%s: %squbits[%d] = %d out of range [0, %d)", who, prefix, j, e->q[j],
                            m->n_qubits > 0 ? m->n_qubits : HQ_NOISE_MAX_QUBITS);
        for (int i = 0; i < j; i++)
            if (e->q[i] == e->q[j])
                return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                                "%s: %squbits: qubit %d appears twice", who, prefix, e->q[j]);
    }
    hq_status st =
        check_error_duration(m, k, e->error, e->duration_ns, who, prefix, gate_label(e->gate));
    if (st) return st;
    hq_noise_gate v = *e;
    for (int j = e->nq; j < 3; j++) v.q[j] = -1;
    for (int i = 0; i < m->n_gates; i++) {
        hq_noise_gate *g = &m->gates[i];
        if (g->gate == v.gate && g->nq == v.nq && !memcmp(g->q, v.q, sizeof v.q)) {
            *g = v;
            return HQ_OK;
        }
    }
    if (m->n_gates == m->cap_gates) {
        int cap = m->cap_gates ? m->cap_gates * 2 : 32;
        hq_noise_gate *p = hq_realloc(m->gates, (size_t)cap * sizeof *p);
        if (!p) return hq_failf(&m->h.err, HQ_ERR_NOMEM, "%s: out of memory", who);
        m->gates = p;
        m->cap_gates = cap;
    }
    m->gates[m->n_gates++] = v;
    return HQ_OK;
}

hq_status hq_noise_set_gate(hq_noise_model *m, const hq_noise_gate *e) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!e) return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "hq_noise_set_gate: e is NULL");
    if (e->gate != HQ_NOISE_ANY_GATE && !hq_gate_get_info(e->gate))
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_noise_set_gate: gate %d is not in the gate table", (int)e->gate);
    if (e->nq < 0 || e->nq > 3)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG,
                        "hq_noise_set_gate: nq = %d out of range [0, 3]", e->nq);
    return noise_set_gate_ctx(m, e, "hq_noise_set_gate", "");
}

hq_status noise_set_default_gate_ctx(hq_noise_model *m, int nq, double error, double duration_ns,
                                     const char *who, const char *prefix) {
    if (nq < 1 || nq > 3)
        return hq_failf(&m->h.err, HQ_ERR_INVALID_ARG, "%s: nq = %d out of range [1, 3]", who, nq);
    hq_status st = check_error_duration(m, nq, error, duration_ns, who, prefix, "default");
    if (st) return st;
    hq_noise_gate g = {HQ_NOISE_ANY_GATE, 0, {-1, -1, -1}, error, duration_ns};
    m->def_gate[nq - 1] = g;
    m->has_def_gate[nq - 1] = true;
    return HQ_OK;
}

hq_status hq_noise_set_default_gate(hq_noise_model *m, int nq, double error, double duration_ns) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    return noise_set_default_gate_ctx(m, nq, error, duration_ns, "hq_noise_set_default_gate", "");
}

int hq_noise_n_gates(const hq_noise_model *m) {
    return hq_handle_ok(m, HQ_MAGIC_NOISE) ? m->n_gates : 0;
}

const hq_noise_gate *hq_noise_gate_at(const hq_noise_model *m, int i) {
    if (!hq_handle_ok(m, HQ_MAGIC_NOISE) || i < 0 || i >= m->n_gates) return NULL;
    return &m->gates[i];
}

/* ==== lookup and channels =============================================================== */

static bool qubits_match(const hq_noise_gate *e, const int *phys, int k) {
    bool fwd = true;
    for (int j = 0; j < k; j++)
        if (e->q[j] != phys[j]) fwd = false;
    if (fwd) return true;
    return k == 2 && e->q[0] == phys[1] && e->q[1] == phys[0];
}

/* The entry for op (g, phys) by the lookup order of noise.h, NULL if none. */
static const hq_noise_gate *lookup(const hq_noise_model *m, hq_gate g, const int *phys, int k) {
    const hq_noise_gate *best = NULL;
    int rank = 99;
    for (int i = 0; i < m->n_gates && rank > 0; i++) {
        const hq_noise_gate *e = &m->gates[i];
        int r = 99;
        if (e->gate == g && e->nq == k && qubits_match(e, phys, k))
            r = e->q[0] == phys[0] ? 0 : 1; /* exact order beats reversed */
        else if (e->gate == g && e->nq == 0)
            r = 2;
        else if (e->gate == HQ_NOISE_ANY_GATE && g != HQ_GATE_RESET && e->nq == k &&
                 qubits_match(e, phys, k))
            r = e->q[0] == phys[0] ? 3 : 4;
        if (r < rank) {
            rank = r;
            best = e;
        }
    }
    if (!best && g != HQ_GATE_RESET && m->has_def_gate[k - 1]) best = &m->def_gate[k - 1];
    return best;
}

double hq_noise_depol_for_error(double error, int k, const double *e1, const double *e2) {
    if (k < 1 || k > 3 || !e1 || !e2 || isnan(error)) return 0;
    const double d = (double)(1 << k), lmax = d * d / (d * d - 1);
    double r = fmin(fmax(error, 0), d / (d + 1));
    double fpro = 1;
    for (int j = 0; j < k; j++) fpro *= (1 + e1[j] + 2 * e2[j]) / 4;
    double favg = (d * fpro + 1) / (d + 1), rr = 1 - favg;
    if (r <= rr) return 0;
    double den = d * favg - 1;
    if (den <= 0) return lmax;
    return fmin(d * (r - rr) / den, lmax);
}

/* Scale a strength v >= 0 by s: s*v, capped for s > 1 at max(v, full). */
static double scale_cap(double v, double s, double full) {
    if (s <= 1) return s * v;
    return fmin(s * v, fmax(v, full));
}

hq_status hq_noise_gate_channel(const hq_noise_model *m, hq_gate g, const int *phys,
                                hq_noise_channel *out) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    const char *who = "hq_noise_gate_channel";
    if (!phys || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", who, !phys ? "phys" : "out");
    int k = noisy_arity(g);
    if (!k)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: gate %d is neither a unitary gate nor reset",
                        who, (int)g);
    for (int j = 0; j < k; j++) {
        hq_status st = check_phys(m, who, phys[j]);
        if (st) return st;
    }
    memset(out, 0, sizeof *out);
    out->nq = k;
    for (int j = 0; j < 3; j++) out->e1[j] = out->e2[j] = 1;
    const hq_noise_gate *e = lookup(m, g, phys, k);
    if (!e) return HQ_OK;
    double t_us = e->duration_ns * 1e-3;
    double e1[3], e2[3];
    hq_noise_qubit qp[3];
    for (int j = 0; j < k; j++) {
        qp[j] = qubit_eff(m, phys[j]);
        e1[j] = exp(-t_us / qp[j].t1_us);
        e2[j] = exp(-t_us / qp[j].t2_us);
    }
    double lam = hq_noise_depol_for_error(e->error, k, e1, e2);
    const double s = m->scale;
    out->depol = scale_cap(lam, s, 1);
    out->time_ns = s * e->duration_ns;
    for (int j = 0; j < k; j++) {
        double ts = s * t_us;
        out->e1[j] = exp(-ts / qp[j].t1_us);
        out->e2[j] = exp(-ts / qp[j].t2_us);
        out->pe[j] = qp[j].excited_population;
    }
    return HQ_OK;
}

hq_status hq_noise_readout(const hq_noise_model *m, int q, double *prob_meas0_prep1,
                           double *prob_meas1_prep0) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!prob_meas0_prep1 || !prob_meas1_prep0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_readout: output pointer is NULL");
    hq_status st = check_phys(m, "hq_noise_readout", q);
    if (st) return st;
    hq_noise_qubit v = qubit_eff(m, q);
    *prob_meas0_prep1 = scale_cap(v.prob_meas0_prep1, m->scale, 0.5);
    *prob_meas1_prep0 = scale_cap(v.prob_meas1_prep0, m->scale, 0.5);
    return HQ_OK;
}
