"""One-dimensional stationary kernels for GP-HM, with closed-form derivatives.

Each kernel is k(x, x') = sum_q w_q e(r; a_q) cos(2 pi mu_q r), r = x - x', where the envelope
e is Matern-5/2 (``StudentTMixture``: its spectral density is a Student-t) or squared
exponential (``GaussianMixture``).  The d-dimensional GP-HM kernel is the product of one such
kernel per dimension, so matrices on a grid are Kronecker products of the 1-D matrices built
here.

Parameters live in one flat vector ``theta`` (log-weights, frequencies, log length-scale
parameters) so that the solver can hand it to L-BFGS.  ``derivative(r, n)`` gives
d^n k / dx^n (derivative in the FIRST argument, n = 0, 1, 2); ``grad_contract(r, W, n)`` gives
sum_ij W_ij d/dtheta [d^n k/dx^n](r_ij) for every parameter at once, which is all the solver
needs for the hyperparameter gradient (the caller may first collapse a grid matrix W into sums
over distinct lags).

Example
-------
>>> import numpy as np
>>> from fastspectral.gp.kernels import StudentTMixture
>>> k = StudentTMixture(n_components=4, freq_scale=5.0)
>>> x = np.linspace(0, 1, 7)
>>> K, K2 = k.matrix(x, x), k.matrix(x, x, order=2)
>>> K.shape, bool(np.allclose(K, K.T))
((7, 7), True)
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Kernel1D", "StudentTMixture", "GaussianMixture", "SquaredExponential", "Matern52",
           "make_kernel", "is_baseline", "baseline_log_a"]

_SQRT5 = math.sqrt(5.0)


def _matern_env(r, a):
    """Matern-5/2 envelope e(r) = (1 + s + s^2/3) exp(-s), s = sqrt5 a |r|: returns
    [e, e_r, e_rr] and their derivatives in log a (each factor a^2 or function of s
    contributes to the log-a derivative)."""
    s = _SQRT5 * a * np.abs(r)
    ex = np.exp(-s)
    c = (5.0 / 3.0) * a * a
    e0 = (1.0 + s + s * s / 3.0) * ex
    e1 = -c * r * (1.0 + s) * ex
    e2 = -c * (1.0 + s - s * s) * ex
    e0a = -(s * s / 3.0) * (1.0 + s) * ex
    e1a = -c * r * (2.0 + 2.0 * s - s * s) * ex
    e2a = -c * (2.0 + 2.0 * s - 5.0 * s * s + s ** 3) * ex
    return (e0, e1, e2), (e0a, e1a, e2a)


def _gauss_env(r, a):
    """Squared-exponential envelope exp(-a r^2) as parametrised in GP-HM."""
    r2 = r * r
    e = np.exp(-a * r2)
    e0 = e
    e1 = -2.0 * a * r * e
    e2 = (4.0 * a * a * r2 - 2.0 * a) * e
    e0a = -a * r2 * e
    e1a = (-2.0 * a * r + 2.0 * a * a * r2 * r) * e
    e2a = (10.0 * a * a * r2 - 2.0 * a - 4.0 * a ** 3 * r2 * r2) * e
    return (e0, e1, e2), (e0a, e1a, e2a)


class Kernel1D:
    """Spectral mixture sum_q w_q env(r; a_q) cos(2 pi mu_q r) on one axis.

    theta = [log w (Q), mu (Q, only if learn_mu), log a (1 if shared_lengthscale else Q)].
    """

    _env = staticmethod(_matern_env)
    name = "kernel"

    def __init__(self, n_components: int = 30, freq_scale: float = 1.0, *, log_a: float = 0.0,
                 learn_mu: bool = True, shared_lengthscale: bool = True, weights=None,
                 mu=None):
        Q = int(n_components)
        if Q < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if not np.isfinite(freq_scale) or freq_scale < 0:
            raise ValueError(f"freq_scale must be finite and >= 0, got {freq_scale}")
        self.Q = Q
        self.learn_mu = bool(learn_mu)
        self.shared_lengthscale = bool(shared_lengthscale)
        self.log_w = np.full(Q, -math.log(Q)) if weights is None else np.log(np.asarray(weights, float))
        # the paper's init: frequencies evenly from 0 to freq_scale
        self.mu = (np.linspace(0.0, 1.0, Q) * freq_scale if mu is None
                   else np.asarray(mu, float).copy())
        self.log_a = np.full(1 if self.shared_lengthscale else Q, float(log_a))

    # ------------------------------------------------------------------ parameters
    @property
    def n_params(self) -> int:
        return self.Q + (self.Q if self.learn_mu else 0) + self.log_a.size

    @property
    def theta(self) -> np.ndarray:
        parts = [self.log_w] + ([self.mu] if self.learn_mu else []) + [self.log_a]
        return np.concatenate(parts)

    @theta.setter
    def theta(self, value):
        v = np.asarray(value, float)
        if v.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {v.shape}")
        Q = self.Q
        self.log_w = v[:Q].copy()
        i = Q
        if self.learn_mu:
            self.mu = v[Q:2 * Q].copy()
            i = 2 * Q
        self.log_a = v[i:].copy()

    def copy(self):
        new = object.__new__(type(self))
        new.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                             for k, v in self.__dict__.items()})
        return new

    @property
    def weights(self):
        return np.exp(self.log_w)

    def _a(self):
        return np.broadcast_to(np.exp(self.log_a), (self.Q,))

    # ------------------------------------------------------------------ values
    def derivative(self, r, order: int = 0):
        """d^order k / dx^order at r = x - x' (order 0, 1 or 2), same shape as r."""
        if order not in (0, 1, 2):
            raise ValueError(f"order must be 0, 1 or 2, got {order}")
        r = np.asarray(r, float)
        out = np.zeros_like(r)
        w, a = self.weights, self._a()
        for q in range(self.Q):
            (e0, e1, e2), _ = self._env(r, a[q])
            om = 2.0 * math.pi * self.mu[q]
            C, S = np.cos(om * r), np.sin(om * r)
            if order == 0:
                g = e0 * C
            elif order == 1:
                g = e1 * C - om * e0 * S
            else:
                g = e2 * C - 2.0 * om * e1 * S - om * om * e0 * C
            out += w[q] * g
        return out

    def matrix(self, x, y=None, order: int = 0):
        """Matrix [d^order k/dx^order (x_i, y_j)] of shape (len(x), len(y))."""
        x = np.asarray(x, float).ravel()
        y = x if y is None else np.asarray(y, float).ravel()
        return self.derivative(x[:, None] - y[None, :], order)

    def grad_contract(self, r, W, order: int = 0):
        """g_p = sum_ij W_ij d/dtheta_p [d^order k/dx^order](r_ij), shape (n_params,)."""
        r = np.asarray(r, float).ravel()
        W = np.asarray(W, float).ravel()
        Q = self.Q
        w, a = self.weights, self._a()
        g_logw = np.empty(Q)
        g_mu = np.empty(Q)
        g_loga = np.empty(Q)
        for q in range(Q):
            (e0, e1, e2), (e0a, e1a, e2a) = self._env(r, a[q])
            om = 2.0 * math.pi * self.mu[q]
            C, S = np.cos(om * r), np.sin(om * r)
            if order == 0:
                g = e0 * C
                g_om = -e0 * r * S
                ga = e0a * C
            elif order == 1:
                g = e1 * C - om * e0 * S
                g_om = -e1 * r * S - e0 * (S + om * r * C)
                ga = e1a * C - om * e0a * S
            else:
                g = e2 * C - 2.0 * om * e1 * S - om * om * e0 * C
                g_om = (-e2 * r * S - 2.0 * e1 * (S + om * r * C)
                        + e0 * (-2.0 * om * C + om * om * r * S))
                ga = e2a * C - 2.0 * om * e1a * S - om * om * e0a * C
            g_logw[q] = w[q] * (W @ g)
            g_mu[q] = w[q] * 2.0 * math.pi * (W @ g_om)
            g_loga[q] = w[q] * (W @ ga)
        parts = [g_logw] + ([g_mu] if self.learn_mu else [])
        parts.append(np.array([g_loga.sum()]) if self.shared_lengthscale else g_loga)
        return np.concatenate(parts)

    def spectrum(self):
        """(frequencies mu_q, weights w_q), sorted by frequency."""
        idx = np.argsort(self.mu)
        return self.mu[idx].copy(), self.weights[idx]

    def max_frequency(self) -> float:
        return float(np.max(np.abs(self.mu)))

    def __repr__(self):
        return (f"{type(self).__name__}(n_components={self.Q}, "
                f"max_frequency={self.max_frequency():.4g}, a={np.exp(self.log_a)})")


