// tap_api.h over the library rooms: recognition on src/recognize and src/model's beam search,
// training on src/train. Every call owns its decoder, so a recognizer is shared read-only.
#include "tap_api.h"

#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beam.h"
#include "clock.h"
#include "feature.h"
#include "inkml.h"
#include "recognize.h"
#include "tap.h"
#include "train_loop.h"
#include "train_setup.h"
#include "vocab.h"

struct TapRecognizer {
    RecModel m;
    Vocab v;
    int pool; // feature rows per annotation
};

// TapStatus and TAP_API_* happen to differ: map them, and copy the message.
static int fail(const TapError *e, char *err, size_t len) {
    if (err && len) snprintf(err, len, "%s", e->msg);
    switch (e->code) {
    case TAP_OK: return TAP_API_OK;
    case TAP_ERR_IO: return TAP_API_ERR_IO;
    case TAP_ERR_FORMAT: return TAP_API_ERR_FORMAT;
    case TAP_ERR_NOMEM: return TAP_API_ERR_NOMEM;
    case TAP_ERR_NUMERIC: return TAP_API_ERR_NUMERIC;
    default: return TAP_API_ERR_ARG;
    }
}

static int fail_arg(char *err, size_t len, const char *msg) {
    TapError e;
    tap_error_set(&e, TAP_ERR_ARG, "%s", msg);
    return fail(&e, err, len);
}

int tap_recognizer_open(const char *model_path, const char *dict_path, TapRecognizer **out,
                        char *err, size_t err_len) {
    if (!out) return fail_arg(err, err_len, "tap_recognizer_open: out is NULL");
    *out = NULL;
    if (!model_path || !dict_path)
        return fail_arg(err, err_len, "tap_recognizer_open: a model and a dictionary are needed");
    TapRecognizer *r = calloc(1, sizeof *r);
    if (!r) return fail_arg(err, err_len, "out of memory");
    TapError e = {0};
    if (rec_model_load(&r->m, model_path, &e) != TAP_OK ||
        rec_vocab_load(&r->v, dict_path, &r->m.cfg, &e) != TAP_OK) {
        rec_model_free(&r->m);
        free(r);
        return fail(&e, err, err_len);
    }
    r->m.cfg.threads = 1; // parallelism comes from concurrent calls
    r->pool = rec_pool_factor(&r->m.cfg);
    *out = r;
    return TAP_API_OK;
}

void tap_recognizer_close(TapRecognizer *r) {
    if (!r) return;
    rec_model_free(&r->m);
    vocab_free(&r->v);
    free(r);
}

int tap_recognizer_vocab_size(const TapRecognizer *r) { return r ? r->m.cfg.V : 0; }
size_t tap_recognizer_weights(const TapRecognizer *r) { return r ? r->m.table.n : 0; }

void tap_result_free(TapResult *res) {
    if (!res) return;
    for (int h = 0; h < res->n_hyp; h++) {
        TapHypothesis *y = &res->hyp[h];
        for (int i = 0; i < y->n_tokens; i++) free(y->tokens[i]);
        free(y->tokens);
        free(y->latex);
        free(y->stroke_attention);
    }
    free(res->hyp);
    free(res->stroke_token);
    memset(res, 0, sizeof *res);
}

// Copies one ranked hypothesis out of the decoder.
static int take_hypothesis(const TapRecognizer *r, const BeamResult *b, const Features *f,
                           int n_strokes, TapHypothesis *y) {
    memset(y, 0, sizeof *y);
    y->n_tokens = b->n;
    y->score = b->norm_cost;
    y->cost = b->cost;
    y->finished = b->finished;
    y->tokens = calloc((size_t)b->n + 1, sizeof *y->tokens);
    y->stroke_attention = calloc((size_t)b->n * (size_t)n_strokes + 1, sizeof(float));
    if (!y->tokens || !y->stroke_attention) return -1;
    for (int i = 0; i < b->n; i++)
        if (!(y->tokens[i] = strdup(vocab_token(&r->v, b->tokens[i])))) return -1;
    if (!(y->latex = rec_join((const char *const *)y->tokens, b->n))) return -1;
    for (int i = 0; i < b->n; i++) {
        const float *a = b->alphas + (size_t)i * b->S;
        float *row = y->stroke_attention + (size_t)i * n_strokes;
        for (int j = 0; j < f->n_rows; j++) {
            int s = j / r->pool, k = f->stroke[j];
            if (s < b->S && k >= 0 && k < n_strokes) row[k] += a[s] / (float)r->pool;
        }
    }
    return 0;
}

