"""fastspectral.kron against dense numpy.kron products, a shuffle implementation, and dense
linear algebra; bad input; GPU through the `xp` fixture."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fastspectral import _core
from fastspectral.kron import (KroneckerOperator, KroneckerSum, kron_matvec,
                               kron_mode_product)

from conftest import to_numpy

RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def dense(factors, dtype=np.float64):
    K = np.ones((1, 1), dtype=dtype)
    for f in factors:
        K = np.kron(K, np.eye(f, dtype=dtype) if isinstance(f, int) else to_numpy(f))
    return K


def make(rng, shapes, dtype, xp=np):
    return [s if isinstance(s, int) else xp.asarray(rng.standard_normal(s).astype(dtype))
            for s in shapes]


def shuffle(factors, x):
    """GPyTorch-style reference: per factor a reshape, a GEMM and a transpose copy."""
    B = x.shape[0]
    y = x
    for A in factors[::-1]:
        if isinstance(A, int):
            A = np.eye(A)
        m, n = A.shape
        y = (y.reshape(-1, n) @ A.T).reshape(B, -1, m).transpose(0, 2, 1).copy()
    return y.reshape(B, -1)


def close(got, ref, dtype):
    got = to_numpy(got).astype(np.float64)
    scale = max(np.abs(ref).max(), 1e-300)
    err = np.abs(got - ref).max() / scale
    assert err <= RTOL[dtype] * 10, err


SHAPES = [
    [(3, 4)],
    [(5, 5)],
    [(3, 3), (4, 4)],
    [(2, 5), (4, 3)],
    [(6, 2), 3, (1, 4)],
    [(3, 3), (2, 2), (4, 4)],
    [(4, 2), (2, 4), (3, 3), (2, 3)],
    [2, (3, 2), 2, (2, 2), 3],
    [(2, 2), (3, 2), (2, 3), (2, 2), (3, 3), (2, 2)],
    [(16, 8), (16, 8)],
    [(8, 16), (8, 16)],
    [(9, 9)] * 3,
    [4],
    [(1, 1), (7, 1)],
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_dense(xp, shapes, batch, transpose, dtype):
    rng = np.random.default_rng(len(shapes) * 7 + len(batch))
    fs = make(rng, shapes, dtype, xp)
    K = dense(fs)
    if transpose:
        K = K.T
    x = rng.standard_normal(batch + (K.shape[1],)).astype(dtype)
    y = kron_matvec(fs, xp.asarray(x), transpose=transpose)
    assert y.shape == batch + (K.shape[0],)
    assert y.dtype == dtype
    close(y, x.astype(np.float64) @ K.T, dtype)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 6])
def test_d_and_big_batch(d):
    rng = np.random.default_rng(d)
    fs = make(rng, [(3, 3)] * d, np.float64)
    x = rng.standard_normal((37, 3 ** d))
    close(kron_matvec(fs, x), x @ dense(fs).T, np.float64)


def test_many_factors():
    rng = np.random.default_rng(1)
    fs = make(rng, [(2, 2)] * 16, np.float64)
    x = rng.standard_normal((3, 2 ** 16))
    close(kron_matvec(fs, x), shuffle(fs, x), np.float64)
    fs = make(rng, [(2, 2)] * 20 + [3], np.float64)
    x = rng.standard_normal((1, 3 * 2 ** 20))
    close(kron_matvec(fs, x), shuffle(fs, x), np.float64)


@pytest.mark.parametrize("B,n,d", [(16, 8, 6), (4, 16, 4), (8, 32, 3), (2, 64, 3), (3, 128, 2),
                                   (2, 200, 2), (1, 300, 2), (5, 7, 5)])
def test_large_against_shuffle(B, n, d):
    rng = np.random.default_rng(n)
    fs = make(rng, [(n, n)] * d, np.float64)
    x = rng.standard_normal((B, n ** d))
    close(kron_matvec(fs, x), shuffle(fs, x), np.float64)
    close(kron_matvec(fs, x, transpose=True), shuffle([f.T for f in fs], x), np.float64)


@pytest.mark.parametrize("budget", [0, 4096, 1 << 20])
def test_fusion_budgets_agree(budget):
    old = _core.kron_get_fuse_budget()
    try:
        _core.kron_set_fuse_budget(budget)
        rng = np.random.default_rng(5)
        for shapes in ([(8, 8)] * 5, [(16, 8), (8, 16), 3, (5, 5)], [(20, 30), (30, 20), (7, 7)]):
            fs = make(rng, shapes, np.float64)
            x = rng.standard_normal((9, math.prod(s if isinstance(s, int) else s[1]
                                                  for s in shapes)))
            close(kron_matvec(fs, x), shuffle(fs, x), np.float64)
    finally:
        _core.kron_set_fuse_budget(old)


def test_rectangular_large():
    rng = np.random.default_rng(3)
    fs = make(rng, [(16, 8)] * 4, np.float64)
    x = rng.standard_normal((5, 8 ** 4))
    close(kron_matvec(fs, x), shuffle(fs, x), np.float64)
    close(kron_matvec([f.T for f in fs], shuffle(fs, x)),
          shuffle([f.T for f in fs], shuffle(fs, x)), np.float64)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((5, 7))[:, ::2]       # (5, 4), strided
    Bf = np.asfortranarray(rng.standard_normal((3, 6)))
    x = rng.standard_normal((24 * 2, 6))[::2].T   # (6, 24) non-contiguous
    y = kron_matvec([A, Bf], x)
    close(y, x @ dense([A, Bf]).T, np.float64)
    X = rng.standard_normal((2, 4, 6, 3)).transpose(0, 3, 1, 2)  # (2, 3, 4, 6)
    close(kron_mode_product([A, Bf], X).reshape(2, 3, -1),
          X.reshape(2, 3, -1) @ dense([A, Bf]).T, np.float64)


def test_mode_product_shapes_and_out():
    rng = np.random.default_rng(6)
    fs = make(rng, [(2, 3), 4, (5, 2)], np.float64)
    X = rng.standard_normal((7, 3, 4, 2))
    Y = kron_mode_product(fs, X)
    assert Y.shape == (7, 2, 4, 5)
    ref = np.einsum("ab,cd,xbyd->xayc", fs[0], fs[2], X)
    close(Y, ref, np.float64)
    out = np.empty((7, 40))
    r = kron_matvec(fs, X.reshape(7, -1), out=out)
    assert r is out
    close(out, ref.reshape(7, -1), np.float64)
    out_nc = np.empty((40, 7)).T
    kron_matvec(fs, X.reshape(7, -1), out=out_nc)
    close(out_nc, ref.reshape(7, -1), np.float64)


def test_dtype_promotion():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((3, 3)).astype(np.float32)
    B = rng.standard_normal((2, 2))
    x = np.arange(6, dtype=np.int64)
    y = kron_matvec([A, B], x)
    assert y.dtype == np.float64
    close(y, dense([A.astype(np.float64), B]) @ x, np.float64)
    y32 = kron_matvec([A, 2], x.astype(np.float32))
    assert y32.dtype == np.float32
    Ac = A + 1j * rng.standard_normal((3, 3))
    yc = kron_matvec([Ac, B], x)
    assert yc.dtype == np.complex128
    assert np.allclose(yc, np.kron(Ac, B) @ x)


def test_identity_only():
    x = np.arange(12.0).reshape(2, 6)
    assert np.array_equal(kron_matvec([2, 3], x), x)
    assert kron_matvec([2, 3], x) is not x


@pytest.mark.parametrize("bad,exc,msg", [
    (lambda: kron_matvec([], np.ones(3)), ValueError, "empty"),
    (lambda: kron_matvec([np.ones((2, 2))], np.ones(3)), ValueError, "prod"),
    (lambda: kron_matvec([np.ones(4)], np.ones(4)), ValueError, "2-D"),
    (lambda: kron_matvec([np.ones((2, 2, 2))], np.ones(2)), ValueError, "2-D"),
    (lambda: kron_matvec([np.ones((2, 2))], np.array(["a", "b"])), TypeError, "dtype"),
    (lambda: kron_matvec(np.ones((2, 2)), np.ones(2)), TypeError, "list"),
    (lambda: kron_matvec([-1], np.ones(2)), ValueError, "identity"),
    (lambda: kron_mode_product([np.ones((2, 3))], np.ones((4, 2))), ValueError, "shape"),
    (lambda: kron_matvec([np.ones((2, 2))], np.ones(2), out=np.ones(3)), ValueError, "out"),
    (lambda: KroneckerOperator([]), ValueError, "empty"),
    (lambda: KroneckerOperator([np.ones((2, 3))]).solve(np.ones(2)), ValueError, "square"),
    (lambda: KroneckerSum([np.ones((2, 3))]), ValueError, "square"),
])
def test_bad_input(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        bad()


def test_core_binding_validates():
    x = np.ones((1, 4))
    with pytest.raises(TypeError):
        _core.kron_apply([np.ones((2, 2), np.float32), 2], x, np.ones((1, 4)))
    with pytest.raises(ValueError):
        _core.kron_apply([np.ones((2, 2))], x, np.ones((1, 4)))
    with pytest.raises(ValueError):
        _core.kron_apply([np.ones((2, 2)), 2], x, x)
    with pytest.raises(ValueError):
        _core.kron_apply([], x, np.ones((1, 4)))


def spd(rng, n, dtype=np.float64):
    A = rng.standard_normal((n, n))
    return (A @ A.T / n + 0.5 * np.eye(n)).astype(dtype)


def test_operator_algebra(xp):
    rng = np.random.default_rng(8)
    fs = [xp.asarray(spd(rng, 3)), 2, xp.asarray(spd(rng, 4))]
    K = KroneckerOperator(fs)
    D = dense(fs)
    assert K.shape == (24, 24)
    x = rng.standard_normal(24)
    X = rng.standard_normal((24, 3))
    close(K @ xp.asarray(x), D @ x, np.float64)
    close(K @ xp.asarray(X), D @ X, np.float64)
    close(K.T @ xp.asarray(x), D.T @ x, np.float64)
    close(K.to_dense(), D, np.float64)
    close(K.diagonal(), np.diag(D), np.float64)
    for shift in (0.0, 0.7):
        ref = np.linalg.solve(D + shift * np.eye(24), X)
        close(K.solve(xp.asarray(X), shift=shift), ref, np.float64)
        close(K.solve(xp.asarray(x), shift=shift), ref[:, 0] * 0 + np.linalg.solve(
            D + shift * np.eye(24), x), np.float64)
        assert abs(K.logdet(shift) - np.linalg.slogdet(D + shift * np.eye(24))[1]) < 1e-10
    close(K.inv().to_dense(), np.linalg.inv(D), np.float64)
    w, Q = K.eigh()
    Qd = to_numpy(Q.to_dense())
    close(Qd @ np.diag(to_numpy(w.to_dense())) @ Qd.T, D, np.float64)
    assert len(w) == 24
    close((K @ K.inv()).to_dense(), np.eye(24), np.float64)


def test_rectangular_operator_and_linearoperator():
    from scipy.sparse.linalg import cg
    rng = np.random.default_rng(9)
    fs = [rng.standard_normal((3, 5)), rng.standard_normal((4, 2))]
    K = KroneckerOperator(fs)
    assert K.shape == (12, 10)
    op = K.aslinearoperator()
    x = rng.standard_normal(10)
    close(op.matvec(x), dense(fs) @ x, np.float64)
    close(op.rmatvec(np.ones(12)), dense(fs).T @ np.ones(12), np.float64)
    S = KroneckerOperator([spd(rng, 4), spd(rng, 5)])
    b = rng.standard_normal(20)
    sol, info = cg(S.aslinearoperator(), b, rtol=1e-12, atol=0)
    assert info == 0
    close(sol, S.solve(b), np.float64)


def test_linearoperator_adjoint_is_the_conjugate_transpose():
    # rmatvec / rmatmat used to apply A^T: wrong for complex factors (the Hermitian adjoint is
    # what scipy's LinearOperator.H / rmatvec mean)
    from fastspectral.kron import KroneckerSum
    rng = np.random.default_rng(11)
    fs = [rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4)),
          rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))]
    A = dense(fs)
    op = KroneckerOperator(fs).aslinearoperator()
    y = rng.standard_normal(6) + 1j * rng.standard_normal(6)
    Y = rng.standard_normal((6, 3)) + 1j * rng.standard_normal((6, 3))
    np.testing.assert_allclose(op.rmatvec(y), A.conj().T @ y, rtol=1e-13)
    np.testing.assert_allclose(op.rmatmat(Y), A.conj().T @ Y, rtol=1e-13)
    np.testing.assert_allclose(op.H.matvec(y), A.conj().T @ y, rtol=1e-13)
    sq = [f[:, :f.shape[0]] for f in fs]
    S = KroneckerSum(sq).aslinearoperator()
    Sd = S.matmat(np.eye(6))
    np.testing.assert_allclose(S.rmatvec(y), Sd.conj().T @ y, rtol=1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_factor_refused_by_eigen_methods(bad):
    # eigh returns nan eigenvalues silently for such input; solve/logdet/eigh then gave nan
    from fastspectral.kron import KroneckerSum
    f = np.eye(3)
    f[1, 1] = bad
    for op in (KroneckerOperator([np.eye(2), f]), KroneckerSum([np.eye(2), f])):
        for call in (lambda: op.solve(np.ones(6)), lambda: op.logdet(0.5), op.eigh):
            with pytest.raises(ValueError, match="factor 1 has non-finite entries"):
                call()


def test_inv_of_singular_factor_raises():
    with pytest.raises(np.linalg.LinAlgError):
        KroneckerOperator([np.eye(2), np.zeros((2, 2))]).inv()


def test_logdet_nonsymmetric_unshifted():
    rng = np.random.default_rng(10)
    fs = [rng.standard_normal((3, 3)), rng.standard_normal((4, 4))]
    K = KroneckerOperator(fs)
    assert abs(K.logdet() - np.linalg.slogdet(dense(fs))[1]) < 1e-10


def test_kronecker_sum(xp):
    rng = np.random.default_rng(11)
    n = [3, 4, 2]
    fs = [xp.asarray(spd(rng, k)) for k in n]
    S = KroneckerSum(fs)
    D = sum(dense([to_numpy(f) if j == i else n[j] for j in range(3)]) for i, f in enumerate(fs))
    assert S.shape == (24, 24)
    close(S.to_dense(), D, np.float64)
    close(S.diagonal(), np.diag(D), np.float64)
    X = rng.standard_normal((24, 2))
    close(S @ xp.asarray(X), D @ X, np.float64)
    for shift in (0.0, 1.3):
        close(S.solve(xp.asarray(X), shift=shift), np.linalg.solve(D + shift * np.eye(24), X),
              np.float64)
        assert abs(S.logdet(shift) - np.linalg.slogdet(D + shift * np.eye(24))[1]) < 1e-10


def test_laplacian_poisson():
    m = 15
    D = 2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
    L = KroneckerSum([D, D, D])
    u = np.random.default_rng(12).standard_normal(m ** 3)
    f = L @ u
    close(L.solve(f), u, np.float64)


@pytest.mark.gpu
def test_gpu_mixed_devices_refused():
    import cupy
    with pytest.raises(TypeError, match="device"):
        kron_matvec([np.ones((2, 2))], cupy.ones(2))
    with pytest.raises(TypeError, match="device"):
        kron_matvec([cupy.ones((2, 2))], np.ones(2))


@pytest.mark.gpu
def test_gpu_large_against_cpu():
    import cupy
    rng = np.random.default_rng(13)
    for B, n, d in [(16, 8, 6), (4, 32, 3), (2, 128, 2)]:
        fs = [rng.standard_normal((n, n)) for _ in range(d)]
        x = rng.standard_normal((B, n ** d))
        y = kron_matvec([cupy.asarray(f) for f in fs], cupy.asarray(x))
        close(y, kron_matvec(fs, x), np.float64)


# ---------------------------------------------------------------- the GPU fused-tile algorithm
# kron_tile.hpp holds the per-block phases of the CUDA fused kernel; _core._kron_tile_emulate runs
# them sequentially on the CPU, so its tiling, partial tiles and factor order are checked here.

def _group_reference(factors, x, L, R, transpose):
    dims = [f if isinstance(f, int) else (f.shape[0] if transpose else f.shape[1]) for f in factors]
    X = x.reshape((L,) + tuple(dims) + (R,))
    for a, f in enumerate(factors):
        if isinstance(f, int):
            continue
        A = f.T if transpose else f
        X = np.moveaxis(np.tensordot(A, X, axes=([1], [a + 1])), 0, a + 1)
    return X.reshape(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(12))
def test_tile_algorithm_matches_mode_products(dtype, seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(1, 5))
    factors = []
    for _ in range(k):
        if rng.random() < 0.2:
            factors.append(int(rng.integers(1, 5)))
        else:
            m, n = (int(v) for v in rng.integers(1, 9, size=2))
            A = rng.standard_normal((m, n)).astype(dtype)
            factors.append(A.T.copy().T if rng.random() < 0.3 else A)  # F-ordered sometimes
    transpose = bool(rng.random() < 0.3)
    L, R = int(rng.integers(1, 7)), int(rng.integers(1, 40))
    dims_in = [f if isinstance(f, int) else (f.shape[0] if transpose else f.shape[1]) for f in factors]
    dims_out = [f if isinstance(f, int) else (f.shape[1] if transpose else f.shape[0]) for f in factors]
    x = rng.standard_normal(L * math.prod(dims_in) * R).astype(dtype)
    ref = _group_reference(factors, x.astype(np.float64), L, R, transpose)
    # small targets force many tiles, partial tiles along l and r, and G > 1 when R is small
    # several simulated thread counts: the strided loops' index stepping (Digits3) must cover
    # every element exactly once whatever the stride
    for (target, nthreads), variant in itertools.product(
            ((1, 1), (7, 3), (64, 256), (4096, 1), (4096, 97), (300, 256), (300, 64)), (0, 1)):
        out = np.full(L * math.prod(dims_out) * R, np.nan, dtype=dtype)
        _core._kron_tile_emulate(factors, x, out, L, R, transpose, 1 << 16, target, nthreads,
                                 variant)
        assert np.isfinite(out).all(), "an output element was never written"
        tol = 1e-5 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_tile_algorithm_refuses_what_does_not_fit():
    A = np.ones((8, 8))
    with pytest.raises(ValueError, match="budget"):
        _core._kron_tile_emulate([A, A], np.ones(64), np.empty(64), 1, 1, False, 100, 16)
    with pytest.raises(ValueError, match="sizes"):
        _core._kron_tile_emulate([A], np.ones(65), np.empty(64), 1, 1, False, 1 << 12, 16)
    with pytest.raises(TypeError):
        _core._kron_tile_emulate([A.astype(np.float32)], np.ones(8), np.empty(8), 1, 1, False,
                                 1 << 12, 16)


def _emulated_gpu_matvec(factors, x, transpose=False):
    """The GPU driver (plan + fused groups + GEMM steps) with the CPU twin of the fused kernel."""
    from fastspectral.kron import _FUSE_TILE, _run_plan
    x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1])

    def fused(fac, tr, src, dst, L, R):
        tile = _FUSE_TILE[src.dtype.itemsize]
        _core._kron_tile_emulate(fac, src, dst, L, R, tr, 48 * 1024 // src.dtype.itemsize, tile,
                                 256)
    return _run_plan(np, factors, x2, x.dtype, transpose, fused)


@pytest.mark.parametrize("shapes", [
    [(8, 8)] * 6, [(16, 16)] * 4, [(32, 32)] * 3, [(128, 128)] * 2, [(16, 8)] * 4,
    [(8, 16)] * 3, [(3, 5), 4, (70, 2), (5, 5), 3], [(2, 2)] * 12, [5, (4, 4), 6],
    [(100, 3), (3, 100)], [(1, 9), (9, 1), 2]])
@pytest.mark.parametrize("transpose", [False, True])
def test_gpu_driver_logic_on_cpu(shapes, transpose):
    from fastspectral.kron import gpu_plan
    rng = np.random.default_rng(21)
    factors = [s if isinstance(s, int) else rng.standard_normal(s) for s in shapes]
    tshapes = [(s, s) if isinstance(s, int) else (s[::-1] if transpose else s) for s in shapes]
    n_in = math.prod(n for _, n in tshapes)
    x = rng.standard_normal((3, n_in))
    got = _emulated_gpu_matvec(factors, x, transpose)
    ref = kron_matvec(factors, x, transpose=transpose)
    close(got, ref, np.float64)
    steps = gpu_plan(tshapes, [isinstance(s, int) for s in shapes], 8)
    covered = sorted(a for _, axes in steps for a in axes)
    # every non-identity axis is applied exactly once; groups are runs of consecutive axes
    assert [a for a in covered if not isinstance(shapes[a], int)] == \
        [a for a in range(len(shapes)) if not isinstance(shapes[a], int)]
    for kind, axes in steps:
        assert axes == list(range(axes[0], axes[-1] + 1))
    if shapes == [(8, 8)] * 6:
        assert len(steps) == 2  # 8^6: two fused passes (8^3 per tile row), not six


@pytest.mark.parametrize("cdtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("transpose", [False, True])
def test_complex_x_real_factors(xp, cdtype, transpose):
    rng = np.random.default_rng(31)
    fs = [rng.standard_normal((3, 4)), 2, rng.standard_normal((5, 2))]
    tshapes = [(4, 3), (2, 2), (2, 5)] if transpose else [(3, 4), (2, 2), (5, 2)]
    n_in = math.prod(n for _, n in tshapes)
    x = (rng.standard_normal((2, 3, n_in)) + 1j * rng.standard_normal((2, 3, n_in))).astype(cdtype)
    rdt = np.float32 if cdtype == np.complex64 else np.float64
    fx = [f if isinstance(f, int) else xp.asarray(f.astype(rdt)) for f in fs]
    y = kron_matvec(fx, xp.asarray(x), transpose=transpose)
    assert y.dtype == cdtype and y.shape == (2, 3, math.prod(m for m, _ in tshapes))
    D = dense([f.astype(rdt) if not isinstance(f, int) else f for f in fs])
    D = D.T if transpose else D
    ref = x.astype(np.complex128) @ D.T
    tol = 1e-5 if cdtype == np.complex64 else 1e-13
    np.testing.assert_allclose(to_numpy(y), ref, rtol=tol, atol=tol * np.abs(ref).max())
