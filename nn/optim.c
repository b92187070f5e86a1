/*
 * nn/optim.c — Adam, AdamW and SGD (momentum, dampening, Nesterov, weight decay) with
 * PyTorch 1.13's arithmetic, and the constant / step / cosine learning-rate schedules.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "nn/optim.h"

#define HQ_MAGIC_OPTIM 0x4F505449u /* "OPTI" */

typedef enum { OPT_ADAM, OPT_ADAMW, OPT_SGD } opt_kind;
typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE } sched_kind;

struct hq_optim {
    hq_handle h;
    opt_kind kind;
    int64_t n;                  /* parameters */
    double lr;                  /* base learning rate */
    double beta1, beta2, eps;   /* Adam */
    double weight_decay;        /* all kinds */
    double momentum, dampening; /* SGD */
    bool nesterov;              /* SGD */
    sched_kind sched;
    bool sched_epochs; /* schedule counts epochs (true) or steps */
    int64_t step_size; /* step schedule: period */
    double gamma;      /* step schedule: factor */
    int64_t t_max;     /* cosine: half period */
    double eta_min;    /* cosine: floor */
    int64_t t;         /* steps taken */
    float *state;      /* 0, 1 or 2 vectors of n floats */
    int n_state;
    char *config; /* canonical JSON */
};

static const char *const kind_names[] = {"adam", "adamw", "sgd"};

/* ==== config ========================================================================== */

static hq_status opt_num(const cJSON *o, const char *key, double def, double lo, double hi,
                         double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = def;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_optim_create: \"%s\" must be a number in [%g, %g]", key, lo, hi);
    *out = v->valuedouble;
    return HQ_OK;
}

static hq_status check_keys(const cJSON *o, const char *where, const char *const *allowed) {
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (it->string && strcmp(*a, it->string) == 0) ok = true;
        if (!ok)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_optim_create: unknown %s option \"%s\"",
                            where, it->string ? it->string : "?");
    }
    return HQ_OK;
}

static hq_status parse_schedule(hq_optim *o, const cJSON *s) {
    o->sched = SCHED_CONSTANT;
    o->sched_epochs = true;
    if (!s) return HQ_OK;
    if (!cJSON_IsObject(s))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_optim_create: \"schedule\" must be an object");
    static const char *const keys[] = {"type",    "step_size", "gamma", "t_max",
                                       "eta_min", "unit",      NULL};
    hq_status st = check_keys(s, "schedule", keys);
    if (st != HQ_OK) return st;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    const char *ty = cJSON_IsString(t) ? t->valuestring : "";
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(s, "unit");
    if (u) {
        if (cJSON_IsString(u) && strcmp(u->valuestring, "epoch") == 0)
            o->sched_epochs = true;
        else if (cJSON_IsString(u) && strcmp(u->valuestring, "step") == 0)
            o->sched_epochs = false;
        else
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_optim_create: schedule \"unit\" must be \"epoch\" or \"step\"");
    }
    double v;
    if (strcmp(ty, "constant") == 0) {
        o->sched = SCHED_CONSTANT;
    } else if (strcmp(ty, "step") == 0) {
        o->sched = SCHED_STEP;
        if (!cJSON_GetObjectItemCaseSensitive(s, "step_size"))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_optim_create: step schedule needs \"step_size\" (>= 1)");
        if ((st = opt_num(s, "step_size", 1, 1, 1e15, &v)) != HQ_OK) return st;
        o->step_size = (int64_t)v;
        if ((st = opt_num(s, "gamma", 0.1, 0, 1e6, &o->gamma)) != HQ_OK) return st;
    } else if (strcmp(ty, "cosine") == 0) {
        o->sched = SCHED_COSINE;
        if (!cJSON_GetObjectItemCaseSensitive(s, "t_max"))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_optim_create: cosine schedule needs \"t_max\" (>= 1)");
        if ((st = opt_num(s, "t_max", 1, 1, 1e15, &v)) != HQ_OK) return st;
        o->t_max = (int64_t)v;
        if ((st = opt_num(s, "eta_min", 0, 0, 1e6, &o->eta_min)) != HQ_OK) return st;
    } else {
        return hq_failf(
            NULL, HQ_ERR_INVALID_ARG,
            "hq_optim_create: schedule \"type\" \"%s\" unknown (constant, step, cosine)", ty);
    }
    return HQ_OK;
}

