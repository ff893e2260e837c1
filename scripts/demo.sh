#!/usr/bin/env bash
# The main job on the bundled CROHME sample (works without any other data): installs what is
# missing, builds, converts data/sample/train and data/sample/test to HDF5 datasets in out/
# and prints tap prep's summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
scripts/install-deps.sh
scripts/build.sh
mkdir -p out
"$build/tap" prep --quiet data/sample/train -o out/sample_train.h5
"$build/tap" prep --quiet data/sample/test -o out/sample_test.h5
