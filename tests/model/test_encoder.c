// Bidirectional pooled encoder: shapes and pooled mask, independence of a sequence's valid
// annotations from batch padding, and central differences for x and every encoder tensor
// (found by walking the parameter table) with truncating masks and pooling after two layers.
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "params.h"
#include "tap.h"
#include "test_util.h"

enum { T = 9, B = 2, LEN1 = 5 };

static TapConfig tiny_config(void) {
    TapConfig c;
    config_default(&c);
    c.F = 3;
    c.n_layers = 3;
    c.H[0] = 4;
    c.H[1] = 3;
    c.H[2] = 4;
    c.pool[0] = 0;
    c.pool[1] = 1;
    c.pool[2] = 1;
    c.D = 4;
    c.E = 4;
    c.V = 5;
    c.K = 3;
    c.Q = 2;
    return c;
}

typedef struct {
    TapConfig cfg;
    ParamTable table;
    float *w, *g;
    EncoderParams p;
    EncoderState s;
    float *mem, *scratch;
    float x[T * B * 3], mask[T * B];
    float *R; // (S, B, C)
} Fixture;

static void fixture_init_threads(Fixture *f, int t_len, int b_len, int threads) {
    TapError err;
    f->cfg = tiny_config();
    f->cfg.threads = threads;
    cr_assert(params_layout(&f->cfg, &f->table, &err) == TAP_OK, "%s", err.msg);
    f->w = malloc(f->table.n * sizeof(float));
    f->g = calloc(f->table.n, sizeof(float));
    tu_fill_normal(f->w, f->table.n, 0.5f, 21);
    encoder_params_bind(&f->p, &f->table, f->w, &f->cfg);
    f->mem = malloc(encoder_floats(&f->cfg, t_len, b_len) * sizeof(float));
    f->scratch = malloc(encoder_scratch_floats(&f->cfg, t_len, b_len) * sizeof(float));
    encoder_bind(&f->s, &f->cfg, f->mem, t_len, b_len);
    tu_fill_normal(f->x, T * B * 3, 1.0f, 22);
    for (int t = 0; t < T; t++) {
        f->mask[t * B + 0] = 1.0f;
        f->mask[t * B + 1] = t < LEN1 ? 1.0f : 0.0f;
    }
    size_t nr = (size_t)f->s.S * b_len * f->s.C;
    f->R = malloc(nr * sizeof(float));
    tu_fill_normal(f->R, nr, 1.0f, 23);
}

static void fixture_init(Fixture *f, int t_len, int b_len) { fixture_init_threads(f, t_len, b_len, 1); }

static void fixture_free(Fixture *f) {
    free(f->w);
    free(f->g);
    free(f->mem);
    free(f->scratch);
    free(f->R);
    params_free(&f->table);
}

static double loss_of(void *ctx) {
    Fixture *f = ctx;
    encoder_forward(&f->p, f->x, f->mask, &f->s);
    double L = 0.0;
    size_t n = (size_t)f->s.S * f->s.B * f->s.C;
    for (size_t i = 0; i < n; i++) L += (double)f->R[i] * (double)f->s.ctx[i];
    return L;
}

Test(encoder, pooling_halves_steps_and_mask_like_tap) {
    Fixture f;
    fixture_init(&f, T, B);
    encoder_forward(&f.p, f.x, f.mask, &f.s);
    // 9 -> 9 -> 5 -> 3 steps (h[0::2] keeps ceil(T/2))
    cr_assert_eq(f.s.S, 3);
    cr_assert_eq(f.s.S, config_pooled_len(&f.cfg, T));
    cr_assert_eq(f.s.C, 8);
    // mask[0::2][0::2] = rows 0, 4, 8 of the input mask
    for (int s = 0; s < f.s.S; s++)
        for (int b = 0; b < B; b++) cr_assert_eq(f.s.ctx_mask[s * B + b], f.mask[4 * s * B + b]);
    // ctx = [fwd | bwd] of the last layer at even steps of its (already pooled) input
    const float *hf = gru_output(&f.s.fwd[2]), *hr = gru_output(&f.s.rev[2]);
    for (int s = 0; s < f.s.S; s++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < 4; j++) {
                cr_assert_eq(f.s.ctx[(s * B + b) * 8 + j], hf[((2 * s) * B + b) * 4 + j]);
                cr_assert_eq(f.s.ctx[(s * B + b) * 8 + 4 + j], hr[((2 * s) * B + b) * 4 + j]);
            }
    fixture_free(&f);
}

Test(encoder, padding_does_not_change_the_valid_annotations) {
    Fixture f;
    fixture_init(&f, T, B);
    encoder_forward(&f.p, f.x, f.mask, &f.s);
    // sequence 1 alone: its LEN1 valid steps, batch of one, no mask
    Fixture g;
    fixture_init(&g, LEN1, 1);
    float x1[LEN1 * 3];
    for (int t = 0; t < LEN1; t++) memcpy(x1 + t * 3, f.x + (t * B + 1) * 3, 3 * sizeof(float));
    encoder_forward(&g.p, x1, NULL, &g.s);
    cr_assert(g.s.ctx_mask == NULL);
    for (int s = 0; s < g.s.S; s++)
        for (int j = 0; j < 8; j++) {
            float a = f.s.ctx[(s * B + 1) * 8 + j], e = g.s.ctx[s * 8 + j];
            cr_assert(fabsf(a - e) < 1e-6f, "s=%d j=%d: %g vs %g", s, j, (double)a, (double)e);
        }
    fixture_free(&f);
    fixture_free(&g);
}

