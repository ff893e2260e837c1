// Validation during training: the mean cost of the validation batches (teacher forcing, as the
// training objective, attention guidance included) and WER / ExpRate of greedy or beam
// decoding of every validation expression, the expressions spread over worker threads, each
// with its own BeamDecoder over the shared, read-only weights (OpenBLAS kept to one thread
// per worker meanwhile).
#ifndef TAP_TOOLS_TRAIN_VALID_H
#define TAP_TOOLS_TRAIN_VALID_H

#include <signal.h>
#include <stdint.h>

#include "batch.h"
#include "dataset.h"
#include "model.h"
#include "tap.h"

typedef struct {
    int beam, max_len, threads, blas_threads;
    const volatile sig_atomic_t *stop; // checked between expressions; NULL = never
} ValidOptions;

typedef struct {
    double loss;    // mean cost per expression over the validation batches
    double nll;     // its label NLL part (loss − nll = gamma × the attention-guidance term)
    double wer;     // percent
    double exprate; // percent
    long n;         // expressions decoded
    long n_loss;    // expressions in the loss
    double seconds;
    int interrupted; // 1: stopped by *stop, nothing else is valid
    int n_hyp;       // entries of hyp and hyp_len (the validation set's size)
    int32_t **hyp;   // (n_hyp) decoded token ids, owned; hyp_len[i] tokens each
    int *hyp_len;
} ValidResult;

// m->w must hold the weights to validate (the model's arena holds every validation batch:
// its limits must cover vb's max shapes). Returns TAP_OK (also when interrupted) or an error.
int valid_run(TapModel *m, const Dataset *ds, Batcher *vb, Batch *bt, const ValidOptions *o,
              ValidResult *r, TapError *err);
void valid_result_free(ValidResult *r);

// Writes "uid<TAB>tokens" lines of the hypotheses (atomically: path.tmp renamed).
int valid_write_hyps(const char *path, const Dataset *ds, const ValidResult *r, TapError *err);

#endif
