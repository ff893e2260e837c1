#!/usr/bin/env bash
# Latency of `tap serve`: POST /recognize with the median CROHME 2014 test expression by points
# (26_em_88.inkml, 233 points after TAP's thinning) from 1 and then 8 concurrent clients (curl),
# each client sending its requests one after another. Prints per client count the request
# latency seen by the client (median, 90th percentile, max), the server's own decoding time
# (the answer's "ms", median) and the throughput, with the machine's load average, since the
# machine may be busy (a loaded machine's figures are upper bounds).
# Usage: bench/serve_latency.sh [MODEL.h5]   (default: data/model/small.h5)
#   INK=file.inkml   the expression (default ../shared/crohme/2014/test/26_em_88.inkml, else a
#                    sample file of 272 points)
#   CLIENTS="1 8"    client counts;  REQUESTS=20 requests per client;  THREADS=n server threads
#                    (default: one per core);  BEAM=10;  BUILD_DIR=build
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
model=${1:-data/model/small.h5}
ink=${INK:-../shared/crohme/2014/test/26_em_88.inkml}
[ -f "$ink" ] || ink=data/sample/test/27_em_101.inkml
clients=${CLIENTS:-1 8}
requests=${REQUESTS:-20}
threads=${THREADS:-$(nproc)}
beam=${BEAM:-10}
[ -x "$build/tap" ] || { echo "serve_latency: build first (scripts/build.sh)" >&2; exit 2; }
command -v curl >/dev/null || { echo "serve_latency: needs curl" >&2; exit 2; }
out=$(mktemp -d)
"$build/tap" serve --port 0 --quiet --threads "$threads" --beam "$beam" --n-best 5 \
    --max-clients 64 "$model" >"$out/url" 2>"$out/log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do [ -s "$out/url" ] && break; sleep 0.1; done
url=$(head -1 "$out/url")
[ -n "$url" ] || { cat "$out/log" >&2; exit 1; }

one() {
    curl -s -X POST -H 'Content-Type: application/inkml+xml' -H 'Expect:' --data-binary @"$ink" \
        -w ' %{http_code} %{time_total}\n' "${url}recognize" |
        sed -n 's/.*"ms":\([0-9.]*\).* \([0-9]*\) \([0-9.]*\)$/\1 \2 \3/p'
}
export -f one
export ink url

for _ in 1 2 3; do one >/dev/null; done # warm-up: each worker's decoder grows its memory once
echo "tap serve: $model ($threads threads, beam $beam), $(basename "$ink"), $requests requests per client"
printf '%-8s %9s %9s %9s %12s %9s %9s  %s\n' clients median_ms p90_ms max_ms server_ms req/s errors load
for c in $clients; do
    t0=$(date +%s.%N)
    seq $((c * requests)) | xargs -P "$c" -I{} bash -c one >"$out/r$c"
    t1=$(date +%s.%N)
    n=$(wc -l <"$out/r$c")
    bad=$(awk '$2 != 200' "$out/r$c" | wc -l)
    lat=$(awk '{print $3 * 1000}' "$out/r$c" | sort -g)
    srv=$(awk '{print $1}' "$out/r$c" | sort -g)
    pick() { awk -v q="$1" '{a[NR]=$1} END{i=int(q*NR+0.5); if(i<1)i=1; if(i>NR)i=NR; printf "%.1f", a[i]}'; }
    printf '%-8s %9s %9s %9s %12s %9.1f %9s  %s\n' "$c" "$(pick 0.5 <<<"$lat")" \
        "$(pick 0.9 <<<"$lat")" "$(pick 1 <<<"$lat")" "$(pick 0.5 <<<"$srv")" \
        "$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{print n / (b - a)}')" "$((bad + c * requests - n))" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
done
