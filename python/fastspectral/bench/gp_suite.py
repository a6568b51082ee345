"""Benchmark suite for fastspectral.gp: the GP-HM solver on the paper's 1-D and 2-D problems,
2-D advection and a 3-D Poisson problem.

For each problem, "ours" is ``gp.solve`` (Student-t or Gaussian mixture, Q = 30, the paper's
grid) and "theirs" a peer on the same grid: a second-order finite-difference solve (Newton for
Allen-Cahn) or a GP with a plain SE / Matern-5/2 kernel.  Metrics: the relative L2 error of
both on 300 evenly spaced points (the paper's metric; finite differences are interpolated
linearly), and the error the paper's authors logged after 1e5 Adam steps (~20-40 minutes on a
GPU).  ``--quick`` uses sin(20x) on 100 points in 1-D and sin(10x) sin(10y) on 60^2 in 2-D.

2-D Allen-Cahn runs at the paper's omega = 100 on 400^2 with one outer iteration of 10 L-BFGS
steps (~5 minutes; solver_nd's Gauss-Newton shift made it feasible).
2-D advection u_t + beta u_x = 0 runs at the paper's beta = 200 on 200^2 (lambda_b = 500;
~5 minutes; no published error for it; beta = 50 on 128^2 ends 'stalled' at 4.0e-4, see
solver_nd); its finite-difference peer is implicit first-order upwind.  advdiff2d: the damped
travelling wave u_t + beta u_x - nu u_xx = 0 (gp.advection_diffusion_2d, nu = 0.05, k = 2),
beta = 20 on 64^2 (a mixed-order dimension, see solver_nd); peer: implicit Euler with upwind
advection and central diffusion.  aniso2d: u_xx + 0.6 u_xy + 0.8 u_yy = f with
sin(20x) sin(20y) on [0, 2 pi]^2, 120^2 (a mixed derivative; gp.anisotropic_poisson_2d); peer:
second-order central differences (four-point u_xy).  poisson3d:
sin(6x) sin(6y) sin(6z) on [0, 1]^3, 16^3 (--quick: omega 3, 8^3), errors on 100^3 points,
7-point finite differences; no published figure for either.

Every harness case is single-shot (``Case.max_repeats = 1``): one timed solve per side, whose
results also give the errors; a solve takes seconds to minutes, so warm-up and repeated calls
would multiply the run time, and its wall time is far above the timer noise.

``run_standalone()`` solves each problem once and prints error and wall time:
``OPENBLAS_NUM_THREADS=1 python -m fastspectral.bench.gp_suite`` (one BLAS thread: on a shared
2-core machine threaded BLAS on 400 x 400 matrices was 5-10x slower).
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ._harness import Case, Prepared

NAME = "gp"
DESCRIPTION = ("GP-HM PDE solver (1D Poisson / Allen-Cahn, 2D Poisson / Allen-Cahn / advection / "
               "advection-diffusion / anisotropic, 3D Poisson) vs finite differences, SE/Matern GPs")
NOTE = ("Errors: relative L2 on 300 points. Published GP-HM (Fang et al. 2024, Adam 1e5 steps, "
        "GPU): Poisson 6.5e-7 (StM) / 4.0e-7 (GM), Allen-Cahn 4.9e-6 / 7.7e-7; 2D Poisson 400^2 "
        "6.9e-5 / 6.5e-5 (1.5-2.3 h). 2D: the paper's finite-precision objective with tau held at "
        "1e10, U by preconditioned CG; 2D Allen-Cahn 400^2 5.7e-3 / 2.6e-3 (4.5-5 h).")

PUBLISHED = {("poisson", "student_t"): 6.5e-7, ("poisson", "gaussian"): 4.0e-7,
             ("allen_cahn", "student_t"): 4.9e-6, ("allen_cahn", "gaussian"): 7.7e-7,
             ("poisson2d", "student_t"): 6.9e-5, ("poisson2d", "gaussian"): 6.5e-5,
             ("allen_cahn2d", "student_t"): 5.7e-3, ("allen_cahn2d", "gaussian"): 2.6e-3}


def _problem(kind: str, omega: float):
    from fastspectral import gp
    if kind == "poisson3d":
        # one to two periods per dimension on [0, 1]^3: 3-D grids stay small (the capacitance
        # matrix of the preconditioner costs ~N_b mode-product chains per hyperparameter trial)
        return gp.poisson_3d(omega, (0.0, 1.0))
    return {"poisson": gp.poisson_1d, "allen_cahn": gp.allen_cahn_1d,
            "poisson2d": gp.poisson_2d, "allen_cahn2d": gp.allen_cahn_2d,
            "advection2d": gp.advection_2d,
            "advdiff2d": lambda b: gp.advection_diffusion_2d(b, ADVDIFF_NU, ADVDIFF_K),
            "aniso2d": gp.anisotropic_poisson_2d}[kind](omega)


# advdiff2d: u_t + beta u_x - nu u_xx = 0, u = exp(-nu k^2 t) sin(k (x - beta t)) (nu k^2 = 0.2:
# the wave loses 18 % of its amplitude over the time interval)
ADVDIFF_NU, ADVDIFF_K = 0.05, 2.0


def _gp_kwargs(kind: str, n: int = 0) -> dict:
    if kind == "advection2d":
        return {"lambda_b": 500.0}  # the paper's boundary weight for advection
    if kind == "advdiff2d":
        # ~1000 CG steps per U solve at learned hyperparameters on 64^2 (as for advection): three
        # outer iterations (~4 minutes), one on the --quick grid, and a time cap for the SE and
        # Matern peers (SE took 97 s for three on 24^2)
        return {"lambda_b": 500.0, "max_iter": 3 if n >= 32 else 1, "max_time": 300.0}
    if kind == "aniso2d":
        # hundreds to thousands of CG steps per U solve (the preconditioner leaves u_xy out):
        # three outer iterations (the error settles; 40 took 47 s on the 16^2 --quick grid)
        return {"max_iter": 3, "max_time": 300.0}
    if kind == "allen_cahn2d" and n >= 200:
        # one outer iteration of 10 L-BFGS steps: ~5 minutes at 400^2 (3.67e-3 measured; three
        # outer iterations gave 3.8e-3 in 750 s, see solver_nd)
        return {"max_iter": 1, "lbfgs_steps": 10}
    return {}


def _transport_setup(problem, n: int, who: str):
    """Shared set-up of the transport peers (u_t + beta u_x - nu u_xx = 0, dimension 0 is x,
    1 is t): axes, beta, nu, steps, the boundary data on the grid B and the solution array U
    with its initial line t = lo filled in."""
    axes = problem.grid_axes([n, n])
    ct = problem.operator[(0, 1)]
    beta = problem.operator[(1, 0)] / ct
    nu = -problem.operator.get((2, 0), 0.0) / ct
    if beta <= 0 or nu < 0:
        raise ValueError(f"{who} expects a positive advection speed and nu >= 0")
    hx, ht = axes[0][1] - axes[0][0], axes[1][1] - axes[1][0]
    B = np.zeros((n, n))
    B[problem.boundary_mask((n, n))] = problem.boundary_on(axes)
    U = np.zeros((n, n))
    U[:, 0] = B[:, 0]
    return axes, beta, nu, hx, ht, B, U


def fd_advection(problem, n: int):
    """Implicit first-order upwind for u_t + beta u_x = 0 (beta > 0; dimension 0 is x, 1 is t)
    on the n x n grid: inflow data at x = lo and the initial line t = lo from the boundary
    data, one forward substitution per time step (unconditionally stable, first order)."""
    axes, beta, nu, hx, ht, B, U = _transport_setup(problem, n, "fd_advection")
    c = beta * ht / hx
    for k in range(1, n):
        U[0, k] = B[0, k]
        for i in range(1, n):
            U[i, k] = (U[i, k - 1] + c * U[i - 1, k]) / (1.0 + c)
    return axes, U


def fd_advection_diffusion(problem, n: int):
    """Implicit Euler in t with first-order upwind advection and central diffusion in x for
    u_t + beta u_x - nu u_xx = 0 (beta > 0; dimension 0 is x, 1 is t) on the n x n grid:
    Dirichlet data at both x ends, the initial line from the boundary data, one tridiagonal
    solve per time step (unconditionally stable; first order in t and in the advection)."""
    from scipy.linalg import solve_banded
    axes, beta, nu, hx, ht, B, U = _transport_setup(problem, n, "fd_advection_diffusion")
    a, dd = beta * ht / hx, nu * ht / hx ** 2
    m = n - 2   # interior x nodes: row i: -(a + dd) u_{i-1} + (1 + a + 2 dd) u_i - dd u_{i+1}
    ab = np.zeros((3, m))
    ab[0, 1:] = -dd
    ab[1, :] = 1.0 + a + 2 * dd
    ab[2, :-1] = -(a + dd)
    for k in range(1, n):
        U[0, k], U[-1, k] = B[0, k], B[-1, k]
        rhs = U[1:-1, k - 1].copy()
        rhs[0] += (a + dd) * U[0, k]
        rhs[-1] += dd * U[-1, k]
        U[1:-1, k] = solve_banded((1, 1), ab, rhs)
    return axes, U


def fd_solve_nd(problem, n: int):
    """Second-order central differences for a linear sum_d c_d u_{x_d x_d} + c_0 u = f on the
    n^d grid (d >= 3), Dirichlet data, sparse LU."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    d = problem.ndim
    axes = problem.grid_axes([n] * d)
    F = problem.source_on(axes)
    mask = problem.boundary_mask((n,) * d)
    U = np.zeros((n,) * d)
    U[mask] = problem.boundary_on(axes)
    m = n - 2
    L = sp.csr_matrix((m ** d, m ** d))
    rhs = F[(slice(1, -1),) * d].copy()
    for ax in range(d):
        c = problem.operator.get(tuple(2 if i == ax else 0 for i in range(d)), 0.0)
        if not c:
            continue
        h = axes[ax][1] - axes[ax][0]
        T = c * sp.diags([np.ones(m - 1), -2 * np.ones(m), np.ones(m - 1)], [-1, 0, 1]) / h ** 2
        mats = [T if i == ax else sp.identity(m) for i in range(d)]
        K = mats[0]
        for M_ in mats[1:]:
            K = sp.kron(K, M_)
        L = L + K
        # boundary neighbours move to the right-hand side
        for end, inner in ((0, 0), (-1, -1)):
            idx = [slice(1, -1)] * d
            idx[ax] = end
            sl = [slice(None)] * d
            sl[ax] = inner
            rhs[tuple(sl)] -= c * U[tuple(idx)] / h ** 2
    L = L + problem.operator.get((0,) * d, 0.0) * sp.identity(m ** d)
    U[(slice(1, -1),) * d] = spl.spsolve(L.tocsc(), rhs.ravel()).reshape((m,) * d)
    return axes, U


