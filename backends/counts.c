/*
 * backends/counts.c — measurement histograms (see counts.h).
 */
#include <stdlib.h>
#include <string.h>

#include "backends/counts.h"

void hq_counts_init(hq_counts *c, int n_bits) {
    memset(c, 0, sizeof *c);
    c->n_bits = n_bits;
}

void hq_counts_free(hq_counts *c) {
    if (!c) return;
    HQ_FREE(c->outcome);
    HQ_FREE(c->count);
    c->n = c->cap = c->shots = 0;
}

hq_status hq_counts_add(hq_counts *c, uint64_t outcome, int64_t k) {
    if (k < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_counts_add: negative count %lld",
                        (long long)k);
    if (c->n == c->cap) {
        int64_t cap = c->cap ? c->cap * 2 : 16;
        uint64_t *o = hq_realloc(c->outcome, (size_t)cap * sizeof *o);
        if (!o) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_counts_add: out of memory");
        c->outcome = o;
        int64_t *n = hq_realloc(c->count, (size_t)cap * sizeof *n);
        if (!n) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_counts_add: out of memory");
        c->count = n;
        c->cap = cap;
    }
    c->outcome[c->n] = outcome;
    c->count[c->n] = k;
    c->n++;
    c->shots += k;
    return HQ_OK;
}

typedef struct pair {
    uint64_t o;
    int64_t k;
} pair;

static int cmp_pair(const void *a, const void *b) {
    uint64_t x = ((const pair *)a)->o, y = ((const pair *)b)->o;
    return x < y ? -1 : x > y;
}

void hq_counts_sort(hq_counts *c) {
    int64_t asc = 1;
    while (asc < c->n && c->outcome[asc - 1] < c->outcome[asc]) asc++;
    if (asc >= c->n) return; /* strictly ascending: sorted and merged already (no allocation) */
    pair *p = hq_malloc((size_t)c->n * sizeof *p);
    if (p) {
        for (int64_t i = 0; i < c->n; i++) p[i] = (pair){c->outcome[i], c->count[i]};
        qsort(p, (size_t)c->n, sizeof *p, cmp_pair);
        for (int64_t i = 0; i < c->n; i++) c->outcome[i] = p[i].o, c->count[i] = p[i].k;
        hq_free(p);
    } else { /* insertion sort without extra memory */
        for (int64_t i = 1; i < c->n; i++) {
            uint64_t o = c->outcome[i];
            int64_t k = c->count[i], j = i - 1;
            while (j >= 0 && c->outcome[j] > o) {
                c->outcome[j + 1] = c->outcome[j];
                c->count[j + 1] = c->count[j];
                j--;
            }
            c->outcome[j + 1] = o;
            c->count[j + 1] = k;
        }
    }
    int64_t w = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (w > 0 && c->outcome[w - 1] == c->outcome[i])
            c->count[w - 1] += c->count[i];
        else
            c->outcome[w] = c->outcome[i], c->count[w] = c->count[i], w++;
    }
    c->n = w;
}

int64_t hq_counts_get(const hq_counts *c, uint64_t outcome) {
    int64_t lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (c->outcome[mid] == outcome) return c->count[mid];
        if (c->outcome[mid] < outcome)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

double hq_counts_prob(const hq_counts *c, uint64_t outcome) {
    return c->shots ? (double)hq_counts_get(c, outcome) / (double)c->shots : 0.0;
}

double hq_counts_expect_z(const hq_counts *c, uint64_t mask) {
    if (!c->shots) return 0.0;
    int64_t acc = 0;
    for (int64_t i = 0; i < c->n; i++)
        acc += (__builtin_popcountll(c->outcome[i] & mask) & 1) ? -c->count[i] : c->count[i];
    return (double)acc / (double)c->shots;
}

hq_status hq_counts_copy(hq_counts *dst, const hq_counts *src) {
    hq_counts_init(dst, src->n_bits);
    for (int64_t i = 0; i < src->n; i++) {
        hq_status st = hq_counts_add(dst, src->outcome[i], src->count[i]);
        if (st) {
            hq_counts_free(dst);
            return st;
        }
    }
    return HQ_OK;
}

void hq_counts_to_json(const hq_counts *c, hq_sbuf *out) {
    hq_sbuf_putc(out, '{');
    for (int64_t i = 0; i < c->n; i++) {
        char bits[65];
        int nb = c->n_bits > 0 && c->n_bits <= 64 ? c->n_bits : 64;
        for (int b = 0; b < nb; b++) bits[b] = (c->outcome[i] >> (nb - 1 - b)) & 1 ? '1' : '0';
        bits[nb] = '\0';
        hq_sbuf_printf(out, "%s\"%s\": %lld", i ? ", " : "", bits, (long long)c->count[i]);
    }
    hq_sbuf_putc(out, '}');
}
