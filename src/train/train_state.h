// The trainer's checkpoints. last.h5 holds everything an exact resume needs: the model
// checkpoint (checkpoint.h: /params = the posterior mean mu, the config, the resolved options as
// config_text) plus every role array of the variational state in TAP names (/opt_mu_rg2/<name>,
// /ls2/<name>, ...), the best weights so far (/best_params/<name>) and a /trainer group: the
// schedule scalars as attributes, the epoch's batch order and the remaining optimizer, prior
// and noise-RNG state as datasets. It is written to last.h5.new (itself via checkpoint_save's
// .tmp), completed, fsync'ed and renamed over last.h5, so a crash, a full disk or a second
// signal at any moment leaves the previous last.h5 whole.
#ifndef TAP_TOOLS_TRAIN_STATE_H
#define TAP_TOOLS_TRAIN_STATE_H

#include <stdint.h>

#include "checkpoint.h"
#include "mdl.h"
#include "params.h"
#include "tap.h"
#include "variational.h"

typedef struct {
    int64_t stage;         // 1 or 2
    int64_t step;          // updates done, over all stages
    int64_t epoch;         // epochs completed
    int64_t cursor;        // batches of the current epoch done
    int64_t n_batches;     // batches per epoch (checked on resume)
    uint64_t data_rng[4];  // the shuffling RNG, after this epoch's shuffle
    double eps;            // current Adadelta epsilon (after decays)
    int64_t decays;        // eps decays done in this stage
    int64_t bad;           // validations since the best (TAP's bad_counter)
    int64_t n_valid;       // validations done in this stage
    int64_t valid_pending; // 1: a validation is due before the next update
    int64_t have_best;     // 1: best_* and /best_params are set (this stage)
    int64_t best_step;
    double best_score, best_wer, best_exprate;
    int64_t stage1_done; // 1: best_stage1.h5 was written
    int64_t finished;    // 1: the run is over (early stop or a limit)
    double elapsed;      // training seconds over every run
    MdlAccount mdl;      // L^E accounting of the current epoch
    double epoch_loss;   // sum of batch losses in the current epoch
    int64_t epoch_batches;
    double window_loss; // sum of batch losses not yet written to train.tsv
    int64_t window_n;
    int64_t log_bytes; // length of train.tsv when this state was saved
    char var_kind[48]; // variational method of this stage ("ml" in stage 1)
} TrainState;

// Writes path (see above). best_mu may be NULL (no best yet); order has s->n_batches entries.
// delay_ms > 0 pauses after the first half of the write (signal tests). vocab (cfg->V tokens,
// or NULL) is stored as the checkpoint's /vocab.
int train_state_save(const char *path, const TapConfig *cfg, const ParamTable *t, Variational *v,
                     const float *best_mu, const TrainState *s, const int32_t *order,
                     const char *config_text, const char *const *vocab, int delay_ms,
                     TapError *err);

// Reads the /trainer attributes and the stored config text (cap bytes) without the arrays.
int train_state_peek(const char *path, TrainState *s, char *config_text, size_t cap, TapError *err);

// Fills v (initialised with the stored stage's method and the same table), best_mu (n floats,
// when s->have_best), s and order (s->n_batches entries, the caller checks the count first).
int train_state_load(const char *path, const TapConfig *cfg, const ParamTable *t, Variational *v,
                     float *best_mu, TrainState *s, int32_t *order, int64_t n_order, TapError *err);

// Writes a weights-only checkpoint (/params, and /vocab from vocab: cfg->V tokens, or NULL)
// with tmp + rename + fsync.
int train_weights_save(const char *path, const TapConfig *cfg, const ParamTable *t, const float *w,
                       int64_t step, int64_t epoch, const char *text, const char *const *vocab,
                       TapError *err);

#endif
