/*
 * backends/statevector_grad.c — gradients of expectation values: the adjoint method
 * (Jacobian and vector-Jacobian product), the exact parameter-shift rule of every
 * parameterised gate, and shift plans (the shifted circuits and weights a QPU needs).
 * The batched training path has its own, specialised gradients in
 * statevector_batch.c; this file is the general-circuit version and the yardstick.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/statevector_impl.h"

/* ==== shared helpers ================================================================== */

static hq_status check_static(const char *fn, const hq_circuit *c) {
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: circuit is NULL", fn);
    if (hq_circuit_n_qubits(c) < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the circuit has no qubits", fn);
    bool dyn;
    hq_status st = sv_circuit_dynamic(fn, c, &dyn);
    if (st) return st;
    if (dyn)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: the circuit is dynamic (mid-circuit measurement, reset or "
                        "classical condition); gradients need a unitary circuit",
                        fn);
    return HQ_OK;
}

/* d/d sym_s += coef * dangle[i] over the terms of every angle entry i */
static void chain_angles(const hq_circuit *c, const double *dangle, double *dsym) {
    const int64_t na = hq_circuit_n_angles(c);
    for (int64_t i = 0; i < na; i++) {
        if (dangle[i] == 0) continue;
        hq_angle a = hq_circuit_angle(c, i);
        for (int t = 0; t < a.n; t++) dsym[a.sym[t]] += a.coef[t] * dangle[i];
    }
}

static bool angle_symbolic(const hq_circuit *c, int32_t i) {
    return i >= 0 && hq_circuit_angle(c, i).n > 0;
}

/* ==== adjoint method ================================================================== */

/*
 * The core sweep. phi: the final state U|0> (destroyed: un-computed to |0>). lam[k]
 * (n_lam adjoint states, each an O_k-weighted copy of phi, destroyed). dangle:
 * (n_lam x n_angles) accumulated d<...>/d angle.
 */
static hq_status adjoint_sweep(const hq_circuit *c, const double *angles, hq_cplx *phi,
                               hq_cplx **lam, int n_lam, double *dangle) {
    const int n = hq_circuit_n_qubits(c);
    const int64_t na = hq_circuit_n_angles(c);
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t j = hq_circuit_n_ops(c) - 1; j >= 0; j--) {
        const hq_op *op = &ops[j];
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)op->gate);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        double p[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < op->np; i++) p[i] = angles[op->p[i]];
        int q[HQ_GATE_MAX_QUBITS] = {op->q[0], op->q[1], op->q[2]};
        sv_kop inv;
        hq_status st = sv_compile_gate((hq_gate)op->gate, q, p, true, &inv);
        if (st) return st;
        sv_apply_kop(phi, n, &inv); /* phi = state before op j */
        for (int i = 0; i < op->np; i++) {
            if (!angle_symbolic(c, op->p[i])) continue;
            hq_cplx dm[64];
            st = hq_gate_matrix_deriv((hq_gate)op->gate, p, i, dm);
            if (st) return st;
            for (int k = 0; k < n_lam; k++)
                dangle[k * na + op->p[i]] +=
                    2 * creal(sv_inner_matrix(lam[k], phi, n, dm, q, op->nq));
        }
        for (int k = 0; k < n_lam; k++) sv_apply_kop(lam[k], n, &inv);
    }
    return HQ_OK;
}

