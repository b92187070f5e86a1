/*
 * backends/densitymatrix.c — the density-matrix state: creation, block kernels, gates,
 * channels, measurement, calc functions, readout and sampling (see densitymatrix.h).
 * Whole-circuit execution lives in densitymatrix_run.c.
 */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/densitymatrix_impl.h"
#include "backends/noise_impl.h"

#define UNITARY_TOL 1e-10 /* max |U U† − I| entry for apply_matrix */
#define KRAUS_TOL   1e-10 /* max |Σ K†K − I| entry for apply_kraus */
#define STATE_TOL   1e-10 /* norm / trace / Hermiticity of caller-supplied states */

/* ==== size and memory =================================================================== */

size_t dm_phys_mem(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    size_t b;
    if (!hq_mul_ok((size_t)pages, (size_t)page, &b)) return SIZE_MAX;
    return b;
}

hq_status dm_check_size(const char *who, int n, size_t *bytes) {
    if (n < 1 || n > HQ_DM_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d qubits out of range [1, %d]", who, n,
                        HQ_DM_MAX_QUBITS);
    size_t b = ((size_t)1 << (2 * n)) * sizeof(hq_cplx);
    size_t mem = dm_phys_mem();
    if (mem && b > mem)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: a %d-qubit density matrix needs %.1f GiB, more than the %.1f GiB "
                        "of physical memory\n---> HINT: use the statevector backend for "
                        "noiseless circuits, or fewer qubits",
                        who, n, (double)b / (1 << 30), (double)mem / (1 << 30));
    *bytes = b;
    return HQ_OK;
}

/* ==== create, free, init ================================================================ */

hq_status hq_dm_create(int n_qubits, hq_dm **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_create: out is NULL");
    *out = NULL;
    size_t bytes = 0;
    hq_status st = dm_check_size("hq_dm_create", n_qubits, &bytes);
    if (st) return st;
    hq_dm *dm = hq_calloc(1, sizeof *dm);
    if (!dm) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_dm_create: out of memory");
    /* 2 MiB alignment + a transparent-huge-page hint for large matrices: the kernels touch
     * many rows at once, and 4 KiB pages would make that a TLB miss per row */
    const size_t huge = (size_t)2 << 20;
    dm->rho = hq_aligned_alloc(bytes >= huge ? huge : 64, bytes);
#ifdef MADV_HUGEPAGE
    if (dm->rho && bytes >= huge) madvise(dm->rho, bytes, MADV_HUGEPAGE);
#endif
    if (!dm->rho) {
        hq_free(dm);
        return hq_failf(NULL, HQ_ERR_NOMEM,
                        "hq_dm_create: out of memory allocating %.1f MiB for %d qubits",
                        (double)bytes / (1 << 20), n_qubits);
    }
    dm->h.magic = HQ_MAGIC_DM;
    dm->n = n_qubits;
    dm->dim = (int64_t)1 << n_qubits;
    memset(dm->rho, 0, bytes);
    dm->rho[0] = 1;
    *out = dm;
    return HQ_OK;
}

void hq_dm_free(hq_dm *dm) {
    if (!dm || dm->h.magic != HQ_MAGIC_DM) return;
    hq_free(dm->rho);
    dm->h.magic = HQ_MAGIC_DEAD;
    hq_free(dm);
}

static size_t dm_bytes(const hq_dm *dm) { return (size_t)(dm->dim * dm->dim) * sizeof(hq_cplx); }

hq_status hq_dm_copy(const hq_dm *src, hq_dm **out) {
    HQ_CHECK_HANDLE(src, HQ_MAGIC_DM);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_copy: out is NULL");
    hq_status st = hq_dm_create(src->n, out);
    if (st) return st;
    memcpy((*out)->rho, src->rho, dm_bytes(src));
    return HQ_OK;
}

hq_status hq_dm_init_zero(hq_dm *dm) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    memset(dm->rho, 0, dm_bytes(dm));
    dm->rho[0] = 1;
    return HQ_OK;
}

hq_status hq_dm_init_mixed(hq_dm *dm) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    memset(dm->rho, 0, dm_bytes(dm));
    for (int64_t i = 0; i < dm->dim; i++) dm->rho[i * dm->dim + i] = 1.0 / (double)dm->dim;
    return HQ_OK;
}

hq_status hq_dm_init_pure(hq_dm *dm, const hq_cplx *psi) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!psi) return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "hq_dm_init_pure: psi is NULL");
    double norm = 0;
    for (int64_t i = 0; i < dm->dim; i++) norm += creal(psi[i] * conj(psi[i]));
    if (!(fabs(norm - 1) <= STATE_TOL))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_init_pure: |psi|^2 = %.17g, expected 1 within %g", norm, STATE_TOL);
    for (int64_t r = 0; r < dm->dim; r++)
        for (int64_t c = 0; c < dm->dim; c++) dm->rho[r * dm->dim + c] = psi[r] * conj(psi[c]);
    return HQ_OK;
}

