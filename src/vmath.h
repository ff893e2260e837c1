// Vector math on 8 floats (and 4 doubles) with GCC vector extensions, shared by the model's
// elementwise kernels (model/ops.c) and the weight-noise loops (optim/). Every helper is
// static inline and always inlined, so a caller compiles it twice, once inside a
// target("avx2,fma") function and once portable (SSE2 pairs), and picks one with
// vmath_avx2(). C11 strict does not contract a*b + c into FMA, so both builds round alike
// and give bit-identical results.
#ifndef TAP_VMATH_H
#define TAP_VMATH_H

#include <stdint.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

// The helpers are always inlined, so their 32-byte vector returns never cross an ABI boundary
// (CMakeLists.txt turns GCC's -Wpsabi note about them off).
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
typedef double vd4 __attribute__((vector_size(32)));
typedef int64_t vl4 __attribute__((vector_size(32)));
typedef uint32_t vu8 __attribute__((vector_size(32)));

#define VSPLAT(v) ((vf8){v, v, v, v, v, v, v, v})
#define VSPLAT_D(v) ((vd4){v, v, v, v})

// 1 when the CPU runs the target("avx2,fma") builds.
static inline int vmath_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// A kernel `name##_body` (static inline, always inlined) compiled twice: name##_avx2 for CPUs
// with AVX2 and FMA, name##_generic for the rest; callers pick one with vmath_avx2().
// VMATH_BUILDS for bodies without a result, VMATH_BUILDS_RET for bodies returning `type`.
#define VMATH_BUILDS(name, params, args)                                                          \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; }      \
    static void name##_generic params { name##_body args; }
#define VMATH_BUILDS_RET(type, name, params, args)                                                \
    __attribute__((target("avx2,fma"))) static type name##_avx2 params {                          \
        return name##_body args;                                                                  \
    }                                                                                             \
    static type name##_generic params { return name##_body args; }

