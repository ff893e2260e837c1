#!/usr/bin/python3
"""Checks the C model against the PyTorch port of TAP v2 (/work/shared/bench/tap_torch.py) on
real CROHME 2014 training expressions, at TAP's full size. Reference tool: run by hand with
Debian's /usr/bin/python3 (torch, h5py, numpy), never in CI.

  tools/ref/build.sh && /usr/bin/python3 tools/ref/compare_torch.py [--shared DIR] [--batch 8]

1. Picks --batch expressions (fixed seed) with TAP labels and stroke alignments, computes TAP's 9
   point features from the InkML (recipe of crohme/TAP_FEATURES.md; checked on the 20 TAP .ascii
   test samples) and the point/token alignment, and pads them as TAP's prepare_data.
2. Runs build/ref/dump_grads: the C model initialised from a seed computes the cost and the
   gradient of the batch-mean cost and saves both, by TAP name, in a tap checkpoint.
3. Loads the checkpoint's /params into tap_torch (by name, TAP shapes), recomputes the cost and
   its gradient in float32 and in float64 (the reference), and compares, per tensor, by the
   max-norm relative difference max|g_a - g_b| / max|g_b|: C vs float64 (must be <= 1e-3 for
   every tensor, the cost within 1e-4), and for context C vs float32 and float32 vs float64.
   Done at TAP's init and again with the weights perturbed by N(0, --noise^2). Exit status 1 if
   any check fails.
"""
import argparse
import io
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


# ----------------------------------------------------------------------------- features
def read_traces(path):
    """Traces in document order, each an (n, 2) float64 array of the first two channels."""
    root = ET.parse(path).getroot()
    traces = []
    for el in root.iter():
        if el.tag.split("}")[-1] == "trace":
            pts = []
            for p in el.text.strip().split(","):
                v = p.split()
                pts.append((float(v[0]), float(v[1])))
            traces.append(np.array(pts, dtype=np.float64))
    return traces


def tap_features(traces):
    """TAP's 9 features (TAP_FEATURES.md) and, per kept point, the index of its trace."""
    allp = np.concatenate(traces, 0)
    thr = 0.005 * max(allp[:, 0].max() - allp[:, 0].min(), allp[:, 1].max() - allp[:, 1].min())
    strokes = []
    for tr in traces:
        d = [tr[0]]
        for p in tr[1:]:
            if p[0] != d[-1][0] or p[1] != d[-1][1]:
                d.append(p)
        kept = [d[0]]
        for p in d[1:-1]:
            if math.hypot(p[0] - kept[-1][0], p[1] - kept[-1][1]) >= thr:
                kept.append(p)
        kept.append(d[-1])
        strokes.append(np.array(kept))
    sl = sx = sy = 0.0
    for s in strokes:
        a, b = s[:-1], s[1:]
        l = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
        sl += l.sum()
        sx += (l * (a[:, 0] + b[:, 0]) / 2).sum()
        sy += (l * (a[:, 1] + b[:, 1]) / 2).sum()
    mx, my = sx / sl, sy / sl
    vx = 0.0
    for s in strokes:
        a, b = s[:-1, 0] - mx, s[1:, 0] - mx
        l = np.hypot(s[1:, 0] - s[:-1, 0], s[1:, 1] - s[:-1, 1])
        vx += (l * (a * a + b * b + a * b) / 3).sum()
    sig = math.sqrt(vx / sl)
    pts = np.concatenate(strokes, 0)
    X, Y = (pts[:, 0] - mx) / sig, (pts[:, 1] - my) / sig
    N = len(pts)
    i = np.arange(N)
    n1, n2 = np.minimum(i + 1, N - 1), np.minimum(i + 2, N - 1)
    f = np.zeros((N, 9))
    f[:, 0], f[:, 1] = X, Y
    f[:, 2], f[:, 3] = X[n1] - X, Y[n1] - Y
    f[:, 4], f[:, 5] = X[n2] - X, Y[n2] - Y
    f[:, 6] = np.abs(f[:, 5]) / (1 + f[:, 3] ** 2) ** 1.5
    stroke_of = np.concatenate([np.full(len(s), k) for k, s in enumerate(strokes)])
    last = np.concatenate([np.arange(len(s)) == len(s) - 1 for s in strokes])
    f[:, 7] = (~last).astype(np.float64)
    f[:, 8] = last.astype(np.float64)
    return f.astype(np.float32), stroke_of


def check_features_on_tap_samples(shared):
    """Max abs difference of our features against TAP's 20 released .ascii test samples."""
    worst, n = 0.0, 0
    with tarfile.open(os.path.join(shared, "crohme/tap/on-ascii-test-sample.tar.gz")) as tf:
        for m in tf.getmembers():
            if not m.name.endswith(".ascii"):
                continue
            uid = os.path.basename(m.name)[:-6]
            ink = os.path.join(shared, "crohme/2014/test", uid + ".inkml")
            if not os.path.exists(ink):
                continue
            ref = np.loadtxt(io.TextIOWrapper(tf.extractfile(m)))
            ours, _ = tap_features(read_traces(ink))
            if ours.shape != ref.shape:
                print("  features: %s has %d rows, TAP %d" % (uid, len(ours), len(ref)))
                continue
            worst = max(worst, float(np.abs(ours - ref).max()))
            n += 1
    return n, worst


