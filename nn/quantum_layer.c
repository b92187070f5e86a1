/*
 * nn/quantum_layer.c — the quantum layer: (n, q) angles -> (n, q * R) expectation values
 * of a parameterised q-qubit circuit (R readout Paulis per qubit, default <Z_i> then <X_i>),
 * with gradients to its weights and to its inputs, on the statevector backend's batched
 * shared-weight path (backends/statevector.h): adjoint vector-Jacobian products, exact.
 *
 * Config:
 *   {"type":"quantum", "qubits":4, "layers":2, "circuit":"hqcnn", "readout":["Z","X"],
 *    "backend":"sv"}
 * "circuit" is "hqcnn" (the default circuit of DESIGN.md, repeated "layers" times) or a
 * list of blocks, applied in order (q = qubits, w = a new trainable weight):
 *   {"type":"encode", "gate":"ry", "hadamard":true}   per qubit i: [H(i)]; G(x_i), G in rx ry rz
 *   {"type":"rotations", "gate":"u3"}                 per qubit: U3(w, w, w) (or rx/ry/rz(w))
 *   {"type":"entangle", "gate":"cx", "pattern":"ring"} CX/CZ(i, i+1) for i < q ("ring", mod q)
 *                                                       or i < q-1 ("chain")
 *   {"type":"toffoli_attention"}                      CCX(i-1, i+1 -> i) for every i (mod q)
 *   {"type":"qft_ladder"}                             per i: H(i); CP(w)(j -> i) for j > i
 *   {"type":"repeat", "times":L, "blocks":[...]}
 * "hqcnn" = [encode(ry, hadamard), repeat(layers, [rotations(u3), entangle(cx, ring),
 *            toffoli_attention, qft_ladder])] — 36 weights for q = 4, L = 2.
 *
 * Parameter: weights (n_weights), in order of use in the circuit. For "hqcnn" that is, per
 * layer l, the U3 angles (theta, phi, lambda) of qubits 0..q-1, then the controlled-phase
 * angles alpha_ij for i < j in loop order; torch_hqcnn.py keeps the same numbers as
 * u3 (L, q, 3) and cp (L, q(q-1)/2). Initialised U[0, 2 pi) like the PyTorch reference.
 * The angles are float32 parameters, evaluated in double by the simulator.
 *
 * External evaluation (hq_layer_quantum_set_eval, nn/layer.h): for shot-based backends
 * the orchestrator evaluates the bound template itself and returns expectations and their
 * Jacobian; backward then contracts dL/dy with that Jacobian instead of simulating.
 *
 * Threads: the batch is split into at most Q_MAX_CHUNKS chunks (boundaries from the batch
 * size only); each pool thread has its own simulator handle, and the per-chunk weight
 * gradients are summed in chunk order, so results do not depend on the thread count.
 */
#include <math.h>

#include "backends/circuit.h"
#include "backends/statevector.h"
#include "nn/layer_impl.h"

#define Q_MAX_QUBITS  10 /* the batched path's limit (HQ_SV_BATCH_MAX_QUBITS) */
#define Q_MAX_READOUT 3  /* Z, X, Y */
#define Q_MAX_WEIGHTS 65536
/* Rows per simulator call: the shared-weight path pays a fixed cost per call (the dense
 * weight unitary, its adjoint pass), so rows go in a few large chunks — at most
 * Q_MAX_CHUNKS, at least Q_MIN_ROWS rows each — whose boundaries depend only on the batch
 * size (results stay independent of the thread count). */
#define Q_MAX_CHUNKS 4
#define Q_MIN_ROWS   32