hq_status hq_dm_init_matrix(hq_dm *dm, const hq_cplx *rho) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!rho) return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "hq_dm_init_matrix: rho is NULL");
    int64_t d = dm->dim;
    double tr = 0, herm = 0;
    for (int64_t r = 0; r < d; r++) {
        tr += creal(rho[r * d + r]);
        for (int64_t c = r; c < d; c++)
            herm = fmax(herm, cabs(rho[r * d + c] - conj(rho[c * d + r])));
    }
    if (!(herm <= STATE_TOL))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_init_matrix: rho is not Hermitian (max |rho - rho^H| = %.3g > %g)",
                        herm, STATE_TOL);
    if (!(fabs(tr - 1) <= STATE_TOL))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_init_matrix: trace %.17g, expected 1 within %g", tr, STATE_TOL);
    memcpy(dm->rho, rho, dm_bytes(dm));
    return HQ_OK;
}

int hq_dm_n_qubits(const hq_dm *dm) { return hq_handle_ok(dm, HQ_MAGIC_DM) ? dm->n : 0; }

const hq_cplx *hq_dm_data(const hq_dm *dm) {
    return hq_handle_ok(dm, HQ_MAGIC_DM) ? dm->rho : NULL;
}

/* ==== block kernels (reference) ========================================================= */

/* The scalar kernels below are the reference: they handle every operand position and
 * every n; densitymatrix_kernels.c holds the lane-vectorised kernels used when the
 * operands leave the two lowest index bits free (and falls back to these otherwise). */

/* One stage on one block (d = 2^k). Inlined into the k-specialised kernels so the loops
 * have constant trip counts. */
static inline __attribute__((always_inline)) void stage_run(hq_cplx *restrict B, const int k,
                                                            const dm_stage *s) {
    const int d = 1 << k;
    switch (s->kind) {
    case DM_ST_MAT: {
        hq_cplx T[64];
        const hq_cplx *U = s->m;
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) {
                hq_cplx acc = 0;
                for (int x = 0; x < d; x++) acc += U[a * d + x] * B[x * d + b];
                T[a * d + b] = acc;
            }
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) {
                hq_cplx acc = 0;
                for (int y = 0; y < d; y++) acc += T[a * d + y] * conj(U[b * d + y]);
                B[a * d + b] = acc;
            }
        break;
    }
    case DM_ST_MONO: {
        hq_cplx T[64];
        for (int i = 0; i < d * d; i++) T[i] = B[i];
        if (s->phase) {
            for (int a = 0; a < d; a++)
                for (int b = 0; b < d; b++)
                    B[a * d + b] = s->m[a * d + b] * T[s->perm[a] * d + s->perm[b]];
        } else {
            for (int a = 0; a < d; a++)
                for (int b = 0; b < d; b++) B[a * d + b] = T[s->perm[a] * d + s->perm[b]];
        }
        break;
    }
    case DM_ST_DEPOL: {
        double lam = s->c[0];
        hq_cplx tr = 0;
        for (int a = 0; a < d; a++) tr += B[a * d + a];
        for (int i = 0; i < d * d; i++) B[i] *= 1 - lam;
        for (int a = 0; a < d; a++) B[a * d + a] += lam * tr / d;
        break;
    }
    case DM_ST_RELAX: {
        const int bit = 1 << s->j;
        const double c0 = s->c[0], c1 = s->c[1], c2 = s->c[2], c3 = s->c[3], c4 = s->c[4];
        for (int a = 0; a < d; a++) {
            if (a & bit) continue;
            for (int b = 0; b < d; b++) {
                if (b & bit) continue;
                hq_cplx x = B[a * d + b], y = B[(a | bit) * d + (b | bit)];
                B[a * d + b] = c0 * x + c1 * y;
                B[(a | bit) * d + (b | bit)] = c2 * x + c3 * y;
                B[a * d + (b | bit)] *= c4;
                B[(a | bit) * d + b] *= c4;
            }
        }
        break;
    }
    case DM_ST_PAULI: {
        const int bit = 1 << s->j;
        const double c0 = s->c[0], c1 = s->c[1], c2 = s->c[2], c3 = s->c[3];
        for (int a = 0; a < d; a++) {
            if (a & bit) continue;
            for (int b = 0; b < d; b++) {
                if (b & bit) continue;
                hq_cplx x = B[a * d + b], y = B[(a | bit) * d + (b | bit)];
                B[a * d + b] = c0 * x + c1 * y;
                B[(a | bit) * d + (b | bit)] = c1 * x + c0 * y;
                hq_cplx u = B[a * d + (b | bit)], v = B[(a | bit) * d + b];
                B[a * d + (b | bit)] = c2 * u + c3 * v;
                B[(a | bit) * d + b] = c3 * u + c2 * v;
            }
        }
        break;
    }
    case DM_ST_SUPER: {
        hq_cplx T[64];
        const int dd = d * d;
        for (int i = 0; i < dd; i++) T[i] = B[i];
        for (int o = 0; o < dd; o++) {
            hq_cplx acc = 0;
            const hq_cplx *row = s->s + (size_t)o * dd;
            for (int i = 0; i < dd; i++) acc += row[i] * T[i];
            B[o] = acc;
        }
        break;
    }
    default: HQ_ASSERT(!"unknown stage kind");
    }
}

