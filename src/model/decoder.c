// Conditional GRU decoder (TAP gru_cond_layer) with teacher-forced forward/backward over a batch
// and the single step shared with beam search.
// Dims: S annotations, B batch, L target steps, n step rows, C context, D decoder hidden,
// E embedding, V vocabulary, K coverage kernel.
#include "decoder.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ops.h"
#include "panel.h"
#include "parallel.h"
#include "tap.h"

static void bias_rows(float *y, const float *b, int n, int w) {
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * w, b, (size_t)w * sizeof *y);
}

// Carves n floats off *mem.
static float *take(float **mem, size_t n) {
    float *p = *mem;
    *mem += n;
    return p;
}

static int gate_dim(const TapConfig *cfg) { return cfg->gate ? config_context_dim(cfg) : 0; }

#define DEC(m) {offsetof(DecoderParams, m), "decoder_" #m}
static const ParamField DEC_CORE[] = {
    {offsetof(DecoderParams, Wemb), "Wemb_dec"},
    {offsetof(DecoderParams, state_W), "ff_state_W"},
    {offsetof(DecoderParams, state_b), "ff_state_b"},
    DEC(W), DEC(b), DEC(U), DEC(Wx), DEC(bx), DEC(Ux),
    DEC(U_nl), DEC(b_nl), DEC(Wc), DEC(Ux_nl), DEC(bx_nl), DEC(Wcx)};
static const ParamField DEC_GATE[] = {DEC(Wyg), DEC(byg)};
#undef DEC

void decoder_params_bind(DecoderParams *p, const ParamTable *t, float *base, const TapConfig *cfg) {
    memset(p, 0, sizeof *p);
    params_bind_fields(t, base, p, DEC_CORE, (int)(sizeof DEC_CORE / sizeof *DEC_CORE));
    if (cfg->gate) params_bind_fields(t, base, p, DEC_GATE, (int)(sizeof DEC_GATE / sizeof *DEC_GATE));
    attention_params_bind(&p->att, t, base, cfg);
    readout_params_bind(&p->ro, t, base);
}

// The packed step weights in DecoderPacked order, each (K, N) as stored; a transposed pack
// holds the (N, K) product operand instead. Each slot fits either orientation (panels round
// the columns up to 16), so one layout serves both.
typedef struct {
    size_t off;
    int K, N;
} PackedShape;

enum { PACKED_MAX = 10 };

static int packed_shapes(const TapConfig *cfg, PackedShape *sh) {
    const int C = config_context_dim(cfg), D = cfg->D;
    const int kn[PACKED_MAX][2] = {{D, 2 * D}, {D, D}, {D, 2 * D}, {D, D}, {C, 2 * D},
                                   {C, D},     {D, C}, {D, C},     {D, C}, {C, C}};
    const int count = cfg->gate ? PACKED_MAX : PACKED_MAX - 3; // Whg, Umg, W_m_att: the gate's
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        sh[i] = (PackedShape){off, kn[i][0], kn[i][1]};
        const size_t a = panel_floats(kn[i][0], kn[i][1]), b = panel_floats(kn[i][1], kn[i][0]);
        off += a > b ? a : b;
    }
    sh[count].off = off;
    return count;
}

size_t decoder_packed_floats(const TapConfig *cfg) {
    PackedShape sh[PACKED_MAX + 1];
    return sh[packed_shapes(cfg, sh)].off;
}

void decoder_pack(const DecoderParams *p, const TapConfig *cfg, int transposed, float *mem,
                  DecoderPacked *pk) {
    PackedShape sh[PACKED_MAX + 1];
    const int count = packed_shapes(cfg, sh);
    const float *w[PACKED_MAX] = {p->U,   p->Ux,  p->U_nl,           p->Ux_nl,   p->Wc,
                                  p->Wcx, p->att.W_comb_att, p->att.Whg, p->att.Umg, p->att.W_m_att};
    memset(pk, 0, sizeof *pk);
    const float **dst[PACKED_MAX] = {&pk->U,   &pk->Ux,  &pk->U_nl,           &pk->Ux_nl,
                                     &pk->Wc,  &pk->Wcx, &pk->att.W_comb_att, &pk->att.Whg,
                                     &pk->att.Umg, &pk->att.W_m_att};
    for (int i = 0; i < count; i++) {
        float *out = mem + sh[i].off;
        // transposed: the product d·Wᵀ multiplies by the (N, K) transpose of the stored (K, N)
        if (transposed)
            panel_pack(sh[i].N, sh[i].K, w[i], sh[i].N, 1, out);
        else
            panel_pack(sh[i].K, sh[i].N, w[i], sh[i].N, 0, out);
        *dst[i] = out;
    }
}

void decoder_embed(const DecoderParams *p, const TapConfig *cfg, const int32_t *tokens, int n,
                   float *emb) {
    const int E = cfg->E;
    for (int i = 0; i < n; i++) {
        TAP_ASSERT(tokens[i] >= -1 && tokens[i] < cfg->V);
        if (tokens[i] < 0)
            memset(emb + (size_t)i * E, 0, (size_t)E * sizeof *emb);
        else
            memcpy(emb + (size_t)i * E, p->Wemb + (size_t)tokens[i] * E, (size_t)E * sizeof *emb);
    }
}

