#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "weight_noise.h"

Test(weight_noise, ls2_stores_log_variance_over_2048) {
    cr_assert_float_eq(weight_noise_ls2(1e-12f), 2.0 * log(1e-12) / 2048.0, 1e-9);
    cr_assert_float_eq(expf(weight_noise_ls2(0.5f) * WEIGHT_NOISE_LS2_SCALE), 0.25f, 1e-5);
}

// mu = (1, 2, 3, 6), sigma = (1, 1, 2, 2): mean 3, var(mu) = 14/4, mean sigma^2 = 10/4.
static const float mu4[4] = {1, 2, 3, 6};
static void ls2_of(float *ls2, const float *sigma, int n) {
    for (int i = 0; i < n; i++) ls2[i] = weight_noise_ls2(sigma[i]);
}

Test(weight_noise, fitted_prior_is_mean_of_mu_and_mean_of_sigma2_plus_spread) {
    const float s[4] = {1, 1, 2, 2};
    float ls2[4];
    ls2_of(ls2, s, 4);
    double m, v;
    weight_noise_fit_prior(mu4, ls2, 0.0f, 4, &m, &v);
    cr_assert_float_eq(m, 3.0, 1e-12);
    cr_assert_float_eq(v, 6.0, 1e-5);
    weight_noise_fit_prior(mu4, NULL, 0.5f, 4, &m, &v); // fixed sigma
    cr_assert_float_eq(v, 3.75, 1e-7);
}

Test(weight_noise, gradients_follow_taps_formulas_on_hand_values) {
    // c/N = 0.01, prior (3, 6), sigma_3^2 = 4, g_3 = 0.5:
    // g_mu  = 0.01 * (6 - 3)/6 + 0.5 = 0.505
    // g_ls2 = 0.01 * 0.5 * 2048 * (4/6 - 1) + 0.5 * 2048 * 4 * 0.25 = 1020.58667
    const float s[4] = {1, 1, 2, 2}, g[4] = {0, 0, 0, 0.5f}, curv[4] = {0, 0, 0, 1.0f};
    float ls2[4], g_mu[4], g_ls2[4];
    ls2_of(ls2, s, 4);
    weight_noise_grad(mu4, ls2, 0.0f, g, NULL, 4, 3.0, 6.0, 0.01, g_mu, g_ls2);
    cr_assert_float_eq(g_mu[3], 0.505f, 1e-6);
    cr_assert_float_eq(g_ls2[3], 1020.58667f, 2e-3);
    cr_assert_float_eq(g_mu[0], -0.01f / 3.0f, 1e-8); // prior pull only
    cr_assert_float_eq(g_ls2[0], 0.01f * 1024.0f * (1.0f / 6.0f - 1.0f), 1e-4);
    // curvature given: 0.5 * 2048 * 4 * 1 replaces the g^2 term
    weight_noise_grad(mu4, ls2, 0.0f, g, curv, 4, 3.0, 6.0, 0.01, g_mu, g_ls2);
    cr_assert_float_eq(g_ls2[3], 4096.0f - 10.24f / 3.0f, 2e-3);
}

Test(weight_noise, kl_matches_hand_values) {
    // one weight, Q = N(1, 1), P = N(0, 4): ln 2 + (1 + 1 - 4)/8
    const float mu[1] = {1.0f};
    float ls2[1] = {weight_noise_ls2(1.0f)};
    cr_assert_float_eq(weight_noise_kl(mu, ls2, 0.0f, 1, 0.0, 4.0), log(2.0) - 0.25, 1e-9);
    cr_assert_float_eq(weight_noise_kl(mu, NULL, 1.0f, 1, 0.0, 4.0), log(2.0) - 0.25, 1e-12);
    // Q = P gives 0
    cr_assert_float_eq(weight_noise_kl(mu, NULL, 2.0f, 1, 1.0, 4.0), 0.0, 1e-12);
}

// ---- KL gradients against central differences, prior held fixed ----
enum { NK = 32 };
typedef struct {
    float mu[NK], ls2[NK];
    double mean, var;
} KlCtx;

static double kl_of(void *p) {
    KlCtx *c = p;
    return weight_noise_kl(c->mu, c->ls2, 0.0f, NK, c->mean, c->var);
}

