/*
 * tests/test_db_blob.c — the stored result formats (db/blob.c): byte-exact golden
 * encodings worked out by hand from the layout in docs/db.md, with the CRC-32 computed by
 * an independent bitwise implementation here; round trips of random histograms against a
 * brute-force reference; canonical form (order, duplicates and zero counts do not change
 * the bytes); and every truncation and every single-bit flip of a blob is rejected.
 */
#include <string.h>

#include "backends/counts.h"
#include "core/rng.h"
#include "db/jobdb.h"
#include "tests/hq_test.h"

/* Bitwise CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), independent of zlib. */
static uint32_t crc32_ref(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void append_crc(uint8_t *buf, size_t n) {
    uint32_t c = crc32_ref(buf, n);
    for (int k = 0; k < 4; k++) buf[n + (size_t)k] = (uint8_t)(c >> (8 * k));
}

HQ_TEST(db_blob_crc_reference) {
    /* the standard check value of CRC-32 */
    HQ_CHECK(crc32_ref((const uint8_t *)"123456789", 9) == 0xCBF43926u);
}

HQ_TEST(db_blob_counts_golden) {
    /* 4 bits, 1000 shots: 0001 x2, 0011 x300, 1111 x698. By hand:
     * 01 01 04 | n=3: 03 | shots 1000 = 0x3E8: E8 07 |
     * gap 1: 01, count 2: 02 | gap 3-1-1 = 1: 01, count 300 = 0x12C: AC 02 |
     * gap 15-3-1 = 11: 0B, count 698 = 0x2BA: BA 05 | crc32 little-endian */
    uint8_t want[18] = {0x01, 0x01, 0x04, 0x03, 0xE8, 0x07, 0x01,
                        0x02, 0x01, 0xAC, 0x02, 0x0B, 0xBA, 0x05};
    append_crc(want, 14);
    hq_counts c;
    hq_counts_init(&c, 4);
    /* unsorted, split and with a zero entry: the encoding is canonical */
    hq_counts_add(&c, 15, 600);
    hq_counts_add(&c, 3, 300);
    hq_counts_add(&c, 7, 0);
    hq_counts_add(&c, 1, 2);
    hq_counts_add(&c, 15, 98);
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b, "xy"); /* encoders append */
    HQ_REQUIRE_OK(hq_jobdb_counts_encode(&c, &b));
    HQ_REQUIRE(b.len == 2 + sizeof want);
    HQ_CHECK(memcmp(b.p + 2, want, sizeof want) == 0);
    hq_counts d;
    HQ_REQUIRE_OK(hq_jobdb_counts_decode(want, sizeof want, &d));
    HQ_CHECK(d.n_bits == 4 && d.n == 3 && d.shots == 1000);
    HQ_CHECK(d.outcome[0] == 1 && d.outcome[1] == 3 && d.outcome[2] == 15);
    HQ_CHECK(d.count[0] == 2 && d.count[1] == 300 && d.count[2] == 698);
    hq_counts_free(&d);
    hq_counts_free(&c);

    /* empty histogram: 01 01 05 00 00 crc */
    uint8_t empty[9] = {0x01, 0x01, 0x05, 0x00, 0x00};
    append_crc(empty, 5);
    hq_counts_init(&c, 5);
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_jobdb_counts_encode(&c, &b));
    HQ_CHECK(b.len == sizeof empty && memcmp(b.p, empty, sizeof empty) == 0);
    HQ_REQUIRE_OK(hq_jobdb_counts_decode(empty, sizeof empty, &d));
    HQ_CHECK(d.n == 0 && d.shots == 0 && d.n_bits == 5);
    hq_counts_free(&d);

    /* 64-bit extremes: outcome 2^64-1 once, outcome 0 x (2^63-2) */
    hq_counts_init(&c, 64);
    hq_counts_add(&c, UINT64_MAX, 1);
    hq_counts_add(&c, 0, INT64_MAX - 1);
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_jobdb_counts_encode(&c, &b));
    HQ_REQUIRE_OK(hq_jobdb_counts_decode(b.p, b.len, &d));
    HQ_CHECK(d.n == 2 && d.outcome[0] == 0 && d.outcome[1] == UINT64_MAX);
    HQ_CHECK(d.count[0] == INT64_MAX - 1 && d.shots == INT64_MAX);
    hq_counts_free(&d);
    hq_counts_free(&c);
    hq_sbuf_free(&b);
}