void decoder_project(const DecoderParams *p, const TapConfig *cfg, const float *emb, int n,
                     const DecProj *out) {
    const int D = cfg->D, E = cfg->E, G = gate_dim(cfg);
    bias_rows(out->x, p->b, n, 2 * D);
    mm_nn(n, 2 * D, E, emb, E, p->W, 2 * D, out->x, 2 * D, 1.0f);
    bias_rows(out->xx, p->bx, n, D);
    mm_nn(n, D, E, emb, E, p->Wx, D, out->xx, D, 1.0f);
    if (G) {
        bias_rows(out->yg, p->byg, n, G);
        mm_nn(n, G, E, emb, E, p->Wyg, G, out->yg, G, 1.0f);
    }
}

void decoder_init_state(const DecoderParams *p, const TapConfig *cfg, const float *ctx,
                        const float *ctx_mask, int S, int B, float *ctx_mean, float *h0) {
    const int C = config_context_dim(cfg), D = cfg->D;
    for (int b = 0; b < B; b++) {
        double N = 0.0;
        for (int s = 0; s < S; s++) N += ctx_mask ? (double)ctx_mask[(size_t)s * B + b] : 1.0;
        TAP_ASSERT(N > 0.0);
        for (int c = 0; c < C; c++) {
            double sum = 0.0;
            for (int s = 0; s < S; s++) {
                double w = ctx_mask ? (double)ctx_mask[(size_t)s * B + b] : 1.0;
                sum += w * (double)ctx[((size_t)s * B + b) * C + c];
            }
            ctx_mean[(size_t)b * C + c] = (float)(sum / N);
        }
    }
    bias_rows(h0, p->state_b, B, D);
    mm_nn(B, D, C, ctx_mean, C, p->state_W, D, h0, D, 1.0f);
    tanh_inplace(h0, (size_t)B * D);
}

// Per-row floats of one step's buffers (att and alpha scale with S).
static size_t step_row_floats(const TapConfig *cfg, int S) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D;
    size_t f = 2 * D + 3 * D                        // r1u1, hux, hc1, h1
               + 2 * D + 3 * D                      // r2u2, hx2, hc2, h
               + (size_t)S * C + 2 * (size_t)S + C; // att, alpha, alpha_past, ctx
    if (cfg->gate) f += 5 * C + 1;                  // gm, tm, mt, pw, ctx_att, beta
    return f;
}

size_t decoder_step_floats(const TapConfig *cfg, int S, int n) {
    return (size_t)n * step_row_floats(cfg, S);
}

void decoder_step_bind(DecStep *st, float *mem, const TapConfig *cfg, int S, int n) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, N = (size_t)n;
    memset(st, 0, sizeof *st);
    st->r1u1 = take(&mem, N * 2 * D);
    st->hux = take(&mem, N * D);
    st->hc1 = take(&mem, N * D);
    st->h1 = take(&mem, N * D);
    st->r2u2 = take(&mem, N * 2 * D);
    st->hx2 = take(&mem, N * D);
    st->hc2 = take(&mem, N * D);
    st->h = take(&mem, N * D);
    st->a.att = take(&mem, (size_t)S * N * C);
    st->a.alpha = take(&mem, N * (size_t)S);
    st->alpha_past = take(&mem, N * (size_t)S);
    st->a.ctx = take(&mem, N * C);
    if (cfg->gate) {
        st->a.gm = take(&mem, N * C);
        st->a.tm = take(&mem, N * C);
        st->a.mt = take(&mem, N * C);
        st->a.pw = take(&mem, N * C);
        st->a.ctx_att = take(&mem, N * C);
        st->a.beta = take(&mem, N);
    }
}

size_t decoder_work_floats(const TapConfig *cfg, int S, int n) {
    const size_t D = (size_t)cfg->D, E = (size_t)cfg->E, N = (size_t)n;
    return N * E + N * (3 * D + (size_t)gate_dim(cfg)) // emb, projections
           + attention_work_floats(cfg, S, n) +
           N * (E + E / 2 + (size_t)cfg->V); // readout pre, mo, logits
}

