// TAP's training recipe (v2/nmt.py and nmt_weightnoise.py train()): batches of 8 sorted by
// length and visited in a shuffled order each epoch; stage 1 plain Adadelta with global-norm
// clipping, stage 2 a variational method (TAP: adaptive weight noise) started from the best
// stage-1 weights; validation (loss, WER, ExpRate of decoding with mu) every epoch or every N
// updates; the best weights by a criterion; early stopping with TAP's patience and epsilon
// decays. Every piece of state is in last.h5, so a resumed run repeats the uninterrupted one
// bit for bit.
#ifndef TAP_TOOLS_TRAIN_LOOP_H
#define TAP_TOOLS_TRAIN_LOOP_H

#include <signal.h>
#include <stddef.h>

#include "batch.h"
#include "dataset.h"
#include "model.h"
#include "train_config.h"
#include "train_log.h"
#include "train_state.h"
#include "variational.h"

#define TRAIN_MAX_REPLICAS 16

typedef struct {
    const TrainOptions *opt;
    TrainPlan plan;
    const char *train_path, *valid_path, *out_dir;
    const char *config_text; // resolved options, stored in every checkpoint
    const volatile sig_atomic_t *stop;
    int threads;
    char path_last[4096], path_best[4096], path_best1[4096], path_log[4096], path_hyp[4096];
    Dataset train, valid, valid_view; // valid_view: the first --valid-limit expressions
    Batcher tb, vb;
    Batch bt;       // sized for the largest training or validation batch
    TapModel model; // replica 0: validation, and its share of every update
    // Data parallelism: with n_rep > 1 every batch is cut into n_rep shares, each padded on
    // its own and run (forward + backward) on its own thread and model replica with
    // OpenBLAS at one thread; the gradients are averaged with weights share/batch size.
    int n_rep, blas_threads;
    TapModel reps[TRAIN_MAX_REPLICAS - 1]; // replicas 1 .. n_rep-1
    Batch parts[TRAIN_MAX_REPLICAS];       // each replica's share of the batch
    AugmentConfig aug;                     // training ink augmentation (all 0: off)
    int no_guidance; // the training set has no stroke alignments: gamma 0, no guidance term
    Variational var;
    int var_ready;
    float *best_mu; // (n) best weights of this stage
    double *cost;   // (max_B) per-sequence costs of a batch
    double *nll;    // (max_B) their label NLL parts (what L^E counts)
    TrainState st;
    TapRng data_rng;
    TrainLog log;
    Progress prog;
    double t_start;   // monotonic time this run started
    double elapsed0;  // st.elapsed when this run started
    double last_save; // monotonic time of the last last.h5
    int64_t saved_step;
} Trainer;

enum { TRAIN_DONE = 0, TRAIN_INTERRUPTED = 1 };

// Loads the data, builds the model and either a fresh state (writing a first last.h5, which
// also proves the output directory writable) or, with opt->resume, the state of last.h5.
int trainer_init(Trainer *t, const TrainOptions *opt, const TrainPlan *plan, const char *train_path,
                 const char *valid_path, const char *out_dir, const char *config_text,
                 const volatile sig_atomic_t *stop, int threads, TapError *err);
// Trains until the schedule ends (TRAIN_DONE) or *stop is set (TRAIN_INTERRUPTED, last.h5
// saved); a negative TapStatus on failure (last.h5 holds the last good state).
int trainer_run(Trainer *t, TapError *err);
void trainer_free(Trainer *t);
// Bytes of weights, gradients and activation arenas over all replicas.
size_t trainer_memory_bytes(const Trainer *t);

#endif
