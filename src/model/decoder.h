// TAP's decoder (v2/nmt.py gru_cond_layer + the decoder half of build_model / build_sampler):
// a conditional GRU with coverage attention and the v2 "when to attend" gate, then the readout.
//   h0    = tanh(mean_s(ctx over ctx_mask)·W_ff_state + b_ff_state)
//   emb_t = Wemb_dec[y[t-1]] (zeros at t = 0: TAP shifts the targets right by one)
//   GRU1:  h1 = GRU(emb_t·W + b | emb_t·Wx + bx, h_prev; U, Ux)       (masked by y_mask)
//   attention (attention.h) on h1, h_prev, alpha_past -> alpha_t, ctx_t
//   GRU2:  h_t = GRU'(h1; ctx_t)   gates sigmoid(h1·U_nl + b_nl + ctx·Wc),
//          candidate tanh((h1·Ux_nl + bx_nl)·r2 + ctx·Wcx)            (masked by y_mask)
//   alpha_past += alpha_t ;  readout(h_t, emb_t, ctx_t) -> logits (readout.h)
// decoder_step is the single implementation of one step: decoder_forward (teacher forcing)
// calls it for every t, and beam search calls it with n hypotheses sharing a context.
// Dims: S annotations, B batch, L target steps, n step rows, C context, D decoder hidden,
// E embedding, V vocabulary, K coverage kernel, P = 3D (+ C with the gate) projected inputs.
#ifndef TAP_MODEL_DECODER_H
#define TAP_MODEL_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "config.h"
#include "params.h"
#include "readout.h"

// The weights, read only; DecoderGrads lists the same members, writable (gradients).
typedef struct {
    const float *Wemb;                // (V, E)   Wemb_dec
    const float *state_W, *state_b;   // (C, D), (D)  ff_state
    const float *W, *b, *U;           // (E, 2D), (2D), (D, 2D)  GRU1 gates [r | u]
    const float *Wx, *bx, *Ux;        // (E, D), (D), (D, D)     GRU1 candidate
    const float *Wyg, *byg;           // (E, C), (C)  gate input projection (NULL without gate)
    const float *U_nl, *b_nl, *Wc;    // (D, 2D), (2D), (C, 2D)  GRU2 gates
    const float *Ux_nl, *bx_nl, *Wcx; // (D, D), (D), (C, D)     GRU2 candidate
    AttnParams att;
    ReadoutParams ro;
} DecoderParams;

typedef struct {
    float *Wemb, *state_W, *state_b, *W, *b, *U, *Wx, *bx, *Ux, *Wyg, *byg;
    float *U_nl, *b_nl, *Wc, *Ux_nl, *bx_nl, *Wcx;
    AttnGrads att;
    ReadoutGrads ro;
} DecoderGrads;

// Points the view at every tensor the decoder uses (Wemb_dec, ff_state_*, decoder_*, ff_logit_*)
// inside role array `base`: the weights (read only) or the gradients.
void decoder_params_bind(DecoderParams *p, const ParamTable *t, const float *base, const TapConfig *cfg);
void decoder_grads_bind(DecoderGrads *g, const ParamTable *t, float *base, const TapConfig *cfg);

// The step weights packed for panel_mm (panel.h), as stored for the forward products
// (h_prev·U, ...) or transposed for the backward ones (dh_prev += d·Uᵀ, ...): every step
// multiplies a few rows (a half batch, the beam's hypotheses) by the same weights, which
// sgemm would re-pack at each call. The attention's are in att (cx->fwd / cx->bwd).
typedef struct {
    const float *U, *Ux, *U_nl, *Ux_nl, *Wc, *Wcx;
    AttnPacked att;
} DecoderPacked;

size_t decoder_packed_floats(const TapConfig *cfg);
// Packs p's step weights into mem (decoder_packed_floats) and points pk at them.
void decoder_pack(const DecoderParams *p, const TapConfig *cfg, int transposed, float *mem,
                  DecoderPacked *pk);

// Input projections of embedded previous tokens, one GEMM per block over all rows.
typedef struct {
    float *x;  // (n, 2D) emb·W + b
    float *xx; // (n, D)  emb·Wx + bx
    float *yg; // (n, C)  emb·Wyg + byg (gate only, else NULL)
} DecProj;

// Embedding rows for token ids (n); id -1 (start of sequence) gives a zero row.
void decoder_embed(const DecoderParams *p, const TapConfig *cfg, const int32_t *tokens, int n,
                   float *emb /* (n, E) */);
void decoder_project(const DecoderParams *p, const TapConfig *cfg, const float *emb /* (n, E) */,
                     int n, const DecProj *out);

// Initial state h0 = tanh(ctx_mean·W + b), ctx_mean = Σ_s ctx·mask / Σ_s mask (mask NULL: plain
// mean, as TAP's sampler). Beam search calls this and attention_prepare once per expression.
void decoder_init_state(const DecoderParams *p, const TapConfig *cfg,
                        const float *ctx /* (S, B, C) */,
                        const float *ctx_mask /* (S, B) or NULL */, int S, int B,
                        float *ctx_mean /* (B, C) */, float *h0 /* (B, D) */);