typedef struct q_ctx {
    int nq;           /* qubits = input features */
    int n_obs;        /* nq * n_readout */
    int n_w;          /* trainable weights */
    hq_circuit *circ; /* the template (inputs x0.., weights w0..) */
    hq_pauli paulis[Q_MAX_QUBITS * Q_MAX_READOUT];
    hq_pauli_sum obs[Q_MAX_QUBITS * Q_MAX_READOUT];
    hq_sv_batch **h;        /* one simulator handle per pool thread */
    int n_h;                /* handles made */
    int max_rows;           /* rows of one simulator call at most (the maximum batch) */
    char ro[Q_MAX_READOUT]; /* readout Paulis, in order */
    int n_ro;
    /* external evaluation (shot-based backends, hq_layer_quantum_set_eval) */
    hq_qeval_fn ext; /* NULL = exact statevector */
    void *ext_ctx;   /* borrowed */
    double *ext_sym; /* (max batch, n_sym) */
    double *ext_exp; /* (max batch, n_obs) */
    double *ext_jac; /* (max batch, n_obs, n_sym) of the latest training forward */
    int ext_rows;    /* rows of that Jacobian; 0 = none */
} q_ctx;

/* ==== circuit from blocks ============================================================= */

typedef struct qb {
    hq_layer *l;
    q_ctx *q;
    int x[Q_MAX_QUBITS]; /* input symbol ids */
} qb;

static hq_status new_weight(qb *b, int *sym) {
    if (b->q->n_w >= Q_MAX_WEIGHTS)
        return nn_failf(b->l, HQ_ERR_INVALID_ARG, "circuit has more than %d weights",
                        Q_MAX_WEIGHTS);
    char name[24];
    snprintf(name, sizeof name, "w%d", b->q->n_w);
    hq_status st = hq_circuit_add_symbol(b->q->circ, name, HQ_SYM_WEIGHT, sym);
    if (st == HQ_OK) b->q->n_w++;
    return st;
}

static hq_status gate_by_name(qb *b, const cJSON *blk, const char *def, const char *const *ok,
                              hq_gate *g) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(blk, "gate");
    const char *name = v ? (cJSON_IsString(v) ? v->valuestring : "") : def;
    for (const char *const *o = ok; *o; o++)
        if (strcmp(*o, name) == 0) return hq_gate_from_name(name, g);
    char list[64] = "";
    size_t off = 0;
    for (const char *const *o = ok; *o && off < sizeof list; o++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", o == ok ? "" : ", ", *o);
    return nn_failf(b->l, HQ_ERR_INVALID_ARG, "circuit block \"gate\" must be one of: %s", list);
}

static hq_status add_blocks(qb *b, const cJSON *blocks, int depth);