def fd_solve_2d(problem, n: int, newton_steps: int = 30):
    """Five-point Laplacian (u_xx + u_yy + N(u) = f) on the n x n grid, Dirichlet data, sparse LU
    (Newton if nonlinear)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    axes = problem.grid_axes([n, n])
    h = axes[0][1] - axes[0][0]
    F = problem.source_on(axes)
    mask = problem.boundary_mask((n, n))
    U = np.zeros((n, n))
    U[mask] = problem.boundary_on(axes)
    m = n - 2
    T = sp.diags([np.ones(m - 1), -2 * np.ones(m), np.ones(m - 1)], [-1, 0, 1]) / h**2
    L = sp.kron(T, sp.identity(m)) + sp.kron(sp.identity(m), T)
    B = F[1:-1, 1:-1].copy()
    B[0, :] -= U[0, 1:-1] / h**2
    B[-1, :] -= U[-1, 1:-1] / h**2
    B[:, 0] -= U[1:-1, 0] / h**2
    B[:, -1] -= U[1:-1, -1] / h**2
    b = B.ravel()
    u = spl.spsolve(L.tocsc(), b)
    if problem.nonlinearity is not None:
        for _ in range(newton_steps):
            r = L @ u + problem.nonlinearity(u) - b
            du = spl.spsolve((L + sp.diags(problem.dnonlinearity(u))).tocsc(), r)
            u = u - du
            if np.max(np.abs(du)) <= 1e-14 * max(1.0, np.max(np.abs(u))):
                break
    U[1:-1, 1:-1] = u.reshape(m, m)
    return axes, U


def fd_solve_general_2d(problem, n: int):
    """Second-order central differences for any linear constant-coefficient operator with
    orders <= 2 per dimension on the n x n grid (u_xy by the four-point formula, the Kronecker
    product of the first-difference matrices), Dirichlet rows on the boundary, sparse LU."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    if problem.nonlinearity is not None:
        raise ValueError("fd_solve_general_2d is for linear problems")
    axes = problem.grid_axes([n, n])
    d1, d2 = [], []
    for x in axes:
        h = x[1] - x[0]
        d1.append(sp.diags([-np.ones(n - 1), np.ones(n - 1)], [-1, 1]) / (2 * h))
        d2.append(sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1]) / h ** 2)
    eye = sp.identity(n)
    ops = {(0, 0): sp.identity(n * n), (1, 0): sp.kron(d1[0], eye), (0, 1): sp.kron(eye, d1[1]),
           (2, 0): sp.kron(d2[0], eye), (0, 2): sp.kron(eye, d2[1]), (1, 1): sp.kron(d1[0], d1[1])}
    unsupported = set(problem.operator) - set(ops)
    if unsupported:
        raise ValueError(f"fd_solve_general_2d: unsupported terms {sorted(unsupported)}")
    L = sum(c * ops[k] for k, c in problem.operator.items()).tolil()
    rhs = problem.source_on(axes).ravel().copy()
    bidx = np.flatnonzero(problem.boundary_mask((n, n)))
    L[bidx, :] = 0.0
    L[bidx, bidx] = 1.0
    rhs[bidx] = problem.boundary_on(axes)
    return axes, spl.spsolve(L.tocsc(), rhs).reshape(n, n)


