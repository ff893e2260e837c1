#include "rng.h"

#include <math.h>

#include "tap.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(TapRng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(uint64_t *s) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_next(TapRng *r) { return next(r->s); }

// The state stays in registers across the loop (bulk draws for weight noise).
void rng_fill_u64(TapRng *r, uint64_t *out, size_t n) {
    uint64_t s[4] = {r->s[0], r->s[1], r->s[2], r->s[3]};
    for (size_t i = 0; i < n; i++) out[i] = next(s);
    for (int k = 0; k < 4; k++) r->s[k] = s[k];
}

double rng_uniform(TapRng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

float rng_uniformf(TapRng *r) { return (float)(rng_next(r) >> 40) * 0x1.0p-24f; }

double rng_normal(TapRng *r) {
    // 1 - u lies in (0, 1], so the log is finite.
    double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * TAP_PI * u2);
}

uint64_t rng_below(TapRng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r);
    while (x >= limit);
    return x % n;
}

void rng_shuffle_int(TapRng *r, int *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

void rng_fill_normal(TapRng *r, float *x, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * (float)rng_normal(r);
}

void rng_fill_uniform(TapRng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniformf(r);
}
