// `tap render` end to end on a tiny random checkpoint over data/sample InkML files (PNG files
// that decode, frames per step, index.html with errors first, the --attention path), and the
// attention-to-stroke bookkeeping of tools/recognize.c, compiled in here as llm.c's tests do.
#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recognize.h"
#define TU_MODEL_HELPERS
#include "test_util.h"

static char dir[256], model[300], dict[300];

// The same tiny model as test_decode: peaked, with a push towards <eol>, so that the samples
// end at different lengths.
static void make_model(void) {
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(model, sizeof model, "%s/tiny.h5", dir);
    snprintf(dict, sizeof dict, "%s/data/dictionary.txt", tu_source_dir());
    tu_tiny_model(model);
}

// Runs cmd with stdout into out (NULL: discarded) and its stderr kept in last_stderr.
static char last_stderr[16384];
static int run(const char *cmd, char *out, size_t len) {
    return tu_run(cmd, out, len, last_stderr, sizeof last_stderr);
}

// Decodes a PNG; returns its pixels (RGBA, malloc'd) or NULL, with its size.
static unsigned char *read_png(const char *path, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return NULL;
    img.format = PNG_FORMAT_RGBA;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        free(px);
        png_image_free(&img);
        return NULL;
    }
    *w = (int)img.width, *h = (int)img.height;
    return px;
}

static void samples_args(char *buf, size_t len, const int *idx, int n) {
    buf[0] = '\0';
    tu_sample_args(buf, len, idx, n, "truncated.inkml");
}

Test(render_cmd, strokes_take_the_token_with_the_most_summed_attention) {
    // 7 rows in strokes 0 0 0 | 1 1 | 2 2; pooling 2: annotation s covers rows 2s, 2s+1.
    const int stroke[7] = {0, 0, 0, 1, 1, 2, 2};
    const float alphas[3 * 4] = {
        0.7f, 0.1f, 0.1f,  0.1f,  // token 0: stroke 0 has rows 0,1 (0.7 each) and row 2 (0.1)
        0.1f, 0.8f, 0.05f, 0.05f, // token 1: rows 2,3 -> strokes 0 (0.8) and 1 (0.8 + 0.05)
        0.0f, 0.0f, 0.2f,  0.8f,  // token 2: stroke 2 = rows 5 (0.2) and 6 (0.8)
    };
    float scratch[3];
    int tok[3];
    rec_stroke_tokens(alphas, 3, 4, 2, stroke, 7, 3, scratch, tok);
    cr_assert_eq(tok[0], 0); // 0.7 + 0.7 + 0.1 = 1.5 against token 1's 0.1 + 0.1 + 0.8 = 1.0
    cr_assert_eq(tok[1], 1); // 0.85 against 0.2 (token 0) and 0.05 (token 2)
    cr_assert_eq(tok[2], 2);
    int none[3];
    const float zeros[4] = {0};
    rec_stroke_tokens(zeros, 1, 4, 2, stroke, 7, 3, scratch, none);
    cr_assert(none[0] == -1 && none[1] == -1 && none[2] == -1);
    // Row attention shares each annotation's weight among the rows it covers.
    float rows[7];
    rec_row_attention(alphas + 8, 4, 2, 7, rows);
    cr_assert(rows[0] == 0.0f && rows[4] == 0.1f && rows[5] == 0.1f && rows[6] == 0.4f);
}