static hq_status adjoint_common(const char *fn, const hq_circuit *c, const double *sym,
                                const hq_pauli_sum *obs, int n_obs, const double *dexpect,
                                double *expect, double *out) {
    hq_status st = check_static(fn, c);
    if (st) return st;
    const int n = hq_circuit_n_qubits(c), ns = hq_circuit_n_symbols(c);
    st = sv_check_obs(fn, obs, n_obs, n);
    if (st) return st;
    if (!out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn, dexpect ? "dsym" : "jac");
    st = sv_check_symbols(fn, c, sym);
    if (st) return st;
    if (dexpect)
        for (int k = 0; k < n_obs; k++)
            if (!isfinite(dexpect[k]))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: dexpect[%d] is not finite", fn, k);
    const int n_lam = dexpect ? 1 : n_obs;
    st = sv_check_memory(fn, n, n_lam + 1);
    if (st) return st;
    const int64_t dim = (int64_t)1 << n, na = hq_circuit_n_angles(c);
    double *angles = NULL, *dangle = NULL;
    hq_cplx *phi = NULL, **lam = NULL;
    st = sv_eval_angles(fn, c, sym, &angles);
    if (st) return st;
    dangle = hq_calloc((size_t)(n_lam * (na ? na : 1)), sizeof *dangle);
    lam = hq_calloc((size_t)n_lam, sizeof *lam);
    phi = sv_alloc_amps(n);
    bool ok = dangle && lam && phi;
    for (int k = 0; ok && k < n_lam; k++) ok = (lam[k] = sv_alloc_amps(n)) != NULL;
    if (!ok) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory (%d states of %d qubits)", fn,
                      n_lam + 1, n);
        goto done;
    }
    memset(phi, 0, (size_t)dim * sizeof *phi);
    phi[0] = 1;
    hq_sv tmp = {.n = n, .dim = dim, .amp = phi};
    tmp.h.magic = HQ_MAGIC_SV;
    st = hq_sv_apply_circuit(&tmp, c, sym);
    if (st) goto done;
    for (int k = 0; k < n_lam; k++) memset(lam[k], 0, (size_t)dim * sizeof *phi);
    for (int k = 0; k < n_obs; k++) {
        double e = 0;
        for (int t = 0; t < obs[k].n_terms; t++) {
            e += sv_expect_pauli_raw(phi, dim, &obs[k].terms[t]);
            sv_apply_pauli_acc(phi, lam[dexpect ? 0 : k], dim, &obs[k].terms[t],
                               dexpect ? dexpect[k] : 1.0);
        }
        if (expect) expect[k] = e;
    }
    st = adjoint_sweep(c, angles, phi, lam, n_lam, dangle);
    if (st) goto done;
    for (int k = 0; k < n_lam; k++) {
        double *row = out + (int64_t)k * ns;
        memset(row, 0, (size_t)ns * sizeof *row);
        chain_angles(c, dangle + k * na, row);
    }
done:
    for (int k = 0; lam && k < n_lam; k++) hq_free(lam[k]);
    hq_free(lam);
    hq_free(phi);
    hq_free(dangle);
    hq_free(angles);
    return st;
}

hq_status hq_sv_adjoint_jacobian(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                                 int n_obs, double *expect, double *jac) {
    return adjoint_common("hq_sv_adjoint_jacobian", c, sym, obs, n_obs, NULL, expect, jac);
}

hq_status hq_sv_adjoint_vjp(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                            int n_obs, const double *dexpect, double *expect, double *dsym) {
    if (!dexpect) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_adjoint_vjp: dexpect is NULL");
    return adjoint_common("hq_sv_adjoint_vjp", c, sym, obs, n_obs, dexpect, expect, dsym);
}

/* ==== shift rules ===================================================================== */

static void rule2(hq_shift_rule *r, double s, double c) {
    *r = (hq_shift_rule){2, {s, -s, 0, 0}, {c, -c, 0, 0}};
}
static void rule4(hq_shift_rule *r, double s1, double c1, double s2, double c2) {
    *r = (hq_shift_rule){4, {s1, -s1, s2, -s2}, {c1, -c1, -c2, c2}};
}

