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


def test_torch_func_transforms():
    g = torch.Generator().manual_seed(2)
    A = torch.randn(3, 3, dtype=torch.float64, generator=g)
    B = torch.randn(2, 4, dtype=torch.float64, generator=g)
    x = torch.randn(5, 12, dtype=torch.float64, generator=g)

    def ours(A, B, x):
        return ft.kron_matvec([A, B], x).square().sum()

    def dense(A, B, x):
        return (x @ torch.kron(A, B).mT).square().sum()

    for a, b in zip(torch.func.grad(ours, argnums=(0, 1, 2))(A, B, x),
                    torch.func.grad(dense, argnums=(0, 1, 2))(A, B, x)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    J = torch.func.jacrev(lambda v: ft.kron_matvec([A, B], v))(x[0])
    torch.testing.assert_close(J, torch.kron(A, B), rtol=0, atol=0)
    # vmap over x (the batch axes of the product) and over a factor (a loop)
    torch.testing.assert_close(torch.func.vmap(lambda v: ft.kron_matvec([A, B], v))(x),
                               ft.kron_matvec([A, B], x), rtol=0, atol=0)
    As = torch.randn(4, 3, 3, dtype=torch.float64, generator=g)
    batched = torch.func.vmap(lambda a: ft.kron_matvec([a, B], x))(As)
    for i in range(4):
        torch.testing.assert_close(batched[i], ft.kron_matvec([As[i], B], x), rtol=0, atol=0)


# --------------------------------------------------------------------------- KroneckerOperator

def _spd(n, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, dtype=dtype, generator=g)
    return (a @ a.mH / n + 0.5 * torch.eye(n, dtype=dtype)).requires_grad_()


@pytest.mark.parametrize("shift", [0.0, 0.3, "tensor"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_operator_solve_logdet_match_dense_with_gradients(shift, dtype):
    A, B = _spd(4, 1, dtype), _spd(3, 2, dtype)
    s = torch.tensor(0.3, dtype=torch.float64, requires_grad=True) if shift == "tensor" else shift
    K = ft.KroneckerOperator([A, 2, B])
    N = 24
    b = torch.randn(N, 2, dtype=dtype, generator=torch.Generator().manual_seed(3))
    D = K.to_dense()
    torch.testing.assert_close(D, torch.kron(torch.kron(A, torch.eye(2, dtype=dtype)), B))
    Ds = D + s * torch.eye(N, dtype=dtype)
    x = K.solve(b, shift=s)
    torch.testing.assert_close(x, torch.linalg.solve(Ds, b), rtol=1e-11, atol=1e-12)
    ld = K.logdet(shift=s)
    assert ld.dim() == 0
    torch.testing.assert_close(ld, torch.linalg.slogdet(Ds)[1], rtol=1e-12, atol=1e-12)
    # gradients of a GP-style objective against the dense computation
    leaves = [A, B] + ([s] if shift == "tensor" else [])
    obj = (b.conj() * x).real.sum() + ld
    ref = (b.conj() * torch.linalg.solve(Ds, b)).real.sum() + torch.linalg.slogdet(Ds)[1]
    for g1, g2 in zip(torch.autograd.grad(obj, leaves), torch.autograd.grad(ref, leaves)):
        torch.testing.assert_close(g1, g2, rtol=1e-9, atol=1e-10)


def test_operator_products_diagonal_eigh_inv():
    A = torch.randn(3, 4, dtype=torch.float64)
    B = torch.randn(2, 2, dtype=torch.float64)
    K = ft.KroneckerOperator([A, B])
    assert K.shape == (6, 8)
    v = torch.randn(8, dtype=torch.float64)
    torch.testing.assert_close(K @ v, K.to_dense() @ v)
    V = torch.randn(8, 3, dtype=torch.float64)
    torch.testing.assert_close(K @ V, K.to_dense() @ V)
    torch.testing.assert_close(K.T.to_dense(), K.to_dense().mT)
    C = torch.randn(4, 2, dtype=torch.float64)
    P = K @ ft.KroneckerOperator([C, 2])
    torch.testing.assert_close(P.to_dense(), K.to_dense() @ torch.kron(C, torch.eye(2,
                                                                         dtype=torch.float64)))
    S = ft.KroneckerOperator([_spd(3, 4).detach(), 2, _spd(2, 5).detach()])
    torch.testing.assert_close(S.diagonal(), torch.diagonal(S.to_dense()))
    w, Q = S.eigh()
    torch.testing.assert_close(Q.to_dense() @ torch.diag(w) @ Q.to_dense().mT, S.to_dense())
    torch.testing.assert_close(S.inv().to_dense(), torch.linalg.inv(S.to_dense()))


def test_operator_gp_marginal_likelihood_gradient_matches_dense():
    t = torch.linspace(0, 1, 12, dtype=torch.float64)
    ell = torch.tensor(0.25, dtype=torch.float64, requires_grad=True)

    def kern():
        return torch.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell ** 2)

    y = (torch.sin(6 * t)[:, None] * torch.cos(4 * t)[None, :]).flatten()
    K = ft.KroneckerOperator([kern(), kern()])
    nll = 0.5 * y @ K.solve(y, shift=1e-2) + 0.5 * K.logdet(shift=1e-2)
    (g,) = torch.autograd.grad(nll, ell)
    Kd = torch.kron(kern(), kern()) + 1e-2 * torch.eye(144, dtype=torch.float64)
    ref = 0.5 * y @ torch.linalg.solve(Kd, y) + 0.5 * torch.linalg.slogdet(Kd)[1]
    (gr,) = torch.autograd.grad(ref, ell)
    torch.testing.assert_close(nll, ref, rtol=1e-11, atol=0)
    torch.testing.assert_close(g, gr, rtol=1e-8, atol=0)


def test_operator_bad_input():
    with pytest.raises(ValueError, match="empty"):
        ft.KroneckerOperator([])
    with pytest.raises(TypeError, match="list or tuple"):
        ft.KroneckerOperator(torch.eye(2))
    with pytest.raises(ValueError, match="factor 0 must be a 2-D tensor"):
        ft.KroneckerOperator([torch.ones(3)])
    with pytest.raises(ValueError, match=">= 1"):
        ft.KroneckerOperator([0])
    K = ft.KroneckerOperator([torch.randn(2, 3, dtype=torch.float64)])
    with pytest.raises(ValueError, match="square factors; factor 0 is 2 x 3"):
        K.solve(torch.ones(2, dtype=torch.float64))
    S = ft.KroneckerOperator([torch.eye(2, dtype=torch.float64), 3])
    with pytest.raises(ValueError, match=r"expected a vector \(6,\)"):
        S.solve(torch.ones(5, dtype=torch.float64), shift=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        ft.KroneckerOperator([torch.full((2, 2), float("nan"))]).logdet(shift=1.0)
    with pytest.raises(TypeError, match="different devices"):
        ft.KroneckerOperator([torch.eye(2), torch.eye(2, device="meta")])


@pytest.mark.gpu
def test_cuda_operator_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    A, B = _spd(5, 11), _spd(4, 12)
    b = torch.randn(20, dtype=torch.float64)
    K = ft.KroneckerOperator([A, B])
    obj = b @ K.solve(b, shift=0.1) + K.logdet(shift=0.1)
    grads = torch.autograd.grad(obj, [A, B])
    Ac, Bc = (t.detach().cuda().requires_grad_() for t in (A, B))
    Kc = ft.KroneckerOperator([Ac, Bc])
    objc = b.cuda() @ Kc.solve(b.cuda(), shift=0.1) + Kc.logdet(shift=0.1)
    gc = torch.autograd.grad(objc, [Ac, Bc])
    torch.testing.assert_close(objc.cpu(), obj.detach(), rtol=1e-11, atol=0)
    for a, g in zip(gc, grads):
        torch.testing.assert_close(a.cpu(), g, rtol=1e-9, atol=1e-12)


def test_operator_refuses_what_it_would_get_wrong():
    A, B = _spd(4, 21).detach(), _spd(3, 22).detach()
    K = ft.KroneckerOperator([A, B])
    b = torch.randn(12, dtype=torch.float64)
    s = torch.rand(12, dtype=torch.float64) + 0.1
    with pytest.raises(ValueError, match="one-element tensor"):
        K.solve(b, shift=s)  # K + diag(s) has no Kronecker structure
    with pytest.raises(ValueError, match="one-element tensor"):
        K.logdet(shift=s[:, None])
    with pytest.raises(TypeError, match="shift must be a number"):
        K.solve(b, shift="0.1")
    C = torch.randn(3, 3, dtype=torch.float64) + 3 * torch.eye(3, dtype=torch.float64)
    Kn = ft.KroneckerOperator([A, C])  # not symmetric: eigh would read one triangle
    with pytest.raises(ValueError, match="not symmetric"):
        Kn.solve(b, shift=1e-12)
    # a zero shift given as a tensor takes the exact path that works for any factors
    D = torch.kron(A, C)
    torch.testing.assert_close(Kn.solve(b, shift=torch.tensor(0.0, dtype=torch.float64)),
                               torch.linalg.solve(D, b), rtol=1e-12, atol=1e-13)
    # a one-element shift tensor (with a gradient) is fine
    st = torch.tensor([0.2], dtype=torch.float64, requires_grad=True)
    ld = K.logdet(shift=st)
    (g,) = torch.autograd.grad(ld, st)
    torch.testing.assert_close(g.reshape(()), torch.trace(torch.linalg.inv(
        torch.kron(A, B) + 0.2 * torch.eye(12, dtype=torch.float64))), rtol=1e-12, atol=0)


def test_operator_integer_factors_mixed_dtypes_and_devices():
    K = ft.KroneckerOperator([torch.eye(2, dtype=torch.long) * 2, 3])
    assert K.dtype == torch.get_default_dtype()
    assert K.logdet().item() == pytest.approx(6 * np.log(2))
    assert K.solve(torch.ones(6), shift=1.0).dtype == torch.get_default_dtype()
    A = torch.randn(2, 2, dtype=torch.float64)
    P = ft.KroneckerOperator([A.float(), 2]) @ ft.KroneckerOperator([A, 2])
    assert P.dtype == torch.float64
    with pytest.raises(TypeError, match="not supported"):
        ft.kron_matvec([2], torch.ones(2, device="meta"))


def test_operator_and_products_under_torch_compile_and_vmap():
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    y = torch.sin(3 * t)[:, None] * torch.cos(2 * t)[None, :]

    def nll(ell):
        k = torch.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell ** 2)
        K = ft.KroneckerOperator([k, k])
        return 0.5 * y.flatten() @ K.solve(y.flatten(), shift=0.1) + 0.5 * K.logdet(shift=0.1)

    ells = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    batched = torch.func.vmap(nll)(ells)
    torch.testing.assert_close(batched, torch.stack([nll(e) for e in ells]), rtol=1e-13, atol=0)
    grads = torch.func.vmap(torch.func.grad(nll))(ells)
    for e, g in zip(ells, grads):
        torch.testing.assert_close(g, torch.func.grad(nll)(e), rtol=1e-12, atol=0)
    A = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    f = lambda a: ft.kron_matvec([a, 2], torch.ones(4, 6, dtype=torch.float64)).square().sum()  # noqa: E731
    torch.testing.assert_close(torch.compile(f, backend="eager")(A), f(A), rtol=0, atol=0)
    torch.testing.assert_close(torch.compile(nll, backend="eager")(ells[0]), nll(ells[0]),
                               rtol=0, atol=0)


def test_forward_mode_and_hessians():
    g = torch.Generator().manual_seed(8)
    A = torch.randn(3, 3, dtype=torch.float64, generator=g)
    B = torch.randn(2, 4, dtype=torch.float64, generator=g)
    x = torch.randn(5, 12, dtype=torch.float64, generator=g)
    jf = torch.func.jacfwd(lambda a: ft.kron_matvec([a, B], x))(A)
    jr = torch.func.jacrev(lambda a: ft.kron_matvec([a, B], x))(A)
    torch.testing.assert_close(jf, jr, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(torch.func.jacfwd(lambda v: ft.kron_matvec([A, B], v))(x[0]),
                               torch.kron(A, B), rtol=0, atol=0)
    h = torch.func.hessian(lambda a: ft.kron_matvec([a, 2, B], torch.cat([x, x], 1)).square().sum())(A)
    hd = torch.func.hessian(lambda a: (torch.cat([x, x], 1) @ torch.kron(torch.kron(
        a, torch.eye(2, dtype=torch.float64)), B).mT).square().sum())(A)
    torch.testing.assert_close(h, hd, rtol=1e-12, atol=1e-11)


def test_operator_likelihood_hessian_matches_dense():
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    y = (torch.sin(3 * t)[:, None] * torch.cos(2 * t)[None, :]).flatten()

    def kern(ell):
        return torch.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell ** 2)

    def nll(ell):
        K = ft.KroneckerOperator([kern(ell), kern(ell)])
        return 0.5 * y @ K.solve(y, shift=0.1) + 0.5 * K.logdet(shift=0.1)

    def dense(ell):
        D = torch.kron(kern(ell), kern(ell)) + 0.1 * torch.eye(36, dtype=torch.float64)
        return 0.5 * y @ torch.linalg.solve(D, y) + 0.5 * torch.linalg.slogdet(D)[1]

    e = torch.tensor(0.3, dtype=torch.float64)
    torch.testing.assert_close(torch.func.hessian(nll)(e), torch.func.hessian(dense)(e),
                               rtol=1e-9, atol=0)


def test_operator_accepts_numpy_scalar_shifts():
    A = _spd(3, 31).detach()
    K = ft.KroneckerOperator([A, 2])
    ref = K.logdet(shift=0.1)
    for s in (np.float32(0.1), np.float64(0.1), np.array(0.1)):
        torch.testing.assert_close(K.logdet(shift=s), ref, rtol=1e-6, atol=0)
    torch.testing.assert_close(K.logdet(shift=np.int64(0)), K.logdet(), rtol=0, atol=0)
    with pytest.raises(TypeError, match="shift must be a number"):
        K.logdet(shift=np.True_)
