// The public interface (src/tap_api.h) with the bundled model: recognising an InkML file gives
// what `tap decode` prints, the same strokes given as arrays give the same answer, the n-best
// list is ranked, concurrent calls on one recognizer agree with sequential ones, every bad input
// fails with a message, tap_train reports progress and stops cleanly when asked, and the example
// program in examples/ works.
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inkml.h"
#include "tap_api.h"
#define TU_MODEL_HELPERS
#include "test_util.h"

#define MODEL TAP_SOURCE_DIR "/data/model/small.h5"
#define DICT TAP_SOURCE_DIR "/data/dictionary.txt"

static TapRecognizer *open_bundled(void) {
    TapRecognizer *r = NULL;
    char err[512] = "";
    cr_assert_eq(tap_recognizer_open(MODEL, DICT, &r, err, sizeof err), TAP_API_OK, "%s", err);
    cr_assert_eq(tap_recognizer_vocab_size(r), 111);
    cr_assert_eq(tap_recognizer_weights(r), 488337);
    return r;
}

static void sample(char *buf, size_t len, int i) {
    snprintf(buf, len, "%s/data/sample/test/%s.inkml", TAP_SOURCE_DIR, tu_samples[i]);
}

Test(api, an_inkml_file_reads_as_tap_decode_reads_it) {
    TapRecognizer *r = open_bundled();
    for (int i = 0; i < 4; i++) {
        char path[1024], cmd[4096], out[8192], err[512];
        sample(path, sizeof path, i);
        snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s %s %s", TAP_BINARY_DIR, DICT, MODEL, path);
        cr_assert_eq(tu_run(cmd, out, sizeof out, NULL, 0), 0);
        char *tab = strchr(out, '\t'), *nl = strchr(out, '\n');
        cr_assert(tab && nl);
        *nl = '\0';
        TapResult res;
        cr_assert_eq(tap_recognize_inkml(r, path, NULL, &res, err, sizeof err), TAP_API_OK, "%s", err);
        cr_assert_eq(res.n_hyp, 1);
        cr_assert_str_eq(res.hyp[0].latex, tab + 1, "%s", path);
        cr_assert_gt(res.n_points, 0);
        cr_assert_gt(res.seconds, 0.0);
        tap_result_free(&res);
    }
    tap_recognizer_close(r);
}

// The strokes of an InkML file as the arrays a pen or a canvas gives.
typedef struct {
    int n;
    int *len;
    double **x, **y;
} Strokes;

static void strokes_of(const char *path, Strokes *s) {
    InkmlDoc doc;
    TapError e = {0};
    cr_assert_eq(inkml_load(path, &doc, &e), TAP_OK, "%s", e.msg);
    s->n = doc.n_traces;
    s->len = malloc((size_t)s->n * sizeof *s->len);
    s->x = malloc((size_t)s->n * sizeof *s->x);
    s->y = malloc((size_t)s->n * sizeof *s->y);
    for (int i = 0; i < s->n; i++) {
        int a = doc.trace_start[i], b = doc.trace_start[i + 1];
        s->len[i] = b - a;
        s->x[i] = malloc((size_t)(b - a) * sizeof(double));
        s->y[i] = malloc((size_t)(b - a) * sizeof(double));
        memcpy(s->x[i], doc.x + a, (size_t)(b - a) * sizeof(double));
        memcpy(s->y[i], doc.y + a, (size_t)(b - a) * sizeof(double));
    }
    inkml_free(&doc);
}

static void strokes_free(Strokes *s) {
    for (int i = 0; i < s->n; i++) free(s->x[i]), free(s->y[i]);
    free(s->len), free(s->x), free(s->y);
}

static int recognize(const TapRecognizer *r, const Strokes *s, const TapRecognizeOptions *o,
                     TapResult *res, char *err, size_t len) {
    return tap_recognize_strokes(r, s->n, s->len, (const double *const *)s->x,
                                 (const double *const *)s->y, o, res, err, len);
}