// Decodes prepared features into out.
static int recognize_features(const TapRecognizer *r, const Features *f, int n_strokes,
                              const TapRecognizeOptions *opt, TapResult *out, double t0,
                              char *err, size_t err_len) {
    TapRecognizeOptions o = opt ? *opt : (TapRecognizeOptions){0};
    if (o.beam == 0) o.beam = 10;
    if (o.max_len == 0) o.max_len = 300;
    if (o.n_best == 0) o.n_best = 1;
    if (o.beam < 1 || o.beam > 1000 || o.max_len < 1 || o.max_len > 100000 || o.n_best < 1 ||
        o.n_best > o.beam)
        return fail_arg(err, err_len,
                        "options: beam 1..1000, max_len 1..100000, n_best 1..beam (0: defaults)");
    BeamDecoder d;
    TapError e = {0};
    if (beam_init(&d, &r->m.cfg, &r->m.table, r->m.w, o.beam, o.max_len, &e) != TAP_OK)
        return fail(&e, err, err_len);
    BeamResult b;
    int rc = beam_decode(&d, f->f, f->n_rows, &b, &e);
    if (rc != TAP_OK) {
        beam_free(&d);
        return fail(&e, err, err_len);
    }
    int n = d.n_ends < o.n_best ? d.n_ends : o.n_best;
    out->hyp = calloc((size_t)n, sizeof *out->hyp);
    out->stroke_token = malloc(((size_t)n_strokes + 1) * sizeof *out->stroke_token);
    float *scratch = malloc(((size_t)n_strokes + 1) * sizeof *scratch);
    int bad = !out->hyp || !out->stroke_token || !scratch;
    out->n_strokes = n_strokes;
    out->n_points = f->n_rows;
    for (int h = 0; h < n && !bad; h++) {
        beam_hypothesis(&d, h, &b);
        out->n_hyp = h + 1;
        bad = take_hypothesis(r, &b, f, n_strokes, &out->hyp[h]) != 0;
        if (h == 0 && !bad)
            rec_stroke_tokens(b.alphas, b.n, b.S, r->pool, f->stroke, f->n_rows, n_strokes,
                              scratch, out->stroke_token);
    }
    free(scratch);
    beam_free(&d);
    if (bad) {
        tap_result_free(out);
        return fail_arg(err, err_len, "out of memory");
    }
    out->seconds = tap_now_seconds() - t0;
    return TAP_API_OK;
}

int tap_recognize_strokes(const TapRecognizer *r, int n_strokes, const int *n_points,
                          const double *const *x, const double *const *y,
                          const TapRecognizeOptions *opt, TapResult *out, char *err,
                          size_t err_len) {
    double t0 = tap_now_seconds();
    if (!out) return fail_arg(err, err_len, "tap_recognize_strokes: out is NULL");
    memset(out, 0, sizeof *out);
    if (!r || !n_points || !x || !y)
        return fail_arg(err, err_len, "tap_recognize_strokes: NULL recognizer or strokes");
    if (n_strokes < 1) return fail_arg(err, err_len, "no strokes");
    if (n_strokes > INKML_MAX_POINTS) return fail_arg(err, err_len, "absurd number of strokes");
    long long total = 0;
    char msg[160];
    for (int i = 0; i < n_strokes; i++) {
        if (n_points[i] < 1 || !x[i] || !y[i]) {
            snprintf(msg, sizeof msg, "stroke %d is empty", i);
            return fail_arg(err, err_len, msg);
        }
        total += n_points[i];
        if (total > INKML_MAX_POINTS) {
            snprintf(msg, sizeof msg, "absurd size: more than %d points", INKML_MAX_POINTS);
            return fail_arg(err, err_len, msg);
        }
        for (int k = 0; k < n_points[i]; k++)
            if (!isfinite(x[i][k]) || !isfinite(y[i][k]) || fabs(x[i][k]) > INKML_MAX_COORD ||
                fabs(y[i][k]) > INKML_MAX_COORD) {
                snprintf(msg, sizeof msg, "stroke %d point %d: coordinate not finite or beyond 1e9",
                         i, k);
                return fail_arg(err, err_len, msg);
            }
    }
    int *start = malloc(((size_t)n_strokes + 1) * sizeof *start);
    double *px = malloc((size_t)total * sizeof *px), *py = malloc((size_t)total * sizeof *py);
    if (!start || !px || !py) {
        free(start), free(px), free(py);
        return fail_arg(err, err_len, "out of memory");
    }
    start[0] = 0;
    for (int i = 0; i < n_strokes; i++) {
        memcpy(px + start[i], x[i], (size_t)n_points[i] * sizeof *px);
        memcpy(py + start[i], y[i], (size_t)n_points[i] * sizeof *py);
        start[i + 1] = start[i] + n_points[i];
    }
    Features f;
    TapError e = {0};
    int rc = feature_compute_traces(n_strokes, start, px, py, &f, &e);
    free(start), free(px), free(py);
    if (rc != TAP_OK) return fail(&e, err, err_len);
    rc = recognize_features(r, &f, n_strokes, opt, out, t0, err, err_len);
    feature_free(&f);
    return rc;
}

