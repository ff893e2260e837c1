// vocab_load / vocab_id on TAP's dictionary, and bad dictionary files failing cleanly.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "vocab.h"

static const char *dictionary(void) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/data/dictionary.txt", tu_source_dir());
    return path;
}

Test(vocab, loads_taps_111_token_dictionary) {
    Vocab v;
    TapError err = {0};
    cr_assert_eq(vocab_load(dictionary(), &v, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(v.n, 111);
    cr_expect_eq(vocab_id(&v, "<eol>"), 0);
    cr_expect_eq(vocab_id(&v, "\\geq"), 1);
    cr_expect_eq(vocab_id(&v, "\\sqrt"), 2);
    cr_expect_str_eq(vocab_token(&v, 2), "\\sqrt");
    cr_expect_geq(vocab_id(&v, "\\frac"), 0);
    cr_expect_geq(vocab_id(&v, "\\limits"), 0);
    cr_expect_eq(vocab_id(&v, "\\Pi"), -1);
    cr_expect_eq(vocab_id(&v, "D"), -1, "CROHME 2014 has no D");
    cr_expect_eq(vocab_id(&v, ""), -1);
    cr_expect_eq(vocab_id(&v, NULL), -1);
    cr_expect_null(vocab_token(&v, -1));
    cr_expect_null(vocab_token(&v, 111));
    for (int id = 0; id < v.n; id++) cr_expect_eq(vocab_id(&v, v.tokens[id]), id);
    vocab_free(&v);
    cr_expect(v.n == 0 && v.tokens == NULL);
    vocab_free(&v);  // twice is harmless
    cr_expect_eq(vocab_id(&v, "x"), -1, "a freed vocabulary knows nothing");
}

// Writes text to a fresh file and loads it; returns the status and fills err.
static int load_text(const char *text, size_t len, TapError *err) {
    char path[512];
    snprintf(path, sizeof path, "%s/dict.txt", tu_tmpdir());
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
    Vocab v;
    int rc = vocab_load(path, &v, err);
    if (rc == TAP_OK) {
        cr_expect_gt(v.n, 0);
        vocab_free(&v);
    } else {
        cr_expect(v.n == 0 && v.tokens == NULL && v.slots == NULL, "failure leaves v empty");
        cr_expect(err->msg[0] != '\0');
    }
    return rc;
}

#define LOAD(s, err) load_text(s, sizeof(s) - 1, err)

Test(vocab, accepts_crlf_and_blank_lines_and_any_id_order) {
    TapError err = {0};
    cr_expect_eq(LOAD("b\t1\r\n\r\na\t0\r\n", &err), TAP_OK, "%s", err.msg);
}

Test(vocab, missing_file_is_an_io_error) {
    Vocab v;
    TapError err = {0};
    cr_assert_eq(vocab_load("/nonexistent/dictionary.txt", &v, &err), TAP_ERR_IO);
    cr_expect(strstr(err.msg, "/nonexistent/dictionary.txt") != NULL, "%s", err.msg);
    cr_expect_eq(v.n, 0);
}

Test(vocab, bad_files_fail_cleanly_with_the_line) {
    TapError err = {0};
    cr_expect_eq(LOAD("a\t0\nb\t0\n", &err), TAP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "duplicate id 0") && strstr(err.msg, ":2:"), "%s", err.msg);
    cr_expect_eq(LOAD("a\t0\na\t1\n", &err), TAP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "duplicate token \"a\""), "%s", err.msg);
    cr_expect_eq(LOAD("a\t0\nb\t2\n", &err), TAP_ERR_FORMAT, "ids must be 0..n-1");
    cr_expect(strstr(err.msg, "out of range"), "%s", err.msg);
    cr_expect_eq(LOAD("a 0\n", &err), TAP_ERR_FORMAT, "no TAB");
    cr_expect(strstr(err.msg, ":1:"), "%s", err.msg);
    cr_expect_eq(LOAD("a\tzero\n", &err), TAP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "bad id"), "%s", err.msg);
    cr_expect_eq(LOAD("a\t-1\n", &err), TAP_ERR_FORMAT);
    cr_expect_eq(LOAD("a\t1x\n", &err), TAP_ERR_FORMAT);
    cr_expect_eq(LOAD("\t0\n", &err), TAP_ERR_FORMAT, "empty token");
    cr_expect_eq(LOAD("a b\t0\n", &err), TAP_ERR_FORMAT, "blank inside a token");
    cr_expect_eq(LOAD("", &err), TAP_ERR_FORMAT, "empty file");
    cr_expect(strstr(err.msg, "no tokens"), "%s", err.msg);
    cr_expect_eq(LOAD("a\t99999999999999999999\n", &err), TAP_ERR_FORMAT);
}

Test(vocab, binary_garbage_fails_cleanly) {
    unsigned char junk[4096];
    TapRng rng;
    rng_seed(&rng, 7);
    TapError err = {0};
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)rng_below(&rng, 256);
        cr_expect_neq(load_text((const char *)junk, sizeof junk, &err), TAP_OK);
    }
    // one enormous line
    char *big = malloc(100000);
    memset(big, 'x', 100000);
    cr_expect_eq(load_text(big, 100000, &err), TAP_ERR_FORMAT);
    free(big);
}