/* Insert a zero bit at each (ascending) position of pos[0..k) into x. */
/*
 * The kernel: every block pair (R, C) with R <= C (in base-index order) is gathered, run
 * through the stages and scattered; the mirror block (C, R) receives the conjugate
 * transpose. Blocks are visited in tiles of TILE x TILE base indices (about 32 x 32
 * entries), so a tile and its mirror stay in L1 and in a few TLB entries whatever n is;
 * walking whole rows would write the mirror down a column, one page per block.
 */
static inline __attribute__((always_inline)) void kernel(hq_cplx *rho, int n, const int *q,
                                                         const int k, const dm_stage *st, int ns) {
    const int d = 1 << k;
    const int64_t TILE = 32 >> k;
    const int64_t dim = (int64_t)1 << n, nb = dim >> k;
    int64_t off[8];
    for (int a = 0; a < d; a++) {
        off[a] = 0;
        for (int j = 0; j < k; j++)
            if (a >> j & 1) off[a] |= (int64_t)1 << q[j];
    }
    int pos[3];
    for (int j = 0; j < k; j++) pos[j] = q[j];
    dm_sort_positions(pos, k);
    int64_t rbase[32], cbase[32];
    for (int64_t tr = 0; tr < nb; tr += TILE) {
        const int64_t nr = HQ_MIN(TILE, nb - tr);
        for (int64_t i = 0; i < nr; i++) rbase[i] = dm_insert_zeros(tr + i, pos, k);
        for (int64_t tc = tr; tc < nb; tc += TILE) {
            const int64_t nc = HQ_MIN(TILE, nb - tc);
            for (int64_t i = 0; i < nc; i++) cbase[i] = dm_insert_zeros(tc + i, pos, k);
            for (int64_t i = 0; i < nr; i++) {
                const int64_t R = rbase[i];
                hq_cplx *rp[8];
                for (int a = 0; a < d; a++) rp[a] = rho + (R | off[a]) * dim;
                for (int64_t j = tc == tr ? i : 0; j < nc; j++) {
                    const int64_t C = cbase[j];
                    hq_cplx B[64];
                    for (int a = 0; a < d; a++)
                        for (int b = 0; b < d; b++) B[a * d + b] = rp[a][C | off[b]];
                    for (int s = 0; s < ns; s++) stage_run(B, k, &st[s]);
                    for (int a = 0; a < d; a++)
                        for (int b = 0; b < d; b++) rp[a][C | off[b]] = B[a * d + b];
                    if (C != R)
                        for (int b = 0; b < d; b++) {
                            hq_cplx *mr = rho + (C | off[b]) * dim + R;
                            for (int a = 0; a < d; a++) mr[off[a]] = conj(B[a * d + b]);
                        }
                }
            }
        }
    }
}

static void kernel1(hq_cplx *rho, int n, const int *q, const dm_stage *st, int ns) {
    kernel(rho, n, q, 1, st, ns);
}
static void kernel2(hq_cplx *rho, int n, const int *q, const dm_stage *st, int ns) {
    kernel(rho, n, q, 2, st, ns);
}
static void kernel3(hq_cplx *rho, int n, const int *q, const dm_stage *st, int ns) {
    kernel(rho, n, q, 3, st, ns);
}

void dm_apply_stages_ref(hq_cplx *rho, int n, const int *q, int k, const dm_stage *st, int ns) {
    if (ns <= 0) return;
    switch (k) {
    case 1: kernel1(rho, n, q, st, ns); break;
    case 2: kernel2(rho, n, q, st, ns); break;
    case 3: kernel3(rho, n, q, st, ns); break;
    default: HQ_ASSERT(!"block size out of range");
    }
}

/* ==== stage builders ==================================================================== */

bool dm_stage_unitary(dm_stage *s, const hq_cplx *u, int k) {
    const int d = 1 << k;
    memset(s, 0, sizeof *s);
    bool mono = true, ident = true, phase = false;
    for (int a = 0; a < d && mono; a++) {
        int nz = 0;
        for (int b = 0; b < d; b++)
            if (u[a * d + b] != 0) {
                nz++;
                s->perm[a] = (uint8_t)b;
            }
        if (nz != 1) mono = false;
    }
    if (mono) {
        for (int a = 0; a < d; a++) {
            hq_cplx ua = u[a * d + s->perm[a]];
            if (s->perm[a] != a || ua != 1) ident = false;
            if (ua != 1) phase = true;
        }
        if (ident) return false;
        s->kind = DM_ST_MONO;
        s->phase = phase;
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                s->m[a * d + b] = u[a * d + s->perm[a]] * conj(u[b * d + s->perm[b]]);
        return true;
    }
    s->kind = DM_ST_MAT;
    memcpy(s->m, u, (size_t)(d * d) * sizeof *u);
    return true;
}

