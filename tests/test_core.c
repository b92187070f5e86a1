/*
 * tests/test_core.c — core/: status table, error detail, allocation failure injection,
 * secret redaction, Philox known-answer vectors and stream independence, sha256/md5
 * known answers, string buffer, strict number parsing, atomic file write.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "tests/hq_test.h"

HQ_TEST(core_status_strings) {
    for (int s = 0; s < HQ_STATUS_COUNT; s++) {
        HQ_CHECK(hq_status_str((hq_status)s) != NULL);
        HQ_CHECK(strncmp(hq_status_name((hq_status)s), "HQ_", 3) == 0);
    }
    HQ_CHECK_STR(hq_status_str(HQ_ERR_NOMEM), "out of memory");
    HQ_CHECK_STR(hq_status_str((hq_status)9999), "unknown status");
}

HQ_TEST(core_failf_sets_handle_and_last_error) {
    hq_err e = {0};
    hq_status s = hq_failf(&e, HQ_ERR_INVALID_ARG, "qubit %d out of range [0, %d)", 7, 5);
    HQ_CHECK_EQ_INT(s, HQ_ERR_INVALID_ARG);
    HQ_CHECK_STR(e.msg, "qubit 7 out of range [0, 5)");
    HQ_CHECK_STR(hq_last_error(), "qubit 7 out of range [0, 5)");
    HQ_CHECK_EQ_INT(hq_last_status(), HQ_ERR_INVALID_ARG);
    hq_fail_prefix(NULL, HQ_ERR_PARSE, "file %s", "x.qasm");
    HQ_CHECK_STR(hq_last_error(), "file x.qasm: qubit 7 out of range [0, 5)");
    hq_clear_error();
    HQ_CHECK_EQ_INT(hq_last_status(), HQ_OK);
}

HQ_TEST(core_handle_magic) {
    struct {
        hq_handle h;
        int x;
    } obj = {{0x1234, {0}}, 1};
    HQ_CHECK(hq_handle_ok(&obj, 0x1234));
    HQ_CHECK(!hq_handle_ok(&obj, 0x4321));
    HQ_CHECK(!hq_handle_ok(NULL, 0x1234));
    obj.h.magic = HQ_MAGIC_DEAD;
    HQ_CHECK_STR(hq_errmsg(&obj), "handle was freed");
}

HQ_TEST(core_secret_redaction) {
    hq_secret_register("sk-live-ABCDEF123456");
    hq_failf(NULL, HQ_ERR_AUTH, "key sk-live-ABCDEF123456 rejected (sk-live-ABCDEF123456)");
    HQ_CHECK(strstr(hq_last_error(), "ABCDEF") == NULL);
    HQ_CHECK_STR(hq_last_error(), "key *** rejected (***)");
    char buf[64] = "x=sk-live-ABCDEF123456;";
    hq_redact(buf);
    HQ_CHECK_STR(buf, "x=***;");
    hq_secret_clear_all();
    char buf2[64] = "sk-live-ABCDEF123456";
    hq_redact(buf2);
    HQ_CHECK_STR(buf2, "sk-live-ABCDEF123456");
}

HQ_TEST(core_alloc_fail_injection) {
    hq_alloc_fail_after(2);
    void *a = hq_malloc(16);
    void *b = hq_malloc(16); /* the 2nd one fails */
    void *c = hq_malloc(16);
    HQ_CHECK(a != NULL);
    HQ_CHECK(b == NULL);
    HQ_CHECK(c != NULL);
    HQ_CHECK(hq_alloc_injected());
    hq_alloc_fail_after(0);
    HQ_CHECK(!hq_alloc_injected());
    hq_free(a);
    hq_free(c);
    void *al = hq_aligned_alloc(64, 1000);
    HQ_CHECK(al && ((uintptr_t)al & 63) == 0);
    hq_free(al);
    char *d = hq_strndup("hello world", 5);
    HQ_CHECK_STR(d, "hello");
    HQ_FREE(d);
    HQ_CHECK(d == NULL);
    size_t out;
    HQ_CHECK(!hq_mul_ok(SIZE_MAX / 2, 3, &out));
    HQ_CHECK(hq_mul_ok(1000, 1000, &out) && out == 1000000);
}

