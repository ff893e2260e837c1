#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adadelta.h"
#include "tap.h"
#include "test_util.h"
#include "variational.h"
#include "weight_noise.h"

static const char *const names[VAR_COUNT] = {"ml",
                                             "l1",
                                             "l2",
                                             "adaptive-l1",
                                             "adaptive-l2",
                                             "adaptive-mean-l1",
                                             "adaptive-mean-l2",
                                             "weight-noise",
                                             "adaptive-prior-weight-noise",
                                             "adaptive-weight-noise"};

Test(variational, every_variant_is_selectable_by_its_name) {
    for (int k = 0; k < VAR_COUNT; k++) {
        cr_assert_eq(variational_kind_parse(names[k]), k, "%s", names[k]);
        cr_assert_str_eq(variational_kind_name((VarKind)k), names[k]);
    }
    cr_assert_eq(variational_kind_parse("dropout"), -1);
    cr_assert_eq(variational_kind_info(VAR_ADAPTIVE_WEIGHT_NOISE)->posterior, VAR_POST_LEARNED);
    cr_assert_eq(variational_kind_info(VAR_ADAPTIVE_MEAN_L1)->fit_scale, 0);
}

// ---- each variant's step gradient against central differences of its model cost ----

enum { N = 40 };

static void spaced_weights(float *w, uint64_t seed) {
    int idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    TapRng r;
    rng_seed(&r, seed);
    rng_shuffle_int(&r, idx, N);
    for (int i = 0; i < N; i++) w[i] = 0.05f * ((float)idx[i] - 17.3f) + 0.01f * rng_uniformf(&r);
}

static double model_cost(void *v) { return variational_model_cost(v); }

Test(variational, each_variants_prior_gradient_matches_central_differences_of_its_cost) {
    for (int k = 0; k < VAR_COUNT; k++) {
        VarConfig c;
        variational_config_default(&c, (VarKind)k);
        c.coeff = 1.0; // c/N = 1: g_mu is exactly dL^C/dmu
        c.n_train = 1.0;
        c.prior_b = 0.3f;
        c.prior_var = 0.2f;
        c.sigma = 0.075f;
        float w0[N], zero[N] = {0}, mu0[N], ls20[N], g_mu[N], g_ls2[N];
        spaced_weights(w0, 9);
        Variational v;
        TapError err = {0};
        cr_assert_eq(variational_init(&v, &c, w0, N, &err), TAP_OK, "%s", err.msg);
        if (v.ls2) {
            float s[N];
            tu_fill_uniform(s, N, 0.02f, 0.3f, 4);
            for (int i = 0; i < N; i++) v.ls2[i] = weight_noise_ls2(s[i]);
            memcpy(ls20, v.ls2, sizeof ls20);
        }
        memcpy(mu0, v.mu, sizeof mu0);
        cr_assert_eq(variational_step(&v, zero, NULL, &err), TAP_OK, "%s", err.msg);
        memcpy(g_mu, v.g_mu, sizeof g_mu);
        if (v.ls2) memcpy(g_ls2, v.g_ls2, sizeof g_ls2);
        memcpy(v.mu, mu0, sizeof mu0); // back to where the gradient was taken
        if (v.ls2) memcpy(v.ls2, ls20, sizeof ls20);
        int fails =
            tu_gradcheck(names[k], v.mu, g_mu, N, model_cost, &v, 1.0f / 4096, 1e-4, 1e-3, 0);
        cr_assert_eq(fails, 0, "%s: dL^C/dmu", names[k]);
        if (v.ls2) {
            fails = tu_gradcheck("adaptive-weight-noise ls2", v.ls2, g_ls2, N, model_cost, &v,
                                 1.0f / 1048576, 1e-2, 1e-4, 0);
            cr_assert_eq(fails, 0, "dL^C/dls2");
        }
        if (k == VAR_ML || k == VAR_WEIGHT_NOISE) {
            cr_assert_eq(variational_model_cost(&v), 0.0);
            for (int i = 0; i < N; i++) cr_assert_eq(g_mu[i], 0.0f);
        }
        variational_free(&v);
    }
}

// ---- weight noise with sigma -> 0 is plain training ----

// Toy data cost L(w) = 1/2 sum a_i (w_i - t_i)^2, so g = a (w - t).
static void quad_grad(const float *w, const float *a, const float *t, float *g, int n) {
    for (int i = 0; i < n; i++) g[i] = a[i] * (w[i] - t[i]);
}

