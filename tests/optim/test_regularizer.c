#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "regularizer.h"
#include "tap.h"
#include "test_util.h"

static const float hand8[8] = {3, -1, 4, 1, -5, 9, 2, 6};

Test(regularizer, fitted_gauss_prior_is_the_mean_and_the_variance) {
    RegPrior p = {PRIOR_GAUSS, 0.0, 1.0};
    regularizer_fit(&p, hand8, 8, 1, 1, NULL);
    // mean 19/8; variance 173/8 - (19/8)^2
    cr_assert_float_eq(p.mean, 2.375, 1e-12);
    cr_assert_float_eq(p.scale, 15.984375, 1e-12);
    RegPrior q = {PRIOR_GAUSS, 0.0, 7.0}; // mean only
    regularizer_fit(&q, hand8, 8, 1, 0, NULL);
    cr_assert_float_eq(q.mean, 2.375, 1e-12);
    cr_assert_eq(q.scale, 7.0);
}

Test(regularizer, fitted_laplace_prior_is_the_median_and_the_mean_absolute_deviation) {
    float scratch[8];
    RegPrior p = {PRIOR_LAPLACE, 0.0, 1.0};
    // sorted: -5 -1 1 2 3 4 6 9 -> median (2+3)/2; mean |w - 2.5| = 25/8
    regularizer_fit(&p, hand8, 8, 1, 1, scratch);
    cr_assert_float_eq(p.mean, 2.5, 1e-12);
    cr_assert_float_eq(p.scale, 3.125, 1e-12);
    // odd: drop the 6 -> -5 -1 1 2 3 4 9, median 2, mean |w - 2| = 21/7
    const float hand7[7] = {3, -1, 4, 1, -5, 9, 2};
    regularizer_fit(&p, hand7, 7, 1, 1, scratch);
    cr_assert_float_eq(p.mean, 2.0, 1e-12);
    cr_assert_float_eq(p.scale, 3.0, 1e-12);
    RegPrior q = {PRIOR_LAPLACE, 0.0, 0.5}; // location only, b fixed
    regularizer_fit(&q, hand7, 7, 1, 0, scratch);
    cr_assert_float_eq(q.mean, 2.0, 1e-12);
    cr_assert_eq(q.scale, 0.5);
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double sorted_median(const float *w, size_t n) {
    float *s = malloc(n * sizeof *s);
    memcpy(s, w, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_f);
    double m = n % 2 ? (double)s[n / 2] : 0.5 * ((double)s[n / 2 - 1] + (double)s[n / 2]);
    free(s);
    return m;
}

Test(regularizer, median_matches_a_full_sort_on_awkward_inputs) {
    const size_t sizes[2] = {200001, 200000};
    for (int si = 0; si < 2; si++) {
        size_t n = sizes[si];
        float *w = malloc(n * sizeof *w), *scratch = malloc(n * sizeof *w);
        for (int pattern = 0; pattern < 5; pattern++) {
            if (pattern == 0) tu_fill_normal(w, n, 0.1f, 11);
            for (size_t i = 0; i < n; i++) {
                if (pattern == 1) w[i] = (float)i;                      // sorted
                if (pattern == 2) w[i] = (float)(n - i);                // reversed
                if (pattern == 3) w[i] = 0.25f;                         // all equal
                if (pattern == 4) w[i] = i % 3 ? 0.0f : (float)(i % 7); // biases: many zeros
            }
            double m = regularizer_median(w, n, scratch);
            cr_assert_eq(m, sorted_median(w, n), "n %zu pattern %d: %g", n, pattern, m);
        }
        free(w);
        free(scratch);
    }
}

Test(regularizer, median_selects_without_sorting_or_touching_the_weights) {
    size_t n = 100001;
    float *w = malloc(n * sizeof *w), *keep = malloc(n * sizeof *w), *s = malloc(n * sizeof *w);
    tu_fill_uniform(w, n, -1.0f, 1.0f, 5);
    memcpy(keep, w, n * sizeof *w);
    regularizer_median(w, n, s);
    cr_assert(memcmp(w, keep, n * sizeof *w) == 0);
    size_t inversions = 0; // a full sort would leave none
    for (size_t i = 1; i < n; i++) inversions += s[i] < s[i - 1];
    cr_assert_gt(inversions, n / 10);
    free(w);
    free(keep);
    free(s);
}

Test(regularizer, costs_are_negative_log_densities_with_constants) {
    const float w[2] = {1.0f, -1.0f};
    RegPrior lap = {PRIOR_LAPLACE, 0.0, 0.5}; // 2/0.5 + 2 ln(1)
    cr_assert_float_eq(regularizer_cost(&lap, w, 2), 4.0, 1e-12);
    RegPrior gau = {PRIOR_GAUSS, 1.0, 2.0}; // (0 + 4)/4 + ln(4 pi)
    cr_assert_float_eq(regularizer_cost(&gau, w, 2), 1.0 + log(4.0 * TAP_PI), 1e-12);
    RegPrior uni = {PRIOR_UNIFORM, 0.0, 0.0};
    cr_assert_eq(regularizer_cost(&uni, w, 2), 0.0);
}

// ---- gradients against central differences of the cost, prior fixed or refitted ----

enum { NW = 40 };
typedef struct {
    RegPrior prior;
    int fit_mean, fit_scale;
    float *w;
    float scratch[NW];
} Ctx;

static double cost_of(void *vctx) {
    Ctx *c = vctx;
    RegPrior p = c->prior;
    regularizer_fit(&p, c->w, NW, c->fit_mean, c->fit_scale, c->scratch);
    return regularizer_cost(&p, c->w, NW);
}

// Well separated weights (gaps 0.05 >> eps), so no difference crosses a Laplace kink.
static void spaced_weights(float *w) {
    int idx[NW];
    for (int i = 0; i < NW; i++) idx[i] = i;
    TapRng r;
    rng_seed(&r, 9);
    rng_shuffle_int(&r, idx, NW);
    for (int i = 0; i < NW; i++) w[i] = 0.05f * ((float)idx[i] - 17.3f) + 0.01f * rng_uniformf(&r);
}

static void check(PriorShape shape, double mean, double scale, int fit_mean, int fit_scale,
                  const char *name) {
    float w[NW], g[NW] = {0};
    spaced_weights(w);
    Ctx c = {{shape, mean, scale}, fit_mean, fit_scale, w, {0}};
    RegPrior p = c.prior;
    regularizer_fit(&p, w, NW, fit_mean, fit_scale, c.scratch);
    regularizer_grad(&p, w, NW, 1.0f, g);
    int fails = tu_gradcheck(name, w, g, NW, cost_of, &c, 1.0f / 4096, 1e-4, 1e-4, 0);
    cr_assert_eq(fails, 0, "%s", name);
}

Test(regularizer, l1_gradient_matches_central_differences) {
    check(PRIOR_LAPLACE, 0.0, 0.3, 0, 0, "l1");
}
Test(regularizer, l2_gradient_matches_central_differences) {
    check(PRIOR_GAUSS, 0.0, 0.2, 0, 0, "l2");
}
Test(regularizer, adaptive_l1_gradient_matches_central_differences_of_the_refitted_cost) {
    check(PRIOR_LAPLACE, 0.0, 1.0, 1, 1, "adaptive-l1");
}
Test(regularizer, adaptive_l2_gradient_matches_central_differences_of_the_refitted_cost) {
    check(PRIOR_GAUSS, 0.0, 1.0, 1, 1, "adaptive-l2");
}
Test(regularizer, adaptive_mean_l1_gradient_matches_central_differences_of_the_refitted_cost) {
    check(PRIOR_LAPLACE, 0.0, 0.3, 1, 0, "adaptive-mean-l1");
}
Test(regularizer, adaptive_mean_l2_gradient_matches_central_differences_of_the_refitted_cost) {
    check(PRIOR_GAUSS, 0.0, 0.2, 1, 0, "adaptive-mean-l2");
}

Test(regularizer, gradient_accumulates_and_scales) {
    const float w[3] = {1.0f, -1.0f, 0.0f};
    float g[3] = {10.0f, 10.0f, 10.0f};
    RegPrior lap = {PRIOR_LAPLACE, 0.0, 0.5};
    regularizer_grad(&lap, w, 3, 0.1f, g); // += 0.1 * sgn(w)/0.5
    cr_assert_float_eq(g[0], 10.2f, 1e-6);
    cr_assert_float_eq(g[1], 9.8f, 1e-6);
    cr_assert_eq(g[2], 10.0f);
}
