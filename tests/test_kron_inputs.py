"""fastspectral.kron on inputs the main tests do not cover: read-only NumPy arrays (np.load with
mmap_mode='r', np.frombuffer, np.asarray of a JAX array), complex Hermitian factors in the
eigendecomposition-based solve / logdet, and the result dtype of float32 solves.  References are
dense numpy products and dense numpy solves."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastspectral.kron import KroneckerOperator, KroneckerSum, kron_matvec, kron_mode_product


def _ro(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _dense(factors):
    K = np.ones((1, 1))
    for f in factors:
        K = np.kron(K, np.eye(f) if isinstance(f, int) else f)
    return K


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("which", ["x", "factor", "both"])
def test_read_only_inputs_matvec(dtype, which):
    rng = np.random.default_rng(11)
    A = rng.standard_normal((3, 4)).astype(dtype)
    B = rng.standard_normal((5, 2)).astype(dtype)
    x = rng.standard_normal((6, 16)).astype(dtype)
    ref = x @ _dense([A, 2, B]).T
    fa = _ro(A) if which in ("factor", "both") else A
    xa = _ro(x) if which in ("x", "both") else x
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    y = kron_matvec([fa, 2, B], xa)
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol)
    # transpose is the plain transpose K^T (no conjugation), also for complex factors
    yt = kron_matvec([fa, 2, B], _ro(y) if which != "factor" else y, transpose=True)
    np.testing.assert_allclose(yt, y @ _dense([A, 2, B]), rtol=rtol * 10, atol=rtol * 10)
    X = xa.reshape(6, 4, 2, 2)
    Y = kron_mode_product([fa, 2, B], X)
    np.testing.assert_allclose(Y.reshape(6, -1), ref, rtol=rtol, atol=rtol)
    # the read-only inputs are left as they were
    np.testing.assert_array_equal(xa, x)


def test_read_only_views_and_buffers():
    rng = np.random.default_rng(12)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(16)
    xb = np.frombuffer(x.tobytes(), dtype=np.float64)  # read-only, owns no data
    assert not xb.flags.writeable
    Ab = np.frombuffer(A.tobytes(), dtype=np.float64).reshape(4, 4)
    np.testing.assert_allclose(kron_matvec([Ab, Ab.T], xb), np.kron(A, A.T) @ x, rtol=1e-12)
    # a strided read-only factor (transposed view) and a non-contiguous read-only x
    xs = _ro(np.stack([x, x], axis=1))[:, 0]
    np.testing.assert_allclose(kron_matvec([_ro(A).T, A], xs), np.kron(A.T, A) @ x, rtol=1e-12)
    # real factors on a read-only complex x run the real kernels on a float view of x
    z = _ro(x + 1j * x[::-1])
    np.testing.assert_allclose(kron_matvec([_ro(A), A], z), np.kron(A, A) @ z, rtol=1e-12)


def test_read_only_out_is_refused_clearly():
    A = np.eye(3)
    x = np.ones((2, 9))
    out = np.empty((2, 9))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        kron_matvec([A, A], x, out=out)
    with pytest.raises(ValueError, match="out is read-only"):
        kron_mode_product([A, A], x.reshape(2, 3, 3), out=out.reshape(2, 3, 3))


def test_read_only_factor_message_is_not_misleading():
    # a read-only array of a dtype the kernels take must not be called "not an array"
    A = _ro(np.eye(3))
    y = kron_matvec([A, 3], _ro(np.arange(9.0)))
    np.testing.assert_array_equal(y, np.arange(9.0))


def test_operators_read_only():
    rng = np.random.default_rng(13)
    M1 = rng.standard_normal((3, 3))
    M2 = rng.standard_normal((4, 4))
    S1, S2 = M1 @ M1.T + 3 * np.eye(3), M2 @ M2.T + 3 * np.eye(4)
    b = rng.standard_normal(12)
    Bm = rng.standard_normal((12, 3))
    K = KroneckerOperator([_ro(S1), _ro(S2)])
    Kd = np.kron(S1, S2)
    np.testing.assert_allclose(K @ _ro(b), Kd @ b, rtol=1e-12)
    np.testing.assert_allclose(K @ _ro(Bm), Kd @ Bm, rtol=1e-12)
    np.testing.assert_allclose(K.solve(_ro(b), shift=0.5),
                               np.linalg.solve(Kd + 0.5 * np.eye(12), b), rtol=1e-10)
    np.testing.assert_allclose(K.solve(_ro(Bm)), np.linalg.solve(Kd, Bm), rtol=1e-10)
    L = KroneckerSum([_ro(S1), _ro(S2)])
    Ld = np.kron(S1, np.eye(4)) + np.kron(np.eye(3), S2)
    np.testing.assert_allclose(L @ _ro(b), Ld @ b, rtol=1e-12)
    np.testing.assert_allclose(L.solve(_ro(Bm), shift=1.0),
                               np.linalg.solve(Ld + np.eye(12), Bm), rtol=1e-10)


def _hermitian(rng, n, pd=True):
    M = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    H = M @ M.conj().T
    return H + n * np.eye(n) if pd else H - 2 * n * np.eye(n)


@pytest.mark.parametrize("shift", [0.0, 0.7])
@pytest.mark.parametrize("bshape", [(24,), (24, 3)])
@pytest.mark.parametrize("bkind", ["real", "complex"])
def test_hermitian_solve_product(shift, bshape, bkind):
    rng = np.random.default_rng(21)
    H1, H2 = _hermitian(rng, 2), _hermitian(rng, 3)
    R = rng.standard_normal((4, 4))
    R = R @ R.T + np.eye(4)
    b = rng.standard_normal(bshape)
    if bkind == "complex":
        b = b + 1j * rng.standard_normal(bshape)
    for facs in ([H1, H2, R], [H1, 3, H2]):
        K = KroneckerOperator(facs)
        Kd = _dense(facs)
        N = Kd.shape[0]
        bb = b[:N] if b.ndim == 1 else b[:N]
        x = K.solve(bb, shift=shift)
        ref = np.linalg.solve(Kd + shift * np.eye(N), bb)
        np.testing.assert_allclose(x, ref, rtol=1e-10, atol=1e-12)


def test_hermitian_solve_audit_case():
    H = np.array([[2, 1j], [-1j, 2]])
    K = KroneckerOperator([H, 2])
    b = np.ones(4)
    np.testing.assert_allclose(K.solve(b), np.linalg.solve(K.to_dense(), b), rtol=1e-12)
    KS = KroneckerSum([H, 2 * np.eye(2)])
    np.testing.assert_allclose(KS.solve(b), np.linalg.solve(KS.to_dense(), b), rtol=1e-12)


@pytest.mark.parametrize("shift", [0.0, 1.3])
@pytest.mark.parametrize("bshape", [(12,), (12, 2)])
def test_hermitian_solve_sum(shift, bshape):
    rng = np.random.default_rng(22)
    H1, H2 = _hermitian(rng, 3), _hermitian(rng, 4)
    b = rng.standard_normal(bshape) + 1j * rng.standard_normal(bshape)
    L = KroneckerSum([H1, H2])
    Ld = np.kron(H1, np.eye(4)) + np.kron(np.eye(3), H2)
    np.testing.assert_allclose(L.solve(b, shift=shift),
                               np.linalg.solve(Ld + shift * np.eye(12), b), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_hermitian_logdet_real_without_warning(shift):
    rng = np.random.default_rng(23)
    H1, H2 = _hermitian(rng, 3), _hermitian(rng, 2)
    K = KroneckerOperator([H1, 2, H2])
    L = KroneckerSum([H1, H2])
    Ld = np.kron(H1, np.eye(2)) + np.kron(np.eye(3), H2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lk = K.logdet(shift)
        ll = L.logdet(shift)
    for got, D in ((lk, K.to_dense()), (ll, Ld)):
        sign, ref = np.linalg.slogdet(D + shift * np.eye(D.shape[0]))
        assert isinstance(got, float)
        assert abs(sign - 1) < 1e-12
        assert abs(got - ref) < 1e-10 * abs(ref) + 1e-12


def test_hermitian_eigh_reconstructs():
    rng = np.random.default_rng(24)
    H1, H2 = _hermitian(rng, 3), _hermitian(rng, 2)
    K = KroneckerOperator([H1, H2])
    w, Q = K.eigh()
    Qd = Q.to_dense()
    wd = w.to_dense()
    assert wd.dtype == np.float64
    np.testing.assert_allclose(Qd @ np.diag(wd) @ Qd.conj().T, K.to_dense(), atol=1e-10)


@pytest.mark.parametrize("fdt,bdt", [(np.float32, np.float32), (np.float32, np.float64),
                                     (np.float64, np.float32), (np.complex64, np.float32),
                                     (np.float32, np.complex64)])
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_solve_keeps_precision(fdt, bdt, shift):
    rng = np.random.default_rng(31)
    M1 = rng.standard_normal((3, 3))
    M2 = rng.standard_normal((4, 4))
    S1 = (M1 @ M1.T + 3 * np.eye(3)).astype(fdt)
    S2 = (M2 @ M2.T + 3 * np.eye(4)).astype(fdt)
    b = rng.standard_normal(12).astype(bdt)
    want = np.result_type(fdt, bdt)
    for op, Kd in ((KroneckerOperator([S1, S2]), np.kron(S1, S2)),
                   (KroneckerOperator([S1, 4]), np.kron(S1, np.eye(4))),
                   (KroneckerSum([S1, S2]),
                    np.kron(S1, np.eye(4)) + np.kron(np.eye(3), S2))):
        x = op.solve(b, shift=shift)
        assert x.dtype == want, (type(op).__name__, x.dtype, want)
        ref = np.linalg.solve(Kd.astype(np.complex128) + shift * np.eye(12), b)
        # float32 factors (or b) limit the accuracy even where the result is float64
        single = np.finfo(fdt).eps > 1e-10 or np.finfo(bdt).eps > 1e-10
        tol = 1e-4 if single else 1e-10
        np.testing.assert_allclose(x, ref, rtol=tol, atol=tol)
        xm = op.solve(np.stack([b, b], axis=1), shift=shift)
        assert xm.dtype == want


def test_eigenvalue_vector_keeps_precision():
    S = np.diag([1.0, 2.0, 3.0]).astype(np.float32)
    w, _ = KroneckerOperator([S, S]).eigh()
    assert w.to_dense().dtype == np.float32
    w, _ = KroneckerOperator([S, 2]).eigh()
    assert w.to_dense().dtype == np.float32
    w, _ = KroneckerSum([S, S]).eigh()
    assert w.to_dense().dtype == np.float32
