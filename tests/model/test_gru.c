// GRU layer: forward against a naive per-element transcription of TAP's gru_layer, the reverse
// direction against TAP's flip / run / flip-back, and central-difference checks of every input
// and parameter in both directions with masks that truncate a sequence and a nonzero h0.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gru.h"
#include "test_util.h"

enum { T = 5, B = 2, F = 3, H = 4 };

typedef struct {
    float W[F * 2 * H], b[2 * H], U[H * 2 * H], Wx[F * H], bx[H], Ux[H * H];
    float x[T * B * F], mask[T * B], h0[B * H], R[T * B * H];
    int reverse;
    float *cache_mem;
    GruCache cache;
} Fixture;

static GruParams params_of(Fixture *f) {
    return (GruParams){f->W, f->b, f->U, f->Wx, f->bx, f->Ux};
}

static void fixture_init(Fixture *f, int reverse) {
    tu_fill_normal(f->W, F * 2 * H, 0.5f, 1);
    tu_fill_normal(f->b, 2 * H, 0.5f, 2);
    tu_fill_normal(f->U, H * 2 * H, 0.5f, 3);
    tu_fill_normal(f->Wx, F * H, 0.5f, 4);
    tu_fill_normal(f->bx, H, 0.5f, 5);
    tu_fill_normal(f->Ux, H * H, 0.5f, 6);
    tu_fill_normal(f->x, T * B * F, 1.0f, 7);
    tu_fill_normal(f->h0, B * H, 0.5f, 8);
    tu_fill_normal(f->R, T * B * H, 1.0f, 9);
    // sequence 0 is full length, sequence 1 has 3 valid steps (TAP pads at the end)
    for (int t = 0; t < T; t++) {
        f->mask[t * B + 0] = 1.0f;
        f->mask[t * B + 1] = t < 3 ? 1.0f : 0.0f;
    }
    f->reverse = reverse;
    f->cache_mem = malloc(gru_cache_floats(T, B, H) * sizeof(float));
    gru_cache_bind(&f->cache, f->cache_mem, T, B, H);
}

// Naive transcription of nmt.gru_layer for one direction (forward only), in double.
static void naive_gru(const Fixture *f, const float *x, const float *mask, float *out) {
    double h[B][H];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) h[b][j] = f->h0[b * H + j];
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            double pre[2 * H], ux[H], hn[H];
            for (int j = 0; j < 2 * H; j++) {
                pre[j] = f->b[j];
                for (int k = 0; k < F; k++)
                    pre[j] += (double)x[(t * B + b) * F + k] * (double)f->W[k * 2 * H + j];
                for (int k = 0; k < H; k++) pre[j] += h[b][k] * (double)f->U[k * 2 * H + j];
                pre[j] = 1.0 / (1.0 + exp(-pre[j]));
            }
            for (int j = 0; j < H; j++) {
                ux[j] = 0;
                for (int k = 0; k < H; k++) ux[j] += h[b][k] * (double)f->Ux[k * H + j];
                double xx = f->bx[j];
                for (int k = 0; k < F; k++)
                    xx += (double)x[(t * B + b) * F + k] * (double)f->Wx[k * H + j];
                double hc = tanh(ux[j] * pre[j] + xx);
                hn[j] = pre[H + j] * h[b][j] + (1 - pre[H + j]) * hc;
            }
            double m = mask[t * B + b];
            for (int j = 0; j < H; j++) {
                h[b][j] = m * hn[j] + (1 - m) * h[b][j];
                out[(t * B + b) * H + j] = (float)h[b][j];
            }
        }
    }
}

static double loss_of(void *ctx) {
    Fixture *f = ctx;
    GruParams p = params_of(f);
    gru_forward(&p, f->x, f->mask, f->h0, T, B, F, H, f->reverse, &f->cache);
    const float *out = gru_output(&f->cache);
    double L = 0.0;
    for (int i = 0; i < T * B * H; i++) L += (double)f->R[i] * (double)out[i];
    return L;
}

Test(gru, forward_matches_naive_transcription_of_tap) {
    Fixture f;
    fixture_init(&f, 0);
    GruParams p = params_of(&f);
    gru_forward(&p, f.x, f.mask, f.h0, T, B, F, H, 0, &f.cache);
    float ref[T * B * H];
    naive_gru(&f, f.x, f.mask, ref);
    const float *out = gru_output(&f.cache);
    for (int i = 0; i < T * B * H; i++)
        cr_assert(fabsf(out[i] - ref[i]) < 1e-5f, "out[%d] = %g, expected %g", i, (double)out[i],
                  (double)ref[i]);
    // masked steps carry the last valid state of sequence 1 forward unchanged
    for (int t = 3; t < T; t++)
        for (int j = 0; j < H; j++) cr_assert(out[(t * B + 1) * H + j] == out[(2 * B + 1) * H + j]);
    free(f.cache_mem);
}

