#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_util.h"
#include "vmath.h"
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

// ---- the vector loops against the sequential formulas, and the noise's distribution ----

// Reference: the scalar loops as before vectorisation, libm exp, sequential double sums.
static void ref_fit(const float *mu, const float *ls2, float sigma, size_t n, double *m,
                    double *v) {
    double s = 0.0, q = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)mu[i];
    s /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = (double)mu[i] - s;
        q += (double)(ls2 ? expf(ls2[i] * WEIGHT_NOISE_LS2_SCALE) : sigma * sigma) + d * d;
    }
    *m = s;
    *v = q / (double)n;
}

static double ref_kl(const float *mu, const float *ls2, float sigma, size_t n, double m,
                     double v) {
    double kl = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)mu[i] - m;
        double l = ls2 ? (double)ls2[i] * 2048.0 : 2.0 * log((double)sigma);
        kl += 0.5 * log(v) - 0.5 * l + (d * d + exp(l) - v) / (2.0 * v);
    }
    return kl;
}

static int close_to(double x, double ref, double rel) {
    return fabs(x - ref) <= rel * fabs(ref) + 1e-30;
}

// Lengths 1013 and 1019 leave ragged tails after the blocks of 8 and 16; every combination of
// the optional arrays is checked.
Test(weight_noise, vector_loops_match_the_sequential_formulas_with_ragged_tails) {
    enum { N = 1019 };
    float mu[N], ls2[N], s[N], g[N], curv[N], g_mu[N], g_ls2[N];
    tu_fill_normal(mu, N, 0.1f, 11);
    tu_fill_normal(g, N, 1.0f, 12);
    tu_fill_uniform(curv, N, 0.0f, 2.0f, 13);
    tu_fill_uniform(s, N, 1e-6f, 0.2f, 14);
    ls2_of(ls2, s, N);
    const size_t lens[2] = {1013, 1019};
    for (int t = 0; t < 2; t++) {
        size_t n = lens[t];
        for (int fixed = 0; fixed < 2; fixed++) {
            const float *l = fixed ? NULL : ls2;
            double m, v, rm, rv;
            weight_noise_fit_prior(mu, l, 0.05f, n, &m, &v);
            ref_fit(mu, l, 0.05f, n, &rm, &rv);
            cr_assert(close_to(m, rm, 1e-12), "mean %.17g vs %.17g", m, rm);
            cr_assert(close_to(v, rv, 1e-6), "var %.17g vs %.17g", v, rv); // float exp
            double kl = weight_noise_kl(mu, l, 0.05f, n, m, v);
            double rkl = ref_kl(mu, l, 0.05f, n, m, v);
            cr_assert(close_to(kl, rkl, 1e-12), "KL %.17g vs %.17g", kl, rkl);
            for (int opt = 0; opt < 8; opt++) {
                const float *gg = opt & 1 ? NULL : g, *cv = opt & 2 ? curv : NULL;
                float *gl = opt & 4 ? NULL : g_ls2;
                memset(g_ls2, 0xff, sizeof g_ls2); // NaN: every written value is checked
                weight_noise_grad(mu, l, 0.05f, gg, cv, n, m, v, 1e-3, g_mu, gl);
                for (size_t i = 0; i < n; i++) {
                    double gi = gg ? (double)g[i] : 0.0;
                    double rmu = 1e-3 * ((double)mu[i] - m) / v + gi;
                    cr_assert(close_to(g_mu[i], rmu, 1e-5), "g_mu %zu: %g vs %g", i,
                              (double)g_mu[i], rmu);
                    if (!gl) continue;
                    double s2 = l ? exp((double)l[i] * 2048.0) : 0.05 * 0.05;
                    double h = cv ? (double)cv[i] : gi * gi;
                    double rls = 1e-3 * 1024.0 * (s2 / v - 1.0) + 1024.0 * s2 * h;
                    cr_assert(fabs((double)g_ls2[i] - rls) <= 1e-5 * (fabs(rls) + 1.0),
                              "g_ls2 %zu (opt %d): %g vs %g", i, opt, (double)g_ls2[i], rls);
                }
                if (!gl) cr_assert(isnan(g_ls2[0]));
            }
        }
    }
}

Test(weight_noise, a_shorter_array_gets_a_prefix_of_the_same_noise) {
    enum { N = 48 };
    float mu[N] = {0}, a[N], b[N];
    TapRng r1, r2;
    rng_seed(&r1, 21);
    rng_seed(&r2, 21);
    weight_noise_sample(a, mu, NULL, 1.0f, N, &r1);
    weight_noise_sample(b, mu, NULL, 1.0f, 37, &r2);
    cr_assert(memcmp(a, b, 37 * sizeof *a) == 0);
    cr_assert(memcmp(&r1, &r2, sizeof r1) == 0); // both took 24 draws
}

