#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decoder.h"
#include "loss.h"
#include "tap.h"
#include "test_util.h"
#include "tiny_model.h"

// Tiny dims (tiny_model.h): C 6, D 5, E 4, V 7, K 5, Q 3 (Q = D = 5 for the TAP reference, as
// TAP ties them).

typedef struct {
    TapConfig cfg;
    ParamTable t;
    float *w, *g;
    DecoderParams p;
    DecoderGrads gp;
    int S, L, B;
    float *ctx, *ctx_mask, *y_mask; // (S, B, C), (S, B) or NULL, (L, B)
    int32_t *y;                     // (L, B)
    float *R_logits, *R_alphas;     // (L, B, V), (L, B, S)
    float *cmem, *bwork, *dctx;
    DecoderCache c;
} Fix;

// Column b has lx[b] annotations and ly[b] target steps (tokens + <eol>); lx NULL = no mask.
static void fix_init(Fix *f, const TapConfig *cfg, int S, int L, int B, const int *lx,
                     const int *ly, uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->S = S, f->L = L, f->B = B;
    const int C = config_context_dim(cfg), V = cfg->V;
    cr_assert_eq(params_layout(cfg, &f->t, NULL), TAP_OK);
    f->w = fvec(f->t.n);
    f->g = fvec(f->t.n);
    tu_fill_normal(f->w, f->t.n, 0.5f, seed);
    decoder_params_bind(&f->p, &f->t, f->w, cfg);
    decoder_grads_bind(&f->gp, &f->t, f->g, cfg);
    f->ctx = fvec((size_t)S * B * C);
    tu_fill_normal(f->ctx, (size_t)S * B * C, 1.0f, seed + 1);
    f->ctx_mask = lx ? fvec((size_t)S * B) : NULL;
    f->y_mask = fvec((size_t)L * B);
    f->y = calloc((size_t)L * B, sizeof(int32_t));
    for (int b = 0; b < B; b++) {
        for (int s = 0; lx && s < lx[b]; s++) f->ctx_mask[s * B + b] = 1.0f;
        for (int t = 0; t < ly[b]; t++) {
            f->y_mask[t * B + b] = 1.0f;
            f->y[t * B + b] =
                t == ly[b] - 1
                    ? 0
                    : 1 + (int32_t)((seed + 3 * (uint64_t)t + 2 * (uint64_t)b) % (uint64_t)(V - 1));
        }
    }
    f->R_logits = fvec((size_t)L * B * V);
    f->R_alphas = fvec((size_t)L * B * S);
    tu_fill_normal(f->R_logits, (size_t)L * B * V, 1.0f, seed + 2);
    tu_fill_normal(f->R_alphas, (size_t)L * B * S, 1.0f, seed + 3);
    f->cmem = fvec(decoder_cache_floats(cfg, S, L, B));
    decoder_cache_bind(&f->c, f->cmem, cfg, S, L, B);
    f->bwork = fvec(decoder_backward_floats(cfg, S, L, B));
    f->dctx = fvec((size_t)S * B * C);
}

static void fix_free(Fix *f) {
    free(f->w), free(f->g), free(f->ctx), free(f->ctx_mask), free(f->y_mask), free(f->y);
    free(f->R_logits), free(f->R_alphas), free(f->cmem), free(f->bwork), free(f->dctx);
    params_free(&f->t);
}

static void fix_forward(Fix *f) {
    decoder_forward(&f->p, &f->cfg, f->ctx, f->ctx_mask, f->y, f->y_mask, f->S, f->L, f->B, &f->c);
}

static void fix_backward(Fix *f, const float *dlogits, const float *dalphas) {
    decoder_backward(&f->p, &f->gp, &f->cfg, f->ctx, f->ctx_mask, f->y, f->y_mask, f->S, f->L, f->B,
                     &f->c, dlogits, dalphas, f->bwork, f->dctx);
}

// L = Σ R⊙logits + Σ R⊙alphas (Kaldi's trace trick), in double.
static double fix_loss(void *vp) {
    Fix *f = vp;
    fix_forward(f);
    const size_t nl = (size_t)f->L * f->B * f->cfg.V, na = (size_t)f->L * f->B * f->S;
    double s = 0.0;
    for (size_t i = 0; i < nl; i++) s += (double)f->R_logits[i] * (double)f->c.logits[i];
    for (size_t i = 0; i < na; i++) s += (double)f->R_alphas[i] * (double)f->c.alphas[i];
    return s;
}

