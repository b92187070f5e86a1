/*
 * tests/test_transpile.c — backends/transpile: every decomposition checked one gate at a
 * time against hq_gate_matrix (constant and symbolic angles), the single-qubit synthesis,
 * and whole-circuit equivalence of the compiled circuit with the input (up to global phase
 * and the final qubit permutation; ancillas must return to |0>) on the real manila,
 * nairobi, sherbrooke and fez snapshots and for IonQ native / QIS: random circuits over
 * every gate, the HQCNN template (symbolic, bound afterwards) and ISA validity. The
 * reference is the naive simulator (sv_ref), an independent implementation.
 */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/statevector.h"
#include "backends/sv_ref.h"
#include "backends/transpile.h"
#include "backends/transpile_impl.h"
#include "core/rng.h"
#include "tests/hq_test.h"

/* ==== helpers ============================================================================ */

static hq_device *load_dev(const char *name) {
    char dir[400], conf[512], props[512];
    snprintf(dir, sizeof dir, "%s", hq_test_shared("data/ibm_backends"));
    snprintf(props, sizeof props, "%s/props_%.40s.json", dir, name);
    snprintf(conf, sizeof conf, "%s/conf_%.40s.json", dir, name);
    hq_device *d = NULL;
    if (hq_device_load_ibm(conf, props, &d) != HQ_OK)
        hq_test_fail(__FILE__, __LINE__, "load %s: %s", name, hq_last_error());
    return d;
}

/* apply the unitary ops of c (angles evaluated at sym) to state (n qubits); qmap maps c's
 * qubits to state qubits (NULL = identity) */
static void sim(const hq_circuit *c, const double *sym, const int *qmap, hq_cplx *state, int n) {
    int64_t na = hq_circuit_n_angles(c);
    double *ang = hq_malloc((size_t)(na ? na : 1) * sizeof *ang);
    HQ_ASSERT(ang);
    hq_circuit_eval_angles(c, sym, ang);
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++) {
        const hq_op *o = &ops[i];
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)o->gate);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        double p[4];
        for (int k = 0; k < o->np; k++) p[k] = ang[o->p[k]];
        hq_cplx m[64];
        HQ_ASSERT(hq_gate_matrix((hq_gate)o->gate, p, m) == HQ_OK);
        int q[3];
        for (int k = 0; k < o->nq; k++) q[k] = qmap ? qmap[o->q[k]] : o->q[k];
        hq_ref_apply_matrix(state, n, m, q, o->nq);
    }
    hq_free(ang);
}

static double angle_val(const hq_angle *a, const double *sym) {
    double v = a->c;
    for (int i = 0; i < a->n; i++) v += a->coef[i] * sym[a->sym[i]];
    return v;
}

/* max over entries of |a - e^{i phi} b| with phi fixed by `phase` (0 = choose here) */
static double dist_phase(const hq_cplx *a, const hq_cplx *b, int64_t n, hq_cplx *phase) {
    if (*phase == 0) {
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (cabs(b[i]) > cabs(b[best])) best = i;
        hq_cplx ph = cabs(b[best]) > 1e-12 ? a[best] / b[best] : 1;
        *phase = cabs(ph) > 0 ? ph / cabs(ph) : 1;
    }
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - *phase * b[i]));
    return m;
}

/*
 * The compiled circuit r equals c (both at symbol values sym) up to global phase and the
 * layouts: for random logical input states psi, running r->circuit on psi placed at
 * initial_layout (ancillas |0>) gives (c psi) placed at final_layout, ancillas |0>, with
 * one global phase for all inputs. IonQ native: the residual frame rz is applied last.
 */
static double equiv_error_sym2(const hq_circuit *c, const hq_transpile_result *r, const double *sym,
                               const double *rsym);
static double equiv_error(const hq_circuit *c, const hq_transpile_result *r, const double *sym,
                          uint64_t seed) {
    (void)seed;
    return equiv_error_sym2(c, r, sym, sym);
}

/* sym: values of c's symbols; rsym: values of r->circuit's symbols */
static double equiv_error_sym2(const hq_circuit *c, const hq_transpile_result *r, const double *sym,
                               const double *rsym) {
    uint64_t seed = 5;
    int n = hq_circuit_n_qubits(c), np = r->n_physical;
    int *cmap = hq_malloc((size_t)np * sizeof *cmap);
    HQ_ASSERT(cmap);
    for (int i = 0; i < np; i++) cmap[i] = -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (cmap[r->initial_layout[i]] < 0) cmap[r->initial_layout[i]] = k++;
        if (cmap[r->final_layout[i]] < 0) cmap[r->final_layout[i]] = k++;
    }
    const hq_op *ops = hq_circuit_ops(r->circuit);
    for (int64_t i = 0; i < hq_circuit_n_ops(r->circuit); i++)
        for (int j = 0; j < ops[i].nq; j++) {
            int q = hq_op_qubit(r->circuit, &ops[i], j);
            if (cmap[q] < 0) cmap[q] = k++;
        }
    if (k > 14) {
        hq_test_fail(__FILE__, __LINE__, "compiled circuit uses %d physical qubits", k);
        hq_free(cmap);
        return INFINITY;
    }
    int64_t dl = (int64_t)1 << n, dk = (int64_t)1 << k;
    hq_cplx *psi = hq_malloc((size_t)dl * sizeof *psi),
            *want = hq_malloc((size_t)dk * sizeof *want);
    hq_cplx *got = hq_calloc((size_t)dk, sizeof *got);
    HQ_ASSERT(psi && want && got);
    hq_rng rng;
    hq_rng_init(&rng, seed, 77, 0);
    double err = 0;
    hq_cplx phase = 0;
    for (int trial = 0; trial < 2; trial++) {
        double nrm = 0;
        for (int64_t j = 0; j < dl; j++) {
            psi[j] = hq_rng_normal(&rng) + I * hq_rng_normal(&rng);
            nrm += creal(psi[j] * conj(psi[j]));
        }
        for (int64_t j = 0; j < dl; j++) psi[j] /= sqrt(nrm);
        memset(got, 0, (size_t)dk * sizeof *got);
        memset(want, 0, (size_t)dk * sizeof *want);
        for (int64_t j = 0; j < dl; j++) {
            int64_t a = 0;
            for (int i = 0; i < n; i++)
                if (j >> i & 1) a |= (int64_t)1 << cmap[r->initial_layout[i]];
            got[a] = psi[j];
        }
        sim(r->circuit, rsym, cmap, got, k);
        if (r->ionq_frame)
            for (int q = 0; q < n; q++) {
                hq_cplx m[4];
                tp_m2_rz(angle_val(&r->ionq_frame[q], sym), m);
                int pq = cmap[q];
                hq_ref_apply_matrix(got, k, m, &pq, 1);
            }
        sim(c, sym, NULL, psi, n);
        for (int64_t j = 0; j < dl; j++) {
            int64_t a = 0;
            for (int i = 0; i < n; i++)
                if (j >> i & 1) a |= (int64_t)1 << cmap[r->final_layout[i]];
            want[a] = psi[j];
        }
        err = fmax(err, dist_phase(got, want, dk, &phase));
    }
    hq_free(psi);
    hq_free(want);
    hq_free(got);
    hq_free(cmap);
    return err;
}

/* ==== measurements: exact outcome distributions ==========================================
 *
 * The state checks above drop measurements; these compare what a user of the device gets:
 * the exact distribution of the classical register of the input against that of the
 * compiled circuit (run on the physical qubits it touches), and the bookkeeping
 * (clbit_physical, final_layout) that result readers rely on.
 */

/* r->circuit on the physical qubits it uses only, renumbered in order of first use, with
 * its classical registers and symbols (same order); NULL on failure. *k_out: qubits. */
static hq_circuit *compact_circuit(const hq_transpile_result *r, int *k_out) {
    int np = r->n_physical, k = 0;
    int *map = hq_malloc((size_t)np * sizeof *map);
    HQ_ASSERT(map);
    for (int i = 0; i < np; i++) map[i] = -1;
    const hq_op *ops = hq_circuit_ops(r->circuit);
    for (int64_t i = 0; i < hq_circuit_n_ops(r->circuit); i++)
        for (int j = 0; j < ops[i].nq; j++) {
            int q = hq_op_qubit(r->circuit, &ops[i], j);
            if (map[q] < 0) map[q] = k++;
        }
    for (int i = 0; i < np; i++)
        if (map[i] < 0) map[i] = 0; /* never referenced */
    hq_circuit *c;
    hq_status st = hq_circuit_create(&c);
    if (st) {
        hq_free(map);
        return NULL;
    }
    st = hq_circuit_add_qreg(c, "q", HQ_MAX(k, 1), NULL);
    for (int i = 0; !st && i < hq_circuit_n_cregs(r->circuit); i++) {
        hq_reg g = hq_circuit_creg(r->circuit, i);
        st = hq_circuit_add_creg(c, g.name, g.size, NULL);
    }
    for (int i = 0; !st && i < hq_circuit_n_symbols(r->circuit); i++)
        st = hq_circuit_add_symbol(c, hq_circuit_symbol_name(r->circuit, i),
                                   hq_circuit_symbol_kind(r->circuit, i), NULL);
    if (!st) st = hq_circuit_append(c, r->circuit, map, NULL);
    hq_free(map);
    if (st) {
        hq_circuit_free(c);
        return NULL;
    }
    *k_out = k;
    return c;
}

typedef struct outp {
    uint64_t v; /* classical register value */
    double p;
} outp;