void dm_stage_relax_raw(dm_stage *s, int j, double c0, double c1, double c2, double c3, double c4) {
    memset(s, 0, sizeof *s);
    s->kind = DM_ST_RELAX;
    s->j = j;
    s->c[0] = c0;
    s->c[1] = c1;
    s->c[2] = c2;
    s->c[3] = c3;
    s->c[4] = c4;
}

void dm_stage_relax(dm_stage *s, int j, double e1, double e2, double pe) {
    /* populations: ρ11' = pe(1−e1)(ρ00 + ρ11) + e1 ρ11, ρ00' = ρ00 + ρ11 − ρ11' */
    double g = 1 - e1;
    dm_stage_relax_raw(s, j, 1 - pe * g, (1 - pe) * g, pe * g, e1 + pe * g, e2);
}

void dm_stage_depol(dm_stage *s, double lambda) {
    memset(s, 0, sizeof *s);
    s->kind = DM_ST_DEPOL;
    s->c[0] = lambda;
}

void dm_stages_from_channel(dm_stage *st, int *ns, const hq_noise_channel *ch) {
    if (ch->depol > 0) dm_stage_depol(&st[(*ns)++], ch->depol);
    for (int j = 0; j < ch->nq; j++)
        if (ch->e1[j] < 1 || ch->e2[j] < 1)
            dm_stage_relax(&st[(*ns)++], j, ch->e1[j], ch->e2[j], ch->pe[j]);
}

/* ==== argument checks =================================================================== */

static hq_status check_qubits(hq_dm *dm, const char *who, const int *q, int k) {
    if (!q) return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: qubits is NULL", who);
    for (int j = 0; j < k; j++) {
        if (q[j] < 0 || q[j] >= dm->n)
            return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: qubit %d out of range [0, %d)",
                            who, q[j], dm->n);
        for (int i = 0; i < j; i++)
            if (q[i] == q[j])
                return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                                "%s: qubit %d appears twice (operands must be distinct)", who,
                                q[j]);
    }
    return HQ_OK;
}

static hq_status check_prob(hq_dm *dm, const char *who, const char *name, double p, double hi) {
    if (!(p >= 0 && p <= hi))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: %s = %g out of range [0, %g]", who,
                        name, p, hi);
    return HQ_OK;
}

/* ==== gates ============================================================================= */

hq_status hq_dm_apply_gate(hq_dm *dm, hq_gate g, const int *qubits, const double *params) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi || gi->kind != HQ_KIND_UNITARY)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_apply_gate: gate %d is not a unitary gate of the gate table%s",
                        (int)g,
                        gi ? " (use hq_dm_apply_reset / hq_dm_measure for reset and measure)" : "");
    if (gi->nq > dm->n)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_apply_gate: %s acts on %d qubits, the density matrix has %d",
                        gi->name, gi->nq, dm->n);
    hq_status st = check_qubits(dm, "hq_dm_apply_gate", qubits, gi->nq);
    if (st) return st;
    if (gi->np && !params)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_apply_gate: %s needs %d parameter(s), params is NULL", gi->name,
                        gi->np);
    for (int i = 0; i < gi->np; i++)
        if (!isfinite(params[i]))
            return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                            "hq_dm_apply_gate: parameter %d of %s is not finite", i, gi->name);
    hq_cplx u[64];
    st = hq_gate_matrix(g, params, u);
    if (st) return hq_fail_prefix(&dm->h.err, st, "hq_dm_apply_gate");
    dm_stage s;
    if (dm_stage_unitary(&s, u, gi->nq)) dm_apply_stages(dm->rho, dm->n, qubits, gi->nq, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_matrix(hq_dm *dm, const hq_cplx *u, const int *qubits, int k) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (k < 1 || k > 3 || k > dm->n)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_apply_matrix: k = %d out of range [1, %d]", k, HQ_MIN(3, dm->n));
    if (!u) return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "hq_dm_apply_matrix: u is NULL");
    hq_status st = check_qubits(dm, "hq_dm_apply_matrix", qubits, k);
    if (st) return st;
    const int d = 1 << k;
    double err = 0;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            hq_cplx acc = 0;
            for (int x = 0; x < d; x++) acc += u[a * d + x] * conj(u[b * d + x]);
            if (!isfinite(creal(acc)) || !isfinite(cimag(acc))) err = INFINITY;
            err = fmax(err, cabs(acc - (a == b)));
        }
    if (!(err <= UNITARY_TOL))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_apply_matrix: u is not unitary (max |U U^H - I| = %.3g > %g)\n"
                        "---> HINT: use hq_dm_apply_kraus for non-unitary maps",
                        err, UNITARY_TOL);
    dm_stage s;
    if (dm_stage_unitary(&s, u, k)) dm_apply_stages(dm->rho, dm->n, qubits, k, &s, 1);
    return HQ_OK;
}

