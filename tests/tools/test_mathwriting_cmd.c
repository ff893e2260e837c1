// MathWriting end to end with the built `tap` (issue 15): a generated corpus in MathWriting's
// InkML format -> tap prep --build-vocab -> tap prep --split (datasets without alignments) ->
// a tiny tap train that says it trains without the guidance term -> tap decode with the
// vocabulary the checkpoint carries (no --dict). Also, when ../shared is present, the 11 real
// MathWriting files and the 66 CROHME 2019 train_extra files.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "dataset.h"
#include "test_util.h"
#include "vocab.h"

#define TAP TAP_BINARY_DIR "/tap"

static char g_out[1 << 16], g_err[1 << 16];

static int tap(const char *args) {
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "%s %s", TAP, args);
    return tu_run(cmd, g_out, sizeof g_out, g_err, sizeof g_err);
}

// Labels as MathWriting writes them (XML-escaped), each drawn by a few generated strokes.
static const char *const labels[] = {
    "x^{2}+1",
    "\\frac{a}{b}",
    "\\mathbb{R}^{n}",
    "[\\begin{matrix}1&amp;0\\\\0&amp;1\\end{matrix}]",
    "a&lt;b",
    "\\sqrt{x}",
};
enum { N_LABELS = 6 };

// One file: splitTagOriginal split, strokes from the label index and the file number.
static void write_inkml(const char *dir, int k, int label, const char *split) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%04x%012x.inkml", dir, k, k * 7919);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fprintf(f,
            "<ink xmlns=\"http://www.w3.org/2003/InkML\">\n"
            "  <annotation type=\"label\">%s</annotation>\n"
            "  <annotation type=\"splitTagOriginal\">%s</annotation>\n"
            "  <annotation type=\"sampleId\">%04x%012x</annotation>\n"
            "  <annotation type=\"normalizedLabel\">%s</annotation>\n"
            "  <traceFormat>\n    <channel name=\"X\" type=\"decimal\" />\n"
            "    <channel name=\"Y\" type=\"decimal\" />\n"
            "    <channel name=\"T\" type=\"decimal\" units=\"ms\" />\n  </traceFormat>\n",
            labels[label], split, k, k * 7919, labels[label]);
    int n_strokes = 2 + label % 3;
    double t = 1000.0;
    for (int s = 0; s < n_strokes; s++) {
        fprintf(f, "  <trace id=\"%d\">", s);
        for (int p = 0; p < 12; p++) {
            double a = 0.5 * p + label + 0.3 * k;
            fprintf(f, "%s%.2f %.2f %.1f", p ? "," : "", 40.0 * s + 10.0 * cos(a) + p,
                    -20.0 + 15.0 * sin(a * (1 + label)), t);
            t += 8.0;
        }
        fprintf(f, "</trace>\n");
    }
    fprintf(f, "</ink>\n");
    fclose(f);
}

// 24 train, 6 valid and 6 synthetic files, all in one folder as the release's train/ holds
// synthetic ones too: the split comes from the tag.
static const char *make_corpus(void) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/mw", tu_tmpdir());
    cr_assert_eq(mkdir(dir, 0700), 0);
    int k = 0;
    for (int i = 0; i < 24; i++, k++) write_inkml(dir, k, i % N_LABELS, "train");
    for (int i = 0; i < 6; i++, k++) write_inkml(dir, k, i % N_LABELS, "valid");
    for (int i = 0; i < 6; i++, k++) write_inkml(dir, k, (i + 1) % N_LABELS, "synthetic");
    return dir;
}

