/*
 * backends/densitymatrix_impl.h — internals shared by densitymatrix.c (state, kernels,
 * channels, calc) and densitymatrix_run.c (circuit execution). Not a public header.
 */
#ifndef HQ_DENSITYMATRIX_IMPL_H
#define HQ_DENSITYMATRIX_IMPL_H

#include "backends/densitymatrix.h"

#define HQ_MAGIC_DM 0x444d4154u /* "DMAT" */

struct hq_dm {
    hq_handle h;  /* magic HQ_MAGIC_DM + error detail */
    int n;        /* qubits */
    int64_t dim;  /* 2^n: rows = columns */
    hq_cplx *rho; /* (dim, dim) row-major, 64-byte aligned, Hermitian */
};

/* ==== block stages ====================================================================== */

/*
 * A k-qubit operation (k <= 3) maps every 2^k x 2^k block B[a][b] = ρ[R|off(a), C|off(b)]
 * (off(a) = the operand bits of local index a: bit j of a -> qubit q[j]) through a short
 * list of stages. Every stage is a linear, Hermiticity-preserving map on the block.
 */
typedef enum dm_stage_kind {
    DM_ST_MAT = 0, /* B <- U B U†, U = m (d x d) */
    DM_ST_MONO,    /* monomial U (one nonzero per row, U[a][perm[a]]): B[a][b] <- m[a*d+b] *
                      B[perm a][perm b], m[a*d+b] = U[a][perm a] conj(U[b][perm b]); the
                      multiply is skipped if !phase */
    DM_ST_DEPOL,   /* B <- (1−λ) B + λ Tr(B)/d I; c[0] = λ */
    DM_ST_RELAX,   /* operand j: populations (x = B[a][b], y = B[a|j][b|j], a_j = b_j = 0) <-
                      (c0 x + c1 y, c2 x + c3 y); coherences (a_j != b_j) <- c4 · B */
    DM_ST_PAULI,   /* operand j, Pauli channel: populations (x, y) <- (c0 x + c1 y, c1 x + c0 y);
                      coherences (u = B[a][b|j], v = B[a|j][b]) <- (c2 u + c3 v, c3 u + c2 v) */
    DM_ST_SUPER,   /* vec(B) <- S vec(B), vec index a*d + b, S = s (d² x d², borrowed) */
} dm_stage_kind;

typedef struct dm_stage {
    int kind;         /* dm_stage_kind */
    int j;            /* RELAX / PAULI: operand (bit of the local index) */
    bool phase;       /* MONO: some phase differs from 1 */
    double c[5];      /* real coefficients (see the kinds) */
    uint8_t perm[8];  /* MONO: column of the nonzero of row a */
    hq_cplx m[64];    /* MAT: U (d x d); MONO: phase products (d x d) */
    const hq_cplx *s; /* SUPER: superoperator, borrowed for the call */
} dm_stage;

#define DM_MAX_STAGES 8

/* Apply stages st[0..ns) to every block of rho (n qubits) over operands q[0..k), 1 <= k <= 3,
 * q distinct and in range (not checked here). Only the blocks on and above the block
 * diagonal are read; the others are written as their conjugate transposes (ρ must be
 * Hermitian on entry). dm_apply_stages picks the fastest kernel; _ref is the scalar
 * reference kernel (every case), kept for tests and as the fallback. */
void dm_apply_stages(hq_cplx *rho, int n, const int *q, int k, const dm_stage *st, int ns);
void dm_apply_stages_ref(hq_cplx *rho, int n, const int *q, int k, const dm_stage *st, int ns);

/* Insert a zero bit at each (ascending) position of pos[0..k) into x. */
static inline int64_t dm_insert_zeros(int64_t x, const int *pos, int k) {
    for (int i = 0; i < k; i++) {
        int64_t low = x & (((int64_t)1 << pos[i]) - 1);
        x = ((x >> pos[i]) << (pos[i] + 1)) | low;
    }
    return x;
}

/* Sort pos[0..k) ascending (k <= 8: insertion sort), the order dm_insert_zeros needs. */
static inline void dm_sort_positions(int *pos, int k) {
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && pos[j - 1] > pos[j]; j--) {
            int t = pos[j];
            pos[j] = pos[j - 1];
            pos[j - 1] = t;
        }
}

/* Stage for unitary u (d x d): MONO if monomial, else MAT. Returns false (and no stage) if
 * u is exactly the identity. */
bool dm_stage_unitary(dm_stage *s, const hq_cplx *u, int k);
/* RELAX stage on operand j for thermal relaxation factors e1 = exp(-t/T1),
 * e2 = exp(-t/T2), excited population pe. */
void dm_stage_relax(dm_stage *s, int j, double e1, double e2, double pe);
/* Generic RELAX stage from its five coefficients. */
void dm_stage_relax_raw(dm_stage *s, int j, double c0, double c1, double c2, double c3, double c4);
void dm_stage_depol(dm_stage *s, double lambda);

/* Append the stages of a noise channel (depolarizing, then relaxation of each operand) to
 * st[*ns]; identity parts add nothing. */
void dm_stages_from_channel(dm_stage *st, int *ns, const hq_noise_channel *ch);

/* Bytes of one n-qubit density matrix, and whether it fits the machine; on failure a
 * message is recorded for `who`. */
hq_status dm_check_size(const char *who, int n, size_t *bytes);
/* Physical memory of the machine in bytes (0 if unknown). */
size_t dm_phys_mem(void);

/* Readout error of circuit qubit q from noise (NULL: none) through layout. */
void dm_readout_of(const hq_noise_model *noise, const int *layout, int q, double *p01, double *p10);
/* Validate layout for an n-qubit circuit against noise (either may be NULL). */
hq_status dm_check_layout(const char *who, const hq_noise_model *noise, const int *layout, int n);

/* Draw shots from a distribution (outcomes out[0..m), probs p[0..m), summing to ~1) into
 * counts (initialised here, n_bits wide, sorted). */
hq_status dm_sample_dist(const char *who, const uint64_t *outcome, const double *p, int64_t m,
                         int n_bits, int64_t shots, uint64_t seed, uint64_t stream, hq_counts *out);

#endif /* HQ_DENSITYMATRIX_IMPL_H */
