#include "beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int model_init(BeamModel *m, const TapConfig *cfg, const ParamTable *table, float *w,
                      TapError *err) {
    m->cfg = cfg;
    encoder_params_bind(&m->enc, table, w, cfg);
    decoder_params_bind(&m->dec, table, w, cfg);
    m->packed = malloc(decoder_packed_floats(cfg) * sizeof *m->packed);
    if (!m->packed) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for the packed weights");
    decoder_pack(&m->dec, cfg, 0, m->packed, &m->pk);
    return TAP_OK;
}

int beam_init_ensemble(BeamDecoder *d, int n_models, const TapConfig *const *cfgs,
                       const ParamTable *const *tables, float *const *ws, int beam, int max_len,
                       TapError *err) {
    memset(d, 0, sizeof *d);
    if (beam < 1 || beam > 1000) return tap_error_set(err, TAP_ERR_ARG, "beam size %d out of range 1..1000", beam);
    if (max_len < 1 || max_len > BEAM_MAX_LEN)
        return tap_error_set(err, TAP_ERR_ARG, "maximum length %d out of range 1..%d", max_len,
                             BEAM_MAX_LEN);
    if (n_models < 1 || n_models > BEAM_MAX_MODELS)
        return tap_error_set(err, TAP_ERR_ARG, "%d models; an ensemble has 1..%d", n_models,
                             BEAM_MAX_MODELS);
    for (int i = 1; i < n_models; i++)
        if (cfgs[i]->V != cfgs[0]->V || cfgs[i]->F != cfgs[0]->F)
            return tap_error_set(err, TAP_ERR_ARG,
                                 "model %d has V = %d, F = %d; model 1 has V = %d, F = %d: an "
                                 "ensemble needs one vocabulary and one feature set",
                                 i + 1, cfgs[i]->V, cfgs[i]->F, cfgs[0]->V, cfgs[0]->F);
    d->beam = beam;
    d->max_len = max_len;
    for (int i = 0; i < n_models; i++, d->n_models++) {
        int rc = model_init(&d->models[i], cfgs[i], tables[i], ws[i], err);
        if (rc != TAP_OK) {
            beam_free(d);
            return rc;
        }
    }
    d->cfg = cfgs[0];
    return TAP_OK;
}

int beam_init(BeamDecoder *d, const TapConfig *cfg, const ParamTable *table, float *w, int beam,
              int max_len, TapError *err) {
    return beam_init_ensemble(d, 1, &cfg, &table, &w, beam, max_len, err);
}

void beam_free(BeamDecoder *d) {
    arena_free(&d->arena);
    for (int i = 0; i < d->n_models; i++) free(d->models[i].packed);
    memset(d, 0, sizeof *d);
}

typedef struct {
    int step, slot; // where the hypothesis' last token is stored in the history
    float cost;
    int finished;
} Ending;

#define ENDING_FLOATS ((sizeof(Ending) + sizeof(float) - 1) / sizeof(float))

// One model's part of the work for an expression of T input steps, in floats.
static size_t model_floats(const TapConfig *c, int T, int k) {
    int S = config_pooled_len(c, T), C = config_context_dim(c);
    size_t n = 0, pad = 16;
    n += (size_t)T * c->F + pad;                       // padded input
    n += encoder_floats(c, T, 1) + pad;
    n += (size_t)S * C + pad + (size_t)c->K * C + pad; // pctx, kern
    n += (size_t)C + pad + (size_t)c->D + pad;         // ctx_mean, h0
    n += decoder_step_floats(c, S, k) + pad;
    n += decoder_work_floats(c, S, k) + pad;
    n += (size_t)k * c->V + pad;                       // probs
    n += (size_t)k * c->D + pad + (size_t)k * S + pad; // gathered h, alpha_past
    return n;
}

// Everything one expression needs, in floats (ints are stored as floats' bits).
static size_t work_floats(const BeamDecoder *d, int T) {
    const TapConfig *c = d->cfg;
    int k = d->beam, max_len = d->max_len, S = config_pooled_len(c, T);
    size_t n = 0, pad = 16;
    for (int i = 0; i < d->n_models; i++) n += model_floats(d->models[i].cfg, T, k);
    n += (size_t)k * c->V + pad;                       // ensemble scores
    n += 3 * (size_t)k + 3 * pad;                      // prev tokens, scores, parents
    // History per step: the token, parent and attention (model 1's) of every kept candidate.
    n += 2 * (size_t)max_len * k + pad;
    n += (size_t)max_len * k * S + pad;
    n += 2 * (size_t)max_len + 2 * pad;                // result tokens and scratch
    n += (size_t)(max_len + 1) * S + pad;              // result attention
    n += ENDING_FLOATS * (size_t)(2 * k + 1) + pad;    // finished list
    return n;
}

