// The training loop (see train_loop.h). The loop is a small state machine whose state is all in
// TrainState: between two updates it may end an epoch (log, reshuffle), run a due validation
// (best model, patience, eps decay, stage change) or stop; last.h5 is written only at those
// points, so what it holds is always a state the loop can continue from.
#include "train_loop.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "loss.h"
#include "mdl.h"
#include "train_mpi.h"
#include "train_valid.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "batch orders are stored as int32");

static uint64_t data_seed(int seed) { return (uint64_t)(uint32_t)seed ^ 0x9E3779B97F4A7C15ull; }

// The variational configuration of a stage: stage 1 is "ml" (plain Adadelta on the weights).
static void var_config(const Trainer *t, int stage, VarConfig *vc) {
    const TrainOptions *o = t->opt;
    variational_config_default(vc, stage == 1 ? VAR_ML : t->plan.kind2);
    vc->coeff = o->model_cost;
    vc->n_train = o->n_train > 0.0 ? o->n_train : 2.0 * t->tb.n_kept;
    vc->clip_c = (float)o->clip;
    vc->sigma_init = (float)o->sigma_init;
    vc->sigma = (float)o->sigma;
    vc->prior_var = (float)o->prior_var;
    vc->prior_b = (float)o->prior_b;
    OptimKind kind = (OptimKind)optimizer_kind_parse(o->optimizer);
    if (kind != OPTIM_ADADELTA) { // sgd and adam keep their step size in lr, eps is adam's own
        optimizer_config_default(&vc->opt_mu, kind);
        optimizer_config_default(&vc->opt_ls2, kind);
        if (o->lr > 0.0) vc->opt_mu.lr = vc->opt_ls2.lr = o->lr;
    }
    vc->opt_mu.rho = vc->opt_ls2.rho = o->rho;
    if (kind == OPTIM_ADADELTA) {
        vc->opt_mu.eps = o->eps;
        vc->opt_ls2.eps = o->eps_ls2 > 0.0 ? o->eps_ls2 : o->eps;
    }
    vc->seed = (uint64_t)(uint32_t)o->seed * 4 + (uint64_t)stage;
    vc->per_sequence = stage == 2 && o->per_sequence;
}

// The rate that patience divides by 10 (TAP's "lrate"): Adadelta's eps, or the learning rate
// of sgd and adam. For Adadelta, ls2's eps keeps its ratio to mu's through the decays: one step
// of ln(sigma^2) is about 2048 sqrt(eps) sqrt(1/(1-rho)) at first, 9 with eps 1e-6: --eps-ls2.
static void set_eps(Trainer *t, double eps) {
    const TrainOptions *o = t->opt;
    if (t->var.opt_mu.cfg.kind != OPTIM_ADADELTA) {
        t->var.opt_mu.cfg.lr = t->var.opt_ls2.cfg.lr = eps;
        return;
    }
    t->var.opt_mu.cfg.eps = eps;
    t->var.opt_ls2.cfg.eps = o->eps_ls2 > 0.0 ? eps * (o->eps_ls2 / o->eps) : eps;
}

// The first value of that rate.
static double first_rate(const Trainer *t) {
    const Optimizer *m = &t->var.opt_mu;
    return m->cfg.kind == OPTIM_ADADELTA ? t->opt->eps : m->cfg.lr;
}

static double elapsed(const Trainer *t) { return t->elapsed0 + tap_now_seconds() - t->t_start; }

static int save_last(Trainer *t, TapError *err) {
    TrainState *s = &t->st;
    memcpy(s->data_rng, t->data_rng.s, sizeof s->data_rng);
    s->elapsed = elapsed(t);
    int rc = train_log_flush(&t->log, &s->log_bytes, err);
    if (!rc) rc = train_mpi_same_weights(t->var.mu, t->model.table.n, (long long)s->step, err);
    if (!rc && train_mpi_rank() == 0) // with MPI rank 0 writes, the others learn how it went
        rc = train_state_save(t->path_last, &t->model.cfg, &t->model.table, &t->var, t->best_mu, s,
                              (const int32_t *)t->tb.order, t->config_text,
                              (const char *const *)t->train.vocab, t->opt->debug_save_delay_ms,
                              err);
    rc = train_mpi_agree(rc, err);
    if (rc) return tap_error_prefix(err, "saving the training state");
    t->last_save = tap_now_seconds();
    t->saved_step = s->step;
    return TAP_OK;
}

