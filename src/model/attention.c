// Coverage attention + the v2 "when to attend" gate, forward and backward for one step.
// Dims: S annotations, Bc context columns, n rows, C context, D decoder hidden, Q filters, K kernel.
#include "attention.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops.h"
#include "panel.h"
#include "tap.h"

// Width of the double accumulators of the cancelling sums (fixed, on the stack).
enum { ACC_W = 64 };

// No packed weights: every product goes through BLAS on the weights themselves.
static const AttnPacked NOT_PACKED;

static int ctx_col(const AttnContext *cx, int b) {
    if (cx->row) return cx->row[b];
    return cx->Bc == 1 ? 0 : cx->col0 + b;
}

#define ATT(m) {offsetof(AttnGrads, m), "decoder_" #m}
static const ParamField ATT_CORE[] = {ATT(W_comb_att), ATT(Wc_att), ATT(b_att),   ATT(U_att),
                                      ATT(c_tt),       ATT(conv_Q), ATT(conv_Uf), ATT(conv_b)};
static const ParamField ATT_GATE[] = {ATT(Whg),     ATT(bhg),        ATT(Umg),
                                      ATT(W_m_att), ATT(U_when_att), ATT(c_when_att)};
#undef ATT

void attention_grads_bind(AttnGrads *g, const ParamTable *t, float *base, const TapConfig *cfg) {
    memset(g, 0, sizeof *g);
    params_bind_fields(t, base, g, ATT_CORE, (int)(sizeof ATT_CORE / sizeof *ATT_CORE));
    if (cfg->gate) params_bind_fields(t, base, g, ATT_GATE, (int)(sizeof ATT_GATE / sizeof *ATT_GATE));
}

// The const view has the grads' layout (pointers to float and to const float are alike).
_Static_assert(sizeof(AttnParams) == sizeof(AttnGrads), "one layout");

void attention_params_bind(AttnParams *p, const ParamTable *t, const float *base, const TapConfig *cfg) {
    AttnGrads v;
    attention_grads_bind(&v, t, (float *)base, cfg);
    memcpy(p, &v, sizeof *p);
}

void attention_prepare(const AttnParams *p, const TapConfig *cfg, const float *ctx, int S, int B,
                       float *pctx, float *kern) {
    const int C = config_context_dim(cfg), K = cfg->K, Q = cfg->Q;
    const size_t rows = (size_t)S * B;
    for (size_t i = 0; i < rows; i++)
        for (int c = 0; c < C; c++) pctx[i * C + c] = p->b_att[c] + p->conv_b[c];
    mm_nn((int)rows, C, C, ctx, C, p->Wc_att, C, pctx, C, 1.0f);
    mm_tn(K, C, Q, p->conv_Q, K, p->conv_Uf, C, kern, C, 0.0f);
}

void attention_prepare_backward(const AttnParams *p, AttnGrads *g, const TapConfig *cfg,
                                const float *ctx, const float *dpctx, const float *dkern, int S,
                                int B, float *dctx) {
    const int C = config_context_dim(cfg), K = cfg->K, Q = cfg->Q, rows = S * B;
    if (g) {
        // b_att and conv_b: attention_backward_weights (from dpstate, without cancellation)
        mm_tn(C, C, rows, ctx, C, dpctx, C, g->Wc_att, C, 1.0f);
        // kern = conv_Qᵀ·conv_Uf: d conv_Q = conv_Uf·dkernᵀ, d conv_Uf = conv_Q·dkern
        mm_nt(Q, K, C, p->conv_Uf, C, dkern, C, g->conv_Q, K, 1.0f);
        mm_nn(Q, C, K, p->conv_Q, K, dkern, C, g->conv_Uf, C, 1.0f);
    }
    if (dctx) mm_nt(rows, C, C, dpctx, C, p->Wc_att, C, dctx, C, 1.0f);
}

