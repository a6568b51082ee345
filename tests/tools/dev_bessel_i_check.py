"""Dev accuracy check for the log I_v core (csrc/include/fastspectral/bessel_i.hpp) against Arb.

Samples points (random log-uniform, the turning region, dense sweeps around every region switch,
extremes), computes Arb references (python-flint, precision raised until the ball is tight) and
prints the max error per region for log_iv, log_ive (|err|/max(1,|true|)), iv_ratio and log_iv_dx
(relative), in float64 and float32 (float32 references at the float32-rounded inputs).

Run after a dev build:  PYTHONPATH=python python3 tests/tools/dev_bessel_i_check.py [--n 400] [--seed 1]
References are cached in /tmp/dev_bessel_i_refs_<seed>_<n>.npz.
"""
import argparse
import math
import os

import numpy as np
from flint import arb, ctx

import fastspectral._core as core

R0 = {np.float64: 24.2, np.float32: 10.1}
Z0 = 0.6627434193491815
DEBYE_R = [5.929e07, 1.541e05, 8654, 1626, 553.1, 262.7, 153.2, 102.2, 74.82, 58.52, 48.06, 40.96,
           35.92, 32.21, 29.41, 27.24, 25.53, 24.17]
DEBYE_RF = [4841, 290.1, 78.19, 37.65, 23.99, 17.84, 14.56, 12.62, 11.39, 10.57, 10.01]


def arb_eval(fn, min_bits=60):
    prec = 80
    while prec <= 1 << 17:
        ctx.prec = prec
        try:
            y = fn()
        except Exception:
            y = None
        if y is not None and y.rel_accuracy_bits() >= min_bits:
            out = float(y.mid()) if abs(y.mid()) < arb(1e308) else math.inf
            ctx.prec = 64
            return out
        prec *= 2
    ctx.prec = 64
    return math.nan


def refs(v, x):
    av, ax = arb(float(v)), arb(float(x))
    li = arb_eval(lambda: ax.bessel_i(av).log())
    if abs(li) < 1e-3:  # absolute accuracy is what the metric needs
        li = arb_eval(lambda: ax.bessel_i(av).log(), min_bits=60 + 20)
    lie = arb_eval(lambda: ax.bessel_i(av, scaled=True).log())
    vr = max(float(v), 0.5)
    ratio = arb_eval(lambda: ax.bessel_i(arb(vr)) / ax.bessel_i(arb(vr) - 1))
    dx = arb_eval(lambda: ax.bessel_i(av + 1) / ax.bessel_i(av) + av / ax)
    return li, lie, ratio, dx


