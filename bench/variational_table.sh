#!/usr/bin/env bash
# Graves' variational family side by side on real held-out data (issue #4; Graves, "Practical
# Variational Inference for Neural Networks", NIPS 2011, Table 1): for every method of
# `tap train --variational`, the held-out WER, ExpRate and cost next to the description length
# L^E + L^C of the training labels and the compression ratio.
#
#   bench/variational_table.sh            # defaults: about 30 min of one idle core
#   QUICK=1 bench/variational_table.sh    # a 20-second smoke run of the whole pipeline
#
# Data (a fixed selection, no randomness): `tap prep` converts every file of TRAIN_DIR and
# HELD_DIR; the expressions whose label has at most MAX_TOKENS tokens are sorted by InkML path
# (C locale) and N_TRAIN (resp. N_HELD) of them taken at evenly spaced ranks i*count/N; those
# files are converted again into OUT/data/{train,held}.h5 (their lists are kept next to them).
# Short labels make a model that trains in minutes recognise something (CROHME 2014 train has
# 3,822 expressions of <= 10 tokens, test 400). The held-out set is CROHME 2014 test: disjoint
# writers, never trained on; it is the validation set of `tap train` and nothing is selected on
# it (patience is off, every method runs the same epochs and the table shows the last ones).
#
# Protocol (as the paper: every method from scratch): `tap train --stage 2 --scratch
# --variational NAME` from the same random initialisation (--seed), with the same data, batch
# order and number of updates (EPOCHS whole epochs, no early stopping, no eps decay), Adadelta
# (rho 0.95) with eps EPS 1e-6 on mu (the small preset's: TAP's 1e-8 is too slow for minutes)
# and, for adaptive-weight-noise, eps EPS_LS2 1e-8 (TAP's) on ls2 = ln(sigma^2)/2048: with 1e-6
# Adadelta's first steps move ln(sigma^2) by ~9 each and the run overflows within 10 updates;
# one thread (OPENBLAS_NUM_THREADS=1). INIT=CKPT instead starts every method from that
# checkpoint (TAP's recipe: stage 2 after an Adadelta stage 1). Attention guidance GAMMA 1 (the
# small preset's; with 0 this model still ignores the ink after 12 epochs): it is part of the
# training objective and of the held-out cost, but not of L^E, which is the label NLL alone.
#
# Hyper-parameters: TAP's model cost c = MODEL_COST 0.1 and N = 2 x training expressions for
# every method (the objective per update is the batch-mean NLL + (c/N) L^C); weight-noise
# variants sigma = SIGMA 0.075 (the issue, RNNLIB's mdlInitStdDev); fixed priors with std 0.1:
# l2 / adaptive-mean-l2 variance PRIOR_VAR 0.01, l1 / adaptive-mean-l1 Laplace b = PRIOR_B
# 0.0707107 (0.1/sqrt 2, same variance); adaptive-weight-noise sigma_init 1e-12 (TAP).
#
# Columns: held-out WER / ExpRate (decoded with mu, greedy) and cost (teacher forced, nats per
# expression: label NLL + GAMMA x guidance) are means over the last AVG validations (one per
# epoch: single validations of this small model move by a few WER points); L^E, L^C, L^E + L^C and
# the ratio come from the last training epoch's row of train.tsv (L^E: NLL of that epoch's
# training passes, at the sampled weights for Gaussian posteriors; L^C: KL(Q||P) for Gaussian Q
# and a Gaussian prior, -sum ln P(mu_i) for delta Q, undefined for a uniform prior, shown as "-"
# and counted 0); ratio = (L^E + L^C) / (training tokens x log2 V). "train s" is the run's time
# without its validations (the machine may be shared: see the load averages printed).
#
# Environment (defaults in brackets): TAP [build/tap], OUT [out/variational_table], TRAIN_DIR
# [../shared/crohme/2014/train], HELD_DIR [../shared/crohme/2014/test], MAX_TOKENS [10], N_TRAIN
# [2000], N_HELD [400], EPOCHS [40], AVG [5], SEED [1234], EPS [1e-6], EPS_LS2 [1e-8], GAMMA [1],
# BATCH [8], MODEL_COST [0.1], SIGMA [0.075], PRIOR_VAR [0.01], PRIOR_B [0.0707107], MODEL
# ["--enc-units 32,32,32,32 --dec-units 48 --embed 32 --coverage 16 --kernel 31"], VARIANTS [all
# ten], INIT [none: from scratch], EXTRA [more tap train flags], QUICK [0]. A method whose
# OUT/runs/NAME/done exists is not run again (delete OUT to start over). Needs h5dump (hdf5-tools,
# installed by scripts/install-deps.sh) for the label lengths.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL="ml l1 l2 adaptive-l1 adaptive-l2 adaptive-mean-l1 adaptive-mean-l2 weight-noise
     adaptive-prior-weight-noise adaptive-weight-noise"
