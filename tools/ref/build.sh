#!/bin/sh
# Builds the reference-check driver tools/ref/dump_grads.c into build/ref/dump_grads against the
# CMake-built libraries (not part of the normal build, never run in CI).
set -eu
cd "$(dirname "$0")/../.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target tapmodel tapcore >/dev/null
mkdir -p build/ref
HDF5_CFLAGS=$(pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
HDF5_LIBS=$(pkg-config --libs hdf5 2>/dev/null || echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
${CC:-cc} -std=c11 -O2 -g -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wdouble-promotion -Isrc -Isrc/model $HDF5_CFLAGS \
    $(pkg-config --cflags openblas) tools/ref/dump_grads.c build/libtapmodel.a build/libtapcore.a \
    $HDF5_LIBS $(pkg-config --libs openblas) -lm -lpthread -o build/ref/dump_grads
echo "built build/ref/dump_grads"
