/*
 * nn/medmnist.c — MedMNIST registry, file lookup, split loading and download; see
 * nn/medmnist.h. The .npz/.npy parsing itself is nn/npy.c.
 *
 * Sections: registry (facts from medmnist's info.py v3.0.2), names and paths, lookup,
 * loading (uint8 HWC → float32 CHW), download (libcurl with resume, retry, md5).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/progress.h"
#include "core/sha256.h"
#include "nn/medmnist.h"
#include "nn/npy.h"

/* ==== registry ======================================================================== */

static const char *const labels_pathmnist[] = {"adipose",
                                               "background",
                                               "debris",
                                               "lymphocytes",
                                               "mucus",
                                               "smooth muscle",
                                               "normal colon mucosa",
                                               "cancer-associated stroma",
                                               "colorectal adenocarcinoma epithelium"};
static const char *const labels_chestmnist[] = {
    "atelectasis",  "cardiomegaly",  "effusion", "infiltration", "mass",     "nodule",  "pneumonia",
    "pneumothorax", "consolidation", "edema",    "emphysema",    "fibrosis", "pleural", "hernia"};
static const char *const labels_dermamnist[] = {"actinic keratoses and intraepithelial carcinoma",
                                                "basal cell carcinoma",
                                                "benign keratosis-like lesions",
                                                "dermatofibroma",
                                                "melanoma",
                                                "melanocytic nevi",
                                                "vascular lesions"};
static const char *const labels_octmnist[] = {"choroidal neovascularization",
                                              "diabetic macular edema", "drusen", "normal"};
static const char *const labels_pneumoniamnist[] = {"normal", "pneumonia"};
static const char *const labels_retinamnist[] = {"0", "1", "2", "3", "4"};
static const char *const labels_breastmnist[] = {"malignant", "normal, benign"};
static const char *const labels_bloodmnist[] = {
    "basophil",     "eosinophil",
    "erythroblast", "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
    "lymphocyte",   "monocyte",
    "neutrophil",   "platelet"};
static const char *const labels_tissuemnist[] = {"Collecting Duct, Connecting Tubule",
                                                 "Distal Convoluted Tubule",
                                                 "Glomerular endothelial cells",
                                                 "Interstitial endothelial cells",
                                                 "Leukocytes",
                                                 "Podocytes",
                                                 "Proximal Tubule Segments",
                                                 "Thick Ascending Limb"};
/* OrganAMNIST, OrganCMNIST and OrganSMNIST share the eleven organ labels. */
static const char *const labels_organ[] = {
    "bladder", "femur-left", "femur-right", "heart",    "kidney-left", "kidney-right",
    "liver",   "lung-left",  "lung-right",  "pancreas", "spleen"};

/* name, title, task, channels, classes, label names, {train, val, test},
 * md5 of the npz at sizes {28, 64, 128, 224}, license */