static void check_gradients(int gate) {
    const TapConfig cfg = tiny_model_config(gate);
    const int lx[3] = {6, 4, 2}, ly[3] = {4, 3, 1};
    Fix f;
    fix_init(&f, &cfg, 6, 4, 3, lx, ly, gate ? 31 : 41);
    fix_forward(&f);
    fix_backward(&f, f.R_logits, f.R_alphas);
    const int C = config_context_dim(&cfg);
    int fails = tu_gradcheck("ctx", f.ctx, f.dctx, (size_t)f.S * f.B * C, fix_loss, &f, 1e-2f, 1e-3,
                             1e-2, 0);
    int checked = 0;
    for (int i = 0; i < f.t.n_tensors; i++) {
        const ParamSpec *s = &f.t.spec[i];
        if (!strncmp(s->name, "encoder", 7)) continue;
        fails += tu_gradcheck(s->name, f.w + s->offset, f.g + s->offset, s->size, fix_loss, &f,
                              1e-2f, 1e-3, 1e-2, 0);
        checked++;
    }
    cr_assert_eq(checked, gate ? 39 : 31, "every decoder, ff_state, Wemb_dec and ff_logit tensor");
    cr_assert_eq(fails, 0, "%d gradient elements disagree", fails);
    fix_free(&f);
}

Test(decoder, backward_matches_central_differences_with_gate) { check_gradients(1); }

Test(decoder, backward_matches_central_differences_without_gate) { check_gradients(0); }

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

// Stepping decoder_step token by token, with pctx/kern computed once and the readout inside
// the step, reproduces decoder_forward's teacher-forced probabilities, alphas and states.
static void check_steps(int gate) {
    const TapConfig cfg = tiny_model_config(gate);
    const int lx[3] = {6, 4, 2}, ly[3] = {4, 3, 1};
    Fix f;
    fix_init(&f, &cfg, 6, 4, 3, lx, ly, 51);
    fix_forward(&f);
    const int S = f.S, B = f.B, L = f.L, C = config_context_dim(&cfg), D = cfg.D, V = cfg.V;
    float *pctx = fvec((size_t)S * B * C), *kern = fvec((size_t)cfg.K * C),
          *mean = fvec((size_t)B * C);
    float *h = fvec((size_t)B * D), *ap = fvec((size_t)B * S), *probs = fvec((size_t)B * V);
    float *smem = fvec(decoder_step_floats(&cfg, S, B)),
          *work = fvec(decoder_work_floats(&cfg, S, B));
    decoder_init_state(&f.p, &cfg, f.ctx, f.ctx_mask, S, B, mean, h);
    attention_prepare(&f.p.att, &cfg, f.ctx, S, B, pctx, kern);
    cr_assert_eq(max_abs_diff(h, f.c.h, (size_t)B * D), 0.0);
    const AttnContext cx = {f.ctx, pctx, kern, f.ctx_mask, NULL, S, B, 0, NULL, NULL};
    DecStep st;
    decoder_step_bind(&st, smem, &cfg, S, B);
    double dp = 0.0, da = 0.0, dh = 0.0;
    for (int t = 0; t < L; t++) {
        int32_t prev[3];
        for (int b = 0; b < B; b++) prev[b] = t ? f.y[(t - 1) * B + b] : -1;
        decoder_step(&f.p, NULL, &cfg, &cx, prev, NULL, h, ap, f.y_mask + t * B, B, &st, work, probs);
        dp = fmax(dp, max_abs_diff(probs, f.c.probs + (size_t)t * B * V, (size_t)B * V));
        da = fmax(da, max_abs_diff(st.a.alpha, f.c.alphas + (size_t)t * B * S, (size_t)B * S));
        dh = fmax(dh, max_abs_diff(st.h, f.c.h + (size_t)(t + 1) * B * D, (size_t)B * D));
        memcpy(h, st.h, (size_t)B * D * sizeof *h);
        memcpy(ap, st.alpha_past, (size_t)B * S * sizeof *ap);
    }
    cr_log_info("gate %d: max |step - forward|: probs %.3g alphas %.3g h %.3g", gate, dp, da, dh);
    cr_assert(dp <= 1e-6 && da <= 1e-6 && dh <= 1e-6, "probs %g alphas %g h %g", dp, da, dh);
    free(pctx), free(kern), free(mean), free(h), free(ap), free(probs), free(smem), free(work);
    fix_free(&f);
}

Test(decoder, step_by_step_decoding_reproduces_the_teacher_forced_forward_with_gate) {
    check_steps(1);
}

