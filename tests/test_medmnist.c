/*
 * tests/test_medmnist.c — nn/medmnist: the registry against the facts in
 * ../shared/data/README.md, loading the three shared datasets (split sizes, pixel sums,
 * first pixels, first labels, label counts, CHW order), the lookup order, load errors with
 * their advice, and hq_medmnist_fetch end to end against a small HTTP server on 127.0.0.1
 * (libmicrohttpd) that serves a file with Range support and can cut the connection, serve
 * wrong bytes, answer 404/503 or ignore Range. Also the `hqcnn data` command.
 */
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sha256.h"
#include "nn/medmnist.h"
#include "nn/npy.h"
#include "tests/hq_test.h"
#include "tests/npz_testutil.h"

/* ==== registry ======================================================================== */

HQ_TEST(medmnist_registry) {
    HQ_CHECK_EQ_INT(hq_medmnist_count(), 12);
    static const char *const names[12] = {
        "pathmnist",   "chestmnist", "dermamnist",  "octmnist",    "pneumoniamnist", "retinamnist",
        "breastmnist", "bloodmnist", "tissuemnist", "organamnist", "organcmnist",    "organsmnist"};
    for (int i = 0; i < 12; i++) {
        const hq_medmnist_info *m = hq_medmnist_at(i);
        HQ_REQUIRE(m != NULL);
        HQ_CHECK_STR(m->name, names[i]);
        HQ_CHECK(m->n_channels == 1 || m->n_channels == 3);
        HQ_CHECK(m->n_classes >= 2 && m->n_classes <= 14);
        for (int k = 0; k < m->n_classes; k++) HQ_CHECK(m->label_names[k] && *m->label_names[k]);
        for (int s = 0; s < 3; s++) HQ_CHECK(m->n_samples[s] > 0);
        for (int z = 0; z < HQ_MEDMNIST_N_SIZES; z++) {
            HQ_CHECK_EQ_INT(strlen(m->md5[z]), 32);
            HQ_CHECK(strspn(m->md5[z], "0123456789abcdef") == 32);
        }
        const hq_medmnist_info *f;
        HQ_CHECK_OK(hq_medmnist_find(names[i], &f));
        HQ_CHECK(f == m);
    }
    HQ_CHECK(hq_medmnist_at(12) == NULL && hq_medmnist_at(-1) == NULL);
    /* facts from ../shared/data/README.md (which match medmnist's info.py) */
    const hq_medmnist_info *b, *p, *r, *c, *d;
    HQ_REQUIRE_OK(hq_medmnist_find("BreastMNIST", &b));
    HQ_REQUIRE_OK(hq_medmnist_find("pneumoniamnist", &p));
    HQ_REQUIRE_OK(hq_medmnist_find("retinamnist", &r));
    HQ_REQUIRE_OK(hq_medmnist_find("chestmnist", &c));
    HQ_REQUIRE_OK(hq_medmnist_find("dermamnist", &d));
    HQ_CHECK_STR(b->md5[0], "750601b1f35ba3300ea97c75c52ff8f6");
    HQ_CHECK_STR(p->md5[0], "28209eda62fecd6e6a2d98b1501bb15f");
    HQ_CHECK_STR(r->md5[0], "bd4c0672f1bba3e3a89f0e4e876791e4");
    HQ_CHECK(b->n_samples[0] == 546 && b->n_samples[1] == 78 && b->n_samples[2] == 156);
    HQ_CHECK(p->n_samples[0] == 4708 && p->n_samples[1] == 524 && p->n_samples[2] == 624);
    HQ_CHECK(r->n_samples[0] == 1080 && r->n_samples[1] == 120 && r->n_samples[2] == 400);
    HQ_CHECK(b->task == HQ_TASK_BINARY && p->task == HQ_TASK_BINARY);
    HQ_CHECK(r->task == HQ_TASK_ORDINAL && r->n_classes == 5 && r->n_channels == 3);
    HQ_CHECK(c->task == HQ_TASK_MULTILABEL && c->n_classes == 14);
    HQ_CHECK_STR(b->label_names[0], "malignant");
    HQ_CHECK_STR(b->label_names[1], "normal, benign");
    HQ_CHECK_STR(d->license, "CC BY-NC 4.0");
    HQ_CHECK_STR(b->license, "CC BY 4.0");
    /* files and URLs */
    char buf[256];
    HQ_CHECK_OK(hq_medmnist_filename(b, 28, buf, sizeof buf));
    HQ_CHECK_STR(buf, "breastmnist.npz");
    HQ_CHECK_OK(hq_medmnist_filename(b, 0, buf, sizeof buf));
    HQ_CHECK_STR(buf, "breastmnist.npz");
    HQ_CHECK_OK(hq_medmnist_filename(b, 224, buf, sizeof buf));
    HQ_CHECK_STR(buf, "breastmnist_224.npz");
    HQ_CHECK_FAILS(hq_medmnist_filename(b, 32, buf, sizeof buf), HQ_ERR_INVALID_ARG,
                   "image size 32 is not a MedMNIST size (28, 64, 128, 224)");
    HQ_CHECK_FAILS(hq_medmnist_filename(b, 28, buf, 8), HQ_ERR_INVALID_ARG, "too small");
    unsetenv("HQCNN_MEDMNIST_URL");
    HQ_CHECK_OK(hq_medmnist_url(p, 64, buf, sizeof buf));
    HQ_CHECK_STR(buf, "https://zenodo.org/records/10519652/files/pneumoniamnist_64.npz?download=1");
    setenv("HQCNN_MEDMNIST_URL", "http://127.0.0.1:9/mirror/", 1);
    HQ_CHECK_OK(hq_medmnist_url(b, 28, buf, sizeof buf));
    HQ_CHECK_STR(buf, "http://127.0.0.1:9/mirror/breastmnist.npz?download=1");
    unsetenv("HQCNN_MEDMNIST_URL");
    HQ_CHECK_EQ_INT(hq_medmnist_size_index(128), 2);
    HQ_CHECK_EQ_INT(hq_medmnist_size_index(100), -1);
    const hq_medmnist_info *x;
    HQ_CHECK_FAILS(hq_medmnist_find("mnist", &x), HQ_ERR_NOT_FOUND,
                   "unknown MedMNIST dataset 'mnist' (known: pathmnist, chestmnist");
    HQ_CHECK(x == NULL);
    HQ_CHECK_FAILS(hq_medmnist_find(NULL, &x), HQ_ERR_INVALID_ARG, "NULL name");
    hq_split s;
    HQ_CHECK_OK(hq_split_from_str("validation", &s));
    HQ_CHECK_EQ_INT(s, HQ_SPLIT_VAL);
    HQ_CHECK_OK(hq_split_from_str("test", &s));
    HQ_CHECK_EQ_INT(s, HQ_SPLIT_TEST);
    HQ_CHECK_STR(hq_split_str(HQ_SPLIT_TRAIN), "train");
    HQ_CHECK_STR(hq_split_str((hq_split)5), "?");
    HQ_CHECK_FAILS(hq_split_from_str("dev", &s), HQ_ERR_INVALID_ARG, "unknown split 'dev'");
}

