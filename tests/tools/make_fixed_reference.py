#!/usr/bin/env python3
"""Arb reference values for the fixed-order Bessel functions i0, i0e, i1, i1e, k0, k0e, k1, k1e.

Writes tests/data/bessel_fixed_reference.npz with, per dtype (f64, f32):

  x_<dt>          the inputs (float32 inputs are float32 numbers, so the reference is exact for
                  what the float32 loops see), all > 0; odd/even symmetry is tested separately
  <name>_<dt>     the true value rounded to float64 (inf / 0 where it leaves float64's range)
  <name>_lo_<dt>  true value minus <name>_<dt>, rounded to float64 (0 where that is inf / 0), so
                  that float64 errors can be measured in fractions of an ulp
  group_<dt>      'loguniform', 'huge' or the name of the threshold a point was placed around

Points: log-uniform from 1e-300 (float32: 1e-45) up to 1e4, log-uniform on to 1e300
(float32: 3e38), and dense clusters (relative offsets down to a few ulps) around every place
where bessel_fixed.hpp switches form (x = 1, 4, 10; 12, an earlier choice; the split of exp
at 700 / 80) and where the unscaled values overflow or underflow.

Every value comes from an Arb ball of relative radius < 1e-30 (precision raised until it is;
some python-flint/Arb builds return a wide ball for K_0 at particular precisions). The
unscaled values are the scaled ones times exp(+-x) in Arb, so nothing is lost to under/overflow.

Usage:  python tests/tools/make_fixed_reference.py [--scale 1.0]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from flint import arb, ctx

SEED = 20261124
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "tests", "data", "bessel_fixed_reference.npz")
NAMES = ("i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e")

#: Where the implementation changes form, per dtype (name, x).
SPLITS = {
    "f64": [("x=1", 1.0), ("x=4", 4.0), ("x=10", 10.0), ("x=12", 12.0), ("exp split 700", 700.0),
            ("i overflow", 713.987), ("i1 overflow", 713.98), ("k underflow", 745.13),
            ("k subnormal", 705.0)],
    "f32": [("x=1", 1.0), ("x=4", 4.0), ("x=10", 10.0), ("x=12", 12.0), ("exp split 80", 80.0),
            ("i overflow", 91.9), ("k underflow", 103.9), ("k subnormal", 85.0)],
}
RANGE = {"f64": (1e-300, 1e300), "f32": (1e-45, 3e38)}


def _certified(fn):
    for prec in (128, 192, 256, 384, 512, 1024, 2048):
        ctx.prec = prec
        r = fn()
        if r.mid() != 0 and r.rad() < abs(r.mid()) * arb("1e-30"):
            return r
    raise ValueError("could not certify an Arb value")


def _to_float(r: arb) -> tuple[float, float]:
    """(hi, lo): hi = r rounded to float64, lo = (r - hi) rounded."""
    if not r.is_finite() or r.mid() == 0 or r.rad() > abs(r.mid()) * arb("1e-25"):
        raise ValueError(f"uncertified reference value {r}")
    hi = float(r.mid().str(40, radius=False))  # correctly rounded; 'e-400' -> 0, 'e+400' -> inf
    if hi == 0.0 or hi in (float("inf"), float("-inf")):
        return hi, 0.0
    ctx.prec = 256
    return hi, float((r - arb(hi)).mid().str(20, radius=False))


def reference(x: float) -> dict[str, tuple[float, float]]:
    """All eight functions at x > 0 (x exactly representable)."""
    ax = arb(float(x))  # exact: a double converts to a point ball
    out = {}
    for n in (0, 1):
        ie = _certified(lambda: ax.bessel_i(n, scaled=True))
        ke = _certified(lambda: ax.bessel_k(n, scaled=True))
        ctx.prec = 256
        ep, em = ax.exp(), (-ax).exp()
        out[f"i{n}e"], out[f"k{n}e"] = _to_float(ie), _to_float(ke)
        if x > 1000.0:  # e^x and e^-x leave any float range (Arb's balls turn unbounded there)
            out[f"i{n}"], out[f"k{n}"] = (float("inf"), 0.0), (0.0, 0.0)
        else:
            out[f"i{n}"], out[f"k{n}"] = _to_float(ie * ep), _to_float(ke * em)
    return out


def points(dt: str, scale: float, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    t = np.float64 if dt == "f64" else np.float32
    lo, hi = RANGE[dt]
    xs, groups = [], []

    def add(arr, group):
        arr = np.asarray(arr, dtype=np.float64).astype(t)
        arr = arr[np.isfinite(arr) & (arr > 0)]
        xs.extend(arr.tolist())
        groups.extend([group] * len(arr))

    n_lu = int(1500 * scale)
    add(10.0 ** rng.uniform(np.log10(lo), 4, n_lu), "loguniform")
    add(10.0 ** rng.uniform(4, np.log10(hi), int(200 * scale)), "huge")
    for name, s in SPLITS[dt]:
        c = t(s)
        near = [c]
        up = dn = c
        for _ in range(4):  # the nearest representable neighbours
            up, dn = np.nextafter(up, t(np.inf)), np.nextafter(dn, t(0))
            near += [up, dn]
        rel = 10.0 ** rng.uniform(-12 if dt == "f64" else -6, -1, int(80 * scale))
        near += list(s * (1 + rel)) + list(s * (1 - rel))
        add(near, name)
    x = np.array(xs, dtype=t)
    x, idx = np.unique(x, return_index=True)
    return x, [groups[i] for i in idx]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the number of points")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)
    data: dict[str, np.ndarray] = {}
    for dt in ("f64", "f32"):
        t0 = time.time()
        x, groups = points(dt, args.scale, rng)
        vals = {name: np.empty(len(x)) for name in NAMES}
        los = {name: np.empty(len(x)) for name in NAMES}
        for i, xi in enumerate(x):
            r = reference(float(xi))
            for name in NAMES:
                vals[name][i], los[name][i] = r[name]
        data[f"x_{dt}"] = x
        data[f"group_{dt}"] = np.array(groups)
        for name in NAMES:
            data[f"{name}_{dt}"] = vals[name]
            data[f"{name}_lo_{dt}"] = los[name]
        print(f"{dt}: {len(x)} points in {time.time() - t0:.0f} s")
    np.savez_compressed(args.out, **data)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