Test(decoder, step_by_step_decoding_reproduces_the_teacher_forced_forward_without_gate) {
    check_steps(0);
}

// Beam search: n hypotheses of one expression attend to a single context column (Bc = 1,
// stride 0, no mask) with pctx computed once; they match a batch holding n copies of it.
Test(decoder, hypotheses_sharing_one_context_reproduce_the_forward) {
    const TapConfig cfg = tiny_model_config(1);
    const int ly[3] = {4, 4, 4};
    Fix f;
    fix_init(&f, &cfg, 6, 4, 3, NULL, ly, 61);
    const int S = f.S, B = f.B, L = f.L, C = config_context_dim(&cfg), D = cfg.D, V = cfg.V;
    for (int s = 0; s < S; s++)
        for (int b = 1; b < B; b++)
            memcpy(f.ctx + ((size_t)s * B + b) * C, f.ctx + (size_t)s * B * C,
                   (size_t)C * sizeof(float));
    for (int t = 0; t < L; t++)
        f.y[t * B + 1] = (int32_t)((t + 2) % V); // three different histories
    fix_forward(&f);

    float *ctx1 = fvec((size_t)S * C), *pctx = fvec((size_t)S * C), *kern = fvec((size_t)cfg.K * C);
    float *mean = fvec((size_t)C), *h = fvec((size_t)B * D), *ap = fvec((size_t)B * S),
          *probs = fvec((size_t)B * V);
    float *smem = fvec(decoder_step_floats(&cfg, S, B)),
          *work = fvec(decoder_work_floats(&cfg, S, B));
    for (int s = 0; s < S; s++)
        memcpy(ctx1 + (size_t)s * C, f.ctx + (size_t)s * B * C, (size_t)C * sizeof(float));
    decoder_init_state(&f.p, &cfg, ctx1, NULL, S, 1, mean, h);
    for (int b = 1; b < B; b++) memcpy(h + (size_t)b * D, h, (size_t)D * sizeof *h);
    attention_prepare(&f.p.att, &cfg, ctx1, S, 1, pctx, kern);
    const AttnContext cx = {ctx1, pctx, kern, NULL, NULL, S, 1, 0, NULL, NULL};
    DecStep st;
    decoder_step_bind(&st, smem, &cfg, S, B);
    double dp = 0.0, da = 0.0;
    for (int t = 0; t < L; t++) {
        int32_t prev[3];
        for (int b = 0; b < B; b++) prev[b] = t ? f.y[(t - 1) * B + b] : -1;
        decoder_step(&f.p, NULL, &cfg, &cx, prev, NULL, h, ap, NULL, B, &st, work, probs);
        dp = fmax(dp, max_abs_diff(probs, f.c.probs + (size_t)t * B * V, (size_t)B * V));
        da = fmax(da, max_abs_diff(st.a.alpha, f.c.alphas + (size_t)t * B * S, (size_t)B * S));
        memcpy(h, st.h, (size_t)B * D * sizeof *h);
        memcpy(ap, st.alpha_past, (size_t)B * S * sizeof *ap);
    }
    cr_assert(dp <= 1e-6 && da <= 1e-6, "probs %g alphas %g", dp, da);
    // the histories differ, so the rows must too (the test can fail)
    cr_assert_gt(max_abs_diff(probs, probs + V, (size_t)V), 1e-4);
    free(ctx1), free(pctx), free(kern), free(mean), free(h), free(ap), free(probs), free(smem),
        free(work);
    fix_free(&f);
}