HQ_TEST(db_blob_expect_golden) {
    /* [1.0, -0.5]: 02 01 02 | 00 00 00 00 00 00 F0 3F | 00 00 00 00 00 00 E0 BF | crc */
    uint8_t want[23] = {0x02, 0x01, 0x02, 0, 0, 0, 0, 0,    0,   0xF0,
                        0x3F, 0,    0,    0, 0, 0, 0, 0xE0, 0xBF};
    append_crc(want, 19);
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_jobdb_expect_encode((double[]){1.0, -0.5}, 2, &b));
    HQ_CHECK(b.len == sizeof want && memcmp(b.p, want, sizeof want) == 0);
    /* bit-exact round trip of awkward values */
    double v[6] = {-0.0, 1e-310 /* subnormal */, INFINITY, -INFINITY, NAN, 0.1 + 0.2};
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_jobdb_expect_encode(v, 6, &b));
    double *out;
    int64_t n;
    HQ_REQUIRE_OK(hq_jobdb_expect_decode(b.p, b.len, &out, &n));
    HQ_CHECK(n == 6 && memcmp(out, v, sizeof v) == 0);
    hq_free(out);
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_jobdb_expect_encode(NULL, 0, &b));
    HQ_REQUIRE_OK(hq_jobdb_expect_decode(b.p, b.len, &out, &n));
    HQ_CHECK(n == 0 && out == NULL);
    hq_sbuf_free(&b);
}

/* Reference: dense histogram for small n_bits, built without hq_counts_sort. */
HQ_TEST(db_blob_counts_round_trip_random) {
    hq_rng r;
    hq_rng_init(&r, 2024, 0, 0);
    static const int widths[] = {1, 2, 4, 7, 10};
    hq_sbuf b = HQ_SBUF_INIT;
    for (size_t w = 0; w < HQ_ARRAY_LEN(widths); w++) {
        int nb = widths[w];
        int64_t dim = INT64_C(1) << nb;
        for (int trial = 0; trial < 20; trial++) {
            int64_t dense[1024] = {0};
            hq_counts c;
            hq_counts_init(&c, nb);
            int adds = (int)hq_rng_below(&r, 3000);
            for (int a = 0; a < adds; a++) {
                uint64_t o = hq_rng_below(&r, (uint64_t)dim);
                int64_t k = (int64_t)hq_rng_below(&r, trial % 2 ? 5 : 100000);
                hq_counts_add(&c, o, k);
                dense[o] += k;
            }
            hq_sbuf_reset(&b);
            HQ_REQUIRE_OK(hq_jobdb_counts_encode(&c, &b));
            hq_counts d;
            HQ_REQUIRE_OK(hq_jobdb_counts_decode(b.p, b.len, &d));
            int64_t k = 0, shots = 0;
            for (int64_t o = 0; o < dim; o++) {
                if (!dense[o]) continue;
                shots += dense[o];
                HQ_CHECKF(k < d.n && d.outcome[k] == (uint64_t)o && d.count[k] == dense[o],
                          "width %d trial %d outcome %lld", nb, trial, (long long)o);
                k++;
            }
            HQ_CHECK_EQ_INT(d.n, k);
            HQ_CHECK_EQ_INT(d.shots, shots);
            /* canonical: re-encoding the decoded form gives the same bytes */
            hq_sbuf again = HQ_SBUF_INIT;
            HQ_REQUIRE_OK(hq_jobdb_counts_encode(&d, &again));
            HQ_CHECK(again.len == b.len && !memcmp(again.p, b.p, b.len));
            hq_sbuf_free(&again);
            hq_counts_free(&d);
            hq_counts_free(&c);
        }
    }
    hq_sbuf_free(&b);
}

