// `tap prep` end to end: the built binary on temporary directories of good and broken InkML,
// checking exit codes, the one-line-per-skip messages, the summary and the HDF5 it writes.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dataset.h"
#include "test_util.h"

#define TAP TAP_BINARY_DIR "/tap"
#define DICT TAP_SOURCE_DIR "/data/dictionary.txt"

// Runs a shell command; stdout and stderr go to files read back into out/errs.
static int run(const char *cmd, char **out, char **errs) {
    static int k;
    char o[512], e[512], full[8192];
    snprintf(o, sizeof o, "%s/out%d.txt", tu_tmpdir(), k);
    snprintf(e, sizeof e, "%s/err%d.txt", tu_tmpdir(), k++);
    snprintf(full, sizeof full, "{ %s; } >%s 2>%s", cmd, o, e);
    int st = system(full);
    if (out) *out = tu_read_file(o, NULL);
    if (errs) *errs = tu_read_file(e, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void copy(const char *from, const char *to) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", from, to);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) n++;
    return n;
}

static const char *good[] = {"basic", "latin1", "prefixed_ns", "xyt_fractional"};

// A directory with the four good golden files and, in a subdirectory, the broken corpus.
static const char *make_inputs(int with_bad) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/in", tu_tmpdir());
    cr_assert_eq(mkdir(dir, 0700), 0);
    for (int i = 0; i < 4; i++) {
        char from[1024], to[1024];
        snprintf(from, sizeof from, "%s/tests/golden/inkml/%s.inkml", TAP_SOURCE_DIR, good[i]);
        snprintf(to, sizeof to, "%s/%s.inkml", dir, good[i]);
        copy(from, to);
    }
    if (with_bad) {
        char to[1024];
        snprintf(to, sizeof to, "%s/zz_bad", dir);
        copy(TAP_SOURCE_DIR "/tests/bad_inkml", to);
    }
    return dir;
}

Test(prep, good_and_bad_files_give_a_dataset_one_line_per_skip_and_a_summary) {
    const char *in = make_inputs(1);
    char cmd[4096], out_h5[1024];
    snprintf(out_h5, sizeof out_h5, "%s/out.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --dict %s --threads 2 %s -o %s", TAP, DICT, in, out_h5);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0, "stdout: %s\nstderr: %s", out, errs);
    cr_expect(
        strstr(
            out,
            "23 files: 4 converted, 19 skipped (5 malformed XML, 2 no ink, 5 bad coordinates, "
            "1 absurd size, 2 bad structure, 2 degenerate ink, 1 missing truth, 1 unknown token)"),
        "summary: %s", out);
    cr_expect(strstr(out, "wrote ") && strstr(out, "4 expressions"), "%s", out);
    cr_expect_eq(count_lines_with(errs, "tap prep: skipping "), 19, "%s", errs);
    // Each skip line names its file; spot-check the reasons.
    const char *lines[] = {
        "zz_bad/truncated.inkml: line 20: malformed XML: no element found (truncated file?)",
        "zz_bad/nan_coordinate.inkml: line 3: trace '0': non-finite coordinate 'NaN'",
        "zz_bad/huge_coordinate.inkml: line 3: trace '0': absurd coordinate '1e12'",
        "zz_bad/empty_trace.inkml: line 6: trace '1' is empty",
        "zz_bad/no_traces.inkml: no traces",
        "zz_bad/missing_truth.inkml: missing truth",
        "zz_bad/vertical_line.inkml: degenerate ink: zero horizontal spread",
        "zz_bad/unknown_token.inkml: uid unknown_token: unknown token '\\aleph'",
        "zz_bad/doctype_entities.inkml: line 2: DOCTYPE declarations are not allowed"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        cr_expect(strstr(errs, lines[i]), "missing '%s' in:\n%s", lines[i], errs);

    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(out_h5, &ds, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(ds.n, 4);
    cr_expect_eq(ds.V, 111);
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(ds.uids[i], good[i]); // input order: sorted directory entries
        cr_expect(strstr(ds.sources[i], good[i]), "%s", ds.sources[i]);
    }
    // basic: 5 strokes, label x ^ { 2 } < 1, every stroke of x on its token.
    cr_expect_eq(ds.n_strokes[0], 5);
    cr_expect_eq(dataset_len_y(&ds, 0), 7);
    cr_expect_str_eq(ds.vocab[ds.tokens[0]], "x");
    cr_expect_str_eq(ds.vocab[ds.tokens[5]], "<");
    cr_expect_eq(ds.align_offsets[1] - ds.align_offsets[0], 2, "x owns strokes 0 and 1");
    cr_expect_eq(ds.point_stroke[ds.feature_offsets[0]], 0);
    dataset_free(&ds);
    free(out);
    free(errs);
}