def fd_solve(problem, n: int, newton_steps: int = 30):
    """Second-order central differences for u'' + N(u) = f on the grid (Newton if nonlinear)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    x = problem.grid_axes([n])[0]
    h = x[1] - x[0]
    f = problem.source_on([x])
    g = problem.boundary_on([x])
    m = n - 2
    c = problem.operator.get((2,), 0.0)
    L = c * sp.diags([np.ones(m - 1), -2 * np.ones(m), np.ones(m - 1)], [-1, 0, 1]) / h**2
    b = f[1:-1].copy()
    b[0] -= c * g[0] / h**2
    b[-1] -= c * g[-1] / h**2
    u = spl.spsolve(L.tocsc(), b)
    if problem.nonlinearity is not None:
        for _ in range(newton_steps):
            r = L @ u + problem.nonlinearity(u) - b
            J = (L + sp.diags(problem.dnonlinearity(u))).tocsc()
            du = spl.spsolve(J, r)
            u = u - du
            if np.max(np.abs(du)) <= 1e-14 * max(1.0, np.max(np.abs(u))):
                break
    return x, np.concatenate([[g[0]], u, [g[-1]]])


def _npts(problem) -> int:
    """Error points per dimension: the paper's 300, but 100 in 3-D (10^6 points)."""
    return 300 if problem.ndim <= 2 else 100


