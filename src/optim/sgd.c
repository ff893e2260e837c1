#include "sgd.h"

void sgd_step(float *x, const float *g, float *v, size_t n, double lr_d, double momentum_d) {
    const float lr = (float)lr_d, momentum = (float)momentum_d;
    for (size_t i = 0; i < n; i++) {
        float vi = momentum * v[i] - lr * g[i];
        v[i] = vi;
        x[i] += vi;
    }
}