/* ==== loading ========================================================================= */

/* The uint8 value behind a normalized pixel. */
static int pix(float x) { return (int)lrintf((x * 0.5f + 0.5f) * 255.0f); }

HQ_TEST(medmnist_load_known_values) {
    static const struct {
        const char *name;
        int64_t sum[3];
        int64_t counts[5]; /* train label counts */
        int first[4];      /* first train pixels in file (HWC) order */
    } sets[] = {
        {"breastmnist", {35757482, 5282574, 10478773}, {147, 399}, {139, 139, 138, 139}},
        {"pneumoniamnist", {538305934, 59624090, 70355184}, {1214, 3494}, {92, 108, 117, 111}},
        {"retinamnist", {172486755, 18819325, 61494456}, {486, 128, 206, 194, 66}, {2, 0, 6, 4}},
    };
    hq_medmnist_opts o = {0};
    o.data_dir = hq_test_shared("data/medmnist");
    for (size_t k = 0; k < HQ_ARRAY_LEN(sets); k++) {
        for (int s = 0; s < 3; s++) {
            hq_dataset *d = NULL;
            HQ_REQUIRE_OK(hq_medmnist_load(sets[k].name, (hq_split)s, &o, &d));
            HQ_CHECK_EQ_INT(d->n, d->info->n_samples[s]);
            HQ_CHECK(d->h == 28 && d->w == 28 && d->n_label_cols == 1);
            HQ_CHECK_EQ_INT(d->c, d->info->n_channels);
            HQ_CHECK_EQ_INT(d->task, d->info->task);
            HQ_CHECK(strstr(d->path, sets[k].name) != NULL);
            int64_t sum = 0, total = d->n * d->c * 28 * 28;
            float lo = 1, hi = -1;
            for (int64_t i = 0; i < total; i++) {
                float v = d->images[i];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
                sum += pix(v);
                /* exactly torchvision's float32 (x/255 - 0.5)/0.5 */
                if (i < 1000) HQ_CHECK(v == ((float)pix(v) / 255.0f - 0.5f) / 0.5f);
            }
            HQ_CHECK_EQ_INT(sum, sets[k].sum[s]);
            HQ_CHECK(lo >= -1.0f && hi <= 1.0f);
            if (s == 0) {
                if (d->c == 1) {
                    for (int i = 0; i < 4; i++)
                        HQ_CHECK_EQ_INT(pix(d->images[i]), sets[k].first[i]);
                } else { /* HWC R,G,B of pixel 0, then R of pixel 1 → CHW planes */
                    HQ_CHECK_EQ_INT(pix(d->images[0]), sets[k].first[0]);
                    HQ_CHECK_EQ_INT(pix(d->images[784]), sets[k].first[1]);
                    HQ_CHECK_EQ_INT(pix(d->images[2 * 784]), sets[k].first[2]);
                    HQ_CHECK_EQ_INT(pix(d->images[1]), sets[k].first[3]);
                }
                int64_t counts[16];
                HQ_CHECK_OK(hq_dataset_class_counts(d, counts));
                for (int c = 0; c < d->n_classes; c++)
                    HQ_CHECK_EQ_INT(counts[c], sets[k].counts[c]);
            }
            if (k == 0 && s == 0) {
                static const int32_t first10[10] = {1, 1, 1, 1, 0, 1, 1, 1, 0, 1};
                for (int i = 0; i < 10; i++) HQ_CHECK_EQ_INT(d->labels[i], first10[i]);
            }
            hq_dataset_free(d);
        }
    }
    hq_dataset_free(NULL);
    HQ_CHECK_FAILS(hq_dataset_class_counts(NULL, NULL), HQ_ERR_INVALID_ARG, "NULL");
}

