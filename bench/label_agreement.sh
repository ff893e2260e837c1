#!/usr/bin/env bash
# Builds bench/label_agreement against the libraries in build/ and measures the labels and
# alignments against TAP's CROHME 2014 reference (../shared/crohme), then the out-of-vocabulary
# count on the 2014 test split.  Usage: bench/label_agreement.sh [--show N] [--examples N]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
shared=${TAP_SHARED:-../shared}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target tapdata >/dev/null
out=$build/label_agreement
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Wshadow -Isrc -Isrc/data bench/label_agreement.c \
   "$build/libtapdata.a" "$build/libtapcore.a" $(pkg-config --libs expat) -lm -o "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$shared/crohme/tap/on-align-train.tar.gz" -C "$tmp"
echo "== labels: latex_tokenize(truth) vs TAP's train_caption.txt"
"$out" captions "$shared/crohme/tap/train_caption.txt" "$shared/crohme/2014/train" "$@"
echo "== alignments: align_build(TAP's tokens) vs on-align-train/*.align"
"$out" align "$tmp/on-align-train" "$shared/crohme/tap/train_caption.txt" \
    "$shared/crohme/2014/train" "$@"
echo "== 2014 test: tokens outside data/dictionary.txt"
"$out" oov data/dictionary.txt "$shared/crohme/2014/test" | tail -n 30
