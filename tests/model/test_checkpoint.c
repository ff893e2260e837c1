// HDF5 checkpoints: exact round trip of several roles and the scalars, TAP shapes on disk, and
// clean failures with messages naming the problem for wrong shapes, missing and extra tensors,
// a wrong version or config, a missing role, non-finite values, truncated and garbage files.
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "h5util.h"
#include "params.h"
#include "tap.h"
#include "test_util.h"

typedef struct {
    TapConfig cfg;
    ParamTable t;
    float *w, *rg2;
    CheckpointScalars sc;
    char path[4096];
} Fixture;

static void fixture_init(Fixture *f, const char *file) {
    TapError err;
    config_default(&f->cfg);
    f->cfg.F = 3;
    f->cfg.n_layers = 2;
    f->cfg.H[0] = 4;
    f->cfg.H[1] = 4;
    f->cfg.pool[0] = 0;
    f->cfg.pool[1] = 1;
    f->cfg.D = 5;
    f->cfg.E = 6;
    f->cfg.V = 7;
    f->cfg.K = 3;
    f->cfg.Q = 2;
    cr_assert(params_layout(&f->cfg, &f->t, &err) == TAP_OK);
    f->w = malloc(f->t.n * sizeof(float));
    f->rg2 = malloc(f->t.n * sizeof(float));
    tu_fill_normal(f->w, f->t.n, 1.0f, 31);
    tu_fill_uniform(f->rg2, f->t.n, 0.0f, 1.0f, 32);
    memset(&f->sc, 0, sizeof f->sc);
    f->sc.step = 123456789012LL;
    f->sc.epoch = 7;
    for (int i = 0; i < 4; i++) f->sc.rng[i] = 0xfedcba9876543210ULL ^ (uint64_t)i;
    snprintf(f->sc.text, sizeof f->sc.text, "--batch 8 --lr 1e-8 --note \"a b\"");
    snprintf(f->path, sizeof f->path, "%s/%s", tu_tmpdir(), file);
}

static void fixture_save(Fixture *f) {
    TapError err = {0};
    CheckpointRole roles[] = {{"params", f->w, CHECKPOINT_F32}, {"adadelta_rg2", f->rg2, CHECKPOINT_F32}};
    int rc = checkpoint_save(f->path, &f->cfg, &f->t, roles, 2, &f->sc, &err);
    cr_assert(rc == TAP_OK, "%s", err.msg);
}

static void fixture_free(Fixture *f) {
    free(f->w);
    free(f->rg2);
    params_free(&f->t);
}

// Loads /params only; returns rc and leaves the message in err.
static int load_params(Fixture *f, TapError *err) {
    float *w = calloc(f->t.n, sizeof(float));
    CheckpointRole roles[] = {{"params", w, CHECKPOINT_F32}};
    int rc = checkpoint_load(f->path, &f->cfg, &f->t, roles, 1, NULL, err);
    free(w);
    return rc;
}

// Opens the saved file for surgery with raw HDF5.
static hid_t open_rw(const Fixture *f) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t h = H5Fopen(f->path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(h >= 0);
    return h;
}

