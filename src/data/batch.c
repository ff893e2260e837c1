// TAP's dataIterator + prepare_data over an in-memory Dataset (see batch.h).
#include "batch.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int len, index;
} LenIndex;

// By number of points; ties keep dataset order, so batches are deterministic.
static int by_len(const void *a, const void *b) {
    const LenIndex *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int batcher_init(Batcher *b, const Dataset *ds, int batch_size, int maxlen, TapError *err) {
    memset(b, 0, sizeof *b);
    if (batch_size < 1) return tap_error_set(err, TAP_ERR_ARG, "batch size %d < 1", batch_size);
    b->batch_size = batch_size;
    b->maxlen = maxlen;
    int n = ds->n;
    LenIndex *li = malloc(((size_t)n + 1) * sizeof *li);
    b->members = malloc(((size_t)n + 1) * sizeof *b->members);
    b->start = malloc(((size_t)n + 2) * sizeof *b->start);
    b->order = malloc(((size_t)n + 1) * sizeof *b->order);
    if (!li || !b->members || !b->start || !b->order) {
        free(li);
        batcher_free(b);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (maxlen > 0 && dataset_len_y(ds, i) > maxlen) continue; // dataIterator
        li[m++] = (LenIndex){dataset_len_x(ds, i), i};
    }
    qsort(li, (size_t)m, sizeof *li, by_len);
    int kept = 0;
    b->start[0] = 0;
    for (int lo = 0; lo < m; lo += batch_size) {
        int hi = lo + batch_size < m ? lo + batch_size : m, size = 0, tx = 0, ty = 0;
        for (int k = lo; k < hi; k++) {
            int i = li[k].index, ly = dataset_len_y(ds, i);
            if (maxlen > 0 && ly >= maxlen) continue; // prepare_data keeps l_y < maxlen
            b->members[kept + size++] = i;
            if (li[k].len > tx) tx = li[k].len;
            if (ly > ty) ty = ly;
        }
        if (size == 0) continue;
        kept += size;
        b->order[b->n_batches] = b->n_batches;
        b->start[++b->n_batches] = kept;
        if (size > b->max_B) b->max_B = size;
        if (tx + 1 > b->max_Tx) b->max_Tx = tx + 1;
        if (ty + 1 > b->max_Ty) b->max_Ty = ty + 1;
    }
    free(li);
    b->n_kept = kept;
    b->n_dropped = n - kept;
    return TAP_OK;
}

void batcher_shuffle(Batcher *b, TapRng *rng) {
    for (int i = 0; i < b->n_batches; i++) b->order[i] = i;
    rng_shuffle_int(rng, b->order, (size_t)b->n_batches);
}

const int *batcher_batch(const Batcher *b, int i, int *n) {
    TAP_ASSERT(i >= 0 && i < b->n_batches);
    int k = b->order[i];
    *n = b->start[k + 1] - b->start[k];
    return b->members + b->start[k];
}

void batcher_free(Batcher *b) {
    free(b->start);
    free(b->members);
    free(b->order);
    memset(b, 0, sizeof *b);
}

int batch_init(Batch *bt, int max_B, int max_Tx, int max_Ty, TapError *err) {
    memset(bt, 0, sizeof *bt);
    if (max_B < 1 || max_Tx < 1 || max_Ty < 1)
        return tap_error_set(err, TAP_ERR_ARG, "batch shape (%d, %d, %d) is empty", max_B, max_Tx,
                             max_Ty);
    size_t xb = (size_t)max_Tx * (size_t)max_B, yb = (size_t)max_Ty * (size_t)max_B;
    bt->cap_B = max_B, bt->cap_Tx = max_Tx, bt->cap_Ty = max_Ty;
    bt->x = malloc(xb * TAP_DATASET_FEATURE_DIM * sizeof *bt->x);
    bt->x_mask = malloc(xb * sizeof *bt->x_mask);
    bt->y = malloc(yb * sizeof *bt->y);
    bt->y_mask = malloc(yb * sizeof *bt->y_mask);
    bt->a = malloc(xb * (size_t)max_Ty * sizeof *bt->a);
    bt->a_mask = malloc(xb * (size_t)max_Ty * sizeof *bt->a_mask);
    bt->index = malloc((size_t)max_B * sizeof *bt->index);
    bt->scratch = malloc((size_t)max_Tx * 2 * sizeof *bt->scratch);
    if (!bt->x || !bt->x_mask || !bt->y || !bt->y_mask || !bt->a || !bt->a_mask || !bt->index ||
        !bt->scratch) {
        batch_free(bt);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for a batch of (%d, %d, %d)", max_B,
                             max_Tx, max_Ty);
    }
    return TAP_OK;
}

