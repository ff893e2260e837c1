// Batches as TAP v2 builds them: dataIterator (data_iterator.py) sorts expressions by number of
// points, drops labels longer than maxlen and cuts batches of B in that order; each epoch visits
// the batches in a shuffled order; prepare_data (nmt.py) pads one batch into time-major arrays:
//   x (Tx, B, 9), x_mask (Tx, B)        Tx = max points + 1 (a zero frame aligned with <eol>)
//   y (Ty, B), y_mask (Ty, B)           Ty = max tokens + 1 (y = 0 = <eol> after the label)
//   a (Tx, B, Ty), a_mask (Tx, B, Ty)   a[t,b,j] = 1 when point t lies on a stroke of token j
// Masks cover len + 1 steps. Dims: T(x) points, B batch, F = 9 features, L(y) tokens.
#ifndef TAP_DATA_BATCH_H
#define TAP_DATA_BATCH_H

#include <stdint.h>

#include "augment.h"
#include "dataset.h"
#include "rng.h"
#include "tap.h"

typedef struct {
    int batch_size; // B
    int maxlen;     // label length limit, <= 0 for none
    int n_batches;
    int *start;                // (n_batches + 1) offsets into members
    int *members;              // dataset indices, batch after batch, sorted by number of points
    int *order;                // (n_batches) batches of the current epoch, in visiting order
    int max_B, max_Tx, max_Ty; // largest padded shapes over all batches
    int n_kept;                // expressions in some batch
    int n_dropped;             // expressions dropped by maxlen
} Batcher;

// Builds the batches of ds. maxlen follows TAP exactly: labels longer than maxlen are dropped
// before batches are cut (dataIterator), then labels of length >= maxlen are removed from their
// batch (prepare_data), and batches left empty are dropped. order starts as 0, 1, 2, ...
int batcher_init(Batcher *b, const Dataset *ds, int batch_size, int maxlen, TapError *err);
// A new epoch: shuffles the visiting order with rng (TAP: random.shuffle(train)).
void batcher_shuffle(Batcher *b, TapRng *rng);
// Dataset indices of the i-th batch of the current epoch; *n gets its size.
const int *batcher_batch(const Batcher *b, int i, int *n);
void batcher_free(Batcher *b);

typedef struct {
    int B, Tx, Ty;             // shapes of the batch last filled
    int cap_B, cap_Tx, cap_Ty; // allocation
    float *x;                  // (Tx, B, 9)
    float *x_mask;             // (Tx, B)
    int32_t *y;                // (Ty, B) token ids, 0 (<eol>) as padding
    float *y_mask;             // (Ty, B)
    float *a;                  // (Tx, B, Ty)
    float *a_mask;             // (Tx, B, Ty)
    int *index;                // (B) dataset index of each column
    double *scratch;           // (cap_Tx, 2) for batch_augment
} Batch;

// Allocates for batches up to (max_B, max_Tx, max_Ty), e.g. the Batcher's max_* fields.
int batch_init(Batch *bt, int max_B, int max_Tx, int max_Ty, TapError *err);
// Pads expressions idx[0..n) into bt (shapes must fit the allocation: TAP_ASSERT).
void batch_fill(Batch *bt, const Dataset *ds, const int *idx, int n);
// Augments every column of the batch last filled from ds (augment.h), each expression with
// the draw of (key, its dataset index). Returns how many columns were left as they were
// because their transformed ink was degenerate.
int batch_augment(Batch *bt, const Dataset *ds, const AugmentConfig *aug, uint64_t key);
void batch_free(Batch *bt);

#endif