class StudentTMixture(Kernel1D):
    """Matern-5/2 envelope times cosines (GP-HM-StM):
    k(r) = sum_q w_q (1 + sqrt5 a|r| + 5/3 a^2 r^2) exp(-sqrt5 a|r|) cos(2 pi mu_q r)."""
    _env = staticmethod(_matern_env)
    name = "student_t"


class GaussianMixture(Kernel1D):
    """Squared-exponential envelope times cosines (GP-HM-GM):
    k(r) = sum_q w_q exp(-a r^2) cos(2 pi mu_q r)."""
    _env = staticmethod(_gauss_env)
    name = "gaussian"


class SquaredExponential(GaussianMixture):
    """Baseline w exp(-a r^2) (one component at frequency 0, not learned)."""
    name = "se"

    def __init__(self, *, log_a: float = 0.0, weight: float = 1.0):
        super().__init__(1, 0.0, log_a=log_a, learn_mu=False, weights=[weight])


class Matern52(StudentTMixture):
    """Baseline Matern-5/2 w (1 + sqrt5 a|r| + 5/3 a^2 r^2) exp(-sqrt5 a|r|)."""
    name = "matern52"

    def __init__(self, *, log_a: float = 0.0, weight: float = 1.0):
        super().__init__(1, 0.0, log_a=log_a, learn_mu=False, weights=[weight])


