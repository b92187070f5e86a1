/*
 * backends/statevector.c — the statevector handle: memory limit, create/free, gate and
 * circuit application (dispatching to the kernels of statevector_kernels.c),
 * probabilities, Pauli expectation values, seeded sampling, single-qubit measurement and
 * reset, and hq_sv_run (static circuits sampled once, dynamic ones by trajectories).
 * Gradients are in statevector_grad.c, the batched path in statevector_batch.c.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/statevector_impl.h"

/* ==== memory ========================================================================== */

static atomic_size_t mem_limit; /* 0 = physical memory */

void hq_sv_set_memory_limit(size_t bytes) { atomic_store(&mem_limit, bytes); }

size_t hq_sv_memory_limit(void) {
    size_t lim = atomic_load(&mem_limit);
    if (lim) return lim;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    size_t phys;
    if (pages <= 0 || psz <= 0 || !hq_mul_ok((size_t)pages, (size_t)psz, &phys))
        return SIZE_MAX / 2; /* unknown: let the allocator decide */
    return phys;
}

hq_status hq_sv_bytes(int n_qubits, size_t *bytes) {
    if (!bytes) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_bytes: bytes is NULL");
    if (n_qubits < 1 || n_qubits > HQ_SV_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_bytes: %d qubits out of range [1, %d]",
                        n_qubits, HQ_SV_MAX_QUBITS);
    *bytes = n_qubits + 4 >= 64 ? SIZE_MAX : (size_t)16 << n_qubits;
    return HQ_OK;
}

/* "1.5 GiB" */
static void fmt_bytes(double b, char *buf, size_t cap) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"};
    int u = 0;
    while (b >= 1024 && u < 7) b /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

hq_status sv_check_memory(const char *fn, int n, int count) {
    if (n < 1 || n > HQ_SV_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d qubits out of range [1, %d]", fn, n,
                        HQ_SV_MAX_QUBITS);
    double need = ldexp(16.0 * count, n);
    size_t lim = hq_sv_memory_limit();
    if (need > (double)lim) {
        char a[32], b[32];
        fmt_bytes(need, a, sizeof a);
        fmt_bytes((double)lim, b, sizeof b);
        return hq_failf(NULL, HQ_ERR_NOMEM,
                        "%s: %d qubits need %s (%d x 2^%d amplitudes x 16 bytes), more than the "
                        "%s available%s\n---> HINT: use fewer qubits, or the density-matrix / "
                        "hardware backends for circuits this wide",
                        fn, n, a, count, n, b,
                        atomic_load(&mem_limit) ? " (limit set by hq_sv_set_memory_limit)"
                                                : " (physical memory)");
    }
    return HQ_OK;
}

hq_cplx *sv_alloc_amps(int n) {
    size_t bytes = (size_t)16 << n;
    /* large states: 2 MiB alignment lets the kernel back them with huge pages */
    size_t align = bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    hq_cplx *p = hq_aligned_alloc(align, bytes);
#ifdef MADV_HUGEPAGE
    if (p && align > 64) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

/* ==== validation ====================================================================== */

#define SV_FAIL(sv, st, ...) hq_failf((sv) ? (hq_err *)&(sv)->h.err : NULL, st, __VA_ARGS__)

static hq_status check_qubits(const hq_sv *sv, const char *fn, const int *q, int k) {
    if (!q) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "%s: qubits is NULL", fn);
    for (int i = 0; i < k; i++) {
        if (q[i] < 0 || q[i] >= sv->n)
            return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "%s: qubit %d out of range [0, %d)", fn, q[i],
                           sv->n);
        for (int j = 0; j < i; j++)
            if (q[j] == q[i])
                return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "%s: qubit %d appears twice", fn, q[i]);
    }
    return HQ_OK;
}

