#include "train_setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "outfile.h"
#include "tap.h"
#include "train_state.h"

// Parses with the tap preset's defaults, then again with the chosen preset's defaults so that
// explicit flags win over the preset whatever their order.
static int parse_args(TrainSetup *p, int argc, char **argv, FILE *help_out, char *msg,
                      size_t len) {
    train_options_default(&p->o, "tap");
    free(p->pos);
    p->pos = NULL;
    int rc = cli_parse(&p->spec, argc, argv, &p->pos, &p->n_pos, msg, len, help_out);
    if (rc != CLI_OK || !strcmp(p->o.preset ? p->o.preset : "", "tap")) return rc;
    char preset[64];
    snprintf(preset, sizeof preset, "%s", p->o.preset ? p->o.preset : "");
    if (train_options_default(&p->o, preset)) {
        snprintf(msg, len, "unknown --preset '%s' (tap or small)", preset);
        return CLI_USAGE;
    }
    free(p->pos);
    p->pos = NULL;
    return cli_parse(&p->spec, argc, argv, &p->pos, &p->n_pos, msg, len, help_out);
}

// argv with the stored options of a checkpoint ("name = value" lines) put before the user's
// own flags, which therefore win. Strings are owned by *store.
static char **resume_argv(const char *text, int argc, char **argv, int *out_argc, char **store) {
    size_t lines = 1;
    for (const char *c = text; *c; c++) lines += *c == '\n';
    char **v = calloc(lines + (size_t)argc + 1, sizeof *v);
    char *buf = malloc(strlen(text) * 2 + 64);
    if (!v || !buf) {
        free(v), free(buf);
        return NULL;
    }
    int n = 0;
    size_t used = 0;
    v[n++] = argv[0];
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t l = end ? (size_t)(end - line) : strlen(line);
        const char *eq = memchr(line, '=', l);
        if (line[0] != '#' && eq && eq > line) {
            size_t nl = (size_t)(eq - line), vl = l - nl - 1;
            while (nl && line[nl - 1] == ' ') nl--;
            const char *val = eq + 1;
            while (vl && *val == ' ') val++, vl--;
            if (vl) {
                v[n++] = buf + used;
                used += (size_t)sprintf(buf + used, "--%.*s=%.*s", (int)nl, line, (int)vl, val) + 1;
            }
        }
        line += l + (end ? 1 : 0);
    }
    for (int i = 1; i < argc; i++) v[n++] = argv[i];
    *out_argc = n;
    *store = buf;
    return v;
}

// What --resume cannot change: the saved state already embodies it (model shape, data order and
// batches, seeds, the stage and its method), so a new value would silently not apply. Every
// other flag given with --resume overrides the stored one.
static const char *const resume_fixed[] = {
    "preset", "enc-layers", "enc-units", "pool",  "dec-units", "embed",     "coverage",
    "kernel", "gate",       "batch-size", "maxlen", "seed",     "stage",     "init",
    "scratch", "variational", "optimizer", "per-sequence"};

static int may_change(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof resume_fixed / sizeof *resume_fixed; i++)
        if (strlen(resume_fixed[i]) == len && !strncmp(resume_fixed[i], name, len)) return 0;
    return 1;
}

// The first option whose resolved value differs between two "name = value" texts and that
// --resume may not change; 0 when there is none.
static int changed_fixed_option(const char *stored, const char *now, char *msg, size_t len) {
    for (const char *a = stored, *b = now; *a && *b;) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        const char *eq = memchr(a, '=', la);
        size_t nl = eq ? (size_t)(eq - a) : la;
        while (nl && a[nl - 1] == ' ') nl--;
        if ((la != lb || strncmp(a, b, la)) && !may_change(a, nl)) {
            snprintf(msg, len,
                     "--resume keeps the run's settings: '%.*s' was '%.*s' and cannot change "
                     "(the saved state embodies it)",
                     (int)nl, a, (int)(la - (eq ? (size_t)(eq - a) + 2 : la)),
                     eq ? eq + 2 : a + la);
            return 1;
        }
        a += la + (ea ? 1 : 0);
        b += lb + (eb ? 1 : 0);
    }
    return 0;
}

// Every file written into OUT_DIR may be none of the inputs (TRAIN.h5, VALID.h5, --init), and
// must be a regular file where it exists (outfile_check). 0, or 1 with msg set.
static int check_outputs(const TrainSetup *s, char *msg, size_t len) {
    static const char *const names[] = {"last.h5", "best.h5", "best_stage1.h5", "train.tsv",
                                        "valid_hyp.txt"};
    const char *in[] = {s->pos[0], s->pos[1], s->o.init && *s->o.init ? s->o.init : NULL};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[4096];
        TapError err;
        snprintf(path, sizeof path, "%s/%s", s->pos[2], names[k]);
        if (outfile_check(path, in, 3, &err) != TAP_OK) {
            snprintf(msg, len, "%s", err.msg);
            return 1;
        }
    }
    return 0;
}