static hq_status add_block(qb *b, const cJSON *blk, int depth) {
    hq_circuit *c = b->q->circ;
    int n = b->q->nq;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(blk, "type");
    const char *ty = cJSON_IsString(t) ? t->valuestring : "";
    hq_status st = HQ_OK;
    if (!strcmp(ty, "encode")) {
        static const char *const ok[] = {"ry", "rx", "rz", NULL};
        hq_gate g;
        bool had = true;
        const cJSON *hv = cJSON_GetObjectItemCaseSensitive(blk, "hadamard");
        if (hv && !cJSON_IsBool(hv))
            return nn_failf(b->l, HQ_ERR_INVALID_ARG, "encode \"hadamard\" must be true or false");
        if (hv) had = cJSON_IsTrue(hv);
        if ((st = gate_by_name(b, blk, "ry", ok, &g)) != HQ_OK) return st;
        for (int i = 0; i < n && st == HQ_OK; i++) {
            if (had) st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
            if (st == HQ_OK)
                st = hq_circuit_add_gate_sym(c, g, &i, (hq_angle[]){hq_angle_sym(b->x[i], 1, 0)});
        }
    } else if (!strcmp(ty, "rotations")) {
        static const char *const ok[] = {"u3", "rx", "ry", "rz", NULL};
        hq_gate g;
        if ((st = gate_by_name(b, blk, "u3", ok, &g)) != HQ_OK) return st;
        int np = g == HQ_GATE_U3 ? 3 : 1;
        for (int i = 0; i < n && st == HQ_OK; i++) {
            hq_angle a[3];
            for (int k = 0; k < np && st == HQ_OK; k++) {
                int w;
                st = new_weight(b, &w);
                a[k] = hq_angle_sym(w, 1, 0);
            }
            if (st == HQ_OK) st = hq_circuit_add_gate_sym(c, g, &i, a);
        }
    } else if (!strcmp(ty, "entangle")) {
        static const char *const ok[] = {"cx", "cz", NULL};
        hq_gate g;
        if ((st = gate_by_name(b, blk, "cx", ok, &g)) != HQ_OK) return st;
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(blk, "pattern");
        const char *pat = pv ? (cJSON_IsString(pv) ? pv->valuestring : "") : "ring";
        bool ring = !strcmp(pat, "ring");
        if (!ring && strcmp(pat, "chain"))
            return nn_failf(b->l, HQ_ERR_INVALID_ARG,
                            "entangle \"pattern\" must be \"ring\" or \"chain\"");
        if (n < 2) return nn_failf(b->l, HQ_ERR_INVALID_ARG, "entangle needs at least 2 qubits");
        int last = ring && n > 2 ? n : n - 1;
        for (int i = 0; i < last && st == HQ_OK; i++)
            st = hq_circuit_add_gate(c, g, (int[]){i, (i + 1) % n}, NULL);
    } else if (!strcmp(ty, "toffoli_attention")) {
        if (n < 3)
            return nn_failf(b->l, HQ_ERR_INVALID_ARG, "toffoli_attention needs at least 3 qubits");
        for (int i = 0; i < n && st == HQ_OK; i++)
            st =
                hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(i + n - 1) % n, (i + 1) % n, i}, NULL);
    } else if (!strcmp(ty, "qft_ladder")) {
        for (int i = 0; i < n && st == HQ_OK; i++) {
            st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
            for (int j = i + 1; j < n && st == HQ_OK; j++) {
                int w;
                st = new_weight(b, &w);
                if (st == HQ_OK)
                    st = hq_circuit_add_gate_sym(c, HQ_GATE_CP, (int[]){j, i},
                                                 (hq_angle[]){hq_angle_sym(w, 1, 0)});
            }
        }
    } else if (!strcmp(ty, "repeat")) {
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(blk, "times");
        const cJSON *bl = cJSON_GetObjectItemCaseSensitive(blk, "blocks");
        if (!cJSON_IsNumber(tv) || tv->valuedouble != floor(tv->valuedouble) ||
            tv->valuedouble < 1 || tv->valuedouble > 1000)
            return nn_failf(b->l, HQ_ERR_INVALID_ARG,
                            "repeat \"times\" must be an integer in [1, 1000]");
        for (int r = 0; r < (int)tv->valuedouble && st == HQ_OK; r++)
            st = add_blocks(b, bl, depth + 1);
    } else {
        return nn_failf(b->l, HQ_ERR_INVALID_ARG,
                        "unknown circuit block type \"%s\" (encode, rotations, entangle, "
                        "toffoli_attention, qft_ladder, repeat)",
                        ty);
    }
    /* failures of the circuit API carry its message; name the layer too */
    if (st != HQ_OK && strncmp(hq_last_error(), "layer ", 6) != 0)
        return nn_failf(b->l, st, "circuit: %s", hq_last_error());
    return st;
}

static hq_status add_blocks(qb *b, const cJSON *blocks, int depth) {
    if (depth > 8) return nn_failf(b->l, HQ_ERR_INVALID_ARG, "circuit blocks nested too deeply");
    if (!cJSON_IsArray(blocks) || cJSON_GetArraySize(blocks) < 1)
        return nn_failf(b->l, HQ_ERR_INVALID_ARG,
                        "circuit \"blocks\" must be a non-empty array of block objects");
    for (const cJSON *blk = blocks->child; blk; blk = blk->next) {
        if (!cJSON_IsObject(blk))
            return nn_failf(b->l, HQ_ERR_INVALID_ARG,
                            "circuit block must be an object with \"type\"");
        hq_status st = add_block(b, blk, depth);
        if (st != HQ_OK) return st;
    }
    return HQ_OK;
}