hq_status sv_check_symbols(const char *fn, const hq_circuit *c, const double *sym) {
    int ns = hq_circuit_n_symbols(c);
    if (ns && !sym)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the circuit has %d symbols but no values were given (sym is NULL)", fn,
                        ns);
    for (int i = 0; i < ns; i++)
        if (!isfinite(sym[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: value of symbol '%s' is not finite", fn,
                            hq_circuit_symbol_name(c, i));
    return HQ_OK;
}

hq_status sv_check_obs(const char *fn, const hq_pauli_sum *obs, int n_obs, int n) {
    if (n_obs < 1) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_obs %d, need >= 1", fn, n_obs);
    if (!obs) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: obs is NULL", fn);
    uint64_t allowed = n >= 64 ? ~0ull : (1ull << n) - 1;
    for (int k = 0; k < n_obs; k++) {
        if (obs[k].n_terms < 1 || !obs[k].terms)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: observable %d has %d terms (terms %s), need >= 1", fn, k,
                            obs[k].n_terms, obs[k].terms ? "set" : "NULL");
        for (int t = 0; t < obs[k].n_terms; t++) {
            const hq_pauli *p = &obs[k].terms[t];
            if ((p->x | p->z) & ~allowed)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: observable %d term %d acts on qubit %d, out of range [0, %d)",
                                fn, k, t, 63 - __builtin_clzll((p->x | p->z) & ~allowed), n);
            if (!isfinite(p->coef))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: observable %d term %d has a non-finite coefficient", fn, k, t);
        }
    }
    return HQ_OK;
}

hq_status sv_eval_angles(const char *fn, const hq_circuit *c, const double *sym, double **out) {
    *out = NULL;
    int64_t na = hq_circuit_n_angles(c);
    double *a = hq_malloc((size_t)(na > 0 ? na : 1) * sizeof *a);
    if (!a)
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory (%lld angles)", fn, (long long)na);
    hq_circuit_eval_angles(c, sym, a);
    for (int64_t i = 0; i < na; i++)
        if (!isfinite(a[i])) {
            hq_free(a);
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: angle %lld evaluates to a non-finite value", fn, (long long)i);
        }
    *out = a;
    return HQ_OK;
}

hq_status sv_circuit_dynamic(const char *fn, const hq_circuit *c, bool *dyn) {
    const int n = hq_circuit_n_qubits(c);
    *dyn = false;
    uint8_t *measured = hq_calloc((size_t)(n > 0 ? n : 1), 1);
    if (!measured) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c) && !*dyn; k++) {
        const hq_op *op = &ops[k];
        if (op->gate == HQ_GATE_RESET || op->cond_creg >= 0)
            *dyn = true;
        else if (op->gate == HQ_GATE_MEASURE)
            measured[op->q[0]] = 1;
        else if (op->gate != HQ_GATE_BARRIER)
            for (int i = 0; i < op->nq; i++) *dyn |= measured[op->q[i]] != 0;
    }
    hq_free(measured);
    return HQ_OK;
}

/* ==== create, access ================================================================== */

hq_status hq_sv_create(int n_qubits, hq_sv **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_create: out is NULL");
    *out = NULL;
    hq_status st = sv_check_memory("hq_sv_create", n_qubits, 1);
    if (st) return st;
    hq_sv *sv = hq_calloc(1, sizeof *sv);
    if (!sv) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_create: out of memory");
    sv->amp = sv_alloc_amps(n_qubits);
    if (!sv->amp) {
        hq_free(sv);
        char a[32];
        fmt_bytes(ldexp(16.0, n_qubits), a, sizeof a);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_create: allocating %s for %d qubits failed", a,
                        n_qubits);
    }
    sv->h.magic = HQ_MAGIC_SV;
    sv->n = n_qubits;
    sv->dim = (int64_t)1 << n_qubits;
    memset(sv->amp, 0, (size_t)sv->dim * sizeof *sv->amp);
    sv->amp[0] = 1;
    *out = sv;
    return HQ_OK;
}

void hq_sv_free(hq_sv *sv) {
    if (!sv || sv->h.magic != HQ_MAGIC_SV) return;
    hq_free(sv->amp);
    sv->h.magic = HQ_MAGIC_DEAD;
    hq_free(sv);
}