Test(prep, nothing_converted_exits_1_and_writes_no_file) {
    char cmd[4096], out_h5[1024], tmp[1100];
    snprintf(out_h5, sizeof out_h5, "%s/none.h5", tu_tmpdir());
    snprintf(tmp, sizeof tmp, "%s.tmp", out_h5);
    snprintf(cmd, sizeof cmd, "%s prep --dict %s %s/tests/bad_inkml -o %s", TAP, DICT,
             TAP_SOURCE_DIR, out_h5);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 1, "%s", errs);
    cr_expect(strstr(errs, "nothing converted"), "%s", errs);
    cr_expect(strstr(out, "19 files: 0 converted, 19 skipped"), "%s", out);
    cr_expect_neq(access(out_h5, F_OK), 0);
    cr_expect_neq(access(tmp, F_OK), 0);
    free(out);
    free(errs);
}

Test(prep, bad_usage_exits_2_and_output_or_dictionary_failures_exit_1) {
    const char *in = TAP_SOURCE_DIR "/tests/golden/inkml";
    char o[1024];
    snprintf(o, sizeof o, "%s/u.h5", tu_tmpdir());
    struct {
        const char *args;
        int status;
        const char *msg;
    } cases[] = {
        {"%s", 2, "no output file"},
        {"-o %s", 2, "no input files"},
        {"--unknown drop %s -o %s", 2, "--unknown must be skip or map"},
        {"--unknown map %s -o %s", 2, "--unknown map needs --map-token"},
        {"--unknown map --map-token NOPE %s -o %s", 2, "--map-token 'NOPE' is not in"},
        {"--threads -1 %s -o %s", 2, "--threads must be >= 0"},
        {"--bogus %s -o %s", 2, "unknown option '--bogus'"},
        {"--list /nonexistent/list.txt -o %s", 2, "cannot read list /nonexistent/list.txt"},
        {"%s -o /nonexistent/dir/x.h5", 1, "/nonexistent/dir/x.h5.tmp: cannot create"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048], cmd[4096];
        if (!strncmp(cases[i].args, "-o", 2) || !strncmp(cases[i].args, "--list", 6))
            snprintf(args, sizeof args, cases[i].args, o);
        else
            snprintf(args, sizeof args, cases[i].args, in, o);
        snprintf(cmd, sizeof cmd, "%s prep --dict %s %s", TAP, DICT, args);
        char *errs;
        cr_expect_eq(run(cmd, NULL, &errs), cases[i].status, "%s", cmd);
        cr_expect(strstr(errs, cases[i].msg), "'%s': stderr lacks '%s':\n%s", cmd, cases[i].msg,
                  errs);
        free(errs);
    }
    // The default dictionary is data/dictionary.txt relative to the working directory.
    char cmd[4096], *errs;
    snprintf(cmd, sizeof cmd, "cd %s && %s prep %s -o %s", tu_tmpdir(), TAP, in, o);
    cr_expect_eq(run(cmd, NULL, &errs), 1);
    cr_expect(strstr(errs, "data/dictionary.txt") && strstr(errs, "--dict"), "%s", errs);
    free(errs);
    snprintf(cmd, sizeof cmd, "cd %s && %s prep --quiet %s -o %s", TAP_SOURCE_DIR, TAP, in, o);
    cr_expect_eq(run(cmd, NULL, NULL), 0);
}

