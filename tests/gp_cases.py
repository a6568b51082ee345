"""Small GP problems with manufactured solutions, shared by tests/test_gp.py and
tests/test_gp_device.py (one definition of each, so both files test the same problems)."""
import numpy as np

from fastspectral.gp import problems as P


def small_advection():
    """u_t + 1.5 u_x - 0.5 u = f (first-order dimensions: complex whitening)."""
    u = lambda x, t: np.sin(2 * x - 3 * t) + 0.5 * x * t
    f = lambda x, t: (-3 * np.cos(2 * x - 3 * t) + 0.5 * x) + 1.5 * (2 * np.cos(2 * x - 3 * t) + 0.5 * t) - 0.5 * u(x, t)
    return P.Problem([(0, 2.0), (0, 1.5)], {(1, 0): 1.5, (0, 1): 1.0, (0, 0): -0.5},
                     source=f, boundary=u, exact=u, freq_scale=1.0)


def convection_diffusion():
    """-0.3 (u_xx + u_yy) + 1.5 u_x = f: dimension 0 mixes orders 1 and 2 (real path)."""
    u = lambda x, y: np.sin(2 * x) * np.sin(3 * y) + x * y
    ux = lambda x, y: 2 * np.cos(2 * x) * np.sin(3 * y) + y
    return P.Problem([(0, 2.0), (0, 1.5)], {(2, 0): -0.3, (0, 2): -0.3, (1, 0): 1.5},
                     source=lambda x, y: 3.9 * np.sin(2 * x) * np.sin(3 * y) + 1.5 * ux(x, y),
                     boundary=u, exact=u, freq_scale=1.0)


def anisotropic(extra=None):
    """u_xx + 0.6 u_xy + 0.8 u_yy - 0.5 u = f (elliptic: 0.3^2 < 0.8), plus optional terms."""
    u = lambda x, y: np.sin(2 * x) * np.sin(3 * y) + x * y
    uxx = lambda x, y: -4 * np.sin(2 * x) * np.sin(3 * y)
    uyy = lambda x, y: -9 * np.sin(2 * x) * np.sin(3 * y)
    uxy = lambda x, y: 6 * np.cos(2 * x) * np.cos(3 * y) + 1.0
    ux = lambda x, y: 2 * np.cos(2 * x) * np.sin(3 * y) + y
    op = {(2, 0): 1.0, (1, 1): 0.6, (0, 2): 0.8, (0, 0): -0.5}
    parts = {(2, 0): uxx, (1, 1): uxy, (0, 2): uyy, (0, 0): u, (1, 0): ux}
    op.update(extra or {})
    return P.Problem([(0, 2.0), (0, 1.5)], op,
                     source=lambda x, y: sum(c * parts[k](x, y) for k, c in op.items()),
                     boundary=u, exact=u, freq_scale=1.0)


def with_cubic(base):
    """base's linear PDE plus the nonlinearity u^3 (source adjusted to keep base.exact)."""
    u = base.exact
    return P.Problem(base.domain, base.operator, source=lambda *x: base.source(*x) + u(*x) ** 3,
                     boundary=u, exact=u, nonlinearity=lambda v: v ** 3,
                     dnonlinearity=lambda v: 3 * v ** 2, freq_scale=1.0)