static hq_status parse(hq_optim *o, const cJSON *j) {
    if (!cJSON_IsObject(j))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_optim_create: config must be a JSON object");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *ty = cJSON_IsString(t) ? t->valuestring : "";
    if (strcmp(ty, "adam") == 0)
        o->kind = OPT_ADAM;
    else if (strcmp(ty, "adamw") == 0)
        o->kind = OPT_ADAMW;
    else if (strcmp(ty, "sgd") == 0)
        o->kind = OPT_SGD;
    else
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_optim_create: \"type\" \"%s\" unknown (adam, adamw, sgd)", ty);
    hq_status st;
    if (o->kind == OPT_SGD) {
        static const char *const keys[] = {"type",     "lr",           "momentum", "dampening",
                                           "nesterov", "weight_decay", "schedule", NULL};
        if ((st = check_keys(j, "sgd", keys)) != HQ_OK) return st;
        if ((st = opt_num(j, "lr", 0.01, 0, 1e6, &o->lr)) != HQ_OK ||
            (st = opt_num(j, "momentum", 0, 0, 1, &o->momentum)) != HQ_OK ||
            (st = opt_num(j, "dampening", 0, 0, 1, &o->dampening)) != HQ_OK ||
            (st = opt_num(j, "weight_decay", 0, 0, 1e6, &o->weight_decay)) != HQ_OK)
            return st;
        const cJSON *nv = cJSON_GetObjectItemCaseSensitive(j, "nesterov");
        if (nv && !cJSON_IsBool(nv))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_optim_create: \"nesterov\" must be true or false");
        o->nesterov = cJSON_IsTrue(nv);
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_optim_create: Nesterov momentum requires momentum > 0 and "
                            "dampening 0");
        o->n_state = o->momentum > 0 ? 1 : 0;
    } else {
        static const char *const keys[] = {"type",         "lr",       "betas", "eps",
                                           "weight_decay", "schedule", NULL};
        if ((st = check_keys(j, ty, keys)) != HQ_OK) return st;
        if ((st = opt_num(j, "lr", 1e-3, 0, 1e6, &o->lr)) != HQ_OK ||
            (st = opt_num(j, "eps", 1e-8, 0, 1, &o->eps)) != HQ_OK ||
            (st = opt_num(j, "weight_decay", o->kind == OPT_ADAMW ? 1e-2 : 0, 0, 1e6,
                          &o->weight_decay)) != HQ_OK)
            return st;
        o->beta1 = 0.9;
        o->beta2 = 0.999;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "betas");
        if (b) {
            if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 2 ||
                !cJSON_IsNumber(cJSON_GetArrayItem(b, 0)) ||
                !cJSON_IsNumber(cJSON_GetArrayItem(b, 1)))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "hq_optim_create: \"betas\" must be [beta1, beta2]");
            o->beta1 = cJSON_GetArrayItem(b, 0)->valuedouble;
            o->beta2 = cJSON_GetArrayItem(b, 1)->valuedouble;
            if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1))
                return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                "hq_optim_create: betas (%g, %g) out of range [0, 1)", o->beta1,
                                o->beta2);
        }
        o->n_state = 2;
    }
    return parse_schedule(o, cJSON_GetObjectItemCaseSensitive(j, "schedule"));
}

hq_status hq_optim_create(const char *json, int64_t n_params, hq_optim **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_optim_create: out is NULL");
    *out = NULL;
    if (!json) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_optim_create: json is NULL");
    if (n_params < 1 || n_params > ((int64_t)1 << 40))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_optim_create: %lld parameters out of range [1, 2^40]",
                        (long long)n_params);
    cJSON *j = cJSON_Parse(json);
    if (!j) return hq_failf(NULL, HQ_ERR_PARSE, "hq_optim_create: invalid JSON");
    hq_optim *o = hq_calloc(1, sizeof *o);
    if (!o) {
        cJSON_Delete(j);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_optim_create: out of memory");
    }
    o->h.magic = HQ_MAGIC_OPTIM;
    o->n = n_params;
    hq_status st = parse(o, j);
    if (st == HQ_OK) {
        char *txt = cJSON_PrintUnformatted(j);
        o->config = txt ? hq_strdup(txt) : NULL;
        cJSON_free(txt);
        if (!o->config) st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_optim_create: out of memory");
    }
    cJSON_Delete(j);
    if (st == HQ_OK && o->n_state) {
        o->state = hq_calloc((size_t)(o->n * o->n_state), sizeof(float));
        if (!o->state)
            st = hq_failf(NULL, HQ_ERR_NOMEM,
                          "hq_optim_create: cannot allocate state for %lld "
                          "parameters",
                          (long long)n_params);
    }
    if (st != HQ_OK) {
        hq_optim_free(o);
        return st;
    }
    *out = o;
    return HQ_OK;
}

void hq_optim_free(hq_optim *o) {
    if (!o || o->h.magic != HQ_MAGIC_OPTIM) return;
    hq_free(o->state);
    hq_free(o->config);
    o->h.magic = HQ_MAGIC_DEAD;
    hq_free(o);
}

/* ==== schedule ======================================================================== */

