#!/usr/bin/env bash
# The main job on the bundled CROHME sample, on a machine with no other data:
#   1. installs what is missing and builds;
#   2. converts data/sample/train (50 InkML files) and data/sample/test (20) to HDF5 datasets;
#   3. trains the small preset on the 50 for about two minutes on all cores, validating on the
#      20, and draws the learning curves;
#   4. decodes the 20 test files with the best bundled model (data/model/tap.h5 when it is there,
#      else data/model/small.h5; beam 10) and scores
#      the LaTeX against their truth;
#   5. draws every test expression (strokes coloured by the token attending to them) and an HTML
#      gallery, errors first;
#   6. lists what it wrote.
# Each run replaces out/demo/. Environment: TAP_DEMO_MINUTES (training budget, default 2),
# TAP_DEMO_THREADS (training threads, 0 = all cores), TAP_DEMO_MODEL (default the bundled
# model), BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
minutes=${TAP_DEMO_MINUTES:-2}
threads=${TAP_DEMO_THREADS:-0}
# The best bundled model: the TAP-size one once it is committed, else the small one.
default_model=data/model/small.h5
[ -f data/model/tap.h5 ] && default_model=data/model/tap.h5
model=${TAP_DEMO_MODEL:-$default_model}
tap=$build/tap
demo=out/demo

step() { printf '\n== %s\n' "$*"; }
die() {
    echo "demo: error: $*" >&2
    exit 1
}

step "1/6 dependencies and build"
scripts/install-deps.sh
scripts/build.sh
[ -f "$model" ] || die "the model $model is missing"
SECONDS=0 # the timing printed at the end leaves the build out

step "2/6 tap prep: the sample's InkML files to HDF5 datasets"
mkdir -p out
"$tap" prep --quiet data/sample/train -o out/sample_train.h5
"$tap" prep --quiet data/sample/test -o out/sample_test.h5
rm -rf "$demo"
mkdir -p "$demo"

step "3/6 tap train: small preset, 50 expressions, ${minutes} min (log: $demo/train.log)"
# Stage 1 (Adadelta) only, and no early stop: the point is the falling training loss. One
# train.tsv row per 7 updates, i.e. per epoch of the 50 expressions; a validation every 10
# epochs. Every 25th epoch summary is shown here.
if ! "$tap" train --preset small --stage 1 --patience 1000000 --max-minutes "$minutes" \
    --threads "$threads" --log-every 7 --valid-every 70 --progress-every 70 \
    out/sample_train.h5 out/sample_test.h5 "$demo/train" 2>&1 |
    tee "$demo/train.log" |
    awk '/^epoch [0-9]+ done/ && $2 % 25 == 0 { sub(/, L\^E.*/, ""); print "  " $0; fflush() }
         /^(stopping|finished|tap train: error)/ { print "  " $0; fflush() }'; then
    die "tap train failed; see $demo/train.log"
fi
log=$demo/train/train.tsv
"$tap" plot "$log" -o "$demo/train_curves.png"
# First and last logged training loss (the mean batch cost of each 7-update window),
# and the loss at each tenth of the run, which shows how steadily it fell.
awk -F'\t' '$1 == "train" { n++; loss[n] = $5; step[n] = $4; secs[n] = $14 }
    END {
        if (n < 2) {
            print "demo: error: fewer than 2 training rows in the log" > "/dev/stderr"
            exit 1
        }
        printf "training loss: %.2f at update %d -> %.2f at update %d (%.0f s, %d rows logged)\n",
               loss[1], step[1], loss[n], step[n], secs[n], n
        printf "loss at each tenth of the run:"
        for (k = 0; k <= 10; k++) printf " %.1f", loss[1 + int((n - 1) * k / 10)]
        printf "\n"
        if (!(loss[n] < loss[1])) {
            print "demo: error: the training loss did not fall" > "/dev/stderr"
            exit 1
        }
    }' "$log"

step "4/6 tap decode + tap eval: data/sample/test with $model, beam 10"
"$tap" decode --beam 10 --attention "$demo/attention" -o "$demo/hyp.tsv" "$model" data/sample/test
cat "$demo/hyp.tsv"
"$tap" eval --details "$demo/eval_details.tsv" "$demo/hyp.tsv" out/sample_test.h5 >"$demo/eval.txt"
echo
grep -E '^(expressions|ExpRate|<=[123] error|WER)' "$demo/eval.txt" ||
    die "unexpected tap eval output"

step "5/6 tap render: pictures and gallery"
# From the attention saved by the decoding above: the pictures show exactly those hypotheses.
"$tap" render --attention "$demo/attention" --ref out/sample_test.h5 -o "$demo/render" \
    data/sample/test

step "6/6 written (${SECONDS} s after the build)"
n_png=$(find "$demo/render" -maxdepth 1 -name '*.png' | wc -l)
cat <<EOF
  out/sample_train.h5, out/sample_test.h5   the sample as HDF5 datasets (tap prep)
  $demo/train.log                      the training's configuration and progress
  $demo/train/                         training run: train.tsv, best.h5, last.h5 (--resume)
  $demo/train_curves.png               learning curves (tap plot)
  $demo/hyp.tsv                        recognised LaTeX, uid<TAB>tokens (tap decode)
  $demo/attention/                     attention of every decoding step, <uid>.att
  $demo/eval.txt, eval_details.tsv     scores and the most frequent errors; per expression
  $demo/render/                        $n_png pictures <uid>.png and the gallery index.html
EOF
