// `tap COMMAND [options]`: one binary, one tools/tap_<command>.c per command.
// Exit codes for every command: 0 success, 1 runtime error, 2 bad usage.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "tap.h"

typedef struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"decode", tap_decode_main, "recognise InkML files or a dataset: uid<TAB>LaTeX per line"},
    {"eval", tap_eval_main, "score hypotheses: ExpRate, <=1/2/3 errors, WER"},
    {"prep", tap_prep_main, "InkML -> HDF5 dataset: TAP features, labels, stroke alignments"},
    {"render", tap_render_main, "pictures of ink coloured by attention, with an HTML gallery"},
    {"train", tap_train_main, "train TAP: Adadelta, then weight noise; resumable (last.h5, best.h5)"},
    {"average", tap_average_main, "the mean of checkpoints' weights (checkpoint averaging)"},
    {"plot", tap_plot_main, "learning curves of a train.tsv as a PNG"},
    {"version", tap_version_main, "print the version"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: tap COMMAND [options]   (tap COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int tap_version_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("tap %s\n", TAP_VERSION);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return tap_version_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "tap: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