if [ "${QUICK:-0}" = 1 ]; then
    : "${N_TRAIN:=160}" "${N_HELD:=40}" "${EPOCHS:=2}" "${AVG:=1}" "${OUT:=out/variational_quick}"
    : "${MODEL:=--enc-units 8,8,8,8 --dec-units 12 --embed 8 --coverage 4 --kernel 7}"
fi
TAP=${TAP:-build/tap}
OUT=${OUT:-out/variational_table}
TRAIN_DIR=${TRAIN_DIR:-../shared/crohme/2014/train}
HELD_DIR=${HELD_DIR:-../shared/crohme/2014/test}
MAX_TOKENS=${MAX_TOKENS:-10} N_TRAIN=${N_TRAIN:-2000} N_HELD=${N_HELD:-400}
EPOCHS=${EPOCHS:-40} AVG=${AVG:-5} SEED=${SEED:-1234} EPS=${EPS:-1e-6} EPS_LS2=${EPS_LS2:-1e-8}
GAMMA=${GAMMA:-1}
BATCH=${BATCH:-8} MODEL_COST=${MODEL_COST:-0.1} SIGMA=${SIGMA:-0.075}
PRIOR_VAR=${PRIOR_VAR:-0.01} PRIOR_B=${PRIOR_B:-0.0707107}
MODEL=${MODEL:---enc-units 32,32,32,32 --dec-units 48 --embed 32 --coverage 16 --kernel 31}
VARIANTS=${VARIANTS:-$ALL} INIT=${INIT:-} EXTRA=${EXTRA:-}
export OPENBLAS_NUM_THREADS=1

die() { echo "variational_table: $*" >&2; exit 2; }
[ -x "$TAP" ] || die "no $TAP: build first (scripts/build.sh)"
[ -d "$TRAIN_DIR" ] && [ -d "$HELD_DIR" ] || die "no CROHME at $TRAIN_DIR / $HELD_DIR"
command -v h5dump >/dev/null || die "h5dump missing (apt-get install hdf5-tools)"
[ -z "$INIT" ] || [ -f "$INIT" ] || die "INIT=$INIT: no such checkpoint"
mkdir -p "$OUT/data" "$OUT/runs"

# One column of a dataset, one value a line (h5dump's text, quotes dropped).
h5col() {
    h5dump -d "/$2" -y -w 0 "$1" | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' |
        tr -d ' \n' | tr ',' '\n' | tr -d '"'
}
# The InkML paths of a converted pool whose labels have <= MAX_TOKENS tokens, N of them at
# evenly spaced ranks of the sorted list.
select_files() {
    paste <(h5col "$1" sources) <(h5col "$1" token_offsets | awk 'NR > 1 { print $1 - p } { p = $1 }') |
        awk -F'\t' -v m="$MAX_TOKENS" '$2 <= m' | LC_ALL=C sort |
        awk -F'\t' -v n="$2" '{ p[NR] = $1 }
            END { if (n > NR) n = NR; for (i = 0; i < n; i++) print p[int(i * NR / n) + 1] }'
}
make_set() { # name dir n
    local h5=$OUT/data/$1.h5
    [ -f "$h5" ] && return
    "$TAP" prep --quiet --threads 1 "$2" -o "$OUT/data/pool_$1.h5" >"$OUT/data/pool_$1.log" 2>&1 ||
        die "tap prep $2 failed: see $OUT/data/pool_$1.log"
    select_files "$OUT/data/pool_$1.h5" "$3" >"$OUT/data/$1.txt"
    "$TAP" prep --quiet --threads 1 --list "$OUT/data/$1.txt" -o "$h5" >"$OUT/data/$1.log" 2>&1 ||
        die "tap prep of $OUT/data/$1.txt failed"
    rm -f "$OUT/data/pool_$1.h5"
}
t0=$(date +%s)
make_set train "$TRAIN_DIR" "$N_TRAIN"
make_set held "$HELD_DIR" "$N_HELD"
n_train=$(wc -l <"$OUT/data/train.txt") n_held=$(wc -l <"$OUT/data/held.txt")
echo "data: $n_train training and $n_held held-out expressions of <= $MAX_TOKENS tokens ($(($(date +%s) - t0)) s)"

