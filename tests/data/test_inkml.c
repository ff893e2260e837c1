// InkML parser: golden dumps of small inputs (tests/golden/inkml/*.inkml -> .expected), the
// broken-file corpus (tests/bad_inkml/, expected.tsv lists file, category and message), limits,
// and, when ../shared is present, every CROHME variant in the 2014 training set.
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inkml.h"
#include "test_util.h"

// Appends printf output to a growing string.
typedef struct {
    char *s;
    size_t n, cap;
} Str;

static void put(Str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Str *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = 2 * (b->n + (size_t)need + 1);
        b->s = realloc(b->s, b->cap);
        cr_assert_not_null(b->s);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

// The text form of a document that the .expected files hold.
static char *dump(const InkmlDoc *d) {
    Str b = {0};
    put(&b, "uid: %s\n", d->uid);
    put(&b, "truth: %s\n", d->truth ? d->truth : "(none)");
    put(&b, "traces: %d points: %d\n", d->n_traces, d->n_points);
    for (int t = 0; t < d->n_traces; t++) {
        put(&b, "trace %d:", t);
        for (int i = d->trace_start[t]; i < d->trace_start[t + 1]; i++)
            put(&b, "%s %.9g %.9g", i == d->trace_start[t] ? "" : ",", d->x[i], d->y[i]);
        put(&b, "\n");
    }
    put(&b, "symbols: %d\n", d->n_symbols);
    for (int s = 0; s < d->n_symbols; s++) {
        const InkmlSymbol *y = &d->symbols[s];
        put(&b, "symbol %d: '%s' href %s traces", s, y->label, y->href ? y->href : "(none)");
        for (int j = 0; j < y->n_traces; j++) put(&b, " %d", y->traces[j]);
        put(&b, "\n");
    }
    return b.s;
}

static void check_golden(const char *name) {
    char path[1024], exp_path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/inkml/%s.inkml", tu_source_dir(), name);
    snprintf(exp_path, sizeof exp_path, "%s/tests/golden/inkml/%s.expected", tu_source_dir(), name);
    InkmlDoc d;
    TapError err = {0};
    int rc = inkml_load(path, &d, &err);
    cr_assert_eq(rc, TAP_OK, "%s: %s", name, err.msg);
    char *got = dump(&d);
    char *want = tu_read_file(exp_path, NULL);
    if (getenv("TAP_UPDATE_GOLDEN")) {
        FILE *f = fopen(exp_path, "w");
        fputs(got, f);
        fclose(f);
    }
    cr_assert_not_null(want, "missing %s", exp_path);
    cr_assert_str_eq(got, want, "%s: dump differs:\n%s", name, got);
    free(got);
    free(want);
    inkml_free(&d);
}

Test(inkml, basic_file_matches_its_golden_dump) { check_golden("basic"); }
Test(inkml, xyt_channels_fractional_and_ragged_whitespace_match_golden_dump) {
    check_golden("xyt_fractional");
}
Test(inkml, prefixed_namespace_and_string_ids_match_golden_dump) { check_golden("prefixed_ns"); }
Test(inkml, latin1_file_is_reparsed_as_iso_8859_1) { check_golden("latin1"); }

// Each line of expected.tsv: file, category (inkml_fail_str), a substring of the message.
Test(inkml, every_broken_file_fails_cleanly_with_its_message) {
    char list[1024];
    snprintf(list, sizeof list, "%s/tests/bad_inkml/expected.tsv", tu_source_dir());
    FILE *f = fopen(list, "r");
    cr_assert_not_null(f, "missing %s", list);
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = '\0';
        char *file = strtok(line, "\t"), *cat = strtok(NULL, "\t"), *msg = strtok(NULL, "\t");
        cr_assert(file && cat && msg, "bad line in expected.tsv");
        if (!strcmp(cat, "ok")) continue; // parses; rejected later (features, labels)
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/bad_inkml/%s", tu_source_dir(), file);
        InkmlDoc d;
        InkmlFail why = INKML_FAIL_NONE;
        TapError err = {0};
        int rc = inkml_load_why(path, &d, &why, &err);
        cr_expect_neq(rc, TAP_OK, "%s was accepted", file);
        cr_expect_eq(err.code, rc, "%s: code", file);
        cr_expect_str_eq(inkml_fail_str(why), cat, "%s: category", file);
        cr_expect(strstr(err.msg, msg) != NULL, "%s: message '%s' lacks '%s'", file, err.msg, msg);
        cr_expect(strstr(err.msg, file) != NULL, "%s: message '%s' does not name the file", file,
                  err.msg);
        cr_expect(strchr(err.msg, '\n') == NULL, "%s: message is not one line", file);
        cr_expect_eq(d.n_points, 0);
        cr_expect_null(d.x);
        inkml_free(&d);
        cases++;
    }
    fclose(f);
    cr_assert_geq(cases, 12);
}