// The text stored with weights-only checkpoints: the options and what the weights scored.
static char *weights_text(const Trainer *t, const char *what) {
    size_t len = strlen(t->config_text) + 512;
    char *s = malloc(len);
    if (s)
        snprintf(s, len,
                 "%s# %s: stage %lld, update %lld, epoch %lld, %s %.4f, WER %.4f, ExpRate %.4f\n",
                 t->config_text, what, (long long)t->st.stage, (long long)t->st.best_step,
                 (long long)t->st.epoch, train_criterion_name(t->plan.crit[t->st.stage - 1]),
                 t->st.best_score, t->st.best_wer, t->st.best_exprate);
    return s;
}

static int save_weights(Trainer *t, const char *path, const float *w, const char *what,
                        TapError *err) {
    char *text = weights_text(t, what);
    if (!text) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    int rc = train_mpi_rank() ? TAP_OK
                              : train_weights_save(path, &t->model.cfg, &t->model.table, w,
                                                   t->st.step, t->st.epoch, text,
                                                   (const char *const *)t->train.vocab, err);
    free(text);
    return train_mpi_agree(rc, err);
}

// ---------------------------------------------------------------------------- one update

static int non_finite(Trainer *t, const char *what, const int *idx, int nb, TapError *err) {
    char uids[300] = "";
    size_t used = 0;
    for (int k = 0; k < nb && used < sizeof uids - 1; k++)
        used += (size_t)snprintf(uids + used, sizeof uids - used, "%s%s", k ? " " : "",
                                 t->train.uids[idx[k]]);
    return tap_error_set(
        err, TAP_ERR_NUMERIC,
        "non-finite %s at update %lld (stage %lld, epoch %lld, batch %lld/%d; uids: "
        "%s); stopped: %s holds the last good state (update %lld)",
        what, (long long)t->st.step + 1, (long long)t->st.stage, (long long)t->st.epoch,
        (long long)t->st.cursor + 1, t->tb.n_batches, uids, t->path_last, (long long)t->saved_step);
}

// One replica's share of an update: pad, forward, backward (into that replica's g).
typedef struct {
    TapModel *m;
    Batch *bt;
    const Dataset *ds;
    const int *idx;
    int n, poison, rc;
    const AugmentConfig *aug; // NULL: the ink as stored
    uint64_t aug_key;         // the update number: what the augmentation draws depend on
    double *cost; // (n) per-sequence costs
    double *nll;  // (n) per-sequence label NLL: the cost without attention guidance
    double mean;
    TapError err;
    int no_guidance; // the data has no stroke alignments: no guidance term at all
} Share;

static void *share_run(void *arg) {
    Share *sh = arg;
    batch_fill(sh->bt, sh->ds, sh->idx, sh->n);
    if (sh->aug) batch_augment(sh->bt, sh->ds, sh->aug, sh->aug_key);
    Batch *bt = sh->bt;
    if (sh->poison) bt->x[0] = NAN;
    ModelBatch b = {bt->Tx, bt->Ty, bt->B, bt->x, bt->x_mask, bt->y, bt->y_mask, bt->a, bt->a_mask};
    if (sh->no_guidance) b.a = b.a_mask = NULL;
    sh->rc = model_loss(sh->m, &b, sh->cost, &sh->mean, &sh->err);
    if (sh->rc) return NULL;
    // L^E codes the labels: the guidance term is not part of it.
    memcpy(sh->nll, sh->m->nll, (size_t)b.B * sizeof *sh->nll);
    model_backward(sh->m);
    return NULL;
}

// Runs shares 0..R-1 on their replicas, share 0 on this thread.
static void run_shares(Share *sh, int R) {
    pthread_t tid[TRAIN_MAX_REPLICAS];
    int started[TRAIN_MAX_REPLICAS] = {0};
    for (int k = 1; k < R; k++) started[k] = pthread_create(&tid[k], NULL, share_run, &sh[k]) == 0;
    share_run(&sh[0]);
    for (int k = 1; k < R; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            share_run(&sh[k]); // no thread: same result, later
    }
}

static Share share_of(Trainer *t, int k, const int *idx, int lo, int hi, int poison) {
    const AugmentConfig *aug = augment_enabled(&t->aug) ? &t->aug : NULL;
    return (Share){k ? &t->reps[k - 1] : &t->model,
                   t->n_rep > 1 ? &t->parts[k] : &t->bt,
                   &t->train,
                   idx + lo,
                   hi - lo,
                   poison,
                   0,
                   aug,
                   (uint64_t)t->st.step,
                   t->cost + lo,
                   t->nll + lo,
                   0.0,
                   {0, ""},
                   t->no_guidance};
}