hq_status hq_sv_clone(const hq_sv *src, hq_sv **out) {
    HQ_CHECK_HANDLE(src, HQ_MAGIC_SV);
    if (!out) return SV_FAIL(src, HQ_ERR_INVALID_ARG, "hq_sv_clone: out is NULL");
    hq_status st = hq_sv_create(src->n, out);
    if (st) return st;
    memcpy((*out)->amp, src->amp, (size_t)src->dim * sizeof *src->amp);
    return HQ_OK;
}

int hq_sv_n_qubits(const hq_sv *sv) { return hq_handle_ok(sv, HQ_MAGIC_SV) ? sv->n : 0; }
int64_t hq_sv_dim(const hq_sv *sv) { return hq_handle_ok(sv, HQ_MAGIC_SV) ? sv->dim : 0; }
hq_cplx *hq_sv_amps(hq_sv *sv) { return hq_handle_ok(sv, HQ_MAGIC_SV) ? sv->amp : NULL; }

hq_status hq_sv_init_basis(hq_sv *sv, int64_t index) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (index < 0 || index >= sv->dim)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                       "hq_sv_init_basis: index %lld out of range [0, %lld)", (long long)index,
                       (long long)sv->dim);
    memset(sv->amp, 0, (size_t)sv->dim * sizeof *sv->amp);
    sv->amp[index] = 1;
    return HQ_OK;
}

hq_status hq_sv_set_amps(hq_sv *sv, const hq_cplx *amps, int64_t n) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!amps) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_set_amps: amps is NULL");
    if (n != sv->dim)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                       "hq_sv_set_amps: %lld amplitudes given, the state has 2^%d = %lld",
                       (long long)n, sv->n, (long long)sv->dim);
    memcpy(sv->amp, amps, (size_t)n * sizeof *amps);
    return HQ_OK;
}

/* ==== apply =========================================================================== */

hq_status hq_sv_apply_gate(hq_sv *sv, hq_gate g, const int *qubits, const double *params) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi || gi->kind != HQ_KIND_UNITARY)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                       "hq_sv_apply_gate: gate %d (%s) is not a unitary gate of the table", (int)g,
                       gi ? gi->name : "out of range");
    hq_status st = check_qubits(sv, "hq_sv_apply_gate", qubits, gi->nq);
    if (st) return st;
    if (gi->np && !params)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                       "hq_sv_apply_gate: '%s' needs %d parameters, got NULL", gi->name, gi->np);
    for (int i = 0; i < gi->np; i++)
        if (!isfinite(params[i]))
            return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                           "hq_sv_apply_gate: parameter %d of '%s' is not finite", i, gi->name);
    sv_kop k;
    st = sv_compile_gate(g, qubits, params, false, &k);
    if (st) return st;
    sv_apply_kop(sv->amp, sv->n, &k);
    return HQ_OK;
}

hq_status hq_sv_apply_matrix(hq_sv *sv, const hq_cplx *m, const int *qubits, int k) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (k < 1 || k > HQ_SV_MAX_MATRIX_QUBITS || k > sv->n)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_apply_matrix: k = %d out of range [1, %d]", k,
                       HQ_MIN(HQ_SV_MAX_MATRIX_QUBITS, sv->n));
    if (!m) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_apply_matrix: m is NULL");
    hq_status st = check_qubits(sv, "hq_sv_apply_matrix", qubits, k);
    if (st) return st;
    sv_kop kop;
    sv_compile_matrix(m, qubits, k, 0, &kop);
    sv_apply_kop(sv->amp, sv->n, &kop);
    return HQ_OK;
}

