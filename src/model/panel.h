// Products with few rows against a weight matrix packed once: the recurrent h·U of every time
// step. sgemm re-packs all of B on every call, which for 8 rows costs as much as the product
// itself: (8, 250)·(250, 750) ran at 58-63 GFLOP/s as sgemm and at 90 with B packed once per
// pass (one Zen 3 core). B is packed into panels of PANEL_NR columns, each panel K rows of
// PANEL_NR floats, the last one zero-padded.
#ifndef TAP_MODEL_PANEL_H
#define TAP_MODEL_PANEL_H

#include <stddef.h>

enum { PANEL_NR = 16 };

// Floats of a packed (K, N) matrix.
size_t panel_floats(int K, int N);
// Packs B (K, N) with row stride ldb, or with trans = 1 packs Bᵀ of B stored (N, K), so that
// panel_mm computes A·Bᵀ (the backward pass's dh·Uᵀ) from the same weights.
void panel_pack(int K, int N, const float *B, int ldb, int trans, float *packed);
// C (M, N; row stride ldc) = A (M, K; row stride lda) · B + beta·C, B packed by panel_pack.
// beta = 0 overwrites C (NaN garbage does not survive). Uses AVX2 and FMA where the CPU has
// them; the result depends on the CPU only through rounding.
void panel_mm(int M, int N, int K, const float *A, int lda, const float *packed, float *C,
              int ldc, float beta);

// C = A·B + beta·C with B stored (K, N) (trans 0), or A·Bᵀ with B stored (N, K) (trans 1):
// through panel_mm when `packed` holds that product's right operand packed, else through the
// BLAS wrappers (ops.h) on B itself. Lets a layer take its packed weights as optional.
void panel_mm_or_blas(int M, int N, int K, const float *A, int lda, const float *packed,
                      const float *B, int ldb, int trans, float *C, int ldc, float beta);

#endif
