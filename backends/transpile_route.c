/*
 * backends/transpile_route.c — where the logical qubits go: the device model the search
 * uses (usable coupling graph, distances, error weights), the calibration-aware layout
 * search, and SWAP routing. Lowering and peephole passes are in transpile_ir.c.
 *
 * Layout cost (expected errors, as -log fidelities so they add):
 *     cost(pi) = sum_{i<j} n_ij c2(pi_i, pi_j) + sum_i (n1_i w1(pi_i) + nm_i wro(pi_i))
 * n_ij: CX count between logical wires i and j; n1_i: constant 1-qubit unitaries on i
 * (each ~2 sx); nm_i: measurements of i (1 for every qubit when the circuit measures none).
 * w2 = -log(1 - 2q gate error) of the device's native gate on the edge, w1 = -log(1 - sx
 * error), wro = -log(1 - readout error); missing calibration = the median of the device.
 * c2 = w2 on an edge, else 3 dw - 2 dw / hops (dw: cheapest path), the CX count of SWAPping
 * along the path. Edges with error >= 1 (IBM's mark for broken couplers) are unusable.
 *
 * Search: a greedy placement from every start qubit gives an upper bound; then, for up to
 * LAYOUT_EXACT_MAX logical qubits, every connected set of physical qubits (each enumerated
 * once with Wernicke's ESU algorithm) is searched with branch and bound over the
 * assignments, pruned by a lower bound per set and per partial assignment. Within the node
 * budget the result is optimal for the cost model.
 *
 * Routing: a SABRE-style front layer with a lookahead window; the SWAP that most reduces
 * the (decayed) distance sum of the front and the next gates is applied; a stall guard
 * walks the first front gate along a shortest path. Final measurements (tp_op.final) stay
 * out of the front: they are taken after routing on the final layout, so no SWAP carries a
 * measured state and a static circuit stays static.
 */
#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "backends/transpile_impl.h"
#include "core/rng.h"

#define LAYOUT_EXACT_MAX 12
#define FAR              (INT_MAX / 4)

/* ==== device model ===================================================================== */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of the finite entries of v (n), or dflt if none */
static double median(const double *v, int n, double dflt) {
    double *t = hq_malloc((size_t)(n ? n : 1) * sizeof *t);
    if (!t) return dflt;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) t[m++] = v[i];
    double r = dflt;
    if (m) {
        qsort(t, (size_t)m, sizeof *t, cmp_double);
        r = m % 2 ? t[m / 2] : 0.5 * (t[m / 2 - 1] + t[m / 2]);
    }
    hq_free(t);
    return r;
}

static double nlog1m(double e) { return -log1p(-HQ_MIN(HQ_MAX(e, 0.0), 0.999999)); }

void tp_target_free(tp_target *t) {
    hq_free(t->adj);
    hq_free(t->dist);
    hq_free(t->dw);
    hq_free(t->w2);
    hq_free(t->w1);
    hq_free(t->wro);
    memset(t, 0, sizeof *t);
}