int tap_recognize_inkml(const TapRecognizer *r, const char *path, const TapRecognizeOptions *opt,
                        TapResult *out, char *err, size_t err_len) {
    double t0 = tap_now_seconds();
    if (!out) return fail_arg(err, err_len, "tap_recognize_inkml: out is NULL");
    memset(out, 0, sizeof *out);
    if (!r || !path) return fail_arg(err, err_len, "tap_recognize_inkml: NULL recognizer or path");
    InkmlDoc doc;
    TapError e = {0};
    if (inkml_load(path, &doc, &e) != TAP_OK) return fail(&e, err, err_len);
    Features f;
    int rc = feature_compute(&doc, &f, &e);
    int n_strokes = doc.n_traces;
    inkml_free(&doc);
    if (rc != TAP_OK) {
        tap_error_prefix(&e, "%s", path);
        return fail(&e, err, err_len);
    }
    rc = recognize_features(r, &f, n_strokes, opt, out, t0, err, err_len);
    feature_free(&f);
    return rc;
}

// ---------------------------------------------------------------------------- training

typedef struct {
    TapTrainCallback cb;
    void *ctx;
    volatile sig_atomic_t stop;
    const Trainer *t;
} TrainCtx;

static void on_line(void *ctx, const char *line) {
    TrainCtx *c = ctx;
    if (!c->cb) return;
    const TrainState *s = &c->t->st;
    TapTrainProgress p = {(int)s->stage, (long long)s->step, (long long)s->epoch, NAN, s->eps, line};
    if (c->cb(c->ctx, &p)) c->stop = 1;
}

static void on_update(void *ctx, const ProgressInfo *in) {
    TrainCtx *c = ctx;
    if (!c->cb) return;
    TapTrainProgress p = {in->stage, (long long)in->step, (long long)in->epoch, in->loss, in->eps,
                          NULL};
    if (c->cb(c->ctx, &p)) c->stop = 1;
}

int tap_train(const char *train_h5, const char *valid_h5, const char *out_dir,
              const char *const *options, int n_options, TapTrainCallback cb, void *ctx,
              char *err, size_t err_len) {
    if (!train_h5 || !valid_h5 || !out_dir || n_options < 0 || (n_options > 0 && !options))
        return fail_arg(err, err_len, "tap_train: NULL paths or options");
    char **argv = calloc((size_t)n_options + 5, sizeof *argv);
    TrainSetup *setup = malloc(sizeof *setup); // large: on the heap, one per call
    Trainer *tr = malloc(sizeof *tr);
    if (!argv || !setup || !tr) {
        free(argv), free(setup), free(tr);
        return fail_arg(err, err_len, "out of memory");
    }
    int argc = 0;
    argv[argc++] = (char *)"train";
    for (int i = 0; i < n_options; i++) {
        if (!options[i] || strncmp(options[i], "--", 2)) {
            free(argv), free(setup), free(tr);
            return fail_arg(err, err_len, "tap_train: options are \"--name=value\" strings");
        }
        argv[argc++] = (char *)options[i];
    }
    argv[argc++] = (char *)train_h5;
    argv[argc++] = (char *)valid_h5;
    argv[argc++] = (char *)out_dir;
    char msg[1024];
    train_setup_init(setup);
    FILE *devnull = fopen("/dev/null", "w");
    int rc = train_setup_parse(setup, argc, argv, devnull ? devnull : stderr, msg, sizeof msg);
    if (devnull) fclose(devnull);
    free(argv);
    if (rc != TRAIN_SETUP_OK) {
        train_setup_free(setup);
        free(tr), free(setup);
        fail_arg(err, err_len, rc == TRAIN_SETUP_HELP ? "--help: nothing to run" : msg);
        return rc == TRAIN_SETUP_ERROR ? TAP_API_ERR_IO : TAP_API_ERR_ARG;
    }
    openblas_set_num_threads(setup->threads);
    TrainCtx c = {.cb = cb, .ctx = ctx, .t = tr};
    TapError e = {0};
    rc = trainer_init(tr, &setup->o, &setup->plan, setup->pos[0], setup->pos[1], setup->pos[2],
                      setup->config_text, &c.stop, setup->threads, &e);
    int status = TAP_API_OK;
    if (rc == TAP_OK) {
        tr->prog.on_line = on_line;
        tr->prog.on_update = on_update;
        tr->prog.ctx = &c;
        rc = trainer_run(tr, &e);
        if (rc == TRAIN_INTERRUPTED) {
            snprintf(err ? err : msg, err ? err_len : sizeof msg,
                     "stopped by the callback at update %lld; %s holds the state (--resume)",
                     (long long)tr->st.step, tr->path_last);
            status = TAP_API_ERR_STOPPED;
        } else if (rc < 0) {
            status = fail(&e, err, err_len);
        }
    } else {
        status = fail(&e, err, err_len);
    }
    trainer_free(tr);
    train_setup_free(setup);
    free(tr), free(setup);
    return status;
}
