#!/usr/bin/env python3
"""Training throughput (expressions/s) over a full pass of --exprs CROHME 2014 training
expressions at their real lengths, tap vs the PyTorch reference, interleaved batch by batch.

Lengths: `tap prep` converts every 8th file of shared/crohme/2014/train (a spread over the
writers) into a temporary HDF5 file; the first --exprs converted expressions are kept, sorted by
#points (TAP's dataIterator) and cut into batches of 8. For every batch, one tap step (build/
bench_step serve: loss, backward, clip, Adadelta; features/tokens random, shapes real) and one
torch step (tap_torch.train_step with Adadelta) are timed, no warm-up inside the pass (one step
of each before it). Reports expr/s of both, the ratio, GFLOP/s (tap_torch.flops_train_step, padded
shapes) against the sgemm peak measured in the same run, and tap's peak RSS.
  /usr/bin/python3 bench/pass_vs_torch.py --threads 1 [--exprs 1000 --passes 1]
(after bench/build_bench.sh)."""
import argparse
import os
import subprocess
import tempfile

import bench_common as bc

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--exprs", type=int, default=1000)
ap.add_argument("--passes", type=int, default=1)
bc.add_clock_arg(ap)
args = ap.parse_args()
clock = bc.check_clock(args)
torch, T, U = bc.torch_setup(args.threads)
import h5py  # noqa: E402
import numpy as np  # noqa: E402

print(bc.machine_line(args.threads, args.clock))
train_dir = os.path.join(bc.SHARED, "crohme", "2014", "train")
files = sorted(f for f in os.listdir(train_dir) if f.endswith(".inkml"))[::8]
with tempfile.TemporaryDirectory() as tmp:
    lst, h5 = os.path.join(tmp, "list.txt"), os.path.join(tmp, "train.h5")
    with open(lst, "w") as fh:
        fh.write("".join(os.path.join(train_dir, f) + "\n" for f in files[:args.exprs + 200]))
    subprocess.run([os.path.join(bc.BUILD, "tap"), "prep", "--quiet", "--threads", "1", "--dict",
                    os.path.join(bc.ROOT, "data", "dictionary.txt"), "--list", lst, "-o", h5],
                   check=True, capture_output=True)
    with h5py.File(h5, "r") as f:
        pts = np.diff(f["feature_offsets"][:])[:args.exprs]
        tok = np.diff(f["token_offsets"][:])[:args.exprs]
n = len(pts)
order = sorted(range(n), key=lambda i: (pts[i], i))
B = T.OPTS["batch_size"]
batches = [([int(pts[i]) for i in order[s:s + B]], [int(tok[i]) for i in order[s:s + B]])
           for s in range(0, n, B)]
max_T, max_L = int(pts.max()) + 1, int(tok.max()) + 1
print("%d training expressions (every 8th file), %d batches of %d; points median %d max %d, "
      "tokens median %d max %d" % (n, len(batches), B, int(np.median(pts)), pts.max(),
                                    int(np.median(tok)), tok.max()))
opts = dict(T.OPTS)
P = T.to_torch(T.init_params(opts, seed=1234))
state = T.adadelta_init(P)
tap = bc.step_server(max_T, max_L, B, args.threads)
lx, ly = batches[len(batches) // 2]
tap.ask(bc.step_line(lx, ly, 1, 0))  # warm-up of both
T.train_step(P, opts, T.prepare_batch(opts, lx, ly, seed=0), state)
flops = sum(T.flops_train_step(opts, len(lx), max(lx) + 1, max(ly) + 1) for lx, ly in batches)
tc_all, tt_all, rss = [], [], 0.0
for p in range(args.passes):
    tc = tt = 0.0
    for i, (lx, ly) in enumerate(batches):
        a = tap.ask(bc.step_line(lx, ly, 1, 0))
        tc += float(a[6] if args.clock == "cpu" else a[1])
        rss = max(rss, float(a[4]))
        batch = T.prepare_batch(opts, lx, ly, seed=i)
        t0 = clock()
        T.train_step(P, opts, batch, state)
        tt += clock() - t0
    tc_all.append(tc)
    tt_all.append(tt)
    print("pass %d: tap %.1f s (%.2f expr/s)  torch %.1f s (%.2f expr/s)  ratio %.2fx" % (
        p, tc, n / tc, tt, n / tt, tt / tc), flush=True)
tap.close()
peak = bc.sgemm_peak(args.threads, args.clock)
c, t = bc.median(tc_all), bc.median(tt_all)
print("| full pass, %d expressions, %d thread%s | seconds in steps | expr/s | GFLOP/s | %% of sgemm "
      "peak |" % (n, args.threads, "s" if args.threads > 1 else ""))
print("|---|---|---|---|---|")
print("| tap | %.1f | %.2f | %.1f | %.0f%% |" % (c, n / c, flops / c / 1e9, 100 * flops / c / 1e9 / peak))
print("| torch | %.1f | %.2f | %.1f | %.0f%% |" % (t, n / t, flops / t / 1e9, 100 * flops / t / 1e9 / peak))
print("%s time; ratio torch/tap %.2fx (median of %d pass%s); %.1f TFLOP per pass; sgemm peak %.1f GFLOP/s "
      "(measured after the pass); tap peak RSS %.0f MB" % (args.clock, t / c, args.passes,
                                                          "es" if args.passes > 1 else "",
                                                          flops / 1e12, peak, rss))
