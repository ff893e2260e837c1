// tap_api.h over the library rooms: recognition on src/recognize and src/model's beam search,
// training on src/train. Every call owns its decoder (a TapDecoder, or one built for the call),
// so a recognizer is shared read-only.
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
#include "render.h"
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
    if (!model_path) return fail_arg(err, err_len, "tap_recognizer_open: a model is needed");
    TapRecognizer *r = calloc(1, sizeof *r);
    if (!r) return fail_arg(err, err_len, "out of memory");
    TapError e = {0};
    if (rec_model_load(&r->m, model_path, &e) != TAP_OK ||
        rec_model_vocab(&r->v, model_path, dict_path, &r->m.cfg, &e) != TAP_OK) {
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

struct TapDecoder {
    const TapRecognizer *r;
    BeamDecoder d;
    int built; // d holds a decoder for beam x max_len
    int beam, max_len;
};

// The options with their defaults filled in, checked.
static int resolve_options(const TapRecognizeOptions *opt, TapRecognizeOptions *o, char *err,
                           size_t err_len) {
    *o = opt ? *opt : (TapRecognizeOptions){0};
    if (o->beam == 0) o->beam = 10;
    if (o->max_len == 0) o->max_len = 300;
    if (o->n_best == 0) o->n_best = 1;
    if (o->beam < 1 || o->beam > 1000 || o->max_len < 1 || o->max_len > 100000 || o->n_best < 1 ||
        o->n_best > o->beam || o->max_points < 0)
        return fail_arg(err, err_len,
                        "options: beam 1..1000, max_len 1..100000, n_best 1..beam, max_points >= 0 "
                        "(0: defaults)");
    return TAP_API_OK;
}

// Decodes prepared features into out with td's decoder, built or rebuilt for o's beam and
// max_len first.
static int recognize_features(TapDecoder *td, const Features *f, int n_strokes, long long points,
                              const TapRecognizeOptions *o, TapResult *out, double t0,
                              char *err, size_t err_len) {
    const TapRecognizer *r = td->r;
    if (o->max_points > 0 && points > o->max_points) {
        char msg[128];
        snprintf(msg, sizeof msg, "too many points: %lld (at most %d)", points, o->max_points);
        return fail_arg(err, err_len, msg);
    }
    BeamDecoder *d = &td->d;
    TapError e = {0};
    if (td->built && (td->beam != o->beam || td->max_len != o->max_len)) {
        beam_free(d);
        td->built = 0;
    }
    if (!td->built) {
        if (beam_init(d, &r->m.cfg, &r->m.table, r->m.w, o->beam, o->max_len, &e) != TAP_OK)
            return fail(&e, err, err_len);
        td->built = 1, td->beam = o->beam, td->max_len = o->max_len;
    }
    BeamResult b;
    int rc = beam_decode(d, f->f, f->n_rows, &b, &e);
    if (rc != TAP_OK) return fail(&e, err, err_len);
    int n = d->n_ends < o->n_best ? d->n_ends : o->n_best;
    out->hyp = calloc((size_t)n, sizeof *out->hyp);
    out->stroke_token = malloc(((size_t)n_strokes + 1) * sizeof *out->stroke_token);
    float *scratch = malloc(((size_t)n_strokes + 1) * sizeof *scratch);
    int bad = !out->hyp || !out->stroke_token || !scratch;
    out->n_strokes = n_strokes;
    out->n_points = f->n_rows;
    for (int h = 0; h < n && !bad; h++) {
        beam_hypothesis(d, h, &b);
        out->n_hyp = h + 1;
        bad = take_hypothesis(r, &b, f, n_strokes, &out->hyp[h]) != 0;
        if (h == 0 && !bad)
            rec_stroke_tokens(b.alphas, b.n, b.S, r->pool, f->stroke, f->n_rows, n_strokes,
                              scratch, out->stroke_token);
    }
    free(scratch);
    if (bad) {
        tap_result_free(out);
        return fail_arg(err, err_len, "out of memory");
    }
    out->seconds = tap_now_seconds() - t0;
    return TAP_API_OK;
}

// Checks strokes and computes their features (those tap prep computes for the same InkML).
static int strokes_features(int n_strokes, const int *n_points, const double *const *x,
                            const double *const *y, Features *f, char *err, size_t err_len) {
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
    TapError e = {0};
    int rc = feature_compute_traces(n_strokes, start, px, py, f, &e);
    free(start), free(px), free(py);
    return rc == TAP_OK ? TAP_API_OK : fail(&e, err, err_len);
}

// The checks a decoder entry fn makes first: out given (then cleared), td and its recognizer
// given, and the input (input_ok; what names it in the message).
static int check_call(const TapDecoder *td, const char *fn, int input_ok, const char *what,
                      TapResult *out, char *err, size_t err_len) {
    char msg[160];
    if (!out) {
        snprintf(msg, sizeof msg, "%s: out is NULL", fn);
        return fail_arg(err, err_len, msg);
    }
    memset(out, 0, sizeof *out);
    if (!td || !td->r || !input_ok) {
        snprintf(msg, sizeof msg, "%s: NULL recognizer or %s", fn, what);
        return fail_arg(err, err_len, msg);
    }
    return TAP_API_OK;
}

static int decoder_strokes(TapDecoder *td, const char *fn, int n_strokes, const int *n_points,
                           const double *const *x, const double *const *y,
                           const TapRecognizeOptions *opt, TapResult *out, char *err,
                           size_t err_len) {
    double t0 = tap_now_seconds();
    int checked = check_call(td, fn, n_points && x && y, "strokes", out, err, err_len);
    if (checked != TAP_API_OK) return checked;
    TapRecognizeOptions o;
    Features f;
    int rc = strokes_features(n_strokes, n_points, x, y, &f, err, err_len);
    if (rc != TAP_API_OK) return rc;
    rc = resolve_options(opt, &o, err, err_len);
    long long points = 0;
    for (int i = 0; i < n_strokes; i++) points += n_points[i];
    if (rc == TAP_API_OK)
        rc = recognize_features(td, &f, n_strokes, points, &o, out, t0, err, err_len);
    feature_free(&f);
    return rc;
}

// An InkML file (buf NULL: read path) or buffer.
static int decoder_inkml(TapDecoder *td, const char *fn, const char *path, const char *buf,
                         size_t len, const TapRecognizeOptions *opt, TapResult *out, char *err,
                         size_t err_len) {
    double t0 = tap_now_seconds();
    int checked = check_call(td, fn, path && (buf || !len), "input", out, err, err_len);
    if (checked != TAP_API_OK) return checked;
    InkmlDoc doc;
    TapError e = {0};
    int rc = buf ? inkml_parse(buf, len, path, &doc, &e) : inkml_load(path, &doc, &e);
    if (rc != TAP_OK) return fail(&e, err, err_len);
    Features f;
    rc = feature_compute(&doc, &f, &e);
    int n_strokes = doc.n_traces;
    long long points = doc.n_points;
    inkml_free(&doc);
    if (rc != TAP_OK) {
        tap_error_prefix(&e, "%s", path);
        return fail(&e, err, err_len);
    }
    TapRecognizeOptions o;
    rc = resolve_options(opt, &o, err, err_len);
    if (rc == TAP_API_OK)
        rc = recognize_features(td, &f, n_strokes, points, &o, out, t0, err, err_len);
    feature_free(&f);
    return rc;
}

int tap_decoder_open(const TapRecognizer *r, TapDecoder **out, char *err, size_t err_len) {
    if (!out) return fail_arg(err, err_len, "tap_decoder_open: out is NULL");
    *out = NULL;
    if (!r) return fail_arg(err, err_len, "tap_decoder_open: NULL recognizer");
    TapDecoder *td = calloc(1, sizeof *td);
    if (!td) return fail_arg(err, err_len, "out of memory");
    td->r = r;
    *out = td;
    return TAP_API_OK;
}

void tap_decoder_close(TapDecoder *d) {
    if (!d) return;
    if (d->built) beam_free(&d->d);
    free(d);
}

int tap_decoder_strokes(TapDecoder *d, int n_strokes, const int *n_points,
                        const double *const *x, const double *const *y,
                        const TapRecognizeOptions *opt, TapResult *out, char *err,
                        size_t err_len) {
    return decoder_strokes(d, "tap_decoder_strokes", n_strokes, n_points, x, y, opt, out, err,
                           err_len);
}

int tap_decoder_inkml(TapDecoder *d, const char *path, const TapRecognizeOptions *opt,
                      TapResult *out, char *err, size_t err_len) {
    return decoder_inkml(d, "tap_decoder_inkml", path, NULL, 0, opt, out, err, err_len);
}

int tap_decoder_inkml_buffer(TapDecoder *d, const char *buf, size_t len, const char *name,
                             const TapRecognizeOptions *opt, TapResult *out, char *err,
                             size_t err_len) {
    if (!buf) len = 0;
    return decoder_inkml(d, "tap_decoder_inkml_buffer", name ? name : "inkml", buf ? buf : "",
                         len, opt, out, err, err_len);
}

// The one-call functions: a decoder on the stack, freed on return.
int tap_recognize_strokes(const TapRecognizer *r, int n_strokes, const int *n_points,
                          const double *const *x, const double *const *y,
                          const TapRecognizeOptions *opt, TapResult *out, char *err,
                          size_t err_len) {
    TapDecoder td = {.r = r};
    int rc = decoder_strokes(&td, "tap_recognize_strokes", n_strokes, n_points, x, y, opt, out,
                             err, err_len);
    if (td.built) beam_free(&td.d);
    return rc;
}

int tap_recognize_inkml(const TapRecognizer *r, const char *path, const TapRecognizeOptions *opt,
                        TapResult *out, char *err, size_t err_len) {
    TapDecoder td = {.r = r};
    int rc = decoder_inkml(&td, "tap_recognize_inkml", path, NULL, 0, opt, out, err, err_len);
    if (td.built) beam_free(&td.d);
    return rc;
}

int tap_recognize_inkml_buffer(const TapRecognizer *r, const char *buf, size_t len,
                               const char *name, const TapRecognizeOptions *opt, TapResult *out,
                               char *err, size_t err_len) {
    TapDecoder td = {.r = r};
    if (!buf) len = 0;
    int rc = decoder_inkml(&td, "tap_recognize_inkml_buffer", name ? name : "inkml",
                           buf ? buf : "", len, opt, out, err, err_len);
    if (td.built) beam_free(&td.d);
    return rc;
}

void tap_token_color(int i, unsigned char rgb[3]) {
    double c[3];
    render_token_color(i, c);
    for (int k = 0; k < 3; k++) rgb[k] = (unsigned char)lround(c[k] * 255.0);
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
