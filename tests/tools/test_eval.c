#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_util.h"

// Runs a shell command, capturing stdout into out; returns the exit status.
static int run(const char *cmd, char *out, size_t len) {
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(eval, report_matches_the_golden_file_and_details_are_written) {
    char cmd[2048], out[8192], details[600];
    snprintf(details, sizeof details, "%s/details.tsv", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s/tap eval --details %s %s/tests/golden/eval/hyp.txt %s/tests/golden/eval/ref.txt",
             TAP_BINARY_DIR, details, TAP_SOURCE_DIR, TAP_SOURCE_DIR);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/tests/golden/eval/expected.txt", TAP_SOURCE_DIR);
    char *want = tu_read_file(path, NULL);
    cr_assert_str_eq(out, want);
    free(want);
    char *d = tu_read_file(details, NULL);
    cr_assert_not_null(d);
    cr_assert(strstr(d, "e4\t1\t1\t0\t1\t1\t\n"), "missing hypothesis row: %s", d);
    cr_assert(strstr(d, "e3\t2\t5\t5\t0\ta + b = c\ta - b - c\n"), "%s", d);
    free(d);
}

Test(eval, bad_usage_exits_2_and_unreadable_input_exits_1) {
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s/tap eval only-one-file 2>/dev/null", TAP_BINARY_DIR);
    cr_assert_eq(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s/tap eval --top x a b 2>/dev/null", TAP_BINARY_DIR);
    cr_assert_eq(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s/tap eval /nonexistent/h /nonexistent/r 2>&1", TAP_BINARY_DIR);
    cr_assert_eq(run(cmd, out, sizeof out), 1);
    cr_assert(strstr(out, "tap eval: error: /nonexistent/h: cannot open"), "%s", out);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

// --seen splits the scores by whether a reference's label occurs verbatim among the training
// labels (after canonicalisation with --canonical), whatever their uids.
Test(eval, seen_splits_the_scores_by_labels_that_occur_in_training) {
    const char *dir = tu_tmpdir();
    char train[600], ref[600], hyp[600], cmd[4096], out[8192];
    snprintf(train, sizeof train, "%s/train.tsv", dir);
    snprintf(ref, sizeof ref, "%s/ref.tsv", dir);
    snprintf(hyp, sizeof hyp, "%s/hyp.tsv", dir);
    write_text(train, "t1\ta + b\nt2\tx _ { i } ^ { 2 }\nt3\tq\n");
    write_text(ref, "r1\ta + b\nr2\tx ^ { 2 } _ { i }\nr3\ty\nr4\ta + b + c\n");
    write_text(hyp, "r1\ta + b\nr2\tx ^ { 2 } _ { i }\nr3\tz\nr4\ta + b + c\n");
    snprintf(cmd, sizeof cmd, "%s/tap eval --top 0 --seen %s %s %s", TAP_BINARY_DIR, train, hyp,
             ref);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "unseen        3 expressions, ExpRate  66.67%  (2 exact), WER   6.67%"),
              "%s", out);
    cr_expect(strstr(out, "seen          1 expressions, ExpRate 100.00%  (1 exact), WER   0.00%"),
              "%s", out);
    // canonically r2's label is t2's (sub- before superscript): then 2 are seen
    snprintf(cmd, sizeof cmd, "%s/tap eval --top 0 --canonical --seen %s %s %s", TAP_BINARY_DIR,
             train, hyp, ref);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "unseen        2 expressions, ExpRate  50.00%  (1 exact)"), "%s", out);
    cr_expect(strstr(out, "seen          2 expressions, ExpRate 100.00%  (2 exact)"), "%s", out);
    // an unreadable training file: one line, exit 1
    snprintf(cmd, sizeof cmd, "%s/tap eval --seen %s/none.tsv %s %s 2>&1", TAP_BINARY_DIR, dir,
             hyp, ref);
    cr_assert_eq(run(cmd, out, sizeof out), 1);
    cr_expect(strstr(out, "tap eval: error: --seen: ") && strstr(out, "none.tsv"), "%s", out);
}
