/*
 * nn/npy.c — .npy parser and .npz (zip) reader; see nn/npy.h for the contract.
 *
 * Layout: dtype table, the .npy header parser (a tiny Python-literal reader), the .npy
 * body reader over an abstract byte stream, the zip directory parser (end record,
 * central directory, local headers cross-checked), the member stream (stored or raw
 * inflate, CRC-32), and dtype conversion. Every number read from the input is range
 * checked before it is used as a size or an offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nn/npy.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nn/npy.c assumes a little-endian host"
#endif

#define NPZ_MAGIC      0x4E505A31u /* "NPZ1" */
#define NPY_MAX_HEADER (1u << 20)  /* header dictionary bytes; NumPy writes < 200 */
#define NPZ_INBUF      (64u << 10) /* compressed bytes read per step */
#define NPZ_SLACK      4096u       /* ratio slack for tiny members */

/* ==== dtypes ========================================================================== */

typedef struct dtype_info {
    char kind;       /* 'b', 'u', 'i', 'f' */
    int size;        /* bytes per element */
    const char *str; /* canonical descr */
} dtype_info;

static const dtype_info dtypes[] = {
    [HQ_NPY_BOOL] = {'b', 1, "|b1"}, [HQ_NPY_U8] = {'u', 1, "|u1"},  [HQ_NPY_I8] = {'i', 1, "|i1"},
    [HQ_NPY_U16] = {'u', 2, "<u2"},  [HQ_NPY_I16] = {'i', 2, "<i2"}, [HQ_NPY_U32] = {'u', 4, "<u4"},
    [HQ_NPY_I32] = {'i', 4, "<i4"},  [HQ_NPY_U64] = {'u', 8, "<u8"}, [HQ_NPY_I64] = {'i', 8, "<i8"},
    [HQ_NPY_F32] = {'f', 4, "<f4"},  [HQ_NPY_F64] = {'f', 8, "<f8"},
};
_Static_assert(sizeof dtypes / sizeof *dtypes == HQ_NPY_DTYPE_COUNT,
               "dtypes[] needs one row per hq_npy_dtype");

#define SUPPORTED_DTYPES "|b1 |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 <f4 <f8"

size_t hq_npy_dtype_size(hq_npy_dtype t) {
    return (unsigned)t < HQ_NPY_DTYPE_COUNT ? (size_t)dtypes[t].size : 0;
}

const char *hq_npy_dtype_str(hq_npy_dtype t) {
    return (unsigned)t < HQ_NPY_DTYPE_COUNT ? dtypes[t].str : "?";
}

void hq_npy_array_free(hq_npy_array *a) {
    if (!a) return;
    hq_free(a->data);
    memset(a, 0, sizeof *a);
}

