// Dense kernels shared by every layer: thin row-major wrappers on cblas_sgemm (sgemv for few
// rows), the naive triple loop they are tested against, and the elementwise helpers.
// All matrices are row-major with an explicit leading dimension (row stride, in floats), so a
// column block of a wider matrix (e.g. the [r | u] halves of W) is passed as (ptr + col, ld).
// Every product computes C = op(A)·op(B) + beta·C; beta = 1 accumulates (backward's +=).
#ifndef TAP_MODEL_OPS_H
#define TAP_MODEL_OPS_H

#include <math.h>
#include <stddef.h>

// C (M, N) = A (M, K) · B (K, N) + beta·C
void mm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta);
// C (M, N) = A (M, K) · Bᵀ, B stored (N, K) + beta·C      (dx = dy·Wᵀ)
void mm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta);
// C (M, N) = Aᵀ · B, A stored (K, M), B (K, N) + beta·C    (dW = xᵀ·dy)
void mm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta);
// Naive reference (tests only): trans_a/trans_b select the stored layouts above; sums in double.
void mm_ref(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B,
            int ldb, float *C, int ldc, float beta);

// Y (M, N; row stride ldy) += bias (N) on every row.
void add_bias_rows(float *Y, int M, int N, int ldy, const float *bias);
// db (N) += Σ_rows dY (M, N; row stride ldy). Column sums for bias gradients.
void sum_rows_add(float *db, const float *dY, int M, int N, int ldy);

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }
// Elementwise in place over n floats, vectorised (8 at a time; AVX2+FMA when the CPU has it).
// Not bit-identical to libm: tanh within 4e-7 (absolute and relative; a rational approximation), exp
// and sigmoid within 2e-7 relative for inputs in [-87, 88] (exp clamps outside). NaN propagates.
// Use these in hot loops; the scalar sigmoid_f/tanhf remain for one-off values.
void sigmoid_inplace(float *x, size_t n);
void tanh_inplace(float *x, size_t n);
void exp_inplace(float *x, size_t n);
// Backward through y = sigmoid(x) / tanh(x), given y: returns dL/dx for dL/dy = dy.
static inline float sigmoid_grad(float y, float dy) { return dy * y * (1.0f - y); }
static inline float tanh_grad(float y, float dy) { return dy * (1.0f - y * y); }

#endif