hq_status tp_target_init(tp_target *t, const hq_device *d) {
    memset(t, 0, sizeof *t);
    int n = d->n_qubits;
    size_t nn = (size_t)n * (size_t)n;
    t->n = n;
    t->adj = hq_calloc(nn, 1);
    t->dist = hq_malloc(nn * sizeof *t->dist);
    t->dw = hq_malloc(nn * sizeof *t->dw);
    t->w2 = hq_malloc(nn * sizeof *t->w2);
    t->w1 = hq_malloc((size_t)n * sizeof *t->w1);
    t->wro = hq_malloc((size_t)n * sizeof *t->wro);
    double *tmp = hq_malloc((size_t)(HQ_MAX(n, d->n_edges) + 1) * sizeof *tmp);
    if (!t->adj || !t->dist || !t->dw || !t->w2 || !t->w1 || !t->wro || !tmp) {
        hq_free(tmp);
        tp_target_free(t);
        return hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory for the device model");
    }
    hq_gate g2 = hq_device_two_qubit_gate(d);
    /* 2q errors: median over calibrated edges for the others */
    for (int e = 0; e < d->n_edges; e++) {
        double x = hq_device_gate_error(d, g2, d->edges[e][0], d->edges[e][1]);
        tmp[e] = x < 1 ? x : NAN; /* broken couplers do not set the typical value */
    }
    double med2 = median(tmp, d->n_edges, 0.01);
    for (int e = 0; e < d->n_edges; e++)
        tmp[e] = hq_device_gate_error(d, g2, d->edges[e][0], d->edges[e][1]);
    for (size_t i = 0; i < nn; i++) t->w2[i] = INFINITY;
    for (int e = 0; e < d->n_edges; e++) {
        int a = d->edges[e][0], b = d->edges[e][1];
        double err = isfinite(tmp[e]) ? tmp[e] : med2;
        if (err >= 1) continue; /* broken coupler */
        double w = nlog1m(err);
        size_t ab = (size_t)a * n + b, ba = (size_t)b * n + a;
        t->adj[ab] = t->adj[ba] = 1;
        t->w2[ab] = t->w2[ba] = HQ_MIN(t->w2[ab], w);
    }
    for (int q = 0; q < n; q++) tmp[q] = hq_device_gate_error(d, HQ_GATE_SX, q, -1);
    double med1 = median(tmp, n, 3e-4);
    for (int q = 0; q < n; q++) t->w1[q] = nlog1m(isfinite(tmp[q]) ? tmp[q] : med1);
    for (int q = 0; q < n; q++) tmp[q] = d->qubits[q].readout_error;
    double medr = median(tmp, n, 0.02);
    for (int q = 0; q < n; q++) t->wro[q] = nlog1m(isfinite(tmp[q]) ? tmp[q] : medr);
    hq_free(tmp);

    /* hop distances (BFS) and cheapest paths (Floyd-Warshall; hops * median above 512) */
    int *queue = hq_malloc((size_t)n * sizeof *queue);
    if (!queue) {
        tp_target_free(t);
        return hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory for the device model");
    }
    for (int s = 0; s < n; s++) {
        int *ds = t->dist + (size_t)s * n;
        for (int i = 0; i < n; i++) ds[i] = FAR;
        ds[s] = 0;
        int qh = 0, qt = 0;
        queue[qt++] = s;
        while (qh < qt) {
            int u = queue[qh++];
            for (int v = 0; v < n; v++)
                if (t->adj[(size_t)u * n + v] && ds[v] == FAR) {
                    ds[v] = ds[u] + 1;
                    queue[qt++] = v;
                }
        }
    }
    hq_free(queue);
    double w2med = nlog1m(med2);
    for (size_t i = 0; i < nn; i++)
        t->dw[i] = i % (size_t)(n + 1) == 0 ? 0 : t->adj[i] ? t->w2[i] : INFINITY;
    if (n <= 512) {
        for (int k = 0; k < n; k++)
            for (int i = 0; i < n; i++) {
                double dik = t->dw[(size_t)i * n + k];
                if (!isfinite(dik)) continue;
                double *di = t->dw + (size_t)i * n, *dk = t->dw + (size_t)k * n;
                for (int j = 0; j < n; j++)
                    if (dik + dk[j] < di[j]) di[j] = dik + dk[j];
            }
    } else {
        for (size_t i = 0; i < nn; i++)
            t->dw[i] = t->dist[i] >= FAR ? INFINITY : t->dist[i] * w2med;
    }
    return HQ_OK;
}

/* ==== layout: interaction statistics ==================================================== */

typedef struct lay {
    const tp_target *t;
    int k;           /* logical wires */
    double *inter;   /* (k, k) CX counts, symmetric */
    double *n1, *nm; /* (k) */
    int *tri;        /* (ntri, 3) wires of each CCZ */
    int ntri;
    int *order;    /* (k) wire placement order */
    double *lb;    /* (k + 1) lower bound of the cost of wires order[l..k) given level l */
    int K;         /* layouts kept */
    int *best;     /* (K, k) the best layouts found, wire -> physical, by cost */
    double *topc;  /* (K) their costs, ascending */
    int ntop;      /* layouts kept so far */
    int *cur;      /* (k) current wire -> physical */
    uint8_t *used; /* (n) physical in use */
    int64_t nodes, budget;
    bool stopped; /* budget exhausted */
    /* ESU */
    int *sub;        /* (k) current connected set */
    int *ext;        /* ((k + 1) * n) extension sets per level */
    uint8_t *in_set; /* (n) membership of the current set */
} lay;

static double c2(const tp_target *t, int p, int q) {
    size_t i = (size_t)p * t->n + q;
    if (t->adj[i]) return t->w2[i];
    if (t->dist[i] >= FAR) return 1e9;
    return 3 * t->dw[i] - 2 * t->dw[i] / t->dist[i];
}

/* a CCZ on physical x, y, z: 8 CX along the cheapest path through a middle qubit */
static double c3(const tp_target *t, int x, int y, int z) {
    double a = c2(t, x, y) + c2(t, x, z), b = c2(t, y, x) + c2(t, y, z);
    double c = c2(t, z, x) + c2(t, z, y);
    return 4 * HQ_MIN(HQ_MIN(a, b), c);
}

/* cost increment of placing wire w on physical p given the wires already in cur */
static double inc_cost(const lay *L, int w, int p) {
    const tp_target *t = L->t;
    double c = L->n1[w] * t->w1[p] + L->nm[w] * t->wro[p];
    for (int j = 0; j < L->k; j++)
        if (L->cur[j] >= 0 && L->inter[(size_t)w * L->k + j] > 0)
            c += L->inter[(size_t)w * L->k + j] * c2(t, p, L->cur[j]);
    for (int i = 0; i < L->ntri; i++) {
        const int *r = L->tri + 3 * i;
        int o[2], m = 0;
        for (int k = 0; k < 3; k++)
            if (r[k] != w) o[m < 2 ? m : 1] = r[k], m++;
        if (m != 2 || L->cur[o[0]] < 0 || L->cur[o[1]] < 0) continue;
        c += c3(t, p, L->cur[o[0]], L->cur[o[1]]);
    }
    return c;
}

