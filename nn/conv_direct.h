/*
 * nn/conv_direct.h — private to nn/conv2d.c: 3x3 convolutions with stride 1 and padding 1
 * computed directly on zero-padded planes by AVX2 + FMA kernels, chosen at run time
 * (nn/conv_direct.c explains why this beats im2col + sgemm here).
 *
 * Layout. A padded plane is (h + 2) x (w + 2) floats: the image in its interior, zeros
 * around it. The c planes of an image follow one another, and `slack` zero floats follow
 * the last. Zeros are never written over after the buffer is cleared once, so a buffer is
 * cleared when allocated and then only its interiors are copied in.
 * nn_direct_conv computes output columns n = oh*wp + ow for n < npad: the columns with
 * ow >= w, and those past h*wp, are garbage the caller drops when it copies the rows out.
 */
#ifndef HQ_NN_CONV_DIRECT_H
#define HQ_NN_CONV_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#define NN_DIRECT_NR 24 /* output columns per register tile */

typedef struct nn_direct_geom {
    int h, w;      /* image plane */
    int wp;        /* padded width, w + 2 */
    int64_t plane; /* (h + 2) * wp */
    int64_t npad;  /* output columns nn_direct_conv computes: h*wp rounded up to the tile */
    int64_t slack; /* zero floats after the last plane of a padded buffer */
} nn_direct_geom;

/* True when the CPU has AVX2 and FMA (the kernels' only requirement). */
bool nn_direct_available(void);
void nn_direct_geom_init(nn_direct_geom *g, int h, int w);
/* Copy c planes of h x w into the interiors of dst's padded planes. */
void nn_direct_pad(float *restrict dst, const float *restrict src, int c, const nn_direct_geom *g);
/* dst (c planes of h x w) = the first w columns of each of the h rows of src's c channels
 * (row stride wp, channel stride ld): nn_direct_conv's output without its garbage. */
void nn_direct_unpad(float *restrict dst, const float *restrict src, int64_t ld, int c,
                     const nn_direct_geom *g);
/* Pack a (m, kk) row-major into (ceil(m/4), kk, 4) blocks, rows past m zero. */
void nn_direct_pack(float *restrict apk, const float *restrict a, int m, int kk);
/* y (4*ceil(m/4) rows, row stride ldy >= npad) = bias + A . B, where A is packed (m rows,
 * 9c columns in (ci, kh, kw) order) and B's row (ci, kh, kw) is src's padded plane ci read
 * from kh*wp + kw on. bias may be NULL. */
void nn_direct_conv(float *y, int64_t ldy, const float *src, int c, const nn_direct_geom *g,
                    const float *apk, const float *bias, int m);
/* m output channels rounded up to 16: nn_direct_dwt's channel tiles, the columns of dwt
 * and the channels of dyt. */
static inline int nn_direct_m16(int m) { return (m + 15) / 16 * 16; }
/* dyt (ceil(m/16) blocks of h*w columns x 16 channels) = dy (m, h*w) transposed, the
 * channels past m zero. */
void nn_direct_transpose_dy(float *restrict dyt, const float *restrict dy, int m,
                            const nn_direct_geom *g);
/* Rows of the transposed weight gradient nn_direct_dwt writes: 9c rounded up to 6. */
static inline int nn_direct_dwt_rows(int c) { return (9 * c + 5) / 6 * 6; }
/* dwt (nn_direct_dwt_rows(c) x nn_direct_m16(m), kernel rows in (ci, kh, kw) order) += the
 * weight gradient of one image: src its padded input planes, dyt its transposed dy. */
void nn_direct_dwt(float *dwt, const float *dyt, int m, const float *src, int c,
                   const nn_direct_geom *g);
/* dw (m, kk) += dwt's first kk rows, transposed. */
void nn_direct_dwt_add(float *restrict dw, const float *restrict dwt, int m, int kk);

#endif
