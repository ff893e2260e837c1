// Trainer checkpoints: last.h5 (full resumable state) and weights-only files (train_state.h).
#include "train_state.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5util.h"
#include "outfile.h"

// A scalar attribute of /trainer: int64 or double.
typedef struct {
    const char *name;
    int is_double;
    void *p;
} Field;

// Every TrainState field but the strings and arrays, in one table for save and load.
static int state_fields(TrainState *s, Field *f) {
    const Field t[] = {
        {"stage", 0, &s->stage},
        {"step", 0, &s->step},
        {"epoch", 0, &s->epoch},
        {"cursor", 0, &s->cursor},
        {"n_batches", 0, &s->n_batches},
        {"eps", 1, &s->eps},
        {"decays", 0, &s->decays},
        {"bad", 0, &s->bad},
        {"n_valid", 0, &s->n_valid},
        {"valid_pending", 0, &s->valid_pending},
        {"have_best", 0, &s->have_best},
        {"best_step", 0, &s->best_step},
        {"best_score", 1, &s->best_score},
        {"best_wer", 1, &s->best_wer},
        {"best_exprate", 1, &s->best_exprate},
        {"stage1_done", 0, &s->stage1_done},
        {"finished", 0, &s->finished},
        {"elapsed", 1, &s->elapsed},
        {"mdl_data_nats", 1, &s->mdl.data_nats},
        {"mdl_sequences", 1, &s->mdl.n_sequences},
        {"mdl_tokens", 1, &s->mdl.n_tokens},
        {"epoch_loss", 1, &s->epoch_loss},
        {"epoch_batches", 0, &s->epoch_batches},
        {"window_loss", 1, &s->window_loss},
        {"window_n", 0, &s->window_n},
        {"log_bytes", 0, &s->log_bytes},
    };
    memcpy(f, t, sizeof t);
    return (int)(sizeof t / sizeof t[0]);
}

#define MAX_FIELDS 32

// "opt_mu/rg2" -> "opt_mu_rg2": group and dataset names cannot hold '/'.
static void flat_name(const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%.47s", name); // StateEntry names are < 48 bytes
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '_';
}

static hid_t state_mtype(StateType t) {
    return t == STATE_F32   ? H5T_NATIVE_FLOAT
           : t == STATE_F64 ? H5T_NATIVE_DOUBLE
                            : H5T_NATIVE_UINT64;
}

static hid_t state_ftype(StateType t) {
    return t == STATE_F32 ? H5T_IEEE_F32LE : t == STATE_F64 ? H5T_IEEE_F64LE : H5T_STD_U64LE;
}

// A variational entry stored as a role array (one dataset per tensor) rather than flat.
static int is_role(const StateEntry *e, size_t n) {
    return e->type == STATE_F32 && e->len == n && strcmp(e->name, "mu") != 0;
}

// Names of the role arrays: params (= mu), best_params, then the variational arrays.
typedef struct {
    CheckpointRole roles[2 + VARIATIONAL_STATE_MAX];
    char names[2 + VARIATIONAL_STATE_MAX][64];
    int n;
} RoleList;

