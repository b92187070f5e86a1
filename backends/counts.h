/*
 * backends/counts.h — measurement counts: a histogram of outcomes over shots.
 *
 * An outcome is the classical register read as an integer: bit k is classical bit k
 * (little-endian, Qiskit order), up to 64 bits. Counts from simulators, emulators and
 * QPUs all end up here, so results from every backend compare directly.
 *
 *     hq_counts c;
 *     hq_counts_init(&c, 4);
 *     hq_counts_add(&c, 0x3, 10);
 *     hq_counts_sort(&c);                 // ascending outcomes, duplicates merged
 *     double p = hq_counts_prob(&c, 0x3); // 10 / shots
 *     hq_counts_free(&c);
 */
#ifndef HQ_COUNTS_H
#define HQ_COUNTS_H

#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_counts {
    int n_bits;        /* width of an outcome, 1..64 */
    int64_t n;         /* distinct outcomes stored */
    int64_t cap;       /* allocated entries */
    uint64_t *outcome; /* (n) outcome values */
    int64_t *count;    /* (n) how often each was seen */
    int64_t shots;     /* sum of count */
} hq_counts;

void hq_counts_init(hq_counts *c, int n_bits);
void hq_counts_free(hq_counts *c);
/* Add k observations of outcome (unsorted append; call hq_counts_sort before lookups). */
hq_status hq_counts_add(hq_counts *c, uint64_t outcome, int64_t k);
/* Sort ascending by outcome and merge duplicates; O(n) and no allocation when the outcomes
 * are strictly ascending already. */
void hq_counts_sort(hq_counts *c);
/* Count of outcome (binary search: counts must be sorted). */
int64_t hq_counts_get(const hq_counts *c, uint64_t outcome);
double hq_counts_prob(const hq_counts *c, uint64_t outcome);
/* Expectation of Z on the bits in mask: mean of (-1)^popcount(outcome & mask). */
double hq_counts_expect_z(const hq_counts *c, uint64_t mask);
/* Copy (dst must be uninitialised or freed). */
hq_status hq_counts_copy(hq_counts *dst, const hq_counts *src);
/* JSON object {"0101": 12, ...} with bitstrings most significant bit first (Qiskit
 * display order), sorted by outcome. */
void hq_counts_to_json(const hq_counts *c, hq_sbuf *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_COUNTS_H */