Test(prep, unknown_tokens_are_reported_then_skipped_or_mapped) {
    const char *in = make_inputs(0);
    char cmd[4096], o[1024];
    snprintf(cmd, sizeof cmd, "cp %s/tests/bad_inkml/unknown_token.inkml %s/", TAP_SOURCE_DIR, in);
    cr_assert_eq(system(cmd), 0);
    snprintf(o, sizeof o, "%s/m.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --dict %s --unknown map --map-token x %s -o %s", TAP, DICT,
             in, o);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0, "%s", errs);
    cr_expect(strstr(errs, "uid unknown_token: unknown token '\\aleph' mapped to 'x'"), "%s", errs);
    cr_expect(strstr(out, "5 files: 5 converted, 0 skipped"), "%s", out);
    cr_expect(strstr(out, "1 unknown tokens mapped to 'x'"), "%s", out);
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(o, &ds, &err), TAP_OK, "%s", err.msg);
    int k = -1;
    for (int i = 0; i < ds.n; i++)
        if (!strcmp(ds.uids[i], "unknown_token")) k = i;
    cr_assert_geq(k, 0);
    cr_expect_str_eq(ds.vocab[ds.tokens[ds.token_offsets[k]]], "x"); // \aleph + 1 -> x + 1
    dataset_free(&ds);
    free(out);
    free(errs);
}

Test(prep, labels_file_overrides_the_truth_and_supplies_missing_ones) {
    const char *in = make_inputs(0);
    char cmd[4096], o[1024], labels[1024];
    snprintf(cmd, sizeof cmd, "cp %s/tests/bad_inkml/missing_truth.inkml %s/", TAP_SOURCE_DIR, in);
    cr_assert_eq(system(cmd), 0);
    snprintf(labels, sizeof labels, "%s/labels.txt", tu_tmpdir());
    FILE *f = fopen(labels, "w");
    fprintf(f, "basic\tx + 1\nmissing_truth\t\\sqrt { 2 }\n");
    fclose(f);
    snprintf(o, sizeof o, "%s/l.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --quiet --dict %s --labels %s %s -o %s", TAP, DICT, labels,
             in, o);
    char *out;
    cr_assert_eq(run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "5 files: 5 converted, 0 skipped"), "%s", out);
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(o, &ds, &err), TAP_OK, "%s", err.msg);
    const char *want[][5] = {{"basic", "x", "+", "1", NULL},
                             {"missing_truth", "\\sqrt", "{", "2", "}"}};
    for (int w = 0; w < 2; w++) {
        int k = -1;
        for (int i = 0; i < ds.n; i++)
            if (!strcmp(ds.uids[i], want[w][0])) k = i;
        cr_assert_geq(k, 0, "%s missing", want[w][0]);
        int n = 0;
        while (n < 4 && want[w][n + 1]) n++;
        cr_assert_eq(dataset_len_y(&ds, k), n);
        for (int j = 0; j < n; j++)
            cr_expect_str_eq(ds.vocab[ds.tokens[ds.token_offsets[k] + j]], want[w][j + 1]);
    }
    dataset_free(&ds);
    free(out);
}

// Writes DIR/UID.inkml: x^{2}_{1} drawn as three strokes (x, then 2, then 1), by `writer`
// (NULL: no writer annotation).
static void write_scripts_file(const char *dir, const char *uid, const char *writer) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.inkml", dir, uid);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "<ink xmlns=\"http://www.w3.org/2003/InkML\">\n"
               "<annotation type=\"UI\">%s</annotation>\n", uid);
    if (writer) fprintf(f, "<annotation type=\"writer\"> %s </annotation>\n", writer);
    fprintf(f, "<annotation type=\"truth\">$x^{2}_{1}$</annotation>\n"
               "<trace id=\"0\">10 10, 14 18, 18 10, 14 14, 10 18</trace>\n"
               "<trace id=\"1\">20 2, 22 0, 24 2, 20 6, 24 6</trace>\n"
               "<trace id=\"2\">21 16, 22 15, 22 22</trace>\n"
               "<traceGroup><annotation type=\"truth\">Segmentation</annotation>\n"
               "<traceGroup><annotation type=\"truth\">x</annotation><traceView "
               "traceDataRef=\"0\"/><annotationXML href=\"x_1\"/></traceGroup>\n"
               "<traceGroup><annotation type=\"truth\">2</annotation><traceView "
               "traceDataRef=\"1\"/><annotationXML href=\"2_1\"/></traceGroup>\n"
               "<traceGroup><annotation type=\"truth\">1</annotation><traceView "
               "traceDataRef=\"2\"/><annotationXML href=\"1_1\"/></traceGroup>\n"
               "</traceGroup></ink>\n");
    fclose(f);
}