static int cmp_outp(const void *a, const void *b) {
    uint64_t x = ((const outp *)a)->v, y = ((const outp *)b)->v;
    return (x > y) - (x < y);
}

/* Exact distribution of the classical register of a static circuit with measurements (no
 * reset, no condition, nothing after a measurement but measurements): the statevector of
 * its unitary part, bit j read from the qubit last measured into j. */
static hq_status sv_dist(const hq_circuit *c, const double *sym, hq_dm_dist *out) {
    memset(out, 0, sizeof *out);
    int n = hq_circuit_n_qubits(c), nb = hq_circuit_n_clbits(c);
    HQ_ASSERT(nb <= 64 && n <= 20);
    int src[64];
    for (int j = 0; j < nb; j++) src[j] = -1;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++)
        if (ops[i].gate == HQ_GATE_MEASURE) src[ops[i].clbit] = ops[i].q[0];
    hq_sv *sv;
    hq_status st = hq_sv_simulate(c, sym, &sv);
    if (st) return st;
    int64_t d = (int64_t)1 << n;
    double *pr = hq_malloc((size_t)d * sizeof *pr);
    outp *o = hq_malloc((size_t)d * sizeof *o);
    HQ_ASSERT(pr && o);
    HQ_ASSERT(hq_sv_probabilities(sv, pr) == HQ_OK);
    for (int64_t i = 0; i < d; i++) {
        o[i].v = 0;
        o[i].p = pr[i];
        for (int j = 0; j < nb; j++)
            if (src[j] >= 0 && (i >> src[j] & 1)) o[i].v |= (uint64_t)1 << j;
    }
    qsort(o, (size_t)d, sizeof *o, cmp_outp);
    out->n_bits = nb;
    out->outcome = hq_malloc((size_t)d * sizeof *out->outcome);
    out->prob = hq_malloc((size_t)d * sizeof *out->prob);
    HQ_ASSERT(out->outcome && out->prob);
    for (int64_t i = 0; i < d; i++) {
        if (out->n && out->outcome[out->n - 1] == o[i].v)
            out->prob[out->n - 1] += o[i].p;
        else
            out->outcome[out->n] = o[i].v, out->prob[out->n++] = o[i].p;
    }
    hq_free(pr);
    hq_free(o);
    hq_sv_free(sv);
    return HQ_OK;
}

/* exact distribution: the statevector for static circuits, else the density matrix */
static hq_status exact_dist(const hq_circuit *c, const double *sym, hq_dm_dist *out) {
    if (!hq_circuit_is_dynamic(c)) return sv_dist(c, sym, out);
    return hq_dm_run_probs(c, sym, NULL, NULL, out);
}

/* max over outcomes of |P_a - P_b| (outcomes missing from one side count 0) */
static double dist_gap(const hq_dm_dist *a, const hq_dm_dist *b) {
    if (a->n_bits != b->n_bits) return INFINITY;
    double m = 0;
    int64_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        if (j >= b->n || (i < a->n && a->outcome[i] < b->outcome[j]))
            m = fmax(m, fabs(a->prob[i++]));
        else if (i >= a->n || b->outcome[j] < a->outcome[i])
            m = fmax(m, fabs(b->prob[j++]));
        else
            m = fmax(m, fabs(a->prob[i++] - b->prob[j++]));
    }
    return m;
}

/* Is measurement i of c final: nothing but barriers acts on its qubit afterwards, no later
 * measurement writes its bit, no later condition reads its register? */
static bool final_measure(const hq_circuit *c, int64_t i) {
    const hq_op *ops = hq_circuit_ops(c);
    if (ops[i].cond_creg >= 0) return false; /* a conditional measurement stays in place */
    int q = ops[i].q[0], b = ops[i].clbit, reg = -1;
    for (int g = 0; g < hq_circuit_n_cregs(c); g++) {
        hq_reg cr = hq_circuit_creg(c, g);
        if (b >= cr.offset && b < cr.offset + cr.size) reg = g;
    }
    for (int64_t k = i + 1; k < hq_circuit_n_ops(c); k++) {
        const hq_op *o = &ops[k];
        if (o->cond_creg >= 0 && o->cond_creg == reg) return false;
        if (o->gate == HQ_GATE_MEASURE && o->clbit == b) return false;
        if (o->gate == HQ_GATE_BARRIER) continue;
        for (int j = 0; j < o->nq; j++)
            if (o->q[j] == q) return false;
    }
    return true;
}

/*
 * The measurements of the compiled circuit agree with the input and with the result:
 *   - as many measurements as the input;
 *   - clbit_physical[j] is the qubit last measured into j (-1 if none);
 *   - a final measurement of logical q into j (see final_measure) is, in the output, the last
 *     measurement into j, on final_layout[q], and only barriers and measurements act on that
 *     physical qubit afterwards; no physical qubit is measured at the end for two logical
 *     qubits (into two bits of this final layer).
 */
static void check_measures(const hq_circuit *c, const hq_transpile_result *r, const char *what) {
    const hq_op *ci = hq_circuit_ops(c), *co = hq_circuit_ops(r->circuit);
    int64_t ni = hq_circuit_n_ops(c), no = hq_circuit_n_ops(r->circuit);
    int nb = hq_circuit_n_clbits(c);
    HQ_CHECKF(r->n_clbits == nb, "%s: %d clbits, input %d", what, r->n_clbits, nb);
    if (r->n_clbits != nb) return;
    HQ_CHECKF(hq_circuit_count_gate(r->circuit, HQ_GATE_MEASURE) ==
                  hq_circuit_count_gate(c, HQ_GATE_MEASURE),
              "%s: %lld measurements, input %lld", what,
              (long long)hq_circuit_count_gate(r->circuit, HQ_GATE_MEASURE),
              (long long)hq_circuit_count_gate(c, HQ_GATE_MEASURE));
    int64_t *last = hq_malloc((size_t)(nb ? nb : 1) * sizeof *last);
    int *owner = hq_malloc((size_t)r->n_physical * sizeof *owner);
    HQ_ASSERT(last && owner);
    for (int j = 0; j < nb; j++) last[j] = -1;
    for (int q = 0; q < r->n_physical; q++) owner[q] = -1;
    for (int64_t i = 0; i < no; i++)
        if (co[i].gate == HQ_GATE_MEASURE) last[co[i].clbit] = i;
    for (int j = 0; j < nb; j++) {
        int want = last[j] < 0 ? -1 : co[last[j]].q[0];
        HQ_CHECKF(r->clbit_physical[j] == want, "%s: clbit_physical[%d] = %d, measured on %d", what,
                  j, r->clbit_physical[j], want);
    }
    for (int64_t i = 0; i < ni; i++) {
        if (ci[i].gate != HQ_GATE_MEASURE || !final_measure(c, i)) continue;
        int lq = ci[i].q[0], j = ci[i].clbit;
        if (last[j] < 0) {
            hq_test_fail(__FILE__, __LINE__, "%s: bit %d is never measured", what, j);
            continue;
        }
        int pq = co[last[j]].q[0];
        HQ_CHECKF(pq == r->final_layout[lq],
                  "%s: final measurement of logical %d into bit %d on physical %d, but "
                  "final_layout[%d] = %d",
                  what, lq, j, pq, lq, r->final_layout[lq]);
        HQ_CHECKF(owner[pq] < 0 || owner[pq] == lq,
                  "%s: physical %d measured at the end for logical %d and %d", what, pq, owner[pq],
                  lq);
        owner[pq] = lq;
        for (int64_t k = last[j] + 1; k < no; k++) {
            if (co[k].gate == HQ_GATE_BARRIER || co[k].gate == HQ_GATE_MEASURE) continue;
            bool on = false;
            for (int t = 0; t < co[k].nq; t++) on |= co[k].q[t] == pq;
            HQ_CHECKF(!on, "%s: op %lld (%s) acts on physical %d after its final measurement", what,
                      (long long)k, hq_gate_get_info((hq_gate)co[k].gate)->name, pq);
            if (on) break;
        }
    }
    hq_free(last);
    hq_free(owner);
}

/* exact outcome distribution of r equals that of c (both at sym), within tol; the
 * compiled circuit runs on the physical qubits it touches */
static void check_dist(const hq_circuit *c, const hq_transpile_result *r, const double *sym,
                       const char *what, double tol) {
    int k = 0;
    hq_circuit *cc = compact_circuit(r, &k);
    HQ_CHECKF(cc && k <= 14, "%s: compiled circuit touches %d physical qubits", what, k);
    if (!cc || k > 14) {
        hq_circuit_free(cc);
        return;
    }
    hq_dm_dist want, got;
    hq_status s1 = exact_dist(c, sym, &want);
    hq_status s2 = s1 ? s1 : exact_dist(cc, sym, &got);
    HQ_CHECKF(s1 == HQ_OK && s2 == HQ_OK, "%s: simulation: %s", what, hq_last_error());
    if (!s1 && !s2) {
        double gap = dist_gap(&want, &got);
        HQ_CHECKF(gap <= tol, "%s: outcome distributions differ by %.3g", what, gap);
    }
    if (!s1) hq_dm_dist_free(&want);
    if (!s1 && !s2) hq_dm_dist_free(&got);
    hq_circuit_free(cc);
}

/* for a circuit with measurements: a static input stays static (no operation after a
 * measurement on its qubit), check_measures, and equal exact distributions */
