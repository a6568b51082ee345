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
