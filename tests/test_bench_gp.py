"""The gp bench suite's finite-difference peers: they must be correct solvers of the stated
order, or the suite's error ratios mean nothing."""
import numpy as np
import pytest

from fastspectral import gp
from fastspectral.bench import gp_suite


def test_advection_diffusion_peer_converges_at_first_order():
    p = gp.advection_diffusion_2d(20.0, 0.05, 2.0)
    errs = [gp_suite._fd_err(p, n) for n in (48, 96, 192)]
    # implicit Euler + upwind: first order, so the error halves per grid doubling
    for a, b in zip(errs, errs[1:]):
        assert 0.4 < b / a < 0.65, errs
    assert errs[-1] < 0.15


def test_advection_diffusion_peer_is_dispatched_and_keeps_boundary_data():
    p = gp.advection_diffusion_2d(5.0, 0.1, 1.0)
    axes, U = gp_suite._fd(p, 33)
    x, t = np.meshgrid(*axes, indexing="ij")
    ue = p.exact(x, t)
    # Dirichlet data at both x ends and the initial line are imposed exactly
    np.testing.assert_allclose(U[[0, -1], :], ue[[0, -1], :], atol=1e-14)
    np.testing.assert_allclose(U[:, 0], ue[:, 0], atol=1e-14)
    # with nu = 0 the scheme is the implicit upwind peer of pure advection (a bidiagonal
    # solve per step instead of its forward substitution); the upwind peer leaves the outflow end
    # x = hi to the scheme where this one imposes the data, which nothing upstream sees at nu = 0
    q = gp.advection_diffusion_2d(5.0, 0.0, 1.0)
    assert (2, 0) not in q.operator
    np.testing.assert_allclose(gp_suite.fd_advection_diffusion(q, 33)[1][:-1],
                               gp_suite.fd_advection(q, 33)[1][:-1], rtol=1e-12, atol=1e-12)


def test_general_2d_peer_is_second_order_and_matches_the_five_point_solver():
    p = gp.anisotropic_poisson_2d(5.0)
    errs = [gp_suite._fd_err(p, n) for n in (30, 60, 120)]
    for a, b in zip(errs, errs[1:]):
        assert 0.2 < b / a < 0.3, errs          # second order: a quarter per halving of h
    q = gp.poisson_2d(3.0)
    np.testing.assert_allclose(gp_suite.fd_solve_general_2d(q, 33)[1], gp_suite.fd_solve_2d(q, 33)[1],
                               atol=1e-12)
    assert gp_suite._fd(p, 16)[1].shape == (16, 16)


def test_anisotropic_constructor():
    p = gp.anisotropic_poisson_2d(3.0, 1.0, 0.6, 0.8)
    x, y = np.meshgrid(np.linspace(0.3, 5.0, 5), np.linspace(0.2, 6.0, 4), indexing="ij")
    u, h = p.exact, 1e-4
    uxx = (u(x + h, y) - 2 * u(x, y) + u(x - h, y)) / h ** 2
    uyy = (u(x, y + h) - 2 * u(x, y) + u(x, y - h)) / h ** 2
    uxy = (u(x + h, y + h) - u(x + h, y - h) - u(x - h, y + h) + u(x - h, y - h)) / (4 * h * h)
    np.testing.assert_allclose(uxx + 0.6 * uxy + 0.8 * uyy, p.source(x, y), atol=1e-4)
    import pytest
    with pytest.raises(ValueError, match="elliptic"):
        gp.anisotropic_poisson_2d(3.0, 1.0, 2.0, 0.8)


def test_standalone_command_line(monkeypatch, capsys):
    # `python -m fastspectral.bench.gp_suite --help` used to start the full multi-minute run
    from fastspectral.bench import gp_suite
    calls = []
    monkeypatch.setattr(gp_suite, "run_standalone", lambda **kw: calls.append(kw))
    for argv in (["--help"], ["nope"], ["--methods", "adam"]):
        with pytest.raises(SystemExit):
            gp_suite._main(argv)
    assert not calls
    assert gp_suite._main(["poisson", "--quick", "--methods", "gaussian", "fd"]) == 0
    assert calls == [{"quick": True, "kinds": ("poisson",), "methods": ["gaussian", "fd"]}]
    gp_suite._main([])
    assert calls[-1] == {"quick": False, "kinds": gp_suite.KINDS, "methods": None}
