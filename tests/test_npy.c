/*
 * tests/test_npy.c — nn/npy: .npy headers and dtypes, .npz archives (stored, deflate, data
 * descriptors), known values of the MedMNIST files in ../shared/data, and every kind of bad
 * input: truncation at every offset, random byte damage (success must imply correct data),
 * CRC / size / offset / overlap damage, zip bombs, zip64, encryption, absurd shapes,
 * unsupported dtypes and orders, allocation failures. Also replays the fuzz corpus.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/rng.h"
#include "nn/npy.h"
#include "tests/hq_test.h"
#include "tests/npz_testutil.h"

int hq_fuzz_npz(const uint8_t *data, size_t size); /* tests/fuzz/fuzz_npz.c */

/* ==== .npy ============================================================================ */

HQ_TEST(npy_dtypes_and_values) {
    /* one array per dtype with values whose bytes are written by hand (little-endian) */
    static const struct {
        const char *descr;
        hq_npy_dtype dt;
        uint8_t bytes[16];
        size_t len;
        double v[2]; /* the two values encoded */
    } cases[] = {
        {"|b1", HQ_NPY_BOOL, {1, 0}, 2, {1, 0}},
        {"|u1", HQ_NPY_U8, {200, 7}, 2, {200, 7}},
        {"<u1", HQ_NPY_U8, {200, 7}, 2, {200, 7}},
        {"|i1", HQ_NPY_I8, {0xff, 0x80}, 2, {-1, -128}},
        {"<u2", HQ_NPY_U16, {0x34, 0x12, 0xff, 0xff}, 4, {0x1234, 65535}},
        {"<i2", HQ_NPY_I16, {0xfe, 0xff, 0x00, 0x80}, 4, {-2, -32768}},
        {"<u4", HQ_NPY_U32, {1, 0, 0, 0, 0, 0, 0, 0x80}, 8, {1, 2147483648.0}},
        {"<i4", HQ_NPY_I32, {0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0}, 8, {-1, 16}},
        {"<u8",
         HQ_NPY_U64,
         {5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
         16,
         {5, 72057594037927936.0}},
        {"<i8",
         HQ_NPY_I64,
         {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 0, 0, 0, 0},
         16,
         {-3, 9}},
        {"<f4", HQ_NPY_F32, {0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0xc1}, 8, {1.5, -10}},
        {"<f8",
         HQ_NPY_F64,
         {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0},
         16,
         {1, -2.5}},
    };
    for (size_t k = 0; k < HQ_ARRAY_LEN(cases); k++) {
        size_t len;
        uint8_t *img = tz_npy(cases[k].descr, "False", "(2,)", cases[k].bytes, cases[k].len, &len);
        hq_npy_array a;
        HQ_CHECK_OK(hq_npy_parse(img, len, "t.npy", &a));
        HQ_CHECK_EQ_INT(a.dtype, cases[k].dt);
        HQ_CHECK_EQ_INT(a.ndim, 1);
        HQ_CHECK_EQ_INT(a.shape[0], 2);
        HQ_CHECK_EQ_INT(a.count, 2);
        HQ_CHECK_EQ_INT(a.nbytes, cases[k].len);
        HQ_CHECK_EQ_INT(hq_npy_dtype_size(a.dtype) * 2, cases[k].len);
        HQ_CHECK(a.data && memcmp(a.data, cases[k].bytes, cases[k].len) == 0);
        HQ_CHECK_OK(hq_npy_convert(&a, HQ_NPY_F32));
        HQ_CHECK_EQ_INT(a.dtype, HQ_NPY_F32);
        HQ_CHECK_EQ_INT(a.nbytes, 8);
        const float *f = a.data;
        for (int i = 0; i < 2; i++) HQ_CHECK_NEAR(f[i], (float)cases[k].v[i], 0);
        hq_npy_array_free(&a);
        HQ_CHECK(a.data == NULL && a.count == 0);
        /* int32 conversion: exact where in range, an error otherwise */
        HQ_REQUIRE_OK(hq_npy_parse(img, len, "t.npy", &a));
        bool fits = true;
        for (int i = 0; i < 2; i++)
            fits = fits && cases[k].v[i] == floor(cases[k].v[i]) &&
                   fabs(cases[k].v[i]) <= 2147483647.0;
        if (fits) {
            HQ_CHECK_OK(hq_npy_convert(&a, HQ_NPY_I32));
            const int32_t *iv = a.data;
            for (int i = 0; i < 2; i++) HQ_CHECK_EQ_INT(iv[i], (int64_t)cases[k].v[i]);
        } else {
            HQ_CHECK_FAILS(hq_npy_convert(&a, HQ_NPY_I32), HQ_ERR_INVALID_ARG,
                           "is not an integer in the int32 range");
            HQ_CHECK_EQ_INT(a.dtype, cases[k].dt); /* unchanged */
        }
        hq_npy_array_free(&a);
        hq_free(img);
    }
    HQ_CHECK_STR(hq_npy_dtype_str(HQ_NPY_F32), "<f4");
    HQ_CHECK_STR(hq_npy_dtype_str((hq_npy_dtype)99), "?");
    HQ_CHECK_EQ_INT(hq_npy_dtype_size((hq_npy_dtype)99), 0);
}

HQ_TEST(npy_versions_shapes_and_layouts) {
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    for (int major = 1; major <= 3; major++) {
        size_t len;
        uint8_t *img = tz_npy_dict(dict, major, v, sizeof v, &len);
        hq_npy_array a;
        HQ_CHECK_OK(hq_npy_parse(img, len, NULL, &a));
        HQ_CHECK(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
        HQ_CHECK(a.data && !memcmp(a.data, v, sizeof v));
        char sh[32];
        hq_npy_shape_str(&a, sh, sizeof sh);
        HQ_CHECK_STR(sh, "(2, 3)");
        hq_npy_array_free(&a);
        hq_free(img);
    }
    static const struct {
        const char *dict;
        int ndim;
        int64_t count;
        size_t bytes;
    } ok[] = {
        /* scalar */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, 1, 4},
        /* empty array: no data at all */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", 2, 0, 0},
        /* double quotes, no spaces, no trailing comma, Python 2 longs */
        {"{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(3L,)}", 1, 3, 12},
        /* other key order */
        {"{'shape': (1, 3), 'fortran_order': False, 'descr': '<f4'}", 2, 3, 12},
        /* Fortran order with one long dimension is the same layout: accepted */
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3, 1), }", 3, 3, 12},
    };
    for (size_t k = 0; k < HQ_ARRAY_LEN(ok); k++) {
        size_t len;
        uint8_t *img = tz_npy_dict(ok[k].dict, 1, v, ok[k].bytes, &len);
        hq_npy_array a;
        HQ_CHECK_OK(hq_npy_parse(img, len, "t", &a));
        HQ_CHECK_EQ_INT(a.ndim, ok[k].ndim);
        HQ_CHECK_EQ_INT(a.count, ok[k].count);
        HQ_CHECK_EQ_INT(a.nbytes, ok[k].bytes);
        if (ok[k].bytes) HQ_CHECK(a.data && !memcmp(a.data, v, ok[k].bytes));
        hq_npy_array_free(&a);
        hq_free(img);
    }
    hq_npy_array s = {0};
    s.ndim = 1;
    s.shape[0] = 5;
    char sh[16];
    hq_npy_shape_str(&s, sh, sizeof sh);
    HQ_CHECK_STR(sh, "(5,)");
    s.ndim = 0;
    hq_npy_shape_str(&s, sh, sizeof sh);
    HQ_CHECK_STR(sh, "()");
}

