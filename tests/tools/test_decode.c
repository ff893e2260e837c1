// `tap decode` end to end on a tiny random checkpoint made here (params_init + checkpoint_save)
// over InkML files from data/sample (and a broken one), an HDF5 dataset of the same files, and
// `tap eval` with HDF5 references. Greedy decoding is recomputed independently with
// decoder_step to check --beam 1.
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TU_MODEL_HELPERS
#include "checkpoint.h"
#include "dataset.h"
#include "decoder.h"
#include "encoder.h"
#include "feature.h"
#include "inkml.h"
#include "params.h"
#include "test_util.h"
#include "vocab.h"

enum { MAX_LEN = 9 };

static char dir[256], model[300], dict[300];

static void make_model(void) {
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(model, sizeof model, "%s/tiny.h5", dir);
    snprintf(dict, sizeof dict, "%s/data/dictionary.txt", tu_source_dir());
    tu_tiny_model(model);
}

static void sample_path(char *buf, size_t len, int i) {
    snprintf(buf, len, "%s/data/sample/test/%s.inkml", tu_source_dir(), tu_samples[i]);
}

// "tap decode [opts] MODEL" followed by the samples (idx < 0 = the broken file).
static void decode_cmd(char *cmd, size_t len, const char *opts, const int *idx, int n) {
    snprintf(cmd, len, "%s/tap decode --dict %s %s %s", TAP_BINARY_DIR, dict, opts, model);
    tu_sample_args(cmd, len, idx, n, "malformed.inkml");
}

Test(decode, prints_uid_tab_tokens_in_input_order_and_skips_a_broken_file, .init = make_model) {
    char cmd[8192], out[65536], err[4096];
    const int idx[] = {3, 0, -1, 4, 1};
    decode_cmd(cmd, sizeof cmd, "--max-len 9", idx, 5);
    strcat(cmd, " /nonexistent/lost.inkml");
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    Vocab v;
    cr_assert_eq(vocab_load(dict, &v, NULL), TAP_OK);
    const int want[] = {3, 0, 4, 1};
    char *line = out;
    for (int i = 0; i < 4; i++) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "line %d missing in:\n%s", i, out);
        *nl = '\0';
        char *tab = strchr(line, '\t');
        cr_assert_not_null(tab, "no tab in '%s'", line);
        *tab = '\0';
        cr_assert_str_eq(line, tu_samples[want[i]]);
        int n = 0;
        for (char *tok = strtok(tab + 1, " "); tok; tok = strtok(NULL, " "), n++)
            cr_assert_geq(vocab_id(&v, tok), 1,
                          "token '%s' is not a vocabulary token (or is <eol>)", tok);
        cr_assert_leq(n, MAX_LEN);
        line = nl + 1;
    }
    cr_assert_eq(*line, '\0', "extra output: %s", line);
    vocab_free(&v);
    // One clear line for the broken file, naming it and the reason.
    cr_assert(strstr(err, "tap decode: skipped: ") && strstr(err, "malformed.inkml") &&
                  strstr(err, "malformed XML"),
              "%s", err);
    cr_assert(strstr(err, "tap decode: skipped: /nonexistent/lost.inkml: cannot open"), "%s", err);
    cr_assert(strstr(err, "4 decoded, 2 skipped"), "%s", err);
}

