// tap train TRAIN.h5 VALID.h5 OUT_DIR: TAP's two-stage training recipe (train_loop.h) with
// options from flags, --config and presets, a resumable state in OUT_DIR/last.h5 and clean
// stops on SIGINT/SIGTERM. Exit codes: 0 finished (early stop or a limit), 1 runtime error,
// 2 bad usage, 3 interrupted by a signal after saving last.h5 (continue with --resume).
#include <cblas.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "train_config.h"
#include "train_loop.h"

#define TRAIN_EXIT_INTERRUPTED 3

static volatile sig_atomic_t g_stop = 0;

// First SIGINT/SIGTERM: finish the update, save, exit 3. Any later one: the default action
// (the process dies at once; last.h5 is whole since it is only ever replaced by rename).
static void on_signal(int sig) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    if (g_stop) {
        raise(sig);
        return;
    }
    g_stop = 1;
    static const char msg[] =
        "\ntap train: signal received: saving last.h5 and stopping (again: quit at once)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

typedef struct {
    TrainOptions o;
    CliOption table[TRAIN_MAX_OPTIONS];
    CliSpec spec;
    char summary[2048];
} Parser;

// Parses with the tap preset's defaults, then again with the chosen preset's defaults so that
// explicit flags win over the preset whatever their order.
static int parse_args(Parser *p, int argc, char **argv, char ***pos, int *n_pos, char *msg,
                      size_t len) {
    train_options_default(&p->o, "tap");
    int rc = cli_parse(&p->spec, argc, argv, pos, n_pos, msg, len, stdout);
    if (rc != CLI_OK || !strcmp(p->o.preset ? p->o.preset : "", "tap")) return rc;
    char preset[64];
    snprintf(preset, sizeof preset, "%s", p->o.preset ? p->o.preset : "");
    if (train_options_default(&p->o, preset)) {
        snprintf(msg, len, "unknown --preset '%s' (tap or small)", preset);
        return CLI_USAGE;
    }
    free(*pos);
    return cli_parse(&p->spec, argc, argv, pos, n_pos, msg, len, stdout);
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

static int usage_error(const char *msg) {
    fprintf(stderr, "tap train: error: %s\n", msg);
    return 2;
}

int tap_train_main(int argc, char **argv) {
    static Parser p;
    int n_opts = train_options_table(&p.o, p.table);
    snprintf(p.summary, sizeof p.summary,
             "Train TAP on TRAIN.h5, validating on VALID.h5 (both from `tap prep`); writes OUT_DIR/"
             "last.h5 (resumable state), best.h5 (best weights), best_stage1.h5, train.tsv, "
             "valid_hyp.txt.\n%s\nExit codes: 0 finished, 1 runtime error, 2 bad usage, 3 "
             "interrupted by SIGINT/SIGTERM after saving last.h5 (a second signal quits at once).",
             train_presets_help());
    p.spec = (CliSpec){"train", "[options] TRAIN.h5 VALID.h5 OUT_DIR", p.summary, p.table, n_opts};
    char **pos = NULL, **argv2 = NULL, *store = NULL, msg[5120];
    int n_pos = 0, status = 2;
    static char stored[TAP_CHECKPOINT_TEXT_MAX];
    char *config_text = NULL;
    int rc = parse_args(&p, argc, argv, &pos, &n_pos, msg, sizeof msg);
    if (rc == CLI_HELP) {
        status = 0;
        goto done;
    }
    if (rc == CLI_OK && n_pos != 3) {
        snprintf(msg, sizeof msg, "expected TRAIN.h5 VALID.h5 OUT_DIR, got %d argument(s)", n_pos);
        rc = CLI_USAGE;
    }
    if (rc != CLI_OK) {
        status = usage_error(msg);
        goto done;
    }
    char last[4096];
    snprintf(last, sizeof last, "%s/last.h5", pos[2]);
    if (p.o.resume) {
        TrainState st;
        TapError err;
        if (train_state_peek(last, &st, stored, sizeof stored, &err)) {
            fprintf(stderr, "tap train: error: --resume: %s\n", err.msg);
            status = 1;
            goto done;
        }
        int argc2;
        argv2 = resume_argv(stored, argc, argv, &argc2, &store);
        free(pos);
        pos = NULL;
        rc = argv2 ? parse_args(&p, argc2, argv2, &pos, &n_pos, msg, sizeof msg) : CLI_USAGE;
        if (!argv2) snprintf(msg, sizeof msg, "out of memory");
        if (rc != CLI_OK || n_pos != 3) {
            status = usage_error(rc == CLI_OK ? "bad arguments" : msg);
            goto done;
        }
    } else if (access(last, F_OK) == 0) {
        snprintf(msg, sizeof msg,
                 "%s exists: add --resume to continue that run, or choose a new OUT_DIR", last);
        status = usage_error(msg);
        goto done;
    }
    TrainPlan plan;
    if (train_options_resolve(&p.o, &plan, msg, sizeof msg)) {
        status = usage_error(msg);
        goto done;
    }
    int threads = p.o.threads > 0 ? p.o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    openblas_set_num_threads(threads);
    size_t need = cli_format_config(&p.spec, NULL, 0) + strlen(pos[0]) + strlen(pos[1]) + 64;
    config_text = malloc(need);
    if (!config_text) {
        fprintf(stderr, "tap train: error: out of memory\n");
        status = 1;
        goto done;
    }
    size_t used = cli_format_config(&p.spec, config_text, need);
    snprintf(config_text + used, need - used, "# train: %s\n# valid: %s\n", pos[0], pos[1]);
    printf("tap train %s: resolved configuration\n%s", TAP_VERSION, config_text);
    fflush(stdout);

    install_signals();
    static Trainer t;
    TapError err;
    tap_error_clear(&err);
    rc = trainer_init(&t, &p.o, &plan, pos[0], pos[1], pos[2], config_text, &g_stop, threads, &err);
    if (rc == TAP_OK) {
        fprintf(stderr,
                "tap train: %d training expressions in %d batches (%d dropped by --maxlen), "
                "%d validation expressions; %zu weights, %.1f MB; %d thread(s), %d model "
                "replica(s)%s\n",
                t.tb.n_kept, t.tb.n_batches, t.tb.n_dropped, t.valid_view.n, t.model.table.n,
                (double)trainer_memory_bytes(&t) / 1e6, threads, t.n_rep,
                p.o.resume ? "; resumed" : "");
        rc = trainer_run(&t, &err);
    }
    if (rc < 0) {
        fprintf(stderr, "tap train: error: %s\n", err.msg);
        status = 1;
    } else if (rc == TRAIN_INTERRUPTED) {
        fprintf(stderr, "tap train: interrupted: %s saved at update %lld; continue with --resume\n",
                t.path_last, (long long)t.st.step);
        status = TRAIN_EXIT_INTERRUPTED;
    } else {
        printf(
            "finished at update %lld (stage %lld, epoch %lld): best %s %.4f (WER %.2f%%, ExpRate "
            "%.2f%%) at update %lld -> %s\n",
            (long long)t.st.step, (long long)t.st.stage, (long long)t.st.epoch,
            train_criterion_name(plan.crit[t.st.stage - 1]), t.st.best_score, t.st.best_wer,
            t.st.best_exprate, (long long)t.st.best_step,
            t.st.have_best ? t.path_best : "(none yet)");
        status = 0;
    }
    trainer_free(&t);
done:
    free(config_text);
    free(pos);
    free(argv2);
    free(store);
    if (status == 1) {
        // After a failed H5Fclose (a full disk) HDF5 1.10 crashes in its exit handler while
        // closing the file again; everything of ours is closed, so end without the handlers.
        fflush(stdout);
        fflush(stderr);
        _exit(1);
    }
    return status;
}