HQ_TEST(npy_header_errors) {
    const uint8_t data[64] = {0};
    static const struct {
        const char *dict;
        size_t data_len;
        hq_status st;
        const char *msg;
    } bad[] = {
        {"{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", 8, HQ_ERR_UNSUPPORTED,
         "big-endian dtype '>i4' is not supported"},
        {"{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", 8, HQ_ERR_UNSUPPORTED,
         "arr.astype('<f8')"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, HQ_ERR_UNSUPPORTED,
         "dtype '<c8' is not supported (supported: |b1"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8, HQ_ERR_UNSUPPORTED,
         "dtype '|O'"},
        {"{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", 20, HQ_ERR_UNSUPPORTED,
         "dtype '<U5'"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", 4, HQ_ERR_UNSUPPORTED,
         "dtype '|f4'"},
        {"{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }", 4,
         HQ_ERR_UNSUPPORTED, "structured dtypes"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, HQ_ERR_UNSUPPORTED,
         "Fortran-order (column-major) arrays are not supported"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0,
         HQ_ERR_CORRUPT, "has more than 2^63 elements"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 0,
         HQ_ERR_CORRUPT, "overflows the address space"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0,
         HQ_ERR_PARSE, "dimension above 2^63"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0, HQ_ERR_PARSE,
         "expected a dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1), }",
         4, HQ_ERR_UNSUPPORTED, "more than 16 dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, HQ_ERR_CORRUPT,
         "data is 8 bytes but shape (3,) of <f4 needs 12 (truncated)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, HQ_ERR_CORRUPT,
         "(trailing bytes)"},
        {"{'descr': '<f4', 'shape': (1,), }", 4, HQ_ERR_PARSE, "header lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, }", 4, HQ_ERR_PARSE, "lacks 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4, HQ_ERR_PARSE,
         "unexpected key 'extra'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, HQ_ERR_PARSE,
         "repeats 'descr'"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", 4, HQ_ERR_PARSE, "expected ':'"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", 4, HQ_ERR_PARSE,
         "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", 4, HQ_ERR_PARSE,
         "expected ',' or ')' in the shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4, HQ_ERR_PARSE,
         "expected '(' starting the shape"},
        {"['descr', '<f4']", 4, HQ_ERR_PARSE, "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", 4, HQ_ERR_PARSE,
         "expected the end of the header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, HQ_ERR_PARSE,
         "expected ',' or '}'"},
        {"{'de\\scr': '<f4'}", 4, HQ_ERR_PARSE, "a short plain string"},
        {"{'descr': '<f4", 4, HQ_ERR_PARSE, "expected a closing quote"},
    };
    for (size_t k = 0; k < HQ_ARRAY_LEN(bad); k++) {
        size_t len;
        uint8_t *img = tz_npy_dict(bad[k].dict, 1, data, bad[k].data_len, &len);
        hq_npy_array a;
        HQ_CHECK_FAILS(hq_npy_parse(img, len, "bad.npy", &a), bad[k].st, bad[k].msg);
        HQ_CHECK(a.data == NULL && a.ndim == 0);
        HQ_CHECKF(strncmp(hq_last_error(), "bad.npy: ", 9) == 0, "case %zu: '%s' lacks the name", k,
                  hq_last_error());
        hq_free(img);
    }
    /* magic, version, lengths */
    size_t len;
    uint8_t *img = tz_npy("<f4", "False", "(1,)", data, 4, &len);
    hq_npy_array a;
    HQ_CHECK_FAILS(hq_npy_parse(img, 5, "x.npy", &a), HQ_ERR_PARSE,
                   "x.npy: not an .npy array (5 bytes, too short)");
    img[1] = 'X';
    HQ_CHECK_FAILS(hq_npy_parse(img, len, "x.npy", &a), HQ_ERR_PARSE, "bad magic");
    img[1] = 'N';
    img[6] = 4;
    HQ_CHECK_FAILS(hq_npy_parse(img, len, "x.npy", &a), HQ_ERR_UNSUPPORTED, "format version 4.0");
    img[6] = 1;
    img[7] = 1;
    HQ_CHECK_FAILS(hq_npy_parse(img, len, "x.npy", &a), HQ_ERR_UNSUPPORTED, "format version 1.1");
    img[7] = 0;
    tz_put16(img + 8, 60000);
    HQ_CHECK_FAILS(hq_npy_parse(img, len, "x.npy", &a), HQ_ERR_CORRUPT,
                   "header length 60000 runs past the end");
    hq_free(img);
    uint8_t big[16 + 8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0};
    tz_put32(big + 8, 1u << 22);
    HQ_CHECK_FAILS(hq_npy_parse(big, sizeof big, "x.npy", &a), HQ_ERR_CORRUPT, "runs past the end");
    HQ_CHECK_FAILS(hq_npy_parse(NULL, 4, "x", &a), HQ_ERR_INVALID_ARG, "NULL data");
    HQ_CHECK_FAILS(hq_npy_parse(big, 4, "x", NULL), HQ_ERR_INVALID_ARG, "NULL out");
}

