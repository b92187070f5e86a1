/*
 * backends/densitymatrix_run.c — whole-circuit execution on the density-matrix simulator:
 * gates and resets with their noise channels, terminal measurements taken from the final
 * state, mid-circuit measurements and classical conditions through exact branching on
 * the classical register (semantics in densitymatrix.h), and sampling.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix_impl.h"
#include "backends/noise_impl.h"

/* circuit.c's handle magic (circuit.h keeps the struct opaque; this catches NULL, freed
 * and foreign pointers the same way HQ_CHECK_HANDLE does there). */
#define DM_CIRCUIT_MAGIC 0x43495243u

#define BRANCH_MIN_PROB 1e-14 /* branches below this probability are dropped */

/* ==== op stages ========================================================================= */

/* Stages of one gate or reset (plus its noise) and its operands. */
typedef struct op_plan {
    dm_stage st[DM_MAX_STAGES];
    int ns;
    int q[3];
    int k;
} op_plan;

static hq_status plan_op(const char *who, const hq_op *op, const double *angles,
                         const hq_noise_model *noise, const int *layout, op_plan *p) {
    p->ns = 0;
    p->k = op->gate == HQ_GATE_RESET ? 1 : op->nq;
    for (int j = 0; j < p->k; j++) p->q[j] = op->q[j];
    if (op->gate == HQ_GATE_RESET) {
        dm_stage_relax_raw(&p->st[p->ns++], 0, 1, 1, 0, 0, 0);
    } else {
        double par[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < op->np; i++) par[i] = angles[op->p[i]];
        hq_cplx u[64];
        hq_status st = hq_gate_matrix((hq_gate)op->gate, par, u);
        if (st) return hq_fail_prefix(NULL, st, "%s", who);
        if (dm_stage_unitary(&p->st[p->ns], u, p->k)) p->ns++;
    }
    if (noise) {
        int phys[3];
        for (int j = 0; j < p->k; j++) phys[j] = layout ? layout[op->q[j]] : op->q[j];
        hq_noise_channel ch;
        hq_status st = hq_noise_gate_channel(noise, (hq_gate)op->gate, phys, &ch);
        if (st) return hq_fail_prefix(NULL, st, "%s", who);
        dm_stages_from_channel(p->st, &p->ns, &ch);
    }
    return HQ_OK;
}

/* ==== argument checks =================================================================== */

