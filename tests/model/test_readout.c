#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "readout.h"
#include "tap.h"
#include "test_util.h"

// Tiny dims: D 5, E 6 (3 maxout pairs), C 4, V 7.
static TapConfig tiny(void) {
    TapConfig c;
    config_default(&c);
    c.F = 3;
    c.n_layers = 1;
    c.H[0] = 2;
    c.pool[0] = 0;
    c.D = 5;
    c.E = 6;
    c.V = 7;
    c.K = 3;
    c.Q = 2;
    return c;
}

typedef struct {
    TapConfig cfg;
    ParamTable t;
    float *w, *g;
    ReadoutParams p;
    ReadoutGrads gp;
    int n;
    float *h, *emb, *ctx, *R; // inputs (n, D) (n, E) (n, C), R (n, V)
    float *pre, *mo, *logits; // (n, E) (n, E/2) (n, V)
} Fix;

static void fix_init(Fix *f, int n, uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->cfg = tiny();
    f->n = n;
    cr_assert_eq(params_layout(&f->cfg, &f->t, NULL), TAP_OK);
    f->w = malloc(f->t.n * sizeof *f->w);
    f->g = calloc(f->t.n, sizeof *f->g);
    tu_fill_normal(f->w, f->t.n, 0.5f, seed);
    readout_params_bind(&f->p, &f->t, f->w);
    readout_grads_bind(&f->gp, &f->t, f->g);
    const int D = f->cfg.D, E = f->cfg.E, C = config_context_dim(&f->cfg), V = f->cfg.V;
    f->h = malloc((size_t)n * D * sizeof(float));
    f->emb = malloc((size_t)n * E * sizeof(float));
    f->ctx = malloc((size_t)n * C * sizeof(float));
    f->R = malloc((size_t)n * V * sizeof(float));
    f->pre = malloc((size_t)n * E * sizeof(float));
    f->mo = malloc((size_t)n * (E / 2) * sizeof(float));
    f->logits = malloc((size_t)n * V * sizeof(float));
    tu_fill_normal(f->h, (size_t)n * D, 1.0f, seed + 1);
    tu_fill_normal(f->emb, (size_t)n * E, 1.0f, seed + 2);
    tu_fill_normal(f->ctx, (size_t)n * C, 1.0f, seed + 3);
    tu_fill_normal(f->R, (size_t)n * V, 1.0f, seed + 4);
}

static void fix_free(Fix *f) {
    free(f->w), free(f->g), free(f->h), free(f->emb), free(f->ctx), free(f->R);
    free(f->pre), free(f->mo), free(f->logits);
    params_free(&f->t);
}

// Kaldi's trace trick: L = Σ R⊙logits, so dlogits = R.
static double fix_loss(void *vp) {
    Fix *f = vp;
    readout_forward(&f->p, &f->cfg, f->h, f->emb, f->ctx, f->n, f->pre, f->mo, f->logits);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)f->n * f->cfg.V; i++)
        s += (double)f->R[i] * (double)f->logits[i];
    return s;
}