Test(decode, exit_status_is_1_when_nothing_decodes_and_2_on_bad_usage, .init = make_model) {
    char cmd[8192], out[4096], err[4096];
    const int broken[] = {-1};
    decode_cmd(cmd, sizeof cmd, "", broken, 1);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "nothing could be decoded"), "%s", err);
    cr_assert_str_eq(out, "");
    const int one[] = {0};
    decode_cmd(cmd, sizeof cmd, "--beam 0", one, 1);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s/tap decode %s", TAP_BINARY_DIR, model);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 2);
    cr_assert(strstr(err, "expected MODEL.h5 and at least one INPUT"), "%s", err);
    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s /nonexistent/model.h5 %s/data/sample/test",
             TAP_BINARY_DIR, dict, tu_source_dir());
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "/nonexistent/model.h5"), "%s", err);
    // A dictionary of the wrong size is refused before decoding.
    char small[400];
    snprintf(small, sizeof small, "%s/small_dict.txt", dir);
    FILE *f = fopen(small, "w");
    fprintf(f, "<eol>\t0\na\t1\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s %s %s/data/sample/test", TAP_BINARY_DIR,
             small, model, tu_source_dir());
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "has 2 tokens but the model's vocabulary has 111"), "%s", err);
    // A directory without InkML files is no input at all.
    snprintf(cmd, sizeof cmd, "mkdir -p %s/empty && %s/tap decode --dict %s %s %s/empty", dir,
             TAP_BINARY_DIR, dict, model, dir);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "tap decode: error: no InkML files or expressions in the inputs"), "%s",
              err);
}

// Greedy decoding straight from decoder_step: argmax token each step until <eol> or max_len.
static int greedy_reference(const char *inkml, int max_len, int32_t *tokens) {
    TapConfig c = tu_tiny_config();
    ParamTable t;
    cr_assert_eq(params_layout(&c, &t, NULL), TAP_OK);
    float *w = malloc(t.n * sizeof *w);
    CheckpointRole role = {"params", w, CHECKPOINT_F32};
    cr_assert_eq(checkpoint_load(model, &c, &t, &role, 1, NULL, NULL), TAP_OK);
    InkmlDoc doc;
    Features ft;
    cr_assert_eq(inkml_load(inkml, &doc, NULL), TAP_OK);
    cr_assert_eq(feature_compute(&doc, &ft, NULL), TAP_OK);
    int T = ft.n_rows + 1; // TAP's zero padding row
    float *x = calloc((size_t)T * c.F, sizeof *x);
    memcpy(x, ft.f, (size_t)ft.n_rows * c.F * sizeof *x);
    EncoderParams ep;
    encoder_params_bind(&ep, &t, w, &c);
    EncoderState es;
    float *emem = malloc(encoder_floats(&c, T, 1) * sizeof(float));
    encoder_bind(&es, &c, emem, T, 1);
    encoder_forward(&ep, x, NULL, &es);
    DecoderParams dp;
    decoder_params_bind(&dp, &t, w, &c);
    int S = es.S, C = config_context_dim(&c);
    float *pctx = malloc((size_t)S * C * sizeof(float)),
          *kern = malloc((size_t)c.K * C * sizeof(float));
    float *mean = malloc((size_t)C * sizeof(float)), *h = malloc((size_t)c.D * sizeof(float));
    float *ap = calloc((size_t)S, sizeof(float)), *probs = malloc((size_t)c.V * sizeof(float));
    decoder_init_state(&dp, &c, es.ctx, NULL, S, 1, mean, h);
    attention_prepare(&dp.att, &c, es.ctx, S, 1, pctx, kern);
    AttnContext cx = {.ctx = es.ctx, .pctx = pctx, .kern = kern, .S = S, .Bc = 1};
    float *smem = malloc(decoder_step_floats(&c, S, 1) * sizeof(float));
    float *work = malloc(decoder_work_floats(&c, S, 1) * sizeof(float));
    DecStep st;
    decoder_step_bind(&st, smem, &c, S, 1);
    int32_t prev = -1;
    int n = 0;
    for (int step = 0; step < max_len; step++) {
        decoder_step(&dp, NULL, &c, &cx, &prev, NULL, h, ap, NULL, 1, &st, work, probs);
        int best = 0;
        for (int v = 1; v < c.V; v++) best = probs[v] > probs[best] ? v : best;
        if (best == 0) break;
        tokens[n++] = prev = best;
        memcpy(h, st.h, (size_t)c.D * sizeof(float));
        memcpy(ap, st.alpha_past, (size_t)S * sizeof(float));
    }
    free(x), free(emem), free(pctx), free(kern), free(mean), free(h), free(ap), free(probs);
    free(smem), free(work), free(w);
    inkml_free(&doc);
    feature_free(&ft);
    params_free(&t);
    return n;
}