HQ_TEST(npy_convert_errors) {
    int64_t v[3] = {1, (int64_t)1 << 40, -5};
    hq_npy_array a = {0};
    a.dtype = HQ_NPY_I64;
    a.ndim = 1;
    a.shape[0] = a.count = 3;
    a.nbytes = sizeof v;
    a.data = hq_malloc(sizeof v);
    memcpy(a.data, v, sizeof v);
    HQ_CHECK_FAILS(hq_npy_convert(&a, HQ_NPY_I32), HQ_ERR_INVALID_ARG,
                   "element 1 (<i8 value 1099511627776)");
    HQ_CHECK_FAILS(hq_npy_convert(&a, HQ_NPY_U8), HQ_ERR_INVALID_ARG, "is not float32 or int32");
    HQ_CHECK_FAILS(hq_npy_convert(NULL, HQ_NPY_F32), HQ_ERR_INVALID_ARG, "NULL array");
    hq_npy_array_free(&a);
    double d[2] = {2.0, NAN};
    a.dtype = HQ_NPY_F64;
    a.ndim = 1;
    a.shape[0] = a.count = 2;
    a.nbytes = sizeof d;
    a.data = hq_malloc(sizeof d);
    memcpy(a.data, d, sizeof d);
    HQ_CHECK_FAILS(hq_npy_convert(&a, HQ_NPY_I32), HQ_ERR_INVALID_ARG, "element 1 (<f8 value nan)");
    ((double *)a.data)[1] = 2.5;
    HQ_CHECK_FAILS(hq_npy_convert(&a, HQ_NPY_I32), HQ_ERR_INVALID_ARG, "value 2.5");
    hq_alloc_fail_after(1);
    HQ_CHECK_FAILS(hq_npy_convert(&a, HQ_NPY_F32), HQ_ERR_NOMEM, "cannot allocate");
    hq_alloc_fail_after(0);
    HQ_CHECK_EQ_INT(a.dtype, HQ_NPY_F64);
    hq_npy_array_free(&a);
    hq_npy_array_free(NULL);
}

HQ_TEST(npy_read_file) {
    const int16_t v[4] = {-1, 2, -3, 4};
    size_t len;
    uint8_t *img = tz_npy("<i2", "False", "(2, 2)", v, sizeof v, &len);
    const char *path = hq_test_write_file("a.npy", img, len);
    hq_free(img);
    hq_npy_array a;
    HQ_REQUIRE_OK(hq_npy_read_file(path, &a));
    HQ_CHECK(a.dtype == HQ_NPY_I16 && a.count == 4 && !memcmp(a.data, v, sizeof v));
    hq_npy_array_free(&a);
    HQ_CHECK_FAILS(hq_npy_read_file(hq_test_tmpfile("none.npy"), &a), HQ_ERR_NOT_FOUND, "none.npy");
    HQ_CHECK_FAILS(hq_npy_read_file(NULL, &a), HQ_ERR_INVALID_ARG, "NULL path");
    path = hq_test_write_file("t.npy", "hello world", 11);
    HQ_CHECK_FAILS(hq_npy_read_file(path, &a), HQ_ERR_PARSE, "t.npy: not an .npy array");
}

/* ==== .npz: valid archives ============================================================ */

/* An archive of three small arrays, mixing methods. */
typedef struct small_npz {
    uint8_t *npy[3];
    size_t len[3];
    tz_zip z;
} small_npz;

