#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "tap.h"
#include "test_util.h"
#include "tiny_model.h"

// Tiny dims (tiny_model.h): C 6, D 5, E 4, K 5 (pad 2), Q 3, S 6 annotations.

typedef struct {
    TapConfig cfg;
    ParamTable t;
    float *w, *g;
    AttnParams p;
    AttnGrads gp;
    int S, Bc, n;
    int row[8];
    const int *rowp;
    float *ctx, *mask;                    // (S, Bc, C), (S, Bc)
    float *h_prev, *h1, *yg, *alpha_past; // (n, D) (n, D) (n, C) (n, S)
    float *R_ctx, *R_alpha;               // (n, C), (n, S)
    float *pctx, *kern;                   // (S, Bc, C), (K, C)
    float *stmem, *work;
    AttnStep st;
} Fix;

// n rows over Bc columns; row[] maps rows to columns (NULL: identity or shared column 0);
// column c has len[c] valid annotations.
static void fix_init(Fix *f, int gate, int S, int Bc, int n, const int *row, const int *len,
                     uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->cfg = tiny_model_config(gate);
    f->S = S, f->Bc = Bc, f->n = n;
    if (row) {
        memcpy(f->row, row, (size_t)n * sizeof *row);
        f->rowp = f->row;
    }
    const int C = config_context_dim(&f->cfg), D = f->cfg.D, K = f->cfg.K;
    cr_assert_eq(params_layout(&f->cfg, &f->t, NULL), TAP_OK);
    f->w = fvec(f->t.n);
    f->g = fvec(f->t.n);
    tu_fill_normal(f->w, f->t.n, 0.5f, seed);
    attention_params_bind(&f->p, &f->t, f->w, &f->cfg);
    attention_grads_bind(&f->gp, &f->t, f->g, &f->cfg);
    f->ctx = fvec((size_t)S * Bc * C);
    f->mask = fvec((size_t)S * Bc);
    f->h_prev = fvec((size_t)n * D);
    f->h1 = fvec((size_t)n * D);
    f->yg = fvec((size_t)n * C);
    f->alpha_past = fvec((size_t)n * S);
    f->R_ctx = fvec((size_t)n * C);
    f->R_alpha = fvec((size_t)n * S);
    f->pctx = fvec((size_t)S * Bc * C);
    f->kern = fvec((size_t)K * C);
    tu_fill_normal(f->ctx, (size_t)S * Bc * C, 1.0f, seed + 1);
    tu_fill_normal(f->h_prev, (size_t)n * D, 0.7f, seed + 2);
    tu_fill_normal(f->h1, (size_t)n * D, 0.7f, seed + 3);
    tu_fill_normal(f->yg, (size_t)n * C, 1.0f, seed + 4);
    tu_fill_uniform(f->alpha_past, (size_t)n * S, 0.0f, 1.5f, seed + 5);
    tu_fill_normal(f->R_ctx, (size_t)n * C, 1.0f, seed + 6);
    tu_fill_normal(f->R_alpha, (size_t)n * S, 1.0f, seed + 7);
    for (int s = 0; s < S; s++)
        for (int c = 0; c < Bc; c++) f->mask[s * Bc + c] = s < len[c] ? 1.0f : 0.0f;
    // one stand-alone step's buffers
    size_t per = (size_t)S * C + S + 2 * (size_t)C + (gate ? 4 * (size_t)C + 1 : 0);
    f->stmem = fvec((size_t)n * per);
    float *m = f->stmem;
    f->st.att = m, m += (size_t)S * n * C;
    f->st.alpha = m, m += (size_t)n * S;
    f->st.ctx = m, m += (size_t)n * C;
    f->st.ctx_att = m, m += (size_t)n * C;
    if (gate) {
        f->st.gm = m, m += (size_t)n * C;
        f->st.tm = m, m += (size_t)n * C;
        f->st.mt = m, m += (size_t)n * C;
        f->st.pw = m, m += (size_t)n * C;
        f->st.beta = m;
    }
    size_t wf = attention_work_floats(&f->cfg, S, n), bf = attention_backward_floats(&f->cfg, S, n);
    f->work = fvec(wf > bf ? wf : bf);
}