/* ==== channels ========================================================================== */

hq_status hq_dm_apply_depolarizing(hq_dm *dm, int q, double p) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    hq_status st = check_qubits(dm, "hq_dm_apply_depolarizing", &q, 1);
    if (!st) st = check_prob(dm, "hq_dm_apply_depolarizing", "p", p, 1);
    if (st) return st;
    if (p == 0) return HQ_OK;
    dm_stage s;
    dm_stage_depol(&s, p * 4.0 / 3.0);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_depolarizing2(hq_dm *dm, int q0, int q1, double p) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    int q[2] = {q0, q1};
    if (dm->n < 2)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "hq_dm_apply_depolarizing2: needs 2 qubits, the density matrix has 1");
    hq_status st = check_qubits(dm, "hq_dm_apply_depolarizing2", q, 2);
    if (!st) st = check_prob(dm, "hq_dm_apply_depolarizing2", "p", p, 1);
    if (st) return st;
    if (p == 0) return HQ_OK;
    dm_stage s;
    dm_stage_depol(&s, p * 16.0 / 15.0);
    dm_apply_stages(dm->rho, dm->n, q, 2, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_pauli_channel(hq_dm *dm, int q, double px, double py, double pz) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const char *who = "hq_dm_apply_pauli_channel";
    hq_status st = check_qubits(dm, who, &q, 1);
    if (!st) st = check_prob(dm, who, "px", px, 1);
    if (!st) st = check_prob(dm, who, "py", py, 1);
    if (!st) st = check_prob(dm, who, "pz", pz, 1);
    if (st) return st;
    double pi = 1 - px - py - pz;
    if (pi < -1e-12)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: px + py + pz = %.17g exceeds 1", who,
                        px + py + pz);
    if (pi < 0) pi = 0;
    if (px == 0 && py == 0 && pz == 0) return HQ_OK;
    dm_stage s;
    memset(&s, 0, sizeof s);
    s.kind = DM_ST_PAULI;
    s.j = 0;
    s.c[0] = pi + pz; /* populations stay */
    s.c[1] = px + py; /* populations swap */
    s.c[2] = pi - pz; /* coherence stays */
    s.c[3] = px - py; /* coherence transposes */
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_amplitude_damping(hq_dm *dm, int q, double gamma) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    hq_status st = check_qubits(dm, "hq_dm_apply_amplitude_damping", &q, 1);
    if (!st) st = check_prob(dm, "hq_dm_apply_amplitude_damping", "gamma", gamma, 1);
    if (st) return st;
    if (gamma == 0) return HQ_OK;
    dm_stage s;
    dm_stage_relax(&s, 0, 1 - gamma, sqrt(1 - gamma), 0);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_phase_damping(hq_dm *dm, int q, double lambda) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    hq_status st = check_qubits(dm, "hq_dm_apply_phase_damping", &q, 1);
    if (!st) st = check_prob(dm, "hq_dm_apply_phase_damping", "lambda", lambda, 1);
    if (st) return st;
    if (lambda == 0) return HQ_OK;
    dm_stage s;
    dm_stage_relax(&s, 0, 1, sqrt(1 - lambda), 0);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_thermal_relaxation(hq_dm *dm, int q, double t1, double t2, double t,
                                         double excited_population) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const char *who = "hq_dm_apply_thermal_relaxation";
    hq_status st = check_qubits(dm, who, &q, 1);
    if (st) return st;
    if (!(t1 > 0))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "%s: T1 = %g must be > 0 (INFINITY for no amplitude damping)", who, t1);
    if (!(t2 > 0))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "%s: T2 = %g must be > 0 (INFINITY for no dephasing)", who, t2);
    if (!(t2 <= 2 * t1 * (1 + 1e-12)))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "%s: T2 = %g exceeds 2*T1 = %g: such a channel is not completely "
                        "positive (physical qubits have T2 <= 2*T1)",
                        who, t2, 2 * t1);
    if (!(t >= 0 && isfinite(t)))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: time = %g must be finite and >= 0",
                        who, t);
    st = check_prob(dm, who, "excited_population", excited_population, 1);
    if (st) return st;
    double e1 = exp(-t / t1), e2 = exp(-t / t2);
    if (e1 == 1 && e2 == 1) return HQ_OK;
    dm_stage s;
    dm_stage_relax(&s, 0, e1, e2, excited_population);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_reset(hq_dm *dm, int q) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    hq_status st = check_qubits(dm, "hq_dm_apply_reset", &q, 1);
    if (st) return st;
    dm_stage s;
    dm_stage_relax_raw(&s, 0, 1, 1, 0, 0, 0);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_dephasing_measurement(hq_dm *dm, int q) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    hq_status st = check_qubits(dm, "hq_dm_apply_dephasing_measurement", &q, 1);
    if (st) return st;
    dm_stage s;
    dm_stage_relax_raw(&s, 0, 1, 0, 0, 1, 0);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    return HQ_OK;
}