// Forward and backward of batch idx[0..nb) at the weights in t->model.w, on R replicas; the
// batch-mean gradient ends in t->model.g, the costs in t->cost and the label NLLs in t->nll.
static int forward_backward(Trainer *t, const int *idx, int nb, int poison, double *mean,
                            TapError *err) {
    int R = t->n_rep < nb ? t->n_rep : nb;
    if (R < 1) R = 1;
    Share sh[TRAIN_MAX_REPLICAS];
    for (int k = 0; k < R; k++) {
        if (k) memcpy(t->reps[k - 1].w, t->model.w, t->model.table.n * sizeof *t->model.w);
        sh[k] = share_of(t, k, idx, k * nb / R, (k + 1) * nb / R, poison && !k);
    }
    if (R == 1) sh[0].bt = &t->bt;
    run_shares(sh, R);
    *mean = 0.0;
    for (int k = 0; k < R; k++) {
        if (sh[k].rc) {
            *err = sh[k].err;
            return sh[k].rc;
        }
        *mean += sh[k].mean * sh[k].n / nb;
    }
    if (R > 1) {
        // g = sum_k (n_k / nb) g_k: each replica's g is the mean over its own share.
        float wk[TRAIN_MAX_REPLICAS];
        const float *gk[TRAIN_MAX_REPLICAS];
        for (int k = 0; k < R; k++) {
            wk[k] = (float)sh[k].n / (float)nb;
            gk[k] = k ? t->reps[k - 1].g : t->model.g;
        }
        float *g = t->model.g;
        for (size_t i = 0; i < t->model.table.n; i++) {
            float acc = wk[0] * g[i];
            for (int k = 1; k < R; k++) acc += wk[k] * gk[k][i];
            g[i] = acc;
        }
    }
    return TAP_OK;
}

// --per-sequence (Graves' form of stage 2): every sequence of the batch gets its own noise draw
// and its own forward and backward pass, and the curvature term is the mean of the squared
// per-sequence gradients (variational_accumulate) instead of the square of the batch mean.
// Sequences run R at a time on the replicas, drawn in sequence order, so the result does not
// depend on the number of replicas. With MPI this rank runs sequences [lo, hi) and draws (and
// drops) the noise of the others, so every rank's noise stream stays the one-process stream.
static int per_sequence_pass(Trainer *t, const int *idx, int nb, int lo, int hi, int poison,
                             double *mean, TapError *err) {
    int R = t->n_rep < hi - lo ? t->n_rep : hi - lo;
    if (R < 1) R = 1;
    *mean = 0.0;
    for (int j = 0; j < lo; j++) variational_sample(&t->var, t->model.w);
    for (int base = lo; base < hi; base += R) {
        int cnt = hi - base < R ? hi - base : R;
        Share sh[TRAIN_MAX_REPLICAS];
        for (int k = 0; k < cnt; k++) {
            sh[k] = share_of(t, k, idx, base + k, base + k + 1, poison && base + k == 0);
            if (R == 1) sh[k].bt = &t->bt;
            variational_sample(&t->var, sh[k].m->w);
        }
        run_shares(sh, cnt);
        for (int k = 0; k < cnt; k++) {
            if (sh[k].rc) {
                *err = sh[k].err;
                return sh[k].rc;
            }
            *mean += sh[k].mean / nb;
            variational_accumulate(&t->var, sh[k].m->g, 1.0f / (float)nb);
        }
    }
    for (int j = hi; j < nb; j++) variational_sample(&t->var, t->model.w);
    return TAP_OK;
}