// ---------------------------------------------------------------------------------------------
// Reference values from TAP's own math: /work/shared/bench/tap_torch.py (the PyTorch port of
// v2/nmt.py: CondGRU.scan, readout, build_cost's cost) on the tiny config below, with every
// parameter-table element i set to 0.5·sin(0.37·i + 0.1) and ctx element i to sin(1.3·i + 0.5);
// gradients are of Σ_b cost[b], and REF_GRAD_PROJ[k] = Σ_i g_i·sin(0.7·i + 0.2) over tensor k.
// The generator script is at the end of this file.
static const double REF_COST[3] = {8.26366138e+00, 5.98321342e+00, 1.79305494e+00};
static const double REF_PROBS[84] = {
    1.70672923e-01, 1.45409837e-01, 1.30194649e-01, 1.24353871e-01, 1.27494171e-01, 1.39836371e-01,
    1.62038222e-01, 1.68553337e-01, 1.44739047e-01, 1.30430579e-01, 1.25094131e-01, 1.28414422e-01,
    1.40595108e-01, 1.62173316e-01, 1.66450903e-01, 1.44981802e-01, 1.31847724e-01, 1.26807630e-01,
    1.29664987e-01, 1.40538335e-01, 1.59708634e-01, 1.61828130e-01, 1.40849262e-01, 1.28931016e-01,
    1.25620157e-01, 1.30734280e-01, 1.44544750e-01, 1.67492375e-01, 1.74112797e-01, 1.47512734e-01,
    1.31111324e-01, 1.24219820e-01, 1.26373336e-01, 1.37728408e-01, 1.58941567e-01, 1.65641919e-01,
    1.42600656e-01, 1.29192799e-01, 1.24831587e-01, 1.29240528e-01, 1.42698929e-01, 1.65793553e-01,
    1.70903683e-01, 1.43507347e-01, 1.27652332e-01, 1.22207277e-01, 1.26660541e-01, 1.41435266e-01,
    1.67633548e-01, 1.64174229e-01, 1.44006208e-01, 1.31796807e-01, 1.27374843e-01, 1.30594090e-01,
    1.41565442e-01, 1.60488263e-01, 1.65034682e-01, 1.42162517e-01, 1.28943637e-01, 1.24783218e-01,
    1.29414171e-01, 1.43131375e-01, 1.66530401e-01, 1.61529347e-01, 1.40647799e-01, 1.28826886e-01,
    1.25612393e-01, 1.30826578e-01, 1.44745946e-01, 1.67811126e-01, 1.67597055e-01, 1.42162472e-01,
    1.27613634e-01, 1.23012364e-01, 1.27967179e-01, 1.42897755e-01, 1.68749496e-01, 1.64130256e-01,
    1.41644076e-01, 1.28746212e-01, 1.24855772e-01, 1.29725292e-01, 1.43659204e-01, 1.67239249e-01};
static const double REF_ALPHAS[72] = {
    1.84854880e-01, 1.71703368e-01, 1.41119018e-01, 1.53071180e-01, 1.95320025e-01, 1.53931513e-01,
    2.27335766e-01, 2.96180069e-01, 2.57076025e-01, 2.19408140e-01, 0.00000000e+00, 0.00000000e+00,
    4.89733905e-01, 5.10266125e-01, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    1.77988678e-01, 1.66942358e-01, 1.36596128e-01, 1.49005413e-01, 2.07238749e-01, 1.62228599e-01,
    2.13379458e-01, 2.84337729e-01, 2.71847934e-01, 2.30434880e-01, 0.00000000e+00, 0.00000000e+00,
    4.69054073e-01, 5.30945957e-01, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    1.70735955e-01, 1.62396729e-01, 1.30708426e-01, 1.45493254e-01, 2.19714597e-01, 1.70951068e-01,
    1.92889526e-01, 2.78634518e-01, 2.92593211e-01, 2.35882729e-01, 0.00000000e+00, 0.00000000e+00,
    4.37617838e-01, 5.62382162e-01, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    1.62097856e-01, 1.58102110e-01, 1.24288641e-01, 1.44396052e-01, 2.34032184e-01, 1.77083120e-01,
    1.71111807e-01, 2.73734242e-01, 3.17352712e-01, 2.37801194e-01, 0.00000000e+00, 0.00000000e+00,
    4.04527068e-01, 5.95472932e-01, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00};
static const double REF_DCTX[108] = {
    2.24434538e-03,  1.35152424e-02,  -2.68162927e-03, -1.45151857e-02, 2.82910792e-03,
    1.41839329e-02,  -5.20100119e-03, 2.30627041e-03,  1.87764526e-04,  -3.37815657e-03,
    5.53755462e-03,  -2.20445497e-03, 1.64750367e-02,  1.55944061e-02,  -1.34941265e-02,
    -1.34200687e-02, 7.35884765e-03,  1.73178129e-02,  -1.45264051e-03, 1.66690685e-02,
    -3.45528778e-03, -1.66453514e-02, 6.91152643e-03,  1.13623952e-02,  2.01164689e-02,
    -1.28516853e-02, -6.53470960e-03, 1.89433098e-02,  -1.52480220e-02, 1.64110900e-03,
    2.64043221e-04,  2.84644887e-02,  -1.20902732e-02, -2.83887107e-02, 2.31718030e-02,
    1.34809650e-02,  4.36558248e-03,  9.80800483e-03,  -3.76919191e-03, -8.70030373e-03,
    7.99922971e-04,  1.03984540e-02,  1.77072529e-02,  -7.92495068e-03, -9.12222173e-03,
    1.65245943e-02,  -1.09220361e-02, -6.38033147e-04, 0.00000000e+00,  0.00000000e+00,
    0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  8.35656561e-03,
    6.77343737e-03,  -2.66798353e-03, -7.41568720e-03, -3.48737929e-03, 1.45663833e-02,
    -8.83662421e-03, 6.50104042e-03,  -4.21469158e-04, -7.70675577e-03, 1.02762021e-02,
    -2.77149910e-03, 0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,
    0.00000000e+00,  0.00000000e+00,  -9.53063369e-03, 2.37153992e-02,  9.70569905e-04,
    -3.05592474e-02, 1.36953508e-02,  1.80939231e-02,  0.00000000e+00,  0.00000000e+00,
    0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,
    0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,
    -1.80620700e-05, 1.65090710e-02,  -4.16669436e-03, -1.59805771e-02, 6.16355427e-03,
    1.19171329e-02,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,
    0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,  0.00000000e+00,
    0.00000000e+00,  0.00000000e+00,  0.00000000e+00};
