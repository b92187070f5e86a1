/*
 * backends/densitymatrix_kernels.c — lane-vectorised block kernels for the density-matrix
 * simulator, and the dispatch between them and the scalar reference kernels of
 * densitymatrix.c.
 *
 * Four blocks that differ only in two free index bits (not operands) are processed together
 * as "lanes": every block entry becomes four real and four imaginary parts in separate
 * arrays, so each stage is straight-line double arithmetic on length-4 vectors that the
 * compiler maps onto SIMD registers (complex × complex = four fused multiply-adds per lane
 * group), instead of one complex number at a time. When the free bits are 0 and 1 the four
 * blocks' entries are adjacent in memory; otherwise they are gathered.
 *
 * Hermitian halving as in the reference kernel, at the granularity of lane groups: the
 * 4 x 4 group of blocks on the diagonal is computed in full (no mirror writes), groups
 * above it are computed and mirrored as conjugate transposes, groups below are never read.
 * Matrices with fewer than two free bits (n - k < 2) use the reference kernel, and so do
 * 3-qubit operations with an operand on bit 0 or 1: gathering lanes for them measured no
 * faster than the scalar kernel (it pays for 1- and 2-qubit operations).
 */
#include "backends/densitymatrix_impl.h"

#define W 4 /* lanes */

typedef struct lanes {
    double re[W];
    double im[W];
} lanes;

/* acc += u * x */
static inline __attribute__((always_inline)) void lane_fma(lanes *restrict acc, hq_cplx u,
                                                           const lanes *restrict x) {
    const double ur = creal(u), ui = cimag(u);
    for (int w = 0; w < W; w++) {
        acc->re[w] += ur * x->re[w] - ui * x->im[w];
        acc->im[w] += ur * x->im[w] + ui * x->re[w];
    }
}

/* acc += x * conj(u) */
static inline __attribute__((always_inline)) void lane_fma_conj(lanes *restrict acc, hq_cplx u,
                                                                const lanes *restrict x) {
    const double ur = creal(u), ui = cimag(u);
    for (int w = 0; w < W; w++) {
        acc->re[w] += ur * x->re[w] + ui * x->im[w];
        acc->im[w] += ur * x->im[w] - ui * x->re[w];
    }
}

static inline __attribute__((always_inline)) void lane_zero(lanes *x) {
    for (int w = 0; w < W; w++) x->re[w] = x->im[w] = 0;
}

static inline __attribute__((always_inline)) void lane_scale(lanes *x, double s) {
    for (int w = 0; w < W; w++) {
        x->re[w] *= s;
        x->im[w] *= s;
    }
}

/* (x, y) <- (c0 x + c1 y, c2 x + c3 y), real coefficients */
static inline __attribute__((always_inline)) void lane_mix(lanes *x, lanes *y, double c0, double c1,
                                                           double c2, double c3) {
    for (int w = 0; w < W; w++) {
        double xr = x->re[w], xi = x->im[w], yr = y->re[w], yi = y->im[w];
        x->re[w] = c0 * xr + c1 * yr;
        x->im[w] = c0 * xi + c1 * yi;
        y->re[w] = c2 * xr + c3 * yr;
        y->im[w] = c2 * xi + c3 * yi;
    }
}

