/*
 * core/rng.h — counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * A draw is a pure function of (seed, stream, counter): the same triple gives the same
 * numbers whatever else was drawn before, in which order or on which thread. That is
 * what makes a resumed training run replay a step bit for bit: each purpose (shuffle of
 * epoch e, dropout mask of step s, shot seed of circuit k, ...) gets its own stream id,
 * built with hq_rng_stream(), and counts from 0.
 *
 * Mapping onto Philox: key = seed (2 x 32 bits); counter block = (ctr_lo, ctr_hi,
 * stream_lo, stream_hi). Each block yields four 32-bit words; hq_rng buffers them.
 */
#ifndef HQ_RNG_H
#define HQ_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One Philox4x32-10 block: out = philox(ctr, key). */
void hq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

typedef struct hq_rng {
    uint64_t seed;    /* Philox key */
    uint64_t stream;  /* high half of the counter block: one per purpose */
    uint64_t counter; /* next block index within the stream */
    uint32_t buf[4];  /* words of the current block */
    int avail;        /* unread words left in buf (taken from buf[4-avail]) */
} hq_rng;

/* Position the generator at block `counter` of (seed, stream). */
void hq_rng_init(hq_rng *r, uint64_t seed, uint64_t stream, uint64_t counter);
/* Derive a stream id from a purpose tag and up to three integers (epoch, step, index...).
 * Different inputs give different streams with overwhelming probability (splitmix64
 * chain); the tag is a short string such as "shuffle" or "dropout". */
uint64_t hq_rng_stream(const char *purpose, uint64_t a, uint64_t b, uint64_t c);

uint32_t hq_rng_u32(hq_rng *r);
uint64_t hq_rng_u64(hq_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double hq_rng_uniform(hq_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float hq_rng_uniformf(hq_rng *r);
/* Uniform integer in [0, n), unbiased (rejection); n >= 1. */
uint64_t hq_rng_below(hq_rng *r, uint64_t n);
/* Standard normal (Box-Muller, both values used). */
double hq_rng_normal(hq_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void hq_rng_shuffle_i32(hq_rng *r, int32_t *idx, int64_t n);

/* splitmix64 finaliser: a good 64-bit mixing function. */
uint64_t hq_mix64(uint64_t x);

#ifdef __cplusplus
}
#endif
#endif /* HQ_RNG_H */
