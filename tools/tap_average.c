// tap average IN.h5... -o OUT.h5: the mean of the /params of checkpoints of one model
// configuration (checkpoint averaging: e.g. the last validated weights that `tap train
// --keep-valid K` keeps in OUT_DIR/valid/).
// tap export IN.h5 -o OUT.h5: the weights of one checkpoint (a training state's /params), as
// IEEE half precision (deflated) unless --float32: the compact file that is shipped.
// Both write a weights-only checkpoint, whole and renamed, that tap decode reads like any other.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "commands.h"
#include "recognize.h"

static int write_mean(const char *cmd, char **in, int n_in, const char *output,
                      CheckpointStorage storage) {
    int status = 1;
    TapError err = {0};
    RecModel first = {0};
    double *sum = NULL;
    char **vocab = NULL; // the first input's /vocab, carried into the output
    int n_vocab = 0;
    static CheckpointScalars sc;
    // The output is no input (same file by device and inode) and no FIFO or device.
    if (outfile_check(output, (const char *const *)in, (size_t)n_in, &err) != TAP_OK) goto fail;
    if (rec_model_load(&first, in[0], &err) != TAP_OK ||
        checkpoint_read_vocab(in[0], &vocab, &n_vocab, &err) != TAP_OK)
        goto fail;
    size_t n = first.table.n;
    if (!(sum = malloc(n * sizeof *sum))) {
        tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    // The first file's vocabulary goes with the weights; the others must have the same one.
    for (int i = 1; i < n_in; i++) {
        int same = checkpoint_vocab_matches(in[i], (const char *const *)vocab, n_vocab, &err);
        if (same < 0) goto fail;
        if (!same) {
            tap_error_set(&err, TAP_ERR_ARG, "%s has another vocabulary than %s", in[i], in[0]);
            goto fail;
        }
    }
    for (size_t j = 0; j < n; j++) sum[j] = first.w[j];
    for (int i = 1; i < n_in; i++) {
        // The first file's configuration: checkpoint_load refuses any other.
        CheckpointRole role = {"params", first.w, CHECKPOINT_F32};
        if (checkpoint_load(in[i], &first.cfg, &first.table, &role, 1, NULL, &err) != TAP_OK)
            goto fail;
        for (size_t j = 0; j < n; j++) sum[j] += (double)first.w[j];
    }
    // The first file's step, epoch and text (its training options and how it was chosen) stay,
    // with a line that says what was done here (no role: the scalars only).
    if (checkpoint_load(in[0], &first.cfg, &first.table, NULL, 0, &sc, &err) != TAP_OK) goto fail;
    for (size_t j = 0; j < n; j++) first.w[j] = (float)(sum[j] / n_in);
    const char *form = storage == CHECKPOINT_F16 ? "float16" : "float32";
    size_t used = strlen(sc.text);
    if (used > 0 && sc.text[used - 1] != '\n' && used + 1 < sizeof sc.text)
        sc.text[used++] = '\n', sc.text[used] = '\0';
    used += (size_t)snprintf(sc.text + used, sizeof sc.text - used, "# %s of %d checkpoint(s), %s:",
                             cmd, n_in, form);
    for (int i = 0; i < n_in && used < sizeof sc.text; i++)
        used += (size_t)snprintf(sc.text + used, sizeof sc.text - used, " %s", in[i]);
    if (used < sizeof sc.text) snprintf(sc.text + used, sizeof sc.text - used, "\n");
    CheckpointRole role = {"params", first.w, storage};
    sc.vocab = n_vocab > 0 ? (const char *const *)vocab : NULL;
    sc.n_vocab = n_vocab;
    if (checkpoint_save(output, &first.cfg, &first.table, &role, 1, &sc, &err) != TAP_OK) goto fail;
    if (n_in > 1)
        printf("tap %s: wrote %s: the mean of %d checkpoints (%zu weights, %s)\n", cmd, output,
               n_in, n, form);
    else
        printf("tap %s: wrote %s: %zu weights of %s, %s\n", cmd, output, n, in[0], form);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "tap %s: error: %s\n", cmd, err.msg);
done:
    sc.vocab = NULL;
    checkpoint_vocab_free(vocab, n_vocab);
    free(sum);
    rec_model_free(&first);
    return status;
}

// Runs `tap average|export IN.h5... -o OUT.h5` (at most max_in inputs), the options' fields
// output and flag as parsed: the mean written as when_set when *flag is set, else as otherwise.
static int average_main(const CliSpec *spec, int argc, char **argv, int max_in,
                        const char *const *output, const int *flag, CheckpointStorage when_set,
                        CheckpointStorage otherwise) {
    char msg[512];
    CliArgs a;
    int rc = cli_args_parse(&a, spec, argc, argv, 1, msg, sizeof msg);
    if (rc == CLI_OK && a.n_pos < 1)
        snprintf(msg, sizeof msg, "no input checkpoint"), rc = CLI_USAGE;
    if (rc == CLI_OK && a.n_pos > max_in)
        snprintf(msg, sizeof msg, "one input checkpoint only"), rc = CLI_USAGE;
    if (rc == CLI_OK && !*output) snprintf(msg, sizeof msg, "no output (-o OUT.h5)"), rc = CLI_USAGE;
    for (int i = 0; rc == CLI_OK && i < a.n_pos; i++)
        if (!strcmp(a.pos[i], *output))
            snprintf(msg, sizeof msg, "the output %s is also an input", *output), rc = CLI_USAGE;
    if (rc != CLI_OK) return cli_args_exit(&a, spec, rc, msg);
    rc = write_mean(spec->command, a.pos, a.n_pos, *output, *flag ? when_set : otherwise);
    cli_args_free(&a);
    return rc;
}

int tap_average_main(int argc, char **argv) {
    const char *output = NULL;
    int half = 0;
    const CliOption opts[] = {
        {"output", CLI_STRING, &output, "the averaged checkpoint (also -o)"},
        {"float16", CLI_FLAG, &half, "store the mean in half precision (as tap export does)"},
    };
    const CliSpec spec = {"average", "IN.h5... -o OUT.h5",
                          "Average the weights (/params) of checkpoints of one configuration.",
                          opts, 2};
    return average_main(&spec, argc, argv, 1 << 20, &output, &half, CHECKPOINT_F16,
                        CHECKPOINT_F32);
}

int tap_export_main(int argc, char **argv) {
    const char *output = NULL;
    int full = 0;
    const CliOption opts[] = {
        {"output", CLI_STRING, &output, "the weights-only checkpoint (also -o)"},
        {"float32", CLI_FLAG, &full, "keep single precision (default: half, about half the size)"},
    };
    const CliSpec spec = {"export", "IN.h5 -o OUT.h5",
                          "Write the weights of a checkpoint (e.g. best.h5) compactly for decoding.",
                          opts, 2};
    return average_main(&spec, argc, argv, 1, &output, &full, CHECKPOINT_F32, CHECKPOINT_F16);
}
