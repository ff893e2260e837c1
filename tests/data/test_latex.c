// latex_tokenize: golden cases per normalisation rule, malformed input, never crashing on
// random input, and agreement with TAP's labels of the CROHME 2014 training set.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inkml.h"
#include "latex.h"
#include "test_util.h"
#include "tsv.h"

// Calls fn(input, expected) for each "input<TAB>expected" line of a golden file; returns lines.
static int each_golden(const char *name, void (*fn)(const char *, const char *, int)) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/latex/%s", tu_source_dir(), name);
    char *buf = tu_read_file(path, NULL);
    cr_assert_not_null(buf, "cannot read %s", path);
    int n = 0, lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        cr_assert_not_null(tab, "%s:%d: no TAB", name, lineno);
        *tab = '\0';
        fn(line, tab + 1, lineno);
        n++;
    }
    free(buf);
    return n;
}

static void check_case(const char *in, const char *want, int lineno) {
    TokenList t;
    TapError err = {0};
    int rc = latex_tokenize(in, &t, &err);
    cr_expect_eq(rc, TAP_OK, "cases.tsv:%d \"%s\" failed: %s", lineno, in, err.msg);
    if (rc) return;
    char got[2048];
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, want, "cases.tsv:%d \"%s\"", lineno, in);
    for (int i = 0; i < t.n; i++)
        cr_expect(t.tok[i][0] && !strchr(t.tok[i], ' '), "token %d of \"%s\" is blank", i, in);
    token_list_free(&t);
}

Test(latex, golden_cases_give_tap_tokens) {
    cr_assert_geq(each_golden("cases.tsv", check_case), 60);
}

static void check_canonical(const char *in, const char *want, int lineno) {
    TokenList t;
    TapError err = {0};
    cr_assert_eq(latex_tokenize(in, &t, &err), TAP_OK, "canonical.tsv:%d: %s", lineno, err.msg);
    char before[2048], got[2048];
    token_list_join(&t, before, sizeof before);
    int changed = -1;
    cr_assert_eq(latex_canonicalize(&t, &changed, &err), TAP_OK, "%s", err.msg);
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, want, "canonical.tsv:%d \"%s\"", lineno, in);
    cr_expect_eq(changed, strcmp(before, got) != 0, "canonical.tsv:%d: changed flag", lineno);
    // canonical labels are a fixed point
    cr_assert_eq(latex_canonicalize(&t, &changed, &err), TAP_OK);
    cr_expect_eq(changed, 0, "canonical.tsv:%d: not a fixed point", lineno);
    token_list_free(&t);
}

Test(latex, canonical_labels_order_scripts_drop_limits_and_spell_primes) {
    cr_assert_geq(each_golden("canonical.tsv", check_canonical), 15);
}

static void check_malformed(const char *in, const char *want, int lineno) {
    TokenList t = {.n = 7, .tok = NULL};
    TapError err = {0};
    int rc = latex_tokenize(in, &t, &err);
    cr_expect_eq(rc, TAP_ERR_FORMAT, "malformed.tsv:%d \"%s\" did not fail", lineno, in);
    cr_expect(strstr(err.msg, want) != NULL, "malformed.tsv:%d message \"%s\" lacks \"%s\"",
              lineno, err.msg, want);
    cr_expect(strstr(err.msg, in) != NULL || strlen(in) > 200,
              "malformed.tsv:%d message \"%s\" does not quote the input", lineno, err.msg);
    cr_expect(t.n == 0 && t.tok == NULL, "a failed call leaves the list empty");
    if (rc == TAP_OK) token_list_free(&t);
}

Test(latex, malformed_latex_fails_with_a_message_quoting_it) {
    cr_assert_geq(each_golden("malformed.tsv", check_malformed), 10);
}

Test(latex, deep_nesting_fails_instead_of_overflowing_the_stack) {
    size_t n = 100000;
    char *s = malloc(2 * n + 2);
    memset(s, '{', n);
    s[n] = 'x';
    memset(s + n + 1, '}', n);
    s[2 * n + 1] = '\0';
    TokenList t;
    TapError err = {0};
    cr_assert_eq(latex_tokenize(s, &t, &err), TAP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "nesting") != NULL, "%s", err.msg);
    // just inside the limit is fine
    int d = LATEX_MAX_DEPTH - 1;
    memset(s, '^', 2 * n + 1);
    char *p = s;
    for (int i = 0; i < d; i++) *p++ = '{';
    *p++ = 'x';
    for (int i = 0; i < d; i++) *p++ = '}';
    *p = '\0';
    cr_assert_eq(latex_tokenize(s, &t, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(t.n, 1);
    token_list_free(&t);
    free(s);
}

Test(latex, null_truth_is_an_argument_error) {
    TokenList t;
    TapError err = {0};
    cr_assert_eq(latex_tokenize(NULL, &t, &err), TAP_ERR_ARG);
    cr_expect_eq(t.n, 0);
    cr_assert_eq(latex_tokenize("\\foo", &t, NULL), TAP_ERR_FORMAT, "a NULL err is allowed");
}

Test(latex, options_turn_the_tap_specific_rules_off) {
    LatexOptions o = latex_options_default();
    cr_assert(!o.bare_number_canonical && o.spaced_function_names);
    o.bare_number_canonical = 1;
    TokenList t;
    char got[256];
    cr_assert_eq(latex_tokenize_with("02.50", &o, &t, NULL), TAP_OK);
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, "2 . 5", "TAP's canonical numbers on request");
    token_list_free(&t);
    o.bare_number_canonical = 0;
    o.spaced_function_names = 0;
    cr_assert_eq(latex_tokenize_with("02.50", &o, &t, NULL), TAP_OK);
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, "0 2 . 5 0");
    token_list_free(&t);
    cr_assert_eq(latex_tokenize_with("l o g x", &o, &t, NULL), TAP_OK);
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, "l o g x");
    token_list_free(&t);
}