static double full_cost(const lay *L, const int *map) {
    const tp_target *t = L->t;
    double c = 0;
    for (int i = 0; i < L->k; i++) {
        c += L->n1[i] * t->w1[map[i]] + L->nm[i] * t->wro[map[i]];
        for (int j = i + 1; j < L->k; j++)
            if (L->inter[(size_t)i * L->k + j] > 0)
                c += L->inter[(size_t)i * L->k + j] * c2(t, map[i], map[j]);
    }
    for (int i = 0; i < L->ntri; i++) {
        const int *r = L->tri + 3 * i;
        c += c3(t, map[r[0]], map[r[1]], map[r[2]]);
    }
    return c;
}

/* placement order: heaviest wire first, then the wire most connected to the placed ones */
static void make_order(lay *L) {
    int k = L->k;
    uint8_t placed[4096] = {0};
    for (int l = 0; l < k; l++) {
        int best = -1;
        double bs = -1;
        for (int w = 0; w < k; w++) {
            if (placed[w]) continue;
            double to_placed = 0, tot = 0;
            for (int j = 0; j < k; j++) {
                double x = L->inter[(size_t)w * k + j];
                tot += x;
                if (placed[j]) to_placed += x;
            }
            for (int i = 0; i < L->ntri; i++) {
                const int *r = L->tri + 3 * i;
                if (r[0] != w && r[1] != w && r[2] != w) continue;
                tot += 8;
                for (int j = 0; j < 3; j++)
                    if (r[j] != w && placed[r[j]]) to_placed += 4;
            }
            double s = to_placed * 1e6 + tot;
            if (s > bs) bs = s, best = w;
        }
        placed[best] = 1;
        L->order[l] = best;
    }
}

/* lower bounds per level with the given minimal weights */
static void make_bounds(lay *L, double w1min, double wromin, double w2min) {
    int k = L->k;
    int pos[4096];
    for (int l = 0; l < k; l++) pos[L->order[l]] = l;
    for (int l = 0; l <= k; l++) {
        double b = 0;
        for (int i = 0; i < k; i++) {
            if (pos[i] >= l) b += L->n1[i] * w1min + L->nm[i] * wromin;
            for (int j = i + 1; j < k; j++)
                if (HQ_MAX(pos[i], pos[j]) >= l) b += L->inter[(size_t)i * k + j] * w2min;
        }
        for (int i = 0; i < L->ntri; i++) {
            const int *r = L->tri + 3 * i;
            if (HQ_MAX(HQ_MAX(pos[r[0]], pos[r[1]]), pos[r[2]]) >= l) b += 8 * w2min;
        }
        L->lb[l] = b;
    }
}

/* ==== layout: the K best ================================================================= */

/* prune above this: the K-th best cost once K layouts are known */
static double bound(const lay *L) { return L->ntop < L->K ? INFINITY : L->topc[L->ntop - 1]; }

/* keep L->cur (cost c) among the K best, ignoring duplicates */
static void record(lay *L, double c) {
    int k = L->k;
    if (c >= bound(L)) return;
    for (int i = 0; i < L->ntop; i++)
        if (memcmp(L->best + (size_t)i * k, L->cur, (size_t)k * sizeof *L->cur) == 0) return;
    int pos = L->ntop < L->K ? L->ntop++ : L->ntop - 1;
    while (pos > 0 && L->topc[pos - 1] > c) {
        L->topc[pos] = L->topc[pos - 1];
        memcpy(L->best + (size_t)pos * k, L->best + (size_t)(pos - 1) * k,
               (size_t)k * sizeof *L->best);
        pos--;
    }
    L->topc[pos] = c;
    memcpy(L->best + (size_t)pos * k, L->cur, (size_t)k * sizeof *L->cur);
}

/* ==== layout: greedy upper bound ========================================================= */

static void greedy(lay *L) {
    const tp_target *t = L->t;
    int n = t->n, k = L->k;
    for (int s = 0; s < n; s++) {
        memset(L->used, 0, (size_t)n);
        for (int w = 0; w < k; w++) L->cur[w] = -1;
        double c = 0;
        bool ok = true;
        for (int l = 0; l < k && ok; l++) {
            int w = L->order[l], bp = -1;
            double bc = INFINITY;
            for (int p = 0; p < n; p++) {
                if (L->used[p]) continue;
                if (l == 0 && p != s) continue;
                if (l > 0) { /* adjacent to the placed set */
                    bool adj = false;
                    for (int j = 0; j < k && !adj; j++)
                        adj = L->cur[j] >= 0 && t->adj[(size_t)L->cur[j] * n + p];
                    if (!adj) continue;
                }
                double ic = inc_cost(L, w, p);
                if (ic < bc) bc = ic, bp = p;
            }
            if (bp < 0)
                ok = false;
            else {
                L->cur[w] = bp;
                L->used[bp] = 1;
                c += bc;
            }
        }
        if (ok) record(L, c);
    }
}