static int train_step(Trainer *t, TapError *err) {
    TrainState *s = &t->st;
    double t0 = tap_now_seconds();
    int nb;
    const int *idx = batcher_batch(&t->tb, (int)s->cursor, &nb);
    int poison = t->opt->debug_nan_step > 0 && s->step + 1 == t->opt->debug_nan_step;
    int per_seq = t->var.cfg.per_sequence;
    double mean = 0.0;
    int lo, hi; // this rank's share of the batch (all of it without MPI)
    train_mpi_share(nb, &lo, &hi);
    if (!per_seq) variational_sample(&t->var, t->model.w);
    int rc = per_seq    ? per_sequence_pass(t, idx, nb, lo, hi, poison, &mean, err)
             : hi > lo ? forward_backward(t, idx + lo, hi - lo, poison, &mean, err)
                        : TAP_OK;
    rc = train_mpi_reduce_update(t, per_seq, lo, hi, nb, &mean, rc, err);
    if (rc == TAP_ERR_NUMERIC) return non_finite(t, "loss", idx, nb, err);
    if (rc) return tap_error_prefix(err, "update %lld", (long long)s->step + 1);
    rc = variational_step(&t->var, per_seq ? NULL : t->model.g, NULL, err);
    if (rc == TAP_ERR_NUMERIC) return non_finite(t, "gradient", idx, nb, err);
    if (rc) return rc;
    s->step++;
    s->cursor++;
    long tokens = 0;
    double nats = 0.0;
    for (int k = 0; k < nb; k++) {
        tokens += dataset_len_y(&t->train, idx[k]) + 1;
        nats += t->nll[k];
    }
    mdl_add(&s->mdl, nats, nb, tokens);
    s->epoch_loss += mean;
    s->epoch_batches++;
    s->window_loss += mean;
    s->window_n++;
    if (s->window_n >= t->opt->log_every) {
        LogRow r = log_row_empty("train");
        r.stage = (int)s->stage, r.epoch = s->epoch, r.step = s->step;
        r.loss = s->window_loss / (double)s->window_n;
        r.eps = s->eps, r.elapsed = elapsed(t);
        s->window_loss = 0.0;
        s->window_n = 0;
        if ((rc = train_log_write(&t->log, &r, err))) return rc;
    }
    int64_t left = 0;
    for (int i = (int)s->cursor; i < t->tb.n_batches; i++) {
        int n;
        batcher_batch(&t->tb, i, &n);
        left += n;
    }
    ProgressInfo pi = {(int)s->stage, s->epoch,        s->step, t->opt->max_steps,
                       s->cursor,     t->tb.n_batches, left,    mean,
                       s->eps};
    progress_update(&t->prog, &pi, nb, tap_now_seconds() - t0);
    return TAP_OK;
}

// ---------------------------------------------------------------------------- epochs, stages

static int end_epoch(Trainer *t, TapError *err) {
    TrainState *s = &t->st;
    MdlReport rep;
    mdl_report(&s->mdl, variational_model_cost(&t->var), t->model.cfg.V, t->model.table.n, &rep);
    LogRow r = log_row_empty("epoch");
    r.stage = (int)s->stage, r.epoch = s->epoch, r.step = s->step;
    r.loss = s->epoch_batches ? s->epoch_loss / (double)s->epoch_batches : (double)NAN;
    r.le_bits = rep.error_bits, r.lc_bits = rep.model_bits, r.ratio = rep.ratio;
    r.eps = s->eps, r.elapsed = elapsed(t);
    int rc = train_log_write(&t->log, &r, err);
    if (rc) return rc;
    progress_say(&t->prog,
                 "epoch %lld done (stage %lld, update %lld): mean loss %.4f, L^E %.4g bits, "
                 "L^C %.4g bits, compression ratio %.4f",
                 (long long)s->epoch, (long long)s->stage, (long long)s->step, r.loss, r.le_bits,
                 r.lc_bits, r.ratio);
    s->epoch++;
    s->cursor = 0;
    mdl_reset(&s->mdl);
    s->epoch_loss = 0.0;
    s->epoch_batches = 0;
    batcher_shuffle(&t->tb, &t->data_rng);
    if (t->opt->valid_every == 0) s->valid_pending = 1;
    return TAP_OK;
}