# ----------------------------------------------------------------------------- batch
def load_batch(shared, count, seed, max_points):
    dic = {}
    for line in open(os.path.join(shared, "crohme/tap/dictionary.txt")):
        tok, idx = line.split()
        dic[tok] = int(idx)
    captions = {}
    for line in open(os.path.join(shared, "crohme/tap/train_caption.txt")):
        parts = line.split()
        captions[parts[0]] = parts[1:]
    aligns = {}
    with tarfile.open(os.path.join(shared, "crohme/tap/on-align-train.tar.gz")) as tf:
        for m in tf.getmembers():
            if m.name.endswith(".align"):
                rows = [l.split() for l in tf.extractfile(m).read().decode().splitlines() if l.strip()]
                aligns[os.path.basename(m.name)[:-6]] = rows
    uids = sorted(u for u in captions if u in aligns)
    rng = np.random.RandomState(seed)
    rng.shuffle(uids)
    chosen = []
    for uid in uids:
        ink = os.path.join(shared, "crohme/2014/train", uid + ".inkml")
        toks = captions[uid]
        al = aligns[uid]
        if not os.path.exists(ink) or len(al) != len(toks) or any(t not in dic for t in toks):
            continue
        if any(r[0] != t for r, t in zip(al, toks)):
            continue
        feats, stroke_of = tap_features(read_traces(ink))
        if len(feats) > max_points:
            continue
        a = np.zeros((len(feats), len(toks)), np.float32)
        for j, r in enumerate(al):
            for s in (int(v) for v in r[1:]):
                if s >= 0:
                    a[stroke_of == s, j] = 1.0
        chosen.append((uid, feats, [dic[t] for t in toks], a))
        if len(chosen) == count:
            break
    return chosen


def prepare_data(seqs):
    """TAP's prepare_data: time-major, x_mask/y_mask over len+1, a/a_mask (Tx, B, Ty)."""
    lx = [len(s[1]) for s in seqs]
    ly = [len(s[2]) for s in seqs]
    B, Tx, Ty = len(seqs), max(lx) + 1, max(ly) + 1
    x = np.zeros((Tx, B, 9), np.float32)
    x_mask = np.zeros((Tx, B), np.float32)
    y = np.zeros((Ty, B), np.int32)
    y_mask = np.zeros((Ty, B), np.float32)
    a = np.zeros((Tx, B, Ty), np.float32)
    a_mask = np.zeros((Tx, B, Ty), np.float32)
    for i, (_, f, t, al) in enumerate(seqs):
        x[:lx[i], i] = f
        x_mask[:lx[i] + 1, i] = 1
        y[:ly[i], i] = t
        y_mask[:ly[i] + 1, i] = 1
        a[:lx[i], i, :ly[i]] = al
        a_mask[:lx[i] + 1, i, :ly[i] + 1] = 1
    return dict(x=x, x_mask=x_mask, y=y, y_mask=y_mask, a=a, a_mask=a_mask)


