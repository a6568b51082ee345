"""fastspectral.spectral against plain NumPy references written here (rfftn, fftshift, slice,
einsum, irfftn), adjoint identities for the gradients, torch autograd when torch is present, and
bad input."""
from __future__ import annotations

import numpy as np
import pytest

from fastspectral.spectral import spectral_conv, spectral_conv_backward, weight_shape


def reference(x, w, n_modes, output_shape=None, norm="forward", bias=None):
    """Centred block after fftshift in the non-last dims, first m//2+1 in the last, einsum,
    placed at its own frequencies in an output-sized shifted spectrum, ifftshift, irfftn."""
    d = x.ndim - 2
    axes = tuple(range(2, 2 + d))
    n_in = x.shape[2:]
    n_out = tuple(output_shape) if output_shape is not None else n_in
    X = np.fft.fftshift(np.fft.rfftn(x, axes=axes, norm=norm), axes=axes[:-1])
    src = [slice(None), slice(None)]
    wsl = [slice(None), slice(None)]
    dst = [slice(None), slice(None)]
    for j in range(d - 1):
        m = n_modes[j]
        lo = max(-(m // 2), -(n_out[j] // 2))          # kept frequency range, clipped to the
        hi = min(m - m // 2 - 1, (n_out[j] - 1) // 2)  # frequencies the output can hold
        src.append(slice(lo + n_in[j] // 2, hi + 1 + n_in[j] // 2))
        wsl.append(slice(lo + m // 2, hi + 1 + m // 2))
        dst.append(slice(lo + n_out[j] // 2, hi + 1 + n_out[j] // 2))
    L = min(n_modes[-1] // 2 + 1, n_out[-1] // 2 + 1)
    src.append(slice(0, L)); wsl.append(slice(0, L)); dst.append(slice(0, L))
    Y = np.zeros((x.shape[0], w.shape[1], *n_out[:-1], n_out[-1] // 2 + 1), X.dtype)
    Y[tuple(dst)] = np.einsum("bi...,io...->bo...", X[tuple(src)], w[tuple(wsl)])
    y = np.fft.irfftn(np.fft.ifftshift(Y, axes=axes[:-1]), s=n_out, axes=axes, norm=norm)
    if bias is not None:
        y = y + bias.reshape((-1,) + (1,) * d)
    return y


def neuraloperator_algorithm(x, w, n_modes):
    """neuraloperator 2.0's forward (fftshift before AND after, input-sized spectrum)."""
    d = x.ndim - 2
    axes = tuple(range(2, 2 + d))
    X = np.fft.fftshift(np.fft.rfftn(x, axes=axes, norm="forward"), axes=axes[:-1])
    sl = [slice(None), slice(None)]
    for j in range(d - 1):
        c, m = x.shape[2 + j] // 2, n_modes[j]
        sl.append(slice(c - m // 2, c + m - m // 2))
    sl.append(slice(0, w.shape[-1]))
    out = np.zeros((x.shape[0], w.shape[1]) + X.shape[2:], X.dtype)
    out[tuple(sl)] = np.einsum("bi...,io...->bo...", X[tuple(sl)], w)
    out = np.fft.fftshift(out, axes=axes[:-1])
    return np.fft.irfftn(out, s=x.shape[2:], axes=axes, norm="forward")


def make(rng, B, I, O, shape, modes, dtype=np.float64):
    cd = np.complex64 if dtype == np.float32 else np.complex128
    x = rng.standard_normal((B, I, *shape)).astype(dtype)
    ws = weight_shape(I, O, modes)
    w = (rng.standard_normal(ws) + 1j * rng.standard_normal(ws)).astype(cd)
    return x, w


CASES = [
    # (batch, in, out, spatial shape, n_modes, output_shape)
    (3, 4, 5, (32,), (12,), None),
    (2, 3, 2, (33,), (33,), None),              # odd, all modes kept
    (1, 1, 1, (16,), (16,), (40,)),             # batch 1, channels 1, upsample
    (2, 3, 4, (31,), (10,), (12,)),             # downsample
    (2, 3, 4, (16, 18), (8, 10), None),
    (2, 3, 3, (15, 17), (15, 17), None),        # odd, all modes kept
    (1, 2, 3, (12, 16), (12, 16), (20, 9)),     # all modes, larger then smaller
    (2, 3, 2, (13, 10), (7, 6), (8, 25)),
    (2, 2, 3, (8, 10, 12), (4, 6, 8), None),
    (1, 2, 2, (7, 9, 5), (7, 9, 5), None),      # odd, all modes kept
    (2, 1, 2, (8, 6, 10), (5, 4, 6), (11, 4, 16)),
]


@pytest.mark.parametrize("B,I,O,shape,modes,out", CASES)
@pytest.mark.parametrize("norm", ["forward", "ortho"])
def test_forward_matches_reference(B, I, O, shape, modes, out, norm):
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    x, w = make(rng, B, I, O, shape, modes)
    bias = rng.standard_normal((O,) + (1,) * len(shape))
    got = spectral_conv(x, w, modes, output_shape=out, norm=norm, bias=bias)
    ref = reference(x, w, modes, out, norm, bias)
    assert got.shape == ref.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("B,I,O,shape,modes,out", CASES[:9:2])
def test_forward_float32(B, I, O, shape, modes, out):
    rng = np.random.default_rng(7)
    x, w = make(rng, B, I, O, shape, modes, np.float32)
    got = spectral_conv(x, w, modes, output_shape=out, norm="backward")
    assert got.dtype == np.float32
    ref = reference(x.astype(np.float64), w.astype(np.complex128), modes, out, "backward")
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6 * np.abs(ref).max())


@pytest.mark.parametrize("shape,modes", [((32,), (10,)), ((16, 20), (8, 12)),
                                         ((8, 8, 10), (4, 6, 6))])
def test_even_sizes_match_neuraloperator(shape, modes):
    x, w = make(np.random.default_rng(3), 2, 3, 4, shape, modes)
    np.testing.assert_allclose(spectral_conv(x, w, modes), neuraloperator_algorithm(x, w, modes),
                               atol=1e-13)


@pytest.mark.parametrize("shape", [(17,), (15, 17), (7, 9, 5)])
def test_identity_weights_all_modes_odd(shape):
    """All modes kept with identity weights reproduces the input, also on odd grids (where
    neuraloperator's fftshift/fftshift misplaces modes)."""
    x = np.random.default_rng(4).standard_normal((2, 3, *shape))
    w = np.zeros(weight_shape(3, 3, shape), complex)
    w[np.arange(3), np.arange(3)] = 1
    np.testing.assert_allclose(spectral_conv(x, w, shape), x, atol=1e-13)
    if len(shape) > 1:
        assert np.abs(neuraloperator_algorithm(x, w, shape) - x).max() > 1e-3


# --------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("B,I,O,shape,modes,out", CASES)
@pytest.mark.parametrize("norm", ["forward", "backward"])
def test_backward_adjoint_identity(B, I, O, shape, modes, out, norm):
    """y is linear in x and real-linear in W, so <grad, direction> must equal the directional
    change of L = <g, y> exactly (a finite difference with no truncation error)."""
    rng = np.random.default_rng(11)
    x, w = make(rng, B, I, O, shape, modes)
    bias = rng.standard_normal(O)
    y = spectral_conv(x, w, modes, output_shape=out, norm=norm)
    g = rng.standard_normal(y.shape)
    gx, gw, gb = spectral_conv_backward(g, x, w, modes, output_shape=out, norm=norm, bias=bias)
    dx, dw = make(rng, B, I, O, shape, modes)
    lhs_x = np.sum(g * spectral_conv(dx, w, modes, output_shape=out, norm=norm))
    lhs_w = np.sum(g * spectral_conv(x, dw, modes, output_shape=out, norm=norm))
    rhs_x = np.sum(gx * dx)
    rhs_w = np.sum(gw.real * dw.real + gw.imag * dw.imag)
    assert abs(lhs_x - rhs_x) <= 1e-12 * max(1.0, np.abs(gx).sum() * np.abs(dx).max())
    assert abs(lhs_w - rhs_w) <= 1e-12 * max(1.0, np.abs(gw).sum() * np.abs(dw).max())
    np.testing.assert_allclose(gb, g.sum(axis=(0, *range(2, g.ndim))), rtol=1e-13)


def test_backward_central_difference():
    """A nonlinear loss, central differences along random directions, float64."""
    rng = np.random.default_rng(12)
    shape, modes = (9, 10), (5, 6)
    x, w = make(rng, 2, 2, 3, shape, modes)
    bias = rng.standard_normal((3, 1, 1))

    def loss(x, w, b):
        return np.sum(np.sin(spectral_conv(x, w, modes, bias=b, output_shape=(12, 7))))

    y = spectral_conv(x, w, modes, bias=bias, output_shape=(12, 7))
    gx, gw, gb = spectral_conv_backward(np.cos(y), x, w, modes, bias=bias, output_shape=(12, 7))
    dx, dw = make(rng, 2, 2, 3, shape, modes)
    db = rng.standard_normal(bias.shape)
    h = 1e-5
    fd = (loss(x + h * dx, w + h * dw, bias + h * db)
          - loss(x - h * dx, w - h * dw, bias - h * db)) / (2 * h)
    an = np.sum(gx * dx) + np.sum(gw.real * dw.real + gw.imag * dw.imag) + np.sum(gb * db)
    assert gb.shape == bias.shape
    assert abs(fd - an) <= 1e-8 * abs(an)


def test_backward_float32():
    rng = np.random.default_rng(13)
    x, w = make(rng, 2, 3, 4, (16, 12), (8, 8), np.float32)
    g = rng.standard_normal((2, 4, 16, 12)).astype(np.float32)
    gx, gw, _ = spectral_conv_backward(g, x, w, (8, 8))
    gx64, gw64, _ = spectral_conv_backward(g.astype(np.float64), x.astype(np.float64),
                                           w.astype(np.complex128), (8, 8))
    assert gx.dtype == np.float32 and gw.dtype == np.complex64
    np.testing.assert_allclose(gx, gx64, atol=1e-5 * np.abs(gx64).max())
    np.testing.assert_allclose(gw, gw64, atol=1e-5 * np.abs(gw64).max())


@pytest.mark.parametrize("shape,modes,out", [((20,), (8,), None), ((15, 12), (7, 8), (16, 9)),
                                             ((6, 8, 9), (4, 4, 5), None)])
def test_backward_matches_torch_autograd(shape, modes, out):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    x, w = make(rng, 2, 3, 2, shape, modes)
    bias = rng.standard_normal((2,) + (1,) * len(shape))
    y = reference(x, w, modes, out, "forward", bias)
    g = rng.standard_normal(y.shape)

    d = len(shape)
    axes = tuple(range(2, 2 + d))
    n_out = tuple(out) if out else shape
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(bias, requires_grad=True)
    def shift(t, inverse=False):  # torch's fftshift needs at least one dim
        if d == 1:
            return t
        return (torch.fft.ifftshift if inverse else torch.fft.fftshift)(t, dim=axes[:-1])

    X = shift(torch.fft.rfftn(xt, dim=axes, norm="forward"))
    src, wsl, dst = [slice(None)] * 2, [slice(None)] * 2, [slice(None)] * 2
    for j in range(d - 1):
        m = modes[j]
        lo, hi = max(-(m // 2), -(n_out[j] // 2)), min(m - m // 2 - 1, (n_out[j] - 1) // 2)
        src.append(slice(lo + shape[j] // 2, hi + 1 + shape[j] // 2))
        wsl.append(slice(lo + m // 2, hi + 1 + m // 2))
        dst.append(slice(lo + n_out[j] // 2, hi + 1 + n_out[j] // 2))
    L = min(modes[-1] // 2 + 1, n_out[-1] // 2 + 1)
    src.append(slice(0, L)); wsl.append(slice(0, L)); dst.append(slice(0, L))
    Y = torch.zeros((2, 2, *n_out[:-1], n_out[-1] // 2 + 1), dtype=torch.complex128)
    Y[tuple(dst)] = torch.einsum("bi...,io...->bo...", X[tuple(src)], wt[tuple(wsl)])
    yt = torch.fft.irfftn(shift(Y, True), s=n_out, dim=axes, norm="forward") + bt
    np.testing.assert_allclose(yt.detach().numpy(), y, atol=1e-12)
    yt.backward(torch.tensor(g))
    gx, gw, gb = spectral_conv_backward(g, x, w, modes, output_shape=out, bias=bias)
    # torch's gradient of a real loss w.r.t. a complex leaf is dL/dRe + i dL/dIm, as ours
    for ours, theirs in ((gx, xt.grad), (gw, wt.grad), (gb, bt.grad)):
        theirs = theirs.numpy()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())


# --------------------------------------------------------------------------- bad input

def test_bad_input():
    rng = np.random.default_rng(0)
    x, w = make(rng, 2, 3, 4, (16, 16), (8, 8))
    with pytest.raises(ValueError, match="channels"):
        spectral_conv(x[:, :2], w, (8, 8))
    with pytest.raises(ValueError, match=r"n_modes\[0\]"):
        spectral_conv(x[:, :, :6], w, (8, 8))
    with pytest.raises(ValueError, match=r"n_modes\[1\]"):
        spectral_conv(x[:, :, :, :10], np.zeros(weight_shape(3, 4, (8, 14)), complex), (8, 14))
    with pytest.raises(TypeError, match="weight"):
        spectral_conv(x, w.real.copy(), (8, 8))
    with pytest.raises(TypeError, match="weight"):
        spectral_conv(x.astype(np.float32), w, (8, 8))
    with pytest.raises(ValueError, match="weight has shape"):
        spectral_conv(x, w[..., :4], (8, 8))
    with pytest.raises(ValueError, match="weight must have shape"):
        spectral_conv(x, w[..., 0], (8, 8))
    with pytest.raises(ValueError, match="n_modes"):
        spectral_conv(x, w, (8, 8, 8))
    with pytest.raises(ValueError, match="output_shape"):
        spectral_conv(x, w, (8, 8), output_shape=(0, 4))
    with pytest.raises(ValueError, match="norm"):
        spectral_conv(x, w, (8, 8), norm="none")
    with pytest.raises(ValueError, match="bias"):
        spectral_conv(x, w, (8, 8), bias=np.zeros(3))
    with pytest.raises(ValueError, match="x must have shape"):
        spectral_conv(x[0, 0], w, (8, 8))
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        spectral_conv(x.astype(np.complex128), w, (8, 8))
    with pytest.raises(ValueError, match="grad_y"):
        spectral_conv_backward(np.zeros((2, 4, 16, 15)), x, w, (8, 8))


# --------------------------------------------------------------------------- torch module

def test_torch_module_gradcheck_and_state_dict():
    torch = pytest.importorskip("torch")
    from fastspectral.torch import SpectralConv, spectral_conv as torch_spectral_conv

    torch.manual_seed(0)
    conv = SpectralConv(2, 3, (6, 5), dtype=torch.float64)
    assert conv.weight.shape == (2, 3, 6, 3) and conv.bias.shape == (3, 1, 1)
    x = torch.randn(2, 2, 9, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: torch_spectral_conv(x, w, (6, 5), bias=b, output_shape=(10, 7)),
        (x, conv.weight, conv.bias), eps=1e-6, atol=1e-8)
    y = conv(x)
    ref = reference(x.detach().numpy(), conv.weight.detach().numpy(), (6, 5),
                    bias=conv.bias.detach().numpy())
    np.testing.assert_allclose(y.detach().numpy(), ref, atol=1e-12)
    other = SpectralConv(2, 3, (6, 5), dtype=torch.float64)
    other.load_state_dict(conv.state_dict())
    np.testing.assert_array_equal(other(x).detach().numpy(), y.detach().numpy())
