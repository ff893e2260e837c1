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
#include "train_loop.h"
#include "train_setup.h"

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

static int usage_error(const char *msg) {
    fprintf(stderr, "tap train: error: %s\n", msg);
    return 2;
}

int tap_train_main(int argc, char **argv) {
    static TrainSetup p;
    train_setup_init(&p);
    char msg[5120];
    int status = 2;
    int rc = train_setup_parse(&p, argc, argv, stdout, msg, sizeof msg);
    if (rc == TRAIN_SETUP_HELP) {
        status = 0;
        goto done;
    }
    if (rc == TRAIN_SETUP_USAGE) {
        status = usage_error(msg);
        goto done;
    }
    if (rc != TRAIN_SETUP_OK) {
        fprintf(stderr, "tap train: error: %s\n", msg);
        status = 1;
        goto done;
    }
    TrainPlan plan = p.plan;
    int threads = p.threads;
    char **pos = p.pos;
    openblas_set_num_threads(threads);
    printf("tap train %s: resolved configuration\n%s", TAP_VERSION, p.config_text);
    fflush(stdout);

    install_signals();
    static Trainer t;
    TapError err;
    tap_error_clear(&err);
    rc = trainer_init(&t, &p.o, &plan, pos[0], pos[1], pos[2], p.config_text, &g_stop, threads,
                      &err);
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
    train_setup_free(&p);
    if (status == 1) {
        // After a failed H5Fclose (a full disk) HDF5 1.10 crashes in its exit handler while
        // closing the file again; everything of ours is closed, so end without the handlers.
        fflush(stdout);
        fflush(stderr);
        _exit(1);
    }
    return status;
}
