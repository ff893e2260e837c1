#!/usr/bin/env bash
# Builds the C benchmark drivers (bench/bench_step.c, bench/bench_decode.c, bench/sgemm_peak.c,
# bench/stage2_speed.c) and the loss_parts diagnostic against the libraries in build/ (or BUILD_DIR), and
# shared/bench/sgemm_bench.c.  Usage: bench/build_bench.sh
# (BUILD_DIR, TAP_SHARED override)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
shared=${TAP_SHARED:-../shared}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target tapmodel tapoptim tapcore taprecognize tapdata tap >/dev/null
libs="$build/libtapoptim.a $build/libtapmodel.a $build/libtapcore.a \
      $(pkg-config --libs hdf5 2>/dev/null || echo -lhdf5_serial) -lopenblas -lpthread -lm"
for b in bench_step bench_decode sgemm_peak stage2_speed; do
    cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Wshadow -Wdouble-promotion \
       -Isrc -Isrc/model -Isrc/optim "bench/$b.c" $libs -o "$build/$b"
done
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Wshadow -Wdouble-promotion \
   -Isrc -Isrc/model -Isrc/optim -Isrc/data -Isrc/recognize bench/loss_parts.c \
   "$build/libtaprecognize.a" "$build/libtapdata.a" $libs -lexpat -lz -o "$build/loss_parts"
[ -f "$shared/bench/sgemm_bench.c" ] && cc -O2 "$shared/bench/sgemm_bench.c" -lopenblas -o "$build/sgemm_bench"
true
