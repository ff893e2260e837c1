// Turning `tap train`'s arguments into a run: the flags over the preset's defaults, the stored
// configuration of OUT_DIR/last.h5 under --resume (the flags given win), the resolved plan and
// the configuration text stored in every checkpoint. Shared by the command and tap_api.h.
#ifndef TAP_TRAIN_SETUP_H
#define TAP_TRAIN_SETUP_H

#include <stddef.h>

#include "checkpoint.h"
#include "cli.h"
#include "train_config.h"

typedef struct {
    TrainOptions o;
    CliOption table[TRAIN_MAX_OPTIONS];
    CliSpec spec;
    char summary[2048];
    TrainPlan plan;
    char **pos; // TRAIN.h5 VALID.h5 OUT_DIR
    int n_pos;
    int threads;       // resolved: --threads, or one per core
    char *config_text; // the resolved options plus "# train:" / "# valid:" lines
    char **argv2;      // --resume: the stored options followed by the given ones
    char *store;
    char stored[TAP_CHECKPOINT_TEXT_MAX]; // --resume: the configuration text of last.h5
} TrainSetup;

enum { TRAIN_SETUP_OK = 0, TRAIN_SETUP_HELP = 1, TRAIN_SETUP_USAGE = 2, TRAIN_SETUP_ERROR = 3 };

// Prepares the option table (call first; --help prints from it).
void train_setup_init(TrainSetup *s);
// argv[0] is the command name. Returns TRAIN_SETUP_OK, _HELP (help printed to help_out), _USAGE
// (bad usage: msg says why), or _ERROR (e.g. --resume without a readable last.h5: msg).
int train_setup_parse(TrainSetup *s, int argc, char **argv, FILE *help_out, char *msg,
                      size_t len);
void train_setup_free(TrainSetup *s);

#endif