static const float small_f[12] = {0.5f, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t small_u[6] = {0, 1, 1, 0, 1, 1};

static void small_build(small_npz *s, int method0, int method1, bool descriptor) {
    static uint8_t zeros[4000];
    s->npy[0] = tz_npy("<f4", "False", "(3, 4)", small_f, sizeof small_f, &s->len[0]);
    s->npy[1] = tz_npy("|u1", "False", "(6, 1)", small_u, sizeof small_u, &s->len[1]);
    s->npy[2] = tz_npy("|u1", "False", "(4000,)", zeros, sizeof zeros, &s->len[2]);
    tz_member m[3] = {
        {"x.npy", s->npy[0], s->len[0], method0, descriptor},
        {"y.npy", s->npy[1], s->len[1], method1, false},
        {"zeros.npy", s->npy[2], s->len[2], 8, false},
    };
    tz_build(&s->z, m, 3);
}

static void small_free(small_npz *s) {
    for (int i = 0; i < 3; i++) hq_free(s->npy[i]);
    tz_free(&s->z);
}

/* True if the archive reads back exactly the arrays small_build put in. */
static bool small_reads_back(hq_npz *z) {
    hq_npy_array a, b, c;
    if (hq_npz_read(z, "x", &a) != HQ_OK) return false;
    if (hq_npz_read(z, "y.npy", &b) != HQ_OK) {
        hq_npy_array_free(&a);
        return false;
    }
    if (hq_npz_read(z, "zeros", &c) != HQ_OK) {
        hq_npy_array_free(&a);
        hq_npy_array_free(&b);
        return false;
    }
    bool ok = a.dtype == HQ_NPY_F32 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 4 &&
              !memcmp(a.data, small_f, sizeof small_f) && b.dtype == HQ_NPY_U8 && b.ndim == 2 &&
              b.shape[0] == 6 && !memcmp(b.data, small_u, sizeof small_u) && c.count == 4000;
    for (int i = 0; ok && i < 4000; i++) ok = ((uint8_t *)c.data)[i] == 0;
    hq_npy_array_free(&a);
    hq_npy_array_free(&b);
    hq_npy_array_free(&c);
    return ok;
}

HQ_TEST(npz_stored_deflate_descriptor) {
    static const int methods[4][2] = {{0, 0}, {8, 8}, {0, 8}, {8, 0}};
    for (int k = 0; k < 8; k++) {
        small_npz s;
        small_build(&s, methods[k % 4][0], methods[k % 4][1], k >= 4);
        hq_npz *z;
        HQ_REQUIRE_OK(hq_npz_open_buffer(s.z.p, s.z.len, "small.npz", &z));
        HQ_CHECK_EQ_INT(hq_npz_count(z), 3);
        HQ_CHECK_STR(hq_npz_name(z, 0), "x.npy");
        HQ_CHECK_STR(hq_npz_name(z, 2), "zeros.npy");
        HQ_CHECK(hq_npz_name(z, 3) == NULL && hq_npz_name(z, -1) == NULL);
        HQ_CHECK_EQ_INT(hq_npz_member_size(z, 0), s.len[0]);
        HQ_CHECK_EQ_INT(hq_npz_member_size(z, 9), 0);
        HQ_CHECK(hq_npz_has(z, "x") && hq_npz_has(z, "x.npy") && !hq_npz_has(z, "x.np"));
        HQ_CHECKF(small_reads_back(z), "methods %d/%d descriptor %d: %s", methods[k % 4][0],
                  methods[k % 4][1], k >= 4, hq_last_error());
        /* the convenience readers convert */
        hq_npy_array a;
        HQ_CHECK_OK(hq_npz_read_f32(z, "y", &a));
        HQ_CHECK(a.dtype == HQ_NPY_F32 && ((float *)a.data)[1] == 1.0f);
        hq_npy_array_free(&a);
        HQ_CHECK_FAILS(hq_npz_read_i32(z, "x", &a), HQ_ERR_INVALID_ARG, "not an integer");
        HQ_CHECK_OK(hq_npz_read_i32(z, "y", &a));
        HQ_CHECK(a.dtype == HQ_NPY_I32 && ((int32_t *)a.data)[2] == 1);
        hq_npy_array_free(&a);
        hq_npz_free(z);
        /* the same through a file */
        const char *path = hq_test_write_file("small.npz", s.z.p, s.z.len);
        HQ_REQUIRE_OK(hq_npz_open(path, &z));
        HQ_CHECK(small_reads_back(z));
        hq_npz_free(z);
        small_free(&s);
    }
    /* an empty archive is valid and has no members */
    tz_zip e;
    tz_build(&e, NULL, 0);
    hq_npz *z;
    HQ_REQUIRE_OK(hq_npz_open_buffer(e.p, e.len, "empty.npz", &z));
    HQ_CHECK_EQ_INT(hq_npz_count(z), 0);
    hq_npy_array a;
    HQ_CHECK_FAILS(hq_npz_read(z, "x", &a), HQ_ERR_NOT_FOUND, "members: none");
    hq_npz_free(z);
    tz_free(&e);
}

/* Known values of the MedMNIST files (../shared/data/README.md). */
HQ_TEST(npz_medmnist_known_values) {
    static const struct {
        const char *file;
        int64_t n[3];
        int64_t sum[3];
        int channels;
        uint8_t first[4];
    } sets[] = {
        {"data/medmnist/breastmnist.npz",
         {546, 78, 156},
         {35757482, 5282574, 10478773},
         1,
         {139, 139, 138, 139}},
        {"data/medmnist/pneumoniamnist.npz",
         {4708, 524, 624},
         {538305934, 59624090, 70355184},
         1,
         {92, 108, 117, 111}},
        {"data/medmnist/retinamnist.npz",
         {1080, 120, 400},
         {172486755, 18819325, 61494456},
         3,
         {2, 0, 6, 4}},
    };
    static const char *const splits[3] = {"train", "val", "test"};
    for (size_t k = 0; k < HQ_ARRAY_LEN(sets); k++) {
        hq_npz *z;
        HQ_REQUIRE_OK(hq_npz_open(hq_test_shared(sets[k].file), &z));
        HQ_CHECK_EQ_INT(hq_npz_count(z), 6);
        for (int s = 0; s < 3; s++) {
            char name[32];
            snprintf(name, sizeof name, "%s_images", splits[s]);
            hq_npy_array a;
            HQ_REQUIRE_OK(hq_npz_read(z, name, &a));
            HQ_CHECK_EQ_INT(a.dtype, HQ_NPY_U8);
            HQ_CHECK_EQ_INT(a.ndim, sets[k].channels == 3 ? 4 : 3);
            HQ_CHECK_EQ_INT(a.shape[0], sets[k].n[s]);
            HQ_CHECK(a.shape[1] == 28 && a.shape[2] == 28);
            int64_t sum = 0;
            for (size_t i = 0; i < a.nbytes; i++) sum += ((uint8_t *)a.data)[i];
            HQ_CHECK_EQ_INT(sum, sets[k].sum[s]);
            if (s == 0) HQ_CHECK(!memcmp(a.data, sets[k].first, 4));
            hq_npy_array_free(&a);
            snprintf(name, sizeof name, "%s_labels.npy", splits[s]);
            HQ_REQUIRE_OK(hq_npz_read_i32(z, name, &a));
            HQ_CHECK(a.ndim == 2 && a.shape[0] == sets[k].n[s] && a.shape[1] == 1);
            hq_npy_array_free(&a);
        }
        hq_npz_free(z);
    }
}

/* Archives written by NumPy 1.24 (np.savez, np.savez_compressed, np.lib.format with
 * versions 1-3, and Python's zipfile streaming to an unseekable file, which writes data
 * descriptors): the seeds of the fuzz target. */
HQ_TEST(npz_numpy_written_archives) {
    hq_npz *z;
    hq_npy_array a;
    HQ_REQUIRE_OK(hq_npz_open("tests/fuzz/seeds/fuzz_npz/dtypes_stored.npz", &z));
    HQ_CHECK_EQ_INT(hq_npz_count(z), 12);
    static const struct {
        const char *name;
        hq_npy_dtype dt;
        int ndim;
        double v0, v1;
    } want[] = {
        {"b", HQ_NPY_BOOL, 1, 1, 0},     {"i1", HQ_NPY_I8, 1, -1, 2},
        {"u2", HQ_NPY_U16, 1, 1, 65535}, {"i2", HQ_NPY_I16, 1, -7, 8},
        {"i4", HQ_NPY_I32, 2, 1, 4},     {"u8", HQ_NPY_U64, 1, 9, 9},
        {"i8", HQ_NPY_I64, 1, -9, -9},   {"f8", HQ_NPY_F64, 1, 2.25, -INFINITY},
        {"scalar", HQ_NPY_F32, 0, 3, 3},
    };
    for (size_t k = 0; k < HQ_ARRAY_LEN(want); k++) {
        HQ_REQUIRE_OK(hq_npz_read(z, want[k].name, &a));
        HQ_CHECK_EQ_INT(a.dtype, want[k].dt);
        HQ_CHECK_EQ_INT(a.ndim, want[k].ndim);
        HQ_REQUIRE_OK(hq_npy_convert(&a, HQ_NPY_F32));
        const float *f = a.data;
        HQ_CHECK(f[0] == (float)want[k].v0 && f[a.count - 1] == (float)want[k].v1);
        hq_npy_array_free(&a);
    }
    HQ_REQUIRE_OK(hq_npz_read(z, "empty", &a));
    HQ_CHECK(a.ndim == 2 && a.shape[0] == 0 && a.shape[1] == 3 && a.count == 0 && !a.data);
    hq_npy_array_free(&a);
    HQ_REQUIRE_OK(hq_npz_read_f32(z, "f4", &a));
    HQ_CHECK(((float *)a.data)[0] == 1.5f && isnan(((float *)a.data)[1]));
    hq_npy_array_free(&a);
    hq_npz_free(z);

    HQ_REQUIRE_OK(hq_npz_open("tests/fuzz/seeds/fuzz_npz/descriptor.npz", &z));
    HQ_REQUIRE_OK(hq_npz_read_i32(z, "d", &a));
    HQ_CHECK_EQ_INT(a.count, 10);
    for (int i = 0; i < 10; i++) HQ_CHECK_EQ_INT(((int32_t *)a.data)[i], i);
    hq_npy_array_free(&a);
    hq_npz_free(z);

    HQ_REQUIRE_OK(hq_npz_open("tests/fuzz/seeds/fuzz_npz/fortran.npz", &z));
    HQ_CHECK_FAILS(hq_npz_read(z, "f", &a), HQ_ERR_UNSUPPORTED, "member 'f.npy': Fortran-order");
    hq_npz_free(z);
    HQ_REQUIRE_OK(hq_npz_open("tests/fuzz/seeds/fuzz_npz/bigendian.npz", &z));
    HQ_CHECK_FAILS(hq_npz_read(z, "be", &a), HQ_ERR_UNSUPPORTED, "big-endian dtype '>i4'");
    hq_npz_free(z);
    static const char *const npys[3] = {"plain_v1.npy", "plain_v2.npy", "plain_v3.npy"};
    static const int64_t counts[3] = {12, 5, 3};
    for (int v = 0; v < 3; v++) {
        char p[128];
        snprintf(p, sizeof p, "tests/fuzz/seeds/fuzz_npz/%s", npys[v]);
        HQ_REQUIRE_OK(hq_npy_read_file(p, &a));
        HQ_CHECK_EQ_INT(a.count, counts[v]);
        HQ_REQUIRE_OK(hq_npy_convert(&a, HQ_NPY_I32));
        for (int64_t i = 0; i < a.count; i++) HQ_CHECK_EQ_INT(((int32_t *)a.data)[i], i);
        hq_npy_array_free(&a);
    }
}

/* ==== .npz: damage ==================================================================== */

HQ_TEST(npz_truncated_at_every_offset) {
    small_npz s;
    small_build(&s, 8, 0, false);
    for (size_t cut = 0; cut < s.z.len; cut++) {
        hq_npz *z = NULL;
        hq_status st = hq_npz_open_buffer(s.z.p, cut, "cut.npz", &z);
        HQ_CHECKF(st == HQ_ERR_PARSE || st == HQ_ERR_CORRUPT, "cut at %zu: %s", cut,
                  hq_status_name(st));
        HQ_CHECK(z == NULL);
        if (cut == 0 || cut == s.z.len / 2)
            HQ_CHECK(strstr(hq_last_error(), "cut.npz: not a zip/.npz archive") != NULL);
    }
    HQ_CHECK(strstr(hq_last_error(), "truncated") != NULL); /* the "starts like a zip" hint */
    small_free(&s);
    /* the real file, cut at a few hundred places including the last bytes */
    char *buf;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(hq_test_shared("data/medmnist/breastmnist.npz"), 0, &buf, &len));
    for (size_t cut = 0; cut < len; cut += cut + 1 < len - 300 ? 1777 : 1) {
        hq_npz *z = NULL;
        hq_status st = hq_npz_open_buffer(buf, cut, "breastmnist.npz", &z);
        HQ_CHECKF(st != HQ_OK, "cut at %zu opened", cut);
        hq_npz_free(z);
    }
    hq_free(buf);
}

