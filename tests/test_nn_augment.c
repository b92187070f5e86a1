/*
 * tests/test_nn_augment.c — augmentation: the transform against exact expectations
 * (mirrors, integer shifts with fill, rotations by 90 and 180 degrees, a constant image),
 * reproducibility of the random draws per (seed, epoch, step, sample), their rates, and
 * config errors.
 */
#include <math.h>
#include <stdlib.h>

#include "nn/augment.h"
#include "tests/hq_test.h"

enum { H = 5, W = 4 };

static void ramp(float *img) {
    for (int i = 0; i < H * W; i++) img[i] = (float)(i + 1);
}

HQ_TEST(nn_augment_transform_exact) {
    float in[H * W], out[H * W];
    ramp(in);
    /* identity */
    hq_augment_transform(out, in, 1, H, W, false, false, 0, 0, 0, 0);
    HQ_CHECK(memcmp(in, out, sizeof in) == 0);
    /* mirrors */
    hq_augment_transform(out, in, 1, H, W, true, false, 0, 0, 0, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) HQ_CHECK(out[y * W + x] == in[y * W + (W - 1 - x)]);
    hq_augment_transform(out, in, 1, H, W, false, true, 0, 0, 0, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) HQ_CHECK(out[y * W + x] == in[(H - 1 - y) * W + x]);
    /* shift right 1, up 2, fill -1 */
    hq_augment_transform(out, in, 1, H, W, false, false, 0, 1, -2, -1.0f);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx = x - 1, sy = y + 2;
            float want = sx < 0 || sy >= H ? -1.0f : in[sy * W + sx];
            HQ_CHECKF(out[y * W + x] == want, "shift (%d,%d): %g want %g", y, x, out[y * W + x],
                      want);
        }
    /* 180 degrees = both mirrors (exactly: near-integer source positions snap) */
    float both[H * W];
    hq_augment_transform(both, in, 1, H, W, true, true, 0, 0, 0, 0);
    hq_augment_transform(out, in, 1, H, W, false, false, 180, 0, 0, 0);
    HQ_CHECK(memcmp(both, out, sizeof out) == 0);
    /* 90 degrees counter-clockwise on a square image: the right-middle pixel goes to the
     * top-middle, i.e. out[y][x] = in[x][n-1-y] */
    float sq[9], rot[9];
    for (int i = 0; i < 9; i++) sq[i] = (float)i;
    hq_augment_transform(rot, sq, 1, 3, 3, false, false, 90, 0, 0, 0);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) HQ_CHECK(rot[y * 3 + x] == sq[x * 3 + (2 - y)]);
    /* a constant image stays constant where the source is inside; corners get fill */
    float cst[81], rc[81];
    for (int i = 0; i < 81; i++) cst[i] = 0.5f;
    hq_augment_transform(rc, cst, 1, 9, 9, false, false, 30, 0, 0, -1.0f);
    HQ_CHECK_NEAR(rc[4 * 9 + 4], 0.5, 1e-7);
    HQ_CHECK_NEAR(rc[4 * 9 + 1], 0.5, 1e-6);
    HQ_CHECK(rc[0] < 0.0f); /* a corner comes from outside */
    /* channels move together */
    float in2[2 * H * W], out2[2 * H * W];
    ramp(in2);
    ramp(in2 + H * W);
    hq_augment_transform(out2, in2, 2, H, W, true, false, 0, 1, 0, 0);
    HQ_CHECK(memcmp(out2, out2 + H * W, H * W * sizeof(float)) == 0);
}