static void check_measured(const hq_circuit *c, const hq_transpile_result *r, const double *sym,
                           const char *what) {
    if (hq_circuit_count_gate(c, HQ_GATE_MEASURE) == 0) return;
    HQ_CHECKF(hq_circuit_is_dynamic(c) || !hq_circuit_is_dynamic(r->circuit),
              "%s: the input is static, the compiled circuit dynamic", what);
    check_measures(c, r, what);
    check_dist(c, r, sym, what, 1e-9);
}

/* unitary of a tp_prog on n qubits (TP_RZ evaluated at sym) */
static void prog_unitary(const tp_prog *p, const double *sym, hq_cplx *u) {
    int n = p->nq;
    int64_t d = (int64_t)1 << n;
    hq_cplx *col = hq_malloc((size_t)d * sizeof *col);
    HQ_ASSERT(col);
    for (int64_t j = 0; j < d; j++) {
        memset(col, 0, (size_t)d * sizeof *col);
        col[j] = 1;
        for (int64_t i = 0; i < p->n; i++) {
            const tp_op *o = &p->ops[i];
            hq_cplx m[16];
            int q[2] = {o->q[0], o->q[1]}, nq = 1;
            switch ((tp_kind)o->kind) {
            case TP_U: memcpy(m, o->m, sizeof o->m); break;
            case TP_RZ: tp_m2_rz(angle_val(&o->a, sym), m); break;
            case TP_CX: hq_gate_matrix(HQ_GATE_CX, NULL, m), nq = 2; break;
            case TP_SWAP: hq_gate_matrix(HQ_GATE_SWAP, NULL, m), nq = 2; break;
            case TP_G2: hq_gate_matrix((hq_gate)o->gate, NULL, m), nq = 2; break;
            case TP_MS: hq_gate_matrix(HQ_GATE_MS, o->ms, m), nq = 2; break;
            case TP_CCZ: {
                hq_cplx z[64] = {0};
                for (int k = 0; k < 8; k++) z[k * 9] = k == 7 ? -1 : 1;
                int q3[3] = {o->q[0], o->q[1], o->q[2]};
                hq_ref_apply_matrix(col, n, z, q3, 3);
                nq = 0;
                break;
            }
            default: nq = 0;
            }
            if (nq) hq_ref_apply_matrix(col, n, m, q, nq);
        }
        for (int64_t i = 0; i < d; i++) u[i * d + j] = col[i];
    }
    hq_free(col);
}

static double rnd_angle(hq_rng *r) { return (hq_rng_uniform(r) * 2 - 1) * 4.0; }

/* ==== decompositions, one gate at a time ================================================ */

HQ_TEST(transpile_lower_each_gate) {
    hq_rng rng;
    hq_rng_init(&rng, 11, 0, 0);
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        for (int variant = 0; variant < 4; variant++) {
            /* variant 0/1: constant angles (1: IonQ MS lowering); 2/3: symbolic */
            bool symbolic = variant >= 2;
            hq_circuit *c;
            HQ_REQUIRE_OK(hq_circuit_create(&c));
            HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
            int qs[3] = {2, 0, 1}; /* operands not in index order */
            hq_angle a[4];
            double symv[4];
            for (int i = 0; i < gi->np; i++) {
                symv[i] = rnd_angle(&rng);
                if (symbolic) {
                    char nm[16];
                    snprintf(nm, sizeof nm, "s%d", i);
                    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, nm, HQ_SYM_WEIGHT, NULL));
                    a[i] = hq_angle_sym(i, 1, 0);
                } else {
                    a[i] = hq_angle_const(symv[i]);
                }
            }
            /* special angles too: exercise the 0 / pi/2 / pi branches */
            if (variant == 1 && gi->np) a[0] = hq_angle_const(symv[0] = M_PI * (g % 3) / 2);
            HQ_REQUIRE_OK(hq_circuit_add_gate_sym(c, (hq_gate)g, qs, gi->np ? a : NULL));
            tp_lower_opts lo = {.ionq_ms = variant == 1, .swaps_as_cx = variant == 3};
            tp_prog p;
            HQ_REQUIRE_OK(tp_lower(c, &lo, &p));
            hq_cplx want[64], got[64];
            HQ_REQUIRE_OK(hq_ref_unitary(c, symbolic ? symv : NULL, want));
            prog_unitary(&p, symv, got);
            hq_cplx ph = 0;
            HQ_CHECKF(dist_phase(got, want, 64, &ph) < 1e-12, "lowering of %s (variant %d)",
                      gi->name, variant);
            /* and after the peephole passes */
            tp_optimize(&p);
            prog_unitary(&p, symv, got);
            ph = 0;
            HQ_CHECKF(dist_phase(got, want, 64, &ph) < 1e-12, "optimised %s (variant %d)", gi->name,
                      variant);
            tp_free(&p);
            hq_circuit_free(c);
        }
    }
}

HQ_TEST(transpile_zyz_and_wrap) {
    hq_rng rng;
    hq_rng_init(&rng, 3, 0, 0);
    for (int t = 0; t < 200; t++) {
        double p[3] = {rnd_angle(&rng), rnd_angle(&rng), rnd_angle(&rng)};
        if (t % 4 == 1) p[0] = 0;
        if (t % 4 == 2) p[0] = M_PI;
        if (t % 4 == 3) p[0] = M_PI / 2;
        hq_cplx m[4], back[4];
        HQ_REQUIRE_OK(hq_gate_matrix(HQ_GATE_U3, p, m));
        /* a random phase must not matter */
        for (int i = 0; i < 4; i++) m[i] *= cexp(I * p[1] * 0.37);
        double th, ph, la;
        tp_zyz(m, &th, &ph, &la);
        HQ_CHECK(th >= 0 && th <= M_PI + 1e-12);
        HQ_CHECK_OK(hq_gate_matrix(HQ_GATE_U3, (double[]){th, ph, la}, back));
        hq_cplx z = 0;
        HQ_CHECK(dist_phase(back, m, 4, &z) < 1e-12);
    }
    HQ_CHECK_NEAR(tp_wrap(3 * M_PI), M_PI, 1e-12);
    HQ_CHECK_NEAR(tp_wrap(-M_PI), M_PI, 1e-12);
    HQ_CHECK_NEAR(tp_wrap(0.5 - 4 * M_PI), 0.5, 1e-12);
}

HQ_TEST(transpile_angle_comb) {
    bool ok = true;
    hq_angle a = hq_angle_sym(3, 2, 1), b = hq_angle_sym(3, -2, 0.5);
    hq_angle s = tp_ang_comb(a, 1, b, 1, &ok);
    HQ_CHECK(ok && s.n == 0 && s.c == 1.5); /* symbol cancelled */
    hq_angle big = {0};
    for (int i = 0; i < HQ_ANGLE_MAX_TERMS; i++) big.sym[i] = i, big.coef[i] = 1;
    big.n = HQ_ANGLE_MAX_TERMS;
    tp_ang_comb(big, 1, hq_angle_sym(99, 1, 0), 1, &ok);
    HQ_CHECK(!ok);
}

/* ==== whole circuits ======================================================================= */

/* a random circuit over every unitary gate of the table (and barriers) */
static hq_circuit *random_circuit(hq_rng *r, int n, int n_ops, bool measure) {
    hq_circuit *c;
    HQ_ASSERT(hq_circuit_create(&c) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_qreg(c, "q", n, NULL) == HQ_OK);
    if (measure) HQ_ASSERT(hq_circuit_add_creg(c, "c", n, NULL) == HQ_OK);
    for (int k = 0; k < n_ops; k++) {
        hq_gate g;
        const hq_gate_info *gi;
        do {
            g = (hq_gate)hq_rng_below(r, HQ_GATE_COUNT);
            gi = hq_gate_get_info(g);
        } while ((gi->kind != HQ_KIND_UNITARY && g != HQ_GATE_BARRIER) || gi->nq > n);
        int q[3];
        for (int i = 0; i < 3; i++) {
            bool again;
            do {
                q[i] = (int)hq_rng_below(r, (uint64_t)n);
                again = false;
                for (int j = 0; j < i; j++) again |= q[j] == q[i];
            } while (again && i < n);
        }
        if (g == HQ_GATE_BARRIER) {
            HQ_ASSERT(hq_circuit_add_barrier(c, q, HQ_MIN(n, 2)) == HQ_OK);
            continue;
        }
        double p[4];
        for (int i = 0; i < 4; i++) p[i] = rnd_angle(r);
        HQ_ASSERT(hq_circuit_add_gate(c, g, q, p) == HQ_OK);
    }
    if (measure)
        for (int i = 0; i < n; i++) HQ_ASSERT(hq_circuit_add_measure(c, i, i) == HQ_OK);
    return c;
}

static void check_ibm(const hq_circuit *c, const hq_device *d, const double *sym, const char *what,
                      hq_transpile_options *opt) {
    hq_transpile_result r;
    hq_status st = hq_transpile_ibm(c, d, opt, &r);
    HQ_CHECKF(st == HQ_OK, "%s on %s: %s", what, d->name, hq_last_error());
    if (st) return;
    HQ_CHECKF(hq_transpile_check_isa(r.circuit, d) == HQ_OK, "%s on %s: %s", what, d->name,
              hq_last_error());
    double e = equiv_error(c, &r, sym, 5);
    HQ_CHECKF(e < 1e-9, "%s on %s: state error %.3g", what, d->name, e);
    HQ_CHECK_EQ_INT(r.n_physical, d->n_qubits);
    char w[256];
    snprintf(w, sizeof w, "%s on %s", what, d->name);
    check_measured(c, &r, sym, w);
    hq_transpile_result_free(&r);
}