static const hq_medmnist_info registry[] = {
    {"pathmnist",
     "PathMNIST",
     HQ_TASK_MULTICLASS,
     3,
     9,
     labels_pathmnist,
     {89996, 10004, 7180},
     {"a8b06965200029087d5bd730944a56c1", "55aa9c1e0525abe5a6b9d8343a507616",
      "ac42d08fb904d92c244187169d1fd1d9", "2c51a510bcdc9cf8ddb2af93af1eadec"},
     "CC BY 4.0"},
    {"chestmnist",
     "ChestMNIST",
     HQ_TASK_MULTILABEL,
     1,
     14,
     labels_chestmnist,
     {78468, 11219, 22433},
     {"02c8a6516a18b556561a56cbdd36c4a8", "9de6cd0b934ebb5b7426cfba5efbae16",
      "db107e5590b27930b62dbaf558aebee3", "45bd33e6f06c3e8cdb481c74a89152aa"},
     "CC BY 4.0"},
    {"dermamnist",
     "DermaMNIST",
     HQ_TASK_MULTICLASS,
     3,
     7,
     labels_dermamnist,
     {7007, 1003, 2005},
     {"0744692d530f8e62ec473284d019b0c7", "b70a2f5635c6199aeaa28c31d7202e1f",
      "2defd784463fa5243564e855ed717de1", "8974907d8e169bef5f5b96bc506ae45d"},
     "CC BY-NC 4.0"},
    {"octmnist",
     "OCTMNIST",
     HQ_TASK_MULTICLASS,
     1,
     4,
     labels_octmnist,
     {97477, 10832, 1000},
     {"c68d92d5b585d8d81f7112f81e2d0842", "e229e9440236b774d9f0dfef9d07bdaf",
      "0a97e76651ace45c5d943ee3f65b63ae", "abc493b6d529d5de7569faaef2773ba3"},
     "CC BY 4.0"},
    {"pneumoniamnist",
     "PneumoniaMNIST",
     HQ_TASK_BINARY,
     1,
     2,
     labels_pneumoniamnist,
     {4708, 524, 624},
     {"28209eda62fecd6e6a2d98b1501bb15f", "8f4eceb4ccffa70c672198ea285246c6",
      "05b46931834c231683c68f40c47b2971", "d6a3c71de1b945ea11211b03746c1fe1"},
     "CC BY 4.0"},
    {"retinamnist",
     "RetinaMNIST",
     HQ_TASK_ORDINAL,
     3,
     5,
     labels_retinamnist,
     {1080, 120, 400},
     {"bd4c0672f1bba3e3a89f0e4e876791e4", "afda852cc34dcda56f86ad2b2457dbcc",
      "e48e916a24454daf90583d4e6efb1a18", "eae7e3b6f3fcbda4ae613ebdcbe35348"},
     "CC BY 4.0"},
    {"breastmnist",
     "BreastMNIST",
     HQ_TASK_BINARY,
     1,
     2,
     labels_breastmnist,
     {546, 78, 156},
     {"750601b1f35ba3300ea97c75c52ff8f6", "742edef2a1fd1524b2efff4bd7ba9364",
      "363e4b3f8d712e9b5de15470a2aaadf1", "b56378a6eefa9fed602bb16d192d4c8b"},
     "CC BY 4.0"},
    {"bloodmnist",
     "BloodMNIST",
     HQ_TASK_MULTICLASS,
     3,
     8,
     labels_bloodmnist,
     {11959, 1712, 3421},
     {"7053d0359d879ad8a5505303e11de1dc", "2b94928a2ae4916078ca51e05b6b800b",
      "adace1e0ed228fccda1f39692059dd4c", "b718ff6835fcbdb22ba9eacccd7b2601"},
     "CC BY 4.0"},
    {"tissuemnist",
     "TissueMNIST",
     HQ_TASK_MULTICLASS,
     1,
     8,
     labels_tissuemnist,
     {165466, 23640, 47280},
     {"ebe78ee8b05294063de985d821c1c34b", "123ece2eba09d0aa5d698fda57103344",
      "61b955355d7425a89687b06cca3ce0c2", "b077128c4a949f0a4eb01517f9037b9c"},
     "CC BY 4.0"},
    {"organamnist",
     "OrganAMNIST",
     HQ_TASK_MULTICLASS,
     1,
     11,
     labels_organ,
     {34561, 6491, 17778},
     {"68e3f8846a6bd62f0c9bf841c0d9eacc", "2dcccc29b88e6da5a01161ef20cda288",
      "eeae80d0a227a8d099027e1b3cfd3b60", "50747347e05c87dd3aaf92c49f9f3170"},
     "CC BY 4.0"},
    {"organcmnist",
     "OrganCMNIST",
     HQ_TASK_MULTICLASS,
     1,
     11,
     labels_organ,
     {12975, 2392, 8216},
     {"b9ceb9546e10131b32923c5bbeaea2b1", "3ce34a8724ea6f548e6db4744d03b6a9",
      "773c1f009daa3fe5d9a2a201b2a7ed94", "050f5e875dc056f6768abf94ec9995d1"},
     "CC BY 4.0"},
    {"organsmnist",
     "OrganSMNIST",
     HQ_TASK_MULTICLASS,
     1,
     11,
     labels_organ,
     {13932, 2452, 8827},
     {"9ab87b696fb54e2a387ebe992d6ed5f1", "53a6d115339d874c25e309a994ff46d3",
      "ded0c5fa01a95dc4978b956f613e9b8e", "b354719e553fbbb2513d5533f52a4cb1"},
     "CC BY 4.0"},
};

static const int sizes[HQ_MEDMNIST_N_SIZES] = {28, 64, 128, 224};

int hq_medmnist_count(void) { return (int)HQ_ARRAY_LEN(registry); }

const hq_medmnist_info *hq_medmnist_at(int i) {
    return i >= 0 && i < hq_medmnist_count() ? &registry[i] : NULL;
}

hq_status hq_medmnist_find(const char *name, const hq_medmnist_info **out) {
    if (out) *out = NULL;
    if (!name || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_medmnist_find: NULL %s",
                        name ? "out" : "name");
    for (int i = 0; i < hq_medmnist_count(); i++)
        if (!strcasecmp(name, registry[i].name)) {
            *out = &registry[i];
            return HQ_OK;
        }
    hq_sbuf b = HQ_SBUF_INIT;
    for (int i = 0; i < hq_medmnist_count(); i++)
        hq_sbuf_printf(&b, "%s%s", i ? ", " : "", registry[i].name);
    char nm[64];
    snprintf(nm, sizeof nm, "%s", name);
    for (char *p = nm; *p; p++)
        if (!isprint((unsigned char)*p)) *p = '?';
    hq_status st = hq_failf(NULL, HQ_ERR_NOT_FOUND, "unknown MedMNIST dataset '%s' (known: %s)", nm,
                            b.p ? b.p : "");
    hq_sbuf_free(&b);
    return st;
}