static void check_central_differences(int threads) {
    Fixture f;
    fixture_init_threads(&f, T, B, threads);
    encoder_forward(&f.p, f.x, f.mask, &f.s);
    EncoderGrads eg;
    encoder_grads_bind(&eg, &f.table, f.g, &f.cfg);
    float dx[T * B * 3] = {0};
    encoder_backward(&f.p, &f.s, f.x, f.R, f.scratch, &eg, dx);
    int fails = tu_gradcheck("x", f.x, dx, T * B * 3, loss_of, &f, 1e-2f, 1e-3, 1e-2, 0);
    int checked = 0;
    for (int i = 0; i < f.table.n_tensors; i++) {
        const ParamSpec *ps = &f.table.spec[i];
        if (strncmp(ps->name, "encoder", 7) != 0) {
            for (size_t k = 0; k < ps->size; k++)
                cr_assert(f.g[ps->offset + k] == 0.0f, "%s touched", ps->name);
            continue;
        }
        fails += tu_gradcheck(ps->name, f.w + ps->offset, f.g + ps->offset, ps->size, loss_of, &f,
                              1e-2f, 1e-3, 1e-2, 0);
        checked++;
    }
    cr_assert_eq(checked, 3 * 2 * 6);
    cr_assert(fails == 0, "%d gradient mismatches", fails);
    // padded input steps of sequence 1 get no gradient
    for (int t = LEN1; t < T; t++)
        for (int k = 0; k < 3; k++) cr_assert(dx[(t * B + 1) * 3 + k] == 0.0f);
    fixture_free(&f);
}

Test(encoder, backward_matches_central_differences_for_x_and_every_tensor) {
    check_central_differences(1);
}

Test(encoder, backward_on_two_threads_matches_central_differences) { check_central_differences(2); }

// Forward output, every weight gradient and dx of one (T, B) batch at a given thread count.
static void run_once(int threads, int t_len, int b_len, float **ctx, float **g, float **dx) {
    Fixture f;
    fixture_init_threads(&f, t_len, b_len, threads);
    encoder_forward(&f.p, f.x, f.mask, &f.s);
    size_t nc = (size_t)f.s.S * b_len * f.s.C, nx = (size_t)t_len * b_len * 3;
    *ctx = malloc(nc * sizeof(float));
    memcpy(*ctx, f.s.ctx, nc * sizeof(float));
    EncoderGrads eg;
    encoder_grads_bind(&eg, &f.table, f.g, &f.cfg);
    *dx = calloc(nx, sizeof(float));
    encoder_backward(&f.p, &f.s, f.x, f.R, f.scratch, &eg, *dx);
    *g = f.g;
    f.g = NULL;
    fixture_free(&f);
}

Test(encoder, two_threads_give_bit_identical_outputs_and_gradients) {
    Fixture f;
    fixture_init(&f, T, B);
    size_t n = f.table.n, nc = (size_t)f.s.S * B * f.s.C;
    fixture_free(&f);
    float *ctx[2], *g[2], *dx[2];
    openblas_set_num_threads(2);
    run_once(1, T, B, &ctx[0], &g[0], &dx[0]);
    run_once(2, T, B, &ctx[1], &g[1], &dx[1]);
    // the concurrent part runs OpenBLAS at one thread and restores the caller's setting
    cr_assert_eq(openblas_get_num_threads(), 2);
    openblas_set_num_threads(1);
    cr_assert(memcmp(ctx[0], ctx[1], nc * sizeof(float)) == 0, "ctx differs");
    cr_assert(memcmp(g[0], g[1], n * sizeof(float)) == 0, "weight gradients differ");
    cr_assert(memcmp(dx[0], dx[1], (size_t)T * B * 3 * sizeof(float)) == 0, "dx differs");
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += g[0][i] != 0.0f;
    cr_assert(nonzero > 0);
    for (int k = 0; k < 2; k++) free(ctx[k]), free(g[k]), free(dx[k]);
}

Test(encoder, backward_adds_into_existing_gradients) {
    Fixture f;
    fixture_init(&f, T, B);
    encoder_forward(&f.p, f.x, f.mask, &f.s);
    EncoderGrads eg;
    encoder_grads_bind(&eg, &f.table, f.g, &f.cfg);
    encoder_backward(&f.p, &f.s, f.x, f.R, f.scratch, &eg, NULL);
    float *once = malloc(f.table.n * sizeof(float));
    memcpy(once, f.g, f.table.n * sizeof(float));
    encoder_backward(&f.p, &f.s, f.x, f.R, f.scratch, &eg, NULL);
    for (size_t i = 0; i < f.table.n; i++)
        cr_assert(fabsf(f.g[i] - 2.0f * once[i]) <= 1e-6f * (1 + fabsf(once[i])));
    free(once);
    fixture_free(&f);
}