static hq_status check_run_args(const char *who, const hq_circuit *c, const double *sym,
                                const hq_noise_model *noise, const int *layout) {
    if (!hq_handle_ok(c, DM_CIRCUIT_MAGIC))
        return hq_failf(NULL, HQ_ERR_MISUSE, "%s: invalid circuit handle (NULL or freed)", who);
    if (noise && !hq_handle_ok(noise, HQ_MAGIC_NOISE))
        return hq_failf(NULL, HQ_ERR_MISUSE,
                        "%s: invalid noise model handle (freed or not a noise model)", who);
    int n = hq_circuit_n_qubits(c);
    if (n < 1 || n > HQ_DM_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the circuit has %d qubits, expected 1 to %d",
                        who, n, HQ_DM_MAX_QUBITS);
    int ns = hq_circuit_n_symbols(c);
    if (ns && !sym)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the circuit has %d symbol(s) ('%s'...), sym is NULL", who, ns,
                        hq_circuit_symbol_name(c, 0));
    for (int i = 0; i < ns; i++)
        if (!isfinite(sym[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: value of symbol '%s' is not finite", who,
                            hq_circuit_symbol_name(c, i));
    return dm_check_layout(who, noise, layout, n);
}

static hq_status eval_angles(const char *who, const hq_circuit *c, const double *sym,
                             double **angles) {
    int64_t na = hq_circuit_n_angles(c);
    *angles = hq_malloc((size_t)(na ? na : 1) * sizeof **angles);
    if (!*angles) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", who);
    hq_circuit_eval_angles(c, sym, *angles);
    return HQ_OK;
}

/* ==== apply_circuit ===================================================================== */

hq_status hq_dm_apply_circuit(hq_dm *dm, const hq_circuit *c, const double *sym,
                              const hq_noise_model *noise, const int *layout, bool ignore_measure) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const char *who = "hq_dm_apply_circuit";
    hq_status st = check_run_args(who, c, sym, noise, layout);
    if (st) return st;
    if (hq_circuit_n_qubits(c) != dm->n)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "%s: the circuit has %d qubits, the density matrix %d", who,
                        hq_circuit_n_qubits(c), dm->n);
    const hq_op *ops = hq_circuit_ops(c);
    int64_t nops = hq_circuit_n_ops(c);
    for (int64_t k = 0; k < nops; k++) { /* reject before touching the state */
        if (ops[k].cond_creg >= 0)
            return hq_failf(&dm->h.err, HQ_ERR_UNSUPPORTED,
                            "%s: op %lld is classically conditioned\n---> HINT: use hq_dm_run or "
                            "hq_dm_run_probs for circuits with if",
                            who, (long long)k);
        if (ops[k].gate == HQ_GATE_MEASURE && !ignore_measure)
            return hq_failf(&dm->h.err, HQ_ERR_UNSUPPORTED,
                            "%s: op %lld is a measurement\n---> HINT: pass ignore_measure for the "
                            "unitary part, or use hq_dm_run / hq_dm_run_probs",
                            who, (long long)k);
    }
    double *angles;
    st = eval_angles(who, c, sym, &angles);
    if (st) return st;
    for (int64_t k = 0; k < nops && !st; k++) {
        const hq_op *op = &ops[k];
        if (op->gate == HQ_GATE_BARRIER || op->gate == HQ_GATE_MEASURE) continue;
        op_plan p;
        st = plan_op(who, op, angles, noise, layout, &p);
        if (!st) dm_apply_stages(dm->rho, dm->n, p.q, p.k, p.st, p.ns);
    }
    hq_free(angles);
    return st;
}

/* ==== branches ========================================================================== */

typedef struct branch {
    uint64_t cval; /* classical register value of this branch */
    hq_dm *dm;     /* unnormalised ρ; its trace is the branch probability */
} branch;

typedef struct run_state {
    const char *who;
    const hq_circuit *c;
    const hq_noise_model *noise;
    const int *layout;
    int n;            /* qubits */
    branch *br;       /* (nbr) live branches */
    int nbr, cap;     /* live / allocated */
    int max_branches; /* memory limit */
} run_state;

static double trace_of(const hq_dm *dm) {
    double t = 0;
    for (int64_t i = 0; i < dm->dim; i++) t += creal(dm->rho[i * dm->dim + i]);
    return t;
}

static bool cond_holds(const hq_circuit *c, const hq_op *op, uint64_t cval) {
    if (op->cond_creg < 0) return true;
    hq_reg r = hq_circuit_creg(c, op->cond_creg);
    uint64_t mask = r.size >= 64 ? ~0ull : (((uint64_t)1 << r.size) - 1);
    return ((cval >> r.offset) & mask) == op->cond_val;
}

static hq_status grow(run_state *rs, int need) {
    if (need > rs->max_branches)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: the circuit's mid-circuit measurements need %d simultaneous branches "
                        "of a %d-qubit density matrix, more than the %d that fit in half the "
                        "physical memory\n---> HINT: measure fewer qubits mid-circuit, or move "
                        "measurements to the end",
                        rs->who, need, rs->n, rs->max_branches);
    if (need <= rs->cap) return HQ_OK;
    int cap = rs->cap ? rs->cap * 2 : 4;
    while (cap < need) cap *= 2;
    branch *b = hq_realloc(rs->br, (size_t)cap * sizeof *b);
    if (!b) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", rs->who);
    rs->br = b;
    rs->cap = cap;
    return HQ_OK;
}

static int cmp_branch(const void *a, const void *b) {
    uint64_t x = ((const branch *)a)->cval, y = ((const branch *)b)->cval;
    return x < y ? -1 : x > y;
}

