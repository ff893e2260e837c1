#!/usr/bin/env bash
# Runs libFuzzer harnesses until each has had CPU_SECONDS of CPU (user + system), not wall time:
# on a shared machine a wall-clock budget says little about how much fuzzing was done.
#   NICE=10 bench/fuzz_cpu.sh BUILD_FUZZ_DIR WORK CPU_SECONDS [JOBS] [TARGET...]
# Each target starts from tests/fuzz/corpus/<target> copied into WORK/<target>, logs to
# WORK/<target>.log, writes crashes to WORK/<target>-crashes/, and gets one line in
# WORK/summary.tsv: target, CPU s, wall s, executions, edges, features, corpus files, crash files.
# JOBS targets run at a time (default 2). To stop early and keep the summary lines, create
# WORK/STOP: running fuzzers are interrupted (libFuzzer prints its final stats), no new target starts.
# A second run on the same WORK continues each target's corpus. Minimise afterwards with -merge=1
# (docs/fuzzing.md).
set -euo pipefail
usage() { echo "usage: $0 BUILD_FUZZ_DIR WORK CPU_SECONDS [JOBS] [TARGET...]" >&2; exit 2; }
[ $# -ge 3 ] || usage
build=$1 work=$2 budget=$3
jobs=${4:-2}
shift $(( $# >= 4 ? 4 : 3 ))
[[ $budget =~ ^[0-9]+$ && $budget -gt 0 && $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(inkml latex mathml dataset checkpoint att config)
for t in "${targets[@]}"; do
    [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "$0: no fuzzer $build/tests/fuzz/fuzz_$t" >&2; exit 1; }
    [ -d "$root/tests/fuzz/corpus/$t" ] || { echo "$0: no corpus tests/fuzz/corpus/$t" >&2; exit 1; }
done
mkdir -p "$work"
[ -f "$work/summary.tsv" ] ||
    printf 'target\tcpu_s\twall_s\texecs\tedges\tfeatures\tcorpus_files\tcrash_files\n' > "$work/summary.tsv"
hz=$(getconf CLK_TCK)

cpu_seconds() {  # user + system time of one process, from /proc/PID/stat (fields 14 and 15)
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
    stat=${stat##*) }  # the command name may hold spaces; the fields after it do not
    set -- $stat
    echo $(( (${12} + ${13}) / hz ))
}

run_one() {
    local t=$1 dir="$work/$1" log="$work/$1.log" crashes="$work/$1-crashes" start pid used=0
    mkdir -p "$dir" "$crashes"
    cp -n "$root/tests/fuzz/corpus/$t/"* "$dir/" 2>/dev/null || true
    start=$(date +%s)
    TMPDIR=${TMPDIR:-/tmp} nice -n "${NICE:-10}" "$build/tests/fuzz/fuzz_$t" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$dir" > "$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        used=$(cpu_seconds "$pid")
        if [ "$used" -ge "$budget" ] || [ -e "$work/STOP" ]; then kill -INT "$pid"; break; fi
        sleep 5
    done
    wait "$pid" || true
    local execs edges features
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$used" $(( $(date +%s) - start )) "${execs:-0}" \
        "${edges:-0}" "${features:-0}" "$(ls "$dir" | wc -l)" "$(ls "$crashes" | wc -l)" >> "$work/summary.tsv"
}

running=0
rm -f "$work/STOP"
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
    [ -e "$work/STOP" ] && break
    run_one "$t" &
    running=$((running + 1))
done
wait
column -t -s $'\t' "$work/summary.tsv"
