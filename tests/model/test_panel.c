// panel_mm against the naive triple loop: every row-block and column-panel edge (M = 1..9 rows;
// N around the 16-wide panel and the 64 columns of a single row), packed from B and from Bᵀ,
// strides wider than the matrices, beta 0 over NaN garbage and beta 1 accumulating.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "panel.h"
#include "test_util.h"

static void check_shape(int M, int N, int K, int trans, float beta) {
    enum { PAD = 3 };
    const int lda = K + PAD, ldb = (trans ? K : N) + PAD, ldc = N + PAD;
    const int rows_b = trans ? N : K;
    float *A = malloc(sizeof(float) * (size_t)M * lda);
    float *B = malloc(sizeof(float) * (size_t)rows_b * ldb);
    float *C = malloc(sizeof(float) * (size_t)M * ldc), *R = malloc(sizeof(float) * (size_t)M * ldc);
    float *P = malloc(sizeof(float) * panel_floats(K, N));
    tu_fill_normal(A, (size_t)M * lda, 1.0f, 21);
    tu_fill_normal(B, (size_t)rows_b * ldb, 1.0f, 22);
    tu_fill_normal(C, (size_t)M * ldc, 1.0f, 23);
    if (beta == 0.0f)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    memcpy(R, C, sizeof(float) * (size_t)M * ldc);
    panel_pack(K, N, B, ldb, trans, P);
    panel_mm(M, N, K, A, lda, P, C, ldc, beta);
    mm_ref(0, trans, M, N, K, A, lda, B, ldb, R, ldc, beta);
    float worst = 0.0f;
    for (size_t i = 0; i < (size_t)M * ldc; i++) {
        float d = fabsf(C[i] - R[i]);
        cr_assert(!isnan(d), "M=%d N=%d K=%d trans=%d: NaN at %zu", M, N, K, trans, i);
        if (d > worst) worst = d;
    }
    // K <= 40 products of unit normals: float rounding stays far below 1e-4
    cr_assert(worst < 1e-4f, "M=%d N=%d K=%d trans=%d beta=%g: max diff %g", M, N, K, trans,
              (double)beta, (double)worst);
    // without a pack the same product goes through BLAS on B itself
    memcpy(C, R, sizeof(float) * (size_t)M * ldc);
    panel_mm_or_blas(M, N, K, A, lda, NULL, B, ldb, trans, C, ldc, 1.0f);
    mm_ref(0, trans, M, N, K, A, lda, B, ldb, R, ldc, 1.0f);
    for (size_t i = 0; i < (size_t)M * ldc; i++)
        cr_assert(fabsf(C[i] - R[i]) < 1e-3f, "BLAS fallback M=%d N=%d K=%d trans=%d at %zu", M,
                  N, K, trans, i);
    free(A);
    free(B);
    free(C);
    free(R);
    free(P);
}

Test(panel, matches_the_naive_product_at_every_edge) {
    const int Ms[] = {1, 2, 3, 4, 5, 8, 9}, Ns[] = {1, 15, 16, 17, 40, 64, 70}, Ks[] = {1, 7, 40};
    for (int trans = 0; trans < 2; trans++)
        for (int beta = 0; beta < 2; beta++)
            for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
                for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
                    for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                        check_shape(Ms[m], Ns[n], Ks[k], trans, (float)beta);
}

Test(panel, packing_pads_the_last_panel_with_zeros_and_sizes_whole_panels) {
    cr_assert_eq(panel_floats(3, 17), (size_t)3 * 2 * PANEL_NR);
    cr_assert_eq(panel_floats(5, 16), (size_t)5 * PANEL_NR);
    float B[3 * 17], P[3 * 2 * PANEL_NR];
    for (int i = 0; i < 3 * 17; i++) B[i] = (float)(i + 1);
    memset(P, 0xff, sizeof P); // NaN patterns: padding must be written
    panel_pack(3, 17, B, 17, 0, P);
    // second panel holds column 16 only: B[k][16] then 15 zeros, for each k
    for (int k = 0; k < 3; k++) {
        const float *row = P + (size_t)(3 + k) * PANEL_NR; // panel 1 starts at K·16
        cr_assert_eq(row[0], B[k * 17 + 16]);
        for (int j = 1; j < PANEL_NR; j++) cr_assert_eq(row[j], 0.0f);
    }
}
