/*
 * core/alloc.c — the only place that calls the C allocator. Counts allocations and
 * can fail the n-th one on request, so tests can walk every *_create error path.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static atomic_long alloc_count;
static atomic_long fail_at = 0; /* absolute allocation number that fails; 0 = never */
static atomic_bool fired;

static bool should_fail(void) {
    long n = atomic_fetch_add(&alloc_count, 1) + 1;
    long f = atomic_load(&fail_at);
    if (f > 0 && n == f) {
        atomic_store(&fired, true);
        return true;
    }
    return false;
}

void hq_alloc_fail_after(long n) {
    atomic_store(&fired, false);
    atomic_store(&fail_at, n > 0 ? atomic_load(&alloc_count) + n : 0);
}
long hq_alloc_count(void) { return atomic_load(&alloc_count); }
bool hq_alloc_injected(void) { return atomic_load(&fired); }

void *hq_malloc(size_t n) {
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *hq_calloc(size_t count, size_t size) {
    if (should_fail()) return NULL;
    if (!count || !size) count = size = 1;
    return calloc(count, size);
}

void *hq_realloc(void *p, size_t n) {
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void *hq_aligned_alloc(size_t align, size_t n) {
    if (should_fail()) return NULL;
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, n ? n : 1) != 0) return NULL;
    return p;
}

void hq_free(void *p) { free(p); }

char *hq_strdup(const char *s) {
    if (!s) return NULL;
    return hq_strndup(s, strlen(s));
}

char *hq_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    size_t len = strnlen(s, n);
    char *d = hq_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
