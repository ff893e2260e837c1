// Validation: teacher-forced loss on the model's own thread, then decoding on worker threads
// (see train_valid.h).
#include "train_valid.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beam.h"
#include "beam_pool.h"
#include "clock.h"
#include "metrics.h"
#include "outfile.h"

typedef struct {
    const Dataset *ds;
    const ValidOptions *o;
    ValidResult *r;
    atomic_int failed;
    pthread_mutex_t lock;
    TapError err; // the first failure
} Work;

static void decode_item(void *ctx, BeamDecoder *d, int i) {
    Work *w = ctx;
    if (atomic_load(&w->failed) || (w->o->stop && *w->o->stop)) return;
    const float *x = w->ds->features + (size_t)w->ds->feature_offsets[i] * TAP_DATASET_FEATURE_DIM;
    BeamResult res;
    TapError err;
    int rc = beam_decode(d, x, dataset_len_x(w->ds, i), &res, &err);
    int32_t *copy = rc ? NULL : malloc(((size_t)res.n + 1) * sizeof *copy);
    if (rc || !copy) {
        if (!rc) tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
        tap_error_prefix(&err, "validation expression %s", w->ds->uids[i]);
        pthread_mutex_lock(&w->lock);
        if (!atomic_exchange(&w->failed, 1)) w->err = err;
        pthread_mutex_unlock(&w->lock);
        return;
    }
    memcpy(copy, res.tokens, (size_t)res.n * sizeof *copy);
    w->r->hyp[i] = copy;
    w->r->hyp_len[i] = res.n;
}

// Mean teacher-forced cost over the validation batches (NaN when a batch is not finite).
static int valid_loss(TapModel *m, const Dataset *ds, Batcher *vb, Batch *bt, const ValidOptions *o,
                      ValidResult *r, TapError *err) {
    double sum = 0.0, sum_nll = 0.0, *cost = malloc((size_t)vb->max_B * sizeof *cost + sizeof *cost);
    long n = 0;
    if (!cost) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    int rc = TAP_OK;
    for (int i = 0; i < vb->n_batches && !rc; i++) {
        if (o->stop && *o->stop) {
            r->interrupted = 1;
            break;
        }
        int nb;
        const int *idx = batcher_batch(vb, i, &nb);
        batch_fill(bt, ds, idx, nb);
        ModelBatch b = {bt->Tx, bt->Ty,     bt->B, bt->x,     bt->x_mask,
                        bt->y,  bt->y_mask, bt->a, bt->a_mask};
        double mean;
        rc = model_loss(m, &b, cost, &mean, err);
        if (rc == TAP_ERR_NUMERIC) {
            sum = sum_nll = (double)NAN;
            rc = TAP_OK;
            continue;
        }
        for (int k = 0; k < nb && !rc; k++) sum += cost[k], sum_nll += m->nll[k];
        n += nb;
    }
    free(cost);
    r->loss = n ? sum / (double)n : (double)NAN;
    r->nll = n ? sum_nll / (double)n : (double)NAN;
    r->n_loss = n;
    return rc;
}

int valid_run(TapModel *m, const Dataset *ds, Batcher *vb, Batch *bt, const ValidOptions *o,
              ValidResult *r, TapError *err) {
    memset(r, 0, sizeof *r);
    double t0 = tap_now_seconds();
    int rc = valid_loss(m, ds, vb, bt, o, r, err);
    if (rc || r->interrupted) return rc;
    r->hyp = calloc((size_t)ds->n + 1, sizeof *r->hyp);
    r->hyp_len = calloc((size_t)ds->n + 1, sizeof *r->hyp_len);
    if (!r->hyp || !r->hyp_len) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    r->n_hyp = ds->n;
    Work w = {.ds = ds, .o = o, .r = r};
    atomic_init(&w.failed, 0);
    pthread_mutex_init(&w.lock, NULL);
    BeamSpec spec = {.n_models = 1, .beam = o->beam, .max_len = o->max_len};
    spec.cfgs[0] = &m->cfg, spec.tables[0] = &m->table, spec.ws[0] = m->w;
    int threads = o->threads < 1 ? 1 : o->threads > 256 ? 256 : o->threads;
    BeamPool *pool;
    openblas_set_num_threads(1);
    rc = beam_pool_start(&pool, &spec, threads, ds->n, decode_item, &w, err);
    if (rc == TAP_OK) rc = beam_pool_finish(pool, err);
    openblas_set_num_threads(o->blas_threads < 1 ? 1 : o->blas_threads);
    pthread_mutex_destroy(&w.lock);
    if (rc) return rc;
    if (atomic_load(&w.failed)) {
        *err = w.err;
        return err->code ? err->code : TAP_ERR_ARG;
    }
    if (o->stop && *o->stop) {
        r->interrupted = 1;
        return TAP_OK;
    }
    // Score every expression, as `tap eval` does, on the tokens' spellings.
    int max_ref = 0, max_hyp = 0;
    for (int i = 0; i < ds->n; i++) {
        if (dataset_len_y(ds, i) > max_ref) max_ref = dataset_len_y(ds, i);
        if (r->hyp_len[i] > max_hyp) max_hyp = r->hyp_len[i];
    }
    int *scratch = malloc(((size_t)max_ref + 1) * ((size_t)max_hyp + 1) * sizeof *scratch);
    const char **rs = malloc(((size_t)max_ref + 1) * sizeof *rs);
    const char **hs = malloc(((size_t)max_hyp + 1) * sizeof *hs);
    if (!scratch || !rs || !hs) {
        free(scratch), free(rs), free(hs);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    EvalTotals tot = {0};
    for (int i = 0; i < ds->n; i++) {
        int nr = dataset_len_y(ds, i), nh = r->hyp_len[i];
        const int32_t *ref = ds->tokens + ds->token_offsets[i];
        for (int k = 0; k < nr; k++) rs[k] = ds->vocab[ref[k]];
        for (int k = 0; k < nh; k++)
            hs[k] = r->hyp[i][k] >= 0 && r->hyp[i][k] < ds->V ? ds->vocab[r->hyp[i][k]] : "<unk>";
        eval_add(&tot, edit_distance(rs, nr, hs, nh, scratch, NULL, NULL), nr, 0);
    }
    free(scratch), free(rs), free(hs);
    r->n = tot.n;
    r->wer = eval_wer(&tot);
    r->exprate = eval_exprate(&tot);
    r->seconds = tap_now_seconds() - t0;
    return TAP_OK;
}

void valid_result_free(ValidResult *r) {
    for (int i = 0; r->hyp && i < r->n_hyp; i++) free(r->hyp[i]);
    free(r->hyp);
    free(r->hyp_len);
    memset(r, 0, sizeof *r);
}

int valid_write_hyps(const char *path, const Dataset *ds, const ValidResult *r, TapError *err) {
    OutFile o;
    int rc = outfile_open(&o, path, err);
    if (rc) return rc;
    for (int i = 0; i < ds->n && i < r->n_hyp; i++) {
        fputs(ds->uids[i], o.f);
        fputc('\t', o.f);
        for (int k = 0; k < r->hyp_len[i]; k++)
            fprintf(o.f, "%s%s", k ? " " : "",
                    r->hyp[i][k] >= 0 && r->hyp[i][k] < ds->V ? ds->vocab[r->hyp[i][k]] : "<unk>");
        fputc('\n', o.f);
    }
    return outfile_commit(&o, err);
}
