"""The low-level spectral bindings keep their kernels inside the arrays whatever Python passes
(the public API validates first; these checks are the last line).  The CPU and CUDA bindings
share them (csrc/bind/spectral_check.hpp); the CUDA side cannot run here."""
import numpy as np
import pytest

from fastspectral import _core


def _idx(*v):
    return np.array(v, dtype=np.int64)


def _arrays(B=2, I=3, O=4, n=(4, 4, 3), dtype=np.complex128):
    src = np.zeros((B, I) + n, dtype)
    W = np.zeros((I, O) + n, dtype)
    dst = np.zeros((B, O) + n, dtype)
    return src, W, dst


def _modes():
    # two kept rows along each leading mode dim, L = 2 along the last
    return dict(w1=_idx(0, 1), s1=_idx(0, 1), d1=_idx(0, 1), w2=_idx(0, 1), s2=_idx(0, 1),
                d2=_idx(0, 1), L=2)


def test_valid_call_runs_and_computes():
    src, W, dst = _arrays()
    rng = np.random.default_rng(0)
    src[...] = rng.standard_normal(src.shape)
    W[...] = rng.standard_normal(W.shape)
    _core.spectral_mix(src, W, dst, **_modes())
    want = np.einsum("bixyz,ioxyz->boxyz", src[:, :, :2, :2, :2], W[:, :, :2, :2, :2])
    np.testing.assert_allclose(dst[:, :, :2, :2, :2], want, rtol=1e-13)
    assert not dst[:, :, 2:].any()


def test_mix_shape_and_precision_errors():
    src, W, dst = _arrays()
    with pytest.raises(ValueError, match="src has the wrong channel count"):
        _core.spectral_mix(src[:, :2].copy(), W, dst, **_modes())
    with pytest.raises(ValueError, match="dst has the wrong batch or channel count"):
        _core.spectral_mix(src, W, dst[:1].copy(), **_modes())
    # the adjoint reads O channels and writes I
    with pytest.raises(ValueError, match="src has the wrong channel count"):
        _core.spectral_mix(src, W, dst, adjoint=True, **_modes())
    with pytest.raises(TypeError, match="src, weight and dst must share one precision"):
        _core.spectral_mix(src, W.astype(np.complex64), dst, **_modes())
    # in-place: the kernel would read src while writing it
    sq, Wq, _ = _arrays(I=3, O=3)
    with pytest.raises(ValueError, match="dst must not overlap the inputs"):
        _core.spectral_mix(sq, Wq, sq, **_modes())


def test_weight_grad_shape_and_precision_errors():
    x, _, g = _arrays()
    gw = np.zeros((3, 4, 4, 4, 3), complex)
    _core.spectral_weight_grad(x, g, gw, **_modes())
    with pytest.raises(ValueError, match="g has the wrong batch size"):
        _core.spectral_weight_grad(x, g[:1].copy(), gw, **_modes())
    with pytest.raises(ValueError, match=r"gw must have shape \(in, out, ...\)"):
        _core.spectral_weight_grad(x, g, gw[:, :3].copy(), **_modes())
    with pytest.raises(TypeError, match="x, g and gw must share one precision"):
        _core.spectral_weight_grad(x, g.astype(np.complex64), gw, **_modes())
    x3 = np.zeros((3, 3, 4, 4, 3), complex)
    with pytest.raises(ValueError, match="gw must not overlap the inputs"):
        _core.spectral_weight_grad(x3, x3.copy(), x3, **_modes())
