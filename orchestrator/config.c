/*
 * orchestrator/config.c — parse, validate and serialise training configs (config.h).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "nn/augment.h"
#include "orchestrator/config.h"

void hq_train_config_init(hq_train_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "run");
    c->epochs = 30;
    c->batch_size = 64;
    c->seed = 0;
    c->threads = 2;
    c->select = HQ_SELECT_VAL_AUC;
    c->checkpoint_every = 50;
    c->keep_checkpoints = 3;
    snprintf(c->backend, sizeof c->backend, "sv");
    c->shots = 1000;
    c->gradient = HQ_QGRAD_PARAMSHIFT;
    c->spsa_c = 0.1;
    c->poll_initial_s = 0.5;
    c->poll_max_s = 30;
}

void hq_train_config_free(hq_train_config *c) {
    if (!c) return;
    HQ_FREE(c->model_json);
    HQ_FREE(c->optim_json);
    HQ_FREE(c->backend_options);
    HQ_FREE(c->augment_json);
}

bool hq_train_config_exact(const hq_train_config *c) { return !strcmp(c->backend, "sv"); }

/* ==== helpers ========================================================================= */

typedef struct ctx {
    const char *base_dir; /* for relative model paths */
    hq_train_config *c;
} ctx;

static hq_status bad(const char *path, const char *fmt, const char *detail) {
    return hq_failf(NULL, HQ_ERR_INVALID_ARG, "config: %s: %s%s", path, fmt, detail ? detail : "");
}

static hq_status check_keys(const cJSON *o, const char *path, const char *const *keys) {
    if (!cJSON_IsObject(o)) return bad(path, "must be an object", NULL);
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *k = keys; *k; k++) ok |= !strcmp(*k, it->string);
        if (!ok) {
            char known[512] = "";
            size_t n = 0;
            for (const char *const *k = keys; *k && n < sizeof known; k++)
                n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", k == keys ? "" : ", ",
                                      *k);
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "config: %s: unknown key '%s' (known: %s)",
                            path, it->string, known);
        }
    }
    return HQ_OK;
}

static hq_status get_num(const cJSON *o, const char *key, const char *path, double lo, double hi,
                         bool integer, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return HQ_OK; /* keep default */
    char p[160];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!cJSON_IsNumber(v)) return bad(p, "must be a number", NULL);
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi || (integer && d != floor(d)))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "config: %s: %g is outside [%g, %g]%s", p, d, lo,
                        hi, integer ? " or not an integer" : "");
    *out = d;
    return HQ_OK;
}

static hq_status get_int(const cJSON *o, const char *key, const char *path, double lo, double hi,
                         int *out) {
    double d = *out;
    hq_status st = get_num(o, key, path, lo, hi, true, &d);
    if (st == HQ_OK) *out = (int)d;
    return st;
}

static hq_status get_i64(const cJSON *o, const char *key, const char *path, double lo, double hi,
                         int64_t *out) {
    double d = (double)*out;
    hq_status st = get_num(o, key, path, lo, hi, true, &d);
    if (st == HQ_OK) *out = (int64_t)d;
    return st;
}

static hq_status get_str(const cJSON *o, const char *key, const char *path, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return HQ_OK;
    char p[160];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!cJSON_IsString(v)) return bad(p, "must be a string", NULL);
    if (strlen(v->valuestring) >= cap) return bad(p, "is too long", NULL);
    snprintf(out, cap, "%s", v->valuestring);
    return HQ_OK;
}

static hq_status dup_json(const cJSON *v, char **out) {
    char *s = cJSON_PrintUnformatted(v);
    if (!s) return hq_failf(NULL, HQ_ERR_NOMEM, "config: out of memory");
    HQ_FREE(*out);
    *out = hq_strdup(s);
    cJSON_free(s);
    return *out ? HQ_OK : hq_failf(NULL, HQ_ERR_NOMEM, "config: out of memory");
}

/* ==== sections ======================================================================== */

