// HDF5 checkpoint save/load with name-by-name, shape-by-shape validation (whisper.cpp style
// messages). Every HDF5 handle starts as H5I_INVALID_HID and is closed at one `fail:` label;
// the library's automatic error printing is turned off, failures become TapError messages.
#include "checkpoint.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "outfile.h"
#include "tap.h"

// Reads n values of attribute `name`; fails if absent or of another length.
static int read_attr(hid_t loc, const char *name, hid_t mem_type, hsize_t n, void *v,
                     const char *path, TapError *err) {
    long long got;
    switch (h5u_read_attr(loc, name, mem_type, n, v, &got)) {
    case H5U_OK: return TAP_OK;
    case H5U_ABSENT:
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: attribute '%s' missing", path, name);
    case H5U_SHAPE:
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: attribute '%s' has %lld values, expected %llu",
                             path, name, got, (unsigned long long)n);
    default: return tap_error_set(err, TAP_ERR_FORMAT, "%s: cannot read attribute '%s'", path, name);
    }
}

static int read_attr_str(hid_t loc, const char *name, char *out, size_t cap, const char *path,
                         TapError *err) {
    size_t size;
    switch (h5u_read_attr_str(loc, name, out, cap, &size)) {
    case H5U_OK: return TAP_OK;
    case H5U_ABSENT:
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: attribute '%s' missing", path, name);
    case H5U_SHAPE:
        if (size > cap)
            return tap_error_set(err, TAP_ERR_FORMAT, "%s: attribute '%s' is %zu bytes, limit %zu",
                                 path, name, size, cap);
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: attribute '%s' is not a fixed-length string",
                             path, name);
    default: return tap_error_set(err, TAP_ERR_FORMAT, "%s: cannot read attribute '%s'", path, name);
    }
}

// ---------------------------------------------------------------------------- config

static int write_config(hid_t f, const TapConfig *c) {
    const int scalars[] = {c->F, c->n_layers, c->D, c->E, c->V, c->K, c->Q, c->gate};
    const char *names[] = {"F", "n_layers", "D", "E", "V", "K", "Q", "gate"};
    for (int i = 0; i < 8; i++)
        if (h5u_write_attr(f, names[i], H5T_STD_I32LE, H5T_NATIVE_INT, 1, &scalars[i])) return -1;
    if (h5u_write_attr(f, "H", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)c->n_layers, c->H)) return -1;
    if (h5u_write_attr(f, "pool", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)c->n_layers, c->pool))
        return -1;
    if (h5u_write_attr(f, "gamma", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &c->gamma)) return -1;
    return 0;
}

static int read_config(hid_t f, TapConfig *c, const char *path, TapError *err) {
    memset(c, 0, sizeof *c);
    int *fields[] = {&c->F, &c->n_layers, &c->D, &c->E, &c->V, &c->K, &c->Q, &c->gate};
    const char *names[] = {"F", "n_layers", "D", "E", "V", "K", "Q", "gate"};
    for (int i = 0; i < 8; i++) {
        int rc = read_attr(f, names[i], H5T_NATIVE_INT, 1, fields[i], path, err);
        if (rc) return rc;
    }
    if (c->n_layers < 1 || c->n_layers > TAP_MAX_LAYERS)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: n_layers=%d out of range 1..%d", path,
                             c->n_layers, TAP_MAX_LAYERS);
    int rc = read_attr(f, "H", H5T_NATIVE_INT, (hsize_t)c->n_layers, c->H, path, err);
    if (!rc) rc = read_attr(f, "pool", H5T_NATIVE_INT, (hsize_t)c->n_layers, c->pool, path, err);
    if (!rc) rc = read_attr(f, "gamma", H5T_NATIVE_FLOAT, 1, &c->gamma, path, err);
    if (!rc && (rc = config_check(c, err))) tap_error_prefix(err, "%s: stored config", path);
    return rc;
}

// Names the first field (shapes and architecture; gamma is a training setting) that differs.
static int compare_config(const TapConfig *got, const TapConfig *want, const char *path,
                          TapError *err) {
    const int g[] = {got->F, got->n_layers, got->D, got->E, got->V, got->K, got->Q, got->gate};
    const int w[] = {want->F, want->n_layers, want->D, want->E,
                     want->V, want->K,        want->Q, want->gate};
    const char *names[] = {"F", "n_layers", "D", "E", "V", "K", "Q", "gate"};
    for (int i = 0; i < 8; i++)
        if (g[i] != w[i])
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s: checkpoint has %s=%d, the model expects %d", path, names[i],
                                 g[i], w[i]);
    for (int l = 0; l < got->n_layers; l++) {
        if (got->H[l] != want->H[l])
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s: checkpoint has H[%d]=%d, the model expects %d", path, l,
                                 got->H[l], want->H[l]);
        if (got->pool[l] != want->pool[l])
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s: checkpoint has pool[%d]=%d, the model expects %d", path, l,
                                 got->pool[l], want->pool[l]);
    }
    return TAP_OK;
}

