/*
 * tests/npz_testutil.c — .npy and zip builders for tests (see tests/npz_testutil.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/core.h"
#include "tests/npz_testutil.h"

void tz_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void tz_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void *xalloc(size_t n) {
    void *p = hq_malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "npz_testutil: out of memory\n");
        abort();
    }
    return p;
}

static uint8_t *deflate_raw(const void *data, size_t len, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&zs, (uLong)len) + 16;
    uint8_t *out = xalloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

void tz_build(tz_zip *z, const tz_member *m, int n) {
    memset(z, 0, sizeof *z);
    if (n > TZ_MAX_MEMBERS) abort();
    hq_sbuf b = HQ_SBUF_INIT;
    uint8_t h[46];
    uint32_t crcs[TZ_MAX_MEMBERS];
    size_t usz[TZ_MAX_MEMBERS];
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name), cl = m[i].len;
        uint8_t *comp = NULL;
        const void *payload = m[i].data;
        if (m[i].method == 8) {
            comp = deflate_raw(m[i].data, m[i].len, &cl);
            payload = comp;
        }
        crcs[i] = (uint32_t)crc32(0L, (const Bytef *)m[i].data, (uInt)m[i].len);
        usz[i] = m[i].len;
        z->local[i] = b.len;
        z->csize[i] = cl;
        memset(h, 0, 30);
        tz_put32(h, 0x04034b50);
        tz_put16(h + 4, 20);
        tz_put16(h + 6, m[i].descriptor ? 8 : 0);
        tz_put16(h + 8, (uint16_t)m[i].method);
        tz_put32(h + 14, m[i].descriptor ? 0 : crcs[i]);
        tz_put32(h + 18, m[i].descriptor ? 0 : (uint32_t)cl);
        tz_put32(h + 22, m[i].descriptor ? 0 : (uint32_t)m[i].len);
        tz_put16(h + 26, (uint16_t)nl);
        hq_sbuf_append(&b, h, 30);
        hq_sbuf_append(&b, m[i].name, nl);
        z->data[i] = b.len;
        hq_sbuf_append(&b, payload, cl);
        if (m[i].descriptor) {
            uint8_t d[16];
            tz_put32(d, 0x08074b50);
            tz_put32(d + 4, crcs[i]);
            tz_put32(d + 8, (uint32_t)cl);
            tz_put32(d + 12, (uint32_t)m[i].len);
            hq_sbuf_append(&b, d, 16);
        }
        hq_free(comp);
    }
    z->cd_off = b.len;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        z->central[i] = b.len;
        memset(h, 0, 46);
        tz_put32(h, 0x02014b50);
        tz_put16(h + 4, 20);
        tz_put16(h + 6, 20);
        tz_put16(h + 8, m[i].descriptor ? 8 : 0);
        tz_put16(h + 10, (uint16_t)m[i].method);
        tz_put32(h + 16, crcs[i]);
        tz_put32(h + 20, (uint32_t)z->csize[i]);
        tz_put32(h + 24, (uint32_t)usz[i]);
        tz_put16(h + 28, (uint16_t)nl);
        tz_put32(h + 42, (uint32_t)z->local[i]);
        hq_sbuf_append(&b, h, 46);
        hq_sbuf_append(&b, m[i].name, nl);
    }
    z->eocd = b.len;
    memset(h, 0, 22);
    tz_put32(h, 0x06054b50);
    tz_put16(h + 8, (uint16_t)n);
    tz_put16(h + 10, (uint16_t)n);
    tz_put32(h + 12, (uint32_t)(z->eocd - z->cd_off));
    tz_put32(h + 16, (uint32_t)z->cd_off);
    hq_sbuf_append(&b, h, 22);
    if (b.oom) abort();
    z->len = b.len;
    z->p = (uint8_t *)hq_sbuf_take(&b);
    z->n = n;
}

void tz_free(tz_zip *z) {
    hq_free(z->p);
    memset(z, 0, sizeof *z);
}

uint8_t *tz_npy_dict(const char *dict, int major, const void *data, size_t len, size_t *out_len) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1;
    while ((pre + hl) % 64) hl++;
    size_t total = pre + hl + len;
    uint8_t *p = xalloc(total);
    memcpy(p, "\x93NUMPY", 6);
    p[6] = (uint8_t)major;
    p[7] = 0;
    if (major == 1)
        tz_put16(p + 8, (uint16_t)hl);
    else
        tz_put32(p + 8, (uint32_t)hl);
    memcpy(p + pre, dict, dl);
    memset(p + pre + dl, ' ', hl - dl - 1);
    p[pre + hl - 1] = '\n';
    if (len) memcpy(p + pre + hl, data, len);
    *out_len = total;
    return p;
}

uint8_t *tz_npy(const char *descr, const char *fortran, const char *shape, const void *data,
                size_t len, size_t *out_len) {
    char dict[512];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
             fortran, shape);
    return tz_npy_dict(dict, 1, data, len, out_len);
}