def sample(rng, n, dtype):
    R = R0[dtype]
    pts = {}
    lu = lambda lo, hi, m: 10 ** rng.uniform(np.log10(lo), np.log10(hi), m)
    pts["random_wide"] = (lu(1e-3, 1e5, n), lu(5e-324 if dtype == np.float64 else 1.5e-45,
                                                 1e300 if dtype == np.float64 else 3e38, n))
    pts["random_mid"] = (lu(1e-3, 1e5, n), lu(1e-3, 1e6, n))
    vs = np.concatenate([np.zeros(n // 8), np.full(n // 8, 1e-10), rng.integers(0, 60, n // 8).astype(float),
                         rng.integers(0, 60, n // 8) + 0.5])
    pts["special_v"] = (vs, lu(1e-3, 1e4, len(vs)))
    v = lu(1, 1e5, n)
    pts["turning"] = (v, v * (1 + rng.normal(0, 0.05, n)))
    v = lu(1, 1e5, n)
    pts["z0_line"] = (v, v * Z0 * (1 + rng.normal(0, 0.1, n)))
    band = 0.06 if dtype == np.float64 else 0.2
    v = lu(20, 1e5, n)
    pts["band_edge"] = (v, v * (Z0 + rng.choice([-1, 1], n) * band * (1 + rng.uniform(-0.02, 0.02, n))))
    th = rng.uniform(0, np.pi / 2, n)
    rr = R * (1 + rng.uniform(-0.01, 0.01, n))
    pts["series_edge"] = (rr * np.cos(th), rr * np.sin(th))
    rs = np.array(DEBYE_R if dtype == np.float64 else DEBYE_RF)
    rr = rng.choice(rs, n) * (1 + rng.uniform(-0.003, 0.003, n))
    th = rng.uniform(0, np.pi / 2, n)
    pts["debye_N_edges"] = (rr * np.cos(th), rr * np.sin(th))
    v = lu(0.5, 2e4, n)
    pts["cf_edge"] = (np.concatenate([v[: n // 2], lu(0.5, 60, n - n // 2)]),
                      np.concatenate([0.5 * v[: n // 2] * (1 + rng.uniform(-0.01, 0.01, n // 2)),
                                      R * (1 + rng.uniform(-0.01, 0.01, n - n // 2))]))
    pts["small_both"] = (lu(1e-10, 30, n), lu(1e-6, 30, n))
    big = 1e300 if dtype == np.float64 else 3e38
    tiny = 5e-324 if dtype == np.float64 else 1.4e-45
    pts["extremes"] = (np.array([0, 1e-10, 0.5, 1, 1e5, 2e4, 1e5, 0, 1e-10, 1e5, 3.5, 0.5, 1e5] * 2, float),
                       np.array([tiny, tiny, tiny, tiny, tiny, 1e-300 if dtype == np.float64 else 1e-38,
                                 big, big, big, 1e-20, 1e30, 1e10, 1e-8] * 2, float))
    out = {}
    for k, (a, b) in pts.items():
        a = np.asarray(a, dtype).astype(np.float64)
        b = np.asarray(b, dtype).astype(np.float64)
        b = np.where(b > 0, b, np.finfo(dtype).tiny * np.finfo(dtype).eps)
        out[k] = (np.abs(a), b)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for dtype in (np.float64, np.float32):
        cache = f"/tmp/dev_bessel_i_refs_{args.seed}_{args.n}_{np.dtype(dtype).name}.npz"
        if os.path.exists(cache):
            z = np.load(cache, allow_pickle=True)
            data = z["data"].item()
        else:
            rng = np.random.default_rng(args.seed)
            data = {}
            for k, (v, x) in sample(rng, args.n, dtype).items():
                R = np.array([refs(a, b) for a, b in zip(v, x)])
                data[k] = (v, x, R)
            np.savez(cache, data=np.array(data, dtype=object))
        print(f"=== {np.dtype(dtype).name}")
        fns = [("log_iv", core.log_iv, "abs1"), ("log_ive", core.log_ive, "abs1"),
               ("iv_ratio", core.iv_ratio, "rel"), ("log_iv_dx", core.log_iv_dx, "rel")]
        for k, (v, x, R) in data.items():
            line = f"{k:14s}"
            for j, (name, f, metric) in enumerate(fns):
                vv = np.maximum(v, 0.5) if name == "iv_ratio" else v
                got = f(vv.astype(dtype), x.astype(dtype)).astype(np.float64)
                t = R[:, j]
                with np.errstate(all="ignore"):
                    td = t.astype(dtype).astype(np.float64)
                # a true value that over/underflows the type: matching the rounded value is exact
                t = np.where(np.isfinite(td) & (td != 0), t, td)
                ok = np.isfinite(t)
                with np.errstate(all="ignore"):
                    if metric == "abs1":
                        err = np.abs(got - t) / np.maximum(1, np.abs(t))
                    else:
                        # results below the smallest normal carry only absolute precision
                        err = np.abs(got - t) / np.maximum(np.abs(t), np.finfo(dtype).tiny)
                    err = np.where(t == got, 0, err)
                err = np.where(ok, err, 0)
                bad = ok & ~np.isfinite(got)
                i = int(np.nanargmax(np.where(np.isnan(err), np.inf, err)))
                line += f" {name}={err[i]:.2e}@({vv[i]:.6g},{x[i]:.6g})"
                if bad.any():
                    line += f"[{bad.sum()} nonfinite]"
            print(line)


if __name__ == "__main__":
    main()