void batch_fill(Batch *bt, const Dataset *ds, const int *idx, int n) {
    TAP_ASSERT(n >= 1 && n <= bt->cap_B);
    int tx = 0, ty = 0;
    for (int b = 0; b < n; b++) {
        if (dataset_len_x(ds, idx[b]) > tx) tx = dataset_len_x(ds, idx[b]);
        if (dataset_len_y(ds, idx[b]) > ty) ty = dataset_len_y(ds, idx[b]);
    }
    const int B = n, Tx = tx + 1, Ty = ty + 1, F = TAP_DATASET_FEATURE_DIM;
    TAP_ASSERT(Tx <= bt->cap_Tx && Ty <= bt->cap_Ty);
    bt->B = B, bt->Tx = Tx, bt->Ty = Ty;
    memset(bt->x, 0, (size_t)Tx * B * F * sizeof *bt->x);
    memset(bt->x_mask, 0, (size_t)Tx * B * sizeof *bt->x_mask);
    memset(bt->y, 0, (size_t)Ty * B * sizeof *bt->y);
    memset(bt->y_mask, 0, (size_t)Ty * B * sizeof *bt->y_mask);
    memset(bt->a, 0, (size_t)Tx * B * Ty * sizeof *bt->a);
    memset(bt->a_mask, 0, (size_t)Tx * B * Ty * sizeof *bt->a_mask);
    for (int b = 0; b < B; b++) {
        int e = idx[b], lx = dataset_len_x(ds, e), ly = dataset_len_y(ds, e);
        bt->index[b] = e;
        const float *fe = ds->features + (size_t)ds->feature_offsets[e] * F; // (lx, 9)
        const int32_t *ps = ds->point_stroke + ds->feature_offsets[e];       // (lx)
        const int32_t *tok = ds->tokens + ds->token_offsets[e];              // (ly)
        for (int t = 0; t < lx; t++)
            memcpy(bt->x + ((size_t)t * B + b) * F, fe + (size_t)t * F, F * sizeof *fe);
        for (int t = 0; t <= lx; t++) bt->x_mask[t * B + b] = 1.0f;
        for (int j = 0; j < ly; j++) bt->y[j * B + b] = tok[j];
        for (int j = 0; j <= ly; j++) bt->y_mask[j * B + b] = 1.0f;
        for (int t = 0; t <= lx; t++)
            for (int j = 0; j <= ly; j++) bt->a_mask[((size_t)t * B + b) * Ty + j] = 1.0f;
        for (int j = 0; j < ly; j++) {
            int64_t k = ds->token_offsets[e] + j, a0 = ds->align_offsets[k],
                    a1 = ds->align_offsets[k + 1];
            // Structure tokens own no strokes; symbol tokens own a few, so a scan is cheap.
            for (int t = 0; t < lx; t++)
                for (int64_t a = a0; a < a1; a++)
                    if (ds->align_strokes[a] == ps[t]) {
                        bt->a[((size_t)t * B + b) * Ty + j] = 1.0f;
                        break;
                    }
        }
    }
}

int batch_augment(Batch *bt, const Dataset *ds, const AugmentConfig *aug, uint64_t key) {
    int kept = 0;
    if (!augment_enabled(aug)) return 0;
    for (int b = 0; b < bt->B; b++) {
        int e = bt->index[b];
        const size_t stride = (size_t)bt->B * TAP_DATASET_FEATURE_DIM;
        if (augment_rows(bt->x + (size_t)b * TAP_DATASET_FEATURE_DIM, stride, dataset_len_x(ds, e),
                         aug, key, (uint64_t)e, bt->scratch) != 0)
            kept++;
    }
    return kept;
}

void batch_free(Batch *bt) {
    free(bt->x);
    free(bt->x_mask);
    free(bt->y);
    free(bt->y_mask);
    free(bt->a);
    free(bt->a_mask);
    free(bt->index);
    free(bt->scratch);
    memset(bt, 0, sizeof *bt);
}