HQ_TEST(npz_random_damage_never_lies) {
    /* flip random bytes: the reader may fail or succeed, but a success returns exactly the
     * original arrays (every byte that matters is covered by a CRC or a cross-check) */
    small_npz s;
    small_build(&s, 8, 0, true);
    uint8_t *copy = hq_malloc(s.z.len);
    hq_rng rng;
    hq_rng_init(&rng, 99, 1, 0);
    int failed = 0, passed = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, s.z.p, s.z.len);
        int flips = 1 + trial % 3;
        for (int f = 0; f < flips; f++)
            copy[hq_rng_u32(&rng) % s.z.len] ^= (uint8_t)(1u << (hq_rng_u32(&rng) % 8));
        hq_npz *z;
        if (hq_npz_open_buffer(copy, s.z.len, "d.npz", &z) != HQ_OK) {
            failed++;
            continue;
        }
        bool all = true;
        static const char *const names[3] = {"x", "y", "zeros"};
        for (int i = 0; i < 3; i++) {
            hq_npy_array a;
            if (hq_npz_read(z, names[i], &a) == HQ_OK)
                hq_npy_array_free(&a);
            else
                all = false;
        }
        if (all) HQ_CHECKF(small_reads_back(z), "trial %d: damaged data read as valid", trial);
        passed++;
        hq_npz_free(z);
    }
    HQ_CHECK(failed > 1000 && passed > 100); /* both outcomes are exercised */
    hq_free(copy);
    small_free(&s);
}

/* Build small_npz, apply `patch`, and check open or read fails with st / msg. */
typedef void (*patch_fn)(tz_zip *z);

static void expect_damage(patch_fn patch, int method, bool at_open, hq_status st, const char *msg) {
    small_npz s;
    small_build(&s, method, method, false);
    patch(&s.z);
    hq_npz *z = NULL;
    if (at_open) {
        HQ_CHECK_FAILS(hq_npz_open_buffer(s.z.p, s.z.len, "bad.npz", &z), st, msg);
        HQ_CHECK(z == NULL);
    } else {
        HQ_CHECK_OK(hq_npz_open_buffer(s.z.p, s.z.len, "bad.npz", &z));
        hq_npy_array a;
        if (z) HQ_CHECK_FAILS(hq_npz_read(z, "x", &a), st, msg);
        if (z) HQ_CHECK(strstr(hq_errmsg(z), msg) != NULL);
        hq_npz_free(z);
    }
    small_free(&s);
}

