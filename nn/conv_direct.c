/*
 * nn/conv_direct.c — register-blocked kernels for 3x3 "same" convolutions (stride 1,
 * padding 1) on zero-padded planes, without im2col and without packing the big operand.
 * AVX2 + FMA, chosen at run time; nn/conv_direct.h has the layout.
 *
 * Why it pays: with the plane padded to width wp = w + 2, output column n = oh*wp + ow of a
 * channel is the sum over (ci, kh, kw) of w[co][ci][kh][kw] * xpad[ci][n + kh*wp + kw]:
 * every row of the im2col matrix is a contiguous run of the padded plane at a fixed
 * offset. The kernels read those runs in place. The price is computing the two padding
 * columns of each output row (7 % more at 28x28, 14 % at 14x14, 29 % at 7x7), which is
 * less than im2col's copy and OpenBLAS's packing of it.
 *
 *   nn_direct_conv   y (m4, ldy) = A . B: 4 output channels x 24 columns per register
 *                    tile (12 ymm accumulators), A packed as (m4/4, K, 4). The forward
 *                    pass, the evaluation pass with the batch norm folded in, and the
 *                    input gradient (the flipped kernel over the padded dy).
 *   nn_direct_dwt    dw^T (K, m16) += B . dy^T: 6 kernel rows x 16 output channels per
 *                    tile, one column at a time (dy transposed by nn_direct_transpose_dy),
 *                    so the padding columns are skipped and no horizontal sums are needed.
 */
#include "nn/conv_direct.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DIRECT_X86 1
#include <immintrin.h>
#else
#define DIRECT_X86 0
#endif

bool nn_direct_available(void) {
#if DIRECT_X86
    static int cached = -1;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c < 0) {
        __builtin_cpu_init();
        c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c != 0;
#else
    return false;
#endif
}

void nn_direct_geom_init(nn_direct_geom *g, int h, int w) {
    g->h = h;
    g->w = w;
    g->wp = w + 2;
    g->plane = (int64_t)(h + 2) * g->wp;
    int64_t n = (int64_t)h * g->wp;
    g->npad = (n + NN_DIRECT_NR - 1) / NN_DIRECT_NR * NN_DIRECT_NR;
    /* the furthest read of nn_direct_conv past the last plane: its last tile ends at
     * column npad - 1 <= h*wp + NN_DIRECT_NR - 2 and reads up to 2*wp + 2 further, that
     * is up to NN_DIRECT_NR + 1 floats past the last plane */
    g->slack = NN_DIRECT_NR + 8;
}

void nn_direct_pad(float *restrict dst, const float *restrict src, int c, const nn_direct_geom *g) {
    for (int ci = 0; ci < c; ci++) {
        float *d = dst + ci * g->plane + g->wp + 1;
        const float *s = src + (int64_t)ci * g->h * g->w;
        for (int r = 0; r < g->h; r++)
            memcpy(d + (int64_t)r * g->wp, s + (int64_t)r * g->w, (size_t)g->w * sizeof(float));
    }
}

void nn_direct_unpad(float *restrict dst, const float *restrict src, int64_t ld, int c,
                     const nn_direct_geom *g) {
    for (int ci = 0; ci < c; ci++)
        for (int r = 0; r < g->h; r++)
            memcpy(dst + ((int64_t)ci * g->h + r) * g->w, src + ci * ld + (int64_t)r * g->wp,
                   (size_t)g->w * sizeof(float));
}

void nn_direct_pack(float *restrict apk, const float *restrict a, int m, int kk) {
    int m4 = (m + 3) / 4 * 4;
    for (int mb = 0; mb < m4 / 4; mb++)
        for (int q = 0; q < kk; q++)
            for (int i = 0; i < 4; i++) {
                int r = mb * 4 + i;
                apk[((int64_t)mb * kk + q) * 4 + i] = r < m ? a[(int64_t)r * kk + q] : 0.0f;
            }
}

#if DIRECT_X86

#define TARGET __attribute__((target("avx2,fma")))

/*
 * The inner steps are inline assembly. Written with intrinsics, GCC 12 spills or folds:
 * with 12 accumulators, 3 columns and a weight (all 16 ymm registers) it either re-loads
 * each column inside every FMA (16 loads per 12 FMAs) or keeps a column on the stack, and
 * the tile ran at 58-65 % of the same loop written out (measured on Zen 3). Here the
 * accumulators are register operands the compiler allocates (ymm0-11) and ymm12-15 are
 * the scratch the asm declares clobbered.
 *
 * CONV_ASM_STEP(R, KW, AO): columns R + KW .. R + KW + 23 (three ymm) times the four weights
 * at a + AO bytes, into the 4 x 3 accumulators.
 */