Test(render_cmd, attention_files_round_trip) {
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    Vocab v;
    snprintf(dict, sizeof dict, "%s/data/dictionary.txt", tu_source_dir());
    cr_assert_eq(vocab_load(dict, &v, NULL), TAP_OK);
    int32_t tokens[2] = {5, 9};
    float alphas[3 * 2] = {0.25f, 0.75f, 1.0f, 0.0f, 0.5f, 0.5f};
    RecResult r = {
        .n = 2, .tokens = tokens, .n_att = 3, .S = 2, .alphas = alphas, .finished = 1, .n_rows = 6};
    TapError err;
    cr_assert_eq(rec_attention_save(dir, "a/b", &r, &v, 4, &err), TAP_OK, "%s", err.msg);
    char *path = rec_uid_path(dir, "a/b", ".att");
    cr_assert(strstr(path, "/a_b.att"), "%s", path);
    RecAttention a;
    cr_assert_eq(rec_attention_load(path, &a, &err), TAP_OK, "%s", err.msg);
    cr_assert(a.n_rows == 6 && a.S == 2 && a.pool == 4 && a.n_att == 3 && a.finished == 1);
    cr_assert_str_eq(a.tokens[0], v.tokens[5]);
    cr_assert_str_eq(a.tokens[2], "<eol>");
    for (int i = 0; i < 6; i++) cr_assert_eq(a.alphas[i], alphas[i]);
    rec_attention_free(&a);
    FILE *f = fopen(path, "w");
    fputs("tap-attention 1\nuid x\nrows 3 annotations 2 pool 2 steps 1 finished 0\ntokens a\n0.5 "
          "nan\n",
          f);
    fclose(f);
    cr_assert_eq(rec_attention_load(path, &a, &err), TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "not a number"), "%s", err.msg);
    free(path);
    vocab_free(&v);
}

Test(render_cmd, writes_decodable_pngs_frames_and_an_index_with_errors_first, .init = make_model) {
    char cmd[8192], args[4096], out[65536];
    // Predictions first, to make references at known edit distances.
    const int idx[] = {2, 0, -1, 4, 3};
    samples_args(args, sizeof args, idx, 5);
    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s --max-len 9 %s%s", TAP_BINARY_DIR, dict,
             model, args);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    char ref[400];
    snprintf(ref, sizeof ref, "%s/ref.tsv", dir);
    FILE *f = fopen(ref, "w");
    int extra[5] = {3, 0, 0, 1, 2}; // by sample: 18_em_0 +3 tokens, 29_em_151 +1, 32_em_204 +2
    int frames = 0;                 // of 27_em_101: its tokens, and <eol> unless cut at max-len
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char uid[64];
        sscanf(line, "%63s", uid);
        int k = 0;
        while (strcmp(tu_samples[k], uid)) k++;
        if (k == 2) {
            int n = 0;
            for (const char *c = strchr(line, '\t') + 1; *c; c++)
                n += *c != ' ' && (c[-1] == ' ' || c[-1] == '\t');
            frames = n < 9 ? n + 1 : 9;
        }
        fprintf(f, "%s", line);
        for (int e = 0; e < extra[k]; e++)
            fprintf(f, "%s\\alpha", strchr(line, '\t')[1] || e ? " " : "");
        fputc('\n', f);
    }
    fclose(f);
    char outdir[400];
    snprintf(outdir, sizeof outdir, "%s/pics", dir);
    snprintf(cmd, sizeof cmd,
             "%s/tap render --dict %s --max-len 9 --width 320 --frames --ref %s %s%s -o %s",
             TAP_BINARY_DIR, dict, ref, model, args, outdir);
    int rc = run(cmd, NULL, 0);
    const char *err = last_stderr;
    if (rc != 0) cr_log_error("%s", err);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(err, "truncated.inkml") && strstr(err, "4 pictures"), "%s", err);
    for (int i = 0; i < 5; i++) {
        char png[500];
        int w, h;
        snprintf(png, sizeof png, "%s/%s.png", outdir, tu_samples[i]);
        unsigned char *px = read_png(png, &w, &h);
        if (i == 1) { // 23_em_50 was not asked for
            cr_assert_null(px);
            continue;
        }
        cr_assert_not_null(px, "%s does not decode", png);
        cr_assert(w == 320 && h > 60, "%s is %dx%d", png, w, h);
        // Some ink in colour (not grey): strokes take their tokens' colours unless no token was
        // printed.
        int coloured = 0;
        for (size_t p = 0; p < (size_t)w * h; p++) {
            unsigned char *q = px + 4 * p;
            coloured += abs(q[0] - q[1]) > 40 || abs(q[1] - q[2]) > 40;
        }
        cr_assert(i == 4 || coloured > 50, "%s has %d coloured pixels", png, coloured);
        free(px);
    }
    cr_assert_gt(frames, 1);
    for (int t = 1; t <= frames + 1; t++) {
        char fr[500];
        int w, h;
        snprintf(fr, sizeof fr, "%s/frames/27_em_101.%03d.png", outdir, t);
        unsigned char *px = read_png(fr, &w, &h);
        cr_assert((px != NULL) == (t <= frames), "frame %d of %d", t, frames);
        free(px);
    }
    char index[500];
    snprintf(index, sizeof index, "%s/index.html", outdir);
    char *html = tu_read_file(index, NULL);
    cr_assert_not_null(html);
    const char *a = strstr(html, "id=\"18_em_0\""), *b = strstr(html, "id=\"32_em_204\""),
               *c = strstr(html, "id=\"29_em_151\""), *d = strstr(html, "id=\"27_em_101\"");
    cr_assert(a && b && c && d, "%s", html);
    cr_assert(a < b && b < c && c < d, "not sorted by distance, errors first:\n%s", html);
    const char *d3 = strstr(a, "distance 3");
    cr_assert(d3 && d3 < b && strstr(d, "distance 0"), "%s", html);
    char last[64];
    snprintf(last, sizeof last, "frames/27_em_101.%03d.png", frames);
    cr_assert(strstr(html, "src=\"27_em_101.png\"") && strstr(html, last), "%s", html);
    cr_assert(strstr(html, "\\alpha") && strstr(html, "1 input skipped") &&
                  strstr(html, "truncated.inkml"),
              "%s", html);
    cr_assert(strstr(html, "4 with a reference: 1 exact"), "%s", html);
    free(html);
}