Test(variational, noise_step_with_tiny_sigma_and_no_prior_equals_a_plain_adadelta_step) {
    VarConfig c;
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    c.coeff = 0.0;         // prior term off
    c.sigma_init = 1e-12f; // ls2 = log(1e-24)/2048, TAP's start
    float w0[N], a[N], t[N], w[N], g[N], plain[N], pg[N], rg2[N] = {0}, ru2[N] = {0};
    tu_fill_uniform(w0, N, 0.01f, 0.5f, 1);
    tu_fill_uniform(a, N, 0.5f, 2.0f, 2);
    tu_fill_normal(t, N, 1.0f, 3);
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, N, NULL), TAP_OK);
    cr_assert_float_eq(v.ls2[0], log(1e-24) / 2048.0, 1e-9);
    memcpy(plain, w0, sizeof plain);
    for (int step = 0; step < 3; step++) {
        variational_sample(&v, w);
        cr_assert(memcmp(w, v.mu, sizeof w) == 0, "sampled w differs from mu");
        quad_grad(w, a, t, g, N);
        cr_assert_eq(variational_step(&v, g, NULL, NULL), TAP_OK);
        quad_grad(plain, a, t, pg, N);
        adadelta_step(plain, pg, rg2, ru2, N, ADADELTA_RHO, ADADELTA_EPS);
        cr_assert(memcmp(plain, v.mu, sizeof plain) == 0, "step %d", step);
    }
    variational_free(&v);
}

Test(variational, delta_posteriors_train_and_decode_at_mu_and_noise_posteriors_perturb_it) {
    float w0[N], w[N];
    spaced_weights(w0, 2);
    for (int k = 0; k < VAR_COUNT; k++) {
        VarConfig c;
        variational_config_default(&c, (VarKind)k);
        c.sigma_init = 0.05f;
        Variational v;
        cr_assert_eq(variational_init(&v, &c, w0, N, NULL), TAP_OK);
        variational_sample(&v, w);
        int same = memcmp(w, variational_mean(&v), sizeof w) == 0;
        cr_assert_eq(same, variational_kind_info((VarKind)k)->posterior == VAR_POST_DELTA, "%s",
                     names[k]);
        variational_sample(&v, v.mu); // a delta posterior may share the array
        cr_assert(memcmp(w0, v.mu, sizeof w0) == 0 || !same);
        variational_free(&v);
    }
}

// ---- per-sequence noise (RNNLIB) ----

Test(variational, per_sequence_mode_uses_the_mean_gradient_and_mean_squared_gradients) {
    enum { B = 3 };
    VarConfig c;
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    c.per_sequence = 1;
    c.sigma_init = 0.01f;
    float w0[N], a[N], t[B][N], w[N], gs[B][N], mean_g[N] = {0}, curv[N] = {0};
    tu_fill_normal(w0, N, 0.1f, 1);
    tu_fill_uniform(a, N, 0.5f, 2.0f, 2);
    for (int s = 0; s < B; s++) tu_fill_normal(t[s], N, 1.0f, 10 + (uint64_t)s);
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, N, NULL), TAP_OK);
    for (int s = 0; s < B; s++) {
        variational_sample(&v, w); // fresh noise for every sequence
        quad_grad(w, a, t[s], gs[s], N);
        variational_accumulate(&v, gs[s], 1.0f / B);
        for (int i = 0; i < N; i++) {
            mean_g[i] += (1.0f / B) * gs[s][i];
            curv[i] += (1.0f / B) * gs[s][i] * gs[s][i];
        }
    }
    cr_assert(memcmp(gs[0], gs[1], sizeof gs[0]) != 0);
    float mu_before[N], ls2_before[N], want_mu[N], want_ls2[N];
    memcpy(mu_before, v.mu, sizeof mu_before);
    memcpy(ls2_before, v.ls2, sizeof ls2_before);
    double pm, pv;
    weight_noise_fit_prior(mu_before, ls2_before, 0.0f, N, &pm, &pv);
    weight_noise_grad(mu_before, ls2_before, 0.0f, mean_g, curv, N, pm, pv, c.coeff / c.n_train,
                      want_mu, want_ls2);
    cr_assert_eq(variational_step(&v, NULL, NULL, NULL), TAP_OK);
    cr_assert(memcmp(v.g_mu, want_mu, sizeof want_mu) == 0);
    cr_assert(memcmp(v.g_ls2, want_ls2, sizeof want_ls2) == 0);
    // The curvature is the mean of squares, not TAP's square of the mean.
    cr_assert_gt(curv[0], mean_g[0] * mean_g[0]);
    for (int i = 0; i < N; i++) cr_assert(v.g_acc[i] == 0.0f && v.curv[i] == 0.0f);
    variational_free(&v);
}

