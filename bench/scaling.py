#!/usr/bin/env python3
"""How the training step (loss, backward, clip, Adadelta; batch of equal lengths) grows with
sequence length and batch size, and how throughput scales from 1 to 2 threads; tap and the
PyTorch reference interleaved per configuration, medians of --reps steps after one warm-up.

  --what length   B = 8, points P in --points, tokens P // 10 (233 points -> 23 tokens)
  --what batch    P = 233, 23 tokens, B in --batches
  --what threads  the median and p90 CROHME 2014 test batches (bench_util.batch_at) at 1 and 2
                  threads: tap (OpenBLAS + TapConfig.threads) and torch (set_num_threads)
GFLOP/s uses tap_torch.flops_train_step (padded shapes).
  /usr/bin/python3 bench/scaling.py --what length,batch [--threads 1 --reps 3]
(after bench/build_bench.sh). --clock cpu (length and batch at 1 thread only) times CPU seconds.
The threads table always uses wall time."""
import argparse
import time

import bench_common as bc

ap = argparse.ArgumentParser()
ap.add_argument("--what", default="length,batch")
ap.add_argument("--threads", type=int, default=1, help="for length and batch")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--points", default="100,200,300,400,600")
ap.add_argument("--batches", default="1,2,4,8,16")
bc.add_clock_arg(ap)
args = ap.parse_args()
clock = bc.check_clock(args) if "threads" not in args.what else time.perf_counter
torch, T, U = bc.torch_setup(args.threads)
tap_field = 6 if args.clock == "cpu" and "threads" not in args.what else 1
opts = dict(T.OPTS)
P = T.to_torch(T.init_params(opts, seed=1234))
state = T.adadelta_init(P)


def torch_step(lx, ly, reps, threads):
    torch.set_num_threads(threads)
    batch = T.prepare_batch(opts, lx, ly, seed=7)
    T.train_step(P, opts, batch, state)
    ts = []
    for _ in range(reps):
        t0 = clock()
        T.train_step(P, opts, batch, state)
        ts.append(clock() - t0)
    return bc.median(ts)


def table(title, rows, threads):
    """rows: (label, lx, ly). One tap server sized for the largest row."""
    max_T = max(max(lx) for _, lx, _ in rows) + 1
    max_L = max(max(ly) for _, _, ly in rows) + 1
    max_B = max(len(lx) for _, lx, _ in rows)
    peak = bc.sgemm_peak(threads, "cpu" if tap_field == 6 else "wall")
    tap = bc.step_server(max_T, max_L, max_B, threads)
    print("\n| %s (%d thread%s) | GFLOP | tap s | tap expr/s | tap GFLOP/s (%% of peak) | torch s "
          "| torch/tap |" % (title, threads, "s" if threads > 1 else ""))
    print("|---|---|---|---|---|---|---|")
    for label, lx, ly in rows:
        fl = T.flops_train_step(opts, len(lx), max(lx) + 1, max(ly) + 1)
        c = float(tap.ask(bc.step_line(lx, ly, args.reps, 1))[tap_field])
        t = torch_step(lx, ly, args.reps, threads)
        print("| %s | %.1f | %.3f | %.1f | %.1f (%.0f%%) | %.3f | %.2fx |" % (
            label, fl / 1e9, c, len(lx) / c, fl / c / 1e9, 100 * fl / c / 1e9 / peak, t, t / c),
            flush=True)
    tap.close()
    print("(%s time; sgemm peak %.1f GFLOP/s at %d thread(s), measured before the table)" % (
        "wall" if tap_field == 1 else "cpu", peak, threads))


what = args.what.split(",")
if "length" in what:
    rows = [("P=%d, L=%d" % (p, p // 10), [p] * 8, [p // 10] * 8)
            for p in map(int, args.points.split(","))]
    table("step vs length, B=8", rows, args.threads)
if "batch" in what:
    rows = [("B=%d" % b, [233] * b, [23] * b) for b in map(int, args.batches.split(","))]
    table("step vs batch, P=233, L=23", rows, args.threads)
if "threads" in what:
    exs = U.sorted_exprs(U.load_lengths())
    res = {}
    for q in (0.5, 0.9):
        bx = U.batch_at(exs, q, opts["batch_size"])
        lx, ly = [e["points"] for e in bx], [e["tokens"] for e in bx]
        for th in (1, 2):
            tap = bc.step_server(max(lx) + 1, max(ly) + 1, len(lx), th)
            c = float(tap.ask(bc.step_line(lx, ly, args.reps, 1))[1])
            tap.close()
            res[q, th] = (c, torch_step(lx, ly, args.reps, th))
    peaks = {th: bc.sgemm_peak(th) for th in (1, 2)}
    print("\n| batch | tap 1 thr s | tap 2 thr s | tap speed-up | torch 1 thr s | torch 2 thr s "
          "| torch speed-up | torch/tap at 2 thr |")
    print("|---|---|---|---|---|---|---|---|")
    for q in (0.5, 0.9):
        (c1, t1), (c2, t2) = res[q, 1], res[q, 2]
        print("| %s | %.3f | %.3f | %.2fx | %.3f | %.3f | %.2fx | %.2fx |" % (
            "median" if q == 0.5 else "p90", c1, c2, c1 / c2, t1, t2, t1 / t2, t2 / c2))
    print("(sgemm peak %.1f GFLOP/s at 1 thread, %.1f at 2, measured after the runs)" % (
        peaks[1], peaks[2]))
