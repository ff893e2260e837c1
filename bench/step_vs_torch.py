#!/usr/bin/env python3
"""tap vs the PyTorch reference (shared/bench/tap_torch.py), one run, interleaved: training step
(forward, backward, clip, Adadelta) at batch 8 on the median and p90 CROHME 2014 batches, defined
as bench_train.py does (bench_util.batch_at). Each round times one tap step (build/bench_step, a
fresh process: 1 warm-up + 1 timed step, at --threads: OpenBLAS and TapConfig.threads) then one
torch step; reports medians of ROUNDS rounds, the ratio torch/tap, GFLOP/s
(tap_torch.flops_train_forward x 3) against the sgemm peak measured in this run (build/sgemm_peak),
and bench_step's peak RSS (its own process: getrusage after the steps).
Run with Debian's /usr/bin/python3 after bench/build_bench.sh:
  /usr/bin/python3 bench/step_vs_torch.py --threads 1 [--rounds 5] [--clock cpu]"""
import argparse, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TAP_SHARED", os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "bench"))
ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--quantiles", default="0.5,0.9")
ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                help="cpu: CPU seconds of each process (robust when other jobs share the cores; "
                     "1 thread only)")
args = ap.parse_args()
if args.clock == "cpu" and args.threads != 1:
    sys.exit("--clock cpu needs --threads 1")
clock = time.perf_counter if args.clock == "wall" else time.process_time
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import tap_torch as T  # noqa: E402
from bench_util import batch_at, load_lengths, sorted_exprs  # noqa: E402

torch.set_num_threads(args.threads)
build = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
sg = subprocess.run([os.path.join(build, "sgemm_peak"), str(args.threads), args.clock], capture_output=True,
                    text=True, check=True).stdout
peak = float(sg.split()[2])
print("%s time, threads %d  sgemm peak %.1f GFLOP/s (build/sgemm_peak, this run)  load average %.2f"
      % (args.clock, args.threads, peak, os.getloadavg()[0]))
opts = dict(T.OPTS)
P = T.to_torch(T.init_params(opts, seed=1234))
state = T.adadelta_init(P)
exs = sorted_exprs(load_lengths())
for q in [float(s) for s in args.quantiles.split(",")]:
    bx = batch_at(exs, q, opts["batch_size"])
    lx, ly = [e["points"] for e in bx], [e["tokens"] for e in bx]
    batch = T.prepare_batch(opts, lx, ly, seed=7)
    B, Tx, Ty = len(lx), max(lx) + 1, max(ly) + 1
    fl = 3 * T.flops_train_forward(opts, B, Tx, Ty)
    T.train_step(P, opts, batch, state)  # torch warm-up
    tc, tt, rss = [], [], 0.0
    for _ in range(args.rounds):
        out = subprocess.run([os.path.join(build, "bench_step"), "1", "1", ",".join(map(str, lx)),
                              ",".join(map(str, ly)), str(args.threads)], capture_output=True, text=True, check=True).stdout
        m = re.search(r"median ([0-9.]+) s .*peak_rss_mb ([0-9.]+) .*cpu_median ([0-9.]+)", out)
        tc.append(float(m.group(3 if args.clock == "cpu" else 1)))
        rss = max(rss, float(m.group(2)))
        t0 = clock()
        T.train_step(P, opts, batch, state)
        tt.append(clock() - t0)
    c, t = statistics.median(tc), statistics.median(tt)
    print("q=%.2f B=%d Tx=%d Ty=%d %.1f GFLOP: tap %.3f s (%.1f GFLOP/s = %.0f%% of peak)"
          "  torch %.3f s  ratio torch/tap %.2fx  tap peak RSS %.0f MB"
          % (q, B, Tx, Ty, fl / 1e9, c, fl / c / 1e9, 100 * fl / c / 1e9 / peak, t, t / c, rss))
    sys.stdout.flush()