/* ==== layout: exact search =============================================================== */

/* assign wires order[l..k) to the unused members of the set sub (k entries) */
static void assign(lay *L, int l, double g) {
    if (L->stopped) return;
    if (++L->nodes > L->budget) {
        L->stopped = true;
        return;
    }
    int k = L->k;
    if (l == k) {
        record(L, g);
        return;
    }
    int w = L->order[l];
    /* children sorted by increment (insertion sort over at most k entries) */
    int cand[LAYOUT_EXACT_MAX];
    double inc[LAYOUT_EXACT_MAX];
    int nc = 0;
    for (int i = 0; i < k; i++) {
        int p = L->sub[i];
        if (L->used[p]) continue;
        double c = inc_cost(L, w, p);
        int j = nc++;
        while (j > 0 && inc[j - 1] > c) {
            inc[j] = inc[j - 1];
            cand[j] = cand[j - 1];
            j--;
        }
        inc[j] = c;
        cand[j] = p;
    }
    for (int i = 0; i < nc; i++) {
        if (g + inc[i] + L->lb[l + 1] >= bound(L)) break;
        L->cur[w] = cand[i];
        L->used[cand[i]] = 1;
        assign(L, l + 1, g + inc[i]);
        L->used[cand[i]] = 0;
        L->cur[w] = -1;
    }
}

/* a connected set is complete: bound it, then search its assignments */
static void visit_set(lay *L) {
    const tp_target *t = L->t;
    int k = L->k, n = t->n;
    double w1min = INFINITY, wromin = INFINITY, w2min = INFINITY;
    for (int i = 0; i < k; i++) {
        int p = L->sub[i];
        w1min = HQ_MIN(w1min, t->w1[p]);
        wromin = HQ_MIN(wromin, t->wro[p]);
        for (int j = i + 1; j < k; j++) w2min = HQ_MIN(w2min, c2(t, p, L->sub[j]));
    }
    if (k == 1) w2min = 0;
    make_bounds(L, w1min, wromin, w2min);
    if (L->lb[0] >= bound(L)) return;
    (void)n;
    assign(L, 0, 0);
}

/* Wernicke's ESU: every connected induced subgraph of size k containing v as its smallest
 * vertex, exactly once. ext (level l) holds the extension candidates. */
static void esu(lay *L, int l, int n_ext, int v) {
    const tp_target *t = L->t;
    int n = t->n, k = L->k;
    if (L->stopped) return;
    if (l == k) {
        visit_set(L);
        return;
    }
    int *ext = L->ext + (size_t)l * n;
    while (n_ext > 0 && !L->stopped) {
        int w = ext[--n_ext];
        int *next = L->ext + (size_t)(l + 1) * n;
        memcpy(next, ext, (size_t)n_ext * sizeof *next);
        int m = n_ext;
        /* exclusive neighbours of w: > v, not in the set, not adjacent to it */
        for (int u = v + 1; u < n; u++) {
            if (!t->adj[(size_t)w * n + u] || L->in_set[u] || u == w) continue;
            bool near = false;
            for (int i = 0; i < l && !near; i++) near = t->adj[(size_t)L->sub[i] * n + u];
            if (!near) next[m++] = u;
        }
        L->sub[l] = w;
        L->in_set[w] = 1;
        esu(L, l + 1, m, v);
        L->in_set[w] = 0;
        if (++L->nodes > L->budget) L->stopped = true;
    }
}

