/*
 * nn/npy.h — NumPy .npy arrays and .npz archives, read-only, written for hostile input.
 *
 * An .npz file is a zip archive of .npy members (np.savez / np.savez_compressed). This
 * reader parses the end-of-central-directory record and the central directory (the
 * local headers are cross-checked against it, never trusted alone), supports members
 * stored (zip method 0) or DEFLATE-compressed (method 8, zlib raw inflate), and checks
 * every member's CRC-32 and sizes. It refuses, with a message naming the file, the member
 * and the problem:
 *   - zip64 archives and multi-disk archives (MedMNIST does not need them);
 *   - encrypted members, unknown compression methods;
 *   - members whose ranges overlap each other or the central directory, or run past
 *     the end of the file; local headers that disagree with the central directory; data
 *     descriptors that disagree with it;
 *   - zip bombs: a member may not declare more than the handle's size limit (default
 *     HQ_NPZ_DEFAULT_MAX_MEMBER) nor a compression ratio above HQ_NPZ_MAX_RATIO (DEFLATE
 *     cannot exceed 1032:1), and inflating more bytes than declared is an error. Memory
 *     is allocated only after those checks, so the largest allocation for a file of
 *     B bytes is about HQ_NPZ_MAX_RATIO * B.
 *
 * .npy versions 1.0, 2.0 and 3.0 are read: magic, header dictionary ('descr',
 * 'fortran_order', 'shape' — exactly these keys, as NumPy requires), little-endian or
 * byte-order-free dtypes (see hq_npy_dtype), C order (Fortran order is accepted only
 * when it is the same memory layout, i.e. at most one dimension longer than 1), element
 * count overflow and data length checked exactly.
 *
 * Example:
 *     hq_npz *z;
 *     hq_npy_array a = {0};
 *     if ((st = hq_npz_open("breastmnist.npz", &z)) != HQ_OK) ...
 *     st = hq_npz_read_f32(z, "train_images", &a);   // ".npy" suffix optional
 *     // a.ndim == 3, a.shape = {546, 28, 28}, a.data is float[546*28*28]
 *     hq_npy_array_free(&a);
 *     hq_npz_free(z);
 *
 * Statuses: HQ_ERR_IO (read error), HQ_ERR_NOT_FOUND (no such file or member),
 * HQ_ERR_PARSE (not a zip / not an .npy / malformed header), HQ_ERR_CORRUPT (failed an
 * integrity check: CRC, sizes, offsets, truncated data), HQ_ERR_UNSUPPORTED (valid but not
 * handled here: zip64, encryption, big-endian or exotic dtypes, Fortran order, a member
 * above the size limit), HQ_ERR_NOMEM, HQ_ERR_INVALID_ARG (NULL arguments, bad conversion
 * of values), HQ_ERR_MISUSE (bad handle).
 *
 * Ownership: hq_npz_open* return a handle the caller frees with hq_npz_free; arrays are
 * filled into caller-provided hq_npy_array structs whose data the caller frees with
 * hq_npy_array_free. Strings returned by the handle are borrowed until hq_npz_free.
 */
#ifndef HQ_NPY_H
#define HQ_NPY_H

#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== arrays ========================================================================== */

#define HQ_NPY_MAX_DIMS 16 /* NumPy allows 32 (64 in 2.x); MedMNIST uses at most 4 */

/* Element types read from .npy 'descr' strings ('|u1', '<f4', ...). Append-only. */
typedef enum hq_npy_dtype {
    HQ_NPY_BOOL = 0, /* '|b1', one byte, 0 or 1 */
    HQ_NPY_U8,       /* '|u1' */
    HQ_NPY_I8,       /* '|i1' */
    HQ_NPY_U16,      /* '<u2' */
    HQ_NPY_I16,      /* '<i2' */
    HQ_NPY_U32,      /* '<u4' */
    HQ_NPY_I32,      /* '<i4' */
    HQ_NPY_U64,      /* '<u8' */
    HQ_NPY_I64,      /* '<i8' */
    HQ_NPY_F32,      /* '<f4' */
    HQ_NPY_F64,      /* '<f8' */
    HQ_NPY_DTYPE_COUNT
} hq_npy_dtype;

/* A dense C-order array owned by whoever holds the struct. */
typedef struct hq_npy_array {
    hq_npy_dtype dtype;             /* element type of data */
    int ndim;                       /* number of dimensions, 0 (scalar) .. HQ_NPY_MAX_DIMS */
    int64_t shape[HQ_NPY_MAX_DIMS]; /* shape[0..ndim-1]; unused entries are 0 */
    int64_t count;                  /* product of the shape (1 for a scalar) */
    size_t nbytes;                  /* count * element size */
    void *data;                     /* (shape...) elements, C order, native little-endian;
                                       owned; NULL when nbytes == 0 */
} hq_npy_array;

/* Size in bytes of one element (0 for an invalid dtype). */
size_t hq_npy_dtype_size(hq_npy_dtype t);
/* NumPy descr string of a dtype ("<f4"); "?" for an invalid dtype. Never NULL. */
const char *hq_npy_dtype_str(hq_npy_dtype t);