void decoder_step(const DecoderParams *p, const DecoderPacked *pk, const TapConfig *cfg,
                  const AttnContext *cx, const int32_t *prev, const DecProj *in,
                  const float *h_prev, const float *alpha_past, const float *mask, int n,
                  DecStep *st, float *work, float *probs) {
    const int D = cfg->D, E = cfg->E, C = config_context_dim(cfg), G = gate_dim(cfg), S = cx->S;
    const size_t N = (size_t)n;
    float *emb = take(&work, N * E); // (n, E)
    DecProj own;
    own.x = take(&work, N * 2 * D);
    own.xx = take(&work, N * D);
    own.yg = G ? take(&work, N * G) : NULL;
    float *attw = take(&work, attention_work_floats(cfg, S, n));
    if (!in || probs) decoder_embed(p, cfg, prev, n, emb);
    if (!in) {
        decoder_project(p, cfg, emb, n, &own);
        in = &own;
    }

    // GRU1 on the previous token: gates sigmoid(x_ + h_prev·U), candidate tanh(h_prev·Ux·r + xx_)
    memcpy(st->r1u1, in->x, N * 2 * D * sizeof *st->r1u1);
    panel_mm_or_blas(n, 2 * D, D, h_prev, D, pk ? pk->U : NULL, p->U, 2 * D, 0, st->r1u1, 2 * D,
                     1.0f);
    sigmoid_inplace(st->r1u1, N * 2 * D);
    panel_mm_or_blas(n, D, D, h_prev, D, pk ? pk->Ux : NULL, p->Ux, D, 0, st->hux, D, 0.0f);
    for (int b = 0; b < n; b++) {
        const float *r = st->r1u1 + (size_t)b * 2 * D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            st->hc1[i] = st->hux[i] * r[d] + in->xx[i];
        }
    }
    tanh_inplace(st->hc1, N * D);
    for (int b = 0; b < n; b++) {
        const float m = mask ? mask[b] : 1.0f;
        const float *u = st->r1u1 + (size_t)b * 2 * D + D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            float h = u[d] * h_prev[i] + (1.0f - u[d]) * st->hc1[i];
            st->h1[i] = m * h + (1.0f - m) * h_prev[i];
        }
    }

    attention_forward(&p->att, cfg, cx, h_prev, in->yg, st->h1, alpha_past, n, &st->a, attw);
    for (size_t i = 0; i < N * S; i++) st->alpha_past[i] = alpha_past[i] + st->a.alpha[i];

    // GRU2 on the context: gates sigmoid(h1·U_nl + b_nl + ctx·Wc),
    // candidate tanh((h1·Ux_nl + bx_nl)·r2 + ctx·Wcx)
    const float *ctx = st->a.ctx;
    bias_rows(st->r2u2, p->b_nl, n, 2 * D);
    panel_mm_or_blas(n, 2 * D, D, st->h1, D, pk ? pk->U_nl : NULL, p->U_nl, 2 * D, 0, st->r2u2,
                     2 * D, 1.0f);
    panel_mm_or_blas(n, 2 * D, C, ctx, C, pk ? pk->Wc : NULL, p->Wc, 2 * D, 0, st->r2u2, 2 * D,
                     1.0f);
    sigmoid_inplace(st->r2u2, N * 2 * D);
    bias_rows(st->hx2, p->bx_nl, n, D);
    panel_mm_or_blas(n, D, D, st->h1, D, pk ? pk->Ux_nl : NULL, p->Ux_nl, D, 0, st->hx2, D, 1.0f);
    panel_mm_or_blas(n, D, C, ctx, C, pk ? pk->Wcx : NULL, p->Wcx, D, 0, st->hc2, D, 0.0f);
    for (int b = 0; b < n; b++) {
        const float *r = st->r2u2 + (size_t)b * 2 * D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            st->hc2[i] = st->hx2[i] * r[d] + st->hc2[i];
        }
    }
    tanh_inplace(st->hc2, N * D);
    for (int b = 0; b < n; b++) {
        const float m = mask ? mask[b] : 1.0f;
        const float *u = st->r2u2 + (size_t)b * 2 * D + D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            float h = u[d] * st->h1[i] + (1.0f - u[d]) * st->hc2[i];
            st->h[i] = m * h + (1.0f - m) * st->h1[i];
        }
    }

    if (probs) {
        float *pre = take(&work, N * E), *mo = take(&work, N * (E / 2));
        float *logits = take(&work, N * cfg->V);
        readout_forward(&p->ro, cfg, st->h, emb, ctx, n, pre, mo, logits);
        readout_softmax(logits, n, cfg->V, probs);
    }
}

size_t decoder_cache_floats(const TapConfig *cfg, int S, int L, int B) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, E = (size_t)cfg->E;
    const size_t R = (size_t)L * B, G = (size_t)gate_dim(cfg);
    size_t f = (size_t)B * C + (size_t)S * B * C + (size_t)cfg->K * C // ctx_mean, pctx, kern
               + R * E + R * (3 * D + G)                              // emb, proj
               + (R + B) * D + (R + B) * (size_t)S                    // h, alpha_past
               + R * 9 * D                                            // GRU1 + GRU2 buffers
               + R * (size_t)S * C + R * (size_t)S + R * C            // att, alphas, ctxs
               + R * (E + E / 2 + 2 * (size_t)cfg->V);                // readout
    if (cfg->gate) f += R * 5 * C + R;                                // gm tm mt pw ctx_att, beta
    return f + decoder_work_floats(cfg, S, B) + decoder_packed_floats(cfg);
}

