// Stochastic gradient descent with classical (heavy-ball) momentum, the alternative to
// Adadelta that RNNLIB uses ("steepest", learnRate 1e-4, momentum 0.9). One flat loop.
#ifndef TAP_OPTIM_SGD_H
#define TAP_OPTIM_SGD_H

#include <stddef.h>

// v (n, zero at start) is the velocity:  v = momentum v - lr g;  x += v.
// momentum 0 is plain SGD.
void sgd_step(float *x, const float *g, float *v, size_t n, double lr, double momentum);

#endif