/* Known-answer vectors of Random123 (kat_vectors: philox4x32 10 rounds). */
HQ_TEST(core_philox_known_answers) {
    struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < HQ_ARRAY_LEN(kat); k++) {
        uint32_t out[4];
        hq_philox4x32_10(kat[k].ctr, kat[k].key, out);
        for (int i = 0; i < 4; i++)
            HQ_CHECKF(out[i] == kat[k].out[i], "vector %zu word %d: %08x != %08x", k, i, out[i],
                      kat[k].out[i]);
    }
}

HQ_TEST(core_rng_counter_based) {
    /* drawing block 5 directly equals drawing blocks 0..5 in order */
    hq_rng a, b;
    hq_rng_init(&a, 42, 7, 0);
    uint32_t seq[24];
    for (int i = 0; i < 24; i++) seq[i] = hq_rng_u32(&a);
    hq_rng_init(&b, 42, 7, 5);
    for (int i = 0; i < 4; i++) HQ_CHECK_EQ_INT(hq_rng_u32(&b), seq[20 + i]);
    /* different streams and seeds differ */
    hq_rng c, d;
    hq_rng_init(&c, 42, 8, 0);
    hq_rng_init(&d, 43, 7, 0);
    HQ_CHECK(hq_rng_u32(&c) != seq[0]);
    HQ_CHECK(hq_rng_u32(&d) != seq[0]);
    HQ_CHECK(hq_rng_stream("shuffle", 1, 2, 0) != hq_rng_stream("shuffle", 2, 1, 0));
    HQ_CHECK(hq_rng_stream("shuffle", 1, 0, 0) != hq_rng_stream("dropout", 1, 0, 0));
    HQ_CHECK_EQ_INT(hq_rng_stream("x", 1, 2, 3), hq_rng_stream("x", 1, 2, 3));
}

HQ_TEST(core_rng_distributions) {
    hq_rng r;
    hq_rng_init(&r, 1, 2, 0);
    const int n = 200000;
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    int hist[10] = {0};
    for (int i = 0; i < n; i++) {
        double u = hq_rng_uniform(&r);
        HQ_CHECK(u >= 0 && u < 1);
        sum += u;
        sum2 += u * u;
        double z = hq_rng_normal(&r);
        nsum += z;
        nsum2 += z * z;
        hist[hq_rng_below(&r, 10)]++;
    }
    HQ_CHECK_NEAR(sum / n, 0.5, 0.005);
    HQ_CHECK_NEAR(sum2 / n - 0.25, 1.0 / 12, 0.002);
    HQ_CHECK_NEAR(nsum / n, 0.0, 0.01);
    HQ_CHECK_NEAR(nsum2 / n, 1.0, 0.02);
    /* chi-square with 9 dof: 99.9% quantile 27.88 */
    double chi = 0;
    for (int k = 0; k < 10; k++) chi += (hist[k] - n / 10.0) * (hist[k] - n / 10.0) / (n / 10.0);
    HQ_CHECKF(chi < 27.88, "chi-square %.2f", chi);
    int32_t idx[100];
    for (int i = 0; i < 100; i++) idx[i] = i;
    hq_rng_shuffle_i32(&r, idx, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) HQ_CHECK_EQ_INT(seen[i], 1);
    HQ_CHECK(moved > 80);
}