Test(mathwriting_cmd, build_vocab_prep_by_split_train_without_guidance_and_decode) {
    const char *mw = make_corpus();
    char tmp[4096], args[16384];
    snprintf(tmp, sizeof tmp, "%s", mw);
    *strrchr(tmp, '/') = '\0';

    // the vocabulary of the training split, structure tokens included
    snprintf(args, sizeof args, "prep --quiet --split train --build-vocab %s/vocab.txt %s", tmp,
             mw);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_out, "from 24 labels"), "%s", g_out);
    cr_expect(strstr(g_out, "--split train: 12 files of other splits"), "%s", g_out);
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", tmp);
    Vocab v;
    TapError err;
    cr_assert_eq(vocab_load(path, &v, &err), TAP_OK, "%s", err.msg);
    cr_expect_str_eq(vocab_token(&v, 0), "<eol>");
    const char *want[] = {"\\begin{matrix}", "\\end{matrix}", "&", "\\\\", "\\mathbb", "R",
                          "<", "\\frac", "\\sqrt", "{", "}", "^"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect_geq(vocab_id(&v, want[i]), 1, "'%s' missing from the vocabulary", want[i]);
    cr_expect_eq(vocab_id(&v, "<unk>"), -1); // nothing left out at --min-count 1
    int V = v.n;
    vocab_free(&v);

    // datasets by split tag, without alignments, carrying the dictionary
    snprintf(args, sizeof args, "prep --quiet --dict %s/vocab.txt --split train %s -o %s/train.h5",
             tmp, mw, tmp);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_out, "24 MathWriting files"), "%s", g_out);
    snprintf(args, sizeof args, "prep --quiet --dict %s/vocab.txt --split valid %s -o %s/valid.h5",
             tmp, mw, tmp);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_out, "6 MathWriting files"), "%s", g_out);
    Dataset ds;
    snprintf(path, sizeof path, "%s/train.h5", tmp);
    cr_assert_eq(dataset_load(path, &ds, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(ds.n, 24);
    cr_expect_eq(ds.V, V);
    cr_expect_eq(ds.n_align, 0, "MathWriting has no stroke alignments");
    cr_expect_gt(ds.n_tokens, 24);
    dataset_free(&ds);

    // a tiny model: a few updates, no guidance term, the vocabulary in every checkpoint
    snprintf(args, sizeof args,
             "train --enc-layers 2 --enc-units 6,6 --pool 0,1 --dec-units 8 --embed 4 "
             "--coverage 3 --kernel 3 --valid-beam 1 --valid-maxlen 12 --threads 1 "
             "--log-every 1 --max-steps 4 --gamma 0.1 %s/train.h5 %s/valid.h5 %s/run",
             tmp, tmp, tmp);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_err, "has no stroke alignments") &&
                  strstr(g_err, "training without the attention-guidance term (gamma 0.1 -> 0)"),
              "%s", g_err);
    const char *ckpts[] = {"best.h5", "last.h5"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/run/%s", tmp, ckpts[i]);
        char **tok;
        int n;
        cr_assert_eq(checkpoint_read_vocab(path, &tok, &n, &err), TAP_OK, "%s", err.msg);
        cr_expect_eq(n, V, "%s", path);
        if (n == V) cr_expect_str_eq(tok[0], "<eol>");
        checkpoint_vocab_free(tok, n);
    }

    // decode without --dict: the checkpoint's own vocabulary (TAP's 111 would not fit V)
    snprintf(args, sizeof args, "decode --quiet --beam 2 --max-len 8 %s/run/best.h5 %s/valid.h5",
             tmp, tmp);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    int lines = 0;
    for (const char *p = g_out; (p = strchr(p, '\n')); p++) lines++;
    cr_expect_eq(lines, 6, "%s", g_out);
    // and an explicit --dict of the wrong size is refused
    snprintf(args, sizeof args, "decode --quiet --dict %s/data/dictionary.txt %s/run/best.h5 %s",
             TAP_SOURCE_DIR, tmp, mw);
    cr_expect_neq(tap(args), 0);
    cr_expect(strstr(g_err, "tokens but the model's vocabulary has"), "%s", g_err);
}

Test(mathwriting_cmd, min_count_leaves_rare_tokens_out_and_adds_unk) {
    const char *mw = make_corpus();
    char args[16384], path[4200];
    snprintf(path, sizeof path, "%s/v.txt", tu_tmpdir());
    // each label is drawn 6 times (4 train, 1 valid, 1 synthetic): a token of one label only,
    // such as \mathbb, is seen 6 times and left out at --min-count 7
    snprintf(args, sizeof args, "prep --quiet --build-vocab %s --min-count 7 %s", path, mw);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_out, "left out, '<unk>' added"), "%s", g_out);
    Vocab v;
    TapError err;
    cr_assert_eq(vocab_load(path, &v, &err), TAP_OK, "%s", err.msg);
    cr_expect_geq(vocab_id(&v, "<unk>"), 1);
    cr_expect_eq(vocab_id(&v, "\\mathbb"), -1);
    vocab_free(&v);
    // bad usage
    snprintf(args, sizeof args, "prep --build-vocab %s --min-count 0 %s", path, mw);
    cr_expect_eq(tap(args), 2);
    snprintf(args, sizeof args, "prep --split bogus %s -o %s.h5", mw, path);
    cr_expect_eq(tap(args), 2);
    cr_expect(strstr(g_err, "--split must be train, valid, test or synthetic"), "%s", g_err);
    snprintf(args, sizeof args, "prep --build-vocab %s %s -o %s.h5", path, mw, path);
    cr_expect_eq(tap(args), 2);
}