static void flip_stored_data(tz_zip *z) { z->p[z->data[0] + 100] ^= 0x01; }
static void flip_crc(tz_zip *z) {
    z->p[z->central[0] + 16] ^= 0x10;
    z->p[z->local[0] + 14] ^= 0x10;
}
static void flip_deflate_data(tz_zip *z) { z->p[z->data[0] + z->csize[0] / 2] ^= 0x55; }
static void local_crc_differs(tz_zip *z) { z->p[z->local[0] + 14] ^= 0x01; }
static void local_method_differs(tz_zip *z) { z->p[z->local[0] + 8] ^= 8; }
static void local_name_differs(tz_zip *z) { z->p[z->local[0] + 30] = 'q'; }
static void local_sig_broken(tz_zip *z) { z->p[z->local[1]] = 'X'; }
static void local_off_out_of_range(tz_zip *z) { tz_put32(z->p + z->central[1] + 42, 0x7fffffff); }
static void csize_past_end(tz_zip *z) {
    tz_put32(z->p + z->central[2] + 20, 100000);
    tz_put32(z->p + z->local[2] + 18, 100000);
}
static void usize_bomb(tz_zip *z) { /* 4 GB - 2 declared from a few hundred bytes */
    tz_put32(z->p + z->central[2] + 24, 0xfffffffe);
    tz_put32(z->p + z->local[2] + 22, 0xfffffffe);
}
static void stored_sizes_differ(tz_zip *z) {
    tz_put32(z->p + z->central[0] + 24, (uint32_t)z->csize[0] + 1);
}
static void encrypted(tz_zip *z) {
    z->p[z->central[0] + 8] |= 1;
    z->p[z->local[0] + 6] |= 1;
}
static void method_bzip2(tz_zip *z) {
    z->p[z->central[1] + 10] = 12;
    z->p[z->local[1] + 8] = 12;
}
static void zip64_eocd(tz_zip *z) { tz_put32(z->p + z->eocd + 16, 0xffffffff); }
static void zip64_entry(tz_zip *z) { tz_put32(z->p + z->central[1] + 20, 0xffffffff); }
static void multi_disk(tz_zip *z) { tz_put16(z->p + z->eocd + 4, 1); }
static void cd_offset_wrong(tz_zip *z) { tz_put32(z->p + z->eocd + 16, (uint32_t)z->cd_off - 1); }
static void too_many_entries(tz_zip *z) {
    tz_put16(z->p + z->eocd + 8, 200);
    tz_put16(z->p + z->eocd + 10, 200);
}
static void central_sig_broken(tz_zip *z) { z->p[z->central[2]] = 'Q'; }
static void duplicate_name(tz_zip *z) {
    z->p[z->central[1] + 46] = 'x';
    z->p[z->local[1] + 30] = 'x';
}
static void name_has_nul(tz_zip *z) {
    z->p[z->central[1] + 47] = 0;
    z->p[z->local[1] + 31] = 0;
}
static void usize_too_small(tz_zip *z) { /* member claims fewer bytes than the npy needs */
    tz_put32(z->p + z->central[0] + 24, (uint32_t)(z->csize[0] - 10));
    tz_put32(z->p + z->local[0] + 22, (uint32_t)(z->csize[0] - 10));
    tz_put32(z->p + z->central[0] + 20, (uint32_t)(z->csize[0] - 10));
    tz_put32(z->p + z->local[0] + 18, (uint32_t)(z->csize[0] - 10));
}

HQ_TEST(npz_damage_detected) {
    expect_damage(flip_stored_data, 0, false, HQ_ERR_CORRUPT,
                  "bad.npz: member 'x.npy': CRC mismatch (stored 0x");
    expect_damage(flip_crc, 8, false, HQ_ERR_CORRUPT, "CRC mismatch");
    expect_damage(flip_crc, 0, false, HQ_ERR_CORRUPT, "the file is damaged");
    expect_damage(flip_deflate_data, 8, false, HQ_ERR_CORRUPT, "bad.npz: member 'x.npy'");
    expect_damage(local_crc_differs, 0, true, HQ_ERR_CORRUPT,
                  "member 'x.npy': local header (crc 0x");
    expect_damage(local_method_differs, 0, true, HQ_ERR_CORRUPT,
                  "local header disagrees with the central directory (method 8 vs 0)");
    expect_damage(local_name_differs, 0, true, HQ_ERR_CORRUPT, "local header names it 'q.npy'");
    expect_damage(local_sig_broken, 0, true, HQ_ERR_CORRUPT, "member 'y.npy': no local header");
    expect_damage(local_off_out_of_range, 0, true, HQ_ERR_CORRUPT,
                  "local header offset 2147483647 is outside the data area");
    expect_damage(csize_past_end, 8, true, HQ_ERR_CORRUPT, "run past the data area");
    expect_damage(usize_bomb, 8, true, HQ_ERR_CORRUPT,
                  "member 'zeros.npy' declares 4294967294 bytes from");
    expect_damage(usize_bomb, 8, true, HQ_ERR_CORRUPT, "a zip bomb or a damaged file");
    expect_damage(stored_sizes_differ, 0, true, HQ_ERR_CORRUPT,
                  "stored uncompressed but its sizes differ");
    expect_damage(encrypted, 8, true, HQ_ERR_UNSUPPORTED, "member 'x.npy' is encrypted");
    expect_damage(method_bzip2, 8, true, HQ_ERR_UNSUPPORTED, "compression method 12");
    expect_damage(zip64_eocd, 0, true, HQ_ERR_UNSUPPORTED, "zip64 archives are not supported");
    expect_damage(zip64_entry, 0, true, HQ_ERR_UNSUPPORTED, "member 'y.npy' uses zip64");
    expect_damage(multi_disk, 0, true, HQ_ERR_UNSUPPORTED, "multi-disk");
    expect_damage(cd_offset_wrong, 0, true, HQ_ERR_CORRUPT, "does not end at the end record");
    expect_damage(too_many_entries, 0, true, HQ_ERR_CORRUPT, "cannot hold 200 entries");
    expect_damage(central_sig_broken, 0, true, HQ_ERR_CORRUPT, "central directory entry 2");
    expect_damage(duplicate_name, 0, true, HQ_ERR_CORRUPT, "member 'x.npy' appears twice");
    expect_damage(name_has_nul, 0, true, HQ_ERR_CORRUPT, "invalid name");
    expect_damage(usize_too_small, 0, false, HQ_ERR_CORRUPT, "CRC mismatch");
}