// ---------------------------------------------------------------------------- open

// Opens an existing file read-only, telling "cannot open" apart from "not HDF5 / truncated".
static int open_file(const char *path, hid_t *f, TapError *err) {
    const char *why = NULL;
    int check = h5u_open_read(path, f, &why);
    if (check == H5U_NO_FILE)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot open for reading", path);
    if (check == H5U_NOT_HDF5 && why)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not a readable HDF5 checkpoint: %s", path,
                             why);
    if (check == H5U_NOT_HDF5)
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: not a readable HDF5 checkpoint (truncated or corrupt?)", path);
    if (check == H5U_FAILED)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: corrupt checkpoint: %s", path, why);
    int version = 0;
    int rc = read_attr(*f, "format_version", H5T_NATIVE_INT, 1, &version, path, err);
    if (!rc && version != TAP_CHECKPOINT_VERSION)
        rc = tap_error_set(err, TAP_ERR_FORMAT,
                           "%s: checkpoint format version %d, this build reads version %d", path,
                           version, TAP_CHECKPOINT_VERSION);
    if (rc) h5u_close(f, H5Fclose);
    return rc;
}

// ---------------------------------------------------------------------------- vocabulary

void checkpoint_vocab_free(char **tokens, int n) {
    for (int i = 0; tokens && i < n; i++) free(tokens[i]);
    free(tokens);
}

int checkpoint_read_vocab(const char *path, char ***tokens, int *n, TapError *err) {
    *tokens = NULL;
    *n = 0;
    hid_t f = H5I_INVALID_HID;
    int rc = open_file(path, &f, err);
    if (rc) return rc;
    const char *why;
    size_t dim = 0;
    int got = h5u_read_strings(f, "vocab", 1000000, tokens, &dim, &why);
    h5u_close(&f, H5Fclose);
    if (got == H5U_ABSENT) return TAP_OK; // saved before checkpoints had one
    if (got == H5U_SHAPE || (got == H5U_OK && dim < 1))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /vocab is not a list of strings", path);
    else if (got == H5U_NOMEM)
        rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    else if (got != H5U_OK)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: cannot read /vocab (truncated file?)", path);
    for (size_t i = 0; rc == TAP_OK && i < dim; i++)
        if (!(*tokens)[i][0])
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /vocab: token %zu is empty", path, i);
    if (rc == TAP_OK) {
        *n = (int)dim;
    } else {
        checkpoint_vocab_free(*tokens, (int)dim);
        *tokens = NULL;
    }
    return rc;
}

int checkpoint_vocab_matches(const char *path, const char *const *tokens, int n, TapError *err) {
    char **stored;
    int n_stored, rc = checkpoint_read_vocab(path, &stored, &n_stored, err);
    if (rc != TAP_OK) return rc;
    int same = n == 0 || n_stored == 0 || n_stored == n;
    for (int i = 0; same && n > 0 && i < n_stored; i++) same = !strcmp(stored[i], tokens[i]);
    checkpoint_vocab_free(stored, n_stored);
    return same;
}

// ---------------------------------------------------------------------------- save

static int valid_group_name(const char *g) { return g && *g && !strchr(g, '/') && strcmp(g, "."); }

// IEEE 754 binary16, little-endian. HDF5 1.10 has no predefined half type; this is the layout
// h5py and numpy's float16 use, so f["params"][name] reads as float16 there too.
static hid_t half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_precision(t, 16) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

// Round to nearest even, overflow to infinity (as IEEE conversion does). Written by hand
// because HDF5 1.10's float-to-half conversion loses the rounding carry into the exponent
// (0.49995 is stored as 0.25).
uint16_t checkpoint_half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); // NaN
    if (a >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); // >= 2^16 (and inf): inf
    uint32_t h, rem, half;
    if (a >= 0x38800000u) { // a normal half: rebias the exponent, keep 10 of 23 mantissa bits
        h = (a - (112u << 23)) >> 13;
        rem = a & 0x1fffu;
        half = 0x1000u;
    } else { // a subnormal half: round(|f| * 2^24)
        uint32_t e = a >> 23;
        if (e < 102) return (uint16_t)sign; // below 2^-25: rounds to zero
        uint32_t m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e;
        h = m >> shift;
        rem = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    }
    if (rem > half || (rem == half && (h & 1))) h++; // a carry moves into the exponent: right
    return (uint16_t)(sign | h);
}

