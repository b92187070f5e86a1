/*
 * nn/medmnist.h — the MedMNIST v2 2D datasets: registry, loading a split as float32
 * NCHW tensors, finding the files on disk and downloading them.
 *
 * Registry: the twelve 2D datasets (pathmnist ... organsmnist) with their task, classes
 * and label names, channels, split sizes, license and the official md5 of each image size
 * (28, 64, 128, 224), as published in medmnist's info.py (v3.0.2; the 28x28 files are
 * byte-identical to MedMNIST v2). Files are <name>.npz (size 28) or <name>_<size>.npz,
 * downloaded from https://zenodo.org/records/10519652/files/<file>?download=1.
 *
 * Loading (what the training loop calls):
 *     hq_dataset *d;
 *     if ((st = hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, NULL, &d)) != HQ_OK)
 *         fprintf(stderr, "%s\n", hq_last_error());
 *     // d->images: float (d->n, d->c, d->h, d->w), values (x/255 - 0.5)/0.5 in [-1, 1]
 *     // d->labels: int32 (d->n, d->n_label_cols); d->n_classes outputs; d->task
 *     ... hq_metrics_evaluate(d->task, d->labels, softmax, d->n, d->n_classes, &m) ...
 *     hq_dataset_free(d);
 * RGB files are stored HWC (N, H, W, 3) and are transposed to CHW. Labels are (N, 1) for
 * single-label tasks and (N, 14) for ChestMNIST (multi-label); every label is checked
 * against the task's range, every split size against the registry.
 *
 * Where files are looked for, in order (the first that has the file wins):
 *   1. the explicit directory (opts->data_dir, `--data-dir`), if given;
 *   2. $HQCNN_DATA;
 *   3. the project's data/ folder: ./data, then <directory of the executable>/../data;
 *   4. the standard MedMNIST cache ~/.medmnist (what the Python package uses).
 * hq_medmnist_fetch downloads into the explicit directory, else $HQCNN_DATA, else
 * ~/.medmnist. The project ships data/breastmnist.npz (CC BY 4.0) so the demo runs
 * offline.
 */
#ifndef HQ_MEDMNIST_H
#define HQ_MEDMNIST_H

#include <stdint.h>

#include "core/core.h"
#include "nn/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== registry ======================================================================== */

typedef enum hq_split { HQ_SPLIT_TRAIN = 0, HQ_SPLIT_VAL, HQ_SPLIT_TEST, HQ_SPLIT_COUNT } hq_split;

/* "train", "val", "test"; "?" if invalid. */
const char *hq_split_str(hq_split s);
/* Parse "train" / "val" / "test" (also "validation"). HQ_ERR_INVALID_ARG otherwise. */
hq_status hq_split_from_str(const char *s, hq_split *out);

#define HQ_MEDMNIST_N_SIZES 4 /* image sizes 28, 64, 128, 224 */

/* One dataset of the registry (static data, never freed). */
typedef struct hq_medmnist_info {
    const char *name;                     /* flag and file stem, "breastmnist" */
    const char *title;                    /* "BreastMNIST" */
    hq_task task;                         /* evaluation task */
    int n_channels;                       /* 1 (gray) or 3 (RGB) */
    int n_classes;                        /* classes; labels for multi-label (chest: 14) */
    const char *const *label_names;       /* (n_classes) names, index = class / label */
    int64_t n_samples[HQ_SPLIT_COUNT];    /* images per split: train, val, test */
    const char *md5[HQ_MEDMNIST_N_SIZES]; /* official md5 of the npz for 28, 64, 128, 224 */
    const char *license;                  /* "CC BY 4.0" (DermaMNIST: "CC BY-NC 4.0") */
} hq_medmnist_info;

/* Number of registry entries (12) and entry i (NULL if out of range). */
int hq_medmnist_count(void);
const hq_medmnist_info *hq_medmnist_at(int i);

/*
 * Look a dataset up by name ("breastmnist", case-insensitive; "BreastMNIST" works).
 * [out] out  registry entry (static)
 * HQ_ERR_NOT_FOUND with the list of valid names if unknown; HQ_ERR_INVALID_ARG for NULL.
 */
hq_status hq_medmnist_find(const char *name, const hq_medmnist_info **out);

/* Index of an image size (28 → 0, 64 → 1, 128 → 2, 224 → 3), -1 if unsupported. */
int hq_medmnist_size_index(int size);

/* File name of a dataset at a size: "breastmnist.npz", "breastmnist_64.npz".
 * HQ_ERR_INVALID_ARG for an unsupported size or a too small buffer. */
hq_status hq_medmnist_filename(const hq_medmnist_info *info, int size, char *out, size_t cap);

/* Download URL: <base>/<file>?download=1, base = $HQCNN_MEDMNIST_URL if set, else
 * HQ_MEDMNIST_BASE_URL. HQ_ERR_INVALID_ARG for a bad size or a too small buffer. */
#define HQ_MEDMNIST_BASE_URL "https://zenodo.org/records/10519652/files"
hq_status hq_medmnist_url(const hq_medmnist_info *info, int size, char *out, size_t cap);

/* ==== locating files ================================================================== */

