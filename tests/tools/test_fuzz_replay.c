// Replays the minimised fuzzing corpus (tests/fuzz/corpus/<target>/, kept by the libFuzzer runs
// of docs/fuzzing.md) through the same entry functions as the harnesses, in the normal build and
// with any compiler: every input must come back (a crash or an abort fails the suite; the
// sanitizer build, -DTAP_SANITIZE=ON, also catches leaks and undefined behaviour here).
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "../fuzz/fuzz_targets.c"
#include "test_util.h"

static const TapFuzzTarget *current;

static int replay_one(const char *path, void *ctx) {
    int *n = ctx;
    size_t len;
    char *bytes = tu_read_file(path, &len);
    cr_assert_not_null(bytes, "%s", path);
    current->fn((const uint8_t *)bytes, len);
    free(bytes);
    (*n)++;
    return 0;
}

Test(fuzz_replay, every_corpus_file_of_every_target_loads_or_fails_cleanly) {
    setenv("TMPDIR", tu_tmpdir(), 1);
    for (int t = 0; t < TAP_FUZZ_N_TARGETS; t++) {
        current = &tap_fuzz_targets[t];
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", TAP_SOURCE_DIR, current->name);
        int n = 0;
        int files = tu_for_each_file(dir, NULL, replay_one, &n);
        cr_assert_gt(files, 0, "%s: no corpus", dir);
        cr_log_info("%s: %d inputs replayed", current->name, n);
    }
}
