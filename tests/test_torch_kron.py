"""fastspectral.torch.kron_matvec / kron_mode_product: values against dense torch.kron
products, gradients in x and every factor against the dense product's autograd and finite
differences (first and second order), dtypes, identities, batches and bad input."""
from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastspectral.torch as ft  # noqa: E402

# (factor shapes; an int is an identity), batch shape
CASES = [
    ([(3, 3)], ()),
    ([(3, 4), (2, 5)], (2,)),
    ([(4, 4), 3, (2, 3)], (2, 3)),
    ([2, (5, 3), (3, 3), 2], ()),
    ([(2, 2), (3, 2), (2, 3), (2, 2), (3, 3)], (1,)),
]


def _make(shapes, batch, dtype, transpose, seed=0):
    g = torch.Generator().manual_seed(seed)
    factors = [s if isinstance(s, int) else
               torch.randn(*s, generator=g, dtype=dtype).requires_grad_() for s in shapes]
    n = 1
    for s in shapes:
        n *= s if isinstance(s, int) else (s[0] if transpose else s[1])
    x = torch.randn(*batch, n, generator=g, dtype=dtype).requires_grad_()
    return factors, x


def _dense(factors, dtype):
    mats = [torch.eye(f, dtype=dtype) if isinstance(f, int) else f for f in factors]
    return functools.reduce(torch.kron, mats)


@pytest.mark.parametrize("shapes,batch", CASES)
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.complex128])
def test_value_and_gradients_match_the_dense_product(shapes, batch, transpose, dtype):
    factors, x = _make(shapes, batch, dtype, transpose)
    y = ft.kron_matvec(factors, x, transpose=transpose)
    K = _dense(factors, dtype)
    ref = x @ (K if transpose else K.mT)  # rows of x are the vectors
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(y, ref, rtol=tol, atol=tol)
    g = torch.randn(y.shape, dtype=dtype, generator=torch.Generator().manual_seed(5))
    leaves = [x] + [f for f in factors if not isinstance(f, int)]
    ours = torch.autograd.grad(y, leaves, g)
    theirs = torch.autograd.grad(ref, leaves, g)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("transpose", [False, True])
def test_first_and_second_order_finite_differences(transpose):
    factors, x = _make([(3, 2), 2, (2, 3)], (2,), torch.float64, transpose, seed=3)
    A, B = factors[0], factors[2]

    def f(A, B, x):
        return ft.kron_matvec([A, 2, B], x, transpose=transpose)

    assert torch.autograd.gradcheck(f, (A, B, x))
    assert torch.autograd.gradgradcheck(f, (A, B, x))


def test_mode_product_keeps_grids_shaped_and_matches_matvec():
    factors, x = _make([(4, 3), (2, 5)], (6,), torch.float64, False, seed=1)
    X = x.detach().reshape(6, 3, 5).requires_grad_()
    Y = ft.kron_mode_product(factors, X)
    assert Y.shape == (6, 4, 2)
    torch.testing.assert_close(Y.reshape(6, 8), ft.kron_matvec(factors, X.reshape(6, 15)))
    Yt = ft.kron_mode_product(factors, torch.randn(6, 4, 2, dtype=torch.float64), transpose=True)
    assert Yt.shape == (6, 3, 5)
    (gX,) = torch.autograd.grad(Y.sum(), X)
    assert gX.shape == X.shape


def test_dtype_promotion_and_gradients_reach_the_original_leaves():
    A = torch.randn(3, 3, dtype=torch.float32, requires_grad=True)
    x = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    y = ft.kron_matvec([A, 2], x)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert A.grad.dtype == torch.float32 and x.grad.dtype == torch.float64
    # a real factor applied to a complex vector: the factor's gradient is real (torch's rule)
    Ar = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    xc = torch.randn(4, dtype=torch.complex128)
    ft.kron_matvec([Ar, 2], xc).abs().sum().backward()
    assert Ar.grad.dtype == torch.float64
    assert ft.kron_matvec([2], torch.arange(2)).dtype == torch.get_default_dtype()


def test_non_contiguous_inputs():
    A = torch.randn(5, 4, dtype=torch.float64).mT  # (4, 5), non-contiguous
    x = torch.randn(10, 3, dtype=torch.float64).mT  # (3, 10) rows non-contiguous
    y = ft.kron_matvec([A, 2], x)
    K = torch.kron(A.contiguous(), torch.eye(2, dtype=torch.float64))  # torch.kron needs it
    torch.testing.assert_close(y, x @ K.mT)


def test_bad_input():
    A = torch.randn(3, 3)
    with pytest.raises(ValueError, match="last axis must have length 6"):
        ft.kron_matvec([A, 2], torch.randn(5))
    with pytest.raises(ValueError, match="must be 2-D"):
        ft.kron_matvec([torch.randn(3)], torch.randn(3))
    with pytest.raises(ValueError, match="empty"):
        ft.kron_matvec([], torch.randn(3))
    with pytest.raises(TypeError, match="factors must be a list"):
        ft.kron_matvec(A, torch.randn(3))
    with pytest.raises(TypeError, match=r"factors\[1\] must be a 2-D tensor or an int"):
        ft.kron_matvec([A, np.eye(2)], torch.randn(6))
    with pytest.raises(TypeError, match="x must be a tensor"):
        ft.kron_matvec([A], np.ones(3))
    with pytest.raises(TypeError, match="on one device"):
        ft.kron_matvec([torch.randn(3, 3, device="meta")], torch.randn(3))
    with pytest.raises(TypeError, match="float16"):
        ft.kron_matvec([A.half()], torch.randn(3).half())
    with pytest.raises(ValueError, match=r"last 2 axes must be \(3, 2\)"):
        ft.kron_mode_product([A, 2], torch.randn(4, 2, 3))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_tensors_match_cpu(dtype):
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    factors, x = _make([(8, 8), 3, (16, 12)], (5,), dtype, False, seed=9)
    y = ft.kron_matvec(factors, x)
    leaves = [x, factors[0], factors[2]]
    grads = torch.autograd.grad(y.square().sum(), leaves)
    fc = [f if isinstance(f, int) else f.detach().cuda().requires_grad_() for f in factors]
    xc = x.detach().cuda().requires_grad_()
    yc = ft.kron_matvec(fc, xc)
    gc = torch.autograd.grad(yc.square().sum(), [xc, fc[0], fc[2]])
    tol = 1e-4 if dtype == torch.float32 else 1e-11
    torch.testing.assert_close(yc.cpu(), y.detach(), rtol=tol, atol=tol)
    for a, b in zip(gc, grads):
        assert a.device.type == "cuda"
        torch.testing.assert_close(a.cpu(), b, rtol=tol, atol=tol)
