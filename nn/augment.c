/*
 * nn/augment.c — random flips, shifts and rotations of training images, each sample from
 * its own counter-based RNG stream (see nn/augment.h).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "nn/augment.h"

static hq_status num(const cJSON *o, const char *key, double lo, double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return HQ_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_augment_parse: \"%s\" must be a number in [%g, %g]", key, lo, hi);
    *out = v->valuedouble;
    return HQ_OK;
}

hq_status hq_augment_parse(const char *json, hq_augment *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_augment_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!json || !*json) return HQ_OK;
    cJSON *j = cJSON_Parse(json);
    if (!j) return hq_failf(NULL, HQ_ERR_PARSE, "hq_augment_parse: invalid JSON");
    hq_status st = HQ_OK;
    if (!cJSON_IsObject(j))
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_augment_parse: config must be an object");
    static const char *const keys[] = {"hflip", "vflip", "shift", "rotate", "fill", NULL};
    for (const cJSON *it = st == HQ_OK ? j->child : NULL; it && st == HQ_OK; it = it->next) {
        bool ok = false;
        for (const char *const *k = keys; *k; k++)
            ok = ok || (it->string && !strcmp(*k, it->string));
        if (!ok)
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "hq_augment_parse: unknown field \"%s\" (hflip, vflip, shift, rotate, "
                          "fill)",
                          it->string ? it->string : "?");
    }
    double shift = 0, fill = 0;
    if (st == HQ_OK) st = num(j, "hflip", 0, 1, &out->hflip);
    if (st == HQ_OK) st = num(j, "vflip", 0, 1, &out->vflip);
    if (st == HQ_OK) st = num(j, "rotate", 0, 180, &out->rotate);
    if (st == HQ_OK) st = num(j, "fill", -1e6, 1e6, &fill);
    if (st == HQ_OK) st = num(j, "shift", 0, 64, &shift);
    if (st == HQ_OK && shift != floor(shift))
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_augment_parse: \"shift\" must be an integer");
    out->shift = (int)shift;
    out->fill = (float)fill;
    cJSON_Delete(j);
    if (st != HQ_OK) memset(out, 0, sizeof *out);
    return st;
}

bool hq_augment_is_identity(const hq_augment *a) {
    return !a || (a->hflip == 0 && a->vflip == 0 && a->shift == 0 && a->rotate == 0);
}

void hq_augment_transform(float *out, const float *in, int c, int h, int w, bool hflip, bool vflip,
                          double angle_deg, double dx, double dy, float fill) {
    /* inverse map: output pixel p -> source q = R^-1 (p - centre - t) + centre, then the
     * flips (applied first in the forward direction, so last here) */
    double th = angle_deg * M_PI / 180.0, cs = cos(th), sn = sin(th);
    double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0;
    int64_t hw = (int64_t)h * w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double px = x - cx - dx, py = y - cy - dy;
            /* rows grow downwards: a counter-clockwise screen rotation by th maps (px, py)
             * to (px cos + py sin, -px sin + py cos); its inverse: */
            double sx = cs * px - sn * py + cx, sy = sn * px + cs * py + cy;
            if (hflip) sx = (w - 1) - sx;
            if (vflip) sy = (h - 1) - sy;
            double fx = floor(sx), fy = floor(sy);
            int x0 = (int)fx, y0 = (int)fy;
            double ax = sx - fx, ay = sy - fy;
            /* snap near-integer positions (rotations by multiples of 90 degrees, shifts) so
             * that they copy pixels exactly */
            if (ax < 1e-9) ax = 0;
            if (ax > 1 - 1e-9) ax = 0, x0++;
            if (ay < 1e-9) ay = 0;
            if (ay > 1 - 1e-9) ay = 0, y0++;
            for (int ch = 0; ch < c; ch++) {
                const float *p = in + ch * hw;
                double v = 0;
                for (int k = 0; k < 4; k++) {
                    int xi = x0 + (k & 1), yi = y0 + (k >> 1);
                    double wk = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                    if (wk == 0) continue;
                    double pv =
                        xi < 0 || xi >= w || yi < 0 || yi >= h ? fill : p[(int64_t)yi * w + xi];
                    v += wk * pv;
                }
                out[ch * hw + (int64_t)y * w + x] = (float)v;
            }
        }
}

hq_status hq_augment_apply(const hq_augment *a, float *out, const float *in, hq_shape s,
                           uint64_t seed, uint64_t epoch, uint64_t step) {
    if (!a || !out || !in)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_augment_apply: NULL argument");
    if (s.n < 1 || s.c < 1 || s.h < 1 || s.w < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_augment_apply: shape (%d, %d, %d, %d) invalid", (int)s.n, (int)s.c,
                        (int)s.h, (int)s.w);
    int64_t per = hq_shape_sample(s);
    if ((out < in + per * s.n) && (in < out + per * s.n))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_augment_apply: out overlaps in");
    for (int i = 0; i < s.n; i++) {
        /* always the same five draws per sample, in this order */
        hq_rng r;
        hq_rng_init(&r, seed, hq_rng_stream("augment", epoch, step, (uint64_t)i), 0);
        double uh = hq_rng_uniform(&r), uv = hq_rng_uniform(&r), ua = hq_rng_uniform(&r);
        int sx = (int)hq_rng_below(&r, 2 * (uint64_t)a->shift + 1) - a->shift;
        int sy = (int)hq_rng_below(&r, 2 * (uint64_t)a->shift + 1) - a->shift;
        bool hf = uh < a->hflip, vf = uv < a->vflip;
        double ang = a->rotate * (2 * ua - 1);
        const float *src = in + i * per;
        float *dst = out + i * per;
        if (!hf && !vf && sx == 0 && sy == 0 && ang == 0)
            memcpy(dst, src, (size_t)per * sizeof(float));
        else
            hq_augment_transform(dst, src, s.c, s.h, s.w, hf, vf, ang, sx, sy, a->fill);
    }
    return HQ_OK;
}
