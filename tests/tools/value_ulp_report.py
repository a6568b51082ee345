"""Report the ulp errors of iv/ive/kv/kve against the Arb reference tables, per group.

    PYTHONPATH=python python tests/tools/value_ulp_report.py [float64|float32]

Only representable (normal) reference values are counted.  Prints the max and the 99.9th
percentile ulp error and the worst point per (function, group), and per function over all groups
(max, p99.9, p99, median).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from fastspectral import special

DATA = Path(__file__).resolve().parents[1] / "data"


def main(dtype: str = "float64") -> None:
    d = np.load(DATA / f"bessel_reference_{dtype}.npz", allow_pickle=False)
    t = np.dtype(dtype)
    v, x, groups = d["v"].astype(t), d["x"].astype(t), d["group"]
    fi = np.finfo(t)
    print(f"{dtype}: ulp error = |got - ref| / spacing(ref) over normal reference values")
    print(f"{'function':8s} {'group':12s} {'n':>6s} {'max ulp':>10s} {'p99.9':>8s}  worst (v, x)")
    for name in ("iv", "ive", "kv", "kve"):
        ref = d[name]
        with np.errstate(all="ignore"):
            got = getattr(special, name)(v, x).astype(np.float64)
            ok = np.isfinite(ref) & (np.abs(ref) >= fi.tiny) & (np.abs(ref) <= fi.max)
            ulp = np.abs(got - ref) / np.spacing(np.abs(ref).astype(t)).astype(np.float64)
        u_all = np.where(np.isfinite(ulp[ok]), ulp[ok], np.inf)
        print(f"{name:8s} {'ALL':12s} {ok.sum():6d} {u_all.max():10.3g} {np.quantile(u_all, 0.999):8.3g}"
              f"  p99 {np.quantile(u_all, 0.99):.3g}, median {np.median(u_all):.3g}")
        for g in np.unique(groups):
            m = ok & (groups == g)
            if not m.any():
                continue
            u = np.where(np.isfinite(ulp[m]), ulp[m], np.inf)
            i = np.flatnonzero(m)[np.argmax(u)]
            print(f"{name:8s} {g:12s} {m.sum():6d} {u.max():10.3g} {np.quantile(u, 0.999):8.3g}"
                  f"  ({float(v[i]):.6g}, {float(x[i]):.6g})")


if __name__ == "__main__":
    main(*sys.argv[1:])
