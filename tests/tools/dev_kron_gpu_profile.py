"""Dev script (GPU machine): where kron_matvec's time goes on cupy arrays.

Prints (1) host time per call of kron_matvec and of its parts on a tiny problem (launch-bound),
(2) device time of each fused group vs a copy of the same bytes, (3) the GEMM-step variants for
large factors.  Run: python tests/tools/dev_kron_gpu_profile.py
"""
from __future__ import annotations

import math
import time

import cupy as cp
import numpy as np

import fastspectral.kron as K
from fastspectral._dispatch import get_cuda_module


def dev_time(fn, reps=20):
    fn()
    cp.cuda.Device().synchronize()
    ts = []
    for _ in range(reps):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(cp.cuda.get_elapsed_time(a, b) * 1e3)
    return float(np.median(ts))


def host_time(fn, reps=300):
    fn()
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    t1 = time.perf_counter()
    cp.cuda.Device().synchronize()
    return (t1 - t0) / reps * 1e6


rng = np.random.default_rng(0)
mod = get_cuda_module()
stream = cp.cuda.get_current_stream().ptr

print("== host overhead per call (us), 8^6 M=1 f64 ==")
fac = [cp.asarray(rng.standard_normal((8, 8))) for _ in range(6)]
x = cp.asarray(rng.standard_normal((1, 8 ** 6)))
out = cp.empty_like(x)
print(f"kron_matvec            {host_time(lambda: K.kron_matvec(fac, x)):8.1f}")
print(f"_normalize             {host_time(lambda: K._normalize(fac, x, 'kron_matvec')):8.1f}")
shapes = [(8, 8)] * 6
print(f"gpu_plan               {host_time(lambda: K.gpu_plan(shapes, [False] * 6, 8)):8.1f}")
xf = x.reshape(-1)
of = cp.empty(8 ** 6)
print(f"mod.kron_fused (3 fac) {host_time(lambda: mod.kron_fused(fac[3:], False, xf, of, 512, 1, stream)):8.1f}")
print(f"cp.empty               {host_time(lambda: cp.empty(8 ** 6)):8.1f}")
print(f"x.astype(copy=False)   {host_time(lambda: x.astype(x.dtype, copy=False)):8.1f}")
print(f"cp.ascontiguousarray   {host_time(lambda: cp.ascontiguousarray(x)):8.1f}")
print(f"copy of x (launch)     {host_time(lambda: x.copy()):8.1f}")

print("\n== fused groups: device us vs a copy of the same bytes ==")
for dt in (np.float64, np.float32):
    for label, n, d, M in [("8^6", 8, 6, 256), ("16^4", 16, 4, 256), ("32^3", 32, 3, 256),
                           ("(16x8)^4", None, 4, 256)]:
        shp = [(16, 8)] * 4 if n is None else [(n, n)] * d
        fac = [cp.asarray(rng.standard_normal(s).astype(dt)) for s in shp]
        N = math.prod(s[1] for s in shp)
        x = cp.asarray(rng.standard_normal((M, N)).astype(dt))
        steps = K.gpu_plan(shp, [False] * d, np.dtype(dt).itemsize)
        mod.kron_set_variant(0)
        t_v0 = dev_time(lambda: K.kron_matvec(fac, x))
        y0 = K.kron_matvec(fac, x)
        mod.kron_set_variant(1)
        t_all = dev_time(lambda: K.kron_matvec(fac, x))
        y1 = K.kron_matvec(fac, x)
        dv = float(cp.abs(y1 - y0).max() / cp.abs(y0).max())
        nbytes = x.nbytes + M * math.prod(s[0] for s in shp) * np.dtype(dt).itemsize
        src = cp.empty(nbytes // 2 // np.dtype(dt).itemsize, dtype=dt)
        dst = cp.empty_like(src)
        t_copy = dev_time(lambda: dst.__setitem__(Ellipsis, src))
        print(f"{label:9s} {np.dtype(dt).name:8s} M={M} steps={steps} blocked {t_all:8.1f} us, "
              f"per-element {t_v0:8.1f} us, one-pass copy {t_copy:7.1f} us "
              f"({t_copy / t_all:.2f} of bound), variants differ by {dv:.1e}")

print("\n== GEMM step variants (f64): Y(L,m,R) = A X(L,n,R) ==")
for n, L, R in [(128, 256, 128), (128, 16, 128), (128, 1, 128), (64, 256, 4096), (64, 16, 4096),
                (64, 4096, 64), (64, 1, 4096)]:
    A = cp.asarray(rng.standard_normal((n, n)))
    X = cp.asarray(rng.standard_normal((L, n, R)))
    v = {}
    v["matmul bcast"] = dev_time(lambda: cp.matmul(A, X))
    v["einsum"] = dev_time(lambda: cp.einsum("ij,ljr->lir", A, X))
    v["transpose-gemm"] = dev_time(lambda: cp.ascontiguousarray(
        (A @ X.transpose(1, 0, 2).reshape(n, L * R)).reshape(n, L, R).transpose(1, 0, 2)))
    if L <= 16:
        def loop():
            Y = cp.empty((L, n, R))
            for li in range(L):
                cp.matmul(A, X[li], out=Y[li])
            return Y
        v["loop 2-D"] = dev_time(loop)
    ref = cp.matmul(A, X)
    err = float(cp.abs(cp.einsum("ij,ljr->lir", A, X) - ref).max())
    print(f"n={n} L={L} R={R}: " + ", ".join(f"{k} {t:7.1f} us" for k, t in v.items()) +
          f"  (einsum-matmul diff {err:.1e})")