Test(inkml, unreadable_paths_fail_with_io_errors) {
    InkmlDoc d;
    InkmlFail why;
    TapError err = {0};
    cr_assert_eq(inkml_load_why("/nonexistent/x.inkml", &d, &why, &err), TAP_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/x.inkml: cannot open"), "%s", err.msg);
    cr_assert_eq(why, INKML_FAIL_READ);
    // A directory opens but cannot be read (root can read any file, so no chmod test).
    char dir[512];
    snprintf(dir, sizeof dir, "%s/d.inkml", tu_tmpdir());
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(inkml_load_why(dir, &d, &why, &err), TAP_ERR_IO);
    cr_assert(strstr(err.msg, "cannot read"), "%s", err.msg);
    cr_assert_eq(why, INKML_FAIL_READ);
}

Test(inkml, parse_from_memory_takes_uid_from_the_name) {
    const char *doc = "<ink><trace>1 2, 3 4</trace></ink>";
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_parse(doc, strlen(doc), "some/dir/abc_1.inkml", &d, &err), TAP_OK, "%s",
                 err.msg);
    cr_assert_str_eq(d.uid, "abc_1");
    cr_assert_null(d.truth);
    cr_assert_eq(d.n_symbols, 0);
    cr_assert_eq(d.trace_start[1], 2);
    inkml_free(&d);
    inkml_free(&d); // safe twice
}