# ----------------------------------------------------------------------------- compare
def torch_cost_and_grads(tt, params, batch, dtype):
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    b = [torch.tensor(batch[k]).to(dtype) for k in ("x", "x_mask")]
    b += [torch.tensor(batch["y"]).long()]
    b += [torch.tensor(batch[k]).to(dtype) for k in ("y_mask", "a", "a_mask")]
    cost = tt.build_cost(P, tt.OPTS, *b)
    assert cost.dtype == dtype  # tap_torch derives every internal tensor from its inputs
    mean = cost.mean()
    mean.backward()
    return cost.detach().double().numpy(), float(mean), {k: p.grad.double().numpy() for k, p in P.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init-seed", type=int, default=1234)
    ap.add_argument("--max-points", type=int, default=400)
    ap.add_argument("--noise", type=float, default=0.05, help="std of the weight perturbation of the 2nd run")
    ap.add_argument("--driver", default=os.path.join(ROOT, "build", "ref", "dump_grads"))
    ap.add_argument("--keep", help="directory to keep batch.h5 and out.h5 in")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.shared, "bench"))
    import tap_torch as tt

    torch.set_num_threads(2)
    n, worst = check_features_on_tap_samples(args.shared)
    print("features: %d TAP .ascii samples, max |ours - TAP| = %.2e" % (n, worst))

    seqs = load_batch(args.shared, args.batch, args.seed, args.max_points)
    batch = prepare_data(seqs)
    print("batch: %s" % " ".join("%s(%d pts, %d tok)" % (u, len(f), len(t)) for u, f, t, _ in seqs))
    print("  x %s, y %s" % (batch["x"].shape, batch["y"].shape))

    work = args.keep or tempfile.mkdtemp(prefix="tap-ref-")
    os.makedirs(work, exist_ok=True)
    bpath = os.path.join(work, "batch.h5")
    with h5py.File(bpath, "w") as f:
        for k, v in batch.items():
            f[k] = v
    ok = True
    for noise in (0.0, args.noise):
        print("\n=== weights: TAP init (seed %d)%s ===" % (args.init_seed, " + N(0, %g^2)" % noise if noise else ""))
        ok &= compare_at(tt, args, batch, bpath, os.path.join(work, "out_%g.h5" % noise), noise)
    print("\nRESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def compare_at(tt, args, batch, bpath, opath, noise):
    run = subprocess.run([args.driver, bpath, opath, str(args.init_seed), str(noise)], capture_output=True,
                         text=True)
    sys.stdout.write("C: " + run.stdout)
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        return False
    with h5py.File(opath, "r") as f:
        params = {k: np.array(f["params"][k]) for k in f["params"]}
        grads_c = {k: np.array(f["grads"][k]).astype(np.float64) for k in f["grads"]}
        text = f.attrs["config_text"].decode()
    lines = dict(l.split(" ", 1) for l in text.splitlines())
    mean_c = float(lines["mean"])
    cost_c = np.array([float(v) for v in lines["cost"].split()])

    ref = tt.init_params(tt.OPTS)
    missing = [k for k in ref if k not in params]
    extra = [k for k in params if k not in ref]
    shapes = [k for k in ref if k in params and ref[k].shape != params[k].shape]
    if missing or extra or shapes:
        print("names/shapes differ: missing %s extra %s shape %s" % (missing, extra, shapes))
        return False
    print("weights: %d tensors, %d floats; names and shapes match tap_torch.init_params" %
          (len(params), sum(v.size for v in params.values())))
    params = {k: params[k] for k in ref}  # TAP's order

    ok = True
    cost32, mean32, g32 = torch_cost_and_grads(tt, params, batch, torch.float32)
    cost64, mean64, g64 = torch_cost_and_grads(tt, params, batch, torch.float64)
    rel32 = abs(mean_c - mean32) / abs(mean32)
    rel64 = abs(mean_c - mean64) / abs(mean64)
    print("cost (batch mean): C %.9g  torch32 %.9g  torch64 %.9g" % (mean_c, mean32, mean64))
    seq64 = float(np.max(np.abs(cost_c - cost64) / np.abs(cost64)))
    print("  |C-t64|/|t64| %.2e   |C-t32|/|t32| %.2e   |t32-t64|/|t64| %.2e   per-sequence max C vs t64 %.2e"
          % (rel64, rel32, abs(mean32 - mean64) / abs(mean64), seq64))
    ok &= rel64 <= 1e-4
    # Max-norm relative difference per tensor against float64 torch, which every C gradient must
    # meet to 1e-3; C vs float32 must too, except where float32 torch is itself off float64 by
    # more than 1e-4 (a sum that cancels to ~1e-5 of its terms, e.g. the attention biases at
    # TAP's init): there that column measures torch's rounding, not C's, and is only shown.
    rows, worst64, worst32, worst_tt, f32_off = [], (0.0, ""), (0.0, ""), (0.0, ""), []
    for k in params:
        scale32 = max(np.abs(g32[k]).max(), 1e-30)
        scale64 = max(np.abs(g64[k]).max(), 1e-30)
        d32 = np.abs(grads_c[k] - g32[k]).max() / scale32
        d64 = np.abs(grads_c[k] - g64[k]).max() / scale64
        dtt = np.abs(g32[k] - g64[k]).max() / scale64
        good = d64 <= 1e-3
        worst64, worst_tt = max(worst64, (d64, k)), max(worst_tt, (dtt, k))
        if dtt > 1e-4:
            f32_off.append(k)
            note = "  (max|g| %.1e: float32 torch off float64)" % scale64
        else:
            good &= d32 <= 1e-3  # and the issue's own check, where float32 resolves the tensor
            worst32 = max(worst32, (d32, k))
            note = ""
        ok &= good
        note += "" if good else "  <-- FAIL"
        rows.append("%-22s %10.2e %10.2e %10.2e%s" % (k, d64, d32, dtt, note))
    print("%-22s %10s %10s %10s" % ("gradient", "C vs t64", "C vs t32", "t32 vs t64"))
    print("\n".join(rows))
    print("worst C vs t64 over all %d tensors: %.2e (%s); worst t32 vs t64: %.2e (%s)"
          % (len(params), worst64[0], worst64[1], worst_tt[0], worst_tt[1]))
    print("worst C vs t32 over the %d tensors float32 resolves: %.2e (%s)"
          % (len(params) - len(f32_off), worst32[0], worst32[1]))
    print("float32 torch off float64 by > 1e-4: %s" % (" ".join(f32_off) or "-"))
    return ok


if __name__ == "__main__":
    sys.exit(main())
