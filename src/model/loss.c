// Token cross-entropy plus TAP's attention-guidance cross-entropy, per sequence, in double.
// Dims: T input steps, S pooled steps, B batch, L target steps, V vocabulary.
#include "loss.h"

#include <math.h>
#include <string.h>

#include "tap.h"

// TAP adds this to alphas before the log, and to Σ a before normalising.
#define LOSS_TINY 1e-20

void loss_align_pool(const TapConfig *cfg, const float *a, const float *a_mask, int T, int B, int L,
                     float *a_pool, float *mask_pool) {
    int stride = 1;
    for (int i = 0; i < cfg->n_layers; i++)
        if (cfg->pool[i]) stride *= 2;
    const int S = config_pooled_len(cfg, T);
    const size_t plane = (size_t)B * L; // one time step of (T, B, L)
    for (int s = 0; s < S; s++) {
        memcpy(a_pool + s * plane, a + (size_t)s * stride * plane, plane * sizeof *a_pool);
        memcpy(mask_pool + s * plane, a_mask + (size_t)s * stride * plane,
               plane * sizeof *mask_pool);
    }
    for (size_t i = 0; i < plane; i++) {
        double sum = 0.0;
        for (int s = 0; s < S; s++) sum += (double)a_pool[s * plane + i];
        double inv = 1.0 / (sum + LOSS_TINY);
        for (int s = 0; s < S; s++)
            a_pool[s * plane + i] = (float)((double)a_pool[s * plane + i] * inv);
    }
}

// log Σ_v exp(z[v]), shifted by the max.
static double log_sum_exp(const float *z, int V) {
    float m = z[0];
    for (int v = 1; v < V; v++) m = z[v] > m ? z[v] : m;
    double s = 0.0;
    for (int v = 0; v < V; v++) s += exp((double)z[v] - (double)m);
    return (double)m + log(s);
}

void loss_forward(const TapConfig *cfg, const float *logits, const int32_t *y, const float *y_mask,
                  const float *alphas, const float *a_pool, const float *mask_pool, int L, int B,
                  int S, double *cost, double *nll, double *att) {
    const int V = cfg->V;
    for (int b = 0; b < B; b++) {
        double ce = 0.0, ca = 0.0;
        for (int t = 0; t < L; t++) {
            const size_t r = (size_t)t * B + b;
            if (y_mask[r] == 0.0f) continue;
            TAP_ASSERT(y[r] >= 0 && y[r] < V);
            const float *z = logits + r * V;
            ce += (double)y_mask[r] * (log_sum_exp(z, V) - (double)z[y[r]]);
        }
        if (a_pool)
            for (int s = 0; s < S; s++)
                for (int t = 0; t < L; t++) {
                    const size_t i = ((size_t)s * B + b) * L + t;
                    double w = (double)a_pool[i] * (double)mask_pool[i];
                    if (w == 0.0) continue;
                    ca -= w * log((double)alphas[((size_t)t * B + b) * S + s] + LOSS_TINY);
                }
        cost[b] = ce + (double)cfg->gamma * ca;
        if (nll) nll[b] = ce;
        if (att) att[b] = ca;
    }
}

// d/dz of -log softmax(z)[y] is softmax(z) - onehot(y); d/dalpha of -w·log(alpha + tiny) is
// -w / (alpha + tiny).
void loss_backward(const TapConfig *cfg, const float *logits, const int32_t *y, const float *y_mask,
                   const float *alphas, const float *a_pool, const float *mask_pool,
                   const float *dcost, int L, int B, int S, float *dlogits, float *dalphas) {
    const int V = cfg->V;
    for (int b = 0; b < B; b++) {
        const double wb = dcost ? (double)dcost[b] : 1.0;
        if (dlogits)
            for (int t = 0; t < L; t++) {
                const size_t r = (size_t)t * B + b;
                if (y_mask[r] == 0.0f) continue;
                TAP_ASSERT(y[r] >= 0 && y[r] < V);
                const float *z = logits + r * V;
                float *dz = dlogits + r * V;
                const double lse = log_sum_exp(z, V), w = wb * (double)y_mask[r];
                for (int v = 0; v < V; v++) dz[v] += (float)(w * exp((double)z[v] - lse));
                dz[y[r]] -= (float)w;
            }
        if (dalphas && a_pool) {
            const double wg = wb * (double)cfg->gamma;
            for (int s = 0; s < S; s++)
                for (int t = 0; t < L; t++) {
                    const size_t i = ((size_t)s * B + b) * L + t;
                    double w = (double)a_pool[i] * (double)mask_pool[i];
                    if (w == 0.0) continue;
                    const size_t j = ((size_t)t * B + b) * S + s;
                    dalphas[j] -= (float)(wg * w / ((double)alphas[j] + LOSS_TINY));
                }
        }
    }
}
