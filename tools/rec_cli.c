#include "rec_cli.h"

#include <stdio.h>

#include "beam.h"

RecSettings rec_cli_defaults(void) {
    return (RecSettings){.dict = NULL, .beam = 10, .max_len = 300};
}

void rec_cli_options(RecSettings *o, CliOption *opts) {
    opts[0] = (CliOption){"beam", CLI_INT, &o->beam, "beam width (1 = greedy)"};
    opts[1] = (CliOption){
        "max-len", CLI_INT, &o->max_len,
        "decoding steps at most (TAP: 1000; the longest CROHME 2014 caption has 204 tokens)"};
    opts[2] = (CliOption){"threads", CLI_INT, &o->threads, "decoding threads (0 = one per core)"};
    opts[3] = (CliOption){"dict", CLI_STRING, &o->dict,
                          "dictionary (token<TAB>id) to decode with instead of the model's own "
                          "vocabulary (checkpoints without one: " REC_DEFAULT_DICT ")"};
    opts[4] = (CliOption){"ensemble", CLI_STRING, &o->ensemble,
                          "more checkpoints (comma list) decoded with the model as one ensemble: "
                          "each step averages their log-probabilities"};
}

int rec_cli_check(const RecSettings *o, char *msg, size_t len) {
    if (o->beam < 1 || o->beam > 1000)
        snprintf(msg, len, "--beam must be in 1..1000");
    else if (o->max_len < 1 || o->max_len > BEAM_MAX_LEN)
        snprintf(msg, len, "--max-len must be in 1..%d", BEAM_MAX_LEN);
    else if (o->threads < 0 || o->threads > 256)
        snprintf(msg, len, "--threads must be in 0..256 (0: one per core)");
    else
        return 0;
    return 1;
}

