/*
 * tests/npz_testutil.h — builders of .npy images and zip archives for the tests of
 * nn/npy and nn/medmnist (and the seeds of the fuzz_npz target). They write plain zip
 * structures with zlib's raw deflate and record where every header lies, so a test can
 * damage one field and check the reader's message. Test code only: aborts on OOM.
 */
#ifndef HQ_NPZ_TESTUTIL_H
#define HQ_NPZ_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZ_MAX_MEMBERS 16

/* One member to put into an archive. */
typedef struct tz_member {
    const char *name; /* member name, e.g. "x.npy" */
    const void *data; /* member bytes */
    size_t len;       /* bytes */
    int method;       /* 0 stored, 8 deflate */
    bool descriptor;  /* set flag bit 3, zero the local sizes and append a data descriptor */
} tz_member;

/* A built archive and where its parts lie. */
typedef struct tz_zip {
    uint8_t *p;                     /* archive bytes (hq_malloc'ed) */
    size_t len;                     /* archive length */
    int n;                          /* members */
    size_t local[TZ_MAX_MEMBERS];   /* offset of each local header */
    size_t data[TZ_MAX_MEMBERS];    /* offset of each member's data */
    size_t csize[TZ_MAX_MEMBERS];   /* compressed size of each member */
    size_t central[TZ_MAX_MEMBERS]; /* offset of each central directory entry */
    size_t cd_off;                  /* offset of the central directory */
    size_t eocd;                    /* offset of the end record */
} tz_zip;

/* Build an archive of n members (n <= TZ_MAX_MEMBERS) into z. */
void tz_build(tz_zip *z, const tz_member *m, int n);
void tz_free(tz_zip *z);

/* An .npy image with the header dictionary text `dict` (padded to a multiple of 64 with
 * spaces and '\n'), format version major.0, followed by len data bytes. Caller hq_free()s. */
uint8_t *tz_npy_dict(const char *dict, int major, const void *data, size_t len, size_t *out_len);
/* Same with the dictionary built from descr ("<f4"), fortran ("False") and shape ("(2, 3)"). */
uint8_t *tz_npy(const char *descr, const char *fortran, const char *shape, const void *data,
                size_t len, size_t *out_len);

/* Little-endian field writers for patching archives. */
void tz_put16(uint8_t *p, uint16_t v);
void tz_put32(uint8_t *p, uint32_t v);

#endif /* HQ_NPZ_TESTUTIL_H */
