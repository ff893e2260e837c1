// The dataset writer's own chunk filtering (shuffle + deflate, then H5Dwrite_chunk; dataset.c):
// a dataset of many chunks per column loads back value for value, is the same file byte for byte
// whatever the number of compressing threads, and every stored chunk holds the bytes HDF5's own
// filter pipeline makes when the same values go through H5Dwrite (the way the writer wrote them
// before).
#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "h5util.h"
#include "test_util.h"

static const char *const vocab[] = {"<eol>", "x", "+", "1", "\\frac", "{", "}", "y"};
#define NV 8
// Enough for many full chunks of /features (8192 rows), several of /point_stroke and /tokens
// (65536), two of the offsets (16384), and a partial last chunk everywhere.
#define N_EXPR 20000

typedef struct {
    int rows[N_EXPR], strokes[N_EXPR], toks[N_EXPR];
    size_t row0[N_EXPR], tok0[N_EXPR];
    size_t n_rows, n_toks;
    float *f;    // (n_rows, 9)
    int *ps;     // (n_rows)
    int *tok;    // (n_toks)
    int *a_str;  // (n_toks) one stroke per token
    int *a_start; // (n_toks + N_EXPR) per expression: toks + 1 offsets
    char uid[N_EXPR][16], src[N_EXPR][24];
} Corpus;

