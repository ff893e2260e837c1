#include "adam.h"

#include <math.h>

void adam_step(float *x, const float *g, float *m, float *v, size_t n, double lr, double beta1_d,
               double beta2_d, double eps_d, uint64_t t) {
    // The corrections in double: beta2^t stays close to 1 for thousands of steps.
    double tt = (double)t;
    float lr_t = (float)(lr * sqrt(1.0 - pow(beta2_d, tt)) / (1.0 - pow(beta1_d, tt)));
    const float beta1 = (float)beta1_d, beta2 = (float)beta2_d, eps = (float)eps_d;
    const float a1 = (float)(1.0 - beta1_d), a2 = (float)(1.0 - beta2_d);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + a1 * gi;
        float vi = beta2 * v[i] + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] -= lr_t * mi / (sqrtf(vi) + eps);
    }
}
