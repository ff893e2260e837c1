#include "adadelta.h"

#include <math.h>

void adadelta_step(float *x, const float *g, float *rg2, float *ru2, size_t n, double rho_d,
                   double eps_d) {
    const float rho = (float)rho_d, a = (float)(1.0 - rho_d), eps = (float)eps_d;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float r = rho * rg2[i] + a * gi * gi;
        float ud = -sqrtf(ru2[i] + eps) / sqrtf(r + eps) * gi;
        rg2[i] = r;
        ru2[i] = rho * ru2[i] + a * ud * ud;
        x[i] += ud;
    }
}