Test(api, strokes_give_the_answer_of_the_inkml_file_holding_them_and_a_ranked_n_best_list) {
    TapRecognizer *r = open_bundled();
    TapRecognizeOptions o = {.beam = 10, .n_best = 5};
    for (int i = 0; i < 4; i++) {
        char path[1024], err[512];
        sample(path, sizeof path, i);
        Strokes s;
        strokes_of(path, &s);
        TapResult a, b;
        cr_assert_eq(tap_recognize_inkml(r, path, &o, &a, err, sizeof err), TAP_API_OK, "%s", err);
        cr_assert_eq(recognize(r, &s, &o, &b, err, sizeof err), TAP_API_OK, "%s", err);
        cr_assert_eq(a.n_hyp, b.n_hyp);
        cr_assert_geq(a.n_hyp, 2, "%s: %d hypotheses", path, a.n_hyp);
        cr_assert_leq(a.n_hyp, 5);
        cr_assert_eq(a.n_strokes, s.n);
        cr_assert_eq(a.n_points, b.n_points);
        for (int h = 0; h < a.n_hyp; h++) {
            cr_assert_str_eq(a.hyp[h].latex, b.hyp[h].latex);
            cr_assert_eq(a.hyp[h].score, b.hyp[h].score);
            if (h) cr_assert_geq(a.hyp[h].score, a.hyp[h - 1].score, "rank %d before %d", h, h - 1);
            cr_assert(fabs(a.hyp[h].score * (a.hyp[h].n_tokens + a.hyp[h].finished) -
                           a.hyp[h].cost) < 1e-3 * (1 + a.hyp[h].cost));
            // Each token's attention over the strokes: non-negative, at most 1 in all (the
            // padding frame after the last point takes the rest).
            for (int t = 0; t < a.hyp[h].n_tokens; t++) {
                double sum = 0;
                for (int k = 0; k < a.n_strokes; k++) {
                    double v = (double)a.hyp[h].stroke_attention[t * a.n_strokes + k];
                    cr_assert(v >= 0.0);
                    sum += v;
                }
                cr_assert(sum <= 1.0 + 1e-4, "token %d attends %g", t, sum);
            }
        }
        int attended = 0;
        for (int k = 0; k < a.n_strokes; k++) {
            cr_assert(a.stroke_token[k] >= -1 && a.stroke_token[k] < a.hyp[0].n_tokens);
            attended += a.stroke_token[k] >= 0;
        }
        cr_assert_gt(attended, a.n_strokes / 2);
        tap_result_free(&a);
        tap_result_free(&b);
        strokes_free(&s);
    }
    tap_recognizer_close(r);
}

typedef struct {
    const TapRecognizer *r;
    int first;
    char latex[8][1024];
    int rc;
} Job;

static void *job_run(void *arg) {
    Job *j = arg;
    for (int i = 0; i < 8; i++) {
        char path[1024], err[512];
        sample(path, sizeof path, (j->first + i) % TU_N_SAMPLES);
        TapResult res;
        j->rc |= tap_recognize_inkml(j->r, path, NULL, &res, err, sizeof err);
        if (res.n_hyp) snprintf(j->latex[i], sizeof j->latex[i], "%s", res.hyp[0].latex);
        tap_result_free(&res);
    }
    return NULL;
}

Test(api, concurrent_calls_on_one_recognizer_agree_with_sequential_ones) {
    TapRecognizer *r = open_bundled();
    Job seq = {r, 0, {{0}}, 0}, a = {r, 0, {{0}}, 0}, b = {r, 4, {{0}}, 0};
    job_run(&seq);
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, job_run, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, job_run, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(seq.rc | a.rc | b.rc, 0);
    // job b starts 4 samples later: its call i read sample (4 + i) % 5, as seq's call (4 + i) % 5
    for (int i = 0; i < 8; i++) {
        cr_assert_str_eq(a.latex[i], seq.latex[i]);
        cr_assert_str_eq(b.latex[i], seq.latex[(4 + i) % TU_N_SAMPLES]);
    }
    tap_recognizer_close(r);
}

