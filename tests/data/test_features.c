// TAP point features (src/data/feature.c): hand-made golden inputs whose .expected rows come from
// an independent NumPy implementation (tests/golden/features/reference.py), the recipe's edge
// cases, degenerate ink, and, when ../shared is present, TAP's own .ascii for 20 test files.
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feature.h"
#include "test_util.h"

// Parses "%f" rows into a malloc'd (rows, 9) array.
static double *read_rows(const char *text, int *rows) {
    size_t cap = 1024, n = 0;
    double *v = malloc(cap * sizeof *v);
    const char *p = text;
    char *end;
    for (;;) {
        double x = strtod(p, &end);
        if (end == p) break;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = x;
        p = end;
    }
    cr_assert_eq(n % TAP_FEATURE_DIM, 0, "ragged rows");
    *rows = (int)(n / TAP_FEATURE_DIM);
    return v;
}

// Max |ours - reference| over all columns; -1 when the row counts differ.
static double compare(const Features *f, const double *ref, int ref_rows) {
    if (f->n_rows != ref_rows) return -1.0;
    double worst = 0.0;
    for (int i = 0; i < ref_rows * TAP_FEATURE_DIM; i++) {
        double d = fabs((double)f->f[i] - ref[i]);
        if (!(d <= worst)) worst = d; // NaN propagates
    }
    return worst;
}

static void features_of(const char *path, Features *f) {
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(feature_compute(&d, f, &err), TAP_OK, "%s", err.msg);
    inkml_free(&d);
}

static void check_golden(const char *name) {
    char path[1024], exp[1024];
    snprintf(path, sizeof path, "%s/tests/golden/features/%s.inkml", tu_source_dir(), name);
    snprintf(exp, sizeof exp, "%s/tests/golden/features/%s.expected", tu_source_dir(), name);
    Features f;
    features_of(path, &f);
    char *text = tu_read_file(exp, NULL);
    cr_assert_not_null(text, "missing %s", exp);
    int rows;
    double *ref = read_rows(text, &rows);
    double worst = compare(&f, ref, rows);
    cr_assert(worst >= 0.0, "%s: %d rows, reference has %d", name, f.n_rows, rows);
    cr_assert(worst <= 2e-6, "%s: max abs diff %g", name, worst);
    free(ref);
    free(text);
    feature_free(&f);
}

Test(features, tie_repeats_and_single_points_match_the_numpy_reference) {
    check_golden("tie_repeats_single");
}
Test(features, fractional_negative_xyt_points_match_the_numpy_reference) {
    check_golden("fractional_negative");
}

// Helper: features of strokes given as flat (x, y) lists.
static int run(const double *xy, const int *starts, int n_traces, Features *f, TapError *err) {
    int n = starts[n_traces];
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int i = 0; i < n; i++) x[i] = xy[2 * i], y[i] = xy[2 * i + 1];
    int rc = feature_compute_traces(n_traces, starts, x, y, f, err);
    free(x);
    free(y);
    return rc;
}