/*
 * Find the dataset's file along the lookup order above.
 * [in]  name      dataset name
 * [in]  size      image size (0 means 28)
 * [in]  data_dir  explicit directory searched first, or NULL
 * [out] path      the file found (cap bytes)
 * HQ_ERR_NOT_FOUND naming every place searched and the fetch command; HQ_ERR_NOT_FOUND
 * for an unknown name; HQ_ERR_INVALID_ARG for a bad size / buffer.
 */
hq_status hq_medmnist_locate(const char *name, int size, const char *data_dir, char *path,
                             size_t cap);

/* Default download directory: data_dir if non-NULL, else $HQCNN_DATA, else ~/.medmnist.
 * HQ_ERR_INVALID_ARG if the path does not fit or HOME is unset. */
hq_status hq_medmnist_default_dir(const char *data_dir, char *out, size_t cap);

/* ==== loading ========================================================================= */

/* Options for hq_medmnist_load; a NULL pointer means all defaults. */
typedef struct hq_medmnist_opts {
    const char *data_dir; /* explicit directory searched first, or NULL */
    const char *path;     /* load exactly this file (skips the lookup), or NULL */
    int size;             /* image size 28 (default when 0), 64, 128 or 224 */
} hq_medmnist_opts;

/* One split of a dataset in memory. Owned by the caller; free with hq_dataset_free. */
typedef struct hq_dataset {
    const hq_medmnist_info *info; /* registry entry (static) */
    hq_split split;               /* which split */
    hq_task task;                 /* = info->task */
    int64_t n;                    /* samples */
    int c, h, w;                  /* channels, height, width of an image */
    float *images;                /* (n, c, h, w), (x/255 - 0.5)/0.5, C order */
    int n_label_cols;             /* 1, or n_classes for multi-label */
    int32_t *labels;              /* (n, n_label_cols), class index or 0/1 per label */
    int n_classes;                /* = info->n_classes: width of the model's output */
    char path[4096];              /* the .npz file the split was read from */
} hq_dataset;

/*
 * Load one split of a dataset.
 * [in]  name   dataset name ("breastmnist")
 * [in]  split  HQ_SPLIT_TRAIN / VAL / TEST
 * [in]  opts   options or NULL
 * [out] out    new dataset, owned by the caller (hq_dataset_free); NULL on failure
 * Returns HQ_OK; HQ_ERR_NOT_FOUND (unknown dataset, file not found: the message says
 * where it looked and how to fetch); HQ_ERR_CORRUPT / HQ_ERR_PARSE (damaged file, wrong
 * shapes, labels out of range, split size different from the registry: the message says
 * to delete the file and fetch it again); HQ_ERR_UNSUPPORTED; HQ_ERR_IO; HQ_ERR_NOMEM;
 * HQ_ERR_INVALID_ARG.
 */
hq_status hq_medmnist_load(const char *name, hq_split split, const hq_medmnist_opts *opts,
                           hq_dataset **out);

/* Free a dataset; NULL is a no-op. */
void hq_dataset_free(hq_dataset *d);

/* Count of samples per class in a single-label dataset into counts (n_classes entries),
 * or positives per label for multi-label. HQ_ERR_INVALID_ARG for NULL. */
hq_status hq_dataset_class_counts(const hq_dataset *d, int64_t *counts);

/* ==== download ======================================================================== */

/* Options for hq_medmnist_fetch; a NULL pointer means all defaults. */
typedef struct hq_fetch_opts {
    const char *data_dir; /* destination directory (see hq_medmnist_default_dir), or NULL */
    int size;             /* image size (0 means 28) */
    const char *base_url; /* overrides $HQCNN_MEDMNIST_URL and the Zenodo record, or NULL */
    int max_attempts;     /* transfers tried, each resuming the last (0 means 4) */
    long retry_delay_ms;  /* first back-off between attempts, doubled each time (0: 1000) */
    long stall_timeout_s; /* abort a transfer with no data for this long (0 means 60) */
    bool force;           /* download even if a file with the right md5 is present */
    bool progress;        /* draw a progress bar on stderr */
} hq_fetch_opts;

/*
 * Download a dataset file over HTTPS (TLS verified) into <dir>/<file>.
 * The transfer writes <file>.part (locked against a concurrent fetch), resumes an
 * existing .part with an HTTP Range request (restarting if the server ignores it),
 * retries network failures and 5xx answers with back-off, checks the md5 against the
 * registry, and renames the .part over the final name only when it matches. On a network
 * failure the .part is kept (run again to resume); on an md5 mismatch it is deleted.
 * An existing file with the right md5 is kept as is (unless force).
 * [in]  name      dataset name
 * [in]  opts      options or NULL
 * [out] path      final file path (cap bytes); may be NULL
 * Returns HQ_OK; HQ_ERR_NETWORK (offline, connection cut, TLS failure: the message says
 * what happened and how much is kept), HQ_ERR_HTTP (a 4xx answer, or 5xx / 408 / 429 on
 * the last attempt; with status, URL and the start of the body), HQ_ERR_CORRUPT (md5 mismatch,
 * expected and actual given), HQ_ERR_BUSY (another fetch holds the .part), HQ_ERR_IO,
 * HQ_ERR_NOT_FOUND (unknown dataset), HQ_ERR_NOMEM, HQ_ERR_INVALID_ARG.
 */
hq_status hq_medmnist_fetch(const char *name, const hq_fetch_opts *opts, char *path, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_MEDMNIST_H */
