"""Dev check of fastspectral's log K_v(x) core against Arb (python-flint).

Not the official test: a few thousand points (log-uniform random, dense sweeps around the region
switches in bessel_k.hpp, turning region, extremes), float64 and float32, max error per region.
Error measure: |computed - true| / max(1, |true|).

    PYTHONPATH=python python3 tests/tools/dev_bessel_k_check.py [--n N] [--seed S] [--speed]
"""
import argparse
import math
import sys
import time

import numpy as np
from flint import arb, ctx

import fastspectral._core as core


def _good(a, rel=1e-20):
    return a.is_finite() and a.rad() <= abs(a.mid()) * rel + arb(10) ** -30


def _small_x_large_v(v, x, what):
    # x^2/(4v) tiny: K_v(x) = Gamma(v)/2 (2/x)^v sum_k (-x^2/4)^k / (k! (v-1)...(v-k)) up to a
    # relative (x/2)^(2v); Arb's own evaluation needs huge precision here.
    ctx.prec = 256
    V, X = arb(v), arb(x)
    y = X * X / 4
    s, ds, t = arb(1), arb(0), arb(1)
    for k in range(1, 12):
        t = -t * y / (k * (V - k))
        s += t
        ds += t * 2 * k / X
    if what == "dx":
        return float(-V / X + ds / s)
    lk = V.lgamma() - arb(2).log() + V * (2 / X).log() + s.log()
    if what == "kve":
        lk = lk + X
    return float(lk)


def ref(v, x, what):
    """Arb reference at the exact double inputs, with adaptive precision."""
    if v > 50 and x < 1e-6 and x * x / (4 * v) < 1e-12:
        return _small_x_large_v(v, x, what)
    for prec in (128, 256, 512, 1024, 2048, 4096, 8192):
        ctx.prec = prec
        V, X = arb(v), arb(x)
        if what == "kv":
            a = X.bessel_k(V).log()
        elif what == "kve":
            a = X.bessel_k(V, scaled=True).log()
        else:  # d/dx log K = -K_{v+1}/K_v + v/x
            a = -(X.bessel_k(V + 1, scaled=True) / X.bessel_k(V, scaled=True)) + V / X
        if _good(a):
            return float(a)
    return float("nan")


def err(got, want, rel_only=False, f32=False):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if f32:  # a true value beyond the float range should come back as inf
        big = np.abs(want) > np.finfo(np.float32).max
        want = np.where(big, np.copysign(np.inf, want), want)
    den = np.abs(want) if rel_only else np.maximum(1.0, np.abs(want))
    e = np.abs(got - want) / den
    e[~np.isfinite(got) & np.isfinite(want)] = np.inf
    e[np.isnan(want) | (got == want)] = 0.0
    return e