hq_status hq_sv_apply_controlled(hq_sv *sv, const hq_cplx *m, const int *controls, int n_controls,
                                 int target) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!m) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_apply_controlled: m is NULL");
    if (n_controls < 0 || n_controls >= sv->n)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                       "hq_sv_apply_controlled: n_controls %d out of range [0, %d)", n_controls,
                       sv->n);
    if (n_controls && !controls)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_apply_controlled: controls is NULL");
    int q[HQ_SV_MAX_QUBITS + 1];
    for (int i = 0; i < n_controls; i++) q[i] = controls[i];
    q[n_controls] = target;
    hq_status st = check_qubits(sv, "hq_sv_apply_controlled", q, n_controls + 1);
    if (st) return st;
    uint64_t cmask = 0;
    for (int i = 0; i < n_controls; i++) cmask |= 1ull << controls[i];
    sv_kop kop;
    sv_compile_matrix(m, &target, 1, cmask, &kop);
    sv_apply_kop(sv->amp, sv->n, &kop);
    return HQ_OK;
}

/* Apply ops [from, to) of c (unitary ones; barriers and measurements skipped). */
static hq_status apply_ops(hq_cplx *amp, int n, const hq_circuit *c, const double *angles,
                           int64_t from, int64_t to) {
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = from; i < to; i++) {
        const hq_op *op = &ops[i];
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)op->gate);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        double p[HQ_GATE_MAX_PARAMS];
        for (int j = 0; j < op->np; j++) p[j] = angles[op->p[j]];
        int q[HQ_GATE_MAX_QUBITS] = {op->q[0], op->q[1], op->q[2]};
        sv_kop k;
        hq_status st = sv_compile_gate((hq_gate)op->gate, q, p, false, &k);
        if (st) return st;
        sv_apply_kop(amp, n, &k);
    }
    return HQ_OK;
}

hq_status hq_sv_apply_circuit(hq_sv *sv, const hq_circuit *c, const double *sym) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!c) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_apply_circuit: circuit is NULL");
    if (hq_circuit_n_qubits(c) != sv->n)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG,
                       "hq_sv_apply_circuit: the circuit has %d qubits, the state %d",
                       hq_circuit_n_qubits(c), sv->n);
    bool dyn;
    hq_status st = sv_circuit_dynamic("hq_sv_apply_circuit", c, &dyn);
    if (st) return st;
    if (dyn)
        return SV_FAIL(sv, HQ_ERR_UNSUPPORTED,
                       "hq_sv_apply_circuit: the circuit is dynamic (mid-circuit measurement, "
                       "reset or classical condition)\n---> HINT: sample it with hq_sv_run");
    st = sv_check_symbols("hq_sv_apply_circuit", c, sym);
    if (st) return st;
    double *angles;
    st = sv_eval_angles("hq_sv_apply_circuit", c, sym, &angles);
    if (st) return st;
    st = apply_ops(sv->amp, sv->n, c, angles, 0, hq_circuit_n_ops(c));
    hq_free(angles);
    return st;
}

hq_status hq_sv_apply_unitary_part(hq_sv *sv, const hq_circuit *c, const double *sym) {
    const char *fn = "hq_sv_apply_unitary_part";
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!c) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "%s: circuit is NULL", fn);
    if (hq_circuit_n_qubits(c) != sv->n)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "%s: the circuit has %d qubits, the state %d", fn,
                       hq_circuit_n_qubits(c), sv->n);
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++)
        if (ops[i].gate == HQ_GATE_RESET || ops[i].cond_creg >= 0)
            return SV_FAIL(sv, HQ_ERR_UNSUPPORTED,
                           "%s: operation %lld is a %s, which has no unitary part\n---> HINT: "
                           "sample the circuit with hq_sv_run",
                           fn, (long long)i,
                           ops[i].gate == HQ_GATE_RESET ? "reset" : "classically conditioned gate");
    hq_status st = sv_check_symbols(fn, c, sym);
    if (st) return st;
    double *angles;
    st = sv_eval_angles(fn, c, sym, &angles);
    if (st) return st;
    st = apply_ops(sv->amp, sv->n, c, angles, 0, hq_circuit_n_ops(c));
    hq_free(angles);
    return st;
}