#define CONV_ASM_STEP(R, KW, AO)                   \
    "vmovups " #KW "*4(%[" #R "]), %%ymm12\n\t"    \
    "vmovups " #KW "*4+32(%[" #R "]), %%ymm13\n\t" \
    "vmovups " #KW "*4+64(%[" #R "]), %%ymm14\n\t" \
    "vbroadcastss " #AO "(%[a]), %%ymm15\n\t"      \
    "vfmadd231ps %%ymm12, %%ymm15, %[c00]\n\t"     \
    "vfmadd231ps %%ymm13, %%ymm15, %[c01]\n\t"     \
    "vfmadd231ps %%ymm14, %%ymm15, %[c02]\n\t"     \
    "vbroadcastss " #AO "+4(%[a]), %%ymm15\n\t"    \
    "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"     \
    "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"     \
    "vfmadd231ps %%ymm14, %%ymm15, %[c12]\n\t"     \
    "vbroadcastss " #AO "+8(%[a]), %%ymm15\n\t"    \
    "vfmadd231ps %%ymm12, %%ymm15, %[c20]\n\t"     \
    "vfmadd231ps %%ymm13, %%ymm15, %[c21]\n\t"     \
    "vfmadd231ps %%ymm14, %%ymm15, %[c22]\n\t"     \
    "vbroadcastss " #AO "+12(%[a]), %%ymm15\n\t"   \
    "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"     \
    "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"     \
    "vfmadd231ps %%ymm14, %%ymm15, %[c32]\n\t"
#define CONV_ASM_ACC                                                                         \
    [c00] "+x"(c00), [c01] "+x"(c01), [c02] "+x"(c02), [c10] "+x"(c10), [c11] "+x"(c11),     \
        [c12] "+x"(c12), [c20] "+x"(c20), [c21] "+x"(c21), [c22] "+x"(c22), [c30] "+x"(c30), \
        [c31] "+x"(c31), [c32] "+x"(c32)
#define ASM_SCRATCH "xmm12", "xmm13", "xmm14", "xmm15", "memory"

/* one 4 x 24 tile: columns n0.. of rows mb*4..mb*4+3, started from bv[0..3] */
TARGET static inline void conv_tile(float *y, int64_t ldy, const float *src, int c,
                                    const nn_direct_geom *g, const float *a, const float *bv) {
    __m256 c00 = _mm256_broadcast_ss(bv), c01 = c00, c02 = c00;
    __m256 c10 = _mm256_broadcast_ss(bv + 1), c11 = c10, c12 = c10;
    __m256 c20 = _mm256_broadcast_ss(bv + 2), c21 = c20, c22 = c20;
    __m256 c30 = _mm256_broadcast_ss(bv + 3), c31 = c30, c32 = c30;
    int64_t wp = g->wp;
    const float *p = src;
    /* the whole 3x3 window of a channel in one block */
    for (int ci = 0; ci < c; ci++, p += g->plane, a += 36) {
        const float *r0 = p, *r1 = p + wp, *r2 = p + 2 * wp;
        /* clang-format off */
        __asm__ volatile(CONV_ASM_STEP(r0, 0, 0) CONV_ASM_STEP(r0, 1, 16) CONV_ASM_STEP(r0, 2, 32)
                         CONV_ASM_STEP(r1, 0, 48) CONV_ASM_STEP(r1, 1, 64) CONV_ASM_STEP(r1, 2, 80)
                         CONV_ASM_STEP(r2, 0, 96) CONV_ASM_STEP(r2, 1, 112) CONV_ASM_STEP(r2, 2, 128)
                         : CONV_ASM_ACC
                         : [r0] "r"(r0), [r1] "r"(r1), [r2] "r"(r2), [a] "r"(a)
                         : ASM_SCRATCH);
        /* clang-format on */
    }
    _mm256_storeu_ps(y, c00);
    _mm256_storeu_ps(y + 8, c01);
    _mm256_storeu_ps(y + 16, c02);
    _mm256_storeu_ps(y + ldy, c10);
    _mm256_storeu_ps(y + ldy + 8, c11);
    _mm256_storeu_ps(y + ldy + 16, c12);
    _mm256_storeu_ps(y + 2 * ldy, c20);
    _mm256_storeu_ps(y + 2 * ldy + 8, c21);
    _mm256_storeu_ps(y + 2 * ldy + 16, c22);
    _mm256_storeu_ps(y + 3 * ldy, c30);
    _mm256_storeu_ps(y + 3 * ldy + 8, c31);
    _mm256_storeu_ps(y + 3 * ldy + 16, c32);
}