def _rel_err(problem, values_at_300):
    xs = [np.linspace(lo, hi, _npts(problem)) for lo, hi in problem.domain]
    ue = problem.exact(*np.meshgrid(*xs, indexing="ij"))
    return float(np.linalg.norm(values_at_300 - ue) / np.linalg.norm(ue))


def _fd_err(problem, n):
    if problem.ndim == 1:
        x, u = fd_solve(problem, n)
        return _rel_err(problem, np.interp(np.linspace(*problem.domain[0], 300), x, u))
    from scipy.interpolate import RegularGridInterpolator
    axes, U = _fd(problem, n)
    xs = [np.linspace(lo, hi, _npts(problem)) for lo, hi in problem.domain]
    P = np.stack(np.meshgrid(*xs, indexing="ij"), -1)
    return _rel_err(problem, RegularGridInterpolator(axes, U)(P))


def _fd(problem, n):
    if problem.ndim == 1:
        return fd_solve(problem, n)
    if problem.ndim == 2 and (1, 1) in problem.operator:
        return fd_solve_general_2d(problem, n)
    if problem.ndim == 2 and (1, 0) in problem.operator:
        if (2, 0) in problem.operator:
            return fd_advection_diffusion(problem, n)
        return fd_advection(problem, n)
    return fd_solve_2d(problem, n) if problem.ndim == 2 else fd_solve_nd(problem, n)


def _gp_run(problem, n, kernel, **kw):
    from fastspectral import gp
    if problem.ndim == 2 and not problem.is_linear:
        # each Gauss-Newton U solve is CG-bound: few outer iterations (the error settles within 5)
        kw.setdefault("max_iter", 5)
    if problem.ndim >= 3:
        # every hyperparameter trial builds the d-D capacitance matrix (~N_b mode-product
        # chains): 3 outer iterations (poisson_3d(3) on 10^3 gave 1.3e-4 after 5 in 93 s, the
        # error settled after the first)
        kw.setdefault("max_iter", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gp.GPSolverWarning)
        return gp.solve(problem, n, kernel=kernel, track_error=False, **kw)