float checkpoint_float_from_half(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 31u, m = h & 0x3ffu, x;
    if (e == 0) { // zero or subnormal: m * 2^-24, exact in float
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    if (e == 31) x = sign | 0x7f800000u | m << 13; // inf, NaN
    else x = sign | (e + 112u) << 23 | m << 13;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

// The dataset of one tensor in the role's storage. Half storage is chunked (one chunk up to
// 64 Ki elements) with byte shuffle and deflate: about 10% smaller again than raw halves.
static hid_t create_tensor(hid_t g, const ParamSpec *p, hid_t space, CheckpointStorage storage) {
    if (storage != CHECKPOINT_F16)
        return H5Dcreate2(g, p->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = half_type(), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = H5I_INVALID_HID;
    hsize_t chunk[4];
    size_t elems = 1;
    for (int k = p->ndim - 1; k >= 0; k--) { // whole trailing dims while they fit in 64 Ki
        size_t dim = (size_t)p->dims[k];
        chunk[k] = elems * dim <= 65536 ? dim : (hsize_t)(65536 / elems > 0 ? 65536 / elems : 1);
        elems *= (size_t)chunk[k];
    }
    if (type >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, p->ndim, chunk) >= 0 &&
        H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, 6) >= 0)
        d = H5Dcreate2(g, p->name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    h5u_close(&dcpl, H5Pclose);
    h5u_close(&type, H5Tclose);
    return d;
}

int checkpoint_save(const char *path, const TapConfig *cfg, const ParamTable *t,
                    const CheckpointRole *roles, int n_roles, const CheckpointScalars *scalars,
                    TapError *err) {
    h5u_quiet();
    for (int r = 0; r < n_roles; r++) {
        if (!valid_group_name(roles[r].group))
            return tap_error_set(err, TAP_ERR_ARG, "%s: bad role group name '%s'", path,
                                 roles[r].group ? roles[r].group : "(null)");
        for (int q = 0; q < r; q++)
            if (!strcmp(roles[q].group, roles[r].group))
                return tap_error_set(err, TAP_ERR_ARG, "%s: role '%s' given twice", path,
                                     roles[r].group);
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return tap_error_set(err, TAP_ERR_ARG, "checkpoint path too long");
    size_t max_size = 0;
    for (int i = 0; i < t->n_tensors; i++)
        if (t->spec[i].size > max_size) max_size = t->spec[i].size;
    uint16_t *halves = NULL;
    for (int r = 0; r < n_roles && !halves; r++)
        if (roles[r].storage == CHECKPOINT_F16 && !(halves = malloc(max_size * sizeof *halves + 1)))
            return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    hid_t fcpl = h5u_stamp_fcpl(); // the user block for the checksum (h5util.h)
    hid_t f = fcpl < 0 ? H5I_INVALID_HID : H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    h5u_close(&fcpl, H5Pclose);
    hid_t g = H5I_INVALID_HID, space = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int rc = TAP_OK;
    if (f < 0) {
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot create", tmp);
        goto fail;
    }
    const int version = TAP_CHECKPOINT_VERSION;
    const int64_t zero64[2] = {0, 0};
    const uint64_t zero_rng[4] = {0, 0, 0, 0};
    if (h5u_write_attr(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &version) ||
        write_config(f, cfg) ||
        h5u_write_attr(f, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, 1,
                   scalars ? &scalars->step : &zero64[0]) ||
        h5u_write_attr(f, "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, 1,
                   scalars ? &scalars->epoch : &zero64[1]) ||
        h5u_write_attr(f, "rng_state", H5T_STD_U64LE, H5T_NATIVE_UINT64, 4,
                   scalars ? scalars->rng : zero_rng) ||
        h5u_write_attr_str(f, "config_text", scalars ? scalars->text : "") ||
        h5u_write_attr_str(f, "creator", "tap")) {
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write attributes", tmp);
        goto fail;
    }
    if (scalars && scalars->vocab &&
        h5u_write_strings(f, "vocab", scalars->vocab, (hsize_t)scalars->n_vocab) != H5U_OK) {
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write /vocab", tmp);
        goto fail;
    }
    for (int r = 0; r < n_roles; r++) {
        g = H5Gcreate2(f, roles[r].group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot create group '/%s'", tmp,
                               roles[r].group);
            goto fail;
        }
        for (int i = 0; i < t->n_tensors; i++) {
            const ParamSpec *p = &t->spec[i];
            hsize_t dims[4];
            for (int k = 0; k < p->ndim; k++) dims[k] = (hsize_t)p->dims[k];
            space = H5Screate_simple(p->ndim, dims, NULL);
            d = space < 0 ? H5I_INVALID_HID : create_tensor(g, p, space, roles[r].storage);
            const float *src = roles[r].data + p->offset;
            herr_t wrote = -1;
            if (d >= 0 && roles[r].storage == CHECKPOINT_F16) {
                hid_t type = H5Dget_type(d); // the file's half type: written without conversion
                for (size_t k = 0; k < p->size; k++) halves[k] = checkpoint_half_from_float(src[k]);
                if (type >= 0) wrote = H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, halves);
                h5u_close(&type, H5Tclose);
            } else if (d >= 0) {
                wrote = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, src);
            }
            if (wrote < 0) {
                rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write /%s/%s (disk full?)", tmp,
                                   roles[r].group, p->name);
                goto fail;
            }
            h5u_close(&d, H5Dclose);
            h5u_close(&space, H5Sclose);
        }
        h5u_close(&g, H5Gclose);
    }
    herr_t closed = H5Fclose(f);
    f = H5I_INVALID_HID;
    if (closed < 0 || h5u_stamp(tmp) != H5U_OK) { // the checksum over the finished file
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot finish writing (disk full?)", tmp);
        goto fail;
    }
    if ((rc = outfile_publish(tmp, path, 0, err)) != TAP_OK) goto fail;
    free(halves);
    return TAP_OK;
