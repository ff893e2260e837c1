// Textbook Adam (Kingma & Ba 2015, Algorithm 1 with the bias corrections 1 - beta1^t and
// 1 - beta2^t folded into the step size; epsilon added to sqrt(v), not to sqrt(v_hat)), at the
// given rate. TAP's v1/optimizers.py `adam` differs: it corrects with 1 - 0.1^t and 1 - 0.001^t
// (its b1, b2 used as if they were beta1, beta2) and always steps at 2e-4 (docs/optimizers.md).
#ifndef TAP_OPTIM_ADAM_H
#define TAP_OPTIM_ADAM_H

#include <stddef.h>
#include <stdint.h>

// Step t (1 for the first call) of x (n) with gradient g (n); m and v (n, zero at start):
//   m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
//   x -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
// Float arithmetic with constants rounded from double (1 - 0.9 -> 0.1f, as Theano's).
void adam_step(float *x, const float *g, float *m, float *v, size_t n, double lr, double beta1,
               double beta2, double eps, uint64_t t);

#endif