HQ_TEST(core_sha256_known_answers) {
    char hex[HQ_SHA256_HEX_LEN];
    HQ_CHECK_OK(hq_sha256_hex("", 0, hex));
    HQ_CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    HQ_CHECK_OK(hq_sha256_hex("abc", 3, hex));
    HQ_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* streaming equals one-shot */
    hq_sha256_ctx *ctx;
    HQ_REQUIRE_OK(hq_sha256_begin(&ctx));
    HQ_CHECK_OK(hq_sha256_update(ctx, "a", 1));
    HQ_CHECK_OK(hq_sha256_update(ctx, "bc", 2));
    uint8_t d[32];
    HQ_CHECK_OK(hq_sha256_end(ctx, d));
    char hex2[65];
    hq_hex_encode(d, 32, hex2);
    HQ_CHECK_STR(hex2, hex);
    /* a reused context: the same digests as one-shot calls, whatever was fed before */
    HQ_REQUIRE_OK(hq_sha256_begin(&ctx));
    HQ_CHECK_OK(hq_sha256_update(ctx, "left over", 9));
    HQ_CHECK_OK(hq_sha256_again(ctx, "abc", 3, d));
    hq_hex_encode(d, 32, hex2);
    HQ_CHECK_STR(hex2, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    HQ_CHECK_OK(hq_sha256_again(ctx, "", 0, d));
    hq_hex_encode(d, 32, hex2);
    HQ_CHECK_STR(hex2, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    uint8_t long_msg[1000], d1[32];
    for (int i = 0; i < 1000; i++) long_msg[i] = (uint8_t)(i * 7);
    HQ_CHECK_OK(hq_sha256_again(ctx, long_msg, sizeof long_msg, d));
    HQ_CHECK_OK(hq_sha256(long_msg, sizeof long_msg, d1));
    HQ_CHECK(memcmp(d, d1, 32) == 0);
    hq_sha256_abort(ctx);
    char md5[33];
    const char *p = hq_test_write_file("abc.txt", "abc", 3);
    HQ_CHECK_OK(hq_md5_file_hex(p, md5));
    HQ_CHECK_STR(md5, "900150983cd24fb0d6963f7d28e17f72");
}

HQ_TEST(core_sbuf) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b, "x=");
    hq_sbuf_put_double(&b, 0.1);
    hq_sbuf_putc(&b, ' ');
    hq_sbuf_put_double(&b, 1.0 / 3.0);
    hq_sbuf_putc(&b, ' ');
    hq_sbuf_put_json_str(&b, "a\"b\\c\n");
    HQ_CHECK_STR(b.p, "x=0.1 0.3333333333333333 \"a\\\"b\\\\c\\n\"");
    for (int i = 0; i < 1000; i++) hq_sbuf_printf(&b, "%04d", i);
    HQ_CHECK_EQ_INT(b.len, 36 + 4000);
    HQ_CHECK_OK(hq_sbuf_status(&b));
    char *s = hq_sbuf_take(&b);
    HQ_CHECK(s && b.p == NULL);
    hq_free(s);
    /* an allocation failure is sticky */
    hq_alloc_fail_after(1);
    hq_sbuf_puts(&b, "abc");
    hq_sbuf_puts(&b, "def");
    HQ_CHECK_EQ_INT(hq_sbuf_status(&b), HQ_ERR_NOMEM);
    hq_sbuf_free(&b);
}

HQ_TEST(core_parse_numbers) {
    int64_t v;
    double d;
    HQ_CHECK_OK(hq_parse_i64("42", 0, 100, &v));
    HQ_CHECK_EQ_INT(v, 42);
    HQ_CHECK_FAILS(hq_parse_i64("42x", 0, 100, &v), HQ_ERR_INVALID_ARG, "not an integer");
    HQ_CHECK_FAILS(hq_parse_i64("101", 0, 100, &v), HQ_ERR_INVALID_ARG, "out of range [0, 100]");
    HQ_CHECK_FAILS(hq_parse_i64("", 0, 100, &v), HQ_ERR_INVALID_ARG, "empty");
    HQ_CHECK_OK(hq_parse_double("1e-3", &d));
    HQ_CHECK_NEAR(d, 1e-3, 0);
    HQ_CHECK_FAILS(hq_parse_double("nan", &d), HQ_ERR_INVALID_ARG, "not a finite number");
}

HQ_TEST(core_files) {
    const char *p = hq_test_tmpfile("sub/dir/file.txt");
    char dir[4096];
    hq_path_dirname(dir, sizeof dir, p);
    HQ_REQUIRE_OK(hq_mkdir_p(dir, 0755));
    HQ_REQUIRE_OK(hq_file_write_atomic(p, "hello", 5));
    char *data;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(p, 0, &data, &len));
    HQ_CHECK_EQ_INT(len, 5);
    HQ_CHECK_STR(data, "hello");
    hq_free(data);
    HQ_CHECK_FAILS(hq_file_read(p, 3, &data, &len), HQ_ERR_INVALID_ARG, "more than the limit");
    HQ_CHECK_FAILS(hq_file_read(hq_test_tmpfile("nope"), 0, &data, &len), HQ_ERR_NOT_FOUND,
                   "cannot open");
    HQ_CHECK(hq_is_regular_file(p) && hq_file_exists(p));
    HQ_CHECK(!hq_is_regular_file(dir) && hq_file_exists(dir));
    HQ_CHECK(!hq_is_regular_file(hq_test_tmpfile("nope")));
    char j[64];
    HQ_CHECK_OK(hq_path_join(j, sizeof j, "a/", "b"));
    HQ_CHECK_STR(j, "a/b");
    HQ_CHECK_FAILS(hq_path_join(j, 4, "abc", "def"), HQ_ERR_INVALID_ARG, "too long");
}