HQ_TEST(medmnist_shipped_copy_is_official) {
    /* the project's data/breastmnist.npz is the official file */
    char md5[33];
    HQ_REQUIRE_OK(hq_md5_file_hex("data/breastmnist.npz", md5));
    HQ_CHECK_STR(md5, "750601b1f35ba3300ea97c75c52ff8f6");
}

HQ_TEST(medmnist_lookup_order) {
    /* isolate from the machine: HOME and $HQCNN_DATA point into the test directory */
    char home[4096], env[4096], expl[4096], path[4096];
    snprintf(home, sizeof home, "%s", hq_test_tmpfile("home"));
    snprintf(env, sizeof env, "%s", hq_test_tmpfile("env"));
    snprintf(expl, sizeof expl, "%s", hq_test_tmpfile("explicit"));
    char cache[4200];
    snprintf(cache, sizeof cache, "%s/.medmnist", home);
    HQ_REQUIRE_OK(hq_mkdir_p(cache, 0755));
    HQ_REQUIRE_OK(hq_mkdir_p(env, 0755));
    HQ_REQUIRE_OK(hq_mkdir_p(expl, 0755));
    setenv("HOME", home, 1);
    unsetenv("HQCNN_DATA");
    char *npz;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(hq_test_shared("data/medmnist/pneumoniamnist.npz"), 0, &npz, &len));

    /* nowhere: the message names every place and the fetch command */
    HQ_CHECK_FAILS(hq_medmnist_locate("pneumoniamnist", 28, expl, path, sizeof path),
                   HQ_ERR_NOT_FOUND, "pneumoniamnist.npz not found; looked in");
    HQ_CHECK(strstr(hq_last_error(), expl) && strstr(hq_last_error(), "(--data-dir)"));
    HQ_CHECK(strstr(hq_last_error(), cache) && strstr(hq_last_error(), "(MedMNIST cache)"));
    HQ_CHECK(strstr(hq_last_error(), "run 'hqcnn data fetch pneumoniamnist'"));
    HQ_CHECK_FAILS(hq_medmnist_locate("pneumoniamnist", 64, NULL, path, sizeof path),
                   HQ_ERR_NOT_FOUND, "'hqcnn data fetch pneumoniamnist --size 64'");
    hq_dataset *d = NULL;
    HQ_CHECK_FAILS(hq_medmnist_load("pneumoniamnist", HQ_SPLIT_TEST, NULL, &d), HQ_ERR_NOT_FOUND,
                   "pneumoniamnist.npz not found");
    HQ_CHECK(d == NULL);

    /* the MedMNIST cache is the last resort */
    char f_cache[4300], f_env[4300], f_expl[4300];
    snprintf(f_cache, sizeof f_cache, "%s/pneumoniamnist.npz", cache);
    snprintf(f_env, sizeof f_env, "%s/pneumoniamnist.npz", env);
    snprintf(f_expl, sizeof f_expl, "%s/pneumoniamnist.npz", expl);
    HQ_REQUIRE_OK(hq_file_write_atomic(f_cache, npz, len));
    HQ_CHECK_OK(hq_medmnist_locate("pneumoniamnist", 28, expl, path, sizeof path));
    HQ_CHECK_STR(path, f_cache);
    /* $HQCNN_DATA before the cache */
    setenv("HQCNN_DATA", env, 1);
    HQ_REQUIRE_OK(hq_file_write_atomic(f_env, npz, len));
    HQ_CHECK_OK(hq_medmnist_locate("pneumoniamnist", 28, expl, path, sizeof path));
    HQ_CHECK_STR(path, f_env);
    /* the explicit directory first */
    HQ_REQUIRE_OK(hq_file_write_atomic(f_expl, npz, len));
    HQ_CHECK_OK(hq_medmnist_locate("pneumoniamnist", 28, expl, path, sizeof path));
    HQ_CHECK_STR(path, f_expl);
    hq_medmnist_opts o = {expl, NULL, 0};
    HQ_CHECK_OK(hq_medmnist_load("pneumoniamnist", HQ_SPLIT_VAL, &o, &d));
    if (d) HQ_CHECK_STR(d->path, f_expl);
    hq_dataset_free(d);
    /* the project's data/ folder (tests run from the repository root) before the cache */
    unsetenv("HQCNN_DATA");
    HQ_CHECK_OK(hq_medmnist_locate("breastmnist", 28, NULL, path, sizeof path));
    HQ_CHECK(strstr(path, "data/breastmnist.npz") != NULL);
    /* the default download directory */
    HQ_CHECK_OK(hq_medmnist_default_dir(NULL, path, sizeof path));
    HQ_CHECK_STR(path, cache);
    setenv("HQCNN_DATA", env, 1);
    HQ_CHECK_OK(hq_medmnist_default_dir(NULL, path, sizeof path));
    HQ_CHECK_STR(path, env);
    HQ_CHECK_OK(hq_medmnist_default_dir("/x/y", path, sizeof path));
    HQ_CHECK_STR(path, "/x/y");
    unsetenv("HQCNN_DATA");
    unsetenv("HOME");
    HQ_CHECK_FAILS(hq_medmnist_default_dir(NULL, path, sizeof path), HQ_ERR_INVALID_ARG,
                   "pass --data-dir DIR or set $HQCNN_DATA");
    hq_free(npz);
}