static void fix_free(Fix *f) {
    free(f->w), free(f->g), free(f->ctx), free(f->mask), free(f->h_prev), free(f->h1), free(f->yg);
    free(f->alpha_past), free(f->R_ctx), free(f->R_alpha), free(f->pctx), free(f->kern);
    free(f->stmem), free(f->work);
    params_free(&f->t);
}

static AttnContext fix_context(const Fix *f) {
    AttnContext cx = {f->ctx, f->pctx, f->kern, f->mask, f->rowp, f->S, f->Bc, 0, NULL, NULL};
    return cx;
}

static void fix_forward(Fix *f) {
    attention_prepare(&f->p, &f->cfg, f->ctx, f->S, f->Bc, f->pctx, f->kern);
    AttnContext cx = fix_context(f);
    attention_forward(&f->p, &f->cfg, &cx, f->h_prev, f->yg, f->h1, f->alpha_past, f->n, &f->st,
                      f->work);
}

// L = Σ R_ctx⊙ctx + Σ R_alpha⊙alpha (Kaldi's trace trick), in double.
static double fix_loss(void *vp) {
    Fix *f = vp;
    fix_forward(f);
    const int C = config_context_dim(&f->cfg);
    double s = 0.0;
    for (int i = 0; i < f->n * C; i++) s += (double)f->R_ctx[i] * (double)f->st.ctx[i];
    for (int i = 0; i < f->n * f->S; i++) s += (double)f->R_alpha[i] * (double)f->st.alpha[i];
    return s;
}

static const char *ATT_NAMES[] = {"decoder_W_comb_att", "decoder_Wc_att",    "decoder_b_att",
                                  "decoder_U_att",      "decoder_c_tt",      "decoder_conv_Q",
                                  "decoder_conv_Uf",    "decoder_conv_b",    "decoder_Whg",
                                  "decoder_bhg",        "decoder_Umg",       "decoder_W_m_att",
                                  "decoder_U_when_att", "decoder_c_when_att"};

