// Row-major cblas_sgemm wrappers and the naive reference they are tested against.
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vmath.h"

// C = beta·C, with beta = 0 overwriting (so NaN garbage in C does not survive, as in BLAS).
static void scale_c(int M, int N, float *C, int ldc, float beta) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? 0.0f : beta * *c;
        }
}

// sgemv's y = beta·y may keep NaN garbage at beta = 0 (BLAS leaves it open); sgemm's does not.
static void zero_row_if(int N, float *C, float beta) {
    if (beta == 0.0f) memset(C, 0, (size_t)N * sizeof *C);
}
static void zero_col_if(int M, float *C, int ldc, float beta) {
    for (int i = 0; beta == 0.0f && i < M; i++) C[(size_t)i * ldc] = 0.0f;
}

// Up to this many rows, one sgemv per row beats sgemm, which packs all of op(B) for few rows:
// (M, 250)·(250, 500) on one Zen 3 core: M = 2: 51 vs 19 GFLOP/s, M = 4: 50 vs 45 (NN) and
// 44 vs 31 (NT); at M = 8 sgemm wins (64 vs 52).
enum { GEMV_MAX_ROWS = 4 };

// C = op(A)·op(B) + beta·C for the three layouts (ta: A stored (K, M); tb: B stored (N, K)).
// Few rows or one column go to sgemv: sgemm would first pack the whole other operand.
static void gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, float beta) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // empty product: only the beta scaling remains
        scale_c(M, N, C, ldc, beta);
        return;
    }
    if (M <= GEMV_MAX_ROWS) { // (small batches, decoding) row i: c_i = op(B)ᵀ·a_i, one sgemv
        for (int i = 0; i < M; i++) { // a_i is strided along K when A is stored (K, M)
            float *c = C + (size_t)i * ldc;
            zero_row_if(N, c, beta);
            cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N,
                        1.0f, B, ldb, A + (ta ? (size_t)i : (size_t)i * lda), ta ? lda : 1, beta,
                        c, 1);
        }
        return;
    }
    if (N == 1) { // (attention energies) c = op(A)·b, b strided along K when B is stored (K, 1)
        zero_col_if(M, C, ldc, beta);
        cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? K : M, ta ? M : K, 1.0f,
                    A, lda, B, tb ? 1 : ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

void mm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta) {
    gemm(0, 0, M, N, K, A, lda, B, ldb, C, ldc, beta);
}

void mm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta) {
    gemm(0, 1, M, N, K, A, lda, B, ldb, C, ldc, beta);
}

void mm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
           float beta) {
    gemm(1, 0, M, N, K, A, lda, B, ldb, C, ldc, beta);
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

// ---------------------------------------------------------------------------- elementwise
// glibc's scalar tanhf/expf were about a third of a decoder step. These kernels work on 8 floats
// at a time with GCC vector extensions; an AVX2+FMA build of each is chosen at run time when the
// CPU has it (the portable build still uses SSE2 pairs). The vector math lives in vmath.h.
// Applies f to x[0..n) eight at a time; the tail goes through a zero-padded block.
#define ELEMENTWISE(name, f)                                                                      \
    static inline __attribute__((always_inline)) void name##_body(float *x, size_t n) {         \
        size_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8) v_store8(x + i, f(v_load8(x + i)));                            \
        if (i < n) {                                                                              \
            vf8 v = VSPLAT(0.0f);                                                                 \
            memcpy(&v, x + i, (n - i) * sizeof(float));                                           \
            v = f(v);                                                                             \
            memcpy(x + i, &v, (n - i) * sizeof(float));                                           \
        }                                                                                         \
    }                                                                                             \
    VMATH_BUILDS(name, (float *x, size_t n), (x, n))                                              \
    void name(float *x, size_t n) { (vmath_avx2() ? name##_avx2 : name##_generic)(x, n); }

ELEMENTWISE(tanh_inplace, v_tanh)
ELEMENTWISE(sigmoid_inplace, v_sigmoid)
ELEMENTWISE(exp_inplace, v_exp)