static void role_list(RoleList *r, Variational *v, const float *best_mu, int have_best,
                      StateEntry *entries, int n_entries) {
    r->n = 0;
    r->roles[r->n++] = (CheckpointRole){"params", v->mu, CHECKPOINT_F32};
    if (have_best) r->roles[r->n++] = (CheckpointRole){"best_params", (float *)best_mu, CHECKPOINT_F32};
    for (int i = 0; i < n_entries; i++) {
        if (!is_role(&entries[i], v->n)) continue;
        flat_name(entries[i].name, r->names[r->n], sizeof r->names[r->n]);
        r->roles[r->n] = (CheckpointRole){r->names[r->n], entries[i].data, CHECKPOINT_F32};
        r->n++;
    }
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// Flushes a file (or directory) to the disk; 0 or -1.
static void make_scalars(CheckpointScalars *sc, int64_t step, int64_t epoch, const uint64_t *rng,
                         const char *text) {
    memset(sc, 0, sizeof *sc);
    sc->step = step;
    sc->epoch = epoch;
    if (rng) memcpy(sc->rng, rng, sizeof sc->rng);
    snprintf(sc->text, sizeof sc->text, "%s", text ? text : "");
}

int train_state_save(const char *path, const TapConfig *cfg, const ParamTable *t, Variational *v,
                     const float *best_mu, const TrainState *s, const int32_t *order,
                     const char *config_text, const char *const *vocab, int delay_ms,
                     TapError *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp)
        return tap_error_set(err, TAP_ERR_ARG, "checkpoint path too long");
    StateEntry entries[VARIATIONAL_STATE_MAX];
    int n_entries = variational_state(v, entries);
    RoleList roles;
    role_list(&roles, v, best_mu, best_mu && s->have_best, entries, n_entries);
    static CheckpointScalars sc; // 16 kB: not on the stack
    make_scalars(&sc, s->step, s->epoch, s->data_rng, config_text);
    sc.vocab = vocab, sc.n_vocab = cfg->V;
    int rc = checkpoint_save(tmp, cfg, t, roles.roles, roles.n, &sc, err);
    if (rc) return rc;
    if (delay_ms > 0) sleep_ms(delay_ms);

    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT), g = H5I_INVALID_HID, gv = H5I_INVALID_HID;
    if (f < 0) {
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot reopen to add the trainer state", tmp);
        goto fail;
    }
    g = H5Gcreate2(f, "trainer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    gv = g < 0 ? H5I_INVALID_HID : H5Gcreate2(g, "var", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int bad = g < 0 || gv < 0;
    Field fields[MAX_FIELDS];
    int nf = state_fields((TrainState *)s, fields);
    for (int i = 0; i < nf && !bad; i++)
        bad = fields[i].is_double
                  ? h5u_write_attr(g, fields[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, fields[i].p)
                  : h5u_write_attr(g, fields[i].name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, fields[i].p);
    bad = bad || h5u_write_attr(g, "data_rng", H5T_STD_U64LE, H5T_NATIVE_UINT64, 4, s->data_rng) ||
          h5u_write_attr_str(g, "var_kind", s->var_kind) ||
          h5u_write_1d(g, "order", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)s->n_batches, order);
    for (int i = 0; i < n_entries && !bad; i++) {
        if (is_role(&entries[i], v->n) || !strcmp(entries[i].name, "mu")) continue;
        char name[64];
        flat_name(entries[i].name, name, sizeof name);
        bad = h5u_write_1d(gv, name, state_ftype(entries[i].type), state_mtype(entries[i].type),
                            entries[i].len, entries[i].data);
    }
    h5u_close(&gv, H5Gclose);
    h5u_close(&g, H5Gclose);
    herr_t closed = H5Fclose(f);
    f = H5I_INVALID_HID;
    if (bad || closed < 0 || h5u_stamp(tmp) != H5U_OK) { // the checksum again, over the state too
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write the trainer state (disk full?)", tmp);
        goto fail;
    }
    if ((rc = outfile_publish(tmp, path, 1, err))) goto fail;
    return TAP_OK;
fail:
    h5u_close(&gv, H5Gclose);
    h5u_close(&g, H5Gclose);
    h5u_close(&f, H5Fclose);
    remove(tmp);
    return rc;
}

static int open_trainer(const char *path, hid_t *f, hid_t *g, TapError *err) {
    *g = H5I_INVALID_HID;
    const char *why = NULL;
    int check = h5u_open_read(path, f, &why);
    if (check == H5U_NO_FILE)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot open for reading: %s", path,
                             strerror(errno));
    if (check == H5U_NOT_HDF5 && why)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not a readable HDF5 file: %s", path, why);
    if (check == H5U_NOT_HDF5)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not a readable HDF5 file", path);
    if (check == H5U_FAILED)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: corrupt training state: %s", path, why);
    if (H5Lexists(*f, "trainer", H5P_DEFAULT) <= 0 ||
        (*g = H5Gopen2(*f, "trainer", H5P_DEFAULT)) < 0) {
        h5u_close(f, H5Fclose);
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: no /trainer state (a weights-only checkpoint? use --init)", path);
    }
    return TAP_OK;
}