// S = 6 annotations meet all K = 5 taps; S = 2 only taps 1..3 (the coverage window).
static void check_gradients(int gate, int S_len) {
    const int row[4] = {0, 2, 2, 1}, len6[3] = {6, 2, 4}, len2[3] = {2, 1, 2};
    Fix f;
    fix_init(&f, gate, S_len, 3, 4, row, S_len == 6 ? len6 : len2, gate ? 100 : 200);
    const int C = config_context_dim(&f.cfg), D = f.cfg.D, K = f.cfg.K, S = f.S, n = f.n, Bc = f.Bc;
    fix_forward(&f);

    float *dh_prev = fvec((size_t)n * D), *dh1 = fvec((size_t)n * D), *dyg = fvec((size_t)n * C);
    float *dap = fvec((size_t)n * S), *dpctx = fvec((size_t)S * Bc * C),
          *dkern = fvec((size_t)K * C);
    float *dctx = fvec((size_t)S * Bc * C);
    float *grm = fvec((size_t)n * (4 * C + 1) + (size_t)S * n);
    AttnStepGrad gr = {grm,
                       grm + n * C,
                       grm + 2 * n * C,
                       grm + 3 * n * C,
                       grm + 3 * n * C + n,
                       grm + 4 * n * C + n};
    AttnContext cx = fix_context(&f);
    attention_backward(&f.p, &f.cfg, &cx, f.alpha_past, n, &f.st, f.R_alpha, f.R_ctx, &gr, f.work,
                       dh_prev, dyg, dh1, dap, dpctx, dkern, dctx);
    attention_backward_weights(&f.gp, &f.cfg, S, n, f.h_prev, f.h1, &f.st, &gr);
    attention_prepare_backward(&f.p, &f.gp, &f.cfg, f.ctx, dpctx, dkern, S, Bc, dctx);

    int fails = 0;
    fails +=
        tu_gradcheck("ctx", f.ctx, dctx, (size_t)S * Bc * C, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    fails += tu_gradcheck("h_prev", f.h_prev, dh_prev, (size_t)n * D, fix_loss, &f, 1e-2f, 1e-3,
                          1e-2, 0);
    fails += tu_gradcheck("h1", f.h1, dh1, (size_t)n * D, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    fails += tu_gradcheck("yg", f.yg, dyg, (size_t)n * C, fix_loss, &f, 1e-2f, 1e-3, 1e-2, 0);
    fails += tu_gradcheck("alpha_past", f.alpha_past, dap, (size_t)n * S, fix_loss, &f, 1e-2f, 1e-3,
                          1e-2, 0);
    int checked = 0;
    for (size_t i = 0; i < sizeof ATT_NAMES / sizeof *ATT_NAMES; i++) {
        int k = params_find(&f.t, ATT_NAMES[i]);
        if (k < 0) {
            cr_assert(!gate && i >= 8, "%s missing", ATT_NAMES[i]);
            continue;
        }
        const ParamSpec *s = &f.t.spec[k];
        fails += tu_gradcheck(s->name, f.w + s->offset, f.g + s->offset, s->size, fix_loss, &f,
                              1e-2f, 1e-3, 1e-2, 0);
        checked++;
    }
    cr_assert_eq(checked, gate ? 14 : 8);
    cr_assert_eq(fails, 0, "%d gradient elements disagree", fails);
    // inputs the gate does not see get no gradient without it
    if (!gate)
        for (int i = 0; i < n * C; i++) cr_assert_eq(dyg[i], 0.0f);
    free(dh_prev), free(dh1), free(dyg), free(dap), free(dpctx), free(dkern), free(dctx), free(grm);
    fix_free(&f);
}

Test(attention, backward_matches_central_differences_with_gate) { check_gradients(1, 6); }

Test(attention, backward_matches_central_differences_without_gate) { check_gradients(0, 6); }

Test(attention, backward_matches_central_differences_with_fewer_annotations_than_taps) {
    check_gradients(1, 2);
}

// TAP's step computed literally in double, as tap_torch.py CondGRU.step writes it: Theano's
// true convolution as torch cross-correlation with the flipped kernel, raw exp() energies.
static void reference_step(const Fix *f, int b, double *alpha, double *ctx_out) {
    const TapConfig *cfg = &f->cfg;
    const int C = config_context_dim(cfg), D = cfg->D, K = cfg->K, Q = cfg->Q, S = f->S, Bc = f->Bc;
    const int col = f->rowp ? f->rowp[b] : (Bc == 1 ? 0 : b), pad = (K - 1) / 2;
    const AttnParams *p = &f->p;
    double pstate[16], e[16], cov[16][16];
    for (int c = 0; c < C; c++) {
        pstate[c] = 0.0;
        for (int d = 0; d < D; d++)
            pstate[c] += (double)f->h1[b * D + d] * (double)p->W_comb_att[d * C + c];
    }
    for (int s = 0; s < S; s++)
        for (int q = 0; q < Q; q++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) { // torch conv1d: out[s] = Σ_k w_flipped[k]·in[s + k - pad]
                int src = s + k - pad;
                if (src >= 0 && src < S)
                    acc +=
                        (double)p->conv_Q[q * K + (K - 1 - k)] * (double)f->alpha_past[b * S + src];
            }
            cov[s][q] = acc;
        }
    double sum = 0.0, msum = 0.0;
    for (int s = 0; s < S; s++) {
        double en = (double)p->c_tt[0];
        for (int c = 0; c < C; c++) {
            double pc = (double)p->b_att[c], cv = (double)p->conv_b[c];
            for (int k = 0; k < C; k++)
                pc += (double)f->ctx[(s * Bc + col) * C + k] * (double)p->Wc_att[k * C + c];
            for (int q = 0; q < Q; q++) cv += cov[s][q] * (double)p->conv_Uf[q * C + c];
            en += tanh(pc + pstate[c] + cv) * (double)p->U_att[c];
        }
        double m = (double)f->mask[s * Bc + col];
        e[s] = exp(en) * m;
        sum += e[s];
        msum += m;
    }
    double alpha_mean = sum / msum;
    for (int s = 0; s < S; s++) alpha[s] = e[s] / sum;
    double ca[16];
    for (int c = 0; c < C; c++) {
        ca[c] = 0.0;
        for (int s = 0; s < S; s++) ca[c] += alpha[s] * (double)f->ctx[(s * Bc + col) * C + c];
        ctx_out[c] = ca[c];
    }
    if (!cfg->gate) return;
    double mt[16], aw = (double)p->c_when_att[0];
    for (int c = 0; c < C; c++) {
        double gpre = (double)p->bhg[c] + (double)f->yg[b * C + c], tpre = 0.0;
        for (int d = 0; d < D; d++) {
            gpre += (double)f->h_prev[b * D + d] * (double)p->Whg[d * C + c];
            tpre += (double)f->h1[b * D + d] * (double)p->Umg[d * C + c];
        }
        mt[c] = tanh(tpre) / (1.0 + exp(-gpre));
    }
    for (int c = 0; c < C; c++) {
        double pw = pstate[c];
        for (int k = 0; k < C; k++) pw += mt[k] * (double)p->W_m_att[k * C + c];
        aw += tanh(pw) * (double)p->U_when_att[c];
    }
    aw = exp(aw);
    double beta = aw / (alpha_mean + aw);
    for (int c = 0; c < C; c++) ctx_out[c] = beta * mt[c] + (1.0 - beta) * ca[c];
}

static void check_reference(int gate, int S_len) {
    const int row[4] = {1, 0, 2, 0}, len6[3] = {3, 6, 5}, len2[3] = {1, 2, 2};
    Fix f;
    fix_init(&f, gate, S_len, 3, 4, row, S_len == 6 ? len6 : len2, 7);
    const int C = config_context_dim(&f.cfg), S = f.S;
    fix_forward(&f);
    for (int b = 0; b < f.n; b++) {
        double alpha[16], ctx[16];
        reference_step(&f, b, alpha, ctx);
        for (int s = 0; s < S; s++)
            cr_assert(fabs(alpha[s] - (double)f.st.alpha[b * S + s]) < 1e-5,
                      "alpha[%d,%d] %g vs %g", b, s, alpha[s], (double)f.st.alpha[b * S + s]);
        for (int c = 0; c < C; c++)
            cr_assert(fabs(ctx[c] - (double)f.st.ctx[b * C + c]) < 1e-5, "ctx[%d,%d] %g vs %g", b,
                      c, ctx[c], (double)f.st.ctx[b * C + c]);
    }
    fix_free(&f);
}

Test(attention, forward_matches_tap_formulas_with_gate) { check_reference(1, 6); }

Test(attention, forward_matches_tap_formulas_without_gate) { check_reference(0, 6); }

Test(attention, forward_matches_tap_formulas_with_fewer_annotations_than_taps) {
    check_reference(1, 2);
}

Test(attention, large_energies_stay_finite_where_raw_exp_would_overflow) {
    const int len[1] = {6};
    Fix f;
    fix_init(&f, 1, 6, 1, 3, NULL, len, 9);
    const int C = config_context_dim(&f.cfg);
    AttnGrads w; // a writable view of the weights
    attention_grads_bind(&w, &f.t, f.w, &f.cfg);
    for (int c = 0; c < C; c++) {
        w.U_att[c] *= 1000.0f; // energies of ~1000: exp() overflows float and double
        w.U_when_att[c] *= 1000.0f;
    }
    fix_forward(&f);
    double emax = 0.0; // the largest |energy| really is beyond exp's range
    for (int i = 0; i < f.S * f.n; i++) {
        double e = (double)f.p.c_tt[0];
        for (int c = 0; c < C; c++) e += (double)f.st.att[i * C + c] * (double)f.p.U_att[c];
        emax = fmax(emax, fabs(e));
    }
    cr_assert_gt(emax, 720.0, "energies reach %g", emax);
    for (int b = 0; b < f.n; b++) {
        double s = 0.0;
        for (int i = 0; i < f.S; i++) {
            cr_assert(isfinite(f.st.alpha[b * f.S + i]));
            s += (double)f.st.alpha[b * f.S + i];
        }
        cr_assert(fabs(s - 1.0) < 1e-5);
        cr_assert(f.st.beta[b] >= 0.0f && f.st.beta[b] <= 1.0f);
        for (int c = 0; c < C; c++) cr_assert(isfinite(f.st.ctx[b * C + c]));
    }
    fix_free(&f);
}

// Beam search: n hypotheses attend to one expression's context (Bc = 1, stride 0) and must
// get exactly what they would get from n copies of that context.
Test(attention, rows_sharing_one_context_column_match_separate_copies) {
    const int len1[1] = {5}, len3[3] = {5, 5, 5};
    Fix sh, cp;
    fix_init(&sh, 1, 6, 1, 3, NULL, len1, 21);
    fix_init(&cp, 1, 6, 3, 3, NULL, len3, 21);
    const int C = config_context_dim(&sh.cfg), S = sh.S;
    memcpy(cp.h_prev, sh.h_prev, 3 * (size_t)sh.cfg.D * sizeof(float));
    memcpy(cp.h1, sh.h1, 3 * (size_t)sh.cfg.D * sizeof(float));
    memcpy(cp.yg, sh.yg, 3 * (size_t)C * sizeof(float));
    memcpy(cp.alpha_past, sh.alpha_past, 3 * (size_t)S * sizeof(float));
    for (int s = 0; s < S; s++)
        for (int b = 0; b < 3; b++)
            memcpy(cp.ctx + (s * 3 + b) * C, sh.ctx + s * C, (size_t)C * sizeof(float));
    fix_forward(&sh);
    fix_forward(&cp);
    for (int i = 0; i < 3 * S; i++)
        cr_assert(fabs((double)(sh.st.alpha[i] - cp.st.alpha[i])) <= 1e-7);
    for (int i = 0; i < 3 * C; i++) cr_assert(fabs((double)(sh.st.ctx[i] - cp.st.ctx[i])) <= 1e-7);
    fix_free(&sh);
    fix_free(&cp);
}

// Beam hypotheses extending one parent share alpha_past; attention_forward then computes their
// coverage once and spreads it back. Every row must still equal the same row run on its own.
Test(attention, rows_with_equal_coverage_match_rows_run_alone) {
    const int len[1] = {6}, n = 5, dup[5] = {0, 1, 0, 0, 1};
    for (int gate = 0; gate <= 1; gate++) {
        Fix all;
        fix_init(&all, gate, 6, 1, n, NULL, len, 31);
        const int C = config_context_dim(&all.cfg), S = all.S, D = all.cfg.D;
        for (int b = 0; b < n; b++)
            memcpy(all.alpha_past + b * S, all.alpha_past + dup[b] * S, (size_t)S * sizeof(float));
        fix_forward(&all);
        for (int b = 0; b < n; b++) {
            Fix one;
            fix_init(&one, gate, 6, 1, 1, NULL, len, 31);
            memcpy(one.h_prev, all.h_prev + b * D, (size_t)D * sizeof(float));
            memcpy(one.h1, all.h1 + b * D, (size_t)D * sizeof(float));
            memcpy(one.yg, all.yg + b * C, (size_t)C * sizeof(float));
            memcpy(one.alpha_past, all.alpha_past + b * S, (size_t)S * sizeof(float));
            fix_forward(&one);
            for (int s = 0; s < S; s++) {
                cr_assert(fabs((double)(one.st.alpha[s] - all.st.alpha[b * S + s])) <= 1e-6,
                          "gate %d row %d alpha[%d]", gate, b, s);
                for (int c = 0; c < C; c++) {
                    double d = (double)(one.st.att[s * C + c] - all.st.att[(s * n + b) * C + c]);
                    cr_assert(fabs(d) <= 1e-6, "gate %d row %d att[%d, %d]", gate, b, s, c);
                }
            }
            for (int c = 0; c < C; c++)
                cr_assert(fabs((double)(one.st.ctx[c] - all.st.ctx[b * C + c])) <= 1e-6);
            fix_free(&one);
        }
        fix_free(&all);
    }
}
