// Entry points of the fuzzing harnesses (tests/fuzz): each takes arbitrary bytes, feeds them to
// one loader and releases what it built; it must never crash, hang or leak, whatever the bytes.
// fuzz_main.c wraps one as LLVMFuzzerTestOneInput (-DTAP_FUZZ=ON, clang, ASan + UBSan), and the
// normal test suite replays tests/fuzz/corpus/<target>/ through the same functions
// (tests/tools/test_fuzz_replay.c), built with any compiler.
#ifndef TAP_FUZZ_TARGETS_H
#define TAP_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

int tap_fuzz_inkml(const uint8_t *data, size_t n);      // inkml_parse, then the features
int tap_fuzz_latex(const uint8_t *data, size_t n);      // latex_tokenize + latex_canonicalize
int tap_fuzz_mathml(const uint8_t *data, size_t n);     // inkml_parse, then the MathML truth
int tap_fuzz_dataset(const uint8_t *data, size_t n);    // dataset_load of the bytes as a file
int tap_fuzz_checkpoint(const uint8_t *data, size_t n); // rec_model_load + checkpoint_read_vocab
int tap_fuzz_att(const uint8_t *data, size_t n);        // rec_attention_parse
int tap_fuzz_config(const uint8_t *data, size_t n);     // tap train --config FILE (parse + resolve)

typedef struct {
    const char *name; // the corpus directory under tests/fuzz/corpus/
    int (*fn)(const uint8_t *data, size_t n);
} TapFuzzTarget;

enum { TAP_FUZZ_N_TARGETS = 7 };
extern const TapFuzzTarget tap_fuzz_targets[TAP_FUZZ_N_TARGETS];

#endif
