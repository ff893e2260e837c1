// Explicit-state random numbers (xoshiro256**, seeded by splitmix64). No global state:
// every draw takes a TapRng, so runs are reproducible and the state can be checkpointed.
#ifndef TAP_RNG_H
#define TAP_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} TapRng;

void rng_seed(TapRng *r, uint64_t seed);
uint64_t rng_next(TapRng *r);
void rng_fill_u64(TapRng *r, uint64_t *out, size_t n); // n rng_next draws, in order
double rng_uniform(TapRng *r);                     // [0, 1)
float rng_uniformf(TapRng *r);                     // [0, 1)
double rng_normal(TapRng *r);                      // N(0, 1), Box-Muller, one draw per call
uint64_t rng_below(TapRng *r, uint64_t n);         // uniform in [0, n), unbiased
void rng_shuffle_int(TapRng *r, int *a, size_t n); // Fisher-Yates
void rng_fill_normal(TapRng *r, float *x, size_t n, float mean, float std);
void rng_fill_uniform(TapRng *r, float *x, size_t n, float lo, float hi);

#endif