Test(readout, backward_matches_central_differences) {
    Fix f;
    fix_init(&f, 5, 11);
    const int D = f.cfg.D, E = f.cfg.E, C = config_context_dim(&f.cfg);
    fix_loss(&f);
    // finite differences are only valid away from maxout's kink
    double gap = INFINITY;
    for (int i = 0; i < f.n * E / 2; i++)
        gap = fmin(gap, fabs((double)(f.pre[2 * i] - f.pre[2 * i + 1])));
    cr_assert_gt(gap, 0.05, "seed gives a near-tie in maxout (gap %g); pick another", gap);

    float *dh = calloc((size_t)f.n * D, sizeof(float)),
          *demb = calloc((size_t)f.n * E, sizeof(float));
    float *dctx = calloc((size_t)f.n * C, sizeof(float));
    float *work = malloc(readout_backward_floats(&f.cfg, f.n) * sizeof(float));
    readout_backward(&f.p, &f.gp, &f.cfg, f.h, f.emb, f.ctx, f.pre, f.mo, f.R, f.n, work, dh, demb,
                     dctx);

    int fails = 0;
    fails += tu_gradcheck("h", f.h, dh, (size_t)f.n * D, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    fails += tu_gradcheck("emb", f.emb, demb, (size_t)f.n * E, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    fails += tu_gradcheck("ctx", f.ctx, dctx, (size_t)f.n * C, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    int checked = 0;
    for (int i = 0; i < f.t.n_tensors; i++) {
        const ParamSpec *s = &f.t.spec[i];
        if (strncmp(s->name, "ff_logit", 8)) continue;
        fails += tu_gradcheck(s->name, f.w + s->offset, f.g + s->offset, s->size, fix_loss, &f,
                              1e-2f, 1e-3, 1e-2, 0);
        checked++;
    }
    cr_assert_eq(checked, 8, "all eight ff_logit_* tensors are checked");
    cr_assert_eq(fails, 0, "%d gradient elements disagree", fails);

    // backward adds: a second call doubles every gradient
    float keep = dh[3], gkeep = f.gp.logit_W[2];
    readout_backward(&f.p, &f.gp, &f.cfg, f.h, f.emb, f.ctx, f.pre, f.mo, f.R, f.n, work, dh, demb,
                     dctx);
    cr_assert_float_eq(dh[3], 2.0f * keep, 1e-6f);
    cr_assert_float_eq(f.gp.logit_W[2], 2.0f * gkeep, 1e-6f);
    free(dh), free(demb), free(dctx), free(work);
    fix_free(&f);
}

Test(readout, forward_is_three_affine_maps_maxout_and_ff_logit) {
    Fix f;
    fix_init(&f, 3, 5);
    const int D = f.cfg.D, E = f.cfg.E, C = config_context_dim(&f.cfg), V = f.cfg.V;
    fix_loss(&f);
    for (int i = 0; i < f.n; i++) {
        double pre[6], mo[3];
        for (int e = 0; e < E; e++) {
            double s = (double)f.p.lstm_b[e] + (double)f.p.prev_b[e] + (double)f.p.ctx_b[e];
            for (int k = 0; k < D; k++) s += (double)f.h[i * D + k] * (double)f.p.lstm_W[k * E + e];
            for (int k = 0; k < E; k++)
                s += (double)f.emb[i * E + k] * (double)f.p.prev_W[k * E + e];
            for (int k = 0; k < C; k++)
                s += (double)f.ctx[i * C + k] * (double)f.p.ctx_W[k * E + e];
            pre[e] = s;
        }
        for (int k = 0; k < E / 2; k++) mo[k] = fmax(pre[2 * k], pre[2 * k + 1]);
        for (int v = 0; v < V; v++) {
            double s = (double)f.p.logit_b[v];
            for (int k = 0; k < E / 2; k++) s += mo[k] * (double)f.p.logit_W[k * V + v];
            cr_assert(fabs(s - (double)f.logits[i * V + v]) < 1e-5, "row %d logit %d: %g vs %g", i,
                      v, s, (double)f.logits[i * V + v]);
        }
    }
    fix_free(&f);
}

Test(readout, softmax_rows_sum_to_one_even_for_huge_logits) {
    float z[2 * 4] = {1000.0f, 999.0f, -5.0f, 0.0f, 0.1f, 0.2f, 0.3f, 0.4f}, p[8];
    readout_softmax(z, 2, 4, p);
    for (int r = 0; r < 2; r++) {
        double s = 0.0;
        for (int v = 0; v < 4; v++) {
            cr_assert(isfinite(p[r * 4 + v]));
            s += (double)p[r * 4 + v];
        }
        cr_assert(fabs(s - 1.0) < 1e-6);
    }
    cr_assert(fabs((double)p[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-6);
    cr_assert(fabs((double)p[5] / (double)p[4] - exp(0.1)) < 1e-5);
}
