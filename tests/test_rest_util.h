/*
 * tests/test_rest_util.h — helpers of the REST backend tests (test_rest_*.c): random
 * logical circuits with scrambled measurements, their exact distribution over classical
 * bits (from the reference simulator, independent of the backends' mapping code), a
 * decoder of IonQ JSON gate lists, fake provider answers computed from what the client
 * actually sent, and distances between counts and distributions.
 */
#ifndef HQ_TEST_REST_UTIL_H
#define HQ_TEST_REST_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "backends/circuit.h"
#include "backends/counts.h"
#include "core/rng.h"

/* A random circuit on n qubits with m classical bits: n_gates gates drawn from h, x, sx,
 * ry, rz, cx, cz, swap (and ccx when n >= 3 and with_ccx), then measurements of a random
 * subset of qubits into random distinct classical bits (at least one; some bits may stay
 * unmeasured when m > 1 and leave_holes). */
hq_circuit *rt_random_circuit(hq_rng *rng, int n, int m, int n_gates, bool with_ccx,
                              bool leave_holes);

/* Exact distribution of the classical bits of c (2^m entries): the unitary part of c from
 * |0..0> (hq_ref_simulate), then the last measurement into each bit; unmeasured bits 0.
 * sym: symbol values or NULL. */
hq_status rt_clbit_probs(const hq_circuit *c, const double *sym, double *probs);

/* Probabilities over qubits (2^n entries, index bit k = qubit k) of c's unitary part. */
hq_status rt_qubit_probs(const hq_circuit *c, const double *sym, double *probs);

/* An IonQ gate list (QIS or native JSON) as a circuit on n qubits. */
hq_status rt_ionq_decode(const cJSON *gates, int n, bool native, hq_circuit **out);

/* max over outcomes of |count/shots - p| (p has 2^m entries, m = c->n_bits). */
double rt_counts_dist(const hq_counts *c, const double *p);

/* The body of request i of a scripted server as parsed JSON (caller frees). */
struct hq_ts_server;
cJSON *rt_request_json(struct hq_ts_server *s, int i);

/* Integer counts summing to shots from probabilities (largest remainder). */
void rt_round_counts(const double *p, int64_t n, int64_t shots, int64_t *out);

#endif /* HQ_TEST_REST_UTIL_H */
