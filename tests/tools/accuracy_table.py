"""Markdown table of the accuracy of fastspectral and scipy.special against the Arb
reference tables (tests/data), for the README.

    PYTHONPATH=python python tests/tools/accuracy_table.py

Logs: max |err| / max(1, |ref|).  Values: ulp error over normal reference values.  A SciPy
result of 0/inf/nan where the reference log is finite counts as 'bad' (not in the max).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.special as sc

from fastspectral import special

DATA = Path(__file__).resolve().parents[1] / "data"


def scipy_log(name: str, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return {"log_iv": lambda: np.log(sc.ive(v, x)) + x,
                "log_kv": lambda: np.log(sc.kve(v, x)) - x,
                "log_ive": lambda: np.log(sc.ive(v, x)),
                "log_kve": lambda: np.log(sc.kve(v, x))}[name]()


def main() -> None:
    rows = []
    for dtype in ("float64", "float32"):
        d = np.load(DATA / f"bessel_reference_{dtype}.npz")
        t = np.dtype(dtype)
        v, x = d["v"].astype(t), d["x"].astype(t)
        for name, field in (("log_iv", "logiv"), ("log_ive", "logive"), ("log_kv", "logkv"),
                            ("log_kve", "logkve")):
            ref = d[field]
            ok = np.isfinite(ref)
            scale = np.maximum(1.0, np.abs(ref[ok]))
            with np.errstate(all="ignore"):
                ours = getattr(special, name)(v, x).astype(np.float64)[ok]
                theirs = scipy_log(name, v, x).astype(np.float64)[ok]
            e_ours = np.abs(ours - ref[ok]) / scale
            good = np.isfinite(theirs)
            e_theirs = np.abs(theirs[good] - ref[ok][good]) / scale[good]
            rows.append((dtype, name, ok.sum(), e_ours.max(), np.count_nonzero(~np.isfinite(ours)),
                         e_theirs.max(), np.count_nonzero(~good)))
    print("| dtype | function | points | fastspectral max err | fastspectral non-finite "
          "| SciPy (log of ive/kve) max err | SciPy 0/inf/nan |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2g} | {r[4]} | {r[5]:.2g} | {r[6]} "
              f"({100 * r[6] / r[2]:.0f}%) |")


if __name__ == "__main__":
    main()