Test(decode, beam_1_is_greedy_decoding, .init = make_model) {
    Vocab v;
    cr_assert_eq(vocab_load(dict, &v, NULL), TAP_OK);
    int eol_seen = 0;
    for (int i = 0; i < TU_N_SAMPLES; i++) {
        char cmd[8192], out[8192], err[4096], path[600], want[4096] = "";
        decode_cmd(cmd, sizeof cmd, "--beam 1 --max-len 9", &i, 1);
        cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
        sample_path(path, sizeof path, i);
        int32_t tok[MAX_LEN];
        int n = greedy_reference(path, MAX_LEN, tok);
        eol_seen += n < MAX_LEN;
        int k = snprintf(want, sizeof want, "%s\t", tu_samples[i]);
        for (int j = 0; j < n; j++)
            k += snprintf(want + k, sizeof want - (size_t)k, j ? " %s" : "%s",
                          vocab_token(&v, tok[j]));
        snprintf(want + k, sizeof want - (size_t)k, "\n");
        cr_assert_str_eq(out, want);
    }
    cr_assert_gt(eol_seen, 0, "no sample ended with <eol>: the model is too flat for this test");
    vocab_free(&v);
}

Test(decode, one_and_two_threads_give_identical_output, .init = make_model) {
    char cmd[8192], one[65536], two[65536];
    const int idx[] = {0, 1, -1, 2, 3, 4, 0};
    decode_cmd(cmd, sizeof cmd, "--threads 1 --max-len 12", idx, 7);
    cr_assert_eq(tu_run(cmd, one, sizeof one, NULL, 0), 0);
    decode_cmd(cmd, sizeof cmd, "--threads 2 --max-len 12", idx, 7);
    cr_assert_eq(tu_run(cmd, two, sizeof two, NULL, 0), 0);
    cr_assert_str_eq(one, two);
    cr_assert_gt(strlen(one), 20);
}

