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
#include "train_mpi.h"
#include "train_setup.h"

#define TRAIN_EXIT_INTERRUPTED 3

static volatile sig_atomic_t g_stop = 0;
static int g_signal_quiet; // MPI ranks other than 0 do not announce signals

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
    if (g_signal_quiet) return;
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
    if (train_mpi_rank() == 0) fprintf(stderr, "tap train: error: %s\n", msg);
    return 2;
}

// With MPI (mpirun -np N): one line of what the allreduce cost, from rank 0.
static void mpi_summary(const Trainer *t) {
    double comm, wait, floats;
    long updates;
    train_mpi_comm_stats(&comm, &wait, &updates, &floats);
    if (train_mpi_size() < 2 || train_mpi_rank() != 0 || updates == 0) return;
    fprintf(stderr,
            "tap train: MPI: %d ranks x %d replica(s); %ld updates, allreduce of %.0f floats: "
            "%.4f s per update",
            train_mpi_size(), t->n_rep, updates, floats, comm / (double)updates);
    if (wait > 0.0) fprintf(stderr, " (of which %.4f s waiting at a barrier)", wait / (double)updates);
    fprintf(stderr, "\n");
}

int tap_train_main(int argc, char **argv) {
    static TrainSetup p;
    char msg[5120];
    // Under mpirun: every rank runs all of this; rank 0 prints and writes (train_mpi.h).
    if (train_mpi_init(&argc, &argv, msg, sizeof msg)) {
        fprintf(stderr, "tap train: error: %s\n", msg);
        return 1;
    }
    train_setup_init(&p);
    int status = 2;
    FILE *help_out = stdout, *null_out = NULL;
    if (train_mpi_rank() != 0 && (null_out = fopen("/dev/null", "w"))) help_out = null_out;
    int rc = train_setup_parse(&p, argc, argv, help_out, msg, sizeof msg);
    if (null_out) fclose(null_out);
    // Every rank has checked OUT_DIR before rank 0 starts writing into it, and all stop if
    // one cannot start: rank 0 says why, or the rank that alone failed.
    if (train_mpi_size() > 1) {
        int r0 = train_mpi_root(rc);
        TapError agreed;
        tap_error_clear(&agreed);
        int worst = -train_mpi_agree(-rc, &agreed);
        if (worst != TRAIN_SETUP_OK) {
            if (rc != TRAIN_SETUP_OK && rc != TRAIN_SETUP_HELP &&
                (train_mpi_rank() == 0 || r0 == TRAIN_SETUP_OK))
                fprintf(stderr, "tap train: error: %s\n", msg);
            status = worst == TRAIN_SETUP_HELP ? 0 : worst == TRAIN_SETUP_USAGE ? 2 : 1;
            goto done;
        }
    }
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
    // --threads 0 (all cores): the ranks on one machine share its cores.
    if (p.o.threads <= 0 && train_mpi_local_size() > 1) {
        threads /= train_mpi_local_size();
        if (threads < 1) threads = 1;
    }
    char **pos = p.pos;
    openblas_set_num_threads(threads);
    if (train_mpi_rank() == 0) {
        printf("tap train %s: resolved configuration\n%s", TAP_VERSION, p.config_text);
        fflush(stdout);
    }

    g_signal_quiet = train_mpi_rank() != 0;
    install_signals();
    static Trainer t;
    TapError err;
    tap_error_clear(&err);
    rc = trainer_init(&t, &p.o, &plan, pos[0], pos[1], pos[2], p.config_text, &g_stop, threads,
                      &err);
    if (rc == TAP_OK) {
        if (train_mpi_rank() == 0 && train_mpi_size() > 1)
            fprintf(stderr, "tap train: MPI: %d ranks, each %d thread(s); rank 0 validates and "
                    "writes\n", train_mpi_size(), threads);
        if (train_mpi_rank() == 0)
            fprintf(stderr,
                    "tap train: %d training expressions in %d batches (%d dropped by --maxlen), "
                    "%d validation expressions; %zu weights, %.1f MB; %d thread(s), %d model "
                    "replica(s)%s\n",
                    t.tb.n_kept, t.tb.n_batches, t.tb.n_dropped, t.valid_view.n,
                    t.model.table.n, (double)trainer_memory_bytes(&t) / 1e6, threads, t.n_rep,
                    p.o.resume ? "; resumed" : "");
        rc = trainer_run(&t, &err);
        if (rc >= 0) mpi_summary(&t);
    }
    if (rc < 0) {
        train_mpi_fail(rc, err.msg); // with MPI: ends the whole job here
        status = 1;
    } else if (rc == TRAIN_INTERRUPTED) {
        if (train_mpi_rank() == 0)
            fprintf(stderr,
                    "tap train: interrupted: %s saved at update %lld; continue with --resume\n",
                    t.path_last, (long long)t.st.step);
        status = TRAIN_EXIT_INTERRUPTED;
    } else {
        if (train_mpi_rank() == 0)
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
    train_mpi_finalize(); // after a failed run train_mpi_fail has ended the MPI job already
    if (status == 1) {
        // After a failed H5Fclose (a full disk) HDF5 1.10 crashes in its exit handler while
        // closing the file again; everything of ours is closed, so end without the handlers.
        fflush(stdout);
        fflush(stderr);
        _exit(1);
    }
    return status;
}