void hq_npy_shape_str(const hq_npy_array *a, char *out, size_t cap) {
    if (!cap) return;
    size_t n = 0;
    out[0] = '\0';
    int w = snprintf(out, cap, "(");
    n = w > 0 ? (size_t)w : 0;
    for (int i = 0; a && i < a->ndim && n < cap; i++) {
        w = snprintf(out + n, cap - n, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
    if (n < cap) {
        w = snprintf(out + n, cap - n, "%s)", a && a->ndim == 1 ? "," : "");
        if (w > 0) n += (size_t)w;
    }
    if (n >= cap && cap >= 4) memcpy(out + cap - 4, "...", 4);
}

/* Copy n bytes of untrusted text into out, replacing non-printable bytes with '?'. */
static void sanitize(char *out, size_t cap, const char *s, size_t n) {
    if (!cap) return;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[k] = '\0';
    if (n >= cap && cap >= 4) memcpy(out + cap - 4, "...", 4);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* ==== .npy header ===================================================================== */

typedef struct hdr_parser {
    const char *s;     /* header text */
    size_t n, i;       /* length, cursor */
    const char *where; /* "file: member 'x'" for messages */
} hdr_parser;

static void hp_ws(hdr_parser *p) {
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static hq_status hp_fail(hdr_parser *p, const char *what) {
    char ctx[48];
    size_t k = p->i < p->n ? HQ_MIN(p->n - p->i, (size_t)20) : 0;
    sanitize(ctx, sizeof ctx, p->s + p->i, k);
    return hq_failf(NULL, HQ_ERR_PARSE,
                    "%s: malformed .npy header at byte %zu: expected %s, found '%s'", p->where,
                    p->i, what, k ? ctx : "end of header");
}

/* A Python string literal without escapes, into out (cap bytes). */
static hq_status hp_string(hdr_parser *p, char *out, size_t cap) {
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
        return hp_fail(p, "a quoted string");
    char q = p->s[p->i++];
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        if (p->s[p->i] == '\\' || k + 1 >= cap)
            return hp_fail(p, memchr(p->s + p->i, q, p->n - p->i) ? "a short plain string"
                                                                  : "a closing quote");
        out[k++] = p->s[p->i++];
    }
    if (p->i >= p->n) return hp_fail(p, "a closing quote");
    p->i++;
    out[k] = '\0';
    return HQ_OK;
}

static bool hp_word(hdr_parser *p, const char *w) {
    size_t l = strlen(w);
    if (p->n - p->i < l || memcmp(p->s + p->i, w, l) != 0) return false;
    p->i += l;
    return true;
}

static hq_status parse_descr(const char *d, const char *where, hq_npy_dtype *out) {
    char order = '|';
    const char *t = d;
    if (*t == '<' || *t == '>' || *t == '|' || *t == '=') order = *t++;
    char kind = *t ? *t++ : '\0';
    int size = 0;
    bool digits = false;
    while (*t >= '0' && *t <= '9' && size < 1000) {
        size = size * 10 + (*t++ - '0');
        digits = true;
    }
    for (int k = 0; digits && !*t && k < HQ_NPY_DTYPE_COUNT; k++) {
        if (dtypes[k].kind != kind || dtypes[k].size != size) continue;
        if (size > 1 && order == '>')
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "%s: big-endian dtype '%s' is not supported; convert it to "
                            "little-endian first (arr.astype('%s'))",
                            where, d, dtypes[k].str);
        if (size > 1 && order == '|') break;
        *out = (hq_npy_dtype)k;
        return HQ_OK;
    }
    return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "%s: dtype '%s' is not supported (supported: %s)",
                    where, d, SUPPORTED_DTYPES);
}

/* Parse "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" into out. */
static hq_status parse_header(const char *s, size_t n, const char *where, hq_npy_array *out) {
    hdr_parser p = {s, n, 0, where};
    bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
    hq_status st;
    hp_ws(&p);
    if (p.i >= n || s[p.i] != '{') return hp_fail(&p, "'{'");
    p.i++;
    for (;;) {
        hp_ws(&p);
        if (p.i < n && s[p.i] == '}') {
            p.i++;
            break;
        }
        char key[32], val[32];
        if ((st = hp_string(&p, key, sizeof key)) != HQ_OK) return st;
        hp_ws(&p);
        if (p.i >= n || s[p.i] != ':') return hp_fail(&p, "':'");
        p.i++;
        hp_ws(&p);
        if (!strcmp(key, "descr")) {
            if (have_descr)
                return hq_failf(NULL, HQ_ERR_PARSE, "%s: .npy header repeats 'descr'", where);
            have_descr = true;
            if (p.i < n && (s[p.i] == '[' || s[p.i] == '{'))
                return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                                "%s: structured dtypes are not supported (supported: %s)", where,
                                SUPPORTED_DTYPES);
            if ((st = hp_string(&p, val, sizeof val)) != HQ_OK) return st;
            if ((st = parse_descr(val, where, &out->dtype)) != HQ_OK) return st;
        } else if (!strcmp(key, "fortran_order")) {
            if (have_fortran)
                return hq_failf(NULL, HQ_ERR_PARSE, "%s: .npy header repeats 'fortran_order'",
                                where);
            have_fortran = true;
            if (hp_word(&p, "True"))
                fortran = true;
            else if (!hp_word(&p, "False"))
                return hp_fail(&p, "True or False");
        } else if (!strcmp(key, "shape")) {
            if (have_shape)
                return hq_failf(NULL, HQ_ERR_PARSE, "%s: .npy header repeats 'shape'", where);
            have_shape = true;
            if (p.i >= n || s[p.i] != '(') return hp_fail(&p, "'(' starting the shape");
            p.i++;
            out->ndim = 0;
            for (;;) {
                hp_ws(&p);
                if (p.i < n && s[p.i] == ')') {
                    p.i++;
                    break;
                }
                if (p.i >= n || s[p.i] < '0' || s[p.i] > '9') return hp_fail(&p, "a dimension");
                int64_t v = 0;
                while (p.i < n && s[p.i] >= '0' && s[p.i] <= '9') {
                    int dgt = s[p.i++] - '0';
                    if (v > (INT64_MAX - dgt) / 10)
                        return hq_failf(NULL, HQ_ERR_PARSE,
                                        "%s: .npy shape has a dimension above 2^63", where);
                    v = v * 10 + dgt;
                }
                if (p.i < n && s[p.i] == 'L') p.i++; /* Python 2 long */
                if (out->ndim >= HQ_NPY_MAX_DIMS)
                    return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                                    "%s: .npy array has more than %d dimensions", where,
                                    HQ_NPY_MAX_DIMS);
                out->shape[out->ndim++] = v;
                hp_ws(&p);
                if (p.i < n && s[p.i] == ',')
                    p.i++;
                else if (p.i >= n || s[p.i] != ')')
                    return hp_fail(&p, "',' or ')' in the shape");
            }
        } else {
            char k2[40];
            sanitize(k2, sizeof k2, key, strlen(key));
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "%s: unexpected key '%s' in the .npy header (allowed: 'descr', "
                            "'fortran_order', 'shape')",
                            where, k2);
        }
        hp_ws(&p);
        if (p.i < n && s[p.i] == ',')
            p.i++;
        else if (p.i >= n || s[p.i] != '}')
            return hp_fail(&p, "',' or '}'");
    }
    hp_ws(&p);
    while (p.i < n && s[p.i] == '\0') p.i++; /* tolerate NUL padding */
    if (p.i != n) return hp_fail(&p, "the end of the header");
    if (!have_descr || !have_fortran || !have_shape)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: .npy header lacks '%s'", where,
                        !have_descr     ? "descr"
                        : !have_fortran ? "fortran_order"
                                        : "shape");
    /* element count with overflow check */
    int64_t count = 1, longer = 0;
    for (int d = 0; d < out->ndim; d++) {
        int64_t v = out->shape[d];
        if (v > 1) longer++;
        if (v && count > INT64_MAX / v) {
            char sh[128];
            hq_npy_shape_str(out, sh, sizeof sh);
            return hq_failf(NULL, HQ_ERR_CORRUPT,
                            "%s: .npy shape %s has more than 2^63 elements (damaged header)", where,
                            sh);
        }
        count *= v;
    }
    /* Fortran order is a different layout only if two or more dimensions exceed 1. */
    if (fortran && longer > 1)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: Fortran-order (column-major) arrays are not supported; save it in C "
                        "order (np.ascontiguousarray(arr))",
                        where);
    out->count = count;
    size_t nb;
    if (count > (int64_t)(SIZE_MAX / 2) ||
        !hq_mul_ok((size_t)count, hq_npy_dtype_size(out->dtype), &nb)) {
        char sh[128];
        hq_npy_shape_str(out, sh, sizeof sh);
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: .npy shape %s of %s overflows the address space",
                        where, sh, hq_npy_dtype_str(out->dtype));
    }
    out->nbytes = nb;
    return HQ_OK;
}

/* ==== .npy body over a byte stream ===================================================== */

typedef struct npy_stream {
    hq_status (*read)(void *ctx, void *dst, size_t n); /* exactly n bytes or an error */
    void *ctx;
    uint64_t len;      /* total bytes of the .npy image */
    const char *where; /* message prefix */
} npy_stream;