void decoder_cache_bind(DecoderCache *c, float *mem, const TapConfig *cfg, int S, int L, int B) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, E = (size_t)cfg->E;
    const size_t R = (size_t)L * B, V = (size_t)cfg->V;
    memset(c, 0, sizeof *c);
    c->S = S;
    c->L = L;
    c->B = B;
    c->ctx_mean = take(&mem, (size_t)B * C);
    c->pctx = take(&mem, (size_t)S * B * C);
    c->kern = take(&mem, (size_t)cfg->K * C);
    c->emb = take(&mem, R * E);
    c->proj.x = take(&mem, R * 2 * D);
    c->proj.xx = take(&mem, R * D);
    c->proj.yg = cfg->gate ? take(&mem, R * C) : NULL;
    c->h = take(&mem, (R + B) * D);
    c->alpha_past = take(&mem, (R + B) * (size_t)S);
    c->r1u1 = take(&mem, R * 2 * D);
    c->hux = take(&mem, R * D);
    c->hc1 = take(&mem, R * D);
    c->h1 = take(&mem, R * D);
    c->r2u2 = take(&mem, R * 2 * D);
    c->hx2 = take(&mem, R * D);
    c->hc2 = take(&mem, R * D);
    c->att = take(&mem, R * (size_t)S * C);
    c->alphas = take(&mem, R * (size_t)S);
    c->ctxs = take(&mem, R * C);
    if (cfg->gate) {
        c->gm = take(&mem, R * C);
        c->tm = take(&mem, R * C);
        c->mt = take(&mem, R * C);
        c->pw = take(&mem, R * C);
        c->ctx_att = take(&mem, R * C);
        c->beta = take(&mem, R);
    }
    c->pre = take(&mem, R * E);
    c->mo = take(&mem, R * (E / 2));
    c->logits = take(&mem, R * V);
    c->probs = take(&mem, R * V);
    c->work = take(&mem, decoder_work_floats(cfg, S, B));
    c->packed = take(&mem, decoder_packed_floats(cfg));
}

void decoder_cache_step(const DecoderCache *c, const TapConfig *cfg, int t, int b0, DecStep *st) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, S = (size_t)c->S;
    const size_t r = (size_t)t * c->B + (size_t)b0; // row b0 of step t
    st->r1u1 = c->r1u1 + r * 2 * D;
    st->hux = c->hux + r * D;
    st->hc1 = c->hc1 + r * D;
    st->h1 = c->h1 + r * D;
    st->r2u2 = c->r2u2 + r * 2 * D;
    st->hx2 = c->hx2 + r * D;
    st->hc2 = c->hc2 + r * D;
    st->h = c->h + (r + c->B) * D;
    st->alpha_past = c->alpha_past + (r + c->B) * S;
    st->a.att = c->att + r * S * C;
    st->a.alpha = c->alphas + r * S;
    st->a.ctx = c->ctxs + r * C;
    int g = cfg->gate;
    st->a.gm = g ? c->gm + r * C : NULL;
    st->a.tm = g ? c->tm + r * C : NULL;
    st->a.mt = g ? c->mt + r * C : NULL;
    st->a.pw = g ? c->pw + r * C : NULL;
    st->a.ctx_att = g ? c->ctx_att + r * C : NULL;
    st->a.beta = g ? c->beta + r : NULL;
}

// The time loop's rows are independent, so it runs in two blocks of the batch (halves), on two
// threads when cfg->threads >= 2 and in turn otherwise. The blocks are the same whatever the
// thread count, so the result is too (bit for bit); in turn they cost what one block of the
// whole batch did (decoder forward 0.053 s, backward 0.092 s either way at TAP's size, B = 8).
// Each block keeps the (S, n, C) attention layout within its step (att and de of step t hold
// block 0's rows, then block 1's), so that every per-step view is a contiguous slice.
static int block_count(int B) { return B >= 2 ? 2 : 1; }

static void block_rows(int B, int blocks, int k, int *b0, int *nb) {
    const int half = blocks == 1 ? B : (B + 1) / 2;
    *b0 = k ? half : 0;
    *nb = k ? B - half : half;
}

typedef struct {
    const DecoderParams *p;
    const TapConfig *cfg;
    AttnContext cx; // col0 = b0
    const float *y_mask;
    DecoderCache *c;
    int b0, nb;
    float *work; // decoder_work_floats(cfg, S, nb)
} FwdBlock;

static void forward_block(void *arg) {
    const FwdBlock *j = arg;
    const DecoderCache *c = j->c;
    const TapConfig *cfg = j->cfg;
    const size_t D = (size_t)cfg->D, S = (size_t)c->S, G = (size_t)gate_dim(cfg);
    for (int t = 0; t < c->L; t++) {
        const size_t r = (size_t)t * c->B + (size_t)j->b0;
        DecStep st;
        decoder_cache_step(c, cfg, t, j->b0, &st);
        DecProj in = {c->proj.x + r * 2 * D, c->proj.xx + r * D, G ? c->proj.yg + r * G : NULL};
        decoder_step(j->p, &c->pk, cfg, &j->cx, NULL, &in, c->h + r * D, c->alpha_past + r * S,
                     j->y_mask + r, j->nb, &st, j->work, NULL);
    }
}