/* One stage on W blocks at once (same semantics as the reference stage_run). */
static inline __attribute__((always_inline)) void stage_run_lanes(lanes *restrict B, const int k,
                                                                  const dm_stage *s) {
    const int d = 1 << k;
    switch (s->kind) {
    case DM_ST_MAT: {
        lanes T[64];
        const hq_cplx *U = s->m;
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) {
                lane_zero(&T[a * d + b]);
                for (int x = 0; x < d; x++) lane_fma(&T[a * d + b], U[a * d + x], &B[x * d + b]);
            }
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) {
                lane_zero(&B[a * d + b]);
                for (int y = 0; y < d; y++)
                    lane_fma_conj(&B[a * d + b], U[b * d + y], &T[a * d + y]);
            }
        break;
    }
    case DM_ST_MONO: {
        lanes T[64];
        for (int i = 0; i < d * d; i++) T[i] = B[i];
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) {
                const lanes *src = &T[s->perm[a] * d + s->perm[b]];
                if (s->phase) {
                    lane_zero(&B[a * d + b]);
                    lane_fma(&B[a * d + b], s->m[a * d + b], src);
                } else {
                    B[a * d + b] = *src;
                }
            }
        break;
    }
    case DM_ST_DEPOL: {
        const double lam = s->c[0];
        lanes tr;
        lane_zero(&tr);
        for (int a = 0; a < d; a++)
            for (int w = 0; w < W; w++) {
                tr.re[w] += B[a * d + a].re[w];
                tr.im[w] += B[a * d + a].im[w];
            }
        for (int i = 0; i < d * d; i++) lane_scale(&B[i], 1 - lam);
        for (int a = 0; a < d; a++)
            for (int w = 0; w < W; w++) {
                B[a * d + a].re[w] += lam * tr.re[w] / d;
                B[a * d + a].im[w] += lam * tr.im[w] / d;
            }
        break;
    }
    case DM_ST_RELAX: {
        const int bit = 1 << s->j;
        for (int a = 0; a < d; a++) {
            if (a & bit) continue;
            for (int b = 0; b < d; b++) {
                if (b & bit) continue;
                lane_mix(&B[a * d + b], &B[(a | bit) * d + (b | bit)], s->c[0], s->c[1], s->c[2],
                         s->c[3]);
                lane_scale(&B[a * d + (b | bit)], s->c[4]);
                lane_scale(&B[(a | bit) * d + b], s->c[4]);
            }
        }
        break;
    }
    case DM_ST_PAULI: {
        const int bit = 1 << s->j;
        for (int a = 0; a < d; a++) {
            if (a & bit) continue;
            for (int b = 0; b < d; b++) {
                if (b & bit) continue;
                lane_mix(&B[a * d + b], &B[(a | bit) * d + (b | bit)], s->c[0], s->c[1], s->c[1],
                         s->c[0]);
                lane_mix(&B[a * d + (b | bit)], &B[(a | bit) * d + b], s->c[2], s->c[3], s->c[3],
                         s->c[2]);
            }
        }
        break;
    }
    case DM_ST_SUPER: {
        lanes T[64];
        const int dd = d * d;
        for (int i = 0; i < dd; i++) T[i] = B[i];
        for (int o = 0; o < dd; o++) {
            lane_zero(&B[o]);
            const hq_cplx *row = s->s + (size_t)o * dd;
            for (int i = 0; i < dd; i++)
                if (row[i] != 0) lane_fma(&B[o], row[i], &T[i]);
        }
        break;
    }
    default: HQ_ASSERT(!"unknown stage kind");
    }
}

/*
 * Lane groups: the two lowest index bits that are not operands, f0 < f1, select the lanes
 * (lane w adds bit f0 if w & 1 and bit f1 if w & 2). Usually f0 = 0, f1 = 1 and the four
 * lanes are adjacent in memory ("contig": plain vector loads); otherwise they are gathered.
 * Groups are numbered by the remaining free bits; rows are visited group by group, so the
 * group order is the one the Hermitian halving relies on.
 */
