#include <criterion/criterion.h>
#include <math.h>

#include "clip.h"

Test(clip, gradient_above_threshold_is_scaled_to_norm_c) {
    float g[2] = {3.0f, 4.0f};
    double s;
    double norm = clip_global_norm(g, 2, 1.0f, &s);
    cr_assert_float_eq(norm, 5.0, 1e-12);
    cr_assert_float_eq(s, 0.2, 1e-12);
    cr_assert_float_eq(g[0], 0.6f, 1e-7);
    cr_assert_float_eq(g[1], 0.8f, 1e-7);
}

Test(clip, gradient_at_or_below_threshold_is_unchanged) {
    float g[2] = {3.0f, 4.0f};
    double s;
    clip_global_norm(g, 2, 5.0f, &s); // g2 = 25 is not > c^2
    cr_assert_eq(g[0], 3.0f);
    cr_assert_eq(g[1], 4.0f);
    cr_assert_eq(s, 1.0);
    clip_global_norm(g, 2, 0.0f, NULL); // off
    cr_assert_eq(g[0], 3.0f);
}

Test(clip, norm_is_summed_over_a_long_array_in_double) {
    // 1e6 entries of 1e-3 (not exact in float): a float sum drifts, a double sum does not.
    size_t n = 1000000;
    float *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) g[i] = 1e-3f;
    double ref = (double)n * (double)1e-3f * (double)1e-3f;
    cr_assert(fabs(clip_sum_squares(g, n) - ref) < 1e-9 * ref); // a float sum misses by 1e-3
    double norm = clip_global_norm(g, n, 0.5f, NULL);           // norm 1 -> halve
    cr_assert_float_eq(norm, sqrt(ref), 1e-9);
    cr_assert_float_eq(g[n - 1], 0.5e-3f, 1e-9);
    cr_assert_float_eq(sqrt(clip_sum_squares(g, n)), 0.5, 1e-6);
    free(g);
}

Test(clip, non_finite_norm_is_reported_and_gradient_left_alone) {
    float g[3] = {1.0f, NAN, 2.0f};
    double norm = clip_global_norm(g, 3, 1.0f, NULL);
    cr_assert(isnan(norm));
    cr_assert_eq(g[0], 1.0f);
    g[1] = INFINITY;
    cr_assert(isinf(clip_global_norm(g, 3, 1.0f, NULL)));
    cr_assert_eq(g[2], 2.0f);
}

// The vector loops take 16 (sum) and 8 (scale) floats at a time: every ragged length must
// give the sequential result up to rounding.
Test(clip, every_length_up_to_40_sums_and_scales_like_the_sequential_loop) {
    float g[40], h[40];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < n; i++) g[i] = h[i] = (float)(i % 7) - 2.5f + 0.1f * (float)n;
        double ref = 0.0;
        for (size_t i = 0; i < n; i++) ref += (double)g[i] * (double)g[i];
        cr_assert(fabs(clip_sum_squares(g, n) - ref) <= 1e-14 * ref, "n %zu", n);
        double s = 0.0;
        clip_global_norm(g, n, 1.0f, &s);
        cr_assert_float_eq(s, ref > 1.0 ? 1.0 / sqrt(ref) : 1.0, 1e-14, "n %zu", n);
        float sf = (float)s;
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(g[i], h[i] * sf, "n %zu, i %zu: %g vs %g", n, i, (double)g[i],
                         (double)(h[i] * sf));
    }
}
