"""fastspectral.torch's Bessel functions: values, autograd (first and higher derivatives),
dtypes, broadcasting and bad input.  Derivative accuracy against Arb references is in
test_torch_bessel_accuracy.py; here the derivatives are checked against finite differences
(torch.autograd.gradcheck / gradgradcheck) and exact identities."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastspectral import special, vmf  # noqa: E402
import fastspectral.torch as ft  # noqa: E402

NAMES = ("log_iv", "log_ive", "log_kv", "log_kve", "iv", "ive", "kv", "kve", "log_iv_dx",
         "log_kv_dx", "iv_ratio")
# (order, arguments) per function family where the function is smooth and finite, so that
# central differences are meaningful; iv_ratio needs v >= 1/2
ORDERS = (0.0, 0.5, 1.3, 7.0, 40.0)
X = (0.05, 0.7, 3.0, 25.0, 180.0)


def _x(values=X, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_values_match_the_ufuncs(name, dtype):
    rng = np.random.default_rng(1)
    v = rng.uniform(0.5, 30, 40)
    x = 10 ** rng.uniform(-2, 3, 40)
    ours = getattr(ft, name)(torch.tensor(v, dtype=dtype), torch.tensor(x, dtype=dtype))
    npd = np.float64 if dtype == torch.float64 else np.float32
    ref = special._UFUNCS[name](v.astype(npd), x.astype(npd))
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours.numpy(), ref)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("v", ORDERS)
def test_first_and_second_derivatives_match_finite_differences(name, v):
    if name == "iv_ratio" and v < 0.5:
        pytest.skip("iv_ratio is defined for v >= 1/2")
    x = _x()
    f = getattr(ft, name)
    # the exponentially scaled / log forms stay O(1); iv, kv grow or shrink fast, so
    # gradcheck's absolute tolerance is relative to their size through a rescaling
    if name in ("iv", "kv"):
        scale = 1 / special._UFUNCS[name](v, x.detach().numpy())
        scale = torch.tensor(scale)
        fn = lambda t: f(v, t) * scale  # noqa: E731
    else:
        fn = lambda t: f(v, t)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)
    assert torch.autograd.gradgradcheck(fn, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_third_derivative_exists_and_matches_finite_differences():
    x = _x((0.9, 4.0, 12.0))
    f = lambda t: ft.log_kv(2.5, t)  # noqa: E731
    (g1,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = torch.autograd.grad(g2.sum(), x)
    h = 1e-4
    xd = x.detach()
    second = lambda t: torch.autograd.grad(  # noqa: E731
        torch.autograd.grad(f(t).sum(), t, create_graph=True)[0].sum(), t)[0]
    fd = (second((xd + h).requires_grad_()) - second((xd - h).requires_grad_())) / (2 * h)
    np.testing.assert_allclose(g3.numpy(), fd.numpy(), rtol=1e-6)


def test_log_iv_gradient_is_the_ratio_kernel_where_values_overflow():
    # I_v(x) overflows float64 here; the gradient of log I_v is still the ratio kernel's value
    v = torch.tensor([0.0, 10.0, 500.0, 3000.0], dtype=torch.float64)
    x = _x((1e3, 2e4, 1e6, 1e8))
    (g,) = torch.autograd.grad(ft.log_iv(v, x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), special.log_iv_dx(v.numpy(), x.detach().numpy()))
    assert np.all(np.isinf(special.iv(v.numpy(), x.detach().numpy())))
    # and d/dx log K_v = log_kv_dx where K_v underflows to 0
    (gk,) = torch.autograd.grad(ft.log_kv(v, x).sum(), x)
    np.testing.assert_array_equal(gk.numpy(), special.log_kv_dx(v.numpy(), x.detach().numpy()))


def test_derivative_identities_of_scaled_and_plain_functions():
    v, x = 2.7, _x((0.3, 2.0, 9.0, 40.0))
    xd = x.detach().numpy()
    (g,) = torch.autograd.grad(ft.ive(v, x).sum(), x)
    # d/dx [I_v e^{-x}] = e^{-x} (I_v' - I_v),  I_v' = I_v log_iv_dx
    ref = special.ive(v, xd) * (special.log_iv_dx(v, xd) - 1)
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-13)
    (g,) = torch.autograd.grad(ft.kve(v, x).sum(), x)
    ref = special.kve(v, xd) * (special.log_kv_dx(v, xd) + 1)
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-12)
    (g,) = torch.autograd.grad(ft.kv(v, x).sum(), x)
    np.testing.assert_allclose(g.numpy(), special.kv(v, xd) * special.log_kv_dx(v, xd),
                               rtol=1e-13)


def test_limits_at_zero():
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    y = ft.log_iv(0.0, x)
    (g1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), x)
    assert g1.item() == 0.0 and g2.item() == 0.5  # log I_0(x) = x^2/4 + O(x^4)
    (g,) = torch.autograd.grad(ft.iv_ratio(3.0, x).sum(), x)
    assert g.item() == pytest.approx(1 / 6)  # I_3/I_2 ~ x / 6
    (g,) = torch.autograd.grad(ft.iv(1.0, x).sum(), x)
    assert g.item() == 0.5  # I_1(x) ~ x/2
    (g,) = torch.autograd.grad(ft.ive(0.0, x).sum(), x)
    assert g.item() == 0.0


def test_ive_derivative_for_negative_arguments():
    # integer order: I_n(-x) = (-1)^n I_n(x); ive uses e^{-|x|}
    x = _x((-3.0, -0.5))
    assert torch.autograd.gradcheck(lambda t: ft.ive(2.0, t), (x,))
    assert torch.autograd.gradcheck(lambda t: ft.iv(3.0, t), (x,))


def test_broadcasting_reduces_the_gradient_to_the_argument_shape():
    v = torch.tensor([[0.5], [2.0], [9.0]], dtype=torch.float64)
    x = _x((0.4, 1.5, 6.0, 20.0))
    y = ft.log_kve(v, x)
    assert y.shape == (3, 4)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.shape == x.shape
    ref = sum(special.log_kv_dx(float(vi), x.detach().numpy()) + 1 for vi in (0.5, 2.0, 9.0))
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-14)
    # a broadcast x (one value for all orders)
    x1 = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (g1,) = torch.autograd.grad(ft.log_iv(v, x1).sum(), x1)
    assert g1.shape == () and g1.item() == pytest.approx(
        special.log_iv_dx(np.array([0.5, 2.0, 9.0]), 3.0).sum(), rel=1e-14)


def test_an_order_requiring_grad_is_refused_clearly():
    v = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    x = _x((1.0, 2.0))
    with pytest.raises(NotImplementedError, match="order v"):
        ft.log_iv(v, x)
    with torch.no_grad():  # no graph, no derivative needed
        np.testing.assert_array_equal(ft.log_iv(v, x).numpy(),
                                      special.log_iv(2.0, x.detach().numpy()))
    (g,) = torch.autograd.grad(ft.log_iv(v.detach(), x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), special.log_iv_dx(2.0, x.detach().numpy()))


def test_dtypes():
    x16 = torch.tensor([1.0, 4.0], dtype=torch.float16, requires_grad=True)
    y = ft.log_iv(1.0, x16)
    assert y.dtype == torch.float16
    y.sum().backward()
    assert x16.grad is not None and x16.grad.dtype == torch.float16
    np.testing.assert_allclose(x16.grad.float().numpy(),
                               special.log_iv_dx(np.float32(1.0), np.float32([1.0, 4.0])),
                               rtol=1e-3)
    yb = ft.kve(torch.tensor(0.5, dtype=torch.bfloat16), torch.tensor([2.0], dtype=torch.bfloat16))
    assert yb.dtype == torch.bfloat16
    assert ft.ive(1, torch.tensor([1, 2])).dtype == torch.get_default_dtype()  # integers
    assert ft.ive(1.0, 2.0).dtype == torch.get_default_dtype()  # numbers
    assert ft.ive(torch.tensor(1.0, dtype=torch.float64), torch.ones(2)).dtype == torch.float32
    assert ft.ive(torch.ones(2, dtype=torch.float64), torch.ones(2)).dtype == torch.float64
    with pytest.raises(TypeError, match="complex"):
        ft.log_iv(1.0, torch.ones(2, dtype=torch.complex128))
    with pytest.raises(TypeError, match="x must be a tensor or a real number"):
        ft.log_iv(1.0, "3")


def test_non_contiguous_and_negated_views():
    base = torch.linspace(0.5, 20, 24, dtype=torch.float64).reshape(4, 6)
    xt = base.t()  # non-contiguous
    np.testing.assert_array_equal(ft.kve(1.5, xt).numpy(), special.kve(1.5, xt.numpy()))
    neg = torch._neg_view(-base)  # lazy negation bit: values are base
    np.testing.assert_array_equal(ft.log_kv(0.5, neg).numpy(), special.log_kv(0.5, base.numpy()))


def test_mixed_devices_are_refused():
    x = torch.ones(3, device="meta")
    with pytest.raises(TypeError, match="different devices"):
        ft.log_iv(torch.ones(3), x)
    # a 0-d CPU tensor goes with anything, as in torch
    assert ft.log_iv(torch.tensor(1.0), torch.ones(3)).shape == (3,)


@pytest.mark.parametrize("p", [3, 10, 1000, 20000])
def test_vmf_log_normalizer_gradient_is_minus_mean_resultant_length(p):
    kappa = _x((0.0, 1e-3, 2.0, 0.5 * p, 10.0 * p, 1e7))
    y = ft.vmf_log_normalizer(p, kappa)
    np.testing.assert_array_equal(y.detach().numpy(),
                                  vmf.log_normalizer(p, kappa.detach().numpy()))
    (g,) = torch.autograd.grad(y.sum(), kappa)
    np.testing.assert_array_equal(-g.numpy(),
                                  vmf.mean_resultant_length(p, kappa.detach().numpy()))
    if p <= 1000:  # beyond, log C_p ~ -p log p: differences of it lose the small gradient
        assert torch.autograd.gradcheck(lambda t: ft.vmf_log_normalizer(p, t),
                                        (_x((0.5, 3.0, 0.3 * p + 1.0)),))


@pytest.mark.parametrize("p", [2, 5, 300])
def test_vmf_mean_resultant_length_derivatives(p):
    kappa = _x((1e-3, 0.8, 4.0, 2.0 * p, 50.0 * p))
    assert torch.autograd.gradcheck(lambda t: ft.vmf_mean_resultant_length(p, t), (kappa,),
                                    eps=1e-7, atol=1e-9, rtol=1e-5)
    assert torch.autograd.gradgradcheck(lambda t: ft.vmf_mean_resultant_length(p, t), (kappa,),
                                        eps=1e-6, atol=1e-7, rtol=1e-4)
    # dA/dkappa at 0 is 1/p (A_p ~ kappa / p)
    k0 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(ft.vmf_mean_resultant_length(p, k0).sum(), k0)
    assert g.item() == pytest.approx(1 / p, rel=1e-15)


def test_vmf_kl_to_uniform_trains_in_high_dimension():
    # KL(vMF(mu, kappa) || uniform on S^{p-1}) = kappa A_p + log C_p + log|S^{p-1}|: a
    # hyperspherical VAE's KL term.  Its kappa-derivative is kappa A_p'(kappa) >= 0; at p = 4096
    # the terms are ~1e4 in size and the naive (ive-based) form overflows or loses all digits.
    p = 4096
    kappa = _x((10.0, 1e3, 5e4))
    log_area = math.log(2) + 0.5 * p * math.log(math.pi) - math.lgamma(0.5 * p)
    kl = kappa * ft.vmf_mean_resultant_length(p, kappa) + ft.vmf_log_normalizer(p, kappa) \
        + log_area
    assert torch.all(kl >= 0) and torch.all(torch.isfinite(kl))
    (g,) = torch.autograd.grad(kl.sum(), kappa)
    (da,) = torch.autograd.grad(ft.vmf_mean_resultant_length(p, kappa).sum(), kappa)
    np.testing.assert_allclose(g.numpy(), (kappa * da).detach().numpy(), rtol=1e-10)
    assert torch.all(g > 0)


def test_vmf_bad_input():
    with pytest.raises(ValueError, match="kappa must be >= 0"):
        ft.vmf_log_normalizer(3, torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="integer >= 2"):
        ft.vmf_mean_resultant_length(1, torch.tensor([1.0]))
    p = torch.tensor(5.0, requires_grad=True)
    with pytest.raises(NotImplementedError, match="dimension p"):
        ft.vmf_log_normalizer(p, torch.tensor([1.0]))


@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_cuda_tensors_match_cpu(name):
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    rng = np.random.default_rng(7)
    v = torch.tensor(rng.uniform(0.5, 30, 64))
    x = torch.tensor(10 ** rng.uniform(-2, 3, 64), requires_grad=True)
    f = getattr(ft, name)
    y = f(v, x)
    (g,) = torch.autograd.grad(y.sum(), x)
    xc = x.detach().cuda().requires_grad_()
    yc = f(v.cuda(), xc)
    (gc,) = torch.autograd.grad(yc.sum(), xc)
    assert yc.device.type == "cuda" and gc.device.type == "cuda"
    np.testing.assert_allclose(yc.detach().cpu().numpy(), y.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(gc.cpu().numpy(), g.numpy(), rtol=1e-12)


@pytest.mark.gpu
def test_cuda_vmf_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    kappa = torch.tensor([0.0, 0.5, 30.0, 4e4], dtype=torch.float64)
    for fn in (ft.vmf_log_normalizer, ft.vmf_mean_resultant_length):
        k = kappa.clone().requires_grad_()
        (g,) = torch.autograd.grad(fn(512, k).sum(), k)
        kc = kappa.cuda().requires_grad_()
        yc = fn(512, kc)
        (gc,) = torch.autograd.grad(yc.sum(), kc)
        np.testing.assert_allclose(yc.detach().cpu().numpy(), fn(512, kappa).numpy(),
                                   rtol=1e-13)
        np.testing.assert_allclose(gc.cpu().numpy(), g.numpy(), rtol=1e-12)


def test_torch_func_transforms():
    x = torch.tensor([0.7, 2.0, 9.0], dtype=torch.float64)
    xn = x.numpy()
    g = torch.func.grad(lambda t: ft.log_iv(1.5, t).sum())(x)
    np.testing.assert_array_equal(g.numpy(), special.log_iv_dx(1.5, xn))
    # forward and reverse Jacobians agree with each other and with the ratio kernel
    jf = torch.func.jacfwd(lambda t: ft.log_kv(2.5, t))(x)
    jr = torch.func.jacrev(lambda t: ft.log_kv(2.5, t))(x)
    np.testing.assert_allclose(np.diag(jf.numpy()), special.log_kv_dx(2.5, xn), rtol=1e-15)
    torch.testing.assert_close(jf, jr, rtol=1e-15, atol=0)
    # hessian (forward over reverse) against the autograd hessian (reverse over reverse)
    f = lambda t: ft.ive(0.5, t).sum()  # noqa: E731
    torch.testing.assert_close(torch.func.hessian(f)(x),
                               torch.autograd.functional.hessian(f, x), rtol=1e-13, atol=0)
    # vmap: batched orders and arguments of different ranks broadcast as in a plain call
    v = torch.tensor([[0.5], [1.0], [2.0]], dtype=torch.float64)
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(ft.log_iv)(v, X), ft.log_iv(v, X), rtol=0, atol=0)
    w = torch.tensor([1.0, 2.0], dtype=torch.float64)
    out = torch.func.vmap(lambda t: ft.log_iv(w, t))(torch.full((3, 1), 2.0, dtype=torch.float64))
    torch.testing.assert_close(out, ft.log_iv(w, torch.full((3, 1), 2.0, dtype=torch.float64)))
    per_sample = torch.func.vmap(torch.func.grad(lambda t: ft.log_iv(2.0, t)))(x)
    np.testing.assert_array_equal(per_sample.numpy(), special.log_iv_dx(2.0, xn))
    k = torch.tensor([1.0, 3.0], dtype=torch.float64)
    gk = torch.func.grad(lambda t: ft.vmf_log_normalizer(10, t).sum())(k)
    np.testing.assert_array_equal(-gk.numpy(), vmf.mean_resultant_length(10, k.numpy()))


def test_float32_derivatives_are_float64_accurate_where_the_forms_cancel():
    # ive' ~ -ive / (2x) at large x is what is left of O(ive) terms: in float32 arithmetic it
    # came out 10x off at x = 7e5; the float32 backward now runs in float64 and rounds once
    x32 = torch.tensor([30.0, 1e3, 7e5], dtype=torch.float32, requires_grad=True)
    x64 = x32.detach().double().requires_grad_()
    for name in ("ive", "kve", "log_ive", "log_kve", "iv_ratio"):
        f = getattr(ft, name)
        (g32,) = torch.autograd.grad(f(2.0, x32).sum(), x32, create_graph=True)
        (g64,) = torch.autograd.grad(f(2.0, x64).sum(), x64, create_graph=True)
        assert g32.dtype == torch.float32
        np.testing.assert_allclose(g32.detach().numpy(), g64.detach().numpy(), rtol=2e-7)
        (h32,) = torch.autograd.grad(g32.sum(), x32)
        (h64,) = torch.autograd.grad(g64.sum(), x64)
        np.testing.assert_allclose(h32.numpy(), h64.numpy(), rtol=2e-7)


def _second(f, v, x):
    t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(v, t).sum(), t, create_graph=True)
    return torch.autograd.grad(g.sum(), t)[0].item()


@pytest.mark.parametrize("name,v,x", [
    ("iv", 1.0, 1e-8), ("iv", 1.0, 1e-6), ("iv", 2.5, 1e-3), ("ive", 0.5, 1e-5), ("ive", 1.0, 0.3),
    ("iv_ratio", 2.0, 1e-8), ("iv_ratio", 30.0, 1e-6), ("iv_ratio", 3.0, 2.0),
    ("log_iv_dx", 0.0, 1e-8), ("log_iv_dx", 3.0, 0.5), ("log_iv_dx", 0.7, 1e-4),
    ("kv", 1.0, 1e-6), ("kve", 2.0, 1e-3)])
def test_second_derivatives_at_small_arguments_against_mpmath(name, v, x):
    # the closed forms' own derivatives cancelled terms of size 1/x or 1/x^2 here (no correct
    # digit at x = 1e-8, sometimes the wrong sign); mpmath's 2nd derivative at 40 digits
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    fns = {"iv": lambda t: mpmath.besseli(v, t),
           "ive": lambda t: mpmath.besseli(v, t) * mpmath.exp(-t),
           "kv": lambda t: mpmath.besselk(v, t),
           "kve": lambda t: mpmath.besselk(v, t) * mpmath.exp(t),
           "iv_ratio": lambda t: mpmath.besseli(v, t) / mpmath.besseli(v - 1, t)}
    if name == "log_iv_dx":  # its second derivative is the third derivative of log I
        ref = float(mpmath.diff(lambda u: mpmath.log(mpmath.besseli(v, u)), mpmath.mpf(x), 3))
    else:
        ref = float(mpmath.diff(fns[name], mpmath.mpf(x), 2))
    ours = _second(getattr(ft, name), v, x)
    assert ours == pytest.approx(ref, rel=1e-11)


@pytest.mark.parametrize("p,kappa", [(64, 1e-6), (64, 1e-4), (64, 1.0), (64, 40.0), (5, 0.3)])
def test_vmf_mean_resultant_second_derivative_against_mpmath(p, kappa):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    v = mpmath.mpf(p) / 2
    ref = float(mpmath.diff(lambda t: mpmath.besseli(v, t) / mpmath.besseli(v - 1, t),
                            mpmath.mpf(kappa), 2))
    assert _second(ft.vmf_mean_resultant_length, p, kappa) == pytest.approx(ref, rel=1e-11)


def test_vmf_float32_gradient_is_rounded_once_from_float64():
    # the README's KL example: A' cancels terms ~0.5 to ~1e-4 near kappa ~ p (5e-4 off in
    # float32 arithmetic); now float64 inside
    out = {}
    for dt in (torch.float32, torch.float64):
        k = torch.tensor([5e3], dtype=dt, requires_grad=True)
        kl = k * ft.vmf_mean_resultant_length(4096, k) + ft.vmf_log_normalizer(4096, k)
        (out[dt],) = torch.autograd.grad(kl.sum(), k)
        assert out[dt].dtype == dt
    assert out[torch.float32].item() == pytest.approx(out[torch.float64].item(), rel=3e-7)


def test_vmf_under_torch_func():
    k = torch.tensor([0.7, 2.0, 9.0], dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(lambda t: ft.vmf_log_normalizer(5, t))(k),
                               ft.vmf_log_normalizer(5, k), rtol=0, atol=0)
    per_sample = torch.func.vmap(torch.func.grad(lambda t: ft.vmf_log_normalizer(5, t)))(k)
    torch.testing.assert_close(per_sample, -ft.vmf_mean_resultant_length(5, k), rtol=0, atol=0)
    jf = torch.func.jacfwd(lambda t: ft.vmf_mean_resultant_length(5, t))(k)
    jr = torch.func.jacrev(lambda t: ft.vmf_mean_resultant_length(5, t))(k)
    torch.testing.assert_close(jf, jr, rtol=1e-14, atol=0)
    h = torch.func.hessian(lambda t: ft.vmf_log_normalizer(5, t).sum())(k)
    torch.testing.assert_close(h.diagonal(), -jr.diagonal(), rtol=1e-14, atol=0)


def test_forward_mode_in_the_order_is_nan_not_zero():
    x = torch.tensor([0.7, 2.0, 9.0], dtype=torch.float64)
    v = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64)
    J = torch.func.jacfwd(lambda vv: ft.log_iv(vv, x))(v)
    assert torch.isnan(J.diagonal()).all()
    # while the argument's forward derivative is exact (the order's tangent is zero there)
    Jx = torch.func.jacfwd(lambda t: ft.log_iv(v, t))(x)
    np.testing.assert_array_equal(Jx.diagonal().numpy(), special.log_iv_dx(v.numpy(), x.numpy()))


def test_infinite_limits_at_zero():
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(ft.kve(1.5, x).sum(), x)
    assert g.item() == -math.inf  # kve = kv at 0 (was inf - inf = nan)
    (g,) = torch.autograd.grad(ft.kv(1.5, x).sum(), x)
    assert g.item() == -math.inf


def test_vmf_negative_kappa_and_other_devices_are_refused():
    with pytest.raises(ValueError, match="kappa must be >= 0"):
        ft.vmf_mean_resultant_length(3, torch.tensor([-1.0, 2.0]))
    with pytest.raises(TypeError, match="not supported"):
        ft.log_iv(1.0, torch.ones(3, device="meta"))


def test_torch_compile_falls_back_to_a_graph_break():
    x = torch.tensor([0.5, 2.0, 30.0], dtype=torch.float64, requires_grad=True)
    f = lambda t: (ft.log_iv(2.5, t) + ft.vmf_log_normalizer(4, t)).sum()  # noqa: E731
    compiled = torch.compile(f, backend="eager")
    y = compiled(x)
    (g,) = torch.autograd.grad(y, x)
    (gr,) = torch.autograd.grad(f(x), x)
    assert y.item() == f(x).item()
    torch.testing.assert_close(g, gr, rtol=0, atol=0)
