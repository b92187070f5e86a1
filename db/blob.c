/*
 * db/blob.c — the byte formats of stored results: measurement counts (hq_counts) and
 * expectation-value vectors. Both are versioned (a newer format is refused with
 * HQ_ERR_UNSUPPORTED, never misread), canonical (equal results give equal bytes) and end
 * in a CRC-32, so a damaged blob is reported as HQ_ERR_CORRUPT instead of being fed to
 * training. Layouts (docs/db.md):
 *
 *   counts v1:  u8 0x01 (kind) | u8 1 (version) | u8 n_bits (1..64) | varint n | varint shots |
 *               n x { varint gap | varint count } | u32le crc32(all preceding bytes)
 *     outcomes strictly ascending; gap = outcome[0] for the first, outcome[i] -
 *     outcome[i-1] - 1 after; every count >= 1; the counts sum to shots.
 *   expect v1:  u8 0x02 (kind) | u8 1 (version) | varint n | n x f64le | u32le crc32
 *   circuit list v1 (a job's circuits, in order; jobs.circuits):
 *               u8 0x03 (kind) | u8 1 (version) | varint n | n x 32-byte sha256 digest |
 *               n x basis tag (1..200 bytes, NUL-terminated) | u32le crc32
 *
 * varint: unsigned LEB128, 7 bits per byte, least significant group first, shortest form.
 * A 4-qubit histogram of 1000 shots takes about 40 bytes.
 */
#include <string.h>
#include <zlib.h>

#include "db/jobdb_impl.h"

enum { KIND_COUNTS = 0x01, KIND_EXPECT = 0x02, KIND_CIRCUITS = 0x03, FORMAT_VERSION = 1 };

/* ==== primitives ======================================================================= */

static void put_varint(hq_sbuf *b, uint64_t v) {
    char t[10];
    int k = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        t[k++] = (char)(byte | (v ? 0x80 : 0));
    } while (v);
    hq_sbuf_append(b, t, (size_t)k);
}

/* Read a shortest-form varint from p[*pos..end); false if truncated, overlong or > 64 bits. */
static bool get_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= end) return false;
        uint8_t byte = p[(*pos)++];
        if (i == 9 && byte > 1) return false; /* would overflow 64 bits */
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            if (byte == 0 && i > 0) return false; /* overlong: not the shortest form */
            *out = v;
            return true;
        }
    }
    return false;
}

/* Varints gathered on the stack and appended to an hq_sbuf in chunks: a histogram is a few
 * dozen varints, and an append per varint cost more than the encoding itself. */
typedef struct vbuf {
    uint8_t b[256];
    size_t n;
    hq_sbuf *out;
} vbuf;

static void vbuf_flush(vbuf *v) {
    hq_sbuf_append(v->out, v->b, v->n);
    v->n = 0;
}

static void vbuf_varint(vbuf *v, uint64_t x) {
    if (v->n > sizeof v->b - 10) vbuf_flush(v);
    do {
        uint8_t byte = x & 0x7f;
        x >>= 7;
        v->b[v->n++] = (uint8_t)(byte | (x ? 0x80 : 0));
    } while (x);
}

static void put_u32le(hq_sbuf *b, uint32_t v) {
    char t[4] = {(char)(v & 0xff), (char)(v >> 8 & 0xff), (char)(v >> 16 & 0xff),
                 (char)(v >> 24 & 0xff)};
    hq_sbuf_append(b, t, 4);
}

static uint32_t get_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc(const void *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *b = p;
    while (n) { /* zlib takes uInt lengths */
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* Check the common envelope: kind, version, checksum. Returns the payload end. */
static hq_status check_envelope(const void *blob, size_t len, int kind, const char *func,
                                const char *what, size_t *end) {
    const uint8_t *p = blob;
    if (!blob && len)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: blob is NULL but len is %zu", func, len);
    if (len < 2 + 4)
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: %s blob of %zu bytes is too short", func, what,
                        len);
    if (p[0] != kind)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: not %s %s blob (kind byte 0x%02x, expected 0x%02x)", func,
                        kind == KIND_EXPECT ? "an" : "a", what, p[0], kind);
    if (p[1] > FORMAT_VERSION)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: %s blob format %d is newer than this hqcnn reads (%d): upgrade hqcnn",
                        func, what, p[1], FORMAT_VERSION);
    if (p[1] == 0)
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: %s blob has format version 0", func, what);
    if (get_u32le(p + len - 4) != crc(p, len - 4))
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: %s blob (%zu bytes) fails its CRC-32 check: the stored result is "
                        "damaged",
                        func, what, len);
    *end = len - 4;
    return HQ_OK;
}

/* ==== counts =========================================================================== */