Test(render_cmd, saved_attention_draws_the_same_picture_without_a_model, .init = make_model) {
    char cmd[8192], args[4096], att[400], p1[400], p2[400];
    const int idx[] = {0, 2};
    samples_args(args, sizeof args, idx, 2);
    snprintf(att, sizeof att, "%s/att", dir);
    snprintf(p1, sizeof p1, "%s/from_model", dir);
    snprintf(p2, sizeof p2, "%s/from_att", dir);
    snprintf(cmd, sizeof cmd, "%s/tap decode --dict %s --max-len 9 --attention %s %s%s",
             TAP_BINARY_DIR, dict, att, model, args);
    cr_assert_eq(run(cmd, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "%s/tap render --dict %s --max-len 9 --width 300 %s%s -o %s",
             TAP_BINARY_DIR, dict, model, args, p1);
    cr_assert_eq(run(cmd, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "%s/tap render --width 300 --attention %s%s -o %s", TAP_BINARY_DIR,
             att, args, p2);
    cr_assert_eq(run(cmd, NULL, 0), 0);
    for (int i = 0; i < 2; i++) {
        char a[500], b[500];
        int wa, ha, wb, hb;
        snprintf(a, sizeof a, "%s/%s.png", p1, tu_samples[idx[i]]);
        snprintf(b, sizeof b, "%s/%s.png", p2, tu_samples[idx[i]]);
        unsigned char *x = read_png(a, &wa, &ha), *y = read_png(b, &wb, &hb);
        cr_assert(x && y);
        cr_assert(wa == wb && ha == hb);
        cr_assert(!memcmp(x, y, (size_t)wa * ha * 4), "%s and %s differ", a, b);
        free(x), free(y);
    }
}

Test(render_cmd, bad_usage_exits_2_and_nothing_drawn_exits_1, .init = make_model) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/tap render --width 10 %s x.inkml", TAP_BINARY_DIR, model);
    cr_assert_eq(run(cmd, NULL, 0), 2);
    snprintf(cmd, sizeof cmd, "%s/tap render %s", TAP_BINARY_DIR, model);
    cr_assert_eq(run(cmd, NULL, 0), 2);
    snprintf(cmd, sizeof cmd,
             "%s/tap render --dict %s %s %s/tests/bad_inkml/truncated.inkml -o %s/none",
             TAP_BINARY_DIR, dict, model, tu_source_dir(), dir);
    cr_assert_eq(run(cmd, NULL, 0), 1);
}
