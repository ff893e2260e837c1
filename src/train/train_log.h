// What a training run tells the world: train.tsv (one row per logged window of updates, per
// epoch and per validation; read by `tap plot`) and the progress line on stderr (refreshed in
// place on a terminal, one line every N updates otherwise).
#ifndef TAP_TOOLS_TRAIN_LOG_H
#define TAP_TOOLS_TRAIN_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "tap.h"

// train.tsv columns, in order. Missing values are written as "nan".
#define TRAIN_LOG_HEADER                                                                         \
    "kind\tstage\tepoch\tstep\tloss\tle_bits\tlc_bits\tratio\tvalid_loss\twer\texprate\tscore\t" \
    "eps\telapsed_s\n"

typedef struct {
    const char *kind; // "train" (mean loss of a window), "epoch" (epoch means, L^E, L^C), "valid"
    int stage;
    int64_t epoch; // 0-based epoch the row belongs to
    int64_t step;  // updates done
    double loss, le_bits, lc_bits, ratio, valid_loss, wer, exprate, score, eps, elapsed;
} LogRow;

// A row with every value missing.
LogRow log_row_empty(const char *kind);

typedef struct {
    FILE *f;
    char path[4096];
} TrainLog;

// A new log (header written), or with keep_bytes >= 0 an existing one cut back to keep_bytes
// (the rows written after the checkpoint being resumed are dropped) and appended to.
int train_log_open(TrainLog *l, const char *path, int64_t keep_bytes, TapError *err);
int train_log_write(TrainLog *l, const LogRow *r, TapError *err);
// Flushes and returns the file's length in *bytes.
int train_log_flush(TrainLog *l, int64_t *bytes, TapError *err);
void train_log_close(TrainLog *l);

struct ProgressInfo;

typedef struct {
    int tty;          // stderr is a terminal: one line refreshed in place
    int every;        // otherwise a line every `every` updates
    int open_line;    // a refreshed line is on screen (end it before printing anything else)
    double last_draw; // monotonic seconds
    double rate;      // expressions per second (moving average)
    // A sink instead of stderr (tap_api.h): every progress and event line goes to on_line,
    // and on_update sees every update; both may be NULL.
    void (*on_line)(void *ctx, const char *line);
    void (*on_update)(void *ctx, const struct ProgressInfo *info);
    void *ctx;
} Progress;

void progress_init(Progress *p, int every);
typedef struct ProgressInfo {
    int stage;
    int64_t epoch, step, max_steps;
    int64_t batch, n_batches;
    int64_t left_in_epoch; // expressions left in this epoch
    double loss;           // recent mean loss
    double eps;
} ProgressInfo;
// Called after every update with the expressions and seconds it took.
void progress_update(Progress *p, const ProgressInfo *info, int n_expr, double seconds);
// Ends a refreshed line so that other messages start on their own line.
void progress_break(Progress *p);
// Prints one message line on stderr (after progress_break).
void progress_say(Progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
