// Row-major cblas_sgemm wrappers and the naive reference they are tested against.
#include "ops.h"

#include <cblas.h>
#include <math.h>

// C = beta·C, with beta = 0 overwriting (so NaN garbage in C does not survive, as in BLAS).
static void scale_c(int M, int N, float *C, int ldc, float beta) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? 0.0f : beta * *c;
        }
}

void mm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // empty product: only the beta scaling remains
        scale_c(M, N, C, ldc, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

void mm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_c(M, N, C, ldc, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

void mm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_c(M, N, C, ldc, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

void mm_ref(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B,
            int ldb, float *C, int ldc, float beta) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += (double)a * (double)b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(s + (beta == 0.0f ? 0.0 : (double)beta * (double)*c));
        }
    }
}

void add_bias_rows(float *Y, int M, int N, int ldy, const float *bias) {
    for (int i = 0; i < M; i++) {
        float *y = Y + (size_t)i * ldy;
        for (int j = 0; j < N; j++) y[j] += bias[j];
    }
}

void sum_rows_add(float *db, const float *dY, int M, int N, int ldy) {
    for (int i = 0; i < M; i++) {
        const float *d = dY + (size_t)i * ldy;
        for (int j = 0; j < N; j++) db[j] += d[j];
    }
}

void sigmoid_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = sigmoid_f(x[i]);
}

void tanh_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}