hq_status hq_sv_shift_rule(hq_gate g, int k, hq_shift_rule *out) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_shift_rule: out is NULL");
    if (!gi || gi->kind != HQ_KIND_UNITARY || gi->np == 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_sv_shift_rule: gate %d (%s) has no parameters", (int)g,
                        gi ? gi->name : "out of range");
    if (k < 0 || k >= gi->np)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_sv_shift_rule: parameter %d out of range [0, %d) for '%s'", k, gi->np,
                        gi->name);
    const double r2 = sqrt(2.0);
    const double d1 = (r2 + 1) / (4 * r2), d2 = (r2 - 1) / (4 * r2);
    const double s8 = sin(M_PI / 8), s38 = sin(3 * M_PI / 8);
    const double c1 = 1 / (8 * s8 * s8), c2 = 1 / (8 * s38 * s38);
    switch (g) {
    case HQ_GATE_CRX:
    case HQ_GATE_CRY:
    case HQ_GATE_CRZ: rule4(out, M_PI / 2, d1, 3 * M_PI / 2, d2); break;
    case HQ_GATE_CU3:
    case HQ_GATE_CU:
        if (k == 0)
            rule4(out, M_PI / 2, d1, 3 * M_PI / 2, d2);
        else
            rule2(out, M_PI / 2, 0.5);
        break;
    case HQ_GATE_GPI: rule2(out, 0.125, 2 * M_PI); break;
    case HQ_GATE_GPI2: rule4(out, 0.125, 2 * M_PI * c1, 0.375, 2 * M_PI * c2); break;
    case HQ_GATE_MS:
        if (k == 2)
            rule2(out, 0.25, M_PI);
        else
            rule4(out, 0.125, 2 * M_PI * c1, 0.375, 2 * M_PI * c2);
        break;
    default: rule2(out, M_PI / 2, 0.5); break;
    }
    return HQ_OK;
}

/* ==== shift plans ===================================================================== */

void hq_sv_shift_plan_free(hq_shift_plan *plan) {
    if (!plan) return;
    hq_free(plan->rows);
    hq_free(plan->terms);
    hq_circuit_free(plan->owned);
    memset(plan, 0, sizeof *plan);
}

/* A copy of c where parameter use (op j, param i) with a symbolic angle gets the extra
 * term 1 * shift_sym[j * 4 + i] (symbols appended after c's). */
static hq_status expand_template(const hq_circuit *c, int32_t *shift_sym, hq_circuit **out) {
    *out = NULL;
    hq_circuit *d;
    hq_status st = hq_circuit_create(&d);
    if (st) return st;
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_qregs(c); i++) {
        hq_reg r = hq_circuit_qreg(c, i);
        st = hq_circuit_add_qreg(d, r.name, r.size, NULL);
    }
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_cregs(c); i++) {
        hq_reg r = hq_circuit_creg(c, i);
        st = hq_circuit_add_creg(d, r.name, r.size, NULL);
    }
    for (int i = 0; st == HQ_OK && i < hq_circuit_n_symbols(c); i++)
        st = hq_circuit_add_symbol(d, hq_circuit_symbol_name(c, i), hq_circuit_symbol_kind(c, i),
                                   NULL);
    const hq_op *ops = hq_circuit_ops(c);
    const int64_t n_ops = hq_circuit_n_ops(c);
    for (int64_t j = 0; st == HQ_OK && j < n_ops; j++)
        for (int i = 0; st == HQ_OK && i < ops[j].np; i++) {
            shift_sym[j * HQ_GATE_MAX_PARAMS + i] = -1;
            if (!angle_symbolic(c, ops[j].p[i])) continue;
            char name[64];
            int idx, dummy;
            snprintf(name, sizeof name, "__shift_%lld_%d", (long long)j, i);
            while (hq_circuit_find_symbol(d, name, &dummy) == HQ_OK) {
                size_t l = strlen(name);
                if (l + 1 >= sizeof name) break;
                name[l] = '_', name[l + 1] = '\0';
            }
            st = hq_circuit_add_symbol(d, name, HQ_SYM_WEIGHT, &idx);
            shift_sym[j * HQ_GATE_MAX_PARAMS + i] = idx;
        }
    for (int64_t j = 0; st == HQ_OK && j < n_ops; j++) {
        const hq_op *op = &ops[j];
        int q[HQ_GATE_MAX_QUBITS] = {op->q[0], op->q[1], op->q[2]};
        switch (op->gate) {
        case HQ_GATE_MEASURE: st = hq_circuit_add_measure(d, op->q[0], op->clbit); break;
        case HQ_GATE_RESET: st = hq_circuit_add_reset(d, op->q[0]); break;
        case HQ_GATE_BARRIER: {
            int qb[64], nb = 0;
            int *qs = op->nq <= 64 ? qb : hq_malloc((size_t)op->nq * sizeof *qs);
            if (!qs) {
                st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_shift_plan: out of memory");
                break;
            }
            for (int k = 0; k < op->nq; k++) qs[nb++] = hq_op_qubit(c, op, k);
            st = hq_circuit_add_barrier(d, qs, nb);
            if (qs != qb) hq_free(qs);
            break;
        }
        default: {
            hq_angle a[HQ_GATE_MAX_PARAMS];
            for (int i = 0; i < op->np; i++) {
                a[i] = hq_circuit_angle(c, op->p[i]);
                int32_t s = shift_sym[j * HQ_GATE_MAX_PARAMS + i];
                if (s < 0) continue;
                if (a[i].n >= HQ_ANGLE_MAX_TERMS) {
                    st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                                  "hq_sv_shift_plan: angle %d of operation %lld already has %d "
                                  "symbolic terms; no room for the shift term",
                                  i, (long long)j, a[i].n);
                    break;
                }
                a[i].sym[a[i].n] = s;
                a[i].coef[a[i].n] = 1.0;
                a[i].n++;
            }
            if (st == HQ_OK) st = hq_circuit_add_gate_sym(d, (hq_gate)op->gate, q, a);
        }
        }
        if (st == HQ_OK && op->cond_creg >= 0)
            st = hq_circuit_set_condition(d, op->cond_creg, op->cond_val);
    }
    if (st) {
        hq_circuit_free(d);
        return st;
    }
    *out = d;
    return HQ_OK;
}