HQ_TEST(db_blob_damage_rejected) {
    hq_counts c;
    hq_counts_init(&c, 6);
    for (uint64_t o = 0; o < 64; o += 3) hq_counts_add(&c, o, (int64_t)(o * o + 1));
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_jobdb_counts_encode(&c, &b));
    hq_counts_free(&c);
    uint8_t *p = (uint8_t *)b.p;
    hq_counts d;
    int rejected = 0, total = 0;
    for (size_t len = 0; len < b.len; len++) {
        hq_status s = hq_jobdb_counts_decode(len ? p : NULL, len, &d);
        HQ_CHECKF(s == HQ_ERR_CORRUPT || (len == 0 && s == HQ_ERR_CORRUPT), "truncated to %zu: %s",
                  len, hq_status_name(s));
        HQ_CHECK(d.n == 0 && d.outcome == NULL);
    }
    for (size_t i = 0; i < b.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            p[i] ^= (uint8_t)(1u << bit);
            hq_status s = hq_jobdb_counts_decode(p, b.len, &d);
            total++;
            rejected += s != HQ_OK;
            HQ_CHECKF(s == HQ_ERR_CORRUPT || (i == 1 && s == HQ_ERR_UNSUPPORTED),
                      "flip byte %zu bit %d: %s", i, bit, hq_status_name(s));
            if (s == HQ_OK) hq_counts_free(&d);
            p[i] ^= (uint8_t)(1u << bit);
        }
    HQ_CHECK_EQ_INT(rejected, total);
    /* structurally wrong but correctly checksummed blobs */
    struct {
        uint8_t b[16];
        size_t n;
        const char *msg;
    } bad[] = {
        {{0x01, 0x01, 0x00, 0x00, 0x00}, 5, "n_bits 0 out of range"},
        {{0x01, 0x01, 0x41, 0x00, 0x00}, 5, "n_bits 65 out of range"},
        {{0x01, 0x01, 0x02, 0x01, 0x05, 0x04, 0x05}, 7, "exceeds 2 bits"},       /* outcome 4 */
        {{0x01, 0x01, 0x02, 0x01, 0x05, 0x00, 0x04}, 7, "instead of 5 shots"},   /* sum 4 */
        {{0x01, 0x01, 0x02, 0x01, 0x00, 0x00, 0x00}, 7, "count 0 of outcome 0"}, /* zero */
        {{0x01, 0x01, 0x02, 0x01, 0x80, 0x00, 0x00, 0x00}, 8, "truncated"},      /* overlong */
        {{0x01, 0x01, 0x02, 0x01, 0x02, 0x00, 0x02, 0x00}, 8, "trailing bytes"},
        {{0x01, 0x01, 0x01, 0x05, 0x09, 0x00, 0x01, 0x00, 0x01}, 9, "do not fit"}, /* n > 2 */
        {{0x02, 0x01, 0x00}, 3, "not a counts blob (kind byte 0x02"},
        {{0x01, 0x00, 0x02, 0x00, 0x00}, 5, "format version 0"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(bad); i++) {
        uint8_t buf[24];
        memcpy(buf, bad[i].b, bad[i].n);
        append_crc(buf, bad[i].n);
        HQ_CHECK_FAILS(hq_jobdb_counts_decode(buf, bad[i].n + 4, &d), HQ_ERR_CORRUPT, bad[i].msg);
    }
    uint8_t newer[9] = {0x01, 0x02, 0x02, 0x00, 0x00};
    append_crc(newer, 5);
    HQ_CHECK_FAILS(hq_jobdb_counts_decode(newer, 9, &d), HQ_ERR_UNSUPPORTED,
                   "counts blob format 2 is newer than this hqcnn reads (1): upgrade hqcnn");
    uint8_t newer_e[7] = {0x02, 0x03, 0x00};
    append_crc(newer_e, 3);
    double *v;
    int64_t n;
    HQ_CHECK_FAILS(hq_jobdb_expect_decode(newer_e, 7, &v, &n), HQ_ERR_UNSUPPORTED,
                   "format 3 is newer");
    uint8_t short_e[8] = {0x02, 0x01, 0x01, 0x00};
    append_crc(short_e, 4);
    HQ_CHECK_FAILS(hq_jobdb_expect_decode(short_e, 8, &v, &n), HQ_ERR_CORRUPT,
                   "length does not match the value count");
    HQ_CHECK(v == NULL && n == 0);
    HQ_CHECK_FAILS(hq_jobdb_counts_decode(NULL, 4, &d), HQ_ERR_INVALID_ARG,
                   "blob is NULL but len is 4");
    HQ_CHECK_FAILS(hq_jobdb_counts_decode(p, b.len, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_jobdb_expect_decode(p, b.len, NULL, &n), HQ_ERR_INVALID_ARG,
                   "v or n is NULL");
    HQ_CHECK_FAILS(hq_jobdb_expect_decode(p, b.len, &v, &n), HQ_ERR_CORRUPT,
                   "not an expectation blob (kind byte 0x01, expected 0x02)");
    hq_sbuf_free(&b);
}

HQ_TEST(db_blob_encode_errors) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_counts c;
    hq_counts_init(&c, 0);
    HQ_CHECK_FAILS(hq_jobdb_counts_encode(&c, &b), HQ_ERR_INVALID_ARG,
                   "n_bits 0 out of range [1, 64]");
    c.n_bits = 65;
    HQ_CHECK_FAILS(hq_jobdb_counts_encode(&c, &b), HQ_ERR_INVALID_ARG, "n_bits 65");
    c.n_bits = 3;
    hq_counts_add(&c, 8, 1);
    HQ_CHECK_FAILS(hq_jobdb_counts_encode(&c, &b), HQ_ERR_INVALID_ARG,
                   "outcome[0] = 8 does not fit in 3 bits");
    c.outcome[0] = 2;
    c.count[0] = -4;
    HQ_CHECK_FAILS(hq_jobdb_counts_encode(&c, &b), HQ_ERR_INVALID_ARG, "count[0] = -4 is negative");
    c.count[0] = INT64_MAX;
    hq_counts_add(&c, 3, 1);
    HQ_CHECK_FAILS(hq_jobdb_counts_encode(&c, &b), HQ_ERR_INVALID_ARG,
                   "total count overflows int64");
    HQ_CHECK_FAILS(hq_jobdb_counts_encode(NULL, &b), HQ_ERR_INVALID_ARG, "counts or out is NULL");
    HQ_CHECK_FAILS(hq_jobdb_expect_encode(NULL, 3, &b), HQ_ERR_INVALID_ARG, "n = 3 (values NULL)");
    HQ_CHECK_FAILS(hq_jobdb_expect_encode((double[]){1}, -1, &b), HQ_ERR_INVALID_ARG, "n = -1");
    HQ_CHECK(b.len == 0); /* failed encodes append nothing */
    hq_counts_free(&c);
    hq_sbuf_free(&b);
}