def is_baseline(kernel: Kernel1D) -> bool:
    """A single fixed-frequency-0 envelope (SE or Matern-5/2), not a spectral mixture."""
    return kernel.Q == 1 and not kernel.learn_mu and float(kernel.mu[0]) == 0.0


def baseline_log_a(kernel: Kernel1D, h: float, steps: float) -> float:
    """log a for which the envelope's correlation length is ``steps`` grid spacings h:
    SE exp(-a r^2): a = 1 / (steps h)^2; Matern-5/2 in sqrt5 a |r|: a = 1 / (sqrt5 steps h).

    Why the baselines need it: for a single envelope at frequency 0 the GP-HM objective is
    unbounded below along w -> 0, a -> inf (a white-noise kernel: (M/2) log w -> -inf while the
    collocation values U ~ F / k''(0) -> 0 keep U^T K^{-1} U bounded).  From the paper's init
    (log a = 0) L-BFGS followed that direction on sin(100x) and the error was 1.0.  The solver
    therefore starts the baselines at 3 grid steps and bounds the length from below by 1 step."""
    if kernel._env is _gauss_env:
        return -2.0 * math.log(steps * h)
    return -math.log(_SQRT5 * steps * h)


_KINDS = {"student_t": StudentTMixture, "stm": StudentTMixture,
          "gaussian": GaussianMixture, "gm": GaussianMixture,
          "se": SquaredExponential, "matern52": Matern52}


def make_kernel(kind, n_components: int = 30, freq_scale: float = 1.0, **kw) -> Kernel1D:
    """A kernel from a name ('student_t', 'gaussian', 'se', 'matern52') or a Kernel1D (copied)."""
    if isinstance(kind, Kernel1D):
        return kind.copy()
    try:
        cls = _KINDS[str(kind).lower()]
    except KeyError:
        raise ValueError(f"kernel must be one of {sorted(set(_KINDS))} or a Kernel1D, got {kind!r}") from None
    if cls in (SquaredExponential, Matern52):
        return cls(**kw)
    return cls(n_components, freq_scale, **kw)
