// The BLAS wrappers against the naive triple loop, with leading dimensions wider than the
// matrices (catches transpose and stride mistakes), beta 0 and 1, and the elementwise helpers.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ops.h"
#include "test_util.h"

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m) m = d;
    }
    return m;
}

// Runs one variant with padded strides; compares the whole C buffer, padding included.
// M <= 4 or N = 1 take the sgemv path; C starts as NaN there with beta 0 (it must be overwritten).
static void check_variant_mn(int ta, int tb, float beta, int M, int N) {
    enum { K = 6, PAD = 3 };
    int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
    int rows_a = ta ? K : M, rows_b = tb ? N : K;
    float A[16 * 16], B[16 * 16], C[16 * 16], R[16 * 16];
    tu_fill_normal(A, (size_t)rows_a * lda, 1.0f, 11);
    tu_fill_normal(B, (size_t)rows_b * ldb, 1.0f, 12);
    tu_fill_normal(C, (size_t)M * ldc, 1.0f, 13);
    if ((M <= 4 || N == 1) && beta == 0.0f)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    memcpy(R, C, sizeof(float) * (size_t)M * ldc);
    if (!ta && !tb)
        mm_nn(M, N, K, A, lda, B, ldb, C, ldc, beta);
    else if (!ta && tb)
        mm_nt(M, N, K, A, lda, B, ldb, C, ldc, beta);
    else
        mm_tn(M, N, K, A, lda, B, ldb, C, ldc, beta);
    mm_ref(ta, tb, M, N, K, A, lda, B, ldb, R, ldc, beta);
    float d = max_abs_diff(C, R, (size_t)M * ldc);
    cr_assert(d < 1e-5f, "ta=%d tb=%d beta=%g M=%d N=%d: max diff %g", ta, tb, (double)beta, M, N,
              (double)d);
}

static void check_variant(int ta, int tb, float beta) {
    check_variant_mn(ta, tb, beta, 7, 5);
    check_variant_mn(ta, tb, beta, 1, 5);
    check_variant_mn(ta, tb, beta, 3, 5); // a few rows: one sgemv per row
    check_variant_mn(ta, tb, beta, 7, 1);
    check_variant_mn(ta, tb, beta, 1, 1);
}

Test(ops, mm_nn_matches_naive_loop_with_strides) {
    check_variant(0, 0, 0.0f);
    check_variant(0, 0, 1.0f);
}

Test(ops, mm_nt_matches_naive_loop_with_strides) {
    check_variant(0, 1, 0.0f);
    check_variant(0, 1, 1.0f);
}

Test(ops, mm_tn_matches_naive_loop_with_strides) {
    check_variant(1, 0, 0.0f);
    check_variant(1, 0, 1.0f);
}

Test(ops, mm_ref_computes_a_known_product) {
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    float C[4] = {1, 1, 1, 1};
    mm_ref(0, 0, 2, 2, 2, A, 2, B, 2, C, 2, 1.0f);
    cr_assert(C[0] == 20.0f && C[1] == 23.0f && C[2] == 44.0f && C[3] == 51.0f);
}

Test(ops, empty_inner_dimension_only_scales_c) {
    float C[2] = {NAN, 3.0f};
    mm_nn(1, 1, 0, NULL, 1, NULL, 1, C, 1, 0.0f);
    mm_tn(1, 1, 0, NULL, 1, NULL, 1, C + 1, 1, 1.0f);
    cr_assert(C[0] == 0.0f && C[1] == 3.0f);
}

Test(ops, bias_rows_add_and_column_sums) {
    float Y[2 * 4] = {1, 2, 3, 99, 4, 5, 6, 99};
    const float b[3] = {10, 20, 30};
    add_bias_rows(Y, 2, 3, 4, b);
    cr_assert(Y[0] == 11 && Y[2] == 33 && Y[3] == 99 && Y[4] == 14 && Y[6] == 36 && Y[7] == 99);
    float db[3] = {1, 1, 1};
    sum_rows_add(db, Y, 2, 3, 4);
    cr_assert(db[0] == 26 && db[1] == 48 && db[2] == 70);
}

Test(ops, sigmoid_and_tanh_gradients_match_central_differences) {
    for (float x = -3.0f; x <= 3.0f; x += 0.5f) {
        double e = 1e-3;
        double xd = (double)x;
        double ns = (1.0 / (1.0 + exp(-(xd + e))) - 1.0 / (1.0 + exp(-(xd - e)))) / (2 * e);
        double nt = (tanh(xd + e) - tanh(xd - e)) / (2 * e);
        float s = x, t = x;
        sigmoid_inplace(&s, 1);
        tanh_inplace(&t, 1);
        cr_assert(fabs((double)sigmoid_grad(s, 1.0f) - ns) < 1e-5, "sigmoid at %g", (double)x);
        cr_assert(fabs((double)tanh_grad(t, 1.0f) - nt) < 1e-5, "tanh at %g", (double)x);
        cr_assert(fabsf(sigmoid_f(x) - s) < 1e-7f);
    }
}

// The vectorised kernels against libm in double over a dense grid, on every tail length of the
// 8-wide blocks (n = 40001 - 0..7), and their handling of NaN and infinities.
static float grid_x(int i, int n) { return -20.0f + 40.0f * (float)i / (float)(n - 1); }

Test(ops, vectorised_tanh_sigmoid_and_exp_match_libm) {
    enum { N = 40001 };
    static float t[N], s[N], e[N];
    for (int n = N; n > N - 8; n--) {
        for (int i = 0; i < n; i++) t[i] = s[i] = grid_x(i, n), e[i] = 4.3f * grid_x(i, n);
        tanh_inplace(t, (size_t)n);
        sigmoid_inplace(s, (size_t)n);
        exp_inplace(e, (size_t)n);
        for (int i = 0; i < n; i++) {
            double x = (double)grid_x(i, n), th = tanh(x), sg = 1.0 / (1.0 + exp(-x));
            double xe = (double)(4.3f * grid_x(i, n)), ex = exp(xe);
            double dt = fabs((double)t[i] - th), ds = fabs((double)s[i] - sg);
            cr_assert(dt <= 4e-7 * fabs(th) || dt < 1e-37, "tanh(%g) = %.9g, libm %.9g", x,
                      (double)t[i], th);
            cr_assert(ds <= 2e-7 * sg, "sigmoid(%g) = %.9g, libm %.9g", x, (double)s[i], sg);
            if (ex > 1e-37 && ex < 1e38)
                cr_assert(fabs((double)e[i] - ex) <= 2e-7 * ex, "exp(%g) = %.9g, libm %.9g", xe,
                          (double)e[i], ex);
        }
    }
    float v[5] = {NAN, INFINITY, -INFINITY, 1e-30f, -1e-5f};
    tanh_inplace(v, 5);
    cr_assert(isnan(v[0]) && v[1] == 1.0f && v[2] == -1.0f && v[3] == 1e-30f && v[4] == -1e-5f);
    float w[3] = {NAN, INFINITY, -INFINITY};
    sigmoid_inplace(w, 3);
    cr_assert(isnan(w[0]) && w[1] == 1.0f && w[2] >= 0.0f && w[2] < 1e-37f);
}
