// tap average IN.h5... -o OUT.h5: the mean of the /params of checkpoints of one model
// configuration (checkpoint averaging: e.g. the last validated weights that `tap train
// --keep-valid K` keeps in OUT_DIR/valid/). OUT.h5 is a weights-only checkpoint, written whole
// and renamed, that tap decode reads like any other.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "commands.h"
#include "recognize.h"

int tap_average_main(int argc, char **argv) {
    const char *output = NULL;
    const CliOption opts[] = {
        {"output", CLI_STRING, &output, "the averaged checkpoint (also -o)"},
    };
    const CliSpec spec = {"average", "IN.h5... -o OUT.h5",
                          "Average the weights (/params) of checkpoints of one configuration.",
                          opts, 1};
    char **args = cli_short_o(argc, argv), **pos = NULL, msg[512];
    int n_pos = 0;
    if (!args) return 1;
    int rc = cli_parse(&spec, argc, args, &pos, &n_pos, msg, sizeof msg, stdout);
    if (rc == CLI_HELP) {
        free(pos), free(args);
        return 0;
    }
    if (rc == CLI_OK && n_pos < 1) snprintf(msg, sizeof msg, "no input checkpoints"), rc = CLI_USAGE;
    if (rc == CLI_OK && !output) snprintf(msg, sizeof msg, "no output (-o OUT.h5)"), rc = CLI_USAGE;
    for (int i = 0; rc == CLI_OK && i < n_pos; i++)
        if (!strcmp(pos[i], output))
            snprintf(msg, sizeof msg, "the output %s is also an input", output), rc = CLI_USAGE;
    if (rc != CLI_OK) {
        fprintf(stderr, "tap average: error: %s\n", msg);
        free(pos), free(args);
        return 2;
    }
    int status = 1;
    TapError err = {0};
    RecModel first = {0};
    double *sum = NULL;
    static CheckpointScalars sc;
    if (rec_model_load(&first, pos[0], &err) != TAP_OK) goto fail;
    size_t n = first.table.n;
    if (!(sum = malloc(n * sizeof *sum))) {
        tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t j = 0; j < n; j++) sum[j] = first.w[j];
    for (int i = 1; i < n_pos; i++) {
        // The first file's configuration: checkpoint_load refuses any other.
        CheckpointRole role = {"params", first.w};
        if (checkpoint_load(pos[i], &first.cfg, &first.table, &role, 1, NULL, &err) != TAP_OK)
            goto fail;
        for (size_t j = 0; j < n; j++) sum[j] += (double)first.w[j];
    }
    for (size_t j = 0; j < n; j++) first.w[j] = (float)(sum[j] / n_pos);
    size_t used = (size_t)snprintf(sc.text, sizeof sc.text, "# average of %d checkpoints:", n_pos);
    for (int i = 0; i < n_pos && used < sizeof sc.text; i++)
        used += (size_t)snprintf(sc.text + used, sizeof sc.text - used, " %s", pos[i]);
    if (used < sizeof sc.text) snprintf(sc.text + used, sizeof sc.text - used, "\n");
    CheckpointRole role = {"params", first.w};
    if (checkpoint_save(output, &first.cfg, &first.table, &role, 1, &sc, &err) != TAP_OK) goto fail;
    printf("tap average: wrote %s: the mean of %d checkpoints (%zu weights)\n", output, n_pos, n);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "tap average: error: %s\n", err.msg);
done:
    free(sum);
    rec_model_free(&first);
    free(pos), free(args);
    return status;
}
