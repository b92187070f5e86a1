/*
 * tests/test_nn_optim.c — optimizers, schedules and the loss against PyTorch.
 *
 * Reference numbers were produced with PyTorch 1.13 (Debian python3-torch):
 *   p = Parameter(tensor([0.5, -1.25, 2.0, 0.0])); opt = torch.optim.X([p], ...)
 *   three steps with grads (0.1, -0.2, 0.3, -0.4), (0.05, 0.5, -0.25, 0), (-0.3, 0.1, 0.2, 0.7)
 *   CosineAnnealingLR(T_max=10, eta_min=0.001) and StepLR(step_size=3, gamma=0.5) at lr 0.1
 *   F.cross_entropy(logits, labels[, weight=w]) and its gradient
 * (the script is reproduced in docs/nn.md).
 */
#include <math.h>

#include "nn/loss.h"
#include "nn/metrics.h"
#include "nn/optim.h"
#include "tests/hq_test.h"

static const float grads3[3][4] = {
    {0.1f, -0.2f, 0.3f, -0.4f}, {0.05f, 0.5f, -0.25f, 0.0f}, {-0.3f, 0.1f, 0.2f, 0.7f}};

static void check_steps(const char *json, const float want[3][4]) {
    hq_optim *o;
    HQ_REQUIRE_OK(hq_optim_create(json, 4, &o));
    float p[4] = {0.5f, -1.25f, 2.0f, 0.0f};
    for (int s = 0; s < 3; s++) {
        HQ_REQUIRE_OK(hq_optim_step(o, p, grads3[s], hq_optim_lr(o, 0, s)));
        for (int i = 0; i < 4; i++)
            HQ_CHECKF(fabsf(p[i] - want[s][i]) <= 2e-7f * (1 + fabsf(want[s][i])),
                      "%s step %d p[%d] = %.9g, PyTorch %.9g", json, s + 1, i, p[i], want[s][i]);
    }
    HQ_CHECK_EQ_INT(hq_optim_steps(o), 3);
    hq_optim_free(o);
}

HQ_TEST(nn_optim_adam_matches_pytorch) {
    static const float adam[3][4] = {{0.49000001f, -1.24000001f, 1.99000001f, 0.00999999978f},
                                     {0.480678201f, -1.2444222f, 1.98961878f, 0.0167005826f},
                                     {0.48415044f, -1.24895f, 1.98644269f, 0.0137206111f}};
    check_steps("{\"type\":\"adam\",\"lr\":0.01}", adam);
    static const float adam_wd[3][4] = {{0.490000069f, -1.24000001f, 1.99000001f, 0.00999997556f},
                                        {0.480417013f, -1.24183309f, 1.98453081f, 0.0162814893f},
                                        {0.482173771f, -1.24281406f, 1.97702241f, 0.0123677589f}};
    check_steps("{\"type\":\"adam\",\"lr\":0.01,\"weight_decay\":0.1,\"betas\":[0.8,0.99],"
                "\"eps\":1e-6}",
                adam_wd);
    static const float adamw[3][4] = {{0.489500016f, -1.23874998f, 1.98800004f, 0.00999999978f},
                                      {0.479688704f, -1.24193347f, 1.98563087f, 0.016690582f},
                                      {0.482681274f, -1.24521935f, 1.98046923f, 0.0136939194f}};
    check_steps("{\"type\":\"adamw\",\"lr\":0.01,\"weight_decay\":0.1}", adamw);
}