def _case(kind: str, omega: float, n: int, kernel: str, peer: str) -> Case:
    def prepare() -> Prepared:
        problem = _problem(kind, omega)
        xs = [np.linspace(lo, hi, _npts(problem)) for lo, hi in problem.domain]

        def ours():
            return _gp_run(problem, n, kernel, **_gp_kwargs(kind, n))

        if peer == "fd":
            def theirs():
                return _fd(problem, n)
        else:
            def theirs():
                return _gp_run(problem, n, peer, **_gp_kwargs(kind, n))

        def metrics(a: Any, b: Any) -> dict[str, float]:
            err_b = (_fd_err(problem, n) if peer == "fd"
                     else _rel_err(problem, b.predict_grid(*xs)))
            out = {"error": _rel_err(problem, a.predict_grid(*xs)), "peer_error": err_b,
                   "outer_iterations": float(a.n_iter)}
            if (kind, kernel) in PUBLISHED and omega == 100.0 and n == 400:
                out["published_error"] = PUBLISHED[(kind, kernel)]
            return out

        return Prepared(ours=ours, theirs=theirs, metrics=metrics)

    if peer != "fd":
        competitor = f"GP, plain {peer} kernel"
    elif kind in ("advection2d", "advdiff2d"):
        competitor = "finite differences (implicit upwind, 1st order)"
    else:
        competitor = "finite differences (2nd order)"
    label = f"beta{omega:g}" if kind in ("advection2d", "advdiff2d") else f"sin{omega:g}x"
    return Case(suite=NAME, kernel=f"gp-hm-{kernel}", competitor=competitor,
                input=f"{kind}-{label}-n{n}", n=n, dtype="f64", threads=None,
                competitor_threads=None, prepare=prepare, max_repeats=1,
                params={"problem": kind, "omega": omega, "grid": n, "kernel": kernel})


# (omega, grid) per problem: the paper's settings, and the --quick ones.  advection2d: (beta,
# grid).  poisson3d: sin(omega x) sin(omega y) sin(omega z) on [0, 1]^3.
FULL = {"poisson": (100.0, 400), "allen_cahn": (100.0, 400), "poisson2d": (100.0, 400),
        "allen_cahn2d": (100.0, 400), "advection2d": (200.0, 200), "advdiff2d": (20.0, 64),
        "aniso2d": (20.0, 120), "poisson3d": (6.0, 16)}
QUICK = {"poisson": (20.0, 100), "allen_cahn": (20.0, 100), "poisson2d": (10.0, 60),
         "allen_cahn2d": (5.0, 24), "advection2d": (5.0, 24), "advdiff2d": (5.0, 24),
         "aniso2d": (3.0, 16), "poisson3d": (3.0, 8)}
KINDS = ("poisson", "allen_cahn", "poisson2d", "allen_cahn2d", "advection2d", "advdiff2d",
         "aniso2d", "poisson3d")


def _gpu_case(kind: str, omega: float, n: int) -> Case:
    """The same solve with the problem's source on the GPU (cupy: every grid-sized array of the
    d >= 2 solver on the device, see gp.solver_nd "Devices") against the CPU solve.  The
    source is a grid array, so both sides solve the identical problem; the error of both is
    reported (they differ by round-off amplified through L-BFGS)."""
    def prepare() -> Prepared:
        import cupy

        from fastspectral import gp

        base = _problem(kind, omega)
        axes = base.grid_axes([n] * base.ndim)
        F = base.source_on(axes)
        mk = lambda src: gp.Problem(base.domain, base.operator, src, base.boundary,
                                    nonlinearity=base.nonlinearity, dnonlinearity=base.dnonlinearity,
                                    exact=base.exact, freq_scale=base.freq_scale, name=base.name)
        p_cpu, p_gpu = mk(F), mk(cupy.asarray(F))
        xs = [np.linspace(lo, hi, _npts(base)) for lo, hi in base.domain]

        def ours():
            sol = _gp_run(p_gpu, n, "student_t", **_gp_kwargs(kind, n))
            cupy.cuda.Stream.null.synchronize()
            return sol

        def metrics(a: Any, b: Any) -> dict[str, float]:
            return {"error": _rel_err(base, a.predict_grid(*xs)),
                    "peer_error": _rel_err(base, b.predict_grid(*xs)),
                    "outer_iterations": float(a.n_iter)}

        return Prepared(ours=ours, theirs=lambda: _gp_run(p_cpu, n, "student_t", **_gp_kwargs(kind, n)),
                        metrics=metrics)

    label = f"beta{omega:g}" if kind in ("advection2d", "advdiff2d") else f"sin{omega:g}x"
    return Case(suite=NAME, kernel="gp-hm-student_t", competitor="the same solve on the CPU",
                input=f"{kind}-{label}-n{n}", n=n, dtype="f64", threads=None,
                competitor_threads=None, prepare=prepare, device="gpu", competitor_device="cpu",
                max_repeats=1, params={"problem": kind, "omega": omega, "grid": n})