static void check_ionq(const hq_circuit *c, const double *sym, const char *what) {
    for (int gs = 0; gs < 2; gs++) {
        hq_transpile_result r;
        hq_status st = hq_transpile_ionq(c, (hq_ionq_gateset)gs, 0, NULL, &r);
        HQ_CHECKF(st == HQ_OK, "%s ionq %d: %s", what, gs, hq_last_error());
        if (st) continue;
        const hq_op *ops = hq_circuit_ops(r.circuit);
        for (int64_t i = 0; i < hq_circuit_n_ops(r.circuit); i++) {
            hq_gate g = (hq_gate)ops[i].gate;
            if (gs == HQ_IONQ_NATIVE)
                HQ_CHECKF(g == HQ_GATE_GPI || g == HQ_GATE_GPI2 || g == HQ_GATE_MS ||
                              g == HQ_GATE_MEASURE || g == HQ_GATE_BARRIER,
                          "%s: non-native gate %s", what, hq_gate_get_info(g)->name);
            else
                HQ_CHECKF(g != HQ_GATE_U3 && g != HQ_GATE_ECR && g != HQ_GATE_MS &&
                              g != HQ_GATE_GPI && g != HQ_GATE_ISWAP && g != HQ_GATE_CSWAP &&
                              g != HQ_GATE_CU && g != HQ_GATE_CSX,
                          "%s: non-QIS gate %s", what, hq_gate_get_info(g)->name);
        }
        double e = equiv_error(c, &r, sym, 9);
        HQ_CHECKF(e < 1e-9, "%s ionq %s: state error %.3g", what, gs ? "qis" : "native", e);
        char w[256];
        snprintf(w, sizeof w, "%s ionq %s", what, gs ? "qis" : "native");
        check_measured(c, &r, sym, w);
        hq_transpile_result_free(&r);
    }
}

HQ_TEST(transpile_random_circuits_all_devices) {
    const char *names[] = {"manila", "nairobi", "sherbrooke", "fez"};
    hq_device *devs[4];
    for (int i = 0; i < 4; i++) {
        devs[i] = load_dev(names[i]);
        HQ_REQUIRE(devs[i]);
    }
    hq_rng rng;
    hq_rng_init(&rng, 2024, 0, 0);
    for (int t = 0; t < 24; t++) {
        int n = 2 + t % 4; /* 2..5 qubits */
        hq_circuit *c = random_circuit(&rng, n, 25, t % 2 == 0);
        char what[64];
        snprintf(what, sizeof what, "random #%d (%d qubits)", t, n);
        for (int i = 0; i < 4; i++) {
            hq_transpile_options o = hq_transpile_default_options();
            o.keep_swaps = t % 3 == 0;
            o.optimization_level = t % 5 == 4 ? 0 : 1;
            o.seed = (uint64_t)t;
            check_ibm(c, devs[i], NULL, what, &o);
        }
        check_ionq(c, NULL, what);
        hq_circuit_free(c);
    }
    for (int i = 0; i < 4; i++) hq_device_free(devs[i]);
}

/* The HQCNN template of DESIGN.md, n = 4, L = 2, symbolic; basis X: H before measuring. */
static hq_circuit *hqcnn_template(bool x_basis) {
    const int n = 4, L = 2;
    hq_circuit *c;
    HQ_ASSERT(hq_circuit_create(&c) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_qreg(c, "q", n, NULL) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_creg(c, "c", n, NULL) == HQ_OK);
    char nm[48];
    for (int i = 0; i < n; i++) {
        snprintf(nm, sizeof nm, "x%d", i);
        HQ_ASSERT(hq_circuit_add_symbol(c, nm, HQ_SYM_INPUT, NULL) == HQ_OK);
    }
    int s = n;
    for (int i = 0; i < n; i++) {
        HQ_ASSERT(hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL) == HQ_OK);
        HQ_ASSERT(hq_circuit_add_gate_sym(c, HQ_GATE_RY, &i, (hq_angle[]){hq_angle_sym(i, 1, 0)}) ==
                  HQ_OK);
    }
    for (int l = 0; l < L; l++) {
        for (int i = 0; i < n; i++) {
            hq_angle a[3];
            for (int k = 0; k < 3; k++) {
                snprintf(nm, sizeof nm, "u%d_%d_%d", l, i, k);
                HQ_ASSERT(hq_circuit_add_symbol(c, nm, HQ_SYM_WEIGHT, NULL) == HQ_OK);
                a[k] = hq_angle_sym(s++, 1, 0);
            }
            HQ_ASSERT(hq_circuit_add_gate_sym(c, HQ_GATE_U3, &i, a) == HQ_OK);
        }
        for (int i = 0; i < n; i++)
            HQ_ASSERT(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){i, (i + 1) % n}, NULL) == HQ_OK);
        for (int i = 0; i < n; i++)
            HQ_ASSERT(hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(i + n - 1) % n, (i + 1) % n, i},
                                          NULL) == HQ_OK);
        for (int i = 0; i < n; i++) {
            HQ_ASSERT(hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL) == HQ_OK);
            for (int j = i + 1; j < n; j++) {
                snprintf(nm, sizeof nm, "a%d_%d_%d", l, i, j);
                HQ_ASSERT(hq_circuit_add_symbol(c, nm, HQ_SYM_WEIGHT, NULL) == HQ_OK);
                HQ_ASSERT(hq_circuit_add_gate_sym(c, HQ_GATE_CP, (int[]){j, i},
                                                  (hq_angle[]){hq_angle_sym(s++, 1, 0)}) == HQ_OK);
            }
        }
    }
    for (int i = 0; i < n && x_basis; i++)
        HQ_ASSERT(hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL) == HQ_OK);
    for (int i = 0; i < n; i++) HQ_ASSERT(hq_circuit_add_measure(c, i, i) == HQ_OK);
    return c;
}

HQ_TEST(transpile_hqcnn_template) {
    const char *names[] = {"manila", "nairobi", "sherbrooke", "fez"};
    hq_rng rng;
    hq_rng_init(&rng, 99, 0, 0);
    for (int xb = 0; xb < 2; xb++) {
        hq_circuit *c = hqcnn_template(xb);
        HQ_CHECK_EQ_INT(hq_circuit_n_symbols(c), 40);
        double sym[40];
        for (int i = 0; i < 40; i++) sym[i] = rnd_angle(&rng);
        for (int i = 0; i < 4; i++) {
            hq_device *d = load_dev(names[i]);
            HQ_REQUIRE(d);
            check_ibm(c, d, sym, xb ? "hqcnn (X basis)" : "hqcnn", NULL);
            hq_device_free(d);
        }
        check_ionq(c, sym, "hqcnn");
        hq_circuit_free(c);
    }
}

/* ==== layout ================================================================================ */

static bool connected_set(const hq_device *d, const int *q, int k) {
    /* BFS over the coupling map restricted to q[0..k) */
    int seen[64] = {0}, stack[64], ns = 0, reached = 1;
    seen[0] = 1;
    stack[ns++] = 0;
    while (ns) {
        int i = stack[--ns];
        for (int j = 0; j < k; j++)
            if (!seen[j] &&
                (hq_device_has_edge(d, q[i], q[j]) || hq_device_has_edge(d, q[j], q[i]))) {
                seen[j] = 1;
                reached++;
                stack[ns++] = j;
            }
    }
    return reached == k;
}

/* every injective map of k logical qubits onto a connected set of d's qubits: the search
 * must find the minimum of the same cost model (evaluated independently per map) */
static void brute_force_min(const tp_prog *p, const tp_target *t, const hq_device *d, int k,
                            int *map, int pos, double *best) {
    if (pos == k) {
        if (!connected_set(d, map, k)) return;
        int lay;
        int n_lay;
        hq_transpile_stats st = {0};
        (void)lay;
        int out[16];
        HQ_ASSERT(tp_layout(p, t, map, 0, 1, out, &n_lay, &st) == HQ_OK);
        if (st.layout_cost < *best) *best = st.layout_cost;
        return;
    }
    for (int q = 0; q < d->n_qubits; q++) {
        bool used = false;
        for (int i = 0; i < pos; i++) used |= map[i] == q;
        if (used) continue;
        map[pos] = q;
        brute_force_min(p, t, d, k, map, pos + 1, best);
    }
}

HQ_TEST(transpile_layout_optimal_vs_brute_force) {
    const char *names[] = {"manila", "nairobi"};
    hq_rng rng;
    hq_rng_init(&rng, 31, 0, 0);
    for (int di = 0; di < 2; di++) {
        hq_device *d = load_dev(names[di]);
        HQ_REQUIRE(d);
        tp_target t;
        HQ_REQUIRE_OK(tp_target_init(&t, d));
        for (int trial = 0; trial < 6; trial++) {
            int k = 2 + trial % 3;
            hq_circuit *c = random_circuit(&rng, k, 12, trial % 2);
            tp_prog p;
            tp_lower_opts lo = {.ccz = true};
            HQ_REQUIRE_OK(tp_lower(c, &lo, &p));
            int lay[8 * 16], n_lay = 0;
            hq_transpile_stats st = {0};
            HQ_REQUIRE_OK(tp_layout(&p, &t, NULL, 0, 8, lay, &n_lay, &st));
            HQ_CHECK(st.layout_exact);
            HQ_CHECK(n_lay >= 1 && connected_set(d, lay, k));
            int map[16];
            double best = INFINITY;
            brute_force_min(&p, &t, d, k, map, 0, &best);
            HQ_CHECKF(fabs(st.layout_cost - best) < 1e-12,
                      "%s k=%d: search %.12g, brute force %.12g", names[di], k, st.layout_cost,
                      best);
            tp_free(&p);
            hq_circuit_free(c);
        }
        tp_target_free(&t);
        hq_device_free(d);
    }
}