Test(variational, per_sequence_curvature_is_clipped_with_the_gradient) {
    // One sequence, g_s = (30, 40), clip 1 -> factor 1/50: g = (0.6, 0.8), curv = g^2.
    VarConfig c;
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    c.per_sequence = 1;
    c.clip_c = 1.0f;
    c.coeff = 0.0;
    c.sigma_init = 0.5f;
    const float w0[2] = {0.1f, -0.1f}, gs[2] = {30.0f, 40.0f};
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, 2, NULL), TAP_OK);
    variational_accumulate(&v, gs, 1.0f);
    cr_assert_eq(variational_step(&v, NULL, NULL, NULL), TAP_OK);
    float s2 = expf(weight_noise_ls2(0.5f) * WEIGHT_NOISE_LS2_SCALE);
    cr_assert_float_eq(v.g_mu[0], 0.6f, 1e-6);
    cr_assert_float_eq(v.g_ls2[0], 1024.0f * s2 * 0.36f, 1e-3);
    cr_assert_float_eq(v.g_ls2[1], 1024.0f * s2 * 0.64f, 1e-3);
    variational_free(&v);
}

// ---- clipping, failures, config checks ----

Test(variational, data_gradient_is_clipped_before_the_prior_term_is_added) {
    VarConfig c;
    variational_config_default(&c, VAR_L2);
    c.clip_c = 1.0f;
    c.coeff = 1.0;
    c.n_train = 4.0;
    c.prior_var = 0.5f;
    const float w0[2] = {1.0f, -2.0f};
    float g[2] = {30.0f, 40.0f};
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, 2, NULL), TAP_OK);
    VarStepInfo info;
    cr_assert_eq(variational_step(&v, g, &info, NULL), TAP_OK);
    cr_assert_float_eq(info.grad_norm, 50.0, 1e-9);
    // g_mu = clipped g + (c/N) w/var = (0.6, 0.8) + 0.25 * (2, -4)
    cr_assert_float_eq(v.g_mu[0], 1.1f, 1e-6);
    cr_assert_float_eq(v.g_mu[1], -0.2f, 1e-6);
    variational_free(&v);
}

Test(variational, non_finite_gradient_is_an_error_and_changes_nothing) {
    VarConfig c;
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    float w0[N], g[N] = {0};
    tu_fill_normal(w0, N, 0.1f, 1);
    g[7] = NAN;
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, N, NULL), TAP_OK);
    TapError err = {0};
    cr_assert_eq(variational_step(&v, g, NULL, &err), TAP_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "step 0") != NULL, "%s", err.msg);
    cr_assert(memcmp(w0, v.mu, sizeof w0) == 0);
    cr_assert_eq(v.step, 0);
    variational_free(&v);
}

Test(variational, bad_settings_are_rejected_with_a_message) {
    float w0[4] = {0};
    VarConfig c;
    Variational v;
    TapError err = {0};
    variational_config_default(&c, VAR_L1);
    c.prior_b = 0.0f;
    cr_assert_eq(variational_init(&v, &c, w0, 4, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "l1") && strstr(err.msg, "b"), "%s", err.msg);
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    c.n_train = 0.0;
    cr_assert_eq(variational_init(&v, &c, w0, 4, &err), TAP_ERR_ARG);
    variational_config_default(&c, VAR_WEIGHT_NOISE);
    c.sigma = -1.0f;
    cr_assert_eq(variational_init(&v, &c, w0, 4, &err), TAP_ERR_ARG);
    variational_config_default(&c, VAR_ML);
    c.opt_mu.rho = 2.0;
    cr_assert_eq(variational_init(&v, &c, w0, 4, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "ml: adadelta") != NULL, "%s", err.msg);
}

// ---- resume ----

static void train(Variational *v, const float *a, const float *t, int steps) {
    float w[N], g[N];
    for (int s = 0; s < steps; s++) {
        variational_sample(v, w);
        quad_grad(w, a, t, g, N);
        cr_assert_eq(variational_step(v, g, NULL, NULL), TAP_OK);
    }
}

static size_t entry_bytes(const StateEntry *e) {
    return e->len * (e->type == STATE_F32 ? sizeof(float) : 8);
}

