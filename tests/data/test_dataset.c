// HDF5 dataset: write -> load round trip, readability by h5dump / h5py, the writer's temporary
// file, and loader validation on truncated, garbage and subtly corrupted files.
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "h5util.h"
#include "test_util.h"

static const char *const vocab[] = {"<eol>", "x", "+", "1", "\\frac", "{", "}"};
#define NV 7

// Three expressions: a normal one, one without alignment, one with an empty label.
typedef struct {
    float f[3][40 * 9];
    int ps[3][40];
    int tok[3][8];
    int a_start[3][9];
    int a_str[3][16];
    DatasetEntry e[3];
} Fixture;

static void make_fixture(Fixture *fx) {
    memset(fx, 0, sizeof *fx);
    int rows[3] = {12, 40, 5}, strokes[3] = {3, 5, 1}, toks[3] = {3, 7, 0};
    int tokv[2][7] = {{1, 2, 3}, {4, 5, 1, 6, 5, 3, 6}};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < rows[k] * 9; i++) fx->f[k][i] = (float)(k * 1000 + i) * 0.25f - 3.0f;
        for (int i = 0; i < rows[k]; i++) fx->ps[k][i] = i * strokes[k] / rows[k];
        for (int j = 0; j < toks[k]; j++) fx->tok[k][j] = tokv[k][j];
    }
    // Expression 0: x + 1 with strokes {0}, {1}, {2}.
    int as0[] = {0, 1, 2, 3}, st0[] = {0, 1, 2};
    memcpy(fx->a_start[0], as0, sizeof as0);
    memcpy(fx->a_str[0], st0, sizeof st0);
    const char *uids[] = {"e0", "e1 with space", "e2-\xc3\xa9"};
    const char *srcs[] = {"/data/e0.inkml", "rel/e1.inkml", "e2.inkml"};
    for (int k = 0; k < 3; k++)
        fx->e[k] = (DatasetEntry){.uid = uids[k],
                                  .source = srcs[k],
                                  .n_rows = rows[k],
                                  .features = fx->f[k],
                                  .point_stroke = fx->ps[k],
                                  .n_strokes = strokes[k],
                                  .n_tokens = toks[k],
                                  .tokens = fx->tok[k],
                                  .align_start = k == 0 ? fx->a_start[0] : NULL,
                                  .align_strokes = k == 0 ? fx->a_str[0] : NULL};
}

