// The whole model on a tiny config: central differences of the batch-mean cost for every
// parameter tensor (walking the table, failures name tensor and index), with truncating masks,
// pooling and the attention-guidance term; overfitting two expressions with plain SGD; and the
// memory of a TAP-size model for a batch of 8 median expressions.
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "tap.h"
#include "test_util.h"

// A padded batch like TAP's prepare_data: lens_x points and lens_y tokens per sequence, random
// features and tokens, and an alignment giving each token a contiguous run of points.
typedef struct {
    int T, L, B, F;
    float *x, *x_mask, *y_mask, *a, *a_mask;
    int32_t *y;
    ModelBatch mb;
} Batch;

static void batch_make(Batch *b, int F, int V, const int *lens_x, const int *lens_y, int B,
                       uint64_t seed) {
    TapRng r;
    rng_seed(&r, seed);
    int mx = 0, my = 0;
    for (int i = 0; i < B; i++) {
        mx = lens_x[i] > mx ? lens_x[i] : mx;
        my = lens_y[i] > my ? lens_y[i] : my;
    }
    b->T = mx + 1;
    b->L = my + 1;
    b->B = B;
    b->F = F;
    const int T = b->T, L = b->L;
    b->x = calloc((size_t)T * B * F, sizeof(float));
    b->x_mask = calloc((size_t)T * B, sizeof(float));
    b->y = calloc((size_t)L * B, sizeof(int32_t));
    b->y_mask = calloc((size_t)L * B, sizeof(float));
    b->a = calloc((size_t)T * B * L, sizeof(float));
    b->a_mask = calloc((size_t)T * B * L, sizeof(float));
    for (int i = 0; i < B; i++) {
        int lx = lens_x[i], ly = lens_y[i];
        for (int t = 0; t < lx; t++)
            for (int k = 0; k < F; k++) b->x[((size_t)t * B + i) * F + k] = (float)rng_normal(&r);
        for (int t = 0; t <= lx; t++) b->x_mask[t * B + i] = 1.0f;
        for (int t = 0; t < ly; t++)
            b->y[t * B + i] = 1 + (int32_t)rng_below(&r, (uint64_t)(V - 1));
        for (int t = 0; t <= ly; t++) b->y_mask[t * B + i] = 1.0f;
        for (int j = 0; j < ly; j++) {
            int s = j * lx / ly, e = (j + 1) * lx / ly;
            if (e <= s) e = s + 1;
            for (int t = s; t < e && t < lx; t++) b->a[((size_t)t * B + i) * L + j] = 1.0f;
        }
        for (int t = 0; t <= lx; t++)
            for (int j = 0; j <= ly; j++) b->a_mask[((size_t)t * B + i) * L + j] = 1.0f;
    }
    b->mb = (ModelBatch){T, L, B, b->x, b->x_mask, b->y, b->y_mask, b->a, b->a_mask};
}

static void batch_free(Batch *b) {
    free(b->x);
    free(b->x_mask);
    free(b->y);
    free(b->y_mask);
    free(b->a);
    free(b->a_mask);
}

static TapConfig tiny_config(void) {
    TapConfig c;
    config_default(&c);
    c.F = 3;
    c.n_layers = 2;
    c.H[0] = 3;
    c.H[1] = 4;
    c.pool[0] = 1;
    c.pool[1] = 1;
    c.D = 4;
    c.E = 4;
    c.V = 6;
    c.K = 3;
    c.Q = 2;
    c.gamma = 0.5f;
    return c;
}

typedef struct {
    TapModel *m;
    const ModelBatch *b;
} LossCtx;

static double mean_loss(void *ctx) {
    LossCtx *l = ctx;
    double mean = 0.0;
    TapError err;
    int rc = model_loss(l->m, l->b, NULL, &mean, &err);
    cr_assert(rc == TAP_OK, "%s", err.msg);
    return mean;
}