hq_status hq_sv_shift_plan(const hq_circuit *c, const double *sym, hq_shift_plan *plan) {
    if (!plan) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_shift_plan: plan is NULL");
    memset(plan, 0, sizeof *plan);
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_shift_plan: circuit is NULL");
    hq_status st = sv_check_symbols("hq_sv_shift_plan", c, sym);
    if (st) return st;
    const int ns = hq_circuit_n_symbols(c);
    const hq_op *ops = hq_circuit_ops(c);
    const int64_t n_ops = hq_circuit_n_ops(c);
    /* count the parameter uses of every symbol, and the rows/terms needed */
    int64_t *uses = hq_calloc((size_t)(ns ? ns : 1), sizeof *uses);
    int32_t *shift_sym =
        hq_malloc((size_t)(n_ops ? n_ops : 1) * HQ_GATE_MAX_PARAMS * sizeof *shift_sym);
    if (!uses || !shift_sym) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_shift_plan: out of memory");
        goto done;
    }
    int64_t n_rows = 0, n_terms = 0;
    for (int64_t j = 0; j < n_ops; j++)
        for (int i = 0; i < ops[j].np; i++) {
            if (!angle_symbolic(c, ops[j].p[i])) continue;
            hq_angle a = hq_circuit_angle(c, ops[j].p[i]);
            hq_shift_rule r;
            hq_sv_shift_rule((hq_gate)ops[j].gate, i, &r);
            n_rows += r.n_terms;
            n_terms += (int64_t)r.n_terms * a.n;
            for (int t = 0; t < a.n; t++) uses[a.sym[t]]++;
        }
    /* does every use have a private symbol (used nowhere else, nonzero coefficient)? */
    bool private_ok = true;
    for (int64_t j = 0; j < n_ops && private_ok; j++)
        for (int i = 0; i < ops[j].np && private_ok; i++) {
            if (!angle_symbolic(c, ops[j].p[i])) continue;
            hq_angle a = hq_circuit_angle(c, ops[j].p[i]);
            bool has = false;
            for (int t = 0; t < a.n; t++)
                if (uses[a.sym[t]] == 1 && a.coef[t] != 0) has = true;
            private_ok = has;
        }
    const hq_circuit *tmpl = c;
    if (!private_ok) {
        st = expand_template(c, shift_sym, &plan->owned);
        if (st) goto done;
        tmpl = plan->owned;
    }
    const int ncol = hq_circuit_n_symbols(tmpl);
    plan->circuit = tmpl;
    plan->n_symbols = ncol;
    plan->n_grad = ns;
    plan->rows =
        hq_calloc((size_t)(n_rows ? n_rows : 1) * (size_t)(ncol ? ncol : 1), sizeof *plan->rows);
    plan->terms = hq_malloc((size_t)(n_terms ? n_terms : 1) * sizeof *plan->terms);
    if (!plan->rows || !plan->terms) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_shift_plan: out of memory (%lld rows)",
                      (long long)n_rows);
        goto done;
    }
    for (int64_t j = 0; j < n_ops; j++)
        for (int i = 0; i < ops[j].np; i++) {
            if (!angle_symbolic(c, ops[j].p[i])) continue;
            hq_angle a = hq_circuit_angle(c, ops[j].p[i]);
            hq_shift_rule r;
            hq_sv_shift_rule((hq_gate)ops[j].gate, i, &r);
            int own = -1; /* private symbol carrying the shift */
            for (int t = 0; t < a.n && own < 0; t++)
                if (uses[a.sym[t]] == 1 && a.coef[t] != 0) own = t;
            for (int u = 0; u < r.n_terms; u++) {
                double *row = plan->rows + plan->n_rows * ncol;
                if (ns) memcpy(row, sym, (size_t)ns * sizeof *row);
                if (private_ok)
                    row[a.sym[own]] += r.shift[u] / a.coef[own];
                else
                    row[shift_sym[j * HQ_GATE_MAX_PARAMS + i]] = r.shift[u];
                for (int t = 0; t < a.n; t++)
                    plan->terms[plan->n_terms++] =
                        (hq_shift_term){plan->n_rows, a.sym[t], r.coef[u] * a.coef[t]};
                plan->n_rows++;
            }
        }
