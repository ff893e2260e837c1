// The tiny TAP configuration and zeroed-buffer helper shared by the attention and decoder
// tests (header only: every tests/model/test_*.c is its own executable).
// Dims: C 6 (two layers of H 3, pooled once), D 5, E 4, V 7, K 5 (pad 2), Q 3.
#ifndef TAP_TESTS_TINY_MODEL_H
#define TAP_TESTS_TINY_MODEL_H

#include <stdlib.h>

#include "config.h"

static inline TapConfig tiny_model_config(int gate) {
    TapConfig c;
    config_default(&c);
    c.F = 3;
    c.n_layers = 2;
    c.H[0] = c.H[1] = 3;
    c.pool[0] = 0;
    c.pool[1] = 1;
    c.D = 5;
    c.E = 4;
    c.V = 7;
    c.K = 5;
    c.Q = 3;
    c.gate = gate;
    return c;
}

// n zeroed floats (at least one, so a zero-size buffer is still a valid pointer).
static inline float *fvec(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

#endif