Test(decode, an_ensemble_of_the_model_with_itself_decodes_as_the_model_alone, .init = make_model) {
    char cmd[8192], one[65536], two[65536], other[65536], opts[1024], err[4096];
    const int idx[] = {0, 1, 2, 3, 4};
    decode_cmd(cmd, sizeof cmd, "--max-len 12", idx, 5);
    cr_assert_eq(tu_run(cmd, one, sizeof one, NULL, 0), 0);
    snprintf(opts, sizeof opts, "--max-len 12 --ensemble %s,%s", model, model);
    decode_cmd(cmd, sizeof cmd, opts, idx, 5);
    cr_assert_eq(tu_run(cmd, two, sizeof two, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(one, two);
    // With the bundled model the ensemble reads differently from the tiny model alone.
    snprintf(opts, sizeof opts, "--max-len 12 --ensemble %s/data/model/small.h5", tu_source_dir());
    decode_cmd(cmd, sizeof cmd, opts, idx, 5);
    cr_assert_eq(tu_run(cmd, other, sizeof other, err, sizeof err), 0, "%s", err);
    cr_assert_str_neq(one, other);
    // A model that cannot be loaded is one error line and exit 1.
    decode_cmd(cmd, sizeof cmd, "--ensemble /nonexistent/m.h5", idx, 1);
    cr_assert_eq(tu_run(cmd, other, sizeof other, err, sizeof err), 1);
    cr_assert(strstr(err, "tap decode: error: ") && strstr(err, "/nonexistent/m.h5"), "%s", err);
    decode_cmd(cmd, sizeof cmd, "--ensemble ,", idx, 1);
    cr_assert_eq(tu_run(cmd, other, sizeof other, err, sizeof err), 1);
    cr_assert(strstr(err, "empty"), "%s", err);
}

Test(decode, without_a_model_the_bundled_one_decodes, .init = make_model) {
    char cmd[8192], with[65536], without[65536], err[4096];
    const int idx[] = {0, 1};
    // The best bundled model: data/model/tap.h5 when it is there, else small.h5.
    char tap_h5[600];
    snprintf(tap_h5, sizeof tap_h5, "%s/data/model/tap.h5", tu_source_dir());
    const char *best = access(tap_h5, R_OK) == 0 ? "data/model/tap.h5" : "data/model/small.h5";
    snprintf(cmd, sizeof cmd, "cd %s && %s/tap decode %s", tu_source_dir(), TAP_BINARY_DIR, best);
    tu_sample_args(cmd, sizeof cmd, idx, 2, "malformed.inkml");
    cr_assert_eq(tu_run(cmd, with, sizeof with, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "cd %s && %s/tap decode", tu_source_dir(), TAP_BINARY_DIR);
    tu_sample_args(cmd, sizeof cmd, idx, 2, "malformed.inkml");
    cr_assert_eq(tu_run(cmd, without, sizeof without, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(with, without);
    cr_assert(strstr(err, "(the bundled default)"), "%s", err);
    // A directory first is an input too.
    snprintf(cmd, sizeof cmd, "cd %s && %s/tap decode --quiet data/sample/test", tu_source_dir(),
             TAP_BINARY_DIR);
    cr_assert_eq(tu_run(cmd, without, sizeof without, err, sizeof err), 0, "%s", err);
    int lines = 0;
    for (const char *p = without; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 20);
}

Test(decode, absurd_limits_are_bad_usage, .init = make_model) {
    char cmd[8192], out[4096], err[4096];
    const int one[] = {0};
    const char *cases[][2] = {{"--max-len 2147483647", "--max-len must be in 1..100000"},
                              {"--threads 1000", "--threads must be in 0..256"}};
    for (int i = 0; i < 2; i++) {
        decode_cmd(cmd, sizeof cmd, cases[i][0], one, 1);
        cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 2, "%s", cases[i][0]);
        cr_assert(strstr(err, cases[i][1]), "%s", err);
    }
}

Test(decode, output_file_and_attention_files_are_written, .init = make_model) {
    char cmd[8192], out[4096], err[4096], outpath[400], attdir[400], opts[900];
    snprintf(outpath, sizeof outpath, "%s/hyp.tsv", dir);
    snprintf(attdir, sizeof attdir, "%s/att", dir);
    snprintf(opts, sizeof opts, "-o %s --attention %s --max-len 9", outpath, attdir);
    const int idx[] = {0, 1};
    decode_cmd(cmd, sizeof cmd, opts, idx, 2);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(out, "", "stdout must stay empty with -o");
    char *hyp = tu_read_file(outpath, NULL);
    cr_assert_not_null(hyp);
    cr_assert(!strncmp(hyp, "18_em_0\t", 8) && strstr(hyp, "\n23_em_50\t"), "%s", hyp);
    char tmp[500];
    snprintf(tmp, sizeof tmp, "%s.tmp", outpath);
    cr_assert_null(fopen(tmp, "r"), "the temporary file was left behind");
    // Attention: a header, then one row per step; each row is a distribution over S annotations.
    char att[500];
    snprintf(att, sizeof att, "%s/18_em_0.att", attdir);
    FILE *f = fopen(att, "r");
    cr_assert_not_null(f, "%s missing", att);
    int version, rows, S, pool, steps, fin;
    char uid[64];
    cr_assert_eq(
        fscanf(
            f,
            "tap-attention %d uid %63s rows %d annotations %d pool %d steps %d finished %d tokens",
            &version, uid, &rows, &S, &pool, &steps, &fin),
        7);
    cr_assert_str_eq(uid, "18_em_0");
    cr_assert_eq(pool, 4);
    cr_assert_eq(S, (rows + 1 + 3) / 4, "S %d for %d rows", S, rows);
    char tok[64];
    for (int t = 0; t < steps; t++) cr_assert_eq(fscanf(f, "%63s", tok), 1);
    for (int t = 0; t < steps; t++) {
        double sum = 0;
        for (int s = 0; s < S; s++) {
            float a;
            cr_assert_eq(fscanf(f, "%f", &a), 1);
            sum += (double)a;
        }
        cr_assert(fabs(sum - 1.0) < 1e-4, "step %d sums to %g", t, sum);
    }
    fclose(f);
    free(hyp);
}

// The same expressions as an HDF5 dataset decode to the same lines, and tap eval reads the
// dataset's labels as references exactly as it reads them from a TSV.
Test(decode, hdf5_dataset_input_and_hdf5_references_for_eval, .init = make_model) {
    Vocab v;
    cr_assert_eq(vocab_load(dict, &v, NULL), TAP_OK);
    char h5[400], reftsv[400];
    snprintf(h5, sizeof h5, "%s/set.h5", dir);
    snprintf(reftsv, sizeof reftsv, "%s/ref.tsv", dir);
    DatasetWriter *wr;
    TapError err;
    cr_assert_eq(dataset_writer_open(&wr, h5, (const char *const *)v.tokens, v.n, &err), TAP_OK,
                 "%s", err.msg);
    FILE *rf = fopen(reftsv, "w");
    for (int i = 0; i < 3; i++) {
        char path[600];
        sample_path(path, sizeof path, i);
        InkmlDoc doc;
        Features ft;
        cr_assert_eq(inkml_load(path, &doc, NULL), TAP_OK);
        cr_assert_eq(feature_compute(&doc, &ft, NULL), TAP_OK);
        int tokens[4] = {1 + i, 2 + i, 3, 4};
        DatasetEntry e = {.uid = doc.uid,
                          .source = path,
                          .n_rows = ft.n_rows,
                          .features = ft.f,
                          .point_stroke = ft.stroke,
                          .n_strokes = doc.n_traces,
                          .n_tokens = 4,
                          .tokens = tokens};
        cr_assert_eq(dataset_writer_add(wr, &e, &err), TAP_OK, "%s", err.msg);
        fprintf(rf, "%s\t%s %s %s %s\n", doc.uid, v.tokens[1 + i], v.tokens[2 + i], v.tokens[3],
                v.tokens[4]);
        inkml_free(&doc);
        feature_free(&ft);
    }
    fclose(rf);
    cr_assert_eq(dataset_writer_close(wr, &err), TAP_OK, "%s", err.msg);
    vocab_free(&v);

    char cmd[8192], from_inkml[8192], from_h5[8192], err1[4096];
    const int idx[] = {0, 1, 2};
    decode_cmd(cmd, sizeof cmd, "--max-len 9", idx, 3);
    cr_assert_eq(tu_run(cmd, from_inkml, sizeof from_inkml, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s --max-len 9 %s %s", TAP_BINARY_DIR, dict,
             model, h5);
    cr_assert_eq(tu_run(cmd, from_h5, sizeof from_h5, err1, sizeof err1), 0, "%s", err1);
    cr_assert_str_eq(from_h5, from_inkml);

    char hyp[400], a[8192], b[8192];
    snprintf(hyp, sizeof hyp, "%s/hyp.tsv", dir);
    FILE *hf = fopen(hyp, "w");
    fputs(from_h5, hf);
    fclose(hf);
    snprintf(cmd, sizeof cmd, "%s/tap eval %s %s", TAP_BINARY_DIR, hyp, h5);
    cr_assert_eq(tu_run(cmd, a, sizeof a, err1, sizeof err1), 0, "%s", err1);
    snprintf(cmd, sizeof cmd, "%s/tap eval %s %s", TAP_BINARY_DIR, hyp, reftsv);
    cr_assert_eq(tu_run(cmd, b, sizeof b, NULL, 0), 0);
    cr_assert_str_eq(a, b);
    cr_assert(strstr(a, "expressions   3\n"), "%s", a);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The README's main command decodes data/sample/test with data/model/small.h5 (beam 10): one line
// per sample file, in file-name order, each uid<TAB>tokens of the vocabulary; the model must
// be a trained one (WER under 100% on the sample; an untrained one stays far above).
Test(decode, bundled_model_decodes_every_sample_test_file) {
    const char *src = tu_source_dir();
    char bundled[600], test_dir[600], cmd[8192], out[65536], err[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(dict, sizeof dict, "%s/data/dictionary.txt", src);
    snprintf(bundled, sizeof bundled, "%s/data/model/small.h5", src);
    snprintf(test_dir, sizeof test_dir, "%s/data/sample/test", src);
    // The expected uids: the directory's *.inkml names, sorted as tap decode orders them.
    DIR *d = opendir(test_dir);
    cr_assert_not_null(d);
    char *uids[64];
    int n_uids = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 6 && !strcmp(e->d_name + n - 6, ".inkml") && n_uids < 64)
            uids[n_uids++] = strndup(e->d_name, n - 6);
    }
    closedir(d);
    qsort(uids, (size_t)n_uids, sizeof *uids, cmp_str);
    cr_assert_eq(n_uids, 20, "data/sample/test should hold 20 InkML files");

    snprintf(cmd, sizeof cmd, "%s/tap decode --beam 10 --dict %s %s %s", TAP_BINARY_DIR, dict,
             bundled, test_dir);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "20 decoded, 0 skipped"), "%s", err);
    char hyp[400];
    snprintf(hyp, sizeof hyp, "%s/hyp.tsv", dir);
    FILE *hf = fopen(hyp, "w");
    cr_assert_not_null(hf);
    fputs(out, hf);
    fclose(hf);

    Vocab v;
    cr_assert_eq(vocab_load(dict, &v, NULL), TAP_OK);
    char *line = out;
    int n_lines = 0, n_tokens = 0;
    for (char *nl; (nl = strchr(line, '\n')); line = nl + 1, n_lines++) {
        *nl = '\0';
        cr_assert_lt(n_lines, 20, "more than 20 lines, extra: %s", line);
        char *tab = strchr(line, '\t');
        cr_assert_not_null(tab, "no tab in '%s'", line);
        *tab = '\0';
        cr_assert_str_eq(line, uids[n_lines], "line %d", n_lines + 1);
        for (char *tok = strtok(tab + 1, " "); tok; tok = strtok(NULL, " "), n_tokens++)
            cr_assert_geq(vocab_id(&v, tok), 1, "%s: '%s' is not a vocabulary token", line, tok);
    }
    cr_assert_eq(*line, '\0', "unterminated last line: %s", line);
    cr_assert_eq(n_lines, 20);
    cr_assert_gt(n_tokens, 20, "almost nothing was recognised (%d tokens)", n_tokens);
    vocab_free(&v);
    for (int i = 0; i < n_uids; i++) free(uids[i]);

    // Scored against the sample's own labels (tap prep of the same files).
    char ref[400], report[16384];
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(cmd, sizeof cmd, "%s/tap prep --quiet --dict %s %s -o %s", TAP_BINARY_DIR, dict,
             test_dir, ref);
    cr_assert_eq(tu_run(cmd, NULL, 0, err, sizeof err), 0, "%s", err);
    snprintf(cmd, sizeof cmd, "%s/tap eval %s %s", TAP_BINARY_DIR, hyp, ref);
    cr_assert_eq(tu_run(cmd, report, sizeof report, err, sizeof err), 0, "%s", err);
    const char *w = strstr(report, "\nWER");
    double wer = -1.0;
    cr_assert(w && sscanf(w + 4, "%lf", &wer) == 1, "%s", report);
    cr_assert(strstr(report, "expressions   20\n"), "%s", report);
    cr_assert(wer >= 0.0 && wer < 100.0, "WER %.2f%% on the sample: not a trained model?\n%s",
              wer, report);
}

static int count_entries(const char *path) {
    DIR *d = opendir(path);
    cr_assert_not_null(d, "%s", path);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

// tu_tmpdir's directories go when the test process that made them ends (they used to pile up in
// /tmp by the thousand): this binary runs one of its own tests with TMPDIR pointing to an empty
// directory, which is empty again afterwards, and keeps them with TAP_KEEP_TMP=1.
Test(decode, temporary_directories_are_removed_when_a_test_process_ends) {
    char self[4096], base[400], cmd[8192], err[16384];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(len, 0);
    self[len] = '\0';
    snprintf(base, sizeof base, "%s/tmp", tu_tmpdir());
    cr_assert_eq(mkdir(base, 0700), 0);
    const char *filter = "--filter 'decode/output_file_and_attention_files_are_written'";
    // BXFI_MAP would make the child binary a sandboxed worker of this run, not a runner.
    snprintf(cmd, sizeof cmd, "env -u BXFI_MAP TMPDIR=%s %s %s", base, self, filter);
    cr_assert_eq(tu_run(cmd, NULL, 0, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "Passing: 1"), "%s", err);
    cr_assert_eq(count_entries(base), 0, "temporary directories were left in %s", base);
    snprintf(cmd, sizeof cmd, "env -u BXFI_MAP TAP_KEEP_TMP=1 TMPDIR=%s %s %s", base, self,
             filter);
    cr_assert_eq(tu_run(cmd, NULL, 0, err, sizeof err), 0, "%s", err);
    cr_assert_geq(count_entries(base), 2, "TAP_KEEP_TMP=1 kept nothing");
}

// File name without directory and ".inkml".
static void base_name(const char *path, char *buf, size_t len) {
    const char *b = strrchr(path, '/');
    snprintf(buf, len, "%s", b ? b + 1 : path);
    char *dot = strstr(buf, ".inkml");
    if (dot) *dot = '\0';
}

// Both commands expand a directory with walk_inkml: in full-path strcmp order, where a
// name-by-name order per directory would put a/ before "a b/", a-b.inkml and a.inkml.
Test(decode, prep_and_decode_list_a_nested_directory_in_the_same_order, .init = make_model) {
    char root[400], cmd[8192], out[65536], err[4096];
    snprintf(root, sizeof root, "%s/walk", dir);
    const char *sub[] = {"", "/a", "/a/b", "/a b"};
    for (int i = 0; i < 4; i++) {
        char d[500];
        snprintf(d, sizeof d, "%s%s", root, sub[i]);
        cr_assert_eq(mkdir(d, 0700), 0, "%s", d);
    }
    const char *files[TU_N_SAMPLES] = {"a-b.inkml", "a.inkml", "a/c.inkml", "a/b/d.inkml",
                                       "a b/e.inkml"};
    for (int i = 0; i < TU_N_SAMPLES; i++) {
        char from[600], to[600];
        sample_path(from, sizeof from, i);
        snprintf(to, sizeof to, "%s/%s", root, files[i]);
        tu_copy_file(from, to);
    }
    char loop[500];
    snprintf(loop, sizeof loop, "%s/a/loop", root);
    cr_assert_eq(symlink("..", loop), 0); // entered once only, by either command
    const char *want[TU_N_SAMPLES] = {"e", "a-b", "a", "d", "c"};

    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s --max-len 3 %s %s", TAP_BINARY_DIR, dict,
             model, root);
    cr_assert_eq(tu_run(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    char *line = out;
    for (int i = 0; i < TU_N_SAMPLES; i++) {
        char *tab = strchr(line, '\t'), *nl = tab ? strchr(tab, '\n') : NULL;
        cr_assert(tab && nl, "line %d missing in:\n%s", i + 1, out);
        *tab = '\0';
        cr_expect_str_eq(line, want[i], "tap decode, line %d", i + 1);
        line = nl + 1;
    }
    cr_expect_str_eq(line, "", "extra lines");

    char h5[500];
    snprintf(h5, sizeof h5, "%s/walk.h5", dir);
    snprintf(cmd, sizeof cmd, "%s/tap prep --quiet --dict %s %s -o %s", TAP_BINARY_DIR, dict, root,
             h5);
    cr_assert_eq(tu_run(cmd, NULL, 0, err, sizeof err), 0, "%s", err);
    Dataset ds;
    TapError e = {0};
    cr_assert_eq(dataset_load(h5, &ds, &e), TAP_OK, "%s", e.msg);
    cr_assert_eq(ds.n, TU_N_SAMPLES);
    for (int i = 0; i < ds.n; i++) {
        char name[256];
        base_name(ds.sources[i], name, sizeof name);
        cr_expect_str_eq(name, want[i], "tap prep, expression %d (%s)", i, ds.sources[i]);
    }
    dataset_free(&ds);
}