/* The preset "hqcnn" as blocks. */
static cJSON *hqcnn_blocks(int layers) {
    char json[512];
    snprintf(json, sizeof json,
             "[{\"type\":\"encode\",\"gate\":\"ry\",\"hadamard\":true},"
             "{\"type\":\"repeat\",\"times\":%d,\"blocks\":["
             "{\"type\":\"rotations\",\"gate\":\"u3\"},"
             "{\"type\":\"entangle\",\"gate\":\"cx\",\"pattern\":\"ring\"},"
             "{\"type\":\"toffoli_attention\"},{\"type\":\"qft_ladder\"}]}]",
             layers);
    return cJSON_Parse(json);
}

/* ==== plan / init ===================================================================== */

static void quantum_destroy(hq_layer *l) {
    q_ctx *q = l->ctx;
    if (!q) return;
    hq_circuit_free(q->circ);
    hq_free(q->ext_sym);
    hq_free(q->ext_exp);
    hq_free(q->ext_jac);
    for (int i = 0; i < q->n_h; i++) hq_sv_batch_free(q->h[i]);
    hq_free(q->h);
    hq_free(q);
}

static hq_status quantum_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(pc);
    static const char *const keys[] = {"qubits", "layers", "circuit", "readout", "backend", NULL};
    hq_status st = nn_opt_check_keys(l, cfg, keys);
    if (st != HQ_OK) return st;
    q_ctx *q = hq_calloc(1, sizeof *q);
    if (!q) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    l->ctx = q;
    int layers;
    if ((st = nn_opt_int(l, cfg, "qubits", 4, 1, Q_MAX_QUBITS, &q->nq)) != HQ_OK ||
        (st = nn_opt_int(l, cfg, "layers", 2, 1, 1000, &layers)) != HQ_OK)
        return st;
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(cfg, "backend");
    if (be && !(cJSON_IsString(be) && !strcmp(be->valuestring, "sv")))
        return nn_failf(l, HQ_ERR_UNSUPPORTED,
                        "\"backend\" must be \"sv\" for training in the network (the exact "
                        "statevector simulator) ---> HINT: noisy or hardware evaluation of a "
                        "trained model goes through the orchestrator");
    if (hq_shape_sample(l->in) != q->nq)
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "takes one angle per qubit: %d qubits but %lld input features "
                        "---> HINT: put a dense layer with \"out\": %d before it",
                        q->nq, (long long)hq_shape_sample(l->in), q->nq);
    /* readout */
    char ro[Q_MAX_READOUT] = {'Z', 'X'};
    int n_ro = 2;
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(cfg, "readout");
    if (rv) {
        if (!cJSON_IsArray(rv) || cJSON_GetArraySize(rv) < 1 ||
            cJSON_GetArraySize(rv) > Q_MAX_READOUT)
            return nn_failf(l, HQ_ERR_INVALID_ARG,
                            "\"readout\" must be a list of 1 to 3 of \"Z\", \"X\", \"Y\"");
        n_ro = 0;
        for (const cJSON *it = rv->child; it; it = it->next) {
            if (!cJSON_IsString(it) || strlen(it->valuestring) != 1 ||
                !strchr("XYZ", it->valuestring[0]))
                return nn_failf(l, HQ_ERR_INVALID_ARG,
                                "\"readout\" entries must be \"Z\", \"X\" or \"Y\"");
            ro[n_ro++] = it->valuestring[0];
        }
    }
    q->n_obs = q->nq * n_ro;
    memcpy(q->ro, ro, sizeof ro);
    q->n_ro = n_ro;
    for (int r = 0; r < n_ro; r++)
        for (int i = 0; i < q->nq; i++) {
            int k = r * q->nq + i;
            q->paulis[k] = hq_pauli_single(ro[r], i);
            q->obs[k] = (hq_pauli_sum){&q->paulis[k], 1};
        }
    /* circuit */
    if ((st = hq_circuit_create(&q->circ)) != HQ_OK ||
        (st = hq_circuit_add_qreg(q->circ, "q", q->nq, NULL)) != HQ_OK)
        return nn_failf(l, st, "cannot create the circuit: %s", hq_last_error());
    qb b = {.l = l, .q = q};
    for (int i = 0; i < q->nq; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        if ((st = hq_circuit_add_symbol(q->circ, name, HQ_SYM_INPUT, &b.x[i])) != HQ_OK)
            return nn_failf(l, st, "cannot create the circuit: %s", hq_last_error());
    }
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(cfg, "circuit");
    if (!cv || (cJSON_IsString(cv) && !strcmp(cv->valuestring, "hqcnn"))) {
        cJSON *pre = hqcnn_blocks(layers);
        if (!pre) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
        st = add_blocks(&b, pre, 0);
        cJSON_Delete(pre);
    } else if (cJSON_IsArray(cv)) {
        st = add_blocks(&b, cv, 0);
    } else {
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "\"circuit\" must be \"hqcnn\" or a list of blocks (docs/nn.md)");
    }
    if (st != HQ_OK) return st;
    if (q->n_w < 1)
        return nn_failf(l, HQ_ERR_INVALID_ARG,
                        "the circuit has no trainable weights (add a rotations or qft_ladder "
                        "block)");
    /* compile once here, so that a bad circuit fails at create */
    q->h = hq_calloc(1, sizeof *q->h);
    if (!q->h) return nn_failf(l, HQ_ERR_NOMEM, "out of memory");
    if ((st = hq_sv_batch_create(q->circ, q->obs, q->n_obs, &q->h[0])) != HQ_OK)
        return nn_failf(l, st, "statevector batch: %s", hq_last_error());
    q->n_h = 1;
    l->out = hq_shape4(l->in.n, q->n_obs, 1, 1);
    nn_add_param(l, "weights", true, 1, (int64_t[]){q->n_w});
    /* per thread: one chunk's inputs, expectations, dexpect, dinputs (double) */
    q->max_rows = l->in.n; /* a chunk holds at most max(Q_MIN_ROWS * 2, n / Q_MAX_CHUNKS + 1) */
    l->scratch_thread = (size_t)q->max_rows * (size_t)(2 * q->nq + 2 * q->n_obs) * sizeof(double) +
                        (size_t)q->n_w * sizeof(double);
    /* shared: weights in double, per-slot weight gradients, per-slot status */
    l->scratch_shared =
        (size_t)q->n_w * sizeof(double) * (1 + NN_MAX_SLOTS) + NN_MAX_SLOTS * sizeof(hq_status);
    return HQ_OK;
}

