#!/usr/bin/env bash
# Wall and CPU time of `tap decode` over the CROHME 2014 test set (986 InkML files), beam 10 and
# greedy, with all cores (or THREADS=n).
# Usage: bench/decode_speed.sh [TEST_DIR] (default ../shared/crohme/2014/test).
#   MODEL=path.h5   a trained checkpoint; without it a TAP-size model is initialised at random
#                   (TAP's initialisers, seed 1) by a small helper built against build/ libs.
#   MAX_LENS="17 33" decoding-step limits to run. A random model is nearly uniform over the 111
#                   tokens, so it never emits <eol> and every expression runs all max-len steps
#                   with 10 live hypotheses: 17 = mean reference length of the test set (16.1)
#                   + <eol>, 33 = its 90th percentile + <eol>. A trained model stops by itself.
#   BEAMS="10 1"    beam widths to run.
# Prints one line per run: wall seconds, CPU seconds (user + sys) and the machine's load average,
# since the machine may be shared: CPU / cores is what an idle machine would take.
set -euo pipefail
cd "$(dirname "$0")/.."
test_dir=${1:-../shared/crohme/2014/test}
build=${BUILD_DIR:-build}
tap=$build/tap
[ -d "$test_dir" ] || { echo "decode_speed: no test directory $test_dir" >&2; exit 2; }
[ -x "$tap" ] || { echo "decode_speed: build first (scripts/build.sh)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

model=${MODEL:-}
if [ -z "$model" ]; then
    cmake --build "$build" --target tapmodel tapcore >/dev/null
    cat >"$out/random_model.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "config.h"
#include "params.h"
#include "tap.h"

int main(int argc, char **argv) {
    TapConfig c;
    config_default(&c);
    ParamTable t;
    TapError err;
    if (argc != 2 || params_layout(&c, &t, &err)) return 2;
    float *w = malloc(t.n * sizeof *w);
    TapRng rng;
    rng_seed(&rng, 1);
    params_init(&t, w, &rng);
    CheckpointRole role = {"params", w};
    if (checkpoint_save(argv[1], &c, &t, &role, 1, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("random TAP-size model: %zu weights\n", t.n);
    return 0;
}
EOF
    HDF5_CFLAGS=$(pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
    HDF5_LIBS=$(pkg-config --libs hdf5 2>/dev/null || echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
    ${CC:-cc} -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Isrc -Isrc/model $HDF5_CFLAGS "$out/random_model.c" \
        "$build/libtapmodel.a" "$build/libtapcore.a" $HDF5_LIBS $(pkg-config --libs openblas) -lm -lpthread \
        -o "$out/random_model"
    model=$out/tap_random.h5
    "$out/random_model" "$model"
fi

echo "files: $(find "$test_dir" -name '*.inkml' | wc -l), cores: $(nproc), threads: ${THREADS:-all}, model: ${MODEL:-random TAP-size}"
for beam in ${BEAMS:-10 1}; do
    for max_len in ${MAX_LENS:-17 33}; do
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        /usr/bin/time -f "%e %U %S" -o "$out/time" "$tap" decode --threads "${THREADS:-0}" --beam "$beam" \
            --max-len "$max_len" "$model" "$test_dir" -o "$out/hyp.tsv" 2>"$out/stderr"
        read -r wall user sys <"$out/time"
        cpu=$(echo "$user + $sys" | bc)
        printf 'beam %2d  max-len %3d  wall %6.1f s  cpu %6.1f s  (cpu/cores %5.1f s)  load before: %s\n' \
            "$beam" "$max_len" "$wall" "$cpu" "$(echo "$cpu / $(nproc)" | bc -l)" "$load"
        grep -v '^tap decode: skipped' "$out/stderr" | sed 's/^/    /'
    done
done