// db (N) += Σ_rows dY (M, N), summed in double ACC_W columns at a time.
static void sum_rows_add_double(float *db, const float *dY, int M, int N) {
    for (int c0 = 0; c0 < N; c0 += ACC_W) {
        const int w = N - c0 < ACC_W ? N - c0 : ACC_W;
        double acc[ACC_W] = {0};
        for (int i = 0; i < M; i++) {
            const float *d = dY + (size_t)i * N + c0;
            for (int c = 0; c < w; c++) acc[c] += (double)d[c];
        }
        for (int c = 0; c < w; c++) db[c0 + c] += (float)acc[c];
    }
}

// The kernel taps that can meet an annotation: tap j reads alpha_past[s + pad - j], inside
// [0, S) for some s only when j lies in [pad - S + 1, pad + S - 1]. With fewer annotations than
// taps (S < K, short expressions: S = 26 for 100 points against K = 121) the other taps only
// ever multiply zeros, so the patches and the products skip them.
static void coverage_window(int S, int K, int *j0, int *width) {
    const int pad = (K - 1) / 2;
    const int lo = pad - S + 1 > 0 ? pad - S + 1 : 0, hi = pad + S < K ? pad + S : K;
    *j0 = lo;
    *width = hi - lo;
}

// im2col of the coverage over the taps [j0, j0 + W), for the u rows listed in rep (NULL: rows
// 0..u-1): patch[s, r, k] = alpha_past[rep[r], s + pad - j0 - k] (0 outside [0, S)), so that
// patch·kern[j0 : j0 + W] is the true ('half'-padded) convolution Theano's conv2d computes.
static void coverage_patches(const float *alpha_past, const int *rep, int u, int S, int K, int j0,
                             int W, float *patch) {
    const int pad = (K - 1) / 2;
    for (int s = 0; s < S; s++)
        for (int r = 0; r < u; r++) {
            const float *ap = alpha_past + (size_t)(rep ? rep[r] : r) * S;
            float *row = patch + ((size_t)s * u + r) * W;
            for (int k = 0; k < W; k++) {
                int src = s + pad - j0 - k;
                row[k] = (src >= 0 && src < S) ? ap[src] : 0.0f;
            }
        }
}

// Groups rows with bitwise identical coverage: rep (u) lists one row per group, src (n) the
// group of every row. Returns u. Beam hypotheses that extend the same parent share alpha_past,
// and so do all rows at the first step, so their coverage is computed once.
static int coverage_groups(const float *alpha_past, int n, int S, int *rep, int *src) {
    int u = 0;
    for (int b = 0; b < n; b++) {
        const float *ap = alpha_past + (size_t)b * S;
        src[b] = -1;
        for (int j = 0; j < u && src[b] < 0; j++)
            if (!memcmp(alpha_past + (size_t)rep[j] * S, ap, (size_t)S * sizeof *ap)) src[b] = j;
        if (src[b] < 0) rep[u] = b, src[b] = u++;
    }
    return u;
}

size_t attention_work_floats(const TapConfig *cfg, int S, int n) {
    return (size_t)n * (size_t)config_context_dim(cfg) + (size_t)S * (size_t)n * (size_t)cfg->K +
           2 * (size_t)n; // pstate, patch, the coverage groups (ints)
}