Test(features, thinning_keeps_points_at_exactly_the_threshold_and_the_last_point) {
    // W = 200 -> T = 1. Raw: 0, 0(repeat), 1 (d = 1: kept), 1.5 (dropped), 2 (kept),
    // 2.2 (dropped), 2.4 (last: always kept); then a far stroke to set W.
    double xy[] = {0, 0, 0, 0, 1, 0, 1.5, 0, 2, 0, 2.2, 0, 2.4, 0, 200, 0, 190, 0};
    int starts[] = {0, 7, 9};
    Features f;
    TapError err = {0};
    cr_assert_eq(run(xy, starts, 2, &f, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(f.n_rows, 4 + 2);
    int want_stroke[] = {0, 0, 0, 0, 1, 1};
    float pen[] = {1, 1, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(f.stroke[i], want_stroke[i]);
        cr_expect_eq(f.f[i * 9 + 7], pen[i], "row %d pen-down", i);
        cr_expect_eq(f.f[i * 9 + 8], 1.0f - pen[i], "row %d pen-up", i);
    }
    // x steps in normalised units are proportional to the kept raw steps 1, 1, 0.4.
    float s1 = f.f[9] - f.f[0], s3 = f.f[27] - f.f[18];
    cr_expect_float_eq(s3 / s1, 0.4f, 1e-3f);
    feature_free(&f);
}

Test(features, single_point_stroke_gives_two_identical_rows) {
    double xy[] = {0, 0, 10, 0, 5, 5, 20, 3, 25, 9};
    int starts[] = {0, 2, 3, 5};
    Features f;
    TapError err = {0};
    cr_assert_eq(run(xy, starts, 3, &f, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(f.n_rows, 2 + 2 + 2);
    cr_expect_eq(f.f[2 * 9 + 0], f.f[3 * 9 + 0]);
    cr_expect_eq(f.f[2 * 9 + 1], f.f[3 * 9 + 1]);
    cr_expect_eq(f.f[2 * 9 + 7], 1.0f); // first of the pair: pen down
    cr_expect_eq(f.f[3 * 9 + 8], 1.0f); // second: pen up
    cr_expect_eq(f.stroke[2], 1);
    cr_expect_eq(f.stroke[3], 1);
    feature_free(&f);
}

Test(features, differences_cross_strokes_and_vanish_on_the_last_row) {
    double xy[] = {0, 0, 4, 3, 10, 0, 10, 8, 2, 2};
    int starts[] = {0, 2, 5};
    Features f;
    TapError err = {0};
    cr_assert_eq(run(xy, starts, 2, &f, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(f.n_rows, 5);
    const float *r = f.f;
    // Row 1 ends stroke 0; its differences reach into stroke 1.
    cr_expect_float_eq(r[9 + 2], r[18 + 0] - r[9 + 0], 1e-6f);
    cr_expect_float_eq(r[9 + 5], r[27 + 1] - r[9 + 1], 1e-6f);
    // Second-to-last row: n2 clamps to n1.
    cr_expect_eq(r[27 + 4], r[27 + 2]);
    cr_expect_eq(r[27 + 5], r[27 + 3]);
    // Last row: cols 3..7 are zero, pen up.
    for (int k = 2; k < 7; k++) cr_expect_eq(r[36 + k], 0.0f);
    cr_expect_eq(r[36 + 8], 1.0f);
    // Curvature column is |dy2| / (1 + dy1^2)^1.5 and never negative.
    for (int i = 0; i < 5; i++) {
        const float *q = r + i * 9;
        double want = fabs((double)q[5]) / pow(1.0 + (double)q[3] * (double)q[3], 1.5);
        cr_expect_float_eq((double)q[6], want, 1e-6);
    }
    feature_free(&f);
}

Test(features, normalisation_uses_length_weighted_moments_and_x_sigma_for_both_axes) {
    // One segment (0,0)-(6,8): l = 10, mu = (3,4); var_x = (9 + 9 - 9) / 3 = 3.
    double xy[] = {0, 0, 6, 8};
    int starts[] = {0, 2};
    Features f;
    TapError err = {0};
    cr_assert_eq(run(xy, starts, 1, &f, &err), TAP_OK, "%s", err.msg);
    double sigma = sqrt(3.0);
    cr_expect_float_eq((double)f.f[0], -3.0 / sigma, 1e-6);
    cr_expect_float_eq((double)f.f[1], -4.0 / sigma, 1e-6);
    cr_expect_float_eq((double)f.f[9], 3.0 / sigma, 1e-6);
    cr_expect_float_eq((double)f.f[10], 4.0 / sigma, 1e-6);
    feature_free(&f);
}

Test(features, degenerate_ink_is_an_error_not_nan) {
    Features f;
    TapError err = {0};
    double same[] = {5, 5, 5, 5, 5, 5};
    int s1[] = {0, 2, 3};
    cr_assert_eq(run(same, s1, 2, &f, &err), TAP_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "total stroke length is zero"), "%s", err.msg);
    cr_assert_null(f.f);
    double vertical[] = {5, 1, 5, 9, 5, 12, 5, 20};
    int s2[] = {0, 2, 4};
    cr_assert_eq(run(vertical, s2, 2, &f, &err), TAP_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "zero horizontal spread"), "%s", err.msg);
    cr_assert_null(f.f);
    int s3[] = {0, 0};
    cr_assert_eq(run(same, s3, 1, &f, &err), TAP_ERR_ARG);
}

Test(features, broken_corpus_degenerate_files_fail_with_their_messages) {
    const char *cases[][2] = {{"degenerate_point", "total stroke length is zero"},
                              {"vertical_line", "zero horizontal spread"}};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/bad_inkml/%s.inkml", tu_source_dir(), cases[i][0]);
        InkmlDoc d;
        Features f;
        TapError err = {0};
        cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
        cr_expect_eq(feature_compute(&d, &f, &err), TAP_ERR_NUMERIC);
        cr_expect(strstr(err.msg, cases[i][1]), "%s", err.msg);
        inkml_free(&d);
    }
}

// The acceptance check against TAP's released features (20 of the 986 test files are available).
Test(features, all_twenty_tap_sample_files_agree_within_1e_4, .timeout = 120) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    char dir[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s/tap-ascii", tu_tmpdir());
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && tar -xzf %s/crohme/tap/on-ascii-test-sample.tar.gz -C %s", dir, shared,
             dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "cd %s && find . -name '*.ascii' | sort", dir);
    FILE *ls = popen(cmd, "r");
    cr_assert_not_null(ls);
    char name[512];
    int files = 0, ok = 0, exact = 0;
    double worst = 0.0;
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = '\0';
        char ascii[2048], inkml[2048];
        snprintf(ascii, sizeof ascii, "%s/%s", dir, name);
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        snprintf(inkml, sizeof inkml, "%s/crohme/2014/test/%.*s.inkml", shared,
                 (int)(strlen(base) - 6), base);
        Features f;
        features_of(inkml, &f);
        char *text = tu_read_file(ascii, NULL);
        cr_assert_not_null(text);
        int rows;
        double *ref = read_rows(text, &rows);
        double d = compare(&f, ref, rows);
        files++;
        if (d >= 0.0 && d <= 1e-4) ok++;
        if (d >= 0.0 && d > worst) worst = d;
        if (d >= 0.0 && d < 5.0000001e-7) exact++; // same at 6 decimals (printing rounds)
        cr_expect(d >= 0.0 && d <= 1e-4, "%s: rows %d vs %d, max abs diff %g", base, f.n_rows, rows,
                  d);
        free(ref);
        free(text);
        feature_free(&f);
    }
    pclose(ls);
    cr_log_info("TAP sample: %d files, %d within 1e-4, max abs diff %.3g, %d at rounding level",
                files, ok, worst, exact);
    cr_assert_eq(files, 20);
    cr_assert_eq(ok, 20);
}