void decoder_forward(const DecoderParams *p, const TapConfig *cfg, const float *ctx,
                     const float *ctx_mask, const int32_t *y, const float *y_mask, int S, int L,
                     int B, DecoderCache *c) {
    const int D = cfg->D, E = cfg->E;
    TAP_ASSERT(c->S == S && c->L == L && c->B == B);
    decoder_init_state(p, cfg, ctx, ctx_mask, S, B, c->ctx_mean, c->h);
    attention_prepare(&p->att, cfg, ctx, S, B, c->pctx, c->kern);
    decoder_pack(p, cfg, 0, c->packed, &c->pk);
    // TAP's shifted targets: emb[0] = 0, emb[t] = Wemb[y[t - 1]]
    memset(c->emb, 0, (size_t)B * E * sizeof *c->emb);
    decoder_embed(p, cfg, y, (L - 1) * B, c->emb + (size_t)B * E);
    decoder_project(p, cfg, c->emb, L * B, &c->proj);
    memset(c->alpha_past, 0, (size_t)B * S * sizeof *c->alpha_past);

    const int blocks = block_count(B);
    FwdBlock job[2];
    float *work = c->work;
    for (int k = 0; k < blocks; k++) {
        int b0, nb;
        block_rows(B, blocks, k, &b0, &nb);
        const AttnContext cx = {ctx, c->pctx, c->kern, ctx_mask, NULL, S, B, b0, &c->pk.att, NULL};
        job[k] = (FwdBlock){p, cfg, cx, y_mask, c, b0, nb, work};
        work += decoder_work_floats(cfg, S, nb);
    }
    if (blocks == 2)
        parallel_pair(forward_block, &job[0], &job[1], cfg->threads);
    else
        forward_block(&job[0]);
    // the readout of all steps at once: its rows are independent
    readout_forward(&p->ro, cfg, c->h + (size_t)B * D, c->emb, c->ctxs, L * B, c->pre, c->mo,
                    c->logits);
    readout_softmax(c->logits, L * B, cfg->V, c->probs);
}

// The stacked per-step gradients of the backward pass, (L, B, ·) like the cache.
typedef struct {
    DecProj dproj;                     // d x_, d xx_, d yg
    float *dhux, *dpre2, *dhx2, *dpx2; // d(h_prev·Ux), d GRU2 gate pre-activations, d hx2, d cand.
    AttnStepGrad ga;
} StepGrads;

static void step_grads_at(const StepGrads *all, const TapConfig *cfg, int S, int B, int t, int b0,
                          StepGrads *v) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D;
    const size_t r = (size_t)t * B + (size_t)b0; // row b0 of step t
    const int g = cfg->gate;
    v->dproj.x = all->dproj.x + r * 2 * D;
    v->dproj.xx = all->dproj.xx + r * D;
    v->dproj.yg = g ? all->dproj.yg + r * C : NULL;
    v->dhux = all->dhux + r * D;
    v->dpre2 = all->dpre2 + r * 2 * D;
    v->dhx2 = all->dhx2 + r * D;
    v->dpx2 = all->dpx2 + r * D;
    v->ga.dgpre = g ? all->ga.dgpre + r * C : NULL;
    v->ga.dtmpre = g ? all->ga.dtmpre + r * C : NULL;
    v->ga.dpw = g ? all->ga.dpw + r * C : NULL;
    v->ga.da = g ? all->ga.da + r : NULL;
    v->ga.dpstate = all->ga.dpstate + r * C;
    v->ga.de = all->ga.de + r * (size_t)S;
}

// Backward of one decoder_step (without the readout). dh (n, D) is the gradient of st->h,
// dalpha (n, S) of st->a.alpha (coverage carry included), dctx_out (n, C) of st->a.ctx (GRU2's
// own contribution is added here). Writes the step gradients sg; adds into dh_prev,
// dalpha_past, dpctx, dkern and dctx. dh1 (n, D) is scratch.
//   GRU (h = m·(u·h_in + (1-u)·hc) + (1-m)·h_in, hc = tanh(pre_x)):
//   du = m·dh·(h_in - hc);  dhc = m·dh·(1 - u);  d pre_x = dhc·(1 - hc²);  dh_in += (1-m)·dh + m·dh·u
static void step_backward(const DecoderParams *p, const TapConfig *cfg, const AttnContext *cx,
                          const float *h_prev, const float *alpha_past, const float *mask, int n,
                          const DecStep *st, const float *dh, const float *dalpha, float *dctx_out,
                          StepGrads *sg, float *dh1, float *attw, float *dh_prev,
                          float *dalpha_past, float *dpctx, float *dkern, float *dctx,
                          const DecoderPacked *pt) {
    const int D = cfg->D, C = config_context_dim(cfg);
    for (int b = 0; b < n; b++) {
        const float m = mask ? mask[b] : 1.0f;
        const float *r = st->r2u2 + (size_t)b * 2 * D, *u = r + D;
        float *dpr = sg->dpre2 + (size_t)b * 2 * D, *dpu = dpr + D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            float dhm = m * dh[i], hc = st->hc2[i];
            float du = dhm * (st->h1[i] - hc);
            dh1[i] = (1.0f - m) * dh[i] + dhm * u[d];
            float dpx = dhm * (1.0f - u[d]) * (1.0f - hc * hc);
            sg->dpx2[i] = dpx;
            sg->dhx2[i] = dpx * r[d];
            float dr = dpx * st->hx2[i];
            dpr[d] = dr * r[d] * (1.0f - r[d]);
            dpu[d] = du * u[d] * (1.0f - u[d]);
        }
    }
    panel_mm_or_blas(n, C, 2 * D, sg->dpre2, 2 * D, pt->Wc, p->Wc, 2 * D, 1, dctx_out, C, 1.0f);
    panel_mm_or_blas(n, C, D, sg->dpx2, D, pt->Wcx, p->Wcx, D, 1, dctx_out, C, 1.0f);
    panel_mm_or_blas(n, D, 2 * D, sg->dpre2, 2 * D, pt->U_nl, p->U_nl, 2 * D, 1, dh1, D, 1.0f);
    panel_mm_or_blas(n, D, D, sg->dhx2, D, pt->Ux_nl, p->Ux_nl, D, 1, dh1, D, 1.0f);

    if (cfg->gate) memset(sg->dproj.yg, 0, (size_t)n * C * sizeof *sg->dproj.yg);
    attention_backward(&p->att, cfg, cx, alpha_past, n, &st->a, dalpha, dctx_out, &sg->ga, attw,
                       dh_prev, sg->dproj.yg, dh1, dalpha_past, dpctx, dkern, dctx);

    for (int b = 0; b < n; b++) {
        const float m = mask ? mask[b] : 1.0f;
        const float *r = st->r1u1 + (size_t)b * 2 * D, *u = r + D;
        float *dpr = sg->dproj.x + (size_t)b * 2 * D, *dpu = dpr + D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            float dhm = m * dh1[i], hc = st->hc1[i];
            float du = dhm * (h_prev[i] - hc);
            dh_prev[i] += (1.0f - m) * dh1[i] + dhm * u[d];
            float dpx = dhm * (1.0f - u[d]) * (1.0f - hc * hc);
            sg->dproj.xx[i] = dpx;
            sg->dhux[i] = dpx * r[d];
            float dr = dpx * st->hux[i];
            dpr[d] = dr * r[d] * (1.0f - r[d]);
            dpu[d] = du * u[d] * (1.0f - u[d]);
        }
    }
    panel_mm_or_blas(n, D, 2 * D, sg->dproj.x, 2 * D, pt->U, p->U, 2 * D, 1, dh_prev, D, 1.0f);
    panel_mm_or_blas(n, D, D, sg->dhux, D, pt->Ux, p->Ux, D, 1, dh_prev, D, 1.0f);
}