fail:
    h5u_close(&d, H5Dclose);
    h5u_close(&space, H5Sclose);
    h5u_close(&g, H5Gclose);
    h5u_close(&f, H5Fclose);
    remove(tmp);
    free(halves);
    return rc;
}

// ---------------------------------------------------------------------------- load

static void format_dims(char *buf, size_t cap, int ndim, const hsize_t *dims) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < ndim && n < cap; k++)
        n +=
            (size_t)snprintf(buf + n, cap - n, "%s%llu", k ? "," : "", (unsigned long long)dims[k]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

// Checks that group g holds exactly the table's tensors with the table's shapes and float type.
static int check_group(hid_t g, const ParamTable *t, const char *path, const char *group,
                       TapError *err) {
    for (int i = 0; i < t->n_tensors; i++) {
        const ParamSpec *p = &t->spec[i];
        if (H5Lexists(g, p->name, H5P_DEFAULT) <= 0)
            return tap_error_set(err, TAP_ERR_FORMAT, "%s (/%s): tensor '%s' missing", path, group,
                                 p->name);
    }
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: cannot list /%s", path, group);
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[256];
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                         H5P_DEFAULT);
        if (len < 0) return tap_error_set(err, TAP_ERR_FORMAT, "%s: cannot list /%s", path, group);
        if ((size_t)len >= sizeof name || params_find(t, name) < 0)
            return tap_error_set(err, TAP_ERR_FORMAT, "%s (/%s): unexpected tensor '%s'", path,
                                 group, name);
    }
    for (int i = 0; i < t->n_tensors; i++) {
        const ParamSpec *p = &t->spec[i];
        hid_t d = H5Dopen2(g, p->name, H5P_DEFAULT);
        hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
        hid_t type = d < 0 ? H5I_INVALID_HID : H5Dget_type(d);
        int rc = TAP_OK;
        hsize_t dims[H5S_MAX_RANK], want[4];
        int ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
        if (d < 0 || space < 0 || type < 0 || ndim < 0 || ndim > H5S_MAX_RANK) {
            rc = tap_error_set(err, TAP_ERR_FORMAT,
                               "%s (/%s): tensor '%s' is not a readable dataset", path, group,
                               p->name);
        } else if (H5Tget_class(type) != H5T_FLOAT) {
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s (/%s): tensor '%s' is not floating point",
                               path, group, p->name);
        } else {
            H5Sget_simple_extent_dims(space, dims, NULL);
            int same = ndim == p->ndim;
            for (int k = 0; k < p->ndim; k++) {
                want[k] = (hsize_t)p->dims[k];
                if (same && dims[k] != want[k]) same = 0;
            }
            if (!same) {
                char got_s[128], want_s[128];
                format_dims(got_s, sizeof got_s, ndim, dims);
                format_dims(want_s, sizeof want_s, p->ndim, want);
                rc = tap_error_set(err, TAP_ERR_FORMAT,
                                   "%s (/%s): tensor '%s' has shape %s, expected %s", path, group,
                                   p->name, got_s, want_s);
            }
        }
        h5u_close(&type, H5Tclose);
        h5u_close(&space, H5Sclose);
        h5u_close(&d, H5Dclose);
        if (rc) return rc;
    }
    return TAP_OK;
}

