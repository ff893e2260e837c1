// One libFuzzer harness: TAP_FUZZ_ENTRY (a tap_fuzz_* of fuzz_targets.h) chosen by CMake.
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    TAP_FUZZ_ENTRY(data, n);
    return 0;
}
