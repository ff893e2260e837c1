// Ink augmentation (src/data/augment.c): moving the stored features equals computing the
// features of the moved ink, draws are a pure function of (seed, key, expression), degenerate
// results leave the rows alone, and a batch keeps its shapes, masks and padding.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "augment.h"
#include "batch.h"
#include "feature.h"

// Three strokes whose points are far apart compared with the thinning threshold (max(W,H)/200),
// so thinning keeps every point, moved or not; the last stroke is a single point.
enum { N_TRACES = 3, N_RAW = 13 };
static const int trace_start[N_TRACES + 1] = {0, 6, 12, 13};
static const double raw_x[N_RAW] = {0, 10, 22, 31, 45, 52, 70, 71, 75, 83, 90, 96, 110};
static const double raw_y[N_RAW] = {5, 18, 9, 30, 26, 40, 0, 14, 33, 21, 8, 2, 36};

static void features_of(const double m[4], Features *out) {
    double x[N_RAW], y[N_RAW];
    for (int i = 0; i < N_RAW; i++) {
        x[i] = m[0] * raw_x[i] + m[1] * raw_y[i];
        y[i] = m[2] * raw_x[i] + m[3] * raw_y[i];
    }
    TapError err = {0};
    cr_assert_eq(feature_compute_traces(N_TRACES, trace_start, x, y, out, &err), TAP_OK, "%s",
                 err.msg);
}

static const AugmentConfig strong = {10.0, 0.3, 0.4, 0.0, 77};

Test(augment, moving_the_features_equals_the_features_of_the_moved_ink) {
    const double id[4] = {1, 0, 0, 1};
    Features base, moved;
    features_of(id, &base);
    cr_assert_eq(base.n_rows, N_RAW + 1, "every point kept, the one-point stroke twice");
    double scratch[2 * (N_RAW + 1)];
    int checked = 0;
    for (uint64_t key = 0; key < 20; key++) {
        double m[4];
        uint64_t js;
        augment_draw(&strong, key, 3, m, &js);
        features_of(m, &moved);
        float f[(N_RAW + 1) * 9];
        memcpy(f, base.f, sizeof f);
        cr_assert_eq(augment_rows(f, 9, base.n_rows, &strong, key, 3, scratch), 0);
        cr_assert_eq(moved.n_rows, base.n_rows);
        for (int i = 0; i < base.n_rows * 9; i++)
            cr_assert(fabsf(f[i] - moved.f[i]) < 2e-5f, "key %d, row %d col %d: %.7g vs %.7g",
                      (int)key, i / 9, i % 9, (double)f[i], (double)moved.f[i]);
        if (fabs(m[1]) > 0.05) checked++;
        feature_free(&moved);
    }
    cr_assert_geq(checked, 10, "the draws hardly moved the ink");
    feature_free(&base);
}

Test(augment, draws_depend_on_seed_key_and_expression_only_and_stay_in_range) {
    double m1[4], m2[4];
    uint64_t j1, j2;
    augment_draw(&strong, 5, 9, m1, &j1);
    augment_draw(&strong, 5, 9, m2, &j2);
    cr_assert(!memcmp(m1, m2, sizeof m1) && j1 == j2);
    augment_draw(&strong, 6, 9, m2, &j2);
    cr_assert(memcmp(m1, m2, sizeof m1), "another key, the same draw");
    augment_draw(&strong, 5, 10, m2, &j2);
    cr_assert(memcmp(m1, m2, sizeof m1), "another expression, the same draw");
    AugmentConfig other = strong;
    other.seed = 78;
    augment_draw(&other, 5, 9, m2, &j2);
    cr_assert(memcmp(m1, m2, sizeof m1), "another seed, the same draw");
    // rotation only: an orthogonal matrix with an angle within the limit
    AugmentConfig rot = {5.0, 0, 0, 0, 1};
    for (uint64_t k = 0; k < 200; k++) {
        double m[4];
        augment_draw(&rot, k, 0, m, &j1);
        cr_assert(fabs(m[0] * m[0] + m[2] * m[2] - 1) < 1e-12 && fabs(m[0] - m[3]) < 1e-12);
        cr_assert(fabs(atan2(m[2], m[0])) <= 5.0 * 3.14159265358979 / 180 + 1e-12);
    }
}

Test(augment, jitter_moves_points_by_about_its_std_and_is_reproducible) {
    const double id[4] = {1, 0, 0, 1};
    Features base;
    features_of(id, &base);
    AugmentConfig j = {0, 0, 0, 0.01, 3};
    double scratch[2 * (N_RAW + 1)];
    float a[(N_RAW + 1) * 9], b[(N_RAW + 1) * 9];
    memcpy(a, base.f, sizeof a);
    memcpy(b, base.f, sizeof b);
    cr_assert_eq(augment_rows(a, 9, base.n_rows, &j, 1, 0, scratch), 0);
    cr_assert_eq(augment_rows(b, 9, base.n_rows, &j, 1, 0, scratch), 0);
    cr_assert(!memcmp(a, b, sizeof a));
    double ss = 0;
    for (int i = 0; i < base.n_rows; i++) {
        double dx = a[i * 9] - base.f[i * 9], dy = a[i * 9 + 1] - base.f[i * 9 + 1];
        ss += dx * dx + dy * dy;
        cr_assert_eq(a[i * 9 + 7], base.f[i * 9 + 7], "pen flags stay");
        cr_assert_eq(a[i * 9 + 8], base.f[i * 9 + 8]);
    }
    double rms = sqrt(ss / (2.0 * base.n_rows));
    cr_assert(rms > 0.003 && rms < 0.03, "rms move %g for a jitter of 0.01", rms);
    feature_free(&base);
}

Test(augment, degenerate_ink_is_left_as_it_is) {
    float f[4 * 9] = {0};
    for (int i = 0; i < 4; i++) f[i * 9 + 7] = i < 3, f[i * 9 + 8] = i == 3; // all at (0, 0)
    float copy[4 * 9];
    memcpy(copy, f, sizeof f);
    double scratch[8];
    cr_assert_eq(augment_rows(f, 9, 4, &strong, 1, 1, scratch), -1);
    cr_assert(!memcmp(f, copy, sizeof f));
    AugmentConfig off = {0};
    cr_assert(!augment_enabled(&off));
    cr_assert_eq(augment_rows(f, 9, 4, &off, 1, 1, scratch), 0);
    cr_assert(!memcmp(f, copy, sizeof f));
}