hq_status tp_layout(const tp_prog *p, const tp_target *t, const int *forced, int64_t budget,
                    int max_layouts, int *layouts, int *n_layouts, hq_transpile_stats *st) {
    int k = p->nq, n = t->n;
    if (k > 4096)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "transpile: %d logical qubits, at most 4096", k);
    if (k > n)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "transpile: the circuit has %d qubits but the device only %d", k, n);
    lay L = {0};
    L.t = t;
    L.k = k;
    L.budget = budget > 0 ? budget : 2000000;
    L.K = HQ_MAX(max_layouts, 1);
    *n_layouts = 0;
    L.inter = hq_calloc((size_t)k * k + 1, sizeof *L.inter);
    L.n1 = hq_calloc((size_t)k + 1, sizeof *L.n1);
    L.nm = hq_calloc((size_t)k + 1, sizeof *L.nm);
    L.order = hq_malloc(((size_t)k + 1) * sizeof *L.order);
    L.lb = hq_malloc(((size_t)k + 2) * sizeof *L.lb);
    L.best = hq_malloc(((size_t)k * L.K + 1) * sizeof *L.best);
    L.topc = hq_malloc((size_t)L.K * sizeof *L.topc);
    L.cur = hq_malloc(((size_t)k + 1) * sizeof *L.cur);
    L.used = hq_calloc((size_t)n, 1);
    L.sub = hq_malloc(((size_t)k + 1) * sizeof *L.sub);
    L.in_set = hq_calloc((size_t)n, 1);
    int *wire = hq_malloc(((size_t)k + 1) * sizeof *wire);
    hq_status status = HQ_OK;
    if (!L.inter || !L.n1 || !L.nm || !L.order || !L.lb || !L.best || !L.topc || !L.cur ||
        !L.used || !L.sub || !L.in_set || !wire) {
        status = hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory in the layout search");
        goto done;
    }
    /* statistics over wires (an elided SWAP exchanges which wire a logical qubit is on) */
    for (int i = 0; i < k; i++) wire[i] = i;
    bool any_measure = false;
    for (int64_t i = 0; i < p->n; i++) {
        const tp_op *o = &p->ops[i];
        int a = o->q[0] >= 0 ? wire[o->q[0]] : -1, b = o->q[1] >= 0 ? wire[o->q[1]] : -1;
        switch ((tp_kind)o->kind) {
        case TP_U: L.n1[a] += 2; break;
        case TP_CX:
        case TP_MS:
            L.inter[(size_t)a * k + b] += 1;
            L.inter[(size_t)b * k + a] += 1;
            break;
        case TP_SWAP:
            if (o->cond_creg >= 0) {
                L.inter[(size_t)a * k + b] += 3;
                L.inter[(size_t)b * k + a] += 3;
            } else {
                int x = wire[o->q[0]];
                wire[o->q[0]] = wire[o->q[1]];
                wire[o->q[1]] = x;
            }
            break;
        case TP_CCZ: {
            int *r = hq_realloc(L.tri, (size_t)(L.ntri + 1) * 3 * sizeof *r);
            if (!r) {
                status =
                    hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory in the layout search");
                goto done;
            }
            L.tri = r;
            r += 3 * L.ntri++;
            r[0] = a, r[1] = b, r[2] = wire[o->q[2]];
            break;
        }
        case TP_MEASURE:
            L.nm[a] += 1;
            any_measure = true;
            break;
        default: break;
        }
    }
    if (!any_measure)
        for (int i = 0; i < k; i++) L.nm[i] = 1;

    if (forced) {
        memset(L.used, 0, (size_t)n);
        for (int i = 0; i < k; i++) {
            if (forced[i] < 0 || forced[i] >= n || L.used[forced[i]]) {
                status = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                                  "transpile: forced layout entry %d = %d is out of range [0, "
                                  "%d) or repeated",
                                  i, forced[i], n);
                goto done;
            }
            L.used[forced[i]] = 1;
        }
        memcpy(layouts, forced, (size_t)k * sizeof *layouts);
        *n_layouts = 1;
        st->layout_cost = full_cost(&L, forced);
        st->layout_exact = false;
        goto done;
    }
    make_order(&L);
    for (int w = 0; w < k; w++) L.cur[w] = -1;
    greedy(&L);
    if (L.ntop == 0) {
        status = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "transpile: no connected set of %d usable physical qubits on the device "
                          "(couplers with error 1 are excluded)",
                          k);
        goto done;
    }
    st->layout_exact = false;
    if (k <= LAYOUT_EXACT_MAX) {
        L.ext = hq_malloc(((size_t)k + 1) * n * sizeof *L.ext);
        if (!L.ext) {
            status = hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory in the layout search");
            goto done;
        }
        memset(L.used, 0, (size_t)n);
        for (int w = 0; w < k; w++) L.cur[w] = -1;
        for (int v = 0; v < n && !L.stopped; v++) {
            int m = 0;
            for (int u = v + 1; u < n; u++)
                if (t->adj[(size_t)v * n + u]) L.ext[(size_t)1 * n + m++] = u;
            L.sub[0] = v;
            L.in_set[v] = 1;
            esu(&L, 1, m, v);
            L.in_set[v] = 0;
        }
        st->layout_exact = !L.stopped;
    }
    memcpy(layouts, L.best, (size_t)L.ntop * k * sizeof *layouts);
    *n_layouts = L.ntop;
    st->layout_cost = L.topc[0];
done:
    st->layout_nodes = L.nodes;
    hq_free(L.inter);
    hq_free(L.n1);
    hq_free(L.nm);
    hq_free(L.order);
    hq_free(L.lb);
    hq_free(L.best);
    hq_free(L.topc);
    hq_free(L.cur);
    hq_free(L.used);
    hq_free(L.sub);
    hq_free(L.in_set);
    hq_free(L.ext);
    hq_free(L.tri);
    hq_free(wire);
    return status;
}

/* ==== routing ============================================================================ */

typedef struct dag {
    int64_t n;
    int64_t *succ_off; /* (n + 1) CSR offsets */
    int64_t *succ;     /* successors */
    int32_t *indeg;    /* (n) */
} dag;

static void dag_free(dag *g) {
    hq_free(g->succ_off);
    hq_free(g->succ);
    hq_free(g->indeg);
}