hq_status hq_sv_simulate(const hq_circuit *c, const double *sym, hq_sv **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_simulate: out is NULL");
    *out = NULL;
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_simulate: circuit is NULL");
    if (hq_circuit_n_qubits(c) < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_simulate: the circuit has no qubits");
    hq_sv *sv;
    hq_status st = hq_sv_create(hq_circuit_n_qubits(c), &sv);
    if (st) return hq_fail_prefix(NULL, st, "hq_sv_simulate: ");
    st = hq_sv_apply_circuit(sv, c, sym);
    if (st) {
        hq_sv_free(sv);
        return st;
    }
    *out = sv;
    return HQ_OK;
}

/* ==== measure ========================================================================= */

hq_status hq_sv_norm2(const hq_sv *sv, double *out) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!out) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_norm2: out is NULL");
    double acc = 0;
    for (int64_t i = 0; i < sv->dim; i++)
        acc += creal(sv->amp[i]) * creal(sv->amp[i]) + cimag(sv->amp[i]) * cimag(sv->amp[i]);
    *out = acc;
    return HQ_OK;
}

hq_status hq_sv_probabilities(const hq_sv *sv, double *probs) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!probs) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_probabilities: probs is NULL");
    for (int64_t i = 0; i < sv->dim; i++)
        probs[i] = creal(sv->amp[i]) * creal(sv->amp[i]) + cimag(sv->amp[i]) * cimag(sv->amp[i]);
    return HQ_OK;
}

hq_status hq_sv_marginal(const hq_sv *sv, const int *qubits, int k, double *probs) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (k < 1 || k > HQ_MIN(sv->n, 30))
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_marginal: k = %d out of range [1, %d]", k,
                       HQ_MIN(sv->n, 30));
    if (!probs) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_marginal: probs is NULL");
    hq_status st = check_qubits(sv, "hq_sv_marginal", qubits, k);
    if (st) return st;
    memset(probs, 0, ((size_t)1 << k) * sizeof *probs);
    for (int64_t i = 0; i < sv->dim; i++) {
        int64_t j = 0;
        for (int b = 0; b < k; b++) j |= ((i >> qubits[b]) & 1) << b;
        probs[j] += creal(sv->amp[i]) * creal(sv->amp[i]) + cimag(sv->amp[i]) * cimag(sv->amp[i]);
    }
    return HQ_OK;
}

hq_status hq_sv_expect_pauli(const hq_sv *sv, const hq_pauli *p, double *out) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!p || !out)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_expect_pauli: %s is NULL", p ? "out" : "p");
    hq_pauli_sum o = {p, 1};
    hq_status st = sv_check_obs("hq_sv_expect_pauli", &o, 1, sv->n);
    if (st) return st;
    *out = sv_expect_pauli_raw(sv->amp, sv->dim, p);
    return HQ_OK;
}

hq_status hq_sv_expect(const hq_sv *sv, const hq_pauli_sum *obs, int n_obs, double *out) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    hq_status st = sv_check_obs("hq_sv_expect", obs, n_obs, sv->n);
    if (st) return st;
    if (!out) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_expect: out is NULL");
    for (int k = 0; k < n_obs; k++) {
        double acc = 0;
        for (int t = 0; t < obs[k].n_terms; t++)
            acc += sv_expect_pauli_raw(sv->amp, sv->dim, &obs[k].terms[t]);
        out[k] = acc;
    }
    return HQ_OK;
}

/* ==== sampling ======================================================================== */

#define SV_MAX_SHOTS ((int64_t)1 << 40)

/* Exponential variate from the stream: -log(1 - u), u in [0, 1). */
static double expo(hq_rng *r) { return -log1p(-hq_rng_uniform(r)); }

/*
 * Sample shots basis indices from probabilities |amp|^2 (not necessarily normalised) and
 * add (index, count) pairs to out. Sorted uniforms u_(1) < ... < u_(shots) are
 * S_k / S_{shots+1} with S_k partial sums of exponential variates (Renyi's
 * representation); the stream is drawn twice (once for the total), which a counter-based
 * generator makes free of storage.
 */
