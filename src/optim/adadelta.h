// Adadelta (Zeiler 2012) exactly as TAP's optimizers.py: rho 0.95, and TAP's "learning rate"
// 1e-8 is Adadelta's epsilon. One flat loop over n floats; the state arrays are the caller's.
#ifndef TAP_OPTIM_ADADELTA_H
#define TAP_OPTIM_ADADELTA_H

#include <stddef.h>

#define ADADELTA_RHO 0.95 // TAP
#define ADADELTA_EPS 1e-8 // TAP's lrate

// One update of x (n) with gradient g (n). rg2 and ru2 (n, zero at start) are the running
// means of g^2 and of the update^2. TAP's order: rg2 is updated first, the step uses the new
// rg2 and the old ru2, then ru2 is updated with the step:
//   rg2 = rho rg2 + (1 - rho) g^2
//   ud  = -sqrt(ru2 + eps) / sqrt(rg2 + eps) * g
//   ru2 = rho ru2 + (1 - rho) ud^2
//   x  += ud
// All in float; rho and 1 - rho are rounded from double, so they are the float32 constants
// 0.95 and 0.05 Theano used (1 - 0.95f in float would be 0.050000012).
void adadelta_step(float *x, const float *g, float *rg2, float *ru2, size_t n, double rho,
                   double eps);

#endif