// The tokens of expression i, joined by spaces, each followed by its strokes as [s s].
static void label_with_strokes(const Dataset *ds, int i, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int64_t k = ds->token_offsets[i]; k < ds->token_offsets[i + 1] && used < len; k++) {
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "",
                                 ds->vocab[ds->tokens[k]]);
        if (ds->align_offsets[k + 1] == ds->align_offsets[k]) continue;
        for (int64_t a = ds->align_offsets[k]; a < ds->align_offsets[k + 1] && used < len; a++)
            used += (size_t)snprintf(buf + used, len - used, "%s%d",
                                     a == ds->align_offsets[k] ? "[" : " ", ds->align_strokes[a]);
        if (used < len) used += (size_t)snprintf(buf + used, len - used, "]");
    }
}

Test(prep, canonical_labels_are_the_default_and_each_token_keeps_its_strokes) {
    char dir[512], cmd[4096], o[1024], label[512];
    snprintf(dir, sizeof dir, "%s/canon", tu_tmpdir());
    cr_assert_eq(mkdir(dir, 0700), 0);
    write_scripts_file(dir, "scripts", NULL);
    const char *want[2] = {"x[0] _ { 1[2] } ^ { 2[1] }", "x[0] ^ { 2[1] } _ { 1[2] }"};
    for (int as_written = 0; as_written < 2; as_written++) {
        snprintf(o, sizeof o, "%s/c%d.h5", tu_tmpdir(), as_written);
        snprintf(cmd, sizeof cmd, "%s prep --quiet --dict %s %s %s -o %s", TAP, DICT,
                 as_written ? "--no-canonical" : "", dir, o);
        char *out;
        cr_assert_eq(run(cmd, &out, NULL), 0);
        cr_expect(strstr(out, as_written ? "" : "1 label written in canonical form"), "%s", out);
        cr_expect(!as_written || !strstr(out, "canonical form"), "%s", out);
        Dataset ds;
        TapError err = {0};
        cr_assert_eq(dataset_load(o, &ds, &err), TAP_OK, "%s", err.msg);
        label_with_strokes(&ds, 0, label, sizeof label);
        cr_expect_str_eq(label, want[as_written]);
        dataset_free(&ds);
        free(out);
    }
}

