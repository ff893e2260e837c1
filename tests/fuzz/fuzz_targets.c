// The fuzzing entry points (fuzz_targets.h).
#include "fuzz_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "feature.h"
#include "h5util.h"
#include "inkml.h"
#include "latex.h"
#include "mathml.h"
#include "recognize.h"
#include "train_setup.h"

const TapFuzzTarget tap_fuzz_targets[TAP_FUZZ_N_TARGETS] = {
    {"inkml", tap_fuzz_inkml},     {"latex", tap_fuzz_latex},           {"mathml", tap_fuzz_mathml},
    {"dataset", tap_fuzz_dataset}, {"checkpoint", tap_fuzz_checkpoint}, {"att", tap_fuzz_att},
    {"config", tap_fuzz_config},
};

// The bytes as a file of this process ($TMPDIR or /tmp), for the loaders that take a path.
static const char *as_file(const uint8_t *data, size_t n, const char *suffix) {
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tap-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(),
             suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    int ok = fwrite(data, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? path : NULL;
}

int tap_fuzz_inkml(const uint8_t *data, size_t n) {
    InkmlDoc doc;
    TapError err;
    if (inkml_parse((const char *)data, n, "fuzz.inkml", &doc, &err) != TAP_OK)
        return 0;
    Features ft;
    if (feature_compute(&doc, &ft, &err) == TAP_OK)
        feature_free(&ft);
    inkml_free(&doc);
    return 0;
}

int tap_fuzz_latex(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, data, n);
    s[n] = '\0';
    TokenList tl = {0};
    TapError err;
    if (latex_tokenize(s, &tl, &err) == TAP_OK) {
        int changed = 0;
        latex_canonicalize(&tl, &changed, &err);
        char joined[1024];
        token_list_join(&tl, joined, sizeof joined);
    }
    token_list_free(&tl);
    free(s);
    return 0;
}

int tap_fuzz_mathml(const uint8_t *data, size_t n) {
    InkmlDoc doc;
    TapError err;
    if (inkml_parse((const char *)data, n, "fuzz.inkml", &doc, &err) != TAP_OK)
        return 0;
    TokenList tl = {0};
    if (mathml_tokenize(&doc, &tl, &err) == TAP_OK) {
        char msg[512];
        mathml_check_symbols(&doc, &tl, msg, sizeof msg);
        mathml_relabel_symbols(&doc, msg, sizeof msg);
    }
    token_list_free(&tl);
    inkml_free(&doc);
    return 0;
}

// The bytes as an .h5 file for the HDF5 loaders, with HDF5's printing silenced (NULL when the
// file cannot be written, or for bytes that start with HDF5's own signature). Files that start
// so carry no checksum (written before it, or by another program) and go to libhdf5 unverified:
// its parser is not ours to harden (docs/data.md), so only stamped or unrecognised bytes are fed.
static const char *as_h5_file(const uint8_t *data, size_t n) {
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(data, sig, 8))
        return NULL;
    const char *path = as_file(data, n, ".h5");
    if (path)
        h5u_quiet();
    return path;
}

int tap_fuzz_dataset(const uint8_t *data, size_t n) {
    const char *path = as_h5_file(data, n);
    if (!path)
        return 0;
    Dataset ds;
    TapError err;
    if (dataset_load(path, &ds, &err) == TAP_OK)
        dataset_free(&ds);
    remove(path);
    return 0;
}

int tap_fuzz_checkpoint(const uint8_t *data, size_t n) {
    const char *path = as_h5_file(data, n);
    if (!path)
        return 0;
    RecModel m = {0};
    TapError err;
    if (rec_model_load(&m, path, &err) == TAP_OK)
        rec_model_free(&m);
    char **tok = NULL;
    int nt = 0;
    if (checkpoint_read_vocab(path, &tok, &nt, &err) == TAP_OK)
        checkpoint_vocab_free(tok, nt);
    remove(path);
    return 0;
}

int tap_fuzz_att(const uint8_t *data, size_t n) {
    RecAttention a;
    TapError err;
    if (rec_attention_parse((const char *)data, n, "fuzz.att", &a, &err) == TAP_OK)
        rec_attention_free(&a);
    return 0;
}

int tap_fuzz_config(const uint8_t *data, size_t n) {
    const char *path = as_file(data, n, ".cfg");
    if (!path)
        return 0;
    static TrainSetup s;
    char msg[5120], cfg[512], prog[] = "train", opt[] = "--config", a[] = "/nonexistent/train.h5",
                              b[] = "/nonexistent/valid.h5", c[] = "/nonexistent/out";
    snprintf(cfg, sizeof cfg, "%s", path);
    char *argv[] = {prog, opt, cfg, a, b, c, NULL};
    FILE *sink = fopen("/dev/null", "w");
    train_setup_init(&s);
    train_setup_parse(&s, 6, argv, sink ? sink : stdout, msg, sizeof msg);
    train_setup_free(&s);
    if (sink)
        fclose(sink);
    remove(path);
    return 0;
}