static inline __attribute__((always_inline)) void kernel_lanes(hq_cplx *rho, int n, const int *q,
                                                               const int k, const bool contig,
                                                               const dm_stage *st, int ns) {
    const int d = 1 << k;
    const int64_t TG = (64 >> k) / W; /* groups per tile side (as many bases as before) */
    const int64_t dim = (int64_t)1 << n, ng = dim >> (k + 2);
    int64_t off[8], loff[W];
    for (int a = 0; a < d; a++) {
        off[a] = 0;
        for (int j = 0; j < k; j++)
            if (a >> j & 1) off[a] |= (int64_t)1 << q[j];
    }
    int pos[5], np = 0;
    for (int j = 0; j < k; j++) pos[np++] = q[j];
    int f[2], nf = 0;
    for (int b = 0; nf < 2; b++) {
        bool used = false;
        for (int j = 0; j < k; j++) used |= q[j] == b;
        if (!used) f[nf++] = b;
    }
    for (int w = 0; w < W; w++) loff[w] = ((int64_t)(w & 1) << f[0]) | ((int64_t)(w >> 1) << f[1]);
    pos[np++] = f[0];
    pos[np++] = f[1];
    dm_sort_positions(pos, np);
    int64_t rgb[8], cgb[8]; /* group bases of the row / column tile */
    for (int64_t tr = 0; tr < ng; tr += TG) {
        const int64_t nr = HQ_MIN(TG, ng - tr);
        for (int64_t i = 0; i < nr; i++) rgb[i] = dm_insert_zeros(tr + i, pos, np);
        for (int64_t tc = tr; tc < ng; tc += TG) {
            const int64_t nc = HQ_MIN(TG, ng - tc);
            for (int64_t j = 0; j < nc; j++) cgb[j] = dm_insert_zeros(tc + j, pos, np);
            for (int64_t i = 0; i < nr; i++)
                for (int wr = 0; wr < W; wr++) {
                    const int64_t R = rgb[i] | loff[wr];
                    hq_cplx *rp[8];
                    for (int a = 0; a < d; a++) rp[a] = rho + (R | off[a]) * dim;
                    for (int64_t j = tc == tr ? i : 0; j < nc; j++) {
                        const int64_t C = cgb[j];
                        lanes B[64];
                        for (int a = 0; a < d; a++)
                            for (int b = 0; b < d; b++) {
                                const hq_cplx *p = rp[a] + (C | off[b]);
                                for (int w = 0; w < W; w++) {
                                    hq_cplx v = p[contig ? w : loff[w]];
                                    B[a * d + b].re[w] = creal(v);
                                    B[a * d + b].im[w] = cimag(v);
                                }
                            }
                        for (int s = 0; s < ns; s++) stage_run_lanes(B, k, &st[s]);
                        for (int a = 0; a < d; a++)
                            for (int b = 0; b < d; b++) {
                                hq_cplx *p = rp[a] + (C | off[b]);
                                for (int w = 0; w < W; w++)
                                    p[contig ? w : loff[w]] =
                                        B[a * d + b].re[w] + I * B[a * d + b].im[w];
                            }
                        if (tc == tr && j == i) continue; /* diagonal group: complete */
                        for (int b = 0; b < d; b++)
                            for (int w = 0; w < W; w++) {
                                hq_cplx *mr = rho + (C | loff[w] | off[b]) * dim + R;
                                for (int a = 0; a < d; a++)
                                    mr[off[a]] = B[a * d + b].re[w] - I * B[a * d + b].im[w];
                            }
                    }
                }
        }
    }
}

#define LANE_KERNEL(K, CONTIG)                                                                    \
    static void kernel_lanes##K##_##CONTIG(hq_cplx *rho, int n, const int *q, const dm_stage *st, \
                                           int ns) {                                              \
        kernel_lanes(rho, n, q, K, CONTIG, st, ns);                                               \
    }
LANE_KERNEL(1, true)
LANE_KERNEL(1, false)
LANE_KERNEL(2, true)
LANE_KERNEL(2, false)
LANE_KERNEL(3, true)

void dm_apply_stages(hq_cplx *rho, int n, const int *q, int k, const dm_stage *st, int ns) {
    if (ns <= 0) return;
    if (n - k < 2) { /* fewer than two free bits: no lanes */
        dm_apply_stages_ref(rho, n, q, k, st, ns);
        return;
    }
    bool contig = true; /* lanes on bits 0 and 1 */
    for (int j = 0; j < k; j++)
        if (q[j] < 2) contig = false;
    switch (k * 2 + contig) {
    case 2: kernel_lanes1_false(rho, n, q, st, ns); break;
    case 3: kernel_lanes1_true(rho, n, q, st, ns); break;
    case 4: kernel_lanes2_false(rho, n, q, st, ns); break;
    case 5: kernel_lanes2_true(rho, n, q, st, ns); break;
    case 6: dm_apply_stages_ref(rho, n, q, k, st, ns); break; /* gathering 3q: no gain */
    case 7: kernel_lanes3_true(rho, n, q, st, ns); break;
    default: HQ_ASSERT(!"block size out of range");
    }
}