static void quantum_init(hq_layer *l, uint64_t seed) {
    nn_fill_uniform(l->params[0].data, l->params[0].numel, 0.0f, (float)(2 * M_PI), seed, l->index,
                    0);
    /* float rounding of 2 pi * u can reach 2 pi itself; keep [0, 2 pi) */
    for (int64_t i = 0; i < l->params[0].numel; i++)
        if (l->params[0].data[i] >= (float)(2 * M_PI)) l->params[0].data[i] = 0.0f;
}

/* ==== passes ========================================================================== */

typedef struct q_job {
    hq_layer *l;
    float *out;        /* forward y / backward dx (may be NULL) */
    const float *x;    /* (n, nq) */
    const float *dy;   /* backward (n, n_obs) */
    const double *wd;  /* (n_w) weights in double */
    double *dwpart;    /* (slots, n_w) */
    hq_status *status; /* (slots) */
    int n, n_slots;
} q_job;

static int q_chunks(int n) {
    int c = n / Q_MIN_ROWS;
    return c < 1 ? 1 : c > Q_MAX_CHUNKS ? Q_MAX_CHUNKS : c;
}

static void q_task(void *arg, int s, int thread, bool backward) {
    q_job *j = arg;
    q_ctx *q = j->l->ctx;
    int b0 = nn_slot_begin(j->n, j->n_slots, s), b1 = nn_slot_begin(j->n, j->n_slots, s + 1);
    int64_t rows = b1 - b0;
    double *in = nn_scratch_thread(j->l, thread);
    double *ex = in + (int64_t)q->max_rows * q->nq;
    double *dex = ex + (int64_t)q->max_rows * q->n_obs;
    double *din = dex + (int64_t)q->max_rows * q->n_obs;
    for (int64_t i = 0; i < rows * q->nq; i++) in[i] = j->x[b0 * q->nq + i];
    hq_status st;
    if (!backward) {
        st = hq_sv_batch_forward_shared(q->h[thread], rows, j->wd, in, ex);
        if (st == HQ_OK)
            for (int64_t i = 0; i < rows * q->n_obs; i++) j->out[b0 * q->n_obs + i] = (float)ex[i];
    } else {
        for (int64_t i = 0; i < rows * q->n_obs; i++) dex[i] = j->dy[b0 * q->n_obs + i];
        st = hq_sv_batch_backward_shared(q->h[thread], rows, j->wd, in, dex, NULL,
                                         j->out ? din : NULL, j->dwpart + (int64_t)s * q->n_w);
        if (st == HQ_OK && j->out)
            for (int64_t i = 0; i < rows * q->nq; i++) j->out[b0 * q->nq + i] = (float)din[i];
    }
    j->status[s] = st;
}