static hq_status sample_amps(const hq_cplx *amp, int64_t dim, int64_t shots, uint64_t seed,
                             uint64_t stream, hq_counts *out) {
    double total = 0;
    for (int64_t i = 0; i < dim; i++)
        total += creal(amp[i]) * creal(amp[i]) + cimag(amp[i]) * cimag(amp[i]);
    if (!(total > 0) || !isfinite(total))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_sv_sample: the state has norm %g; cannot sample from it", total);
    hq_rng r;
    hq_rng_init(&r, seed, stream, 0);
    double s_total = 0;
    for (int64_t k = 0; k <= shots; k++) s_total += expo(&r);
    hq_rng_init(&r, seed, stream, 0);
    const double scale = total / s_total; /* map S_k onto the cumulative probability axis */
    double s = expo(&r) * scale;          /* position of the next draw */
    int64_t k = 0;                        /* draws placed */
    double cum = 0;
    int64_t last_nz = -1;
    for (int64_t i = 0; i < dim && k < shots; i++) {
        double p = creal(amp[i]) * creal(amp[i]) + cimag(amp[i]) * cimag(amp[i]);
        if (p <= 0) continue;
        last_nz = i;
        cum += p;
        int64_t cnt = 0;
        while (k < shots && s < cum) {
            cnt++;
            k++;
            s += expo(&r) * scale;
        }
        if (cnt) {
            hq_status st = hq_counts_add(out, (uint64_t)i, cnt);
            if (st) return st;
        }
    }
    if (k < shots) { /* rounding left the last draws just past the summed total */
        hq_status st = hq_counts_add(out, (uint64_t)last_nz, shots - k);
        if (st) return st;
    }
    return HQ_OK;
}

hq_status hq_sv_sample(const hq_sv *sv, int64_t shots, uint64_t seed, uint64_t stream,
                       hq_counts *out) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!out) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_sample: out is NULL");
    hq_counts_init(out, sv->n);
    if (shots < 1 || shots > SV_MAX_SHOTS)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_sample: shots %lld out of range [1, 2^40]",
                       (long long)shots);
    hq_status st = sample_amps(sv->amp, sv->dim, shots, seed, stream, out);
    if (st) {
        hq_counts_free(out);
        return st;
    }
    hq_counts_sort(out);
    return HQ_OK;
}

/* Collapse qubit q given u in [0, 1): returns the outcome. */
static int collapse(hq_cplx *amp, int n, int q, double u) {
    const int64_t dim = (int64_t)1 << n, s = (int64_t)1 << q;
    double p0 = 0, p1 = 0;
    for (int64_t i0 = 0; i0 < dim; i0 += 2 * s)
        for (int64_t j = i0; j < i0 + s; j++) {
            p0 += creal(amp[j]) * creal(amp[j]) + cimag(amp[j]) * cimag(amp[j]);
            p1 += creal(amp[j + s]) * creal(amp[j + s]) + cimag(amp[j + s]) * cimag(amp[j + s]);
        }
    int out = u * (p0 + p1) < p1 ? 1 : 0;
    if (p1 <= 0) out = 0;
    if (p0 <= 0) out = 1;
    double f = 1 / sqrt(out ? p1 : p0);
    for (int64_t i0 = 0; i0 < dim; i0 += 2 * s)
        for (int64_t j = i0; j < i0 + s; j++) {
            amp[j] = out ? 0 : amp[j] * f;
            amp[j + s] = out ? amp[j + s] * f : 0;
        }
    return out;
}

hq_status hq_sv_measure(hq_sv *sv, int qubit, hq_rng *rng, int *outcome) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!rng || !outcome)
        return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_measure: %s is NULL",
                       rng ? "outcome" : "rng");
    hq_status st = check_qubits(sv, "hq_sv_measure", &qubit, 1);
    if (st) return st;
    *outcome = collapse(sv->amp, sv->n, qubit, hq_rng_uniform(rng));
    return HQ_OK;
}

static void flip(hq_cplx *amp, int n, int q) {
    const int64_t dim = (int64_t)1 << n, s = (int64_t)1 << q;
    for (int64_t i0 = 0; i0 < dim; i0 += 2 * s)
        for (int64_t j = i0; j < i0 + s; j++) {
            hq_cplx t = amp[j];
            amp[j] = amp[j + s];
            amp[j + s] = t;
        }
}