double hq_optim_lr(const hq_optim *o, int64_t epoch, int64_t step) {
    if (!hq_handle_ok(o, HQ_MAGIC_OPTIM)) return 0;
    double t = (double)(o->sched_epochs ? epoch : step);
    switch (o->sched) {
    case SCHED_STEP: return o->lr * pow(o->gamma, floor(t / (double)o->step_size));
    case SCHED_COSINE: /* torch CosineAnnealingLR, closed form */
        return o->eta_min + (o->lr - o->eta_min) * (1 + cos(M_PI * t / (double)o->t_max)) / 2;
    case SCHED_CONSTANT:
    default: return o->lr;
    }
}

/* ==== step ============================================================================ */

hq_status hq_optim_step(hq_optim *o, float *params, const float *grads, double lr) {
    HQ_CHECK_HANDLE(o, HQ_MAGIC_OPTIM);
    if (!params || !grads)
        return hq_failf(&o->h.err, HQ_ERR_INVALID_ARG, "hq_optim_step: params or grads is NULL");
    if (!(lr >= 0) || !isfinite(lr))
        return hq_failf(&o->h.err, HQ_ERR_INVALID_ARG,
                        "hq_optim_step: learning rate %g must be finite and >= 0", lr);
    o->t++;
    int64_t n = o->n;
    const float wd = (float)o->weight_decay;
    if (o->kind == OPT_SGD) {
        const float mom = (float)o->momentum, damp1 = (float)(1.0 - o->dampening), nlr = (float)-lr;
        float *buf = o->state;
        for (int64_t i = 0; i < n; i++) {
            float d = grads[i];
            if (o->weight_decay != 0) d = d + wd * params[i];
            if (buf) {
                if (o->t == 1)
                    buf[i] = d;
                else
                    buf[i] = buf[i] * mom + damp1 * d;
                d = o->nesterov ? d + mom * buf[i] : buf[i];
            }
            params[i] = params[i] + nlr * d;
        }
        return HQ_OK;
    }
    /* Adam / AdamW */
    float *m = o->state, *v = o->state + n;
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float omb1 = (float)(1.0 - o->beta1), omb2 = (float)(1.0 - o->beta2);
    double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    const float step_size = (float)(-(lr / bc1)), bc2s = (float)sqrt(bc2), eps = (float)o->eps;
    const float decay = (float)(1.0 - lr * o->weight_decay);
    for (int64_t i = 0; i < n; i++) {
        float g = grads[i], p = params[i];
        if (o->kind == OPT_ADAMW) {
            if (o->weight_decay != 0) p = p * decay;
        } else if (o->weight_decay != 0) {
            g = g + wd * p;
        }
        m[i] = m[i] * b1 + omb1 * g;
        v[i] = v[i] * b2 + omb2 * g * g;
        float denom = sqrtf(v[i]) / bc2s + eps;
        params[i] = p + step_size * m[i] / denom;
    }
    return HQ_OK;
}

/* ==== accessors ======================================================================= */

const char *hq_optim_type(const hq_optim *o) {
    return hq_handle_ok(o, HQ_MAGIC_OPTIM) ? kind_names[o->kind] : "(invalid optimizer)";
}
int64_t hq_optim_steps(const hq_optim *o) { return hq_handle_ok(o, HQ_MAGIC_OPTIM) ? o->t : 0; }
const char *hq_optim_config(const hq_optim *o) {
    return hq_handle_ok(o, HQ_MAGIC_OPTIM) ? o->config : "";
}
int64_t hq_optim_n_params(const hq_optim *o) { return hq_handle_ok(o, HQ_MAGIC_OPTIM) ? o->n : 0; }
int hq_optim_n_state(const hq_optim *o) { return hq_handle_ok(o, HQ_MAGIC_OPTIM) ? o->n_state : 0; }

hq_status hq_optim_state(hq_optim *o, int i, const char **name, float **data) {
    HQ_CHECK_HANDLE(o, HQ_MAGIC_OPTIM);
    if (i < 0 || i >= o->n_state || !name || !data)
        return hq_failf(&o->h.err, HQ_ERR_INVALID_ARG,
                        "hq_optim_state: index %d out of range [0, %d)", i, o->n_state);
    *name = o->kind == OPT_SGD ? "momentum_buffer" : i == 0 ? "exp_avg" : "exp_avg_sq";
    *data = o->state + (int64_t)i * o->n;
    return HQ_OK;
}

hq_status hq_optim_set_steps(hq_optim *o, int64_t steps) {
    HQ_CHECK_HANDLE(o, HQ_MAGIC_OPTIM);
    if (steps < 0)
        return hq_failf(&o->h.err, HQ_ERR_INVALID_ARG, "hq_optim_set_steps: %lld < 0",
                        (long long)steps);
    o->t = steps;
    return HQ_OK;
}