Test(prep, holdout_splits_by_writer_into_two_disjoint_parts_that_cover_every_file) {
    char dir[1024], cmd[4096], o[2][1100], tmp[512];
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir()); // a new directory at every call
    snprintf(dir, sizeof dir, "%s/split", tmp);
    cr_assert_eq(mkdir(dir, 0700), 0);
    // 40 files of 8 writers (5 each) and 20 files without a writer
    for (int i = 0; i < 60; i++) {
        char uid[32], writer[32];
        snprintf(uid, sizeof uid, "e%02d", i);
        snprintf(writer, sizeof writer, "writer%d", i % 8);
        write_scripts_file(dir, uid, i < 40 ? writer : NULL);
    }
    Dataset ds[2];
    for (int p = 0; p < 2; p++) {
        snprintf(o[p], sizeof o[p], "%s/part%d.h5", tmp, p);
        snprintf(cmd, sizeof cmd, "%s prep --quiet --dict %s --holdout 30 --part %s %s -o %s",
                 TAP, DICT, p ? "holdout" : "rest", dir, o[p]);
        char *out;
        cr_assert_eq(run(cmd, &out, NULL), 0, "%s", cmd);
        cr_expect(strstr(out, "--holdout 30 --holdout-seed 1: wrote the"), "%s", out);
        free(out);
        TapError err = {0};
        cr_assert_eq(dataset_load(o[p], &ds[p], &err), TAP_OK, "%s", err.msg);
    }
    cr_assert_eq(ds[0].n + ds[1].n, 60, "%d + %d", ds[0].n, ds[1].n);
    cr_assert(ds[1].n >= 5 && ds[1].n <= 35, "held out %d of 60 at 30%%", ds[1].n);
    int side[60];
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < ds[p].n; i++) side[atoi(ds[p].uids[i] + 1)] = p;
    for (int i = 8; i < 40; i++)
        cr_expect_eq(side[i], side[i % 8], "writer%d is on both sides", i % 8);
    int free_held = 0;
    for (int i = 40; i < 60; i++) free_held += side[i];
    cr_expect(free_held > 0 && free_held < 20, "files without a writer: %d of 20 held out",
              free_held);
    // A different seed draws a different split; a bad part or percentage is bad usage.
    snprintf(cmd, sizeof cmd, "%s prep --quiet --dict %s --holdout 30 --holdout-seed 2 --part "
             "holdout %s -o %s/seed2.h5", TAP, DICT, dir, tmp);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0, "%s: %s%s", cmd, out, errs);
    free(out), free(errs);
    Dataset s2;
    TapError err = {0};
    snprintf(o[0], sizeof o[0], "%s/seed2.h5", tmp);
    cr_assert_eq(dataset_load(o[0], &s2, &err), TAP_OK, "%s", err.msg);
    int same = s2.n == ds[1].n;
    for (int i = 0; same && i < s2.n; i++) same = !strcmp(s2.uids[i], ds[1].uids[i]);
    cr_expect(!same, "seeds 1 and 2 held out the same %d files", s2.n);
    dataset_free(&s2);
    for (int p = 0; p < 2; p++) dataset_free(&ds[p]);
    snprintf(cmd, sizeof cmd, "%s prep --dict %s --holdout 30 --part valid %s -o %s/x.h5", TAP,
             DICT, dir, tmp);
    cr_expect_eq(run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s prep --dict %s --holdout 101 %s -o %s/x.h5", TAP, DICT, dir,
             tmp);
    cr_expect_eq(run(cmd, NULL, NULL), 2);
}

