// Priors over all weights, and the delta-posterior half of Graves' variational family
// (Graves 2011, Table 1): with Q = delta at w the model cost is the negative log prior
// density L^C(w) = -sum_i ln P(w_i), constants included, so description lengths compare
// across variants. A prior is uniform (L^C = 0), Laplace(mean, b) or Gauss(mean, var); the
// adaptive variants refit it from the weights each step (median and mean absolute deviation
// for Laplace, mean and variance for Gauss: the maximum-likelihood fits, so by the envelope
// theorem the gradient at the fitted prior is the partial one below). Costs in nats, double.
#ifndef TAP_OPTIM_REGULARIZER_H
#define TAP_OPTIM_REGULARIZER_H

#include <stddef.h>

typedef enum { PRIOR_UNIFORM, PRIOR_LAPLACE, PRIOR_GAUSS } PriorShape;

typedef struct {
    PriorShape shape;
    double mean;  // Laplace location / Gauss mean
    double scale; // Laplace b / Gauss variance sigma^2
} RegPrior;

// Mean of w (n), summed in double.
double regularizer_mean(const float *w, size_t n);
// Median of w (n) in O(n) average time (quickselect with a 3-way partition, so the many
// equal zeros of bias vectors cost nothing; falls back to a sort after 2 log2 n rounds).
// scratch (n) receives a permuted copy; w is not changed. Even n: mean of the middle two.
double regularizer_median(const float *w, size_t n, float *scratch);

// Refits the prior to w (n): fit_mean (Gauss: mean; Laplace: median, which needs scratch (n))
// and fit_scale (Gauss: mean of (w - mean)^2; Laplace: mean of |w - median|), in that order,
// so a refitted scale is about the refitted location. Uniform priors are left alone.
void regularizer_fit(RegPrior *p, const float *w, size_t n, int fit_mean, int fit_scale,
                     float *scratch);

// L^C = -sum ln P(w_i) in nats:
//   Laplace: sum |w_i - mean| / b + n ln(2b)
//   Gauss:   sum (w_i - mean)^2 / (2 var) + n/2 ln(2 pi var)
//   uniform: 0 (a constant, dropped)
double regularizer_cost(const RegPrior *p, const float *w, size_t n);

// g (n) += scale * dL^C/dw:  Laplace sgn(w - mean)/b (sgn 0 = 0), Gauss (w - mean)/var.
void regularizer_grad(const RegPrior *p, const float *w, size_t n, float scale, float *g);

#endif