/* final measurements are not routed: they are taken after everything else */
static bool deferred(const tp_op *o) { return o->kind == TP_MEASURE && o->final; }

/* wires: qubits 0..nq-1, and one classical wire nq shared by measurements and conditional
 * operations (keeps their order; stricter than needed, never wrong); none for deferred ops */
static int op_wires(const tp_prog *p, const tp_op *o, int32_t *buf, const int32_t **list) {
    int n = 0;
    *list = buf;
    if (deferred(o)) return 0;
    if (o->kind == TP_BARRIER) {
        *list = p->pool + o->bar_off;
        return o->bar_n;
    }
    buf[n++] = o->q[0];
    if (o->q[1] >= 0) buf[n++] = o->q[1];
    if (o->q[2] >= 0) buf[n++] = o->q[2];
    if (o->kind == TP_MEASURE || o->cond_creg >= 0) buf[n++] = p->nq;
    *list = buf;
    return n;
}

static hq_status dag_build(const tp_prog *p, dag *g) {
    memset(g, 0, sizeof *g);
    int64_t n = p->n;
    g->n = n;
    int64_t *last = hq_malloc(((size_t)p->nq + 1) * sizeof *last);
    int64_t *cnt = hq_calloc((size_t)n + 1, sizeof *cnt);
    g->succ_off = hq_calloc((size_t)n + 1, sizeof *g->succ_off);
    g->indeg = hq_calloc((size_t)n + 1, sizeof *g->indeg);
    if (!last || !cnt || !g->succ_off || !g->indeg) goto oom;
    /* pass 1: count edges (an edge per wire; duplicates between the same pair are fine) */
    for (int i = 0; i <= p->nq; i++) last[i] = -1;
    int64_t ne = 0;
    int32_t buf[4];
    for (int64_t i = 0; i < n; i++) {
        const int32_t *w;
        int nw = op_wires(p, &p->ops[i], buf, &w);
        for (int k = 0; k < nw; k++) {
            if (last[w[k]] >= 0) {
                cnt[last[w[k]]]++;
                g->indeg[i]++;
                ne++;
            }
            last[w[k]] = i;
        }
    }
    g->succ = hq_malloc((size_t)(ne ? ne : 1) * sizeof *g->succ);
    if (!g->succ) goto oom;
    for (int64_t i = 0; i < n; i++) g->succ_off[i + 1] = g->succ_off[i] + cnt[i];
    memset(cnt, 0, ((size_t)n + 1) * sizeof *cnt);
    for (int i = 0; i <= p->nq; i++) last[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        const int32_t *w;
        int nw = op_wires(p, &p->ops[i], buf, &w);
        for (int k = 0; k < nw; k++) {
            int64_t j = last[w[k]];
            if (j >= 0) g->succ[g->succ_off[j] + cnt[j]++] = i;
            last[w[k]] = i;
        }
    }
    hq_free(last);
    hq_free(cnt);
    return HQ_OK;
oom:
    hq_free(last);
    hq_free(cnt);
    dag_free(g);
    return hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory in routing");
}

typedef struct router {
    const tp_prog *in;
    const tp_target *t;
    tp_prog *out;
    int *l2p, *p2l;
    double *decay;
    bool elide;
} router;

static bool is_2q(const tp_op *o) {
    return o->kind == TP_CX || o->kind == TP_SWAP || o->kind == TP_MS || o->kind == TP_CCZ;
}

static bool executable(const router *R, const tp_op *o) {
    if (!is_2q(o)) return true;
    if (o->kind == TP_SWAP && R->elide && o->cond_creg < 0) return true;
    const uint8_t *adj = R->t->adj;
    size_t n = (size_t)R->t->n;
    int a = R->l2p[o->q[0]], b = R->l2p[o->q[1]];
    if (o->kind != TP_CCZ) return adj[a * n + b];
    int c = R->l2p[o->q[2]]; /* a path through the three: two of the pairs coupled */
    return adj[a * n + b] + adj[a * n + c] + adj[b * n + c] >= 2;
}

static void emit(router *R, const tp_op *o) {
    tp_prog *out = R->out;
    if (o->kind == TP_SWAP && R->elide && o->cond_creg < 0) { /* relabel, no gate */
        int a = o->q[0], b = o->q[1];
        int pa = R->l2p[a], pb = R->l2p[b];
        R->l2p[a] = pb;
        R->l2p[b] = pa;
        R->p2l[pa] = b;
        R->p2l[pb] = a;
        return;
    }
    if (o->kind == TP_BARRIER) {
        if (out->npool + o->bar_n > out->cappool) {
            int64_t nc = HQ_MAX(out->cappool * 2, out->npool + o->bar_n + 64);
            int32_t *np_ = hq_realloc(out->pool, (size_t)nc * sizeof *np_);
            if (!np_) {
                out->oom = true;
                return;
            }
            out->pool = np_;
            out->cappool = nc;
        }
        tp_op *b = tp_push(out, TP_BARRIER, -1, -1);
        b->cond_creg = o->cond_creg;
        b->bar_off = (int32_t)out->npool;
        b->bar_n = o->bar_n;
        for (int i = 0; i < o->bar_n; i++)
            out->pool[out->npool++] = R->l2p[R->in->pool[o->bar_off + i]];
        return;
    }
    tp_op *x = tp_push(out, (tp_kind)o->kind, 0, -1);
    int32_t q0 = R->l2p[o->q[0]], q1 = o->q[1] >= 0 ? R->l2p[o->q[1]] : -1;
    int32_t q2 = o->q[2] >= 0 ? R->l2p[o->q[2]] : -1;
    *x = *o;
    x->q[0] = q0;
    x->q[1] = q1;
    x->q[2] = q2;
}