static void q_fwd_task(void *arg, int s, int thread) { q_task(arg, s, thread, false); }
static void q_bwd_task(void *arg, int s, int thread) { q_task(arg, s, thread, true); }

/* One simulator handle per pool thread (made once, at the first pass with this pool). */
static hq_status ensure_handles(hq_layer *l) {
    q_ctx *q = l->ctx;
    int t = nn_pool_threads(l->pool);
    if (q->n_h >= t) return HQ_OK;
    hq_sv_batch **h = hq_realloc(q->h, (size_t)t * sizeof *h);
    if (!h) return nn_failf(l, HQ_ERR_NOMEM, "out of memory for %d simulator handles", t);
    q->h = h;
    for (; q->n_h < t; q->n_h++) {
        hq_status st = hq_sv_batch_create(q->circ, q->obs, q->n_obs, &q->h[q->n_h]);
        if (st != HQ_OK) return nn_failf(l, st, "statevector batch: %s", hq_last_error());
    }
    return HQ_OK;
}

static hq_status run(hq_layer *l, q_job *j, bool backward) {
    q_ctx *q = l->ctx;
    hq_status st = ensure_handles(l);
    if (st != HQ_OK) return st;
    double *wd = l->scratch;
    for (int k = 0; k < q->n_w; k++) wd[k] = l->params[0].data[k];
    j->wd = wd;
    j->dwpart = wd + q->n_w;
    j->status = (hq_status *)(j->dwpart + (int64_t)NN_MAX_SLOTS * q->n_w);
    nn_pool_run(l->pool, j->n_slots, backward ? q_bwd_task : q_fwd_task, j);
    for (int s = 0; s < j->n_slots; s++)
        if (j->status[s] != HQ_OK)
            return nn_failf(l, j->status[s], "statevector batch: %s", hq_last_error());
    return HQ_OK;
}

static hq_status quantum_forward(hq_layer *l, float *y, const float *x, int n,
                                 const hq_pass *pass) {
    for (int64_t i = 0; i < (int64_t)n * ((q_ctx *)l->ctx)->nq; i++)
        if (!isfinite(x[i]))
            return nn_failf(l, HQ_ERR_INVALID_ARG,
                            "input angle %lld is not finite (diverged training? lower the "
                            "learning rate)",
                            (long long)i);
    q_ctx *q = l->ctx;
    if (q->ext) {
        int S = q->nq + q->n_w;
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < q->nq; i++)
                q->ext_sym[(int64_t)r * S + i] = x[(int64_t)r * q->nq + i];
            for (int k = 0; k < q->n_w; k++)
                q->ext_sym[(int64_t)r * S + q->nq + k] = l->params[0].data[k];
        }
        q->ext_rows = 0;
        hq_status st = q->ext(q->ext_ctx, q->circ, n, q->ext_sym, pass->train, q->ext_exp,
                              pass->train ? q->ext_jac : NULL);
        if (st != HQ_OK) return nn_failf(l, st, "%s", hq_last_error());
        for (int64_t i = 0; i < (int64_t)n * q->n_obs; i++) y[i] = (float)q->ext_exp[i];
        if (pass->train) q->ext_rows = n;
        return HQ_OK;
    }
    q_job j = {.l = l, .out = y, .x = x, .n = n, .n_slots = q_chunks(n)};
    return run(l, &j, false);
}

