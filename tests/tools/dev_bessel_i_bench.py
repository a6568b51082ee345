"""Dev timing: fastspectral log_iv / log_ive / iv_ratio vs scipy.special.ive, 1e6 log-uniform points
(v in [1e-3, 1e5], x in [1e-8, 1e6]).  Run with OMP_NUM_THREADS=1 PYTHONPATH=python.  Thread CPU time (the dev box is shared)."""
import time

import numpy as np
import scipy.special as sp

import fastspectral._core as core


def best(f, *a, reps=3):
    t = []
    for _ in range(reps):
        t0 = time.thread_time()
        f(*a)
        t.append(time.thread_time() - t0)
    return min(t)


rng = np.random.default_rng(0)
n = 1_000_000
v = 10 ** rng.uniform(-3, 5, n)
x = 10 ** rng.uniform(-8, 6, n)
ts = best(sp.ive, v, x, reps=1)
print(f"scipy.special.ive        {ts / n * 1e9:7.1f} ns/elem")
for name in ["log_iv", "log_ive", "iv_ratio", "log_iv_dx"]:
    f = getattr(core, name)
    vv = np.maximum(v, 0.5) if name == "iv_ratio" else v
    t = best(f, vv, x)
    t32 = best(f, vv.astype(np.float32), x.astype(np.float32))
    print(f"{name:12s} f64 {t / n * 1e9:7.1f} ns/elem ({ts / t:5.1f}x scipy)   f32 {t32 / n * 1e9:7.1f} ns/elem")