HQ_TEST(nn_optim_sgd_matches_pytorch) {
    static const float mom[3][4] = {{0.489499986f, -1.22874999f, 1.96800005f, 0.0400000028f},
                                    {0.474560499f, -1.25839627f, 1.96223199f, 0.0759600028f},
                                    {0.490640402f, -1.29381955f, 1.9350785f, 0.0382480398f}};
    check_steps("{\"type\":\"sgd\",\"lr\":0.1,\"momentum\":0.9,\"weight_decay\":0.01}", mom);
    static const float nest[3][4] = {{0.481000006f, -1.21200001f, 1.94299996f, 0.0759999976f},
                                     {0.463400006f, -1.29079998f, 1.96619999f, 0.108399995f},
                                     {0.509060025f, -1.33571994f, 1.92657995f, 0.0045599998f}};
    check_steps("{\"type\":\"sgd\",\"lr\":0.1,\"momentum\":0.9,\"nesterov\":true}", nest);
    static const float damp[3][4] = {{0.49000001f, -1.23000002f, 1.97000003f, 0.0400000028f},
                                     {0.4815f, -1.255f, 1.97250009f, 0.0600000024f},
                                     {0.498250008f, -1.27450001f, 1.95975006f, 0.0210000034f}};
    check_steps("{\"type\":\"sgd\",\"lr\":0.1,\"momentum\":0.5,\"dampening\":0.3}", damp);
    static const float plain[3][4] = {{0.49000001f, -1.23000002f, 1.97000003f, 0.0400000028f},
                                      {0.485000014f, -1.27999997f, 1.995f, 0.0400000028f},
                                      {0.515000045f, -1.28999996f, 1.97500002f, -0.0299999975f}};
    check_steps("{\"type\":\"sgd\",\"lr\":0.1}", plain);
}

HQ_TEST(nn_optim_schedules_match_pytorch) {
    static const double cosine[12] = {
        0.1,    0.0975772975566, 0.0905463412216, 0.0795953699885, 0.0657963412216,
        0.0505, 0.0352036587784, 0.0214046300115, 0.0104536587784, 0.00342270244339,
        0.001,  0.00342270244339};
    hq_optim *o;
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"sgd\",\"lr\":0.1,\"schedule\":{\"type\":\"cosine\","
                                  "\"t_max\":10,\"eta_min\":0.001}}",
                                  1, &o));
    for (int e = 0; e < 12; e++) HQ_CHECK_NEAR(hq_optim_lr(o, e, 1000 + e), cosine[e], 1e-12);
    hq_optim_free(o);
    static const double step[8] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025};
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"sgd\",\"lr\":0.1,\"schedule\":{\"type\":\"step\","
                                  "\"step_size\":3,\"gamma\":0.5,\"unit\":\"step\"}}",
                                  1, &o));
    for (int s = 0; s < 8; s++) HQ_CHECK_NEAR(hq_optim_lr(o, 99, s), step[s], 1e-15);
    hq_optim_free(o);
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adam\",\"lr\":0.003}", 1, &o));
    HQ_CHECK(hq_optim_lr(o, 50, 5000) == 0.003);
    HQ_CHECK_STR(hq_optim_type(o), "adam");
    HQ_CHECK(strstr(hq_optim_config(o), "\"lr\":0.003") != NULL);
    hq_optim_free(o);
}