// Patience ran out for good: stage 1 hands its best weights to stage 2, or the run is over.
static int end_stage(Trainer *t, TapError *err) {
    TrainState *s = &t->st;
    const float *w = s->have_best ? t->best_mu : t->var.mu;
    if (s->stage == 1) {
        int rc = save_weights(t, t->path_best1, w, "best of stage 1", err);
        if (rc) return rc;
        s->stage1_done = 1;
        if (t->plan.last_stage == 2) {
            VarConfig vc;
            var_config(t, 2, &vc);
            Variational next;
            if ((rc = variational_init(&next, &vc, w, t->model.table.n, err))) return rc;
            progress_say(&t->prog,
                         "stage 1 over at update %lld (best %s %.4f at update %lld); "
                         "stage 2 (%s) starts from those weights",
                         (long long)s->step, train_criterion_name(t->plan.crit[0]), s->best_score,
                         (long long)s->best_step, variational_kind_name(vc.kind));
            variational_free(&t->var);
            t->var = next;
            s->stage = 2;
            s->eps = first_rate(t);
            s->decays = s->bad = s->n_valid = s->have_best = s->best_step = 0;
            s->best_score = s->best_wer = s->best_exprate = 0.0;
            snprintf(s->var_kind, sizeof s->var_kind, "%s", variational_kind_name(vc.kind));
            return TAP_OK;
        }
    }
    progress_say(&t->prog,
                 "stage %lld over at update %lld: best %s %.4f (WER %.2f%%, ExpRate %.2f%%) "
                 "at update %lld",
                 (long long)s->stage, (long long)s->step,
                 train_criterion_name(t->plan.crit[s->stage - 1]), s->best_score, s->best_wer,
                 s->best_exprate, (long long)s->best_step);
    s->finished = 1;
    return TAP_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// --keep-valid K: OUT_DIR/valid/s<stage>-u<update>.h5 holds the weights of every validation;
// the oldest beyond the last K are removed (names sort by stage, then update).
static int keep_validated(Trainer *t, double wer, double exprate, TapError *err) {
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/valid", t->out_dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/s%lld-u%010lld.h5", dir, (long long)t->st.stage,
             (long long)t->st.step);
    size_t len = strlen(t->config_text) + 256;
    char *text = malloc(len);
    if (!text) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    snprintf(text, len, "%s# validated: stage %lld, update %lld, epoch %lld, WER %.4f, ExpRate %.4f\n",
             t->config_text, (long long)t->st.stage, (long long)t->st.step, (long long)t->st.epoch,
             wer, exprate);
    int rc = train_weights_save(path, &t->model.cfg, &t->model.table, variational_mean(&t->var),
                                t->st.step, t->st.epoch, text,
                                (const char *const *)t->train.vocab, err);
    free(text);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d) return TAP_OK;
    char *names[4096];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 4096;) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == 's' && l > 3 && !strcmp(e->d_name + l - 3, ".h5") &&
            (names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_name);
    for (int i = 0; i < n; i++) {
        if (i < n - t->opt->keep_valid) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
        free(names[i]);
    }
    return TAP_OK;
}

static int validate(Trainer *t, int *interrupted, TapError *err) {
    TrainState *s = &t->st;
    const TrainOptions *o = t->opt;
    *interrupted = 0;
    memcpy(t->model.w, variational_mean(&t->var), t->model.table.n * sizeof *t->model.w);
    ValidOptions vo = {o->valid_beam, o->valid_maxlen, t->threads, t->blas_threads, t->stop};
    ValidResult r;
    int rc = train_mpi_valid_run(&t->model, &t->valid_view, &t->vb, &t->bt, &vo, &r, err);
    if (rc || r.interrupted) {
        *interrupted = r.interrupted;
        valid_result_free(&r);
        return rc ? tap_error_prefix(err, "validation") : TAP_OK;
    }
    double score = train_score(t->plan.crit[s->stage - 1], o->mix_wer, r.wer, r.exprate, r.loss);
    s->n_valid++;
    // TAP: a validation at least as good as every earlier one is the new best.
    int improved = !isnan(score) && (!s->have_best || score <= s->best_score), stage_over = 0;
    if (improved) {
        s->have_best = 1;
        s->best_score = score, s->best_wer = r.wer, s->best_exprate = r.exprate;
        s->best_step = s->step;
        s->bad = 0;
        memcpy(t->best_mu, variational_mean(&t->var), t->model.table.n * sizeof *t->best_mu);
        rc = save_weights(t, t->path_best, t->best_mu, "best", err);
    } else if (++s->bad > o->patience) {
        // TAP: divide eps by 10 and restart the patience, eps_decays times, then stop.
        if (s->decays < (s->stage == 1 ? o->eps_decays : o->eps_decays2)) {
            s->decays++;
            s->bad = 0;
            s->eps /= 10.0;
            set_eps(t, s->eps);
        } else {
            stage_over = 1;
        }
    }
    if (!rc) {
        LogRow row = log_row_empty("valid");
        row.stage = (int)s->stage, row.epoch = s->epoch, row.step = s->step;
        row.valid_loss = r.loss, row.wer = r.wer, row.exprate = r.exprate, row.score = score;
        row.eps = s->eps, row.elapsed = elapsed(t);
        rc = train_log_write(&t->log, &row, err);
    }
    if (!rc && !train_mpi_rank()) rc = valid_write_hyps(t->path_hyp, &t->valid_view, &r, err);
    if (!rc && o->keep_valid > 0 && !train_mpi_rank())
        rc = keep_validated(t, r.wer, r.exprate, err);
    rc = train_mpi_agree(rc, err);
    if (!rc)
        progress_say(&t->prog,
                     "validation %lld of stage %lld at update %lld: loss %.4f (label NLL %.4f) WER %.2f%% "
                     "ExpRate %.2f%% %s %.4f%s (best %.4f at update %lld, %lld/%d bad, eps %.0e) "
                     "[%ld expressions, %.1fs]",
                     (long long)s->n_valid, (long long)s->stage, (long long)s->step, r.loss, r.nll, r.wer,
                     r.exprate, train_criterion_name(t->plan.crit[s->stage - 1]), score,
                     improved ? " *" : "", s->best_score, (long long)s->best_step,
                     (long long)s->bad, o->patience, s->eps, r.n, r.seconds);
    VarSigmaStats ss;
    variational_sigma_stats(&t->var, &ss);
    if (!rc && ss.has_sigma) // what the weight noise does: for the stage-2 analysis
        progress_say(&t->prog,
                     "  sigma: mean %.3g, median %.3g, range [%.3g, %.3g]; sigma > |mu| for "
                     "%.2f%% of the weights; prior mean %.3g, variance %.3g",
                     ss.mean_sigma, ss.median_sigma, ss.min_sigma, ss.max_sigma,
                     100.0 * ss.snr_below_1, t->var.prior.mean, t->var.prior.scale);
    valid_result_free(&r);
    if (rc) return rc;
    s->valid_pending = 0;
    if (stage_over && (rc = end_stage(t, err))) return rc;
    return save_last(t, err);
}