/* Write an .npz with the given members into the test directory; returns its path. */
static const char *write_npz(const char *file, const tz_member *m, int n) {
    tz_zip z;
    tz_build(&z, m, n);
    const char *p = hq_test_write_file(file, z.p, z.len);
    tz_free(&z);
    return p;
}

HQ_TEST(medmnist_load_errors) {
    hq_dataset *d = NULL;
    hq_medmnist_opts o = {0};
    o.data_dir = hq_test_shared("data/medmnist");
    HQ_CHECK_FAILS(hq_medmnist_load("nosuchmnist", HQ_SPLIT_TRAIN, &o, &d), HQ_ERR_NOT_FOUND,
                   "unknown MedMNIST dataset 'nosuchmnist'");
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", (hq_split)3, &o, &d), HQ_ERR_INVALID_ARG,
                   "split 3 out of range [0, 3)");
    o.size = 30;
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, &o, &d), HQ_ERR_INVALID_ARG,
                   "image size 30");
    o.size = 0;
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, &o, NULL), HQ_ERR_INVALID_ARG,
                   "NULL out");

    /* a damaged copy: the advice is to delete it and fetch again */
    char *buf;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(hq_test_shared("data/medmnist/breastmnist.npz"), 0, &buf, &len));
    buf[5000] ^= 0x20; /* inside train_images' compressed data */
    o.path = hq_test_write_file("breastmnist.npz", buf, len);
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, &o, &d), HQ_ERR_CORRUPT,
                   "breastmnist.npz: member 'train_images.npy'");
    HQ_CHECK(strstr(hq_last_error(), "; delete it and run 'hqcnn data fetch breastmnist'"));
    /* other splits of the same file are intact */
    HQ_CHECK_OK(hq_medmnist_load("breastmnist", HQ_SPLIT_TEST, &o, &d));
    hq_dataset_free(d);
    d = NULL;
    /* truncated (an interrupted download) */
    o.path = hq_test_write_file("breastmnist.npz", buf, len / 2);
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, &o, &d), HQ_ERR_PARSE,
                   "truncated");
    HQ_CHECK(strstr(hq_last_error(), "hqcnn data fetch breastmnist"));
    hq_free(buf);

    /* another dataset's file under this name: split sizes disagree with the registry */
    o.path = hq_test_shared("data/medmnist/pneumoniamnist.npz");
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_TRAIN, &o, &d), HQ_ERR_CORRUPT,
                   "train_images has 4708 images, but BreastMNIST's train split has 546");
    /* grayscale file where RGB is expected */
    HQ_CHECK_FAILS(hq_medmnist_load("retinamnist", HQ_SPLIT_TRAIN, &o, &d), HQ_ERR_CORRUPT,
                   "is |u1 (4708, 28, 28), expected uint8 (N, 28, 28, 3) for RetinaMNIST");

    /* crafted files: wrong dtype, labels out of range, wrong label shape, missing member */
    enum { N = 78 };
    static uint8_t img[N * 28 * 28], lab[N];
    static float imgf[N * 28 * 28];
    size_t li, ll, lf;
    uint8_t *npy_img = tz_npy("|u1", "False", "(78, 28, 28)", img, sizeof img, &li);
    uint8_t *npy_imgf = tz_npy("<f4", "False", "(78, 28, 28)", imgf, sizeof imgf, &lf);
    lab[3] = 2;
    uint8_t *npy_lab = tz_npy("|u1", "False", "(78, 1)", lab, sizeof lab, &ll);
    tz_member m[2] = {{"val_images.npy", npy_img, li, 8, false},
                      {"val_labels.npy", npy_lab, ll, 8, false}};
    o.path = write_npz("a.npz", m, 2);
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_VAL, &o, &d), HQ_ERR_CORRUPT,
                   "label of sample 3 in val_labels is 2, outside [0, 2) for BreastMNIST");
    lab[3] = 1;
    hq_free(npy_lab);
    npy_lab = tz_npy("|u1", "False", "(78, 1)", lab, sizeof lab, &ll);
    m[1].data = npy_lab;
    o.path = write_npz("b.npz", m, 2);
    HQ_CHECK_OK(hq_medmnist_load("breastmnist", HQ_SPLIT_VAL, &o, &d)); /* now valid */
    if (d) HQ_CHECK(d->labels[3] == 1 && d->images[0] == -1.0f);
    hq_dataset_free(d);
    d = NULL;
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_TEST, &o, &d), HQ_ERR_NOT_FOUND,
                   "no member 'test_images' (members: val_images.npy, val_labels.npy)");
    HQ_CHECK(strstr(hq_last_error(), "hqcnn data fetch breastmnist"));
    m[0].data = npy_imgf;
    m[0].len = lf;
    o.path = write_npz("c.npz", m, 2);
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_VAL, &o, &d), HQ_ERR_CORRUPT,
                   "is <f4 (78, 28, 28), expected uint8 (N, 28, 28)");
    m[0].data = npy_img;
    m[0].len = li;
    hq_free(npy_lab);
    npy_lab = tz_npy("|u1", "False", "(39, 2)", lab, sizeof lab, &ll);
    m[1].data = npy_lab;
    m[1].len = ll;
    o.path = write_npz("d.npz", m, 2);
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_VAL, &o, &d), HQ_ERR_CORRUPT,
                   "member 'val_labels.npy' has shape (39, 2), expected (78, 1)");
    o.path = hq_test_tmpfile("none.npz");
    HQ_CHECK_FAILS(hq_medmnist_load("breastmnist", HQ_SPLIT_VAL, &o, &d), HQ_ERR_NOT_FOUND,
                   "none.npz");
    HQ_CHECK(d == NULL);
    hq_free(npy_img);
    hq_free(npy_imgf);
    hq_free(npy_lab);
}