Test(prep, list_files_work_and_output_is_byte_identical_across_runs_and_thread_counts) {
    const char *in = make_inputs(0);
    char list[1024], cmd[4096], a[1024], b[1024];
    snprintf(list, sizeof list, "%s/list.txt", tu_tmpdir());
    FILE *f = fopen(list, "w");
    fprintf(f,
            "# comment\n%s/xyt_fractional.inkml\n\n  %s/basic.inkml  \n%s/tests/golden/features\n",
            in, in, TAP_SOURCE_DIR);
    fclose(f);
    snprintf(a, sizeof a, "%s/a.h5", tu_tmpdir());
    snprintf(b, sizeof b, "%s/b.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --quiet --threads 1 --dict %s --list %s -o %s", TAP, DICT,
             list, a);
    char *out;
    cr_assert_eq(run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "4 files: 4 converted"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s prep --quiet --threads 3 --dict %s --list %s -o %s", TAP, DICT,
             list, b);
    cr_assert_eq(run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    cr_expect_eq(system(cmd), 0, "outputs differ");
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(a, &ds, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(ds.n, 4);
    cr_expect_str_eq(ds.uids[0], "xyt_fractional"); // list order
    cr_expect_str_eq(ds.uids[1], "basic");
    cr_expect_str_eq(ds.uids[2], "fractional_negative");
    dataset_free(&ds);
}

Test(prep, duplicate_uids_are_skipped_after_the_first) {
    const char *in = make_inputs(0);
    char cmd[4096], o[1024];
    snprintf(o, sizeof o, "%s/d.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --dict %s %s %s/basic.inkml -o %s", TAP, DICT, in, in, o);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0);
    cr_expect(strstr(out, "5 files: 4 converted, 1 skipped (1 duplicate uid)"), "%s", out);
    cr_expect(strstr(errs, "uid basic was already converted"), "%s", errs);
    free(out);
    free(errs);
}

Test(prep, an_interrupted_run_leaves_neither_output_nor_temporary_file) {
    const char *in = make_inputs(0);
    char fifo[1024], o[1024], tmp[1100], cmd[4096];
    // A FIFO with no writer blocks its reader: the run is guaranteed to be in progress. It is
    // named on the command line: a directory walk never lists one.
    snprintf(fifo, sizeof fifo, "%s/zz_stall.inkml", in);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    snprintf(o, sizeof o, "%s/i.h5", tu_tmpdir());
    snprintf(tmp, sizeof tmp, "%s.tmp", o);
    snprintf(cmd, sizeof cmd,
             "%s prep --quiet --dict %s %s %s -o %s & pid=$!; "
             "for i in $(seq 50); do [ -e %s ] && break; sleep 0.1; done; sleep 0.3; "
             "kill -TERM $pid; wait $pid",
             TAP, DICT, in, fifo, o, tmp);
    char *errs;
    int st = run(cmd, NULL, &errs);
    cr_expect_eq(st, 128 + 15, "exit status %d: %s", st, errs);
    cr_expect(strstr(errs, "interrupted"), "%s", errs);
    cr_expect_neq(access(o, F_OK), 0, "final output exists");
    cr_expect_neq(access(tmp, F_OK), 0, "temporary output left behind");
    free(errs);
}

Test(prep, a_malformed_or_out_of_vocabulary_latex_truth_falls_back_to_the_mathml_with_a_warning) {
    char dir[1024], cmd[4096], o[1024];
    snprintf(dir, sizeof dir, "%s/fallback", tu_tmpdir());
    copy(TAP_SOURCE_DIR "/tests/golden/mathml", dir);
    snprintf(o, sizeof o, "%s/f.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --quiet --dict %s %s -o %s", TAP, DICT, dir, o);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0, "%s", errs);
    cr_expect(strstr(out, "5 files: 4 converted, 1 skipped (1 bad LaTeX)"), "%s", out);
    cr_expect(strstr(out, "4 labels taken from the MathML truth"), "%s", out);
    cr_expect_eq(count_lines_with(errs, "tap prep: warning: "), 4, "%s", errs);
    const char *lines[] = {
        "unknown_token.inkml: uid unknown_token: LaTeX truth has token outside the dictionary "
        "('\\Pi'); truth taken from the MathML annotation (all 2 symbol traceGroups agree with "
        "it): 2 \\pi\n",
        "malformed_latex.inkml: uid malformed_latex: bad LaTeX truth: unbalanced braces: '}' "
        "without '{'",
        "truth taken from the MathML annotation (all 8 symbol traceGroups agree with it): \\lim _ "
        "{ y \\rightarrow x } f ( y )\n",
        "mfrdb_variants.inkml: uid mfrdb_variants: no LaTeX truth; truth taken from the MathML",
        "tap prep: skipping ",
        "malformed_no_mathml.inkml: uid malformed_no_mathml: bad LaTeX truth: unbalanced braces",
        "; no usable MathML truth either: no MathML truth\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        cr_expect(strstr(errs, lines[i]), "missing '%s' in:\n%s", lines[i], errs);
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(o, &ds, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(ds.n, 4);
    cr_expect_str_eq(ds.uids[0], "fraction_bar_mislabelled");
    const char *want[] = {"\\frac", "{", "\\sqrt", "{", "3", "}", "}", "{", "2", "}"};
    cr_assert_eq(dataset_len_y(&ds, 0), 10);
    for (int j = 0; j < 10; j++)
        cr_expect_str_eq(ds.vocab[ds.tokens[ds.token_offsets[0] + j]], want[j]);
    // the bar, labelled \sqrt in the segmentation, is aligned with \frac as the MathML says
    cr_expect(strstr(errs, "(symbol label changed to follow the MathML: '47:' \\sqrt -> -)\n"),
              "%s", errs);
    const int strokes[] = {2, -1, 0, -1, 1, -1, -1, -1, 3, -1}; // -1: none
    for (int j = 0; j < 10; j++) {
        int t = ds.token_offsets[0] + j, n = ds.align_offsets[t + 1] - ds.align_offsets[t];
        cr_expect_eq(n, strokes[j] < 0 ? 0 : 1, "token %d", j);
        if (n == 1) cr_expect_eq(ds.align_strokes[ds.align_offsets[t]], strokes[j], "token %d", j);
    }
    dataset_free(&ds);
    free(out);
    free(errs);
}

Test(prep, check_truth_compares_the_latex_and_mathml_truths_of_every_file) {
    char cmd[4096], o[1024];
    snprintf(o, sizeof o, "%s/c.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --quiet --check-truth --dict %s %s/tests/golden/inkml "
             "%s/tests/golden/mathml -o %s", TAP, DICT, TAP_SOURCE_DIR, TAP_SOURCE_DIR, o);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0, "%s", errs);
    // inkml/: basic has both truths (identical), the other three LaTeX only; mathml/: both in
    // unknown_token (they differ), only MathML that converts in malformed_latex,
    // fraction_bar_mislabelled and mfrdb_variants, neither in malformed_no_mathml.
    cr_expect(strstr(out, "truth check: 2 files with a LaTeX and a MathML truth that convert: 1 "
                          "identical (50.00%), 0 more the same up to script order and \\limits "
                          "(50.00% in all), 1 differ; 3 LaTeX only, 3 MathML only, 1 neither"),
              "%s", out);
    cr_expect(strstr(errs, "tap prep: truths differ: ") &&
                  strstr(errs, "unknown_token.inkml: LaTeX '2 \\Pi', MathML '2 \\pi'\n"),
              "%s", errs);
    cr_expect_eq(count_lines_with(errs, "truths differ"), 1, "%s", errs);
    free(out);
    free(errs);
}

// All 986 CROHME 2014 test files convert (4 of them from the MathML truth); skipped without it.
Test(prep, every_crohme_2014_test_file_converts) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    char dir[1024], cmd[4096], o[1024];
    snprintf(dir, sizeof dir, "%s/crohme/2014/test", shared);
    if (access(dir, F_OK) != 0) cr_skip_test("%s is absent", dir);
    snprintf(o, sizeof o, "%s/crohme2014_test.h5", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prep --quiet --threads 2 --dict %s %s -o %s", TAP, DICT, dir, o);
    char *out, *errs;
    cr_assert_eq(run(cmd, &out, &errs), 0, "%s", errs);
    cr_expect(strstr(out, "986 files: 986 converted, 0 skipped\n"), "%s", out);
    cr_expect(strstr(out, "4 labels taken from the MathML truth"), "%s", out);
    const char *uids[] = {"RIT_2014_133", "RIT_2014_191", "RIT_2014_216", "RIT_2014_309"};
    for (int i = 0; i < 4; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "uid %s: ", uids[i]);
        cr_expect(strstr(errs, needle), "no warning for %s:\n%s", uids[i], errs);
    }
    cr_expect(strstr(errs, "uid RIT_2014_133: LaTeX truth has token outside the dictionary "
                           "('\\Pi'); truth taken from the MathML annotation (all 6 symbol "
                           "traceGroups agree with it): 0 \\leq x \\leq 2 \\pi\n"),
              "%s", errs);
    cr_expect(strstr(errs, "): x [ \\infty ] = \\lim _ { z \\rightarrow 1 } ( z - 1 ) x ( z )\n"),
              "%s", errs);
    cr_expect(strstr(errs, "): \\lim _ { y \\rightarrow x } f ( y ) = f ( x )\n"), "%s", errs);
    cr_expect(strstr(errs, "): \\frac { \\sqrt { x } } { 2 } - \\frac { \\sqrt { 3 } } { 2 "
                           "\\sqrt { x } } (symbol label changed to follow the MathML: '47:' "
                           "\\sqrt -> -)\n"),
              "%s", errs);
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(o, &ds, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(ds.n, 986);
    // RIT_2014_309: every one of the 13 strokes on one token; the bars (3, 8) on the \frac tokens
    int k = -1;
    for (int i = 0; i < ds.n; i++)
        if (!strcmp(ds.uids[i], "RIT_2014_309")) k = i;
    cr_assert_geq(k, 0);
    int owner[13], fracs = 0;
    for (int s = 0; s < 13; s++) owner[s] = -1;
    for (int t = ds.token_offsets[k]; t < ds.token_offsets[k + 1]; t++)
        for (int a = ds.align_offsets[t]; a < ds.align_offsets[t + 1]; a++) {
            int s = ds.align_strokes[a];
            cr_assert(s >= 0 && s < 13);
            cr_expect_eq(owner[s], -1, "stroke %d on two tokens", s);
            owner[s] = t;
            if (!strcmp(ds.vocab[ds.tokens[t]], "\\frac")) fracs += s == 3 || s == 8;
        }
    for (int s = 0; s < 13; s++) cr_expect_geq(owner[s], 0, "stroke %d on no token", s);
    cr_expect_eq(fracs, 2);
    dataset_free(&ds);
    free(out);
    free(errs);
}

// Runs tap prep on the inputs with the given extra options; stdout without its first line (the
// output's name and the time), stderr.
static int prep_text(const char *opts, const char *inputs, const char *out_h5, char **out,
                     char **errs) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "TMPDIR=%s %s prep --quiet --dict %s %s %s -o %s", tu_tmpdir(), TAP,
             DICT, opts, inputs, out_h5);
    int rc = run(cmd, out, errs);
    char *nl = strchr(*out, '\n');
    if (nl) memmove(*out, nl + 1, strlen(nl + 1) + 1);
    return rc;
}