// Reads one tensor as floats. Halves in tap's own layout are read as stored and widened here:
// HDF5's soft conversion of a user-defined float type takes ~0.4 s of CPU for a TAP-size model,
// four times the rest of the load.
static herr_t read_tensor(hid_t d, float *out, size_t n) {
    hid_t file_type = H5Dget_type(d), half = file_type < 0 ? H5I_INVALID_HID : half_type();
    herr_t ok = -1;
    if (half >= 0 && H5Tequal(file_type, half) > 0) {
        uint16_t *raw = malloc(n * sizeof *raw + 1);
        if (raw && (ok = H5Dread(d, half, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) >= 0)
            for (size_t k = 0; k < n; k++) out[k] = checkpoint_float_from_half(raw[k]);
        free(raw);
    } else if (file_type >= 0) {
        ok = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    }
    h5u_close(&half, H5Tclose);
    h5u_close(&file_type, H5Tclose);
    return ok;
}

static int read_group(hid_t g, const ParamTable *t, float *data, const char *path,
                      const char *group, TapError *err) {
    for (int i = 0; i < t->n_tensors; i++) {
        const ParamSpec *p = &t->spec[i];
        hid_t d = H5Dopen2(g, p->name, H5P_DEFAULT);
        herr_t ok = d < 0 ? -1 : read_tensor(d, data + p->offset, p->size);
        h5u_close(&d, H5Dclose);
        if (ok < 0)
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s (/%s): cannot read tensor '%s' (truncated file?)", path, group,
                                 p->name);
        for (size_t k = 0; k < p->size; k++)
            if (!isfinite(data[p->offset + k]))
                return tap_error_set(err, TAP_ERR_NUMERIC,
                                     "%s (/%s): tensor '%s' has a non-finite value at %zu", path,
                                     group, p->name, k);
    }
    return TAP_OK;
}

int checkpoint_load(const char *path, const TapConfig *cfg, const ParamTable *t,
                    const CheckpointRole *roles, int n_roles, CheckpointScalars *scalars,
                    TapError *err) {
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    int rc = open_file(path, &f, err);
    if (rc) return rc;
    TapConfig stored;
    if ((rc = read_config(f, &stored, path, err)) || (rc = compare_config(&stored, cfg, path, err)))
        goto done;
    // Validate every group before reading any, so a bad file leaves the arrays untouched in
    // all but read failures of the data itself.
    for (int pass = 0; pass < 2; pass++) {
        for (int r = 0; r < n_roles; r++) {
            const char *name = roles[r].group;
            if (!valid_group_name(name)) {
                rc = tap_error_set(err, TAP_ERR_ARG, "%s: bad role group name", path);
                goto done;
            }
            if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
                rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: group '/%s' missing", path, name);
                goto done;
            }
            g = H5Gopen2(f, name, H5P_DEFAULT);
            if (g < 0) {
                rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: '/%s' is not a group", path, name);
                goto done;
            }
            rc = pass == 0 ? check_group(g, t, path, name, err)
                           : read_group(g, t, roles[r].data, path, name, err);
            h5u_close(&g, H5Gclose);
            if (rc) goto done;
        }
    }
    if (scalars) {
        memset(scalars, 0, sizeof *scalars);
        if ((rc = read_attr(f, "step", H5T_NATIVE_INT64, 1, &scalars->step, path, err)) ||
            (rc = read_attr(f, "epoch", H5T_NATIVE_INT64, 1, &scalars->epoch, path, err)) ||
            (rc = read_attr(f, "rng_state", H5T_NATIVE_UINT64, 4, scalars->rng, path, err)) ||
            (rc = read_attr_str(f, "config_text", scalars->text, sizeof scalars->text, path, err)))
            goto done;
    }
done:
    h5u_close(&g, H5Gclose);
    h5u_close(&f, H5Fclose);
    return rc;
}

int checkpoint_read_config(const char *path, TapConfig *cfg, TapError *err) {
    hid_t f = H5I_INVALID_HID;
    int rc = open_file(path, &f, err);
    if (rc) return rc;
    rc = read_config(f, cfg, path, err);
    h5u_close(&f, H5Fclose);
    return rc;
}

int checkpoint_has_role(const char *path, const char *group, TapError *err) {
    hid_t f = H5I_INVALID_HID;
    int rc = open_file(path, &f, err);
    if (rc) return rc;
    int has = valid_group_name(group) && H5Lexists(f, group, H5P_DEFAULT) > 0;
    h5u_close(&f, H5Fclose);
    return has;
}
