// Reference-check driver (never run in CI): builds the TAP-size model from a seed, reads one
// padded batch written by compare_torch.py, computes the cost and its gradient, and saves
// /params (the weights) and /grads (d mean cost / d weights) as a tap checkpoint; the costs go
// into the checkpoint's text attribute. Built by tools/ref/build.sh.
//   dump_grads BATCH.h5 OUT.h5 [SEED [NOISE]]
// NOISE > 0 adds N(0, NOISE²) to every weight after TAP's init (a "trained-like" point where
// the attention biases' gradients are no longer pure cancellation residue).
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "model.h"
#include "tap.h"

// Reads dataset `name` of exactly `ndim` dims into a malloc'd buffer of `mem_type`; dims out.
static void *read_dataset(hid_t f, const char *name, hid_t mem_type, size_t elem, int ndim,
                          hsize_t *dims) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t s = H5Dget_space(d);
    void *buf = NULL;
    if (H5Sget_simple_extent_ndims(s) == ndim) {
        H5Sget_simple_extent_dims(s, dims, NULL);
        size_t n = 1;
        for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
        buf = malloc(n * elem);
        if (buf && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    H5Sclose(s);
    H5Dclose(d);
    return buf;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: dump_grads BATCH.h5 OUT.h5 [SEED [NOISE]]\n");
        return 2;
    }
    uint64_t seed = argc >= 4 ? strtoull(argv[3], NULL, 10) : 1234;
    float noise = argc == 5 ? strtof(argv[4], NULL) : 0.0f;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "dump_grads: error: cannot open %s\n", argv[1]);
        return 1;
    }
    hsize_t dx[3], dxm[2], dy[2], dym[2], da[3], dam[3];
    float *x = read_dataset(f, "x", H5T_NATIVE_FLOAT, 4, 3, dx);
    float *x_mask = read_dataset(f, "x_mask", H5T_NATIVE_FLOAT, 4, 2, dxm);
    int32_t *y = read_dataset(f, "y", H5T_NATIVE_INT32, 4, 2, dy);
    float *y_mask = read_dataset(f, "y_mask", H5T_NATIVE_FLOAT, 4, 2, dym);
    float *a = read_dataset(f, "a", H5T_NATIVE_FLOAT, 4, 3, da);
    float *a_mask = read_dataset(f, "a_mask", H5T_NATIVE_FLOAT, 4, 3, dam);
    H5Fclose(f);
    if (!x || !x_mask || !y || !y_mask || !a || !a_mask) {
        fprintf(stderr, "dump_grads: error: %s lacks one of x x_mask y y_mask a a_mask\n", argv[1]);
        return 1;
    }
    const int T = (int)dx[0], B = (int)dx[1], L = (int)dy[0];
    if (dxm[0] != dx[0] || dxm[1] != dx[1] || dy[1] != dx[1] || dym[0] != dy[0] ||
        dym[1] != dy[1] || da[0] != dx[0] || da[1] != dx[1] || da[2] != dy[0] ||
        memcmp(da, dam, sizeof da) != 0) {
        fprintf(stderr, "dump_grads: error: inconsistent batch shapes in %s\n", argv[1]);
        return 1;
    }
    TapConfig cfg;
    config_default(&cfg);
    if ((int)dx[2] != cfg.F) {
        fprintf(stderr, "dump_grads: error: %d features, the model takes %d\n", (int)dx[2], cfg.F);
        return 1;
    }
    TapModel m;
    TapError err;
    if (model_init(&m, &cfg, T, L, B, seed, &err)) {
        fprintf(stderr, "dump_grads: error: %s\n", err.msg);
        return 1;
    }
    if (noise > 0.0f) {
        TapRng r;
        rng_seed(&r, seed + 1);
        for (size_t i = 0; i < m.table.n; i++) m.w[i] += noise * (float)rng_normal(&r);
    }
    ModelBatch mb = {T, L, B, x, x_mask, y, y_mask, a, a_mask};
    double *cost = calloc((size_t)B, sizeof *cost), mean = 0;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (model_loss(&m, &mb, cost, &mean, &err)) {
        fprintf(stderr, "dump_grads: error: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    model_backward(&m);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    CheckpointScalars *sc = calloc(1, sizeof *sc);
    size_t n = (size_t)snprintf(sc->text, sizeof sc->text, "mean %.17g\ncost", mean);
    for (int i = 0; i < B && n < sizeof sc->text; i++)
        n += (size_t)snprintf(sc->text + n, sizeof sc->text - n, " %.17g", cost[i]);
    CheckpointRole roles[] = {{"params", m.w, CHECKPOINT_F32}, {"grads", m.g, CHECKPOINT_F32}};
    if (checkpoint_save(argv[2], &cfg, &m.table, roles, 2, sc, &err)) {
        fprintf(stderr, "dump_grads: error: %s\n", err.msg);
        return 1;
    }
    double tf = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double tb = (double)(t2.tv_sec - t1.tv_sec) + 1e-9 * (double)(t2.tv_nsec - t1.tv_nsec);
    printf("T=%d L=%d B=%d S=%d params=%zu mean_cost=%.9g forward=%.3fs backward=%.3fs "
           "model_memory=%.1fMB\n",
           T, L, B, m.S, m.table.n, mean, tf, tb, (double)model_memory_bytes(&m) / 1048576.0);
    model_free(&m);
    free(sc);
    free(cost);
    free(x);
    free(x_mask);
    free(y);
    free(y_mask);
    free(a);
    free(a_mask);
    return 0;
}