TARGET static void direct_conv_avx2(float *y, int64_t ldy, const float *src, int c,
                                    const nn_direct_geom *g, const float *apk, const float *bias,
                                    int m) {
    int kk = c * 9;
    for (int64_t n0 = 0; n0 < g->npad; n0 += NN_DIRECT_NR)
        for (int mb = 0; mb < (m + 3) / 4; mb++) {
            float bv[4];
            for (int i = 0; i < 4; i++) bv[i] = bias && mb * 4 + i < m ? bias[mb * 4 + i] : 0.0f;
            conv_tile(y + (int64_t)mb * 4 * ldy + n0, ldy, src + n0, c, g,
                      apk + (int64_t)mb * kk * 4, bv);
        }
}

/*
 * The weight gradient, transposed: dwt (K, 16 channels) += x rows (broadcast, one column
 * at a time) times dy^T (16 channels in two ymm). Vectorising over the output channels
 * instead of the columns needs no horizontal sums and skips the padding columns, and a
 * 6 x 16 register tile reads 2 vectors and 6 scalars per 12 FMAs.
 *
 * DWT_ASM_ROW(XADDR, I): the scalar at XADDR times dy^T's two vectors into cI0, cI1.
 */
#define DWT_ASM_ROW(XADDR, I)                       \
    "vbroadcastss " XADDR ", %%ymm14\n\t"           \
    "vfmadd231ps %%ymm12, %%ymm14, %[c" #I "0]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c" #I "1]\n\t"
#define DWT_ASM_ACC                                                                          \
    [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20),     \
        [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), \
        [c50] "+x"(c50), [c51] "+x"(c51)

/* dwt rows 0..5 (row stride ldt), 16 channels, += sum over the image's columns of the six
 * kernel rows xa + 0/1/2 and xa + off + 0/1/2 (padded-plane addresses of column (0, 0))
 * times dyt (h*w columns x 16 channels) */
TARGET static void dwt_tile(float *dwt, int64_t ldt, const float *xa0, int64_t off,
                            const float *dyt, const nn_direct_geom *g) {
    __m256 c00 = _mm256_loadu_ps(dwt), c01 = _mm256_loadu_ps(dwt + 8);
    __m256 c10 = _mm256_loadu_ps(dwt + ldt), c11 = _mm256_loadu_ps(dwt + ldt + 8);
    __m256 c20 = _mm256_loadu_ps(dwt + 2 * ldt), c21 = _mm256_loadu_ps(dwt + 2 * ldt + 8);
    __m256 c30 = _mm256_loadu_ps(dwt + 3 * ldt), c31 = _mm256_loadu_ps(dwt + 3 * ldt + 8);
    __m256 c40 = _mm256_loadu_ps(dwt + 4 * ldt), c41 = _mm256_loadu_ps(dwt + 4 * ldt + 8);
    __m256 c50 = _mm256_loadu_ps(dwt + 5 * ldt), c51 = _mm256_loadu_ps(dwt + 5 * ldt + 8);
    int64_t offb = off * 4;
    for (int oh = 0; oh < g->h; oh++) {
        /* one output row: w columns, the x rows advancing by a float, dy^T by 16 */
        const float *xa = xa0 + (int64_t)oh * g->wp, *end = xa + g->w;
        const float *d = dyt + (int64_t)oh * g->w * 16;
        /* clang-format off */
        __asm__ volatile("1:\n\t"
                         "vmovups (%[d]), %%ymm12\n\t"
                         "vmovups 32(%[d]), %%ymm13\n\t"
                         DWT_ASM_ROW("(%[xa])", 0)
                         DWT_ASM_ROW("4(%[xa])", 1)
                         DWT_ASM_ROW("8(%[xa])", 2)
                         DWT_ASM_ROW("(%[xa],%[off])", 3)
                         DWT_ASM_ROW("4(%[xa],%[off])", 4)
                         DWT_ASM_ROW("8(%[xa],%[off])", 5)
                         "add $4, %[xa]\n\t"
                         "add $64, %[d]\n\t"
                         "cmp %[end], %[xa]\n\t"
                         "jne 1b\n\t"
                         : DWT_ASM_ACC, [xa] "+r"(xa), [d] "+r"(d)
                         : [off] "r"(offb), [end] "r"(end)
                         : "xmm12", "xmm13", "xmm14", "memory", "cc");
        /* clang-format on */
    }
    _mm256_storeu_ps(dwt, c00);
    _mm256_storeu_ps(dwt + 8, c01);
    _mm256_storeu_ps(dwt + ldt, c10);
    _mm256_storeu_ps(dwt + ldt + 8, c11);
    _mm256_storeu_ps(dwt + 2 * ldt, c20);
    _mm256_storeu_ps(dwt + 2 * ldt + 8, c21);
    _mm256_storeu_ps(dwt + 3 * ldt, c30);
    _mm256_storeu_ps(dwt + 3 * ldt + 8, c31);
    _mm256_storeu_ps(dwt + 4 * ldt, c40);
    _mm256_storeu_ps(dwt + 4 * ldt + 8, c41);
    _mm256_storeu_ps(dwt + 5 * ldt, c50);
    _mm256_storeu_ps(dwt + 5 * ldt + 8, c51);
}

