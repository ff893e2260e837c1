// Coverage attention of TAP's gru_cond_layer (v2/nmt.py; TAP paper, TMM 2019, eqs. 11-14) and v2's
// "when to attend" gate (guided hybrid attention), one decoder step for n rows.
// Dims: S annotations, Bc context columns (expressions), n rows (rows map to columns), C context
// (= attention dim A), D decoder hidden, Q coverage filters, K coverage kernel.
//
// One step, for row b reading context column c = col(b):
//   cover[s]  = Σ_q (conv_Q[q] ⊛ alpha_past[b])[s] · conv_Uf[q] + conv_b     true convolution,
//             = Σ_j alpha_past[b, s + (K-1)/2 - j] · kern[j]                  'half' padding
//   att[s]    = tanh(pctx[s, c] + h1·W_comb_att + cover[s])                   (S, n, C)
//   e[s]      = att[s]·U_att + c_tt
//   alpha[s]  = exp(e[s])·mask[s, c] / Σ_r exp(e[r])·mask[r, c]              (n, S)
//   ctx_att   = Σ_s alpha[s]·ctx[s, c]
// Gate (cfg->gate = 1; v1 coverage attention when 0, ctx = ctx_att):
//   g_m = sigmoid(h_prev·Whg + bhg + yg)   yg = emb·Wyg + byg, projected by the decoder
//   mt  = tanh(h1·Umg)·g_m ;  pw = tanh(mt·W_m_att + h1·W_comb_att)
//   a   = pw·U_when_att + c_when_att ;  mean = Σ_s exp(e[s])·mask[s] / Σ_s mask[s]
//   beta = exp(a) / (mean + exp(a)) ;  ctx = beta·mt + (1 - beta)·ctx_att
//
// Numerics: TAP exponentiates the raw energies. We subtract each row's max valid energy m,
// which leaves alpha unchanged, and compute beta as sigmoid(a - m - log(Z/N)) with
// Z = Σ exp(e - m)·mask and N = Σ mask: the same value as TAP's exp(a)/(mean + exp(a)), since
// mean = exp(m)·Z/N, but without overflow in either exp. Every context column must have at
// least one valid step.
//
// The coverage convolution and its projection are linear in alpha_past, so they are fused into
// one (K, C) kernel kern = conv_Qᵀ·conv_Uf, computed once per batch (attention_prepare): each
// step is then an im2col of alpha_past and a single (S·n, K)·(K, C) GEMM instead of
// (S·n, K)·(K, Q) and (S·n, Q)·(Q, C). The backward pass accumulates d kern over all steps and
// maps it to conv_Q and conv_Uf once (attention_prepare_backward).
#ifndef TAP_MODEL_ATTENTION_H
#define TAP_MODEL_ATTENTION_H

#include <stddef.h>

#include "config.h"
#include "params.h"

// The weights, read only; AttnGrads lists the same members, writable (gradients).
typedef struct {
    const float *W_comb_att;       // (D, C)
    const float *Wc_att, *b_att;   // (C, C), (C)
    const float *U_att, *c_tt;     // (C, 1), (1)
    const float *conv_Q;           // (Q, 1, K, 1), used as (Q, K)
    const float *conv_Uf, *conv_b; // (Q, C), (C)
    // the gate; NULL when cfg->gate == 0 (Wyg/byg belong to the decoder's input projection)
    const float *Whg, *bhg;  // (D, C), (C)
    const float *Umg;        // (D, C)
    const float *W_m_att;    // (C, C)
    const float *U_when_att; // (C, 1)
    const float *c_when_att; // (1)
} AttnParams;

typedef struct {
    float *W_comb_att, *Wc_att, *b_att, *U_att, *c_tt, *conv_Q, *conv_Uf, *conv_b;
    float *Whg, *bhg, *Umg, *W_m_att, *U_when_att, *c_when_att;
} AttnGrads;

// Points the view at the decoder's attention tensors inside role array `base`.
void attention_params_bind(AttnParams *p, const ParamTable *t, const float *base, const TapConfig *cfg);
void attention_grads_bind(AttnGrads *g, const ParamTable *t, float *base, const TapConfig *cfg);

// Step weights packed for panel_mm (panel.h), as stored (forward: h1·W_comb_att, ...) or
// transposed (backward: d(h1) += d(pstate)·W_comb_attᵀ, ...); gate members NULL without the
// gate. Filled by the decoder (decoder_pack).
typedef struct {
    const float *W_comb_att, *Whg, *Umg, *W_m_att;
} AttnPacked;

