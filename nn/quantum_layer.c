/*
 * nn/quantum_layer.c — the quantum layer slot: (n, q) angles -> (n, 2q) expectation values
 * <Z_i>, <X_i> of a parameterised circuit, with gradients to its weights and inputs.
 *
 * Config: {"type":"quantum", "qubits":4, "layers":2, "circuit":"hqcnn", "backend":"sv"}
 *
 * The implementation runs on the statevector backend's batched shared-weight API; until
 * that backend is part of the build, planning this layer fails with HQ_ERR_UNSUPPORTED.
 */
#include "nn/layer_impl.h"

static hq_status quantum_plan(hq_layer *l, const cJSON *cfg, const nn_plan_ctx *pc) {
    HQ_UNUSED(cfg);
    HQ_UNUSED(pc);
    return nn_failf(l, HQ_ERR_UNSUPPORTED,
                    "the quantum layer needs the statevector backend, which this build does "
                    "not have yet ---> HINT: use the classical ablation (dense 4->8 + tanh)");
}

static hq_status quantum_forward(hq_layer *l, float *y, const float *x, int n,
                                 const hq_pass *pass) {
    HQ_UNUSED(y);
    HQ_UNUSED(x);
    HQ_UNUSED(n);
    HQ_UNUSED(pass);
    return nn_failf(l, HQ_ERR_UNSUPPORTED, "quantum layer not available");
}

static hq_status quantum_backward(hq_layer *l, float *dx, const float *dy, const float *x,
                                  const float *y, int n) {
    HQ_UNUSED(dx);
    HQ_UNUSED(dy);
    HQ_UNUSED(x);
    HQ_UNUSED(y);
    HQ_UNUSED(n);
    return nn_failf(l, HQ_ERR_UNSUPPORTED, "quantum layer not available");
}

const nn_layer_ops nn_quantum_ops = {
    .type = "quantum",
    .plan = quantum_plan,
    .forward = quantum_forward,
    .backward = quantum_backward,
};