hq_status hq_jobdb_counts_encode(const hq_counts *c, hq_sbuf *out) {
    const char *f = "hq_jobdb_counts_encode";
    if (!c || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: counts or out is NULL", f);
    if (c->n_bits < 1 || c->n_bits > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_bits %d out of range [1, 64]", f,
                        c->n_bits);
    if (c->n < 0 || (c->n > 0 && (!c->outcome || !c->count)))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: malformed counts (n = %lld)", f,
                        (long long)c->n);
    uint64_t limit = c->n_bits == 64 ? UINT64_MAX : (UINT64_C(1) << c->n_bits) - 1;
    bool canonical = true;
    uint64_t sum = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (c->count[i] < 0)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: count[%lld] = %lld is negative", f,
                            (long long)i, (long long)c->count[i]);
        if (c->outcome[i] > limit)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: outcome[%lld] = %llu does not fit in %d bits", f, (long long)i,
                            (unsigned long long)c->outcome[i], c->n_bits);
        sum += (uint64_t)c->count[i];
        if (sum > (uint64_t)INT64_MAX)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: total count overflows int64", f);
        if (c->count[i] == 0 || (i > 0 && c->outcome[i] <= c->outcome[i - 1])) canonical = false;
    }
    hq_counts tmp = {0};
    const hq_counts *src = c;
    if (!canonical) { /* sorted, merged copy; zero counts are skipped below */
        hq_status s = hq_counts_copy(&tmp, c);
        if (s) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
        hq_counts_sort(&tmp);
        src = &tmp;
    }
    int64_t n_nonzero = 0;
    for (int64_t i = 0; i < src->n; i++) n_nonzero += src->count[i] > 0;
    size_t start = out->len;
    vbuf v = {.b = {KIND_COUNTS, FORMAT_VERSION, (uint8_t)c->n_bits}, .n = 3, .out = out};
    vbuf_varint(&v, (uint64_t)n_nonzero);
    vbuf_varint(&v, sum);
    bool first = true;
    uint64_t prev = 0;
    for (int64_t i = 0; i < src->n; i++) {
        if (src->count[i] == 0) continue;
        vbuf_varint(&v, first ? src->outcome[i] : src->outcome[i] - prev - 1);
        vbuf_varint(&v, (uint64_t)src->count[i]);
        prev = src->outcome[i];
        first = false;
    }
    vbuf_flush(&v);
    hq_counts_free(&tmp);
    if (out->oom) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
    put_u32le(out, crc(out->p + start, out->len - start));
    if (out->oom) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
    return HQ_OK;
}

hq_status hq_jobdb_counts_decode(const void *blob, size_t len, hq_counts *out) {
    const char *f = "hq_jobdb_counts_decode";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    size_t end, pos = 3;
    hq_status s = check_envelope(blob, len, KIND_COUNTS, f, "counts", &end);
    if (s) return s;
    const uint8_t *p = blob;
    uint64_t n, shots;
    int n_bits = end >= 3 ? p[2] : 0;
    if (n_bits < 1 || n_bits > 64)
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: n_bits %d out of range [1, 64]", f, n_bits);
    uint64_t limit = n_bits == 64 ? UINT64_MAX : (UINT64_C(1) << n_bits) - 1;
    if (!get_varint(p, end, &pos, &n) || !get_varint(p, end, &pos, &shots))
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: truncated header", f);
    if (n > (end - pos) / 2 || shots > (uint64_t)INT64_MAX || (n_bits < 64 && n > limit + 1))
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: %llu outcomes / %llu shots do not fit in %zu bytes of %d-bit data", f,
                        (unsigned long long)n, (unsigned long long)shots, end - pos, n_bits);
    hq_counts_init(out, n_bits);
    if (n) {
        out->outcome = hq_malloc((size_t)n * sizeof *out->outcome);
        out->count = hq_malloc((size_t)n * sizeof *out->count);
        if (!out->outcome || !out->count) {
            hq_counts_free(out);
            memset(out, 0, sizeof *out);
            return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory (%llu outcomes)", f,
                            (unsigned long long)n);
        }
        out->cap = (int64_t)n;
    }
    uint64_t prev = 0, sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t gap, k;
        if (!get_varint(p, end, &pos, &gap) || !get_varint(p, end, &pos, &k)) {
            s = hq_failf(NULL, HQ_ERR_CORRUPT, "%s: truncated at outcome %llu of %llu", f,
                         (unsigned long long)i, (unsigned long long)n);
            goto bad;
        }
        uint64_t o = i == 0 ? gap : prev + 1 + gap;
        if ((i > 0 && (prev == limit || gap > limit - prev - 1)) || o > limit) {
            s = hq_failf(NULL, HQ_ERR_CORRUPT, "%s: outcome %llu exceeds %d bits", f,
                         (unsigned long long)i, n_bits);
            goto bad;
        }
        if (k == 0 || k > (uint64_t)INT64_MAX - sum) {
            s = hq_failf(NULL, HQ_ERR_CORRUPT, "%s: count %llu of outcome %llu is invalid", f,
                         (unsigned long long)k, (unsigned long long)i);
            goto bad;
        }
        sum += k;
        out->outcome[i] = o;
        out->count[i] = (int64_t)k;
        prev = o;
    }
    if (pos != end || sum != shots) {
        s = hq_failf(NULL, HQ_ERR_CORRUPT,
                     "%s: %zu trailing bytes / counts sum to %llu instead of %llu shots", f,
                     end - pos, (unsigned long long)sum, (unsigned long long)shots);
        goto bad;
    }
    out->n = (int64_t)n;
    out->shots = (int64_t)shots;
    return HQ_OK;