static hq_status parse_model(ctx *x, const cJSON *v) {
    if (!v)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "config: 'model' is missing (a model config path or object)");
    if (cJSON_IsObject(v)) return dup_json(v, &x->c->model_json);
    if (!cJSON_IsString(v)) return bad("model", "must be a file name or an object", NULL);
    char path[2048];
    hq_status st = hq_path_join(path, sizeof path, x->base_dir ? x->base_dir : ".", v->valuestring);
    if (st) return st;
    char *text = NULL;
    size_t len;
    st = hq_file_read(path, 4 << 20, &text, &len);
    if (st) return hq_fail_prefix(NULL, st, "config: model");
    cJSON *m = cJSON_Parse(text);
    hq_free(text);
    if (!m) return hq_failf(NULL, HQ_ERR_PARSE, "config: model file '%s' is not valid JSON", path);
    st = dup_json(m, &x->c->model_json);
    cJSON_Delete(m);
    return st;
}

static hq_status parse_train(ctx *x, const cJSON *t) {
    hq_train_config *c = x->c;
    if (!t) return HQ_OK;
    static const char *const keys[] = {
        "epochs",           "batch_size", "seed",   "threads",          "optimizer",
        "class_weights",    "augment",    "select", "checkpoint_every", "keep_checkpoints",
        "subset",           "ema",        "tta",    "label_smoothing",  "mixup",
        "prior_correction", NULL};
    hq_status st = check_keys(t, "train", keys);
    if (st == HQ_OK) st = get_int(t, "epochs", "train", 1, 100000, &c->epochs);
    if (st == HQ_OK) st = get_int(t, "batch_size", "train", 1, 4096, &c->batch_size);
    double seed = (double)c->seed;
    if (st == HQ_OK) st = get_num(t, "seed", "train", 0, 9007199254740991.0, true, &seed);
    c->seed = (uint64_t)seed;
    if (st == HQ_OK) st = get_int(t, "threads", "train", 0, 256, &c->threads);
    if (st == HQ_OK) st = get_int(t, "checkpoint_every", "train", 1, 1e9, &c->checkpoint_every);
    if (st == HQ_OK) st = get_int(t, "keep_checkpoints", "train", 1, 1e6, &c->keep_checkpoints);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(t, "optimizer");
    if (st == HQ_OK && o) {
        if (!cJSON_IsObject(o))
            st = bad("train.optimizer", "must be an object", NULL);
        else
            st = dup_json(o, &c->optim_json);
    }
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(t, "class_weights");
    if (st == HQ_OK && cw && !cJSON_IsNull(cw)) {
        if (cJSON_IsString(cw) && !strcmp(cw->valuestring, "none"))
            c->cw_mode = HQ_CW_NONE;
        else if (cJSON_IsString(cw) && !strcmp(cw->valuestring, "balanced"))
            c->cw_mode = HQ_CW_BALANCED;
        else if (cJSON_IsArray(cw)) {
            c->cw_mode = HQ_CW_LIST;
            c->n_cw = 0;
            for (const cJSON *w = cw->child; w && st == HQ_OK; w = w->next) {
                if (c->n_cw >= HQ_CONFIG_MAX_CLASSES || !cJSON_IsNumber(w) ||
                    !(w->valuedouble > 0) || !isfinite(w->valuedouble))
                    st = bad("train.class_weights", "must hold positive numbers (one per class)",
                             NULL);
                else
                    c->cw[c->n_cw++] = (float)w->valuedouble;
            }
        } else {
            st = bad("train.class_weights", "must be \"none\", \"balanced\" or a list of numbers",
                     NULL);
        }
    }
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(t, "subset");
    if (st == HQ_OK && sub && !cJSON_IsNull(sub)) {
        static const char *const skeys[] = {"train", "val", "test", NULL};
        st = check_keys(sub, "train.subset", skeys);
        for (int k = 0; st == HQ_OK && k < 3; k++)
            st = get_i64(sub, skeys[k], "train.subset", 0, 1e9, &c->subset[k]);
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "augment");
    if (st == HQ_OK && a && !cJSON_IsNull(a)) {
        st = dup_json(a, &c->augment_json);
        hq_augment aug;
        if (st == HQ_OK && (st = hq_augment_parse(c->augment_json, &aug)) != HQ_OK)
            st = hq_fail_prefix(NULL, st, "config: train.augment");
    }
    if (st == HQ_OK) st = get_num(t, "ema", "train", 0, 0.999999, false, &c->ema);
    if (st == HQ_OK) st = get_num(t, "label_smoothing", "train", 0, 1, false, &c->label_smoothing);
    if (st == HQ_OK && c->label_smoothing >= 1)
        st = bad("train.label_smoothing",
                 "1 is out of range: must be in [0, 1) (0 = off; 0.1 is usual)", NULL);
    if (st == HQ_OK) st = get_num(t, "mixup", "train", 0, 100, false, &c->mixup);
    char tta[16] = "";
    if (st == HQ_OK) st = get_str(t, "tta", "train", tta, sizeof tta);
    if (st == HQ_OK && tta[0]) {
        if (!strcmp(tta, "none"))
            c->tta_hflip = false;
        else if (!strcmp(tta, "hflip"))
            c->tta_hflip = true;
        else
            st = bad("train.tta", "must be \"none\" or \"hflip\"", NULL);
    }
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(t, "prior_correction");
    if (st == HQ_OK && pc && !cJSON_IsNull(pc)) {
        if (!cJSON_IsBool(pc))
            st = bad("train.prior_correction", "must be true or false", NULL);
        else
            c->prior_correction = cJSON_IsTrue(pc);
    }
    char sel[32] = "";
    if (st == HQ_OK) st = get_str(t, "select", "train", sel, sizeof sel);
    if (st == HQ_OK && sel[0]) {
        if (!strcmp(sel, "val_auc"))
            c->select = HQ_SELECT_VAL_AUC;
        else if (!strcmp(sel, "val_acc"))
            c->select = HQ_SELECT_VAL_ACC;
        else if (!strcmp(sel, "last"))
            c->select = HQ_SELECT_LAST;
        else
            st = bad("train.select", "must be \"val_auc\", \"val_acc\" or \"last\"", NULL);
    }
    return st;
}