static uint64_t next(uint64_t *s) { // splitmix64
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static Corpus *make_corpus(void) {
    Corpus *c = calloc(1, sizeof *c);
    cr_assert(c);
    uint64_t s = 15;
    for (int e = 0; e < N_EXPR; e++) {
        c->rows[e] = 5 + (int)(next(&s) % 20);
        c->strokes[e] = 1 + (int)(next(&s) % 4);
        c->toks[e] = e % 97 == 0 ? 0 : 1 + (int)(next(&s) % 7);
        c->row0[e] = c->n_rows;
        c->tok0[e] = c->n_toks;
        c->n_rows += (size_t)c->rows[e];
        c->n_toks += (size_t)c->toks[e];
        snprintf(c->uid[e], sizeof c->uid[e], "u%d", e);
        snprintf(c->src[e], sizeof c->src[e], "dir/u%d.inkml", e);
    }
    c->f = malloc(c->n_rows * 9 * sizeof *c->f);
    c->ps = malloc(c->n_rows * sizeof *c->ps);
    c->tok = malloc(c->n_toks * sizeof *c->tok);
    c->a_str = malloc(c->n_toks * sizeof *c->a_str);
    c->a_start = malloc((c->n_toks + N_EXPR) * sizeof *c->a_start);
    cr_assert(c->f && c->ps && c->tok && c->a_str && c->a_start);
    for (size_t i = 0; i < c->n_rows * 9; i++) // smooth columns with noise, like features
        c->f[i] = (float)(i % 9) * 0.5f + (float)(next(&s) % 1000) * 1e-3f - 0.25f;
    for (int e = 0; e < N_EXPR; e++) {
        for (int i = 0; i < c->rows[e]; i++)
            c->ps[c->row0[e] + (size_t)i] = i * c->strokes[e] / c->rows[e];
        for (int j = 0; j < c->toks[e]; j++) {
            c->tok[c->tok0[e] + (size_t)j] = 1 + (int)(next(&s) % (NV - 1));
            c->a_str[c->tok0[e] + (size_t)j] = (int)(next(&s) % (uint64_t)c->strokes[e]);
        }
    }
    return c;
}

static void free_corpus(Corpus *c) {
    free(c->f);
    free(c->ps);
    free(c->tok);
    free(c->a_str);
    free(c->a_start);
    free(c);
}

static void write_corpus(const char *path, Corpus *c, int threads) {
    DatasetWriter *w;
    TapError err = {0};
    cr_assert_eq(dataset_writer_open(&w, path, vocab, NV, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(dataset_writer_set_threads(w, threads, &err), TAP_OK, "%s", err.msg);
    int start[8];
    for (int e = 0; e < N_EXPR; e++) {
        for (int j = 0; j <= c->toks[e]; j++) start[j] = j;
        DatasetEntry d = {.uid = c->uid[e],
                          .source = c->src[e],
                          .n_rows = c->rows[e],
                          .features = c->f + c->row0[e] * 9,
                          .point_stroke = c->ps + c->row0[e],
                          .n_strokes = c->strokes[e],
                          .n_tokens = c->toks[e],
                          .tokens = c->tok + c->tok0[e],
                          .align_start = e % 5 ? start : NULL, // some without alignments
                          .align_strokes = c->a_str + c->tok0[e]};
        cr_assert_eq(dataset_writer_add(w, &d, &err), TAP_OK, "%s", err.msg);
    }
    cr_assert_eq(dataset_writer_close(w, &err), TAP_OK, "%s", err.msg);
}

static char *tmp_path(const char *dir, const char *name) {
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

Test(dataset_chunks, loads_back_value_for_value) {
    Corpus *c = make_corpus();
    const char *path = tmp_path(tu_tmpdir(), "many.h5");
    write_corpus(path, c, 2);
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(path, &ds, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(ds.n, N_EXPR);
    cr_assert_eq(ds.V, NV);
    cr_assert_eq(ds.n_points, c->n_rows);
    cr_assert_eq(ds.n_tokens, c->n_toks);
    cr_assert_eq(memcmp(ds.features, c->f, c->n_rows * 9 * sizeof(float)), 0, "features differ");
    size_t a = 0;
    for (int e = 0; e < N_EXPR; e++) {
        cr_assert_eq(ds.feature_offsets[e], (int64_t)c->row0[e]);
        cr_assert_eq(ds.token_offsets[e], (int64_t)c->tok0[e]);
        cr_assert_eq(ds.n_strokes[e], c->strokes[e]);
        cr_assert_str_eq(ds.uids[e], c->uid[e]);
        cr_assert_str_eq(ds.sources[e], c->src[e]);
        for (int j = 0; j < c->toks[e]; j++) {
            size_t k = c->tok0[e] + (size_t)j;
            cr_assert_eq(ds.tokens[k], c->tok[k]);
            cr_assert_eq(ds.align_offsets[k], (int64_t)a);
            if (e % 5) cr_assert_eq(ds.align_strokes[a++], c->a_str[k]);
            cr_assert_eq(ds.align_offsets[k + 1], (int64_t)a);
        }
    }
    cr_assert_eq(ds.feature_offsets[N_EXPR], (int64_t)c->n_rows);
    cr_assert_eq(ds.n_align, a);
    for (size_t i = 0; i < c->n_rows; i++) cr_assert_eq(ds.point_stroke[i], c->ps[i]);
    dataset_free(&ds);
    free_corpus(c);
}

Test(dataset_chunks, same_file_for_any_thread_count) {
    Corpus *c = make_corpus();
    const char *dir = tu_tmpdir();
    char *p0 = tmp_path(dir, "t0.h5"), *p3 = tmp_path(dir, "t3.h5");
    write_corpus(p0, c, 0);
    write_corpus(p3, c, 3);
    size_t n0 = 0, n3 = 0;
    char *b0 = tu_read_file(p0, &n0), *b3 = tu_read_file(p3, &n3);
    cr_assert(b0 && b3);
    cr_assert_eq(n0, n3);
    cr_assert_eq(memcmp(b0, b3, n0), 0, "the files differ");
    free(b0);
    free(b3);
    free_corpus(c);
}

// Copies dataset name of f into g through H5Dwrite (HDF5's own filters, same creation
// properties), then compares every stored chunk, bytes and filter mask.
static void compare_with_pipeline(hid_t f, hid_t g, const char *name, hid_t mem_type,
                                  size_t esize) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert_geq(d, 0, "%s", name);
    hid_t space = H5Dget_space(d), dcpl = H5Dget_create_plist(d), type = H5Dget_type(d);
    hsize_t dims[2] = {0, 1}, chunk[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(space);
    H5Sget_simple_extent_dims(space, dims, NULL);
    cr_assert_eq(H5Pget_chunk(dcpl, 2, chunk), rank);
    cr_assert_eq(H5Pget_nfilters(dcpl), 2, "%s: shuffle and deflate", name);
    size_t n = (size_t)dims[0] * (size_t)dims[1];
    void *buf = malloc(n * esize + 1);
    cr_assert(buf);
    cr_assert_geq(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    hid_t e = H5Dcreate2(g, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(e, 0);
    cr_assert_geq(H5Dwrite(e, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    cr_assert_geq(H5Fflush(g, H5F_SCOPE_GLOBAL), 0);
    size_t n_chunks = (size_t)((dims[0] + chunk[0] - 1) / chunk[0]);
    cr_assert_gt(n_chunks, 1, "%s: one chunk only", name);
    for (size_t k = 0; k < n_chunks; k++) {
        hsize_t off[2] = {(hsize_t)k * chunk[0], 0}, s1 = 0, s2 = 0;
        cr_assert_geq(H5Dget_chunk_storage_size(d, off, &s1), 0);
        cr_assert_geq(H5Dget_chunk_storage_size(e, off, &s2), 0);
        cr_assert_eq(s1, s2, "%s: chunk %zu: %llu bytes, HDF5's filters make %llu", name, k,
                     (unsigned long long)s1, (unsigned long long)s2);
        unsigned char *c1 = malloc(s1 + 1), *c2 = malloc(s2 + 1);
        uint32_t m1 = 99, m2 = 99;
        cr_assert(c1 && c2);
        cr_assert_geq(H5Dread_chunk(d, H5P_DEFAULT, off, &m1, c1), 0);
        cr_assert_geq(H5Dread_chunk(e, H5P_DEFAULT, off, &m2, c2), 0);
        cr_assert_eq(m1, m2, "%s: chunk %zu: filter mask", name, k);
        cr_assert_eq(memcmp(c1, c2, s1), 0, "%s: chunk %zu: bytes differ", name, k);
        free(c1);
        free(c2);
    }
    free(buf);
    H5Dclose(e);
    H5Tclose(type);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Dclose(d);
}

Test(dataset_chunks, chunks_are_hdf5s_filter_output) {
    Corpus *c = make_corpus();
    const char *dir = tu_tmpdir();
    char *path = tmp_path(dir, "direct.h5"), *ref = tmp_path(dir, "pipeline.h5");
    write_corpus(path, c, 2);
    h5u_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Fcreate(ref, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(f >= 0 && g >= 0);
    compare_with_pipeline(f, g, "features", H5T_NATIVE_FLOAT, sizeof(float));
    compare_with_pipeline(f, g, "feature_offsets", H5T_NATIVE_INT64, 8);
    compare_with_pipeline(f, g, "point_stroke", H5T_NATIVE_INT32, 4);
    compare_with_pipeline(f, g, "n_strokes", H5T_NATIVE_INT32, 4);
    compare_with_pipeline(f, g, "tokens", H5T_NATIVE_INT32, 4);
    compare_with_pipeline(f, g, "token_offsets", H5T_NATIVE_INT64, 8);
    compare_with_pipeline(f, g, "align_offsets", H5T_NATIVE_INT64, 8);
    H5Fclose(g);
    H5Fclose(f);
    free_corpus(c);
}