size_t decoder_backward_floats(const TapConfig *cfg, int S, int L, int B) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, E = (size_t)cfg->E;
    const size_t R = (size_t)L * B, G = (size_t)gate_dim(cfg), N = (size_t)B;
    size_t f = R * (D + E + C)                          // readout: dh, demb, dctx
               + R * (3 * D + G)                        // dproj
               + R * 5 * D                              // dhux, dpre2, dhx2, dpx2
               + R * C + R * (size_t)S                  // dpstate, de
               + (size_t)S * N * C + (size_t)cfg->K * C // dpctx, dkern
               + N * (4 * D + 3 * (size_t)S + 2 * C)    // step carries and scratch
               + attention_backward_floats(cfg, S, B) + readout_backward_floats(cfg, L * B)
               + (size_t)cfg->K * C + 1 // a second block's dkern and attention scratch
               + decoder_packed_floats(cfg);
    if (cfg->gate) f += R * 3 * C + R; // dgpre, dtmpre, dpw, da
    return f;
}

// One block of rows through all steps, last to first: the carries dh (state) and dap (coverage)
// are the block's rows of (B, ·) buffers; dpctx and dctx columns belong to one block each, and
// dkern is the block's own.
typedef struct {
    const DecoderParams *p;
    const TapConfig *cfg;
    AttnContext cx; // col0 = b0
    const float *y_mask;
    const DecoderCache *c;
    const float *dalphas, *dh_ro, *dctx_ro; // (L, B, S) or NULL, (L, B, D), (L, B, C)
    const StepGrads *all;
    int b0, nb;
    float *dh, *dh_prev, *dh1;      // (nb, D) each
    float *dap, *dap_prev, *dal;    // (nb, S) each
    float *dcs;                     // (nb, C)
    float *attw;                    // attention_backward_floats(cfg, S, nb)
    float *dkern, *dpctx, *dctx;    // (K, C), (S, B, C), (S, B, C) or NULL
    float *dpre0;                   // (nb, D) out: d pre-activation of h0
    const DecoderPacked *pt;        // the step weights packed transposed
} BwdBlock;