# shellcheck disable=SC2206
common=(train --threads 1 $MODEL --batch-size "$BATCH" --seed "$SEED" --eps "$EPS" --eps-ls2 "$EPS_LS2"
    --gamma "$GAMMA"
    --stage 2 --max-epochs "$EPOCHS" --patience 1000000 --valid-every 0 --valid-beam 1
    --model-cost "$MODEL_COST" --n-train 0 --sigma "$SIGMA" --prior-var "$PRIOR_VAR"
    --prior-b "$PRIOR_B" --checkpoint-minutes 1000 --log-every 50 --progress-every 1000000)
if [ -n "$INIT" ]; then common+=(--init "$INIT"); else common+=(--scratch); fi
# shellcheck disable=SC2206
common+=($EXTRA)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for v in $VARIANTS; do
    run=$OUT/runs/$v
    if [ -f "$run/done" ]; then echo "$v: done before, kept"; continue; fi
    rm -rf "$run" "$run.log"
    printf '%s: ' "$v"
    s=$(date +%s)
    rc=0
    "$TAP" "${common[@]}" --variational "$v" "$OUT/data/train.h5" "$OUT/data/held.h5" "$run" \
        >"$run.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        echo "failed (exit $rc), see $run.log"
        continue
    fi
    touch "$run/done"
    awk -F'\t' '$1 == "valid" { w = $10; e = $11 } END { printf "final WER %.2f%%, ExpRate %.2f%%", w, e }' "$run/train.tsv"
    echo " ($(($(date +%s) - s)) s)"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------- the table
table=$OUT/table.md
{
    echo "| method | posterior | prior | held-out WER % | ExpRate % | held-out cost | L^E (bits) | L^C (bits) | L^E + L^C (bits) | ratio | train s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for v in $VARIANTS; do
        run=$OUT/runs/$v
        case $v in
        ml) q="delta" p="uniform" ;;
        l1) q="delta" p="Laplace(0, $PRIOR_B)" ;;
        l2) q="delta" p="Gauss(0, $PRIOR_VAR)" ;;
        adaptive-l1) q="delta" p="Laplace, fitted" ;;
        adaptive-l2) q="delta" p="Gauss, fitted" ;;
        adaptive-mean-l1) q="delta" p="Laplace(fitted, $PRIOR_B)" ;;
        adaptive-mean-l2) q="delta" p="Gauss(fitted, $PRIOR_VAR)" ;;
        weight-noise) q="Gauss, σ $SIGMA" p="uniform" ;;
        adaptive-prior-weight-noise) q="Gauss, σ $SIGMA" p="Gauss, fitted" ;;
        adaptive-weight-noise) q="Gauss, σᵢ learned" p="Gauss, fitted" ;;
        *) q="?" p="?" ;;
        esac
        if [ ! -f "$run/done" ]; then
            echo "| \`$v\` | $q | $p | failed: see runs/$v.log |||||||| "
            continue
        fi
        vsec=$(sed -n 's/.*expressions, \([0-9.]*\)s\]$/\1/p' "$run.log" | awk '{ s += $1 } END { print s + 0 }')
        awk -F'\t' -v v="$v" -v q="$q" -v p="$p" -v avg="$AVG" -v vsec="$vsec" '
            $1 == "valid" { n++; W[n] = $10; E[n] = $11; L[n] = $9 }
            $1 == "epoch" { le = $6; lc = $7; ratio = $8 }
            { el = $14 }
            END {
                k = n < avg ? n : avg; w = e = l = 0
                for (i = n - k + 1; i <= n; i++) { w += W[i]; e += E[i]; l += L[i] }
                uniform = (p == "uniform")
                printf "| `%s` | %s | %s | %.2f | %.2f | %.3f | %.0f | %s | %.0f | %.4f | %.0f |\n",
                    v, q, p, w / k, e / k, l / k, le, uniform ? "-" : sprintf("%.0f", lc),
                    le + lc, ratio, el - vsec
            }' "$run/train.tsv"
    done
    echo
    echo "$n_train training / $n_held held-out expressions (<= $MAX_TOKENS tokens), $EPOCHS epochs" \
        "($(awk -F'\t' '$1 == "epoch" { s = $4 } END { print s }' "$OUT/runs/$(set -- $VARIANTS; echo "$1")/train.tsv" 2>/dev/null) updates)" \
        "per method; WER/ExpRate/cost: mean of the last $AVG validations. Load average $load_start at the start, $load_end at the end."
    echo
    echo "\`OPENBLAS_NUM_THREADS=1 $TAP ${common[*]} --variational METHOD $OUT/data/train.h5 $OUT/data/held.h5 $OUT/runs/METHOD\`"
} >"$table"
echo
cat "$table"