static hq_status npy_read_stream(const npy_stream *in, hq_npy_array *out) {
    memset(out, 0, sizeof *out);
    hq_status st;
    uint8_t pre[12];
    if (in->len < 10)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: not an .npy array (%llu bytes, too short)",
                        in->where, (unsigned long long)in->len);
    if ((st = in->read(in->ctx, pre, 8)) != HQ_OK) return st;
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "%s: not an .npy array (bad magic: expected \\x93NUMPY at the start)",
                        in->where);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)",
                        in->where, major, minor);
    size_t pre_len = major == 1 ? 10 : 12;
    if (in->len < pre_len)
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: .npy preamble truncated", in->where);
    if ((st = in->read(in->ctx, pre + 8, pre_len - 8)) != HQ_OK) return st;
    uint64_t hlen = major == 1 ? rd16(pre + 8) : rd32(pre + 8);
    if (hlen > in->len - pre_len)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: .npy header length %llu runs past the end of the data (%llu bytes)",
                        in->where, (unsigned long long)hlen, (unsigned long long)in->len);
    if (hlen > NPY_MAX_HEADER)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: .npy header of %llu bytes is implausibly long",
                        in->where, (unsigned long long)hlen);
    char *h = hq_malloc((size_t)hlen + 1);
    if (!h) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory for the .npy header", in->where);
    st = in->read(in->ctx, h, (size_t)hlen);
    if (st == HQ_OK) {
        h[hlen] = '\0';
        st = parse_header(h, (size_t)hlen, in->where, out);
    }
    hq_free(h);
    if (st != HQ_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    uint64_t body = in->len - pre_len - hlen;
    if ((uint64_t)out->nbytes != body) {
        char sh[128];
        hq_npy_shape_str(out, sh, sizeof sh);
        hq_status r = hq_failf(
            NULL, HQ_ERR_CORRUPT, "%s: .npy data is %llu bytes but shape %s of %s needs %zu%s",
            in->where, (unsigned long long)body, sh, hq_npy_dtype_str(out->dtype), out->nbytes,
            body < out->nbytes ? " (truncated)" : " (trailing bytes)");
        memset(out, 0, sizeof *out);
        return r;
    }
    if (out->nbytes) {
        out->data = hq_malloc(out->nbytes);
        if (!out->data) {
            size_t nb = out->nbytes;
            memset(out, 0, sizeof *out);
            return hq_failf(NULL, HQ_ERR_NOMEM, "%s: cannot allocate %zu bytes for the array",
                            in->where, nb);
        }
        if ((st = in->read(in->ctx, out->data, out->nbytes)) != HQ_OK) {
            hq_npy_array_free(out);
            return st;
        }
    }
    return HQ_OK;
}

typedef struct mem_cursor {
    const uint8_t *p;
    size_t left;
} mem_cursor;

static hq_status mem_read(void *ctx, void *dst, size_t n) {
    mem_cursor *c = ctx;
    if (n > c->left) return hq_failf(NULL, HQ_ERR_INTERNAL, "npy: read past the end");
    memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return HQ_OK;
}

hq_status hq_npy_parse(const void *data, size_t len, const char *name, hq_npy_array *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!out || (!data && len))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_npy_parse: NULL %s", out ? "data" : "out");
    char where[512];
    char nm[256];
    name = name ? name : "<memory>";
    sanitize(nm, sizeof nm, name, strlen(name));
    snprintf(where, sizeof where, "%s", nm);
    mem_cursor c = {data, len};
    npy_stream in = {mem_read, &c, len, where};
    return npy_read_stream(&in, out);
}

hq_status hq_npy_read_file(const char *path, hq_npy_array *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_npy_read_file: NULL %s",
                        path ? "out" : "path");
    char *buf;
    size_t len;
    hq_status st = hq_file_read(path, 0, &buf, &len);
    if (st != HQ_OK) return st;
    st = hq_npy_parse(buf, len, path, out);
    hq_free(buf);
    return st;
}

/* ==== .npz archive ===================================================================== */

typedef struct npz_member {
    char *name;         /* sanitized member name, NUL-terminated */
    uint16_t flags;     /* general purpose flags (central directory) */
    uint16_t method;    /* 0 stored, 8 deflate */
    uint32_t crc;       /* CRC-32 of the uncompressed bytes */
    uint64_t csize;     /* compressed bytes */
    uint64_t usize;     /* uncompressed bytes */
    uint64_t local_off; /* offset of the local header */
    uint64_t data_off;  /* offset of the first data byte */
    uint64_t end_off;   /* one past the member (data + data descriptor) */
} npz_member;

struct hq_npz {
    hq_handle h;
    char *name;          /* display name (path) */
    int fd;              /* file source, or -1 */
    const uint8_t *mem;  /* memory source (borrowed), or NULL */
    uint64_t size;       /* archive bytes */
    uint64_t max_member; /* uncompressed size limit per member */
    int n;               /* members */
    npz_member *m;       /* (n) */
};

static hq_status src_read(const hq_npz *z, uint64_t off, void *dst, size_t n) {
    if (off > z->size || n > z->size - off)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: read of %zu bytes at offset %llu runs past the "
                        "end of the file (%llu bytes)",
                        z->name, n, (unsigned long long)off, (unsigned long long)z->size);
    if (z->mem) {
        memcpy(dst, z->mem + off, n);
        return HQ_OK;
    }
    uint8_t *p = dst;
    while (n) {
        ssize_t r = pread(z->fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return hq_failf(NULL, HQ_ERR_IO, "%s: read error at offset %llu: %s", z->name,
                            (unsigned long long)off, strerror(errno));
        if (r == 0)
            return hq_failf(NULL, HQ_ERR_IO, "%s: file shrank while reading (offset %llu)", z->name,
                            (unsigned long long)off);
        p += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return HQ_OK;
}

void hq_npz_free(hq_npz *z) {
    if (!z || z->h.magic != NPZ_MAGIC) return;
    for (int i = 0; i < z->n; i++) hq_free(z->m[i].name);
    hq_free(z->m);
    if (z->fd >= 0) close(z->fd);
    hq_free(z->name);
    z->h.magic = HQ_MAGIC_DEAD;
    hq_free(z);
}

static int cmp_local_off(const void *a, const void *b) {
    const npz_member *x = *(const npz_member *const *)a, *y = *(const npz_member *const *)b;
    return x->local_off < y->local_off ? -1 : x->local_off > y->local_off;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const npz_member *const *)a)->name, (*(const npz_member *const *)b)->name);
}

