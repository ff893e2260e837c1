#!/usr/bin/env python3
"""Decode latency per expression, tap vs the PyTorch reference, interleaved in one run.

The expression is bench_decode.py's: the median-#points CROHME 2014 test expression (233
points + TAP's zero frame) decoded for the median token count (13 steps) with <eol> forbidden
(torch: never_stop; tap: <eol>'s logit bias at -30), TAP's initialisers, random features.
Torch uses its fastest variant (context projection precomputed once, Sampler precompute_pctx).
Each round runs one tap latency (build/bench_decode serve, a median of --reps decodes) and
one torch latency (median of --reps gen_sample calls) per beam width; the script reports
medians over rounds, the ratio torch/tap, and the encoder's share.
  /usr/bin/python3 bench/decode_vs_torch.py --threads 1 [--rounds 5 --reps 5 --beams 1,10]
(after bench/build_bench.sh)."""
import argparse
import os

import bench_common as bc

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--beams", default="1,10")
bc.add_clock_arg(ap)
args = ap.parse_args()
clock = bc.check_clock(args)
cpu = args.clock == "cpu"
torch, T, U = bc.torch_setup(args.threads)
print(bc.machine_line(args.threads, args.clock))
opts = dict(T.OPTS)
P = T.to_torch(T.init_params(opts, seed=1234), requires_grad=False)
L = U.load_lengths()
exs = U.sorted_exprs(L)
e = exs[len(exs) // 2]
steps = int(L["tokens_test"]["median"])
npts = e["points"]
x = torch.randn(npts + 1, 1, opts["dim_feature"], generator=torch.Generator().manual_seed(3))
x[npts] = 0
S = T.Sampler(P, opts, precompute_pctx=True)
tap = bc.Server([os.path.join(bc.BUILD, "bench_decode"), "serve", str(npts), str(args.threads)])
print("expression %s: %d points (+1 zero frame), %d decoder steps" % (e["uid"], npts, steps))
beams = [int(b) for b in args.beams.split(",")]
res = {k: dict(tap=[], enc=[], torch=[]) for k in beams}
for k in beams:  # warm-up of both
    tap.ask("%d %d %d 1" % (npts, steps, k))
    T.gen_sample(S, x, opts, k=k, maxlen=steps, never_stop=True)
for r in range(args.rounds):
    for k in beams:
        a = tap.ask("%d %d %d %d" % (npts, steps, k, args.reps))
        assert int(a[6]) == steps, a
        res[k]["tap"].append(float(a[10] if cpu else a[1]))
        res[k]["enc"].append(float(a[12] if cpu else a[4]))
        ts = []
        for _ in range(args.reps):
            t0 = clock()
            out, _ = T.gen_sample(S, x, opts, k=k, maxlen=steps, never_stop=True)
            ts.append(clock() - t0)
        res[k]["torch"].append(bc.median(ts))
tap.close()
print("| decode (%d thread%s) | tap ms | of it encoder ms | torch ms | torch/tap |" % (
    args.threads, "s" if args.threads > 1 else ""))
print("|---|---|---|---|---|")
for k in beams:
    c, t, en = (bc.median(res[k][n]) for n in ("tap", "torch", "enc"))
    print("| %s | %.1f | %.1f | %.1f | %.2fx |" % ("greedy" if k == 1 else "beam %d" % k, 1e3 * c,
                                                 1e3 * en, 1e3 * t, t / c))
print("(%s time; medians of %d rounds, each a median of %d decodes; ratios per round: %s)" % (
    args.clock, args.rounds, args.reps, "; ".join("k=%d %s" % (k, " ".join(
        "%.2f" % (t / c) for c, t in zip(res[k]["tap"], res[k]["torch"]))) for k in beams)))