/* Free a->data and zero the struct. NULL or an already-freed array is a no-op. */
void hq_npy_array_free(hq_npy_array *a);

/*
 * Convert an array in place to float32 (HQ_NPY_F32) or int32 (HQ_NPY_I32); a no-op when
 * it already has that type. To int32, every value must be an integer within int32 range
 * (floats must be integral, e.g. 3.0): otherwise HQ_ERR_INVALID_ARG naming the first bad
 * index and value, and the array is left unchanged. To float32 any type converts (values
 * are rounded to the nearest float). Other targets: HQ_ERR_INVALID_ARG.
 * [in,out] a   array to convert; its data may be reallocated
 * [in]     to  HQ_NPY_F32 or HQ_NPY_I32
 * Returns HQ_OK, HQ_ERR_INVALID_ARG, HQ_ERR_NOMEM.
 */
hq_status hq_npy_convert(hq_npy_array *a, hq_npy_dtype to);

/* "(546, 28, 28)" into out (cap bytes, truncated with "..." if needed). */
void hq_npy_shape_str(const hq_npy_array *a, char *out, size_t cap);

/* ==== .npy files ====================================================================== */

/*
 * Parse a whole .npy image held in memory.
 * [in]  data, len  the .npy bytes (borrowed for the call)
 * [in]  name       name used in error messages (e.g. "x.npy"); NULL means "<memory>"
 * [out] out        filled on success; zeroed on failure
 * Returns HQ_OK, HQ_ERR_PARSE, HQ_ERR_CORRUPT, HQ_ERR_UNSUPPORTED, HQ_ERR_NOMEM,
 * HQ_ERR_INVALID_ARG.
 */
hq_status hq_npy_parse(const void *data, size_t len, const char *name, hq_npy_array *out);

/* Read a .npy file (same checks as hq_npy_parse; also HQ_ERR_IO / HQ_ERR_NOT_FOUND). */
hq_status hq_npy_read_file(const char *path, hq_npy_array *out);

/* ==== .npz archives =================================================================== */

typedef struct hq_npz hq_npz; /* opaque handle */

#define HQ_NPZ_DEFAULT_MAX_MEMBER ((uint64_t)2 << 30) /* 2 GiB uncompressed per member */
#define HQ_NPZ_MAX_RATIO          1100 /* DEFLATE's limit is 1032:1; more means a lie */

/*
 * Open an .npz (zip) file and validate its directory; member data is read lazily.
 * [in]  path  file to open (also the name used in messages)
 * [out] out   new handle, owned by the caller (hq_npz_free); NULL on failure
 * Returns HQ_OK, HQ_ERR_NOT_FOUND, HQ_ERR_IO, HQ_ERR_PARSE, HQ_ERR_CORRUPT,
 * HQ_ERR_UNSUPPORTED, HQ_ERR_NOMEM, HQ_ERR_INVALID_ARG.
 */
hq_status hq_npz_open(const char *path, hq_npz **out);

/*
 * Same as hq_npz_open on bytes in memory.
 * [in] data, len  the archive (borrowed; must stay valid until hq_npz_free)
 * [in] name       name used in messages; NULL means "<memory>"
 */
hq_status hq_npz_open_buffer(const void *data, size_t len, const char *name, hq_npz **out);

/* Close the archive. NULL is a no-op. */
void hq_npz_free(hq_npz *z);

/* Change the per-member uncompressed size limit (bytes, >= 1). HQ_ERR_INVALID_ARG for 0,
 * HQ_ERR_MISUSE for a bad handle. */
hq_status hq_npz_set_max_member(hq_npz *z, uint64_t max_bytes);

/* Number of members (0 for a bad handle). */
int hq_npz_count(const hq_npz *z);
/* Name of member i in directory order ("train_images.npy"); borrowed until hq_npz_free;
 * NULL if i is out of range or the handle is bad. */
const char *hq_npz_name(const hq_npz *z, int i);
/* Uncompressed size in bytes of member i (0 if out of range). */
uint64_t hq_npz_member_size(const hq_npz *z, int i);
/* True if the archive has a member called name or name + ".npy". */
bool hq_npz_has(const hq_npz *z, const char *name);

/*
 * Read a member as an array. The name may omit the ".npy" suffix.
 * [in]  z     archive
 * [in]  name  member name ("train_images" or "train_images.npy")
 * [out] out   filled on success (caller frees with hq_npy_array_free); zeroed on failure
 * Returns HQ_OK, HQ_ERR_NOT_FOUND (no such member; the message lists the members),
 * HQ_ERR_CORRUPT (CRC, sizes, truncation), HQ_ERR_PARSE, HQ_ERR_UNSUPPORTED, HQ_ERR_IO,
 * HQ_ERR_NOMEM, HQ_ERR_MISUSE, HQ_ERR_INVALID_ARG.
 */
hq_status hq_npz_read(hq_npz *z, const char *name, hq_npy_array *out);

/* hq_npz_read followed by hq_npy_convert to float32 / int32 (see there for the rules). */
hq_status hq_npz_read_f32(hq_npz *z, const char *name, hq_npy_array *out);
hq_status hq_npz_read_i32(hq_npz *z, const char *name, hq_npy_array *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NPY_H */