static const char *REF_NAMES[39] = {
    "Wemb_dec",        "ff_state_W",         "ff_state_b",         "decoder_W",
    "decoder_b",       "decoder_U",          "decoder_Wx",         "decoder_Ux",
    "decoder_bx",      "decoder_U_nl",       "decoder_b_nl",       "decoder_Ux_nl",
    "decoder_bx_nl",   "decoder_Wc",         "decoder_Wcx",        "decoder_W_comb_att",
    "decoder_Wc_att",  "decoder_b_att",      "decoder_U_att",      "decoder_c_tt",
    "decoder_conv_Q",  "decoder_conv_Uf",    "decoder_conv_b",     "decoder_Wyg",
    "decoder_byg",     "decoder_Whg",        "decoder_bhg",        "decoder_Umg",
    "decoder_W_m_att", "decoder_U_when_att", "decoder_c_when_att", "ff_logit_lstm_W",
    "ff_logit_lstm_b", "ff_logit_prev_W",    "ff_logit_prev_b",    "ff_logit_ctx_W",
    "ff_logit_ctx_b",  "ff_logit_W",         "ff_logit_b"};
static const double REF_GRAD_PROJ[39] = {
    -1.50242028e-01, -6.70839789e-03, -1.28614933e-02, -1.81209682e-02, -2.33682394e-02,
    3.83360849e-02,  1.84187272e-02,  1.35265300e-02,  4.54603930e-02,  1.65518520e-02,
    3.16342314e-02,  2.08121077e-02,  -4.53045511e-02, 9.60122393e-03,  -5.01325463e-03,
    -3.63996283e-04, -3.45230174e-02, 5.04790148e-03,  6.79395616e-02,  1.02826154e-03,
    -3.40460608e-03, 4.83471246e-02,  5.04790121e-03,  9.43047588e-04,  3.58709264e-03,
    3.57393523e-03,  3.58709267e-03,  -2.98711888e-02, -1.92013206e-04, -2.00907762e-03,
    -1.02826617e-03, 1.72363548e-01,  2.42946172e-01,  1.44232735e-01,  2.42946172e-01,
    -1.37004343e-02, 2.42946172e-01,  4.21754727e-01,  -8.39727599e-01};

// The generator's inputs, rebuilt here.
static void reference_inputs(Fix *f, const int *lx, const int *ly, float *a, float *am) {
    const int S = f->S, B = f->B, L = f->L, C = config_context_dim(&f->cfg), V = f->cfg.V;
    for (size_t i = 0; i < f->t.n; i++) f->w[i] = (float)(0.5 * sin(0.37 * (double)i + 0.1));
    for (int i = 0; i < S * B * C; i++) f->ctx[i] = (float)sin(1.3 * i + 0.5);
    memset(a, 0, (size_t)S * B * L * sizeof *a);
    memset(am, 0, (size_t)S * B * L * sizeof *am);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < L; t++)
            f->y[t * B + b] = t < ly[b] - 1 ? 1 + (3 * t + 2 * b) % (V - 1) : 0;
        for (int s = 0; s < lx[b]; s++)
            for (int t = 0; t < ly[b]; t++) {
                am[(s * B + b) * L + t] = 1.0f;
                if (s < lx[b] - 1 && t < ly[b] - 1)
                    a[(s * B + b) * L + t] =
                        (float)(0.5 + 0.5 * sin(0.9 * (s * B * L + b * L + t)));
            }
        for (int t = 0; t < L; t++) {
            double sum = 0.0;
            for (int s = 0; s < S; s++) sum += (double)a[(s * B + b) * L + t];
            for (int s = 0; s < S; s++)
                a[(s * B + b) * L + t] = (float)((double)a[(s * B + b) * L + t] / (sum + 1e-20));
        }
    }
}