/* A hint for a file that is clearly something else than a zip. */
static const char *not_zip_hint(const uint8_t *head, size_t n) {
    if (n >= 6 && !memcmp(head, "\x93NUMPY", 6))
        return " (it is an .npy array: read it with hq_npy_read_file)";
    if (n >= 1 && (head[0] == '<' || head[0] == '{'))
        return " (it looks like text or an HTML page, e.g. a failed download)";
    if (n >= 4 && !memcmp(head, "PK\3\4", 4))
        return " (it starts like a zip but its end is missing: truncated, e.g. an interrupted "
               "download)";
    return "";
}

/* Find and check the end-of-central-directory record; fills cd offset/size/count. */
static hq_status npz_read_eocd(hq_npz *z, uint64_t *cd_off, uint64_t *cd_size, int *count) {
    hq_status st;
    size_t tail = (size_t)HQ_MIN(z->size, (uint64_t)(22 + 65535));
    uint8_t head[8] = {0};
    size_t hn = (size_t)HQ_MIN(z->size, (uint64_t)sizeof head);
    if ((st = src_read(z, 0, head, hn)) != HQ_OK) return st;
    if (z->size < 22)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: not a zip/.npz archive (%llu bytes, too short)%s",
                        z->name, (unsigned long long)z->size, not_zip_hint(head, hn));
    uint8_t *buf = hq_malloc(tail);
    if (!buf) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", z->name);
    if ((st = src_read(z, z->size - tail, buf, tail)) != HQ_OK) {
        hq_free(buf);
        return st;
    }
    /* the last signature whose comment length reaches exactly to the end of the file */
    long pos = -1;
    for (long i = (long)tail - 22; i >= 0; i--) {
        if (buf[i] == 'P' && buf[i + 1] == 'K' && buf[i + 2] == 5 && buf[i + 3] == 6 &&
            (size_t)i + 22 + rd16(buf + i + 20) == tail) {
            pos = i;
            break;
        }
    }
    if (pos < 0) {
        hq_free(buf);
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "%s: not a zip/.npz archive: no end-of-central-directory record%s", z->name,
                        not_zip_hint(head, hn));
    }
    const uint8_t *e = buf + pos;
    uint64_t eocd_off = z->size - tail + (uint64_t)pos;
    uint16_t disk = rd16(e + 4), cd_disk = rd16(e + 6), n_disk = rd16(e + 8), n_all = rd16(e + 10);
    uint32_t size = rd32(e + 12), off = rd32(e + 16);
    bool zip64_loc = pos >= 20 && !memcmp(buf + pos - 20, "PK\6\7", 4);
    hq_free(buf);
    if (zip64_loc || n_all == 0xFFFF || size == 0xFFFFFFFFu || off == 0xFFFFFFFFu)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: zip64 archives are not supported (MedMNIST .npz files do not need "
                        "zip64)",
                        z->name);
    if (disk || cd_disk || n_disk != n_all)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: multi-disk (split) zip archives are not supported", z->name);
    if ((uint64_t)off + size != eocd_off)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: central directory (offset %u, %u bytes) does not end at the "
                        "end record (offset %llu): damaged or truncated archive",
                        z->name, off, size, (unsigned long long)eocd_off);
    if ((uint64_t)n_all * 46 > size)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: central directory of %u bytes cannot hold %u entries", z->name, size,
                        n_all);
    *cd_off = off;
    *cd_size = size;
    *count = n_all;
    return HQ_OK;
}

/* Parse central directory entry k at cd[*pos], advancing *pos. */
static hq_status npz_parse_central(hq_npz *z, const uint8_t *cd, size_t cd_size, size_t *pos, int k,
                                   npz_member *m) {
    size_t p = *pos;
    if (cd_size - p < 46 || memcmp(cd + p, "PK\1\2", 4) != 0)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: central directory entry %d is missing or damaged (offset %zu)",
                        z->name, k, p);
    const uint8_t *e = cd + p;
    m->flags = rd16(e + 8);
    m->method = rd16(e + 10);
    m->crc = rd32(e + 16);
    uint32_t csize = rd32(e + 20), usize = rd32(e + 24);
    uint16_t nlen = rd16(e + 28), xlen = rd16(e + 30), clen = rd16(e + 32), disk = rd16(e + 34);
    uint32_t loff = rd32(e + 42);
    if ((size_t)46 + nlen + xlen + clen > cd_size - p)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: central directory entry %d runs past the directory", z->name, k);
    char nm[256];
    sanitize(nm, sizeof nm, (const char *)e + 46, nlen);
    m->name = hq_strdup(nm);
    if (!m->name) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", z->name);
    if (nlen == 0 || memchr(e + 46, '\0', nlen) || nlen >= sizeof nm)
        return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: member %d has an invalid name '%s'", z->name, k,
                        nm);
    if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || loff == 0xFFFFFFFFu || disk == 0xFFFF)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: member '%s' uses zip64 extensions, which are not supported", z->name,
                        nm);
    if (disk)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: member '%s' lies on another disk of a split archive", z->name, nm);
    if (m->flags & (1u | (1u << 6) | (1u << 13)))
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: member '%s' is encrypted; encrypted archives are not supported",
                        z->name, nm);
    if (m->method != 0 && m->method != 8)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: member '%s' uses zip compression method %u; only stored (0) and "
                        "DEFLATE (8) are supported — re-save it with np.savez_compressed",
                        z->name, nm, m->method);
    m->csize = csize;
    m->usize = usize;
    m->local_off = loff;
    if (m->method == 0 && csize != usize)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s' is stored uncompressed but its sizes differ (%u vs %u)",
                        z->name, nm, csize, usize);
    if (m->method == 8 && m->usize > m->csize * HQ_NPZ_MAX_RATIO + NPZ_SLACK)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s' declares %llu bytes from %llu compressed bytes — a "
                        "ratio DEFLATE cannot reach (max 1032:1): a zip bomb or a damaged file",
                        z->name, nm, (unsigned long long)m->usize, (unsigned long long)m->csize);
    *pos = p + 46 + nlen + xlen + clen;
    return HQ_OK;
}

