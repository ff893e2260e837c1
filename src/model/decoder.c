// Conditional GRU decoder (TAP gru_cond_layer): the single step shared by teacher forcing and
// beam search, and the teacher-forced forward over a batch (backward: decoder_backward.c).
// Dims: S annotations, B batch, L target steps, n step rows, C context, D decoder hidden,
// E embedding, V vocabulary, K coverage kernel.
#include "decoder.h"

#include <stddef.h>
#include <string.h>

#include "decoder_blocks.h"
#include "ops.h"
#include "panel.h"
#include "parallel.h"
#include "tap.h"

static void bias_rows(float *y, const float *b, int n, int w) {
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * w, b, (size_t)w * sizeof *y);
}

#define DEC(m) {offsetof(DecoderGrads, m), "decoder_" #m}
static const ParamField DEC_CORE[] = {
    {offsetof(DecoderGrads, Wemb), "Wemb_dec"},
    {offsetof(DecoderGrads, state_W), "ff_state_W"},
    {offsetof(DecoderGrads, state_b), "ff_state_b"},
    DEC(W), DEC(b), DEC(U), DEC(Wx), DEC(bx), DEC(Ux),
    DEC(U_nl), DEC(b_nl), DEC(Wc), DEC(Ux_nl), DEC(bx_nl), DEC(Wcx)};
static const ParamField DEC_GATE[] = {DEC(Wyg), DEC(byg)};
#undef DEC

void decoder_grads_bind(DecoderGrads *g, const ParamTable *t, float *base, const TapConfig *cfg) {
    memset(g, 0, sizeof *g);
    params_bind_fields(t, base, g, DEC_CORE, (int)(sizeof DEC_CORE / sizeof *DEC_CORE));
    if (cfg->gate) params_bind_fields(t, base, g, DEC_GATE, (int)(sizeof DEC_GATE / sizeof *DEC_GATE));
    attention_grads_bind(&g->att, t, base, cfg);
    readout_grads_bind(&g->ro, t, base);
}

// The const view has the grads' layout (pointers to float and to const float are alike).
_Static_assert(sizeof(DecoderParams) == sizeof(DecoderGrads), "one layout");

void decoder_params_bind(DecoderParams *p, const ParamTable *t, const float *base,
                         const TapConfig *cfg) {
    DecoderGrads v;
    decoder_grads_bind(&v, t, (float *)base, cfg);
    memcpy(p, &v, sizeof *p);
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
    static const DecoderPacked not_packed; // every product through BLAS on the weights
    if (!pk) pk = &not_packed;
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
    panel_mm_or_blas(n, 2 * D, D, h_prev, D, pk->U, p->U, 2 * D, 0, st->r1u1, 2 * D, 1.0f);
    sigmoid_inplace(st->r1u1, N * 2 * D);
    panel_mm_or_blas(n, D, D, h_prev, D, pk->Ux, p->Ux, D, 0, st->hux, D, 0.0f);
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
    panel_mm_or_blas(n, 2 * D, D, st->h1, D, pk->U_nl, p->U_nl, 2 * D, 0, st->r2u2, 2 * D, 1.0f);
    panel_mm_or_blas(n, 2 * D, C, ctx, C, pk->Wc, p->Wc, 2 * D, 0, st->r2u2, 2 * D, 1.0f);
    sigmoid_inplace(st->r2u2, N * 2 * D);
    bias_rows(st->hx2, p->bx_nl, n, D);
    panel_mm_or_blas(n, D, D, st->h1, D, pk->Ux_nl, p->Ux_nl, D, 0, st->hx2, D, 1.0f);
    panel_mm_or_blas(n, D, C, ctx, C, pk->Wcx, p->Wcx, D, 0, st->hc2, D, 0.0f);
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