// 8 floats at any alignment; 4 floats widened to double (this form compiles to one vcvtps2pd;
// GCC 12 converts a 16-byte float vector in two halves).
static inline __attribute__((always_inline)) vf8 v_load8(const float *p) {
    vf8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline __attribute__((always_inline)) void v_store8(float *p, vf8 v) {
    memcpy(p, &v, sizeof v);
}
static inline __attribute__((always_inline)) vd4 v_load4d(const float *p) {
    return (vd4){p[0], p[1], p[2], p[3]};
}

static inline __attribute__((always_inline)) vf8 v_select(vi8 mask, vf8 a, vf8 b) {
    return (vf8)((mask & (vi8)a) | (~mask & (vi8)b));
}

// tanh as Eigen's rational approximation (odd degree 13 over even degree 6) on [-7.9, 7.9],
// outside which tanh is ±1 to float precision; |x| < 4e-4 returns x. Measured against tanh in
// double: error below 4e-7, absolute and relative (test_ops). NaN stays NaN.
static inline __attribute__((always_inline)) vf8 v_tanh(vf8 a) {
    const vf8 lim = VSPLAT(7.90531110763549805f);
    vf8 x = v_select(a > lim, lim, a);
    x = v_select(x < -lim, -lim, x);
    vf8 x2 = x * x;
    vf8 p = x2 * VSPLAT(-2.76076847742355e-16f) + VSPLAT(2.00018790482477e-13f);
    p = x2 * p + VSPLAT(-8.60467152213735e-11f);
    p = x2 * p + VSPLAT(5.12229709037114e-08f);
    p = x2 * p + VSPLAT(1.48572235717979e-05f);
    p = x2 * p + VSPLAT(6.37261928875436e-04f);
    p = x2 * p + VSPLAT(4.89352455891786e-03f);
    p = x * p;
    vf8 q = x2 * VSPLAT(1.19825839466702e-06f) + VSPLAT(1.18534705686654e-04f);
    q = x2 * q + VSPLAT(2.26843463243900e-03f);
    q = x2 * q + VSPLAT(4.89352518554385e-03f);
    vf8 r = p / q;
    vf8 absa = (vf8)((vi8)a & (vi8){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                                       0x7fffffff, 0x7fffffff, 0x7fffffff});
    r = v_select(absa < VSPLAT(4e-4f), a, r);
    return v_select(a != a, a, r);
}

// exp by Cephes' expf: x = n·ln2 + r with |r| <= ln2/2, a degree-7 polynomial for e^r, and 2^n
// built in the exponent bits. Inputs are clamped to [-87.3, 88] (2^n stays a normal float).
static inline __attribute__((always_inline)) vf8 v_exp(vf8 a) {
    vf8 x = v_select(a > VSPLAT(88.0f), VSPLAT(88.0f), a);
    x = v_select(x < VSPLAT(-87.3f), VSPLAT(-87.3f), x);
    vf8 fx = x * VSPLAT(1.44269504088896341f) + VSPLAT(0.5f);
    vf8 fl = __builtin_convertvector(__builtin_convertvector(fx, vi8), vf8); // truncation
    fl = v_select(fl > fx, fl - VSPLAT(1.0f), fl);                         // floor
    x = x - fl * VSPLAT(0.693359375f) - fl * VSPLAT(-2.12194440e-4f);
    vf8 y = x * VSPLAT(1.9875691500e-4f) + VSPLAT(1.3981999507e-3f);
    y = y * x + VSPLAT(8.3334519073e-3f);
    y = y * x + VSPLAT(4.1665795894e-2f);
    y = y * x + VSPLAT(1.6666665459e-1f);
    y = y * x + VSPLAT(5.0000001201e-1f);
    y = y * x * x + x + VSPLAT(1.0f);
    vi8 e = (__builtin_convertvector(fl, vi8) + 127) << 23;
    vf8 r = y * (vf8)e;
    return v_select(a != a, a, r);
}

static inline __attribute__((always_inline)) vf8 v_sigmoid(vf8 a) {
    return VSPLAT(1.0f) / (VSPLAT(1.0f) + v_exp(-a));
}

// Square root, correctly rounded as IEEE requires, so every build gives the same bits: SSE's
// sqrtps on two halves (baseline x86-64; sqrtf lane by lane elsewhere).
static inline __attribute__((always_inline)) vf8 v_sqrt(vf8 a) {
#if defined(__SSE__)
    __m128 h[2];
    memcpy(h, &a, sizeof h);
    h[0] = _mm_sqrt_ps(h[0]);
    h[1] = _mm_sqrt_ps(h[1]);
    memcpy(&a, h, sizeof a);
#else
    for (int k = 0; k < 8; k++) a[k] = __builtin_sqrtf(a[k]);
#endif
    return a;
}

// Natural log by Cephes' logf: x = 2^e m with m in [sqrt(1/2), sqrt(2)), a degree-9 polynomial
// in m - 1. Only for positive normal floats (what Box-Muller feeds it); m - 1 is exact, so
// ln x near 1 keeps its relative accuracy.
static inline __attribute__((always_inline)) vf8 v_log(vf8 a) {
    vi8 bits = (vi8)a;
    vf8 e = __builtin_convertvector((bits >> 23) - 126, vf8);
    vf8 m = (vf8)((bits & 0x807fffff) | 0x3f000000); // [0.5, 1)
    vi8 small = m < VSPLAT(0.707106781186547524f);
    e = v_select(small, e - VSPLAT(1.0f), e);
    vf8 x = v_select(small, m + m, m) - VSPLAT(1.0f);
    vf8 z = x * x;
    vf8 y = x * VSPLAT(7.0376836292e-2f) + VSPLAT(-1.1514610310e-1f);
    y = y * x + VSPLAT(1.1676998740e-1f);
    y = y * x + VSPLAT(-1.2420140846e-1f);
    y = y * x + VSPLAT(1.4249322787e-1f);
    y = y * x + VSPLAT(-1.6668057665e-1f);
    y = y * x + VSPLAT(2.0000714765e-1f);
    y = y * x + VSPLAT(-2.4999993993e-1f);
    y = y * x + VSPLAT(3.3333331174e-1f);
    y = y * x * z;
    y = y + e * VSPLAT(-2.12194440e-4f);
    y = y - VSPLAT(0.5f) * z;
    return x + y + e * VSPLAT(0.693359375f);
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1]: u = q/4 + t with |t| <= 1/8 exactly (u has
// at most 24 significant bits below 1), Cephes' sinf/cosf polynomials on 2 pi t in
// [-pi/4, pi/4], then the quadrant q swaps and negates them.
static inline __attribute__((always_inline)) void v_sincos_2pi(vf8 u, vf8 *s, vf8 *c) {
    vf8 fx = u * VSPLAT(4.0f) + VSPLAT(0.5f); // >= 0.5: truncation is floor
    vi8 q = __builtin_convertvector(fx, vi8);
    vf8 x = (u - __builtin_convertvector(q, vf8) * VSPLAT(0.25f)) * VSPLAT(6.28318530717958648f);
    vf8 z = x * x;
    vf8 sp = z * VSPLAT(-1.9515295891e-4f) + VSPLAT(8.3321608736e-3f);
    sp = sp * z + VSPLAT(-1.6666654611e-1f);
    sp = sp * z * x + x;
    vf8 cp = z * VSPLAT(2.443315711809948e-5f) + VSPLAT(-1.388731625493765e-3f);
    cp = cp * z + VSPLAT(4.166664568298827e-2f);
    cp = cp * z * z - VSPLAT(0.5f) * z + VSPLAT(1.0f);
    vi8 swap = (q & 1) != 0;
    const vi8 sign = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN,
                      INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
    *s = (vf8)((vi8)v_select(swap, cp, sp) ^ (((q & 2) != 0) & sign));
    *c = (vf8)((vi8)v_select(swap, sp, cp) ^ ((((q + 1) & 2) != 0) & sign));
}

static inline __attribute__((always_inline)) vd4 v_select_d(vl4 mask, vd4 a, vd4 b) {
    return (vd4)((mask & (vl4)a) | (~mask & (vl4)b));
}

// exp in double: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two), Taylor to degree 13
// (truncation below 5e-18 relative), 2^n built in the exponent bits. Inputs are clamped to
// [-708, 709] (2^n stays a normal double); NaN is not handled.
static inline __attribute__((always_inline)) vd4 v_exp_d(vd4 a) {
    const vd4 magic = VSPLAT_D(6755399441055744.0); // 1.5 * 2^52: rounds to an integer
    vd4 x = v_select_d(a > VSPLAT_D(709.0), VSPLAT_D(709.0), a);
    x = v_select_d(x < VSPLAT_D(-708.0), VSPLAT_D(-708.0), x);
    vd4 nm = x * VSPLAT_D(1.4426950408889634074) + magic;
    vd4 n = nm - magic; // round to nearest
    vd4 r = x - n * VSPLAT_D(6.93147180369123816490e-1) - n * VSPLAT_D(1.90821492927058770002e-10);
    vd4 p = VSPLAT_D(1.0 / 6227020800.0);
    p = p * r + VSPLAT_D(1.0 / 479001600.0);
    p = p * r + VSPLAT_D(1.0 / 39916800.0);
    p = p * r + VSPLAT_D(1.0 / 3628800.0);
    p = p * r + VSPLAT_D(1.0 / 362880.0);
    p = p * r + VSPLAT_D(1.0 / 40320.0);
    p = p * r + VSPLAT_D(1.0 / 5040.0);
    p = p * r + VSPLAT_D(1.0 / 720.0);
    p = p * r + VSPLAT_D(1.0 / 120.0);
    p = p * r + VSPLAT_D(1.0 / 24.0);
    p = p * r + VSPLAT_D(1.0 / 6.0);
    p = p * r + VSPLAT_D(0.5);
    p = p * r * r + r + VSPLAT_D(1.0);
    vl4 e = ((vl4)nm - (vl4)magic + 1023) << 52;
    return p * (vd4)e;
}

#endif