int trainer_run(Trainer *t, TapError *err) {
    TrainState *s = &t->st;
    const TrainOptions *o = t->opt;
    if (s->finished) {
        progress_say(&t->prog, "this run has already finished (stage %lld, update %lld)",
                     (long long)s->stage, (long long)s->step);
        return TRAIN_DONE;
    }
    int rc;
    for (;;) {
        if (train_mpi_any(*t->stop)) break; // with MPI: a signal on any rank stops them all
        if (s->cursor >= t->tb.n_batches && (rc = end_epoch(t, err))) return rc;
        if (s->valid_pending) {
            int interrupted;
            if ((rc = validate(t, &interrupted, err))) return rc;
            if (interrupted) break;
            if (s->finished) return TRAIN_DONE;
        }
        int out_of_time = // clock decisions are rank 0's under MPI
            train_mpi_root(o->max_minutes > 0 && elapsed(t) >= 60.0 * o->max_minutes);
        if (s->epoch >= o->max_epochs || (o->max_steps > 0 && s->step >= o->max_steps) ||
            out_of_time) {
            progress_say(&t->prog, "stopping at update %lld, epoch %lld (--max-%s)",
                         (long long)s->step, (long long)s->epoch,
                         out_of_time                  ? "minutes"
                         : s->epoch >= o->max_epochs ? "epochs"
                                                     : "steps");
            if ((rc = save_last(t, err))) return rc;
            return TRAIN_DONE;
        }
        if ((rc = train_step(t, err))) {
            progress_break(&t->prog);
            return rc;
        }
        if (o->valid_every > 0 && s->step % o->valid_every == 0) s->valid_pending = 1;
        if (train_mpi_root(tap_now_seconds() - t->last_save >= 60.0 * o->checkpoint_minutes) &&
            (rc = save_last(t, err)))
            return rc;
    }
    progress_say(&t->prog, "interrupted at update %lld: saving %s", (long long)s->step,
                 t->path_last);
    if ((rc = save_last(t, err))) return rc;
    return TRAIN_INTERRUPTED;
}

// ---------------------------------------------------------------------------- set up

static int same_vocab(const Dataset *a, const Dataset *b) {
    if (a->V != b->V) return 0;
    for (int i = 0; i < a->V; i++)
        if (strcmp(a->vocab[i], b->vocab[i])) return 0;
    return 1;
}