static void apply_swap(router *R, int pa, int pb) {
    tp_push(R->out, TP_SWAP, pa, pb);
    int la = R->p2l[pa], lb = R->p2l[pb];
    R->p2l[pa] = lb;
    R->p2l[pb] = la;
    if (la >= 0) R->l2p[la] = pb;
    if (lb >= 0) R->l2p[lb] = pa;
}

/* 1 when executable, more the farther apart (CCZ: the cheapest path through a middle) */
static int pdist(const router *R, const tp_op *o) {
    const int *D = R->t->dist;
    size_t n = (size_t)R->t->n;
    int a = R->l2p[o->q[0]], b = R->l2p[o->q[1]];
    if (o->kind != TP_CCZ) return D[a * n + b];
    int c = R->l2p[o->q[2]];
    int ab = D[a * n + b], ac = D[a * n + c], bc = D[b * n + c];
    return HQ_MIN(HQ_MIN(ab + ac, ab + bc), ac + bc) - 1;
}

/* swap logical-holding qubit pa step by step towards pb until adjacent to one of targets */
static void walk(router *R, int pa, const int *targets, int nt, int64_t *n_swaps) {
    const tp_target *t = R->t;
    int n = t->n;
    for (;;) {
        int best_t = -1;
        for (int k = 0; k < nt; k++)
            if (best_t < 0 ||
                t->dist[(size_t)pa * n + targets[k]] < t->dist[(size_t)pa * n + targets[best_t]])
                best_t = k;
        int pb = targets[best_t], d = t->dist[(size_t)pa * n + pb];
        if (d <= 1 || d >= FAR) return;
        int nx = -1;
        for (int r = 0; r < n && nx < 0; r++)
            if (t->adj[(size_t)pa * n + r] && t->dist[(size_t)r * n + pb] == d - 1) nx = r;
        if (nx < 0) return;
        apply_swap(R, pa, nx);
        (*n_swaps)++;
        pa = nx;
    }
}