const char *hq_split_str(hq_split s) {
    static const char *const names[] = {"train", "val", "test"};
    _Static_assert(sizeof names / sizeof *names == HQ_SPLIT_COUNT, "one name per split");
    return (unsigned)s < HQ_SPLIT_COUNT ? names[s] : "?";
}

hq_status hq_split_from_str(const char *s, hq_split *out) {
    if (!s || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_split_from_str: NULL argument");
    for (int i = 0; i < HQ_SPLIT_COUNT; i++)
        if (!strcmp(s, hq_split_str((hq_split)i))) {
            *out = (hq_split)i;
            return HQ_OK;
        }
    if (!strcmp(s, "validation")) {
        *out = HQ_SPLIT_VAL;
        return HQ_OK;
    }
    return hq_failf(NULL, HQ_ERR_INVALID_ARG, "unknown split '%.40s' (valid: train, val, test)", s);
}

int hq_medmnist_size_index(int size) {
    for (int i = 0; i < HQ_MEDMNIST_N_SIZES; i++)
        if (sizes[i] == size) return i;
    return -1;
}

static hq_status check_size(const char *fn, int size) {
    if (hq_medmnist_size_index(size) < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: image size %d is not a MedMNIST size (28, 64, 128, 224)", fn, size);
    return HQ_OK;
}

hq_status hq_medmnist_filename(const hq_medmnist_info *info, int size, char *out, size_t cap) {
    if (!info || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", __func__);
    if (size == 0) size = 28;
    hq_status st = check_size(__func__, size);
    if (st != HQ_OK) return st;
    int n = size == 28 ? snprintf(out, cap, "%s.npz", info->name)
                       : snprintf(out, cap, "%s_%d.npz", info->name, size);
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: buffer of %zu bytes too small", __func__,
                        cap);
    return HQ_OK;
}

hq_status hq_medmnist_url(const hq_medmnist_info *info, int size, char *out, size_t cap) {
    char file[128];
    hq_status st = hq_medmnist_filename(info, size, file, sizeof file);
    if (st != HQ_OK) return st;
    const char *base = getenv("HQCNN_MEDMNIST_URL");
    if (!base || !*base) base = HQ_MEDMNIST_BASE_URL;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--;
    int n = snprintf(out, cap, "%.*s/%s?download=1", (int)bl, base, file);
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: buffer of %zu bytes too small", __func__,
                        cap);
    return HQ_OK;
}

/* ==== lookup ========================================================================== */

#define MAX_DIRS 6

typedef struct dir_list {
    char dir[MAX_DIRS][PATH_MAX]; /* candidate directories, in lookup order */
    const char *why[MAX_DIRS];    /* where each came from */
    int n;
} dir_list;

static void dirs_add(dir_list *L, const char *dir, const char *why) {
    if (!dir || !*dir || L->n >= MAX_DIRS || strlen(dir) >= PATH_MAX) return;
    char a[PATH_MAX], b[PATH_MAX];
    for (int i = 0; i < L->n; i++) { /* skip a directory already listed */
        if (!strcmp(L->dir[i], dir)) return;
        if (realpath(L->dir[i], a) && realpath(dir, b) && !strcmp(a, b)) return;
    }
    snprintf(L->dir[L->n], PATH_MAX, "%s", dir);
    L->why[L->n++] = why;
}

static void lookup_dirs(const char *data_dir, dir_list *L) {
    memset(L, 0, sizeof *L);
    dirs_add(L, data_dir, "--data-dir");
    dirs_add(L, getenv("HQCNN_DATA"), "$HQCNN_DATA");
    dirs_add(L, "data", "project data/");
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char d[PATH_MAX], up[PATH_MAX], root[PATH_MAX], dd[PATH_MAX];
        hq_path_dirname(d, sizeof d, exe);
        if ((size_t)snprintf(up, sizeof up, "%s/..", d) < sizeof up && realpath(up, root) &&
            (size_t)snprintf(dd, sizeof dd, "%s/data", root) < sizeof dd)
            dirs_add(L, dd, "project data/ beside the executable");
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        char c[PATH_MAX];
        if ((size_t)snprintf(c, sizeof c, "%s/.medmnist", home) < sizeof c)
            dirs_add(L, c, "MedMNIST cache");
    }
}

hq_status hq_medmnist_default_dir(const char *data_dir, char *out, size_t cap) {
    const char *env = getenv("HQCNN_DATA");
    const char *home = getenv("HOME");
    int n;
    if (data_dir && *data_dir)
        n = snprintf(out, cap, "%s", data_dir);
    else if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.medmnist", home);
    else
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "no download directory: pass --data-dir DIR or set $HQCNN_DATA ($HOME "
                        "is not set)");
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "download directory path too long");
    return HQ_OK;
}

