#!/usr/bin/env bash
# Training speed of `tap train` presets: runs N updates (no validation) on a prepared training
# set and reports seconds per update and the implied epoch time, from train.tsv's elapsed column
# (start-up and the first checkpoint excluded).
#   bench/train_speed.sh TRAIN.h5 VALID.h5 [N=60] [THREADS=2] [-- extra tap train options]
set -euo pipefail
cd "$(dirname "$0")/.."
train=$1 valid=$2 n=${3:-60} threads=${4:-2}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
tap=${TAP:-build/tap}
for preset in small tap; do
    out=$(mktemp -d)
    "$tap" train --preset "$preset" --threads "$threads" --max-steps "$n" --valid-every 1000000 \
        --log-every 1 --progress-every 1000000 "$@" "$train" "$valid" "$out/run" >/dev/null 2>"$out/err"
    batches=$(sed -n 's/.* in \([0-9]*\) batches.*/\1/p' "$out/err")
    awk -F'\t' -v p="$preset" -v nb="$batches" -v th="$threads" '
        $1 == "train" { if (!s0) { s0 = $4; e0 = $14 } s1 = $4; e1 = $14 }
        END { per = (e1 - e0) / (s1 - s0);
              printf "%-5s %d threads: %.3f s/update over %d updates -> %.1f min per epoch of %d batches\n",
                     p, th, per, s1 - s0, per * nb / 60, nb }' "$out/run/train.tsv"
    rm -rf "$out"
done
