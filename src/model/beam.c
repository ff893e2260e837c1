#include "beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

int beam_init(BeamDecoder *d, const TapConfig *cfg, const ParamTable *table, float *w, int beam,
              int max_len, TapError *err) {
    memset(d, 0, sizeof *d);
    if (beam < 1 || beam > 1000) return tap_error_set(err, TAP_ERR_ARG, "beam size %d out of range 1..1000", beam);
    if (max_len < 1) return tap_error_set(err, TAP_ERR_ARG, "maximum length %d must be positive", max_len);
    d->cfg = cfg;
    d->beam = beam;
    d->max_len = max_len;
    encoder_params_bind(&d->enc, cfg, table, w);
    decoder_params_bind(&d->dec, table, w, cfg);
    d->packed = malloc(decoder_packed_floats(cfg) * sizeof *d->packed);
    if (!d->packed) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for the packed weights");
    decoder_pack(&d->dec, cfg, 0, d->packed, &d->pk);
    return TAP_OK;
}

void beam_free(BeamDecoder *d) {
    arena_free(&d->arena);
    free(d->packed);
    memset(d, 0, sizeof *d);
}

typedef struct {
    int step, slot; // where the hypothesis' last token is stored in the history
    float cost;
    int finished;
} Ending;

#define ENDING_FLOATS ((sizeof(Ending) + sizeof(float) - 1) / sizeof(float))

// Everything one expression of T input steps needs, in floats (ints are stored as floats' bits).
static size_t work_floats(const TapConfig *c, int T, int k, int max_len) {
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
    n += 3 * (size_t)k + 3 * pad;                      // prev tokens, scores, parents
    // History per step: the token, parent and attention of every kept candidate.
    n += 2 * (size_t)max_len * k + pad;
    n += (size_t)max_len * k * S + pad;
    n += 2 * (size_t)max_len + 2 * pad;                // result tokens and scratch
    n += (size_t)(max_len + 1) * S + pad;              // result attention
    n += ENDING_FLOATS * (size_t)(2 * k + 1) + pad;    // finished list
    return n;
}

int beam_decode(BeamDecoder *d, const float *x, int T, BeamResult *out, TapError *err) {
    const TapConfig *c = d->cfg;
    memset(out, 0, sizeof *out);
    if (T < 1) return tap_error_set(err, TAP_ERR_ARG, "empty expression (no points)");
    int Tp = T + 1, k = d->beam, L = d->max_len;
    int S = config_pooled_len(c, Tp), C = config_context_dim(c), D = c->D, V = c->V;
    if (Tp > d->arena_T) {
        arena_free(&d->arena);
        int Tcap = Tp < 256 ? 256 : Tp + Tp / 4; // grow with headroom so resizes are rare
        if (arena_init(&d->arena, work_floats(c, Tcap, k, L)) != TAP_OK)
            return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for an expression of %d points", T);
        d->arena_T = Tcap;
    }
    TapArena *a = &d->arena;
    arena_reset(a);
    // TAP decodes the features followed by one zero row, with no mask.
    float *xp = arena_calloc(a, (size_t)Tp * c->F);
    memcpy(xp, x, (size_t)T * c->F * sizeof *xp);
    EncoderState es;
    encoder_bind(&es, c, arena_alloc(a, encoder_floats(c, Tp, 1)), Tp, 1);
    encoder_forward(&d->enc, xp, NULL, &es);
    TAP_ASSERT(es.S == S);

    float *pctx = arena_alloc(a, (size_t)S * C), *kern = arena_alloc(a, (size_t)c->K * C);
    float *ctx_mean = arena_alloc(a, C), *h_prev = arena_alloc(a, (size_t)k * D);
    float *ap_prev = arena_calloc(a, (size_t)k * S);
    decoder_init_state(&d->dec, c, es.ctx, NULL, S, 1, ctx_mean, h_prev);
    attention_prepare(&d->dec.att, c, es.ctx, S, 1, pctx, kern);
    AttnContext cx = {.ctx = es.ctx, .pctx = pctx, .kern = kern, .S = S, .Bc = 1, .fwd = &d->pk.att};

    DecStep st;
    decoder_step_bind(&st, arena_alloc(a, decoder_step_floats(c, S, k)), c, S, k);
    float *work = arena_alloc(a, decoder_work_floats(c, S, k));
    float *probs = arena_alloc(a, (size_t)k * V);
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
        decoder_step(&d->dec, &d->pk, c, &cx, prev, NULL, h_prev, ap_prev, NULL, live, &st, work,
                     probs);
        // Choose the k − dead best extensions by accumulated cost (simple selection: k·live·V is small).
        int want = k - dead, n_new = 0;
        int best_idx[1024];
        float best_cost[1024];
        TAP_ASSERT(want <= 1024);
        for (int i = 0; i < live * V; i++) {
            float p = probs[i];
            float cost = score[i / V] - logf(p);
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
            memcpy(hist_alpha + (size_t)s * S, st.a.alpha + (size_t)parent * S, (size_t)S * sizeof(float));
            if (tok == 0) {
                ends[n_ends++] = (Ending){t, j, best_cost[j], 1};
                dead++;
            } else {
                // Gather the parent's state into the next step's inputs (rows are compacted).
                memcpy(h_prev + (size_t)new_live * D, st.h + (size_t)parent * D, (size_t)D * sizeof(float));
                memcpy(ap_prev + (size_t)new_live * S, st.alpha_past + (size_t)parent * S,
                       (size_t)S * sizeof(float));
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
    int best = 0;
    float best_norm = ends[0].cost / (float)(ends[0].step + 1); // length includes the <eol>
    for (int i = 1; i < n_ends; i++) {
        float norm = ends[i].cost / (float)(ends[i].step + 1);
        if (norm < best_norm) best = i, best_norm = norm;
    }
    // Walk back through the history.
    int len = ends[best].step + 1, s = ends[best].step * k + ends[best].slot;
    for (int i = len - 1; i >= 0; i--) {
        res_tok[i] = hist_tok[s];
        memcpy(res_alpha + (size_t)i * S, hist_alpha + (size_t)s * S, (size_t)S * sizeof(float));
        s = hist_parent[s];
    }
    out->finished = ends[best].finished;
    out->n = out->finished ? len - 1 : len;
    out->tokens = res_tok;
    out->cost = ends[best].cost;
    out->norm_cost = best_norm;
    out->S = S;
    out->alphas = res_alpha;
    return TAP_OK;
}