hq_status hq_medmnist_locate(const char *name, int size, const char *data_dir, char *path,
                             size_t cap) {
    const hq_medmnist_info *info;
    hq_status st = hq_medmnist_find(name, &info);
    if (st != HQ_OK) return st;
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL path", __func__);
    char file[128];
    if ((st = hq_medmnist_filename(info, size, file, sizeof file)) != HQ_OK) return st;
    dir_list L;
    lookup_dirs(data_dir, &L);
    hq_sbuf looked = HQ_SBUF_INIT;
    for (int i = 0; i < L.n; i++) {
        char p[PATH_MAX];
        if (hq_path_join(p, sizeof p, L.dir[i], file) != HQ_OK) continue;
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            hq_sbuf_free(&looked);
            if (strlen(p) >= cap)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: path buffer too small", __func__);
            snprintf(path, cap, "%s", p);
            return HQ_OK;
        }
        hq_sbuf_printf(&looked, "%s%s (%s)", i ? ", " : "", L.dir[i], L.why[i]);
    }
    char sz[16] = "";
    if (size && size != 28) snprintf(sz, sizeof sz, " --size %d", size);
    st = hq_failf(NULL, HQ_ERR_NOT_FOUND,
                  "%s not found; looked in %s ---> HINT: run 'hqcnn data fetch %s%s' (downloads to "
                  "$HQCNN_DATA or ~/.medmnist), or pass --data-dir DIR",
                  file, looked.p ? looked.p : "(nowhere)", info->name, sz);
    hq_sbuf_free(&looked);
    return st;
}

/* ==== loading ========================================================================= */

void hq_dataset_free(hq_dataset *d) {
    if (!d) return;
    hq_free(d->images);
    hq_free(d->labels);
    hq_free(d);
}