Test(inkml, long_coordinates_are_read_whole) {
    // 80 characters each: leading zeros, many decimals, an exponent after many digits.
    char lead[128], decimals[128], expo[128], doc[1024];
    snprintf(lead, sizeof lead, "%s12.5", "0000000000000000000000000000000000000000000000000000000000000000000000000000");
    snprintf(decimals, sizeof decimals, "3.%s", "1415926535897932384626433832795028841971693993751058209749445923078164062862");
    snprintf(expo, sizeof expo, "%se-70", "1000000000000000000000000000000000000000000000000000000000000000000000000000");
    snprintf(doc, sizeof doc, "<ink><trace>%s %s, %s 7</trace></ink>", lead, decimals, expo);
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_parse(doc, strlen(doc), "long.inkml", &d, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(d.n_points, 2);
    cr_expect_eq(d.x[0], 12.5);
    cr_expect_eq(d.y[0], strtod(decimals, NULL));
    cr_expect(d.y[0] > 3.14159 && d.y[0] < 3.1416, "%.17g", d.y[0]);
    cr_expect_eq(d.x[1], 1e5, "%.17g", d.x[1]);
    inkml_free(&d);
}

Test(inkml, more_than_ten_million_points_is_an_absurd_size) {
    size_t n = (size_t)INKML_MAX_POINTS + 1, len = 0;
    char *buf = malloc(n * 4 + 64);
    cr_assert_not_null(buf);
    len += (size_t)sprintf(buf, "<ink><trace>");
    for (size_t i = 0; i < n; i++) memcpy(buf + len + 4 * i, "1 2,", 4);
    len += 4 * n - 1; // no trailing comma
    len += (size_t)sprintf(buf + len, "</trace></ink>");
    InkmlDoc d;
    InkmlFail why;
    TapError err = {0};
    cr_assert_eq(inkml_parse_why(buf, len, "big", &d, &why, &err), TAP_ERR_ARG);
    cr_assert_eq(why, INKML_FAIL_SIZE);
    cr_assert(strstr(err.msg, "absurd size"), "%s", err.msg);
    free(buf);
}

Test(inkml, deep_nesting_and_large_text_do_not_break_the_parser) {
    Str b = {0};
    put(&b, "<ink>");
    for (int i = 0; i < 2000; i++) put(&b, "<g>");
    for (int i = 0; i < 2000; i++) put(&b, "</g>");
    put(&b, "<annotation type=\"truth\">");
    for (int i = 0; i < 20000; i++) put(&b, "x");
    put(&b, "</annotation><trace>0 0, 1 1</trace></ink>");
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_parse(b.s, b.n, "deep", &d, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(strlen(d.truth), 20000);
    inkml_free(&d);
    free(b.s);
}

static int has_fraction(const InkmlDoc *d) {
    for (int i = 0; i < d->n_points; i++)
        if (d->x[i] != (double)(long)d->x[i]) return 1;
    return 0;
}

typedef struct {
    int with_truth, fully_segmented;
} TrainCounts;

// Parses one training file and counts it in ctx (a TrainCounts).
static int count_training_file(const char *path, void *ctx) {
    TrainCounts *c = ctx;
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    c->with_truth += d.truth != NULL;
    int refs = 0;
    for (int s = 0; s < d.n_symbols; s++) refs += d.symbols[s].n_traces;
    c->fully_segmented += refs == d.n_traces;
    inkml_free(&d);
    return 0;
}

// The variants the task names, checked explicitly, then every 2014 training file.
Test(inkml, every_crohme_2014_training_file_parses, .timeout = 300) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    struct {
        const char *uid;
        const char *truth_prefix;
        int fractional;
    } cases[] = {
        {"MfrDB0104", "$c \\cdot", 0},          // latin-1 byte
        {"MfrDB0002", "$2 + 3$", 0},            // X Y T, XML declaration
        {"MfrDB0026", NULL, 0},                 // X Y F
        {"2009210-947-0", " \\sin ^ 2", 0},     // no traceFormat, truth without $
        {"formulaire001-equation001", NULL, 1}, // HAMEX, fractional coordinates
    };
    char path[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/crohme/2014/train/%s.inkml", shared, cases[i].uid);
        InkmlDoc d;
        TapError err = {0};
        cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
        cr_expect_str_eq(d.uid, cases[i].uid);
        cr_expect_not_null(d.truth);
        if (cases[i].truth_prefix)
            cr_expect(!strncmp(d.truth, cases[i].truth_prefix, strlen(cases[i].truth_prefix)),
                      "%s: %s", cases[i].uid, d.truth);
        cr_expect_eq(has_fraction(&d), cases[i].fractional, "%s", cases[i].uid);
        cr_expect_gt(d.n_symbols, 0, "%s", cases[i].uid);
        inkml_free(&d);
    }
    snprintf(path, sizeof path, "%s/crohme/2014/train", shared);
    TrainCounts c = {0, 0};
    int n = tu_for_each_file(path, ".inkml", count_training_file, &c);
    cr_assert_geq(n, 0, "cannot read %s", path);
    cr_expect_eq(n, 8835);
    cr_expect_eq(c.with_truth, n);
    // 114 files leave a stray trace out of every symbol (checked with Python's ElementTree too).
    cr_expect_eq(c.fully_segmented, 8721, "%d of %d files have every trace in a symbol",
                 c.fully_segmented, n);
}

Test(inkml, the_expressions_mathml_is_kept_as_a_tree_and_symbol_hrefs_still_work) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/inkml/basic.inkml", tu_source_dir());
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    // math > mrow > (msup > (mi x, mn 2), mo <, mn 1)
    cr_assert_eq(d.n_mathml, 7);
    cr_expect_str_eq(d.mathml_encoding, "Content-MathML");
    const char *names[] = {"math", "mrow", "msup", "mi", "mn", "mo", "mn"};
    const char *texts[] = {NULL, NULL, NULL, "x", "2", "<", "1"};
    for (int i = 0; i < 7; i++) {
        cr_expect_str_eq(d.mathml[i].name, names[i]);
        if (texts[i])
            cr_expect_str_eq(d.mathml[i].text, texts[i]);
        else
            cr_expect_null(d.mathml[i].text);
    }
    cr_expect_eq(d.mathml[2].next_sibling, 5);
    cr_expect_eq(d.mathml[5].next_sibling, 6);
    cr_expect_str_eq(d.mathml[5].id, "<_1");
    cr_expect_eq(d.n_symbols, 4);
    cr_expect_str_eq(d.symbols[2].href, "<_1");
    inkml_free(&d);
    // a file without MathML has none
    snprintf(path, sizeof path, "%s/tests/golden/inkml/latin1.inkml", tu_source_dir());
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(d.n_mathml, 0);
    cr_expect_null(d.mathml);
    inkml_free(&d);
}
