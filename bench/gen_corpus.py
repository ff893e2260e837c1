#!/usr/bin/env python3
"""Writes N InkML files into OUT_DIR, each a copy of one of the given sample files (cycled in
sorted order) with every trace coordinate moved by uniform jitter (+-J units, seeded), named
g<index>_<original name> so every uid is distinct. For scale measurements of `tap prep`
(bench/prep_scale.sh); generate under /tmp, never in the repository.

Usage: gen_corpus.py OUT_DIR N [--jitter J] [--seed S] SAMPLE_DIR_OR_FILE..."""
import argparse, os, random, re, sys

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("n", type=int)
ap.add_argument("--jitter", type=float, default=0.3)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("samples", nargs="+")
a = ap.parse_args()
files = []
for s in a.samples:
    if os.path.isdir(s):
        for root, _, names in os.walk(s):
            files += [os.path.join(root, f) for f in names if f.endswith(".inkml")]
    else:
        files.append(s)
files.sort()
if not files:
    sys.exit("gen_corpus: no .inkml samples")
texts = [open(f, encoding="latin-1").read() for f in files]
rng = random.Random(a.seed)
trace = re.compile(r"(<trace[^>]*>)(.*?)(</trace>)", re.S)
num = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")

def jitter_points(body):
    pts = []
    for p in body.split(","):
        vals = p.split()
        if len(vals) >= 2:
            try:
                x = float(vals[0]) + rng.uniform(-a.jitter, a.jitter)
                y = float(vals[1]) + rng.uniform(-a.jitter, a.jitter)
                vals[0], vals[1] = "%.3f" % x, "%.3f" % y
            except ValueError:
                pass
        pts.append(" ".join(vals))
    return ",".join(pts)

os.makedirs(a.out, exist_ok=True)
for i in range(a.n):
    k = i % len(files)
    t = trace.sub(lambda m: m.group(1) + jitter_points(m.group(2)) + m.group(3), texts[k])
    name = "g%07d_%s" % (i, os.path.basename(files[k]))
    with open(os.path.join(a.out, name), "w", encoding="latin-1") as f:
        f.write(t)