/* Re-raise the last error with the advice to fetch the file again. */
static hq_status refetch_hint(hq_status st, const hq_medmnist_info *info, int size) {
    char msg[HQ_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", hq_last_error());
    char sz[16] = "";
    if (size != 28) snprintf(sz, sizeof sz, " --size %d", size);
    return hq_failf(NULL, st, "%s; delete it and run 'hqcnn data fetch %s%s'", msg, info->name, sz);
}

/* Failures that mean "this is not an intact official file": a fresh download fixes them. */
static bool damaged(hq_status st, bool opened) {
    return st == HQ_ERR_CORRUPT || st == HQ_ERR_PARSE || st == HQ_ERR_UNSUPPORTED ||
           (opened && st == HQ_ERR_NOT_FOUND);
}

hq_status hq_medmnist_load(const char *name, hq_split split, const hq_medmnist_opts *opts,
                           hq_dataset **out) {
    if (out) *out = NULL;
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL out", __func__);
    if ((unsigned)split >= HQ_SPLIT_COUNT)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: split %d out of range [0, %d)", __func__,
                        (int)split, HQ_SPLIT_COUNT);
    const hq_medmnist_info *info;
    hq_status st = hq_medmnist_find(name, &info);
    if (st != HQ_OK) return st;
    int size = opts && opts->size ? opts->size : 28;
    if ((st = check_size(__func__, size)) != HQ_OK) return st;
    char path[PATH_MAX];
    if (opts && opts->path) {
        if (strlen(opts->path) >= sizeof path)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: path too long", __func__);
        snprintf(path, sizeof path, "%s", opts->path);
    } else if ((st = hq_medmnist_locate(name, size, opts ? opts->data_dir : NULL, path,
                                        sizeof path)) != HQ_OK) {
        return st;
    }
    hq_npz *z = NULL;
    hq_npy_array img = {0}, lab = {0};
    hq_dataset *d = NULL;
    char mimg[32], mlab[32];
    snprintf(mimg, sizeof mimg, "%s_images", hq_split_str(split));
    snprintf(mlab, sizeof mlab, "%s_labels", hq_split_str(split));
    int64_t n = info->n_samples[split];
    char sh[128];
    bool opened = false;

    if ((st = hq_npz_open(path, &z)) != HQ_OK) goto fail;
    opened = true;
    if ((st = hq_npz_read(z, mimg, &img)) != HQ_OK) goto fail;
    if ((st = hq_npz_read_i32(z, mlab, &lab)) != HQ_OK) goto fail;

    /* images: (n, size, size) uint8, or (n, size, size, 3) for RGB */
    hq_npy_shape_str(&img, sh, sizeof sh);
    bool rgb = info->n_channels == 3;
    if (img.dtype != HQ_NPY_U8 || img.ndim != (rgb ? 4 : 3) || img.shape[1] != size ||
        img.shape[2] != size || (rgb && img.shape[3] != 3)) {
        st = hq_failf(NULL, HQ_ERR_CORRUPT,
                      "%s: member '%s.npy' is %s %s, expected uint8 (N, %d, %d%s) for %s", path,
                      mimg, hq_npy_dtype_str(img.dtype), sh, size, size, rgb ? ", 3" : "",
                      info->title);
        goto fail;
    }
    if (img.shape[0] != n) {
        st = hq_failf(NULL, HQ_ERR_CORRUPT,
                      "%s: %s has %lld images, but %s's %s split has %lld (a different or damaged "
                      "file)",
                      path, mimg, (long long)img.shape[0], info->title, hq_split_str(split),
                      (long long)n);
        goto fail;
    }
    /* labels: (n, 1) or (n,) single-label; (n, classes) multi-label */
    int cols = info->task == HQ_TASK_MULTILABEL ? info->n_classes : 1;
    hq_npy_shape_str(&lab, sh, sizeof sh);
    if (lab.shape[0] != n ||
        !((lab.ndim == 2 && lab.shape[1] == cols) || (lab.ndim == 1 && cols == 1))) {
        st = hq_failf(NULL, HQ_ERR_CORRUPT, "%s: member '%s.npy' has shape %s, expected (%lld, %d)",
                      path, mlab, sh, (long long)n, cols);
        goto fail;
    }
    const int32_t *lv = lab.data;
    int32_t hi = info->task == HQ_TASK_MULTILABEL ? 2 : info->n_classes;
    for (int64_t i = 0; i < n * cols; i++)
        if (lv[i] < 0 || lv[i] >= hi) {
            st = hq_failf(NULL, HQ_ERR_CORRUPT,
                          "%s: label of sample %lld in %s is %d, outside [0, %d) for %s", path,
                          (long long)(i / cols), mlab, lv[i], hi, info->title);
            goto fail;
        }

    d = hq_calloc(1, sizeof *d);
    if (!d) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
        goto fail;
    }
    d->info = info;
    d->split = split;
    d->task = info->task;
    d->n = n;
    d->c = info->n_channels;
    d->h = d->w = size;
    d->n_label_cols = cols;
    d->n_classes = info->n_classes;
    snprintf(d->path, sizeof d->path, "%s", path);
    size_t pix = (size_t)size * (size_t)size, nimg = (size_t)n * pix * (size_t)d->c;
    d->images = hq_malloc(nimg ? nimg * sizeof(float) : 1);
    if (!d->images) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: cannot allocate %zu bytes for %lld images", __func__,
                      nimg * sizeof(float), (long long)n);
        goto fail;
    }
    /* (x/255 - 0.5)/0.5 in float32, as torchvision ToTensor + Normalize(0.5, 0.5) */
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - 0.5f) / 0.5f;
    const uint8_t *src = img.data;
    if (d->c == 1) {
        for (size_t i = 0; i < nimg; i++) d->images[i] = lut[src[i]];
    } else {
        for (int64_t s = 0; s < n; s++) { /* HWC -> CHW */
            const uint8_t *in = src + (size_t)s * pix * 3;
            float *o = d->images + (size_t)s * pix * 3;
            for (size_t p = 0; p < pix; p++)
                for (int ch = 0; ch < 3; ch++)
                    o[(size_t)ch * pix + p] = lut[in[p * 3 + (size_t)ch]];
        }
    }
    d->labels = lab.data; /* int32 (n, cols): take ownership */
    lab.data = NULL;
    hq_npy_array_free(&img);
    hq_npz_free(z);
    *out = d;
    return HQ_OK;

fail:
    hq_dataset_free(d);
    hq_npy_array_free(&img);
    hq_npy_array_free(&lab);
    hq_npz_free(z);
    return damaged(st, opened) ? refetch_hint(st, info, size) : st;
}

hq_status hq_dataset_class_counts(const hq_dataset *d, int64_t *counts) {
    if (!d || !counts || !d->labels)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", __func__);
    memset(counts, 0, (size_t)d->n_classes * sizeof *counts);
    for (int64_t i = 0; i < d->n; i++) {
        const int32_t *l = d->labels + i * d->n_label_cols;
        if (d->n_label_cols == 1)
            counts[l[0]]++;
        else
            for (int k = 0; k < d->n_label_cols; k++) counts[k] += l[k];
    }
    return HQ_OK;
}

