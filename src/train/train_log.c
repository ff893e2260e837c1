// train.tsv and the progress line (see train_log.h).
#include "train_log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

LogRow log_row_empty(const char *kind) {
    return (LogRow){kind, 0, 0, 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
}

int train_log_open(TrainLog *l, const char *path, int64_t keep_bytes, TapError *err) {
    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "%s", path);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (keep_bytes >= 0 && exists && st.st_size > keep_bytes &&
        truncate(path, (off_t)keep_bytes) != 0)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot cut back to %lld bytes: %s", path,
                             (long long)keep_bytes, strerror(errno));
    int fresh = keep_bytes < 0 || !exists || st.st_size == 0;
    l->f = fopen(path, keep_bytes < 0 ? "w" : "a");
    if (!l->f) return tap_error_set(err, TAP_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (fresh && fputs(TRAIN_LOG_HEADER, l->f) == EOF) {
        train_log_close(l);
        return tap_error_set(err, TAP_ERR_IO, "%s: write failed", path);
    }
    return TAP_OK;
}

// %.10g, or "nan" for a missing value.
static void put(FILE *f, double v, int last) {
    if (isnan(v))
        fputs("nan", f);
    else
        fprintf(f, "%.10g", v);
    fputc(last ? '\n' : '\t', f);
}

int train_log_write(TrainLog *l, const LogRow *r, TapError *err) {
    fprintf(l->f, "%s\t%d\t%lld\t%lld\t", r->kind, r->stage, (long long)r->epoch,
            (long long)r->step);
    const double v[] = {r->loss, r->le_bits, r->lc_bits, r->ratio, r->valid_loss,
                        r->wer,  r->exprate, r->score,   r->eps,   r->elapsed};
    const int n = (int)(sizeof v / sizeof v[0]);
    for (int i = 0; i < n; i++) put(l->f, v[i], i == n - 1);
    if (ferror(l->f))
        return tap_error_set(err, TAP_ERR_IO, "%s: write failed (disk full?)", l->path);
    return TAP_OK;
}

int train_log_flush(TrainLog *l, int64_t *bytes, TapError *err) {
    if (fflush(l->f) != 0 || ferror(l->f))
        return tap_error_set(err, TAP_ERR_IO, "%s: write failed (disk full?): %s", l->path,
                             strerror(errno));
    long pos = ftell(l->f);
    if (pos < 0) return tap_error_set(err, TAP_ERR_IO, "%s: cannot tell its length", l->path);
    *bytes = pos;
    return TAP_OK;
}

void train_log_close(TrainLog *l) {
    if (l->f) fclose(l->f);
    l->f = NULL;
}

// ---------------------------------------------------------------------------- progress

void progress_init(Progress *p, int every) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->every = every;
}

static void format_duration(double s, char *buf, size_t len) {
    if (!(s >= 0.0) || s > 1e8) {
        snprintf(buf, len, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

void progress_update(Progress *p, const ProgressInfo *in, int n_expr, double seconds) {
    if (seconds > 0.0) {
        double r = n_expr / seconds;
        p->rate = p->rate > 0.0 ? 0.9 * p->rate + 0.1 * r : r;
    }
    if (p->on_update) p->on_update(p->ctx, in);
    double now = tap_now_seconds();
    int tty = p->tty && !p->on_line;
    int due = tty ? now - p->last_draw >= 0.25 : in->step % p->every == 0;
    if (!due) return;
    p->last_draw = now;
    char eta[32], total[48] = "", line[512];
    format_duration(p->rate > 0.0 ? (double)in->left_in_epoch / p->rate : -1.0, eta, sizeof eta);
    if (in->max_steps > 0) snprintf(total, sizeof total, "/%lld", (long long)in->max_steps);
    snprintf(line, sizeof line,
             "stage %d epoch %lld step %lld%s batch %lld/%lld loss %.4f eps %.0e %.1f expr/s "
             "ETA epoch %s",
             in->stage, (long long)in->epoch, (long long)in->step, total, (long long)in->batch,
             (long long)in->n_batches, in->loss, in->eps, p->rate, eta);
    if (p->on_line) {
        p->on_line(p->ctx, line);
        return;
    }
    fprintf(stderr, "%s%s%s", tty ? "\r" : "", line, tty ? "\033[K" : "\n");
    fflush(stderr);
    p->open_line = tty;
}

void progress_break(Progress *p) {
    if (p->open_line) fputc('\n', stderr);
    p->open_line = 0;
}

void progress_say(Progress *p, const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->on_line) {
        p->on_line(p->ctx, line);
        return;
    }
    progress_break(p);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}