void train_setup_init(TrainSetup *s) {
    memset(s, 0, sizeof *s);
    int n_opts = train_options_table(&s->o, s->table);
    snprintf(s->summary, sizeof s->summary,
             "Train TAP on TRAIN.h5, validating on VALID.h5 (both from `tap prep`); writes OUT_DIR/"
             "last.h5 (resumable state), best.h5 (best weights), best_stage1.h5, train.tsv, "
             "valid_hyp.txt.\n%s\nExit codes: 0 finished, 1 runtime error, 2 bad usage, 3 "
             "interrupted by SIGINT/SIGTERM after saving last.h5 (a second signal quits at once).",
             train_presets_help());
    s->spec = (CliSpec){"train", "[options] TRAIN.h5 VALID.h5 OUT_DIR", s->summary, s->table, n_opts};
}

int train_setup_parse(TrainSetup *s, int argc, char **argv, FILE *help_out, char *msg,
                      size_t len) {
    int rc = parse_args(s, argc, argv, help_out, msg, len);
    if (rc == CLI_HELP) return TRAIN_SETUP_HELP;
    if (rc == CLI_OK && s->n_pos != 3) {
        snprintf(msg, len, "expected TRAIN.h5 VALID.h5 OUT_DIR, got %d argument(s)", s->n_pos);
        rc = CLI_USAGE;
    }
    if (rc != CLI_OK) return TRAIN_SETUP_USAGE;
    char last[4096];
    snprintf(last, sizeof last, "%s/last.h5", s->pos[2]);
    if (s->o.resume) {
        char *stored = s->stored;
        TrainState st;
        TapError err;
        if (access(last, F_OK) != 0) {
            // A run stopped before its first save (a kill during the first write leaves only
            // last.h5.new) has nothing to resume; a fresh start in the same OUT_DIR accepts it.
            snprintf(msg, len,
                     "--resume: %s does not exist: the run in %s saved no state yet; start it "
                     "afresh (without --resume, same OUT_DIR)",
                     last, s->pos[2]);
            return TRAIN_SETUP_ERROR;
        }
        if (train_state_peek(last, &st, stored, sizeof s->stored, &err)) {
            snprintf(msg, len, "--resume: %s", err.msg);
            return TRAIN_SETUP_ERROR;
        }
        // The stored settings alone first (with the positional arguments, which may move).
        int argc2;
        char *only[5] = {argv[0], s->pos[0], s->pos[1], s->pos[2], NULL}, *store0 = NULL;
        char **argv0 = resume_argv(stored, 4, only, &argc2, &store0);
        char *before = NULL;
        rc = argv0 ? parse_args(s, argc2, argv0, help_out, msg, len) : CLI_USAGE;
        size_t need = cli_format_config(&s->spec, NULL, 0) + 1;
        if (rc == CLI_OK && (before = malloc(need))) cli_format_config(&s->spec, before, need);
        free(argv0);
        free(store0);
        s->argv2 = resume_argv(stored, argc, argv, &argc2, &s->store);
        if (!s->argv2 || !before) {
            free(before);
            snprintf(msg, len, rc == CLI_OK ? "out of memory" : "the stored settings do not parse");
            return rc == CLI_OK ? TRAIN_SETUP_ERROR : TRAIN_SETUP_USAGE;
        }
        rc = parse_args(s, argc2, s->argv2, help_out, msg, len);
        if (rc != CLI_OK || s->n_pos != 3) {
            free(before);
            if (rc == CLI_OK) snprintf(msg, len, "bad arguments");
            return TRAIN_SETUP_USAGE;
        }
        need = cli_format_config(&s->spec, NULL, 0) + 1;
        char *after = malloc(need);
        if (after) cli_format_config(&s->spec, after, need);
        int fixed = after && changed_fixed_option(before, after, msg, len);
        free(before);
        free(after);
        if (fixed) return TRAIN_SETUP_USAGE;
    } else if (access(last, F_OK) == 0) {
        snprintf(msg, len, "%s exists: add --resume to continue that run, or choose a new OUT_DIR",
                 last);
        return TRAIN_SETUP_USAGE;
    }
    if (train_options_resolve(&s->o, &s->plan, msg, len)) return TRAIN_SETUP_USAGE;
    if (check_outputs(s, msg, len)) return TRAIN_SETUP_ERROR;
    s->threads = s->o.threads > 0 ? s->o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->threads < 1) s->threads = 1;
    size_t need = cli_format_config(&s->spec, NULL, 0) + strlen(s->pos[0]) + strlen(s->pos[1]) + 64;
    if (!(s->config_text = malloc(need))) {
        snprintf(msg, len, "out of memory");
        return TRAIN_SETUP_ERROR;
    }
    size_t used = cli_format_config(&s->spec, s->config_text, need);
    snprintf(s->config_text + used, need - used, "# train: %s\n# valid: %s\n", s->pos[0], s->pos[1]);
    return TRAIN_SETUP_OK;
}

void train_setup_free(TrainSetup *s) {
    free(s->config_text);
    free(s->pos);
    free(s->argv2);
    free(s->store);
    s->config_text = NULL, s->pos = NULL, s->argv2 = NULL, s->store = NULL;
}