static int max3(int a, int b, int c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

int trainer_init(Trainer *t, const TrainOptions *opt, const TrainPlan *plan, const char *train_path,
                 const char *valid_path, const char *out_dir, const char *config_text,
                 const volatile sig_atomic_t *stop, int threads, TapError *err) {
    memset(t, 0, sizeof *t);
    t->opt = opt;
    t->plan = *plan;
    if (opt->augment)
        t->aug = (AugmentConfig){opt->aug_rotate, opt->aug_shear, opt->aug_aspect, opt->aug_jitter,
                                 (uint64_t)opt->seed};
    t->train_path = train_path, t->valid_path = valid_path, t->out_dir = out_dir;
    t->config_text = config_text;
    t->stop = stop;
    t->threads = threads;
    progress_init(&t->prog, opt->progress_every);
    train_mpi_attach(t);
    t->t_start = t->last_save = tap_now_seconds();
    snprintf(t->path_last, sizeof t->path_last, "%s/last.h5", out_dir);
    snprintf(t->path_best, sizeof t->path_best, "%s/best.h5", out_dir);
    snprintf(t->path_best1, sizeof t->path_best1, "%s/best_stage1.h5", out_dir);
    snprintf(t->path_log, sizeof t->path_log, "%s/train.tsv", out_dir);
    snprintf(t->path_hyp, sizeof t->path_hyp, "%s/valid_hyp.txt", out_dir);
    int rc;
    if ((rc = dataset_load(train_path, &t->train, err)) ||
        (rc = dataset_load(valid_path, &t->valid, err)))
        return rc;
    if (!same_vocab(&t->train, &t->valid))
        return tap_error_set(err, TAP_ERR_FORMAT, "%s and %s have different vocabularies",
                             train_path, valid_path);
    if (t->valid.n == 0)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: no expressions", valid_path);
    t->plan.model.V = t->train.V;
    // The guidance term's targets are stroke alignments, which come from a symbol segmentation
    // (CROHME's traceGroups). A training set without any (MathWriting) trains without it.
    int aligned = 0;
    for (int i = 0; i < t->train.n; i++)
        aligned += dataset_has_align(&t->train, i);
    if (aligned == 0) {
        progress_say(&t->prog,
                     "%s has no stroke alignments (no symbol segmentation, e.g. MathWriting): "
                     "training without the attention-guidance term (gamma %g -> 0)",
                     train_path, (double)t->plan.model.gamma);
        t->plan.model.gamma = 0.0f;
        t->no_guidance = 1;
    } else if (aligned < t->train.n && t->plan.model.gamma != 0.0f) {
        progress_say(&t->prog,
                     "%d of the %d training expressions have stroke alignments: the "
                     "attention guidance (gamma %g) applies to those only",
                     aligned, t->train.n, (double)t->plan.model.gamma);
    }
    t->valid_view = t->valid;
    if (opt->valid_limit > 0 && opt->valid_limit < t->valid.n) t->valid_view.n = opt->valid_limit;
    if ((rc = batcher_init(&t->tb, &t->train, opt->batch_size, opt->maxlen, err)) ||
        (rc = batcher_init(&t->vb, &t->valid_view, opt->batch_size, opt->maxlen, err)))
        return rc;
    if (t->tb.n_batches == 0)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: no expression is shorter than --maxlen %d",
                             train_path, opt->maxlen);
    // Decoding pads one frame; the model's arena covers every training and validation batch.
    int max_B = t->tb.max_B > t->vb.max_B ? t->tb.max_B : t->vb.max_B;
    int max_T = max3(t->tb.max_Tx, t->vb.max_Tx, 1), max_L = max3(t->tb.max_Ty, t->vb.max_Ty, 1);
    if ((rc = batch_init(&t->bt, max_B, max_T, max_L, err)) ||
        (rc = model_init(&t->model, &t->plan.model, max_T, max_L, max_B,
                         (uint64_t)(uint32_t)opt->seed, err)))
        return rc;
    t->n_rep = threads < opt->batch_size ? threads : opt->batch_size;
    if (t->n_rep > TRAIN_MAX_REPLICAS) t->n_rep = TRAIN_MAX_REPLICAS;
    if (t->n_rep < 1) t->n_rep = 1;
    t->blas_threads = t->n_rep > 1 ? 1 : threads;
    openblas_set_num_threads(t->blas_threads);
    t->model.cfg.threads = t->n_rep > 1 ? 1 : threads; // replicas own the cores, else directions
    if (t->n_rep > 1) {
        int share_B = (t->tb.max_B + t->n_rep - 1) / t->n_rep;
        for (int k = 0; k < t->n_rep; k++)
            if ((rc = batch_init(&t->parts[k], share_B, t->tb.max_Tx, t->tb.max_Ty, err)))
                return rc;
        for (int k = 1; k < t->n_rep; k++)
            if ((rc = model_init(&t->reps[k - 1], &t->plan.model, t->tb.max_Tx, t->tb.max_Ty,
                                 share_B, (uint64_t)(uint32_t)opt->seed, err)))
                return rc;
    }
    size_t n = t->model.table.n;
    t->best_mu = calloc(n, sizeof *t->best_mu);
    t->cost = calloc((size_t)max_B, sizeof *t->cost);
    t->nll = calloc((size_t)max_B, sizeof *t->nll);
    if (!t->best_mu || !t->cost || !t->nll)
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (!train_mpi_rank() && stat(out_dir, &sb) != 0 && mkdir(out_dir, 0777) != 0)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot create the output directory: %s", out_dir,
                             strerror(errno));
    TrainState *s = &t->st;
    VarConfig vc;
    if (opt->resume) {
        if ((rc = train_state_peek(t->path_last, s, NULL, 0, err))) return rc;
        var_config(t, (int)s->stage, &vc);
        if (strcmp(s->var_kind, variational_kind_name(vc.kind)))
            return tap_error_set(err, TAP_ERR_ARG, "%s is in stage %lld with %s, not %s",
                                 t->path_last, (long long)s->stage, s->var_kind,
                                 variational_kind_name(vc.kind));
        if ((rc = variational_init(&t->var, &vc, t->model.w, n, err))) return rc;
        t->var_ready = 1;
        if ((rc = train_state_load(t->path_last, &t->model.cfg, &t->model.table, &t->var,
                                   t->best_mu, s, (int32_t *)t->tb.order, t->tb.n_batches, err)))
            return rc;
        set_eps(t, s->eps);
        t->elapsed0 = s->elapsed;
        memcpy(t->data_rng.s, s->data_rng, sizeof t->data_rng.s);
        t->saved_step = s->step;
        return train_mpi_log_open(&t->log, t->path_log, s->log_bytes, err);
    }
    if (opt->init && *opt->init) {
        CheckpointRole role = {"params", t->model.w, CHECKPOINT_F32};
        if ((rc = checkpoint_load(opt->init, &t->model.cfg, &t->model.table, &role, 1, NULL, err)))
            return tap_error_prefix(err, "--init");
        // Same V is not enough: the ids must name the same tokens (older checkpoints carry no
        // vocabulary and are taken as they are).
        int same = checkpoint_vocab_matches(opt->init, (const char *const *)t->train.vocab,
                                            t->train.V, err);
        if (same < 0) return tap_error_prefix(err, "--init");
        if (!same)
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "--init: %s was trained with another vocabulary than %s's",
                                 opt->init, train_path);
    }
    s->stage = plan->first_stage;
    var_config(t, (int)s->stage, &vc);
    if ((rc = variational_init(&t->var, &vc, t->model.w, n, err))) return rc;
    t->var_ready = 1;
    s->eps = first_rate(t);
    s->n_batches = t->tb.n_batches;
    snprintf(s->var_kind, sizeof s->var_kind, "%s", variational_kind_name(vc.kind));
    rng_seed(&t->data_rng, data_seed(opt->seed));
    batcher_shuffle(&t->tb, &t->data_rng);
    if ((rc = train_mpi_log_open(&t->log, t->path_log, -1, err))) return rc;
    return save_last(t, err);
}

size_t trainer_memory_bytes(const Trainer *t) {
    size_t b = model_memory_bytes(&t->model);
    for (int k = 1; k < t->n_rep; k++) b += model_memory_bytes(&t->reps[k - 1]);
    return b;
}

void trainer_free(Trainer *t) {
    train_log_close(&t->log);
    if (t->var_ready) variational_free(&t->var);
    model_free(&t->model);
    batch_free(&t->bt);
    for (int k = 0; k < TRAIN_MAX_REPLICAS; k++) batch_free(&t->parts[k]);
    for (int k = 0; k < TRAIN_MAX_REPLICAS - 1; k++) model_free(&t->reps[k]);
    batcher_free(&t->tb);
    batcher_free(&t->vb);
    dataset_free(&t->train);
    dataset_free(&t->valid);
    free(t->best_mu);
    free(t->cost);
    free(t->nll);
    memset(t, 0, sizeof *t);
}