/* Check the local header of m against the central directory; set data_off / end_off. */
static hq_status npz_check_local(hq_npz *z, npz_member *m, uint64_t cd_off) {
    hq_status st;
    uint8_t lh[30];
    if (m->local_off > cd_off || cd_off - m->local_off < 30)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s': local header offset %llu is outside the data area "
                        "(0..%llu)",
                        z->name, m->name, (unsigned long long)m->local_off,
                        (unsigned long long)cd_off);
    if ((st = src_read(z, m->local_off, lh, sizeof lh)) != HQ_OK) return st;
    if (memcmp(lh, "PK\3\4", 4) != 0)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s': no local header at offset %llu (damaged archive)",
                        z->name, m->name, (unsigned long long)m->local_off);
    uint16_t flags = rd16(lh + 6), method = rd16(lh + 8), nlen = rd16(lh + 26),
             xlen = rd16(lh + 28);
    uint32_t crc = rd32(lh + 14), csize = rd32(lh + 18), usize = rd32(lh + 22);
    if (method != m->method || ((flags ^ m->flags) & 1u))
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s': local header disagrees with the central directory "
                        "(method %u vs %u)",
                        z->name, m->name, method, m->method);
    uint64_t var_end = m->local_off + 30 + nlen + xlen;
    if (var_end > cd_off)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s': local header runs past the data area", z->name, m->name);
    uint8_t *var = hq_malloc((size_t)nlen + xlen + 1);
    if (!var) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", z->name);
    if ((st = src_read(z, m->local_off + 30, var, (size_t)nlen + xlen)) != HQ_OK) {
        hq_free(var);
        return st;
    }
    char nm[256];
    sanitize(nm, sizeof nm, (const char *)var, nlen);
    bool name_ok = nlen < sizeof nm && !memchr(var, '\0', nlen) && !strcmp(nm, m->name);
    /* a zip64 extra field (id 1) may carry the sizes; Python writes one for every member */
    uint64_t x_usize = usize, x_csize = csize;
    bool have_x = false;
    for (size_t i = 0; i + 4 <= xlen;) {
        uint16_t id = rd16(var + nlen + i), sz = rd16(var + nlen + i + 2);
        if (i + 4 + sz > xlen) break;
        if (id == 1 && sz >= 16) {
            x_usize = rd64(var + nlen + i + 4);
            x_csize = rd64(var + nlen + i + 12);
            have_x = true;
        }
        i += 4 + (size_t)sz;
    }
    hq_free(var);
    if (!name_ok)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s': local header names it '%s' (damaged archive)", z->name,
                        m->name, nm);
    m->data_off = var_end;
    if (m->csize > cd_off - m->data_off)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: member '%s': %llu bytes of data at offset %llu run past the data "
                        "area (%llu bytes): truncated or damaged archive",
                        z->name, m->name, (unsigned long long)m->csize,
                        (unsigned long long)m->data_off, (unsigned long long)cd_off);
    m->end_off = m->data_off + m->csize;
    if (m->flags & 8u) {
        /* data descriptor: [sig] crc csize usize (sizes 8 bytes if the member is zip64) */
        uint8_t dd[24];
        size_t szw = have_x ? 8 : 4, need = 4 + 2 * szw;
        uint64_t avail = cd_off - m->end_off;
        if (avail < need)
            return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: member '%s': data descriptor missing",
                            z->name, m->name);
        size_t rd = (size_t)HQ_MIN(avail, (uint64_t)(need + 4));
        if ((st = src_read(z, m->end_off, dd, rd)) != HQ_OK) return st;
        size_t o = 0;
        if (rd >= need + 4 && !memcmp(dd, "PK\7\10", 4)) o = 4;
        uint32_t dcrc = rd32(dd + o);
        uint64_t dcs = szw == 8 ? rd64(dd + o + 4) : rd32(dd + o + 4);
        uint64_t dus = szw == 8 ? rd64(dd + o + 4 + szw) : rd32(dd + o + 4 + szw);
        if (dcrc != m->crc || dcs != m->csize || dus != m->usize)
            return hq_failf(NULL, HQ_ERR_CORRUPT,
                            "%s: member '%s': data descriptor (crc 0x%08x, %llu/%llu bytes) "
                            "disagrees with the central directory (crc 0x%08x, %llu/%llu bytes)",
                            z->name, m->name, dcrc, (unsigned long long)dcs,
                            (unsigned long long)dus, m->crc, (unsigned long long)m->csize,
                            (unsigned long long)m->usize);
        m->end_off += o + need;
    } else {
        uint64_t lus = usize == 0xFFFFFFFFu && have_x ? x_usize : usize;
        uint64_t lcs = csize == 0xFFFFFFFFu && have_x ? x_csize : csize;
        if (crc != m->crc || lus != m->usize || lcs != m->csize)
            return hq_failf(NULL, HQ_ERR_CORRUPT,
                            "%s: member '%s': local header (crc 0x%08x, %llu/%llu bytes) "
                            "disagrees with the central directory (crc 0x%08x, %llu/%llu bytes)",
                            z->name, m->name, crc, (unsigned long long)lcs, (unsigned long long)lus,
                            m->crc, (unsigned long long)m->csize, (unsigned long long)m->usize);
    }
    return HQ_OK;
}