def make_points(n, seed):
    rng = np.random.default_rng(seed)
    pts = {}

    def lu(lo, hi, m):
        return np.exp(rng.uniform(np.log(lo), np.log(hi), m))

    pts["random v[1e-3,1e5] x[1e-8,1e6]"] = (lu(1e-3, 1e5, n), lu(1e-8, 1e6, n))
    pts["random v[1e-10,1e5] x[5e-324,1e300]"] = (lu(1e-10, 1e5, n), lu(5e-324, 1e300, n))
    pts["random small v[0,25] x[1e-5,30]"] = (rng.uniform(0, 25, n), lu(1e-5, 30, n))
    # special orders
    sv = np.concatenate([np.zeros(20), np.full(20, 1e-10), rng.integers(0, 30, 40).astype(float),
                         rng.integers(0, 30, 40) + 0.5, rng.integers(30, 100000, 40).astype(float)])
    pts["special v (0, 1e-10, ints, half-ints)"] = (sv, lu(1e-300, 1e4, sv.size))
    # extremes
    ev = np.array([0, 1e-10, 0.5, 1, 2.5, 10, 21.9, 100, 1e3, 1e4, 1e5] * 4, dtype=float)
    ex = np.repeat([5e-324, 1e-300, 1e200, 1e300], 11)
    pts["extremes x"] = (ev, ex)
    # region switches: r = 22 / 10 (Debye), Debye term tiers, x = 2 (Temme/CF2)
    th = [10, 12, 18, 22, 26, 29, 42, 50, 64, 130, 160, 210, 430, 1200, 6000, 1e5]
    vs, xs = [], []
    for r in th:
        for _ in range(max(4, n // 100)):
            ang = rng.uniform(0, np.pi / 2)
            rr = r * (1 + rng.uniform(-1e-3, 1e-3))
            vs.append(rr * np.cos(ang))
            xs.append(rr * np.sin(ang))
    pts["Debye tier switches"] = (np.array(vs), np.array(xs))
    m = n // 5
    pts["x ~ 1.5 (Temme/Miller)"] = (rng.uniform(0, 22, m), 1.5 * (1 + rng.uniform(-1e-3, 1e-3, m)))
    v = lu(1, 1e5, m)
    pts["turning x ~ v"] = (v, v * (1 + rng.uniform(-0.1, 0.1, m)))
    v = lu(20, 1e5, m)
    pts["zero of eta x ~ 0.6627 v"] = (v, v * 0.66274341934918 * (1 + rng.uniform(-0.06, 0.06, m)))
    v = rng.uniform(19.9, 20.1, m)
    pts["v ~ 20 near z0"] = (v, v * 0.6627434 * (1 + rng.uniform(-0.06, 0.06, m)))
    return pts


def run(n, seed):
    pts = make_points(n, seed)
    worst = {}
    for name, (v, x) in pts.items():
        v = np.asarray(v, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        line = [f"{name:40s} n={v.size:5d}"]
        for what, fn in (("kv", core.log_kv), ("kve", core.log_kve), ("dx", core.log_kv_dx)):
            want = np.array([ref(a, b, what) for a, b in zip(v, x)])
            e64 = err(fn(v, x), want, rel_only=(what == "dx"))
            v32 = v.astype(np.float32)
            x32 = x.astype(np.float32)
            ok = (x32 > 0) & np.isfinite(x32)
            want32 = np.array([ref(float(a), float(b), what) if o else np.nan
                               for a, b, o in zip(v32, x32, ok)])
            e32 = err(fn(v32, x32), want32, rel_only=(what == "dx"), f32=True)
            i64 = int(np.argmax(e64))
            i32 = int(np.argmax(e32))
            line.append(f"{what}: f64 {e64.max():.1e} f32 {e32.max():.1e}")
            for tag, e, i, vv, xx in (("f64", e64, i64, v, x), ("f32", e32, i32, v32, x32)):
                key = (what, tag)
                if e[i] > worst.get(key, (0,))[0]:
                    worst[key] = (e[i], float(vv[i]), float(xx[i]), name)
            nref = int(np.isnan(want).sum())
            if nref:
                line.append(f"[{nref} refs failed]")
        print("  ".join(line), flush=True)
    print("\nworst:")
    for k, w in sorted(worst.items()):
        print(f"  {k}: err {w[0]:.2e} at v={w[1]!r} x={w[2]!r} ({w[3]})")


def speed():
    import os
    import scipy.special as sc
    assert os.environ.get("OMP_NUM_THREADS") == "1", "run with OMP_NUM_THREADS=1"
    rng = np.random.default_rng(1)
    m = 1_000_000
    v = np.exp(rng.uniform(np.log(1e-3), np.log(1e5), m))
    x = np.exp(rng.uniform(np.log(1e-8), np.log(1e6), m))
    for name, f in (("fastspectral log_kv f64", lambda: core.log_kv(v, x)),
                    ("fastspectral log_kve f64", lambda: core.log_kve(v, x)),
                    ("fastspectral log_kv_dx f64", lambda: core.log_kv_dx(v, x)),
                    ("fastspectral log_kv f32", lambda a=v.astype(np.float32), b=x.astype(np.float32):
                     core.log_kv(a, b)),
                    ("scipy kve f64", lambda: sc.kve(v, x))):
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        print(f"{name:30s} {np.median(ts) / m * 1e9:7.1f} ns/element")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", action="store_true")
    a = ap.parse_args()
    if a.speed:
        speed()
    else:
        run(a.n, a.seed)
