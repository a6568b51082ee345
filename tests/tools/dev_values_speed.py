"""Per-region timing of the direct values ive/kve (dev aid).

OMP_NUM_THREADS=1 PYTHONPATH=python python3 tests/tools/dev_values_speed.py [reps]
Medians of repeats, fastspectral and scipy timed interleaved in the same process (the machine is
shared and noisy: compare ratios, not absolute ns across runs).
"""
import sys
import time

import numpy as np
import scipy.special as sc

import fastspectral._core as core

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
rng = np.random.default_rng(2)
m = 200_000


def lu(lo, hi, n=m):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def timeit(fns):
    ts = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            a = time.perf_counter()
            f()
            ts[i].append(time.perf_counter() - a)
    return [np.median(t) / m * 1e9 for t in ts]


gv, gx = 10.0 ** rng.uniform(-3, 5, m), 10.0 ** rng.uniform(-8, 6, m)
cases = {"grid v[1e-3,1e5] x[1e-8,1e6]": (gv, gx)}
# the grid's points in the I power-series region of bessel_values.hpp, tiled to m
sel = (np.hypot(gv, gx) < 22) | ((gx <= 2) & (gv <= 150))
cases["grid, series region only"] = (np.resize(gv[sel], m), np.resize(gx[sel], m))
for p in (512, 2048, 8192, 32768):
    cases[f"vmf-p{p}"] = (np.full(m, p / 2 - 1), lu(p / 20, 20 * p))
cases.update({
    "series r<22": (rng.uniform(0, 20, m), rng.uniform(0.01, 10, m)),
    "series v<7 x<1e-2": (lu(1e-3, 7), lu(1e-8, 1e-2)),
    "series v[7,22] x[1e-2,8]": (lu(7, 21), lu(1e-2, 8)),
    "series v[22,150] x<2": (lu(22, 150), lu(1e-8, 2)),
    "debye turning x~v": (lu(22, 1e5), lu(22, 1e5) * 0 + 1) ,
})
v, _ = cases.pop("debye turning x~v")
cases["debye x~v"] = (v, v * rng.uniform(0.5, 2, m))
cases["debye x<<v"] = (lu(100, 1e5), lu(1e-3, 10))
cases["debye x>>v (plain)"] = (lu(1e-3, 10), lu(100, 1e6))

print(f"{'set':30s} {'ive':>6s} {'sc.ive':>7s} {'ratio':>6s} | {'kve':>6s} {'sc.kve':>7s} {'ratio':>6s}")
for name, (v, x) in cases.items():
    a, b, c, d = timeit([lambda: core.ive(v, x), lambda: sc.ive(v, x),
                         lambda: core.kve(v, x), lambda: sc.kve(v, x)])
    print(f"{name:30s} {a:6.1f} {b:7.1f} {b / a:6.2f} | {c:6.1f} {d:7.1f} {d / c:6.2f}")
