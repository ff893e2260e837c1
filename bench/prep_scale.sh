#!/usr/bin/env bash
# Peak memory and speed of `tap prep` on a generated corpus (issue 15): N files (default 100000)
# made from data/sample and, when present, ../shared/mathwriting, with jittered coordinates
# (bench/gen_corpus.py), in a temporary directory under ${TMPDIR:-/tmp} that is removed
# afterwards. Reports /usr/bin/time -v's maximum resident set size, files per second and files
# per CPU-second (user + sys: on a loaded machine the wall clock says more about the other jobs;
# on an idle one with C cores, expect about C times files per CPU-second).
# Usage: bench/prep_scale.sh [N]   (BUILD_DIR, THREADS as in bench/prep_speed.sh)
#   CORPUS=DIR: use (and keep) the corpus in DIR, generating it first when DIR does not exist,
#   so that runs to compare (e.g. TAP=old/tap and TAP=new/tap, alternately) read the same files.
#   TAP=PATH: the tap binary (default BUILD_DIR/tap). LIST_MEMORY=BYTES: tap prep --list-memory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
tap=${TAP:-${BUILD_DIR:-build}/tap}
[ -x "$tap" ] || { echo "prep_scale: build first (scripts/build.sh)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tap-prep-scale-XXXXXX")
trap 'rm -rf "$work"' EXIT
in=${CORPUS:-$work/in}
samples=(data/sample/train data/sample/test)
[ -d ../shared/mathwriting ] && samples+=(../shared/mathwriting)
[ -d "$in" ] || python3 bench/gen_corpus.py "$in" "$n" "${samples[@]}"
n=$(find "$in" -name '*.inkml' | wc -l)
echo "corpus: $n files in $in, $(du -sh "$in" | cut -f1) (from ${samples[*]})"
"$tap" prep --quiet --build-vocab "$work/vocab.txt" "$in" >/dev/null
/usr/bin/time -v "$tap" prep --quiet --threads "${THREADS:-0}" --dict "$work/vocab.txt" \
    ${LIST_MEMORY:+--list-memory "$LIST_MEMORY"} \
    "$in" -o "$work/out.h5" >"$work/summary" 2>"$work/time"
cat "$work/summary"
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
user=$(sed -n 's/.*User time (seconds): //p' "$work/time")
sys=$(sed -n 's/.*System time (seconds): //p' "$work/time")
secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
echo "wall: $wall ($secs s), $(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') files/s"
echo "cpu: ${user} s user + ${sys} s sys, $(awk -v n="$n" -v u="$user" -v s="$sys" \
    'BEGIN { printf "%.0f", n / (u + s) }') files per CPU-second"
echo "peak RSS: $rss kB; output $(stat -c %s "$work/out.h5") bytes; cores $(nproc), threads ${THREADS:-all}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