/* Backward through the Jacobian an external evaluator returned: dx = dy . J_x, and the
 * weight gradients += sum over rows of dy . J_w (rows in order, so it is deterministic). */
static hq_status ext_backward(hq_layer *l, float *dx, const float *dy, int n) {
    q_ctx *q = l->ctx;
    if (q->ext_rows != n)
        return nn_failf(l, HQ_ERR_MISUSE,
                        "backward needs a training forward of the same batch first");
    int S = q->nq + q->n_w;
    float *g = l->params[0].grad;
    for (int k = 0; k < q->n_w; k++) {
        double acc = 0;
        for (int r = 0; r < n; r++)
            for (int o = 0; o < q->n_obs; o++)
                acc += (double)dy[(int64_t)r * q->n_obs + o] *
                       q->ext_jac[((int64_t)r * q->n_obs + o) * S + q->nq + k];
        g[k] += (float)acc;
    }
    if (dx)
        for (int r = 0; r < n; r++)
            for (int i = 0; i < q->nq; i++) {
                double acc = 0;
                for (int o = 0; o < q->n_obs; o++)
                    acc += (double)dy[(int64_t)r * q->n_obs + o] *
                           q->ext_jac[((int64_t)r * q->n_obs + o) * S + i];
                dx[(int64_t)r * q->nq + i] = (float)acc;
            }
    return HQ_OK;
}

hq_status hq_layer_quantum_set_eval(hq_layer *l, hq_qeval_fn fn, void *ctx) {
    if (!l || l->ops != &nn_quantum_ops)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_layer_quantum_set_eval: not a quantum layer");
    q_ctx *q = l->ctx;
    q->ext = NULL;
    q->ext_rows = 0;
    if (!fn) return HQ_OK;
    if (q->n_ro != 2 || q->ro[0] != 'Z' || q->ro[1] != 'X')
        return nn_failf(l, HQ_ERR_UNSUPPORTED,
                        "shot-based backends measure the readout [\"Z\", \"X\"] only");
    int64_t rows = l->in.n, S = q->nq + q->n_w;
    if (!q->ext_sym) {
        q->ext_sym = hq_malloc((size_t)(rows * S) * sizeof *q->ext_sym);
        q->ext_exp = hq_malloc((size_t)(rows * q->n_obs) * sizeof *q->ext_exp);
        q->ext_jac = hq_malloc((size_t)(rows * q->n_obs * S) * sizeof *q->ext_jac);
        if (!q->ext_sym || !q->ext_exp || !q->ext_jac) {
            HQ_FREE(q->ext_sym);
            HQ_FREE(q->ext_exp);
            HQ_FREE(q->ext_jac);
            return nn_failf(l, HQ_ERR_NOMEM, "out of memory for the external evaluation buffers");
        }
    }
    q->ext = fn;
    q->ext_ctx = ctx;
    return HQ_OK;
}

const hq_circuit *hq_layer_quantum_circuit(const hq_layer *l) {
    if (!l || l->ops != &nn_quantum_ops || !l->ctx) return NULL;
    return ((const q_ctx *)l->ctx)->circ;
}

static hq_status quantum_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                                  const float *y, int n) {
    HQ_UNUSED(y);
    q_ctx *q = l->ctx;
    if (q->ext) return ext_backward(l, dx, dy, n);
    q_job j = {.l = l, .out = dx, .x = x, .dy = dy, .n = n, .n_slots = q_chunks(n)};
    hq_status st = run(l, &j, true);
    if (st != HQ_OK) return st;
    float *g = l->params[0].grad;
    for (int k = 0; k < q->n_w; k++) {
        double acc = 0;
        for (int s = 0; s < j.n_slots; s++) acc += j.dwpart[(int64_t)s * q->n_w + k];
        g[k] += (float)acc;
    }
    return HQ_OK;
}

const nn_layer_ops nn_quantum_ops = {
    .type = "quantum",
    .plan = quantum_plan,
    .init = quantum_init,
    .forward = quantum_forward,
    .backward = quantum_backward,
    .destroy = quantum_destroy,
};