/* ==== download ======================================================================== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* State of one transfer into the .part file. */
typedef struct fetch_xfer {
    CURL *curl;
    int fd;              /* .part, opened O_APPEND */
    uint64_t offset;     /* bytes in .part when the transfer started */
    uint64_t written;    /* bytes appended by this transfer */
    bool body_started;   /* the first body byte of the final response was seen */
    long status;         /* HTTP status of the final response */
    int64_t range_start; /* start of Content-Range of a 206, -1 if none */
    bool bad_range;      /* a 206 did not start at our offset */
    int write_errno;     /* errno of a failed write to .part, 0 if none */
    char errbody[240];   /* start of an error response body (sanitized) */
    size_t errbody_len;
    hq_progress *prog; /* progress bar or NULL */
} fetch_xfer;

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
    fetch_xfer *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) x->range_start = -1; /* a new response */
    static const char cr[] = "content-range:";
    if (n > sizeof cr && !strncasecmp(buf, cr, sizeof cr - 1)) {
        const char *p = buf + sizeof cr - 1, *end = buf + n;
        while (p < end && *p == ' ') p++;
        if (end - p > 6 && !strncasecmp(p, "bytes ", 6)) {
            p += 6;
            int64_t v = 0;
            bool any = false;
            while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 10) {
                v = v * 10 + (*p++ - '0');
                any = true;
            }
            if (any) x->range_start = v;
        }
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
    fetch_xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->body_started) {
        x->body_started = true;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status == 200 && x->offset) {
            /* the server ignored the Range request: start the file over */
            if (ftruncate(x->fd, 0) != 0) {
                x->write_errno = errno;
                return 0;
            }
            x->offset = 0;
        } else if (x->status == 206 && x->range_start != (int64_t)x->offset) {
            x->bad_range = true;
            return 0;
        }
    }
    if (x->status != 200 && x->status != 206) { /* keep the start of an error page */
        for (size_t i = 0; i < n && x->errbody_len + 1 < sizeof x->errbody; i++) {
            unsigned char c = (unsigned char)data[i];
            x->errbody[x->errbody_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
        }
        x->errbody[x->errbody_len] = '\0';
        return n;
    }
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t w = write(x->fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            x->write_errno = errno;
            return 0;
        }
        p += w;
        left -= (size_t)w;
    }
    x->written += n;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    HQ_UNUSED(ultotal);
    HQ_UNUSED(ulnow);
    fetch_xfer *x = ud;
    if (x->prog && (x->status == 0 || x->status == 200 || x->status == 206)) {
        if (dltotal > 0) x->prog->total = (int64_t)x->offset + (int64_t)dltotal;
        double el = hq_time_now() - x->prog->t_start;
        char extra[64];
        snprintf(extra, sizeof extra, "%.1f MB %.2f MB/s",
                 (double)(x->offset + (uint64_t)dlnow) / 1e6,
                 el > 0 ? (double)x->written / 1e6 / el : 0.0);
        hq_progress_update(x->prog, (int64_t)x->offset + (int64_t)dlnow, extra);
    }
    return 0;
}

/* Outcome of one transfer. */
typedef enum xfer_result {
    XFER_DONE,     /* the whole file is in .part */
    XFER_RETRY,    /* failed in a way worth another attempt (resuming) */
    XFER_RESTART,  /* .part is unusable for resuming: truncate, then retry */
    XFER_FINAL,    /* failed for good (status in *st) */
    XFER_COMPLETE, /* 416: .part may already hold the whole file */
    XFER_GIVE_UP,  /* a network failure not worth retrying (message in err) */
} xfer_result;

/* Failures worth another attempt. A name that does not resolve usually means "offline":
 * reported at once rather than retried. */
static bool curl_retryable(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return true;
    default: return false;
    }
}

static const char *curl_explain(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "cannot resolve the host name — are you offline?";
    case CURLE_COULDNT_CONNECT:
        return "cannot connect to the server — are you offline or behind a firewall?";
    case CURLE_OPERATION_TIMEDOUT: return "the transfer stalled";
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: return "the connection was cut";
    case CURLE_PEER_FAILED_VERIFICATION:
        return "the server's TLS certificate did not verify (check the system clock and CA "
               "certificates; verification is never disabled)";
    default: return "transfer failed";
    }
}