int train_state_peek(const char *path, TrainState *s, char *config_text, size_t cap,
                     TapError *err) {
    hid_t f, g;
    int rc = open_trainer(path, &f, &g, err);
    if (rc) return rc;
    memset(s, 0, sizeof *s);
    Field fields[MAX_FIELDS];
    int nf = state_fields(s, fields);
    for (int i = 0; i < nf && !rc; i++)
        if (h5u_read_attr(g, fields[i].name, fields[i].is_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64,
                      1, fields[i].p, NULL))
            rc = tap_error_set(err, TAP_ERR_FORMAT,
                               "%s: trainer attribute '%s' missing or malformed", path,
                               fields[i].name);
    if (!rc && h5u_read_attr(g, "data_rng", H5T_NATIVE_UINT64, 4, s->data_rng, NULL))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: trainer attribute 'data_rng' malformed", path);
    if (!rc && h5u_read_attr_str(g, "var_kind", s->var_kind, sizeof s->var_kind, NULL))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: trainer attribute 'var_kind' malformed", path);
    if (!rc && config_text && h5u_read_attr_str(f, "config_text", config_text, cap, NULL))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: attribute 'config_text' malformed", path);
    if (!rc && (s->stage < 1 || s->stage > 2 || s->n_batches < 1 || s->cursor < 0 ||
                s->cursor > s->n_batches || s->step < 0 || !(s->eps > 0.0)))
        rc = tap_error_set(err, TAP_ERR_FORMAT,
                           "%s: trainer state out of range (stage %lld, cursor %lld/%lld)", path,
                           (long long)s->stage, (long long)s->cursor, (long long)s->n_batches);
    h5u_close(&g, H5Gclose);
    h5u_close(&f, H5Fclose);
    return rc;
}

int train_state_load(const char *path, const TapConfig *cfg, const ParamTable *t, Variational *v,
                     float *best_mu, TrainState *s, int32_t *order, int64_t n_order,
                     TapError *err) {
    int rc = train_state_peek(path, s, NULL, 0, err);
    if (rc) return rc;
    if (s->n_batches != n_order)
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: saved with %lld batches per epoch, the data now gives %lld "
                             "(same training file, --batch-size and --maxlen needed)",
                             path, (long long)s->n_batches, (long long)n_order);
    StateEntry entries[VARIATIONAL_STATE_MAX];
    int n_entries = variational_state(v, entries);
    RoleList roles;
    role_list(&roles, v, best_mu, s->have_best && best_mu, entries, n_entries);
    static CheckpointScalars sc;
    if ((rc = checkpoint_load(path, cfg, t, roles.roles, roles.n, &sc, err))) return rc;
    hid_t f, g;
    if ((rc = open_trainer(path, &f, &g, err))) return rc;
    hid_t gv =
        H5Lexists(g, "var", H5P_DEFAULT) > 0 ? H5Gopen2(g, "var", H5P_DEFAULT) : H5I_INVALID_HID;
    if (gv < 0) rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /trainer/var missing", path);
    if (!rc && h5u_read_1d(g, "order", H5T_NATIVE_INT32, (hsize_t)n_order, order))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /trainer/order missing or malformed", path);
    for (int64_t i = 0; !rc && i < n_order; i++)
        if (order[i] < 0 || order[i] >= n_order)
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /trainer/order[%lld] out of range", path,
                               (long long)i);
    for (int i = 0; i < n_entries && !rc; i++) {
        if (is_role(&entries[i], v->n) || !strcmp(entries[i].name, "mu")) continue;
        char name[64];
        flat_name(entries[i].name, name, sizeof name);
        if (h5u_read_1d(gv, name, state_mtype(entries[i].type), entries[i].len, entries[i].data))
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /trainer/var/%s missing or malformed",
                               path, name);
    }
    h5u_close(&gv, H5Gclose);
    h5u_close(&g, H5Gclose);
    h5u_close(&f, H5Fclose);
    return rc;
}

int train_weights_save(const char *path, const TapConfig *cfg, const ParamTable *t, const float *w,
                       int64_t step, int64_t epoch, const char *text, const char *const *vocab,
                       TapError *err) {
    static CheckpointScalars sc;
    make_scalars(&sc, step, epoch, NULL, text);
    sc.vocab = vocab, sc.n_vocab = cfg->V;
    CheckpointRole role = {"params", (float *)w, CHECKPOINT_F32};
    int rc = checkpoint_save(path, cfg, t, &role, 1, &sc, err);
    if (rc) return rc;
    if (outfile_sync(path, 0) != 0)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot flush to disk: %s", path,
                             strerror(errno));
    char dir[4096];
    outfile_dir_of(path, dir, sizeof dir);
    outfile_sync(dir, 1);
    return TAP_OK;
}