static hq_status parse_quantum(ctx *x, const cJSON *q) {
    hq_train_config *c = x->c;
    if (!q) return HQ_OK;
    static const char *const keys[] = {"backend",
                                       "options",
                                       "shots",
                                       "gradient",
                                       "spsa_c",
                                       "eval",
                                       "max_circuits_per_job",
                                       "poll_initial_s",
                                       "poll_max_s",
                                       "job_timeout_s",
                                       "prices",
                                       NULL};
    hq_status st = check_keys(q, "quantum", keys);
    if (st == HQ_OK) st = get_str(q, "backend", "quantum", c->backend, sizeof c->backend);
    if (st == HQ_OK) st = get_i64(q, "shots", "quantum", 1, 1e8, &c->shots);
    if (st == HQ_OK) st = get_num(q, "spsa_c", "quantum", 1e-6, 3.2, false, &c->spsa_c);
    if (st == HQ_OK)
        st = get_int(q, "max_circuits_per_job", "quantum", 0, 1e9, &c->max_circuits_per_job);
    if (st == HQ_OK)
        st = get_num(q, "poll_initial_s", "quantum", 1e-4, 3600, false, &c->poll_initial_s);
    if (st == HQ_OK) st = get_num(q, "poll_max_s", "quantum", 1e-4, 86400, false, &c->poll_max_s);
    if (st == HQ_OK) st = get_num(q, "job_timeout_s", "quantum", 0, 1e7, false, &c->job_timeout_s);
    char g[32] = "";
    if (st == HQ_OK) st = get_str(q, "gradient", "quantum", g, sizeof g);
    if (st == HQ_OK && g[0]) {
        st = hq_qgrad_parse(g, &c->gradient);
        if (st == HQ_OK && c->gradient == HQ_QGRAD_NONE)
            st = bad("quantum.gradient", "cannot be \"none\" for training", NULL);
        if (st) st = hq_fail_prefix(NULL, st, "config: quantum.gradient");
    }
    char ev[16] = "";
    if (st == HQ_OK) st = get_str(q, "eval", "quantum", ev, sizeof ev);
    if (st == HQ_OK && ev[0]) {
        if (!strcmp(ev, "same"))
            c->eval_exact = false;
        else if (!strcmp(ev, "sv"))
            c->eval_exact = true;
        else
            st = bad("quantum.eval", "must be \"same\" or \"sv\"", NULL);
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(q, "options");
    if (st == HQ_OK && o && !cJSON_IsNull(o)) {
        if (!cJSON_IsObject(o))
            st = bad("quantum.options", "must be an object", NULL);
        else
            st = dup_json(o, &c->backend_options);
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(q, "prices");
    if (st == HQ_OK && p && !cJSON_IsNull(p)) {
        static const char *const pkeys[] = {"per_job", "per_circuit", "per_shot", NULL};
        st = check_keys(p, "quantum.prices", pkeys);
        if (st == HQ_OK) st = get_num(p, "per_job", "quantum.prices", 0, 1e9, false, &c->price_job);
        if (st == HQ_OK)
            st = get_num(p, "per_circuit", "quantum.prices", 0, 1e9, false, &c->price_circuit);
        if (st == HQ_OK)
            st = get_num(p, "per_shot", "quantum.prices", 0, 1e9, false, &c->price_shot);
    }
    if (st == HQ_OK && c->poll_max_s < c->poll_initial_s)
        st = bad("quantum.poll_max_s", "must not be smaller than poll_initial_s", NULL);
    return st;
}

hq_status hq_train_config_parse(const char *json, const char *base_dir, hq_train_config *c) {
    hq_train_config_init(c);
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = json; at && p < at && *p; p++) line += *p == '\n';
        return hq_failf(NULL, HQ_ERR_PARSE, "config: not valid JSON (near line %d)", line);
    }
    ctx x = {base_dir, c};
    static const char *const keys[] = {"name",  "comment", "dataset", "data_dir", "model",
                                       "train", "quantum", "budget",  "out_dir",  NULL};
    hq_status st = check_keys(root, "(top level)", keys);
    if (st == HQ_OK) st = get_str(root, "name", "(top level)", c->name, sizeof c->name);
    if (st == HQ_OK) st = get_str(root, "dataset", "(top level)", c->dataset, sizeof c->dataset);
    if (st == HQ_OK && !c->dataset[0])
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "config: 'dataset' is missing (e.g. \"breastmnist\")");
    if (st == HQ_OK) st = get_str(root, "data_dir", "(top level)", c->data_dir, sizeof c->data_dir);
    if (st == HQ_OK) st = parse_model(&x, cJSON_GetObjectItemCaseSensitive(root, "model"));
    if (st == HQ_OK) st = parse_train(&x, cJSON_GetObjectItemCaseSensitive(root, "train"));
    if (st == HQ_OK) st = parse_quantum(&x, cJSON_GetObjectItemCaseSensitive(root, "quantum"));
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "budget");
    if (st == HQ_OK && b && !cJSON_IsNull(b)) {
        static const char *const bkeys[] = {"max_shots", "max_cost", NULL};
        st = check_keys(b, "budget", bkeys);
        if (st == HQ_OK) st = get_i64(b, "max_shots", "budget", 0, 9e15, &c->budget_shots);
        if (st == HQ_OK) st = get_num(b, "max_cost", "budget", 0, 1e12, false, &c->budget_cost);
    }
    if (st == HQ_OK && !c->optim_json) {
        c->optim_json = hq_strdup("{\"type\":\"adam\",\"lr\":0.001}");
        if (!c->optim_json) st = hq_failf(NULL, HQ_ERR_NOMEM, "config: out of memory");
    }
    cJSON_Delete(root);
    if (st) hq_train_config_free(c);
    return st;
}

