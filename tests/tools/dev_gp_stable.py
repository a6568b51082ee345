"""Dev script: the advection (complex-path) preconditioner shift floor in gp.solver_nd.

Runs solve_nd on advection_2d(beta) on an n^2 grid (lambda_b = 500, tau held at 1e10, Q = 30
Student-t, one BLAS thread) once per value of _ModelND.shift_floor_rel (0 = the solver before
the floor; FLOOR:SWITCH also sets cg_switch) and prints error, wall time, U solves, CG steps in total and per U solve, status.

Usage: PYTHONPATH=python python3 tests/tools/dev_gp_stable.py BETA N MAX_ITER MAX_TIME FLOOR...
  e.g. ... dev_gp_stable.py 20 64 40 300 0 1e-6
"""
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from fastspectral.gp import problems as P
from fastspectral.gp import solver_nd as S


def main():
    beta, n = float(sys.argv[1]), int(sys.argv[2])
    max_iter, max_time = int(sys.argv[3]), float(sys.argv[4])
    orig_init = S._ModelND.__init__
    orig_solve = S._ModelND.solve_u
    for floor in sys.argv[5:]:
        runs = []

        fl, _, sw = floor.partition(":")

        def init(self, *a, fl=float(fl), sw=sw, **k):
            orig_init(self, *a, **k)
            self.shift_floor_rel = fl
            if sw:
                self.cg_switch = int(sw)

        def solve_u(self, *a, **k):
            U = orig_solve(self, *a, **k)
            runs.append(self.cg_iters)
            return U
        S._ModelND.__init__ = init
        S._ModelND.solve_u = solve_u
        try:
            with threadpool_limits(1), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                sol = S.solve_nd(P.advection_2d(beta), (n, n), max_iter=max_iter, lambda_b=500.0,
                                 learn_tau=False, max_time=max_time)
                dt = time.perf_counter() - t0
        finally:
            S._ModelND.__init__ = orig_init
            S._ModelND.solve_u = orig_solve
        errs = [r.get("error") for r in sol.history if "error" in r]
        print(f"floor {floor}: error {errs[-1] if errs else float('nan'):.3e} time {dt:.1f}s "
              f"outer {len(sol.history)} U solves {len(runs)} CG {sum(runs)} "
              f"(median {int(np.median(runs)) if runs else 0}, max {max(runs) if runs else 0}) "
              f"status {sol.status}", flush=True)


if __name__ == "__main__":
    main()