bad:
    hq_counts_free(out);
    memset(out, 0, sizeof *out);
    return s;
}

/* ==== expectation vectors ============================================================== */

hq_status hq_jobdb_expect_encode(const double *v, int64_t n, hq_sbuf *out) {
    const char *f = "hq_jobdb_expect_encode";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    if (n < 0 || n > (INT64_C(1) << 40) || (n > 0 && !v))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n = %lld (values %s)", f, (long long)n,
                        v ? "given" : "NULL");
    size_t start = out->len;
    char head[2] = {KIND_EXPECT, FORMAT_VERSION};
    hq_sbuf_append(out, head, 2);
    put_varint(out, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        char t[8];
        for (int k = 0; k < 8; k++) t[k] = (char)(bits >> (8 * k) & 0xff);
        hq_sbuf_append(out, t, 8);
    }
    if (out->oom) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
    put_u32le(out, crc(out->p + start, out->len - start));
    if (out->oom) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
    return HQ_OK;
}

hq_status hq_jobdb_expect_decode(const void *blob, size_t len, double **v, int64_t *n) {
    const char *f = "hq_jobdb_expect_decode";
    if (!v || !n) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: v or n is NULL", f);
    *v = NULL;
    *n = 0;
    size_t end, pos = 2;
    hq_status s = check_envelope(blob, len, KIND_EXPECT, f, "expectation", &end);
    if (s) return s;
    const uint8_t *p = blob;
    uint64_t m;
    if (!get_varint(p, end, &pos, &m) || m > (end - pos) / 8 || pos + m * 8 != end)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: length does not match the value count (%zu payload bytes)", f,
                        end - pos);
    if (m == 0) return HQ_OK;
    double *out = hq_malloc((size_t)m * sizeof *out);
    if (!out) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
    for (uint64_t i = 0; i < m; i++) {
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++) bits |= (uint64_t)p[pos + 8 * i + (uint64_t)k] << (8 * k);
        memcpy(&out[i], &bits, 8);
    }
    *v = out;
    *n = (int64_t)m;
    return HQ_OK;
}

/* ==== a job's circuit list ============================================================= */

hq_status jobdb_circlist_encode(int64_t n, const uint8_t *hashes, const char *const *bases,
                                hq_sbuf *out) {
    hq_sbuf_reset(out);
    char head[2] = {KIND_CIRCUITS, FORMAT_VERSION};
    hq_sbuf_append(out, head, 2);
    put_varint(out, (uint64_t)n);
    hq_sbuf_append(out, hashes, (size_t)n * 32);
    for (int64_t i = 0; i < n; i++) /* the terminating NUL is part of each tag */
        hq_sbuf_append(out, bases ? bases[i] : "Z", bases ? strlen(bases[i]) + 1 : 2);
    if (!out->oom) put_u32le(out, crc(out->p, out->len));
    if (out->oom)
        return hq_failf(NULL, HQ_ERR_NOMEM, "jobdb_circlist_encode: out of memory (%lld circuits)",
                        (long long)n);
    return HQ_OK;
}

hq_status jobdb_circlist_decode(const void *blob, size_t len, int64_t n, size_t *digests,
                                int64_t *basis_at) {
    const char *f = "circuit list";
    size_t end, pos = 2;
    hq_status s = check_envelope(blob, len, KIND_CIRCUITS, f, "circuit list", &end);
    if (s) return s;
    const uint8_t *p = blob;
    uint64_t m;
    if (!get_varint(p, end, &pos, &m) || m != (uint64_t)n || m > (end - pos) / 33)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: does not hold the job's %lld circuits (%zu payload bytes)", f,
                        (long long)n, end - pos);
    *digests = pos;
    pos += (size_t)m * 32;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *z = memchr(p + pos, 0, end - pos);
        size_t k = z ? (size_t)(z - (p + pos)) : 0;
        if (!z || k < 1 || k > 200)
            return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: basis tag of circuit %lld is malformed", f,
                            (long long)i);
        basis_at[i] = (int64_t)pos;
        pos += k + 1;
    }
    if (pos != end) return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: %zu trailing bytes", f, end - pos);
    return HQ_OK;
}
