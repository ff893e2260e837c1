#!/usr/bin/python3
"""Independent NumPy implementation of TAP's 9 point features (crohme/TAP_FEATURES.md), used to
write the .expected files of the hand-made inputs here: /usr/bin/python3 reference.py *.inkml
Writes <name>.expected next to each input, one row per point, "%.6f" like TAP's .ascii."""
import re
import sys

import numpy as np

f32 = np.float32


def read_traces(path):
    text = open(path, "rb").read().decode("latin-1")
    traces = []
    for m in re.finditer(r"<(?:\w+:)?trace(?:\s[^>]*)?>(.*?)</(?:\w+:)?trace>", text, re.S):
        traces.append([tuple(float(v) for v in p.split()[:2]) for p in m.group(1).strip().split(",")])
    return traces


def thin(traces):
    pts = [p for t in traces for p in t]
    w = max(p[0] for p in pts) - min(p[0] for p in pts)
    h = max(p[1] for p in pts) - min(p[1] for p in pts)
    thr = 0.005 * max(w, h)
    out = []
    for t in traces:
        d = [t[0]]
        for p in t[1:]:
            if p != d[-1]:
                d.append(p)
        kept = [d[0]]
        for p in d[1:-1]:
            if np.hypot(p[0] - kept[-1][0], p[1] - kept[-1][1]) >= thr:
                kept.append(p)
        kept.append(d[-1])  # a one-point stroke gives two rows
        out.append(kept)
    return out


def features(traces):
    strokes = thin(traces)
    segs = [(a, b) for s in strokes for a, b in zip(s[:-1], s[1:])]
    sl = sx = sy = f32(0)
    lens = []
    for a, b in segs:  # float32, summed in order
        dx, dy = f32(b[0] - a[0]), f32(b[1] - a[1])
        l = np.sqrt(dx * dx + dy * dy)
        lens.append(l)
        sl = f32(sl + l)
        sx = f32(sx + l * (f32(a[0]) + f32(b[0])) / f32(2))
        sy = f32(sy + l * (f32(a[1]) + f32(b[1])) / f32(2))
    mx, my = sx / sl, sy / sl
    sv = f32(0)
    for (a, b), l in zip(segs, lens):
        da, db = f32(a[0]) - mx, f32(b[0]) - mx
        sv = f32(sv + l * (da * da + db * db + da * db) / f32(3))
    sigma = np.sqrt(sv / sl)
    pts = np.array([p for s in strokes for p in s])
    last = np.array([j == len(s) - 1 for s in strokes for j in range(len(s))])
    x = (pts[:, 0].astype(f32) - mx) / sigma
    y = (pts[:, 1].astype(f32) - my) / sigma
    n = len(x)
    i = np.arange(n)
    n1, n2 = np.minimum(i + 1, n - 1), np.minimum(i + 2, n - 1)
    f = np.zeros((n, 9), dtype=np.float64)
    f[:, 0], f[:, 1] = x, y
    f[:, 2], f[:, 3] = x[n1] - x, y[n1] - y
    f[:, 4], f[:, 5] = x[n2] - x, y[n2] - y
    f[:, 6] = np.abs(f[:, 5].astype(f32).astype(np.float64)) / (1 + f[:, 3].astype(f32).astype(np.float64) ** 2) ** 1.5
    f[:, 7] = ~last
    f[:, 8] = last
    f[n - 1, 7], f[n - 1, 8] = 0, 1
    return f.astype(f32)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        f = features(read_traces(path))
        with open(re.sub(r"\.inkml$", ".expected", path), "w") as out:
            for row in f:
                out.write(" ".join("%f" % v for v in row) + "\n")