static xfer_result fetch_once(const char *url, int fd, const hq_fetch_opts *o, hq_progress *prog,
                              hq_status *st, char *err, size_t errcap) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        *st = hq_failf(NULL, HQ_ERR_IO, "cannot stat the partial download: %s", strerror(errno));
        return XFER_FINAL;
    }
    fetch_xfer x;
    memset(&x, 0, sizeof x);
    x.fd = fd;
    x.offset = (uint64_t)sb.st_size;
    x.range_start = -1;
    x.prog = prog;
    x.curl = curl_easy_init();
    if (!x.curl) {
        *st = hq_failf(NULL, HQ_ERR_NOMEM, "curl_easy_init failed");
        return XFER_FINAL;
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    CURL *h = x.curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 8L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hqcnn-data/1.0 (libcurl)");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->stall_timeout_s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    char range[32];
    if (x.offset) { /* CURLOPT_RANGE (not RESUME_FROM) so that a 200 reply is accepted */
        snprintf(range, sizeof range, "%llu-", (unsigned long long)x.offset);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(h);
    if (!x.body_started) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x.status);
    curl_easy_cleanup(h);
    uint64_t have = x.offset + x.written;

    if (x.write_errno) {
        *st = hq_failf(NULL, HQ_ERR_IO, "cannot write the download: %s", strerror(x.write_errno));
        return XFER_FINAL;
    }
    *st = HQ_ERR_NETWORK;
    if (x.bad_range) {
        snprintf(err, errcap, "the server resumed at byte %lld instead of %llu",
                 (long long)x.range_start, (unsigned long long)x.offset);
        return XFER_RESTART;
    }
    if (x.status == 416) return XFER_COMPLETE;
    if (x.status >= 400) {
        bool retry = x.status >= 500 || x.status == 408 || x.status == 429;
        snprintf(err, errcap, "HTTP %ld from %s%s%s", x.status, url, x.errbody_len ? ": " : "",
                 x.errbody);
        if (retry) {
            *st = HQ_ERR_HTTP; /* the status reported if no attempt succeeds */
            return XFER_RETRY;
        }
        *st = hq_failf(NULL, HQ_ERR_HTTP, "%s%s", err,
                       x.status == 404 ? " — no such file at this address (check the dataset "
                                         "name, --size and $HQCNN_MEDMNIST_URL)"
                                       : "");
        return XFER_FINAL;
    }
    if (rc != CURLE_OK) {
        snprintf(err, errcap, "%s (%s%s%s) after %llu bytes", curl_explain(rc),
                 curl_easy_strerror(rc), ebuf[0] ? ": " : "", ebuf, (unsigned long long)have);
        *st = HQ_ERR_NETWORK; /* the caller words the message */
        if (curl_retryable(rc)) return XFER_RETRY;
        return XFER_GIVE_UP;
    }
    if (x.status != 200 && x.status != 206) {
        *st = hq_failf(NULL, HQ_ERR_HTTP, "unexpected HTTP status %ld from %s", x.status, url);
        return XFER_FINAL;
    }
    return XFER_DONE;
}

static hq_status md5_matches(const char *path, const char *want, bool *ok, char got[33]) {
    hq_status st = hq_md5_file_hex(path, got);
    if (st != HQ_OK) return st;
    *ok = !strcmp(got, want);
    return HQ_OK;
}