HQ_TEST(nn_optim_state_and_errors) {
    hq_optim *o = NULL;
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"rmsprop\"}", 4, &o), HQ_ERR_INVALID_ARG,
                   "\"type\" \"rmsprop\" unknown (adam, adamw, sgd)");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"adam\",\"momentum\":0.9}", 4, &o),
                   HQ_ERR_INVALID_ARG, "unknown adam option \"momentum\"");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"adam\",\"lr\":-1}", 4, &o), HQ_ERR_INVALID_ARG,
                   "\"lr\" must be a number in [0, 1e+06]");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"adam\",\"betas\":[0.9,1.0]}", 4, &o),
                   HQ_ERR_INVALID_ARG, "betas (0.9, 1) out of range [0, 1)");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"sgd\",\"nesterov\":true}", 4, &o),
                   HQ_ERR_INVALID_ARG, "Nesterov momentum requires momentum > 0");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"sgd\",\"schedule\":{\"type\":\"cosine\"}}", 4, &o),
                   HQ_ERR_INVALID_ARG, "cosine schedule needs \"t_max\"");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"sgd\",\"schedule\":{\"type\":\"step\","
                                   "\"step_size\":2,\"unit\":\"batch\"}}",
                                   4, &o),
                   HQ_ERR_INVALID_ARG, "\"unit\" must be \"epoch\" or \"step\"");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"sgd\",\"schedule\":{\"type\":\"linear\"}}", 4, &o),
                   HQ_ERR_INVALID_ARG, "\"linear\" unknown (constant, step, cosine)");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":", 4, &o), HQ_ERR_PARSE, "invalid JSON");
    HQ_CHECK_FAILS(hq_optim_create("{\"type\":\"sgd\"}", 0, &o), HQ_ERR_INVALID_ARG,
                   "0 parameters out of range");
    HQ_CHECK(o == NULL);
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"adam\"}", 4, &o));
    HQ_CHECK_EQ_INT(hq_optim_n_state(o), 2);
    const char *name;
    float *data;
    HQ_CHECK_OK(hq_optim_state(o, 1, &name, &data));
    HQ_CHECK_STR(name, "exp_avg_sq");
    HQ_CHECK_FAILS(hq_optim_state(o, 2, &name, &data), HQ_ERR_INVALID_ARG, "index 2 out of range");
    float p[4] = {0}, g[4] = {0};
    HQ_CHECK_FAILS(hq_optim_step(o, p, g, NAN), HQ_ERR_INVALID_ARG, "learning rate nan");
    HQ_CHECK_FAILS(hq_optim_step(o, NULL, g, 0.1), HQ_ERR_INVALID_ARG, "params or grads is NULL");
    HQ_CHECK_FAILS(hq_optim_set_steps(o, -1), HQ_ERR_INVALID_ARG, "-1 < 0");
    hq_optim_free(o);
    hq_handle dead = {.magic = HQ_MAGIC_DEAD}; /* what a freed optimizer's header holds */
    HQ_CHECK_FAILS(hq_optim_step((hq_optim *)&dead, p, g, 0.1), HQ_ERR_MISUSE, "invalid handle");
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"sgd\"}", 4, &o));
    HQ_CHECK_EQ_INT(hq_optim_n_state(o), 0);
    hq_optim_free(o);
    HQ_REQUIRE_OK(hq_optim_create("{\"type\":\"sgd\",\"momentum\":0.9}", 4, &o));
    HQ_CHECK_OK(hq_optim_state(o, 0, &name, &data));
    HQ_CHECK_STR(name, "momentum_buffer");
    hq_optim_free(o);
    hq_optim_free(NULL);
}

/* ==== loss ============================================================================ */

HQ_TEST(nn_loss_cross_entropy_matches_pytorch) {
    const float logits[12] = {2.0f,  -1.0f, 0.5f, 0.1f, 0.2f, 0.3f,
                              -3.0f, 4.0f,  1.0f, 1.5f, 1.5f, -2.0f};
    const int32_t lab[4] = {0, 2, 1, 1};
    const float w[3] = {0.5f, 2.0f, 1.5f};
    static const float gw[12] = {-0.0178669151f, 0.0032593810f,  0.0146075329f,  0.0751523972f,
                                 0.0830562413f,  -0.1582086533f, 0.0002892938f,  -0.0160841756f,
                                 0.0157949049f,  0.1641876400f,  -0.1691457033f, 0.0049580364f};
    static const float g1[12] = {-0.0536007434f, 0.0097781429f,  0.0438225977f,  0.0751523972f,
                                 0.0830562413f,  -0.1582086533f, 0.0002169703f,  -0.0120631307f,
                                 0.0118461782f,  0.1231407300f,  -0.1268592775f, 0.0037185273f};
    float d[12];
    double loss;
    HQ_REQUIRE_OK(hq_loss_softmax_ce(&loss, d, logits, lab, w, 4, 3));
    HQ_CHECK_NEAR(loss, 0.52312451601, 1e-7);
    for (int i = 0; i < 12; i++) HQ_CHECK_NEAR(d[i], gw[i], 3e-8); /* PyTorch: float */
    HQ_REQUIRE_OK(hq_loss_softmax_ce(&loss, d, logits, lab, NULL, 4, 3));
    HQ_CHECK_NEAR(loss, 0.500210702419, 1e-7);
    for (int i = 0; i < 12; i++) HQ_CHECK_NEAR(d[i], g1[i], 3e-8);
    /* large logits: no overflow */
    const float big[4] = {1000.0f, -1000.0f, -1000.0f, 1000.0f};
    const int32_t l2[2] = {0, 0};
    HQ_REQUIRE_OK(hq_loss_softmax_ce(&loss, NULL, big, l2, NULL, 2, 2));
    HQ_CHECK_NEAR(loss, 1000.0, 1e-9);
    float p[4];
    hq_softmax_rows(p, big, 2, 2);
    HQ_CHECK(p[0] == 1.0f && p[1] == 0.0f && p[3] == 1.0f);
    float q[3] = {0, logf(2.0f), logf(5.0f)};
    hq_softmax_rows(q, q, 1, 3);
    HQ_CHECK_NEAR(q[0], 1.0 / 8, 1e-7);
    HQ_CHECK_NEAR(q[2], 5.0 / 8, 1e-7);
}