static void write_fixture(const char *path, Fixture *fx) {
    DatasetWriter *w;
    TapError err = {0};
    cr_assert_eq(dataset_writer_open(&w, path, vocab, NV, &err), TAP_OK, "%s", err.msg);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(dataset_writer_add(w, &fx->e[k], &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(dataset_writer_count(w), 3);
    cr_assert_eq(dataset_writer_close(w, &err), TAP_OK, "%s", err.msg);
}

static char *tmp_path(const char *name) {
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", tu_tmpdir(), name);
    return p;
}

Test(dataset, write_then_load_round_trips_every_array) {
    Fixture fx;
    make_fixture(&fx);
    char path[1024];
    snprintf(path, sizeof path, "%s", tmp_path("rt.h5"));
    write_fixture(path, &fx);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert_neq(access(tmp, F_OK), 0, "temporary file left behind");

    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(path, &ds, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(ds.n, 3);
    cr_assert_eq(ds.V, NV);
    for (int v = 0; v < NV; v++) cr_expect_str_eq(ds.vocab[v], vocab[v]);
    cr_assert_eq(ds.n_points, 12 + 40 + 5);
    cr_assert_eq(ds.n_tokens, 10);
    cr_assert_eq(ds.n_align, 3);
    for (int k = 0; k < 3; k++) {
        const DatasetEntry *e = &fx.e[k];
        cr_expect_str_eq(ds.uids[k], e->uid);
        cr_expect_str_eq(ds.sources[k], e->source);
        cr_expect_eq(ds.n_strokes[k], e->n_strokes);
        cr_assert_eq(dataset_len_x(&ds, k), e->n_rows);
        cr_assert_eq(dataset_len_y(&ds, k), e->n_tokens);
        const float *f = ds.features + ds.feature_offsets[k] * 9;
        cr_expect_eq(memcmp(f, e->features, (size_t)e->n_rows * 9 * sizeof *f), 0, "features of %d",
                     k);
        for (int i = 0; i < e->n_rows; i++)
            cr_expect_eq(ds.point_stroke[ds.feature_offsets[k] + i], e->point_stroke[i]);
        for (int j = 0; j < e->n_tokens; j++) {
            int64_t t = ds.token_offsets[k] + j;
            cr_expect_eq(ds.tokens[t], e->tokens[j]);
            int64_t n_al = ds.align_offsets[t + 1] - ds.align_offsets[t];
            if (k == 0) {
                cr_expect_eq(n_al, 1);
                cr_expect_eq(ds.align_strokes[ds.align_offsets[t]], j);
            } else
                cr_expect_eq(n_al, 0);
        }
    }
    dataset_free(&ds);
    dataset_free(&ds); // safe twice
}

Test(dataset, output_is_readable_by_h5dump_and_h5py) {
    Fixture fx;
    make_fixture(&fx);
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s", tmp_path("tools.h5"));
    write_fixture(path, &fx);
    if (system("command -v h5dump >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd,
                 "h5dump -H %s | grep -q 'DATASET \"features\"' && h5dump -d /uids %s | grep -q "
                 "'e1 with space'",
                 path, path);
        cr_expect_eq(system(cmd), 0, "h5dump could not read %s", path);
    }
    if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0)
        cr_skip_test("no h5py in /usr/bin/python3");
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import h5py, numpy as np\n"
             "f = h5py.File('%s', 'r')\n"
             "assert f.attrs['format_version'] == 1 and f['features'].shape == (57, 9)\n"
             "assert f['features'].compression == 'gzip' and f['features'].chunks is not None\n"
             "o = f['feature_offsets'][:]; assert list(o) == [0, 12, 52, 57]\n"
             "assert list(f['token_offsets'][:]) == [0, 3, 10, 10]\n"
             "u = [s.decode() if isinstance(s, bytes) else s for s in f['uids'][:]]\n"
             "assert u[1] == 'e1 with space' and u[2] == 'e2-\\u00e9', u\n"
             "assert abs(float(f['features'][13, 0]) - (1000 + 9) * 0.25 + 3) < 1e-6\n\"",
             path);
    cr_expect_eq(system(cmd), 0, "h5py check failed");
}

Test(dataset, invalid_entries_are_rejected_and_the_writer_stays_usable) {
    Fixture fx;
    make_fixture(&fx);
    char path[1024];
    snprintf(path, sizeof path, "%s", tmp_path("bad_entry.h5"));
    DatasetWriter *w;
    TapError err = {0};
    cr_assert_eq(dataset_writer_open(&w, path, vocab, NV, &err), TAP_OK, "%s", err.msg);
    DatasetEntry e = fx.e[0];
    int bad_tok[3] = {1, 7, 2};
    e.tokens = bad_tok;
    cr_expect_eq(dataset_writer_add(w, &e, &err), TAP_ERR_ARG);
    cr_expect(strstr(err.msg, "e0: token id 7 outside the vocabulary"), "%s", err.msg);
    e = fx.e[0];
    fx.f[0][5] = NAN;
    cr_expect_eq(dataset_writer_add(w, &e, &err), TAP_ERR_NUMERIC);
    fx.f[0][5] = 0.0f;
    int bad_ps[12] = {0, 0, 0, 3};
    e.point_stroke = bad_ps;
    cr_expect_eq(dataset_writer_add(w, &e, &err), TAP_ERR_ARG);
    cr_expect_eq(dataset_writer_add(w, &fx.e[1], &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(dataset_writer_close(w, &err), TAP_OK, "%s", err.msg);
    Dataset ds;
    cr_assert_eq(dataset_load(path, &ds, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(ds.n, 1);
    dataset_free(&ds);
}

Test(dataset, abort_leaves_neither_the_final_nor_the_temporary_file) {
    Fixture fx;
    make_fixture(&fx);
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s", tmp_path("aborted.h5"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    DatasetWriter *w;
    TapError err = {0};
    cr_assert_eq(dataset_writer_open(&w, path, vocab, NV, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(dataset_writer_add(w, &fx.e[0], &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(access(tmp, F_OK), 0, "writes go to PATH.tmp");
    cr_expect_neq(access(path, F_OK), 0, "final name exists before close");
    dataset_writer_abort(w);
    cr_expect_neq(access(tmp, F_OK), 0);
    cr_expect_neq(access(path, F_OK), 0);
}

Test(dataset, unwritable_output_fails_with_the_file_name) {
    DatasetWriter *w;
    TapError err = {0};
    cr_assert_eq(dataset_writer_open(&w, "/nonexistent/dir/out.h5", vocab, NV, &err), TAP_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/dir/out.h5.tmp: cannot create"), "%s", err.msg);
    cr_assert_null(w);
}

static void expect_load_fails(const char *path, const char *substring) {
    Dataset ds;
    TapError err = {0};
    int rc = dataset_load(path, &ds, &err);
    cr_expect_neq(rc, TAP_OK, "%s loaded", path);
    cr_expect(strstr(err.msg, substring) != NULL, "message '%s' lacks '%s'", err.msg, substring);
    cr_expect(strstr(err.msg, path) != NULL, "message '%s' does not name the file", err.msg);
    cr_expect_null(ds.features);
    cr_expect_null(ds.uids);
}

Test(dataset, garbage_truncated_and_missing_files_fail_cleanly) {
    char path[1024];
    snprintf(path, sizeof path, "%s", tmp_path("garbage.h5"));
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 4096; i++) fputc((i * 7919) & 0xff, f);
    fclose(f);
    expect_load_fails(path, "not an HDF5 file");
    snprintf(path, sizeof path, "%s", tmp_path("empty.h5"));
    fclose(fopen(path, "wb"));
    expect_load_fails(path, "not an HDF5 file");
    expect_load_fails("/nonexistent/x.h5", "cannot open");

    // A real dataset cut at several lengths: never a crash, always a message.
    Fixture fx;
    make_fixture(&fx);
    char good[1024];
    snprintf(good, sizeof good, "%s", tmp_path("whole.h5"));
    write_fixture(good, &fx);
    size_t len;
    char *bytes = tu_read_file(good, &len);
    cr_assert_not_null(bytes);
    for (int cut = 1; cut < 8; cut++) {
        snprintf(path, sizeof path, "%s/cut%d.h5", tu_tmpdir(), cut);
        f = fopen(path, "wb");
        fwrite(bytes, 1, len * (size_t)cut / 8, f);
        fclose(f);
        Dataset ds;
        TapError err = {0};
        cr_expect_neq(dataset_load(path, &ds, &err), TAP_OK, "cut at %d/8 loaded", cut);
        cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    }
    free(bytes);
}

// Overwrites element `at` of a 1-D integer dataset, or deletes the dataset when value is absent.
static void poke(const char *path, const char *name, hsize_t at, long long value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert_geq(d, 0);
    hid_t fs = H5Dget_space(d);
    hsize_t one = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL);
    hid_t ms = H5Screate_simple(1, &one, NULL);
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_LLONG, ms, fs, H5P_DEFAULT, &value), 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f), h5u_stamp(path); // surgery: a stamp that matches again
}

static void fresh(char *path, size_t len, const char *name) {
    Fixture fx;
    make_fixture(&fx);
    snprintf(path, len, "%s", tmp_path(name));
    write_fixture(path, &fx);
}

Test(dataset, corrupted_contents_are_reported_with_file_and_dataset) {
    char p[1024];
    fresh(p, sizeof p, "c1.h5");
    poke(p, "feature_offsets", 2, 5);
    expect_load_fails(p, "/feature_offsets: not increasing at 2");
    fresh(p, sizeof p, "c2.h5");
    poke(p, "feature_offsets", 3, 999);
    expect_load_fails(p, "/feature_offsets: ends at 999");
    fresh(p, sizeof p, "c3.h5");
    poke(p, "tokens", 4, 7);
    expect_load_fails(p, "/tokens: id 7 at 4 is outside the vocabulary");
    fresh(p, sizeof p, "c4.h5");
    poke(p, "point_stroke", 3, 9);
    expect_load_fails(p, "/point_stroke: stroke 9 of 3");
    fresh(p, sizeof p, "c5.h5");
    poke(p, "align_strokes", 0, -1);
    expect_load_fails(p, "/align_strokes");
    fresh(p, sizeof p, "c6.h5");
    poke(p, "align_offsets", 10, 2);
    expect_load_fails(p, "/align_offsets: not monotone at 10 (2 after 3)");

    // Wrong version, wrong feature shape, missing dataset, non-finite feature.
    fresh(p, sizeof p, "c7.h5");
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int v = 99;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    H5Fclose(f), h5u_stamp(p);
    expect_load_fails(p, "format_version 99");

    fresh(p, sizeof p, "c8.h5");
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "features", H5P_DEFAULT);
    hsize_t dims[2] = {57, 8};
    hid_t s = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "features", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f), h5u_stamp(p);
    expect_load_fails(p, "/features: has shape [57,8], expected [57,9]");

    fresh(p, sizeof p, "c9.h5");
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "n_strokes", H5P_DEFAULT);
    H5Fclose(f), h5u_stamp(p);
    expect_load_fails(p, "/n_strokes: missing");

    fresh(p, sizeof p, "c10.h5");
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    d = H5Dopen2(f, "features", H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    hsize_t at[2] = {20, 4}, one[2] = {1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL);
    hid_t ms = H5Screate_simple(2, one, NULL);
    float inf = INFINITY;
    H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &inf);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f), h5u_stamp(p);
    expect_load_fails(p, "/features: non-finite value in row 20");
}

Test(dataset, duplicate_uids_fail_to_load) {
    Fixture fx;
    make_fixture(&fx);
    fx.e[2].uid = "e0";
    char *p = tmp_path("dup.h5");
    write_fixture(p, &fx);
    Dataset ds;
    TapError err = {0};
    cr_assert_eq(dataset_load(p, &ds, &err), TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "/uids: 'e0' names two expressions"), "%s", err.msg);
}
