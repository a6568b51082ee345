"""PDE descriptions for the GP solver: box domain, constant-coefficient linear operator, optional
pointwise nonlinearity, source and Dirichlet data.

The PDE is  sum_t c_t d^{k_t} u + N(u) = f  in the box, u = g on its boundary, where each term
t is a multi-index k_t of derivative orders (0, 1 or 2 per dimension; e.g. (2, 0) is u_xx and
(0, 0) the zero-order term c u).

Example
-------
>>> import numpy as np
>>> from fastspectral.gp.problems import Problem
>>> p = Problem(domain=[(0.0, 1.0)], operator={(2,): 1.0},
...             source=lambda x: -np.pi**2 * np.sin(np.pi * x),
...             boundary=lambda x: np.sin(np.pi * x), exact=lambda x: np.sin(np.pi * x))
>>> p.ndim
1
"""
from __future__ import annotations

import math
import operator
from typing import Callable, Mapping, Sequence

import numpy as np

__all__ = ["Problem", "poisson_1d", "allen_cahn_1d", "poisson_2d", "allen_cahn_2d", "advection_2d",
           "advection_diffusion_2d", "anisotropic_poisson_2d", "poisson_3d", "helmholtz_3d"]


class Problem:
    """A PDE on a box.

    Parameters
    ----------
    domain : sequence of (lo, hi), one per dimension.
    operator : mapping {multi-index of derivative orders (tuple of d ints in 0..2): coefficient}.
    source : f, a callable f(x_1, ..., x_d) broadcasting over grid arrays (called with numpy
        grids), or an array of the grid shape (numpy or cupy: cupy data makes ``gp.solve`` run
        on the GPU by default; it is copied to the host for validation).
    boundary : g, a callable like ``source``, or an array with one value per boundary grid point
        (in the order of ``grid_boundary_mask``'s flattened True entries; numpy or cupy, not
        mixed with a source array of the other kind).
    nonlinearity, dnonlinearity : N(u) and N'(u), pointwise (both or neither).
    exact : optional exact solution (callable), used for errors in benchmarks and tests.
    freq_scale : optional hint for the kernel's initial frequency range (cycles per unit length):
        a value above the largest frequency of the solution (the paper's ``freq_scale``).
    """

    def __init__(self, domain: Sequence[Sequence[float]], operator: Mapping[Sequence[int], float],
                 source, boundary, *, nonlinearity: Callable | None = None,
                 dnonlinearity: Callable | None = None, exact: Callable | None = None,
                 freq_scale: float | None = None, name: str = "problem"):
        dom = [tuple(float(v) for v in iv) for iv in domain]
        if not dom or any(len(iv) != 2 or not (np.isfinite(iv).all() and iv[0] < iv[1]) for iv in dom):
            raise ValueError(f"domain must be a list of finite (lo, hi) with lo < hi, got {domain!r}")
        self.domain = dom
        d = len(dom)
        ops = {}
        for k, c in dict(operator).items():
            k = (int(k),) if np.isscalar(k) else tuple(int(v) for v in k)
            if len(k) != d or any(v not in (0, 1, 2) for v in k):
                raise ValueError(f"operator term {k} must be a {d}-tuple of orders in 0..2")
            if not np.isfinite(c):
                raise ValueError(f"operator coefficient for {k} is not finite: {c}")
            if c != 0:
                ops[k] = ops.get(k, 0.0) + float(c)
        if not ops:
            raise ValueError("operator has no nonzero term")
        self.operator = ops
        if (nonlinearity is None) != (dnonlinearity is None):
            raise ValueError("give both nonlinearity and dnonlinearity, or neither")
        self.nonlinearity, self.dnonlinearity = nonlinearity, dnonlinearity
        self.source, self.boundary, self.exact = source, boundary, exact
        self.freq_scale = freq_scale
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.domain)

    @property
    def is_linear(self) -> bool:
        return self.nonlinearity is None

    # ---------------------------------------------------------------- grid helpers
    def grid_axes(self, grid_size):
        """The per-dimension node vectors (endpoints included)."""
        sizes = _sizes(grid_size, self.ndim)
        return [np.linspace(lo, hi, n) for (lo, hi), n in zip(self.domain, sizes)]

    def boundary_mask(self, sizes):
        mask = np.zeros(tuple(sizes), bool)
        for ax in range(len(sizes)):
            idx = [slice(None)] * len(sizes)
            idx[ax] = 0
            mask[tuple(idx)] = True
            idx[ax] = -1
            mask[tuple(idx)] = True
        return mask

    def source_on(self, axes):
        shape = tuple(len(a) for a in axes)
        f = _evaluate(self.source, axes, "source")
        if f.shape != shape:
            raise ValueError(f"source must give an array of the grid shape {shape}, got {f.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError(f"source has {int(np.sum(~np.isfinite(f)))} non-finite values on the grid")
        return f

    def boundary_on(self, axes):
        """Dirichlet values at the boundary nodes, flattened in mask order."""
        shape = tuple(len(a) for a in axes)
        mask = self.boundary_mask(shape)
        nb = int(mask.sum())
        if callable(self.boundary):
            g = _evaluate(self.boundary, axes, "boundary")
            if g.shape == shape:
                g = g[mask]
        else:
            g = np.asarray(_to_host(self.boundary), dtype=float)
            if g.shape == shape:
                g = g[mask]
        if g.shape != (nb,):
            raise ValueError(f"boundary data must have one value per boundary node ({nb},) or the "
                             f"grid shape {shape}; got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("boundary data has non-finite values")
        return g

    def __repr__(self):
        return f"Problem({self.name!r}, domain={self.domain}, operator={self.operator})"


def _sizes(grid_size, d):
    def index(n):
        # integers only: a float size (16.7) used to be truncated silently
        if isinstance(n, (bool, np.bool_)):
            return -1
        try:
            return operator.index(n)
        except TypeError:
            return -1
    sizes = [index(grid_size)] * d if np.isscalar(grid_size) else [index(n) for n in grid_size]
    if len(sizes) != d or any(n < 3 for n in sizes):
        raise ValueError(f"grid_size must be an int or {d} ints, each >= 3; got {grid_size!r}")
    return sizes


def _evaluate(fn, axes, what):
    shape = tuple(len(a) for a in axes)
    if callable(fn):
        mesh = np.meshgrid(*axes, indexing="ij")
        val = np.asarray(fn(*mesh), dtype=float)
        return np.broadcast_to(val, shape).copy() if val.ndim == 0 else val
    return np.asarray(_to_host(fn), dtype=float)


def _to_host(a):
    """numpy copy of a cupy array (cupy refuses implicit conversion); anything else as is."""
    from ._device import to_host
    return to_host(a)


# ---------------------------------------------------------------- the paper's problems
def poisson_1d(omega: float = 100.0, domain=(0.0, 2 * math.pi)) -> Problem:
    """u_xx = f on [0, 2 pi], u = sin(omega x) (the paper's 1D Poisson with omega = 100)."""
    u = lambda x: np.sin(omega * x)
    return Problem([domain], {(2,): 1.0}, source=lambda x: -omega ** 2 * np.sin(omega * x),
                   boundary=u, exact=u, freq_scale=_paper_freq_scale(omega),
                   name=f"poisson1d_sin{omega:g}x")


def allen_cahn_1d(omega: float = 100.0, domain=(0.0, 2 * math.pi)) -> Problem:
    """u_xx + u(u^2 - 1) = f, u = sin(omega x)."""
    u = lambda x: np.sin(omega * x)

    def f(x):
        s = np.sin(omega * x)
        return -omega ** 2 * s + s * (s * s - 1.0)

    return Problem([domain], {(2,): 1.0}, source=f, boundary=u, exact=u,
                   nonlinearity=lambda v: v * (v * v - 1.0), dnonlinearity=lambda v: 3.0 * v * v - 1.0,
                   freq_scale=_paper_freq_scale(omega), name=f"allen_cahn1d_sin{omega:g}x")


def poisson_2d(omega: float = 100.0, domain=(0.0, 2 * math.pi)) -> Problem:
    """u_xx + u_yy = f on a square, u = sin(omega x) sin(omega y)."""
    u = lambda x, y: np.sin(omega * x) * np.sin(omega * y)
    return Problem([domain, domain], {(2, 0): 1.0, (0, 2): 1.0},
                   source=lambda x, y: -2 * omega ** 2 * np.sin(omega * x) * np.sin(omega * y),
                   boundary=u, exact=u, freq_scale=_paper_freq_scale(omega),
                   name=f"poisson2d_sin{omega:g}x")


def anisotropic_poisson_2d(omega: float = 20.0, a: float = 1.0, b: float = 0.6, c: float = 0.8,
                           domain=(0.0, 2 * math.pi)) -> Problem:
    """a u_xx + b u_xy + c u_yy = f on a square (rotated anisotropic diffusion; elliptic:
    b^2 < 4 a c), u = sin(omega x) sin(omega y).  The mixed derivative makes the operator
    non-separable (see "Mixed derivatives" in solver_nd); no published GP-HM figure."""
    a, b, c, w = float(a), float(b), float(c), float(omega)
    if not (a > 0 and c > 0 and b * b < 4 * a * c):
        raise ValueError(f"a u_xx + b u_xy + c u_yy is elliptic only for a, c > 0 and b^2 < 4ac "
                         f"(got a={a}, b={b}, c={c})")
    u = lambda x, y: np.sin(w * x) * np.sin(w * y)
    return Problem([domain, domain], {(2, 0): a, (1, 1): b, (0, 2): c},
                   source=lambda x, y: (-(a + c) * w * w * np.sin(w * x) * np.sin(w * y)
                                        + b * w * w * np.cos(w * x) * np.cos(w * y)),
                   boundary=u, exact=u, freq_scale=_paper_freq_scale(w),
                   name=f"aniso2d_sin{w:g}x_b{b:g}")


def allen_cahn_2d(omega: float = 100.0, domain=(0.0, 1.0)) -> Problem:
    """u_xx + u_yy + u(u^2 - 1) = f on a square, u = g(x) g(y) with
    g(s) = sin(s) + 0.1 sin(omega s / 5) + cos(omega s): the paper's 2D Allen-Cahn (omega = 100
    on [0, 1]^2, their freq_scale 30)."""
    w = float(omega)

    def g(s):
        return np.sin(s) + 0.1 * np.sin(0.2 * w * s) + np.cos(w * s)

    def g2(s):
        return -np.sin(s) - 0.1 * (0.2 * w) ** 2 * np.sin(0.2 * w * s) - w * w * np.cos(w * s)

    u = lambda x, y: g(x) * g(y)

    def f(x, y):
        v = g(x) * g(y)
        return g2(x) * g(y) + g(x) * g2(y) + v * (v * v - 1.0)

    return Problem([domain, domain], {(2, 0): 1.0, (0, 2): 1.0}, source=f, boundary=u, exact=u,
                   nonlinearity=lambda v: v * (v * v - 1.0), dnonlinearity=lambda v: 3.0 * v * v - 1.0,
                   freq_scale=max(1.0, 30.0 * w / 100.0), name=f"allen_cahn2d_mix{w:g}")


def advection_2d(beta: float = 200.0, domain=((0.0, 1.0), (0.0, 1.0))) -> Problem:
    """u_t + beta u_x = 0 on [0, 1] (x) x [0, 1] (t), u = sin(x - beta t), Dirichlet data on the
    whole box boundary (the paper's advection case: beta = 200, 200^2 grid, lambda_b = 500).

    Dimension 0 is x, dimension 1 is t.  Both dimensions carry odd-order terms only, so the
    solver whitens them with complex unitary eigenvectors (see solver_nd); pass lambda_b=500
    to ``solve`` for the paper's setting."""
    b = float(beta)
    u = lambda x, t: np.sin(x - b * t)
    return Problem(list(domain), {(1, 0): b, (0, 1): 1.0}, source=lambda x, t: 0.0 * x,
                   boundary=u, exact=u, freq_scale=max(1.0, 1.25 * b / (2 * math.pi)),
                   name=f"advection2d_beta{b:g}")


def advection_diffusion_2d(beta: float = 20.0, nu: float = 0.01, k: float = 2.0,
                           domain=((0.0, 1.0), (0.0, 1.0))) -> Problem:
    """u_t + beta u_x - nu u_xx = 0 on [0, 1] (x) x [0, 1] (t): a damped travelling wave
    u = exp(-nu k^2 t) sin(k (x - beta t)), Dirichlet data on the whole box boundary (the
    advection case with diffusion; no published GP-HM figure).

    Dimension 0 (x) carries first- and second-order terms, so its whitened operator is not
    normal (see "Mixed orders" in solver_nd); dimension 1 (t) is first order."""
    b, n, kk = float(beta), float(nu), float(k)
    if n < 0:
        raise ValueError(f"nu must be >= 0 (a diffusion coefficient), got {nu}")
    u = lambda x, t: np.exp(-n * kk * kk * t) * np.sin(kk * (x - b * t))
    return Problem(list(domain), {(1, 0): b, (2, 0): -n, (0, 1): 1.0},
                   source=lambda x, t: 0.0 * x, boundary=u, exact=u,
                   freq_scale=max(1.0, 1.25 * kk * max(1.0, abs(b)) / (2 * math.pi)),
                   name=f"advdiff2d_beta{b:g}_nu{n:g}_k{kk:g}")


def poisson_3d(omega: float = 4.0, domain=(0.0, 2 * math.pi)) -> Problem:
    """u_xx + u_yy + u_zz = f on a cube, u = sin(omega x) sin(omega y) sin(omega z) (the 2-D
    Poisson family extended to 3-D; no published GP-HM figure)."""
    w = float(omega)
    u = lambda x, y, z: np.sin(w * x) * np.sin(w * y) * np.sin(w * z)
    return Problem([domain] * 3, {(2, 0, 0): 1.0, (0, 2, 0): 1.0, (0, 0, 2): 1.0},
                   source=lambda x, y, z: -3 * w ** 2 * u(x, y, z), boundary=u, exact=u,
                   freq_scale=_paper_freq_scale(w), name=f"poisson3d_sin{w:g}x")


def helmholtz_3d(omega: float = 4.0, k: float = 3.0, domain=(0.0, 2 * math.pi)) -> Problem:
    """u_xx + u_yy + u_zz + k^2 u = f on a cube, u = sin(omega x) sin(omega y) sin(omega z)."""
    w, kk = float(omega), float(k)
    u = lambda x, y, z: np.sin(w * x) * np.sin(w * y) * np.sin(w * z)
    return Problem([domain] * 3, {(2, 0, 0): 1.0, (0, 2, 0): 1.0, (0, 0, 2): 1.0, (0, 0, 0): kk ** 2},
                   source=lambda x, y, z: (kk ** 2 - 3 * w ** 2) * u(x, y, z), boundary=u, exact=u,
                   freq_scale=_paper_freq_scale(w), name=f"helmholtz3d_sin{w:g}x_k{kk:g}")


def _paper_freq_scale(omega):
    # the paper used 20 for sin(100x) (max frequency 100 / 2 pi ~ 15.9): about 1.25x above it
    return max(1.0, 1.25 * omega / (2 * math.pi))