HQ_TEST(npz_data_descriptor_mismatch) {
    small_npz s;
    small_build(&s, 8, 8, true);
    /* the descriptor follows member 0's data: signature, crc, csize, usize */
    size_t dd = s.z.data[0] + s.z.csize[0];
    HQ_REQUIRE(s.z.p[dd] == 'P');
    s.z.p[dd + 12] ^= 1; /* usize in the descriptor */
    hq_npz *z = NULL;
    HQ_CHECK_FAILS(hq_npz_open_buffer(s.z.p, s.z.len, "dd.npz", &z), HQ_ERR_CORRUPT,
                   "member 'x.npy': data descriptor (crc 0x");
    s.z.p[dd + 12] ^= 1;
    HQ_CHECK_OK(hq_npz_open_buffer(s.z.p, s.z.len, "dd.npz", &z));
    hq_npz_free(z);
    small_free(&s);
}

HQ_TEST(npz_overlapping_members) {
    /* member B's local header and data lie inside member A's stored data */
    size_t blen;
    const uint8_t one[4] = {1, 2, 3, 4};
    uint8_t *bnpy = tz_npy("|u1", "False", "(4,)", one, 4, &blen);
    tz_member inner = {"b.npy", bnpy, blen, 0, false};
    tz_zip zi;
    tz_build(&zi, &inner, 1);
    size_t inner_len = zi.cd_off; /* local header + data of B */
    tz_member outer = {"a.npy", zi.p, inner_len, 0, false};
    tz_zip zo;
    tz_build(&zo, &outer, 1);
    /* a second central entry for B, pointing into A's data */
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_append(&b, zo.p, zo.eocd);
    uint8_t ce[46 + 5];
    memcpy(ce, zi.p + zi.central[0], sizeof ce);
    tz_put32(ce + 42, (uint32_t)zo.data[0]);
    hq_sbuf_append(&b, ce, sizeof ce);
    uint8_t eocd[22];
    memcpy(eocd, zo.p + zo.eocd, 22);
    tz_put16(eocd + 8, 2);
    tz_put16(eocd + 10, 2);
    tz_put32(eocd + 12, (uint32_t)(b.len - zo.cd_off));
    hq_sbuf_append(&b, eocd, 22);
    hq_npz *z = NULL;
    HQ_CHECK_FAILS(hq_npz_open_buffer(b.p, b.len, "overlap.npz", &z), HQ_ERR_CORRUPT,
                   "members 'a.npy' and 'b.npy' overlap");
    hq_sbuf_free(&b);
    tz_free(&zo);
    tz_free(&zi);
    hq_free(bnpy);
}

HQ_TEST(npz_zip_bomb_and_limits) {
    /* a genuine high-ratio member: 16 MiB of zeros deflates to ~16 KiB (about 1000:1) */
    size_t n = (size_t)16 << 20, len;
    uint8_t *zeros = hq_calloc(1, n);
    uint8_t *npy = tz_npy("|u1", "False", "(16777216,)", zeros, n, &len);
    hq_free(zeros);
    tz_member m = {"big.npy", npy, len, 8, false};
    tz_zip zz;
    tz_build(&zz, &m, 1);
    hq_free(npy);
    HQ_CHECK(zz.len < 64 * 1024);
    hq_npz *z;
    HQ_REQUIRE_OK(hq_npz_open_buffer(zz.p, zz.len, "bomb.npz", &z));
    HQ_CHECK_FAILS(hq_npz_set_max_member(z, 0), HQ_ERR_INVALID_ARG, "limit 0 is out of range");
    HQ_CHECK_OK(hq_npz_set_max_member(z, 1 << 20));
    hq_npy_array a;
    HQ_CHECK_FAILS(hq_npz_read(z, "big", &a), HQ_ERR_UNSUPPORTED,
                   "member 'big.npy': declares 16777344 uncompressed bytes, more than the limit "
                   "of 1048576");
    HQ_CHECK_OK(hq_npz_set_max_member(z, 32 << 20));
    HQ_CHECK_OK(hq_npz_read(z, "big", &a));
    HQ_CHECK_EQ_INT(a.count, 16777216);
    hq_npy_array_free(&a);
    hq_npz_free(z);
    tz_free(&zz);

    /* a stream that inflates past its declared size: the npy is complete at the declared
     * length but the DEFLATE stream carries 100 KB more */
    const uint8_t v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t *small = tz_npy("|u1", "False", "(8,)", v, 8, &len);
    size_t ext = len + 100000;
    uint8_t *padded = hq_calloc(1, ext);
    memcpy(padded, small, len);
    tz_member pm = {"p.npy", padded, ext, 8, false};
    tz_build(&zz, &pm, 1);
    uint32_t crc_small = 0;
    { /* CRC of the declared bytes only, so only the size check can catch it */
        hq_npy_array tmp;
        HQ_REQUIRE_OK(hq_npy_parse(small, len, "s", &tmp));
        hq_npy_array_free(&tmp);
        crc_small = (uint32_t)crc32(0L, small, (uInt)len);
    }
    tz_put32(zz.p + zz.central[0] + 24, (uint32_t)len);
    tz_put32(zz.p + zz.local[0] + 22, (uint32_t)len);
    tz_put32(zz.p + zz.central[0] + 16, crc_small);
    tz_put32(zz.p + zz.local[0] + 14, crc_small);
    HQ_REQUIRE_OK(hq_npz_open_buffer(zz.p, zz.len, "past.npz", &z));
    HQ_CHECK_FAILS(hq_npz_read(z, "p", &a), HQ_ERR_CORRUPT,
                   "inflates to more than the declared 136 bytes");
    hq_npz_free(z);
    tz_free(&zz);
    hq_free(padded);
    hq_free(small);
}

