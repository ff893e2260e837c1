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