Test(latex, join_reports_the_needed_length_and_truncates_safely) {
    TokenList t = {0};
    cr_assert_eq(token_list_push(&t, "\\frac", NULL), TAP_OK);
    cr_assert_eq(token_list_push(&t, "{", NULL), TAP_OK);
    char buf[4];
    cr_expect_eq(token_list_join(&t, buf, sizeof buf), strlen("\\frac {"));
    cr_expect_str_eq(buf, "\\fr");
    cr_expect_eq(token_list_join(&t, NULL, 0), 7u);
    for (int i = 0; i < 1000; i++) cr_assert_eq(token_list_push(&t, "x", NULL), TAP_OK);
    cr_expect_eq(t.n, 1002);
    cr_expect_str_eq(t.tok[1001], "x");
    token_list_free(&t);
    cr_expect(t.n == 0 && t.tok == NULL);
}

// Random strings built from LaTeX fragments and raw bytes: every call returns OK or a
// FORMAT error with a message, and never crashes (run under ASan in the sanitizer build).
Test(latex, random_input_never_crashes) {
    static const char *const frag[] = {
        "{", "}", "_", "^", "\\frac", "\\sqrt", "[", "]", "a", "1", ".", "\\left", "\\right",
        "\\mbox", "ABOVE", "$", "\\", " ", "l o g", "\\lt", "\\{", "\\}", "\\parallel", "\\foo",
        "\xc3\xa9", "\xff", "\xe2\x82", "~", "\\,", "02", "\\limits", "\\hat", "\t", "'"};
    size_t nf = sizeof frag / sizeof frag[0];
    TapRng rng;
    rng_seed(&rng, 1234);
    char s[512];
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = 0;
        int parts = (int)rng_below(&rng, 24);
        for (int k = 0; k < parts; k++) {
            const char *f = frag[rng_below(&rng, (uint32_t)nf)];
            size_t fl = strlen(f);
            if (len + fl + 1 >= sizeof s) break;
            memcpy(s + len, f, fl);
            len += fl;
        }
        s[len] = '\0';
        TokenList t;
        TapError err = {0};
        int rc = latex_tokenize(s, &t, &err);
        if (rc == TAP_OK) {
            ok++;
            for (int i = 0; i < t.n; i++) cr_assert(t.tok[i][0] != '\0', "empty token from \"%s\"", s);
            token_list_free(&t);
        } else {
            bad++;
            cr_assert_eq(rc, TAP_ERR_FORMAT, "\"%s\": %s", s, err.msg);
            cr_assert(err.msg[0] != '\0');
        }
    }
    cr_expect(ok > 1000 && bad > 1000, "ok %d, failed %d", ok, bad);
}

// The labels of the 8,835 CROHME 2014 training expressions against TAP's train_caption.txt.
Test(latex, agrees_with_tap_captions_on_crohme_2014_train, .timeout = 60) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("no ../shared/crohme");
    char path[4096];
    snprintf(path, sizeof path, "%s/crohme/tap/train_caption.txt", shared);
    TsvTable cap;
    TapError err = {0};
    cr_assert_eq(tsv_load(path, &cap, &err), TAP_OK, "%s", err.msg);
    int same = 0, loaded = 0;
    for (int e = 0; e < cap.n; e++) {
        InkmlDoc doc;
        snprintf(path, sizeof path, "%s/crohme/2014/train/%s.inkml", shared, cap.e[e].uid);
        if (inkml_load(path, &doc, &err)) continue;
        loaded++;
        TokenList t;
        if (doc.truth && latex_tokenize(doc.truth, &t, &err) == TAP_OK) {
            int eq = t.n == cap.e[e].n;
            for (int i = 0; eq && i < t.n; i++) eq = strcmp(t.tok[i], cap.e[e].tok[i]) == 0;
            same += eq;
            token_list_free(&t);
        }
        inkml_free(&doc);
    }
    double rate = (double)same / cap.n;
    cr_log_info("identical token sequences: %d / %d = %.2f%% (%d files loaded)", same, cap.n,
                100.0 * rate, loaded);
    cr_expect_eq(cap.n, 8835);
    cr_expect_geq(rate, 0.97, "agreement %.2f%% < 97%%", 100.0 * rate);
    tsv_free(&cap);
}