static void write_dataset(hid_t file, const char *name, int ndim, const hsize_t *dims) {
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(d >= 0);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    float *zeros = calloc((size_t)n, sizeof(float));
    cr_assert(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
    free(zeros);
    H5Dclose(d);
    H5Sclose(space);
}

Test(checkpoint, save_then_load_restores_every_role_and_scalar_exactly) {
    Fixture f;
    fixture_init(&f, "roundtrip.h5");
    fixture_save(&f);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", f.path);
    FILE *leftover = fopen(tmp, "rb");
    cr_assert(leftover == NULL, "the .tmp file must be renamed away");
    float *w = calloc(f.t.n, sizeof(float)), *rg2 = calloc(f.t.n, sizeof(float));
    CheckpointRole roles[] = {{"adadelta_rg2", rg2, CHECKPOINT_F32}, {"params", w, CHECKPOINT_F32}};
    CheckpointScalars *sc = calloc(1, sizeof *sc);
    TapError err = {0};
    int rc = checkpoint_load(f.path, &f.cfg, &f.t, roles, 2, sc, &err);
    cr_assert(rc == TAP_OK, "%s", err.msg);
    cr_assert(memcmp(w, f.w, f.t.n * sizeof(float)) == 0);
    cr_assert(memcmp(rg2, f.rg2, f.t.n * sizeof(float)) == 0);
    cr_assert(sc->step == f.sc.step && sc->epoch == f.sc.epoch);
    cr_assert(memcmp(sc->rng, f.sc.rng, sizeof sc->rng) == 0);
    cr_assert_str_eq(sc->text, f.sc.text);
    TapConfig c;
    cr_assert(checkpoint_read_config(f.path, &c, &err) == TAP_OK, "%s", err.msg);
    cr_assert(c.F == 3 && c.n_layers == 2 && c.H[1] == 4 && c.pool[0] == 0 && c.pool[1] == 1 &&
              c.D == 5 && c.E == 6 && c.V == 7 && c.K == 3 && c.Q == 2 && c.gate == 1 &&
              c.gamma == f.cfg.gamma);
    cr_assert(checkpoint_has_role(f.path, "adadelta_rg2", &err) == 1);
    cr_assert(checkpoint_has_role(f.path, "ls2", &err) == 0);
    free(w);
    free(rg2);
    free(sc);
    fixture_free(&f);
}

Test(checkpoint, tensors_are_stored_under_tap_names_in_tap_shapes) {
    Fixture f;
    fixture_init(&f, "shapes.h5");
    fixture_save(&f);
    hid_t h = open_rw(&f);
    hid_t d = H5Dopen2(h, "/params/decoder_conv_Q", H5P_DEFAULT);
    cr_assert(d >= 0);
    hid_t s = H5Dget_space(d);
    hsize_t dims[8];
    cr_assert_eq(H5Sget_simple_extent_ndims(s), 4);
    H5Sget_simple_extent_dims(s, dims, NULL);
    cr_assert(dims[0] == 2 && dims[1] == 1 && dims[2] == 3 && dims[3] == 1);
    float q[6];
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, q);
    cr_assert(memcmp(q, params_bind(&f.t, f.w, "decoder_conv_Q"), sizeof q) == 0);
    H5Sclose(s);
    H5Dclose(d);
    d = H5Dopen2(h, "/params/encoder_r1_W", H5P_DEFAULT);
    s = H5Dget_space(d);
    H5Sget_simple_extent_dims(s, dims, NULL);
    cr_assert(dims[0] == 8 && dims[1] == 8, "encoder_r1_W is (2H[0], 2H[1]) = (8, 8)");
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(h), h5u_stamp(f.path); // surgery: a stamp that matches again
    fixture_free(&f);
}

Test(checkpoint, wrong_shape_is_reported_with_both_shapes) {
    Fixture f;
    fixture_init(&f, "wrongshape.h5");
    fixture_save(&f);
    hid_t h = open_rw(&f);
    cr_assert(H5Ldelete(h, "/params/decoder_U_att", H5P_DEFAULT) >= 0);
    write_dataset(h, "/params/decoder_U_att", 2, (hsize_t[]){8, 2});
    H5Fclose(h), h5u_stamp(f.path); // surgery: a stamp that matches again
    TapError err = {0};
    cr_assert(load_params(&f, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "tensor 'decoder_U_att' has shape [8,2], expected [8,1]"), "%s",
              err.msg);
    fixture_free(&f);
}

Test(checkpoint, missing_and_extra_tensors_are_named) {
    Fixture f;
    fixture_init(&f, "missing.h5");
    fixture_save(&f);
    hid_t h = open_rw(&f);
    cr_assert(H5Ldelete(h, "/params/ff_logit_b", H5P_DEFAULT) >= 0);
    H5Fclose(h), h5u_stamp(f.path); // surgery: a stamp that matches again
    TapError err = {0};
    cr_assert(load_params(&f, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "tensor 'ff_logit_b' missing"), "%s", err.msg);

    fixture_save(&f);
    h = open_rw(&f);
    write_dataset(h, "/params/decoder_W_extra", 1, (hsize_t[]){3});
    H5Fclose(h), h5u_stamp(f.path); // surgery: a stamp that matches again
    cr_assert(load_params(&f, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "unexpected tensor 'decoder_W_extra'"), "%s", err.msg);
    fixture_free(&f);
}

Test(checkpoint, other_version_is_rejected) {
    Fixture f;
    fixture_init(&f, "version.h5");
    fixture_save(&f);
    hid_t h = open_rw(&f);
    hid_t a = H5Aopen(h, "format_version", H5P_DEFAULT);
    int v = 99;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    H5Fclose(h), h5u_stamp(f.path); // surgery: a stamp that matches again
    TapError err = {0};
    cr_assert(load_params(&f, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "version 99"), "%s", err.msg);
    fixture_free(&f);
}

