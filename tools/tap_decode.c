// tap decode MODEL.h5 INPUT...: recognise expressions with TAP's beam search (v2/translate.py:
// beam 10, the finished hypothesis with the lowest cost per token wins) and print one line
// "uid<TAB>tokens" per expression in input order. Inputs are InkML files, directories of them
// (recursive) or HDF5 datasets from `tap prep`. A file that cannot be read or featurised is
// reported on stderr and skipped; the exit status is 0 when at least one expression was decoded.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "h5util.h"
#include "rec_cli.h"
#include "recognize.h"

// Relative to the working directory, as the default dictionary is.
#define BUNDLED_TAP "data/model/tap.h5"
#define BUNDLED_SMALL "data/model/small.h5"

typedef struct {
    const char *output, *attention;
    int quiet;
    RecSettings rec;
} DecodeOptions;

typedef struct {
    FILE *out;
    const Vocab *v;
    const RecInputs *in;
    const char *att_dir;
    int pool, n_ok, n_fail;
    double busy; // summed per-expression decode time
    TapError err;
} DecodeRun;

static int emit_line(void *ctx, int i, RecResult *r) {
    DecodeRun *d = ctx;
    if (r->status != TAP_OK) {
        fprintf(stderr, "tap decode: skipped: %s\n", r->msg);
        d->n_fail++;
        return 0;
    }
    fprintf(d->out, "%s\t", d->in->items[i].uid);
    for (int t = 0; t < r->n; t++)
        fprintf(d->out, t ? " %s" : "%s", vocab_token(d->v, r->tokens[t]));
    fputc('\n', d->out);
    d->n_ok++;
    d->busy += r->seconds;
    if (d->att_dir &&
        rec_attention_save(d->att_dir, d->in->items[i].uid, r, d->v, d->pool, &d->err) != TAP_OK)
        return 1;
    if (ferror(d->out)) {
        tap_error_set(&d->err, TAP_ERR_IO, "writing the output failed");
        return 1;
    }
    return 0;
}

static int is_input(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    if (stat(path, &st) != 0) return n > 6 && !strcmp(path + n - 6, ".inkml");
    if (S_ISDIR(st.st_mode)) return 1;
    if (n > 6 && !strcmp(path + n - 6, ".inkml")) return 1;
    return h5u_looks_hdf5(path) && checkpoint_has_role(path, "params", NULL) != 1;
}

int tap_decode_main(int argc, char **argv) {
    DecodeOptions o = {.rec = rec_cli_defaults()};
    CliOption opts[3 + REC_CLI_N_OPTS] = {
        {"output", CLI_STRING, &o.output,
         "write the hypotheses here (also -o; written whole, then renamed) instead of stdout"},
        {"attention", CLI_STRING, &o.attention,
         "directory for per-expression attention files (<uid>.att, for tap render)"},
        {"quiet", CLI_FLAG, &o.quiet, "no summary line on stderr"},
    };
    rec_cli_options(&o.rec, opts + 3);
    const CliSpec spec = {"decode", "[options] [MODEL.h5] INPUT...",
                          "Recognise expressions (InkML files, directories, HDF5 datasets): "
                          "uid<TAB>LaTeX tokens per line. Without MODEL.h5 the best bundled "
                          "model decodes: " BUNDLED_TAP " when present, else " BUNDLED_SMALL ".",
                          opts, (int)(sizeof opts / sizeof opts[0])};
    char msg[512];
    CliArgs a;
    int rc = cli_args_parse(&a, &spec, argc, argv, 1, msg, sizeof msg);
    char **pos = a.pos;
    int n_pos = a.n_pos;
    // MODEL.h5 may be left out: when the first argument is plainly an input (an InkML file, a
    // directory, a dataset), the best bundled model decodes (data/model/tap.h5 when present,
    // else small.h5). Anything else is taken as the model, and errors as one.
    const char *model = n_pos > 0 ? pos[0] : NULL;
    int first_input = 1;
    if (rc == CLI_OK && n_pos >= 1 && is_input(pos[0])) {
        model = access(BUNDLED_TAP, R_OK) == 0 ? BUNDLED_TAP : BUNDLED_SMALL;
        first_input = 0;
        if (!o.quiet) fprintf(stderr, "tap decode: model %s (the bundled default)\n", model);
    }
    if (rc == CLI_OK && n_pos - first_input < 1)
        snprintf(msg, sizeof msg,
                 "expected MODEL.h5 and at least one INPUT (without MODEL.h5: the bundled model)"),
            rc = CLI_USAGE;
    if (rc == CLI_OK && rec_cli_check(&o.rec, msg, sizeof msg)) rc = CLI_USAGE;
    if (rc != CLI_OK) return cli_args_exit(&a, &spec, rc, msg);
    RecSetup rs = {0};
    OutFile of = {0};
    DecodeRun run = {.out = stdout, .in = &rs.in, .v = &rs.v, .att_dir = o.attention};
    TapError err;
    int status = 1;
    if (rec_setup_open(&rs, model, &o.rec, pos + first_input, n_pos - first_input, &err) ||
        (o.output && rec_output_check(&rs, model, &o.rec, o.output, &err)) ||
        (o.attention && rec_mkdir(o.attention, &err)) ||
        (o.output && outfile_open(&of, o.output, &err))) {
        fprintf(stderr, "tap decode: error: %s\n", err.msg);
        goto done;
    }
    if (of.f) run.out = of.f;
    rs.m.cfg.threads = rs.opt.threads >= 2 * rs.in.n ? 2 : 1; // spare cores: encoder directions
    for (int k = 0; k < rs.n_extra; k++) rs.extra[k].cfg.threads = rs.m.cfg.threads;
    run.pool = rs.pool;
    double t0 = tap_now_seconds();
    rc = rec_decode_all(&rs.m, &rs.in, &rs.opt, emit_line, &run, &err);
    double secs = tap_now_seconds() - t0;
    if (rc < 0)
        fprintf(stderr, "tap decode: error: %s\n", err.msg);
    else if (rc > 0)
        fprintf(stderr, "tap decode: error: %s\n", run.err.msg);
    if (rc != 0) goto done;
    if (!o.quiet)
        fprintf(stderr,
                "tap decode: %d decoded, %d skipped, %.2f s wall (%.2f expr/s, %d threads, %.1f ms "
                "per expression)\n",
                run.n_ok, run.n_fail, secs, secs > 0 ? run.n_ok / secs : 0.0, rs.opt.threads,
                run.n_ok ? 1e3 * run.busy / run.n_ok : 0.0);
    if (run.n_ok == 0) {
        fprintf(stderr, "tap decode: error: nothing could be decoded\n");
        goto done;
    }
    if (of.f) {
        rc = outfile_commit(&of, &err);
        if (rc != TAP_OK) {
            fprintf(stderr, "tap decode: error: %s\n", err.msg);
            goto done;
        }
    } else if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tap decode: error: writing to stdout failed\n");
        goto done;
    }
    status = 0;
done:
    outfile_abort(&of);
    rec_setup_close(&rs);
    cli_args_free(&a);
    return status;
}
