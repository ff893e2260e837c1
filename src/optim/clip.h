// Global-norm gradient clipping as TAP's train(): with g2 = sum of g^2 over every weight,
// if g2 > c^2 then g *= c / sqrt(g2). TAP uses clip_c = 1000. The norm is summed in double.
#ifndef TAP_OPTIM_CLIP_H
#define TAP_OPTIM_CLIP_H

#include <stddef.h>

#define CLIP_TAP 1000.0f

// Sum of squares of g (n), in double.
double clip_sum_squares(const float *g, size_t n);

// Clips g (n) in place to global norm c (c <= 0: never clip) and returns the norm before
// clipping. *scale (may be NULL) receives the factor applied (1 when not clipped). A
// non-finite norm leaves g unchanged and is returned as is, so the caller can stop
// (TAP: "NaN detected").
double clip_global_norm(float *g, size_t n, float c, double *scale);

#endif
