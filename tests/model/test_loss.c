#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "tap.h"
#include "test_util.h"

// Two pooling layers, as TAP: S = ceil(ceil(T/2)/2), kept steps 0, 4, 8, ...
static TapConfig tiny(void) {
    TapConfig c;
    config_default(&c);
    c.n_layers = 3;
    c.H[0] = c.H[1] = c.H[2] = 2;
    c.pool[0] = 0;
    c.pool[1] = c.pool[2] = 1;
    c.V = 5;
    c.gamma = 0.3f;
    return c;
}

Test(loss, alignment_is_pooled_like_the_encoder_and_normalised_over_time) {
    TapConfig cfg = tiny();
    enum { T = 10, B = 2, L = 3 };
    const int S = config_pooled_len(&cfg, T);
    cr_assert_eq(S, 3);
    float a[T * B * L], m[T * B * L], ap[3 * B * L], mp[3 * B * L];
    for (int i = 0; i < T * B * L; i++) {
        a[i] = (float)(i % 7);
        m[i] = (float)(i % 2);
    }
    // column (b = 1, l = 2) is all zero: stays zero, no NaN
    for (int t = 0; t < T; t++) a[(t * B + 1) * L + 2] = 0.0f;
    loss_align_pool(&cfg, a, m, T, B, L, ap, mp);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            double sum = 0.0;
            for (int s = 0; s < S; s++) sum += (double)a[((4 * s) * B + b) * L + l];
            for (int s = 0; s < S; s++) {
                int src = ((4 * s) * B + b) * L + l, dst = (s * B + b) * L + l;
                double want = sum > 0 ? (double)a[src] / sum : 0.0;
                cr_assert(fabs((double)ap[dst] - want) < 1e-6, "a (%d,%d,%d): %g vs %g", s, b, l,
                          (double)ap[dst], want);
                cr_assert_eq(mp[dst], m[src]);
            }
        }
}

typedef struct {
    TapConfig cfg;
    int L, B, S;
    float *logits, *alphas, *a, *am, *y_mask, *dcost;
    int32_t *y;
} Fix;

// L 4, B 3, S 5 with sequences of 4, 2 and 1 tokens (y_mask) and 5, 3, 2 pooled steps (a_mask).
static void fix_init(Fix *f) {
    f->cfg = tiny();
    f->L = 4, f->B = 3, f->S = 5;
    const int L = f->L, B = f->B, S = f->S, V = f->cfg.V;
    const int ly[3] = {4, 2, 1}, lx[3] = {5, 3, 2};
    f->logits = malloc((size_t)L * B * V * sizeof(float));
    f->alphas = malloc((size_t)L * B * S * sizeof(float));
    f->a = calloc((size_t)S * B * L, sizeof(float));
    f->am = calloc((size_t)S * B * L, sizeof(float));
    f->y_mask = calloc((size_t)L * B, sizeof(float));
    f->y = calloc((size_t)L * B, sizeof(int32_t));
    f->dcost = malloc((size_t)B * sizeof(float));
    tu_fill_normal(f->logits, (size_t)L * B * V, 2.0f, 3);
    tu_fill_uniform(f->alphas, (size_t)L * B * S, 0.2f, 1.0f, 4);
    tu_fill_uniform(f->a, (size_t)S * B * L, 0.0f, 1.0f, 5);
    tu_fill_uniform(f->dcost, (size_t)B, 0.5f, 1.5f, 6);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < ly[b]; t++) {
            f->y_mask[t * B + b] = 1.0f;
            f->y[t * B + b] = t == ly[b] - 1 ? 0 : 1 + (t * 3 + b) % (V - 1);
        }
        for (int s = 0; s < lx[b]; s++)
            for (int t = 0; t < ly[b]; t++) f->am[(s * B + b) * L + t] = 1.0f;
    }
}

static void fix_free(Fix *f) {
    free(f->logits), free(f->alphas), free(f->a), free(f->am), free(f->y_mask), free(f->y);
    free(f->dcost);
}