/* Merge branches with equal classical values (their states add). */
static void merge_branches(run_state *rs) {
    if (rs->nbr < 2) return;
    qsort(rs->br, (size_t)rs->nbr, sizeof *rs->br, cmp_branch);
    int w = 0;
    for (int i = 0; i < rs->nbr; i++) {
        if (w > 0 && rs->br[w - 1].cval == rs->br[i].cval) {
            hq_cplx *dst = rs->br[w - 1].dm->rho;
            const hq_cplx *src = rs->br[i].dm->rho;
            const int64_t n2 = rs->br[i].dm->dim * rs->br[i].dm->dim;
            for (int64_t j = 0; j < n2; j++) dst[j] += src[j];
            hq_dm_free(rs->br[i].dm);
        } else {
            rs->br[w++] = rs->br[i];
        }
    }
    rs->nbr = w;
}

/* Mid-circuit measurement of qubit q into clbit cb on every branch where op applies. */
static hq_status measure_branches(run_state *rs, const hq_op *op) {
    const int q = op->q[0];
    const uint64_t bit = (uint64_t)1 << op->clbit;
    double p01, p10;
    dm_readout_of(rs->noise, rs->layout, q, &p01, &p10);
    int n0 = rs->nbr;
    for (int i = 0; i < n0; i++) {
        branch *b = &rs->br[i];
        if (!cond_holds(rs->c, op, b->cval)) continue;
        double tr = trace_of(b->dm), p1 = 0;
        for (int64_t x = 0; x < b->dm->dim; x++)
            if (x >> q & 1) p1 += creal(b->dm->rho[x * b->dm->dim + x]);
        double rec1 = p10 * (tr - p1) + (1 - p01) * p1, rec0 = tr - rec1;
        dm_stage s0, s1; /* record 0 / record 1 */
        dm_stage_relax_raw(&s0, 0, 1 - p10, 0, 0, p01, 0);
        dm_stage_relax_raw(&s1, 0, p10, 0, 0, 1 - p01, 0);
        bool keep0 = rec0 >= BRANCH_MIN_PROB, keep1 = rec1 >= BRANCH_MIN_PROB;
        if (keep0 && keep1) {
            hq_status st = grow(rs, rs->nbr + 1);
            if (st) return st;
            b = &rs->br[i]; /* grow may move the array */
            hq_dm *copy;
            st = hq_dm_copy(b->dm, &copy);
            if (st) return hq_fail_prefix(NULL, st, "%s", rs->who);
            dm_apply_stages(copy->rho, rs->n, &q, 1, &s1, 1);
            rs->br[rs->nbr++] = (branch){b->cval | bit, copy};
            dm_apply_stages(b->dm->rho, rs->n, &q, 1, &s0, 1);
            b->cval &= ~bit;
        } else if (keep1) {
            dm_apply_stages(b->dm->rho, rs->n, &q, 1, &s1, 1);
            b->cval |= bit;
        } else {
            dm_apply_stages(b->dm->rho, rs->n, &q, 1, &s0, 1);
            b->cval &= ~bit;
        }
    }
    merge_branches(rs);
    /* drop branches that became negligible (both records of a near-impossible branch) */
    int w = 0;
    for (int i = 0; i < rs->nbr; i++) {
        if (rs->nbr > 1 && trace_of(rs->br[i].dm) < BRANCH_MIN_PROB)
            hq_dm_free(rs->br[i].dm);
        else
            rs->br[w++] = rs->br[i];
    }
    rs->nbr = w;
    return HQ_OK;
}

/* ==== distribution ====================================================================== */

typedef struct outcome_prob {
    uint64_t o;
    double p;
} outcome_prob;

static int cmp_op(const void *a, const void *b) {
    uint64_t x = ((const outcome_prob *)a)->o, y = ((const outcome_prob *)b)->o;
    return x < y ? -1 : x > y;
}

void hq_dm_dist_free(hq_dm_dist *d) {
    if (!d) return;
    HQ_FREE(d->outcome);
    HQ_FREE(d->prob);
    d->n = 0;
}