hq_status hq_dm_apply_kraus(hq_dm *dm, const hq_cplx *kraus, int m, const int *qubits, int k) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const char *who = "hq_dm_apply_kraus";
    if (k < 1 || k > 3 || k > dm->n)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: k = %d out of range [1, %d]", who, k,
                        HQ_MIN(3, dm->n));
    if (m < 1 || m > 4096)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %d Kraus operators, expected 1 to 4096", who, m);
    if (!kraus) return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "%s: kraus is NULL", who);
    hq_status st = check_qubits(dm, who, qubits, k);
    if (st) return st;
    const int d = 1 << k, dd = d * d;
    /* completeness: Σ K†K = I */
    double err = 0;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            hq_cplx acc = 0;
            for (int i = 0; i < m; i++) {
                const hq_cplx *K = kraus + (size_t)i * dd;
                for (int x = 0; x < d; x++) acc += conj(K[x * d + a]) * K[x * d + b];
            }
            if (!isfinite(creal(acc)) || !isfinite(cimag(acc))) err = INFINITY;
            err = fmax(err, cabs(acc - (a == b)));
        }
    if (!(err <= KRAUS_TOL))
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG,
                        "%s: the operators are not trace preserving (max |sum K^H K - I| = %.3g "
                        "> %g)",
                        who, err, KRAUS_TOL);
    /* superoperator S[(a',b'),(a,b)] = Σ_i K_i[a',a] conj(K_i[b',b]) */
    hq_cplx *S = hq_calloc((size_t)dd * dd, sizeof *S);
    if (!S) return hq_failf(&dm->h.err, HQ_ERR_NOMEM, "%s: out of memory", who);
    for (int i = 0; i < m; i++) {
        const hq_cplx *K = kraus + (size_t)i * dd;
        for (int a2 = 0; a2 < d; a2++)
            for (int b2 = 0; b2 < d; b2++)
                for (int a = 0; a < d; a++) {
                    hq_cplx ka = K[a2 * d + a];
                    if (ka == 0) continue;
                    for (int b = 0; b < d; b++)
                        S[(size_t)(a2 * d + b2) * dd + a * d + b] += ka * conj(K[b2 * d + b]);
                }
    }
    dm_stage s;
    memset(&s, 0, sizeof s);
    s.kind = DM_ST_SUPER;
    s.s = S;
    dm_apply_stages(dm->rho, dm->n, qubits, k, &s, 1);
    hq_free(S);
    return HQ_OK;
}

/* ==== measurement ======================================================================= */

static double prob_one(const hq_dm *dm, int q) {
    double p1 = 0;
    for (int64_t i = 0; i < dm->dim; i++)
        if (i >> q & 1) p1 += creal(dm->rho[i * dm->dim + i]);
    return p1;
}

hq_status hq_dm_measure(hq_dm *dm, int q, hq_rng *rng, int *outcome, double *prob) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    hq_status st = check_qubits(dm, "hq_dm_measure", &q, 1);
    if (st) return st;
    if (!rng || !outcome)
        return hq_failf(&dm->h.err, HQ_ERR_INVALID_ARG, "hq_dm_measure: %s is NULL",
                        !rng ? "rng" : "outcome");
    double tr = 0;
    for (int64_t i = 0; i < dm->dim; i++) tr += creal(dm->rho[i * dm->dim + i]);
    double p1 = prob_one(dm, q) / tr;
    p1 = fmin(fmax(p1, 0), 1);
    int m = hq_rng_uniform(rng) < p1;
    double pm = m ? p1 : 1 - p1;
    /* keep the outcome's block, renormalised */
    dm_stage s;
    double f = 1 / (pm * tr);
    if (m)
        dm_stage_relax_raw(&s, 0, 0, 0, 0, f, 0);
    else
        dm_stage_relax_raw(&s, 0, f, 0, 0, 0, 0);
    dm_apply_stages(dm->rho, dm->n, &q, 1, &s, 1);
    *outcome = m;
    if (prob) *prob = pm;
    return HQ_OK;
}

/* ==== calc ============================================================================== */

hq_status hq_dm_calc_probs(const hq_dm *dm, double *probs) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!probs) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_calc_probs: probs is NULL");
    for (int64_t i = 0; i < dm->dim; i++) probs[i] = creal(dm->rho[i * dm->dim + i]);
    return HQ_OK;
}

