"""Dev script: why the Gaussian-mixture kernel needs hundreds of PCG steps per U solve in 2-D.

Usage: PYTHONPATH=python python3 tests/tools/dev_gp_gm_modes.py count
         per grid n (poisson_2d(n / 4), the paper's 4 points per period): the number of modes
         where the Kronecker preconditioner P_0 = tau D (G_1 + s) kron (G_2 + s) D is below
         1, 1e2, 1e4, 1e6 on its diagonal (there H = I + tau D G D + ... is dominated by the
         identity that P_0 leaves out), and the PCG steps of one U solve (initial kernel).
       PYTHONPATH=python python3 tests/tools/dev_gp_gm_modes.py dense N THR
         dense eigenvalues of P^{-1} H on N^2 (N <= 64) for the solver's P and for two
         corrections on the modes with P_0 diagonal < THR: the identity added there exactly
         ("lowrank": P_0 + I_B + boundary) and a block split that replaces those modes' rows by
         the identity ("projector").

Everything at the initial kernel (Q = 30, the solver's initial envelope), tau_1 = tau_2 = 1e10,
lambda_b = 200, jitter 1e-6, one BLAS thread.
"""
import math
import sys
import time

import numpy as np
import scipy.linalg as sl
from threadpoolctl import threadpool_limits

from fastspectral.gp import problems as P
from fastspectral.gp.kernels import make_kernel
from fastspectral.gp.solver_nd import _ModelND
from fastspectral.kron import kron_mode_product

TAU = 1e10


def model(kind, n):
    p = P.poisson_2d(n / 4.0)
    axes = p.grid_axes((n, n))
    h = axes[0][1] - axes[0][0]
    ks = [make_kernel(kind, 30, min(p.freq_scale, 0.5 / h), log_a=min(0.0, math.log(0.05 / h)))
          for _ in range(2)]
    return _ModelND(p, axes, ks, 1e-6, 200.0, cg_maxiter=3000)


def p0_diagonal(m):
    fac = m.factors()
    D = fac["D"]
    s = (TAU * np.max(np.abs(D)) ** 2) ** -0.5
    g = [np.diag(fd["G"]) + s for fd in fac["f"]]
    return TAU * np.abs(D) ** 2 * np.outer(*g), s


def count():
    for n in (60, 100, 200, 400):
        for kind in ("student_t", "gaussian"):
            m = model(kind, n)
            d0, _ = p0_diagonal(m)
            t = time.perf_counter()
            m.solve_u(np.zeros(m.shape), TAU, TAU)
            print(f"{kind:9s} {n}^2: modes with P_0 diagonal < 1, 1e2, 1e4, 1e6: "
                  f"{[int((d0 < c).sum()) for c in (1, 1e2, 1e4, 1e6)]}; U solve "
                  f"{m.cg_iters} PCG steps, {time.perf_counter() - t:.1f} s", flush=True)


def dense(n, thr):
    m = model("gaussian", n)
    fac = m.factors()
    D, G, fx = fac["D"], [fd["G"] for fd in fac["f"]], fac["x"]
    wb = m.lambda_b * TAU
    eye = np.eye(m.M).reshape(m.M, n, n)

    def densify(fn):
        return np.stack([fn(e).ravel() for e in eye], 1)
    H = densify(lambda Y: Y + TAU * D * kron_mode_product(G, D * Y) + wb * m._bnd(Y, fx))
    Bb = densify(lambda Y: m._bnd(Y, fx))
    d0, s = p0_diagonal(m)
    Dv = D.ravel()
    # P_0 formed directly (inverting the solver's P_0^{-1} densely loses it to round-off)
    P0 = TAU * Dv[:, None] * np.kron(G[0] + s * np.eye(n), G[1] + s * np.eye(n)) * Dv[None, :]
    P0 = 0.5 * (P0 + P0.T)
    bad = (d0 < thr).ravel()
    good = ~bad

    def report(name, Pm):
        ev = sl.eigh(H, 0.5 * (Pm + Pm.T), eigvals_only=True)
        print(f"{name:10s} eigenvalues of P^-1 H {ev[0]:.3g} .. {ev[-1]:.3g}, "
              f"{int((ev > 10).sum())} above 10", flush=True)
    print(f"gaussian {n}^2: {int(bad.sum())} modes with P_0 diagonal < {thr:g}")
    report("solver", P0 + wb * Bb)
    low = P0.copy()
    low[bad, bad] += 1.0
    report("lowrank", low + wb * Bb)
    proj = np.zeros_like(P0)
    sch = P0[np.ix_(bad, good)]
    proj[np.ix_(good, good)] = P0[np.ix_(good, good)] - sch.T @ np.linalg.solve(
        P0[np.ix_(bad, bad)], sch)
    proj[bad, bad] = 1.0
    report("projector", proj + wb * Bb)


if __name__ == "__main__":
    with threadpool_limits(1):
        if sys.argv[1] == "count":
            count()
        else:
            dense(int(sys.argv[2]), float(sys.argv[3]))