hq_status hq_sv_reset_qubit(hq_sv *sv, int qubit, hq_rng *rng) {
    HQ_CHECK_HANDLE(sv, HQ_MAGIC_SV);
    if (!rng) return SV_FAIL(sv, HQ_ERR_INVALID_ARG, "hq_sv_reset_qubit: rng is NULL");
    hq_status st = check_qubits(sv, "hq_sv_reset_qubit", &qubit, 1);
    if (st) return st;
    if (collapse(sv->amp, sv->n, qubit, hq_rng_uniform(rng))) flip(sv->amp, sv->n, qubit);
    return HQ_OK;
}

/* ==== run ============================================================================= */

/* The basis index at cumulative probability u (in [0, 1)) of a normalised state. */
static uint64_t sample_one(const hq_cplx *amp, int64_t dim, double u) {
    double cum = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < dim; i++) {
        double p = creal(amp[i]) * creal(amp[i]) + cimag(amp[i]) * cimag(amp[i]);
        if (p <= 0) continue;
        cum += p;
        last = i;
        if (u < cum) return (uint64_t)i;
    }
    return (uint64_t)last;
}

/* Classical register value of creg r from the bit array. */
static uint64_t creg_value(const hq_circuit *c, int r, const uint8_t *bits) {
    hq_reg reg = hq_circuit_creg(c, r);
    uint64_t v = 0;
    for (int i = 0; i < reg.size && i < 64; i++) v |= (uint64_t)bits[reg.offset + i] << i;
    return v;
}

static uint64_t bits_value(const uint8_t *bits, int nb) {
    uint64_t v = 0;
    for (int i = 0; i < nb; i++) v |= (uint64_t)bits[i] << i;
    return v;
}

/* One shot of a dynamic circuit from op `from` on, state in amp (modified). */
static hq_status run_shot(hq_cplx *amp, int n, const hq_circuit *c, const double *angles,
                          int64_t from, hq_rng *r, uint8_t *bits) {
    const hq_op *ops = hq_circuit_ops(c);
    const int64_t n_ops = hq_circuit_n_ops(c);
    for (int64_t i = from; i < n_ops; i++) {
        const hq_op *op = &ops[i];
        if (op->cond_creg >= 0 && creg_value(c, op->cond_creg, bits) != op->cond_val) continue;
        switch (op->gate) {
        case HQ_GATE_BARRIER: break;
        case HQ_GATE_MEASURE:
            bits[op->clbit] = (uint8_t)collapse(amp, n, op->q[0], hq_rng_uniform(r));
            break;
        case HQ_GATE_RESET:
            if (collapse(amp, n, op->q[0], hq_rng_uniform(r))) flip(amp, n, op->q[0]);
            break;
        default: {
            hq_status st = apply_ops(amp, n, c, angles, i, i + 1);
            if (st) return st;
        }
        }
    }
    return HQ_OK;
}