Test(prep, a_tiny_list_memory_spills_the_paths_and_uids_and_gives_the_same_output_and_messages) {
    const char *in = make_inputs(1);
    char dirs[3][1024], inputs[8192], a[1024], b[1024];
    // dupe.inkml three times: broken first (it claims no uid), then converted, then a duplicate
    for (int k = 0; k < 3; k++) {
        snprintf(dirs[k], sizeof dirs[k], "%s/d%d", tu_tmpdir(), k);
        cr_assert_eq(mkdir(dirs[k], 0700), 0);
        char to[1100];
        snprintf(to, sizeof to, "%.1000s/dupe.inkml", dirs[k]);
        if (k) {
            copy(TAP_SOURCE_DIR "/tests/golden/inkml/basic.inkml", to);
        } else {
            FILE *f = fopen(to, "w");
            fputs("<ink><trace>1 2, 3", f);
            fclose(f);
        }
    }
    // the corpus twice (every uid repeats, across many chunks), the three dupes, a file again
    snprintf(inputs, sizeof inputs, "%s %s %s %s %s %s/basic.inkml %s/tests/golden/features", in,
             dirs[0], dirs[1], in, dirs[2], in, TAP_SOURCE_DIR);
    snprintf(a, sizeof a, "%s/memory.h5", tu_tmpdir());
    snprintf(b, sizeof b, "%s/spilled.h5", tu_tmpdir());
    char *out_a, *err_a, *out_b, *err_b;
    cr_assert_eq(prep_text("", inputs, a, &out_a, &err_a), 0, "%s", err_a);
    cr_assert_eq(prep_text("--list-memory 64", inputs, b, &out_b, &err_b), 0, "%s", err_b);
    cr_expect(strstr(out_a, "converted") && strstr(out_a, "duplicate uid"), "%s", out_a);
    cr_expect_str_eq(out_b, out_a, "stdout");
    cr_expect_str_eq(err_b, err_a, "stderr");
    cr_expect(strstr(err_a, "d2/dupe.inkml: uid dupe was already converted"), "%s", err_a);
    cr_expect(!strstr(err_a, "d1/dupe.inkml: uid dupe was already"), "%s", err_a);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    cr_expect_eq(system(cmd), 0, "the outputs differ");
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tap-spill", tu_tmpdir());
    cr_expect_neq(system(cmd), 0, "a temporary file was left");
    free(out_a), free(err_a), free(out_b), free(err_b);
}