static double fix_loss(void *vp) {
    Fix *f = vp;
    double cost[8];
    loss_forward(&f->cfg, f->logits, f->y, f->y_mask, f->alphas, f->a, f->am, f->L, f->B, f->S,
                 cost, NULL, NULL);
    double s = 0.0;
    for (int b = 0; b < f->B; b++) s += (double)f->dcost[b] * cost[b];
    return s;
}

Test(loss, cost_is_masked_cross_entropy_plus_gamma_times_guidance) {
    Fix f;
    fix_init(&f);
    const int L = f.L, B = f.B, S = f.S, V = f.cfg.V;
    double cost[3], nll[3], att[3];
    loss_forward(&f.cfg, f.logits, f.y, f.y_mask, f.alphas, f.a, f.am, L, B, S, cost, nll, att);
    for (int b = 0; b < B; b++) {
        double ce = 0.0, ca = 0.0;
        for (int t = 0; t < L; t++) {
            if (f.y_mask[t * B + b] == 0.0f) continue;
            double z = 0.0;
            for (int v = 0; v < V; v++) z += exp((double)f.logits[(t * B + b) * V + v]);
            ce -= log(exp((double)f.logits[(t * B + b) * V + f.y[t * B + b]]) / z);
            for (int s = 0; s < S; s++) {
                int i = (s * B + b) * L + t;
                ca -= (double)f.a[i] * log((double)f.alphas[(t * B + b) * S + s] + 1e-20) *
                      (double)f.am[i];
            }
        }
        cr_assert(fabs(nll[b] - ce) < 1e-9 * (1 + fabs(ce)), "nll[%d] %g vs %g", b, nll[b], ce);
        cr_assert(fabs(att[b] - ca) < 1e-9 * (1 + fabs(ca)), "att[%d] %g vs %g", b, att[b], ca);
        cr_assert(fabs(cost[b] - (ce + (double)f.cfg.gamma * ca)) < 1e-9 * (1 + fabs(ce)));
    }
    // without an alignment the guidance term is dropped
    loss_forward(&f.cfg, f.logits, f.y, f.y_mask, NULL, NULL, NULL, L, B, S, cost, NULL, NULL);
    for (int b = 0; b < B; b++) cr_assert(fabs(cost[b] - nll[b]) < 1e-12);
    fix_free(&f);
}

Test(loss, backward_matches_central_differences_for_both_terms) {
    Fix f;
    fix_init(&f);
    const int L = f.L, B = f.B, S = f.S, V = f.cfg.V;
    float *dl = calloc((size_t)L * B * V, sizeof(float)),
          *da = calloc((size_t)L * B * S, sizeof(float));
    loss_backward(&f.cfg, f.logits, f.y, f.y_mask, f.alphas, f.a, f.am, f.dcost, L, B, S, dl, da);
    int fails =
        tu_gradcheck("logits", f.logits, dl, (size_t)L * B * V, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    fails +=
        tu_gradcheck("alphas", f.alphas, da, (size_t)L * B * S, fix_loss, &f, 1e-3f, 1e-3, 1e-2, 0);
    cr_assert_eq(fails, 0);
    // masked positions get exactly zero gradient
    for (int v = 0; v < V; v++) cr_assert_eq(dl[(3 * B + 1) * V + v], 0.0f);
    for (int s = 3; s < S; s++) cr_assert_eq(da[(0 * B + 1) * S + s], 0.0f);
    // and the gradient accumulates
    float keep = dl[0];
    loss_backward(&f.cfg, f.logits, f.y, f.y_mask, f.alphas, f.a, f.am, f.dcost, L, B, S, dl, NULL);
    cr_assert_float_eq(dl[0], 2.0f * keep, 1e-6f);
    free(dl), free(da);
    fix_free(&f);
}

Test(loss, huge_logits_give_a_finite_cost) {
    Fix f;
    fix_init(&f);
    for (int i = 0; i < f.L * f.B * f.cfg.V; i++) f.logits[i] *= 400.0f;
    double cost[3];
    loss_forward(&f.cfg, f.logits, f.y, f.y_mask, f.alphas, f.a, f.am, f.L, f.B, f.S, cost, NULL,
                 NULL);
    for (int b = 0; b < f.B; b++) cr_assert(isfinite(cost[b]) && cost[b] >= 0.0);
    fix_free(&f);
}