Test(decoder, forward_and_backward_match_tap_torch_on_tiny_dims) {
    TapConfig cfg = tiny_model_config(1);
    cfg.Q = cfg.D; // TAP: dim_coverage filters = dim_dec
    cfg.gamma = 0.1f;
    const int lx[3] = {6, 4, 2}, ly[3] = {4, 3, 1};
    Fix f;
    fix_init(&f, &cfg, 6, 4, 3, lx, ly, 1);
    const int S = f.S, B = f.B, L = f.L, C = config_context_dim(&cfg), V = cfg.V;
    float *a = fvec((size_t)S * B * L), *am = fvec((size_t)S * B * L);
    reference_inputs(&f, lx, ly, a, am);
    fix_forward(&f);
    double cost[3];
    loss_forward(&cfg, f.c.logits, f.y, f.y_mask, f.c.alphas, a, am, L, B, S, cost, NULL, NULL);
    double dc = 0.0, dp = 0.0, da = 0.0;
    for (int b = 0; b < B; b++) dc = fmax(dc, fabs(cost[b] - REF_COST[b]) / REF_COST[b]);
    for (int i = 0; i < L * B * V; i++) dp = fmax(dp, fabs((double)f.c.probs[i] - REF_PROBS[i]));
    for (int i = 0; i < L * B * S; i++) da = fmax(da, fabs((double)f.c.alphas[i] - REF_ALPHAS[i]));

    float *dl = fvec((size_t)L * B * V), *dal = fvec((size_t)L * B * S);
    loss_backward(&cfg, f.c.logits, f.y, f.y_mask, f.c.alphas, a, am, NULL, L, B, S, dl, dal);
    fix_backward(&f, dl, dal);
    double dg = 0.0, dx = 0.0;
    for (int i = 0; i < S * B * C; i++) dx = fmax(dx, fabs((double)f.dctx[i] - REF_DCTX[i]));
    for (int k = 0; k < 39; k++) {
        int idx = params_find(&f.t, REF_NAMES[k]);
        cr_assert_geq(idx, 0, "%s", REF_NAMES[k]);
        const ParamSpec *s = &f.t.spec[idx];
        double proj = 0.0;
        for (size_t i = 0; i < s->size; i++)
            proj += (double)f.g[s->offset + i] * sin(0.7 * (double)i + 0.2);
        double err = fabs(proj - REF_GRAD_PROJ[k]);
        cr_expect(err <= 1e-5 + 1e-4 * fabs(REF_GRAD_PROJ[k]), "%s: %.8g vs TAP %.8g", s->name,
                  proj, REF_GRAD_PROJ[k]);
        dg = fmax(dg, err);
    }
    cr_log_info("vs tap_torch: cost rel %.3g, probs %.3g, alphas %.3g, dctx %.3g, grad proj %.3g",
                dc, dp, da, dx, dg);
    cr_assert(dc < 1e-5, "cost differs by %g (relative)", dc);
    cr_assert(dp < 1e-5 && da < 1e-5, "probs %g alphas %g", dp, da);
    cr_assert(dx < 1e-5, "dctx differs by %g", dx);
    free(a), free(am), free(dl), free(dal);
    fix_free(&f);
}

// ---------------------------------------------------------------------------------------------
// TAP's dims on a typical batch (8 expressions of ~233 points, ~13 tokens): the cache and the
// backward scratch stay small, and three random directions through every decoder parameter and
// ctx agree with the gradient of the real loss (Kaldi's directional test). Weights are N(0, 0.1)
// rather than TAP's 0.01-scale init, so that maxout pairs are well apart and the gate and the
// recurrences carry signal; each tensor is perturbed relative to its own scale.
static double objective(Fix *f, const float *a, const float *am) {
    fix_forward(f);
    double cost[8], J = 0.0;
    loss_forward(&f->cfg, f->c.logits, f->y, f->y_mask, f->c.alphas, a, am, f->L, f->B, f->S, cost,
                 NULL, NULL);
    for (int b = 0; b < f->B; b++) J += cost[b] / f->B;
    return J;
}