/* fsync the directory holding path so a rename survives a crash. */
static void sync_dir(const char *path) {
    char d[PATH_MAX];
    hq_path_dirname(d, sizeof d, path);
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* The final message of a failed download: what happened, what is kept, what to do. */
static hq_status network_failure(hq_status st, const char *url, const char *err, int attempts,
                                 int fd, const char *part, const hq_medmnist_info *info,
                                 const char *dir, const char *md5) {
    struct stat sb;
    long long have = fstat(fd, &sb) == 0 ? (long long)sb.st_size : 0;
    char kept[PATH_MAX + 256];
    if (have > 0)
        snprintf(kept, sizeof kept,
                 "%lld bytes are kept in '%s': run 'hqcnn data fetch %s' again to resume", have,
                 part, info->name);
    else
        snprintf(kept, sizeof kept,
                 "Check the network connection and run 'hqcnn data fetch %s' again", info->name);
    return hq_failf(NULL, st == HQ_ERR_HTTP ? HQ_ERR_HTTP : HQ_ERR_NETWORK,
                    "download of %s failed after %d attempt%s: %s. %s, or download the file "
                    "yourself into %s (md5 %s)",
                    url, attempts, attempts == 1 ? "" : "s", err, kept, dir, md5);
}

hq_status hq_medmnist_fetch(const char *name, const hq_fetch_opts *opts, char *path, size_t cap) {
    const hq_medmnist_info *info;
    hq_status st = hq_medmnist_find(name, &info);
    if (st != HQ_OK) return st;
    hq_fetch_opts o = {0};
    if (opts) o = *opts;
    if (o.size == 0) o.size = 28;
    if (o.max_attempts <= 0) o.max_attempts = 4;
    if (o.retry_delay_ms <= 0) o.retry_delay_ms = 1000;
    if (o.stall_timeout_s <= 0) o.stall_timeout_s = 60;
    if ((st = check_size(__func__, o.size)) != HQ_OK) return st;
    const char *md5 = info->md5[hq_medmnist_size_index(o.size)];

    char dir[PATH_MAX], file[128], final[PATH_MAX], part[PATH_MAX], url[2048];
    if ((st = hq_medmnist_default_dir(o.data_dir, dir, sizeof dir)) != HQ_OK) return st;
    if ((st = hq_medmnist_filename(info, o.size, file, sizeof file)) != HQ_OK) return st;
    if ((st = hq_path_join(final, sizeof final, dir, file)) != HQ_OK) return st;
    if ((size_t)snprintf(part, sizeof part, "%s.part", final) >= sizeof part)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: path too long", __func__);
    if (o.base_url) {
        size_t bl = strlen(o.base_url);
        while (bl && o.base_url[bl - 1] == '/') bl--;
        if ((size_t)snprintf(url, sizeof url, "%.*s/%s?download=1", (int)bl, o.base_url, file) >=
            sizeof url)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: base URL too long", __func__);
    } else if ((st = hq_medmnist_url(info, o.size, url, sizeof url)) != HQ_OK) {
        return st;
    }
    if (path && cap) {
        if (strlen(final) >= cap)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: path buffer too small", __func__);
        snprintf(path, cap, "%s", final);
    }

    char got[33];
    bool ok = false;
    if (!o.force && hq_file_exists(final)) {
        if ((st = md5_matches(final, md5, &ok, got)) != HQ_OK) return st;
        if (ok) {
            HQ_LOGI("%s is already present with the right md5", final);
            return HQ_OK;
        }
        HQ_LOGW("%s has md5 %s, expected %s: downloading it again", final, got, md5);
    }
    if ((st = hq_mkdir_p(dir, 0755)) != HQ_OK) return st;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return hq_failf(NULL, HQ_ERR_NETWORK, "curl_global_init failed: %s",
                        curl_easy_strerror(curl_init_rc));

    int fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return hq_failf(NULL, HQ_ERR_IO, "cannot open '%s': %s", part, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return hq_failf(NULL, e == EWOULDBLOCK ? HQ_ERR_BUSY : HQ_ERR_IO,
                        "%s is being downloaded by another process (lock on '%s'%s%s)", file, part,
                        e == EWOULDBLOCK ? "" : ": ", e == EWOULDBLOCK ? "" : strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0)
        HQ_LOGI("resuming %s from byte %lld", file, (long long)sb.st_size);

    hq_progress prog;
    if (o.progress) hq_progress_begin(&prog, stderr, file, 0);
    char err[4096] = "";
    bool complete = false;
    st = HQ_OK;
    for (int attempt = 1; attempt <= o.max_attempts && !complete; attempt++) {
        xfer_result r = fetch_once(url, fd, &o, o.progress ? &prog : NULL, &st, err, sizeof err);
        if (r == XFER_DONE) {
            complete = true;
        } else if (r == XFER_FINAL) {
            break;
        } else if (r == XFER_GIVE_UP) {
            st = network_failure(st, url, err, attempt, fd, part, info, dir, md5);
            break;
        } else if (r == XFER_COMPLETE) {
            /* 416: the .part already covers the whole file, or is longer than it */
            if ((st = md5_matches(part, md5, &ok, got)) != HQ_OK) break;
            if (ok) {
                complete = true;
                break;
            }
            snprintf(err, sizeof err, "the partial file does not match the server's file");
            r = XFER_RESTART;
        }
        if (complete) break;
        if (r == XFER_RESTART && ftruncate(fd, 0) != 0) {
            st = hq_failf(NULL, HQ_ERR_IO, "cannot truncate '%s': %s", part, strerror(errno));
            break;
        }
        if (attempt < o.max_attempts) {
            long delay = o.retry_delay_ms << HQ_MIN(attempt - 1, 6);
            HQ_LOGW("download of %s: %s; retrying in %.1f s (attempt %d of %d)", file, err,
                    (double)delay / 1000.0, attempt + 1, o.max_attempts);
            hq_sleep_ms(delay);
        } else {
            st = network_failure(st, url, err, attempt, fd, part, info, dir, md5);
        }
    }
    if (o.progress && (complete || prog.done > 0))
        hq_progress_end(&prog, complete ? "done" : "failed");
    if (complete && fsync(fd) != 0) {
        st = hq_failf(NULL, HQ_ERR_IO, "cannot flush '%s': %s", part, strerror(errno));
        complete = false;
    }
    if (!complete) {
        if (fstat(fd, &sb) == 0 && sb.st_size == 0) unlink(part); /* nothing worth keeping */
        close(fd);
        return st;
    }
    if ((st = md5_matches(part, md5, &ok, got)) != HQ_OK) {
        close(fd);
        return st;
    }
    if (!ok) {
        unlink(part);
        close(fd);
        return hq_failf(NULL, HQ_ERR_CORRUPT,
                        "downloaded %s has md5 %s, expected %s: the bytes received are not the "
                        "official file (the partial download was deleted; try again later, or "
                        "check $HQCNN_MEDMNIST_URL / proxies)",
                        file, got, md5);
    }
    if (rename(part, final) != 0) {
        int e = errno;
        close(fd);
        return hq_failf(NULL, HQ_ERR_IO, "cannot rename '%s' to '%s': %s", part, final,
                        strerror(e));
    }
    close(fd);
    sync_dir(final);
    return HQ_OK;
}