// One model's running state over the search.
typedef struct {
    const BeamModel *m;
    AttnContext cx;
    DecStep st;
    float *work, *probs, *h_prev, *ap_prev;
    int S;
} ModelRun;

static void model_start(ModelRun *r, const BeamModel *m, TapArena *a, const float *x, int T, int k) {
    const TapConfig *c = m->cfg;
    int Tp = T + 1, C = config_context_dim(c), D = c->D;
    r->m = m;
    // TAP decodes the features followed by one zero row, with no mask.
    float *xp = arena_calloc(a, (size_t)Tp * c->F);
    memcpy(xp, x, (size_t)T * c->F * sizeof *xp);
    EncoderState es;
    encoder_bind(&es, c, arena_alloc(a, encoder_floats(c, Tp, 1)), Tp, 1);
    encoder_forward(&m->enc, xp, NULL, &es);
    int S = r->S = es.S;
    TAP_ASSERT(S == config_pooled_len(c, Tp));
    float *pctx = arena_alloc(a, (size_t)S * C), *kern = arena_alloc(a, (size_t)c->K * C);
    float *ctx_mean = arena_alloc(a, C);
    r->h_prev = arena_alloc(a, (size_t)k * D);
    r->ap_prev = arena_calloc(a, (size_t)k * S);
    decoder_init_state(&m->dec, c, es.ctx, NULL, S, 1, ctx_mean, r->h_prev);
    attention_prepare(&m->dec.att, c, es.ctx, S, 1, pctx, kern);
    r->cx = (AttnContext){.ctx = es.ctx, .pctx = pctx, .kern = kern, .S = S, .Bc = 1, .fwd = &m->pk.att};
    decoder_step_bind(&r->st, arena_alloc(a, decoder_step_floats(c, S, k)), c, S, k);
    r->work = arena_alloc(a, decoder_work_floats(c, S, k));
    r->probs = arena_alloc(a, (size_t)k * c->V);
}