/* a hand-built line device: qubit / coupler errors steer the layout */
static hq_device *line_device(int n, const double *ro, const double *cx_err) {
    hq_device *d = NULL;
    HQ_ASSERT(hq_device_create(n, &d) == HQ_OK);
    hq_gate basis[] = {HQ_GATE_CX, HQ_GATE_RZ, HQ_GATE_SX, HQ_GATE_X};
    HQ_ASSERT(hq_device_set_basis(d, basis, 4) == HQ_OK);
    snprintf(d->name, sizeof d->name, "line%d", n);
    for (int i = 0; i < n; i++) {
        d->qubits[i].readout_error = ro ? ro[i] : 0.01;
        HQ_ASSERT(hq_device_add_gate(d, HQ_GATE_SX, i, -1, 1e-4, 35) == HQ_OK);
    }
    for (int i = 0; i + 1 < n; i++) {
        HQ_ASSERT(hq_device_add_edge(d, i, i + 1) == HQ_OK);
        HQ_ASSERT(hq_device_add_edge(d, i + 1, i) == HQ_OK);
        double e = cx_err ? cx_err[i] : 0.01;
        HQ_ASSERT(hq_device_add_gate(d, HQ_GATE_CX, i, i + 1, e, 300) == HQ_OK);
    }
    return d;
}

HQ_TEST(transpile_layout_follows_calibration) {
    /* one measured qubit: the best readout wins */
    double ro[5] = {0.3, 0.2, 0.01, 0.2, 0.3};
    hq_device *d = line_device(5, ro, NULL);
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "c", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    hq_transpile_result r;
    HQ_REQUIRE_OK(hq_transpile_ibm(c, d, NULL, &r));
    HQ_CHECK_EQ_INT(r.initial_layout[0], 2);
    HQ_CHECK_EQ_INT(r.clbit_physical[0], 2);
    HQ_CHECK_EQ_INT(hq_circuit_count_gate(r.circuit, HQ_GATE_SX), 1); /* H = rz sx rz */
    hq_transpile_result_free(&r);
    hq_circuit_free(c);
    hq_device_free(d);

    /* a Bell pair: the best coupler wins; a broken coupler (error 1) is never used */
    double cxe[5] = {0.05, 1.0, 0.001, 0.05, 0.05};
    d = line_device(6, NULL, cxe);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_REQUIRE_OK(hq_transpile_ibm(c, d, NULL, &r));
    int a = r.initial_layout[0], b = r.initial_layout[1];
    HQ_CHECK((a == 2 && b == 3) || (a == 3 && b == 2));
    hq_transpile_result_free(&r);
    /* a 3-qubit chain must avoid the broken coupler 1-2: qubits {2,3,4} or {3,4,5} */
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 2}, NULL));
    HQ_REQUIRE_OK(hq_transpile_ibm(c, d, NULL, &r));
    const hq_op *ops = hq_circuit_ops(r.circuit);
    for (int64_t i = 0; i < hq_circuit_n_ops(r.circuit); i++)
        if (ops[i].gate == HQ_GATE_CX)
            HQ_CHECK(!((ops[i].q[0] == 1 && ops[i].q[1] == 2) ||
                       (ops[i].q[0] == 2 && ops[i].q[1] == 1)));
    HQ_CHECK(equiv_error(c, &r, NULL, 1) < 1e-9);
    hq_transpile_result_free(&r);
    hq_circuit_free(c);
    hq_device_free(d);
}

HQ_TEST(transpile_forced_layout) {
    hq_device *d = load_dev("fez");
    HQ_REQUIRE(d);
    hq_circuit *c = hqcnn_template(false);
    hq_transpile_options o = hq_transpile_default_options();
    int forced[4] = {0, 1, 2, 3}; /* a path on fez */
    o.initial_layout = forced;
    hq_transpile_result r;
    HQ_REQUIRE_OK(hq_transpile_ibm(c, d, &o, &r));
    for (int i = 0; i < 4; i++) HQ_CHECK_EQ_INT(r.initial_layout[i], forced[i]);
    HQ_CHECK_OK(hq_transpile_check_isa(r.circuit, d));
    double sym[40];
    for (int i = 0; i < 40; i++) sym[i] = 0.1 * i - 1.7;
    HQ_CHECK(equiv_error(c, &r, sym, 3) < 1e-9);
    hq_transpile_result_free(&r);
    int bad[4] = {0, 1, 1, 3};
    o.initial_layout = bad;
    HQ_CHECK_FAILS(hq_transpile_ibm(c, d, &o, &r), HQ_ERR_INVALID_ARG,
                   "forced layout entry 2 = 1 is out of range [0, 156) or repeated");
    int far[4] = {0, 1, 2, 156};
    o.initial_layout = far;
    HQ_CHECK_FAILS(hq_transpile_ibm(c, d, &o, &r), HQ_ERR_INVALID_ARG, "entry 3 = 156");
    HQ_CHECK(r.circuit == NULL);
    hq_circuit_free(c);
    hq_device_free(d);
}

/* ==== peephole results ======================================================================= */

static hq_transpile_result compile_on(const hq_device *d, hq_circuit *c) {
    hq_transpile_result r;
    if (hq_transpile_ibm(c, d, NULL, &r) != HQ_OK)
        hq_test_fail(__FILE__, __LINE__, "transpile: %s", hq_last_error());
    return r;
}

HQ_TEST(transpile_peephole_counts) {
    hq_device *d = load_dev("manila");
    HQ_REQUIRE(d);
    struct {
        const char *what;
        hq_gate g[6];
        int q[6][2];
        double p[6];
        int n;
        int sx_max, cx_max, rz_max;
    } cases[] = {
        {"cx cx cancels", {HQ_GATE_CX, HQ_GATE_CX}, {{0, 1}, {0, 1}}, {0}, 2, 0, 0, 0},
        {"h h is nothing", {HQ_GATE_H, HQ_GATE_H}, {{0, -1}, {0, -1}}, {0}, 2, 0, 0, 0},
        {"rz through control",
         {HQ_GATE_CX, HQ_GATE_RZ, HQ_GATE_CX},
         {{0, 1}, {0, -1}, {0, 1}},
         {0, 0.3, 0},
         3,
         0,
         0,
         1},
        {"x through target",
         {HQ_GATE_CX, HQ_GATE_X, HQ_GATE_CX},
         {{0, 1}, {1, -1}, {0, 1}},
         {0},
         3,
         1,
         0,
         2},
        {"u3 needs two sx", {HQ_GATE_U3}, {{0, -1}}, {0.4}, 1, 2, 0, 3},
        {"rx(pi/2) one sx", {HQ_GATE_RX}, {{0, -1}}, {M_PI / 2}, 1, 1, 0, 2},
        {"s t tdg sdg is nothing",
         {HQ_GATE_S, HQ_GATE_T, HQ_GATE_TDG, HQ_GATE_SDG},
         {{0, -1}, {0, -1}, {0, -1}, {0, -1}},
         {0},
         4,
         0,
         0,
         0},
        {"cz cz cancels", {HQ_GATE_CZ, HQ_GATE_CZ}, {{1, 0}, {0, 1}}, {0}, 2, 0, 0, 0},
        {"swap is free", {HQ_GATE_SWAP}, {{0, 1}}, {0}, 1, 0, 0, 0},
    };
    for (size_t k = 0; k < HQ_ARRAY_LEN(cases); k++) {
        hq_circuit *c;
        HQ_REQUIRE_OK(hq_circuit_create(&c));
        HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
        for (int i = 0; i < cases[k].n; i++) {
            double p[3] = {cases[k].p[i], 0.2, 0.7};
            HQ_REQUIRE_OK(hq_circuit_add_gate(c, cases[k].g[i], cases[k].q[i], p));
        }
        hq_transpile_result r = compile_on(d, c);
        HQ_REQUIRE(r.circuit);
        int64_t sx = hq_circuit_count_gate(r.circuit, HQ_GATE_SX) +
                     hq_circuit_count_gate(r.circuit, HQ_GATE_X);
        int64_t cx = hq_circuit_count_gate(r.circuit, HQ_GATE_CX);
        int64_t rz = hq_circuit_count_gate(r.circuit, HQ_GATE_RZ);
        HQ_CHECKF(sx <= cases[k].sx_max && cx <= cases[k].cx_max && rz <= cases[k].rz_max,
                  "%s: sx+x %lld cx %lld rz %lld", cases[k].what, (long long)sx, (long long)cx,
                  (long long)rz);
        HQ_CHECKF(equiv_error(c, &r, NULL, 2) < 1e-9, "%s: not equivalent", cases[k].what);
        hq_transpile_result_free(&r);
        hq_circuit_free(c);
    }
    hq_device_free(d);
}

/* ==== dynamic circuits =========================================================================
 */

/* run r->circuit on the physical qubits it uses only (compacted), sampled */
static hq_status run_compact(const hq_transpile_result *r, int64_t shots, hq_counts *out) {
    int k;
    hq_circuit *c = compact_circuit(r, &k);
    if (!c) return HQ_ERR_NOMEM;
    hq_status st = hq_sv_run(c, NULL, shots, 7, 0, out);
    hq_circuit_free(c);
    return st;
}