Test(mathwriting_cmd, checkpoints_without_a_vocabulary_read_as_none) {
    char path[4096];
    snprintf(path, sizeof path, "%s/old.h5", tu_tmpdir());
    TapConfig c = {.F = 9, .n_layers = 1, .H = {4}, .pool = {1}, .D = 4, .E = 4, .V = 5,
                   .K = 3, .Q = 2, .gate = 1, .gamma = 0.1f};
    ParamTable t;
    cr_assert_eq(params_layout(&c, &t, NULL), TAP_OK);
    float *w = calloc(t.n, sizeof *w);
    CheckpointRole role = {"params", w, CHECKPOINT_F32};
    TapError err;
    cr_assert_eq(checkpoint_save(path, &c, &t, &role, 1, NULL, &err), TAP_OK, "%s", err.msg);
    char **tok = (char **)1;
    int n = -1;
    cr_assert_eq(checkpoint_read_vocab(path, &tok, &n, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(n, 0);
    cr_expect_null(tok);
    // with one: written and read back
    static CheckpointScalars sc;
    const char *vocab[] = {"<eol>", "a", "\\begin{matrix}", "&", "é"};
    sc.vocab = vocab, sc.n_vocab = 5;
    cr_assert_eq(checkpoint_save(path, &c, &t, &role, 1, &sc, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(checkpoint_read_vocab(path, &tok, &n, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(n, 5);
    for (int i = 0; i < 5; i++) cr_expect_str_eq(tok[i], vocab[i]);
    checkpoint_vocab_free(tok, n);
    free(w);
    params_free(&t);
}

// ---------------------------------------------------------------------------- ../shared

static int shared_dir(const char *sub, char *out, size_t len) {
    const char *shared = tu_shared_dir();
    if (!shared) return 0;
    snprintf(out, len, "%s/%s", shared, sub);
    struct stat st;
    return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

Test(mathwriting_cmd, real_mathwriting_files_convert_by_their_split_tags) {
    char dir[4096], args[16384];
    if (!shared_dir("mathwriting", dir, sizeof dir)) cr_skip_test("../shared/mathwriting absent");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    snprintf(args, sizeof args, "prep --quiet --build-vocab %s/v.txt %s", tmp, dir);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_out, "11 files: 11 converted, 0 skipped"), "%s", g_out);
    // the one synthetic file sits in train/: the tag decides
    const char *splits[] = {"train", "synthetic", "valid", "test"};
    const int want[] = {3, 1, 4, 3};
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args, "prep --quiet --dict %s/v.txt --split %s %s -o %s/%s.h5", tmp,
                 splits[i], dir, tmp, splits[i]);
        cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
        char line[128];
        snprintf(line, sizeof line, "%d files: %d converted, 0 skipped", want[i], want[i]);
        cr_expect(strstr(g_out, line), "--split %s: %s", splits[i], g_out);
    }
}

Test(mathwriting_cmd, crohme_2019_train_extra_all_convert) {
    char dir[4096], args[16384];
    if (!shared_dir("crohme/2019/train_extra", dir, sizeof dir))
        cr_skip_test("../shared/crohme/2019/train_extra absent");
    char path[4200], tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    snprintf(args, sizeof args, "prep --quiet --dict %s/data/dictionary.txt %s -o %s/2019.h5",
             TAP_SOURCE_DIR, dir, tmp);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    cr_expect(strstr(g_out, "66 files: 66 converted, 0 skipped"), "%s\n%s", g_out, g_err);
    Dataset ds;
    TapError err;
    snprintf(path, sizeof path, "%s/2019.h5", tmp);
    cr_assert_eq(dataset_load(path, &ds, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(ds.n, 66);
    cr_expect_gt(ds.n_align, 0, "CROHME files carry their symbol segmentation");
    dataset_free(&ds);
}

// Two vocabularies of the same size that name the ids differently: the weights of one mean
// nothing under the other, so averaging, an ensemble and --init across them are refused with
// one line each and exit status 1.
static void tiny_train(const char *tmp, const char *train, const char *valid, const char *run,
                       const char *extra) {
    char args[16384];
    snprintf(args, sizeof args,
             "train --enc-layers 2 --enc-units 6,6 --pool 0,1 --dec-units 8 --embed 4 "
             "--coverage 3 --kernel 3 --valid-beam 1 --valid-maxlen 12 --threads 1 "
             "--max-steps 2 --valid-every 2 %s %s/%s %s/%s %s/%s",
             extra, tmp, train, tmp, valid, tmp, run);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
}

Test(mathwriting_cmd, another_vocabulary_of_the_same_size_is_refused_by_average_ensemble_init) {
    const char *mw = make_corpus();
    char tmp[2048], args[16384], path[4200];
    snprintf(tmp, sizeof tmp, "%s", mw);
    *strrchr(tmp, '/') = '\0';
    snprintf(args, sizeof args, "prep --quiet --build-vocab %s/a.txt %s", tmp, mw);
    cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);

    // b.txt: a.txt with the ids of its first two tokens after <eol> swapped
    snprintf(path, sizeof path, "%s/a.txt", tmp);
    Vocab v;
    TapError err;
    cr_assert_eq(vocab_load(path, &v, &err), TAP_OK, "%s", err.msg);
    cr_assert_geq(v.n, 3);
    snprintf(path, sizeof path, "%s/b.txt", tmp);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < v.n; i++) {
        int id = i == 1 ? 2 : i == 2 ? 1 : i;
        fprintf(f, "%s\t%d\n", vocab_token(&v, i), id);
    }
    fclose(f);
    vocab_free(&v);

    const char *names[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "prep --quiet --dict %s/%s.txt %s -o %s/%s.h5", tmp,
                 names[i], mw, tmp, names[i]);
        cr_assert_eq(tap(args), 0, "%s%s", g_out, g_err);
    }
    tiny_train(tmp, "a.h5", "a.h5", "run_a", "");
    tiny_train(tmp, "b.h5", "b.h5", "run_b", "");

    snprintf(args, sizeof args, "average %s/run_a/best.h5 %s/run_b/best.h5 -o %s/mean.h5", tmp,
             tmp, tmp);
    cr_expect_eq(tap(args), 1, "%s%s", g_out, g_err);
    cr_expect(strstr(g_err, "run_b/best.h5 has another vocabulary than"), "%s", g_err);
    snprintf(path, sizeof path, "%s/mean.h5", tmp);
    struct stat st;
    cr_expect_neq(stat(path, &st), 0, "a refused average leaves no output");

    snprintf(args, sizeof args, "decode --quiet --ensemble %s/run_b/best.h5 %s/run_a/best.h5 %s",
             tmp, tmp, mw);
    int rc = tap(args);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(g_err, "--ensemble:") && strstr(g_err, "trained with another vocabulary"),
              "%s", g_err);
    cr_expect_eq(strlen(g_out), 0, "nothing decoded: %s", g_out);

    snprintf(args, sizeof args,
             "train --enc-layers 2 --enc-units 6,6 --pool 0,1 --dec-units 8 --embed 4 "
             "--coverage 3 --kernel 3 --valid-beam 1 --threads 1 --max-steps 1 "
             "--init %s/run_a/best.h5 %s/b.h5 %s/b.h5 %s/run_c",
             tmp, tmp, tmp, tmp);
    cr_expect_eq(tap(args), 1, "%s%s", g_out, g_err);
    cr_expect(strstr(g_err, "--init:") && strstr(g_err, "trained with another vocabulary"), "%s",
              g_err);
    // and the same vocabulary is accepted by all three
    snprintf(args, sizeof args, "average %s/run_a/best.h5 %s/run_a/last.h5 -o %s/mean.h5", tmp,
             tmp, tmp);
    cr_expect_eq(tap(args), 0, "%s%s", g_out, g_err);
}
