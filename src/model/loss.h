// TAP v2's training cost (v2/nmt.py build_model), per sequence b:
//   cost[b] = Σ_t y_mask[t,b]·(-log softmax(logits[t,b])[y[t,b]])
//           + gamma·Σ_{s,t} -a[s,b,t]·log(alphas[t,b,s] + 1e-20)·a_mask[s,b,t]
// The second term is the attention guidance ("cost_alphas"): the decoder's attention is pulled
// towards the stroke alignment a, pooled in time like the encoder and normalised over time.
// Training minimises the batch mean of cost. Sums run in double.
// Dims: T input steps, S pooled steps, B batch, L target steps, V vocabulary.
#ifndef TAP_MODEL_LOSS_H
#define TAP_MODEL_LOSS_H

#include <stdint.h>

#include "config.h"

// TAP's alignment as the loss uses it: a (T, B, L) and a_mask (T, B, L) from the batch keep
// steps 0, 2, 4, ... once per pooling layer (S = config_pooled_len(cfg, T) rows), then a is
// normalised over time: a / (Σ_s a + 1e-20). a_pool and mask_pool are (S, B, L).
void loss_align_pool(const TapConfig *cfg, const float *a, const float *a_mask, int T, int B, int L,
                     float *a_pool, float *mask_pool);

// Per-sequence costs (B) into cost; nll (B) and att (B) (may be NULL) get the two terms before
// gamma: cost = nll + gamma·att. logits (L, B, V) are the readout's scores, y (L, B) ids in
// [0, V), y_mask (L, B). a_pool == NULL drops the guidance term (alphas and mask_pool unused);
// otherwise alphas (L, B, S) are the decoder's attention weights.
void loss_forward(const TapConfig *cfg, const float *logits, const int32_t *y, const float *y_mask,
                  const float *alphas, const float *a_pool, const float *mask_pool, int L, int B,
                  int S, double *cost, double *nll, double *att);

// Gradient of Σ_b dcost[b]·cost[b] (dcost NULL = all ones; the batch mean uses 1/B). Adds into
// dlogits (L, B, V) and, with the guidance term, into dalphas (L, B, S); either may be NULL.
void loss_backward(const TapConfig *cfg, const float *logits, const int32_t *y, const float *y_mask,
                   const float *alphas, const float *a_pool, const float *mask_pool,
                   const float *dcost, int L, int B, int S, float *dlogits, float *dalphas);

#endif