hq_status tp_route(const tp_prog *p, const tp_target *t, int *layout, bool elide_swaps,
                   uint64_t seed, tp_prog *out, int64_t *n_swaps) {
    tp_init(out, t->n);
    *n_swaps = 0;
    dag g;
    hq_status st = dag_build(p, &g);
    if (st) return st;
    int n = t->n;
    router R = {p, t, out, NULL, NULL, NULL, elide_swaps};
    R.l2p = hq_malloc(((size_t)p->nq + 1) * sizeof *R.l2p);
    R.p2l = hq_malloc((size_t)n * sizeof *R.p2l);
    R.decay = hq_malloc((size_t)n * sizeof *R.decay);
    int64_t *front = hq_malloc(((size_t)p->n + 1) * sizeof *front);
    int64_t *ext = hq_malloc(((size_t)p->n + 1) * sizeof *ext);
    uint8_t *seen = hq_calloc((size_t)p->n + 1, 1);
    int32_t *indeg = hq_malloc(((size_t)p->n + 1) * sizeof *indeg);
    if (!R.l2p || !R.p2l || !R.decay || !front || !ext || !seen || !indeg) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory in routing");
        goto done;
    }
    for (int i = 0; i < n; i++) R.p2l[i] = -1, R.decay[i] = 1;
    for (int i = 0; i < p->nq; i++) {
        R.l2p[i] = layout[i];
        R.p2l[layout[i]] = i;
    }
    memcpy(indeg, g.indeg, (size_t)p->n * sizeof *indeg);
    int64_t nf = 0;
    for (int64_t i = 0; i < p->n; i++)
        if (indeg[i] == 0 && !deferred(&p->ops[i])) front[nf++] = i;
    hq_rng rng;
    hq_rng_init(&rng, seed, 0x5ab7e, 0);
    int64_t stall = 0;
    int maxd = 0;
    for (size_t i = 0; i < (size_t)n * n; i++)
        if (t->dist[i] < FAR) maxd = HQ_MAX(maxd, t->dist[i]);
    while (nf > 0) {
        /* execute everything executable */
        bool progress = true;
        while (progress) {
            progress = false;
            for (int64_t f = 0; f < nf; f++) {
                int64_t i = front[f];
                const tp_op *o = &p->ops[i];
                if (!executable(&R, o)) continue;
                emit(&R, o);
                if (is_2q(o)) {
                    stall = 0;
                    for (int q = 0; q < n; q++) R.decay[q] = 1;
                }
                front[f--] = front[--nf];
                for (int64_t s = g.succ_off[i]; s < g.succ_off[i + 1]; s++)
                    if (--indeg[g.succ[s]] == 0) front[nf++] = g.succ[s];
                progress = true;
            }
        }
        if (nf == 0) break;
        /* lookahead: the next 2-qubit gates after the front (BFS over successors) */
        int64_t ne = 0, head = 0;
        for (int64_t f = 0; f < nf; f++) ext[ne++] = front[f], seen[front[f]] = 1;
        int64_t n_look = 0;
        while (head < ne && n_look < 20) {
            int64_t i = ext[head++];
            for (int64_t s = g.succ_off[i]; s < g.succ_off[i + 1]; s++) {
                int64_t j = g.succ[s];
                if (seen[j]) continue;
                seen[j] = 1;
                ext[ne++] = j;
                if (is_2q(&p->ops[j]) && !(p->ops[j].kind == TP_SWAP && elide_swaps)) n_look++;
            }
        }
        for (int64_t e = 0; e < ne; e++) seen[ext[e]] = 0;
        if (stall > 10 + 2 * maxd) {
            /* stall guard: walk the first front gate's qubits together */
            const tp_op *o = &p->ops[front[0]];
            int tb = R.l2p[o->q[1]];
            walk(&R, R.l2p[o->q[0]], &tb, 1, n_swaps);
            if (o->kind == TP_CCZ) {
                int tt[2] = {R.l2p[o->q[0]], R.l2p[o->q[1]]};
                walk(&R, R.l2p[o->q[2]], tt, 2, n_swaps);
            }
            stall = 0;
            continue;
        }
        /* candidate swaps: usable edges at the front gates' physical qubits */
        double best = INFINITY, best_w = INFINITY;
        int ba = -1, bb = -1;
        uint64_t best_tie = 0;
        for (int64_t f = 0; f < nf; f++) {
            const tp_op *o = &p->ops[front[f]];
            if (!is_2q(o)) continue;
            for (int side = 0; side < (o->kind == TP_CCZ ? 3 : 2); side++) {
                int pa = R.l2p[o->q[side]];
                for (int pb = 0; pb < n; pb++) {
                    if (!t->adj[(size_t)pa * n + pb]) continue;
                    /* score with the swap applied */
                    int la = R.p2l[pa], lb = R.p2l[pb];
                    R.p2l[pa] = lb, R.p2l[pb] = la;
                    if (la >= 0) R.l2p[la] = pb;
                    if (lb >= 0) R.l2p[lb] = pa;
                    double fs = 0, es = 0;
                    int fn = 0, en = 0;
                    for (int64_t e = 0; e < ne; e++) {
                        const tp_op *x = &p->ops[ext[e]];
                        if (!is_2q(x) || (x->kind == TP_SWAP && elide_swaps && x->cond_creg < 0))
                            continue;
                        if (e < nf)
                            fs += pdist(&R, x), fn++;
                        else
                            es += pdist(&R, x), en++;
                    }
                    R.p2l[pa] = la, R.p2l[pb] = lb;
                    if (la >= 0) R.l2p[la] = pa;
                    if (lb >= 0) R.l2p[lb] = pb;
                    double h = HQ_MAX(R.decay[pa], R.decay[pb]) *
                               (fs / HQ_MAX(fn, 1) + 0.5 * es / HQ_MAX(en, 1));
                    double w = t->w2[(size_t)pa * n + pb];
                    uint64_t tie = hq_rng_u64(&rng);
                    if (h < best - 1e-12 ||
                        (h < best + 1e-12 &&
                         (w < best_w - 1e-12 || (w < best_w + 1e-12 && tie < best_tie)))) {
                        best = h, best_w = w, ba = pa, bb = pb, best_tie = tie;
                    }
                }
            }
        }
        if (ba < 0) {
            st = hq_failf(NULL, HQ_ERR_INTERNAL, "transpile: routing found no SWAP candidate");
            goto done;
        }
        apply_swap(&R, ba, bb);
        (*n_swaps)++;
        R.decay[ba] += 0.001;
        R.decay[bb] += 0.001;
        stall++;
    }
    /* the final measurements, on the qubits of the final layout */
    for (int64_t i = 0; i < p->n; i++)
        if (deferred(&p->ops[i])) emit(&R, &p->ops[i]);
    for (int i = 0; i < p->nq; i++) layout[i] = R.l2p[i];
    st = tp_status(out, "transpile");
done:
    dag_free(&g);
    hq_free(R.l2p);
    hq_free(R.p2l);
    hq_free(R.decay);
    hq_free(front);
    hq_free(ext);
    hq_free(seen);
    hq_free(indeg);
    return st;
}