static void backward_block(void *arg) {
    const BwdBlock *j = arg;
    const DecoderCache *c = j->c;
    const TapConfig *cfg = j->cfg;
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, S = (size_t)c->S;
    const size_t nb = (size_t)j->nb;
    float *dh = j->dh, *dh_prev = j->dh_prev, *dap = j->dap, *dap_prev = j->dap_prev;
    memset(dh, 0, nb * D * sizeof *dh);
    memset(dap, 0, nb * S * sizeof *dap);
    for (int t = c->L - 1; t >= 0; t--) {
        const size_t r = (size_t)t * c->B + (size_t)j->b0;
        DecStep st;
        StepGrads sg;
        decoder_cache_step(c, cfg, t, j->b0, &st);
        step_grads_at(j->all, cfg, c->S, c->B, t, j->b0, &sg);
        for (size_t i = 0; i < nb * D; i++) dh[i] += j->dh_ro[r * D + i];
        for (size_t i = 0; i < nb * S; i++)
            j->dal[i] = dap[i] + (j->dalphas ? j->dalphas[r * S + i] : 0.0f);
        memcpy(dap_prev, dap, nb * S * sizeof *dap);
        memcpy(j->dcs, j->dctx_ro + r * C, nb * C * sizeof *j->dcs);
        memset(dh_prev, 0, nb * D * sizeof *dh_prev);
        step_backward(j->p, cfg, &j->cx, c->h + r * D, c->alpha_past + r * S, j->y_mask + r,
                      j->nb, &st, dh, j->dal, j->dcs, &sg, j->dh1, j->attw, dh_prev, dap_prev,
                      j->dpctx, j->dkern, j->dctx, j->pt);
        float *tmp = dh;
        dh = dh_prev;
        dh_prev = tmp;
        tmp = dap;
        dap = dap_prev;
        dap_prev = tmp;
    }
    // dh is now d h0: h0 = tanh(pre0)
    const float *h0 = c->h + (size_t)j->b0 * D;
    for (size_t i = 0; i < nb * D; i++) j->dpre0[i] = dh[i] * (1.0f - h0[i] * h0[i]);
}