static hq_status npz_load_directory(hq_npz *z) {
    uint64_t cd_off = 0, cd_size = 0;
    int count = 0;
    hq_status st = npz_read_eocd(z, &cd_off, &cd_size, &count);
    if (st != HQ_OK) return st;
    uint8_t *cd = hq_malloc(cd_size ? (size_t)cd_size : 1);
    z->m = hq_calloc(count ? (size_t)count : 1, sizeof *z->m);
    if (!cd || !z->m) {
        hq_free(cd);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory reading the directory", z->name);
    }
    st = src_read(z, cd_off, cd, (size_t)cd_size);
    size_t pos = 0;
    for (int k = 0; st == HQ_OK && k < count; k++) {
        st = npz_parse_central(z, cd, (size_t)cd_size, &pos, k, &z->m[k]);
        z->n = k + 1; /* so that hq_npz_free releases the name */
    }
    hq_free(cd);
    if (st != HQ_OK) return st;
    for (int k = 0; k < count; k++)
        if ((st = npz_check_local(z, &z->m[k], cd_off)) != HQ_OK) return st;
    npz_member **by_off = hq_malloc((size_t)(count ? count : 1) * sizeof *by_off);
    if (!by_off) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", z->name);
    for (int k = 0; k < count; k++) by_off[k] = &z->m[k];
    /* names must be unique (sorted, so 65535 members stay cheap) */
    qsort(by_off, (size_t)count, sizeof *by_off, cmp_name);
    for (int k = 1; k < count && st == HQ_OK; k++)
        if (!strcmp(by_off[k - 1]->name, by_off[k]->name))
            st = hq_failf(NULL, HQ_ERR_CORRUPT, "%s: member '%s' appears twice", z->name,
                          by_off[k]->name);
    /* members must not overlap */
    qsort(by_off, (size_t)count, sizeof *by_off, cmp_local_off);
    for (int k = 1; k < count && st == HQ_OK; k++)
        if (by_off[k]->local_off < by_off[k - 1]->end_off)
            st = hq_failf(NULL, HQ_ERR_CORRUPT,
                          "%s: members '%s' and '%s' overlap (offsets %llu..%llu and %llu): "
                          "damaged or malicious archive",
                          z->name, by_off[k - 1]->name, by_off[k]->name,
                          (unsigned long long)by_off[k - 1]->local_off,
                          (unsigned long long)by_off[k - 1]->end_off,
                          (unsigned long long)by_off[k]->local_off);
    hq_free(by_off);
    return st;
}

static hq_status npz_new(const char *name, hq_npz **out) {
    hq_npz *z = hq_calloc(1, sizeof *z);
    char nm[512];
    sanitize(nm, sizeof nm, name, strlen(name));
    if (z) z->name = hq_strdup(nm);
    if (!z || !z->name) {
        hq_free(z);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", nm);
    }
    z->h.magic = NPZ_MAGIC;
    z->fd = -1;
    z->max_member = HQ_NPZ_DEFAULT_MAX_MEMBER;
    *out = z;
    return HQ_OK;
}