hq_status hq_sv_run(const hq_circuit *c, const double *sym, int64_t shots, uint64_t seed,
                    uint64_t stream, hq_counts *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_run: out is NULL");
    hq_counts_init(out, 1);
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_run: circuit is NULL");
    if (shots < 1 || shots > SV_MAX_SHOTS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_sv_run: shots %lld out of range [1, 2^40]",
                        (long long)shots);
    const int n = hq_circuit_n_qubits(c), nc = hq_circuit_n_clbits(c);
    const hq_op *ops = hq_circuit_ops(c);
    const int64_t n_ops = hq_circuit_n_ops(c);
    int64_t first_nonunitary = n_ops;
    bool any_measure = false;
    for (int64_t i = 0; i < n_ops; i++) {
        bool nonu =
            ops[i].gate == HQ_GATE_MEASURE || ops[i].gate == HQ_GATE_RESET || ops[i].cond_creg >= 0;
        if (nonu && first_nonunitary == n_ops) first_nonunitary = i;
        if (ops[i].gate == HQ_GATE_MEASURE) any_measure = true;
    }
    if (any_measure && nc > 64)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "hq_sv_run: %d classical bits; counts hold at most 64", nc);
    if (!any_measure && n > 64)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "hq_sv_run: no measurement, and measuring all %d qubits exceeds the "
                        "64-bit outcome of counts",
                        n);
    hq_status st = sv_check_symbols("hq_sv_run", c, sym);
    if (st) return st;
    bool dynamic;
    st = sv_circuit_dynamic("hq_sv_run", c, &dynamic);
    if (st) return st;
    st = sv_check_memory("hq_sv_run", n, dynamic ? 2 : 1);
    if (st) return st;
    double *angles = NULL;
    hq_cplx *amp = NULL, *work = NULL;
    uint8_t *bits = NULL;
    st = sv_eval_angles("hq_sv_run", c, sym, &angles);
    if (st) return st;
    const int64_t dim = (int64_t)1 << n;
    amp = sv_alloc_amps(n);
    if (!amp) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_run: out of memory for %d qubits", n);
        goto done;
    }
    memset(amp, 0, (size_t)dim * sizeof *amp);
    amp[0] = 1;
    if (!dynamic) {
        st = apply_ops(amp, n, c, angles, 0, n_ops);
        if (st) goto done;
        hq_counts raw;
        hq_counts_init(&raw, n);
        st = sample_amps(amp, dim, shots, seed, stream, &raw);
        if (st == HQ_OK && !any_measure) {
            hq_counts_free(out);
            *out = raw;
            hq_counts_sort(out);
            goto done;
        }
        /* map basis index -> classical register through the (terminal) measurements:
         * clbit c holds the qubit measured into it last */
        int src[64];
        for (int b = 0; b < 64; b++) src[b] = -1;
        for (int64_t i = 0; i < n_ops; i++)
            if (ops[i].gate == HQ_GATE_MEASURE) src[ops[i].clbit] = ops[i].q[0];
        hq_counts_init(out, HQ_MAX(nc, 1));
        for (int64_t j = 0; st == HQ_OK && j < raw.n; j++) {
            uint64_t v = 0;
            for (int b = 0; b < nc; b++)
                if (src[b] >= 0) v |= (raw.outcome[j] >> src[b] & 1) << b;
            st = hq_counts_add(out, v, raw.count[j]);
        }
        hq_counts_free(&raw);
        if (st) goto done;
        hq_counts_sort(out);
        goto done;
    }
    /* dynamic: the unitary prefix once, then one trajectory per shot */
    st = apply_ops(amp, n, c, angles, 0, first_nonunitary);
    if (st) goto done;
    work = sv_alloc_amps(n);
    bits = hq_calloc((size_t)HQ_MAX(nc, 1), 1);
    if (!work || !bits) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_sv_run: out of memory for %d qubits", n);
        goto done;
    }
    hq_counts_init(out, any_measure ? HQ_MAX(nc, 1) : n);
    for (int64_t s = 0; s < shots; s++) {
        memcpy(work, amp, (size_t)dim * sizeof *amp);
        memset(bits, 0, (size_t)HQ_MAX(nc, 1));
        hq_rng r;
        hq_rng_init(&r, seed, stream, (uint64_t)s << 32);
        st = run_shot(work, n, c, angles, first_nonunitary, &r, bits);
        if (st) goto done;
        uint64_t v = any_measure ? bits_value(bits, nc) : sample_one(work, dim, hq_rng_uniform(&r));
        st = hq_counts_add(out, v, 1);
        if (st) goto done;
        if ((s & 1023) == 1023) hq_counts_sort(out); /* keep the histogram compact */
    }
    hq_counts_sort(out);
done:
    if (st) {
        hq_counts_free(out);
        hq_counts_init(out, 1);
    }
    hq_free(angles);
    hq_free(amp);
    hq_free(work);
    hq_free(bits);
    return st;
}