done:
    hq_free(uses);
    hq_free(shift_sym);
    if (st) {
        hq_sv_shift_plan_free(plan);
        return st;
    }
    return HQ_OK;
}

hq_status hq_sv_shift_jacobian(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                               int n_obs, double *jac) {
    const char *fn = "hq_sv_shift_jacobian";
    hq_status st = check_static(fn, c);
    if (st) return st;
    const int n = hq_circuit_n_qubits(c), ns = hq_circuit_n_symbols(c);
    st = sv_check_obs(fn, obs, n_obs, n);
    if (st) return st;
    if (!jac) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: jac is NULL", fn);
    hq_shift_plan plan;
    st = hq_sv_shift_plan(c, sym, &plan);
    if (st) return st;
    double *e = hq_malloc((size_t)n_obs * sizeof *e);
    hq_sv *sv = NULL;
    if (!e) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    st = hq_sv_create(n, &sv);
    if (st) goto done;
    memset(jac, 0, (size_t)n_obs * (size_t)ns * sizeof *jac);
    int64_t t = 0;
    for (int64_t r = 0; r < plan.n_rows; r++) {
        hq_sv_init_basis(sv, 0);
        st = hq_sv_apply_circuit(sv, plan.circuit, plan.rows + r * plan.n_symbols);
        if (st) goto done;
        st = hq_sv_expect(sv, obs, n_obs, e);
        if (st) goto done;
        for (; t < plan.n_terms && plan.terms[t].row == r; t++)
            for (int k = 0; k < n_obs; k++)
                jac[(int64_t)k * ns + plan.terms[t].sym] += plan.terms[t].coef * e[k];
    }
done:
    hq_sv_free(sv);
    hq_free(e);
    hq_sv_shift_plan_free(&plan);
    return st;
}
