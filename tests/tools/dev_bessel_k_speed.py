"""Per-region timing of fastspectral log_kv (dev aid).  OMP_NUM_THREADS=1 PYTHONPATH=python python3 ..."""
import time
import numpy as np
import scipy.special as sc
import fastspectral._core as core

rng = np.random.default_rng(2)
m = 200_000


def lu(lo, hi):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), m))


def t(f):
    ts = []
    for _ in range(5):
        a = time.perf_counter()
        f()
        ts.append(time.perf_counter() - a)
    return np.median(ts) / m * 1e9


cases = {
    "grid v[1e-3,1e5] x[1e-8,1e6]": (lu(1e-3, 1e5), lu(1e-8, 1e6)),
    "temme v<22 x<1.5": (rng.uniform(0, 22, m), lu(1e-8, 1.5)),
    "temme v<1 x<1.5": (rng.uniform(0, 1, m), lu(1e-8, 1.5)),
    "miller v<22 1.5<x<20": (rng.uniform(0, 22, m), rng.uniform(1.5, 20, m)),
    "debye r 22-64": (rng.uniform(0, 20, m), rng.uniform(22, 64, m)),
    "debye r 64-430": (lu(64, 430), lu(1e-3, 400)),
    "debye r 430-1e5": (lu(430, 1e5), lu(1e-8, 1e5)),
    "debye r > 1e5": (lu(1e5, 1e6), lu(1e-8, 1e6)),
}
for name, (v, x) in cases.items():
    print(f"{name:32s} kv {t(lambda: core.log_kv(v, x)):6.1f}  dx {t(lambda: core.log_kv_dx(v, x)):6.1f}"
          f"  f32 {t(lambda a=v.astype(np.float32), b=x.astype(np.float32): core.log_kv(a, b)):6.1f}"
          f"  scipy kve {t(lambda: sc.kve(v, x)):6.1f} ns")
