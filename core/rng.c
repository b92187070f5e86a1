/*
 * core/rng.c — Philox4x32-10 counter-based generator and the distributions built on it.
 */
#include <math.h>
#include <string.h>

#include "core/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void hq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void hq_rng_init(hq_rng *r, uint64_t seed, uint64_t stream, uint64_t counter) {
    r->seed = seed;
    r->stream = stream;
    r->counter = counter;
    r->avail = 0;
    memset(r->buf, 0, sizeof r->buf);
}

uint64_t hq_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t hq_rng_stream(const char *purpose, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = 0x6871636e6e000000ull; /* "hqcnn" */
    for (const unsigned char *p = (const unsigned char *)(purpose ? purpose : ""); *p; p++)
        h = hq_mix64(h ^ *p);
    h = hq_mix64(h ^ a);
    h = hq_mix64(h ^ b);
    h = hq_mix64(h ^ c);
    return h;
}

static void refill(hq_rng *r) {
    uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), (uint32_t)r->stream,
                       (uint32_t)(r->stream >> 32)};
    uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
    hq_philox4x32_10(ctr, key, r->buf);
    r->counter++;
    r->avail = 4;
}

uint32_t hq_rng_u32(hq_rng *r) {
    if (r->avail == 0) refill(r);
    return r->buf[4 - r->avail--];
}

uint64_t hq_rng_u64(hq_rng *r) {
    uint64_t lo = hq_rng_u32(r);
    uint64_t hi = hq_rng_u32(r);
    return lo | (hi << 32);
}

double hq_rng_uniform(hq_rng *r) { return (double)(hq_rng_u64(r) >> 11) * 0x1.0p-53; }

float hq_rng_uniformf(hq_rng *r) { return (float)(hq_rng_u32(r) >> 8) * 0x1.0p-24f; }

uint64_t hq_rng_below(hq_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* rejection on the top of the range: threshold = 2^64 mod n */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = hq_rng_u64(r);
        if (x >= threshold) return x % n;
    }
}

double hq_rng_normal(hq_rng *r) {
    /* Box-Muller; u1 in (0,1] so log is finite */
    double u1 = 1.0 - hq_rng_uniform(r);
    double u2 = hq_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void hq_rng_shuffle_i32(hq_rng *r, int32_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)hq_rng_below(r, (uint64_t)i + 1);
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