void attention_forward(const AttnParams *p, const TapConfig *cfg, const AttnContext *cx,
                       const float *h_prev, const float *yg, const float *h1,
                       const float *alpha_past, int n, AttnStep *st, float *work) {
    const int C = config_context_dim(cfg), D = cfg->D, K = cfg->K, S = cx->S, Bc = cx->Bc;
    TAP_ASSERT(cx->row || Bc == 1 || (cx->col0 >= 0 && cx->col0 + n <= Bc));
    float *pstate = work;                            // (n, C)
    float *patch = work + (size_t)n * C;             // (S, n, K)
    int *rep = (int *)(patch + (size_t)S * n * K);   // (n) a row of each coverage group
    int *src = rep + n;                              // (n) group of each row
    const AttnPacked *pk = cx->fwd ? cx->fwd : &NOT_PACKED;
    panel_mm_or_blas(n, C, D, h1, D, pk->W_comb_att, p->W_comb_att, C, 0, pstate, C, 0.0f);

    // cover (S, u, C) = patch·kern for the u distinct coverage rows, written at the start of att
    // and spread in place to (S, n, C): going backwards, row (s, b) only reads row (s, src[b])
    // of the compact layout, which sits at or before it and has not been overwritten yet.
    int u = coverage_groups(alpha_past, n, S, rep, src);
    int j0, W;
    coverage_window(S, K, &j0, &W);
    coverage_patches(alpha_past, rep, u, S, K, j0, W, patch);
    mm_nn(S * u, C, W, patch, W, cx->kern + (size_t)j0 * C, C, st->att, C, 0.0f);
    for (int s = S - 1; s >= 0; s--)
        for (int b = n - 1; b >= 0; b--) {
            float *a = st->att + ((size_t)s * n + b) * C;
            const float *cov = st->att + ((size_t)s * u + src[b]) * C;
            const float *pc = cx->pctx + ((size_t)s * Bc + ctx_col(cx, b)) * C;
            const float *ps = pstate + (size_t)b * C;
            for (int c = 0; c < C; c++) a[c] = cov[c] + pc[c] + ps[c];
            tanh_inplace(a, (size_t)C);
        }
    // energies e = att·U_att + c_tt, one matrix-vector product into the free patch buffer
    float *energy = patch; // (S, n)
    mm_nn(S * n, 1, C, st->att, C, p->U_att, 1, energy, 1, 0.0f);
    const float c_tt = p->c_tt[0];
    for (int s = 0; s < S; s++)
        for (int b = 0; b < n; b++)
            st->alpha[(size_t)b * S + s] = energy[(size_t)s * n + b] + c_tt; // energies for now

    float *ctx_att = cfg->gate ? st->ctx_att : st->ctx;
    if (cfg->gate) {
        panel_mm_or_blas(n, C, D, h_prev, D, pk->Whg, p->Whg, C, 0, st->gm, C, 0.0f);
        panel_mm_or_blas(n, C, D, h1, D, pk->Umg, p->Umg, C, 0, st->tm, C, 0.0f);
        const size_t nC = (size_t)n * C;
        for (int b = 0; b < n; b++)
            for (int c = 0; c < C; c++) {
                size_t i = (size_t)b * C + c;
                st->gm[i] = st->gm[i] + p->bhg[c] + yg[i];
            }
        sigmoid_inplace(st->gm, nC);
        tanh_inplace(st->tm, nC);
        for (size_t i = 0; i < nC; i++) st->mt[i] = st->tm[i] * st->gm[i];
        memcpy(st->pw, pstate, nC * sizeof *st->pw);
        panel_mm_or_blas(n, C, C, st->mt, C, pk->W_m_att, p->W_m_att, C, 0, st->pw, C, 1.0f);
        tanh_inplace(st->pw, nC);
    }

    for (int b = 0; b < n; b++) {
        const int col = ctx_col(cx, b);
        float *al = st->alpha + (size_t)b * S;
        float m = -INFINITY;
        double N = 0.0;
        for (int s = 0; s < S; s++) {
            float w = cx->mask ? cx->mask[(size_t)s * Bc + col] : 1.0f;
            if (w != 0.0f && al[s] > m) m = al[s];
            N += (double)w;
        }
        TAP_ASSERT(N > 0.0); // a context column with no valid annotation
        double Z = 0.0;
        for (int s = 0; s < S; s++) {
            float w = cx->mask ? cx->mask[(size_t)s * Bc + col] : 1.0f;
            al[s] = w != 0.0f ? expf(al[s] - m) * w : 0.0f;
            Z += (double)al[s];
        }
        float invZ = (float)(1.0 / Z);
        for (int s = 0; s < S; s++) al[s] *= invZ;

        float *ca = ctx_att + (size_t)b * C;
        memset(ca, 0, (size_t)C * sizeof *ca);
        for (int s = 0; s < S; s++) {
            if (al[s] == 0.0f) continue;
            const float *cs = cx->ctx + ((size_t)s * Bc + col) * C;
            for (int c = 0; c < C; c++) ca[c] += al[s] * cs[c];
        }
        if (cfg->gate) {
            const float *pw = st->pw + (size_t)b * C;
            double a = (double)p->c_when_att[0];
            for (int c = 0; c < C; c++) a += (double)pw[c] * (double)p->U_when_att[c];
            double z = a - (double)m - log(Z / N);
            float beta = (float)(1.0 / (1.0 + exp(-z)));
            st->beta[b] = beta;
            const float *mt = st->mt + (size_t)b * C;
            float *out = st->ctx + (size_t)b * C;
            for (int c = 0; c < C; c++) out[c] = beta * mt[c] + (1.0f - beta) * ca[c];
        }
    }
}

