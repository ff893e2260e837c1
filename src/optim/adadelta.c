#include "adadelta.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ADADELTA_AVX 1
#endif

// One element, in TAP's order of operations; the vector path below repeats it exactly (no
// FMA: C11 mode does not contract a*b + c, and IEEE sqrt and division round the same in both).
static inline void adadelta_one(float *x, const float *g, float *rg2, float *ru2, float rho,
                                float a, float eps) {
    float gi = *g;
    float r = rho * *rg2 + a * gi * gi;
    float ud = -sqrtf(*ru2 + eps) / sqrtf(r + eps) * gi;
    *rg2 = r;
    *ru2 = rho * *ru2 + a * ud * ud;
    *x += ud;
}

#ifdef ADADELTA_AVX
// Eight at a time: the scalar loop was bound by its two square roots and division per weight
// (25 ms for TAP's 6.3 M weights on Zen 3); AVX does them for 8 weights at once.
__attribute__((target("avx"))) static size_t adadelta_avx(float *x, const float *g, float *rg2,
                                                          float *ru2, size_t n, float rho,
                                                          float a, float eps) {
    const __m256 vrho = _mm256_set1_ps(rho), va = _mm256_set1_ps(a), veps = _mm256_set1_ps(eps);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i), r2 = _mm256_loadu_ps(rg2 + i);
        __m256 u2 = _mm256_loadu_ps(ru2 + i);
        __m256 r = _mm256_add_ps(_mm256_mul_ps(vrho, r2), _mm256_mul_ps(_mm256_mul_ps(va, gi), gi));
        __m256 num = _mm256_xor_ps(_mm256_sqrt_ps(_mm256_add_ps(u2, veps)), sign);
        __m256 ud = _mm256_mul_ps(_mm256_div_ps(num, _mm256_sqrt_ps(_mm256_add_ps(r, veps))), gi);
        _mm256_storeu_ps(rg2 + i, r);
        _mm256_storeu_ps(ru2 + i, _mm256_add_ps(_mm256_mul_ps(vrho, u2),
                                                _mm256_mul_ps(_mm256_mul_ps(va, ud), ud)));
        _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), ud));
    }
    return i;
}
#endif

void adadelta_step(float *x, const float *g, float *rg2, float *ru2, size_t n, double rho_d,
                   double eps_d) {
    const float rho = (float)rho_d, a = (float)(1.0 - rho_d), eps = (float)eps_d;
    size_t i = 0;
#ifdef ADADELTA_AVX
    if (__builtin_cpu_supports("avx")) i = adadelta_avx(x, g, rg2, ru2, n, rho, a, eps);
#endif
    for (; i < n; i++) adadelta_one(x + i, g + i, rg2 + i, ru2 + i, rho, a, eps);
}