HQ_TEST(transpile_dynamic_circuit) {
    /* teleport a rotated state: mid-circuit measurement, conditional x / z, reset, reuse */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
    int m0, m1, out;
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m0", 1, &m0));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m1", 1, &m1));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "out", 2, &out));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RY, (int[]){0}, (double[]){1.1}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 1));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, m1, 1));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_Z, (int[]){2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, m0, 1));
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){2, 0}, NULL)); /* copy Z basis */
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 2, 2));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 3));
    const int64_t shots = 20000;
    hq_counts want;
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, shots, 7, 0, &want));
    const char *names[] = {"nairobi", "fez", "sherbrooke"};
    for (int di = 0; di < 3; di++) {
        hq_device *d = load_dev(names[di]);
        HQ_REQUIRE(d);
        hq_transpile_result r;
        HQ_REQUIRE_OK(hq_transpile_ibm(c, d, NULL, &r));
        HQ_CHECK_OK(hq_transpile_check_isa(r.circuit, d));
        HQ_CHECK(hq_circuit_is_dynamic(r.circuit));
        hq_counts got;
        HQ_REQUIRE_OK(run_compact(&r, shots, &got));
        /* outcome bits: m0 m1 out0 out1; the teleported state gives out0 = out1 with
         * P(1) = sin^2(1.1 / 2) whatever m0, m1 */
        double tvd = 0, p1 = 0;
        for (uint64_t v = 0; v < 16; v++) {
            double a = hq_counts_prob(&got, v), b = hq_counts_prob(&want, v);
            tvd += 0.5 * fabs(a - b);
            if (v >> 2 == 3) p1 += a;
            HQ_CHECKF(v >> 2 == 0 || v >> 2 == 3 || a == 0, "%s: out bits differ in %llu",
                      names[di], (unsigned long long)v);
        }
        HQ_CHECKF(tvd < 0.03, "%s: total variation %.4f", names[di], tvd);
        HQ_CHECK_NEAR(p1, pow(sin(0.55), 2), 0.02);
        hq_counts_free(&got);
        hq_transpile_result_free(&r);
        hq_device_free(d);
    }
    hq_counts_free(&want);
    hq_circuit_free(c);
}

/* ==== measured circuits ========================================================================
 */

/*
 * A random circuit over the gate table with classical registers a[2], b[n], f[1]: unitary
 * gates, barriers, SWAPs, and qubits retired early (measured into b, never used again) while
 * the others go on; when `dynamic` also mid-circuit measurements into a / f, resets, gates
 * and SWAPs conditioned on a or f. At the end the remaining qubits are measured into b in a
 * random order (a random bit each: some bits are written twice, some stay 0), one twice.
 */
static hq_circuit *random_measured_circuit(hq_rng *r, int n, int n_ops, bool dynamic) {
    hq_circuit *c;
    int ra, rb, rf;
    HQ_ASSERT(n <= 16);
    HQ_ASSERT(hq_circuit_create(&c) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_qreg(c, "q", n, NULL) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_creg(c, "a", 2, &ra) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_creg(c, "b", n, &rb) == HQ_OK);
    HQ_ASSERT(hq_circuit_add_creg(c, "f", 1, &rf) == HQ_OK);
    int a0 = hq_circuit_creg(c, ra).offset, b0 = hq_circuit_creg(c, rb).offset,
        f0 = hq_circuit_creg(c, rf).offset;
    int act[16], na = n; /* qubits not retired, in random order */
    for (int i = 0; i < n; i++) act[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)hq_rng_below(r, (uint64_t)i + 1), t = act[i];
        act[i] = act[j];
        act[j] = t;
    }
    for (int k = 0; k < n_ops; k++) {
        int x = (int)hq_rng_below(r, (uint64_t)na), q = act[x];
        uint64_t u = hq_rng_below(r, 100);
        if (u < 4 && na > 2) { /* retire q */
            HQ_ASSERT(hq_circuit_add_measure(c, q, b0 + (int)hq_rng_below(r, (uint64_t)n)) ==
                      HQ_OK);
            act[x] = act[--na];
            continue;
        }
        if (dynamic && u < 14) {
            int bit = hq_rng_below(r, 3) == 0 ? f0 : a0 + (int)hq_rng_below(r, 2);
            HQ_ASSERT(hq_circuit_add_measure(c, q, bit) == HQ_OK);
            continue;
        }
        if (dynamic && u < 18) {
            HQ_ASSERT(hq_circuit_add_reset(c, q) == HQ_OK);
            continue;
        }
        if (u >= 18 && u < 24 && na >= 2) { /* swap: conditional ones are real gates */
            int q2 = act[(x + 1 + (int)hq_rng_below(r, (uint64_t)na - 1)) % na];
            HQ_ASSERT(hq_circuit_add_gate(c, HQ_GATE_SWAP, (int[]){q, q2}, NULL) == HQ_OK);
            if (dynamic && hq_rng_below(r, 2))
                HQ_ASSERT(hq_circuit_set_condition(c, ra, hq_rng_below(r, 4)) == HQ_OK);
            continue;
        }
        hq_gate g;
        const hq_gate_info *gi;
        do {
            g = (hq_gate)hq_rng_below(r, HQ_GATE_COUNT);
            gi = hq_gate_get_info(g);
        } while ((gi->kind != HQ_KIND_UNITARY && g != HQ_GATE_BARRIER) || gi->nq > na);
        int qs[3] = {q, -1, -1};
        for (int i = 1; i < 3; i++) {
            bool again;
            do {
                qs[i] = act[hq_rng_below(r, (uint64_t)na)];
                again = false;
                for (int j = 0; j < i; j++) again |= qs[j] == qs[i];
            } while (again && i < na);
        }
        if (g == HQ_GATE_BARRIER) {
            HQ_ASSERT(hq_circuit_add_barrier(c, qs, HQ_MIN(na, 2)) == HQ_OK);
            continue;
        }
        double p[4];
        for (int i = 0; i < 4; i++) p[i] = rnd_angle(r);
        HQ_ASSERT(hq_circuit_add_gate(c, g, qs, p) == HQ_OK);
        if (dynamic && u >= 80) {
            bool on_f = hq_rng_below(r, 2);
            HQ_ASSERT(hq_circuit_set_condition(c, on_f ? rf : ra, on_f ? 1 : hq_rng_below(r, 4)) ==
                      HQ_OK);
        }
    }
    for (int i = 0; i <= na; i++)
        HQ_ASSERT(hq_circuit_add_measure(c, act[i % na], b0 + (int)hq_rng_below(r, (uint64_t)n)) ==
                  HQ_OK);
    return c;
}

/* compile c for d with options o and check measurements and distributions */
static void check_measured_ibm(const hq_circuit *c, const hq_device *d, const double *sym,
                               const hq_transpile_options *o, const char *what) {
    hq_transpile_result r;
    hq_status st = hq_transpile_ibm(c, d, o, &r);
    HQ_CHECKF(st == HQ_OK, "%s on %s: %s", what, d->name, hq_last_error());
    if (st) return;
    char w[256];
    snprintf(w, sizeof w, "%s on %s", what, d->name);
    HQ_CHECKF(hq_transpile_check_isa(r.circuit, d) == HQ_OK, "%s: %s", w, hq_last_error());
    check_measured(c, &r, sym, w);
    hq_transpile_result_free(&r);
}

HQ_TEST(transpile_measured_random_circuits) {
    const char *names[] = {"manila", "nairobi", "sherbrooke", "fez"};
    hq_device *devs[4];
    for (int i = 0; i < 4; i++) {
        devs[i] = load_dev(names[i]);
        HQ_REQUIRE(devs[i]);
    }
    hq_rng rng;
    hq_rng_init(&rng, 4242, 0, 0);
    for (int t = 0; t < 24; t++) {
        int n = 2 + t % 4; /* 2..5 qubits */
        bool dynamic = t % 3 != 0;
        hq_circuit *c = random_measured_circuit(&rng, n, 30, dynamic);
        char what[64];
        snprintf(what, sizeof what, "measured #%d (%d qubits%s)", t, n, dynamic ? ", dynamic" : "");
        if (!dynamic) { /* the statevector reference agrees with the density matrix */
            hq_dm_dist a, b;
            HQ_REQUIRE_OK(sv_dist(c, NULL, &a));
            HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &b));
            HQ_CHECKF(dist_gap(&a, &b) < 1e-12, "%s: sv and dm references differ", what);
            hq_dm_dist_free(&a);
            hq_dm_dist_free(&b);
        }
        for (int i = 0; i < 4; i++) {
            hq_transpile_options o = hq_transpile_default_options();
            o.keep_swaps = t % 4 == 1;
            o.optimization_level = t % 5 == 4 ? 0 : 1;
            o.drop_barriers = t % 6 == 5;
            o.seed = (uint64_t)t;
            check_measured_ibm(c, devs[i], NULL, &o, what);
        }
        if (!dynamic) check_ionq(c, NULL, what);
        hq_circuit_free(c);
    }
    for (int i = 0; i < 4; i++) hq_device_free(devs[i]);
}

/* An unconditional rz pending on a qubit when a conditional gate arrives must stay
 * unconditional: h q1; measure q1 -> m; h q0; rz(0.9) q0; if (m == 1) x q0; h q0;
 * measure q0 -> o gives P(m, o) = 1/2 (cos^2 0.45, sin^2 0.45) for both m (x only flips
 * the sign of the phase). Emitting the pending rz (0.9 and the tail of the first h) under
 * the condition gave P(o | m = 0) = 1/2 on every device. */