size_t attention_backward_floats(const TapConfig *cfg, int S, int n) {
    const size_t C = (size_t)config_context_dim(cfg), K = (size_t)cfg->K;
    return (size_t)S * n * C       // dpre
           + 2 * (size_t)S * n * K // patch, dpatch
           + 2 * (size_t)n * C     // dctx_att, dmt
           + (size_t)n * S         // dalpha total
           + 2 * (size_t)n * C + 1; // double Σ_s de·att² (n, C), 8-byte aligned inside
}

// Backward, per row b (z = a - lse, beta = sigmoid(z), lse = log Σ exp(e)·mask - log N):
//   dbeta = dctx·(mt - ctx_att);  dmt = beta·dctx;  dctx_att = (1 - beta)·dctx
//   dalpha[s] += dctx_att·ctx[s];  dz = dbeta·beta(1 - beta);  da = dz
//   de[s] = alpha[s]·(dalpha[s] - Σ_r alpha[r]·dalpha[r] - dz)    (softmax + d lse/de = alpha)
//   dpre = de·U_att·(1 - att²) feeds pctx, pstate (summed over s) and the coverage patches.
void attention_backward(const AttnParams *p, const TapConfig *cfg, const AttnContext *cx,
                        const float *alpha_past, int n, const AttnStep *st, const float *dalpha,
                        const float *dctx_out, AttnStepGrad *gr, float *work, float *dh_prev,
                        float *dyg, float *dh1, float *dalpha_past, float *dpctx, float *dkern,
                        float *dctx) {
    const int C = config_context_dim(cfg), D = cfg->D, K = cfg->K, S = cx->S, Bc = cx->Bc;
    const int pad = (K - 1) / 2;
    float *dpre = work;                        // (S, n, C)
    float *patch = dpre + (size_t)S * n * C;   // (S, n, K)
    float *dpatch = patch + (size_t)S * n * K; // (S, n, K)
    float *dca = dpatch + (size_t)S * n * K;   // (n, C)
    float *dmt = dca + (size_t)n * C;          // (n, C)
    float *dal = dmt + (size_t)n * C;          // (n, S)
    float *accf = dal + (size_t)n * S;         // 2·n·C + 1 floats holding acc:
    // (n, C) doubles Σ_s de·att², one float in when the float work buffer is not 8-byte aligned
    double *acc = (double *)(void *)(accf + ((uintptr_t)accf % sizeof(double) != 0));
    const float *ctx_att = cfg->gate ? st->ctx_att : st->ctx;
    const AttnPacked *pt = cx->bwd ? cx->bwd : &NOT_PACKED;

    for (int b = 0; b < n; b++) {
        const int col = ctx_col(cx, b);
        const float *dc = dctx_out + (size_t)b * C;
        float *dcab = dca + (size_t)b * C;
        double dz = 0.0;
        if (cfg->gate) {
            const float beta = st->beta[b];
            const float *mt = st->mt + (size_t)b * C, *ca = ctx_att + (size_t)b * C;
            double dbeta = 0.0;
            for (int c = 0; c < C; c++) {
                dbeta += (double)dc[c] * (double)(mt[c] - ca[c]);
                dmt[(size_t)b * C + c] = beta * dc[c];
                dcab[c] = (1.0f - beta) * dc[c];
            }
            dz = dbeta * (double)beta * (1.0 - (double)beta);
            gr->da[b] = (float)dz;
        } else {
            memcpy(dcab, dc, (size_t)C * sizeof *dcab);
        }
        const float *al = st->alpha + (size_t)b * S;
        float *dab = dal + (size_t)b * S;
        double sum = 0.0;
        for (int s = 0; s < S; s++) {
            float d = dalpha[(size_t)b * S + s];
            if (al[s] != 0.0f) { // masked annotations have alpha = 0 and no gradient path
                const float *cs = cx->ctx + ((size_t)s * Bc + col) * C;
                double dot = 0.0;
                for (int c = 0; c < C; c++) dot += (double)dcab[c] * (double)cs[c];
                d += (float)dot;
                if (dctx) {
                    float *dcs = dctx + ((size_t)s * Bc + col) * C;
                    for (int c = 0; c < C; c++) dcs[c] += al[s] * dcab[c];
                }
            }
            dab[s] = d;
            sum += (double)al[s] * (double)d;
        }
        for (int s = 0; s < S; s++)
            gr->de[(size_t)s * n + b] = (float)((double)al[s] * ((double)dab[s] - sum - dz));
    }

    // dpre = de·U_att·(1 - att²) feeds pctx per annotation and pstate summed over s. That sum
    // nearly cancels: Σ_s de[s] = -dz exactly (alpha sums to 1), and at TAP's init it is ~2e-5 of
    // the terms, so float sums of dpre were off by ~1e-3 of the result. pstate's part is
    // therefore formed as U_att·(-dz - Σ_s de[s]·att[s]²), the remaining sum in double.
    memset(acc, 0, (size_t)n * C * sizeof *acc);
    for (int s = 0; s < S; s++)
        for (int b = 0; b < n; b++) {
            const size_t r = (size_t)s * n + b;
            const float de = gr->de[r];
            const float *a = st->att + r * C;
            float *dp = dpre + r * C;
            float *dpc = dpctx + ((size_t)s * Bc + ctx_col(cx, b)) * C;
            double *ac = acc + (size_t)b * C;
            for (int c = 0; c < C; c++) {
                const float a2 = a[c] * a[c];
                dp[c] = de * p->U_att[c] * (1.0f - a2);
                dpc[c] += dp[c];
                ac[c] += (double)de * (double)a2;
            }
        }
    for (int b = 0; b < n; b++) {
        const double sum_de = cfg->gate ? -(double)gr->da[b] : 0.0;
        for (int c = 0; c < C; c++)
            gr->dpstate[(size_t)b * C + c] =
                (float)((double)p->U_att[c] * (sum_de - acc[(size_t)b * C + c]));
    }
    // coverage: cover = patch·kern
    int j0, W;
    coverage_window(S, K, &j0, &W);
    coverage_patches(alpha_past, NULL, n, S, K, j0, W, patch);
    mm_tn(W, C, S * n, patch, W, dpre, C, dkern + (size_t)j0 * C, C, 1.0f);
    mm_nt(S * n, W, C, dpre, C, cx->kern + (size_t)j0 * C, C, dpatch, W, 0.0f);
    for (int s = 0; s < S; s++)
        for (int b = 0; b < n; b++) {
            const float *dr = dpatch + ((size_t)s * n + b) * W;
            float *dap = dalpha_past + (size_t)b * S;
            for (int k = 0; k < W; k++) {
                int src = s + pad - j0 - k;
                if (src >= 0 && src < S) dap[src] += dr[k];
            }
        }

    if (cfg->gate) {
        // pw = tanh(mt·W_m_att + pstate); a = pw·U_when_att + c_when_att
        for (int b = 0; b < n; b++)
            for (int c = 0; c < C; c++) {
                size_t i = (size_t)b * C + c;
                float pw = st->pw[i];
                gr->dpw[i] = gr->da[b] * p->U_when_att[c] * (1.0f - pw * pw);
            }
        panel_mm_or_blas(n, C, C, gr->dpw, C, pt->W_m_att, p->W_m_att, C, 1, dmt, C, 1.0f);
        // mt = tm·gm, tm = tanh(h1·Umg), gm = sigmoid(h_prev·Whg + bhg + yg)
        for (size_t i = 0; i < (size_t)n * C; i++) {
            float tm = st->tm[i], gm = st->gm[i];
            gr->dtmpre[i] = dmt[i] * gm * (1.0f - tm * tm);
            gr->dgpre[i] = dmt[i] * tm * gm * (1.0f - gm);
            dyg[i] += gr->dgpre[i];
        }
        panel_mm_or_blas(n, D, C, gr->dtmpre, C, pt->Umg, p->Umg, C, 1, dh1, D, 1.0f);
        panel_mm_or_blas(n, D, C, gr->dgpre, C, pt->Whg, p->Whg, C, 1, dh_prev, D, 1.0f);
    }
    // d pstate = dpstate + dpw, kept apart in gr: b_att and conv_b take only the energies' part
    const float *dps = gr->dpstate;
    if (cfg->gate) { // dca is free by now
        for (size_t i = 0; i < (size_t)n * C; i++) dca[i] = gr->dpstate[i] + gr->dpw[i];
        dps = dca;
    }
    panel_mm_or_blas(n, D, C, dps, C, pt->W_comb_att, p->W_comb_att, C, 1, dh1, D, 1.0f);
}