hq_status hq_npz_open(const char *path, hq_npz **out) {
    if (out) *out = NULL;
    if (!path || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_npz_open: NULL %s", path ? "out" : "path");
    hq_npz *z;
    hq_status st = npz_new(path, &z);
    if (st != HQ_OK) return st;
    z->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (z->fd < 0) {
        int e = errno;
        hq_npz_free(z);
        return hq_failf(NULL, e == ENOENT ? HQ_ERR_NOT_FOUND : HQ_ERR_IO, "cannot open '%s': %s",
                        path, strerror(e));
    }
    struct stat sb;
    if (fstat(z->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        hq_npz_free(z);
        return hq_failf(NULL, HQ_ERR_IO, "'%s' is not a regular file", path);
    }
    z->size = (uint64_t)sb.st_size;
    if ((st = npz_load_directory(z)) != HQ_OK) {
        hq_npz_free(z);
        return st;
    }
    *out = z;
    return HQ_OK;
}

hq_status hq_npz_open_buffer(const void *data, size_t len, const char *name, hq_npz **out) {
    if (out) *out = NULL;
    if (!out || (!data && len))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_npz_open_buffer: NULL %s",
                        out ? "data" : "out");
    hq_npz *z;
    hq_status st = npz_new(name ? name : "<memory>", &z);
    if (st != HQ_OK) return st;
    static const uint8_t empty[1];
    z->mem = data ? data : empty;
    z->size = len;
    if ((st = npz_load_directory(z)) != HQ_OK) {
        hq_npz_free(z);
        return st;
    }
    *out = z;
    return HQ_OK;
}

hq_status hq_npz_set_max_member(hq_npz *z, uint64_t max_bytes) {
    HQ_CHECK_HANDLE(z, NPZ_MAGIC);
    if (max_bytes == 0)
        return hq_failf(&z->h.err, HQ_ERR_INVALID_ARG,
                        "hq_npz_set_max_member: limit 0 is out of range [1, 2^64)");
    z->max_member = max_bytes;
    return HQ_OK;
}

int hq_npz_count(const hq_npz *z) { return hq_handle_ok(z, NPZ_MAGIC) ? z->n : 0; }

const char *hq_npz_name(const hq_npz *z, int i) {
    if (!hq_handle_ok(z, NPZ_MAGIC) || i < 0 || i >= z->n) return NULL;
    return z->m[i].name;
}

uint64_t hq_npz_member_size(const hq_npz *z, int i) {
    if (!hq_handle_ok(z, NPZ_MAGIC) || i < 0 || i >= z->n) return 0;
    return z->m[i].usize;
}

static npz_member *npz_find(const hq_npz *z, const char *name) {
    for (int i = 0; i < z->n; i++)
        if (!strcmp(z->m[i].name, name)) return &z->m[i];
    size_t l = strlen(name);
    for (int i = 0; i < z->n; i++) {
        const char *s = z->m[i].name;
        if (strlen(s) == l + 4 && !strncmp(s, name, l) && !strcmp(s + l, ".npy")) return &z->m[i];
    }
    return NULL;
}

bool hq_npz_has(const hq_npz *z, const char *name) {
    return hq_handle_ok(z, NPZ_MAGIC) && name && npz_find(z, name) != NULL;
}

/* ==== member stream ==================================================================== */

typedef struct member_reader {
    const hq_npz *z;
    const npz_member *m;
    const char *where; /* "file: member 'x'" */
    z_stream zs;       /* inflate state (method 8) */
    bool zinit;        /* zs needs inflateEnd */
    bool ended;        /* inflate reported Z_STREAM_END */
    uint64_t in_off;   /* next compressed byte to read */
    uint64_t in_left;  /* compressed bytes not yet read from the source */
    uint64_t out_done; /* uncompressed bytes produced */
    uint32_t crc;      /* running CRC-32 of produced bytes */
    uint8_t *inbuf;    /* (NPZ_INBUF) compressed input */
} member_reader;

static hq_status mr_fill(member_reader *r) {
    size_t k = (size_t)HQ_MIN(r->in_left, (uint64_t)NPZ_INBUF);
    hq_status st = src_read(r->z, r->in_off, r->inbuf, k);
    if (st != HQ_OK) return st;
    r->in_off += k;
    r->in_left -= k;
    r->zs.next_in = r->inbuf;
    r->zs.avail_in = (uInt)k;
    return HQ_OK;
}

static hq_status mr_inflate_err(member_reader *r, int ret) {
    if (ret == Z_MEM_ERROR)
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory inflating", r->where);
    return hq_failf(NULL, HQ_ERR_CORRUPT, "%s: invalid DEFLATE data after %llu bytes (%s)",
                    r->where, (unsigned long long)r->out_done,
                    r->zs.msg ? r->zs.msg : "zlib error");
}

static hq_status mr_read(void *ctx, void *dst, size_t n) {
    member_reader *r = ctx;
    hq_status st;
    if (n > r->m->usize - r->out_done)
        return hq_failf(NULL, HQ_ERR_INTERNAL, "%s: read past the declared size", r->where);
    if (r->m->method == 0) {
        if ((st = src_read(r->z, r->in_off, dst, n)) != HQ_OK) return st;
        r->in_off += n;
        r->in_left -= n;
    } else {
        uint8_t *p = dst;
        size_t left = n;
        while (left) {
            uInt chunk = (uInt)HQ_MIN(left, (size_t)1 << 30);
            r->zs.next_out = p;
            r->zs.avail_out = chunk;
            while (r->zs.avail_out) {
                unsigned long long got = (unsigned long long)(r->out_done + (uint64_t)(n - left) +
                                                              (chunk - r->zs.avail_out));
                if (r->ended)
                    return hq_failf(NULL, HQ_ERR_CORRUPT,
                                    "%s: compressed data ends after %llu of the declared %llu "
                                    "bytes (damaged file)",
                                    r->where, got, (unsigned long long)r->m->usize);
                if (r->zs.avail_in == 0 && r->in_left && (st = mr_fill(r)) != HQ_OK) return st;
                int ret = inflate(&r->zs, Z_NO_FLUSH);
                if (ret == Z_STREAM_END)
                    r->ended = true;
                else if (ret == Z_BUF_ERROR && r->zs.avail_in == 0 && r->in_left == 0)
                    return hq_failf(NULL, HQ_ERR_CORRUPT,
                                    "%s: compressed data is truncated after %llu of %llu bytes",
                                    r->where, got, (unsigned long long)r->m->usize);
                else if (ret != Z_OK && ret != Z_BUF_ERROR)
                    return mr_inflate_err(r, ret);
            }
            p += chunk;
            left -= chunk;
        }
    }
    for (size_t off = 0; off < n;) {
        uInt c = (uInt)HQ_MIN(n - off, (size_t)1 << 30);
        r->crc = (uint32_t)crc32(r->crc, (const Bytef *)dst + off, c);
        off += c;
    }
    r->out_done += n;
    return HQ_OK;
}

/* Read and discard the rest of the declared bytes (to reach the CRC check). */
static hq_status mr_drain(member_reader *r) {
    uint8_t scratch[4096];
    while (r->out_done < r->m->usize) {
        size_t k = (size_t)HQ_MIN(r->m->usize - r->out_done, (uint64_t)sizeof scratch);
        hq_status st = mr_read(r, scratch, k);
        if (st != HQ_OK) return st;
    }
    return HQ_OK;
}

/* After all declared bytes were read: the stream must end here and the CRC must match. */
static hq_status mr_finish(member_reader *r) {
    hq_status st;
    if (r->m->method == 8) {
        uint8_t scratch[64];
        while (!r->ended) {
            if (r->zs.avail_in == 0 && r->in_left && (st = mr_fill(r)) != HQ_OK) return st;
            r->zs.next_out = scratch;
            r->zs.avail_out = sizeof scratch;
            int ret = inflate(&r->zs, Z_NO_FLUSH);
            if (r->zs.avail_out != sizeof scratch)
                return hq_failf(NULL, HQ_ERR_CORRUPT,
                                "%s: inflates to more than the declared %llu bytes (a zip bomb or "
                                "a damaged file)",
                                r->where, (unsigned long long)r->m->usize);
            if (ret == Z_STREAM_END)
                r->ended = true;
            else if (ret == Z_BUF_ERROR && r->zs.avail_in == 0 && r->in_left == 0)
                return hq_failf(NULL, HQ_ERR_CORRUPT,
                                "%s: compressed data is truncated (no end of DEFLATE stream)",
                                r->where);
            else if (ret != Z_OK && ret != Z_BUF_ERROR)
                return mr_inflate_err(r, ret);
        }
        uint64_t unused = r->zs.avail_in + r->in_left;
        if (unused)
            return hq_failf(NULL, HQ_ERR_CORRUPT,
                            "%s: %llu bytes of compressed data follow the end of the DEFLATE "
                            "stream (damaged file)",
                            r->where, (unsigned long long)unused);
    }
    if (r->crc != r->m->crc)
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "%s: CRC mismatch (stored 0x%08x, computed 0x%08x) — the file is damaged",
                        r->where, r->m->crc, r->crc);
    return HQ_OK;
}