TARGET static void direct_dwt_avx2(float *dwt, const float *dyt, int m, const float *src, int c,
                                   const nn_direct_geom *g) {
    int kk = c * 9, m16 = nn_direct_m16(m);
    int64_t hw = (int64_t)g->h * g->w;
    /* kernel rows q0..q0+2 are (ci, kh, kw = 0..2): one plane row read at +0, +1, +2 */
    for (int ob = 0; ob < m16 / 16; ob++)
        for (int q0 = 0; q0 < kk; q0 += 6) {
            int ci = q0 / 9, kh = q0 / 3 % 3, q1 = q0 + 3;
            const float *xa = src + ci * g->plane + (int64_t)kh * g->wp;
            /* an odd count of 3-row blocks: the last tile repeats its first rows (into dwt's
             * spare rows, see nn_direct_dwt_rows()) */
            int64_t off = 0;
            if (q1 < kk) off = (q1 / 9 - ci) * g->plane + (int64_t)(q1 / 3 % 3 - kh) * g->wp;
            dwt_tile(dwt + (int64_t)q0 * m16 + ob * 16, m16, xa, off, dyt + ob * hw * 16, g);
        }
}

#endif /* DIRECT_X86 */

void nn_direct_conv(float *y, int64_t ldy, const float *src, int c, const nn_direct_geom *g,
                    const float *apk, const float *bias, int m) {
#if DIRECT_X86
    direct_conv_avx2(y, ldy, src, c, g, apk, bias, m);
#else
    (void)y, (void)ldy, (void)src, (void)c, (void)g, (void)apk, (void)bias, (void)m;
#endif
}

void nn_direct_dwt(float *dwt, const float *dyt, int m, const float *src, int c,
                   const nn_direct_geom *g) {
#if DIRECT_X86
    direct_dwt_avx2(dwt, dyt, m, src, c, g);
#else
    (void)dwt, (void)dyt, (void)m, (void)src, (void)c, (void)g;
#endif
}

void nn_direct_transpose_dy(float *restrict dyt, const float *restrict dy, int m,
                            const nn_direct_geom *g) {
    int64_t hw = (int64_t)g->h * g->w;
    int m16 = nn_direct_m16(m);
    for (int ob = 0; ob < m16 / 16; ob++) {
        float *t = dyt + ob * hw * 16;
        int o1 = m - ob * 16 < 16 ? m - ob * 16 : 16;
        if (o1 < 16)
            for (int64_t n = 0; n < hw; n++)
                for (int j = o1; j < 16; j++) t[n * 16 + j] = 0.0f;
        /* blocks of 8 columns of 16 channels: reads 16 runs, writes 8 lines */
        int64_t n0 = 0;
        for (; n0 + 8 <= hw; n0 += 8)
            for (int j = 0; j < o1; j++) {
                const float *r = dy + (int64_t)(ob * 16 + j) * hw + n0;
                for (int q = 0; q < 8; q++) t[(n0 + q) * 16 + j] = r[q];
            }
        for (; n0 < hw; n0++)
            for (int j = 0; j < o1; j++) t[n0 * 16 + j] = dy[(int64_t)(ob * 16 + j) * hw + n0];
    }
}

void nn_direct_dwt_add(float *restrict dw, const float *restrict dwt, int m, int kk) {
    int m16 = nn_direct_m16(m);
    for (int o = 0; o < m; o++)
        for (int q = 0; q < kk; q++) dw[(int64_t)o * kk + q] += dwt[(int64_t)q * m16 + o];
}