static int cmp_float(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

// A million N(0, 1) draws: moments, tail fractions, the 24-bit uniforms' cut at 5.8 sigma, no
// correlation between the two outputs of a pair (w[i], w[i + 8]), and the Kolmogorov-Smirnov
// distance to the normal CDF below its 0.1% critical value 1.95 / sqrt(n).
Test(weight_noise, a_million_draws_are_standard_normal) {
    size_t n = 1u << 20;
    float *mu = calloc(n, sizeof *mu), *z = malloc(n * sizeof *z);
    TapRng r;
    rng_seed(&r, 2024);
    weight_noise_sample(z, mu, NULL, 1.0f, n, &r);
    double s = 0, s2 = 0, zmax = 0, cross = 0;
    size_t t3 = 0, t4 = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)z[i];
        s += x, s2 += x * x;
        t3 += fabs(x) > 3.0, t4 += fabs(x) > 4.0;
        zmax = fabs(x) > zmax ? fabs(x) : zmax;
        if (i % 16 < 8) cross += x * (double)z[i + 8];
    }
    double dn = (double)n, m = s / dn, v = s2 / dn - m * m;
    cr_assert_lt(fabs(m), 5.0 / sqrt(dn), "mean %g", m);
    cr_assert_lt(fabs(v - 1.0), 5.0 * sqrt(2.0 / dn), "variance %g", v);
    double e3 = dn * erfc(3.0 / sqrt(2.0)), e4 = dn * erfc(4.0 / sqrt(2.0)); // 2831, 66
    cr_assert_lt(fabs((double)t3 - e3), 5.0 * sqrt(e3), "|z| > 3: %zu, expected %g", t3, e3);
    cr_assert_lt(fabs((double)t4 - e4), 5.0 * sqrt(e4), "|z| > 4: %zu, expected %g", t4, e4);
    cr_assert_lt(zmax, 5.8);
    cr_assert_lt(fabs(cross / (dn / 2)), 5.0 / sqrt(dn / 2), "pair correlation %g", cross);
    qsort(z, n, sizeof *z, cmp_float);
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        double f = 0.5 * erfc(-(double)z[i] / sqrt(2.0));
        double lo = f - (double)i / dn, hi = (double)(i + 1) / dn - f;
        d = fmax(d, fmax(lo, hi));
    }
    cr_assert_lt(d, 1.95 / sqrt(dn), "KS distance %g", d);
    free(mu);
    free(z);
}

// vmath.h's Box-Muller pieces over every 24-bit uniform the sampler can draw (one in 13 of
// them), and the double exp of the KL, against libm in double.
Test(weight_noise, vector_log_sincos_and_double_exp_match_libm) {
    double e_log = 0, e_sin = 0, e_cos = 0, e_exp = 0;
    for (int32_t k = 0; k < (1 << 24); k += 8 * 13) {
        vf8 u1, u2, s, c;
        for (int j = 0; j < 8; j++) {
            u2[j] = (float)(k + 13 * j) * 0x1.0p-24f;
            u1[j] = 1.0f - u2[j];
        }
        vf8 l = v_log(u1);
        v_sincos_2pi(u2, &s, &c);
        for (int j = 0; j < 8; j++) {
            double rl = log((double)u1[j]), a = 2.0 * TAP_PI * (double)u2[j];
            e_log = fmax(e_log, fabs((double)l[j] - rl) / fmax(fabs(rl), 1e-30));
            e_sin = fmax(e_sin, fabs((double)s[j] - sin(a)));
            e_cos = fmax(e_cos, fabs((double)c[j] - cos(a)));
        }
    }
    for (double x = -700.0; x < 700.0; x += 0.0137) {
        vd4 r = v_exp_d((vd4){x, -x, x / 64, -x / 64});
        e_exp = fmax(e_exp, fabs(r[0] - exp(x)) / exp(x));
        e_exp = fmax(e_exp, fabs(r[3] - exp(-x / 64)) / exp(-x / 64));
    }
    cr_log_info("max error: log %.3g rel, sin %.3g, cos %.3g abs, exp %.3g rel", e_log, e_sin,
                e_cos, e_exp);
    cr_assert_lt(e_log, 1.5e-7);
    cr_assert_lt(e_sin, 1.5e-7);
    cr_assert_lt(e_cos, 1.5e-7);
    cr_assert_lt(e_exp, 4e-16);
}