hq_status hq_dm_calc_marginal(const hq_dm *dm, const int *qubits, int k, double *probs) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const char *who = "hq_dm_calc_marginal";
    if (k < 1 || k > dm->n)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: k = %d out of range [1, %d]", who, k, dm->n);
    if (!qubits || !probs)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is NULL", who,
                        !qubits ? "qubits" : "probs");
    for (int j = 0; j < k; j++) {
        if (qubits[j] < 0 || qubits[j] >= dm->n)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: qubit %d out of range [0, %d)", who,
                            qubits[j], dm->n);
        for (int i = 0; i < j; i++)
            if (qubits[i] == qubits[j])
                return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: qubit %d appears twice", who,
                                qubits[j]);
    }
    memset(probs, 0, ((size_t)1 << k) * sizeof *probs);
    for (int64_t i = 0; i < dm->dim; i++) {
        int64_t s = 0;
        for (int j = 0; j < k; j++) s |= (i >> qubits[j] & 1) << j;
        probs[s] += creal(dm->rho[i * dm->dim + i]);
    }
    return HQ_OK;
}

hq_status hq_dm_calc_expectation(const hq_dm *dm, const hq_pauli *p, double *out) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!p || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_calc_expectation: %s is NULL",
                        !p ? "p" : "out");
    uint64_t mask = dm->n >= 64 ? ~0ull : ((uint64_t)1 << dm->n) - 1;
    if ((p->x | p->z) & ~mask) {
        uint64_t bad = (p->x | p->z) & ~mask;
        int q = 0;
        while (!(bad >> q & 1)) q++;
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_dm_calc_expectation: the Pauli string acts on qubit %d, out of range "
                        "[0, %d)",
                        q, dm->n);
    }
    /* Tr(Pρ) = coef i^{|x&z|} Σ_c (−1)^{|z&c|} ρ[c, c^x] */
    const int64_t d = dm->dim, x = (int64_t)p->x, z = (int64_t)p->z;
    double re = 0, im = 0;
    for (int64_t c = 0; c < d; c++) {
        hq_cplx v = dm->rho[c * d + (c ^ x)];
        if (__builtin_popcountll((uint64_t)(z & c)) & 1) v = -v;
        re += creal(v);
        im += cimag(v);
    }
    hq_cplx acc = re + I * im;
    switch (__builtin_popcountll(p->x & p->z) & 3) {
    case 1: acc *= I; break;
    case 2: acc = -acc; break;
    case 3: acc *= -I; break;
    default: break;
    }
    *out = p->coef * creal(acc);
    return HQ_OK;
}

hq_status hq_dm_calc_purity(const hq_dm *dm, double *out) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_calc_purity: out is NULL");
    double s = 0;
    const int64_t n2 = dm->dim * dm->dim;
    for (int64_t i = 0; i < n2; i++)
        s += creal(dm->rho[i]) * creal(dm->rho[i]) + cimag(dm->rho[i]) * cimag(dm->rho[i]);
    *out = s;
    return HQ_OK;
}

hq_status hq_dm_calc_trace(const hq_dm *dm, double *out) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_calc_trace: out is NULL");
    double s = 0;
    for (int64_t i = 0; i < dm->dim; i++) s += creal(dm->rho[i * dm->dim + i]);
    *out = s;
    return HQ_OK;
}

hq_status hq_dm_calc_fidelity_pure(const hq_dm *dm, const hq_cplx *psi, double *out) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    if (!psi || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_dm_calc_fidelity_pure: %s is NULL",
                        !psi ? "psi" : "out");
    const int64_t d = dm->dim;
    hq_cplx acc = 0;
    for (int64_t r = 0; r < d; r++) {
        hq_cplx row = 0;
        for (int64_t c = 0; c < d; c++) row += dm->rho[r * d + c] * psi[c];
        acc += conj(psi[r]) * row;
    }
    *out = creal(acc);
    return HQ_OK;
}

/* ==== readout and sampling ============================================================== */

hq_status hq_readout_apply(double *probs, int k, const double *p01, const double *p10) {
    if (k < 1 || k > 30)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_readout_apply: k = %d out of range [1, 30]",
                        k);
    if (!probs || !p01 || !p10)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_readout_apply: %s is NULL",
                        !probs ? "probs"
                        : !p01 ? "p01"
                               : "p10");
    for (int j = 0; j < k; j++)
        if (!(p01[j] >= 0 && p01[j] <= 1) || !(p10[j] >= 0 && p10[j] <= 1))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_readout_apply: bit %d: prob_meas0_prep1 = %g, prob_meas1_prep0 = "
                            "%g, each must be in [0, 1]",
                            j, p01[j], p10[j]);
    const int64_t d = (int64_t)1 << k;
    for (int j = 0; j < k; j++) {
        if (p01[j] == 0 && p10[j] == 0) continue;
        const int64_t bit = (int64_t)1 << j;
        for (int64_t i = 0; i < d; i++) {
            if (i & bit) continue;
            double x0 = probs[i], x1 = probs[i | bit];
            probs[i] = (1 - p10[j]) * x0 + p01[j] * x1;
            probs[i | bit] = p10[j] * x0 + (1 - p01[j]) * x1;
        }
    }
    return HQ_OK;
}

