#!/usr/bin/env bash
# Peak memory and speed of `tap prep` on a generated corpus (issue 15): N files (default 100000)
# made from data/sample and, when present, ../shared/mathwriting, with jittered coordinates
# (bench/gen_corpus.py), in a temporary directory under ${TMPDIR:-/tmp} that is removed
# afterwards. Reports /usr/bin/time -v's maximum resident set size and files per second.
# Usage: bench/prep_scale.sh [N]   (BUILD_DIR, THREADS as in bench/prep_speed.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
tap=${BUILD_DIR:-build}/tap
[ -x "$tap" ] || { echo "prep_scale: build first (scripts/build.sh)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tap-prep-scale-XXXXXX")
trap 'rm -rf "$work"' EXIT
samples=(data/sample/train data/sample/test)
[ -d ../shared/mathwriting ] && samples+=(../shared/mathwriting)
python3 bench/gen_corpus.py "$work/in" "$n" "${samples[@]}"
echo "corpus: $n files, $(du -sh "$work/in" | cut -f1) (from ${samples[*]})"
"$tap" prep --quiet --build-vocab "$work/vocab.txt" "$work/in" >/dev/null
/usr/bin/time -v "$tap" prep --quiet --threads "${THREADS:-0}" --dict "$work/vocab.txt" \
    "$work/in" -o "$work/out.h5" >"$work/summary" 2>"$work/time"
cat "$work/summary"
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
echo "wall: $wall ($secs s), $(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') files/s"
echo "peak RSS: $rss kB; output $(stat -c %s "$work/out.h5") bytes; cores $(nproc), threads ${THREADS:-all}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