HQ_TEST(medmnist_load_multilabel) {
    /* a ChestMNIST-shaped file (val split: 11219 images, 14 labels each), built here */
    enum { N = 11219, L = 14 };
    uint8_t *img = hq_calloc(1, (size_t)N * 28 * 28);
    uint8_t *lab = hq_malloc((size_t)N * L);
    HQ_REQUIRE(img && lab);
    int64_t want[L] = {0};
    for (int i = 0; i < N; i++)
        for (int k = 0; k < L; k++) {
            lab[i * L + k] = (uint8_t)((i * 7 + k * 3) % 5 == 0);
            want[k] += lab[i * L + k];
        }
    img[28 * 28 * 5 + 3] = 255; /* image 5, pixel 3 */
    size_t li, ll;
    uint8_t *ni = tz_npy("|u1", "False", "(11219, 28, 28)", img, (size_t)N * 28 * 28, &li);
    uint8_t *nl = tz_npy("|u1", "False", "(11219, 14)", lab, (size_t)N * L, &ll);
    tz_member m[2] = {{"val_images.npy", ni, li, 8, false}, {"val_labels.npy", nl, ll, 8, false}};
    hq_medmnist_opts o = {0};
    o.path = write_npz("chestmnist.npz", m, 2);
    hq_dataset *d = NULL;
    HQ_REQUIRE_OK(hq_medmnist_load("chestmnist", HQ_SPLIT_VAL, &o, &d));
    HQ_CHECK(d->n == N && d->c == 1 && d->n_label_cols == L && d->n_classes == L);
    HQ_CHECK_EQ_INT(d->task, HQ_TASK_MULTILABEL);
    HQ_CHECK(d->images[5 * 784 + 3] == 1.0f && d->images[5 * 784 + 2] == -1.0f);
    bool same = true;
    for (int i = 0; i < N * L; i++) same = same && d->labels[i] == lab[i];
    HQ_CHECK(same);
    int64_t counts[L];
    HQ_CHECK_OK(hq_dataset_class_counts(d, counts));
    for (int k = 0; k < L; k++) HQ_CHECK_EQ_INT(counts[k], want[k]);
    hq_dataset_free(d);
    /* a label that is not 0/1 */
    lab[100 * L + 13] = 2;
    hq_free(nl);
    nl = tz_npy("|u1", "False", "(11219, 14)", lab, (size_t)N * L, &ll);
    m[1].data = nl;
    o.path = write_npz("chestmnist2.npz", m, 2);
    HQ_CHECK_FAILS(hq_medmnist_load("chestmnist", HQ_SPLIT_VAL, &o, &d), HQ_ERR_CORRUPT,
                   "label of sample 100 in val_labels is 2, outside [0, 2) for ChestMNIST");
    hq_free(ni);
    hq_free(nl);
    hq_free(img);
    hq_free(lab);
}

HQ_TEST(medmnist_load_alloc_failures) {
    hq_medmnist_opts o = {0};
    o.path = hq_test_shared("data/medmnist/breastmnist.npz");
    int nomem = 0;
    for (long k = 1; k < 100; k++) {
        hq_alloc_fail_after(k);
        hq_dataset *d = NULL;
        hq_status st = hq_medmnist_load("breastmnist", HQ_SPLIT_VAL, &o, &d);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        hq_dataset_free(d);
        if (!injected) {
            HQ_CHECK_OK(st);
            break;
        }
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s (%s)", k, hq_status_name(st),
                  hq_last_error());
        nomem++;
    }
    HQ_CHECK(nomem >= 5);
}

/* ==== download: a tiny HTTP server ==================================================== */

typedef struct test_srv {
    struct MHD_Daemon *d;
    int port;
    char path[64];       /* the one URL path served, e.g. "/breastmnist.npz" */
    const uint8_t *body; /* served bytes (borrowed) */
    size_t len;
    atomic_int requests;      /* requests seen */
    atomic_long last_range;   /* start of the last Range header, -1 if none */
    atomic_long cut_after;    /* cut a response after this many body bytes ... */
    atomic_int cuts_left;     /* ... for this many responses */
    atomic_int fail_left;     /* answer 503 to this many requests first */
    atomic_bool ignore_range; /* answer 200 with the whole body to Range requests */
} test_srv;

typedef struct srv_resp {
    test_srv *s;
    size_t start; /* first byte of body served */
    long cut;     /* relative cut position, -1 for none */
} srv_resp;