Test(checkpoint, other_config_and_missing_role_are_rejected) {
    Fixture f;
    fixture_init(&f, "config.h5");
    fixture_save(&f);
    TapConfig other = f.cfg;
    other.H[1] = 5;
    ParamTable t2;
    TapError err = {0};
    cr_assert(params_layout(&other, &t2, &err) == TAP_OK);
    float *w = calloc(t2.n, sizeof(float));
    CheckpointRole r1[] = {{"params", w, CHECKPOINT_F32}};
    cr_assert(checkpoint_load(f.path, &other, &t2, r1, 1, NULL, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "H[1]=4, the model expects 5"), "%s", err.msg);
    free(w);
    params_free(&t2);

    float *ls2 = calloc(f.t.n, sizeof(float));
    CheckpointRole r2[] = {{"params", f.w, CHECKPOINT_F32}, {"ls2", ls2, CHECKPOINT_F32}};
    cr_assert(checkpoint_load(f.path, &f.cfg, &f.t, r2, 2, NULL, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "group '/ls2' missing"), "%s", err.msg);
    free(ls2);
    fixture_free(&f);
}

Test(checkpoint, non_finite_weights_are_rejected_by_name) {
    Fixture f;
    fixture_init(&f, "nan.h5");
    params_bind(&f.t, f.w, "decoder_Wcx")[3] = NAN;
    fixture_save(&f);
    TapError err = {0};
    cr_assert(load_params(&f, &err) == TAP_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "'decoder_Wcx'") && strstr(err.msg, "at 3"), "%s", err.msg);
    fixture_free(&f);
}

Test(checkpoint, truncated_garbage_and_absent_files_fail_with_a_message) {
    Fixture f;
    fixture_init(&f, "full.h5");
    fixture_save(&f);
    size_t len = 0;
    char *bytes = tu_read_file(f.path, &len);
    cr_assert(bytes && len > 1000);
    TapError err = {0};
    const size_t cuts[] = {len / 2, len - 64, 100, 0};
    for (int i = 0; i < 4; i++) {
        FILE *o = fopen(f.path, "wb");
        fwrite(bytes, 1, cuts[i], o);
        fclose(o);
        memset(&err, 0, sizeof err);
        int rc = load_params(&f, &err);
        cr_assert(rc != TAP_OK, "truncated to %zu bytes must fail", cuts[i]);
        cr_assert(strlen(err.msg) > 0 && strstr(err.msg, f.path), "message names the file: %s",
                  err.msg);
        cr_log_info("cut at %zu of %zu bytes: %s", cuts[i], len, err.msg);
    }
    for (size_t i = 0; i < len; i++) bytes[i] = (char)(i * 7919u >> 3);
    FILE *o = fopen(f.path, "wb");
    fwrite(bytes, 1, len, o);
    fclose(o);
    cr_assert(load_params(&f, &err) == TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "not a readable HDF5"), "%s", err.msg);
    snprintf(f.path, sizeof f.path, "%s/does-not-exist.h5", tu_tmpdir());
    cr_assert(load_params(&f, &err) == TAP_ERR_IO);
    cr_assert(strstr(err.msg, "does-not-exist.h5"), "%s", err.msg);
    free(bytes);
    fixture_free(&f);
}

Test(checkpoint, unwritable_path_fails_and_leaves_no_tmp) {
    Fixture f;
    fixture_init(&f, "no-such-dir/x.h5");
    TapError err = {0};
    CheckpointRole roles[] = {{"params", f.w, CHECKPOINT_F32}};
    cr_assert(checkpoint_save(f.path, &f.cfg, &f.t, roles, 1, NULL, &err) == TAP_ERR_IO);
    cr_assert(strstr(err.msg, "cannot create"), "%s", err.msg);
    snprintf(f.path, sizeof f.path, "%s/bad.h5", tu_tmpdir());
    CheckpointRole bad[] = {{"a/b", f.w, CHECKPOINT_F32}};
    cr_assert(checkpoint_save(f.path, &f.cfg, &f.t, bad, 1, NULL, &err) == TAP_ERR_ARG);
    fixture_free(&f);
}

// The value of IEEE half bits h (an independent decoding, for the tests below).
static float half_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? INFINITY : ldexpf((float)(1024 + m), e - 25);
    return h & 0x8000 ? -v : v;
}

