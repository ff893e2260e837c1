#!/usr/bin/env bash
# Configures and builds tap into build/ (BUILD_DIR overrides; extra args go to cmake).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" 2>&1 | grep -Ev '^\[|^-- |Building C|Linking C|Built target|Consolidate' || true
test -x "$build/tap"
