#include "panel.h"

#include <string.h>

#include "ops.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PANEL_AVX2 1
#endif

static int panels(int N) { return (N + PANEL_NR - 1) / PANEL_NR; }

// Columns of panel p that are inside N (the last one may be partial).
static int panel_width(int N, int p) {
    return N - p * PANEL_NR < PANEL_NR ? N - p * PANEL_NR : PANEL_NR;
}

size_t panel_floats(int K, int N) { return (size_t)K * (size_t)panels(N) * PANEL_NR; }

void panel_pack(int K, int N, const float *B, int ldb, int trans, float *packed) {
    for (int p = 0; p < panels(N); p++) {
        const int n0 = p * PANEL_NR, w = panel_width(N, p);
        float *dst = packed + (size_t)p * K * PANEL_NR;
        for (int k = 0; k < K; k++, dst += PANEL_NR) {
            for (int j = 0; j < w; j++)
                dst[j] = trans ? B[(size_t)(n0 + j) * ldb + k] : B[(size_t)k * ldb + n0 + j];
            for (int j = w; j < PANEL_NR; j++) dst[j] = 0.0f;
        }
    }
}

// c (w floats) = acc + beta·c
static void store_row(float *c, const float *acc, int w, float beta) {
    for (int j = 0; j < w; j++) c[j] = beta == 0.0f ? acc[j] : acc[j] + beta * c[j];
}

// Rows [i, i + 1) of one panel, portable: the tail of M and the fallback without AVX2.
static void panel_row_generic(int K, const float *a, const float *bp, float *acc) {
    for (int j = 0; j < PANEL_NR; j++) acc[j] = 0.0f;
    for (int k = 0; k < K; k++) {
        const float ak = a[k];
        const float *b = bp + (size_t)k * PANEL_NR;
        for (int j = 0; j < PANEL_NR; j++) acc[j] += ak * b[j];
    }
}

#ifdef PANEL_AVX2
// The 8 accumulators of a 4 x 16 block (four rows, or one row by four panels) into acc.
__attribute__((target("avx2,fma"), always_inline)) static inline void
store_4x16(float acc[4][PANEL_NR], __m256 c00, __m256 c01, __m256 c10, __m256 c11, __m256 c20,
           __m256 c21, __m256 c30, __m256 c31) {
    _mm256_storeu_ps(acc[0], c00);
    _mm256_storeu_ps(acc[0] + 8, c01);
    _mm256_storeu_ps(acc[1], c10);
    _mm256_storeu_ps(acc[1] + 8, c11);
    _mm256_storeu_ps(acc[2], c20);
    _mm256_storeu_ps(acc[2] + 8, c21);
    _mm256_storeu_ps(acc[3], c30);
    _mm256_storeu_ps(acc[3] + 8, c31);
}

// Four rows by one panel (16 columns): 8 accumulators, 2 loads of B and 4 broadcasts of A per k.
__attribute__((target("avx2,fma"))) static void panel_4x16(int K, const float *A, int lda,
                                                          const float *bp, float acc[4][PANEL_NR]) {
    const float *a0 = A, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
    __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int k = 0; k < K; k++, bp += PANEL_NR) {
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        __m256 a = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
    }
    store_4x16(acc, c00, c01, c10, c11, c20, c21, c30, c31);
}

// One row by four consecutive panels (64 columns): 8 independent accumulators hide the FMA
// latency that one panel's two chains expose (a single row: the encoder of one expression
// while decoding ran 1.4x slower as 1x16 than as sgemv).
__attribute__((target("avx2,fma"))) static void panel_1x64(int K, const float *a,
                                                          const float *bp, float acc[4][PANEL_NR]) {
    const size_t ps = (size_t)K * PANEL_NR;
    const float *b0 = bp, *b1 = bp + ps, *b2 = bp + 2 * ps, *b3 = bp + 3 * ps;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
    __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int k = 0; k < K; k++) {
        const size_t o = (size_t)k * PANEL_NR;
        const __m256 ak = _mm256_broadcast_ss(a + k);
        c00 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b0 + o), c00);
        c01 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b0 + o + 8), c01);
        c10 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b1 + o), c10);
        c11 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b1 + o + 8), c11);
        c20 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b2 + o), c20);
        c21 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b2 + o + 8), c21);
        c30 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b3 + o), c30);
        c31 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b3 + o + 8), c31);
    }
    store_4x16(acc, c00, c01, c10, c11, c20, c21, c30, c31);
}

__attribute__((target("avx2,fma"))) static void panel_1x16(int K, const float *a,
                                                          const float *bp, float *acc) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0;
    for (int k = 0; k < K; k++, bp += PANEL_NR) {
        const __m256 ak = _mm256_broadcast_ss(a + k);
        c0 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(bp), c0);
        c1 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(bp + 8), c1);
    }
    _mm256_storeu_ps(acc, c0);
    _mm256_storeu_ps(acc + 8, c1);
}
#endif

void panel_mm(int M, int N, int K, const float *A, int lda, const float *packed, float *C,
              int ldc, float beta) {
    int avx2 = 0, rows4 = 0;
#ifdef PANEL_AVX2
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // Panel by panel, so that a panel (K·16 floats) stays in L1 while every row block reads it.
    if (avx2) {
        rows4 = M / 4 * 4;
        for (int p = 0; p < panels(N); p++) {
            const int n0 = p * PANEL_NR, w = panel_width(N, p);
            for (int i = 0; i < rows4; i += 4) {
                float acc[4][PANEL_NR];
                panel_4x16(K, A + (size_t)i * lda, lda, packed + (size_t)p * K * PANEL_NR, acc);
                for (int r = 0; r < 4; r++)
                    store_row(C + (size_t)(i + r) * ldc + n0, acc[r], w, beta);
            }
        }
    }
#endif
    // The remaining rows one at a time, four panels at once where there are four.
    for (int i = rows4; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        int p = 0;
#ifdef PANEL_AVX2
        for (; avx2 && p + 4 <= panels(N); p += 4) {
            float acc[4][PANEL_NR];
            panel_1x64(K, a, packed + (size_t)p * K * PANEL_NR, acc);
            for (int q = 0; q < 4; q++)
                store_row(c + (p + q) * PANEL_NR, acc[q], panel_width(N, p + q), beta);
        }
#endif
        for (; p < panels(N); p++) {
            float acc[PANEL_NR];
            const float *bp = packed + (size_t)p * K * PANEL_NR;
#ifdef PANEL_AVX2
            if (avx2)
                panel_1x16(K, a, bp, acc);
            else
#endif
                panel_row_generic(K, a, bp, acc);
            store_row(c + p * PANEL_NR, acc, panel_width(N, p), beta);
        }
    }
}

void panel_mm_or_blas(int M, int N, int K, const float *A, int lda, const float *packed,
                      const float *B, int ldb, int trans, float *C, int ldc, float beta) {
    if (packed)
        panel_mm(M, N, K, A, lda, packed, C, ldc, beta);
    else if (trans)
        mm_nt(M, N, K, A, lda, B, ldb, C, ldc, beta);
    else
        mm_nn(M, N, K, A, lda, B, ldb, C, ldc, beta);
}
