// HDF5 checkpoints: one dataset per named tensor, in TAP's names and shapes (conv_Q stays
// (Q, 1, K, 1)), one group per role array: /params/<name> for the weights and any other role
// the caller names (/adadelta_rg2/<name>, /ls2/<name>, ...). Root attributes hold the format
// version, the TapConfig (F, n_layers, H, pool, D, E, V, K, Q, gate, gamma), step, epoch, the
// RNG state and a free-text config string. h5py reads f["params"][name] as a numpy array in
// TAP's shape. Writes go to "<path>.tmp", renamed over path only once complete.
#ifndef TAP_MODEL_CHECKPOINT_H
#define TAP_MODEL_CHECKPOINT_H

#include <stdint.h>

#include "config.h"
#include "params.h"

#define TAP_CHECKPOINT_VERSION 1
#define TAP_CHECKPOINT_TEXT_MAX 16384

// How save stores a role's floats. Load reads either (HDF5 converts on read).
typedef enum {
    CHECKPOINT_F32 = 0, // IEEE single, contiguous: training state, exact resume
    CHECKPOINT_F16,     // IEEE half (round to nearest), chunked, shuffled and deflated: a
                        // compact weights-only file for distribution (tap export)
} CheckpointStorage;

// A role array: group name (no slashes, e.g. "params") and table->n floats.
typedef struct {
    const char *group;
    float *data; // read by save, filled by load
    CheckpointStorage storage;
} CheckpointRole;

typedef struct {
    int64_t step;
    int64_t epoch;
    uint64_t rng[4];                    // TapRng state
    char text[TAP_CHECKPOINT_TEXT_MAX]; // free text, e.g. the resolved command line config
    // The vocabulary the model was trained with (id -> token, cfg->V of them), saved as /vocab
    // (UTF-8 strings, as a dataset's /vocab) when vocab is not NULL; load leaves it alone.
    const char *const *vocab;
    int n_vocab;
} CheckpointScalars;

struct TapError;

// IEEE half bits of f, rounded to nearest even (what CHECKPOINT_F16 stores).
uint16_t checkpoint_half_from_float(float f);
// The float of IEEE half bits h (exact: every half is a float).
float checkpoint_float_from_half(uint16_t h);

// Returns TAP_OK or a negative TapStatus with err naming the file (and the tensor).
// scalars may be NULL (saved as zeros / empty text).
int checkpoint_save(const char *path, const TapConfig *cfg, const ParamTable *t,
                    const CheckpointRole *roles, int n_roles, const CheckpointScalars *scalars,
                    struct TapError *err);

// Checks the format version, that the stored config matches cfg (gamma excepted: a training
// setting), and for every role that the group holds exactly the table's tensors with the
// table's shapes, all finite; then fills the role arrays. Errors name the tensor, e.g.
// "tensor 'decoder_U_att' has shape [500,2], expected [500,1]"; missing and extra tensors are
// named too. On failure the role arrays may be partly overwritten. scalars may be NULL.
int checkpoint_load(const char *path, const TapConfig *cfg, const ParamTable *t,
                    const CheckpointRole *roles, int n_roles, CheckpointScalars *scalars,
                    struct TapError *err);

// The /vocab of a checkpoint: *tokens (malloc'd, *n of them, each malloc'd) or, for a
// checkpoint saved without one (before vocabularies were stored), *n = 0 and *tokens NULL.
// Errors: unreadable file, /vocab that is not a 1-D dataset of strings, an empty token.
int checkpoint_read_vocab(const char *path, char ***tokens, int *n, struct TapError *err);
void checkpoint_vocab_free(char **tokens, int n);
// Whether the checkpoint's /vocab is tokens (n of them): 1 when it is, when the file carries
// none (saved before vocabularies were stored) or when n is 0 (nothing to compare with); 0 when
// it differs (in count or in any token); a negative TapStatus when it cannot be read.
int checkpoint_vocab_matches(const char *path, const char *const *tokens, int n,
                             struct TapError *err);

// Reads only the stored config (to build a model from a checkpoint before loading it).
int checkpoint_read_config(const char *path, TapConfig *cfg, struct TapError *err);

// 1 if the file has group `group`, 0 if not, negative TapStatus if the file is unreadable.
int checkpoint_has_role(const char *path, const char *group, struct TapError *err);

#endif