HQ_TEST(transpile_condition_keeps_unconditional_rz) {
    hq_circuit *c;
    int m, o;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m", 1, &m));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "o", 1, &o));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){0}, (double[]){0.9}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, m, 1));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 1));
    const double p1 = pow(sin(0.45), 2);
    const char *names[] = {"manila", "nairobi", "sherbrooke", "fez"};
    for (int di = 0; di < 4; di++) {
        hq_device *d = load_dev(names[di]);
        HQ_REQUIRE(d);
        hq_transpile_result r;
        HQ_REQUIRE_OK(hq_transpile_ibm(c, d, NULL, &r));
        int k;
        hq_circuit *cc = compact_circuit(&r, &k);
        HQ_REQUIRE(cc);
        hq_dm_dist dist;
        HQ_REQUIRE_OK(hq_dm_run_probs(cc, NULL, NULL, NULL, &dist));
        for (uint64_t v = 0; v < 4; v++) /* bit 0 = m, bit 1 = o */
            HQ_CHECKF(fabs(hq_dm_dist_prob(&dist, v) - 0.5 * (v >> 1 ? p1 : 1 - p1)) < 1e-12,
                      "%s: P(m=%d, o=%d) = %.6f", names[di], (int)(v & 1), (int)(v >> 1),
                      hq_dm_dist_prob(&dist, v));
        check_measured(c, &r, NULL, names[di]);
        hq_dm_dist_free(&dist);
        hq_circuit_free(cc);
        hq_transpile_result_free(&r);
        hq_device_free(d);
    }
    hq_circuit_free(c);
}

/* ==== errors ====================================================================================
 */

HQ_TEST(transpile_errors) {
    hq_device *d = load_dev("manila");
    HQ_REQUIRE(d);
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_transpile_result r;
    HQ_CHECK_FAILS(hq_transpile_ibm(c, d, NULL, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_transpile_ibm(NULL, d, NULL, &r), HQ_ERR_INVALID_ARG, "circuit or device");
    HQ_CHECK_FAILS(hq_transpile_ibm(c, d, NULL, &r), HQ_ERR_INVALID_ARG, "has no qubits");
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 6, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 5}, NULL));
    HQ_CHECK_FAILS(hq_transpile_ibm(c, d, NULL, &r), HQ_ERR_INVALID_ARG,
                   "the circuit has 6 qubits but the device only 5");
    hq_transpile_options o = hq_transpile_default_options();
    o.optimization_level = 3;
    HQ_CHECK_FAILS(hq_transpile_ibm(c, d, &o, &r), HQ_ERR_INVALID_ARG,
                   "optimization_level 3 out of range [0, 1]");
    hq_circuit_free(c);

    /* devices that cannot take the circuit */
    hq_device *h = NULL;
    HQ_REQUIRE_OK(hq_device_create(3, &h));
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_CHECK_FAILS(hq_transpile_ibm(c, h, NULL, &r), HQ_ERR_UNSUPPORTED, "lacks rz or sx");
    hq_gate b[] = {HQ_GATE_RZ, HQ_GATE_SX, HQ_GATE_X};
    HQ_REQUIRE_OK(hq_device_set_basis(h, b, 3));
    HQ_CHECK_FAILS(hq_transpile_ibm(c, h, NULL, &r), HQ_ERR_UNSUPPORTED, "has no ecr, cz or cx");
    hq_gate b2[] = {HQ_GATE_RZ, HQ_GATE_SX, HQ_GATE_CZ};
    HQ_REQUIRE_OK(hq_device_set_basis(h, b2, 3));
    HQ_CHECK_FAILS(hq_transpile_ibm(c, h, NULL, &r), HQ_ERR_UNSUPPORTED,
                   "no connected set of 2 usable physical qubits");
    HQ_REQUIRE_OK(hq_device_add_edge(h, 0, 1));
    HQ_REQUIRE_OK(hq_device_add_gate(h, HQ_GATE_CZ, 0, 1, 1.0, 60)); /* broken coupler */
    HQ_CHECK_FAILS(hq_transpile_ibm(c, h, NULL, &r), HQ_ERR_UNSUPPORTED, "error 1 are excluded");
    HQ_REQUIRE_OK(hq_device_add_edge(h, 1, 2));
    HQ_REQUIRE_OK(hq_transpile_ibm(c, h, NULL, &r)); /* now on 1-2, without x in the basis */
    HQ_CHECK_OK(hq_transpile_check_isa(r.circuit, h));
    HQ_CHECK(equiv_error(c, &r, NULL, 4) < 1e-9);
    hq_transpile_result_free(&r);

    /* ISA checker */
    HQ_CHECK_FAILS(hq_transpile_check_isa(c, h), HQ_ERR_INVALID_ARG,
                   "operation 0: gate 'cx' is not in the ISA");
    hq_device *s = load_dev("sherbrooke");
    HQ_REQUIRE(s);
    hq_circuit *e;
    HQ_REQUIRE_OK(hq_circuit_create(&e));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(e, "q", 127, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(e, HQ_GATE_ECR, (int[]){41, 40}, NULL));
    HQ_CHECK_OK(hq_transpile_check_isa(e, s));
    HQ_REQUIRE_OK(hq_circuit_add_gate(e, HQ_GATE_ECR, (int[]){40, 41}, NULL));
    HQ_CHECK_FAILS(hq_transpile_check_isa(e, s), HQ_ERR_INVALID_ARG,
                   "operation 1: ecr 40, 41 is not a coupling-map edge");
    HQ_CHECK_FAILS(hq_transpile_check_isa(e, d), HQ_ERR_INVALID_ARG, "the circuit has 127 qubits");
    HQ_CHECK_FAILS(hq_transpile_check_isa(NULL, d), HQ_ERR_INVALID_ARG, "NULL");
    hq_circuit_free(e);
    hq_device_free(s);
    hq_device_free(h);

    /* IonQ */
    HQ_CHECK_FAILS(hq_transpile_ionq(c, HQ_IONQ_NATIVE, 1, NULL, &r), HQ_ERR_INVALID_ARG,
                   "the circuit has 2 qubits, the target at most 1");
    HQ_CHECK_FAILS(hq_transpile_ionq(c, (hq_ionq_gateset)7, 0, NULL, &r), HQ_ERR_INVALID_ARG,
                   "gate set 7");
    HQ_CHECK_FAILS(hq_transpile_ionq(NULL, HQ_IONQ_QIS, 0, NULL, &r), HQ_ERR_INVALID_ARG,
                   "circuit is NULL");
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_FAILS(hq_transpile_ionq(c, HQ_IONQ_NATIVE, 0, NULL, &r), HQ_ERR_UNSUPPORTED,
                   "operation 2 ('h') acts on qubit 0 after it was measured");
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 1));
    HQ_CHECK_FAILS(hq_transpile_ionq(c, HQ_IONQ_QIS, 0, NULL, &r), HQ_ERR_UNSUPPORTED,
                   "IonQ does not support reset");
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, 0, 1));
    HQ_CHECK_FAILS(hq_transpile_ionq(c, HQ_IONQ_NATIVE, 0, NULL, &r), HQ_ERR_UNSUPPORTED,
                   "classically conditioned");
    hq_circuit_free(c);
    hq_device_free(d);
    hq_transpile_result_free(&r);
    hq_transpile_result_free(NULL);
}

/* ==== OpenQASM: round trip and QASMBench ========================================================
 */

#if __has_include("backends/qasm.h")
#include <dirent.h>
#include <stdlib.h>

#include "backends/qasm.h"

/* equiv_error for a circuit parsed back from QASM: symbols matched by name */
static double equiv_error_parsed(const hq_circuit *c, const hq_transpile_result *r,
                                 const hq_circuit *parsed, const double *sym) {
    hq_transpile_result pr = *r;
    pr.circuit = (hq_circuit *)parsed;
    pr.n_physical = HQ_MAX(r->n_physical, hq_circuit_n_qubits(parsed));
    int ns = hq_circuit_n_symbols(parsed);
    double psym[64] = {0};
    HQ_ASSERT(ns <= 64);
    for (int i = 0; i < ns; i++) {
        int j;
        if (hq_circuit_find_symbol(c, hq_circuit_symbol_name(parsed, i), &j) == HQ_OK)
            psym[i] = sym[j];
        else
            hq_test_fail(__FILE__, __LINE__, "symbol %s lost", hq_circuit_symbol_name(parsed, i));
    }
    /* equiv_error evaluates r->circuit with its own symbols: run with the parsed order */
    return equiv_error_sym2(c, &pr, sym, psym);
}