hq_status hq_train_config_load(const char *path, hq_train_config *c) {
    hq_train_config_init(c);
    char *text = NULL;
    size_t len;
    hq_status st = hq_file_read(path, 4 << 20, &text, &len);
    if (st) return hq_fail_prefix(NULL, st, "config");
    char dir[2048];
    hq_path_dirname(dir, sizeof dir, path);
    st = hq_train_config_parse(text, dir, c);
    hq_free(text);
    if (st) return hq_fail_prefix(NULL, st, "%s", path);
    return HQ_OK;
}

hq_status hq_train_config_to_json(const hq_train_config *c, hq_sbuf *o) {
    static const char *const sel[] = {"val_auc", "val_acc", "last"};
    hq_sbuf_puts(o, "{\"name\":");
    hq_sbuf_put_json_str(o, c->name);
    hq_sbuf_puts(o, ",\"dataset\":");
    hq_sbuf_put_json_str(o, c->dataset);
    if (c->data_dir[0]) {
        hq_sbuf_puts(o, ",\"data_dir\":");
        hq_sbuf_put_json_str(o, c->data_dir);
    }
    hq_sbuf_printf(o, ",\"model\":%s", c->model_json ? c->model_json : "null");
    hq_sbuf_printf(
        o,
        ",\"train\":{\"epochs\":%d,\"batch_size\":%d,\"seed\":%llu,\"threads\":%d,\"optimizer\":%s",
        c->epochs, c->batch_size, (unsigned long long)c->seed, c->threads, c->optim_json);
    if (c->cw_mode == HQ_CW_LIST) {
        hq_sbuf_puts(o, ",\"class_weights\":[");
        for (int i = 0; i < c->n_cw; i++) {
            if (i) hq_sbuf_putc(o, ',');
            hq_sbuf_put_double(o, c->cw[i]);
        }
        hq_sbuf_putc(o, ']');
    } else {
        hq_sbuf_printf(o, ",\"class_weights\":\"%s\"",
                       c->cw_mode == HQ_CW_BALANCED ? "balanced" : "none");
    }
    hq_sbuf_printf(o, ",\"augment\":%s", c->augment_json ? c->augment_json : "null");
    hq_sbuf_printf(o,
                   ",\"select\":\"%s\",\"checkpoint_every\":%d,\"keep_checkpoints\":%d,\"subset\":{"
                   "\"train\":%lld,"
                   "\"val\":%lld,\"test\":%lld},\"tta\":\"%s\",\"ema\":",
                   sel[c->select], c->checkpoint_every, c->keep_checkpoints,
                   (long long)c->subset[0], (long long)c->subset[1], (long long)c->subset[2],
                   c->tta_hflip ? "hflip" : "none");
    hq_sbuf_put_double(o, c->ema);
    /* written only when on, so the stored config of a run without them is unchanged */
    if (c->label_smoothing > 0) {
        hq_sbuf_puts(o, ",\"label_smoothing\":");
        hq_sbuf_put_double(o, c->label_smoothing);
    }
    if (c->mixup > 0) {
        hq_sbuf_puts(o, ",\"mixup\":");
        hq_sbuf_put_double(o, c->mixup);
    }
    if (c->prior_correction) hq_sbuf_puts(o, ",\"prior_correction\":true");
    hq_sbuf_putc(o, '}');
    hq_sbuf_puts(o, ",\"quantum\":{\"backend\":");
    hq_sbuf_put_json_str(o, c->backend);
    hq_sbuf_printf(o, ",\"options\":%s,\"shots\":%lld,\"gradient\":\"%s\",\"spsa_c\":",
                   c->backend_options ? c->backend_options : "null", (long long)c->shots,
                   hq_qgrad_str(c->gradient));
    hq_sbuf_put_double(o, c->spsa_c);
    hq_sbuf_printf(o, ",\"eval\":\"%s\",\"max_circuits_per_job\":%d,\"poll_initial_s\":",
                   c->eval_exact ? "sv" : "same", c->max_circuits_per_job);
    hq_sbuf_put_double(o, c->poll_initial_s);
    hq_sbuf_puts(o, ",\"poll_max_s\":");
    hq_sbuf_put_double(o, c->poll_max_s);
    hq_sbuf_puts(o, ",\"job_timeout_s\":");
    hq_sbuf_put_double(o, c->job_timeout_s);
    hq_sbuf_puts(o, ",\"prices\":{\"per_job\":");
    hq_sbuf_put_double(o, c->price_job);
    hq_sbuf_puts(o, ",\"per_circuit\":");
    hq_sbuf_put_double(o, c->price_circuit);
    hq_sbuf_puts(o, ",\"per_shot\":");
    hq_sbuf_put_double(o, c->price_shot);
    hq_sbuf_printf(o,
                   "}},\"budget\":{\"max_shots\":%lld,\"max_cost\":", (long long)c->budget_shots);
    hq_sbuf_put_double(o, c->budget_cost);
    hq_sbuf_puts(o, "}}");
    return hq_sbuf_status(o) ? hq_failf(NULL, HQ_ERR_NOMEM, "config: out of memory") : HQ_OK;
}
