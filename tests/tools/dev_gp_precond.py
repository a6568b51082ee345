"""Dev script: Gauss-Newton preconditioner experiments for gp.solver_nd (one BLAS thread).

Usage: OPENBLAS_NUM_THREADS=1 PYTHONPATH=python python3 tests/tools/dev_gp_precond.py CMD ...
  theta OMEGA N OUT.npy   run solve_nd(max_iter=2) and save the learned theta
  usolve OMEGA N THETA.npy VARIANT...   one U solve at that theta per variant: GN steps, PCG steps,
                          final relative gradient, grid error, wall time
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastspectral.gp import problems as P
from fastspectral.gp import solver_nd as S


def model_for(omega, n, theta=None):
    p = P.allen_cahn_2d(omega)
    axes = p.grid_axes((n, n))
    h = axes[0][1] - axes[0][0]
    import math
    from fastspectral.gp.kernels import make_kernel
    fs = min(p.freq_scale, 0.5 / h)
    ks = [make_kernel("student_t", 30, fs, log_a=min(0.0, math.log(0.05 / h))) for _ in range(2)]
    m = S._ModelND(p, axes, ks, 1e-6, 200.0, 1e-10, 400)
    if theta is not None:
        m.set_theta(theta)
    ex = p.exact(*np.meshgrid(*axes, indexing="ij"))
    return m, ex


def main():
    cmd = sys.argv[1]
    omega, n = float(sys.argv[2]), int(sys.argv[3])
    with threadpool_limits(1):
        if cmd == "theta":
            p = P.allen_cahn_2d(omega)
            t0 = time.perf_counter()
            sol = S.solve_nd(p, (n, n), max_iter=2, learn_tau=False, verbose=True)
            print("time", time.perf_counter() - t0, sol.status)
            np.save(sys.argv[4], np.concatenate([k.theta for k in sol.kernels]))
            return
        if cmd == "big":
            # the paper's case: log every U solve (time, PCG steps, gradient, grid error)
            p = P.allen_cahn_2d(omega)
            ex = p.exact(*np.meshgrid(*p.grid_axes((n, n)), indexing="ij"))
            orig = S._ModelND.profiled
            t0 = time.perf_counter()

            def logged(self, theta, tau1, tau2, store):
                v, g = orig(self, theta, tau1, tau2, store)
                U = store["U"]
                err = np.linalg.norm(U - ex) / np.linalg.norm(ex)
                print(f"  t={time.perf_counter() - t0:.0f}s value={v:.4g} pcg={self.cg_iters} "
                      f"grad={self.cg_rel:.1e} best-U grid err={err:.3e}", flush=True)
                return v, g
            S._ModelND.profiled = logged
            sol = S.solve_nd(p, (n, n), max_iter=int(sys.argv[4]), lbfgs_steps=int(sys.argv[5]),
                             learn_tau=False, max_time=float(sys.argv[6]), verbose=True)
            print("time", time.perf_counter() - t0, sol.status, "error", sol.history[-1].get("error"),
                  flush=True)
            return
        if cmd == "full":
            # full solve_nd per variant (gn_shift patched on the class): error, time, CG steps
            maxit = int(sys.argv[4])
            for var in sys.argv[5:]:
                kind, _, arg = var.partition(":")
                orig = S._ModelND.gn_shift
                orig_init = S._ModelND.__init__

                def init(self, *a, var=var, **k):
                    orig_init(self, *a, **k)
                    if var == "old":
                        self.gn_flip, self.gn_adapt = True, 0
                    elif var == "new":
                        self.gn_adapt = 0
                S._ModelND.__init__ = init
                if kind == "shift":
                    S._ModelND.gn_shift = lambda self, dn, arg=arg: float(eval(arg, {"np": np, "dn": dn}))
                t0 = time.perf_counter()
                sol = S.solve_nd(P.allen_cahn_2d(omega), (n, n), max_iter=maxit, learn_tau=False,
                                 max_time=float(sys.argv[0] and 600))
                dt = time.perf_counter() - t0
                S._ModelND.gn_shift = orig
                S._ModelND.__init__ = orig_init
                h = sol.history[-1]
                print(f"{var:>14s}: err {[round(r.get('error', np.nan), 8) for r in sol.history]} "
                      f"cg {h['cg_iterations']} nfev {h['nfev']} time {dt:.1f}s {sol.status}", flush=True)
            return
        theta = None if sys.argv[4] == "init" else np.load(sys.argv[4])
        for var in sys.argv[5:]:
            m, ex = model_for(omega, n, theta)
            apply_variant(m, var)
            m.factors()
            t0 = time.perf_counter()
            U = m.solve_u(np.zeros(m.shape), 1e10, 1e10)
            dt = time.perf_counter() - t0
            err = np.linalg.norm(U.real - ex) / np.linalg.norm(ex)
            print(f"{var:>14s}: pcg {m.cg_iters:6d} runs {getattr(m, 'nruns', -1):4d} "
                  f"grad {m.cg_rel:.2e} err {err:.2e} time {dt:.1f}s", flush=True)


def apply_variant(m, var):
    """var = 'base' | 'shift:<expr of dn>' | ..."""
    m.nruns = 0
    orig_pcg = S._pcg

    def counting_pcg(*a, **k):
        m.nruns += 1
        return orig_pcg(*a, **k)
    S._pcg = counting_pcg
    if var == "base":       # the solver's default (adaptive sign)
        return
    if var == "old":        # mean(N'(U)), the shift before this change
        m.gn_flip, m.gn_adapt = True, 0
        return
    if var == "new":        # opposite-sign RMS shift, never switched
        m.gn_adapt = 0
        return
    kind, _, arg = var.partition(":")
    if kind == "shift":
        m.gn_shift = lambda dn: float(eval(arg, {"np": np, "dn": dn}))


if __name__ == "__main__":
    main()