HQ_TEST(transpile_qasm3_round_trip) {
    const char *names[] = {"manila", "sherbrooke", "fez"};
    hq_rng rng;
    hq_rng_init(&rng, 5, 0, 0);
    hq_circuit *t = hqcnn_template(false);
    double sym[40];
    for (int i = 0; i < 40; i++) sym[i] = rnd_angle(&rng);
    for (int di = 0; di < 3; di++) {
        hq_device *d = load_dev(names[di]);
        HQ_REQUIRE(d);
        for (int k = 0; k < 3; k++) {
            hq_circuit *c = k == 0 ? t : random_circuit(&rng, 3 + k, 20, true);
            hq_transpile_result r;
            HQ_REQUIRE_OK(hq_transpile_ibm(c, d, NULL, &r));
            hq_sbuf text = HQ_SBUF_INIT;
            HQ_REQUIRE_OK(hq_qasm_write(r.circuit, 3, HQ_QASM_PHYSICAL, &text));
            HQ_CHECK(strstr(text.p, "OPENQASM 3") != NULL);
            HQ_CHECK(strstr(text.p, "$") != NULL);
            hq_circuit *back = NULL;
            hq_status st = hq_qasm_parse_string(text.p, text.len, "isa.qasm", NULL, &back);
            HQ_CHECKF(st == HQ_OK, "%s: parse back: %s", names[di], hq_last_error());
            if (back) {
                HQ_CHECK_OK(hq_transpile_check_isa(back, d));
                double e = equiv_error_parsed(c, &r, back, sym);
                HQ_CHECKF(e < 1e-9, "%s circuit %d: QASM round trip error %.3g", names[di], k, e);
            }
            hq_circuit_free(back);
            hq_sbuf_free(&text);
            hq_transpile_result_free(&r);
            if (k) hq_circuit_free(c);
        }
        hq_device_free(d);
    }
    hq_circuit_free(t);
}

/* Every circuit of min_q to max_q qubits in the shared folder dir (with `_transpiled` twins
 * if all), on every device it fits: ISA, state equivalence for static circuits, and for
 * measured ones the exact outcome distribution and the measurement bookkeeping
 * (check_measured); static ones on IonQ too. Returns the number of circuits checked. */
static int qasm_folder(const char *dir, int min_q, int max_q, bool all, hq_device **devs,
                       int n_devs) {
    char dpath[512];
    snprintf(dpath, sizeof dpath, "%s", hq_test_shared(dir));
    DIR *dd = opendir(dpath);
    if (!dd) {
        hq_test_fail(__FILE__, __LINE__, "cannot open %s", dpath);
        return 0;
    }
    int n_files = 0, n_checked = 0;
    struct dirent *e;
    char files[128][128];
    while ((e = readdir(dd)) && n_files < 128) {
        size_t l = strlen(e->d_name);
        if (l < 6 || l >= sizeof files[0] || strcmp(e->d_name + l - 5, ".qasm") != 0) continue;
        if (!all && strstr(e->d_name, "_transpiled")) continue;
        const char *nq = strstr(e->d_name, "_n"); /* <name>_n<qubits>...: skip big ones unread */
        if (nq && strtol(nq + 2, NULL, 10) > max_q) continue;
        snprintf(files[n_files++], sizeof files[0], "%s", e->d_name);
    }
    closedir(dd);
    for (int f = 0; f < n_files; f++) {
        char path[700];
        snprintf(path, sizeof path, "%.400s/%.200s", dpath, files[f]);
        hq_qasm_options qo;
        memset(&qo, 0, sizeof qo);
        qo.lenient = true; /* some files measure an undeclared register */
        hq_circuit *c = NULL;
        if (hq_qasm_parse_file_opt(path, &qo, &c) != HQ_OK) {
            hq_test_fail(__FILE__, __LINE__, "%s: %s", files[f], hq_last_error());
            continue;
        }
        if (hq_circuit_n_qubits(c) < min_q || hq_circuit_n_qubits(c) > max_q) {
            hq_circuit_free(c);
            continue;
        }
        bool dyn = hq_circuit_is_dynamic(c);
        for (int i = 0; i < n_devs; i++) {
            if (hq_circuit_n_qubits(c) > devs[i]->n_qubits) continue;
            hq_transpile_result r;
            hq_status st = hq_transpile_ibm(c, devs[i], NULL, &r);
            HQ_CHECKF(st == HQ_OK, "%s on %s: %s", files[f], devs[i]->name, hq_last_error());
            if (st) continue;
            HQ_CHECKF(hq_transpile_check_isa(r.circuit, devs[i]) == HQ_OK, "%s on %s: %s", files[f],
                      devs[i]->name, hq_last_error());
            if (!dyn) {
                double err = equiv_error(c, &r, NULL, 13);
                HQ_CHECKF(err < 1e-8, "%s on %s: state error %.3g", files[f], devs[i]->name, err);
            }
            char w[256];
            snprintf(w, sizeof w, "%s on %s", files[f], devs[i]->name);
            check_measured(c, &r, NULL, w);
            hq_transpile_result_free(&r);
        }
        if (!dyn) check_ionq(c, NULL, files[f]);
        n_checked++;
        hq_circuit_free(c);
    }
    return n_checked;
}

static void load_devs(hq_device **devs) {
    const char *names[] = {"manila", "nairobi", "sherbrooke", "fez"};
    for (int i = 0; i < 4; i++) devs[i] = load_dev(names[i]);
}

static void free_devs(hq_device **devs) {
    for (int i = 0; i < 4; i++) hq_device_free(devs[i]);
}

/* every QASMBench circuit of at most 7 qubits (and its Qiskit-transpiled twin) */
static void qasmbench(bool all) {
    hq_device *devs[4];
    load_devs(devs);
    HQ_REQUIRE(devs[0] && devs[1] && devs[2] && devs[3]);
    int n = qasm_folder("data/qasmbench_small", 1, 7, all, devs, 4);
    HQ_CHECK(n >= (all ? 60 : 30));
    free_devs(devs);
}

HQ_TEST(transpile_qasmbench_small) { qasmbench(false); }
HQ_TEST_SLOW(transpile_qasmbench_small_and_transpiled) { qasmbench(true); }

/* the OpenQASM 2 examples of min_q to max_q qubits: measured (some mid-circuit, with `if`
 * and reset), several registers, registers of other sizes than the qubits' */
static int openqasm2_examples(int min_q, int max_q) {
    hq_device *devs[4];
    load_devs(devs);
    if (!devs[0] || !devs[1] || !devs[2] || !devs[3]) {
        free_devs(devs);
        return 0;
    }
    const char *dirs[] = {"generic", "ibmqx2", "sat", "quantum_volume"};
    int n = 0;
    for (size_t k = 0; k < HQ_ARRAY_LEN(dirs); k++) {
        char d[128];
        snprintf(d, sizeof d, "data/openqasm2_examples/%s", dirs[k]);
        n += qasm_folder(d, min_q, max_q, false, devs, 4);
    }
    free_devs(devs);
    return n;
}

HQ_TEST(transpile_openqasm2_examples) { HQ_CHECK(openqasm2_examples(1, 8) >= 24); }
/* the 9- and 10-qubit ones (adder, sat): seconds of layout search each on the big devices */
HQ_TEST_SLOW(transpile_openqasm2_examples_10q) { HQ_CHECK(openqasm2_examples(9, 10) >= 3); }
#endif
#if !__has_include("backends/qasm.h")
/* Without the OpenQASM module in the build these cannot run; they report it and pass. */
static void no_qasm(void) {
    fprintf(stderr, "    (skipped: backends/qasm.h is not in this build)\n");
    HQ_CHECK(true);
}
/* (through a second name so the registry, which greps HQ_TEST lines, lists each once) */
#define HQ_TEST_NO_QASM(name) HQ_TEST(name)
HQ_TEST_NO_QASM(transpile_qasm3_round_trip) { no_qasm(); }
HQ_TEST_NO_QASM(transpile_qasmbench_small) { no_qasm(); }
HQ_TEST_NO_QASM(transpile_qasmbench_small_and_transpiled) { no_qasm(); }
HQ_TEST_NO_QASM(transpile_openqasm2_examples) { no_qasm(); }
HQ_TEST_NO_QASM(transpile_openqasm2_examples_10q) { no_qasm(); }
#endif

/* ==== allocation failures ========================================================================
 */

HQ_TEST(transpile_out_of_memory) {
    hq_device *d = load_dev("nairobi");
    HQ_REQUIRE(d);
    hq_circuit *c = hqcnn_template(true);
    int fails = 0;
    for (long n = 1; n < 100000; n++) {
        hq_transpile_result r;
        hq_alloc_fail_after(n);
        hq_status st = hq_transpile_ibm(c, d, NULL, &r);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (st == HQ_OK) {
            /* a pass may give up on an allocation and skip its work: still a valid result */
            HQ_CHECK_OK(hq_transpile_check_isa(r.circuit, d));
            hq_transpile_result_free(&r);
            if (!injected) break;
            continue;
        }
        fails++;
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s (%s)", n, hq_status_name(st),
                  hq_last_error());
        HQ_CHECK(r.circuit == NULL && r.initial_layout == NULL);
    }
    HQ_CHECK(fails > 20);
    hq_circuit_free(c);
    hq_device_free(d);
}

HQ_TEST(transpile_device_out_of_memory) {
    char conf[512], props[512];
    snprintf(conf, sizeof conf, "%s", hq_test_shared("data/ibm_backends/conf_manila.json"));
    snprintf(props, sizeof props, "%s", hq_test_shared("data/ibm_backends/props_manila.json"));
    int fails = 0;
    for (long n = 1; n < 10000; n++) {
        hq_device *d = NULL;
        hq_alloc_fail_after(n);
        hq_status st = hq_device_load_ibm(conf, props, &d);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (st == HQ_OK) {
            HQ_CHECK(d && d->n_qubits == 5);
            hq_device_free(d);
            if (!injected) break;
            continue;
        }
        fails++;
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s (%s)", n, hq_status_name(st),
                  hq_last_error());
        HQ_CHECK(d == NULL);
    }
    HQ_CHECK(fails >= 3);
}
