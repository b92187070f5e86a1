/*
 * nn/augment.h — light image augmentation for training batches: random flips, small
 * integer shifts and small rotations (bilinear), applied per sample to (n, c, h, w).
 *
 * Every draw comes from the counter-based RNG: sample i of a batch uses the Philox stream
 * (seed, "augment", epoch, step, i) from counter 0, so a run is reproducible bit for bit
 * and a replayed (resumed) step augments exactly as the first time, whatever the thread
 * count or the batches before it.
 *
 * Config (JSON object; every field optional, the default is no augmentation):
 *   {"hflip":0.5, "vflip":0.0, "shift":2, "rotate":10, "fill":0.0}
 *     hflip, vflip  probability of a left-right / up-down flip, in [0, 1]
 *     shift         largest shift in pixels per axis (uniform integer in [-shift, shift])
 *     rotate        largest rotation in degrees (uniform in [-rotate, rotate]), about the
 *                   image centre, bilinear interpolation
 *     fill          value of pixels moved in from outside (0 = black before normalisation;
 *                   use -1 for images already normalised to [-1, 1])
 */
#ifndef HQ_NN_AUGMENT_H
#define HQ_NN_AUGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_augment {
    double hflip;  /* probability of a left-right flip */
    double vflip;  /* probability of an up-down flip */
    int shift;     /* largest |shift| in pixels per axis, 0..64 */
    double rotate; /* largest |angle| in degrees, 0..180 */
    float fill;    /* value outside the source image */
} hq_augment;

/* Parse a config (NULL or "" = no augmentation). Returns HQ_ERR_PARSE or
 * HQ_ERR_INVALID_ARG (unknown field, value out of range — named in the message). */
hq_status hq_augment_parse(const char *json, hq_augment *out);
/* True if a does nothing. */
bool hq_augment_is_identity(const hq_augment *a);

/*
 * out (n, c, h, w) = augmented in (same shape; out must not overlap in). Sample i draws
 * from stream (seed, "augment", epoch, step, i). Returns HQ_ERR_INVALID_ARG.
 */
hq_status hq_augment_apply(const hq_augment *a, float *out, const float *in, hq_shape shape,
                           uint64_t seed, uint64_t epoch, uint64_t step);

/*
 * The deterministic transform behind it, for one sample (c, h, w): flip(s) first, then
 * rotate by angle_deg (counter-clockwise on screen: rows grow downwards) about the centre
 * and shift by (dx right, dy down) pixels; bilinear, `fill` outside.
 */
void hq_augment_transform(float *out, const float *in, int c, int h, int w, bool hflip, bool vflip,
                          double angle_deg, double dx, double dy, float fill);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_AUGMENT_H */
