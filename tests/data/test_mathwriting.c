// MathWriting InkML: the tokeniser of unspaced labels (golden cases from the 11 real files and
// one per rule, malformed labels, random input), split tags, the InkML fields, and, when
// ../shared is present, the real files themselves.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inkml.h"
#include "mathwriting.h"
#include "rng.h"
#include "test_util.h"

#define GOLDEN "/tests/golden/mathwriting/"

// Calls fn(case, a, b) for each "case<TAB>a<TAB>b" line of a golden file; returns lines.
static int each_golden(const char *name, void (*fn)(const char *, const char *, const char *)) {
    char path[4096];
    snprintf(path, sizeof path, "%s" GOLDEN "%s", tu_source_dir(), name);
    char *buf = tu_read_file(path, NULL);
    cr_assert_not_null(buf, "cannot read %s", path);
    int n = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] == '#' || !line[0]) continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        cr_assert(t1 && t2, "%s: line without two TABs: %s", name, line);
        *t1 = *t2 = '\0';
        fn(line, t1 + 1, t2 + 1);
        n++;
    }
    free(buf);
    return n;
}

static void check_case(const char *name, const char *label, const char *want) {
    TokenList t;
    TapError err = {0};
    int rc = mw_tokenize(label, &t, &err);
    cr_expect_eq(rc, TAP_OK, "%s: \"%s\" failed: %s", name, label, err.msg);
    if (rc) return;
    char got[2048];
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, want, "%s: \"%s\"", name, label);
    for (int i = 0; i < t.n; i++)
        cr_expect(t.tok[i][0] && !strchr(t.tok[i], ' '), "%s: token %d is blank", name, i);
    token_list_free(&t);
}

Test(mathwriting, golden_labels_give_their_tokens) {
    cr_assert_geq(each_golden("labels.tsv", check_case), 24);
}

static void check_malformed(const char *name, const char *label, const char *why) {
    TokenList t = {0};
    TapError err = {0};
    cr_expect_eq(mw_tokenize(label, &t, &err), TAP_ERR_FORMAT, "%s: \"%s\" was accepted", name,
                 label);
    cr_expect(strstr(err.msg, why), "%s: message '%s' lacks '%s'", name, err.msg, why);
    cr_expect_eq(t.n, 0);
    cr_expect_null(t.tok);
}

Test(mathwriting, malformed_labels_fail_with_a_message) {
    cr_assert_geq(each_golden("malformed.tsv", check_malformed), 10);
}

Test(mathwriting, random_bytes_never_crash) {
    const char alphabet[] = "\\{}_^&ab1 .$[]beginmatrxd\xc3\xa9";
    TapRng rng;
    rng_seed(&rng, 15);
    char s[64];
    for (int it = 0; it < 20000; it++) {
        int n = (int)(rng_next(&rng) % 40);
        for (int i = 0; i < n; i++) s[i] = alphabet[rng_next(&rng) % (sizeof alphabet - 1)];
        s[n] = '\0';
        TokenList t;
        if (mw_tokenize(s, &t, NULL) == TAP_OK) {
            cr_assert_gt(t.n, 0);
            token_list_free(&t);
        }
    }
    char deep[2 * LATEX_MAX_DEPTH + 10];
    memset(deep, '{', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    TokenList t;
    TapError err;
    cr_expect_eq(mw_tokenize(deep, &t, &err), TAP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "nesting too deep"), "%s", err.msg);
}

Test(mathwriting, split_tags) {
    cr_expect_eq(mw_split_parse("train"), MW_SPLIT_TRAIN);
    cr_expect_eq(mw_split_parse(" valid\n"), MW_SPLIT_VALID);
    cr_expect_eq(mw_split_parse("test"), MW_SPLIT_TEST);
    cr_expect_eq(mw_split_parse("synthetic"), MW_SPLIT_SYNTHETIC);
    cr_expect_eq(mw_split_parse("Train"), -1);
    cr_expect_eq(mw_split_parse("trains"), -1);
    cr_expect_eq(mw_split_parse(NULL), -1);
    cr_expect_str_eq(mw_split_name(MW_SPLIT_SYNTHETIC), "synthetic");
    cr_expect_str_eq(mw_split_name(9), "?");
}

Test(mathwriting, fixture_fields_entities_and_xyt_channels) {
    char path[4096];
    snprintf(path, sizeof path, "%s" GOLDEN "fixture_train.inkml", tu_source_dir());
    InkmlDoc d;
    TapError err;
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    cr_expect(mw_is_mathwriting(&d));
    cr_expect_null(d.truth);
    cr_expect_str_eq(d.normalized_label, "\\begin{matrix}x<1&y\\end{matrix}");
    cr_expect_str_eq(d.split_tag, "train");
    cr_expect_eq(mw_split_parse(d.split_tag), MW_SPLIT_TRAIN);
    cr_expect_eq(d.n_traces, 6);
    cr_expect_eq(d.n_symbols, 0);
    cr_expect_eq(d.n_mathml, 0);
    cr_expect_eq(d.x[0], 14.0); // X Y T: the time is not a coordinate
    cr_expect_eq(d.y[0], -5.0);
    TokenList t;
    cr_assert_eq(mw_tokenize(d.normalized_label, &t, &err), TAP_OK, "%s", err.msg);
    char got[256];
    token_list_join(&t, got, sizeof got);
    cr_expect_str_eq(got, "\\begin{matrix} x < 1 & y \\end{matrix}");
    token_list_free(&t);
    inkml_free(&d);
    // a CROHME file is not MathWriting
    snprintf(path, sizeof path, "%s/tests/golden/inkml/basic.inkml", tu_source_dir());
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    cr_expect(!mw_is_mathwriting(&d));
    cr_expect_null(d.normalized_label);
    cr_expect_null(d.split_tag);
    inkml_free(&d);
}

// The real files: their labels are the golden cases named by their sampleId.
static char g_dir[4096];
static int g_checked;

static void check_real(const char *name, const char *label, const char *want) {
    if (!strncmp(name, "rule:", 5)) return;
    static const char *const dirs[] = {"train", "valid", "test"};
    for (int k = 0; k < 3; k++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s/%s.inkml", g_dir, dirs[k], name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        InkmlDoc d;
        TapError err;
        cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
        cr_expect(mw_is_mathwriting(&d), "%s", path);
        cr_expect_str_eq(d.normalized_label, label, "%s", path);
        cr_expect_geq(mw_split_parse(d.split_tag), 0, "%s: split '%s'", path, d.split_tag);
        check_case(name, d.normalized_label, want);
        inkml_free(&d);
        g_checked++;
        return;
    }
    cr_expect_fail("%s: no file %s.inkml under %s", name, name, g_dir);
}

Test(mathwriting, real_files_when_shared_is_present) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("../shared is not present");
    snprintf(g_dir, sizeof g_dir, "%s/mathwriting", shared);
    FILE *f = fopen(strcat(strcpy((char[4200]){0}, g_dir), "/README.md"), "rb");
    if (!f) cr_skip_test("../shared/mathwriting is not present");
    fclose(f);
    each_golden("labels.tsv", check_real);
    cr_expect_eq(g_checked, 11);
}