double hq_dm_dist_prob(const hq_dm_dist *d, uint64_t outcome) {
    if (!d || d->n <= 0) return 0;
    int64_t lo = 0, hi = d->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (d->outcome[mid] == outcome) return d->prob[mid];
        if (d->outcome[mid] < outcome)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

/* Terminal measurements (qubit dq[j] -> clbit dc[j]) of every branch into a distribution. */
static hq_status finish(run_state *rs, const int *dq, const int *dc, int m, int n_bits,
                        hq_dm_dist *out) {
    const int64_t per = (int64_t)1 << m;
    outcome_prob *all = hq_malloc((size_t)(rs->nbr * per) * sizeof *all);
    double *probs = hq_malloc((size_t)per * sizeof *probs);
    double p01[HQ_DM_MAX_QUBITS], p10[HQ_DM_MAX_QUBITS];
    if (!all || !probs) {
        hq_free(all);
        hq_free(probs);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", rs->who);
    }
    uint64_t dmask = 0;
    for (int j = 0; j < m; j++) {
        dm_readout_of(rs->noise, rs->layout, dq[j], &p01[j], &p10[j]);
        dmask |= (uint64_t)1 << dc[j];
    }
    int64_t na = 0;
    for (int i = 0; i < rs->nbr; i++) {
        const branch *b = &rs->br[i];
        if (m == 0) {
            probs[0] = trace_of(b->dm);
        } else {
            hq_dm_calc_marginal(b->dm, dq, m, probs);
            hq_readout_apply(probs, m, p01, p10);
        }
        for (int64_t x = 0; x < per; x++) {
            uint64_t o = b->cval & ~dmask;
            for (int j = 0; j < m; j++)
                if (x >> j & 1) o |= (uint64_t)1 << dc[j];
            all[na++] = (outcome_prob){o, probs[x]};
        }
    }
    hq_free(probs);
    qsort(all, (size_t)na, sizeof *all, cmp_op);
    int64_t w = 0;
    double total = 0;
    for (int64_t i = 0; i < na; i++) {
        if (w > 0 && all[w - 1].o == all[i].o)
            all[w - 1].p += all[i].p;
        else
            all[w++] = all[i];
    }
    int64_t keep = 0;
    for (int64_t i = 0; i < w; i++)
        if (all[i].p > 0) {
            all[keep++] = all[i];
            total += all[i].p;
        }
    memset(out, 0, sizeof *out);
    out->n_bits = n_bits;
    out->outcome = hq_malloc((size_t)(keep ? keep : 1) * sizeof *out->outcome);
    out->prob = hq_malloc((size_t)(keep ? keep : 1) * sizeof *out->prob);
    if (!out->outcome || !out->prob) {
        hq_free(all);
        hq_dm_dist_free(out);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", rs->who);
    }
    for (int64_t i = 0; i < keep; i++) {
        out->outcome[i] = all[i].o;
        out->prob[i] = all[i].p / total;
    }
    out->n = keep;
    hq_free(all);
    return HQ_OK;
}

/* ==== run =============================================================================== */

static hq_status run_probs(const char *who, const hq_circuit *c, const double *sym,
                           const hq_noise_model *noise, const int *layout, hq_dm_dist *out) {
    hq_status st = check_run_args(who, c, sym, noise, layout);
    if (st) return st;
    const int n = hq_circuit_n_qubits(c), nc = hq_circuit_n_clbits(c);
    if (nc > 64)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: the circuit has %d classical bits; outcomes hold at most 64", who, nc);
    const hq_op *ops = hq_circuit_ops(c);
    const int64_t nops = hq_circuit_n_ops(c);
    size_t bytes = 0;
    st = dm_check_size(who, n, &bytes);
    if (st) return st;

    /* which measurements are terminal (backward scan) */
    bool *defer = hq_calloc((size_t)(nops ? nops : 1), sizeof *defer);
    bool *touched = hq_calloc((size_t)n, sizeof *touched);
    bool *written = hq_calloc((size_t)(nc ? nc : 1), sizeof *written);
    bool *read = hq_calloc((size_t)(nc ? nc : 1), sizeof *read);
    double *angles = NULL;
    run_state rs = {who, c, noise, layout, n, NULL, 0, 0, 1};
    int n_measure = 0, m = 0, n_bits = nc, dq[HQ_DM_MAX_QUBITS], dc[HQ_DM_MAX_QUBITS];
    if (!defer || !touched || !written || !read) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", who);
        goto done;
    }
    for (int64_t k = nops - 1; k >= 0; k--) {
        const hq_op *op = &ops[k];
        if (op->gate == HQ_GATE_BARRIER) continue;
        if (op->gate == HQ_GATE_MEASURE) {
            n_measure++;
            defer[k] =
                !touched[op->q[0]] && !written[op->clbit] && !read[op->clbit] && op->cond_creg < 0;
            written[op->clbit] = true;
        }
        int k_q = op->gate == HQ_GATE_RESET || op->gate == HQ_GATE_MEASURE ? 1 : op->nq;
        for (int j = 0; j < k_q; j++) touched[op->q[j]] = true;
        if (op->cond_creg >= 0) {
            hq_reg r = hq_circuit_creg(c, op->cond_creg);
            for (int b = 0; b < r.size; b++) read[r.offset + b] = true;
        }
    }
    if (n_measure == 0) { /* measure every qubit at the end */
        n_bits = n;
        for (int q = 0; q < n; q++) dq[m] = q, dc[m++] = q;
    } else {
        for (int64_t k = 0; k < nops; k++)
            if (defer[k]) dq[m] = ops[k].q[0], dc[m++] = ops[k].clbit;
    }

    st = eval_angles(who, c, sym, &angles);
    if (st) goto done;
    size_t mem = dm_phys_mem();
    size_t maxb = mem ? (mem / 2) / bytes : 1024;
    rs.max_branches = (int)HQ_MIN(HQ_MAX(maxb, (size_t)1), (size_t)1 << 20);
    st = grow(&rs, 1);
    if (st) goto done;
    st = hq_dm_create(n, &rs.br[0].dm);
    if (st) goto done;
    rs.br[0].cval = 0;
    rs.nbr = 1;

    for (int64_t k = 0; k < nops && !st; k++) {
        const hq_op *op = &ops[k];
        if (op->gate == HQ_GATE_BARRIER || defer[k]) continue;
        if (op->gate == HQ_GATE_MEASURE) {
            st = measure_branches(&rs, op);
            continue;
        }
        op_plan p;
        st = plan_op(who, op, angles, noise, layout, &p);
        for (int i = 0; i < rs.nbr && !st; i++)
            if (cond_holds(c, op, rs.br[i].cval))
                dm_apply_stages(rs.br[i].dm->rho, n, p.q, p.k, p.st, p.ns);
    }
    if (!st) st = finish(&rs, dq, dc, m, n_bits, out);

done:
    for (int i = 0; i < rs.nbr; i++) hq_dm_free(rs.br[i].dm);
    hq_free(rs.br);
    hq_free(angles);
    hq_free(defer);
    hq_free(touched);
    hq_free(written);
    hq_free(read);
    return st;
}

hq_status hq_dm_run_probs(const hq_circuit *c, const double *sym, const hq_noise_model *noise,
                          const int *layout, hq_dm_dist *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_run_probs: out is NULL");
    memset(out, 0, sizeof *out);
    return run_probs("hq_dm_run_probs", c, sym, noise, layout, out);
}

hq_status hq_dm_run(const hq_circuit *c, const double *sym, const hq_noise_model *noise,
                    const int *layout, int64_t shots, uint64_t seed, uint64_t stream,
                    hq_counts *out) {
    const char *who = "hq_dm_run";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", who);
    hq_counts_init(out, 1);
    if (shots < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: shots = %lld must be >= 0", who,
                        (long long)shots);
    hq_dm_dist d;
    memset(&d, 0, sizeof d);
    hq_status st = run_probs(who, c, sym, noise, layout, &d);
    if (st) return st;
    st = dm_sample_dist(who, d.outcome, d.prob, d.n, d.n_bits, shots, seed, stream, out);
    hq_dm_dist_free(&d);
    return st;
}