# GPU cases (problem, omega, grid): full and --quick
GPU_FULL = (("poisson2d", 100.0, 400), ("advection2d", 200.0, 200))
GPU_QUICK = (("poisson2d", 10.0, 60), ("advection2d", 5.0, 24))


def cases(config) -> list[Case]:
    out: list[Case] = []
    if config.device in ("gpu", "all"):
        from ._harness import gpu_available
        if gpu_available():
            out += [_gpu_case(*c) for c in (GPU_QUICK if config.quick else GPU_FULL)]
    if config.device == "gpu":
        return out
    size = QUICK if config.quick else FULL
    out += [_case(kind, *size[kind], "student_t", "fd") for kind in KINDS]
    if not config.quick:
        om, n = size["poisson"]
        out += [_case("poisson", om, n, "gaussian", "fd"),
                _case("poisson", om, n, "student_t", "se"),
                _case("poisson", om, n, "student_t", "matern52")]
        # (advdiff2d's SE / Matern peers run in run_standalone only: the SE GP alone takes its
        # whole 300 s time limit there)
        for kind in ("poisson2d", "advection2d", "aniso2d", "poisson3d"):
            om, n = size[kind]
            out += [_case(kind, om, n, "student_t", "se"),
                    _case(kind, om, n, "student_t", "matern52")]
    return out


def run_standalone(quick: bool = False, kinds=KINDS, methods=None) -> list[dict]:
    """Solve each problem once per method; print and return error and wall time.

    methods defaults to all in 1-D; in 2-D the Gaussian mixture is left out of the full run
    (poisson_2d(100) on 400^2: 1.1e-4 in 244 s since its U solves drop the warm start on the
    kernel's null modes, see solver_nd._ModelND._drop_weak_modes; before, 3.8e-3 after one
    outer iteration in 731 s; the paper: 6.5e-5; on the other 2-D problems it has not been
    measured at full size)."""
    size = QUICK if quick else FULL
    rows = []
    for kind in kinds:
        omega, n = size[kind]
        problem = _problem(kind, omega)
        if methods is None:
            use = (("student_t", "gaussian", "se", "matern52", "fd") if problem.ndim == 1 or quick
                   else ("student_t", "se", "matern52", "fd"))
        else:
            use = methods
        xs = [np.linspace(lo, hi, _npts(problem)) for lo, hi in problem.domain]
        for method in use:
            t0 = time.perf_counter()
            if method == "fd":
                err = _fd_err(problem, n)
                status = "direct"
            else:
                sol = _gp_run(problem, n, method, **_gp_kwargs(kind, n))
                err = _rel_err(problem, sol.predict_grid(*xs))
                status = f"{sol.status}/{sol.n_iter} it"
            dt = time.perf_counter() - t0
            paper = (omega, n) == (100.0, 400)
            row = {"problem": kind, "omega": omega, "grid": n, "method": method, "error": err,
                   "seconds": dt, "status": status,
                   "published": PUBLISHED.get((kind, method)) if paper else None}
            rows.append(row)
            pub = f"{row['published']:.1e}" if row["published"] else "-"
            print(f"{kind:12s} w={omega:<5g} n={n:<4d} {method:10s} err {err:9.2e}  {dt:7.2f} s  "
                  f"{status:18s} paper {pub}", flush=True)
    return rows


def _main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m fastspectral.bench.gp_suite",
        description="Solve each GP benchmark problem once per method; print error and wall time "
                    "(the README's GP table).")
    # no choices= here: argparse (3.11) checks an empty nargs="*" list against them
    ap.add_argument("kinds", nargs="*", metavar="KIND",
                    help=f"problems to run (default: all): {', '.join(KINDS)}")
    ap.add_argument("--quick", action="store_true", help="the small --quick grids")
    ap.add_argument("--methods", nargs="+", metavar="M",
                    choices=("student_t", "gaussian", "se", "matern52", "fd"),
                    help="student_t, gaussian, se, matern52, fd (default: see run_standalone)")
    args = ap.parse_args(argv)
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown problem kind(s): {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    run_standalone(quick=args.quick, kinds=tuple(args.kinds) or KINDS, methods=args.methods)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