Test(gru, reverse_equals_flipped_input_flipped_mask_flipped_output) {
    Fixture f;
    fixture_init(&f, 1);
    GruParams p = params_of(&f);
    gru_forward(&p, f.x, f.mask, f.h0, T, B, F, H, 1, &f.cache);
    float xr[T * B * F], mr[T * B], ref[T * B * H];
    for (int t = 0; t < T; t++) {
        memcpy(xr + t * B * F, f.x + (T - 1 - t) * B * F, sizeof(float) * B * F);
        memcpy(mr + t * B, f.mask + (T - 1 - t) * B, sizeof(float) * B);
    }
    naive_gru(&f, xr, mr, ref);
    const float *out = gru_output(&f.cache);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < B * H; i++) {
            float a = out[t * B * H + i], e = ref[(T - 1 - t) * B * H + i];
            cr_assert(fabsf(a - e) < 1e-5f, "t=%d i=%d: %g vs %g", t, i, (double)a, (double)e);
        }
    // the padded tail of sequence 1 is read first with mask 0, so it stays h0 there
    for (int t = 3; t < T; t++)
        for (int j = 0; j < H; j++)
            cr_assert(fabsf(out[(t * B + 1) * H + j] - f.h0[H + j]) < 1e-7f);
    free(f.cache_mem);
}

static void check_all_gradients(int reverse) {
    Fixture f;
    fixture_init(&f, reverse);
    GruParams p = params_of(&f);
    gru_forward(&p, f.x, f.mask, f.h0, T, B, F, H, reverse, &f.cache);
    float dW[F * 2 * H] = {0}, db[2 * H] = {0}, dU[H * 2 * H] = {0}, dWx[F * H] = {0}, dbx[H] = {0},
                     dUx[H * H] = {0}, dx[T * B * F] = {0}, dh0[B * H] = {0};
    // backward adds: seed every gradient with 1 and subtract it afterwards
    float *all[] = {dW, db, dU, dWx, dbx, dUx, dx, dh0};
    size_t sizes[] = {F * 2 * H, 2 * H, H * 2 * H, F * H, H, H * H, T * B * F, B * H};
    for (int k = 0; k < 8; k++)
        for (size_t i = 0; i < sizes[k]; i++) all[k][i] = 1.0f;
    float *scratch = malloc(gru_scratch_floats(T, B, H) * sizeof(float));
    GruGrads g = {dW, db, dU, dWx, dbx, dUx};
    gru_backward(&p, &f.cache, f.x, f.mask, f.R, H, T, B, F, H, scratch, &g, dx, dh0);
    for (int k = 0; k < 8; k++)
        for (size_t i = 0; i < sizes[k]; i++) all[k][i] -= 1.0f;
    const char *names[] = {"W", "b", "U", "Wx", "bx", "Ux", "x", "h0"};
    float *inputs[] = {f.W, f.b, f.U, f.Wx, f.bx, f.Ux, f.x, f.h0};
    int fails = 0;
    for (int k = 0; k < 8; k++)
        fails +=
            tu_gradcheck(names[k], inputs[k], all[k], sizes[k], loss_of, &f, 1e-2f, 1e-3, 1e-2, 0);
    cr_assert(fails == 0, "%d gradient mismatches (reverse=%d)", fails, reverse);
    // inputs of the padded steps of sequence 1 must get exactly zero gradient
    for (int t = 3; t < T; t++)
        for (int k = 0; k < F; k++) cr_assert(dx[(t * B + 1) * F + k] == 0.0f);
    free(scratch);
    free(f.cache_mem);
}

Test(gru, backward_matches_central_differences_forward_direction) { check_all_gradients(0); }

Test(gru, backward_matches_central_differences_reverse_direction) { check_all_gradients(1); }

Test(gru, backward_accepts_null_gradient_outputs) {
    Fixture f;
    fixture_init(&f, 0);
    GruParams p = params_of(&f);
    gru_forward(&p, f.x, NULL, NULL, T, B, F, H, 0, &f.cache);
    float *scratch = malloc(gru_scratch_floats(T, B, H) * sizeof(float));
    float dx[T * B * F] = {0};
    gru_backward(&p, &f.cache, f.x, NULL, f.R, H, T, B, F, H, scratch, NULL, dx, NULL);
    double s = 0;
    for (int i = 0; i < T * B * F; i++) s += fabs((double)dx[i]);
    cr_assert(s > 0.0);
    free(scratch);
    free(f.cache_mem);
}