Test(api, bad_models_and_bad_strokes_fail_with_a_message) {
    char err[512];
    TapRecognizer *r = NULL;
    cr_assert_eq(tap_recognizer_open("/nonexistent/m.h5", DICT, &r, err, sizeof err), TAP_API_ERR_IO);
    cr_assert(strstr(err, "/nonexistent/m.h5"), "%s", err);
    cr_assert_null(r);
    cr_assert_eq(tap_recognizer_open(DICT, DICT, &r, err, sizeof err), TAP_API_ERR_FORMAT, "%s", err);
    cr_assert_eq(tap_recognizer_open(MODEL, MODEL, &r, err, sizeof err), TAP_API_ERR_FORMAT, "%s", err);
    // The bundled model carries its vocabulary; an older checkpoint without one needs
    // data/dictionary.txt, which the tests' working directory does not have.
    cr_assert_eq(tap_recognizer_open(MODEL, NULL, &r, err, sizeof err), TAP_API_OK, "%s", err);
    tap_recognizer_close(r);
    char no_vocab[1024];
    snprintf(no_vocab, sizeof no_vocab, "%s/no_vocab.h5", tu_tmpdir());
    tu_tiny_model(no_vocab); // saved without /vocab, as checkpoints were before vocabularies
    err[0] = '\0';
    cr_assert_lt(tap_recognizer_open(no_vocab, NULL, &r, err, sizeof err), 0);
    cr_assert(strstr(err, "dictionary"), "%s", err);
    cr_assert_null(r);
    r = open_bundled();
    const double x[] = {0, 1, 2}, y[] = {0, 1, 0}, nan_y[] = {0, NAN, 0}, big[] = {0, 1e10, 0};
    const double *xs[] = {x, x}, *ys[] = {y, y}, *nys[] = {y, nan_y}, *bys[] = {big, y};
    const int n[] = {3, 3}, empty[] = {3, 0};
    TapResult res;
    TapRecognizeOptions bad = {.beam = 3, .n_best = 4};
    const double flat_y[] = {5, 5, 5}, same_x[] = {1, 1, 1};
    const double *fxs[] = {same_x}, *fys[] = {flat_y};
#define EXPECT_FAIL(call, code, want)                                                          \
    do {                                                                                       \
        err[0] = '\0';                                                                         \
        int rc_ = (call);                                                                      \
        cr_expect_eq(rc_, code, "%s: %d (%s)", #call, rc_, err);                               \
        cr_expect(strstr(err, want), "%s: message '%s' lacks '%s'", #call, err, want);         \
        cr_expect_eq(res.n_hyp, 0);                                                            \
    } while (0)
    EXPECT_FAIL(tap_recognize_strokes(r, 0, n, xs, ys, NULL, &res, err, sizeof err),
                TAP_API_ERR_ARG, "no strokes");
    EXPECT_FAIL(tap_recognize_strokes(r, 2, empty, xs, ys, NULL, &res, err, sizeof err),
                TAP_API_ERR_ARG, "stroke 1 is empty");
    EXPECT_FAIL(tap_recognize_strokes(r, 2, n, xs, nys, NULL, &res, err, sizeof err),
                TAP_API_ERR_ARG, "stroke 1 point 1");
    EXPECT_FAIL(tap_recognize_strokes(r, 2, n, bys, ys, NULL, &res, err, sizeof err),
                TAP_API_ERR_ARG, "beyond 1e9");
    EXPECT_FAIL(tap_recognize_strokes(r, 2, n, xs, ys, &bad, &res, err, sizeof err),
                TAP_API_ERR_ARG, "n_best");
    EXPECT_FAIL(tap_recognize_strokes(r, 1, n, fxs, fys, NULL, &res, err, sizeof err),
                TAP_API_ERR_NUMERIC, "degenerate");
    EXPECT_FAIL(tap_recognize_inkml(r, TAP_SOURCE_DIR "/tests/bad_inkml/truncated.inkml", NULL,
                                    &res, err, sizeof err),
                TAP_API_ERR_FORMAT, "truncated.inkml");
    EXPECT_FAIL(tap_recognize_inkml(r, "/nonexistent/x.inkml", NULL, &res, err, sizeof err),
                TAP_API_ERR_IO, "/nonexistent/x.inkml");
    EXPECT_FAIL(tap_recognize_strokes(NULL, 2, n, xs, ys, NULL, &res, err, sizeof err),
                TAP_API_ERR_ARG, "NULL");
#undef EXPECT_FAIL
    // a tiny error buffer is filled and terminated, never overrun
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    cr_assert_lt(tap_recognize_strokes(r, 0, n, xs, ys, NULL, &res, tiny, 4), 0);
    cr_assert_eq(tiny[3], '\0');
    cr_assert_eq(tiny[4], 'x');
    tap_recognizer_close(r);
}

typedef struct {
    int updates, lines, stop_after;
    long long last_update;
} Watch;

static int watch(void *ctx, const TapTrainProgress *p) {
    Watch *w = ctx;
    if (p->line) {
        w->lines++;
        return 0;
    }
    w->updates++;
    w->last_update = p->update;
    return w->stop_after > 0 && w->updates >= w->stop_after;
}

Test(api, training_reports_progress_and_stops_when_the_callback_says_so) {
    char dir[512], tr[600], va[600], run[600], cmd[4096], err[1024];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(tr, sizeof tr, "%s/train.h5", dir);
    snprintf(va, sizeof va, "%s/valid.h5", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(cmd, sizeof cmd, "%s/tap prep --quiet --dict %s %s/data/sample/train -o %s && %s/tap "
             "prep --quiet --dict %s %s/data/sample/test -o %s", TAP_BINARY_DIR, DICT,
             TAP_SOURCE_DIR, tr, TAP_BINARY_DIR, DICT, TAP_SOURCE_DIR, va);
    cr_assert_eq(tu_run(cmd, NULL, 0, NULL, 0), 0);
    const char *opts[] = {"--enc-layers=2", "--enc-units=6,6", "--pool=0,1", "--dec-units=8",
                          "--embed=4", "--coverage=3", "--kernel=3", "--valid-beam=1",
                          "--valid-maxlen=12", "--threads=1", "--valid-every=4",
                          "--max-steps=10"};
    Watch w = {.stop_after = 3};
    cr_assert_eq(tap_train(tr, va, run, opts, 12, watch, &w, err, sizeof err), TAP_API_ERR_STOPPED,
                 "%s", err);
    cr_assert_eq(w.updates, 3);
    cr_assert(strstr(err, "--resume"), "%s", err);
    // Continue where it stopped: the stored configuration is the base.
    const char *resume[] = {"--resume"};
    Watch w2 = {0};
    cr_assert_eq(tap_train(tr, va, run, resume, 1, watch, &w2, err, sizeof err), TAP_API_OK, "%s", err);
    cr_assert_eq(w2.updates, 7, "resumed for %d updates", w2.updates);
    cr_assert_eq(w2.last_update, 10);
    cr_assert_gt(w2.lines, 0, "no event lines (validations, the end) reached the callback");
    // Bad options are reported, never printed.
    const char *bad[] = {"--no-such-option=1"};
    cr_assert_eq(tap_train(tr, va, run, bad, 1, NULL, NULL, err, sizeof err), TAP_API_ERR_ARG);
    cr_assert(strstr(err, "no-such-option"), "%s", err);
    const char *plain[] = {"augment"};
    cr_assert_eq(tap_train(tr, va, run, plain, 1, NULL, NULL, err, sizeof err), TAP_API_ERR_ARG);
}

Test(api, the_example_program_recognises_a_sample_file_and_strokes) {
    char path[1024], cmd[4096], out[16384], dec[4096];
    sample(path, sizeof path, 0);
    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s %s %s", TAP_BINARY_DIR, DICT, MODEL, path);
    cr_assert_eq(tu_run(cmd, dec, sizeof dec, NULL, 0), 0);
    char *tab = strchr(dec, '\t');
    cr_assert_not_null(tab);
    snprintf(cmd, sizeof cmd, "%s/tap_example %s %s %s 3", TAP_BINARY_DIR, MODEL, DICT, path);
    cr_assert_eq(tu_run(cmd, out, sizeof out, NULL, 0), 0);
    char want[4200];
    snprintf(want, sizeof want, "1\t");
    cr_assert(!strncmp(out, want, 2), "%s", out);
    char *first_latex = strchr(out, '\t');
    first_latex = strchr(first_latex + 1, '\t') + 1;
    cr_assert(!strncmp(first_latex, tab + 1, strlen(tab + 1)), "example: %s\ndecode: %s", out, dec);
    cr_assert(strstr(out, "\n3\t"), "three readings expected:\n%s", out);
    snprintf(cmd, sizeof cmd, "%s/tap_example %s %s --strokes", TAP_BINARY_DIR, MODEL, DICT);
    cr_assert_eq(tu_run(cmd, out, sizeof out, NULL, 0), 0);
    cr_assert(strstr(out, "stroke 3 -> "), "%s", out);
}

// A reusable decoder answers as the one-call functions do, to the bit, whatever the order of
// inputs and beams it sees, and one decoder per thread runs concurrently on one recognizer.
static void expect_same_result(const TapResult *a, const TapResult *b) {
    cr_assert_eq(a->n_hyp, b->n_hyp);
    cr_assert_eq(a->n_points, b->n_points);
    for (int h = 0; h < a->n_hyp; h++) {
        cr_assert_str_eq(a->hyp[h].latex, b->hyp[h].latex);
        cr_assert_eq(a->hyp[h].score, b->hyp[h].score);
        cr_assert_eq(memcmp(a->hyp[h].stroke_attention, b->hyp[h].stroke_attention,
                            (size_t)a->hyp[h].n_tokens * (size_t)a->n_strokes * sizeof(float)),
                     0);
    }
    cr_assert_eq(memcmp(a->stroke_token, b->stroke_token, (size_t)a->n_strokes * sizeof(int)), 0);
}

typedef struct {
    const TapRecognizer *r;
    int first, rc, same;
} DecoderJob;

static void *decoder_worker(void *arg) {
    DecoderJob *j = arg;
    TapDecoder *d = NULL;
    char err[512];
    j->rc = tap_decoder_open(j->r, &d, err, sizeof err);
    TapRecognizeOptions o = {.beam = 10, .n_best = 3};
    for (int k = 0; k < 6 && j->rc == TAP_API_OK; k++) {
        char path[1024];
        sample(path, sizeof path, (j->first + k) % 4);
        TapResult a, b;
        j->rc |= tap_decoder_inkml(d, path, &o, &a, err, sizeof err);
        j->rc |= tap_recognize_inkml(j->r, path, &o, &b, err, sizeof err);
        if (j->rc == TAP_API_OK && a.n_hyp == b.n_hyp && !strcmp(a.hyp[0].latex, b.hyp[0].latex) &&
            a.hyp[0].score == b.hyp[0].score)
            j->same++;
        tap_result_free(&a), tap_result_free(&b);
    }
    tap_decoder_close(d);
    return NULL;
}

Test(api, a_reusable_decoder_answers_as_the_one_call_functions_do_on_any_thread) {
    TapRecognizer *r = open_bundled();
    TapDecoder *d = NULL;
    char err[512];
    cr_assert_eq(tap_decoder_open(r, &d, err, sizeof err), TAP_API_OK, "%s", err);
    const int beams[] = {10, 3, 10, 1};
    for (int i = 0; i < 4; i++) {
        char path[1024];
        sample(path, sizeof path, i);
        TapRecognizeOptions o = {.beam = beams[i], .n_best = beams[i] < 3 ? beams[i] : 3};
        Strokes s;
        strokes_of(path, &s);
        size_t len;
        char *buf = tu_read_file(path, &len);
        cr_assert(buf);
        TapResult want, a, b, c;
        cr_assert_eq(tap_recognize_inkml(r, path, &o, &want, err, sizeof err), TAP_API_OK, "%s", err);
        cr_assert_eq(tap_decoder_inkml(d, path, &o, &a, err, sizeof err), TAP_API_OK, "%s", err);
        cr_assert_eq(tap_decoder_strokes(d, s.n, s.len, (const double *const *)s.x,
                                         (const double *const *)s.y, &o, &b, err, sizeof err),
                     TAP_API_OK, "%s", err);
        cr_assert_eq(tap_decoder_inkml_buffer(d, buf, len, "x", &o, &c, err, sizeof err),
                     TAP_API_OK, "%s", err);
        expect_same_result(&want, &a);
        expect_same_result(&want, &b);
        expect_same_result(&want, &c);
        tap_result_free(&c);
        cr_assert_eq(tap_recognize_inkml_buffer(r, buf, len, NULL, &o, &c, err, sizeof err),
                     TAP_API_OK, "%s", err);
        expect_same_result(&want, &c);
        tap_result_free(&want), tap_result_free(&a), tap_result_free(&b), tap_result_free(&c);
        free(buf);
        strokes_free(&s);
    }
    // Bad input through a decoder fails as it does without one, and the decoder goes on.
    TapResult res;
    char first[1024];
    sample(first, sizeof first, 0);
    TapRecognizeOptions few = {.max_points = 10};
    cr_assert_eq(tap_decoder_inkml(d, first, &few, &res, err, sizeof err), TAP_API_ERR_ARG);
    cr_assert(strstr(err, "too many points"), "%s", err);
    cr_assert_eq(tap_decoder_inkml_buffer(d, "<ink>", 5, "broken", NULL, &res, err, sizeof err),
                 TAP_API_ERR_FORMAT);
    cr_assert(strstr(err, "broken"), "%s", err);
    cr_assert_eq(res.n_hyp, 0);
    cr_assert_eq(tap_decoder_inkml_buffer(d, NULL, 0, NULL, NULL, &res, err, sizeof err),
                 TAP_API_ERR_FORMAT, "%s", err);
    cr_assert_lt(tap_decoder_strokes(NULL, 0, NULL, NULL, NULL, NULL, &res, err, sizeof err), 0);
    tap_decoder_close(d);
    cr_assert_lt(tap_decoder_open(NULL, &d, err, sizeof err), 0);
    cr_assert_null(d);
    tap_decoder_close(NULL);
    // One decoder per thread, four threads at once.
    DecoderJob jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (DecoderJob){.r = r, .first = i};
        pthread_create(&th[i], NULL, decoder_worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(jobs[i].rc, TAP_API_OK);
        cr_expect_eq(jobs[i].same, 6, "thread %d: %d of 6 alike", i, jobs[i].same);
    }
    tap_recognizer_close(r);
}