static ssize_t srv_read(void *cls, uint64_t pos, char *buf, size_t max) {
    srv_resp *r = cls;
    size_t left = r->s->len - r->start - (size_t)pos;
    if (r->cut >= 0 && pos >= (uint64_t)r->cut) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (r->cut >= 0 && (uint64_t)r->cut - pos < left) left = (size_t)((uint64_t)r->cut - pos);
    if (!left) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = left < max ? left : max;
    memcpy(buf, r->s->body + r->start + pos, n);
    return (ssize_t)n;
}

static void srv_free(void *cls) { free(cls); /* lint: allow-raw (libmicrohttpd callback) */ }

static enum MHD_Result srv_queue_text(struct MHD_Connection *c, unsigned code, const char *txt) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(txt), (void *)(uintptr_t)txt,
                                                                MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result srv_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_size, void **req_cls) {
    (void)method;
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)req_cls;
    test_srv *s = cls;
    atomic_fetch_add(&s->requests, 1);
    if (strcmp(url, s->path) != 0) return srv_queue_text(c, 404, "<html>Not Found</html>");
    if (atomic_load(&s->fail_left) > 0) {
        atomic_fetch_sub(&s->fail_left, 1);
        return srv_queue_text(c, 503, "busy, try later");
    }
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    size_t start = 0;
    atomic_store(&s->last_range, -1L);
    if (range && !strncmp(range, "bytes=", 6)) {
        start = (size_t)strtoull(range + 6, NULL, 10);
        atomic_store(&s->last_range, (long)start);
    }
    if (atomic_load(&s->ignore_range)) start = 0;
    if (start >= s->len && start > 0) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%zu", s->len);
        MHD_add_response_header(resp, "Content-Range", cr);
        enum MHD_Result ret = MHD_queue_response(c, 416, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    srv_resp *r = calloc(1, sizeof *r); /* lint: allow-raw (freed by libmicrohttpd) */
    if (!r) return MHD_NO;
    r->s = s;
    r->start = start;
    r->cut = -1;
    if (atomic_load(&s->cuts_left) > 0) {
        atomic_fetch_sub(&s->cuts_left, 1);
        r->cut = atomic_load(&s->cut_after);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(s->len - start, 16 * 1024, srv_read, r, srv_free);
    unsigned code = 200;
    if (start) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", start, s->len - 1, s->len);
        MHD_add_response_header(resp, "Content-Range", cr);
        code = 206;
    }
    enum MHD_Result ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool srv_start(test_srv *s, const char *path, const uint8_t *body, size_t len) {
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->body = body;
    s->len = len;
    atomic_store(&s->last_range, -1L);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, srv_handler, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_END);
    if (!s->d) return false;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return s->port > 0;
}

static void srv_stop(test_srv *s) {
    if (s->d) MHD_stop_daemon(s->d);
    s->d = NULL;
}

/* Fetch options pointing at the test server, quiet and fast. */
static hq_fetch_opts fetch_opts(const test_srv *s, const char *dir, char *url, size_t cap) {
    snprintf(url, cap, "http://127.0.0.1:%d/", s->port);
    hq_fetch_opts o = {0};
    o.data_dir = dir;
    o.base_url = url;
    o.max_attempts = 1;
    o.retry_delay_ms = 5;
    o.stall_timeout_s = 20;
    return o;
}

static long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

typedef struct fetch_fixture {
    char *body; /* breastmnist.npz bytes */
    size_t len;
    test_srv srv;
    char dir[4096], final[4200], part[4200], url[128];
} fetch_fixture;

static bool fixture_up(fetch_fixture *f) {
    memset(f, 0, sizeof *f);
    hq_log_set_level(HQ_LOG_ERROR);
    if (hq_file_read(hq_test_shared("data/medmnist/breastmnist.npz"), 0, &f->body, &f->len) !=
        HQ_OK)
        return false;
    snprintf(f->dir, sizeof f->dir, "%s", hq_test_tmpfile("dl"));
    snprintf(f->final, sizeof f->final, "%s/breastmnist.npz", f->dir);
    snprintf(f->part, sizeof f->part, "%s/breastmnist.npz.part", f->dir);
    return srv_start(&f->srv, "/breastmnist.npz", (const uint8_t *)f->body, f->len);
}

static void fixture_down(fetch_fixture *f) {
    srv_stop(&f->srv);
    hq_free(f->body);
}

static bool final_is_official(const fetch_fixture *f) {
    char md5[33];
    return hq_md5_file_hex(f->final, md5) == HQ_OK &&
           !strcmp(md5, "750601b1f35ba3300ea97c75c52ff8f6");
}

HQ_TEST(medmnist_fetch_full_and_present) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    char path[4096];
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, path, sizeof path));
    HQ_CHECK_STR(path, f.final);
    HQ_CHECK(final_is_official(&f));
    HQ_CHECK_EQ_INT(file_size(f.part), -1);
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 1);
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.last_range), -1);
    /* present with the right md5: nothing is downloaded */
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 1);
    /* force downloads again */
    o.force = true;
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 2);
    /* a damaged final file is replaced */
    o.force = false;
    f.body[100] ^= 1;
    HQ_REQUIRE_OK(hq_file_write_atomic(f.final, f.body, f.len));
    f.body[100] ^= 1;
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 3);
    HQ_CHECK(final_is_official(&f));
    /* and the file loads */
    hq_medmnist_opts lo = {f.dir, NULL, 0};
    hq_dataset *d = NULL;
    HQ_CHECK_OK(hq_medmnist_load("breastmnist", HQ_SPLIT_TEST, &lo, &d));
    hq_dataset_free(d);
    /* $HQCNN_MEDMNIST_URL is used when no base URL is given */
    char env[128];
    snprintf(env, sizeof env, "http://127.0.0.1:%d", f.srv.port);
    setenv("HQCNN_MEDMNIST_URL", env, 1);
    o.base_url = NULL;
    o.force = true;
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 4);
    unsetenv("HQCNN_MEDMNIST_URL");
    fixture_down(&f);
}