static void check_whole_model(int gate, int with_alignment) {
    TapConfig c = tiny_config();
    c.gate = gate;
    const int lens_x[] = {8, 5}, lens_y[] = {3, 2};
    Batch b;
    batch_make(&b, c.F, c.V, lens_x, lens_y, 2, 41);
    if (!with_alignment) b.mb.a = b.mb.a_mask = NULL;
    TapModel m;
    TapError err;
    cr_assert(model_init(&m, &c, b.T, b.L, b.B, 7, &err) == TAP_OK, "%s", err.msg);
    // TAP's 0.01-scale init makes most gradients vanish; a wider draw exercises every path.
    tu_fill_normal(m.w, m.table.n, 0.3f, 42);
    double mean;
    cr_assert(model_loss(&m, &b.mb, NULL, &mean, &err) == TAP_OK, "%s", err.msg);
    model_backward(&m);
    float *g = malloc(m.table.n * sizeof(float));
    memcpy(g, m.g, m.table.n * sizeof(float));
    LossCtx l = {&m, &b.mb};
    int fails = 0;
    for (int i = 0; i < m.table.n_tensors; i++) {
        const ParamSpec *p = &m.table.spec[i];
        fails += tu_gradcheck(p->name, m.w + p->offset, g + p->offset, p->size, mean_loss, &l,
                              1e-2f, 1e-3, 1e-2, 0);
    }
    cr_assert(fails == 0, "%d mismatches over %zu parameters (gate=%d, alignment=%d)", fails,
              m.table.n, gate, with_alignment);
    free(g);
    model_free(&m);
    batch_free(&b);
}

Test(model, gradient_of_every_parameter_matches_central_differences) { check_whole_model(1, 1); }

Test(model, gradient_without_gate_or_alignment_matches_central_differences) {
    check_whole_model(0, 0);
}

// The thread count is a run-time setting on the config (m.cfg.threads); 2 threads run the
// encoder's directions and the decoder's two halves of the batch concurrently and must not
// change a single bit of the cost or gradient (B = 3: halves of 2 and 1 rows).
Test(model, two_threads_give_the_same_cost_and_gradient_bit_for_bit) {
    TapConfig c = tiny_config();
    c.H[0] = 24; // wide enough for sgemm (not sgemv) paths in both directions
    c.H[1] = 20;
    const int lens_x[] = {40, 27, 33}, lens_y[] = {6, 4, 5};
    Batch b;
    batch_make(&b, c.F, c.V, lens_x, lens_y, 3, 43);
    TapModel m;
    TapError err;
    cr_assert(model_init(&m, &c, b.T, b.L, b.B, 9, &err) == TAP_OK, "%s", err.msg);
    tu_fill_normal(m.w, m.table.n, 0.3f, 44);
    double cost[2];
    float *g[2];
    for (int k = 0; k < 2; k++) {
        m.cfg.threads = k + 1;
        cr_assert(model_loss(&m, &b.mb, NULL, &cost[k], &err) == TAP_OK, "%s", err.msg);
        model_backward(&m);
        g[k] = malloc(m.table.n * sizeof(float));
        memcpy(g[k], m.g, m.table.n * sizeof(float));
    }
    cr_assert(cost[0] == cost[1], "cost %.17g vs %.17g", cost[0], cost[1]);
    cr_assert(memcmp(g[0], g[1], m.table.n * sizeof(float)) == 0, "gradients differ");
    free(g[0]);
    free(g[1]);
    model_free(&m);
    batch_free(&b);
}

Test(model, fresh_tap_model_predicts_nearly_uniform_tokens) {
    TapConfig c;
    config_default(&c);
    const int lens_x[] = {40, 25}, lens_y[] = {5, 3};
    Batch b;
    batch_make(&b, c.F, c.V, lens_x, lens_y, 2, 43);
    b.mb.a = b.mb.a_mask = NULL;
    TapModel m;
    TapError err;
    cr_assert(model_init(&m, &c, b.T, b.L, b.B, 1234, &err) == TAP_OK, "%s", err.msg);
    double cost[2], mean;
    cr_assert(model_loss(&m, &b.mb, cost, &mean, &err) == TAP_OK, "%s", err.msg);
    // TAP's init gives near-zero logits: each of len+1 tokens costs about log V.
    for (int i = 0; i < 2; i++) {
        double expect = (lens_y[i] + 1) * log((double)c.V);
        cr_assert(fabs(cost[i] - expect) < 0.01 * expect, "seq %d: cost %g, expected about %g", i,
                  cost[i], expect);
    }
    cr_assert(fabs(mean - 0.5 * (cost[0] + cost[1])) < 1e-9);
    model_free(&m);
    batch_free(&b);
}