HQ_TEST(nn_augment_reproducible_per_sample) {
    hq_augment a;
    HQ_REQUIRE_OK(hq_augment_parse("{\"hflip\":0.5,\"vflip\":0.5,\"shift\":1,\"rotate\":15}", &a));
    enum { N = 6 };
    float in[N * H * W], o1[N * H * W], o2[N * H * W], o3[N * H * W], o4[3 * H * W];
    for (int i = 0; i < N * H * W; i++) in[i] = (float)((i * 37) % 101) / 101.0f;
    hq_shape s = hq_shape4(N, 1, H, W);
    HQ_REQUIRE_OK(hq_augment_apply(&a, o1, in, s, 11, 2, 5));
    HQ_REQUIRE_OK(hq_augment_apply(&a, o2, in, s, 11, 2, 5));
    HQ_REQUIRE_OK(hq_augment_apply(&a, o3, in, s, 11, 2, 6));
    HQ_REQUIRE_OK(hq_augment_apply(&a, o4, in, hq_shape4(3, 1, H, W), 11, 2, 5));
    HQ_CHECK(memcmp(o1, o2, sizeof o1) == 0);
    HQ_CHECK(memcmp(o1, o3, sizeof o1) != 0);
    HQ_CHECK(memcmp(o1, o4, sizeof o4) == 0); /* sample i's draws do not depend on the batch */
    HQ_REQUIRE_OK(hq_augment_apply(&a, o3, in, s, 12, 2, 5));
    HQ_CHECK(memcmp(o1, o3, sizeof o1) != 0);
    /* no augmentation: an exact copy */
    hq_augment none;
    HQ_REQUIRE_OK(hq_augment_parse(NULL, &none));
    HQ_CHECK(hq_augment_is_identity(&none) && !hq_augment_is_identity(&a));
    HQ_REQUIRE_OK(hq_augment_apply(&none, o1, in, s, 1, 1, 1));
    HQ_CHECK(memcmp(o1, in, sizeof in) == 0);
}

HQ_TEST(nn_augment_flip_rate) {
    hq_augment a;
    HQ_REQUIRE_OK(hq_augment_parse("{\"hflip\":0.3}", &a));
    enum { N = 600 };
    static float in[N * 2], out[N * 2];
    for (int i = 0; i < N; i++) in[2 * i] = 1, in[2 * i + 1] = 2;
    HQ_REQUIRE_OK(hq_augment_apply(&a, out, in, hq_shape4(N, 1, 1, 2), 5, 0, 0));
    int flips = 0;
    for (int i = 0; i < N; i++) {
        HQ_CHECK((out[2 * i] == 1 && out[2 * i + 1] == 2) ||
                 (out[2 * i] == 2 && out[2 * i + 1] == 1));
        flips += out[2 * i] == 2;
    }
    /* binomial(600, 0.3): mean 180, sd 11.2 */
    HQ_CHECKF(abs(flips - 180) < 56, "%d flips of %d", flips, N);
}

HQ_TEST(nn_augment_errors) {
    hq_augment a;
    HQ_CHECK_FAILS(hq_augment_parse("{\"hflip\":1.5}", &a), HQ_ERR_INVALID_ARG,
                   "\"hflip\" must be a number in [0, 1]");
    HQ_CHECK_FAILS(hq_augment_parse("{\"shift\":1.5}", &a), HQ_ERR_INVALID_ARG,
                   "\"shift\" must be an integer");
    HQ_CHECK_FAILS(hq_augment_parse("{\"rotation\":5}", &a), HQ_ERR_INVALID_ARG,
                   "unknown field \"rotation\"");
    HQ_CHECK_FAILS(hq_augment_parse("{", &a), HQ_ERR_PARSE, "invalid JSON");
    HQ_CHECK(hq_augment_is_identity(&a));
    float buf[8] = {0};
    HQ_CHECK_FAILS(hq_augment_apply(&a, buf, buf, hq_shape4(1, 1, 2, 2), 0, 0, 0),
                   HQ_ERR_INVALID_ARG, "out overlaps in");
    HQ_CHECK_FAILS(hq_augment_apply(&a, buf + 4, buf, hq_shape4(1, 0, 2, 2), 0, 0, 0),
                   HQ_ERR_INVALID_ARG, "shape (1, 0, 2, 2) invalid");
}