HQ_TEST(nn_loss_balanced_weights) {
    /* BreastMNIST's training split: 147 malignant (0), 399 benign/normal (1); sklearn
     * compute_class_weight("balanced") gives 546 / (2 * count) */
    int32_t *lab = hq_malloc(546 * sizeof(int32_t));
    for (int i = 0; i < 546; i++) lab[i] = i < 147 ? 0 : 1;
    float w[3];
    HQ_REQUIRE_OK(hq_loss_balanced_weights(w, lab, 546, 2));
    HQ_CHECK_NEAR(w[0], 546.0 / 294, 1e-6);
    HQ_CHECK_NEAR(w[1], 546.0 / 798, 1e-6);
    HQ_REQUIRE_OK(hq_loss_balanced_weights(w, lab, 546, 3)); /* class 2 absent */
    HQ_CHECK(w[2] == 0.0f);
    HQ_CHECK_NEAR(w[0], 546.0 / 441, 1e-6);
    lab[5] = 7;
    HQ_CHECK_FAILS(hq_loss_balanced_weights(w, lab, 546, 2), HQ_ERR_INVALID_ARG,
                   "label 7 of sample 5 out of range [0, 2)");
    hq_free(lab);
}

HQ_TEST(nn_loss_scores_unweight) {
    /* hand values: (0.6, 0.4) / (2, 0.5) = (0.3, 0.8) -> (3/11, 8/11) */
    float a[2] = {0.6f, 0.4f};
    hq_scores_unweight(a, (const float[]){2.0f, 0.5f}, 1, 2);
    HQ_CHECK_NEAR(a[0], 3.0 / 11, 1e-7);
    HQ_CHECK_NEAR(a[1], 8.0 / 11, 1e-7);
    /* a class of weight 0 gets 0: (0.2, 0.5, 0.3) / (1, 2, 0) -> (0.2, 0.25, 0) / 0.45 */
    float b[6] = {0.2f, 0.5f, 0.3f, 0.0f, 0.0f, 1.0f};
    hq_scores_unweight(b, (const float[]){1.0f, 2.0f, 0.0f}, 2, 3);
    HQ_CHECK_NEAR(b[0], 0.2 / 0.45, 1e-7);
    HQ_CHECK_NEAR(b[1], 0.25 / 0.45, 1e-7);
    HQ_CHECK(b[2] == 0.0f);
    HQ_CHECK(b[3] == 0.0f && b[4] == 0.0f && b[5] == 1.0f); /* no mass left: unchanged */
    /* it inverts the weighted loss's minimiser. For a posterior p and weights w, the
     * expected weighted cross-entropy sum_y p_y w_y (-log s_y) has zero gradient where
     * s = q = w p / sum(w p): the loss of one row per class y with class weights p_y w_y
     * (logits log q) must have gradient rows summing to 0, and unweighting q gives p. */
    const float w[4] = {0.4f, 1.7f, 3.0f, 0.9f};
    for (int t = 0; t < 3; t++) {
        float p[4], q[16], lg[16], d[16], cw[4];
        double z = 0, loss;
        for (int k = 0; k < 4; k++) p[k] = (float)(1 + ((k + 1) * (t + 2)) % 5);
        for (int k = 0; k < 4; k++) z += p[k];
        for (int k = 0; k < 4; k++) p[k] = (float)(p[k] / z);
        z = 0;
        for (int k = 0; k < 4; k++) z += (double)w[k] * p[k];
        for (int k = 0; k < 4; k++) q[k] = (float)(w[k] * p[k] / z), cw[k] = w[k] * p[k];
        for (int r = 0; r < 16; r++) lg[r] = logf(q[r % 4]);
        HQ_REQUIRE_OK(hq_loss_softmax_ce(&loss, d, lg, (const int32_t[]){0, 1, 2, 3}, cw, 4, 4));
        for (int k = 0; k < 4; k++)
            HQ_CHECK_NEAR(d[k] + d[4 + k] + d[8 + k] + d[12 + k], 0.0, 1e-6);
        hq_scores_unweight(q, w, 1, 4);
        for (int k = 0; k < 4; k++) HQ_CHECK_NEAR(q[k], p[k], 1e-6);
    }
    /* binary: the positive score stays in the same order, so the ROC AUC is unchanged */
    enum { N = 40 };
    float sc[2 * N];
    int32_t lab[N];
    for (int i = 0; i < N; i++) {
        float p1 = 0.02f + 0.024f * (float)((i * 17) % N); /* distinct, 0.024 apart */
        sc[2 * i] = 1 - p1, sc[2 * i + 1] = p1;
        lab[i] = (i * 7) % 3 == 0;
    }
    double auc0, auc1;
    HQ_REQUIRE_OK(hq_metrics_auc(HQ_TASK_BINARY, lab, sc, N, 2, &auc0));
    hq_scores_unweight(sc, (const float[]){546.0f / 294, 546.0f / 798}, N, 2);
    HQ_REQUIRE_OK(hq_metrics_auc(HQ_TASK_BINARY, lab, sc, N, 2, &auc1));
    HQ_CHECK(auc0 > 0.1 && auc0 < 0.9);
    HQ_CHECK(auc1 == auc0);
}

