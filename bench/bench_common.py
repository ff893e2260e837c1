"""Shared set-up of the tap-vs-PyTorch benchmark scripts (bench/*_vs_torch.py, bench/scaling.py).

Paths: ROOT (this checkout), SHARED (../shared or $TAP_SHARED: the PyTorch reference in
shared/bench), BUILD (build/ or $BUILD_DIR, where bench/build_bench.sh put the C drivers).
Run the scripts with Debian's /usr/bin/python3 (torch, numpy, h5py)."""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TAP_SHARED", os.path.join(ROOT, "..", "shared"))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(SHARED, "bench"))


def add_clock_arg(ap):
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: CPU seconds of each process instead of wall time, robust when other "
                         "jobs share the cores (1 thread only)")


def check_clock(args):
    if args.clock == "cpu" and args.threads != 1:
        sys.exit("--clock cpu needs --threads 1 (CPU time adds up the threads)")
    return time.perf_counter if args.clock == "wall" else time.process_time


def torch_setup(threads):
    """Imports torch and the reference port at `threads` threads (OpenBLAS too); returns
    (torch, tap_torch, bench_util)."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spin-waiting costs torch 3x at 2 threads
    import torch
    import tap_torch
    import bench_util
    torch.set_num_threads(threads)
    return torch, tap_torch, bench_util


def sgemm_peak(threads, clock="wall"):
    """GFLOP/s of OpenBLAS sgemm (best median over square sizes) measured now (build/sgemm_peak),
    per wall second or (clock "cpu") per CPU second."""
    argv = [os.path.join(BUILD, "sgemm_peak"), str(threads)] + (["cpu"] if clock == "cpu" else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return float(out.split()[2])


def machine_line(threads, clock="wall"):
    load = os.getloadavg()
    return ("%s time, threads %d  sgemm peak %.1f GFLOP/s (measured now)  load average %.2f "
            "(2 cores)" % (clock, threads, sgemm_peak(threads, clock), load[0]))


class Server:
    """A C driver in serve mode: one request line in, one answer line out."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        ans = self.p.stdout.readline()
        if not ans:
            raise RuntimeError("driver %s died" % self.p.args[0])
        return ans.split()

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def step_server(max_T, max_L, max_B, threads):
    return Server([os.path.join(BUILD, "bench_step"), "serve", str(max_T), str(max_L), str(max_B),
                   str(threads)])


def step_line(lx, ly, reps=1, warmup=1):
    return "%s %s %d %d" % (",".join(map(str, lx)), ",".join(map(str, ly)), reps, warmup)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