// What every step reads and no step changes: the annotations, their projection, the mask, the
// fused coverage kernel, and which context column each row attends to. Beam search lets n
// hypotheses share one expression (Bc = 1, row NULL: stride 0) or maps them with row[].
typedef struct {
    const float *ctx;  // (S, Bc, C) encoder annotations
    const float *pctx; // (S, Bc, C) ctx·Wc_att + b_att + conv_b (attention_prepare)
    const float *kern; // (K, C) fused coverage kernel conv_Qᵀ·conv_Uf (attention_prepare)
    const float *mask; // (S, Bc) 1 = valid annotation, or NULL: all valid
    const int *row;    // (n) row -> column in [0, Bc); NULL: col0 + row, or 0 when Bc == 1
    int S, Bc;
    int col0; // with row NULL: the column of row 0, so that a block of a batch's rows can run
              // on its own (the decoder's two halves of a batch on two threads)
    const AttnPacked *fwd, *bwd; // packed weights for forward / backward, or NULL: BLAS
} AttnContext;

// Per-step values the backward pass needs (views into a decoder cache or step scratch).
typedef struct {
    float *gm, *tm, *mt, *pw; // (n, C) each: g_m, tanh(h1·Umg), mt, pctx_when   (gate only)
    float *beta;              // (n)                                             (gate only)
    float *att;               // (S, n, C) tanh(pctx + pstate + cover)
    float *alpha;             // (n, S)    attention weights (output)
    float *ctx_att;           // (n, C)    Σ alpha·ctx (gate only; == ctx without the gate)
    float *ctx;               // (n, C)    context vector (output)
} AttnStep;

// Per-step pre-activation gradients, kept so that the weight gradients of all steps are formed
// by one GEMM each (attention_backward_weights) rather than a rank-n update per step.
typedef struct {
    float *dgpre, *dtmpre,
        *dpw;       // (n, C) each: d(h_prev·Whg+...), d(h1·Umg), d pctx_when pre (gate)
    float *da;      // (n)    d alpha_when energy (gate)
    float *dpstate; // (n, C) d(h1·W_comb_att) through the energies; the gate's dpw is the rest
    float *de;      // (S, n) d energies
} AttnStepGrad;

// Per-batch precomputation: pctx (S, B, C) = ctx·Wc_att + b_att + conv_b and kern (K, C).
void attention_prepare(const AttnParams *p, const TapConfig *cfg, const float *ctx /* (S, B, C) */,
                       int S, int B, float *pctx /* (S, B, C) */, float *kern /* (K, C) */);
// Backward of attention_prepare from the accumulated dpctx and dkern: adds into g (Wc_att,
// conv_Q, conv_Uf) and dctx (may be NULL). b_att and conv_b come from
// attention_backward_weights: Σ dpctx = Σ dpstate cancels to ~2e-5 of its terms at TAP's init,
// so they are summed from dpstate, formed in double per row.
void attention_prepare_backward(const AttnParams *p, AttnGrads *g, const TapConfig *cfg,
                                const float *ctx /* (S, B, C) */,
                                const float *dpctx /* (S, B, C) */, const float *dkern /* (K, C) */,
                                int S, int B, float *dctx /* (S, B, C) */);

size_t attention_work_floats(const TapConfig *cfg, int S, int n);

// One step for n rows. yg is the gate's projected embedding (n, C) (ignored without the gate).
void attention_forward(const AttnParams *p, const TapConfig *cfg, const AttnContext *cx,
                       const float *h_prev /* (n, D) */, const float *yg /* (n, C) */,
                       const float *h1 /* (n, D) */, const float *alpha_past /* (n, S) */, int n,
                       AttnStep *st, float *work /* attention_work_floats */);

size_t attention_backward_floats(const TapConfig *cfg, int S, int n);

// Backward of one step from dalpha (n, S) (gradient of the alpha output, coverage included)
// and dctx_out (n, C). Writes (=) the pre-activation gradients gr; adds (+=) into dh_prev,
// dyg, dh1, dalpha_past (n, S), dpctx (S, Bc, C), dkern (K, C) and dctx (S, Bc, C); dctx may
// be NULL, the rest must not be. Parameter gradients come from attention_backward_weights.
void attention_backward(const AttnParams *p, const TapConfig *cfg, const AttnContext *cx,
                        const float *alpha_past /* (n, S) */, int n, const AttnStep *st,
                        const float *dalpha /* (n, S) */, const float *dctx_out /* (n, C) */,
                        AttnStepGrad *gr, float *work /* attention_backward_floats */,
                        float *dh_prev /* (n, D) */, float *dyg /* (n, C) */,
                        float *dh1 /* (n, D) */, float *dalpha_past /* (n, S) */,
                        float *dpctx /* (S, Bc, C) */, float *dkern /* (K, C) */,
                        float *dctx /* (S, Bc, C) */);

// Parameter gradients (+=) of M rows of steps at once: st and gr point at stacked step arrays
// (M rows; att and de have S·M rows, step-major as the decoder cache lays them out), h_prev and
// h1 are (M, D). Covers W_comb_att, b_att, conv_b, U_att, c_tt and the gate's Whg, bhg, Umg,
// W_m_att, U_when_att, c_when_att.
void attention_backward_weights(AttnGrads *g, const TapConfig *cfg, int S, int M,
                                const float *h_prev /* (M, D) */, const float *h1 /* (M, D) */,
                                const AttnStep *st, const AttnStepGrad *gr);

#endif