Test(variational, restored_state_continues_bit_for_bit) {
    for (int ok = 0; ok < OPTIM_COUNT; ok++) {
        VarConfig c;
        variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
        c.sigma_init = 0.02f;
        optimizer_config_default(&c.opt_mu, (OptimKind)ok);
        optimizer_config_default(&c.opt_ls2, (OptimKind)ok);
        c.opt_ls2.lr = 1e-6;
        float w0[N], a[N], t[N];
        tu_fill_normal(w0, N, 0.1f, 1);
        tu_fill_uniform(a, N, 0.5f, 2.0f, 2);
        tu_fill_normal(t, N, 0.3f, 3);
        Variational v, r;
        cr_assert_eq(variational_init(&v, &c, w0, N, NULL), TAP_OK);
        train(&v, a, t, 3);
        // Save: deep copies of every listed entry.
        StateEntry ev[VARIATIONAL_STATE_MAX], er[VARIATIONAL_STATE_MAX];
        int k = variational_state(&v, ev);
        void *saved[VARIATIONAL_STATE_MAX];
        for (int i = 0; i < k; i++) {
            saved[i] = malloc(entry_bytes(&ev[i]));
            memcpy(saved[i], ev[i].data, entry_bytes(&ev[i]));
        }
        train(&v, a, t, 4);
        // Load into a fresh object built from other weights and another seed.
        VarConfig c2 = c;
        c2.seed = 999;
        float other[N] = {0};
        cr_assert_eq(variational_init(&r, &c2, other, N, NULL), TAP_OK);
        cr_assert_eq(variational_state(&r, er), k);
        for (int i = 0; i < k; i++) {
            cr_assert_str_eq(er[i].name, ev[i].name);
            cr_assert_eq(er[i].len, ev[i].len);
            memcpy(er[i].data, saved[i], entry_bytes(&er[i]));
            free(saved[i]);
        }
        train(&r, a, t, 4);
        const char *opt = optimizer_kind_name((OptimKind)ok);
        cr_assert(memcmp(r.mu, v.mu, sizeof(float) * N) == 0, "%s: mu", opt);
        cr_assert(memcmp(r.ls2, v.ls2, sizeof(float) * N) == 0, "%s: ls2", opt);
        cr_assert(memcmp(&r.rng, &v.rng, sizeof r.rng) == 0, "%s: rng", opt);
        cr_assert_eq(r.step, 7);
        variational_free(&v);
        variational_free(&r);
    }
}

Test(variational, state_names_cover_posterior_both_optimizers_prior_and_rng) {
    VarConfig c;
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    float w0[3] = {0};
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, 3, NULL), TAP_OK);
    StateEntry e[VARIATIONAL_STATE_MAX];
    int k = variational_state(&v, e);
    const char *want[] = {"mu",          "ls2",         "opt_mu/rg2",  "opt_mu/ru2",
                          "opt_mu/step", "opt_ls2/rg2", "opt_ls2/ru2", "opt_ls2/step",
                          "prior_mean",  "prior_scale", "rng",         "step"};
    cr_assert_eq(k, 12);
    for (int i = 0; i < k; i++) cr_assert_str_eq(e[i].name, want[i]);
    cr_assert_eq(e[10].len, 4);
    variational_free(&v);
    variational_config_default(&c, VAR_L2);
    cr_assert_eq(variational_init(&v, &c, w0, 3, NULL), TAP_OK);
    cr_assert_eq(variational_state(&v, e), 8); // no ls2, one optimizer
    variational_free(&v);
}

Test(variational, sigma_stats_summarise_the_posterior_noise) {
    float w0[4] = {0.1f, -0.1f, 0.1f, -0.1f};
    VarConfig c;
    variational_config_default(&c, VAR_ADAPTIVE_WEIGHT_NOISE);
    Variational v;
    cr_assert_eq(variational_init(&v, &c, w0, 4, NULL), TAP_OK);
    const float sig[4] = {0.01f, 1.0f, 0.01f, 1.0f};
    for (int i = 0; i < 4; i++) v.ls2[i] = weight_noise_ls2(sig[i]);
    VarSigmaStats s;
    variational_sigma_stats(&v, &s);
    cr_assert_eq(s.has_sigma, 1);
    cr_assert_float_eq(s.mean_sigma, 0.505, 1e-5);
    cr_assert_float_eq(s.min_sigma, 0.01, 1e-7);
    cr_assert_float_eq(s.max_sigma, 1.0, 1e-5);
    cr_assert(fabs(s.median_sigma / 0.01 - 1.0) < 0.025, "%g", s.median_sigma); // a 0.01-decade bin
    cr_assert_float_eq(s.snr_below_1, 0.5, 1e-12); // sigma 1 > |mu| 0.1; sigma 0.01 is not
    variational_free(&v);
    // No noise, nothing to say; fixed noise is the one sigma.
    variational_config_default(&c, VAR_ML);
    cr_assert_eq(variational_init(&v, &c, w0, 4, NULL), TAP_OK);
    variational_sigma_stats(&v, &s);
    cr_assert_eq(s.has_sigma, 0);
    variational_free(&v);
    variational_config_default(&c, VAR_WEIGHT_NOISE);
    cr_assert_eq(variational_init(&v, &c, w0, 4, NULL), TAP_OK);
    variational_sigma_stats(&v, &s);
    cr_assert(s.has_sigma && fabs(s.mean_sigma - 0.075) < 1e-6 && s.snr_below_1 == 0.0);
    variational_free(&v);
}