Test(weight_noise, kl_gradients_wrt_mu_and_ls2_match_central_differences) {
    KlCtx c;
    float s[NK], g_mu[NK], g_ls2[NK];
    tu_fill_normal(c.mu, NK, 0.1f, 3);
    tu_fill_uniform(s, NK, 0.02f, 0.2f, 4);
    ls2_of(c.ls2, s, NK);
    c.mean = 0.01;
    c.var = 0.02;
    // coeff 1, no data gradient: g_mu = dKL/dmu, g_ls2 = dKL/dls2
    weight_noise_grad(c.mu, c.ls2, 0.0f, NULL, NULL, NK, c.mean, c.var, 1.0, g_mu, g_ls2);
    // Power-of-two steps, so x + eps is exact in float. ls2 moves log sigma^2 by 2048 eps:
    // 2^-20 keeps the third-order error of the exponential below 1e-3.
    cr_assert_eq(tu_gradcheck("dKL/dmu", c.mu, g_mu, NK, kl_of, &c, 1.0f / 4096, 1e-4, 1e-4, 0), 0);
    cr_assert_eq(
        tu_gradcheck("dKL/dls2", c.ls2, g_ls2, NK, kl_of, &c, 1.0f / 1048576, 1e-2, 1e-4, 0), 0);
}

// ---- sampling ----

Test(weight_noise, tiny_sigma_samples_equal_mu_to_float_precision) {
    enum { N = 1001 };
    float mu[N], ls2[N], w[N];
    tu_fill_uniform(mu, N, 0.01f, 1.0f, 8);
    for (int i = 0; i < N; i += 2) mu[i] = -mu[i];
    float l = (float)(log(1e-24) / 2048.0); // sigma = 1e-12, TAP's initial value
    for (int i = 0; i < N; i++) ls2[i] = l;
    TapRng r;
    rng_seed(&r, 1);
    weight_noise_sample(w, mu, ls2, 0.0f, N, &r);
    for (int i = 0; i < N; i++)
        cr_assert_eq(w[i], mu[i], "i %d: %.9g vs %.9g", i, (double)w[i], (double)mu[i]);
}

Test(weight_noise, samples_have_the_posterior_mean_and_spread) {
    size_t n = 200001; // odd: the last weight takes the first output of a pair
    float *mu = malloc(n * sizeof *mu), *ls2 = malloc(n * sizeof *mu), *w = malloc(n * sizeof *mu);
    tu_fill_normal(mu, n, 0.1f, 2);
    for (size_t i = 0; i < n; i++) ls2[i] = weight_noise_ls2(i % 2 ? 0.05f : 0.2f);
    TapRng r;
    rng_seed(&r, 77);
    weight_noise_sample(w, mu, ls2, 0.0f, n, &r);
    double s[2] = {0}, s2[2] = {0};
    for (size_t i = 0; i < n; i++) {
        double z = ((double)w[i] - (double)mu[i]) / (i % 2 ? 0.05 : 0.2);
        s[i % 2] += z;
        s2[i % 2] += z * z;
    }
    for (int k = 0; k < 2; k++) {
        double m = s[k] / (double)(n / 2), v = s2[k] / (double)(n / 2) - m * m;
        cr_assert_lt(fabs(m), 0.01);
        cr_assert_lt(fabs(v - 1.0), 0.02, "variance ratio %g", v);
    }
    cr_assert_neq(w[n - 1], mu[n - 1]);
    free(mu);
    free(ls2);
    free(w);
}

Test(weight_noise, resampling_is_deterministic_given_the_seed_and_fresh_each_call) {
    enum { N = 99 };
    float mu[N] = {0}, a[N], b[N], c[N];
    TapRng r1, r2;
    rng_seed(&r1, 5);
    rng_seed(&r2, 5);
    weight_noise_sample(a, mu, NULL, 0.075f, N, &r1);
    weight_noise_sample(b, mu, NULL, 0.075f, N, &r2);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    weight_noise_sample(c, mu, NULL, 0.075f, N, &r1);
    cr_assert(memcmp(a, c, sizeof a) != 0);
    rng_seed(&r2, 6);
    weight_noise_sample(b, mu, NULL, 0.075f, N, &r2);
    cr_assert(memcmp(a, b, sizeof a) != 0);
}