void dm_readout_of(const hq_noise_model *noise, const int *layout, int q, double *p01,
                   double *p10) {
    *p01 = *p10 = 0;
    if (!noise) return;
    if (hq_noise_readout(noise, layout ? layout[q] : q, p01, p10) != HQ_OK) *p01 = *p10 = 0;
}

hq_status dm_check_layout(const char *who, const hq_noise_model *noise, const int *layout, int n) {
    int nphys = noise ? hq_noise_n_qubits(noise) : 0;
    if (!layout) {
        if (nphys > 0 && n > nphys)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: the circuit has %d qubits but the noise model describes %d "
                            "physical qubits\n---> HINT: give a layout (circuit qubit -> "
                            "physical qubit) or a model for a larger device",
                            who, n, nphys);
        return HQ_OK;
    }
    for (int i = 0; i < n; i++) {
        if (layout[i] < 0 || (nphys > 0 && layout[i] >= nphys))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: layout[%d] = %d out of range [0, %d) of the noise model's "
                            "physical qubits",
                            who, i, layout[i], nphys > 0 ? nphys : HQ_NOISE_MAX_QUBITS);
        for (int j = 0; j < i; j++)
            if (layout[j] == layout[i])
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "%s: layout maps circuit qubits %d and %d both to physical "
                                "qubit %d",
                                who, j, i, layout[i]);
    }
    return HQ_OK;
}

hq_status dm_sample_dist(const char *who, const uint64_t *outcome, const double *p, int64_t m,
                         int n_bits, int64_t shots, uint64_t seed, uint64_t stream,
                         hq_counts *out) {
    hq_counts_init(out, n_bits);
    if (shots == 0 || m == 0) return HQ_OK;
    double *cdf = hq_malloc((size_t)m * sizeof *cdf);
    int64_t *cnt = hq_calloc((size_t)m, sizeof *cnt);
    if (!cdf || !cnt) {
        hq_free(cdf);
        hq_free(cnt);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", who);
    }
    double acc = 0;
    for (int64_t i = 0; i < m; i++) {
        acc += p[i] > 0 ? p[i] : 0;
        cdf[i] = acc;
    }
    hq_rng rng;
    hq_rng_init(&rng, seed, stream, 0);
    for (int64_t s = 0; s < shots; s++) {
        double u = hq_rng_uniform(&rng) * acc;
        int64_t lo = 0, hi = m - 1; /* first i with cdf[i] > u */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        cnt[lo]++;
    }
    hq_status st = HQ_OK;
    for (int64_t i = 0; i < m && !st; i++)
        if (cnt[i]) st = hq_counts_add(out, outcome[i], cnt[i]);
    hq_free(cdf);
    hq_free(cnt);
    if (st) {
        hq_counts_free(out);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", who);
    }
    hq_counts_sort(out);
    return HQ_OK;
}

hq_status hq_dm_sample(const hq_dm *dm, const hq_noise_model *noise, const int *layout,
                       int64_t shots, uint64_t seed, uint64_t stream, hq_counts *out) {
    HQ_CHECK_HANDLE(dm, HQ_MAGIC_DM);
    const char *who = "hq_dm_sample";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", who);
    hq_counts_init(out, dm->n); /* valid (empty) on every failure below */
    if (shots < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: shots = %lld must be >= 0", who,
                        (long long)shots);
    if (noise && !hq_handle_ok(noise, HQ_MAGIC_NOISE))
        return hq_failf(NULL, HQ_ERR_MISUSE,
                        "%s: invalid noise model handle (freed or not a noise model)", who);
    hq_status st = dm_check_layout(who, noise, layout, dm->n);
    if (st) return st;
    const int64_t d = dm->dim;
    double *probs = hq_malloc((size_t)d * sizeof *probs);
    uint64_t *outc = hq_malloc((size_t)d * sizeof *outc);
    if (!probs || !outc) {
        hq_free(probs);
        hq_free(outc);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", who);
    }
    double p01[HQ_DM_MAX_QUBITS], p10[HQ_DM_MAX_QUBITS];
    for (int q = 0; q < dm->n; q++) dm_readout_of(noise, layout, q, &p01[q], &p10[q]);
    for (int64_t i = 0; i < d; i++) {
        probs[i] = fmax(creal(dm->rho[i * d + i]), 0);
        outc[i] = (uint64_t)i;
    }
    st = hq_readout_apply(probs, dm->n, p01, p10);
    if (!st) st = dm_sample_dist(who, outc, probs, d, dm->n, shots, seed, stream, out);
    hq_free(probs);
    hq_free(outc);
    return st;
}