static void perturb(Fix *f, const float *dir_w, const float *dir_x, double step) {
    for (size_t i = 0; i < f->t.n; i++) f->w[i] += (float)(step * (double)dir_w[i]);
    const size_t nx = (size_t)f->S * f->B * config_context_dim(&f->cfg);
    for (size_t i = 0; i < nx; i++) f->ctx[i] += (float)(step * (double)dir_x[i]);
}

static double ms_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) * 1e-6;
}

Test(decoder, tap_sized_batch_is_small_and_passes_directional_checks) {
    TapConfig cfg;
    config_default(&cfg);
    const int B = 8, S = config_pooled_len(&cfg, 234), L = 14, C = config_context_dim(&cfg);
    const int lx[8] = {59, 52, 40, 59, 31, 47, 44, 58}, ly[8] = {14, 12, 9, 13, 7, 11, 10, 14};
    size_t cache = decoder_cache_floats(&cfg, S, L, B), bw = decoder_backward_floats(&cfg, S, L, B);
    double mb = (double)(cache + bw) * 4.0 / 1048576.0;
    cr_log_info("S %d: decoder cache %.1f MB + backward scratch %.1f MB", S,
                (double)cache * 4.0 / 1048576.0, (double)bw * 4.0 / 1048576.0);
    cr_assert_lt(mb, 64.0, "decoder memory %.1f MB", mb);

    Fix f;
    fix_init(&f, &cfg, S, L, B, lx, ly, 7);
    tu_fill_normal(f.w, f.t.n, 0.1f, 7);
    tu_fill_uniform(f.ctx, (size_t)S * B * C, -1.0f, 1.0f, 8);
    float *a = fvec((size_t)S * B * L), *am = fvec((size_t)S * B * L), *dcost = fvec(B);
    for (int b = 0; b < B; b++) {
        dcost[b] = 1.0f / (float)B;
        for (int s = 0; s < lx[b]; s++)
            for (int t = 0; t < ly[b]; t++) {
                am[(s * B + b) * L + t] = 1.0f;
                int t0 = s * (ly[b] - 1) / lx[b]; // a monotone stand-in alignment
                if (t == t0 && t < ly[b] - 1) a[(s * B + b) * L + t] = 1.0f;
            }
        for (int t = 0; t < L; t++) {
            double sum = 0.0;
            for (int s = 0; s < S; s++) sum += (double)a[(s * B + b) * L + t];
            for (int s = 0; s < S; s++)
                a[(s * B + b) * L + t] = (float)((double)a[(s * B + b) * L + t] / (sum + 1e-20));
        }
    }
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double J = objective(&f, a, am);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    float *dl = fvec((size_t)L * B * cfg.V), *dal = fvec((size_t)L * B * S);
    loss_backward(&cfg, f.c.logits, f.y, f.y_mask, f.c.alphas, a, am, dcost, L, B, S, dl, dal);
    fix_backward(&f, dl, dal);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    cr_log_info("TAP dims B %d S %d L %d: loss %.4f, forward %.1f ms, backward %.1f ms", B, S, L, J,
                ms_between(&t0, &t1), ms_between(&t1, &t2));
    cr_assert(isfinite(J));

    const size_t nx = (size_t)S * B * C;
    float *dw = fvec(f.t.n), *dx = fvec(nx);
    for (int k = 0; k < 3; k++) {
        tu_fill_normal(dw, f.t.n, 1.0f, 100 + (uint64_t)k);
        tu_fill_normal(dx, nx, 0.58f, 200 + (uint64_t)k); // ctx's scale: U(-1, 1) has sd 0.58
        for (int i = 0; i < f.t.n_tensors; i++) {
            const ParamSpec *s = &f.t.spec[i];
            double rms = 0.0;
            for (size_t j = 0; j < s->size; j++)
                rms += (double)f.w[s->offset + j] * (double)f.w[s->offset + j];
            float scale =
                strncmp(s->name, "encoder", 7) ? (float)sqrt(rms / (double)s->size) : 0.0f;
            for (size_t j = 0; j < s->size; j++) dw[s->offset + j] *= scale;
        }
        double pred = 0.0;
        for (size_t i = 0; i < f.t.n; i++) pred += (double)f.g[i] * (double)dw[i];
        for (size_t i = 0; i < nx; i++) pred += (double)f.dctx[i] * (double)dx[i];
        const double step = 1e-4;
        perturb(&f, dw, dx, step);
        double jp = objective(&f, a, am);
        perturb(&f, dw, dx, -2.0 * step);
        double jm = objective(&f, a, am);
        perturb(&f, dw, dx, step);
        double meas = (jp - jm) / 2.0;
        pred *= step;
        cr_log_info("direction %d: predicted %.6g measured %.6g", k, pred, meas);
        cr_expect(fabs(pred) > 1e-5, "direction %d carries too little signal (%g)", k, pred);
        cr_expect(fabs(meas - pred) <= 1e-2 * fabs(pred), "direction %d: predicted %g measured %g",
                  k, pred, meas);
    }
    free(a), free(am), free(dcost), free(dl), free(dal), free(dw), free(dx);
    fix_free(&f);
}

