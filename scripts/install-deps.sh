#!/usr/bin/env bash
# Installs the Debian packages tap needs, only those that are missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libhdf5-dev hdf5-tools libpng-dev zlib1g-dev
      libcriterion-dev libexpat1-dev libcairo2-dev fonts-dejavu-core libopenmpi-dev openmpi-bin)
# tap serve: HTTP, JSON, the page's typesetting; its browser test, and bench/serve_latency.sh.
pkgs+=(libmicrohttpd-dev libjansson-dev libjs-katex chromium chromium-driver curl)
# The fuzzing build (-DTAP_FUZZ=ON, docs/fuzzing.md) also needs clang; the normal build does not.
[ "${TAP_FUZZ_DEPS:-0}" = 1 ] && pkgs+=(clang)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