// Backward through time. The readout runs once over all L·B rows; then steps L-1..0 pass back
// dh (the state) and d alpha_past (the coverage: alpha_past[t+1] = alpha_past[t] + alpha[t], so
// the carry feeds both alpha[t] and alpha_past[t]). Weight gradients of the step-wise maps are
// formed afterwards by one GEMM each over all L·B rows of the stacked step gradients.
void decoder_backward(const DecoderParams *p, DecoderParams *g, const TapConfig *cfg,
                      const float *ctx, const float *ctx_mask, const int32_t *y,
                      const float *y_mask, int S, int L, int B, const DecoderCache *c,
                      const float *dlogits, const float *dalphas, float *work, float *dctx) {
    const int C = config_context_dim(cfg), D = cfg->D, E = cfg->E, G = gate_dim(cfg), R = L * B;
    const size_t NB = (size_t)B;
    TAP_ASSERT(c->S == S && c->L == L && c->B == B);
    float *dh_ro = take(&work, (size_t)R * D);   // (L, B, D)
    float *demb = take(&work, (size_t)R * E);    // (L, B, E)
    float *dctx_ro = take(&work, (size_t)R * C); // (L, B, C)
    StepGrads all;
    all.dproj.x = take(&work, (size_t)R * 2 * D);
    all.dproj.xx = take(&work, (size_t)R * D);
    all.dproj.yg = G ? take(&work, (size_t)R * G) : NULL;
    all.dhux = take(&work, (size_t)R * D);
    all.dpre2 = take(&work, (size_t)R * 2 * D);
    all.dhx2 = take(&work, (size_t)R * D);
    all.dpx2 = take(&work, (size_t)R * D);
    all.ga.dgpre = G ? take(&work, (size_t)R * C) : NULL;
    all.ga.dtmpre = G ? take(&work, (size_t)R * C) : NULL;
    all.ga.dpw = G ? take(&work, (size_t)R * C) : NULL;
    all.ga.da = G ? take(&work, (size_t)R) : NULL;
    all.ga.dpstate = take(&work, (size_t)R * C);
    all.ga.de = take(&work, (size_t)R * S);
    float *dpctx = take(&work, (size_t)S * NB * C); // (S, B, C)
    float *dkern = take(&work, (size_t)cfg->K * C); // (K, C)
    float *dh = take(&work, NB * D), *dh_prev = take(&work, NB * D), *dh1 = take(&work, NB * D);
    float *dap = take(&work, NB * S), *dap_prev = take(&work, NB * S), *dal = take(&work, NB * S);
    float *dcs = take(&work, NB * C), *dmean = take(&work, NB * C), *dpre0 = take(&work, NB * D);
    float *attw = take(&work, attention_backward_floats(cfg, S, B) + 1);
    float *dkern2 = take(&work, (size_t)cfg->K * C); // (K, C) the second block's
    float *row = take(&work, readout_backward_floats(cfg, R));
    DecoderPacked pt; // the step weights transposed, packed once for all steps
    decoder_pack(p, cfg, 1, take(&work, decoder_packed_floats(cfg)), &pt);

    memset(dh_ro, 0, (size_t)R * D * sizeof *dh_ro);
    memset(demb, 0, (size_t)R * E * sizeof *demb);
    memset(dctx_ro, 0, (size_t)R * C * sizeof *dctx_ro);
    memset(dpctx, 0, (size_t)S * NB * C * sizeof *dpctx);
    memset(dkern, 0, (size_t)cfg->K * C * sizeof *dkern);

    readout_backward(&p->ro, &g->ro, cfg, c->h + NB * D, c->emb, c->ctxs, c->pre, c->mo, dlogits, R,
                     row, dh_ro, demb, dctx_ro);

    const int blocks = block_count(B);
    BwdBlock job[2];
    for (int k = 0; k < blocks; k++) {
        int b0, nb;
        block_rows(B, blocks, k, &b0, &nb);
        const size_t o = (size_t)b0;
        const AttnContext cx = {ctx, c->pctx, c->kern, ctx_mask, NULL, S, B, b0, NULL, &pt.att};
        job[k] = (BwdBlock){.p = p, .cfg = cfg, .cx = cx, .y_mask = y_mask, .c = c,
                            .dalphas = dalphas, .dh_ro = dh_ro, .dctx_ro = dctx_ro, .all = &all,
                            .b0 = b0, .nb = nb, .dh = dh + o * D, .dh_prev = dh_prev + o * D,
                            .dh1 = dh1 + o * D, .dap = dap + o * S, .dap_prev = dap_prev + o * S,
                            .dal = dal + o * S, .dcs = dcs + o * C, .attw = attw,
                            .dkern = k ? dkern2 : dkern, .dpctx = dpctx, .dctx = dctx,
                            .dpre0 = dpre0 + o * D, .pt = &pt};
        attw += attention_backward_floats(cfg, S, nb);
    }
    if (blocks == 2) {
        memset(dkern2, 0, (size_t)cfg->K * C * sizeof *dkern2);
        parallel_pair(backward_block, &job[0], &job[1], cfg->threads);
        for (size_t i = 0; i < (size_t)cfg->K * C; i++) dkern[i] += dkern2[i];
    } else {
        backward_block(&job[0]);
    }
    // dpre0 is now d(pre-activation of h0); d alpha_past[0] is dropped (a constant zero)

    // step-wise weights, one GEMM each over all L·B rows
    const float *Hp = c->h, *H1 = c->h1, *EMB = c->emb, *CTX = c->ctxs;
    mm_tn(D, 2 * D, R, Hp, D, all.dproj.x, 2 * D, g->U, 2 * D, 1.0f);
    mm_tn(D, D, R, Hp, D, all.dhux, D, g->Ux, D, 1.0f);
    mm_tn(E, 2 * D, R, EMB, E, all.dproj.x, 2 * D, g->W, 2 * D, 1.0f);
    sum_rows_add(g->b, all.dproj.x, R, 2 * D, 2 * D);
    mm_tn(E, D, R, EMB, E, all.dproj.xx, D, g->Wx, D, 1.0f);
    sum_rows_add(g->bx, all.dproj.xx, R, D, D);
    mm_tn(D, 2 * D, R, H1, D, all.dpre2, 2 * D, g->U_nl, 2 * D, 1.0f);
    sum_rows_add(g->b_nl, all.dpre2, R, 2 * D, 2 * D);
    mm_tn(C, 2 * D, R, CTX, C, all.dpre2, 2 * D, g->Wc, 2 * D, 1.0f);
    mm_tn(D, D, R, H1, D, all.dhx2, D, g->Ux_nl, D, 1.0f);
    sum_rows_add(g->bx_nl, all.dhx2, R, D, D);
    mm_tn(C, D, R, CTX, C, all.dpx2, D, g->Wcx, D, 1.0f);
    mm_nt(R, E, 2 * D, all.dproj.x, 2 * D, p->W, 2 * D, demb, E, 1.0f);
    mm_nt(R, E, D, all.dproj.xx, D, p->Wx, D, demb, E, 1.0f);
    if (G) {
        mm_tn(E, G, R, EMB, E, all.dproj.yg, G, g->Wyg, G, 1.0f);
        sum_rows_add(g->byg, all.dproj.yg, R, G, G);
        mm_nt(R, E, G, all.dproj.yg, G, p->Wyg, G, demb, E, 1.0f);
    }
    AttnStep sa = {c->gm, c->tm, c->mt, c->pw, c->beta, c->att, c->alphas, c->ctx_att, c->ctxs};
    attention_backward_weights(&g->att, cfg, S, R, Hp, H1, &sa, &all.ga);

    // embeddings: row t of emb is Wemb[y[t - 1]] (row 0 is the constant zero start)
    for (int t = 1; t < L; t++)
        for (int b = 0; b < B; b++) {
            const float *de = demb + ((size_t)t * B + b) * E;
            float *gw = g->Wemb + (size_t)y[(size_t)(t - 1) * B + b] * E;
            for (int e = 0; e < E; e++) gw[e] += de[e];
        }

    attention_prepare_backward(&p->att, &g->att, cfg, ctx, dpctx, dkern, S, B, dctx);

    // h0 = tanh(ctx_mean·W_ff_state + b), ctx_mean = Σ_s ctx·mask / Σ_s mask
    mm_tn(C, D, B, c->ctx_mean, C, dpre0, D, g->state_W, D, 1.0f);
    sum_rows_add(g->state_b, dpre0, B, D, D);
    if (dctx) {
        mm_nt(B, C, D, dpre0, D, p->state_W, D, dmean, C, 0.0f);
        for (int b = 0; b < B; b++) {
            double N = 0.0;
            for (int s = 0; s < S; s++) N += ctx_mask ? (double)ctx_mask[(size_t)s * B + b] : 1.0;
            for (int s = 0; s < S; s++) {
                float w = (float)((ctx_mask ? (double)ctx_mask[(size_t)s * B + b] : 1.0) / N);
                if (w == 0.0f) continue;
                float *dc = dctx + ((size_t)s * B + b) * C;
                for (int k = 0; k < C; k++) dc[k] += w * dmean[(size_t)b * C + k];
            }
        }
    }
}
