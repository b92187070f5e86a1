/*
 * backends/noise_device.c — a noise model from a device description (IBM calibration
 * data): thermal relaxation over each gate's duration plus a depolarizing channel chosen
 * so the noisy gate's average gate infidelity equals the calibrated gate_error, and
 * readout errors from prob_meas*. The rules are listed at hq_noise_from_device in noise.h
 * and, with formulas, in docs/noise.md. Reads the public hq_device struct only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/noise_impl.h"

#define WHO "hq_noise_from_device"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n) (reordered), NAN if n == 0. */
static double median(double *v, int n) {
    if (n == 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double clean_time(double t) { return isfinite(t) && t > 0 ? t : INFINITY; }

/* The device's calibration of 1-qubit gate g on q (first listed), or NULL. */
static const hq_device_gate *find_1q(const hq_device *d, hq_gate g, int q) {
    for (int i = 0; i < d->n_gates; i++)
        if (d->gates[i].gate == g && d->gates[i].nq == 1 && d->gates[i].q[0] == q)
            return &d->gates[i];
    return NULL;
}

static bool lists_gate(const hq_device *d, hq_gate g) {
    for (int i = 0; i < d->n_gates; i++)
        if (d->gates[i].gate == g) return true;
    return false;
}

static double err_of(const hq_device_gate *g, int k) {
    double e = isnan(g->error) ? 0 : g->error;
    return fmin(fmax(e, 0), noise_max_error(k));
}

static double len_of(const hq_device_gate *g) {
    return isfinite(g->length_ns) && g->length_ns > 0 ? g->length_ns : 0;
}

/* The device's native 2-qubit gate: first of ecr, cz, cx in its basis (else in its gate
 * list), HQ_GATE_COUNT if none. */
static hq_gate native_2q(const hq_device *d) {
    static const hq_gate pref[3] = {HQ_GATE_ECR, HQ_GATE_CZ, HQ_GATE_CX};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < d->n_basis; i++)
            if (d->basis[i] == pref[p]) return pref[p];
    for (int p = 0; p < 3; p++)
        if (lists_gate(d, pref[p])) return pref[p];
    return HQ_GATE_COUNT;
}

hq_status hq_noise_from_device(const hq_device *d, hq_noise_model **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", WHO);
    *out = NULL;
    if (!d) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: device is NULL", WHO);
    if (d->n_qubits < 1 || d->n_qubits > HQ_NOISE_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: device '%s' has %d qubits, expected 1 to %d",
                        WHO, d->name, d->n_qubits, HQ_NOISE_MAX_QUBITS);
    if (!d->qubits || (d->n_gates > 0 && !d->gates) || d->n_gates < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: device '%s' has no qubit or gate arrays (build it with "
                        "hq_device_create or hq_device_load_ibm)",
                        WHO, d->name);
    hq_noise_model *m;
    hq_status st = hq_noise_create(d->n_qubits, &m);
    if (st) return st;
    double *buf1 = hq_malloc((size_t)(d->n_qubits + d->n_gates + 1) * 2 * sizeof *buf1);
    if (!buf1) {
        hq_noise_free(m);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", WHO);
    }
    double *buf2 = buf1 + d->n_qubits + d->n_gates + 1;
    char name[128];
    snprintf(name, sizeof name, "%s%s%s", d->name, d->calibration_id[0] ? " " : "",
             d->calibration_id);
    hq_noise_set_name(m, name);

    /* ---- qubits: T1, T2 (clipped to 2 T1), readout ---- */
    int clipped_t2 = 0;
    for (int q = 0; q < d->n_qubits && !st; q++) {
        const hq_device_qubit *dq = &d->qubits[q];
        hq_noise_qubit v = hq_noise_qubit_unset();
        v.t1_us = clean_time(dq->t1_us);
        v.t2_us = clean_time(dq->t2_us);
        if (v.t2_us > 2 * v.t1_us) {
            if (isfinite(v.t2_us)) clipped_t2++;
            v.t2_us = 2 * v.t1_us;
        }
        v.excited_population = 0;
        double sym = isfinite(dq->readout_error) ? dq->readout_error : 0;
        double p01 = isfinite(dq->prob_meas0_prep1) ? dq->prob_meas0_prep1 : sym;
        double p10 = isfinite(dq->prob_meas1_prep0) ? dq->prob_meas1_prep0 : sym;
        v.prob_meas0_prep1 = fmin(fmax(p01, 0), 1);
        v.prob_meas1_prep0 = fmin(fmax(p10, 0), 1);
        st = noise_set_qubit_ctx(m, q, &v, WHO, "");
    }
    if (clipped_t2) HQ_LOGD("%s: %s: T2 clipped to 2*T1 on %d qubit(s)", WHO, d->name, clipped_t2);

    /* ---- every calibrated gate instance ---- */
    int clipped_err = 0;
    for (int i = 0; i < d->n_gates && !st; i++) {
        const hq_device_gate *g = &d->gates[i];
        const hq_gate_info *gi = hq_gate_get_info(g->gate);
        if (!gi || (gi->kind != HQ_KIND_UNITARY && gi->kind != HQ_KIND_RESET)) continue;
        int k = gi->kind == HQ_KIND_RESET ? 1 : gi->nq;
        if (g->nq != k) continue; /* inconsistent listing: not ours to guess */
        if (!isnan(g->error) && g->error > noise_max_error(k)) clipped_err++;
        hq_noise_gate e = {
            g->gate, k, {g->q[0], k > 1 ? g->q[1] : -1, -1}, err_of(g, k), len_of(g)};
        st = noise_set_gate_ctx(m, &e, WHO, "");
    }
    if (clipped_err)
        HQ_LOGD("%s: %s: %d gate error(s) above d/(d+1) clipped (fully depolarizing)", WHO, d->name,
                clipped_err);

    /* ---- virtual diagonal 1-qubit gates the device does not list ---- */
    static const hq_gate virt[] = {HQ_GATE_RZ, HQ_GATE_Z,   HQ_GATE_S, HQ_GATE_SDG,
                                   HQ_GATE_T,  HQ_GATE_TDG, HQ_GATE_P, HQ_GATE_U1};
    for (size_t i = 0; i < HQ_ARRAY_LEN(virt) && !st; i++) {
        if (lists_gate(d, virt[i])) continue;
        hq_noise_gate e = {virt[i], 0, {-1, -1, -1}, 0, 0};
        st = noise_set_gate_ctx(m, &e, WHO, "");
    }

    /* ---- fallbacks: per qubit from sx (else x), per pair from the native 2q gate ---- */
    int n1 = 0;
    for (int q = 0; q < d->n_qubits && !st; q++) {
        const hq_device_gate *g = find_1q(d, HQ_GATE_SX, q);
        if (!g) g = find_1q(d, HQ_GATE_X, q);
        if (!g) continue;
        hq_noise_gate e = {HQ_NOISE_ANY_GATE, 1, {q, -1, -1}, err_of(g, 1), len_of(g)};
        st = noise_set_gate_ctx(m, &e, WHO, "");
        buf1[n1] = e.error;
        buf2[n1] = e.duration_ns;
        n1++;
    }
    double r1 = NAN, t1 = NAN, r2 = NAN, t2 = NAN;
    if (n1 && !st) {
        r1 = median(buf1, n1);
        t1 = median(buf2, n1);
        st = noise_set_default_gate_ctx(m, 1, r1, t1, WHO, "");
    }
    hq_gate g2 = native_2q(d);
    int n2 = 0;
    for (int i = 0; i < d->n_gates && !st && g2 != HQ_GATE_COUNT; i++) {
        const hq_device_gate *g = &d->gates[i];
        if (g->gate != g2 || g->nq != 2) continue;
        hq_noise_gate e = {HQ_NOISE_ANY_GATE, 2, {g->q[0], g->q[1], -1}, err_of(g, 2), len_of(g)};
        st = noise_set_gate_ctx(m, &e, WHO, "");
        if (e.error < noise_max_error(2)) { /* broken couplers do not set the typical value */
            buf1[n2] = e.error;
            buf2[n2] = e.duration_ns;
            n2++;
        }
    }
    if (n2 && !st) {
        r2 = median(buf1, n2);
        t2 = median(buf2, n2);
        st = noise_set_default_gate_ctx(m, 2, r2, t2, WHO, "");
    }
    if (n2 && !st) {
        /* Toffoli as 6 two-qubit gates + 2 non-virtual 1-qubit gates (H = rz sx rz) */
        double r1v = isnan(r1) ? 0 : r1, t1v = isnan(t1) ? 0 : t1;
        double r3 = 1 - pow(1 - r2, 6) * pow(1 - r1v, 2);
        st = noise_set_default_gate_ctx(m, 3, fmin(r3, noise_max_error(3)), 6 * t2 + 2 * t1v, WHO,
                                        "");
    }
    hq_free(buf1);
    if (st) {
        hq_noise_free(m);
        return st;
    }
    *out = m;
    return HQ_OK;
}
