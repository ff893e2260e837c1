#!/usr/bin/env bash
# Wall time of `tap prep` on the CROHME 2014 training set (8,835 InkML files), median of 3 runs,
# with all cores (or THREADS=n). Usage: bench/prep_speed.sh [TRAIN_DIR]
# (default ../shared/crohme/2014/train). Needs a built tap (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:-../shared/crohme/2014/train}
tap=${BUILD_DIR:-build}/tap
[ -d "$train" ] || { echo "prep_speed: no training directory $train" >&2; exit 2; }
[ -x "$tap" ] || { echo "prep_speed: build first (scripts/build.sh)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
times=()
for run in 1 2 3; do
    start=$(date +%s%N)
    "$tap" prep --quiet --threads "${THREADS:-0}" "$train" -o "$out/train.h5" >"$out/summary" 2>"$out/stderr"
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    times+=("$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))")
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
cat "$out/summary"
echo "files: $(find "$train" -name '*.inkml' | wc -l), cores: $(nproc), threads: ${THREADS:-all}"
echo "runs (s): ${times[*]}"
echo "median (s): ${sorted[1]}"
echo "output size: $(stat -c %s "$out/train.h5") bytes"
