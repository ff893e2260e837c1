// `tap COMMAND [options]`: one binary, one tools/tap_<command>.c per command.
// Exit codes for every command: 0 success, 1 runtime error, 2 bad usage.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "h5util.h"
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
    {"serve", tap_serve_main, "a local web server: write math in the browser, see the LaTeX"},
    {"train", tap_train_main, "train TAP: Adadelta, then weight noise; resumable (last.h5, best.h5)"},
    {"average", tap_average_main, "the mean of checkpoints' weights (checkpoint averaging)"},
    {"export", tap_export_main, "a checkpoint's weights in half precision: the file to ship"},
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

// A file left open by HDF5 means a close failed (a full disk): HDF5 1.10 would crash closing it
// again in its exit handler, so the command's status is returned through _exit (h5util.h).
// Output on stdout (tap eval's scores, tap decode's lines) that could not be written fails the
// command too.
static int finish(int status) {
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == 0) {
        fprintf(stderr, "tap: error: writing to standard output failed (disk full?)\n");
        status = 1;
    }
    fflush(stderr);
    if (h5u_open_files() > 0) _exit(status);
    return status;
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
        if (!strcmp(argv[1], commands[i].name)) return finish(commands[i].main(argc - 1, argv + 1));
    fprintf(stderr, "tap: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
