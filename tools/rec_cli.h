// The decoding flags `tap decode` and `tap render` share, bound to RecSettings.
#ifndef TAP_TOOLS_REC_CLI_H
#define TAP_TOOLS_REC_CLI_H

#include <stddef.h>

#include "cli.h"
#include "recognize.h"

enum { REC_CLI_N_OPTS = 5 };
// TAP's beam 10 and data/dictionary.txt; 300 steps cover the longest CROHME 2014 caption.
RecSettings rec_cli_defaults(void);
// Fills opts[0..REC_CLI_N_OPTS) with --beam, --max-len, --threads, --dict and --ensemble.
void rec_cli_options(RecSettings *o, CliOption *opts);
// Range checks: 0 when the options are usable, else nonzero with one line in msg.
int rec_cli_check(const RecSettings *o, char *msg, size_t len);

#endif