HQ_TEST(medmnist_fetch_resume_after_cut) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    atomic_store(&f.srv.cut_after, 200000L);
    atomic_store(&f.srv.cuts_left, 1);
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_NETWORK,
                   "the connection was cut");
    HQ_CHECK(strstr(hq_last_error(), "are kept in") && strstr(hq_last_error(), ".part"));
    HQ_CHECK(strstr(hq_last_error(), "run 'hqcnn data fetch breastmnist' again to resume"));
    long kept = file_size(f.part);
    HQ_CHECKF(kept > 0 && kept <= 200000, "kept %ld bytes", kept);
    HQ_CHECK_EQ_INT(file_size(f.final), -1);
    /* the next fetch asks for the rest only */
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.last_range), kept);
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 2);
    HQ_CHECK(final_is_official(&f));
    HQ_CHECK_EQ_INT(file_size(f.part), -1);
    fixture_down(&f);
}

HQ_TEST(medmnist_fetch_retries_within_one_call) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    o.max_attempts = 5;
    atomic_store(&f.srv.cut_after, 100000L);
    atomic_store(&f.srv.cuts_left, 2); /* two cut transfers, each resumed */
    atomic_store(&f.srv.fail_left, 1); /* and one 503 first */
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 4);
    HQ_CHECK(atomic_load(&f.srv.last_range) > 100000);
    HQ_CHECK(final_is_official(&f));
    /* out of attempts: the message says how many and what is kept */
    o.force = true;
    o.max_attempts = 2;
    atomic_store(&f.srv.cuts_left, 2);
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_NETWORK,
                   "failed after 2 attempts");
    HQ_CHECK(file_size(f.part) > 100000);
    fixture_down(&f);
}

HQ_TEST(medmnist_fetch_md5_mismatch) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    f.body[f.len / 2] ^= 0xff; /* the server sends wrong bytes */
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_CORRUPT,
                   "downloaded breastmnist.npz has md5 ");
    HQ_CHECK(strstr(hq_last_error(), "expected 750601b1f35ba3300ea97c75c52ff8f6"));
    HQ_CHECK(strstr(hq_last_error(), "the partial download was deleted"));
    HQ_CHECK_EQ_INT(file_size(f.part), -1);
    HQ_CHECK_EQ_INT(file_size(f.final), -1);
    fixture_down(&f);
}

HQ_TEST(medmnist_fetch_http_errors) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    o.max_attempts = 3;
    /* the server has no pneumoniamnist.npz: 404 is final, nothing is left behind */
    HQ_CHECK_FAILS(hq_medmnist_fetch("pneumoniamnist", &o, NULL, 0), HQ_ERR_HTTP,
                   "HTTP 404 from http://127.0.0.1:");
    HQ_CHECK(strstr(hq_last_error(), "pneumoniamnist.npz?download=1"));
    HQ_CHECK(strstr(hq_last_error(), "no such file at this address"));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 1);
    char p[4300];
    snprintf(p, sizeof p, "%s/pneumoniamnist.npz.part", f.dir);
    HQ_CHECK_EQ_INT(file_size(p), -1);
    /* 503 every time: retried, then reported */
    atomic_store(&f.srv.fail_left, 10);
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_HTTP, "HTTP 503 from");
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.requests), 4);
    HQ_CHECK(strstr(hq_last_error(), "busy, try later"));
    fixture_down(&f);
}

HQ_TEST(medmnist_fetch_odd_servers_and_parts) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    HQ_REQUIRE_OK(hq_mkdir_p(f.dir, 0755));
    /* a server that ignores Range: the stale .part (here garbage) is started over */
    HQ_REQUIRE_OK(hq_file_write_atomic(f.part, "garbage garbage garbage", 23));
    atomic_store(&f.srv.ignore_range, true);
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK_EQ_INT(atomic_load(&f.srv.last_range), 23);
    HQ_CHECK(final_is_official(&f));
    atomic_store(&f.srv.ignore_range, false);
    /* a .part that is already complete: 416, md5 checked, renamed */
    unlink(f.final);
    HQ_REQUIRE_OK(hq_file_write_atomic(f.part, f.body, f.len));
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK(final_is_official(&f));
    HQ_CHECK_EQ_INT(file_size(f.part), -1);
    /* a .part longer than the file and wrong: 416, restarted from zero */
    unlink(f.final);
    char *junk = hq_calloc(1, f.len + 10);
    HQ_REQUIRE_OK(hq_file_write_atomic(f.part, junk, f.len + 10));
    hq_free(junk);
    o.max_attempts = 2;
    HQ_CHECK_OK(hq_medmnist_fetch("breastmnist", &o, NULL, 0));
    HQ_CHECK(final_is_official(&f));
    /* another process is downloading the same file */
    o.force = true;
    int fd = open(f.part, O_WRONLY | O_CREAT, 0644);
    HQ_REQUIRE(fd >= 0);
    HQ_REQUIRE(flock(fd, LOCK_EX) == 0);
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_BUSY,
                   "being downloaded by another process");
    close(fd);
    fixture_down(&f);
}

