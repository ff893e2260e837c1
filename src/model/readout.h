// TAP's readout (v2/nmt.py build_model, "compute word probabilities"): the deep output layer
// that turns a decoder state, the previous token's embedding and the attended context into
// scores over the vocabulary:
//   pre    = h·W_lstm + b_lstm + emb·W_prev + b_prev + ctx·W_ctx + b_ctx      (n, E)
//   mo[i]  = max(pre[2i], pre[2i+1])                     maxout over pairs  (n, E/2)
//   logits = mo·W_logit + b_logit                                           (n, V)
//   probs  = softmax(logits)
// Rows are independent: n = L·B rows for a whole teacher-forced sequence, or n hypotheses in one
// beam-search step. Dims: D decoder hidden, E embedding, C context, V vocabulary.
#ifndef TAP_MODEL_READOUT_H
#define TAP_MODEL_READOUT_H

#include <stddef.h>

#include "config.h"
#include "params.h"

// The weights, read only; ReadoutGrads lists the same members, writable (gradients).
typedef struct {
    const float *lstm_W, *lstm_b;   // (D, E), (E)    ff_logit_lstm
    const float *prev_W, *prev_b;   // (E, E), (E)    ff_logit_prev
    const float *ctx_W, *ctx_b;     // (C, E), (E)    ff_logit_ctx
    const float *logit_W, *logit_b; // (E/2, V), (V)  ff_logit
} ReadoutParams;

typedef struct {
    float *lstm_W, *lstm_b, *prev_W, *prev_b, *ctx_W, *ctx_b, *logit_W, *logit_b;
} ReadoutGrads;

// Points the view at the ff_logit_* tensors inside role array `base`.
void readout_params_bind(ReadoutParams *p, const ParamTable *t, const float *base);
void readout_grads_bind(ReadoutGrads *g, const ParamTable *t, float *base);

// Forward for n rows. pre and mo are kept for the backward pass.
void readout_forward(const ReadoutParams *p, const TapConfig *cfg, const float *h /* (n, D) */,
                     const float *emb /* (n, E) */, const float *ctx /* (n, C) */, int n,
                     float *pre /* (n, E) */, float *mo /* (n, E/2) */, float *logits /* (n, V) */);

// Row-wise softmax (max-shifted); probs may alias logits.
void readout_softmax(const float *logits /* (n, V) */, int n, int V, float *probs /* (n, V) */);

// Scratch floats readout_backward needs for n rows.
size_t readout_backward_floats(const TapConfig *cfg, int n);

// Backward from dlogits (n, V). Adds into every gradient it writes: g (parameter gradients; NULL
// skips them), dh, demb, dctx (each may be NULL). Maxout routes a pair's gradient to the larger
// input (the first one on a tie).
void readout_backward(const ReadoutParams *p, ReadoutGrads *g, const TapConfig *cfg,
                      const float *h /* (n, D) */, const float *emb /* (n, E) */,
                      const float *ctx /* (n, C) */, const float *pre /* (n, E) */,
                      const float *mo /* (n, E/2) */, const float *dlogits /* (n, V) */, int n,
                      float *work /* readout_backward_floats */, float *dh /* (n, D) */,
                      float *demb /* (n, E) */, float *dctx /* (n, C) */);

#endif
