"""fastspectral.spectral on read-only NumPy inputs (mode_mix and its backward hand X / weight to
the C++ kernels without a copy) against einsum references, and the spectral_conv_cp message for
a wrong factor count."""
from __future__ import annotations

import numpy as np
import pytest

from fastspectral import spectral as S


def _ro(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _c(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("which", ["X", "weight", "both"])
@pytest.mark.parametrize("modes", [(7,), (4, 3), (3, 2, 2)])
def test_mode_mix_read_only(dtype, which, modes):
    rng = np.random.default_rng(41)
    X = _c(rng, (2, 3) + modes, dtype)
    W = _c(rng, (3, 4) + modes, dtype)
    Xa = _ro(X) if which in ("X", "both") else X
    Wa = _ro(W) if which in ("weight", "both") else W
    ref = np.einsum("bi...,io...->bo...", X.astype(np.complex128), W.astype(np.complex128))
    tol = 1e-5 if dtype == np.complex64 else 1e-12
    Y = S.mode_mix(Xa, Wa)
    assert Y.dtype == dtype and Y.flags.writeable
    np.testing.assert_allclose(Y, ref, rtol=tol, atol=tol)
    np.testing.assert_array_equal(S.mode_mix(X, W), Y)
    G = _c(rng, Y.shape, dtype)
    gX, gW = S.mode_mix_backward(_ro(G), Xa, Wa)
    np.testing.assert_allclose(gX, np.einsum("bo...,io...->bi...", G, W.conj()), rtol=tol,
                               atol=tol)
    np.testing.assert_allclose(gW, np.einsum("bi...,bo...->io...", X.conj(), G), rtol=tol,
                               atol=tol)


def test_mode_mix_read_only_strided():
    # a read-only non-contiguous view: mode_mix makes it contiguous, the kernel reads it
    rng = np.random.default_rng(42)
    X = _ro(_c(rng, (2, 3, 10), np.complex128))[:, :, ::2]
    W = _ro(_c(rng, (3, 2, 10), np.complex128))[:, :, 1::2]
    np.testing.assert_allclose(S.mode_mix(X, W), np.einsum("bik,iok->bok", X, W), rtol=1e-12)


def test_spectral_conv_read_only():
    # already worked (the transforms copy); kept so a kernel-level change cannot regress it
    rng = np.random.default_rng(43)
    x = rng.standard_normal((2, 3, 12, 10))
    w = _c(rng, S.weight_shape(3, 2, (5, 4)), np.complex128)
    np.testing.assert_array_equal(S.spectral_conv(_ro(x), _ro(w), (5, 4)),
                                  S.spectral_conv(x, w, (5, 4)))


def _cp(rng, sizes, R):
    return _c(rng, (R,), np.complex128), [_c(rng, (s, R), np.complex128) for s in sizes]


def test_cp_wrong_factor_count_message():
    rng = np.random.default_rng(44)
    x = rng.standard_normal((2, 3, 10, 9))
    modes = (6, 5)
    mode_sizes = list(S.weight_shape(1, 1, modes)[2:])
    lam, facs = _cp(rng, [3, 4] + mode_sizes, 4)
    # one mode factor missing from the dense form: 3 arrays read as the separable form
    with pytest.raises(ValueError) as e:
        S.spectral_conv_cp(x, lam, facs[:3], modes)
    msg = str(e.value)
    assert "4 arrays" in msg and "3 arrays" in msg, msg
    assert "dense" in msg and "separable" in msg, msg
    assert "holds 3 arrays" in msg, msg
    # two missing: neither form
    with pytest.raises(ValueError, match=r"4 arrays .*dense.* 3 arrays .*separable.*got 2"):
        S.spectral_conv_cp(x, lam, facs[:2], modes)
    # five: neither form
    with pytest.raises(ValueError, match="got 5"):
        S.spectral_conv_cp(x, lam, facs + [facs[-1]], modes)
    # a right count with a wrong shape keeps the per-factor message
    with pytest.raises(ValueError, match=r"factors\[3\] \(F_2\) has shape"):
        S.spectral_conv_cp(x, lam, facs[:3] + [facs[3][:2]], modes)
    # and the same through the backward
    with pytest.raises(ValueError, match="4 arrays"):
        S.spectral_conv_cp_backward(np.ones((2, 4, 10, 9)), x, lam, facs[:3], modes)