// The buffers of one step: what backward needs, and the outputs h, alpha_past, a.alpha, a.ctx.
typedef struct {
    float *r1u1;       // (n, 2D) GRU1 gates r | u
    float *hux;        // (n, D)  h_prev·Ux
    float *hc1;        // (n, D)  GRU1 candidate
    float *h1;         // (n, D)  GRU1 state
    AttnStep a;        // attention; a.alpha (n, S) and a.ctx (n, C) are outputs
    float *r2u2;       // (n, 2D) GRU2 gates r | u
    float *hx2;        // (n, D)  h1·Ux_nl + bx_nl
    float *hc2;        // (n, D)  GRU2 candidate
    float *h;          // (n, D)  new state (output)
    float *alpha_past; // (n, S)  alpha_past + alpha (output)
} DecStep;

// Stand-alone step buffers (beam search): floats needed and binding.
size_t decoder_step_floats(const TapConfig *cfg, int S, int n);
void decoder_step_bind(DecStep *st, float *mem, const TapConfig *cfg, int S, int n);
// Transient scratch of decoder_step for n rows.
size_t decoder_work_floats(const TapConfig *cfg, int S, int n);

// One decoder step for n rows.
//   cx:         context (attention.h): ctx, pctx and kern from attention_prepare, rows -> columns
//   prev:       (n) previous token ids, -1 = start; read when in == NULL or probs != NULL
//   in:         projected inputs of these rows (decoder_forward passes its per-sequence GEMM),
//               or NULL to embed prev and project here
//   h_prev:     (n, D); alpha_past: (n, S) coverage so far; mask: (n) y_mask, NULL = all 1
//   st:         per-step buffers/outputs; work: decoder_work_floats(cfg, S, n)
//   probs:      (n, V) next-token distribution (readout + softmax), or NULL to skip the readout
//   pk:         p's weights packed as stored (decoder_pack), or NULL; the attention's packed
//               weights come with cx (cx->fwd)
void decoder_step(const DecoderParams *p, const DecoderPacked *pk, const TapConfig *cfg,
                  const AttnContext *cx, const int32_t *prev, const DecProj *in,
                  const float *h_prev, const float *alpha_past, const float *mask, int n,
                  DecStep *st, float *work, float *probs);

// Teacher-forced forward over a batch. Every per-step array is (L, B, ·) so that a field over
// all steps is one (L·B, ·) matrix for the backward GEMMs.
typedef struct {
    int S, L, B;
    float *ctx_mean;   // (B, C)
    float *pctx;       // (S, B, C)
    float *kern;       // (K, C)
    float *emb;        // (L, B, E) shifted target embeddings
    DecProj proj;      // (L, B, ·)
    float *h;          // (L + 1, B, D) h[0] = initial state, h[t + 1] = state after step t
    float *alpha_past; // (L + 1, B, S) coverage before step t (alpha_past[0] = 0)
    // (L, B, ·) each, as in DecStep
    float *r1u1, *hux, *hc1, *h1, *r2u2, *hx2, *hc2;
    float *gm, *tm, *mt, *pw; // (L, B, C) gate (NULL without)
    float *beta;              // (L, B) gate
    float *att;               // (L, S, B, C)
    float *alphas;            // (L, B, S) attention weights              (output)
    float *ctx_att;           // (L, B, C) gate only
    float *ctxs;              // (L, B, C) context vectors                (output)
    float *pre, *mo;          // (L, B, E), (L, B, E/2) readout
    float *logits;            // (L, B, V)                                (output)
    float *probs;             // (L, B, V) softmax(logits)                (output)
    float *work;              // decoder_work_floats(cfg, S, B)
    float *packed;            // decoder_packed_floats: the step weights packed as stored
    DecoderPacked pk;         // views into packed, filled by decoder_forward
} DecoderCache;

size_t decoder_cache_floats(const TapConfig *cfg, int S, int L, int B);
void decoder_cache_bind(DecoderCache *c, float *mem, const TapConfig *cfg, int S, int L, int B);
// Views of step t of the cache as a DecStep, from row b0 on (0: the whole batch).
void decoder_cache_step(const DecoderCache *c, const TapConfig *cfg, int t, int b0, DecStep *st);

// Teacher forcing: ctx (S, B, C) and ctx_mask (S, B) from the encoder, y (L, B) target ids with
// <eol> = 0 at each sequence's end, y_mask (L, B). Fills c (bound for the same S, L, B).
void decoder_forward(const DecoderParams *p, const TapConfig *cfg, const float *ctx,
                     const float *ctx_mask, const int32_t *y, const float *y_mask, int S, int L,
                     int B, DecoderCache *c);

size_t decoder_backward_floats(const TapConfig *cfg, int S, int L, int B);

// Backward from dlogits (L, B, V) and dalphas (L, B, S) (NULL = none), e.g. from loss_backward.
// Adds into g (every decoder, ff_state, Wemb_dec and ff_logit_* gradient) and into dctx
// (S, B, C) for the encoder (may be NULL). work: decoder_backward_floats(cfg, S, L, B).
void decoder_backward(const DecoderParams *p, DecoderGrads *g, const TapConfig *cfg,
                      const float *ctx, const float *ctx_mask, const int32_t *y,
                      const float *y_mask, int S, int L, int B, const DecoderCache *c,
                      const float *dlogits, const float *dalphas, float *work, float *dctx);

#endif