HQ_TEST(nn_loss_errors) {
    const float lg[4] = {0, 1, NAN, 0};
    const int32_t lab[2] = {1, 0};
    double loss;
    float d[4];
    HQ_CHECK_FAILS(hq_loss_softmax_ce(&loss, d, lg, (int32_t[]){2, 0}, NULL, 2, 2),
                   HQ_ERR_INVALID_ARG, "label 2 of sample 0 out of range [0, 2)");
    HQ_CHECK_FAILS(hq_loss_softmax_ce(&loss, d, lg, lab, (float[]){-1, 1}, 2, 2),
                   HQ_ERR_INVALID_ARG, "class weight 0 is -1");
    HQ_CHECK_FAILS(hq_loss_softmax_ce(&loss, d, lg, lab, (float[]){0, 0}, 2, 2), HQ_ERR_INVALID_ARG,
                   "every label of the batch has class weight 0");
    HQ_CHECK_FAILS(hq_loss_softmax_ce(&loss, d, lg, lab, NULL, 2, 2), HQ_ERR_INVALID_ARG,
                   "non-finite logits in sample 1");
    HQ_CHECK_FAILS(hq_loss_softmax_ce(&loss, d, lg, lab, NULL, 0, 2), HQ_ERR_INVALID_ARG,
                   "empty batch");
}