Test(checkpoint, half_rounding_is_to_nearest_even_with_carries_and_subnormals) {
    // exact halves stay, ties go to even, a mantissa of ones carries into the exponent
    // (what HDF5 1.10's own conversion gets wrong), and the ends of the range.
    const struct {
        float in;
        uint16_t want;
    } cases[] = {
        {0.0f, 0x0000},          {-0.0f, 0x8000},         {1.0f, 0x3c00},
        {-2.0f, 0xc000},         {0.49995f, 0x3800},      {0.4998f, 0x37ff},
        {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 3 * 0x1p-11f, 0x3c02}, {65504.0f, 0x7bff},
        {65519.0f, 0x7bff},      {65520.0f, 0x7c00},      {0x1p-14f, 0x0400},
        {0x1p-24f, 0x0001},      {0x1p-25f, 0x0000},      {0x1.8p-25f, 0x0001},
        {0x1p-14f - 0x1p-25f, 0x0400}, {INFINITY, 0x7c00}, {1e-30f, 0x0000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect(checkpoint_half_from_float(cases[i].in) == cases[i].want,
                  "%a -> 0x%04x, want 0x%04x", (double)cases[i].in,
                  checkpoint_half_from_float(cases[i].in), cases[i].want);
    // Every half is nearest: no neighbour of the chosen half is closer.
    uint32_t s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        float x = ldexpf((float)(s >> 8) / (float)(1 << 24), (int)(s % 40) - 28);
        uint16_t h = checkpoint_half_from_float(x);
        float got = half_value(h), below = half_value((uint16_t)(h - 1)),
              above = half_value((uint16_t)(h + 1));
        cr_assert(fabsf(got - x) <= fabsf(below - x) && fabsf(got - x) <= fabsf(above - x),
                  "%a -> %a", (double)x, (double)got);
    }
}

Test(checkpoint, every_half_widens_to_its_value_and_back) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = checkpoint_float_from_half((uint16_t)h);
        if (((h >> 10) & 31) == 31 && (h & 1023)) {
            cr_assert(isnan(f), "0x%04x -> %a, want NaN", h, (double)f);
            continue;
        }
        cr_assert(f == half_value((uint16_t)h) && !!signbit(f) == !!(h & 0x8000), "0x%04x -> %a", h,
                  (double)f);
        cr_assert_eq(checkpoint_half_from_float(f), h, "0x%04x", h);
    }
}

Test(checkpoint, half_storage_loads_as_the_rounded_weights_and_is_smaller) {
    Fixture f;
    fixture_init(&f, "half.h5");
    for (size_t j = 0; j < f.t.n; j++) f.w[j] *= 0.01f; // weight-sized values, some subnormal
    CheckpointRole roles[] = {{"params", f.w, CHECKPOINT_F16}};
    TapError err = {0};
    cr_assert(checkpoint_save(f.path, &f.cfg, &f.t, roles, 1, NULL, &err) == TAP_OK, "%s", err.msg);
    float *back = calloc(f.t.n, sizeof(float));
    CheckpointRole load[] = {{"params", back, CHECKPOINT_F32}};
    cr_assert(checkpoint_load(f.path, &f.cfg, &f.t, load, 1, NULL, &err) == TAP_OK, "%s", err.msg);
    for (size_t j = 0; j < f.t.n; j++)
        cr_assert(back[j] == half_value(checkpoint_half_from_float(f.w[j])), "weight %zu: %a for %a",
                  j, (double)back[j], (double)f.w[j]);
    hid_t h = H5Fopen(f.path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(h, "/params/decoder_U", H5P_DEFAULT), type = H5Dget_type(d);
    cr_expect(H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 2);
    H5Tclose(type), H5Dclose(d), H5Fclose(h);
    free(back);
    fixture_free(&f);
}

Test(checkpoint, vocab_matches_only_the_same_tokens_and_any_list_without_one) {
    Fixture f;
    fixture_init(&f, "vocab.h5");
    const char *vocab[7] = {"<eol>", "x", "y", "+", "=", "1", "2"}, *other[7];
    memcpy(other, vocab, sizeof vocab);
    other[4] = "-";
    CheckpointRole roles[] = {{"params", f.w, CHECKPOINT_F32}};
    f.sc.vocab = vocab, f.sc.n_vocab = 7;
    TapError err = {0};
    cr_assert(checkpoint_save(f.path, &f.cfg, &f.t, roles, 1, &f.sc, &err) == TAP_OK, "%s", err.msg);
    cr_assert_eq(checkpoint_vocab_matches(f.path, vocab, 7, &err), 1);
    cr_assert_eq(checkpoint_vocab_matches(f.path, other, 7, &err), 0, "one token differs");
    cr_assert_eq(checkpoint_vocab_matches(f.path, vocab, 6, &err), 0, "another count");
    cr_assert_eq(checkpoint_vocab_matches(f.path, NULL, 0, &err), 1, "nothing to compare with");
    // A checkpoint without /vocab (as before vocabularies were stored) matches any list.
    f.sc.vocab = NULL, f.sc.n_vocab = 0;
    cr_assert(checkpoint_save(f.path, &f.cfg, &f.t, roles, 1, &f.sc, &err) == TAP_OK, "%s", err.msg);
    cr_assert_eq(checkpoint_vocab_matches(f.path, other, 7, &err), 1);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s.absent", f.path);
    cr_assert_lt(checkpoint_vocab_matches(missing, vocab, 7, &err), 0);
    cr_assert(strstr(err.msg, "cannot open"), "%s", err.msg);
    fixture_free(&f);
}
