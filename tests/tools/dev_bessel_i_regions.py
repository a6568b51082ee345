"""Dev: where log_iv / log_ive / iv_ratio spend time on the bench grid (v log-uniform [1e-3,1e5],
x log-uniform [1e-8,1e6]).  Splits the points by region, times each subset (thread CPU time, best of
reps) and prints fraction of points, ns/point and contribution to the total ns/point.
Run: OMP_NUM_THREADS=1 PYTHONPATH=python python3 tests/tools/dev_bessel_i_regions.py [--f32]"""
import sys
import time

import numpy as np
import scipy.special as sp

import fastspectral._core as core

R0, Z0, BAND = 24.2, 0.6627434193491815, 0.06


def best(f, *a, reps=5):
    t = []
    for _ in range(reps):
        t0 = time.thread_time()
        f(*a)
        t.append(time.thread_time() - t0)
    return min(t)


dt = np.float32 if "--f32" in sys.argv else np.float64
rng = np.random.default_rng(0)
n = 1_000_000
v = 10 ** rng.uniform(-3, 5, n)
x = 10 ** rng.uniform(-8, 6, n)
r = np.hypot(v, x)
reg = {
    "series x<1e-3": (r < R0) & (x < 1e-3),
    "series x 1e-3..1": (r < R0) & (x >= 1e-3) & (x < 1),
    "series x 1..10": (r < R0) & (x >= 1) & (x < 10),
    "series x>=10": (r < R0) & (x >= 10),
    "band": (r >= R0) & (np.abs(x - Z0 * v) <= BAND * v),
    "debye x<1e-3 v": (r >= R0) & (np.abs(x - Z0 * v) > BAND * v) & (x < 1e-3 * v),
    "debye x<v": (r >= R0) & (np.abs(x - Z0 * v) > BAND * v) & (x >= 1e-3 * v) & (x < v),
    "debye x>=v, r<1e3": (r >= R0) & (x >= v) & (r < 1e3),
    "debye x>=v, r>=1e3": (r >= R0) & (x >= v) & (r >= 1e3),
}
vv, xx = v.astype(dt), x.astype(dt)
ts = best(sp.ive, v, x, reps=2)
print(f"scipy ive total {ts / n * 1e9:.1f} ns/pt")
for name in ["log_iv", "log_ive", "iv_ratio"]:
    f = getattr(core, name)
    vin = np.maximum(vv, 0.5) if name == "iv_ratio" else vv
    tot = best(f, vin, xx)
    print(f"--- {name} {np.dtype(dt).name}: total {tot / n * 1e9:.1f} ns/pt ({ts / tot:.2f}x scipy)")
    for k, m in reg.items():
        c = int(m.sum())
        a, b = np.ascontiguousarray(vin[m]), np.ascontiguousarray(xx[m])
        t = best(f, a, b)
        tsc = best(sp.ive, v[m], x[m], reps=1)
        print(f"{k:22s} {c / n:6.3f}  {t / c * 1e9:7.1f} ns/pt  contrib {t / n * 1e9:6.1f}   scipy {tsc / c * 1e9:6.1f}")