/* Generator of the REF_* values (run with Debian's /usr/bin/python3, which has torch):
# Reference values for tests/model/test_decoder.c from /work/shared/bench/tap_torch.py (TAP v2 port).
import sys
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, "/work/shared/bench")
import tap_torch as tt

opts = dict(tt.OPTS)
opts.update(dim_feature=3, dim_enc=[3, 3], down_sample=[0, 1], dim_dec=5, dim_word=4,
            dim_target=7, dim_coverage=5, gamma=0.1)
p = tt.init_params(opts)
off = 0
for k, v in p.items():  # value of flat element i of the parameter table: 0.5 sin(0.37 i + 0.1)
    i = np.arange(off, off + v.size)
    p[k] = (0.5 * np.sin(0.37 * i + 0.1)).astype("float32").reshape(v.shape)
    off += v.size
P = tt.to_torch(p)
S, B, L, C, E, V = 6, 3, 4, 6, 4, 7
lx, ly = [6, 4, 2], [4, 3, 1]
ctx = torch.tensor(np.sin(1.3 * np.arange(S * B * C) + 0.5).astype("float32").reshape(S, B, C),
                   requires_grad=True)
ctx_mask = torch.zeros(S, B)
y_mask = torch.zeros(L, B)
y = torch.zeros(L, B, dtype=torch.int64)
a = torch.zeros(S, B, L)
a_mask = torch.zeros(S, B, L)
for b in range(B):
    ctx_mask[:lx[b], b] = 1
    y_mask[:ly[b], b] = 1
    for t in range(ly[b] - 1):
        y[t, b] = 1 + (3 * t + 2 * b) % (V - 1)
    for s in range(lx[b]):
        for t in range(ly[b]):
            a_mask[s, b, t] = 1
            if s < lx[b] - 1 and t < ly[b] - 1:
                a[s, b, t] = 0.5 + 0.5 * np.sin(0.9 * (s * B * L + b * L + t))
a = a / (a.sum(0, keepdim=True) + 1e-20)

ctx_mean = (ctx * ctx_mask[:, :, None]).sum(0) / ctx_mask.sum(0)[:, None]
init_state = tt.ff(P, "ff_state", ctx_mean, activ="tanh")
emb = P["Wemb_dec"][y.flatten()].view(L, B, E)
emb = torch.cat([torch.zeros_like(emb[:1]), emb[:-1]], 0)
dec = tt.CondGRU(P, "decoder")
proj_h, ctxs, dec_alphas = dec.scan(emb, y_mask, ctx, ctx_mask, init_state)
logit = tt.readout(P, proj_h, emb, ctxs)
probs = torch.softmax(logit, -1)
al = dec_alphas.permute(2, 1, 0) + 1e-20
cost_alphas = -a * torch.log(al) * a_mask
nll = F.cross_entropy(logit.view(L * B, -1), y.flatten(), reduction="none").view(L, B)
cost = (nll * y_mask).sum(0) + opts["gamma"] * cost_alphas.sum(dim=(0, 2))
cost.sum().backward()

def arr(name, x):
    x = np.asarray(x, dtype=np.float64).ravel()
    body = ", ".join("%.8e" % v for v in x)
    print("static const double %s[%d] = {%s};" % (name, x.size, body))

arr("REF_COST", cost.detach().numpy())
arr("REF_PROBS", probs.detach().numpy())
arr("REF_ALPHAS", dec_alphas.detach().numpy())
arr("REF_DCTX", ctx.grad.numpy())
names, proj = [], []
for k, v in P.items():
    if k.startswith("encoder"):
        continue
    g = v.grad.numpy().ravel().astype(np.float64)
    names.append(k)
    proj.append(float((g * np.sin(0.7 * np.arange(g.size) + 0.2)).sum()))
print("static const char *REF_NAMES[%d] = {%s};" % (len(names), ", ".join('"%s"' % n for n in names)))
arr("REF_GRAD_PROJ", proj)
*/