Test(model, batches_beyond_the_limits_or_malformed_are_rejected) {
    TapConfig c = tiny_config();
    const int lens_x[] = {8, 5}, lens_y[] = {3, 2};
    Batch b;
    batch_make(&b, c.F, c.V, lens_x, lens_y, 2, 44);
    TapModel m;
    TapError err;
    cr_assert(model_init(&m, &c, b.T - 1, b.L, b.B, 7, &err) == TAP_OK);
    double mean;
    cr_assert(model_loss(&m, &b.mb, NULL, &mean, &err) == TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "limits"), "%s", err.msg);
    model_free(&m);
    cr_assert(model_init(&m, &c, b.T, b.L, b.B, 7, &err) == TAP_OK);
    b.y[1] = c.V;
    cr_assert(model_loss(&m, &b.mb, NULL, &mean, &err) == TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "token"), "%s", err.msg);
    b.y[1] = 0;
    for (int t = 0; t < b.T; t++) b.x_mask[t * 2 + 1] = 0.0f;
    cr_assert(model_loss(&m, &b.mb, NULL, &mean, &err) == TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "no valid frame"), "%s", err.msg);
    model_free(&m);
    batch_free(&b);
}

Test(model, plain_sgd_overfits_two_expressions) {
    TapConfig c;
    config_default(&c);
    c.n_layers = 2;
    c.H[0] = c.H[1] = 16;
    c.pool[0] = c.pool[1] = 1;
    c.D = 16;
    c.E = 16;
    c.V = 12;
    c.K = 5;
    c.Q = 8;
    const int lens_x[] = {30, 22}, lens_y[] = {6, 4};
    Batch b;
    batch_make(&b, c.F, c.V, lens_x, lens_y, 2, 45);
    b.mb.a = b.mb.a_mask = NULL; // the guidance term's minimum is the alignment's entropy, not 0
    TapModel m;
    TapError err;
    cr_assert(model_init(&m, &c, b.T, b.L, b.B, 11, &err) == TAP_OK, "%s", err.msg);
    double first = 0, mean = 0;
    const float lr = 0.5f;
    int step;
    for (step = 0; step < 2000; step++) {
        cr_assert(model_loss(&m, &b.mb, NULL, &mean, &err) == TAP_OK, "%s", err.msg);
        if (step == 0) first = mean;
        if (mean < 0.05) break;
        model_backward(&m);
        double n2 = 0;
        for (size_t i = 0; i < m.table.n; i++) n2 += (double)m.g[i] * (double)m.g[i];
        float scale = n2 > 1.0 ? (float)(1.0 / sqrt(n2)) : 1.0f; // clip the global norm at 1
        for (size_t i = 0; i < m.table.n; i++) m.w[i] -= lr * scale * m.g[i];
    }
    cr_log_info("overfit: cost %.4f -> %.4f in %d steps", first, mean, step);
    cr_assert(mean < 0.05, "cost only fell from %g to %g", first, mean);
    model_free(&m);
    batch_free(&b);
}

Test(model, tap_size_batch_of_eight_median_expressions_fits_in_300_mb) {
    TapConfig c;
    config_default(&c);
    int lens_x[8], lens_y[8];
    for (int i = 0; i < 8; i++) {
        lens_x[i] = 233 - 3 * i; // the longest is the median, 233 points
        lens_y[i] = 13 - (i % 3);
    }
    Batch b;
    batch_make(&b, c.F, c.V, lens_x, lens_y, 8, 46);
    TapModel m;
    TapError err;
    cr_assert(model_init(&m, &c, b.T, b.L, b.B, 1234, &err) == TAP_OK, "%s", err.msg);
    double mean;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert(model_loss(&m, &b.mb, NULL, &mean, &err) == TAP_OK, "%s", err.msg);
    model_backward(&m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double mb = (double)model_memory_bytes(&m) / (1024.0 * 1024.0);
    cr_log_info("TAP size, B=8 T=%d L=%d: %zu parameters, weights+grads %.1f MB, arena %.1f MB "
                "(peak used %.1f MB), "
                "total %.1f MB; forward+backward %.2f s",
                b.T, b.L, m.table.n, 2.0 * (double)m.table.n * 4 / 1048576.0,
                (double)m.arena.cap * 4 / 1048576.0, (double)m.arena.peak * 4 / 1048576.0, mb,
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    cr_assert(mb < 300.0, "model holds %.1f MB", mb);
    double n2 = 0;
    for (size_t i = 0; i < m.table.n; i++) n2 += (double)m.g[i] * (double)m.g[i];
    cr_assert(isfinite(n2) && n2 > 0.0);
    model_free(&m);
    batch_free(&b);
}