hq_status hq_npz_read(hq_npz *z, const char *name, hq_npy_array *out) {
    if (out) memset(out, 0, sizeof *out);
    HQ_CHECK_HANDLE(z, NPZ_MAGIC);
    if (!name || !out)
        return hq_failf(&z->h.err, HQ_ERR_INVALID_ARG, "hq_npz_read: NULL %s",
                        name ? "out" : "name");
    const npz_member *m = npz_find(z, name);
    if (!m) {
        hq_sbuf b = HQ_SBUF_INIT;
        for (int i = 0; i < z->n; i++) hq_sbuf_printf(&b, "%s%s", i ? ", " : "", z->m[i].name);
        char nm[128];
        sanitize(nm, sizeof nm, name, strlen(name));
        hq_status st = hq_failf(&z->h.err, HQ_ERR_NOT_FOUND, "%s: no member '%s' (members: %s)",
                                z->name, nm, b.p ? b.p : "none");
        hq_sbuf_free(&b);
        return st;
    }
    char where[800];
    snprintf(where, sizeof where, "%s: member '%s'", z->name, m->name);
    if (m->usize > z->max_member)
        return hq_failf(&z->h.err, HQ_ERR_UNSUPPORTED,
                        "%s: declares %llu uncompressed bytes, more than the limit of %llu (raise "
                        "it with hq_npz_set_max_member if the file is trusted)",
                        where, (unsigned long long)m->usize, (unsigned long long)z->max_member);
    member_reader r;
    memset(&r, 0, sizeof r);
    r.z = z;
    r.m = m;
    r.where = where;
    r.in_off = m->data_off;
    r.in_left = m->csize;
    r.crc = (uint32_t)crc32(0L, Z_NULL, 0);
    hq_status st = HQ_OK;
    if (m->method == 8) {
        r.inbuf = hq_malloc(NPZ_INBUF);
        if (!r.inbuf) return hq_failf(&z->h.err, HQ_ERR_NOMEM, "%s: out of memory", where);
        int ret = inflateInit2(&r.zs, -15);
        if (ret != Z_OK) {
            hq_free(r.inbuf);
            return hq_failf(&z->h.err, HQ_ERR_NOMEM, "%s: cannot start inflate (zlib error %d)",
                            where, ret);
        }
        r.zinit = true;
    }
    npy_stream in = {mr_read, &r, m->usize, where};
    st = npy_read_stream(&in, out);
    if (st == HQ_OK) {
        st = mr_finish(&r);
    } else if (st == HQ_ERR_PARSE || st == HQ_ERR_CORRUPT || st == HQ_ERR_UNSUPPORTED) {
        /* a damaged member often shows first as a bad header: read to the end so that a
         * CRC or DEFLATE failure, the real cause, is reported instead */
        hq_status why = mr_drain(&r);
        if (why == HQ_OK) why = mr_finish(&r);
        if (why != HQ_OK) st = why; /* else the parse error stays the last error */
    }
    if (r.zinit) inflateEnd(&r.zs);
    hq_free(r.inbuf);
    if (st != HQ_OK) {
        hq_npy_array_free(out);
        z->h.err.status = st;
        snprintf(z->h.err.msg, sizeof z->h.err.msg, "%s", hq_last_error());
    }
    return st;
}

/* ==== conversion ======================================================================= */

/* Value i of a as double (exact for every integer type up to 2^53, and for floats). */
static double get_f64(const hq_npy_array *a, int64_t i) {
    const void *d = a->data;
    switch (a->dtype) {
    case HQ_NPY_BOOL:
    case HQ_NPY_U8: return ((const uint8_t *)d)[i];
    case HQ_NPY_I8: return ((const int8_t *)d)[i];
    case HQ_NPY_U16: return ((const uint16_t *)d)[i];
    case HQ_NPY_I16: return ((const int16_t *)d)[i];
    case HQ_NPY_U32: return ((const uint32_t *)d)[i];
    case HQ_NPY_I32: return ((const int32_t *)d)[i];
    case HQ_NPY_U64: return (double)((const uint64_t *)d)[i];
    case HQ_NPY_I64: return (double)((const int64_t *)d)[i];
    case HQ_NPY_F32: return ((const float *)d)[i];
    case HQ_NPY_F64: return ((const double *)d)[i];
    default: return NAN;
    }
}

/* Value i as int32 if exactly representable. */
static bool get_i32(const hq_npy_array *a, int64_t i, int32_t *v) {
    const void *d = a->data;
    switch (a->dtype) {
    case HQ_NPY_U32: {
        uint32_t x = ((const uint32_t *)d)[i];
        if (x > INT32_MAX) return false;
        *v = (int32_t)x;
        return true;
    }
    case HQ_NPY_U64: {
        uint64_t x = ((const uint64_t *)d)[i];
        if (x > INT32_MAX) return false;
        *v = (int32_t)x;
        return true;
    }
    case HQ_NPY_I64: {
        int64_t x = ((const int64_t *)d)[i];
        if (x < INT32_MIN || x > INT32_MAX) return false;
        *v = (int32_t)x;
        return true;
    }
    default: {
        double x = get_f64(a, i);
        if (!(x >= INT32_MIN && x <= INT32_MAX) || x != floor(x)) return false;
        *v = (int32_t)x;
        return true;
    }
    }
}

hq_status hq_npy_convert(hq_npy_array *a, hq_npy_dtype to) {
    if (!a) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_npy_convert: NULL array");
    if (to != HQ_NPY_F32 && to != HQ_NPY_I32)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_npy_convert: target dtype %d is not float32 or int32", (int)to);
    if ((unsigned)a->dtype >= HQ_NPY_DTYPE_COUNT || (a->count && !a->data))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_npy_convert: invalid array");
    if (a->dtype == to) return HQ_OK;
    size_t nb = (size_t)a->count * 4;
    void *nd = nb ? hq_malloc(nb) : NULL;
    if (nb && !nd)
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_npy_convert: cannot allocate %zu bytes", nb);
    if (to == HQ_NPY_F32) {
        float *f = nd;
        for (int64_t i = 0; i < a->count; i++) f[i] = (float)get_f64(a, i);
    } else {
        int32_t *o = nd;
        for (int64_t i = 0; i < a->count; i++) {
            if (!get_i32(a, i, &o[i])) {
                double v = get_f64(a, i);
                hq_free(nd);
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "hq_npy_convert: element %lld (%s value %.17g) is not an integer "
                                "in the int32 range",
                                (long long)i, hq_npy_dtype_str(a->dtype), v);
            }
        }
    }
    hq_free(a->data);
    a->data = nd;
    a->dtype = to;
    a->nbytes = nb;
    return HQ_OK;
}

static hq_status read_as(hq_npz *z, const char *name, hq_npy_array *out, hq_npy_dtype to) {
    hq_status st = hq_npz_read(z, name, out);
    if (st != HQ_OK) return st;
    if ((st = hq_npy_convert(out, to)) != HQ_OK) {
        hq_npy_array_free(out);
        return hq_fail_prefix(&z->h.err, st, "%s: member '%s'", z->name, name);
    }
    return HQ_OK;
}

hq_status hq_npz_read_f32(hq_npz *z, const char *name, hq_npy_array *out) {
    return read_as(z, name, out, HQ_NPY_F32);
}

hq_status hq_npz_read_i32(hq_npz *z, const char *name, hq_npy_array *out) {
    return read_as(z, name, out, HQ_NPY_I32);
}
