// Data parallelism over processes (Open MPI): `mpirun -np N tap train ...`. Every rank runs the
// same trainer on the same data, options and seeds, so the batches, their shuffled order, the
// noise draws and every schedule decision are the same on all ranks; rank r takes the
// contiguous share [r nb / N, (r+1) nb / N) of each global batch (cut again into --threads
// replicas inside the rank), and the pieces that combine the shares are summed with
// MPI_Allreduce before one identical optimizer step on every rank:
//   - the batch-mean gradient (each rank's share weighted by share / batch size),
//   - the mean cost and the per-sequence label NLLs (the L^E sums),
//   - in --per-sequence stage 2, the accumulated per-sequence gradients and their squares
//     (the curvature term): each rank still draws the noise of every sequence, in order.
// Rank 0 validates (the others wait for its scores) and writes last.h5, best.h5, train.tsv and
// valid_hyp.txt; only rank 0 prints. Decisions taken from a clock (--max-minutes,
// --checkpoint-minutes) are rank 0's, a signal on any rank stops every rank at the same update,
// and any error ends the whole job with one line (MPI_ERRORS_RETURN, then MPI_Abort).
// Without MPI (not built with TAP_MPI, or not started by mpirun) every function is the
// one-process identity: rank 0 of 1, nothing exchanged.
#ifndef TAP_TRAIN_MPI_H
#define TAP_TRAIN_MPI_H

#include <stdio.h>

#include "train_loop.h"
#include "train_valid.h"

// Starts MPI when the process was started by mpirun (Open MPI's environment); otherwise, and
// when built without MPI, does nothing. 0, or -1 with a message in msg.
int train_mpi_init(int *argc, char ***argv, char *msg, size_t len);
// Ends MPI after a normal end of every rank (no-op without it).
void train_mpi_finalize(void);
int train_mpi_built(void); // 1: compiled with TAP_MPI
int train_mpi_rank(void);  // 0 without MPI
int train_mpi_size(void);  // 1 without MPI
// Ranks on this machine (for the default thread count: the cores are shared).
int train_mpi_local_size(void);

// This rank's share [*lo, *hi) of a batch of nb sequences.
void train_mpi_share(int nb, int *lo, int *hi);

// After this rank's forward and backward pass over [lo, hi) of a batch of nb (rc its status):
// agrees on the status (a failure anywhere fails every rank, TAP_ERR_NUMERIC with the same
// message), then sums the gradient (t->model.g; with per_seq the accumulators of t->var), the
// mean cost and t->nll[0..nb) over the ranks. Without per_seq, this rank's gradient, mean and
// NLLs are those of its share alone ([0, hi-lo) in t->nll; none when hi == lo).
int train_mpi_reduce_update(Trainer *t, int per_seq, int lo, int hi, int nb, double *mean, int rc,
                            TapError *err);
// Collective: the status of every rank combined (0 when all are 0). On a rank whose own rc was
// 0, err says which rank failed, and the error is left to that rank to report.
int train_mpi_agree(int rc, TapError *err);
// Collective: TAP_OK when every rank holds bit-identical weights w (n floats), compared by a
// 64-bit hash; else TAP_ERR_NUMERIC naming the update. Called before each save of last.h5, so
// a rank that drifted (a bug, a broken reduction) is caught before its state is written.
// TAP_MPI_DEBUG_SKEW=1 changes one weight on rank 1 first (for the test).
int train_mpi_same_weights(const float *w, size_t n, long long update, TapError *err);
// Collective: 1 when flag is set on any rank.
int train_mpi_any(int flag);
// Collective: rank 0's value.
int train_mpi_root(int value);

// valid_run on rank 0; the other ranks receive its scores (no hypotheses).
int train_mpi_valid_run(TapModel *m, const Dataset *ds, Batcher *vb, Batch *bt,
                        const ValidOptions *o, ValidResult *r, TapError *err);
// train_log_open on rank 0; the other ranks write their rows to /dev/null.
int train_mpi_log_open(TrainLog *l, const char *path, int64_t keep_bytes, TapError *err);
// Called by trainer_init: silences the progress lines of every rank but 0, and names the run's
// last.h5 in the line of a failed exchange.
void train_mpi_attach(Trainer *t);

// Seconds spent in the update allreduces (of which, with TAP_MPI_TIMING=1, waiting at a barrier
// for the slowest rank), the updates reduced and the floats summed per update.
void train_mpi_comm_stats(double *seconds, double *wait, long *updates,
                          double *floats_per_update);

// The end of a failed run: without MPI, prints "tap train: error: MSG" and returns. With MPI,
// the rank that owns the error prints that one line (rank 0 for an error every rank shares)
// and ends the job with MPI_Abort; the others wait to be ended. Does not return with MPI.
void train_mpi_fail(int code, const char *msg);
// A failed exchange (a rank died, the network failed): one line, then MPI_Abort.
void train_mpi_die(const char *what, int mpi_rc);

#endif