HQ_TEST(npz_not_a_zip_and_api_errors) {
    hq_npz *z = NULL;
    HQ_CHECK_FAILS(hq_npz_open_buffer("hello", 5, "t.npz", &z), HQ_ERR_PARSE,
                   "t.npz: not a zip/.npz archive (5 bytes, too short)");
    const char html[] =
        "<!DOCTYPE html><html><body>Too many requests, please slow down</body></html>";
    HQ_CHECK_FAILS(hq_npz_open_buffer(html, sizeof html - 1, "t.npz", &z), HQ_ERR_PARSE,
                   "looks like text or an HTML page");
    size_t len;
    const uint8_t v[40] = {0};
    uint8_t *npy = tz_npy("|u1", "False", "(40,)", v, 40, &len);
    HQ_CHECK_FAILS(hq_npz_open_buffer(npy, len, "a.npy", &z), HQ_ERR_PARSE,
                   "it is an .npy array: read it with hq_npy_read_file");
    const char *path = hq_test_write_file("a.npy", npy, len);
    HQ_CHECK_FAILS(hq_npz_open(path, &z), HQ_ERR_PARSE, "a.npy: not a zip/.npz archive");
    hq_free(npy);
    HQ_CHECK_FAILS(hq_npz_open(hq_test_tmpfile("missing.npz"), &z), HQ_ERR_NOT_FOUND,
                   "missing.npz");
    HQ_CHECK_FAILS(hq_npz_open(hq_test_tmpdir(), &z), HQ_ERR_IO, "is not a regular file");
    HQ_CHECK_FAILS(hq_npz_open(NULL, &z), HQ_ERR_INVALID_ARG, "NULL path");
    HQ_CHECK_FAILS(hq_npz_open("x", NULL), HQ_ERR_INVALID_ARG, "NULL out");
    HQ_CHECK_FAILS(hq_npz_open_buffer(NULL, 3, "x", &z), HQ_ERR_INVALID_ARG, "NULL data");
    HQ_CHECK_FAILS(hq_npz_open_buffer("", 0, NULL, &z), HQ_ERR_PARSE, "<memory>: not a zip");
    hq_npy_array a;
    HQ_CHECK_FAILS(hq_npz_read(NULL, "x", &a), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_npz_set_max_member(NULL, 5), HQ_ERR_MISUSE, "invalid handle");
    struct {
        hq_handle h;
    } fake = {{0x12345678u, {0}}};
    HQ_CHECK_FAILS(hq_npz_read((hq_npz *)&fake, "x", &a), HQ_ERR_MISUSE, "hq_npz_read");
    HQ_CHECK_EQ_INT(hq_npz_count(NULL), 0);
    HQ_CHECK(!hq_npz_has(NULL, "x"));
    hq_npz_free(NULL);

    small_npz s;
    small_build(&s, 8, 8, false);
    HQ_REQUIRE_OK(hq_npz_open_buffer(s.z.p, s.z.len, "s.npz", &z));
    HQ_CHECK_FAILS(hq_npz_read(z, "train_images", &a), HQ_ERR_NOT_FOUND,
                   "s.npz: no member 'train_images' (members: x.npy, y.npy, zeros.npy)");
    HQ_CHECK(strstr(hq_errmsg(z), "no member 'train_images'") != NULL);
    HQ_CHECK_FAILS(hq_npz_read(z, NULL, &a), HQ_ERR_INVALID_ARG, "NULL name");
    HQ_CHECK_FAILS(hq_npz_read(z, "x", NULL), HQ_ERR_INVALID_ARG, "NULL out");
    HQ_CHECK_FAILS(hq_npz_read_i32(z, "x", &a), HQ_ERR_INVALID_ARG,
                   "s.npz: member 'x': hq_npy_convert: element 0 (<f4 value 0.5)");
    HQ_CHECK(a.data == NULL);
    hq_npz_free(z);
    small_free(&s);
    /* an intact member holding a truncated .npy */
    const uint8_t four[4] = {1, 2, 3, 4};
    uint8_t *tnpy = tz_npy("|u1", "False", "(5,)", four, 4, &len);
    tz_member tm = {"t.npy", tnpy, len, 8, false};
    tz_zip tzz;
    tz_build(&tzz, &tm, 1);
    HQ_REQUIRE_OK(hq_npz_open_buffer(tzz.p, tzz.len, "t.npz", &z));
    HQ_CHECK_FAILS(hq_npz_read(z, "t", &a), HQ_ERR_CORRUPT,
                   "t.npz: member 't.npy': .npy data is 4 bytes but shape (5,) of |u1 needs 5 "
                   "(truncated)");
    hq_npz_free(z);
    tz_free(&tzz);
    hq_free(tnpy);
}

HQ_TEST(npz_alloc_failures) {
    /* fail each allocation of open + read in turn: NOMEM, nothing leaked (ASan in make
     * check), and the next attempt works */
    small_npz s;
    small_build(&s, 8, 0, false);
    int nomem = 0;
    for (long k = 1; k < 200; k++) {
        hq_alloc_fail_after(k);
        hq_npz *z = NULL;
        hq_status st = hq_npz_open_buffer(s.z.p, s.z.len, "s.npz", &z);
        if (st == HQ_OK) {
            hq_npy_array a;
            st = hq_npz_read_f32(z, "x", &a);
            if (st == HQ_OK) hq_npy_array_free(&a);
            hq_npz_free(z);
        }
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!injected) {
            HQ_CHECK_OK(st);
            break;
        }
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s (%s)", k, hq_status_name(st),
                  hq_last_error());
        nomem++;
    }
    HQ_CHECK(nomem >= 6);
    small_free(&s);
}

/* ==== fuzz corpus ===================================================================== */

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *buf;
        size_t len;
        if (hq_file_read(path, 1 << 20, &buf, &len) != HQ_OK) continue;
        hq_fuzz_npz((const uint8_t *)buf, len);
        hq_free(buf);
        n++;
    }
    closedir(d);
    return n;
}

HQ_TEST(npz_fuzz_corpus_replay) {
    /* every saved input of the fuzz_npz target runs cleanly (crashes fail under make check) */
    int n = replay_dir("tests/fuzz/corpus/fuzz_npz") + replay_dir("tests/fuzz/seeds/fuzz_npz") +
            replay_dir("tests/fuzz/regress/fuzz_npz");
    HQ_CHECKF(n >= 10, "only %d fuzz inputs found (run from the repository root)", n);
}