void attention_backward_weights(AttnGrads *g, const TapConfig *cfg, int S, int M,
                                const float *h_prev, const float *h1, const AttnStep *st,
                                const AttnStepGrad *gr) {
    const int C = config_context_dim(cfg), D = cfg->D;
    mm_tn(D, C, M, h1, D, gr->dpstate, C, g->W_comb_att, C, 1.0f);
    // b_att and conv_b shift pctx, pstate's partner inside the tanh: their gradient is the
    // energies' part of dpstate summed over rows (rather than the cancelling Σ of dpctx)
    sum_rows_add_double(g->b_att, gr->dpstate, M, C);
    sum_rows_add_double(g->conv_b, gr->dpstate, M, C);
    // U_att (C, 1): one product over all S·M attention rows
    mm_tn(C, 1, S * M, st->att, C, gr->de, 1, g->U_att, 1, 1.0f);
    if (!cfg->gate) return; // c_tt only moves the gate's mean: alpha is shift invariant
    mm_tn(D, C, M, h1, D, gr->dpw, C, g->W_comb_att, C, 1.0f);
    // c_tt: Σ_s de = -dz per row exactly; summing the de themselves would cancel
    double s = 0.0;
    for (int i = 0; i < M; i++) s -= (double)gr->da[i];
    g->c_tt[0] += (float)s;
    mm_tn(D, C, M, h_prev, D, gr->dgpre, C, g->Whg, C, 1.0f);
    sum_rows_add(g->bhg, gr->dgpre, M, C, C);
    mm_tn(D, C, M, h1, D, gr->dtmpre, C, g->Umg, C, 1.0f);
    mm_tn(C, C, M, st->mt, C, gr->dpw, C, g->W_m_att, C, 1.0f);
    mm_tn(C, 1, M, st->pw, C, gr->da, 1, g->U_when_att, 1, 1.0f);
    s = 0.0;
    for (int i = 0; i < M; i++) s += (double)gr->da[i];
    g->c_when_att[0] += (float)s;
}
