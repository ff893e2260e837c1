// `tap train` settings: the options struct with its defaults and presets, the option table
// that gives --help, --config and the printed/stored configuration, and their resolution into
// a TapConfig, the stage plan, the stage-2 variational method and the selection criteria.
#ifndef TAP_TOOLS_TRAIN_CONFIG_H
#define TAP_TOOLS_TRAIN_CONFIG_H

#include <stddef.h>

#include "cli.h"
#include "config.h"
#include "variational.h"

typedef struct {
    const char *preset; // "tap" (TAP v2 dims) or "small" (fast CPU experiments)
    // model
    int enc_layers;        // encoder bi-GRU layers
    const char *enc_units; // comma list, units per direction of each layer
    const char *pool;      // comma list of 0/1: halve the time axis after the layer
    int dec_units;         // D
    int embed;             // E
    int coverage;          // Q
    int kernel;            // K
    int gate;              // TAP v2 "when to attend" gate
    double gamma;          // attention-guidance weight
    // data
    int batch_size;
    int maxlen; // label length limit (TAP 200)
    int seed;   // weight init; the data order and the noise derive from it
    // ink augmentation of the training batches (augment.h); off unless --augment
    int augment;
    double aug_rotate, aug_shear, aug_aspect, aug_jitter;
    // schedule
    const char *stage;     // "1", "2" or "both"
    const char *init;      // checkpoint to start from (required by --stage 2)
    int scratch;           // --stage 2 from the seeded random initialisation instead
    const char *optimizer; // adadelta (TAP), sgd (momentum 0.9) or adam (textbook, see README)
    double lr;             // sgd and adam learning rate (0: theirs, 1e-4 and 2e-4)
    double rho, eps, clip; // Adadelta (TAP 0.95, 1e-8) and global-norm clip (TAP 1000)
    double eps_ls2;        // Adadelta epsilon of the ls2 optimizer (0: --eps)
    int patience;          // validations without improvement tolerated (TAP 15)
    int eps_decays;        // times eps is divided by 10 before stage 1 stops (TAP 1)
    int eps_decays2;       // the same for stage 2 (TAP's nmt_weightnoise.py: 2)
    int max_epochs, max_steps;
    double max_minutes; // training wall-clock budget over all resumes (0: none)
    // stage 2
    const char *variational;
    double model_cost; // c (TAP 0.1)
    double n_train;    // N, 0 = 2 x training expressions (TAP 2 x 8835)
    double sigma_init; // adaptive-weight-noise initial sigma (TAP 1e-12)
    double sigma;      // fixed posterior sigma of weight-noise variants
    double prior_var, prior_b;
    int per_sequence; // stage 2: noise and squared gradients per sequence (Graves) instead of
                      // per batch (TAP)
    // validation and model selection
    const char *criterion1, *criterion2;
    double mix_wer;   // weight of WER in "mix" (TAP 0.6)
    int valid_every;  // steps; 0 = every epoch
    int valid_beam;   // 1 = greedy
    int valid_maxlen; // decoding steps at most
    int valid_limit;  // 0 = the whole validation set
    int keep_valid;   // keep the weights of the last N validations (checkpoint averaging)
    // output
    double checkpoint_minutes;
    int log_every, progress_every, threads;
    int resume;
    // testing aids
    int debug_nan_step, debug_save_delay_ms;
} TrainOptions;

#define TRAIN_MAX_OPTIONS 64

// Defaults of a preset; -1 for an unknown preset name (o is then left with "tap").
int train_options_default(TrainOptions *o, const char *preset);
// The option table pointing into o; returns the count (<= TRAIN_MAX_OPTIONS).
int train_options_table(TrainOptions *o, CliOption *out);
// The presets, for --help.
const char *train_presets_help(void);

typedef enum { CRIT_WER, CRIT_EXPRATE, CRIT_MIX, CRIT_LOSS } TrainCriterion;

typedef struct {
    TapConfig model; // V still to be set from the data
    int first_stage, last_stage;
    TrainCriterion crit[2]; // stage 1, stage 2
    VarKind kind2;
} TrainPlan;

// Checks every option and builds the plan. 0, or -1 with one line in msg (bad usage).
int train_options_resolve(const TrainOptions *o, TrainPlan *p, char *msg, size_t len);
// The selection score of one validation (lower is better).
double train_score(TrainCriterion c, double mix_wer, double wer, double exprate, double loss);
const char *train_criterion_name(TrainCriterion c);

#endif