HQ_TEST(medmnist_fetch_offline_and_bad_args) {
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    hq_fetch_opts o = fetch_opts(&f.srv, f.dir, f.url, sizeof f.url);
    srv_stop(&f.srv); /* nothing listens on the port any more */
    o.max_attempts = 2;
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_NETWORK,
                   "cannot connect to the server");
    HQ_CHECK(strstr(hq_last_error(), "after 2 attempts"));
    HQ_CHECK(strstr(hq_last_error(), "(md5 750601b1f35ba3300ea97c75c52ff8f6)"));
    HQ_CHECK_EQ_INT(file_size(f.part), -1); /* an empty .part is not kept */
    /* a host name that does not resolve */
    o.base_url = "http://nonexistent.invalid";
    o.max_attempts = 1;
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_NETWORK,
                   "cannot resolve the host name");
    HQ_CHECK_FAILS(hq_medmnist_fetch("nomnist", &o, NULL, 0), HQ_ERR_NOT_FOUND, "unknown MedMNIST");
    o.size = 100;
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, NULL, 0), HQ_ERR_INVALID_ARG,
                   "image size 100");
    o.size = 28;
    char small[8];
    HQ_CHECK_FAILS(hq_medmnist_fetch("breastmnist", &o, small, sizeof small), HQ_ERR_INVALID_ARG,
                   "path buffer too small");
    fixture_down(&f);
}

/* ==== the command ===================================================================== */

/* Run "$HQCNN_BIN args" with the shell, output (stdout + stderr) into out; exit status. */
static int run_cli(const char *args, char *out, size_t cap) {
    const char *bin = getenv("HQCNN_BIN");
    char cmd[8192];
    if ((size_t)snprintf(cmd, sizeof cmd, "%.4000s %.4000s 2>&1", bin, args) >= sizeof cmd)
        return -1;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

HQ_TEST(medmnist_cli) {
    if (!getenv("HQCNN_BIN")) {
        fprintf(stderr, "    (HQCNN_BIN not set: run through make test)\n");
        return;
    }
    fetch_fixture f;
    HQ_REQUIRE(fixture_up(&f));
    static char out[65536];
    char args[8192];
    setenv("HOME", hq_test_tmpfile("home"), 1);
    unsetenv("HQCNN_DATA");
    setenv("HQCNN_PROGRESS", "plain", 1);
    HQ_CHECK_EQ_INT(run_cli("data list", out, sizeof out), 0);
    HQ_CHECK(strstr(out, "organsmnist") && strstr(out, "multi-label, binary-class"));
    HQ_CHECK(strstr(out, "data/breastmnist.npz")); /* the shipped copy is found */
    HQ_CHECK_EQ_INT(run_cli("data info retinamnist", out, sizeof out), 0);
    HQ_CHECK(strstr(out, "ordinal-regression") && strstr(out, "bd4c0672f1bba3e3a89f0e4e876791e4"));
    HQ_CHECK(strstr(out, "not present"));
    HQ_CHECK_EQ_INT(run_cli("data info breastmnist", out, sizeof out), 0);
    HQ_CHECK(strstr(out, "(md5 ok)"));
    snprintf(args, sizeof args, "data fetch breastmnist --data-dir %s", f.dir);
    snprintf(f.url, sizeof f.url, "http://127.0.0.1:%d", f.srv.port);
    setenv("HQCNN_MEDMNIST_URL", f.url, 1);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    HQ_CHECK(strstr(out, f.final) != NULL);
    HQ_CHECK(final_is_official(&f));
    HQ_CHECK_EQ_INT(run_cli("data fetch nosuchmnist", out, sizeof out), 1);
    HQ_CHECK(strstr(out, "hqcnn: error: unknown MedMNIST dataset 'nosuchmnist'"));
    HQ_CHECK_EQ_INT(run_cli("data fetch breastmnist --size 30", out, sizeof out), 2);
    HQ_CHECK(strstr(out, "--size must be 28, 64, 128 or 224"));
    HQ_CHECK_EQ_INT(run_cli("data", out, sizeof out), 2);
    HQ_CHECK_EQ_INT(run_cli("data frobnicate", out, sizeof out), 2);
    HQ_CHECK(strstr(out, "unknown subcommand 'data frobnicate'"));
    HQ_CHECK_EQ_INT(run_cli("data --help", out, sizeof out), 0);
    HQ_CHECK(strstr(out, "hqcnn data fetch NAME"));
    /* a damaged local file is reported by info */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/breastmnist.npz", f.dir);
    f.body[10] ^= 1;
    HQ_REQUIRE_OK(hq_file_write_atomic(bad, f.body, f.len));
    snprintf(args, sizeof args, "data info breastmnist --data-dir %s", f.dir);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    HQ_CHECK(strstr(out, "MISMATCH") &&
             strstr(out, "delete it and run 'hqcnn data fetch breastmnist'"));
    unsetenv("HQCNN_MEDMNIST_URL");
    fixture_down(&f);
}