int beam_decode(BeamDecoder *d, const float *x, int T, BeamResult *out, TapError *err) {
    const TapConfig *c = d->cfg;
    memset(out, 0, sizeof *out);
    d->n_ends = 0;
    if (T < 1) return tap_error_set(err, TAP_ERR_ARG, "empty expression (no points)");
    int Tp = T + 1, k = d->beam, L = d->max_len, M = d->n_models;
    int S = config_pooled_len(c, Tp), V = c->V;
    if (Tp > d->arena_T) {
        arena_free(&d->arena);
        int Tcap = Tp < 256 ? 256 : Tp + Tp / 4; // grow with headroom so resizes are rare
        if (arena_init(&d->arena, work_floats(d, Tcap)) != TAP_OK)
            return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for an expression of %d points", T);
        d->arena_T = Tcap;
    }
    TapArena *a = &d->arena;
    arena_reset(a);
    ModelRun run[BEAM_MAX_MODELS];
    for (int i = 0; i < M; i++) model_start(&run[i], &d->models[i], a, x, T, k);
    TAP_ASSERT(run[0].S == S);
    // One model: its probabilities are the scores. An ensemble: the mean of the models' log p.
    float *mean_logp = M > 1 ? arena_alloc(a, (size_t)k * V) : NULL;
    int32_t *prev = (int32_t *)arena_alloc(a, (size_t)k);
    float *score = arena_alloc(a, (size_t)k);
    int *slot_of = (int *)arena_alloc(a, (size_t)k);          // history slot of each live hypothesis
    int32_t *hist_tok = (int32_t *)arena_alloc(a, (size_t)L * k);
    int *hist_parent = (int *)arena_alloc(a, (size_t)L * k);  // slot at the previous step
    float *hist_alpha = arena_alloc(a, (size_t)L * k * S);
    int32_t *res_tok = (int32_t *)arena_alloc(a, (size_t)L + 1);
    float *res_alpha = arena_alloc(a, (size_t)(L + 1) * S);
    Ending *ends = (Ending *)arena_alloc(a, ENDING_FLOATS * (size_t)(2 * k + 1));
    TAP_ASSERT(ends); // the arena was sized by work_floats for this T, k and max_len

    int live = 1, dead = 0, n_ends = 0;
    prev[0] = -1;
    score[0] = 0.0f;
    slot_of[0] = -1;
    for (int t = 0; t < L && live > 0 && dead < k; t++) {
        for (int i = 0; i < M; i++)
            decoder_step(&run[i].m->dec, &run[i].m->pk, run[i].m->cfg, &run[i].cx, prev, NULL,
                         run[i].h_prev, run[i].ap_prev, NULL, live, &run[i].st, run[i].work,
                         run[i].probs);
        if (M > 1)
            for (int j = 0; j < live * V; j++) {
                float s = 0.0f;
                for (int i = 0; i < M; i++) s += logf(run[i].probs[j]);
                mean_logp[j] = s / (float)M;
            }
        const float *probs = run[0].probs;
        // Choose the k − dead best extensions by accumulated cost (simple selection: k·live·V is small).
        int want = k - dead, n_new = 0;
        int best_idx[1024];
        float best_cost[1024];
        TAP_ASSERT(want <= 1024);
        for (int i = 0; i < live * V; i++) {
            float cost = score[i / V] - (M > 1 ? mean_logp[i] : logf(probs[i]));
            if (!(cost == cost)) continue; // NaN probabilities never win
            if (n_new < want || cost < best_cost[n_new - 1]) {
                int j = n_new < want ? n_new++ : n_new - 1;
                while (j > 0 && best_cost[j - 1] > cost) {
                    best_cost[j] = best_cost[j - 1];
                    best_idx[j] = best_idx[j - 1];
                    j--;
                }
                best_cost[j] = cost;
                best_idx[j] = i;
            }
        }
        // Record the kept candidates, then split finished from live ones. slot_of is rewritten
        // below while later candidates still need their parents' slots: read a copy.
        int parent_slot[1024];
        memcpy(parent_slot, slot_of, (size_t)live * sizeof *parent_slot);
        int new_live = 0;
        for (int j = 0; j < n_new; j++) {
            int parent = best_idx[j] / V, tok = best_idx[j] % V, s = t * k + j;
            hist_tok[s] = tok;
            hist_parent[s] = parent_slot[parent];
            memcpy(hist_alpha + (size_t)s * S, run[0].st.a.alpha + (size_t)parent * S,
                   (size_t)S * sizeof(float));
            if (tok == 0) {
                ends[n_ends++] = (Ending){t, j, best_cost[j], 1};
                dead++;
            } else {
                // Gather the parent's state into the next step's inputs (rows are compacted).
                for (int i = 0; i < M; i++) {
                    ModelRun *r = &run[i];
                    int D = r->m->cfg->D, Si = r->S;
                    memcpy(r->h_prev + (size_t)new_live * D, r->st.h + (size_t)parent * D,
                           (size_t)D * sizeof(float));
                    memcpy(r->ap_prev + (size_t)new_live * Si, r->st.alpha_past + (size_t)parent * Si,
                           (size_t)Si * sizeof(float));
                }
                prev[new_live] = tok;
                score[new_live] = best_cost[j];
                slot_of[new_live] = s;
                new_live++;
            }
        }
        live = new_live;
    }
    // Hypotheses still alive at max_len compete too (TAP dumps them into the sample list).
    for (int i = 0; i < live; i++) {
        int s = slot_of[i];
        ends[n_ends++] = (Ending){s / k, s % k, score[i], 0};
    }
    if (n_ends == 0) return tap_error_set(err, TAP_ERR_NUMERIC, "beam search produced no hypothesis (non-finite probabilities)");
    // Rank every ending by cost per token (the <eol> counted); equal ones keep their order.
    float *norm = (float *)arena_alloc(a, (size_t)n_ends);
    for (int i = 0; i < n_ends; i++) norm[i] = ends[i].cost / (float)(ends[i].step + 1);
    for (int i = 1; i < n_ends; i++) {
        Ending e = ends[i];
        float v = norm[i];
        int j = i;
        while (j > 0 && norm[j - 1] > v) ends[j] = ends[j - 1], norm[j] = norm[j - 1], j--;
        ends[j] = e, norm[j] = v;
    }
    d->ends = ends, d->ends_norm = norm, d->n_ends = n_ends, d->S = S;
    d->hist_tok = hist_tok, d->hist_parent = hist_parent, d->hist_alpha = hist_alpha;
    d->res_tok = res_tok, d->res_alpha = res_alpha;
    beam_hypothesis(d, 0, out);
    return TAP_OK;
}

int beam_hypothesis(BeamDecoder *d, int rank, BeamResult *out) {
    memset(out, 0, sizeof *out);
    if (rank < 0 || rank >= d->n_ends) return 0;
    const Ending *e = (const Ending *)d->ends + rank;
    int k = d->beam, S = d->S;
    // Walk back through the history.
    int len = e->step + 1, s = e->step * k + e->slot;
    for (int i = len - 1; i >= 0; i--) {
        d->res_tok[i] = d->hist_tok[s];
        memcpy(d->res_alpha + (size_t)i * S, d->hist_alpha + (size_t)s * S, (size_t)S * sizeof(float));
        s = d->hist_parent[s];
    }
    out->finished = e->finished;
    out->n = out->finished ? len - 1 : len;
    out->tokens = d->res_tok;
    out->cost = e->cost;
    out->norm_cost = d->ends_norm[rank];
    out->S = S;
    out->alphas = d->res_alpha;
    return 1;
}
